/* SPDX-License-Identifier: MIT */
/* sweep_remote.c - a sweep whose experiments run on a banyan server.
 *
 * The sweep's records stay in the local database, exactly as in local mode
 * (sweep_common.c: same rows, same resume), and each experiment is
 * submitted to the server as a one-task job (an array of one) named
 * "sweep:<name>:<n>", with the experiment's resources, environment,
 * timeout and folder.  The command travels in the environment
 * (BANYAN_SWEEP_COMMAND) and the job's words are a fixed
 * `/bin/sh -c 'exec /bin/sh -c "$BANYAN_SWEEP_COMMAND"'`, so that braces in
 * the sweep's command are never taken for the server's replacement strings.
 *
 * At most max_parallel_experiments jobs are submitted and unfinished at
 * once; where they run is the server's core's choice.  Completion is
 * polled: one "status" query every POLL_MS, then a "results" query for each
 * job that has ended (or that the server no longer lists) gives the task's
 * state, exit code and stdout tail; the metrics come from the experiment's
 * metrics.json when the worker could write it there (same host or a shared
 * filesystem), else from the stdout tail.
 *
 * Requests no worker can take: the server's own policy applies (it keeps
 * the job pending until a worker that fits joins, or fails it with
 * --fail-infeasible, which then ends the experiment as failed with the
 * server's reason).  A request no machine can express (a bad expression)
 * is recorded infeasible here, without submitting.
 *
 * Signals: SIGINT/SIGTERM set a flag checked between calls (every call is
 * short); the loop then cancels the jobs it submitted, records their
 * experiments interrupted (run again by the next invocation) and returns
 * 128+N.
 */
#include "sweep/sweep_run.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "store/store.h"
#include "sweep_private.h"
#include "util/util.h"

enum {
    POLL_MS = 200,               /* status query period */
};

/* A submitted experiment. */
typedef struct remote_exp {
    size_t it;
    uint32_t job;
} remote_exp_t;

typedef struct remote {
    sweep__run_t s;
    banyan_client_t *client;
    remote_exp_t *active;        /* max_parallel entries */
    size_t nactive;
} remote_t;

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static void workdir_of(const sweep__run_t *s, size_t it, char *buf,
                       size_t size)
{
    snprintf(buf, size, "%s/%zu", s->results_dir, it + 1);
}

/* Submit iteration it.  0, or -1 after counting an error (the sweep then
 * starts no more). */
static int start(remote_t *r, size_t it)
{
    sweep__run_t *s = &r->s;
    sweep__exp_t *e = &s->exps[it];
    res_request_t req;
    banyan_error_t why = {{0}};
    if (sweep__request(s, e->x, &req, &why) < 0) {
        sweep__infeasible(s, it, why.text);
        return 0;
    }
    char workdir[PATH_MAX + 32], metrics[PATH_MAX + 64], name[256];
    workdir_of(s, it, workdir, sizeof(workdir));
    snprintf(metrics, sizeof(metrics), "%s/metrics.json", workdir);
    if (util_mkdir_p(workdir, 0755) < 0) {
        util_log("banyan: cannot create '%s': %s\n", workdir, strerror(errno));
        s->errors++;
        return -1;
    }
    unlink(metrics); /* left by an interrupted attempt */
    size_t nenv = 0;
    char **env = sweep__env(s, it, workdir, &nenv);
    char *cmd = sweep_substitute(s->cfg, s->command, e->x);
    char *cmdenv = NULL;
    if (!env || !cmd || asprintf(&cmdenv, "BANYAN_SWEEP_COMMAND=%s",
                                 cmd) < 0) {
        cmdenv = NULL;
        util_log("banyan: out of memory\n");
        s->errors++;
        sweep__env_free(env);
        free(cmd);
        return -1;
    }
    const char **envv = calloc(nenv + 2, sizeof(*envv));
    for (size_t i = 0; envv && i < nenv; i++)
        envv[i] = env[i];
    if (envv)
        envv[nenv] = cmdenv;
    /* The command's words when it needs no shell (the worker spawns the
     * program itself, as a local sweep does; a job without inputs gets
     * no value appended, and such words hold no replacement string);
     * else a shell runs it from the environment, so that the worker's
     * template never reads its braces. */
    static const char *const shell[] = {
        "/bin/sh", "-c", "exec /bin/sh -c \"$BANYAN_SWEEP_COMMAND\"",
    };
    char **plain = util_plain_words(cmd);
    size_t nwords = 0;
    while (plain && plain[nwords])
        nwords++;
    snprintf(name, sizeof(name), "sweep:%s:%zu", s->cfg->name, it + 1);
    banyan_job_spec_t spec = {
        .words = plain ? (const char *const *)plain : shell,
        .nwords = plain ? nwords : 3,
        .cpus_milli = req.cpus_milli, .mem_bytes = req.mem_bytes,
        .gpus_milli = req.gpus_milli,
        .timeout_ms = s->cfg->timeout_ms,
        .env = envv, .nenv = nenv + 1,
        .cwd = workdir, .name = name,
    };
    uint32_t job = 0;
    int rc = envv ? banyan_client_submit(r->client, &spec, &job, NULL, &why)
                  : (errprintf(&why, "out of memory"), -1);
    free(envv);
    free(plain);
    free(cmdenv);
    free(cmd);
    sweep__env_free(env);
    if (rc < 0) {
        util_log("banyan: cannot submit experiment %zu: %s\n", it + 1,
                 why.text);
        s->errors++;
        return -1;
    }
    e->obs = SWEEP_OBS_RUNNING;
    e->active = true;
    e->attempt++;
    s->running++;
    r->active[r->nactive++] = (remote_exp_t){.it = it, .job = job};
    sweep__record(s, it, NULL, "running", NULL, NULL, NULL, workdir);
    return 0;
}

