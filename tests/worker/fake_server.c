/* SPDX-License-Identifier: MIT */
/* fake_server.c - a tiny server that plays the worker protocol (see
 * fake_server.h). */
#include "fake_server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <banyan/client.h>

#include "tap.h"
#include "util/util.h"
#include "worker/worker.h"

enum { NBUCKETS = 1 << 18 };

/* ------------------------------------------------------------- results */

static size_t ref_bucket(uint32_t job, uint64_t index, uint32_t attempt)
{
    uint64_t h = (index + 1) * 0x9E3779B97F4A7C15ull ^
                 ((uint64_t)job << 20 | attempt) * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ h >> 31) & (NBUCKETS - 1);
}

fs_result_t *fs_result(const fake_server_t *s, uint32_t job, uint64_t index,
                       uint32_t attempt)
{
    for (fs_result_t *r = s->buckets[ref_bucket(job, index, attempt)]; r;
         r = r->next)
        if (r->task.job == job && r->task.index == index &&
            r->task.attempt == attempt)
            return r;
    return NULL;
}

static char *text(const void *p, uint32_t len)
{
    char *t = malloc((size_t)len + 1);
    if (!t)
        bail_out("out of memory");
    if (len)
        memcpy(t, p, len);
    t[len] = '\0';
    return t;
}

static void record(fake_server_t *s, const msg_result_entry_t *e)
{
    s->nresults++;
    fs_result_t *r = fs_result(s, e->task.job, e->task.index,
                               e->task.attempt);
    if (r) {
        r->count++;
        s->duplicates++;
        return;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        bail_out("out of memory");
    r->task = e->task;
    r->count = 1;
    r->state = e->end.state;
    r->exit_code = e->end.exit_code;
    r->term_signal = e->end.term_signal;
    r->flags = e->end.flags;
    r->start_time = e->end.start_time;
    r->end_time = e->end.end_time;
    snprintf(r->reason, sizeof(r->reason), "%s", e->end.reason);
    r->out = text(e->out_tail, e->out_tail_len);
    r->err = text(e->err_tail, e->err_tail_len);
    size_t k = ref_bucket(e->task.job, e->task.index, e->task.attempt);
    r->next = s->buckets[k];
    s->buckets[k] = r;
}

/* ---------------------------------------------------------------- socket */

void fs_send(fake_server_t *s, const msg_t *m)
{
    if (!s->have_peer || msg_sock_send(s->sock, &s->peer, m) < 0)
        diag("fake server: cannot send %s: %s", msg_type_name(m->type),
             strerror(errno));
}

void fs_welcome(fake_server_t *s)
{
    msg_t m = {.type = MSG_WELCOME};
    m.u.welcome.engine_id = 1;
    m.u.welcome.server_epoch = s->epoch;
    m.u.welcome.heartbeat_ms = s->heartbeat_ms;
    fs_send(s, &m);
    s->welcomes++;
}

void fs_ack(fake_server_t *s, uint64_t seq)
{
    msg_t m = {.type = MSG_ACK};
    m.u.ack.seq = seq;
    fs_send(s, &m);
    if (seq > s->acked)
        s->acked = seq;
}

void fs_assign_range(fake_server_t *s, uint32_t job, uint64_t first,
                     uint64_t n, uint32_t attempt, uint32_t nslots,
                     const uint64_t *masks, size_t nmasks)
{
    msg_assign_entry_t *e = calloc(n ? n : 1, sizeof(*e));
    if (!e)
        bail_out("out of memory");
    for (uint64_t i = 0; i < n; i++) {
        e[i].task = (msg_task_ref_t){job, first + i, attempt};
        e[i].slot = 1 + (uint32_t)(i % (nslots ? nslots : 1));
        e[i].gpu_mask = masks ? masks[i % nmasks] : 0;
    }
    msg_t m = {.type = MSG_ASSIGN};
    m.u.assign.n = (uint32_t)n;
    m.u.assign.entries = e;
    fs_send(s, &m);
    free(e);
}

static void copy_hello(fs_hello_t *h, const msg_hello_t *m)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->worker_id, sizeof(h->worker_id), "%s",
             m->worker_id ? m->worker_id : "");
    snprintf(h->name, sizeof(h->name), "%s", m->name ? m->name : "");
    h->slots = m->slots;
    h->cpus_milli = m->cpus_milli;
    h->ngpus = m->ngpus;
    for (uint32_t i = 0; i < m->ngpus && i < 64; i++)
        h->gpu_index[i] = m->gpus[i].index;
    h->score = m->score;
    h->noop = m->noop;
    h->nrunning = m->nrunning;
    for (uint32_t i = 0; i < m->nrunning && i < 64; i++)
        h->running[i] = m->running[i];
    h->last_acked = m->last_acked;
}

