/* SPDX-License-Identifier: MIT */
/* test_proto_tree.c - a worker's place in the tree (docs/tree.md, "Cluster
 * mode: how the tree is wired"), driven in-process: fake parents are
 * ROUTERs, fake children DEALERs, all on the test's loop beside the
 * worker.
 *
 *   1. A worker redirected by the root attaches to the relay it names and
 *      says HELLO there with its node id.
 *   2. A relay with two children places ANY tasks on them with exact,
 *      non-overlapping slots, forwards the JOB once per child, sends the
 *      children's results up coalesced and ACKs the children only after
 *      its parent ACKed.
 *   3. A child that goes silent is lost: ORPHAN (its tasks) and NODES
 *      (lost) go up.
 *   4. A worker whose parent relay goes silent says HELLO to the root with
 *      its node and the tasks it still runs.
 *   6. A job with a blob: its task waits for the blob (BLOB_GET up), then
 *      runs with BANYAN_BLOB_0 and the blob as stdin.
 *   7. KILL of a job: forwarded to the child that holds its tasks; the
 *      tasks queued at the relay are reported interrupted.
 *   8. Two real workers: one redirected below the other runs the tasks
 *      its parent places on it; the results reach the root, and the root's
 *      ACK reaches the engine.
 *   5. Steals: a child's STEAL is denied when nobody has work queued, and
 *      makes the relay RECALL from the busiest child otherwise; a task it
 *      gives back is kept; the parent's RECALL gets it back (RETURN).
 *   9. The JOB's request and priority: a GPU job's tasks get exact GPUs on
 *      engine children (as many as their GPUs), a relay child's subtree is
 *      charged its aggregate; a higher-priority job goes first.
 *  10. A restart of the root (a WELCOME of a new epoch): the relay
 *      announces its children again and WELCOMEs them with the new epoch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"
#include "msg/msg.h"
#include "tap.h"
#include "util/util.h"
#include "worker/worker.h"

enum { HEARTBEAT_MS = 100, MAX_MSGS = 4096, PEER_PING_MS = 40 };

/* ---------------------------------------------------------- fake peers */

typedef struct peer {
    const char *name;
    msg_sock_t *sock;
    bool router;
    bool alive;                /* pings its counterpart */
    msg_peer_t from;           /* ROUTER: the latest sender */
    bool have_from;
    uint32_t node;             /* a child's id, for its HELLO */
    msg_t *msgs[MAX_MSGS];     /* everything received, in order */
    size_t n;
} peer_t;

static void on_peer_msg(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                        void *arg)
{
    (void)s;
    peer_t *p = arg;
    if (p->router && m->type == MSG_HELLO) {
        p->from = *from;
        p->have_from = true;
    }
    if (m->type == MSG_PING && p->alive) {
        msg_t pong = {.type = MSG_PONG};
        pong.u.ping = m->u.ping;
        msg_sock_send(p->sock, p->router ? from : NULL, &pong);
    }
    if (p->n < MAX_MSGS)
        p->msgs[p->n++] = m;
    else
        msg_free(m);
}

static void peer_bind(peer_t *p, uv_loop_t *loop, const char *name,
                      const char *endpoint)
{
    memset(p, 0, sizeof(*p));
    p->name = name;
    p->router = p->alive = true;
    banyan_error_t err = {{0}};
    p->sock = msg_sock_bind(loop, endpoint, NULL, on_peer_msg, p, &err);
    if (!p->sock)
        bail_out("%s cannot bind %s: %s", name, endpoint, err.text);
}

static void peer_connect(peer_t *p, uv_loop_t *loop, const char *name,
                         const char *endpoint, uint32_t node)
{
    memset(p, 0, sizeof(*p));
    p->name = name;
    p->alive = true;
    p->node = node;
    banyan_error_t err = {{0}};
    p->sock = msg_sock_connect(loop, endpoint, NULL, on_peer_msg, p, &err);
    if (!p->sock)
        bail_out("%s cannot connect to %s: %s", name, endpoint, err.text);
}

static void peer_close(peer_t *p)
{
    msg_sock_close(p->sock);
    p->sock = NULL;
    p->alive = false;
}

static void peer_free(peer_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        msg_free(p->msgs[i]);
    p->n = 0;
}

static void peer_send(peer_t *p, const msg_t *m)
{
    if (!p->sock || msg_sock_send(p->sock, p->router ? &p->from : NULL, m) < 0)
        diag("%s cannot send %s", p->name, msg_type_name(m->type));
}

static size_t count_type(const peer_t *p, msg_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += p->msgs[i]->type == type;
    return n;
}

/* The k-th (0-based) message of a type, or NULL. */
static const msg_t *nth(const peer_t *p, msg_type_t type, size_t k)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->msgs[i]->type == type && k-- == 0)
            return p->msgs[i];
    return NULL;
}

static const msg_t *last_of(const peer_t *p, msg_type_t type)
{
    for (size_t i = p->n; i-- > 0;)
        if (p->msgs[i]->type == type)
            return p->msgs[i];
    return NULL;
}

/* Entries of every ASSIGN a peer got. */
static size_t assigned(const peer_t *p, msg_assign_entry_t *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        const msg_t *m = p->msgs[i];
        if (m->type != MSG_ASSIGN)
            continue;
        for (uint32_t k = 0; k < m->u.assign.n; k++)
            if (n < max)
                out[n++] = m->u.assign.entries[k];
    }
    return n;
}

static size_t result_entries(const peer_t *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->msgs[i]->type == MSG_RESULT)
            n += p->msgs[i]->u.result.n;
    return n;
}

/* ------------------------------------------------------------------ loop */

static uv_loop_t loop;
static peer_t *pingers[8];
static size_t npingers;

static void on_ping_timer(uv_timer_t *h)
{
    (void)h;
    msg_t m = {.type = MSG_PING};
    m.u.ping.sent = (double)util_mono_ns() / 1e9;
    for (size_t i = 0; i < npingers; i++) {
        peer_t *p = pingers[i];
        if (p->alive && p->sock && (!p->router || p->have_from))
            msg_sock_send(p->sock, p->router ? &p->from : NULL, &m);
    }
}

