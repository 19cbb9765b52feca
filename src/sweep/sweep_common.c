/* SPDX-License-Identifier: MIT */
/* sweep_common.c - what the local and the server runner of a sweep share.
 *
 * Both runners keep the sweep's records in the local store, hand out points
 * the same way and judge a finished experiment the same way; they differ
 * only in how an experiment is started and how its end is learnt (the local
 * driver's callbacks, or a server's job and "results" query).  So the
 * records, the resume semantics, the resource request, the metrics and the
 * lines for the user (util_log) live here, once.
 *
 * Records: an experiment's row is written when it is handed out (queued),
 * when it starts and when it ends, and the store is flushed at each end, so
 * after Ctrl-C, a crash or kill -9 a rerun finds every finished experiment
 * and reruns exactly the ones that were handed out and did not end, with the
 * same point.  TPE continues from the recorded history.
 */
#include "sweep_private.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "util/util.h"

enum {
    MAX_EXP_ENV = 8,             /* env entries besides the parameters */
};

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

void sweep__record(sweep__run_t *s, size_t it, const store_experiment_t *run,
                   const char *state, const char *reason,
                   const char *metrics, const double *objective,
                   const char *workdir)
{
    sweep__exp_t *e = &s->exps[it];
    char *params = sweep_point_to_json(s->cfg, e->x);
    char *point = point_json(s->cfg, e->x);
    store_experiment_t row = {0};
    if (run)
        row = *run;
    row.sweep_id = s->sweep_id;
    row.iter = (int64_t)it;
    row.params_json = params ? params : "{}";
    row.point_json = point ? point : "[]";
    row.state = state;
    row.reason = reason;
    row.metrics_json = metrics;
    row.has_objective = objective != NULL;
    row.objective = objective ? *objective : 0;
    row.workdir = workdir;
    row.attempt = e->attempt;
    if (store_experiment_put(s->store, &row) < 0) {
        /* A database that cannot take writes is said once: by the local
         * driver, which then starts nothing more; remotely, here. */
        if (!store_write_failure(s->store) || (!s->local && !s->errors))
            util_log("banyan: cannot record experiment %zu: %s\n", it + 1,
                     store_last_error(s->store));
        s->errors++;
    }
    free(params);
    free(point);
}

void sweep__clear_bar(sweep__run_t *s)
{
    if (s->bar_shown) {
        util_log("\r\033[K");
        s->bar_shown = false;
    }
}

void sweep__report(sweep__run_t *s, size_t it, const char *state,
                   const char *detail)
{
    util_buf_t b = UTIL_BUF_INIT;
    describe_point(s->cfg, s->exps[it].x, &b);
    sweep__clear_bar(s);
    util_log("banyan: experiment %zu %s: %s%s%s\n", it + 1, state,
             b.data ? b.data : "", detail ? " -> " : "", detail ? detail : "");
    util_buf_fini(&b);
}

bool sweep__count_failure(sweep__run_t *s)
{
    s->failed++;
    if (s->o->max_failures && s->failed >= s->o->max_failures && !s->stop) {
        s->stop = true;
        sweep__clear_bar(s);
        util_log("banyan: %llu experiments failed (--max-failures %u): "
                 "starting no more, waiting for the running ones\n",
                 (unsigned long long)s->failed, s->o->max_failures);
        return true;
    }
    return false;
}

void sweep__progress(sweep__run_t *s, int64_t now_ms)
{
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
    util_log("\r\033[K[%s] %llu/%llu done  running %llu  failed "
             "%llu  best %s  ETA %s",
             s->cfg->name, (unsigned long long)(done + s->done_before),
             (unsigned long long)total, (unsigned long long)s->running,
             (unsigned long long)s->failed, best, eta);
    s->bar_shown = true;
}

/* ------------------------------------------------------------ hand-out */

