/* SPDX-License-Identifier: MIT */
/* test_throughput.c - tasks per second through the server with two noop
 * workers over TCP loopback.
 *
 * The workers are forked before any ZeroMQ socket exists (contexts must not
 * cross a fork) and read the server's endpoint from a file once it is bound.
 * Each completes every ASSIGN at once with one RESULT batch, like
 * `banyan worker --noop`.  The figure (submit to last result recorded) is
 * printed as a diagnostic; the test asserts only that every task ended once.
 * BANYAN_TASKS sets the array size (default 200000).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "store/store.h"
#include "tap.h"
#include "util/util.h"

typedef struct noop {
    msg_sock_t *sock;
    uint64_t seq;
    msg_result_entry_t *buf;
    size_t cap;
} noop_t;

static void noop_recv(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                      void *arg)
{
    (void)from;
    noop_t *w = arg;
    if (m->type == MSG_PING) {
        msg_t p = {.type = MSG_PONG};
        p.u.ping = m->u.ping;
        msg_sock_send(s, NULL, &p);
    } else if (m->type == MSG_ASSIGN) {
        uint32_t n = m->u.assign.n;
        if (n > w->cap) {
            w->cap = n;
            w->buf = realloc(w->buf, n * sizeof(*w->buf));
        }
        memset(w->buf, 0, n * sizeof(*w->buf));
        for (uint32_t i = 0; i < n; i++) {
            w->buf[i].task = m->u.assign.entries[i].task;
            w->buf[i].end.state = BANYAN_TASK_OK;
        }
        msg_t r = {.type = MSG_RESULT};
        r.u.result.seq = ++w->seq;
        r.u.result.n = n;
        r.u.result.entries = w->buf;
        msg_sock_send(s, NULL, &r);
    }
    msg_free(m);
}

static void noop_worker(const char *epfile, const char *id)
{
    char *ep = NULL;
    size_t len;
    for (int i = 0; i < 2000 && util_read_file(epfile, &ep, &len) < 0; i++)
        usleep(5000);
    if (!ep)
        _exit(1);
    uv_loop_t loop;
    uv_loop_init(&loop);
    noop_t w = {0};
    w.sock = msg_sock_connect(&loop, ep, NULL, noop_recv, &w, NULL);
    if (!w.sock)
        _exit(1);
    msg_t m = {.type = MSG_HELLO};
    m.u.hello.worker_id = id;
    m.u.hello.name = id;
    m.u.hello.host = "localhost";
    m.u.hello.slots = 20000;
    m.u.hello.cpus_milli = 20000 * 1000;
    m.u.hello.mem_bytes = 1ULL << 40;
    m.u.hello.noop = true;
    msg_sock_send(w.sock, NULL, &m);
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(0);
}

int main(void)
{
    plan(NO_PLAN);
    const char *env = getenv("BANYAN_TASKS");
    uint64_t ntasks = env ? strtoull(env, NULL, 10) : 200000;
    harness_t h;
    h_init(&h, "throughput");
    char epfile[1200];
    snprintf(epfile, sizeof(epfile), "%s/endpoint", h.dir);
    unlink(epfile); /* a stale one from an earlier run */
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            noop_worker(epfile, i ? "noop-b" : "noop-a");
    }
    server_options_t o = {.listen = "tcp://127.0.0.1:0"};
    server_t *s = h_server(&h, &o);
    ok(s != NULL, "the server listens on an ephemeral TCP port");
    const char *ep = server_endpoint(s);
    char tmp[1300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", epfile);
    FILE *f = fopen(tmp, "w");
    fputs(ep, f);
    fclose(f);
    rename(tmp, epfile);
    snprintf(h.endpoint, sizeof(h.endpoint), "%s", ep);

    int64_t end = util_mono_ms() + 10000;
    server_stats_t st;
    do {
        uv_run(&h.loop, UV_RUN_ONCE);
        server_get_stats(s, &st);
    } while (st.engines < 2 && util_mono_ms() < end);
    is_int(st.engines, 2, "two noop workers joined");

    fake_t *c = h_fake(&h);
    static const char *const words[] = {"true", "{}"};
    uint64_t t0 = util_mono_ns();
    c_submit_array(c, 1, words, 2, ntasks, NULL, 1);
    msg_t *r = c_wait_reply(&h, c, 1, 10000);
    uint32_t job = r && r->type == MSG_SUBMITTED ? r->u.submitted.job : 0;
    c_wait(c, 2, job);
    r = c_wait_reply(&h, c, 2, 600000);
    double secs = (double)(util_mono_ns() - t0) / 1e9;
    ok(r && r->type == MSG_JOBSTATE && r->u.jobstate.ok == ntasks,
       "all %llu tasks ended ok", (unsigned long long)ntasks);
    server_get_stats(s, &st);
    diag("throughput: %llu tasks in %.3f s = %.0f tasks/s (%llu commits, "
         "%llu duplicates)", (unsigned long long)ntasks, secs,
         (double)ntasks / secs, (unsigned long long)st.commits,
         (unsigned long long)st.duplicates);
    is_int(st.duplicates, 0, "no duplicate results");
    for (int i = 0; i < 2; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    h_fini(&h);
    return done_testing();
}
