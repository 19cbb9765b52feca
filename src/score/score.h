/* SPDX-License-Identifier: MIT */
/* score.h - capability score: a short CPU benchmark of one core.
 *
 * An engine measures how fast one of its cores is when it starts, so that a
 * scheduler can weight assignment by speed and keep work off machines that
 * are too slow (--min-score).  score_measure() repeats a fixed round of work
 * on the calling thread for at most budget_ms: a 64-bit integer hash loop
 * (multiply, xor, shift, data-dependent so it cannot be folded) and a small
 * double-precision matrix multiply, the mix found in ordinary tasks.  The
 * first round warms caches and the clock up and is not counted.
 *
 * The score is SCORE_REFERENCE / (median round time), where the reference
 * round time SCORE_REFERENCE_NS was measured on the development machine
 * (one core of an AMD EPYC virtual machine), so a core of that kind scores
 * about 1000; higher is faster and the scale is linear (2000 = twice as fast).
 * The median, not the mean, keeps a round stretched by a preemption from
 * moving the figure.  The score describes one core: multiply by the core
 * count for a machine's throughput.  It is noisy by nature (frequency
 * scaling, neighbours on a shared host); compare scores within about 20%.
 * The benchmark is always compiled with -O2 (src/score/CMakeLists.txt), so
 * Debug and release builds report the same scale; sanitizer builds run it
 * slower and score lower.
 */
#ifndef BANYAN_SCORE_H
#define BANYAN_SCORE_H

#include <stdint.h>

enum {
    SCORE_MAX_BUDGET_MS = 200, /* budgets above this are cut to it */
    SCORE_MIN_ROUNDS = 3,      /* rounds measured even on a tight budget */
};

/* The median round time, in nanoseconds, that scores 1000. */
#define SCORE_REFERENCE_NS 95200.0

/* Run the benchmark for at most budget_ms (cut to SCORE_MAX_BUDGET_MS) and
 * store the score in *score (> 0).  On a very slow machine the minimum of
 * SCORE_MIN_ROUNDS + 1 rounds may take longer than a tiny budget.  0, or -1
 * with EINVAL when budget_ms <= 0 or score is NULL. */
int score_measure(int64_t budget_ms, double *score);

#endif /* BANYAN_SCORE_H */
