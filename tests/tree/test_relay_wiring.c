/* SPDX-License-Identifier: MIT */
/* test_relay_wiring.c - the relay calls the tree wiring needs: exact
 * allocations in ASSIGN, resizing a relay child, dropping a lost child
 * without requeuing, forgetting tasks, rejections and adoption.
 *
 * As in test_relay.c, relays are driven by hand: the test plays the
 * server or worker that turns actions into messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay_fixture.h"
#include "tap.h"
#include "tree/tree.h"

static tree_summary_t summary(uint64_t slots, uint32_t gpus)
{
    tree_summary_t s = {(uint32_t)slots, slots, slots * 1000,
                        slots * 2 * GIB, gpus};
    return s;
}

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Count the ASSIGN actions of a step per child (ids < 64). */
static int step_assigns(tree_relay_t *r, int64_t now, tree_action_t *act,
                        int max, unsigned *per_child)
{
    int n = tree_relay_step(r, now, act, max);
    for (int i = 0; per_child && i < n; i++)
        if (act[i].type == TREE_ACT_ASSIGN && act[i].child < 64)
            per_child[act[i].child]++;
    return n;
}

/* ------------------------------------------------ exact ASSIGN allocations */

typedef struct running {
    uint32_t job;
    uint64_t index;
    uint32_t child;
    bool exact;
    res_alloc_t alloc;
} running_t;

enum { MAX_RUN = 512 };

/* Tasks running on one engine child must never share a slot identity or
 * a whole GPU, never put more than 1000 milli on a GPU, and stay within
 * the engine's slots and GPUs. */
static bool no_overlap(const running_t *run, size_t n, uint32_t child,
                       const res_capacity_t *cap)
{
    bool slot_seen[64] = {false};
    uint32_t milli[RES_MAX_GPUS] = {0};
    uint64_t whole = 0;
    for (size_t i = 0; i < n; i++) {
        const res_alloc_t *a = &run[i].alloc;
        if (run[i].child != child)
            continue;
        if (!run[i].exact || a->slot < 1 || a->slot > cap->slots
            || slot_seen[a->slot])
            return false;
        slot_seen[a->slot] = true;
        for (int g = 0; g < RES_MAX_GPUS; g++) {
            if (!(a->gpu_mask & (UINT64_C(1) << g)))
                continue;
            if (g >= cap->ngpus)
                return false;
            milli[g] += a->gpu_milli_each;
            if (milli[g] > RES_MILLI)
                return false;
            if (a->gpu_milli_each == RES_MILLI) {
                if (whole & (UINT64_C(1) << g))
                    return false;
                whole |= UINT64_C(1) << g;
            }
        }
    }
    for (int g = 0; g < RES_MAX_GPUS; g++)
        if ((whole & (UINT64_C(1) << g)) && milli[g] != RES_MILLI)
            return false;
    return true;
}

