/* SPDX-License-Identifier: MIT */
/* local.c - local mode's driver: core, engine and store on one loop.
 *
 * See local.h for the shape.  Invariants: every START action is matched
 * by exactly one ops->done call (spawned or not) and one sched_task_done();
 * the loop handles are closed exactly once, when the work is over, and the
 * loop then runs dry by itself.  struct local is this file's alone; the
 * statistics are an object of local_stats.c (local_private.h).
 *
 * The driver remembers, per requeued task (job, index), how often it
 * requeued it itself and when the task became pending again; that table
 * only holds tasks that were requeued, so it stays small.
 */
#include "local_private.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/hmap.h"
#include "util/util.h"

enum {
    ENGINE_ID = 1,
    ACTIONS_PER_STEP = 64,
    HOUSEKEEP_MS = 100,
    PROGRESS_MS = 200,
    NSIGNALS = 3,
};

/* A started task: the client's view and the engine's. */
typedef struct slot_task {
    local_task_t t;
    engine_task_t et;          /* the engine's (job, index, mem, group) */
    struct slot_task *prev, *next; /* the running tasks, oldest first */
    int64_t start_ms;          /* monotonic, for --timeout N% */
    bool limit_killed;         /* stopped because --limit said 2 */
    const char *cwd;           /* --wd: its directory, or NULL */
    char wd[PATH_MAX];         /* --wd ...: the one made for it */
    char genv[4][48];          /* PARALLEL_SEQ, _JOBSLOT, _PID, _JOBSLOT0 */
    char *slot_var;            /* --process-slot-var's entry, malloc'd */
    char *tmp_var;             /* PARALLEL_TMP=..., malloc'd */
    const char *extra[11];     /* genv and the other GNU variables */
} slot_task_t;

/* A job added through local_job_add. */
typedef struct job {
    uint32_t id;
    bool auto_mem;             /* its mem comes from the group's estimate */
    res_request_t req;         /* as the core has it now */
    double added;              /* wall clock of the add */
} job_t;

/* A task the driver has seen requeued, under the key {job id, index}. */
typedef struct requeue {
    uint32_t count;            /* requeues by the driver itself */
    double queued;             /* wall clock it became pending; 0 = used */
} requeue_t;

struct local {
    local_options_t o;
    const local_ops_t *ops;
    void *arg;
    uv_loop_t *loop;           /* the caller's */
    uv_check_t pump;
    uv_timer_t housekeep;
    uv_timer_t commit;         /* commits the grouped transaction when due */
    uv_timer_t progress;
    uv_timer_t wake;           /* pumps when --delay or --limit allow */
    uv_signal_t sigs[NSIGNALS];
    bool handles_open;         /* initialised and not yet closed */
    int closing;               /* handles whose close callback is due */
    bool destroyed;            /* free at the last close callback */

    sched_t *sched;
    res_pool_t *pool;          /* borrowed from sched */
    engine_t *engine;          /* this host: exec, memory, sharing */
    store_t *store;
    local__stats_t *stats;     /* the usage row (local_stats.c) */
    local__ctl_t *ctl;         /* GNU's execution control (local_ctl.c) */
    slot_task_t *run_head, *run_tail; /* the running tasks */
    job_t *jobs;
    size_t njobs, jobs_cap;
    util_hmap_t *rq;           /* {job id, index} -> requeue_t */
    uint64_t est_now;          /* admission figure of the group */
    bool est_dirty;            /* the group's row changed since written */

    uint64_t running;
    bool more;                 /* the client may still add jobs */
    bool stopping;
    bool store_failed;         /* a write to the store failed: reported,
                                  nothing more starts (local.h) */
    int signal_seen;
    unsigned internal;
    double session_start;      /* wall clock of local_run */
};

/* --------------------------------------------------------------- tasks */

