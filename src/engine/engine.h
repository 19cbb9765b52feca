/* SPDX-License-Identifier: MIT */
/* engine.h - the engine: what happens between "the scheduler says run task
 * T with allocation A" and "task T ended like this", the same in local mode
 * (`banyan run`, `banyan sweep`) and on a cluster worker.
 *
 * Two things are defined here once for every mode:
 *
 * - The task environment (engine_env_build): the job's own entries first,
 *   then the engine's, which win.  Each variable has one meaning
 *   (docs/environment.md):
 *     BANYAN_TASK_ID   the task's number within its job, from 1 (GNU
 *                      Parallel's {#}); the same in every mode
 *     BANYAN_JOB_ID    the job: the run's id in `banyan run`, the sweep's
 *                      id in `banyan sweep`, the job id `banyan submit`
 *                      printed on a server
 *     BANYAN_SLOT      the slot it holds, from 1 (GNU Parallel's {%})
 *     BANYAN_WORKER    the worker's --name (cluster mode only)
 *     BANYAN_BLOB_<i>  the files of the job's blobs (cluster mode only)
 *     CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER, ROCR/HIP_VISIBLE_DEVICES,
 *     BANYAN_GPUS_ASSIGNED  on a host with GPUs: the task's own, maybe none
 *
 * - The task-end classifier (engine_end_classify): an exec result and what
 *   the engine itself did to the task become one banyan_task_end_t (state,
 *   reason, flags, figures).  Nothing downstream classifies again: the wire
 *   carries the record, the store keeps it, the scheduler core maps it to
 *   its retry rule with sched_outcome_of().
 */
#ifndef BANYAN_ENGINE_H
#define BANYAN_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include <banyan/error.h>
#include <banyan/task.h>

#include "est/est.h"
#include "exec/exec.h"
#include "gpu/gpu.h"

/* ------------------------------------------------------- classification */

/* What the engine knows of a task besides its exec result. */
typedef struct engine_end_ctx {
    int64_t timeout_ms;        /* the limit it ran under (for the reason) */
    bool interrupted;          /* the engine stopped it (cancel, shutdown)
                                  even if exec did not say so */
    bool mem_critical;         /* the engine killed it for critical host
                                  memory */
    const char *why;           /* with mem_critical: the engine's sentence
                                  ("host memory critical: ..."), or NULL */
} engine_end_ctx_t;

/* Classify res into *end, in this order: interrupted; could not start
 * (failed, "could not start: cmd: command not found"); timed out ("timed
 * out after 2.000 s", or "timed out" when ctx gives no limit); over the
 * memory limit (killed, "memory limit 1G exceeded: peak 1.2G"); killed
 * for critical memory (killed, ctx->why); any other signal (killed,
 * "killed by signal 9 (Killed)"); exit 0 (ok, no reason); else failed
 * ("exit status 3").  ctx may be NULL. */
void engine_end_classify(const exec_result_t *res, const engine_end_ctx_t *ctx,
                         banyan_task_end_t *end);

/* A task that never ran: could not be prepared or spawned for why (one
 * line, e.g. "cannot expand task 3 of job 7: ..."); failed, final. */
void engine_end_spawn_failed(banyan_task_end_t *end, double now,
                             const char *why);

/* A task stopped by banyan before or without a process end to classify
 * (a cancelled task that had not started, a relay's lost child): the
 * record an interrupted task has. */
void engine_end_interrupted(banyan_task_end_t *end, double now);

/* Append text to end->reason ("; " between), truncating. */
void engine_end_note(banyan_task_end_t *end, const char *text);

/* ---------------------------------------------------------- environment */

enum {
    ENGINE_ENV_OWN = 4 + GPU_ENV_MAX, /* TASK_ID, JOB_ID, SLOT, WORKER, GPUs */
};

/* What the environment is made of.  Everything is borrowed for the call,
 * except job_env and extra, which the built env points into. */
