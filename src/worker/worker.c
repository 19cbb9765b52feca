/* SPDX-License-Identifier: MIT */
/* worker.c - the worker's protocol engine on a libuv loop.
 *
 * See worker.h for the behaviour.  Every task the worker accepted is a
 * wtask in one hash table keyed by (job, index, attempt), from its ASSIGN
 * until the ACK of the RESULT batch that reported it; that table is what
 * makes a duplicate ASSIGN harmless.  While it runs, a task is also on the
 * running list (HELLO lists it, KILL and shutdown walk it).  When it ends
 * its result goes to the results window (worker_results.c), which the
 * check handle flushes once per loop iteration into RESULT batches; a
 * batch's tasks are freed at the ACK that covers it.
 *
 * Invariants: a task is reported once (exec calls back once per start, a
 * failed start never reaches exec); batches leave in seq order, and a send
 * that fails stops the sending until the next iteration, so the server
 * never sees seq n+1 before seq n on one connection.
 */
#include "worker.h"
#include "worker_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/exec.h"
#include "msg/msg.h"
#include "score/score.h"
#include "util/hmap.h"
#include "util/util.h"
#include "worker_bb.h"
#include "worker_parent.h"
#include "worker_privdir.h"
#include "worker_results.h"
#include "worker_tasks.h"

enum {
    NHANDLES = 4,                  /* check + 2 timers + the parent link */
    TICK_MS = 10,                  /* relay: results up, SUMMARY, losses */
    TICK_IDLE_MS = 200,            /* the same with nothing waiting: 256
                                      idle workers on one host woke 25,600
                                      times a second at TICK_MS */
    HELD_MAX = MSG_MAX_BATCH,      /* tasks listed in one HELLO */
};

/* --------------------------------------------------------------- types */

struct worker {
    uv_loop_t *loop;
    worker_options_t o;            /* strings point at the copies below
                                      and the parent link's; no keys */
    char *name;
    char worker_id[320];
    char host[256];
    char last_error[256];          /* the parent's last ERROR, logged */
    gpu_info_t gpus[GPU_MAX];
    msg_gpu_t hello_gpus[GPU_MAX];

    worker__parent_t *parent;      /* the link up, owned */
    worker__relay_t *relay;        /* NULL with no_relay */
    worker_bb_t *bb;
    worker__privdir_t *privdir;    /* private directory, owned */
    engine_t *engine;              /* exec, memory, sharing (engine.h) */
    uint32_t want_mcpu;            /* --cpus of the last task started, for
                                      fair sharing (0: learn) */
    uv_check_t flush;
    uv_timer_t stop_timer, tick_timer;
    int open_handles;              /* uv handles not yet closed */
    bool closing;                  /* handles closed or closing */
    bool destroyed;                /* free at the last close */

    bool closed;                   /* every handle closed */
    bool stopping;
    bool released;                 /* stopping, and the server said BYE:
                                      nothing will be acknowledged */

    worker__tasks_t *tasks;        /* own tasks, running list, admission
                                      queue, owned */
    worker__results_t *results;    /* RESULT batches up, until ACK */
    worker__jobs_t *jobs;
    worker_stats_t st;
};

static void flush_results(worker_t *w);
static void check_stop(worker_t *w);
static void admit_some(worker_t *w);

/* ------------------------------------------------------------- results */

static void blobs_unpin(worker_t *w, worker__task_t *t)
{
    const worker__job_t *j = worker__jobs_find(w->jobs, t->ref.job);
    for (uint32_t i = 0; j && w->bb && i < j->nblobs; i++)
        (void)worker_bb_blob_unpin(w->bb, j->def->blobs[i]);
    t->pinned = false;
}

/* The task has ended: queue its result for the next batch. */
static void task_complete(worker_t *w, worker__task_t *t)
{
    worker__tasks_release(w->tasks, t);
    worker__launch_fini(&t->launch);
    if (t->pinned)
        blobs_unpin(w, t);
    t->r.res.task = t->ref;
    worker__results_push(w->results, &t->r);
    w->st.tasks_done++;
}

static void *copy_tail(const void *src, size_t len, uint32_t *out_len)
{
    *out_len = 0;
    if (len == 0)
        return NULL;
    void *p = malloc(len);
    if (p) {
        memcpy(p, src, len);
        *out_len = (uint32_t)len;
    }
    return p;
}

/* A result from below (relay): it goes up in the next batch of ours. */
static void on_child_result(void *arg, uint32_t child, uint64_t seq,
                            bool last, const msg_result_entry_t *e)
{
    worker_t *w = arg;
    worker__task_t *t = worker__task_new();
    if (!t) {
        /* Out of memory: this entry does not go up.  Unless a later entry
         * of the same child batch gets it acknowledged, the child keeps it
         * and sends it again after its next WELCOME. */
        w->st.send_errors++;
        return;
    }
    t->foreign = t->ended = true;
    t->child = child;
    t->child_seq = seq;
    t->child_last = last;
    t->ref = e->task;
    t->r.res = *e;
    t->r.res.out_tail = copy_tail(e->out_tail, e->out_tail_len,
                                &t->r.res.out_tail_len);
    t->r.res.err_tail = copy_tail(e->err_tail, e->err_tail_len,
                                &t->r.res.err_tail_len);
    worker__results_push(w->results, &t->r);
}

