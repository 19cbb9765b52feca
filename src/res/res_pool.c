/* SPDX-License-Identifier: MIT */
/* res_pool.c - all-or-nothing allocation from one engine's resources.
 *
 * The pool keeps what is in use per dimension (a res_usage_t), a bitmap of
 * slot identities, and at most one hold.  Every acquisition is planned in
 * full against the current state first (plan_request) and only then applied
 * (apply_alloc), so a refused request changes nothing.  The explanation and
 * the shortfall use the same planner, so they always agree with acquire.
 *
 * Invariants, checked by the property test:
 *  - used.x <= cap.x in every scalar dimension and for every custom counter,
 *    except after a shrink (res_pool_set_capacity) or a forced count
 *    (res_pool_acquire_over): then nothing more is granted in a dimension
 *    until its usage is back under the capacity;
 *  - every GPU's used share is <= 1000, and a GPU given whole to a task has
 *    no other share on it (same exception);
 *  - a slot identity is set in the bitmap for exactly one live allocation;
 *    allocations with slots > 0 own at most one identity each, so while
 *    used.slots < cap.slots there is a free identity within the capacity.
 *    The bitmap never shrinks: identities above a shrunk capacity stay
 *    valid until released, and are not handed out again.
 *
 * A hold copies the waiting request.  In scalar dimensions it lowers what
 * other requests may take to (capacity - used - held amount); on GPUs it
 * marks specific GPUs (gpu_reserved_milli), chosen among those that are free
 * or have the fewest shares in use, so that they drain and nothing new
 * lands on them.  res_pool_acquire_held() plans as if no hold existed.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "res/res.h"
#include "res/res_private.h"
#include "util/util.h"

struct res_pool {
    res_capacity_t cap;
    res_usage_t used;          /* handed out now, plus GPU reservations */
    uint64_t *slot_bits;       /* bit s-1 set: slot identity s in use */
    size_t slot_words;
    size_t slot_hint;          /* lowest word that may have a clear bit */
    bool host_mem_known;       /* set_host_mem was called */
    uint64_t host_mem_avail;   /* bytes, last reported */
    bool held;                 /* a hold is set */
    res_request_t hold;        /* the waiting request */
    uint64_t hold_custom[RES_MAX_CUSTOM]; /* hold's custom, by pool position */
    int gpu_limit;             /* positions below it may be granted */
};

/* Which dimension stopped a plan. */
enum shortage {
    SHORT_NONE = 0,
    SHORT_SLOTS,
    SHORT_CPUS,
    SHORT_MEM,
    SHORT_RESERVE,   /* mem=0 request while host memory is below reserve */
    SHORT_CUSTOM,
    SHORT_GPUS,
};