typedef struct engine_env_in {
    uint64_t job_id;           /* BANYAN_JOB_ID */
    uint64_t task_number;      /* BANYAN_TASK_ID, from 1 */
    uint32_t slot;             /* BANYAN_SLOT */
    const char *worker_name;   /* BANYAN_WORKER, or NULL */
    bool host_has_gpus;        /* set the GPU variables (maybe to none) */
    const int *gpu_index;      /* the task's GPU device indices */
    int ngpus;
    const char *const *job_env; /* the job's "K=V" entries, NULL-ended, or
                                   NULL; must outlive the built env */
    size_t njob_env;           /* entries of job_env to use (all: SIZE_MAX) */
    const char *const *extra;  /* more engine entries that win over the
                                  job's ("BANYAN_BLOB_0=..."), NULL-ended
                                  or NULL; must outlive the built env */
} engine_env_in_t;

/* A built environment: env (NULL-ended) is what exec_spec_t.env takes. */
typedef struct engine_env {
    const char **env;
    char *own[ENGINE_ENV_OWN + 1]; /* the engine's entries, malloc'd */
} engine_env_t;

/* Build e from in.  0, or -1 with ENOMEM (e is then empty).  Release
 * with engine_env_fini(). */
int engine_env_build(engine_env_t *e, const engine_env_in_t *in);

/* Free what e holds (NULL-safe, idempotent). */
void engine_env_fini(engine_env_t *e);

/* -------------------------------------------------------------- groups */

/* The estimate group of a command whose text (util_command_text) is
 * command: the text itself when it is a valid name (est.h), else "cmd:"
 * and a hash of it.  The same in local mode and on a worker, so a
 * command learns under one name. */
void engine_group_name(const char *command, char *buf, size_t size);

/* ---------------------------------------------------------- the engine */

typedef struct engine engine_t;

/* What to do with the youngest task when MemAvailable falls below
 * mem_critical_bytes. */
typedef enum engine_critical {
    ENGINE_CRITICAL_SUSPEND = 0, /* SIGSTOP now, SIGCONT later */
    ENGINE_CRITICAL_KILL = 1,    /* SIGKILL; the caller requeues it */
} engine_critical_t;

/* Default estimate of a group with fewer than EST_MIN_SAMPLES samples. */
#define ENGINE_MEM_DEFAULT_BYTES (UINT64_C(256) << 20)

/* The host-level options, the same for `banyan run`, `banyan sweep` and
 * `banyan worker` (docs/resources.md). */
typedef struct engine_options {
    uint32_t slots;             /* tasks at once */
    uint64_t mem_bytes;         /* memory tasks may be charged; 0 =
                                   MemTotal */
    uint64_t mem_reserve_bytes; /* nothing starts while MemAvailable is
                                   below this; 0 = no floor */
    uint64_t mem_limit_bytes;   /* hard limit of each task's tree; 0 none */
    uint64_t mem_critical_bytes;/* MemAvailable below this suspends or
                                   kills the youngest task; 0 = off */
    engine_critical_t on_critical;
    uint64_t mem_default_bytes; /* a group's estimate before
                                   EST_MIN_SAMPLES samples; 0 =
                                   ENGINE_MEM_DEFAULT_BYTES */
    bool mem_no_multiplex;      /* charge tasks without --mem their
                                   estimate until they end */
    bool learn;                 /* learn estimates of tasks' groups */
    const char *group;          /* the group of tasks that name none; NULL
                                   none (copied) */
    bool share;                 /* host-wide fair sharing of cores */
    const char *share_path;     /* NULL: share_default_path() (copied) */
    uint32_t share_cpus;        /* cores to divide; 0 = online CPUs */
    int64_t kill_grace_ms;      /* SIGTERM -> SIGKILL; 0 = 2000 */
    exec_termseq_t termseq;     /* every stop's signals instead (GNU
                                   Parallel's --termseq); n 0: none */

    /* ---- GNU Parallel's execution control: applied by the local driver
     * (src/local, `banyan run`), ignored by workers. */
    bool mem_no_estimate;       /* do not admit tasks without a request
                                   against the learnt estimate (it is still
                                   learnt): concurrency is the slots */
    int64_t delay_ms;           /* least time between two starts; 0 none */
    bool nice_set;              /* run the tasks at niceness nice */
    int nice;
    const char *wd;             /* tasks' working directory (created);
                                   "..." a fresh one per task under
                                   ~/.parallel/tmp, removed after; NULL
                                   inherit */
    uint32_t load_milli;        /* start only while fewer processes are
                                   running (R/D state), milli; 0 none */
    bool noswap;                /* start nothing while the host swaps in
                                   and out */
    const char *limit_cmd;      /* --limit: asked before each start (exit
                                   0 start, 1 not now, 2 kill the youngest) */
    const char *jobs_file;      /* -j FILE: slots re-read at each start */
    const char *slot_var;       /* --process-slot-var: this variable holds
                                   the slot - 1; NULL none */
    uint32_t timeout_pct_milli; /* --timeout N%: of the median run time of
                                   succeeded tasks, milli-percent; 0 none */
} engine_options_t;

