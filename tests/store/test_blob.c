/* SPDX-License-Identifier: MIT */
/* test_blob.c - blobs in the store (schemas 4 and 5): put is idempotent,
 * ranges read back exactly across the 1 MiB rows, uploads are staged, an
 * absent hash is ENOENT, blobs survive a reopen, and version 3 and 4
 * databases are migrated. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "tap.h"

static char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof(buf[0]), "%s/%s", tap_tmpdir(), name);
    unlink(p);
    return p;
}

/* Run one query on a file with a connection of our own; its first column
 * as an integer, or -1. */
static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK
        && sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK
        && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131u + seed) ^ (i >> 8));
}

enum { BIG = 300000 };

static void test_put_and_read(const char *path)
{
    banyan_error_t err = {{0}};
    store_t *st = store_open(path, NULL, &err);
    ok(st != NULL, "open a new database: %s", err.text);
    if (!st)
        return;
    uint8_t h1[32], h2[32], h3[32];
    memset(h1, 0x11, 32);
    memset(h2, 0x22, 32);
    memset(h3, 0x33, 32);
    uint8_t *big = malloc(BIG);
    fill(big, BIG, 7);

    ok(store_blob_put(st, h1, big, BIG) == 0, "put a 300000-byte blob");
    ok(store_blob_put(st, h1, big, BIG) == 0, "putting it again succeeds");
    ok(store_blob_put(st, h2, "hello", 5) == 0, "put a small blob");
    ok(store_blob_put(st, h3, NULL, 0) == 0, "put an empty blob");
    ok(store_flush(st) == 0, "commit");
    is_int(raw_int(path, "SELECT count(*) FROM blobs"), 3,
           "the blob put twice is stored once");

    uint64_t size = 0;
    ok(store_blob_size(st, h1, &size) == 0 && size == BIG,
       "size of the big blob");
    ok(store_blob_size(st, h3, &size) == 0 && size == 0,
       "size of the empty blob is 0");

    uint8_t *buf = malloc(BIG);
    size_t got = 1;
    ok(store_blob_read(st, h1, 0, buf, BIG, &got) == 0 && got == BIG
           && memcmp(buf, big, BIG) == 0,
       "read the whole blob back");
    ok(store_blob_read(st, h1, 12345, buf, 1000, &got) == 0 && got == 1000
           && memcmp(buf, big + 12345, 1000) == 0,
       "read a range in the middle");
    ok(store_blob_read(st, h1, BIG - 10, buf, 1000, &got) == 0 && got == 10
           && memcmp(buf, big + BIG - 10, 10) == 0,
       "a range past the end is cut short");
    got = 1;
    ok(store_blob_read(st, h1, BIG, buf, 1000, &got) == 0 && got == 0,
       "a range at the end reads nothing");
    got = 1;
    ok(store_blob_read(st, h1, (uint64_t)BIG * 10, buf, 1000, &got) == 0
           && got == 0,
       "a range far past the end reads nothing");
    ok(store_blob_read(st, h2, 1, buf, 3, &got) == 0 && got == 3
           && memcmp(buf, "ell", 3) == 0,
       "a range of the small blob");
    got = 1;
    ok(store_blob_read(st, h3, 0, buf, 10, &got) == 0 && got == 0,
       "the empty blob reads nothing");

    uint8_t absent[32];
    memset(absent, 0x44, 32);
    errno = 0;
    ok(store_blob_size(st, absent, &size) < 0 && errno == ENOENT,
       "the size of an absent blob is ENOENT");
    errno = 0;
    ok(store_blob_read(st, absent, 0, buf, 10, &got) < 0 && errno == ENOENT,
       "reading an absent blob is ENOENT");
    errno = 0;
    ok(store_blob_put(st, h1, NULL, 5) < 0 && errno == EINVAL,
       "NULL data with a size is EINVAL");
    store_close(st);

    /* Reopen, also read-only: the blobs were committed. */
    st = store_open(path, NULL, &err);
    ok(st && store_blob_read(st, h1, 250000, buf, 50000, &got) == 0
           && got == 50000 && memcmp(buf, big + 250000, 50000) == 0,
       "the blob survives a reopen");
    store_close(st);
    store_options_t ro = {.readonly = true};
    st = store_open(path, &ro, &err);
    ok(st && store_blob_size(st, h2, &size) == 0 && size == 5,
       "a reader sees the blobs");
    errno = 0;
    ok(st && store_blob_put(st, absent, "x", 1) < 0 && errno == EROFS,
       "a reader cannot put a blob");
    store_close(st);
    free(buf);
    free(big);
}

