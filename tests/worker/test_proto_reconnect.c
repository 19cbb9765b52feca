/* SPDX-License-Identifier: MIT */
/* test_proto_reconnect.c - the worker survives the loss of its server: a
 * task keeps running, the worker keeps looking, and when a NEW server (new
 * epoch) binds the same endpoint it says HELLO listing the running task
 * and its last acknowledged seq, then sends again the results the old
 * server never acknowledged; nothing acknowledged is sent again. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_server.h"
#include "tap.h"
#include "util/util.h"

enum { HEARTBEAT_MS = 100 };

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

static void send_job(fake_server_t *s, uint32_t id, const char **words,
                     uint32_t nwords, const char **vals, uint32_t nvals)
{
    msg_t m = {.type = MSG_JOB};
    const banyan_source_t src = {vals, nvals, false};
    m.u.job = (msg_job_t){.id = id, .nwords = nwords, .words = words,
                          .nsources = 1, .sources = &src};
    fs_send(s, &m);
}

int main(void)
{
    plan(NO_PLAN);
    char endpoint[512], started[512];
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/srv.sock", tap_tmpdir());
    snprintf(started, sizeof(started), "%s/long", tap_tmpdir());

    fs_worker_opts_t wo = {.endpoint = endpoint, .slots = 2};
    pid_t pid = fs_worker_start(&wo);

    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t a;
    fs_start(&a, &loop, endpoint, 1001, HEARTBEAT_MS);
    unsigned one = 1;
    ok(fs_run_until(&a, fs_has_hello, &one, 10000), "server A gets HELLO");

    const char *echo[] = {"sh", "-c", "echo $0", "{}"};
    const char *abc[] = {"a", "b", "c"};
    send_job(&a, 1, echo, 4, abc, 3);
    const char *slow[] = {"sh", "-c", "touch \"$0.started\"; sleep 2; "
                                      "echo long-done",
                          "{}"};
    const char *path[] = {started};
    send_job(&a, 2, slow, 4, path, 1);

    fs_assign_range(&a, 1, 0, 1, 1, 1, NULL, 0);
    msg_task_ref_t r10 = {1, 0, 1}, r11 = {1, 1, 1}, r20 = {2, 0, 1};
    ok(fs_run_until(&a, has_result, &r10, 10000),
       "task 1 is reported to A, which acknowledges it");
    uint64_t acked = a.acked;
    a.auto_ack = false;
    fs_assign_range(&a, 1, 1, 1, 1, 1, NULL, 0);
    ok(fs_run_until(&a, has_result, &r11, 10000),
       "task 2 is reported to A, which does not acknowledge it");
    char flag[600];
    snprintf(flag, sizeof(flag), "%s.started", started);
    fs_assign_range(&a, 2, 0, 1, 1, 1, NULL, 0);
    ok(fs_run_until(&a, file_exists, flag, 10000), "a 2 s task starts");

    /* Server A goes away without a word. */
    fs_stop(&a);
    usleep(1200 * 1000); /* > 5 heartbeats: the worker notices */
    ok(waitpid(pid, NULL, WNOHANG) == 0,
       "the worker keeps running without a server");

    fake_server_t b;
    fs_start(&b, &loop, endpoint, 2002, HEARTBEAT_MS);
    b.auto_ack = false;
    ok(fs_run_until(&b, fs_has_hello, &one, 10000),
       "a new server B on the same endpoint gets HELLO");
    is_int(b.hello.nrunning, 1, "the HELLO lists one running task");
    ok(b.hello.nrunning == 1 && b.hello.running[0].job == 2 &&
           b.hello.running[0].index == 0 && b.hello.running[0].attempt == 1,
       "it is the long task (job 2, index 0, attempt 1)");
    is_int(b.hello.last_acked, acked,
           "the HELLO carries the last seq A acknowledged");
    ok(fs_run_until(&b, has_result, &r11, 5000),
       "the result A never acknowledged is sent to B");
    fs_result_t *r = fs_result(&b, 1, 1, 1);
    ok(r && strcmp(r->out, "b\n") == 0 && r->exit_code == 0,
       "with its exit code and output (%s)", r ? r->out : "");
    ok(fs_result(&b, 1, 0, 1) == NULL,
       "the result A acknowledged is not sent again");
    ok(b.max_seq > acked, "B sees seqs above the acknowledged one");
    fs_ack(&b, b.max_seq);
    b.auto_ack = true;

    ok(fs_run_until(&b, has_result, &r20, 10000),
       "the long task that ran through the switch is reported to B");
    r = fs_result(&b, 2, 0, 1);
    ok(r && strcmp(r->out, "long-done\n") == 0 && r->flags == 0,
       "it ran to its end (%s)", r ? r->out : "");
    ok(fs_result(&a, 2, 0, 1) == NULL, "A never saw it end");

    /* B re-sends the job (it cannot know the worker has it) and a task. */
    send_job(&b, 1, echo, 4, abc, 3);
    fs_assign_range(&b, 1, 2, 1, 1, 1, NULL, 0);
    msg_task_ref_t r12 = {1, 2, 1};
    ok(fs_run_until(&b, has_result, &r12, 10000), "B's own task runs");
    r = fs_result(&b, 1, 2, 1);
    ok(r && strcmp(r->out, "c\n") == 0, "with the job's third value (%s)",
       r ? r->out : "");
    fs_run_for(&b, 200);
    is_int(b.duplicates, 0, "B got every result exactly once");
    is_int(a.duplicates, 0, "A got every result exactly once");

    kill(pid, SIGTERM);
    int status = fs_worker_wait(pid, 5000);
    ok(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the worker exits 0 on SIGTERM (status %d)", status);
    fs_stop(&b);
    fs_free(&a);
    fs_free(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return done_testing();
}
