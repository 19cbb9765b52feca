/* SPDX-License-Identifier: MIT */
/* test_store.c - the store: creation, round trips, listings, grouped commits.
 *
 * Every test works on its own file in the test's temporary directory.  Raw
 * sqlite3 calls look at the file from outside, to check what the store
 * promises about the file itself (pragmas, mode, visibility of commits).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "tap.h"
#include "util/util.h"

/* A path in the test's directory, with no file (or -wal, -shm) left there
 * by an earlier run of the test. */
static char *path_in_tmp(const char *name)
{
    static char buf[8][1024];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof(buf[0]), "%s/%s", tap_tmpdir(), name);
    char side[1100];
    unlink(p);
    snprintf(side, sizeof(side), "%s-wal", p);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", p);
    unlink(side);
    return p;
}

/* A PRAGMA's integer value, read with a connection of our own. */
static long long raw_pragma(const char *path, const char *pragma)
{
    sqlite3 *db = NULL;
    long long v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        char sql[128];
        snprintf(sql, sizeof(sql), "PRAGMA %s", pragma);
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK
            && sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return v;
}

static store_run_t sample_run(const char *fingerprint, double created)
{
    store_run_t r = {
        .kind = "run",
        .name = "nightly",
        .command = "./sim {a} {b}",
        .spec_json = "{\"inputs\":[[\"1\",\"2\"],[\"x\"]]}",
        .fingerprint = fingerprint,
        .ntasks = 2,
        .state = "running",
        .created = created,
        .finished = 0,
        .host = "node7",
        .cwd = "/home/someone/work",
    };
    return r;
}

static store_task_t sample_task(int64_t run_id, int64_t seq,
                                banyan_task_state_t state)
{
    store_task_t t = {
        .run_id = run_id,
        .seq = seq,
        .args_json = "[\"1\",\"x\"]",
        .command = "./sim 1 x",
        .state = state,
        .attempt = 1,
        .slot = (int)(seq % 4) + 1,
        .gpus = "",
        .host = "node7",
        .start_time = 1700000000.25,
    };
    return t;
}

/* ------------------------------------------------------------- creation */

static void test_create(void)
{
    const char *path = path_in_tmp("create.db");
    banyan_error_t error = {{0}};
    mode_t old = umask(0); /* the store must not rely on the umask */
    store_t *st = store_open(path, NULL, &error);
    umask(old);
    ok(st != NULL, "store_open creates a database in a new file (%s)",
       error.text);
    if (!st)
        return;

    struct stat sb;
    ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600,
       "the new database file has mode 0600 (got %o)",
       (unsigned)(sb.st_mode & 0777));
    /* The WAL and shared-memory files exist while the store is open. */
    char side[1100];
    snprintf(side, sizeof(side), "%s-wal", path);
    ok(stat(side, &sb) == 0 && (sb.st_mode & 0077) == 0,
       "the -wal file is not readable by group or others (%o)",
       (unsigned)(sb.st_mode & 0777));
    snprintf(side, sizeof(side), "%s-shm", path);
    ok(stat(side, &sb) == 0 && (sb.st_mode & 0077) == 0,
       "the -shm file is not readable by group or others (%o)",
       (unsigned)(sb.st_mode & 0777));

    is_int(raw_pragma(path, "user_version"), STORE_SCHEMA_VERSION,
           "the schema version is recorded in user_version");
    is_int(raw_pragma(path, "application_id"), 0x62616e79,
           "the application_id marks the file as banyan's");
    is_int(store_tasks_count_all(st, 1), 0, "a new database has no tasks");
    ok(store_check(st, &error) == 0, "a new database passes the check");
    store_close(st);

    sqlite3 *db = NULL;
    char mode[16] = "";
    if (sqlite3_open(path, &db) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL)
                == SQLITE_OK
            && sqlite3_step(s) == SQLITE_ROW)
            snprintf(mode, sizeof(mode), "%s", sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    is_str(mode, "wal", "the database is in WAL mode");

    /* Reopen: the run written before is still there. */
    st = store_open(path, NULL, &error);
    ok(st != NULL, "store_open reopens an existing database (%s)",
       error.text);
    store_run_t r = sample_run("fp-create", 1.0);
    ok(st && store_run_create(st, &r, &error) == 0 && r.id > 0,
       "a run can be created after reopening");
    store_close(st);
    st = store_open(path, NULL, &error);
    int64_t id = 0;
    ok(st && store_run_find(st, "fp-create", &id) == 0 && id == r.id,
       "a run written before store_close is there after reopening");
    is_int(raw_pragma(path, "user_version"), STORE_SCHEMA_VERSION,
           "reopening keeps the schema version");
    store_close(st);

    st = store_open(":memory:", NULL, &error);
    ok(st != NULL, "\":memory:\" opens an in-memory database (%s)",
       error.text);
    r = sample_run("fp-mem", 1.0);
    ok(st && store_run_create(st, &r, NULL) == 0,
       "an in-memory database accepts writes");
    ok(access(":memory:", F_OK) != 0, "\":memory:\" creates no file");
    store_close(st);
}

