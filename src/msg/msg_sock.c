/* SPDX-License-Identifier: MIT */
/* msg_sock.c - ZeroMQ ROUTER/DEALER sockets on a libuv loop, with CURVE.
 *
 * Event loop.  A zmq socket exposes ZMQ_FD, an edge-triggered signal: it
 * becomes readable when the socket's state may have changed, and stays
 * quiet until ZMQ_EVENTS is read again.  So the module drains: after every
 * poll event, and after every send (a send may consume the signal that a
 * message arrived), it reads ZMQ_EVENTS and receives with ZMQ_DONTWAIT
 * until ZMQ_POLLIN is clear.  A drain handles at most DRAIN_MAX messages,
 * then hands the rest to a uv_idle handle, which keeps the loop from
 * blocking and lets timers (heartbeats) run between slices.  After a send
 * the drain is never run in place (the caller may be inside a receive
 * callback): it is left to the idle handle, one loop iteration later.
 *
 * Lifetime.  A receive callback may close the socket: msg_sock_close()
 * marks it closed, closes the zmq sockets at once and the uv handles
 * through uv_close(); the struct is freed when the last handle's close
 * callback runs.  Every loop checks `closed` after each callback.
 *
 * Contexts.  Sockets share one zmq context per process, created with the
 * first socket and terminated with the last one.  A ROUTER that checks its
 * peers (a CURVE allow-list, or a token) gets a context of its own,
 * because the ZAP handler is bound to the fixed address
 * inproc://zeromq.zap.01 of its context: one handler per context, so one
 * allow-list per context.  The handler is a REP socket served on the same
 * loop through its own ZMQ_FD; its answer's user id is the peer's role,
 * which ZeroMQ attaches to every message of that peer ("User-Id").  A
 * socket monitor counts handshakes that fail before ZAP is asked (a peer
 * without CURVE, a wrong server key); on a DEALER it reports the server's
 * refusal to the owner as an ERROR.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "msg/msg_private.h"

enum {
    DRAIN_MAX = 1024,        /* messages handled per callback */
    HWM = 100000,            /* messages queued per peer, each way */
    ROUTER_RCVHWM = 16,      /* a bound socket's queue in from each peer:
                                a client's blob upload (1 MiB chunks) waits
                                in the client and the kernel, not here */
    ROUTER_LINGER_MS = 0,
    DEALER_LINGER_MS = 500,  /* lets a final BYE or RESULT get out */
    RECONNECT_IVL_MS = 100,
    RECONNECT_IVL_MAX_MS = 2000,
    KEEPALIVE_IDLE_S = 60,
    KEEPALIVE_INTVL_S = 10,
    KEEPALIVE_CNT = 6,
    KEY_Z85_LEN = 40,
    KEY_LEN = 32,
    TEXT_MAX = 256,
    TOKEN_MAX = 255,         /* PLAIN's limit on a password */
};

/* A key the ZAP handler accepts, with its roles. */
typedef struct zap_key {
    uint8_t key[KEY_LEN];
    unsigned roles;
} zap_key_t;

struct msg_sock {
    uv_loop_t *loop;
    void *ctx;               /* the shared context, or own_ctx's */
    bool own_ctx;            /* ctx is this socket's (CURVE allow-list) */
    void *zsock;             /* ROUTER or DEALER; NULL once closed */
    bool router;
    bool closed;
    int handles;             /* uv handles open; free at 0 after close */
    uv_poll_t poll;
    uv_idle_t idle;          /* more to drain on the next iteration */
    msg_recv_cb cb;
    void *arg;
    msg_sock_stats_t stats;
    util_buf_t out;          /* encode buffer, reused by every send */
    msg_peer_t peer;         /* sender of the message being delivered */
    char endpoint[TEXT_MAX];
    char last_refused[TEXT_MAX];
    banyan_error_t last_malformed;
    /* Peer checks (ROUTER only): a CURVE allow-list, or a token */
    void *zap;               /* REP on inproc://zeromq.zap.01, or NULL */
    uv_poll_t zap_poll;
    zap_key_t *keys;
    size_t nkeys;
    char token[TOKEN_MAX + 1];
    bool curve;
    char own_key[KEY_Z85_LEN + 1]; /* a DEALER's public key, for refusals */
    void *mon;               /* PAIR reading the ROUTER's monitor, or NULL */
    uv_poll_t mon_poll;
};

