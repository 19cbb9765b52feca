/* SPDX-License-Identifier: MIT */
/* store.h - the SQLite database of runs and tasks.
 *
 * One file (default .banyan/banyan.db), WAL journal, synchronous=NORMAL: a
 * committed transaction survives kill -9 of the process at any moment.  The
 * schema is versioned with PRAGMA user_version and migrated forward on open
 * (docs/schema.md).  Writes are grouped: every write call joins the open
 * transaction (starting one if none), and store_tick() commits it once it is
 * batch_ms old, so a busy run commits a few hundred times a second, not once
 * per event.  store_flush() commits at once; reads see the open transaction.
 * All statements are prepared once, at open.  A busy timeout lets readers
 * (banyan results) and the writer share the file.
 *
 * The file is created mode 0600.  Strings passed in are copied by SQLite
 * (SQLITE_TRANSIENT); strings handed to callbacks are borrowed for the call.
 */
#ifndef BANYAN_STORE_H
#define BANYAN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>
#include <banyan/task.h>

typedef struct store store_t;

/* The schema version this build writes. */
enum { STORE_SCHEMA_VERSION = 5 };

/* A field left 0 takes its default. */
typedef struct store_options {
    int batch_ms;          /* commit the open transaction after this; 5 */
    int busy_timeout_ms;   /* wait for a locked database; 10000 */
    bool readonly;         /* open an existing file for reading only */
} store_options_t;

/* Open (creating if needed, unless readonly) the database at path, and
 * migrate its schema.  opts may be NULL for defaults.  Does not create parent
 * directories.  NULL with errno and a sentence in error: the path, and what
 * failed ("cannot open", "not a banyan database", "schema version 7 is newer
 * than this banyan (1)").  errno: ENOENT (missing file or directory), EACCES,
 * EISDIR, EINVAL (not a banyan database), ENOTSUP (schema newer than this
 * build, or older and readonly), EBUSY (locked past busy_timeout_ms).  A
 * failed open leaves an existing file as it was, and removes a file it
 * created.  The path ":memory:" opens a private in-memory database.  Caller
 * must close with store_close(). */
store_t *store_open(const char *path, const store_options_t *opts,
                    banyan_error_t *error);

/* Commit what is pending and close.  Accepts NULL. */
void store_close(store_t *st);

/* Commit the open transaction if it is at least batch_ms old (now_ms is a
 * monotonic clock).  Returns the time in ms until it should be called again
 * (or -1 if no transaction is open).  On a failed commit returns -2 with
 * errno set and the error text kept for store_last_error(). */
int store_tick(store_t *st, int64_t now_ms);

/* Commit the open transaction now.  0 or -1. */
int store_flush(store_t *st);

/* Text of the last failure of this store (for logs).  Borrowed. */
const char *store_last_error(const store_t *st);

/* The first failure of a write that lost records or may lose them, as
 * "path: what: SQLite's words", or NULL while there was none: a COMMIT, a
 * BEGIN or a write statement that failed for the file's sake (disk or
 * file system full, I/O error, read-only file, locked past the busy
 * timeout), whether SQLite rolled the open transaction back (the text then
 * says so) or left it open (each later store_tick() tries the commit
 * again).  Not set by a caller's mistake (a constraint, a bad value) nor
 * by a busy COMMIT.  Once set it stays set, so that the owner of the loop
 * can notice it after any write and report it once (docs/full-disk.md):
 * later writes are still tried, and those that succeed are kept.
 * Borrowed; valid until store_close(). */
const char *store_write_failure(const store_t *st);

/* Run SQLite's integrity check on the whole file.  0 when it is sound, -1
 * with EINVAL and the first problem in error when it is damaged (or another
 * errno when it cannot be read). */
int store_check(store_t *st, banyan_error_t *error);

/* -------------------------------------------------------------------- runs */

