/* SPDX-License-Identifier: MIT */
/* test_return.c - tasks leaving and entering the core outside of START and
 * done: return (no attempt counted), forget, withdraw, adopt; engines that
 * exclude a job; engines resized in place.  These are the calls the tree
 * wiring makes when tasks are stolen, rejected, orphaned or adopted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"
#include "tap.h"

static res_capacity_t make_cap(uint32_t slots, int ngpus)
{
    res_capacity_t c;
    memset(&c, 0, sizeof(c));
    c.slots = slots;
    c.ngpus = ngpus;
    for (int i = 0; i < ngpus; i++)
        c.gpus[i].index = i;
    return c;
}

static res_pool_t *make_pool(uint32_t slots, int ngpus)
{
    res_capacity_t c = make_cap(slots, ngpus);
    return res_pool_create(&c);
}

static sched_job_t make_job(uint32_t id, uint32_t gpus_milli,
                            uint32_t attempts)
{
    sched_job_t j;
    memset(&j, 0, sizeof(j));
    j.id = id;
    j.req.slots = 1;
    j.req.gpus_milli = gpus_milli;
    j.max_attempts = attempts;
    return j;
}

static sched_action_t step1(sched_t *s)
{
    sched_action_t a;
    memset(&a, 0, sizeof(a));
    if (sched_step(s, 0, &a, 1) != 1)
        memset(&a, 0, sizeof(a));
    return a;
}

static void test_return_keeps_attempt(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(1, 0));
    sched_job_t j = make_job(1, 0, 3);
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 3);
    sched_action_t x = step1(s);
    sched_task_done(s, 1, 0, SCHED_FAILED);
    x = step1(s);
    ok(x.index == 0 && x.attempt == 2, "task 0 runs as attempt 2");
    is_int(sched_task_return(s, 1, 0), 1, "returned: pending again");
    is_int(sched_job_running(s, 1), 0, "not running");
    is_int(sched_job_pending(s, 1), 3, "pending again");
    x = step1(s);
    ok(x.type == SCHED_ACT_START && x.index == 0 && x.attempt == 2,
       "its next START has the same attempt (2), before other tasks");
    sched_stats_t st;
    sched_get_stats(s, &st);
    is_int(st.requeued, 1, "a return is not counted as a requeue");
    is_int(sched_task_done(s, 1, 0, SCHED_FAILED), 1,
           "a failure after the return still has attempt 3 left");
    x = step1(s);
    ok(x.index == 0 && x.attempt == 3, "attempt 3");
    errno = 0;
    ok(sched_task_return(s, 1, 2) < 0 && errno == ENOENT,
       "a task that is not running: ENOENT");

    /* The lost count is kept too. */
    sched_task_done(s, 1, 0, SCHED_OK);
    x = step1(s);
    sched_engine_remove(s, 1);
    sched_engine_add(s, 2, make_pool(1, 0));
    x = step1(s);
    ok(x.index == 1 && x.lost == 1 && x.attempt == 1,
       "task 1 restarted after a loss: lost 1");
    sched_task_return(s, 1, 1);
    x = step1(s);
    ok(x.index == 1 && x.lost == 1 && x.attempt == 1,
       "after a return: still lost 1, attempt 1");

    /* A cancelled job's returned task is dropped. */
    sched_job_cancel(s, 1);
    is_int(sched_task_return(s, 1, 1), 0, "cancelled job: dropped (0)");
    is_int(sched_job_pending(s, 1), 0, "nothing pending");
    is_int(sched_job_running(s, 1), 0, "nothing running");
    ok(sched_job_remove(s, 1) == 0, "the job can be removed");
    sched_destroy(s);
}

