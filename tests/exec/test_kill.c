/* SPDX-License-Identifier: MIT */
/* test_kill.c - timeouts, the SIGTERM -> SIGKILL grace, exec_interrupt():
 * whole process groups die, and results say why. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "exec_test.h"
#include "tap.h"
#include "util/util.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_timeout_kills_group(void)
{
    /* Two grandchildren that would outlive the shell; their pids go to a
     * file so we can look for them afterwards. */
    xres_t x = {0};
    exec_spec_t spec = {
        .argv = ARGV("sh", "-c",
                     "sleep 100 & echo $! > pids; sleep 100 & echo $! >> pids;"
                     " wait"),
        .cwd = tap_tmpdir(),
        .timeout_ms = 300,
        .capture = true,
    };
    int64_t t0 = util_mono_ms();
    ok(xrun(&spec, &x) == 0, "a task with grandchildren and a timeout runs");
    int64_t took = util_mono_ms() - t0;
    ok(x.res.timed_out, "its result says timed_out");
    ok(!x.res.interrupted, "and not interrupted");
    is_int(x.res.term_signal, SIGTERM, "the shell died of SIGTERM");
    ok(took >= 300 && took < 1900,
       "it ended after the timeout and before the kill grace (%lld ms)",
       (long long)took);
    char path[4096];
    snprintf(path, sizeof path, "%s/pids", tap_tmpdir());
    char *pids = xread_file(path);
    long a = 0, b = 0;
    ok(pids && sscanf(pids, "%ld %ld", &a, &b) == 2 && a > 0 && b > 0,
       "the grandchildren wrote their pids");
    ok(a > 0 && xpid_gone(a, 2000), "the first grandchild is gone");
    ok(b > 0 && xpid_gone(b, 2000), "the second grandchild is gone");
    free(pids);
    xres_fini(&x);
}

static void test_grace_then_kill(void)
{
    xres_t x = {0};
    exec_spec_t spec = {
        .argv = ARGV("sh", "-c", "trap '' TERM; sleep 100; echo survived"),
        .timeout_ms = 200,
        .kill_grace_ms = 400,
        .capture = true,
    };
    int64_t t0 = util_mono_ms();
    ok(xrun(&spec, &x) == 0, "a task ignoring SIGTERM runs");
    int64_t took = util_mono_ms() - t0;
    ok(x.res.timed_out, "it timed out");
    is_int(x.res.term_signal, SIGKILL, "it was SIGKILLed after the grace");
    ok(took >= 600 && took < 5000,
       "the SIGKILL came after timeout + grace (%lld ms)", (long long)took);
    is_str(x.out, "", "it never got to print");
    xres_fini(&x);

    /* A task that ends by itself in time is not marked. */
    spec = (exec_spec_t){.argv = ARGV("sh", "-c", "exit 4"),
                         .timeout_ms = 5000, .capture = true};
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 4 && !x.res.timed_out,
       "a task within its timeout is not timed_out");
    xres_fini(&x);
}

/* exec_interrupt from a timer, and one more task started right after. */
struct intr {
    exec_t *ex;
    xres_t x[4];
    int64_t grace;
};

static void on_interrupt_timer(uv_timer_t *h)
{
    struct intr *in = h->data;
    exec_interrupt(in->ex, in->grace);
    exec_spec_t after = {.argv = ARGV("sh", "-c", "sleep 0.2; exit 7"),
                         .capture = true};
    exec_start(in->ex, &after, &in->x[3], NULL);
    uv_close((uv_handle_t *)h, NULL);
}

