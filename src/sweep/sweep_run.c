/* SPDX-License-Identifier: MIT */
/* sweep_run.c - a sweep on the local driver: experiments as one-task jobs.
 *
 * Iteration it of the sweep is job it + 1 of the core, with one task and the
 * resources its parameters ask for, so the core packs experiments of
 * different sizes on the GPUs, backfills small ones around a large one and
 * keeps the large one from starving.  The number of slots is
 * max_parallel_experiments.
 *
 * Points are handed out lazily by refill(), once per pump: grid, list and
 * random points do not depend on results, so up to max_parallel of them wait
 * in the queue (room to backfill); a TPE point is suggested only when a slot
 * is about to be free, so that it sees every result so far, with the
 * experiments still running as constant liars.
 *
 * Records, hand-out, requests and metrics are sweep_common.c's (shared with
 * sweep_remote.c); this file is the glue to the local driver.
 */
#include "sweep/sweep_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "local/local.h"
#include "sweep_private.h"
#include "util/util.h"

enum {
    STDOUT_SCAN_BYTES = 1 << 16, /* tail of stdout searched for metrics */
    SCORE_BUDGET_MS = 50,        /* the capability benchmark at start */
};

typedef sweep__run_t sweeper_t;

/* What a started experiment keeps until it ends. */
typedef struct exp_run {
    char *line;                /* the command, parameters substituted */
    char **words;              /* its words when it needs no shell */
    const char *shell[4];      /* else /bin/sh -c line */
    char **env;
    char workdir[PATH_MAX + 32];
} exp_run_t;

/* The row figures of a local task. */
static store_experiment_t task_row(const local_task_t *t,
                                   const exec_result_t *res)
{
    store_experiment_t row = {0};
    if (t) {
        row.gpus = t->gpus;
        row.slot = (int)t->alloc.slot;
        row.start_time = t->start_time;
    }
    if (res) {
        row.exit_code = res->exit_code;
        row.signal = res->term_signal;
        row.start_time = res->start_time;
        row.end_time = res->end_time;
        row.peak_rss = (int64_t)res->peak_rss_bytes;
    }
    return row;
}

/* ------------------------------------------------------------ hand-out */

static void submit(sweeper_t *s, size_t it)
{
    sweep__exp_t *e = &s->exps[it];
    res_request_t req;
    banyan_error_t why = {{0}};
    banyan_error_t fit = {{0}};
    bool bad = sweep__request(s, e->x, &req, &why) < 0;
    if (!bad && !res_pool_fits_ever(local_pool(s->local), &req, &fit)) {
        bad = true;
        errprintf(&why, "infeasible: %s", fit.text);
    }
    if (bad) {
        if (sweep__infeasible(s, it, why.text) &&
            !local_is_stopping(s->local))
            local_stop(s->local, false);
        return;
    }
    sched_job_t job = {.id = (uint32_t)it + 1, .req = req, .max_attempts = 1};
    sched_t *sc = local_sched(s->local);
    /* Through the driver, so that an experiment without a mem request
     * follows the sweep's learnt estimate. */
    if (local_job_add(s->local, &job, false, &why) < 0 ||
        sched_job_add_tasks(sc, job.id, 0, 1) < 0) {
        util_log("banyan: cannot queue experiment %zu: %s\n", it + 1,
                 why.text[0] ? why.text : strerror(errno));
        s->errors++;
        return;
    }
    e->obs = SWEEP_OBS_RUNNING;
    e->active = true;
    s->queued++;
    sweep__record(s, it, NULL, "queued", NULL, NULL, NULL, NULL);
}

static bool refill(local_t *l, void *arg)
{
    (void)l;
    sweeper_t *s = arg;
    /* A TPE point is suggested when a slot is free (or an experiment
     * waits for GPUs), so that it sees every result so far; other
     * strategies keep a queue to backfill from. */
    bool tpe = s->cfg->strategy == SWEEP_TPE;
    uint64_t lookahead = tpe ? 1 : s->cfg->max_parallel;
    while (!local_is_stopping(s->local) && s->queued < lookahead &&
           (!tpe || s->running + s->queued < s->cfg->max_parallel)) {
        long it = sweep__next(s);
        if (it < 0)
            break;
        submit(s, (size_t)it);
    }
    return !local_is_stopping(s->local) && sweep__more(s);
}

/* ----------------------------------------------------------- running */

static void exp_run_free(exp_run_t *r)
{
    if (!r)
        return;
    free(r->line);
    free(r->words);
    sweep__env_free(r->env);
    free(r);
}

static int prepare(local_t *l, local_task_t *t, exec_spec_t *spec,
                   banyan_error_t *error, void *arg)
{
    (void)l;
    sweeper_t *s = arg;
    size_t it = t->job_id - 1;
    sweep__exp_t *e = &s->exps[it];
    exp_run_t *r = calloc(1, sizeof(*r));
    if (!r)
        return errprintf(error, "out of memory");
    t->user = r;
    snprintf(r->workdir, sizeof(r->workdir), "%s/%zu", s->results_dir,
             it + 1);
    char metrics[PATH_MAX + 64];
    snprintf(metrics, sizeof(metrics), "%s/metrics.json", r->workdir);
    if (util_mkdir_p(r->workdir, 0755) < 0)
        return errprintf(error, "cannot create '%s': %s", r->workdir,
                         strerror(errno));
    unlink(metrics); /* left by an interrupted attempt */
    r->line = sweep_substitute(s->cfg, s->command, e->x);
    r->env = sweep__env(s, it, r->workdir, NULL);
    if (!r->line || !r->env)
        return errprintf(error, "out of memory");
    /* A command without shell syntax is spawned directly, as banyan run
     * and a worker do: a missing program or a signal is then told as
     * such, not as the shell's exit status 127 or 128+N. */
    r->words = util_plain_words(r->line);
    if (!r->words && errno == ENOMEM)
        return errprintf(error, "out of memory");
    r->shell[0] = "/bin/sh";
    r->shell[1] = "-c";
    r->shell[2] = r->line;
    spec->argv = r->words ? (const char *const *)r->words : r->shell;
    spec->env = (const char *const *)r->env;
    spec->cwd = r->workdir;
    spec->timeout_ms = s->cfg->timeout_ms;
    t->env_job_id = (uint64_t)s->sweep_id;
    t->env_task_number = it + 1;
    e->attempt++;
    s->queued--;
    s->running++;
    store_experiment_t row = task_row(t, NULL);
    sweep__record(s, it, &row, "running", NULL, NULL, NULL, r->workdir);
    return 0;
}

