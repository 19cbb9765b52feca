/* SPDX-License-Identifier: MIT */
/* server_tree.c - the root of the tree of schedulers (docs/tree.md,
 * "Cluster mode: how the tree is wired").
 *
 * A worker that says HELLO with a relay endpoint is a node of the topology
 * (tree_topo): node 0 or an unknown node joins and gets (N, P); a known
 * node keeps N and P is its recorded parent.  P == the root: WELCOME, and
 * N becomes engine N of the core with its real capacity.  Otherwise
 * REDIRECT to P's relay endpoint.  A HELLO at the root from a node whose
 * recorded parent is another node means that parent is lost to it, unless
 * a removal just moved the node (it is on its way to its new parent).
 *
 * Placement is the relay's (s->place, root mode): a direct child C is its
 * engine child C, and C's subtree its relay child SRV_SUB | C, sized from
 * C's SUMMARY (tree_relay_add_relay / _update_relay) as the subtree
 * changes.  STEAL, RETURN and REJECT go to the relay; its RECALL and DENY
 * actions come out of srv__schedule.
 *
 * Losses never requeue at once what may still run below: tasks of a lost
 * branch are orphaned (released from the core, not pending) and requeued
 * only if no HELLO claims them within the grace period.
 *
 * The fanout comes from --fanout, or from tree_model_fanout with the
 * measured hop (half the median PING round trip to the direct children)
 * and per-message cost (time spent in msg_sock_send per message), and
 * follows them: a new k applies to later joins (tree_topo_set_fanout).
 * What the tree keeps (srv_tree_t: the topology, the nodes, the model's
 * measurements) is this file's alone.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/server_private.h"

enum {
    MODEL_ENGINES = 1000,   /* engines the model plans for, at least */
    PER_MSG_MIN_SAMPLES = 32,
    IDS_AHEAD = 64,         /* node ids reserved per write of the bound */
    IDS_SLACK = 65536,      /* a returning id may be this far above ours
                               (its bound lost): bounds memory */
};

static const char IDS_STATE[] = "tree_ids";

/* What the root keeps per node of the topology, by node id. */
typedef struct srv_node {
    char *relay;                /* its ROUTER endpoint, from its HELLO */
    char *worker_id;            /* the worker process that holds the id */
    int64_t attach_by_ms;       /* redirected: removed unless its parent
                                   reports it attached by then; 0 = none */
    bool moved;                 /* a removal moved it: its next HELLO at
                                   the root is expected, not a loss */
    bool has_stats;
    msg_node_stats_t stats;     /* from the latest SUMMARY carrying it */
} srv_node_t;

struct srv_tree {
    tree_topo_t *topo;
    char host[256];             /* this host's name (tree grouping) */
    int64_t last_join_ms;       /* last HELLO placed in the topology */
    unsigned fanout;            /* k in use */
    uint32_t ids_saved;         /* node ids below this may have been
                                   given: server_state "tree_ids" says so */
    srv_node_t *nodes;          /* by node id, nodes_cap entries */
    size_t nodes_cap;
    double hop_us, per_msg_us;  /* the model's constants (measured) */
    bool hop_measured, per_msg_measured;
    uint32_t rtt_us[SRV_RTT_SAMPLES];
    size_t nrtt, rtt_next;
    uint64_t send_ns, send_n;   /* msg_sock_send time since last beat */
    double mean_task_s;         /* mean task duration (EWMA), 0 unknown */
    unsigned prefetch;          /* aggregate depth in use */
};

static srv_node_t *node_get(server_t *s, uint32_t id);
static void topo_remove(server_t *s, uint32_t node, const char *why);

static const double DEFAULT_HOP_US = 100.0;
static const double DEFAULT_PER_MSG_US = 5.0;
static const double FANOUT_GAIN = 1.25;   /* least model gain to change k */
enum { QUIET_BEATS = 5 };   /* heartbeats without a join before k changes */

/* ------------------------------------------------------------- the model */

static uint64_t model_engines(server_t *s, srv_tree_t *t)
{
    uint64_t n = tree_children_count(s->engines)
                 + (t->topo ? tree_topo_count(t->topo) : 0) + 1;
    return n < MODEL_ENGINES ? MODEL_ENGINES : n;
}

