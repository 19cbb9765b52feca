/* SPDX-License-Identifier: MIT */
/* worker_relay.c - a worker's relay role: its children, and the placement
 * of the tasks its parent hands its subtree (docs/tree.md, "Cluster mode:
 * how the tree is wired").
 *
 * Children connect DEALERs to this node's ROUTER and say HELLO with the id
 * the root gave them; their links are a tree_children_t, the table the
 * root keeps too (tree_children.h).  Each child C is an engine in the
 * tree_relay_t's core with C's real capacity (exact ASSIGN entries: slot
 * and GPUs) and, once C reports a subtree (SUMMARY with engines > 0), also
 * sub(C) = C | TREE_SUB_BIT, an aggregate of C's subtree (ASSIGN entries
 * with MSG_SLOT_ANY).  This node's own engine is NOT in the core: the parent
 * places exact entries on it against its real capacity, and two schedulers
 * sharing one pool would oversubscribe it.
 *
 * A task this relay holds (queued here, or placed on a child) has a "held"
 * entry with its attempt, which the parent chose and which goes down
 * unchanged; the same entries are what HELLO lists when this node goes back
 * to the root, and what ORPHAN lists when a child is lost.
 *
 * Results: a child's RESULT entries go to the worker (ops->child_result),
 * which sends them up in its own batches; the child's seq is ACKed only
 * when the worker says the parent acknowledged the batch that carried the
 * end of it (worker__relay_acked), so a result is never acknowledged below
 * before it is durable above.
 *
 * Losses are never requeued here: a lost child's tasks are dropped from
 * the core and listed in ORPHAN up (the root decides after its grace), and
 * NODES tells the root which node went.
 */
#include "worker_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tree/tree.h"
#include "tree/tree_children.h"
#include "util/hmap.h"
#include "util/util.h"
#include "worker_upq.h"

enum {
    STEP_ACTS = 256,
    LOST_PERIODS = 5,          /* silent heartbeat periods: child lost */
    HEARTBEAT_DEFAULT_MS = 1000,
};

static const char reject_reason[] =
    "no engine of this subtree can ever run it";

/* ------------------------------------------------------------- types */

/* A held task's key: (job, index), the padding zeroed. */
typedef struct held_key {
    uint32_t job, zero;
    uint64_t index;
} held_key_t;

typedef struct taskvec {
    msg_task_ref_t *v;
    size_t n, cap;
} taskvec_t;

struct worker__relay {
    uv_loop_t *loop;
    msg_sock_t *sock;
    worker__relay_ops_t ops;
    void *arg;
    tree_relay_t *tr;
    tree_children_t *ch;        /* the links down, owned */
    util_hmap_t *held;          /* held_key_t -> msg_task_ref_t */
    const worker__jobs_t *jobs; /* the worker's: the JOBs sent down */
    uint32_t node, parent;
    uint64_t epoch;
    uint32_t heartbeat_ms;
    bool summary_dirty;
    int64_t last_summary_ms, last_ping_ms, last_tick_ms;
    taskvec_t ret, rej;         /* RETURN / REJECT being built */
    bool ret_done;
    taskvec_t refused;          /* ENOSPC: handed back at once */
    worker__upq_t *upq;         /* ORPHANs and NODES events waiting for
                                   a parent to take them, owned */
    worker_stats_t st;          /* relay_assigned, child_results,
                                   children_lost, orphans_sent */
};

/* ------------------------------------------------------------- helpers */

static int taskvec_push(taskvec_t *t, msg_task_ref_t ref)
{
    if (util_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v)) < 0)
        return -1;
    t->v[t->n++] = ref;
    return 0;
}

static msg_task_ref_t *held_find(const worker__relay_t *r, uint32_t job,
                                 uint64_t index)
{
    held_key_t k = {job, 0, index};
    return util_hmap_find(r->held, &k);
}

static msg_task_ref_t *held_add(worker__relay_t *r,
                                const msg_task_ref_t *ref)
{
    held_key_t k = {ref->job, 0, ref->index};
    msg_task_ref_t *h = util_hmap_insert(r->held, &k, NULL);
    if (h)
        *h = *ref;
    return h;
}

/* Forget a held task; its reference (attempt 0 when unknown) in *ref. */
static void held_remove(worker__relay_t *r, uint32_t job, uint64_t index,
                        msg_task_ref_t *ref)
{
    held_key_t k = {job, 0, index};
    msg_task_ref_t *h = util_hmap_find(r->held, &k);
    if (ref)
        *ref = h ? *h : (msg_task_ref_t){job, index, 0};
    if (h)
        util_hmap_remove(r->held, &k);
}

