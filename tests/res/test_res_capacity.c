/* SPDX-License-Identifier: MIT */
/* test_res_capacity.c - a pool whose capacity changes under it.
 *
 * A relay resizes the aggregate pool of a child when its subtree grows or
 * shrinks, with tasks still holding allocations from it.  This property
 * test mixes random acquires, releases, holds, claims (res_pool_claim),
 * forced counts (res_pool_acquire_over) and capacity changes
 * (res_pool_set_capacity), keeps its own list of live allocations, and
 * after every operation checks the pool against that list:
 *   - usage is exactly the sum of the live allocations;
 *   - a grant respects the capacity of that moment in every dimension it
 *     uses (a shrink below usage stops grants until usage is back under);
 *   - slot identities are unique, and new ones are within the capacity;
 *   - GPU positions are within the capacity, whole GPUs are never shared
 *     and no GPU carries more than 1000 milli (while nothing was forced);
 *   - set_capacity refuses (EBUSY) exactly when a GPU position it would
 *     drop is in use, refuses other custom names (EINVAL), and a refusal
 *     changes nothing;
 *   - a claim succeeds exactly when the model says the allocation fits.
 * Set BANYAN_TEST_SEED to replay a run; the seed is printed with diag.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "res/res.h"
#include "tap.h"

#define GIB (UINT64_C(1) << 30)

enum { OPS = 120000, MAX_LIVE = 40, MAX_SLOTS = 24, MAX_GPUS = 6 };

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static unsigned pick(unsigned n)
{
    return (unsigned)(rnd() % n);
}

typedef struct live {
    res_alloc_t alloc;
    bool forced;            /* from acquire_over: may exceed capacity */
} live_t;

static live_t lives[MAX_LIVE];
static int nlive;
static res_capacity_t cap;  /* the pool's capacity as the test set it */
static int gpu_limit;       /* res_pool_limit_gpus, as the test set it */
static unsigned failures;

static void fail_once(bool cond, const char *what, long op)
{
    static char seen[24][96];
    static int nseen;
    if (cond)
        return;
    failures++;
    for (int i = 0; i < nseen; i++)
        if (strcmp(seen[i], what) == 0)
            return;
    if (nseen < 24)
        snprintf(seen[nseen++], sizeof(seen[0]), "%s", what);
    diag("violation at op %ld: %s", op, what);
}

static res_request_t random_request(void)
{
    res_request_t r;
    memset(&r, 0, sizeof(r));
    unsigned s = pick(10);
    r.slots = s == 0 ? 0 : s == 1 ? 2 : 1;
    if (pick(2))
        r.cpus_milli = 250 * pick(9);
    if (pick(3) == 0)
        r.mem_bytes = (1 + pick(8)) * GIB;
    unsigned g = pick(10);
    static const uint32_t shares[] = {100, 250, 500, 750};
    if (g < 3)
        r.gpus_milli = shares[pick(4)];
    else if (g < 5)
        r.gpus_milli = 1000 * (1 + pick(2));
    if (pick(4) == 0) {
        r.ncustom = 1;
        strcpy(r.custom[0].name, pick(2) ? "license" : "token");
        r.custom[0].amount = 1 + pick(3);
    }
    return r;
}

/* A new capacity: every dimension moves, GPUs are appended or dropped at
 * the end, custom amounts change (names stay). */
static res_capacity_t random_capacity(void)
{
    res_capacity_t c = cap;
    c.slots = pick(MAX_SLOTS + 1);
    c.cpus_milli = 1000 * pick(9);
    c.mem_bytes = pick(17) * GIB;
    c.ngpus = (int)pick(MAX_GPUS + 1);
    for (int g = 0; g < c.ngpus; g++) {
        c.gpus[g].index = g;
        if (g >= cap.ngpus)
            c.gpus[g].mem_total_bytes = pick(2) ? 16 * GIB : 0;
    }
    for (int g = c.ngpus; g < RES_MAX_GPUS; g++)
        memset(&c.gpus[g], 0, sizeof(c.gpus[g]));
    c.custom[0].amount = pick(5);
    c.custom[1].amount = pick(10);
    return c;
}

