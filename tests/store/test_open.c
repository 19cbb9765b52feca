/* SPDX-License-Identifier: MIT */
/* test_open.c - store_open on paths that are not a good banyan database.
 *
 * Each case must fail with errno and a sentence naming the path, and must
 * leave the file exactly as it was: same bytes, no -wal left behind.
 */
#include <errno.h>
#include <fcntl.h>
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

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static bool wal_exists(const char *path)
{
    char p[1100];
    snprintf(p, sizeof(p), "%s-wal", path);
    return exists(p);
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* Run SQL on a file with a connection of our own.  0 or -1. */
static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The whole content of a file, to compare before and after. */
typedef struct snap {
    char *data;
    size_t len;
} snap_t;

static snap_t snap(const char *path)
{
    snap_t s = {NULL, 0};
    if (util_read_file(path, &s.data, &s.len) < 0)
        s.data = NULL;
    return s;
}

static bool snap_same(snap_t a, const char *path)
{
    snap_t b = snap(path);
    bool same = a.data && b.data && a.len == b.len
                && memcmp(a.data, b.data, a.len) == 0;
    free(b.data);
    return same;
}

/* Try to open; check errno, a word of the message and that the message
 * names the path. */
static void expect_refusal(const char *path, const store_options_t *opts,
                           int want_errno, const char *want_text,
                           const char *what)
{
    banyan_error_t error = {{0}};
    errno = 0;
    store_t *st = store_open(path, opts, &error);
    int err = errno;
    ok(st == NULL, "%s: store_open fails", what);
    store_close(st);
    ok(err == want_errno, "%s: errno is %s (got %s)", what,
       strerror(want_errno), strerror(err));
    ok(strstr(error.text, path) != NULL, "%s: the message names the path",
       what);
    ok(strstr(error.text, want_text) != NULL,
       "%s: the message says \"%s\" (%s)", what, want_text, error.text);
}

static void test_missing_directory(void)
{
    const char *path = path_in_tmp("no-such-dir/banyan.db");
    expect_refusal(path, NULL, ENOENT, "No such file",
                   "a directory that does not exist");
    ok(!exists(path_in_tmp("no-such-dir")),
       "store_open does not create parent directories");
}

static void test_directory(void)
{
    const char *path = path_in_tmp("a-directory");
    mkdir(path, 0700);
    expect_refusal(path, NULL, EISDIR, "directory", "a path that is a "
                   "directory");
    expect_refusal(path, &(store_options_t){.readonly = true}, EISDIR,
                   "directory", "a directory, read-only");
}

static void test_not_sqlite(void)
{
    const char *path = path_in_tmp("notes.txt");
    char text[4096];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = "banyan is a tree\n"[i % 17];
    write_file(path, text, sizeof(text));
    snap_t before = snap(path);
    expect_refusal(path, NULL, EINVAL, "not a banyan database",
                   "a text file");
    ok(snap_same(before, path), "a text file is left unchanged");
    ok(!wal_exists(path), "no -wal file is left next to it");
    expect_refusal(path, &(store_options_t){.readonly = true}, EINVAL,
                   "not a banyan database", "a text file, read-only");
    free(before.data);

    const char *tiny = path_in_tmp("tiny");
    write_file(tiny, "x", 1);
    before = snap(tiny);
    expect_refusal(tiny, NULL, EINVAL, "not a banyan database",
                   "a one-byte file");
    ok(snap_same(before, tiny), "a one-byte file is left unchanged");
    free(before.data);
}

static void test_other_application(void)
{
    const char *path = path_in_tmp("other-app.db");
    ok(raw_exec(path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body);"
                      "INSERT INTO notes (body) VALUES ('keep me');") == 0,
       "set up an SQLite file of another application");
    snap_t before = snap(path);
    expect_refusal(path, NULL, EINVAL, "not a banyan database",
                   "another application's SQLite file");
    ok(snap_same(before, path), "another application's file is left "
       "unchanged");
    ok(!wal_exists(path), "no -wal file is left next to it");
    free(before.data);

    /* Another application that stamps its own application_id. */
    const char *tagged = path_in_tmp("tagged.db");
    raw_exec(tagged, "PRAGMA application_id = 1234");
    before = snap(tagged);
    expect_refusal(tagged, NULL, EINVAL, "not a banyan database",
                   "a file with another application_id");
    ok(snap_same(before, tagged), "it is left unchanged");
    free(before.data);

    /* A file with banyan's tables but no application_id is not ours. */
    const char *lookalike = path_in_tmp("lookalike.db");
    raw_exec(lookalike, "CREATE TABLE runs (id INTEGER PRIMARY KEY)");
    expect_refusal(lookalike, NULL, EINVAL, "not a banyan database",
                   "tables named like banyan's without the application_id");
}

