/* SPDX-License-Identifier: MIT */
/* test_sweep.c - sweeps and experiments in the store, and the migration of
 * a version 1 database to version 2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "tap.h"
#include "util/util.h"

static char *tmp_path(const char *name)
{
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof(buf[0]), "%s/%s", tap_tmpdir(), name);
    unlink(p);
    return p;
}

struct seen {
    int n;
    int64_t id;
    char name[64];
    char space[64];
    int maximize;
    char state[32];
};

static int on_sweep(const store_sweep_t *sw, void *arg)
{
    struct seen *s = arg;
    s->n++;
    s->id = sw->id;
    snprintf(s->name, sizeof(s->name), "%s", sw->name);
    snprintf(s->space, sizeof(s->space), "%s", sw->space);
    snprintf(s->state, sizeof(s->state), "%s", sw->state);
    s->maximize = sw->maximize;
    return 0;
}

struct exps {
    int n;
    int64_t iters[16];
    bool has_obj[16];
    double obj[16];
    char state[16][16];
    char params[16][64];
    int attempt[16];
};

static int on_exp(const store_experiment_t *e, void *arg)
{
    struct exps *x = arg;
    if (x->n < 16) {
        x->iters[x->n] = e->iter;
        x->has_obj[x->n] = e->has_objective;
        x->obj[x->n] = e->objective;
        x->attempt[x->n] = e->attempt;
        snprintf(x->state[x->n], sizeof(x->state[0]), "%s", e->state);
        snprintf(x->params[x->n], sizeof(x->params[0]), "%s",
                 e->params_json);
    }
    x->n++;
    return 0;
}

static void test_sweeps(void)
{
    banyan_error_t err = {{0}};
    store_t *st = store_open(tmp_path("s.db"), NULL, &err);
    ok(st != NULL, "store opens a new database at version 2");
    store_sweep_t sw = {.name = "tp-latency", .config_path = "tune.yaml",
                        .space = "tp:[1,2,4]", .command = "./bench {tp}",
                        .metric = "latency", .maximize = 0,
                        .state = "running", .created = 1000.5};
    ok(store_sweep_create(st, &sw, &err) == 0 && sw.id > 0,
       "a sweep is created with an id");
    store_sweep_t dup = sw;
    errno = 0;
    ok(store_sweep_create(st, &dup, &err) < 0 && errno == EEXIST,
       "a second sweep with the same name is refused with EEXIST");

    struct seen s = {0};
    ok(store_sweeps_foreach(st, "tp-latency", on_sweep, &s) == 0 &&
           s.n == 1 && s.id == sw.id && !strcmp(s.space, "tp:[1,2,4]") &&
           !strcmp(s.state, "running"),
       "the sweep is found by name with its fields");
    struct seen none = {0};
    ok(store_sweeps_foreach(st, "other", on_sweep, &none) == 0 &&
           none.n == 0,
       "an unknown name visits nothing");

    store_experiment_t e = {.sweep_id = sw.id, .iter = 1,
                            .params_json = "{\"tp\": 2}",
                            .point_json = "[2]", .state = "running",
                            .gpus = "0,1", .attempt = 1};
    ok(store_experiment_put(st, &e) == 0, "an experiment is recorded");
    store_experiment_t e0 = e;
    e0.iter = 0;
    e0.params_json = "{\"tp\": 1}";
    e0.point_json = "[1]";
    e0.state = "ok";
    e0.has_objective = true;
    e0.objective = 0.25;
    e0.metrics_json = "{\"latency\": 0.25}";
    ok(store_experiment_put(st, &e0) == 0, "a finished experiment too");
    e.state = "timeout";
    e.reason = "timed out after 600 s";
    e.attempt = 2;
    ok(store_experiment_put(st, &e) == 0, "an experiment row is replaced");

    struct exps x = {0};
    ok(store_experiments_foreach(st, sw.id, on_exp, &x) == 0 && x.n == 2,
       "two experiments are listed");
    ok(x.iters[0] == 0 && x.iters[1] == 1, "in iteration order");
    ok(x.has_obj[0] && x.obj[0] == 0.25 && !x.has_obj[1],
       "the objective round-trips and NULL means none");
    ok(!strcmp(x.state[1], "timeout") && x.attempt[1] == 2,
       "the replaced row has the new state and attempt");

    ok(store_sweep_set_state(st, sw.id, "done", 2000) == 0,
       "the sweep's state is set");
    errno = 0;
    ok(store_sweep_set_state(st, 999, "done", 2000) < 0 && errno == ENOENT,
       "setting the state of an unknown sweep is ENOENT");
    memset(&s, 0, sizeof(s));
    store_sweeps_foreach(st, NULL, on_sweep, &s);
    ok(s.n == 1 && !strcmp(s.state, "done"), "all sweeps are listed");

    ok(store_sweep_delete(st, sw.id) == 0, "a sweep is deleted");
    memset(&x, 0, sizeof(x));
    store_experiments_foreach(st, sw.id, on_exp, &x);
    memset(&s, 0, sizeof(s));
    store_sweeps_foreach(st, NULL, on_sweep, &s);
    ok(x.n == 0 && s.n == 0, "with its experiments");
    store_experiment_t orphan = e;
    orphan.sweep_id = 4242;
    ok(store_experiment_put(st, &orphan) < 0,
       "an experiment of a missing sweep is refused");
    store_close(st);
}

/* A database as version 1 of banyan wrote it. */
static void make_v1(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "PRAGMA application_id = 1650552441;"
                 "CREATE TABLE runs (id INTEGER PRIMARY KEY, kind TEXT NOT "
                 "NULL, name TEXT, command TEXT NOT NULL, spec_json TEXT, "
                 "fingerprint TEXT, ntasks INTEGER NOT NULL DEFAULT 0, state "
                 "TEXT NOT NULL, created REAL NOT NULL, finished REAL NOT "
                 "NULL DEFAULT 0, host TEXT, cwd TEXT);"
                 "CREATE INDEX runs_fingerprint ON runs(fingerprint);"
                 "CREATE TABLE tasks (run_id INTEGER NOT NULL REFERENCES "
                 "runs(id), seq INTEGER NOT NULL, args_json TEXT, command "
                 "TEXT, state TEXT NOT NULL, attempt INTEGER NOT NULL "
                 "DEFAULT 1, exit_code INTEGER NOT NULL DEFAULT 0, signal "
                 "INTEGER NOT NULL DEFAULT 0, slot INTEGER NOT NULL DEFAULT "
                 "0, gpus TEXT, host TEXT, start_time REAL NOT NULL DEFAULT "
                 "0, end_time REAL NOT NULL DEFAULT 0, cpu_user REAL NOT "
                 "NULL DEFAULT 0, cpu_sys REAL NOT NULL DEFAULT 0, peak_rss "
                 "INTEGER NOT NULL DEFAULT 0, stdout_tail BLOB, stderr_tail "
                 "BLOB, reason TEXT, PRIMARY KEY (run_id, seq)) WITHOUT "
                 "ROWID;"
                 "INSERT INTO runs (kind, command, state, created) VALUES "
                 "('run', 'echo old', 'done', 1);"
                 "PRAGMA user_version = 1;",
                 NULL, NULL, NULL);
    sqlite3_close(db);
}

static int count_runs(const store_run_t *run, void *arg)
{
    (void)run;
    (*(int *)arg)++;
    return 0;
}

static void test_migration(void)
{
    char *path = tmp_path("v1.db");
    make_v1(path);
    banyan_error_t err = {{0}};
    store_options_t ro = {.readonly = true};
    errno = 0;
    store_t *st = store_open(path, &ro, &err);
    ok(st == NULL, "a reader refuses a version 1 file it cannot migrate");
    st = store_open(path, NULL, &err);
    ok(st != NULL, "a writer migrates version 1 to 2: %s", err.text);
    int n = 0;
    store_runs_foreach(st, 0, 0, count_runs, &n);
    ok(n == 1, "the old run is kept");
    store_sweep_t sw = {.name = "x", .space = "s", .command = "c",
                        .metric = "m", .state = "running", .created = 1};
    ok(store_sweep_create(st, &sw, &err) == 0,
       "the migrated file holds sweeps");
    store_close(st);
}

int main(void)
{
    plan(NO_PLAN);
    test_sweeps();
    test_migration();
    return done_testing();
}
