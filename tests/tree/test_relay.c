/* SPDX-License-Identifier: MIT */
/* test_relay.c - relay scheduling: placement, queues, results, stealing.
 *
 * Relays are wired by hand: the test moves actions between them the way a
 * server or worker would move messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_fixture.h"
#include "tap.h"
#include "tree/tree.h"

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ------------------------------------------------------------------------ */

static void test_no_oversubscription(void)
{
    tree_relay_t *r = relay(true);
    for (uint32_t e = 1; e <= 3; e++) {
        res_capacity_t c = engine_cap(e, 0);
        tree_relay_add_engine(r, e, &c);
    }
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(r, &j);
    tree_relay_add_tasks(r, 1, 0, 500);
    tree_action_t act[64];
    int n = tree_relay_step(r, 0, act, 64);
    is_int(n, 6, "engines of 1, 2 and 3 slots get 6 tasks in all");
    bool within = true, all_assign = true;
    uint64_t running[64];
    size_t nrun = 0;
    for (int i = 0; i < n; i++) {
        if (act[i].type != TREE_ACT_ASSIGN)
            all_assign = false;
        running[nrun++] = act[i].index;
    }
    ok(all_assign, "they are ASSIGN actions");
    uint64_t done = 0;
    for (int round = 0; round < 2000 && nrun > 0; round++) {
        size_t pick = next_rand() % nrun;
        if (tree_relay_task_done(r, 1, running[pick], SCHED_OK) != 0)
            within = false;
        running[pick] = running[--nrun];
        done++;
        n = tree_relay_step(r, round, act, 64);
        for (int i = 0; i < n; i++)
            running[nrun++] = act[i].index;
        for (uint32_t e = 1; e <= 3; e++)
            if (tree_relay_child_inflight(r, e) > e)
                within = false;
    }
    ok(within, "no engine ever holds more tasks than its slots");
    is_int(done, 500, "all 500 tasks ran");
    errno = 0;
    ok(tree_relay_task_done(r, 1, 3, SCHED_OK) < 0 && errno == ENOENT,
       "a result for a task not running here is refused (ENOENT)");
    res_capacity_t c = engine_cap(1, 0);
    errno = 0;
    ok(tree_relay_add_engine(r, 2, &c) < 0 && errno == EEXIST,
       "a child id cannot be added twice (EEXIST)");
    tree_relay_destroy(r);
}

/* A root over one relay child that has 4 one-slot engines. */
static void test_aggregate_and_queue(void)
{
    tree_relay_t *root = relay(true);
    tree_relay_t *mid = relay(false);
    tree_summary_t sum = {4, 4, 4000, 8 * GIB, 0};
    tree_relay_add_relay(root, 10, &sum);
    for (uint32_t e = 11; e <= 14; e++) {
        res_capacity_t c = engine_cap(1, 0);
        tree_relay_add_engine(mid, e, &c);
    }
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(root, &j);
    tree_relay_add_job(mid, &j);
    tree_relay_add_tasks(root, 1, 0, 100);
    tree_action_t act[64];
    int n = tree_relay_step(root, 0, act, 64);
    is_int(n, 8, "the root gives a relay of 4 slots 8 tasks (prefetch 2)");
    for (int i = 0; i < n; i++)
        tree_relay_assign(mid, act[i].job_id, act[i].index);
    n = tree_relay_step(mid, 0, act, 64);
    is_int(n, 4, "the relay starts 4 on its engines");
    is_int(tree_relay_queued(mid), 4, "and queues 4");
    tree_report_t rep;
    tree_relay_report(mid, &rep);
    ok(rep.queued == 4 && rep.inflight == 4 && rep.total.slots == 4,
       "its report says 4 queued, 4 in flight, 4 slots");

    /* Two results: the relay refills its engines from its queue. */
    tree_relay_task_done(mid, 1, act[0].index, SCHED_OK);
    tree_relay_task_done(mid, 1, act[1].index, SCHED_FAILED);
    tree_action_t act2[64];
    n = tree_relay_step(mid, 1, act2, 64);
    is_int(n, 2, "two ends let the relay start two queued tasks at once");
    tree_result_t res[16];
    size_t nr = tree_relay_take_results(mid, res, 16);
    is_int(nr, 2, "both results go up in one batch");
    ok(res[1].outcome == SCHED_FAILED, "a failure goes up as a failure "
       "(the root decides retries)");
    is_int(tree_relay_take_results(mid, res, 16), 0,
           "a batch is taken once");
    for (size_t i = 0; i < nr; i++)
        tree_relay_task_done(root, res[i].job_id, res[i].index,
                             res[i].outcome);
    n = tree_relay_step(root, 1, act, 64);
    is_int(n, 2, "the root sends the relay two more");

    /* Bounded queue and errors. */
    tree_relay_config_t cfg;
    tree_relay_config_default(&cfg);
    cfg.queue_max = 3;
    tree_relay_t *small = tree_relay_create(&cfg);
    tree_relay_add_job(small, &j);
    for (uint64_t i = 0; i < 3; i++)
        tree_relay_assign(small, 1, i);
    errno = 0;
    ok(tree_relay_assign(small, 1, 3) < 0 && errno == ENOSPC,
       "a full queue refuses more (ENOSPC)");
    errno = 0;
    ok(tree_relay_assign(small, 1, 0) < 0 && errno == EEXIST,
       "a task already held is refused (EEXIST)");
    errno = 0;
    ok(tree_relay_assign(small, 9, 0) < 0 && errno == ENOENT,
       "a task of an unknown job is refused (ENOENT)");
    tree_relay_destroy(small);
    tree_relay_destroy(mid);
    tree_relay_destroy(root);
}

