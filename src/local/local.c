/* SPDX-License-Identifier: MIT */
/* local.c - local mode's driver: core, engine and store on one loop.
 *
 * See local.h for the shape.  Invariants: every START action is matched by
 * exactly one ops->done call (spawned or not) and one sched_task_done(); the
 * loop handles are closed exactly once, when the work is over, and the loop
 * then runs dry by itself.
 */
#include "local.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

enum {
    ENGINE_ID = 1,
    ACTIONS_PER_STEP = 64,
    HOUSEKEEP_MS = 100,
    PROGRESS_MS = 200,
    MEMINFO_STALE_MS = 50,
    NSIGNALS = 3,
    EXTRA_ENV = 1 + GPU_ENV_MAX, /* BANYAN_SLOT and the GPU variables */
};

/* A started task and the environment the driver added for it. */
typedef struct slot_task {
    local_task_t t;
    const char **env;          /* client's entries + ours, NULL-ended */
    char *own[EXTRA_ENV + 1];  /* ours, malloc'd */
} slot_task_t;

struct local {
    local_options_t o;
    const local_ops_t *ops;
    void *arg;
    uv_loop_t loop;
    uv_check_t pump;
    uv_timer_t housekeep;
    uv_timer_t progress;
    uv_signal_t sigs[NSIGNALS];
    bool loop_open;
    bool handles_open;

    sched_t *sched;
    res_pool_t *pool;          /* borrowed from sched */
    exec_t *exec;
    store_t *store;
    int ngpus;
    gpu_info_t gpus[GPU_MAX];
    bool has_mem_free_jobs;    /* some job asks no memory */

    uint64_t running;
    bool more;                 /* the client may still add jobs */
    bool stopping;
    int signal_seen;
    unsigned internal;
    int64_t last_meminfo_ms;
};

/* --------------------------------------------------------------- tasks */

static void task_free(slot_task_t *st)
{
    for (char **e = st->own; *e; e++)
        free(*e);
    free(st->env);
    free(st);
}

/* The client's env plus BANYAN_SLOT and the GPU variables. */
static int task_env(local_t *l, slot_task_t *st, const char *const *client)
{
    size_t nc = 0;
    while (client && client[nc])
        nc++;
    int n = 0;
    if (asprintf(&st->own[n], "BANYAN_SLOT=%u", st->t.alloc.slot) < 0) {
        st->own[n] = NULL;
        return -1;
    }
    n++;
    /* On a host with GPUs a task sees only its own, possibly none. */
    if (l->ngpus > 0) {
        int k = gpu_env_append(st->own + n, st->t.gpu_index, st->t.ngpus);
        if (k < 0)
            return -1;
        n += k;
    }
    st->env = calloc(nc + (size_t)n + 1, sizeof(*st->env));
    if (!st->env)
        return -1;
    for (size_t i = 0; i < nc; i++)
        st->env[i] = client[i];
    for (int i = 0; i < n; i++)
        st->env[nc + (size_t)i] = st->own[i];
    return 0;
}

/* A task that could not be spawned is reported as a failed start. */
static void fail_start(local_t *l, slot_task_t *st, const char *why)
{
    exec_result_t res = {.exit_code = 127, .spawn_failed = true,
                         .start_time = util_wall_time()};
    res.end_time = res.start_time;
    fprintf(stderr, "banyan: task %llu of job %u could not start: %s\n",
            (unsigned long long)st->t.index + 1, st->t.job_id, why);
    int rq = sched_task_done(l->sched, st->t.job_id, st->t.index,
                             SCHED_FINAL);
    l->ops->done(l, &st->t, &res, rq == 1, l->arg);
    task_free(st);
}

static void start_task(local_t *l, const sched_action_t *act)
{
    slot_task_t *st = calloc(1, sizeof(*st));
    if (!st) {
        sched_task_done(l->sched, act->job_id, act->index, SCHED_FINAL);
        l->internal++;
        return;
    }
    local_task_t *t = &st->t;
    t->job_id = act->job_id;
    t->index = act->index;
    t->attempt = act->attempt;
    t->alloc = act->alloc;
    t->ngpus = res_alloc_gpu_indices(l->pool, &t->alloc, t->gpu_index,
                                     RES_MAX_GPUS);
    gpu_list_format(t->gpu_index, t->ngpus, t->gpus, sizeof(t->gpus));
    t->start_time = util_wall_time();

    exec_spec_t spec = {.kill_grace_ms = l->o.kill_grace_ms,
                        .capture = true};
    banyan_error_t err = {{0}};
    if (l->ops->prepare(l, t, &spec, &err, l->arg) < 0) {
        l->internal++;
        fail_start(l, st, err.text);
        return;
    }
    if (task_env(l, st, spec.env) < 0) {
        l->internal++;
        fail_start(l, st, strerror(errno));
        return;
    }
    spec.env = st->env;
    if (exec_start(l->exec, &spec, st, &err) < 0) {
        l->internal++;
        fail_start(l, st, err.text);
        return;
    }
    l->running++;
}

