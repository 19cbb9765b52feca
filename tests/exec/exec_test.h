/* SPDX-License-Identifier: MIT */
/* exec_test.h - shared helpers of the executor's tests. */
#ifndef BANYAN_EXEC_TEST_H
#define BANYAN_EXEC_TEST_H

#include <stdbool.h>
#include <stddef.h>

#include "exec/exec.h"

/* What one task's callback saw, copied out of the borrowed result. */
typedef struct xres {
    int calls;            /* times the callback ran for this task */
    exec_result_t res;    /* out/err set to NULL */
    char *out, *err;      /* whole streams (NUL-terminated), or NULL */
    uint64_t out_size, err_size;
} xres_t;

void xres_fini(xres_t *x);

/* The done callback the helpers install: cb_arg unused, task_arg is an
 * xres_t *. */
void xres_cb(exec_t *ex, void *task_arg, const exec_result_t *res,
             void *cb_arg);

/* Run one task to completion on a fresh loop.  Returns 0 when the task was
 * started, reported once, and the loop closed cleanly afterwards. */
int xrun(const exec_spec_t *spec, xres_t *x);

/* Run the loop until exec_running() is 0, then destroy the executor and
 * close the loop.  0 when uv_loop_close() succeeded. */
int xfinish(uv_loop_t *loop, exec_t *ex);

/* Write text to path; read a file to a string (caller frees). */
int xwrite_file(const char *path, const char *text);
char *xread_file(const char *path);

/* Is pid gone (no such process, or a zombie waiting for its reaper)?  Waits
 * up to wait_ms for it to go. */
bool xpid_gone(long pid, int wait_ms);

#endif
