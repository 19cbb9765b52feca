/* SPDX-License-Identifier: MIT */
/* local_res.c - what the local driver adds to its engine's resource
 * intelligence (src/engine/engine_mem.c): jobs that follow the group's
 * learnt estimate, the estimate's row in the store, the requeue table and
 * the timing statistics written to the store.
 *
 * Estimates.  One group per driver (local_options_t.engine.group).  Jobs
 * added without a memory request follow the group's figure: whenever the
 * engine learns, every such job's request is set again
 * (sched_job_set_mem), capped at the pool's memory so that a task can
 * always run alone.  The group's row is restored from the store at start
 * and written back with the next usage row after every change.
 *
 * Statistics.  acc_advance integrates, between any two events, the allowed
 * concurrency (capacity), the running tasks (busy), whether any runs
 * (active) and what pending work waits for.  Overhead is capacity - busy.
 * The usage row is rewritten before every commit that follows a change of
 * its counters (so it joins the transaction of the task rows it counts) and
 * every 500 ms otherwise: after a kill -9 its counters agree with the task
 * rows, and the clocks lose at most half a second.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local_private.h"
#include "util/util.h"

enum {
    PERSIST_EVERY_MS = 500,   /* the clocks, when nothing else changed */
};

const char *const local__wait_names[LOCAL_WAIT_COUNT] = {
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

/* ---------------------------------------------------------- estimates */

static void follow_estimate(local_t *l)
{
    uint64_t e = engine_estimate(l->engine, NULL);
    if (e == l->est_now)
        return;
    l->est_now = e;
    for (size_t i = 0; i < l->njobs; i++) {
        local__job_t *j = &l->jobs[i];
        if (!j->auto_mem)
            continue;
        if (sched_job_set_mem(l->sched, j->id, e) < 0) {
            if (errno == ENOENT) { /* the client removed it meanwhile */
                l->jobs[i--] = l->jobs[--l->njobs];
                continue;
            }
            l->internal++;
            continue;
        }
        j->req.mem_bytes = e;
    }
}

void local__learnt(engine_t *e, const char *group, void *arg)
{
    (void)e;
    (void)group;
    local_t *l = arg;
    l->est_dirty = true; /* written with the next usage row */
    l->dirty = true;
    follow_estimate(l);
}

void local__capacity(engine_t *e, uint64_t mem_bytes, void *arg)
{
    (void)e;
    local_t *l = arg;
    res_capacity_t cap = *res_pool_capacity(l->pool);
    if (cap.mem_bytes == mem_bytes)
        return;
    cap.mem_bytes = mem_bytes;
    if (res_pool_set_capacity(l->pool, &cap) < 0)
        l->internal++;
}

void local__log(engine_t *e, const char *line, void *arg)
{
    (void)e;
    (void)arg;
    util_log("banyan: %s\n", line);
}

static void save_group(local_t *l)
{
    est_stats_t st;
    const char *group = l->o.engine.group;
    est_table_t *est = engine_estimates(l->engine);
    if (!est || est_table_get(est, group, &st) < 0)
        return;
    store_estimate_t row = {
        .group = group, .count = (int64_t)st.count,
        .mean_bytes = st.mean_bytes, .m2 = st.m2,
        .hwm_bytes = (int64_t)st.hwm_bytes,
        .floor_bytes = (int64_t)st.floor_bytes, .updated = util_wall_time(),
    };
    if (store_estimate_put(l->store, &row) < 0) {
        util_log("banyan: cannot record the memory estimate: %s\n",
                 store_last_error(l->store));
        l->internal++;
    }
}

static int restore_row(const store_estimate_t *e, void *arg)
{
    local_t *l = arg;
    est_stats_t st = {
        .count = e->count > 0 ? (uint64_t)e->count : 0,
        .mean_bytes = e->mean_bytes, .m2 = e->m2,
        .hwm_bytes = e->hwm_bytes > 0 ? (uint64_t)e->hwm_bytes : 0,
        .floor_bytes = e->floor_bytes > 0 ? (uint64_t)e->floor_bytes : 0,
    };
    if (strcmp(e->group, l->o.engine.group) != 0)
        return 0; /* only our group matters here */
    banyan_error_t err = {{0}};
    if (est_table_set(engine_estimates(l->engine), e->group, &st, &err) < 0)
        util_log("banyan: ignoring the stored estimate of '%s': %s\n", e->group,
                 err.text);
    return 0;
}

int local__res_init(local_t *l, banyan_error_t *error)
{
    if (!engine_estimates(l->engine))
        return 0;
    if (store_estimates_foreach(l->store, restore_row, l) < 0)
        return errprintf(error, "cannot read the memory estimates: %s",
                         store_last_error(l->store));
    l->est_now = engine_estimate(l->engine, NULL);
    return 0;
}

/* ---------------------------------------------------------- statistics */

void local__acc_advance(local_t *l, int64_t now_ms)
{
    if (l->acc_last_ms == 0 || now_ms <= l->acc_last_ms)
        return;
    double dt = (double)(now_ms - l->acc_last_ms) / 1000.0;
    l->acc_last_ms = now_ms;
    l->acc.wall_s += dt;
    if (!l->handles_open)
        return; /* the work is over: only the wall clock goes on */
    l->acc.capacity_s += engine_allowed(l->engine) * dt;
    l->acc.busy_s += (double)l->running * dt;
    if (l->running > 0)
        l->acc.active_s += dt;
    if (l->wait_now >= 0)
        l->acc.seconds[l->wait_now] += dt;
}

void local__wait_note(local_t *l, int reason, bool blocked_pass)
{
    l->wait_now = reason;
    if (reason >= 0 && blocked_pass)
        l->acc.passes[reason]++;
}

int local__wait_classify(local_t *l)
{
    for (size_t i = 0; i < l->njobs; i++) {
        const local__job_t *j = &l->jobs[i];
        if (sched_job_pending(l->sched, j->id) == 0)
            continue;
        char why[256];
        res_pool_explain(l->pool, &j->req, why, sizeof(why));
        if (!strncmp(why, "slots", 5))
            return LOCAL_WAIT_SLOTS;
        if (!strncmp(why, "cpus", 4))
            return LOCAL_WAIT_CPUS;
        if (!strncmp(why, "mem:", 4))
            return strstr(why, "reserve") ? LOCAL_WAIT_RESERVE
                                          : LOCAL_WAIT_MEM;
        if (!strncmp(why, "gpu", 3))
            return LOCAL_WAIT_GPUS;
        for (int c = 0; c < j->req.ncustom; c++) {
            size_t n = strlen(j->req.custom[c].name);
            if (!strncmp(why, j->req.custom[c].name, n) && why[n] == ':')
                return LOCAL_WAIT_CUSTOM;
        }
        return LOCAL_WAIT_OTHER;
    }
    return LOCAL_WAIT_OTHER;
}

void local_usage(const local_t *l, store_usage_t *u)
{
    const store_usage_t *b = &l->base;
    const local__acc_t *a = &l->acc;
    engine_stats_t es;
    engine_get_stats(l->engine, &es);
    *u = (store_usage_t){
        .kind = l->usage_kind ? l->usage_kind : "run",
        .ref_id = l->usage_ref, .engine = l->host,
        .group = l->o.engine.group,
        .score = l->score > 0 ? l->score : b->score,
        .slots = l->o.engine.slots, .sessions = b->sessions + 1,
        .wall_s = b->wall_s + a->wall_s,
        .capacity_s = b->capacity_s + a->capacity_s,
        .busy_s = b->busy_s + a->busy_s,
        .active_s = b->active_s + a->active_s,
        .wait_s = b->wait_s + a->wait_s, .cpu_s = b->cpu_s + a->cpu_s,
        .tasks = b->tasks + a->tasks, .requeued = b->requeued + a->requeued,
        .limit_kills = b->limit_kills + (int64_t)es.limit_kills,
        .suspends = b->suspends + (int64_t)es.suspends,
        .critical_kills = b->critical_kills + (int64_t)es.critical_kills,
        .updated = util_wall_time(),
    };
}

void local__persist(local_t *l, int64_t now_ms, bool force)
{
    bool periodic = force || now_ms - l->last_persist_ms >= PERSIST_EVERY_MS;
    if (!periodic && !l->dirty && !l->est_dirty)
        return;
    if (l->est_dirty) { /* also for a client without usage: it learns */
        l->est_dirty = false;
        save_group(l);
    }
    if (!l->usage_open)
        return;
    if (periodic)
        l->last_persist_ms = now_ms;
    l->dirty = false;
    store_usage_t u;
    local_usage(l, &u);
    int rc = store_usage_put(l->store, &u);
    for (int i = 0; i < LOCAL_WAIT_COUNT && rc == 0; i++) {
        int64_t passes = l->base_passes[i] + l->acc.passes[i];
        double secs = l->base_seconds[i] + l->acc.seconds[i];
        /* Between the periodic writes only counts that moved. */
        if ((passes == 0 && secs == 0) ||
            (!periodic && passes == l->written_passes[i]))
            continue;
        store_wait_t w = {.kind = u.kind, .ref_id = u.ref_id,
                          .reason = local__wait_names[i], .passes = passes,
                          .seconds = secs};
        rc = store_wait_put(l->store, &w);
        l->written_passes[i] = passes;
    }
    if (rc < 0) {
        util_log("banyan: cannot record statistics: %s\n",
                 store_last_error(l->store));
        l->internal++;
        l->usage_open = false; /* say it once */
    }
}

static int load_usage(const store_usage_t *u, void *arg)
{
    local_t *l = arg;
    l->base = *u;
    l->base.kind = l->base.engine = l->base.group = NULL;
    return 0;
}

static int load_wait(const store_wait_t *w, void *arg)
{
    local_t *l = arg;
    for (int i = 0; i < LOCAL_WAIT_COUNT; i++) {
        if (!strcmp(w->reason, local__wait_names[i])) {
            l->base_passes[i] = w->passes;
            l->base_seconds[i] = w->seconds;
        }
    }
    return 0;
}

int local_usage_open(local_t *l, const char *kind, int64_t ref_id,
                     banyan_error_t *error)
{
    char *k = strdup(kind);
    if (!k)
        return errprintf(error, "out of memory");
    free(l->usage_kind);
    l->usage_kind = k;
    l->usage_ref = ref_id;
    memset(&l->base, 0, sizeof(l->base));
    memset(l->base_passes, 0, sizeof(l->base_passes));
    memset(l->base_seconds, 0, sizeof(l->base_seconds));
    if (store_usage_foreach(l->store, kind, ref_id, load_usage, l) < 0 &&
        errno != ENOENT)
        return errprintf(error, "cannot read the statistics: %s",
                         store_last_error(l->store));
    if (store_waits_foreach(l->store, kind, ref_id, load_wait, l) < 0)
        return errprintf(error, "cannot read the statistics: %s",
                         store_last_error(l->store));
    l->usage_open = true;
    local__persist(l, util_mono_ms(), true);
    return l->usage_open ? 0 : errprintf(error, "cannot record statistics: "
                                         "%s", store_last_error(l->store));
}

/* ---------------------------------------------------------- requeues */

local__requeue_t *local__rq_find(local_t *l, uint32_t job_id, uint64_t index,
                                 bool create)
{
    for (size_t i = 0; i < l->nrq; i++)
        if (l->rq[i].job_id == job_id && l->rq[i].index == index)
            return &l->rq[i];
    if (!create)
        return NULL;
    if (l->nrq == l->rq_cap) {
        size_t cap = l->rq_cap ? l->rq_cap * 2 : 16;
        local__requeue_t *p = realloc(l->rq, cap * sizeof(*p));
        if (!p)
            return NULL;
        l->rq = p;
        l->rq_cap = cap;
    }
    l->rq[l->nrq] = (local__requeue_t){.job_id = job_id, .index = index};
    return &l->rq[l->nrq++];
}

/* ---------------------------------------------------------- queries */

uint64_t local_estimate(const local_t *l)
{
    return l->est_now;
}