static void model_usage(res_usage_t *u)
{
    memset(u, 0, sizeof(*u));
    for (int i = 0; i < nlive; i++) {
        const res_alloc_t *a = &lives[i].alloc;
        u->slots += a->slots;
        u->cpus_milli += a->cpus_milli;
        u->mem_bytes += a->mem_bytes;
        for (int g = 0; g < RES_MAX_GPUS; g++)
            if (a->gpu_mask & (UINT64_C(1) << g))
                u->gpu_milli[g] += a->gpu_milli_each;
        for (int c = 0; c < RES_MAX_CUSTOM; c++)
            u->custom[c] += a->custom[c];
    }
    u->running = (unsigned)nlive;
}

static bool any_forced(void)
{
    for (int i = 0; i < nlive; i++)
        if (lives[i].forced)
            return true;
    return false;
}

static void check_invariants(res_pool_t *p, long op)
{
    res_usage_t want, got;
    model_usage(&want);
    res_pool_usage(p, &got);
    fail_once(got.slots == want.slots && got.cpus_milli == want.cpus_milli
              && got.mem_bytes == want.mem_bytes
              && got.running == want.running
              && memcmp(got.gpu_milli, want.gpu_milli,
                        sizeof(want.gpu_milli)) == 0
              && memcmp(got.custom, want.custom, sizeof(want.custom)) == 0,
              "pool usage differs from the live allocations", op);
    bool seen[MAX_SLOTS + 1] = {false};
    bool unique = true;
    for (int i = 0; i < nlive; i++) {
        uint32_t s = lives[i].alloc.slot;
        if (s == 0)
            continue;
        if (s > MAX_SLOTS || seen[s])
            unique = false;
        else
            seen[s] = true;
    }
    fail_once(unique, "slot identities are not unique", op);
    for (int g = cap.ngpus; g < RES_MAX_GPUS; g++)
        fail_once(got.gpu_milli[g] == 0 && got.gpu_reserved_milli[g] == 0,
                  "a GPU position beyond the capacity is used or held", op);
    for (int g = gpu_limit; g < RES_MAX_GPUS; g++)
        fail_once(got.gpu_reserved_milli[g] == 0,
                  "a hold reserved a GPU beyond the limit", op);
    if (any_forced())
        return;
    uint64_t whole = 0;
    bool whole_ok = true;
    for (int i = 0; i < nlive; i++) {
        const res_alloc_t *a = &lives[i].alloc;
        if (a->gpu_milli_each != RES_MILLI)
            continue;
        if (whole & a->gpu_mask)
            whole_ok = false;
        whole |= a->gpu_mask;
        for (int g = 0; g < RES_MAX_GPUS; g++)
            if ((a->gpu_mask & (UINT64_C(1) << g))
                && want.gpu_milli[g] != RES_MILLI)
                whole_ok = false;
    }
    fail_once(whole_ok, "a whole GPU is shared", op);
    for (int g = 0; g < RES_MAX_GPUS; g++)
        fail_once(want.gpu_milli[g] <= RES_MILLI,
                  "a GPU carries more than 1000 milli", op);
}

