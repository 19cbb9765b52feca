/* SPDX-License-Identifier: MIT */
/* engine_mem.c - the engine's resource intelligence: learnt memory
 * estimates, the memory watch (reserve and critical levels), statistical
 * multiplexing and host-wide fair sharing.  The same in local mode and on
 * a cluster worker (docs/resources.md).
 *
 * Estimates.  A task started without a memory request is charged its
 * group's estimate (engine_estimate: est_table_estimate capped at the
 * memory tasks may be charged).  Each finished task with a known peak (or,
 * for tasks too short to sample, wait4's upper bound) is a sample; a task
 * killed for its hard limit or by a signal it did not ask for bumps the
 * group's floor instead (est.h).  Timeouts, interruptions and
 * critical-memory kills teach nothing.  ops->learnt tells the caller, who
 * may persist the row (local mode writes it to the store).
 *
 * Multiplexing.  A task charged its estimate is charged that until it has
 * settled: the sampler has found its whole tree waiting (no member
 * running, runnable or in uninterruptible wait; a process starved of CPU
 * does not grow either, so only a waiting tree says something, and a task
 * that computes all the time is never multiplexed).  From then on it is
 * charged its peak times the learnt growth margin, and the rest ("slack")
 * goes back: the memory tasks may be charged rises by the same amount
 * (ops->capacity).  The margin is learnt: every task that settled and
 * ended normally tells its final peak / settled peak; the largest ratio
 * seen (plus 5%) is the margin, and nothing is multiplexed before
 * MUX_MIN_SAMPLES tasks have told it, or when tasks grow by more than
 * MUX_MAX_GROWTH after settling.  The critical-memory rule is the
 * backstop.
 *
 * Critical memory.  Checked on housekeeping (every 100 ms), acting on at
 * most one task per 200 ms so that MemAvailable can catch up: below the
 * critical level the youngest running task is suspended (its whole group
 * gets SIGSTOP) or killed (the caller requeues it); suspended tasks are
 * resumed, most recently suspended first, one per 500 ms, once
 * MemAvailable is back at or above max(reserve, 1.25 x critical).  The
 * gate lets nothing start while a task is suspended.
 *
 * Sharing.  The engine wants min(slots, what the caller could run) tasks'
 * worth of cores (a task counts its --cpus, else the CPU time per run
 * time of the tasks ended so far, at least 0.05 of a core), capped at the
 * capacity it divides, so an instance alone on the host is never
 * throttled however large its slots.  The granted fair share scales the
 * wanted tasks down in proportion: allowed = max(1, wanted x fair / want).
 * Running tasks are never killed to shrink; the gate only stops starts.
 * An engine that has not had a grant yet starts one task at a time (its
 * first want updates the file at once), and one beside others that wants
 * more than at its last update waits for the next (the next loop
 * iteration at least SHARE_MIN_GAP_MS after it; the housekeeping wakes it
 * within 100 ms while tasks run) instead of starting beyond its share.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_private.h"
#include "res/res.h"
#include "util/util.h"

enum {
    MEMINFO_STALE_MS = 50,
    CRITICAL_EVERY_MS = 200,
    RESUME_EVERY_MS = 500,
    SHARE_MIN_GAP_MS = 20,
    MUX_MIN_SAMPLES = 3,   /* tasks that told the growth ratio */
};
#define MUX_MAX_GROWTH 1.5
#define MUX_HEADROOM 1.05

/* Run time of ended tasks before their CPU use is trusted, and the least
 * share of a core a task is taken to want. */
#define SHARE_LEARN_RUN_S 0.2
#define SHARE_MIN_UTIL 0.05

/* ---------------------------------------------------------- estimates */

static const char *group_of(const engine_t *e, const char *group)
{
    return group ? group : e->o.group;
}