static uint64_t sub0(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

/* What one dimension has free: capacity less use, less what a hold keeps
 * back. */
static uint64_t room(uint64_t cap, uint64_t used, uint64_t held)
{
    return sub0(sub0(cap, used), held);
}

static int custom_pos(const res_pool_t *p, const char *name)
{
    for (int i = 0; i < p->cap.ncustom; i++)
        if (strncmp(p->cap.custom[i].name, name, RES_NAME_MAX) == 0)
            return i;
    return -1;
}

static bool gpu_mem_fits(const res_pool_t *p, int g, const res_request_t *req)
{
    uint64_t total = p->cap.gpus[g].mem_total_bytes;
    return req->gpu_mem_bytes == 0 || total == 0
           || req->gpu_mem_bytes <= total;
}

/* Least loaded first: shares in use, utilisation, memory used, index. */
static int load_cmp(const res_pool_t *p, int a, int b)
{
    const res_gpu_t *ga = &p->cap.gpus[a], *gb = &p->cap.gpus[b];
    uint32_t ua = p->used.gpu_milli[a], ub = p->used.gpu_milli[b];
    if (ua != ub)
        return ua < ub ? -1 : 1;
    if (ga->util_percent != gb->util_percent)
        return ga->util_percent < gb->util_percent ? -1 : 1;
    if (ga->mem_used_bytes != gb->mem_used_bytes)
        return ga->mem_used_bytes < gb->mem_used_bytes ? -1 : 1;
    if (ga->index != gb->index)
        return ga->index < gb->index ? -1 : 1;
    return a < b ? -1 : (a > b);
}

/* Sort positions by load (at most RES_MAX_GPUS, so insertion sort). */
static void sort_by_load(const res_pool_t *p, int *pos, int n)
{
    for (int i = 1; i < n; i++) {
        int v = pos[i], j = i;
        for (; j > 0 && load_cmp(p, pos[j - 1], v) > 0; j--)
            pos[j] = pos[j - 1];
        pos[j] = v;
    }
}

/* Whole GPUs this request could take now: free, not reserved by the hold
 * (when honoured), with enough memory.  Fills pos[] sorted by load. */
static int whole_candidates(const res_pool_t *p, const res_request_t *req,
                            bool honour, int *pos)
{
    int n = 0;
    for (int g = 0; g < p->gpu_limit; g++) {
        if (p->used.gpu_milli[g] != 0 || !gpu_mem_fits(p, g, req))
            continue;
        if (honour && p->used.gpu_reserved_milli[g] != 0)
            continue;
        pos[n++] = g;
    }
    sort_by_load(p, pos, n);
    return n;
}

/* The GPU a share of m milli goes on: best fit (least room left that still
 * fits), ties to the least loaded.  -1 if none fits. */
static int share_choice(const res_pool_t *p, const res_request_t *req,
                        uint32_t m, bool honour)
{
    int best = -1;
    uint32_t best_room = 0;
    for (int g = 0; g < p->gpu_limit; g++) {
        uint32_t taken = p->used.gpu_milli[g];
        if (honour)
            taken += p->used.gpu_reserved_milli[g];
        if (taken + m > RES_MILLI || !gpu_mem_fits(p, g, req))
            continue;
        uint32_t room = RES_MILLI - taken;
        if (best < 0 || room < best_room
            || (room == best_room && load_cmp(p, g, best) < 0)) {
            best = g;
            best_room = room;
        }
    }
    return best;
}

/* Plan req against the pool without changing it.  Returns true and fills a
 * (slot identity still unset) when it fits; else false with the shortage
 * and, for SHORT_CUSTOM, the request's custom entry in *idx. */
static bool plan_request(const res_pool_t *p, const res_request_t *req,
                         bool honour, res_alloc_t *a, enum shortage *why,
                         int *idx)
{
    /* Without a hold, the hold fields are zero (res_pool_unhold). */
    static const res_request_t no_hold;
    const res_request_t *h = honour ? &p->hold : &no_hold;
    memset(a, 0, sizeof(*a));
    *why = SHORT_NONE;
    *idx = -1;

    if (req->slots > room(p->cap.slots, p->used.slots, h->slots))
        return *why = SHORT_SLOTS, false;
    if (req->cpus_milli > room(p->cap.cpus_milli, p->used.cpus_milli,
                               h->cpus_milli))
        return *why = SHORT_CPUS, false;
    if (req->mem_bytes > room(p->cap.mem_bytes, p->used.mem_bytes,
                              h->mem_bytes))
        return *why = SHORT_MEM, false;
    if (!req->mem_bytes && p->host_mem_known
        && p->host_mem_avail < p->cap.mem_reserve_bytes)
        return *why = SHORT_RESERVE, false;
    for (int i = 0; i < req->ncustom; i++) {
        int pos = custom_pos(p, req->custom[i].name);
        if (pos < 0)
            return *why = SHORT_CUSTOM, *idx = i, false;
        if (req->custom[i].amount > room(p->cap.custom[pos].amount,
                                         p->used.custom[pos],
                                         honour ? p->hold_custom[pos] : 0))
            return *why = SHORT_CUSTOM, *idx = i, false;
        a->custom[pos] = req->custom[i].amount;
    }
    if (req->gpus_milli >= RES_MILLI) {
        int pos[RES_MAX_GPUS];
        int want = (int)(req->gpus_milli / RES_MILLI);
        if (whole_candidates(p, req, honour, pos) < want)
            return *why = SHORT_GPUS, false;
        for (int i = 0; i < want; i++)
            a->gpu_mask |= UINT64_C(1) << pos[i];
        a->gpu_milli_each = RES_MILLI;
    } else if (req->gpus_milli > 0) {
        int g = share_choice(p, req, req->gpus_milli, honour);
        if (g < 0)
            return *why = SHORT_GPUS, false;
        a->gpu_mask = UINT64_C(1) << g;
        a->gpu_milli_each = req->gpus_milli;
    }
    a->slots = req->slots;
    a->cpus_milli = req->cpus_milli;
    a->mem_bytes = req->mem_bytes;
    return true;
}

static bool slot_in_use(const res_pool_t *p, uint32_t slot)
{
    size_t w = (slot - 1) / 64;
    return w < p->slot_words
           && (p->slot_bits[w] >> ((slot - 1) % 64) & 1) != 0;
}

static void slot_set(res_pool_t *p, uint32_t slot)
{
    p->slot_bits[(slot - 1) / 64] |= UINT64_C(1) << ((slot - 1) % 64);
}

/* Lowest free slot identity within the capacity, 0 if none.  While
 * used.slots < cap.slots one exists: every identity in use belongs to a
 * live allocation counting at least one slot.  After a shrink, identities
 * above the capacity may still be in use; they are never handed out. */
static uint32_t take_slot(res_pool_t *p)
{
    for (size_t w = p->slot_hint; w < p->slot_words; w++) {
        if (p->slot_bits[w] == UINT64_MAX)
            continue;
        int bit = __builtin_ctzll(~p->slot_bits[w]);
        uint32_t slot = (uint32_t)(w * 64 + (size_t)bit + 1);
        if (slot > p->cap.slots)
            return 0;
        p->slot_bits[w] |= UINT64_C(1) << bit;
        p->slot_hint = w;
        return slot;
    }
    return 0;
}

/* Count a's amounts as used (its slot identity is set by the caller). */
static void account(res_pool_t *p, const res_alloc_t *a)
{
    p->used.slots += a->slots;
    p->used.cpus_milli += a->cpus_milli;
    p->used.mem_bytes += a->mem_bytes;
    for (int g = 0; g < p->cap.ngpus; g++)
        if (a->gpu_mask & (UINT64_C(1) << g))
            p->used.gpu_milli[g] += a->gpu_milli_each;
    for (int i = 0; i < p->cap.ncustom; i++)
        p->used.custom[i] += a->custom[i];
    p->used.running++;
}

static void apply_alloc(res_pool_t *p, res_alloc_t *a)
{
    if (a->slots)
        a->slot = take_slot(p);
    account(p, a);
}

/* ------------------------------------------------------------- lifecycle */

res_pool_t *res_pool_create(const res_capacity_t *cap)
{
    if (!cap || cap->ngpus < 0 || cap->ngpus > RES_MAX_GPUS
        || cap->ncustom < 0 || cap->ncustom > RES_MAX_CUSTOM)
        goto inval;
    for (int i = 0; i < cap->ncustom; i++) {
        const char *name = cap->custom[i].name;
        if (!res__name_valid(name, strnlen(name, RES_NAME_MAX)))
            goto inval;
        for (int j = 0; j < i; j++)
            if (strcmp(cap->custom[j].name, name) == 0)
                goto inval;
    }
    res_pool_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->cap = *cap;
    p->gpu_limit = cap->ngpus;
    p->slot_words = (size_t)cap->slots / 64 + 1;
    p->slot_bits = calloc(p->slot_words, sizeof(uint64_t));
    if (!p->slot_bits) {
        free(p);
        errno = ENOMEM;
        return NULL;
    }
    return p;
inval:
    errno = EINVAL;
    return NULL;
}

void res_pool_destroy(res_pool_t *pool)
{
    if (!pool)
        return;
    int saved = errno;
    free(pool->slot_bits);
    free(pool);
    errno = saved;
}

const res_capacity_t *res_pool_capacity(const res_pool_t *pool)
{
    return &pool->cap;
}

/* ------------------------------------------------------------ fits ever */

bool res_pool_fits_ever(const res_pool_t *pool, const res_request_t *req,
                        banyan_error_t *error)
{
    const res_capacity_t *c = &pool->cap;
    char n1[32], n2[32];
    if (res_request_check(req, error) < 0)
        return false;
    if (req->slots > c->slots) {
        errprintf(error, "needs %" PRIu32 " slots, engine has %" PRIu32,
                  req->slots, c->slots);
        return false;
    }
    if (req->cpus_milli > c->cpus_milli) {
        errprintf(error, "needs %s cpus, engine has %s",
                  res__format_milli(req->cpus_milli, n1, sizeof(n1)),
                  res__format_milli(c->cpus_milli, n2, sizeof(n2)));
        return false;
    }
    if (req->mem_bytes > c->mem_bytes) {
        errprintf(error, "needs %s mem, engine has %s",
                  util_format_size(req->mem_bytes, n1, sizeof(n1)),
                  util_format_size(c->mem_bytes, n2, sizeof(n2)));
        return false;
    }
    for (int i = 0; i < req->ncustom; i++) {
        const res_custom_t *rc = &req->custom[i];
        int pos = custom_pos(pool, rc->name);
        if (pos < 0) {
            errprintf(error, "needs %s=%" PRIu64 ", engine has no %s",
                      rc->name, rc->amount, rc->name);
            return false;
        }
        if (rc->amount > c->custom[pos].amount) {
            errprintf(error, "needs %s=%" PRIu64 ", engine has %s=%" PRIu64,
                      rc->name, rc->amount, rc->name, c->custom[pos].amount);
            return false;
        }
    }
    if (req->gpus_milli == 0)
        return true;
    int fit = 0;
    uint64_t largest = 0;
    for (int g = 0; g < c->ngpus; g++) {
        fit += gpu_mem_fits(pool, g, req);
        if (c->gpus[g].mem_total_bytes > largest)
            largest = c->gpus[g].mem_total_bytes;
    }
    int want = req->gpus_milli >= RES_MILLI
                   ? (int)(req->gpus_milli / RES_MILLI) : 1;
    res__format_milli(req->gpus_milli, n1, sizeof(n1));
    if (c->ngpus < want) {
        errprintf(error, "needs %s gpu%s, engine has %d", n1,
                  req->gpus_milli == RES_MILLI ? "" : "s", c->ngpus);
        return false;
    }
    if (fit < want) {
        util_format_size(req->gpu_mem_bytes, n2, sizeof(n2));
        char n3[32];
        util_format_size(largest, n3, sizeof(n3));
        errprintf(error, "needs %d gpu%s with %s memory, engine has %d "
                  "(largest has %s)", want, want == 1 ? "" : "s", n2, fit,
                  n3);
        return false;
    }
    return true;
}

/* -------------------------------------------------------------- acquire */

static int acquire(res_pool_t *pool, const res_request_t *req,
                   res_alloc_t *alloc, bool honour)
{
    if (res_request_check(req, NULL) < 0) {
        errno = EINVAL;
        return -1;
    }
    if (!res_pool_fits_ever(pool, req, NULL)) {
        errno = ENOSPC;
        return -1;
    }
    res_alloc_t a;
    enum shortage why;
    int idx;
    if (!plan_request(pool, req, honour, &a, &why, &idx)) {
        errno = EAGAIN;
        return -1;
    }
    apply_alloc(pool, &a);
    *alloc = a;
    return 0;
}

int res_pool_acquire(res_pool_t *pool, const res_request_t *req,
                     res_alloc_t *alloc)
{
    return acquire(pool, req, alloc, true);
}

int res_pool_acquire_held(res_pool_t *pool, const res_request_t *req,
                          res_alloc_t *alloc)
{
    if (acquire(pool, req, alloc, false) < 0)
        return -1;
    res_pool_unhold(pool);
    return 0;
}

void res_pool_release(res_pool_t *pool, const res_alloc_t *a)
{
    /* Identities above a shrunk capacity are still in the bitmap, which
     * never shrinks. */
    if (a->slot >= 1 && a->slot <= pool->slot_words * 64) {
        size_t w = (a->slot - 1) / 64;
        uint64_t bit = UINT64_C(1) << ((a->slot - 1) % 64);
        pool->slot_bits[w] &= ~bit;
        if (w < pool->slot_hint)
            pool->slot_hint = w;
    }
    pool->used.slots = (uint32_t)sub0(pool->used.slots, a->slots);
    pool->used.cpus_milli = (uint32_t)sub0(pool->used.cpus_milli,
                                           a->cpus_milli);
    pool->used.mem_bytes = sub0(pool->used.mem_bytes, a->mem_bytes);
    for (int g = 0; g < pool->cap.ngpus; g++)
        if (a->gpu_mask & (UINT64_C(1) << g))
            pool->used.gpu_milli[g] = (uint32_t)sub0(pool->used.gpu_milli[g],
                                                     a->gpu_milli_each);
    for (int i = 0; i < pool->cap.ncustom; i++)
        pool->used.custom[i] = sub0(pool->used.custom[i], a->custom[i]);
    if (pool->used.running > 0)
        pool->used.running--;
}

/* ------------------------------------------------------ claim and over */

static bool sum_fits(uint64_t used, uint64_t add, uint64_t cap)
{
    return add == 0 || (used <= cap && add <= cap - used);
}

/* Is a well formed for this pool? */
static bool alloc_valid(const res_pool_t *p, const res_alloc_t *a)
{
    if ((a->slot == 0) != (a->slots == 0) || a->slot > p->cap.slots)
        return false;
    uint64_t outside = p->cap.ngpus >= 64 ? 0
                       : ~((UINT64_C(1) << p->cap.ngpus) - 1);
    if (a->gpu_mask & outside)
        return false;
    if ((a->gpu_mask != 0) != (a->gpu_milli_each != 0)
        || a->gpu_milli_each > RES_MILLI)
        return false;
    if (a->gpu_milli_each < RES_MILLI && __builtin_popcountll(a->gpu_mask) > 1)
        return false; /* a share is on one GPU */
    for (int i = p->cap.ncustom; i < RES_MAX_CUSTOM; i++)
        if (a->custom[i] != 0)
            return false;
    return true;
}

/* Does a fit on top of what is used now (holds ignored)? */
static bool alloc_fits(const res_pool_t *p, const res_alloc_t *a)
{
    const res_usage_t *u = &p->used;
    if (a->slot && slot_in_use(p, a->slot))
        return false;
    if (!sum_fits(u->slots, a->slots, p->cap.slots)
        || !sum_fits(u->cpus_milli, a->cpus_milli, p->cap.cpus_milli)
        || !sum_fits(u->mem_bytes, a->mem_bytes, p->cap.mem_bytes))
        return false;
    for (int i = 0; i < p->cap.ncustom; i++)
        if (!sum_fits(u->custom[i], a->custom[i], p->cap.custom[i].amount))
            return false;
    for (int g = 0; g < p->cap.ngpus; g++) {
        if (!(a->gpu_mask & (UINT64_C(1) << g)))
            continue;
        if (a->gpu_milli_each == RES_MILLI ? u->gpu_milli[g] != 0
            : u->gpu_milli[g] + a->gpu_milli_each > RES_MILLI)
            return false;
    }
    return true;
}

int res_pool_claim(res_pool_t *pool, const res_alloc_t *alloc)
{
    if (!alloc_valid(pool, alloc)) {
        errno = EINVAL;
        return -1;
    }
    if (!alloc_fits(pool, alloc)) {
        errno = EBUSY;
        return -1;
    }
    if (alloc->slot)
        slot_set(pool, alloc->slot);
    account(pool, alloc);
    return 0;
}

/* Pick GPUs for a request that does not fit: the least used positions
 * with a fitting memory. */
static void over_gpus(const res_pool_t *p, const res_request_t *req,
                      res_alloc_t *a)
{
    int pos[RES_MAX_GPUS], n = 0;
    for (int g = 0; g < p->cap.ngpus; g++)
        if (gpu_mem_fits(p, g, req))
            pos[n++] = g;
    sort_by_load(p, pos, n);
    int want = req->gpus_milli >= RES_MILLI
                   ? (int)(req->gpus_milli / RES_MILLI) : 1;
    if (req->gpus_milli == 0 || n < want)
        return;
    for (int i = 0; i < want; i++)
        a->gpu_mask |= UINT64_C(1) << pos[i];
    a->gpu_milli_each = req->gpus_milli >= RES_MILLI ? RES_MILLI
                                                     : req->gpus_milli;
}

int res_pool_acquire_over(res_pool_t *pool, const res_request_t *req,
                          res_alloc_t *alloc)
{
    if (res_request_check(req, NULL) < 0) {
        errno = EINVAL;
        return -1;
    }
    res_alloc_t a;
    enum shortage why;
    int idx;
    if (res_pool_fits_ever(pool, req, NULL)
        && plan_request(pool, req, false, &a, &why, &idx)) {
        apply_alloc(pool, &a);
        *alloc = a;
        return 0;
    }
    memset(&a, 0, sizeof(a));
    a.slots = req->slots;
    a.cpus_milli = req->cpus_milli;
    a.mem_bytes = req->mem_bytes;
    for (int i = 0; i < req->ncustom; i++) {
        int pos = custom_pos(pool, req->custom[i].name);
        if (pos >= 0)
            a.custom[pos] = req->custom[i].amount;
    }
    over_gpus(pool, req, &a);
    apply_alloc(pool, &a); /* an identity if one is free, else 0 */
    *alloc = a;
    return 0;
}

/* ------------------------------------------------------------- capacity */

int res_pool_set_capacity(res_pool_t *pool, const res_capacity_t *cap)
{
    if (!cap || cap->ngpus < 0 || cap->ngpus > RES_MAX_GPUS
        || cap->ncustom < pool->cap.ncustom
        || cap->ncustom > RES_MAX_CUSTOM) {
        errno = EINVAL;
        return -1;
    }
    /* Live allocations name custom resources by position: the old names
     * keep theirs, new ones may only come after them. */
    for (int i = 0; i < cap->ncustom; i++) {
        const char *name = cap->custom[i].name;
        bool same = i < pool->cap.ncustom
                    && strncmp(name, pool->cap.custom[i].name,
                               RES_NAME_MAX) == 0;
        bool fresh = i >= pool->cap.ncustom
                     && res__name_valid(name, strnlen(name, RES_NAME_MAX));
        for (int j = 0; j < i && fresh; j++)
            fresh = strncmp(cap->custom[j].name, name, RES_NAME_MAX) != 0;
        if (!same && !fresh) {
            errno = EINVAL;
            return -1;
        }
    }
    for (int g = cap->ngpus; g < pool->cap.ngpus; g++)
        if (pool->used.gpu_milli[g] != 0) {
            errno = EBUSY;
            return -1;
        }
    size_t words = (size_t)cap->slots / 64 + 1;
    if (words > pool->slot_words) {
        uint64_t *bits = realloc(pool->slot_bits, words * sizeof(*bits));
        if (!bits) {
            errno = ENOMEM;
            return -1;
        }
        memset(bits + pool->slot_words, 0,
               (words - pool->slot_words) * sizeof(*bits));
        pool->slot_bits = bits;
        pool->slot_words = words;
    }
    pool->cap = *cap;
    pool->gpu_limit = cap->ngpus;
    /* The hold's GPUs were chosen among the old positions: choose again. */
    if (pool->held) {
        res_request_t h = pool->hold;
        res_pool_hold(pool, &h);
    }
    return 0;
}

void res_pool_limit_gpus(res_pool_t *pool, int n)
{
    pool->gpu_limit = n < 0 || n > pool->cap.ngpus ? pool->cap.ngpus : n;
    if (pool->held) {
        res_request_t h = pool->hold;
        res_pool_hold(pool, &h);
    }
}

/* ----------------------------------------------------------------- hold */

/* Choose the GPUs the held request will run on: those that are free or
 * have the fewest shares in use (they drain first), with enough memory. */
static void reserve_gpus(res_pool_t *p, const res_request_t *req)
{
    int pos[RES_MAX_GPUS], n = 0;
    for (int g = 0; g < p->gpu_limit; g++)
        if (gpu_mem_fits(p, g, req))
            pos[n++] = g;
    if (n == 0)
        return;
    if (req->gpus_milli >= RES_MILLI) {
        int want = (int)(req->gpus_milli / RES_MILLI);
        sort_by_load(p, pos, n);
        for (int i = 0; i < want && i < n; i++)
            p->used.gpu_reserved_milli[pos[i]] = RES_MILLI;
    } else {
        int g = share_choice(p, req, req->gpus_milli, false);
        if (g < 0) {
            sort_by_load(p, pos, n);
            g = pos[0];
        }
        p->used.gpu_reserved_milli[g] = req->gpus_milli;
    }
}

void res_pool_hold(res_pool_t *pool, const res_request_t *req)
{
    res_pool_unhold(pool);
    pool->held = true;
    pool->hold = *req;
    if (pool->hold.ncustom < 0 || pool->hold.ncustom > RES_MAX_CUSTOM)
        pool->hold.ncustom = 0;
    for (int i = 0; i < pool->hold.ncustom; i++) {
        int pos = custom_pos(pool, pool->hold.custom[i].name);
        if (pos >= 0)
            pool->hold_custom[pos] = pool->hold.custom[i].amount;
    }
    if (res_request_check(req, NULL) == 0 && req->gpus_milli > 0)
        reserve_gpus(pool, req);
}

void res_pool_unhold(res_pool_t *pool)
{
    pool->held = false;
    memset(&pool->hold, 0, sizeof(pool->hold));
    memset(pool->hold_custom, 0, sizeof(pool->hold_custom));
    memset(pool->used.gpu_reserved_milli, 0,
           sizeof(pool->used.gpu_reserved_milli));
}

bool res_pool_has_hold(const res_pool_t *pool)
{
    return pool->held;
}

/* -------------------------------------------------------------- explain */

static void scalar_text(char *buf, size_t size, const char *dim,
                        const char *need, const char *freetext,
                        const char *total, const char *held)
{
    snprintf(buf, size, "%s: needs %s free, %s of %s free%s%s%s", dim, need,
             freetext, total, held ? ", " : "", held ? held : "",
             held ? " held for a waiting task" : "");
}

static void explain_gpus(const res_pool_t *p, const res_request_t *req,
                         bool honour, char *buf, size_t size)
{
    char need[96], mem[48] = "";
    if (req->gpu_mem_bytes) {
        char n[32];
        snprintf(mem, sizeof(mem), " with %s memory",
                 util_format_size(req->gpu_mem_bytes, n, sizeof(n)));
    }
    if (req->gpus_milli >= RES_MILLI) {
        int pos[RES_MAX_GPUS];
        int nfree = whole_candidates(p, req, false, pos);
        int nheld = 0;
        for (int i = 0; honour && i < nfree; i++)
            nheld += p->used.gpu_reserved_milli[pos[i]] != 0;
        char h[32];
        snprintf(h, sizeof(h), "%d", nheld);
        snprintf(need, sizeof(need), "%" PRIu32 "%s",
                 req->gpus_milli / RES_MILLI, mem);
        char f[16], t[16];
        snprintf(f, sizeof(f), "%d", nfree);
        snprintf(t, sizeof(t), "%d", p->cap.ngpus);
        scalar_text(buf, size, "gpus", need, f, t, nheld ? h : NULL);
        return;
    }
    uint32_t best = 0;
    for (int g = 0; g < p->cap.ngpus; g++) {
        if (!gpu_mem_fits(p, g, req))
            continue;
        uint32_t taken = p->used.gpu_milli[g];
        if (honour)
            taken += p->used.gpu_reserved_milli[g];
        uint32_t room = (uint32_t)sub0(RES_MILLI, taken);
        if (room > best)
            best = room;
    }
    char b[32];
    snprintf(buf, size, "gpus: needs %s of one gpu%s, at most %s free on "
             "any of %d", res__format_milli(req->gpus_milli, need,
                                            sizeof(need)),
             mem, res__format_milli(best, b, sizeof(b)), p->cap.ngpus);
}

char *res_pool_explain(const res_pool_t *pool, const res_request_t *req,
                       char *buf, size_t size)
{
    banyan_error_t err;
    if (size == 0)
        return buf;
    if (!res_pool_fits_ever(pool, req, &err)) {
        snprintf(buf, size, "%s", err.text);
        return buf;
    }
    res_alloc_t a;
    enum shortage why;
    int idx;
    if (plan_request(pool, req, true, &a, &why, &idx)) {
        snprintf(buf, size, "fits now");
        return buf;
    }
    const res_capacity_t *c = &pool->cap;
    const res_request_t *h = pool->held ? &pool->hold : NULL;
    char n[32], f[32], t[32], hh[32];
    switch (why) {
    case SHORT_SLOTS:
        snprintf(n, sizeof(n), "%" PRIu32, req->slots);
        snprintf(f, sizeof(f), "%" PRIu64, sub0(c->slots, pool->used.slots));
        snprintf(t, sizeof(t), "%" PRIu32, c->slots);
        snprintf(hh, sizeof(hh), "%" PRIu32, h ? h->slots : 0);
        scalar_text(buf, size, "slots", n, f, t, h && h->slots ? hh : NULL);
        break;
    case SHORT_CPUS:
        res__format_milli(req->cpus_milli, n, sizeof(n));
        res__format_milli(sub0(c->cpus_milli, pool->used.cpus_milli), f,
                          sizeof(f));
        res__format_milli(c->cpus_milli, t, sizeof(t));
        res__format_milli(h ? h->cpus_milli : 0, hh, sizeof(hh));
        scalar_text(buf, size, "cpus", n, f, t,
                    h && h->cpus_milli ? hh : NULL);
        break;
    case SHORT_MEM:
        util_format_size(req->mem_bytes, n, sizeof(n));
        util_format_size(sub0(c->mem_bytes, pool->used.mem_bytes), f,
                         sizeof(f));
        util_format_size(c->mem_bytes, t, sizeof(t));
        util_format_size(h ? h->mem_bytes : 0, hh, sizeof(hh));
        scalar_text(buf, size, "mem", n, f, t, h && h->mem_bytes ? hh : NULL);
        break;
    case SHORT_RESERVE:
        snprintf(buf, size, "mem: host has %s available, below the %s "
                 "reserve for tasks without a mem request",
                 util_format_size(pool->host_mem_avail, f, sizeof(f)),
                 util_format_size(c->mem_reserve_bytes, t, sizeof(t)));
        break;
    case SHORT_CUSTOM: {
        const res_custom_t *rc = &req->custom[idx];
        int pos = custom_pos(pool, rc->name);
        uint64_t cap = pos >= 0 ? c->custom[pos].amount : 0;
        uint64_t used = pos >= 0 ? pool->used.custom[pos] : 0;
        uint64_t held = pos >= 0 ? pool->hold_custom[pos] : 0;
        snprintf(n, sizeof(n), "%" PRIu64, rc->amount);
        snprintf(f, sizeof(f), "%" PRIu64, sub0(cap, used));
        snprintf(t, sizeof(t), "%" PRIu64, cap);
        snprintf(hh, sizeof(hh), "%" PRIu64, held);
        scalar_text(buf, size, rc->name, n, f, t, held ? hh : NULL);
        break;
    }
    case SHORT_GPUS:
        explain_gpus(pool, req, true, buf, size);
        break;
    case SHORT_NONE:
        snprintf(buf, size, "fits now");
        break;
    }
    return buf;
}

/* ------------------------------------------------------------ shortfall */

static double missing(uint64_t need, uint64_t cap, uint64_t used)
{
    uint64_t avail = sub0(cap, used);
    if (need <= avail || cap == 0)
        return 0.0;
    return (double)(need - avail) / (double)cap;
}

double res_pool_shortfall(const res_pool_t *pool, const res_request_t *req)
{
    if (!res_pool_fits_ever(pool, req, NULL))
        return HUGE_VAL;
    const res_capacity_t *c = &pool->cap;
    const res_usage_t *u = &pool->used;
    double sum = missing(req->slots, c->slots, u->slots)
                 + missing(req->cpus_milli, c->cpus_milli, u->cpus_milli)
                 + missing(req->mem_bytes, c->mem_bytes, u->mem_bytes);
    if (req->mem_bytes == 0 && pool->host_mem_known
        && pool->host_mem_avail < c->mem_reserve_bytes)
        sum += 1.0;
    for (int i = 0; i < req->ncustom; i++) {
        int pos = custom_pos(pool, req->custom[i].name);
        sum += missing(req->custom[i].amount, c->custom[pos].amount,
                       u->custom[pos]);
    }
    if (req->gpus_milli >= RES_MILLI) {
        int pos[RES_MAX_GPUS];
        int want = (int)(req->gpus_milli / RES_MILLI);
        int nfree = whole_candidates(pool, req, false, pos);
        if (nfree < want)
            sum += (double)(want - nfree) / c->ngpus;
    } else if (req->gpus_milli > 0
               && share_choice(pool, req, req->gpus_milli, false) < 0) {
        uint32_t best = 0;
        for (int g = 0; g < c->ngpus; g++)
            if (gpu_mem_fits(pool, g, req)
                && RES_MILLI - u->gpu_milli[g] > best)
                best = RES_MILLI - u->gpu_milli[g];
        sum += (double)(req->gpus_milli - best) / RES_MILLI / c->ngpus;
    }
    return sum;
}

/* ---------------------------------------------------------- observation */

void res_pool_set_host_mem(res_pool_t *pool, uint64_t available_bytes)
{
    pool->host_mem_known = true;
    pool->host_mem_avail = available_bytes;
}

void res_pool_set_gpu_load(res_pool_t *pool, int pos, unsigned util_percent,
                           uint64_t mem_used_bytes)
{
    if (pos < 0 || pos >= pool->cap.ngpus)
        return;
    pool->cap.gpus[pos].util_percent = util_percent > 100 ? 100
                                                          : util_percent;
    pool->cap.gpus[pos].mem_used_bytes = mem_used_bytes;
}

unsigned res_pool_running(const res_pool_t *pool)
{
    return pool->used.running;
}

void res_pool_usage(const res_pool_t *pool, res_usage_t *usage)
{
    *usage = pool->used;
}

int res_alloc_gpu_indices(const res_pool_t *pool, const res_alloc_t *alloc,
                          int *out, int max)
{
    int n = 0;
    for (int g = 0; g < pool->cap.ngpus && n < max; g++)
        if (alloc->gpu_mask & (UINT64_C(1) << g))
            out[n++] = pool->cap.gpus[g].index;
    return n;
}