/* A grant (not forced) must fit the capacity of now in what it uses. */
static void check_grant(res_pool_t *p, const res_alloc_t *a, long op)
{
    res_usage_t u;
    res_pool_usage(p, &u);
    if (a->slots) {
        fail_once(u.slots <= cap.slots, "a grant went over the slots", op);
        fail_once(a->slot >= 1 && a->slot <= cap.slots,
                  "a new slot identity is outside the capacity", op);
    }
    if (a->cpus_milli)
        fail_once(u.cpus_milli <= cap.cpus_milli,
                  "a grant went over the cpus", op);
    if (a->mem_bytes)
        fail_once(u.mem_bytes <= cap.mem_bytes,
                  "a grant went over the memory", op);
    for (int c = 0; c < cap.ncustom; c++)
        if (a->custom[c])
            fail_once(u.custom[c] <= cap.custom[c].amount,
                      "a grant went over a custom resource", op);
    for (int g = 0; g < RES_MAX_GPUS; g++)
        if (a->gpu_mask & (UINT64_C(1) << g))
            fail_once(g < gpu_limit && u.gpu_milli[g] <= RES_MILLI,
                      "a grant used a GPU beyond the capacity, the limit "
                      "or its room", op);
}

static void do_acquire(res_pool_t *p, bool held, const res_request_t *hold,
                       long op, unsigned *granted)
{
    if (nlive == MAX_LIVE)
        return;
    res_request_t r = held ? *hold : random_request();
    res_usage_t before, after;
    res_pool_usage(p, &before);
    res_alloc_t a;
    int rc = held ? res_pool_acquire_held(p, &r, &a)
                  : res_pool_acquire(p, &r, &a);
    if (rc < 0) {
        int e = errno;
        res_pool_usage(p, &after);
        fail_once(memcmp(&before, &after, sizeof(before)) == 0,
                  "a refused acquire changed the pool", op);
        fail_once(e == EAGAIN || e == ENOSPC,
                  "a refused acquire gave neither EAGAIN nor ENOSPC", op);
        return;
    }
    (*granted)++;
    lives[nlive++] = (live_t){a, false};
    check_grant(p, &a, op);
}

/* Would the model accept claiming a? */
static int claim_expect(const res_alloc_t *a)
{
    if ((a->slot == 0) != (a->slots == 0) || a->slot > cap.slots)
        return EINVAL;
    for (int g = cap.ngpus; g < RES_MAX_GPUS; g++)
        if (a->gpu_mask & (UINT64_C(1) << g))
            return EINVAL;
    res_usage_t u;
    model_usage(&u);
    for (int i = 0; i < nlive; i++)
        if (a->slot && lives[i].alloc.slot == a->slot)
            return EBUSY;
    if ((a->slots && u.slots + a->slots > cap.slots)
        || (a->cpus_milli && u.cpus_milli + a->cpus_milli > cap.cpus_milli)
        || (a->mem_bytes && u.mem_bytes + a->mem_bytes > cap.mem_bytes))
        return EBUSY;
    for (int c = 0; c < cap.ncustom; c++)
        if (a->custom[c] && u.custom[c] + a->custom[c] > cap.custom[c].amount)
            return EBUSY;
    for (int g = 0; g < cap.ngpus; g++) {
        if (!(a->gpu_mask & (UINT64_C(1) << g)))
            continue;
        if (a->gpu_milli_each == RES_MILLI ? u.gpu_milli[g] != 0
            : u.gpu_milli[g] + a->gpu_milli_each > RES_MILLI)
            return EBUSY;
    }
    return 0;
}

/* Release a live allocation and claim it back (a task that moved away and
 * came back), or claim one that was never granted. */
static void do_claim(res_pool_t *p, long op, unsigned *claimed,
                     unsigned *busy)
{
    res_alloc_t a;
    if (nlive > 0 && pick(3) != 0) {
        int i = (int)pick((unsigned)nlive);
        if (lives[i].forced)
            return;
        a = lives[i].alloc;
        res_pool_release(p, &a);
        lives[i] = lives[--nlive];
    } else {
        memset(&a, 0, sizeof(a));
        a.slots = 1;
        a.slot = 1 + pick(MAX_SLOTS);
        a.cpus_milli = 500 * pick(3);
        if (pick(3) == 0) {
            a.gpu_mask = UINT64_C(1) << pick(MAX_GPUS);
            a.gpu_milli_each = pick(2) ? RES_MILLI : 250;
        }
    }
    int want = claim_expect(&a);
    res_usage_t before, after;
    res_pool_usage(p, &before);
    errno = 0;
    int rc = res_pool_claim(p, &a);
    fail_once(rc == 0 ? want == 0 : errno == want,
              "a claim disagrees with the model", op);
    if (rc < 0) {
        res_pool_usage(p, &after);
        fail_once(memcmp(&before, &after, sizeof(before)) == 0,
                  "a refused claim changed the pool", op);
        (*busy)++;
        return;
    }
    (*claimed)++;
    lives[nlive++] = (live_t){a, false};
}