static job_t *find_job(local_t *l, uint32_t job_id)
{
    for (size_t i = 0; i < l->njobs; i++)
        if (l->jobs[i].id == job_id)
            return &l->jobs[i];
    return NULL;
}

/* When the task became pending: its requeue time, else when its job was
 * added (or the session began, for tasks queued before it). */
static double queued_time(local_t *l, local_task_t *t)
{
    uint64_t key[2] = {t->job_id, t->index};
    requeue_t *r = util_hmap_find(l->rq, key);
    if (r) {
        t->requeues = r->count;
        double q = r->queued;
        r->queued = 0;
        if (r->count == 0) /* a plain retry: nothing more to remember */
            util_hmap_remove(l->rq, key);
        if (q > 0)
            return q;
    }
    job_t *j = find_job(l, t->job_id);
    double q = j ? j->added : l->session_start;
    /* A resumed run's tasks were queued when this session began. */
    return q > l->session_start ? q : l->session_start;
}

/* The task is pending again from now (own: requeued by the driver). */
static void pending_again(local_t *l, const local_task_t *t, bool own)
{
    uint64_t key[2] = {t->job_id, t->index};
    requeue_t *r = util_hmap_insert(l->rq, key, NULL);
    if (!r)
        return; /* out of memory: its wait counts from its job's add */
    r->count += own;
    r->queued = util_wall_time();
}

static void slot_task_free(slot_task_t *st)
{
    free(st->slot_var);
    free(st->tmp_var);
    free(st);
}

/* PARALLEL_TMP: a name for the task's own temporary file, "par" and five
 * random characters in $TMPDIR (GNU's form); not created; a file left
 * there is removed when the task ends. */
static char *tmp_var_new(void)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static unsigned seed;
    if (!seed)
        seed = (unsigned)util_mono_ms() ^ (unsigned)getpid() << 8;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char name[6];
    for (int i = 0; i < 5; i++)
        name[i] = chars[rand_r(&seed) % (sizeof(chars) - 1)];
    name[5] = '\0';
    char *v;
    return asprintf(&v, "PARALLEL_TMP=%s/par%s", dir, name) < 0 ? NULL : v;
}

/* The first failed write of the store (store_write_failure) stops the run
 * at once: said once, here, with the database and the error; no task
 * starts after it; the running ones are let end and their ends are
 * written if the database takes them (docs/full-disk.md).  Returns true
 * once the store has failed. */
static bool watch_store(local_t *l)
{
    if (l->store_failed)
        return true;
    const char *why = store_write_failure(l->store);
    if (!why)
        return false;
    l->store_failed = true;
    l->internal++;
    util_log("banyan: cannot write the database: %s; starting no more "
             "tasks, %llu running will end\n", why,
             (unsigned long long)l->running);
    local_stop(l, false);
    return true;
}

