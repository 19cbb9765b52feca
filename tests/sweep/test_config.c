/* SPDX-License-Identifier: MIT */
/* test_config.c - sweep configurations: the example in YAML and JSON,
 * defaults, every kind of bad configuration with its file:line:column, and
 * the canonical text of the parameter space. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/sweep.h"
#include "tap.h"

/* ------------------------------------------------------------ helpers */

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(name, "w");
    if (!f)
        bail_out("cannot create %s: %s", name, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static sweep_config_t *load_text(const char *name, const char *text,
                                 banyan_error_t *err)
{
    write_file(name, text);
    memset(err, 0, sizeof(*err));
    return sweep_config_load(name, err);
}

static sweep_config_t *load_fixture(const char *file)
{
    const char *src = getenv("BANYAN_SRCDIR");
    if (!src)
        bail_out("BANYAN_SRCDIR is not set");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/sweep/configs/%s", src, file);
    banyan_error_t err = {{0}};
    sweep_config_t *cfg = sweep_config_load(path, &err);
    if (!cfg)
        diag("%s: %s", file, err.text);
    return cfg;
}

/* Load text from file name and expect the error "name:POS: ...MSG...". */
static void expect_error(const char *name, const char *text, const char *pos,
                         const char *msg, const char *what)
{
    banyan_error_t err;
    errno = 0;
    sweep_config_t *cfg = load_text(name, text, &err);
    int e = errno;
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s:%s: ", name, pos);
    bool good = !cfg && e == EINVAL &&
                strncmp(err.text, prefix, strlen(prefix)) == 0 &&
                strstr(err.text, msg) != NULL;
    if (!ok(good, "%s: error at %s", what, pos))
        diag("got %s (errno %d), want '%s...%s'", cfg ? "a config" : err.text,
             e, prefix, msg);
    sweep_config_free(cfg);
}

/* A small valid configuration with a replaceable tail. */
#define HEAD "name: t\ncommand: echo {a}\nparameters:\n  a: [1, 2]\n"

/* -------------------------------------------------- the example */

static bool same_config(const sweep_config_t *a, const sweep_config_t *b)
{
    bool same = true;
#define SAME(cond, field)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            diag("field %s differs", field);                                   \
            same = false;                                                      \
        }                                                                      \
    } while (0)
#define SAME_STR(x, y, field)                                                  \
    SAME(((x) == NULL && (y) == NULL) ||                                       \
             ((x) && (y) && strcmp((x), (y)) == 0),                            \
         field)
    SAME_STR(a->name, b->name, "name");
    SAME_STR(a->command, b->command, "command");
    SAME_STR(a->gpus_expr, b->gpus_expr, "gpus_expr");
    SAME_STR(a->cpus_expr, b->cpus_expr, "cpus_expr");
    SAME_STR(a->mem_expr, b->mem_expr, "mem_expr");
    SAME_STR(a->metric, b->metric, "metric");
    SAME(a->strategy == b->strategy, "strategy");
    SAME(a->maximize == b->maximize, "maximize");
    SAME(a->max_iterations == b->max_iterations, "max_iterations");
    SAME(a->max_parallel == b->max_parallel, "max_parallel");
    SAME(a->timeout_ms == b->timeout_ms, "timeout_ms");
    SAME(a->seed == b->seed, "seed");
    SAME(a->tpe_startup == b->tpe_startup, "tpe_startup");
    SAME(a->nconfigs == b->nconfigs, "nconfigs");
    SAME(a->nparams == b->nparams, "nparams");
    for (size_t i = 0; same && i < a->nparams; i++) {
        const sweep_param_t *p = &a->params[i], *q = &b->params[i];
        SAME_STR(p->name, q->name, "param name");
        SAME(p->kind == q->kind, "param kind");
        SAME(p->nvalues == q->nvalues, "param nvalues");
        for (size_t k = 0; same && k < p->nvalues; k++) {
            SAME_STR(p->values[k].text, q->values[k].text, "value text");
            SAME(p->values[k].is_num == q->values[k].is_num, "value is_num");
            SAME(p->values[k].num == q->values[k].num, "value num");
        }
        SAME(p->min == q->min && p->max == q->max, "param bounds");
        SAME(p->log == q->log, "param log");
        SAME(p->grid_num == q->grid_num, "param grid_num");
    }
    for (size_t i = 0; same && i < a->nconfigs * a->nparams; i++)
        SAME(a->configs[i] == b->configs[i], "configs");
    return same;
}