static void on_exec_done(exec_t *ex, void *task_arg, const exec_result_t *res,
                         void *cb_arg)
{
    (void)ex;
    local_t *l = cb_arg;
    slot_task_t *st = task_arg;
    bool ok = !res->interrupted && !res->timed_out && !res->term_signal &&
              res->exit_code == 0;
    sched_outcome_t outcome = ok                  ? SCHED_OK
                              : res->interrupted || l->stopping ? SCHED_FINAL
                                                                : SCHED_FAILED;
    int rq = sched_task_done(l->sched, st->t.job_id, st->t.index, outcome);
    l->running--;
    l->ops->done(l, &st->t, res, rq == 1, l->arg);
    task_free(st);
}

/* ---------------------------------------------------------------- loop */

static bool work_over(local_t *l)
{
    if (l->running > 0)
        return false;
    if (l->stopping)
        return true;
    sched_stats_t s;
    sched_get_stats(l->sched, &s);
    return s.pending == 0 && !l->more;
}

static void close_handles(local_t *l)
{
    if (!l->handles_open)
        return;
    l->handles_open = false;
    uv_close((uv_handle_t *)&l->pump, NULL);
    uv_close((uv_handle_t *)&l->housekeep, NULL);
    uv_close((uv_handle_t *)&l->progress, NULL);
    for (int i = 0; i < NSIGNALS; i++)
        uv_close((uv_handle_t *)&l->sigs[i], NULL);
    exec_destroy(l->exec);
    l->exec = NULL;
}

static void pump(local_t *l)
{
    int64_t now = util_mono_ms();
    if (!l->stopping) {
        if (l->ops->refill)
            l->more = l->ops->refill(l, l->arg);
        if (l->has_mem_free_jobs &&
            now - l->last_meminfo_ms >= MEMINFO_STALE_MS) {
            uint64_t avail;
            if (util_meminfo(NULL, &avail) == 0)
                res_pool_set_host_mem(l->pool, avail);
            l->last_meminfo_ms = now;
        }
        sched_action_t acts[ACTIONS_PER_STEP];
        int n;
        do {
            n = sched_step(l->sched, now, acts, ACTIONS_PER_STEP);
            for (int i = 0; i < n && !l->stopping; i++) {
                if (acts[i].type == SCHED_ACT_START)
                    start_task(l, &acts[i]);
                else if (acts[i].type == SCHED_ACT_INFEASIBLE &&
                         l->ops->infeasible)
                    l->ops->infeasible(l, acts[i].job_id, acts[i].reason,
                                       l->arg);
            }
        } while (n == ACTIONS_PER_STEP && !l->stopping);
    }
    if (store_tick(l->store, now) == -2) {
        fprintf(stderr, "banyan: cannot write the database: %s\n",
                store_last_error(l->store));
        l->internal++;
    }
    if (work_over(l))
        close_handles(l);
}

static void on_pump(uv_check_t *h)
{
    pump(h->data);
}

static void on_housekeep(uv_timer_t *h)
{
    pump(h->data);
}

static void on_progress(uv_timer_t *h)
{
    local_t *l = h->data;
    l->ops->progress(l, util_mono_ms(), l->arg);
}

static void on_signal(uv_signal_t *h, int signum)
{
    local_t *l = h->data;
    if (!l->signal_seen) {
        l->signal_seen = signum;
        fprintf(stderr, "\nbanyan: %s: stopping, terminating %llu running "
                        "task%s\n",
                strsignal(signum), (unsigned long long)l->running,
                l->running == 1 ? "" : "s");
        local_stop(l, true);
    } else {
        exec_interrupt(l->exec, 0); /* a second signal: kill at once */
    }
    if (work_over(l))
        close_handles(l);
}

void local_stop(local_t *l, bool kill)
{
    l->stopping = true;
    if (kill && l->exec)
        exec_interrupt(l->exec, l->o.kill_grace_ms);
}

bool local_is_stopping(const local_t *l)
{
    return l->stopping;
}

uint64_t local_running(const local_t *l)
{
    return l->running;
}

unsigned local_internal_errors(const local_t *l)
{
    return l->internal;
}

/* ------------------------------------------------------------- set-up */

