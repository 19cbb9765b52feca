/* SPDX-License-Identifier: MIT */
/* test_blob.c - blob uploads, broadcasts and jobs with blobs, against a
 * fake server.
 *
 * The fake server (a ROUTER on ipc:// in a second thread, as in
 * test_client.c) assembles BLOB_PUT chunks, checks their hash with
 * blob_hash and answers the last chunk as the real server does, records
 * every chunk (request id, offset, length) so that the chunking can be
 * checked, and echoes BROADCAST and SUBMIT fields back.  Rules by content:
 * a blob whose first byte is 'R' is refused at its first chunk (ENOSPC), one
 * that begins with "LIE" is answered with the wrong size.
 *
 * The same fake server then answers the banyan command ($BANYAN_BIN, when
 * the test runs under ctest): `broadcast` output and exit codes, and
 * `status --tree` on a tree with an orphan and a cycle in it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <banyan/client.h>
#include <uv.h>

#include "blob/blob.h"
#include "msg/msg.h"
#include "tap.h"

enum { MAX_CHUNKS = 64 };

static struct server {
    uv_loop_t loop;
    uv_async_t stop;
    msg_sock_t *sock;
    pthread_t thread;
    pthread_mutex_t lock;
    /* the upload in progress / last finished */
    uint8_t *data;
    uint64_t total;
    uint8_t hash[32];
    unsigned nchunks;
    uint64_t request[MAX_CHUNKS], offset[MAX_CHUNKS];
    uint32_t len[MAX_CHUNKS];
    bool refused;                /* the upload was refused: ignore the rest */
    uint8_t stored[32];          /* the last blob stored, for "blob" queries */
    uint64_t stored_size;
    unsigned blob_queries;
    unsigned chunks_total;       /* BLOB_PUTs received, ever */
    /* the last broadcast */
    unsigned nbroadcasts;
    uint32_t bwords;
    char bword0[32];
    bool bblob;
    uint8_t bhash[32];
    uint32_t btimeout_ms;
    bool bwant_output;
    const char *status_json;     /* the answer to a "status" query */
    /* the last submit */
    uint32_t nblobs;
    uint8_t blobs[4][32];
    uint32_t flags;
} srv;