static void do_over(res_pool_t *p, long op, unsigned *forced)
{
    if (nlive == MAX_LIVE)
        return;
    res_request_t r = random_request();
    res_alloc_t a;
    fail_once(res_pool_acquire_over(p, &r, &a) == 0,
              "acquire_over refused a valid request", op);
    fail_once(a.slots == r.slots && a.cpus_milli == r.cpus_milli
              && a.mem_bytes == r.mem_bytes,
              "acquire_over did not count the request's amounts", op);
    fail_once(a.slot <= cap.slots, "acquire_over gave an identity outside "
              "the capacity", op);
    lives[nlive++] = (live_t){a, true};
    (*forced)++;
}

static void do_set_capacity(res_pool_t *p, long op, unsigned *resized,
                            unsigned *ebusy)
{
    res_capacity_t c = random_capacity();
    bool rename = pick(40) == 0;
    if (rename)
        strcpy(c.custom[1].name, "other");
    res_usage_t u;
    res_pool_usage(p, &u);
    int want = rename ? EINVAL : 0;
    for (int g = c.ngpus; !want && g < cap.ngpus; g++)
        if (u.gpu_milli[g] != 0)
            want = EBUSY;
    res_capacity_t before = *res_pool_capacity(p);
    errno = 0;
    int rc = res_pool_set_capacity(p, &c);
    fail_once(rc == 0 ? want == 0 : errno == want,
              "set_capacity's answer disagrees with the model", op);
    if (rc < 0) {
        res_usage_t after;
        res_pool_usage(p, &after);
        fail_once(memcmp(&before, res_pool_capacity(p), sizeof(before)) == 0
                  && memcmp(&u, &after, sizeof(u)) == 0,
                  "a refused set_capacity changed the pool", op);
        *ebusy += errno == EBUSY;
        return;
    }
    fail_once(memcmp(&c, res_pool_capacity(p), sizeof(c)) == 0,
              "the pool does not report the capacity it was given", op);
    cap = c;
    gpu_limit = c.ngpus;
    (*resized)++;
}

