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
 * Each direct child C's subtree is one more engine of the core, SRV_SUB |
 * C, whose pool is the aggregate of C's SUMMARY times the prefetch depth;
 * it is resized in place as the subtree changes.
 *
 * Losses never requeue at once what may still run below: tasks of a lost
 * branch are orphaned (released from the core, not pending) and requeued
 * only if no HELLO claims them within the grace period.
 *
 * The fanout comes from --fanout, or from tree_model_fanout with the
 * measured hop (half the median PING round trip to the direct children)
 * and per-message cost (time spent in msg_sock_send per message), and
 * follows them: a new k applies to later joins (tree_topo_set_fanout).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static srv_node_t *node_get(server_t *s, uint32_t id);
static void topo_remove(server_t *s, uint32_t node, const char *why);

static const double DEFAULT_HOP_US = 100.0;
static const double DEFAULT_PER_MSG_US = 5.0;
static const double FANOUT_GAIN = 1.25;   /* least model gain to change k */
enum { QUIET_BEATS = 5 };   /* heartbeats without a join before k changes */

/* ------------------------------------------------------------- the model */

static uint64_t model_engines(server_t *s)
{
    uint64_t n = s->nengines + (s->topo ? tree_topo_count(s->topo) : 0) + 1;
    return n < MODEL_ENGINES ? MODEL_ENGINES : n;
}

static unsigned model_fanout(server_t *s)
{
    if (s->o.fanout)
        return s->o.fanout < TREE_FANOUT_MIN   ? TREE_FANOUT_MIN
               : s->o.fanout > TREE_FANOUT_MAX ? TREE_FANOUT_MAX
                                               : s->o.fanout;
    return tree_model_fanout(model_engines(s), s->hop_us, s->per_msg_us);
}

static void log_fanout(server_t *s, const char *what)
{
    if (s->o.fanout)
        srv__log(s, "tree: fanout %u (--fanout)%s", s->fanout, what);
    else
        srv__log(s, "tree: fanout %u (model for %llu engines: hop %.0f us%s, "
                 "%.1f us per message%s)%s", s->fanout,
                 (unsigned long long)model_engines(s), s->hop_us,
                 s->hop_measured ? " measured" : "", s->per_msg_us,
                 s->per_msg_measured ? " measured" : "", what);
}

/* ------------------------------------------------- ids across restarts */

/* Node ids outlive the root: after a restart, the workers of the old tree
 * come back with theirs (docs/tree.md, "Restart of the root").  So that a
 * new root never gives one of them to a new worker, the database holds a
 * bound on every id given so far (server_state "tree_ids"); it is
 * committed before an id at or above it goes out, IDS_AHEAD ids ahead, so
 * once per IDS_AHEAD joins.  A restarted root gives ids from there on and
 * keeps the ids below it free for the nodes that come back. */

static void ids_load(server_t *s)
{
    int64_t v = 0;
    if (store_state_get(s->store, IDS_STATE, &v) == 0 && v > 0
        && v < TREE_NODE_ID_MAX && tree_topo_reserve(s->topo, (uint32_t)v) == 0) {
        s->ids_saved = (uint32_t)v;
        srv__log(s, "tree: node ids from %lld on (those below are kept for "
                 "the nodes of the previous server)", (long long)v);
    }
}

/* Make sure the stored bound covers every id given: call it before an id
 * given (a join, an attach) goes out. */
static void ids_save(server_t *s)
{
    uint32_t limit = tree_topo_id_limit(s->topo);
    if (limit <= s->ids_saved)
        return;
    uint32_t v = limit + IDS_AHEAD;
    if (store_state_put(s->store, IDS_STATE, v) < 0
        || store_flush(s->store) < 0) {
        srv__log(s, "tree: cannot record the node ids given: %s (a "
                 "restarted server may give a node id twice)",
                 store_last_error(s->store));
        return;
    }
    s->ids_saved = v;
}

/* May a node come back with this id (tree_topo_attach)? */
static bool id_returnable(server_t *s, uint32_t id)
{
    uint64_t bound = (uint64_t)tree_topo_id_limit(s->topo) + IDS_SLACK;
    return tree_topo_id_free(s->topo, id) && id < bound
           && id < TREE_NODE_ID_MAX;
}

int srv__tree_init(server_t *s, banyan_error_t *error)
{
    s->hop_us = DEFAULT_HOP_US;
    s->per_msg_us = DEFAULT_PER_MSG_US;
    s->prefetch = SRV_PREFETCH_DEFAULT;
    s->fanout = model_fanout(s);
    /* Host grouping (host_slack 1) for workers of other hosts only: those
     * of the server's own host cross no link to reach it, so they are
     * placed by balance alone (tree_host). */
    if (gethostname(s->host, sizeof(s->host)) < 0)
        s->host[0] = '\0';
    s->host[sizeof(s->host) - 1] = '\0';
    s->topo = tree_topo_create(s->fanout, 1);
    if (!s->topo) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    log_fanout(s, "");
    ids_load(s);
    return 0;
}