static void test_example(void)
{
    sweep_config_t *y = load_fixture("example.yaml");
    sweep_config_t *j = load_fixture("example.json");
    if (!ok(y && j, "the issue's example loads in YAML and in JSON")) {
        sweep_config_free(y);
        sweep_config_free(j);
        return;
    }
    is_str(y->name, "tp-latency", "name");
    is_str(y->command, "./serve_and_bench.sh --tp {tp} --batch {batch} "
           "--lr {lr}", "command template is kept as written");
    is_int(y->nparams, 4, "four parameters");
    const sweep_param_t *tp = &y->params[0], *batch = &y->params[1];
    const sweep_param_t *lr = &y->params[2], *layers = &y->params[3];
    ok(strcmp(tp->name, "tp") == 0 && tp->kind == SWEEP_CATEGORICAL &&
           tp->nvalues == 3 && strcmp(tp->values[2].text, "4") == 0 &&
           tp->values[2].is_num && tp->values[2].num == 4,
       "a YAML list is a categorical parameter with numeric values");
    is_int(tp->line, 5, "parameter tp is declared on line 5");
    is_int(tp->column, 3, "parameter tp is declared in column 3");
    ok(batch->kind == SWEEP_CATEGORICAL && batch->nvalues == 3 &&
           strcmp(batch->values[0].text, "16") == 0,
       "{values: [...]} is a categorical parameter");
    ok(lr->kind == SWEEP_FLOAT && lr->min == 1.0e-5 && lr->max == 1.0e-1 &&
           lr->log && lr->grid_num == 5,
       "{min, max, log} is a log-scale float with 5 grid points");
    ok(layers->kind == SWEEP_INT && layers->min == 2 && layers->max == 12 &&
           !layers->log,
       "type: int gives an int parameter");
    is_str(y->gpus_expr, "{tp}", "gpus expression");
    is_str(y->cpus_expr, "2", "cpus as a number becomes its text");
    is_str(y->mem_expr, "8G", "mem keeps its size suffix");
    ok(y->strategy == SWEEP_GRID, "grid_search strategy");
    is_str(y->metric, "latency", "minimize_latency names the metric");
    ok(!y->maximize, "minimize_ gives a minimising goal");
    is_int(y->max_iterations, 100, "max_iterations");
    is_int(y->max_parallel, 3, "max_parallel_experiments");
    is_int(y->timeout_ms, 600000, "timeout_per_iteration 600 is 600 s");
    is_int(y->seed, 1, "seed");
    is_int(y->tpe_startup, 10, "tpe_startup defaults to 10");
    ok(strstr(y->path, "example.yaml") != NULL, "path is kept");

    ok(same_config(y, j), "YAML and JSON forms give identical configs");
    char *ty = sweep_config_space_text(y), *tj = sweep_config_space_text(j);
    ok(ty && tj && strcmp(ty, tj) == 0,
       "YAML and JSON forms give identical space text");
    free(ty);
    free(tj);
    sweep_config_free(y);
    sweep_config_free(j);
}

/* ------------------------------------------------------------ defaults */

