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
 * Records: an experiment's row is written when it is handed out (queued),
 * when it starts and when it ends, and the store is flushed at each end, so
 * after Ctrl-C, a crash or kill -9 a rerun finds every finished experiment
 * and reruns exactly the ones that were handed out and did not end, with the
 * same point.  TPE continues from the recorded history.
 */
#include "sweep/sweep_run.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "local/local.h"
#include "util/util.h"

enum {
    STDOUT_SCAN_BYTES = 1 << 16, /* tail of stdout searched for metrics */
    MAX_EXP_ENV = 8,             /* env entries besides the parameters */
};

typedef struct experiment {
    double *x;                 /* the point, nparams values */
    sweep_obs_state_t obs;     /* what strategies see */
    double y;                  /* objective, oriented for minimisation */
    int attempt;               /* starts, resumes included */
    bool active;               /* queued or running in this invocation */
} experiment_t;

/* What a started experiment keeps until it ends. */
typedef struct exp_run {
    char *argv[4];
    char **env;
    char workdir[PATH_MAX + 32];
    char *params_json;
    char *point_json;
} exp_run_t;

typedef struct sweeper {
    const sweep_run_options_t *o;
    const sweep_config_t *cfg;
    local_t *local;
    store_t *store;            /* borrowed from local */
    int64_t sweep_id;
    char results_dir[PATH_MAX];
    char config_dir[PATH_MAX];
    char *command;             /* cfg->command with ./ paths made absolute */

    experiment_t *exps;        /* by iteration */
    size_t nexps, capexps;
    uint64_t max_iterations;
    uint64_t *rerun;           /* iterations to run again (resume) */
    size_t nrerun, caprerun, rerun_pos;
    bool exhausted;            /* the grid or list has no more points */

    uint64_t ok, failed, running, queued;
    uint64_t done_before;      /* finished in earlier invocations */
    bool has_best;
    double best_y;
    size_t best_iter;
    int64_t start_ms;
    bool bar_shown;
    unsigned errors;
} sweeper_t;

/* ---------------------------------------------------------------- helpers */

static char *point_json(const sweep_config_t *cfg, const double *x)
{
    json_t *a = json_array();
    for (size_t i = 0; i < cfg->nparams; i++)
        json_array_append_new(a, json_real(x[i]));
    char *s = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(a);
    return s;
}

static int point_parse(const sweep_config_t *cfg, const char *text,
                       double *x)
{
    json_t *a = json_loads(text, 0, NULL);
    int rc = -1;
    if (json_is_array(a) && json_array_size(a) == cfg->nparams) {
        rc = 0;
        for (size_t i = 0; i < cfg->nparams; i++) {
            json_t *v = json_array_get(a, i);
            if (!json_is_number(v))
                rc = -1;
            else
                x[i] = json_number_value(v);
        }
    }
    json_decref(a);
    return rc;
}

/* Paths in the command that start with ./ or ../ are relative to the
 * configuration's folder, since experiments run in folders of their own. */
static char *absolute_command(const char *cmd, const char *dir)
{
    util_buf_t b = UTIL_BUF_INIT;
    for (const char *p = cmd; *p; p++) {
        bool word_start = p == cmd || isspace((unsigned char)p[-1]);
        if (word_start && (!strncmp(p, "./", 2) || !strncmp(p, "../", 3))) {
            util_buf_puts(&b, dir);
            util_buf_putc(&b, '/');
        }
        util_buf_putc(&b, *p);
    }
    return util_buf_steal(&b);
}

static void describe_point(const sweep_config_t *cfg, const double *x,
                           util_buf_t *b)
{
    for (size_t i = 0; i < cfg->nparams; i++) {
        char v[64];
        util_buf_printf(b, "%s%s=%s", i ? " " : "", cfg->params[i].name,
                        sweep_value_text(cfg, i, x, v, sizeof(v)));
    }
}

static const char *metric_goal(const sweep_config_t *cfg)
{
    return cfg->maximize ? "max" : "min";
}

/* ---------------------------------------------------------------- records */