void srv__tree_fini(server_t *s)
{
    tree_topo_destroy(s->topo);
    s->topo = NULL;
    for (size_t i = 0; i < s->nodes_cap; i++) {
        free(s->nodes[i].relay);
        free(s->nodes[i].worker_id);
    }
    free(s->nodes);
    s->nodes = NULL;
    s->nodes_cap = 0;
    free(s->orphans);
    s->orphans = NULL;
    free(s->parked);
    s->parked = NULL;
    s->nparked = s->cap_parked = 0;
}

/* The model's k again, for the joins to come: nobody moves, a node with k
 * or more children takes no new one (tree_topo_set_fanout). */
static void fanout_review(server_t *s, int64_t now_ms)
{
    /* Not while workers join: a join storm (many workers starting on few
     * cores) makes every round trip slow, and the k picked from it would
     * be the one the storm's joins get. */
    if (s->o.fanout ||
        now_ms - s->last_join_ms < (int64_t)s->o.heartbeat_ms * QUIET_BEATS)
        return;
    unsigned k = model_fanout(s);
    if (k == s->fanout)
        return;
    /* The per-message cost is noisy on a busy host: change k only for a
     * model gain worth it, so that it does not flap with every sample. */
    uint64_t n = model_engines(s);
    double now = tree_model_bcast_us(n, s->fanout, s->hop_us, s->per_msg_us);
    double then = tree_model_bcast_us(n, k, s->hop_us, s->per_msg_us);
    if (now < FANOUT_GAIN * then)
        return;
    if (tree_topo_set_fanout(s->topo, k) < 0)
        return;
    s->fanout = k;
    log_fanout(s, ", changed");
}

void srv__tree_relay_update(server_t *s, uint32_t node, const char *relay)
{
    srv_node_t *n = tree_topo_has(s->topo, node) ? node_get(s, node) : NULL;
    char *copy = n && relay ? strdup(relay) : NULL;
    if (!copy)
        return;
    free(n->relay);
    n->relay = copy;
}

void srv__tree_pong(server_t *s, const msg_t *m)
{
    double rtt = (double)util_mono_ns() / 1e9 - m->u.ping.sent;
    if (!(rtt >= 0) || rtt > 60)
        return;
    s->rtt_us[s->rtt_next] = (uint32_t)(rtt * 1e6);
    s->rtt_next = (s->rtt_next + 1) % SRV_RTT_SAMPLES;
    if (s->nrtt < SRV_RTT_SAMPLES)
        s->nrtt++;
}

void srv__tree_task_time(server_t *s, const msg_result_entry_t *r)
{
    double d = r->end.end_time - r->end.start_time;
    if (!(d >= 0) || d > 1e7)
        return;
    s->mean_task_s = s->mean_task_s > 0 ? 0.95 * s->mean_task_s + 0.05 * d
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
    uint32_t v[SRV_RTT_SAMPLES];
    memcpy(v, s->rtt_us, s->nrtt * sizeof(*v));
    qsort(v, s->nrtt, sizeof(*v), cmp_u32);
    return v[(size_t)(q * (double)(s->nrtt - 1))];
}

static uint32_t median_rtt_us(server_t *s)
{
    return rtt_quantile_us(s, 0.5);
}

static void resize_subs(server_t *s);

/* Measure the model's constants and the prefetch depth. */
static void measure(server_t *s)
{
    double hop = s->hop_us, per = s->per_msg_us;
    if (s->nrtt > 0) {
        /* The hop is the link's latency: a low quantile, since waiting in
         * a busy loop (ours or the child's, as when many workers start on
         * few cores) inflates the median but is no property of the link
         * and would push the model towards a flat tree. */
        hop = rtt_quantile_us(s, 0.1) / 2.0;
        if (hop < 1)
            hop = 1;
        s->hop_measured = true;
    }
    if (s->send_n >= PER_MSG_MIN_SAMPLES) {
        per = (double)s->send_ns / (double)s->send_n / 1000.0;
        s->per_msg_measured = true;
        s->send_ns = s->send_n = 0;
    }
    /* Small drifts are noise: the constants change when they move by a
     * quarter. */
    if (fabs(hop - s->hop_us) > s->hop_us / 4)
        s->hop_us = hop;
    if (fabs(per - s->per_msg_us) > s->per_msg_us / 4)
        s->per_msg_us = per;
    unsigned depth = s->prefetch;
    if (s->nrtt > 0 && s->mean_task_s > 0)
        depth = tree_prefetch_depth(median_rtt_us(s),
                                    (uint64_t)(s->mean_task_s * 1e6) + 1,
                                    SRV_PREFETCH_MAX);
    if (depth != s->prefetch) {
        srv__log(s, "tree: prefetch depth %u (round trip %u us, mean task "
                 "%.3f s)", depth, median_rtt_us(s), s->mean_task_s);
        s->prefetch = depth;
        resize_subs(s);
    }
}

/* Redirected nodes that no parent reported attached in time. */
static void attach_expire(server_t *s, int64_t now_ms)
{
    for (size_t i = 1; i < s->nodes_cap; i++) {
        srv_node_t *n = &s->nodes[i];
        if (n->attach_by_ms && now_ms > n->attach_by_ms) {
            n->attach_by_ms = 0;
            topo_remove(s, (uint32_t)i, "never attached below its parent");
        }
    }
}

