/* SPDX-License-Identifier: MIT */
/* client.c - a client's connection and its request engine.
 *
 * Each client owns a private libuv loop and one DEALER socket on it (msg
 * module).  The loop only runs inside client__request(): it sends one
 * request with a fresh request id and runs the loop until the answer with
 * that id arrives, the deadline passes, or a caught signal arrives.
 * Answers to earlier requests that timed out are dropped when they come.
 *
 * ZeroMQ never says that nobody listens: a DEALER connects in the
 * background and queues what it is given.  So when no answer has come after
 * PROBE_DELAY_MS, the client probes the endpoint itself with a plain
 * connect(): "refused" (or no socket file for ipc://) ends the call with
 * ECONNREFUSED at once, anything else lets it wait for its deadline
 * (ETIMEDOUT).  A live server answers long before the probe, so it rarely
 * sees one; when it does, it is a connection that closes before the ZeroMQ
 * greeting and never reaches authentication.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "client_private.h"

enum {
    PROBE_DELAY_MS = 250,    /* first probe when no answer came yet */
    PROBE_EVERY_MS = 2000,   /* later probes (ordinary requests only) */
    PROBE_WAIT_MS = 500,     /* longest a probe's connect() may take */
    SEND_RETRY_MS = 20,      /* retry of a send refused with EAGAIN */
};

struct banyan_client {
    uv_loop_t loop;
    msg_sock_t *sock;
    char *endpoint;
    int64_t timeout_ms;           /* ordinary requests */
    bool catch_signals;
    char public_key[BANYAN_KEY_LEN + 1];
    char secret_key[BANYAN_KEY_LEN + 1];
    char server_key[BANYAN_KEY_LEN + 1];

    uv_timer_t deadline;          /* the call's deadline */
    uv_timer_t probe;             /* is anybody listening? */
    uv_timer_t resend;            /* send again (send retry or resend_ms) */
    uv_signal_t sigint, sigterm;
    bool handles_open;

    /* The call in progress. */
    uint64_t next_request;
    uint64_t want;                /* request id awaited, 0 = none */
    msg_t *req;                   /* the request (borrowed) */
    const client__call_t *call;
    bool want_final;              /* WAIT: skip JOBSTATEs not yet final */
    msg_t *reply;                 /* the answer, owned */
    bool done;                    /* reply set, or failed */
    int fail_errno;
    char fail_text[256];
    bool send_pending;            /* the last send got EAGAIN */
    bool sent_any;                /* something went to the server */
    bool heard_any;               /* the server answered something */
};

/* --------------------------------------------------------------- probe */

/* Does a plain connect() to the endpoint get refused?  False when it is
 * accepted, times out, or cannot be tried. */
static bool endpoint_refuses(const char *ep)
{
    if (!strncmp(ep, "ipc://", 6)) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        const char *path = ep + 6;
        if (strlen(path) >= sizeof(sa.sun_path) || !*path || *path == '@')
            return false;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return false;
        int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        int e = errno;
        close(fd);
        return rc < 0 && (e == ENOENT || e == ECONNREFUSED);
    }
    if (strncmp(ep, "tcp://", 6) || strchr(ep, ';'))
        return false;
    char host[256];
    const char *hp = ep + 6, *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof(host))
        return false;
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(h, colon + 1, &hints, &res) != 0 || !res)
        return false;
    bool refused = true;
    for (struct addrinfo *a = res; a && refused; a = a->ai_next) {
        int fd = socket(a->ai_family,
                        a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        if (fd < 0) {
            refused = false;
            break;
        }
        int e = 0;
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            e = errno;
            if (e == EINPROGRESS) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                if (poll(&p, 1, PROBE_WAIT_MS) == 1) {
                    socklen_t len = sizeof(e);
                    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
                        e = errno;
                } else {
                    e = ETIMEDOUT;
                }
            }
        }
        close(fd);
        if (e != ECONNREFUSED)
            refused = false;
    }
    freeaddrinfo(res);
    return refused;
}

/* ------------------------------------------------------------ the call */

static void call_fail(banyan_client_t *c, int e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void call_fail(banyan_client_t *c, int e, const char *fmt, ...)
{
    if (c->done)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail_text, sizeof(c->fail_text), fmt, ap);
    va_end(ap);
    c->fail_errno = e;
    c->done = true;
}

