/* SPDX-License-Identifier: MIT */
/* tree_relay.c - one node's scheduling state for its subtree.
 *
 * A relay places tasks on its direct children with a sched_t core whose
 * engines are those children: an engine child (the node's own engine too)
 * with its real capacity, a relay child with an aggregate pool (its
 * subtree's capacity times the prefetch depth).  The core never grants
 * more than a pool holds, so engines are never oversubscribed; a relay
 * child may be handed more than it can start at once (fragmentation across
 * its engines, or the prefetch allowance) and queues the rest.
 *
 * State kept beside the core:
 *   - a task table keyed by (job, index): every task this relay holds is
 *     QUEUED (here, not placed), CORE (running in the core on a child) or
 *     PARKED (given back by a recalled child and not placed yet: see
 *     below).  Every placement, a steal's included, is the core's: a
 *     parked task moves with sched_task_return + sched_task_adopt, so the
 *     core keeps its attempt numbers and applies the one retry rule;
 *   - the queue (not at the root): the QUEUED tasks in arrival order, each
 *     also pending in the core as a one-task range.  The root keeps whole
 *     jobs as ranges in the core and has no queue;
 *   - per child: what it can hold, what it holds, what it reports queued
 *     in its subtree, and the state of a steal or recall involving it.
 *
 * Steal protocol (docs/tree.md): an idle relay sends STEAL up; its parent
 * picks the child reporting the most queued tasks and sends it RECALL(n);
 * the victim gives back up to n queued tasks (RETURN, then RECALL_DONE; a
 * victim with an empty queue forwards the recall to its own busiest child
 * and passes the returns up).  A thief that got nothing is denied.  A
 * relay asks again no sooner than steal_retry_ms after its last STEAL or
 * DENY, and then by itself while it stays idle: the step looks at the
 * clock (steal_wait), since no event comes to an idle relay.
 *
 * Returned tasks are PARKED: still charged to the victim in the core
 * (not pending), because the victim has room for them again, so the core
 * would place them straight back there, and the thief, still idle, would
 * steal them again (ping-pong).  Each step,
 * before the core places anything, a parked task goes (see place_parked):
 *   1. to its thief, if it fits there now;
 *   2. else to the other child (never its victim) with the most free slots
 *      that it fits now and that has not rejected its job;
 *   3. else it waits, at most steal_retry_ms, and then (or at once when no
 *      child but the victim could ever run it, or the victim is gone) it is
 *      pending in the core again, which may place it anywhere, the victim
 *      included.
 * The thief's steal stays open (no DENY) while tasks are parked for it, so
 * a thief with room for a 1-slot task but not yet for a 2-slot one gets
 * the latter as soon as it has room, and no second recall drains the
 * victim meanwhile.  Parked tasks go before the core's pending ones: they
 * were placed before anything queued here, there are at most as many as
 * were recalled, and after steal_retry_ms the core's order (priority, the
 * anti-starvation hold) takes them over.
 *
 * Actions go to an outbox: event calls may add to it (returns placed on a
 * thief), and tree_relay_step() runs the core and the protocol, appends,
 * and drains the outbox.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "tree/tree.h"

enum {
    ENT_EMPTY = 0,
    ENT_QUEUED = 1,
    ENT_CORE = 2,
    ENT_PARKED = 3,
};

typedef struct task_ent {
    uint32_t job_id;
    uint32_t state;          /* ENT_* */
    uint64_t index;
    uint32_t slot;           /* child slot when placed (PARKED: the
                                victim's, which the core still charges) */
    uint32_t qpos;           /* position in queue (QUEUED) or park
                                (PARKED) */
    uint32_t attempt;        /* CORE, PARKED: the run's attempt number */
} task_ent_t;

typedef struct qkey {
    uint32_t job_id;
    uint64_t index;
} qkey_t;

/* A task given back by a recalled child, waiting to be placed. */
typedef struct parked {
    uint32_t job_id;
    uint64_t index;
    uint32_t victim;         /* child slot it came back from; TREE_NONE
                                once that child is gone */
    uint32_t thief;          /* child slot of the steal it answers;
                                TREE_NONE for none */
    int64_t since_ms;        /* first step that saw it; INT64_MIN before */
} parked_t;

typedef struct relay_child {
    uint32_t id;             /* TREE_NONE: free slot */
    bool is_relay;
    tree_summary_t sum;      /* capacity (relay: its subtree) */
    uint64_t cap_slots;      /* slots of its pool in the core */
    uint64_t inflight;       /* tasks placed on it, not done */
    uint64_t queued;         /* reported queued in its subtree */
    uint32_t steal_want;     /* > 0: it asked for work */
    uint32_t return_to;      /* recall in progress: thief slot,
                                TREE_PARENT, or TREE_NONE */
    uint64_t returned;       /* tasks given back for that recall */
    bool steal_open;         /* as thief: its steal is being answered */
    uint32_t recalls;        /* as thief: victims recalling for it */
    uint32_t parked;         /* as thief: tasks parked for it */
    uint64_t got;            /* tasks placed on it since steal_open */
    bool resize_pending;     /* relay: GPU positions kept until released */
    int ncustom;             /* relay: its subtree's custom resources */
    res_custom_t custom[RES_MAX_CUSTOM];
    uint32_t own_engine;     /* relay: the id of its own engine among the
                                engine children, or TREE_NONE */
} relay_child_t;

typedef struct relay_job {
    sched_job_t def;
} relay_job_t;

struct tree_relay {
    tree_relay_config_t cfg;
    sched_t *core;
    relay_child_t *children;
    size_t nchildren, children_cap;
    uint32_t *slot_keys;     /* child id -> slot, open addressing */
    uint32_t *slot_vals;
    size_t slot_cap;
    relay_job_t *jobs;
    size_t njobs, jobs_cap;
    task_ent_t *tab;         /* open addressing, power of two */
    size_t tab_cap, tab_count;
    qkey_t *queue;
    size_t nqueue, queue_cap;
    parked_t *park;          /* PARKED tasks, in the order they came */
    size_t npark, park_cap;
    tree_result_t *results;
    size_t nresults, results_cap;
    tree_action_t *out;
    size_t out_len, out_head, out_cap;
    bool need_gen;
    uint32_t recall_want;    /* the parent asked for this many back */
    bool steal_out;          /* our STEAL is unanswered */
    int64_t steal_next_ms;   /* no STEAL before this */
    bool steal_wait;         /* idle, waiting only for steal_next_ms: the
                                step asks then, with no event needed */
    bool seen_work;
    uint32_t own_free;       /* own engine's free slots, when it is not a
                                child (tree_relay_set_own_free) */
};

/* ----------------------------------------------------------------- helpers */

static relay_job_t *job_find(const tree_relay_t *r, uint32_t id)
{
    for (size_t i = 0; i < r->njobs; i++)
        if (r->jobs[i].def.id == id)
            return &r->jobs[i];
    return NULL;
}

static size_t hash_id(uint32_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32);
}

static uint32_t child_slot(const tree_relay_t *r, uint32_t id)
{
    if (r->slot_cap == 0 || id == TREE_NONE)
        return TREE_NONE;
    size_t mask = r->slot_cap - 1;
    for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
        if (r->slot_keys[i] == TREE_NONE)
            return TREE_NONE;
        if (r->slot_keys[i] == id) {
            uint32_t v = r->slot_vals[i];
            /* A stale index (rebuild failed after a removal) is checked
             * against the children array. */
            return r->children[v].id == id ? v : TREE_NONE;
        }
    }
}