/* The next held task of a walk (it starts at UTIL_HMAP_ITER_INIT). */
static const msg_task_ref_t *held_next(const worker__relay_t *r,
                                       util_hmap_iter_t *it)
{
    void *v;
    return util_hmap_next(r->held, it, NULL, &v) ? v : NULL;
}

static int sock_send(void *arg, const msg_peer_t *to, const msg_t *m)
{
    worker__relay_t *r = arg;
    return msg_sock_send(r->sock, to, m) < 0 ? -1 : 0;
}

/* Also the upq's send. */
static int send_up(void *arg, const msg_t *m)
{
    worker__relay_t *r = arg;
    return r->ops.send_up(r->arg, m);
}

/* Send the tasks of t up as type (RETURN, REJECT, ORPHAN), in batches. */
static void send_tasks_up(worker__relay_t *r, msg_type_t type, uint32_t node,
                          bool done, const char *reason, taskvec_t *t)
{
    size_t off = 0;
    do {
        size_t n = t->n - off;
        if (n > MSG_MAX_BATCH)
            n = MSG_MAX_BATCH;
        msg_t m = {.type = type};
        m.u.tasks.node = node;
        m.u.tasks.done = done && off + n == t->n;
        m.u.tasks.reason = reason;
        m.u.tasks.n = (uint32_t)n;
        m.u.tasks.tasks = n ? t->v + off : NULL;
        send_up(r, &m);
        off += n;
    } while (off < t->n);
    t->n = 0;
}

/* -------------------------------------------------------------- children */

/* An event about child c.  ATTACHED carries what the root needs to take
 * c back with its id after a restart (docs/tree.md, "Restart of the
 * root"): its worker id, host and relay endpoint. */
static void queue_child_event(worker__relay_t *r, const tree_child_t *c,
                              uint32_t event)
{
    msg_node_event_entry_t ev = {.node = c->id, .parent = r->node,
                                 .event = event};
    if (event == MSG_NODE_ATTACHED) {
        ev.worker_id = c->worker_id;
        ev.host = c->host;
        ev.relay = c->relay;
    }
    worker__upq_event(r->upq, &ev);
}

static void send_nodes(worker__relay_t *r, const tree_child_t *c,
                       uint32_t event)
{
    queue_child_event(r, c, event);
    worker__upq_flush(r->upq);
}

/* Tasks a (re)attaching child still runs: accounted on its subtree, so
 * that their results match and nothing is placed over them. */
static void adopt_running(worker__relay_t *r, tree_child_t *c,
                          const msg_hello_t *h)
{
    for (uint32_t i = 0; i < h->nrunning; i++) {
        const msg_task_ref_t *t = &h->running[i];
        if (tree_relay_task_child(r->tr, t->job, t->index) != TREE_NONE)
            continue; /* already placed on it (a repeated HELLO) */
        if (tree_child_sub_ensure(c, r->tr) == 0)
            (void)tree_relay_adopt(r->tr, c->id | TREE_SUB_BIT, t->job,
                                   t->index, t->attempt, NULL);
        held_add(r, t);
    }
}

static void lose_child(worker__relay_t *r, tree_child_t *c, uint32_t event);

static void child_hello(worker__relay_t *r, const msg_peer_t *from,
                        const msg_hello_t *h)
{
    if (h->node == 0 || h->node == r->node)
        return; /* a worker the root did not send here: ignore it */
    tree_child_t *c = tree_children_find(r->ch, h->node);
    if (c) {
        /* The same node again (it repeated its HELLO, or reconnected
         * faster than we noticed): follow its routing id. */
        tree_child_hello(c, from, h);
        tree_child_welcome(r->ch, c, r->epoch, r->heartbeat_ms);
        adopt_running(r, c, h);
        return;
    }
    if (!(c = tree_children_add(r->ch, h->node, from, h)))
        return;
    if (tree_relay_add_engine(r->tr, c->id, &c->cap) < 0) {
        tree_children_remove(r->ch, c);
        return;
    }
    tree_child_welcome(r->ch, c, r->epoch, r->heartbeat_ms);
    adopt_running(r, c, h);
    send_nodes(r, c, MSG_NODE_ATTACHED);
    r->summary_dirty = true;
}