static void recalls_expire(server_t *s, int64_t now_ms);

void srv__tree_beat(server_t *s, int64_t now_ms)
{
    recalls_expire(s, now_ms);
    srv__steal_place(s, now_ms); /* also settles thieves */
    srv__orphans_expire(s, now_ms);
    attach_expire(s, now_ms);
    measure(s);
    fanout_review(s, now_ms);
}

/* ------------------------------------------------------------- the nodes */

static srv_node_t *node_get(server_t *s, uint32_t id)
{
    if (id >= s->nodes_cap) {
        size_t old = s->nodes_cap;
        if (util_grow((void **)&s->nodes, &s->nodes_cap, (size_t)id + 1,
                      sizeof(*s->nodes)) < 0)
            return NULL;
        memset(s->nodes + old, 0, (s->nodes_cap - old) * sizeof(*s->nodes));
    }
    return &s->nodes[id];
}

/* The engine of the root's core that holds a node's tasks: the node
 * itself below the root, else the subtree of its top ancestor. */
uint32_t srv__branch_of(server_t *s, uint32_t node)
{
    uint32_t top = node;
    for (;;) {
        uint32_t p = tree_topo_parent(s->topo, top);
        if (p == TREE_ROOT || p == TREE_NONE)
            break;
        top = p;
    }
    return top == node ? node : SRV_SUB | top;
}

uint32_t srv__flat_id(server_t *s)
{
    /* Reserved in the topology (joined and removed at once), so that a
     * node never gets the id of a flat worker. */
    uint32_t id, parent;
    size_t nm;
    if (tree_topo_join(s->topo, NULL, NULL, &id, &parent) < 0) {
        srv__log(s, "cannot add a worker: out of memory");
        return 0;
    }
    tree_topo_remove(s->topo, id, NULL, 0, &nm);
    ids_save(s);
    return id;
}

/* The node a worker process holds, TREE_NONE if none. */
static uint32_t node_of_worker(server_t *s, const char *worker_id)
{
    for (size_t i = 1; i < s->nodes_cap; i++)
        if (s->nodes[i].worker_id
            && strcmp(s->nodes[i].worker_id, worker_id) == 0
            && tree_topo_has(s->topo, (uint32_t)i))
            return (uint32_t)i;
    return TREE_NONE;
}

/* Remove a node from the topology; the nodes it moves are expected back
 * at the root with their HELLO. */