uint64_t engine_estimate(const engine_t *e, const char *group)
{
    group = group_of(e, group);
    if (!e->est || !group)
        return 0;
    uint64_t def = e->o.mem_default_bytes ? e->o.mem_default_bytes
                                          : ENGINE_MEM_DEFAULT_BYTES;
    uint64_t v = est_table_estimate(e->est, group, def);
    if (e->mem_budget && v > e->mem_budget)
        v = e->mem_budget;
    return v ? v : 1;
}

void engine__learn(engine_t *e, const engine_task_t *t,
                   const exec_result_t *res, bool unasked)
{
    const char *group = group_of(e, t->group);
    if (!e->est || !group || res->spawn_failed)
        return;
    uint64_t peak = res->peak_rss_bytes ? res->peak_rss_bytes
                                        : res->peak_rss_bound_bytes;
    if (peak > EST_MAX_BYTES)
        peak = EST_MAX_BYTES;
    int rc;
    if (res->mem_limited || unasked) {
        /* Cut short: what it reached is a lower bound of its need. */
        uint64_t seen = peak > t->charge ? peak : t->charge;
        if (seen == 0)
            seen = engine_estimate(e, group);
        rc = seen ? est_table_bump(e->est, group, seen) : -1;
    } else if (res->timed_out || res->interrupted || t->critical_killed ||
               t->interrupting || peak == 0) {
        return;
    } else {
        rc = est_table_add(e->est, group, peak);
    }
    if (rc == 0 && e->ops->learnt)
        e->ops->learnt(e, group, e->arg);
}

void engine_group_name(const char *command, char *buf, size_t size)
{
    if (strlen(command) < size && est_group_is_valid(command)) {
        snprintf(buf, size, "%s", command);
        return;
    }
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = command; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(buf, size, "cmd:%016llx", (unsigned long long)h);
}

/* ------------------------------------------------------- multiplexing */

bool engine__mux_on(const engine_t *e)
{
    return e->est && e->mem_budget && !e->o.mem_no_multiplex &&
           e->mux_samples >= MUX_MIN_SAMPLES &&
           e->mux_growth <= MUX_MAX_GROWTH;
}

static void mux_apply(engine_t *e, uint64_t slack)
{
    if (slack == e->mux_slack)
        return;
    e->mux_slack = slack;
    if (e->ops->capacity)
        e->ops->capacity(e, e->mem_budget + e->mux_slack, e->arg);
}

void engine__mux_tick(engine_t *e, int64_t now_ms)
{
    if (!e->est || !e->mem_budget)
        return;
    e->last_mux_ms = now_ms;
    bool on = engine__mux_on(e);
    double margin = (e->mux_growth > 1.0 ? e->mux_growth : 1.0) *
                    MUX_HEADROOM;
    uint64_t total = 0;
    for (engine_task_t *t = e->run_head; t; t = t->next) {
        t->mux_slack = 0;
        exec_mem_t m;
        if (!t->auto_mem || exec_task_mem(e->exec, t, &m) < 0 ||
            m.samples < 1 || m.peak_bytes == 0 || m.busy)
            continue;
        if (!t->settled_peak)
            t->settled_peak = m.peak_bytes;
        double charge = (double)m.peak_bytes * margin;
        if (on && charge < (double)t->charge)
            t->mux_slack = t->charge - (uint64_t)charge;
        total += t->mux_slack;
    }
    mux_apply(e, total);
}

void engine__mux_end(engine_t *e, engine_task_t *t, const exec_result_t *res)
{
    if (t->mux_slack) {
        uint64_t slack = e->mux_slack - t->mux_slack;
        t->mux_slack = 0;
        mux_apply(e, slack);
    }
    bool normal = !res->spawn_failed && !res->timed_out &&
                  !res->interrupted && !res->mem_limited &&
                  !res->term_signal && !t->critical_killed;
    if (!normal || !t->settled_peak || !res->peak_rss_bytes)
        return;
    double ratio = (double)res->peak_rss_bytes / (double)t->settled_peak;
    if (ratio > e->mux_growth)
        e->mux_growth = ratio;
    e->mux_samples++;
}

/* ---------------------------------------------------------- memory watch */