static void child_result(worker__relay_t *r, tree_child_t *c,
                         const msg_result_t *m)
{
    if (!tree_child_result(r->ch, c, m->seq))
        return; /* already taken (resent after a new WELCOME) */
    for (uint32_t i = 0; i < m->n; i++) {
        const msg_result_entry_t *e = &m->entries[i];
        (void)tree_relay_task_done(r->tr, e->task.job, e->task.index,
                                   sched_outcome_of(&e->end));
        held_remove(r, e->task.job, e->task.index, NULL);
        r->ops.child_result(r->arg, c->id, m->seq, i + 1 == m->n, e);
        r->st.child_results++;
    }
}

static void child_summary(worker__relay_t *r, tree_child_t *c,
                          const msg_summary_t *m)
{
    if (tree_child_summary(c, m, r->tr) & TREE_CHILD_CHANGED)
        r->summary_dirty = true;
}

/* The core id that holds a task placed on c (sub(C) or C). */
static uint32_t holder_id(const worker__relay_t *r, const tree_child_t *c,
                          uint32_t job, uint64_t index)
{
    uint32_t id = tree_relay_task_child(r->tr, job, index);
    if (id == c->id || id == (c->id | TREE_SUB_BIT))
        return id;
    return TREE_NONE;
}

static void child_returned(worker__relay_t *r, tree_child_t *c,
                           const msg_tasks_t *m)
{
    for (uint32_t i = 0; i < m->n; i++) {
        const msg_task_ref_t *t = &m->tasks[i];
        uint32_t id = holder_id(r, c, t->job, t->index);
        if (id != TREE_NONE &&
            tree_relay_returned(r->tr, id, t->job, t->index) == 0)
            continue;
        /* Not placed on it as far as we know (a task it could not take):
         * queue it here again, or hand it up. */
        (void)tree_relay_forget(r->tr, t->job, t->index);
        if (held_find(r, t->job, t->index) &&
            tree_relay_assign(r->tr, t->job, t->index) < 0) {
            msg_task_ref_t ref;
            held_remove(r, t->job, t->index, &ref);
            taskvec_push(&r->refused, ref);
        }
    }
    if (m->done && c->has_sub)
        (void)tree_relay_recall_done(r->tr, c->id | TREE_SUB_BIT);
}

static void child_rejected(worker__relay_t *r, tree_child_t *c,
                           const msg_tasks_t *m)
{
    for (uint32_t i = 0; i < m->n; i++) {
        const msg_task_ref_t *t = &m->tasks[i];
        uint32_t id = holder_id(r, c, t->job, t->index);
        if (id != TREE_NONE &&
            tree_relay_rejected(r->tr, id, t->job, t->index) == 0)
            continue;
        msg_task_ref_t ref;
        held_remove(r, t->job, t->index, &ref);
        if (ref.attempt == 0)
            ref = *t;
        taskvec_push(&r->rej, ref);
    }
}

/* ORPHAN from a child: the tasks are no longer ours; pass it up. */
static void child_orphan(worker__relay_t *r, const msg_t *m)
{
    taskvec_t t = {0};
    for (uint32_t i = 0; i < m->u.tasks.n; i++) {
        const msg_task_ref_t *ref = &m->u.tasks.tasks[i];
        (void)tree_relay_forget(r->tr, ref->job, ref->index);
        held_remove(r, ref->job, ref->index, NULL);
        taskvec_push(&t, *ref);
    }
    worker__upq_orphan(r->upq, m->u.tasks.node, t.v, t.n);
    worker__upq_flush(r->upq);
}

static void child_nodes(worker__relay_t *r, const msg_nodes_t *m)
{
    for (uint32_t i = 0; i < m->n; i++)
        worker__upq_event(r->upq, &m->events[i]);
    worker__upq_flush(r->upq);
}

static void child_steal(worker__relay_t *r, tree_child_t *c, uint32_t want)
{
    uint32_t id = c->has_sub ? (c->id | TREE_SUB_BIT) : c->id;
    if (tree_relay_steal(r->tr, id, want) < 0) {
        msg_t deny = {.type = MSG_DENY};
        tree_child_send(r->ch, c, &deny);
    }
}

