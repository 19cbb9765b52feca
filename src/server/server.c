/* SPDX-License-Identifier: MIT */
/* server.c - the root scheduler: loop handles, inbox, pump, engines and
 * heartbeats.
 *
 * The socket callback only queues messages (and notes when the peer was
 * last heard from, so a busy server never mistakes a backlog for silence).
 * The pump, a uv_check handle that runs once per loop iteration, then:
 *
 *   1. answers PINGs and handles HELLOs and client requests, and RESULT
 *      batches up to max_entries entries, and queries for a fifth of a
 *      heartbeat at most (the rest waits for the next iteration; an idle
 *      handle keeps the loop from blocking meanwhile);
 *   2. commits the store when its open transaction is the store's
 *      batch_ms (5 ms) old, then ACKs every RESULT batch that commit holds
 *      (one ACK per engine, the highest seq).  Commits are grouped, not
 *      one per iteration: when results trickle in (real tasks ending one
 *      by one), a commit per RESULT message cost more CPU than the rest of
 *      the server together.  A timer comes back for a commit not yet due;
 *      ACKs wait for it, ASSIGNs do not;
 *   3. asks the core for up to max_actions actions and sends each engine
 *      its MSG_JOBs and ONE ASSIGN;
 *   4. ends the jobs that have nothing left.
 *
 * A timer every heartbeat_ms PINGs every engine, drops the engines silent
 * for SRV_PING_LOST periods and ends the restart grace period.  libuv runs
 * due timers in every iteration and the pump's work is bounded, so the
 * heartbeat is never starved.  Silence is counted on the server's own
 * clock: when the timer comes late (the loop was busy, or the server was
 * paused), the delay is not held against the children, whose messages may
 * wait in the socket meanwhile.  A flood of queries (each answer costs a
 * walk of the jobs) is paced by its own budget, so it cannot stretch a
 * pass to the heartbeat timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_private.h"

enum {
    DEFAULT_HEARTBEAT_MS = 1000,
    DEFAULT_CRASH_LIMIT = 5,
    DEFAULT_MAX_ACTIONS = 10000,
    DEFAULT_MAX_ENTRIES = 50000,
    QUERY_PASS_SHARE = 5,       /* queries answered per pass: for a
                                   heartbeat / this at most */
    BCAST_POLL_MS = 20,
};

static const char DEFAULT_LISTEN[] = "tcp://127.0.0.1:7878";

typedef struct srv_inmsg {
    msg_t *m;                   /* NULL once handled */
    msg_peer_t peer;
} srv_inmsg_t;

/* Messages queued by the socket callback for the pump, and the socket's
 * trouble logged so far. */
struct srv_inbox {
    srv_inmsg_t *v;             /* [head, len) wait */
    size_t head, len, cap;
    uint64_t logged_refused, logged_malformed, logged_forbidden;
    bool store_failed;          /* said, and the owner told */
    int64_t beat_ms;            /* when the heartbeat timer last ran */
};

/* ------------------------------------------------------------- helpers */