/* ------------------------------------------------------------ round trip */

struct collect {
    int n;
    store_task_t t[8];
    store_run_t r[8];
    char *copies[64]; /* strdup'ed fields, freed by the test */
    int ncopies;
    unsigned char out[8][64];
};

static const char *keep(struct collect *c, const char *s)
{
    if (!s || c->ncopies >= 64)
        return s;
    return c->copies[c->ncopies++] = strdup(s);
}

static void collect_fini(struct collect *c)
{
    for (int i = 0; i < c->ncopies; i++)
        free(c->copies[i]);
}

static int collect_task(const store_task_t *t, void *arg)
{
    struct collect *c = arg;
    if (c->n >= 8)
        return 1;
    store_task_t *k = &c->t[c->n];
    *k = *t;
    k->args_json = keep(c, t->args_json);
    k->command = keep(c, t->command);
    k->gpus = keep(c, t->gpus);
    k->host = keep(c, t->host);
    k->reason = keep(c, t->reason);
    /* Tails: remember whether NULL, and the bytes (short in these tests). */
    if (t->stdout_tail && t->stdout_tail_len <= 64) {
        memcpy(c->out[c->n], t->stdout_tail, (size_t)t->stdout_tail_len);
        k->stdout_tail = c->out[c->n];
    }
    k->stderr_tail = t->stderr_tail ? "" : NULL; /* only NULL-ness kept */
    c->n++;
    return 0;
}

static int collect_run(const store_run_t *r, void *arg)
{
    struct collect *c = arg;
    if (c->n >= 8)
        return 1;
    store_run_t *k = &c->r[c->n++];
    *k = *r;
    k->kind = keep(c, r->kind);
    k->name = keep(c, r->name);
    k->command = keep(c, r->command);
    k->spec_json = keep(c, r->spec_json);
    k->fingerprint = keep(c, r->fingerprint);
    k->state = keep(c, r->state);
    k->host = keep(c, r->host);
    k->cwd = keep(c, r->cwd);
    return 0;
}