/* ------------------------------------------------------------- contexts */

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static void *shared_ctx;
static int shared_refs;
static unsigned monitor_seq;

static void *ctx_get(void)
{
    pthread_mutex_lock(&ctx_lock);
    if (shared_ctx == NULL)
        shared_ctx = zmq_ctx_new();
    void *ctx = shared_ctx;
    if (ctx != NULL)
        shared_refs++;
    pthread_mutex_unlock(&ctx_lock);
    return ctx;
}

static void ctx_put(void *ctx)
{
    pthread_mutex_lock(&ctx_lock);
    void *term = NULL;
    if (ctx == shared_ctx && --shared_refs == 0) {
        term = shared_ctx;
        shared_ctx = NULL;
    }
    pthread_mutex_unlock(&ctx_lock);
    if (term != NULL)
        zmq_ctx_term(term);   /* waits for DEALER lingers, if any */
}

/* ---------------------------------------------------------------- helpers */

static int set_int(void *z, int opt, int v)
{
    return zmq_setsockopt(z, opt, &v, sizeof v);
}

static bool has_pollin(void *z)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (zmq_getsockopt(z, ZMQ_EVENTS, &ev, &len) < 0)
        return false;
    return (ev & ZMQ_POLLIN) != 0;
}

/* Decode a Z85 key into 32 bytes.  false when it is not one. */
static bool key_decode(const char *z85, uint8_t out[KEY_LEN])
{
    return z85 != NULL && strlen(z85) == KEY_Z85_LEN
           && zmq_z85_decode(out, z85) != NULL;
}

static int check_key(const char *key, const char *what,
                     banyan_error_t *error)
{
    uint8_t bin[KEY_LEN];
    if (!key_decode(key, bin)) {
        errno = EINVAL;
        return errprintf(error, "%s is not a 40-character Z85 CURVE key",
                         what);
    }
    return 0;
}

/* Receive and discard the remaining parts of a multipart message. */
static void discard_more(void *z)
{
    int more = 1;
    size_t len = sizeof more;
    while (zmq_getsockopt(z, ZMQ_RCVMORE, &more, &len) == 0 && more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        int rc = zmq_msg_recv(&part, z, ZMQ_DONTWAIT);
        zmq_msg_close(&part);
        if (rc < 0)
            break;
        len = sizeof more;
    }
}

/* ---------------------------------------------------------------- drain */

static void on_idle(uv_idle_t *h);
static void zap_serve(msg_sock_t *s);
static void monitor_read(msg_sock_t *s);

/* The roles and key the ZAP handler gave the sender of part (its user id:
 * "ROLE" or "ROLE KEY"). */
static void peer_auth(msg_peer_t *p, zmq_msg_t *part)
{
    const char *uid = zmq_msg_gets(part, "User-Id");
    size_t n = uid ? strcspn(uid, " ") : 0;
    p->roles = n == 5 && !strncmp(uid, "admin", n)    ? MSG_ROLE_ANY
               : n == 6 && !strncmp(uid, "worker", n) ? MSG_ROLE_WORKER
               : n == 6 && !strncmp(uid, "client", n) ? MSG_ROLE_CLIENT
                                                      : 0;
    p->key[0] = '\0';
    if (uid && uid[n] == ' ' && strlen(uid + n + 1) == KEY_Z85_LEN)
        memcpy(p->key, uid + n + 1, KEY_Z85_LEN + 1);
}

