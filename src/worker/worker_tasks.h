/* SPDX-License-Identifier: MIT */
/* worker_tasks.h - a worker's own tasks (worker_tasks.c): every task it
 * accepted, keyed by (job, index, attempt) from its ASSIGN until the ACK
 * of the batch that reported it (what makes a duplicate ASSIGN harmless),
 * the running list, the admission queue (tasks waiting for the engine's
 * gate, in order) and the execution slots they hold. */
#ifndef BANYAN_WORKER_TASKS_H
#define BANYAN_WORKER_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "worker_private.h"
#include "worker_results.h"

/* One task.  The first block is the worker's (worker.c); the last is the
 * table's, written only by worker_tasks.c. */
typedef struct worker__task {
    msg_task_ref_t ref;
    uint32_t slot;
    uint64_t gpu_mask;             /* while waiting for blobs */
    uint32_t gpu_milli_each;
    bool ended;                    /* its result is set */
    bool pinned;                   /* holds pins on its job's blobs */
    bool foreign;                  /* a child's result, not in the table */
    bool child_last;               /* ends the child's batch child_seq */
    uint32_t child;
    uint64_t child_seq;
    bool killing;                  /* MSG_KILL: report as interrupted */
    struct worker__task *wnext;    /* its job's blob wait list */
    worker__launch_t launch;       /* while running */
    engine_task_t et;              /* the engine's, while running */
    worker__result_t r;            /* once ended; tails malloc'd */
    /* the table's */
    struct worker__task *prev, *next; /* running list, while running */
    struct worker__task *qnext;    /* admission queue */
    uint32_t nslots;               /* counted in busy until released */
    bool running;
    bool admitting;                /* in the admission queue */
} worker__task_t;

typedef struct worker__tasks worker__tasks_t;

/* NULL with ENOMEM.  Caller must destroy with worker__tasks_destroy(),
 * which frees the tasks still in the table. */
worker__tasks_t *worker__tasks_create(void);
void worker__tasks_destroy(worker__tasks_t *ts);

/* A task outside the table (a child's result): NULL with ENOMEM.  Free
 * with worker__task_free(), which also frees its launch and tails. */
worker__task_t *worker__task_new(void);
void worker__task_free(worker__task_t *t);

/* The task with ref, or NULL.  Borrowed; valid until it is removed. */
worker__task_t *worker__tasks_find(const worker__tasks_t *ts,
                                   const msg_task_ref_t *ref);
/* Add e's task, holding nslots slots.  NULL with ENOMEM (or EEXIST). */
worker__task_t *worker__tasks_add(worker__tasks_t *ts,
                                  const msg_assign_entry_t *e,
                                  uint32_t nslots);
/* Remove t from the table and free it. */
void worker__tasks_remove(worker__tasks_t *ts, worker__task_t *t);
size_t worker__tasks_count(const worker__tasks_t *ts);
/* Tasks not ended into out (at most max); returns how many were written. */
size_t worker__tasks_held(const worker__tasks_t *ts, msg_task_ref_t *out,
                          size_t max);

/* t is running (on the running list). */
void worker__tasks_run(worker__tasks_t *ts, worker__task_t *t);
/* t is no longer running (exec dropped it). */
void worker__tasks_unrun(worker__tasks_t *ts, worker__task_t *t);
/* t has ended: off the running list, its slots free, ended set. */
void worker__tasks_release(worker__tasks_t *ts, worker__task_t *t);
/* The running task after t (the first when t is NULL), or NULL. */
worker__task_t *worker__tasks_running_next(const worker__tasks_t *ts,
                                           const worker__task_t *t);
uint32_t worker__tasks_nrunning(const worker__tasks_t *ts);
/* Slots held by tasks not released. */
uint32_t worker__tasks_busy(const worker__tasks_t *ts);

/* The admission queue: push at the tail, the head (NULL when empty),
 * remove any (nothing when t is not queued), the length. */
void worker__tasks_admit_push(worker__tasks_t *ts, worker__task_t *t);
worker__task_t *worker__tasks_admit_head(const worker__tasks_t *ts);
void worker__tasks_admit_remove(worker__tasks_t *ts, worker__task_t *t);
uint32_t worker__tasks_nadmit(const worker__tasks_t *ts);

#endif /* BANYAN_WORKER_TASKS_H */
