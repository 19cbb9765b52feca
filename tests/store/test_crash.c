/* SPDX-License-Identifier: MIT */
/* test_crash.c - kill -9 of a writer never loses a committed task and never
 * damages the file.
 *
 * A child process opens the store and records tasks in a loop, ticking as a
 * real runner does and flushing every FLUSH_EVERY tasks; after each flush it
 * writes the number of tasks it knows are committed to a pipe.  The parent
 * kills it with SIGKILL after a delay (several rounds, different delays, some
 * short enough to hit store_open itself), then opens the same file: it must
 * open cleanly, pass the integrity check, and hold every task the child had
 * seen committed, each in the state it was committed with.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "tap.h"
#include "util/util.h"

enum { FLUSH_EVERY = 37 };

static char tail[300];

/* The child: write until killed.  Never returns. */
static void writer(const char *path, const char *fingerprint, int fd)
{
    store_t *st = store_open(path, &(store_options_t){.batch_ms = 2}, NULL);
    if (!st)
        _exit(2);
    store_run_t r = {.kind = "run", .command = "./work {}", .state =
                     "running", .fingerprint = fingerprint, .created = 1.0};
    if (store_run_create(st, &r, NULL) < 0 || store_flush(st) < 0)
        _exit(3);
    for (int64_t seq = 1;; seq++) {
        store_task_t t = {.run_id = r.id, .seq = seq,
                          .state = BANYAN_TASK_RUNNING,
                          .attempt = 1, .command = "./work x",
                          .stdout_tail = tail,
                          .stdout_tail_len = (int)sizeof(tail)};
        if (store_task_start(st, &t) < 0)
            _exit(4);
        if (seq % 2 == 0) {
            t.state = BANYAN_TASK_OK;
            t.end_time = 2.0;
            if (store_task_finish(st, &t) < 0)
                _exit(5);
        }
        if (store_tick(st, util_mono_ms()) == -2)
            _exit(6);
        if (seq % FLUSH_EVERY == 0) {
            if (store_flush(st) < 0)
                _exit(7);
            if (write(fd, &seq, sizeof(seq)) != (ssize_t)sizeof(seq))
                _exit(8);
        }
    }
}

/* Read whole records from the pipe into *seen (the last one wins).  Returns
 * false at end of file. */
static bool drain(int fd, int64_t *seen)
{
    int64_t buf[64];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0)
        return n < 0 && errno == EINTR;
    /* Writes of 8 bytes to a pipe are atomic, so reads hold whole records. */
    if (n >= (ssize_t)sizeof(int64_t))
        *seen = buf[n / (ssize_t)sizeof(int64_t) - 1];
    return true;
}

struct verify {
    int64_t seen;      /* tasks 1..seen must be there */
    int64_t present;   /* of those, how many are */
    int64_t bad_state; /* of those, how many have the wrong state */
};

static int verify_task(const store_task_t *t, void *arg)
{
    struct verify *v = arg;
    if (t->seq < 1 || t->seq > v->seen)
        return 0;
    v->present++;
    banyan_task_state_t want = t->seq % 2 == 0 ? BANYAN_TASK_OK
                                               : BANYAN_TASK_RUNNING;
    if (t->state != want
        || t->stdout_tail_len != (int)sizeof(tail))
        v->bad_state++;
    return 0;
}

static void round_trip(const char *path, int round, int delay_ms)
{
    char fingerprint[32];
    snprintf(fingerprint, sizeof(fingerprint), "round-%d", round);
    int p[2];
    if (pipe(p) < 0)
        bail_out("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        bail_out("fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        writer(path, fingerprint, p[1]);
    }
    close(p[1]);

    /* Read what the child reports until it is time to kill it. */
    int64_t seen = 0;
    int64_t deadline = util_mono_ms() + delay_ms;
    for (int64_t now; (now = util_mono_ms()) < deadline;) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (poll(&pfd, 1, (int)(deadline - now)) > 0 && !drain(p[0], &seen))
            break; /* the child is gone already */
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    while (drain(p[0], &seen))
        ;
    close(p[0]);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
       "round %d: the writer was killed by SIGKILL after %d ms (status %#x)",
       round, delay_ms, (unsigned)status);

    banyan_error_t error = {{0}};
    store_t *st = store_open(path, NULL, &error);
    if (!ok(st != NULL, "round %d: the database opens cleanly after kill -9 "
            "(%s)", round, error.text))
        return;
    ok(store_check(st, &error) == 0, "round %d: the integrity check passes "
       "(%s)", round, error.text);
    int64_t run_id = 0;
    int found = store_run_find(st, fingerprint, &run_id);
    if (seen > 0)
        ok(found == 0, "round %d: the committed run is there", round);
    struct verify v = {.seen = seen};
    if (found == 0)
        store_tasks_foreach(st, run_id, verify_task, &v);
    is_int(v.present, seen, "round %d: all %lld tasks the writer saw "
           "committed are present", round, (long long)seen);
    is_int(v.bad_state, 0, "round %d: each in the state it was committed "
           "with", round);
    diag("round %d: killed after %d ms, %lld tasks seen committed, %lld "
         "rows in the run", round, delay_ms, (long long)seen,
         (long long)(found == 0 ? store_tasks_count_all(st, run_id) : 0));
    store_close(st);
}

int main(void)
{
    plan(NO_PLAN);
    memset(tail, 'y', sizeof(tail));
    tail[10] = '\0'; /* binary tails survive too */

    char path[1024];
    snprintf(path, sizeof(path), "%s/crash.db", tap_tmpdir());
    char side[1100]; /* files left by an earlier run */
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    diag("seed %u", seed);
    srand(seed);
    static const int base_ms[] = {0, 2, 8, 25, 60, 120, 250};
    int n = (int)(sizeof(base_ms) / sizeof(base_ms[0]));
    for (int i = 0; i < n; i++)
        round_trip(path, i + 1, base_ms[i] + rand() % 15);
    return done_testing();
}
