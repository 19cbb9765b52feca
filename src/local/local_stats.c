/* SPDX-License-Identifier: MIT */
/* local_stats.c - the local driver's timing statistics, written to the
 * store's usage and waits tables.
 *
 * The driver reports its events (a task started or ended, what pending
 * work waits for) and passes the store and the engine; nothing here reads
 * the driver's state.  local__stats_advance integrates, between any two
 * events, the allowed concurrency (capacity), the running tasks (busy),
 * whether any runs (active) and what pending work waits for.  Overhead is
 * capacity - busy.  A session's figures are added to those of the earlier
 * sessions of its (kind, id), read back when the row is opened.  The usage
 * row is rewritten before every commit that follows a change of its
 * counters (so it joins the transaction of the task rows it counts) and
 * every 500 ms otherwise: after a kill -9 its counters agree with the task
 * rows, and the clocks lose at most half a second.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "local_private.h"
#include "score/score.h"
#include "util/util.h"

enum {
    PERSIST_EVERY_MS = 500,   /* the clocks, when nothing else changed */
};

static const char *const wait_names[LOCAL_WAIT_COUNT] = {
    [LOCAL_WAIT_SLOTS] = "slots",
    [LOCAL_WAIT_CPUS] = "cpus",
    [LOCAL_WAIT_MEM] = "mem",
    [LOCAL_WAIT_GPUS] = "gpus",
    [LOCAL_WAIT_CUSTOM] = "custom",
    [LOCAL_WAIT_SHARE] = "share",
    [LOCAL_WAIT_RESERVE] = "mem-reserve",
    [LOCAL_WAIT_SUSPENDED] = "suspended",
    [LOCAL_WAIT_OTHER] = "other",
};

struct local__stats {
    const char *group;         /* the engine's, borrowed */
    uint32_t slots;            /* the run's -j */
    double score;              /* this session's benchmark, 0 = none */
    char host[256];
    char *kind;                /* the usage row's, NULL until opened */
    int64_t ref;
    bool open;                 /* the row is written */
    store_usage_t base;        /* earlier sessions (strings not kept) */
    double base_seconds[LOCAL_WAIT_COUNT];
    int64_t base_passes[LOCAL_WAIT_COUNT];
    int64_t written_passes[LOCAL_WAIT_COUNT]; /* as last written */
    struct {                   /* this session, added to base */
        double wall_s, capacity_s, busy_s, active_s, wait_s, cpu_s;
        int64_t tasks, requeued;
        int64_t passes[LOCAL_WAIT_COUNT];
        double seconds[LOCAL_WAIT_COUNT];
    } acc;
    int64_t acc_last_ms;       /* monotonic time acc was advanced to */
    int wait_now;              /* reason pending work waits now, -1 none */
    int64_t last_persist_ms;
    bool dirty;                /* counters changed since the last write */
};

local__stats_t *local__stats_create(const char *group, uint32_t slots)
{
    local__stats_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->group = group;
    s->slots = slots;
    s->wait_now = -1;
    if (gethostname(s->host, sizeof(s->host)) < 0)
        snprintf(s->host, sizeof(s->host), "localhost");
    return s;
}

void local__stats_destroy(local__stats_t *s)
{
    if (s)
        free(s->kind);
    free(s);
}

/* ---------------------------------------------------------- events */

void local__stats_begin(local__stats_t *s, int64_t score_budget_ms)
{
    if (score_budget_ms > 0 && score_measure(score_budget_ms, &s->score) < 0)
        s->score = 0;
    s->acc_last_ms = util_mono_ms();
}

void local__stats_advance(local__stats_t *s, int64_t now_ms, bool open,
                          uint32_t allowed, uint64_t running)
{
    if (s->acc_last_ms == 0 || now_ms <= s->acc_last_ms)
        return;
    double dt = (double)(now_ms - s->acc_last_ms) / 1000.0;
    s->acc_last_ms = now_ms;
    s->acc.wall_s += dt;
    if (!open)
        return; /* the work is over: only the wall clock goes on */
    s->acc.capacity_s += allowed * dt;
    s->acc.busy_s += (double)running * dt;
    if (running > 0)
        s->acc.active_s += dt;
    if (s->wait_now >= 0)
        s->acc.seconds[s->wait_now] += dt;
}

void local__stats_started(local__stats_t *s, double queued, double started)
{
    if (started > queued)
        s->acc.wait_s += started - queued;
}

void local__stats_ended(local__stats_t *s, double cpu_s, bool requeued)
{
    s->acc.tasks++;
    s->acc.cpu_s += cpu_s;
    s->acc.requeued += requeued;
    s->dirty = true;
}