static void test_exact_assign(void)
{
    tree_relay_t *r = relay(true);
    /* Child 1 is the node's own engine, 2 and 3 engine children, 20 a
     * relay child. */
    res_capacity_t caps[4] = {engine_cap(0, 0), engine_cap(4, 2),
                              engine_cap(3, 4), engine_cap(6, 1)};
    for (uint32_t e = 1; e <= 3; e++)
        tree_relay_add_engine(r, e, &caps[e]);
    tree_summary_t sub = summary(4, 2);
    tree_relay_add_relay(r, 20, &sub);
    sched_job_t jobs[4] = {job_def(1, 0), job_def(2, 250), job_def(3, 1000),
                           job_def(4, 2000)};
    for (int i = 0; i < 4; i++) {
        tree_relay_add_job(r, &jobs[i]);
        tree_relay_add_tasks(r, jobs[i].id, 0, 400);
    }
    static running_t run[MAX_RUN];
    size_t nrun = 0;
    bool overlap_ok = true, exact_ok = true, all_done = true;
    unsigned done = 0, forgotten = 0, assigns = 0, relay_assigns = 0;
    tree_action_t act[128];
    for (int round = 0; round < 20000; round++) {
        int n = tree_relay_step(r, round, act, 128);
        for (int i = 0; i < n; i++) {
            if (act[i].type != TREE_ACT_ASSIGN)
                continue;
            assigns++;
            bool is_relay = act[i].child == 20;
            relay_assigns += is_relay;
            if (act[i].exact == is_relay)
                exact_ok = false;
            if (nrun < MAX_RUN)
                run[nrun++] = (running_t){act[i].job_id, act[i].index,
                                          act[i].child, act[i].exact,
                                          act[i].alloc};
        }
        for (uint32_t e = 1; e <= 3; e++)
            overlap_ok &= no_overlap(run, nrun, e, &caps[e]);
        if (nrun == 0)
            break;
        /* End a few at random; sometimes forget one (moved away) and put
         * it back pending. */
        for (int k = (int)(next_rand() % 4); k >= 0 && nrun > 0; k--) {
            size_t p = next_rand() % nrun;
            running_t t = run[p];
            run[p] = run[--nrun];
            if (next_rand() % 10 == 0) {
                all_done &= tree_relay_forget(r, t.job, t.index) == 0;
                all_done &= tree_relay_add_tasks(r, t.job, t.index, 1) == 0;
                forgotten++;
            } else {
                all_done &= tree_relay_task_done(r, t.job, t.index,
                                                 SCHED_OK) == 0;
                done++;
            }
        }
    }
    ok(exact_ok, "ASSIGN to an engine child is exact, to a relay child "
       "not (%u assigns, %u to the relay)", assigns, relay_assigns);
    ok(overlap_ok, "allocations on engine children never overlap on slots "
       "or GPUs under random completions");
    ok(all_done && done == 1600 && nrun == 0,
       "all 1600 tasks ended (%u forgotten and placed again)", forgotten);
    tree_relay_destroy(r);
}

/* ------------------------------------------------------------- drop_child */