/* The documented cases, one by one. */
static void test_examples(void)
{
    res_capacity_t c;
    memset(&c, 0, sizeof(c));
    c.slots = 4;
    c.ngpus = 2;
    c.ncustom = 1;
    strcpy(c.custom[0].name, "license");
    c.custom[0].amount = 1;
    res_pool_t *p = res_pool_create(&c);
    res_request_t one;
    memset(&one, 0, sizeof(one));
    one.slots = 1;
    res_alloc_t a[6];
    for (int i = 0; i < 4; i++)
        res_pool_acquire(p, &one, &a[i]);
    c.slots = 2;
    ok(res_pool_set_capacity(p, &c) == 0, "shrink below usage is allowed");
    res_alloc_t x;
    ok(res_pool_acquire(p, &one, &x) < 0 && errno == EAGAIN,
       "no grant while usage is above the new capacity");
    res_pool_release(p, &a[3]);
    res_pool_release(p, &a[1]);
    ok(res_pool_acquire(p, &one, &x) < 0 && errno == EAGAIN,
       "still none at usage == capacity");
    res_pool_release(p, &a[2]); /* identity 3, above the capacity */
    ok(res_pool_acquire(p, &one, &a[1]) == 0 && a[1].slot == 2,
       "back under: the free identity within the capacity is given");
    c.slots = 6;
    ok(res_pool_set_capacity(p, &c) == 0, "grow");
    bool ids_ok = true;
    for (int i = 2; i < 6; i++)
        ids_ok &= res_pool_acquire(p, &one, &a[i]) == 0
                  && a[i].slot == (uint32_t)i + 1;
    ok(ids_ok, "growing makes identities 3..6 available again");
    ok(res_pool_running(p) == 6, "six running");
    for (int i = 0; i < 6; i++)
        res_pool_release(p, &a[i]);

    res_request_t gpu;
    memset(&gpu, 0, sizeof(gpu));
    gpu.gpus_milli = 2000;
    res_pool_acquire(p, &gpu, &x);
    c.ngpus = 1;
    errno = 0;
    ok(res_pool_set_capacity(p, &c) < 0 && errno == EBUSY
       && res_pool_capacity(p)->ngpus == 2 && res_pool_capacity(p)->slots == 6,
       "dropping a GPU in use: EBUSY, nothing changed");
    res_pool_release(p, &x);
    ok(res_pool_set_capacity(p, &c) == 0 && res_pool_capacity(p)->ngpus == 1,
       "dropped once free");
    ok(res_pool_acquire(p, &gpu, &x) < 0 && errno == ENOSPC,
       "a 2-GPU request never fits one GPU");
    c.ngpus = 3;
    ok(res_pool_set_capacity(p, &c) == 0
       && res_pool_acquire(p, &gpu, &x) == 0, "appended GPUs are used");
    res_pool_release(p, &x);

    res_capacity_t bad = c;
    strcpy(bad.custom[0].name, "token");
    errno = 0;
    ok(res_pool_set_capacity(p, &bad) < 0 && errno == EINVAL,
       "a renamed custom resource: EINVAL");
    bad = c;
    bad.ncustom = 0;
    errno = 0;
    ok(res_pool_set_capacity(p, &bad) < 0 && errno == EINVAL,
       "a dropped custom resource: EINVAL");
    c.custom[0].amount = 0;
    ok(res_pool_set_capacity(p, &c) == 0, "a custom amount may change");
    res_request_t lic = one;
    lic.ncustom = 1;
    strcpy(lic.custom[0].name, "license");
    lic.custom[0].amount = 1;
    ok(res_pool_acquire(p, &lic, &x) < 0 && errno == ENOSPC,
       "and grants follow it");

    /* A hold survives a resize. */
    res_request_t two = one;
    two.slots = 2;
    c.slots = 4;
    res_pool_set_capacity(p, &c);
    res_pool_acquire(p, &two, &a[0]);
    res_pool_acquire(p, &one, &a[1]);
    res_pool_hold(p, &two);
    c.slots = 5;
    res_pool_set_capacity(p, &c);
    ok(res_pool_has_hold(p) && res_pool_acquire(p, &one, &x) < 0,
       "a hold is kept across a resize");
    res_pool_release(p, &a[0]);
    ok(res_pool_acquire_held(p, &two, &x) == 0, "and granted to its owner");
    res_pool_release(p, &x);
    res_pool_release(p, &a[1]);

    /* Claim: exact identities and GPUs. */
    res_alloc_t cl;
    memset(&cl, 0, sizeof(cl));
    cl.slots = 1;
    cl.slot = 5;
    cl.gpu_mask = 4;
    cl.gpu_milli_each = 500;
    ok(res_pool_claim(p, &cl) == 0, "claim slot 5 and half of GPU 2");
    errno = 0;
    ok(res_pool_claim(p, &cl) < 0 && errno == EBUSY, "twice: EBUSY");
    res_request_t g1;
    memset(&g1, 0, sizeof(g1));
    g1.gpus_milli = 3000;
    ok(res_pool_acquire(p, &g1, &x) < 0 && errno == EAGAIN,
       "the claimed share keeps whole-GPU requests off GPU 2");
    res_pool_release(p, &cl);
    cl.slot = 6;
    errno = 0;
    ok(res_pool_claim(p, &cl) < 0 && errno == EINVAL,
       "an identity outside the pool: EINVAL");
    cl.slot = 1;
    cl.gpu_mask = 8;
    errno = 0;
    ok(res_pool_claim(p, &cl) < 0 && errno == EINVAL,
       "a GPU position outside the pool: EINVAL");
    res_pool_destroy(p);
}

