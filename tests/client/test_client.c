/* SPDX-License-Identifier: MIT */
/* test_client.c - the client library against a fake server.
 *
 * The fake server is a ROUTER (msg_sock_bind on ipc:// in the test's temp
 * dir) on a libuv loop in a second thread.  It records what it receives and
 * answers by rule: some requests get an answer, some an error, some nothing
 * (to drive the client's deadline).  The client runs in the main thread
 * with its own private loop, as a program would use it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <banyan/client.h>
#include <uv.h>

#include "msg/msg.h"
#include "tap.h"

/* ---------------------------------------------------------- fake server */

/* What the server saw of the last SUBMIT (copied under the lock). */
struct seen_submit {
    char words[4][32];
    uint32_t nwords;
    uint32_t nsources;
    uint32_t nvalues[4];
    char values[4][4][16];
    bool linked[4];
    uint64_t array_first, array_count;
    char env[2][32];
    uint32_t nenv;
    char cwd[64], name[32];
    int32_t priority;
    uint32_t max_attempts;
    int64_t timeout_ms;
    res_request_t req;
};

static struct server {
    uv_loop_t loop;
    uv_async_t stop;
    msg_sock_t *sock;
    msg_sock_t *curve;           /* the same server behind CURVE */
    msg_sock_t *current;         /* the socket of the message in hand */
    char curve_public[41], curve_secret[41];
    pthread_t thread;
    pthread_mutex_t lock;
    unsigned received;           /* requests seen */
    unsigned byes;               /* BYE messages seen */
    unsigned waits;              /* WAIT messages seen */
    struct seen_submit sub;
    char last_args[256];
    uint64_t silent_request;     /* a QUERY left unanswered */
    msg_peer_t silent_peer;
} srv;

static void reply(const msg_peer_t *to, const msg_t *m)
{
    if (msg_sock_send(srv.current, to, m) < 0)
        diag("fake server: send failed: %s", strerror(errno));
}

static void reply_error(const msg_peer_t *to, uint64_t request, int code,
                        const char *text)
{
    msg_t e = {.type = MSG_ERROR};
    e.u.error.request = request;
    e.u.error.code = code;
    e.u.error.text = text;
    reply(to, &e);
}

static void record_submit(const msg_submit_t *s)
{
    struct seen_submit *w = &srv.sub;
    memset(w, 0, sizeof(*w));
    w->nwords = s->job.nwords;
    for (uint32_t i = 0; i < s->job.nwords && i < 4; i++)
        snprintf(w->words[i], sizeof(w->words[i]), "%s", s->job.words[i]);
    w->nsources = s->job.nsources;
    for (uint32_t i = 0; i < s->job.nsources && i < 4; i++) {
        const banyan_source_t *src = &s->job.sources[i];
        w->nvalues[i] = (uint32_t)src->nvalues;
        w->linked[i] = src->linked;
        for (uint32_t v = 0; v < src->nvalues && v < 4; v++)
            snprintf(w->values[i][v], sizeof(w->values[i][v]), "%s",
                     src->values[v]);
    }
    w->array_first = s->job.array_first;
    w->array_count = s->job.array_count;
    w->nenv = s->job.nenv;
    for (uint32_t i = 0; i < s->job.nenv && i < 2; i++)
        snprintf(w->env[i], sizeof(w->env[i]), "%s", s->job.env[i]);
    snprintf(w->cwd, sizeof(w->cwd), "%s", s->job.cwd ? s->job.cwd : "");
    snprintf(w->name, sizeof(w->name), "%s",
             s->job.name ? s->job.name : "");
    w->priority = s->job.priority;
    w->max_attempts = s->job.max_attempts;
    w->timeout_ms = s->job.timeout_ms;
    w->req = s->job.req;
}

