/* SPDX-License-Identifier: MIT */
/* run.c - `banyan run`: GNU Parallel's model on the local driver.
 *
 * A run is one job of the core whose task i is the i-th combination of the
 * inputs.  prepare() expands the template for a started task and records
 * its start; done() records how it ended, writes the joblog line and the
 * grouped output, and applies --halt.  Everything else (the loop, the core,
 * the executor, signals) is the local driver's.
 *
 * Resume: with --joblog, as GNU Parallel: the tasks whose seq is in the
 * joblog are done (--resume-failed: those that exited 0 without a signal),
 * and --retry-failed runs the joblog's failed commands instead of the
 * template; with --results DIR and no joblog, those whose stdout file is
 * there are done.  Otherwise banyan's own: the run's identity
 * (fingerprint) is its command and its inputs; --resume finds the newest run
 * with that identity and queues only the task indices that did not end
 * there (--resume-failed: that did not succeed).
 *
 * The exit status and --halt are GNU Parallel's (run.h); so is stderr: a
 * failed task says nothing, --halt says "This job failed:" and the
 * command, a timeout "Warning: This job was killed because it timed out:".
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "est/est.h"
#include "local/local.h"
#include "run_private.h"

typedef struct run run_t;

enum {
    RUN_SCORE_BUDGET_MS = 50, /* capability benchmark at start */
    JOB_ID = 1,           /* the one job of a run */
    TAIL_BYTES = 4096,    /* stdout/stderr tail kept in the database */
};

typedef struct task_data {
    char **argv;          /* one block from tmpl_expand */
    char *line;           /* the command as text */
    char *args_json;
    char *env[2];         /* BANYAN_RUN_ID */
    char *tag;            /* --tag/--tagstring text and a TAB, or NULL */
    char *results_name;   /* --results expanded, or NULL */
    util_buf_t half[2];   /* --line-buffer: stdout and stderr not yet
                             printed */
    run_t *run;
} task_data_t;

struct run {
    const run_options_t *o;
    local_t *local;
    store_t *store;        /* borrowed from local */
    run_output_t *output;
    FILE *joblog;
    int64_t run_id;
    char host[256];
    size_t arity;
    uint8_t *skip;         /* bit per task index: ended in an earlier run */
    uint64_t total;        /* tasks in the inputs */
    uint64_t pending;      /* queued and not yet ended for good */
    unsigned record_errors;
    run_progress_t progress;

    /* --- output: GNU's exit status, --halt, the joblog's resume --- */
    uint64_t nfailed;      /* tasks that failed in this invocation */
    uint64_t nok;
    uint64_t ndone;        /* ended (ok or failed) */
    int halt_status;       /* the exit status --halt decided, -1 none */
    bool halted_now;       /* --halt now: running tasks are killed, not
                              reported */
    char **retry_cmds;     /* --retry-failed: command of each seq - 1,
                              NULL = done */
    const char *shell;     /* --retry-failed: runs them */
    run_pipe_t *pipe;      /* --pipe: the blocks are the tasks */
};

static bool skipped(uint64_t index, void *arg)
{
    const run_t *r = arg;
    return r->skip && index < r->total &&
           (r->skip[index / 8] >> (index % 8)) & 1;
}

/* ------------------------------------------------------------ the record */