static unsigned model_fanout(server_t *s, srv_tree_t *t)
{
    if (s->o.fanout)
        return s->o.fanout < TREE_FANOUT_MIN   ? TREE_FANOUT_MIN
               : s->o.fanout > TREE_FANOUT_MAX ? TREE_FANOUT_MAX
                                               : s->o.fanout;
    return tree_model_fanout(model_engines(s, t), t->hop_us, t->per_msg_us);
}

static void log_fanout(server_t *s, srv_tree_t *t, const char *what)
{
    if (s->o.fanout)
        srv__log(s, "tree: fanout %u (--fanout)%s", t->fanout, what);
    else
        srv__log(s, "tree: fanout %u (model for %llu engines: hop %.0f us%s, "
                 "%.1f us per message%s)%s", t->fanout,
                 (unsigned long long)model_engines(s, t), t->hop_us,
                 t->hop_measured ? " measured" : "", t->per_msg_us,
                 t->per_msg_measured ? " measured" : "", what);
}

/* ------------------------------------------------- ids across restarts */

/* Node ids outlive the root: after a restart, the workers of the old tree
 * come back with theirs (docs/tree.md, "Restart of the root").  So that a
 * new root never gives one of them to a new worker, the database holds a
 * bound on every id given so far (server_state "tree_ids"); it is
 * committed before an id at or above it goes out, IDS_AHEAD ids ahead, so
 * once per IDS_AHEAD joins.  A restarted root gives ids from there on and
 * keeps the ids below it free for the nodes that come back. */

static void ids_load(server_t *s, srv_tree_t *t)
{
    int64_t v = 0;
    if (store_state_get(s->store, IDS_STATE, &v) == 0 && v > 0
        && v < TREE_NODE_ID_MAX
        && tree_topo_reserve(t->topo, (uint32_t)v) == 0) {
        t->ids_saved = (uint32_t)v;
        srv__log(s, "tree: node ids from %lld on (those below are kept for "
                 "the nodes of the previous server)", (long long)v);
    }
}

/* Make sure the stored bound covers every id given: call it before an id
 * given (a join, an attach) goes out. */
static void ids_save(server_t *s)
{
    srv_tree_t *t = s->tree;
    uint32_t limit = tree_topo_id_limit(t->topo);
    if (limit <= t->ids_saved)
        return;
    uint32_t v = limit + IDS_AHEAD;
    if (store_state_put(s->store, IDS_STATE, v) < 0
        || store_flush(s->store) < 0) {
        srv__log(s, "tree: cannot record the node ids given: %s (a "
                 "restarted server may give a node id twice)",
                 store_last_error(s->store));
        return;
    }
    t->ids_saved = v;
}

/* May a node come back with this id (tree_topo_attach)? */
static bool id_returnable(server_t *s, uint32_t id)
{
    srv_tree_t *t = s->tree;
    uint64_t bound = (uint64_t)tree_topo_id_limit(t->topo) + IDS_SLACK;
    return tree_topo_id_free(t->topo, id) && id < bound
           && id < TREE_NODE_ID_MAX;
}

srv_tree_t *srv__tree_create(server_t *s, banyan_error_t *error)
{
    srv_tree_t *t = calloc(1, sizeof(*t));
    if (!t)
        goto nomem;
    t->hop_us = DEFAULT_HOP_US;
    t->per_msg_us = DEFAULT_PER_MSG_US;
    t->prefetch = SRV_PREFETCH_DEFAULT;
    t->fanout = model_fanout(s, t);
    /* Host grouping (host_slack 1) for workers of other hosts only: those
     * of the server's own host cross no link to reach it, so they are
     * placed by balance alone (tree_host). */
    if (gethostname(t->host, sizeof(t->host)) < 0)
        t->host[0] = '\0';
    t->host[sizeof(t->host) - 1] = '\0';
    t->topo = tree_topo_create(t->fanout, 1);
    if (!t->topo)
        goto nomem;
    log_fanout(s, t, "");
    ids_load(s, t);
    return t;
nomem:
    srv__tree_destroy(t);
    errno = ENOMEM;
    errprintf(error, "out of memory");
    return NULL;
}

/* Forget what the root keeps of a node (accepts NULL). */
static void node_clear(srv_node_t *n)
{
    if (!n)
        return;
    free(n->relay);
    free(n->worker_id);
    memset(n, 0, sizeof(*n));
}

