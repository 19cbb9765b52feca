/* SPDX-License-Identifier: MIT */
/* test_relay_steal.c - tasks given back for a steal do not bounce back to
 * their victim.
 *
 * A recalled child gives tasks back; the ones that do not fit the thief
 * are parked at the parent (tree_relay.c): placed on the thief once it has
 * room, or on another child with room, never on the victim while the steal
 * is on; after steal_retry_ms the core takes them over.  Relays are driven
 * by hand as in test_relay.c; the soak at the end plays a whole root with
 * engine and relay children in virtual time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tree/tree.h"

#define GIB (UINT64_C(1) << 30)
#define RETRY_MS 100

static res_capacity_t engine_cap(uint32_t slots)
{
    res_capacity_t c;
    memset(&c, 0, sizeof(c));
    c.slots = slots;
    c.cpus_milli = slots * 1000;
    c.mem_bytes = slots * 2 * GIB;
    return c;
}

/* Job id with tasks of `slots` slots each. */
static sched_job_t job_def(uint32_t id, uint32_t slots)
{
    sched_job_t j;
    memset(&j, 0, sizeof(j));
    j.id = id;
    j.req.slots = slots;
    j.req.cpus_milli = 1000 * slots;
    j.req.mem_bytes = GIB * slots;
    j.max_attempts = 1;
    return j;
}

static tree_relay_t *relay(bool root)
{
    tree_relay_config_t cfg;
    tree_relay_config_default(&cfg);
    cfg.is_root = root;
    cfg.steal_retry_ms = RETRY_MS;
    return tree_relay_create(&cfg);
}

