/* SPDX-License-Identifier: MIT */
/* run_private.h - shared between the files of the local runner. */
#ifndef BANYAN_RUN_PRIVATE_H
#define BANYAN_RUN_PRIVATE_H

#include <stdio.h>

#include "exec/exec.h"
#include "run.h"
#include "util/log.h"
#include "util/util.h"

/* ------------------------------------------------------------- run_output */

/* Output of finished tasks, written grouped per task, in completion order
 * or (keep_order) in input order. */
typedef struct run_output run_output_t;

/* skip(i, arg) tells which task indices will never be reported (resumed
 * runs), so that keep_order does not wait for them. */
typedef bool (*run_skip_fn)(uint64_t index, void *arg);

run_output_t *run__output_create(const run_options_t *o, run_skip_fn skip,
                                 void *skip_arg);
void run__output_destroy(run_output_t *out);

/* Write (or queue, with keep_order) one task's final output.  vals are its
 * input values (for --tag).  0, or -1 with errno and, in why, what could
 * not be written ("cannot write --results out/3/stdout: No space left on
 * device"): the task's output is then not whole.  A closed stdout (EPIPE:
 * banyan run ... | head) is not an error.  Bytes the task's streams lost
 * before (a full TMPDIR; lost: local_task_t.output_lost) are the driver's
 * to report (local.c): then only failures to open or close a file are. */
int run__output_task(run_output_t *out, uint64_t index,
                     const char *const *vals, size_t nvals,
                     const exec_result_t *res, bool lost, char *why,
                     size_t why_size);

/* Write every queued output whose turn came (keep_order), or all of them
 * when the run ends (flush_all). */
void run__output_drain(run_output_t *out, bool flush_all);

/* Append s to b as a JSON string (with quotes). */
int run__json_string(util_buf_t *b, const char *s);

/* ------------------------------------------------------------ run_joblog */

/* Open the joblog: truncate and write the header, or (append) keep what is
 * there and add the header only to an empty file.  NULL with errno. */
FILE *run__joblog_open(const char *path, bool append);

/* One GNU Parallel joblog line. */
void run__joblog_write(FILE *f, uint64_t seq, const char *host,
                       const exec_result_t *res, const char *command);

/* ---------------------------------------------------------- run_progress */

typedef struct run_progress {
    uint64_t total;     /* tasks in this invocation */
    uint64_t ok;
    uint64_t failed;
    uint64_t running;
    int64_t start_ms;   /* monotonic */
    bool shown;         /* a line is on the terminal */
} run_progress_t;

/* Draw the bar (util_log), replacing the previous line. */
void run__progress_draw(run_progress_t *p, int64_t now_ms);
/* End the bar with a newline if one was drawn. */
void run__progress_end(run_progress_t *p, int64_t now_ms);

#endif /* BANYAN_RUN_PRIVATE_H */
