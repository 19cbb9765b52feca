/* SPDX-License-Identifier: MIT */
/* sweep_private.h - helpers shared by the files of the sweep module only.
 *
 * Numbers in configurations, points and expressions are read by one strict
 * parser (sweep__parse_number) so that "is this value a number?" has the same
 * answer everywhere: an optional sign, digits with an optional fraction, an
 * optional exponent, and nothing else (no hex, no inf/nan, no spaces).
 * Doubles are written back by sweep__format_double, the shortest "%.*g" text
 * that reads back as the same double.
 */
#ifndef BANYAN_SWEEP_PRIVATE_H
#define BANYAN_SWEEP_PRIVATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/task.h>

#include "res/res.h"
#include "store/store.h"
#include "sweep.h"
#include "sweep_run.h"
#include "util/log.h"

/* Parse s as a whole decimal number ("16", "-3", "1.0e-5", ".5", "+2").
 * Returns true and *out when s is such a number and finite. */
bool sweep__parse_number(const char *s, double *out);

/* Shortest "%.*g" text of v that strtod reads back as v; into buf (at least
 * 32 bytes are enough).  Returns buf. */
char *sweep__format_double(double v, char *buf, size_t size);

/* Check a resource expression without a point: syntax, and that every
 * {name} is a parameter whose values are numbers (a categorical parameter
 * with a non-numeric value cannot be used in arithmetic).  0, or -1 EINVAL
 * with "column N: ..." in error (N is 1-based inside expr). */
int sweep__expr_check(const sweep_config_t *cfg, const char *expr,
                      bool size_units, banyan_error_t *error);

/* The numeric value of parameter i in point x: the value itself for float
 * and int, the number of the chosen value for categorical ones.  -1 EINVAL
 * (with error text) when the index is out of range or the value is not a
 * number. */
int sweep__param_number(const sweep_config_t *cfg, size_t i, const double *x,
                        double *out, banyan_error_t *error);

/* ------------------------------------------- what both runners share
 *
 * sweep_run.c (the local driver) and sweep_remote.c (a server) differ only
 * in how an experiment is started and how its end is learnt; the records,
 * the hand-out of points, the resource request, the metrics and the lines
 * for the user (util_log) are sweep_common.c's. */

typedef struct sweep__exp {
    double *x;                 /* the point, nparams values */
    sweep_obs_state_t obs;     /* what strategies see */
    double y;                  /* objective, oriented for minimisation */
    int attempt;               /* starts, resumes included */
    bool active;               /* queued or running in this invocation */
} sweep__exp_t;

typedef struct sweep__run {
    const sweep_run_options_t *o;
    const sweep_config_t *cfg;
    struct local *local;       /* the local runner's driver, or NULL */
    store_t *store;
    int64_t sweep_id;
    char results_dir[PATH_MAX];
    char config_dir[PATH_MAX];
    char *command;             /* cfg->command with ./ paths made absolute */

    sweep__exp_t *exps;        /* by iteration */
    size_t nexps, capexps;
    uint64_t max_iterations;
    uint64_t *rerun;           /* iterations to run again (resume) */
    size_t nrerun, caprerun, rerun_pos;
    bool exhausted;            /* the grid or list has no more points */

    uint64_t ok, failed, running, queued;
    uint64_t done_before;      /* finished in earlier invocations */
    bool has_best;
    double best_y;
    size_t best_iter;
    int64_t start_ms;
    bool bar_shown;
    bool stop;                 /* --max-failures reached */
    unsigned errors;
} sweep__run_t;

/* Fill s from o: limits, results and configuration folders, the command.
 * 0, or -1 ENOMEM. */
int sweep__init(sweep__run_t *s, const sweep_run_options_t *o);

/* Find or create the sweep's records in s->store (resume, --restart), then
 * create the results folder and make s->results_dir absolute.  0, or -1
 * with error text. */
int sweep__open(sweep__run_t *s, banyan_error_t *error);

/* Write iteration it's row: row (NULL = none) gives the run's figures
 * (gpus, slot, exit code, signal, times, peak_rss); the rest comes from s
 * and the arguments. */
void sweep__record(sweep__run_t *s, size_t it, const store_experiment_t *row,
                   const char *state, const char *reason,
                   const char *metrics, const double *objective,
                   const char *workdir);

/* One line per finished experiment (util_log), above the progress bar. */
void sweep__report(sweep__run_t *s, size_t it, const char *state,
                   const char *detail);
void sweep__clear_bar(sweep__run_t *s);
void sweep__progress(sweep__run_t *s, int64_t now_ms);

/* Count a failure.  True when --max-failures has just been reached (the
 * message is printed and s->stop set): the caller starts no more. */
bool sweep__count_failure(sweep__run_t *s);

/* The resources of point x.  0, or -1 with the reason in why. */
int sweep__request(const sweep__run_t *s, const double *x,
                   res_request_t *req, banyan_error_t *why);

/* Record iteration it as infeasible for why; true as sweep__count_failure. */
bool sweep__infeasible(sweep__run_t *s, size_t it, const char *why);

/* The next iteration to hand out: a rerun first, else a new point.  -1
 * when none is left (s->exhausted, max_iterations) or on error. */
long sweep__next(sweep__run_t *s);

/* More to hand out after the ones handed out so far? */
bool sweep__more(const sweep__run_t *s);

/* The experiment's environment: BANYAN_PARAM_<NAME>, BANYAN_METRICS
 * (workdir/metrics.json), BANYAN_EXPERIMENT, BANYAN_SWEEP, BANYAN_SWEEP_DIR
 * (the engine adds its own, engine.h).  NULL-terminated, *n entries; NULL on ENOMEM.  Free
 * with sweep__env_free(). */
char **sweep__env(const sweep__run_t *s, size_t it, const char *workdir,
                  size_t *n);
void sweep__env_free(char **env);

/* Iteration it ended as end says (the engine's classification).  ok: its
 * metrics are read from workdir/metrics.json, else from stdout_tail (and
 * it failed if there are none); otherwise end's state and reason say how
 * it failed.  interrupted: recorded as such, not counted, rerun by the
 * next invocation.  row as in sweep__record.  Flushes the store and
 * reports.  True as sweep__count_failure. */
bool sweep__finish(sweep__run_t *s, size_t it, const banyan_task_end_t *end,
                   const char *stdout_tail, const store_experiment_t *row,
                   const char *workdir);

/* Mark the sweep interrupted (sig), stopped or done, print the summary and
 * return the exit code (error text for 3).  internal: the runner had
 * errors of its own. */
int sweep__end(sweep__run_t *s, int sig, bool internal,
               banyan_error_t *error);

/* Free what sweep__init and the run allocated (not the store). */
void sweep__fini(sweep__run_t *s);

#endif /* BANYAN_SWEEP_PRIVATE_H */
