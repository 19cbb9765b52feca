/* SPDX-License-Identifier: MIT */
/* tree_children.c - a node's links to its children.
 *
 * A sorted array of records: a node has at most about k children (the
 * fanout), so a binary search by id and a scan by routing id cost less
 * than a hash.  A record and its owner's bytes are one allocation.
 *
 * Invariants: ids are distinct and ascending; ack_sent <= recv_seq unless
 * the owner ACKs past what it took; a job id is in jobs only once its JOB
 * was handed to the send function without error.
 */
#include "tree/tree_children.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct tree_children {
    tree_child_t **v;
    size_t n, cap;
    size_t own_size;
    tree_send_cb send;
    void *arg;
    uint64_t ping_seq;
};

tree_children_t *tree_children_create(tree_send_cb send, void *arg,
                                      size_t own_size)
{
    tree_children_t *t = calloc(1, sizeof(*t)); /* ENOMEM */
    if (t)
        *t = (tree_children_t){.own_size = own_size, .send = send,
                               .arg = arg};
    return t;
}

void tree_children_destroy(tree_children_t *t)
{
    int saved = errno;
    while (t && t->n > 0)
        tree_children_remove(t, t->v[t->n - 1]);
    if (t)
        free(t->v);
    free(t);
    errno = saved;
}

/* ---------------------------------------------------------------- table */

size_t tree_children_count(const tree_children_t *t)
{
    return t->n;
}

tree_child_t *tree_children_at(const tree_children_t *t, size_t i)
{
    return i < t->n ? t->v[i] : NULL;
}

/* Where id is, or would go. */
static size_t lower_bound(const tree_children_t *t, uint32_t id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

tree_child_t *tree_children_find(const tree_children_t *t, uint32_t id)
{
    size_t i = lower_bound(t, id);
    return i < t->n && t->v[i]->id == id ? t->v[i] : NULL;
}

tree_child_t *tree_children_by_peer(const tree_children_t *t,
                                    const msg_peer_t *p)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i]->peer.len == p->len
            && memcmp(t->v[i]->peer.id, p->id, p->len) == 0)
            return t->v[i];
    return NULL;
}

tree_child_t *tree_children_by_worker(const tree_children_t *t,
                                      const char *worker_id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i]->worker_id && worker_id
            && strcmp(t->v[i]->worker_id, worker_id) == 0)
            return t->v[i];
    return NULL;
}

/* Keep a copy of s in *dst (NULL stays NULL; out of memory: unchanged). */
static void set_str(char **dst, const char *s)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        return;
    free(*dst);
    *dst = copy;
}

bool tree_child_same_key(const tree_child_t *c, const msg_peer_t *from)
{
    return strcmp(c->key, from->key) == 0;
}

void tree_child_hello(tree_child_t *c, const msg_peer_t *from,
                      const msg_hello_t *h)
{
    c->peer = *from;
    memcpy(c->key, from->key, sizeof(c->key));
    c->last_heard_ms = util_mono_ms();
    set_str(&c->worker_id, h->worker_id);
    set_str(&c->name, h->name ? h->name : h->worker_id);
    set_str(&c->host, h->host);
    set_str(&c->relay, h->relay);
}

tree_child_t *tree_children_add(tree_children_t *t, uint32_t id,
                                const msg_peer_t *from, const msg_hello_t *h)
{
    size_t i = lower_bound(t, id);
    if (i < t->n && t->v[i]->id == id) {
        errno = EEXIST;
        return NULL;
    }
    tree_child_t *c = calloc(1, sizeof(*c) + t->own_size);
    if (!c || util_grow((void **)&t->v, &t->cap, t->n + 1,
                        sizeof(*t->v)) < 0) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    c->id = id;
    c->own = c + 1;
    tree_child_hello(c, from, h);
    msg_hello_capacity(h, &c->cap);
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
    t->v[i] = c;
    t->n++;
    return c;
}

void tree_children_remove(tree_children_t *t, tree_child_t *c)
{
    size_t i = lower_bound(t, c->id);
    assert(i < t->n && t->v[i] == c);
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
    t->n--;
    util_hmap_destroy(c->jobs);
    void *owned[] = {c->worker_id, c->name, c->host, c->relay, c->stats,
                     c->out, c};
    for (size_t k = 0; k < sizeof(owned) / sizeof(*owned); k++)
        free(owned[k]);
}