/* A blob of several rows: reads across their borders. */
static void test_chunks(const char *path)
{
    enum { MIB = STORE_BLOB_CHUNK, SIZE = 2 * STORE_BLOB_CHUNK + MIB / 2 };
    banyan_error_t err = {{0}};
    store_t *st = store_open(path, NULL, &err);
    uint8_t h[32];
    memset(h, 0x55, 32);
    uint8_t *big = malloc(SIZE), *buf = malloc(SIZE);
    fill(big, SIZE, 3);
    ok(st && store_blob_put(st, h, big, SIZE) == 0 && store_flush(st) == 0,
       "put a blob of 2.5 chunks");
    is_int(raw_int(path, "SELECT count(*) FROM blob_chunks"), 3,
           "it is kept in three rows");
    size_t got = 0;
    ok(store_blob_read(st, h, 0, buf, SIZE, &got) == 0 && got == SIZE
           && memcmp(buf, big, SIZE) == 0,
       "the whole blob reads back across the rows");
    ok(store_blob_read(st, h, MIB - 7, buf, MIB + 14, &got) == 0
           && got == MIB + 14 && memcmp(buf, big + MIB - 7, got) == 0,
       "a range over two borders");
    ok(store_blob_read(st, h, 2 * MIB, buf, MIB, &got) == 0
           && got == MIB / 2 && memcmp(buf, big + 2 * MIB, got) == 0,
       "the last chunk, cut at the end");
    store_close(st);
    ok(raw_exec(path, "DELETE FROM blob_chunks WHERE idx = 1") == 0,
       "lose a row behind the store's back");
    st = store_open(path, NULL, &err);
    errno = 0;
    ok(st && store_blob_read(st, h, MIB, buf, 10, &got) < 0 && errno == EIO
           && strstr(store_last_error(st), "lacks one of its chunks"),
       "a missing row is an error, not short data");
    store_close(st);
    free(big);
    free(buf);
}

/* Uploads staged chunk by chunk: invisible until the end, all or nothing,
 * dropped when cut short. */
static void test_stage(const char *path)
{
    enum { MIB = STORE_BLOB_CHUNK, SIZE = 2 * STORE_BLOB_CHUNK + 77 };
    banyan_error_t err = {{0}};
    store_t *st = store_open(path, NULL, &err);
    uint8_t h[32], *big = malloc(SIZE), *buf = malloc(SIZE);
    memset(h, 0x88, 32);
    fill(big, SIZE, 5);
    int bad = 0;
    for (uint64_t i = 0; i * MIB < SIZE; i++)
        bad += store_blob_stage(st, 1, i, big + i * MIB,
                                SIZE - i * MIB < MIB ? SIZE - i * MIB : MIB)
               < 0;
    uint64_t size = 0;
    errno = 0;
    ok(bad == 0 && store_blob_size(st, h, &size) < 0 && errno == ENOENT,
       "three staged chunks: the blob is not there yet");
    ok(store_blob_stage_end(st, 1, h, SIZE) == 0 && store_flush(st) == 0,
       "the end of the upload makes it a blob");
    size_t got = 0;
    ok(store_blob_read(st, h, 0, buf, SIZE, &got) == 0 && got == SIZE
           && memcmp(buf, big, SIZE) == 0,
       "which reads back whole");
    for (uint64_t i = 0; i < 3; i++)
        store_blob_stage(st, 2, i, big + i * MIB,
                         SIZE - i * MIB < MIB ? SIZE - i * MIB : MIB);
    ok(store_blob_stage_end(st, 2, h, SIZE) == 0 && store_flush(st) == 0
           && raw_int(path, "SELECT count(*) FROM blob_chunks") == 3,
       "a second upload of a held blob leaves no rows behind");
    store_blob_stage(st, 3, 0, big, MIB);
    store_blob_stage(st, 4, 0, big, MIB);
    store_blob_stage(st, 4, 1, big, MIB);
    ok(store_blob_stage_drop(st, 3) == 0 && store_flush(st) == 0
           && raw_int(path, "SELECT count(*) FROM blob_chunks") == 5,
       "dropping one upload drops its rows only");
    ok(store_blob_stage_drop(st, 0) == 0 && store_flush(st) == 0
           && raw_int(path, "SELECT count(*) FROM blob_chunks") == 3,
       "dropping all (a server's start) drops every staged row");
    errno = 0;
    ok(store_blob_stage(st, 0, 0, big, 1) < 0 && errno == EINVAL,
       "upload 0 is refused");
    errno = 0;
    ok(store_blob_stage(st, 5, 0, big, MIB + 1) < 0 && errno == EINVAL,
       "a chunk longer than a row is refused");
    store_close(st);
    free(big);
    free(buf);
}