void srv__log(server_t *s, const char *fmt, ...)
{
    if (!s->o.log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->o.log(line, s->o.log_arg);
}

int srv__send(server_t *s, const msg_peer_t *to, const msg_t *m)
{
    if (!s->sock) {
        errno = ENOTCONN;
        return -1;
    }
    /* The time a send takes is the model's per-message cost. */
    uint64_t t0 = util_mono_ns();
    int rc = msg_sock_send(s->sock, to, m);
    srv__tree_sent(s, util_mono_ns() - t0);
    if (rc < 0 && errno != EAGAIN && errno != EHOSTUNREACH)
        srv__log(s, "cannot send %s: %s", msg_type_name(m->type),
                 strerror(errno));
    return rc;
}

void srv__send_error(server_t *s, const msg_peer_t *to, uint64_t request,
                     int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    msg_t m = {.type = MSG_ERROR};
    m.u.error.request = request;
    m.u.error.code = code;
    m.u.error.text = text;
    srv__send(s, to, &m);
}

/* The children's send: the model's per-message cost is measured there. */
static int send_down(void *arg, const msg_peer_t *to, const msg_t *m)
{
    return srv__send(arg, to, m) < 0 ? -1 : 0;
}

/* Forget an engine.  Its tasks go back to the queue (counted as losses by
 * the core): at once when it said BYE, else after SRV_PING_LOST more
 * heartbeats in which it may come back and claim them (a pause, a
 * partition: a task must not run twice because its engine froze).  A
 * tree node's subtree tasks, and those a HELLO reported, are orphaned
 * too: they may still run below it. */
void srv__engine_remove(server_t *s, srv_engine_t *e, const char *why,
                        bool may_return)
{
    const srv_worker_t *w = srv__worker(e);
    if (w->node)
        srv__tree_child_lost(s, e);
    int64_t hold = may_return ? (int64_t)s->o.heartbeat_ms * SRV_PING_LOST
                              : 0;
    if (hold > 0 && w->running > 0)
        srv__log(s, "worker %s (engine %u) %s; %llu task%s held %lld ms "
                 "for its return, then requeued", e->name, e->id, why,
                 (unsigned long long)w->running,
                 w->running == 1 ? "" : "s", (long long)hold);
    else
        srv__log(s, "worker %s (engine %u) %s; %llu task%s requeued",
                 e->name, e->id, why, (unsigned long long)w->running,
                 w->running == 1 ? "" : "s");
    srv__engine_drop_tasks(s, e, hold);
    tree_children_remove(s->engines, e);
    srv__jobs_changed(s);
}

/* ---------------------------------------------------------------- HELLO */

srv_engine_t *srv__engine_add(server_t *s, uint32_t id,
                              const msg_peer_t *from, const msg_hello_t *h)
{
    /* A worker slower than --min-score joins with no slots: it is kept
     * (and shown by status) but never given work. */
    bool too_slow = s->o.min_score > 0 && h->score < s->o.min_score;
    srv_engine_t *e = tree_children_add(s->engines, id, from, h);
    if (e && too_slow)
        e->cap.slots = 0;
    if (!e || tree_relay_add_engine(s->place, e->id, &e->cap) < 0) {
        srv__log(s, "cannot add worker %s as engine %u: %s", h->worker_id,
                 id, strerror(errno));
        if (e)
            tree_children_remove(s->engines, e);
        return NULL;
    }
    /* Faster workers get proportionally more of the work they can fit. */
    if (h->score > 0)
        tree_relay_set_weight(s->place, e->id, h->score / 1000.0);
    srv_worker_t *w = srv__worker(e);
    w->noop = h->noop;
    w->score = h->score;
    srv__log(s, "worker %s joined as engine %u (%u slots, %d gpus, score "
             "%.0f%s)", e->name, e->id, e->cap.slots, e->cap.ngpus,
             w->score, w->noop ? ", noop" : "");
    if (too_slow)
        srv__log(s, "worker %s gets no work: capability score %.0f is below "
                 "--min-score %.0f", e->name, h->score, s->o.min_score);
    tree_child_welcome(s->engines, e, s->epoch, s->o.heartbeat_ms);
    return e;
}

static void handle_hello(server_t *s, const msg_peer_t *from, msg_t *m)
{
    const msg_hello_t *h = &m->u.hello;
    srv_engine_t *old = tree_children_by_worker(s->engines, h->worker_id);
    if (old && !tree_child_same_key(old, from)) {
        s->st.forged++;
        srv__send_error(s, from, 0, EACCES, "worker %s is engine %u, "
                        "authenticated with another key", old->name,
                        old->id);
        return;
    }
    if (old) {
        /* The same worker process again (it lost us, or we it): keep its
         * engine and its tasks, follow its new routing id.  Tasks it no
         * longer lists have ended; their results are re-sent unacked.
         * Tasks it lists that were orphaned or held by another branch
         * meanwhile move back to it. */
        tree_child_hello(old, from, h);
        tree_child_forget_jobs(old); /* it may have dropped its job cache */
        srv__log(s, "worker %s (engine %u) said HELLO again", old->name,
                 old->id);
        tree_child_welcome(s->engines, old, s->epoch, s->o.heartbeat_ms);
        if (srv__worker(old)->node && h->nrunning > 0)
            srv__adopt(s, old->id, h, from, old->name);
        return;
    }
    if (h->relay && *h->relay) {
        srv__tree_hello(s, from, m);
        return;
    }
    uint32_t id = srv__flat_id(s);
    srv_engine_t *e = id ? srv__engine_add(s, id, from, h) : NULL;
    if (!e)
        return;
    if (h->nrunning > 0)
        srv__adopt(s, e->id, h, from, e->name);
    srv__jobs_unpark(s);
}

/* ---------------------------------------------------------------- inbox */

static int inbox_push(server_t *s, const msg_peer_t *from, msg_t *m)
{
    srv_inbox_t *q = s->inbox;
    if (q->head > 0 && q->head == q->len) {
        q->head = q->len = 0;
    } else if (q->len == q->cap && q->head > q->cap / 2) {
        memmove(q->v, q->v + q->head,
                (q->len - q->head) * sizeof(*q->v));
        q->len -= q->head;
        q->head = 0;
    }
    if (util_grow((void **)&q->v, &q->cap, q->len + 1, sizeof(*q->v)) < 0)
        return -1;
    q->v[q->len].m = m;
    q->v[q->len].peer = *from;
    q->len++;
    return 0;
}

/* May the sender send m?  A worker key joins (HELLO) and, once a child,
 * talks as one; a client key sends the rest (docs/security.md, "Roles").
 * No: ERROR, counted. */
static bool may_send(server_t *s, const msg_peer_t *from, const msg_t *m)
{
    bool joins = m->type == MSG_HELLO;
    unsigned need = joins ? MSG_ROLE_WORKER : MSG_ROLE_CLIENT;
    if (from->roles & need)
        return true;
    s->st.forbidden++;
    srv__send_error(s, from, 0, EACCES, "a %s key may not %s",
                    joins ? "client" : "worker",
                    joins ? "join as a worker" : "send client requests");
    return false;
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* its only job is to keep uv_run from blocking */
}

static void on_recv(msg_sock_t *sock, const msg_peer_t *from, msg_t *m,
                    void *arg)
{
    (void)sock;
    server_t *s = arg;
    if (s->closing) {
        msg_free(m);
        return;
    }
    srv_engine_t *e = tree_children_by_peer(s->engines, from);
    if (e)
        e->last_heard_ms = util_mono_ms();
    if (m->type == MSG_PONG) { /* liveness, and the hop of the model */
        if (e)
            srv__tree_pong(s, m);
        msg_free(m);
        return;
    }
    if (m->type == MSG_BLOB_PUT) {
        /* A chunk goes to the store at once instead of waiting in the
         * inbox: an upload then holds at most the socket's queue from that
         * client (msg_sock.c's ROUTER_RCVHWM), not the whole blob.  A
         * client sends nothing else during its upload. */
        if (may_send(s, from, m))
            srv__handle_blob_put(s, from, m);
        msg_free(m);
        return;
    }
    if (inbox_push(s, from, m) < 0) {
        srv__log(s, "out of memory: dropped a %s", msg_type_name(m->type));
        msg_free(m);
        return;
    }
    if (s->inbox->len - s->inbox->head == 1)
        uv_idle_start(&s->idle, on_idle);
}

/* A worker talks to us without a HELLO: a server restarted on the same
 * endpoint (ZeroMQ reconnected the link underneath), or we gave it up.  A
 * PONG would make it believe all is well; BYE sends it back to HELLO, and
 * its HELLO reports its running tasks. */
static void not_an_engine(server_t *s, const msg_peer_t *from)
{
    msg_t bye = {.type = MSG_BYE};
    s->st.strangers++;
    srv__send(s, from, &bye);
}

static void handle_ping(server_t *s, srv_engine_t *e, msg_t *m)
{
    msg_t p = {.type = MSG_PONG};
    p.u.ping = m->u.ping;
    srv__send(s, &e->peer, &p);
}

static void handle_bye(server_t *s, srv_engine_t *e, msg_t *m)
{
    (void)m;
    srv__engine_remove(s, e, "said BYE", false);
}

/* What any peer may send, and what only a direct child may. */
typedef void peer_handler_fn(server_t *s, const msg_peer_t *from, msg_t *m);
typedef void child_handler_fn(server_t *s, srv_engine_t *e, msg_t *m);

static peer_handler_fn *const PEER_HANDLERS[] = {
    [MSG_HELLO] = handle_hello,
    [MSG_BROADCAST] = srv__handle_broadcast,
    [MSG_BLOB_PUT] = srv__handle_blob_put,
    [MSG_SUBMIT] = srv__handle_submit,
    [MSG_WAIT] = srv__handle_wait,
    [MSG_QUERY] = srv__handle_query,
    [MSG_CANCEL] = srv__handle_cancel,
};

static child_handler_fn *const CHILD_HANDLERS[] = {
    [MSG_PING] = handle_ping,
    [MSG_RESULT] = srv__handle_result,
    [MSG_BYE] = handle_bye,
    [MSG_SUMMARY] = srv__handle_summary,
    [MSG_NODES] = srv__handle_nodes,
    [MSG_STEAL] = srv__handle_steal,
    [MSG_RETURN] = srv__handle_return,
    [MSG_REJECT] = srv__handle_reject,
    [MSG_ORPHAN] = srv__handle_orphan,
    [MSG_BREPLY] = srv__handle_breply,
    [MSG_BLOB_GET] = srv__handle_blob_get,
};

#define HANDLER(table, type)                                                   \
    ((size_t)(type) < sizeof(table) / sizeof(table[0]) ? table[type] : NULL)

/* Handle one message.  Returns the work it cost: result entries, or tasks
 * listed, or 1. */
static size_t dispatch(server_t *s, srv_inmsg_t *in)
{
    msg_t *m = in->m;
    const msg_peer_t *from = &in->peer;
    peer_handler_fn *ph = HANDLER(PEER_HANDLERS, m->type);
    child_handler_fn *ch = HANDLER(CHILD_HANDLERS, m->type);
    srv_engine_t *e = ch ? tree_children_by_peer(s->engines, from) : NULL;
    size_t cost = 0;
    if (ph && !may_send(s, from, m)) {
        /* refused */
    } else if (ph) {
        ph(s, from, m);
    } else if (e) {
        ch(s, e, m);
        if (m->type == MSG_RESULT)
            cost = m->u.result.n;
        else if (m->type == MSG_RETURN || m->type == MSG_REJECT
                 || m->type == MSG_ORPHAN)
            cost = m->u.tasks.n;
    } else if (ch && m->type != MSG_BYE) {
        /* Not (or no longer) a child: it must say HELLO first.  Results
         * stay with the worker until they are ACKed. */
        if (m->type == MSG_RESULT)
            s->st.duplicates += m->u.result.n;
        not_an_engine(s, from);
    } else if (!ch) {
        srv__log(s, "unexpected %s from a peer: dropped",
                 msg_type_name(m->type));
    }
    msg_free(m);
    in->m = NULL;
    return cost ? cost : 1;
}

/* ----------------------------------------------------------------- pump */

static void bcast_poll(server_t *s, int64_t now_ms);

static void on_bcast_timer(uv_timer_t *h)
{
    server_t *s = h->data;
    if (!s->closing)
        bcast_poll(s, util_mono_ms());
}

/* Broadcasts in flight are polled every BCAST_POLL_MS for their deadlines. */
static void bcast_poll(server_t *s, int64_t now_ms)
{
    if (!srv__bcast_poll(s, now_ms))
        uv_timer_stop(&s->bcast_timer);
    else if (!uv_is_active((uv_handle_t *)&s->bcast_timer))
        uv_timer_start(&s->bcast_timer, on_bcast_timer, BCAST_POLL_MS,
                       BCAST_POLL_MS);
}

static void commit_and_ack(server_t *s);

static void on_commit_timer(uv_timer_t *h)
{
    server_t *s = h->data;
    if (!s->closing)
        commit_and_ack(s);
}

/* Commit the open transaction if it is due (else come back when it is),
 * and once nothing written is left uncommitted, ACK the results. */
static void commit_and_ack(server_t *s)
{
    srv_engine_t *e;
    int wait_ms = store_tick(s->store, util_mono_ms());
    const char *bad = store_write_failure(s->store);
    if (wait_ms == -2 || bad) {
        /* What memory holds is ahead of the database now: nothing more is
         * ACKed, and the owner stops us.  The workers keep their results
         * and give them to the next server, which records them. */
        if (!s->inbox->store_failed) {
            s->inbox->store_failed = true;
            srv__log(s, "cannot write the database %s: %s; stopping (the "
                     "workers keep what was not recorded: make room and "
                     "start the server again)", s->db_path,
                     bad ? bad : store_last_error(s->store));
            if (s->o.failed)
                s->o.failed(s->o.log_arg);
        }
        return;
    }
    if (wait_ms > 0) {
        uv_timer_start(&s->commit_timer, on_commit_timer, (uint64_t)wait_ms,
                       0);
        return;
    }
    bool due = false;
    for (size_t i = 0; (e = tree_children_at(s->engines, i)); i++)
        due |= e->recv_seq > e->ack_sent;
    if (!due)
        return;
    s->st.commits++;
    for (size_t i = 0; (e = tree_children_at(s->engines, i)); i++)
        tree_child_ack(s->engines, e, e->recv_seq);
}

static void pump(server_t *s)
{
    srv_inbox_t *q = s->inbox;
    if (s->closing)
        return;
    int64_t now = util_mono_ms();
    /* PINGs first, wherever they are in the inbox. */
    for (size_t i = q->head; i < q->len; i++) {
        if (q->v[i].m && q->v[i].m->type == MSG_PING)
            dispatch(s, &q->v[i]);
    }
    size_t budget = s->o.max_entries;
    size_t spent = 0;
    int64_t queries_until = now + s->o.heartbeat_ms / QUERY_PASS_SHARE;
    while (q->head < q->len && spent < budget) {
        srv_inmsg_t *in = &q->v[q->head];
        /* An answer walks the jobs: a flood of them must not stretch the
         * pass towards the heartbeat timeout. */
        if (in->m && in->m->type == MSG_QUERY
            && util_mono_ms() >= queries_until)
            break;
        q->head++;
        if (in->m)
            spent += dispatch(s, in);
    }
    if (q->head == q->len)
        q->head = q->len = 0;
    commit_and_ack(s);
    bool more = srv__schedule(s, now);
    srv__jobs_check(s);
    bcast_poll(s, now);
    commit_and_ack(s); /* what the steps above wrote, when due */
    /* A backlog, or more to place: the loop turns again at once (after
     * polling the socket, so heartbeats are never starved). */
    if (more || q->head < q->len)
        uv_idle_start(&s->idle, on_idle);
    else
        uv_idle_stop(&s->idle);
}

static void on_pump(uv_check_t *h)
{
    pump(h->data);
}

/* Refused peers and malformed messages, logged at most once a heartbeat
 * (a hostile peer must not be able to flood the log): how many since the
 * last line, and the socket's sentence on the last one. */
static void log_socket_trouble(server_t *s)
{
    srv_inbox_t *q = s->inbox;
    msg_sock_stats_t ss = {0};
    msg_sock_stats(s->sock, &ss);
    if (ss.refused > q->logged_refused) {
        srv__log(s, "refused %llu peer%s (CURVE / allow-list), last: %s",
                 (unsigned long long)(ss.refused - q->logged_refused),
                 ss.refused - q->logged_refused == 1 ? "" : "s",
                 msg_sock_last_refused(s->sock));
        q->logged_refused = ss.refused;
    }
    uint64_t bad = s->st.forbidden + s->st.forged;
    if (bad > q->logged_forbidden) {
        srv__log(s, "refused %llu message%s for the sender's key (%llu "
                 "wrong role, %llu forged HELLO in all)",
                 (unsigned long long)(bad - q->logged_forbidden),
                 bad - q->logged_forbidden == 1 ? "" : "s",
                 (unsigned long long)s->st.forbidden,
                 (unsigned long long)s->st.forged);
        q->logged_forbidden = bad;
    }
    if (ss.malformed > q->logged_malformed) {
        srv__log(s, "dropped %llu malformed message%s, last: %s",
                 (unsigned long long)(ss.malformed - q->logged_malformed),
                 ss.malformed - q->logged_malformed == 1 ? "" : "s",
                 msg_sock_last_malformed(s->sock));
        q->logged_malformed = ss.malformed;
    }
}

static void on_beat(uv_timer_t *h)
{
    server_t *s = h->data;
    log_socket_trouble(s);
    int64_t now = util_mono_ms();
    int64_t dead = (int64_t)s->o.heartbeat_ms * SRV_PING_LOST;
    int64_t late = s->inbox->beat_ms ? now - s->inbox->beat_ms
                                           - (int64_t)s->o.heartbeat_ms
                                     : 0;
    s->inbox->beat_ms = now;
    tree_children_excuse(s->engines, late, now);
    for (srv_engine_t *e; (e = tree_children_silent(s->engines, now, dead));) {
        s->st.engines_lost++;
        srv__engine_remove(s, e, "is silent: lost", true);
    }
    tree_children_ping(s->engines);
    srv__jobs_beat(s, now);
    srv__tree_beat(s, now);
    srv__blob_beat(s, now);
    bcast_poll(s, now);
}

/* ----------------------------------------------------------- lifecycle */

static void on_closed(uv_handle_t *h)
{
    server_t *s = h->data;
    if (--s->open_handles > 0)
        return;
    free(s);
}

static int make_log_dir(server_t *s, banyan_error_t *error)
{
    if (strcmp(s->db_path, ":memory:") == 0) {
        char tmpl[] = "/tmp/banyan-logs-XXXXXX";
        if (!mkdtemp(tmpl))
            return errprintf(error, "cannot create a log directory: %s",
                             strerror(errno));
        s->log_dir = strdup(tmpl);
    } else if (asprintf(&s->log_dir, "%s.logs", s->db_path) < 0) {
        s->log_dir = NULL;
    }
    if (!s->log_dir) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    if (mkdir(s->log_dir, 0700) < 0 && errno != EEXIST)
        return errprintf(error, "cannot create %s: %s", s->log_dir,
                         strerror(errno));
    return 0;
}

static void release_all(server_t *s)
{
    bool said = s->inbox && s->inbox->store_failed;
    for (size_t i = 0; s->inbox && i < s->inbox->len; i++)
        msg_free(s->inbox->v[i].m);
    if (s->inbox)
        free(s->inbox->v);
    free(s->inbox);
    tree_children_destroy(s->engines);
    srv__jobs_destroy(s->jobs);
    srv__tasks_destroy(s->tasks);
    srv__bcast_destroy(s->bcast);
    srv__tree_destroy(s->tree);
    tree_relay_destroy(s->place);
    if (s->store) {
        if (store_flush(s->store) < 0 && !said)
            srv__log(s, "cannot write the database: %s",
                     store_last_error(s->store));
        store_close(s->store);
    }
    free(s->db_path);
    free(s->log_dir);
}

server_t *server_create(uv_loop_t *loop, const server_options_t *opts,
                        banyan_error_t *error)
{
    if (!loop || !opts || !opts->db_path) {
        errno = EINVAL;
        errprintf(error, "server: no loop or database given");
        return NULL;
    }
    server_t *s = calloc(1, sizeof(*s));
    if (!s) {
        errno = ENOMEM;
        errprintf(error, "out of memory");
        return NULL;
    }
    s->o = *opts;
    s->loop = loop;
    if (!s->o.listen)
        s->o.listen = DEFAULT_LISTEN;
    if (!s->o.heartbeat_ms)
        s->o.heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    if (!s->o.crash_limit)
        s->o.crash_limit = DEFAULT_CRASH_LIMIT;
    if (s->o.grace_ms == 0)
        s->o.grace_ms = (int64_t)s->o.heartbeat_ms * SRV_GRACE_PERIODS;
    if (!s->o.max_actions)
        s->o.max_actions = DEFAULT_MAX_ACTIONS;
    if (!s->o.max_entries)
        s->o.max_entries = DEFAULT_MAX_ENTRIES;
    s->start_ms = util_mono_ms();
    s->epoch = util_mono_ns() ^ ((uint64_t)util_wall_time() << 20)
               ^ (uint64_t)getpid();
    s->db_path = strdup(opts->db_path);
    s->inbox = calloc(1, sizeof(*s->inbox));
    s->engines = tree_children_create(send_down, s, sizeof(srv_worker_t));
    s->tasks = srv__tasks_create(s->o.max_actions);
    s->jobs = srv__jobs_create();
    tree_relay_config_t rc;
    tree_relay_config_default(&rc);
    rc.is_root = true;
    rc.prefetch = SRV_PREFETCH_DEFAULT;
    s->place = tree_relay_create(&rc);
    if (!s->db_path || !s->inbox || !s->engines || !s->tasks || !s->jobs
        || !s->place) {
        errno = ENOMEM;
        errprintf(error, "out of memory");
        goto error;
    }
    /* The socket first: a bad or busy endpoint is the one line said,
     * before any database is made.  Nothing arrives before the loop runs. */
    s->sock = msg_sock_bind(loop, s->o.listen, s->o.sec, on_recv, s, error);
    if (!s->sock)
        goto error;
    s->store = store_open(s->db_path, NULL, error);
    if (!s->store)
        goto error;
    if (make_log_dir(s, error) < 0 || !(s->tree = srv__tree_create(s, error))
        || !(s->bcast = srv__bcast_create(s, error))
        || srv__reload_jobs(s, error) < 0)
        goto error;

    uv_check_init(loop, &s->pump);
    uv_idle_init(loop, &s->idle);
    uv_timer_init(loop, &s->beat);
    uv_timer_init(loop, &s->commit_timer);
    uv_timer_init(loop, &s->bcast_timer);
    s->pump.data = s->idle.data = s->beat.data = s->commit_timer.data = s;
    s->bcast_timer.data = s;
    s->open_handles = 5;
    uv_check_start(&s->pump, on_pump);
    uv_timer_start(&s->beat, on_beat, s->o.heartbeat_ms, s->o.heartbeat_ms);
    return s;

error:;
    int err = errno;
    msg_sock_close(s->sock);
    release_all(s);
    free(s);
    errno = err;
    return NULL;
}

void server_destroy(server_t *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    msg_sock_close(s->sock);
    s->sock = NULL;
    release_all(s);
    uv_close((uv_handle_t *)&s->pump, on_closed);
    uv_close((uv_handle_t *)&s->idle, on_closed);
    uv_close((uv_handle_t *)&s->beat, on_closed);
    uv_close((uv_handle_t *)&s->commit_timer, on_closed);
    uv_close((uv_handle_t *)&s->bcast_timer, on_closed);
}

const char *server_endpoint(const server_t *s)
{
    return s->sock ? msg_sock_endpoint(s->sock) : s->o.listen;
}

void server_get_stats(const server_t *s, server_stats_t *st)
{
    *st = s->st;
    st->engines = (uint32_t)tree_children_count(s->engines);
    st->tasks_running = srv__fl_count(s);
    st->in_grace = srv__grace_end_ms(s) != 0;
    st->nodes = srv__tree_count(s);
    st->jobs_active = 0;
    srv_job_t *j;
    for (size_t i = 0; (j = srv__job_at(s, i)); i++)
        st->jobs_active += !j->ended;
}
