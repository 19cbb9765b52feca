/* SPDX-License-Identifier: MIT */
/* exec.h - the executor: runs task processes on a libuv loop.
 *
 * Each task is spawned with posix_spawn() into a process group of its own
 * (so a signal reaches its whole tree), with stdin from a file or /dev/null
 * and stdout/stderr captured through pipes read on the loop.  Children are
 * reaped on SIGCHLD with wait4(), which also gives CPU time.  While a task
 * runs longer than a short grace, the executor samples the resident memory of
 * its whole process tree from /proc (the group's members) and keeps the peak;
 * the result's peak also covers wait4's ru_maxrss when that exceeds banyan's
 * own high-water RSS (a spawned child inherits the parent's RSS in
 * ru_maxrss, so smaller values say nothing about the task).
 *
 * A task may carry a hard memory limit (exec_spec_t.mem_limit_bytes): while
 * such a task runs, the sampler scans every EXEC_LIMIT_SAMPLE_MS regardless
 * of the tasks' age, and a group whose resident memory is above its limit is
 * killed at once (SIGKILL, no grace: it would only grow) and reported with
 * mem_limited.  A spike shorter than the sampling period can go unseen.
 * cgroup v2 memory.max would be exact, but needs a delegated cgroup with
 * the memory controller, which many hosts (and this project's CI) lack;
 * exec_cgroup_probe() says whether this host has one.
 *
 * A task is all its processes.  Those that leave its group (`timeout`,
 * `set -m`, `setsid`) are followed too: the process is made a child
 * subreaper, so a task's orphans are adopted by it (and reaped by the
 * executor), and every task's environment carries a tag, BANYAN_TASK_TAG,
 * that names this process and the task; where cgroup v2 is delegated, each
 * task also runs in a cgroup of its own (exec_cgroup.c, killed with
 * cgroup.kill).  Every stop (timeout, exec_stop,
 * exec_interrupt, exec_signal, exec_destroy, the memory limit) signals the
 * task's whole tree, found in /proc from its group, its leader and its
 * tagged orphans down the parent links, and a SIGKILL is repeated until
 * the tree is empty.  docs/environment.md ("Process trees") says what
 * is still missed.
 *
 * Timeouts send SIGTERM to the tree, then SIGKILL after kill_grace_ms.
 * exec_interrupt() does the same to every running task (SIGINT/SIGTERM/SIGHUP
 * of banyan): their results are reported with interrupted = true.  The done
 * callback fires once per started task, after the process has exited AND
 * both pipes reached EOF (or the group was killed), so a task's output is
 * complete when it is reported.
 *
 * Tasks die with the executor's process.  exec_create() forks a guardian
 * process ("banyan-guard", exec_guard.c) that sends SIGKILL to the group of
 * every task not yet reported, and to every process tagged as one of
 * theirs, when this process dies or exits without exec_destroy(): kill -9,
 * the OOM killer, a crash.  It costs no system call per task.  A group whose task was reported is not followed further (its
 * number may be reused): a daemon that a finished task left behind stays,
 * as it does after exec_destroy().
 *
 * Captured output stays in memory up to EXEC_SPILL_BYTES per stream and goes
 * on in an unlinked temporary file beyond that, so a chatty task cannot eat
 * banyan's memory.
 */
#ifndef BANYAN_EXEC_H
#define BANYAN_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <banyan/error.h>

enum {
    EXEC_SPILL_BYTES = 1 << 20,
    EXEC_LIMIT_SAMPLE_MS = 25, /* sampling period while a task has a
                                  memory limit (stretched on hosts where a
                                  /proc pass is slow, see exec_rss.c) */
};

typedef struct exec exec_t;

/* Captured bytes of one stream. Borrowed inside the done callback only. */
typedef struct exec_stream exec_stream_t;

/* Total bytes the task wrote to this stream. */
uint64_t exec_stream_size(const exec_stream_t *s);

/* Write the whole stream to fd.  With line_prefix not NULL, write it before
 * every line (GNU Parallel --tag); a final line without newline gets one.
 * 0 or -1 with errno. */
int exec_stream_copy(const exec_stream_t *s, int fd, const char *line_prefix);

