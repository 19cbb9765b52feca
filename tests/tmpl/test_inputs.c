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

/* Every value of every record (all columns), records separated by ' ',
 * values by '|'. */
static const char *all_records(const tmpl_inputs_t *in)
{
    static char out[4096];
    const char *vals[16];
    out[0] = '\0';
    uint64_t n = tmpl_inputs_count(in);
    for (uint64_t i = 0; i < n; i++) {
        size_t k = tmpl_inputs_record(in, i, vals);
        if (i > 0)
            strcat(out, " ");
        for (size_t v = 0; v < k; v++) {
            if (v > 0)
                strcat(out, "|");
            strcat(out, vals[v]);
        }
    }
    return out;
}

static tmpl_inputs_t *reading(const tmpl_read_t *rd)
{
    tmpl_inputs_t *in = tmpl_inputs_create();
    if (!in || tmpl_inputs_set_read(in, rd, NULL) < 0)
        bail_out("cannot set the reading options");
    return in;
}

static void test_reading(void)
{
    char delim[8];
    is_int(tmpl_unescape_delim("\\t", delim), 1, "\\t is one byte");
    is_int(delim[0], '\t', "... a TAB");
    is_int(tmpl_unescape_delim("\\0", delim), 1, "\\0 is one byte");
    is_int(delim[0], 0, "... a NUL");
    is_int(tmpl_unescape_delim("\\101", delim), 1, "\\101 is octal");
    is_int(delim[0], 'A', "... an A");
    is_int(tmpl_unescape_delim("::", delim), 2, "two characters");
    tmpl_trim_t tr;
    ok(tmpl_trim_parse("rl", &tr) == 0 && tr == TMPL_TRIM_BOTH, "--trim rl");
    ok(tmpl_trim_parse("x", &tr) < 0 && errno == EINVAL, "--trim x fails");

    tmpl_inputs_t *in = reading(&(tmpl_read_t){.delim = ":", .delim_len = 1});
    add(in, false, "a:b,c");
    is_str(all_tasks(in), "a b c", "-d splits ':::' values");
    tmpl_inputs_destroy(in);

    char path[1024];
    snprintf(path, sizeof(path), "%s/nul.txt", tap_tmpdir());
    FILE *f = fopen(path, "w");
    fwrite("a b\0c\nd\0", 1, 8, f);
    fclose(f);
    in = reading(&(tmpl_read_t){.delim = "", .delim_len = 1});
    ok(tmpl_inputs_add_file(in, path, false, NULL) == 0, "-0 reads NULs");
    is_str(all_records(in), "a b c\nd", "-0: values end with a NUL");
    tmpl_inputs_destroy(in);
    in = tmpl_inputs_create();
    ok(tmpl_inputs_add_file(in, path, false, NULL) < 0 && errno == EINVAL,
       "without -0 a NUL byte is an error");
    tmpl_inputs_destroy(in);

    in = reading(&(tmpl_read_t){.eof = "b"});
    add(in, false, "a,b,c");
    is_str(all_tasks(in), "a", "-E ends the source");
    tmpl_inputs_destroy(in);

    in = reading(&(tmpl_read_t){.skip_empty = true});
    const char *blank[] = {"a", "", " \t", "b"};
    tmpl_inputs_add_values(in, blank, 4, false, NULL);
    is_str(all_records(in), "a b", "-r drops blank values");
    tmpl_inputs_destroy(in);

    in = reading(&(tmpl_read_t){.continue_lines = true});
    const char *cont[] = {"a ", "b", "c"};
    tmpl_inputs_add_values(in, cont, 3, false, NULL);
    is_int(tmpl_inputs_count(in), 2, "-L: a trailing space goes on");
    is_str(all_records(in), "a b c", "... into the next value");
    tmpl_inputs_destroy(in);

    in = reading(&(tmpl_read_t){.trim = TMPL_TRIM_LEFT});
    const char *sp[] = {" a "};
    tmpl_inputs_add_values(in, sp, 1, false, NULL);
    is_str(all_records(in), "a ", "--trim l");
    tmpl_inputs_destroy(in);
}

