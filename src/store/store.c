/* SPDX-License-Identifier: MIT */
/* store.c - opening a banyan database, its schema and its transactions.
 *
 * Opening is careful not to touch a file that is not ours.  In order:
 *
 *   1. stat the path: a directory or a special file is refused; a missing
 *      file is created here with open(O_CREAT | O_EXCL, 0600) (and fchmod,
 *      against a strict umask) so that it is never world-readable, not even
 *      for a moment.  SQLite gives the -wal and -shm files the permissions
 *      of the database file, so they are 0600 as well.
 *   2. sqlite3_open_v2, then only *read* the header: application_id,
 *      user_version and whether sqlite_master has entries.  A file that is
 *      not SQLite, or SQLite without banyan's application_id but with tables,
 *      is "not a banyan database"; a user_version newer than ours is refused.
 *      Nothing has been written to the file up to here.
 *   3. Only then the pragmas that write: journal_mode=WAL, and the migration
 *      of the schema from user_version to STORE_SCHEMA_VERSION in one
 *      IMMEDIATE transaction, which reads the version again under the write
 *      lock so that two processes opening a new file at once migrate it once.
 *
 * If open fails after creating the file, the file is removed again, so a
 * failed store_open leaves nothing behind.
 *
 * Writes are grouped: store__write_begin() opens a transaction with BEGIN
 * IMMEDIATE when none is open and notes the time; store_tick() commits it once
 * it is batch_ms old and store_flush() commits at once.  With WAL and
 * synchronous=NORMAL a commit is an append to the -wal file without fsync:
 * it survives the death of the process, not necessarily a power loss.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_private.h"
#include "util/util.h"

enum {
    DEFAULT_BATCH_MS = 5,
    DEFAULT_BUSY_TIMEOUT_MS = 10000,
};

/* ------------------------------------------------------------- migrations */

/* migrations[v] takes a database from user_version v - 1 to v.  Entries are
 * never edited once released: a change to the schema is a new entry at the
 * end, and STORE_SCHEMA_VERSION in store.h is raised to match. */
