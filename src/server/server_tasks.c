/* SPDX-License-Identifier: MIT */
/* server_tasks.c - tasks in flight: the table, ASSIGN batches, results,
 * losses, adoption after a restart, and the per-job log.
 *
 * The in-flight table (srv_tasks_t, this file's alone) is a util_hmap
 * keyed by (job, index): one entry per running task, nothing for queued
 * ones.  Each START action of the core becomes an
 * entry, then an entry of its engine's ASSIGN batch; a matching result
 * (same engine and attempt) removes it.  A result that matches no entry is
 * a duplicate (re-sent after a reconnect, or from a worker we gave up on)
 * and is only acknowledged -- except, during the grace period after a
 * restart, the result of a task of a reloaded job that has no row yet: the
 * restarted server never saw that task start, and records it.
 *
 * Tasks a HELLO reports running (after a restart, or a node that moved)
 * are adopted by the relay's core (tree_relay_adopt) like any other, so
 * one retry rule ends every task; their entries keep their indices out of
 * the pending ranges that srv__jobs_beat() rebuilds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/server_private.h"

/* ---------------------------------------------------------------- table */

struct srv_tasks {
    util_hmap_t *fl;            /* fl_key_t -> srv_inflight_t */
    util_hmap_t *lost;          /* fl_key_t -> uint32_t: losses of a task
                                   requeued after a held orphan's grace,
                                   which the core no longer counts */
    tree_action_t *acts;        /* step buffer, max_actions entries */
};

typedef struct fl_key {
    uint64_t index;
    uint64_t job;
} fl_key_t;

