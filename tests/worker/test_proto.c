/* SPDX-License-Identifier: MIT */
/* test_proto.c - a worker process against a fake server: HELLO/WELCOME,
 * 100 tasks with GPUs (BANYAN_GPUS=fake:2), exit codes and output tails,
 * `false` tasks, an unknown job, duplicate ASSIGNs, heartbeats both ways,
 * KILL (SIGTERM, and SIGKILL after the grace), and SIGTERM of the worker
 * (BYE, interrupted results, exit 0). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_server.h"
#include "tap.h"
#include "util/util.h"

enum { NTASKS = 100, HEARTBEAT_MS = 250 };

static bool file_exists(fake_server_t *s, void *path)
{
    (void)s;
    return access(path, F_OK) == 0;
}

static bool has_result(fake_server_t *s, void *ref)
{
    const msg_task_ref_t *r = ref;
    return fs_result(s, r->job, r->index, r->attempt) != NULL;
}

static bool has_pong(fake_server_t *s, void *seq)
{
    return s->last_pong_seq == *(uint64_t *)seq;
}

static bool has_pings(fake_server_t *s, void *n)
{
    return s->pings >= *(unsigned *)n;
}

static bool has_bye(fake_server_t *s, void *arg)
{
    (void)arg;
    return s->byes > 0;
}

static void send_job(fake_server_t *s, uint32_t id, const char **words,
                     uint32_t nwords, const char **vals, uint32_t nvals)
{
    msg_t m = {.type = MSG_JOB};
    msg_job_t *j = &m.u.job;
    j->id = id;
    j->words = words;
    j->nwords = nwords;
    const banyan_source_t src = {vals, nvals, false};
    if (vals) {
        j->nsources = 1;
        j->sources = &src;
    }
    const char *env[] = {"JOBVAR=from-job"};
    j->nenv = 1;
    j->env = env;
    fs_send(s, &m);
}

static const char *expected_gpus(uint64_t i)
{
    static const char *by_mask[] = {"", "0", "1", "0,1"};
    return by_mask[i % 4];
}

static void check_hundred(fake_server_t *s, char **vals)
{
    int reported_once = 0, exit_right = 0, out_right = 0, err_right = 0;
    int gpus_right = 0;
    for (uint64_t i = 0; i < NTASKS; i++) {
        fs_result_t *r = fs_result(s, 1, i, 1);
        if (!r)
            continue;
        reported_once += r->count == 1;
        bool bad = vals[i][0] == 'b';
        exit_right += r->exit_code == (bad ? 3 : 0) && r->term_signal == 0 &&
                      r->flags == 0;
        char want[256];
        snprintf(want, sizeof(want),
                 "out-%s gpus=%s id=%llu slot=%llu job=from-job\n", vals[i],
                 expected_gpus(i), (unsigned long long)i + 1,
                 (unsigned long long)(i % 4 + 1));
        if (strcmp(r->out, want) == 0)
            out_right++;
        else if (out_right == (int)i)
            diag("task %llu: stdout %s, wanted %s", (unsigned long long)i,
                 r->out, want);
        char gpus[64];
        snprintf(gpus, sizeof(gpus), "gpus=%s ", expected_gpus(i));
        gpus_right += strstr(r->out, gpus) != NULL;
        snprintf(want, sizeof(want), "err-%s\n", vals[i]);
        err_right += strcmp(r->err, want) == 0;
    }
    is_int(reported_once, NTASKS, "each of the 100 tasks is reported once");
    is_int(exit_right, NTASKS,
           "exit codes are right (3 for the 5 failing tasks, 0 otherwise)");
    is_int(out_right, NTASKS,
           "stdout tails carry the value, task id, slot and job env");
    is_int(gpus_right, NTASKS,
           "CUDA_VISIBLE_DEVICES follows each task's gpu_mask");
    is_int(err_right, NTASKS, "stderr tails are the task's stderr");
}

int main(void)
{
    plan(NO_PLAN);
    char endpoint[512], started[512], stubborn[512], last[512];
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/srv.sock", tap_tmpdir());
    snprintf(started, sizeof(started), "%s/kill.started", tap_tmpdir());
    snprintf(stubborn, sizeof(stubborn), "%s/stubborn.started",
             tap_tmpdir());
    snprintf(last, sizeof(last), "%s/last.started", tap_tmpdir());
    diag("worker runs as %s", fs_worker_is_binary() ? "the banyan binary"
                                                    : "a forked process");

    fs_worker_opts_t wo = {.endpoint = endpoint, .slots = 4,
                           .gpus_env = "fake:2", .kill_grace_ms = 300};
    pid_t pid = fs_worker_start(&wo);
    usleep(300 * 1000); /* the worker looks for a server that is not there */

    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t srv;
    fs_start(&srv, &loop, endpoint, 1, HEARTBEAT_MS);
    unsigned one = 1;
    ok(fs_run_until(&srv, fs_has_hello, &one, 10000),
       "the worker says HELLO to a server that starts after it");
    ok(srv.hello.worker_id[0] && strchr(srv.hello.worker_id, ':'),
       "HELLO carries a host:pid:start worker id (%s)", srv.hello.worker_id);
    is_str(srv.hello.name, "fake-test", "HELLO carries the name");
    is_int(srv.hello.slots, 4, "HELLO carries the slots");
    ok(srv.hello.cpus_milli > 0, "HELLO carries the cpus");
    is_int(srv.hello.ngpus, 2, "HELLO lists the 2 fake GPUs");
    ok(srv.hello.gpu_index[0] == 0 && srv.hello.gpu_index[1] == 1,
       "with their device indices");
    ok(!srv.hello.noop, "HELLO says the worker runs tasks");
    is_int(srv.hello.nrunning, 0, "a new worker runs no task");
    is_int(srv.hello.last_acked, 0, "a new worker has no acknowledged seq");

    /* 100 tasks, 5 of which fail, with GPUs by mask. */
    char *vals[NTASKS];
    for (int i = 0; i < NTASKS; i++)
        if (asprintf(&vals[i], i % 20 == 7 ? "bad%d" : "v%d", i) < 0)
            bail_out("out of memory");
    const char *words1[] = {
        "sh", "-c",
        "echo out-$0 gpus=$CUDA_VISIBLE_DEVICES id=$BANYAN_TASK_ID "
        "slot=$BANYAN_SLOT job=$JOBVAR; echo err-$0 >&2; "
        "case $0 in bad*) exit 3;; esac",
        "{}"};
    send_job(&srv, 1, words1, 4, (const char **)vals, NTASKS);
    const char *words2[] = {"false"};
    msg_t arr = {.type = MSG_JOB};
    arr.u.job = (msg_job_t){.id = 2, .nwords = 1, .words = words2,
                            .array_first = 1, .array_count = 3};
    fs_send(&srv, &arr);
    uint64_t masks[] = {0, 1, 2, 3};
    fs_assign_range(&srv, 1, 0, NTASKS, 1, 4, masks, 4);
    fs_assign_range(&srv, 1, 0, 10, 1, 4, masks, 4); /* duplicates */
    fs_assign_range(&srv, 1, 0, 1, 2, 4, masks, 4);  /* a second attempt */
    fs_assign_range(&srv, 2, 0, 3, 1, 4, NULL, 0);
    fs_assign_range(&srv, 99, 0, 1, 1, 4, NULL, 0);  /* unknown job */

    uint64_t want = NTASKS + 1 + 3 + 1;
    ok(fs_run_until(&srv, fs_has_results, &want, 30000),
       "all %llu results arrive (%llu)", (unsigned long long)want,
       (unsigned long long)srv.nresults);
    fs_run_for(&srv, 300); /* anything extra would show up now */
    is_int(srv.nresults, want,
           "duplicate ASSIGNs of running tasks are ignored");
    check_hundred(&srv, vals);
    fs_result_t *r = fs_result(&srv, 1, 0, 2);
    ok(r && r->count == 1 && r->exit_code == 0,
       "a second attempt of a task is a task of its own");
    int falses = 0;
    for (uint64_t i = 0; i < 3; i++) {
        r = fs_result(&srv, 2, i, 1);
        falses += r && r->count == 1 && r->exit_code == 1 && r->flags == 0;
    }
    is_int(falses, 3, "`false` tasks of an array job report exit 1");
    r = fs_result(&srv, 99, 0, 1);
    ok(r && r->flags == BANYAN_END_SPAWN_FAILED && r->exit_code != 0,
       "a task of an unknown job is reported as a failed start");
    ok(r && strstr(r->err, "unknown job 99"),
       "with the reason in its stderr tail (%s)", r ? r->err : "");
    r = fs_result(&srv, 1, 3, 1);
    ok(r && r->start_time > 1e9 && r->end_time >= r->start_time,
       "results carry wall-clock start and end times");
    ok(srv.duplicates == 0, "no result is sent twice to a server that ACKs");

    diag("hellos %u welcomes %u pings %u", srv.hellos, srv.welcomes, srv.pings);
    /* Heartbeats. */
    msg_t ping = {.type = MSG_PING};
    ping.u.ping.seq = 4242;
    ping.u.ping.sent = 1.5;
    fs_send(&srv, &ping);
    uint64_t pong_seq = 4242;
    ok(fs_run_until(&srv, has_pong, &pong_seq, 3000),
       "the worker answers PING with PONG of the same seq");
    unsigned pings = srv.pings + 3;
    ok(fs_run_until(&srv, has_pings, &pings, 3000),
       "the worker PINGs every heartbeat_ms after WELCOME");

    /* KILL a job: SIGTERM is enough. */
    const char *words3[] = {"sh", "-c", "touch \"$0\"; exec sleep 30", "{}"};
    const char *v3[] = {started};
    send_job(&srv, 3, words3, 4, v3, 1);
    fs_assign_range(&srv, 3, 0, 1, 1, 1, NULL, 0);
    ok(fs_run_until(&srv, file_exists, started, 10000),
       "a long task starts");
    msg_t kill_job = {.type = MSG_KILL};
    kill_job.u.kill.job = 3;
    fs_send(&srv, &kill_job);
    msg_task_ref_t ref3 = {3, 0, 1};
    int64_t t0 = util_mono_ms();
    ok(fs_run_until(&srv, has_result, &ref3, 5000),
       "KILL of its job ends it");
    r = fs_result(&srv, 3, 0, 1);
    ok(r && (r->flags & BANYAN_END_INTERRUPTED) && r->term_signal == SIGTERM,
       "it is reported interrupted, by SIGTERM (flags %u, signal %d)",
       r ? r->flags : 0, r ? r->term_signal : 0);
    diag("KILL to result: %lld ms", (long long)(util_mono_ms() - t0));

    /* KILL one task that ignores SIGTERM: SIGKILL after the grace. */
    const char *words4[] = {
        "sh", "-c", "trap '' TERM; touch \"$0\"; while :; do sleep 0.05; done",
        "{}"};
    const char *v4[] = {stubborn};
    send_job(&srv, 4, words4, 4, v4, 1);
    fs_assign_range(&srv, 4, 0, 1, 1, 1, NULL, 0);
    ok(fs_run_until(&srv, file_exists, stubborn, 10000),
       "a task that ignores SIGTERM starts");
    msg_task_ref_t ref4 = {4, 0, 1};
    msg_t kill_task = {.type = MSG_KILL};
    kill_task.u.kill.job = 4;
    kill_task.u.kill.n = 1;
    kill_task.u.kill.tasks = &ref4;
    fs_send(&srv, &kill_task);
    ok(fs_run_until(&srv, has_result, &ref4, 10000),
       "KILL of that task ends it");
    r = fs_result(&srv, 4, 0, 1);
    ok(r && (r->flags & BANYAN_END_INTERRUPTED) && r->term_signal == SIGKILL,
       "by SIGKILL after the grace (signal %d)", r ? r->term_signal : 0);

    /* SIGTERM of the worker with a task running. */
    const char *v5[] = {last};
    send_job(&srv, 5, words3, 4, v5, 1);
    fs_assign_range(&srv, 5, 0, 1, 1, 1, NULL, 0);
    ok(fs_run_until(&srv, file_exists, last, 10000),
       "another long task starts");
    kill(pid, SIGTERM);
    ok(fs_run_until(&srv, has_bye, NULL, 5000),
       "SIGTERM makes the worker say BYE");
    msg_task_ref_t ref5 = {5, 0, 1};
    ok(fs_run_until(&srv, has_result, &ref5, 10000),
       "the running task is reported");
    r = fs_result(&srv, 5, 0, 1);
    ok(r && (r->flags & BANYAN_END_INTERRUPTED),
       "as interrupted (flags %u)", r ? r->flags : 0);
    fs_run_for(&srv, 100);
    int status = fs_worker_wait(pid, 5000);
    ok(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the worker exits 0 after its results are acknowledged (status %d)",
       status);
    is_int(srv.duplicates, 0, "no result was ever sent twice");

    fs_stop(&srv);
    fs_free(&srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    for (int i = 0; i < NTASKS; i++)
        free(vals[i]);
    return done_testing();
}
