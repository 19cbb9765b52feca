/* SPDX-License-Identifier: MIT */
/* tap.h - a small Test Anything Protocol emitter for banyan's C tests.
 *
 * Modelled on the usual libtap interface: plan(), ok(), is_int(), diag(),
 * done_testing().  Output goes to stdout; the exit status of done_testing()
 * is non-zero when any test failed or the plan was not met.
 */
#ifndef BANYAN_TAP_H
#define BANYAN_TAP_H

#include <stdbool.h>
#include <stdint.h>

enum { NO_PLAN = -1 };

/* Announce n tests, or NO_PLAN to count them as they come. */
void plan(int n);

/* Report one test.  Returns the truth of cond. */
bool ok_at(bool cond, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define ok(cond, ...) ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* Compare integers or strings, and print both values on failure. */
bool is_int_at(long long got, long long want, const char *file, int line,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define is_int(got, want, ...)                                                 \
    is_int_at((long long)(got), (long long)(want), __FILE__, __LINE__,        \
              __VA_ARGS__)
bool is_str_at(const char *got, const char *want, const char *file, int line,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define is_str(got, want, ...)                                                 \
    is_str_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)

/* Print a diagnostic line ("# ...") . */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Abort the whole test program with "Bail out!". */
void bail_out(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Close the run: prints the plan if NO_PLAN, returns the exit status. */
int done_testing(void);

/* The test's own temporary directory ($BANYAN_TEST_TMPDIR, else $TMPDIR,
 * else /tmp).  Returned pointer is static. */
const char *tap_tmpdir(void);

#endif /* BANYAN_TAP_H */