/* Rebuild the id -> slot index from the children array. */
static int slots_rebuild(tree_relay_t *r)
{
    size_t cap = 16;
    while (cap < r->nchildren * 2 + 2)
        cap *= 2;
    uint32_t *keys = malloc(cap * sizeof(*keys));
    uint32_t *vals = malloc(cap * sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < cap; i++)
        keys[i] = TREE_NONE;
    for (size_t s = 0; s < r->nchildren; s++) {
        uint32_t id = r->children[s].id;
        if (id == TREE_NONE)
            continue;
        size_t i = hash_id(id) & (cap - 1);
        while (keys[i] != TREE_NONE)
            i = (i + 1) & (cap - 1);
        keys[i] = id;
        vals[i] = (uint32_t)s;
    }
    free(r->slot_keys);
    free(r->slot_vals);
    r->slot_keys = keys;
    r->slot_vals = vals;
    r->slot_cap = cap;
    return 0;
}

static tree_action_t *out_push(tree_relay_t *r)
{
    if (util_grow((void **)&r->out, &r->out_cap, r->out_len + 1,
             sizeof(*r->out)) < 0)
        return NULL;
    tree_action_t *a = &r->out[r->out_len++];
    memset(a, 0, offsetof(tree_action_t, reason));
    a->reason[0] = '\0';
    return a;
}

/* -------------------------------------------------------------- task table */

static size_t hash_key(uint32_t job, uint64_t index)
{
    uint64_t h = index * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)job << 32 | job);
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return (size_t)h;
}

static task_ent_t *tab_find(const tree_relay_t *r, uint32_t job,
                            uint64_t index)
{
    if (r->tab_cap == 0)
        return NULL;
    size_t mask = r->tab_cap - 1;
    for (size_t i = hash_key(job, index) & mask;; i = (i + 1) & mask) {
        task_ent_t *e = &r->tab[i];
        if (e->state == ENT_EMPTY)
            return NULL;
        if (e->job_id == job && e->index == index)
            return e;
    }
}

static int tab_rehash(tree_relay_t *r, size_t ncap)
{
    task_ent_t *nt = calloc(ncap, sizeof(*nt));
    if (!nt) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < r->tab_cap; i++) {
        task_ent_t *e = &r->tab[i];
        if (e->state == ENT_EMPTY)
            continue;
        size_t j = hash_key(e->job_id, e->index) & (ncap - 1);
        while (nt[j].state != ENT_EMPTY)
            j = (j + 1) & (ncap - 1);
        nt[j] = *e;
    }
    free(r->tab);
    r->tab = nt;
    r->tab_cap = ncap;
    return 0;
}

/* Insert an absent key; the new entry has only the key set. */
static task_ent_t *tab_insert(tree_relay_t *r, uint32_t job, uint64_t index)
{
    if ((r->tab_count + 1) * 4 > r->tab_cap * 3
        && tab_rehash(r, r->tab_cap ? r->tab_cap * 2 : 64) < 0)
        return NULL;
    size_t mask = r->tab_cap - 1;
    size_t i = hash_key(job, index) & mask;
    while (r->tab[i].state != ENT_EMPTY)
        i = (i + 1) & mask;
    task_ent_t *e = &r->tab[i];
    memset(e, 0, sizeof(*e));
    e->job_id = job;
    e->index = index;
    r->tab_count++;
    return e;
}

/* Remove an entry (backward-shift deletion: later cells of the same run
 * move back, so a caller iterating must look at the same cell again). */
static void tab_remove(tree_relay_t *r, task_ent_t *e)
{
    size_t mask = r->tab_cap - 1;
    size_t i = (size_t)(e - r->tab);
    for (;;) {
        r->tab[i].state = ENT_EMPTY;
        size_t j = i;
        for (;;) {
            j = (j + 1) & mask;
            if (r->tab[j].state == ENT_EMPTY)
                goto done;
            size_t home = hash_key(r->tab[j].job_id, r->tab[j].index) & mask;
            /* Can j move to i?  Only if home is not in (i, j]. */
            bool between = i <= j ? (home > i && home <= j)
                                  : (home > i || home <= j);
            if (!between)
                break;
        }
        r->tab[i] = r->tab[j];
        i = j;
    }
done:
    r->tab_count--;
}

/* ------------------------------------------------------------------- queue */

static int queue_push(tree_relay_t *r, task_ent_t *e)
{
    if (util_grow((void **)&r->queue, &r->queue_cap, r->nqueue + 1,
             sizeof(*r->queue)) < 0)
        return -1;
    e->state = ENT_QUEUED;
    e->qpos = (uint32_t)r->nqueue;
    r->queue[r->nqueue++] = (qkey_t){e->job_id, e->index};
    return 0;
}

/* Take e out of the queue (swap with the last). */
static void queue_drop(tree_relay_t *r, task_ent_t *e)
{
    uint32_t pos = e->qpos;
    qkey_t last = r->queue[--r->nqueue];
    if (pos != r->nqueue) {
        r->queue[pos] = last;
        task_ent_t *m = tab_find(r, last.job_id, last.index);
        if (m)
            m->qpos = pos;
    }
}

/* -------------------------------------------------------------------- park */

/* Park e (room in the park was reserved by the caller). */
static void park_push(tree_relay_t *r, task_ent_t *e, uint32_t victim,
                      uint32_t thief)
{
    e->state = ENT_PARKED;
    e->qpos = (uint32_t)r->npark;
    r->park[r->npark++] = (parked_t){e->job_id, e->index, victim, thief,
                                     INT64_MIN};
    if (thief != TREE_NONE)
        r->children[thief].parked++;
}

/* Take e out of the park, keeping the others in order.  Its thief's steal
 * may be settled at the next step. */
static void park_take(tree_relay_t *r, task_ent_t *e)
{
    size_t pos = e->qpos;
    uint32_t thief = r->park[pos].thief;
    memmove(&r->park[pos], &r->park[pos + 1],
            (r->npark - pos - 1) * sizeof(*r->park));
    r->npark--;
    for (size_t i = pos; i < r->npark; i++) {
        task_ent_t *m = tab_find(r, r->park[i].job_id, r->park[i].index);
        if (m)
            m->qpos = (uint32_t)i;
    }
    if (thief != TREE_NONE)
        r->children[thief].parked--;
    r->need_gen = true;
}

/* ------------------------------------------------------------------ create */

void tree_relay_config_default(tree_relay_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->is_root = false;
    cfg->prefetch = 2;
    cfg->queue_max = 65536;
    cfg->steal_min_free = 1;
    cfg->steal_retry_ms = 1000;
}

tree_relay_t *tree_relay_create(const tree_relay_config_t *cfg)
{
    tree_relay_config_t def;
    if (!cfg) {
        tree_relay_config_default(&def);
        cfg = &def;
    }
    if (cfg->prefetch < 1 || cfg->steal_retry_ms < 0) {
        errno = EINVAL;
        return NULL;
    }
    tree_relay_t *r = calloc(1, sizeof(*r));
    if (!r) {
        errno = ENOMEM;
        return NULL;
    }
    r->cfg = *cfg;
    if (r->cfg.steal_min_free < 1)
        r->cfg.steal_min_free = 1;
    sched_config_t sc;
    sched_config_default(&sc);
    r->core = sched_create(&sc);
    if (!r->core) {
        free(r);
        errno = ENOMEM;
        return NULL;
    }
    return r;
}