static void test_reject(void)
{
    tree_relay_t *r = relay(false);
    res_capacity_t c = engine_cap(2, 0);
    tree_relay_add_engine(r, 1, &c);
    sched_job_t j = job_def(5, 2000);
    tree_relay_add_job(r, &j);
    tree_relay_assign(r, 5, 7);
    tree_relay_assign(r, 5, 8);
    tree_action_t act[8];
    int n = tree_relay_step(r, 0, act, 8);
    int rejects = 0;
    for (int i = 0; i < n; i++)
        rejects += act[i].type == TREE_ACT_REJECT;
    is_int(rejects, 2,
           "tasks no engine of the subtree can ever fit are handed back up");
    is_int(tree_relay_queued(r), 0, "and leave the queue");
    tree_relay_destroy(r);
}

/* Root with relays A (id 1) and B (id 2), 2 one-slot engines each. */
static void test_steal(void)
{
    tree_relay_t *root = relay(true);
    tree_relay_t *a = relay(false), *b = relay(false);
    tree_summary_t sum = {2, 2, 2000, 4 * GIB, 0};
    tree_relay_add_relay(root, 1, &sum);
    tree_relay_add_relay(root, 2, &sum);
    res_capacity_t c = engine_cap(1, 0);
    tree_relay_add_engine(a, 11, &c);
    tree_relay_add_engine(a, 12, &c);
    tree_relay_add_engine(b, 21, &c);
    tree_relay_add_engine(b, 22, &c);
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(root, &j);
    tree_relay_add_job(a, &j);
    tree_relay_add_job(b, &j);
    tree_relay_add_tasks(root, 1, 0, 8);

    tree_action_t act[32];
    int n = tree_relay_step(root, 0, act, 32);
    is_int(n, 8, "8 tasks go out, 4 to each relay");
    for (int i = 0; i < n; i++)
        tree_relay_assign(act[i].child == 1 ? a : b, 1, act[i].index);
    tree_action_t aa[32], ba[32];
    int na = tree_relay_step(a, 0, aa, 32);
    int nb = tree_relay_step(b, 0, ba, 32);
    ok(na == 2 && nb == 2, "each relay starts 2 and queues 2");

    /* B's tasks are slow; A finishes its 4. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < na; i++)
            tree_relay_task_done(a, 1, aa[i].index, SCHED_OK);
        na = tree_relay_step(a, 1, aa, 32);
    }
    tree_result_t res[16];
    size_t nr = tree_relay_take_results(a, res, 16);
    is_int(nr, 4, "A reports its 4 results in one batch");
    for (size_t i = 0; i < nr; i++)
        tree_relay_task_done(root, 1, res[i].index, SCHED_OK);
    tree_report_t rep;
    tree_relay_report(b, &rep);
    tree_relay_child_queued(root, 2, rep.queued);
    tree_relay_child_queued(root, 1, 0);
    is_int(tree_relay_step(root, 2, act, 32), 0,
           "the root has nothing pending left");

    /* A is idle: it asks for work. */
    ok(na == 1 && aa[0].type == TREE_ACT_STEAL && aa[0].count == 2,
       "the idle relay asks its parent for 2 tasks");
    tree_relay_steal(root, 1, (uint32_t)aa[0].count);
    n = tree_relay_step(root, 3, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_RECALL && act[0].child == 2
       && act[0].count == 1,
       "the parent recalls half of the busy relay's 2 queued tasks");
    tree_relay_recall(b, (uint32_t)act[0].count);
    nb = tree_relay_step(b, 3, ba, 32);
    ok(nb == 2 && ba[0].type == TREE_ACT_RETURN
       && ba[1].type == TREE_ACT_RECALL_DONE,
       "the busy relay gives one queued task back, then says done");
    is_int(tree_relay_queued(b), 1, "it keeps its other queued task");
    uint64_t stolen = ba[0].index;
    ok(tree_relay_returned(root, 2, 1, stolen) == 0,
       "the parent takes the task back");
    tree_relay_recall_done(root, 2);
    n = tree_relay_step(root, 3, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_ASSIGN && act[0].child == 1
       && act[0].index == stolen,
       "and places it on the idle relay");
    is_int(tree_relay_task_child(root, 1, stolen), 1,
           "the root now accounts it to the idle relay");
    tree_relay_assign(a, 1, stolen);
    na = tree_relay_step(a, 4, aa, 32);
    ok(na == 1 && aa[0].type == TREE_ACT_ASSIGN,
       "the idle relay starts the stolen task on an engine");

    /* Everything finishes exactly once. */
    tree_relay_task_done(a, 1, stolen, SCHED_OK);
    int ends = 1;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < nb; i++)
            if (ba[i].type == TREE_ACT_ASSIGN
                && tree_relay_task_done(b, 1, ba[i].index, SCHED_OK) == 0)
                ends++;
        nb = tree_relay_step(b, 5, ba, 32);
        if (round == 0) {
            /* the first pass only had RETURN/DONE actions: redo B's two
             * running tasks from its placement record */
            for (uint64_t i = 0; i < 8; i++)
                if (tree_relay_task_child(b, 1, i) != TREE_NONE
                    && tree_relay_task_done(b, 1, i, SCHED_OK) == 0)
                    ends++;
            nb = tree_relay_step(b, 5, ba, 32);
        }
    }
    is_int(ends, 4, "B's 3 remaining tasks and the stolen one end once each");
    nr = tree_relay_take_results(b, res, 16);
    size_t okr = 0;
    for (size_t i = 0; i < nr; i++)
        okr += tree_relay_task_done(root, 1, res[i].index, SCHED_OK) == 0;
    nr = tree_relay_take_results(a, res, 16);
    for (size_t i = 0; i < nr; i++)
        okr += tree_relay_task_done(root, 1, res[i].index, SCHED_OK) == 0;
    is_int(okr, 4, "the root records each of them once");
    tree_relay_child_queued(root, 2, 0); /* B's next report */
    tree_relay_report(root, &rep);
    ok(rep.inflight == 0 && rep.queued == 0, "the root holds nothing more");

    /* Nobody has queued work: a steal is denied. */
    tree_relay_steal(root, 1, 2);
    n = tree_relay_step(root, 6, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_DENY && act[0].child == 1,
       "a steal with no queued work anywhere is denied");
    tree_relay_steal_denied(a, 6);
    ok(tree_relay_step(a, 50, aa, 32) == 0,
       "a denied relay waits before asking again");
    /* No event comes to an idle relay: the step alone asks again. */
    na = tree_relay_step(a, 106, aa, 32);
    ok(na == 1 && aa[0].type == TREE_ACT_STEAL,
       "after the retry delay it asks again, with no event in between");
    ok(tree_relay_step(a, 300, aa, 32) == 0,
       "it does not ask twice while its STEAL is unanswered");
    tree_relay_destroy(a);
    tree_relay_destroy(b);
    tree_relay_destroy(root);
}

