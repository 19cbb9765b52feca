/* SPDX-License-Identifier: MIT */
/* test_weight.c - engine weights (capability scores): when several engines
 * could take a task, work is shared in proportion to their weights; a full
 * engine is skipped whatever its weight; a newcomer does not take
 * everything. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "sched/sched.h"
#include "tap.h"

static res_pool_t *pool(uint32_t slots)
{
    res_capacity_t cap = {.slots = slots};
    return res_pool_create(&cap);
}

/* Start n tasks one at a time, finishing each at once; count per engine. */
static void run_tasks(sched_t *s, uint32_t job, int n, int counts[4])
{
    sched_action_t a;
    for (int i = 0; i < n; i++) {
        if (sched_step(s, 0, &a, 1) != 1 || a.type != SCHED_ACT_START)
            break;
        counts[a.engine_id]++;
        sched_task_done(s, job, a.index, SCHED_OK);
    }
}

int main(void)
{
    plan(NO_PLAN);
    sched_t *s = sched_create(NULL);
    sched_engine_add(s, 1, pool(100));
    sched_engine_add(s, 2, pool(100));
    sched_job_t job = {.id = 1, .req = {.slots = 1}, .max_attempts = 1};
    sched_job_add(s, &job);
    sched_job_add_tasks(s, 1, 0, 4000);

    int c[4] = {0};
    run_tasks(s, 1, 1000, c);
    ok(c[1] == 500 && c[2] == 500, "equal weights share evenly (%d/%d)",
       c[1], c[2]);

    ok(sched_engine_set_weight(s, 2, 3.0) == 0, "engine 2 weighs 3");
    c[1] = c[2] = 0;
    run_tasks(s, 1, 1000, c);
    ok(abs(c[2] - 3 * c[1]) <= 4,
       "a weight of 3 gets three times the work (%d/%d)", c[1], c[2]);

    errno = 0;
    ok(sched_engine_set_weight(s, 2, 0) < 0 && errno == EINVAL,
       "a weight of 0 is refused");
    ok(sched_engine_set_weight(s, 2, NAN) < 0, "NaN is refused");
    errno = 0;
    ok(sched_engine_set_weight(s, 9, 2) < 0 && errno == ENOENT,
       "an unknown engine is ENOENT");

    /* A newcomer starts level with the least served engine. */
    sched_engine_add(s, 3, pool(100));
    c[1] = c[2] = c[3] = 0;
    run_tasks(s, 1, 500, c);
    ok(c[3] < 250 && c[1] > 0 && c[2] > 0,
       "a new engine shares the work instead of taking it all (%d/%d/%d)",
       c[1], c[2], c[3]);

    /* A heavy engine that is full is skipped. */
    sched_t *t = sched_create(NULL);
    sched_engine_add(t, 1, pool(2));
    sched_engine_add(t, 2, pool(2));
    sched_engine_set_weight(t, 1, 10);
    sched_job_add(t, &job);
    sched_job_add_tasks(t, 1, 0, 4);
    sched_action_t a[8];
    int n = sched_step(t, 0, a, 8);
    int on[3] = {0};
    for (int i = 0; i < n; i++)
        on[a[i].engine_id]++;
    ok(n == 4 && on[1] == 2 && on[2] == 2,
       "when the heavy engine is full the light one takes the rest");
    sched_destroy(t);

    ok(sched_engine_remove(s, 2) == 0, "a weighted engine leaves");
    c[1] = c[3] = 0;
    run_tasks(s, 1, 200, c);
    ok(c[1] + c[3] == 200, "work goes on among the others");
    sched_destroy(s);
    return done_testing();
}
