/* SPDX-License-Identifier: MIT */
/* local_private.h - the local driver's state, shared by local.c (the loop,
 * starting and ending tasks) and local_res.c (estimates, memory watch,
 * fair sharing, statistics).
 *
 * Running tasks are kept in a list in start order, so the youngest is the
 * tail (critical memory picks it).  The driver remembers, per requeued task
 * (job, index), how often it requeued it itself and when the task became
 * pending again; that table only holds tasks that were requeued, so it
 * stays small.
 */
#ifndef BANYAN_LOCAL_PRIVATE_H
#define BANYAN_LOCAL_PRIVATE_H

#include "est/est.h"
#include "local.h"
#include "util/log.h"

/* A started task: the client's view and the engine's. */
typedef struct local__slot {
    local_task_t t;
    engine_task_t et;          /* the engine's (job, index, mem, group) */
} local__slot_t;

/* A job added through local_job_add. */
typedef struct local__job {
    uint32_t id;
    bool auto_mem;             /* its mem comes from the group's estimate */
    res_request_t req;         /* as the core has it now */
    double added;              /* wall clock of the add */
} local__job_t;

/* A task the driver has seen requeued. */
typedef struct local__requeue {
    uint32_t job_id;
    uint64_t index;
    uint32_t count;            /* requeues by the driver itself */
    double queued;             /* wall clock it became pending; 0 = used */
} local__requeue_t;

/* What the pump found short while work was pending. */
typedef enum local__wait {
    LOCAL_WAIT_SLOTS,
    LOCAL_WAIT_CPUS,
    LOCAL_WAIT_MEM,
    LOCAL_WAIT_GPUS,
    LOCAL_WAIT_CUSTOM,
    LOCAL_WAIT_SHARE,
    LOCAL_WAIT_RESERVE,
    LOCAL_WAIT_SUSPENDED,
    LOCAL_WAIT_OTHER,
    LOCAL_WAIT_COUNT
} local__wait_t;

extern const char *const local__wait_names[LOCAL_WAIT_COUNT];

/* Statistics of one session (added to the stored base). */
typedef struct local__acc {
    double wall_s, capacity_s, busy_s, active_s, wait_s, cpu_s;
    int64_t tasks, requeued;
    int64_t passes[LOCAL_WAIT_COUNT];
    double seconds[LOCAL_WAIT_COUNT];
} local__acc_t;

struct local {
    local_options_t o;
    const local_ops_t *ops;
    void *arg;
    uv_loop_t *loop;           /* the caller's */
    uv_check_t pump;
    uv_timer_t housekeep;
    uv_timer_t commit;         /* commits the grouped transaction when due */
    uv_timer_t progress;
    uv_signal_t sigs[3];
    bool handles_open;         /* initialised and not yet closed */
    int closing;               /* handles whose close callback is due */
    bool destroyed;            /* free at the last close callback */

    sched_t *sched;
    res_pool_t *pool;          /* borrowed from sched */
    engine_t *engine;          /* this host: exec, memory, sharing */
    store_t *store;
    int ngpus;
    gpu_info_t gpus[GPU_MAX];

    uint64_t running;
    bool more;                 /* the client may still add jobs */
    bool stopping;
    int signal_seen;
    unsigned internal;

    /* jobs and tasks */
    local__job_t *jobs;
    size_t njobs, jobs_cap;
    local__requeue_t *rq;
    size_t nrq, rq_cap;
    double session_start;      /* wall clock of local_run */
    uint64_t est_now;          /* admission figure of the group */

    double score;

    /* statistics */
    char *usage_kind;
    int64_t usage_ref;
    bool usage_open;
    store_usage_t base;        /* earlier sessions (strings not kept) */
    double base_seconds[LOCAL_WAIT_COUNT];
    int64_t base_passes[LOCAL_WAIT_COUNT];
    int64_t written_passes[LOCAL_WAIT_COUNT]; /* as last written */
    local__acc_t acc;
    int64_t acc_last_ms;       /* monotonic time acc was advanced to */
    int wait_now;              /* reason pending work waits now, -1 none */
    int64_t last_persist_ms;
    bool dirty;                /* counters changed since the last write */
    bool est_dirty;            /* the group's row changed since written */
    char host[256];
};

/* ------------------------------------------------------------ local_res.c */

/* Restore the group's estimate from the store into the engine.  0 or -1
 * with error text. */
int local__res_init(local_t *l, banyan_error_t *error);

/* The engine's callbacks: a group's estimate changed (follow it: every
 * job without a request is set to it), the memory tasks may be charged
 * changed (the pool's capacity follows), a line to print. */
void local__learnt(engine_t *e, const char *group, void *arg);
void local__capacity(engine_t *e, uint64_t mem_bytes, void *arg);
void local__log(engine_t *e, const char *line, void *arg);

/* Statistics: advance the clocks to now; note what the pump found; write
 * the usage row (when open). */
void local__acc_advance(local_t *l, int64_t now_ms);
void local__wait_note(local_t *l, int reason, bool blocked_pass);
int local__wait_classify(local_t *l);
void local__persist(local_t *l, int64_t now_ms, bool force);

/* The requeue table. */
local__requeue_t *local__rq_find(local_t *l, uint32_t job_id, uint64_t index,
                                 bool create);

/* The tracked job with this id, or NULL. */
local__job_t *local__job_find(local_t *l, uint32_t job_id);

#endif /* BANYAN_LOCAL_PRIVATE_H */