/* A steal from a relay child whose subtree is full comes from its idle own
 * engine: the task taken back goes to that engine, exactly. */
static void test_steal_own_engine(void)
{
    enum { OWN = 5, SUB = 0x80000005u, VICTIM = 7 };
    tree_relay_t *p = relay(true);
    tree_summary_t one = {1, 1, 1000, 2 * GIB, 0};
    res_capacity_t c1 = engine_cap(1, 0);
    tree_relay_add_engine(p, OWN, &c1);
    tree_relay_add_relay(p, SUB, &one);
    tree_relay_add_relay(p, VICTIM, &one);
    errno = 0;
    ok(tree_relay_set_own_engine(p, OWN, SUB) < 0 && errno == EINVAL,
       "the pairing is relay child then engine child");
    errno = 0;
    ok(tree_relay_set_own_engine(p, SUB, 99) < 0 && errno == ENOENT,
       "an unknown engine is ENOENT");
    ok(tree_relay_set_own_engine(p, SUB, OWN) == 0,
       "relay child 5's own engine is engine child 5");
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(p, &j);
    tree_relay_add_tasks(p, 1, 0, 5);
    tree_action_t act[16];
    int n = tree_relay_step(p, 0, act, 16);
    uint64_t on_own = UINT64_MAX;
    int to_sub = 0, to_victim = 0;
    for (int i = 0; i < n; i++) {
        if (act[i].child == OWN)
            on_own = act[i].index;
        to_sub += act[i].child == SUB;
        to_victim += act[i].child == VICTIM;
    }
    ok(n == 5 && on_own != UINT64_MAX && to_sub == 2 && to_victim == 2,
       "1 task on the own engine, 2 on each subtree (prefetch 2)");

    /* The own engine's task ends, and one of the subtree's: nothing is
     * pending here; the subtree runs one on its one slot (its aggregate
     * has room for one more), the victim runs one and queues one. */
    tree_relay_task_done(p, 1, on_own, SCHED_OK);
    for (uint64_t i = 0; i < 5; i++)
        if (tree_relay_task_child(p, 1, i) == SUB) {
            tree_relay_task_done(p, 1, i, SCHED_OK);
            break;
        }
    tree_relay_child_queued(p, SUB, 0);
    tree_relay_child_queued(p, VICTIM, 1);
    tree_relay_step(p, 1, act, 16);
    tree_relay_steal(p, SUB, 1);
    n = tree_relay_step(p, 2, act, 16);
    ok(n == 1 && act[0].type == TREE_ACT_RECALL && act[0].child == VICTIM,
       "the steal recalls from the other subtree");
    uint64_t back = UINT64_MAX;
    for (uint64_t i = 0; i < 5; i++)
        if (tree_relay_task_child(p, 1, i) == VICTIM)
            back = i;
    ok(tree_relay_returned(p, VICTIM, 1, back) == 0, "one comes back");
    tree_relay_recall_done(p, VICTIM);
    n = tree_relay_step(p, 3, act, 16);
    bool assigned = false, denied = false;
    for (int i = 0; i < n; i++) {
        if (act[i].type == TREE_ACT_ASSIGN && act[i].index == back)
            assigned = act[i].child == OWN && act[i].exact;
        denied |= act[i].type == TREE_ACT_DENY && act[i].child == SUB;
    }
    ok(assigned && tree_relay_task_child(p, 1, back) == OWN,
       "it goes to the thief's idle own engine, exactly, not to the room "
       "its aggregate has (the thief's queue)");
    ok(denied, "and the thief's steal is over (nothing came through it)");
    tree_relay_destroy(p);
}