static void record(sweeper_t *s, size_t it, const char *state,
                   const char *reason, const exec_result_t *res,
                   const local_task_t *t, const char *metrics,
                   const double *objective, const char *workdir)
{
    experiment_t *e = &s->exps[it];
    char *params = sweep_point_to_json(s->cfg, e->x);
    char *point = point_json(s->cfg, e->x);
    store_experiment_t row = {
        .sweep_id = s->sweep_id, .iter = (int64_t)it,
        .params_json = params ? params : "{}",
        .point_json = point ? point : "[]", .state = state,
        .reason = reason, .metrics_json = metrics,
        .has_objective = objective != NULL,
        .objective = objective ? *objective : 0,
        .gpus = t ? t->gpus : NULL, .slot = t ? (int)t->alloc.slot : 0,
        .start_time = t ? t->start_time : 0, .workdir = workdir,
        .attempt = e->attempt,
    };
    if (res) {
        row.exit_code = res->exit_code;
        row.signal = res->term_signal;
        row.start_time = res->start_time;
        row.end_time = res->end_time;
        row.peak_rss = (int64_t)res->peak_rss_bytes;
    }
    if (store_experiment_put(s->store, &row) < 0) {
        fprintf(stderr, "banyan: cannot record experiment %zu: %s\n", it + 1,
                store_last_error(s->store));
        s->errors++;
    }
    free(params);
    free(point);
}

static void clear_bar(sweeper_t *s)
{
    if (s->bar_shown) {
        fputs("\r\033[K", stderr);
        s->bar_shown = false;
    }
}

/* One line per finished experiment, above the progress bar. */
static void report(sweeper_t *s, size_t it, const char *state,
                   const char *detail)
{
    util_buf_t b = UTIL_BUF_INIT;
    describe_point(s->cfg, s->exps[it].x, &b);
    clear_bar(s);
    fprintf(stderr, "banyan: experiment %zu %s: %s%s%s\n", it + 1, state,
            b.data ? b.data : "", detail ? " -> " : "", detail ? detail : "");
    util_buf_fini(&b);
}

static void count_failure(sweeper_t *s)
{
    s->failed++;
    if (s->o->max_failures && s->failed >= s->o->max_failures &&
        !local_is_stopping(s->local)) {
        clear_bar(s);
        fprintf(stderr, "banyan: %llu experiments failed (--max-failures "
                        "%u): starting no more, waiting for the running "
                        "ones\n",
                (unsigned long long)s->failed, s->o->max_failures);
        local_stop(s->local, false);
    }
}

/* ------------------------------------------------------------ hand-out */

/* The resources of iteration it.  0, or -1 with the reason in why. */
static int experiment_request(sweeper_t *s, const double *x,
                              res_request_t *req, banyan_error_t *why)
{
    const sweep_config_t *cfg = s->cfg;
    memset(req, 0, sizeof(*req));
    req->slots = 1;
    double v;
    banyan_error_t err = {{0}};
    if (cfg->gpus_expr) {
        if (sweep_expr_eval(cfg, cfg->gpus_expr, x, false, &v, &err) < 0)
            return errprintf(why, "gpus: %s", err.text);
        if (v < 0 || (v > 1 && v != floor(v)) || v > RES_MAX_GPUS)
            return errprintf(why, "gpus: '%s' gives %g: a share below 1 or "
                             "a whole number of GPUs is needed",
                             cfg->gpus_expr, v);
        req->gpus_milli = (uint32_t)llround(v * RES_MILLI);
        if (v > 0 && req->gpus_milli == 0)
            return errprintf(why, "gpus: %g is below a thousandth", v);
    }
    if (cfg->cpus_expr) {
        if (sweep_expr_eval(cfg, cfg->cpus_expr, x, false, &v, &err) < 0)
            return errprintf(why, "cpus: %s", err.text);
        if (v < 0 || v > 1e6)
            return errprintf(why, "cpus: '%s' gives %g", cfg->cpus_expr, v);
        req->cpus_milli = (uint32_t)llround(v * RES_MILLI);
    }
    if (cfg->mem_expr) {
        if (sweep_expr_eval(cfg, cfg->mem_expr, x, true, &v, &err) < 0)
            return errprintf(why, "mem: %s", err.text);
        if (v < 0 || v > 0x1p62)
            return errprintf(why, "mem: '%s' gives %g", cfg->mem_expr, v);
        req->mem_bytes = (uint64_t)llround(v);
    }
    return 0;
}