static void test_round_trip(void)
{
    const char *path = path_in_tmp("roundtrip.db");
    banyan_error_t error = {{0}};
    store_t *st = store_open(path, NULL, &error);
    if (!ok(st != NULL, "open for the round trip (%s)", error.text))
        return;

    store_run_t r = sample_run("fp-rt", 1700000000.5);
    r.name = NULL; /* optional */
    ok(store_run_create(st, &r, &error) == 0, "store_run_create succeeds");

    static const unsigned char nul_bytes[] = {'a', 0, 'b', 0, 0, 0xff, '\n'};
    store_task_t t1 = sample_task(r.id, 1, BANYAN_TASK_RUNNING);
    t1.gpus = "0,2";
    ok(store_task_start(st, &t1) == 0, "store_task_start records task 1");
    t1.state = BANYAN_TASK_FAILED;
    t1.attempt = 2;
    t1.exit_code = -1;
    t1.signal = 9;
    t1.end_time = 1700000012.75;
    t1.cpu_user = 3.5;
    t1.cpu_sys = 0.25;
    t1.peak_rss = (int64_t)5 << 32; /* beyond 32 bits */
    t1.stdout_tail = nul_bytes;
    t1.stdout_tail_len = (int)sizeof(nul_bytes);
    t1.stderr_tail = "";
    t1.stderr_tail_len = 0; /* empty, not NULL */
    t1.reason = "killed by signal 9 (memory limit)";
    ok(store_task_finish(st, &t1) == 0, "store_task_finish replaces task 1");

    store_task_t t2 = sample_task(r.id, 2, BANYAN_TASK_RUNNING);
    t2.args_json = NULL;
    t2.host = NULL;
    ok(store_task_start(st, &t2) == 0, "store_task_start records task 2");
    ok(store_run_finish(st, r.id, "failed", 1700000020.0) == 0,
       "store_run_finish records the end");
    ok(store_flush(st) == 0, "store_flush commits");
    store_close(st);

    st = store_open(path, &(store_options_t){.readonly = true}, &error);
    if (!ok(st != NULL, "reopen read-only (%s)", error.text))
        return;
    struct collect c = {0};
    is_int(store_tasks_foreach(st, r.id, collect_task, &c), 0,
           "store_tasks_foreach visits every task");
    is_int(c.n, 2, "both tasks come back, one row per seq");
    store_task_t *g = &c.t[0];
    is_int(g->seq, 1, "tasks come in seq order");
    is_int(g->state, BANYAN_TASK_FAILED,
           "the finish replaced the start's state");
    is_int(g->attempt, 2, "attempt round-trips");
    is_int(g->exit_code, -1, "exit_code round-trips");
    is_int(g->signal, 9, "signal round-trips");
    is_int(g->slot, 2, "slot round-trips");
    is_str(g->gpus, "0,2", "gpus round-trips");
    is_str(g->host, "node7", "host round-trips");
    is_str(g->args_json, "[\"1\",\"x\"]", "args_json round-trips");
    is_str(g->command, "./sim 1 x", "command round-trips");
    ok(g->start_time == 1700000000.25 && g->end_time == 1700000012.75,
       "start and end times round-trip exactly");
    ok(g->cpu_user == 3.5 && g->cpu_sys == 0.25, "cpu times round-trip");
    ok(g->peak_rss == (int64_t)5 << 32, "a 64-bit peak_rss round-trips");
    is_int(g->stdout_tail_len, sizeof(nul_bytes),
           "a tail with NUL bytes keeps its length");
    ok(g->stdout_tail
           && memcmp(g->stdout_tail, nul_bytes, sizeof(nul_bytes)) == 0,
       "a tail with NUL bytes keeps its bytes");
    ok(g->stderr_tail != NULL && g->stderr_tail_len == 0,
       "an empty tail comes back empty, not NULL");
    is_str(g->reason, "killed by signal 9 (memory limit)",
           "reason round-trips");

    store_task_t *h = &c.t[1];
    is_int(h->seq, 2, "the second task is seq 2");
    ok(h->args_json == NULL && h->host == NULL && h->reason == NULL,
       "NULL strings come back NULL");
    ok(h->stdout_tail == NULL && h->stdout_tail_len == 0
           && h->stderr_tail == NULL,
       "NULL tails come back NULL");
    is_int(h->state, BANYAN_TASK_RUNNING, "the started task is running");
    collect_fini(&c);

    struct collect rc = {0};
    is_int(store_runs_foreach(st, r.id, 0, collect_run, &rc), 0,
           "store_runs_foreach with a run_id succeeds");
    is_int(rc.n, 1, "it visits exactly that run");
    store_run_t *gr = &rc.r[0];
    ok(gr->id == r.id, "the run's id round-trips");
    is_str(gr->kind, "run", "kind round-trips");
    ok(gr->name == NULL, "a NULL name comes back NULL");
    is_str(gr->command, "./sim {a} {b}", "the command template round-trips");
    is_str(gr->spec_json, r.spec_json, "spec_json round-trips");
    is_str(gr->fingerprint, "fp-rt", "fingerprint round-trips");
    is_int(gr->ntasks, 2, "ntasks round-trips");
    is_str(gr->state, "failed", "store_run_finish set the state");
    ok(gr->created == 1700000000.5 && gr->finished == 1700000020.0,
       "created and finished round-trip");
    is_str(gr->host, "node7", "host round-trips");
    is_str(gr->cwd, "/home/someone/work", "cwd round-trips");
    collect_fini(&rc);

    store_task_t t3 = sample_task(r.id, 3, BANYAN_TASK_RUNNING);
    errno = 0;
    ok(store_task_start(st, &t3) < 0 && errno == EROFS,
       "a read-only store refuses writes with EROFS");
    ok(strstr(store_last_error(st), "read-only") != NULL,
       "and says so in store_last_error (%s)", store_last_error(st));
    store_close(st);
}

