/* SPDX-License-Identifier: MIT */
/* tap.c - Test Anything Protocol output for the C test programs. */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int planned = NO_PLAN;
static int run;
static int failed;

void plan(int n)
{
    planned = n;
    if (n != NO_PLAN)
        printf("1..%d\n", n);
    fflush(stdout);
}

static bool report(bool cond, const char *file, int line, const char *fmt,
                   va_list ap)
{
    run++;
    if (!cond)
        failed++;
    printf("%sok %d - ", cond ? "" : "not ", run);
    vprintf(fmt, ap);
    printf("\n");
    if (!cond)
        printf("#   Failed test at %s line %d.\n", file, line);
    fflush(stdout);
    return cond;
}

bool ok_at(bool cond, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(cond, file, line, fmt, ap);
    va_end(ap);
    return cond;
}

bool is_int_at(long long got, long long want, const char *file, int line,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool cond = report(got == want, file, line, fmt, ap);
    va_end(ap);
    if (!cond)
        printf("#          got: %lld\n#     expected: %lld\n", got, want);
    return cond;
}

bool is_str_at(const char *got, const char *want, const char *file, int line,
               const char *fmt, ...)
{
    bool same = (got == NULL && want == NULL) ||
                (got != NULL && want != NULL && strcmp(got, want) == 0);
    va_list ap;
    va_start(ap, fmt);
    report(same, file, line, fmt, ap);
    va_end(ap);
    if (!same)
        printf("#          got: '%s'\n#     expected: '%s'\n",
               got ? got : "(null)", want ? want : "(null)");
    return same;
}

void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

void bail_out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("Bail out! ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    exit(255);
}

int done_testing(void)
{
    if (planned == NO_PLAN)
        printf("1..%d\n", run);
    else if (planned != run)
        printf("# Looks like you planned %d tests but ran %d.\n", planned,
               run);
    if (failed)
        printf("# Looks like you failed %d test%s of %d.\n", failed,
               failed == 1 ? "" : "s", run);
    fflush(stdout);
    return (failed || (planned != NO_PLAN && planned != run)) ? 1 : 0;
}

const char *tap_tmpdir(void)
{
    const char *d = getenv("BANYAN_TEST_TMPDIR");
    if (!d || !*d)
        d = getenv("TMPDIR");
    return (d && *d) ? d : "/tmp";
}
