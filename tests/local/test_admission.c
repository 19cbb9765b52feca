/* SPDX-License-Identifier: MIT */
/* test_admission.c - the local driver admits tasks without a memory request
 * against the group's learnt estimate: the default before three samples,
 * what was learnt after (also when restored from the store), explicit
 * requests untouched; hard limits and requeue-on-signal bump the estimate;
 * the usage statistics add up. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local/local.h"
#include "tap.h"
#include "util/util.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define MiB (UINT64_C(1) << 20)

typedef struct harness {
    const char *const *argv;  /* every task's command */
    int prepared;
    int first_wave;           /* starts before any task ended */
    uint64_t running_max;     /* most tasks running at once */
    int done_calls;
    int requeued;
    int ok;                   /* exited 0 */
    int limited;              /* killed for the memory limit */
    uint32_t last_attempt;
    char last_why[BANYAN_TASK_REASON_MAX];
    bool any_done;
} harness_t;

static int prepare(local_t *l, local_task_t *t, exec_spec_t *spec,
                   banyan_error_t *error, void *arg)
{
    (void)t;
    (void)error;
    harness_t *h = arg;
    h->prepared++;
    if (!h->any_done)
        h->first_wave++;
    uint64_t now = local_running(l) + 1;
    if (now > h->running_max)
        h->running_max = now;
    spec->argv = h->argv;
    return 0;
}

static void done(local_t *l, local_task_t *t, const exec_result_t *res,
                 const banyan_task_end_t *end, bool requeued, void *arg)
{
    (void)l;
    harness_t *h = arg;
    h->any_done = true;
    h->done_calls++;
    h->requeued += requeued;
    h->ok += !requeued && end->state == BANYAN_TASK_OK;
    h->limited += res->mem_limited;
    h->last_attempt = t->attempt;
    snprintf(h->last_why, sizeof(h->last_why), "%s", end->reason);
}

static const local_ops_t ops = {.prepare = prepare, .done = done};

static char db[512];

/* Run ntasks of h->argv with request req under o; fill the estimate after
 * the run and the usage.  Returns local_run's value, -1 on set-up error. */
static int run(local_options_t *o, const res_request_t *req, uint64_t ntasks,
               harness_t *h, uint64_t *est_before, uint64_t *est_after,
               store_usage_t *usage)
{
    banyan_error_t err = {{0}};
    o->db_path = db;
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0)
        return -1;
    local_t *l = local_create(&loop, o, &ops, h, &err);
    if (!l) {
        diag("local_create: %s", err.text);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return -1;
    }
    if (est_before)
        *est_before = local_estimate(l);
    sched_job_t job = {.id = 1, .req = *req, .max_attempts = 1};
    job.req.slots = 1;
    int rc = -1;
    if (local_job_add(l, &job, true, &err) < 0 ||
        sched_job_add_tasks(local_sched(l), 1, 0, ntasks) < 0 ||
        local_usage_open(l, "run", 1, &err) < 0) {
        diag("set-up: %s", err.text);
        goto out;
    }
    rc = local_run(l);
    if (est_after)
        *est_after = local_estimate(l);
    if (usage)
        local_usage(l, usage);
out:
    local_destroy(l);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0) {
        diag("a handle of the driver was left open");
        rc = -1;
    }
    return rc;
}

static local_options_t base_opts(const char *group)
{
    local_options_t o = {
        .engine = {.slots = 8, .kill_grace_ms = 500, .group = group,
                   .mem_default_bytes = 100 * MiB, .mem_bytes = 400 * MiB},
    };
    return o;
}

static void test_without_history(void)
{
    harness_t h = {.argv = ARGV(EXEC_HELPER, "mem", "20", "300")};
    local_options_t o = base_opts("learn");
    res_request_t req = {0};
    uint64_t before = 0, after = 0;
    store_usage_t u;
    ok(run(&o, &req, 16, &h, &before, &after, &u) == 0,
       "16 tasks of 20 MiB without --mem run");
    is_int(h.ok, 16, "all of them succeed");
    is_int(before, 100 * MiB, "a new group starts at the default");
    is_int(h.first_wave, 4, "without history, 400 MiB admit 4 tasks at "
           "the 100 MiB default");
    ok(after >= 20 * MiB && after < 60 * MiB,
       "the learnt estimate follows the real peaks (%.1f MiB)",
       (double)after / MiB);
    ok(h.running_max > 4, "once learnt, more run at once (%llu)",
       (unsigned long long)h.running_max);
    is_int(u.tasks, 16, "usage counts 16 task runs");
    ok(u.busy_s > 16 * 0.25 && u.busy_s <= u.capacity_s,
       "busy slot-time covers the tasks and fits the capacity "
       "(%.2f of %.2f)", u.busy_s, u.capacity_s);
    ok(u.wall_s > 0 && u.active_s <= u.wall_s + 1e-9,
       "wall and active time are sane");
    is_int(u.sessions, 1, "one session");
}

