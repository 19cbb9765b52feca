/* SPDX-License-Identifier: MIT */
/* test_point.c - points as text, in templates and as JSON, and back. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/sweep.h"
#include "tap.h"

static sweep_value_t tp_values[] = {
    {"1", true, 1}, {"2", true, 2}, {"4", true, 4}};
static sweep_value_t opt_values[] = {
    {"adam", false, 0}, {"sgd \"fast\"", false, 0}, {"1.0e-5", true, 1e-5}};
static sweep_param_t params[] = {
    {.name = "tp", .kind = SWEEP_CATEGORICAL, .nvalues = 3,
     .values = tp_values},
    {.name = "opt", .kind = SWEEP_CATEGORICAL, .nvalues = 3,
     .values = opt_values},
    {.name = "lr", .kind = SWEEP_FLOAT, .min = 1e-5, .max = 0.1, .log = true},
    {.name = "n", .kind = SWEEP_INT, .min = 1, .max = 16},
    {.name = "tp2", .kind = SWEEP_INT, .min = -5, .max = 5},
};
static const sweep_config_t cfg = {.nparams = 5, .params = params};

static void test_value_text(void)
{
    char buf[64];
    double x[] = {2, 0, 0.001, 3, -2};
    is_str(sweep_value_text(&cfg, 0, x, buf, sizeof(buf)), "4",
           "categorical: the value's text");
    is_str(sweep_value_text(&cfg, 1, x, buf, sizeof(buf)), "adam",
           "categorical string");
    is_str(sweep_value_text(&cfg, 2, x, buf, sizeof(buf)), "0.001",
           "float 0.001 is written as 0.001");
    is_str(sweep_value_text(&cfg, 3, x, buf, sizeof(buf)), "3", "int");
    is_str(sweep_value_text(&cfg, 4, x, buf, sizeof(buf)), "-2",
           "negative int");
    x[3] = 7.0000000001; /* an int parameter is written as an integer */
    is_str(sweep_value_text(&cfg, 3, x, buf, sizeof(buf)), "7",
           "int rounds to the nearest integer");
    x[1] = 2;
    is_str(sweep_value_text(&cfg, 1, x, buf, sizeof(buf)), "1.0e-5",
           "a numeric categorical keeps its text as written");

    double vals[] = {0.1, 1e-5, 3.0, 123456.789, 1.0 / 3, 2.5e-300,
                     6.02214076e23, 0.30000000000000004, -7.25, 1e21};
    int round_trips = 0;
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        x[2] = vals[i];
        sweep_value_text(&cfg, 2, x, buf, sizeof(buf));
        if (strtod(buf, NULL) == vals[i])
            round_trips++;
        else
            diag("%.17g written as %s", vals[i], buf);
    }
    is_int(round_trips, 10, "every float text reads back as the same double");
    x[2] = 0.1;
    is_str(sweep_value_text(&cfg, 2, x, buf, sizeof(buf)), "0.1",
           "0.1 is written shortest, not 0.10000000000000001");
    x[2] = 1.0 / 3;
    is_str(sweep_value_text(&cfg, 2, x, buf, sizeof(buf)),
           "0.3333333333333333", "1/3 needs 16 digits");
    x[2] = 1e-5;
    is_str(sweep_value_text(&cfg, 2, x, buf, sizeof(buf)), "1e-05",
           "1e-5 in %%g form");
    x[0] = 9;
    is_str(sweep_value_text(&cfg, 0, x, buf, sizeof(buf)), "",
           "an index outside the values gives empty text");
    is_str(sweep_value_text(&cfg, 17, x, buf, sizeof(buf)), "",
           "a parameter outside the config gives empty text");
}