static void test_forget(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(1, 0));
    sched_job_t j = make_job(1, 0, 2);
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 2);
    sched_action_t x = step1(s);
    ok(x.index == 0, "task 0 starts");
    ok(step1(s).type == 0, "the single slot is taken");
    ok(sched_task_forget(s, 1, 0) == 0, "forgotten");
    is_int(sched_job_running(s, 1), 0, "not running");
    is_int(sched_job_pending(s, 1), 1, "not pending (only task 1 is)");
    errno = 0;
    ok(sched_task_done(s, 1, 0, SCHED_OK) < 0 && errno == ENOENT,
       "a result for it is unknown");
    x = step1(s);
    ok(x.index == 1, "its slot was released: task 1 starts");
    errno = 0;
    ok(sched_task_forget(s, 1, 0) < 0 && errno == ENOENT, "twice: ENOENT");
    sched_job_add_tasks(s, 1, 0, 1);
    sched_task_done(s, 1, 1, SCHED_OK);
    x = step1(s);
    ok(x.index == 0 && x.attempt == 1, "re-added by the caller, it starts "
       "again");
    sched_destroy(s);
}

static void test_withdraw(void)
{
    sched_t *s = sched_create(NULL);
    sched_job_t j = make_job(1, 0, 2);
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 10);
    ok(sched_task_withdraw(s, 1, 5) == 0, "withdraw from the middle");
    ok(sched_task_withdraw(s, 1, 0) == 0, "the first");
    ok(sched_task_withdraw(s, 1, 9) == 0, "the last");
    errno = 0;
    ok(sched_task_withdraw(s, 1, 5) < 0 && errno == ENOENT,
       "one not pending: ENOENT");
    errno = 0;
    ok(sched_task_withdraw(s, 7, 0) < 0 && errno == ENOENT,
       "unknown job: ENOENT");
    is_int(sched_job_pending(s, 1), 7, "7 pending");
    sched_engine_add(s, 1, make_pool(16, 0));
    sched_action_t act[16];
    int n = sched_step(s, 0, act, 16);
    char got[64] = "", *p = got;
    for (int i = 0; i < n; i++)
        p += snprintf(p, sizeof(got) - (size_t)(p - got), "%llu ",
                      (unsigned long long)act[i].index);
    is_str(got, "1 2 3 4 6 7 8 ", "the others start in order");
    sched_task_done(s, 1, 3, SCHED_FAILED);
    ok(sched_task_withdraw(s, 1, 3) == 0, "a requeued task is withdrawn");
    is_int(sched_step(s, 0, act, 16), 0, "nothing left to start");
    sched_stats_t st;
    sched_get_stats(s, &st);
    is_int(st.pending, 0, "the core counts nothing pending");
    sched_destroy(s);
}

static void test_adopt(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(2, 2));
    sched_job_t j = make_job(1, 1000, 3);
    sched_job_add(s, &j);
    res_alloc_t a;
    memset(&a, 0, sizeof(a));
    a.slots = 1;
    a.slot = 2;
    a.gpu_mask = 2;
    a.gpu_milli_each = 1000;
    ok(sched_task_adopt(s, 1, 7, 2, 1, &a) == 0,
       "task 7 adopted on slot 2, GPU 1");
    uint32_t eng = 0;
    res_alloc_t got;
    ok(sched_task_running(s, 1, 7, &eng, &got) && eng == 1 && got.slot == 2,
       "it is running there");
    errno = 0;
    ok(sched_task_adopt(s, 1, 7, 2, 1, &a) < 0 && errno == EEXIST,
       "twice: EEXIST");
    errno = 0;
    ok(sched_task_adopt(s, 1, 8, 1, 1, &a) < 0 && errno == EBUSY,
       "an overlapping allocation: EBUSY");
    is_int(sched_job_running(s, 1), 1, "and nothing was accounted");
    errno = 0;
    ok(sched_task_adopt(s, 9, 8, 1, 1, &a) < 0 && errno == ENOENT
       && sched_task_adopt(s, 1, 8, 1, 9, &a) < 0 && errno == ENOENT,
       "unknown job or engine: ENOENT");

    sched_job_add_tasks(s, 1, 0, 3);
    sched_action_t x = step1(s);
    ok(x.index == 0 && x.alloc.slot == 1 && x.alloc.gpu_mask == 1,
       "a new task gets the other slot and GPU");
    ok(step1(s).type == 0, "nothing is placed over the adopted task");
    is_int(sched_task_done(s, 1, 7, SCHED_FAILED), 1,
           "the adopted task fails: retried (attempt 2 of 3)");
    x = step1(s);
    ok(x.index == 7 && x.attempt == 3, "as attempt 3");

    /* Adopting a pending task takes it out of the queue. */
    ok(sched_task_adopt(s, 1, 2, 0, 1, NULL) == 0,
       "pending task 2 adopted past capacity (NULL alloc)");
    is_int(sched_job_pending(s, 1), 1, "only task 1 pending");
    sched_task_done(s, 1, 0, SCHED_OK);
    ok(step1(s).type == 0, "over capacity: nothing starts");
    sched_task_done(s, 1, 2, SCHED_OK);
    x = step1(s);
    ok(x.index == 1, "once it ends, task 1 starts");

    /* Adopting a requeued task keeps its attempt when 0 is given. */
    sched_task_done(s, 1, 1, SCHED_FAILED);
    ok(sched_task_adopt(s, 1, 1, 0, 1, NULL) == 0, "requeued task 1 "
       "adopted");
    sched_task_done(s, 1, 7, SCHED_OK);
    is_int(sched_task_done(s, 1, 1, SCHED_FAILED), 1,
           "it had attempt 2: a failure is retried once more");
    x = step1(s);
    ok(x.index == 1 && x.attempt == 3, "as attempt 3");
    sched_destroy(s);
}