void tree_relay_destroy(tree_relay_t *r)
{
    if (!r)
        return;
    int saved = errno;
    sched_destroy(r->core);
    free(r->tab);
    free(r->children);
    free(r->slot_keys);
    free(r->slot_vals);
    free(r->jobs);
    free(r->queue);
    free(r->park);
    free(r->results);
    free(r->out);
    free(r);
    errno = saved;
}

/* ---------------------------------------------------------------- children */

static int child_add(tree_relay_t *r, uint32_t id, bool is_relay,
                     const tree_summary_t *sum, const res_capacity_t *cap)
{
    if (id == TREE_NONE || id == TREE_PARENT) {
        errno = EINVAL;
        return -1;
    }
    if (child_slot(r, id) != TREE_NONE) {
        errno = EEXIST;
        return -1;
    }
    size_t slot = r->nchildren;
    for (size_t i = 0; i < r->nchildren; i++)
        if (r->children[i].id == TREE_NONE) {
            slot = i;
            break;
        }
    if (slot == r->nchildren
        && util_grow((void **)&r->children, &r->children_cap, r->nchildren + 1,
                sizeof(*r->children)) < 0)
        return -1;
    res_pool_t *pool = res_pool_create(cap);
    if (!pool)
        return -1;
    if (sched_engine_add(r->core, id, pool) < 0)
        return -1; /* the core took the pool */
    relay_child_t *c = &r->children[slot];
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->is_relay = is_relay;
    c->sum = *sum;
    c->cap_slots = cap->slots;
    c->return_to = TREE_NONE;
    c->own_engine = TREE_NONE;
    if (slot == r->nchildren)
        r->nchildren++;
    if (slots_rebuild(r) < 0) {
        sched_engine_remove(r->core, id);
        c->id = TREE_NONE;
        return -1;
    }
    r->need_gen = true;
    return 0;
}

int tree_relay_set_own_engine(tree_relay_t *r, uint32_t relay_id,
                              uint32_t engine_id)
{
    uint32_t rs = child_slot(r, relay_id), es = child_slot(r, engine_id);
    if (rs == TREE_NONE || es == TREE_NONE) {
        errno = ENOENT;
        return -1;
    }
    if (!r->children[rs].is_relay || r->children[es].is_relay) {
        errno = EINVAL;
        return -1;
    }
    r->children[rs].own_engine = engine_id;
    return 0;
}

int tree_relay_add_engine(tree_relay_t *r, uint32_t id,
                          const res_capacity_t *cap)
{
    tree_summary_t sum;
    tree_summary_of(cap, &sum);
    return child_add(r, id, false, &sum, cap);
}

static uint32_t clip32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* The aggregate pool of a relay child: its subtree times the prefetch. */
static void aggregate_cap(const tree_relay_t *r, const tree_summary_t *sum,
                          res_capacity_t *cap)
{
    memset(cap, 0, sizeof(*cap));
    uint64_t pf = r->cfg.prefetch;
    cap->slots = clip32(mul_sat(sum->slots, pf));
    cap->cpus_milli = clip32(mul_sat(sum->cpus_milli, pf));
    cap->mem_bytes = mul_sat(sum->mem_bytes, pf);
    uint64_t g = mul_sat(sum->gpus, pf);
    cap->ngpus = g > RES_MAX_GPUS ? RES_MAX_GPUS : (int)g;
    for (int i = 0; i < cap->ngpus; i++)
        cap->gpus[i].index = i;
}

int tree_relay_add_relay(tree_relay_t *r, uint32_t id,
                         const tree_summary_t *sum)
{
    res_capacity_t cap;
    aggregate_cap(r, sum, &cap);
    return child_add(r, id, true, sum, &cap);
}

/* Resize a relay child's aggregate to its summary and custom resources.
 * GPU positions past the new count that tasks still use are kept (the pool
 * refuses to drop them), take no new task, and are dropped at a later
 * resize once released.  Custom names keep their positions. */
static int child_resize(tree_relay_t *r, relay_child_t *c)
{
    res_pool_t *pool = sched_engine_pool(r->core, c->id);
    if (!pool) {
        errno = ENOENT;
        return -1;
    }
    res_capacity_t cap;
    aggregate_cap(r, &c->sum, &cap);
    (void)tree_aggregate_custom(c->custom, c->ncustom, r->cfg.prefetch,
                                res_pool_capacity(pool), &cap);
    res_usage_t u;
    res_pool_usage(pool, &u);
    int keep = cap.ngpus;
    for (int g = cap.ngpus; g < res_pool_capacity(pool)->ngpus; g++)
        if (u.gpu_milli[g] != 0)
            keep = g + 1;
    int want = cap.ngpus;
    for (int g = cap.ngpus; g < keep; g++)
        cap.gpus[g].index = g;
    cap.ngpus = keep;
    if (sched_engine_set_capacity(r->core, c->id, &cap) < 0)
        return -1;
    /* The kept positions take nothing new, so that they drain. */
    c->resize_pending = keep > want;
    if (c->resize_pending)
        res_pool_limit_gpus(pool, want);
    c->cap_slots = cap.slots;
    r->need_gen = true;
    return 0;
}

int tree_relay_update_relay(tree_relay_t *r, uint32_t id,
                            const tree_summary_t *sum)
{
    uint32_t s = child_slot(r, id);
    if (s == TREE_NONE || !r->children[s].is_relay) {
        errno = ENOENT;
        return -1;
    }
    relay_child_t *c = &r->children[s];
    tree_summary_t old = c->sum;
    c->sum = *sum;
    if (child_resize(r, c) < 0) {
        c->sum = old;
        return -1;
    }
    return 0;
}

static bool custom_valid(const res_custom_t *v, int n)
{
    if (n < 0 || n > RES_MAX_CUSTOM || (n > 0 && !v))
        return false;
    for (int i = 0; i < n; i++) {
        size_t len = strnlen(v[i].name, RES_NAME_MAX);
        if (len == 0 || len == RES_NAME_MAX)
            return false;
        for (int j = 0; j < i; j++)
            if (strncmp(v[j].name, v[i].name, RES_NAME_MAX) == 0)
                return false;
    }
    return true;
}

int tree_relay_set_relay_custom(tree_relay_t *r, uint32_t id,
                                const res_custom_t *custom, int n)
{
    uint32_t s = child_slot(r, id);
    if (s == TREE_NONE || !r->children[s].is_relay) {
        errno = ENOENT;
        return -1;
    }
    if (!custom_valid(custom, n)) {
        errno = EINVAL;
        return -1;
    }
    relay_child_t *c = &r->children[s];
    int nold = c->ncustom;
    res_custom_t old[RES_MAX_CUSTOM];
    memcpy(old, c->custom, sizeof(old));
    memset(c->custom, 0, sizeof(c->custom));
    if (n > 0)
        memcpy(c->custom, custom, (size_t)n * sizeof(*custom));
    c->ncustom = n;
    if (child_resize(r, c) < 0) {
        int saved = errno;
        memcpy(c->custom, old, sizeof(old));
        c->ncustom = nold;
        errno = saved;
        return -1;
    }
    return 0;
}

uint64_t tree_relay_child_custom_free(const tree_relay_t *r, uint32_t child,
                                      const char *name)
{
    uint32_t s = child_slot(r, child);
    res_pool_t *pool = s == TREE_NONE ? NULL
                                      : sched_engine_pool(r->core, child);
    if (!pool || !name)
        return 0;
    const res_capacity_t *cap = res_pool_capacity(pool);
    res_usage_t u;
    res_pool_usage(pool, &u);
    for (int i = 0; i < cap->ncustom; i++)
        if (strncmp(cap->custom[i].name, name, RES_NAME_MAX) == 0)
            return cap->custom[i].amount > u.custom[i]
                       ? cap->custom[i].amount - u.custom[i]
                       : 0;
    return 0;
}