/* A task that did not start ends interrupted (stopping, KILL). */
static void task_interrupt(worker_t *w, worker__task_t *t)
{
    worker__tasks_admit_remove(w->tasks, t); /* when it waits there */
    engine_end_interrupted(&t->r.res.end, util_wall_time());
    task_complete(w, t);
}

/* A task that cannot run is reported as a failed start, with the reason
 * as its stderr tail. */
static void task_fail_start(worker_t *w, worker__task_t *t, const char *why)
{
    engine_end_spawn_failed(&t->r.res.end, util_wall_time(), why);
    t->r.res.err_tail = copy_tail(why, strlen(why), &t->r.res.err_tail_len);
    w->st.tasks_failed_start++;
    task_complete(w, t);
}

static void on_task_done(engine_t *e, engine_task_t *et,
                         const exec_result_t *res,
                         const banyan_task_end_t *end, bool unasked,
                         void *arg)
{
    (void)e;
    (void)unasked; /* retries are the root's: the end says what killed it */
    worker_t *w = arg;
    worker__task_t *t = (worker__task_t *)((char *)et - offsetof(worker__task_t, et));
    msg_result_entry_t *r = &t->r.res;
    r->end = *end;
    char buf[WORKER_TAIL_BYTES];
    if (res->out) {
        size_t n = exec_stream_tail(res->out, buf, sizeof(buf));
        r->out_tail = copy_tail(buf, n, &r->out_tail_len);
    }
    if (res->err) {
        size_t n = exec_stream_tail(res->err, buf, sizeof(buf));
        r->err_tail = copy_tail(buf, n, &r->err_tail_len);
    }
    task_complete(w, t);
}

static void on_engine_log(engine_t *e, const char *line, void *arg)
{
    (void)e;
    worker_t *w = arg;
    if (w->o.log)
        w->o.log(line, w->o.log_arg);
}

/* To the parent, only while it is known (relay and bb messages). */
static int send_up(void *arg, const msg_t *m)
{
    worker_t *w = arg;
    if (!worker__parent_connected(w->parent) || w->closing)
        return -1;
    return worker__parent_send(w->parent, m);
}

static void flush_results(worker_t *w)
{
    worker__results_flush(w->results, worker__parent_connected(w->parent));
}

static int send_result(void *arg, const msg_t *m)
{
    return worker__parent_send(((worker_t *)arg)->parent, m);
}

/* A result left the window: an own task leaves the table at its ACK (at
 * destroy the table frees it), a child's result is freed, and its child
 * may forget it once it is durable above. */
static void on_result_release(void *arg, worker__result_t *r, bool acked)
{
    worker_t *w = arg;
    worker__task_t *t = (worker__task_t *)((char *)r - offsetof(worker__task_t, r));
    if (!t->foreign) {
        if (acked)
            worker__tasks_remove(w->tasks, t);
        return;
    }
    if (acked && t->child_last && t->child != WORKER__NO_CHILD && w->relay)
        worker__relay_acked(w->relay, t->child, t->child_seq);
    worker__task_free(t);
}

/* The tick's period now: TICK_MS while something waits for it (results
 * to coalesce and send up, the relay's events), TICK_IDLE_MS otherwise
 * (losses, pings and summaries go by the heartbeat, which is much longer;
 * a broadcast ends on its events, and its deadline, seconds away, is
 * checked at TICK_IDLE_MS). */
static uint64_t tick_period(const worker_t *w)
{
    bool active = worker__results_queued(w->results) || (w->relay && worker__relay_active(w->relay));
    return active ? TICK_MS : TICK_IDLE_MS;
}

static void on_tick(uv_timer_t *h)
{
    worker_t *w = h->data;
    if (w->closing)
        return;
    int64_t now = util_mono_ms();
    if (w->relay) {
        worker__relay_tick(w->relay, now);
        flush_results(w);
    }
    if (w->bb)
        worker_bb_tick(w->bb, now);
    uint64_t want = tick_period(w);
    if (want > uv_timer_get_repeat(h))
        uv_timer_set_repeat(h, want); /* idle again: slow down */
}

/* Called every loop iteration: a worker that became active (a child, a
 * broadcast) gets the fast tick at once. */
static void tick_speed_up(worker_t *w)
{
    uint64_t want = tick_period(w);
    if (want < uv_timer_get_repeat(&w->tick_timer))
        uv_timer_start(&w->tick_timer, on_tick, want, want);
}

/* Once per loop iteration: what must not run inside the socket's or the
 * executor's own callbacks (closing) happens here. */
