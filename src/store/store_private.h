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
    STORE_STMT_SWEEP_INSERT,
    STORE_STMT_SWEEP_STATE,
    STORE_STMT_SWEEP_DELETE,
    STORE_STMT_SWEEP_DELETE_EXPS,
    STORE_STMT_SWEEPS_ALL,
    STORE_STMT_SWEEP_BY_NAME,
    STORE_STMT_EXP_PUT,
    STORE_STMT_EXPS_OF_SWEEP,
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
    struct store__cached {     /* statements prepared on first use */
        const char *sql;       /* the caller's literal */
        sqlite3_stmt *stmt;
    } cached[64];
    int ncached;
    char last_error[512];      /* text of the last failure, "" if none */
    char write_failure[512];   /* the first failure that lost or may
                                  lose writes (store_write_failure), ""
                                  while there was none; never cleared */
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

/* --------------------------------------------- binding and decoding rows */

/* Binders do nothing once *rc holds an error, so a function binds all its
 * parameters and checks once.  Strings and blobs are SQLITE_TRANSIENT. */
void store__bind_text(int *rc, sqlite3_stmt *s, int i, const char *v);
void store__bind_int64(int *rc, sqlite3_stmt *s, int i, int64_t v);
void store__bind_double(int *rc, sqlite3_stmt *s, int i, double v);
/* NULL stays NULL; a non-NULL pointer with len 0 is an empty blob. */
void store__bind_blob(int *rc, sqlite3_stmt *s, int i, const void *v,
                      int len);
/* Report a failed bind: clear what was bound, record the error, -1. */
int store__bind_fail(store_t *st, sqlite3_stmt *s, int rc);

/* Column readers; _nn never returns NULL (for NOT NULL columns). */
const char *store__col_text(sqlite3_stmt *s, int i);
const char *store__col_text_nn(sqlite3_stmt *s, int i);
const void *store__col_blob(sqlite3_stmt *s, int i, int *len);

/* Step a SELECT, calling fn per row with the caller's callback and
 * argument; a non-zero return stops and is returned.  Resets s. */
typedef int (*store__row_fn)(sqlite3_stmt *s, void *cb, void *arg);
int store__foreach_rows(store_t *st, sqlite3_stmt *s, store__row_fn fn,
                        void *cb, void *arg);

/* The statement for sql (a string literal), prepared on its first use and
 * kept until the store closes, for statements outside the table above
 * (reads of rare paths, statistics).  Reset it on every exit path; never
 * finalize it.  NULL with errno and last_error (EBUSY when it is in use by
 * a foreach up the stack). */
sqlite3_stmt *store__stmt(store_t *st, const char *sql);

/* Set the state and time (parameters 2 and 3) of the run or sweep id
 * (parameter 1) with the table's statement stmt; what ("run", "sweep")
 * names it in errors.  ENOENT when there is no such row. */
int store__set_state(store_t *st, int stmt, int64_t id, const char *state,
                     double when, const char *what);

/* store__stmt() for a public call whose other arguments are args_ok: NULL
 * with EINVAL when st is NULL or they are not.  The write form first joins
 * the grouped write transaction (store__write_begin). */
sqlite3_stmt *store__read_stmt(store_t *st, bool args_ok, const char *sql);
sqlite3_stmt *store__write_stmt(store_t *st, bool args_ok, const char *sql);

/* EBUSY if a foreach is already running on s (a recursing callback). */
int store__check_idle(store_t *st, sqlite3_stmt *s);

/* The columns of a task row, in the order store__task_decode reads them. */
#define STORE__TASK_COLUMNS                                                    \
    "run_id, seq, args_json, command, state, attempt, exit_code, signal, "     \
    "slot, gpus, host, start_time, end_time, cpu_user, cpu_sys, peak_rss, "    \
    "stdout_tail, stderr_tail, reason"

/* Bytes of the reason written for a row whose state text is unknown. */
enum { STORE__WHY_MAX = 128 };

/* Column i of s, a task state written by its name.  A text that names no
 * state (damaged or hand-edited file) reads as BANYAN_TASK_FAILED and
 * points *reason at a sentence quoting it, written into why (its printable
 * ASCII only, cut short: the text may be anything); *reason is left as it
 * is otherwise.  See store_tasks_foreach() in store.h. */
banyan_task_state_t store__col_task_state(sqlite3_stmt *s, int i,
                                          const char **reason,
                                          char why[STORE__WHY_MAX]);

/* Decode a row of STORE__TASK_COLUMNS; strings are borrowed from s, or
 * from why (store__col_task_state). */
void store__task_decode(sqlite3_stmt *s, store_task_t *t,
                        char why[STORE__WHY_MAX]);

/* SQL of the sweep statements (store_sweep.c). */
#define STORE__SWEEP_SQL_INIT                                                  \
    [STORE_STMT_SWEEP_INSERT] =                                                \
        "INSERT INTO sweeps (name, config_path, space, command, metric, "      \
        "maximize, state, created, updated) "                                  \
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",                         \
    [STORE_STMT_SWEEP_STATE] =                                                 \
        "UPDATE sweeps SET state = ?2, updated = ?3 WHERE id = ?1",            \
    [STORE_STMT_SWEEP_DELETE] = "DELETE FROM sweeps WHERE id = ?1",            \
    [STORE_STMT_SWEEP_DELETE_EXPS] =                                           \
        "DELETE FROM experiments WHERE sweep_id = ?1",                         \
    [STORE_STMT_SWEEPS_ALL] =                                                  \
        "SELECT " STORE__SWEEP_COLUMNS " FROM sweeps ORDER BY id DESC",        \
    [STORE_STMT_SWEEP_BY_NAME] =                                               \
        "SELECT " STORE__SWEEP_COLUMNS " FROM sweeps WHERE name = ?1",         \
    [STORE_STMT_EXP_PUT] =                                                     \
        "INSERT OR REPLACE INTO experiments (" STORE__EXP_COLUMNS ") VALUES "  \
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "  \
        "?16, ?17)",                                                           \
    [STORE_STMT_EXPS_OF_SWEEP] =                                               \
        "SELECT " STORE__EXP_COLUMNS " FROM experiments WHERE sweep_id = ?1 "  \
        "ORDER BY iter"
#define STORE__SWEEP_COLUMNS                                                   \
    "id, name, config_path, space, command, metric, maximize, state, "         \
    "created, updated"
#define STORE__EXP_COLUMNS                                                     \
    "sweep_id, iter, params_json, point_json, state, reason, metrics_json, "   \
    "objective, gpus, slot, exit_code, signal, start_time, end_time, "         \
    "peak_rss, workdir, attempt"

#endif /* BANYAN_STORE_PRIVATE_H */
