/* SPDX-License-Identifier: MIT */
/* harness.c - fake workers and clients for the server's tests. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "tap.h"
#include "util/util.h"

static void on_tick(uv_timer_t *t)
{
    (void)t; /* wakes the loop so conditions are checked */
}

void h_init(harness_t *h, const char *name)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->dir, sizeof(h->dir), "%s/%s", tap_tmpdir(), name);
    util_mkdir_p(h->dir, 0700);
    snprintf(h->endpoint, sizeof(h->endpoint), "ipc://%s/s.sock", h->dir);
    snprintf(h->db, sizeof(h->db), "%s/banyan.db", h->dir);
    uv_loop_init(&h->loop);
    uv_timer_init(&h->loop, &h->tick);
    uv_timer_start(&h->tick, on_tick, 5, 5);
}

static void fake_free_msgs(fake_t *f)
{
    for (int i = 0; i < f->n; i++)
        msg_free(f->msgs[i]);
    f->n = 0;
}

void h_fake_close(harness_t *h, fake_t *f)
{
    for (int i = 0; i < h->nfakes; i++)
        if (h->fakes[i] == f) {
            h->fakes[i] = h->fakes[--h->nfakes];
            break;
        }
    msg_sock_close(f->sock);
    fake_free_msgs(f);
    free(f);
}

void h_server_stop(harness_t *h)
{
    server_destroy(h->server);
    h->server = NULL;
    h_run_for(h, 20);
}

