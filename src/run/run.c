/* SPDX-License-Identifier: MIT */
/* run.c - `banyan run`: GNU Parallel's model on the local driver.
 *
 * A run is one job of the core whose task i is the i-th combination of the
 * inputs.  prepare() expands the template for a started task and records
 * its start; done() records how it ended, writes the joblog line and the
 * grouped output, and applies --halt.  Everything else (the loop, the core,
 * the executor, signals) is the local driver's.
 *
 * Resume: the run's identity (fingerprint) is its command and its inputs.
 * --resume finds the newest run with that identity and queues only the task
 * indices that did not end there (--resume-failed: that did not succeed).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "est/est.h"
#include "local/local.h"
#include "run_private.h"

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
} task_data_t;

typedef struct run {
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
} run_t;

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

/* Create the run row, or find the run to resume and mark what it finished.
 * Then queue the task ranges that remain. */
static int open_run(run_t *r, banyan_error_t *error)
{
    const run_options_t *o = r->o;
    char fp[64];
    fingerprint(o, fp, sizeof(fp));
    if (o->resume != RUN_RESUME_NONE &&
        store_run_find(r->store, fp, &r->run_id) == 0) {
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
    if (r->skip)
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
    const char *vals[r->arity ? r->arity : 1];
    size_t nvals, arity;
    tmpl_inputs_job(o->inputs, t->index, vals, &nvals, &arity);
    tmpl_ctx_t ctx = {.vals = vals, .nvals = nvals, .arity = arity,
                      .seq = t->index + 1, .slot = t->alloc.slot,
                      .total = r->total};
    if (tmpl_expand(o->tmpl, &ctx, &d->argv, &d->line) < 0 ||
        !(d->args_json = args_to_json(vals, nvals)) ||
        asprintf(&d->env[0], "BANYAN_RUN_ID=%lld", (long long)r->run_id) < 0)
        return errprintf(error, "cannot prepare the task: %s",
                         strerror(errno));
    spec->argv = (const char *const *)d->argv;
    spec->env = (const char *const *)d->env;
    spec->timeout_ms = o->timeout_ms;
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
    return 0;
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

static void done(local_t *l, local_task_t *t, const exec_result_t *res,
                 const banyan_task_end_t *ended, bool requeued, void *arg)
{
    run_t *r = arg;
    const run_options_t *o = r->o;
    task_data_t *d = t->user;
    banyan_task_end_t e = *ended;
    const banyan_task_end_t *end = &e;
    if (!requeued) {
        /* Output first: a task whose output could not be written (a full
         * --results folder, a failing stdout) ended in error, and its
         * record says so (docs/full-disk.md). */
        const char *vals[r->arity ? r->arity : 1];
        size_t nvals;
        tmpl_inputs_job(o->inputs, t->index, vals, &nvals, NULL);
        if (r->progress.shown)
            util_log("\r\033[K");
        char why[BANYAN_TASK_REASON_MAX];
        if (run__output_task(r->output, t->index, vals, nvals, res,
                             t->output_lost, why, sizeof(why)) < 0) {
            if (e.state == BANYAN_TASK_OK) {
                e.state = BANYAN_TASK_FAILED;
                e.reason[0] = '\0';
            }
            engine_end_note(&e, why);
        }
    }
    record_end(r, t, d, res, end);
    if (r->joblog)
        run__joblog_write(r->joblog, t->index + 1, ":", res,
                          d && d->line ? d->line : "");
    if (d && d->line)
        r->progress.running--;
    if (!requeued) {
        r->pending--;
        bool ok = end->state == BANYAN_TASK_OK;
        if (ok)
            r->progress.ok++;
        else
            r->progress.failed++;
        if (!ok && end->state != BANYAN_TASK_INTERRUPTED) {
            char cmd[120];
            util_log("banyan: task %llu failed: %s: %s\n",
                     (unsigned long long)t->index + 1, end->reason,
                     util_one_line(d ? d->line : "", cmd, sizeof(cmd)));
        }
        if (!ok && o->halt != RUN_HALT_NEVER && !local_is_stopping(l) &&
            r->progress.failed >= o->halt_fail) {
            util_log("banyan: halting after %llu failed task%s%s\n",
                     (unsigned long long)r->progress.failed,
                     r->progress.failed == 1 ? "" : "s",
                     o->halt == RUN_HALT_NOW ? "; killing running tasks"
                                             : "; waiting for running tasks");
            local_stop(l, o->halt == RUN_HALT_NOW);
        }
    }
    task_data_free(d);
    t->user = NULL;
}

static void progress(local_t *l, int64_t now_ms, void *arg)
{
    (void)l;
    run__progress_draw(&((run_t *)arg)->progress, now_ms);
}

static const local_ops_t run_ops = {
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
                          .total = total};
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

int run_local(const run_options_t *o, banyan_error_t *error)
{
    run_t r = {.o = o};
    r.total = tmpl_inputs_jobs(o->inputs);          /* jobs of records */
    r.arity = tmpl_inputs_job_room(o->inputs);      /* values a job */
    if (o->dry_run)
        return dry_run(o, r.total, r.arity);
    if (gethostname(r.host, sizeof(r.host)) < 0)
        snprintf(r.host, sizeof(r.host), "localhost");
    if (o->results_dir && util_mkdir_p(o->results_dir, 0755) < 0) {
        errprintf(error, "cannot use --results '%s': %s", o->results_dir,
                  strerror(errno));
        return BANYAN_EXIT_USAGE;
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
        return BANYAN_EXIT_INTERNAL;
    }
    int code = BANYAN_EXIT_USAGE;
    r.local = local_create(&loop, &lo, &run_ops, &r, error);
    if (!r.local) {
        code = errno == ENOMEM ? BANYAN_EXIT_INTERNAL : BANYAN_EXIT_USAGE;
        goto out;
    }
    r.store = local_store(r.local);
    sched_job_t job = {.id = JOB_ID, .req = o->req,
                       .max_attempts = 1 + o->retries};
    job.req.slots = 1;
    banyan_error_t why = {{0}};
    if (local_job_add(r.local, &job, true, &why) < 0) {
        errprintf(error, "a task can never run on this machine: %s",
                  why.text);
        goto out;
    }
    code = BANYAN_EXIT_INTERNAL;
    if (open_run(&r, error) < 0 ||
        local_usage_open(r.local, "run", r.run_id, error) < 0)
        goto out;
    if (o->joblog_path) {
        r.joblog = run__joblog_open(o->joblog_path,
                                    o->resume != RUN_RESUME_NONE);
        if (!r.joblog) {
            errprintf(error, "cannot open joblog '%s': %s", o->joblog_path,
                      strerror(errno));
            code = BANYAN_EXIT_USAGE;
            goto out;
        }
    }
    r.output = run__output_create(o, skipped, &r);
    if (!r.output) {
        errprintf(error, "out of memory");
        goto out;
    }
    r.progress.total = r.pending;
    r.progress.start_ms = util_mono_ms();

    int sig = local_run(r.local);
    run__output_drain(r.output, true);
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
        code = BANYAN_EXIT_INTERNAL;
    else
        code = failed ? BANYAN_EXIT_FAILED : BANYAN_EXIT_OK;
    if (code == BANYAN_EXIT_INTERNAL && store_write_failure(r.store))
        errprintf(error, "stopped: the database could not be written (see "
                  "above); --resume runs the tasks it did not record");
    else if (code == BANYAN_EXIT_INTERNAL)
        errprintf(error, "some tasks could not be started or recorded");
out:
    if (r.joblog)
        fclose(r.joblog);
    run__output_destroy(r.output);
    local_destroy(r.local);
    uv_run(&loop, UV_RUN_DEFAULT); /* the driver's close callbacks */
    uv_loop_close(&loop);
    free(r.skip);
    return code;
}
