/* SPDX-License-Identifier: MIT */
/* local_res.c - the local driver's resource intelligence: learnt memory
 * estimates, the memory watch (reserve and critical levels), host-wide fair
 * sharing, and the timing statistics written to the store.
 *
 * Estimates.  One group per driver (local_options_t.group).  Jobs added
 * without a memory request follow the group's figure: whenever it changes
 * every such job's request is set again (sched_job_set_mem), capped at the
 * pool's memory so that a task can always run alone.  Each finished task
 * with a known peak (or, for tasks too short to sample, wait4's upper
 * bound) is a sample; a task killed for its hard limit or by a signal it
 * did not ask for bumps the group's floor instead (est.h).  Timeouts,
 * interruptions and critical-memory kills teach nothing.
 *
 * Multiplexing.  A task admitted against the estimate (no --mem) is
 * charged that estimate until it has settled: the sampler has found its
 * whole tree waiting (no member running, runnable or in uninterruptible
 * wait; a process starved of CPU does not grow either, so only a waiting
 * tree says something, and a task that computes all the time is never
 * multiplexed).  From then on it is charged its peak times
 * the group's learnt growth margin, and the rest ("slack") goes back to the
 * pool by raising its memory capacity above the budget by the same amount.
 * A task that has not settled is charged in full, so the budget holds as
 * long as settled tasks grow by no more than the margin.  The margin is
 * learnt: every task that settled and ended normally tells its final peak /
 * settled peak; the largest ratio seen (plus 5%) is the margin, and nothing
 * is multiplexed before MUX_MIN_SAMPLES tasks have told it, or when a group
 * grows by more than MUX_MAX_GROWTH after settling.  Should a task grow
 * anyway, the capacity shrinks at the next pass (no new starts) and the
 * critical-memory rule below is the backstop.
 *
 * Critical memory.  Checked on housekeeping (every 100 ms), acting on at
 * most one task per 200 ms so that MemAvailable can catch up: below the
 * critical level the youngest running task is suspended (its whole group
 * gets SIGSTOP) or killed and requeued; suspended tasks are resumed, most
 * recently suspended first, one per 500 ms, once MemAvailable is back at
 * or above max(reserve, 1.25 x critical).  Nothing new starts while a task
 * is suspended.
 *
 * Sharing.  The driver wants min(slots, pending + running) tasks' worth of
 * cores (a task counts its --cpus, else the CPU time per run time of the
 * tasks ended so far, at least 0.05 of a core), capped at the capacity
 * it divides, so an instance alone on the host is never throttled however
 * large its -j.  The granted fair share scales the wanted tasks down in
 * proportion: allowed = max(1, wanted x fair / want).  Running tasks are
 * never killed to shrink; the pump only stops starting new ones.
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
    MEMINFO_STALE_MS = 50,
    CRITICAL_EVERY_MS = 200,
    RESUME_EVERY_MS = 500,
    SHARE_MIN_GAP_MS = 20,
    PERSIST_EVERY_MS = 500,   /* the clocks, when nothing else changed */
};

/* Run time of ended tasks before their CPU use is trusted, and the least
 * share of a core a task is taken to want. */
#define SHARE_LEARN_RUN_S 0.2
#define SHARE_MIN_UTIL 0.05

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

uint64_t local__estimate_for_jobs(const local_t *l)
{
    if (!l->est)
        return 0;
    uint64_t def = l->o.mem_default_bytes ? l->o.mem_default_bytes
                                          : LOCAL_MEM_DEFAULT_BYTES;
    uint64_t e = est_table_estimate(l->est, l->o.group, def);
    uint64_t cap = l->mem_budget;
    if (cap && e > cap)
        e = cap;
    return e ? e : 1;
}

