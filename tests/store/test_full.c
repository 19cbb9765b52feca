/* SPDX-License-Identifier: MIT */
/* test_full.c - a database that cannot take writes is remembered:
 * store_write_failure() (issue 17, defect 5: a run on a full disk printed
 * the same commit error 767 times and went on starting tasks, because
 * nothing told the runner that the store was lost).
 *
 * A full file system is made without root with RLIMIT_FSIZE: writes past
 * the limit fail with EFBIG (SIGXFSZ ignored), which SQLite reports as a
 * full disk or an I/O error, as it does for ENOSPC.  The limit is set in a
 * child process, so the test runner keeps its own.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "tap.h"
#include "util/util.h"

static char tail[4000];

/* Record tasks from seq on until a write or a commit fails (or limit).
 * Returns the first seq that failed, 0 if none did. */
static int64_t write_until_failure(store_t *st, int64_t run_id, int64_t seq,
                                   int64_t limit)
{
    for (; seq < limit; seq++) {
        store_task_t t = {.run_id = run_id, .seq = seq,
                          .state = BANYAN_TASK_OK, .attempt = 1,
                          .command = "./work x", .end_time = 2.0,
                          .stdout_tail = tail,
                          .stdout_tail_len = (int)sizeof(tail)};
        if (store_task_finish(st, &t) < 0)
            return seq;
        if (store_tick(st, util_mono_ms() + 1000) == -2)
            return seq;
    }
    return 0;
}

/* The child: every check is one bit of its exit status. */
static int child(const char *path)
{
    int bad = 0;
    store_t *st = store_open(path, &(store_options_t){.batch_ms = 1}, NULL);
    if (!st)
        return 0xff;
    store_run_t r = {.kind = "run", .command = "./work {}",
                     .state = "running", .fingerprint = "f", .created = 1.0};
    if (store_run_create(st, &r, NULL) < 0 || store_flush(st) < 0)
        return 0xff;
    if (store_write_failure(st))
        bad |= 1 << 0;
    /* A caller's mistake is not a broken store. */
    store_sweep_t sw = {.name = "s", .space = "{}", .command = "c",
                        .metric = "m", .state = "running", .created = 1.0};
    banyan_error_t err = {{0}};
    if (store_sweep_create(st, &sw, NULL) < 0 ||
        store_sweep_create(st, &sw, &err) == 0 || errno != EEXIST ||
        store_flush(st) < 0 || store_write_failure(st))
        bad |= 1 << 1;

    struct stat sb;
    char wal[1100];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    off_t size = stat(wal, &sb) == 0 ? sb.st_size : 0;
    if (stat(path, &sb) == 0 && sb.st_size > size)
        size = sb.st_size;
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)size + 64 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) < 0)
        return 0xff;
    int64_t failed = write_until_failure(st, r.id, 1, 100000);
    const char *why = store_write_failure(st);
    if (!failed || !why)
        bad |= 1 << 2;
    else if (!strstr(why, path) ||
             (!strstr(why, "full") && !strstr(why, "I/O")))
        bad |= 1 << 3;
    char first[600];
    snprintf(first, sizeof(first), "%s", why ? why : "");
    /* Room again: writes are tried and kept, the failure stays said. */
    if (setrlimit(RLIMIT_FSIZE, &old) < 0)
        return 0xff;
    if (write_until_failure(st, r.id, failed, failed + 5) != 0 ||
        store_flush(st) < 0)
        bad |= 1 << 4;
    if (!store_write_failure(st) || strcmp(store_write_failure(st), first))
        bad |= 1 << 5;
    if (store_tasks_count(st, r.id, BANYAN_TASK_OK) < 5)
        bad |= 1 << 6;
    store_close(st);
    if (bad)
        fprintf(stderr, "first failure: %s\n", first);
    return bad;
}

int main(void)
{
    plan(9);
    memset(tail, 'x', sizeof(tail));
    char path[1024];
    snprintf(path, sizeof(path), "%s/full.db", tap_tmpdir());
    unlink(path);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child(path));
    int status = 0;
    waitpid(pid, &status, 0);
    int bad = WIFEXITED(status) ? WEXITSTATUS(status) : 0xff;
    if (bad == 0xff)
        diag("the child could not set up (status %d)", status);
    ok(bad != 0xff, "the child set up a store and a file size limit");
    ok(!(bad & 1 << 0), "no write failure after successful writes");
    ok(!(bad & 1 << 1), "a duplicate sweep name (a caller's mistake) is not "
       "a write failure");
    ok(!(bad & 1 << 2), "a write past the file size limit is a write "
       "failure (store_write_failure)");
    ok(!(bad & 1 << 3), "its text names the database and the error");
    ok(!(bad & 1 << 4), "writes are still tried, and kept once there is room");
    ok(!(bad & 1 << 5), "the first failure stays, unchanged");
    ok(!(bad & 1 << 6), "the writes made after the failure are in the file");

    store_t *st = store_open(path, NULL, NULL);
    banyan_error_t err = {{0}};
    ok(st && store_check(st, &err) == 0, "the file is sound afterwards%s%s",
       err.text[0] ? ": " : "", err.text);
    store_close(st);
    return done_testing();
}