/* Copy the last bytes of the stream (at most size) into buf; returns the
 * count. */
size_t exec_stream_tail(const exec_stream_t *s, void *buf, size_t size);

/* Copy the whole stream into a NUL-terminated malloc'd string (caller frees)
 * if it is at most max bytes.  NULL with EFBIG or ENOMEM, or with the errno
 * of a failed spill (ENOSPC...) when bytes were lost; exec_stream_copy() then
 * writes what was kept and fails with that errno. */
char *exec_stream_dup(const exec_stream_t *s, size_t max);

/* How a task is stopped (GNU Parallel's --termseq): send sig[0], wait
 * ms[0] while any process of the tree lives, send sig[1], ...; a SIGKILL
 * follows the last step whatever it was, so every stop ends.  n == 0: the
 * default, SIGTERM (and SIGCONT) then SIGKILL after the kill grace. */
enum { EXEC_TERMSEQ_MAX = 16 };
typedef struct exec_termseq {
    int n;
    int sig[EXEC_TERMSEQ_MAX];
    int64_t ms[EXEC_TERMSEQ_MAX];
} exec_termseq_t;

typedef struct exec_spec {
    const char *const *argv;  /* argv[0] is searched in PATH; NULL-ended */
    const char *const *env;   /* "K=V" added to / overriding the executor's
                                 environment; a bare "K" removes K; the last
                                 entry for a name wins; NULL-ended; may be
                                 NULL */
    const char *cwd;          /* working directory, NULL = inherit */
    const char *stdin_path;   /* NULL = /dev/null */
    int64_t timeout_ms;       /* 0 = none */
    int64_t kill_grace_ms;    /* SIGTERM -> SIGKILL delay; 0 = 2000 */
    exec_termseq_t termseq;   /* n 0: SIGTERM, SIGKILL after the grace */
    bool capture;             /* false: inherit banyan's stdout/stderr */
    uint64_t mem_limit_bytes; /* hard limit on the tree's RSS; 0 = none.
                                 Sampled every EXEC_LIMIT_SAMPLE_MS from
                                 the spawn on; a group found above it is
                                 killed at once with SIGKILL */
    /* When capturing: called on the loop with each chunk read from the
     * task's stdout (fd 1) or stderr (fd 2) as it comes, before it is
     * kept in the stream (`banyan run --line-buffer`).  May be NULL. */
    void (*on_output)(int fd, const char *data, size_t len, void *arg);
    void *on_output_arg;
} exec_spec_t;

typedef struct exec_result {
    int exit_code;            /* exit status, or -1 when killed by a signal;
                                 127 when argv[0] was not found, 126 when it
                                 could not be executed, 1 when stdin_path or
                                 cwd could not be opened */
    int term_signal;          /* signal that ended it, 0 if it exited */
    bool timed_out;           /* killed because timeout_ms passed */
    bool interrupted;         /* killed by exec_interrupt() */
    bool spawn_failed;        /* never ran; exit_code is 126/127/1 and the
                                 reason is on err, as a shell would say it */
    bool mem_limited;         /* killed because its tree's RSS went above
                                 spec.mem_limit_bytes (term_signal is
                                 SIGKILL, peak_rss_bytes the peak seen) */
    uint64_t mem_limit_bytes; /* the limit it ran under, 0 = none */
    pid_t pid;                /* also the process group id; 0 if never ran */
    double start_time;        /* wall clock, seconds since the epoch */
    double end_time;
    double cpu_user;          /* seconds, whole waited-for tree */
    double cpu_sys;
    uint64_t peak_rss_bytes;  /* whole process tree; 0 when the task was
                                 too short to sample and wait4 could not
                                 tell (see above) */
    uint64_t peak_rss_bound_bytes; /* an upper bound of the peak, for tasks
                                 whose peak_rss_bytes is 0: wait4's
                                 ru_maxrss (the largest member's peak plus
                                 what it inherited from banyan); 0 when
                                 nothing is known */
    const exec_stream_t *out; /* NULL when not captured */
    const exec_stream_t *err;
} exec_result_t;

/* Called once per task, on the loop.  res and its streams are borrowed for
 * the duration of the call. */