static void reply(const msg_peer_t *to, const msg_t *m)
{
    if (msg_sock_send(srv.sock, to, m) < 0)
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

static void answer(const msg_peer_t *to, uint64_t request, const char *json)
{
    msg_t a = {.type = MSG_ANSWER};
    a.u.answer.request = request;
    a.u.answer.json = json;
    reply(to, &a);
}

static void on_blob_put(const msg_peer_t *from, const msg_blob_data_t *d)
{
    if (d->offset == 0) { /* a new upload */
        free(srv.data);
        srv.data = malloc(d->total ? d->total : 1);
        srv.total = d->total;
        srv.nchunks = 0;
        srv.refused = false;
        memcpy(srv.hash, d->hash, 32);
    }
    srv.chunks_total++;
    if (srv.nchunks < MAX_CHUNKS) {
        srv.request[srv.nchunks] = d->request;
        srv.offset[srv.nchunks] = d->offset;
        srv.len[srv.nchunks] = d->len;
    }
    srv.nchunks++;
    if (srv.refused)
        return;
    if (d->offset == 0 && d->len && ((const char *)d->data)[0] == 'R') {
        srv.refused = true;
        reply_error(from, d->request, ENOSPC, "the server's disk is full");
        return;
    }
    if (d->offset + d->len > srv.total || memcmp(d->hash, srv.hash, 32)) {
        reply_error(from, d->request, EINVAL, "chunk out of place");
        return;
    }
    memcpy(srv.data + d->offset, d->data, d->len);
    if (d->offset + d->len < srv.total)
        return;
    blob_id_t id;
    blob_hash(srv.data, srv.total, &id);
    if (memcmp(id.bytes, srv.hash, 32)) {
        reply_error(from, d->request, EINVAL, "the hash does not match");
        return;
    }
    char hex[BLOB_HEX_LEN + 1], json[200];
    blob_id_format(&id, hex);
    bool lie = srv.total >= 3 && !memcmp(srv.data, "LIE", 3);
    memcpy(srv.stored, id.bytes, 32);
    srv.stored_size = srv.total;
    snprintf(json, sizeof(json), "{\"hash\":\"%s\",\"size\":%llu}", hex,
             (unsigned long long)srv.total + (lie ? 1 : 0));
    answer(from, d->request, json);
}

static void on_broadcast(const msg_peer_t *from, const msg_broadcast_t *b)
{
    srv.nbroadcasts++;
    srv.bwords = b->nwords;
    snprintf(srv.bword0, sizeof(srv.bword0), "%s",
             b->nwords ? b->words[0] : "");
    srv.bblob = b->blob != NULL;
    if (b->blob)
        memcpy(srv.bhash, b->blob, 32);
    srv.btimeout_ms = b->timeout_ms;
    srv.bwant_output = b->want_output;
    if (b->nwords && !strcmp(b->words[0], "silent"))
        return;
    if (b->nwords && !strcmp(b->words[0], "noblob")) {
        reply_error(from, b->request, ENOENT, "no such blob");
        return;
    }
    if (b->nwords && !strcmp(b->words[0], "allok")) {
        answer(from, b->request,
               "{\"id\":2,\"engines\":1,\"ok\":1,\"failed\":0,"
               "\"missing\":0,\"ms\":0.5,\"outputs\":[{\"node\":4,"
               "\"exit\":0,\"out\":\"a\\nb\\n\"}]}");
        return;
    }
    if (b->nwords && !strcmp(b->words[0], "missing")) {
        answer(from, b->request,
               "{\"id\":3,\"engines\":2,\"ok\":1,\"failed\":0,"
               "\"missing\":1,\"ms\":30000,\"outputs\":[]}");
        return;
    }
    answer(from, b->request,
           "{\"id\":1,\"engines\":2,\"ok\":1,\"failed\":1,\"missing\":0,"
           "\"ms\":1.5,\"outputs\":[{\"node\":1,\"exit\":0,\"out\":\"hi\"},"
           "{\"node\":2,\"exit\":3,\"out\":\"\"}]}");
}

static void on_submit(const msg_peer_t *from, const msg_submit_t *s)
{
    srv.nblobs = s->job.nblobs;
    for (uint32_t i = 0; i < s->job.nblobs && i < 4; i++)
        memcpy(srv.blobs[i], s->job.blobs[i], 32);
    srv.flags = s->job.flags;
    msg_t a = {.type = MSG_SUBMITTED};
    a.u.submitted.request = s->request;
    a.u.submitted.job = 5;
    a.u.submitted.ntasks = 1;
    reply(from, &a);
}

static void on_query(const msg_peer_t *from, const msg_query_t *q)
{
    if (q->what && !strcmp(q->what, "blob")) { /* as the real server */
        srv.blob_queries++;
        char hex[BLOB_HEX_LEN + 1], json[200];
        blob_id_t stored;
        memcpy(stored.bytes, srv.stored, 32);
        blob_id_format(&stored, hex);
        if (q->args_json && strstr(q->args_json, hex))
            snprintf(json, sizeof(json), "{\"hash\":\"%s\",\"held\":true,"
                     "\"size\":%llu}", hex,
                     (unsigned long long)srv.stored_size);
        else
            snprintf(json, sizeof(json), "{\"held\":false}");
        answer(from, q->request, json);
        return;
    }
    answer(from, q->request, srv.status_json ? srv.status_json : "{}");
}

static void on_server_recv(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                           void *arg)
{
    (void)s;
    (void)arg;
    pthread_mutex_lock(&srv.lock);
    switch (m->type) {
    case MSG_BLOB_PUT: on_blob_put(from, &m->u.blob_data); break;
    case MSG_BROADCAST: on_broadcast(from, &m->u.broadcast); break;
    case MSG_SUBMIT: on_submit(from, &m->u.submit); break;
    case MSG_QUERY: on_query(from, &m->u.query); break;
    default: break;
    }
    pthread_mutex_unlock(&srv.lock);
    msg_free(m);
}

static void on_stop(uv_async_t *a)
{
    msg_sock_close(srv.sock);
    srv.sock = NULL;
    uv_close((uv_handle_t *)a, NULL);
}

static void *server_main(void *arg)
{
    (void)arg;
    uv_run(&srv.loop, UV_RUN_DEFAULT);
    return NULL;
}

static char endpoint[600];

static void server_start(void)
{
    banyan_error_t err = {{0}};
    char ep[600];
    snprintf(ep, sizeof(ep), "ipc://%s/blob-server.sock", tap_tmpdir());
    pthread_mutex_init(&srv.lock, NULL);
    if (uv_loop_init(&srv.loop) < 0
        || uv_async_init(&srv.loop, &srv.stop, on_stop) < 0)
        bail_out("cannot start the fake server's loop");
    srv.sock = msg_sock_bind(&srv.loop, ep, NULL, on_server_recv, NULL,
                             &err);
    if (!srv.sock)
        bail_out("fake server cannot bind %s: %s", ep, err.text);
    snprintf(endpoint, sizeof(endpoint), "%s", msg_sock_endpoint(srv.sock));
    if (pthread_create(&srv.thread, NULL, server_main, NULL) != 0)
        bail_out("cannot start the fake server's thread");
}

static void server_stop(void)
{
    uv_async_send(&srv.stop);
    pthread_join(srv.thread, NULL);
    uv_loop_close(&srv.loop);
    pthread_mutex_destroy(&srv.lock);
    free(srv.data);
}

static banyan_client_t *connect_to(const char *ep, int timeout_ms)
{
    banyan_client_options_t o = {.timeout_ms = timeout_ms};
    banyan_error_t err = {{0}};
    banyan_client_t *c = banyan_client_connect(ep, &o, &err);
    if (!c)
        bail_out("connect %s: %s", ep, err.text);
    return c;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 7u + seed) ^ (i >> 10));
}

