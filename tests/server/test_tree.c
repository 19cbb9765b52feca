/* SPDX-License-Identifier: MIT */
/* test_tree.c - the server as the root of the tree (docs/tree.md, "Cluster
 * mode"): joins and redirects, subtrees as engines, orphans and their
 * grace, steals, rejects, broadcasts, blobs and the status "tree". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "blob/blob.h"
#include "harness.h"
#include "tap.h"
#include "util/util.h"

static const char *const ECHO_WORDS[] = {"echo", "{}"};

static char relay_ep[16][64];

static const char *relay_of(int i)
{
    snprintf(relay_ep[i], sizeof(relay_ep[i]), "ipc:///tmp/relay-%d", i);
    return relay_ep[i];
}

static void send_msg(fake_t *f, msg_t *m)
{
    if (msg_sock_send(f->sock, NULL, m) < 0)
        diag("%s not sent", msg_type_name(m->type));
}

static void summary(fake_t *f, uint32_t engines, uint64_t slots,
                    uint64_t queued)
{
    msg_t m = {.type = MSG_SUMMARY};
    m.u.summary.engines = engines;
    m.u.summary.slots = slots;
    m.u.summary.cpus_milli = slots * 1000;
    m.u.summary.mem_bytes = slots << 34;
    m.u.summary.queued = queued;
    msg_node_stats_t st = {.node = 3, .parent = 1, .sent = 7,
                           .received = 5, .bytes_out = 70, .bytes_in = 50};
    m.u.summary.nstats = 1;
    m.u.summary.stats = &st;
    send_msg(f, &m);
}

static void tasks_msg(fake_t *f, msg_type_t type, uint32_t node, bool done,
                      const char *reason, const msg_task_ref_t *t,
                      uint32_t n)
{
    msg_t m = {.type = type};
    m.u.tasks.node = node;
    m.u.tasks.done = done;
    m.u.tasks.reason = reason;
    m.u.tasks.n = n;
    m.u.tasks.tasks = (msg_task_ref_t *)t;
    send_msg(f, &m);
}

/* f's relay reports node attached below parent (NODES, as forwarded). */
static void attached(fake_t *f, uint32_t node, uint32_t parent)
{
    msg_t m = {.type = MSG_NODES};
    msg_node_event_entry_t ev = {.node = node, .parent = parent,
                                 .event = MSG_NODE_ATTACHED};
    m.u.nodes.n = 1;
    m.u.nodes.events = &ev;
    send_msg(f, &m);
}

static int collect(harness_t *h, fake_t *w, msg_assign_entry_t *a, int n,
                   int ms)
{
    int got = 0;
    int64_t end = util_mono_ms() + ms;
    while (got < n && util_mono_ms() < end) {
        got += f_take_assigns(w, a + got, n - got);
        if (got < n)
            uv_run(&h->loop, UV_RUN_ONCE);
    }
    return got;
}

static json_t *status(harness_t *h, fake_t *c, uint64_t request)
{
    c_query(c, request, "status", "{}");
    msg_t *r = c_wait_reply(h, c, request, 3000);
    return r && r->type == MSG_ANSWER ? json_loads(r->u.answer.json, 0, NULL)
                                      : NULL;
}

static uint32_t submit(harness_t *h, fake_t *c, uint64_t request,
                       uint64_t ntasks)
{
    c_submit_array(c, request, ECHO_WORDS, 2, ntasks, NULL, 3);
    msg_t *r = c_wait_reply(h, c, request, 5000);
    return r && r->type == MSG_SUBMITTED ? r->u.submitted.job : 0;
}

static void log_line(const char *line, void *arg)
{
    (void)arg;
    diag("server: %s", line);
}

static server_t *tree_server(harness_t *h, uint32_t fanout, int64_t grace,
                             bool fail_infeasible)
{
    server_options_t o = {.fanout = fanout, .grace_ms = grace,
                          .heartbeat_ms = 100,
                          .fail_infeasible = fail_infeasible};
    if (getenv("TREE_TEST_LOG")) /* the server's log as diagnostics */
        o.log = log_line;
    return h_server(h, &o);
}

/* --------------------------------------------------------------- joins */