void engine__meminfo(engine_t *e, int64_t now_ms)
{
    /* Only while there is work: idle engines read nothing. */
    bool need = (e->est || e->o.mem_reserve_bytes || e->o.mem_critical_bytes)
                && (e->running > 0 || e->want_tasks > 0);
    if (!need || (e->mem_avail_known &&
                  now_ms - e->last_meminfo_ms < MEMINFO_STALE_MS))
        return;
    uint64_t avail;
    if (util_meminfo(NULL, &avail) == 0) {
        e->mem_avail = avail;
        e->mem_avail_known = true;
    }
    e->last_meminfo_ms = now_ms;
}

void engine__unsuspend(engine_t *e, engine_task_t *t)
{
    for (size_t i = 0; i < e->nsusp; i++) {
        if (e->susp[i] == t) {
            memmove(&e->susp[i], &e->susp[i + 1],
                    (e->nsusp - i - 1) * sizeof(*e->susp));
            e->nsusp--;
            break;
        }
    }
    t->suspended = false;
}

static int push_suspended(engine_t *e, engine_task_t *t)
{
    if (util_grow((void **)&e->susp, &e->susp_cap, e->nsusp + 1,
                  sizeof(*e->susp)) < 0)
        return -1;
    e->susp[e->nsusp++] = t;
    t->suspended = true;
    return 0;
}

void engine__critical(engine_t *e, int64_t now_ms)
{
    uint64_t crit = e->o.mem_critical_bytes;
    if (!crit || !e->mem_avail_known)
        return;
    char a[32], c[32];
    util_format_size(e->mem_avail, a, sizeof(a));
    util_format_size(crit, c, sizeof(c));
    if (e->mem_avail < crit) {
        if (now_ms - e->last_critical_ms < CRITICAL_EVERY_MS)
            return;
        engine_task_t *t = e->run_tail;
        while (t && (t->suspended || t->critical_killed || t->interrupting))
            t = t->prev;
        if (!t)
            return;
        e->last_critical_ms = now_ms;
        if (e->o.on_critical == ENGINE_CRITICAL_KILL) {
            t->critical_killed = true;
            snprintf(t->why, sizeof(t->why), "host memory critical: "
                     "MemAvailable %s below %s", a, c);
            engine__log(e, "memory critical (%s available, below %s): "
                        "killing task %llu of job %u", a, c,
                        (unsigned long long)t->index + 1, t->job_id);
            (void)exec_signal(e->exec, t, SIGKILL);
            e->st.critical_kills++;
        } else if (push_suspended(e, t) == 0) {
            engine__log(e, "memory critical (%s available, below %s): "
                        "suspending task %llu of job %u", a, c,
                        (unsigned long long)t->index + 1, t->job_id);
            (void)exec_signal(e->exec, t, SIGSTOP);
            e->st.suspends++;
        }
        return;
    }
    if (e->nsusp == 0 || now_ms - e->last_critical_ms < RESUME_EVERY_MS)
        return;
    uint64_t resume_at = crit + crit / 4;
    if (e->o.mem_reserve_bytes > resume_at)
        resume_at = e->o.mem_reserve_bytes;
    if (e->mem_avail < resume_at)
        return;
    engine_task_t *t = e->susp[e->nsusp - 1];
    engine__unsuspend(e, t);
    e->last_critical_ms = now_ms;
    engine__log(e, "memory back to %s: resuming task %llu of job %u", a,
                (unsigned long long)t->index + 1, t->job_id);
    (void)exec_signal(e->exec, t, SIGCONT);
}

/* ---------------------------------------------------------- sharing */

/* Milli-cpus one task counts for: its --cpus, else the cores the tasks
 * that ended so far kept busy while they ran (CPU time / run time), at
 * least SHARE_MIN_UTIL.  A sleeping task wants (almost) no core, so an
 * instance of such tasks leaves the cores to others without being
 * throttled itself.  Until SHARE_LEARN_RUN_S of task run time has been
 * measured, a task claims only SHARE_MIN_UTIL: an instance claims what it
 * was seen to use, not what it might use. */