/* Receive one message.  false when there was none. */
static bool recv_one(msg_sock_t *s)
{
    zmq_msg_t part;
    s->peer.len = 0;
    if (s->router) {
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, s->zsock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return false;
        }
        size_t n = zmq_msg_size(&part);
        if (n > MSG_PEER_MAX)
            n = MSG_PEER_MAX;   /* cannot happen: ids are <= 255 bytes */
        memcpy(s->peer.id, zmq_msg_data(&part), n);
        s->peer.len = n;
        bool more = zmq_msg_more(&part);
        zmq_msg_close(&part);
        if (!more) {
            s->stats.malformed++;
            errprintf(&s->last_malformed, "malformed message: no payload");
            return true;
        }
    }
    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, s->zsock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&part);
        return !s->router ? false : true;
    }
    bool more = zmq_msg_more(&part);
    size_t size = zmq_msg_size(&part);
    s->stats.bytes_in += size;
    if (more) {
        discard_more(s->zsock);
        zmq_msg_close(&part);
        s->stats.malformed++;
        errprintf(&s->last_malformed, "malformed message: more than one "
                  "payload frame");
        return true;
    }
    if (s->zap) {
        peer_auth(&s->peer, &part);
    } else {
        s->peer.roles = MSG_ROLE_ANY;
        s->peer.key[0] = '\0';
    }
    msg_t *m = msg_decode(zmq_msg_data(&part), size, &s->last_malformed);
    zmq_msg_close(&part);
    if (m == NULL) {
        s->stats.malformed++;
        return true;
    }
    s->stats.received++;
    /* m changes hands: the callback owns it. */
    s->cb(s, &s->peer, m, s->arg);
    return true;
}

static void drain(msg_sock_t *s)
{
    for (int i = 0; i < DRAIN_MAX; i++) {
        if (s->closed)
            return;
        if (!has_pollin(s->zsock) || !recv_one(s)) {
            if (!s->closed)
                uv_idle_stop(&s->idle);
            return;
        }
    }
    if (!s->closed)
        uv_idle_start(&s->idle, on_idle);   /* the rest next iteration */
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain(h->data);
}

static void on_idle(uv_idle_t *h)
{
    msg_sock_t *s = h->data;
    if (s->zap != NULL)
        zap_serve(s);
    if (s->mon != NULL && !s->closed)
        monitor_read(s);
    if (!s->closed)
        drain(s);
}

/* ----------------------------------------------------------------- ZAP */

static unsigned key_roles(const msg_sock_t *s, const uint8_t *key)
{
    for (size_t i = 0; i < s->nkeys; i++)
        if (memcmp(s->keys[i].key, key, KEY_LEN) == 0)
            return s->keys[i].roles;
    return 0;
}

/* Same bytes, in a time that does not depend on where they differ. */
static bool same_secret(const void *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    unsigned diff = alen != blen;
    for (size_t i = 0; i < alen && i < blen; i++)
        diff |= ((const uint8_t *)a)[i] ^ (uint8_t)b[i];
    return diff == 0;
}

static void refused(msg_sock_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void refused(msg_sock_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->last_refused, sizeof s->last_refused, fmt, ap);
    va_end(ap);
    s->stats.refused++;
}

static void zap_send(void *z, const char *text, size_t len, bool more)
{
    zmq_send(z, text, len, more ? ZMQ_SNDMORE : 0);
}

/* Answer one ZAP request (RFC 27): version, request id, domain, address,
 * identity, mechanism, credentials. */