/* The errno of the bytes of s that could not be kept (its spill file could
 * not be created or written: a full TMPDIR), 0 when it is whole.  exec.h
 * has no accessor of its own: exec_stream_dup() fails with that errno
 * before it looks at the size, so asking for at most 0 bytes tells. */
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
    slot_task_free(st);
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
    local__stats_started(l->stats, t->queued_time, t->start_time);

    exec_spec_t spec = {.capture = true};
    banyan_error_t err = {{0}};
    int prc = l->ops->prepare(l, t, &spec, &err, l->arg);
    if (prc < 0) {
        l->internal++;
        fail_start(l, st, err.text);
        return;
    }
    if (prc > 0) {
        /* The client skips it (GNU Parallel's skip()): it fails without
         * running, exit status -2 as GNU's joblog says, and no retry. */
        exec_result_t res = {.exit_code = -2, .start_time = util_wall_time()};
        res.end_time = res.start_time;
        banyan_task_end_t end;
        engine_end_spawn_failed(&end, res.start_time, "skipped");
        sched_task_done(l->sched, t->job_id, t->index, SCHED_FINAL);
        l->ops->done(l, t, &res, &end, false, l->arg);
        slot_task_free(st);
        return;
    }
    if (watch_store(l)) {
        /* Its start could not be recorded: it does not run, and ends
         * interrupted (a resume runs it). */
        exec_result_t res = {.exit_code = -1, .interrupted = true,
                             .start_time = util_wall_time()};
        res.end_time = res.start_time;
        banyan_task_end_t end;
        engine_end_interrupted(&end, res.start_time);
        engine_end_note(&end, "not started: the database cannot be written");
        sched_task_done(l->sched, t->job_id, t->index, SCHED_FINAL);
        l->ops->done(l, t, &res, &end, false, l->arg);
        slot_task_free(st);
        return;
    }
    if (!spec.cwd) {
        if (local__ctl_wd_enter(l->ctl, t->index + 1, st->wd, sizeof(st->wd),
                                &st->cwd) < 0) {
            char why[PATH_MAX + 64];
            snprintf(why, sizeof(why), "cannot create --wd %s: %s",
                     l->o.engine.wd, strerror(errno));
            fail_start(l, st, why);
            return;
        }
        spec.cwd = st->cwd;
    }
    /* GNU Parallel's variables (the tmpl module's PARALLEL_SHELL is the
     * user's own, inherited, as GNU leaves it). */
    snprintf(st->genv[0], sizeof(st->genv[0]), "PARALLEL_SEQ=%llu",
             (unsigned long long)t->env_task_number);
    snprintf(st->genv[1], sizeof(st->genv[1]), "PARALLEL_JOBSLOT=%u",
             (unsigned)t->alloc.slot);
    snprintf(st->genv[2], sizeof(st->genv[2]), "PARALLEL_PID=%ld",
             (long)getpid());
    snprintf(st->genv[3], sizeof(st->genv[3]), "PARALLEL_JOBSLOT0=%u",
             (unsigned)(t->alloc.slot ? t->alloc.slot - 1 : 0));
    size_t ne = 0;
    st->extra[ne++] = st->genv[0];
    st->extra[ne++] = st->genv[1];
    st->extra[ne++] = st->genv[2];
    st->extra[ne++] = st->genv[3];
    st->extra[ne++] = "PARALLEL_SSHLOGIN=:";
    st->extra[ne++] = "PARALLEL_SSHHOST=:";
    st->extra[ne++] = "PARALLEL_REMOTE_TMPDIR=/tmp";   /* GNU's, local too */
    st->extra[ne++] = "PARALLEL_RSYNC_OPTS=-rlDzR";
    if (l->o.engine.slot_var &&
        asprintf(&st->slot_var, "%s=%u", l->o.engine.slot_var,
                 (unsigned)(t->alloc.slot ? t->alloc.slot - 1 : 0)) >= 0)
        st->extra[ne++] = st->slot_var;
    if ((st->tmp_var = tmp_var_new()) != NULL)
        st->extra[ne++] = st->tmp_var;
    st->extra[ne] = NULL;
    /* The core charged a job without a request its estimate (or
     * nothing, without learning): the engine charges the same. */
    const job_t *j = find_job(l, t->job_id);
    st->et.job_id = t->job_id;
    st->et.index = t->index;
    st->et.mem_bytes = j && j->auto_mem ? 0 : t->alloc.mem_bytes;
    engine_env_in_t env = {
        .job_id = t->env_job_id, .task_number = t->env_task_number,
        .slot = t->alloc.slot,
        .host_has_gpus = res_pool_capacity(l->pool)->ngpus > 0,
        .gpu_index = t->gpu_index, .ngpus = t->ngpus,
        .job_env = spec.env, .njob_env = SIZE_MAX, .extra = st->extra,
    };
    if (engine_start(l->engine, &st->et, &spec, &env, &err) < 0) {
        l->internal++;
        local__ctl_wd_leave(l->ctl, st->cwd);
        fail_start(l, st, err.text);
        return;
    }
    l->running++;
    st->start_ms = util_mono_ms();
    local__ctl_started(l->ctl, st->start_ms);
    st->prev = l->run_tail;
    if (l->run_tail)
        l->run_tail->next = st;
    else
        l->run_head = st;
    l->run_tail = st;
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
                 st->et.critical_killed || st->limit_killed);
    if (!want)
        return false;
    uint32_t max = l->o.requeue_max ? l->o.requeue_max : LOCAL_REQUEUE_MAX;
    uint64_t key[2] = {t->job_id, t->index};
    const requeue_t *r = util_hmap_find(l->rq, key);
    uint32_t n = r ? r->count : 0;
    char note[64];
    if (n >= max) {
        snprintf(note, sizeof(note), "requeued %u times already", n);
        engine_end_note(end, note);
        return false;
    }
    if (sched_task_done(l->sched, t->job_id, t->index, SCHED_FINAL) < 0 ||
        sched_job_add_tasks(l->sched, t->job_id, t->index, 1) < 0) {
        l->internal++;
        return false;
    }
    pending_again(l, t, true);
    snprintf(note, sizeof(note), "requeued (%u of %u)", n + 1, max);
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
    local__stats_advance(l->stats, util_mono_ms(), l->handles_open,
                         engine_allowed(l->engine), l->running);
    banyan_task_end_t end = *classified;
    st->t.output_lost = (end.flags & BANYAN_END_OUTPUT_CUT) != 0;
    if (st->prev)
        st->prev->next = st->next;
    else
        l->run_head = st->next;
    if (st->next)
        st->next->prev = st->prev;
    else
        l->run_tail = st->prev;
    local__ctl_ended(l->ctl, res->end_time - res->start_time,
                     end.state == BANYAN_TASK_OK);
    local__ctl_wd_leave(l->ctl, st->cwd);
    if (st->tmp_var) { /* a file the task left at PARALLEL_TMP */
        struct stat sb;
        const char *path = st->tmp_var + strlen("PARALLEL_TMP=");
        if (lstat(path, &sb) == 0 && !S_ISDIR(sb.st_mode))
            (void)unlink(path);
    }

    int rq;
    if (requeue_unasked(l, st, unasked && !l->stopping, &end)) {
        rq = 1;
    } else {
        /* Nothing is retried once the run is stopping. */
        sched_outcome_t outcome = sched_outcome_of(&end);
        if (l->stopping && outcome == SCHED_FAILED)
            outcome = SCHED_FINAL;
        rq = sched_task_done(l->sched, st->t.job_id, st->t.index, outcome);
        if (rq == 1) /* a retry: pending again from now */
            pending_again(l, &st->t, false);
    }
    local__stats_ended(l->stats, res->cpu_user + res->cpu_sys, rq == 1);
    l->running--;
    l->ops->done(l, &st->t, res, &end, rq == 1, l->arg);
    slot_task_free(st);
    watch_store(l); /* done records the end */
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
    close_one(l, &l->wake);
    for (int i = 0; i < NSIGNALS; i++)
        close_one(l, &l->sigs[i]);
    /* Leave the host's share at once: others may grow into it. */
    engine_close(l->engine);
}

