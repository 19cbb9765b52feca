/* SPDX-License-Identifier: MIT */
/* sched_private.h - the scheduler core's state, shared by its files.
 *
 * Jobs live in two indexes: a hash by id (for task_done at full rate) and
 * an array sorted in queue order (priority, then id) that sched_step scans.
 * A job's pending tasks are a requeue list (served first) and a sorted list
 * of disjoint index ranges, so a job costs O(ranges) memory until its tasks
 * start.  Running tasks live in one util_hmap keyed by (job id, task
 * index); an entry holds everything needed to release and requeue the
 * task, and is the only memory a started task costs.
 */
#ifndef BANYAN_SCHED_PRIVATE_H
#define BANYAN_SCHED_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/sched.h"
#include "util/hmap.h"

typedef struct sched__range {
    uint64_t first;           /* first pending index */
    uint64_t end;             /* one past the last */
} sched__range_t;

typedef struct sched__requeued {
    uint64_t index;
    uint32_t attempt;         /* attempt number its next run gets */
    uint32_t lost;            /* runs lost with an engine so far */
} sched__requeued_t;

typedef struct sched__job {
    sched_job_t def;
    sched__range_t *ranges;   /* sorted, disjoint; live from rhead */
    size_t nranges, rhead, ranges_cap;
    sched__requeued_t *rq;    /* FIFO; live from rq_head */
    size_t rq_len, rq_head, rq_cap;
    uint64_t pending;         /* tasks in ranges + requeue list */
    uint64_t running;
    int64_t blocked_since_ms; /* when it was last found blocked at the
                                 head, -1 while not blocked */
    uint64_t bypass;          /* tasks backfilled past it while blocked */
    uint64_t feasible_gen;    /* engines_gen at the last feasible check */
    bool cancelled;           /* no retries until tasks are added again */
} sched__job_t;

typedef struct sched__engine {
    uint32_t id;
    res_pool_t *pool;         /* owned */
    double weight;            /* share of new tasks when several fit (1) */
    double vtime;             /* starts / weight: lowest is tried first */
    uint32_t *excl;           /* job ids never placed here, sorted */
    size_t nexcl, excl_cap;
} sched__engine_t;

typedef struct sched__run {
    sched__job_t *job;
    sched__engine_t *engine;
    uint64_t index;
    uint32_t attempt;
    uint32_t lost;
    res_alloc_t alloc;
} sched__run_t;

/* The running table: a util_hmap of (job id, index) -> sched__run_t. */
typedef util_hmap_t sched__runtab_t;

struct sched {
    sched_config_t cfg;
    util_hmap_t *jobs;        /* owned: job id -> sched__job_t * */
    sched__job_t **queue;     /* queue order */
    size_t nqueue, queue_cap;
    sched__engine_t **engines;
    size_t nengines, engines_cap, order_cap;
    size_t rr;                /* next engine to try first */
    bool weighted;            /* some engine's weight is not 1 */
    sched__engine_t **order;  /* scratch: engines by vtime (weighted) */
    uint64_t engines_gen;     /* bumped when engines join or leave */
    sched__runtab_t *run;     /* owned: the running tasks */
    sched__job_t *hold_job;   /* the head job holding resources, or NULL */
    sched__engine_t *hold_engine;
    uint64_t pending;         /* over all jobs */
    uint64_t started;
    uint64_t requeued;
};

/* Running table.  create: NULL with ENOMEM; caller must destroy with
 * sched__run_destroy().  find returns NULL when absent; insert assumes
 * absence and returns the new cell (job and index set, rest zero), NULL
 * with ENOMEM; remove takes a cell pointer from find.  Cell pointers are
 * valid until the next insert or remove. */
sched__runtab_t *sched__run_create(void);
void sched__run_destroy(sched__runtab_t *t);
size_t sched__run_count(const sched__runtab_t *t);
sched__run_t *sched__run_find(const sched__runtab_t *t, uint32_t job_id,
                              uint64_t index);
sched__run_t *sched__run_insert(sched__runtab_t *t, sched__job_t *job,
                                uint64_t index);
void sched__run_remove(sched__runtab_t *t, sched__run_t *cell);

/* Every running task once, in no order (it starts as UTIL_HMAP_ITER_INIT);
 * NULL at the end.  sched__run_iter_remove() removes the one returned last,
 * and is the only change allowed during the walk. */
sched__run_t *sched__run_next(const sched__runtab_t *t, util_hmap_iter_t *it);
void sched__run_iter_remove(sched__runtab_t *t, util_hmap_iter_t *it);

/* The job with this id in the job index, or NULL with ENOENT. */
sched__job_t *sched__job_find(const util_hmap_t *jobs, uint32_t id);

#endif /* BANYAN_SCHED_PRIVATE_H */