static void on_child_msg(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                         void *arg)
{
    (void)s;
    worker__relay_t *r = arg;
    tree_child_t *c = tree_children_by_peer(r->ch, from);
    if (m->type == MSG_HELLO) {
        child_hello(r, from, &m->u.hello);
        msg_free(m);
        return;
    }
    if (!c) {
        /* Someone we dropped (or never knew): tell it to go away, so that
         * it goes back to the root instead of talking to us. */
        msg_t bye = {.type = MSG_BYE};
        if (m->type != MSG_BYE)
            msg_sock_send(r->sock, from, &bye);
        msg_free(m);
        return;
    }
    c->last_heard_ms = util_mono_ms();
    switch (m->type) {
    case MSG_RESULT:
        child_result(r, c, &m->u.result);
        break;
    case MSG_PING: {
        msg_t pong = {.type = MSG_PONG};
        pong.u.ping = m->u.ping;
        tree_child_send(r->ch, c, &pong);
        break;
    }
    case MSG_PONG:
        break;
    case MSG_BYE:
        lose_child(r, c, MSG_NODE_LEFT);
        break;
    case MSG_SUMMARY:
        child_summary(r, c, &m->u.summary);
        break;
    case MSG_NODES:
        child_nodes(r, &m->u.nodes);
        break;
    case MSG_ORPHAN:
        child_orphan(r, m);
        break;
    case MSG_STEAL:
        child_steal(r, c, m->u.steal.want);
        break;
    case MSG_RETURN:
        child_returned(r, c, &m->u.tasks);
        break;
    case MSG_REJECT:
        child_rejected(r, c, &m->u.tasks);
        break;
    case MSG_BREPLY:
    case MSG_BLOB_GET:
        r->ops.child_msg(r->arg, c->id, m);
        break;
    default:
        break;
    }
    msg_free(m);
}

/* A child is gone: forget what it held without requeuing (the engines
 * below it may still run those tasks), tell the root. */
static void lose_child(worker__relay_t *r, tree_child_t *c, uint32_t event)
{
    taskvec_t orphans = {0};
    uint32_t ids[2] = {c->id, c->id | TREE_SUB_BIT};
    for (int k = 0; k < 2; k++) {
        tree_task_t *tasks = NULL;
        size_t n = 0;
        if (tree_relay_drop_child(r->tr, ids[k], &tasks, &n) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            msg_task_ref_t ref;
            held_remove(r, tasks[i].job_id, tasks[i].index, &ref);
            taskvec_push(&orphans, ref);
        }
        free(tasks);
    }
    r->st.orphans_sent += orphans.n;
    if (orphans.n > 0)
        worker__upq_orphan(r->upq, c->id, orphans.v, orphans.n);
    else
        free(orphans.v);
    send_nodes(r, c, event); /* flushes the ORPHAN first */
    uint32_t node = c->id;
    tree_children_remove(r->ch, c);
    r->st.children_lost++;
    r->summary_dirty = true;
    r->ops.child_lost(r->arg, node);
}

/* ------------------------------------------------------------ from parent */

/* The core learns what each task needs, so that tasks placed on an engine
 * child get an exact allocation (slot and GPUs) and a relay child's
 * aggregate is charged its share, and the priority, so that this level
 * orders jobs as the root does. */
void worker__relay_on_job(worker__relay_t *r, const msg_job_t *m)
{
    sched_job_t def;
    msg_job_sched(m, &def);
    (void)tree_relay_add_job(r->tr, &def);
}

void worker__relay_on_any(worker__relay_t *r, const msg_assign_entry_t *e)
{
    if (held_find(r, e->task.job, e->task.index))
        return; /* a duplicate */
    if (tree_relay_assign(r->tr, e->task.job, e->task.index) == 0) {
        if (!held_add(r, &e->task)) {
            (void)tree_relay_forget(r->tr, e->task.job, e->task.index);
            taskvec_push(&r->refused, e->task);
        }
        return;
    }
    if (errno == EEXIST)
        return;
    if (errno == ENOENT)
        taskvec_push(&r->rej, e->task); /* no JOB came first */
    else
        taskvec_push(&r->refused, e->task); /* queue full: not taken */
}

void worker__relay_on_recall(worker__relay_t *r, uint32_t n)
{
    tree_relay_recall(r->tr, n);
}

void worker__relay_on_deny(worker__relay_t *r)
{
    tree_relay_steal_denied(r->tr, util_mono_ms());
}

void worker__relay_set_own_free(worker__relay_t *r, uint32_t free_slots)
{
    tree_relay_set_own_free(r->tr, free_slots);
}