static void on_flush(uv_check_t *h)
{
    worker_t *w = h->data;
    admit_some(w);
    if (w->relay && !w->closing) {
        /* An idle own engine lets its relay ask for work (docs/tree.md,
         * "Stealing"); not while stopping or away from the parent. */
        uint32_t busy = worker__tasks_busy(w->tasks);
        uint32_t free_slots = w->o.slots > busy ? w->o.slots - busy : 0;
        if (w->stopping || !worker__parent_connected(w->parent))
            free_slots = 0;
        worker__relay_set_own_free(w->relay, free_slots);
        worker__relay_step(w->relay, util_mono_ms());
    }
    /* A relay with children coalesces its results per tick (on_tick). */
    if (!w->relay || w->stopping ||
        worker__relay_children(w->relay, NULL, 0) == 0)
        flush_results(w);
    if (!w->closing)
        tick_speed_up(w);
    check_stop(w);
}


/* --------------------------------------------------------------- hello */

/* Every task this node still holds: running or waiting for its blobs
 * here, queued here or placed below (relay). */
static msg_task_ref_t *held_tasks(const worker_t *w, uint32_t *count)
{
    size_t below = w->relay ? worker__relay_held(w->relay, NULL, 0) : 0;
    size_t cap = worker__tasks_count(w->tasks) + below;
    if (cap > HELD_MAX)
        cap = HELD_MAX;
    msg_task_ref_t *out = cap ? calloc(cap, sizeof(*out)) : NULL;
    if (!out) {
        *count = 0;
        return NULL;
    }
    size_t n = worker__tasks_held(w->tasks, out, cap);
    if (w->relay && n < cap) {
        size_t m = worker__relay_held(w->relay, out + n, cap - n);
        n += m < cap - n ? m : cap - n;
    }
    *count = (uint32_t)n;
    return out;
}

/* This node's id (also the broadcasts' self_node). */
static uint32_t self_node(void *arg)
{
    const worker_t *w = arg;
    uint32_t node, parent, hb;
    uint64_t epoch;
    worker__parent_identity(w->parent, &node, &parent, &epoch, &hb);
    return node;
}

/* Also the parent link's hello op. */
static void send_hello(void *arg)
{
    worker_t *w = arg;
    uint32_t n = 0;
    msg_task_ref_t *running = held_tasks(w, &n);
    msg_t m = {.type = MSG_HELLO};
    msg_hello_t *h = &m.u.hello;
    h->worker_id = w->worker_id;
    h->name = w->name;
    h->host = w->host;
    h->slots = w->o.slots;
    h->cpus_milli = w->o.cpus_milli;
    h->mem_bytes = w->o.mem_bytes;
    h->ngpus = (uint32_t)w->o.ngpus;
    h->gpus = w->hello_gpus;
    h->ncustom = w->o.ncustom > 0 ? (uint32_t)w->o.ncustom : 0;
    h->custom = h->ncustom > 0 ? w->o.custom : NULL;
    h->score = w->o.score;
    h->noop = w->o.noop;
    h->nrunning = n;
    h->running = running;
    h->last_acked = worker__results_last_acked(w->results);
    h->relay = w->relay ? worker__relay_endpoint(w->relay) : NULL;
    h->node = self_node(w);
    if (worker__parent_send(w->parent, &m) == 0)
        w->st.hellos_sent++;
    free(running);
}

/* ------------------------------------------------------------ messages */

/* The parent link's callbacks (worker_parent.h). */

static void on_rejoin(void *arg)
{
    worker__results_resend(((worker_t *)arg)->results);
}

static void on_welcome(void *arg, bool joined, bool again)
{
    worker_t *w = arg;
    uint32_t node, parent, hb;
    uint64_t epoch;
    worker__parent_identity(w->parent, &node, &parent, &epoch, &hb);
    if (w->relay)
        worker__relay_set_identity(w->relay, node, parent, epoch, hb);
    if (!joined)
        return; /* an answer to an earlier HELLO */
    /* Whatever went out before may be lost: send every unacked batch
     * again, in order (the server ignores what it has). */
    worker__results_resend(w->results);
    if (again)
        send_hello(w); /* a restarted server must learn what runs here */
    if (w->relay)
        worker__relay_parent_changed(w->relay);
    if (w->bb)
        worker_bb_parent_changed(w->bb);
    flush_results(w);
}

/* The server has dropped us (our own BYE) and requeued our tasks: it will
 * acknowledge nothing more, and results it gets from us now are ignored.
 * Stop waiting for ACKs. */
static void on_released(void *arg)
{
    worker_t *w = arg;
    w->released = true;
    check_stop(w);
}

static void up_stats(void *arg, msg_sock_stats_t *st)
{
    worker__parent_sock_stats(((worker_t *)arg)->parent, st);
}

/* A JOB: its definition stays in the message, which the job keeps. */
static void handle_job(worker_t *w, msg_t *m)
{
    worker__job_t *j = NULL;
    if (!worker__jobs_find(w->jobs, m->u.job.id)) /* never changes */
        j = worker__job_create(&m->u.job);
    if (!j) {
        msg_free(m);
        return;
    }
    j->msg = m;
    if (worker__jobs_add(w->jobs, j) < 0)
        return;
    w->st.jobs++;
    if (w->relay) /* it places the job's tasks on its children */
        worker__relay_on_job(w->relay, &m->u.job);
}

