/* SPDX-License-Identifier: MIT */
/* tree_topo.c - the shape of the tree: joins, redirects, removals.
 *
 * Nodes live in an array indexed by id (ids are never reused; the root is
 * 0).  Each keeps its parent, its depth and its children (at most k).
 *
 * Where a joining node goes:
 *   1. If its host already has live nodes, the earliest-joined one of them
 *      that has room (a cursor per host walks the host's nodes in join
 *      order; it only moves forward except after a removal), provided the
 *      new node's depth stays within D(n, k) + host_slack.  So the first
 *      engine of a host becomes the host's relay and later engines of that
 *      host hang below it.
 *   2. Otherwise the shallowest node with room anywhere (lowest id among
 *      equals).  A min-heap of (depth, id) holds candidates; entries are
 *      checked lazily when they reach the top (dead, full or moved nodes
 *      are popped), and a node is pushed again whenever it gains room or
 *      changes depth.
 *
 * Step 2 alone keeps depth <= D(n, k): if the shallowest node with room is
 * at depth d, every node above d is full (k children or more), so at least
 * k + ... + k^d nodes exist, hence D(n, k) >= d + 1.  Step 1 is only taken
 * within the slack.  This holds at each join with the k of that moment,
 * nodes left over k by a lower fanout included (they only make levels
 * fuller), which is what tree_topo_set_fanout() promises.
 *
 * Room is nchildren < k, checked at the moment of attaching: a node over k
 * (k was lowered) keeps its children and takes none.  Raising k rebuilds
 * the heap, since full nodes were popped from it.
 *
 * Removal: the first child takes the removed node's place (its subtree
 * rises by one); the others are detached and each goes to the shallowest
 * node with room outside its own subtree (detached nodes are marked with
 * depth -1, so the heap skips them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/hmap.h"
#include "util/util.h"
#include "tree/tree.h"

typedef struct topo_node {
    bool alive;
    bool used;               /* the id was given (a join or an attach):
                                never given again */
    int depth;               /* edges from the root; -1 while detached */
    uint32_t parent;         /* TREE_NONE for the root */
    uint32_t *children;
    uint32_t nchildren;
    uint32_t host;           /* index in hosts, TREE_NONE for none */
    size_t children_cap;
    tree_summary_t cap;
} topo_node_t;

typedef struct topo_host {
    char *name;
    uint32_t *nodes;         /* in join order (dead ones stay) */
    size_t nnodes, cap;
    size_t cursor;           /* first entry that may have room */
} topo_host_t;

typedef struct heap_ent {
    int depth;
    uint32_t id;
} heap_ent_t;

struct tree_topo {
    unsigned k;
    unsigned slack;
    topo_node_t *nodes;
    uint32_t nnodes;              /* ids [0, nnodes) */
    size_t nodes_cap;
    size_t alive;                 /* besides the root */
    topo_host_t *hosts;
    size_t nhosts, hosts_cap;
    util_hmap_t *host_tab;        /* char *name -> uint32_t host index */
    heap_ent_t *heap;
    size_t nheap, heap_cap;
    uint32_t *stack;              /* scratch for subtree walks */
    size_t stack_cap;
};

/* ----------------------------------------------------------------- helpers */

void tree_summary_add(tree_summary_t *a, const tree_summary_t *b)
{
    a->engines += b->engines;
    a->slots += b->slots;
    a->cpus_milli += b->cpus_milli;
    a->mem_bytes += b->mem_bytes;
    a->gpus += b->gpus;
}

void tree_summary_of(const res_capacity_t *cap, tree_summary_t *out)
{
    memset(out, 0, sizeof(*out));
    out->engines = 1;
    out->slots = cap->slots;
    out->cpus_milli = cap->cpus_milli;
    out->mem_bytes = cap->mem_bytes;
    out->gpus = cap->ngpus > 0 ? (uint32_t)cap->ngpus : 0;
}

unsigned tree_depth_for(uint64_t n, unsigned k)
{
    if (k < 2)
        k = 2;
    uint64_t sum = 0, level = 1;
    unsigned d = 0;
    while (sum < n) {
        level = util_mul_sat(level, k);
        sum = sum > UINT64_MAX - level ? UINT64_MAX : sum + level;
        d++;
    }
    return d;
}

/* -------------------------------------------------------------------- heap */

static bool heap_less(heap_ent_t a, heap_ent_t b)
{
    return a.depth != b.depth ? a.depth < b.depth : a.id < b.id;
}