static void test_child_loss(void)
{
    tree_relay_t *r = relay(true);
    res_capacity_t c = engine_cap(2, 0);
    tree_relay_add_engine(r, 1, &c);
    tree_relay_add_engine(r, 2, &c);
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(r, &j);
    tree_relay_add_tasks(r, 1, 0, 4);
    tree_action_t act[16];
    int n = tree_relay_step(r, 0, act, 16);
    is_int(n, 4, "4 tasks on two engines of 2 slots");
    ok(tree_relay_remove_child(r, 2) == 0, "engine 2 is lost");
    is_int(tree_relay_queued(r), 2, "its 2 tasks are pending again");
    tree_relay_task_done(r, 1, act[0].child == 1 ? act[0].index
                                                 : act[2].index, SCHED_OK);
    n = tree_relay_step(r, 1, act, 16);
    ok(n == 1 && act[0].child == 1, "a freed slot on engine 1 takes one");
    errno = 0;
    ok(tree_relay_remove_child(r, 2) < 0 && errno == ENOENT,
       "a child cannot be removed twice (ENOENT)");

    /* Below the root, a lost child's tasks return to the queue. */
    tree_relay_t *m = relay(false);
    tree_relay_add_engine(m, 1, &c);
    tree_relay_add_job(m, &j);
    tree_relay_assign(m, 1, 40);
    tree_relay_assign(m, 1, 41);
    tree_relay_assign(m, 1, 42);
    n = tree_relay_step(m, 0, act, 16);
    is_int(n, 2, "a relay places 2 tasks on its 2-slot engine");
    tree_relay_remove_child(m, 1);
    is_int(tree_relay_queued(m), 3, "losing the engine puts them back in "
           "the queue (3 queued)");
    tree_relay_add_engine(m, 3, &c);
    n = tree_relay_step(m, 1, act, 16);
    ok(n == 2 && act[0].child == 3 && act[1].child == 3,
       "a new engine gets them");
    tree_relay_destroy(m);
    tree_relay_destroy(r);
}