static char *spec_json(const run_options_t *o, uint64_t ntasks)
{
    char req[160];
    res_request_format(&o->req, req, sizeof(req));
    json_t *j = json_pack("{s:I, s:I, s:s, s:I, s:I, s:b}", "jobs",
                          (json_int_t)o->jobs, "tasks", (json_int_t)ntasks,
                          "request", req, "timeout_ms",
                          (json_int_t)o->timeout_ms, "retries",
                          (json_int_t)o->retries, "keep_order",
                          o->keep_order);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static int resume_visit(const store_task_t *t, void *arg)
{
    run_t *r = arg;
    banyan_task_state_t st = t->state; /* an unknown text reads as failed */
    bool done;
    if (r->o->resume == RUN_RESUME_FAILED)
        done = st == BANYAN_TASK_OK;
    else
        done = banyan_task_state_is_end(st) && st != BANYAN_TASK_INTERRUPTED;
    uint64_t i = (uint64_t)t->seq - 1;
    if (done && t->seq >= 1 && i < r->total)
        r->skip[i / 8] |= (uint8_t)(1u << (i % 8));
    return 0;
}

static void fingerprint(const run_options_t *o, char *fp, size_t size)
{
    char ifp[40];
    tmpl_inputs_fingerprint(o->inputs, ifp);
    /* FNV-1a of the command, then the inputs' own fingerprint. */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = o->command_text; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(fp, size, "%016llx%.16s", (unsigned long long)h, ifp);
}

/* ------------------------------------------------ resume from the joblog */

static bool joblog_file(const run_options_t *o)
{
    return o->joblog_path && strcmp(o->joblog_path, "-") != 0;
}

static int mark_done(run_t *r, uint64_t seq)
{
    if (!r->skip && !(r->skip = calloc(r->total / 8 + 1, 1)))
        return -1;
    uint64_t i = seq - 1;
    if (seq >= 1 && i < r->total)
        r->skip[i / 8] |= (uint8_t)(1u << (i % 8));
    return 0;
}

static int resume_line(uint64_t seq, bool done, bool ok, const char *command,
                       void *arg)
{
    (void)ok;
    (void)command;
    return done ? mark_done(arg, seq) : 0;
}

/* --retry-failed: the joblog's lines are the tasks, by seq; a seq that
 * succeeded once is done (GNU's rule), else the command of its last line
 * runs again. */
static char retry_ok[] = "";

static int retry_line(uint64_t seq, bool done, bool ok, const char *command,
                      void *arg)
{
    (void)done;
    run_t *r = arg;
    if (seq > (1u << 26))
        return -1; /* not a joblog banyan could have written */
    if (seq > r->total) {
        char **c = realloc(r->retry_cmds, seq * sizeof(*c));
        if (!c)
            return -1;
        memset(c + r->total, 0, (seq - r->total) * sizeof(*c));
        r->retry_cmds = c;
        r->total = seq;
    }
    char **c = &r->retry_cmds[seq - 1];
    if (*c == retry_ok)
        return 0;
    if (*c)
        free(*c);
    *c = ok ? retry_ok : strdup(command);
    return *c ? 0 : -1;
}

/* --resume with --results DIR and no joblog (GNU's rule): the tasks whose
 * output files are there are done. */
static int results_resume(run_t *r)
{
    const run_options_t *o = r->o;
    const char *vals[r->arity ? r->arity : 1];
    for (uint64_t i = 0; i < r->total; i++) {
        size_t nvals, arity;
        tmpl_inputs_job(o->inputs, i, vals, &nvals, &arity);
        tmpl_ctx_t ctx = {.vals = vals, .nvals = nvals, .arity = arity,
                          .seq = i + 1, .slot = 1,
                          .total = o->total_jobs ? o->total_jobs : r->total};
        char *name = o->results_name ? tmpl_expand_text(o->results_name, &ctx)
                                     : NULL;
        if (o->results_name && !name)
            return -1;
        run_output_job_t job = {.index = i, .vals = vals, .nvals = nvals,
                                .names = o->source_names,
                                .results_name = name};
        bool done = run__results_exist(o, &job);
        free(name);
        if (done && mark_done(r, i + 1) < 0)
            return -1;
    }
    return 0;
}

static bool results_resumable(const run_options_t *o)
{
    return o->resume != RUN_RESUME_NONE && !joblog_file(o) &&
           o->results_dir && o->results_fmt == RUN_RESULTS_DIR;
}

/* Before the run: read the joblog for --resume, --resume-failed and
 * --retry-failed (GNU's rules), or look at --results.  0 or -1 with
 * error. */
static int joblog_resume(run_t *r, banyan_error_t *error)
{
    const run_options_t *o = r->o;
    if (results_resumable(o) && results_resume(r) < 0)
        return errprintf(error, "cannot look at --results %s: %s",
                         o->results_dir, strerror(errno));
    if (!joblog_file(o))
        return 0;
    if (o->retry_failed) {
        r->total = 0;
        if (run__joblog_read(o->joblog_path, false, retry_line, r,
                             error) < 0)
            return error && error->text[0] ? -1
                                           : errprintf(error, "out of memory");
        if (!r->retry_cmds) { /* no joblog yet: the template runs */
            r->total = tmpl_inputs_jobs(o->inputs);
            return 0;
        }
        for (uint64_t i = 0; i < r->total; i++) {
            if (r->retry_cmds[i] == retry_ok)
                r->retry_cmds[i] = NULL;
            if (!r->retry_cmds[i] && mark_done(r, i + 1) < 0)
                return errprintf(error, "out of memory");
        }
        r->arity = 0;
        const char *sh = getenv("PARALLEL_SHELL");
        if (!sh || !*sh)
            sh = getenv("SHELL");
        r->shell = sh && *sh ? sh : "/bin/sh";
    }
    if (o->resume != RUN_RESUME_NONE &&
        run__joblog_read(o->joblog_path, o->resume == RUN_RESUME_FAILED,
                         resume_line, r, error) < 0)
        return error && error->text[0] ? -1
                                       : errprintf(error, "out of memory");
    return 0;
}

/* Create the run row, or find the run to resume and mark what it finished.
 * Then queue the task ranges that remain. */
static int open_run(run_t *r, banyan_error_t *error)
{
    const run_options_t *o = r->o;
    char fp[64];
    fingerprint(o, fp, sizeof(fp));
    /* With a joblog GNU's resume is done (joblog_resume); banyan's own,
     * from the database, is for runs without one. */
    bool from_db = o->resume != RUN_RESUME_NONE && !joblog_file(o) &&
                   !results_resumable(o);
    bool found = from_db && store_run_find(r->store, fp, &r->run_id) == 0;
    if (from_db && !found)
        util_log("banyan run: --resume: no earlier run of this command with "
                 "these inputs in %s; running every task\n", o->db_path);
    if (found) {
        r->skip = calloc(r->total / 8 + 1, 1);
        if (!r->skip)
            return errprintf(error, "out of memory");
        if (store_tasks_foreach(r->store, r->run_id, resume_visit, r) < 0)
            return errprintf(error, "cannot read run %lld: %s",
                             (long long)r->run_id, store_last_error(r->store));
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof(cwd)))
            snprintf(cwd, sizeof(cwd), "?");
        char *spec = spec_json(o, r->total);
        store_run_t run = {
            .kind = "run", .command = o->command_text,
            .spec_json = spec ? spec : "{}", .fingerprint = fp,
            .ntasks = (int64_t)r->total, .state = "running",
            .created = util_wall_time(), .host = r->host, .cwd = cwd,
        };
        int rc = store_run_create(r->store, &run, error);
        free(spec);
        if (rc < 0)
            return -1;
        r->run_id = run.id;
    }
    sched_t *s = local_sched(r->local);
    uint64_t i = 0;
    while (i < r->total) {
        while (i < r->total && skipped(i, r))
            i++;
        uint64_t first = i;
        while (i < r->total && !skipped(i, r))
            i++;
        if (i > first) {
            if (sched_job_add_tasks(s, JOB_ID, first, i - first) < 0)
                return errprintf(error, "cannot queue tasks: %s",
                                 strerror(errno));
            r->pending += i - first;
        }
    }
    if (found)
        util_log("banyan: resuming run %lld: %llu of %llu tasks already done\n",
                 (long long)r->run_id,
                 (unsigned long long)(r->total - r->pending),
                 (unsigned long long)r->total);
    if (store_flush(r->store) < 0)
        return errprintf(error, "cannot write %s: %s", o->db_path,
                         store_last_error(r->store));
    return 0;
}