static void on_submit(const msg_peer_t *from, const msg_submit_t *s)
{
    record_submit(s);
    if (s->job.nwords && !strcmp(s->job.words[0], "refuse")) {
        reply_error(from, s->request, EINVAL, "the server refuses this job");
        return;
    }
    uint64_t n = s->job.array_count;
    if (s->job.nsources) {
        n = 1;
        for (uint32_t i = 0; i < s->job.nsources; i++)
            n *= s->job.sources[i].nvalues;
    }
    msg_t a = {.type = MSG_SUBMITTED};
    a.u.submitted.request = s->request;
    a.u.submitted.job = 7;
    a.u.submitted.ntasks = n;
    reply(from, &a);
}

static void send_state(const msg_peer_t *to, uint64_t request, uint32_t job,
                       const char *state, uint64_t ok_n, uint64_t failed_n)
{
    msg_t a = {.type = MSG_JOBSTATE};
    a.u.jobstate.request = request;
    a.u.jobstate.job = job;
    a.u.jobstate.state = state;
    a.u.jobstate.ntasks = ok_n + failed_n;
    a.u.jobstate.ok = ok_n;
    a.u.jobstate.failed = failed_n;
    reply(to, &a);
}

static void on_wait(const msg_peer_t *from, const msg_wait_t *w)
{
    srv.waits++;
    switch (w->job) {
    case 7: send_state(from, w->request, 7, "done", 3, 0); break;
    case 9: /* progress first: the client must keep waiting */
        send_state(from, w->request, 9, "running", 1, 0);
        send_state(from, w->request, 9, "failed", 2, 1);
        break;
    case 8: break; /* never ends */
    default: reply_error(from, w->request, ENOENT, "no such job"); break;
    }
}

static void on_query(const msg_peer_t *from, const msg_query_t *q)
{
    snprintf(srv.last_args, sizeof(srv.last_args), "%s", q->args_json);
    if (!strcmp(q->what, "silent")) {
        srv.silent_request = q->request;
        srv.silent_peer = *from;
        return;
    }
    if (!strcmp(q->what, "explain")) {
        reply_error(from, q->request, ENOENT, "job 3 has no task 99");
        return;
    }
    if (!strcmp(q->what, "wrongtype")) {
        send_state(from, q->request, 1, "done", 0, 0);
        return;
    }
    if (srv.silent_request) {
        /* The answer to the request that timed out comes late. */
        msg_t late = {.type = MSG_ANSWER};
        late.u.answer.request = srv.silent_request;
        late.u.answer.json = "{\"late\": true}";
        reply(&srv.silent_peer, &late);
        srv.silent_request = 0;
    }
    char json[300];
    snprintf(json, sizeof(json), "{\"what\": \"%s\", \"args\": %s}", q->what,
             q->args_json);
    msg_t a = {.type = MSG_ANSWER};
    a.u.answer.request = q->request;
    a.u.answer.json = json;
    reply(from, &a);
}

static void on_server_recv(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                           void *arg)
{
    (void)arg;
    pthread_mutex_lock(&srv.lock);
    srv.current = s;
    if (m->type == MSG_BYE)
        srv.byes++;
    else
        srv.received++;
    switch (m->type) {
    case MSG_SUBMIT: on_submit(from, &m->u.submit); break;
    case MSG_WAIT: on_wait(from, &m->u.wait); break;
    case MSG_QUERY: on_query(from, &m->u.query); break;
    case MSG_CANCEL:
        if (m->u.cancel.job == 7)
            send_state(from, m->u.cancel.request, 7, "cancelled", 1, 2);
        else
            reply_error(from, m->u.cancel.request, ENOENT, "no such job");
        break;
    default: break;
    }
    pthread_mutex_unlock(&srv.lock);
    msg_free(m);
}

static void on_stop(uv_async_t *a)
{
    msg_sock_close(srv.sock);
    msg_sock_close(srv.curve);
    srv.sock = srv.curve = NULL;
    uv_close((uv_handle_t *)a, NULL);
}

static void *server_main(void *arg)
{
    (void)arg;
    uv_run(&srv.loop, UV_RUN_DEFAULT);
    return NULL;
}

static char endpoint[512];