typedef struct store_run {
    int64_t id;               /* assigned by store_run_create */
    const char *kind;         /* "run" (local runner) or "sweep" */
    const char *name;         /* optional label, may be NULL */
    const char *command;      /* the command template as given */
    const char *spec_json;    /* inputs and options, JSON text */
    const char *fingerprint;  /* identity for --resume (command + inputs) */
    int64_t ntasks;           /* tasks in the run */
    const char *state;        /* "running", "done", "failed", "interrupted" */
    double created;           /* wall clock, seconds since the epoch */
    double finished;          /* 0 while running */
    const char *host;         /* hostname */
    const char *cwd;          /* working directory */
} store_run_t;

/* Insert a run (id ignored), set run->id.  0 or -1. */
int store_run_create(store_t *st, store_run_t *run, banyan_error_t *error);

/* Mark a run's end.  0 or -1 (ENOENT: no such run). */
int store_run_finish(store_t *st, int64_t run_id, const char *state,
                     double finished);

/* The newest run with this fingerprint.  0 and *run_id, -1 ENOENT. */
int store_run_find(store_t *st, const char *fingerprint, int64_t *run_id);

/* Visit runs, newest first (limit <= 0: all), or one run when run_id > 0.
 * The callback returns 0 to go on, non-zero to stop (that value is
 * returned).  -1 on an SQL error.  A callback may write to the store, but
 * must not start the same foreach again (EBUSY). */
typedef int (*store_run_cb)(const store_run_t *run, void *arg);
int store_runs_foreach(store_t *st, int64_t run_id, int limit,
                       store_run_cb cb, void *arg);

/* ------------------------------------------------------------------- tasks */

typedef struct store_task {
    int64_t run_id;
    int64_t seq;              /* 1-based task number ({#}) */
    const char *args_json;    /* input values, JSON array of strings */
    const char *command;      /* command line as run (for the joblog) */
    banyan_task_state_t state; /* kept in the state column by its name
                                  (banyan_task_state_name) */
    int attempt;              /* 1 for the first run */
    int exit_code;            /* -1 when killed by a signal */
    int signal;               /* 0 when it exited */
    int slot;                 /* {%}, 0 if none */
    const char *gpus;         /* "0,2" or "" */
    const char *host;
    double start_time;        /* wall clock, seconds since the epoch */
    double end_time;          /* 0 while running */
    double cpu_user;          /* seconds */
    double cpu_sys;           /* seconds */
    int64_t peak_rss;         /* bytes, whole process tree */
    const void *stdout_tail;  /* last bytes of stdout, may be NULL */
    int stdout_tail_len;
    const void *stderr_tail;
    int stderr_tail_len;
    const char *reason;       /* why it failed, or NULL */
} store_task_t;

/* Record that a task started (insert or replace its row, state as given,
 * normally BANYAN_TASK_RUNNING).  0 or -1 (EINVAL: a state that is not one
 * of banyan_task_state_t's). */
int store_task_start(store_t *st, const store_task_t *task);

/* Record how a task ended (replace its row).  0 or -1, as above. */
int store_task_finish(store_t *st, const store_task_t *task);

/* Visit a run's tasks in seq order.  Same callback rules as runs.
 *
 * A row whose state column names no task state (a damaged or hand-edited
 * file) is neither skipped nor trusted: it is handed to the callback as
 * BANYAN_TASK_FAILED, with reason replaced by a sentence that quotes the
 * text found ('the database holds "xyz", which is not a task state'), so
 * that every reader shows it and none counts it as ok.  The same holds for
 * store_task_get(), store_tasks_page() and store_task_times_foreach(). */
typedef int (*store_task_cb)(const store_task_t *task, void *arg);
int store_tasks_foreach(store_t *st, int64_t run_id, store_task_cb cb,
                        void *arg);

/* The number of a run's task rows in state.  -1 on an SQL error, or with
 * EINVAL for a state out of range.  A row whose state text is unknown (see
 * above) is counted in no state, only by store_tasks_count_all(). */
int64_t store_tasks_count(store_t *st, int64_t run_id,
                          banyan_task_state_t state);

/* The number of all of a run's task rows, whatever their state.  -1 on an
 * SQL error. */