static void test_defaults(void)
{
    banyan_error_t err;
    expect_error("d0.yaml", HEAD, "1:1", "missing 'objective' in "
                 "optimization", "a config without an objective");
    expect_error("d1.yaml", HEAD "optimization:\n  strategy: tpe\n", "6:3",
                 "missing 'objective'", "an optimization without objective");
    sweep_config_t *c = load_text("d.yaml", HEAD "optimization:\n"
                                  "  objective: minimize_loss\n", &err);
    if (!ok(c != NULL, "a config with only name, command, parameters and "
                       "objective loads")) {
        diag("%s", err.text);
        return;
    }
    ok(c->strategy == SWEEP_GRID, "default strategy is grid_search");
    is_int(c->max_parallel, 4, "default max_parallel_experiments is 4");
    is_int(c->max_iterations, 2, "grid: max_iterations defaults to the "
           "grid's size");
    is_int(c->timeout_ms, 0, "no timeout by default");
    is_int(c->seed, 0, "default seed is 0");
    ok(!c->gpus_expr && !c->cpus_expr && !c->mem_expr,
       "no resource expressions by default");
    sweep_config_free(c);

    c = load_text("r.yaml", HEAD "optimization:\n  strategy: random\n"
                  "  objective: minimize_loss\n", &err);
    ok(c && c->strategy == SWEEP_RANDOM && c->max_iterations == 100,
       "random: max_iterations defaults to 100");
    sweep_config_free(c);

    c = load_text("b.yaml",
                  HEAD "optimization:\n  strategy: bayesian\n"
                       "  objective: maximize_acc\n  tpe_startup: 4\n"
                       "  timeout_per_iteration: 10m\n",
                  &err);
    ok(c && c->strategy == SWEEP_TPE && c->max_iterations == 100 &&
           c->maximize && strcmp(c->metric, "acc") == 0 &&
           c->tpe_startup == 4 && c->timeout_ms == 600000,
       "bayesian is tpe; maximize_acc; a \"10m\" timeout is 600000 ms");
    sweep_config_free(c);

    c = load_text("g.yaml",
                  "name: g\ncommand: run\nparameters:\n"
                  "  x: {min: 0, max: 1}\n  y: {min: 1, max: 100, log: true, "
                  "num: 3}\n  n: {min: -1, max: 1, type: int}\n"
                  "optimization: {strategy: grid, objective: minimize_l}\n",
                  &err);
    ok(c && c->strategy == SWEEP_GRID && c->params[0].grid_num == 5 &&
           c->params[1].grid_num == 3 && c->params[0].kind == SWEEP_FLOAT,
       "grid over float parameters is allowed, with num points (default "
       "5)");
    ok(c && c->max_iterations == 5 * 3 * 3,
       "max_iterations defaults to the size of the grid");
    sweep_config_free(c);

    c = load_text("v.yaml",
                  "name: v\ncommand: run\nparameters:\n"
                  "  opt: [adam, 'sgd', \"1.0e-5\", -3]\n"
                  "optimization: {objective: minimize_l}\n",
                  &err);
    ok(c && strcmp(c->params[0].values[0].text, "adam") == 0 &&
           !c->params[0].values[0].is_num &&
           strcmp(c->params[0].values[1].text, "sgd") == 0 &&
           strcmp(c->params[0].values[2].text, "1.0e-5") == 0 &&
           c->params[0].values[2].num == 1.0e-5 &&
           c->params[0].values[3].num == -3,
       "categorical values keep their text; numbers parse with their "
       "value");
    sweep_config_free(c);
}

