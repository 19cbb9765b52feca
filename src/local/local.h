/* SPDX-License-Identifier: MIT */
/* local.h - the local driver: the root (the scheduler core and the store)
 * and one engine (src/engine: this host's resources and the executor), on
 * one libuv loop, with direct calls.
 *
 * This is local mode (DESIGN.md section 2) for every front end: `banyan run`
 * and `banyan sweep` add jobs and say how a started task is prepared and
 * what happens when it ends; the driver does the rest.  After every loop
 * iteration it pumps: asks the engine's gate (critical memory, the reserve,
 * fair sharing), then the core for START actions, calls the client's
 * prepare for each and starts it through the engine.  When a process ends
 * the engine classifies it once (banyan_task_end_t); the driver tells the
 * core (which releases the allocation or requeues for a retry, by the one
 * retry rule sched_outcome_of) and calls the client's done.  A
 * housekeeping timer commits the store when the run is quiet.  SIGINT,
 * SIGTERM and SIGHUP stop new starts and terminate every running process
 * group; the tasks end interrupted.
 *
 * I/O errors (docs/full-disk.md).  The first write of the store that fails
 * for the file's sake (store_write_failure: a full disk, an I/O error),
 * whoever made it (the driver or the client's prepare and done), stops new
 * starts at once and is reported once, here, naming the database; the
 * running tasks are let end and their ends written if the store takes
 * them; it counts as an internal error.  A task whose captured output lost
 * bytes (a spill file in a full TMPDIR) ends failed, whatever its exit
 * status, with a reason that says so (engine_end_classify, for workers
 * too: BANYAN_END_OUTPUT_CUT; t->output_lost is set), before the core's
 * retry rule sees it.
 *
 * The run ends when nothing is pending or running and the client's more()
 * says nothing else will come, or, once stopping, when nothing runs.
 *
 * Resources (docs/resources.md).  With a group set, jobs added without a
 * memory request are admitted by the core against the group's learnt
 * estimate (the engine's): the driver sets the job's request to it
 * (sched_job_set_mem) and updates it whenever the engine learns.  The
 * group's row is restored from the store at start and every change is
 * written back.  The engine's multiplexing gives memory back through the
 * pool's capacity.  Requeues of tasks killed by a signal nobody asked for
 * (requeue_on_signal) or for critical memory are the driver's, since they
 * are scheduling decisions.  The driver also keeps timing statistics
 * (queue waits, busy and idle slot-time, what the pump waited for) and
 * writes them to the store's usage and waits tables for the (kind, id)
 * given to local_usage_open(), adding to the figures of earlier sessions,
 * so they survive kill -9 and --resume.
 */
#ifndef BANYAN_LOCAL_H
#define BANYAN_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

#include <banyan/error.h>

#include "engine/engine.h"
#include "exec/exec.h"
#include "gpu/gpu.h"
#include "res/res.h"
#include "sched/sched.h"
#include "store/store.h"

typedef struct local local_t;

/* One started task.  Owned by the driver from START to the end of done. */
typedef struct local_task {
    uint32_t job_id;
    uint64_t index;
    uint32_t attempt;          /* 1 for the first run */
    res_alloc_t alloc;
    int ngpus;
    int gpu_index[RES_MAX_GPUS]; /* device indices of alloc's GPUs */
    char gpus[128];            /* the same as "0,2", "" if none */
    double start_time;         /* wall clock */
    double queued_time;        /* wall clock when it last became pending */
    uint32_t requeues;         /* times the driver requeued it (signal,
                                  critical memory) */
    uint64_t env_job_id;       /* BANYAN_JOB_ID and BANYAN_TASK_ID (engine.h):
                                  job_id and index + 1 unless prepare sets
                                  others (the run's or sweep's id) */
    uint64_t env_task_number;
    bool output_lost;          /* bytes of its captured output could not be
                                  kept (a spill file in a full TMPDIR): its
                                  end is an error that says so */
    void *user;                /* the client's, set in prepare */
} local_task_t;

typedef struct local_ops {
    /* Fill spec (argv, env, cwd, stdin, timeout) for t.  The driver adds
     * the engine's variables (engine.h: BANYAN_TASK_ID, BANYAN_JOB_ID,
     * BANYAN_SLOT and, on hosts with GPUs, the GPU variables) to spec->env.
     * Anything the spec points to must live until done (keep it in
     * t->user).  0, or -1 with error text: the task then fails without
     * running and done is called with a spawn_failed result; or 1: the
     * client skips it (GNU's skip()), it fails without running (exit
     * status -2, reason "skipped") and is not retried. */
    int (*prepare)(local_t *l, local_task_t *t, exec_spec_t *spec,
                   banyan_error_t *error, void *arg);
    /* t ended as end says (classified once by the engine; the driver's
     * requeue notes added to its reason); res gives the captured output.
     * requeued: the core will run it again (a retry).  Free t->user
     * here. */
    void (*done)(local_t *l, local_task_t *t, const exec_result_t *res,
                 const banyan_task_end_t *end, bool requeued, void *arg);
    /* A job can never run on this engine (only when added with
     * local_job_add(..., check = false)). May be NULL. */
    void (*infeasible)(local_t *l, uint32_t job_id, const char *reason,
                       void *arg);
    /* Called once per pump, before the core is asked: the place to add
     * jobs.  Returns true while more jobs may still come. May be NULL. */
    bool (*refill)(local_t *l, void *arg);
    /* Called every progress interval when progress is on. May be NULL. */
    void (*progress)(local_t *l, int64_t now_ms, void *arg);
} local_ops_t;

