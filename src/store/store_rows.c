/* SPDX-License-Identifier: MIT */
/* store_rows.c - runs and tasks: the SQL of every prepared statement, and
 * the functions that bind, step and decode them.
 *
 * Each function takes its statement from the store, binds every parameter
 * (strings and blobs with SQLITE_TRANSIENT, so the caller's buffers may go
 * away at once), steps it and resets it before returning on every path.  A
 * foreach keeps its statement active while it calls back; a callback that
 * starts the same foreach again gets EBUSY instead of resetting the outer
 * loop under its feet.  Callbacks may write (e.g. finish a task while
 * visiting the tasks).
 *
 * Rows are decoded defensively: the file may have been edited by hand, so a
 * NULL in a column that is declared NOT NULL reads as "" or 0, never crashes,
 * and a task state is parsed from its name, an unknown name reading as a
 * failed task that says so (store__col_task_state).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store_private.h"
#include "util/util.h"

#define RUN_COLUMNS                                                            \
    "id, kind, name, command, spec_json, fingerprint, ntasks, state, "         \
    "created, finished, host, cwd"
const char *const store__sql[STORE_STMT_COUNT] = {
    [STORE_STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STORE_STMT_COMMIT] = "COMMIT",
    [STORE_STMT_RUN_INSERT] =
        "INSERT INTO runs (kind, name, command, spec_json, fingerprint, "
        "ntasks, state, created, finished, host, cwd) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [STORE_STMT_RUN_FINISH] =
        "UPDATE runs SET state = ?2, finished = ?3 WHERE id = ?1",
    [STORE_STMT_RUN_FIND] =
        "SELECT id FROM runs WHERE fingerprint = ?1 ORDER BY id DESC LIMIT 1",
    [STORE_STMT_RUNS_ALL] =
        "SELECT " RUN_COLUMNS " FROM runs ORDER BY id DESC LIMIT ?1",
    [STORE_STMT_RUN_ONE] = "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1",
    [STORE_STMT_TASK_PUT] =
        "INSERT OR REPLACE INTO tasks (" STORE__TASK_COLUMNS ") VALUES (?1, ?2, ?3, "
        "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19)",
    [STORE_STMT_TASKS_OF_RUN] =
        "SELECT " STORE__TASK_COLUMNS " FROM tasks WHERE run_id = ?1 ORDER BY seq",
    [STORE_STMT_TASKS_COUNT] = "SELECT count(*) FROM tasks WHERE run_id = ?1",
    [STORE_STMT_TASKS_COUNT_STATE] =
        "SELECT count(*) FROM tasks WHERE run_id = ?1 AND state = ?2",
    [STORE_STMT_INTEGRITY] = "PRAGMA integrity_check",
    STORE__SWEEP_SQL_INIT,
};

/* ---------------------------------------------------------------- binding */

/* Each binder does nothing once *rc holds an error, so a function binds all
 * its parameters and checks once. */
void store__bind_text(int *rc, sqlite3_stmt *s, int i, const char *v)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

void store__bind_int64(int *rc, sqlite3_stmt *s, int i, int64_t v)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(s, i, v);
}

void store__bind_double(int *rc, sqlite3_stmt *s, int i, double v)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_double(s, i, v);
}

/* NULL stays NULL; a non-NULL pointer with len 0 is an empty blob. */
void store__bind_blob(int *rc, sqlite3_stmt *s, int i, const void *v, int len)
{
    if (*rc != SQLITE_OK)
        return;
    if (!v)
        *rc = sqlite3_bind_null(s, i);
    else if (len == 0)
        *rc = sqlite3_bind_zeroblob(s, i, 0);
    else
        *rc = sqlite3_bind_blob(s, i, v, len, SQLITE_TRANSIENT);
}

/* Report a failed bind: clear what was bound and record the error. */
int store__bind_fail(store_t *st, sqlite3_stmt *s, int rc)
{
    store__fail(st, rc, "cannot bind a value");
    int err = errno;
    sqlite3_clear_bindings(s);
    errno = err;
    return -1;
}

/* --------------------------------------------------------------- decoding */

