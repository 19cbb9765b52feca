/* SPDX-License-Identifier: MIT */
/* test_sched.c - the scheduler core driven by hand and by simulation.
 *
 * The core reads no clock: the tests pass simulated milliseconds to
 * sched_step and end tasks with sched_task_done, so every scenario,
 * including starvation and engine loss, is deterministic (the randomized
 * simulation prints its seed).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sched/sched.h"
#include "tap.h"

#define GIB (UINT64_C(1) << 30)

static res_pool_t *make_pool(uint32_t slots, int ngpus)
{
    res_capacity_t c;
    memset(&c, 0, sizeof(c));
    c.slots = slots;
    c.cpus_milli = 16000;
    c.mem_bytes = 64 * GIB;
    c.ngpus = ngpus;
    for (int i = 0; i < ngpus; i++)
        c.gpus[i].index = i;
    return res_pool_create(&c);
}

static sched_job_t make_job(uint32_t id, int prio, uint32_t gpus_milli)
{
    sched_job_t j;
    memset(&j, 0, sizeof(j));
    j.id = id;
    j.priority = prio;
    j.req.slots = 1;
    j.req.gpus_milli = gpus_milli;
    j.max_attempts = 1;
    return j;
}

/* Run one step and return the single START it produced (or type 0). */
static sched_action_t step1(sched_t *s, int64_t now)
{
    sched_action_t a;
    memset(&a, 0, sizeof(a));
    if (sched_step(s, now, &a, 1) != 1)
        memset(&a, 0, sizeof(a));
    return a;
}

static void test_queue_order(void)
{
    sched_t *s = sched_create(NULL);
    ok(sched_engine_add(s, 1, make_pool(1, 0)) == 0, "engine added");
    sched_job_t a = make_job(1, 0, 0), b = make_job(2, 5, 0),
                c = make_job(3, 5, 0);
    ok(sched_job_add(s, &a) == 0 && sched_job_add(s, &c) == 0
       && sched_job_add(s, &b) == 0, "three jobs added (out of order)");
    sched_job_add_tasks(s, 1, 0, 2);
    sched_job_add_tasks(s, 2, 0, 2);
    sched_job_add_tasks(s, 3, 0, 2);
    uint32_t want_job[] = {2, 2, 3, 3, 1, 1};
    uint64_t want_idx[] = {0, 1, 0, 1, 0, 1};
    bool order = true;
    for (int i = 0; i < 6; i++) {
        sched_action_t act[4];
        int n = sched_step(s, 0, act, 4);
        if (n != 1 || act[0].type != SCHED_ACT_START
            || act[0].job_id != want_job[i] || act[0].index != want_idx[i]) {
            order = false;
            diag("step %d: n=%d job %u index %llu", i, n, act[0].job_id,
                 (unsigned long long)act[0].index);
            break;
        }
        sched_task_done(s, act[0].job_id, act[0].index, SCHED_OK);
    }
    ok(order, "higher priority first, then lower id, then task index");
    sched_action_t act[4];
    is_int(sched_step(s, 0, act, 4), 0, "nothing left to start");
    sched_stats_t st;
    sched_get_stats(s, &st);
    ok(st.started == 6 && st.pending == 0 && st.running == 0 && st.jobs == 3
       && st.engines == 1, "stats count 6 started, none pending");

    /* Ranges with holes and overlaps, started in ascending order. */
    sched_job_t d = make_job(4, 0, 0);
    sched_job_add(s, &d);
    sched_job_add_tasks(s, 4, 10, 2);
    sched_job_add_tasks(s, 4, 0, 3);
    sched_job_add_tasks(s, 4, 2, 3);
    is_int(sched_job_pending(s, 4), 7, "overlapping ranges count once");
    uint64_t want[] = {0, 1, 2, 3, 4, 10, 11};
    bool asc = true;
    for (int i = 0; i < 7; i++) {
        sched_action_t x = step1(s, 0);
        asc &= x.type == SCHED_ACT_START && x.index == want[i];
        sched_task_done(s, 4, x.index, SCHED_OK);
    }
    ok(asc, "tasks 0-4 then 10-11 start in ascending order");
    sched_destroy(s);
}

