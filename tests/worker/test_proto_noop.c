/* SPDX-License-Identifier: MIT */
/* test_proto_noop.c - `--noop` completes 100,000 assigned tasks without
 * spawning, through the same RESULT path, each exactly once. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_server.h"
#include "tap.h"
#include "util/util.h"

enum { NTASKS = 100000, PER_ASSIGN = 10000 };

int main(void)
{
    plan(NO_PLAN);
    char endpoint[512];
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/srv.sock", tap_tmpdir());
    fs_worker_opts_t wo = {.endpoint = endpoint, .slots = 8, .noop = true};
    pid_t pid = fs_worker_start(&wo);

    uv_loop_t loop;
    uv_loop_init(&loop);
    fake_server_t srv;
    fs_start(&srv, &loop, endpoint, 7, 1000);
    unsigned one = 1;
    ok(fs_run_until(&srv, fs_has_hello, &one, 10000), "HELLO arrives");
    ok(srv.hello.noop, "HELLO says the worker is in zero-worker mode");

    const char *words[] = {"this-program-does-not-exist", "{}"};
    msg_t job = {.type = MSG_JOB};
    job.u.job = (msg_job_t){.id = 1, .nwords = 2, .words = words,
                            .array_first = 1, .array_count = NTASKS};
    fs_send(&srv, &job);
    int64_t t0 = util_mono_ms();
    for (uint64_t i = 0; i < NTASKS; i += PER_ASSIGN)
        fs_assign_range(&srv, 1, i, PER_ASSIGN, 1, 8, NULL, 0);
    uint64_t want = NTASKS;
    ok(fs_run_until(&srv, fs_has_results, &want, 60000),
       "all 100,000 results arrive (%llu)",
       (unsigned long long)srv.nresults);
    int64_t ms = util_mono_ms() - t0;
    diag("noop: %d tasks in %lld ms: %.0f tasks/s in %u RESULT batches",
         NTASKS, (long long)ms, ms > 0 ? NTASKS * 1000.0 / (double)ms : 0.0,
         srv.batches);
    uint64_t once = 0, clean = 0;
    for (uint64_t i = 0; i < NTASKS; i++) {
        fs_result_t *r = fs_result(&srv, 1, i, 1);
        once += r && r->count == 1;
        clean += r && r->exit_code == 0 && r->flags == 0 && !r->out[0] &&
                 r->end_time == r->start_time;
    }
    is_int(once, NTASKS, "every task is reported exactly once");
    is_int(clean, NTASKS,
           "with exit 0, no output and zero duration: nothing was spawned");
    ok(srv.batches < NTASKS / 10, "results travel in batches (%u)",
       srv.batches);

    kill(pid, SIGTERM);
    int status = fs_worker_wait(pid, 5000);
    ok(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the worker exits 0 on SIGTERM");
    fs_stop(&srv);
    fs_free(&srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return done_testing();
}
