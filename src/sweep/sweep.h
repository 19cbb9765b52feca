/* SPDX-License-Identifier: MIT */
/* sweep.h - experiment sweeps: configuration, parameter space, search
 * strategies, resource expressions and metrics.
 *
 * A sweep configuration (YAML or JSON, same schema; docs/sweep-config.md)
 * names a command template over parameters, a parameter space, resource
 * expressions over the parameters and an optimisation block.  Both forms are
 * read through one tree that keeps the line and column of every node, so
 * every error names file:line:column.
 *
 * A point of the space is an array of doubles, one per parameter in
 * declaration order: the value itself for float and int parameters, the
 * index of the value for categorical ones.
 *
 * Strategies are pure functions of (configuration, iteration number,
 * observations): the same inputs give the same point, so a resumed sweep
 * continues exactly where it stopped and random/TPE runs are reproducible
 * from their seed.  Observations carry the objective already oriented for
 * minimisation (the caller negates a maximised metric).
 */
#ifndef BANYAN_SWEEP_H
#define BANYAN_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

/* ------------------------------------------------------------ configuration */

typedef enum sweep_param_kind {
    SWEEP_CATEGORICAL = 1, /* a list of values: [1, 2, 4] or {values: [...]} */
    SWEEP_FLOAT,           /* {min, max[, log][, num]} */
    SWEEP_INT,             /* {min, max, type: int[, log]} */
} sweep_param_kind_t;

typedef struct sweep_value {
    char *text;            /* as written ("16", "adam", "1.0e-5") */
    bool is_num;           /* text parses as a number */
    double num;            /* its value when is_num */
} sweep_value_t;

typedef struct sweep_param {
    char *name;            /* [A-Za-z_][A-Za-z0-9_]* */
    sweep_param_kind_t kind;
    size_t nvalues;        /* categorical */
    sweep_value_t *values;
    double min, max;       /* float, int */
    bool log;              /* sample on a log scale (min > 0) */
    unsigned grid_num;     /* float under grid_search: points (default 5) */
    int line, column;      /* where it was declared */
} sweep_param_t;

typedef enum sweep_strategy {
    SWEEP_GRID = 1,        /* grid_search */
    SWEEP_RANDOM,          /* random */
    SWEEP_TPE,             /* tpe, bayesian */
    SWEEP_LIST,            /* list: explicit configurations */
} sweep_strategy_t;

typedef struct sweep_config {
    char *path;            /* the file it was read from */
    char *name;            /* sweeps are identified by name in a database */
    char *command;         /* template: {param} placeholders, shell syntax */
    size_t nparams;
    sweep_param_t *params;
    char *gpus_expr;       /* resource expressions, NULL = 0 / not stated */
    char *cpus_expr;
    char *mem_expr;        /* numbers may carry size suffixes: "8G" */
    sweep_strategy_t strategy;
    char *metric;          /* objective metric name ("latency") */
    bool maximize;         /* goal */
    uint64_t max_iterations;          /* 0 = the grid/list size (or 100) */
    uint32_t max_parallel;            /* max_parallel_experiments, >= 1 */
    int64_t timeout_ms;               /* timeout_per_iteration, 0 = none */
    uint64_t seed;
    unsigned tpe_startup;             /* random points before TPE (10) */
    size_t nconfigs;                  /* list: configurations */
    double *configs;                  /* nconfigs x nparams points */
} sweep_config_t;

/* Read and validate a configuration.  The format follows the extension
 * (.json: JSON, otherwise YAML).  NULL with EINVAL (or the errno of the
 * read) and error text "PATH:LINE:COLUMN: what is wrong" (unknown key, wrong
 * type, empty parameter list, min > max, log with min <= 0, unparsable or
 * unknown name in an expression, a missing objective...).  A float under
 * grid_search is sampled at its num points (default 5).
 * Caller must free with sweep_config_free(). */
sweep_config_t *sweep_config_load(const char *path, banyan_error_t *error);
void sweep_config_free(sweep_config_t *cfg);

/* A canonical text of the parameter space and strategy (not of name, command
 * or limits), to detect that an existing sweep's space was changed.
 * Caller frees. */
char *sweep_config_space_text(const sweep_config_t *cfg);

/* Index of a parameter by name, -1 if none. */
int sweep_param_index(const sweep_config_t *cfg, const char *name);

/* --------------------------------------------------------------- points */

/* The text of parameter i's value in point x ("4", "0.001", "adam"), as
 * substituted into commands and BANYAN_PARAM_<NAME>.  Into buf; returns
 * buf. */
char *sweep_value_text(const sweep_config_t *cfg, size_t i, const double *x,
                       char *buf, size_t size);

/* Substitute {name} placeholders of text with the point's values.  Unknown
 * names are left as written.  Caller frees. NULL with ENOMEM. */
char *sweep_substitute(const sweep_config_t *cfg, const char *text,
                       const double *x);

/* Evaluate a resource expression (+ - * / parentheses, numbers, {name}) at
 * point x.  size_units: numbers may carry k/M/G/T suffixes (mem).  0 and
 * *out, or -1 EINVAL with "column N: ..." in error. */
int sweep_expr_eval(const sweep_config_t *cfg, const char *expr,
                    const double *x, bool size_units, double *out,
                    banyan_error_t *error);

/* Point as a JSON object {"tp": 4, "opt": "adam", "lr": 0.001}.  Caller
 * frees.  And back: NULL / -1 EINVAL when the JSON does not fit the space. */
char *sweep_point_to_json(const sweep_config_t *cfg, const double *x);
int sweep_point_from_json(const sweep_config_t *cfg, const char *json,
                          double *x);

/* ----------------------------------------------------------- strategies */

typedef enum sweep_obs_state {
    SWEEP_OBS_DONE = 1,     /* finished with objective y */
    SWEEP_OBS_FAILED,       /* finished without a usable objective */
    SWEEP_OBS_RUNNING,      /* suggested and not finished yet */
} sweep_obs_state_t;

typedef struct sweep_obs {
    const double *x;        /* nparams values */
    double y;               /* objective to minimise (DONE only) */
    sweep_obs_state_t state;
} sweep_obs_t;

/* Total points of a grid or list (0 for random/TPE: unbounded). */
uint64_t sweep_space_size(const sweep_config_t *cfg);

/* The point of iteration it (0-based) into x.  Grid: the it-th point of the
 * product, declaration order, last parameter fastest.  List: the it-th
 * configuration.  Random: drawn from a generator seeded by (seed, it).
 * TPE: random for the first tpe_startup iterations, then a Tree-structured
 * Parzen Estimator over obs (RUNNING points count as a constant liar: the
 * worst objective seen so far), seeded by (seed, it).  Returns 0, or 1 when
 * a grid or list is exhausted. */
int sweep_suggest(const sweep_config_t *cfg, uint64_t it,
                  const sweep_obs_t *obs, size_t nobs, double *x);

/* -------------------------------------------------------------- metrics */

/* Metrics of a finished experiment: the JSON object in the file at
 * metrics_path if it exists, else the last line of stdout_text that parses
 * as a JSON object.  On success *json_out is that object as compact JSON
 * (caller frees) and *value the named metric as a number.  -1 with error
 * text: "no metrics: BANYAN_METRICS file absent and no JSON object line on
 * stdout", "malformed metrics file: ...", "metric 'latency' missing",
 * "metric 'latency' is not a number". *json_out may still be set (the
 * object without the metric). */
int sweep_metrics_read(const char *metrics_path, const char *stdout_text,
                       const char *metric, char **json_out, double *value,
                       banyan_error_t *error);

#endif /* BANYAN_SWEEP_H */