static void on_nothing(uv_timer_t *h)
{
    (void)h;
}

static bool run_until(bool (*pred)(void *), void *arg, int64_t timeout_ms)
{
    uv_timer_t tick, ping;
    uv_timer_init(&loop, &tick);
    uv_timer_init(&loop, &ping);
    uv_timer_start(&tick, on_nothing, 5, 5);
    uv_timer_start(&ping, on_ping_timer, PEER_PING_MS, PEER_PING_MS);
    int64_t end = util_mono_ms() + timeout_ms;
    bool done;
    while (!(done = pred && pred(arg)) && util_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_close((uv_handle_t *)&ping, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return done;
}

static void run_for(int64_t ms)
{
    run_until(NULL, NULL, ms);
}

typedef struct want {
    peer_t *p;
    msg_type_t type;
    size_t n;
} want_t;

static bool has_n(void *arg)
{
    want_t *w = arg;
    return count_type(w->p, w->type) >= w->n;
}

static bool wait_type(peer_t *p, msg_type_t type, size_t n, int64_t ms)
{
    want_t w = {p, type, n};
    return run_until(has_n, &w, ms);
}

typedef struct want_results {
    peer_t *p;
    size_t n;
} want_results_t;

static bool has_results(void *arg)
{
    want_results_t *w = arg;
    return result_entries(w->p) >= w->n;
}

/* ------------------------------------------------------------- messages */

static void welcome(peer_t *p, uint32_t id)
{
    msg_t m = {.type = MSG_WELCOME};
    m.u.welcome = (msg_welcome_t){.engine_id = id, .server_epoch = 77,
                                  .heartbeat_ms = HEARTBEAT_MS};
    peer_send(p, &m);
}

static void send_job(peer_t *p, uint32_t id, const char *cmd)
{
    const char *words[] = {"sh", "-c", cmd};
    msg_t m = {.type = MSG_JOB};
    m.u.job = (msg_job_t){.id = id, .nwords = 3, .words = words,
                          .array_first = 0, .array_count = 1000};
    peer_send(p, &m);
}

static void send_assign(peer_t *p, uint32_t job, uint64_t first, uint32_t n,
                        uint32_t attempt, uint32_t slot)
{
    msg_assign_entry_t e[64];
    for (uint32_t i = 0; i < n; i++)
        e[i] = (msg_assign_entry_t){.task = {job, first + i, attempt},
                                    .slot = slot};
    msg_t m = {.type = MSG_ASSIGN};
    m.u.assign.n = n;
    m.u.assign.entries = e;
    peer_send(p, &m);
}

static void child_hello(peer_t *c, uint32_t slots)
{
    msg_t m = {.type = MSG_HELLO};
    m.u.hello = (msg_hello_t){.worker_id = c->name, .name = c->name,
                              .host = "test", .slots = slots,
                              .cpus_milli = slots * 1000,
                              .mem_bytes = 1u << 30, .node = c->node};
    peer_send(c, &m);
}

/* The child reports every task it was assigned and has not reported. */
static void child_report(peer_t *c, uint64_t seq, size_t from, size_t *upto)
{
    msg_assign_entry_t e[64];
    size_t n = assigned(c, e, 64);
    msg_result_entry_t r[64];
    size_t k = 0;
    for (size_t i = from; i < n; i++)
        r[k++] = (msg_result_entry_t){
            .task = e[i].task, .end = {.state = BANYAN_TASK_OK}};
    msg_t m = {.type = MSG_RESULT};
    m.u.result = (msg_result_t){.seq = seq, .n = (uint32_t)k, .entries = r};
    peer_send(c, &m);
    *upto = n;
}

static worker_t *make_worker(const char *endpoint)
{
    worker_options_t o = {.endpoint = endpoint, .slots = 1,
                          .cpus_milli = 1000, .mem_bytes = 1u << 30,
                          .name = "tree-test",
                          .host = {.kill_grace_ms = 200}};
    banyan_error_t err = {{0}};
    worker_t *w = worker_create(&loop, &o, &err);
    if (!w)
        bail_out("worker_create: %s", err.text);
    return w;
}

static void end_worker(worker_t *w)
{
    worker_destroy(w);
    run_for(50);
}

/* ------------------------------------------------------------- scenarios */

static void test_redirect(void)
{
    char root_ep[512], relay_ep[512];
    snprintf(root_ep, sizeof(root_ep), "ipc://%s/root1.sock", tap_tmpdir());
    snprintf(relay_ep, sizeof(relay_ep), "ipc://%s/relay1.sock",
             tap_tmpdir());
    peer_t root, relay;
    peer_bind(&root, &loop, "root", root_ep);
    peer_bind(&relay, &loop, "relay", relay_ep);
    worker_t *w = make_worker(root_ep);
    ok(worker_relay_endpoint(w) != NULL &&
           strncmp(worker_relay_endpoint(w), "ipc://", 6) == 0,
       "an ipc server gives an ipc relay endpoint (%s)",
       worker_relay_endpoint(w) ? worker_relay_endpoint(w) : "none");
    ok(wait_type(&root, MSG_HELLO, 1, 5000), "HELLO at the root");
    const msg_t *h = nth(&root, MSG_HELLO, 0);
    ok(h && h->u.hello.node == 0 && h->u.hello.relay &&
           strcmp(h->u.hello.relay, worker_relay_endpoint(w)) == 0,
       "with node 0 and its relay endpoint");

    msg_t r = {.type = MSG_REDIRECT};
    r.u.redirect = (msg_redirect_t){.node = 7, .parent = 3,
                                    .endpoint = relay_ep};
    peer_send(&root, &r);
    ok(wait_type(&relay, MSG_HELLO, 1, 5000), "REDIRECT: HELLO at the relay");
    h = nth(&relay, MSG_HELLO, 0);
    ok(h && h->u.hello.node == 7, "with the node id from the REDIRECT");
    welcome(&relay, 7);
    run_for(100);
    worker_stats_t st;
    worker_stats(w, &st);
    ok(st.state == WORKER_CONNECTED && st.node == 7 && st.parent_node == 3 &&
           st.redirects == 1,
       "connected below node 3 as node 7");
    size_t root_hellos = count_type(&root, MSG_HELLO);
    run_for(300);
    ok(count_type(&root, MSG_HELLO) == root_hellos,
       "no more HELLOs at the root while the relay answers");
    end_worker(w);

    /* --no-relay: no ROUTER, no relay endpoint in HELLO. */
    worker_options_t o = {.endpoint = root_ep, .slots = 1,
                          .cpus_milli = 1000, .mem_bytes = 1u << 30,
                          .name = "flat", .no_relay = true};
    banyan_error_t err = {{0}};
    w = worker_create(&loop, &o, &err);
    if (!w)
        bail_out("worker_create: %s", err.text);
    size_t before = count_type(&root, MSG_HELLO);
    ok(worker_relay_endpoint(w) == NULL, "--no-relay: no relay endpoint");
    ok(wait_type(&root, MSG_HELLO, before + 1, 5000) &&
           last_of(&root, MSG_HELLO)->u.hello.relay == NULL,
       "and none in HELLO");
    end_worker(w);
    peer_close(&root);
    peer_close(&relay);
    run_for(20);
    peer_free(&root);
    peer_free(&relay);
}

static bool slots_distinct(const msg_assign_entry_t *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (e[i].slot == e[j].slot)
                return false;
    return true;
}

/* A worker whose parent is a fake peer (bound at ipc://TMP/NAME.sock,
 * answering PINGs) that has WELCOMEd it as node 5. */
static worker_t *worker_below(peer_t *parent, const char *name)
{
    char ep[512];
    snprintf(ep, sizeof(ep), "ipc://%s/%s.sock", tap_tmpdir(), name);
    peer_bind(parent, &loop, "parent", ep);
    pingers[0] = parent;
    npingers = 1;
    worker_t *w = make_worker(ep);
    if (!wait_type(parent, MSG_HELLO, 1, 5000))
        bail_out("no HELLO");
    welcome(parent, 5);
    run_for(50);
    return w;
}

/* Two fake children a and b connected to w's relay as nodes first and
 * first + 1 ("child-FIRST", ...), pinging with the parent. */
static void two_children(worker_t *w, peer_t *a, peer_t *b, uint32_t first)
{
    static char names[2][32]; /* the peers keep the pointers */
    peer_t *c[2] = {a, b};
    for (uint32_t i = 0; i < 2; i++) {
        snprintf(names[i], sizeof(names[i]), "child-%u", first + i);
        peer_connect(c[i], &loop, names[i], worker_relay_endpoint(w),
                     first + i);
        pingers[1 + i] = c[i];
    }
    npingers = 3;
}

/* Stop the worker and close its fake parent and two children. */
static void end_with_children(worker_t *w, peer_t *parent, peer_t *a,
                              peer_t *b)
{
    npingers = 0;
    end_worker(w);
    peer_close(parent);
    peer_close(a);
    peer_close(b);
    run_for(20);
    peer_free(parent);
    peer_free(a);
    peer_free(b);
}

static void test_relay(void)
{
    peer_t parent, c1, c2;
    worker_t *w = worker_below(&parent, "parent2");
    two_children(w, &c1, &c2, 11);
    child_hello(&c1, 2);
    child_hello(&c2, 2);
    ok(wait_type(&c1, MSG_WELCOME, 1, 5000) &&
           wait_type(&c2, MSG_WELCOME, 1, 5000),
       "both children are welcomed");
    const msg_t *m = nth(&c1, MSG_WELCOME, 0);
    ok(m && m->u.welcome.engine_id == 11 && m->u.welcome.server_epoch == 77 &&
           m->u.welcome.heartbeat_ms == HEARTBEAT_MS,
       "WELCOME: the child's node, the root's epoch, the heartbeat");
    ok(wait_type(&parent, MSG_NODES, 2, 2000), "NODES(attached) up, twice");
    m = nth(&parent, MSG_NODES, 0);
    ok(m && m->u.nodes.n == 1 &&
           m->u.nodes.events[0].event == MSG_NODE_ATTACHED &&
           m->u.nodes.events[0].parent == 5,
       "attached below node 5");

    send_job(&parent, 1, "true");
    send_assign(&parent, 1, 0, 4, 3, MSG_SLOT_ANY);
    ok(wait_type(&c1, MSG_ASSIGN, 1, 3000) && wait_type(&c2, MSG_ASSIGN, 1, 3000),
       "ANY tasks are placed on both children");
    msg_assign_entry_t e1[64], e2[64];
    size_t n1 = assigned(&c1, e1, 64), n2 = assigned(&c2, e2, 64);
    ok(n1 == 2 && n2 == 2, "two each (their capacity): %zu and %zu", n1, n2);
    ok(slots_distinct(e1, n1) && slots_distinct(e2, n2) &&
           e1[0].slot >= 1 && e1[0].slot <= 2 && e1[1].slot >= 1 &&
           e1[1].slot <= 2,
       "exact allocations: distinct slots within each child's");
    ok(e1[0].task.attempt == 3 && e2[0].task.attempt == 3,
       "the parent's attempt goes down unchanged");
    ok(count_type(&c1, MSG_JOB) == 1 && count_type(&c2, MSG_JOB) == 1,
       "the JOB goes down each link once");
    send_assign(&parent, 1, 4, 4, 3, MSG_SLOT_ANY);
    run_for(100);
    worker_stats_t st;
    worker_stats(w, &st);
    ok(st.relay_queued == 4 && st.relay_held == 8,
       "four more wait in the relay's queue (queued %llu, held %llu)",
       (unsigned long long)st.relay_queued,
       (unsigned long long)st.relay_held);

    size_t done1 = 0, done2 = 0;
    child_report(&c1, 1, 0, &done1);
    child_report(&c2, 1, 0, &done2);
    want_results_t wr = {&parent, 4};
    ok(run_until(has_results, &wr, 3000), "four results go up");
    ok(count_type(&parent, MSG_RESULT) <= 2,
       "coalesced: %zu RESULT messages", count_type(&parent, MSG_RESULT));
    run_for(150);
    ok(count_type(&c1, MSG_ACK) == 0 && count_type(&c2, MSG_ACK) == 0,
       "no ACK below before the parent's");
    ok(wait_type(&c1, MSG_ASSIGN, 2, 2000) && wait_type(&c2, MSG_ASSIGN, 2, 2000),
       "freed slots: the queued tasks are placed");
    ok(count_type(&c1, MSG_JOB) == 1 && count_type(&c2, MSG_JOB) == 1,
       "without the JOB again");
    const msg_t *res = last_of(&parent, MSG_RESULT);
    msg_t ack = {.type = MSG_ACK};
    ack.u.ack.seq = res->u.result.seq;
    peer_send(&parent, &ack);
    ok(wait_type(&c1, MSG_ACK, 1, 2000) && wait_type(&c2, MSG_ACK, 1, 2000),
       "the parent's ACK is passed on");
    m = nth(&c1, MSG_ACK, 0);
    ok(m && m->u.ack.seq == 1, "ACK of the child's own seq");
    ok(wait_type(&parent, MSG_SUMMARY, 1, 3000), "SUMMARY up");
    m = last_of(&parent, MSG_SUMMARY);
    ok(m && m->u.summary.engines == 2 && m->u.summary.slots == 4 &&
           m->u.summary.nstats >= 3 && m->u.summary.stats[0].node == 5 &&
           m->u.summary.stats[0].children == 2,
       "SUMMARY: two engines, four slots, stats of the node and below");

    /* Child 12 goes silent while it holds two tasks. */
    n2 = assigned(&c2, e2, 64);
    c2.alive = false;
    ok(wait_type(&parent, MSG_ORPHAN, 1, 3000), "a silent child: ORPHAN up");
    m = nth(&parent, MSG_ORPHAN, 0);
    ok(m && m->u.tasks.node == 12 && m->u.tasks.n == n2 - done2,
       "ORPHAN names node 12 and the %zu tasks it held (%u)", n2 - done2,
       m ? m->u.tasks.n : 0);
    bool attempts = m != NULL;
    for (uint32_t i = 0; m && i < m->u.tasks.n; i++)
        attempts = attempts && m->u.tasks.tasks[i].attempt == 3;
    ok(attempts, "with their attempts");
    wait_type(&parent, MSG_NODES, 3, 2000);
    bool lost = false;
    for (size_t i = 0; i < parent.n; i++) {
        const msg_t *x = parent.msgs[i];
        if (x->type == MSG_NODES && x->u.nodes.n == 1 &&
            x->u.nodes.events[0].node == 12 &&
            x->u.nodes.events[0].event == MSG_NODE_LOST)
            lost = true;
    }
    ok(lost, "NODES(lost 12) up");
    worker_stats(w, &st);
    ok(st.children == 1 && st.children_lost == 1, "one child left");

    end_with_children(w, &parent, &c1, &c2);
}

/* A child with slots and ngpus GPUs (1 GiB each). */
static void child_hello_gpus(peer_t *c, uint32_t slots, uint32_t ngpus)
{
    msg_gpu_t gpus[4];
    for (uint32_t i = 0; i < ngpus; i++)
        gpus[i] = (msg_gpu_t){.index = (int32_t)i, .mem_total_bytes = 1u << 30};
    msg_t m = {.type = MSG_HELLO};
    m.u.hello = (msg_hello_t){.worker_id = c->name, .name = c->name,
                              .host = "test", .slots = slots,
                              .cpus_milli = slots * 1000,
                              .mem_bytes = 1u << 30, .ngpus = ngpus,
                              .gpus = gpus, .node = c->node};
    peer_send(c, &m);
}

static void send_job_req(peer_t *p, uint32_t id, const res_request_t *req,
                         int32_t priority)
{
    const char *words[] = {"true"};
    msg_t m = {.type = MSG_JOB};
    m.u.job = (msg_job_t){.id = id, .nwords = 1, .words = words,
                          .array_first = 0, .array_count = 1000,
                          .req = *req, .priority = priority};
    peer_send(p, &m);
}

/* Each entry has exactly one GPU, 1000 milli, and no two share one. */
static bool one_gpu_each(const msg_assign_entry_t *e, size_t n)
{
    uint64_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = e[i].gpu_mask;
        if (g == 0 || (g & (g - 1)) != 0 || (seen & g) != 0
            || e[i].gpu_milli_each != 1000 || e[i].slot == MSG_SLOT_ANY)
            return false;
        seen |= g;
    }
    return true;
}

/* The JOB's request and priority place tasks below a relay: a GPU job's
 * tasks get exact GPUs on engine children (as many as they have GPUs, not
 * slots), a relay child's subtree is charged its aggregate's GPUs, and a
 * higher-priority job goes first when a slot frees. */
static void test_job_request(void)
{
    peer_t parent, c1, c2, c3;
    worker_t *w = worker_below(&parent, "parent9");
    peer_connect(&c1, &loop, "child-21", worker_relay_endpoint(w), 21);
    peer_connect(&c2, &loop, "child-22", worker_relay_endpoint(w), 22);
    peer_connect(&c3, &loop, "child-23", worker_relay_endpoint(w), 23);
    pingers[1] = &c1;
    pingers[2] = &c2;
    pingers[3] = &c3;
    npingers = 4;
    child_hello_gpus(&c1, 4, 2);
    child_hello_gpus(&c2, 4, 2);
    child_hello_gpus(&c3, 4, 0);
    ok(wait_type(&c1, MSG_WELCOME, 1, 5000) &&
           wait_type(&c2, MSG_WELCOME, 1, 5000) &&
           wait_type(&c3, MSG_WELCOME, 1, 5000),
       "three children are welcomed (2, 2 and 0 GPUs)");
    /* Child 23 has one engine with 1 GPU below it. */
    msg_t sm = {.type = MSG_SUMMARY};
    sm.u.summary = (msg_summary_t){.engines = 1, .slots = 4,
                                   .cpus_milli = 4000, .mem_bytes = 1u << 30,
                                   .gpus = 1, .free_slots = 4};
    peer_send(&c3, &sm);
    run_for(100);

    res_request_t gpu = {.slots = 1, .cpus_milli = 1000, .gpus_milli = 1000};
    send_job_req(&parent, 1, &gpu, 0);
    send_assign(&parent, 1, 0, 12, 1, MSG_SLOT_ANY);
    ok(wait_type(&c1, MSG_ASSIGN, 1, 3000) &&
           wait_type(&c2, MSG_ASSIGN, 1, 3000) &&
           wait_type(&c3, MSG_ASSIGN, 1, 3000),
       "a GPU job's tasks are placed on the three children");
    run_for(100);
    msg_assign_entry_t e1[64], e2[64], e3[64];
    size_t n1 = assigned(&c1, e1, 64), n2 = assigned(&c2, e2, 64),
           n3 = assigned(&c3, e3, 64);
    ok(n1 == 2 && n2 == 2, "two on each 4-slot engine child with 2 GPUs: "
       "%zu and %zu", n1, n2);
    ok(one_gpu_each(e1, n1) && one_gpu_each(e2, n2),
       "each with its own GPU (exact mask, 1000 milli)");
    bool any = n3 > 0;
    for (size_t i = 0; i < n3; i++)
        any = any && e3[i].slot == MSG_SLOT_ANY && e3[i].gpu_mask == 0;
    ok(any && n3 <= 2, "the 0-GPU child's own engine gets none; its subtree "
       "(1 GPU) gets ANY entries up to its aggregate: %zu", n3);
    const msg_t *jm = nth(&c1, MSG_JOB, 0);
    ok(jm && jm->u.job.req.gpus_milli == 1000 && jm->u.job.priority == 0,
       "the JOB goes down with its request");
    worker_stats_t st;
    worker_stats(w, &st);
    ok(st.relay_queued == 12 - n1 - n2 - n3, "the rest waits in the relay's "
       "queue (%llu)", (unsigned long long)st.relay_queued);

    /* A job that needs no GPU arrives behind the queued GPU tasks: the
     * children's slots left free by the GPU limit take it at once. */
    res_request_t cpu = {.slots = 1};
    send_job_req(&parent, 2, &cpu, 9);
    send_assign(&parent, 2, 0, 1, 1, MSG_SLOT_ANY);
    run_for(200);
    size_t m1 = assigned(&c1, e1, 64), m2 = assigned(&c2, e2, 64),
           m3 = assigned(&c3, e3, 64);
    bool placed = false;
    for (size_t i = n1; i < m1; i++)
        placed |= e1[i].task.job == 2 && e1[i].gpu_mask == 0;
    for (size_t i = n2; i < m2; i++)
        placed |= e2[i].task.job == 2 && e2[i].gpu_mask == 0;
    for (size_t i = n3; i < m3; i++)
        placed |= e3[i].task.job == 2;
    ok(placed, "a job that needs no GPU runs beside the GPU tasks");

    npingers = 0;
    end_worker(w);
    peer_close(&parent);
    peer_close(&c1);
    peer_close(&c2);
    peer_close(&c3);
    run_for(20);
    peer_free(&parent);
    peer_free(&c1);
    peer_free(&c2);
    peer_free(&c3);
}

/* Jobs of higher priority go first below a relay too. */
static void test_job_priority(void)
{
    peer_t parent, c1;
    worker_t *w = worker_below(&parent, "parent10");
    peer_connect(&c1, &loop, "child-31", worker_relay_endpoint(w), 31);
    pingers[1] = &c1;
    npingers = 2;
    child_hello(&c1, 1);
    ok(wait_type(&c1, MSG_WELCOME, 1, 5000), "a 1-slot child is welcomed");
    res_request_t one = {.slots = 1};
    send_job_req(&parent, 1, &one, 0);
    send_assign(&parent, 1, 0, 3, 1, MSG_SLOT_ANY);
    ok(wait_type(&c1, MSG_ASSIGN, 1, 3000), "job 1 (priority 0) starts");
    send_job_req(&parent, 2, &one, 9);
    send_assign(&parent, 2, 0, 1, 1, MSG_SLOT_ANY);
    run_for(100);
    size_t done = 0;
    child_report(&c1, 1, 0, &done);
    ok(wait_type(&c1, MSG_ASSIGN, 2, 3000), "the freed slot is filled");
    const msg_t *a = nth(&c1, MSG_ASSIGN, 1);
    ok(a && a->u.assign.n == 1 && a->u.assign.entries[0].task.job == 2,
       "by job 2 (priority 9), queued after job 1's two waiting tasks");

    npingers = 0;
    end_worker(w);
    peer_close(&parent);
    peer_close(&c1);
    run_for(20);
    peer_free(&parent);
    peer_free(&c1);
}

static void test_parent_lost(void)
{
    char root_ep[512], relay_ep[512];
    snprintf(root_ep, sizeof(root_ep), "ipc://%s/root4.sock", tap_tmpdir());
    snprintf(relay_ep, sizeof(relay_ep), "ipc://%s/relay4.sock",
             tap_tmpdir());
    peer_t root, relay, child;
    peer_bind(&root, &loop, "root", root_ep);
    peer_bind(&relay, &loop, "relay", relay_ep);
    pingers[0] = &relay;
    npingers = 1;
    worker_t *w = make_worker(root_ep);
    if (!wait_type(&root, MSG_HELLO, 1, 5000))
        bail_out("no HELLO");
    msg_t r = {.type = MSG_REDIRECT};
    r.u.redirect = (msg_redirect_t){.node = 9, .parent = 4,
                                    .endpoint = relay_ep};
    peer_send(&root, &r);
    if (!wait_type(&relay, MSG_HELLO, 1, 5000))
        bail_out("no HELLO at the relay");
    welcome(&relay, 9);
    run_for(50);
    /* One task on its own engine, one placed on a child. */
    peer_connect(&child, &loop, "child-21", worker_relay_endpoint(w), 21);
    pingers[1] = &child;
    npingers = 2;
    child_hello(&child, 1);
    if (!wait_type(&child, MSG_WELCOME, 1, 5000))
        bail_out("child not welcomed");
    send_job(&relay, 2, "sleep 5");
    send_assign(&relay, 2, 0, 1, 1, 1);
    send_assign(&relay, 2, 1, 1, 2, MSG_SLOT_ANY);
    ok(wait_type(&child, MSG_ASSIGN, 1, 3000), "a task placed on the child");
    size_t hellos = count_type(&root, MSG_HELLO);
    relay.alive = false; /* silent from now on */
    ok(wait_type(&root, MSG_HELLO, hellos + 1, 5000),
       "a silent parent relay: HELLO at the root");
    const msg_t *h = last_of(&root, MSG_HELLO);
    bool own = false, below = false;
    for (uint32_t i = 0; h && i < h->u.hello.nrunning; i++) {
        const msg_task_ref_t *t = &h->u.hello.running[i];
        own = own || (t->job == 2 && t->index == 0 && t->attempt == 1);
        below = below || (t->job == 2 && t->index == 1 && t->attempt == 2);
    }
    ok(h && h->u.hello.node == 9, "with its node id");
    ok(own && below, "listing its own task and its subtree's");
    worker_stats_t st;
    worker_stats(w, &st);
    ok(st.back_to_root == 1 && st.children == 1,
       "its child stays attached");
    npingers = 0;
    end_worker(w);
    peer_close(&root);
    peer_close(&relay);
    peer_close(&child);
    run_for(20);
    peer_free(&root);
    peer_free(&relay);
    peer_free(&child);
}

static void child_summary(peer_t *c, uint32_t slots, uint64_t queued)
{
    msg_node_stats_t st = {.node = c->node};
    msg_t m = {.type = MSG_SUMMARY};
    m.u.summary = (msg_summary_t){.engines = 1, .slots = slots,
                                  .cpus_milli = slots * 1000,
                                  .mem_bytes = 1u << 30, .queued = queued,
                                  .nstats = 1, .stats = &st};
    peer_send(c, &m);
}

static void test_steal(void)
{
    peer_t parent, a, b;
    worker_t *w = worker_below(&parent, "parent5");
    two_children(w, &a, &b, 31);
    child_hello(&a, 1);
    child_hello(&b, 1);
    if (!wait_type(&a, MSG_WELCOME, 1, 5000) ||
        !wait_type(&b, MSG_WELCOME, 1, 5000))
        bail_out("children not welcomed");
    /* Each has one engine below it: sub(A) and sub(B) hold 2 (prefetch). */
    child_summary(&a, 1, 0);
    child_summary(&b, 1, 0);
    run_for(50);
    send_job(&parent, 3, "true");
    send_assign(&parent, 3, 0, 6, 1, MSG_SLOT_ANY);
    run_for(200);
    msg_assign_entry_t ea[64], eb[64];
    size_t na = assigned(&a, ea, 64), nb = assigned(&b, eb, 64);
    size_t any_a = 0;
    for (size_t i = 0; i < na; i++)
        any_a += ea[i].slot == MSG_SLOT_ANY;
    ok(na == 3 && nb == 3 && any_a == 2,
       "each child gets one exact task and two for its subtree (%zu, %zu)",
       na, nb);

    msg_t steal = {.type = MSG_STEAL};
    steal.u.steal.want = 1;
    peer_send(&b, &steal);
    ok(wait_type(&b, MSG_DENY, 1, 2000), "nothing queued anywhere: DENY");

    child_summary(&a, 1, 3);
    run_for(50);
    peer_send(&b, &steal);
    ok(wait_type(&a, MSG_RECALL, 1, 2000), "A reports work queued: RECALL");
    const msg_t *m = nth(&a, MSG_RECALL, 0);
    ok(m && m->u.recall.n == 1, "for what the thief wants (%u)",
       m ? m->u.recall.n : 0);
    msg_task_ref_t back = {0};
    for (size_t i = 0; i < na; i++)
        if (ea[i].slot == MSG_SLOT_ANY)
            back = ea[i].task;
    msg_t ret = {.type = MSG_RETURN};
    ret.u.tasks = (msg_tasks_t){.done = true, .n = 1, .tasks = &back};
    peer_send(&a, &ret);
    run_for(100);
    worker_stats_t st;
    worker_stats(w, &st);
    ok(st.relay_held == 6,
       "the returned task is kept (queued or placed again: held %llu)",
       (unsigned long long)st.relay_held);

    /* Nothing queued here now: the parent's RECALL goes on to the
     * busiest child, and what it gives back goes up. */
    run_for(50);
    worker_stats(w, &st);
    size_t queued_here = st.relay_queued;
    msg_t recall = {.type = MSG_RECALL};
    recall.u.recall.n = 5;
    peer_send(&parent, &recall);
    if (queued_here == 0) {
        ok(wait_type(&a, MSG_RECALL, 2, 2000),
           "the parent's RECALL goes on to A");
        peer_send(&a, &ret);
    }
    ok(wait_type(&parent, MSG_RETURN, 1, 2000), "RETURN up");
    run_for(50);
    m = last_of(&parent, MSG_RETURN);
    bool found = false;
    for (size_t i = 0; i < parent.n; i++) {
        const msg_t *x = parent.msgs[i];
        for (uint32_t k = 0; x->type == MSG_RETURN && k < x->u.tasks.n; k++)
            found = found || (x->u.tasks.tasks[k].job == back.job &&
                              x->u.tasks.tasks[k].index == back.index &&
                              x->u.tasks.tasks[k].attempt == 1);
    }
    ok(found && m->u.tasks.done, "with the task, the last one done");
    worker_stats(w, &st);
    ok(st.relay_held == 5, "no longer held here (%llu)",
       (unsigned long long)st.relay_held);

    npingers = 0;
    end_worker(w);
    peer_close(&parent);
    peer_close(&a);
    peer_close(&b);
    run_for(20);
    peer_free(&parent);
    peer_free(&a);
    peer_free(&b);
}

static bool has_result(void *arg)
{
    return result_entries(arg) >= 1;
}

static void test_blob_job(void)
{
    peer_t parent;
    worker_t *w = worker_below(&parent, "parent6");
    static const char data[] = "payload-line\n";
    blob_id_t id;
    if (blob_hash(data, strlen(data), &id) < 0)
        bail_out("blob_hash");
    const char *words[] = {"sh", "-c",
                           "cat; test -s \"$BANYAN_BLOB_0\" && echo ok"};
    const uint8_t(*blobs)[MSG_HASH_LEN] =
        (const uint8_t(*)[MSG_HASH_LEN])id.bytes;
    msg_t job = {.type = MSG_JOB};
    job.u.job = (msg_job_t){.id = 4, .nwords = 3, .words = words,
                            .array_count = 10, .nblobs = 1, .blobs = blobs,
                            .flags = MSG_JOB_STDIN_BLOB};
    peer_send(&parent, &job);
    send_assign(&parent, 4, 0, 1, 1, 1);
    ok(wait_type(&parent, MSG_BLOB_GET, 1, 3000),
       "a task of a job with a blob: BLOB_GET up first");
    const msg_t *g = nth(&parent, MSG_BLOB_GET, 0);
    ok(g && memcmp(g->u.blob_get.hash, id.bytes, 32) == 0 &&
           g->u.blob_get.offset == 0,
       "for the job's blob, from its start");
    run_for(100);
    ok(result_entries(&parent) == 0, "the task waits for it");
    msg_t d = {.type = MSG_BLOB_DATA};
    d.u.blob_data = (msg_blob_data_t){.hash = id.bytes, .offset = 0,
                                      .total = strlen(data),
                                      .len = (uint32_t)strlen(data),
                                      .data = data};
    peer_send(&parent, &d);
    ok(run_until(has_result, &parent, 5000), "then it runs");
    const msg_t *r = last_of(&parent, MSG_RESULT);
    const msg_result_entry_t *e = r ? &r->u.result.entries[0] : NULL;
    ok(e && e->end.exit_code == 0 && e->out_tail &&
           strcmp(e->out_tail, "payload-line\nok\n") == 0,
       "with the blob as stdin and BANYAN_BLOB_0 (%s)",
       e && e->out_tail ? (const char *)e->out_tail : "");
    npingers = 0;
    end_worker(w);
    peer_close(&parent);
    run_for(20);
    peer_free(&parent);
}

static void test_kill(void)
{
    peer_t parent, a;
    worker_t *w = worker_below(&parent, "parent7");
    peer_connect(&a, &loop, "child-41", worker_relay_endpoint(w), 41);
    pingers[1] = &a;
    npingers = 2;
    child_hello(&a, 1);
    if (!wait_type(&a, MSG_WELCOME, 1, 5000))
        bail_out("child not welcomed");
    send_job(&parent, 5, "true");
    send_assign(&parent, 5, 0, 3, 2, MSG_SLOT_ANY);
    ok(wait_type(&a, MSG_ASSIGN, 1, 3000), "one task on the child");
    msg_t k = {.type = MSG_KILL};
    k.u.kill.job = 5;
    peer_send(&parent, &k);
    ok(wait_type(&a, MSG_KILL, 1, 2000), "KILL goes on to the child");
    want_results_t wr = {&parent, 2};
    ok(run_until(has_results, &wr, 2000), "two results up");
    bool interrupted = result_entries(&parent) == 2;
    for (size_t i = 0; i < parent.n; i++) {
        const msg_t *x = parent.msgs[i];
        for (uint32_t j = 0; x->type == MSG_RESULT && j < x->u.result.n; j++)
            interrupted = interrupted &&
                          (x->u.result.entries[j].end.flags &
                           BANYAN_END_INTERRUPTED) &&
                          x->u.result.entries[j].task.attempt == 2;
    }
    ok(interrupted, "the queued tasks, reported interrupted");
    worker_stats_t st;
    worker_stats(w, &st);
    ok(st.relay_held == 1 && st.relay_queued == 0,
       "only the child's task is still held");
    npingers = 0;
    end_worker(w);
    peer_close(&parent);
    peer_close(&a);
    run_for(20);
    peer_free(&parent);
    peer_free(&a);
}

typedef struct acked {
    worker_t *w;
} acked_t;

static bool engine_acked(void *arg)
{
    worker_stats_t st;
    worker_stats(((acked_t *)arg)->w, &st);
    return st.tasks_done == 3 && st.unacked_entries == 0;
}

static void test_two_workers(void)
{
    char root_ep[512];
    snprintf(root_ep, sizeof(root_ep), "ipc://%s/root8.sock", tap_tmpdir());
    peer_t root;
    peer_bind(&root, &loop, "root", root_ep);
    pingers[0] = &root;
    npingers = 1;
    worker_t *a = make_worker(root_ep);
    if (!wait_type(&root, MSG_HELLO, 1, 5000))
        bail_out("no HELLO from A");
    msg_peer_t a_id = root.from;
    welcome(&root, 1);
    run_for(50);
    worker_t *b = make_worker(root_ep);
    if (!wait_type(&root, MSG_HELLO, 2, 5000))
        bail_out("no HELLO from B");
    msg_t r = {.type = MSG_REDIRECT};
    r.u.redirect = (msg_redirect_t){.node = 2, .parent = 1,
                                    .endpoint = worker_relay_endpoint(a)};
    peer_send(&root, &r);
    root.from = a_id;
    ok(wait_type(&root, MSG_NODES, 1, 5000), "B attaches below A: NODES up");
    /* A sends NODES up on B's HELLO; B takes A's WELCOME a moment later. */
    worker_stats_t st;
    for (int i = 0; i < 500; i++) {
        worker_stats(b, &st);
        if (st.state == WORKER_CONNECTED && st.node == 2)
            break;
        run_for(10);
    }
    ok(st.state == WORKER_CONNECTED && st.node == 2 && st.parent_node == 1,
       "B is node 2 below node 1");
    send_job(&root, 6, "echo task-$BANYAN_JOB_ID.$BANYAN_TASK_ID");
    send_assign(&root, 6, 0, 3, 1, MSG_SLOT_ANY);
    want_results_t wr = {&root, 3};
    ok(run_until(has_results, &wr, 10000), "three results reach the root");
    bool fine = true;
    for (size_t i = 0; i < root.n; i++) {
        const msg_t *x = root.msgs[i];
        for (uint32_t j = 0; x->type == MSG_RESULT && j < x->u.result.n; j++)
            fine = fine && x->u.result.entries[j].end.exit_code == 0 &&
                   x->u.result.entries[j].out_tail &&
                   strncmp(x->u.result.entries[j].out_tail, "task-6.", 7) == 0;
    }
    ok(fine, "B ran them (exit 0, their output)");
    acked_t ak = {b};
    run_for(50);
    msg_t ack = {.type = MSG_ACK};
    ack.u.ack.seq = last_of(&root, MSG_RESULT)->u.result.seq;
    peer_send(&root, &ack);
    ok(run_until(engine_acked, &ak, 3000),
       "the root's ACK reaches B through A");
    npingers = 0;
    end_worker(b);
    end_worker(a);
    peer_close(&root);
    run_for(20);
    peer_free(&root);
}

/* 10. A restart of the root: the relay's parent WELCOMEs it with a new
 * epoch.  It announces its children again (NODES attached, with their
 * worker ids, hosts and relay endpoints, below its id as the root now
 * gives it) and WELCOMEs them with the new epoch, so that relay children
 * do the same below (docs/tree.md, "Restart of the root"). */
static bool nodes_events(void *arg)
{
    const peer_t *p = arg;
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->msgs[i]->type == MSG_NODES)
            n += p->msgs[i]->u.nodes.n;
    return n >= 4;
}

