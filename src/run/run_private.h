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

/* Opens the --results table (X.csv/.tsv/.json; -.csv is stdout).  NULL
 * with the text in error. */
run_output_t *run__output_create(const run_options_t *o, run_skip_fn skip,
                                 void *skip_arg, banyan_error_t *error);

/* Where the joblog lines go (borrowed; flushed after each line). */
void run__output_set_joblog(run_output_t *out, FILE *joblog);
void run__output_destroy(run_output_t *out);

/* One ended task, as its output needs it.  Borrowed for the call. */
typedef struct run_output_job {
    uint64_t index;
    const char *const *vals;   /* its input values */
    size_t nvals;
    const char *const *names;  /* the sources' names (--header), NULL =
                                  1, 2, ... */
    const char *command;       /* the command line, for the tables */
    const char *tag;           /* --tag/--tagstring text with its TAB, or
                                  NULL */
    const char *results_name;  /* --results expanded for this task (equal
                                  to results_dir when it has no
                                  replacement string), NULL = the same */
    const char *color;         /* --color/--ctag: its colour (ANSI, with
                                  the clear to end of line), or NULL */
    const char *verbose;       /* -v: the command line and a newline,
                                  before its stdout; NULL = none (or
                                  printed when it started) */
    uint64_t receive;          /* bytes of stdout (with verbose) */
    util_buf_t *half_out;      /* --line-buffer: what is not printed yet */
    util_buf_t *half_err;
    char *joblog;              /* its joblog line (run__joblog_line), or
                                  NULL: taken (also on failure), written
                                  after the output */
    size_t joblog_len;
} run_output_job_t;

/* Write (or queue, with keep_order) one task's final output.  0, or -1
 * with errno and, in why, what could not be written ("cannot write
 * --results out/3/stdout: No space left on device"): the task's output is
 * then not whole.  A closed stdout (EPIPE: banyan run ... | head) is not
 * an error.  Bytes the task's streams lost before (a full TMPDIR; lost:
 * local_task_t.output_lost) are the driver's to report (local.c): then
 * only failures to open or close a file are. */
int run__output_task(run_output_t *out, run_output_job_t *job,
                     const exec_result_t *res, bool lost, char *why,
                     size_t why_size);

/* --resume with --results DIR (and no joblog), as GNU: whether the task
 * (index, vals, names, results_name) has its stdout file already. */
bool run__results_exist(const run_options_t *o, const run_output_job_t *job);

/* --line-buffer: the whole lines of half + p[0..len) to fd now (each
 * tagged with tag, may be NULL), the rest kept in half; last: all of it.
 * 0 or -1 with errno. */
int run__output_line(run_output_t *out, util_buf_t *half, int fd,
                     const char *tag, const char *p, size_t len, bool last);

/* Write every queued output whose turn came (keep_order), or all of them
 * when the run ends (flush_all). */
void run__output_drain(run_output_t *out, bool flush_all);

/* Append s to b as a JSON string (with quotes). */
int run__json_string(util_buf_t *b, const char *s);

/* ------------------------------------------------------------ run_joblog */

/* Open the joblog: truncate and write the header, or (append) keep what is
 * there and add the header only to an empty file.  "-" is stdout.  NULL
 * with errno. */
FILE *run__joblog_open(const char *path, bool append);

/* The Exitval column: -1 after a timeout, 0 after a signal. */
int run__joblog_exitval(const exec_result_t *res);

/* One GNU Parallel joblog line, with its newline (a newline of command is
 * written as a NUL byte: its length is *len, not strlen).  Receive is
 * receive.  The text is malloc'd and its length in *len; NULL with
 * ENOMEM. */
char *run__joblog_line(uint64_t seq, const char *host,
                       const exec_result_t *res, uint64_t receive,
                       const char *command, size_t *len);

/* A line of an earlier joblog: its seq; done: whether --resume (or with
 * failed_only, --resume-failed) counts it as done; ok: exit 0 and no
 * signal; its command (NULs back to newlines).  0, or -1 to stop. */
typedef int (*run_joblog_visit_fn)(uint64_t seq, bool done, bool ok,
                                   const char *command, void *arg);

/* Read the joblog at path, if it exists, calling visit for each line.  0,
 * or -1 with "Format of 'FILE' is wrong: LINE" (GNU's words) in error. */
int run__joblog_read(const char *path, bool failed_only,
                     run_joblog_visit_fn visit, void *arg,
                     banyan_error_t *error);

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
