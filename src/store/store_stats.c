/* SPDX-License-Identifier: MIT */
/* store_stats.c - learnt estimates, usage, waits and queue times (schema 3).
 *
 * These rows are written a few times a second at most (usage and waits on
 * the driver's housekeeping, estimates once per finished task, queue times
 * once per task start and end), so their statements are prepared on first
 * use (store__stmt) instead of living in the store's table of statements,
 * which keeps this file independent of the rest of the store.  Writes join the
 * grouped transaction like every other write (store__write_begin); reads
 * see it.  Rows read back are treated as hostile like all others: NULL in a
 * NOT NULL column reads as "" or 0.
 */
#include <errno.h>
#include <string.h>

#include "store/store_private.h"

/* Step a write statement whose parameters bound with rc; resets it. */
static int write_stmt(store_t *st, sqlite3_stmt *s, int rc, const char *what)
{
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__step(st, s, what);
}

/* -------------------------------------------------------------- estimates */

int store_estimate_put(store_t *st, const store_estimate_t *e)
{
    sqlite3_stmt *s = store__write_stmt(st, e && e->group,
                                        "INSERT OR REPLACE INTO estimates (grp, count, mean, m2, hwm, floor,"
                                        " updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!s)
        return -1;
    int rc = SQLITE_OK;
    store__bind_text(&rc, s, 1, e->group);
    store__bind_int64(&rc, s, 2, e->count);
    store__bind_double(&rc, s, 3, e->mean_bytes);
    store__bind_double(&rc, s, 4, e->m2);
    store__bind_int64(&rc, s, 5, e->hwm_bytes);
    store__bind_int64(&rc, s, 6, e->floor_bytes);
    store__bind_double(&rc, s, 7, e->updated);
    return write_stmt(st, s, rc, "cannot record an estimate");
}

static int estimate_row(sqlite3_stmt *s, void *cb, void *arg)
{
    store_estimate_t e = {
        .group = store__col_text_nn(s, 0),
        .count = sqlite3_column_int64(s, 1),
        .mean_bytes = sqlite3_column_double(s, 2),
        .m2 = sqlite3_column_double(s, 3),
        .hwm_bytes = sqlite3_column_int64(s, 4),
        .floor_bytes = sqlite3_column_int64(s, 5),
        .updated = sqlite3_column_double(s, 6),
    };
    return ((store_estimate_cb)cb)(&e, arg);
}

int store_estimates_foreach(store_t *st, store_estimate_cb cb, void *arg)
{
    sqlite3_stmt *s = store__read_stmt(st, cb,
                                       "SELECT grp, count, mean, m2, hwm, floor,"
                                       " updated FROM estimates ORDER BY grp");
    if (!s)
        return -1;
    return store__foreach_rows(st, s, estimate_row, (void *)cb, arg);
}

/* ------------------------------------------------------------------ usage */

#define USAGE_COLUMNS                                                          \
    "kind, ref_id, engine, grp, score, slots, sessions, wall_s, capacity_s, " \
    "busy_s, active_s, wait_s, cpu_s, tasks, requeued, limit_kills, "         \
    "suspends, critical_kills, updated"

int store_usage_put(store_t *st, const store_usage_t *u)
{
    sqlite3_stmt *s = store__write_stmt(st, u && u->kind,
                                        "INSERT OR REPLACE INTO usage (" USAGE_COLUMNS ") VALUES (?1, ?2, ?3,"
                                        " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
                                        " ?18, ?19)");
    if (!s)
        return -1;
    int rc = SQLITE_OK;
    store__bind_text(&rc, s, 1, u->kind);
    store__bind_int64(&rc, s, 2, u->ref_id);
    store__bind_text(&rc, s, 3, u->engine);
    store__bind_text(&rc, s, 4, u->group);
    store__bind_double(&rc, s, 5, u->score);
    store__bind_int64(&rc, s, 6, u->slots);
    store__bind_int64(&rc, s, 7, u->sessions);
    store__bind_double(&rc, s, 8, u->wall_s);
    store__bind_double(&rc, s, 9, u->capacity_s);
    store__bind_double(&rc, s, 10, u->busy_s);
    store__bind_double(&rc, s, 11, u->active_s);
    store__bind_double(&rc, s, 12, u->wait_s);
    store__bind_double(&rc, s, 13, u->cpu_s);
    store__bind_int64(&rc, s, 14, u->tasks);
    store__bind_int64(&rc, s, 15, u->requeued);
    store__bind_int64(&rc, s, 16, u->limit_kills);
    store__bind_int64(&rc, s, 17, u->suspends);
    store__bind_int64(&rc, s, 18, u->critical_kills);
    store__bind_double(&rc, s, 19, u->updated);
    return write_stmt(st, s, rc, "cannot record usage");
}

static int usage_row(sqlite3_stmt *s, void *cb, void *arg)
{
    store_usage_t u = {
        .kind = store__col_text_nn(s, 0),
        .ref_id = sqlite3_column_int64(s, 1),
        .engine = store__col_text(s, 2),
        .group = store__col_text(s, 3),
        .score = sqlite3_column_double(s, 4),
        .slots = sqlite3_column_int64(s, 5),
        .sessions = sqlite3_column_int64(s, 6),
        .wall_s = sqlite3_column_double(s, 7),
        .capacity_s = sqlite3_column_double(s, 8),
        .busy_s = sqlite3_column_double(s, 9),
        .active_s = sqlite3_column_double(s, 10),
        .wait_s = sqlite3_column_double(s, 11),
        .cpu_s = sqlite3_column_double(s, 12),
        .tasks = sqlite3_column_int64(s, 13),
        .requeued = sqlite3_column_int64(s, 14),
        .limit_kills = sqlite3_column_int64(s, 15),
        .suspends = sqlite3_column_int64(s, 16),
        .critical_kills = sqlite3_column_int64(s, 17),
        .updated = sqlite3_column_double(s, 18),
    };
    return ((store_usage_cb)cb)(&u, arg);
}

/* Set by the row callback wrapper: did any row come? */
typedef struct seen {
    store_usage_cb cb;
    void *arg;
    bool any;
} seen_t;

static int usage_seen(const store_usage_t *u, void *arg)
{
    seen_t *sn = arg;
    sn->any = true;
    return sn->cb(u, sn->arg);
}

int store_usage_foreach(store_t *st, const char *kind, int64_t ref_id,
                        store_usage_cb cb, void *arg)
{
    sqlite3_stmt *s = store__read_stmt(st, cb,
                                       kind
                                       ? "SELECT " USAGE_COLUMNS " FROM usage WHERE kind = ?1 AND ref_id = ?2"
                                       : "SELECT " USAGE_COLUMNS " FROM usage ORDER BY updated DESC");
    if (!s)
        return -1;
    int rc = SQLITE_OK;
    if (kind) {
        store__bind_text(&rc, s, 1, kind);
        store__bind_int64(&rc, s, 2, ref_id);
        if (rc != SQLITE_OK) {
            return store__bind_fail(st, s, rc);
        }
    }
    seen_t sn = {.cb = cb, .arg = arg};
    int ret = store__foreach_rows(st, s, usage_row, (void *)usage_seen, &sn);
    if (ret == 0 && kind && !sn.any) {
        errno = ENOENT;
        return -1;
    }
    return ret;
}

/* ------------------------------------------------------------------ waits */

int store_wait_put(store_t *st, const store_wait_t *w)
{
    sqlite3_stmt *s = store__write_stmt(st, w && w->kind && w->reason,
                                        "INSERT OR REPLACE INTO waits (kind, ref_id, reason, passes, seconds)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!s)
        return -1;
    int rc = SQLITE_OK;
    store__bind_text(&rc, s, 1, w->kind);
    store__bind_int64(&rc, s, 2, w->ref_id);
    store__bind_text(&rc, s, 3, w->reason);
    store__bind_int64(&rc, s, 4, w->passes);
    store__bind_double(&rc, s, 5, w->seconds);
    return write_stmt(st, s, rc, "cannot record a wait");
}

static int wait_row(sqlite3_stmt *s, void *cb, void *arg)
{
    store_wait_t w = {
        .kind = store__col_text_nn(s, 0),
        .ref_id = sqlite3_column_int64(s, 1),
        .reason = store__col_text_nn(s, 2),
        .passes = sqlite3_column_int64(s, 3),
        .seconds = sqlite3_column_double(s, 4),
    };
    return ((store_wait_cb)cb)(&w, arg);
}

int store_waits_foreach(store_t *st, const char *kind, int64_t ref_id,
                        store_wait_cb cb, void *arg)
{
    sqlite3_stmt *s = store__read_stmt(st, kind && cb,
                                       "SELECT kind, ref_id, reason, passes, seconds FROM waits"
                                       " WHERE kind = ?1 AND ref_id = ?2 ORDER BY seconds DESC, reason");
    if (!s)
        return -1;
    int rc = SQLITE_OK;
    store__bind_text(&rc, s, 1, kind);
    store__bind_int64(&rc, s, 2, ref_id);
    if (rc != SQLITE_OK) {
        return store__bind_fail(st, s, rc);
    }
    return store__foreach_rows(st, s, wait_row, (void *)cb, arg);
}

/* ----------------------------------------------------------- task times */

int store_task_set_queued(store_t *st, int64_t run_id, int64_t seq,
                          double queued)
{
    sqlite3_stmt *s = store__write_stmt(st, true,
                                        "UPDATE tasks SET queued_time = ?3"
                                        " WHERE run_id = ?1 AND seq = ?2");
    if (!s)
        return -1;
    int rc = SQLITE_OK;
    store__bind_int64(&rc, s, 1, run_id);
    store__bind_int64(&rc, s, 2, seq);
    store__bind_double(&rc, s, 3, queued);
    if (write_stmt(st, s, rc, "cannot record a queue time") < 0)
        return -1;
    if (sqlite3_changes(st->db) == 0) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

static int time_row(sqlite3_stmt *s, void *cb, void *arg)
{
    char why[STORE__WHY_MAX];
    store_task_time_t t = {
        .seq = sqlite3_column_int64(s, 0),
        .attempt = sqlite3_column_int(s, 1),
        .queued = sqlite3_column_double(s, 3),
        .start_time = sqlite3_column_double(s, 4),
        .end_time = sqlite3_column_double(s, 5),
        .cpu_s = sqlite3_column_double(s, 6),
        .peak_rss = sqlite3_column_int64(s, 7),
        .reason = store__col_text(s, 8),
    };
    t.state = store__col_task_state(s, 2, &t.reason, why);
    return ((store_task_time_cb)cb)(&t, arg);
}

int store_task_times_foreach(store_t *st, int64_t run_id,
                             store_task_time_cb cb, void *arg)
{
    sqlite3_stmt *s = store__read_stmt(st, cb,
                                       "SELECT seq, attempt, state, queued_time, start_time, end_time,"
                                       " cpu_user + cpu_sys, peak_rss, reason FROM tasks WHERE run_id = ?1"
                                       " ORDER BY seq");
    if (!s)
        return -1;
    int rc = SQLITE_OK;
    store__bind_int64(&rc, s, 1, run_id);
    if (rc != SQLITE_OK) {
        return store__bind_fail(st, s, rc);
    }
    return store__foreach_rows(st, s, time_row, (void *)cb, arg);
}