/* ------------------------------------------------------------- the tasks */

static void task_data_free(task_data_t *d)
{
    if (!d)
        return;
    free(d->argv);
    free(d->line);
    free(d->args_json);
    for (char **e = d->env; *e; e++)
        free(*e);
    free(d->tag);
    free(d->results_name);
    util_buf_fini(&d->half[0]);
    util_buf_fini(&d->half[1]);
    free(d);
}

static char *args_to_json(const char *const *vals, size_t n)
{
    util_buf_t b = UTIL_BUF_INIT;
    int rc = util_buf_putc(&b, '[');
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = (i ? util_buf_putc(&b, ',') : 0) | run__json_string(&b, vals[i]);
    if (rc < 0 || util_buf_putc(&b, ']') < 0) {
        util_buf_fini(&b);
        return NULL;
    }
    return util_buf_steal(&b);
}

/* --line-buffer: a chunk of the task's output, as it comes. */
static void on_output(int fd, const char *data, size_t len, void *arg)
{
    task_data_t *d = arg;
    if (run__output_line(d->run->output, &d->half[fd == 1 ? 0 : 1],
                         fd == 1 ? STDOUT_FILENO : STDERR_FILENO, d->tag,
                         data, len, false) < 0 && errno == ENOMEM)
        util_log("banyan run: --line-buffer: out of memory\n");
}

/* --retry-failed: the joblog's command under the shell. */
static int retry_argv(run_t *r, uint64_t index, task_data_t *d)
{
    const char *cmd = r->retry_cmds[index];
    size_t lsh = strlen(r->shell) + 1, lcmd = strlen(cmd) + 1;
    char **argv = malloc(4 * sizeof(char *) + lsh + 3 + lcmd);
    if (!argv || !(d->line = strdup(cmd))) {
        free(argv);
        return -1;
    }
    char *p = (char *)(argv + 4);
    argv[0] = memcpy(p, r->shell, lsh);
    argv[1] = memcpy(p + lsh, "-c", 3);
    argv[2] = memcpy(p + lsh + 3, cmd, lcmd);
    argv[3] = NULL;
    d->argv = argv;
    return 0;
}

