/* SPDX-License-Identifier: MIT */
/* score.c - the fixed CPU benchmark behind the capability score.
 *
 * One round = SCORE_HASH_STEPS steps of an integer hash chain plus one
 * SCORE_N x SCORE_N matrix multiply in doubles.  Each round's inputs depend
 * on the previous round's output and the results go to a volatile sink, so
 * the compiler can neither hoist nor drop the work.  Rounds are timed with
 * CLOCK_MONOTONIC; the median of the round times gives the score (see
 * score.h for the scale).  The round is small (about a tenth of a
 * millisecond on the reference core) so that a 200 ms budget holds many
 * samples and even a ten times slower core stays within budget.
 */
#include "score.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

enum {
    SCORE_HASH_STEPS = 40000, /* integer part of one round */
    SCORE_N = 32,             /* matrix dimension of the floating part */
    SCORE_MAX_ROUNDS = 4096,  /* round times kept for the median */
};

static volatile uint64_t score_sink; /* defeats dead-code elimination */

/* A chain of multiply/xor/shift steps: each depends on the one before. */
static uint64_t hash_chain(uint64_t x)
{
    for (int i = 0; i < SCORE_HASH_STEPS; i++) {
        x ^= x >> 31;
        x *= UINT64_C(0x9e3779b97f4a7c15);
        x ^= x >> 29;
        x += (uint64_t)i;
    }
    return x;
}

typedef struct score_mats {
    double a[SCORE_N][SCORE_N];
    double b[SCORE_N][SCORE_N];
    double c[SCORE_N][SCORE_N];
} score_mats_t;

/* c = a * b, then feed a little of c back into a so rounds differ. */
static double matmul(score_mats_t *m)
{
    for (int i = 0; i < SCORE_N; i++)
        for (int j = 0; j < SCORE_N; j++) {
            double s = 0;
            for (int k = 0; k < SCORE_N; k++)
                s += m->a[i][k] * m->b[k][j];
            m->c[i][j] = s;
        }
    double trace = 0;
    for (int i = 0; i < SCORE_N; i++) {
        trace += m->c[i][i];
        m->a[i][(i + 1) % SCORE_N] = m->c[i][i] * 1e-3;
    }
    return trace;
}

static void mats_init(score_mats_t *m)
{
    for (int i = 0; i < SCORE_N; i++)
        for (int j = 0; j < SCORE_N; j++) {
            m->a[i][j] = (double)((i * 7 + j * 3) % 11) / 11.0;
            m->b[i][j] = (double)((i * 5 + j * 13) % 17) / 17.0 - 0.5;
        }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int score_measure(int64_t budget_ms, double *score)
{
    if (budget_ms <= 0 || !score) {
        errno = EINVAL;
        return -1;
    }
    if (budget_ms > SCORE_MAX_BUDGET_MS)
        budget_ms = SCORE_MAX_BUDGET_MS;
    score_mats_t *m = malloc(sizeof(*m));
    uint64_t *times = malloc(SCORE_MAX_ROUNDS * sizeof(*times));
    if (!m || !times) {
        free(m);
        free(times);
        errno = ENOMEM;
        return -1;
    }
    mats_init(m);
    uint64_t start = util_mono_ns();
    uint64_t deadline = start + (uint64_t)budget_ms * 1000000u;
    uint64_t x = 0x243f6a8885a308d3u;
    int n = 0;
    for (int round = 0; n < SCORE_MAX_ROUNDS; round++) {
        uint64_t t0 = util_mono_ns();
        x = hash_chain(x);
        double tr = matmul(m);
        x ^= (uint64_t)(int64_t)tr;
        uint64_t t1 = util_mono_ns();
        if (round > 0) /* round 0 is the warm-up */
            times[n++] = t1 - t0;
        /* Stop when one more round as long as this one would overrun. */
        if (n >= SCORE_MIN_ROUNDS && t1 + (t1 - t0) > deadline)
            break;
    }
    score_sink = x;
    qsort(times, (size_t)n, sizeof(*times), cmp_u64);
    double median = (double)times[n / 2];
    if (median < 1)
        median = 1;
    *score = SCORE_REFERENCE_NS / median * 1000.0;
    free(times);
    free(m);
    return 0;
}
