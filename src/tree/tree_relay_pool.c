/* SPDX-License-Identifier: MIT */
/* tree_relay_pool.c - what a relay's children can hold: the aggregate pool
 * of a relay child (its subtree times the prefetch depth, custom resources
 * by name), resizes, weights, and the reads the root needs.
 */
#include <errno.h>
#include <string.h>

#include "util/util.h"
#include "tree/tree_relay_private.h"

static uint32_t clip32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The aggregate pool of a relay child: its subtree times the prefetch. */
static void aggregate_cap(const tree_relay_t *r, const tree_summary_t *sum,
                          res_capacity_t *cap)
{
    memset(cap, 0, sizeof(*cap));
    uint64_t pf = r->cfg.prefetch;
    cap->slots = clip32(util_mul_sat(sum->slots, pf));
    cap->cpus_milli = clip32(util_mul_sat(sum->cpus_milli, pf));
    cap->mem_bytes = util_mul_sat(sum->mem_bytes, pf);
    uint64_t g = util_mul_sat(sum->gpus, pf);
    cap->ngpus = g > RES_MAX_GPUS ? RES_MAX_GPUS : (int)g;
    for (int i = 0; i < cap->ngpus; i++)
        cap->gpus[i].index = i;
}

int tree_relay_add_relay(tree_relay_t *r, uint32_t id,
                         const tree_summary_t *sum)
{
    res_capacity_t cap;
    aggregate_cap(r, sum, &cap);
    return relay__child_add(r, id, true, sum, &cap);
}

/* Resize a relay child's aggregate to its summary and custom resources.
 * GPU positions past the new count that tasks still use are kept (the pool
 * refuses to drop them), take no new task, and are dropped at a later
 * resize once released.  Custom names keep their positions. */
int relay__child_resize(tree_relay_t *r, relay_child_t *c)
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

/* The relay child id, or NULL with ENOENT. */
static relay_child_t *relay_child(tree_relay_t *r, uint32_t id)
{
    uint32_t s = relay__child_slot(r, id);
    if (s == TREE_NONE || !r->children[s].is_relay) {
        errno = ENOENT;
        return NULL;
    }
    return &r->children[s];
}

int tree_relay_update_relay(tree_relay_t *r, uint32_t id,
                            const tree_summary_t *sum)
{
    relay_child_t *c = relay_child(r, id);
    if (!c)
        return -1;
    tree_summary_t old = c->sum;
    c->sum = *sum;
    if (relay__child_resize(r, c) < 0) {
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
    relay_child_t *c = relay_child(r, id);
    if (!c)
        return -1;
    if (!custom_valid(custom, n)) {
        errno = EINVAL;
        return -1;
    }
    int nold = c->ncustom;
    res_custom_t old[RES_MAX_CUSTOM];
    memcpy(old, c->custom, sizeof(old));
    memset(c->custom, 0, sizeof(c->custom));
    if (n > 0)
        memcpy(c->custom, custom, (size_t)n * sizeof(*custom));
    c->ncustom = n;
    if (relay__child_resize(r, c) < 0) {
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
    const res_pool_t *pool = tree_relay_child_pool(r, child);
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
            && relay__child_resize(r, &r->children[i]) < 0)
            rc = -1;
    return rc;
}

const res_pool_t *tree_relay_child_pool(const tree_relay_t *r,
                                        uint32_t child)
{
    return relay__child_slot(r, child) == TREE_NONE
               ? NULL
               : sched_engine_pool(r->core, child);
}

bool tree_relay_fits_ever(const tree_relay_t *r, uint32_t job_id,
                          banyan_error_t *why)
{
    const sched_job_t *j = relay__job_find(r, job_id);
    for (size_t i = 0; j && i < r->nchildren; i++) {
        uint32_t id = r->children[i].id;
        if (id == TREE_NONE || sched_engine_excludes(r->core, id, job_id))
            continue;
        res_pool_t *pool = sched_engine_pool(r->core, id);
        if (pool && res_pool_fits_ever(pool, &j->req, why))
            return true;
    }
    return false;
}
