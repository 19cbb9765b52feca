/* SPDX-License-Identifier: MIT */
/* test_limit.c - hard memory limits: a task whose tree goes above its limit
 * is killed promptly and says so; tasks beside it and tasks under their
 * limit are not touched. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_test.h"
#include "tap.h"
#include "util/util.h"

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define MB (1024.0 * 1024.0)

static void test_over_limit(void)
{
    xres_t x = {0};
    /* 120 MiB held for 3 s under a 40 MiB limit. */
    exec_spec_t spec = {.argv = ARGV(EXEC_HELPER, "mem", "120", "3000"),
                        .capture = true, .mem_limit_bytes = 40u << 20};
    double t0 = util_wall_time();
    ok(xrun(&spec, &x) == 0, "a task above its memory limit is reported");
    double took = util_wall_time() - t0;
    ok(x.res.mem_limited, "it is reported as killed for its memory limit");
    is_int(x.res.term_signal, SIGKILL, "it was killed with SIGKILL");
    ok(x.res.mem_limit_bytes == 40u << 20, "the result names the limit");
    ok(x.res.peak_rss_bytes > 40u << 20,
       "its peak is above the limit (%.1f MiB)", x.res.peak_rss_bytes / MB);
    ok(took < 2.5, "it was killed long before it would have ended "
       "(%.2f s)", took);
    ok(!x.res.timed_out && !x.res.interrupted,
       "it is neither a timeout nor an interruption");
    xres_fini(&x);
}

static void test_tree_over_limit(void)
{
    /* Two processes of 50 MiB each: each alone is under 80 MiB, the tree
     * is not. */
    xres_t x = {0};
    exec_spec_t spec = {.argv = ARGV(EXEC_HELPER, "tree", "50", "3000"),
                        .capture = true, .mem_limit_bytes = 80u << 20};
    ok(xrun(&spec, &x) == 0 && x.res.mem_limited,
       "the limit applies to the whole process tree");
    xres_fini(&x);
}

static void test_under_limit(void)
{
    xres_t x = {0};
    exec_spec_t spec = {.argv = ARGV(EXEC_HELPER, "mem", "20", "300"),
                        .capture = true, .mem_limit_bytes = 200u << 20};
    ok(xrun(&spec, &x) == 0 && x.res.exit_code == 0 && !x.res.mem_limited,
       "a task under its limit runs to the end");
    ok(x.res.peak_rss_bytes >= 15 * MB,
       "a limited task is sampled even while young (%.1f MiB)",
       x.res.peak_rss_bytes / MB);
    xres_fini(&x);
}

static void test_neighbour_unaffected(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    xres_t big = {0}, small = {0}, free_ = {0};
    exec_spec_t s1 = {.argv = ARGV(EXEC_HELPER, "mem", "100", "2000"),
                      .capture = true, .mem_limit_bytes = 30u << 20};
    exec_spec_t s2 = {.argv = ARGV(EXEC_HELPER, "mem", "10", "600"),
                      .capture = true, .mem_limit_bytes = 30u << 20};
    exec_spec_t s3 = {.argv = ARGV(EXEC_HELPER, "mem", "60", "600"),
                      .capture = true};
    ok(exec_start(ex, &s1, &big, NULL) == 0 &&
       exec_start(ex, &s2, &small, NULL) == 0 &&
       exec_start(ex, &s3, &free_, NULL) == 0, "three tasks start");
    ok(xfinish(&loop, ex) == 0, "all three are reported");
    ok(big.res.mem_limited, "the one above its limit is killed");
    ok(!small.res.mem_limited && small.res.exit_code == 0,
       "a limited one under its limit succeeds (peak %.1f MiB)",
       small.res.peak_rss_bytes / MB);
    ok(!free_.res.mem_limited && free_.res.exit_code == 0,
       "one without a limit, bigger than the others' limit, succeeds");
    xres_fini(&big);
    xres_fini(&small);
    xres_fini(&free_);
}

static void test_probe(void)
{
    char why[512] = "";
    bool have = exec_cgroup_probe(why, sizeof why);
    ok(why[0] != '\0', "the cgroup probe explains itself");
    diag("cgroup v2 memory: %s: %s", have ? "yes" : "no", why);
    ok(exec_cgroup_probe(NULL, 0) == have, "the probe takes no buffer too");
}

int main(void)
{
    plan(NO_PLAN);
    test_over_limit();
    test_tree_over_limit();
    test_under_limit();
    test_neighbour_unaffected();
    test_probe();
    return done_testing();
}