static int run_interrupt(struct intr *in, int64_t *took)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    in->ex = exec_create(&loop, xres_cb, NULL);
    exec_spec_t plain = {.argv = ARGV("sleep", "100"), .capture = true};
    exec_spec_t stubborn = {
        .argv = ARGV("sh", "-c", "trap '' TERM; sleep 100"),
        .capture = false};
    exec_spec_t tree = {.argv = ARGV("sh", "-c", "sleep 100 & wait"),
                        .timeout_ms = 60000, .capture = true};
    exec_start(in->ex, &plain, &in->x[0], NULL);
    exec_start(in->ex, &stubborn, &in->x[1], NULL);
    exec_start(in->ex, &tree, &in->x[2], NULL);
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = in;
    uv_timer_start(&timer, on_interrupt_timer, 100, 0);
    int64_t t0 = util_mono_ms();
    uv_run(&loop, UV_RUN_DEFAULT);
    *took = util_mono_ms() - t0;
    return xfinish(&loop, in->ex);
}

static void test_interrupt(void)
{
    struct intr in = {.grace = 300};
    int64_t took;
    ok(run_interrupt(&in, &took) == 0, "exec_interrupt with running tasks");
    int marked = 0;
    for (int i = 0; i < 3; i++)
        marked += in.x[i].calls == 1 && in.x[i].res.interrupted &&
                  !in.x[i].res.timed_out;
    is_int(marked, 3, "every running task is reported once, interrupted");
    is_int(in.x[0].res.term_signal, SIGTERM, "a plain task got SIGTERM");
    is_int(in.x[1].res.term_signal, SIGKILL,
           "a task ignoring SIGTERM got SIGKILL after the grace");
    is_int(in.x[2].res.term_signal, SIGTERM, "a task with children ended");
    ok(in.x[3].calls == 1 && !in.x[3].res.interrupted &&
           in.x[3].res.exit_code == 7,
       "a task started after exec_interrupt runs normally");
    ok(took < 5000, "everything ended promptly (%lld ms)", (long long)took);
    for (int i = 0; i < 4; i++)
        xres_fini(&in.x[i]);

    struct intr now = {.grace = 0};
    ok(run_interrupt(&now, &took) == 0, "exec_interrupt with grace 0");
    int killed = 0;
    for (int i = 0; i < 3; i++)
        killed += now.x[i].res.interrupted &&
                  now.x[i].res.term_signal == SIGKILL;
    is_int(killed, 3, "grace 0 SIGKILLs every task at once");
    for (int i = 0; i < 4; i++)
        xres_fini(&now.x[i]);
}

/* A process that leaves the group but keeps the pipe open must not keep a
 * killed task from being reported. */
static void test_escaped_holder(void)
{
    xres_t x = {0};
    char pidfile[4096];
    snprintf(pidfile, sizeof pidfile, "%s/escaped.pid", tap_tmpdir());
    exec_spec_t spec = {
        .argv = ARGV("sh", "-c", "setsid sh -c 'echo $$ > \"$0\"; sleep 3' "
                                 "\"$0\" & sleep 100", pidfile),
        .timeout_ms = 200,
        .kill_grace_ms = 100,
        .capture = true,
    };
    if (system("command -v setsid >/dev/null") != 0) {
        ok(1, "# SKIP setsid is not installed");
        return;
    }
    int64_t t0 = util_mono_ms();
    ok(xrun(&spec, &x) == 0, "a killed task whose pipe is held elsewhere");
    int64_t took = util_mono_ms() - t0;
    ok(x.res.timed_out && took < 2900,
       "is reported once its group is dead (%lld ms), not when the holder "
       "exits", (long long)took);
    char *pid = xread_file(pidfile);
    if (pid)
        kill((pid_t)atol(pid), SIGKILL);
    free(pid);
    xres_fini(&x);
}

/* Issue 17 defect 4: processes that leave the task's group die with it.
 * The script starts three, each writing its pid: a setsid'ed sleep (a
 * child of the shell), a `set -m` job of bash (a group of its own) and a
 * setsid'ed sleep whose parent exits at once (an orphan, adopted by us). */
static const char tree_script[] =
    "setsid sleep 100 & echo $! >>pids\n"
    "bash -c 'set -m; sleep 100 & echo $! >>pids; wait' &\n"
    "(setsid sleep 100 & echo $! >>pids)\n"
    "wait\n";