static void test_joins(void)
{
    harness_t h;
    h_init(&h, "joins");
    tree_server(&h, 2, 0, false);
    fake_t *w[6];
    for (int i = 0; i < 6; i++)
        w[i] = h_fake(&h);
    f_hello_relay(w[0], "n1", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, w[0]);
    f_hello_relay(w[1], "n2", 1, relay_of(2), 0, NULL, 0);
    f_welcomed(&h, w[1]);
    msg_t *m0 = f_last(w[0], MSG_WELCOME), *m1 = f_last(w[1], MSG_WELCOME);
    ok(m0 && m1 && m0->u.welcome.engine_id == 1
       && m1->u.welcome.engine_id == 2,
       "the first k = 2 workers that can relay are WELCOMEd as nodes 1, 2");
    f_hello_relay(w[2], "n3", 1, relay_of(3), 0, NULL, 0);
    f_wait_for(&h, w[2], MSG_REDIRECT, 1);
    msg_t *r = f_last(w[2], MSG_REDIRECT);
    ok(r && r->u.redirect.node == 3 && r->u.redirect.parent == 1
       && strcmp(r->u.redirect.endpoint, relay_of(1)) == 0,
       "the third is REDIRECTed as node 3 below node 1, to node 1's relay");
    ok(f_count(w[2], MSG_WELCOME) == 0, "a redirected worker gets no "
       "WELCOME from the root");
    attached(w[0], 3, 1);
    f_hello_relay(w[2], "n3", 1, relay_of(3), 0, NULL, 0);
    f_wait_for(&h, w[2], MSG_REDIRECT, 2);
    r = f_last(w[2], MSG_REDIRECT);
    ok(r && r->u.redirect.node == 3 && r->u.redirect.parent == 1,
       "a HELLO sent again before the answer arrived gets the same answer");
    f_hello_relay(w[3], "n4", 1, relay_of(4), 0, NULL, 0);
    f_wait_for(&h, w[3], MSG_REDIRECT, 1);
    attached(w[0], 4, 1);
    f_hello_relay(w[4], "n5", 1, relay_of(5), 0, NULL, 0);
    f_wait_for(&h, w[4], MSG_REDIRECT, 1);
    r = f_last(w[4], MSG_REDIRECT);
    ok(r && r->u.redirect.node == 5 && r->u.redirect.parent == 2
       && strcmp(r->u.redirect.endpoint, relay_of(2)) == 0,
       "node 5 goes below node 2 once node 1 has k children");
    attached(w[1], 5, 2);
    /* A flat worker (no relay endpoint) attaches to the root; its engine
     * id is not a node id. */
    f_hello(w[5], "flat", 2, 0, NULL, 0);
    f_welcomed(&h, w[5]);
    msg_t *fw = f_last(w[5], MSG_WELCOME);
    ok(fw && fw->u.welcome.engine_id == 6, "a flat worker is WELCOMEd with "
       "the next id (6), never a node's");
    fake_t *w7 = h_fake(&h);
    f_hello_relay(w7, "n7", 1, relay_of(7), 0, NULL, 0);
    f_wait_for(&h, w7, MSG_REDIRECT, 1);
    r = f_last(w7, MSG_REDIRECT);
    ok(r && r->u.redirect.node == 7, "the next node gets id 7");
    attached(w[1], 7, 2);
    /* A known node says HELLO with its id again at the root: it keeps
     * its id and parent... after it lost node 1: then node 1 is removed
     * from the tree as lost to it. */
    fake_t *c = h_fake(&h);
    json_t *st = status(&h, c, 1);
    json_t *tree = json_object_get(st, "tree");
    ok(json_integer_value(json_object_get(tree, "fanout")) == 2
       && json_integer_value(json_object_get(tree, "depth")) == 2
       && json_array_size(json_object_get(tree, "nodes")) == 7,
       "status has tree: fanout 2, depth 2, the root and 6 nodes");
    json_t *n0 = json_array_get(json_object_get(tree, "nodes"), 0);
    ok(json_integer_value(json_object_get(n0, "node")) == 0
       && json_integer_value(json_object_get(n0, "children")) == 2
       && json_integer_value(json_object_get(n0, "sent")) > 0,
       "node 0 is the root with 2 children and its socket's counters");
    ok(json_is_object(json_object_get(tree, "root"))
       && json_is_number(json_object_get(json_object_get(tree, "root"),
                                         "cpu_s")),
       "tree.root has the root's counters and cpu_s");
    json_decref(st);

    f_hello_relay(w[2], "n3", 1, relay_of(3), 3, NULL, 0);
    f_wait_for(&h, w[2], MSG_WELCOME, 1);
    msg_t *wl = f_last(w[2], MSG_WELCOME);
    ok(wl && wl->u.welcome.engine_id == 3, "node 3 saying HELLO at the "
       "root (its parent lost to it) keeps id 3 and takes node 1's place");
    server_stats_t ss;
    server_get_stats(h.server, &ss);
    is_int(ss.engines, 3, "node 1 was removed: engines 2, 3 and the flat "
           "one remain");
    /* A redirected node nobody reports attached loses its place. */
    fake_t *w8 = h_fake(&h);
    f_hello_relay(w8, "n8", 1, relay_of(8), 0, NULL, 0);
    f_wait_for(&h, w8, MSG_REDIRECT, 1);
    server_get_stats(h.server, &ss);
    uint32_t before = ss.nodes;
    h_run_for(&h, 1500);
    server_get_stats(h.server, &ss);
    is_int(ss.nodes, before - 1, "a redirected node never reported "
           "attached is removed after 10 heartbeats");
    h_fini(&h);
}

/* ------------------------------------------------------------ subtrees */

static void test_subtree(void)
{
    harness_t h;
    h_init(&h, "subtree");
    tree_server(&h, 2, 0, false);
    fake_t *w1 = h_fake(&h);
    fake_t *c = h_fake(&h);
    f_hello_relay(w1, "n1", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, w1);
    summary(w1, 2, 2, 0);
    h_run_for(&h, 50);
    uint32_t job = submit(&h, c, 1, 20);
    msg_assign_entry_t a[32];
    /* Node 1: 1 slot of its own, its subtree 2 slots x prefetch 2. */
    int n = collect(&h, w1, a, 5, 3000);
    is_int(n, 5, "a node gets its own slot and its subtree's aggregate "
           "(2 slots x prefetch 2)");
    int any = 0, exact = 0;
    for (int i = 0; i < n; i++) {
        if (a[i].slot == MSG_SLOT_ANY && a[i].gpu_mask == 0)
            any++;
        else
            exact++;
    }
    ok(any == 4 && exact == 1, "4 entries are MSG_SLOT_ANY (the subtree), "
       "1 exact (its own engine)");
    ok(f_count(w1, MSG_JOB) == 1, "the job's definition crosses the link "
       "once");
    msg_task_ref_t t[32];
    for (int i = 0; i < n; i++)
        t[i] = a[i].task;
    f_results(w1, t, n, 0, 0, NULL);
    int m = collect(&h, w1, a, 5, 3000);
    is_int(m, 5, "results from the subtree are accepted: 5 more tasks");
    server_stats_t ss;
    server_get_stats(h.server, &ss);
    ok(ss.results == 5 && ss.duplicates == 0, "5 results recorded, no "
       "duplicates");
    /* The subtree grows: its aggregate is resized in place. */
    summary(w1, 4, 4, 0);
    int more = collect(&h, w1, a + m, 4, 3000);
    is_int(more, 4, "a larger SUMMARY resizes the aggregate: 4 more tasks");
    json_t *st = status(&h, c, 2);
    json_t *e0 = json_array_get(json_object_get(st, "engines"), 0);
    json_t *sub = json_object_get(e0, "subtree");
    ok(sub && json_integer_value(json_object_get(sub, "engines")) == 4,
       "status shows node 1's subtree (4 engines)");
    json_t *nodes = json_object_get(json_object_get(st, "tree"), "nodes");
    ok(json_array_size(nodes) == 2, "tree nodes: the root and node 1");
    json_decref(st);
    (void)job;
    h_fini(&h);
}

/* ------------------------------------------------------ orphans, grace */

static bool orphans_requeued(void *arg)
{
    server_stats_t st;
    server_get_stats(arg, &st);
    return st.orphans_requeued > 0;
}