static uint64_t task_mcpu(const engine_t *e)
{
    if (e->want_mcpu)
        return e->want_mcpu;
    if (e->fin_run_s < SHARE_LEARN_RUN_S)
        return (uint64_t)(SHARE_MIN_UTIL * RES_MILLI);
    double util = e->fin_cpu_s / e->fin_run_s;
    if (util < SHARE_MIN_UTIL)
        util = SHARE_MIN_UTIL;
    if (util > 1024)
        util = 1024;
    return (uint64_t)(util * RES_MILLI + 0.5);
}

void engine__share_tick(engine_t *e, int64_t now_ms)
{
    if (!e->share)
        return;
    uint64_t wanted = e->want_tasks > e->running ? e->want_tasks
                                                 : e->running;
    if (wanted > e->o.slots)
        wanted = e->o.slots;
    if (now_ms - e->last_share_ms < SHARE_MIN_GAP_MS)
        return;
    if (wanted == e->share_wanted &&
        (wanted == 0 || now_ms - e->last_share_ms < ENGINE_SHARE_EVERY_MS))
        return; /* an idle record may go stale: it wants nothing */
    uint64_t per = task_mcpu(e);
    share_amount_t want = {.cpus_milli = wanted * per,
                           .mem_bytes = wanted * engine_estimate(e, NULL)};
    if (want.cpus_milli > e->share_cap.cpus_milli)
        want.cpus_milli = e->share_cap.cpus_milli;
    if (want.mem_bytes > e->share_cap.mem_bytes)
        want.mem_bytes = e->share_cap.mem_bytes;
    share_amount_t hold = {.cpus_milli = e->running * per,
                           .mem_bytes = e->charged};
    share_grant_t g;
    banyan_error_t err = {{0}};
    e->last_share_ms = now_ms;
    if (share_update(e->share, &want, &hold, &g, &err) < 0) {
        if (!e->share_warned)
            engine__log(e, "cannot update the share file (keeping the last "
                        "share): %s", err.text);
        e->share_warned = true;
        return;
    }
    e->share_wanted = (uint32_t)wanted;
    /* Throttled: what was asked for, scaled by the grant.  Not throttled:
     * alone on the host, every slot (the want was capped at the capacity,
     * so an instance alone is never held back); beside others, what it
     * asked, so that a burst of new work waits for the next update
     * instead of starting beyond the share. */
    uint64_t n = wanted;
    if (want.cpus_milli > 0 && g.fair.cpus_milli < want.cpus_milli)
        n = wanted * g.fair.cpus_milli / want.cpus_milli;
    else if (g.ninstances <= 1)
        n = e->o.slots;
    e->share_slots = n ? (uint32_t)n : 1;
}

void engine__share_close(engine_t *e)
{
    share_close(e->share);
    e->share = NULL;
}

/* ---------------------------------------------------------- set-up */

int engine__mem_init(engine_t *e, banyan_error_t *error)
{
    if (e->o.learn) {
        if (e->o.group && !est_group_is_valid(e->o.group))
            return errprintf(error, "invalid group name '%s'", e->o.group);
        e->est = est_table_create();
        if (!e->est)
            return errprintf(error, "out of memory");
    }
    if (e->o.share) {
        banyan_error_t err = {{0}};
        e->share = share_open(e->o.share_path, &err);
        if (!e->share) {
            /* Sharing is a courtesy to others: run without it. */
            engine__log(e, "not sharing the host: %s", err.text);
        } else {
            uint32_t cores = e->o.share_cpus ? e->o.share_cpus
                                             : (uint32_t)util_ncpus();
            e->share_cap.cpus_milli = (uint64_t)cores * RES_MILLI;
            e->share_cap.mem_bytes = e->mem_budget;
            share_set_capacity(e->share, &e->share_cap);
        }
    }
    return 0;
}

void engine__mem_fini(engine_t *e)
{
    engine__share_close(e);
    est_table_destroy(e->est);
    e->est = NULL;
}
