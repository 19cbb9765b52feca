/* SPDX-License-Identifier: MIT */
/* store_private.h - what store.c (open, schema, transactions) and
 * store_rows.c (runs and tasks) share.
 *
 * A store is one sqlite3 connection, its prepared statements (one slot per
 * enum store_stmt value, all prepared at open), and the state of the grouped
 * transaction: whether one is open and when it began.  Every write goes
 * through store__write_begin(), which opens the transaction if needed; every
 * statement step goes through store__step() or resets its statement itself,
 * so no statement is left active when a function returns.
 */
#ifndef BANYAN_STORE_PRIVATE_H
#define BANYAN_STORE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

/* PRAGMA application_id of a banyan database: "bany" in ASCII. */
enum { STORE_APPLICATION_ID = 0x62616e79 };

/* The prepared statements; their SQL is store__sql[] in store_rows.c. */
enum store_stmt {
    STORE_STMT_BEGIN,
    STORE_STMT_COMMIT,
    STORE_STMT_RUN_INSERT,
    STORE_STMT_RUN_FINISH,
    STORE_STMT_RUN_FIND,
    STORE_STMT_RUNS_ALL,
    STORE_STMT_RUN_ONE,
    STORE_STMT_TASK_PUT,
    STORE_STMT_TASKS_OF_RUN,
    STORE_STMT_TASKS_COUNT,
    STORE_STMT_TASKS_COUNT_STATE,
    STORE_STMT_INTEGRITY,
    STORE_STMT_COUNT
};

extern const char *const store__sql[STORE_STMT_COUNT];

struct store {
    sqlite3 *db;
    char *path;                /* as given to store_open, owned */
    store_options_t opts;      /* with defaults filled in */
    bool in_txn;               /* a grouped write transaction is open */
    int64_t txn_start_ms;      /* util_mono_ms() when it began */
    sqlite3_stmt *stmt[STORE_STMT_COUNT];
    char last_error[512];      /* text of the last failure, "" if none */
};

/* errno for an SQLite result code (primary or extended) of db. */
int store__errno(sqlite3 *db, int rc);

/* Record a failure of SQLite call rc: set errno from it and last_error to
 * "what: <sqlite message>".  Returns -1. */
int store__fail(store_t *st, int rc, const char *what);

/* Record a failure that has nothing to do with SQLite: errno = err and
 * last_error to what.  Returns -1. */
int store__fail_errno(store_t *st, int err, const char *what);

/* Step a statement that returns no rows, then reset it.  0, or -1 with errno
 * and last_error ("what: ...").  A write that failed this way may have rolled
 * the whole transaction back; store__step notices and says so. */
int store__step(store_t *st, sqlite3_stmt *s, const char *what);

/* Make sure the grouped write transaction is open.  0 or -1 (EROFS on a
 * read-only store, EBUSY when another writer holds the file too long). */
int store__write_begin(store_t *st);

#endif /* BANYAN_STORE_PRIVATE_H */