static bool reply_id(const msg_t *m, uint64_t *id)
{
    switch (m->type) {
    case MSG_SUBMITTED: *id = m->u.submitted.request; return true;
    case MSG_JOBSTATE: *id = m->u.jobstate.request; return true;
    case MSG_ANSWER: *id = m->u.answer.request; return true;
    case MSG_ERROR: *id = m->u.error.request; return true;
    default: return false;
    }
}

static bool state_is_final(const char *s)
{
    return s && (!strcmp(s, "done") || !strcmp(s, "failed") ||
                 !strcmp(s, "cancelled"));
}

static void on_recv(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                    void *arg)
{
    (void)s;
    (void)from;
    banyan_client_t *c = arg;
    c->heard_any = true;
    uint64_t id;
    if (m->type == MSG_ERROR && m->u.error.request == 0 && c->want
        && !c->done) {
        /* The server refused us (our key, our role): the call fails. */
        c->reply = m;
        c->done = true;
        return;
    }
    if (c->done || !c->want || !reply_id(m, &id) || id != c->want ||
        (c->want_final && m->type == MSG_JOBSTATE &&
         !state_is_final(m->u.jobstate.state))) {
        msg_free(m);   /* stale, unsolicited, or progress */
        return;
    }
    c->reply = m;      /* owned until client__request hands it out */
    c->done = true;
}

static void on_resend(uv_timer_t *t);

/* Send the request; on EAGAIN try again shortly; with resend_ms, send it
 * again that much later. */
static void try_send(banyan_client_t *c)
{
    if (msg_sock_send(c->sock, NULL, c->req) == 0) {
        c->sent_any = true;
        c->send_pending = false;
        if (c->call->resend_ms > 0)
            uv_timer_start(&c->resend, on_resend,
                           (uint64_t)c->call->resend_ms, 0);
        return;
    }
    if (errno == EAGAIN) {
        c->sent_any = true;
        c->send_pending = true;
        uv_timer_start(&c->resend, on_resend, SEND_RETRY_MS, 0);
        return;
    }
    call_fail(c, errno, "cannot send the %s request to %s: %s",
              c->call->what, c->endpoint, strerror(errno));
}

static void on_deadline(uv_timer_t *t)
{
    banyan_client_t *c = t->data;
    int64_t ms = c->call->timeout_ms;
    call_fail(c, ETIMEDOUT, "no answer from the server at %s within %lld.%01llds",
              c->endpoint, (long long)(ms / 1000),
              (long long)(ms % 1000 / 100));
}

static void on_probe(uv_timer_t *t)
{
    banyan_client_t *c = t->data;
    if (c->done)
        return;
    if (endpoint_refuses(c->endpoint))
        call_fail(c, ECONNREFUSED, "cannot connect to the server at %s: "
                  "connection refused (is 'banyan server' running there?)",
                  c->endpoint);
}

static void on_resend(uv_timer_t *t)
{
    banyan_client_t *c = t->data;
    if (!c->done)
        try_send(c);
}

static void on_signal(uv_signal_t *h, int signum)
{
    banyan_client_t *c = h->data;
    call_fail(c, EINTR, "interrupted by signal %d", signum);
}

static void set_request_id(msg_t *m, uint64_t id)
{
    switch (m->type) {
    case MSG_SUBMIT: m->u.submit.request = id; break;
    case MSG_WAIT: m->u.wait.request = id; break;
    case MSG_QUERY: m->u.query.request = id; break;
    case MSG_CANCEL: m->u.cancel.request = id; break;
    case MSG_BROADCAST: m->u.broadcast.request = id; break;
    case MSG_BLOB_PUT: m->u.blob_data.request = id; break;
    default: break;
    }
}

uint64_t client__new_request(banyan_client_t *c)
{
    return ++c->next_request;
}

/* Begin a call: the request id, the timers, the signals. */
static void call_start(banyan_client_t *c, msg_t *req,
                       const client__call_t *call)
{
    c->want = call->request ? call->request : ++c->next_request;
    set_request_id(req, c->want);
    c->req = req;
    c->call = call;
    c->want_final = req->type == MSG_WAIT;
    c->reply = NULL;
    c->done = false;
    c->send_pending = false;
    c->fail_errno = 0;
    c->fail_text[0] = '\0';

    if (call->timeout_ms >= 0)
        uv_timer_start(&c->deadline, on_deadline,
                       (uint64_t)call->timeout_ms, 0);
    uv_timer_start(&c->probe, on_probe, PROBE_DELAY_MS,
                   call->resend_ms > 0 ? 0 : PROBE_EVERY_MS);
    if (c->catch_signals) {
        uv_signal_start(&c->sigint, on_signal, SIGINT);
        uv_signal_start(&c->sigterm, on_signal, SIGTERM);
    }
}