/* Why the engine's gate is shut, as the pump counts it.  The core places
 * memory itself (against the engine's estimate), so only the host's gate
 * is asked before the core. */
static const local__wait_t gate_wait[] = {
    [ENGINE_WAIT_SLOTS] = LOCAL_WAIT_SLOTS,
    [ENGINE_WAIT_SHARE] = LOCAL_WAIT_SHARE,
    [ENGINE_WAIT_RESERVE] = LOCAL_WAIT_RESERVE,
    [ENGINE_WAIT_SUSPENDED] = LOCAL_WAIT_SUSPENDED,
    [ENGINE_WAIT_MEM] = LOCAL_WAIT_MEM,
};

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

/* Why the first job with pending tasks does not fit. */
static int wait_reason(local_t *l)
{
    for (size_t i = 0; i < l->njobs; i++) {
        const job_t *j = &l->jobs[i];
        if (sched_job_pending(l->sched, j->id) == 0)
            continue;
        char why[256];
        res_pool_explain(l->pool, &j->req, why, sizeof(why));
        if (!strncmp(why, "slots", 5))
            return LOCAL_WAIT_SLOTS;
        if (!strncmp(why, "cpus", 4))
            return LOCAL_WAIT_CPUS;
        if (!strncmp(why, "mem:", 4))
            return strstr(why, "reserve") ? LOCAL_WAIT_RESERVE
                                          : LOCAL_WAIT_MEM;
        if (!strncmp(why, "gpu", 3))
            return LOCAL_WAIT_GPUS;
        for (int c = 0; c < j->req.ncustom; c++) {
            size_t n = strlen(j->req.custom[c].name);
            if (!strncmp(why, j->req.custom[c].name, n) && why[n] == ':')
                return LOCAL_WAIT_CUSTOM;
        }
        return LOCAL_WAIT_OTHER;
    }
    return LOCAL_WAIT_OTHER;
}

