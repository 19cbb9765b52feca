/* SPDX-License-Identifier: MIT */
/* test_sock.c - ROUTER/DEALER sockets on one libuv loop: batches drained
 * completely and exactly once, unknown peers, ephemeral ports, CURVE with
 * an allow-list, malformed frames counted and dropped.
 *
 * Every test runs the loop until a condition holds or a generous deadline
 * passes; the deadline only guards against a hang.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "msg/msg.h"
#include "tap.h"

typedef bool (*cond_fn)(void *arg);

typedef struct waiter {
    cond_fn cond;
    void *arg;
    int64_t deadline;
    bool met;
} waiter_t;

static void on_tick(uv_timer_t *t)
{
    waiter_t *w = t->data;
    if (w->cond != NULL && w->cond(w->arg)) {
        w->met = true;
        uv_stop(t->loop);
    } else if (util_mono_ms() >= w->deadline) {
        uv_stop(t->loop);
    }
}

/* Run the loop until cond(arg) holds (true) or ms pass (false).  With a
 * NULL cond, just run for ms. */
static bool run_until(uv_loop_t *loop, cond_fn cond, void *arg, int ms)
{
    waiter_t w = {cond, arg, util_mono_ms() + ms, false};
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &w;
    uv_timer_start(&t, on_tick, 1, 1);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return w.met;
}

/* Let closed sockets finish closing. */
static void settle(uv_loop_t *loop)
{
    for (int i = 0; i < 3; i++)
        uv_run(loop, UV_RUN_NOWAIT);
}

/* ------------------------------------------------------------- batches */

enum { PER_DEALER = 5000, BATCH = 500 };

typedef struct dealer_state {
    msg_sock_t *s;
    int next;                 /* next seq to send */
    int got;                  /* PONGs received */
    int dup;                  /* PONGs seen twice */
    int wrong;                /* PONGs with a bad seq */
    unsigned char seen[PER_DEALER];
} dealer_state_t;

typedef struct router_state {
    msg_sock_t *s;
    int got;
    int send_failed;
} router_state_t;

static void router_echo(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                        void *arg)
{
    router_state_t *r = arg;
    r->got++;
    if (m->type == MSG_PING) {
        m->type = MSG_PONG;
        if (msg_sock_send(s, from, m) < 0)
            r->send_failed++;
    }
    msg_free(m);
}

static void dealer_count(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                         void *arg)
{
    (void)s;
    dealer_state_t *d = arg;
    if (from->len != 0 || m->type != MSG_PONG
        || m->u.ping.seq >= PER_DEALER) {
        d->wrong++;
    } else if (d->seen[m->u.ping.seq]++) {
        d->dup++;
    } else {
        d->got++;
    }
    msg_free(m);
}

typedef struct batch_test {
    router_state_t r;
    dealer_state_t d[2];
    int send_failed;
} batch_test_t;

static void send_batch(uv_timer_t *t)
{
    batch_test_t *b = t->data;
    for (int k = 0; k < 2; k++) {
        dealer_state_t *d = &b->d[k];
        for (int i = 0; i < BATCH && d->next < PER_DEALER; i++) {
            msg_t m = {.type = MSG_PING};
            m.u.ping.seq = (uint64_t)d->next;
            m.u.ping.sent = k;
            if (msg_sock_send(d->s, NULL, &m) < 0)
                b->send_failed++;
            d->next++;
        }
    }
}

static bool batch_done(void *arg)
{
    batch_test_t *b = arg;
    return b->d[0].got == PER_DEALER && b->d[1].got == PER_DEALER;
}

