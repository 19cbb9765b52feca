/* SPDX-License-Identifier: MIT */
/* test_setmem.c - sched_job_set_mem: changing a job's memory request while
 * it has tasks pending and running (what learnt estimates do). */
#include <errno.h>
#include <string.h>

#include "sched/sched.h"
#include "tap.h"

static sched_t *make(uint64_t mem, uint32_t slots)
{
    res_capacity_t cap = {.slots = slots, .mem_bytes = mem};
    sched_t *s = sched_create(NULL);
    res_pool_t *p = res_pool_create(&cap);
    if (!s || !p || sched_engine_add(s, 1, p) < 0)
        bail_out("cannot set up a core");
    return s;
}

static int starts(sched_t *s, sched_action_t *acts, int max)
{
    int n = sched_step(s, 0, acts, max);
    int k = 0;
    for (int i = 0; i < n; i++)
        k += acts[i].type == SCHED_ACT_START;
    return k;
}

int main(void)
{
    plan(NO_PLAN);
    sched_action_t acts[16];
    sched_t *s = make(1000, 10);
    sched_job_t job = {.id = 1, .req = {.slots = 1, .mem_bytes = 300}};
    ok(sched_job_add(s, &job) == 0 && sched_job_add_tasks(s, 1, 0, 8) == 0,
       "a job of 8 tasks of 300 bytes is queued");
    is_int(starts(s, acts, 16), 3, "three fit in 1000 bytes");
    ok(sched_job_set_mem(s, 1, 400) == 0, "the request grows to 400");
    is_int(starts(s, acts, 16), 0, "nothing more fits (100 left)");
    ok(sched_task_done(s, 1, acts[0].index, SCHED_OK) == 0,
       "a task granted 300 ends");
    is_int(starts(s, acts, 16), 1,
           "the release gives back exactly its 300: one task of 400 starts");
    is_int(acts[0].alloc.mem_bytes, 400, "and it is granted the new 400");
    uint64_t granted300 = acts[0].index == 1 ? 2 : 1; /* still running */
    ok(sched_job_set_mem(s, 1, 50) == 0, "the request shrinks to 50");
    is_int(starts(s, acts, 16), 0, "nothing is free yet");
    ok(sched_task_done(s, 1, granted300, SCHED_OK) == 0,
       "another task granted 300 ends");
    is_int(starts(s, acts, 16), 4,
           "its 300 bytes hold all four pending tasks of 50");
    is_int(sched_job_pending(s, 1), 0, "nothing is pending any more");
    ok(sched_job_set_mem(s, 1, 50) == 0, "setting the same figure is fine");
    errno = 0;
    ok(sched_job_set_mem(s, 7, 10) < 0 && errno == ENOENT,
       "an unknown job is ENOENT");
    /* A request above the engine's memory makes the job infeasible: the
     * local driver caps estimates at the pool's memory for that reason. */
    ok(sched_job_add_tasks(s, 1, 100, 1) == 0 &&
       sched_job_set_mem(s, 1, 5000) == 0,
       "a request above the engine for a pending task");
    int n = sched_step(s, 0, acts, 16);
    ok(n == 1 && acts[0].type == SCHED_ACT_INFEASIBLE,
       "is reported infeasible at the next step (%s)",
       n == 1 ? acts[0].reason : "-");
    sched_destroy(s);
    return done_testing();
}