static int heap_push(tree_topo_t *t, uint32_t id)
{
    if (util_grow((void **)&t->heap, &t->heap_cap, t->nheap + 1,
             sizeof(*t->heap)) < 0)
        return -1;
    heap_ent_t e = {t->nodes[id].depth, id};
    size_t i = t->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(e, t->heap[p]))
            break;
        t->heap[i] = t->heap[p];
        i = p;
    }
    t->heap[i] = e;
    return 0;
}

static void heap_pop(tree_topo_t *t)
{
    heap_ent_t e = t->heap[--t->nheap];
    size_t i = 0, n = t->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(t->heap[c + 1], t->heap[c]))
            c++;
        if (!heap_less(t->heap[c], e))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n > 0)
        t->heap[i] = e;
}

static bool has_room(const tree_topo_t *t, uint32_t id)
{
    const topo_node_t *n = &t->nodes[id];
    return n->alive && n->depth >= 0 && n->nchildren < t->k;
}

/* The shallowest attached node with room; TREE_NONE if none (cannot
 * happen while the root is there, unless memory ran out). */
static uint32_t heap_top(tree_topo_t *t)
{
    while (t->nheap > 0) {
        heap_ent_t e = t->heap[0];
        if (has_room(t, e.id) && t->nodes[e.id].depth == e.depth)
            return e.id;
        heap_pop(t);
    }
    return TREE_NONE;
}

/* ------------------------------------------------------------------- hosts */

static uint64_t name_hash(const void *key)
{
    return util_hash_str(*(const char *const *)key);
}

static bool name_equal(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b) == 0;
}

/* Find or add a host; TREE_NONE with errno on failure. */
static uint32_t host_get(tree_topo_t *t, const char *name, bool *created)
{
    *created = false;
    uint32_t *found = util_hmap_find(t->host_tab, &name);
    if (found)
        return *found;
    if (util_grow((void **)&t->hosts, &t->hosts_cap, t->nhosts + 1,
             sizeof(*t->hosts)) < 0)
        return TREE_NONE;
    char *copy = strdup(name);
    uint32_t *slot = copy ? util_hmap_insert(t->host_tab, &copy, NULL) : NULL;
    if (!slot) {
        free(copy);
        errno = ENOMEM;
        return TREE_NONE;
    }
    *slot = (uint32_t)t->nhosts;
    topo_host_t *h = &t->hosts[t->nhosts];
    memset(h, 0, sizeof(*h));
    h->name = copy;
    *created = true;
    return (uint32_t)t->nhosts++;
}

/* The host's earliest live node with room, or TREE_NONE. */
static uint32_t host_candidate(tree_topo_t *t, topo_host_t *h)
{
    while (h->cursor < h->nnodes && !has_room(t, h->nodes[h->cursor]))
        h->cursor++;
    return h->cursor < h->nnodes ? h->nodes[h->cursor] : TREE_NONE;
}

/* ----------------------------------------------------------------- create */

tree_topo_t *tree_topo_create(unsigned fanout, unsigned host_slack)
{
    if (fanout < TREE_FANOUT_MIN || fanout > TREE_FANOUT_MAX
        || host_slack > 1) {
        errno = EINVAL;
        return NULL;
    }
    tree_topo_t *t = calloc(1, sizeof(*t));
    if (!t)
        goto nomem;
    t->k = fanout;
    t->slack = host_slack;
    t->host_tab = util_hmap_create(sizeof(char *), sizeof(uint32_t),
                                   name_hash, name_equal);
    if (!t->host_tab)
        goto nomem;
    if (util_grow((void **)&t->nodes, &t->nodes_cap, 64,
                  sizeof(*t->nodes)) < 0)
        goto nomem;
    memset(&t->nodes[0], 0, sizeof(t->nodes[0]));
    t->nodes[0].alive = true;
    t->nodes[0].used = true;
    t->nodes[0].parent = TREE_NONE;
    t->nodes[0].host = TREE_NONE;
    t->nnodes = 1;
    if (heap_push(t, 0) < 0)
        goto nomem;
    return t;
nomem:
    tree_topo_destroy(t);
    errno = ENOMEM;
    return NULL;
}

