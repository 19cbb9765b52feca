/* SPDX-License-Identifier: MIT */
/* test_path.c - programs named without a '/' are found on PATH once and the
 * file is cached; a cached file that disappears falls back to a fresh
 * search, and a missing program is still exit 127. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/exec.h"
#include "tap.h"
#include "util/util.h"

static char out[256];
static int exit_code;

static void on_done(exec_t *ex, void *task_arg, const exec_result_t *res,
                    void *cb_arg)
{
    (void)ex;
    (void)task_arg;
    (void)cb_arg;
    exit_code = res->exit_code;
    size_t n = res->out ? exec_stream_tail(res->out, out, sizeof(out) - 1)
                        : 0;
    out[n] = '\0';
}

static void run_one(uv_loop_t *loop, exec_t *ex, const char *prog)
{
    const char *argv[] = {prog, NULL};
    exec_spec_t spec = {.argv = argv, .capture = true};
    out[0] = '\0';
    exit_code = -99;
    ok(exec_start(ex, &spec, NULL, NULL) == 0, "%s is started", prog);
    while (exec_running(ex) > 0)
        uv_run(loop, UV_RUN_ONCE);
}

static void write_tool(const char *dir, const char *word)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/banyan-test-tool", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "#!/bin/sh\necho %s\n", word);
    fclose(f);
    chmod(path, 0755);
}

int main(void)
{
    plan(NO_PLAN);
    char bin1[1024], bin2[1024], path[4096];
    snprintf(bin1, sizeof(bin1), "%s/bin1", tap_tmpdir());
    snprintf(bin2, sizeof(bin2), "%s/bin2", tap_tmpdir());
    util_mkdir_p(bin1, 0755);
    util_mkdir_p(bin2, 0755);
    snprintf(path, sizeof(path), "%s:%s:%s", bin1, bin2, getenv("PATH"));
    setenv("PATH", path, 1);
    write_tool(bin1, "first");

    uv_loop_t loop;
    uv_loop_init(&loop);
    exec_t *ex = exec_create(&loop, on_done, NULL);
    run_one(&loop, ex, "banyan-test-tool");
    is_str(out, "first\n", "the program is found on PATH");
    run_one(&loop, ex, "banyan-test-tool");
    is_str(out, "first\n", "and found again (from the cache)");

    char gone[1100];
    snprintf(gone, sizeof(gone), "%s/banyan-test-tool", bin1);
    unlink(gone);
    write_tool(bin2, "second");
    run_one(&loop, ex, "banyan-test-tool");
    is_str(out, "second\n",
           "a cached program that disappeared is searched for again");
    is_int(exit_code, 0, "and runs");

    run_one(&loop, ex, "banyan-no-such-tool-xyz");
    is_int(exit_code, 127, "a missing program is still exit 127");

    exec_destroy(ex);
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0, "the loop closes cleanly");
    return done_testing();
}
