/* SPDX-License-Identifier: MIT */
/* test_rss.c - peak memory of a task's whole process tree, and CPU time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "exec_test.h"
#include "tap.h"
#include "util/util.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define MB (1024.0 * 1024.0)

static void test_single(void)
{
    xres_t x = {0};
    exec_spec_t spec = {.argv = ARGV(EXEC_HELPER, "mem", "100", "500"),
                        .capture = true};
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "a task holding 100 MiB for 0.5 s runs");
    ok(x.res.peak_rss_bytes >= 80 * MB,
       "its peak RSS is at least 80 MiB (%.1f MiB)",
       x.res.peak_rss_bytes / MB);
    ok(x.res.peak_rss_bytes < 400 * MB, "and not absurdly more");
    xres_fini(&x);
}

/* wait4's ru_maxrss of a spawned child starts at the parent's RSS; a tiny
 * task of a big banyan must not look big (regression test). */
static void test_not_parent_memory(void)
{
    size_t n = 128u << 20;
    char *big = mmap(NULL, n, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (big == MAP_FAILED)
        bail_out("cannot map 128 MiB");
    memset(big, 1, n);
    xres_t x = {0};
    exec_spec_t spec = {.argv = ARGV("true"), .capture = true};
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "true runs while banyan holds 128 MiB");
    ok(x.res.peak_rss_bytes < 32 * MB,
       "its peak does not include banyan's memory (%.1f MiB)",
       x.res.peak_rss_bytes / MB);
    xres_fini(&x);
    spec.argv = ARGV(EXEC_HELPER, "mem", "200", "20");
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "a short task holding 200 MiB runs");
    ok(x.res.peak_rss_bytes >= 190 * MB,
       "a short task bigger than banyan is measured by wait4 (%.1f MiB)",
       x.res.peak_rss_bytes / MB);
    xres_fini(&x);
    munmap(big, n);
}

static void test_tree(void)
{
    /* Parent and child hold 60 MiB each at the same time: wait4's
     * ru_maxrss is the largest single process (~60), the tree's peak is the
     * sum (~120). */
    xres_t x = {0};
    exec_spec_t spec = {.argv = ARGV(EXEC_HELPER, "tree", "60", "600"),
                        .capture = true};
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "a parent and a child holding 60 MiB each run");
    ok(x.res.peak_rss_bytes >= 100 * MB,
       "the peak sums the tree, not the largest process (%.1f MiB)",
       x.res.peak_rss_bytes / MB);
    xres_fini(&x);

    /* Two processes on one address space (a vfork child before exec, a
     * CLONE_VM tracer) are one copy of the memory, not two. */
    spec.argv = ARGV(EXEC_HELPER, "sharedmm", "60", "600");
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "a process and a CLONE_VM child sharing 60 MiB run");
    ok(x.res.peak_rss_bytes >= 50 * MB && x.res.peak_rss_bytes < 100 * MB,
       "their peak counts the shared address space once (%.1f MiB)",
       x.res.peak_rss_bytes / MB);
    xres_fini(&x);

    /* The big process is orphaned at once (its shell exits), so it is no
     * descendant that wait4 could account for; it stays in the group. */
    spec.argv = ARGV("sh", "-c", "\"$0\" mem 100 600 & exit 0", EXEC_HELPER);
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "a shell leaving a 100 MiB process behind runs");
    ok(x.res.peak_rss_bytes >= 80 * MB,
       "the orphan's memory counts for the task (%.1f MiB)",
       x.res.peak_rss_bytes / MB);
    xres_fini(&x);
}

static void test_cpu(void)
{
    xres_t x = {0};
    exec_spec_t spec = {.argv = ARGV(EXEC_HELPER, "spin", "300"),
                        .capture = true};
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0, "a busy task runs");
    ok(x.res.cpu_user >= 0.28 && x.res.cpu_user < 30,
       "its user CPU time is reported (%.3f s)", x.res.cpu_user);
    ok(x.res.cpu_sys >= 0, "system time is not negative");
    xres_fini(&x);

    spec.argv = ARGV("sh", "-c", "\"$0\" spin 200; \"$0\" spin 200",
                     EXEC_HELPER);
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0,
       "a shell running two busy children runs");
    ok(x.res.cpu_user >= 0.38,
       "CPU time covers the waited-for children (%.3f s)", x.res.cpu_user);
    xres_fini(&x);

    spec.argv = ARGV("sleep", "0.3");
    ok(xrun(&spec, &x) == 0, "sleep runs");
    ok(x.res.cpu_user + x.res.cpu_sys < 0.2,
       "sleeping is not counted as CPU time (%.3f s)",
       x.res.cpu_user + x.res.cpu_sys);
    ok(x.res.end_time - x.res.start_time >= 0.29,
       "but wall time is (%.3f s)", x.res.end_time - x.res.start_time);
    xres_fini(&x);
}

