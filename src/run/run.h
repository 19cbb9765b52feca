/* SPDX-License-Identifier: MIT */
/* run.h - local mode: the scheduler core, one engine and the store in one
 * process, driving real processes on one libuv loop.
 *
 * This is what `banyan run` executes.  The core decides, the executor spawns,
 * the store records every start and end (grouped transactions), and output
 * is written grouped per task.  No sockets are involved: local mode calls
 * the same sched core that a server drives over the network.
 */
#ifndef BANYAN_RUN_H
#define BANYAN_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include <banyan/error.h>

#include "engine/engine.h"
#include "res/res.h"
#include "run_pipe.h"
#include "tmpl/tmpl.h"

typedef enum run_resume {
    RUN_RESUME_NONE = 0,  /* a new run */
    RUN_RESUME = 1,       /* skip tasks of the last identical run that ended */
    RUN_RESUME_FAILED = 2 /* ... and also rerun the ones that failed */
} run_resume_t;

typedef enum run_halt {
    RUN_HALT_NEVER = 0,
    RUN_HALT_SOON = 1,    /* after N failures start nothing new */
    RUN_HALT_NOW = 2,     /* after N failures kill the running tasks too */
} run_halt_t;

typedef struct run_options {
    const tmpl_t *tmpl;          /* borrowed */
    const tmpl_inputs_t *inputs; /* borrowed */
    const char *command_text;    /* the template words joined, for records */
    const char *db_path;         /* SQLite file; its folder must exist */
    uint32_t jobs;               /* concurrent tasks (-j) */
    res_request_t req;           /* per task (slots is set to 1) */
    int64_t timeout_ms;          /* per task, 0 = none */
    uint32_t retries;            /* extra attempts after a failure */
    run_resume_t resume;
    run_halt_t halt;
    uint32_t halt_fail;          /* failures that trigger the halt */
    const char *joblog_path;     /* GNU Parallel joblog, NULL = none */
    const char *results_dir;     /* per-task output files, NULL = none */
    bool keep_order;             /* print output in input order */
    bool tag;                    /* prefix output lines with the values */
    bool dry_run;                /* print the commands, run nothing */
    bool progress;               /* progress bar / ETA on stderr */

    /* This host (engine.h, docs/resources.md): its slots are -j; a NULL
     * group means the command's. */
    engine_options_t host;
    bool requeue_on_signal;      /* requeue tasks killed by a signal they
                                    did not ask for */
    uint32_t requeue_max;        /* requeues per task, 0 = default (3) */
    bool no_score;               /* skip the capability benchmark */
    const run_pipe_options_t *pipe; /* --pipe family (run_pipe.h); NULL or
                                       none on = off */
} run_options_t;

/* Run every task of opts.  Returns the exit code of the run: 0 all
 * succeeded, 1 some failed, 2 refused (bad input, a task that can never fit,
 * an unusable database), 3 internal error, 128+N when interrupted by signal
 * N.  error receives the sentence for codes 2 and 3. */
int run_local(const run_options_t *opts, banyan_error_t *error);

#endif /* BANYAN_RUN_H */
