/* SPDX-License-Identifier: MIT */
/* test_model.c - the fanout cost model and the prefetch depth.
 *
 * T(k) = D(n, k) * (hop + k * per_msg): a free per-message cost favours the
 * flattest tree, an expensive one a narrow deep tree, and the chosen k is
 * always a true minimum over [2, 1024].
 */
#include <math.h>
#include <stdio.h>

#include "tap.h"
#include "tree/tree.h"

static bool is_min(uint64_t n, double hop, double pm, unsigned k)
{
    double tk = tree_model_bcast_us(n, k, hop, pm);
    for (unsigned j = 2; j <= 1024; j++) {
        double tj = tree_model_bcast_us(n, j, hop, pm);
        if (tj < tk || (tj == tk && j < k))
            return false;
    }
    return true;
}

int main(void)
{
    plan(NO_PLAN);

    is_int(tree_model_bcast_us(10000, 10, 100, 5), 4 * (100 + 50),
           "T(10000, 10) = 4 levels x (100 + 10 x 5) us");
    is_int(tree_model_fanout(500, 100, 0.001), 500,
           "a tiny per-message cost gives the flat tree (k = n = 500)");
    is_int(tree_model_fanout(500, 100, 0), 500,
           "a free per-message cost also gives k = n");
    is_int(tree_model_fanout(10000, 100, 0), 100,
           "beyond 1024 engines, the smallest k of depth 2 (100 for 10000)");
    ok(tree_model_fanout(10000, 1, 1000) <= 3,
       "an expensive per-message cost gives a narrow tree (k = %u)",
       tree_model_fanout(10000, 1, 1000));
    is_int(tree_model_fanout(10000, 100, 5), 10,
           "hop 100 us, 5 us per message, 10000 engines: k = 10");

    bool mono = true, mins = true;
    unsigned prev = 1025;
    for (double pm = 0.01; pm < 10000; pm *= 1.7) {
        unsigned k = tree_model_fanout(10000, 100, pm);
        if (k > prev)
            mono = false;
        prev = k;
        if (!is_min(10000, 100, pm, k))
            mins = false;
    }
    ok(mono, "k never grows as the per-message cost grows");
    ok(mins, "the chosen k is the smallest minimiser over [2, 1024]");
    bool range = true;
    for (uint64_t n = 0; n < 3000; n += 37)
        for (double pm = 0; pm < 100; pm += 9.5) {
            unsigned k = tree_model_fanout(n, 50, pm);
            if (k < 2 || k > 1024 || !is_min(n, 50, pm, k))
                range = false;
        }
    ok(range, "k stays in [2, 1024] and minimal for n up to 3000");
    unsigned knan = tree_model_fanout(100, NAN, -5);
    ok(knan >= 2 && knan <= 1024, "bad constants are clamped (k = %u)", knan);

    is_int(tree_prefetch_depth(200, 1000000, 16), 2,
           "rtt 200 us, tasks of 1 s: depth 2 (one running, one waiting)");
    is_int(tree_prefetch_depth(0, 1000, 16), 1,
           "no round trip: depth 1 (nothing waits)");
    is_int(tree_prefetch_depth(3000, 1000, 16), 4,
           "rtt 3 ms, tasks of 1 ms: depth 4");
    is_int(tree_prefetch_depth(3001, 1000, 16), 5,
           "the ratio is rounded up");
    is_int(tree_prefetch_depth(1000000, 10, 16), 16,
           "tiny tasks are bounded by the maximum depth");
    is_int(tree_prefetch_depth(100, 0, 8), 8,
           "an unknown duration gives the maximum depth");
    is_int(tree_prefetch_depth(100, 1000, 0), 1,
           "a maximum of 0 is taken as 1");
    return done_testing();
}