static void test_batches(uv_loop_t *loop)
{
    static batch_test_t b;
    banyan_error_t err = {{0}};
    char ep[512];
    snprintf(ep, sizeof ep, "ipc://%s/router.sock", tap_tmpdir());
    b.r.s = msg_sock_bind(loop, ep, NULL, router_echo, &b.r, &err);
    ok(b.r.s != NULL, "a ROUTER binds an ipc:// endpoint in the temp dir%s%s",
       b.r.s ? "" : ": ", b.r.s ? "" : err.text);
    if (b.r.s == NULL)
        return;
    is_str(msg_sock_endpoint(b.r.s), ep, "the ipc endpoint reads back");
    for (int k = 0; k < 2; k++)
        b.d[k].s = msg_sock_connect(loop, ep, NULL, dealer_count, &b.d[k],
                                    &err);
    ok(b.d[0].s != NULL && b.d[1].s != NULL, "two DEALERs connect");
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &b;
    uv_timer_start(&t, send_batch, 0, 1);
    bool done = run_until(loop, batch_done, &b, 30000);
    uv_close((uv_handle_t *)&t, NULL);
    ok(done, "every one of 2 x %d echoed messages arrives (got %d + %d)",
       PER_DEALER, b.d[0].got, b.d[1].got);
    is_int(b.d[0].dup + b.d[1].dup, 0, "no message arrives twice");
    is_int(b.d[0].wrong + b.d[1].wrong, 0, "every reply is the right one");
    is_int(b.r.got, 2 * PER_DEALER, "the ROUTER received each request once");
    is_int(b.send_failed + b.r.send_failed, 0, "no send failed");
    msg_sock_stats_t st;
    msg_sock_stats(b.r.s, &st);
    ok(st.received == 2 * PER_DEALER && st.sent == 2 * PER_DEALER
           && st.malformed == 0 && st.bytes_in > 0 && st.bytes_out > 0,
       "ROUTER stats count what it received and sent");

    /* An unknown peer. */
    msg_peer_t ghost = {.len = 5};
    memcpy(ghost.id, "\0ghst", 5);
    msg_t ping = {.type = MSG_PING};
    errno = 0;
    ok(msg_sock_send(b.r.s, &ghost, &ping) < 0 && errno == EHOSTUNREACH,
       "sending to an unknown peer fails with EHOSTUNREACH");
    errno = 0;
    ok(msg_sock_send(b.r.s, NULL, &ping) < 0 && errno == EINVAL,
       "a ROUTER send without a peer fails with EINVAL");
    msg_t bad = {.type = MSG_ANSWER};   /* json is required */
    msg_peer_t any = {.len = 1};
    errno = 0;
    ok(msg_sock_send(b.r.s, &any, &bad) < 0 && errno == EINVAL,
       "a message that cannot be encoded fails with EINVAL");

    for (int k = 0; k < 2; k++)
        msg_sock_close(b.d[k].s);
    msg_sock_close(b.r.s);
    settle(loop);
}

/* ----------------------------------------------------------- tcp, curve */

typedef struct peer_state {
    int got;
    int pongs;
    int refusals;          /* ERRORs a DEALER got for its refused handshake */
    unsigned roles;        /* of the last sender (ROUTER) */
    char key[41];
    char text[256];        /* the last refusal's */
} peer_state_t;

static void count_cb(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                     void *arg)
{
    peer_state_t *p = arg;
    if (m->type == MSG_ERROR && m->u.error.code == EACCES) {
        p->refusals++;
        snprintf(p->text, sizeof(p->text), "%s", m->u.error.text);
        msg_free(m);
        return;
    }
    p->got++;
    p->roles = from->roles;
    memcpy(p->key, from->key, sizeof(p->key));
    if (m->type == MSG_PONG)
        p->pongs++;
    if (m->type == MSG_PING) {
        m->type = MSG_PONG;
        msg_sock_send(s, from, m);
    }
    msg_free(m);
}

static bool got_pong(void *arg)
{
    return ((peer_state_t *)arg)->pongs > 0;
}

static bool got_refusal(void *arg)
{
    return ((peer_state_t *)arg)->refusals > 0;
}

static void test_tcp(uv_loop_t *loop)
{
    peer_state_t rs = {0}, ds = {0};
    banyan_error_t err = {{0}};
    msg_sock_t *r = msg_sock_bind(loop, "tcp://127.0.0.1:0", NULL, count_cb,
                                  &rs, &err);
    ok(r != NULL, "a ROUTER binds tcp://127.0.0.1:0");
    if (r == NULL)
        return;
    const char *ep = msg_sock_endpoint(r);
    int port = 0;
    ok(sscanf(ep, "tcp://127.0.0.1:%d", &port) == 1 && port > 0,
       "msg_sock_endpoint gives the chosen port (%s)", ep);
    msg_sock_t *d = msg_sock_connect(loop, ep, NULL, count_cb, &ds, &err);
    msg_t ping = {.type = MSG_PING, .u.ping = {1, 2.0}};
    ok(d != NULL && msg_sock_send(d, NULL, &ping) == 0,
       "a DEALER connects to the ephemeral port and sends");
    ok(run_until(loop, got_pong, &ds, 10000),
       "the DEALER gets the ROUTER's reply over TCP");

    msg_sock_t *r2 = msg_sock_bind(loop, ep, NULL, count_cb, &rs, &err);
    ok(r2 == NULL && errno == EADDRINUSE && strstr(err.text, ep) != NULL,
       "binding a port in use fails with EADDRINUSE and names it");
    msg_sock_close(d);
    msg_sock_close(r);
    settle(loop);
}

