/* SPDX-License-Identifier: MIT */
/* worker_parent.c - a worker's link to its parent (see worker_parent.h).
 *
 * One DEALER at a time: to the root, or to the relay a REDIRECT named.
 * The link is in HELLO (saying HELLO, the delay doubling from
 * WORKER_HELLO_MIN_MS to WORKER_HELLO_MAX_MS) until a WELCOME makes it
 * CONNECTED; WORKER_LOST_PERIODS silent heartbeats, or a BYE, put it back
 * in HELLO.  A relay that is lost, or never answers, sends the worker back
 * to the root with everything it holds.  A stopping worker never joins
 * again.
 */
#include "worker_parent.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

struct worker__parent {
    uv_loop_t *loop;
    worker__parent_ops_t ops;
    void *arg;
    char *endpoint, *public_key, *secret_key, *server_key; /* the root's */
    msg_sock_t *sock;
    msg_sock_stats_t closed_st;    /* counters of closed sockets */
    char *relay;                   /* the relay attached to, NULL = root */
    uv_timer_t hello_timer, hb_timer;
    int open_handles;              /* timers not yet closed */
    bool started, stopping, closing;
    worker_state_t state;          /* HELLO or CONNECTED */
    int64_t hello_since_ms;        /* HELLO state entered */
    int64_t hello_delay_ms;
    int64_t last_heard_ms;
    int64_t last_beat_ms;          /* when the heartbeat timer last ran */
    bool have_epoch;
    uint64_t ping_seq;
    worker_stats_t st;             /* the link's counters and identity */
};

static void on_recv(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                    void *arg);
static void on_heartbeat(uv_timer_t *h);

static void add_stats(msg_sock_stats_t *a, const msg_sock_stats_t *b)
{
    a->received += b->received;
    a->malformed += b->malformed;
    a->sent += b->sent;
    a->bytes_in += b->bytes_in;
    a->bytes_out += b->bytes_out;
    a->refused += b->refused;
}

static int copy_str(char **dst, const char *src)
{
    return src && !(*dst = strdup(src)) ? -1 : 0;
}

/* Connect a new DEALER to a relay (endpoint) or back to the root (NULL)
 * and close the old one.  0, or -1 with the old link kept. */
static int switch_parent(worker__parent_t *p, const char *endpoint,
                         banyan_error_t *error)
{
    msg_security_t sec = {.public_key = p->public_key,
                          .secret_key = p->secret_key,
                          .server_key = p->server_key};
    bool curve = !endpoint && p->public_key;
    char *copy = NULL;
    if (copy_str(&copy, endpoint) < 0)
        return errprintf(error, "out of memory");
    msg_sock_t *s = msg_sock_connect(p->loop, endpoint ? endpoint
                                                       : p->endpoint,
                                     curve ? &sec : NULL, on_recv, p, error);
    if (!s) {
        free(copy);
        return -1;
    }
    if (p->sock) {
        msg_sock_stats_t st;
        msg_sock_stats(p->sock, &st);
        add_stats(&p->closed_st, &st);
        msg_sock_close(p->sock);
    }
    p->sock = s;
    free(p->relay);
    p->relay = copy;
    p->last_heard_ms = util_mono_ms();
    return 0;
}

worker__parent_t *worker__parent_create(uv_loop_t *loop,
                                        const worker_options_t *o,
                                        const worker__parent_ops_t *ops,
                                        void *arg, banyan_error_t *error)
{
    worker__parent_t *p = calloc(1, sizeof(*p));
    if (!p || copy_str(&p->endpoint, o->endpoint) < 0 ||
        copy_str(&p->public_key, o->public_key) < 0 ||
        copy_str(&p->secret_key, o->secret_key) < 0 ||
        copy_str(&p->server_key, o->server_key) < 0) {
        errno = ENOMEM;
        errprintf(error, "out of memory");
        goto error;
    }
    p->loop = loop;
    p->ops = *ops;
    p->arg = arg;
    p->st.heartbeat_ms = WORKER_HEARTBEAT_MS;
    if (switch_parent(p, NULL, error) == 0)
        return p;
error:
    worker__parent_destroy(p); /* keeps errno */
    return NULL;
}

void worker__parent_destroy(worker__parent_t *p)
{
    if (!p)
        return;
    int saved = errno;
    assert(!p->started || p->open_handles == 0);
    msg_sock_close(p->sock);
    free(p->endpoint);
    free(p->public_key);
    free(p->secret_key);
    free(p->server_key);
    free(p->relay);
    free(p);
    errno = saved;
}

