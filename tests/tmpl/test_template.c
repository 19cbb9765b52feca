/* SPDX-License-Identifier: MIT */
/* test_template.c - command templates: replacement strings, modifiers, the
 * argv and shell forms, appended values, quoting and malformed templates. */
#include "tap.h"
#include "tmpl/tmpl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse words (a NULL-ended list). */
static tmpl_t *parse(const char *const *words, banyan_error_t *err)
{
    int n = 0;
    while (words[n])
        n++;
    static const tmpl_syntax_t argv_words = {.argv_words = true};
    return tmpl_parse(words, n, &argv_words, err);
}

/* Expand and join the argv with '|' (static buffer); line into line_buf. */
static char joined[4096];
static char line_buf[4096];

static const char *expand(const tmpl_t *t, const char *const *vals,
                          size_t nvals, uint64_t seq, uint32_t slot)
{
    tmpl_ctx_t c = {.vals = vals, .nvals = nvals, .seq = seq, .slot = slot};
    char **argv = NULL;
    char *line = NULL;
    if (tmpl_expand(t, &c, &argv, &line) < 0)
        return "(error)";
    joined[0] = '\0';
    for (int i = 0; argv[i]; i++) {
        if (i > 0)
            strcat(joined, "|");
        strcat(joined, argv[i]);
    }
    snprintf(line_buf, sizeof(line_buf), "%s", line);
    free(argv);
    free(line);
    return joined;
}

/* One-word-per-value template, one value: the argv of "echo W" for v. */
static const char *one(const char *word, const char *v)
{
    static tmpl_t *t;
    const char *words[] = {"echo", word, NULL};
    t = parse(words, NULL);
    if (!t)
        return "(parse error)";
    const char *vals[] = {v};
    const char *r = expand(t, vals, 1, 1, 1);
    tmpl_destroy(t);
    return r;
}

static void test_modifiers(void)
{
    const char *p = "dir/sub/file.tar.gz";
    is_str(one("{}", p), "echo|dir/sub/file.tar.gz", "{} is the value");
    is_str(one("{.}", p), "echo|dir/sub/file.tar", "{.} drops the last ext");
    is_str(one("{/}", p), "echo|file.tar.gz", "{/} is the basename");
    is_str(one("{//}", p), "echo|dir/sub", "{//} is the dirname");
    is_str(one("{/.}", p), "echo|file.tar", "{/.} is basename without ext");

    is_str(one("{.}", "file"), "echo|file", "{.} of 'file' is 'file'");
    is_str(one("{/}", "file"), "echo|file", "{/} of 'file' is 'file'");
    is_str(one("{//}", "file"), "echo|.", "{//} of 'file' is '.'");
    is_str(one("{/.}", "file"), "echo|file", "{/.} of 'file' is 'file'");

    is_str(one("{.}", "/abs"), "echo|/abs", "{.} of '/abs' is '/abs'");
    is_str(one("{/}", "/abs"), "echo|abs", "{/} of '/abs' is 'abs'");
    is_str(one("{//}", "/abs"), "echo|/", "{//} of '/abs' is '/'");
    is_str(one("{/.}", "/abs"), "echo|abs", "{/.} of '/abs' is 'abs'");

    is_str(one("{.}", "noext."), "echo|noext", "{.} of 'noext.' drops the dot");
    is_str(one("{/.}", "d/noext."), "echo|noext",
           "{/.} of 'd/noext.' is 'noext'");
    is_str(one("{.}", "dir.d/file"), "echo|dir.d/file",
           "{.} ignores dots in directory names");
    is_str(one("{//}", "a//b"), "echo|a", "{//} drops repeated slashes");
    is_str(one("{//}", "dir/"), "echo|.",
           "{//} ignores a trailing slash like dirname(1)");

    is_str(one("{1}", p), "echo|dir/sub/file.tar.gz", "{1} is the value");
    is_str(one("{1.}", p), "echo|dir/sub/file.tar", "{1.} drops the ext");
    is_str(one("{1/}", p), "echo|file.tar.gz", "{1/} is the basename");
    is_str(one("{1//}", p), "echo|dir/sub", "{1//} is the dirname");
    is_str(one("{1/.}", p), "echo|file.tar", "{1/.} is basename sans ext");
    is_str(one("pre-{}-post", "x"), "echo|pre-x-post",
           "text around a replacement string is kept");
    is_str(one("{}{}", "x"), "echo|xx", "two replacement strings in a word");
}

