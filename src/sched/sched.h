/* SPDX-License-Identifier: MIT */
/* sched.h - the scheduler core: a sans-I/O state machine.
 *
 * The core knows jobs, their pending task indices, engines with their
 * resource pools, and the tasks running on them.  It is fed events (a job
 * and its tasks were submitted, an engine joined or was lost, a task ended)
 * and, when asked with sched_step(), returns actions (start this task on
 * that engine with this allocation; this job can never run).  It never reads
 * a clock, a socket or a file: the caller passes the time in.  Local mode
 * drives it with direct calls; cluster mode and the simulator do the same.
 *
 * Queue order: higher priority first, then lower job id (submission order),
 * then, within a job, requeued tasks first and then ascending task index.
 * All tasks of one job share one resource request, so a job is blocked or
 * not as a whole and the queue is scanned per job, not per task.  When the
 * head job is blocked, later jobs may backfill around it.  Once the head has
 * been blocked for starve_after_ms, or bypassed by starve_after_bypass
 * backfilled tasks, it gets a hold on one engine (see res.h) so that nothing
 * smaller takes what it waits for: its wait is bounded by the running tasks
 * on that engine.  There is one hold at a time; it follows the head (it is
 * released when another job becomes the blocked head, when the held job
 * starts a task anywhere, has nothing pending, or its engine goes away).
 * docs/scheduling.md describes the rules for users.
 *
 * Memory: pending tasks are stored as index ranges, so a job of a million
 * tasks costs a few words until its tasks start; running tasks cost one
 * entry each.
 */
#ifndef BANYAN_SCHED_H
#define BANYAN_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/task.h>

#include "res/res.h"

typedef struct sched sched_t;

typedef struct sched_config {
    int64_t starve_after_ms;       /* blocked head gets a hold after this */
    uint32_t starve_after_bypass;  /* ... or after this many backfills */
} sched_config_t;

/* Defaults: 1000 ms, 64 backfilled tasks. */
void sched_config_default(sched_config_t *cfg);

/* Create a core.  cfg may be NULL for defaults.  Caller must destroy with
 * sched_destroy(). NULL with ENOMEM. */
sched_t *sched_create(const sched_config_t *cfg);
void sched_destroy(sched_t *s);

/* ----------------------------------------------------------------- engines */

/* Add an engine.  Takes ownership of pool, also on failure.  -1 with EEXIST
 * if the id is in use, ENOMEM. */
int sched_engine_add(sched_t *s, uint32_t engine_id, res_pool_t *pool);

/* The engine's pool, to report host memory or GPU load.  Borrowed; valid
 * until the engine is removed.  NULL with ENOENT. */
res_pool_t *sched_engine_pool(const sched_t *s, uint32_t engine_id);

/* Weight an engine (e.g. by its capability score; default 1): when several
 * engines could take a task, the one with the fewest starts per unit of
 * weight gets it, so faster engines get proportionally more work.  Once any
 * weight differs from 1, placement sorts the engines (n log n per start).
 * -1 with EINVAL (weight not > 0) or ENOENT. */
int sched_engine_set_weight(sched_t *s, uint32_t engine_id, double weight);

/* Remove an engine (lost or gone).  Its running tasks go back to the front
 * of their jobs' queues without counting an attempt; each is counted as a
 * loss in the task's lost count.  -1 ENOENT if unknown. */
int sched_engine_remove(sched_t *s, uint32_t engine_id);

/* Change an engine's capacity in place (res_pool_set_capacity: a relay's
 * aggregate whose subtree changed).  Its tasks keep running; feasibility of
 * every job is checked again at the next step.  -1 ENOENT, or the errors
 * of res_pool_set_capacity (EINVAL, EBUSY, ENOMEM; nothing changed). */
int sched_engine_set_capacity(sched_t *s, uint32_t engine_id,
                              const res_capacity_t *cap);

/* The core never places tasks of job_id on engine_id again (the engine, or
 * the subtree behind it, rejected the job: it can never run it).  Tasks of
 * the job running there now are not touched.  If no engine is left that is
 * not excluded and fits the job ever, the job becomes infeasible the usual
 * way (SCHED_ACT_INFEASIBLE at the next step).  Forgotten when the engine
 * or the job is removed.  -1 ENOENT (unknown engine or job), ENOMEM. */