static void submit(sweeper_t *s, size_t it)
{
    experiment_t *e = &s->exps[it];
    res_request_t req;
    banyan_error_t why = {{0}};
    banyan_error_t fit = {{0}};
    bool bad = experiment_request(s, e->x, &req, &why) < 0;
    if (!bad && !res_pool_fits_ever(local_pool(s->local), &req, &fit)) {
        bad = true;
        errprintf(&why, "infeasible: %s", fit.text);
    }
    if (bad) {
        e->obs = SWEEP_OBS_FAILED;
        record(s, it, "infeasible", why.text, NULL, NULL, NULL, NULL, NULL);
        report(s, it, "infeasible", why.text);
        count_failure(s);
        return;
    }
    sched_job_t job = {.id = (uint32_t)it + 1, .req = req, .max_attempts = 1};
    sched_t *sc = local_sched(s->local);
    /* Through the driver, so that an experiment without a mem request
     * follows the sweep's learnt estimate. */
    if (local_job_add(s->local, &job, false, &why) < 0 ||
        sched_job_add_tasks(sc, job.id, 0, 1) < 0) {
        fprintf(stderr, "banyan: cannot queue experiment %zu: %s\n", it + 1,
                why.text[0] ? why.text : strerror(errno));
        s->errors++;
        return;
    }
    e->obs = SWEEP_OBS_RUNNING;
    e->active = true;
    s->queued++;
    record(s, it, "queued", NULL, NULL, NULL, NULL, NULL, NULL);
}

/* Suggest the next iteration's point.  Returns its index, or -1 when the
 * space is exhausted or on error. */
static long suggest(sweeper_t *s)
{
    const sweep_config_t *cfg = s->cfg;
    if (s->nexps == s->capexps) {
        size_t cap = s->capexps ? s->capexps * 2 : 64;
        experiment_t *p = realloc(s->exps, cap * sizeof(*p));
        if (!p)
            return -1;
        s->exps = p;
        s->capexps = cap;
    }
    sweep_obs_t *obs = calloc(s->nexps + 1, sizeof(*obs));
    double *x = calloc(cfg->nparams ? cfg->nparams : 1, sizeof(*x));
    if (!obs || !x) {
        free(obs);
        free(x);
        return -1;
    }
    for (size_t i = 0; i < s->nexps; i++)
        obs[i] = (sweep_obs_t){s->exps[i].x, s->exps[i].y, s->exps[i].obs};
    int rc = sweep_suggest(cfg, s->nexps, obs, s->nexps, x);
    free(obs);
    if (rc != 0) {
        free(x);
        if (rc == 1)
            s->exhausted = true;
        else
            s->errors++;
        return -1;
    }
    s->exps[s->nexps] = (experiment_t){.x = x, .obs = SWEEP_OBS_RUNNING};
    return (long)s->nexps++;
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
        if (s->rerun_pos < s->nrerun) {
            submit(s, s->rerun[s->rerun_pos++]);
            continue;
        }
        if (s->exhausted || s->nexps >= s->max_iterations)
            break;
        long it = suggest(s);
        if (it < 0)
            break;
        submit(s, (size_t)it);
    }
    return !local_is_stopping(s->local) &&
           (s->rerun_pos < s->nrerun ||
            (!s->exhausted && s->nexps < s->max_iterations &&
             !s->errors));
}

/* ----------------------------------------------------------- running */

static void exp_run_free(exp_run_t *r)
{
    if (!r)
        return;
    free(r->argv[2]);
    for (char **e = r->env; e && *e; e++)
        free(*e);
    free(r->env);
    free(r->params_json);
    free(r->point_json);
    free(r);
}