static void test_positions_seq_slot(void)
{
    const char *w[] = {"cmd", "{2}", "{1}", "{3/}", "{#}", "{%}", NULL};
    tmpl_t *t = parse(w, NULL);
    ok(t != NULL, "a template with positions parses");
    is_int(tmpl_max_position(t), 3, "max position is the highest {n}");
    ok(!tmpl_is_shell(t), "several words are the argv form");
    const char *vals[] = {"a", "b", "x/c"};
    is_str(expand(t, vals, 3, 42, 7), "cmd|b|a|c|42|7",
           "positions, {#} and {%%} expand");
    is_str(line_buf, "cmd b a c 42 7", "line_out joins the words");
    errno = 0;
    tmpl_ctx_t c = {.vals = vals, .nvals = 2};
    char **argv = NULL;
    ok(tmpl_expand(t, &c, &argv, NULL) < 0 && errno == ERANGE,
       "{3} with two values fails with ERANGE");
    banyan_error_t err = {{0}};
    ok(tmpl_check_arity(t, 2, &err) < 0, "arity check fails for 2 sources");
    is_str(err.text, "template uses {3} but there are only 2 input sources",
           "arity error names the position and the number of sources");
    ok(tmpl_check_arity(t, 1, &err) < 0, "arity check fails for 1 source");
    is_str(err.text, "template uses {3} but there is only 1 input source",
           "arity error is singular for one source");
    ok(tmpl_check_arity(t, 3, &err) == 0, "arity check passes for 3");
    tmpl_destroy(t);

    const char *w2[] = {"run", "{#}-{%}", NULL};
    t = parse(w2, NULL);
    ok(!tmpl_uses_values(t), "{#} and {%%} are not value replacements");
    const char *v2[] = {"a b", "c"};
    is_str(expand(t, v2, 2, 18446744073709551615u, 4294967295u),
           "run|18446744073709551615-4294967295|a b|c",
           "values are appended to an argv template without {}; big "
           "seq and slot print in full");
    is_str(line_buf, "run 18446744073709551615-4294967295 'a b' c",
           "line_out quotes the appended value with a space");
    tmpl_destroy(t);

    const char *w3[] = {"echo", "{}", NULL};
    t = parse(w3, NULL);
    is_str(expand(t, v2, 2, 1, 1), "echo|a b c",
           "{} joins all values with spaces in one argument");
    is_str(expand(t, NULL, 0, 1, 1), "echo|", "{} with no values is empty");
    tmpl_destroy(t);
}

static void test_argv_form(void)
{
    const char *w[] = {"sh", "-c", "echo $X {}", NULL};
    tmpl_t *t = parse(w, NULL);
    ok(t && !tmpl_is_shell(t), "several words stay argv even with $");
    const char *vals[] = {"it's $HOME"};
    is_str(expand(t, vals, 1, 1, 1), "sh|-c|echo $X it's $HOME",
           "argv form substitutes literally, with no quoting");
    is_str(line_buf, "sh -c 'echo $X it'\\''s $HOME'",
           "line_out is shell-quoted so it can be pasted into a shell");
    tmpl_destroy(t);

    const char *w2[] = {"printf", "%s\\n", NULL};
    t = parse(w2, NULL);
    const char *v2[] = {"", "a'b"};
    is_str(expand(t, v2, 2, 1, 1), "printf|%s\\n||a'b",
           "empty and quoted values append as their own arguments");
    is_str(line_buf, "printf '%s\\n' '' 'a'\\''b'",
           "line_out quotes an empty argument as ''");
    tmpl_destroy(t);

    const char *w3[] = {"./prog{#}", NULL};
    t = parse(w3, NULL);
    ok(t && !tmpl_is_shell(t),
       "one word whose only shell character is inside {#} stays argv");
    tmpl_destroy(t);
    const char *w4[] = {"ls", NULL};
    t = parse(w4, NULL);
    ok(t && !tmpl_is_shell(t), "a plain single word is the argv form");
    is_str(expand(t, vals, 1, 1, 1), "ls|it's $HOME",
           "a single-word argv template gets the value appended");
    tmpl_destroy(t);
}