/* Spawn t, admitted by the engine. */
static void spawn(worker_t *w, const worker__job_t *j, worker__task_t *t)
{
    exec_spec_t spec = {
        .argv = (const char *const *)t->launch.argv,
        .cwd = j->cwd,
        .stdin_path = j->stdin_path,
        .timeout_ms = j->timeout_ms,
        .capture = true,
    };
    t->et = (engine_task_t){.job_id = t->ref.job, .index = t->ref.index,
                            .mem_bytes = j->def->req.mem_bytes,
                            .group = j->group};
    w->want_mcpu = j->def->req.cpus_milli;
    /* Keep the blobs' files in the cache while the task may read them. */
    for (uint32_t i = 0; i < j->nblobs && w->bb; i++)
        (void)worker_bb_blob_pin(w->bb, j->def->blobs[i]);
    t->pinned = j->nblobs > 0 && w->bb;
    worker__tasks_run(w->tasks, t);
    banyan_error_t err = {{0}};
    if (engine_start(w->engine, &t->et, &spec, &t->launch.env, &err) < 0)
        task_fail_start(w, t, err.text);
}

/* Whether the engine lets a task of j start now: the host's gate
 * (critical memory, the reserve, fair sharing) and its memory (the
 * request, else the group's learnt estimate). */
static bool admissible(worker_t *w, const worker__job_t *j)
{
    return engine_gate(w->engine) == ENGINE_GO &&
           engine_fits(w->engine, j->def->req.mem_bytes, j->group) ==
               ENGINE_GO;
}

/* Start the tasks waiting for admission, in order, while the engine lets
 * them (called every loop iteration and after every end). */
static void admit_some(worker_t *w)
{
    if (w->closing)
        return;
    /* Fair sharing hears what this engine could run. */
    engine_want(w->engine, worker__tasks_nrunning(w->tasks) +
                               worker__tasks_nadmit(w->tasks),
                w->want_mcpu);
    engine_poll(w->engine, util_mono_ms());
    for (worker__task_t *t; (t = worker__tasks_admit_head(w->tasks));) {
        const worker__job_t *j = worker__jobs_find(w->jobs, t->ref.job);
        if (j && !admissible(w, j))
            break;
        worker__tasks_admit_remove(w->tasks, t);
        if (j)
            spawn(w, j, t);
        else
            task_fail_start(w, t, "its job definition is gone");
    }
}

/* Expand t (its job known and usable so far, its blobs fetched) and start
 * it, or queue it until the engine admits it. */
static void launch(worker_t *w, const worker__job_t *j, worker__task_t *t)
{
    char why[256];
    int idx[GPU_MAX];
    int ngpu = worker__gpu_mask_indices(w->gpus, w->o.ngpus, t->gpu_mask,
                                        idx);
    if (ngpu < 0) {
        snprintf(why, sizeof(why),
                 "GPU mask %#llx names a GPU this worker lacks (it has %d)",
                 (unsigned long long)t->gpu_mask, w->o.ngpus);
        task_fail_start(w, t, why);
        return;
    }
    banyan_error_t err = {{0}};
    if (worker__launch_prepare(j, t->ref.index, t->slot, idx, ngpu,
                               w->o.ngpus > 0, w->name,
                               (const char *const *)j->blob_env, &t->launch,
                               &err) < 0) {
        if (!err.text[0])
            snprintf(err.text, sizeof(err.text), "out of memory");
        task_fail_start(w, t, err.text);
        return;
    }
    if (!worker__tasks_admit_head(w->tasks)) {
        /* Fair sharing hears of this task before the gate is asked. */
        w->want_mcpu = j->def->req.cpus_milli;
        engine_want(w->engine, worker__tasks_nrunning(w->tasks) + 1,
                    w->want_mcpu);
        engine_poll(w->engine, util_mono_ms());
        if (admissible(w, j)) {
            spawn(w, j, t);
            return;
        }
    }
    worker__tasks_admit_push(w->tasks, t);
}

typedef struct blob_wait {
    worker_t *w;
    uint32_t job;
    uint32_t i;
} blob_wait_t;

/* Every fetch of j's blobs has answered: start or fail its waiting tasks.
 * After a failure the next task asks again (the parent may have it by
 * then). */
static void blobs_settled(worker_t *w, worker__job_t *j)
{
    j->blobs_ready = !j->blob_error;
    worker__task_t *t = j->waiting;
    j->waiting = NULL;
    while (t) {
        worker__task_t *next = t->wnext;
        if (w->stopping)
            task_interrupt(w, t);
        else if (j->blob_error)
            task_fail_start(w, t, j->blob_error);
        else
            launch(w, j, t);
        t = next;
    }
    if (j->blob_error)
        worker__job_blobs_forget(j);
}