static int build_env(sweeper_t *s, size_t it, exp_run_t *r)
{
    const sweep_config_t *cfg = s->cfg;
    r->env = calloc(cfg->nparams + MAX_EXP_ENV + 1, sizeof(*r->env));
    if (!r->env)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < cfg->nparams; i++) {
        char v[256];
        sweep_value_text(cfg, i, s->exps[it].x, v, sizeof(v));
        util_buf_t b = UTIL_BUF_INIT;
        util_buf_puts(&b, "BANYAN_PARAM_");
        for (const char *p = cfg->params[i].name; *p; p++)
            util_buf_putc(&b, (char)toupper((unsigned char)*p));
        util_buf_printf(&b, "=%s", v);
        if (!(r->env[n++] = util_buf_steal(&b)))
            return -1;
    }
    if (asprintf(&r->env[n++], "BANYAN_METRICS=%s/metrics.json",
                 r->workdir) < 0 ||
        asprintf(&r->env[n++], "BANYAN_TASK_ID=%zu", it + 1) < 0 ||
        asprintf(&r->env[n++], "BANYAN_EXPERIMENT=%zu", it + 1) < 0 ||
        asprintf(&r->env[n++], "BANYAN_SWEEP=%s", cfg->name) < 0 ||
        asprintf(&r->env[n++], "BANYAN_SWEEP_DIR=%s", s->config_dir) < 0) {
        r->env[n - 1] = NULL;
        return -1;
    }
    return 0;
}

static int prepare(local_t *l, local_task_t *t, exec_spec_t *spec,
                   banyan_error_t *error, void *arg)
{
    (void)l;
    sweeper_t *s = arg;
    size_t it = t->job_id - 1;
    experiment_t *e = &s->exps[it];
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
    r->argv[0] = "/bin/sh";
    r->argv[1] = "-c";
    r->argv[2] = sweep_substitute(s->cfg, s->command, e->x);
    if (!r->argv[2] || build_env(s, it, r) < 0)
        return errprintf(error, "out of memory");
    spec->argv = (const char *const *)r->argv;
    spec->env = (const char *const *)r->env;
    spec->cwd = r->workdir;
    spec->timeout_ms = s->cfg->timeout_ms;
    e->attempt++;
    s->queued--;
    s->running++;
    record(s, it, "running", NULL, NULL, t, NULL, NULL, r->workdir);
    return 0;
}

static void save_stream(const char *dir, const char *name,
                        const exec_stream_t *st)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (st)
        (void)exec_stream_copy(st, fd, NULL);
    close(fd);
}