struct tree_run {
    exec_t *ex;
    xres_t x;
    int how;                   /* 0 timeout, 1 exec_stop, 2 exec_destroy
                                  (3, 4, 5: the same) */
    uv_timer_t timer;
    int64_t t0;
};

static int count_lines(const char *path)
{
    char *text = xread_file(path);
    int n = 0;
    for (const char *p = text; p && *p; p++)
        n += *p == '\n';
    free(text);
    return n;
}

static void on_tree_timer(uv_timer_t *h)
{
    struct tree_run *r = h->data;
    char path[4096];
    snprintf(path, sizeof path, "%s/tree%d/pids", tap_tmpdir(), r->how);
    if (count_lines(path) < 3 && util_mono_ms() - r->t0 < 10000)
        return; /* not all started yet */
    uv_timer_stop(h);
    uv_close((uv_handle_t *)h, NULL);
    if (r->how % 3 == 1)
        exec_stop(r->ex, &r->x, 200);
    else if (r->how % 3 == 2)
        exec_destroy(r->ex);
}

/* Run the script, stopped as r->how says; 0 when it was. */
static int tree_run(struct tree_run *r, const char *dir)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    r->ex = exec_create(&loop, xres_cb, NULL);
    exec_spec_t spec = {.argv = ARGV("sh", "-c", tree_script),
                        .cwd = dir,
                        .timeout_ms = r->how % 3 == 0 ? 1500 : 0,
                        .capture = true};
    if (!r->ex || exec_start(r->ex, &spec, &r->x, NULL) < 0)
        return -1;
    r->t0 = util_mono_ms();
    uv_timer_init(&loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tree_timer, 50, 50);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (r->how % 3 == 2) {
        uv_run(&loop, UV_RUN_DEFAULT);
        return uv_loop_close(&loop) == 0 ? 0 : -1;
    }
    return xfinish(&loop, r->ex);
}

static void test_tree(int how, const char *what)
{
    if (system("command -v setsid >/dev/null && command -v bash "
               ">/dev/null") != 0) {
        ok(1, "# SKIP setsid or bash is not installed");
        return;
    }
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tree%d", tap_tmpdir(), how);
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/pids", dir);
    struct tree_run r = {.how = how};
    ok(tree_run(&r, dir) == 0, "%s: a task whose processes left its group",
       what);
    if (how % 3 == 0)
        ok(r.x.calls == 1 && r.x.res.timed_out, "%s: it timed out", what);
    else if (how % 3 == 1)
        ok(r.x.calls == 1 && r.x.res.interrupted, "%s: it is interrupted",
           what);
    char *text = xread_file(path);
    long pid[3] = {0, 0, 0};
    ok(text && sscanf(text, "%ld %ld %ld", &pid[0], &pid[1], &pid[2]) == 3,
       "%s: its three escapees wrote their pids", what);
    static const char *const name[] = {"the setsid'ed child",
                                       "the set -m job",
                                       "the adopted setsid'ed orphan"};
    for (int i = 0; i < 3; i++) {
        ok(pid[i] > 0 && xpid_gone(pid[i], 5000), "%s: %s is gone", what,
           name[i]);
        if (pid[i] > 0)
            kill((pid_t)pid[i], SIGKILL);
    }
    free(text);
    xres_fini(&r.x);
}

int main(void)
{
    plan(NO_PLAN);
    test_timeout_kills_group();
    test_grace_then_kill();
    test_interrupt();
    test_escaped_holder();
    /* With cgroups where this host delegates them, then without. */
    test_tree(0, "timeout");
    test_tree(1, "exec_stop");
    test_tree(2, "exec_destroy");
    setenv("BANYAN_NO_CGROUP", "1", 1);
    test_tree(3, "timeout, no cgroup");
    test_tree(4, "exec_stop, no cgroup");
    test_tree(5, "exec_destroy, no cgroup");
    return done_testing();
}