static int cmp_task(const void *a, const void *b)
{
    const tree_task_t *x = a, *y = b;
    if (x->job_id != y->job_id)
        return x->job_id < y->job_id ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void test_drop_child(void)
{
    tree_relay_t *r = relay(true);
    res_capacity_t c = engine_cap(2, 0);
    tree_relay_add_engine(r, 1, &c);
    tree_summary_t sub = summary(3, 0);
    tree_relay_add_relay(r, 10, &sub);
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(r, &j);
    tree_relay_add_tasks(r, 1, 0, 20);
    tree_action_t act[32];
    int n = tree_relay_step(r, 0, act, 32);
    tree_task_t want[32];
    size_t nwant = 0;
    for (int i = 0; i < n; i++)
        if (act[i].child == 10)
            want[nwant++] = (tree_task_t){act[i].job_id, act[i].index};
    ok(n == 8 && nwant == 6, "2 tasks on the engine, 6 on the relay child");
    uint64_t queued = tree_relay_queued(r);
    tree_task_t *got = NULL;
    size_t ngot = 0;
    ok(tree_relay_drop_child(r, 10, &got, &ngot) == 0, "relay child dropped");
    qsort(want, nwant, sizeof(*want), cmp_task);
    qsort(got, ngot, sizeof(*got), cmp_task);
    bool same = ngot == nwant;
    for (size_t i = 0; same && i < ngot; i++)
        same = cmp_task(&got[i], &want[i]) == 0;
    ok(same, "it returns exactly the tasks it held");
    is_int(tree_relay_queued(r), queued, "nothing was requeued");
    bool gone = true;
    for (size_t i = 0; i < ngot; i++) {
        gone &= tree_relay_task_child(r, got[i].job_id, got[i].index)
                == TREE_NONE;
        errno = 0;
        gone &= tree_relay_task_done(r, got[i].job_id, got[i].index,
                                     SCHED_OK) < 0 && errno == ENOENT;
    }
    ok(gone, "they are forgotten here: a late result is ENOENT");
    free(got);
    errno = 0;
    ok(tree_relay_drop_child(r, 10, &got, &ngot) < 0 && errno == ENOENT,
       "twice: ENOENT");
    n = tree_relay_step(r, 1, act, 32);
    is_int(n, 0, "no task goes anywhere: the engine is full");
    tree_relay_add_relay(r, 11, &sub);
    n = tree_relay_step(r, 2, act, 32);
    ok(n == 6 && act[0].child == 11, "a new relay child gets 6 new tasks");
    /* A child holding nothing. */
    res_capacity_t c0 = engine_cap(1, 0);
    tree_relay_add_engine(r, 5, &c0);
    tree_relay_step(r, 3, act, 32);
    tree_relay_task_done(r, 1, act[0].index, SCHED_OK);
    ok(tree_relay_drop_child(r, 5, &got, &ngot) == 0 && ngot == 0
       && got == NULL, "a child holding nothing: an empty list");
    tree_relay_destroy(r);

    /* Below the root: the queue is not refilled by a drop either. */
    tree_relay_t *m = relay(false);
    tree_relay_add_engine(m, 1, &c);
    tree_relay_add_job(m, &j);
    for (uint64_t i = 0; i < 5; i++)
        tree_relay_assign(m, 1, i);
    n = tree_relay_step(m, 0, act, 32);
    is_int(n, 2, "2 of 5 placed on the engine");
    ok(tree_relay_drop_child(m, 1, &got, &ngot) == 0 && ngot == 2,
       "dropping it lists 2");
    is_int(tree_relay_queued(m), 3, "the queue still holds only the other 3");
    free(got);
    tree_relay_destroy(m);
}

/* ------------------------------------------------------------------ forget */

static void test_forget(void)
{
    tree_relay_t *r = relay(true);
    res_capacity_t c = engine_cap(2, 0);
    tree_relay_add_engine(r, 1, &c);
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(r, &j);
    tree_relay_add_tasks(r, 1, 0, 5);
    tree_action_t act[16];
    int n = tree_relay_step(r, 0, act, 16);
    is_int(n, 2, "2 placed");
    ok(tree_relay_forget(r, 1, act[0].index) == 0, "a placed task forgotten");
    is_int(tree_relay_child_inflight(r, 1), 1, "released from its child");
    is_int(tree_relay_queued(r), 3, "not requeued");
    errno = 0;
    ok(tree_relay_task_done(r, 1, act[0].index, SCHED_OK) < 0
       && errno == ENOENT, "no result is taken for it");
    ok(tree_relay_forget(r, 1, 4) == 0, "a pending task forgotten (root)");
    is_int(tree_relay_queued(r), 2, "2 pending");
    n = tree_relay_step(r, 1, act, 16);
    ok(n == 1 && act[0].index == 2, "the freed slot takes the next task");
    errno = 0;
    ok(tree_relay_forget(r, 1, 4) < 0 && errno == ENOENT,
       "twice: ENOENT");
    tree_relay_destroy(r);

    tree_relay_t *m = relay(false);
    tree_relay_add_engine(m, 1, &c);
    tree_relay_add_job(m, &j);
    for (uint64_t i = 10; i < 15; i++)
        tree_relay_assign(m, 1, i);
    ok(tree_relay_forget(m, 1, 12) == 0, "a queued task forgotten");
    is_int(tree_relay_queued(m), 4, "the queue shrinks");
    unsigned total = 0;
    bool never12 = true;
    for (int round = 0; round < 10; round++) {
        n = tree_relay_step(m, round, act, 16);
        for (int i = 0; i < n; i++) {
            if (act[i].type != TREE_ACT_ASSIGN)
                continue; /* an idle relay asks for work too */
            never12 &= act[i].index != 12;
            total++;
            tree_relay_task_done(m, 1, act[i].index, SCHED_OK);
        }
    }
    ok(never12 && total == 4, "it is never placed; the other 4 are");
    tree_result_t res[16];
    is_int(tree_relay_take_results(m, res, 16), 4, "4 results go up");
    tree_relay_destroy(m);
}

/* ---------------------------------------------------------------- rejected */

static void test_rejected(void)
{
    tree_relay_t *r = relay(true);
    tree_summary_t sub = summary(2, 0);
    tree_relay_add_relay(r, 10, &sub);
    tree_relay_add_relay(r, 20, &sub);
    sched_job_t j = job_def(1, 0), k = job_def(2, 0);
    tree_relay_add_job(r, &j);
    tree_relay_add_job(r, &k);
    tree_relay_add_tasks(r, 1, 0, 6);
    tree_action_t act[32];
    int n = tree_relay_step(r, 0, act, 32);
    is_int(n, 6, "6 tasks over two relay children");
    uint64_t on10 = UINT64_MAX;
    for (int i = 0; i < n; i++)
        if (act[i].child == 10 && on10 == UINT64_MAX)
            on10 = act[i].index;
    errno = 0;
    ok(tree_relay_rejected(r, 20, 1, on10) < 0 && errno == ENOENT,
       "a rejection from a child that does not hold it: ENOENT");
    ok(tree_relay_rejected(r, 10, 1, on10) == 0, "child 10 rejects one");
    is_int(tree_relay_child_inflight(r, 10), 2, "released from child 10");
    is_int(tree_relay_queued(r), 1, "pending here again");
    tree_relay_add_tasks(r, 2, 0, 4);
    tree_relay_add_tasks(r, 1, 6, 10);
    unsigned per[64] = {0};
    bool never10 = true, rejected_back = false;
    for (int round = 1; round < 200; round++) {
        n = step_assigns(r, round, act, 32, per);
        for (int i = 0; i < n; i++) {
            if (act[i].type != TREE_ACT_ASSIGN)
                continue;
            if (act[i].job_id == 1 && act[i].child == 10)
                never10 = false;
            if (act[i].job_id == 1 && act[i].index == on10)
                rejected_back = act[i].child == 20;
        }
        /* Complete everything placed so far on both children. */
        for (uint64_t i = 0; i < 16; i++)
            tree_relay_task_done(r, 1, i, SCHED_OK);
        for (uint64_t i = 0; i < 4; i++)
            tree_relay_task_done(r, 2, i, SCHED_OK);
    }
    ok(never10, "job 1 is never offered to child 10 again");
    ok(rejected_back, "the rejected task ran on child 20");
    ok(per[10] >= 4, "child 10 still gets job 2 (%u assigns)", per[10]);

    /* Child 20 rejects too: no child is left, the root fails the job. */
    tree_relay_add_tasks(r, 1, 100, 6);
    n = tree_relay_step(r, 300, act, 32);
    ok(n == 4 && act[0].child == 20 && act[3].child == 20,
       "4 of 6 new tasks on child 20");
    uint64_t first = act[0].index;
    ok(tree_relay_rejected(r, 20, 1, first) == 0, "child 20 rejects one");
    n = tree_relay_step(r, 301, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_INFEASIBLE && act[0].job_id == 1
       && act[0].count == 3, "the root: INFEASIBLE, 3 pending dropped");
    tree_relay_destroy(r);

    /* Below the root, the task goes up as REJECT. */
    tree_relay_t *m = relay(false);
    tree_relay_add_relay(m, 10, &sub);
    tree_relay_add_job(m, &j);
    tree_relay_assign(m, 1, 7);
    n = tree_relay_step(m, 0, act, 32);
    ok(n >= 1 && act[0].type == TREE_ACT_ASSIGN && act[0].child == 10,
       "placed on its only child");
    ok(tree_relay_rejected(m, 10, 1, 7) == 0, "which rejects it");
    n = tree_relay_step(m, 1, act, 32);
    ok(n >= 1 && act[0].type == TREE_ACT_REJECT && act[0].index == 7,
       "so the relay rejects it up");
    is_int(tree_relay_queued(m), 0, "and holds nothing");
    tree_relay_destroy(m);
}

/* ----------------------------------------------------------- update_relay */

static void test_update_relay(void)
{
    tree_relay_t *r = relay(true);
    tree_summary_t sub = summary(2, 0);
    tree_relay_add_relay(r, 10, &sub);
    sched_job_t j = job_def(1, 0);
    tree_relay_add_job(r, &j);
    tree_relay_add_tasks(r, 1, 0, 100);
    tree_action_t act[32];
    int n = tree_relay_step(r, 0, act, 32);
    is_int(n, 4, "2 slots x prefetch 2: 4 tasks");
    sub = summary(4, 0);
    ok(tree_relay_update_relay(r, 10, &sub) == 0, "the subtree grows to 4");
    n = tree_relay_step(r, 1, act + 4, 28);
    is_int(n, 4, "4 more are placed");
    is_int(tree_relay_child_inflight(r, 10), 8, "8 held");
    sub = summary(1, 0);
    ok(tree_relay_update_relay(r, 10, &sub) == 0, "it shrinks to 1");
    is_int(tree_relay_child_inflight(r, 10), 8, "its tasks stay");
    for (int i = 0; i < 5; i++)
        tree_relay_task_done(r, 1, act[i].index, SCHED_OK);
    n = tree_relay_step(r, 2, act + 8, 24);
    is_int(n, 0, "3 held, aggregate 2: nothing placed");
    tree_relay_task_done(r, 1, act[5].index, SCHED_OK);
    tree_relay_task_done(r, 1, act[6].index, SCHED_OK);
    n = tree_relay_step(r, 3, act + 8, 24);
    is_int(n, 1, "1 held: one more");
    errno = 0;
    ok(tree_relay_update_relay(r, 99, &sub) < 0 && errno == ENOENT,
       "unknown child: ENOENT");
    res_capacity_t c = engine_cap(1, 0);
    tree_relay_add_engine(r, 2, &c);
    errno = 0;
    ok(tree_relay_update_relay(r, 2, &sub) < 0 && errno == ENOENT,
       "an engine child: ENOENT");
    tree_relay_destroy(r);

    /* GPUs: a shrink waits for the GPU positions in use. */
    tree_relay_t *g = relay(true);
    sub = summary(8, 2);
    tree_relay_add_relay(g, 10, &sub);
    sched_job_t gj = job_def(1, 1000);
    tree_relay_add_job(g, &gj);
    tree_relay_add_tasks(g, 1, 0, 50);
    n = tree_relay_step(g, 0, act, 32);
    is_int(n, 4, "2 GPUs x prefetch 2: 4 GPU tasks");
    sub = summary(8, 1);
    ok(tree_relay_update_relay(g, 10, &sub) == 0,
       "shrink to 1 GPU (2 positions) while 4 are in use");
    for (int i = 0; i < 4; i++)
        tree_relay_task_done(g, 1, act[i].index, SCHED_OK);
    n = tree_relay_step(g, 1, act, 32);
    is_int(n, 2, "after they end, only 2 positions are used again");
    sub = summary(8, 0);
    ok(tree_relay_update_relay(g, 10, &sub) == 0, "shrink to no GPU");
    tree_relay_task_done(g, 1, act[0].index, SCHED_OK);
    n = tree_relay_step(g, 2, act + 2, 30);
    is_int(n, 0, "a freed position takes no new task while draining");
    tree_relay_task_done(g, 1, act[1].index, SCHED_OK);
    n = tree_relay_step(g, 3, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_INFEASIBLE,
       "drained: no GPU left anywhere, the job is infeasible");
    tree_relay_destroy(g);
}

/* ------------------------------------------------------------------- adopt */

static void test_adopt(void)
{
    tree_relay_t *r = relay(true);
    res_capacity_t c = engine_cap(2, 1);
    tree_relay_add_engine(r, 1, &c);
    tree_summary_t sub = summary(1, 0);
    tree_relay_add_relay(r, 10, &sub);
    sched_job_t j = job_def(1, 0), gj = job_def(2, 1000);
    tree_relay_add_job(r, &j);
    tree_relay_add_job(r, &gj);
    res_alloc_t a;
    memset(&a, 0, sizeof(a));
    a.slots = 1;
    a.slot = 2;
    a.cpus_milli = 1000;
    a.mem_bytes = GIB;
    a.gpu_mask = 1;
    a.gpu_milli_each = 1000;
    ok(tree_relay_adopt(r, 1, 2, 5, 0, &a) == 0,
       "a GPU task found on engine 1 (slot 2, GPU 0) is adopted");
    errno = 0;
    ok(tree_relay_adopt(r, 1, 2, 5, 0, &a) < 0 && errno == EEXIST,
       "twice: EEXIST");
    errno = 0;
    ok(tree_relay_adopt(r, 1, 2, 6, 0, &a) < 0 && errno == EBUSY,
       "an overlapping one: EBUSY");
    is_int(tree_relay_child_inflight(r, 1), 1, "and not accounted");
    errno = 0;
    ok(tree_relay_adopt(r, 1, 2, 6, 0, NULL) == 0
       && tree_relay_child_inflight(r, 1) == 2,
       "no allocation: the job's request is counted, past capacity too");
    tree_relay_task_done(r, 2, 6, SCHED_OK);
    errno = 0;
    ok(tree_relay_adopt(r, 7, 1, 0, 0, NULL) < 0 && errno == ENOENT
       && tree_relay_adopt(r, 1, 9, 0, 0, &a) < 0 && errno == ENOENT,
       "unknown child or job: ENOENT");
    ok(tree_relay_adopt(r, 10, 1, 50, 0, NULL) == 0
       && tree_relay_adopt(r, 10, 1, 51, 0, NULL) == 0
       && tree_relay_adopt(r, 10, 1, 52, 0, NULL) == 0,
       "3 tasks adopted on a relay child of aggregate 2 (past it)");
    ok(tree_relay_task_child(r, 1, 51) == 10, "they are held by child 10");

    tree_relay_add_tasks(r, 2, 0, 3);
    tree_relay_add_tasks(r, 1, 0, 1);
    tree_action_t act[16];
    int n = tree_relay_step(r, 0, act, 16);
    bool slot1 = n == 1 && act[0].child == 1 && act[0].job_id == 1
                 && act[0].exact && act[0].alloc.slot == 1;
    ok(slot1, "only slot 1 of engine 1 is placed: nothing over the adopted "
       "tasks (no GPU task, nothing on child 10)");
    tree_relay_task_done(r, 2, 5, SCHED_OK);
    n = tree_relay_step(r, 1, act + 1, 15);
    ok(n == 1 && act[1].job_id == 2 && act[1].alloc.gpu_mask == 1
       && act[1].alloc.slot == 2,
       "the adopted task's end frees its slot and GPU for a GPU task");
    for (uint64_t i = 50; i < 53; i++)
        tree_relay_task_done(r, 1, i, SCHED_OK);
    tree_relay_add_tasks(r, 1, 60, 5);
    n = tree_relay_step(r, 2, act + 2, 14);
    ok(n == 2 && act[2].child == 10 && act[3].child == 10,
       "after the adopted tasks end, child 10 takes 2 again");
    tree_relay_destroy(r);

    /* Below the root, a task queued here and found running on a child is
     * taken out of the queue. */
    tree_relay_t *m = relay(false);
    res_capacity_t c2 = engine_cap(1, 0);
    tree_relay_add_engine(m, 1, &c2);
    tree_relay_add_job(m, &j);
    tree_relay_assign(m, 1, 3);
    tree_relay_assign(m, 1, 4);
    memset(&a, 0, sizeof(a));
    a.slots = 1;
    a.slot = 1;
    ok(tree_relay_adopt(m, 1, 1, 4, 0, &a) == 0, "queued task 4 adopted");
    is_int(tree_relay_queued(m), 1, "the queue holds task 3 only");
    is_int(tree_relay_step(m, 0, act, 16), 0, "the engine is full");
    ok(tree_relay_task_done(m, 1, 4, SCHED_OK) == 0, "its result is taken");
    n = tree_relay_step(m, 1, act, 16);
    ok(n == 1 && act[0].index == 3, "then task 3 runs");
    tree_relay_destroy(m);
}

int main(void)
{
    plan(NO_PLAN);
    test_exact_assign();
    test_drop_child();
    test_forget();
    test_rejected();
    test_update_relay();
    test_adopt();
    return done_testing();
}