static void topo_remove(server_t *s, uint32_t node, const char *why)
{
    if (node == TREE_ROOT || !tree_topo_has(s->topo, node))
        return;
    size_t nc = tree_topo_children(s->topo, node, NULL, 0);
    tree_move_t *moves = calloc(nc + 1, sizeof(*moves));
    size_t nm = 0;
    if (!moves || tree_topo_remove(s->topo, node, moves, nc + 1, &nm) < 0) {
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
    srv_node_t *n = node_get(s, node);
    if (n) {
        free(n->relay);
        free(n->worker_id);
        memset(n, 0, sizeof(*n));
    }
    srv__log(s, "tree: node %u %s; %zu child%s reattach", node, why, nm,
             nm == 1 ? "" : "ren");
}

/* Node N's recorded parent P (not the root) is lost to it. */
static void parent_lost(server_t *s, uint32_t parent, uint32_t by)
{
    char why[64];
    snprintf(why, sizeof(why), "is lost to node %u", by);
    srv_engine_t *pe = srv__engine_find(s, parent);
    if (pe && pe->node) {
        s->st.engines_lost++;
        srv__engine_remove(s, pe, why); /* removes it from the topology */
    } else {
        topo_remove(s, parent, why);
    }
}

static void summary_of_hello(const msg_hello_t *h, tree_summary_t *sum)
{
    memset(sum, 0, sizeof(*sum));
    sum->engines = 1;
    sum->slots = h->slots;
    sum->cpus_milli = h->cpus_milli;
    sum->mem_bytes = h->mem_bytes;
    sum->gpus = h->ngpus;
}

/* The host a joining worker is grouped by: none on the server's own host
 * (no link to save there, and the depth stays D(n, k) exactly). */
static const char *tree_host(const server_t *s, const char *host)
{
    return host && host[0] && strcmp(host, s->host) != 0 ? host : NULL;
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
    const msg_hello_t *h = &m->u.hello;
    uint32_t n = h->node, p;
    uint32_t again = n == TREE_ROOT ? node_of_worker(s, h->worker_id)
                                    : TREE_NONE;
    if (again != TREE_NONE) {
        /* Its HELLO again before our answer reached it: the same answer. */
        n = again;
        p = tree_topo_parent(s->topo, n);
    } else if (n != TREE_ROOT && tree_topo_has(s->topo, n)
               && own_node(s, n, h->worker_id)) {
        p = tree_topo_parent(s->topo, n);
        srv_node_t *nd = node_get(s, n);
        if (p != TREE_ROOT && nd && !nd->moved) {
            parent_lost(s, p, n);
            p = tree_topo_parent(s->topo, n);
        }
    } else if (n != TREE_ROOT && id_returnable(s, n)) {
        /* A node of a previous server's tree (ids survive a restart):
         * back with its id, placed as a join; its children stay below
         * it and are re-announced by it. */
        tree_summary_t cap;
        summary_of_hello(h, &cap);
        if (tree_topo_attach(s->topo, n, TREE_NONE, tree_host(s, h->host),
                             &cap, &p) < 0) {
            srv__log(s, "cannot take worker %s back as node %u: %s",
                     h->worker_id, n, strerror(errno));
            return;
        }
        srv__log(s, "tree: worker %s is back as node %u", h->worker_id, n);
    } else {
        tree_summary_t cap;
        summary_of_hello(h, &cap);
        if (tree_topo_join(s->topo, tree_host(s, h->host), &cap, &n,
                           &p) < 0) {
            srv__log(s, "cannot add worker %s to the tree: %s", h->worker_id,
                     strerror(errno));
            return;
        }
    }
    ids_save(s);
    s->last_join_ms = util_mono_ms();
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
        srv_engine_t *e = srv__engine_add(s, n, h);
        if (!e)
            return;
        e->node = true;
        e->peer = *from;
        srv__welcome(s, e);
        if (h->nrunning > 0)
            srv__adopt_moved(s, n, h, from, e->name);
        srv__jobs_unpark(s);
        return;
    }
    /* Its tasks stay accounted on its branch; KILLs go out before the
     * REDIRECT, on the link it still has. */
    if (h->nrunning > 0)
        srv__adopt_moved(s, srv__branch_of(s, n), h, from,
                         h->name ? h->name : h->worker_id);
    srv_node_t *pn = node_get(s, p);
    msg_t r = {.type = MSG_REDIRECT};
    r.u.redirect.node = n;
    r.u.redirect.parent = p;
    r.u.redirect.endpoint = pn && pn->relay ? pn->relay : "";
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

/* The aggregate pool of e's subtree: its summary times the prefetch
 * depth (GPUs: as many as the subtree has), custom resources too, in
 * positions that keep the pool it replaces (old, or NULL) valid. */
static void aggregate(server_t *s, const srv_engine_t *e,
                      const res_capacity_t *old, res_capacity_t *cap)
{
    const tree_summary_t *sum = &e->sub;
    memset(cap, 0, sizeof(*cap));
    uint64_t d = s->prefetch;
    uint64_t slots = sum->slots * d, cpus = sum->cpus_milli * d;
    cap->slots = slots > UINT32_MAX ? UINT32_MAX : (uint32_t)slots;
    cap->cpus_milli = cpus > UINT32_MAX ? UINT32_MAX : (uint32_t)cpus;
    cap->mem_bytes = sum->mem_bytes > UINT64_MAX / d ? UINT64_MAX
                                                     : sum->mem_bytes * d;
    cap->ngpus = sum->gpus > RES_MAX_GPUS ? RES_MAX_GPUS : (int)sum->gpus;
    for (int i = 0; i < cap->ngpus; i++)
        cap->gpus[i].index = i;
    (void)tree_aggregate_custom(e->sub_custom, e->sub_ncustom, d, old, cap);
}

/* Make engine SRV_SUB | e->id match e->sub (added, resized or removed). */
static void sub_update(server_t *s, srv_engine_t *e)
{
    uint32_t id = SRV_SUB | e->id;
    res_capacity_t cap;
    res_pool_t *now = e->has_sub ? sched_engine_pool(s->sched, id) : NULL;
    aggregate(s, e, now ? res_pool_capacity(now) : NULL, &cap);
    if (e->sub.engines == 0 && e->has_sub && e->sub_running == 0) {
        sched_engine_remove(s->sched, id);
        e->has_sub = false;
        srv__log(s, "tree: node %u has no engines below it", e->id);
        return;
    }
    if (e->has_sub) {
        if (sched_engine_set_capacity(s->sched, id, &cap) < 0)
            srv__log(s, "tree: cannot resize node %u's subtree: %s", e->id,
                     strerror(errno));
        return;
    }
    if (e->sub.engines == 0)
        return;
    res_pool_t *pool = res_pool_create(&cap);
    if (!pool || sched_engine_add(s->sched, id, pool) < 0) {
        srv__log(s, "tree: cannot add node %u's subtree: %s", e->id,
                 strerror(errno));
        return;
    }
    e->has_sub = true;
    srv__log(s, "tree: node %u's subtree is engine %u: %u engines, %llu "
             "slots (x%u prefetch)", e->id, id, e->sub.engines,
             (unsigned long long)e->sub.slots, s->prefetch);
}

static void resize_subs(server_t *s)
{
    for (size_t i = 0; i < s->nengines; i++)
        if (s->engines[i]->has_sub)
            sub_update(s, s->engines[i]);
}

void srv__handle_summary(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_summary_t *sm = &m->u.summary;
    if (!e->node)
        return; /* a flat worker has no subtree */
    e->queued = sm->queued;
    e->free_slots = sm->free_slots;
    for (uint32_t i = 0; i < sm->nstats; i++) {
        const msg_node_stats_t *st = &sm->stats[i];
        if (st->node == TREE_ROOT || !tree_topo_has(s->topo, st->node))
            continue;
        srv_node_t *n = node_get(s, st->node);
        if (n) {
            n->stats = *st;
            n->has_stats = true;
            n->attach_by_ms = 0; /* reported from below: it is there */
        }
    }
    tree_summary_t sum = {.engines = sm->engines, .slots = sm->slots,
                          .cpus_milli = sm->cpus_milli,
                          .mem_bytes = sm->mem_bytes, .gpus = sm->gpus};
    /* Custom resources: totals by name (the decoder bounded the list and
     * checked the names). */
    res_custom_t custom[RES_MAX_CUSTOM];
    memset(custom, 0, sizeof(custom));
    int ncustom = 0;
    for (uint32_t i = 0; i < sm->ncustom && ncustom < RES_MAX_CUSTOM; i++) {
        memcpy(custom[ncustom].name, sm->custom[i].name, RES_NAME_MAX);
        custom[ncustom++].amount = sm->custom[i].total;
    }
    bool changed = memcmp(&sum, &e->sub, sizeof(sum)) != 0
                   || ncustom != e->sub_ncustom
                   || memcmp(custom, e->sub_custom, sizeof(custom)) != 0;
    e->sub = sum;
    memcpy(e->sub_custom, custom, sizeof(custom));
    e->sub_ncustom = ncustom;
    if (changed) {
        sub_update(s, e);
        srv__jobs_unpark(s);
        s->jobs_dirty = true;
    }
    if (s->nparked > 0) /* room may have come for returned tasks */
        srv__steal_place(s, util_mono_ms());
}

/* A relay re-announces a child this root does not know (it restarted:
 * docs/tree.md, "Restart of the root"): the child comes back with its id,
 * at its real parent, with its worker id and relay endpoint. */
static void node_back(server_t *s, uint32_t by,
                      const msg_node_event_entry_t *ev)
{
    if (ev->parent == TREE_ROOT)
        return; /* the root's children say HELLO themselves */
    if (!id_returnable(s, ev->node) || !tree_topo_has(s->topo, ev->parent)) {
        srv__log(s, "tree: node %u reports node %u attached below node %u, "
                 "which %s", by, ev->node, ev->parent,
                 !tree_topo_has(s->topo, ev->parent)
                     ? "is not in the tree: not taken"
                     : "has another id's place: not taken");
        return;
    }
    srv_node_t *nd = node_get(s, ev->node);
    if (!nd || tree_topo_attach(s->topo, ev->node, ev->parent,
                                tree_host(s, ev->host), NULL, NULL) < 0) {
        srv__log(s, "tree: cannot take node %u back: %s", ev->node,
                 strerror(errno));
        return;
    }
    ids_save(s);
    free(nd->relay);
    free(nd->worker_id);
    memset(nd, 0, sizeof(*nd));
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
        if (!tree_topo_has(s->topo, ev->node)) {
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
        if (srv__engine_find(s, ev->node))
            continue; /* a direct child: its own link decides */
        topo_remove(s, ev->node, ev->event == MSG_NODE_LEFT
                                     ? "left (reported from below)"
                                     : "is lost (reported from below)");
    }
}

static void steal_forget(server_t *s, srv_engine_t *e);

void srv__tree_child_lost(server_t *s, srv_engine_t *e)
{
    steal_forget(s, e);
    /* Its subtree's tasks (and the tasks it reported running at a
     * reattach, which may be its subtree's) may still run below it. */
    int64_t now = util_mono_ms();
    size_t n = 0;
    for (size_t i = 0; i < s->fl_cap; i++) {
        srv_inflight_t *p = &s->fl[i];
        if (p->job && !p->orphaned && SRV_BASE(p->engine) == e->id
            && ((p->engine & SRV_SUB) || p->adopted)) {
            srv__orphan(s, p, now);
            n++;
        }
    }
    if (n > 0)
        srv__log(s, "tree: %zu task%s of node %u's branch held for the "
                 "grace period", n, n == 1 ? "" : "s", e->id);
    if (e->has_sub) {
        sched_engine_remove(s->sched, SRV_SUB | e->id);
        e->has_sub = false;
    }
    topo_remove(s, e->id, "is gone");
}

void srv__handle_orphan(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_tasks_t *t = &m->u.tasks;
    int64_t now = util_mono_ms();
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        srv_inflight_t *p = srv__fl_find(s, t->tasks[i].job,
                                         t->tasks[i].index);
        if (!p || p->orphaned || SRV_BASE(p->engine) != e->id
            || p->attempt != t->tasks[i].attempt)
            continue; /* ended, or already moved to another branch */
        srv__orphan(s, p, now);
        n++;
    }
    if (t->node != TREE_ROOT && !srv__engine_find(s, t->node))
        topo_remove(s, t->node, "is lost (orphaned tasks reported)");
    srv__log(s, "tree: node %u reports node %u lost: %u task%s held for the "
             "grace period", e->id, t->node, n, n == 1 ? "" : "s");
}