/* End a call: stop what call_start started. */
static void call_stop(banyan_client_t *c)
{
    uv_timer_stop(&c->deadline);
    uv_timer_stop(&c->probe);
    uv_timer_stop(&c->resend);
    if (c->catch_signals) {
        uv_signal_stop(&c->sigint);
        uv_signal_stop(&c->sigterm);
    }
    c->want = 0;
    c->req = NULL;
    c->call = NULL;
}

/* Hand out the answer of a stopped call: NULL with errno and text for a
 * failure or an ERROR answer. */
static msg_t *call_reply(banyan_client_t *c, banyan_error_t *error)
{
    msg_t *m = c->reply;
    c->reply = NULL;
    if (!m) {
        errprintf(error, "%s", c->fail_text);
        errno = c->fail_errno ? c->fail_errno : EIO;
        return NULL;
    }
    if (m->type == MSG_ERROR) {
        int code = m->u.error.code;
        errprintf(error, "%s", m->u.error.text && *m->u.error.text
                                   ? m->u.error.text
                                   : strerror(code > 0 ? code : EPROTO));
        msg_free(m);
        errno = code > 0 && code < 4096 ? code : EPROTO;
        return NULL;
    }
    return m;
}

msg_t *client__request(banyan_client_t *c, msg_t *req,
                       const client__call_t *call, banyan_error_t *error)
{
    call_start(c, req, call);
    try_send(c);
    while (!c->done)
        uv_run(&c->loop, UV_RUN_ONCE);
    call_stop(c);
    return call_reply(c, error);
}

int client__send(banyan_client_t *c, msg_t *req, const client__call_t *call,
                 msg_t **early, banyan_error_t *error)
{
    *early = NULL;
    call_start(c, req, call);
    try_send(c);
    while (!c->done && c->send_pending)
        uv_run(&c->loop, UV_RUN_ONCE);
    /* Deliver what already arrived: an ERROR the server sent for an
     * earlier chunk ends the upload here instead of after the last. */
    if (!c->done)
        uv_run(&c->loop, UV_RUN_NOWAIT);
    bool answered = c->reply != NULL, failed = c->done && !c->reply;
    call_stop(c);
    if (!answered && !failed)
        return 0;
    *early = call_reply(c, error);
    return *early ? 0 : -1;
}

int64_t client__timeout_ms(const banyan_client_t *c)
{
    return c->timeout_ms;
}

/* ------------------------------------------------------ connect, close */

static bool endpoint_valid(const char *ep)
{
    if (!strncmp(ep, "ipc://", 6))
        return ep[6] != '\0';
    if (!strncmp(ep, "inproc://", 9))
        return ep[9] != '\0';
    if (strncmp(ep, "tcp://", 6))
        return false;
    const char *colon = strrchr(ep + 6, ':');
    long port;
    return colon && colon > ep + 6 &&
           util_parse_long(colon + 1, 1, 65535, &port) == 0;
}

/* Fill the client's keys from opts.  0 or -1 with EINVAL and text. */
static int load_keys(banyan_client_t *c, const banyan_client_options_t *o,
                     banyan_error_t *error)
{
    if (o->public_key || o->secret_key) {
        if (!o->public_key || !o->secret_key ||
            !client__key_valid(o->public_key) ||
            !client__key_valid(o->secret_key)) {
            errno = EINVAL;
            return errprintf(error, "a client key pair needs both keys, "
                                    "each 40 characters of Z85");
        }
        strcpy(c->public_key, o->public_key);
        strcpy(c->secret_key, o->secret_key);
    } else if (o->key_file) {
        if (banyan_key_read(o->key_file, c->public_key, c->secret_key,
                            error) < 0)
            return -1;
    }
    if (o->server_key) {
        if (!client__key_valid(o->server_key)) {
            errno = EINVAL;
            return errprintf(error, "the server key must be 40 characters "
                                    "of Z85");
        }
        strcpy(c->server_key, o->server_key);
    } else if (o->server_key_file) {
        if (banyan_key_read(o->server_key_file, c->server_key, NULL,
                            error) < 0)
            return -1;
    }
    if (c->public_key[0] && !c->server_key[0]) {
        errno = EINVAL;
        return errprintf(error, "a client key needs the server's public key "
                                "too (--server-key)");
    }
    if (c->server_key[0] && !c->public_key[0]) {
        /* A server that accepts any key accepts a fresh one. */
        if (msg_curve_keypair(c->public_key, c->secret_key) < 0)
            return errprintf(error, "cannot make a CURVE key pair: %s",
                             strerror(errno));
    }
    return 0;
}