/* A version 4 database: blobs kept whole in blobs.data are cut into rows
 * by the migration to 5. */
static void test_migration_v4(void)
{
    enum { SIZE = 2 * STORE_BLOB_CHUNK + 1000 };
    char *path = tmp_path("v4.db");
    banyan_error_t err = {{0}};
    store_t *st = store_open(path, NULL, &err);
    store_close(st);
    ok(raw_exec(path, "DROP TABLE blob_chunks; DROP TABLE blobs;"
                      "DROP TABLE server_state;"
                      "CREATE TABLE blobs (hash BLOB PRIMARY KEY, size "
                      "INTEGER NOT NULL, data BLOB NOT NULL);"
                      "PRAGMA user_version = 4;") == 0,
       "make it a version 4 file");
    uint8_t *big = malloc(SIZE), *buf = malloc(SIZE);
    fill(big, SIZE, 9);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO blobs VALUES (?1, ?2, ?3)",
                                -1, &s, NULL);
    uint8_t h[2][32];
    memset(h[0], 0x66, 32);
    memset(h[1], 0x77, 32);
    for (int i = 0; i < 2 && rc == SQLITE_OK; i++) {
        size_t n = i == 0 ? SIZE : 0; /* a big one and an empty one */
        sqlite3_bind_blob(s, 1, h[i], 32, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
        sqlite3_bind_blob(s, 3, n ? (const void *)big : "", (int)n,
                          SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    ok(rc == SQLITE_OK, "two blobs stored whole, version 4 style");

    err.text[0] = '\0';
    st = store_open(path, NULL, &err);
    ok(st != NULL, "a writer migrates version 4 to 5: %s", err.text);
    is_int(raw_int(path, "SELECT count(*) FROM blob_chunks"), 3,
           "the big blob is cut into three rows, the empty one into none");
    size_t got = 0;
    uint64_t size = 1;
    ok(st && store_blob_read(st, h[0], 0, buf, SIZE, &got) == 0
           && got == SIZE && memcmp(buf, big, SIZE) == 0,
       "its bytes read back the same");
    ok(st && store_blob_size(st, h[1], &size) == 0 && size == 0
           && store_blob_read(st, h[1], 0, buf, 10, &got) == 0 && got == 0,
       "the empty blob is still there, empty");
    is_int(raw_int(path, "SELECT count(*) FROM pragma_table_info('blobs') "
                         "WHERE name = 'data'"), 0,
           "the whole values are gone from blobs");
    store_close(st);
    free(big);
    free(buf);
}

/* A version 3 database: today's file without the blobs tables. */
static void test_migration(void)
{
    char *path = tmp_path("v3.db");
    banyan_error_t err = {{0}};
    store_t *st = store_open(path, NULL, &err);
    store_run_t run = {.kind = "run", .command = "echo old",
                       .state = "done", .created = 1};
    ok(st && store_run_create(st, &run, &err) == 0, "a run in the old file");
    store_close(st);
    ok(raw_exec(path, "DROP TABLE blob_chunks; DROP TABLE blobs;"
                      "DROP TABLE server_state; PRAGMA user_version = 3;")
           == 0,
       "make it a version 3 file");

    store_options_t ro = {.readonly = true};
    st = store_open(path, &ro, &err);
    ok(st == NULL && errno == ENOTSUP,
       "a reader refuses the version 3 file it cannot migrate");
    err.text[0] = '\0';
    st = store_open(path, NULL, &err);
    ok(st != NULL, "a writer migrates version 3 to %d: %s",
       STORE_SCHEMA_VERSION, err.text);
    is_int(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION,
           "the file is now at version %d", STORE_SCHEMA_VERSION);
    is_int(raw_int(path, "SELECT count(*) FROM runs"), 1,
           "the old run is kept");
    uint8_t h[32];
    memset(h, 0xab, 32);
    uint64_t size = 0;
    ok(st && store_blob_put(st, h, "abc", 3) == 0
           && store_blob_size(st, h, &size) == 0 && size == 3,
       "the migrated file holds blobs");
    store_close(st);
}

int main(void)
{
    plan(NO_PLAN);
    test_put_and_read(tmp_path("blob.db"));
    test_chunks(tmp_path("chunks.db"));
    test_stage(tmp_path("stage.db"));
    test_migration_v4();
    test_migration();
    return done_testing();
}
