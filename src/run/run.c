/* SPDX-License-Identifier: MIT */
/* run.c - local mode: sched core + one engine + store on one libuv loop.
 *
 * The loop has one check handle that "pumps" after every iteration: it asks
 * the core for START actions, expands each task's template, records the
 * start and hands the task to the executor.  The executor's done callback
 * records the end, writes output and the joblog, and tells the core, which
 * releases the allocation or requeues the task for a retry.  Doing the pump
 * once per loop iteration batches the work of many finished tasks.
 *
 * A housekeeping timer (100 ms) re-reads MemAvailable for the admission of
 * tasks without --mem, keeps the anti-starvation clock moving and commits
 * the store's grouped transaction when the run is quiet; the progress bar
 * has its own timer.  SIGINT, SIGTERM and SIGHUP stop new starts and
 * terminate every running process group (recorded as interrupted).
 *
 * Resume: the run's identity (fingerprint) is its command and its inputs.
 * --resume finds the newest run with that identity and queues only the task
 * indices that did not end there (--resume-failed: that did not succeed).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "gpu/gpu.h"
#include "run_private.h"
#include "sched/sched.h"
#include "store/store.h"

enum {
    JOB_ID = 1,           /* the one job of a local run */
    ACTIONS_PER_STEP = 64,
    TAIL_BYTES = 4096,    /* stdout/stderr tail kept in the database */
    HOUSEKEEP_MS = 100,
    PROGRESS_MS = 200,
    MEMINFO_STALE_MS = 50,
};

typedef struct task {
    uint64_t index;
    uint32_t attempt;
    res_alloc_t alloc;
    char **argv;          /* one block from tmpl_expand */
    char *line;           /* the command as text */
    char *args_json;
    char gpus[128];       /* "0,2" */
    char *env[4 + GPU_ENV_MAX + 1];
} task_t;

typedef struct run {
    const run_options_t *o;
    banyan_error_t *error;
    uv_loop_t loop;
    uv_check_t pump;
    uv_timer_t housekeep;
    uv_timer_t progress_timer;
    uv_signal_t sigs[3];
    bool loop_open;
    bool handles_open;

    sched_t *sched;
    res_pool_t *pool;      /* borrowed from sched */
    exec_t *exec;
    store_t *store;
    run_output_t *output;
    FILE *joblog;
    int64_t run_id;
    char host[256];

    int ngpus;
    gpu_info_t gpus[GPU_MAX];
    size_t arity;
    uint8_t *skip;        /* bit per task index: ended in an earlier run */
    uint64_t total;       /* tasks in the inputs */

    run_progress_t progress;
    uint64_t running;
    uint64_t pending;      /* not yet ended for good */
    bool stopping;         /* halt or signal: start nothing new */
    int signal_seen;       /* first SIGINT/SIGTERM/SIGHUP, 0 if none */
    int internal;          /* an internal error happened (exit 3) */
    int64_t last_meminfo_ms;
} run_t;

static bool skipped(uint64_t index, void *arg)
{
    const run_t *r = arg;
    return r->skip && index < r->total &&
           (r->skip[index / 8] >> (index % 8)) & 1;
}

/* ------------------------------------------------------------- capacity */