typedef struct curve_test {
    peer_state_t rs, good, bad, plain;
    msg_sock_t *r;
} curve_test_t;

/* Both refused: the stranger by ZAP (counted by the server), the plain
 * peer (the token's PLAIN against CURVE) by a protocol error that either
 * side may see first. */
static bool refused_twice(void *arg)
{
    curve_test_t *c = arg;
    msg_sock_stats_t st;
    msg_sock_stats(c->r, &st);
    return st.refused >= 2 || (st.refused >= 1 && c->plain.refusals > 0);
}

static void test_curve(uv_loop_t *loop)
{
    char spub[41], ssec[41], apub[41], asec[41], bpub[41], bsec[41];
    if (msg_curve_keypair(spub, ssec) < 0) {
        ok(errno == ENOTSUP, "no CURVE in libzmq: keypair says ENOTSUP");
        return;
    }
    ok(msg_curve_keypair(apub, asec) == 0 && msg_curve_keypair(bpub, bsec) == 0
           && strlen(apub) == 40 && strcmp(apub, bpub) != 0,
       "msg_curve_keypair makes distinct 40-character keys");

    static curve_test_t c;
    banyan_error_t err = {{0}};
    const char *allowed[] = {apub, NULL};
    msg_security_t ssecu = {.public_key = spub, .secret_key = ssec,
                            .allowed = allowed};
    c.r = msg_sock_bind(loop, "tcp://127.0.0.1:0", &ssecu, count_cb, &c.rs,
                        &err);
    ok(c.r != NULL, "a CURVE ROUTER with an allow-list binds%s%s",
       c.r ? "" : ": ", c.r ? "" : err.text);
    if (c.r == NULL)
        return;
    const char *ep = msg_sock_endpoint(c.r);

    msg_security_t asecu = {.public_key = apub, .secret_key = asec,
                            .server_key = spub};
    msg_sock_t *good = msg_sock_connect(loop, ep, &asecu, count_cb, &c.good,
                                        &err);
    msg_t ping = {.type = MSG_PING, .u.ping = {1, 0}};
    ok(good != NULL && msg_sock_send(good, NULL, &ping) == 0,
       "an allowed key connects and sends");
    ok(run_until(loop, got_pong, &c.good, 10000),
       "an allowed key exchanges messages with the server");
    ok(c.rs.roles == MSG_ROLE_CLIENT && strcmp(c.rs.key, apub) == 0,
       "its messages carry its role (client) and key");

    msg_security_t bsecu = {.public_key = bpub, .secret_key = bsec,
                            .server_key = spub};
    msg_sock_t *bad = msg_sock_connect(loop, ep, &bsecu, count_cb, &c.bad,
                                       &err);
    msg_sock_t *plain = msg_sock_connect(loop, ep, NULL, count_cb, &c.plain,
                                         &err);
    ok(bad != NULL && plain != NULL, "a stranger and a plain client connect");
    msg_sock_send(bad, NULL, &ping);
    msg_sock_send(plain, NULL, &ping);
    bool refused = run_until(loop, refused_twice, &c, 10000);
    run_until(loop, NULL, NULL, 300);   /* time for anything to leak */
    msg_sock_stats_t st;
    msg_sock_stats(c.r, &st);
    ok(refused, "refusals are counted (%llu by the server, %d by the plain "
       "peer)", (unsigned long long)st.refused, c.plain.refusals);
    is_int(c.bad.got, 0, "a key not on the allow-list gets nothing");
    ok(run_until(loop, got_refusal, &c.bad, 10000)
           && strstr(c.bad.text, bpub) && strstr(c.bad.text, "refused"),
       "... but learns that the server refused its key (%s)", c.bad.text);
    is_int(c.plain.got, 0, "a client without CURVE gets nothing");
    is_int(c.rs.got, 1, "the server received only the allowed client's "
           "message");
    diag("last refused: %s", msg_sock_last_refused(c.r));
    ok(strstr(msg_sock_last_refused(c.r), "from") != NULL
           || strstr(msg_sock_last_refused(c.r), "handshake") != NULL,
       "the last refusal is described");

    const char *bogus[] = {"not-a-key", NULL};
    msg_security_t bsec2 = {.public_key = spub, .secret_key = ssec,
                            .allowed = bogus};
    msg_sock_t *x = msg_sock_bind(loop, "tcp://127.0.0.1:0", &bsec2,
                                  count_cb, &c.rs, &err);
    ok(x == NULL && errno == EINVAL && strstr(err.text, "allow-list"),
       "a bad allow-list key is refused with EINVAL (%s)", err.text);
    msg_security_t nokey = {.public_key = apub, .secret_key = asec};
    x = msg_sock_connect(loop, ep, &nokey, count_cb, &c.rs, &err);
    ok(x == NULL && errno == EINVAL,
       "a CURVE DEALER without the server key is refused with EINVAL");

    msg_sock_close(good);
    msg_sock_close(bad);
    msg_sock_close(plain);
    msg_sock_close(c.r);
    settle(loop);
}

