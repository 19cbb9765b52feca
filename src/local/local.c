/* SPDX-License-Identifier: MIT */
/* local.c - local mode's driver: core, engine and store on one loop.
 *
 * See local.h for the shape.  Local mode is the root (the scheduler core
 * and the store) and one engine (src/engine) on one loop, with direct
 * calls: the pump asks the engine's gate, then the core, then starts each
 * task through engine_start(); the engine's done callback tells the core
 * and the client.  Invariants: every START action is matched by exactly
 * one ops->done call (spawned or not) and one sched_task_done(); the loop
 * handles are closed exactly once, when the work is over, and the loop
 * then runs dry by itself.  Following the group's estimate, the requeue
 * table and the statistics live in local_res.c.
 */
#include "local_private.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "score/score.h"
#include "util/util.h"

enum {
    ENGINE_ID = 1,
    ACTIONS_PER_STEP = 64,
    HOUSEKEEP_MS = 100,
    PROGRESS_MS = 200,
    NSIGNALS = 3,
};

typedef local__slot_t slot_task_t;

/* --------------------------------------------------------------- tasks */

/* A task that could not be spawned is reported as a failed start. */
static void fail_start(local_t *l, slot_task_t *st, const char *why)
{
    exec_result_t res = {.exit_code = 127, .spawn_failed = true,
                         .start_time = util_wall_time()};
    res.end_time = res.start_time;
    banyan_task_end_t end;
    engine_end_spawn_failed(&end, res.start_time, why);
    int rq = sched_task_done(l->sched, st->t.job_id, st->t.index,
                             sched_outcome_of(&end));
    l->ops->done(l, &st->t, &res, &end, rq == 1, l->arg);
    free(st);
}

/* When the task became pending: its requeue time, else when its job was
 * added (or the session began, for tasks queued before it). */
static double queued_time(local_t *l, local_task_t *t)
{
    local__requeue_t *r = local__rq_find(l, t->job_id, t->index, false);
    if (r) {
        t->requeues = r->count;
        double q = r->queued;
        r->queued = 0;
        if (r->count == 0) /* a plain retry: nothing more to remember */
            *r = l->rq[--l->nrq];
        if (q > 0)
            return q;
    }
    local__job_t *j = local__job_find(l, t->job_id);
    double q = j ? j->added : l->session_start;
    /* A resumed run's tasks were queued when this session began. */
    return q > l->session_start ? q : l->session_start;
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
    t->env_job_id = t->job_id;
    t->env_task_number = t->index + 1;
    t->start_time = util_wall_time();
    t->queued_time = queued_time(l, t);
    t->attempt += t->requeues;
    if (t->start_time > t->queued_time)
        l->acc.wait_s += t->start_time - t->queued_time;

    exec_spec_t spec = {.capture = true};
    banyan_error_t err = {{0}};
    if (l->ops->prepare(l, t, &spec, &err, l->arg) < 0) {
        l->internal++;
        fail_start(l, st, err.text);
        return;
    }
    /* The core charged a job without a request its estimate (or
     * nothing, without learning): the engine charges the same. */
    const local__job_t *j = local__job_find(l, t->job_id);
    st->et.job_id = t->job_id;
    st->et.index = t->index;
    st->et.mem_bytes = j && j->auto_mem ? 0 : t->alloc.mem_bytes;
    engine_env_in_t env = {
        .job_id = t->env_job_id, .task_number = t->env_task_number,
        .slot = t->alloc.slot, .host_has_gpus = l->ngpus > 0,
        .gpu_index = t->gpu_index, .ngpus = t->ngpus,
        .job_env = spec.env, .njob_env = SIZE_MAX,
    };
    if (engine_start(l->engine, &st->et, &spec, &env, &err) < 0) {
        l->internal++;
        fail_start(l, st, err.text);
        return;
    }
    l->running++;
}

/* Send a task killed by something it did not ask for back to the queue,
 * if it may still be, noting it in end's reason.  Returns true when it
 * was requeued. */
