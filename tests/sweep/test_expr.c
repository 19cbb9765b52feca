/* SPDX-License-Identifier: MIT */
/* test_expr.c - resource expressions: arithmetic and precedence, unary
 * minus, parameter references, size suffixes, and errors with columns. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/sweep.h"
#include "tap.h"

/* A space by hand: tp [1, 2, 4], opt [adam, sgd], lr float, n int. */
static sweep_value_t tp_values[] = {
    {"1", true, 1}, {"2", true, 2}, {"4", true, 4}};
static sweep_value_t opt_values[] = {{"adam", false, 0}, {"sgd", false, 0}};
static sweep_param_t params[] = {
    {.name = "tp", .kind = SWEEP_CATEGORICAL, .nvalues = 3,
     .values = tp_values},
    {.name = "opt", .kind = SWEEP_CATEGORICAL, .nvalues = 2,
     .values = opt_values},
    {.name = "lr", .kind = SWEEP_FLOAT, .min = 1e-5, .max = 0.1},
    {.name = "n", .kind = SWEEP_INT, .min = 1, .max = 16},
};
static const sweep_config_t cfg = {.nparams = 4, .params = params};

/* tp = 4 (index 2), opt = sgd, lr = 0.5, n = 3 */
static const double X[] = {2, 1, 0.5, 3};

static void expect(const char *expr, bool size, double want)
{
    double v = -12345;
    banyan_error_t err = {{0}};
    int rc = sweep_expr_eval(&cfg, expr, X, size, &v, &err);
    if (!ok(rc == 0 && fabs(v - want) <= 1e-9 * fabs(want),
            "'%s' is %g", expr, want))
        diag("rc %d, got %g, error '%s'", rc, v, err.text);
}

static void expect_err(const char *expr, bool size, const char *want)
{
    double v = -12345;
    banyan_error_t err = {{0}};
    errno = 0;
    int rc = sweep_expr_eval(&cfg, expr, X, size, &v, &err);
    if (!ok(rc == -1 && errno == EINVAL && strcmp(err.text, want) == 0 &&
                v == -12345,
            "'%s' fails with '%s'", expr, want))
        diag("rc %d, errno %d, error '%s'", rc, errno, err.text);
}

static void test_arithmetic(void)
{
    expect("2", false, 2);
    expect("  7  ", false, 7);
    expect("0.5", false, 0.5);
    expect(".25", false, 0.25);
    expect("1e3", false, 1000);
    expect("2 + 3 * 4", false, 14);
    expect("(2 + 3) * 4", false, 20);
    expect("10 - 4 - 3", false, 3);
    expect("48 / 4 / 2", false, 6);
    expect("7 / 2", false, 3.5);
    expect("-3", false, -3);
    expect("--3", false, 3);
    expect("2 * -3", false, -6);
    expect("-(2 + 3) * 2", false, -10);
    expect("+4", false, 4);
    expect("((((1))))", false, 1);
    expect("2*3+4*5", false, 26);
}

static void test_references(void)
{
    expect("{tp}", false, 4);
    expect("{tp} * 2", false, 8);
    expect("{ tp }", false, 4);
    expect("{n} + {tp}", false, 7);
    expect("{lr} * 4", false, 2);
    expect("{tp} / {n}", false, 4.0 / 3);
    double x0[] = {0, 0, 0.001, 16};
    double v;
    ok(sweep_expr_eval(&cfg, "{tp} * {n}", x0, false, &v, NULL) == 0 &&
           v == 16,
       "references follow the point (tp index 0 is 1)");
}

static void test_sizes(void)
{
    expect("8G", true, 8.0 * (1 << 30));
    expect("512M", true, 512.0 * (1 << 20));
    expect("1.5k", true, 1536);
    expect("2T", true, 2.0 * 1099511627776.0);
    expect("8GiB", true, 8.0 * (1 << 30));
    expect("8GB", true, 8.0 * (1 << 30));
    expect("8g", true, 8.0 * (1 << 30));
    expect("{tp} * 512M + 1G", true, 3.0 * (1 << 30));
    expect("100", true, 100);
    expect_err("8G", false, "column 2: unexpected 'G' after a number (size "
               "suffixes are only allowed in mem)");
    expect_err("8X", true, "column 2: unknown size suffix 'X' (use k, M, G "
               "or T)");
    expect_err("8Gx", true, "column 3: unexpected 'x' after a size");
}

static void test_errors(void)
{
    expect_err("", false, "column 1: empty expression");
    expect_err("   ", false, "column 4: empty expression");
    expect_err("2 +", false, "column 4: expected a number, '{name}' or '(' "
               "at end of expression");
    expect_err("2 + * 3", false, "column 5: expected a number, '{name}' or "
               "'(', not '*'");
    expect_err("(2 + 3", false, "column 7: expected ')' to close '(' at "
               "column 1");
    expect_err("2 + 3)", false, "column 6: unexpected ')'");
    expect_err("2 3", false, "column 3: unexpected '3'");
    expect_err("{tpp} * 2", false, "column 2: unknown parameter 'tpp'");
    expect_err("1 + {tp", false, "column 8: expected '}' to close '{' at "
               "column 5");
    expect_err("{}", false, "column 2: expected a parameter name after '{'");
    expect_err("{opt}", false, "column 1: parameter 'opt' value 'sgd' is not "
               "a number");
    expect_err("4 / ({tp} - 4)", false, "column 3: division by zero");
    expect_err("1 / 0", false, "column 3: division by zero");
    expect_err("tp", false, "column 1: expected a number, '{name}' or '(', "
               "not 't'");
    expect_err("1e400", false, "column 1: number out of range");
    char deep[400];
    memset(deep, '(', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    double v;
    banyan_error_t err;
    ok(sweep_expr_eval(&cfg, deep, X, false, &v, &err) == -1 &&
           strstr(err.text, "nested too deeply"),
       "deep nesting is refused instead of exhausting the stack");
    memset(deep, '-', sizeof(deep) - 1);
    ok(sweep_expr_eval(&cfg, deep, X, false, &v, &err) == -1 &&
           strstr(err.text, "nested too deeply"),
       "a long chain of unary minus is refused too");
    double bad_index[] = {7, 0, 0.1, 1};
    ok(sweep_expr_eval(&cfg, "{tp}", bad_index, false, &v, &err) == -1,
       "a categorical index outside the values is an error");
    ok(sweep_expr_eval(&cfg, NULL, X, false, &v, &err) == -1 &&
           errno == EINVAL,
       "a NULL expression is EINVAL");
}

int main(void)
{
    plan(NO_PLAN);
    test_arithmetic();
    test_references();
    test_sizes();
    test_errors();
    return done_testing();
}