static void server_start(const char *ep)
{
    banyan_error_t err = {{0}};
    pthread_mutex_init(&srv.lock, NULL);
    if (uv_loop_init(&srv.loop) < 0 ||
        uv_async_init(&srv.loop, &srv.stop, on_stop) < 0)
        bail_out("cannot start the fake server's loop");
    srv.sock = msg_sock_bind(&srv.loop, ep, NULL, on_server_recv, NULL,
                             &err);
    if (!srv.sock)
        bail_out("fake server cannot bind %s: %s", ep, err.text);
    snprintf(endpoint, sizeof(endpoint), "%s", msg_sock_endpoint(srv.sock));
    if (msg_curve_keypair(srv.curve_public, srv.curve_secret) == 0) {
        char cep[600];
        snprintf(cep, sizeof(cep), "ipc://%s/curve.sock", tap_tmpdir());
        msg_security_t sec = {.public_key = srv.curve_public,
                              .secret_key = srv.curve_secret};
        srv.curve = msg_sock_bind(&srv.loop, cep, &sec, on_server_recv,
                                  NULL, &err);
        if (!srv.curve)
            bail_out("fake server cannot bind %s: %s", cep, err.text);
    }
    if (pthread_create(&srv.thread, NULL, server_main, NULL) != 0)
        bail_out("cannot start the fake server's thread");
}

static void server_stop(void)
{
    uv_async_send(&srv.stop);
    pthread_join(srv.thread, NULL);
    uv_loop_close(&srv.loop);
    pthread_mutex_destroy(&srv.lock);
}

static unsigned server_received(void)
{
    pthread_mutex_lock(&srv.lock);
    unsigned n = srv.received;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

/* ------------------------------------------------------------- helpers */

static banyan_client_t *connect_fast(const char *ep, int timeout_ms)
{
    banyan_client_options_t o = {.timeout_ms = timeout_ms};
    banyan_error_t err = {{0}};
    banyan_client_t *c = banyan_client_connect(ep, &o, &err);
    if (!c)
        bail_out("connect %s: %s", ep, err.text);
    return c;
}

/* A TCP port on loopback that nobody listens on (right now). */
static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        bail_out("cannot find a free port");
    close(fd);
    return ntohs(sa.sin_port);
}

/* --------------------------------------------------------------- tests */

static void test_submit(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    const char *words[] = {"echo", "{1}", "{2}"};
    const char *a[] = {"x", "y"}, *b[] = {"1", "2", "3"};
    banyan_source_t src[] = {{a, 2, false}, {b, 3, false}};
    banyan_resource_t lic[] = {{"license", 2}};
    const char *env[] = {"A=1", "B=two"};
    banyan_job_spec_t spec = {
        .words = words, .nwords = 3, .sources = src, .nsources = 2,
        .cpus_milli = 1500, .mem_bytes = 1 << 20, .gpus_milli = 500,
        .resources = lic, .nresources = 1, .priority = 5, .retries = 2,
        .timeout_ms = 60000, .env = env, .nenv = 2, .cwd = "/tmp/work",
        .name = "sweep-a"};
    uint32_t job = 0;
    uint64_t ntasks = 0;
    int rc = banyan_client_submit(c, &spec, &job, &ntasks, &err);
    ok(rc == 0, "submit returns 0 when the server answers SUBMITTED (%s)",
       err.text);
    is_int(job, 7, "submit gives the server's job id");
    is_int(ntasks, 6, "submit gives the server's task count");

    pthread_mutex_lock(&srv.lock);
    const struct seen_submit *w = &srv.sub;
    ok(w->nwords == 3 && !strcmp(w->words[0], "echo") &&
           !strcmp(w->words[2], "{2}"),
       "the command words reach the server unchanged");
    ok(w->nsources == 2 && w->nvalues[0] == 2 && w->nvalues[1] == 3 &&
           !strcmp(w->values[0][1], "y") && !strcmp(w->values[1][2], "3") &&
           !w->linked[0] && !w->linked[1],
       "the sources reach the server with their values and links");
    ok(w->array_count == 0, "a job with sources has no array range");
    ok(w->req.slots == 1 && w->req.cpus_milli == 1500 &&
           w->req.mem_bytes == (1 << 20) && w->req.gpus_milli == 500 &&
           w->req.ncustom == 1 && !strcmp(w->req.custom[0].name, "license") &&
           w->req.custom[0].amount == 2,
       "the resource request reaches the server");
    ok(w->priority == 5 && w->max_attempts == 3 && w->timeout_ms == 60000,
       "priority, attempts (retries + 1) and timeout reach the server");
    ok(w->nenv == 2 && !strcmp(w->env[1], "B=two") &&
           !strcmp(w->cwd, "/tmp/work") && !strcmp(w->name, "sweep-a"),
       "environment, working directory and name reach the server");
    pthread_mutex_unlock(&srv.lock);

    /* An array job. */
    const char *w1[] = {"sim", "{}"};
    banyan_job_spec_t arr = {.words = w1, .nwords = 2, .array_first = 10,
                             .array_count = 1000000};
    rc = banyan_client_submit(c, &arr, &job, &ntasks, &err);
    ok(rc == 0 && ntasks == 1000000, "an array job of a million tasks is "
                                     "sent as a range");
    pthread_mutex_lock(&srv.lock);
    ok(srv.sub.array_first == 10 && srv.sub.array_count == 1000000 &&
           srv.sub.nsources == 0 && srv.sub.max_attempts == 1,
       "the range arrives as first and count, with one attempt");
    pthread_mutex_unlock(&srv.lock);

    /* The server's refusal. */
    const char *w2[] = {"refuse"};
    banyan_job_spec_t bad = {.words = w2, .nwords = 1};
    errno = 0;
    rc = banyan_client_submit(c, &bad, &job, NULL, &err);
    ok(rc == -1 && errno == EINVAL,
       "an error answer fails the submit with the server's errno");
    is_str(err.text, "the server refuses this job",
           "the server's sentence is the error text");
}