void srv__tree_destroy(srv_tree_t *t)
{
    if (!t)
        return;
    tree_topo_destroy(t->topo);
    for (size_t i = 0; i < t->nodes_cap; i++)
        node_clear(&t->nodes[i]);
    free(t->nodes);
    free(t);
}

uint32_t srv__tree_count(const server_t *s)
{
    return (uint32_t)tree_topo_count(s->tree->topo);
}

void srv__tree_sent(server_t *s, uint64_t ns)
{
    s->tree->send_ns += ns;
    s->tree->send_n++;
}

/* The model's k again, for the joins to come: nobody moves, a node with k
 * or more children takes no new one (tree_topo_set_fanout). */
static void fanout_review(server_t *s, int64_t now_ms)
{
    srv_tree_t *t = s->tree;
    /* Not while workers join: a join storm (many workers starting on few
     * cores) makes every round trip slow, and the k picked from it would
     * be the one the storm's joins get. */
    if (s->o.fanout ||
        now_ms - t->last_join_ms < (int64_t)s->o.heartbeat_ms * QUIET_BEATS)
        return;
    unsigned k = model_fanout(s, t);
    if (k == t->fanout)
        return;
    /* The per-message cost is noisy on a busy host: change k only for a
     * model gain worth it, so that it does not flap with every sample. */
    uint64_t n = model_engines(s, t);
    double now = tree_model_bcast_us(n, t->fanout, t->hop_us, t->per_msg_us);
    double then = tree_model_bcast_us(n, k, t->hop_us, t->per_msg_us);
    if (now < FANOUT_GAIN * then)
        return;
    if (tree_topo_set_fanout(t->topo, k) < 0)
        return;
    t->fanout = k;
    log_fanout(s, t, ", changed");
}

void srv__tree_pong(server_t *s, const msg_t *m)
{
    srv_tree_t *t = s->tree;
    double rtt = (double)util_mono_ns() / 1e9 - m->u.ping.sent;
    if (!(rtt >= 0) || rtt > 60)
        return;
    t->rtt_us[t->rtt_next] = (uint32_t)(rtt * 1e6);
    t->rtt_next = (t->rtt_next + 1) % SRV_RTT_SAMPLES;
    if (t->nrtt < SRV_RTT_SAMPLES)
        t->nrtt++;
}