static int build_pool(local_t *l, banyan_error_t *error)
{
    res_capacity_t cap = {0};
    cap.slots = l->o.slots;
    cap.cpus_milli = (uint32_t)util_ncpus() * RES_MILLI;
    uint64_t total = 0;
    if (util_meminfo(&total, NULL) < 0)
        return errprintf(error, "cannot read /proc/meminfo: %s",
                         strerror(errno));
    cap.mem_bytes = total;
    cap.mem_reserve_bytes = l->o.mem_reserve_bytes;
    gpu_source_t src;
    l->ngpus = gpu_discover(l->gpus, GPU_MAX, &src, error);
    if (l->ngpus < 0)
        return -1;
    cap.ngpus = l->ngpus;
    for (int i = 0; i < l->ngpus; i++) {
        cap.gpus[i].index = l->gpus[i].index;
        cap.gpus[i].mem_total_bytes = l->gpus[i].mem_total_bytes;
        cap.gpus[i].mem_used_bytes = l->gpus[i].mem_used_bytes;
        cap.gpus[i].util_percent = l->gpus[i].util_percent;
    }
    cap.ncustom = l->o.ncustom;
    memcpy(cap.custom, l->o.custom, sizeof(cap.custom));
    res_pool_t *pool = res_pool_create(&cap);
    if (!pool)
        return errprintf(error, "cannot create the resource pool: %s",
                         strerror(errno));
    l->sched = sched_create(NULL);
    if (!l->sched) {
        res_pool_destroy(pool);
        return errprintf(error, "out of memory");
    }
    if (sched_engine_add(l->sched, ENGINE_ID, pool) < 0)
        return errprintf(error, "cannot add the engine: %s",
                         strerror(errno));
    l->pool = sched_engine_pool(l->sched, ENGINE_ID);
    return 0;
}

static int open_loop(local_t *l, banyan_error_t *error)
{
    static const int signums[NSIGNALS] = {SIGINT, SIGTERM, SIGHUP};
    if (uv_loop_init(&l->loop) < 0)
        return errprintf(error, "cannot create the event loop");
    l->loop_open = true;
    l->exec = exec_create(&l->loop, on_exec_done, l);
    if (!l->exec)
        return errprintf(error, "cannot create the executor: %s",
                         strerror(errno));
    uv_check_init(&l->loop, &l->pump);
    uv_timer_init(&l->loop, &l->housekeep);
    uv_timer_init(&l->loop, &l->progress);
    l->pump.data = l->housekeep.data = l->progress.data = l;
    for (int i = 0; i < NSIGNALS; i++) {
        uv_signal_init(&l->loop, &l->sigs[i]);
        l->sigs[i].data = l;
        uv_signal_start(&l->sigs[i], on_signal, signums[i]);
    }
    l->handles_open = true;
    return 0;
}

local_t *local_create(const local_options_t *opts, const local_ops_t *ops,
                      void *arg, banyan_error_t *error)
{
    local_t *l = calloc(1, sizeof(*l));
    if (!l) {
        errprintf(error, "out of memory");
        return NULL;
    }
    l->o = *opts;
    l->ops = ops;
    l->arg = arg;
    l->more = ops->refill != NULL;
    if (build_pool(l, error) < 0)
        goto error;
    l->store = store_open(opts->db_path, NULL, error);
    if (!l->store || open_loop(l, error) < 0)
        goto error;
    return l;
error:;
    int saved = errno;
    local_destroy(l);
    errno = saved;
    return NULL;
}

void local_destroy(local_t *l)
{
    if (!l)
        return;
    int saved = errno;
    if (l->loop_open) {
        close_handles(l);
        if (l->exec) { /* created, but the handles never were */
            exec_destroy(l->exec);
            l->exec = NULL;
        }
        uv_run(&l->loop, UV_RUN_DEFAULT);
        uv_loop_close(&l->loop);
    }
    store_close(l->store);
    sched_destroy(l->sched);
    free(l);
    errno = saved;
}

store_t *local_store(local_t *l)
{
    return l->store;
}

sched_t *local_sched(local_t *l)
{
    return l->sched;
}

res_pool_t *local_pool(local_t *l)
{
    return l->pool;
}

const gpu_info_t *local_gpus(const local_t *l, int *n)
{
    *n = l->ngpus;
    return l->gpus;
}

int local_job_add(local_t *l, const sched_job_t *job, bool check,
                  banyan_error_t *error)
{
    banyan_error_t why = {{0}};
    if (check && !res_pool_fits_ever(l->pool, &job->req, &why)) {
        errno = ENOSPC;
        return errprintf(error, "%s", why.text);
    }
    if (sched_job_add(l->sched, job) < 0)
        return errprintf(error, "cannot add job %u: %s", job->id,
                         strerror(errno));
    if (job->req.mem_bytes == 0)
        l->has_mem_free_jobs = true;
    return 0;
}

int local_run(local_t *l)
{
    uv_check_start(&l->pump, on_pump);
    uv_timer_start(&l->housekeep, on_housekeep, HOUSEKEEP_MS, HOUSEKEEP_MS);
    if (l->o.progress && l->ops->progress)
        uv_timer_start(&l->progress, on_progress, 0, PROGRESS_MS);
    pump(l);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    if (store_flush(l->store) < 0) {
        fprintf(stderr, "banyan: cannot write the database: %s\n",
                store_last_error(l->store));
        l->internal++;
    }
    return l->signal_seen;
}