static void test_errors(void)
{
    sched_t *s = sched_create(NULL);
    sched_job_t a = make_job(1, 0, 0);
    ok(sched_job_add(s, &a) == 0, "job added");
    errno = 0;
    ok(sched_job_add(s, &a) < 0 && errno == EEXIST, "same id: EEXIST");
    sched_job_t bad = make_job(2, 0, 1500);
    errno = 0;
    ok(sched_job_add(s, &bad) < 0 && errno == EINVAL,
       "1.5 gpus is refused with EINVAL");
    errno = 0;
    ok(sched_job_add_tasks(s, 9, 0, 1) < 0 && errno == ENOENT,
       "tasks for an unknown job: ENOENT");
    ok(sched_engine_add(s, 1, make_pool(2, 0)) == 0, "engine 1 added");
    errno = 0;
    ok(sched_engine_add(s, 1, make_pool(2, 0)) < 0 && errno == EEXIST,
       "engine 1 again: EEXIST (the pool is freed)");
    errno = 0;
    ok(sched_engine_remove(s, 7) < 0 && errno == ENOENT,
       "removing an unknown engine: ENOENT");
    ok(sched_engine_pool(s, 1) != NULL, "engine pool is reachable");
    errno = 0;
    ok(sched_engine_pool(s, 7) == NULL && errno == ENOENT,
       "no pool for an unknown engine");
    errno = 0;
    ok(sched_task_done(s, 1, 0, SCHED_OK) < 0 && errno == ENOENT,
       "ending a task that is not running: ENOENT");
    ok(sched_job_remove(s, 1) == 0, "an empty job is removed");
    errno = 0;
    ok(sched_job_remove(s, 1) < 0 && errno == ENOENT, "and is gone");
    sched_destroy(s);
}

static void test_retries(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(1, 0));
    sched_job_t j = make_job(1, 0, 0);
    j.max_attempts = 3;
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 2);
    sched_action_t x = step1(s, 0);
    ok(x.index == 0 && x.attempt == 1, "task 0, attempt 1");
    is_int(sched_task_done(s, 1, 0, SCHED_FAILED), 1,
           "a failure with attempts left is requeued");
    x = step1(s, 0);
    ok(x.index == 0 && x.attempt == 2,
       "the requeued task runs before task 1, as attempt 2");
    is_int(sched_task_done(s, 1, 0, SCHED_FAILED), 1, "fails again");
    x = step1(s, 0);
    ok(x.index == 0 && x.attempt == 3, "attempt 3");
    is_int(sched_task_done(s, 1, 0, SCHED_FAILED), 0,
           "the last attempt's failure is final");
    x = step1(s, 0);
    ok(x.index == 1 && x.attempt == 1, "then task 1");
    is_int(sched_task_done(s, 1, 1, SCHED_FINAL), 0,
           "a FINAL end is never retried");
    sched_stats_t st;
    sched_get_stats(s, &st);
    ok(st.requeued == 2 && st.started == 4 && st.pending == 0,
       "stats: 2 requeued, 4 started");
    sched_destroy(s);
}