static void test_restored_history(void)
{
    /* The same group again: the estimate comes back from the store. */
    harness_t h = {.argv = ARGV(EXEC_HELPER, "mem", "20", "300")};
    local_options_t o = base_opts("learn");
    res_request_t req = {0};
    uint64_t before = 0;
    ok(run(&o, &req, 8, &h, &before, NULL, NULL) == 0,
       "a second driver runs 8 more");
    ok(before >= 20 * MiB && before < 60 * MiB,
       "it starts from the stored estimate (%.1f MiB)",
       (double)before / MiB);
    is_int(h.first_wave, 8, "with history, all 8 slots fill at once");
}

static void test_injected_history(void)
{
    /* A group whose tasks are known to peak around 180 MiB. */
    banyan_error_t err = {{0}};
    store_t *st = store_open(db, NULL, &err);
    store_estimate_t e = {.group = "big", .count = 5,
                          .mean_bytes = 150.0 * MiB, .m2 = 0,
                          .hwm_bytes = 180 * MiB};
    ok(st && store_estimate_put(st, &e) == 0 && store_flush(st) == 0,
       "a stored group: 5 samples, mean 150 MiB, high-water 180 MiB");
    store_close(st);
    harness_t h = {.argv = ARGV(EXEC_HELPER, "mem", "5", "300")};
    local_options_t o = base_opts("big");
    res_request_t req = {0};
    uint64_t before = 0;
    ok(run(&o, &req, 4, &h, &before, NULL, NULL) == 0, "4 tasks run");
    is_int(before, 180 * MiB, "the estimate is max(mean + 2 sd, hwm)");
    is_int(h.first_wave, 2, "400 MiB admit two tasks of 180 MiB");
}

static void test_explicit_request(void)
{
    harness_t h = {.argv = ARGV(EXEC_HELPER, "mem", "5", "300")};
    local_options_t o = base_opts("big");
    res_request_t req = {.mem_bytes = 50 * MiB};
    ok(run(&o, &req, 8, &h, NULL, NULL, NULL) == 0,
       "8 tasks with --mem 50M run in the same group");
    is_int(h.first_wave, 8, "an explicit request ignores the estimate");
}

static void test_limit_bumps(void)
{
    harness_t h = {.argv = ARGV(EXEC_HELPER, "mem", "80", "2000")};
    local_options_t o = base_opts("limited");
    o.engine.mem_limit_bytes = 30 * MiB;
    res_request_t req = {0};
    uint64_t after = 0;
    store_usage_t u;
    ok(run(&o, &req, 1, &h, NULL, &after, &u) == 0,
       "a task above --mem-limit runs");
    is_int(h.limited, 1, "it is killed for the limit");
    is_int(h.ok, 0, "and does not succeed");
    ok(after >= 45 * MiB, "the group's floor rises to 1.5 x its peak "
       "(%.1f MiB)", (double)after / MiB);
    is_int(u.limit_kills, 1, "usage counts the limit kill");
}

static void test_requeue_on_signal(void)
{
    /* Killed by SIGKILL (as by the OOM killer) the first time only. */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "if [ ! -e %s/once ]; then : >%s/once; "
             "kill -9 $$; fi; exit 0", tap_tmpdir(), tap_tmpdir());
    harness_t h = {.argv = ARGV("sh", "-c", cmd)};
    local_options_t o = base_opts("requeue");
    o.requeue_on_signal = true;
    res_request_t req = {0};
    store_usage_t u;
    ok(run(&o, &req, 1, &h, NULL, NULL, &u) == 0,
       "a task killed by an unasked signal runs");
    is_int(h.done_calls, 2, "it ends twice");
    is_int(h.requeued, 1, "the first end is a requeue");
    is_int(h.ok, 1, "the second run succeeds");
    is_int(h.last_attempt, 2, "as attempt 2");
    is_int(u.requeued, 1, "usage counts the requeue");

    unlink("once");
    char path[600];
    snprintf(path, sizeof(path), "%s/once", tap_tmpdir());
    unlink(path);
    harness_t h2 = {.argv = ARGV("sh", "-c", cmd)};
    o.requeue_on_signal = false;
    ok(run(&o, &req, 1, &h2, NULL, NULL, NULL) == 0,
       "without --requeue-on-signal");
    ok(h2.done_calls == 1 && h2.ok == 0 && h2.requeued == 0,
       "the killed task fails at once");
    ok(strstr(h2.last_why, "signal 9") != NULL,
       "and says which signal (%s)", h2.last_why);
}

int main(void)
{
    plan(NO_PLAN);
    snprintf(db, sizeof(db), "%s/adm.db", tap_tmpdir());
    unlink(db);
    test_without_history();
    test_restored_history();
    test_injected_history();
    test_explicit_request();
    test_limit_bumps();
    test_requeue_on_signal();
    return done_testing();
}