int main(void)
{
    plan(NO_PLAN);
    test_examples();
    const char *env = getenv("BANYAN_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0)
                        : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rng_state = seed;
    diag("seed %llu (set BANYAN_TEST_SEED to replay)",
         (unsigned long long)seed);

    memset(&cap, 0, sizeof(cap));
    cap.slots = 8;
    cap.cpus_milli = 4000;
    cap.mem_bytes = 8 * GIB;
    cap.ngpus = 2;
    for (int g = 0; g < 2; g++)
        cap.gpus[g].index = g;
    cap.ncustom = 2;
    strcpy(cap.custom[0].name, "license");
    cap.custom[0].amount = 2;
    strcpy(cap.custom[1].name, "token");
    cap.custom[1].amount = 6;
    res_pool_t *p = res_pool_create(&cap);
    ok(p != NULL, "pool created");
    gpu_limit = cap.ngpus;

    res_request_t hold;
    bool hold_set = false;
    unsigned granted = 0, resized = 0, ebusy = 0, claimed = 0, busy = 0,
             forced = 0;
    for (long op = 0; op < OPS; op++) {
        unsigned k = pick(100);
        if (k < 45) {
            do_acquire(p, false, &hold, op, &granted);
        } else if (k < 80) {
            if (nlive > 0) {
                int i = (int)pick((unsigned)nlive);
                res_pool_release(p, &lives[i].alloc);
                lives[i] = lives[--nlive];
            }
        } else if (k < 88) {
            do_set_capacity(p, op, &resized, &ebusy);
        } else if (k < 93) {
            do_claim(p, op, &claimed, &busy);
        } else if (k < 94) {
            do_over(p, op, &forced);
        } else if (k < 96) {
            hold = random_request();
            res_pool_hold(p, &hold);
            hold_set = true;
        } else if (k < 97) {
            res_pool_unhold(p);
            hold_set = false;
        } else if (k < 98) {
            int n = (int)pick(MAX_GPUS + 2) - 1;
            res_pool_limit_gpus(p, n);
            gpu_limit = n < 0 || n > cap.ngpus ? cap.ngpus : n;
        } else if (hold_set) {
            unsigned before = granted;
            do_acquire(p, true, &hold, op, &granted);
            if (granted != before)
                hold_set = false;
        }
        fail_once(res_pool_has_hold(p) == hold_set,
                  "has_hold does not match the holds set (a resize lost "
                  "it?)", op);
        check_invariants(p, op);
    }
    diag("%d ops: %u granted, %u resizes (%u EBUSY), %u claims (%u "
         "refused), %u forced", OPS, granted, resized, ebusy, claimed, busy,
         forced);
    ok(failures == 0, "no invariant broke in %d random operations", OPS);
    ok(granted > 1000 && resized > 1000 && ebusy > 50 && claimed > 500
       && busy > 100 && forced > 100,
       "the run exercised grants, resizes, refusals, claims and forcing");
    while (nlive > 0)
        res_pool_release(p, &lives[--nlive].alloc);
    res_pool_unhold(p);
    res_usage_t u, zero;
    res_pool_usage(p, &u);
    memset(&zero, 0, sizeof(zero));
    ok(memcmp(&u, &zero, sizeof(u)) == 0,
       "releasing everything returns the pool to empty");
    res_pool_destroy(p);
    return done_testing();
}