static void blob_answer(worker_t *w, worker__job_t *j, uint32_t i,
                        int errnum, const char *path)
{
    if (errnum == 0 &&
        asprintf(&j->blob_env[i], "BANYAN_BLOB_%u=%s", i, path) < 0) {
        j->blob_env[i] = NULL;
        errnum = ENOMEM;
    }
    if (errnum == 0 && i == 0 && (j->def->flags & MSG_JOB_STDIN_BLOB) &&
        !(j->stdin_path = strdup(path)))
        errnum = ENOMEM;
    if (errnum != 0 && !j->blob_error &&
        asprintf(&j->blob_error, "cannot fetch blob %u of job %u: %s", i,
                 j->id, strerror(errnum)) < 0)
        j->blob_error = NULL;
    if (errnum != 0 && !j->blob_error)
        j->blob_error = strdup("cannot fetch a blob: out of memory");
    if (--j->blobs_pending == 0 && !w->closing)
        blobs_settled(w, j);
}

static void on_blob(void *arg, int errnum, const char *path)
{
    blob_wait_t *bw = arg;
    worker_t *w = bw->w;
    worker__job_t *j = worker__jobs_find(w->jobs, bw->job);
    uint32_t i = bw->i;
    free(bw);
    if (j)
        blob_answer(w, j, i, errnum, path);
}

/* t waits for its job's blobs; the first such task asks for them. */
static void wait_blobs(worker_t *w, worker__job_t *j, worker__task_t *t)
{
    t->wnext = j->waiting;
    j->waiting = t;
    if (j->blobs_pending > 0)
        return;
    j->blobs_pending = j->nblobs;
    for (uint32_t i = 0; i < j->nblobs; i++) {
        blob_wait_t *bw = malloc(sizeof(*bw));
        if (bw)
            *bw = (blob_wait_t){w, j->id, i};
        if (!bw || !w->bb ||
            worker_bb_need_blob(w->bb, j->def->blobs[i], on_blob, bw) < 0) {
            free(bw);
            blob_answer(w, j, i, w->bb ? ENOMEM : ENOTSUP, NULL);
        }
    }
}

static void start_entry(worker_t *w, const msg_assign_entry_t *e)
{
    if (worker__tasks_find(w->tasks, &e->task)) {
        w->st.duplicates++;
        return;
    }
    /* Its slots are taken from now until it ends, as its parent counts
     * them (an unknown job's task ends at once). */
    const worker__job_t *jd = worker__jobs_find(w->jobs, e->task.job);
    worker__task_t *t = worker__tasks_add(w->tasks, e, jd ? jd->slots : 1);
    if (!t) {
        w->st.send_errors++;
        return; /* out of memory: the server's loss handling recovers it */
    }
    w->st.tasks_started++;
    t->gpu_mask = e->gpu_mask;
    t->gpu_milli_each = e->gpu_milli_each;
    char why[256];
    if (w->stopping) {
        task_interrupt(w, t);
        return;
    }
    worker__job_t *j = worker__jobs_find(w->jobs, e->task.job);
    if (!j) {
        snprintf(why, sizeof(why), "unknown job %u", e->task.job);
        task_fail_start(w, t, why);
        return;
    }
    if (w->o.noop) {
        t->r.res.end.state = BANYAN_TASK_OK;
        t->r.res.end.start_time = t->r.res.end.end_time = util_wall_time();
        task_complete(w, t);
        return;
    }
    if (j->nblobs > 0 && !j->blobs_ready) {
        wait_blobs(w, j, t);
        return;
    }
    launch(w, j, t);
}

/* Entries the parent could not give this node: "not taken" (RETURN with
 * done) or "never" (REJECT). */
static void refuse_entries(worker_t *w, msg_task_ref_t *v, uint32_t n,
                           bool never)
{
    if (n == 0)
        return;
    msg_t m = {.type = never ? MSG_REJECT : MSG_RETURN};
    m.u.tasks.done = !never;
    m.u.tasks.reason = never ? "this worker is not a relay" : NULL;
    m.u.tasks.n = n;
    m.u.tasks.tasks = v;
    worker__parent_send(w->parent, &m);
}

static void handle_assign(worker_t *w, const msg_assign_t *m)
{
    msg_task_ref_t *refused = NULL;
    uint32_t nrefused = 0;
    for (uint32_t i = 0; i < m->n; i++) {
        const msg_assign_entry_t *e = &m->entries[i];
        if (e->slot != MSG_SLOT_ANY) {
            start_entry(w, e);
        } else if (w->relay && !w->stopping) {
            worker__relay_on_any(w->relay, e);
        } else {
            if (!refused && !(refused = calloc(m->n, sizeof(*refused))))
                continue; /* the root's loss handling recovers it */
            refused[nrefused++] = e->task;
        }
    }
    refuse_entries(w, refused, nrefused, !w->relay);
    free(refused);
}