static void test_infeasible(void)
{
    sched_t *s = sched_create(NULL);
    sched_job_t big = make_job(1, 0, 5000), ok1 = make_job(2, 0, 1000);
    sched_job_add(s, &big);
    sched_job_add(s, &ok1);
    sched_job_add_tasks(s, 1, 0, 100);
    sched_job_add_tasks(s, 2, 0, 1);
    sched_action_t act[8];
    is_int(sched_step(s, 0, act, 8), 0,
           "without engines nothing starts and nothing is dropped");
    is_int(sched_job_pending(s, 1), 100, "the 5-GPU job still waits");
    sched_engine_add(s, 1, make_pool(4, 4));
    int n = sched_step(s, 0, act, 8);
    ok(n == 2 && act[0].type == SCHED_ACT_INFEASIBLE && act[0].job_id == 1
       && act[0].dropped == 100, "a 5-GPU job on a 4-GPU engine is "
       "infeasible and its 100 tasks are dropped");
    is_str(act[0].reason, "needs 5 gpus, engine has 4", "reason names it");
    ok(n == 2 && act[1].type == SCHED_ACT_START && act[1].job_id == 2,
       "the feasible job behind it starts");
    is_int(sched_step(s, 0, act, 8), 0, "INFEASIBLE is reported once");
    is_int(sched_job_pending(s, 1), 0, "nothing pending for it");
    sched_destroy(s);
}

static void test_engine_loss(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(2, 0));
    sched_engine_add(s, 2, make_pool(2, 0));
    sched_job_t j = make_job(1, 0, 0);
    j.max_attempts = 1;
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 6);
    sched_action_t act[8];
    int n = sched_step(s, 0, act, 8);
    int on1 = 0, on2 = 0;
    for (int i = 0; i < n; i++) {
        if (act[i].engine_id == 1)
            on1++;
        else
            on2++;
    }
    ok(n == 4 && on1 == 2 && on2 == 2,
       "two engines share the load: 2 tasks each");
    ok(sched_engine_remove(s, 1) == 0, "engine 1 is lost");
    is_int(sched_job_pending(s, 1), 4, "its 2 tasks are pending again");
    is_int(sched_job_running(s, 1), 2, "2 still run on engine 2");
    sched_stats_t st;
    sched_get_stats(s, &st);
    ok(st.requeued == 2 && st.engines == 1, "counted as requeued");
    uint64_t lost_idx = 0;
    for (int i = 0; i < n; i++)
        if (act[i].engine_id == 1)
            lost_idx = act[i].index;
    errno = 0;
    ok(sched_task_done(s, 1, lost_idx, SCHED_OK) < 0 && errno == ENOENT,
       "a late report from the lost engine is refused");
    for (int i = 0; i < n; i++)
        if (act[i].engine_id == 2)
            sched_task_done(s, 1, act[i].index, SCHED_OK);
    sched_action_t r[8];
    n = sched_step(s, 0, r, 8);
    ok(n == 2 && r[0].engine_id == 2 && r[1].engine_id == 2,
       "requeued tasks start on the remaining engine");
    ok(n == 2 && r[0].attempt == 1 && r[0].lost == 1 && r[1].lost == 1,
       "a lost run does not count as an attempt but as a loss");
    bool first = false;
    for (int i = 0; i < n; i++)
        first |= r[i].index == lost_idx;
    ok(first, "the lost tasks go before the untouched ones");
    sched_destroy(s);
}

static void test_cancel(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(2, 0));
    sched_job_t j = make_job(1, 0, 0);
    j.max_attempts = 5;
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 10);
    sched_action_t act[4];
    is_int(sched_step(s, 0, act, 4), 2, "two tasks start");
    ok(sched_job_cancel(s, 1) == 0, "cancel");
    is_int(sched_job_pending(s, 1), 0, "pending tasks are dropped");
    is_int(sched_job_running(s, 1), 2, "running tasks stay");
    errno = 0;
    ok(sched_job_remove(s, 1) < 0 && errno == EBUSY,
       "a job with running tasks cannot be removed");
    is_int(sched_task_done(s, 1, act[0].index, SCHED_FAILED), 0,
           "a cancelled job's failed task is not retried");
    sched_task_done(s, 1, act[1].index, SCHED_OK);
    is_int(sched_step(s, 0, act, 4), 0, "nothing starts");
    ok(sched_job_remove(s, 1) == 0, "then the job can be removed");
    sched_stats_t st;
    sched_get_stats(s, &st);
    ok(st.jobs == 0 && st.pending == 0 && st.running == 0, "all gone");
    sched_destroy(s);
}