static bool zap_one(msg_sock_t *s)
{
    enum { NPARTS = 7 };        /* + 1: PLAIN has two credentials */
    zmq_msg_t part[NPARTS + 1];
    int n = 0;
    for (;;) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, s->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tmp);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&part[i]);
            return false;
        }
        bool more = zmq_msg_more(&tmp);
        if (n < NPARTS + 1)
            part[n++] = tmp;
        else
            zmq_msg_close(&tmp);
        if (!more)
            break;
    }
    unsigned roles = 0;
    char address[64] = "?", z85[KEY_Z85_LEN + 1] = "";
    if (n >= NPARTS - 1) {
        size_t alen = zmq_msg_size(&part[3]);
        if (alen >= sizeof address)
            alen = sizeof address - 1;
        memcpy(address, zmq_msg_data(&part[3]), alen);
        address[alen] = '\0';
        size_t mlen = zmq_msg_size(&part[5]);
        const char *mech = zmq_msg_data(&part[5]);
        bool curve = mlen == 5 && memcmp(mech, "CURVE", 5) == 0;
        bool plain = mlen == 5 && memcmp(mech, "PLAIN", 5) == 0;
        if (s->curve && curve && n == NPARTS
            && zmq_msg_size(&part[6]) == KEY_LEN) {
            const uint8_t *key = zmq_msg_data(&part[6]);
            zmq_z85_encode(z85, key, KEY_LEN);
            if (!(roles = key_roles(s, key)))
                refused(s, "key %s not on the allow-list, from %s", z85,
                        address);
        } else if (!s->curve && plain && n == NPARTS + 1) {
            /* credentials: user name, password */
            if (same_secret(zmq_msg_data(&part[7]), zmq_msg_size(&part[7]),
                            s->token))
                roles = MSG_ROLE_ANY;
            else
                refused(s, "a wrong token, from %s", address);
        } else {
            refused(s, "peer without %s, from %s",
                    s->curve ? "a CURVE key" : "the token", address);
        }
    }
    bool ok = roles != 0;
    char uid[64];
    snprintf(uid, sizeof uid, "%s%s%s",
             roles == MSG_ROLE_ANY      ? "admin"
             : roles == MSG_ROLE_WORKER ? "worker"
                                        : "client",
             z85[0] ? " " : "", z85);
    /* Reply: version, request id, status, text, user id, metadata. */
    zap_send(s->zap, "1.0", 3, true);
    if (n >= 2)
        zap_send(s->zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]),
                 true);
    else
        zap_send(s->zap, "", 0, true);
    zap_send(s->zap, ok ? "200" : "400", 3, true);
    zap_send(s->zap, ok ? "OK" : "not allowed", ok ? 2 : 11, true);
    zap_send(s->zap, uid, ok ? strlen(uid) : 0, true);
    zap_send(s->zap, "", 0, false);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
    return true;
}

static void zap_serve(msg_sock_t *s)
{
    for (int i = 0; i < DRAIN_MAX; i++) {
        if (s->closed || !has_pollin(s->zap) || !zap_one(s))
            return;
    }
    if (!s->closed)
        uv_idle_start(&s->idle, on_idle);
}

static void on_zap_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    zap_serve(h->data);
}

/* -------------------------------------------------------------- monitor */

/* The owner of a DEALER learns that the server refused it: an ERROR
 * (request 0, EACCES) with the sentence, as if the server had sent it. */
static void deliver_refusal(msg_sock_t *s)
{
    msg_t e = {.type = MSG_ERROR};
    e.u.error.code = EACCES;
    e.u.error.text = s->last_refused;
    util_buf_reset(&s->out);
    banyan_error_t err;
    msg_t *m = msg_encode(&e, &s->out) == 0
                   ? msg_decode(s->out.data, s->out.len, &err)
                   : NULL;
    if (m)
        s->cb(s, &s->peer, m, s->arg);
}

/* Handshakes that fail: before ZAP on a ROUTER (no CURVE or token, a
 * wrong server key), refused by the server on a DEALER. */
static void monitor_read(msg_sock_t *s)
{
    for (int i = 0; i < DRAIN_MAX && !s->closed && has_pollin(s->mon); i++) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, s->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, s->mon, ZMQ_DONTWAIT);
        discard_more(s->mon);
        if (zmq_msg_size(&ev) == 6) {
            const uint8_t *d = zmq_msg_data(&ev);
            uint16_t event;
            uint32_t value;
            memcpy(&event, d, 2);
            memcpy(&value, d + 2, 4);
            int alen = (int)zmq_msg_size(&addr);
            alen = alen > 100 ? 100 : alen;
            const char *at = zmq_msg_data(&addr);
            if (!s->router && event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                refused(s, "the server at %s refused %s%s (ZAP %u)",
                        s->endpoint, s->curve ? "key " : "our token",
                        s->curve ? s->own_key
                                 : ": it is another user's server, or the "
                                   "token file changed since it started",
                        (unsigned)value);
            else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                     || (s->router
                         && event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                         /* not a peer that hung up half way */
                         && value != EPIPE && value != ECONNRESET))
                refused(s, "handshake failed (%s 0x%x) on %.*s%s",
                        event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                            ? "protocol error" : "errno",
                        (unsigned)value, alen, at,
                        s->router ? ""
                                  : ": a wrong --server-key, or the server "
                                    "wants other security (CURVE keys, a "
                                    "token, none)");
            else
                event = 0;
            if (event && !s->router) {
                zmq_msg_close(&addr);
                zmq_msg_close(&ev);
                deliver_refusal(s);
                continue;
            }
        }
        zmq_msg_close(&addr);
        zmq_msg_close(&ev);
    }
}