/* The task's --tag/--tagstring text and --results name. */
static int expand_texts(const run_options_t *o, const tmpl_ctx_t *ctx,
                        task_data_t *d)
{
    if (o->tagstring) {
        char *tag = tmpl_expand_text(o->tagstring, ctx);
        if (!tag || asprintf(&d->tag, "%s\t", tag) < 0) {
            d->tag = NULL;
            free(tag);
            return -1;
        }
        free(tag);
    }
    if (o->results_name &&
        !(d->results_name = tmpl_expand_text(o->results_name, ctx)))
        return -1;
    return 0;
}

static int prepare(local_t *l, local_task_t *t, exec_spec_t *spec,
                   banyan_error_t *error, void *arg)
{
    (void)l;
    run_t *r = arg;
    const run_options_t *o = r->o;
    task_data_t *d = calloc(1, sizeof(*d));
    if (!d)
        return errprintf(error, "out of memory");
    t->user = d;
    d->run = r;
    const char *vals[r->arity ? r->arity : 1];
    size_t nvals = 0, arity = r->arity;
    if (!r->retry_cmds)
        tmpl_inputs_job(o->inputs, t->index, vals, &nvals, &arity);
    tmpl_ctx_t ctx = {.vals = vals, .nvals = nvals, .arity = arity,
                      .seq = t->index + 1, .slot = t->alloc.slot,
                      .total = o->total_jobs ? o->total_jobs : r->total};
    if (r->pipe && run__pipe_ctx(r->pipe, t->index, &ctx, error) < 0)
        return -1;
    int rc = r->retry_cmds ? retry_argv(r, t->index, d)
                           : tmpl_expand(o->tmpl, &ctx, &d->argv, &d->line);
    if (rc < 0 || expand_texts(o, &ctx, d) < 0 ||
        !(d->args_json = args_to_json(vals, nvals)) ||
        asprintf(&d->env[0], "BANYAN_RUN_ID=%lld", (long long)r->run_id) < 0)
        return errprintf(error, "cannot prepare the task: %s",
                         strerror(errno));
    spec->argv = (const char *const *)d->argv;
    spec->env = (const char *const *)d->env;
    spec->timeout_ms = o->timeout_ms;
    if (o->out_mode == RUN_OUT_UNGROUP && !o->results_dir)
        spec->capture = false;
    bool live = !o->results_dir && (o->out_mode == RUN_OUT_UNGROUP ||
                                     (o->out_mode == RUN_OUT_LINE &&
                                      !o->keep_order));
    if (o->out_mode == RUN_OUT_LINE && live) {
        spec->on_output = on_output;
        spec->on_output_arg = d;
    }
    /* -v: the command line begins the task's stdout; -t: on stderr now. */
    if (o->verbose_err)
        util_log("%s\n", d->line);
    if (o->verbose_out && live) {
        if (o->out_mode == RUN_OUT_LINE) {
            on_output(1, d->line, strlen(d->line), d);
            on_output(1, "\n", 1, d);
        } else if (util_write_all(STDOUT_FILENO, d->line, strlen(d->line)) ==
                 0)
            (void)util_write_all(STDOUT_FILENO, "\n", 1);
    }
    if (r->pipe && run__pipe_spec(r->pipe, t->index, spec, error) < 0)
        return -1;
    t->env_job_id = (uint64_t)r->run_id;

    store_task_t row = {
        .run_id = r->run_id, .seq = (int64_t)t->index + 1,
        .args_json = d->args_json, .command = d->line,
        .state = BANYAN_TASK_RUNNING,
        .attempt = (int)t->attempt, .slot = (int)t->alloc.slot,
        .gpus = t->gpus, .host = r->host, .start_time = t->start_time,
    };
    if (store_task_start(r->store, &row) < 0) {
        /* A failed write of the database is the driver's to report, once;
         * it then starts nothing, this task included. */
        if (!store_write_failure(r->store))
            util_log("banyan: cannot record a task start: %s\n",
                     store_last_error(r->store));
        r->record_errors++;
    }
    r->progress.running++;
    return rc == 1 ? 1 : 0; /* 1: perl's skip(), the driver skips it */
}