typedef void (*exec_done_cb)(exec_t *ex, void *task_arg,
                             const exec_result_t *res, void *cb_arg);

/* Create an executor on loop.  It installs a SIGCHLD watcher on the loop
 * and reaps only its own children and the orphans it adopted (zombie
 * children outside this process's group that no executor started; others
 * are left to their owners), makes the process a child subreaper (for
 * good), and forks its guardian (a child process of ours, which the
 * executor reaps).
 * Caller must destroy with exec_destroy() once exec_running() is 0.  NULL
 * with ENOMEM, or the errno of a failed fork (EAGAIN). */
exec_t *exec_create(uv_loop_t *loop, exec_done_cb cb, void *cb_arg);

/* Sample the memory of tasks without a limit (on by default): each scan
 * reads /proc/<pid>/stat of every process on the host.  An executor whose
 * tasks' memory is not accounted (a worker's broadcast commands) turns it
 * off, so that many engines on one host do not scan /proc in turn while a
 * broadcast runs; tasks with a memory limit are still watched. */
void exec_set_sampling(exec_t *ex, bool on);

/* Close the executor's handles.  If tasks still run they are killed
 * (SIGKILL to their groups) and reaped without callbacks; the guardian is
 * stopped and reaped.  Run the loop once more (uv_run(loop,
 * UV_RUN_DEFAULT)) to finish closing.  Accepts NULL. */
void exec_destroy(exec_t *ex);

/* Start a task.  task_arg is handed back in the callback.  0, or -1 with
 * errno and error text when nothing could be started at all (pipes, fork
 * limits, a guardian that died and cannot be started again).  A missing or
 * non-executable program is NOT an error here: the task is reported
 * through the callback with exit_code 127 or 126. */
int exec_start(exec_t *ex, const exec_spec_t *spec, void *task_arg,
               banyan_error_t *error);

/* Send signal sig to one task's tree (found by task_arg; the first match);
 * SIGKILL is repeated until the tree is empty, as after a timeout.  0, -1
 * ENOENT.  A task that never ran or whose tree is gone: 0. */
int exec_signal(exec_t *ex, void *task_arg, int sig);

/* Stop one task (found by task_arg): SIGTERM and SIGCONT to its tree now,
 * SIGKILL after grace_ms (at once when grace_ms <= 0), repeated until the
 * tree is empty; its result comes with interrupted = true.  A kill already
 * due earlier is kept.  0, -1 ENOENT.  A task that never ran: 0. */
int exec_stop(exec_t *ex, void *task_arg, int64_t grace_ms);

/* Time one task (found by task_arg) out now, as if its timeout had
 * passed: its result comes with timed_out = true.  A task already being
 * stopped is left alone.  0, -1 ENOENT. */
int exec_timeout_now(exec_t *ex, void *task_arg);

/* What the memory sampler knows about a running task's tree. */
typedef struct exec_mem {
    uint64_t rss_bytes;       /* at the last scan */
    uint64_t peak_bytes;      /* highest seen so far */
    unsigned samples;         /* scans that saw the task (0: none yet) */
    bool busy;                /* at the last scan a member was running,
                                 runnable or in uninterruptible wait (so a
                                 peak that did not grow says little) */
    int64_t peak_age_ms;      /* since the peak last grew (since the spawn
                                 when it never did) */
} exec_mem_t;

/* The memory figures of the running task started with task_arg.  0, or -1
 * with ENOENT (not running: never started, failed to start, or reported). */
int exec_task_mem(const exec_t *ex, void *task_arg, exec_mem_t *out);

/* exec_stop() of every running task.  Tasks started afterwards are not
 * affected. */
void exec_interrupt(exec_t *ex, int64_t grace_ms);

/* Whether banyan could put tasks into cgroup v2 groups with a memory
 * controller here (a writable cgroup2 directory that lists "memory" in
 * cgroup.controllers).  Returns false and a sentence in why (may be NULL)
 * when not.  The executor itself always samples /proc (see above); the
 * probe is for diagnostics (`banyan stats`). */
bool exec_cgroup_probe(char *why, size_t size);

/* Tasks started and not yet reported. */
unsigned exec_running(const exec_t *ex);

#endif /* BANYAN_EXEC_H */