int64_t store_tasks_count_all(store_t *st, int64_t run_id);

/* ------------------------------------------------------------------ sweeps */

typedef struct store_sweep {
    int64_t id;               /* assigned by store_sweep_create */
    const char *name;         /* unique within a database */
    const char *config_path;  /* the configuration file it came from */
    const char *space;        /* canonical parameter space + strategy */
    const char *command;      /* the command template */
    const char *metric;       /* objective metric */
    int maximize;             /* 1: maximise the metric, 0: minimise */
    const char *state;        /* "running", "done", "stopped",
                                 "interrupted" */
    double created;           /* wall clock, seconds since the epoch */
    double updated;
} store_sweep_t;

/* Insert a sweep (id ignored), set sweep->id.  -1 EEXIST when the name is
 * taken, or another errno. */
int store_sweep_create(store_t *st, store_sweep_t *sweep,
                       banyan_error_t *error);

/* Set a sweep's state.  0 or -1 (ENOENT). */
int store_sweep_set_state(store_t *st, int64_t sweep_id, const char *state,
                          double updated);

/* Delete a sweep and its experiments (--restart).  0 or -1. */
int store_sweep_delete(store_t *st, int64_t sweep_id);

/* Visit the sweep called name, or every sweep (newest first) when name is
 * NULL.  Callback rules as for runs; returns 0 also when none matched. */
typedef int (*store_sweep_cb)(const store_sweep_t *sweep, void *arg);
int store_sweeps_foreach(store_t *st, const char *name, store_sweep_cb cb,
                         void *arg);

typedef struct store_experiment {
    int64_t sweep_id;
    int64_t iter;             /* 0-based iteration number */
    const char *params_json;  /* {"tp": 4, "lr": 0.001} */
    const char *point_json;   /* the exact point, JSON array of numbers */
    const char *state;        /* "queued", "running", "ok", "failed",
                                 "timeout", "killed", "infeasible",
                                 "interrupted" */
    const char *reason;       /* why it failed, or NULL */
    const char *metrics_json; /* the metrics object, or NULL */
    bool has_objective;
    double objective;         /* the metric's value as reported */
    const char *gpus;         /* "0,2" or "" */
    int slot;
    int exit_code;
    int signal;
    double start_time;        /* wall clock; 0 = not started */
    double end_time;
    int64_t peak_rss;         /* bytes, whole process tree */
    const char *workdir;      /* the experiment's working directory */
    int attempt;              /* runs of this iteration (resumes count) */
} store_experiment_t;

/* Insert or replace an experiment row.  0 or -1. */
int store_experiment_put(store_t *st, const store_experiment_t *exp);

/* Visit a sweep's experiments by iteration. */
typedef int (*store_experiment_cb)(const store_experiment_t *exp, void *arg);
int store_experiments_foreach(store_t *st, int64_t sweep_id,
                              store_experiment_cb cb, void *arg);

/* ------------------------------------ cluster server reads (store_jobs.c) */

/* Visit the seq of every task row of a run, ascending.  The callback
 * returns 0 to go on, non-zero to stop (that value is returned).  -1 on an
 * SQL error. */
typedef int (*store_seq_cb)(int64_t seq, void *arg);
int store_task_seqs_foreach(store_t *st, int64_t run_id, store_seq_cb cb,
                            void *arg);

/* Visit one task row.  0 (cb's value), -1 ENOENT when there is none. */
int store_task_get(store_t *st, int64_t run_id, int64_t seq,
                   store_task_cb cb, void *arg);

/* Visit up to limit task rows with seq > after_seq, ascending (limit <= 0:
 * all).  Callback rules as for store_tasks_foreach. */
int store_tasks_page(store_t *st, int64_t run_id, int64_t after_seq,
                     int limit, store_task_cb cb, void *arg);