static void test_list(void)
{
    banyan_error_t err;
    const char *text =
        "name: l\ncommand: run {opt} {lr} {n}\nparameters:\n"
        "  opt: [adam, sgd]\n  lr: {min: 0.001, max: 0.1}\n"
        "  n: {min: 1, max: 8, type: int}\n"
        "optimization:\n  strategy: list\n  objective: {metric: loss, goal: "
        "maximize}\n"
        "configurations:\n"
        "  - {opt: sgd, lr: 0.5, n: 3}\n"
        "  - {n: 1, opt: adam, lr: 1.0e-2}\n";
    sweep_config_t *c = load_text("l.yaml", text, &err);
    if (!ok(c != NULL, "a list configuration loads")) {
        diag("%s", err.text);
        return;
    }
    is_int(c->nconfigs, 2, "two configurations");
    is_int(c->max_iterations, 2, "list: max_iterations defaults to its size");
    ok(c->maximize && strcmp(c->metric, "loss") == 0,
       "objective in the {metric, goal} form");
    double *x = c->configs;
    ok(x[0] == 1 && x[1] == 0.5 && x[2] == 3,
       "configuration 1: categorical index, float taken as it is, int");
    ok(x[3] == 0 && x[4] == 0.01 && x[5] == 1,
       "configuration 2: keys in any order");
    char *t1 = sweep_config_space_text(c);
    sweep_config_free(c);

    char *changed = strdup(text);
    *strstr(changed, "lr: 0.5") = 'L'; /* unknown parameter 'Lr' */
    expect_error("l2.yaml", changed, "11:16",
                 "configuration 1: unknown parameter 'Lr' (did you mean "
                 "'lr'?)",
                 "a configuration naming an unknown parameter");
    free(changed);

    changed = strdup(text);
    memcpy(strstr(changed, "lr: 0.5"), "lr: 0.6", 7);
    c = load_text("l3.yaml", changed, &err);
    char *t2 = c ? sweep_config_space_text(c) : NULL;
    ok(t1 && t2 && strcmp(t1, t2) != 0,
       "changing a listed configuration changes the space text");
    sweep_config_free(c);
    free(changed);
    free(t1);
    free(t2);

    const char *base = "name: l\ncommand: run\nparameters:\n"
                       "  opt: [adam, sgd]\n  n: {min: 1, max: 8, type: int}\n"
                       "optimization: {strategy: list, objective: maximize_x}\n";
    char buf[1024];
    snprintf(buf, sizeof(buf), "%sconfigurations:\n  - {opt: rmsprop, n: 2}\n",
             base);
    expect_error("l4.yaml", buf, "8:11",
                 "'rmsprop' is not one of the values of parameter 'opt'",
                 "a configuration value outside the categorical list");
    snprintf(buf, sizeof(buf), "%sconfigurations:\n  - {opt: sgd, n: 2.5}\n",
             base);
    expect_error("l5.yaml", buf, "8:19", "parameter 'n' is an int, not 2.5",
                 "a configuration with a fractional int");
    snprintf(buf, sizeof(buf), "%sconfigurations:\n  - {opt: sgd}\n", base);
    expect_error("l6.yaml", buf, "8:5",
                 "configuration 1 does not set parameter 'n'",
                 "a configuration missing a parameter");
    expect_error("l7.yaml", base, "6:26",
                 "strategy 'list' needs a 'configurations' list",
                 "strategy list without configurations");
    snprintf(buf, sizeof(buf), "%sconfigurations: []\n", base);
    expect_error("l8.yaml", buf, "7:17", "'configurations' is empty",
                 "an empty configurations list");
    expect_error("l9.yaml",
                 HEAD "configurations:\n  - {a: 1}\n", "5:1",
                 "'configurations' is only used with strategy 'list'",
                 "configurations without strategy list");
}

/* -------------------------------------------------------------- errors */

