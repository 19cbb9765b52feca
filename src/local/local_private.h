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
#include "share/share.h"

/* A started task and the environment the driver added for it. */
typedef struct local__slot {
    local_task_t t;
    engine_env_t env;          /* the task's environment */
    int64_t timeout_ms;        /* the limit it runs under */
    struct local__slot *prev, *next; /* running list, start order */
    bool running;              /* in the running list */
    bool suspended;            /* SIGSTOPped for critical memory */
    bool critical_killed;      /* killed for critical memory */
    uint64_t settled_peak;     /* its peak when it first looked settled */
    uint64_t mux_slack;        /* charge given back while settled */
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
    int64_t tasks, requeued, limit_kills, suspends, critical_kills;
    int64_t passes[LOCAL_WAIT_COUNT];
    double seconds[LOCAL_WAIT_COUNT];
} local__acc_t;

struct local {
    local_options_t o;
    const local_ops_t *ops;
    void *arg;
    uv_loop_t loop;
    uv_check_t pump;
    uv_timer_t housekeep;
    uv_timer_t commit;         /* commits the grouped transaction when due */
    uv_timer_t progress;
    uv_signal_t sigs[3];
    bool loop_open;
    bool handles_open;

    sched_t *sched;
    res_pool_t *pool;          /* borrowed from sched */
    exec_t *exec;
    store_t *store;
    int ngpus;
    gpu_info_t gpus[GPU_MAX];
    bool has_mem_free_jobs;    /* some job asks no memory */

    uint64_t running;
    bool more;                 /* the client may still add jobs */
    bool stopping;
    int signal_seen;
    unsigned internal;
    int64_t last_meminfo_ms;
    uint64_t mem_avail;        /* MemAvailable, last read */
    bool mem_avail_known;

    /* jobs and tasks */
    local__job_t *jobs;
    size_t njobs, jobs_cap;
    local__requeue_t *rq;
    size_t nrq, rq_cap;
    local__slot_t *run_head, *run_tail;
    local__slot_t **susp;      /* suspended, oldest suspension first */
    size_t nsusp, susp_cap;
    int64_t last_critical_ms;
    double session_start;      /* wall clock of local_run */

    /* learnt estimates */
    est_table_t *est;
    uint64_t est_now;          /* admission figure of the group */

    /* statistical multiplexing of memory (local_res.c) */
    uint64_t mem_budget;       /* the pool's memory as configured */
    uint64_t mux_slack;        /* sum of the running tasks' mux_slack */
    double mux_growth;         /* largest final peak / settled peak seen */
    unsigned mux_samples;      /* ended tasks that told the ratio */
    int64_t last_mux_ms;       /* last local__mux_tick */

    /* fair sharing */
    share_t *share;
    share_amount_t share_cap;
    uint32_t share_slots;      /* granted concurrency */
    uint32_t share_wanted;     /* slots wanted at the last update */
    int64_t last_share_ms;
    bool share_warned;

    double score;
    double fin_run_s;          /* run time of the tasks ended so far */
    double fin_cpu_s;          /* ... and their CPU time */

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

/* Memory multiplexing: charge settled tasks their peak (housekeeping), and
 * forget a task's slack and learn from its end. */
bool local__mux_on(const local_t *l);
void local__mux_tick(local_t *l, int64_t now_ms);
void local__mux_end(local_t *l, local__slot_t *st, const exec_result_t *res);

/* Set up estimates (restored from the store), sharing and the score.
 * 0 or -1 with error text. */
int local__res_init(local_t *l, banyan_error_t *error);
void local__res_fini(local_t *l);

/* The mem a job without a request gets now (the group's estimate, at most
 * the pool's memory). */
uint64_t local__estimate_for_jobs(const local_t *l);

/* A task of the group ended: learn from it (sample, or bump when it was
 * killed by a signal it did not ask for), write the group's row and update
 * every job that follows the estimate. */
void local__learn(local_t *l, const local__slot_t *st,
                  const exec_result_t *res, bool unasked);

/* Re-read MemAvailable if older than the staleness limit. */
void local__meminfo(local_t *l, int64_t now_ms);

/* Suspend, kill or resume for critical memory (housekeeping). */
void local__critical(local_t *l, int64_t now_ms);

/* Forget s from the suspended stack. */
void local__unsuspend(local_t *l, local__slot_t *s);

/* Update the share file when due (or force) and recompute share_slots. */
void local__share_tick(local_t *l, int64_t now_ms, bool force);
void local__share_close(local_t *l);

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