/* One task the engine runs.  The caller embeds it in its own task record
 * and keeps it until ops->done has returned.  Fields above the line are
 * the caller's to set before engine_start(); the rest are the engine's. */
typedef struct engine_task {
    uint32_t job_id;
    uint64_t index;
    uint64_t mem_bytes;        /* its memory request; 0 = none: it is
                                  charged its group's estimate */
    const char *group;         /* estimate group (borrowed, must outlive
                                  the task); NULL = the engine's */
    /* ---- */
    bool auto_mem;             /* charged the estimate */
    uint64_t charge;           /* what it is charged */
    bool running;
    bool suspended;            /* SIGSTOPped for critical memory */
    bool critical_killed;      /* killed for critical memory */
    bool interrupting;         /* engine_task_stop() asked for its end */
    uint64_t settled_peak;     /* its peak when it first looked settled */
    uint64_t mux_slack;        /* charge given back while settled */
    int64_t timeout_ms;
    char why[160];             /* the engine's sentence for an end it
                                  caused ("host memory critical: ...") */
    engine_env_t env;
    struct engine_task *prev, *next;
} engine_task_t;

typedef struct engine_ops {
    /* t ended as end says; res gives its captured output.  unasked: it
     * was killed by a signal nobody in banyan sent (the OOM killer, a
     * user): the caller may requeue it.  t is the caller's again. */
    void (*done)(engine_t *e, engine_task_t *t, const exec_result_t *res,
                 const banyan_task_end_t *end, bool unasked, void *arg);
    /* A group's estimate changed (est_table_get gives it).  May be NULL. */
    void (*learnt)(engine_t *e, const char *group, void *arg);
    /* The memory tasks may be charged changed (multiplexing gives back
     * the slack of settled tasks).  May be NULL. */
    void (*capacity)(engine_t *e, uint64_t mem_bytes, void *arg);
    /* One line for a person ("memory critical: suspending task 3").  May
     * be NULL. */
    void (*log)(engine_t *e, const char *line, void *arg);
} engine_ops_t;

/* Why the gate is shut. */
typedef enum engine_wait {
    ENGINE_GO = -1,            /* open */
    ENGINE_WAIT_SLOTS = 0,     /* all slots run */
    ENGINE_WAIT_SHARE,         /* fair sharing allows fewer now */
    ENGINE_WAIT_RESERVE,       /* MemAvailable below the reserve */
    ENGINE_WAIT_SUSPENDED,     /* a task is suspended for critical memory */
    ENGINE_WAIT_MEM,           /* its charge does not fit the memory left */
} engine_wait_t;

typedef struct engine_stats {
    uint64_t tasks;            /* ended */
    uint64_t limit_kills;      /* killed for mem_limit_bytes */
    uint64_t suspends;
    uint64_t critical_kills;
    double cpu_s;              /* CPU time of the ended tasks */
} engine_stats_t;

/* An engine on the caller's loop: the executor, the memory watch, the
 * estimates and (with o->share) the host's share file.  A housekeeping
 * timer on loop re-reads MemAvailable, acts on critical memory, runs
 * multiplexing and updates the share.  NULL with errno and error text.
 * Caller must destroy with engine_destroy() once nothing runs. */
