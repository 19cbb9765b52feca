/* SPDX-License-Identifier: MIT */
/* server_jobs.c - jobs: their stored definition, submission, reload after
 * a restart, pending ranges, cancellation and their end.
 *
 * A job is one `runs` row (kind "job") whose spec_json is its definition
 * (msg_job_t) as msg_job_to_json() writes it: everything a worker needs
 * and what the core needs (request, priority, max_attempts; a relay gets
 * the request and priority in JOB too).  A submitted job and a reloaded
 * one go through the same parser (msg_job_from_json), so what is stored
 * is exactly what is served.  Nothing per task is kept for queued
 * tasks: the core holds index ranges.
 *
 * Pending ranges are added to the core only when some engine can ever fit
 * the job ("parked" jobs wait for one: the core would otherwise report the
 * job infeasible and drop its tasks while workers may still join), and, for
 * jobs reloaded after a restart, only once the grace period is over.  They
 * are then rebuilt as [0, ntasks) minus the task rows (ended for good)
 * minus the in-flight table.  The job table, the grace period and the
 * "some job may have ended" flag (srv_jobs_t) are this file's alone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob/blob.h"
#include "server/server_private.h"

struct srv_jobs {
    srv_job_t **v;              /* ascending id, every job known here */
    size_t n, cap;
    int64_t grace_end_ms;       /* restart grace period until; 0: none */
    bool dirty;                 /* some job may have ended */
};

static void job_free(srv_job_t *j);

srv_jobs_t *srv__jobs_create(void)
{
    return calloc(1, sizeof(srv_jobs_t));
}

void srv__jobs_destroy(srv_jobs_t *js)
{
    if (!js)
        return;
    for (size_t i = 0; i < js->n; i++)
        job_free(js->v[i]);
    free(js->v);
    free(js);
}