/* Did the server see n chunks of one request id, each MSG_BLOB_CHUNK but
 * the last, in order, and assemble exactly data? */
static bool chunks_ok(const uint8_t *data, uint64_t size, unsigned n)
{
    pthread_mutex_lock(&srv.lock);
    bool good = srv.nchunks == n && srv.total == size
                && (size == 0 || memcmp(srv.data, data, size) == 0);
    for (unsigned i = 0; good && i < n; i++) {
        uint64_t want_len = size - i * (uint64_t)MSG_BLOB_CHUNK;
        if (want_len > MSG_BLOB_CHUNK)
            want_len = MSG_BLOB_CHUNK;
        good = srv.request[i] == srv.request[0]
               && srv.offset[i] == i * (uint64_t)MSG_BLOB_CHUNK
               && srv.len[i] == want_len;
    }
    pthread_mutex_unlock(&srv.lock);
    return good;
}

static uint64_t last_request(void)
{
    pthread_mutex_lock(&srv.lock);
    uint64_t r = srv.request[0];
    pthread_mutex_unlock(&srv.lock);
    return r;
}

static void test_put(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    uint8_t hash[32];
    blob_id_t want;

    blob_hash("hello", 5, &want);
    ok(banyan_client_blob_put(c, "hello", 5, hash, &err) == 0,
       "put a small blob: %s", err.text);
    ok(!memcmp(hash, want.bytes, 32), "its name is its BLAKE2b-256 hash");
    ok(chunks_ok((const uint8_t *)"hello", 5, 1), "one chunk");
    uint64_t first_request = last_request();

    blob_hash(NULL, 0, &want);
    ok(banyan_client_blob_put(c, NULL, 0, hash, &err) == 0
           && !memcmp(hash, want.bytes, 32),
       "put an empty blob: %s", err.text);
    ok(chunks_ok(NULL, 0, 1), "an empty blob is one empty chunk");

    size_t size = 2 * MSG_BLOB_CHUNK + MSG_BLOB_CHUNK / 2;
    uint8_t *big = malloc(size);
    fill(big, size, 3);
    blob_hash(big, size, &want);
    ok(banyan_client_blob_put(c, big, size, hash, &err) == 0
           && !memcmp(hash, want.bytes, 32),
       "put a blob of 2.5 chunks: %s", err.text);
    ok(chunks_ok(big, size, 3),
       "three chunks in order, 1 MiB each but the last, one request id");
    ok(last_request() != first_request,
       "each upload has its own request id");
    unsigned queries = srv.blob_queries, sent = srv.chunks_total;
    ok(banyan_client_blob_put(c, big, size, hash, &err) == 0
           && !memcmp(hash, want.bytes, 32),
       "put it again: %s", err.text);
    ok(srv.blob_queries == queries + 1 && srv.chunks_total == sent,
       "the server said it holds it: not one chunk was sent again");
    srv.stored_size++; /* a server holding another size is not believed */
    ok(banyan_client_blob_put(c, big, size, hash, &err) == 0
           && srv.blob_queries == queries + 2 && srv.chunks_total == sent + 3
           && chunks_ok(big, size, 3),
       "a held blob of another size is sent again");

    /* A blob of exactly two chunks: no empty third chunk. */
    ok(banyan_client_blob_put(c, big, 2 * MSG_BLOB_CHUNK, hash, &err) == 0,
       "put a blob of exactly 2 chunks");
    ok(chunks_ok(big, 2 * MSG_BLOB_CHUNK, 2), "two chunks, none empty");
    free(big);
}