static void test_exclude(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(4, 0));
    sched_engine_add(s, 2, make_pool(4, 0));
    sched_job_t j = make_job(1, 0, 1);
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 6);
    ok(sched_engine_exclude_job(s, 1, 1) == 0, "job 1 excluded from 1");
    ok(sched_engine_excludes(s, 1, 1) && !sched_engine_excludes(s, 2, 1),
       "excludes() says so");
    ok(sched_engine_exclude_job(s, 1, 1) == 0, "twice is harmless");
    errno = 0;
    ok(sched_engine_exclude_job(s, 3, 1) < 0 && errno == ENOENT
       && sched_engine_exclude_job(s, 1, 2) < 0 && errno == ENOENT,
       "unknown engine or job: ENOENT");
    sched_action_t act[8];
    int n = sched_step(s, 0, act, 8);
    bool only2 = n == 4;
    for (int i = 0; i < n; i++)
        only2 &= act[i].type == SCHED_ACT_START && act[i].engine_id == 2;
    ok(only2, "its tasks go to engine 2 only (4 of 6)");
    ok(sched_engine_exclude_job(s, 2, 1) == 0, "and excluded from 2");
    n = sched_step(s, 0, act, 8);
    ok(n == 1 && act[0].type == SCHED_ACT_INFEASIBLE && act[0].dropped == 2,
       "no engine left: INFEASIBLE, the 2 pending dropped");
    is_str(act[0].reason, "rejected by every engine", "reason");
    is_int(sched_job_running(s, 1), 4, "the running tasks stay");
    for (uint64_t i = 0; i < 4; i++)
        sched_task_done(s, 1, i, SCHED_OK);
    ok(sched_job_remove(s, 1) == 0, "job removed");
    ok(!sched_engine_excludes(s, 1, 1) && !sched_engine_excludes(s, 2, 1),
       "its exclusions are gone");
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 8);
    is_int(sched_step(s, 0, act, 8), 8, "a new job 1 runs on both");
    for (uint64_t i = 0; i < 8; i++)
        sched_task_done(s, 1, i, SCHED_OK);

    /* With one engine excluded and the other too small: infeasible, and
     * the reason says both. */
    sched_job_t g = make_job(2, 1000, 1);
    sched_job_add(s, &g);
    sched_engine_add(s, 3, make_pool(1, 1));
    sched_engine_exclude_job(s, 3, 2);
    sched_job_add_tasks(s, 2, 0, 1);
    n = sched_step(s, 0, act, 8);
    ok(n == 1 && act[0].type == SCHED_ACT_INFEASIBLE, "job 2 infeasible");
    is_str(act[0].reason, "needs 1 gpu, engine has 0 (no engine of 3 fits, "
           "1 rejected it)", "reason");
    sched_engine_remove(s, 3);
    sched_engine_add(s, 3, make_pool(1, 1));
    ok(!sched_engine_excludes(s, 3, 2), "a removed engine's exclusions go");
    sched_job_add_tasks(s, 2, 0, 1);
    n = sched_step(s, 0, act, 8);
    ok(n == 1 && act[0].type == SCHED_ACT_START && act[0].engine_id == 3,
       "the re-added engine runs it");
    sched_destroy(s);
}