static void done(local_t *l, local_task_t *t, const exec_result_t *res,
                 bool requeued, void *arg)
{
    sweeper_t *s = arg;
    const sweep_config_t *cfg = s->cfg;
    size_t it = t->job_id - 1;
    experiment_t *e = &s->exps[it];
    exp_run_t *r = t->user;
    char workdir[PATH_MAX + 32];
    snprintf(workdir, sizeof(workdir), "%s/%zu", s->results_dir, it + 1);
    if (r) {
        save_stream(workdir, "stdout", res->out);
        save_stream(workdir, "stderr", res->err);
        s->running--;
    } else {
        s->queued--;
    }
    if (requeued) {
        /* The driver sent it back (killed by a signal it did not ask for,
         * or for critical memory, see docs/resources.md): it runs again. */
        s->queued++;
        record(s, it, "queued", t->why[0] ? t->why : NULL, res, t, NULL,
               NULL, workdir);
        report(s, it, "requeued", t->why[0] ? t->why : "requeued");
        exp_run_free(r);
        t->user = NULL;
        return;
    }
    e->active = false;

    const char *state;
    char reason[600] = "";
    char *metrics = NULL;
    double value = 0;
    bool have_value = false;
    if (res->interrupted) {
        state = "interrupted";
        snprintf(reason, sizeof(reason), "interrupted");
    } else if (res->timed_out) {
        state = "timeout";
        snprintf(reason, sizeof(reason), "timed out after %.3f s",
                 (double)cfg->timeout_ms / 1000.0);
    } else if (res->mem_limited) {
        char lim[32], peak[32];
        state = "killed";
        snprintf(reason, sizeof(reason), "memory limit %s exceeded: peak %s",
                 util_format_size(res->mem_limit_bytes, lim, sizeof(lim)),
                 util_format_size(res->peak_rss_bytes, peak, sizeof(peak)));
    } else if (res->term_signal) {
        state = "killed";
        if (t->why[0])
            snprintf(reason, sizeof(reason), "%s", t->why);
        else
            snprintf(reason, sizeof(reason), "killed by signal %d (%s)",
                     res->term_signal, strsignal(res->term_signal));
    } else if (res->exit_code != 0) {
        state = "failed";
        snprintf(reason, sizeof(reason), "exit status %d%s", res->exit_code,
                 res->spawn_failed ? " (could not start)" : "");
    } else {
        char tail[STDOUT_SCAN_BYTES + 1];
        size_t n = res->out ? exec_stream_tail(res->out, tail,
                                               STDOUT_SCAN_BYTES) : 0;
        tail[n] = '\0';
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/metrics.json", workdir);
        banyan_error_t err = {{0}};
        if (sweep_metrics_read(path, tail, cfg->metric, &metrics, &value,
                               &err) == 0) {
            state = "ok";
            have_value = true;
        } else {
            state = "failed";
            snprintf(reason, sizeof(reason), "%s", err.text);
        }
    }
    if (have_value) {
        e->obs = SWEEP_OBS_DONE;
        e->y = cfg->maximize ? -value : value;
        if (!s->has_best || e->y < s->best_y) {
            s->has_best = true;
            s->best_y = e->y;
            s->best_iter = it;
        }
        s->ok++;
    } else if (res->interrupted) {
        e->obs = SWEEP_OBS_FAILED; /* rerun by the next invocation */
    } else {
        e->obs = SWEEP_OBS_FAILED;
        count_failure(s);
    }
    record(s, it, state, reason[0] ? reason : NULL, res, t, metrics,
           have_value ? &value : NULL, workdir);
    if (store_flush(s->store) < 0) {
        fprintf(stderr, "banyan: cannot write the database: %s\n",
                store_last_error(s->store));
        s->errors++;
    }
    if (!res->interrupted) {
        char detail[700];
        if (have_value)
            snprintf(detail, sizeof(detail), "%s=%g (%.1f s)", cfg->metric,
                     value, res->end_time - res->start_time);
        else
            snprintf(detail, sizeof(detail), "%s", reason);
        report(s, it, state, detail);
    }
    free(metrics);
    exp_run_free(r);
    t->user = NULL;
    local_job_remove(l, t->job_id);
}

static void progress(local_t *l, int64_t now_ms, void *arg)
{
    (void)l;
    sweeper_t *s = arg;
    uint64_t done = s->ok + s->failed;
    uint64_t total = s->max_iterations;
    uint64_t space = sweep_space_size(s->cfg);
    if (space && space < total)
        total = space;
    uint64_t todo = total > s->done_before ? total - s->done_before : 0;
    double elapsed = (double)(now_ms - s->start_ms) / 1000.0;
    char eta[32] = "?";
    if (done > 0 && done < todo) {
        long t = (long)(elapsed / (double)done * (double)(todo - done));
        snprintf(eta, sizeof(eta), "%ld:%02ld:%02ld", t / 3600,
                 t / 60 % 60, t % 60);
    }
    char best[96] = "-";
    if (s->has_best)
        snprintf(best, sizeof(best), "%s=%g (#%zu)", s->cfg->metric,
                 s->cfg->maximize ? -s->best_y : s->best_y,
                 s->best_iter + 1);
    fprintf(stderr, "\r\033[K[%s] %llu/%llu done  running %llu  failed "
                    "%llu  best %s  ETA %s",
            s->cfg->name, (unsigned long long)(done + s->done_before),
            (unsigned long long)total, (unsigned long long)s->running,
            (unsigned long long)s->failed, best, eta);
    fflush(stderr);
    s->bar_shown = true;
}

static const local_ops_t sweep_ops = {
    .prepare = prepare,
    .done = done,
    .refill = refill,
    .progress = progress,
};

/* ---------------------------------------------------------- set-up */

struct found {
    int n;
    int64_t id;
    char *space;
};

static int on_sweep(const store_sweep_t *sw, void *arg)
{
    struct found *f = arg;
    f->n++;
    f->id = sw->id;
    f->space = strdup(sw->space);
    return 0;
}