/* ------------------------------------------------------ stealing, rejects */

/* Work stealing at the root, as tree_relay does below it (docs/tree.md,
 * "Work stealing", and the wiring section).  STEAL from direct child T
 * recalls from the child V that reports the most queued tasks.  V's
 * RETURNs are parked: their in-flight entries stay on V's branch, held in
 * the core there, so that the core, which would see room on V again,
 * cannot place them straight back on V (T, still idle, would steal them
 * again).  srv__steal_place puts each on T's subtree if its aggregate has
 * room, else on T's own engine (own engine first when T's subtree runs
 * as many tasks as it has slots: the steal is for T's idle own engine),
 * else on the branch
 * other than V's with the most free slots.  One that fits nowhere but V waits SRV_STEAL_RETRY_MS
 * (not at all when nothing but V could ever run it) and is then pending in
 * the core again.  T's relay learns that its steal is over from an ANY
 * entry (tree_relay_assign ends it), else from DENY: an exact entry on T's
 * own engine never reaches T's relay. */

/* A direct child by engine id; TREE_ROOT (none) or gone: NULL. */
static srv_engine_t *child_of(server_t *s, uint32_t id)
{
    return id == TREE_ROOT ? NULL : srv__engine_find(s, id);
}

static void deny(server_t *s, srv_engine_t *t)
{
    msg_t m = {.type = MSG_DENY};
    if (srv__send(s, &t->peer, &m) == 0)
        s->st.denies++;
}

