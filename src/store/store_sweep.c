/* SPDX-License-Identifier: MIT */
/* store_sweep.c - sweeps and their experiments (schema version 2).
 *
 * A sweep is identified by name; its experiments by (sweep_id, iter).  An
 * experiment row is written when it is queued, replaced when it starts and
 * when it ends, so after kill -9 a resumed sweep finds every iteration that
 * was handed out, with the exact point (point_json) to run again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store_private.h"
#include "util/util.h"

int store_sweep_create(store_t *st, store_sweep_t *sw, banyan_error_t *error)
{
    if (!st || !sw || !sw->name || !sw->space || !sw->command ||
        !sw->metric || !sw->state) {
        errno = EINVAL;
        return errprintf(error, "store_sweep_create: incomplete sweep");
    }
    if (store__write_begin(st) < 0)
        return errprintf(error, "%s", st->last_error);
    sqlite3_stmt *s = st->stmt[STORE_STMT_SWEEP_INSERT];
    int rc = SQLITE_OK;
    store__bind_text(&rc, s, 1, sw->name);
    store__bind_text(&rc, s, 2, sw->config_path);
    store__bind_text(&rc, s, 3, sw->space);
    store__bind_text(&rc, s, 4, sw->command);
    store__bind_text(&rc, s, 5, sw->metric);
    store__bind_int64(&rc, s, 6, sw->maximize);
    store__bind_text(&rc, s, 7, sw->state);
    store__bind_double(&rc, s, 8, sw->created);
    if (rc != SQLITE_OK) {
        store__bind_fail(st, s, rc);
        return errprintf(error, "%s", st->last_error);
    }
    if (store__step(st, s, "cannot record the sweep") < 0) {
        if (errno == EINVAL) /* the UNIQUE constraint on name */
            errno = EEXIST;
        return errprintf(error, "%s", st->last_error);
    }
    sw->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

static int exec_by_id(store_t *st, enum store_stmt which, int64_t id,
                      const char *what)
{
    if (store__write_begin(st) < 0)
        return -1;
    sqlite3_stmt *s = st->stmt[which];
    int rc = sqlite3_bind_int64(s, 1, id);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__step(st, s, what);
}

int store_sweep_set_state(store_t *st, int64_t sweep_id, const char *state,
                          double updated)
{
    return store__set_state(st, STORE_STMT_SWEEP_STATE, sweep_id, state,
                            updated, "sweep");
}

int store_sweep_delete(store_t *st, int64_t sweep_id)
{
    if (!st) {
        errno = EINVAL;
        return -1;
    }
    if (exec_by_id(st, STORE_STMT_SWEEP_DELETE_EXPS, sweep_id,
                   "cannot delete the experiments") < 0)
        return -1;
    return exec_by_id(st, STORE_STMT_SWEEP_DELETE, sweep_id,
                      "cannot delete the sweep");
}

static int sweep_row(sqlite3_stmt *s, void *cb, void *arg)
{
    store_sweep_t sw = {
        .id = sqlite3_column_int64(s, 0),
        .name = store__col_text_nn(s, 1),
        .config_path = store__col_text(s, 2),
        .space = store__col_text_nn(s, 3),
        .command = store__col_text_nn(s, 4),
        .metric = store__col_text_nn(s, 5),
        .maximize = sqlite3_column_int(s, 6),
        .state = store__col_text_nn(s, 7),
        .created = sqlite3_column_double(s, 8),
        .updated = sqlite3_column_double(s, 9),
    };
    return (*(store_sweep_cb *)cb)(&sw, arg);
}

int store_sweeps_foreach(store_t *st, const char *name, store_sweep_cb cb,
                         void *arg)
{
    if (!st || !cb) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = st->stmt[name ? STORE_STMT_SWEEP_BY_NAME
                                    : STORE_STMT_SWEEPS_ALL];
    if (store__check_idle(st, s) < 0)
        return -1;
    if (name) {
        int rc = sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
        if (rc != SQLITE_OK)
            return store__bind_fail(st, s, rc);
    }
    return store__foreach_rows(st, s, sweep_row, &cb, arg);
}

int store_experiment_put(store_t *st, const store_experiment_t *e)
{
    if (!st || !e || !e->params_json || !e->point_json || !e->state) {
        errno = EINVAL;
        return -1;
    }
    if (store__write_begin(st) < 0)
        return -1;
    sqlite3_stmt *s = st->stmt[STORE_STMT_EXP_PUT];
    int rc = SQLITE_OK;
    store__bind_int64(&rc, s, 1, e->sweep_id);
    store__bind_int64(&rc, s, 2, e->iter);
    store__bind_text(&rc, s, 3, e->params_json);
    store__bind_text(&rc, s, 4, e->point_json);
    store__bind_text(&rc, s, 5, e->state);
    store__bind_text(&rc, s, 6, e->reason);
    store__bind_text(&rc, s, 7, e->metrics_json);
    if (rc == SQLITE_OK)
        rc = e->has_objective ? sqlite3_bind_double(s, 8, e->objective)
                              : sqlite3_bind_null(s, 8);
    store__bind_text(&rc, s, 9, e->gpus);
    store__bind_int64(&rc, s, 10, e->slot);
    store__bind_int64(&rc, s, 11, e->exit_code);
    store__bind_int64(&rc, s, 12, e->signal);
    store__bind_double(&rc, s, 13, e->start_time);
    store__bind_double(&rc, s, 14, e->end_time);
    store__bind_int64(&rc, s, 15, e->peak_rss);
    store__bind_text(&rc, s, 16, e->workdir);
    store__bind_int64(&rc, s, 17, e->attempt);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__step(st, s, "cannot record the experiment");
}

static int exp_row(sqlite3_stmt *s, void *cb, void *arg)
{
    store_experiment_t e = {
        .sweep_id = sqlite3_column_int64(s, 0),
        .iter = sqlite3_column_int64(s, 1),
        .params_json = store__col_text_nn(s, 2),
        .point_json = store__col_text_nn(s, 3),
        .state = store__col_text_nn(s, 4),
        .reason = store__col_text(s, 5),
        .metrics_json = store__col_text(s, 6),
        .has_objective = sqlite3_column_type(s, 7) != SQLITE_NULL,
        .objective = sqlite3_column_double(s, 7),
        .gpus = store__col_text(s, 8),
        .slot = sqlite3_column_int(s, 9),
        .exit_code = sqlite3_column_int(s, 10),
        .signal = sqlite3_column_int(s, 11),
        .start_time = sqlite3_column_double(s, 12),
        .end_time = sqlite3_column_double(s, 13),
        .peak_rss = sqlite3_column_int64(s, 14),
        .workdir = store__col_text(s, 15),
        .attempt = sqlite3_column_int(s, 16),
    };
    return (*(store_experiment_cb *)cb)(&e, arg);
}

int store_experiments_foreach(store_t *st, int64_t sweep_id,
                              store_experiment_cb cb, void *arg)
{
    if (!st || !cb) {
        errno = EINVAL;
        return -1;
    }
    sqlite3_stmt *s = st->stmt[STORE_STMT_EXPS_OF_SWEEP];
    if (store__check_idle(st, s) < 0)
        return -1;
    int rc = sqlite3_bind_int64(s, 1, sweep_id);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__foreach_rows(st, s, exp_row, &cb, arg);
}