void tree_topo_destroy(tree_topo_t *t)
{
    if (!t)
        return;
    int saved = errno;
    for (uint32_t i = 0; t->nodes && i < t->nnodes; i++)
        free(t->nodes[i].children);
    for (size_t h = 0; h < t->nhosts; h++) {
        free(t->hosts[h].name);
        free(t->hosts[h].nodes);
    }
    free(t->nodes);
    free(t->hosts);
    util_hmap_destroy(t->host_tab);
    free(t->heap);
    free(t->stack);
    free(t);
    errno = saved;
}

/* ------------------------------------------------------------------- join */

static int child_append(tree_topo_t *t, uint32_t parent, uint32_t child)
{
    topo_node_t *p = &t->nodes[parent];
    if (util_grow((void **)&p->children, &p->children_cap, p->nchildren + 1,
                  sizeof(*p->children)) < 0)
        return -1;
    p->children[p->nchildren++] = child;
    t->nodes[child].parent = parent;
    return 0;
}

static void child_erase(tree_topo_t *t, uint32_t parent, uint32_t child)
{
    topo_node_t *p = &t->nodes[parent];
    for (uint32_t i = 0; i < p->nchildren; i++)
        if (p->children[i] == child) {
            memmove(&p->children[i], &p->children[i + 1],
                    (p->nchildren - i - 1) * sizeof(*p->children));
            p->nchildren--;
            return;
        }
}

/* Make room for one more node (ids up to id) and for host h's node list,
 * so that inserting cannot fail.  *h is the host's index (TREE_NONE for
 * none), *created whether it is new.  -1 ENOMEM. */
static int reserve_one(tree_topo_t *t, uint32_t id, const char *host,
                       uint32_t *h, bool *created)
{
    if (util_grow((void **)&t->nodes, &t->nodes_cap, (size_t)id + 1,
                  sizeof(*t->nodes)) < 0)
        return -1;
    if (util_grow((void **)&t->heap, &t->heap_cap, t->nheap + 2,
             sizeof(*t->heap)) < 0)
        return -1;
    *h = TREE_NONE;
    *created = false;
    if (host && *host) {
        *h = host_get(t, host, created);
        if (*h == TREE_NONE)
            return -1;
        topo_host_t *hp = &t->hosts[*h];
        if (util_grow((void **)&hp->nodes, &hp->cap, hp->nnodes + 1,
                 sizeof(*hp->nodes)) < 0)
            return -1;
    }
    return 0;
}

/* Where a joining node of host h goes (tree.h, top); TREE_NONE only when
 * memory ran out. */
static uint32_t place(tree_topo_t *t, uint32_t h, bool created)
{
    uint32_t bound = tree_depth_for(t->alive + 1, t->k) + t->slack;
    if (h != TREE_NONE && !created) {
        uint32_t c = host_candidate(t, &t->hosts[h]);
        if (c != TREE_NONE && (uint32_t)t->nodes[c].depth + 1 <= bound)
            return c;
    }
    return heap_top(t);
}

/* Node id (free) goes below parent, or where a join goes (TREE_NONE);
 * *placed (may be NULL) gets where. */
static int add(tree_topo_t *t, uint32_t id, uint32_t parent,
               const char *host, const tree_summary_t *cap, uint32_t *placed)
{
    /* Reserve everything first, so that a failure changes nothing. */
    uint32_t h;
    bool created;
    if (reserve_one(t, id, host, &h, &created) < 0)
        return -1;
    uint32_t p = parent != TREE_NONE ? parent : place(t, h, created);
    if (p == TREE_NONE) {
        errno = ENOMEM;
        return -1;
    }
    /* The parent's children array may need to grow. */
    topo_node_t *pn = &t->nodes[p];
    if (util_grow((void **)&pn->children, &pn->children_cap,
                  pn->nchildren + 1, sizeof(*pn->children)) < 0)
        return -1;
    /* Ids skipped on the way are free: never given, attachable later. */
    for (uint32_t i = t->nnodes; i < id; i++)
        memset(&t->nodes[i], 0, sizeof(t->nodes[i]));
    if (id >= t->nnodes)
        t->nnodes = id + 1;
    topo_node_t *n = &t->nodes[id];
    memset(n, 0, sizeof(*n));
    n->alive = true;
    n->used = true;
    n->depth = t->nodes[p].depth + 1;
    n->host = h;
    if (cap)
        n->cap = *cap;
    child_append(t, p, id); /* cannot fail: reserved */
    heap_push(t, id);       /* cannot fail: reserved */
    if (h != TREE_NONE) {
        topo_host_t *hp = &t->hosts[h];
        hp->nodes[hp->nnodes++] = id;
    }
    t->alive++;
    /* A host's cursor only moves forward past nodes without room; the
     * new node is appended after it, so the cursor stays right. */
    if (placed)
        *placed = p;
    return 0;
}