static void kill_task(worker_t *w, worker__task_t *t)
{
    if (t->admitting) { /* never started: it ends interrupted at once */
        w->st.killed++;
        task_interrupt(w, t);
        return;
    }
    if (!t->running || t->killing)
        return;
    t->killing = true;
    engine_task_stop(w->engine, &t->et); /* SIGKILL after the grace too */
    w->st.killed++;
}

static void handle_kill(worker_t *w, const msg_kill_t *m)
{
    if (w->relay)
        worker__relay_on_kill(w->relay, m);
    if (m->n == 0) {
        for (worker__task_t *t = worker__tasks_running_next(w->tasks, NULL),
                            *next; t; t = next) {
            next = worker__tasks_running_next(w->tasks, t);
            if (t->ref.job == m->job)
                kill_task(w, t);
        }
        return;
    }
    for (uint32_t i = 0; i < m->n; i++) {
        worker__task_t *t = worker__tasks_find(w->tasks, &m->tasks[i]);
        if (t)
            kill_task(w, t);
    }
}

static void on_parent_msg(void *arg, msg_t *m)
{
    worker_t *w = arg;
    switch (m->type) {
    case MSG_JOB:
        handle_job(w, m);
        return;
    case MSG_RECALL:
        if (w->relay)
            worker__relay_on_recall(w->relay, m->u.recall.n);
        break;
    case MSG_DENY:
        if (w->relay)
            worker__relay_on_deny(w->relay);
        break;
    case MSG_BCAST:
        if (w->bb)
            worker_bb_on_bcast(w->bb, &m->u.bcast);
        break;
    case MSG_BLOB_DATA:
        if (w->bb)
            worker_bb_on_blob_data(w->bb, &m->u.blob_data);
        break;
    case MSG_BLOB_NONE:
        if (w->bb)
            worker_bb_on_blob_none(w->bb, &m->u.blob_none);
        break;
    case MSG_ASSIGN:
        handle_assign(w, &m->u.assign);
        break;
    case MSG_ACK:
        worker__results_ack(w->results, m->u.ack.seq);
        break;
    case MSG_KILL:
        handle_kill(w, &m->u.kill);
        break;
    case MSG_ERROR: /* refused: our key, our role, our id; said once */
        if (m->u.error.text
            && strncmp(w->last_error, m->u.error.text,
                       sizeof(w->last_error) - 1) != 0) {
            snprintf(w->last_error, sizeof(w->last_error), "%s",
                     m->u.error.text);
            on_engine_log(w->engine, w->last_error, w);
        }
        break;
    default:
        w->st.unexpected++;
        break;
    }
    msg_free(m);
}

/* ------------------------------------------------------------ shutdown */

static void free_worker(worker_t *w)
{
    worker__relay_destroy(w->relay); /* NULL unless create failed */
    worker_bb_destroy(w->bb);
    /* Children's results are in no table: the window frees them. */
    worker__results_destroy(w->results);
    worker__tasks_destroy(w->tasks);
    engine_destroy(w->engine);
    worker__jobs_destroy(w->jobs);
    worker__parent_destroy(w->parent);
    free(w->name);
    worker__privdir_destroy(w->privdir);
    free(w);
}

static void handle_closed(worker_t *w)
{
    if (--w->open_handles > 0)
        return;
    w->closed = true;
    if (w->destroyed)
        free_worker(w);
    else if (w->o.done)
        w->o.done(w, w->o.done_arg); /* may destroy w */
}

static void on_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void on_parent_closed(void *arg)
{
    handle_closed(arg);
}

static void close_all(worker_t *w)
{
    if (w->closing)
        return;
    w->closing = true;
    worker__parent_close(w->parent);
    worker__relay_destroy(w->relay);
    w->relay = NULL;
    worker_bb_destroy(w->bb); /* blob waiters answered ECANCELED */
    w->bb = NULL;
    engine_close(w->engine); /* tasks still running die unreported */
    /* Tasks exec dropped are no longer running. */
    for (worker__task_t *t; (t = worker__tasks_running_next(w->tasks, NULL));)
        worker__tasks_unrun(w->tasks, t);
    uv_close((uv_handle_t *)&w->flush, on_closed);
    uv_close((uv_handle_t *)&w->stop_timer, on_closed);
    uv_close((uv_handle_t *)&w->tick_timer, on_closed);
}

static void on_stop_timer(uv_timer_t *h)
{
    close_all(h->data); /* the server did not acknowledge in time */
}

/* Once stopping: when every task has ended and its result is batched,
 * close as soon as everything is acknowledged, or when the wait ends. */
static void check_stop(worker_t *w)
{
    if (!w->stopping || w->closing || worker__tasks_nrunning(w->tasks) > 0 ||
        worker__results_queued(w->results))
        return;
    if (w->released)
        worker__results_ack(w->results, UINT64_MAX); /* nobody will */
    if (!worker__results_unacked(w->results)) {
        close_all(w);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&w->stop_timer))
        uv_timer_start(&w->stop_timer, on_stop_timer, WORKER_STOP_ACK_MS, 0);
}