tree_child_t *tree_children_silent(const tree_children_t *t, int64_t now_ms,
                                   int64_t limit_ms)
{
    for (size_t i = 0; i < t->n; i++)
        if (now_ms - t->v[i]->last_heard_ms > limit_ms)
            return t->v[i];
    return NULL;
}

void tree_children_excuse(tree_children_t *t, int64_t stall_ms,
                          int64_t now_ms)
{
    for (size_t i = 0; stall_ms > 0 && i < t->n; i++) {
        tree_child_t *c = t->v[i];
        c->last_heard_ms = c->last_heard_ms + stall_ms < now_ms
                               ? c->last_heard_ms + stall_ms
                               : now_ms;
    }
}

/* ----------------------------------------------------------------- down */

int tree_child_send(tree_children_t *t, tree_child_t *c, const msg_t *m)
{
    return t->send(t->arg, &c->peer, m);
}

void tree_child_welcome(tree_children_t *t, tree_child_t *c, uint64_t epoch,
                        uint32_t heartbeat_ms)
{
    msg_t m = {.type = MSG_WELCOME};
    m.u.welcome.engine_id = c->id;
    m.u.welcome.server_epoch = epoch;
    m.u.welcome.heartbeat_ms = heartbeat_ms;
    tree_child_send(t, c, &m);
}

void tree_children_ping(tree_children_t *t)
{
    msg_t m = {.type = MSG_PING};
    m.u.ping.seq = ++t->ping_seq;
    m.u.ping.sent = (double)util_mono_ns() / 1e9;
    for (size_t i = 0; i < t->n; i++)
        tree_child_send(t, t->v[i], &m);
}

int tree_child_job(tree_children_t *t, tree_child_t *c, const msg_t *job)
{
    uint32_t id = job->u.job.id;
    if (c->jobs && util_hmap_find(c->jobs, &id))
        return 0;
    if (!c->jobs && !(c->jobs = util_hmap_create(sizeof(id), 0, NULL, NULL)))
        return -1;
    if (tree_child_send(t, c, job) < 0)
        return -1; /* again with the next ASSIGN */
    return util_hmap_insert(c->jobs, &id, NULL) ? 0 : -1;
}

void tree_child_forget_jobs(tree_child_t *c)
{
    if (c->jobs)
        util_hmap_clear(c->jobs);
}

int tree_child_assign(tree_child_t *c, const msg_assign_entry_t *e)
{
    if (util_grow((void **)&c->out, &c->out_cap, c->nout + 1,
                  sizeof(*c->out)) < 0)
        return -1;
    c->out[c->nout++] = *e;
    return 0;
}

size_t tree_children_flush(tree_children_t *t, tree_unsent_cb unsent,
                           void *arg)
{
    size_t sent = 0;
    for (size_t i = 0; i < t->n; i++) {
        tree_child_t *c = t->v[i];
        for (size_t off = 0; off < c->nout; off += MSG_MAX_BATCH) {
            size_t n = c->nout - off;
            msg_t m = {.type = MSG_ASSIGN};
            m.u.assign.n = (uint32_t)(n > MSG_MAX_BATCH ? MSG_MAX_BATCH : n);
            m.u.assign.entries = c->out + off;
            if (tree_child_send(t, c, &m) == 0)
                sent += m.u.assign.n;
            else if (unsent)
                unsent(arg, c, m.u.assign.entries, m.u.assign.n);
        }
        c->nout = 0;
    }
    return sent;
}

/* ------------------------------------------------------------------- up */

bool tree_child_result(tree_children_t *t, tree_child_t *c, uint64_t seq)
{
    if (seq > c->recv_seq) {
        c->recv_seq = seq;
        return true;
    }
    if (seq <= c->ack_sent) {
        msg_t ack = {.type = MSG_ACK};
        ack.u.ack.seq = c->ack_sent;
        tree_child_send(t, c, &ack);
    }
    return false;
}