static int on_experiment(const store_experiment_t *row, void *arg)
{
    sweeper_t *s = arg;
    const sweep_config_t *cfg = s->cfg;
    if (row->iter < 0 || (size_t)row->iter != s->nexps)
        return 0; /* rows are contiguous; ignore anything else */
    if (s->nexps == s->capexps) {
        size_t cap = s->capexps ? s->capexps * 2 : 64;
        experiment_t *p = realloc(s->exps, cap * sizeof(*p));
        if (!p)
            return -1;
        s->exps = p;
        s->capexps = cap;
    }
    double *x = calloc(cfg->nparams ? cfg->nparams : 1, sizeof(*x));
    if (!x || point_parse(cfg, row->point_json, x) < 0) {
        free(x);
        return x ? 0 : -1;
    }
    experiment_t *e = &s->exps[s->nexps++];
    *e = (experiment_t){.x = x, .attempt = row->attempt};
    const char *st = row->state;
    if (!strcmp(st, "ok") && row->has_objective) {
        e->obs = SWEEP_OBS_DONE;
        e->y = cfg->maximize ? -row->objective : row->objective;
        if (!s->has_best || e->y < s->best_y) {
            s->has_best = true;
            s->best_y = e->y;
            s->best_iter = s->nexps - 1;
        }
        s->done_before++;
    } else if (!strcmp(st, "queued") || !strcmp(st, "running") ||
               !strcmp(st, "interrupted")) {
        e->obs = SWEEP_OBS_RUNNING;
        if (s->nrerun == s->caprerun) {
            size_t cap = s->caprerun ? s->caprerun * 2 : 64;
            uint64_t *p = realloc(s->rerun, cap * sizeof(*p));
            if (!p)
                return -1;
            s->rerun = p;
            s->caprerun = cap;
        }
        s->rerun[s->nrerun++] = s->nexps - 1;
    } else {
        e->obs = SWEEP_OBS_FAILED;
        s->done_before++;
    }
    return 0;
}

static int open_sweep(sweeper_t *s, banyan_error_t *error)
{
    const sweep_config_t *cfg = s->cfg;
    char *space = sweep_config_space_text(cfg);
    if (!space)
        return errprintf(error, "out of memory");
    struct found f = {0};
    int rc = store_sweeps_foreach(s->store, cfg->name, on_sweep, &f);
    if (rc == 0 && f.n && strcmp(f.space, space) != 0) {
        if (!s->o->restart) {
            errprintf(error, "sweep '%s' already exists in this database "
                      "with a different parameter space or strategy; rerun "
                      "with --restart to discard its records, or give the "
                      "sweep another name", cfg->name);
            errno = EEXIST;
            rc = -1;
        }
    }
    if (rc == 0 && f.n && s->o->restart) {
        if (store_sweep_delete(s->store, f.id) < 0)
            rc = errprintf(error, "cannot delete sweep '%s': %s", cfg->name,
                           store_last_error(s->store));
        f.n = 0;
        fprintf(stderr, "banyan: --restart: discarded the records of sweep "
                        "'%s'\n", cfg->name);
    }
    if (rc == 0 && f.n) {
        s->sweep_id = f.id;
        if (store_experiments_foreach(s->store, f.id, on_experiment, s) < 0)
            rc = errprintf(error, "cannot read sweep '%s': %s", cfg->name,
                           store_last_error(s->store));
        if (s->nrerun || s->done_before)
            fprintf(stderr, "banyan: resuming sweep '%s': %llu experiments "
                            "finished, %zu to run again\n",
                    cfg->name, (unsigned long long)s->done_before,
                    s->nrerun);
        store_sweep_set_state(s->store, f.id, "running", util_wall_time());
    } else if (rc == 0) {
        store_sweep_t sw = {
            .name = cfg->name, .config_path = cfg->path, .space = space,
            .command = cfg->command, .metric = cfg->metric,
            .maximize = cfg->maximize, .state = "running",
            .created = util_wall_time(),
        };
        rc = store_sweep_create(s->store, &sw, error);
        s->sweep_id = sw.id;
    }
    free(f.space);
    free(space);
    if (rc == 0 && store_flush(s->store) < 0)
        rc = errprintf(error, "cannot write the database: %s",
                       store_last_error(s->store));
    return rc;
}