enum {
    LOCAL_REQUEUE_MAX = 3,      /* default requeues per task */
};

typedef struct local_options {
    const char *db_path;        /* the store; its folder must exist */
    /* This host (engine.h): slots, memory (estimates of the group, the
     * reserve, limit and critical levels, multiplexing), fair sharing,
     * the kill grace.  engine.slots is the run's -j; engine.learn is set
     * from engine.group (NULL: no learning, jobs without a request are
     * admitted by the reserve rule alone). */
    engine_options_t engine;
    int ncustom;                /* custom resources of this engine */
    res_custom_t custom[RES_MAX_CUSTOM];
    bool progress;              /* call ops->progress periodically */
    bool requeue_on_signal;     /* requeue tasks killed by a signal they
                                   did not ask for, estimate bumped */
    uint32_t requeue_max;       /* requeues per task; 0 = LOCAL_REQUEUE_MAX */
    int64_t score_budget_ms;    /* capability benchmark at start; 0 = skip */
} local_options_t;

/* Discover this host (cpus, memory, GPUs through gpu_discover), open the
 * store and set up the driver's handles and its engine on loop (the
 * caller's, as libuv does; it should hold nothing else that keeps it
 * running, since local_run() runs it until the work is done).  NULL with
 * errno and error text: EINVAL for a bad BANYAN_GPUS, and the store's
 * errors for the database.  Caller must destroy with local_destroy(). */
local_t *local_create(uv_loop_t *loop, const local_options_t *opts,
                      const local_ops_t *ops, void *arg,
                      banyan_error_t *error);

/* Close the store and the handles; l is freed once the caller has run
 * loop again (uv_run(loop, UV_RUN_DEFAULT)) for the close callbacks.
 * Accepts NULL. */
void local_destroy(local_t *l);

/* The store, the core and this engine's pool.  Borrowed; valid until
 * local_destroy(). */
store_t *local_store(local_t *l);
sched_t *local_sched(local_t *l);
res_pool_t *local_pool(local_t *l);

/* Add a job.  With check, a request that can never fit this engine fails
 * with ENOSPC and the shortfall in error; without, the core reports it
 * later through ops->infeasible.  -1 with errno. */
int local_job_add(local_t *l, const sched_job_t *job, bool check,
                  banyan_error_t *error);

/* Run the loop until the work is done or stopped.  Returns 0, or the number
 * of the signal that interrupted the run. */
int local_run(local_t *l);

/* Start nothing new; with kill, also terminate the running tasks. */
void local_stop(local_t *l, bool kill);
bool local_is_stopping(const local_t *l);

/* Forget a job that has nothing pending or running (sched_job_remove).
 * -1 EBUSY / ENOENT. */
int local_job_remove(local_t *l, uint32_t job_id);

/* Name the usage row this driver adds its statistics to: kind "run" or
 * "sweep" and the row's id.  Earlier sessions' figures are read back and
 * added to; the row is written about every 500 ms and when
 * the run ends.  0 or -1 with error text. */
int local_usage_open(local_t *l, const char *kind, int64_t ref_id,
                     banyan_error_t *error);

/* The figures so far (earlier sessions included).  u's strings are
 * borrowed from l. */
void local_usage(const local_t *l, store_usage_t *u);

/* The admission figure of the group now (0 when there is no group). */
uint64_t local_estimate(const local_t *l);

/* Tasks running now. */
uint64_t local_running(const local_t *l);

/* Failures of the driver itself (could not record, could not spawn; a
 * store that could not be written counts once). */
unsigned local_internal_errors(const local_t *l);

/* GNU Parallel's -j syntax (also --load's): N, +N and -N (cores plus or
 * minus N), N% (of the cores, N may be fractional), in milli-jobs; 0 for
 * "0" (as many as possible).  Trailing white space is ignored (a file's
 * newline).  0 or -1 when s is none of these. */
int local_jobs_parse(const char *s, uint64_t *milli);

/* The slot count of milli-jobs: rounded up, at least 1 (GNU's rule). */
uint32_t local_jobs_from_milli(uint64_t milli);

#endif /* BANYAN_LOCAL_H */