void tree_child_ack(tree_children_t *t, tree_child_t *c, uint64_t seq)
{
    if (seq <= c->ack_sent)
        return;
    msg_t m = {.type = MSG_ACK};
    m.u.ack.seq = seq;
    if (tree_child_send(t, c, &m) == 0)
        c->ack_sent = seq;
}

/* ------------------------------------------------------------- subtree */

/* sub(C) as C's last SUMMARY says, added if need be. */
static int sub_set(tree_child_t *c, tree_relay_t *core)
{
    uint32_t id = c->id | TREE_SUB_BIT;
    int rc = c->has_sub ? tree_relay_update_relay(core, id, &c->sub)
                        : tree_relay_add_relay(core, id, &c->sub);
    if (rc < 0 && !(errno == EEXIST && !c->has_sub))
        return -1;
    res_custom_t v[RES_MAX_CUSTOM];
    memset(v, 0, sizeof(v));
    for (uint32_t i = 0; i < c->sub_ncustom; i++) {
        memcpy(v[i].name, c->sub_custom[i].name, sizeof(v[i].name));
        v[i].amount = c->sub_custom[i].total;
    }
    (void)tree_relay_set_relay_custom(core, id, v, (int)c->sub_ncustom);
    /* Steals for C's idle engine are answered there first. */
    if (!c->has_sub)
        (void)tree_relay_set_own_engine(core, id, c->id);
    c->has_sub = true;
    return 0;
}

int tree_child_sub_ensure(tree_child_t *c, tree_relay_t *core)
{
    return c->has_sub ? 0 : sub_set(c, core);
}

int tree_child_summary(tree_child_t *c, const msg_summary_t *m,
                       tree_relay_t *core)
{
    tree_summary_t sum = {.engines = m->engines, .slots = m->slots,
                          .cpus_milli = m->cpus_milli,
                          .mem_bytes = m->mem_bytes, .gpus = m->gpus};
    /* The decoder checked the custom list (bounded, distinct names). */
    uint32_t nc = m->ncustom > RES_MAX_CUSTOM ? RES_MAX_CUSTOM : m->ncustom;
    /* Field by field: memcmp would see the structs' padding, which nobody
     * zeroes, and call a SUMMARY that changed nothing a change. */
    bool resized = sum.engines != c->sub.engines || sum.slots != c->sub.slots
                   || sum.cpus_milli != c->sub.cpus_milli
                   || sum.mem_bytes != c->sub.mem_bytes
                   || sum.gpus != c->sub.gpus || nc != c->sub_ncustom;
    for (uint32_t i = 0; i < nc && !resized; i++)
        resized = c->sub_custom[i].total != m->custom[i].total
                  || strcmp(c->sub_custom[i].name, m->custom[i].name) != 0;
    bool changed = resized || c->queued != m->queued
                   || c->free_slots != m->free_slots;
    for (uint32_t i = 0; i < nc && !changed; i++)
        changed = c->sub_custom[i].free != m->custom[i].free;
    int rc = resized ? TREE_CHILD_RESIZED : 0;
    if (changed)
        rc |= TREE_CHILD_CHANGED;
    c->sub = sum;
    c->queued = m->queued;
    c->free_slots = m->free_slots;
    memset(c->sub_custom, 0, sizeof(c->sub_custom));
    if (nc > 0)
        memcpy(c->sub_custom, m->custom, nc * sizeof(*m->custom));
    c->sub_ncustom = nc;
    msg_node_stats_t *st = NULL;
    if (m->nstats > 0 && (st = malloc(m->nstats * sizeof(*st))))
        memcpy(st, m->stats, m->nstats * sizeof(*st));
    free(c->stats);
    c->stats = st;
    c->nstats = st ? m->nstats : 0;
    uint32_t id = c->id | TREE_SUB_BIT;
    if (sum.engines == 0 && c->has_sub
        && tree_relay_child_inflight(core, id) == 0) {
        tree_relay_remove_child(core, id);
        c->has_sub = false;
    } else if ((resized && c->has_sub) || (!c->has_sub && sum.engines > 0)) {
        (void)sub_set(c, core);
    }
    if (c->has_sub)
        tree_relay_child_queued(core, id, m->queued);
    return rc;
}