static void test_errors(void)
{
    expect_error("e1.yaml", HEAD "optimization:\n  strategyy: grid\n", "6:3",
                 "unknown key 'strategyy' in optimization (did you mean "
                 "'strategy'?)",
                 "unknown key with a suggestion");
    {
        banyan_error_t err;
        sweep_config_t *c = load_text("e2.yaml", HEAD "colour: blue\n", &err);
        ok(!c && strstr(err.text, "e2.yaml:5:1: unknown key 'colour'") &&
               !strstr(err.text, "did you mean"),
           "unknown key far from every key gets no suggestion");
        sweep_config_free(c);
    }
    expect_error("e3.yaml", HEAD "optimization:\n  max_iterations: ten\n",
                 "6:19", "'max_iterations' must be a positive integer",
                 "max_iterations given as a word");
    expect_error("e4.yaml", HEAD "optimization:\n  max_iterations: 0\n",
                 "6:19", "'max_iterations' must be a positive integer",
                 "max_iterations 0");
    expect_error("e5.yaml", HEAD "optimization:\n  max_iterations: 2.5\n",
                 "6:19", "'max_iterations' must be a positive integer",
                 "fractional max_iterations");
    expect_error("e6.yaml",
                 HEAD "optimization:\n  max_parallel_experiments: [2]\n",
                 "6:29", "'max_parallel_experiments' must be a positive "
                 "integer", "max_parallel_experiments given as a list");
    expect_error("e7.yaml", HEAD "optimization:\n  seed: -1\n", "6:9",
                 "'seed' must be a non-negative integer", "negative seed");
    expect_error("e8.yaml", HEAD "optimization:\n  timeout_per_iteration: "
                 "soon\n", "6:26", "'timeout_per_iteration' must be a "
                 "duration", "a timeout that is not a duration");
    expect_error("e9.yaml", "name: t\ncommand: x\nparameters:\n  a: []\n",
                 "4:6", "parameter 'a' has an empty list of values",
                 "an empty list of values");
    expect_error("e10.yaml", "name: t\ncommand: x\nparameters: {}\n",
                 "3:13", "'parameters' is empty",
                 "an empty parameters map");
    expect_error("e11.yaml",
                 "name: t\ncommand: x\nparameters:\n  b: {values: []}\n",
                 "4:15", "parameter 'b' has an empty list of values",
                 "an empty values list");
    expect_error("e12.yaml",
                 "name: t\ncommand: x\nparameters:\n  lr: {min: 5, max: 1}\n",
                 "4:13", "parameter 'lr': min (5) is greater than max (1)",
                 "min greater than max");
    expect_error("e13.yaml",
                 "name: t\ncommand: x\nparameters:\n"
                 "  lr: {min: 0, max: 1, log: true}\n",
                 "4:13", "a log scale needs min > 0",
                 "log scale with min 0");
    expect_error("e14.yaml",
                 "name: t\ncommand: x\nparameters:\n"
                 "  n: {min: 1, max: 4.5, type: int}\n",
                 "4:20", "parameter 'n' is an int, but 'max' is 4.5",
                 "int parameter with a fractional bound");
    expect_error("e15.yaml",
                 "name: t\ncommand: x\nparameters:\n"
                 "  n: {min: 1, max: 4, type: integer}\n",
                 "4:29", "'type' must be int or float", "an unknown type");
    expect_error("e16.yaml",
                 "name: t\ncommand: x\nparameters:\n  lr: {min: 0.1}\n",
                 "4:7", "parameter 'lr' needs 'min' and 'max'",
                 "a range without max");
    expect_error("e17.yaml",
                 "name: t\ncommand: x\nparameters:\n"
                 "  lr: {min: low, max: 1}\n",
                 "4:13", "parameter 'lr': 'min' must be a number",
                 "a bound that is not a number");
    expect_error("e18.yaml",
                 "name: t\ncommand: x\nparameters:\n"
                 "  lr: {min: 1, max: 2, log: maybe}\n",
                 "4:29", "'log' must be true or false", "log not a boolean");
    expect_error("e19.yaml",
                 "name: t\ncommand: x\nparameters:\n"
                 "  b: {values: [1], min: 0}\n",
                 "4:20", "'min' cannot be combined with 'values'",
                 "values mixed with min");
    expect_error("e20.yaml",
                 "name: t\ncommand: x\nparameters:\n  a: [1]\n  b: [2]\n"
                 "  a: [3]\n",
                 "6:3", "duplicate parameter 'a' (first at line 4, column 3)",
                 "duplicate parameter names");
    expect_error("e21.yaml",
                 "name: t\ncommand: x\nparameters:\n  my-lr: [1]\n", "4:3",
                 "invalid parameter name 'my-lr'", "an invalid name");
    expect_error("e22.yaml",
                 "name: t\ncommand: x\nparameters:\n  a: [1, 2, 1.0]\n",
                 "4:13", "parameter 'a' lists the value '1' twice",
                 "a value listed twice");
    expect_error("e23.yaml", "name: t\ncommand: x\nparameters:\n  a: 4\n",
                 "4:6", "write [x] for a single value",
                 "a bare scalar parameter");
    expect_error("e24.yaml", "name: t\nparameters:\n  a: [1]\n", "1:1",
                 "missing 'command'", "missing command");
    expect_error("e25.yaml", "command: x\nparameters:\n  a: [1]\n", "1:1",
                 "missing 'name'", "missing name");
    expect_error("e26.yaml", "name: t\ncommand: x\n", "1:1",
                 "missing 'parameters'", "missing parameters");
    expect_error("e27.yaml", "name: ''\ncommand: x\nparameters:\n  a: [1]\n",
                 "1:7", "'name' must be a non-empty string", "empty name");
    expect_error("e28.yaml", HEAD "optimization:\n  strategy: tpee\n", "6:13",
                 "unknown strategy 'tpee' (did you mean 'tpe'?)",
                 "unknown strategy with a suggestion");
    expect_error("e29.yaml", HEAD "optimization:\n  objective: lowest_loss\n",
                 "6:14", "'objective' must be minimize_<metric>",
                 "an objective without minimize_/maximize_");
    expect_error("e30.yaml",
                 HEAD "optimization:\n  objective: {metric: loss, goal: "
                      "down}\n",
                 "6:35", "'goal' must be minimize or maximize",
                 "an unknown goal");
    expect_error("e31.yaml", HEAD "optimization:\n  objective: {metric: l}\n",
                 "6:14", "'objective' needs a 'goal'",
                 "an objective map without goal");
    expect_error("e33.yaml", "name: t\ncommand: x\nparameters:\n  a: &A [1]\n"
                 "  b: *A\n", "5:6", "YAML aliases (*A) are not supported",
                 "a YAML alias");
    expect_error("e34.yaml", "name: t\ncommand: [x\n", "3:1",
                 "did not find expected", "a YAML syntax error");
    expect_error("e34b.yaml", "name: t\ncommand: x\nparameters:\n"
                 "  a: {min: 1, max:\n", "5:1", "did not find expected",
                 "a YAML syntax error inside a map frees what was read");
    expect_error("e35.yaml", "", "1:1", "empty configuration", "empty file");
    expect_error("e36.yaml", "- a\n- b\n", "1:1", "must be a map",
                 "a list at the top level");
    expect_error("e37.yaml", HEAD "---\nname: again\n", "5:1",
                 "only one YAML document", "two YAML documents");
    expect_error("e38.yaml", HEAD "resources:\n  gpu: 1\n", "6:3",
                 "unknown key 'gpu' in resources (did you mean 'gpus'?)",
                 "an unknown resource");

    banyan_error_t err;
    errno = 0;
    ok(!sweep_config_load("no-such-file.yaml", &err) && errno == ENOENT &&
           strstr(err.text, "no-such-file.yaml"),
       "a missing file fails with ENOENT and names the file");
}