static int build_pool(run_t *r, banyan_error_t *error)
{
    const run_options_t *o = r->o;
    res_capacity_t cap = {0};
    cap.slots = o->jobs;
    cap.cpus_milli = (uint32_t)util_ncpus() * RES_MILLI;
    uint64_t total = 0;
    if (util_meminfo(&total, NULL) < 0)
        return errprintf(error, "cannot read /proc/meminfo: %s",
                         strerror(errno));
    cap.mem_bytes = total;
    cap.mem_reserve_bytes = o->mem_reserve_bytes;
    gpu_source_t src;
    r->ngpus = gpu_discover(r->gpus, GPU_MAX, &src, error);
    if (r->ngpus < 0)
        return -1;
    cap.ngpus = r->ngpus;
    for (int i = 0; i < r->ngpus; i++) {
        cap.gpus[i].index = r->gpus[i].index;
        cap.gpus[i].mem_total_bytes = r->gpus[i].mem_total_bytes;
        cap.gpus[i].mem_used_bytes = r->gpus[i].mem_used_bytes;
        cap.gpus[i].util_percent = r->gpus[i].util_percent;
    }
    /* Custom resources exist only where they are declared; locally a
     * request names them with their capacity (license=2 means two at once
     * in total is not known here), so each one gets the request's amount
     * times the slots: the request is then limited by -j alone. */
    cap.ncustom = o->req.ncustom;
    for (int i = 0; i < o->req.ncustom; i++) {
        cap.custom[i] = o->req.custom[i];
        cap.custom[i].amount *= o->jobs;
    }
    res_pool_t *pool = res_pool_create(&cap);
    if (!pool)
        return errprintf(error, "cannot create resource pool: %s",
                         strerror(errno));
    res_request_t req = o->req;
    req.slots = 1;
    banyan_error_t why = {{0}};
    if (!res_pool_fits_ever(pool, &req, &why)) {
        res_pool_destroy(pool);
        errno = ENOSPC;
        return errprintf(error, "a task can never run on this machine: %s",
                         why.text);
    }
    r->sched = sched_create(NULL);
    if (!r->sched || sched_engine_add(r->sched, 1, pool) < 0)
        return errprintf(error, "cannot create scheduler: %s",
                         strerror(errno));
    r->pool = sched_engine_pool(r->sched, 1);
    sched_job_t job = {.id = JOB_ID, .priority = 0, .req = req,
                       .max_attempts = 1 + o->retries};
    if (sched_job_add(r->sched, &job) < 0)
        return errprintf(error, "cannot add job: %s", strerror(errno));
    return 0;
}

/* ----------------------------------------------------------- the record */

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

struct resume_scan {
    run_t *r;
    uint64_t skipped;
};

static int resume_visit(const store_task_t *t, void *arg)
{
    struct resume_scan *sc = arg;
    run_t *r = sc->r;
    bool done;
    if (r->o->resume == RUN_RESUME_FAILED)
        done = !strcmp(t->state, "ok");
    else
        done = strcmp(t->state, "running") && strcmp(t->state, "interrupted");
    uint64_t i = (uint64_t)t->seq - 1;
    if (done && t->seq >= 1 && i < r->total) {
        r->skip[i / 8] |= (uint8_t)(1u << (i % 8));
        sc->skipped++;
    }
    return 0;
}

/* Create the run row, or find the run to resume and mark what it finished.
 * Then queue the task ranges that remain. */
static int open_run(run_t *r, banyan_error_t *error)
{
    const run_options_t *o = r->o;
    char ifp[40], fp[80];
    tmpl_inputs_fingerprint(o->inputs, ifp);
    util_buf_t b = UTIL_BUF_INIT;
    util_buf_printf(&b, "%s\n%s", o->command_text, ifp);
    /* FNV-1a of the command and the inputs' fingerprint. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < b.len; i++)
        h = (h ^ (unsigned char)b.data[i]) * 1099511628211ULL;
    util_buf_fini(&b);
    snprintf(fp, sizeof(fp), "%016llx%.16s", (unsigned long long)h, ifp);

    r->run_id = 0;
    if (o->resume != RUN_RESUME_NONE &&
        store_run_find(r->store, fp, &r->run_id) == 0) {
        r->skip = calloc(r->total / 8 + 1, 1);
        if (!r->skip)
            return errprintf(error, "out of memory");
        struct resume_scan sc = {.r = r};
        if (store_tasks_foreach(r->store, r->run_id, resume_visit, &sc) < 0)
            return errprintf(error, "cannot read run %lld: %s",
                             (long long)r->run_id, store_last_error(r->store));
        fprintf(stderr, "banyan: resuming run %lld: %llu of %llu tasks "
                        "already done\n",
                (long long)r->run_id, (unsigned long long)sc.skipped,
                (unsigned long long)r->total);
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
    /* Queue the ranges of tasks that are not skipped. */
    uint64_t i = 0;
    while (i < r->total) {
        while (i < r->total && skipped(i, r))
            i++;
        uint64_t first = i;
        while (i < r->total && !skipped(i, r))
            i++;
        if (i > first) {
            if (sched_job_add_tasks(r->sched, JOB_ID, first, i - first) < 0)
                return errprintf(error, "cannot queue tasks: %s",
                                 strerror(errno));
            r->pending += i - first;
        }
    }
    return store_flush(r->store) < 0
               ? errprintf(error, "cannot write %s: %s", o->db_path,
                           store_last_error(r->store))
               : 0;
}