static void on_mon_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    monitor_read(h->data);
}

/* --------------------------------------------------------------- set up */

static void on_handle_closed(uv_handle_t *h)
{
    msg_sock_t *s = h->data;
    if (--s->handles == 0) {
        util_buf_fini(&s->out);
        free(s->keys);
        memset(s->token, 0, sizeof s->token);
        free(s);
    }
}

/* Watch a zmq socket's ZMQ_FD on the loop. */
static int watch(msg_sock_t *s, void *z, uv_poll_t *h, uv_poll_cb cb,
                 banyan_error_t *error)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(z, ZMQ_FD, &fd, &len) < 0)
        return errprintf(error, "ZMQ_FD: %s", zmq_strerror(errno));
    int rc = uv_poll_init(s->loop, h, fd);
    if (rc < 0) {
        errno = -rc;
        return errprintf(error, "uv_poll_init: %s", uv_strerror(rc));
    }
    h->data = s;
    s->handles++;
    uv_poll_start(h, UV_READABLE, cb);
    return 0;
}

/* Keys of list into s->keys with role: 0 or -1 (a bad key). */
static int add_keys(msg_sock_t *s, const char *const *list, unsigned role,
                    banyan_error_t *error)
{
    for (size_t i = 0; list && list[i]; i++) {
        uint8_t key[KEY_LEN];
        if (!key_decode(list[i], key)) {
            errno = EINVAL;
            return errprintf(error, "%s-list entry %zu is not a "
                             "40-character Z85 CURVE key",
                             role == MSG_ROLE_WORKER ? "worker" : "allow",
                             i + 1);
        }
        size_t k = 0;
        while (k < s->nkeys && memcmp(s->keys[k].key, key, KEY_LEN) != 0)
            k++;
        if (k == s->nkeys) {
            memcpy(s->keys[k].key, key, KEY_LEN);
            s->keys[s->nkeys++].roles = 0;
        }
        s->keys[k].roles |= role;
    }
    return 0;
}