engine_t *engine_create(uv_loop_t *loop, const engine_options_t *o,
                        const engine_ops_t *ops, void *arg,
                        banyan_error_t *error);

/* Close the engine's handles (run the loop once more to finish) and
 * leave the share file.  Tasks still running are killed (SIGKILL to their
 * whole process trees, exec_destroy) without a done callback.  Idempotent,
 * NULL-safe. */
void engine_close(engine_t *e);

/* Close e if still open and free it, at once or when the loop has run
 * the close callbacks.  NULL-safe. */
void engine_destroy(engine_t *e);

/* The host's gate: whether a task may start now (no task suspended for
 * critical memory, MemAvailable above the reserve, fewer running than the
 * slots fair sharing allows), else why not. */
engine_wait_t engine_gate(engine_t *e);

/* Memory admission: whether a task charged mem_bytes (0: its group's
 * estimate) fits the memory left, else ENGINE_WAIT_MEM.  A task always
 * fits when nothing runs.  A root that places memory itself against the
 * engine's estimates (local mode's core) does not ask. */
engine_wait_t engine_fits(engine_t *e, uint64_t mem_bytes, const char *group);

/* Spawn t (its fields above the line set): spec's argv, cwd, stdin and
 * timeout are the caller's; env_in gives the environment (engine_env_*),
 * the engine adds the memory limit and kill grace.  0, or -1 with error
 * text (t is then not running and ops->done is not called). */
int engine_start(engine_t *e, engine_task_t *t, exec_spec_t *spec,
                 const engine_env_in_t *env_in, banyan_error_t *error);

/* Stop t: SIGTERM (and SIGCONT) to its whole process tree, SIGKILL after
 * the kill grace, repeated until no process of it is left (exec_stop); it
 * ends interrupted.  The one stop of local runs and workers alike. */
void engine_task_stop(engine_t *e, engine_task_t *t);

/* Time t out now, as if its timeout had passed (GNU Parallel's
 * --timeout N%, which moves with the median run time). */
void engine_task_timeout(engine_t *e, engine_task_t *t);

/* Change the slots (-j FILE read again).  n >= 1. */
void engine_set_slots(engine_t *e, uint32_t n);

/* Send sig to t's process tree (exec_signal).  0 or -1 with errno. */
int engine_task_signal(engine_t *e, engine_task_t *t, int sig);

/* Interrupt every running task: SIGTERM, SIGKILL after grace_ms (0:
 * SIGKILL now; negative: the engine's kill grace). */
void engine_interrupt(engine_t *e, int64_t grace_ms);

enum {
    ENGINE_MUX_EVERY_MS = 20,  /* multiplexing pass from engine_poll */
    ENGINE_SHARE_EVERY_MS = 500, /* share file updates */
};

/* Before asking the gate: re-read MemAvailable if stale, give settled
 * tasks' memory back, update the share if what is wanted changed. */
void engine_poll(engine_t *e, int64_t now_ms);

/* MemAvailable as last read; false while unknown. */
bool engine_mem_available(const engine_t *e, uint64_t *bytes);

/* Tell fair sharing how many tasks the caller could run now (running +
 * ready to start) and what each asks (milli-cpus; 0 = learn from the
 * tasks' CPU time). */
void engine_want(engine_t *e, uint32_t tasks, uint32_t mcpu_each);


/* Concurrency allowed now: slots, or less while fair sharing says so. */
uint32_t engine_allowed(const engine_t *e);

/* The admission figure of group (NULL: the engine's) now: its estimate
 * capped at the memory tasks may be charged; 0 when not learning. */
uint64_t engine_estimate(const engine_t *e, const char *group);

/* The estimate table (to restore rows into, or read).  Borrowed; NULL
 * when not learning. */
est_table_t *engine_estimates(engine_t *e);


/* The counters so far. */
void engine_get_stats(const engine_t *e, engine_stats_t *st);

#endif /* BANYAN_ENGINE_H */