static void test_submit_checks(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    uint32_t job;
    unsigned before = server_received();
    const char *w[] = {"echo"};
    const char *v[] = {"a"};

    banyan_job_spec_t empty = {0};
    errno = 0;
    ok(banyan_client_submit(c, &empty, &job, NULL, &err) == -1 &&
           errno == EINVAL && strstr(err.text, "command"),
       "a job without a command is refused locally (%s)", err.text);

    banyan_source_t s1[] = {{v, 1, false}};
    banyan_job_spec_t both = {.words = w, .nwords = 1, .sources = s1,
                              .nsources = 1, .array_count = 5};
    errno = 0;
    ok(banyan_client_submit(c, &both, &job, NULL, &err) == -1 &&
           errno == EINVAL && strstr(err.text, "not both"),
       "sources and an array range together are refused");

    banyan_source_t s2[] = {{v, 1, true}};
    banyan_job_spec_t linked = {.words = w, .nwords = 1, .sources = s2,
                                .nsources = 1};
    errno = 0;
    ok(banyan_client_submit(c, &linked, &job, NULL, &err) == -1 &&
           errno == EINVAL && strstr(err.text, "linked"),
       "a first source linked to nothing is refused");

    size_t n = (size_t)MSG_MAX_ARGS + 1;
    const char **many = calloc(n, sizeof(*many));
    for (size_t i = 0; i < n; i++)
        many[i] = "v";
    banyan_source_t s3[] = {{many, n, false}};
    banyan_job_spec_t big = {.words = w, .nwords = 1, .sources = s3,
                             .nsources = 1};
    errno = 0;
    ok(banyan_client_submit(c, &big, &job, NULL, &err) == -1 &&
           errno == EINVAL && strstr(err.text, "4097 values"),
       "a source beyond the wire limit is refused with its size (%s)",
       err.text);
    free(many);

    banyan_job_spec_t gpus = {.words = w, .nwords = 1, .gpus_milli = 1500};
    errno = 0;
    ok(banyan_client_submit(c, &gpus, &job, NULL, &err) == -1 &&
           errno == EINVAL,
       "1.5 GPUs (neither a share nor whole GPUs) is refused: %s", err.text);

    const char *env[] = {"NOEQUALS"};
    banyan_job_spec_t badenv = {.words = w, .nwords = 1, .env = env,
                                .nenv = 1};
    errno = 0;
    ok(banyan_client_submit(c, &badenv, &job, NULL, &err) == -1 &&
           errno == EINVAL && strstr(err.text, "NOEQUALS"),
       "an environment entry without '=' is refused");

    is_int(server_received(), before,
           "nothing is sent for a job refused locally");
}