srv_job_t *srv__job_find(server_t *s, uint32_t id)
{
    srv_jobs_t *js = s->jobs;
    size_t lo = 0, hi = js->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (js->v[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < js->n && js->v[lo]->id == id ? js->v[lo] : NULL;
}

srv_job_t *srv__job_at(const server_t *s, size_t i)
{
    return i < s->jobs->n ? s->jobs->v[i] : NULL;
}

void srv__jobs_changed(server_t *s)
{
    s->jobs->dirty = true;
}

int64_t srv__grace_end_ms(const server_t *s)
{
    return s->jobs->grace_end_ms;
}

bool srv__job_waits_grace(const server_t *s, const srv_job_t *j)
{
    return j->reloaded && s->jobs->grace_end_ms;
}

/* ------------------------------------------------------------ the spec */

static void job_free(srv_job_t *j)
{
    if (!j)
        return;
    msg_job_fini(&j->def);
    free(j->command);
    free(j->waiters);
    srv__job_close_log(j);
    json_decref(j->spec);
    free(j);
}

/* Job id of ntasks tasks from its stored definition spec (taken, also on
 * failure): parked, in the table and in the relay (as msg_job_sched makes
 * it).  NULL with errno and e. */
static srv_job_t *job_add(server_t *s, uint32_t id, json_t *spec,
                          uint64_t ntasks, double created, banyan_error_t *e)
{
    srv_jobs_t *js = s->jobs;
    srv_job_t *j = calloc(1, sizeof(*j));
    if (!j) {
        json_decref(spec);
        errno = ENOMEM;
        errprintf(e, "out of memory");
        return NULL;
    }
    *j = (srv_job_t){.id = id, .spec = spec, /* owned from here on */
                     .ntasks = ntasks, .created = created, .parked = true};
    j->def.id = id;
    util_buf_t text = UTIL_BUF_INIT;
    sched_job_t sj;
    if (msg_job_from_json(&j->def, spec, e) < 0
        || util_command_text(&text, j->def.words, j->def.nwords) < 0
        || !(j->command = util_buf_steal(&text)))
        goto error;
    msg_job_sched(&j->def, &sj);
    if (util_grow((void **)&js->v, &js->cap, js->n + 1, sizeof(*js->v)) < 0
        || tree_relay_add_job(s->place, &sj) < 0)
        goto error;
    size_t i = js->n++;
    for (; i > 0 && js->v[i - 1]->id > j->id; i--)
        js->v[i] = js->v[i - 1];
    js->v[i] = j;
    return j;
error:
    if (errno == ENOMEM)
        errprintf(e, "out of memory");
    util_buf_fini(&text);
    job_free(j);
    return NULL;
}

void srv__stored_counts(server_t *s, uint32_t id, uint64_t *ok,
                        uint64_t *failed)
{
    int64_t all = store_tasks_count_all(s->store, id);
    int64_t n = store_tasks_count(s->store, id, BANYAN_TASK_OK);
    *ok = n > 0 ? (uint64_t)n : 0;
    *failed = all > n ? (uint64_t)(all - n) : 0;
}

const char *srv__job_state_name(srv_job_state_t st)
{
    switch (st) {
    case SRV_JOB_QUEUED: return "queued";
    case SRV_JOB_RUNNING: return "running";
    case SRV_JOB_DONE: return "done";
    case SRV_JOB_FAILED: return "failed";
    case SRV_JOB_CANCELLED: return "cancelled";
    }
    return "?";
}

void srv__job_counts(server_t *s, const srv_job_t *j, uint64_t *pending,
                     uint64_t *running)
{
    uint64_t pend, run;
    tree_relay_job_counts(s->place, j->id, &pend, &run);
    run += j->orphans;
    if (j->ended)
        pend = 0;
    else if (j->parked) /* not in the relay: everything not ended or out */
        pend = j->ntasks - j->ok - j->failed - run;
    if (pending)
        *pending = pend;
    if (running)
        *running = run;
}

/* -------------------------------------------------------- pending ranges */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct rebuild {
    server_t *s;
    srv_job_t *j;
    uint64_t *skip;     /* in-flight indices, sorted */
    size_t nskip, k;
    uint64_t cursor;    /* first index not yet decided */
    int failed;
} rebuild_t;

/* Everything in [cursor, index) is pending; index itself is not. */
static void rebuild_cut(rebuild_t *r, uint64_t index)
{
    if (index < r->cursor)
        return;
    if (index > r->cursor
        && tree_relay_add_tasks(r->s->place, r->j->id, r->cursor,
                               index - r->cursor) < 0)
        r->failed = errno;
    r->cursor = index + 1;
}

static int rebuild_seq(int64_t seq, void *arg)
{
    rebuild_t *r = arg;
    if (seq < 1 || (uint64_t)seq > r->j->ntasks)
        return 0;
    uint64_t index = (uint64_t)seq - 1;
    while (r->k < r->nskip && r->skip[r->k] < index)
        rebuild_cut(r, r->skip[r->k++]);
    rebuild_cut(r, index);
    return 0;
}

static int job_rebuild(server_t *s, srv_job_t *j)
{
    rebuild_t r = {.s = s, .j = j};
    uint64_t running;
    srv__job_counts(s, j, NULL, &running);
    if (running > 0) {
        r.skip = malloc(running * sizeof(*r.skip));
        if (!r.skip)
            return -1;
        util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
        srv_inflight_t *p;
        while (srv__fl_next(s, &it, &p))
            if (p->job == j->id && r.nskip < running)
                r.skip[r.nskip++] = p->index;
        qsort(r.skip, r.nskip, sizeof(*r.skip), cmp_u64);
    }
    int rc = store_task_seqs_foreach(s->store, j->id, rebuild_seq, &r);
    while (rc == 0 && r.k < r.nskip)
        rebuild_cut(&r, r.skip[r.k++]);
    if (rc == 0 && r.cursor < j->ntasks
        && tree_relay_add_tasks(s->place, j->id, r.cursor,
                               j->ntasks - r.cursor) < 0)
        r.failed = errno;
    free(r.skip);
    if (rc < 0) {
        srv__log(s, "job %u: cannot read its tasks: %s", j->id,
                 store_last_error(s->store));
        return -1;
    }
    if (r.failed) {
        errno = r.failed;
        srv__log(s, "job %u: cannot queue its tasks: %s", j->id,
                 strerror(errno));
        return -1;
    }
    j->parked = false;
    s->jobs->dirty = true;
    return 0;
}

void srv__jobs_unpark(server_t *s)
{
    for (size_t i = 0; i < s->jobs->n; i++) {
        srv_job_t *j = s->jobs->v[i];
        if (!j->parked || j->ended || j->cancelled
            || srv__job_waits_grace(s, j))
            continue;
        /* Some child, or subtree, that has not rejected it. */
        if (tree_relay_fits_ever(s->place, j->id, NULL))
            job_rebuild(s, j);
    }
}

/* ------------------------------------------------------------- the end */

static void send_state(server_t *s, const srv_job_t *j, const msg_peer_t *to,
                       uint64_t request)
{
    msg_t m = {.type = MSG_JOBSTATE};
    msg_jobstate_t *js = &m.u.jobstate;
    js->request = request;
    js->job = j->id;
    js->state = srv__job_state_name(j->state);
    js->ntasks = j->ntasks;
    js->ok = j->ok;
    js->failed = j->failed;
    srv__job_counts(s, j, &js->pending, &js->running);
    srv__send(s, to, &m);
}

static void job_end(server_t *s, srv_job_t *j)
{
    j->state = j->cancelled ? SRV_JOB_CANCELLED
               : j->failed > 0 ? SRV_JOB_FAILED
                               : SRV_JOB_DONE;
    if (store_run_finish(s->store, j->id, srv__job_state_name(j->state),
                         util_wall_time()) < 0) {
        if (!store_write_failure(s->store))
            srv__log(s, "job %u: cannot record its end: %s", j->id,
                     store_last_error(s->store));
        return; /* tried again at the next check */
    }
    if (store_flush(s->store) < 0) {
        if (!store_write_failure(s->store))
            srv__log(s, "cannot write the database: %s",
                     store_last_error(s->store));
        return;
    }
    j->ended = true;
    srv__job_close_log(j);
    tree_relay_remove_job(s->place, j->id);
    srv__log(s, "job %u %s: %llu ok, %llu failed", j->id,
             srv__job_state_name(j->state), (unsigned long long)j->ok,
             (unsigned long long)j->failed);
    for (size_t i = 0; i < j->nwaiters; i++)
        send_state(s, j, &j->waiters[i].peer, j->waiters[i].request);
    free(j->waiters);
    j->waiters = NULL;
    j->nwaiters = 0;
}

void srv__jobs_check(server_t *s)
{
    if (!s->jobs->dirty)
        return;
    s->jobs->dirty = false;
    for (size_t i = 0; i < s->jobs->n; i++) {
        srv_job_t *j = s->jobs->v[i];
        if (j->ended || srv__job_waits_grace(s, j))
            continue;
        uint64_t pending, running;
        srv__job_counts(s, j, &pending, &running);
        if (running > 0)
            continue;
        if (j->cancelled || (!j->parked && pending == 0)
            || j->ok + j->failed >= j->ntasks)
            job_end(s, j);
    }
}

void srv__job_started(server_t *s, srv_job_t *j)
{
    if (j->state != SRV_JOB_QUEUED)
        return;
    j->state = SRV_JOB_RUNNING;
    if (store_run_finish(s->store, j->id, "running", 0) < 0)
        srv__log(s, "job %u: cannot record its start: %s", j->id,
                 store_last_error(s->store));
}

/* --------------------------------------------------------------- submit */

/* Every blob the job names is stored here (a client uploads them first):
 * otherwise each of its tasks would fail to fetch it.  -1 with the error
 * sent. */
static int blobs_stored(server_t *s, const msg_peer_t *from,
                        const msg_submit_t *sub)
{
    for (uint32_t i = 0; i < sub->job.nblobs; i++) {
        uint64_t size;
        if (store_blob_size(s->store, sub->job.blobs[i], &size) == 0)
            continue;
        int code = errno == ENOENT ? ENOENT : EIO;
        blob_id_t id;
        char hex[BLOB_HEX_LEN + 1];
        memcpy(id.bytes, sub->job.blobs[i], sizeof(id.bytes));
        srv__send_error(s, from, sub->request, code,
                        code == ENOENT ? "no blob %s (store it first)"
                                       : "cannot read blob %s",
                        blob_id_format(&id, hex));
        return -1;
    }
    return 0;
}

void srv__handle_submit(server_t *s, const msg_peer_t *from, msg_t *m)
{
    msg_submit_t *sub = &m->u.submit;
    banyan_error_t err = {{0}};
    uint64_t ntasks = 0;
    if (msg_job_tasks(&sub->job, &ntasks, NULL, NULL, &err) < 0
        || res_request_check(&sub->job.req, &err) < 0) {
        srv__send_error(s, from, sub->request, EINVAL, "%s", err.text);
        return;
    }
    if (blobs_stored(s, from, sub) < 0)
        return;
    if (ntasks > (uint64_t)INT64_MAX / 2) {
        srv__send_error(s, from, sub->request, EINVAL, "too many tasks");
        return;
    }
    json_t *spec = msg_job_to_json(&sub->job);
    char *text = spec ? json_dumps(spec, JSON_COMPACT) : NULL;
    json_decref(spec);
    util_buf_t cmd = UTIL_BUF_INIT;
    if (!text || util_command_text(&cmd, sub->job.words, sub->job.nwords)) {
        free(text);
        util_buf_fini(&cmd);
        srv__send_error(s, from, sub->request, ENOMEM, "out of memory");
        return;
    }
    char cwd[4096];
    store_run_t run = {
        .kind = "job",
        .name = sub->job.name,
        .command = cmd.data ? cmd.data : "",
        .spec_json = text,
        .ntasks = (int64_t)ntasks,
        .state = "queued",
        .created = util_wall_time(),
        .cwd = sub->job.cwd ? sub->job.cwd : getcwd(cwd, sizeof(cwd)),
    };
    int rc = store_run_create(s->store, &run, &err);
    util_buf_fini(&cmd);
    if (rc == 0 && (run.id <= 0 || run.id > UINT32_MAX)) {
        errno = ERANGE;
        rc = errprintf(&err, "job ids are exhausted");
    }
    if (rc == 0 && store_flush(s->store) < 0)
        rc = errprintf(&err, "%s", store_last_error(s->store));
    if (rc < 0) {
        free(text);
        srv__send_error(s, from, sub->request, errno ? errno : EIO,
                        "cannot record the job: %s", err.text);
        return;
    }
    /* Durable from here: serve exactly what was stored. */
    srv_job_t *j = job_add(s, (uint32_t)run.id, json_loads(text, 0, NULL),
                           ntasks, run.created, &err);
    free(text);
    if (!j) {
        srv__send_error(s, from, sub->request, EIO,
                        "job %lld stored but not queued: %s",
                        (long long)run.id, err.text);
        return;
    }
    msg_t r = {.type = MSG_SUBMITTED};
    r.u.submitted.request = sub->request;
    r.u.submitted.job = j->id;
    r.u.submitted.ntasks = ntasks;
    if (s->o.fail_infeasible && tree_children_count(s->engines) > 0
        && !tree_relay_fits_ever(s->place, j->id, &err)) {
        j->failed = ntasks;
        srv__log(s, "job %u can never run: %s", j->id, err.text);
    } else if (tree_relay_fits_ever(s->place, j->id, NULL)) {
        job_rebuild(s, j);
    }
    srv__log(s, "job %u submitted: %llu task%s", j->id,
             (unsigned long long)ntasks, ntasks == 1 ? "" : "s");
    srv__send(s, from, &r);
    s->jobs->dirty = true;
}

/* ----------------------------------------------------------- wait, cancel */

/* A job that ended before this server started: its state from the store. */
static bool send_stored_state(server_t *s, uint32_t id, const msg_peer_t *to,
                              uint64_t request)
{
    json_t *o = srv__job_summary(s, id, "job");
    if (!o)
        return false;
    json_int_t ntasks = json_integer_value(json_object_get(o, "ntasks"));
    msg_t m = {.type = MSG_JOBSTATE};
    msg_jobstate_t *js = &m.u.jobstate;
    js->request = request;
    js->job = id;
    js->state = json_string_value(json_object_get(o, "state"));
    js->ntasks = ntasks > 0 ? (uint64_t)ntasks : 0;
    js->ok = (uint64_t)json_integer_value(json_object_get(o, "ok"));
    js->failed = (uint64_t)json_integer_value(json_object_get(o, "failed"));
    srv__send(s, to, &m);
    json_decref(o);
    return true;
}

void srv__handle_wait(server_t *s, const msg_peer_t *from, msg_t *m)
{
    const msg_wait_t *w = &m->u.wait;
    srv_job_t *j = srv__job_find(s, w->job);
    if (!j) {
        if (!send_stored_state(s, w->job, from, w->request))
            srv__send_error(s, from, w->request, ENOENT, "no job %u",
                            w->job);
        return;
    }
    if (j->ended) {
        send_state(s, j, from, w->request);
        return;
    }
    /* One waiter a connection (a client that asks again, or gave up and
     * asks anew, replaces its own), and a bound on them all. */
    for (size_t i = 0; i < j->nwaiters; i++) {
        srv_waiter_t *x = &j->waiters[i];
        if (x->peer.len == from->len
            && memcmp(x->peer.id, from->id, from->len) == 0) {
            x->request = w->request;
            return;
        }
    }
    if (j->nwaiters >= SRV_WAITERS_MAX) {
        srv__send_error(s, from, w->request, EBUSY, "job %u has %d "
                        "waiters already: try again later", j->id,
                        SRV_WAITERS_MAX);
        return;
    }
    srv_waiter_t *n = realloc(j->waiters, (j->nwaiters + 1) * sizeof(*n));
    if (!n) {
        srv__send_error(s, from, w->request, ENOMEM, "out of memory");
        return;
    }
    j->waiters = n;
    j->waiters[j->nwaiters].peer = *from;
    j->waiters[j->nwaiters].request = w->request;
    j->nwaiters++;
}

void srv__handle_cancel(server_t *s, const msg_peer_t *from, msg_t *m)
{
    const msg_cancel_t *c = &m->u.cancel;
    srv_job_t *j = srv__job_find(s, c->job);
    if (!j) {
        srv__send_error(s, from, c->request, ENOENT, "no job %u", c->job);
        return;
    }
    if (!j->ended && !j->cancelled) {
        j->cancelled = true;
        tree_relay_cancel_job(s->place, j->id);
        /* Every engine stops its tasks (adopted ones included); they
         * come back as interrupted results. */
        msg_t k = {.type = MSG_KILL};
        k.u.kill.job = j->id;
        srv_engine_t *e;
        for (size_t i = 0; (e = tree_children_at(s->engines, i)); i++)
            if (srv__worker(e)->running > 0)
                srv__send(s, &e->peer, &k);
        srv__log(s, "job %u cancelled", j->id);
        s->jobs->dirty = true;
        srv__jobs_check(s);
    }
    send_state(s, j, from, c->request);
}

/* --------------------------------------------------------------- reload */

typedef struct reload {
    server_t *s;
    banyan_error_t *error;
    int failed;
    size_t n;
} reload_t;

static int reload_run(const store_run_t *run, void *arg)
{
    reload_t *r = arg;
    server_t *s = r->s;
    if (strcmp(run->kind, "job") != 0
        || (strcmp(run->state, "queued") != 0
            && strcmp(run->state, "running") != 0))
        return 0;
    if (run->id <= 0 || run->id > UINT32_MAX)
        return 0;
    banyan_error_t err = {{0}};
    json_t *spec = json_loads(run->spec_json ? run->spec_json : "", 0, NULL);
    srv_job_t *j = job_add(s, (uint32_t)run->id, spec,
                           run->ntasks > 0 ? (uint64_t)run->ntasks : 0,
                           run->created, &err);
    if (!j && errno == ENOMEM) {
        r->failed = ENOMEM;
        errprintf(r->error, "cannot reload job %lld: %s", (long long)run->id,
                  err.text);
        return 1;
    }
    if (!j) {
        srv__log(s, "job %lld not reloaded: %s", (long long)run->id,
                 err.text);
        return 0;
    }
    j->state = strcmp(run->state, "running") == 0 ? SRV_JOB_RUNNING
                                                   : SRV_JOB_QUEUED;
    srv__stored_counts(s, j->id, &j->ok, &j->failed);
    j->reloaded = true;
    r->n++;
    return 0;
}

int srv__reload_jobs(server_t *s, banyan_error_t *error)
{
    reload_t r = {.s = s, .error = error};
    int rc = store_runs_foreach(s->store, 0, 0, reload_run, &r);
    if (rc < 0)
        return errprintf(error, "cannot read the jobs: %s",
                         store_last_error(s->store));
    if (r.failed) {
        errno = r.failed;
        return -1;
    }
    if (r.n > 0 && s->o.grace_ms > 0) {
        s->jobs->grace_end_ms = util_mono_ms() + s->o.grace_ms;
        srv__log(s, "%zu unfinished job%s reloaded; waiting %lld ms for "
                 "workers to report their tasks", r.n, r.n == 1 ? "" : "s",
                 (long long)s->o.grace_ms);
    }
    s->jobs->dirty = true;
    return 0;
}

void srv__jobs_beat(server_t *s, int64_t now_ms)
{
    if (!s->jobs->grace_end_ms || now_ms < s->jobs->grace_end_ms)
        return;
    s->jobs->grace_end_ms = 0;
    srv__log(s, "grace period over: %llu task%s adopted",
             (unsigned long long)s->st.adopted,
             s->st.adopted == 1 ? "" : "s");
    for (size_t i = 0; i < s->jobs->n; i++) {
        srv_job_t *j = s->jobs->v[i];
        if (j->reloaded && j->cancelled)
            j->parked = false;
    }
    srv__jobs_unpark(s);
    s->jobs->dirty = true;
}