/* ------------------------------------------------------------ the tasks */

static void task_free(task_t *t)
{
    if (!t)
        return;
    free(t->argv);
    free(t->line);
    free(t->args_json);
    for (char **e = t->env; *e; e++)
        free(*e);
    free(t);
}

static char *args_to_json(const char *const *vals, size_t n)
{
    util_buf_t b = UTIL_BUF_INIT;
    util_buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            util_buf_putc(&b, ',');
        run__json_string(&b, vals[i]);
    }
    util_buf_putc(&b, ']');
    return util_buf_steal(&b);
}

static int task_env(run_t *r, task_t *t)
{
    int n = 0;
    if (asprintf(&t->env[n++], "BANYAN_TASK_ID=%llu",
                 (unsigned long long)t->index + 1) < 0 ||
        asprintf(&t->env[n++], "BANYAN_RUN_ID=%lld", (long long)r->run_id) <
            0 ||
        asprintf(&t->env[n++], "BANYAN_SLOT=%u", t->alloc.slot) < 0) {
        t->env[n - 1] = NULL;
        return -1;
    }
    int idx[RES_MAX_GPUS];
    int ng = res_alloc_gpu_indices(r->pool, &t->alloc, idx, RES_MAX_GPUS);
    gpu_list_format(idx, ng, t->gpus, sizeof(t->gpus));
    /* On a host with GPUs a task sees only its own, possibly none. */
    if (r->ngpus > 0 && gpu_env_append(t->env + n, idx, ng) < 0)
        return -1;
    return 0;
}

static void record_failure_to_start(run_t *r, task_t *t, const char *why)
{
    fprintf(stderr, "banyan: task %llu: %s\n",
            (unsigned long long)t->index + 1, why);
    r->internal = 1;
    sched_task_done(r->sched, JOB_ID, t->index, SCHED_FINAL);
    r->pending--;
    r->progress.failed++;
    task_free(t);
}

static void start_task(run_t *r, const sched_action_t *act)
{
    const run_options_t *o = r->o;
    task_t *t = calloc(1, sizeof(*t));
    if (!t) {
        sched_task_done(r->sched, JOB_ID, act->index, SCHED_FINAL);
        r->pending--;
        r->internal = 1;
        return;
    }
    t->index = act->index;
    t->attempt = act->attempt;
    t->alloc = act->alloc;
    const char *vals[r->arity ? r->arity : 1];
    tmpl_inputs_get(o->inputs, t->index, vals);
    tmpl_ctx_t ctx = {.vals = vals, .nvals = r->arity,
                      .seq = t->index + 1, .slot = t->alloc.slot};
    if (tmpl_expand(o->tmpl, &ctx, &t->argv, &t->line) < 0 ||
        !(t->args_json = args_to_json(vals, r->arity)) ||
        task_env(r, t) < 0) {
        record_failure_to_start(r, t, strerror(errno));
        return;
    }
    exec_spec_t spec = {
        .argv = (const char *const *)t->argv,
        .env = (const char *const *)t->env,
        .timeout_ms = o->timeout_ms,
        .kill_grace_ms = o->kill_grace_ms,
        .capture = true,
    };
    banyan_error_t err = {{0}};
    if (exec_start(r->exec, &spec, t, &err) < 0) {
        record_failure_to_start(r, t, err.text);
        return;
    }
    store_task_t row = {
        .run_id = r->run_id, .seq = (int64_t)t->index + 1,
        .args_json = t->args_json, .command = t->line, .state = "running",
        .attempt = (int)t->attempt, .slot = (int)t->alloc.slot,
        .gpus = t->gpus, .host = r->host, .start_time = util_wall_time(),
    };
    if (store_task_start(r->store, &row) < 0) {
        fprintf(stderr, "banyan: cannot record task start: %s\n",
                store_last_error(r->store));
        r->internal = 1;
    }
    r->running++;
    r->progress.running = r->running;
}