static void test_set_capacity(void)
{
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, make_pool(1, 2));
    sched_job_t j = make_job(1, 0, 1), g = make_job(2, 2000, 1);
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, 4);
    sched_action_t act[8];
    is_int(sched_step(s, 0, act, 8), 1, "one slot: one task");
    res_capacity_t c = make_cap(3, 2);
    ok(sched_engine_set_capacity(s, 1, &c) == 0, "grown to 3 slots");
    is_int(sched_step(s, 0, act, 8), 2, "two more start");
    c = make_cap(1, 1);
    ok(sched_engine_set_capacity(s, 1, &c) == 0, "shrunk to 1 slot, 1 GPU");
    sched_task_done(s, 1, 0, SCHED_OK);
    sched_task_done(s, 1, 1, SCHED_OK);
    is_int(sched_step(s, 0, act, 8), 0, "still one running: none starts");
    sched_task_done(s, 1, 2, SCHED_OK);
    is_int(sched_step(s, 0, act, 8), 1, "back under: the last starts");
    sched_job_add(s, &g);
    sched_job_add_tasks(s, 2, 0, 1);
    int n = sched_step(s, 0, act, 8);
    ok(n == 1 && act[0].type == SCHED_ACT_INFEASIBLE,
       "a 2-GPU job on the shrunk engine is infeasible");
    errno = 0;
    ok(sched_engine_set_capacity(s, 9, &c) < 0 && errno == ENOENT,
       "unknown engine: ENOENT");
    sched_destroy(s);
}

/* ------------------------------------------------------------------ random */

enum { R_TASKS = 64, R_ENGINES = 3 };

typedef enum { T_PENDING, T_RUNNING, T_DONE, T_AWAY } tstate_t;

typedef struct rtask {
    tstate_t state;
    uint32_t attempt;       /* of the run in progress / the next run */
    uint32_t engine;
} rtask_t;

static uint64_t rs = 0x9E3779B97F4A7C15ULL;

static unsigned rpick(unsigned n)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (unsigned)(rs % n);
}

/* Random starts, ends, returns, forgets, withdrawals, adoptions and
 * exclusions of one job on three engines, against a model of every task's
 * state: the core's counts match the model, a returned task restarts with
 * its attempt, and no two running tasks share a slot identity on an
 * engine. */
