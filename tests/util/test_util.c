/* SPDX-License-Identifier: MIT */
/* test_util.c - parsing, buffers and quoting in util. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util/util.h"

static void test_sizes(void)
{
    uint64_t b = 0;
    ok(util_parse_size("8G", &b) == 0 && b == 8ULL << 30, "8G is 8 GiB");
    ok(util_parse_size("512m", &b) == 0 && b == 512ULL << 20,
       "512m is 512 MiB");
    ok(util_parse_size("1.5k", &b) == 0 && b == 1536, "1.5k is 1536 bytes");
    ok(util_parse_size("100", &b) == 0 && b == 100, "plain bytes");
    ok(util_parse_size("2GiB", &b) == 0 && b == 2ULL << 30, "2GiB");
    errno = 0;
    ok(util_parse_size("8X", &b) < 0 && errno == EINVAL, "8X is refused");
    ok(util_parse_size("-1G", &b) < 0, "negative size is refused");
    ok(util_parse_size("", &b) < 0, "empty size is refused");
    char buf[32];
    is_str(util_format_size(8ULL << 30, buf, sizeof(buf)), "8G",
           "8 GiB formats as 8G");
    is_str(util_format_size(1536, buf, sizeof(buf)), "1.5k",
           "1536 formats as 1.5k");
}

static void test_durations(void)
{
    int64_t ms = 0;
    ok(util_parse_duration_ms("10", &ms) == 0 && ms == 10000,
       "bare number is seconds");
    ok(util_parse_duration_ms("250ms", &ms) == 0 && ms == 250, "250ms");
    ok(util_parse_duration_ms("1.5s", &ms) == 0 && ms == 1500, "1.5s");
    ok(util_parse_duration_ms("2m", &ms) == 0 && ms == 120000, "2m");
    ok(util_parse_duration_ms("1h", &ms) == 0 && ms == 3600000, "1h");
    ok(util_parse_duration_ms("soon", &ms) < 0, "text is refused");
}

static void test_milli(void)
{
    uint32_t m = 0;
    ok(util_parse_milli("0.5", &m) == 0 && m == 500, "0.5 is 500 milli");
    ok(util_parse_milli("2", &m) == 0 && m == 2000, "2 is 2000 milli");
    ok(util_parse_milli("0.125", &m) == 0 && m == 125, "0.125");
    ok(util_parse_milli("0.1255", &m) < 0, "finer than 1/1000 is refused");
    ok(util_parse_milli(".5", &m) < 0, "missing leading digit is refused");
    ok(util_parse_milli("1.", &m) < 0, "missing fraction is refused");
    long l;
    ok(util_parse_long("42", 0, 100, &l) == 0 && l == 42, "parse_long");
    errno = 0;
    ok(util_parse_long("420", 0, 100, &l) < 0 && errno == ERANGE,
       "parse_long range");
    ok(util_parse_long("4x", 0, 100, &l) < 0 && errno == EINVAL,
       "parse_long junk");
}

static void test_buf(void)
{
    util_buf_t b = UTIL_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        util_buf_printf(&b, "%d,", i);
    ok(b.len == strlen(b.data), "buffer stays NUL-terminated");
    ok(strncmp(b.data, "0,1,2,", 6) == 0, "appends in order");
    util_buf_reset(&b);
    util_shell_quote(&b, "it's a b");
    is_str(b.data, "'it'\\''s a b'", "shell quoting of a quote");
    util_buf_reset(&b);
    util_shell_quote(&b, "plain-word_1.txt");
    is_str(b.data, "plain-word_1.txt", "safe words are not quoted");
    util_buf_reset(&b);
    util_shell_quote(&b, "");
    is_str(b.data, "''", "empty word is quoted");
    char line[16];
    is_str(util_one_line("a\n   b\tc ", line, sizeof(line)), "a b c",
           "one_line collapses whitespace");
    is_str(util_one_line("0123456789abcdefghij", line, sizeof(line)),
           "0123456789ab...", "one_line cuts long text with ...");
    char *s = util_buf_steal(&b);
    ok(s && b.data == NULL, "steal empties the buffer");
    free(s);
    util_buf_fini(&b);
}

static char *s_dummy;

static void test_host(void)
{
    uint64_t total = 0, avail = 0;
    ok(util_meminfo(&total, &avail) == 0 && total > 0 && avail <= total,
       "meminfo reads MemTotal and MemAvailable");
    ok(util_ncpus() >= 1, "at least one cpu");
    char path[512];
    snprintf(path, sizeof(path), "%s/a/b/c", tap_tmpdir());
    ok(util_mkdir_p(path, 0700) == 0, "mkdir -p creates parents");
    ok(util_mkdir_p(path, 0700) == 0, "mkdir -p accepts an existing dir");
    errno = 0;
    ok(util_read_file("/nonexistent/file", &s_dummy, NULL) < 0 &&
           errno == ENOENT,
       "read_file reports ENOENT");
}

static void test_words(void)
{
    char **w = util_plain_words("  ./sim  --lr 0.1\tx.csv ");
    ok(w && !strcmp(w[0], "./sim") && !strcmp(w[1], "--lr") &&
           !strcmp(w[2], "0.1") && !strcmp(w[3], "x.csv") && !w[4],
       "a plain line splits on blanks");
    free(w);
    static const char *const shell[] = {
        "echo a > b", "a; b", "a && b", "a | b", "echo $X", "echo `x`",
        "echo 'a b'", "echo \"a\"", "ls *.c", "echo ~", "a # c",
        "(a)", "a\nb", "FOO=1 cmd", "echo {a,b}", "a \\ b", "! a", "",
        "   ",
    };
    int refused = 0;
    for (size_t i = 0; i < sizeof(shell) / sizeof(*shell); i++) {
        errno = 0;
        char **v = util_plain_words(shell[i]);
        refused += !v && errno == EINVAL;
        free(v);
    }
    is_int(refused, (int)(sizeof(shell) / sizeof(*shell)),
           "lines with shell syntax, assignments or nothing need a shell");
    w = util_plain_words("cmd a=b");
    ok(w && !strcmp(w[1], "a=b"), "'=' after the program is an argument");
    free(w);
}

int main(void)
{
    plan(NO_PLAN);
    test_words();
    test_sizes();
    test_durations();
    test_milli();
    test_buf();
    test_host();
    return done_testing();
}
