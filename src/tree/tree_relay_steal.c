/* SPDX-License-Identifier: MIT */
/* tree_relay_steal.c - a relay's part in work stealing (docs/tree.md, "Work
 * stealing"; the protocol is summed up at the top of tree_relay.c): STEALs
 * from children answered by RECALLs of the busiest, RETURNs parked and
 * placed on the thief (or the best other child, never the victim), the
 * relay's own STEAL up when idle, and recalls from the parent.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "tree/tree_relay_private.h"

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
void relay__park_take(tree_relay_t *r, task_ent_t *e)
{
    assert(e->state == ENT_PARKED && e->qpos < r->npark);
    size_t pos = e->qpos;
    uint32_t thief = r->park[pos].thief;
    memmove(&r->park[pos], &r->park[pos + 1],
            (r->npark - pos - 1) * sizeof(*r->park));
    r->npark--;
    for (size_t i = pos; i < r->npark; i++) {
        const parked_t *q = &r->park[i];
        task_ent_t *m = relay__tab_find(r, q->job_id, q->index);
        if (m)
            m->qpos = (uint32_t)i;
    }
    if (thief != TREE_NONE)
        r->children[thief].parked--;
    r->need_gen = true;
}

void tree_relay_child_queued(tree_relay_t *r, uint32_t child,
                             uint64_t queued)
{
    uint32_t s = relay__child_slot(r, child);
    if (s != TREE_NONE)
        r->children[s].queued = queued;
}

int tree_relay_steal(tree_relay_t *r, uint32_t thief, uint32_t want)
{
    uint32_t s = relay__child_slot(r, thief);
    if (s == TREE_NONE)
        return -1;
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
    uint32_t s = relay__child_slot(r, child);
    task_ent_t *e = relay__tab_find(r, job_id, index);
    if (s == TREE_NONE || !e || e->state != ENT_CORE || e->slot != s) {
        errno = ENOENT;
        return -1;
    }
    relay_child_t *v = &r->children[s];
    tree_action_t *a = NULL;
    if (v->return_to == TREE_PARENT) {
        /* Passed up: make room for the RETURN before changing anything. */
        if (!(a = relay__out_push(r, TREE_ACT_RETURN)))
            return -1;
    } else if (util_grow((void **)&r->park, &r->park_cap, r->npark + 1,
                         sizeof(*r->park)) < 0) {
        return -1;
    }
    v->returned++;
    v->queued = v->queued > 0 ? v->queued - 1 : 0;
    r->need_gen = true;
    if (a) {
        relay__ent_drop(r, e);
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
    uint32_t s = relay__child_slot(r, child);
    if (s == TREE_NONE)
        return -1;
    relay_child_t *v = &r->children[s];
    if (v->return_to == TREE_PARENT) {
        tree_action_t *a = relay__out_push(r, TREE_ACT_RECALL_DONE);
        if (!a)
            return -1;
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

/* The core found a job infeasible: its parked tasks go too (reject: each
 * is handed up as REJECT).  Returns how many, UINT64_MAX on ENOMEM (those
 * not handed up yet stay parked). */
uint64_t relay__drop_parked(tree_relay_t *r, uint32_t job_id, bool reject)
{
    uint64_t n = 0;
    for (size_t i = 0; i < r->npark;) {
        if (r->park[i].job_id != job_id) {
            i++;
            continue;
        }
        tree_action_t *a = reject ? relay__out_push(r, TREE_ACT_REJECT) : NULL;
        if (reject && !a)
            return UINT64_MAX;
        task_ent_t *e = relay__tab_find(r, job_id, r->park[i].index);
        if (a) {
            a->job_id = job_id;
            a->index = e->index;
        }
        relay__ent_drop(r, e);
        n++;
    }
    return n;
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
int relay__gen_recall(tree_relay_t *r)
{
    uint32_t given = 0;
    /* Parked tasks first: they found no room here. */
    while (r->recall_want > 0 && r->npark > 0) {
        tree_action_t *a = relay__out_push(r, TREE_ACT_RETURN);
        if (!a)
            return -1;
        const parked_t *q = &r->park[0];
        task_ent_t *e = relay__tab_find(r, q->job_id, q->index);
        a->job_id = e->job_id;
        a->index = e->index;
        relay__ent_drop(r, e);
        r->recall_want--;
        given++;
    }
    while (r->recall_want > 0 && r->nqueue > 0) {
        qkey_t k = r->queue[r->nqueue - 1];
        task_ent_t *e = relay__tab_find(r, k.job_id, k.index);
        /* The core has it pending too: withdraw it there first (the step
         * that can fail), then give it back. */
        if (sched_task_withdraw(r->core, k.job_id, k.index) < 0
            && errno != ENOENT)
            return -1;
        tree_action_t *a = relay__out_push(r, TREE_ACT_RETURN);
        if (!a) {
            sched_job_add_tasks(r->core, k.job_id, k.index, 1);
            return -1;
        }
        a->job_id = k.job_id;
        a->index = k.index;
        relay__ent_drop(r, e);
        r->recall_want--;
        given++;
    }
    if (r->recall_want > 0) {
        /* Nothing queued here: pass the recall to the busiest child. */
        uint32_t v = given == 0 ? busiest(r, TREE_NONE) : TREE_NONE;
        if (v != TREE_NONE) {
            relay_child_t *c = &r->children[v];
            tree_action_t *a = relay__out_push(r, TREE_ACT_RECALL);
            if (!a)
                return -1;
            a->child = c->id;
            a->count = r->recall_want;
            c->return_to = TREE_PARENT;
            c->returned = 0;
            r->recall_want = 0;
            return 0;
        }
    }
    if (r->recall_want > 0 || given > 0) {
        tree_action_t *a = relay__out_push(r, TREE_ACT_RECALL_DONE);
        if (!a)
            return -1;
        a->count = given;
        r->recall_want = 0;
    }
    return 0;
}

/* Answer the children's steals. */
int relay__gen_steals(tree_relay_t *r)
{
    for (size_t i = 0; i < r->nchildren; i++) {
        relay_child_t *t = &r->children[i];
        if (t->id == TREE_NONE)
            continue;
        if (t->steal_open && t->recalls == 0 && t->parked == 0) {
            /* Every recall for it is done and nothing waits for it. */
            if (t->got == 0) {
                tree_action_t *a = relay__out_push(r, TREE_ACT_DENY);
                if (!a)
                    return -1;
                a->child = t->id;
            }
            t->steal_open = false;
        }
        if (t->steal_want == 0)
            continue;
        uint32_t want = t->steal_want;
        t->steal_want = 0;
        uint32_t v = busiest(r, (uint32_t)i);
        tree_action_t *a = relay__out_push(
            r, v == TREE_NONE ? TREE_ACT_DENY : TREE_ACT_RECALL);
        if (!a)
            return -1;
        if (v == TREE_NONE) {
            a->child = t->id;
            continue;
        }
        relay_child_t *c = &r->children[v];
        uint64_t n = (c->queued + 1) / 2;
        if (n > want)
            n = want;
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

uint64_t relay__free_slots(const tree_relay_t *r, uint64_t *child_queued)
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

int relay__gen_own_steal(tree_relay_t *r, int64_t now_ms)
{
    r->steal_wait = false;
    if (r->cfg.is_root || r->steal_out || !r->seen_work || r->nqueue > 0
        || r->npark > 0)
        return 0;
    uint64_t q;
    /* The own engine's idle slots count: its relay is the one that can
     * fetch work for it (its parent places it, and sees no queue). */
    uint64_t f = relay__free_slots(r, &q) + r->own_free;
    if (q > 0 || f < r->cfg.steal_min_free)
        return 0;
    if (now_ms < r->steal_next_ms) {
        /* Idle, but a DENY (or our last STEAL) was too recent.  No event
         * may come while idle: the step looks at the clock instead. */
        r->steal_wait = true;
        return 0;
    }
    tree_action_t *a = relay__out_push(r, TREE_ACT_STEAL);
    if (!a)
        return -1;
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
                        const sched_job_t *j)
{
    relay_child_t *t = &r->children[to];
    res_pool_t *pool = sched_engine_pool(r->core, t->id);
    res_alloc_t alloc;
    if (!pool || sched_engine_excludes(r->core, t->id, j->id)
        || res_pool_acquire(pool, &j->req, &alloc) < 0)
        return 1;
    res_pool_release(pool, &alloc); /* claimed again by the core */
    tree_action_t *a = relay__out_push(r, TREE_ACT_ASSIGN);
    if (!a)
        return 1; /* ENOMEM */
    if (relay__place_on(r, e, to, e->attempt, &alloc) < 0) {
        r->out_len--; /* unused */
        return -1;
    }
    relay__assign_fill(r, a, e, &alloc);
    return 0;
}

/* Where a parked task may go now, its thief aside: the child other than
 * its victim with the most free slots that fits it now (ignoring holds;
 * place_direct checks them) and has not rejected its job.  *ever: some
 * child other than the victim could ever run it. */
static uint32_t park_target(tree_relay_t *r, const parked_t *p,
                            const sched_job_t *j, bool *ever)
{
    uint32_t best = TREE_NONE;
    uint64_t most = 0;
    *ever = false;
    for (size_t i = 0; i < r->nchildren; i++) {
        relay_child_t *c = &r->children[i];
        if (c->id == TREE_NONE || i == p->victim
            || sched_engine_excludes(r->core, c->id, j->id))
            continue;
        res_pool_t *pool = sched_engine_pool(r->core, c->id);
        if (!pool || !res_pool_fits_ever(pool, &j->req, NULL))
            continue;
        *ever = true;
        uint64_t f = c->cap_slots > c->inflight ? c->cap_slots - c->inflight
                                                : 0;
        if (f > most && res_pool_shortfall(pool, &j->req) == 0) {
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
    return relay__child_slot(r, t->own_engine);
}

/* Place parked tasks, oldest first: on the thief if it fits (on its own
 * engine first when its subtree is full), else on the
 * best other child (never the victim); a task that cannot be placed waits
 * up to steal_retry_ms, then (or at once when only its victim could ever
 * run it, or its victim is gone) it is pending in the core again. */
int relay__place_parked(tree_relay_t *r, int64_t now_ms)
{
    for (size_t i = 0; i < r->npark;) {
        parked_t *p = &r->park[i];
        if (p->since_ms == INT64_MIN)
            p->since_ms = now_ms;
        task_ent_t *e = relay__tab_find(r, p->job_id, p->index);
        const sched_job_t *j = relay__job_find(r, p->job_id);
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
        if (relay__queue_reserve(r) < 0 || relay__unpark(r, e) < 0)
            return -1;
    }
    return 0;
}