/* T's steal is over once no recall is out for it and nothing is parked
 * for it.  DENY unless something went to its subtree: its relay only
 * hears of ANY entries. */
static void steal_settle(server_t *s, srv_engine_t *t)
{
    if (!t->steal_open || t->steal_parked > 0)
        return;
    for (size_t i = 0; i < s->nengines; i++)
        if (s->engines[i]->recalled && s->engines[i]->recall_for == t->id)
            return;
    t->steal_open = false;
    srv__log(s, "tree: node %u's steal: %llu task%s to its subtree, %llu "
             "to its own engine%s", t->id,
             (unsigned long long)t->steal_sub, t->steal_sub == 1 ? "" : "s",
             (unsigned long long)t->steal_own,
             t->steal_sub == 0 ? "; denied" : "");
    if (t->steal_sub == 0)
        deny(s, t);
}

void srv__handle_steal(server_t *s, srv_engine_t *e, msg_t *m)
{
    s->st.steals++;
    srv_engine_t *victim = NULL;
    for (size_t i = 0; i < s->nengines; i++) {
        srv_engine_t *d = s->engines[i];
        if (d != e && d->node && d->queued > 0 && !d->recalled
            && (!victim || d->queued > victim->queued))
            victim = d;
    }
    /* A STEAL while one is open: its relay took the first as answered
     * (work came through the core); this one finds nothing new. */
    if (!victim || !e->node || e->steal_open) {
        deny(s, e);
        return;
    }
    uint64_t half = (victim->queued + 1) / 2;
    uint32_t want = m->u.steal.want ? m->u.steal.want : 1;
    msg_t r = {.type = MSG_RECALL};
    r.u.recall.n = (uint32_t)(want < half ? want : half);
    if (srv__send(s, &victim->peer, &r) < 0) {
        deny(s, e);
        return;
    }
    victim->recalled = true;
    victim->recall_for = e->id;
    victim->recall_ms = util_mono_ms();
    e->steal_open = true;
    e->steal_sub = e->steal_own = 0;
    s->st.recalls++;
}

/* Could the core grant j's request on engine id now? */
static bool fits_now(server_t *s, uint32_t id, const srv_job_t *j,
                     res_alloc_t *alloc)
{
    res_pool_t *pool = sched_engine_pool(s->sched, id);
    res_alloc_t a;
    if (!pool || sched_engine_excludes(s->sched, id, j->id)
        || res_pool_acquire(pool, &j->sj.req, &a) < 0)
        return false;
    res_pool_release(pool, &a); /* claimed again by sched_task_adopt */
    if (alloc)
        *alloc = a;
    return true;
}

/* The engine of the core, on a branch other than the victim's, with the
 * most free slots that fits j now; TREE_NONE.  *ever: one could ever. */
static uint32_t best_other(server_t *s, uint32_t victim, const srv_job_t *j,
                           bool *ever)
{
    uint32_t best = TREE_NONE;
    uint64_t most = 0;
    *ever = false;
    for (size_t i = 0; i < s->nengines; i++) {
        srv_engine_t *d = s->engines[i];
        if (d->id == victim)
            continue;
        for (int sub = 0; sub <= (int)d->has_sub; sub++) {
            uint32_t id = sub ? SRV_SUB | d->id : d->id;
            res_pool_t *pool = sched_engine_pool(s->sched, id);
            if (!pool || sched_engine_excludes(s->sched, id, j->id)
                || !res_pool_fits_ever(pool, &j->sj.req, NULL))
                continue;
            *ever = true;
            res_usage_t u;
            res_pool_usage(pool, &u);
            uint32_t cap = res_pool_capacity(pool)->slots;
            uint64_t f = cap > u.slots ? cap - u.slots : 0;
            if (f > most && fits_now(s, id, j, NULL)) {
                most = f;
                best = id;
            }
        }
    }
    return best;
}

