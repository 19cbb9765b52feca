/* SPDX-License-Identifier: MIT */
/* test_blob_uploads.c - blob uploads that stop (issue 17): an upload whose
 * client vanished is dropped from the database and from memory after
 * BANYAN_BLOB_PUT_IDLE_MS, and counted; too many uploads at once, on the
 * server or from one connection, are refused with EBUSY.
 *
 * Before the fix, 100 clients that each sent the first chunk of an upload
 * and vanished left 100 MB in the database until the server restarted (or
 * for a fixed 60 s, neither counted nor bounded). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "blob/blob.h"
#include "harness.h"
#include "tap.h"

enum { UPLOAD_BYTES = 3 << 20 }; /* 3 chunks: one is sent, then silence */

static void send_msg(fake_t *f, msg_t *m)
{
    if (msg_sock_send(f->sock, NULL, m) < 0)
        diag("%s not sent", msg_type_name(m->type));
}

/* The first chunk of an upload of UPLOAD_BYTES named by `seed`. */
static void put_first(fake_t *c, uint64_t request, uint8_t seed,
                      const uint8_t *chunk)
{
    uint8_t hash[MSG_HASH_LEN];
    memset(hash, seed, sizeof(hash));
    msg_t m = {.type = MSG_BLOB_PUT};
    m.u.blob_data.request = request;
    m.u.blob_data.hash = hash;
    m.u.blob_data.offset = 0;
    m.u.blob_data.total = UPLOAD_BYTES;
    m.u.blob_data.len = MSG_BLOB_CHUNK;
    m.u.blob_data.data = chunk;
    send_msg(c, &m);
}

/* "tree"."blobs" of a status answer (caller decrefs *root). */
static json_t *blobs(harness_t *h, fake_t *c, uint64_t request,
                     json_t **root)
{
    c_query(c, request, "status", "{}");
    msg_t *r = c_wait_reply(h, c, request, 5000);
    *root = r && r->type == MSG_ANSWER
                ? json_loads(r->u.answer.json, 0, NULL)
                : NULL;
    return json_object_get(json_object_get(*root, "tree"), "blobs");
}

static json_int_t blob_count(harness_t *h, fake_t *c, uint64_t request,
                             const char *what)
{
    json_t *root;
    json_int_t n = json_integer_value(
        json_object_get(blobs(h, c, request, &root), what));
    json_decref(root);
    return n;
}

/* Staged chunk rows (blob < 0) in the database; -1 on an error. */
static int64_t staged_rows(const char *db)
{
    sqlite3 *d = NULL;
    sqlite3_stmt *s = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
        && sqlite3_prepare_v2(d, "SELECT count(*) FROM blob_chunks WHERE "
                                 "blob < 0", -1, &s, NULL) == SQLITE_OK
        && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(d);
    return n;
}

typedef struct until {
    harness_t *h;
    fake_t *c;
    uint64_t request;
    const char *what;
    json_int_t want;
} until_t;

static bool count_is(void *arg)
{
    until_t *u = arg;
    return blob_count(u->h, u->c, ++u->request, u->what) == u->want;
}

/* Rows are committed with the grouped commit after they are written: the
 * test polls for them. */
typedef struct rows {
    const char *db;
    int64_t want;
} rows_t;

static bool rows_are(void *arg)
{
    rows_t *r = arg;
    return staged_rows(r->db) == r->want;
}