static void on_closed(uv_handle_t *h)
{
    worker__parent_t *p = h->data;
    if (--p->open_handles == 0)
        p->ops.closed(p->arg);
}

void worker__parent_close(worker__parent_t *p)
{
    if (p->closing)
        return;
    p->closing = true;
    msg_sock_close(p->sock);
    p->sock = NULL;
    uv_close((uv_handle_t *)&p->hello_timer, on_closed);
    uv_close((uv_handle_t *)&p->hb_timer, on_closed);
}

/* ---------------------------------------------------------------- hello */

static void back_to_root(worker__parent_t *p);

static void on_hello_timer(uv_timer_t *h)
{
    worker__parent_t *p = h->data;
    if (p->state != WORKER_HELLO || p->stopping)
        return;
    /* A relay that never answers is as good as lost. */
    if (p->relay && util_mono_ms() - p->hello_since_ms >
                        (int64_t)WORKER_LOST_PERIODS * p->st.heartbeat_ms) {
        back_to_root(p);
        return;
    }
    p->ops.hello(p->arg);
    p->hello_delay_ms *= 2;
    if (p->hello_delay_ms > WORKER_HELLO_MAX_MS)
        p->hello_delay_ms = WORKER_HELLO_MAX_MS;
    uv_timer_start(&p->hello_timer, on_hello_timer,
                   (uint64_t)p->hello_delay_ms, 0);
}

/* Look for the parent: HELLO now, then with backoff until WELCOME. */
static void enter_hello(worker__parent_t *p)
{
    p->state = WORKER_HELLO;
    p->hello_since_ms = util_mono_ms();
    p->ops.rejoin(p->arg);
    if (p->stopping) {
        uv_timer_stop(&p->hello_timer);
        return;
    }
    p->ops.hello(p->arg);
    p->hello_delay_ms = WORKER_HELLO_MIN_MS;
    uv_timer_start(&p->hello_timer, on_hello_timer,
                   (uint64_t)p->hello_delay_ms, 0);
}

void worker__parent_start(worker__parent_t *p)
{
    uv_timer_init(p->loop, &p->hello_timer);
    uv_timer_init(p->loop, &p->hb_timer);
    p->hello_timer.data = p->hb_timer.data = p;
    p->open_handles = 2;
    p->started = true;
    uv_timer_start(&p->hb_timer, on_heartbeat, p->st.heartbeat_ms,
                   p->st.heartbeat_ms);
    p->last_heard_ms = util_mono_ms();
    enter_hello(p);
}

void worker__parent_stop(worker__parent_t *p)
{
    p->stopping = true;
}

/* --------------------------------------------------------------- parent */

/* The parent relay is lost: HELLO to the root with everything held here;
 * the children stay attached. */
static void back_to_root(worker__parent_t *p)
{
    p->st.back_to_root++;
    if (switch_parent(p, NULL, NULL) == 0)
        p->st.parent_node = 0;
    enter_hello(p);
}

static void handle_redirect(worker__parent_t *p, const msg_redirect_t *m)
{
    if (p->stopping || !m->endpoint || !*m->endpoint)
        return;
    p->st.node = m->node;
    if (switch_parent(p, m->endpoint, NULL) < 0) {
        p->st.send_errors++;
        return;
    }
    p->st.parent_node = m->parent;
    p->st.redirects++;
    enter_hello(p);
}

/* The parent is gone (silent or BYE): look for it again, or for the root
 * when it was a relay. */
static void parent_lost(worker__parent_t *p)
{
    p->st.server_lost++;
    if (p->relay)
        back_to_root(p);
    else
        enter_hello(p);
}

static void handle_welcome(worker__parent_t *p, const msg_welcome_t *m)
{
    bool new_epoch = !p->have_epoch || m->server_epoch != p->st.server_epoch;
    uint32_t hb = m->heartbeat_ms ? m->heartbeat_ms : WORKER_HEARTBEAT_MS;
    if (hb != p->st.heartbeat_ms) {
        p->st.heartbeat_ms = hb;
        uv_timer_start(&p->hb_timer, on_heartbeat, hb, hb);
    }
    p->st.engine_id = m->engine_id;
    p->st.node = m->engine_id;
    if (!p->relay)
        p->st.parent_node = 0;
    bool again = p->state == WORKER_CONNECTED;
    bool joined = !again || new_epoch;
    if (joined) {
        if (new_epoch)
            p->st.epochs_seen++;
        p->have_epoch = true;
        p->st.server_epoch = m->server_epoch;
        p->state = WORKER_CONNECTED;
        p->st.welcomes++;
        uv_timer_stop(&p->hello_timer);
    }
    p->ops.welcome(p->arg, joined, again);
}