/* Ask the core what to start and start it. */
static void pump(run_t *r)
{
    int64_t now = util_mono_ms();
    if (!r->stopping) {
        if (r->o->req.mem_bytes == 0 &&
            now - r->last_meminfo_ms >= MEMINFO_STALE_MS) {
            uint64_t avail;
            if (util_meminfo(NULL, &avail) == 0)
                res_pool_set_host_mem(r->pool, avail);
            r->last_meminfo_ms = now;
        }
        sched_action_t acts[ACTIONS_PER_STEP];
        int n;
        do {
            n = sched_step(r->sched, now, acts, ACTIONS_PER_STEP);
            for (int i = 0; i < n; i++) {
                if (acts[i].type == SCHED_ACT_START)
                    start_task(r, &acts[i]);
            }
        } while (n == ACTIONS_PER_STEP);
    }
    if (store_tick(r->store, now) == -2) {
        fprintf(stderr, "banyan: cannot write the database: %s\n",
                store_last_error(r->store));
        r->internal = 1;
    }
}

static const char *outcome_state(const exec_result_t *res)
{
    if (res->interrupted)
        return "interrupted";
    if (res->timed_out)
        return "timeout";
    if (res->term_signal)
        return "killed";
    return res->exit_code == 0 ? "ok" : "failed";
}

static void outcome_reason(const run_options_t *o, const exec_result_t *res,
                           char *buf, size_t size)
{
    if (res->interrupted)
        snprintf(buf, size, "interrupted");
    else if (res->timed_out)
        snprintf(buf, size, "timed out after %.3f s",
                 (double)o->timeout_ms / 1000.0);
    else if (res->term_signal)
        snprintf(buf, size, "killed by signal %d (%s)", res->term_signal,
                 strsignal(res->term_signal));
    else if (res->spawn_failed)
        snprintf(buf, size, "%s",
                 res->exit_code == 127 ? "command not found"
                                       : "command not executable");
    else if (res->exit_code != 0)
        snprintf(buf, size, "exit status %d", res->exit_code);
    else
        buf[0] = '\0';
}

static void close_handles(run_t *r);