int tree_topo_join(tree_topo_t *t, const char *host,
                   const tree_summary_t *cap, uint32_t *id, uint32_t *parent)
{
    uint32_t nid = t->nnodes;
    if (add(t, nid, TREE_NONE, host, cap, parent) < 0)
        return -1;
    *id = nid;
    return 0;
}

bool tree_topo_id_free(const tree_topo_t *t, uint32_t id)
{
    return id != TREE_ROOT && id != TREE_NONE
           && (id >= t->nnodes || !t->nodes[id].used);
}

int tree_topo_attach(tree_topo_t *t, uint32_t id, uint32_t parent,
                     const char *host, const tree_summary_t *cap,
                     uint32_t *placed)
{
    if (id == TREE_ROOT || id == TREE_NONE || id >= TREE_NODE_ID_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (!tree_topo_id_free(t, id)) {
        errno = EEXIST;
        return -1;
    }
    if (parent != TREE_NONE
        && (!tree_topo_has(t, parent) || t->nodes[parent].depth < 0)) {
        errno = ENOENT;
        return -1;
    }
    return add(t, id, parent, host, cap, placed);
}

int tree_topo_reserve(tree_topo_t *t, uint32_t limit)
{
    if (limit > TREE_NODE_ID_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (limit <= t->nnodes)
        return 0;
    if (util_grow((void **)&t->nodes, &t->nodes_cap, limit,
                  sizeof(*t->nodes)) < 0)
        return -1;
    memset(&t->nodes[t->nnodes], 0,
           (limit - t->nnodes) * sizeof(*t->nodes));
    t->nnodes = limit;
    return 0;
}

/* ----------------------------------------------------------------- remove */

/* Set depths in the subtree of root to d, d+1, ... (or -1 everywhere when
 * detach), pushing nodes with room on the heap.  -1 ENOMEM. */
static int subtree_set_depth(tree_topo_t *t, uint32_t root, int d,
                             bool detach)
{
    size_t sp = 0;
    if (util_grow((void **)&t->stack, &t->stack_cap, 1, sizeof(*t->stack)) < 0)
        return -1;
    t->nodes[root].depth = detach ? -1 : d;
    t->stack[sp++] = root;
    while (sp > 0) {
        uint32_t id = t->stack[--sp];
        topo_node_t *n = &t->nodes[id];
        if (!detach && n->nchildren < t->k && heap_push(t, id) < 0)
            return -1;
        if (util_grow((void **)&t->stack, &t->stack_cap, sp + n->nchildren,
                 sizeof(*t->stack)) < 0)
            return -1;
        n = &t->nodes[id];
        for (uint32_t i = 0; i < n->nchildren; i++) {
            uint32_t c = n->children[i];
            t->nodes[c].depth = detach ? -1 : n->depth + 1;
            t->stack[sp++] = c;
        }
    }
    return 0;
}

int tree_topo_remove(tree_topo_t *t, uint32_t node, tree_move_t *moves,
                     size_t max, size_t *nmoves)
{
    if (node == TREE_ROOT || !tree_topo_has(t, node)) {
        errno = ENOENT;
        return -1;
    }
    topo_node_t *x = &t->nodes[node];
    uint32_t p = x->parent;
    uint32_t *orphans = x->children;
    uint32_t norphans = x->nchildren;
    x->children = NULL;
    x->nchildren = 0;
    x->children_cap = 0;
    x->alive = false;
    child_erase(t, p, node);
    t->alive--;
    if (x->host != TREE_NONE)
        t->hosts[x->host].cursor = 0;
    if (t->nodes[p].host != TREE_NONE)
        t->hosts[t->nodes[p].host].cursor = 0;

    int rc = 0;
    size_t nm = 0;
    /* Detach every orphan's subtree first so none is chosen as a parent
     * for another orphan or for itself. */
    for (uint32_t i = 0; i < norphans && rc == 0; i++)
        rc = subtree_set_depth(t, orphans[i], -1, true);
    for (uint32_t i = 0; i < norphans && rc == 0; i++) {
        uint32_t c = orphans[i];
        /* The first takes x's place unless p is over the fanout (k was
         * lowered): a node with k children or more gains none. */
        uint32_t np = i == 0 && has_room(t, p) ? p : heap_top(t);
        if (np == TREE_NONE) {
            rc = -1;
            errno = ENOMEM;
            break;
        }
        if (child_append(t, np, c) < 0 ||
            subtree_set_depth(t, c, t->nodes[np].depth + 1, false) < 0) {
            rc = -1;
            break;
        }
        if (t->nodes[np].host != TREE_NONE)
            t->hosts[t->nodes[np].host].cursor = 0;
        if (nm < max)
            moves[nm] = (tree_move_t){c, node, np};
        nm++;
    }
    /* p lost a child: it may have room again. */
    if (rc == 0 && has_room(t, p))
        rc = heap_push(t, p);
    free(orphans);
    if (nmoves)
        *nmoves = nm;
    /* ENOMEM half way cannot be undone cleanly; the tree stays valid for
     * the orphans already attached.  Report it. */
    return rc;
}

/* ------------------------------------------------------------------ fanout */

int tree_topo_set_fanout(tree_topo_t *t, unsigned k)
{
    if (k < TREE_FANOUT_MIN || k > TREE_FANOUT_MAX) {
        errno = EINVAL;
        return -1;
    }
    /* The heap is rebuilt with every attached node that has room under
     * the new k: on a growth, full nodes regain room and were popped (or
     * never pushed).  Reserve first, so that ENOMEM changes nothing. */
    if (util_grow((void **)&t->heap, &t->heap_cap, (size_t)t->nnodes + 1,
                  sizeof(*t->heap)) < 0)
        return -1;
    t->k = k;
    t->nheap = 0;
    for (uint32_t id = 0; id < t->nnodes; id++)
        if (has_room(t, id))
            heap_push(t, id); /* cannot fail: reserved */
    /* A host cursor only moves past nodes without room; they may have
     * room again. */
    for (size_t h = 0; h < t->nhosts; h++)
        t->hosts[h].cursor = 0;
    return 0;
}

/* ------------------------------------------------------------- inspection */

bool tree_topo_has(const tree_topo_t *t, uint32_t node)
{
    return node < t->nnodes && t->nodes[node].alive;
}

uint32_t tree_topo_parent(const tree_topo_t *t, uint32_t node)
{
    return tree_topo_has(t, node) ? t->nodes[node].parent : TREE_NONE;
}

size_t tree_topo_children(const tree_topo_t *t, uint32_t node,
                          uint32_t *out, size_t max)
{
    if (!tree_topo_has(t, node))
        return 0;
    const topo_node_t *n = &t->nodes[node];
    for (uint32_t i = 0; i < n->nchildren && i < max; i++)
        out[i] = n->children[i];
    return n->nchildren;
}

int tree_topo_node_depth(const tree_topo_t *t, uint32_t node)
{
    return tree_topo_has(t, node) ? t->nodes[node].depth : -1;
}

unsigned tree_topo_depth(const tree_topo_t *t)
{
    int d = 0;
    for (uint32_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i].alive && t->nodes[i].depth > d)
            d = t->nodes[i].depth;
    return (unsigned)d;
}

size_t tree_topo_count(const tree_topo_t *t)
{
    return t->alive;
}

uint32_t tree_topo_id_limit(const tree_topo_t *t)
{
    return t->nnodes;
}

unsigned tree_topo_fanout(const tree_topo_t *t)
{
    return t->k;
}

unsigned tree_topo_max_children(const tree_topo_t *t)
{
    unsigned m = 0;
    for (uint32_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i].alive && t->nodes[i].nchildren > m)
            m = t->nodes[i].nchildren;
    return m;
}

const char *tree_topo_host(const tree_topo_t *t, uint32_t node)
{
    if (!tree_topo_has(t, node) || t->nodes[node].host == TREE_NONE)
        return "";
    return t->hosts[t->nodes[node].host].name;
}

const tree_summary_t *tree_topo_cap(const tree_topo_t *t, uint32_t node)
{
    static const tree_summary_t none;
    return tree_topo_has(t, node) ? &t->nodes[node].cap : &none;
}

uint32_t tree_topo_host_relay(const tree_topo_t *t, uint32_t node)
{
    if (!tree_topo_has(t, node))
        return TREE_NONE;
    uint32_t h = t->nodes[node].host;
    if (h == TREE_NONE)
        return node;
    const topo_host_t *hp = &t->hosts[h];
    for (size_t i = 0; i < hp->nnodes; i++)
        if (t->nodes[hp->nodes[i]].alive)
            return hp->nodes[i];
    return TREE_NONE;
}