static void test_put_file(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    char path[700];
    snprintf(path, sizeof(path), "%s/blob.bin", tap_tmpdir());
    size_t size = 3 * MSG_BLOB_CHUNK + 1;
    uint8_t *data = malloc(size);
    fill(data, size, 11);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        bail_out("cannot write %s", path);
    blob_id_t want;
    uint64_t fsize = 0;
    blob_hash_file(path, &want, &fsize);
    uint8_t hash[32];
    ok(banyan_client_blob_put_file(c, path, hash, &err) == 0,
       "put a file of 3 chunks and a byte: %s", err.text);
    ok(!memcmp(hash, want.bytes, 32), "its name is the file's hash");
    ok(chunks_ok(data, size, 4), "four chunks, the last of one byte");
    free(data);

    char missing[700];
    snprintf(missing, sizeof(missing), "%s/no-such-file", tap_tmpdir());
    errno = 0;
    ok(banyan_client_blob_put_file(c, missing, hash, &err) < 0
           && errno == ENOENT && strstr(err.text, "no-such-file"),
       "a missing file is ENOENT naming it: %s", err.text);
    errno = 0;
    ok(banyan_client_blob_put_file(c, tap_tmpdir(), hash, &err) < 0
           && errno == EINVAL && strstr(err.text, "not a regular file"),
       "a directory is EINVAL: %s", err.text);
}

static void test_put_errors(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    uint8_t hash[32];
    size_t size = 4 * MSG_BLOB_CHUNK;
    uint8_t *data = malloc(size);
    fill(data, size, 5);
    data[0] = 'R';
    errno = 0;
    ok(banyan_client_blob_put(c, data, size, hash, &err) < 0
           && errno == ENOSPC && strstr(err.text, "disk is full"),
       "an upload the server refuses fails with its errno and sentence: %s",
       err.text);

    memcpy(data, "LIE", 3);
    errno = 0;
    ok(banyan_client_blob_put(c, data, 100, hash, &err) < 0
           && errno == EPROTO && strstr(err.text, "does not name"),
       "an answer naming another size is EPROTO: %s", err.text);
    free(data);

    /* The connection still works after both. */
    ok(banyan_client_blob_put(c, "abc", 3, hash, &err) == 0,
       "the next upload works: %s", err.text);
    errno = 0;
    ok(banyan_client_blob_put(c, NULL, 3, hash, &err) < 0 && errno == EINVAL,
       "NULL data with a size is EINVAL");
}

