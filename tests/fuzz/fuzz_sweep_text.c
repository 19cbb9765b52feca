/* SPDX-License-Identifier: MIT */
/* fuzz_sweep_text.c - fuzz target: the small parsers of a sweep that read
 * what experiments and the database give back: metrics (a task's stdout or
 * its BANYAN_METRICS file, sweep_metrics_read), a stored point
 * (sweep_point_from_json) and a resource expression (sweep_expr_eval).
 *
 * The first byte picks the parser, the rest is its text.  The space is a
 * fixed one: a categorical number, a categorical word, a log float and an
 * int.  A point that reads must have a listed value for each categorical
 * parameter and whole ints, and write back to JSON that reads to the same
 * point; a refusal must say why.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sweep/sweep.h"

static char tp_name[] = "tp", opt_name[] = "opt", lr_name[] = "lr",
            n_name[] = "n", v1[] = "1", v2[] = "2", v4[] = "4",
            adam[] = "adam", sgd[] = "sgd", cfg_name[] = "fuzz",
            command[] = "run {tp} {opt} {lr} {n}";
static sweep_value_t tp_values[] = {{v1, true, 1}, {v2, true, 2},
                                    {v4, true, 4}};
static sweep_value_t opt_values[] = {{adam, false, 0}, {sgd, false, 0}};
static sweep_param_t params[] = {
    {.name = tp_name, .kind = SWEEP_CATEGORICAL, .nvalues = 3,
     .values = tp_values},
    {.name = opt_name, .kind = SWEEP_CATEGORICAL, .nvalues = 2,
     .values = opt_values},
    {.name = lr_name, .kind = SWEEP_FLOAT, .min = 1e-5, .max = 0.1,
     .log = true},
    {.name = n_name, .kind = SWEEP_INT, .min = 1, .max = 8},
};
static const sweep_config_t cfg = {
    .name = cfg_name, .command = command, .nparams = 4, .params = params,
    .strategy = SWEEP_RANDOM, .max_parallel = 1, .seed = 1,
};

static void metrics(const char *text, const char *path)
{
    char *json = NULL;
    double v = 0;
    banyan_error_t err = {{0}};
    if (sweep_metrics_read(path, text, "loss", &json, &v, &err) < 0)
        fuzz_check_refusal(&err);
    else if (json == NULL || !isfinite(v))
        __builtin_trap();
    free(json);
    err.text[0] = '\0';
    json = NULL;
    if (sweep_metrics_read(path, text, "a.b", &json, &v, &err) < 0)
        fuzz_check_refusal(&err);
    free(json);
}

static void point(const char *text)
{
    double x[4], y[4];
    if (sweep_point_from_json(&cfg, text, x) < 0)
        return;
    for (size_t i = 0; i < 4; i++) {
        const sweep_param_t *p = &params[i];
        /* a categorical value is one of the list, an int is whole; a
         * number may lie outside [min, max] (strategy list's
         * configurations may) */
        bool in = p->kind == SWEEP_CATEGORICAL
                      ? x[i] >= 0 && x[i] < (double)p->nvalues
                            && x[i] == floor(x[i])
                      : isfinite(x[i])
                            && (p->kind != SWEEP_INT || x[i] == floor(x[i]));
        if (!in)
            __builtin_trap();
    }
    char *json = sweep_point_to_json(&cfg, x);
    if (json == NULL || sweep_point_from_json(&cfg, json, y) < 0
        || memcmp(x, y, sizeof x) != 0)
        __builtin_trap();
    free(json);
}

static void expr(const char *text, bool size_units)
{
    static const double x[4] = {2, 1, 0.001, 3};
    double v;
    banyan_error_t err = {{0}};
    if (sweep_expr_eval(&cfg, text, x, size_units, &v, &err) < 0)
        fuzz_check_refusal(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *text = fuzz_strndup(data + 1, size - 1);
    if (text == NULL)
        return 0;
    switch (data[0] % 5) {
    case 0: /* stdout of a task, no metrics file */
        metrics(text, NULL);
        break;
    case 1: { /* the metrics file */
        const char *path = fuzz_write_file(data + 1, size - 1, ".json");
        if (path != NULL)
            metrics("{\"loss\": 1}", path);
        break;
    }
    case 2:
        point(text);
        break;
    default:
        expr(text, data[0] % 5 == 4);
        break;
    }
    free(text);
    return 0;
}