static void save_text(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

/* Ask for job's results.  1 and the task object (caller decrefs the
 * answer) when the job has ended, 0 when it has not, -1 on error. */
static int job_result(remote_t *r, uint32_t job, json_t **answer,
                      json_t **task)
{
    char args[64], *text = NULL;
    banyan_error_t err = {{0}};
    snprintf(args, sizeof(args), "{\"job\": %u}", job);
    if (banyan_client_query(r->client, "results", args, &text, &err) < 0) {
        util_log("banyan: results of job %u: %s\n", job, err.text);
        return -1;
    }
    json_t *a = json_loads(text, 0, NULL);
    free(text);
    const char *st = json_string_value(
        json_object_get(json_object_get(a, "job"), "state"));
    json_t *t = json_array_get(json_object_get(a, "tasks"), 0);
    if (!st || (strcmp(st, "done") && strcmp(st, "failed") &&
                strcmp(st, "cancelled"))) {
        json_decref(a);
        return st ? 0 : -1;
    }
    *answer = a;
    *task = t;
    return 1;
}

static const char *jstr(const json_t *o, const char *k, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : dflt;
}

/* The active experiment i has ended: record it and drop it. */
static void finish(remote_t *r, size_t i, json_t *task, bool cancelled)
{
    sweep__run_t *s = &r->s;
    size_t it = r->active[i].it;
    char workdir[PATH_MAX + 32];
    workdir_of(s, it, workdir, sizeof(workdir));
    const char *tail = task ? jstr(task, "stdout_tail", "") : "";
    store_experiment_t row = {0};
    /* The engine classified the end; the server's row carries it. */
    banyan_task_end_t end = {.state = BANYAN_TASK_CANCELLED};
    if (task) {
        row.gpus = jstr(task, "gpus", "");
        row.exit_code = (int)json_integer_value(
            json_object_get(task, "exit_code"));
        row.signal = (int)json_integer_value(
            json_object_get(task, "signal"));
        row.start_time = json_number_value(
            json_object_get(task, "start_time"));
        row.end_time = json_number_value(json_object_get(task, "end_time"));
        row.peak_rss = (int64_t)json_integer_value(
            json_object_get(task, "peak_rss"));
        save_text(workdir, "stdout", tail);
        if (banyan_task_state_parse(jstr(task, "state", ""), &end.state) < 0)
            end.state = BANYAN_TASK_FAILED;
        snprintf(end.reason, sizeof(end.reason), "%s",
                 jstr(task, "reason", ""));
    }
    if (cancelled || end.state == BANYAN_TASK_CANCELLED) {
        end.state = BANYAN_TASK_INTERRUPTED;
        snprintf(end.reason, sizeof(end.reason), "interrupted");
    }
    s->running--;
    sweep__finish(s, it, &end, tail, &row, workdir);
    r->active[i] = r->active[--r->nactive];
}

/* One status query; then results for each ended job.  0 or -1. */
static int poll_jobs(remote_t *r)
{
    char *text = NULL;
    banyan_error_t err = {{0}};
    if (banyan_client_query(r->client, "status", NULL, &text, &err) < 0) {
        util_log("banyan: status: %s\n", err.text);
        return -1;
    }
    json_t *a = json_loads(text, 0, NULL);
    free(text);
    json_t *jobs = json_object_get(a, "jobs");
    for (size_t i = r->nactive; i-- > 0;) {
        bool ended = true; /* absent: ask for its results */
        size_t k;
        json_t *j;
        json_array_foreach(jobs, k, j) {
            if (json_integer_value(json_object_get(j, "id")) ==
                r->active[i].job) {
                const char *st = jstr(j, "state", "");
                ended = !strcmp(st, "done") || !strcmp(st, "failed") ||
                        !strcmp(st, "cancelled");
                break;
            }
        }
        if (!ended)
            continue;
        json_t *answer = NULL, *task = NULL;
        int rc = job_result(r, r->active[i].job, &answer, &task);
        if (rc < 0) {
            json_decref(a);
            return -1;
        }
        if (rc == 1)
            finish(r, i, task, false);
        json_decref(answer);
    }
    json_decref(a);
    return 0;
}

/* Cancel what is still submitted and record it interrupted. */
static void cancel_all(remote_t *r)
{
    while (r->nactive) {
        size_t i = r->nactive - 1;
        banyan_error_t err = {{0}};
        if (banyan_client_cancel(r->client, r->active[i].job, NULL,
                                 &err) < 0 && errno != ENOENT)
            util_log("banyan: cannot cancel job %u: %s\n", r->active[i].job,
                     err.text);
        finish(r, i, NULL, true);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal ends it early: fine */
}

int sweep_run_remote(const sweep_run_options_t *o, const char *endpoint,
                     const banyan_client_options_t *copts,
                     banyan_error_t *error)
{
    remote_t r = {0};
    sweep__run_t *s = &r.s;
    int code = BANYAN_EXIT_USAGE;
    bool internal = false;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    got_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (sweep__init(s, o) < 0) {
        errprintf(error, "out of memory");
        goto out;
    }
    r.active = calloc(o->cfg->max_parallel, sizeof(*r.active));
    if (!r.active) {
        errprintf(error, "out of memory");
        goto out;
    }
    banyan_client_options_t co = {0};
    if (copts)
        co = *copts;
    co.catch_signals = false; /* our own handler, checked between calls */
    r.client = banyan_client_connect(endpoint, &co, error);
    char *hello = NULL;
    if (!r.client ||
        banyan_client_query(r.client, "status", NULL, &hello, error) < 0) {
        code = r.client && errno != EINVAL ? BANYAN_EXIT_INTERNAL
                                           : BANYAN_EXIT_USAGE;
        goto out;
    }
    free(hello);
    s->store = store_open(o->db_path, NULL, error);
    if (!s->store || sweep__open(s, error) < 0)
        goto out;
    s->start_ms = util_mono_ms();
    while (!got_signal) {
        while (!got_signal && !s->stop && !s->errors &&
               r.nactive < s->cfg->max_parallel) {
            long it = sweep__next(s);
            if (it < 0 || start(&r, (size_t)it) < 0)
                break;
        }
        if (r.nactive == 0 && (!sweep__more(s) || s->errors))
            break;
        if (o->progress)
            sweep__progress(s, util_mono_ms());
        sleep_ms(POLL_MS);
        if (!got_signal && poll_jobs(&r) < 0) {
            internal = true;
            break;
        }
    }
    if (r.nactive) {
        if (!got_signal && !internal)
            internal = true;
        cancel_all(&r);
    }
    code = sweep__end(s, got_signal, internal, error);
out:
    banyan_client_close(r.client);
    store_close(s->store);
    sweep__fini(s);
    free(r.active);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return code;
}
