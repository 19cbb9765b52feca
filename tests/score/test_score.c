/* SPDX-License-Identifier: MIT */
/* test_score.c - the capability score: bounded time, a positive figure,
 * repeatable within a loose margin, bad budgets refused. */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "score/score.h"
#include "tap.h"
#include "util/util.h"

int main(void)
{
    plan(NO_PLAN);

    double s1 = 0, s2 = 0;
    int64_t t0 = util_mono_ms();
    int rc = score_measure(200, &s1);
    int64_t took = util_mono_ms() - t0;
    ok(rc == 0, "score_measure with a 200 ms budget succeeds");
    diag("score %.1f in %lld ms", s1, (long long)took);
    ok(took < 400, "it returns well within twice its budget (%lld ms)",
       (long long)took);
    ok(s1 > 0 && isfinite(s1), "the score is positive and finite");

    ok(score_measure(200, &s2) == 0, "a second measurement succeeds");
    double ratio = s1 > s2 ? s1 / s2 : s2 / s1;
    diag("second score %.1f, ratio %.3f", s2, ratio);
    ok(ratio < 1.3, "two runs agree within 30%%");

    /* The scale: about 1000 on the reference machine.  Only sanity bounds
     * here, since the test runs on any machine. */
    ok(s1 > 10 && s1 < 100000, "the score is on a sane scale");

    double s3 = 0;
    t0 = util_mono_ms();
    ok(score_measure(5000, &s3) == 0 && s3 > 0,
       "a budget above the maximum is accepted");
    took = util_mono_ms() - t0;
    ok(took < 2 * SCORE_MAX_BUDGET_MS,
       "and cut to SCORE_MAX_BUDGET_MS (%lld ms)", (long long)took);

    double s4 = 0;
    t0 = util_mono_ms();
    ok(score_measure(1, &s4) == 0 && s4 > 0,
       "a 1 ms budget still gives a score");
    took = util_mono_ms() - t0;
    ok(took < 100, "a 1 ms budget returns quickly (%lld ms)",
       (long long)took);

    double keep = 42;
    errno = 0;
    ok(score_measure(0, &keep) < 0 && errno == EINVAL,
       "a budget of 0 is EINVAL");
    errno = 0;
    ok(score_measure(-5, &keep) < 0 && errno == EINVAL,
       "a negative budget is EINVAL");
    ok(keep == 42, "a refused call leaves the score untouched");
    errno = 0;
    ok(score_measure(10, NULL) < 0 && errno == EINVAL,
       "a NULL score pointer is EINVAL");
    return done_testing();
}