void srv__tree_task_time(server_t *s, const msg_result_entry_t *r)
{
    srv_tree_t *t = s->tree;
    double d = r->end.end_time - r->end.start_time;
    if (!(d >= 0) || d > 1e7)
        return;
    t->mean_task_s = t->mean_task_s > 0 ? 0.95 * t->mean_task_s + 0.05 * d
                                        : d;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The round trip below which a fraction q of the samples lie. */
static uint32_t rtt_quantile_us(server_t *s, double q)
{
    srv_tree_t *t = s->tree;
    uint32_t v[SRV_RTT_SAMPLES];
    memcpy(v, t->rtt_us, t->nrtt * sizeof(*v));
    qsort(v, t->nrtt, sizeof(*v), cmp_u32);
    return v[(size_t)(q * (double)(t->nrtt - 1))];
}

/* Measure the model's constants and the prefetch depth. */
static void measure(server_t *s)
{
    srv_tree_t *t = s->tree;
    double hop = t->hop_us, per = t->per_msg_us;
    if (t->nrtt > 0) {
        /* The hop is the link's latency: a low quantile, since waiting in
         * a busy loop (ours or the child's, as when many workers start on
         * few cores) inflates the median but is no property of the link
         * and would push the model towards a flat tree. */
        hop = rtt_quantile_us(s, 0.1) / 2.0;
        if (hop < 1)
            hop = 1;
        t->hop_measured = true;
    }
    if (t->send_n >= PER_MSG_MIN_SAMPLES) {
        per = (double)t->send_ns / (double)t->send_n / 1000.0;
        t->per_msg_measured = true;
        t->send_ns = t->send_n = 0;
    }
    /* Small drifts are noise: the constants change when they move by a
     * quarter. */
    if (fabs(hop - t->hop_us) > t->hop_us / 4)
        t->hop_us = hop;
    if (fabs(per - t->per_msg_us) > t->per_msg_us / 4)
        t->per_msg_us = per;
    unsigned depth = t->prefetch;
    if (t->nrtt > 0 && t->mean_task_s > 0)
        depth = tree_prefetch_depth(rtt_quantile_us(s, 0.5),
                                    (uint64_t)(t->mean_task_s * 1e6) + 1,
                                    SRV_PREFETCH_MAX);
    if (depth != t->prefetch) {
        srv__log(s, "tree: prefetch depth %u (round trip %u us, mean task "
                 "%.3f s)", depth, rtt_quantile_us(s, 0.5), t->mean_task_s);
        t->prefetch = depth;
        if (tree_relay_set_prefetch(s->place, depth) < 0)
            srv__log(s, "tree: cannot resize the subtrees: %s",
                     strerror(errno));
    }
}

/* Redirected nodes that no parent reported attached in time. */
static void attach_expire(server_t *s, int64_t now_ms)
{
    srv_tree_t *t = s->tree;
    for (size_t i = 1; i < t->nodes_cap; i++) {
        srv_node_t *n = &t->nodes[i];
        if (n->attach_by_ms && now_ms > n->attach_by_ms) {
            n->attach_by_ms = 0;
            topo_remove(s, (uint32_t)i, "never attached below its parent");
        }
    }
}

void srv__tree_beat(server_t *s, int64_t now_ms)
{
    srv__orphans_expire(s, now_ms);
    attach_expire(s, now_ms);
    measure(s);
    fanout_review(s, now_ms);
}

/* ------------------------------------------------------------- the nodes */

static srv_node_t *node_get(server_t *s, uint32_t id)
{
    srv_tree_t *t = s->tree;
    if (id >= t->nodes_cap) {
        size_t old = t->nodes_cap;
        if (util_grow((void **)&t->nodes, &t->nodes_cap, (size_t)id + 1,
                      sizeof(*t->nodes)) < 0)
            return NULL;
        memset(t->nodes + old, 0, (t->nodes_cap - old) * sizeof(*t->nodes));
    }
    return &t->nodes[id];
}

/* The engine of the root's core that holds a node's tasks: the node
 * itself below the root, else the subtree of its top ancestor. */
static uint32_t branch_of(server_t *s, uint32_t node)
{
    uint32_t top = node;
    for (;;) {
        uint32_t p = tree_topo_parent(s->tree->topo, top);
        if (p == TREE_ROOT || p == TREE_NONE)
            break;
        top = p;
    }
    return top == node ? node : SRV_SUB | top;
}

uint32_t srv__flat_id(server_t *s)
{
    srv_tree_t *t = s->tree;
    /* Reserved in the topology (joined and removed at once), so that a
     * node never gets the id of a flat worker. */
    uint32_t id, parent;
    size_t nm;
    if (tree_topo_join(t->topo, NULL, NULL, &id, &parent) < 0) {
        srv__log(s, "cannot add a worker: out of memory");
        return 0;
    }
    tree_topo_remove(t->topo, id, NULL, 0, &nm);
    ids_save(s);
    return id;
}

/* The node a worker process holds, TREE_NONE if none. */
static uint32_t node_of_worker(server_t *s, const char *worker_id)
{
    srv_tree_t *t = s->tree;
    for (size_t i = 1; i < t->nodes_cap; i++)
        if (t->nodes[i].worker_id
            && strcmp(t->nodes[i].worker_id, worker_id) == 0
            && tree_topo_has(t->topo, (uint32_t)i))
            return (uint32_t)i;
    return TREE_NONE;
}

/* Remove a node from the topology; the nodes it moves are expected back
 * at the root with their HELLO. */
static void topo_remove(server_t *s, uint32_t node, const char *why)
{
    srv_tree_t *t = s->tree;
    if (node == TREE_ROOT || !tree_topo_has(t->topo, node))
        return;
    size_t nc = tree_topo_children(t->topo, node, NULL, 0);
    tree_move_t *moves = calloc(nc + 1, sizeof(*moves));
    size_t nm = 0;
    if (!moves || tree_topo_remove(t->topo, node, moves, nc + 1, &nm) < 0) {
        free(moves);
        srv__log(s, "tree: cannot remove node %u: %s", node,
                 strerror(errno));
        return;
    }
    for (size_t i = 0; i < nm && i <= nc; i++) {
        srv_node_t *n = node_get(s, moves[i].node);
        if (n)
            n->moved = true;
    }
    free(moves);
    node_clear(node_get(s, node));
    srv__log(s, "tree: node %u %s; %zu child%s reattach", node, why, nm,
             nm == 1 ? "" : "ren");
}

/* Node N's recorded parent P (not the root) is lost to it. */
static void parent_lost(server_t *s, uint32_t parent, uint32_t by)
{
    char why[64];
    snprintf(why, sizeof(why), "is lost to node %u", by);
    srv_engine_t *pe = tree_children_find(s->engines, parent);
    if (pe && srv__worker(pe)->node) {
        s->st.engines_lost++;
        /* removes it from the topology */
        srv__engine_remove(s, pe, why, true);
    } else {
        topo_remove(s, parent, why);
    }
}

/* The host a joining worker is grouped by: none on the server's own host
 * (no link to save there, and the depth stays D(n, k) exactly). */
static const char *tree_host(const server_t *s, const char *host)
{
    return host && host[0] && strcmp(host, s->tree->host) != 0 ? host : NULL;
}

/* Is node n the one this worker was given?  A node re-announced without
 * a worker id (its parent did not know it) is claimed by the first HELLO
 * that names it.  Another worker's id (given by a server whose database
 * lacked the bound on ids) makes the worker join afresh. */
static bool own_node(server_t *s, uint32_t n, const char *worker_id)
{
    const srv_node_t *nd = node_get(s, n);
    return nd && (!nd->worker_id || strcmp(nd->worker_id, worker_id) == 0);
}

void srv__tree_hello(server_t *s, const msg_peer_t *from, msg_t *m)
{
    srv_tree_t *t = s->tree;
    const msg_hello_t *h = &m->u.hello;
    uint32_t n = h->node, p;
    res_capacity_t rc;
    tree_summary_t cap;
    msg_hello_capacity(h, &rc);
    tree_summary_of(&rc, &cap);
    uint32_t again = n == TREE_ROOT ? node_of_worker(s, h->worker_id)
                                    : TREE_NONE;
    if (again != TREE_NONE) {
        /* Its HELLO again before our answer reached it: the same answer. */
        n = again;
        p = tree_topo_parent(t->topo, n);
    } else if (n != TREE_ROOT && tree_topo_has(t->topo, n)
               && own_node(s, n, h->worker_id)) {
        p = tree_topo_parent(t->topo, n);
        srv_node_t *nd = node_get(s, n);
        if (p != TREE_ROOT && nd && !nd->moved) {
            parent_lost(s, p, n);
            p = tree_topo_parent(t->topo, n);
        }
    } else if (n != TREE_ROOT && id_returnable(s, n)) {
        /* A node of a previous server's tree (ids survive a restart):
         * back with its id, placed as a join; its children stay below
         * it and are re-announced by it. */
        if (tree_topo_attach(t->topo, n, TREE_NONE, tree_host(s, h->host),
                             &cap, &p) < 0) {
            srv__log(s, "cannot take worker %s back as node %u: %s",
                     h->worker_id, n, strerror(errno));
            return;
        }
        srv__log(s, "tree: worker %s is back as node %u", h->worker_id, n);
    } else {
        if (tree_topo_join(t->topo, tree_host(s, h->host), &cap, &n,
                           &p) < 0) {
            srv__log(s, "cannot add worker %s to the tree: %s", h->worker_id,
                     strerror(errno));
            return;
        }
    }
    ids_save(s);
    t->last_join_ms = util_mono_ms();
    srv_node_t *nd = node_get(s, n);
    char *relay = strdup(h->relay);
    if (!nd || !relay) {
        free(relay);
        srv__log(s, "cannot add worker %s: out of memory", h->worker_id);
        return;
    }
    free(nd->relay);
    nd->relay = relay;
    nd->moved = false;
    nd->attach_by_ms = 0;
    if (!nd->worker_id || strcmp(nd->worker_id, h->worker_id) != 0) {
        free(nd->worker_id);
        nd->worker_id = strdup(h->worker_id); /* NULL: no dedup, no harm */
    }
    if (p == TREE_ROOT) {
        srv_engine_t *e = srv__engine_add(s, n, from, h);
        if (!e)
            return;
        srv__worker(e)->node = true;
        if (h->nrunning > 0)
            srv__adopt(s, n, h, from, e->name);
        srv__jobs_unpark(s);
        return;
    }
    /* Its tasks stay accounted on its branch; KILLs go out before the
     * REDIRECT, on the link it still has. */
    if (h->nrunning > 0)
        srv__adopt(s, srv__branch_child(s, branch_of(s, n)), h, from,
                   h->name ? h->name : h->worker_id);
    /* A direct child's endpoint is its link's (a HELLO again updates it). */
    srv_engine_t *pe = tree_children_find(s->engines, p);
    srv_node_t *pn = node_get(s, p);
    msg_t r = {.type = MSG_REDIRECT};
    r.u.redirect.node = n;
    r.u.redirect.parent = p;
    r.u.redirect.endpoint = pe && pe->relay   ? pe->relay
                            : pn && pn->relay ? pn->relay
                                              : "";
    srv__send(s, from, &r);
    s->st.redirects++;
    /* A node that never shows up below its parent must not keep a place
     * that others would be redirected to. */
    nd->attach_by_ms = util_mono_ms()
                       + (int64_t)s->o.heartbeat_ms * SRV_PING_LOST * 2;
    srv__log(s, "worker %s is node %u: redirected below node %u (%s)",
             h->name ? h->name : h->worker_id, n, p,
             r.u.redirect.endpoint);
}

/* ------------------------------------------------------- subtrees, losses */

uint32_t srv__branch_child(server_t *s, uint32_t n)
{
    srv_engine_t *e = tree_children_find(s->engines, n);
    return e && e->has_sub ? SRV_SUB | n : n;
}

void srv__handle_summary(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_summary_t *sm = &m->u.summary;
    if (!srv__worker(e)->node)
        return; /* a flat worker has no subtree */
    for (uint32_t i = 0; i < sm->nstats; i++) {
        const msg_node_stats_t *st = &sm->stats[i];
        if (st->node == TREE_ROOT || !tree_topo_has(s->tree->topo, st->node))
            continue;
        srv_node_t *n = node_get(s, st->node);
        if (n) {
            n->stats = *st;
            n->has_stats = true;
            n->attach_by_ms = 0; /* reported from below: it is there */
        }
    }
    bool had = e->has_sub;
    if (tree_child_summary(e, sm, s->place) & TREE_CHILD_RESIZED) {
        srv__jobs_unpark(s);
        srv__jobs_changed(s);
    }
    if (e->has_sub != had)
        srv__log(s, "tree: node %u's subtree %s: %u engines, %llu slots "
                 "(x%u prefetch)", e->id, had ? "is empty" : "is placed on",
                 e->sub.engines, (unsigned long long)e->sub.slots,
                 s->tree->prefetch);
}

/* A relay re-announces a child this root does not know (it restarted:
 * docs/tree.md, "Restart of the root"): the child comes back with its id,
 * at its real parent, with its worker id and relay endpoint. */
static void node_back(server_t *s, uint32_t by,
                      const msg_node_event_entry_t *ev)
{
    srv_tree_t *t = s->tree;
    if (ev->parent == TREE_ROOT)
        return; /* the root's children say HELLO themselves */
    if (!id_returnable(s, ev->node) || !tree_topo_has(t->topo, ev->parent)) {
        srv__log(s, "tree: node %u reports node %u attached below node %u, "
                 "which %s", by, ev->node, ev->parent,
                 !tree_topo_has(t->topo, ev->parent)
                     ? "is not in the tree: not taken"
                     : "has another id's place: not taken");
        return;
    }
    srv_node_t *nd = node_get(s, ev->node);
    if (!nd || tree_topo_attach(t->topo, ev->node, ev->parent,
                                tree_host(s, ev->host), NULL, NULL) < 0) {
        srv__log(s, "tree: cannot take node %u back: %s", ev->node,
                 strerror(errno));
        return;
    }
    ids_save(s);
    node_clear(nd);
    nd->relay = ev->relay ? strdup(ev->relay) : NULL;
    nd->worker_id = ev->worker_id ? strdup(ev->worker_id) : NULL;
    srv__log(s, "tree: node %u is back below node %u (reported by node %u)",
             ev->node, ev->parent, by);
}

void srv__handle_nodes(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_nodes_t *nm = &m->u.nodes;
    for (uint32_t i = 0; i < nm->n; i++) {
        const msg_node_event_entry_t *ev = &nm->events[i];
        if (ev->node == TREE_ROOT)
            continue;
        if (!tree_topo_has(s->tree->topo, ev->node)) {
            if (ev->event == MSG_NODE_ATTACHED)
                node_back(s, e->id, ev);
            continue;
        }
        if (ev->event == MSG_NODE_ATTACHED) {
            srv_node_t *n = node_get(s, ev->node);
            if (n) {
                n->moved = false;
                n->attach_by_ms = 0;
            }
            continue;
        }
        if (tree_children_find(s->engines, ev->node))
            continue; /* a direct child: its own link decides */
        topo_remove(s, ev->node, ev->event == MSG_NODE_LEFT
                                     ? "left (reported from below)"
                                     : "is lost (reported from below)");
    }
}

void srv__tree_child_lost(server_t *s, srv_engine_t *e)
{
    /* Its subtree's tasks, and the tasks a HELLO reported on it (which
     * may be its subtree's), may still run below it. */
    int64_t now = util_mono_ms();
    size_t n = 0;
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    srv_inflight_t *p;
    while (srv__fl_next(s, &it, &p)) {
        if (!p->orphaned && SRV_BASE(p->engine) == e->id
            && ((p->engine & SRV_SUB) || p->reported)) {
            srv__orphan(s, p, now);
            n++;
        }
    }
    if (n > 0)
        srv__log(s, "tree: %zu task%s of node %u's branch held for the "
                 "grace period", n, n == 1 ? "" : "s", e->id);
    if (e->has_sub) {
        tree_relay_remove_child(s->place, SRV_SUB | e->id);
        e->has_sub = false;
    }
    topo_remove(s, e->id, "is gone");
}

/* Entry for task t of an ORPHAN, RETURN or REJECT from direct child e: on e's
 * branch with the same attempt; NULL otherwise (ended, moved, stale). */
static srv_inflight_t *branch_entry(server_t *s, srv_engine_t *e,
                                    const msg_task_ref_t *t)
{
    srv_inflight_t *p = srv__fl_find(s, t->job, t->index);
    if (!p || p->orphaned || SRV_BASE(p->engine) != e->id
        || p->attempt != t->attempt)
        return NULL;
    return p;
}

void srv__handle_orphan(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_tasks_t *t = &m->u.tasks;
    int64_t now = util_mono_ms();
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        srv_inflight_t *p = branch_entry(s, e, &t->tasks[i]);
        if (!p)
            continue; /* ended, or already moved to another branch */
        srv__orphan(s, p, now);
        n++;
    }
    if (t->node != TREE_ROOT && !tree_children_find(s->engines, t->node))
        topo_remove(s, t->node, "is lost (orphaned tasks reported)");
    srv__log(s, "tree: node %u reports node %u lost: %u task%s held for the "
             "grace period", e->id, t->node, n, n == 1 ? "" : "s");
}

