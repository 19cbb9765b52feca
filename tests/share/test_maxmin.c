/* SPDX-License-Identifier: MIT */
/* test_maxmin.c - the arithmetic of fair sharing: one-level water-filling
 * on known cases and random ones (checked against the max-min properties),
 * and the two-level division between users and their instances. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "share/share.h"
#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool maxmin_is(uint64_t cap, const uint64_t *w, size_t n,
                      const uint64_t *want_out)
{
    uint64_t out[16];
    if (share_maxmin(cap, w, n, out) < 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (out[i] != want_out[i]) {
            diag("out[%zu] = %llu, expected %llu", i,
                 (unsigned long long)out[i],
                 (unsigned long long)want_out[i]);
            return false;
        }
    return true;
}

static void test_known(void)
{
    uint64_t eq[] = {10, 10, 10}, eq_out[] = {4, 4, 4};
    ok(maxmin_is(12, eq, 3, eq_out), "equal wants above capacity split it "
                                     "equally");
    uint64_t small[] = {1, 10, 10}, small_out[] = {1, 6, 5};
    ok(maxmin_is(12, small, 3, small_out),
       "a small want is met and the rest is split, remainder to the lowest "
       "index");
    uint64_t fit[] = {1, 2, 3}, fit_out[] = {1, 2, 3};
    ok(maxmin_is(100, fit, 3, fit_out), "wants that fit are met exactly");
    uint64_t zero_out[] = {0, 0, 0};
    ok(maxmin_is(0, eq, 3, zero_out), "no capacity gives nothing");
    uint64_t none[] = {0, 8, 0}, none_out[] = {0, 8, 0};
    ok(maxmin_is(8, none, 3, none_out),
       "claimants wanting nothing leave everything to the one that wants");
    uint64_t steps[] = {2, 30, 5, 30}, steps_out[] = {2, 8, 5, 8};
    ok(maxmin_is(23, steps, 4, steps_out),
       "water rises past two small wants to level the large ones");
    uint64_t rem[] = {9, 9, 9}, rem_out[] = {4, 3, 3};
    ok(maxmin_is(10, rem, 3, rem_out), "10 over three: 4, 3, 3");
    uint64_t big[] = {UINT64_MAX, UINT64_MAX},
             big_out[] = {UINT64_MAX / 2 + 1, UINT64_MAX / 2};
    ok(maxmin_is(UINT64_MAX, big, 2, big_out),
       "figures near UINT64_MAX do not overflow");
    ok(share_maxmin(5, NULL, 0, NULL) == 0, "no claimants is fine");
}

/* Random cases: check the defining properties rather than values. */
static void test_random(void)
{
    uint64_t s = 7;
    int bad = 0;
    for (int t = 0; t < 2000 && !bad; t++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        size_t n = 1 + (s >> 33) % 12;
        uint64_t w[12], out[12], sum = 0, got = 0;
        uint64_t cap = (s >> 20) % 200;
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            w[i] = (s >> 40) % 50;
            sum += w[i];
        }
        share_maxmin(cap, w, n, out);
        for (size_t i = 0; i < n; i++) {
            got += out[i];
            if (out[i] > w[i])
                bad = 1; /* more than wanted */
            for (size_t j = 0; j < n; j++)
                if (out[i] < w[i] && out[i] + 1 < out[j])
                    bad = 2; /* unsatisfied yet below someone else */
        }
        if (got != (cap < sum ? cap : sum))
            bad = 3; /* capacity or wants not handed out exactly */
        if (bad)
            diag("case %d failed with property %d", t, bad);
    }
    ok(!bad, "2000 random cases: nobody gets more than wanted, the total is "
             "min(capacity, wants), no unsatisfied claimant is below another");
}

static share_record_t rec(uid_t uid, pid_t pid, uint64_t cpus, uint64_t mem)
{
    share_record_t r;
    memset(&r, 0, sizeof(r));
    r.uid = uid;
    r.pid = pid;
    r.want.cpus_milli = cpus;
    r.want.mem_bytes = mem;
    return r;
}

static void test_two_levels(void)
{
    share_amount_t cap = {12000, 1200};
    share_grant_t g;
    /* User 1 runs three instances, user 2 one: users first. */
    share_record_t r[] = {
        rec(1, 10, 99000, 9999), rec(1, 11, 99000, 9999),
        rec(2, 20, 99000, 9999), rec(1, 12, 99000, 9999),
    };
    ok(share_fair(r, 4, 2, &cap, &g) == 0 && g.fair.cpus_milli == 6000 &&
           g.fair.mem_bytes == 600,
       "a lone instance of user 2 gets half, against user 1's three");
    share_fair(r, 4, 0, &cap, &g);
    is_int(g.fair.cpus_milli, 2000,
           "each of user 1's three instances gets a third of its half");
    is_int(g.ninstances, 4, "four instances are counted");
    is_int(g.nusers, 2, "two users are counted");

    /* User 1 wants little: user 2's two instances share the rest. */
    share_record_t q[] = {
        rec(2, 20, 99000, 100), rec(1, 10, 2000, 100), rec(2, 21, 99000, 900),
    };
    share_fair(q, 3, 1, &cap, &g);
    is_int(g.fair.cpus_milli, 2000, "a user wanting 2 cores gets 2");
    share_fair(q, 3, 0, &cap, &g);
    is_int(g.fair.cpus_milli, 5000,
           "the other user's two instances share the other 10 cores");
    is_int(g.fair.mem_bytes, 100,
           "memory is divided on its own: a small memory want is met");
    share_fair(q, 3, 2, &cap, &g);
    is_int(g.fair.mem_bytes, 900,
           "and the instance wanting more memory gets what it asks (900)");

    /* limit: capacity minus what the others hold. */
    share_record_t h[] = {rec(1, 10, 12000, 1200), rec(1, 11, 12000, 1200)};
    h[0].hold = (share_amount_t){12000, 1000};
    share_fair(h, 2, 1, &cap, &g);
    is_int(g.fair.cpus_milli, 6000, "the newcomer's fair share is half");
    is_int(g.limit.cpus_milli, 0,
           "its limit is 0 while the other still holds every core");
    is_int(g.limit.mem_bytes, 200,
           "and its memory limit is what the other does not hold");
    share_fair(h, 2, 0, &cap, &g);
    is_int(g.limit.cpus_milli, 6000,
           "the shrinking instance's limit is its fair share");

    errno = 0;
    ok(share_fair(h, 2, 2, &cap, &g) < 0 && errno == EINVAL,
       "an index outside the records is EINVAL");
    share_fair(h, 1, 0, &cap, &g);
    ok(g.fair.cpus_milli == 12000 && g.limit.cpus_milli == 12000,
       "a lone instance gets the whole capacity");
}

int main(void)
{
    plan(NO_PLAN);
    test_known();
    test_random();
    test_two_levels();
    return done_testing();
}