static const char *const migrations[] = {
    [0] = NULL, /* version 0 is the empty file */
    [1] = "CREATE TABLE runs ("
          "  id          INTEGER PRIMARY KEY,"
          "  kind        TEXT NOT NULL,"
          "  name        TEXT,"
          "  command     TEXT NOT NULL,"
          "  spec_json   TEXT,"
          "  fingerprint TEXT,"
          "  ntasks      INTEGER NOT NULL DEFAULT 0,"
          "  state       TEXT NOT NULL,"
          "  created     REAL NOT NULL,"
          "  finished    REAL NOT NULL DEFAULT 0,"
          "  host        TEXT,"
          "  cwd         TEXT"
          ");"
          "CREATE INDEX runs_fingerprint ON runs(fingerprint);"
          "CREATE TABLE tasks ("
          "  run_id      INTEGER NOT NULL REFERENCES runs(id),"
          "  seq         INTEGER NOT NULL,"
          "  args_json   TEXT,"
          "  command     TEXT,"
          "  state       TEXT NOT NULL,"
          "  attempt     INTEGER NOT NULL DEFAULT 1,"
          "  exit_code   INTEGER NOT NULL DEFAULT 0,"
          "  signal      INTEGER NOT NULL DEFAULT 0,"
          "  slot        INTEGER NOT NULL DEFAULT 0,"
          "  gpus        TEXT,"
          "  host        TEXT,"
          "  start_time  REAL NOT NULL DEFAULT 0,"
          "  end_time    REAL NOT NULL DEFAULT 0,"
          "  cpu_user    REAL NOT NULL DEFAULT 0,"
          "  cpu_sys     REAL NOT NULL DEFAULT 0,"
          "  peak_rss    INTEGER NOT NULL DEFAULT 0,"
          "  stdout_tail BLOB,"
          "  stderr_tail BLOB,"
          "  reason      TEXT,"
          "  PRIMARY KEY (run_id, seq)"
          ") WITHOUT ROWID;",
    [2] = "CREATE TABLE sweeps ("
          "  id          INTEGER PRIMARY KEY,"
          "  name        TEXT NOT NULL UNIQUE,"
          "  config_path TEXT,"
          "  space       TEXT NOT NULL,"
          "  command     TEXT NOT NULL,"
          "  metric      TEXT NOT NULL,"
          "  maximize    INTEGER NOT NULL DEFAULT 0,"
          "  state       TEXT NOT NULL,"
          "  created     REAL NOT NULL,"
          "  updated     REAL NOT NULL"
          ");"
          "CREATE TABLE experiments ("
          "  sweep_id     INTEGER NOT NULL REFERENCES sweeps(id),"
          "  iter         INTEGER NOT NULL,"
          "  params_json  TEXT NOT NULL,"
          "  point_json   TEXT NOT NULL,"
          "  state        TEXT NOT NULL,"
          "  reason       TEXT,"
          "  metrics_json TEXT,"
          "  objective    REAL,"
          "  gpus         TEXT,"
          "  slot         INTEGER NOT NULL DEFAULT 0,"
          "  exit_code    INTEGER NOT NULL DEFAULT 0,"
          "  signal       INTEGER NOT NULL DEFAULT 0,"
          "  start_time   REAL NOT NULL DEFAULT 0,"
          "  end_time     REAL NOT NULL DEFAULT 0,"
          "  peak_rss     INTEGER NOT NULL DEFAULT 0,"
          "  workdir      TEXT,"
          "  attempt      INTEGER NOT NULL DEFAULT 1,"
          "  PRIMARY KEY (sweep_id, iter)"
          ") WITHOUT ROWID;",
    /* 3: learnt memory estimates, run/sweep usage statistics, where the
     * waiting went, and when each task was queued (store_stats.c). */
    [3] = "CREATE TABLE estimates ("
          "  grp         TEXT PRIMARY KEY,"
          "  count       INTEGER NOT NULL DEFAULT 0,"
          "  mean        REAL NOT NULL DEFAULT 0,"
          "  m2          REAL NOT NULL DEFAULT 0,"
          "  hwm         INTEGER NOT NULL DEFAULT 0,"
          "  floor       INTEGER NOT NULL DEFAULT 0,"
          "  updated     REAL NOT NULL DEFAULT 0"
          ");"
          "CREATE TABLE usage ("
          "  kind        TEXT NOT NULL,"
          "  ref_id      INTEGER NOT NULL,"
          "  engine      TEXT,"
          "  grp         TEXT,"
          "  score       REAL NOT NULL DEFAULT 0,"
          "  slots       INTEGER NOT NULL DEFAULT 0,"
          "  sessions    INTEGER NOT NULL DEFAULT 0,"
          "  wall_s      REAL NOT NULL DEFAULT 0,"
          "  capacity_s  REAL NOT NULL DEFAULT 0,"
          "  busy_s      REAL NOT NULL DEFAULT 0,"
          "  active_s    REAL NOT NULL DEFAULT 0,"
          "  wait_s      REAL NOT NULL DEFAULT 0,"
          "  cpu_s       REAL NOT NULL DEFAULT 0,"
          "  tasks       INTEGER NOT NULL DEFAULT 0,"
          "  requeued    INTEGER NOT NULL DEFAULT 0,"
          "  limit_kills INTEGER NOT NULL DEFAULT 0,"
          "  suspends    INTEGER NOT NULL DEFAULT 0,"
          "  critical_kills INTEGER NOT NULL DEFAULT 0,"
          "  updated     REAL NOT NULL DEFAULT 0,"
          "  PRIMARY KEY (kind, ref_id)"
          ") WITHOUT ROWID;"
          "CREATE TABLE waits ("
          "  kind        TEXT NOT NULL,"
          "  ref_id      INTEGER NOT NULL,"
          "  reason      TEXT NOT NULL,"
          "  passes      INTEGER NOT NULL DEFAULT 0,"
          "  seconds     REAL NOT NULL DEFAULT 0,"
          "  PRIMARY KEY (kind, ref_id, reason)"
          ") WITHOUT ROWID;"
          "ALTER TABLE tasks ADD COLUMN queued_time REAL NOT NULL DEFAULT 0;",
    /* 4: content-addressed blobs, pushed to the engines of a cluster
     * (store_blob.c).  A rowid table, so that a range of a large blob can
     * be read incrementally (sqlite3_blob_open needs the rowid). */
    [4] = "CREATE TABLE blobs ("
          "  hash        BLOB PRIMARY KEY,"
          "  size        INTEGER NOT NULL,"
          "  data        BLOB NOT NULL"
          ");",
    /* 5: a blob's bytes in rows of 1 MiB (STORE_BLOB_CHUNK), so that a
     * range costs the pages of its chunk: a read at an offset of one large
     * value walks its overflow pages from the start (store_blob.c).  The
     * existing blobs are cut up here (substr of a blob is byte-wise). */
    [5] = "CREATE TABLE blob_chunks ("
          "  blob        INTEGER NOT NULL,"
          "  idx         INTEGER NOT NULL,"
          "  data        BLOB NOT NULL,"
          "  PRIMARY KEY (blob, idx)"
          ");"
          "WITH RECURSIVE c(b, i, n) AS ("
          "  SELECT rowid, 0, size FROM blobs WHERE size > 0"
          "  UNION ALL SELECT b, i + 1, n FROM c WHERE (i + 1) * 1048576 < n)"
          "INSERT INTO blob_chunks (blob, idx, data)"
          "  SELECT b, i, substr((SELECT data FROM blobs WHERE rowid = b),"
          "                      i * 1048576 + 1, 1048576) FROM c;"
          "ALTER TABLE blobs DROP COLUMN data;"
          /* named integers a server keeps across restarts (store_state.c) */
          "CREATE TABLE server_state ("
          "  name        TEXT PRIMARY KEY,"
          "  value       INTEGER NOT NULL"
          ") WITHOUT ROWID;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0])
                   == STORE_SCHEMA_VERSION + 1,
               "one migration step per schema version");

