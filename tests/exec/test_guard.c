/* SPDX-License-Identifier: MIT */
/* test_guard.c - tasks die with their engine: when the process that runs an
 * executor is SIGKILLed (alone, or with its whole process group), every
 * group it started is killed within a second and no task gets to its side
 * effect; the guardian process that does it holds no other descriptor,
 * ignores the terminal's signals, is replaced when it dies, and is reaped by
 * exec_destroy().  (Regression test for "tasks outlive their worker",
 * issue 11 item 4: before the guardian, both sh processes went on.) */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_test.h"
#include "tap.h"
#include "util/util.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *tmp_path(const char *name)
{
    util_buf_t b = UTIL_BUF_INIT;
    util_buf_printf(&b, "%s/%s", tap_tmpdir(), name);
    return util_buf_steal(&b);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------- /proc */

/* Fields of /proc/<pid>/stat: state, ppid, pgrp; comm in name.  0 or -1. */
static int proc_stat(long pid, char *state, long *ppid, long *pgrp, char *name,
                     size_t size)
{
    char path[64], *text;
    size_t len;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (util_read_file(path, &text, &len) < 0)
        return -1;
    char *open = strchr(text, '('), *close = strrchr(text, ')');
    int rc = -1;
    if (open && close && close > open &&
        sscanf(close + 2, "%c %ld %ld", state, ppid, pgrp) == 3) {
        size_t n = (size_t)(close - open - 1);
        if (n >= size)
            n = size - 1;
        memcpy(name, open + 1, n);
        name[n] = '\0';
        rc = 0;
    }
    free(text);
    return rc;
}

/* Live (not zombie) processes whose group is pgrp. */
static int group_members(long pgrp)
{
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid = atol(e->d_name);
        char state, name[64];
        long ppid, pg;
        if (pid > 0 &&
            proc_stat(pid, &state, &ppid, &pg, name, sizeof name) == 0 &&
            pg == pgrp && state != 'Z' && state != 'X')
            n++;
    }
    closedir(d);
    return n;
}

/* The pid of parent's child named banyan-guard, or 0. */
static long find_guard(long parent)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    long found = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !found) {
        long pid = atol(e->d_name);
        char state, name[64];
        long ppid, pg;
        if (pid > 0 &&
            proc_stat(pid, &state, &ppid, &pg, name, sizeof name) == 0 &&
            ppid == parent && strcmp(name, "banyan-guard") == 0 && state != 'Z')
            found = pid;
    }
    closedir(d);
    return found;
}

/* Wait up to wait_ms for f() to hold; true if it did. */
static bool wait_until(bool (*f)(void *), void *arg, int wait_ms)
{
    for (int waited = 0;; waited += 10) {
        if (f(arg))
            return true;
        if (waited >= wait_ms)
            return false;
        sleep_ms(10);
    }
}

static bool file_exists(void *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && sb.st_size > 0;
}

static bool group_gone(void *pgrp)
{
    return group_members(*(long *)pgrp) == 0;
}

/* ----------------------------------------------------- the engine dies */

/* The engine: its own process (a child of the test), an executor, one
 * task whose shell and a background subshell (a grandchild in the same
 * group) each write a file after 2 s.  The shell writes its group id
 * first.  Never returns. */
static void engine_main(bool own_group, const char *dir)
{
    if (own_group)
        setpgid(0, 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    if (!ex)
        _exit(3);
    xres_t x = {0};
    exec_spec_t spec = {
        .argv = ARGV("sh", "-c",
                     "(sleep 2; echo late >grandchild.done) & "
                     "echo $$ >pgid.tmp && mv pgid.tmp pgid; "
                     "sleep 2; echo late >task.done"),
        .cwd = dir,
        .capture = true,
    };
    if (exec_start(ex, &spec, &x, NULL) < 0)
        _exit(4);
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(5); /* the test kills us long before */
}

/* Start an engine in dir, kill it (its group with own_group), and check
 * that its task's group is gone within a second and never writes. */
static void engine_dies(const char *what, bool own_group)
{
    char *dir = tmp_path(own_group ? "grp" : "one");
    mkdir(dir, 0777);
    char pgid_file[4096], task_done[4096], grand_done[4096];
    snprintf(pgid_file, sizeof pgid_file, "%s/pgid", dir);
    snprintf(task_done, sizeof task_done, "%s/task.done", dir);
    snprintf(grand_done, sizeof grand_done, "%s/grandchild.done", dir);

    pid_t engine = fork();
    if (engine == 0)
        engine_main(own_group, dir);
    if (engine < 0)
        bail_out("fork: %s", strerror(errno));
    bool started = wait_until(file_exists, pgid_file, 5000);
    ok(started, "%s: the engine's task started", what);
    char *text = xread_file(pgid_file);
    long pgid = text ? atol(text) : 0;
    free(text);
    long guard = find_guard(engine);
    ok(guard > 0, "%s: the engine has a guardian (pid %ld)", what, guard);
    ok(pgid > 0 && group_members(pgid) >= 2,
       "%s: the task's group %ld has the shell and its grandchild", what, pgid);

    int64_t t0 = util_mono_ms();
    kill(own_group ? -engine : engine, SIGKILL);
    int status;
    waitpid(engine, &status, 0);
    ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
       "%s: the engine died of SIGKILL", what);
    bool gone = pgid > 0 && wait_until(group_gone, &pgid, 1000);
    int64_t took = util_mono_ms() - t0;
    ok(gone,
       "%s: no process of the task's group is alive 1 s after the "
       "kill (%lld ms)",
       what, (long long)took);
    ok(guard > 0 && xpid_gone(guard, 1000), "%s: the guardian is gone too",
       what);
    /* The task would have written at 2 s after its start. */
    sleep_ms(3000 - (util_mono_ms() - t0));
    ok(!file_exists(task_done) && !file_exists(grand_done),
       "%s: neither the task nor its grandchild ever wrote its file", what);
    if (pgid > 0)
        kill((pid_t)-pgid, SIGKILL); /* leave nothing behind if it failed */
    free(dir);
}