/* ---------------------------------------------------------------- listing */

static int count_runs(const store_run_t *r, void *arg)
{
    (void)r;
    ++*(int *)arg;
    return 0;
}

static int stop_at_second(const store_run_t *r, void *arg)
{
    (void)r;
    return ++*(int *)arg == 2 ? 42 : 0;
}

static void test_listing(void)
{
    const char *path = path_in_tmp("listing.db");
    banyan_error_t error = {{0}};
    store_t *st = store_open(path, NULL, &error);
    if (!ok(st != NULL, "open for listings (%s)", error.text))
        return;
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        store_run_t r = sample_run(i % 2 ? "fp-odd" : "fp-even", 100.0 + i);
        store_run_create(st, &r, NULL);
        ids[i] = r.id;
    }
    ok(ids[0] < ids[1] && ids[1] < ids[4], "run ids grow");

    struct collect c = {0};
    store_runs_foreach(st, 0, 3, collect_run, &c);
    is_int(c.n, 3, "a limit of 3 visits 3 runs");
    ok(c.n == 3 && c.r[0].id == ids[4] && c.r[1].id == ids[3]
           && c.r[2].id == ids[2],
       "runs come newest first");
    collect_fini(&c);
    int n = 0;
    store_runs_foreach(st, 0, 0, count_runs, &n);
    is_int(n, 5, "a limit of 0 visits every run");
    n = 0;
    is_int(store_runs_foreach(st, 0, -1, stop_at_second, &n), 42,
           "a callback's non-zero return stops the walk and is returned");
    is_int(n, 2, "no run is visited after the stop");
    n = 0;
    is_int(store_runs_foreach(st, 999, 0, count_runs, &n), 0,
           "a missing run_id is not an error");
    is_int(n, 0, "and visits nothing");

    int64_t id = 0;
    ok(store_run_find(st, "fp-even", &id) == 0 && id == ids[4],
       "store_run_find returns the newest run with the fingerprint");
    ok(store_run_find(st, "fp-odd", &id) == 0 && id == ids[3],
       "store_run_find tells fingerprints apart");
    errno = 0;
    ok(store_run_find(st, "fp-none", &id) < 0 && errno == ENOENT,
       "an unknown fingerprint is ENOENT");
    errno = 0;
    ok(store_run_finish(st, 999, "done", 1.0) < 0 && errno == ENOENT,
       "finishing an unknown run is ENOENT");

    /* Counting tasks by state. */
    const banyan_task_state_t states[] = {
        BANYAN_TASK_OK, BANYAN_TASK_OK, BANYAN_TASK_FAILED,
        BANYAN_TASK_RUNNING, BANYAN_TASK_OK, BANYAN_TASK_TIMEOUT};
    for (int i = 0; i < 6; i++) {
        store_task_t t = sample_task(ids[1], i + 1, states[i]);
        store_task_start(st, &t);
    }
    store_task_t other = sample_task(ids[2], 1, BANYAN_TASK_OK);
    store_task_start(st, &other);
    is_int(store_tasks_count_all(st, ids[1]), 6,
           "store_tasks_count_all counts every task of the run");
    is_int(store_tasks_count(st, ids[1], BANYAN_TASK_OK), 3,
           "three tasks are ok");
    is_int(store_tasks_count(st, ids[1], BANYAN_TASK_FAILED), 1,
           "one task failed");
    is_int(store_tasks_count(st, ids[1], BANYAN_TASK_KILLED), 0,
           "a state no task has counts 0");
    is_int(store_tasks_count(st, ids[2], BANYAN_TASK_OK), 1,
           "counts are per run");
    errno = 0;
    ok(store_tasks_count(st, ids[1], BANYAN_TASK_STATE_COUNT) < 0
           && errno == EINVAL,
       "counting a state out of range is EINVAL");
    store_task_t again = sample_task(ids[1], 4, BANYAN_TASK_OK);
    store_task_finish(st, &again);
    is_int(store_tasks_count(st, ids[1], BANYAN_TASK_OK), 4,
           "finishing a task moves it between states");
    is_int(store_tasks_count_all(st, ids[1]), 6,
           "finishing a task does not add a row");

    store_task_t orphan = sample_task(12345, 1, BANYAN_TASK_OK);
    errno = 0;
    ok(store_task_start(st, &orphan) < 0 && errno == EINVAL,
       "a task of a run that does not exist is refused (EINVAL)");
    store_task_t nostate = sample_task(ids[1], 7, BANYAN_TASK_STATE_COUNT);
    ok(store_task_start(st, &nostate) < 0 && errno == EINVAL,
       "a task whose state is out of range is refused");
    nostate.state = (banyan_task_state_t)-1;
    ok(store_task_start(st, &nostate) < 0 && errno == EINVAL,
       "so is a negative state");
    is_int(store_tasks_count_all(st, ids[1]), 6,
           "refused writes leave the earlier ones in the transaction");
    store_run_t bad = sample_run("x", 1);
    bad.command = NULL;
    ok(store_run_create(st, &bad, &error) < 0 && errno == EINVAL,
       "a run without a command is refused: %s", error.text);
    ok(store_flush(st) == 0, "the transaction still commits");
    store_close(st);
}