/* Stopping: tasks waiting for blobs or for admission are reported
 * interrupted. */
static void drop_waiting(worker_t *w)
{
    for (worker__task_t *t; (t = worker__tasks_admit_head(w->tasks));)
        task_interrupt(w, t);
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    for (worker__job_t *j; (j = worker__jobs_next(w->jobs, &it));) {
        for (worker__task_t *t = j->waiting, *next; t; t = next) {
            next = t->wnext;
            task_interrupt(w, t);
        }
        j->waiting = NULL;
    }
}

void worker_stop(worker_t *w)
{
    if (!w || w->closing)
        return;
    if (w->stopping) {
        engine_interrupt(w->engine, 0); /* a second time: kill at once */
        return;
    }
    w->stopping = true;
    worker__parent_stop(w->parent);
    /* Tasks queued here go back up before our BYE; children go to the
     * root with what they run. */
    if (w->relay)
        worker__relay_stop(w->relay);
    drop_waiting(w);
    msg_t bye = {.type = MSG_BYE};
    worker__parent_send(w->parent, &bye);
    engine_interrupt(w->engine, -1);
}

/* ------------------------------------------------------------- set-up */

static int fill_defaults(worker_t *w, banyan_error_t *error)
{
    worker_options_t *o = &w->o;
    if (o->cpus_milli == 0)
        o->cpus_milli = (uint32_t)util_ncpus() * 1000;
    if (o->mem_bytes == 0 && util_meminfo(&o->mem_bytes, NULL) < 0)
        return errprintf(error, "cannot read /proc/meminfo: %s",
                         strerror(errno));
    if (o->score <= 0 && o->score_budget_ms > 0 &&
        score_measure(o->score_budget_ms, &o->score) < 0)
        o->score = 0;
    if (o->slots == 0)
        o->slots = (o->cpus_milli + 999) / 1000;
    if (o->ngpus < 0 || o->ngpus > GPU_MAX) {
        errno = EINVAL;
        return errprintf(error, "bad GPU count %d", o->ngpus);
    }
    if (o->ngpus > 0)
        memcpy(w->gpus, o->gpus, (size_t)o->ngpus * sizeof(w->gpus[0]));
    o->gpus = w->gpus;
    for (int i = 0; i < o->ngpus; i++) {
        w->hello_gpus[i] = (msg_gpu_t){
            .index = w->gpus[i].index, .uuid = w->gpus[i].uuid,
            .name = w->gpus[i].name,
            .mem_total_bytes = w->gpus[i].mem_total_bytes};
    }
    if (gethostname(w->host, sizeof(w->host)) < 0 || !w->host[0])
        strcpy(w->host, "localhost");
    w->host[sizeof(w->host) - 1] = '\0';
    worker_id_format(w->worker_id, sizeof(w->worker_id));
    return 0;
}

static void on_relay_child_msg(void *arg, uint32_t child, const msg_t *m)
{
    worker_t *w = arg;
    if (!w->bb)
        return;
    if (m->type == MSG_BREPLY)
        worker_bb_on_breply(w->bb, child, &m->u.breply);
    else if (m->type == MSG_BLOB_GET)
        worker_bb_on_blob_get(w->bb, child, &m->u.blob_get);
}

static void on_relay_child_lost(void *arg, uint32_t child)
{
    worker_t *w = arg;
    if (w->bb)
        worker_bb_child_lost(w->bb, child);
}

/* Bind the children's ROUTER (docs/tree.md, joining step 1).  A worker
 * with CURVE keys binds none: its children would need the server's key
 * pair to talk to it. */
static int start_relay(worker_t *w, banyan_error_t *error)
{
    if (w->o.no_relay || w->o.public_key)
        return 0;
    char ep[600];
    if (w->o.relay_bind && *w->o.relay_bind)
        snprintf(ep, sizeof(ep), "%s", w->o.relay_bind);
    else if (strncmp(w->o.endpoint, "tcp://", 6) == 0)
        msg_local_endpoint(w->o.endpoint, ep, sizeof(ep));
    else
        snprintf(ep, sizeof(ep), "ipc://%s/relay.sock",
                 worker__privdir_path(w->privdir));
    if (!ep[0])
        return 0; /* no address to offer children: attach to the root */
    worker__relay_ops_t ops = {.send_up = send_up,
                               .child_result = on_child_result,
                               .child_msg = on_relay_child_msg,
                               .child_lost = on_relay_child_lost,
                               .up_stats = up_stats};
    banyan_error_t err = {{0}};
    w->relay = worker__relay_create(w->loop, ep, w->jobs, &ops, w, &err);
    if (w->relay)
        return 0;
    /* A default that cannot be bound (an ipc path too long, no such
     * address) leaves a worker that attaches to the root only; a bind
     * asked for must work. */
    if (!w->o.relay_bind || !*w->o.relay_bind)
        return 0;
    int saved = errno;
    errprintf(error, "cannot bind --relay-bind %s: %s", ep, err.text);
    errno = saved;
    return -1;
}