/* A KILL naming tasks: each goes down the link its task is on. */
static void kill_listed(worker__relay_t *r, const msg_kill_t *m)
{
    taskvec_t t = {0};
    tree_child_t *c;
    for (size_t k = 0; (c = tree_children_at(r->ch, k)); k++) {
        t.n = 0;
        for (uint32_t i = 0; i < m->n; i++) {
            uint32_t id = tree_relay_task_child(r->tr, m->tasks[i].job,
                                                m->tasks[i].index);
            if (id != TREE_NONE && (id & ~TREE_SUB_BIT) == c->id)
                taskvec_push(&t, m->tasks[i]);
        }
        msg_t km = {.type = MSG_KILL};
        km.u.kill = (msg_kill_t){.job = m->job, .n = (uint32_t)t.n,
                                 .tasks = t.v};
        if (t.n > 0)
            tree_child_send(r->ch, c, &km);
    }
    free(t.v);
}

/* Tasks of the KILL queued here (not placed): reported interrupted. */
static void kill_queued(worker__relay_t *r, const msg_kill_t *m)
{
    taskvec_t victims = {0};
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    for (const msg_task_ref_t *h; (h = held_next(r, &it));) {
        if (h->job != m->job)
            continue;
        if (tree_relay_task_child(r->tr, h->job, h->index) != TREE_NONE)
            continue;
        bool listed = m->n == 0;
        for (uint32_t i = 0; i < m->n && !listed; i++)
            listed = m->tasks[i].index == h->index;
        if (listed)
            taskvec_push(&victims, *h);
    }
    double now = util_wall_time();
    for (size_t i = 0; i < victims.n; i++) {
        msg_result_entry_t e = {.task = victims.v[i]};
        engine_end_interrupted(&e.end, now);
        (void)tree_relay_forget(r->tr, e.task.job, e.task.index);
        held_remove(r, e.task.job, e.task.index, NULL);
        r->ops.child_result(r->arg, WORKER__NO_CHILD, 0, false, &e);
    }
    free(victims.v);
}

void worker__relay_on_kill(worker__relay_t *r, const msg_kill_t *m)
{
    if (m->n == 0) {
        msg_t km = {.type = MSG_KILL};
        km.u.kill = *m;
        tree_child_t *c;
        for (size_t k = 0; (c = tree_children_at(r->ch, k)); k++)
            if (c->jobs && util_hmap_find(c->jobs, &m->job))
                tree_child_send(r->ch, c, &km);
    } else {
        kill_listed(r, m);
    }
    kill_queued(r, m);
}

void worker__relay_acked(worker__relay_t *r, uint32_t child, uint64_t seq)
{
    tree_child_t *c = tree_children_find(r->ch, child);
    if (c)
        tree_child_ack(r->ch, c, seq);
}

void worker__relay_stop(worker__relay_t *r)
{
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    for (const msg_task_ref_t *h; (h = held_next(r, &it));)
        if (tree_relay_task_child(r->tr, h->job, h->index) == TREE_NONE)
            taskvec_push(&r->refused, *h);
    for (size_t i = 0; i < r->refused.n; i++) {
        msg_task_ref_t *t = &r->refused.v[i];
        (void)tree_relay_forget(r->tr, t->job, t->index);
        held_remove(r, t->job, t->index, NULL);
    }
    if (r->refused.n > 0)
        send_tasks_up(r, MSG_RETURN, 0, true, NULL, &r->refused);
    msg_t bye = {.type = MSG_BYE};
    tree_child_t *c;
    for (size_t k = 0; (c = tree_children_at(r->ch, k)); k++)
        tree_child_send(r->ch, c, &bye);
}

/* ------------------------------------------------------------------ step */

static void act_assign(worker__relay_t *r, const tree_action_t *a)
{
    tree_child_t *c = tree_children_find(r->ch, a->child & ~TREE_SUB_BIT);
    const msg_task_ref_t *h = held_find(r, a->job_id, a->index);
    const worker__job_t *j = worker__jobs_find(r->jobs, a->job_id);
    if (!c)
        return;
    /* The JOB goes down a link once, before the first ASSIGN naming it;
     * without it the child reports the task as an unknown job. */
    if (j && j->msg)
        (void)tree_child_job(r->ch, c, j->msg);
    msg_assign_entry_t e = {
        .task = {a->job_id, a->index, h ? h->attempt : 1},
        .slot = a->exact ? a->alloc.slot : MSG_SLOT_ANY};
    if (a->exact) {
        e.gpu_mask = a->alloc.gpu_mask;
        e.gpu_milli_each = a->alloc.gpu_milli_each;
    }
    if (tree_child_assign(c, &e) == 0)
        r->st.relay_assigned++;
}

