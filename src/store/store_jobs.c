/* SPDX-License-Identifier: MIT */
/* store_jobs.c - reads the cluster server needs: the ended task numbers of
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

/* Step s to the end, calling fn per row; resets s. */
static int run_rows(store_t *st, sqlite3_stmt *s,
                    int (*fn)(sqlite3_stmt *s, void *cb, void *arg),
                    void *cb, void *arg, int *nrows)
{
    int ret = 0;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            store__fail(st, rc, "cannot read");
            ret = -1;
            break;
        }
        if (nrows)
            (*nrows)++;
        ret = fn(s, cb, arg);
        if (ret != 0)
            break;
    }
    int err = errno;
    sqlite3_reset(s);
    errno = err;
    return ret;
}

static int seq_row(sqlite3_stmt *s, void *cb, void *arg)
{
    return (*(store_seq_cb *)cb)(sqlite3_column_int64(s, 0), arg);
}

int store_task_seqs_foreach(store_t *st, int64_t run_id, store_seq_cb cb,
                            void *arg)
{
    if (!st || !cb) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = store__stmt(st, "SELECT seq FROM tasks "
                                      "WHERE run_id = ?1 ORDER BY seq");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    return run_rows(st, s, seq_row, &cb, arg, NULL);
}

static int task_row(sqlite3_stmt *s, void *cb, void *arg)
{
    store_task_t t;
    char why[STORE__WHY_MAX];
    store__task_decode(s, &t, why);
    return (*(store_task_cb *)cb)(&t, arg);
}

int store_task_get(store_t *st, int64_t run_id, int64_t seq,
                   store_task_cb cb, void *arg)
{
    if (!st || !cb) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = store__stmt(st, "SELECT " STORE__TASK_COLUMNS
                                      " FROM tasks WHERE run_id = ?1"
                                      " AND seq = ?2");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int64(s, 2, seq);
    int n = 0;
    int ret = run_rows(st, s, task_row, &cb, arg, &n);
    if (ret == 0 && n == 0)
        return store__fail_errno(st, ENOENT, "no such task");
    return ret;
}

int store_tasks_page(store_t *st, int64_t run_id, int64_t after_seq,
                     int limit, store_task_cb cb, void *arg)
{
    if (!st || !cb) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = store__stmt(st, "SELECT " STORE__TASK_COLUMNS
                                      " FROM tasks WHERE run_id = ?1"
                                      " AND seq > ?2 ORDER BY seq LIMIT ?3");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, run_id);
    sqlite3_bind_int64(s, 2, after_seq);
    sqlite3_bind_int64(s, 3, limit > 0 ? limit : -1);
    return run_rows(st, s, task_row, &cb, arg, NULL);
}