/* ------------------------------------------------------ stealing, rejects */

/* Work stealing is the relay's (docs/tree.md, "Work stealing"): a STEAL
 * from direct child T is a steal of T's subtree (or of T itself while it
 * has none); RETURNs are parked in the relay, which places them on the
 * thief or elsewhere, never straight back on the victim. */

void srv__handle_steal(server_t *s, srv_engine_t *e, msg_t *m)
{
    s->st.steals++;
    uint32_t want = m->u.steal.want ? m->u.steal.want : 1;
    if (!srv__worker(e)->node
        || tree_relay_steal(s->place, srv__branch_child(s, e->id), want) < 0) {
        msg_t r = {.type = MSG_DENY};
        if (srv__send(s, &e->peer, &r) == 0)
            s->st.denies++;
    }
}

void srv__handle_return(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_tasks_t *t = &m->u.tasks;
    for (uint32_t i = 0; i < t->n; i++) {
        srv_inflight_t *p = branch_entry(s, e, &t->tasks[i]);
        if (!p)
            continue;
        s->st.returned++;
        if (tree_relay_returned(s->place, p->engine, p->job, p->index) < 0)
            srv__requeue_placed(s, p->job, p->index);
        srv__fl_drop(s, p);
    }
    e->queued = e->queued > t->n ? e->queued - t->n : 0;
    if (t->done)
        tree_relay_recall_done(s->place, srv__branch_child(s, e->id));
    srv__jobs_changed(s);
}