static void test_broadcast(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    char *json = NULL;
    const char *words[] = {"uname", "-n"};
    uint8_t blob[32];
    memset(blob, 0x5a, 32);
    ok(banyan_client_broadcast(c, words, 2, blob, 1500, true, &json, &err)
           == 0 && json && strstr(json, "\"engines\":2"),
       "a broadcast returns the server's JSON: %s", err.text);
    free(json);
    pthread_mutex_lock(&srv.lock);
    ok(srv.bwords == 2 && !strcmp(srv.bword0, "uname") && srv.bblob
           && !memcmp(srv.bhash, blob, 32) && srv.btimeout_ms == 1500
           && srv.bwant_output,
       "the server sees the words, the blob, the timeout, want_output");
    pthread_mutex_unlock(&srv.lock);

    json = NULL;
    ok(banyan_client_broadcast(c, NULL, 0, NULL, 0, false, &json, &err) == 0
           && json,
       "a broadcast with no command: %s", err.text);
    free(json);
    pthread_mutex_lock(&srv.lock);
    ok(srv.bwords == 0 && !srv.bblob && !srv.bwant_output
           && srv.btimeout_ms == BANYAN_BROADCAST_TIMEOUT_MS,
       "no words, no blob, the default timeout");
    pthread_mutex_unlock(&srv.lock);

    const char *noblob[] = {"noblob"};
    errno = 0;
    ok(banyan_client_broadcast(c, noblob, 1, blob, 100, false, &json, &err)
           < 0 && errno == ENOENT && strstr(err.text, "no such blob"),
       "the server's error comes back: %s", err.text);
    const char *bad[] = {"x", NULL};
    errno = 0;
    ok(banyan_client_broadcast(c, bad, 2, NULL, 100, false, &json, &err) < 0
           && errno == EINVAL && strstr(err.text, "word 2"),
       "a NULL word is EINVAL: %s", err.text);

    json = NULL;
    blob_id_t want;
    blob_hash("payload", 7, &want);
    ok(banyan_client_push_blob(c, "payload", 7, 2000, &json, &err) == 0
           && json,
       "push a blob to every engine: %s", err.text);
    free(json);
    pthread_mutex_lock(&srv.lock);
    ok(srv.bwords == 0 && srv.bblob && !memcmp(srv.bhash, want.bytes, 32)
           && srv.btimeout_ms == 2000,
       "push = upload, then a broadcast of that blob with no command");
    pthread_mutex_unlock(&srv.lock);
}

static void test_broadcast_deadline(void)
{
    banyan_client_t *c = connect_to(endpoint, 300);
    banyan_error_t err = {{0}};
    char *json = NULL;
    const char *words[] = {"silent"};
    errno = 0;
    ok(banyan_client_broadcast(c, words, 1, NULL, 200, false, &json, &err)
           < 0 && errno == ETIMEDOUT,
       "a broadcast nobody answers ends at its timeout plus the client's: "
       "%s", err.text);
    banyan_client_close(c);
}

