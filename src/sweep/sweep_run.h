/* SPDX-License-Identifier: MIT */
/* sweep_run.h - running a sweep in local mode on the local driver. */
#ifndef BANYAN_SWEEP_RUN_H
#define BANYAN_SWEEP_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include <banyan/client.h>

#include "engine/engine.h"
#include "sweep/sweep.h"

typedef struct sweep_run_options {
    const sweep_config_t *cfg;   /* borrowed */
    const char *db_path;         /* the store; its folder must exist */
    const char *results_dir;     /* experiments' folders; NULL =
                                    .banyan/sweeps/<name> */
    uint32_t max_failures;       /* stop after this many; 0 = never */
    bool restart;                /* discard an existing sweep's records */
    bool progress;               /* a progress line on stderr (a tty) */
    engine_options_t host;       /* this host (engine.h): its slots are
                                    max_parallel_experiments, a NULL group
                                    the sweep's name */
    bool requeue_on_signal;      /* requeue an experiment killed by a
                                    signal banyan did not send */
    uint32_t requeue_max;        /* requeues per experiment; 0 = 3 */
} sweep_run_options_t;

/* Run (or resume) the sweep.  Each experiment runs once, in its own folder
 * results_dir/<n>/, with its parameters substituted into the command and
 * exported as BANYAN_PARAM_<NAME>, BANYAN_METRICS pointing at
 * results_dir/<n>/metrics.json, and its own GPUs.  Returns the exit code: 0
 * every experiment succeeded, 1 some failed, 2 refused (a changed space
 * without restart, an unusable database), 3 internal, 128+N interrupted by
 * signal N.  error receives the sentence for 2 and 3. */
int sweep_run(const sweep_run_options_t *o, banyan_error_t *error);

/* The same on a banyan server at endpoint (NULL = the default), with copts
 * (keys, request deadline; NULL = none): the records stay in o->db_path,
 * each experiment is a one-task job named "sweep:<name>:<n>" whose worker
 * runs it in results_dir/<n> (an absolute path: with --server the workers
 * must see that folder, else experiments report their metrics on stdout).
 * At most max_parallel_experiments jobs are unfinished at once.  Only
 * cfg, db_path, results_dir, max_failures, restart and progress of o are
 * used.  Exit codes as sweep_run; 3 also when the server cannot be
 * reached. */
int sweep_run_remote(const sweep_run_options_t *o, const char *endpoint,
                     const banyan_client_options_t *copts,
                     banyan_error_t *error);

#endif /* BANYAN_SWEEP_RUN_H */