void local__stats_wait(local__stats_t *s, int reason, bool blocked_pass)
{
    s->wait_now = reason;
    if (reason >= 0 && blocked_pass)
        s->acc.passes[reason]++;
}

/* ---------------------------------------------------------- the rows */

void local__stats_usage(const local__stats_t *s, const engine_t *e,
                        store_usage_t *u)
{
    const store_usage_t *b = &s->base;
    engine_stats_t es;
    engine_get_stats(e, &es);
    *u = (store_usage_t){
        .kind = s->kind ? s->kind : "run",
        .ref_id = s->ref, .engine = s->host, .group = s->group,
        .score = s->score > 0 ? s->score : b->score,
        .slots = s->slots, .sessions = b->sessions + 1,
        .wall_s = b->wall_s + s->acc.wall_s,
        .capacity_s = b->capacity_s + s->acc.capacity_s,
        .busy_s = b->busy_s + s->acc.busy_s,
        .active_s = b->active_s + s->acc.active_s,
        .wait_s = b->wait_s + s->acc.wait_s,
        .cpu_s = b->cpu_s + s->acc.cpu_s,
        .tasks = b->tasks + s->acc.tasks,
        .requeued = b->requeued + s->acc.requeued,
        .limit_kills = b->limit_kills + (int64_t)es.limit_kills,
        .suspends = b->suspends + (int64_t)es.suspends,
        .critical_kills = b->critical_kills + (int64_t)es.critical_kills,
        .updated = util_wall_time(),
    };
}

int local__stats_persist(local__stats_t *s, store_t *store, const engine_t *e,
                         int64_t now_ms, bool force)
{
    bool periodic = force || now_ms - s->last_persist_ms >= PERSIST_EVERY_MS;
    if (!s->open || (!periodic && !s->dirty))
        return 0;
    if (periodic)
        s->last_persist_ms = now_ms;
    s->dirty = false;
    store_usage_t u;
    local__stats_usage(s, e, &u);
    int rc = store_usage_put(store, &u);
    for (int i = 0; i < LOCAL_WAIT_COUNT && rc == 0; i++) {
        int64_t passes = s->base_passes[i] + s->acc.passes[i];
        double secs = s->base_seconds[i] + s->acc.seconds[i];
        /* Between the periodic writes only counts that moved. */
        if ((passes == 0 && secs == 0) ||
            (!periodic && passes == s->written_passes[i]))
            continue;
        store_wait_t w = {.kind = u.kind, .ref_id = u.ref_id,
                          .reason = wait_names[i], .passes = passes,
                          .seconds = secs};
        rc = store_wait_put(store, &w);
        s->written_passes[i] = passes;
    }
    if (rc < 0) {
        if (!store_write_failure(store)) /* else the driver says it */
            util_log("banyan: cannot record statistics: %s\n",
                     store_last_error(store));
        s->open = false; /* say it once */
    }
    return rc;
}

static int load_usage(const store_usage_t *u, void *arg)
{
    local__stats_t *s = arg;
    s->base = *u;
    s->base.kind = s->base.engine = s->base.group = NULL;
    return 0;
}

static int load_wait(const store_wait_t *w, void *arg)
{
    local__stats_t *s = arg;
    for (int i = 0; i < LOCAL_WAIT_COUNT; i++) {
        if (!strcmp(w->reason, wait_names[i])) {
            s->base_passes[i] = w->passes;
            s->base_seconds[i] = w->seconds;
        }
    }
    return 0;
}

int local__stats_open(local__stats_t *s, store_t *store, const engine_t *e,
                      const char *kind, int64_t ref_id, banyan_error_t *error)
{
    char *k = strdup(kind);
    if (!k)
        return errprintf(error, "out of memory");
    free(s->kind);
    s->kind = k;
    s->ref = ref_id;
    memset(&s->base, 0, sizeof(s->base));
    memset(s->base_passes, 0, sizeof(s->base_passes));
    memset(s->base_seconds, 0, sizeof(s->base_seconds));
    if (store_usage_foreach(store, kind, ref_id, load_usage, s) < 0 &&
        errno != ENOENT)
        return errprintf(error, "cannot read the statistics: %s",
                         store_last_error(store));
    if (store_waits_foreach(store, kind, ref_id, load_wait, s) < 0)
        return errprintf(error, "cannot read the statistics: %s",
                         store_last_error(store));
    s->open = true;
    if (local__stats_persist(s, store, e, util_mono_ms(), true) < 0)
        return errprintf(error, "cannot record statistics: %s",
                         store_last_error(store));
    return 0;
}