static size_t count_keys(const char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

/* The peer checks' ZAP handler, in s's own context: the allow-lists'
 * keys and their roles, or the token. */
static int setup_zap(msg_sock_t *s, const msg_security_t *sec,
                     banyan_error_t *error)
{
    if (s->curve) {
        size_t n = count_keys(sec->allowed) + count_keys(sec->workers);
        if (!(s->keys = calloc(n > 0 ? n : 1, sizeof(*s->keys)))) {
            errno = ENOMEM;
            return errprintf(error, "out of memory");
        }
        if (add_keys(s, sec->allowed, MSG_ROLE_CLIENT, error) < 0
            || add_keys(s, sec->workers, MSG_ROLE_WORKER, error) < 0)
            return -1;
    } else {
        if (!*sec->token || strlen(sec->token) > TOKEN_MAX) {
            errno = EINVAL;
            return errprintf(error, "a token is 1 to %d bytes", TOKEN_MAX);
        }
        strcpy(s->token, sec->token);
        if (set_int(s->zsock, ZMQ_PLAIN_SERVER, 1) < 0
            || zmq_setsockopt(s->zsock, ZMQ_ZAP_DOMAIN, "banyan", 6) < 0)
            return errprintf(error, "PLAIN options: %s", zmq_strerror(errno));
    }
    s->zap = zmq_socket(s->ctx, ZMQ_REP);
    if (s->zap == NULL || set_int(s->zap, ZMQ_LINGER, 0) < 0
        || zmq_bind(s->zap, "inproc://zeromq.zap.01") < 0)
        return errprintf(error, "cannot start the ZAP handler: %s",
                         zmq_strerror(errno));
    return watch(s, s->zap, &s->zap_poll, on_zap_poll, error);
}

static int setup_monitor(msg_sock_t *s, banyan_error_t *error)
{
    char addr[64];
    pthread_mutex_lock(&ctx_lock);
    unsigned seq = monitor_seq++;
    pthread_mutex_unlock(&ctx_lock);
    snprintf(addr, sizeof addr, "inproc://banyan-monitor-%u", seq);
    if (zmq_socket_monitor(s->zsock, addr,
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                               | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) < 0)
        return errprintf(error, "zmq_socket_monitor: %s",
                         zmq_strerror(errno));
    s->mon = zmq_socket(s->ctx, ZMQ_PAIR);
    if (s->mon == NULL || set_int(s->mon, ZMQ_LINGER, 0) < 0
        || zmq_connect(s->mon, addr) < 0)
        return errprintf(error, "monitor: %s", zmq_strerror(errno));
    return watch(s, s->mon, &s->mon_poll, on_mon_poll, error);
}

static int set_common(msg_sock_t *s)
{
    int64_t maxmsg = MSG_MAX_FRAME;
    if (set_int(s->zsock, ZMQ_SNDHWM, HWM) < 0
        || set_int(s->zsock, ZMQ_RCVHWM, s->router ? ROUTER_RCVHWM : HWM) < 0
        || set_int(s->zsock, ZMQ_LINGER,
                   s->router ? ROUTER_LINGER_MS : DEALER_LINGER_MS) < 0
        || zmq_setsockopt(s->zsock, ZMQ_MAXMSGSIZE, &maxmsg,
                          sizeof maxmsg) < 0
        || set_int(s->zsock, ZMQ_TCP_KEEPALIVE, 1) < 0
        || set_int(s->zsock, ZMQ_TCP_KEEPALIVE_IDLE, KEEPALIVE_IDLE_S) < 0
        || set_int(s->zsock, ZMQ_TCP_KEEPALIVE_INTVL, KEEPALIVE_INTVL_S) < 0
        || set_int(s->zsock, ZMQ_TCP_KEEPALIVE_CNT, KEEPALIVE_CNT) < 0)
        return -1;
    if (s->router)
        return set_int(s->zsock, ZMQ_ROUTER_MANDATORY, 1);
    if (set_int(s->zsock, ZMQ_RECONNECT_IVL, RECONNECT_IVL_MS) < 0
        || set_int(s->zsock, ZMQ_RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS) < 0)
        return -1;
    return 0;
}

static int set_curve(msg_sock_t *s, const msg_security_t *sec,
                     banyan_error_t *error)
{
    if (sec == NULL || sec->public_key == NULL) {
        /* A DEALER gives the token as PLAIN's password. */
        if (s->router || !sec || !sec->token)
            return 0;
        if (zmq_setsockopt(s->zsock, ZMQ_PLAIN_USERNAME, "banyan", 6) < 0
            || zmq_setsockopt(s->zsock, ZMQ_PLAIN_PASSWORD, sec->token,
                              strlen(sec->token)) < 0)
            return errprintf(error, "PLAIN options: %s", zmq_strerror(errno));
        return 0;
    }
    if (!zmq_has("curve")) {
        errno = ENOTSUP;
        return errprintf(error, "this libzmq has no CURVE support");
    }
    if (check_key(sec->public_key, "the public key", error) < 0
        || check_key(sec->secret_key, "the secret key", error) < 0)
        return -1;
    if (s->router) {
        if (set_int(s->zsock, ZMQ_CURVE_SERVER, 1) < 0
            || zmq_setsockopt(s->zsock, ZMQ_ZAP_DOMAIN, "banyan", 6) < 0)
            goto error;
    } else {
        if (check_key(sec->server_key, "the server key", error) < 0)
            return -1;
        if (zmq_setsockopt(s->zsock, ZMQ_CURVE_SERVERKEY, sec->server_key,
                           KEY_Z85_LEN) < 0)
            goto error;
    }
    snprintf(s->own_key, sizeof s->own_key, "%s", sec->public_key);
    if (zmq_setsockopt(s->zsock, ZMQ_CURVE_PUBLICKEY, sec->public_key,
                       KEY_Z85_LEN) < 0
        || zmq_setsockopt(s->zsock, ZMQ_CURVE_SECRETKEY, sec->secret_key,
                          KEY_Z85_LEN) < 0)
        goto error;
    return 0;
error:
    return errprintf(error, "CURVE options: %s", zmq_strerror(errno));
}

/* ZeroMQ takes a TCP port modulo 65536 (tcp://host:99999 listened on
 * 34463): a tcp:// endpoint's port must be "*" or 0 to 65535. */
static bool port_valid(const char *endpoint)
{
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return true;
    const char *p = strrchr(endpoint, ':');
    if (!p || p < endpoint + 6)
        return false;
    if (strcmp(++p, "*") == 0)
        return true;
    size_t n = strspn(p, "0123456789");
    return n > 0 && n <= 5 && !p[n] && strtoul(p, NULL, 10) <= 65535;
}

static msg_sock_t *sock_open(uv_loop_t *loop, const char *endpoint,
                             const msg_security_t *sec, msg_recv_cb cb,
                             void *arg, bool router, banyan_error_t *error)
{
    if (loop == NULL || endpoint == NULL || cb == NULL) {
        errno = EINVAL;
        errprintf(error, "msg_sock: loop, endpoint and callback needed");
        return NULL;
    }
    if (strlen(endpoint) >= TEXT_MAX) {
        errno = EINVAL;
        errprintf(error, "endpoint too long: %.60s...", endpoint);
        return NULL;
    }
    if (!port_valid(endpoint)) {
        errno = EINVAL;
        errprintf(error, "invalid port in %s (expected 0 to 65535, or *)",
                  endpoint);
        return NULL;
    }
    msg_sock_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        errno = ENOMEM;
        errprintf(error, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->router = router;
    s->cb = cb;
    s->arg = arg;
    s->curve = sec != NULL && sec->public_key != NULL;
    /* Without CURVE, a link on loopback uses the user's token (made when
     * there is none, by whichever end starts first): docs/security.md,
     * "The token". */
    msg_security_t with_token;
    char token[MSG_TOKEN_LEN + 1];
    if (!s->curve && !(sec && sec->token)
        && strncmp(endpoint, "inproc://", 9) != 0) {
        int t = msg_token_for(endpoint, false, true, token, error);
        if (t < 0) {
            free(s);
            return NULL;
        }
        with_token = sec ? *sec : (msg_security_t){0};
        with_token.token = token;
        sec = t ? &with_token : sec;
    }
    bool checks = router && sec
                  && (s->curve ? sec->allowed || sec->workers
                               : sec->token != NULL);
    s->own_ctx = checks;
    s->ctx = checks ? zmq_ctx_new() : ctx_get();
    if (s->ctx == NULL) {
        errprintf(error, "zmq_ctx_new: %s", zmq_strerror(errno));
        free(s);
        return NULL;
    }
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    s->handles = 1;
    s->zsock = zmq_socket(s->ctx, router ? ZMQ_ROUTER : ZMQ_DEALER);
    if (s->zsock == NULL || set_common(s) < 0) {
        errprintf(error, "zmq socket: %s", zmq_strerror(errno));
        goto error;
    }
    if (set_curve(s, sec, error) < 0)
        goto error;
    if (checks && setup_zap(s, sec, error) < 0)
        goto error;
    /* Refusals: a checking ROUTER counts them, a secured DEALER reports
     * them to its owner. */
    bool secured = sec && (s->curve || sec->token);
    if ((checks || (!router && secured)) && setup_monitor(s, error) < 0)
        goto error;
    if (router) {
        if (zmq_bind(s->zsock, endpoint) < 0) {
            errprintf(error, "cannot listen on %s: %s", endpoint,
                      zmq_strerror(errno));
            goto error;
        }
        size_t len = sizeof s->endpoint;
        if (zmq_getsockopt(s->zsock, ZMQ_LAST_ENDPOINT, s->endpoint,
                           &len) < 0)
            snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
    } else {
        if (zmq_connect(s->zsock, endpoint) < 0) {
            errprintf(error, "cannot connect to %s: %s", endpoint,
                      zmq_strerror(errno));
            goto error;
        }
        snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
    }
    if (watch(s, s->zsock, &s->poll, on_poll, error) < 0)
        goto error;
    /* Messages may be queued already (ZMQ_FD is edge-triggered). */
    uv_idle_start(&s->idle, on_idle);
    memset(token, 0, sizeof token);
    return s;
error:;
    int saved = errno ? errno : EIO;
    memset(token, 0, sizeof token);
    msg_sock_close(s);
    errno = saved;
    return NULL;
}

msg_sock_t *msg_sock_bind(uv_loop_t *loop, const char *endpoint,
                          const msg_security_t *sec, msg_recv_cb cb,
                          void *arg, banyan_error_t *error)
{
    return sock_open(loop, endpoint, sec, cb, arg, true, error);
}

msg_sock_t *msg_sock_connect(uv_loop_t *loop, const char *endpoint,
                             const msg_security_t *sec, msg_recv_cb cb,
                             void *arg, banyan_error_t *error)
{
    return sock_open(loop, endpoint, sec, cb, arg, false, error);
}

/* ------------------------------------------------------------ operations */

const char *msg_sock_endpoint(const msg_sock_t *s)
{
    return s->endpoint;
}

int msg_sock_send(msg_sock_t *s, const msg_peer_t *to, const msg_t *m)
{
    if (s == NULL || s->closed || m == NULL
        || (s->router && (to == NULL || to->len == 0
                          || to->len > MSG_PEER_MAX))) {
        errno = EINVAL;
        return -1;
    }
    util_buf_reset(&s->out);
    if (msg_encode(m, &s->out) < 0)
        return -1;
    if (s->out.len > MSG_MAX_FRAME) {
        errno = EMSGSIZE;
        return -1;
    }
    int rc = 0;
    if (s->router
        && zmq_send(s->zsock, to->id, to->len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        rc = -1;
    /* zmq_send copies the payload: s->out stays ours. */
    if (rc == 0 && zmq_send(s->zsock, s->out.data, s->out.len,
                            ZMQ_DONTWAIT) < 0)
        rc = -1;
    int saved = errno;
    if (rc == 0) {
        s->stats.sent++;
        s->stats.bytes_out += s->out.len;
    }
    /* The send may have consumed ZMQ_FD's signal: look again, later. */
    if (has_pollin(s->zsock))
        uv_idle_start(&s->idle, on_idle);
    errno = saved;
    return rc;
}

void msg_sock_stats(const msg_sock_t *s, msg_sock_stats_t *st)
{
    *st = s->stats;
}

const char *msg_sock_last_refused(const msg_sock_t *s)
{
    return s->last_refused;
}

const char *msg_sock_last_malformed(const msg_sock_t *s)
{
    return s->last_malformed.text;
}

void msg_sock_close(msg_sock_t *s)
{
    if (s == NULL || s->closed)
        return;
    s->closed = true;
    /* uv_close stops watching each fd before zmq closes it. */
    if (s->poll.data == s)
        uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    if (s->zap_poll.data == s)
        uv_close((uv_handle_t *)&s->zap_poll, on_handle_closed);
    if (s->mon_poll.data == s)
        uv_close((uv_handle_t *)&s->mon_poll, on_handle_closed);
    if (s->mon != NULL) {
        zmq_socket_monitor(s->zsock, NULL, 0);
        zmq_close(s->mon);
    }
    if (s->zsock != NULL)
        zmq_close(s->zsock);
    if (s->zap != NULL)
        zmq_close(s->zap);
    s->zsock = s->zap = s->mon = NULL;
    if (s->own_ctx)
        zmq_ctx_term(s->ctx);
    else
        ctx_put(s->ctx);
    s->ctx = NULL;
    uv_close((uv_handle_t *)&s->idle, on_handle_closed);
}