static const msg_node_event_entry_t *event_of(const peer_t *p, uint32_t node,
                                              size_t from_msg)
{
    const msg_node_event_entry_t *found = NULL;
    for (size_t i = from_msg; i < p->n; i++) {
        const msg_t *m = p->msgs[i];
        if (m->type != MSG_NODES)
            continue;
        for (uint32_t k = 0; k < m->u.nodes.n; k++)
            if (m->u.nodes.events[k].node == node)
                found = &m->u.nodes.events[k];
    }
    return found;
}

static void welcome_epoch(peer_t *p, uint32_t id, uint64_t epoch)
{
    msg_t m = {.type = MSG_WELCOME};
    m.u.welcome = (msg_welcome_t){.engine_id = id, .server_epoch = epoch,
                                  .heartbeat_ms = HEARTBEAT_MS};
    peer_send(p, &m);
}

static void test_root_restart(void)
{
    peer_t parent, c1, c2;
    worker_t *w = worker_below(&parent, "parent-rr");
    two_children(w, &c1, &c2, 21);
    msg_t h = {.type = MSG_HELLO};
    h.u.hello = (msg_hello_t){.worker_id = "w21", .name = "child-21",
                              .host = "host-21", .slots = 1,
                              .cpus_milli = 1000, .mem_bytes = 1u << 30,
                              .relay = "ipc:///tmp/relay-21", .node = 21};
    peer_send(&c1, &h);
    child_hello(&c2, 1);
    ok(wait_type(&parent, MSG_NODES, 2, 3000), "both children attached");
    const msg_node_event_entry_t *ev = event_of(&parent, 21, 0);
    ok(ev && ev->event == MSG_NODE_ATTACHED && ev->parent == 5
       && ev->worker_id && strcmp(ev->worker_id, "w21") == 0
       && ev->host && strcmp(ev->host, "host-21") == 0
       && ev->relay && strcmp(ev->relay, "ipc:///tmp/relay-21") == 0,
       "NODES(attached) carries the child's worker id, host and relay");
    size_t mark = parent.n;
    welcome_epoch(&parent, 5, 77); /* the same epoch: nothing again */
    run_for(150);
    ok(event_of(&parent, 21, mark) == NULL && count_type(&c1, MSG_WELCOME) == 1,
       "a WELCOME of the same epoch announces nothing");

    /* The root restarted and gave this node id 6 (its own was taken). */
    welcome_epoch(&parent, 6, 78);
    run_until(nodes_events, &parent, 3000);
    const msg_node_event_entry_t *e1 = event_of(&parent, 21, mark);
    const msg_node_event_entry_t *e2 = event_of(&parent, 22, mark);
    ok(e1 && e2 && e1->event == MSG_NODE_ATTACHED
       && e2->event == MSG_NODE_ATTACHED && e1->parent == 6
       && e2->parent == 6,
       "a new epoch: both children announced again, below the node's id "
       "now (6)");
    ok(e1 && e1->worker_id && strcmp(e1->worker_id, "w21") == 0 && e1->relay
       && strcmp(e1->relay, "ipc:///tmp/relay-21") == 0 && e2
       && e2->worker_id && strcmp(e2->worker_id, "child-22") == 0,
       "... with their worker ids and relay endpoints");
    ok(wait_type(&c1, MSG_WELCOME, 2, 2000)
       && wait_type(&c2, MSG_WELCOME, 2, 2000),
       "both children are WELCOMEd again");
    const msg_t *m = last_of(&c1, MSG_WELCOME);
    ok(m && m->u.welcome.server_epoch == 78 && m->u.welcome.engine_id == 21,
       "... with the new epoch and their own ids");
    end_with_children(w, &parent, &c1, &c2);
}

int main(void)
{
    plan(NO_PLAN);
    if (uv_loop_init(&loop) < 0)
        bail_out("uv_loop_init");
    test_redirect();
    test_relay();
    test_parent_lost();
    test_steal();
    test_blob_job();
    test_kill();
    test_two_workers();
    test_job_request();
    test_job_priority();
    test_root_restart();
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0, "every handle closed");
    return done_testing();
}