static void test_wait_cancel(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    banyan_job_state_t st;
    int rc = banyan_client_wait(c, 7, 5000, &st, &err);
    ok(rc == 0 && st.job == 7 && !strcmp(st.state, "done") && st.ok == 3 &&
           st.failed == 0 && banyan_job_state_is_final(&st),
       "wait returns the final state of a job that is done");

    rc = banyan_client_wait(c, 9, 5000, &st, &err);
    ok(rc == 0 && !strcmp(st.state, "failed") && st.ok == 2 &&
           st.failed == 1,
       "wait skips progress reports and returns when the job has ended");

    errno = 0;
    rc = banyan_client_wait(c, 404, 5000, &st, &err);
    ok(rc == -1 && errno == ENOENT && !strcmp(err.text, "no such job"),
       "wait on an unknown job fails with ENOENT and the server's text");

    int64_t t0 = util_mono_ms();
    errno = 0;
    rc = banyan_client_wait(c, 8, 300, &st, &err);
    int64_t dt = util_mono_ms() - t0;
    ok(rc == -1 && errno == ETIMEDOUT && strstr(err.text, "job 8"),
       "wait on a job that does not end fails with ETIMEDOUT (%s)",
       err.text);
    ok(dt >= 250 && dt < 5000, "wait gives up at its own deadline (%lld ms)",
       (long long)dt);

    rc = banyan_client_cancel(c, 7, &st, &err);
    ok(rc == 0 && !strcmp(st.state, "cancelled") && st.failed == 2,
       "cancel returns the state the server reports");
    errno = 0;
    rc = banyan_client_cancel(c, 5, &st, &err);
    ok(rc == -1 && errno == ENOENT, "cancel of an unknown job: ENOENT");
}

static void test_query(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    char *answer = NULL;
    int rc = banyan_client_query(c, "status", NULL, &answer, &err);
    ok(rc == 0 && answer && strstr(answer, "\"what\": \"status\"") &&
           strstr(answer, "\"args\": {}"),
       "query without arguments sends {} and returns the answer text");
    free(answer);
    answer = NULL;

    rc = banyan_client_query(c, "log", "{\"job\": 3, \"offset\": 0}", &answer,
                             &err);
    ok(rc == 0 && answer && strstr(answer, "\"job\": 3"),
       "query passes its JSON arguments through");
    free(answer);
    answer = NULL;

    errno = 0;
    rc = banyan_client_query(c, "explain", "{\"job\": 3, \"task\": 99}",
                             &answer, &err);
    ok(rc == -1 && errno == ENOENT && strstr(err.text, "no task 99") &&
           !answer,
       "an error answer maps to its errno and sentence");

    unsigned before = server_received();
    errno = 0;
    ok(banyan_client_query(c, "status", "[1, 2]", &answer, &err) == -1 &&
           errno == EINVAL,
       "arguments that are not a JSON object are refused");
    errno = 0;
    ok(banyan_client_query(c, "status", "{oops", &answer, &err) == -1 &&
           errno == EINVAL && strstr(err.text, "not JSON"),
       "arguments that do not parse are refused");
    is_int(server_received(), before, "bad arguments are never sent");

    errno = 0;
    rc = banyan_client_query(c, "wrongtype", NULL, &answer, &err);
    ok(rc == -1 && errno == EPROTO && strstr(err.text, "JOBSTATE"),
       "an answer of the wrong type fails with EPROTO (%s)", err.text);
}