static void on_heartbeat(uv_timer_t *h)
{
    worker__parent_t *p = h->data;
    int64_t now = util_mono_ms();
    /* A late timer (our loop was busy, or we were paused) is our silence,
     * not the parent's: its messages may wait in the socket. */
    int64_t late = p->last_beat_ms ? now - p->last_beat_ms
                                         - (int64_t)p->st.heartbeat_ms
                                   : 0;
    p->last_beat_ms = now;
    if (late > 0)
        p->last_heard_ms = p->last_heard_ms + late < now
                               ? p->last_heard_ms + late
                               : now;
    if (p->state != WORKER_CONNECTED)
        return;
    if (now - p->last_heard_ms >
        (int64_t)WORKER_LOST_PERIODS * p->st.heartbeat_ms) {
        parent_lost(p);
        return;
    }
    msg_t m = {.type = MSG_PING};
    m.u.ping.seq = ++p->ping_seq;
    m.u.ping.sent = (double)util_mono_ns() / 1e9;
    if (worker__parent_send(p, &m) == 0)
        p->st.pings_sent++;
}

static void on_recv(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                    void *arg)
{
    (void)s;
    (void)from;
    worker__parent_t *p = arg;
    p->last_heard_ms = util_mono_ms();
    switch (m->type) {
    case MSG_WELCOME:
        handle_welcome(p, &m->u.welcome);
        break;
    case MSG_REDIRECT:
        handle_redirect(p, &m->u.redirect);
        break;
    case MSG_PING: {
        msg_t pong = {.type = MSG_PONG};
        pong.u.ping = m->u.ping;
        if (worker__parent_send(p, &pong) == 0)
            p->st.pongs_sent++;
        break;
    }
    case MSG_PONG:
        p->st.pongs_received++;
        break;
    case MSG_BYE: /* the parent goes away: look for it again */
        if (p->stopping) {
            /* It has dropped us (our own BYE) and requeued our tasks. */
            p->state = WORKER_HELLO;
            p->ops.released(p->arg);
        } else if (p->state == WORKER_CONNECTED || p->relay) {
            parent_lost(p);
        }
        break;
    default:
        p->ops.recv(p->arg, m);
        return;
    }
    msg_free(m);
}

/* ------------------------------------------------------------ accessors */

int worker__parent_send(worker__parent_t *p, const msg_t *m)
{
    if (!p->sock || msg_sock_send(p->sock, NULL, m) < 0) {
        p->st.send_errors++;
        return -1;
    }
    return 0;
}

bool worker__parent_connected(const worker__parent_t *p)
{
    return p->state == WORKER_CONNECTED && !p->closing;
}

const char *worker__parent_endpoint(const worker__parent_t *p)
{
    return p->endpoint;
}

void worker__parent_identity(const worker__parent_t *p, uint32_t *node,
                             uint32_t *parent, uint64_t *epoch,
                             uint32_t *heartbeat_ms)
{
    *node = p->st.node;
    *parent = p->st.parent_node;
    *epoch = p->st.server_epoch;
    *heartbeat_ms = p->st.heartbeat_ms;
}

void worker__parent_sock_stats(const worker__parent_t *p,
                               msg_sock_stats_t *st)
{
    *st = p->closed_st;
    if (p->sock) {
        msg_sock_stats_t now;
        msg_sock_stats(p->sock, &now);
        add_stats(st, &now);
    }
}

void worker__parent_stats(const worker__parent_t *p, worker_stats_t *st)
{
    const worker_stats_t *l = &p->st;
    st->state = p->state;
    st->engine_id = l->engine_id;
    st->server_epoch = l->server_epoch;
    st->heartbeat_ms = l->heartbeat_ms;
    st->welcomes = l->welcomes;
    st->server_lost = l->server_lost;
    st->epochs_seen = l->epochs_seen;
    st->pings_sent = l->pings_sent;
    st->pongs_sent = l->pongs_sent;
    st->pongs_received = l->pongs_received;
    st->send_errors += l->send_errors;
    st->node = l->node;
    st->parent_node = l->parent_node;
    st->redirects = l->redirects;
    st->back_to_root = l->back_to_root;
    msg_sock_stats_t up;
    worker__parent_sock_stats(p, &up);
    st->up_sent = up.sent;
    st->up_received = up.received;
}
