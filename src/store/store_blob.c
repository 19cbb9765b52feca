/* SPDX-License-Identifier: MIT */
/* store_blob.c - content-addressed blobs in the database (schema 4).
 *
 * The server keeps every blob a client uploads (a file to push to the
 * engines, a job's inputs) in the table blobs, keyed by its 32-byte hash, so
 * that it survives a restart and can be served again to an engine that joins
 * later.  The store trusts the hash: whoever calls store_blob_put has
 * checked it, and two rows with the same hash would hold the same bytes, so
 * a second put of a hash is a no-op (INSERT OR IGNORE).
 *
 * Engines fetch blobs in chunks, so reads are by range.  A range is read
 * with SQLite's incremental blob I/O (sqlite3_blob_open on the row's rowid),
 * which touches only the pages of that range, not the whole value as
 * substr() would: serving a 1 GB blob in 256 KiB chunks then costs 1 GB of
 * reads, not 4000 GB.  The rowid and size come from a cached statement; the
 * blob handle lives for one call only, so no read is left open across the
 * grouped transaction's commits.
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

int store_blob_put(store_t *st, const uint8_t hash[32], const void *data,
                   size_t size)
{
    if (!st || !hash || (!data && size > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (size > (size_t)INT_MAX) /* SQLITE_MAX_LENGTH is below 2^31 */
        return store__fail_errno(st, E2BIG, "a blob of 2 GiB or more "
                                 "cannot be stored");
    if (store__write_begin(st) < 0)
        return -1;
    sqlite3_stmt *s = store__stmt(st, "INSERT OR IGNORE INTO blobs "
                                      "(hash, size, data) VALUES (?1, ?2, ?3)");
    if (!s)
        return -1;
    int rc = bind_hash(s, hash);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)size);
    /* SQLITE_STATIC: the step below runs before this returns, so data
     * outlives it, and a large blob is not copied once more.  A NULL data
     * would bind SQL NULL, which NOT NULL refuses: bind an empty blob. */
    if (rc == SQLITE_OK)
        rc = size > 0 ? sqlite3_bind_blob64(s, 3, data, size, SQLITE_STATIC)
                      : sqlite3_bind_zeroblob(s, 3, 0);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    int ret = store__step(st, s, "cannot store a blob");
    sqlite3_clear_bindings(s); /* drop the pointer to the caller's data */
    return ret;
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
    if (offset >= size || len == 0)
        return 0;
    sqlite3_blob *b = NULL;
    int rc = sqlite3_blob_open(st->db, "main", "blobs", "data", rowid, 0, &b);
    if (rc != SQLITE_OK) {
        store__fail(st, rc, "cannot open a blob");
        int err = errno;
        sqlite3_blob_close(b); /* SQLite may hand back a handle to free */
        errno = err;
        return -1;
    }
    /* Trust the value, not the size column, for the bounds. */
    uint64_t real = (uint64_t)sqlite3_blob_bytes(b);
    size_t n = 0;
    if (offset < real) {
        uint64_t left = real - offset;
        n = left < len ? (size_t)left : len;
        rc = sqlite3_blob_read(b, buf, (int)n, (int)offset);
    }
    if (rc != SQLITE_OK) {
        store__fail(st, rc, "cannot read a blob");
        int err = errno;
        sqlite3_blob_close(b);
        errno = err;
        return -1;
    }
    sqlite3_blob_close(b);
    *got = n;
    return 0;
}