/* JOB crosses a link once, before the first ASSIGN naming it (as
 * server_tasks.c does for the core's placements). */
static int job_down(server_t *s, srv_engine_t *e, const srv_job_t *j)
{
    for (size_t i = 0; i < e->njobs_sent; i++)
        if (e->jobs_sent[i] == j->id)
            return 0;
    if (util_grow((void **)&e->jobs_sent, &e->cap_jobs_sent,
                  e->njobs_sent + 1, sizeof(*e->jobs_sent)) < 0)
        return -1;
    msg_t m = {.type = MSG_JOB};
    m.u.job = j->def;
    if (srv__send(s, &e->peer, &m) < 0)
        return -1;
    e->jobs_sent[e->njobs_sent++] = j->id;
    return 0;
}

/* Move parked entry p off its victim onto engine `to` of the core (where
 * j fits now) and send the ASSIGN, with the attempt it had.  false: it is
 * pending in the core instead (whatever failed on the way). */
static bool move_to(server_t *s, srv_inflight_t *p, const srv_job_t *j,
                    uint32_t to)
{
    srv_engine_t *e = srv__engine_find(s, SRV_BASE(to));
    bool sub = (to & SRV_SUB) != 0;
    uint32_t job = p->job, attempt = p->attempt;
    uint64_t index = p->index;
    res_alloc_t a;
    bool fits = e && fits_now(s, to, j, &a);
    srv__task_giveback(s, p); /* pending again, no attempt counted */
    if (!fits || sched_task_adopt(s->sched, job, index, attempt, to, &a) < 0)
        return false;
    srv_inflight_t fl = {.index = index, .gpu_mask = sub ? 0 : a.gpu_mask,
                         .job = job, .engine = to, .attempt = attempt,
                         .slot = a.slot};
    if (job_down(s, e, j) < 0 || srv__fl_put(s, &fl) < 0) {
        sched_task_return(s->sched, job, index);
        return false;
    }
    e->running++;
    e->sub_running += sub;
    msg_assign_entry_t ae = {.task = {job, index, attempt},
                             .slot = sub ? MSG_SLOT_ANY : a.slot,
                             .gpu_mask = sub ? 0 : a.gpu_mask,
                             .gpu_milli_each = sub ? 0 : a.gpu_milli_each};
    msg_t m = {.type = MSG_ASSIGN};
    m.u.assign.n = 1;
    m.u.assign.entries = &ae;
    if (srv__send(s, &e->peer, &m) < 0) {
        srv_inflight_t *q = srv__fl_find(s, job, index);
        if (q)
            srv__task_giveback(s, q);
        return false;
    }
    s->st.assigned++;
    return true;
}

/* Place one parked task now, or let it wait.  true: it left the park. */
static bool park_one(server_t *s, const srv_parked_t *pk, int64_t now_ms)
{
    srv_inflight_t *p = srv__fl_find(s, pk->job, pk->index);
    if (!p || p->orphaned || p->adopted || SRV_BASE(p->engine) != pk->victim
        || p->attempt != pk->attempt)
        return true; /* ended, orphaned or moved meanwhile */
    srv_job_t *j = srv__job_find(s, p->job);
    if (!j || j->cancelled || j->ended || j->parked) {
        srv__task_giveback(s, p); /* the core drops or rebuilds it */
        return true;
    }
    srv_engine_t *t = child_of(s, pk->thief);
    uint32_t to = TREE_NONE;
    bool ever = false;
    /* A thief whose subtree runs as many tasks as it has slots (its
     * relay, idle, queues none) asked for its own idle engine (its relay
     * counts it: tree_relay_set_own_free): a task put in its subtree
     * would only wait in its relay's queue. */
    bool own_first = t && t->sub_running >= t->sub.slots;
    if (own_first && fits_now(s, t->id, j, NULL))
        to = t->id;
    else if (t && t->has_sub && fits_now(s, SRV_SUB | t->id, j, NULL))
        to = SRV_SUB | t->id;
    else if (t && fits_now(s, t->id, j, NULL))
        to = t->id;
    else
        to = best_other(s, pk->victim, j, &ever);
    if (to != TREE_NONE) {
        if (move_to(s, p, j, to) && t && SRV_BASE(to) == t->id)
            *((to & SRV_SUB) ? &t->steal_sub : &t->steal_own) += 1;
        return true;
    }
    if (ever && now_ms < pk->until_ms && child_of(s, pk->victim))
        return false;
    srv__task_giveback(s, p); /* the core places it, on the victim too */
    return true;
}