int sweep__request(const sweep__run_t *s, const double *x,
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

bool sweep__infeasible(sweep__run_t *s, size_t it, const char *why)
{
    s->exps[it].obs = SWEEP_OBS_FAILED;
    sweep__record(s, it, NULL, "infeasible", why, NULL, NULL, NULL);
    sweep__report(s, it, "infeasible", why);
    return sweep__count_failure(s);
}

static int grow_exps(sweep__run_t *s)
{
    return util_grow((void **)&s->exps, &s->capexps, s->nexps + 1,
                     sizeof(*s->exps));
}

/* Suggest the next iteration's point.  Returns its index, or -1 when the
 * space is exhausted or on error. */
static long suggest(sweep__run_t *s)
{
    const sweep_config_t *cfg = s->cfg;
    if (grow_exps(s) < 0) {
        s->errors++;
        return -1;
    }
    sweep_obs_t *obs = calloc(s->nexps + 1, sizeof(*obs));
    double *x = calloc(cfg->nparams ? cfg->nparams : 1, sizeof(*x));
    if (!obs || !x) {
        free(obs);
        free(x);
        s->errors++;
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
    s->exps[s->nexps] = (sweep__exp_t){.x = x, .obs = SWEEP_OBS_RUNNING};
    return (long)s->nexps++;
}

long sweep__next(sweep__run_t *s)
{
    if (s->rerun_pos < s->nrerun)
        return (long)s->rerun[s->rerun_pos++];
    if (s->exhausted || s->nexps >= s->max_iterations)
        return -1;
    return suggest(s);
}

bool sweep__more(const sweep__run_t *s)
{
    return !s->stop &&
           (s->rerun_pos < s->nrerun ||
            (!s->exhausted && s->nexps < s->max_iterations && !s->errors));
}

/* ----------------------------------------------------------- running */

void sweep__env_free(char **env)
{
    for (char **e = env; e && *e; e++)
        free(*e);
    free(env);
}

char **sweep__env(const sweep__run_t *s, size_t it, const char *workdir,
                  size_t *nout)
{
    const sweep_config_t *cfg = s->cfg;
    char **env = calloc(cfg->nparams + MAX_EXP_ENV + 1, sizeof(*env));
    if (!env)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->nparams; i++) {
        char v[256];
        sweep_value_text(cfg, i, s->exps[it].x, v, sizeof(v));
        util_buf_t b = UTIL_BUF_INIT;
        util_buf_puts(&b, "BANYAN_PARAM_");
        for (const char *p = cfg->params[i].name; *p; p++)
            util_buf_putc(&b, (char)toupper((unsigned char)*p));
        util_buf_printf(&b, "=%s", v);
        if (!(env[n++] = util_buf_steal(&b))) {
            sweep__env_free(env);
            return NULL;
        }
    }
    if (asprintf(&env[n++], "BANYAN_METRICS=%s/metrics.json", workdir) < 0 ||
        asprintf(&env[n++], "BANYAN_EXPERIMENT=%zu", it + 1) < 0 ||
        asprintf(&env[n++], "BANYAN_SWEEP=%s", cfg->name) < 0 ||
        asprintf(&env[n++], "BANYAN_SWEEP_DIR=%s", s->config_dir) < 0) {
        env[n - 1] = NULL;
        sweep__env_free(env);
        return NULL;
    }
    if (nout)
        *nout = n;
    return env;
}

bool sweep__finish(sweep__run_t *s, size_t it, const banyan_task_end_t *end,
                   const char *stdout_tail, const store_experiment_t *row,
                   const char *workdir)
{
    bool interrupted = end->state == BANYAN_TASK_INTERRUPTED;
    const char *state = end->state == BANYAN_TASK_OK
                            ? NULL /* the metrics decide */
                            : banyan_task_state_name(end->state);
    const char *why = end->reason[0] ? end->reason : NULL;
    const sweep_config_t *cfg = s->cfg;
    sweep__exp_t *e = &s->exps[it];
    e->active = false;
    char reason[600] = "";
    char *metrics = NULL;
    double value = 0;
    bool have_value = false, stop = false;
    if (why)
        snprintf(reason, sizeof(reason), "%s", why);
    if (!state) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/metrics.json", workdir);
        banyan_error_t err = {{0}};
        if (sweep_metrics_read(path, stdout_tail ? stdout_tail : "",
                               cfg->metric, &metrics, &value, &err) == 0) {
            state = banyan_task_state_name(BANYAN_TASK_OK);
            have_value = true;
        } else {
            state = banyan_task_state_name(BANYAN_TASK_FAILED);
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
    } else if (interrupted) {
        e->obs = SWEEP_OBS_FAILED; /* rerun by the next invocation */
    } else {
        e->obs = SWEEP_OBS_FAILED;
        stop = sweep__count_failure(s);
    }
    sweep__record(s, it, row, state, reason[0] ? reason : NULL, metrics,
                  have_value ? &value : NULL, workdir);
    if (store_flush(s->store) < 0) {
        if (!store_write_failure(s->store) || (!s->local && !s->errors))
            util_log("banyan: cannot write the database: %s\n",
                     store_last_error(s->store));
        s->errors++;
    }
    if (!interrupted) {
        char detail[700];
        if (have_value)
            snprintf(detail, sizeof(detail), "%s=%g (%.1f s)", cfg->metric,
                     value, row ? row->end_time - row->start_time : 0.0);
        else
            snprintf(detail, sizeof(detail), "%s", reason);
        sweep__report(s, it, state, detail);
    }
    free(metrics);
    return stop;
}

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
    free(f->space);
    f->space = strdup(sw->space);
    return 0;
}