/* A START that came in the same step as the stop (a failed write, a halt
 * in a done callback) is not started: the task is pending again, as if
 * never handed out, so that every START is matched by a start or by this. */
static void give_back(local_t *l, const sched_action_t *act)
{
    if (sched_task_done(l->sched, act->job_id, act->index, SCHED_FINAL) < 0 ||
        sched_job_add_tasks(l->sched, act->job_id, act->index, 1) < 0)
        l->internal++;
}

static void on_wake(uv_timer_t *h);

/* -j FILE: the slots follow the file. */
static void follow_jobs_file(local_t *l, int64_t now)
{
    uint32_t n;
    if (!local__ctl_jobs_file(l->ctl, now, &n) || n == l->o.engine.slots)
        return;
    res_capacity_t cap = *res_pool_capacity(l->pool);
    cap.slots = n;
    if (res_pool_set_capacity(l->pool, &cap) < 0)
        return;
    l->o.engine.slots = n;
    engine_set_slots(l->engine, n);
}

/* GNU's gates before a start (local_ctl.c): false when none may start
 * now, with the wake timer set when the gate says when to ask again. */
static bool ctl_allows(local_t *l, int64_t now)
{
    int64_t retry;
    if (local__ctl_may_start(l->ctl, now, &retry))
        return true;
    if (retry > 0 && l->handles_open)
        uv_timer_start(&l->wake, on_wake, (uint64_t)retry, 0);
    return false;
}

static void start_some(local_t *l, int64_t now)
{
    follow_jobs_file(l, now);
    want(l);
    engine_poll(l->engine, now); /* the share, when the wanted changed */
    uint64_t avail;
    if (engine_mem_available(l->engine, &avail))
        res_pool_set_host_mem(l->pool, avail);
    uint32_t allowed = engine_allowed(l->engine);
    engine_wait_t gate = engine_gate(l->engine);
    int why = gate == ENGINE_GO ? -1 : (int)gate_wait[gate];
    uint64_t started = 0;
    if (why < 0) {
        sched_action_t acts[ACTIONS_PER_STEP];
        int n, max;
        do {
            uint64_t room = allowed > l->running ? allowed - l->running : 0;
            max = room < ACTIONS_PER_STEP ? (int)room : ACTIONS_PER_STEP;
            if (max == 0)
                break;
            sched_stats_t pend;
            sched_get_stats(l->sched, &pend);
            if (pend.pending > 0 && !ctl_allows(l, now)) {
                why = LOCAL_WAIT_OTHER;
                break;
            }
            if (local__ctl_one_at_a_time(l->ctl))
                max = 1;
            n = sched_step(l->sched, now, acts, max);
            for (int i = 0; i < n; i++) {
                if (acts[i].type == SCHED_ACT_START && l->stopping) {
                    give_back(l, &acts[i]);
                } else if (acts[i].type == SCHED_ACT_START) {
                    start_task(l, &acts[i]);
                    started++;
                } else if (acts[i].type == SCHED_ACT_INFEASIBLE &&
                           l->ops->infeasible) {
                    l->ops->infeasible(l, acts[i].job_id, acts[i].reason,
                                       l->arg);
                }
            }
        } while (n == max && !l->stopping &&
                 !local__ctl_one_at_a_time(l->ctl));
    }
    sched_stats_t s;
    sched_get_stats(l->sched, &s);
    if (s.pending == 0 || l->stopping) {
        local__stats_wait(l->stats, -1, false);
        return;
    }
    if (why < 0) {
        why = wait_reason(l);
        if (why == LOCAL_WAIT_SLOTS && allowed < l->o.engine.slots &&
            l->running >= allowed)
            why = LOCAL_WAIT_SHARE;
    }
    local__stats_wait(l->stats, why, started == 0);
}