static void close_handles(banyan_client_t *c)
{
    if (c->handles_open) {
        uv_close((uv_handle_t *)&c->deadline, NULL);
        uv_close((uv_handle_t *)&c->probe, NULL);
        uv_close((uv_handle_t *)&c->resend, NULL);
        uv_close((uv_handle_t *)&c->sigint, NULL);
        uv_close((uv_handle_t *)&c->sigterm, NULL);
        c->handles_open = false;
    }
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

banyan_client_t *banyan_client_connect(const char *endpoint,
                                       const banyan_client_options_t *opts,
                                       banyan_error_t *error)
{
    banyan_client_options_t none = {0};
    const banyan_client_options_t *o = opts ? opts : &none;
    if (!endpoint)
        endpoint = BANYAN_DEFAULT_SERVER;
    if (!endpoint_valid(endpoint)) {
        errno = EINVAL;
        errprintf(error, "invalid server endpoint '%s' (expected "
                         "tcp://HOST:PORT or ipc://PATH)", endpoint);
        return NULL;
    }
    if (o->timeout_ms < 0) {
        errno = EINVAL;
        errprintf(error, "invalid timeout %d ms", o->timeout_ms);
        return NULL;
    }
    banyan_client_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->endpoint = strdup(endpoint))) {
        free(c);
        errno = ENOMEM;
        errprintf(error, "out of memory");
        return NULL;
    }
    c->timeout_ms = o->timeout_ms ? o->timeout_ms : BANYAN_CLIENT_TIMEOUT_MS;
    c->catch_signals = o->catch_signals;
    if (load_keys(c, o, error) < 0) {
        int e = errno;
        free(c->endpoint);
        free(c);
        errno = e;
        return NULL;
    }
    int rc = uv_loop_init(&c->loop);
    if (rc < 0) {
        errprintf(error, "cannot start an event loop: %s", uv_strerror(rc));
        free(c->endpoint);
        free(c);
        errno = -rc;
        return NULL;
    }
    uv_timer_init(&c->loop, &c->deadline);
    uv_timer_init(&c->loop, &c->probe);
    uv_timer_init(&c->loop, &c->resend);
    uv_signal_init(&c->loop, &c->sigint);
    uv_signal_init(&c->loop, &c->sigterm);
    c->deadline.data = c->probe.data = c->resend.data = c;
    c->sigint.data = c->sigterm.data = c;
    c->handles_open = true;

    msg_security_t sec = {0};
    if (c->public_key[0]) {
        sec.public_key = c->public_key;
        sec.secret_key = c->secret_key;
        sec.server_key = c->server_key;
    }
    c->sock = msg_sock_connect(&c->loop, endpoint,
                               c->public_key[0] ? &sec : NULL, on_recv, c,
                               error);
    if (!c->sock) {
        int e = errno;
        banyan_client_close(c);
        errno = e;
        return NULL;
    }
    return c;
}

void banyan_client_close(banyan_client_t *c)
{
    if (!c)
        return;
    int saved = errno;
    if (c->sock) {
        if (c->heard_any) {  /* no BYE queued for nobody */
            msg_t bye = {.type = MSG_BYE};
            (void)msg_sock_send(c->sock, NULL, &bye);  /* best effort */
        }
        msg_sock_close(c->sock);
        c->sock = NULL;
    }
    close_handles(c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&c->loop) == UV_EBUSY) {
        uv_walk(&c->loop, close_walk, NULL);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(&c->loop);
    }
    msg_free(c->reply);
    free(c->endpoint);
    /* Keys leave no copy behind in freed memory. */
    memset(c->secret_key, 0, sizeof(c->secret_key));
    free(c);
    errno = saved;
}

const char *banyan_client_endpoint(const banyan_client_t *c)
{
    return c->endpoint;
}
