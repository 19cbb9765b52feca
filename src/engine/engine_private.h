/* SPDX-License-Identifier: MIT */
/* engine_private.h - the engine object's state, shared by engine.c
 * (starting and ending tasks, the gate) and engine_mem.c (estimates,
 * memory watch, multiplexing, fair sharing).
 */
#ifndef BANYAN_ENGINE_PRIVATE_H
#define BANYAN_ENGINE_PRIVATE_H

#include "engine.h"
#include "est/est.h"
#include "share/share.h"

struct engine {
    uv_loop_t *loop;           /* the caller's */
    engine_options_t o;
    char *group;               /* o.group copied */
    char *share_path;          /* o.share_path copied */
    const engine_ops_t *ops;
    void *arg;
    exec_t *exec;
    uv_timer_t housekeep;
    bool timer_open;           /* not yet closed */
    bool timer_closing;        /* uv_close called, callback not yet run */
    bool destroyed;            /* free at the timer's close callback */

    /* running tasks, in start order (the youngest is the tail) */
    engine_task_t *run_head, *run_tail;
    uint32_t running;
    uint64_t charged;          /* sum of the running tasks' mem_bytes */
    engine_task_t **susp;      /* suspended, oldest suspension first */
    size_t nsusp, susp_cap;
    int64_t last_critical_ms;

    /* the host's memory */
    uint64_t mem_budget;       /* what tasks may be charged (o.mem_bytes or
                                  MemTotal) */
    uint64_t mem_avail;        /* MemAvailable, last read */
    bool mem_avail_known;
    int64_t last_meminfo_ms;

    /* learnt estimates */
    est_table_t *est;

    /* statistical multiplexing */
    uint64_t mux_slack;        /* sum of the running tasks' mux_slack */
    double mux_growth;         /* largest final / settled peak seen */
    unsigned mux_samples;
    int64_t last_mux_ms;

    /* fair sharing */
    share_t *share;
    share_amount_t share_cap;
    uint32_t share_slots;      /* granted concurrency */
    uint32_t share_wanted;     /* tasks wanted at the last update */
    uint32_t want_tasks;       /* what the caller says it could run */
    uint32_t want_mcpu;        /* each one's --cpus, 0 = learn */
    int64_t last_share_ms;
    bool share_warned;
    double fin_run_s;          /* run time of the tasks ended so far */
    double fin_cpu_s;          /* ... and their CPU time */

    engine_stats_t st;
};

/* ------------------------------------------------------- engine_mem.c */

/* Set up estimates and sharing; 0 or -1 with error text. */
int engine__mem_init(engine_t *e, banyan_error_t *error);
void engine__mem_fini(engine_t *e);

/* Re-read MemAvailable if older than the staleness limit. */
void engine__meminfo(engine_t *e, int64_t now_ms);

/* Suspend, kill or resume for critical memory. */
void engine__critical(engine_t *e, int64_t now_ms);

/* Forget t from the suspended stack. */
void engine__unsuspend(engine_t *e, engine_task_t *t);

/* Multiplexing pass over the running tasks, and a task's end. */
bool engine__mux_on(const engine_t *e);
void engine__mux_tick(engine_t *e, int64_t now_ms);
void engine__mux_end(engine_t *e, engine_task_t *t, const exec_result_t *res);

/* A task ended: learn its group's estimate from it. */
void engine__learn(engine_t *e, const engine_task_t *t,
                   const exec_result_t *res, bool unasked);

/* Update the share file when due: what is wanted changed, or every
 * ENGINE_SHARE_EVERY_MS while something is wanted. */
void engine__share_tick(engine_t *e, int64_t now_ms);
void engine__share_close(engine_t *e);

/* One line for the caller's log. */
void engine__log(engine_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* BANYAN_ENGINE_PRIVATE_H */