/* exec_task_mem while tasks run: a task that allocated and now waits is
 * seen waiting with its memory; a task that computes is seen busy. */
typedef struct probe {
    exec_t *ex;
    xres_t mem, spin;
    int got_mem, got_spin;
    exec_mem_t m, s;
} probe_t;

static void on_probe(uv_timer_t *t)
{
    probe_t *p = t->data;
    p->got_mem = exec_task_mem(p->ex, &p->mem, &p->m);
    p->got_spin = exec_task_mem(p->ex, &p->spin, &p->s);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_task_mem(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    probe_t p = {0};
    p.ex = exec_create(&loop, xres_cb, NULL);
    /* The probe comes 2 s in: long after the 100 MiB are touched, even in
     * the ASan build on a loaded host (at 0.9 s a scan there still found
     * the task touching its pages, one CI run in few), and while the
     * spinning task still spins. */
    exec_spec_t a = {.argv = ARGV(EXEC_HELPER, "mem", "100", "3000")};
    exec_spec_t b = {.argv = ARGV(EXEC_HELPER, "spin", "3000")};
    banyan_error_t err;
    ok(p.ex && exec_start(p.ex, &a, &p.mem, &err) == 0 &&
       exec_start(p.ex, &b, &p.spin, &err) == 0, "two tasks start");
    exec_mem_t none;
    ok(exec_task_mem(p.ex, &p, &none) < 0 && errno == ENOENT,
       "an unknown task has no memory figures");
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &p;
    uv_timer_start(&t, on_probe, 2000, 0);
    ok(xfinish(&loop, p.ex) == 0, "both end");
    ok(p.got_mem == 0 && p.m.samples >= 1, "the waiting task was sampled "
       "(%u scans)", p.m.samples);
    ok(p.m.peak_bytes >= 80 * MB && p.m.rss_bytes >= 80 * MB,
       "with its memory (peak %.1f MiB, now %.1f MiB)", p.m.peak_bytes / MB,
       p.m.rss_bytes / MB);
    ok(!p.m.busy, "and seen waiting");
    ok(p.got_spin == 0 && p.s.busy, "the computing task is seen busy");
    ok(p.mem.calls == 1 && p.spin.calls == 1, "each reported once");
    xres_fini(&p.mem);
    xres_fini(&p.spin);
}

/* exec_set_sampling(false): a long task without a limit is never scanned
 * for (its peak still comes from wait4); one with a limit still is. */
static void on_probe_one(uv_timer_t *t)
{
    probe_t *p = t->data;
    p->got_mem = exec_task_mem(p->ex, &p->mem, &p->m);
    uv_close((uv_handle_t *)t, NULL);
}

static void run_unsampled(uint64_t limit, probe_t *p)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    p->ex = exec_create(&loop, xres_cb, NULL);
    exec_set_sampling(p->ex, false);
    exec_spec_t a = {.argv = ARGV(EXEC_HELPER, "mem", "50", "800"),
                     .mem_limit_bytes = limit};
    banyan_error_t err;
    if (!p->ex || exec_start(p->ex, &a, &p->mem, &err) < 0)
        bail_out("cannot start the task: %s", err.text);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = p;
    uv_timer_start(&t, on_probe_one, 600, 0);
    if (xfinish(&loop, p->ex) < 0)
        bail_out("the task did not end");
}

static void test_no_sampling(void)
{
    probe_t p = {0};
    run_unsampled(0, &p);
    ok(p.got_mem == 0 && p.m.samples == 0,
       "sampling off: a task without a limit is not scanned for (%u scans)",
       p.m.samples);
    ok(p.mem.res.peak_rss_bytes >= 40 * MB,
       "its peak still comes from wait4 (%.1f MiB)",
       p.mem.res.peak_rss_bytes / MB);
    xres_fini(&p.mem);
    probe_t q = {0};
    run_unsampled(512u << 20, &q);
    ok(q.got_mem == 0 && q.m.samples >= 1,
       "one with a memory limit still is (%u scans)", q.m.samples);
    xres_fini(&q.mem);
}

int main(void)
{
    plan(NO_PLAN);
    test_task_mem();
    test_no_sampling();
    test_single();
    test_tree();
    test_cpu();
    test_not_parent_memory();
    return done_testing();
}