static void test_shell_form(void)
{
    static const char *const shelly[] = {
        "echo a", "a|b", "a&b", "a;b", "a<b", "a>b", "(a)", "$A", "`a`",
        "a\\b", "\"a\"", "'a'", "a*", "a?", "[a]", "#a", "~a", "a\nb",
        "a\tb",
    };
    int n = 0;
    for (size_t i = 0; i < sizeof(shelly) / sizeof(shelly[0]); i++) {
        const char *w[] = {shelly[i], NULL};
        tmpl_t *t = parse(w, NULL);
        if (t && tmpl_is_shell(t))
            n++;
        else
            diag("not shell: %s", shelly[i]);
        tmpl_destroy(t);
    }
    is_int(n, (int)(sizeof(shelly) / sizeof(shelly[0])),
           "every shell metacharacter makes a single word a shell command");

    const char *w[] = {"echo {} > {.}.out", NULL};
    tmpl_t *t = parse(w, NULL);
    ok(tmpl_is_shell(t), "a single word with spaces is a shell command");
    const char *vals[] = {"my file's.txt"};
    is_str(expand(t, vals, 1, 1, 1),
           "/bin/sh|-c|echo 'my file'\\''s.txt' > 'my file'\\''s'.out",
           "shell form quotes values with spaces and quotes");
    is_str(line_buf, "echo 'my file'\\''s.txt' > 'my file'\\''s'.out",
           "line_out of the shell form is the shell string");
    const char *v2[] = {"$HOME"};
    is_str(expand(t, v2, 1, 1, 1), "/bin/sh|-c|echo '$HOME' > '$HOME'.out",
           "shell form quotes $ so it is not expanded");
    const char *v3[] = {"plain-1.txt"};
    is_str(expand(t, v3, 1, 1, 1), "/bin/sh|-c|echo plain-1.txt > plain-1.out",
           "plain values are not quoted");
    tmpl_destroy(t);

    const char *w2[] = {"echo x; wc -c", NULL};
    t = parse(w2, NULL);
    const char *v4[] = {"a b", "c", ""};
    is_str(expand(t, v4, 3, 1, 1), "/bin/sh|-c|echo x; wc -c 'a b' c ''",
           "shell form appends quoted values when there is no {}");
    tmpl_destroy(t);

    const char *w3[] = {"echo {} {2} {#}", NULL};
    t = parse(w3, NULL);
    const char *v5[] = {"a b", "c"};
    is_str(expand(t, v5, 2, 9, 1), "/bin/sh|-c|echo 'a b' c c 9",
           "{} in the shell form quotes each value separately");
    tmpl_destroy(t);

    const char *w4[] = {"echo ${HOME} {a,b} { } {x} {1a}", NULL};
    t = parse(w4, NULL);
    ok(t != NULL, "brace text that is no replacement string parses");
    ok(!tmpl_uses_values(t), "and is not a replacement string");
    is_str(expand(t, NULL, 0, 1, 1),
           "/bin/sh|-c|echo ${HOME} {a,b} { } {x} {1a}",
           "brace text that is no replacement string is kept literally");
    tmpl_destroy(t);
}

static void expect_error(const char *const *words, const char *want,
                         const char *what)
{
    banyan_error_t err = {{0}};
    errno = 0;
    tmpl_t *t = parse(words, &err);
    ok(t == NULL && errno == EINVAL, "%s is rejected with EINVAL", what);
    is_str(err.text, want, "%s: error text", what);
    tmpl_destroy(t);
}

static void test_malformed(void)
{
    const char *a[] = {"echo", "abc {1", NULL};
    expect_error(a, "command word 2, column 5: unterminated replacement "
                    "string '{1'",
                 "an unterminated {1");
    const char *b[] = {"echo", "{0}", NULL};
    expect_error(b, "command word 2, column 1: invalid replacement string "
                    "'{0}': positions start at 1",
                 "{0}");
    const char *c[] = {"x{-1}", NULL};
    expect_error(c, "command word 1, column 2: invalid replacement string "
                    "'{-1}': positions start at 1",
                 "{-1}");
    const char *d[] = {"echo {} {12", NULL};
    expect_error(d, "command word 1, column 9: unterminated replacement "
                    "string '{12'",
                 "an unterminated {12 in a shell word");
    const char *e[] = {"a", "b", "{00/.}", NULL};
    expect_error(e, "command word 3, column 1: invalid replacement string "
                    "'{00/.}': positions start at 1",
                 "{00/.}");
    const char *f[] = {"{99999999999}", NULL};
    expect_error(f, "command word 1, column 1: position in replacement "
                    "string '{99999999999}' is too large",
                 "a huge position");
    banyan_error_t err = {{0}};
    errno = 0;
    ok(tmpl_parse(a, 0, NULL, &err) == NULL && errno == EINVAL,
       "an empty command is rejected");
    is_str(err.text, "empty command", "empty command error text");
}

static void test_many_expansions(void)
{
    const char *w[] = {"cmd", "--in={1}", "--out={1/.}.{2}", "{#}", NULL};
    tmpl_t *t = parse(w, NULL);
    int good = 0;
    for (int i = 0; i < 10000; i++) {
        char v1[32], want[128];
        snprintf(v1, sizeof(v1), "d/f%d.txt", i);
        const char *vals[] = {v1, "csv"};
        snprintf(want, sizeof(want), "cmd|--in=d/f%d.txt|--out=f%d.csv|%d", i,
                 i, i + 1);
        if (strcmp(expand(t, vals, 2, (uint64_t)i + 1, 1), want) == 0)
            good++;
    }
    is_int(good, 10000, "10000 expansions of one template are all right");
    tmpl_destroy(t);
}

int main(void)
{
    plan(NO_PLAN);
    test_modifiers();
    test_positions_seq_slot();
    test_argv_form();
    test_shell_form();
    test_malformed();
    test_many_expansions();
    return done_testing();
}