/* ----------------------------------------------------------------- errors */

int store__errno(sqlite3 *db, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_NOMEM:
        return ENOMEM;
    case SQLITE_READONLY:
        return EROFS;
    case SQLITE_INTERRUPT:
        return EINTR;
    case SQLITE_FULL:
        return ENOSPC;
    case SQLITE_CANTOPEN: {
        int sys = db ? sqlite3_system_errno(db) : 0;
        return sys ? sys : EACCES;
    }
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return EACCES;
    case SQLITE_TOOBIG:
        return E2BIG;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
    case SQLITE_SCHEMA:
    case SQLITE_MISMATCH:
    case SQLITE_CONSTRAINT:
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
        return EINVAL;
    case SQLITE_NOLFS:
        return EFBIG;
    case SQLITE_PROTOCOL:
        return EPROTO;
    case SQLITE_IOERR: {
        int sys = db ? sqlite3_system_errno(db) : 0;
        return sys ? sys : EIO;
    }
    default:
        return EIO;
    }
}

int store__fail(store_t *st, int rc, const char *what)
{
    int err = store__errno(st->db, rc);
    const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    snprintf(st->last_error, sizeof(st->last_error), "%s: %s: %s", st->path,
             what, msg);
    errno = err ? err : EIO;
    return -1;
}

int store__fail_errno(store_t *st, int err, const char *what)
{
    snprintf(st->last_error, sizeof(st->last_error), "%s: %s", st->path,
             what);
    errno = err;
    return -1;
}