static void test_explain(void)
{
    sched_t *s = sched_create(NULL);
    char buf[200];
    sched_job_t j = make_job(1, 0, 2000);
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 3);
    is_str(sched_explain(s, 1, 0, buf, sizeof(buf)),
           "pending: no engine has joined yet", "no engines");
    sched_engine_add(s, 1, make_pool(4, 2));
    is_str(sched_explain(s, 1, 0, buf, sizeof(buf)),
           "pending: fits now on engine 1, starts at the next step",
           "a task that fits");
    sched_action_t act[4];
    is_int(sched_step(s, 0, act, 4), 1, "one 2-GPU task starts");
    is_str(sched_explain(s, 1, 0, buf, sizeof(buf)),
           "running on engine 1 (attempt 1)", "running task");
    is_str(sched_explain(s, 1, 1, buf, sizeof(buf)),
           "pending: gpus: needs 2 free, 0 of 2 free on engine 1",
           "a waiting task names the short resource and the engine");
    is_str(sched_explain(s, 1, 7, buf, sizeof(buf)), "not pending",
           "an index that was never added");
    is_str(sched_explain(s, 9, 0, buf, sizeof(buf)), "unknown job 9",
           "an unknown job");
    sched_job_t big = make_job(2, 0, 3000);
    sched_job_add(s, &big);
    sched_job_add_tasks(s, 2, 0, 1);
    is_str(sched_explain(s, 2, 0, buf, sizeof(buf)),
           "pending: never fits: needs 3 gpus, engine has 2",
           "a task no engine can run");
    sched_destroy(s);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void test_big_job_memory(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(4, 0));
    sched_job_t j = make_job(1, 0, 0);
    sched_job_add(s, &j);
    size_t before = heap_in_use();
    ok(sched_job_add_tasks(s, 1, 0, 10000000) == 0,
       "a job of 10 million tasks is added");
    size_t after = heap_in_use();
    if (before == 0 && after == 0)
        diag("mallinfo2 reports nothing here (sanitizer?): skipping size");
    ok(after - before < 4096,
       "adding 10M pending tasks costs %zu bytes (< 4 KiB)", after - before);
    sched_stats_t st;
    sched_get_stats(s, &st);
    ok(st.pending == 10000000 && st.running == 0, "stats show 10M pending");
    sched_action_t act[8];
    int n = sched_step(s, 0, act, 8);
    ok(n == 4 && act[0].index == 0 && act[3].index == 3,
       "the first 4 tasks start in order");
    for (int i = 0; i < n; i++)
        sched_task_done(s, 1, act[i].index, SCHED_OK);
    n = sched_step(s, 0, act, 8);
    ok(n == 4 && act[0].index == 4, "then the next 4");
    sched_get_stats(s, &st);
    ok(st.pending == 10000000 - 8 && st.running == 4,
       "stats: 9,999,992 pending, 4 running");
    is_int(sched_job_pending(s, 1), 10000000 - 8, "job pending agrees");
    sched_destroy(s);
}