void h_fini(harness_t *h)
{
    while (h->nfakes > 0)
        h_fake_close(h, h->fakes[0]);
    if (h->server)
        h_server_stop(h);
    uv_close((uv_handle_t *)&h->tick, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    uv_loop_close(&h->loop);
}

server_t *h_server(harness_t *h, const server_options_t *extra)
{
    server_options_t o = {0};
    if (extra)
        o = *extra;
    if (!o.listen)
        o.listen = h->endpoint;
    o.db_path = h->db;
    banyan_error_t err = {{0}};
    h->server = server_create(&h->loop, &o, &err);
    if (!h->server)
        diag("server_create: %s", err.text);
    return h->server;
}

static void fake_recv(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                      void *arg)
{
    (void)s;
    (void)from;
    fake_t *f = arg;
    if (m->type == MSG_ACK && m->u.ack.seq > f->acked)
        f->acked = m->u.ack.seq;
    if (m->type == MSG_PING && f->alive) {
        msg_t p = {.type = MSG_PONG};
        p.u.ping = m->u.ping;
        msg_sock_send(f->sock, NULL, &p);
    }
    if (f->n == FAKE_MAX_MSGS) {
        msg_free(m);
        return;
    }
    f->msgs[f->n++] = m;
}

fake_t *h_fake(harness_t *h)
{
    fake_t *f = calloc(1, sizeof(*f));
    banyan_error_t err = {{0}};
    f->alive = true;
    f->sock = msg_sock_connect(&h->loop, h->endpoint, NULL, fake_recv, f,
                               &err);
    if (!f->sock)
        bail_out("msg_sock_connect: %s", err.text);
    h->fakes[h->nfakes++] = f;
    return f;
}

bool h_run_until(harness_t *h, bool (*cond)(void *arg), void *arg,
                 int timeout_ms)
{
    int64_t end = util_mono_ms() + timeout_ms;
    while (!cond(arg)) {
        if (util_mono_ms() > end)
            return false;
        uv_run(&h->loop, UV_RUN_ONCE);
    }
    return true;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

void h_run_for(harness_t *h, int ms)
{
    h_run_until(h, never, NULL, ms);
}

static void hello(fake_t *f, const char *worker_id, uint32_t slots,
                  uint32_t ngpus, const msg_task_ref_t *running,
                  uint32_t nrunning, const char *relay, uint32_t node)
{
    msg_gpu_t gpus[8];
    memset(gpus, 0, sizeof(gpus));
    for (uint32_t i = 0; i < ngpus && i < 8; i++) {
        gpus[i].index = (int32_t)i;
        gpus[i].uuid = "GPU-fake";
        gpus[i].name = "fake";
        gpus[i].mem_total_bytes = 16ULL << 30;
    }
    snprintf(f->worker_id, sizeof(f->worker_id), "%s", worker_id);
    msg_t m = {.type = MSG_HELLO};
    msg_hello_t *hl = &m.u.hello;
    hl->worker_id = worker_id;
    hl->name = worker_id;
    char own[256] = "";
    gethostname(own, sizeof(own) - 1);
    hl->host = f->host ? f->host : own;
    hl->slots = slots;
    hl->cpus_milli = slots * 1000;
    hl->mem_bytes = 1ULL << 34;
    hl->ngpus = ngpus;
    hl->gpus = gpus;
    hl->nrunning = nrunning;
    hl->running = (msg_task_ref_t *)running;
    hl->last_acked = f->acked;
    hl->relay = relay;
    hl->node = node;
    if (msg_sock_send(f->sock, NULL, &m) < 0)
        diag("HELLO not sent");
}

void f_hello(fake_t *f, const char *worker_id, uint32_t slots, uint32_t ngpus,
             const msg_task_ref_t *running, uint32_t nrunning)
{
    hello(f, worker_id, slots, ngpus, running, nrunning, NULL, 0);
}

void f_hello_relay(fake_t *f, const char *worker_id, uint32_t slots,
                   const char *relay, uint32_t node,
                   const msg_task_ref_t *running, uint32_t nrunning)
{
    hello(f, worker_id, slots, 0, running, nrunning, relay, node);
}

int f_count(fake_t *f, msg_type_t type)
{
    int n = 0;
    for (int i = 0; i < f->n; i++)
        n += f->msgs[i]->type == type;
    return n;
}

msg_t *f_last(fake_t *f, msg_type_t type)
{
    for (int i = f->n; i > 0; i--)
        if (f->msgs[i - 1]->type == type)
            return f->msgs[i - 1];
    return NULL;
}

typedef struct hf {
    harness_t *h;
    fake_t *f;
} hf_t;

static bool welcomed(void *arg)
{
    return f_count(arg, MSG_WELCOME) > 0;
}

bool f_welcomed(harness_t *h, fake_t *f)
{
    return h_run_until(h, welcomed, f, 5000);
}

typedef struct ftn {
    fake_t *f;
    msg_type_t type;
    int n;
} ftn_t;

static bool has_type_n(void *arg)
{
    ftn_t *w = arg;
    return f_count(w->f, w->type) >= w->n;
}

bool f_wait_for(harness_t *h, fake_t *f, msg_type_t type, int n)
{
    ftn_t w = {f, type, n};
    return h_run_until(h, has_type_n, &w, 5000);
}

int f_take_assigns(fake_t *f, msg_assign_entry_t *out, int max)
{
    int n = 0;
    while (f->seen < f->n) {
        msg_t *m = f->msgs[f->seen];
        if (m->type == MSG_ASSIGN) {
            if (n + (int)m->u.assign.n > max)
                break;
            memcpy(out + n, m->u.assign.entries,
                   m->u.assign.n * sizeof(*out));
            n += (int)m->u.assign.n;
        }
        f->seen++;
    }
    return n;
}

uint64_t f_results(fake_t *f, const msg_task_ref_t *t, int n, int exit_code,
                   uint32_t flags, const char *out)
{
    msg_result_entry_t *e = calloc((size_t)n, sizeof(*e));
    for (int i = 0; i < n; i++) {
        e[i].task = t[i];
        banyan_task_end_t *d = &e[i].end;
        d->state = flags & BANYAN_END_INTERRUPTED ? BANYAN_TASK_INTERRUPTED
                   : exit_code == 0                ? BANYAN_TASK_OK
                                                   : BANYAN_TASK_FAILED;
        d->exit_code = exit_code;
        d->flags = flags;
        d->start_time = util_wall_time();
        d->end_time = d->start_time + 0.001;
        if (out) {
            e[i].out_tail = out;
            e[i].out_tail_len = (uint32_t)strlen(out);
        }
    }
    msg_t m = {.type = MSG_RESULT};
    m.u.result.seq = ++f->result_seq;
    m.u.result.n = (uint32_t)n;
    m.u.result.entries = e;
    if (msg_sock_send(f->sock, NULL, &m) < 0)
        diag("RESULT not sent");
    free(e);
    return m.u.result.seq;
}

void c_submit_array(fake_t *f, uint64_t request, const char *const *words,
                    int nwords, uint64_t count, const res_request_t *req,
                    uint32_t max_attempts)
{
    msg_t m = {.type = MSG_SUBMIT};
    msg_submit_t *s = &m.u.submit;
    s->request = request;
    s->job.nwords = (uint32_t)nwords;
    s->job.words = (const char **)words;
    s->job.array_first = 1;
    s->job.array_count = count;
    s->job.name = "test";
    if (req)
        s->job.req = *req;
    else
        s->job.req.slots = 1;
    s->job.max_attempts = max_attempts;
    msg_sock_send(f->sock, NULL, &m);
}

void c_query(fake_t *f, uint64_t request, const char *what, const char *args)
{
    msg_t m = {.type = MSG_QUERY};
    m.u.query.request = request;
    m.u.query.what = what;
    m.u.query.args_json = args;
    msg_sock_send(f->sock, NULL, &m);
}

void c_wait(fake_t *f, uint64_t request, uint32_t job)
{
    msg_t m = {.type = MSG_WAIT};
    m.u.wait.request = request;
    m.u.wait.job = job;
    msg_sock_send(f->sock, NULL, &m);
}

void c_cancel(fake_t *f, uint64_t request, uint32_t job)
{
    msg_t m = {.type = MSG_CANCEL};
    m.u.cancel.request = request;
    m.u.cancel.job = job;
    msg_sock_send(f->sock, NULL, &m);
}

msg_t *c_reply(fake_t *f, uint64_t request)
{
    for (int i = 0; i < f->n; i++) {
        msg_t *m = f->msgs[i];
        uint64_t r = 0;
        switch (m->type) {
        case MSG_SUBMITTED: r = m->u.submitted.request; break;
        case MSG_ANSWER: r = m->u.answer.request; break;
        case MSG_JOBSTATE: r = m->u.jobstate.request; break;
        case MSG_ERROR: r = m->u.error.request; break;
        default: continue;
        }
        if (r == request)
            return m;
    }
    return NULL;
}

typedef struct fr {
    fake_t *f;
    uint64_t request;
} fr_t;

static bool replied(void *arg)
{
    fr_t *r = arg;
    return c_reply(r->f, r->request) != NULL;
}

msg_t *c_wait_reply(harness_t *h, fake_t *f, uint64_t request, int ms)
{
    fr_t r = {f, request};
    h_run_until(h, replied, &r, ms);
    return c_reply(f, request);
}