/* Whether a failed step of s (SQLite code rc) means that the database
 * cannot take writes: a write or a transaction statement that failed for
 * the file's sake (disk full, I/O error, read-only, locked past the busy
 * timeout), not for the caller's (a constraint, a value out of range).  A
 * busy COMMIT is not: it stays open and the next tick tries again. */
static bool write_broken(store_t *st, sqlite3_stmt *s, int rc)
{
    bool txn = s == st->stmt[STORE_STMT_BEGIN] ||
               s == st->stmt[STORE_STMT_COMMIT];
    if (!txn && sqlite3_stmt_readonly(s))
        return false;
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
    case SQLITE_TOOBIG:
        return false;
    case SQLITE_BUSY:
        return s != st->stmt[STORE_STMT_COMMIT];
    default:
        return true;
    }
}

int store__step(store_t *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
        sqlite3_reset(s);
        return 0;
    }
    store__fail(st, rc, what);
    int err = errno;
    sqlite3_reset(s);
    bool rolled_back = st->in_txn && sqlite3_get_autocommit(st->db);
    if (rolled_back) {
        /* SQLite rolled the whole transaction back (disk full, I/O error,
         * out of memory): the writes not yet committed are lost. */
        st->in_txn = false;
        size_t n = strlen(st->last_error);
        snprintf(st->last_error + n, sizeof(st->last_error) - n,
                 " (uncommitted writes were rolled back)");
    }
    if (!st->write_failure[0] && (rolled_back || write_broken(st, s, rc)))
        snprintf(st->write_failure, sizeof(st->write_failure), "%s",
                 st->last_error);
    errno = err;
    return -1;
}

const char *store_last_error(const store_t *st)
{
    return st ? st->last_error : "";
}

const char *store_write_failure(const store_t *st)
{
    return st && st->write_failure[0] ? st->write_failure : NULL;
}

/* ----------------------------------------------------------- transactions */

int store__write_begin(store_t *st)
{
    if (st->opts.readonly)
        return store__fail_errno(st, EROFS, "the store is open read-only");
    if (st->in_txn)
        return 0;
    if (store__step(st, st->stmt[STORE_STMT_BEGIN],
                    "cannot begin a transaction") < 0)
        return -1;
    st->in_txn = true;
    st->txn_start_ms = util_mono_ms();
    return 0;
}

static int store_commit(store_t *st)
{
    if (!st->in_txn)
        return 0;
    if (store__step(st, st->stmt[STORE_STMT_COMMIT], "cannot commit") < 0)
        return -1; /* still open after SQLITE_BUSY: the next tick retries */
    st->in_txn = false;
    return 0;
}

int store_tick(store_t *st, int64_t now_ms)
{
    if (!st || !st->in_txn)
        return -1;
    int64_t age = now_ms - st->txn_start_ms;
    if (age < 0)
        age = 0;
    if (age < st->opts.batch_ms)
        return (int)(st->opts.batch_ms - age);
    if (store_commit(st) < 0)
        return -2;
    return -1;
}

int store_flush(store_t *st)
{
    if (!st) {
        errno = EINVAL;
        return -1;
    }
    return store_commit(st);
}

/* ------------------------------------------------------------------- open */

/* What the header of an opened file says. */
typedef struct header {
    int64_t application_id;
    int64_t user_version;
    int64_t nobjects; /* entries in sqlite_master */
} header_t;

/* Read the header without writing anything.  SQLite result code. */
static int header_read(sqlite3 *db, header_t *h)
{
    static const char sql[] =
        "SELECT (SELECT application_id FROM pragma_application_id),"
        "       (SELECT user_version FROM pragma_user_version),"
        "       (SELECT count(*) FROM sqlite_master)";
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc; /* a non-database fails here, with SQLITE_NOTADB */
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        h->application_id = sqlite3_column_int64(s, 0);
        h->user_version = sqlite3_column_int64(s, 1);
        h->nobjects = sqlite3_column_int64(s, 2);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc;
}

static bool header_is_empty(const header_t *h)
{
    return h->application_id == 0 && h->user_version == 0 && h->nobjects == 0;
}