static void act_to_child(worker__relay_t *r, const tree_action_t *a)
{
    tree_child_t *c = tree_children_find(r->ch, a->child & ~TREE_SUB_BIT);
    if (!c)
        return;
    msg_t m = {.type = a->type == TREE_ACT_RECALL ? MSG_RECALL : MSG_DENY};
    if (a->type == TREE_ACT_RECALL)
        m.u.recall.n = a->count > UINT32_MAX ? UINT32_MAX : (uint32_t)a->count;
    tree_child_send(r->ch, c, &m);
}

static void do_action(worker__relay_t *r, const tree_action_t *a)
{
    msg_task_ref_t ref;
    switch (a->type) {
    case TREE_ACT_ASSIGN:
        act_assign(r, a);
        break;
    case TREE_ACT_RETURN:
        held_remove(r, a->job_id, a->index, &ref);
        taskvec_push(&r->ret, ref);
        break;
    case TREE_ACT_RECALL_DONE:
        r->ret_done = true;
        break;
    case TREE_ACT_REJECT:
        held_remove(r, a->job_id, a->index, &ref);
        taskvec_push(&r->rej, ref);
        break;
    case TREE_ACT_RECALL:
    case TREE_ACT_DENY:
        act_to_child(r, a);
        break;
    case TREE_ACT_STEAL: {
        msg_t m = {.type = MSG_STEAL};
        m.u.steal.want = a->count > UINT32_MAX ? UINT32_MAX
                                               : (uint32_t)a->count;
        send_up(r, &m);
        break;
    }
    case TREE_ACT_INFEASIBLE: /* root only */
        break;
    }
}

void worker__relay_step(worker__relay_t *r, int64_t now_ms)
{
    tree_action_t acts[STEP_ACTS];
    int n;
    do {
        n = tree_relay_step(r->tr, now_ms, acts, STEP_ACTS);
        for (int i = 0; i < n; i++)
            do_action(r, &acts[i]);
    } while (n == STEP_ACTS);
    /* One ASSIGN per child per step (split only beyond MSG_MAX_BATCH). */
    (void)tree_children_flush(r->ch, NULL, NULL);
    if (r->ret.n > 0 || r->ret_done)
        send_tasks_up(r, MSG_RETURN, 0, r->ret_done, NULL, &r->ret);
    r->ret_done = false;
    if (r->refused.n > 0) /* "not taken": RETURN with done */
        send_tasks_up(r, MSG_RETURN, 0, true, NULL, &r->refused);
    if (r->rej.n > 0)
        send_tasks_up(r, MSG_REJECT, 0, false, reject_reason, &r->rej);
}

/* ------------------------------------------------------------------ tick */

/* Add one custom resource (total, free) into the subtree's list: summed by
 * name, the first RES_MAX_CUSTOM names met kept (as tree_custom_add). */
static void custom_count_add(msg_custom_count_t *v, uint32_t *n,
                             const char *name, uint64_t total, uint64_t free)
{
    uint32_t i = 0;
    while (i < *n && strncmp(v[i].name, name, RES_NAME_MAX) != 0)
        i++;
    if (i == *n) {
        if (*n >= RES_MAX_CUSTOM)
            return;
        memset(&v[i], 0, sizeof(v[i]));
        memcpy(v[i].name, name, strnlen(name, RES_NAME_MAX - 1));
        (*n)++;
    }
    v[i].total = v[i].total > UINT64_MAX - total ? UINT64_MAX
                                                 : v[i].total + total;
    v[i].free = v[i].free > UINT64_MAX - free ? UINT64_MAX : v[i].free + free;
    if (v[i].free > v[i].total)
        v[i].free = v[i].total;
}

/* The custom resources below this node: each engine child's own (free as
 * this relay's pool for it says) and each child's subtree's (as its
 * SUMMARY said). */
static uint32_t summary_custom(const worker__relay_t *r,
                               msg_custom_count_t *v)
{
    uint32_t n = 0;
    const tree_child_t *c;
    for (size_t k = 0; (c = tree_children_at(r->ch, k)); k++) {
        for (int i = 0; i < c->cap.ncustom; i++)
            custom_count_add(v, &n, c->cap.custom[i].name,
                             c->cap.custom[i].amount,
                             tree_relay_child_custom_free(
                                 r->tr, c->id, c->cap.custom[i].name));
        for (uint32_t i = 0; i < c->sub_ncustom; i++)
            custom_count_add(v, &n, c->sub_custom[i].name,
                             c->sub_custom[i].total, c->sub_custom[i].free);
    }
    return n;
}