static int on_experiment(const store_experiment_t *row, void *arg)
{
    sweep__run_t *s = arg;
    const sweep_config_t *cfg = s->cfg;
    if (row->iter < 0 || (size_t)row->iter != s->nexps)
        return 0; /* rows are contiguous; ignore anything else */
    if (grow_exps(s) < 0)
        return -1;
    double *x = calloc(cfg->nparams ? cfg->nparams : 1, sizeof(*x));
    if (!x || point_parse(cfg, row->point_json, x) < 0) {
        free(x);
        return x ? 0 : -1;
    }
    sweep__exp_t *e = &s->exps[s->nexps++];
    *e = (sweep__exp_t){.x = x, .attempt = row->attempt};
    /* An experiment's state is a task state's name, or "infeasible". */
    banyan_task_state_t ts;
    bool known = banyan_task_state_parse(row->state, &ts) == 0;
    if (known && ts == BANYAN_TASK_OK && row->has_objective) {
        e->obs = SWEEP_OBS_DONE;
        e->y = cfg->maximize ? -row->objective : row->objective;
        if (!s->has_best || e->y < s->best_y) {
            s->has_best = true;
            s->best_y = e->y;
            s->best_iter = s->nexps - 1;
        }
        s->done_before++;
    } else if (known && (!banyan_task_state_is_end(ts) ||
                         ts == BANYAN_TASK_INTERRUPTED)) {
        e->obs = SWEEP_OBS_RUNNING;
        if (util_grow((void **)&s->rerun, &s->caprerun, s->nrerun + 1,
                      sizeof(*s->rerun)) < 0)
            return -1;
        s->rerun[s->nrerun++] = s->nexps - 1;
    } else {
        e->obs = SWEEP_OBS_FAILED;
        s->done_before++;
    }
    return 0;
}

int sweep__init(sweep__run_t *s, const sweep_run_options_t *o)
{
    const sweep_config_t *cfg = o->cfg;
    *s = (sweep__run_t){.o = o, .cfg = cfg};
    s->max_iterations = cfg->max_iterations ? cfg->max_iterations : 100;
    if (o->results_dir)
        snprintf(s->results_dir, sizeof(s->results_dir), "%s",
                 o->results_dir);
    else
        snprintf(s->results_dir, sizeof(s->results_dir),
                 ".banyan/sweeps/%s", cfg->name);
    char cfgpath[PATH_MAX];
    if (realpath(cfg->path, cfgpath)) {
        char *slash = strrchr(cfgpath, '/');
        *slash = '\0';
        snprintf(s->config_dir, sizeof(s->config_dir), "%s",
                 cfgpath[0] ? cfgpath : "/");
    } else if (!getcwd(s->config_dir, sizeof(s->config_dir))) {
        snprintf(s->config_dir, sizeof(s->config_dir), ".");
    }
    s->command = absolute_command(cfg->command, s->config_dir);
    if (!s->command) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

int sweep__open(sweep__run_t *s, banyan_error_t *error)
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
        util_log("banyan: --restart: discarded the records of sweep '%s'\n",
                 cfg->name);
    }
    if (rc == 0 && f.n) {
        s->sweep_id = f.id;
        if (store_experiments_foreach(s->store, f.id, on_experiment, s) < 0)
            rc = errprintf(error, "cannot read sweep '%s': %s", cfg->name,
                           store_last_error(s->store));
        if (s->nrerun || s->done_before)
            util_log("banyan: resuming sweep '%s': %llu experiments "
                     "finished, %zu to run again\n",
                     cfg->name, (unsigned long long)s->done_before, s->nrerun);
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
    if (rc < 0)
        return rc;
    /* Experiments run in their folders: every path they get is absolute. */
    char abs[PATH_MAX];
    if (util_mkdir_p(s->results_dir, 0755) < 0 ||
        !realpath(s->results_dir, abs))
        return errprintf(error, "cannot create '%s': %s", s->results_dir,
                         strerror(errno));
    snprintf(s->results_dir, sizeof(s->results_dir), "%s", abs);
    return 0;
}

static void summary(sweep__run_t *s)
{
    const sweep_config_t *cfg = s->cfg;
    util_log("banyan: sweep '%s': %llu experiments finished now "
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

int sweep__end(sweep__run_t *s, int sig, bool internal,
               banyan_error_t *error)
{
    sweep__clear_bar(s);
    const char *state = sig ? "interrupted" : s->stop ? "stopped" : "done";
    store_sweep_set_state(s->store, s->sweep_id, state, util_wall_time());
    if (store_flush(s->store) < 0)
        s->errors++;
    summary(s);
    int code;
    if (sig)
        code = 128 + sig;
    else if (s->errors || internal)
        code = BANYAN_EXIT_INTERNAL;
    else
        code = s->failed ? BANYAN_EXIT_FAILED : BANYAN_EXIT_OK;
    if (code == BANYAN_EXIT_INTERNAL && store_write_failure(s->store))
        errprintf(error, "stopped: the database could not be written (see "
                  "above); running the sweep again runs the experiments it "
                  "did not record");
    else if (code == BANYAN_EXIT_INTERNAL)
        errprintf(error, "some experiments could not be started or "
                  "recorded");
    return code;
}

void sweep__fini(sweep__run_t *s)
{
    for (size_t i = 0; i < s->nexps; i++)
        free(s->exps[i].x);
    free(s->exps);
    free(s->rerun);
    free(s->command);
}