void tree_relay_set_own_free(tree_relay_t *r, uint32_t free_slots)
{
    if (r->own_free == free_slots)
        return;
    /* More room may make an idle relay ask for work now. */
    r->need_gen = r->need_gen || free_slots > r->own_free;
    r->own_free = free_slots;
}

/* A task placed on child c was released: a deferred shrink may go on. */
static void child_released(tree_relay_t *r, relay_child_t *c)
{
    c->inflight--;
    if (c->resize_pending)
        (void)child_resize(r, c); /* ENOMEM: tried again at the next one */
    r->need_gen = true;
}

/* Release what a CORE or PARKED entry holds on its child, without
 * requeuing it anywhere.  The entry stays; the caller removes or reuses
 * it. */
static void ent_release(tree_relay_t *r, task_ent_t *e)
{
    if (e->state == ENT_PARKED)
        park_take(r, e);
    sched_task_forget(r->core, e->job_id, e->index);
    child_released(r, &r->children[e->slot]);
}

/* A task the core has pending again (requeued or given back there): root,
 * e goes (the core's ranges hold it); else it is QUEUED.  Below the root
 * the queue had room made by the caller, or the task is lost here (-1). */
static int repend(tree_relay_t *r, task_ent_t *e)
{
    if (r->cfg.is_root)
        tab_remove(r, e);
    else if (queue_push(r, e) < 0) {
        sched_task_withdraw(r->core, e->job_id, e->index);
        tab_remove(r, e);
        return -1;
    }
    return 0;
}

/* A PARKED entry goes back to the core's pending tasks with its attempt
 * (sched_task_return), off its victim.  0 when pending again or dropped
 * (its job was cancelled), -1 ENOMEM (the task is lost here). */
static int unpark(tree_relay_t *r, task_ent_t *e)
{
    park_take(r, e);
    int rc = sched_task_return(r->core, e->job_id, e->index);
    child_released(r, &r->children[e->slot]);
    if (rc <= 0) {
        tab_remove(r, e);
        return rc;
    }
    return repend(r, e);
}

static void child_detach(tree_relay_t *r, uint32_t s);

int tree_relay_remove_child(tree_relay_t *r, uint32_t id)
{
    uint32_t s = child_slot(r, id);
    if (s == TREE_NONE) {
        errno = ENOENT;
        return -1;
    }
    /* Tasks parked off it never ran there: pending again, nothing
     * counted.  The core requeues the others (a run lost). */
    for (size_t i = 0; i < r->npark;) {
        task_ent_t *e = tab_find(r, r->park[i].job_id, r->park[i].index);
        if (e->slot == s)
            unpark(r, e); /* out of the park: i is the next one */
        else
            i++;
    }
    sched_engine_remove(r->core, id);
    for (size_t i = 0; i < r->tab_cap;) {
        task_ent_t *e = &r->tab[i];
        if (e->state != ENT_CORE || e->slot != s) {
            i++;
            continue;
        }
        /* Removed (root) or now QUEUED: either way cell i is looked at
         * again, and a QUEUED entry is passed over. */
        repend(r, e);
    }
    child_detach(r, s);
    return 0;
}

/* The last part of removing child slot s: its recalls are ended and the
 * slot is freed.  Its engine in the core is gone already. */
static void child_detach(tree_relay_t *r, uint32_t s)
{
    relay_child_t *c = &r->children[s];
    /* Recalls involving it: a thief that waited on it is settled at the
     * next step (denied if it got nothing); returns meant for it are
     * parked for no thief instead.  Tasks parked with it as victim may go
     * anywhere now; those parked for it as thief, to any child. */
    for (size_t i = 0; i < r->nchildren; i++) {
        relay_child_t *o = &r->children[i];
        if (o->id != TREE_NONE && o->return_to == s)
            o->return_to = TREE_NONE;
    }
    for (size_t i = 0; i < r->npark; i++) {
        if (r->park[i].victim == s)
            r->park[i].victim = TREE_NONE;
        if (r->park[i].thief == s)
            r->park[i].thief = TREE_NONE;
    }
    if (c->return_to != TREE_NONE && c->return_to != TREE_PARENT) {
        r->children[c->return_to].recalls--;
    } else if (c->return_to == TREE_PARENT) {
        tree_action_t *a = out_push(r);
        if (a)
            a->type = TREE_ACT_RECALL_DONE;
    }
    c->id = TREE_NONE;
    (void)slots_rebuild(r); /* on ENOMEM the old index stays; stale
                               entries are checked in child_slot() */
    r->need_gen = true;
}

static bool placed_on(const task_ent_t *e, uint32_t s)
{
    return e->state == ENT_CORE && e->slot == s;
}

int tree_relay_drop_child(tree_relay_t *r, uint32_t id, tree_task_t **out,
                          size_t *n)
{
    uint32_t s = child_slot(r, id);
    if (s == TREE_NONE) {
        errno = ENOENT;
        return -1;
    }
    /* Tasks it gave back are not below it: pending again. */
    for (size_t i = 0; i < r->npark;) {
        task_ent_t *e = tab_find(r, r->park[i].job_id, r->park[i].index);
        if (e->slot == s)
            unpark(r, e);
        else
            i++;
    }
    size_t count = 0;
    for (size_t i = 0; i < r->tab_cap; i++)
        count += placed_on(&r->tab[i], s);
    tree_task_t *list = NULL;
    if (count > 0 && !(list = malloc(count * sizeof(*list)))) {
        errno = ENOMEM;
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < r->tab_cap;) {
        task_ent_t *e = &r->tab[i];
        if (!placed_on(e, s)) {
            i++;
            continue;
        }
        list[k++] = (tree_task_t){e->job_id, e->index};
        sched_task_forget(r->core, e->job_id, e->index);
        tab_remove(r, e); /* cell i is looked at again */
    }
    r->children[s].inflight = 0;
    sched_engine_remove(r->core, id); /* nothing of it left to requeue */
    child_detach(r, s);
    *out = list;
    *n = k;
    return 0;
}

/* -------------------------------------------------------------------- jobs */

int tree_relay_add_job(tree_relay_t *r, const sched_job_t *def)
{
    if (job_find(r, def->id)) {
        errno = EEXIST;
        return -1;
    }
    if (util_grow((void **)&r->jobs, &r->jobs_cap, r->njobs + 1,
             sizeof(*r->jobs)) < 0)
        return -1;
    sched_job_t d = *def;
    if (!r->cfg.is_root)
        d.max_attempts = 1; /* the root decides retries */
    if (sched_job_add(r->core, &d) < 0)
        return -1;
    r->jobs[r->njobs++].def = *def;
    return 0;
}

int tree_relay_add_tasks(tree_relay_t *r, uint32_t job_id, uint64_t first,
                         uint64_t count)
{
    if (!r->cfg.is_root) {
        errno = EINVAL;
        return -1;
    }
    if (sched_job_add_tasks(r->core, job_id, first, count) < 0)
        return -1;
    /* A parked task is still the core's (on its victim): not pending. */
    for (size_t i = 0; i < r->npark; i++)
        if (r->park[i].job_id == job_id && r->park[i].index >= first
            && r->park[i].index - first < count)
            (void)sched_task_withdraw(r->core, job_id, r->park[i].index);
    r->need_gen = true;
    r->seen_work = true;
    return 0;
}

