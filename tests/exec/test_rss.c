/* SPDX-License-Identifier: MIT */
/* test_rss.c - peak memory of a task's whole process tree, and CPU time. */
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

int main(void)
{
    plan(NO_PLAN);
    test_single();
    test_tree();
    test_cpu();
    test_not_parent_memory();
    return done_testing();
}