/* Keys with roles: a worker key's messages say worker, an admin's (on
 * both lists) both. */
static void test_roles(uv_loop_t *loop)
{
    char spub[41], ssec[41], wpub[41], wsec[41], apub[41], asec[41];
    if (msg_curve_keypair(spub, ssec) < 0 || msg_curve_keypair(wpub, wsec) < 0
        || msg_curve_keypair(apub, asec) < 0)
        return;
    peer_state_t rs = {0}, ws = {0}, as = {0};
    banyan_error_t err = {{0}};
    const char *clients[] = {apub, NULL}, *workers[] = {wpub, apub, NULL};
    msg_security_t ssecu = {.public_key = spub, .secret_key = ssec,
                            .allowed = clients, .workers = workers};
    msg_sock_t *r = msg_sock_bind(loop, "tcp://127.0.0.1:0", &ssecu,
                                  count_cb, &rs, &err);
    ok(r != NULL, "a ROUTER with client and worker lists binds");
    if (!r)
        return;
    msg_security_t wsecu = {.public_key = wpub, .secret_key = wsec,
                            .server_key = spub};
    msg_security_t asecu = {.public_key = apub, .secret_key = asec,
                            .server_key = spub};
    msg_sock_t *w = msg_sock_connect(loop, msg_sock_endpoint(r), &wsecu,
                                     count_cb, &ws, &err);
    msg_t ping = {.type = MSG_PING, .u.ping = {1, 0}};
    msg_sock_send(w, NULL, &ping);
    ok(run_until(loop, got_pong, &ws, 10000) && rs.roles == MSG_ROLE_WORKER
           && !strcmp(rs.key, wpub),
       "a worker key's messages carry the worker role");
    msg_sock_t *a = msg_sock_connect(loop, msg_sock_endpoint(r), &asecu,
                                     count_cb, &as, &err);
    msg_sock_send(a, NULL, &ping);
    ok(run_until(loop, got_pong, &as, 10000) && rs.roles == MSG_ROLE_ANY,
       "a key on both lists has both roles");
    msg_sock_close(w);
    msg_sock_close(a);
    msg_sock_close(r);
    settle(loop);
}

/* The token: without CURVE, a ROUTER that wants one takes only peers that
 * give it; the others learn why. */