/* ----------------------------------------------------------- estimates */

/* The engine learnt: the jobs without a request follow (local.h). */
static void on_learnt(engine_t *e, const char *group, void *arg)
{
    (void)group;
    local_t *l = arg;
    l->est_dirty = true;
    uint64_t est = engine_estimate(e, NULL);
    if (est == l->est_now)
        return;
    l->est_now = est;
    for (size_t i = 0; i < l->njobs; i++) {
        job_t *j = &l->jobs[i];
        if (!j->auto_mem)
            continue;
        if (sched_job_set_mem(l->sched, j->id, est) < 0) {
            if (errno == ENOENT) { /* the client removed it meanwhile */
                l->jobs[i--] = l->jobs[--l->njobs];
                continue;
            }
            l->internal++;
            continue;
        }
        j->req.mem_bytes = est;
    }
}

static int restore_row(const store_estimate_t *e, void *arg)
{
    local_t *l = arg;
    est_stats_t st = {
        .count = e->count > 0 ? (uint64_t)e->count : 0,
        .mean_bytes = e->mean_bytes, .m2 = e->m2,
        .hwm_bytes = e->hwm_bytes > 0 ? (uint64_t)e->hwm_bytes : 0,
        .floor_bytes = e->floor_bytes > 0 ? (uint64_t)e->floor_bytes : 0,
    };
    if (strcmp(e->group, l->o.engine.group) != 0)
        return 0; /* only our group matters here */
    banyan_error_t err = {{0}};
    if (est_table_set(engine_estimates(l->engine), e->group, &st, &err) < 0)
        util_log("banyan: ignoring the stored estimate of '%s': %s\n",
                 e->group, err.text);
    return 0;
}

/* Write the group's estimate when it changed (also for a client without
 * usage: it learns) and the usage row when due. */
static void persist(local_t *l, int64_t now, bool force)
{
    est_stats_t st;
    const char *group = l->o.engine.group;
    est_table_t *est = engine_estimates(l->engine);
    if (l->est_dirty && est && est_table_get(est, group, &st) == 0) {
        store_estimate_t row = {
            .group = group, .count = (int64_t)st.count,
            .mean_bytes = st.mean_bytes, .m2 = st.m2,
            .hwm_bytes = (int64_t)st.hwm_bytes,
            .floor_bytes = (int64_t)st.floor_bytes,
            .updated = util_wall_time(),
        };
        if (store_estimate_put(l->store, &row) < 0 && !watch_store(l)) {
            util_log("banyan: cannot record the memory estimate: %s\n",
                     store_last_error(l->store));
            l->internal++;
        }
    }
    l->est_dirty = false;
    if (local__stats_persist(l->stats, l->store, l->engine, now, force) < 0)
        l->internal++;
}

static void on_commit(uv_timer_t *h);