void srv__handle_reject(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_tasks_t *t = &m->u.tasks;
    uint32_t last_job = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        srv_inflight_t *p = branch_entry(s, e, &t->tasks[i]);
        if (!p)
            continue;
        uint32_t job = p->job;
        if (job != last_job) {
            srv__log(s, "tree: node %u rejects job %u: %s", e->id, job,
                     t->reason ? t->reason : "no reason given");
            last_job = job;
        }
        /* Neither the child nor its subtree gets the job again. */
        tree_relay_rejected(s->place, p->engine, job, p->index);
        srv__fl_drop(s, p);
        s->st.rejected++;
    }
    srv__jobs_changed(s);
}

/* ------------------------------------------------------------- status */

static json_t *counters_json(const msg_node_stats_t *st)
{
    return json_pack("{s:I, s:I, s:I, s:I}", "sent", (json_int_t)st->sent,
                     "received", (json_int_t)st->received, "bytes_out",
                     (json_int_t)st->bytes_out, "bytes_in",
                     (json_int_t)st->bytes_in);
}

static json_t *node_json(server_t *s, uint32_t id, const msg_node_stats_t *st)
{
    srv_tree_t *t = s->tree;
    uint32_t parent = tree_topo_parent(t->topo, id);
    json_t *o = counters_json(st);
    if (!o)
        return NULL;
    json_object_set_new(o, "node", json_integer(id));
    json_object_set_new(o, "parent", parent == TREE_NONE
                                         ? json_null()
                                         : json_integer(parent));
    json_object_set_new(o, "host", json_string(id == TREE_ROOT
                                                   ? "" /* this one */
                                                   : tree_topo_host(t->topo,
                                                                    id)));
    json_object_set_new(o, "children",
                        json_integer((json_int_t)tree_topo_children(
                            t->topo, id, NULL, 0)));
    return o;
}