const char *store__col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* For NOT NULL columns: never hand NULL to a caller that does not expect
 * it. */
const char *store__col_text_nn(sqlite3_stmt *s, int i)
{
    const char *t = store__col_text(s, i);
    return t ? t : "";
}

const void *store__col_blob(sqlite3_stmt *s, int i, int *len)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL) {
        *len = 0;
        return NULL;
    }
    const void *p = sqlite3_column_blob(s, i);
    *len = sqlite3_column_bytes(s, i);
    return p ? p : ""; /* SQLite gives NULL for an empty blob */
}

static void run_decode(sqlite3_stmt *s, store_run_t *r)
{
    r->id = sqlite3_column_int64(s, 0);
    r->kind = store__col_text_nn(s, 1);
    r->name = store__col_text(s, 2);
    r->command = store__col_text_nn(s, 3);
    r->spec_json = store__col_text(s, 4);
    r->fingerprint = store__col_text(s, 5);
    r->ntasks = sqlite3_column_int64(s, 6);
    r->state = store__col_text_nn(s, 7);
    r->created = sqlite3_column_double(s, 8);
    r->finished = sqlite3_column_double(s, 9);
    r->host = store__col_text(s, 10);
    r->cwd = store__col_text(s, 11);
}

banyan_task_state_t store__col_task_state(sqlite3_stmt *s, int i,
                                          const char **reason,
                                          char why[STORE__WHY_MAX])
{
    const char *text = store__col_text_nn(s, i);
    banyan_task_state_t state;
    if (banyan_task_state_parse(text, &state) == 0)
        return state;
    /* Quote at most 40 bytes, printable ASCII only: the reason goes to
     * terminals and into JSON, which wants valid UTF-8. */
    char quoted[41];
    size_t n = 0;
    for (const char *p = text; *p && n < sizeof(quoted) - 1; p++)
        quoted[n++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    quoted[n] = '\0';
    snprintf(why, STORE__WHY_MAX, "the database holds \"%s%s\", which is "
             "not a task state", quoted, text[n] ? "..." : "");
    *reason = why;
    return BANYAN_TASK_FAILED;
}

void store__task_decode(sqlite3_stmt *s, store_task_t *t,
                        char why[STORE__WHY_MAX])
{
    t->run_id = sqlite3_column_int64(s, 0);
    t->seq = sqlite3_column_int64(s, 1);
    t->args_json = store__col_text(s, 2);
    t->command = store__col_text(s, 3);
    t->attempt = sqlite3_column_int(s, 5);
    t->exit_code = sqlite3_column_int(s, 6);
    t->signal = sqlite3_column_int(s, 7);
    t->slot = sqlite3_column_int(s, 8);
    t->gpus = store__col_text(s, 9);
    t->host = store__col_text(s, 10);
    t->start_time = sqlite3_column_double(s, 11);
    t->end_time = sqlite3_column_double(s, 12);
    t->cpu_user = sqlite3_column_double(s, 13);
    t->cpu_sys = sqlite3_column_double(s, 14);
    t->peak_rss = sqlite3_column_int64(s, 15);
    t->stdout_tail = store__col_blob(s, 16, &t->stdout_tail_len);
    t->stderr_tail = store__col_blob(s, 17, &t->stderr_tail_len);
    t->reason = store__col_text(s, 18);
    t->state = store__col_task_state(s, 4, &t->reason, why);
}

/* Step a SELECT, calling back per row.  Resets s on every path. */
int store__foreach_rows(store_t *st, sqlite3_stmt *s, store__row_fn fn, void *cb,
                        void *arg)
{
    int ret = 0;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            ret = store__fail(st, rc, "cannot read");
            break;
        }
        if ((ret = fn(s, cb, arg)) != 0)
            break;
    }
    int err = errno;
    sqlite3_reset(s);
    errno = err;
    return ret;
}

/* A foreach already running on this statement (a callback that recurses). */
int store__check_idle(store_t *st, sqlite3_stmt *s)
{
    if (sqlite3_stmt_busy(s))
        return store__fail_errno(st, EBUSY, "the same listing is already "
                                 "running (called from its own callback)");
    return 0;
}

/* ------------------------------------------------------------------- runs */