static int bb_send_child(void *arg, uint32_t node, const msg_t *m)
{
    worker_t *w = arg;
    return w->relay ? worker__relay_send_child(w->relay, node, m) : -1;
}

static size_t bb_children(void *arg, uint32_t *out, size_t max)
{
    worker_t *w = arg;
    return w->relay ? worker__relay_children(w->relay, out, max) : 0;
}

static int start_bb(worker_t *w, banyan_error_t *error)
{
    /* The cache keeps its own copy of the directory's name. */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/cache", worker__privdir_path(w->privdir));
    bool given = w->o.cache_dir && *w->o.cache_dir;
    worker_bb_config_t cfg = {.cache_dir = given ? w->o.cache_dir : dir,
                              .cache_max_bytes = w->o.cache_max_bytes,
                              .noop = w->o.noop,
                              .kill_grace_ms = w->o.host.kill_grace_ms};
    worker_bb_ops_t ops = {.send_up = send_up,
                           .send_child = bb_send_child,
                           .children = bb_children,
                           .self_node = self_node};
    w->bb = worker_bb_create(w->loop, &cfg, &ops, w, error);
    return w->bb ? 0 : -1;
}

worker_t *worker_create(uv_loop_t *loop, const worker_options_t *opts,
                        banyan_error_t *error)
{
    if (!opts->endpoint || !*opts->endpoint) {
        errno = EINVAL;
        errprintf(error, "no server endpoint");
        return NULL;
    }
    if (!opts->public_key != !opts->secret_key ||
        !opts->public_key != !opts->server_key) {
        errno = EINVAL;
        errprintf(error, "CURVE needs the worker's key pair and the "
                         "server's public key");
        return NULL;
    }
    worker_t *w = calloc(1, sizeof(*w));
    if (!w) {
        errprintf(error, "out of memory");
        return NULL;
    }
    w->loop = loop;
    w->o = *opts;
    w->tasks = worker__tasks_create();
    w->jobs = worker__jobs_create();
    static const worker__results_ops_t rops = {.send = send_result,
                                               .release = on_result_release};
    w->results = worker__results_create(&rops, w);
    if (!w->tasks || !w->jobs || !w->results) {
        errprintf(error, "out of memory");
        goto error;
    }
    if (fill_defaults(w, error) < 0)
        goto error;
    if (!(w->name = strdup(opts->name ? opts->name : w->host))) {
        errprintf(error, "out of memory");
        goto error;
    }
    w->o.name = w->name;
    static const worker__parent_ops_t pops = {
        .recv = on_parent_msg, .hello = send_hello, .rejoin = on_rejoin,
        .welcome = on_welcome, .released = on_released,
        .closed = on_parent_closed};
    w->parent = worker__parent_create(loop, opts, &pops, w, error);
    if (!w->parent)
        goto error;
    w->o.endpoint = worker__parent_endpoint(w->parent);
    w->privdir = worker__privdir_create(error);
    if (!w->privdir || start_relay(w, error) < 0)
        goto error;
    /* The keys are the parent link's. */
    w->o.public_key = w->o.secret_key = w->o.server_key = NULL;
    w->o.host.slots = w->o.slots;
    w->o.host.mem_bytes = w->o.mem_bytes;
    w->o.host.learn = true; /* each job learns under its command */
    static const engine_ops_t ops = {
        .done = on_task_done, .log = on_engine_log,
    };
    w->engine = engine_create(loop, &w->o.host, &ops, w, error);
    if (!w->engine || start_bb(w, error) < 0)
        goto error;
    uv_check_init(loop, &w->flush);
    uv_timer_init(loop, &w->stop_timer);
    uv_timer_init(loop, &w->tick_timer);
    w->flush.data = w->stop_timer.data = w->tick_timer.data = w;
    w->open_handles = NHANDLES;
    uv_check_start(&w->flush, on_flush);
    uv_timer_start(&w->tick_timer, on_tick, TICK_MS, TICK_MS);
    worker__parent_start(w->parent);
    return w;
error:;
    int saved = errno;
    free_worker(w);
    errno = saved;
    return NULL;
}

void worker_destroy(worker_t *w)
{
    if (!w)
        return;
    int saved = errno;
    w->destroyed = true;
    if (!w->closing)
        close_all(w);
    else if (w->open_handles == 0)
        free_worker(w);
    errno = saved;
}

void worker_stats(const worker_t *w, worker_stats_t *st)
{
    *st = w->st;
    st->tasks_running = worker__tasks_nrunning(w->tasks);
    worker__results_stats(w->results, st);
    worker__parent_stats(w->parent, st);
    if (w->closed || w->stopping)
        st->state = w->closed ? WORKER_CLOSED : WORKER_STOPPING;
    if (w->relay)
        worker__relay_stats(w->relay, st);
}

const char *worker_relay_endpoint(const worker_t *w)
{
    return w->relay ? worker__relay_endpoint(w->relay) : NULL;
}