static void test_columns(void)
{
    tmpl_inputs_t *in = reading(&(tmpl_read_t){.colsep = ",",
                                               .trim = TMPL_TRIM_BOTH});
    const char *v[] = {"a , b", "c", ""};
    tmpl_inputs_add_values(in, v, 3, false, NULL);
    is_int(tmpl_inputs_arity(in), 2, "the arity is the widest record");
    is_str(all_records(in), "a|b c ", "columns, trimmed; \"\" is one");
    const char *w[] = {"x,y"};
    tmpl_inputs_add_values(in, w, 1, false, NULL);
    is_int(tmpl_inputs_arity(in), 4, "columns of two sources add up");
    is_str(all_records(in), "a|b|x|y c|x|y |x|y", "records join columns");
    const char *vals[4];
    tmpl_inputs_get(in, 0, vals);
    is_str(vals[1], "x", "tmpl_inputs_get gives a source's first column");
    tmpl_inputs_destroy(in);

    in = reading(&(tmpl_read_t){.colsep = "[,;]+"});
    const char *re[] = {"a,;b;c"};
    tmpl_inputs_add_values(in, re, 1, false, NULL);
    is_str(all_records(in), "a|b|c", "a regular expression");
    tmpl_inputs_destroy(in);

    in = reading(&(tmpl_read_t){.colsep = ""});
    const char *chars[] = {"abc"};
    tmpl_inputs_add_values(in, chars, 1, false, NULL);
    is_str(all_records(in), "a|b|c|", "an empty match splits characters");
    tmpl_inputs_destroy(in);

    banyan_error_t err = {{0}};
    in = tmpl_inputs_create();
    ok(tmpl_inputs_set_read(in, &(tmpl_read_t){.colsep = "("}, &err) < 0 &&
           errno == EINVAL && strstr(err.text, "invalid --colsep '('"),
       "a bad --colsep is an error");
    tmpl_inputs_destroy(in);

    in = reading(&(tmpl_read_t){.header = true});
    const char *h1[] = {"A", "a", "b"}, *h2[] = {"B\tC", "1\t2"};
    tmpl_inputs_add_values(in, h1, 3, false, NULL);
    tmpl_inputs_add_values(in, h2, 2, false, NULL);
    size_t n;
    const char *const *names = tmpl_inputs_names(in, &n);
    ok(n == 3 && !strcmp(names[0], "A") && !strcmp(names[1], "B") &&
           !strcmp(names[2], "C"),
       "--header: the first values name the columns");
    is_str(all_records(in), "a|1|2 b|1|2", "--header splits at TABs");
    tmpl_inputs_destroy(in);

    in = reading(&(tmpl_read_t){.csv = true});
    const char *csv[] = {"\"a,b\",2", "\"c\"\"d\",", "x,\"y", "z\""};
    ok(tmpl_inputs_add_values(in, csv, 4, false, NULL) == 0, "--csv reads");
    is_str(all_records(in), "a,b|2 c\"d| x|y\nz", "RFC 4180 fields");
    tmpl_inputs_destroy(in);
    in = reading(&(tmpl_read_t){.csv = true});
    const char *bad[] = {"a\"b,c"};
    ok(tmpl_inputs_add_values(in, bad, 1, false, &err) < 0 &&
           errno == EINVAL && strstr(err.text, "CSV has unexpected format"),
       "a stray quote is an error");
    tmpl_inputs_destroy(in);
}

/* A job's values joined by ',', jobs by ' '. */
static const char *all_jobs(const tmpl_inputs_t *in)
{
    static char out[8192];
    const char *vals[256];
    out[0] = '\0';
    if (tmpl_inputs_job_room(in) > 256)
        return "(too big)";
    for (uint64_t j = 0; j < tmpl_inputs_jobs(in); j++) {
        size_t n;
        if (tmpl_inputs_job(in, j, vals, &n, NULL) < 0)
            return "(error)";
        strcat(out, j ? " " : "");
        for (size_t v = 0; v < n; v++) {
            strcat(out, v ? "," : "");
            strcat(out, vals[v]);
        }
    }
    return out;
}

