/* SPDX-License-Identifier: MIT */
/* store_jobs.c - reads of tasks: all of a run's, the ended task numbers of
 * a job, one task by number, and pages of tasks.
 *
 * These statements are prepared on first use (store__stmt): they run at
 * start-up, for a query, or on rare paths such as a result the server did
 * not expect, so they need no slot among the statements prepared at open.
 * Rows are decoded as defensively as in store_rows.c.
 */
#include <errno.h>
#include <string.h>

#include "store/store_private.h"

static int seq_row(sqlite3_stmt *s, void *cb, void *arg)
{
    return (*(store_seq_cb *)cb)(sqlite3_column_int64(s, 0), arg);
}

int store_task_seqs_foreach(store_t *st, int64_t run_id, store_seq_cb cb,
                            void *arg)
{
    sqlite3_stmt *s = store__read_stmt(st, cb,
                                       "SELECT seq FROM tasks "
                                       "WHERE run_id = ?1 ORDER BY seq");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    return store__foreach_rows(st, s, seq_row, &cb, arg);
}

static int task_row(sqlite3_stmt *s, void *cb, void *arg)
{
    store_task_t task;
    char why[STORE__WHY_MAX];
    store__task_decode(s, &task, why);
    return (*(store_task_cb *)cb)(&task, arg);
}

int store_tasks_foreach(store_t *st, int64_t run_id, store_task_cb cb,
                        void *arg)
{
    if (!st || !cb) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = st->stmt[STORE_STMT_TASKS_OF_RUN];
    if (store__check_idle(st, s) < 0)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, run_id);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__foreach_rows(st, s, task_row, &cb, arg);
}

/* store_task_get's callback: counts the row, so that none is ENOENT. */
typedef struct {
    store_task_cb cb;
    void *arg;
    int n;
} one_task_t;

static int one_task(const store_task_t *t, void *arg)
{
    one_task_t *o = arg;
    o->n++;
    return o->cb(t, o->arg);
}

int store_task_get(store_t *st, int64_t run_id, int64_t seq,
                   store_task_cb cb, void *arg)
{
    sqlite3_stmt *s = store__read_stmt(st, cb,
                                       "SELECT " STORE__TASK_COLUMNS
                                       " FROM tasks WHERE run_id = ?1"
                                       " AND seq = ?2");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int64(s, 2, seq);
    one_task_t o = {cb, arg, 0};
    store_task_cb one = one_task;
    int ret = store__foreach_rows(st, s, task_row, &one, &o);
    if (ret == 0 && o.n == 0)
        return store__fail_errno(st, ENOENT, "no such task");
    return ret;
}

int store_tasks_page(store_t *st, int64_t run_id, int64_t after_seq,
                     int limit, store_task_cb cb, void *arg)
{
    sqlite3_stmt *s = store__read_stmt(st, cb,
                                       "SELECT " STORE__TASK_COLUMNS
                                       " FROM tasks WHERE run_id = ?1"
                                       " AND seq > ?2 ORDER BY seq LIMIT ?3");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int64(s, 2, after_seq);
    sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
    return store__foreach_rows(st, s, task_row, &cb, arg);
}
