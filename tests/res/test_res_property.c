/* SPDX-License-Identifier: MIT */
/* test_res_property.c - random acquire/release sequences never break the
 * pool's invariants.
 *
 * The test keeps its own list of live allocations and, after every
 * operation, recomputes what must be in use from that list alone and
 * compares it with the pool: nothing is oversubscribed, a refused acquire
 * changed nothing, every GPU carries at most 1000 milli, whole GPUs are
 * never shared, slot identities are unique, and holds are respected.  Set
 * BANYAN_TEST_SEED to replay a run; the seed is printed with diag.
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

enum { OPS = 150000, MAX_LIVE = 48 };

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
    res_request_t req;
    res_alloc_t alloc;
} live_t;

static live_t lives[MAX_LIVE];
static int nlive;
static res_capacity_t cap;
static unsigned failures;  /* invariant violations, reported once each kind */

static void fail_once(bool cond, const char *what, long op)
{
    static char seen[16][96];
    static int nseen;
    if (cond)
        return;
    failures++;
    for (int i = 0; i < nseen; i++)
        if (strcmp(seen[i], what) == 0)
            return;
    if (nseen < 16)
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
        r.cpus_milli = 250 * pick(17);
    if (pick(3) == 0)
        r.mem_bytes = (1 + pick(24)) * (GIB / 2);
    unsigned g = pick(12);
    static const uint32_t shares[] = {100, 250, 333, 500, 750};
    if (g < 4)
        r.gpus_milli = shares[pick(5)];
    else if (g < 7)
        r.gpus_milli = 1000 * (1 + pick(3));
    else if (g == 7)
        r.gpus_milli = 5000; /* never fits on 4 GPUs */
    if (r.gpus_milli && pick(4) == 0)
        r.gpu_mem_bytes = 20 * GIB;
    if (pick(4) == 0) {
        r.ncustom = 1;
        strcpy(r.custom[0].name, pick(2) ? "license" : "token");
        r.custom[0].amount = 1 + pick(pick(8) == 0 ? 12 : 3);
    }
    if (pick(50) == 0) {
        r.ncustom = 1;
        strcpy(r.custom[0].name, "absent");
        r.custom[0].amount = 1;
    }
    return r;
}

static int custom_pos(const char *name)
{
    for (int i = 0; i < cap.ncustom; i++)
        if (strcmp(cap.custom[i].name, name) == 0)
            return i;
    return -1;
}

/* Recompute usage from the live list and check it against the pool. */
static void check_invariants(res_pool_t *p, long op)
{
    res_usage_t want, got;
    memset(&want, 0, sizeof(want));
    bool slot_seen[17] = {false};
    bool slots_ok = true, whole_ok = true, mem_ok = true;
    uint64_t whole_mask = 0;
    for (int i = 0; i < nlive; i++) {
        const res_alloc_t *a = &lives[i].alloc;
        want.slots += a->slots;
        want.cpus_milli += a->cpus_milli;
        want.mem_bytes += a->mem_bytes;
        for (int g = 0; g < cap.ngpus; g++) {
            if (!(a->gpu_mask & (UINT64_C(1) << g)))
                continue;
            want.gpu_milli[g] += a->gpu_milli_each;
            uint64_t total = cap.gpus[g].mem_total_bytes;
            if (total && lives[i].req.gpu_mem_bytes > total)
                mem_ok = false;
        }
        for (int c = 0; c < cap.ncustom; c++)
            want.custom[c] += a->custom[c];
        if (a->gpu_milli_each == RES_MILLI) {
            if (whole_mask & a->gpu_mask)
                whole_ok = false;
            whole_mask |= a->gpu_mask;
        }
        if (a->slots) {
            if (a->slot < 1 || a->slot > cap.slots || slot_seen[a->slot])
                slots_ok = false;
            else
                slot_seen[a->slot] = true;
        } else if (a->slot != 0) {
            slots_ok = false;
        }
    }
    want.running = (unsigned)nlive;
    res_pool_usage(p, &got);
    fail_once(got.slots == want.slots && got.cpus_milli == want.cpus_milli
              && got.mem_bytes == want.mem_bytes
              && got.running == want.running
              && memcmp(got.gpu_milli, want.gpu_milli,
                        sizeof(want.gpu_milli)) == 0
              && memcmp(got.custom, want.custom, sizeof(want.custom)) == 0,
              "pool usage differs from the live allocations", op);
    fail_once(want.slots <= cap.slots, "slots oversubscribed", op);
    fail_once(want.cpus_milli <= cap.cpus_milli, "cpus oversubscribed", op);
    fail_once(want.mem_bytes <= cap.mem_bytes, "memory oversubscribed", op);
    for (int c = 0; c < cap.ncustom; c++)
        fail_once(want.custom[c] <= cap.custom[c].amount,
                  "custom resource oversubscribed", op);
    for (int g = 0; g < cap.ngpus; g++)
        fail_once(want.gpu_milli[g] <= RES_MILLI,
                  "a GPU carries more than 1000 milli", op);
    for (int i = 0; i < nlive; i++) {
        const res_alloc_t *a = &lives[i].alloc;
        if (a->gpu_milli_each != RES_MILLI)
            continue;
        for (int g = 0; g < cap.ngpus; g++)
            if ((a->gpu_mask & (UINT64_C(1) << g))
                && want.gpu_milli[g] != RES_MILLI)
                whole_ok = false;
    }
    fail_once(whole_ok, "a whole GPU is shared with another allocation", op);
    fail_once(slots_ok, "slot identities are not unique or out of range",
              op);
    fail_once(mem_ok, "a GPU without enough memory was handed out", op);
    fail_once(res_pool_running(p) == (unsigned)nlive,
              "running count differs", op);
}

