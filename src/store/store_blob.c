/* SPDX-License-Identifier: MIT */
/* store_blob.c - content-addressed blobs in the database (schemas 4, 5).
 *
 * The server keeps every blob a client uploads (a file to push to the
 * engines, a job's inputs) so that it survives a restart and can be served
 * again to an engine that joins later: one row in blobs (hash, size) and
 * the bytes in rows of STORE_BLOB_CHUNK in blob_chunks.  The store trusts
 * the hash: whoever calls store_blob_put has checked it, and two rows with
 * the same hash would hold the same bytes, so a second put of a hash is a
 * no-op (INSERT OR IGNORE).
 *
 * Engines fetch blobs chunk by chunk, so reads are by range.  One large
 * value would not do: SQLite keeps it in a chain of overflow pages, and a
 * read at an offset walks the chain from its start, so serving a blob in
 * chunks costs the square of its size in page reads (measured: 8 copies of
 * 20 MB in 1 MiB chunks, 0.57 s against 0.06 s with one walk each).  In
 * rows of one chunk a read costs the pages of its chunk; no handle stays
 * open across the grouped transaction's commits.
 *
 * A server's upload is staged: its chunks go into blob_chunks under the
 * negative number -upload as they arrive, where no blobs row points, and
 * store_blob_stage_end renumbers them to the new blobs row in one
 * savepoint.  So the server never holds a whole blob, and an upload cut
 * short leaves rows that nobody reads: the server drops them
 * (store_blob_stage_drop) once the upload was idle for its bound
 * (server_bcast.c, docs/blobs.md "Uploads that stop"), or at its next
 * start those a stopped server left.
 *
 * Statements are prepared on first use (store__stmt): blobs are rare next to
 * tasks, and this keeps the file independent of the table in store_rows.c.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "store/store_private.h"

enum { HASH_LEN = 32 };

/* Bind the hash as parameter 1 of s.  SQLite result code. */
static int bind_hash(sqlite3_stmt *s, const uint8_t hash[HASH_LEN])
{
    return sqlite3_bind_blob(s, 1, hash, HASH_LEN, SQLITE_TRANSIENT);
}

/* Insert chunk idx of blob (a rowid of blobs). */
static int chunk_put(store_t *st, sqlite3_int64 blob, sqlite3_int64 idx,
                     const void *data, size_t len)
{
    sqlite3_stmt *s = store__stmt(st, "INSERT INTO blob_chunks (blob, idx, "
                                      "data) VALUES (?1, ?2, ?3)");
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, blob);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, idx);
    /* SQLITE_STATIC: the step below runs before this returns, so data
     * outlives it, and a chunk is not copied once more. */
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(s, 3, data, (int)len, SQLITE_STATIC);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    int ret = store__step(st, s, "cannot store a blob");
    sqlite3_clear_bindings(s); /* drop the pointer to the caller's data */
    return ret;
}

/* Insert the blobs row of hash: 1 with *blob its rowid, 0 when the hash
 * is held already, -1 on an error. */
static int blobs_row_insert(store_t *st, const uint8_t hash[32],
                            uint64_t size, sqlite3_int64 *blob)
{
    sqlite3_stmt *s = store__stmt(st, "INSERT OR IGNORE INTO blobs "
                                      "(hash, size) VALUES (?1, ?2)");
    if (!s)
        return -1;
    int rc = bind_hash(s, hash);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)size);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    if (store__step(st, s, "cannot store a blob") < 0)
        return -1;
    if (sqlite3_changes(st->db) == 0)
        return 0;
    *blob = sqlite3_last_insert_rowid(st->db);
    return 1;
}

/* Savepoint "blob" inside the grouped transaction: a blob's rows go in all
 * or none, and a failure takes back nothing else. */