static void record_end(run_t *r, const local_task_t *t, const task_data_t *d,
                       const exec_result_t *res, const banyan_task_end_t *end)
{
    char out_tail[TAIL_BYTES], err_tail[TAIL_BYTES];
    size_t olen = res->out ? exec_stream_tail(res->out, out_tail,
                                              sizeof(out_tail)) : 0;
    size_t elen = res->err ? exec_stream_tail(res->err, err_tail,
                                              sizeof(err_tail)) : 0;
    store_task_t row = {
        .run_id = r->run_id, .seq = (int64_t)t->index + 1,
        .args_json = d ? d->args_json : NULL,
        .command = d ? d->line : NULL, .state = end->state,
        .attempt = (int)t->attempt, .exit_code = end->exit_code,
        .signal = end->term_signal, .slot = (int)t->alloc.slot,
        .gpus = t->gpus, .host = r->host, .start_time = end->start_time,
        .end_time = end->end_time, .cpu_user = end->cpu_user,
        .cpu_sys = end->cpu_sys, .peak_rss = (int64_t)end->peak_rss_bytes,
        .stdout_tail = olen ? out_tail : NULL, .stdout_tail_len = (int)olen,
        .stderr_tail = elen ? err_tail : NULL, .stderr_tail_len = (int)elen,
        .reason = end->reason[0] ? end->reason : NULL,
    };
    if (store_task_finish(r->store, &row) < 0 ||
        store_task_set_queued(r->store, row.run_id, row.seq,
                              t->queued_time) < 0) {
        if (!store_write_failure(r->store)) /* else the driver's, once */
            util_log("banyan: cannot record a task end: %s\n",
                     store_last_error(r->store));
        r->record_errors++;
    }
}

/* GNU Parallel's --color: background and text colours that read well,
 * reordered so that neighbours differ (its sort, stable), one per task by
 * seq.  Into buf (with the clear to end of line). */
static void task_color(uint64_t seq, bool failed, char *buf, size_t size)
{
    static int codes[400][2];
    static int n;
    if (!n) {
        static const int r1[][2] = {{6, 7}, {9, 11}, {13, 15}, {40, 51},
            {75, 87}, {113, 123}, {147, 159}, {171, 182}, {185, 231},
            {249, 254}};
        static const int r2[][2] = {{1, 9}, {12, 13}, {16, 45}, {52, 81},
            {88, 114}, {124, 149}, {160, 178}, {180, 180}, {182, 184},
            {196, 214}, {232, 250}};
        int all[400][2], m = 0;
        for (size_t i = 0; i < sizeof(r1) / sizeof(r1[0]); i++)
            for (int c = r1[i][0]; c <= r1[i][1]; c++) {
                all[m][0] = c;
                all[m++][1] = 0;
            }
        for (size_t i = 0; i < sizeof(r2) / sizeof(r2[0]); i++)
            for (int c = r2[i][0]; c <= r2[i][1]; c++) {
                all[m][0] = c;
                all[m++][1] = 231;
            }
        /* Index order by (i % 23 ascending, i % 7 descending), stable. */
        int idx[400];
        for (int i = 0; i < m; i++) {
            int j = i;
            while (j > 0 && (idx[j - 1] % 23 > i % 23 ||
                             (idx[j - 1] % 23 == i % 23 &&
                              idx[j - 1] % 7 < i % 7))) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = i;
        }
        for (int i = 0; i < m; i++) {
            codes[i][0] = all[idx[i]][0];
            codes[i][1] = all[idx[i]][1];
        }
        n = m;
    }
    int bg = failed ? 196 : codes[seq % (uint64_t)n][0];
    int fg = failed ? 231 : codes[seq % (uint64_t)n][1];
    snprintf(buf, size, "\033[48;5;%03d;38;5;%03dm\033[K", bg, fg);
}

/* GNU Parallel's runner messages go to stderr as "banyan run: ...". */
static void say(const char *what, const char *command)
{
    util_log("banyan run: %s\n%s\n", what, command ? command : "");
}

/* GNU's exit status of a halt on fail/done: the failing task's status
 * (128 + its signal) for a count of 1, else the failures (at most 101), or
 * their percentage of all tasks for N%. */
static int halt_status(const run_t *r, const exec_result_t *res)
{
    const run_options_t *o = r->o;
    if (o->halt_on == RUN_HALT_ON_SUCCESS)
        return 0;
    if (o->halt_pct) {
        double pct = r->total ? (double)r->nfailed * 100.0 / (double)r->total
                              : 0.0;
        return (int)ceil(pct - 1e-9);
    }
    if (o->halt_fail == 1) {
        int ev = run__joblog_exitval(res);
        return ev ? ev & 0xff : res->term_signal ? 128 + res->term_signal
                                                 : 0;
    }
    return r->nfailed > RUN_EXIT_MANY ? RUN_EXIT_MANY : (int)r->nfailed;
}