static void test_backfill(void)
{
    sched_config_t cfg;
    sched_config_default(&cfg);
    sched_t *s = sched_create(&cfg);
    sched_engine_add(s, 1, make_pool(8, 4));
    sched_job_t small = make_job(1, 0, 1000), big = make_job(2, 0, 4000),
                later = make_job(3, 0, 1000);
    sched_job_add(s, &small);
    sched_job_add(s, &big);
    sched_job_add(s, &later);
    sched_job_add_tasks(s, 1, 0, 2);
    sched_job_add_tasks(s, 2, 0, 1);
    sched_job_add_tasks(s, 3, 0, 1);
    sched_action_t act[8];
    int n = sched_step(s, 0, act, 8);
    ok(n == 3 && act[2].job_id == 3,
       "a 1-GPU job backfills around the blocked 4-GPU job");
    ok(!res_pool_has_hold(sched_engine_pool(s, 1)),
       "no hold before the head starves");
    n = sched_step(s, 999, act, 8);
    ok(n == 0 && !res_pool_has_hold(sched_engine_pool(s, 1)),
       "no hold after 999 ms");
    n = sched_step(s, 1000, act, 8);
    ok(n == 0 && res_pool_has_hold(sched_engine_pool(s, 1)),
       "after starve_after_ms the head gets a hold");
    char buf[200];
    is_str(sched_explain(s, 2, 0, buf, sizeof(buf)),
           "pending: holding resources on engine 1 while they drain",
           "explain shows the hold");
    sched_job_add_tasks(s, 3, 1, 1);
    sched_task_done(s, 1, 0, SCHED_OK);
    sched_task_done(s, 1, 1, SCHED_OK);
    n = sched_step(s, 1000, act, 8);
    ok(n == 0, "with 3 GPUs free, the newer 1-GPU task may not take one");
    sched_task_done(s, 3, 0, SCHED_OK);
    n = sched_step(s, 1001, act, 8);
    ok(n == 1, "one task starts once GPUs drain");
    ok(n >= 1 && act[0].job_id == 2,
       "and it is the held 4-GPU job, not the newer 1-GPU task");
    ok(!res_pool_has_hold(sched_engine_pool(s, 1)),
       "the hold is cleared once the job starts");
    sched_destroy(s);
}

static void test_hold_engine(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(8, 4));
    sched_engine_add(s, 2, make_pool(8, 4));
    sched_job_t small = make_job(1, 0, 1000), big = make_job(2, 0, 4000);
    sched_job_add(s, &small);
    sched_job_add(s, &big);
    sched_job_add_tasks(s, 1, 0, 5);
    sched_job_add_tasks(s, 2, 0, 1);
    sched_action_t act[8];
    int n = sched_step(s, 0, act, 8);
    int on1 = 0;
    for (int i = 0; i < n; i++)
        on1 += act[i].engine_id == 1;
    ok(n == 5 && on1 == 3, "5 one-GPU tasks spread 3 + 2 over two engines");
    sched_step(s, 1000, act, 8);
    ok(res_pool_has_hold(sched_engine_pool(s, 2))
       && !res_pool_has_hold(sched_engine_pool(s, 1)),
       "the starving 4-GPU job holds the engine missing the fewest GPUs");
    sched_action_t x[8];
    bool ended = true;
    for (int i = 0; i < 5; i++)
        ended &= sched_task_done(s, 1, (uint64_t)i, SCHED_OK) == 0;
    ok(ended, "the five small tasks end");
    int m = sched_step(s, 1001, x, 8);
    ok(m == 1 && x[0].job_id == 2 && x[0].engine_id == 2,
       "the 4-GPU job then starts on the held engine");
    sched_destroy(s);
}

/* ------------------------------------------------------------ simulation */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static unsigned pick(unsigned n)
{
    return (unsigned)(rnd() % n);
}

typedef struct simtask {
    uint32_t job;
    uint64_t index;
    uint32_t engine;
    int64_t end_ms;
    res_alloc_t alloc;
} simtask_t;

/* Bounded wait: a stream of 1-GPU jobs keeps 4 GPUs busy; a 4-GPU job
 * arrives at t0.  Returns when it started, or -1 if not by t_end. */