static int savepoint_begin(store_t *st)
{
    if (store__write_begin(st) < 0)
        return -1;
    int rc = sqlite3_exec(st->db, "SAVEPOINT blob", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store__fail(st, rc, "cannot store a blob");
}

/* Close the savepoint, rolled back when ret < 0; returns ret (errno kept)
 * or -1 when the release fails. */
static int savepoint_end(store_t *st, int ret)
{
    int err = errno;
    if (ret < 0)
        (void)sqlite3_exec(st->db, "ROLLBACK TO blob", NULL, NULL, NULL);
    int rc = sqlite3_exec(st->db, "RELEASE blob", NULL, NULL, NULL);
    if (ret == 0 && rc != SQLITE_OK)
        return store__fail(st, rc, "cannot store a blob");
    errno = err;
    return ret;
}

/* The blobs row and the chunk rows of a blob not held yet. */
static int blob_insert(store_t *st, const uint8_t hash[32], const void *data,
                       size_t size)
{
    sqlite3_int64 blob = 0;
    int held = blobs_row_insert(st, hash, size, &blob);
    if (held <= 0)
        return held; /* -1, or 0: held already */
    const char *p = data;
    for (size_t off = 0, i = 0; off < size; off += STORE_BLOB_CHUNK, i++) {
        size_t n = size - off < STORE_BLOB_CHUNK ? size - off
                                                 : STORE_BLOB_CHUNK;
        if (chunk_put(st, blob, (sqlite3_int64)i, p + off, n) < 0)
            return -1;
    }
    return 0;
}

int store_blob_put(store_t *st, const uint8_t hash[32], const void *data,
                   size_t size)
{
    if (!st || !hash || (!data && size > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (savepoint_begin(st) < 0)
        return -1;
    return savepoint_end(st, blob_insert(st, hash, data, size));
}

/* Look up the rowid and size of hash.  0, -1 ENOENT, or -1 on an error. */
static int blob_find(store_t *st, const uint8_t hash[HASH_LEN],
                     sqlite3_int64 *rowid, uint64_t *size)
{
    sqlite3_stmt *s = store__stmt(st, "SELECT rowid, size FROM blobs "
                                      "WHERE hash = ?1");
    if (!s)
        return -1;
    int rc = bind_hash(s, hash);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *rowid = sqlite3_column_int64(s, 0);
        sqlite3_int64 n = sqlite3_column_int64(s, 1);
        *size = n > 0 ? (uint64_t)n : 0; /* a hostile row reads as empty */
    } else if (rc == SQLITE_DONE) {
        ret = store__fail_errno(st, ENOENT, "no such blob");
    } else {
        ret = store__fail(st, rc, "cannot look up a blob");
    }
    int err = errno;
    sqlite3_reset(s);
    errno = err;
    return ret;
}

int store_blob_size(store_t *st, const uint8_t hash[32], uint64_t *size)
{
    if (!st || !hash || !size) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_int64 rowid;
    return blob_find(st, hash, &rowid, size);
}

/* Copy [within, within + len) of chunk idx of blob into buf; *got is the
 * number copied (fewer at the chunk's end).  A missing row is an error: the
 * blobs row promised it. */
static int chunk_read(store_t *st, sqlite3_int64 blob, uint64_t idx,
                      size_t within, void *buf, size_t len, size_t *got)
{
    sqlite3_stmt *s = store__stmt(st, "SELECT data FROM blob_chunks "
                                      "WHERE blob = ?1 AND idx = ?2");
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, blob);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)idx);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        const char *d = sqlite3_column_blob(s, 0);
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        size_t take = within < n ? n - within : 0;
        if (take > len)
            take = len;
        if (take > 0)
            memcpy(buf, d + within, take);
        *got = take;
    } else if (rc == SQLITE_DONE) {
        ret = store__fail_errno(st, EIO, "a blob lacks one of its chunks");
    } else {
        ret = store__fail(st, rc, "cannot read a blob");
    }
    int err = errno;
    sqlite3_reset(s);
    errno = err;
    return ret;
}

int store_blob_read(store_t *st, const uint8_t hash[32], uint64_t offset,
                    void *buf, size_t len, size_t *got)
{
    if (!st || !hash || !got || (!buf && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    *got = 0;
    sqlite3_int64 rowid;
    uint64_t size;
    if (blob_find(st, hash, &rowid, &size) < 0)
        return -1;
    if (offset >= size)
        return 0;
    if (len > size - offset)
        len = (size_t)(size - offset);
    while (*got < len) {
        uint64_t at = offset + *got;
        size_t n = 0;
        if (chunk_read(st, rowid, at / STORE_BLOB_CHUNK,
                       (size_t)(at % STORE_BLOB_CHUNK), (char *)buf + *got,
                       len - *got, &n) < 0)
            return -1;
        if (n == 0) /* a chunk shorter than the size said */
            return store__fail_errno(st, EIO, "a blob is shorter than its "
                                     "size");
        *got += n;
    }
    return 0;
}

/* ------------------------------------------------------------ staging */

int store_blob_stage(store_t *st, int64_t upload, uint64_t idx,
                     const void *data, size_t len)
{
    if (!st || upload <= 0 || (!data && len > 0) || len > STORE_BLOB_CHUNK
        || idx > (uint64_t)INT64_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (store__write_begin(st) < 0)
        return -1;
    return chunk_put(st, -upload, (sqlite3_int64)idx, data ? data : "", len);
}

/* Run sql with ?1 = a, ?2 = b (when not NULL). */
static int exec2(store_t *st, const char *sql, sqlite3_int64 a,
                 const sqlite3_int64 *b, const char *what)
{
    sqlite3_stmt *s = store__stmt(st, sql);
    if (!s)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, a);
    if (rc == SQLITE_OK && b)
        rc = sqlite3_bind_int64(s, 2, *b);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__step(st, s, what);
}

static int stage_finish(store_t *st, int64_t upload, const uint8_t hash[32],
                        uint64_t size)
{
    sqlite3_int64 blob = 0;
    int held = blobs_row_insert(st, hash, size, &blob);
    if (held < 0)
        return -1;
    if (held == 0) /* held already: drop the copy */
        return exec2(st, "DELETE FROM blob_chunks WHERE blob = ?1", -upload,
                     NULL, "cannot drop a staged blob");
    return exec2(st, "UPDATE blob_chunks SET blob = ?2 WHERE blob = ?1",
                 -upload, &blob, "cannot store a blob");
}

int store_blob_stage_end(store_t *st, int64_t upload, const uint8_t hash[32],
                         uint64_t size)
{
    if (!st || upload <= 0 || !hash) {
        errno = EINVAL;
        return -1;
    }
    if (size > (uint64_t)INT64_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (savepoint_begin(st) < 0)
        return -1;
    return savepoint_end(st, stage_finish(st, upload, hash, size));
}

int store_blob_stage_drop(store_t *st, int64_t upload)
{
    if (!st || upload < 0) {
        errno = EINVAL;
        return -1;
    }
    if (store__write_begin(st) < 0)
        return -1;
    if (upload > 0)
        return exec2(st, "DELETE FROM blob_chunks WHERE blob = ?1", -upload,
                     NULL, "cannot drop a staged blob");
    return exec2(st, "DELETE FROM blob_chunks WHERE blob < ?1", 0, NULL,
                 "cannot drop staged blobs");
}