/* --halt, after a task ended (GNU's should_we_halt). */
static void apply_halt(run_t *r, local_t *l, bool ok, const char *command,
                       const exec_result_t *res)
{
    const run_options_t *o = r->o;
    if (o->halt == RUN_HALT_NEVER)
        return;
    uint64_t count;
    if (o->halt_on == RUN_HALT_ON_FAIL && !ok) {
        say("This job failed:", command);
        count = r->nfailed;
    } else if (o->halt_on == RUN_HALT_ON_SUCCESS && ok) {
        say("This job succeeded:", command);
        count = r->nok;
    } else if (o->halt_on == RUN_HALT_ON_DONE) {
        say("This job finished:", command);
        count = r->ndone;
    } else {
        return;
    }
    double limit = o->halt_pct ? (double)r->total * o->halt_fail / 100.0
                               : (double)o->halt_fail;
    if ((double)count < limit)
        return;
    if (r->halt_status < 0)
        r->halt_status = halt_status(r, res);
    if (o->halt == RUN_HALT_NOW) {
        r->halted_now = true;
        local_stop(l, true);
        return;
    }
    uint64_t running = local_running(l);
    if (running > 0)
        util_log("banyan run: Starting no more jobs. Waiting for %llu jobs "
                 "to finish.\n", (unsigned long long)running);
    local_stop(l, false);
}

static void done(local_t *l, local_task_t *t, const exec_result_t *res,
                 const banyan_task_end_t *ended, bool requeued, void *arg)
{
    run_t *r = arg;
    const run_options_t *o = r->o;
    task_data_t *d = t->user;
    banyan_task_end_t e = *ended;
    const banyan_task_end_t *end = &e;
    const char *line = d && d->line ? d->line : "";
    /* A task --halt now killed is not reported, as GNU Parallel's. */
    bool hidden = r->halted_now && e.state == BANYAN_TASK_INTERRUPTED;
    uint64_t receive = res->out ? exec_stream_size(res->out) : 0;
    bool cut = false; /* its output could not be written whole */
    if (!requeued && !hidden) {
        if (res->timed_out) {
            util_log("banyan run: Warning: This job was killed because it "
                     "timed out:\nbanyan run: Warning: %s\n", line);
        }
        /* Output first: a task whose output could not be written (a full
         * --results folder, a failing stdout) ended in error, and its
         * record says so (docs/full-disk.md). */
        const char *vals[r->arity ? r->arity : 1];
        size_t nvals = 0;
        if (!r->retry_cmds)
            tmpl_inputs_job(o->inputs, t->index, vals, &nvals, NULL);
        if (r->progress.shown)
            util_log("\r\033[K");
        char why[BANYAN_TASK_REASON_MAX];
        char *verbose = NULL;
        bool live = !o->results_dir && (o->out_mode == RUN_OUT_UNGROUP ||
                                         (o->out_mode == RUN_OUT_LINE &&
                                          !o->keep_order));
        if (o->verbose_out && !live && asprintf(&verbose, "%s\n", line) < 0)
            verbose = NULL;
        if (o->verbose_out && o->out_mode != RUN_OUT_UNGROUP)
            receive += strlen(line) + 1;
        char color[48];
        bool red = o->color_failed && run__joblog_exitval(res) != 0;
        if (o->color || red)
            task_color(t->index + 1, red, color, sizeof(color));
        run_output_job_t job = {
            .color = o->color || red ? color : NULL,
            .verbose = verbose,
            .names = r->retry_cmds ? NULL : o->source_names,
            .index = t->index, .vals = vals, .nvals = nvals,
            .command = line, .tag = d ? d->tag : NULL,
            .results_name = d ? d->results_name : NULL, .receive = receive,
            .half_out = d ? &d->half[0] : NULL,
            .half_err = d ? &d->half[1] : NULL,
        };
        if (r->joblog &&
            !(job.joblog = run__joblog_line(
                  t->index + 1, ":", res,
                  o->out_mode == RUN_OUT_UNGROUP ? 0 : receive, line,
                  &job.joblog_len)))
            util_log("banyan run: cannot write the joblog: out of memory\n");
        if (run__output_task(r->output, &job, res, t->output_lost, why,
                             sizeof(why)) < 0) {
            if (e.state == BANYAN_TASK_OK) {
                e.state = BANYAN_TASK_FAILED;
                e.reason[0] = '\0';
            }
            engine_end_note(&e, why);
            cut = true;
        }
        free(verbose);
    }
    record_end(r, t, d, res, end);
    if (d && d->line)
        r->progress.running--;
    if (!requeued) {
        r->pending--;
        bool ok = end->state == BANYAN_TASK_OK;
        if (ok)
            r->progress.ok++;
        else
            r->progress.failed++;
        /* GNU Parallel says nothing of a failed task; banyan says why
         * only for what GNU has no word for: its memory limits, output
         * it could not keep or write. */
        uint32_t own = BANYAN_END_MEM_LIMITED | BANYAN_END_MEM_CRITICAL |
                       BANYAN_END_OUTPUT_CUT;
        if (!ok && end->state != BANYAN_TASK_INTERRUPTED &&
            (cut || (end->flags & own))) {
            char cmd[120];
            util_log("banyan: task %llu failed: %s: %s\n",
                     (unsigned long long)t->index + 1, end->reason,
                     util_one_line(line, cmd, sizeof(cmd)));
        }
        if (!hidden && end->state != BANYAN_TASK_INTERRUPTED) {
            r->ndone++;
            if (ok)
                r->nok++;
            else
                r->nfailed++;
            if (!r->halted_now)
                apply_halt(r, l, ok, line, res);
        }
    }
    if (r->pipe && !requeued)
        run__pipe_release(r->pipe, t->index);
    task_data_free(d);
    t->user = NULL;
}