static int64_t bounded_wait_run(const sched_config_t *cfg, int64_t t0,
                                int64_t t_end, int64_t max_dur,
                                bool *overlap)
{
    sched_t *s = sched_create(cfg);
    sched_engine_add(s, 1, make_pool(16, 4));
    simtask_t run[32];
    int nrun = 0;
    uint32_t next_id = 1;
    int in_system = 0;   /* small jobs pending or running */
    int64_t started_at = -1;
    bool big_added = false;
    uint32_t big_id = 0;
    *overlap = false;
    for (int64_t now = 0; now <= t_end; now++) {
        for (int i = 0; i < nrun;) {
            if (run[i].end_ms > now) {
                i++;
                continue;
            }
            sched_task_done(s, run[i].job, run[i].index, SCHED_OK);
            if (run[i].job != big_id)
                in_system--;
            run[i] = run[--nrun];
        }
        while (in_system < 5) {
            sched_job_t j = make_job(next_id, 0, 1000);
            sched_job_add(s, &j);
            sched_job_add_tasks(s, next_id, 0, 1);
            next_id++;
            in_system++;
        }
        if (!big_added && now >= t0) {
            big_id = next_id++;  /* submitted now: after earlier jobs */
            sched_job_t b = make_job(big_id, 0, 4000);
            sched_job_add(s, &b);
            sched_job_add_tasks(s, big_id, 0, 1);
            big_added = true;
        }
        sched_action_t act[16];
        int n;
        while ((n = sched_step(s, now, act, 16)) > 0) {
            for (int i = 0; i < n; i++) {
                if (act[i].type != SCHED_ACT_START)
                    continue;
                simtask_t *t = &run[nrun++];
                t->job = act[i].job_id;
                t->index = act[i].index;
                t->engine = act[i].engine_id;
                t->alloc = act[i].alloc;
                if (t->job == big_id) {
                    started_at = now;
                    t->end_ms = now + max_dur;
                } else {
                    t->end_ms = now + 1 + (int64_t)pick((unsigned)max_dur);
                }
            }
            if (n < 16)
                break;
        }
        uint64_t mask = 0;
        for (int i = 0; i < nrun; i++) {
            if (mask & run[i].alloc.gpu_mask)
                *overlap = true;
            mask |= run[i].alloc.gpu_mask;
        }
        if (started_at >= 0)
            break;
    }
    sched_destroy(s);
    return started_at;
}

static void test_bounded_wait(void)
{
    const int64_t t0 = 5000, dur = 500;
    sched_config_t cfg;
    sched_config_default(&cfg);
    cfg.starve_after_ms = 1000;
    cfg.starve_after_bypass = UINT32_MAX;
    bool overlap;
    int64_t start = bounded_wait_run(&cfg, t0, t0 + 60000, dur, &overlap);
    int64_t bound = t0 + cfg.starve_after_ms + dur + 1;
    ok(start >= 0, "the 4-GPU job starts amid a stream of 1-GPU jobs");
    ok(start >= 0 && start <= bound,
       "within starve_after_ms + the longest small task: waited %lld ms, "
       "bound %lld ms", (long long)(start - t0), (long long)(bound - t0));
    ok(!overlap, "no GPU was ever given to two tasks");

    cfg.starve_after_ms = INT64_MAX / 2;
    cfg.starve_after_bypass = 8;
    start = bounded_wait_run(&cfg, t0, t0 + 60000, dur, &overlap);
    ok(start >= 0 && start <= t0 + 9 * dur + 1,
       "the bypass count alone also bounds the wait (%lld ms)",
       (long long)(start - t0));

    cfg.starve_after_ms = INT64_MAX / 2;
    cfg.starve_after_bypass = UINT32_MAX;
    start = bounded_wait_run(&cfg, t0, t0 + 20000, dur, &overlap);
    ok(start < 0, "without the hold rule the 4-GPU job starves (control)");
}

/* Many jobs, random requests and durations, 3 engines of which two come and
 * go.  Checks capacity after every step and that each task finishes once. */