/* ============================================================================
 * Resources and statistics (store_stats.c, schema version 3).  Owned by the
 * resources work (issue 5): learnt memory estimates per group, the usage of
 * each run or sweep (busy, idle, overhead, score), where the waiting went,
 * and when each task was queued.  docs/schema.md and docs/resources.md.
 * ========================================================================= */

/* The learnt peak-RSS statistics of one task group (see src/est/est.h). */
typedef struct store_estimate {
    const char *group;        /* the group's name */
    int64_t count;            /* samples */
    double mean_bytes;        /* mean peak RSS */
    double m2;                /* sum of squared deviations, bytes^2 */
    int64_t hwm_bytes;        /* largest sample */
    int64_t floor_bytes;      /* floor raised after unasked kills, 0 none */
    double updated;           /* wall clock of the last change */
} store_estimate_t;

/* Insert or replace a group's row.  0 or -1. */
int store_estimate_put(store_t *st, const store_estimate_t *e);

/* Visit every group in name order.  Callback rules as for runs. */
typedef int (*store_estimate_cb)(const store_estimate_t *e, void *arg);
int store_estimates_foreach(store_t *st, store_estimate_cb cb, void *arg);

/* Usage of one run (kind "run", ref_id = runs.id) or sweep (kind "sweep",
 * ref_id = sweeps.id), summed over every session (first run + resumes). */
typedef struct store_usage {
    const char *kind;         /* "run" or "sweep" */
    int64_t ref_id;
    const char *engine;       /* the engine that ran it (local: host name) */
    const char *group;        /* its estimate group */
    double score;             /* capability score of the engine, 0 unknown */
    int64_t slots;            /* -j of the last session */
    int64_t sessions;         /* invocations: 1 + resumes */
    double wall_s;            /* wall time the driver ran */
    double capacity_s;        /* integral of the allowed concurrency over
                                 time, slot-seconds */
    double busy_s;            /* slot-seconds spent running tasks */
    double active_s;          /* wall time with at least one task running */
    double wait_s;            /* queue waits of started tasks, summed */
    double cpu_s;             /* user + system CPU of the tasks */
    int64_t tasks;            /* task runs that ended (attempts count) */
    int64_t requeued;         /* runs sent back to the queue */
    int64_t limit_kills;      /* killed for --mem-limit */
    int64_t suspends;         /* SIGSTOPs below --mem-critical */
    int64_t critical_kills;   /* kills below --mem-critical */
    double updated;           /* wall clock of the last write */
} store_usage_t;

/* Insert or replace the usage row of (kind, ref_id).  0 or -1. */
int store_usage_put(store_t *st, const store_usage_t *u);

/* Visit the usage row of (kind, ref_id), or every row (newest update
 * first) when kind is NULL.  0 (or cb's value), -1 ENOENT when a row was
 * asked for by key and there is none, -1 on an SQL error. */
typedef int (*store_usage_cb)(const store_usage_t *u, void *arg);
int store_usage_foreach(store_t *st, const char *kind, int64_t ref_id,
                        store_usage_cb cb, void *arg);

/* What a run or sweep waited for: pump passes that found work pending but
 * could start nothing, by the resource that was short ("mem", "slots",
 * "cpus", "gpus", "custom", "share", "mem-reserve", "suspended"), and the
 * seconds spent so. */
typedef struct store_wait {
    const char *kind;
    int64_t ref_id;
    const char *reason;
    int64_t passes;
    double seconds;
} store_wait_t;

/* Insert or replace one (kind, ref_id, reason) row.  0 or -1. */
int store_wait_put(store_t *st, const store_wait_t *w);

/* Visit the wait rows of (kind, ref_id), most seconds first. */
typedef int (*store_wait_cb)(const store_wait_t *w, void *arg);
int store_waits_foreach(store_t *st, const char *kind, int64_t ref_id,
                        store_wait_cb cb, void *arg);

/* Record when a task became pending (wall clock), in its row of tasks.
 * Call after store_task_start() and store_task_finish() (which replace the
 * row).  0, or -1 (ENOENT: no such row). */
int store_task_set_queued(store_t *st, int64_t run_id, int64_t seq,
                          double queued);