/* Refuse a header that is not banyan's or is newer than this build.
 * 0 or -1 with errno and error. */
static int header_check(const store_t *st, const header_t *h,
                        banyan_error_t *error)
{
    if (header_is_empty(h))
        return 0;
    if (h->application_id != STORE_APPLICATION_ID) {
        errno = EINVAL;
        return errprintf(error,
                         "%s: not a banyan database (an SQLite database of "
                         "another application)", st->path);
    }
    if (h->user_version > STORE_SCHEMA_VERSION) {
        errno = ENOTSUP;
        return errprintf(error,
                         "%s: schema version %lld is newer than this banyan "
                         "(%d); use a newer banyan to open it", st->path,
                         (long long)h->user_version, STORE_SCHEMA_VERSION);
    }
    if (h->user_version < 1) {
        errno = EINVAL;
        return errprintf(error, "%s: not a banyan database (schema version "
                         "%lld)", st->path, (long long)h->user_version);
    }
    return 0;
}

static int open_fail(store_t *st, int rc, const char *what,
                     banyan_error_t *error);

/* Read the header of the freshly opened file and decide whether this store
 * may use it.  0 with *h, or -1 with errno and error. */
static int open_check(store_t *st, header_t *h, banyan_error_t *error)
{
    int rc = header_read(st->db, h);
    if (rc != SQLITE_OK)
        return open_fail(st, rc, "cannot read", error);
    if (header_check(st, h, error) < 0)
        return -1;
    if (!st->opts.readonly || h->user_version >= STORE_SCHEMA_VERSION)
        return 0;
    /* A reader cannot migrate. */
    if (header_is_empty(h)) {
        errno = EINVAL;
        return errprintf(error, "%s: not a banyan database (empty)",
                         st->path);
    }
    errno = ENOTSUP;
    return errprintf(error, "%s: schema version %lld is older than this "
                     "banyan (%d); open it once for writing to upgrade it",
                     st->path, (long long)h->user_version,
                     STORE_SCHEMA_VERSION);
}

/* Report an SQLite failure during open.  Returns -1. */
static int open_fail(store_t *st, int rc, const char *what,
                     banyan_error_t *error)
{
    if ((rc & 0xff) == SQLITE_NOTADB) {
        errno = EINVAL;
        return errprintf(error, "%s: not a banyan database (not an SQLite "
                         "file)", st->path);
    }
    int err = store__errno(st->db, rc);
    const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
    errprintf(error, "%s: %s: %s", st->path, what, msg);
    errno = err ? err : EIO;
    return -1;
}

/* Run one statement that may return a row; its first column, as text, goes
 * to out (may be NULL).  SQLite result code. */
static int exec_get(sqlite3 *db, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && out) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(out, size, "%s", t ? (const char *)t : "");
    }
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize(s);
    return rc;
}

static int set_pragmas(store_t *st, banyan_error_t *error)
{
    sqlite3 *db = st->db;
    int rc = sqlite3_busy_timeout(db, st->opts.busy_timeout_ms);
    if (rc == SQLITE_OK)
        rc = exec_get(db, "PRAGMA foreign_keys = ON", NULL, 0);
    if (rc != SQLITE_OK)
        return open_fail(st, rc, "cannot configure", error);
    if (st->opts.readonly)
        return 0;
    char mode[32] = "";
    rc = exec_get(db, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
    if (rc != SQLITE_OK)
        return open_fail(st, rc, "cannot switch to WAL", error);
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        errno = EINVAL;
        return errprintf(error, "%s: cannot switch to WAL (journal mode "
                         "stays '%s')", st->path, mode);
    }
    rc = exec_get(db, "PRAGMA synchronous = NORMAL", NULL, 0);
    if (rc != SQLITE_OK)
        return open_fail(st, rc, "cannot configure", error);
    return 0;
}