static void progress(local_t *l, int64_t now_ms, void *arg)
{
    (void)l;
    run__progress_draw(&((run_t *)arg)->progress, now_ms);
}

static bool refill(local_t *l, void *arg)
{
    run_t *r = arg;
    uint64_t before = r->pending;
    bool more = r->pipe && run__pipe_refill(r->pipe, local_sched(l), JOB_ID,
                                            &r->pending);
    r->progress.total += r->pending - before;
    return more;
}

static const local_ops_t run_ops = {
    .refill = refill,
    .prepare = prepare,
    .done = done,
    .progress = progress,
};

/* -------------------------------------------------------------- dry run */

static int dry_run(const run_options_t *o, uint64_t total, size_t arity)
{
    const char *vals[arity ? arity : 1];
    for (uint64_t i = 0; i < total; i++) {
        size_t nvals, ar;
        tmpl_inputs_job(o->inputs, i, vals, &nvals, &ar);
        tmpl_ctx_t ctx = {.vals = vals, .nvals = nvals, .arity = ar,
                          .seq = i + 1,
                          .slot = (uint32_t)(i % o->jobs) + 1,
                          .total = o->total_jobs ? o->total_jobs : total};
        char **argv, *line;
        if (tmpl_expand(o->tmpl, &ctx, &argv, &line) < 0)
            return BANYAN_EXIT_INTERNAL;
        printf("%s\n", line);
        free(argv);
        free(line);
    }
    return BANYAN_EXIT_OK;
}

/* --------------------------------------------------------------- public */

/* GNU Parallel's exit status: the failed tasks (at most 101), or what
 * --halt decided; with --halt N% the failures' percentage of the tasks
 * started. */
static int exit_status(const run_t *r)
{
    const run_options_t *o = r->o;
    if (r->halt_status >= 0)
        return r->halt_status;
    if (o->halt != RUN_HALT_NEVER && o->halt_pct) {
        uint64_t started = r->ndone ? r->ndone : 1;
        return (int)ceil((double)r->nfailed * 100.0 / (double)started - 1e-9);
    }
    return r->nfailed > RUN_EXIT_MANY ? RUN_EXIT_MANY : (int)r->nfailed;
}

bool run_results_plain(const run_options_t *o)
{
    /* GNU: a name that its replacement strings leave as it is. */
    if (!o->results_name)
        return true;
    tmpl_ctx_t ctx = {.vals = (const char *const[]){"\001"}, .nvals = 1,
                      .seq = 1, .slot = 1};
    char *x = tmpl_expand_text(o->results_name, &ctx);
    bool plain = x && !strcmp(x, o->results_dir);
    free(x);
    return plain;
}

