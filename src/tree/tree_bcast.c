/* SPDX-License-Identifier: MIT */
/* tree_bcast.c - one node's part in a broadcast: forward once, reply once.
 *
 * A broadcast comes down from the parent (or starts at the root).  The node
 * forwards it once to each child and runs it on its own engine if it has
 * one.  It then waits for one coalesced reply from each child (a tally of
 * its subtree) and for its own run, or for the deadline, and produces ONE
 * reply for its parent: the sum of what came in, with the children that did
 * not answer counted as missing.  So every link carries one message down
 * and one up per broadcast, and a node sends and receives O(children)
 * messages whatever the size of the tree.
 *
 * Broadcast ids seen recently are remembered (a ring of the last 256
 * finished ones besides the active ones), so a duplicate delivery is
 * neither forwarded nor run twice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tree/tree.h"
#include "util/util.h"

enum { SEEN_RING = 256 };

typedef struct bc_child {
    uint32_t id;
    bool replied;
} bc_child_t;

typedef struct bc_active {
    uint64_t id;
    bc_child_t *children;
    size_t nchildren;
    size_t waiting;          /* children not replied */
    bool local_pending;      /* own run not reported */
    int64_t deadline_ms;
    tree_tally_t tally;
} bc_active_t;

struct tree_bcast {
    bool has_engine;
    bool has_parent;
    bc_active_t *active;
    size_t nactive, active_cap;
    uint64_t seen[SEEN_RING];
    size_t nseen, seen_pos;
    tree_bcast_stats_t st;
};

tree_bcast_t *tree_bcast_create(bool has_engine, bool has_parent)
{
    tree_bcast_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->has_engine = has_engine;
    b->has_parent = has_parent;
    return b;
}

void tree_bcast_destroy(tree_bcast_t *b)
{
    if (!b)
        return;
    int saved = errno;
    for (size_t i = 0; i < b->nactive; i++)
        free(b->active[i].children);
    free(b->active);
    free(b);
    errno = saved;
}

static bc_active_t *find(tree_bcast_t *b, uint64_t id)
{
    for (size_t i = 0; i < b->nactive; i++)
        if (b->active[i].id == id)
            return &b->active[i];
    return NULL;
}

static bool seen(const tree_bcast_t *b, uint64_t id)
{
    for (size_t i = 0; i < b->nseen; i++)
        if (b->seen[i] == id)
            return true;
    return false;
}

int tree_bcast_begin(tree_bcast_t *b, uint64_t bcast_id,
                     const uint32_t *children, size_t nchildren,
                     int64_t now_ms, int64_t timeout_ms,
                     uint32_t *forward_to)
{
    if (b->has_parent)
        b->st.received++;
    if (find(b, bcast_id) || seen(b, bcast_id)) {
        errno = EEXIST;
        return -1;
    }
    if (util_grow((void **)&b->active, &b->active_cap, b->nactive + 1,
                  sizeof(*b->active)) < 0)
        return -1;
    bc_child_t *cs = NULL;
    if (nchildren > 0) {
        cs = calloc(nchildren, sizeof(*cs));
        if (!cs)
            return -1;
    }
    bc_active_t *a = &b->active[b->nactive++];
    memset(a, 0, sizeof(*a));
    a->id = bcast_id;
    a->children = cs;
    a->nchildren = nchildren;
    a->waiting = nchildren;
    a->local_pending = b->has_engine;
    a->deadline_ms = now_ms + timeout_ms;
    for (size_t i = 0; i < nchildren; i++) {
        cs[i].id = children[i];
        forward_to[i] = children[i];
    }
    b->st.sent += nchildren;
    if (b->has_engine)
        b->st.runs++;
    return 0;
}

int tree_bcast_local_done(tree_bcast_t *b, uint64_t bcast_id, bool ok)
{
    bc_active_t *a = find(b, bcast_id);
    if (!a || !a->local_pending) {
        errno = ENOENT;
        return -1;
    }
    a->local_pending = false;
    if (ok)
        a->tally.ok++;
    else
        a->tally.failed++;
    return 0;
}

int tree_bcast_child_reply(tree_bcast_t *b, uint64_t bcast_id,
                           uint32_t child, const tree_tally_t *t)
{
    b->st.received++;
    bc_active_t *a = find(b, bcast_id);
    if (!a) {
        errno = ENOENT;
        return -1;
    }
    for (size_t i = 0; i < a->nchildren; i++) {
        bc_child_t *c = &a->children[i];
        if (c->id != child)
            continue;
        if (c->replied)
            return 0; /* a duplicate: counted, ignored */
        c->replied = true;
        a->waiting--;
        a->tally.ok += t->ok;
        a->tally.failed += t->failed;
        a->tally.missing += t->missing;
        return 0;
    }
    errno = ENOENT;
    return -1;
}

int tree_bcast_poll(tree_bcast_t *b, int64_t now_ms, tree_bcast_done_t *out,
                    int max)
{
    int n = 0;
    for (size_t i = 0; i < b->nactive && n < max;) {
        bc_active_t *a = &b->active[i];
        bool complete = a->waiting == 0 && !a->local_pending;
        if (!complete && now_ms < a->deadline_ms) {
            i++;
            continue;
        }
        tree_tally_t t = a->tally;
        t.missing += (uint32_t)a->waiting;
        if (a->local_pending)
            t.failed++; /* the own run did not finish in time */
        out[n].bcast_id = a->id;
        out[n].tally = t;
        n++;
        if (b->has_parent)
            b->st.sent++;
        b->seen[b->seen_pos] = a->id;
        b->seen_pos = (b->seen_pos + 1) % SEEN_RING;
        if (b->nseen < SEEN_RING)
            b->nseen++;
        free(a->children);
        *a = b->active[--b->nactive];
    }
    return n;
}

void tree_bcast_get_stats(const tree_bcast_t *b, tree_bcast_stats_t *st)
{
    *st = b->st;
}