static void test_timeout(void)
{
    banyan_client_t *c = connect_fast(endpoint, 400);
    banyan_error_t err = {{0}};
    char *answer = NULL;
    int64_t t0 = util_mono_ms();
    errno = 0;
    int rc = banyan_client_query(c, "silent", NULL, &answer, &err);
    int64_t dt = util_mono_ms() - t0;
    ok(rc == -1 && errno == ETIMEDOUT,
       "a server that never answers gives ETIMEDOUT");
    ok(strstr(err.text, endpoint) && strstr(err.text, "0.4s"),
       "the timeout text names the server and the deadline: %s", err.text);
    ok(dt >= 350 && dt < 5000, "the call ends at its deadline (%lld ms)",
       (long long)dt);

    /* The late answer to the silent query must not be taken for this. */
    rc = banyan_client_query(c, "status", "{\"n\": 2}", &answer, &err);
    ok(rc == 0 && answer && strstr(answer, "\"n\": 2") &&
           !strstr(answer, "late"),
       "a late answer to an earlier request is not taken for the next");
    free(answer);
    banyan_client_close(c);
}

static void test_refused(void)
{
    banyan_error_t err = {{0}};
    char ep[600];
    char *answer = NULL;
    snprintf(ep, sizeof(ep), "ipc://%s/nobody.sock", tap_tmpdir());
    banyan_client_t *c = connect_fast(ep, 10000);
    int64_t t0 = util_mono_ms();
    errno = 0;
    int rc = banyan_client_query(c, "status", NULL, &answer, &err);
    int64_t dt = util_mono_ms() - t0;
    ok(rc == -1 && errno == ECONNREFUSED && strstr(err.text, "refused") &&
           strstr(err.text, "nobody.sock"),
       "nobody at an ipc:// endpoint: ECONNREFUSED naming it (%s)",
       err.text);
    ok(dt < 3000, "refused is known well before the deadline (%lld ms)",
       (long long)dt);
    banyan_client_close(c);

    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", unused_port());
    c = connect_fast(ep, 10000);
    const char *w[] = {"true"};
    banyan_job_spec_t spec = {.words = w, .nwords = 1};
    uint32_t job;
    t0 = util_mono_ms();
    errno = 0;
    rc = banyan_client_submit(c, &spec, &job, NULL, &err);
    dt = util_mono_ms() - t0;
    ok(rc == -1 && errno == ECONNREFUSED && strstr(err.text, ep),
       "nobody at a tcp:// port: submit fails with ECONNREFUSED (%s)",
       err.text);
    ok(dt < 3000, "... within a few seconds (%lld ms)", (long long)dt);
    errno = 0;
    rc = banyan_client_wait(c, 1, -1, NULL, &err);
    ok(rc == -1 && errno == ECONNREFUSED,
       "a wait without deadline still ends when nobody listens");
    banyan_client_close(c);
}

static void *send_sigint(void *arg)
{
    (void)arg;
    usleep(200 * 1000);
    kill(getpid(), SIGINT);
    return NULL;
}

static void test_signal(void)
{
    banyan_client_options_t o = {.timeout_ms = 20000, .catch_signals = true};
    banyan_error_t err = {{0}};
    banyan_client_t *c = banyan_client_connect(endpoint, &o, &err);
    char *answer = NULL;
    ok(banyan_client_query(c, "status", NULL, &answer, &err) == 0,
       "a client with catch_signals works as usual");
    free(answer);
    pthread_t t;
    pthread_create(&t, NULL, send_sigint, NULL);
    int64_t t0 = util_mono_ms();
    errno = 0;
    int rc = banyan_client_wait(c, 8, -1, NULL, &err);
    int64_t dt = util_mono_ms() - t0;
    pthread_join(t, NULL);
    ok(rc == -1 && errno == EINTR,
       "SIGINT during a wait ends it with EINTR (process not killed)");
    ok(dt < 10000, "... promptly (%lld ms)", (long long)dt);
    unsigned byes = srv.byes;
    banyan_client_close(c);
    usleep(100 * 1000);
    pthread_mutex_lock(&srv.lock);
    ok(srv.byes > byes, "closing a client the server has answered says BYE");
    pthread_mutex_unlock(&srv.lock);
}