static void summary(sweeper_t *s)
{
    const sweep_config_t *cfg = s->cfg;
    fprintf(stderr, "banyan: sweep '%s': %llu experiments finished now "
                    "(%llu ok, %llu failed), %llu before\n",
            cfg->name, (unsigned long long)(s->ok + s->failed),
            (unsigned long long)s->ok, (unsigned long long)s->failed,
            (unsigned long long)s->done_before);
    if (s->has_best) {
        util_buf_t b = UTIL_BUF_INIT;
        describe_point(cfg, s->exps[s->best_iter].x, &b);
        printf("best: %s=%g (%simize) at experiment %zu: %s\n", cfg->metric,
               cfg->maximize ? -s->best_y : s->best_y, metric_goal(cfg),
               s->best_iter + 1, b.data ? b.data : "");
        util_buf_fini(&b);
    }
}

int sweep_run(const sweep_run_options_t *o, banyan_error_t *error)
{
    const sweep_config_t *cfg = o->cfg;
    sweeper_t s = {.o = o, .cfg = cfg};
    s.max_iterations = cfg->max_iterations ? cfg->max_iterations : 100;
    if (o->results_dir)
        snprintf(s.results_dir, sizeof(s.results_dir), "%s",
                 o->results_dir);
    else
        snprintf(s.results_dir, sizeof(s.results_dir),
                 ".banyan/sweeps/%s", cfg->name);
    char cfgpath[PATH_MAX];
    if (realpath(cfg->path, cfgpath)) {
        char *slash = strrchr(cfgpath, '/');
        *slash = '\0';
        snprintf(s.config_dir, sizeof(s.config_dir), "%s",
                 cfgpath[0] ? cfgpath : "/");
    } else if (!getcwd(s.config_dir, sizeof(s.config_dir))) {
        snprintf(s.config_dir, sizeof(s.config_dir), ".");
    }
    s.command = absolute_command(cfg->command, s.config_dir);

    local_options_t lo = {0};
    if (o->resources)
        lo = *o->resources;
    lo.db_path = o->db_path;
    lo.slots = cfg->max_parallel;
    lo.mem_reserve_bytes = o->mem_reserve_bytes;
    lo.kill_grace_ms = o->kill_grace_ms;
    lo.progress = o->progress;
    if (!lo.group)
        lo.group = cfg->name; /* a sweep learns as one group */
    int code = BANYAN_EXIT_USAGE;
    s.local = local_create(&lo, &sweep_ops, &s, error);
    if (!s.local || !s.command)
        goto out;
    s.store = local_store(s.local);
    if (open_sweep(&s, error) < 0 ||
        local_usage_open(s.local, "sweep", s.sweep_id, error) < 0)
        goto out;
    /* Experiments run in their folders: every path they get is absolute. */
    char abs[PATH_MAX];
    if (util_mkdir_p(s.results_dir, 0755) < 0 ||
        !realpath(s.results_dir, abs)) {
        errprintf(error, "cannot create '%s': %s", s.results_dir,
                  strerror(errno));
        goto out;
    }
    snprintf(s.results_dir, sizeof(s.results_dir), "%s", abs);
    s.start_ms = util_mono_ms();
    int sig = local_run(s.local);
    clear_bar(&s);

    const char *state = sig ? "interrupted"
                        : local_is_stopping(s.local) ? "stopped" : "done";
    store_sweep_set_state(s.store, s.sweep_id, state, util_wall_time());
    if (store_flush(s.store) < 0)
        s.errors++;
    summary(&s);
    if (sig)
        code = 128 + sig;
    else if (s.errors || local_internal_errors(s.local))
        code = BANYAN_EXIT_INTERNAL;
    else
        code = s.failed ? BANYAN_EXIT_FAILED : BANYAN_EXIT_OK;
    if (code == BANYAN_EXIT_INTERNAL)
        errprintf(error, "some experiments could not be started or "
                  "recorded");
out:
    local_destroy(s.local);
    for (size_t i = 0; i < s.nexps; i++)
        free(s.exps[i].x);
    free(s.exps);
    free(s.rerun);
    free(s.command);
    return code;
}