static void test_submit_blobs(banyan_client_t *c)
{
    banyan_error_t err = {{0}};
    const char *w[] = {"cat"};
    uint8_t blobs[2][32];
    memset(blobs[0], 1, 32);
    memset(blobs[1], 2, 32);
    banyan_job_spec_t spec = {.words = w, .nwords = 1, .array_count = 1,
                              .blobs = (const uint8_t(*)[32])blobs,
                              .nblobs = 2, .stdin_blob = true};
    uint32_t job = 0;
    ok(banyan_client_submit(c, &spec, &job, NULL, &err) == 0 && job == 5,
       "submit a job with two blobs: %s", err.text);
    pthread_mutex_lock(&srv.lock);
    ok(srv.nblobs == 2 && !memcmp(srv.blobs[0], blobs[0], 32)
           && !memcmp(srv.blobs[1], blobs[1], 32)
           && srv.flags == MSG_JOB_STDIN_BLOB,
       "the server sees the blobs and the stdin flag");
    pthread_mutex_unlock(&srv.lock);

    spec.nblobs = 17;
    errno = 0;
    ok(banyan_client_submit(c, &spec, &job, NULL, &err) < 0
           && errno == EINVAL && strstr(err.text, "at most 16"),
       "17 blobs are EINVAL: %s", err.text);
    spec.nblobs = 0;
    errno = 0;
    ok(banyan_client_submit(c, &spec, &job, NULL, &err) < 0
           && errno == EINVAL && strstr(err.text, "stdin"),
       "a stdin blob without blobs is EINVAL: %s", err.text);
}

static void test_refused(void)
{
    char ep[700];
    snprintf(ep, sizeof(ep), "ipc://%s/nobody.sock", tap_tmpdir());
    banyan_client_t *c = connect_to(ep, 10000);
    banyan_error_t err = {{0}};
    uint8_t hash[32];
    size_t size = 3 * MSG_BLOB_CHUNK;
    uint8_t *data = calloc(1, size);
    errno = 0;
    ok(banyan_client_blob_put(c, data, size, hash, &err) < 0
           && errno == ECONNREFUSED,
       "an upload to nobody is ECONNREFUSED: %s", err.text);
    free(data);
    char *json = NULL;
    errno = 0;
    ok(banyan_client_broadcast(c, NULL, 0, NULL, 0, false, &json, &err) < 0
           && errno == ECONNREFUSED,
       "a broadcast to nobody is ECONNREFUSED: %s", err.text);
    banyan_client_close(c);
}

/* --------------------------------------------------------- the command */

static char cli_out[700], cli_err[700];

/* Run "$BANYAN_BIN sub --server EP args" against the fake server; its
 * exit code, its stdout and stderr in the files cli_out and cli_err. */
static int run_cli(const char *bin, const char *sub, const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "%s %s --server %s %s >%s 2>%s", bin, sub,
             endpoint, args, cli_out, cli_err);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool file_is(const char *path, const char *want)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    if (strcmp(buf, want) != 0) {
        diag("%s holds:\n%s", path, buf);
        return false;
    }
    return true;
}

static void set_status(const char *json)
{
    pthread_mutex_lock(&srv.lock);
    srv.status_json = json;
    pthread_mutex_unlock(&srv.lock);
}