static void follow_estimate(local_t *l)
{
    uint64_t e = local__estimate_for_jobs(l);
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

/* ------------------------------------------------------- multiplexing */

enum {
    MUX_MIN_SAMPLES = 3,   /* tasks that told the growth ratio */
};
#define MUX_MAX_GROWTH 1.5
#define MUX_HEADROOM 1.05

bool local__mux_on(const local_t *l)
{
    return l->est && l->mem_budget && !l->o.mem_no_multiplex &&
           l->mux_samples >= MUX_MIN_SAMPLES &&
           l->mux_growth <= MUX_MAX_GROWTH;
}

static void mux_apply(local_t *l)
{
    res_capacity_t cap = *res_pool_capacity(l->pool);
    uint64_t want = l->mem_budget + l->mux_slack;
    if (cap.mem_bytes == want)
        return;
    cap.mem_bytes = want;
    if (res_pool_set_capacity(l->pool, &cap) < 0)
        l->internal++;
}

void local__mux_tick(local_t *l, int64_t now_ms)
{
    if (!l->est || !l->mem_budget)
        return;
    l->last_mux_ms = now_ms;
    bool on = local__mux_on(l);
    double margin = (l->mux_growth > 1.0 ? l->mux_growth : 1.0) *
                    MUX_HEADROOM;
    uint64_t total = 0;
    for (local__slot_t *s = l->run_head; s; s = s->next) {
        s->mux_slack = 0;
        const local__job_t *j = local__job_find(l, s->t.job_id);
        exec_mem_t m;
        if (!j || !j->auto_mem || exec_task_mem(l->exec, s, &m) < 0 ||
            m.samples < 1 || m.peak_bytes == 0 || m.busy)
            continue;
        if (!s->settled_peak)
            s->settled_peak = m.peak_bytes;
        double charge = (double)m.peak_bytes * margin;
        if (on && charge < (double)s->t.alloc.mem_bytes)
            s->mux_slack = s->t.alloc.mem_bytes - (uint64_t)charge;
        total += s->mux_slack;
    }
    l->mux_slack = total;
    mux_apply(l);
}

void local__mux_end(local_t *l, local__slot_t *st, const exec_result_t *res)
{
    if (st->mux_slack) {
        l->mux_slack -= st->mux_slack;
        st->mux_slack = 0;
        mux_apply(l);
    }
    bool normal = !res->spawn_failed && !res->timed_out &&
                  !res->interrupted && !res->mem_limited &&
                  !res->term_signal && !st->critical_killed;
    if (!normal || !st->settled_peak || !res->peak_rss_bytes)
        return;
    double ratio = (double)res->peak_rss_bytes / (double)st->settled_peak;
    if (ratio > l->mux_growth)
        l->mux_growth = ratio;
    l->mux_samples++;
}

static void save_group(local_t *l)
{
    est_stats_t st;
    if (est_table_get(l->est, l->o.group, &st) < 0)
        return;
    store_estimate_t row = {
        .group = l->o.group, .count = (int64_t)st.count,
        .mean_bytes = st.mean_bytes, .m2 = st.m2,
        .hwm_bytes = (int64_t)st.hwm_bytes,
        .floor_bytes = (int64_t)st.floor_bytes, .updated = util_wall_time(),
    };
    if (store_estimate_put(l->store, &row) < 0) {
        fprintf(stderr, "banyan: cannot record the memory estimate: %s\n",
                store_last_error(l->store));
        l->internal++;
    }
}

void local__learn(local_t *l, const local__slot_t *st,
                  const exec_result_t *res, bool unasked)
{
    if (!l->est || res->spawn_failed)
        return;
    uint64_t peak = res->peak_rss_bytes ? res->peak_rss_bytes
                                        : res->peak_rss_bound_bytes;
    if (peak > EST_MAX_BYTES)
        peak = EST_MAX_BYTES;
    int rc;
    if (res->mem_limited || unasked) {
        /* Cut short: what it reached is a lower bound of its need. */
        uint64_t seen = peak > st->t.alloc.mem_bytes ? peak
                                                     : st->t.alloc.mem_bytes;
        if (seen == 0)
            seen = l->est_now;
        rc = seen ? est_table_bump(l->est, l->o.group, seen) : -1;
    } else if (res->timed_out || res->interrupted || st->critical_killed ||
               peak == 0) {
        return;
    } else {
        rc = est_table_add(l->est, l->o.group, peak);
    }
    if (rc < 0)
        return;
    l->est_dirty = true; /* written with the next usage row */
    l->dirty = true;
    follow_estimate(l);
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
    if (strcmp(e->group, l->o.group) != 0)
        return 0; /* only our group matters here */
    banyan_error_t err = {{0}};
    if (est_table_set(l->est, e->group, &st, &err) < 0)
        fprintf(stderr, "banyan: ignoring the stored estimate of '%s': %s\n",
                e->group, err.text);
    return 0;
}

/* ---------------------------------------------------------- set-up */

int local__res_init(local_t *l, banyan_error_t *error)
{
    if (l->o.group) {
        if (!est_group_is_valid(l->o.group))
            return errprintf(error, "invalid group name '%s'", l->o.group);
        l->est = est_table_create();
        if (!l->est)
            return errprintf(error, "out of memory");
        if (store_estimates_foreach(l->store, restore_row, l) < 0)
            return errprintf(error, "cannot read the memory estimates: %s",
                             store_last_error(l->store));
        l->est_now = local__estimate_for_jobs(l);
    }
    if (l->o.share) {
        banyan_error_t err = {{0}};
        l->share = share_open(l->o.share_path, &err);
        if (!l->share) {
            /* Sharing is a courtesy to others: run without it. */
            fprintf(stderr, "banyan: not sharing the host: %s\n", err.text);
        } else {
            uint32_t cores = l->o.share_cpus ? l->o.share_cpus
                                             : (uint32_t)util_ncpus();
            l->share_cap.cpus_milli = (uint64_t)cores * RES_MILLI;
            l->share_cap.mem_bytes = res_pool_capacity(l->pool)->mem_bytes;
            share_set_capacity(l->share, &l->share_cap);
        }
    }
    return 0;
}

void local__res_fini(local_t *l)
{
    local__share_close(l);
    est_table_destroy(l->est);
    l->est = NULL;
}

/* ---------------------------------------------------------- memory watch */

void local__meminfo(local_t *l, int64_t now_ms)
{
    bool need = l->has_mem_free_jobs || l->o.mem_reserve_bytes ||
                l->o.mem_critical_bytes;
    if (!need || (l->mem_avail_known &&
                  now_ms - l->last_meminfo_ms < MEMINFO_STALE_MS))
        return;
    uint64_t avail;
    if (util_meminfo(NULL, &avail) == 0) {
        l->mem_avail = avail;
        l->mem_avail_known = true;
        res_pool_set_host_mem(l->pool, avail);
    }
    l->last_meminfo_ms = now_ms;
}

void local__unsuspend(local_t *l, local__slot_t *s)
{
    for (size_t i = 0; i < l->nsusp; i++) {
        if (l->susp[i] == s) {
            memmove(&l->susp[i], &l->susp[i + 1],
                    (l->nsusp - i - 1) * sizeof(*l->susp));
            l->nsusp--;
            break;
        }
    }
    s->suspended = false;
}

static int push_suspended(local_t *l, local__slot_t *s)
{
    if (l->nsusp == l->susp_cap) {
        size_t cap = l->susp_cap ? l->susp_cap * 2 : 8;
        local__slot_t **p = realloc(l->susp, cap * sizeof(*p));
        if (!p)
            return -1;
        l->susp = p;
        l->susp_cap = cap;
    }
    l->susp[l->nsusp++] = s;
    s->suspended = true;
    return 0;
}

void local__critical(local_t *l, int64_t now_ms)
{
    uint64_t crit = l->o.mem_critical_bytes;
    if (!crit || !l->mem_avail_known)
        return;
    char a[32], c[32];
    util_format_size(l->mem_avail, a, sizeof(a));
    util_format_size(crit, c, sizeof(c));
    if (l->mem_avail < crit) {
        if (now_ms - l->last_critical_ms < CRITICAL_EVERY_MS)
            return;
        local__slot_t *s = l->run_tail;
        while (s && (s->suspended || s->critical_killed))
            s = s->prev;
        if (!s)
            return;
        l->last_critical_ms = now_ms;
        if (l->o.on_critical == LOCAL_CRITICAL_KILL) {
            s->critical_killed = true;
            snprintf(s->t.why, sizeof(s->t.why), "host memory critical: "
                     "MemAvailable %s below %s", a, c);
            fprintf(stderr, "banyan: memory critical (%s available, below "
                    "%s): killing task %llu\n", a, c,
                    (unsigned long long)s->t.index + 1);
            (void)exec_signal(l->exec, s, SIGKILL);
            l->acc.critical_kills++;
        } else if (push_suspended(l, s) == 0) {
            fprintf(stderr, "banyan: memory critical (%s available, below "
                    "%s): suspending task %llu\n", a, c,
                    (unsigned long long)s->t.index + 1);
            (void)exec_signal(l->exec, s, SIGSTOP);
            l->acc.suspends++;
        }
        return;
    }
    if (l->nsusp == 0 || now_ms - l->last_critical_ms < RESUME_EVERY_MS)
        return;
    uint64_t resume_at = crit + crit / 4;
    if (l->o.mem_reserve_bytes > resume_at)
        resume_at = l->o.mem_reserve_bytes;
    if (l->mem_avail < resume_at)
        return;
    local__slot_t *s = l->susp[l->nsusp - 1];
    local__unsuspend(l, s);
    l->last_critical_ms = now_ms;
    fprintf(stderr, "banyan: memory back to %s: resuming task %llu\n", a,
            (unsigned long long)s->t.index + 1);
    (void)exec_signal(l->exec, s, SIGCONT);
}

/* ---------------------------------------------------------- sharing */

uint32_t local_allowed(const local_t *l)
{
    if (!l->share || l->share_slots >= l->o.slots)
        return l->o.slots;
    return l->share_slots ? l->share_slots : 1;
}

/* Milli-cpus one task counts for: its --cpus, else the cores the tasks
 * that ended so far kept busy while they ran (CPU time / run time), at
 * least SHARE_MIN_UTIL.  A sleeping task wants (almost) no core, so an
 * instance of such tasks leaves the cores to others without being
 * throttled itself.  Until SHARE_LEARN_RUN_S of task run time has been
 * measured, a task claims only SHARE_MIN_UTIL: an instance claims what it
 * was seen to use, not what it might use (claiming a core per slot up
 * front throttled instances of sleeping tasks for nothing). */
static uint64_t task_mcpu(const local_t *l)
{
    for (size_t i = 0; i < l->njobs; i++)
        if (l->jobs[i].req.cpus_milli)
            return l->jobs[i].req.cpus_milli;
    if (l->fin_run_s < SHARE_LEARN_RUN_S)
        return (uint64_t)(SHARE_MIN_UTIL * RES_MILLI);
    double util = l->fin_cpu_s / l->fin_run_s;
    if (util < SHARE_MIN_UTIL)
        util = SHARE_MIN_UTIL;
    if (util > 1024)
        util = 1024;
    return (uint64_t)(util * RES_MILLI + 0.5);
}

void local__share_tick(local_t *l, int64_t now_ms, bool force)
{
    if (!l->share)
        return;
    sched_stats_t s;
    sched_get_stats(l->sched, &s);
    uint64_t wanted = s.pending + s.running;
    if (wanted > l->o.slots)
        wanted = l->o.slots;
    if (!force && now_ms - l->last_share_ms < SHARE_MIN_GAP_MS)
        return;
    if (!force && wanted == l->share_wanted &&
        now_ms - l->last_share_ms < LOCAL_SHARE_EVERY_MS)
        return;
    uint64_t per = task_mcpu(l);
    share_amount_t want = {.cpus_milli = wanted * per,
                           .mem_bytes = wanted * l->est_now};
    if (want.cpus_milli > l->share_cap.cpus_milli)
        want.cpus_milli = l->share_cap.cpus_milli;
    if (want.mem_bytes > l->share_cap.mem_bytes)
        want.mem_bytes = l->share_cap.mem_bytes;
    res_usage_t u;
    res_pool_usage(l->pool, &u);
    share_amount_t hold = {.cpus_milli = l->running * per,
                           .mem_bytes = u.mem_bytes};
    share_grant_t g;
    banyan_error_t err = {{0}};
    l->last_share_ms = now_ms;
    if (share_update(l->share, &want, &hold, &g, &err) < 0) {
        if (!l->share_warned)
            fprintf(stderr, "banyan: cannot update the share file (keeping "
                    "the last share): %s\n", err.text);
        l->share_warned = true;
        return;
    }
    l->share_wanted = (uint32_t)wanted;
    if (want.cpus_milli == 0 || g.fair.cpus_milli >= want.cpus_milli) {
        l->share_slots = l->o.slots;
    } else {
        uint64_t n = wanted * g.fair.cpus_milli / want.cpus_milli;
        l->share_slots = n ? (uint32_t)n : 1;
    }
}

void local__share_close(local_t *l)
{
    share_close(l->share);
    l->share = NULL;
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
    l->acc.capacity_s += local_allowed(l) * dt;
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
    *u = (store_usage_t){
        .kind = l->usage_kind ? l->usage_kind : "run",
        .ref_id = l->usage_ref, .engine = l->host, .group = l->o.group,
        .score = l->score > 0 ? l->score : b->score,
        .slots = l->o.slots, .sessions = b->sessions + 1,
        .wall_s = b->wall_s + a->wall_s,
        .capacity_s = b->capacity_s + a->capacity_s,
        .busy_s = b->busy_s + a->busy_s,
        .active_s = b->active_s + a->active_s,
        .wait_s = b->wait_s + a->wait_s, .cpu_s = b->cpu_s + a->cpu_s,
        .tasks = b->tasks + a->tasks, .requeued = b->requeued + a->requeued,
        .limit_kills = b->limit_kills + a->limit_kills,
        .suspends = b->suspends + a->suspends,
        .critical_kills = b->critical_kills + a->critical_kills,
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
        fprintf(stderr, "banyan: cannot record statistics: %s\n",
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
    return l->est ? l->est_now : 0;
}

double local_score(const local_t *l)
{
    return l->score;
}

unsigned local_suspended(const local_t *l)
{
    return (unsigned)l->nsusp;
}
