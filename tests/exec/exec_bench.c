/* SPDX-License-Identifier: MIT */
/* exec_bench.c - the executor's task throughput, to hold against
 * bench/spawn_loop (the bare posix_spawn + waitpid loop).
 *
 *   exec_bench [--capture] N J CMD [ARGS...]
 *
 * runs CMD N times, J at once, through exec_start() on a libuv loop and
 * prints `exec_bench tasks=N jobs=J capture=C seconds=S tasks_per_s=R`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "exec/exec.h"
#include "util/util.h"

struct bench {
    long left, done, failed;
    exec_spec_t spec;
};

static void on_done(exec_t *ex, void *task_arg, const exec_result_t *res,
                    void *cb_arg)
{
    struct bench *b = cb_arg;
    (void)task_arg;
    b->done++;
    b->failed += res->exit_code != 0;
    if (b->left > 0 && exec_start(ex, &b->spec, NULL, NULL) == 0)
        b->left--;
}

/* CPU seconds this process used itself (not its children). */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    int i = 1;
    bool capture = false;
    if (i < argc && strcmp(argv[i], "--capture") == 0) {
        capture = true;
        i++;
    }
    if (argc - i < 3) {
        fprintf(stderr, "usage: exec_bench [--capture] N J CMD [ARGS...]\n");
        return 2;
    }
    long n = atol(argv[i]), j = atol(argv[i + 1]);
    struct bench b = {.left = n};
    b.spec.argv = (const char *const *)&argv[i + 2];
    b.spec.capture = capture;
    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, on_done, &b);
    double cpu0 = self_cpu();
    uint64_t t0 = util_mono_ns();
    for (long k = 0; k < j && b.left > 0; k++)
        if (exec_start(ex, &b.spec, NULL, NULL) == 0)
            b.left--;
    uv_run(&loop, UV_RUN_DEFAULT);
    double s = (double)(util_mono_ns() - t0) / 1e9;
    double cpu_us = (self_cpu() - cpu0) * 1e6 / (double)(b.done ? b.done : 1);
    exec_destroy(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    printf("exec_bench tasks=%ld jobs=%ld capture=%d seconds=%.3f "
           "self_cpu_us_per_task=%.1f tasks_per_s=%.1f failed=%ld\n",
           b.done, j, capture, s, cpu_us, (double)b.done / s, b.failed);
    return b.done == n && b.failed == 0 ? 0 : 1;
}
