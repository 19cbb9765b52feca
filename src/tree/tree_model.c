/* SPDX-License-Identifier: MIT */
/* tree_model.c - choosing the fanout, and the prefetch depth.
 *
 * A broadcast crosses D(n, k) levels; at each level a node sends k
 * messages one after the other (per_msg_us each) and the last one needs a
 * hop (hop_us) to arrive.  So the time is about
 *
 *     T(k) = D(n, k) * (hop_us + k * per_msg_us)
 *
 * D is a step function of k, so the minimum sits at the smallest k of some
 * depth: the search walks every k in [2, 1024] (cheap: D costs O(depth)),
 * keeping the smallest k on ties.  The replies coming up cost the same
 * again, which doubles T and moves no minimum.
 */
#include <math.h>

#include "tree/tree.h"

double tree_model_bcast_us(uint64_t n, unsigned k, double hop_us,
                           double per_msg_us)
{
    return (double)tree_depth_for(n, k) * (hop_us + (double)k * per_msg_us);
}

unsigned tree_model_fanout(uint64_t n, double hop_us, double per_msg_us)
{
    if (hop_us < 0 || isnan(hop_us))
        hop_us = 0;
    if (per_msg_us < 0 || isnan(per_msg_us))
        per_msg_us = 0;
    unsigned best = TREE_FANOUT_MIN;
    double best_t = HUGE_VAL;
    for (unsigned k = TREE_FANOUT_MIN; k <= TREE_FANOUT_MAX; k++) {
        double tk = tree_model_bcast_us(n, k, hop_us, per_msg_us);
        if (tk < best_t) {
            best_t = tk;
            best = k;
        }
    }
    return best;
}

unsigned tree_prefetch_depth(uint64_t rtt_us, uint64_t mean_task_us,
                             unsigned max_depth)
{
    if (max_depth < 1)
        max_depth = 1;
    if (mean_task_us == 0)
        return max_depth;
    uint64_t q = rtt_us / mean_task_us + (rtt_us % mean_task_us != 0);
    if (q >= max_depth)
        return max_depth;
    return (unsigned)q + 1 > max_depth ? max_depth : (unsigned)q + 1;
}