static tree_summary_t summary(uint64_t slots)
{
    tree_summary_t s = {1, slots, slots * 1000, slots * 2 * GIB, 0};
    return s;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ------------------------------------------------------------------------ */

/* Root P: thief T (engine child 1, 2 slots), victim V (relay child 2 over
 * one 4-slot engine 21).  V holds 1-slot tasks of job 1 and a 2-slot task
 * of job 2 queued; T runs one 1-slot task and steals. */
static void test_thief_without_room(void)
{
    tree_relay_t *p = relay(true), *v = relay(false);
    tree_summary_t vs = summary(4);
    tree_relay_add_relay(p, 2, &vs);
    res_capacity_t c4 = engine_cap(4);
    tree_relay_add_engine(v, 21, &c4);
    sched_job_t j1 = job_def(1, 1), j2 = job_def(2, 2);
    tree_relay_add_job(p, &j1);
    tree_relay_add_job(p, &j2);
    tree_relay_add_job(v, &j1);
    tree_relay_add_job(v, &j2);
    /* 6 + 2 slots: V's aggregate (4 slots x prefetch 2) takes all; 2/0
     * comes last, so that it is V's newest queued task. */
    tree_relay_add_tasks(p, 1, 0, 6);
    tree_action_t act[32], va[32];
    int n = tree_relay_step(p, 0, act, 32);
    for (int i = 0; i < n; i++)
        tree_relay_assign(v, act[i].job_id, act[i].index);
    int nv = tree_relay_step(v, 0, va, 32);
    is_int(nv, 4, "V's engine starts four 1-slot tasks");
    tree_relay_add_tasks(p, 2, 0, 1);
    n = tree_relay_step(p, 0, act, 32);
    ok(n == 1 && act[0].child == 2 && act[0].job_id == 2,
       "2/0 goes to V too (8 aggregate slots in all)");
    tree_relay_assign(v, 2, 0);
    is_int(tree_relay_step(v, 0, va, 32), 0, "V cannot start it");
    is_int(tree_relay_queued(v), 3, "V queues 1/4, 1/5 and 2/0");
    tree_relay_child_queued(p, 2, tree_relay_queued(v));

    /* T joins and gets one 1-slot task: room for 1 slot, not 2. */
    res_capacity_t c2 = engine_cap(2);
    tree_relay_add_engine(p, 1, &c2);
    tree_relay_add_tasks(p, 1, 6, 1);
    n = tree_relay_step(p, 1, act, 32);
    ok(n == 1 && act[0].child == 1 && act[0].index == 6,
       "T runs task 1/6 (one of its two slots)");

    tree_relay_steal(p, 1, 2);
    n = tree_relay_step(p, 2, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_RECALL && act[0].child == 2
       && act[0].count == 2, "T's steal recalls 2 tasks from V");
    tree_relay_recall(v, 2);
    nv = tree_relay_step(v, 2, va, 32);
    ok(nv == 3 && va[0].type == TREE_ACT_RETURN
       && va[1].type == TREE_ACT_RETURN
       && va[2].type == TREE_ACT_RECALL_DONE,
       "V gives back two of its queued tasks");
    bool got2 = false;
    uint64_t small = 0;
    for (int i = 0; i < 2; i++) {
        tree_relay_returned(p, 2, va[i].job_id, va[i].index);
        got2 |= va[i].job_id == 2;
        if (va[i].job_id == 1)
            small = va[i].index;
    }
    ok(got2, "one of them is the 2-slot task 2/0");
    tree_relay_recall_done(p, 2);

    n = tree_relay_step(p, 3, act, 32);
    int to_t = 0, to_v = 0, denies = 0;
    for (int i = 0; i < n; i++) {
        to_t += act[i].type == TREE_ACT_ASSIGN && act[i].child == 1
                && act[i].job_id == 1;
        to_v += act[i].type == TREE_ACT_ASSIGN && act[i].child == 2;
        denies += act[i].type == TREE_ACT_DENY;
    }
    ok(n == 1 && to_t == 1, "the 1-slot task goes to T (1 action in all)");
    is_int(to_v, 0, "the 2-slot task does not go back to V, which has room "
           "for it again");
    is_int(denies, 0, "T is not denied: it got a task");
    is_int(tree_relay_task_child(p, 2, 0), TREE_NONE,
           "2/0 waits at the parent, placed nowhere");
    is_int(tree_relay_queued(p), 1, "and counts as queued there");
    n = tree_relay_step(p, 3 + RETRY_MS / 2, act, 32);
    is_int(n, 0, "half the retry delay later it still waits for T");

    /* T's first task ends: still room for 1 slot only. */
    tree_relay_task_done(p, 1, 6, SCHED_OK);
    n = tree_relay_step(p, 4, act, 32);
    is_int(n, 0, "with one slot free T still does not get 2/0");
    /* The stolen one ends too: now T has room for 2 slots. */
    tree_relay_task_done(p, 1, small, SCHED_OK);
    n = tree_relay_step(p, 4 + RETRY_MS / 2, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_ASSIGN && act[0].child == 1
       && act[0].job_id == 2 && act[0].exact && act[0].alloc.slots == 2,
       "once T has room, 2/0 goes to T with an exact 2-slot allocation");

    /* Run everything out: every task ends exactly once. */
    int ends[2][8] = {{0}};
    ends[0][6]++;
    ends[0][small]++;
    for (uint64_t i = 0; i < 8; i++)
        for (uint32_t job = 1; job <= 2; job++) {
            uint32_t where = tree_relay_task_child(p, job, i);
            if (where == 1 && tree_relay_task_done(p, job, i, SCHED_OK) == 0)
                ends[job - 1][i]++;
        }
    for (int round = 0; round < 10; round++) {
        for (uint64_t i = 0; i < 8; i++)
            for (uint32_t job = 1; job <= 2; job++)
                if (tree_relay_task_child(v, job, i) != TREE_NONE)
                    tree_relay_task_done(v, job, i, SCHED_OK);
        tree_relay_step(v, 10 + round, va, 32);
        tree_result_t res[16];
        size_t nr = tree_relay_take_results(v, res, 16);
        for (size_t i = 0; i < nr; i++)
            if (tree_relay_task_done(p, res[i].job_id, res[i].index,
                                     SCHED_OK) == 0)
                ends[res[i].job_id - 1][res[i].index]++;
        tree_relay_child_queued(p, 2, tree_relay_queued(v));
        n = tree_relay_step(p, 10 + round, act, 32);
        for (int i = 0; i < n; i++)
            if (act[i].type == TREE_ACT_ASSIGN)
                to_v++;
    }
    bool once = true;
    for (int i = 0; i < 7; i++)
        once &= ends[0][i] == 1;
    once &= ends[1][0] == 1;
    ok(once, "tasks 1/0..1/6 and 2/0 end exactly once each");
    is_int(to_v, 0, "nothing was placed on V again");
    tree_report_t rep;
    tree_relay_report(p, &rep);
    ok(rep.inflight == 0 && rep.queued == 0, "the parent holds nothing");
    tree_relay_destroy(v);
    tree_relay_destroy(p);
}

/* A 2-slot task that does not fit the thief goes to another child with
 * room (W), not back to the victim; with no room anywhere but the victim,
 * it waits for the retry delay and then the core takes it over; when only
 * the victim can ever run it, at once. */
static void test_other_child_and_timeout(void)
{
    tree_relay_t *p = relay(true);
    res_capacity_t c1 = engine_cap(1), c4 = engine_cap(4);
    tree_summary_t vs = summary(2);
    tree_relay_add_relay(p, 2, &vs);     /* victim: aggregate 4 slots */
    tree_relay_add_engine(p, 1, &c1);    /* thief: 1 slot, never 2 */
    sched_job_t j2 = job_def(2, 2);
    tree_relay_add_job(p, &j2);
    tree_relay_add_tasks(p, 2, 0, 2);
    tree_action_t act[32];
    int n = tree_relay_step(p, 0, act, 32);
    ok(n == 2 && act[0].child == 2 && act[1].child == 2,
       "the victim takes both 2-slot tasks, the thief none");
    tree_relay_child_queued(p, 2, 1);
    tree_relay_steal(p, 1, 1);
    n = tree_relay_step(p, 1, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_RECALL, "the steal recalls one");
    /* Only the victim can ever run it (the thief has 1 slot): pending in
     * the core again at once, and back to the victim. */
    ok(tree_relay_returned(p, 2, 2, 1) == 0, "task 2/1 comes back");
    tree_relay_recall_done(p, 2);
    n = tree_relay_step(p, 2, act, 32);
    int assign_v = 0, deny_t = 0;
    for (int i = 0; i < n; i++) {
        assign_v += act[i].type == TREE_ACT_ASSIGN && act[i].child == 2;
        deny_t += act[i].type == TREE_ACT_DENY && act[i].child == 1;
    }
    ok(n == 2 && assign_v == 1 && deny_t == 1,
       "when no child but the victim can ever run it, it goes back at once "
       "and the thief, which got nothing, is denied");

    /* W (4 slots) joins and takes a new task: 2 slots left. */
    tree_relay_add_engine(p, 3, &c4);
    tree_relay_add_tasks(p, 2, 2, 1);
    n = tree_relay_step(p, 3, act, 32);
    ok(n == 1 && act[0].child == 3 && act[0].index == 2,
       "W takes task 2/2");
    tree_relay_child_queued(p, 2, 1);
    tree_relay_steal(p, 1, 1);
    n = tree_relay_step(p, 4, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_RECALL && act[0].child == 2,
       "a second steal recalls from the victim");
    ok(tree_relay_returned(p, 2, 2, 1) == 0
       && tree_relay_recall_done(p, 2) == 0, "2/1 comes back again");
    n = tree_relay_step(p, 5, act, 32);
    deny_t = 0;
    for (int i = 1; i < n; i++)
        deny_t += act[i].type == TREE_ACT_DENY && act[i].child == 1;
    ok(n == 2 && act[0].type == TREE_ACT_ASSIGN && act[0].child == 3
       && act[0].index == 1 && deny_t == 1,
       "W has room for it: it goes there, not to the victim (the thief is "
       "denied)");

    /* Fill the victim too (W is full), steal again: no room then but the
     * victim's. */
    tree_relay_add_tasks(p, 2, 10, 1);
    n = tree_relay_step(p, 6, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_ASSIGN && act[0].child == 2,
       "a new task fills the victim");
    uint32_t on_v = TREE_NONE;
    for (uint64_t i = 0; i < 12; i++)
        if (tree_relay_task_child(p, 2, i) == 2)
            on_v = (uint32_t)i;
    tree_relay_child_queued(p, 2, 1);
    tree_relay_steal(p, 1, 1);
    n = tree_relay_step(p, 7, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_RECALL && on_v != TREE_NONE,
       "a third steal recalls from the victim");
    tree_relay_returned(p, 2, 2, on_v);
    tree_relay_recall_done(p, 2);
    n = tree_relay_step(p, 8, act, 32);
    is_int(n, 0, "nothing has room but the victim: the task waits, and "
           "the thief is not denied yet");
    n = tree_relay_step(p, 8 + RETRY_MS - 1, act, 32);
    is_int(n, 0, "still waiting just before the retry delay");
    n = tree_relay_step(p, 8 + RETRY_MS, act, 32);
    assign_v = deny_t = 0;
    for (int i = 0; i < n; i++) {
        assign_v += act[i].type == TREE_ACT_ASSIGN && act[i].child == 2
                    && act[i].index == on_v;
        deny_t += act[i].type == TREE_ACT_DENY && act[i].child == 1;
    }
    ok(n == 2 && assign_v == 1 && deny_t == 1,
       "after the retry delay the core takes it over (back to the victim, "
       "the only room) and the thief is denied");
    int ended = 0;
    for (uint64_t i = 0; i < 12; i++)
        if (tree_relay_task_child(p, 2, i) != TREE_NONE)
            ended += tree_relay_task_done(p, 2, i, SCHED_OK) == 0;
    is_int(ended, 4, "the 4 tasks end once each");
    tree_report_t rep;
    tree_relay_report(p, &rep);
    ok(rep.inflight == 0 && rep.queued == 0, "the parent holds nothing");
    tree_relay_destroy(p);
}

/* A parked task is forgotten, adopted or handed up on a recall like a
 * queued one. */
static void test_parked_bookkeeping(void)
{
    tree_relay_t *p = relay(false);
    tree_summary_t vs = summary(4);
    res_capacity_t c1 = engine_cap(1), c4 = engine_cap(4);
    tree_relay_add_relay(p, 2, &vs);   /* victim: aggregate 8 slots */
    tree_relay_add_engine(p, 1, &c1);  /* thief: too small */
    tree_relay_add_engine(p, 3, &c4);  /* W */
    sched_job_t j2 = job_def(2, 2);
    tree_relay_add_job(p, &j2);
    for (uint64_t i = 0; i < 6; i++)
        tree_relay_assign(p, 2, i);
    tree_action_t act[32];
    int n = tree_relay_step(p, 0, act, 32);
    uint64_t on_v[4], k = 0;
    int assigns = 0;
    for (int i = 0; i < n; i++) {
        assigns += act[i].type == TREE_ACT_ASSIGN;
        if (act[i].type == TREE_ACT_ASSIGN && act[i].child == 2 && k < 4)
            on_v[k++] = act[i].index;
    }
    ok(assigns == 6 && k == 4, "6 tasks placed: 4 on the victim, 2 on W");
    tree_relay_child_queued(p, 2, 6);
    tree_relay_steal(p, 1, 3);
    n = tree_relay_step(p, 1, act, 32);
    ok(n == 1 && act[0].type == TREE_ACT_RECALL
       && act[0].count == 3, "the thief's steal recalls 3");
    for (int i = 0; i < 3; i++)
        tree_relay_returned(p, 2, 2, on_v[i]);
    tree_relay_recall_done(p, 2);
    n = tree_relay_step(p, 2, act, 32);
    is_int(n, 0, "three tasks parked (W full, the thief too small)");
    is_int(tree_relay_queued(p), 3, "they count as queued");
    ok(tree_relay_forget(p, 2, on_v[0]) == 0,
       "a parked task can be forgotten");
    errno = 0;
    ok(tree_relay_task_done(p, 2, on_v[1], SCHED_OK) < 0 && errno == ENOENT,
       "a parked task is not running (ENOENT)");
    ok(tree_relay_adopt(p, 2, 2, on_v[1], 0, NULL) == 0
       && tree_relay_task_child(p, 2, on_v[1]) == 2,
       "a parked task found running on a child is adopted there");
    tree_relay_recall(p, 1);
    n = tree_relay_step(p, 3, act, 32);
    int ret = 0, done = 0, deny = 0;
    for (int i = 0; i < n; i++) {
        ret += act[i].type == TREE_ACT_RETURN && act[i].index == on_v[2];
        done += act[i].type == TREE_ACT_RECALL_DONE && act[i].count == 1;
        deny += act[i].type == TREE_ACT_DENY && act[i].child == 1;
    }
    ok(n == 3 && ret == 1 && done == 1,
       "a recall from the parent hands the parked task up");
    ok(deny == 1, "the thief, which got nothing, is denied once nothing "
       "waits for it");
    is_int(tree_relay_queued(p), 0, "nothing is parked any more");
    ok(tree_relay_task_done(p, 2, on_v[1], SCHED_OK) == 0
       && tree_relay_task_done(p, 2, on_v[3], SCHED_OK) == 0,
       "the victim's tasks end");
    tree_relay_destroy(p);
}

/* ------------------------------------------------------------------ soak */

enum {
    NJOB = 2,
    NTASK = 400,          /* per job */
    NCHILD = 6,           /* of the root: 3 engines, 3 relays */
    ENG_PER_RELAY = 3,
    MAX_RUN = 512,
};

typedef struct run {
    uint32_t engine;      /* engine id */
    uint32_t job;
    uint64_t index;
    int64_t end_ms;
} run_t;

static run_t runs[MAX_RUN];
static size_t nruns;

typedef struct child {
    uint32_t id;
    bool is_relay;
    tree_relay_t *rel;
    uint32_t slots;       /* engine child: its slots */
    uint32_t used;        /* engine child: slots in use */
    bool steal_out;       /* engine child: a steal unanswered */
    int64_t steal_next;
} child_t;

static child_t kids[NCHILD];
static int ends[NJOB + 1][NTASK];
/* The child a task last came back from, and when (bounce check). */
static uint32_t back_from[NJOB + 1][NTASK];
static int64_t back_at[NJOB + 1][NTASK];
static int bounces, returns, recalls_sent, steals_sent, parked_elsewhere;
static bool protocol_ok = true;

static child_t *kid(uint32_t id)
{
    for (int i = 0; i < NCHILD; i++)
        if (kids[i].id == id)
            return &kids[i];
    return NULL;
}

static void start_run(uint32_t engine, uint32_t job, uint64_t index,
                      int64_t now)
{
    if (nruns == MAX_RUN) {
        protocol_ok = false;
        return;
    }
    /* 2-slot tasks run long, 1-slot ones short: thieves free up 1 slot at
     * a time while 2-slot tasks queue behind. */
    int64_t d = job == 2 ? 40 + (int64_t)(next_rand() % 80)
                         : 5 + (int64_t)(next_rand() % 30);
    runs[nruns++] = (run_t){engine, job, index, now + d};
}

static void root_actions(tree_relay_t *root, int64_t now);

static void relay_actions(child_t *c, tree_relay_t *root, int64_t now)
{
    tree_action_t act[64];
    int n;
    while ((n = tree_relay_step(c->rel, now, act, 64)) > 0) {
        for (int i = 0; i < n; i++) {
            tree_action_t *a = &act[i];
            switch (a->type) {
            case TREE_ACT_ASSIGN:
                start_run(a->child, a->job_id, a->index, now);
                break;
            case TREE_ACT_RETURN:
                if (tree_relay_returned(root, c->id, a->job_id, a->index) < 0)
                    protocol_ok = false;
                back_from[a->job_id][a->index] = c->id;
                back_at[a->job_id][a->index] = now;
                returns++;
                break;
            case TREE_ACT_RECALL_DONE:
                tree_relay_recall_done(root, c->id);
                break;
            case TREE_ACT_STEAL:
                tree_relay_steal(root, c->id, (uint32_t)a->count);
                steals_sent++;
                break;
            default:
                protocol_ok = false; /* REJECT etc. not expected */
            }
        }
    }
}

static void root_actions(tree_relay_t *root, int64_t now)
{
    tree_action_t act[64];
    int n;
    while ((n = tree_relay_step(root, now, act, 64)) > 0) {
        for (int i = 0; i < n; i++) {
            tree_action_t *a = &act[i];
            child_t *c = kid(a->child);
            switch (a->type) {
            case TREE_ACT_ASSIGN:
                if (back_from[a->job_id][a->index] == a->child
                    && now - back_at[a->job_id][a->index] < RETRY_MS)
                    bounces++;
                if (back_from[a->job_id][a->index] != TREE_NONE
                    && back_from[a->job_id][a->index] != a->child)
                    parked_elsewhere++;
                back_from[a->job_id][a->index] = TREE_NONE;
                if (c->is_relay) {
                    if (tree_relay_assign(c->rel, a->job_id, a->index) < 0)
                        protocol_ok = false;
                } else {
                    c->used += a->alloc.slots;
                    c->steal_out = false;
                    if (c->used > c->slots)
                        protocol_ok = false;
                    start_run(a->child, a->job_id, a->index, now);
                }
                break;
            case TREE_ACT_RECALL:
                tree_relay_recall(c->rel, (uint32_t)a->count);
                recalls_sent++;
                break;
            case TREE_ACT_DENY:
                if (c->is_relay) {
                    tree_relay_steal_denied(c->rel, now);
                } else {
                    c->steal_out = false;
                    c->steal_next = now + RETRY_MS;
                }
                break;
            default:
                protocol_ok = false;
            }
        }
    }
}

static void test_soak(void)
{
    tree_relay_t *root = relay(true);
    sched_job_t jd[NJOB] = {job_def(1, 1), job_def(2, 2)};
    for (uint32_t j = 0; j < NJOB; j++)
        tree_relay_add_job(root, &jd[j]);
    for (int i = 0; i < NCHILD; i++) {
        child_t *c = &kids[i];
        memset(c, 0, sizeof(*c));
        c->id = (uint32_t)(i + 1);
        c->is_relay = i >= NCHILD / 2;
        if (c->is_relay) {
            c->rel = relay(false);
            for (uint32_t j = 0; j < NJOB; j++)
                tree_relay_add_job(c->rel, &jd[j]);
            tree_summary_t sum = {0};
            for (uint32_t e = 0; e < ENG_PER_RELAY; e++) {
                res_capacity_t cap = engine_cap(2 + e);
                tree_relay_add_engine(c->rel, c->id * 100 + e, &cap);
                tree_summary_t one;
                tree_summary_of(&cap, &one);
                tree_summary_add(&sum, &one);
            }
            tree_relay_add_relay(root, c->id, &sum);
        } else {
            c->slots = 2 + (uint32_t)i; /* 2, 3, 4: all fit 2-slot tasks */
            res_capacity_t cap = engine_cap(c->slots);
            tree_relay_add_engine(root, c->id, &cap);
        }
    }
    for (uint32_t j = 0; j <= NJOB; j++)
        for (int t = 0; t < NTASK; t++)
            back_from[j][t] = TREE_NONE;
    /* Job 2 first, so that relays queue 2-slot tasks behind 1-slot ones
     * as both arrive. */
    tree_relay_add_tasks(root, 2, 0, NTASK);
    tree_relay_add_tasks(root, 1, 0, NTASK);
    int64_t now = 0;
    int total = 0;
    for (; now < 200000 && total < NJOB * NTASK; now++) {
        /* Task ends. */
        for (size_t i = 0; i < nruns;) {
            run_t r = runs[i];
            if (r.end_ms > now) {
                i++;
                continue;
            }
            runs[i] = runs[--nruns];
            child_t *c = kid(r.engine);
            if (c) {
                c->used -= jd[r.job - 1].req.slots;
                if (tree_relay_task_done(root, r.job, r.index, SCHED_OK) == 0)
                    ends[r.job][r.index]++;
            } else {
                child_t *owner = kid(r.engine / 100);
                if (tree_relay_task_done(owner->rel, r.job, r.index,
                                         SCHED_OK) < 0)
                    protocol_ok = false;
            }
        }
        /* Engine children steal when a slot is free and nothing came. */
        for (int i = 0; i < NCHILD; i++) {
            child_t *c = &kids[i];
            if (!c->is_relay && !c->steal_out && c->used < c->slots
                && now >= c->steal_next && now > 0) {
                tree_relay_steal(root, c->id, c->slots - c->used);
                c->steal_out = true;
                steals_sent++;
            }
        }
        /* A tick every 10 ms: results and queued counts go up. */
        for (int i = 0; i < NCHILD; i++) {
            child_t *c = &kids[i];
            if (!c->is_relay)
                continue;
            relay_actions(c, root, now);
            if (now % 10 != 0)
                continue;
            tree_result_t res[128];
            size_t nr;
            while ((nr = tree_relay_take_results(c->rel, res, 128)) > 0)
                for (size_t k = 0; k < nr; k++)
                    if (tree_relay_task_done(root, res[k].job_id,
                                             res[k].index, SCHED_OK) == 0)
                        ends[res[k].job_id][res[k].index]++;
            tree_report_t rep;
            tree_relay_report(c->rel, &rep);
            tree_relay_child_queued(root, c->id, rep.queued);
        }
        root_actions(root, now);
        for (int i = 0; i < NCHILD; i++)
            if (kids[i].is_relay)
                relay_actions(&kids[i], root, now);
        root_actions(root, now);
        total = 0;
        for (uint32_t j = 1; j <= NJOB; j++)
            for (int t = 0; t < NTASK; t++)
                total += ends[j][t] > 0;
    }
    bool once = true;
    for (uint32_t j = 1; j <= NJOB; j++)
        for (int t = 0; t < NTASK; t++)
            once &= ends[j][t] == 1;
    ok(protocol_ok, "no protocol error, no engine over its slots");
    ok(once, "all %d tasks (1- and 2-slot) end exactly once (%lld ms)",
       NJOB * NTASK, (long long)now);
    ok(returns > 0 && recalls_sent > 0,
       "stealing happened: %d steals, %d recalls, %d tasks given back",
       steals_sent, recalls_sent, returns);
    is_int(bounces, 0, "no task given back went to the same child again "
           "within the retry delay");
    diag("%d returned tasks went to a child other than the one they came "
         "from", parked_elsewhere);
    for (int i = 0; i < NCHILD; i++)
        tree_relay_destroy(kids[i].rel);
    tree_relay_destroy(root);
}

int main(void)
{
    plan(NO_PLAN);
    test_thief_without_room();
    test_other_child_and_timeout();
    test_parked_bookkeeping();
    test_soak();
    return done_testing();
}