/* An idle relay asks again once steal_retry_ms has passed, whatever
 * answered its last steal (DENY, or a task that came), with no event in
 * between: nothing else wakes an idle relay up. */
static void test_steal_rearm(void)
{
    tree_relay_t *r = relay(false); /* steal_retry_ms 100 */
    res_capacity_t c = engine_cap(1, 0);
    tree_relay_add_engine(r, 1, &c);
    tree_relay_add_engine(r, 2, &c);
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(r, &j);
    tree_action_t act[16];
    tree_relay_assign(r, 1, 0);
    int n = tree_relay_step(r, 0, act, 16);
    ok(n == 2 && act[0].type == TREE_ACT_ASSIGN
       && act[1].type == TREE_ACT_STEAL && act[1].count == 1,
       "one task on one of two 1-slot engines: it asks for 1 more");
    /* The steal is answered with one task (an ANY entry from above). */
    tree_relay_assign(r, 1, 1);
    n = tree_relay_step(r, 20, act, 16);
    ok(n == 1 && act[0].type == TREE_ACT_ASSIGN,
       "the task that came is placed on the free engine");
    tree_relay_task_done(r, 1, 0, SCHED_OK);
    is_int(tree_relay_step(r, 30, act, 16), 0,
           "an engine frees up 30 ms after the STEAL: it waits");
    is_int(tree_relay_step(r, 60, act, 16), 0, "nothing at 60 ms");
    n = tree_relay_step(r, 110, act, 16);
    ok(n == 1 && act[0].type == TREE_ACT_STEAL && act[0].count == 1,
       "110 ms: one engine is still free, it asks again by itself");
    is_int(tree_relay_step(r, 400, act, 16), 0,
           "and not again while that STEAL is unanswered");
    tree_relay_steal_denied(r, 400);
    is_int(tree_relay_step(r, 450, act, 16), 0, "denied: it waits");
    tree_relay_task_done(r, 1, 1, SCHED_OK);
    n = tree_relay_step(r, 460, act, 16);
    is_int(n, 0, "a task ending meanwhile does not cut the wait short");
    n = tree_relay_step(r, 500, act, 16);
    ok(n == 1 && act[0].type == TREE_ACT_STEAL && act[0].count == 2,
       "100 ms after the DENY it asks for both free engines");
    /* Work queued below (a child reports it): no steal even after the
     * delay. */
    tree_relay_steal_denied(r, 500);
    tree_relay_step(r, 510, act, 16);
    tree_relay_child_queued(r, 2, 3);
    is_int(tree_relay_step(r, 700, act, 16), 0,
           "a child reporting queued work keeps it from asking");
    tree_relay_destroy(r);
}

int main(void)
{
    plan(NO_PLAN);
    test_no_oversubscription();
    test_aggregate_and_queue();
    test_reject();
    test_steal();
    test_steal_own_engine();
    test_steal_rearm();
    test_child_loss();
    return done_testing();
}