static void on_recv(msg_sock_t *sock, const msg_peer_t *from, msg_t *m,
                    void *arg)
{
    (void)sock;
    fake_server_t *s = arg;
    switch (m->type) {
    case MSG_HELLO:
        s->hellos++;
        s->peer = *from;
        s->have_peer = true;
        copy_hello(&s->hello, &m->u.hello);
        if (s->auto_welcome)
            fs_welcome(s);
        break;
    case MSG_PING: {
        s->pings++;
        msg_t pong = {.type = MSG_PONG};
        pong.u.ping = m->u.ping;
        msg_sock_send(s->sock, from, &pong);
        break;
    }
    case MSG_PONG:
        s->pongs++;
        s->last_pong_seq = m->u.ping.seq;
        break;
    case MSG_RESULT:
        s->batches++;
        for (uint32_t i = 0; i < m->u.result.n; i++)
            record(s, &m->u.result.entries[i]);
        if (m->u.result.seq > s->max_seq)
            s->max_seq = m->u.result.seq;
        if (s->auto_ack)
            fs_ack(s, m->u.result.seq);
        break;
    case MSG_BYE:
        s->byes++;
        break;
    default:
        s->others++;
        break;
    }
    msg_free(m);
}

void fs_start(fake_server_t *s, uv_loop_t *loop, const char *endpoint,
              uint64_t epoch, uint32_t heartbeat_ms)
{
    fs_start_secure(s, loop, endpoint, epoch, heartbeat_ms, NULL);
}

void fs_start_secure(fake_server_t *s, uv_loop_t *loop, const char *endpoint,
                     uint64_t epoch, uint32_t heartbeat_ms,
                     const msg_security_t *sec)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->epoch = epoch;
    s->heartbeat_ms = heartbeat_ms;
    s->auto_welcome = s->auto_ack = true;
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", endpoint);
    s->buckets = calloc(NBUCKETS, sizeof(*s->buckets));
    if (!s->buckets)
        bail_out("out of memory");
    banyan_error_t err = {{0}};
    s->sock = msg_sock_bind(loop, endpoint, sec, on_recv, s, &err);
    if (!s->sock)
        bail_out("fake server cannot bind %s: %s", endpoint, err.text);
}

void fs_stop(fake_server_t *s)
{
    msg_sock_close(s->sock);
    s->sock = NULL;
    s->have_peer = false;
    fs_run_for(s, 50); /* let the close finish */
}

void fs_free(fake_server_t *s)
{
    for (size_t i = 0; s->buckets && i < NBUCKETS; i++) {
        fs_result_t *r = s->buckets[i];
        while (r) {
            fs_result_t *next = r->next;
            free(r->out);
            free(r->err);
            free(r);
            r = next;
        }
    }
    free(s->buckets);
    s->buckets = NULL;
}

/* ------------------------------------------------------------------ loop */

static void on_tick(uv_timer_t *h)
{
    (void)h;
}