static void test_substitute(void)
{
    double x[] = {1, 1, 0.01, 12, 0};
    struct {
        const char *in, *out, *what;
    } cases[] = {
        {"run --tp {tp} --lr {lr} --n {n}", "run --tp 2 --lr 0.01 --n 12",
         "every placeholder is replaced"},
        {"{tp}{tp2}{tp}", "202", "adjacent placeholders, prefix names"},
        {"{opt}", "sgd \"fast\"", "text is substituted verbatim"},
        {"{nope} {tp", "{nope} {tp", "unknown and unclosed names stay"},
        {"{{tp}}", "{2}", "'{{' is not special"},
        {"${HOME} {} {1} { tp}", "${HOME} {} {1} { tp}",
         "shell braces and non-names stay"},
        {"", "", "empty text"},
        {"no braces", "no braces", "text without braces"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = sweep_substitute(&cfg, cases[i].in, x);
        is_str(s, cases[i].out, "substitute: %s", cases[i].what);
        free(s);
    }
}

static void test_json(void)
{
    double x[] = {2, 0, 0.001, 3, -4};
    char *j = sweep_point_to_json(&cfg, x);
    is_str(j, "{\"tp\": 4, \"opt\": \"adam\", \"lr\": 0.001, \"n\": 3, "
              "\"tp2\": -4}",
           "point as JSON: numbers as numbers, strings as strings");
    double y[5] = {0};
    ok(j && sweep_point_from_json(&cfg, j, y) == 0 &&
           memcmp(x, y, sizeof(x)) == 0,
       "JSON round trip gives the same point");
    free(j);

    x[1] = 1;
    x[2] = 0.1;
    j = sweep_point_to_json(&cfg, x);
    ok(j && strstr(j, "\"opt\": \"sgd \\\"fast\\\"\"") &&
           strstr(j, "\"lr\": 0.1,"),
       "strings are escaped; floats are shortest");
    ok(j && sweep_point_from_json(&cfg, j, y) == 0 &&
           memcmp(x, y, sizeof(x)) == 0,
       "round trip with an escaped string");
    free(j);

    x[1] = 2;
    j = sweep_point_to_json(&cfg, x);
    ok(j && strstr(j, "\"opt\": 1e-05"),
       "a numeric categorical value is a JSON number");
    ok(j && sweep_point_from_json(&cfg, j, y) == 0 && y[1] == 2,
       "and matches its value again by numeric equality");
    free(j);

    ok(sweep_point_from_json(&cfg, "{\"tp\": \"2\", \"opt\": 0.00001, "
                                   "\"lr\": 0.05, \"n\": 4.0, \"tp2\": 0, "
                                   "\"extra\": true}", y) == 0 &&
           y[0] == 1 && y[1] == 2 && y[2] == 0.05 && y[3] == 4 && y[4] == 0,
       "categorical matched by text or number; 4.0 fits an int; extra keys "
       "are ignored");

    double before[] = {9, 9, 9, 9, 9};
    memcpy(y, before, sizeof(y));
    struct {
        const char *json, *what;
    } bad[] = {
        {"{\"tp\": 3, \"opt\": \"adam\", \"lr\": 0.1, \"n\": 1, \"tp2\": 0}",
         "a value not in the categorical list"},
        {"{\"tp\": 1, \"opt\": \"rmsprop\", \"lr\": 0.1, \"n\": 1, \"tp2\": 0}",
         "an unknown categorical string"},
        {"{\"tp\": 1, \"opt\": \"adam\", \"n\": 1, \"tp2\": 0}",
         "a missing parameter"},
        {"{\"tp\": 1, \"opt\": \"adam\", \"lr\": \"0.1\", \"n\": 1, "
         "\"tp2\": 0}", "a float given as a string"},
        {"{\"tp\": 1, \"opt\": \"adam\", \"lr\": 0.1, \"n\": 1.5, \"tp2\": 0}",
         "a fractional int"},
        {"{\"tp\": 1, \"opt\": \"adam\", \"lr\": true, \"n\": 1, \"tp2\": 0}",
         "a boolean float"},
        {"[1, 2]", "an array"},
        {"{\"tp\": 1,", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        int rc = sweep_point_from_json(&cfg, bad[i].json, y);
        ok(rc == -1 && errno == EINVAL && memcmp(y, before, sizeof(y)) == 0,
           "from_json refuses %s and leaves the point alone", bad[i].what);
    }
    double out_of_range[] = {5, 0, 0.1, 1, 0};
    errno = 0;
    ok(sweep_point_to_json(&cfg, out_of_range) == NULL && errno == EINVAL,
       "to_json refuses a categorical index outside the values");
}

static void test_index(void)
{
    is_int(sweep_param_index(&cfg, "tp"), 0, "index of tp");
    is_int(sweep_param_index(&cfg, "tp2"), 4, "index of tp2");
    is_int(sweep_param_index(&cfg, "t"), -1, "a prefix is not a name");
    is_int(sweep_param_index(&cfg, "TP"), -1, "names are case-sensitive");
    is_int(sweep_param_index(&cfg, NULL), -1, "NULL name");
}

int main(void)
{
    plan(NO_PLAN);
    test_value_text();
    test_substitute();
    test_json();
    test_index();
    return done_testing();
}
