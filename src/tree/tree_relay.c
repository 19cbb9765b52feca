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
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "tree/tree_relay_private.h"

/* ----------------------------------------------------------------- helpers */

sched_job_t *relay__job_find(const tree_relay_t *r, uint32_t id)
{
    for (size_t i = 0; i < r->njobs; i++)
        if (r->jobs[i].id == id)
            return &r->jobs[i];
    return NULL;
}

/* The slot of child id in r->children, TREE_NONE with ENOENT. */
uint32_t relay__child_slot(const tree_relay_t *r, uint32_t id)
{
    const uint32_t *slot = util_hmap_find(r->slots, &id);
    return slot ? *slot : TREE_NONE;
}

tree_action_t *relay__out_push(tree_relay_t *r, tree_act_type_t type)
{
    if (util_grow((void **)&r->out, &r->out_cap, r->out_len + 1,
                  sizeof(*r->out)) < 0)
        return NULL;
    tree_action_t *a = &r->out[r->out_len++];
    memset(a, 0, offsetof(tree_action_t, reason));
    a->reason[0] = '\0';
    a->type = type;
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

task_ent_t *relay__tab_find(const tree_relay_t *r, uint32_t job,
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
    if (!nt)
        return -1;
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
    assert(r->tab_count > 0 && e >= r->tab && e < r->tab + r->tab_cap);
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

/* Room for one more task in the queue (none needed at the root). */
int relay__queue_reserve(tree_relay_t *r)
{
    if (r->cfg.is_root)
        return 0;
    return util_grow((void **)&r->queue, &r->queue_cap, r->nqueue + 1,
                     sizeof(*r->queue));
}

static int queue_push(tree_relay_t *r, task_ent_t *e)
{
    if (relay__queue_reserve(r) < 0)
        return -1;
    e->state = ENT_QUEUED;
    e->qpos = (uint32_t)r->nqueue;
    r->queue[r->nqueue++] = (qkey_t){e->job_id, e->index};
    return 0;
}

/* Take e out of the queue (swap with the last). */
static void queue_drop(tree_relay_t *r, task_ent_t *e)
{
    assert(e->state == ENT_QUEUED && e->qpos < r->nqueue);
    uint32_t pos = e->qpos;
    qkey_t last = r->queue[--r->nqueue];
    if (pos != r->nqueue) {
        r->queue[pos] = last;
        task_ent_t *m = relay__tab_find(r, last.job_id, last.index);
        if (m)
            m->qpos = pos;
    }
}

/* ------------------------------------------------------------------ create */

void tree_relay_config_default(tree_relay_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
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
    if (!r)
        return NULL;
    r->cfg = *cfg;
    if (r->cfg.steal_min_free < 1)
        r->cfg.steal_min_free = 1;
    sched_config_t sc;
    sched_config_default(&sc);
    r->core = sched_create(&sc);
    r->slots = util_hmap_create(sizeof(uint32_t), sizeof(uint32_t), NULL,
                                NULL);
    if (!r->core || !r->slots) {
        tree_relay_destroy(r);
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
    util_hmap_destroy(r->slots);
    free(r->jobs);
    free(r->queue);
    free(r->park);
    free(r->results);
    free(r->out);
    free(r);
    errno = saved;
}

/* ---------------------------------------------------------------- children */

int relay__child_add(tree_relay_t *r, uint32_t id, bool is_relay,
                     const tree_summary_t *sum, const res_capacity_t *cap)
{
    if (id == TREE_NONE || id == TREE_PARENT) {
        errno = EINVAL;
        return -1;
    }
    if (relay__child_slot(r, id) != TREE_NONE) {
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
    uint32_t *index = util_hmap_insert(r->slots, &id, NULL);
    if (!index)
        return -1;
    *index = (uint32_t)slot;
    res_pool_t *pool = res_pool_create(cap);
    /* On failure the core took the pool. */
    if (!pool || sched_engine_add(r->core, id, pool) < 0) {
        int saved = errno;
        (void)util_hmap_remove(r->slots, &id);
        errno = saved;
        return -1;
    }
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
    r->need_gen = true;
    return 0;
}

int tree_relay_set_own_engine(tree_relay_t *r, uint32_t relay_id,
                              uint32_t engine_id)
{
    uint32_t rs = relay__child_slot(r, relay_id);
    uint32_t es = relay__child_slot(r, engine_id);
    if (rs == TREE_NONE || es == TREE_NONE)
        return -1;
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
    return relay__child_add(r, id, false, &sum, cap);
}

/* A task placed on child c was released: a deferred shrink may go on. */
void relay__child_released(tree_relay_t *r, relay_child_t *c)
{
    assert(c->inflight > 0);
    c->inflight--;
    if (c->resize_pending)
        (void)relay__child_resize(r, c); /* ENOMEM: again at the next */
    r->need_gen = true;
}

/* Forget e without requeuing it anywhere: out of the queue (QUEUED; the
 * caller withdrew it from the core) or off its child (CORE, PARKED), and
 * out of the table. */
void relay__ent_drop(tree_relay_t *r, task_ent_t *e)
{
    if (e->state == ENT_QUEUED) {
        queue_drop(r, e);
    } else {
        if (e->state == ENT_PARKED)
            relay__park_take(r, e);
        sched_task_forget(r->core, e->job_id, e->index);
        relay__child_released(r, &r->children[e->slot]);
    }
    tab_remove(r, e);
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

/* A PARKED entry leaves the park and its victim: the core has it pending
 * with its attempt (sched_task_return).  1 then, with e kept for the
 * caller; 0 (its job was cancelled) or -1 ENOMEM: e is gone. */
static int park_return(tree_relay_t *r, task_ent_t *e)
{
    relay__park_take(r, e);
    int rc = sched_task_return(r->core, e->job_id, e->index);
    relay__child_released(r, &r->children[e->slot]);
    if (rc <= 0)
        tab_remove(r, e);
    return rc;
}

/* A PARKED entry goes back to the core's pending tasks with its attempt,
 * off its victim.  0 when pending again or dropped (its job was
 * cancelled), -1 ENOMEM (the task is lost here). */
int relay__unpark(tree_relay_t *r, task_ent_t *e)
{
    int rc = park_return(r, e);
    return rc <= 0 ? rc : repend(r, e);
}

/* Every task parked off child slot `slot` (TREE_NONE: any) of job `job`
 * (0: any) is pending again with its attempt (dropped if its job was
 * cancelled). */
static void unpark_all(tree_relay_t *r, uint32_t slot, uint32_t job)
{
    for (size_t i = 0; i < r->npark;) {
        const parked_t *p = &r->park[i];
        task_ent_t *e = relay__tab_find(r, p->job_id, p->index);
        if ((slot == TREE_NONE || e->slot == slot)
            && (job == 0 || p->job_id == job))
            relay__unpark(r, e); /* out of the park: i is the next one */
        else
            i++;
    }
}

static bool placed_on(const task_ent_t *e, uint32_t s)
{
    return e->state == ENT_CORE && e->slot == s;
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
    if (c->return_to == TREE_PARENT)
        (void)relay__out_push(r, TREE_ACT_RECALL_DONE); /* ENOMEM: lost */
    else if (c->return_to != TREE_NONE)
        r->children[c->return_to].recalls--;
    (void)util_hmap_remove(r->slots, &c->id);
    c->id = TREE_NONE;
    r->need_gen = true;
}

int tree_relay_remove_child(tree_relay_t *r, uint32_t id)
{
    uint32_t s = relay__child_slot(r, id);
    if (s == TREE_NONE)
        return -1;
    /* Tasks parked off it never ran there: pending again, nothing
     * counted.  The core requeues the others (a run lost). */
    unpark_all(r, s, 0);
    sched_engine_remove(r->core, id);
    for (size_t i = 0; i < r->tab_cap;) {
        task_ent_t *e = &r->tab[i];
        if (!placed_on(e, s)) {
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

int tree_relay_drop_child(tree_relay_t *r, uint32_t id, tree_task_t **out,
                          size_t *n)
{
    uint32_t s = relay__child_slot(r, id);
    if (s == TREE_NONE)
        return -1;
    /* Tasks it gave back are not below it: pending again. */
    unpark_all(r, s, 0);
    size_t count = 0;
    for (size_t i = 0; i < r->tab_cap; i++)
        count += placed_on(&r->tab[i], s);
    tree_task_t *list = NULL;
    if (count > 0 && !(list = malloc(count * sizeof(*list))))
        return -1;
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
    if (relay__job_find(r, def->id)) {
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
    r->jobs[r->njobs++] = *def;
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
    if (!relay__job_find(r, job_id)) {
        errno = ENOENT;
        return -1;
    }
    if (relay__tab_find(r, job_id, index)) {
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
        relay__ent_drop(r, relay__tab_find(r, job_id, index));
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
    task_ent_t *e = relay__tab_find(r, job_id, index);
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
    relay__child_released(r, c);
    if (!r->cfg.is_root)
        r->results[r->nresults++] = (tree_result_t){job_id, index, outcome};
    return rc;
}

int tree_relay_forget(tree_relay_t *r, uint32_t job_id, uint64_t index)
{
    task_ent_t *e = relay__tab_find(r, job_id, index);
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
    /* Withdraw first: it is the step that can fail (ENOMEM). */
    if (e->state == ENT_QUEUED
        && sched_task_withdraw(r->core, job_id, index) < 0 && errno != ENOENT)
        return -1;
    relay__ent_drop(r, e);
    r->need_gen = true;
    return 0;
}

int tree_relay_rejected(tree_relay_t *r, uint32_t child, uint32_t job_id,
                        uint64_t index)
{
    uint32_t s = relay__child_slot(r, child);
    task_ent_t *e = relay__tab_find(r, job_id, index);
    if (s == TREE_NONE || !e || !placed_on(e, s)) {
        errno = ENOENT;
        return -1;
    }
    /* Room in the queue first, so that nothing below can fail halfway. */
    if (relay__queue_reserve(r) < 0)
        return -1;
    if (sched_engine_exclude_job(r->core, child, job_id) < 0)
        return -1;
    /* Pending again in the core with the same attempt. */
    int rc = sched_task_return(r->core, job_id, index);
    if (rc < 0)
        return -1;
    relay__child_released(r, &r->children[s]);
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
int relay__place_on(tree_relay_t *r, task_ent_t *e, uint32_t s,
                    uint32_t attempt, const res_alloc_t *alloc)
{
    relay_child_t *c = &r->children[s];
    uint32_t state = e->state;
    if (state == ENT_PARKED) {
        int rc = park_return(r, e);
        if (rc <= 0) {
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
    uint32_t s = relay__child_slot(r, child);
    if (s == TREE_NONE || !relay__job_find(r, job_id)) {
        errno = ENOENT;
        return -1;
    }
    task_ent_t *e = relay__tab_find(r, job_id, index);
    if (e && e->state == ENT_CORE) {
        errno = EEXIST;
        return -1;
    }
    if (!e && !(e = tab_insert(r, job_id, index)))
        return -1;
    return relay__place_on(r, e, s, attempt, alloc);
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

/* -------------------------------------------------------------------- step */

/* The core found a job infeasible.  The root fails it (INFEASIBLE, its
 * parked tasks counted in); below the root every task of it held here is
 * handed up (REJECT). */
static int infeasible(tree_relay_t *r, const sched_action_t *sa)
{
    if (r->cfg.is_root) {
        tree_action_t *a = relay__out_push(r, TREE_ACT_INFEASIBLE);
        if (!a)
            return -1;
        a->job_id = sa->job_id;
        a->count = sa->dropped + relay__drop_parked(r, sa->job_id, false);
        memcpy(a->reason, sa->reason, sizeof(a->reason));
        return 0;
    }
    if (relay__drop_parked(r, sa->job_id, true) == UINT64_MAX)
        return -1;
    for (size_t q = 0; q < r->nqueue;) {
        if (r->queue[q].job_id != sa->job_id) {
            q++;
            continue;
        }
        tree_action_t *a = relay__out_push(r, TREE_ACT_REJECT);
        if (!a)
            return -1;
        a->job_id = sa->job_id;
        a->index = r->queue[q].index;
        relay__ent_drop(r, relay__tab_find(r, a->job_id, a->index));
    }
    return 0;
}

/* Fill ASSIGN a for e, just placed (CORE) with alloc. */
void relay__assign_fill(const tree_relay_t *r, tree_action_t *a,
                        const task_ent_t *e, const res_alloc_t *alloc)
{
    const relay_child_t *c = &r->children[e->slot];
    a->child = c->id;
    a->job_id = e->job_id;
    a->index = e->index;
    a->attempt = e->attempt;
    /* An engine child gets the exact allocation from its real pool; a
     * relay child places the task itself. */
    a->exact = !c->is_relay;
    if (a->exact)
        a->alloc = *alloc;
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
                if (infeasible(r, sa) < 0)
                    return -1;
                continue;
            }
            uint32_t s = relay__child_slot(r, sa->engine_id);
            task_ent_t *e = relay__tab_find(r, sa->job_id, sa->index);
            if (e && e->state == ENT_QUEUED)
                queue_drop(r, e);
            else if (!e)
                e = tab_insert(r, sa->job_id, sa->index);
            tree_action_t *a = e ? relay__out_push(r, TREE_ACT_ASSIGN) : NULL;
            if (!a) {
                /* Out of memory: undo the start. */
                sched_task_done(r->core, sa->job_id, sa->index, SCHED_FINAL);
                if (e)
                    tab_remove(r, e);
                /* Below the root the task is lost here; caller reports. */
                if (r->cfg.is_root)
                    sched_job_add_tasks(r->core, sa->job_id, sa->index, 1);
                return -1;
            }
            e->state = ENT_CORE;
            e->slot = s;
            e->attempt = sa->attempt;
            r->children[s].inflight++;
            r->children[s].got++;
            relay__assign_fill(r, a, e, &sa->alloc);
            a->lost = sa->lost;
        }
        if (n == want && budget == 0) {
            *more = true;
            return 0;
        }
    } while (n == 256);
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
    if (r->npark > 0 && relay__place_parked(r, now_ms) < 0)
        r->need_gen = true; /* ENOMEM: try again at the next step */
    if (r->need_gen) {
        /* The core places at most max tasks a step (a loop that must stay
         * responsive calls again); the protocol's answers come each step. */
        bool more = false;
        r->need_gen = false;
        if (gen_core(r, now_ms, max > 0 ? (size_t)max : 1, &more) < 0
            || relay__gen_recall(r) < 0 || relay__gen_steals(r) < 0
            || relay__gen_own_steal(r, now_ms) < 0 || more)
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
    rep->free_slots = relay__free_slots(r, &q);
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
    const task_ent_t *e = relay__tab_find(r, job_id, index);
    if (!e || e->state != ENT_CORE)
        return TREE_NONE;
    return r->children[e->slot].id;
}

uint64_t tree_relay_child_inflight(const tree_relay_t *r, uint32_t child)
{
    uint32_t s = relay__child_slot(r, child);
    return s == TREE_NONE ? 0 : r->children[s].inflight;
}

/* ---------------------------------------------------------------- the root */

int tree_relay_cancel_job(tree_relay_t *r, uint32_t job_id)
{
    if (sched_job_cancel(r->core, job_id) < 0)
        return -1;
    /* Parked tasks have not run again: dropped with the pending ones. */
    unpark_all(r, TREE_NONE, job_id);
    r->need_gen = true;
    return 0;
}

int tree_relay_remove_job(tree_relay_t *r, uint32_t job_id)
{
    sched_job_t *j = relay__job_find(r, job_id);
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
    const task_ent_t *e = relay__tab_find(r, job_id, index);
    if (e && e->state == ENT_PARKED) {
        snprintf(buf, size, "pending: given back by child %" PRIu32
                 " for a steal, waiting for room on another child",
                 r->children[e->slot].id);
        return buf;
    }
    return sched_explain(r->core, job_id, index, buf, size);
}

