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

/* --- output: GNU Parallel's output modes, --results forms, --halt --- */
typedef enum run_out_mode {
    RUN_OUT_GROUP = 0,    /* a task's output whole when it ends (--group) */
    RUN_OUT_UNGROUP,      /* -u: the task writes to banyan's stdout/stderr */
    RUN_OUT_LINE,         /* --line-buffer: whole lines as they come */
    RUN_OUT_FILES,        /* --files: print the name of a file holding it */
} run_out_mode_t;

typedef enum run_results_fmt {
    RUN_RESULTS_DIR = 0,  /* DIR/1/<val>/2/<val>/{seq,stdout,stderr} */
    RUN_RESULTS_CSV,      /* one CSV table (DIR.csv), or on stdout (-.csv) */
    RUN_RESULTS_TSV,
    RUN_RESULTS_JSON,     /* one JSON object per line */
} run_results_fmt_t;

typedef enum run_halt_on {
    RUN_HALT_ON_FAIL = 0, /* count failed tasks */
    RUN_HALT_ON_SUCCESS,  /* count tasks that succeeded */
    RUN_HALT_ON_DONE,     /* count every task that ended */
} run_halt_on_t;

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
    uint32_t halt_fail;          /* tasks (halt_on) that trigger the halt;
                                    a percentage of all tasks with
                                    halt_pct */
    const char *joblog_path;     /* GNU Parallel joblog, NULL = none; "-"
                                    is stdout */
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

    /* --- output: GNU Parallel's output, joblog, halt and resume --- */
    run_out_mode_t out_mode;
    run_results_fmt_t results_fmt; /* what results_dir names */
    run_halt_on_t halt_on;
    bool halt_pct;               /* halt_fail is a percentage */
    bool joblog_append;          /* --joblog +FILE */
    bool retries_set;            /* --retries given: retries is then the
                                    attempts in total, 0 = no limit */
    bool retry_failed;           /* --retry-failed: the joblog's failed
                                    commands are the tasks */
    const tmpl_t *tagstring;     /* --tagstring (--tag: "{}") as a text
                                    template (tmpl_parse_text); NULL = no
                                    tag.  Borrowed */
    const tmpl_t *results_name;  /* --results as a text template, NULL =
                                    none.  Borrowed */
    const char *const *source_names; /* --header: the name of each input
                                    source (--results folders and table
                                    columns); NULL = 1, 2, ... and V1,
                                    V2, ... */
    bool verbose_out;            /* -v: each command line before its
                                    stdout */
    bool verbose_err;            /* -t, --verbose: each command line on
                                    stderr as it starts */
    bool color;                  /* --color, --ctag: a colour per task */
    bool color_failed;           /* --color-failed: failed tasks in red */
    uint64_t total_jobs;         /* --total-jobs: what {##} and perl's
                                    total_jobs() say; 0 = the count */
    const run_pipe_options_t *pipe; /* --pipe family (run_pipe.h); NULL or
                                       none on = off */
} run_options_t;

/* Exit codes of a run, GNU Parallel's: 0 all succeeded, 1-100 that many
 * failed, 101 more than 100; under --halt the status of the task that
 * halted it (or a percentage); RUN_EXIT_ERROR when the run could not be
 * done; 128+N when interrupted by signal N. */
enum { RUN_EXIT_MANY = 101, RUN_EXIT_ERROR = 255 };

/* Run every task of opts.  Returns the exit code of the run (above).
 * error receives the sentence for RUN_EXIT_ERROR. */
int run_local(const run_options_t *opts, banyan_error_t *error);

/* What --results NAME is: a folder, or a table by its suffix (.csv, .tsv,
 * .json). */
run_results_fmt_t run_results_fmt(const char *name);

/* Whether --results names a folder that replacement strings leave as it
 * is (GNU: then DIR/1/<value>/...). */
bool run_results_plain(const run_options_t *o);

#endif /* BANYAN_RUN_H */