/* ------------------------------------------------ the guardian itself */

static void on_tick(uv_timer_t *h)
{
    uv_stop(h->loop);
}

/* Run loop for ms, with tasks running. */
static void run_for(uv_loop_t *loop, int ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_tick, (uint64_t)ms, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* Entries of /proc/<pid>/fd, as "0 1 ..." in buf. */
static int list_fds(long pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    buf[0] = '\0';
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(buf), add = strlen(e->d_name);
        if (len + add + 2 <= size) {
            if (n)
                buf[len++] = ' ';
            memcpy(buf + len, e->d_name, add + 1);
        }
        n++;
    }
    closedir(d);
    return n;
}

static void test_guardian(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    xres_t x = {0};
    exec_spec_t spec = {.argv = ARGV("sleep", "100"), .capture = true};
    ok(exec_start(ex, &spec, &x, NULL) == 0, "a task runs");
    long self = (long)getpid();
    long guard = find_guard(self);
    ok(guard > 0, "the executor has one guardian child, named banyan-guard");

    /* It closes what it inherited and retitles itself just after the
     * fork, while the engine goes on: give it time to get there. */
    char fds[256] = "";
    int nfds = -1;
    for (int i = 0; i < 200; i++) {
        nfds = list_fds(guard, fds, sizeof fds);
        char cpath[96], *c = NULL;
        size_t clen = 0;
        snprintf(cpath, sizeof cpath, "/proc/%ld/cmdline", guard);
        bool titled = util_read_file(cpath, &c, &clen) == 0 && c &&
                      strcmp(c, "banyan-guard") == 0;
        free(c);
        if (nfds == 1 && titled)
            break;
        usleep(10000);
    }
    is_int(nfds, 1,
           "the guardian holds one descriptor (%s), not the task's pipes", fds);
    char state, name[64];
    long ppid, pgrp;
    ok(proc_stat(guard, &state, &ppid, &pgrp, name, sizeof name) == 0 &&
           pgrp == guard,
       "the guardian is in a process group of its own");
    char path[96], *cmdline = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%ld/cmdline", guard);
    ok(util_read_file(path, &cmdline, &len) == 0 && cmdline &&
           strcmp(cmdline, "banyan-guard") == 0,
       "its command line says banyan-guard, not the engine's");
    free(cmdline);

    kill((pid_t)guard, SIGINT);
    kill((pid_t)guard, SIGTERM);
    kill((pid_t)guard, SIGHUP);
    sleep_ms(100);
    ok(!xpid_gone(guard, 0), "it ignores SIGINT, SIGTERM and SIGHUP");

    kill((pid_t)guard, SIGKILL);
    long again = 0;
    for (int i = 0; i < 30 && (again == 0 || again == guard); i++) {
        run_for(&loop, 100);
        again = find_guard(self);
    }
    ok(again > 0 && again != guard,
       "a guardian that dies is replaced by a new one");
    ok(xpid_gone(guard, 0), "and the dead one was reaped");

    exec_destroy(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    is_int(uv_loop_close(&loop), 0, "the loop closes after exec_destroy");
    ok(x.calls == 0, "the killed task is not reported");
    errno = 0;
    ok(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD,
       "exec_destroy reaped the tasks and the guardian");
    ok(find_guard(self) == 0, "no guardian is left");
    xres_fini(&x);
}

/* Reported tasks leave the guardian's table: a finished task's number may
 * be reused, and the guardian must not kill what took it. */
static void test_finished_tasks_leave_the_table(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    xres_t x[64];
    memset(x, 0, sizeof x);
    exec_spec_t spec = {.argv = ARGV("true"), .capture = true};
    int started = 0;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 16; i++)
            started += exec_start(ex, &spec, &x[round * 16 + i], NULL) == 0;
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    int reported = 0;
    for (int i = 0; i < 64; i++)
        reported += x[i].calls == 1 && x[i].res.exit_code == 0;
    ok(started == 64 && reported == 64,
       "64 tasks in rounds of 16 run and are reported (slots are reused)");
    ok(xfinish(&loop, ex) == 0, "and the executor closes");
    for (int i = 0; i < 64; i++)
        xres_fini(&x[i]);
}

int main(void)
{
    plan(NO_PLAN);
    signal(SIGPIPE, SIG_IGN);
    engine_dies("engine SIGKILLed", false);
    engine_dies("engine's whole group SIGKILLed", true);
    test_guardian();
    test_finished_tasks_leave_the_table();
    return done_testing();
}