static void test_cli(void)
{
    const char *bin = getenv("BANYAN_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        diag("no $BANYAN_BIN: the command is not tested here");
        return;
    }
    snprintf(cli_out, sizeof(cli_out), "%s/cli.out", tap_tmpdir());
    snprintf(cli_err, sizeof(cli_err), "%s/cli.err", tap_tmpdir());

    is_int(run_cli(bin, "broadcast", "-- hello"), 1,
           "broadcast: an engine failed: exit 1");
    ok(file_is(cli_out, "node 1: exit 0\n    hi\nnode 2: exit 3\n"),
       "one line per engine, in node order, output tails indented");
    ok(file_is(cli_err, "2 engines: ok 1, failed 1, missing 0, 1.5 ms\n"),
       "the summary on stderr");
    is_int(run_cli(bin, "broadcast", "allok"), 0,
           "every engine succeeded: exit 0");
    ok(file_is(cli_out, "node 4: exit 0\n    a\n    b\n"),
       "each line of a tail is indented");
    is_int(run_cli(bin, "broadcast", "--quiet missing"), 1,
           "an engine missing: exit 1");
    ok(file_is(cli_out, "")
           && file_is(cli_err, "2 engines: ok 1, failed 0, missing 1, "
                               "30000.0 ms\n"),
       "--quiet prints the summary only");
    pthread_mutex_lock(&srv.lock);
    bool quiet_no_output = !srv.bwant_output;
    pthread_mutex_unlock(&srv.lock);
    ok(quiet_no_output, "--quiet does not ask for the engines' output");
    is_int(run_cli(bin, "broadcast", "--json allok"), 0, "--json: exit 0");
    ok(file_is(cli_out, "{\"id\":2,\"engines\":1,\"ok\":1,\"failed\":0,"
                        "\"missing\":0,\"ms\":0.5,\"outputs\":[{\"node\":4,"
                        "\"exit\":0,\"out\":\"a\\nb\\n\"}]}\n"),
       "--json prints the server's answer");
    is_int(run_cli(bin, "broadcast", "noblob"), 2,
           "a broadcast the server refuses: exit 2");
    ok(file_is(cli_err, "banyan broadcast: no such blob\n"),
       "with the server's sentence");

    set_status("{\"server\":{}}");
    is_int(run_cli(bin, "status", "--tree"), 1,
           "status --tree of a server without a tree: exit 1");
    ok(file_is(cli_err, "banyan status: the server does not report a "
                        "tree\n"),
       "saying so");
    /* 0 -> 1 -> 3, 0 -> 2; 7's parent is unknown; 5 and 6 are a cycle. */
    set_status("{\"tree\":{\"fanout\":2,\"depth\":2,\"nodes\":["
               "{\"node\":0,\"parent\":null,\"host\":\"\",\"children\":2,"
               "\"sent\":10,\"received\":12,\"bytes_out\":2048,"
               "\"bytes_in\":100},"
               "{\"node\":2,\"parent\":0,\"host\":\"b\",\"children\":0},"
               "{\"node\":1,\"parent\":0,\"host\":\"a\",\"children\":1},"
               "{\"node\":3,\"parent\":1,\"host\":\"c\",\"children\":0},"
               "{\"node\":7,\"parent\":9,\"host\":\"lost\"},"
               "{\"node\":5,\"parent\":6},{\"node\":6,\"parent\":5}]}}");
    is_int(run_cli(bin, "status", "--tree"), 0, "status --tree: exit 0");
    ok(file_is(cli_out,
               "tree: fanout 2, depth 2, 7 nodes\n"
               "node 0 (root): 2 children, messages sent 10, received 12; "
               "bytes out 2k, in 100\n"
               "  node 1 on a: 1 children, messages sent 0, received 0; "
               "bytes out -, in -\n"
               "    node 3 on c: 0 children, messages sent 0, received 0; "
               "bytes out -, in -\n"
               "  node 2 on b: 0 children, messages sent 0, received 0; "
               "bytes out -, in -\n"
               "node 7 on lost: 0 children, messages sent 0, received 0; "
               "bytes out -, in -\n"
               "node 5: 0 children, messages sent 0, received 0; "
               "bytes out -, in -\n"
               "  node 6: 0 children, messages sent 0, received 0; "
               "bytes out -, in -\n"),
       "the tree, depth first in node order; an orphan and a cycle are "
       "printed once each");
    is_int(run_cli(bin, "status", "--tree --json"), 0, "--tree --json: exit 0");
    FILE *f = fopen(cli_out, "r");
    char line[4096] = "";
    if (f) {
        if (!fgets(line, sizeof(line), f))
            line[0] = '\0';
        fclose(f);
    }
    static const char head[] = "{\"fanout\":2,\"depth\":2,\"nodes\":[";
    ok(!strncmp(line, head, strlen(head)),
       "--json prints the tree object");
}

int main(void)
{
    plan(NO_PLAN);
    server_start();
    banyan_client_t *c = connect_to(endpoint, 5000);
    test_put(c);
    test_put_file(c);
    test_put_errors(c);
    test_broadcast(c);
    test_submit_blobs(c);
    banyan_client_close(c);
    test_broadcast_deadline();
    test_refused();
    test_cli();
    server_stop();
    return done_testing();
}