/* A successful plain acquire while a hold is set must leave the hold's
 * needs free in every dimension the new allocation used. */
static void check_hold_respected(res_pool_t *p, const res_request_t *hold,
                                 const res_alloc_t *a, long op)
{
    res_usage_t u;
    res_pool_usage(p, &u);
    if (a->slots)
        fail_once(u.slots + hold->slots <= cap.slots,
                  "an acquire ate into the held slots", op);
    if (a->cpus_milli)
        fail_once(u.cpus_milli + hold->cpus_milli <= cap.cpus_milli,
                  "an acquire ate into the held cpus", op);
    if (a->mem_bytes)
        fail_once(u.mem_bytes + hold->mem_bytes <= cap.mem_bytes,
                  "an acquire ate into the held memory", op);
    for (int i = 0; i < hold->ncustom; i++) {
        int c = custom_pos(hold->custom[i].name);
        if (c >= 0 && a->custom[c])
            fail_once(u.custom[c] + hold->custom[i].amount
                          <= cap.custom[c].amount,
                      "an acquire ate into a held custom resource", op);
    }
    for (int g = 0; g < cap.ngpus; g++)
        if (a->gpu_mask & (UINT64_C(1) << g))
            fail_once(u.gpu_milli[g] + u.gpu_reserved_milli[g] <= RES_MILLI,
                      "an acquire took a GPU share reserved by the hold", op);
}

static void do_acquire(res_pool_t *p, bool held, const res_request_t *hold,
                       bool hold_set, uint64_t host_mem, bool host_known,
                       long op, unsigned *granted, unsigned *eagain,
                       unsigned *enospc)
{
    if (nlive == MAX_LIVE)
        return;
    res_request_t r = held ? *hold : random_request();
    res_usage_t before, after;
    res_pool_usage(p, &before);
    char why[200];
    res_pool_explain(p, &r, why, sizeof(why));
    bool ever = res_pool_fits_ever(p, &r, NULL);
    res_alloc_t a;
    memset(&a, 0xA5, sizeof(a));
    errno = 0;
    int rc = held ? res_pool_acquire_held(p, &r, &a)
                  : res_pool_acquire(p, &r, &a);
    if (rc < 0) {
        int e = errno;
        res_pool_usage(p, &after);
        fail_once(memcmp(&before, &after, sizeof(before)) == 0,
                  "a refused acquire changed the pool", op);
        fail_once(e == (ever ? EAGAIN : ENOSPC),
                  "refusal errno is not EAGAIN/ENOSPC as fits_ever says",
                  op);
        if (!held)
            fail_once(strcmp(why, "fits now") != 0,
                      "explain said 'fits now' for a refused request", op);
        if (e == EAGAIN)
            (*eagain)++;
        else
            (*enospc)++;
        return;
    }
    (*granted)++;
    if (!held)
        fail_once(strcmp(why, "fits now") == 0,
                  "explain gave a shortfall for a granted request", op);
    fail_once(r.mem_bytes != 0 || !host_known
                  || host_mem >= cap.mem_reserve_bytes,
              "a mem=0 task was admitted below the host memory reserve", op);
    unsigned bits = (unsigned)__builtin_popcountll(a.gpu_mask);
    if (r.gpus_milli >= RES_MILLI)
        fail_once(bits == r.gpus_milli / RES_MILLI
                      && a.gpu_milli_each == RES_MILLI,
                  "a whole-GPU request got the wrong number of GPUs", op);
    else if (r.gpus_milli)
        fail_once(bits == 1 && a.gpu_milli_each == r.gpus_milli,
                  "a share was not placed on exactly one GPU", op);
    else
        fail_once(bits == 0, "a request without GPUs got a GPU", op);
    lives[nlive].req = r;
    lives[nlive].alloc = a;
    nlive++;
    if (!held && hold_set)
        check_hold_respected(p, hold, &a, op);
    if (held)
        fail_once(!res_pool_has_hold(p),
                  "a granted acquire_held left the hold in place", op);
}