/* Bring the schema to STORE_SCHEMA_VERSION in one transaction. */
static int migrate(store_t *st, banyan_error_t *error)
{
    sqlite3 *db = st->db;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return open_fail(st, rc, "cannot lock for the schema upgrade",
                         error);
    header_t h;
    rc = header_read(db, &h); /* again, now that we hold the write lock */
    if (rc != SQLITE_OK) {
        open_fail(st, rc, "cannot read the schema version", error);
        goto error;
    }
    if (header_check(st, &h, error) < 0)
        goto error;
    for (int64_t v = h.user_version + 1; v <= STORE_SCHEMA_VERSION; v++) {
        rc = sqlite3_exec(db, migrations[v], NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof(what), "schema upgrade to version %lld",
                     (long long)v);
            open_fail(st, rc, what, error);
            goto error;
        }
    }
    char sql[128];
    snprintf(sql, sizeof(sql),
             "PRAGMA application_id = %d; PRAGMA user_version = %d",
             (int)STORE_APPLICATION_ID, (int)STORE_SCHEMA_VERSION);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        open_fail(st, rc, "cannot commit the schema upgrade", error);
        goto error;
    }
    return 0;
error:;
    int err = errno;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    errno = err;
    return -1;
}

/* An existing file must be empty or begin with SQLite's magic string.
 * SQLite itself takes a file shorter than one page for an empty database
 * and would write over it. */
static int check_magic(const store_t *st, off_t size, banyan_error_t *error)
{
    static const char magic[16] = "SQLite format 3";
    if (size == 0)
        return 0;
    char head[sizeof(magic)];
    int fd = open(st->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        errprintf(error, "%s: cannot open: %s", st->path, strerror(err));
        errno = err;
        return -1;
    }
    ssize_t n = pread(fd, head, sizeof(head), 0);
    close(fd);
    if (n != (ssize_t)sizeof(head) || size < 512
        || memcmp(head, magic, sizeof(magic)) != 0) {
        errno = EINVAL;
        return errprintf(error, "%s: not a banyan database (not an SQLite "
                         "file)", st->path);
    }
    return 0;
}

/* Create a missing database file, 0600, before SQLite sees it.  Sets
 * *created.  0 or -1 with errno and error. */
static int prepare_file(store_t *st, bool *created, banyan_error_t *error)
{
    struct stat sb;
    *created = false;
    if (stat(st->path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            errno = EISDIR;
            return errprintf(error, "%s: cannot open: it is a directory",
                             st->path);
        }
        if (!S_ISREG(sb.st_mode)) {
            errno = EINVAL;
            return errprintf(error, "%s: cannot open: not a regular file",
                             st->path);
        }
        return check_magic(st, sb.st_size, error);
    }
    if (errno != ENOENT || st->opts.readonly) {
        int err = errno;
        errprintf(error, "%s: cannot open: %s", st->path, strerror(err));
        errno = err;
        return -1;
    }
    int fd = open(st->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) /* another process was quicker: use its file */
            return 0;
        int err = errno;
        errprintf(error, "%s: cannot create: %s", st->path, strerror(err));
        errno = err;
        return -1;
    }
    *created = true;
    if (fchmod(fd, 0600) < 0) {
        int err = errno;
        close(fd);
        unlink(st->path);
        *created = false;
        errprintf(error, "%s: cannot set mode 0600: %s", st->path,
                  strerror(err));
        errno = err;
        return -1;
    }
    close(fd);
    return 0;
}

/* Remove a file we created, with its -wal and -shm. */
static void remove_created(const char *path)
{
    static const char *const suffix[] = {"-wal", "-shm", "-journal"};
    unlink(path);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char p[PATH_MAX];
        if (snprintf(p, sizeof(p), "%s%s", path, suffix[i]) < (int)sizeof(p))
            unlink(p);
    }
}