bool fs_run_until(fake_server_t *s, bool (*pred)(fake_server_t *, void *),
                  void *arg, int64_t timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(s->loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    int64_t end = util_mono_ms() + timeout_ms;
    bool done;
    while (!(done = pred && pred(s, arg)) && util_mono_ms() < end)
        uv_run(s->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(s->loop, UV_RUN_NOWAIT);
    return done;
}

void fs_run_for(fake_server_t *s, int64_t ms)
{
    fs_run_until(s, NULL, NULL, ms);
}

bool fs_has_hello(fake_server_t *s, void *min_hellos)
{
    return s->hellos >= *(unsigned *)min_hellos;
}

bool fs_has_results(fake_server_t *s, void *min_entries)
{
    return s->nresults >= *(uint64_t *)min_entries;
}

/* ---------------------------------------------------------------- worker */

bool fs_worker_is_binary(void)
{
    static int known = -1;
    if (known < 0) {
        const char *bin = getenv("BANYAN_BIN");
        char cmd[1024];
        known = 0;
        if (bin && access(bin, X_OK) == 0) {
            snprintf(cmd, sizeof(cmd), "'%s' worker --help >/dev/null 2>&1",
                     bin);
            known = system(cmd) == 0;
        }
    }
    return known == 1;
}

static void on_child_done(worker_t *w, void *arg)
{
    (void)w;
    uv_close((uv_handle_t *)arg, NULL);
}

static void on_child_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    worker_stop(h->data);
}

/* The worker, in the forked child, without the binary. */
static void __attribute__((noreturn)) child_worker(const fs_worker_opts_t *o)
{
    uv_loop_t loop;
    uv_signal_t sig;
    banyan_error_t err = {{0}};
    gpu_info_t gpus[GPU_MAX];
    if (uv_loop_init(&loop) < 0)
        _exit(3);
    int n = worker_gpus_select(NULL, gpus, GPU_MAX, &err);
    if (n < 0) {
        fprintf(stderr, "worker: %s\n", err.text);
        _exit(2);
    }
    worker_options_t wo = {
        .endpoint = o->endpoint, .slots = o->slots, .noop = o->noop,
        .ngpus = n, .gpus = gpus,
        .host = {.kill_grace_ms = o->kill_grace_ms, .share = false},
        .name = "fake-test", .done = on_child_done, .done_arg = &sig,
    };
    char pub[41], sec[41], srv[41];
    if (o->key_file) {
        if (banyan_key_read(o->key_file, pub, sec, &err) < 0 ||
            banyan_key_read(o->server_key_file, srv, NULL, &err) < 0) {
            fprintf(stderr, "worker: %s\n", err.text);
            _exit(2);
        }
        wo.public_key = pub;
        wo.secret_key = sec;
        wo.server_key = srv;
    }
    worker_t *w = worker_create(&loop, &wo, &err);
    if (!w) {
        fprintf(stderr, "worker: %s\n", err.text);
        _exit(3);
    }
    uv_signal_init(&loop, &sig);
    sig.data = w;
    uv_signal_start(&sig, on_child_signal, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    worker_destroy(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop) == 0 ? 0 : 4;
    /* exit(), not _exit(): LeakSanitizer checks the worker at exit.
     * stdio was flushed before the fork, so nothing prints twice. */
    exit(rc);
}

pid_t fs_worker_start(const fs_worker_opts_t *o)
{
    bool binary = fs_worker_is_binary();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        bail_out("fork: %s", strerror(errno));
    if (pid > 0)
        return pid;
    if (o->gpus_env)
        setenv("BANYAN_GPUS", o->gpus_env, 1);
    else
        unsetenv("BANYAN_GPUS");
    if (!binary)
        child_worker(o);
    char slots[32], grace[32];
    snprintf(slots, sizeof(slots), "%u", o->slots);
    snprintf(grace, sizeof(grace), "%lldms",
             (long long)(o->kill_grace_ms ? o->kill_grace_ms : 2000));
    const char *argv[16];
    int n = 0;
    argv[n++] = getenv("BANYAN_BIN");
    argv[n++] = "worker";
    argv[n++] = "--server";
    argv[n++] = o->endpoint;
    argv[n++] = "--slots";
    argv[n++] = slots;
    argv[n++] = "--kill-grace";
    argv[n++] = grace;
    argv[n++] = "--name";
    argv[n++] = "fake-test";
    if (o->noop)
        argv[n++] = "--noop";
    if (o->key_file) {
        argv[n++] = "--key";
        argv[n++] = o->key_file;
        argv[n++] = "--server-key";
        argv[n++] = o->server_key_file;
    }
    argv[n] = NULL;
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int fs_worker_wait(pid_t pid, int64_t timeout_ms)
{
    int64_t end = util_mono_ms() + timeout_ms;
    int status;
    do {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        usleep(10000);
    } while (util_mono_ms() < end);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}