srv_tasks_t *srv__tasks_create(uint32_t max_actions)
{
    srv_tasks_t *t = calloc(1, sizeof(*t));
    if (!t || !(t->acts = calloc(max_actions, sizeof(*t->acts)))
        || !(t->fl = util_hmap_create(sizeof(fl_key_t),
                                      sizeof(srv_inflight_t), NULL, NULL))
        || !(t->lost = util_hmap_create(sizeof(fl_key_t), sizeof(uint32_t),
                                        NULL, NULL))) {
        srv__tasks_destroy(t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

void srv__tasks_destroy(srv_tasks_t *t)
{
    if (!t)
        return;
    util_hmap_destroy(t->fl);
    util_hmap_destroy(t->lost);
    free(t->acts);
    free(t);
}

srv_inflight_t *srv__fl_find(server_t *s, uint32_t job, uint64_t index)
{
    fl_key_t k = {index, job};
    return util_hmap_find(s->tasks->fl, &k);
}

/* A copy of e in the table.  NULL with ENOMEM. */
static srv_inflight_t *fl_put(server_t *s, const srv_inflight_t *e)
{
    fl_key_t k = {e->index, e->job};
    srv_inflight_t *p = util_hmap_insert(s->tasks->fl, &k, NULL);
    if (p)
        *p = *e;
    return p;
}

static void fl_del(server_t *s, srv_inflight_t *e)
{
    fl_key_t k = {e->index, e->job};
    util_hmap_remove(s->tasks->fl, &k);
}

bool srv__fl_next(server_t *s, util_hmap_iter_t *it, srv_inflight_t **p)
{
    return util_hmap_next(s->tasks->fl, it, NULL, (void **)p);
}

size_t srv__fl_count(const server_t *s)
{
    return util_hmap_count(s->tasks->fl);
}

/* ------------------------------------------------------------- the log */

void srv__job_close_log(srv_job_t *j)
{
    if (j && j->log) {
        fclose(j->log);
        j->log = NULL;
    }
}

/* Append one record: "SEQ STREAM LEN\n" then LEN bytes then "\n". */
static int log_append(server_t *s, srv_job_t *j, uint64_t seq,
                    const char *stream, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (!j->log) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%u.log", s->log_dir, j->id);
        j->log = fopen(path, "ab");
        if (!j->log) {
            srv__log(s, "cannot open %s: %s", path, strerror(errno));
            return -1;
        }
        chmod(path, 0600);
    }
    fprintf(j->log, "%llu %s %zu\n", (unsigned long long)seq, stream, len);
    fwrite(data, 1, len, j->log);
    fputc('\n', j->log);
    return ferror(j->log) ? -1 : 0;
}

/* ------------------------------------------------------------ recording */

static void gpus_text(server_t *s, uint32_t engine, uint64_t mask, char *buf,
                      size_t size)
{
    buf[0] = '\0';
    const res_pool_t *p = mask ? tree_relay_child_pool(s->place, engine)
                               : NULL;
    if (!p)
        return;
    const res_capacity_t *cap = res_pool_capacity(p);
    size_t n = 0;
    for (int i = 0; i < cap->ngpus && i < 64; i++)
        if (mask & (1ULL << i))
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%d",
                                  n ? "," : "", cap->gpus[i].index);
}

/* The last SRV_TAIL_MAX bytes of an output tail (NULL when empty). */
static const void *tail(const void *data, uint32_t len, int *kept)
{
    *kept = len > SRV_TAIL_MAX ? SRV_TAIL_MAX : (int)len;
    return len ? (const char *)data + (len - (uint32_t)*kept) : NULL;
}

/* Record the final end of fl's task as r says (its engine's
 * classification and output tails), run on host (NULL: none).  0 or -1. */
static int record_final(server_t *s, srv_job_t *j, const srv_inflight_t *fl,
                      const msg_result_entry_t *r, const char *host)
{
    char gpus[256];
    gpus_text(s, fl->engine, fl->gpu_mask, gpus, sizeof(gpus));
    const banyan_task_end_t *d = &r->end;
    store_task_t t = {
        .run_id = j->id,
        .seq = (int64_t)fl->index + 1,
        .state = d->state,
        .attempt = (int)fl->attempt,
        .slot = (int)fl->slot,
        .gpus = gpus,
        .host = host,
        .reason = d->reason[0] ? d->reason : NULL,
        .exit_code = d->exit_code,
        .signal = d->term_signal,
        .start_time = d->start_time,
        .end_time = d->end_time,
        .cpu_user = d->cpu_user,
        .cpu_sys = d->cpu_sys,
        .peak_rss = (int64_t)d->peak_rss_bytes,
    };
    t.stdout_tail = tail(r->out_tail, r->out_tail_len, &t.stdout_tail_len);
    t.stderr_tail = tail(r->err_tail, r->err_tail_len, &t.stderr_tail_len);
    if (store_task_finish(s->store, &t) < 0) {
        if (!store_write_failure(s->store)) /* else said once, and we stop */
            srv__log(s, "job %u task %llu: cannot record: %s", j->id,
                     (unsigned long long)fl->index + 1,
                     store_last_error(s->store));
        return -1;
    }
    if (d->state == BANYAN_TASK_OK)
        j->ok++;
    else
        j->failed++;
    srv__jobs_changed(s);
    return 0;
}

/* -------------------------------------------------------------- ASSIGN */

/* A placed task goes back to pending at the root, no attempt used (it
 * never reached its child). */
void srv__requeue_placed(server_t *s, uint32_t job, uint64_t index)
{
    if (tree_relay_forget(s->place, job, index) == 0)
        tree_relay_add_tasks(s->place, job, index, 1);
}

/* Entry p (not orphaned) comes on (d = 1) or off (-1) its child's count. */
static void count(server_t *s, const srv_inflight_t *p, int d)
{
    srv_engine_t *e = p->orphaned ? NULL
                                  : tree_children_find(s->engines,
                                                       SRV_BASE(p->engine));
    if (e && d > 0)
        srv__worker(e)->running++;
    else if (e)
        srv__worker(e)->running--;
}

void srv__fl_drop(server_t *s, srv_inflight_t *p)
{
    count(s, p, -1);
    fl_del(s, p);
}

static void assign_action(server_t *s, const tree_action_t *a)
{
    srv_job_t *j = srv__job_find(s, a->job_id);
    srv_engine_t *e = tree_children_find(s->engines, SRV_BASE(a->child));
    if (!j || !e) { /* cannot happen: both are removed from the relay */
        tree_relay_task_done(s->place, a->job_id, a->index, SCHED_FINAL);
        return;
    }
    fl_key_t k = {a->index, a->job_id};
    const uint32_t *before = util_hmap_find(s->tasks->lost, &k);
    srv_inflight_t fl = {.index = a->index,
                         .gpu_mask = a->exact ? a->alloc.gpu_mask : 0,
                         .job = a->job_id, .engine = a->child,
                         .attempt = a->attempt, .slot = a->alloc.slot,
                         .lost = a->lost + (before ? *before : 0)};
    if (before)
        util_hmap_remove(s->tasks->lost, &k);
    if (fl.lost >= s->o.crash_limit) {
        msg_result_entry_t r = {.end = {.state = BANYAN_TASK_FAILED,
                                        .exit_code = -1,
                                        .end_time = util_wall_time()}};
        snprintf(r.end.reason, sizeof(r.end.reason),
                 "lost with its worker %u times", fl.lost);
        tree_relay_task_done(s->place, a->job_id, a->index, SCHED_FINAL);
        record_final(s, j, &fl, &r, NULL);
        return;
    }
    msg_t jm = {.type = MSG_JOB};
    jm.u.job = j->def;
    (void)tree_child_job(s->engines, e, &jm); /* else with the next one */
    /* A task for a subtree is placed by the child's relay. */
    msg_assign_entry_t ae = {.task = {a->job_id, a->index, a->attempt},
                             .slot = a->exact ? a->alloc.slot : MSG_SLOT_ANY,
                             .gpu_mask = fl.gpu_mask,
                             .gpu_milli_each = a->exact
                                                   ? a->alloc.gpu_milli_each
                                                   : 0};
    if (!fl_put(s, &fl) || tree_child_assign(e, &ae) < 0) {
        srv_inflight_t *p = srv__fl_find(s, a->job_id, a->index);
        if (p)
            fl_del(s, p);
        srv__requeue_placed(s, a->job_id, a->index);
        return;
    }
    srv__worker(e)->running++;
    srv__job_started(s, j);
}

static void infeasible_action(server_t *s, const tree_action_t *a)
{
    srv_job_t *j = srv__job_find(s, a->job_id);
    if (!j)
        return;
    if (s->o.fail_infeasible) {
        j->failed += a->count;
        srv__log(s, "job %u: %llu task%s can never run: %s", j->id,
                 (unsigned long long)a->count, a->count == 1 ? "" : "s",
                 a->reason);
    } else {
        /* Keep it for engines still to come: rebuilt when one fits. */
        j->parked = true;
        srv__log(s, "job %u waits for a worker that fits it: %s", j->id,
                 a->reason);
    }
    srv__jobs_changed(s);
}

/* A steal (docs/tree.md, "Work stealing"): RECALL to the victim, or DENY
 * to a thief that got nothing. */
static void steal_action(server_t *s, const tree_action_t *a)
{
    srv_engine_t *e = tree_children_find(s->engines, SRV_BASE(a->child));
    if (!e)
        return;
    msg_t m = {.type = a->type == TREE_ACT_RECALL ? MSG_RECALL : MSG_DENY};
    if (a->type == TREE_ACT_RECALL)
        m.u.recall.n = (uint32_t)a->count;
    if (srv__send(s, &e->peer, &m) < 0)
        return;
    if (a->type == TREE_ACT_RECALL)
        s->st.recalls++;
    else
        s->st.denies++;
}

/* ASSIGN entries that never reached their worker: back to the queue. */
static void unsent(void *arg, tree_child_t *c, const msg_assign_entry_t *v,
                   size_t n)
{
    (void)c;
    for (size_t k = 0; k < n; k++) {
        srv_inflight_t *p = srv__fl_find(arg, v[k].task.job, v[k].task.index);
        if (p)
            srv__fl_drop(arg, p);
        srv__requeue_placed(arg, v[k].task.job, v[k].task.index);
    }
}

bool srv__schedule(server_t *s, int64_t now_ms)
{
    /* Nothing starts that could not be recorded. */
    if (tree_children_count(s->engines) == 0
        || store_write_failure(s->store))
        return false;
    /* One step a pump: at most max_actions, so that the loop stays
     * responsive (the pump runs again while work is pending). */
    int n = tree_relay_step(s->place, now_ms, s->tasks->acts,
                            (int)s->o.max_actions);
    for (int i = 0; i < n; i++) {
        const tree_action_t *a = &s->tasks->acts[i];
        switch (a->type) {
        case TREE_ACT_ASSIGN: assign_action(s, a); break;
        case TREE_ACT_INFEASIBLE: infeasible_action(s, a); break;
        case TREE_ACT_RECALL:
        case TREE_ACT_DENY: steal_action(s, a); break;
        default: break; /* below the root only */
        }
    }
    s->st.assigned += tree_children_flush(s->engines, unsent, s);
    return n == (int)s->o.max_actions;
}

/* -------------------------------------------------------------- results */

static int has_row_cb(const store_task_t *t, void *arg)
{
    (void)t;
    *(bool *)arg = true;
    return 0;
}

static bool has_row(server_t *s, uint32_t job, uint64_t index)
{
    bool seen = false;
    if (store_task_get(s->store, job, (int64_t)index + 1, has_row_cb, &seen)
        < 0 && errno != ENOENT)
        return true; /* cannot tell: do not record twice */
    return seen;
}

static void append_tails(server_t *s, srv_job_t *j, uint64_t index,
                         const msg_result_entry_t *r)
{
    log_append(s, j, index + 1, "stdout", r->out_tail, r->out_tail_len);
    log_append(s, j, index + 1, "stderr", r->err_tail, r->err_tail_len);
}

static void one_result(server_t *s, srv_engine_t *e,
                       const msg_result_entry_t *r)
{
    srv_job_t *j = srv__job_find(s, r->task.job);
    if (!j || j->ended) {
        s->st.duplicates++;
        return;
    }
    sched_outcome_t out = sched_outcome_of(&r->end);
    srv_inflight_t *p = srv__fl_find(s, r->task.job, r->task.index);
    if (!p) {
        /* A task this server never started: after a restart, a result
         * that was not ACKed before it. */
        if (!srv__job_waits_grace(s, j) || r->task.index >= j->ntasks
            || sched_retry_allowed(out, r->task.attempt,
                                   j->def.max_attempts)
            || has_row(s, j->id, r->task.index)) {
            s->st.duplicates++;
            return;
        }
        srv_inflight_t fl = {.index = r->task.index, .job = j->id,
                             .engine = e->id, .attempt = r->task.attempt};
        append_tails(s, j, r->task.index, r);
        if (record_final(s, j, &fl, r, e->name) == 0)
            s->st.results++;
        srv__worker(e)->tasks_done++;
        return;
    }
    /* From the branch it was placed on; an orphaned task from any branch
     * (the engine that ran it reattached elsewhere). */
    if ((SRV_BASE(p->engine) != e->id && !p->orphaned)
        || p->attempt != r->task.attempt) {
        s->st.duplicates++;
        return;
    }
    srv_inflight_t fl = *p;
    if (fl.orphaned) {
        /* Back on the branch that reports it, so that the core ends it
         * (failing that, it is recorded as it ended, not retried). */
        j->orphans--;
        fl.engine = srv__branch_child(s, e->id);
        (void)tree_relay_adopt(s->place, fl.engine, fl.job, fl.index,
                               fl.attempt, NULL);
    }
    srv__fl_drop(s, p);
    srv__worker(e)->tasks_done++;
    s->st.results++;
    srv__tree_task_time(s, r);
    bool final = tree_relay_task_done(s->place, j->id, fl.index, out) != 1;
    append_tails(s, j, fl.index, r);
    if (final)
        record_final(s, j, &fl, r, e->name);
    srv__jobs_changed(s);
}

void srv__handle_result(server_t *s, srv_engine_t *e, msg_t *m)
{
    const msg_result_t *res = &m->u.result;
    /* Entries are taken even from a batch seen before (the in-flight
     * table tells duplicates); its ACK follows the next commit. */
    (void)tree_child_result(s->engines, e, res->seq);
    for (uint32_t i = 0; i < res->n; i++)
        one_result(s, e, &res->entries[i]);
}

/* ------------------------------------------------------ losses, adoption */

static void orphan_record(server_t *s, srv_inflight_t *p, int64_t now_ms);

void srv__engine_drop_tasks(server_t *s, srv_engine_t *e, int64_t hold_ms)
{
    /* What the relay placed on e: held as orphans for hold_ms (it may
     * come back and claim them: a pause, a partition), or requeued by the
     * relay at once (a run lost).  Its subtree's were orphaned before
     * (srv__tree_child_lost). */
    srv_worker_t *w = srv__worker(e);
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    srv_inflight_t *p;
    int64_t now = util_mono_ms();
    while (w->running > 0 && srv__fl_next(s, &it, &p))
        if (!p->orphaned && SRV_BASE(p->engine) == e->id) {
            w->running--;
            if (hold_ms <= 0) {
                util_hmap_iter_remove(s->tasks->fl, &it);
                continue;
            }
            tree_relay_forget(s->place, p->job, p->index);
            orphan_record(s, p, now);
            p->orphaned = now + hold_ms;
            p->held = true;
        }
    if (tree_relay_remove_child(s->place, e->id) < 0 && errno != ENOENT)
        srv__log(s, "engine %u: cannot requeue its tasks: %s", e->id,
                 strerror(errno));
    w->running = 0;
}

/* Entry p, in no engine's count and not in the relay, waits for its grace
 * period. */
static void orphan_record(server_t *s, srv_inflight_t *p, int64_t now_ms)
{
    srv_job_t *j = srv__job_find(s, p->job);
    if (j)
        j->orphans++;
    p->orphaned = now_ms + (s->o.grace_ms > 0 ? s->o.grace_ms : 0);
    s->st.orphaned++;
}

/* Account entry p (new or orphaned: in no engine's count, not in the
 * relay) on relay child `child` with the attempt it has.  When the relay
 * cannot (the branch is no child here yet: a node redirected before its
 * new parent said HELLO), p stays outside the relay as an orphan: its
 * result or a HELLO claims it, else it is requeued after the grace. */
static bool attach(server_t *s, srv_job_t *j, srv_inflight_t *p,
                   uint32_t child)
{
    p->reported = 1;
    p->engine = child;
    p->slot = 0;
    p->gpu_mask = 0;
    if (tree_relay_adopt(s->place, child, p->job, p->index, p->attempt,
                         NULL) < 0) {
        if (!p->orphaned)
            orphan_record(s, p, util_mono_ms());
        return false;
    }
    if (p->orphaned)
        j->orphans--;
    p->orphaned = 0;
    p->held = false;
    count(s, p, 1);
    return true;
}

/* One task a (re)attaching node lists as running on child `child`;
 * false: kill it. */
static bool adopt_one(server_t *s, uint32_t child, const msg_task_ref_t *t)
{
    srv_job_t *j = srv__job_find(s, t->job);
    if (!j || j->ended || j->cancelled || t->index >= j->ntasks)
        return false;
    srv_inflight_t *p = srv__fl_find(s, t->job, t->index);
    if (p) {
        if (p->attempt != t->attempt)
            return false; /* a stale run: another one is under way */
        if (p->engine == child && !p->orphaned)
            return true;  /* already there */
        /* An entry on another child's own engine is a new run of the task,
         * requeued when this node was given up for lost (an engine's own
         * entries go with it; its subtree's are orphaned). */
        if (!p->orphaned && !(p->engine & SRV_SUB))
            return false;
        /* Its entry moves to the node's new branch (an orphan counts as
         * adopted once the relay has it). */
        bool orphan = p->orphaned != 0;
        if (!orphan) {
            count(s, p, -1);
            tree_relay_forget(s->place, p->job, p->index);
        }
        if (attach(s, j, p, child) && orphan)
            s->st.orphans_adopted++;
        return true;
    }
    /* Unknown here and not ended: after a restart, a task of a reloaded
     * job (during the grace period); or one requeued when its engine was
     * given up for lost (a pause, a partition) and not given out since.
     * The run it reports goes on where it is. */
    if (has_row(s, t->job, t->index))
        return false;
    srv_inflight_t fl = {.index = t->index, .job = t->job,
                         .attempt = t->attempt};
    if (!(p = fl_put(s, &fl)))
        return false;
    if (srv__job_waits_grace(s, j)) {
        s->st.adopted++;
        attach(s, j, p, child);
        return true;
    }
    p->reported = 1;
    p->engine = child;
    if (tree_relay_adopt(s->place, child, t->job, t->index, t->attempt,
                         NULL) < 0) {
        srv__fl_drop(s, p);
        return false;
    }
    count(s, p, 1);
    s->st.adopted++;
    return true;
}

void srv__adopt(server_t *s, uint32_t child, const msg_hello_t *h,
                const msg_peer_t *peer, const char *name)
{
    uint32_t nkill = 0;
    for (uint32_t i = 0; i < h->nrunning; i++) {
        if (adopt_one(s, child, &h->running[i]))
            continue;
        /* Not ours to keep: it must not finish a second time. */
        msg_t m = {.type = MSG_KILL};
        m.u.kill.job = h->running[i].job;
        m.u.kill.n = 1;
        m.u.kill.tasks = &h->running[i];
        srv__send(s, peer, &m);
        nkill++;
    }
    if (nkill > 0)
        srv__log(s, "worker %s: %u reported task%s not adopted (killed)",
                 name, nkill, nkill == 1 ? "" : "s");
    srv__jobs_changed(s);
}

/* ------------------------------------------------------------ the tree */

void srv__orphan(server_t *s, srv_inflight_t *p, int64_t now_ms)
{
    if (p->orphaned)
        return;
    count(s, p, -1);
    tree_relay_forget(s->place, p->job, p->index);
    orphan_record(s, p, now_ms);
}

void srv__orphans_expire(server_t *s, int64_t now_ms)
{
    bool any = false;
    srv_job_t *j;
    for (size_t i = 0; !any && (j = srv__job_at(s, i)); i++)
        any = j->orphans > 0;
    uint64_t n = 0;
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    srv_inflight_t *p;
    while (any && srv__fl_next(s, &it, &p)) {
        if (!p->orphaned || p->orphaned > now_ms)
            continue;
        /* Pending again, no attempt counted; a held one's loss is. */
        uint32_t job = p->job;
        uint64_t index = p->index;
        fl_key_t k = {index, job};
        uint32_t *lost = p->held ? util_hmap_insert(s->tasks->lost, &k,
                                                    NULL)
                                 : NULL;
        if (lost)
            *lost = p->lost + 1;
        util_hmap_iter_remove(s->tasks->fl, &it);
        n++;
        if (!(j = srv__job_find(s, job)))
            continue;
        j->orphans--;
        if (!j->cancelled && !j->ended && !srv__job_waits_grace(s, j)
            && !j->parked)
            tree_relay_add_tasks(s->place, job, index, 1);
        srv__jobs_changed(s);
    }
    if (n > 0) {
        s->st.orphans_requeued += n;
        srv__log(s, "%llu orphaned task%s not claimed within the grace "
                 "period: requeued", (unsigned long long)n,
                 n == 1 ? "" : "s");
    }
}