/* Commit the grouped transaction once it is due, and make sure a timer
 * comes back for it when it is not due yet: without one, a quiet loop
 * would leave written rows uncommitted until the next housekeeping tick. */
static void tick_store(local_t *l, int64_t now)
{
    /* Counters go into the same grouped commits as the task rows they
     * count, so that a kill -9 loses both or neither. */
    persist(l, now, false);
    int due = store_tick(l->store, now);
    if (due == -2)
        watch_store(l); /* a busy commit is not a failure: tried again */
    else if (due >= 0 && l->handles_open &&
             !uv_is_active((uv_handle_t *)&l->commit))
        uv_timer_start(&l->commit, on_commit, (uint64_t)due + 1, 0);
}

static void on_commit(uv_timer_t *h)
{
    local_t *l = h->data;
    tick_store(l, util_mono_ms());
}

static void pump(local_t *l)
{
    int64_t now = util_mono_ms();
    local__stats_advance(l->stats, now, l->handles_open,
                         engine_allowed(l->engine), l->running);
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

/* --timeout N% (the median moves) and --limit's "kill the youngest". */
static void ctl_tick(local_t *l)
{
    int64_t limit = local__ctl_timeout_ms(l->ctl);
    if (limit > 0) {
        int64_t now = util_mono_ms();
        for (slot_task_t *st = l->run_head; st; st = st->next)
            if (now - st->start_ms > limit)
                engine_task_timeout(l->engine, &st->et);
    }
    if (l->o.engine.limit_cmd && l->run_head && !l->stopping &&
        local__ctl_limit(l->ctl) == 2) {
        slot_task_t *young = NULL;
        for (slot_task_t *st = l->run_head; st; st = st->next)
            if (!st->limit_killed && !st->et.interrupting &&
                (!young || st->t.index > young->t.index))
                young = st;
        if (young) {
            young->limit_killed = true;
            engine_task_stop(l->engine, &young->et);
        }
    }
}

static void on_housekeep(uv_timer_t *h)
{
    ctl_tick(h->data);
    pump(h->data); /* closed with the other handles: never after the work */
}

static void on_wake(uv_timer_t *h)
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
    gpu_info_t gpus[GPU_MAX];
    cap.ngpus = gpu_discover(gpus, GPU_MAX, &src, error);
    if (cap.ngpus < 0)
        return -1;
    for (int i = 0; i < cap.ngpus; i++) {
        cap.gpus[i].index = gpus[i].index;
        cap.gpus[i].mem_total_bytes = gpus[i].mem_total_bytes;
        cap.gpus[i].mem_used_bytes = gpus[i].mem_used_bytes;
        cap.gpus[i].util_percent = gpus[i].util_percent;
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

/* The memory tasks may be charged changed: the pool follows. */
static void on_capacity(engine_t *e, uint64_t mem_bytes, void *arg)
{
    (void)e;
    local_t *l = arg;
    res_capacity_t cap = *res_pool_capacity(l->pool);
    if (cap.mem_bytes == mem_bytes)
        return;
    cap.mem_bytes = mem_bytes;
    if (res_pool_set_capacity(l->pool, &cap) < 0)
        l->internal++;
}

static void on_log(engine_t *e, const char *line, void *arg)
{
    (void)e;
    (void)arg;
    util_log("banyan: %s\n", line);
}

static int open_handles(local_t *l, banyan_error_t *error)
{
    static const int signums[NSIGNALS] = {SIGINT, SIGTERM, SIGHUP};
    static const engine_ops_t ops = {
        .done = on_task_done, .learnt = on_learnt,
        .capacity = on_capacity, .log = on_log,
    };
    l->engine = engine_create(l->loop, &l->o.engine, &ops, l, error);
    if (!l->engine)
        return -1;
    uv_check_init(l->loop, &l->pump);
    uv_timer_init(l->loop, &l->housekeep);
    uv_timer_init(l->loop, &l->commit);
    uv_timer_init(l->loop, &l->progress);
    uv_timer_init(l->loop, &l->wake);
    l->pump.data = l->housekeep.data = l->commit.data = l;
    l->progress.data = l->wake.data = l;
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
    l->rq = util_hmap_create(2 * sizeof(uint64_t), sizeof(requeue_t), NULL,
                             NULL);
    l->stats = local__stats_create(opts->engine.group, opts->engine.slots);
    l->ctl = local__ctl_create(&opts->engine);
    if (!l->rq || !l->stats || !l->ctl) {
        errprintf(error, "out of memory");
        goto error;
    }
    if (build_pool(l, error) < 0)
        goto error;
    l->store = store_open(opts->db_path, NULL, error);
    if (!l->store || open_handles(l, error) < 0)
        goto error;
    if (engine_estimates(l->engine)) {
        if (store_estimates_foreach(l->store, restore_row, l) < 0) {
            errprintf(error, "cannot read the memory estimates: %s",
                      store_last_error(l->store));
            goto error;
        }
        l->est_now = engine_estimate(l->engine, NULL);
    }
    return l;
error:
    local_destroy(l); /* keeps errno */
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
    util_hmap_destroy(l->rq);
    local__stats_destroy(l->stats);
    local__ctl_destroy(l->ctl);
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
                    engine_estimates(l->engine) != NULL &&
                    !l->o.engine.mem_no_estimate;
    if (auto_mem)
        j.req.mem_bytes = engine_estimate(l->engine, NULL);
    banyan_error_t why = {{0}};
    if (check && !res_pool_fits_ever(l->pool, &j.req, &why)) {
        errno = ENOSPC;
        return errprintf(error, "%s", why.text);
    }
    if (util_grow((void **)&l->jobs, &l->jobs_cap, l->njobs + 1,
                  sizeof(*l->jobs)) < 0)
        return errprintf(error, "out of memory");
    if (sched_job_add(l->sched, &j) < 0)
        return errprintf(error, "cannot add job %u: %s", job->id,
                         strerror(errno));
    l->jobs[l->njobs++] = (job_t){.id = j.id, .auto_mem = auto_mem,
                                  .req = j.req, .added = util_wall_time()};
    return 0;
}

int local_job_remove(local_t *l, uint32_t job_id)
{
    if (sched_job_remove(l->sched, job_id) < 0)
        return -1;
    job_t *j = find_job(l, job_id);
    if (j)
        *j = l->jobs[--l->njobs];
    return 0;
}

int local_run(local_t *l)
{
    l->session_start = util_wall_time();
    local__stats_begin(l->stats, l->o.score_budget_ms);
    uv_check_start(&l->pump, on_pump);
    uv_timer_start(&l->housekeep, on_housekeep, HOUSEKEEP_MS, HOUSEKEEP_MS);
    if (l->o.progress && l->ops->progress)
        uv_timer_start(&l->progress, on_progress, 0, PROGRESS_MS);
    pump(l);
    uv_run(l->loop, UV_RUN_DEFAULT);
    local__stats_advance(l->stats, util_mono_ms(), l->handles_open,
                         engine_allowed(l->engine), l->running);
    persist(l, util_mono_ms(), true);
    if (store_flush(l->store) < 0 && !watch_store(l)) {
        util_log("banyan: cannot write the database: %s\n",
                 store_last_error(l->store));
        l->internal++;
    }
    return l->signal_seen;
}

int local_usage_open(local_t *l, const char *kind, int64_t ref_id,
                     banyan_error_t *error)
{
    return local__stats_open(l->stats, l->store, l->engine, kind, ref_id,
                             error);
}

void local_usage(const local_t *l, store_usage_t *u)
{
    local__stats_usage(l->stats, l->engine, u);
}

uint64_t local_estimate(const local_t *l)
{
    return l->est_now;
}