static bool requeue_unasked(local_t *l, slot_task_t *st, bool unasked,
                            banyan_task_end_t *end)
{
    local_task_t *t = &st->t;
    bool want = !l->stopping &&
                ((unasked && l->o.requeue_on_signal) ||
                 st->et.critical_killed);
    if (!want)
        return false;
    uint32_t max = l->o.requeue_max ? l->o.requeue_max : LOCAL_REQUEUE_MAX;
    local__requeue_t *r = local__rq_find(l, t->job_id, t->index, true);
    char note[64];
    if (!r || r->count >= max) {
        if (r) {
            snprintf(note, sizeof(note), "requeued %u times already",
                     r->count);
            engine_end_note(end, note);
        }
        return false;
    }
    if (sched_task_done(l->sched, t->job_id, t->index, SCHED_FINAL) < 0 ||
        sched_job_add_tasks(l->sched, t->job_id, t->index, 1) < 0) {
        l->internal++;
        return false;
    }
    r->count++;
    r->queued = util_wall_time();
    snprintf(note, sizeof(note), "requeued (%u of %u)", r->count, max);
    engine_end_note(end, note);
    return true;
}

static void on_task_done(engine_t *e, engine_task_t *et,
                         const exec_result_t *res,
                         const banyan_task_end_t *classified, bool unasked,
                         void *arg)
{
    (void)e;
    local_t *l = arg;
    slot_task_t *st = (slot_task_t *)((char *)et -
                                      offsetof(slot_task_t, et));
    local__acc_advance(l, util_mono_ms());
    banyan_task_end_t end = *classified;
    l->acc.tasks++;
    l->acc.cpu_s += res->cpu_user + res->cpu_sys;
    l->dirty = true;

    int rq;
    if (requeue_unasked(l, st, unasked && !l->stopping, &end)) {
        rq = 1;
    } else {
        /* Nothing is retried once the run is stopping. */
        sched_outcome_t outcome = sched_outcome_of(&end);
        if (l->stopping && outcome == SCHED_FAILED)
            outcome = SCHED_FINAL;
        rq = sched_task_done(l->sched, st->t.job_id, st->t.index, outcome);
        if (rq == 1) { /* a retry: pending again from now */
            local__requeue_t *r = local__rq_find(l, st->t.job_id,
                                                 st->t.index, true);
            if (r)
                r->queued = util_wall_time();
        }
    }
    if (rq == 1)
        l->acc.requeued++;
    l->running--;
    l->ops->done(l, &st->t, res, &end, rq == 1, l->arg);
    free(st);
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

static void on_closed(uv_handle_t *h)
{
    local_t *l = h->data;
    if (--l->closing == 0 && l->destroyed)
        free(l);
}

static void close_one(local_t *l, void *handle)
{
    l->closing++;
    uv_close((uv_handle_t *)handle, on_closed);
}

static void close_handles(local_t *l)
{
    if (!l->handles_open)
        return;
    l->handles_open = false;
    close_one(l, &l->pump);
    close_one(l, &l->housekeep);
    close_one(l, &l->commit);
    close_one(l, &l->progress);
    for (int i = 0; i < NSIGNALS; i++)
        close_one(l, &l->sigs[i]);
    /* Leave the host's share at once: others may grow into it. */
    engine_close(l->engine);
}

/* Why nothing may start now, before asking the core: -1 when the core
 * may be asked.  The core places memory itself (against the engine's
 * estimate), so only the host's gate is asked. */
static int gate(local_t *l)
{
    switch (engine_gate(l->engine)) {
    case ENGINE_GO:
        return -1;
    case ENGINE_WAIT_SUSPENDED:
        return LOCAL_WAIT_SUSPENDED;
    case ENGINE_WAIT_RESERVE:
        return LOCAL_WAIT_RESERVE;
    case ENGINE_WAIT_SHARE:
        return LOCAL_WAIT_SHARE;
    case ENGINE_WAIT_MEM:
        return LOCAL_WAIT_MEM;
    case ENGINE_WAIT_SLOTS:
        break;
    }
    return LOCAL_WAIT_SLOTS;
}

/* Tell fair sharing what could run now: the pending and running tasks,
 * each with the --cpus of a job that asks some. */
static void want(local_t *l)
{
    sched_stats_t s;
    sched_get_stats(l->sched, &s);
    uint64_t n = s.pending + s.running;
    uint32_t mcpu = 0;
    for (size_t i = 0; i < l->njobs && !mcpu; i++)
        mcpu = l->jobs[i].req.cpus_milli;
    engine_want(l->engine, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n, mcpu);
}

static void start_some(local_t *l, int64_t now)
{
    want(l);
    engine_poll(l->engine, now); /* the share, when the wanted changed */
    uint64_t avail;
    if (engine_mem_available(l->engine, &avail))
        res_pool_set_host_mem(l->pool, avail);
    uint32_t allowed = engine_allowed(l->engine);
    int why = gate(l);
    uint64_t started = 0;
    if (why < 0) {
        sched_action_t acts[ACTIONS_PER_STEP];
        int n, max;
        do {
            uint64_t room = allowed > l->running ? allowed - l->running : 0;
            max = room < ACTIONS_PER_STEP ? (int)room : ACTIONS_PER_STEP;
            if (max == 0)
                break;
            n = sched_step(l->sched, now, acts, max);
            for (int i = 0; i < n && !l->stopping; i++) {
                if (acts[i].type == SCHED_ACT_START) {
                    start_task(l, &acts[i]);
                    started++;
                } else if (acts[i].type == SCHED_ACT_INFEASIBLE &&
                           l->ops->infeasible) {
                    l->ops->infeasible(l, acts[i].job_id, acts[i].reason,
                                       l->arg);
                }
            }
        } while (n == max && !l->stopping);
    }
    sched_stats_t s;
    sched_get_stats(l->sched, &s);
    if (s.pending == 0 || l->stopping) {
        local__wait_note(l, -1, false);
        return;
    }
    if (why < 0) {
        why = local__wait_classify(l);
        if (why == LOCAL_WAIT_SLOTS && allowed < l->o.engine.slots &&
            l->running >= allowed)
            why = LOCAL_WAIT_SHARE;
    }
    local__wait_note(l, why, started == 0);
}

static void on_commit(uv_timer_t *h);

/* Commit the grouped transaction once it is due, and make sure a timer
 * comes back for it when it is not due yet: without one, a quiet loop
 * would leave written rows uncommitted until the next housekeeping tick. */
static void tick_store(local_t *l, int64_t now)
{
    /* Counters go into the same grouped commits as the task rows they
     * count, so that a kill -9 loses both or neither. */
    local__persist(l, now, false);
    int due = store_tick(l->store, now);
    if (due == -2) {
        util_log("banyan: cannot write the database: %s\n",
                 store_last_error(l->store));
        l->internal++;
    } else if (due >= 0 && l->handles_open &&
               !uv_is_active((uv_handle_t *)&l->commit)) {
        uv_timer_start(&l->commit, on_commit, (uint64_t)due + 1, 0);
    }
}

static void on_commit(uv_timer_t *h)
{
    local_t *l = h->data;
    tick_store(l, util_mono_ms());
}

static void pump(local_t *l)
{
    int64_t now = util_mono_ms();
    local__acc_advance(l, now);
    if (!l->stopping) {
        if (l->ops->refill)
            l->more = l->ops->refill(l, l->arg);
        start_some(l, now);
    }
    tick_store(l, now);
    if (work_over(l))
        close_handles(l);
}

static void on_pump(uv_check_t *h)
{
    pump(h->data);
}

static void on_housekeep(uv_timer_t *h)
{
    local_t *l = h->data;
    int64_t now = util_mono_ms();
    local__persist(l, now, false);
    if (l->handles_open)
        pump(l);
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
        util_log("\nbanyan: %s: stopping, terminating %llu running task%s\n",
                 strsignal(signum), (unsigned long long)l->running,
                 l->running == 1 ? "" : "s");
        local_stop(l, true);
    } else {
        engine_interrupt(l->engine, 0); /* a second signal: kill at once */
    }
    if (work_over(l))
        close_handles(l);
}

