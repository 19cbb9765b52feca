/* SPDX-License-Identifier: MIT */
/* test_inputs.c - input sources: combination order and count, linked
 * sources, files, the fingerprint, and overflow of the task count. */
#include "tap.h"
#include "tmpl/tmpl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* All tasks joined: values of a task concatenated, tasks separated by ' '. */
static const char *all_tasks(const tmpl_inputs_t *in)
{
    static char out[4096];
    const char *vals[16];
    out[0] = '\0';
    uint64_t n = tmpl_inputs_count(in);
    for (uint64_t i = 0; i < n; i++) {
        if (tmpl_inputs_get(in, i, vals) < 0)
            return "(error)";
        if (i > 0)
            strcat(out, " ");
        for (size_t k = 0; k < tmpl_inputs_arity(in); k++)
            strcat(out, vals[k]);
    }
    return out;
}

static int add(tmpl_inputs_t *in, bool linked, const char *csv)
{
    /* a comma-separated list of values; "" is no value at all */
    char buf[256];
    const char *vals[32];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", csv);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p;
         p = strtok_r(NULL, ",", &save))
        vals[n++] = p;
    return tmpl_inputs_add_values(in, vals, n, linked, NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bail_out("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static void test_order(void)
{
    tmpl_inputs_t *in = tmpl_inputs_create();
    is_int(tmpl_inputs_count(in), 0, "no sources give no tasks");
    add(in, false, "a,b,c");
    is_int(tmpl_inputs_arity(in), 1, "one source has arity 1");
    is_int(tmpl_inputs_count(in), 3, "one source of 3 gives 3 tasks");
    is_str(all_tasks(in), "a b c", "one source runs in order");
    add(in, false, "1,2");
    is_int(tmpl_inputs_count(in), 6, "3 x 2 gives 6 tasks");
    is_str(all_tasks(in), "a1 a2 b1 b2 c1 c2",
           "with two sources the last varies fastest");
    add(in, false, "x,y");
    is_int(tmpl_inputs_arity(in), 3, "three sources have arity 3");
    is_int(tmpl_inputs_count(in), 12, "3 x 2 x 2 gives 12 tasks");
    is_str(all_tasks(in),
           "a1x a1y a2x a2y b1x b1y b2x b2y c1x c1y c2x c2y",
           "with three sources the order is GNU Parallel's");
    const char *vals[3];
    errno = 0;
    ok(tmpl_inputs_get(in, 12, vals) < 0 && errno == ERANGE,
       "task 12 of 12 is out of range");
    tmpl_inputs_destroy(in);
}

static void test_linked(void)
{
    tmpl_inputs_t *in = tmpl_inputs_create();
    add(in, false, "a,b,c");
    add(in, true, "1,2,3");
    is_int(tmpl_inputs_count(in), 3, "linked sources pair values");
    is_str(all_tasks(in), "a1 b2 c3", "linked values go together");
    tmpl_inputs_destroy(in);

    /* GNU 20221122: ":::+" stops with the shortest source */
    in = tmpl_inputs_create();
    add(in, false, "a,b,c,d");
    add(in, true, "1,2");
    is_str(all_tasks(in), "a1 b2", "a linked group stops with its shortest");
    add(in, false, "x,y");
    is_int(tmpl_inputs_count(in), 4, "a linked group times a source");
    is_str(all_tasks(in), "a1x a1y b2x b2y",
           "linked group combined with a later source");
    tmpl_inputs_destroy(in);

    in = tmpl_inputs_create();
    add(in, false, "p,q");
    add(in, false, "1,2");
    add(in, true, "x,y,z");
    is_int(tmpl_inputs_count(in), 4, "a source times a linked group of 2");
    is_str(all_tasks(in), "p1x p2y q1x q2y",
           "the longer source of the last group is cut too");
    tmpl_inputs_destroy(in);

    /* --link: every source linked, shorter ones wrap */
    in = tmpl_inputs_create();
    tmpl_read_t rd = {.link = true};
    ok(tmpl_inputs_set_read(in, &rd, NULL) == 0, "--link is set");
    add(in, false, "a,b,c");
    add(in, false, "1,2");
    add(in, false, "X,Y,Z,W");
    is_int(tmpl_inputs_count(in), 4, "--link: as long as the longest");
    is_str(all_tasks(in), "a1X b2Y c1Z a2W", "--link: shorter ones wrap");
    tmpl_inputs_destroy(in);

    in = tmpl_inputs_create();
    banyan_error_t err = {{0}};
    const char *v[] = {"a"};
    errno = 0;
    ok(tmpl_inputs_add_values(in, v, 1, true, &err) < 0 && errno == EINVAL,
       "a linked first source is rejected");
    is_str(err.text, "linked input source (':::+' or '::::+') is linked with "
                     "nothing before it",
           "the error says what is wrong");
    is_int(tmpl_inputs_arity(in), 0, "a rejected source is not added");
    tmpl_inputs_destroy(in);
}

static void test_empty(void)
{
    /* GNU: an empty source is one empty value, unless all are empty */
    tmpl_inputs_t *in = tmpl_inputs_create();
    add(in, false, "a,b");
    add(in, false, "");
    is_int(tmpl_inputs_count(in), 2, "an empty source is one empty value");
    is_str(all_tasks(in), "a b", "... which is empty");
    tmpl_inputs_destroy(in);

    in = tmpl_inputs_create();
    add(in, false, "");
    add(in, false, "");
    is_int(tmpl_inputs_count(in), 0, "all sources empty: no tasks");
    const char *vals[2];
    ok(tmpl_inputs_get(in, 0, vals) < 0 && errno == ERANGE,
       "no task 0 when there are no tasks");
    tmpl_inputs_destroy(in);

    in = tmpl_inputs_create();
    add(in, false, "a,b");
    add(in, true, "");
    is_int(tmpl_inputs_count(in), 1, "an empty linked source cuts it to 1");
    tmpl_inputs_destroy(in);
}

static void test_files(void)
{
    char path[1024], path2[1024], path3[1024];
    snprintf(path, sizeof(path), "%s/in1.txt", tap_tmpdir());
    snprintf(path2, sizeof(path2), "%s/in2.txt", tap_tmpdir());
    snprintf(path3, sizeof(path3), "%s/empty.txt", tap_tmpdir());
    write_file(path, "one\r\ntwo words\n\nlast");
    write_file(path2, "x\ny\n");
    write_file(path3, "");

    tmpl_inputs_t *in = tmpl_inputs_create();
    ok(tmpl_inputs_add_file(in, path, false, NULL) == 0, "a file is read");
    is_int(tmpl_inputs_count(in), 4,
           "one value a line, with the last line lacking a newline");
    const char *vals[2];
    tmpl_inputs_get(in, 0, vals);
    is_str(vals[0], "one", "\\r\\n is trimmed");
    tmpl_inputs_get(in, 1, vals);
    is_str(vals[0], "two words", "a line with spaces is one value");
    tmpl_inputs_get(in, 2, vals);
    is_str(vals[0], "", "an empty line is an empty value");
    tmpl_inputs_get(in, 3, vals);
    is_str(vals[0], "last", "the final line without newline is kept");
    ok(tmpl_inputs_add_file(in, path2, true, NULL) == 0,
       "a linked file is read");
    is_int(tmpl_inputs_count(in), 2, "a final newline adds no value");
    tmpl_inputs_get(in, 1, vals);
    is_str(vals[1], "y", "the linked file pairs its values");
    tmpl_inputs_destroy(in);

    in = tmpl_inputs_create();
    ok(tmpl_inputs_add_file(in, path3, false, NULL) == 0, "empty file read");
    is_int(tmpl_inputs_count(in), 0, "an empty file gives zero tasks");
    banyan_error_t err = {{0}};
    errno = 0;
    ok(tmpl_inputs_add_file(in, "no/such/file", false, &err) < 0 &&
           errno == ENOENT,
       "a missing file fails with ENOENT");
    is_str(err.text,
           "cannot read input file 'no/such/file': No such file or directory",
           "the error names the file and the reason");
    is_int(tmpl_inputs_arity(in), 1, "the failed file is not added");
    errno = 0;
    ok(tmpl_inputs_add_file(in, tap_tmpdir(), false, &err) < 0 &&
           errno == EISDIR,
       "a directory is not an input file");
    tmpl_inputs_destroy(in);
}

static void test_fingerprint(void)
{
    char a[33], b[33], c[33];
    tmpl_inputs_t *x = tmpl_inputs_create();
    tmpl_inputs_t *y = tmpl_inputs_create();
    add(x, false, "a,b");
    add(x, false, "1,2");
    add(y, false, "a,b");
    add(y, false, "1,2");
    tmpl_inputs_fingerprint(x, a);
    tmpl_inputs_fingerprint(y, b);
    is_int(strlen(a), 32, "the fingerprint is 32 characters");
    is_int(strspn(a, "0123456789abcdef"), 32, "of lower-case hex");
    is_str(a, b, "the same inputs give the same fingerprint");
    tmpl_inputs_destroy(y);

    y = tmpl_inputs_create();
    add(y, false, "a,b");
    add(y, false, "1,3");
    tmpl_inputs_fingerprint(y, c);
    ok(strcmp(a, c) != 0, "changing one value changes the fingerprint");
    tmpl_inputs_destroy(y);

    y = tmpl_inputs_create();
    add(y, false, "a,b");
    add(y, true, "1,2");
    tmpl_inputs_fingerprint(y, c);
    ok(strcmp(a, c) != 0, "linking the sources changes the fingerprint");
    tmpl_inputs_destroy(y);

    y = tmpl_inputs_create();
    add(y, false, "a,b,1,2");
    tmpl_inputs_fingerprint(y, c);
    ok(strcmp(a, c) != 0, "the same values in one source differ");
    tmpl_inputs_destroy(y);

    y = tmpl_inputs_create();
    add(y, false, "ab");
    tmpl_inputs_fingerprint(y, a);
    tmpl_inputs_destroy(y);
    y = tmpl_inputs_create();
    add(y, false, "a,b");
    tmpl_inputs_fingerprint(y, b);
    ok(strcmp(a, b) != 0, "value boundaries count: 'ab' differs from a,b");
    tmpl_inputs_destroy(y);

    tmpl_inputs_t *e = tmpl_inputs_create();
    is_str(tmpl_inputs_fingerprint(e, a), "9d30c1f78465995be47dda5e4e4e77ed",
           "the fingerprint of no inputs is a fixed value across versions");
    tmpl_inputs_destroy(e);
    tmpl_inputs_destroy(x);
}

static void test_overflow(void)
{
    tmpl_inputs_t *in = tmpl_inputs_create();
    static const char *vals[65536];
    static char text[65536][6];
    for (int i = 0; i < 65536; i++) {
        snprintf(text[i], sizeof(text[i]), "%d", i);
        vals[i] = text[i];
    }
    int rc = 0;
    for (int k = 0; k < 4; k++)
        rc |= tmpl_inputs_add_values(in, vals, k < 3 ? 65536 : 65535, false,
                                     NULL);
    ok(rc == 0, "sources of 2^16, 2^16, 2^16 and 2^16-1 values fit");
    ok(tmpl_inputs_count(in) == 18446462598732840960u,
       "their count is 2^48 * 65535");
    const char *v[5];
    ok(tmpl_inputs_get(in, tmpl_inputs_count(in) - 1, v) == 0 &&
           strcmp(v[0], "65535") == 0 && strcmp(v[3], "65534") == 0,
       "the last task has the last values");
    banyan_error_t err = {{0}};
    errno = 0;
    ok(tmpl_inputs_add_values(in, vals, 2, false, &err) < 0 &&
           errno == ERANGE,
       "a fifth source that overflows the count fails with ERANGE");
    is_str(err.text,
           "too many combinations of inputs: their number exceeds 2^64-1",
           "the overflow error says so");
    is_int(tmpl_inputs_arity(in), 4, "the overflowing source is not added");
    ok(tmpl_inputs_count(in) == 18446462598732840960u,
       "the count is unchanged after the failure");
    ok(tmpl_inputs_add_values(in, vals, 65536, true, NULL) == 0 &&
           tmpl_inputs_count(in) == 18446462598732840960u,
       "a longer linked source does not lengthen its group (':::+')");
    ok(tmpl_inputs_add_values(in, vals, 1, false, NULL) == 0,
       "a source of one value still fits");
    tmpl_inputs_destroy(in);
}

int main(void)
{
    plan(NO_PLAN);
    test_order();
    test_linked();
    test_empty();
    test_files();
    test_fingerprint();
    test_overflow();
    return done_testing();
}