/* ------------------------------------------------------- grouped commits */

static int64_t count_from_outside(store_t *reader, int64_t run_id)
{
    return store_tasks_count_all(reader, run_id);
}

static void test_grouped_commits(void)
{
    const char *path = path_in_tmp("grouped.db");
    banyan_error_t error = {{0}};
    store_options_t wo = {.batch_ms = 200};
    store_t *w = store_open(path, &wo, &error);
    if (!ok(w != NULL, "open the writer (%s)", error.text))
        return;
    store_run_t r = sample_run("fp-grouped", 1.0);
    store_run_create(w, &r, NULL);
    store_flush(w);
    store_t *rd = store_open(path, &(store_options_t){.readonly = true},
                             &error);
    if (!ok(rd != NULL, "open a second, read-only connection (%s)",
            error.text)) {
        store_close(w);
        return;
    }
    is_int(store_tick(w, util_mono_ms()), -1,
           "store_tick says -1 when no transaction is open");

    int64_t t0 = util_mono_ms(); /* before the transaction begins */
    for (int i = 1; i <= 10; i++) {
        store_task_t t = sample_task(r.id, i, BANYAN_TASK_RUNNING);
        store_task_start(w, &t);
    }
    is_int(store_tasks_count_all(w, r.id), 10,
           "the writer reads its own uncommitted writes");
    is_int(count_from_outside(rd, r.id), 0,
           "another connection does not see writes before a tick");
    int due = store_tick(w, t0);
    ok(due > 0 && due <= 200, "a tick before batch_ms says when to come "
       "back (%d ms)", due);
    is_int(count_from_outside(rd, r.id), 0,
           "a tick before batch_ms does not commit");
    is_int(store_tick(w, util_mono_ms() + 200), -1,
           "a tick past batch_ms commits and says nothing is open");
    is_int(count_from_outside(rd, r.id), 10,
           "after the tick the other connection sees the writes");

    store_task_t t = sample_task(r.id, 11, BANYAN_TASK_RUNNING);
    store_task_start(w, &t);
    is_int(count_from_outside(rd, r.id), 10,
           "a new write is again invisible until committed");
    ok(store_flush(w) == 0, "store_flush succeeds");
    is_int(count_from_outside(rd, r.id), 11,
           "after store_flush the other connection sees it");
    ok(store_flush(w) == 0, "store_flush with nothing open is a no-op");

    t.seq = 12;
    store_task_start(w, &t);
    store_close(w);
    is_int(count_from_outside(rd, r.id), 12,
           "store_close commits what is pending");
    store_close(rd);
}