static void on_task_done(exec_t *ex, void *task_arg, const exec_result_t *res,
                         void *cb_arg)
{
    (void)ex;
    run_t *r = cb_arg;
    const run_options_t *o = r->o;
    task_t *t = task_arg;
    const char *state = outcome_state(res);
    bool ok = !strcmp(state, "ok");
    sched_outcome_t outcome =
        ok ? SCHED_OK : res->interrupted ? SCHED_FINAL : SCHED_FAILED;
    if (r->stopping && !ok)
        outcome = SCHED_FINAL; /* halting: no retries */
    int requeued = sched_task_done(r->sched, JOB_ID, t->index, outcome);
    r->running--;

    char reason[256], out_tail[TAIL_BYTES], err_tail[TAIL_BYTES];
    outcome_reason(o, res, reason, sizeof(reason));
    size_t olen = res->out ? exec_stream_tail(res->out, out_tail,
                                              sizeof(out_tail)) : 0;
    size_t elen = res->err ? exec_stream_tail(res->err, err_tail,
                                              sizeof(err_tail)) : 0;
    store_task_t row = {
        .run_id = r->run_id, .seq = (int64_t)t->index + 1,
        .args_json = t->args_json, .command = t->line, .state = state,
        .attempt = (int)t->attempt, .exit_code = res->exit_code,
        .signal = res->term_signal, .slot = (int)t->alloc.slot,
        .gpus = t->gpus, .host = r->host, .start_time = res->start_time,
        .end_time = res->end_time, .cpu_user = res->cpu_user,
        .cpu_sys = res->cpu_sys, .peak_rss = (int64_t)res->peak_rss_bytes,
        .stdout_tail = olen ? out_tail : NULL, .stdout_tail_len = (int)olen,
        .stderr_tail = elen ? err_tail : NULL, .stderr_tail_len = (int)elen,
        .reason = reason[0] ? reason : NULL,
    };
    if (store_task_finish(r->store, &row) < 0) {
        fprintf(stderr, "banyan: cannot record task end: %s\n",
                store_last_error(r->store));
        r->internal = 1;
    }
    if (r->joblog)
        run__joblog_write(r->joblog, t->index + 1, ":", res, t->line);

    if (requeued != 1) {
        const char *vals[r->arity ? r->arity : 1];
        tmpl_inputs_get(o->inputs, t->index, vals);
        if (r->progress.shown)
            fputs("\r\033[K", stderr);
        run__output_task(r->output, t->index, vals, r->arity, res);
        r->pending--;
        if (ok) {
            r->progress.ok++;
        } else {
            r->progress.failed++;
            if (!res->interrupted && !res->spawn_failed && reason[0] &&
                !o->tag && !o->keep_order)
                fprintf(stderr, "banyan: task %llu (%s): %s\n",
                        (unsigned long long)t->index + 1, t->line, reason);
            else if (res->spawn_failed && res->err == NULL)
                fprintf(stderr, "banyan: task %llu: %s\n",
                        (unsigned long long)t->index + 1, reason);
        }
    }
    r->progress.running = r->running;
    task_free(t);

    if (o->halt != RUN_HALT_NEVER && !r->stopping &&
        r->progress.failed >= o->halt_fail) {
        r->stopping = true;
        fprintf(stderr, "banyan: halting after %llu failed task%s%s\n",
                (unsigned long long)r->progress.failed,
                r->progress.failed == 1 ? "" : "s",
                o->halt == RUN_HALT_NOW ? "; killing running tasks"
                                        : "; waiting for running tasks");
        if (o->halt == RUN_HALT_NOW)
            exec_interrupt(r->exec, o->kill_grace_ms);
    }
}

/* ------------------------------------------------------------- the loop */

static bool finished(const run_t *r)
{
    return r->running == 0 && (r->pending == 0 || r->stopping);
}

static void on_pump(uv_check_t *h)
{
    run_t *r = h->data;
    pump(r);
    if (finished(r))
        close_handles(r);
}

static void on_housekeep(uv_timer_t *h)
{
    on_pump((uv_check_t *)&((run_t *)h->data)->pump);
}

static void on_progress(uv_timer_t *h)
{
    run_t *r = h->data;
    run__progress_draw(&r->progress, util_mono_ms());
}

static void on_signal(uv_signal_t *h, int signum)
{
    run_t *r = h->data;
    if (!r->signal_seen) {
        r->signal_seen = signum;
        fprintf(stderr, "\nbanyan: %s: stopping, terminating %llu running "
                        "task%s\n",
                strsignal(signum), (unsigned long long)r->running,
                r->running == 1 ? "" : "s");
        r->stopping = true;
        exec_interrupt(r->exec, r->o->kill_grace_ms);
    } else {
        exec_interrupt(r->exec, 0); /* second signal: kill at once */
    }
    if (finished(r))
        close_handles(r);
}

static void close_handles(run_t *r)
{
    if (!r->handles_open)
        return;
    r->handles_open = false;
    uv_close((uv_handle_t *)&r->pump, NULL);
    uv_close((uv_handle_t *)&r->housekeep, NULL);
    uv_close((uv_handle_t *)&r->progress_timer, NULL);
    for (int i = 0; i < 3; i++)
        uv_close((uv_handle_t *)&r->sigs[i], NULL);
    exec_destroy(r->exec);
    r->exec = NULL;
}