static void send_summary(worker__relay_t *r, int64_t now_ms)
{
    msg_summary_t s = {0};
    msg_custom_count_t custom[RES_MAX_CUSTOM];
    s.ncustom = summary_custom(r, custom);
    s.custom = s.ncustom > 0 ? custom : NULL;
    size_t nstats = 1, nch = tree_children_count(r->ch);
    const tree_child_t *c;
    for (size_t k = 0; (c = tree_children_at(r->ch, k)); k++) {
        s.engines += 1 + c->sub.engines;
        s.slots += c->cap.slots + c->sub.slots;
        s.cpus_milli += c->cap.cpus_milli + c->sub.cpus_milli;
        s.mem_bytes += c->cap.mem_bytes + c->sub.mem_bytes;
        s.gpus += (uint32_t)c->cap.ngpus + c->sub.gpus;
        s.queued += c->queued;
        uint64_t busy = tree_relay_child_inflight(r->tr, c->id);
        s.free_slots += c->free_slots +
                        (c->cap.slots > busy ? c->cap.slots - busy : 0);
        nstats += c->nstats ? c->nstats : 1;
    }
    s.queued += tree_relay_queued(r->tr);
    if (nstats > MSG_MAX_BATCH)
        nstats = MSG_MAX_BATCH;
    msg_node_stats_t *st = calloc(nstats, sizeof(*st));
    if (!st)
        return;
    msg_sock_stats_t up = {0}, down;
    r->ops.up_stats(r->arg, &up);
    msg_sock_stats(r->sock, &down);
    st[0] = (msg_node_stats_t){
        .node = r->node, .parent = r->parent, .children = (uint32_t)nch,
        .sent = up.sent + down.sent, .received = up.received + down.received,
        .bytes_out = up.bytes_out + down.bytes_out,
        .bytes_in = up.bytes_in + down.bytes_in};
    size_t n = 1;
    for (size_t k = 0; n < nstats && (c = tree_children_at(r->ch, k)); k++) {
        if (c->nstats == 0) {
            st[n++] = (msg_node_stats_t){.node = c->id, .parent = r->node};
            continue;
        }
        for (uint32_t i = 0; i < c->nstats && n < nstats; i++)
            st[n++] = c->stats[i];
    }
    s.nstats = (uint32_t)n;
    s.stats = st;
    msg_t m = {.type = MSG_SUMMARY};
    m.u.summary = s;
    if (send_up(r, &m) == 0) {
        r->summary_dirty = false;
        r->last_summary_ms = now_ms;
    }
    free(st);
}

void worker__relay_tick(worker__relay_t *r, int64_t now_ms)
{
    int64_t hb = r->heartbeat_ms ? r->heartbeat_ms : HEARTBEAT_DEFAULT_MS;
    /* Ticks come at least once a heartbeat; a longer gap is our stall. */
    if (r->last_tick_ms)
        tree_children_excuse(r->ch, now_ms - r->last_tick_ms - hb, now_ms);
    r->last_tick_ms = now_ms;
    for (tree_child_t *c;
         (c = tree_children_silent(r->ch, now_ms, LOST_PERIODS * hb));)
        lose_child(r, c, MSG_NODE_LOST);
    worker__upq_flush(r->upq);
    if (now_ms - r->last_ping_ms >= hb) {
        r->last_ping_ms = now_ms;
        tree_children_ping(r->ch);
    }
    /* Results of the children went up: what they freed is placed now. */
    /* The relay's own result queue is not used (the entries go up whole
     * through ops->child_result): empty it. */
    tree_result_t drop[256];
    while (tree_relay_results_waiting(r->tr) > 0)
        (void)tree_relay_take_results(r->tr, drop, 256);
    if (r->node != 0 &&
        (r->summary_dirty || now_ms - r->last_summary_ms >= hb))
        send_summary(r, now_ms);
}

/* ------------------------------------------------------------ life cycle */