static void test_orphans(void)
{
    harness_t h;
    h_init(&h, "orphans");
    tree_server(&h, 2, 600, false);
    fake_t *w[7];
    for (int i = 0; i < 7; i++)
        w[i] = h_fake(&h);
    for (int i = 0; i < 7; i++) {
        char id[16];
        snprintf(id, sizeof(id), "n%d", i + 1);
        f_hello_relay(w[i], id, 1, relay_of(i + 1), 0, NULL, 0);
        if (i < 2) {
            f_welcomed(&h, w[i]);
        } else {
            f_wait_for(&h, w[i], MSG_REDIRECT, 1);
            msg_t *rd = f_last(w[i], MSG_REDIRECT);
            if (rd) /* its relay reports it, through node 1 or 2 */
                attached(rd->u.redirect.parent == 2 ? w[1] : w[0],
                         rd->u.redirect.node, rd->u.redirect.parent);
        }
    }
    msg_t *r7 = f_last(w[6], MSG_REDIRECT);
    ok(r7 && r7->u.redirect.node == 7 && r7->u.redirect.parent == 3,
       "node 7 hangs below node 3 (below node 1)");
    summary(w[0], 3, 3, 0);
    h_run_for(&h, 50);
    fake_t *c = h_fake(&h);
    submit(&h, c, 1, 7);
    msg_assign_entry_t a[16];
    int n = collect(&h, w[0], a, 7, 3000);
    msg_task_ref_t anyt[16];
    int nany = 0;
    for (int i = 0; i < n; i++)
        if (a[i].slot == MSG_SLOT_ANY)
            anyt[nany++] = a[i].task;
    ok(nany >= 2, "node 1's subtree holds tasks");
    /* Node 3 is lost below node 1: two of its tasks are orphaned. */
    msg_t nodes = {.type = MSG_NODES};
    msg_node_event_entry_t ev = {.node = 3, .parent = 1,
                                 .event = MSG_NODE_LOST};
    nodes.u.nodes.n = 1;
    nodes.u.nodes.events = &ev;
    send_msg(w[0], &nodes);
    tasks_msg(w[0], MSG_ORPHAN, 3, false, NULL, anyt, 2);
    h_run_for(&h, 50);
    server_stats_t ss;
    server_get_stats(h.server, &ss);
    is_int(ss.orphaned, 2, "ORPHAN marks 2 tasks orphaned");
    is_int(ss.nodes, 6, "node 3 is out of the topology");
    /* Node 7 (moved by the removal) reattaches and reports one of them. */
    f_hello_relay(w[6], "n7", 1, relay_of(7), 7, &anyt[0], 1);
    f_wait_for(&h, w[6], MSG_REDIRECT, 2);
    msg_t *r = f_last(w[6], MSG_REDIRECT);
    ok(r && r->u.redirect.node == 7 && r->u.redirect.parent == 1,
       "node 7 is redirected to node 3's parent (it took its place)");
    ok(f_count(w[6], MSG_KILL) == 0, "its running task is not killed");
    server_get_stats(h.server, &ss);
    is_int(ss.orphans_adopted, 1, "the task it lists is adopted");
    is_int(ss.engines, 2, "node 1 is not taken for lost (node 7 had moved)");
    h_run_until(&h, orphans_requeued, h.server, 3000);
    server_get_stats(h.server, &ss);
    is_int(ss.orphans_requeued, 1, "the unclaimed one is requeued after "
           "the grace");
    int got = collect(&h, w[0], a, 1, 2000);
    got += got ? 0 : collect(&h, w[1], a, 1, 2000);
    ok(got == 1 && a[0].task.job == anyt[1].job
       && a[0].task.index == anyt[1].index,
       "the requeued task is assigned again");
    /* The adopted one's result comes up through node 1. */
    uint64_t before = ss.results;
    f_results(w[0], &anyt[0], 1, 0, 0, NULL);
    h_run_for(&h, 100);
    server_get_stats(h.server, &ss);
    ok(ss.results == before + 1, "the adopted task's result is accepted "
       "from its new branch");
    /* Node 1 goes silent: its subtree's tasks are orphaned, its own
     * requeued at once. */
    w[0]->alive = false;
    h_run_until(&h, orphans_requeued, h.server, 100); /* settle */
    uint64_t orph = ss.orphaned;
    int64_t end = util_mono_ms() + 3000;
    while (util_mono_ms() < end) {
        server_get_stats(h.server, &ss);
        if (ss.engines_lost > 0)
            break;
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    ok(ss.engines_lost == 1 && ss.orphaned > orph, "a lost direct child's "
       "subtree tasks are orphaned");
    h_fini(&h);
}

/* ------------------------------------------------------- steal, reject */

static void test_steal_reject(void)
{
    harness_t h;
    h_init(&h, "steal");
    tree_server(&h, 4, 0, true);
    fake_t *w1 = h_fake(&h), *w2 = h_fake(&h), *c = h_fake(&h);
    f_hello_relay(w1, "n1", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, w1);
    summary(w1, 2, 2, 0);
    h_run_for(&h, 50);
    uint32_t job = submit(&h, c, 1, 5);
    msg_assign_entry_t a[16];
    int n = collect(&h, w1, a, 5, 3000);
    is_int(n, 5, "node 1's branch takes the whole job");
    f_hello_relay(w2, "n2", 1, relay_of(2), 0, NULL, 0);
    f_welcomed(&h, w2);
    summary(w2, 1, 1, 0);
    /* Nothing queued anywhere: DENY. */
    msg_t steal = {.type = MSG_STEAL};
    steal.u.steal.want = 4;
    send_msg(w2, &steal);
    ok(f_wait_for(&h, w2, MSG_DENY, 1), "STEAL with nothing queued "
       "anywhere is DENYed");
    summary(w1, 2, 2, 3);
    h_run_for(&h, 30);
    send_msg(w2, &steal);
    f_wait_for(&h, w1, MSG_RECALL, 1);
    msg_t *rc = f_last(w1, MSG_RECALL);
    ok(rc && rc->u.recall.n == 2, "STEAL makes the root RECALL "
       "min(want, ceil(queued / 2)) = 2 from the busiest child");
    msg_task_ref_t back[2];
    int nb = 0;
    for (int i = 0; i < n && nb < 2; i++)
        if (a[i].slot == MSG_SLOT_ANY)
            back[nb++] = a[i].task;
    tasks_msg(w1, MSG_RETURN, 0, true, NULL, back, 2);
    msg_assign_entry_t b[16];
    int got = 0;
    int64_t end = util_mono_ms() + 3000;
    while (got < 2 && util_mono_ms() < end) {
        got += f_take_assigns(w1, b + got, 2 - got);
        got += f_take_assigns(w2, b + got, 2 - got);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    server_get_stats(h.server, &(server_stats_t){0});
    ok(got == 2 && b[0].task.attempt == back[0].attempt,
       "RETURNed tasks are placed again, with no attempt counted");
    /* REJECT: node 1 can never run the job; it goes elsewhere. */
    msg_task_ref_t rest[8];
    int nr = 0;
    for (int i = 0; i < n; i++) {
        bool returned = false;
        for (int k = 0; k < 2; k++)
            returned |= a[i].task.index == back[k].index;
        if (!returned)
            rest[nr++] = a[i].task;
    }
    for (int k = 0; k < got; k++) /* re-placed on node 1? it rejects too */
        rest[nr++] = b[k].task;
    tasks_msg(w1, MSG_REJECT, 0, false, "needs a license", rest,
              (uint32_t)nr);
    h_run_for(&h, 100);
    server_stats_t ss;
    server_get_stats(h.server, &ss);
    ok(ss.rejected > 0, "REJECT gives the tasks back");
    int w1_before = f_count(w1, MSG_ASSIGN);
    msg_assign_entry_t d[16];
    int moved = collect(&h, w2, d, 1, 2000);
    ok(moved >= 1, "a rejected task is placed on another branch");
    ok(f_count(w1, MSG_ASSIGN) == w1_before, "node 1 is not offered the "
       "job again");
    /* Node 2 rejects too: no branch can take it, the job fails. */
    h_run_for(&h, 200);
    moved += f_take_assigns(w2, d + moved, 16 - moved);
    msg_task_ref_t all[32];
    int na = 0;
    for (int i = 0; i < moved; i++)
        all[na++] = d[i].task;
    for (int k = 0; k < got; k++) /* re-placed on node 2 after the RETURN */
        all[na++] = b[k].task;
    tasks_msg(w2, MSG_REJECT, 0, false, "no", all, (uint32_t)na);
    c_wait(c, 9, job);
    msg_t *js = c_wait_reply(&h, c, 9, 5000);
    ok(js && js->type == MSG_JOBSTATE
       && strcmp(js->u.jobstate.state, "failed") == 0,
       "when every branch rejected the job, it fails (--fail-infeasible)");
    h_fini(&h);
}

/* The first entry of a[0..n) that is (not) for a subtree; -1. */
static int entry_where(const msg_assign_entry_t *a, int n, bool any)
{
    for (int i = n - 1; i >= 0; i--)
        if ((a[i].slot == MSG_SLOT_ANY) == any)
            return i;
    return -1;
}

/* B steals from A: a RECALL to A, A gives one back (RETURN, done). */
static bool steal_one(harness_t *h, fake_t *a, fake_t *b, uint32_t want,
                      int recalls, const msg_task_ref_t *back)
{
    msg_t steal = {.type = MSG_STEAL};
    steal.u.steal.want = want;
    send_msg(b, &steal);
    if (!f_wait_for(h, a, MSG_RECALL, recalls))
        return false;
    msg_t *rc = f_last(a, MSG_RECALL);
    if (!rc || rc->u.recall.n != 1)
        diag("RECALL n = %u", rc ? rc->u.recall.n : 0);
    tasks_msg(a, MSG_RETURN, 0, true, NULL, back, 1);
    return true;
}

/* The root remembers who asked: a task given back for a steal goes to the
 * thief (its subtree, else its own engine), else to another branch,
 * never straight back to its victim; the thief is denied unless something
 * reached its subtree (its relay sees nothing else). */
static void test_steal_thief(void)
{
    harness_t h;
    h_init(&h, "thief");
    tree_server(&h, 4, 0, false);
    fake_t *a = h_fake(&h), *b = h_fake(&h), *c = h_fake(&h);
    f_hello_relay(a, "na", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, a);
    f_hello_relay(b, "nb", 1, relay_of(2), 0, NULL, 0);
    f_welcomed(&h, b);
    summary(a, 2, 2, 0);
    summary(b, 2, 2, 0);
    h_run_for(&h, 50);
    submit(&h, c, 1, 10);
    msg_assign_entry_t aa[32], ba[32];
    int na = collect(&h, a, aa, 5, 3000), nb = collect(&h, b, ba, 5, 3000);
    ok(na == 5 && nb == 5, "each branch holds 5 tasks: 1 on its own "
       "engine, 4 on its subtree (2 slots x prefetch 2)");

    /* B's own engine is free, its subtree full: the task A gives back
     * runs on B's engine, and B is denied (its relay never sees it). */
    int own = entry_where(ba, nb, false);
    f_results(b, &ba[own].task, 1, 0, 0, NULL);
    summary(a, 2, 2, 2);
    h_run_for(&h, 50);
    int a_assigns = f_count(a, MSG_ASSIGN);
    msg_task_ref_t x = aa[entry_where(aa, na, true)].task;
    ok(steal_one(&h, a, b, 1, 1, &x), "B steals: the root recalls 1 from A");
    msg_assign_entry_t got[8];
    int n = collect(&h, b, got, 1, 3000);
    ok(n == 1 && got[0].task.index == x.index
       && got[0].task.attempt == x.attempt && got[0].slot != MSG_SLOT_ANY,
       "the returned task goes to B's own engine (exact), same attempt");
    ok(f_wait_for(&h, b, MSG_DENY, 1), "B's steal is DENYed: nothing "
       "reached its subtree");
    ok(f_count(a, MSG_ASSIGN) == a_assigns, "A gets nothing back");
    ba[nb++] = got[0];

    /* B's subtree is free: the next one goes there, no DENY. */
    msg_task_ref_t done[16];
    int nd = 0;
    for (int i = 0; i < nb; i++)
        if (i != own)
            done[nd++] = ba[i].task;
    f_results(b, done, nd, 0, 0, NULL);
    summary(a, 2, 2, 1);
    h_run_for(&h, 50);
    int k = entry_where(aa, na, true);
    msg_task_ref_t y = aa[k - 1].task;
    ok(steal_one(&h, a, b, 2, 2, &y), "B steals again: 1 recalled from A");
    n = collect(&h, b, got, 1, 3000);
    ok(n == 1 && got[0].task.index == y.index
       && got[0].slot == MSG_SLOT_ANY,
       "the returned task goes to B's subtree (ANY)");
    h_run_for(&h, 200);
    ok(f_count(b, MSG_DENY) == 1 && f_count(a, MSG_ASSIGN) == a_assigns,
       "no DENY: B's relay took the ANY entry as its answer");

    /* Everything full but A's room for what it gives back: the task
     * waits at the root, then the core places it, on A again. */
    submit(&h, c, 2, 6);
    int more = collect(&h, a, aa + na, 2, 3000);
    more += collect(&h, b, ba, 4, 3000);
    is_int(more, 6, "a second job fills both branches");
    summary(a, 2, 2, 2);
    h_run_for(&h, 50);
    msg_task_ref_t z = aa[na].task;
    a_assigns = f_count(a, MSG_ASSIGN);
    int b_assigns = f_count(b, MSG_ASSIGN);
    int64_t t0 = util_mono_ms();
    ok(steal_one(&h, a, b, 1, 3, &z), "B steals while full");
    h_run_for(&h, 300); /* well inside the 1 s wait, on a loaded host too */
    ok((f_count(a, MSG_ASSIGN) == a_assigns
        && f_count(b, MSG_ASSIGN) == b_assigns)
       || util_mono_ms() - t0 >= 1000,
       "the returned task is placed nowhere at once: no room off A");
    n = collect(&h, a, got, 1, 3000);
    ok(n == 1 && got[0].task.index == z.index && got[0].task.job == z.job
       && util_mono_ms() - t0 >= 900,
       "after about 1 s it is pending in the core again, which puts it "
       "back on A, the only room");
    ok(f_wait_for(&h, b, MSG_DENY, 2), "and B is denied");

    /* A third branch with room: a task given back goes there rather than
     * back to its victim. */
    fake_t *d = h_fake(&h);
    f_hello_relay(d, "nd", 1, relay_of(3), 0, NULL, 0);
    f_welcomed(&h, d);
    summary(d, 1, 1, 0);
    summary(a, 2, 2, 2);
    h_run_for(&h, 100);
    a_assigns = f_count(a, MSG_ASSIGN);
    ok(steal_one(&h, a, b, 1, 4, &got[0].task), "B steals while full, "
       "again");
    msg_assign_entry_t dd[4];
    n = collect(&h, d, dd, 1, 3000);
    ok(n == 1 && dd[0].task.index == got[0].task.index,
       "the task goes to the branch with room, not back to A");
    ok(f_wait_for(&h, b, MSG_DENY, 3) && f_count(a, MSG_ASSIGN) == a_assigns,
       "B is denied, A gets nothing");
    server_stats_t ss;
    server_get_stats(h.server, &ss);
    is_int(ss.recalls, 4, "4 recalls");
    h_fini(&h);
}

/* ------------------------------------------------------------ broadcast */

static void breply(fake_t *f, uint64_t id, uint32_t ok_, uint32_t failed,
                   uint32_t node)
{
    msg_t m = {.type = MSG_BREPLY};
    m.u.breply.id = id;
    m.u.breply.ok = ok_;
    m.u.breply.failed = failed;
    msg_breply_entry_t e = {.node = node, .exit_code = 0, .out = "hi\n",
                            .out_len = 3};
    m.u.breply.n = 1;
    m.u.breply.entries = &e;
    send_msg(f, &m);
}

static void test_broadcast(void)
{
    harness_t h;
    h_init(&h, "bcast");
    tree_server(&h, 4, 0, false);
    fake_t *w1 = h_fake(&h), *w2 = h_fake(&h), *c = h_fake(&h);
    f_hello_relay(w1, "n1", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, w1);
    f_hello(w2, "flat", 1, 0, NULL, 0);
    f_welcomed(&h, w2);
    const char *words[] = {"hostname"};
    msg_t b = {.type = MSG_BROADCAST};
    b.u.broadcast.request = 5;
    b.u.broadcast.nwords = 1;
    b.u.broadcast.words = words;
    b.u.broadcast.timeout_ms = 3000;
    b.u.broadcast.want_output = true;
    send_msg(c, &b);
    ok(f_wait_for(&h, w1, MSG_BCAST, 1) && f_wait_for(&h, w2, MSG_BCAST, 1),
       "BROADCAST sends BCAST to each direct child, flat workers too");
    msg_t *d1 = f_last(w1, MSG_BCAST), *d2 = f_last(w2, MSG_BCAST);
    ok(d1 && d2 && d1->u.bcast.id == d2->u.bcast.id && d1->u.bcast.nwords == 1
       && d1->u.bcast.want_output && d1->u.bcast.timeout_ms < 3000,
       "one broadcast id, the words, a timeout a little shorter");
    breply(w1, d1->u.bcast.id, 3, 1, 1);
    breply(w2, d1->u.bcast.id, 1, 0, 2);
    msg_t *r = c_wait_reply(&h, c, 5, 3000);
    json_t *o = r && r->type == MSG_ANSWER
                    ? json_loads(r->u.answer.json, 0, NULL)
                    : NULL;
    ok(o && json_integer_value(json_object_get(o, "ok")) == 4
       && json_integer_value(json_object_get(o, "failed")) == 1
       && json_integer_value(json_object_get(o, "missing")) == 0
       && json_integer_value(json_object_get(o, "engines")) == 2,
       "the BREPLYs are summed into ONE ANSWER: 4 ok, 1 failed, 0 missing");
    ok(json_array_size(json_object_get(o, "outputs")) == 2
       && strcmp(json_string_value(json_object_get(
                     json_array_get(json_object_get(o, "outputs"), 0),
                     "out")),
                 "hi\n") == 0,
       "outputs lists each engine's output");
    ok(json_integer_value(json_object_get(o, "sent")) == 3
       && json_integer_value(json_object_get(o, "received")) == 2,
       "the root sent k + 1 messages and received k for it");
    json_decref(o);
    /* A silent child is missing at the deadline. */
    b.u.broadcast.request = 6;
    b.u.broadcast.timeout_ms = 300;
    send_msg(c, &b);
    f_wait_for(&h, w1, MSG_BCAST, 2);
    breply(w1, f_last(w1, MSG_BCAST)->u.bcast.id, 1, 0, 1);
    r = c_wait_reply(&h, c, 6, 3000);
    o = r && r->type == MSG_ANSWER ? json_loads(r->u.answer.json, 0, NULL)
                                   : NULL;
    ok(o && json_integer_value(json_object_get(o, "ok")) == 1
       && json_integer_value(json_object_get(o, "missing")) == 1,
       "a child that does not answer in time counts as missing");
    json_decref(o);
    json_t *st = status(&h, c, 7);
    json_t *bc = json_object_get(json_object_get(st, "tree"), "broadcasts");
    ok(json_integer_value(json_object_get(bc, "started")) == 2
       && json_integer_value(json_object_get(bc, "sent")) == 4,
       "status counts the root's broadcast messages");
    json_decref(st);
    h_fini(&h);
}

/* ---------------------------------------------------------------- blobs */

static void put_chunk(fake_t *c, uint64_t request, const uint8_t *hash,
                     const uint8_t *data, uint64_t total, uint64_t offset,
                     uint32_t len)
{
    msg_t m = {.type = MSG_BLOB_PUT};
    m.u.blob_data.request = request;
    m.u.blob_data.hash = hash;
    m.u.blob_data.offset = offset;
    m.u.blob_data.total = total;
    m.u.blob_data.len = len;
    m.u.blob_data.data = data ? data + offset : NULL;
    send_msg(c, &m);
}

static void get_chunk(fake_t *w, const uint8_t *hash, uint64_t offset,
                     uint32_t len)
{
    msg_t m = {.type = MSG_BLOB_GET};
    m.u.blob_get.hash = hash;
    m.u.blob_get.offset = offset;
    m.u.blob_get.len = len;
    send_msg(w, &m);
}

static void test_blobs(void)
{
    harness_t h;
    h_init(&h, "blobs");
    tree_server(&h, 4, 0, false);
    fake_t *w1 = h_fake(&h), *c = h_fake(&h);
    /* The data and its hash before the worker joins: the loop does not
     * turn meanwhile, and a slow hash (ASan, a loaded host) would make
     * the server lose the worker (5 heartbeats of 100 ms). */
    uint64_t total = (5u << 20) / 2; /* 2.5 MiB: 3 chunks */
    uint8_t *data = malloc(total);
    for (uint64_t i = 0; i < total; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 11));
    blob_id_t id;
    blob_hash(data, total, &id);
    f_hello_relay(w1, "n1", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, w1);
    for (uint64_t off = 0; off < total; off += MSG_BLOB_CHUNK) {
        uint32_t len = (uint32_t)(total - off < MSG_BLOB_CHUNK
                                      ? total - off
                                      : MSG_BLOB_CHUNK);
        put_chunk(c, 1, id.bytes, data, total, off, len);
    }
    msg_t *r = c_wait_reply(&h, c, 1, 5000);
    json_t *o = r && r->type == MSG_ANSWER
                    ? json_loads(r->u.answer.json, 0, NULL)
                    : NULL;
    char hex[BLOB_HEX_LEN + 1];
    blob_id_format(&id, hex);
    ok(o && strcmp(json_string_value(json_object_get(o, "hash")), hex) == 0
       && json_integer_value(json_object_get(o, "size")) == (json_int_t)total,
       "BLOB_PUT in 3 chunks is answered with its hash and size");
    json_decref(o);
    get_chunk(w1, id.bytes, MSG_BLOB_CHUNK, MSG_BLOB_CHUNK);
    f_wait_for(&h, w1, MSG_BLOB_DATA, 1);
    msg_t *d = f_last(w1, MSG_BLOB_DATA);
    ok(d && d->u.blob_data.offset == MSG_BLOB_CHUNK
       && d->u.blob_data.total == total
       && d->u.blob_data.len == MSG_BLOB_CHUNK
       && memcmp(d->u.blob_data.data, data + MSG_BLOB_CHUNK,
                 MSG_BLOB_CHUNK) == 0,
       "BLOB_GET of the second chunk returns exactly those bytes");
    get_chunk(w1, id.bytes, 2 * MSG_BLOB_CHUNK, MSG_BLOB_CHUNK);
    f_wait_for(&h, w1, MSG_BLOB_DATA, 2);
    d = f_last(w1, MSG_BLOB_DATA);
    ok(d && d->u.blob_data.len == total - 2 * MSG_BLOB_CHUNK,
       "the last chunk is short");
    uint8_t other[MSG_HASH_LEN];
    memset(other, 0x5a, sizeof(other));
    get_chunk(w1, other, 0, 100);
    ok(f_wait_for(&h, w1, MSG_BLOB_NONE, 1), "an unknown blob is BLOB_NONE");
    /* A wrong name is refused. */
    put_chunk(c, 2, other, data, 100, 0, 100);
    r = c_wait_reply(&h, c, 2, 3000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == EINVAL
       && strstr(r->u.error.text, "hash does not match"),
       "a blob whose bytes do not match its hash is refused");
    put_chunk(c, 3, other, NULL, (uint64_t)5 << 30, 0, 0);
    r = c_wait_reply(&h, c, 3, 3000);
    ok(r && r->type == MSG_ERROR, "a blob over 4 GiB is refused");
    /* Chunks are rows: one of another length before the last is refused,
     * and so is a chunk out of order. */
    blob_id_t id2;
    blob_hash(data, total - 1, &id2);
    put_chunk(c, 5, id2.bytes, data, total - 1, 0, 1000);
    r = c_wait_reply(&h, c, 5, 3000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == EINVAL
       && strstr(r->u.error.text, "1 MiB each"),
       "a short chunk that is not the last is refused");
    put_chunk(c, 6, id2.bytes, data, total - 1, 0, MSG_BLOB_CHUNK);
    put_chunk(c, 6, id2.bytes, data, total - 1, 2 * MSG_BLOB_CHUNK,
              (uint32_t)(total - 1 - 2 * MSG_BLOB_CHUNK));
    r = c_wait_reply(&h, c, 6, 3000);
    ok(r && r->type == MSG_ERROR && strstr(r->u.error.text, "in order"),
       "a chunk out of order is refused");
    /* The client starts over: chunk 0 again, then all of it. */
    put_chunk(c, 7, id2.bytes, data, total - 1, 0, MSG_BLOB_CHUNK);
    for (uint64_t off = 0; off < total - 1; off += MSG_BLOB_CHUNK)
        put_chunk(c, 7, id2.bytes, data, total - 1, off,
                  (uint32_t)(total - 1 - off < MSG_BLOB_CHUNK
                                 ? total - 1 - off
                                 : MSG_BLOB_CHUNK));
    r = c_wait_reply(&h, c, 7, 5000);
    ok(r && r->type == MSG_ANSWER, "an upload started over is stored");
    /* The held-blob query. */
    char args[200], hex2[BLOB_HEX_LEN + 1];
    blob_id_format(&id2, hex2);
    snprintf(args, sizeof(args), "{\"hash\":\"%s\"}", hex2);
    c_query(c, 8, "blob", args);
    r = c_wait_reply(&h, c, 8, 3000);
    o = r && r->type == MSG_ANSWER ? json_loads(r->u.answer.json, 0, NULL)
                                   : NULL;
    ok(o && json_is_true(json_object_get(o, "held"))
           && json_integer_value(json_object_get(o, "size"))
                  == (json_int_t)(total - 1),
       "query blob: held, with its size");
    json_decref(o);
    c_query(c, 9, "blob", "{\"hash\":\"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
                          "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\"}");
    r = c_wait_reply(&h, c, 9, 3000);
    o = r && r->type == MSG_ANSWER ? json_loads(r->u.answer.json, 0, NULL)
                                   : NULL;
    ok(o && json_is_false(json_object_get(o, "held")),
       "query blob: a blob not stored is not held");
    json_decref(o);
    c_query(c, 10, "blob", "{\"hash\":\"xyz\"}");
    r = c_wait_reply(&h, c, 10, 3000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == EINVAL,
       "query blob: a bad hash is refused");

    json_t *st = status(&h, c, 4);
    json_t *bl = json_object_get(json_object_get(st, "tree"), "blobs");
    ok(json_integer_value(json_object_get(bl, "bytes_out"))
           == (json_int_t)(total - MSG_BLOB_CHUNK),
       "status counts the blob bytes sent down");
    json_decref(st);
    free(data);
    h_fini(&h);
}

/* -------------------------------------------------- a job's definition */

/* SUBMIT of an n-task array job naming these blobs (blob 0 as stdin when
 * stdin_blob), needing req, at this priority. */
static void submit_def(fake_t *c, uint64_t request, uint64_t n,
                       const uint8_t (*blobs)[MSG_HASH_LEN], uint32_t nblobs,
                       bool stdin_blob, const res_request_t *req,
                       int32_t priority)
{
    msg_t m = {.type = MSG_SUBMIT};
    msg_submit_t *s = &m.u.submit;
    s->request = request;
    s->job.nwords = 2;
    s->job.words = (const char **)ECHO_WORDS;
    s->job.array_first = 1;
    s->job.array_count = n;
    s->job.nblobs = nblobs;
    s->job.blobs = blobs;
    s->job.flags = stdin_blob ? MSG_JOB_STDIN_BLOB : 0;
    s->job.name = "def";
    s->job.req = *req;
    s->job.priority = priority;
    s->job.max_attempts = 1;
    send_msg(c, &m);
}

static bool job_def_ok(const msg_t *jm, const uint8_t (*blobs)[MSG_HASH_LEN],
                       const res_request_t *req, int32_t priority)
{
    if (!jm || jm->type != MSG_JOB)
        return false;
    const msg_job_t *j = &jm->u.job;
    if (j->nblobs != 2 || memcmp(j->blobs, blobs, 2 * MSG_HASH_LEN) != 0
        || j->flags != MSG_JOB_STDIN_BLOB)
        diag("JOB blobs: %u, flags %u", j->nblobs, j->flags);
    else if (j->req.slots != req->slots || j->req.cpus_milli != req->cpus_milli
             || j->req.gpus_milli != req->gpus_milli
             || j->req.mem_bytes != req->mem_bytes || j->req.ncustom != 0
             || j->priority != priority)
        diag("JOB request: %u slots, %u cpus, %u gpus, priority %d",
             j->req.slots, j->req.cpus_milli, j->req.gpus_milli, j->priority);
    else
        return true;
    return false;
}

/* JOB carries the job's blobs, request and priority, also after the job
 * was reloaded from the database; a job naming a blob not stored is
 * refused. */
static void test_job_definition(void)
{
    harness_t h;
    h_init(&h, "jobdef");
    tree_server(&h, 4, 300, false);
    fake_t *c = h_fake(&h);
    uint8_t data[100];
    memset(data, 'b', sizeof(data));
    uint8_t blobs[2][MSG_HASH_LEN];
    blob_id_t id;
    blob_hash(data, sizeof(data), &id);
    memcpy(blobs[0], id.bytes, MSG_HASH_LEN);
    blob_hash(data, 50, &id);
    memcpy(blobs[1], id.bytes, MSG_HASH_LEN);
    put_chunk(c, 1, blobs[0], data, sizeof(data), 0, sizeof(data));
    put_chunk(c, 2, blobs[1], data, 50, 0, 50);
    msg_t *r1 = c_wait_reply(&h, c, 1, 5000);
    msg_t *r2 = c_wait_reply(&h, c, 2, 5000);
    ok(r1 && r1->type == MSG_ANSWER && r2 && r2->type == MSG_ANSWER,
       "two blobs are stored");

    res_request_t req = {.slots = 1, .cpus_milli = 500,
                         .mem_bytes = 1 << 20, .gpus_milli = 1000};
    uint8_t missing[2][MSG_HASH_LEN];
    memcpy(missing[0], blobs[0], MSG_HASH_LEN);
    memset(missing[1], 0x5a, MSG_HASH_LEN);
    submit_def(c, 3, 4, (const uint8_t (*)[MSG_HASH_LEN])missing, 2, false,
               &req, 0);
    msg_t *r = c_wait_reply(&h, c, 3, 5000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == ENOENT
       && strstr(r->u.error.text, "no blob 5a5a"),
       "a job naming a blob not stored is refused (ENOENT)");

    submit_def(c, 4, 4, (const uint8_t (*)[MSG_HASH_LEN])blobs, 2, true,
               &req, 7);
    r = c_wait_reply(&h, c, 4, 5000);
    uint32_t job = r && r->type == MSG_SUBMITTED ? r->u.submitted.job : 0;
    ok(job != 0, "a job with two blobs, 1 GPU and priority 7 is submitted");
    fake_t *w = h_fake(&h);
    f_hello(w, "flat-1", 2, 2, NULL, 0);
    f_welcomed(&h, w);
    f_wait_for(&h, w, MSG_ASSIGN, 1);
    ok(job_def_ok(f_last(w, MSG_JOB), (const uint8_t (*)[MSG_HASH_LEN])blobs,
                  &req, 7),
       "JOB carries the blobs, the stdin flag, the request and the priority");
    msg_assign_entry_t a[4];
    int n = f_take_assigns(w, a, 4);
    ok(n == 2 && a[0].gpu_mask != 0 && a[1].gpu_mask != 0
       && a[0].gpu_mask != a[1].gpu_mask,
       "two tasks of the 1-GPU job start on two different GPUs");

    /* A restart reloads the definition from the database. */
    h_fake_close(&h, w);
    h_server_stop(&h);
    ok(tree_server(&h, 4, 300, false) != NULL, "the server restarts");
    w = h_fake(&h);
    f_hello(w, "flat-2", 2, 2, NULL, 0);
    f_welcomed(&h, w);
    f_wait_for(&h, w, MSG_ASSIGN, 1);
    ok(job_def_ok(f_last(w, MSG_JOB), (const uint8_t (*)[MSG_HASH_LEN])blobs,
                  &req, 7),
       "a reloaded job's JOB carries the same blobs, request and priority");
    h_fini(&h);
}

/* Workers of another host hang below that host's first worker (its blobs
 * and jobs cross the host's link once); workers of the server's own host
 * are placed by balance alone. */
static void test_hosts(void)
{
    harness_t h;
    h_init(&h, "hosts");
    tree_server(&h, 4, 0, false);
    fake_t *w[4];
    for (int i = 0; i < 4; i++)
        w[i] = h_fake(&h);
    w[0]->host = w[1]->host = "far-a";
    w[2]->host = NULL;
    w[3]->host = "far-b";
    f_hello_relay(w[0], "a1", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, w[0]);
    f_hello_relay(w[1], "a2", 1, relay_of(2), 0, NULL, 0);
    ok(f_wait_for(&h, w[1], MSG_REDIRECT, 1), "the second worker of host "
       "far-a is redirected");
    msg_t *r = f_last(w[1], MSG_REDIRECT);
    ok(r && r->u.redirect.parent == 1, "below the first worker of its host");
    f_hello_relay(w[2], "local", 1, relay_of(3), 0, NULL, 0);
    ok(f_welcomed(&h, w[2]), "a worker of the server's own host goes to "
       "the root, which has room");
    f_hello_relay(w[3], "b1", 1, relay_of(4), 0, NULL, 0);
    ok(f_welcomed(&h, w[3]), "the first worker of host far-b too");
    h_fini(&h);
}

/* ------------------------------------------------------ restart of the root */

/* f's relay re-announces node below parent with its HELLO's strings. */
static void announced(fake_t *f, uint32_t node, uint32_t parent,
                      const char *worker_id, const char *relay)
{
    msg_t m = {.type = MSG_NODES};
    msg_node_event_entry_t ev = {.node = node, .parent = parent,
                                 .event = MSG_NODE_ATTACHED,
                                 .worker_id = worker_id, .relay = relay};
    m.u.nodes.n = 1;
    m.u.nodes.events = &ev;
    send_msg(f, &m);
}

/* Node id's parent in a status answer's tree (-1: not listed, -2: no
 * status). */
static int status_parent(harness_t *h, fake_t *c, uint64_t request,
                         uint32_t id, int *nnodes)
{
    json_t *st = status(h, c, request);
    json_t *nodes = json_object_get(json_object_get(st, "tree"), "nodes");
    int parent = st ? -1 : -2;
    if (nnodes)
        *nnodes = (int)json_array_size(nodes);
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        json_t *n = json_array_get(nodes, i);
        if (json_integer_value(json_object_get(n, "node")) == (json_int_t)id)
            parent = (int)json_integer_value(json_object_get(n, "parent"));
    }
    json_decref(st);
    return parent;
}