static void test_connect_errors(void)
{
    banyan_error_t err = {{0}};
    errno = 0;
    ok(!banyan_client_connect("http://x:1", NULL, &err) && errno == EINVAL &&
           strstr(err.text, "http://x:1"),
       "an endpoint of an unknown transport is refused: %s", err.text);
    errno = 0;
    ok(!banyan_client_connect("tcp://127.0.0.1", NULL, &err) &&
           errno == EINVAL,
       "a tcp endpoint without a port is refused");

    char pub[41], sec[41];
    if (banyan_key_generate(pub, sec) < 0) {
        ok(1, "# SKIP libzmq without CURVE");
        return;
    }
    banyan_client_options_t o = {.public_key = pub, .secret_key = sec};
    errno = 0;
    ok(!banyan_client_connect(endpoint, &o, &err) && errno == EINVAL &&
           strstr(err.text, "server"),
       "own keys without the server's key are refused: %s", err.text);
    banyan_client_options_t o2 = {.public_key = pub, .secret_key = "short",
                                  .server_key = pub};
    errno = 0;
    ok(!banyan_client_connect(endpoint, &o2, &err) && errno == EINVAL,
       "a malformed key is refused");
}

static void test_curve(void)
{
    if (!srv.curve) {
        ok(1, "# SKIP libzmq without CURVE");
        return;
    }
    banyan_error_t err = {{0}};
    char ep[600], *answer = NULL;
    snprintf(ep, sizeof(ep), "ipc://%s/curve.sock", tap_tmpdir());

    banyan_client_options_t o = {.timeout_ms = 5000,
                                 .server_key = srv.curve_public};
    banyan_client_t *c = banyan_client_connect(ep, &o, &err);
    ok(c != NULL, "a client with only the server's key connects (%s)",
       err.text);
    int rc = banyan_client_query(c, "status", NULL, &answer, &err);
    ok(rc == 0 && answer && strstr(answer, "status"),
       "CURVE: the query is answered with a fresh client key pair (%s)",
       err.text);
    free(answer);
    answer = NULL;
    banyan_client_close(c);

    /* Own key pair and the server key, both from files. */
    char prefix[600], kf[620], sf[620], other[41], osec[41];
    snprintf(prefix, sizeof(prefix), "%s/cli", tap_tmpdir());
    banyan_key_generate(other, osec);
    banyan_key_write(prefix, other, osec, &err);
    snprintf(kf, sizeof(kf), "%s.key", prefix);
    snprintf(prefix, sizeof(prefix), "%s/srv", tap_tmpdir());
    banyan_key_write(prefix, srv.curve_public, srv.curve_secret, &err);
    snprintf(sf, sizeof(sf), "%s.pub", prefix);
    banyan_client_options_t of = {.timeout_ms = 5000, .key_file = kf,
                                  .server_key_file = sf};
    c = banyan_client_connect(ep, &of, &err);
    rc = c ? banyan_client_query(c, "status", NULL, &answer, &err) : -1;
    ok(rc == 0, "CURVE: keys read from key files work (%s)", err.text);
    free(answer);
    answer = NULL;
    banyan_client_close(c);

    /* The wrong server key: the handshake fails, nothing is answered. */
    banyan_client_options_t ow = {.timeout_ms = 600, .server_key = other};
    c = banyan_client_connect(ep, &ow, &err);
    errno = 0;
    rc = banyan_client_query(c, "status", NULL, &answer, &err);
    ok(rc == -1 && errno == ETIMEDOUT,
       "CURVE with the wrong server key: no answer, ETIMEDOUT (%s)",
       err.text);
    banyan_client_close(c);
}

int main(void)
{
    plan(NO_PLAN);
    char ep[600];
    snprintf(ep, sizeof(ep), "ipc://%s/server.sock", tap_tmpdir());
    server_start(ep);

    banyan_client_t *c = connect_fast(endpoint, 5000);
    is_str(banyan_client_endpoint(c), endpoint, "the client keeps its "
                                                "endpoint");
    test_submit(c);
    test_submit_checks(c);
    test_wait_cancel(c);
    test_query(c);
    banyan_client_close(c);
    banyan_client_close(NULL);
    ok(1, "closing NULL is harmless");

    test_timeout();
    test_refused();
    test_signal();
    test_connect_errors();
    test_curve();

    server_stop();
    return done_testing();
}