static void test_future_version(void)
{
    const char *path = path_in_tmp("future.db");
    banyan_error_t error = {{0}};
    store_t *st = store_open(path, NULL, &error);
    store_run_t r = {.kind = "run", .command = "true", .state = "done"};
    ok(st && store_run_create(st, &r, NULL) == 0,
       "set up a banyan database");
    store_close(st);
    ok(raw_exec(path, "PRAGMA user_version = 99") == 0,
       "raise its user_version to 99 from outside");
    snap_t before = snap(path);
    expect_refusal(path, NULL, ENOTSUP, "schema version 99 is newer",
                   "a database from the future");
    ok(snap_same(before, path), "a database from the future is left "
       "unchanged");
    expect_refusal(path, &(store_options_t){.readonly = true}, ENOTSUP,
                   "newer", "a database from the future, read-only");
    ok(snap_same(before, path), "it is still unchanged");
    free(before.data);
}

static void test_readonly_missing(void)
{
    const char *path = path_in_tmp("missing.db");
    expect_refusal(path, &(store_options_t){.readonly = true}, ENOENT,
                   "No such file", "read-only open of a missing file");
    ok(!exists(path), "a read-only open creates no file");
    ok(!wal_exists(path), "nor a -wal file");

    const char *empty = path_in_tmp("empty.db");
    write_file(empty, "", 0);
    expect_refusal(empty, &(store_options_t){.readonly = true}, EINVAL,
                   "not a banyan database", "read-only open of an empty "
                   "file");

    banyan_error_t error = {{0}};
    store_t *st = store_open(empty, NULL, &error);
    ok(st != NULL, "a read-write open turns an empty file into a banyan "
       "database (%s)", error.text);
    store_close(st);
}

static void test_unwritable_directory(void)
{
    if (geteuid() == 0) {
        ok(1, "# SKIP permissions do not apply to root");
        return;
    }
    const char *dir = path_in_tmp("locked");
    mkdir(dir, 0500);
    const char *path = path_in_tmp("locked/banyan.db");
    expect_refusal(path, NULL, EACCES, "Permission denied",
                   "a directory without write permission");
    chmod(dir, 0700);
}

static void test_damaged(void)
{
    const char *path = path_in_tmp("damaged.db");
    banyan_error_t error = {{0}};
    store_t *st = store_open(path, NULL, &error);
    if (!ok(st != NULL, "set up a database to damage"))
        return;
    store_run_t r = {.kind = "run", .command = "true", .state = "done"};
    store_run_create(st, &r, NULL);
    for (int i = 1; i <= 300; i++) {
        store_task_t t = {.run_id = r.id, .seq = i, .state = BANYAN_TASK_OK,
                          .command = "echo a fairly long command line"};
        store_task_start(st, &t);
    }
    store_close(st);

    /* Overwrite the middle of the file, past the first page. */
    struct stat sb;
    int fd = open(path, O_WRONLY);
    ok(fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 3 * 4096,
       "the database spans several pages");
    char junk[4096];
    memset(junk, 0xa5, sizeof(junk));
    if (fd >= 0) {
        ok(pwrite(fd, junk, sizeof(junk), 4096) == (ssize_t)sizeof(junk),
           "damage its second page");
        close(fd);
    }
    errno = 0;
    st = store_open(path, NULL, &error);
    int rc = st ? store_check(st, &error) : -1;
    ok(rc < 0, "the damage is reported by store_open or store_check (%s)",
       error.text);
    ok(errno == EINVAL, "with EINVAL (%s)", strerror(errno));
    store_close(st);
}

int main(void)
{
    plan(NO_PLAN);
    test_missing_directory();
    test_directory();
    test_not_sqlite();
    test_other_application();
    test_future_version();
    test_readonly_missing();
    test_unwritable_directory();
    test_damaged();
    return done_testing();
}