static void test_expiry(const uint8_t *chunk)
{
    harness_t h;
    h_init(&h, "expiry");
    setenv("BANYAN_BLOB_PUT_IDLE_MS", "300", 1);
    server_options_t o = {.heartbeat_ms = 100};
    ok(h_server(&h, &o) != NULL, "server starts with a 300 ms upload idle");
    fake_t *q = h_fake(&h);
    fake_t *gone[3];
    for (int i = 0; i < 3; i++) {
        gone[i] = h_fake(&h);
        put_first(gone[i], 1, (uint8_t)(0x10 + i), chunk);
    }
    until_t u = {&h, q, 100, "uploads", 3};
    ok(h_run_until(&h, count_is, &u, 10000), "three uploads are under way");
    rows_t rows = {h.db, 3};
    ok(h_run_until(&h, rows_are, &rows, 10000), "their first chunks are "
       "staged in the database");
    for (int i = 0; i < 3; i++)
        h_fake_close(&h, gone[i]);
    u.what = "expired";
    ok(h_run_until(&h, count_is, &u, 15000),
       "the uploads of the clients that vanished expire and are counted");
    ok(blob_count(&h, q, ++u.request, "uploads") == 0,
       "and are no longer under way");
    rows.want = 0;
    ok(h_run_until(&h, rows_are, &rows, 10000),
       "their staged chunks left the database");
    ok(blob_count(&h, q, ++u.request, "idle_ms") == 300,
       "status shows the idle bound in use");
    unsetenv("BANYAN_BLOB_PUT_IDLE_MS");
    h_fini(&h);
}

static void test_bounds(const uint8_t *chunk)
{
    harness_t h;
    h_init(&h, "bounds");
    ok(h_server(&h, NULL) != NULL, "server starts");
    fake_t *c = h_fake(&h);
    for (int i = 0; i < 4; i++)
        put_first(c, (uint64_t)(1 + i), (uint8_t)(0x20 + i), chunk);
    put_first(c, 5, 0x30, chunk);
    msg_t *r = c_wait_reply(&h, c, 5, 5000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == EBUSY
       && strstr(r->u.error.text, "from this connection"),
       "a fifth upload from one connection is refused (EBUSY)");
    if (r && r->type == MSG_ERROR)
        diag("%s", r->u.error.text);
    bool none = true;
    for (uint64_t i = 1; i <= 4; i++)
        none &= c_reply(c, i) == NULL;
    ok(none, "the four under way are not refused");
    /* Seven more connections, four each: 32 on the server. */
    fake_t *more[7];
    for (int k = 0; k < 7; k++) {
        more[k] = h_fake(&h);
        for (int i = 0; i < 4; i++)
            put_first(more[k], (uint64_t)(1 + i),
                      (uint8_t)(0x40 + k * 4 + i), chunk);
    }
    fake_t *q = h_fake(&h);
    until_t u = {&h, q, 100, "uploads", 32};
    ok(h_run_until(&h, count_is, &u, 15000), "32 uploads are under way");
    fake_t *last = h_fake(&h);
    put_first(last, 9, 0x7f, chunk);
    r = c_wait_reply(&h, last, 9, 5000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == EBUSY
       && strstr(r->u.error.text, "on the server"),
       "a 33rd upload on the server is refused (EBUSY)");
    if (r && r->type == MSG_ERROR)
        diag("%s", r->u.error.text);
    ok(blob_count(&h, q, ++u.request, "refused") == 2,
       "status counts the two refusals");
    /* An upload that ends frees its place: the empty blob, in one
     * chunk, is stored and a new one may start. */
    blob_id_t id;
    blob_hash("", 0, &id);
    msg_t m = {.type = MSG_BLOB_PUT};
    m.u.blob_data.request = 10;
    m.u.blob_data.hash = id.bytes;
    m.u.blob_data.data = NULL;
    send_msg(last, &m);
    r = c_wait_reply(&h, last, 10, 5000);
    ok(r && r->type == MSG_ERROR && r->u.error.code == EBUSY,
       "even a one-chunk upload waits for room");
    h_fini(&h);
}

int main(void)
{
    uint8_t *chunk = malloc(MSG_BLOB_CHUNK);
    if (!chunk)
        return 1;
    memset(chunk, 0xab, MSG_BLOB_CHUNK);
    test_expiry(chunk);
    test_bounds(chunk);
    free(chunk);
    return done_testing();
}