int tree_relay_assign(tree_relay_t *r, uint32_t job_id, uint64_t index)
{
    if (r->cfg.is_root) {
        errno = EINVAL;
        return -1;
    }
    if (!job_find(r, job_id)) {
        errno = ENOENT;
        return -1;
    }
    if (tab_find(r, job_id, index)) {
        errno = EEXIST;
        return -1;
    }
    if (r->nqueue >= r->cfg.queue_max) {
        errno = ENOSPC;
        return -1;
    }
    task_ent_t *e = tab_insert(r, job_id, index);
    if (!e)
        return -1;
    if (queue_push(r, e) < 0) {
        tab_remove(r, e);
        return -1;
    }
    if (sched_job_add_tasks(r->core, job_id, index, 1) < 0) {
        e = tab_find(r, job_id, index);
        queue_drop(r, e);
        tab_remove(r, e);
        return -1;
    }
    r->steal_out = false; /* work came: a steal is answered */
    r->seen_work = true;
    r->need_gen = true;
    return 0;
}

/* ---------------------------------------------------------------- results */

int tree_relay_task_done(tree_relay_t *r, uint32_t job_id, uint64_t index,
                         sched_outcome_t outcome)
{
    task_ent_t *e = tab_find(r, job_id, index);
    if (!e || e->state != ENT_CORE) {
        errno = ENOENT;
        return -1;
    }
    if (!r->cfg.is_root
        && util_grow((void **)&r->results, &r->results_cap, r->nresults + 1,
                sizeof(*r->results)) < 0)
        return -1;
    relay_child_t *c = &r->children[e->slot];
    int rc = sched_task_done(r->core, job_id, index,
                             r->cfg.is_root ? outcome : SCHED_FINAL);
    if (rc < 0)
        rc = 0;
    tab_remove(r, e);
    child_released(r, c);
    if (!r->cfg.is_root)
        r->results[r->nresults++] = (tree_result_t){job_id, index, outcome};
    return rc;
}

int tree_relay_forget(tree_relay_t *r, uint32_t job_id, uint64_t index)
{
    task_ent_t *e = tab_find(r, job_id, index);
    if (!e) {
        /* The root keeps pending tasks as ranges in the core only. */
        if (r->cfg.is_root
            && sched_task_withdraw(r->core, job_id, index) == 0) {
            r->need_gen = true;
            return 0;
        }
        errno = ENOENT;
        return -1;
    }
    if (e->state == ENT_QUEUED) {
        /* Withdraw first: it is the step that can fail (ENOMEM). */
        if (sched_task_withdraw(r->core, job_id, index) < 0
            && errno != ENOENT)
            return -1;
        queue_drop(r, e);
    } else {
        ent_release(r, e);
    }
    tab_remove(r, e);
    r->need_gen = true;
    return 0;
}

int tree_relay_rejected(tree_relay_t *r, uint32_t child, uint32_t job_id,
                        uint64_t index)
{
    uint32_t s = child_slot(r, child);
    task_ent_t *e = tab_find(r, job_id, index);
    if (s == TREE_NONE || !e || !placed_on(e, s)) {
        errno = ENOENT;
        return -1;
    }
    /* Room in the queue first, so that nothing below can fail halfway. */
    if (!r->cfg.is_root
        && util_grow((void **)&r->queue, &r->queue_cap, r->nqueue + 1,
                     sizeof(*r->queue)) < 0)
        return -1;
    if (sched_engine_exclude_job(r->core, child, job_id) < 0)
        return -1;
    /* Pending again in the core with the same attempt. */
    int rc = sched_task_return(r->core, job_id, index);
    if (rc < 0)
        return -1;
    child_released(r, &r->children[s]);
    if (rc == 0)
        tab_remove(r, e); /* its job was cancelled: dropped */
    else
        (void)repend(r, e); /* room was made above */
    return 0;
}

/* Put e (QUEUED, PARKED, or fresh: only its key set) on child slot s in
 * the core, with the exact allocation alloc (engine child) or the job's
 * request even past capacity (NULL; a relay child always).  A parked task
 * leaves its victim first, keeping its attempt (attempt 0: the core's).
 * 0, or -1 with errno, and then e is as it was, or pending again (parked),
 * or gone (fresh, or parked with its job cancelled). */
static int place_on(tree_relay_t *r, task_ent_t *e, uint32_t s,
                    uint32_t attempt, const res_alloc_t *alloc)
{
    relay_child_t *c = &r->children[s];
    uint32_t state = e->state;
    if (state == ENT_PARKED) {
        park_take(r, e);
        int rc = sched_task_return(r->core, e->job_id, e->index);
        child_released(r, &r->children[e->slot]);
        if (rc <= 0) {
            tab_remove(r, e);
            errno = rc == 0 ? ENOENT : errno;
            return -1;
        }
    }
    /* The core stops having it pending (queued here, in the root's
     * ranges, or given back by its victim) and counts it on the child. */
    if (sched_task_adopt(r->core, e->job_id, e->index, attempt, c->id,
                         c->is_relay ? NULL : alloc) < 0) {
        int saved = errno;
        if (state == ENT_PARKED)
            (void)repend(r, e);
        else if (state != ENT_QUEUED)
            tab_remove(r, e);
        errno = saved;
        return -1;
    }
    if (state == ENT_QUEUED)
        queue_drop(r, e);
    e->state = ENT_CORE;
    e->slot = s;
    e->attempt = sched_task_attempt(r->core, e->job_id, e->index);
    c->inflight++;
    c->got++;
    r->need_gen = true;
    return 0;
}

int tree_relay_adopt(tree_relay_t *r, uint32_t child, uint32_t job_id,
                     uint64_t index, uint32_t attempt,
                     const res_alloc_t *alloc)
{
    uint32_t s = child_slot(r, child);
    if (s == TREE_NONE || !job_find(r, job_id)) {
        errno = ENOENT;
        return -1;
    }
    task_ent_t *e = tab_find(r, job_id, index);
    if (e && e->state == ENT_CORE) {
        errno = EEXIST;
        return -1;
    }
    if (!e && !(e = tab_insert(r, job_id, index)))
        return -1;
    return place_on(r, e, s, attempt, alloc);
}

size_t tree_relay_take_results(tree_relay_t *r, tree_result_t *out,
                               size_t max)
{
    size_t n = r->nresults < max ? r->nresults : max;
    if (n == 0) /* r->results may still be NULL */
        return 0;
    memcpy(out, r->results, n * sizeof(*out));
    memmove(r->results, r->results + n,
            (r->nresults - n) * sizeof(*r->results));
    r->nresults -= n;
    return n;
}

size_t tree_relay_results_waiting(const tree_relay_t *r)
{
    return r->nresults;
}

/* ------------------------------------------------------------------ steals */

void tree_relay_child_queued(tree_relay_t *r, uint32_t child,
                             uint64_t queued)
{
    uint32_t s = child_slot(r, child);
    if (s != TREE_NONE)
        r->children[s].queued = queued;
}

int tree_relay_steal(tree_relay_t *r, uint32_t thief, uint32_t want)
{
    uint32_t s = child_slot(r, thief);
    if (s == TREE_NONE) {
        errno = ENOENT;
        return -1;
    }
    r->children[s].steal_want = want ? want : 1;
    r->need_gen = true;
    return 0;
}

void tree_relay_steal_denied(tree_relay_t *r, int64_t now_ms)
{
    r->steal_out = false;
    r->steal_next_ms = now_ms + r->cfg.steal_retry_ms;
    r->need_gen = true;
}

void tree_relay_recall(tree_relay_t *r, uint32_t n)
{
    r->recall_want += n;
    r->need_gen = true;
}

