/* SPDX-License-Identifier: MIT */
/* local_private.h - what local.c (the driver: the loop, the jobs,
 * starting and ending tasks) and local_stats.c (the timing statistics)
 * share: the statistics are an object that local_stats.c creates, owns and
 * alone writes; local.c reports its events to it and passes it the store
 * and the engine it needs, so it never sees struct local.
 */
#ifndef BANYAN_LOCAL_PRIVATE_H
#define BANYAN_LOCAL_PRIVATE_H

#include "est/est.h"
#include "local.h"
#include "util/log.h"

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

/* ---------------------------------------------------------- local_stats.c */

typedef struct local__stats local__stats_t;

/* For a driver of group (borrowed) and slots.  NULL with ENOMEM.  Caller
 * must destroy with local__stats_destroy(), which accepts NULL. */
local__stats_t *local__stats_create(const char *group, uint32_t slots);
void local__stats_destroy(local__stats_t *s);

/* The session begins (the benchmark, when score_budget_ms > 0, then the
 * clocks).  Advance the clocks to now_ms: open while the work goes on,
 * with allowed tasks at once and running running. */
void local__stats_begin(local__stats_t *s, int64_t score_budget_ms);
void local__stats_advance(local__stats_t *s, int64_t now_ms, bool open,
                          uint32_t allowed, uint64_t running);

/* A task started (wall clock, pending since queued); one ended, with its
 * cpu seconds, and requeued or not; pending work waits for reason now (-1
 * none; blocked_pass: this pass started nothing). */
void local__stats_started(local__stats_t *s, double queued, double started);
void local__stats_ended(local__stats_t *s, double cpu_s, bool requeued);
void local__stats_wait(local__stats_t *s, int reason, bool blocked_pass);

/* Name the usage row and read earlier sessions' figures (local.h's
 * local_usage_open).  The figures so far (u's strings borrowed from s).
 * Write the rows when due (force: now); -1 logged, and no more writes. */
int local__stats_open(local__stats_t *s, store_t *store, const engine_t *e,
                      const char *kind, int64_t ref_id, banyan_error_t *error);
void local__stats_usage(const local__stats_t *s, const engine_t *e,
                        store_usage_t *u);
int local__stats_persist(local__stats_t *s, store_t *store, const engine_t *e,
                         int64_t now_ms, bool force);

/* ------------------------------------------------------------ local_ctl.c */

/* GNU Parallel's execution control (engine_options_t's block of it),
 * created from the driver's engine options (strings borrowed).  NULL with
 * ENOMEM.  Destroy with local__ctl_destroy(), which accepts NULL.  With
 * nice_set, sets this process's niceness (the tasks inherit it). */
typedef struct local__ctl local__ctl_t;
local__ctl_t *local__ctl_create(const engine_options_t *o);
void local__ctl_destroy(local__ctl_t *c);

/* Whether a task may start now (--delay, --load, --noswap, --limit, in
 * GNU's order); when not, *retry_ms > 0 says when to ask again (0: at the
 * next housekeeping tick).  one_at_a_time: start at most one task between
 * two questions.  started: one did start, at now. */
bool local__ctl_may_start(local__ctl_t *c, int64_t now, int64_t *retry_ms);
bool local__ctl_one_at_a_time(const local__ctl_t *c);
void local__ctl_started(local__ctl_t *c, int64_t now);

/* The --limit command's answer now: 0 below the limit, 1 over it, 2 kill
 * the youngest task. */
int local__ctl_limit(local__ctl_t *c);

/* -j FILE read again (at most every 200 ms): true with *slots when it
 * gave a valid number. */
bool local__ctl_jobs_file(local__ctl_t *c, int64_t now, uint32_t *slots);

/* A task ended after runtime_s (ok: succeeded); the --timeout N% limit
 * now in ms (0: none yet). */
void local__ctl_ended(local__ctl_t *c, double runtime_s, bool ok);
int64_t local__ctl_timeout_ms(const local__ctl_t *c);

/* The working directory of task seq (--wd; "..." made in buf), created;
 * *cwd NULL to inherit.  0 or -1 with errno.  leave removes a "..." one
 * and what it holds. */
int local__ctl_wd_enter(local__ctl_t *c, uint64_t seq, char *buf,
                        size_t size, const char **cwd);
void local__ctl_wd_leave(local__ctl_t *c, const char *cwd);

#endif /* BANYAN_LOCAL_PRIVATE_H */