int sched_engine_exclude_job(sched_t *s, uint32_t engine_id,
                             uint32_t job_id);

/* Is job_id excluded from engine_id? */
bool sched_engine_excludes(const sched_t *s, uint32_t engine_id,
                           uint32_t job_id);

/* -------------------------------------------------------------------- jobs */

typedef struct sched_job {
    uint32_t id;            /* caller's id, unique, increasing = older first */
    int priority;           /* higher runs first */
    res_request_t req;      /* what every task of the job needs */
    uint32_t max_attempts;  /* runs per task before it fails for good;
                               0 is taken as 1 */
} sched_job_t;

/* Add a job with no tasks yet.  -1 EEXIST, EINVAL (bad request), ENOMEM. */
int sched_job_add(sched_t *s, const sched_job_t *job);

/* Make tasks [first, first + count) of a job pending.  Call several times
 * to add ranges with holes (resume); overlapping ranges are merged, so an
 * index is pending at most once.  Adding tasks to a cancelled job makes it
 * retry failures again.  -1 ENOENT, EINVAL (range overflows), ENOMEM. */
int sched_job_add_tasks(sched_t *s, uint32_t job_id, uint64_t first,
                        uint64_t count);

/* Drop a job's pending tasks.  Running tasks stay until sched_task_done(),
 * and are not retried when they fail.  -1 ENOENT. */
int sched_job_cancel(sched_t *s, uint32_t job_id);

/* Forget a job that has nothing pending or running.  -1 EBUSY / ENOENT. */
int sched_job_remove(sched_t *s, uint32_t job_id);

/* Change the memory every later task of a job requests (learnt estimates:
 * the local driver sets a job's request from its group's estimate).  Tasks
 * already running keep what they were granted.  A hold placed for the job
 * is released (it was sized for the old request) and the job's feasibility
 * is checked again at the next step.  -1 ENOENT, EINVAL (a request that
 * fails res_request_check). */
int sched_job_set_mem(sched_t *s, uint32_t job_id, uint64_t mem_bytes);

/* Tasks of a job pending / running now. */
uint64_t sched_job_pending(const sched_t *s, uint32_t job_id);
uint64_t sched_job_running(const sched_t *s, uint32_t job_id);

/* ----------------------------------------------------------------- actions */

typedef enum sched_action_type {
    SCHED_ACT_START = 1,      /* run task index of job on engine with alloc */
    SCHED_ACT_INFEASIBLE = 2, /* no engine can ever fit the job: its pending
                                 tasks were dropped; reason says why.  Checked
                                 when engines join or leave; never while no
                                 engine has joined */
} sched_action_type_t;

typedef struct sched_action {
    sched_action_type_t type;
    uint32_t job_id;
    uint64_t index;       /* START: the task index */
    uint32_t attempt;     /* START: 1 for the first run */
    uint32_t lost;        /* START: earlier runs lost with their engine */
    uint32_t engine_id;   /* START */
    res_alloc_t alloc;    /* START: what the task holds until done */
    uint64_t dropped;     /* INFEASIBLE: tasks dropped */
    char reason[160];     /* INFEASIBLE: e.g. "needs 5 gpus, engine has 4" */
} sched_action_t;

/* Decide what to start now.  Writes at most max actions to out and returns
 * how many; call again while it returns max.  now_ms is the caller's
 * monotonic clock and drives the anti-starvation rule. */
int sched_step(sched_t *s, int64_t now_ms, sched_action_t *out, int max);

typedef enum sched_outcome {
    SCHED_OK = 0,      /* succeeded */
    SCHED_FAILED = 1,  /* failed; requeued while attempts remain */
    SCHED_FINAL = 2,   /* ended and must not be retried (interrupted, ...) */
} sched_outcome_t;

/* The retry rule, for both modes: what a task end means to the core.  ok
 * is SCHED_OK; an interruption, a cancellation and a task that could not
 * be started (it would not start the next time either) are SCHED_FINAL;
 * every other failure (exit status, timeout, a signal, the memory limit)
 * is SCHED_FAILED, retried while attempts remain. */
