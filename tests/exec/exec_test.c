/* SPDX-License-Identifier: MIT */
/* exec_test.c - shared helpers of the executor's tests. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec_test.h"
#include "util/util.h"

void xres_fini(xres_t *x)
{
    free(x->out);
    free(x->err);
    memset(x, 0, sizeof *x);
}

void xres_cb(exec_t *ex, void *task_arg, const exec_result_t *res,
             void *cb_arg)
{
    xres_t *x = task_arg;
    (void)ex;
    (void)cb_arg;
    x->calls++;
    x->res = *res;
    x->res.out = x->res.err = NULL;
    if (res->out) {
        x->out_size = exec_stream_size(res->out);
        free(x->out);
        x->out = exec_stream_dup(res->out, SIZE_MAX);
    }
    if (res->err) {
        x->err_size = exec_stream_size(res->err);
        free(x->err);
        x->err = exec_stream_dup(res->err, SIZE_MAX);
    }
}

int xfinish(uv_loop_t *loop, exec_t *ex)
{
    while (exec_running(ex) > 0)
        uv_run(loop, UV_RUN_ONCE);
    exec_destroy(ex);
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop);
}

int xrun(const exec_spec_t *spec, xres_t *x)
{
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0)
        return -1;
    exec_t *ex = exec_create(&loop, xres_cb, NULL);
    if (!ex)
        return -1;
    banyan_error_t err = {{0}};
    int rc = exec_start(ex, spec, x, &err);
    if (rc < 0)
        fprintf(stderr, "# exec_start: %s\n", err.text);
    /* The callback never runs inside exec_start. */
    if (x->calls != 0)
        rc = -1;
    uv_run(&loop, UV_RUN_DEFAULT); /* the loop ends when the task is done */
    if (exec_running(ex) != 0 || x->calls != 1)
        rc = -1;
    if (xfinish(&loop, ex) != 0)
        rc = -1;
    return rc;
}

int xwrite_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

char *xread_file(const char *path)
{
    char *data;
    size_t len;
    return util_read_file(path, &data, &len) == 0 ? data : NULL;
}

static bool is_zombie(long pid)
{
    char path[64], *text;
    size_t len;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (util_read_file(path, &text, &len) < 0)
        return errno == ENOENT;
    char *p = strrchr(text, ')');
    bool z = p && (p[2] == 'Z' || p[2] == 'X');
    free(text);
    return z;
}

bool xpid_gone(long pid, int wait_ms)
{
    for (int waited = 0;; waited += 10) {
        if ((kill((pid_t)pid, 0) < 0 && errno == ESRCH) || is_zombie(pid))
            return true;
        if (waited >= wait_ms)
            return false;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