/* docs/tree.md, "Restart of the root": the nodes of the old tree come back
 * with their ids, at their real parents; a new worker never gets an id
 * the old root gave; joins see the real child counts. */
static void test_root_restart(void)
{
    harness_t h;
    h_init(&h, "rootrestart");
    tree_server(&h, 2, 300, false);
    fake_t *w1 = h_fake(&h), *w2 = h_fake(&h), *w3 = h_fake(&h);
    f_hello_relay(w1, "n1", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, w1);
    f_hello_relay(w2, "n2", 1, relay_of(2), 0, NULL, 0);
    f_welcomed(&h, w2);
    f_hello_relay(w3, "n3", 1, relay_of(3), 0, NULL, 0);
    f_wait_for(&h, w3, MSG_REDIRECT, 1);
    attached(w1, 3, 1);
    h_run_for(&h, 50);
    h_fake_close(&h, w3); /* it lives below node 1 from now on */

    h_server_stop(&h);
    ok(tree_server(&h, 2, 300, false) != NULL, "the server restarts");
    /* A new worker first, before the old tree is back. */
    fake_t *fresh = h_fake(&h);
    f_hello_relay(fresh, "fresh", 1, relay_of(9), 0, NULL, 0);
    f_welcomed(&h, fresh);
    msg_t *m = f_last(fresh, MSG_WELCOME);
    uint32_t fid = m ? m->u.welcome.engine_id : 0;
    ok(fid > 3, "a new worker gets an id the old root never gave (%u)", fid);
    /* Node 1 comes back (its HELLO names it) and re-announces node 3. */
    f_hello_relay(w1, "n1", 1, relay_of(1), 1, NULL, 0);
    f_wait_for(&h, w1, MSG_WELCOME, 2);
    m = f_last(w1, MSG_WELCOME);
    ok(m && m->u.welcome.engine_id == 1, "node 1 comes back with id 1");
    announced(w1, 3, 1, "n3", relay_of(3));
    /* An announcement of an id in use, or below an unknown parent, is
     * not taken. */
    announced(w1, fid, 1, "other", relay_of(10));
    announced(w1, 5, 4, "n5", relay_of(5));
    h_run_for(&h, 50);
    fake_t *c = h_fake(&h);
    int nn = 0;
    is_int(status_parent(&h, c, 1, 3, &nn), 1,
           "status: node 3 is back below node 1");
    is_int(status_parent(&h, c, 2, fid, NULL), 0,
           "an announcement of an id in use moves nothing");
    is_int(status_parent(&h, c, 3, 5, NULL), -1,
           "an announcement below an unknown parent is not taken");
    is_int(nn, 4, "the root and nodes 1, 3 and the new one");
    /* Node 2 comes back: the root has k children, so it is placed as a
     * join, with its id: below node 1 (one child) or the new node. */
    f_hello_relay(w2, "n2", 1, relay_of(2), 2, NULL, 0);
    f_wait_for(&h, w2, MSG_REDIRECT, 1);
    msg_t *r = f_last(w2, MSG_REDIRECT);
    ok(r && r->u.redirect.node == 2
       && (r->u.redirect.parent == 1 || r->u.redirect.parent == fid),
       "node 2 keeps id 2, redirected below a node with room");
    uint32_t p2 = r ? r->u.redirect.parent : 0;
    attached(p2 == 1 ? w1 : fresh, 2, p2);
    /* Node 1 has 2 children now (3 and maybe 2); the next join goes to a
     * node with fewer than k and gets a fresh id. */
    fake_t *late = h_fake(&h);
    f_hello_relay(late, "late", 1, relay_of(11), 0, NULL, 0);
    f_wait_for(&h, late, MSG_REDIRECT, 1);
    r = f_last(late, MSG_REDIRECT);
    ok(r && r->u.redirect.node > fid && r->u.redirect.parent != 1
       && r->u.redirect.parent != 0,
       "a later join gets a fresh id, never below a node with k children");
    h_fini(&h);

    /* The ids the restarted root gave are kept again by the next one. */
    h_init(&h, "rootrestart2");
    tree_server(&h, 2, 300, false);
    fake_t *a = h_fake(&h);
    f_hello_relay(a, "a", 1, relay_of(1), 0, NULL, 0);
    f_welcomed(&h, a);
    h_server_stop(&h);
    tree_server(&h, 2, 300, false);
    fake_t *b = h_fake(&h);
    f_hello_relay(b, "b", 1, relay_of(2), 0, NULL, 0);
    f_welcomed(&h, b);
    m = f_last(b, MSG_WELCOME);
    uint32_t bid = m ? m->u.welcome.engine_id : 0;
    h_server_stop(&h);
    tree_server(&h, 2, 300, false);
    fake_t *c2 = h_fake(&h);
    f_hello_relay(c2, "c", 1, relay_of(3), 0, NULL, 0);
    f_welcomed(&h, c2);
    m = f_last(c2, MSG_WELCOME);
    ok(bid > 1 && m && m->u.welcome.engine_id > bid,
       "after two restarts ids keep rising (%u, then %u)", bid,
       m ? m->u.welcome.engine_id : 0);
    h_fini(&h);
}

int main(void)
{
    test_joins();
    test_hosts();
    test_subtree();
    test_orphans();
    test_steal_reject();
    test_steal_thief();
    test_broadcast();
    test_blobs();
    test_job_definition();
    test_root_restart();
    return done_testing();
}