sched_outcome_t sched_outcome_of(const banyan_task_end_t *end);

/* Whether a task that ended with outcome after attempt (from 1) of
 * max_attempts runs again: the rule sched_task_done() applies, for a
 * task the core does not hold (a server's adopted tasks). */
bool sched_retry_allowed(sched_outcome_t outcome, uint32_t attempt,
                         uint32_t max_attempts);

/* A started task has ended: its allocation is released.  Returns 1 if the
 * task was requeued for another attempt, 0 if it is finished, -1 ENOENT if
 * it was not running. */
int sched_task_done(sched_t *s, uint32_t job_id, uint64_t index,
                    sched_outcome_t outcome);

/* A running task is given back without having run (recalled for a steal,
 * released by a relay, rejected below): its allocation is released and it
 * is pending again at the front of its job's queue, with NO attempt
 * counted: its next START carries the same attempt (and lost) number as
 * the one it had.  If the job was cancelled meanwhile, the task is dropped
 * instead, as its pending tasks were at cancel time.  Returns 1 if pending
 * again, 0 if dropped, -1 ENOENT if it was not running, ENOMEM (nothing
 * changed). */
int sched_task_return(sched_t *s, uint32_t job_id, uint64_t index);

/* A running task leaves the core's hands (orphaned below a lost relay, or
 * moved away): its allocation is released and the task is neither running
 * nor pending here afterwards; the caller adds it again with
 * sched_job_add_tasks() (or sched_task_adopt()) if it must.  Its attempt
 * number is forgotten.  -1 ENOENT if it was not running. */
int sched_task_forget(sched_t *s, uint32_t job_id, uint64_t index);

/* A pending task is taken out of its job's queue (it was given back to a
 * parent, forgotten, or found running elsewhere).  -1 ENOENT if it was not
 * pending, ENOMEM (splitting a range; nothing changed). */
int sched_task_withdraw(sched_t *s, uint32_t job_id, uint64_t index);

/* A task found running on an engine (a worker that reattached lists what
 * it runs) is accounted as running there with the given attempt number
 * (0: the one it would have started with if it is pending, else 1), so
 * that nothing is placed over it; it ends with
 * sched_task_done() as usual.  alloc: the exact allocation the engine
 * reports, claimed in its pool (res_pool_claim: -1 EBUSY when it does not
 * fit, EINVAL when it is outside the pool); NULL: the job's request is
 * counted even past capacity (res_pool_acquire_over; for aggregates).  If
 * the task is pending it stops being pending.  -1 ENOENT (unknown job or
 * engine), EEXIST (already running), ENOMEM; a failure changes nothing. */
int sched_task_adopt(sched_t *s, uint32_t job_id, uint64_t index,
                     uint32_t attempt, uint32_t engine_id,
                     const res_alloc_t *alloc);

/* Is the task running, and where?  true with *engine_id and *alloc (either
 * may be NULL) filled. */
bool sched_task_running(const sched_t *s, uint32_t job_id, uint64_t index,
                        uint32_t *engine_id, res_alloc_t *alloc);

/* The attempt number of a running task; 0 if it is not running. */
uint32_t sched_task_attempt(const sched_t *s, uint32_t job_id,
                            uint64_t index);

/* -------------------------------------------------------------- inspection */

/* Why is this task not running?  One sentence into buf ("pending: gpus:
 * needs 2 free, 1 of 4 free on engine 1"; "running on engine 2"; "not
 * pending").  Returns buf. */
char *sched_explain(const sched_t *s, uint32_t job_id, uint64_t index,
                    char *buf, size_t size);

typedef struct sched_stats {
    uint64_t pending;     /* tasks waiting */
    uint64_t running;     /* tasks started and not done */
    uint64_t started;     /* START actions issued, ever */
    uint64_t requeued;    /* retries and losses */
    uint32_t engines;
    uint32_t jobs;
} sched_stats_t;

void sched_get_stats(const sched_t *s, sched_stats_t *st);

#endif /* BANYAN_SCHED_H */