int tree_relay_returned(tree_relay_t *r, uint32_t child, uint32_t job_id,
                        uint64_t index)
{
    uint32_t s = child_slot(r, child);
    task_ent_t *e = tab_find(r, job_id, index);
    if (s == TREE_NONE || !e || e->state != ENT_CORE || e->slot != s) {
        errno = ENOENT;
        return -1;
    }
    relay_child_t *v = &r->children[s];
    tree_action_t *a = NULL;
    if (v->return_to == TREE_PARENT) {
        /* Passed up: make room for the RETURN before changing anything. */
        if (!(a = out_push(r)))
            return -1;
    } else if (util_grow((void **)&r->park, &r->park_cap, r->npark + 1,
                         sizeof(*r->park)) < 0) {
        return -1;
    }
    v->returned++;
    v->queued = v->queued > 0 ? v->queued - 1 : 0;
    r->need_gen = true;
    if (a) {
        sched_task_forget(r->core, job_id, index);
        child_released(r, v);
        tab_remove(r, e);
        a->type = TREE_ACT_RETURN;
        a->job_id = job_id;
        a->index = index;
        return 0;
    }
    /* Still charged to the victim, not pending, so that the core does not
     * put it straight back there: the step places it (place_parked). */
    park_push(r, e, s, v->return_to);
    return 0;
}

int tree_relay_recall_done(tree_relay_t *r, uint32_t child)
{
    uint32_t s = child_slot(r, child);
    if (s == TREE_NONE) {
        errno = ENOENT;
        return -1;
    }
    relay_child_t *v = &r->children[s];
    if (v->return_to == TREE_PARENT) {
        tree_action_t *a = out_push(r);
        if (!a)
            return -1;
        a->type = TREE_ACT_RECALL_DONE;
        a->count = v->returned;
    } else if (v->return_to != TREE_NONE) {
        /* The thief is settled at the step, once what came back for it
         * is placed: denied if it got nothing. */
        r->children[v->return_to].recalls--;
    }
    v->return_to = TREE_NONE;
    v->returned = 0;
    r->need_gen = true;
    return 0;
}

/* -------------------------------------------------------------------- step */

/* The core found a job infeasible: its parked tasks go too (reject: each
 * is handed up as REJECT).  Returns how many, UINT64_MAX on ENOMEM (those
 * not handed up yet stay parked). */
static uint64_t drop_parked(tree_relay_t *r, uint32_t job_id, bool reject)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->npark;) {
        if (r->park[i].job_id != job_id) {
            i++;
            continue;
        }
        tree_action_t *a = reject ? out_push(r) : NULL;
        if (reject && !a)
            return UINT64_MAX;
        task_ent_t *e = tab_find(r, job_id, r->park[i].index);
        if (a) {
            a->type = TREE_ACT_REJECT;
            a->job_id = job_id;
            a->index = e->index;
        }
        ent_release(r, e);
        tab_remove(r, e);
        n++;
    }
    return n;
}

/* Run the core until it has nothing more to start now, or it has started
 * budget tasks (then *more is set: the next step goes on). */
static int gen_core(tree_relay_t *r, int64_t now_ms, size_t budget,
                    bool *more)
{
    sched_action_t acts[256];
    int n;
    do {
        int want = budget < 256 ? (int)budget : 256;
        n = sched_step(r->core, now_ms, acts, want);
        budget -= (size_t)n;
        for (int i = 0; i < n; i++) {
            sched_action_t *sa = &acts[i];
            if (sa->type == SCHED_ACT_INFEASIBLE) {
                if (r->cfg.is_root) {
                    tree_action_t *a = out_push(r);
                    if (!a)
                        return -1;
                    a->type = TREE_ACT_INFEASIBLE;
                    a->job_id = sa->job_id;
                    a->count = sa->dropped
                               + drop_parked(r, sa->job_id, false);
                    memcpy(a->reason, sa->reason, sizeof(a->reason));
                    continue;
                }
                if (drop_parked(r, sa->job_id, true) == UINT64_MAX)
                    return -1;
                /* Below the root: hand every queued task of it back. */
                for (size_t q = 0; q < r->nqueue;) {
                    if (r->queue[q].job_id != sa->job_id) {
                        q++;
                        continue;
                    }
                    tree_action_t *a = out_push(r);
                    if (!a)
                        return -1;
                    a->type = TREE_ACT_REJECT;
                    a->job_id = sa->job_id;
                    a->index = r->queue[q].index;
                    task_ent_t *e = tab_find(r, a->job_id, a->index);
                    queue_drop(r, e);
                    tab_remove(r, e);
                }
                continue;
            }
            uint32_t s = child_slot(r, sa->engine_id);
            task_ent_t *e = tab_find(r, sa->job_id, sa->index);
            if (e && e->state == ENT_QUEUED)
                queue_drop(r, e);
            else if (!e)
                e = tab_insert(r, sa->job_id, sa->index);
            tree_action_t *a = e ? out_push(r) : NULL;
            if (!a) {
                /* Out of memory: undo the start. */
                sched_task_done(r->core, sa->job_id, sa->index, SCHED_FINAL);
                if (e)
                    tab_remove(r, e);
                if (!r->cfg.is_root)
                    return -1; /* the task is lost here; caller reports */
                sched_job_add_tasks(r->core, sa->job_id, sa->index, 1);
                return -1;
            }
            e->state = ENT_CORE;
            e->slot = s;
            e->attempt = sa->attempt;
            r->children[s].inflight++;
            r->children[s].got++;
            a->type = TREE_ACT_ASSIGN;
            a->child = sa->engine_id;
            a->job_id = sa->job_id;
            a->index = sa->index;
            a->attempt = sa->attempt;
            a->lost = sa->lost;
            /* An engine child gets the exact allocation from its real
             * pool; a relay child places the task itself. */
            a->exact = !r->children[s].is_relay;
            if (a->exact)
                a->alloc = sa->alloc;
        }
        if (n == want && budget == 0) {
            *more = true;
            return 0;
        }
    } while (n == 256);
    return 0;
}

/* The child with the most queued work, other than skip; TREE_NONE. */
static uint32_t busiest(const tree_relay_t *r, uint32_t skip)
{
    uint32_t best = TREE_NONE;
    uint64_t most = 0;
    for (size_t i = 0; i < r->nchildren; i++) {
        const relay_child_t *c = &r->children[i];
        if (c->id == TREE_NONE || i == skip || c->return_to != TREE_NONE)
            continue;
        if (c->queued > most) {
            most = c->queued;
            best = (uint32_t)i;
        }
    }
    return best;
}