/* A second writer waits busy_timeout_ms for the first one's transaction,
 * then gets EBUSY; once the first commits, it can write. */
static void test_two_writers(void)
{
    const char *path = path_in_tmp("writers.db");
    banyan_error_t error = {{0}};
    store_t *a = store_open(path, NULL, &error);
    store_t *b = store_open(path, &(store_options_t){.busy_timeout_ms = 50},
                            &error);
    if (!ok(a && b, "two writers open the same file (%s)", error.text)) {
        store_close(a);
        store_close(b);
        return;
    }
    store_run_t r = sample_run("fp-a", 1.0);
    ok(store_run_create(a, &r, NULL) == 0, "the first writer opens a "
       "transaction");
    store_run_t r2 = sample_run("fp-b", 2.0);
    errno = 0;
    ok(store_run_create(b, &r2, &error) < 0 && errno == EBUSY,
       "the second writer gets EBUSY while the first holds it (%s)",
       error.text);
    ok(strstr(store_last_error(b), path) != NULL,
       "store_last_error names the file (%s)", store_last_error(b));
    is_int(store_tick(b, util_mono_ms()), -1,
           "the refused writer has no transaction open");
    ok(store_flush(a) == 0, "the first writer commits");
    ok(store_run_create(b, &r2, &error) == 0 && r2.id > r.id,
       "then the second writer can write (%s)", error.text);
    store_close(b);
    int64_t id = 0;
    ok(store_run_find(a, "fp-b", &id) == 0 && id == r2.id,
       "the first writer sees the second writer's run");
    store_close(a);
}

/* ------------------------------------------------------------ performance */

static void test_speed(void)
{
    const char *path = path_in_tmp("speed.db");
    banyan_error_t error = {{0}};
    store_t *st = store_open(path, NULL, &error);
    if (!ok(st != NULL, "open for the timing (%s)", error.text))
        return;
    store_run_t r = sample_run("fp-speed", 1.0);
    store_run_create(st, &r, NULL);
    store_flush(st);
    enum { N = 10000 };
    uint64_t t0 = util_mono_ns();
    int fails = 0, commits = 0;
    for (int i = 1; i <= N; i++) {
        store_task_t t = sample_task(r.id, i, BANYAN_TASK_RUNNING);
        fails += store_task_start(st, &t) != 0;
        commits += store_tick(st, util_mono_ms()) == -1;
    }
    for (int i = 1; i <= N; i++) {
        store_task_t t = sample_task(r.id, i, BANYAN_TASK_OK);
        t.end_time = 1700000001.0;
        t.stdout_tail = "done\n";
        t.stdout_tail_len = 5;
        fails += store_task_finish(st, &t) != 0;
        commits += store_tick(st, util_mono_ms()) == -1;
    }
    store_flush(st);
    double secs = (double)(util_mono_ns() - t0) / 1e9;
    is_int(fails, 0, "20,000 task writes succeed");
    is_int(store_tasks_count(st, r.id, BANYAN_TASK_OK), N,
           "all tasks are recorded");
    diag("store: %d task starts + %d finishes in %.3f s, %d commits "
         "(batch_ms 5)", N, N, secs, commits);
    store_close(st);
}

/* ------------------------------------------------------ state by name */

/* Run sql on path with a connection of our own.  SQLITE_OK or a code. */
static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* The state column of one row, as text, read from outside. */
static void raw_state(const char *path, int64_t seq, char *buf, size_t size)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    snprintf(buf, size, "?");
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
        && sqlite3_prepare_v2(db, "SELECT state FROM tasks WHERE seq = ?1",
                              -1, &s, NULL) == SQLITE_OK
        && sqlite3_bind_int64(s, 1, seq) == SQLITE_OK
        && sqlite3_step(s) == SQLITE_ROW)
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static int collect_time(const store_task_time_t *t, void *arg)
{
    store_task_time_t *k = arg;
    if (t->seq == 2) {
        *k = *t;
        k->reason = NULL; /* borrowed for the call only */
        if (t->reason && strstr(t->reason, "not a task state"))
            k->reason = "not a task state";
    }
    return 0;
}