void srv__steal_place(server_t *s, int64_t now_ms)
{
    size_t keep = 0;
    for (size_t i = 0; i < s->nparked; i++) {
        srv_parked_t pk = s->parked[i];
        if (!park_one(s, &pk, now_ms)) {
            s->parked[keep++] = pk;
            continue;
        }
        srv_engine_t *t = child_of(s, pk.thief);
        if (t && t->steal_parked > 0)
            t->steal_parked--;
    }
    s->nparked = keep;
    for (size_t i = 0; i < s->nengines; i++)
        steal_settle(s, s->engines[i]);
}

/* Park entry p, given back by victim v for its recall.  false: not
 * parked (out of memory), the caller gives it back to the core. */
static bool park_add(server_t *s, const srv_inflight_t *p,
                     const srv_engine_t *v, int64_t now_ms)
{
    for (size_t i = 0; i < s->nparked; i++)
        if (s->parked[i].job == p->job && s->parked[i].index == p->index)
            return true; /* a duplicate RETURN */
    if (util_grow((void **)&s->parked, &s->cap_parked, s->nparked + 1,
                  sizeof(*s->parked)) < 0)
        return false;
    srv_engine_t *t = child_of(s, v->recall_for);
    s->parked[s->nparked++] = (srv_parked_t){
        .job = p->job, .attempt = p->attempt, .index = p->index,
        .victim = v->id, .thief = t ? t->id : TREE_ROOT,
        .until_ms = now_ms + SRV_STEAL_RETRY_MS};
    if (t)
        t->steal_parked++;
    return true;
}

void srv__handle_return(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_tasks_t *t = &m->u.tasks;
    int64_t now = util_mono_ms();
    for (uint32_t i = 0; i < t->n; i++) {
        srv_inflight_t *p = srv__fl_find(s, t->tasks[i].job,
                                         t->tasks[i].index);
        if (!p || p->orphaned || SRV_BASE(p->engine) != e->id
            || p->attempt != t->tasks[i].attempt)
            continue;
        s->st.returned++;
        /* Not recalled ("not taken": a full queue, a stopping relay), or
         * adopted (not in the core): the core takes it back as before. */
        if (!e->recalled || p->adopted || !park_add(s, p, e, now))
            srv__task_giveback(s, p);
    }
    e->queued = e->queued > t->n ? e->queued - t->n : 0;
    if (t->done && e->recalled) {
        e->recalled = false;
        e->recall_for = TREE_ROOT;
    }
    srv__steal_place(s, now);
}

/* Child e is going: tasks it gave back and that wait here are pending in
 * the core again (they are not below it any more), steals it was part of
 * end. */
static void steal_forget(server_t *s, srv_engine_t *e)
{
    e->steal_open = false;
    e->recalled = false;
    e->recall_for = TREE_ROOT;
    size_t keep = 0;
    for (size_t i = 0; i < s->nparked; i++) {
        srv_parked_t pk = s->parked[i];
        if (pk.thief == e->id)
            pk.thief = TREE_ROOT;
        if (pk.victim != e->id) {
            s->parked[keep++] = pk;
            continue;
        }
        srv_inflight_t *p = srv__fl_find(s, pk.job, pk.index);
        if (p && !p->orphaned && !p->adopted
            && SRV_BASE(p->engine) == e->id && p->attempt == pk.attempt)
            srv__task_giveback(s, p);
        srv_engine_t *t = child_of(s, pk.thief);
        if (t && t->steal_parked > 0)
            t->steal_parked--;
    }
    s->nparked = keep;
    for (size_t i = 0; i < s->nengines; i++)
        if (s->engines[i]->recall_for == e->id)
            s->engines[i]->recall_for = TREE_ROOT;
    for (size_t i = 0; i < s->nengines; i++)
        if (s->engines[i] != e)
            steal_settle(s, s->engines[i]);
}

/* A RECALL never answered (a lost message): the victim may be recalled
 * again, and its thief is settled. */
static void recalls_expire(server_t *s, int64_t now_ms)
{
    int64_t limit = (int64_t)s->o.heartbeat_ms * SRV_PING_LOST * 2;
    for (size_t i = 0; i < s->nengines; i++) {
        srv_engine_t *v = s->engines[i];
        if (!v->recalled || now_ms - v->recall_ms <= limit)
            continue;
        srv__log(s, "tree: node %u never finished answering a RECALL",
                 v->id);
        v->recalled = false;
        v->recall_for = TREE_ROOT;
    }
}

void srv__handle_reject(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_tasks_t *t = &m->u.tasks;
    uint32_t last_job = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        srv_inflight_t *p = srv__fl_find(s, t->tasks[i].job,
                                         t->tasks[i].index);
        if (!p || p->orphaned || SRV_BASE(p->engine) != e->id
            || p->attempt != t->tasks[i].attempt)
            continue;
        uint32_t job = p->job;
        /* Neither the child nor its subtree gets the job again. */
        if (job != last_job) {
            if (e->has_sub)
                sched_engine_exclude_job(s->sched, SRV_SUB | e->id, job);
            sched_engine_exclude_job(s->sched, e->id, job);
            srv__log(s, "tree: node %u rejects job %u: %s", e->id, job,
                     t->reason ? t->reason : "no reason given");
            last_job = job;
        }
        srv__task_giveback(s, p);
        s->st.rejected++;
    }
}