static void test_random_sim(void)
{
    const char *env = getenv("BANYAN_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0)
                        : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rng_state = seed;
    diag("simulation seed %llu (set BANYAN_TEST_SEED to replay)",
         (unsigned long long)seed);

    enum { NJOBS = 60, MAXT = 40, MAXRUN = 64 };
    sched_config_t cfg;
    sched_config_default(&cfg);
    cfg.starve_after_ms = 200;
    cfg.starve_after_bypass = 16;
    sched_t *s = sched_create(&cfg);

    /* Engine shapes; ids grow as engines come back. */
    res_capacity_t shapes[3];
    memset(shapes, 0, sizeof(shapes));
    uint32_t slots[3] = {8, 4, 6}, cpus[3] = {8000, 4000, 16000};
    int gpus[3] = {4, 2, 0};
    for (int k = 0; k < 3; k++) {
        shapes[k].slots = slots[k];
        shapes[k].cpus_milli = cpus[k];
        shapes[k].mem_bytes = 32 * GIB;
        shapes[k].ngpus = gpus[k];
        for (int g = 0; g < gpus[k]; g++)
            shapes[k].gpus[g].index = g;
    }
    uint32_t engine_id[3] = {1, 2, 3}, next_engine = 4;
    bool engine_up[3] = {true, true, true};
    for (int k = 0; k < 3; k++)
        sched_engine_add(s, engine_id[k], res_pool_create(&shapes[k]));

    static unsigned finished[NJOBS + 2][MAXT];
    static bool running[NJOBS + 2][MAXT];
    memset(finished, 0, sizeof(finished));
    memset(running, 0, sizeof(running));
    uint32_t ntasks[NJOBS + 2];
    res_request_t reqs[NJOBS + 2];
    for (uint32_t id = 1; id <= NJOBS; id++) {
        sched_job_t j;
        memset(&j, 0, sizeof(j));
        j.id = id;
        j.priority = (int)pick(3);
        j.max_attempts = 1 + pick(3);
        j.req.slots = 1;
        j.req.cpus_milli = 250 * pick(17);     /* <= 4 cpus */
        j.req.mem_bytes = pick(2) ? (1 + pick(8)) * GIB : 0;
        unsigned g = pick(6);
        static const uint32_t fr[] = {250, 500, 1000, 2000};
        j.req.gpus_milli = g < 4 ? fr[g] : 0;
        reqs[id] = j.req;
        ntasks[id] = 1 + pick(MAXT);
        sched_job_add(s, &j);
    }
    /* One job that never fits anywhere. */
    sched_job_t never = make_job(NJOBS + 1, 0, 8000);
    sched_job_add(s, &never);
    sched_job_add_tasks(s, NJOBS + 1, 0, 5);
    unsigned infeasible = 0;

    simtask_t run[MAXRUN];
    int nrun = 0;
    bool over = false, dup = false, ok_order = true;
    uint32_t added = 0;
    int64_t now;
    uint64_t starts = 0, lost = 0;
    for (now = 0; now < 2000000; now++) {
        /* Submit jobs over time, in id order, in two ranges each. */
        if (added < NJOBS && pick(20) == 0) {
            added++;
            uint32_t half = ntasks[added] / 2;
            sched_job_add_tasks(s, added, half, ntasks[added] - half);
            sched_job_add_tasks(s, added, 0, half);
        }
        for (int i = 0; i < nrun;) {
            if (run[i].end_ms > now) {
                i++;
                continue;
            }
            sched_outcome_t out = pick(5) == 0 ? SCHED_FAILED : SCHED_OK;
            int rc = sched_task_done(s, run[i].job, run[i].index, out);
            if (rc < 0)
                ok_order = false;
            running[run[i].job][run[i].index] = false;
            if (rc == 0)
                finished[run[i].job][run[i].index]++;
            run[i] = run[--nrun];
        }
        /* Engines 2 and 3 are sometimes lost and come back later. */
        if (pick(400) == 0) {
            int k = 1 + (int)pick(2);
            if (engine_up[k]) {
                sched_engine_remove(s, engine_id[k]);
                engine_up[k] = false;
                for (int i = 0; i < nrun;) {
                    if (run[i].engine != engine_id[k]) {
                        i++;
                        continue;
                    }
                    running[run[i].job][run[i].index] = false;
                    lost++;
                    run[i] = run[--nrun];
                }
            } else {
                engine_id[k] = next_engine++;
                sched_engine_add(s, engine_id[k],
                                 res_pool_create(&shapes[k]));
                engine_up[k] = true;
            }
        }
        sched_action_t act[8];
        int n;
        do {
            n = sched_step(s, now, act, 8);
            for (int i = 0; i < n; i++) {
                if (act[i].type == SCHED_ACT_INFEASIBLE) {
                    infeasible++;
                    continue;
                }
                starts++;
                if (nrun == MAXRUN || running[act[i].job_id][act[i].index]
                    || finished[act[i].job_id][act[i].index]) {
                    dup = true;
                    continue;
                }
                simtask_t *t = &run[nrun++];
                t->job = act[i].job_id;
                t->index = act[i].index;
                t->engine = act[i].engine_id;
                t->alloc = act[i].alloc;
                t->end_ms = now + 1 + pick(60);
                running[t->job][t->index] = true;
            }
        } while (n == 8);
        /* Recompute per-engine use from the tasks we started. */
        for (int k = 0; k < 3; k++) {
            if (!engine_up[k])
                continue;
            uint64_t sl = 0, cp = 0, mem = 0;
            uint32_t gm[RES_MAX_GPUS] = {0};
            for (int i = 0; i < nrun; i++) {
                if (run[i].engine != engine_id[k])
                    continue;
                sl += run[i].alloc.slots;
                cp += run[i].alloc.cpus_milli;
                mem += run[i].alloc.mem_bytes;
                for (int g = 0; g < shapes[k].ngpus; g++)
                    if (run[i].alloc.gpu_mask & (UINT64_C(1) << g))
                        gm[g] += run[i].alloc.gpu_milli_each;
                const res_request_t *rq = &reqs[run[i].job];
                if (run[i].alloc.cpus_milli != rq->cpus_milli)
                    over = true;
            }
            if (sl > shapes[k].slots || cp > shapes[k].cpus_milli
                || mem > shapes[k].mem_bytes)
                over = true;
            for (int g = 0; g < shapes[k].ngpus; g++)
                if (gm[g] > RES_MILLI)
                    over = true;
        }
        sched_stats_t st;
        sched_get_stats(s, &st);
        if (st.running != (uint64_t)nrun)
            ok_order = false;
        if (added == NJOBS && st.pending == 0 && st.running == 0)
            break;
    }
    diag("simulated %lld ms: %llu starts, %llu lost with engines",
         (long long)now, (unsigned long long)starts,
         (unsigned long long)lost);
    ok(!over, "no engine was ever oversubscribed");
    ok(!dup, "no task was started while running or after finishing");
    ok(ok_order, "every reported end matched a running task and the "
       "running count agrees");
    bool once = true;
    for (uint32_t id = 1; id <= NJOBS; id++)
        for (uint32_t t = 0; t < ntasks[id]; t++)
            if (finished[id][t] != 1) {
                if (once)
                    diag("job %u task %u finished %u times", id, t,
                         finished[id][t]);
                once = false;
            }
    ok(once, "every task of every job finished exactly once");
    is_int(infeasible, 1, "the job that never fits was reported once");
    sched_stats_t st;
    sched_get_stats(s, &st);
    ok(st.pending == 0 && st.running == 0, "nothing left pending");
    sched_destroy(s);
}

int main(void)
{
    plan(NO_PLAN);
    test_queue_order();
    test_errors();
    test_retries();
    test_infeasible();
    test_engine_loss();
    test_cancel();
    test_explain();
    test_big_job_memory();
    test_backfill();
    test_hold_engine();
    test_bounded_wait();
    test_random_sim();
    return done_testing();
}