static void test_expressions(void)
{
    const char *head = "name: t\ncommand: x\nparameters:\n  tp: [1, 2]\n"
                       "  opt: [adam, sgd]\nresources:\n";
    char buf[512];
    snprintf(buf, sizeof(buf), "%s  gpus: \"{tp} *\"\n", head);
    expect_error("x1.yaml", buf, "7:9", "resources.gpus: column 7: expected "
                 "a number", "an unfinished expression");
    snprintf(buf, sizeof(buf), "%s  gpus: \"{tpp} * 2\"\n", head);
    expect_error("x2.yaml", buf, "7:9", "resources.gpus: column 2: unknown "
                 "parameter 'tpp'", "an unknown parameter in an expression");
    snprintf(buf, sizeof(buf), "%s  cpus: \"2 * ({tp} + 1\"\n", head);
    expect_error("x3.yaml", buf, "7:9", "resources.cpus: column 14: expected "
                 "')' to close '(' at column 5", "an unclosed parenthesis");
    snprintf(buf, sizeof(buf), "%s  gpus: \"{opt}\"\n", head);
    expect_error("x4.yaml", buf, "7:9", "parameter 'opt' value 'adam' is not "
                 "a number", "a non-numeric categorical in an expression");
    snprintf(buf, sizeof(buf), "%s  gpus: 8G\n", head);
    expect_error("x5.yaml", buf, "7:9", "resources.gpus: column 2:",
                 "a size suffix outside mem");
    snprintf(buf, sizeof(buf), "%s  mem: 1 / 0\n", head);
    expect_error("x6.yaml", buf, "7:8", "division by zero",
                 "a constant division by zero");
    snprintf(buf, sizeof(buf), "%s  mem: \"\"\n", head);
    expect_error("x7.yaml", buf, "7:8", "'resources.mem' must be a number",
                 "an empty expression");
    banyan_error_t err;
    snprintf(buf, sizeof(buf), "%s  gpus: \"{tp} * 2\"\n  cpus: 0.5\n"
             "  mem: \"{tp} * 512M + 1G\"\n"
             "optimization: {objective: minimize_t}\n", head);
    sweep_config_t *c = load_text("x8.yaml", buf, &err);
    ok(c && strcmp(c->mem_expr, "{tp} * 512M + 1G") == 0 &&
           strcmp(c->cpus_expr, "0.5") == 0,
       "valid expressions load as written");
    if (!c)
        diag("%s", err.text);
    sweep_config_free(c);
}