worker__relay_t *worker__relay_create(uv_loop_t *loop, const char *endpoint,
                                      const worker__jobs_t *jobs,
                                      const worker__relay_ops_t *ops,
                                      void *arg, banyan_error_t *error)
{
    worker__relay_t *r = calloc(1, sizeof(*r));
    if (!r) {
        errno = ENOMEM;
        errprintf(error, "out of memory");
        return NULL;
    }
    r->loop = loop;
    r->ops = *ops;
    r->arg = arg;
    r->heartbeat_ms = HEARTBEAT_DEFAULT_MS;
    r->last_ping_ms = util_mono_ms();
    tree_relay_config_t cfg;
    tree_relay_config_default(&cfg);
    r->tr = tree_relay_create(&cfg);
    r->jobs = jobs;
    r->held = util_hmap_create(sizeof(held_key_t), sizeof(msg_task_ref_t),
                               NULL, NULL);
    r->upq = worker__upq_create(send_up, r);
    r->ch = tree_children_create(sock_send, r, 0);
    if (!r->tr || !r->held || !r->upq || !r->ch) {
        errprintf(error, "cannot create the relay: %s", strerror(errno));
        worker__relay_destroy(r);
        return NULL;
    }
    r->sock = msg_sock_bind(loop, endpoint, NULL, on_child_msg, r, error);
    if (!r->sock) {
        worker__relay_destroy(r); /* keeps errno */
        return NULL;
    }
    return r;
}

void worker__relay_destroy(worker__relay_t *r)
{
    if (!r)
        return;
    int saved = errno;
    msg_sock_close(r->sock);
    tree_children_destroy(r->ch);
    util_hmap_destroy(r->held);
    worker__upq_destroy(r->upq);
    free(r->ret.v);
    free(r->rej.v);
    free(r->refused.v);
    tree_relay_destroy(r->tr);
    free(r);
    errno = saved;
}

const char *worker__relay_endpoint(const worker__relay_t *r)
{
    return msg_sock_endpoint(r->sock);
}

/* A root of a new epoch (it restarted) knows this node from its HELLO or
 * its parent's re-announcement, not the children below it: announce each
 * again, at its id and below this node's id (which the root may have
 * changed), and WELCOME each with the new epoch, so that relay children
 * do the same for theirs (docs/tree.md, "Restart of the root").  The
 * events go up before any of the children's, so every node reaches the
 * root after its parent. */
static void reannounce(worker__relay_t *r)
{
    tree_child_t *c;
    for (size_t k = 0; (c = tree_children_at(r->ch, k)); k++)
        queue_child_event(r, c, MSG_NODE_ATTACHED);
    worker__upq_flush(r->upq);
    for (size_t k = 0; (c = tree_children_at(r->ch, k)); k++)
        tree_child_welcome(r->ch, c, r->epoch, r->heartbeat_ms);
}

void worker__relay_set_identity(worker__relay_t *r, uint32_t node,
                                uint32_t parent, uint64_t epoch,
                                uint32_t heartbeat_ms)
{
    if (node != r->node || parent != r->parent)
        r->summary_dirty = true;
    bool new_epoch = epoch != r->epoch;
    r->node = node;
    r->parent = parent;
    r->epoch = epoch;
    if (heartbeat_ms)
        r->heartbeat_ms = heartbeat_ms;
    if (new_epoch && tree_children_count(r->ch) > 0)
        reannounce(r);
}

void worker__relay_parent_changed(worker__relay_t *r)
{
    r->summary_dirty = true;
    worker__upq_flush(r->upq); /* what waited for a parent (announcements) goes now */
}

size_t worker__relay_held(const worker__relay_t *r, msg_task_ref_t *out,
                          size_t max)
{
    size_t n = 0;
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    for (const msg_task_ref_t *h; (h = held_next(r, &it)); n++)
        if (n < max)
            out[n] = *h;
    return n;
}

size_t worker__relay_children(const worker__relay_t *r, uint32_t *out,
                              size_t max)
{
    size_t n = tree_children_count(r->ch);
    for (size_t k = 0; k < n && k < max; k++)
        out[k] = tree_children_at(r->ch, k)->id;
    return n;
}

bool worker__relay_active(const worker__relay_t *r)
{
    return worker__upq_pending(r->upq) || r->summary_dirty;
}

int worker__relay_send_child(worker__relay_t *r, uint32_t node,
                             const msg_t *m)
{
    tree_child_t *c = tree_children_find(r->ch, node);
    if (!c) {
        errno = ENOENT;
        return -1;
    }
    return tree_child_send(r->ch, c, m);
}

void worker__relay_stats(const worker__relay_t *r, worker_stats_t *st)
{
    st->children = (uint32_t)tree_children_count(r->ch);
    st->relay_queued = tree_relay_queued(r->tr);
    st->relay_held = util_hmap_count(r->held);
    st->relay_assigned = r->st.relay_assigned;
    st->child_results = r->st.child_results;
    st->children_lost = r->st.children_lost;
    st->orphans_sent = r->st.orphans_sent;
    msg_sock_stats_t s;
    msg_sock_stats(r->sock, &s);
    st->down_sent = s.sent;
    st->down_received = s.received;
}