/* "echo" and a space and the value: GNU's length of a job of one. */
static size_t echo_len(void *arg, const char *const *vals, size_t n)
{
    (void)arg;
    size_t len = 4;
    for (size_t i = 0; i < n; i++)
        len += 1 + strlen(vals[i]);
    return len;
}

static void test_jobs(void)
{
    tmpl_inputs_t *in = tmpl_inputs_create();
    add(in, false, "a,b,c,d,e");
    is_int(tmpl_inputs_jobs(in), 5, "a job a record by default");
    ok(tmpl_inputs_group(in, &(tmpl_group_t){.max_args = 2}) == 0, "-N2");
    is_int(tmpl_inputs_jobs(in), 3, "-N2: 3 jobs of 5 records");
    is_str(all_jobs(in), "a,b c,d e", "-N2: the last job is shorter");
    tmpl_inputs_group(in, &(tmpl_group_t){.zero_args = true});
    is_str(all_jobs(in), "    ", "-N0: a job a record, without values");
    tmpl_inputs_group(in, &(tmpl_group_t){.fill = true, .max_len = 11,
                                          .len = echo_len,
                                          .len_base = 4});
    is_str(all_jobs(in), "a,b,c d,e", "--xargs: as many as are shorter");
    tmpl_inputs_group(in, &(tmpl_group_t){.fill = true, .spread = true,
                                          .slots = 2, .max_len = 100,
                                          .len = echo_len,
                                          .len_base = 4});
    is_str(all_jobs(in), "a,b,c d,e", "-m spreads over the slots");
    tmpl_inputs_group(in, &(tmpl_group_t){.fill = true, .spread = true,
                                          .slots = 2, .max_len = 9,
                                          .len = echo_len,
                                          .len_base = 4});
    is_str(all_jobs(in), "a,b c,d e", "-m spreads what is left");
    tmpl_inputs_group(in, &(tmpl_group_t){.fill = true, .max_len = 2,
                                          .len = echo_len,
                                          .len_base = 4});
    is_str(all_jobs(in), "a b c d e", "a record too long is alone");
    uint64_t bad = 9;
    size_t badlen = 0;
    errno = 0;
    ok(tmpl_inputs_group(in, &(tmpl_group_t){.max_len = 6, .len = echo_len,
                                             .len_base = 4,
                                             .exit_too_long = true,
                                             .too_long_rec = &bad,
                                             .too_long_len = &badlen}) < 0 &&
           errno == E2BIG && bad == 0 && badlen == 6,
       "-x: a record too long is an error");
    char fa[40], fb[40];
    tmpl_inputs_fingerprint(in, fa);
    tmpl_inputs_group(in, &(tmpl_group_t){.max_args = 2});
    tmpl_inputs_fingerprint(in, fb);
    ok(strcmp(fa, fb) != 0, "the grouping changes the fingerprint");
    tmpl_inputs_destroy(in);

    in = tmpl_inputs_create();
    add(in, false, "a,b,c");
    add(in, false, "1,2");
    tmpl_inputs_group(in, &(tmpl_group_t){.max_args = 4});
    size_t n, arity;
    const char *vals[8];
    ok(tmpl_inputs_job(in, 0, vals, &n, &arity) == 0 && n == 8 &&
           arity == 2 && !strcmp(vals[6], "b") && !strcmp(vals[7], "2"),
       "a job's values are its records' one after the other");
    ok(tmpl_inputs_job(in, 2, vals, &n, &arity) < 0 && errno == ERANGE,
       "no job 2 of 6 records by 4");
    tmpl_inputs_destroy(in);

    size_t line = tmpl_max_line();
    ok(line > 4000, "the longest command line is found (%zu)", line);
    is_int(tmpl_max_len(), (line - 3000) / 2, "the usable length");
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
    test_reading();
    test_columns();
    test_jobs();
    return done_testing();
}