static void test_json(void)
{
    expect_error("j1.json", "{\n  \"name\": \"t\",\n  \"command\": \"x\"\n"
                 "  \"parameters\": {}\n}\n", "4:14",
                 "'}' expected", "a JSON syntax error gives jansson's "
                 "position");
    expect_error("j2.json",
                 "{\"name\": \"t\", \"command\": \"x\",\n"
                 " \"parameters\": {\"a\": [1]},\n"
                 " \"optimisation\": {}}\n",
                 "3:2", "unknown key 'optimisation' in the configuration "
                 "(did you mean 'optimization'?)",
                 "a JSON semantic error has a position too");
    expect_error("j3.json",
                 "{\"name\": \"t\", \"command\": \"x\",\n"
                 " \"parameters\": {\"a\": [1]},\n"
                 " \"optimization\": {\"max_iterations\": true}}\n",
                 "3:37", "'max_iterations' must be a positive integer",
                 "a JSON boolean where a number belongs");
    expect_error("j4.json",
                 "{\"name\": \"t\", \"command\": \"x\",\n"
                 " \"parameters\": {\"a\": [1], \"a\": [2]}}\n",
                 "2:27", "duplicate parameter 'a'",
                 "duplicate JSON keys are reported, not silently merged");
    banyan_error_t err;
    sweep_config_t *c = load_text("j5.json",
                                  "{\"name\":\"t\",\"command\":\"x\","
                                  "\"parameters\":{\"a\":{\"min\":1,"
                                  "\"max\":2,\"log\":true}},"
                                  "\"optimization\":{\"objective\":"
                                  "\"maximize_y\"}}",
                                  &err);
    ok(c && c->params[0].kind == SWEEP_FLOAT && c->params[0].log,
       "compact JSON without spaces loads");
    sweep_config_free(c);
}

/* ---------------------------------------------------------- space text */

static char *space_of(const char *text)
{
    banyan_error_t err;
    sweep_config_t *c = load_text("s.yaml", text, &err);
    if (!c) {
        diag("%s", err.text);
        return NULL;
    }
    char *t = sweep_config_space_text(c);
    sweep_config_free(c);
    return t;
}

static void test_space_text(void)
{
    const char *base = "name: s\ncommand: run {a}\nparameters:\n"
                       "  a: [1, 2]\n  lr: {min: 0.1, max: 1}\n"
                       "optimization:\n  strategy: grid\n"
                       "  max_parallel_experiments: 2\n"
                       "  timeout_per_iteration: 5\n"
                       "  objective: minimize_loss\n";
    struct {
        const char *from, *to;
        bool changes;
        const char *what;
    } cases[] = {
        {"name: s", "name: other", false, "the name"},
        {"run {a}", "go {a}", false, "the command"},
        {"experiments: 2", "experiments: 7", false, "max_parallel"},
        {"iteration: 5", "iteration: 9", false, "the timeout"},
        {"max: 1}", "max: 2}", true, "a bound"},
        {"[1, 2]", "[1, 3]", true, "a categorical value"},
        {"strategy: grid", "strategy: random", true, "the strategy"},
        {"max: 1}", "max: 1, num: 7}", true, "the grid points"},
        {"max: 1}", "max: 1, log: true}", true, "the scale"},
    };
    char *ref = space_of(base);
    ok(ref != NULL, "space text of a base config");
    for (size_t i = 0; ref && i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[1024];
        const char *at = strstr(base, cases[i].from);
        if (!at)
            bail_out("bad test case %zu", i);
        snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - base), base,
                 cases[i].to, at + strlen(cases[i].from));
        char *t = space_of(buf);
        bool changed = t && strcmp(t, ref) != 0;
        ok(t && changed == cases[i].changes, "changing %s %s the space text",
           cases[i].what, cases[i].changes ? "changes" : "does not change");
        free(t);
    }
    free(ref);
}

int main(void)
{
    plan(NO_PLAN);
    test_example();
    test_defaults();
    test_list();
    test_errors();
    test_expressions();
    test_json();
    test_space_text();
    return done_testing();
}