/* Give queued tasks back to the parent, newest first. */
static int gen_recall(tree_relay_t *r)
{
    uint32_t given = 0;
    /* Parked tasks first: they found no room here. */
    while (r->recall_want > 0 && r->npark > 0) {
        tree_action_t *a = out_push(r);
        if (!a)
            return -1;
        task_ent_t *e = tab_find(r, r->park[0].job_id, r->park[0].index);
        a->type = TREE_ACT_RETURN;
        a->job_id = e->job_id;
        a->index = e->index;
        ent_release(r, e);
        tab_remove(r, e);
        r->recall_want--;
        given++;
    }
    while (r->recall_want > 0 && r->nqueue > 0) {
        qkey_t k = r->queue[r->nqueue - 1];
        task_ent_t *e = tab_find(r, k.job_id, k.index);
        /* The core has it pending too: withdraw it there first (the step
         * that can fail), then give it back. */
        if (sched_task_withdraw(r->core, k.job_id, k.index) < 0
            && errno != ENOENT)
            return -1;
        tree_action_t *a = out_push(r);
        if (!a) {
            sched_job_add_tasks(r->core, k.job_id, k.index, 1);
            return -1;
        }
        a->type = TREE_ACT_RETURN;
        a->job_id = k.job_id;
        a->index = k.index;
        queue_drop(r, e);
        tab_remove(r, e);
        r->recall_want--;
        given++;
    }
    if (r->recall_want > 0) {
        /* Nothing queued here: pass the recall to the busiest child. */
        uint32_t v = given == 0 ? busiest(r, TREE_NONE) : TREE_NONE;
        if (v != TREE_NONE) {
            relay_child_t *c = &r->children[v];
            tree_action_t *a = out_push(r);
            if (!a)
                return -1;
            a->type = TREE_ACT_RECALL;
            a->child = c->id;
            a->count = r->recall_want;
            c->return_to = TREE_PARENT;
            c->returned = 0;
            r->recall_want = 0;
            return 0;
        }
    }
    if (r->recall_want > 0 || given > 0) {
        tree_action_t *a = out_push(r);
        if (!a)
            return -1;
        a->type = TREE_ACT_RECALL_DONE;
        a->count = given;
        r->recall_want = 0;
    }
    return 0;
}

/* Answer the children's steals. */
static int gen_steals(tree_relay_t *r)
{
    for (size_t i = 0; i < r->nchildren; i++) {
        relay_child_t *t = &r->children[i];
        if (t->id == TREE_NONE)
            continue;
        if (t->steal_open && t->recalls == 0 && t->parked == 0) {
            /* Every recall for it is done and nothing waits for it. */
            if (t->got == 0) {
                tree_action_t *a = out_push(r);
                if (!a)
                    return -1;
                a->type = TREE_ACT_DENY;
                a->child = t->id;
            }
            t->steal_open = false;
        }
        if (t->steal_want == 0)
            continue;
        uint32_t want = t->steal_want;
        t->steal_want = 0;
        uint32_t v = busiest(r, (uint32_t)i);
        tree_action_t *a = out_push(r);
        if (!a)
            return -1;
        if (v == TREE_NONE) {
            a->type = TREE_ACT_DENY;
            a->child = t->id;
            continue;
        }
        relay_child_t *c = &r->children[v];
        uint64_t n = (c->queued + 1) / 2;
        if (n > want)
            n = want;
        a->type = TREE_ACT_RECALL;
        a->child = c->id;
        a->count = n;
        c->return_to = (uint32_t)i;
        c->returned = 0;
        t->recalls++;
        if (!t->steal_open) {
            t->steal_open = true;
            t->got = 0;
        }
    }
    return 0;
}

static uint64_t free_slots(const tree_relay_t *r, uint64_t *child_queued)
{
    uint64_t f = 0, q = 0;
    for (size_t i = 0; i < r->nchildren; i++) {
        const relay_child_t *c = &r->children[i];
        if (c->id == TREE_NONE)
            continue;
        if (c->cap_slots > c->inflight)
            f += c->cap_slots - c->inflight;
        q += c->queued;
    }
    if (child_queued)
        *child_queued = q;
    return f;
}

static int gen_own_steal(tree_relay_t *r, int64_t now_ms)
{
    r->steal_wait = false;
    if (r->cfg.is_root || r->steal_out || !r->seen_work || r->nqueue > 0
        || r->npark > 0)
        return 0;
    uint64_t q;
    /* The own engine's idle slots count: its relay is the one that can
     * fetch work for it (its parent places it, and sees no queue). */
    uint64_t f = free_slots(r, &q) + r->own_free;
    if (q > 0 || f < r->cfg.steal_min_free)
        return 0;
    if (now_ms < r->steal_next_ms) {
        /* Idle, but a DENY (or our last STEAL) was too recent.  No event
         * may come while idle: the step looks at the clock instead. */
        r->steal_wait = true;
        return 0;
    }
    tree_action_t *a = out_push(r);
    if (!a)
        return -1;
    a->type = TREE_ACT_STEAL;
    a->count = f;
    r->steal_out = true;
    r->steal_next_ms = now_ms + r->cfg.steal_retry_ms;
    return 0;
}

/* Place e (PARKED) on child slot to if its job fits there now: 0 placed
 * (ASSIGN out, the attempt it had), 1 it does not fit there now (e stays
 * parked), -1 ENOMEM (e is pending again, or gone if its job was
 * cancelled). */
static int place_direct(tree_relay_t *r, task_ent_t *e, uint32_t to,
                        const relay_job_t *j)
{
    relay_child_t *t = &r->children[to];
    res_pool_t *pool = sched_engine_pool(r->core, t->id);
    res_alloc_t alloc;
    if (!pool || sched_engine_excludes(r->core, t->id, j->def.id)
        || res_pool_acquire(pool, &j->def.req, &alloc) < 0)
        return 1;
    res_pool_release(pool, &alloc); /* claimed again by the core */
    tree_action_t *a = out_push(r);
    if (!a) {
        errno = ENOMEM;
        return 1;
    }
    if (place_on(r, e, to, e->attempt, &alloc) < 0) {
        r->out_len--; /* unused */
        return -1;
    }
    a->type = TREE_ACT_ASSIGN;
    a->child = t->id;
    a->job_id = e->job_id;
    a->index = e->index;
    a->attempt = e->attempt;
    a->exact = !t->is_relay;
    if (a->exact)
        a->alloc = alloc;
    return 0;
}

/* Where a parked task may go now, its thief aside: the child other than
 * its victim with the most free slots that fits it now (ignoring holds;
 * place_direct checks them) and has not rejected its job.  *ever: some
 * child other than the victim could ever run it. */
static uint32_t park_target(tree_relay_t *r, const parked_t *p,
                            const relay_job_t *j, bool *ever)
{
    uint32_t best = TREE_NONE;
    uint64_t most = 0;
    *ever = false;
    for (size_t i = 0; i < r->nchildren; i++) {
        relay_child_t *c = &r->children[i];
        if (c->id == TREE_NONE || i == p->victim
            || sched_engine_excludes(r->core, c->id, j->def.id))
            continue;
        res_pool_t *pool = sched_engine_pool(r->core, c->id);
        if (!pool || !res_pool_fits_ever(pool, &j->def.req, NULL))
            continue;
        *ever = true;
        uint64_t f = c->cap_slots > c->inflight ? c->cap_slots - c->inflight
                                                : 0;
        if (f > most && res_pool_shortfall(pool, &j->def.req) == 0) {
            most = f;
            best = (uint32_t)i;
        }
    }
    return best;
}

/* The slot of a thief's own engine when the task should go there first:
 * the thief is a relay child paired with it (tree_relay_set_own_engine)
 * whose subtree runs as many tasks as it has slots, so that the steal came
 * from its idle own engine.  TREE_NONE otherwise. */
static uint32_t own_first(const tree_relay_t *r, uint32_t thief)
{
    const relay_child_t *t = &r->children[thief];
    if (!t->is_relay || t->own_engine == TREE_NONE
        || t->inflight < t->sum.slots)
        return TREE_NONE;
    return child_slot(r, t->own_engine);
}

/* Place parked tasks, oldest first: on the thief if it fits (on its own
 * engine first when its subtree is full), else on the
 * best other child (never the victim); a task that cannot be placed waits
 * up to steal_retry_ms, then (or at once when only its victim could ever
 * run it, or its victim is gone) it is pending in the core again. */