int store_run_create(store_t *st, store_run_t *run, banyan_error_t *error)
{
    if (!st || !run) {
        errno = EINVAL;
        return errprintf(error, "store_run_create: no store or run");
    }
    if (!run->kind || !run->command || !run->state) {
        store__fail_errno(st, EINVAL, "a run needs a kind, a command and a "
                          "state");
        return errprintf(error, "%s", st->last_error);
    }
    if (store__write_begin(st) < 0)
        return errprintf(error, "%s", st->last_error);
    sqlite3_stmt *s = st->stmt[STORE_STMT_RUN_INSERT];
    int rc = SQLITE_OK;
    store__bind_text(&rc, s, 1, run->kind);
    store__bind_text(&rc, s, 2, run->name);
    store__bind_text(&rc, s, 3, run->command);
    store__bind_text(&rc, s, 4, run->spec_json);
    store__bind_text(&rc, s, 5, run->fingerprint);
    store__bind_int64(&rc, s, 6, run->ntasks);
    store__bind_text(&rc, s, 7, run->state);
    store__bind_double(&rc, s, 8, run->created);
    store__bind_double(&rc, s, 9, run->finished);
    store__bind_text(&rc, s, 10, run->host);
    store__bind_text(&rc, s, 11, run->cwd);
    if (rc != SQLITE_OK) {
        store__bind_fail(st, s, rc);
        return errprintf(error, "%s", st->last_error);
    }
    if (store__step(st, s, "cannot record the run") < 0)
        return errprintf(error, "%s", st->last_error);
    run->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int store__set_state(store_t *st, int stmt, int64_t id, const char *state,
                     double when, const char *what)
{
    if (!st || !state) {
        errno = EINVAL;
        return -1;
    }
    if (store__write_begin(st) < 0)
        return -1;
    sqlite3_stmt *s = st->stmt[stmt];
    int rc = SQLITE_OK;
    store__bind_int64(&rc, s, 1, id);
    store__bind_text(&rc, s, 2, state);
    store__bind_double(&rc, s, 3, when);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    char text[64];
    snprintf(text, sizeof(text), "cannot record the %s's state", what);
    if (store__step(st, s, text) < 0)
        return -1;
    snprintf(text, sizeof(text), "no such %s", what);
    if (sqlite3_changes(st->db) == 0)
        return store__fail_errno(st, ENOENT, text);
    return 0;
}

int store_run_finish(store_t *st, int64_t run_id, const char *state,
                     double finished)
{
    return store__set_state(st, STORE_STMT_RUN_FINISH, run_id, state,
                            finished, "run");
}

int store_run_find(store_t *st, const char *fingerprint, int64_t *run_id)
{
    if (!st || !fingerprint || !run_id) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = st->stmt[STORE_STMT_RUN_FIND];
    int rc = sqlite3_bind_text(s, 1, fingerprint, -1, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *run_id = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        store__fail_errno(st, ENOENT, "no run with this fingerprint");
    else
        store__fail(st, rc, "cannot look up the run");
    int err = errno;
    sqlite3_reset(s);
    errno = err;
    return rc == SQLITE_ROW ? 0 : -1;
}

static int run_row(sqlite3_stmt *s, void *cb, void *arg)
{
    store_run_t run;
    run_decode(s, &run);
    return (*(store_run_cb *)cb)(&run, arg);
}

int store_runs_foreach(store_t *st, int64_t run_id, int limit,
                       store_run_cb cb, void *arg)
{
    if (!st || !cb) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = st->stmt[run_id > 0 ? STORE_STMT_RUN_ONE
                                          : STORE_STMT_RUNS_ALL];
    if (store__check_idle(st, s) < 0)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, run_id > 0 ? run_id
                                      : limit > 0 ? limit : -1);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__foreach_rows(st, s, run_row, &cb, arg);
}

/* ------------------------------------------------------------------ tasks */

static int task_put(store_t *st, const store_task_t *t)
{
    if (!st || !t) {
        errno = EINVAL;
        return -1;
    }
    if ((unsigned)t->state >= BANYAN_TASK_STATE_COUNT)
        return store__fail_errno(st, EINVAL, "a task needs a state");
    if (t->stdout_tail_len < 0 || t->stderr_tail_len < 0
        || (!t->stdout_tail && t->stdout_tail_len > 0)
        || (!t->stderr_tail && t->stderr_tail_len > 0))
        return store__fail_errno(st, EINVAL, "a task's output tail has a "
                                 "bad length");
    if (store__write_begin(st) < 0)
        return -1;
    sqlite3_stmt *s = st->stmt[STORE_STMT_TASK_PUT];
    int rc = SQLITE_OK;
    store__bind_int64(&rc, s, 1, t->run_id);
    store__bind_int64(&rc, s, 2, t->seq);
    store__bind_text(&rc, s, 3, t->args_json);
    store__bind_text(&rc, s, 4, t->command);
    store__bind_text(&rc, s, 5, banyan_task_state_name(t->state));
    store__bind_int64(&rc, s, 6, t->attempt);
    store__bind_int64(&rc, s, 7, t->exit_code);
    store__bind_int64(&rc, s, 8, t->signal);
    store__bind_int64(&rc, s, 9, t->slot);
    store__bind_text(&rc, s, 10, t->gpus);
    store__bind_text(&rc, s, 11, t->host);
    store__bind_double(&rc, s, 12, t->start_time);
    store__bind_double(&rc, s, 13, t->end_time);
    store__bind_double(&rc, s, 14, t->cpu_user);
    store__bind_double(&rc, s, 15, t->cpu_sys);
    store__bind_int64(&rc, s, 16, t->peak_rss);
    store__bind_blob(&rc, s, 17, t->stdout_tail, t->stdout_tail_len);
    store__bind_blob(&rc, s, 18, t->stderr_tail, t->stderr_tail_len);
    store__bind_text(&rc, s, 19, t->reason);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__step(st, s, "cannot record the task");
}

int store_task_start(store_t *st, const store_task_t *task)
{
    return task_put(st, task);
}

int store_task_finish(store_t *st, const store_task_t *task)
{
    return task_put(st, task);
}

/* Step a count(*) statement whose parameters bound with rc.  Resets s. */
static int64_t count_rows(store_t *st, sqlite3_stmt *s, int rc)
{
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    rc = sqlite3_step(s);
    int64_t n = -1;
    if (rc == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    else
        store__fail(st, rc, "cannot count tasks");
    int err = errno;
    sqlite3_reset(s);
    errno = err;
    return n;
}

int64_t store_tasks_count(store_t *st, int64_t run_id,
                          banyan_task_state_t state)
{
    if (!st || (unsigned)state >= BANYAN_TASK_STATE_COUNT) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = st->stmt[STORE_STMT_TASKS_COUNT_STATE];
    int rc = SQLITE_OK;
    store__bind_int64(&rc, s, 1, run_id);
    store__bind_text(&rc, s, 2, banyan_task_state_name(state));
    return count_rows(st, s, rc);
}

int64_t store_tasks_count_all(store_t *st, int64_t run_id)
{
    if (!st) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = st->stmt[STORE_STMT_TASKS_COUNT];
    int rc = SQLITE_OK;
    store__bind_int64(&rc, s, 1, run_id);
    return count_rows(st, s, rc);
}

/* ------------------------------------------------------------------ check */

int store_check(store_t *st, banyan_error_t *error)
{
    if (!st) {
        errno = EINVAL;
        return errprintf(error, "store_check: no store");
    }
    sqlite3_stmt *s = st->stmt[STORE_STMT_INTEGRITY];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        const char *t = store__col_text_nn(s, 0);
        if (strcmp(t, "ok") != 0) {
            char what[400];
            snprintf(what, sizeof(what), "the database is damaged: %s", t);
            for (char *p = what; *p; p++) /* one line, for logs */
                if (*p == '\n')
                    *p = ' ';
            ret = store__fail_errno(st, EINVAL, what);
        }
    } else {
        ret = store__fail(st, rc, "cannot check the database");
    }
    int err = errno;
    sqlite3_reset(s);
    errno = err;
    if (ret < 0)
        errprintf(error, "%s", st->last_error);
    return ret;
}