static void test_state_text(void)
{
    const char *path = path_in_tmp("state.db");
    banyan_error_t error = {{0}};
    store_t *st = store_open(path, NULL, &error);
    if (!ok(st != NULL, "open for task states (%s)", error.text))
        return;
    store_run_t r = sample_run("fp-state", 1.0);
    store_run_create(st, &r, NULL);
    for (int i = 0; i < BANYAN_TASK_STATE_COUNT; i++) {
        store_task_t t = sample_task(r.id, i + 1, (banyan_task_state_t)i);
        store_task_start(st, &t);
    }
    ok(store_flush(st) == 0, "a task in every state is recorded");
    store_close(st);
    int named = 0;
    for (int i = 0; i < BANYAN_TASK_STATE_COUNT; i++) {
        char text[64];
        raw_state(path, i + 1, text, sizeof(text));
        named += strcmp(text, banyan_task_state_name(i)) == 0;
    }
    is_int(named, BANYAN_TASK_STATE_COUNT,
           "the state column holds each state's name (docs/schema.md)");

    /* A damaged or hostile file: a state the store never writes, with
     * bytes that are not text, and one too long to quote whole. */
    ok(raw_exec(path, "UPDATE tasks SET state = 'bogus' || char(10) || "
                      "char(255) || 'x', reason = 'orig' WHERE seq = 2;"
                      "UPDATE tasks SET state = 'done' WHERE seq = 4;"
                      "UPDATE tasks SET state = printf('%.500c', 'z')"
                      " WHERE seq = 5;") == SQLITE_OK,
       "three state texts are overwritten from outside");
    st = store_open(path, &(store_options_t){.readonly = true}, &error);
    if (!ok(st != NULL, "reopen (%s)", error.text))
        return;
    struct collect c = {0};
    is_int(store_tasks_foreach(st, r.id, collect_task, &c), 0,
           "the tasks are read without error");
    is_int(c.n, BANYAN_TASK_STATE_COUNT, "no row is skipped");
    ok(c.n > 4 && c.t[1].state == BANYAN_TASK_FAILED
           && c.t[3].state == BANYAN_TASK_FAILED
           && c.t[4].state == BANYAN_TASK_FAILED,
       "a row whose state names no task state reads as failed");
    ok(c.n > 4 && c.t[1].reason
           && strcmp(c.t[1].reason, "the database holds \"bogus???x\", "
                     "which is not a task state") == 0,
       "and its reason quotes the text, printable ASCII only (%s)",
       c.n > 1 && c.t[1].reason ? c.t[1].reason : "NULL");
    ok(c.n > 4 && c.t[4].reason && strlen(c.t[4].reason) < 100
           && strstr(c.t[4].reason, "zzz...\""),
       "a long text is cut short (%s)",
       c.n > 4 && c.t[4].reason ? c.t[4].reason : "NULL");
    ok(c.n > 2 && c.t[0].state == BANYAN_TASK_QUEUED
           && c.t[2].state == BANYAN_TASK_OK && c.t[2].reason == NULL,
       "the rows around them read as written");
    collect_fini(&c);
    is_int(store_tasks_count(st, r.id, BANYAN_TASK_FAILED), 0,
           "rows with an unknown text count in no state");
    is_int(store_tasks_count_all(st, r.id), BANYAN_TASK_STATE_COUNT,
           "but count among all rows");
    store_task_time_t tt = {.state = BANYAN_TASK_OK};
    is_int(store_task_times_foreach(st, r.id, collect_time, &tt), 0,
           "store_task_times_foreach reads the damaged run");
    ok(tt.state == BANYAN_TASK_FAILED && tt.reason,
       "it reads the unknown text as failed too, and says why");
    struct collect one = {0};
    ok(store_task_get(st, r.id, 2, collect_task, &one) == 0 && one.n == 1
           && one.t[0].state == BANYAN_TASK_FAILED && one.t[0].reason
           && strstr(one.t[0].reason, "bogus"),
       "so does store_task_get");
    collect_fini(&one);
    store_close(st);
}

int main(void)
{
    plan(NO_PLAN);
    test_create();
    test_round_trip();
    test_listing();
    test_state_text();
    test_grouped_commits();
    test_two_writers();
    test_speed();
    return done_testing();
}