static int prepare_statements(store_t *st, banyan_error_t *error)
{
    for (int i = 0; i < STORE_STMT_COUNT; i++) {
        int rc = sqlite3_prepare_v3(st->db, store__sql[i], -1,
                                    SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                                    NULL);
        if (rc != SQLITE_OK)
            return open_fail(st, rc, "cannot prepare statements", error);
    }
    return 0;
}

sqlite3_stmt *store__read_stmt(store_t *st, bool args_ok, const char *sql)
{
    if (!st || !args_ok) {
        errno = EINVAL;
        return NULL;
    }
    return store__stmt(st, sql);
}

sqlite3_stmt *store__write_stmt(store_t *st, bool args_ok, const char *sql)
{
    if (!st || !args_ok) {
        errno = EINVAL;
        return NULL;
    }
    return store__write_begin(st) < 0 ? NULL : store__stmt(st, sql);
}

sqlite3_stmt *store__stmt(store_t *st, const char *sql)
{
    for (int i = 0; i < st->ncached; i++) {
        struct store__cached *c = &st->cached[i];
        if (c->sql == sql || strcmp(c->sql, sql) == 0) {
            if (sqlite3_stmt_busy(c->stmt)) {
                store__fail_errno(st, EBUSY, "the same statement is already "
                                  "running (called from its own callback)");
                return NULL;
            }
            return c->stmt;
        }
    }
    int max = (int)(sizeof(st->cached) / sizeof(st->cached[0]));
    if (st->ncached == max) {
        store__fail_errno(st, ENOSPC, "too many cached statements");
        return NULL;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                &stmt, NULL);
    if (rc != SQLITE_OK) {
        store__fail(st, rc, "cannot prepare a statement");
        sqlite3_finalize(stmt);
        return NULL;
    }
    st->cached[st->ncached++] = (struct store__cached){sql, stmt};
    return stmt;
}

static void store_free(store_t *st)
{
    for (int i = 0; i < STORE_STMT_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    for (int i = 0; i < st->ncached; i++)
        sqlite3_finalize(st->cached[i].stmt);
    sqlite3_close_v2(st->db);
    free(st->path);
    free(st);
}

store_t *store_open(const char *path, const store_options_t *opts,
                    banyan_error_t *error)
{
    if (!path || !*path) {
        errno = EINVAL;
        errprintf(error, "no database path given");
        return NULL;
    }
    store_t *st = calloc(1, sizeof(*st));
    if (!st || !(st->path = strdup(path))) {
        free(st);
        errno = ENOMEM;
        errprintf(error, "%s: out of memory", path);
        return NULL;
    }
    if (opts)
        st->opts = *opts;
    if (st->opts.batch_ms <= 0)
        st->opts.batch_ms = DEFAULT_BATCH_MS;
    if (st->opts.busy_timeout_ms <= 0)
        st->opts.busy_timeout_ms = DEFAULT_BUSY_TIMEOUT_MS;

    bool memory = strcmp(path, ":memory:") == 0;
    bool created = false;
    if (memory && st->opts.readonly) {
        errno = EINVAL;
        errprintf(error, "%s: an in-memory database cannot be read-only",
                  path);
        goto error;
    }
    if (!memory && prepare_file(st, &created, error) < 0)
        goto error;

    int flags = st->opts.readonly
                    ? SQLITE_OPEN_READONLY
                    : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        open_fail(st, rc, "cannot open", error);
        goto error;
    }
    header_t h;
    if (open_check(st, &h, error) < 0)
        goto error;
    if (set_pragmas(st, error) < 0)
        goto error;
    if (!st->opts.readonly && h.user_version < STORE_SCHEMA_VERSION
        && migrate(st, error) < 0)
        goto error;
    if (prepare_statements(st, error) < 0)
        goto error;
    return st;

error:;
    int err = errno;
    store_free(st);
    if (created)
        remove_created(path);
    errno = err;
    return NULL;
}

void store_close(store_t *st)
{
    if (!st)
        return;
    int err = errno;
    (void)store_commit(st); /* a failure rolls back in sqlite3_close */
    store_free(st);
    errno = err;
}