void local_stop(local_t *l, bool kill)
{
    l->stopping = true;
    if (kill && l->engine)
        engine_interrupt(l->engine, l->o.engine.kill_grace_ms);
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
    cap.slots = l->o.engine.slots;
    cap.cpus_milli = (uint32_t)util_ncpus() * RES_MILLI;
    uint64_t total = 0;
    if (util_meminfo(&total, NULL) < 0)
        return errprintf(error, "cannot read /proc/meminfo: %s",
                         strerror(errno));
    cap.mem_bytes = total;
    if (l->o.engine.mem_bytes && l->o.engine.mem_bytes < total)
        cap.mem_bytes = l->o.engine.mem_bytes;
    cap.mem_reserve_bytes = l->o.engine.mem_reserve_bytes;
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

static int open_handles(local_t *l, banyan_error_t *error)
{
    static const int signums[NSIGNALS] = {SIGINT, SIGTERM, SIGHUP};
    static const engine_ops_t ops = {
        .done = on_task_done, .learnt = local__learnt,
        .capacity = local__capacity, .log = local__log,
    };
    l->engine = engine_create(l->loop, &l->o.engine, &ops, l, error);
    if (!l->engine)
        return -1;
    uv_check_init(l->loop, &l->pump);
    uv_timer_init(l->loop, &l->housekeep);
    uv_timer_init(l->loop, &l->commit);
    uv_timer_init(l->loop, &l->progress);
    l->pump.data = l->housekeep.data = l->commit.data = l;
    l->progress.data = l;
    for (int i = 0; i < NSIGNALS; i++) {
        uv_signal_init(l->loop, &l->sigs[i]);
        l->sigs[i].data = l;
        uv_signal_start(&l->sigs[i], on_signal, signums[i]);
    }
    l->handles_open = true;
    return 0;
}

local_t *local_create(uv_loop_t *loop, const local_options_t *opts,
                      const local_ops_t *ops, void *arg,
                      banyan_error_t *error)
{
    local_t *l = calloc(1, sizeof(*l));
    if (!l) {
        errprintf(error, "out of memory");
        return NULL;
    }
    l->loop = loop;
    l->o = *opts;
    l->o.engine.learn = opts->engine.group != NULL;
    l->ops = ops;
    l->arg = arg;
    l->more = ops->refill != NULL;
    if (build_pool(l, error) < 0)
        goto error;
    if (gethostname(l->host, sizeof(l->host)) < 0)
        snprintf(l->host, sizeof(l->host), "localhost");
    l->wait_now = -1;
    l->store = store_open(opts->db_path, NULL, error);
    if (!l->store || open_handles(l, error) < 0)
        goto error;
    if (local__res_init(l, error) < 0)
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
    close_handles(l);
    engine_destroy(l->engine); /* freed once the loop closed its handles */
    store_close(l->store);
    sched_destroy(l->sched);
    free(l->jobs);
    free(l->rq);
    free(l->usage_kind);
    if (l->closing > 0)
        l->destroyed = true; /* freed by the last close callback */
    else
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

int local_job_add(local_t *l, const sched_job_t *job, bool check,
                  banyan_error_t *error)
{
    sched_job_t j = *job;
    bool auto_mem = j.req.mem_bytes == 0 &&
                    engine_estimates(l->engine) != NULL;
    if (auto_mem)
        j.req.mem_bytes = engine_estimate(l->engine, NULL);
    banyan_error_t why = {{0}};
    if (check && !res_pool_fits_ever(l->pool, &j.req, &why)) {
        errno = ENOSPC;
        return errprintf(error, "%s", why.text);
    }
    if (l->njobs == l->jobs_cap) {
        size_t cap = l->jobs_cap ? l->jobs_cap * 2 : 8;
        local__job_t *p = realloc(l->jobs, cap * sizeof(*p));
        if (!p) {
            errno = ENOMEM;
            return errprintf(error, "out of memory");
        }
        l->jobs = p;
        l->jobs_cap = cap;
    }
    if (sched_job_add(l->sched, &j) < 0)
        return errprintf(error, "cannot add job %u: %s", job->id,
                         strerror(errno));
    l->jobs[l->njobs++] = (local__job_t){.id = j.id, .auto_mem = auto_mem,
                                         .req = j.req,
                                         .added = util_wall_time()};
    return 0;
}

int local_job_remove(local_t *l, uint32_t job_id)
{
    if (sched_job_remove(l->sched, job_id) < 0)
        return -1;
    for (size_t i = 0; i < l->njobs; i++) {
        if (l->jobs[i].id == job_id) {
            l->jobs[i] = l->jobs[--l->njobs];
            break;
        }
    }
    return 0;
}

local__job_t *local__job_find(local_t *l, uint32_t job_id)
{
    for (size_t i = 0; i < l->njobs; i++)
        if (l->jobs[i].id == job_id)
            return &l->jobs[i];
    return NULL;
}

int local_run(local_t *l)
{
    l->session_start = util_wall_time();
    if (l->o.score_budget_ms > 0 && score_measure(l->o.score_budget_ms,
                                                  &l->score) < 0)
        l->score = 0;
    int64_t now = util_mono_ms();
    l->acc_last_ms = now;
    uv_check_start(&l->pump, on_pump);
    uv_timer_start(&l->housekeep, on_housekeep, HOUSEKEEP_MS, HOUSEKEEP_MS);
    if (l->o.progress && l->ops->progress)
        uv_timer_start(&l->progress, on_progress, 0, PROGRESS_MS);
    pump(l);
    uv_run(l->loop, UV_RUN_DEFAULT);
    local__acc_advance(l, util_mono_ms());
    local__persist(l, util_mono_ms(), true);
    if (store_flush(l->store) < 0) {
        util_log("banyan: cannot write the database: %s\n",
                 store_last_error(l->store));
        l->internal++;
    }
    return l->signal_seen;
}