int main(void)
{
    plan(NO_PLAN);
    const char *env = getenv("BANYAN_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0)
                        : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    rng_state = seed;
    diag("seed %llu (set BANYAN_TEST_SEED to replay)",
         (unsigned long long)seed);

    memset(&cap, 0, sizeof(cap));
    cap.slots = 16;
    cap.cpus_milli = 8000;
    cap.mem_bytes = 32 * GIB;
    cap.mem_reserve_bytes = GIB;
    cap.ngpus = 4;
    uint64_t totals[4] = {16 * GIB, 16 * GIB, 80 * GIB, 0};
    for (int g = 0; g < 4; g++) {
        cap.gpus[g].index = g;
        cap.gpus[g].mem_total_bytes = totals[g];
    }
    cap.ncustom = 2;
    strcpy(cap.custom[0].name, "license");
    cap.custom[0].amount = 3;
    strcpy(cap.custom[1].name, "token");
    cap.custom[1].amount = 10;
    res_pool_t *p = res_pool_create(&cap);
    ok(p != NULL, "pool created");

    res_request_t hold;
    memset(&hold, 0, sizeof(hold));
    bool hold_set = false, host_known = false;
    uint64_t host_mem = 0;
    unsigned granted = 0, eagain = 0, enospc = 0, holds = 0;
    for (long op = 0; op < OPS; op++) {
        unsigned k = pick(100);
        if (k < 52) {
            do_acquire(p, false, &hold, hold_set, host_mem, host_known, op,
                       &granted, &eagain, &enospc);
        } else if (k < 90) {
            if (nlive > 0) {
                int i = (int)pick((unsigned)nlive);
                res_pool_release(p, &lives[i].alloc);
                lives[i] = lives[--nlive];
            }
        } else if (k < 93) {
            res_request_t h = random_request();
            if (h.gpus_milli == 5000)
                h.gpus_milli = 2000;
            if (res_pool_fits_ever(p, &h, NULL)) {
                hold = h;
                res_pool_hold(p, &hold);
                hold_set = true;
                holds++;
            }
        } else if (k < 95) {
            res_pool_unhold(p);
            hold_set = false;
        } else if (k < 97) {
            if (hold_set) {
                unsigned before = granted;
                do_acquire(p, true, &hold, hold_set, host_mem, host_known, op,
                           &granted, &eagain, &enospc);
                if (granted != before)
                    hold_set = false;
            }
        } else if (k < 99) {
            host_known = true;
            host_mem = pick(4) * GIB;
            res_pool_set_host_mem(p, host_mem);
        } else {
            res_pool_set_gpu_load(p, (int)pick(4), pick(101),
                                  pick(16) * GIB);
        }
        fail_once(res_pool_has_hold(p) == hold_set,
                  "has_hold does not match the holds set", op);
        check_invariants(p, op);
    }
    diag("%d ops: %u granted, %u EAGAIN, %u ENOSPC, %u holds", OPS, granted,
         eagain, enospc, holds);
    ok(failures == 0, "no invariant broke in %d random operations", OPS);
    ok(granted > 1000 && eagain > 1000 && enospc > 100,
       "the run exercised grants, waits and impossible requests");
    while (nlive > 0)
        res_pool_release(p, &lives[--nlive].alloc);
    res_usage_t u, zero;
    res_pool_usage(p, &u);
    memset(&zero, 0, sizeof(zero));
    res_pool_unhold(p);
    res_pool_usage(p, &u);
    ok(memcmp(&u, &zero, sizeof(u)) == 0,
       "releasing everything returns the pool to empty");
    res_pool_destroy(p);
    return done_testing();
}
