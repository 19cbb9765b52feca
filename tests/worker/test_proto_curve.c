/* SPDX-License-Identifier: MIT */
/* test_proto_curve.c - a worker with CURVE keys (key files as `banyan
 * keygen` writes them) reaches a server that allows its key and runs a
 * task; a worker whose key is not on the allow-list gets nothing. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_server.h"
#include "tap.h"
#include "util/util.h"

static bool has_result(fake_server_t *s, void *ref)
{
    const msg_task_ref_t *r = ref;
    return fs_result(s, r->job, r->index, r->attempt) != NULL;
}

static void write_keys(const char *path, const char *pub, const char *sec)
{
    FILE *f = fopen(path, "w");
    if (!f)
        bail_out("cannot write %s", path);
    fprintf(f, "public-key = %s\n", pub);
    if (sec)
        fprintf(f, "secret-key = %s\n", sec);
    fclose(f);
}

int main(void)
{
    plan(NO_PLAN);
    char spub[41], ssec[41], wpub[41], wsec[41], xpub[41], xsec[41];
    if (msg_curve_keypair(spub, ssec) < 0 ||
        msg_curve_keypair(wpub, wsec) < 0 ||
        msg_curve_keypair(xpub, xsec) < 0) {
        diag("skip: this libzmq has no CURVE");
        return done_testing();
    }
    char endpoint[512], server_key[512], good[512], bad[512];
    const char *dir = tap_tmpdir();
    snprintf(endpoint, sizeof(endpoint), "ipc://%s/srv.sock", dir);
    snprintf(server_key, sizeof(server_key), "%s/server.pub", dir);
    snprintf(good, sizeof(good), "%s/good.key", dir);
    snprintf(bad, sizeof(bad), "%s/bad.key", dir);
    write_keys(server_key, spub, NULL);
    write_keys(good, wpub, wsec);
    write_keys(bad, xpub, xsec);

    fs_worker_opts_t wo = {.endpoint = endpoint, .slots = 1,
                           .key_file = bad, .server_key_file = server_key};
    pid_t stranger = fs_worker_start(&wo);
    usleep(300 * 1000);
    wo.key_file = good;
    pid_t pid = fs_worker_start(&wo);

    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *allowed[] = {wpub, NULL};
    msg_security_t sec = {.public_key = spub, .secret_key = ssec,
                          .allowed = allowed};
    fake_server_t srv;
    fs_start_secure(&srv, &loop, endpoint, 1, 200, &sec);
    unsigned one = 1;
    ok(fs_run_until(&srv, fs_has_hello, &one, 10000),
       "the worker with an allowed key says HELLO over CURVE");
    const char *words[] = {"echo", "secure"};
    msg_t job = {.type = MSG_JOB};
    job.u.job = (msg_job_t){.id = 1, .nwords = 2, .words = words};
    fs_send(&srv, &job);
    fs_assign_range(&srv, 1, 0, 1, 1, 1, NULL, 0);
    msg_task_ref_t ref = {1, 0, 1};
    ok(fs_run_until(&srv, has_result, &ref, 10000), "its task runs");
    fs_result_t *r = fs_result(&srv, 1, 0, 1);
    ok(r && strcmp(r->out, "secure\n") == 0, "and reports its output");
    fs_run_for(&srv, 1000);
    is_int(srv.hellos, 1, "the worker whose key is not allowed gets nowhere");
    msg_sock_stats_t st;
    msg_sock_stats(srv.sock, &st);
    ok(st.refused > 0, "the server refused it (%llu refusals)",
       (unsigned long long)st.refused);
    ok(waitpid(stranger, NULL, WNOHANG) == 0,
       "the refused worker keeps trying");

    kill(pid, SIGTERM);
    kill(stranger, SIGTERM);
    int status = fs_worker_wait(pid, 5000);
    ok(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "the worker exits 0 on SIGTERM");
    status = fs_worker_wait(stranger, 5000);
    ok(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "so does the refused one, with no server to wait for");
    fs_stop(&srv);
    fs_free(&srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return done_testing();
}