static void test_token(uv_loop_t *loop)
{
    peer_state_t rs = {0}, gs = {0}, bs = {0}, ns = {0};
    banyan_error_t err = {{0}};
    msg_security_t rsec = {.token = "0123456789abcdef"};
    msg_sock_t *r = msg_sock_bind(loop, "tcp://127.0.0.1:0", &rsec, count_cb,
                                  &rs, &err);
    ok(r != NULL, "a ROUTER that wants a token binds");
    if (!r)
        return;
    const char *ep = msg_sock_endpoint(r);
    msg_security_t bad = {.token = "0123456789abcdeX"};
    msg_sock_t *g = msg_sock_connect(loop, ep, &rsec, count_cb, &gs, &err);
    msg_sock_t *b = msg_sock_connect(loop, ep, &bad, count_cb, &bs, &err);
    msg_sock_t *n = msg_sock_connect(loop, ep, NULL, count_cb, &ns, &err);
    msg_t ping = {.type = MSG_PING, .u.ping = {1, 0}};
    msg_sock_send(g, NULL, &ping);
    msg_sock_send(b, NULL, &ping);
    msg_sock_send(n, NULL, &ping);
    ok(run_until(loop, got_pong, &gs, 10000) && rs.roles == MSG_ROLE_ANY,
       "a peer with the token is served, with every role");
    ok(run_until(loop, got_refusal, &bs, 10000)
           && strstr(bs.text, "token"),
       "a wrong token is refused, and told so (%s)", bs.text);
    run_until(loop, NULL, NULL, 300);
    is_int(bs.got + ns.got, 0, "a wrong token or none gets nothing");
    is_int(rs.got, 1, "the ROUTER received only the good peer's message");
    msg_sock_stats_t st;
    msg_sock_stats(r, &st);
    ok(st.refused >= 2, "both refusals are counted (%llu)",
       (unsigned long long)st.refused);
    msg_sock_close(g);
    msg_sock_close(b);
    msg_sock_close(n);
    msg_sock_close(r);
    settle(loop);
}

/* ---------------------------------------------------------- malformed */

static bool got_one(void *arg)
{
    return ((peer_state_t *)arg)->got > 0;
}

static void test_malformed(uv_loop_t *loop)
{
    peer_state_t rs = {0};
    banyan_error_t err = {{0}};
    char ep[512];
    snprintf(ep, sizeof ep, "ipc://%s/mal.sock", tap_tmpdir());
    msg_sock_t *r = msg_sock_bind(loop, ep, NULL, count_cb, &rs, &err);
    ok(r != NULL, "a ROUTER for malformed frames binds");
    if (r == NULL)
        return;
    /* A raw DEALER sends garbage, then a second frame, then a good PING. */
    void *ctx = zmq_ctx_new();
    void *raw = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(raw, ZMQ_LINGER, &zero, sizeof zero);
    char token[MSG_TOKEN_LEN + 1];  /* as every peer on loopback */
    ok(msg_token_for(ep, false, false, token, &err) == 1,
       "an ipc:// link uses the user's token");
    zmq_setsockopt(raw, ZMQ_PLAIN_USERNAME, "x", 1);
    zmq_setsockopt(raw, ZMQ_PLAIN_PASSWORD, token, strlen(token));
    zmq_connect(raw, ep);
    zmq_send(raw, "\x93\xba\x01", 3, 0);
    zmq_send(raw, "", 0, 0);
    zmq_send(raw, "a", 1, ZMQ_SNDMORE);
    zmq_send(raw, "b", 1, 0);
    util_buf_t b = UTIL_BUF_INIT;
    msg_t ping = {.type = MSG_PING, .u.ping = {3, 0}};
    msg_encode(&ping, &b);
    zmq_send(raw, b.data, b.len, 0);
    util_buf_fini(&b);
    ok(run_until(loop, got_one, &rs, 10000),
       "a good message after malformed ones still arrives");
    msg_sock_stats_t st;
    msg_sock_stats(r, &st);
    is_int(st.malformed, 3, "three malformed payloads were dropped and "
           "counted");
    is_int(st.received, 1, "only the good one was delivered");
    ok(msg_sock_last_malformed(r)[0] != '\0', "the last malformed payload "
       "is described: %s", msg_sock_last_malformed(r));
    zmq_close(raw);
    zmq_ctx_term(ctx);
    msg_sock_close(r);
    settle(loop);
}

/* ------------------------------------------------- fairness, lifetime */

enum { FLOOD = 20000 };

typedef struct flood_test {
    msg_sock_t *r;
    int got;
    int ticks_during;        /* timer ticks while the flood was draining */
    int closed_after;        /* messages seen after a close in the callback */
    bool close_now;
} flood_test_t;