static int place_parked(tree_relay_t *r, int64_t now_ms)
{
    for (size_t i = 0; i < r->npark;) {
        parked_t *p = &r->park[i];
        if (p->since_ms == INT64_MIN)
            p->since_ms = now_ms;
        task_ent_t *e = tab_find(r, p->job_id, p->index);
        const relay_job_t *j = job_find(r, p->job_id);
        bool ever = false;
        int rc = 1;
        if (j && p->victim != TREE_NONE && p->thief != TREE_NONE) {
            uint32_t own = own_first(r, p->thief);
            if (own != TREE_NONE)
                rc = place_direct(r, e, own, j);
            if (rc == 1)
                rc = place_direct(r, e, p->thief, j);
        }
        if (rc == 1 && j && p->victim != TREE_NONE) {
            uint32_t to = park_target(r, p, j, &ever);
            if (to != TREE_NONE)
                rc = place_direct(r, e, to, j);
        }
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue; /* taken out of the park: i is the next one */
        if (j && p->victim != TREE_NONE && ever
            && now_ms - p->since_ms < r->cfg.steal_retry_ms) {
            i++;
            continue;
        }
        /* To the core.  Room in the queue first, so that it is not lost. */
        if (!r->cfg.is_root
            && util_grow((void **)&r->queue, &r->queue_cap, r->nqueue + 1,
                         sizeof(*r->queue)) < 0)
            return -1;
        if (unpark(r, e) < 0)
            return -1;
    }
    return 0;
}

int tree_relay_step(tree_relay_t *r, int64_t now_ms, tree_action_t *out,
                    int max)
{
    if (r->out_head == r->out_len)
        r->out_head = r->out_len = 0;
    /* An idle relay whose retry delay has passed asks again. */
    if (r->steal_wait && now_ms >= r->steal_next_ms)
        r->need_gen = true;
    /* Before the core: parked tasks take the room first. */
    if (r->npark > 0 && place_parked(r, now_ms) < 0)
        r->need_gen = true; /* ENOMEM: try again at the next step */
    if (r->need_gen) {
        /* The core places at most max tasks a step (a loop that must stay
         * responsive calls again); the protocol's answers come each step. */
        bool more = false;
        r->need_gen = false;
        if (gen_core(r, now_ms, max > 0 ? (size_t)max : 1, &more) < 0
            || gen_recall(r) < 0 || gen_steals(r) < 0
            || gen_own_steal(r, now_ms) < 0 || more)
            r->need_gen = true; /* ENOMEM, or more to place: next step */
    }
    size_t avail = r->out_len - r->out_head;
    size_t n = max < 0 ? 0 : (size_t)max;
    if (n > avail)
        n = avail;
    if (n > 0) /* r->out is NULL until the first action */
        memcpy(out, r->out + r->out_head, n * sizeof(*out));
    r->out_head += n;
    return (int)n;
}

/* -------------------------------------------------------------- inspection */

void tree_relay_report(const tree_relay_t *r, tree_report_t *rep)
{
    memset(rep, 0, sizeof(*rep));
    uint64_t q;
    rep->free_slots = free_slots(r, &q);
    for (size_t i = 0; i < r->nchildren; i++) {
        const relay_child_t *c = &r->children[i];
        if (c->id == TREE_NONE)
            continue;
        tree_summary_add(&rep->total, &c->sum);
        rep->inflight += c->inflight;
    }
    rep->queued = tree_relay_queued(r) + q;
}

uint64_t tree_relay_queued(const tree_relay_t *r)
{
    if (r->cfg.is_root) {
        sched_stats_t st;
        sched_get_stats(r->core, &st);
        return st.pending + r->npark;
    }
    return r->nqueue + r->npark;
}

uint32_t tree_relay_task_child(const tree_relay_t *r, uint32_t job_id,
                               uint64_t index)
{
    const task_ent_t *e = tab_find(r, job_id, index);
    if (!e || e->state != ENT_CORE)
        return TREE_NONE;
    return r->children[e->slot].id;
}

uint64_t tree_relay_child_inflight(const tree_relay_t *r, uint32_t child)
{
    uint32_t s = child_slot(r, child);
    return s == TREE_NONE ? 0 : r->children[s].inflight;
}

/* ---------------------------------------------------------------- the root */

int tree_relay_set_weight(tree_relay_t *r, uint32_t child, double weight)
{
    return sched_engine_set_weight(r->core, child, weight);
}

int tree_relay_set_prefetch(tree_relay_t *r, unsigned prefetch)
{
    if (prefetch < 1) {
        errno = EINVAL;
        return -1;
    }
    if (prefetch == r->cfg.prefetch)
        return 0;
    r->cfg.prefetch = prefetch;
    int rc = 0;
    for (size_t i = 0; i < r->nchildren; i++)
        if (r->children[i].id != TREE_NONE && r->children[i].is_relay
            && child_resize(r, &r->children[i]) < 0)
            rc = -1;
    return rc;
}

int tree_relay_cancel_job(tree_relay_t *r, uint32_t job_id)
{
    if (sched_job_cancel(r->core, job_id) < 0)
        return -1;
    /* Parked tasks have not run again: dropped with the pending ones. */
    for (size_t i = 0; i < r->npark;) {
        task_ent_t *e = tab_find(r, r->park[i].job_id, r->park[i].index);
        if (e->job_id == job_id)
            (void)unpark(r, e); /* dropped: the job is cancelled */
        else
            i++;
    }
    r->need_gen = true;
    return 0;
}

int tree_relay_remove_job(tree_relay_t *r, uint32_t job_id)
{
    relay_job_t *j = job_find(r, job_id);
    if (!j) {
        errno = ENOENT;
        return -1;
    }
    if (sched_job_remove(r->core, job_id) < 0)
        return -1;
    *j = r->jobs[--r->njobs];
    return 0;
}

void tree_relay_job_counts(const tree_relay_t *r, uint32_t job_id,
                           uint64_t *pending, uint64_t *running)
{
    uint64_t parked = 0;
    for (size_t i = 0; i < r->npark; i++)
        parked += r->park[i].job_id == job_id;
    uint64_t run = sched_job_running(r->core, job_id);
    if (pending)
        *pending = sched_job_pending(r->core, job_id) + parked;
    if (running)
        *running = run - parked;
}

char *tree_relay_explain(const tree_relay_t *r, uint32_t job_id,
                         uint64_t index, char *buf, size_t size)
{
    const task_ent_t *e = tab_find(r, job_id, index);
    if (e && e->state == ENT_PARKED) {
        snprintf(buf, size, "pending: given back by child %" PRIu32
                 " for a steal, waiting for room on another child",
                 r->children[e->slot].id);
        return buf;
    }
    return sched_explain(r->core, job_id, index, buf, size);
}

const res_pool_t *tree_relay_child_pool(const tree_relay_t *r,
                                        uint32_t child)
{
    return child_slot(r, child) == TREE_NONE
               ? NULL
               : sched_engine_pool(r->core, child);
}

bool tree_relay_fits_ever(const tree_relay_t *r, uint32_t job_id,
                          banyan_error_t *why)
{
    const relay_job_t *j = job_find(r, job_id);
    for (size_t i = 0; j && i < r->nchildren; i++) {
        uint32_t id = r->children[i].id;
        if (id == TREE_NONE || sched_engine_excludes(r->core, id, job_id))
            continue;
        res_pool_t *pool = sched_engine_pool(r->core, id);
        if (pool && res_pool_fits_ever(pool, &j->def.req, why))
            return true;
    }
    return false;
}