static int open_loop(run_t *r, banyan_error_t *error)
{
    static const int signums[3] = {SIGINT, SIGTERM, SIGHUP};
    if (uv_loop_init(&r->loop) < 0)
        return errprintf(error, "cannot create event loop");
    r->loop_open = true;
    r->exec = exec_create(&r->loop, on_task_done, r);
    if (!r->exec)
        return errprintf(error, "cannot create executor: %s",
                         strerror(errno));
    uv_check_init(&r->loop, &r->pump);
    uv_timer_init(&r->loop, &r->housekeep);
    uv_timer_init(&r->loop, &r->progress_timer);
    r->pump.data = r->housekeep.data = r->progress_timer.data = r;
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&r->loop, &r->sigs[i]);
        r->sigs[i].data = r;
        uv_signal_start(&r->sigs[i], on_signal, signums[i]);
    }
    r->handles_open = true;
    uv_check_start(&r->pump, on_pump);
    uv_timer_start(&r->housekeep, on_housekeep, HOUSEKEEP_MS, HOUSEKEEP_MS);
    if (r->o->progress)
        uv_timer_start(&r->progress_timer, on_progress, 0, PROGRESS_MS);
    return 0;
}

/* ------------------------------------------------------------- dry run */

static int dry_run(const run_options_t *o, uint64_t total, size_t arity)
{
    const char *vals[arity ? arity : 1];
    for (uint64_t i = 0; i < total; i++) {
        tmpl_inputs_get(o->inputs, i, vals);
        tmpl_ctx_t ctx = {.vals = vals, .nvals = arity, .seq = i + 1,
                          .slot = (uint32_t)(i % o->jobs) + 1};
        char **argv, *line;
        if (tmpl_expand(o->tmpl, &ctx, &argv, &line) < 0)
            return BANYAN_EXIT_INTERNAL;
        printf("%s\n", line);
        free(argv);
        free(line);
    }
    return BANYAN_EXIT_OK;
}

/* -------------------------------------------------------------- public */

int run_local(const run_options_t *o, banyan_error_t *error)
{
    run_t r = {.o = o, .error = error};
    uint64_t total = tmpl_inputs_count(o->inputs);
    r.total = total;
    r.arity = tmpl_inputs_arity(o->inputs);
    if (o->dry_run)
        return dry_run(o, total, r.arity);
    if (gethostname(r.host, sizeof(r.host)) < 0)
        snprintf(r.host, sizeof(r.host), "localhost");

    int code = BANYAN_EXIT_INTERNAL;
    if (build_pool(&r, error) < 0) {
        code = errno == ENOSPC || errno == EINVAL ? BANYAN_EXIT_USAGE
                                                  : BANYAN_EXIT_INTERNAL;
        goto out;
    }
    r.store = store_open(o->db_path, NULL, error);
    if (!r.store) {
        code = BANYAN_EXIT_USAGE;
        goto out;
    }
    if (open_run(&r, error) < 0)
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
    if (!r.output || open_loop(&r, error) < 0)
        goto out;
    r.progress.total = r.pending;
    r.progress.start_ms = util_mono_ms();

    pump(&r);
    if (finished(&r))
        close_handles(&r);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    run__output_drain(r.output, true);
    run__progress_end(&r.progress, util_mono_ms());

    const char *state = r.signal_seen ? "interrupted"
                        : r.progress.failed || r.pending ? "failed"
                                                         : "done";
    store_run_finish(r.store, r.run_id, state, util_wall_time());
    if (store_flush(r.store) < 0) {
        errprintf(error, "cannot write %s: %s", o->db_path,
                  store_last_error(r.store));
        r.internal = 1;
    }
    if (r.signal_seen)
        code = 128 + r.signal_seen;
    else if (r.internal)
        code = BANYAN_EXIT_INTERNAL;
    else if (r.progress.failed || r.pending)
        code = BANYAN_EXIT_FAILED;
    else
        code = BANYAN_EXIT_OK;
out:
    if (r.loop_open) {
        close_handles(&r);
        if (r.exec) { /* created, but the handles never were */
            exec_destroy(r.exec);
            r.exec = NULL;
        }
        uv_run(&r.loop, UV_RUN_DEFAULT);
        uv_loop_close(&r.loop);
    }
    if (r.joblog)
        fclose(r.joblog);
    run__output_destroy(r.output);
    store_close(r.store);
    sched_destroy(r.sched);
    free(r.skip);
    return code;
}