/* Write dir/name.  0, or -1 with why (the experiment's output is then not
 * whole in its folder).  A stream that lost bytes before (lost: a full
 * TMPDIR) fails the copy as well; the driver reports that one. */
static int save_stream(const char *dir, const char *name,
                       const exec_stream_t *st, bool lost, char *why,
                       size_t why_size)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -1 : 0;
    if (fd >= 0 && st && exec_stream_copy(st, fd, NULL) < 0 && !lost)
        rc = -1;
    int err = errno;
    if (fd >= 0 && close(fd) < 0) {
        rc = -1;
        err = errno;
    }
    if (rc < 0)
        snprintf(why, why_size, "cannot write %.140s: %s", path,
                 strerror(err));
    return rc;
}

static void done(local_t *l, local_task_t *t, const exec_result_t *res,
                 const banyan_task_end_t *ended, bool requeued, void *arg)
{
    sweeper_t *s = arg;
    size_t it = t->job_id - 1;
    exp_run_t *r = t->user;
    char workdir[PATH_MAX + 32];
    snprintf(workdir, sizeof(workdir), "%s/%zu", s->results_dir, it + 1);
    banyan_task_end_t e = *ended;
    const banyan_task_end_t *end = &e;
    if (r) {
        /* An experiment whose output could not be saved (a full results
         * folder) ended in error, and its record says so. */
        char why[BANYAN_TASK_REASON_MAX];
        if (save_stream(workdir, "stdout", res->out, t->output_lost, why,
                        sizeof(why)) < 0 ||
            save_stream(workdir, "stderr", res->err, t->output_lost, why,
                        sizeof(why)) < 0) {
            if (e.state == BANYAN_TASK_OK) {
                e.state = BANYAN_TASK_FAILED;
                e.reason[0] = '\0';
            }
            engine_end_note(&e, why);
        }
        s->running--;
    } else {
        s->queued--;
    }
    store_experiment_t row = task_row(t, res);
    if (requeued) {
        /* The driver sent it back (killed by a signal it did not ask for,
         * or for critical memory, see docs/resources.md): it runs again. */
        s->queued++;
        const char *why = end->reason[0] ? end->reason : NULL;
        sweep__record(s, it, &row, banyan_task_state_name(BANYAN_TASK_QUEUED),
                      why, NULL, NULL, workdir);
        sweep__report(s, it, "requeued", why ? why : "requeued");
        exp_run_free(r);
        t->user = NULL;
        return;
    }

    char tail[STDOUT_SCAN_BYTES + 1];
    size_t n = end->state == BANYAN_TASK_OK && res->out
                   ? exec_stream_tail(res->out, tail, STDOUT_SCAN_BYTES)
                   : 0;
    tail[n] = '\0';
    if (sweep__finish(s, it, end, tail, &row, workdir) &&
        !local_is_stopping(l))
        local_stop(l, false);
    exp_run_free(r);
    t->user = NULL;
    local_job_remove(l, t->job_id);
}

static void progress(local_t *l, int64_t now_ms, void *arg)
{
    (void)l;
    sweep__progress(arg, now_ms);
}

static const local_ops_t sweep_ops = {
    .prepare = prepare,
    .done = done,
    .refill = refill,
    .progress = progress,
};

/* ---------------------------------------------------------- set-up */

int sweep_run(const sweep_run_options_t *o, banyan_error_t *error)
{
    const sweep_config_t *cfg = o->cfg;
    sweeper_t s;
    uv_loop_t loop;
    if (uv_loop_init(&loop) < 0) {
        errprintf(error, "cannot create the event loop");
        return BANYAN_EXIT_INTERNAL;
    }
    int code = BANYAN_EXIT_USAGE;
    if (sweep__init(&s, o) < 0) {
        errprintf(error, "out of memory");
        goto out;
    }
    local_options_t lo = {
        .db_path = o->db_path, .engine = o->host, .progress = o->progress,
        .requeue_on_signal = o->requeue_on_signal,
        .requeue_max = o->requeue_max,
        .score_budget_ms = SCORE_BUDGET_MS,
    };
    lo.engine.slots = cfg->max_parallel;
    if (!lo.engine.group)
        lo.engine.group = cfg->name; /* a sweep learns as one group */
    s.local = local_create(&loop, &lo, &sweep_ops, &s, error);
    if (!s.local)
        goto out;
    s.store = local_store(s.local);
    if (sweep__open(&s, error) < 0 ||
        local_usage_open(s.local, "sweep", s.sweep_id, error) < 0)
        goto out;
    s.start_ms = util_mono_ms();
    int sig = local_run(s.local);
    code = sweep__end(&s, sig, local_internal_errors(s.local) != 0, error);
out:
    local_destroy(s.local);
    uv_run(&loop, UV_RUN_DEFAULT); /* the driver's close callbacks */
    uv_loop_close(&loop);
    sweep__fini(&s);
    return code;
}