int run_local(const run_options_t *o, banyan_error_t *error)
{
    run_t r = {.o = o, .halt_status = -1};
    int code;
    r.total = tmpl_inputs_jobs(o->inputs);          /* jobs of records */
    r.arity = tmpl_inputs_job_room(o->inputs);      /* values a job */
    if (o->dry_run)
        return dry_run(o, r.total, r.arity);
    if (joblog_resume(&r, error) < 0) {
        code = RUN_EXIT_ERROR;
        goto out_early;
    }
    if (gethostname(r.host, sizeof(r.host)) < 0)
        snprintf(r.host, sizeof(r.host), "localhost");
    if (o->results_dir && o->results_fmt == RUN_RESULTS_DIR &&
        (!o->results_name || run_results_plain(o)) &&
        util_mkdir_p(o->results_dir, 0755) < 0) {
        errprintf(error, "cannot use --results '%s': %s", o->results_dir,
                  strerror(errno));
        code = RUN_EXIT_ERROR;
        goto out_early;
    }

    char group[EST_GROUP_MAX];
    if (o->host.group)
        snprintf(group, sizeof(group), "%s", o->host.group);
    else
        engine_group_name(o->command_text, group, sizeof(group));
    local_options_t lo = {
        .db_path = o->db_path, .engine = o->host, .progress = o->progress,
        .ncustom = o->req.ncustom,
        .requeue_on_signal = o->requeue_on_signal,
        .requeue_max = o->requeue_max,
        .score_budget_ms = o->no_score ? 0 : RUN_SCORE_BUDGET_MS,
    };
    lo.engine.slots = o->jobs;
    lo.engine.group = group;
    /* A custom resource named only on the command line has no declared
     * capacity here: each slot may hold the request's amount. */
    for (int i = 0; i < o->req.ncustom; i++) {
        lo.custom[i] = o->req.custom[i];
        lo.custom[i].amount *= o->jobs;
    }
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        errprintf(error, "cannot create the event loop");
        code = RUN_EXIT_ERROR;
        goto out_early;
    }
    code = RUN_EXIT_ERROR;
    r.local = local_create(&loop, &lo, &run_ops, &r, error);
    if (!r.local)
        goto out;
    r.store = local_store(r.local);
    /* GNU's --retries N: N attempts in all, 0 without end. */
    uint32_t attempts = !o->retries_set ? 1 + o->retries
                        : o->retries ? o->retries : UINT32_MAX;
    /* After the driver's signal handlers: a SIGTERM removes the blocks. */
    if (o->pipe && run_pipe_enabled(o->pipe)) {
        r.pipe = run__pipe_create(o->pipe, &loop, o->jobs, error);
        if (!r.pipe)
            goto out;
        if (!run__pipe_tee(r.pipe))
            r.total = r.arity = 0;
    }
    sched_job_t job = {.id = JOB_ID, .req = o->req,
                       .max_attempts = attempts};
    job.req.slots = 1;
    banyan_error_t why = {{0}};
    if (local_job_add(r.local, &job, true, &why) < 0) {
        errprintf(error, "a task can never run on this machine: %s",
                  why.text);
        goto out;
    }
    if (open_run(&r, error) < 0 ||
        local_usage_open(r.local, "run", r.run_id, error) < 0)
        goto out;
    if (o->joblog_path) {
        r.joblog = run__joblog_open(o->joblog_path,
                                    o->joblog_append || o->retry_failed ||
                                        o->resume != RUN_RESUME_NONE);
        if (!r.joblog) {
            errprintf(error, "Cannot write to --joblog %s: %s",
                      o->joblog_path, strerror(errno));
            goto out;
        }
    }
    r.output = run__output_create(o, skipped, &r, error);
    if (!r.output)
        goto out;
    run__output_set_joblog(r.output, r.joblog);
    r.progress.total = r.pending;
    r.progress.start_ms = util_mono_ms();

    int sig = local_run(r.local);
    /* After --halt now, as GNU Parallel: what -k still holds back (behind
     * a task it killed) is not printed. */
    run__output_drain(r.output, !r.halted_now);
    run__progress_end(&r.progress, util_mono_ms());

    bool failed = r.progress.failed || r.pending;
    const char *state = sig ? "interrupted" : failed ? "failed" : "done";
    bool said = store_write_failure(r.store) != NULL; /* by the driver */
    if (store_run_finish(r.store, r.run_id, state, util_wall_time()) < 0 ||
        store_flush(r.store) < 0) {
        if (!said)
            util_log("banyan: cannot write the database: %s\n",
                     store_last_error(r.store));
        r.record_errors++;
    }
    if (sig)
        code = 128 + sig;
    else if (r.record_errors || local_internal_errors(r.local))
        code = RUN_EXIT_ERROR;
    else
        code = exit_status(&r);
    if (code == RUN_EXIT_ERROR && store_write_failure(r.store))
        errprintf(error, "stopped: the database could not be written (see "
                  "above); --resume runs the tasks it did not record");
    else if (code == RUN_EXIT_ERROR)
        errprintf(error, "some tasks could not be started or recorded");
out:
    if (r.joblog)
        fclose(r.joblog);
    run__output_destroy(r.output);
    local_destroy(r.local);
    run__pipe_destroy(r.pipe);
    uv_run(&loop, UV_RUN_DEFAULT); /* the driver's close callbacks */
    uv_loop_close(&loop);
out_early:
    free(r.skip);
    if (r.retry_cmds)
        for (uint64_t i = 0; i < r.total; i++)
            free(r.retry_cmds[i]);
    free(r.retry_cmds);
    return code;
}