static void test_random(void)
{
    sched_t *s = sched_create(NULL);
    for (uint32_t e = 1; e <= R_ENGINES; e++)
        sched_engine_add(s, e, make_pool(3, 0));
    sched_job_t j = make_job(1, 0, 1000);
    sched_job_add(s, &j);
    sched_job_add_tasks(s, 1, 0, R_TASKS);
    rtask_t t[R_TASKS];
    for (int i = 0; i < R_TASKS; i++)
        t[i] = (rtask_t){T_PENDING, 1, 0};
    bool counts = true, attempts = true, slots = true, rcs = true;
    bool excl_ok = true;
    unsigned returns = 0, adopts = 0;
    bool excluded[R_ENGINES + 1] = {false};
    for (int op = 0; op < 20000; op++) {
        unsigned k = rpick(100);
        uint64_t i = rpick(R_TASKS);
        rtask_t *x = &t[i];
        if (k < 30) {
            sched_action_t act[8];
            int n = sched_step(s, op, act, 8);
            for (int a = 0; a < n; a++) {
                rtask_t *y = &t[act[a].index];
                attempts &= act[a].type == SCHED_ACT_START
                            && y->state == T_PENDING
                            && act[a].attempt == y->attempt;
                excl_ok &= !excluded[act[a].engine_id];
                y->state = T_RUNNING;
                y->engine = act[a].engine_id;
            }
        } else if (k < 50) {
            bool fail = rpick(2);
            int rc = sched_task_done(s, 1, i, fail ? SCHED_FAILED : SCHED_OK);
            rcs &= x->state == T_RUNNING ? rc == (fail ? 1 : 0) : rc < 0;
            if (x->state == T_RUNNING) {
                x->state = fail ? T_PENDING : T_DONE;
                x->attempt += fail;
            }
        } else if (k < 65) {
            int rc = sched_task_return(s, 1, i);
            rcs &= x->state == T_RUNNING ? rc == 1 : rc < 0;
            if (x->state == T_RUNNING) {
                x->state = T_PENDING;
                returns++;
            }
        } else if (k < 72) {
            int rc = sched_task_forget(s, 1, i);
            rcs &= x->state == T_RUNNING ? rc == 0 : rc < 0;
            if (x->state == T_RUNNING)
                x->state = T_AWAY;
        } else if (k < 79) {
            int rc = sched_task_withdraw(s, 1, i);
            rcs &= x->state == T_PENDING ? rc == 0 : rc < 0;
            if (x->state == T_PENDING)
                x->state = T_AWAY;
        } else if (k < 86) {
            if (x->state == T_AWAY) {
                sched_job_add_tasks(s, 1, i, 1);
                x->state = T_PENDING;
                x->attempt = 1;
            }
        } else if (k < 96) {
            /* The core cannot tell a finished task from one that left:
             * adopting is for tasks it does not run. */
            if (x->state == T_DONE)
                continue;
            uint32_t e = 1 + rpick(R_ENGINES);
            int rc = sched_task_adopt(s, 1, i, 0, e, NULL);
            bool can = x->state == T_PENDING || x->state == T_AWAY;
            rcs &= can ? rc == 0 : rc < 0;
            if (can) {
                if (x->state == T_AWAY)
                    x->attempt = 1;
                x->state = T_RUNNING;
                x->engine = e;
                adopts++;
            }
        } else if (k < 97) {
            uint32_t e = 1 + rpick(R_ENGINES);
            if (rpick(2) == 0 && !excluded[e]) {
                /* Never all three: the job would become infeasible. */
                int n = 0;
                for (uint32_t f = 1; f <= R_ENGINES; f++)
                    n += excluded[f];
                if (n < R_ENGINES - 1) {
                    sched_engine_exclude_job(s, e, 1);
                    excluded[e] = true;
                }
            }
        } else {
            uint64_t running = 0, pending = 0;
            for (int m = 0; m < R_TASKS; m++) {
                running += t[m].state == T_RUNNING;
                pending += t[m].state == T_PENDING;
            }
            counts &= sched_job_running(s, 1) == running
                      && sched_job_pending(s, 1) == pending;
        }
        /* Slot identities on each engine are distinct. */
        for (uint32_t e = 1; e <= R_ENGINES; e++) {
            uint32_t seen = 0;
            for (int m = 0; m < R_TASKS; m++) {
                res_alloc_t a;
                uint32_t eng;
                if (t[m].state != T_RUNNING
                    || !sched_task_running(s, 1, (uint64_t)m, &eng, &a))
                    continue;
                if (eng != t[m].engine)
                    slots = false;
                if (eng != e || a.slot == 0)
                    continue;
                if (seen & (1u << a.slot))
                    slots = false;
                seen |= 1u << a.slot;
            }
        }
    }
    ok(rcs, "every call's answer matches the model");
    ok(attempts, "every START is of a pending task with its attempt (%u "
       "returns, %u adoptions)", returns, adopts);
    ok(counts, "pending and running counts match the model");
    ok(slots, "no slot identity is shared on an engine");
    ok(excl_ok, "no START on an engine that excludes the job");
    sched_destroy(s);
}

int main(void)
{
    plan(NO_PLAN);
    test_return_keeps_attempt();
    test_forget();
    test_withdraw();
    test_adopt();
    test_exclude();
    test_set_capacity();
    test_random();
    return done_testing();
}