/* "tree" of the status answer: the fanout and its model, the root's own
 * counters, and every node's from the latest SUMMARY carrying it. */
json_t *srv__tree_json(server_t *s)
{
    srv_tree_t *t = s->tree;
    msg_sock_stats_t ss = {0};
    if (s->sock)
        msg_sock_stats(s->sock, &ss);
    struct rusage ru;
    double cpu = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
              + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    msg_node_stats_t root = {.sent = ss.sent, .received = ss.received,
                             .bytes_out = ss.bytes_out,
                             .bytes_in = ss.bytes_in};
    json_t *nodes = json_array();
    json_array_append_new(nodes, node_json(s, TREE_ROOT, &root));
    uint32_t limit = tree_topo_id_limit(t->topo);
    for (uint32_t id = 1; id < limit; id++) {
        if (!tree_topo_has(t->topo, id))
            continue;
        msg_node_stats_t zero = {0};
        const srv_node_t *n = id < t->nodes_cap ? &t->nodes[id] : NULL;
        json_array_append_new(nodes, node_json(s, id, n && n->has_stats
                                                          ? &n->stats
                                                          : &zero));
    }
    json_t *rootj = counters_json(&root);
    json_object_set_new(rootj, "cpu_s", json_real(cpu));
    const server_stats_t *st = &s->st;
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:{s:f, s:f, s:b, s:b}, s:o, s:o, "
        "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
        "fanout", (json_int_t)t->fanout,
        "depth", (json_int_t)tree_topo_depth(t->topo),
        "prefetch", (json_int_t)t->prefetch,
        "model", "hop_us", t->hop_us, "per_msg_us", t->per_msg_us,
        "hop_measured", t->hop_measured, "per_msg_measured",
        t->per_msg_measured,
        "root", rootj, "nodes", nodes,
        "events", "redirects", (json_int_t)st->redirects, "orphaned",
        (json_int_t)st->orphaned, "orphans_adopted",
        (json_int_t)st->orphans_adopted, "orphans_requeued",
        (json_int_t)st->orphans_requeued, "steals", (json_int_t)st->steals,
        "recalls", (json_int_t)st->recalls, "denies", (json_int_t)st->denies,
        "returned", (json_int_t)st->returned, "rejected",
        (json_int_t)st->rejected);
    if (o)
        srv__bcast_json(s, o);
    return o;
}