/* The timing of one task row. */
typedef struct store_task_time {
    int64_t seq;
    int attempt;
    banyan_task_state_t state; /* an unknown text: as store_tasks_foreach */
    double queued;            /* 0 when not recorded */
    double start_time;
    double end_time;          /* 0 while running */
    double cpu_s;             /* user + system */
    int64_t peak_rss;
    const char *reason;
} store_task_time_t;

/* Visit the timing of a run's tasks in seq order. */
typedef int (*store_task_time_cb)(const store_task_time_t *t, void *arg);
int store_task_times_foreach(store_t *st, int64_t run_id,
                             store_task_time_cb cb, void *arg);

/* ======================================== end of resources and statistics */

/* ============================================================================
 * Blobs (store_blob.c, schema versions 4 and 5): content-addressed byte
 * strings (files pushed to every engine, a job's inputs), keyed by their
 * 32-byte hash (blob_hash in src/blob/blob.h), kept in rows of
 * STORE_BLOB_CHUNK bytes.  The store does not hash: the caller has checked
 * that hash names data.  docs/schema.md.
 * ========================================================================= */

/* Bytes in one stored row of a blob: reads aligned on it (the protocol's
 * chunks) touch one row each. */
enum { STORE_BLOB_CHUNK = 1 << 20 };

/* Store size bytes of data under hash, in the grouped transaction.  A hash
 * that is already stored is left as it is (the content is the same by
 * construction) and 0 is returned.  data may be NULL when size is 0.  0, or
 * -1 with errno (EROFS read-only; ...).  All rows or none. */
int store_blob_put(store_t *st, const uint8_t hash[32], const void *data,
                   size_t size);

/* The size of the blob hash.  0 and *size, -1 ENOENT when it is absent (or
 * another errno on an SQL error). */
int store_blob_size(store_t *st, const uint8_t hash[32], uint64_t *size);

/* Copy up to len bytes of the blob hash from offset into buf; *got is the
 * number copied: len, fewer at the end of the blob, 0 at or past its end.
 * Reads only the rows of that range.  0, or -1 ENOENT when it is absent
 * (or another errno on an SQL error). */
int store_blob_read(store_t *st, const uint8_t hash[32], uint64_t offset,
                    void *buf, size_t len, size_t *got);

/* A blob that arrives in chunks (a server's uploads), written as it comes
 * so that the writer holds one chunk, not the blob.  Chunk idx (full
 * STORE_BLOB_CHUNK bytes but the last) of upload, a number > 0 the caller
 * keeps unique among its uploads under way, is written in the grouped
 * transaction; readers do not see it until store_blob_stage_end().  0, or
 * -1 with errno (EINVAL: upload <= 0 or a chunk too long). */
int store_blob_stage(store_t *st, int64_t upload, uint64_t idx,
                     const void *data, size_t len);

/* Upload is whole and the caller checked that hash names its size bytes:
 * make it that blob, all or nothing.  A hash held already keeps its rows
 * and the staged ones are dropped.  0 or -1 with errno. */
int store_blob_stage_end(store_t *st, int64_t upload,
                         const uint8_t hash[32], uint64_t size);

/* Drop the staged chunks of upload, or of every upload when upload is 0
 * (what a server that died mid-upload left: call it at start).  0 or -1
 * with errno. */
int store_blob_stage_drop(store_t *st, int64_t upload);

/* ================================================================ end blobs */

/* ============================================================================
 * Server state (store_state.c, schema version 5): named integers a server
 * keeps across restarts, such as the bound on the tree's node ids.
 * ========================================================================= */

/* The value of name.  0 with *value, -1 ENOENT when it was never set (or
 * another errno on an SQL error). */
int store_state_get(store_t *st, const char *name, int64_t *value);

/* Set name to value, in the grouped transaction (store_flush() to make it
 * durable before acting on it).  0 or -1 with errno. */
int store_state_put(store_t *st, const char *name, int64_t value);

#endif /* BANYAN_STORE_H */