static void slow_cb(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                    void *arg)
{
    (void)from;
    flood_test_t *f = arg;
    if (f->close_now) {
        f->closed_after++;
        msg_free(m);
        msg_sock_close(s);
        return;
    }
    f->got++;
    uint64_t until = util_mono_ns() + 2000;   /* 2 us of "work" each */
    while (util_mono_ns() < until)
        ;
    msg_free(m);
}

static void flood_tick(uv_timer_t *t)
{
    flood_test_t *f = t->data;
    if (f->got > 0 && f->got < FLOOD)
        f->ticks_during++;
}

static bool flood_done(void *arg)
{
    return ((flood_test_t *)arg)->got == FLOOD;
}

static void test_flood(uv_loop_t *loop)
{
    static flood_test_t f;
    banyan_error_t err = {{0}};
    char ep[512];
    snprintf(ep, sizeof ep, "ipc://%s/flood.sock", tap_tmpdir());
    f.r = msg_sock_bind(loop, ep, NULL, slow_cb, &f, &err);
    peer_state_t ds = {0};
    msg_sock_t *d = msg_sock_connect(loop, ep, NULL, count_cb, &ds, &err);
    ok(f.r != NULL && d != NULL, "a ROUTER and a DEALER for a flood");
    if (f.r == NULL || d == NULL)
        return;
    int failed = 0;
    for (int i = 0; i < FLOOD; i++) {
        msg_t m = {.type = MSG_ACK, .u.ack = {(uint64_t)i}};
        failed += msg_sock_send(d, NULL, &m) < 0;
    }
    ok(failed == 0, "%d messages are queued at once", FLOOD);
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &f;
    uv_timer_start(&t, flood_tick, 1, 1);
    ok(run_until(loop, flood_done, &f, 60000), "the whole flood arrives");
    uv_close((uv_handle_t *)&t, NULL);
    diag("timer ticks while %d messages drained: %d", FLOOD,
         f.ticks_during);
    ok(f.ticks_during >= 3, "timers run between drain slices while a flood "
       "is handled (heartbeats are not starved)");

    /* Close from inside the callback with messages still queued. */
    f.close_now = true;
    for (int i = 0; i < 100; i++) {
        msg_t m = {.type = MSG_ACK, .u.ack = {(uint64_t)i}};
        msg_sock_send(d, NULL, &m);
    }
    run_until(loop, NULL, NULL, 300);
    is_int(f.closed_after, 1, "no message is delivered after the callback "
           "closed the socket");
    msg_sock_close(d);
    settle(loop);
}

/* ------------------------------------------------------------ loopback */

static void test_loopback(void)
{
    static const struct {
        const char *ep;
        bool loop;
    } cases[] = {
        {"tcp://127.0.0.1:7878", true},
        {"tcp://127.1.2.3:1", true},
        {"tcp://localhost:7878", true},
        {"tcp://LOCALHOST:7878", true},
        {"tcp://[::1]:7878", true},
        {"tcp://::1:7878", true},
        {"tcp://[::ffff:127.0.0.1]:80", true},
        {"tcp://lo:7878", true},
        {"ipc:///tmp/banyan.sock", true},
        {"ipc://@abstract", true},
        {"inproc://x", true},
        {"tcp://0.0.0.0:7878", false},
        {"tcp://*:7878", false},
        {"tcp://10.0.0.1:7878", false},
        {"tcp://128.0.0.1:7878", false},
        {"tcp://127.evil.example:7878", false},
        {"tcp://[::]:7878", false},
        {"tcp://eth0:7878", false},
        {"tcp://node1:7878", false},
        {"tcp://:7878", false},
        {"udp://127.0.0.1:7878", false},
        {"pgm://127.0.0.1;239.192.1.1:5555", false},
        {"127.0.0.1:7878", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok(msg_endpoint_is_loopback(cases[i].ep) == cases[i].loop,
           "%s is %sloopback", cases[i].ep, cases[i].loop ? "" : "not ");
    ok(!msg_endpoint_is_loopback(NULL), "NULL is not loopback");
}

int main(void)
{
    plan(NO_PLAN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    test_batches(&loop);
    test_tcp(&loop);
    test_curve(&loop);
    test_roles(&loop);
    test_token(&loop);
    test_malformed(&loop);
    test_flood(&loop);
    test_loopback();
    settle(&loop);
    ok(uv_loop_close(&loop) == 0, "every handle was closed");
    return done_testing();
}
