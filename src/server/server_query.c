/* SPDX-License-Identifier: MIT */
/* server_query.c - answers to MSG_QUERY: status, results, log, explain,
 * blob.
 *
 * Answers are JSON objects (docs/cluster.md, "Client queries").  Results
 * are paged by task number: "offset" is the last seq already seen (0 at
 * first) and "next_offset" the one to ask for next, so a page costs its own
 * rows, never a scan of the rows before it.  Output bytes are not always
 * UTF-8: JSON strings carry them repaired (util_utf8_repair: U+FFFD for a
 * stray byte).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"
#include "server/server_private.h"

enum {
    RESULTS_LIMIT_MAX = 10000,
    LOG_CHUNK_MAX = 1 << 20,
};

/* A JSON string of arbitrary bytes. */
json_t *srv__bytes_json(const void *data, size_t len)
{
    json_t *v = data ? json_stringn(data, len) : json_string("");
    if (v || !data)
        return v;
    char *text = util_utf8_repair(data, len, &len);
    v = text ? json_stringn(text, len) : NULL;
    free(text);
    return v;
}

void srv__send_answer(server_t *s, const msg_peer_t *to, uint64_t request,
                      json_t *o)
{
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) {
        srv__send_error(s, to, request, ENOMEM, "out of memory");
        return;
    }
    msg_t m = {.type = MSG_ANSWER};
    m.u.answer.request = request;
    m.u.answer.json = text;
    srv__send(s, to, &m);
    free(text);
}

static json_t *job_json(server_t *s, const srv_job_t *j)
{
    uint64_t pending, running;
    srv__job_counts(s, j, &pending, &running);
    return json_pack("{s:I, s:s?, s:s, s:i, s:I, s:I, s:I, s:I, s:I}",
                     "id", (json_int_t)j->id, "name", j->def.name,
                     "state", srv__job_state_name(j->state),
                     "priority", j->def.priority,
                     "ntasks", (json_int_t)j->ntasks,
                     "pending", (json_int_t)pending,
                     "running", (json_int_t)running,
                     "ok", (json_int_t)j->ok,
                     "failed", (json_int_t)j->failed);
}

static void q_status(server_t *s, const msg_peer_t *to, uint64_t request)
{
    msg_sock_stats_t ss = {0};
    if (s->sock)
        msg_sock_stats(s->sock, &ss);
    int64_t now = util_mono_ms();
    json_t *engines = json_array();
    srv_engine_t *e;
    for (size_t i = 0; (e = tree_children_at(s->engines, i)); i++) {
        const srv_worker_t *w = srv__worker(e);
        json_t *o = json_pack(
            "{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:b, s:f, s:I, "
            "s:I}", "id", (json_int_t)e->id, "name", e->name,
            "host", e->host ? e->host : "?",
            "slots", (json_int_t)e->cap.slots,
            "running", (json_int_t)w->running,
            "cpus_milli", (json_int_t)e->cap.cpus_milli,
            "mem_bytes", (json_int_t)e->cap.mem_bytes,
            "gpus", (json_int_t)e->cap.ngpus, "score", w->score,
            "noop", w->noop,
            "last_seen_s", (double)(now - e->last_heard_ms) / 1000.0,
            "tasks_done", (json_int_t)w->tasks_done,
            "blob_bytes_out", (json_int_t)w->blob_bytes_out);
        if (o && w->node)
            json_object_set_new(o, "subtree", json_pack(
                "{s:I, s:I, s:I, s:I}", "engines",
                (json_int_t)e->sub.engines, "slots",
                (json_int_t)e->sub.slots, "queued", (json_int_t)e->queued,
                "running", (json_int_t)tree_relay_child_inflight(
                    s->place, SRV_SUB | e->id)));
        json_array_append_new(engines, o);
    }
    json_t *jobs = json_array();
    srv_job_t *j;
    for (size_t i = 0; (j = srv__job_at(s, i)); i++)
        json_array_append_new(jobs, job_json(s, j));
    server_stats_t st;
    server_get_stats(s, &st);
    char epoch[32];
    snprintf(epoch, sizeof(epoch), "%016llx", (unsigned long long)s->epoch);
    json_t *srv = json_pack(
        "{s:s, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "epoch",
        epoch,
        "db", s->db_path, "uptime_s", (double)(now - s->start_ms) / 1000.0,
        "engines", (json_int_t)st.engines, "jobs", (json_int_t)st.jobs_active,
        "tasks_running", (json_int_t)st.tasks_running,
        "malformed", (json_int_t)ss.malformed,
        "refused", (json_int_t)ss.refused,
        "forbidden", (json_int_t)st.forbidden, "forged", (json_int_t)st.forged,
        "grace", st.in_grace);
    srv__send_answer(s, to, request, json_pack("{s:o, s:o, s:o, s:o*}", "server", srv,
                                     "engines", engines, "jobs", jobs,
                                     "tree", srv__tree_json(s)));
}

/* ------------------------------------------------------------- results */

typedef struct page {
    json_t *tasks;
    int64_t last;
    int n;
} page_t;

static int page_row(const store_task_t *t, void *arg)
{
    page_t *p = arg;
    json_t *o = json_pack(
        "{s:I, s:s, s:i, s:i, s:i, s:s?, s:s?, s:f, s:f, s:f, s:f, s:I, "
        "s:s?, s:o, s:o}",
        "seq", (json_int_t)t->seq, "state",
        banyan_task_state_name(t->state), "exit_code",
        t->exit_code, "signal", t->signal, "attempt", t->attempt, "worker",
        t->host, "gpus", t->gpus, "start_time", t->start_time, "end_time",
        t->end_time, "cpu_user", t->cpu_user, "cpu_sys", t->cpu_sys,
        "peak_rss", (json_int_t)t->peak_rss, "reason", t->reason,
        "stdout_tail", srv__bytes_json(t->stdout_tail, (size_t)t->stdout_tail_len),
        "stderr_tail", srv__bytes_json(t->stderr_tail, (size_t)t->stderr_tail_len));
    if (o)
        json_array_append_new(p->tasks, o);
    p->last = t->seq;
    p->n++;
    return 0;
}

typedef struct run_info {
    const char *kind; /* NULL: a run of any kind */
    json_t *o;
} run_info_t;

static int run_info_row(const store_run_t *r, void *arg)
{
    run_info_t *ri = arg;
    if (ri->kind && strcmp(r->kind, ri->kind) != 0)
        return 0;
    ri->o = json_pack("{s:I, s:s?, s:s, s:I, s:s}", "id", (json_int_t)r->id,
                      "name", r->name, "state", r->state, "ntasks",
                      (json_int_t)r->ntasks, "command", r->command);
    return 0;
}

json_t *srv__job_summary(server_t *s, uint32_t id, const char *kind)
{
    srv_job_t *j = srv__job_find(s, id);
    if (j)
        return json_pack("{s:I, s:s?, s:s, s:I, s:I, s:I, s:s}", "id",
                         (json_int_t)j->id, "name", j->def.name, "state",
                         srv__job_state_name(j->state), "ntasks",
                         (json_int_t)j->ntasks, "ok", (json_int_t)j->ok,
                         "failed", (json_int_t)j->failed, "command",
                         j->command);
    run_info_t ri = {.kind = kind};
    if (store_runs_foreach(s->store, id, 1, run_info_row, &ri) < 0 || !ri.o)
        return NULL;
    uint64_t ok, failed;
    srv__stored_counts(s, id, &ok, &failed);
    json_object_set_new(ri.o, "ok", json_integer((json_int_t)ok));
    json_object_set_new(ri.o, "failed", json_integer((json_int_t)failed));
    return ri.o;
}

static void q_results(server_t *s, const msg_peer_t *to, uint64_t request,
                      json_t *args)
{
    json_int_t id = json_integer_value(json_object_get(args, "job"));
    json_int_t after = json_integer_value(json_object_get(args, "offset"));
    json_int_t limit = json_integer_value(json_object_get(args, "limit"));
    if (limit <= 0 || limit > RESULTS_LIMIT_MAX)
        limit = limit <= 0 ? 1000 : RESULTS_LIMIT_MAX;
    json_t *job = id > 0 && id <= UINT32_MAX
                      ? srv__job_summary(s, (uint32_t)id, NULL)
                      : NULL;
    if (!job) {
        srv__send_error(s, to, request, ENOENT, "no job %lld",
                        (long long)id);
        return;
    }
    page_t p = {.tasks = json_array(), .last = after};
    if (store_tasks_page(s->store, id, after, (int)limit, page_row, &p) < 0) {
        json_decref(job);
        json_decref(p.tasks);
        srv__send_error(s, to, request, EIO, "cannot read the tasks: %s",
                        store_last_error(s->store));
        return;
    }
    json_t *next = p.n == limit ? json_integer(p.last) : json_null();
    srv__send_answer(s, to, request, json_pack("{s:o, s:o, s:o}", "job", job, "tasks",
                                     p.tasks, "next_offset", next));
}

/* ----------------------------------------------------------------- log */

static void q_log(server_t *s, const msg_peer_t *to, uint64_t request,
                  json_t *args)
{
    json_int_t id = json_integer_value(json_object_get(args, "job"));
    json_t *jt = json_object_get(args, "task");
    json_int_t task = json_is_integer(jt) ? json_integer_value(jt) : 0;
    json_int_t off = json_integer_value(json_object_get(args, "offset"));
    if (id <= 0 || id > UINT32_MAX || off < 0) {
        srv__send_error(s, to, request, ENOENT, "no job %lld",
                        (long long)id);
        return;
    }
    srv_job_t *j = srv__job_find(s, (uint32_t)id);
    if (j && j->log)
        fflush(j->log);
    char path[4096];
    snprintf(path, sizeof(path), "%s/%lld.log", s->log_dir, (long long)id);
    FILE *f = fopen(path, "rb");
    util_buf_t data = UTIL_BUF_INIT;
    bool eof = true;
    long pos = (long)off;
    if (f && fseek(f, pos, SEEK_SET) == 0) {
        char head[128];
        while (data.len < LOG_CHUNK_MAX && fgets(head, sizeof(head), f)) {
            unsigned long long seq;
            char stream[16];
            size_t len;
            if (sscanf(head, "%llu %15s %zu", &seq, stream, &len) != 3)
                break; /* a torn record at the end: stop there */
            if (data.len > 0 && data.len + len > LOG_CHUNK_MAX) {
                eof = false;
                break;
            }
            bool want = task <= 0 || (json_int_t)seq == task;
            if (want && util_buf_reserve(&data, len + 1) < 0)
                break;
            if (want) {
                if (fread(data.data + data.len, 1, len, f) != len)
                    break;
                data.len += len;
                data.data[data.len] = '\0';
            } else if (fseek(f, (long)len, SEEK_CUR) < 0) {
                break;
            }
            if (fgetc(f) != '\n')
                break;
            pos = ftell(f);
        }
        if (eof && fgetc(f) != EOF)
            eof = false;
    }
    if (f)
        fclose(f);
    json_t *stored = f || j ? NULL : srv__job_summary(s, (uint32_t)id, NULL);
    if (!f && !j && !stored) {
        srv__send_error(s, to, request, ENOENT, "no job %lld",
                        (long long)id);
        return;
    }
    json_decref(stored); /* only whether the job exists */
    json_t *o = json_pack("{s:I, s:o, s:o, s:I, s:b}", "job", id, "task",
                          task > 0 ? json_integer(task) : json_null(),
                          "data", srv__bytes_json(data.data ? data.data : "",
                                             data.len),
                          "next_offset", (json_int_t)pos, "eof", eof);
    util_buf_fini(&data);
    srv__send_answer(s, to, request, o);
}

/* ------------------------------------------------------------- explain */

typedef struct row_state {
    char text[800];
    char state[32];
    bool found;
} row_state_t;

static int row_state_cb(const store_task_t *t, void *arg)
{
    row_state_t *r = arg;
    r->found = true;
    const char *name = banyan_task_state_name(t->state);
    snprintf(r->state, sizeof(r->state), "%s", name);
    snprintf(r->text, sizeof(r->text), "ended: %s (exit %d%s%s) on %s%s%s",
             name, t->exit_code, t->signal ? ", signal" : "",
             "", t->host ? t->host : "?", t->reason ? ": " : "",
             t->reason ? t->reason : "");
    return 0;
}

static void q_explain(server_t *s, const msg_peer_t *to, uint64_t request,
                      json_t *args)
{
    json_int_t id = json_integer_value(json_object_get(args, "job"));
    json_int_t seq = json_integer_value(json_object_get(args, "task"));
    srv_job_t *j = id > 0 && id <= UINT32_MAX ? srv__job_find(s, (uint32_t)id)
                                              : NULL;
    if (!j) {
        srv__send_error(s, to, request, ENOENT, "no active job %lld",
                        (long long)id);
        return;
    }
    if (seq < 1 || (uint64_t)seq > j->ntasks) {
        srv__send_error(s, to, request, ENOENT, "job %u has no task %lld",
                        j->id, (long long)seq);
        return;
    }
    uint64_t index = (uint64_t)seq - 1;
    row_state_t r;
    memset(&r, 0, sizeof(r));
    const char *state = "pending";
    store_task_get(s->store, j->id, seq, row_state_cb, &r);
    srv_inflight_t *p = srv__fl_find(s, j->id, index);
    if (r.found) {
        state = r.state;
    } else if (p) {
        srv_engine_t *e =
            tree_children_find(s->engines, SRV_BASE(p->engine));
        state = "running";
        if (p->orphaned)
            snprintf(r.text, sizeof(r.text), "running below a lost relay "
                     "(attempt %u): requeued unless a worker reports it "
                     "within the grace period", p->attempt);
        else if (p->engine & SRV_SUB)
            snprintf(r.text, sizeof(r.text), "placed in the subtree of "
                     "worker %s (node %u, attempt %u)", e ? e->name : "?",
                     SRV_BASE(p->engine), p->attempt);
        else
            snprintf(r.text, sizeof(r.text), "running on worker %s (engine "
                     "%u, attempt %u%s)", e ? e->name : "?", p->engine,
                     p->attempt, p->reported ? ", adopted" : "");
    } else if (j->ended || j->cancelled) {
        state = "cancelled";
        snprintf(r.text, sizeof(r.text), "not run: the job was cancelled");
    } else if (srv__job_waits_grace(s, j)) {
        snprintf(r.text, sizeof(r.text), "pending: the server restarted; "
                 "waiting %lld ms more for workers to report their tasks",
                 (long long)(srv__grace_end_ms(s) - util_mono_ms()));
    } else if (j->parked) {
        banyan_error_t why = {{0}};
        srv_engine_t *e0 = tree_children_at(s->engines, 0);
        if (!e0) {
            snprintf(r.text, sizeof(r.text), "pending: no worker has "
                     "joined yet");
        } else {
            const res_pool_t *pool = tree_relay_child_pool(
                s->place, e0->id);
            sched_job_t sj;
            msg_job_sched(&j->def, &sj);
            if (pool)
                res_pool_fits_ever(pool, &sj.req, &why);
            snprintf(r.text, sizeof(r.text), "pending: never fits on the "
                     "workers joined so far (worker %s: %s)", e0->name,
                     why.text);
        }
    } else {
        tree_relay_explain(s->place, j->id, index, r.text, sizeof(r.text));
        if (strncmp(r.text, "pending", 7) != 0)
            state = "unknown";
    }
    srv__send_answer(s, to, request, json_pack("{s:I, s:I, s:s, s:s}", "job", id,
                                     "task", seq, "state", state, "text",
                                     r.text));
}

/* {"hash": hex}: whether the store holds that blob, so that a client sends
 * a large one only once: {"hash", "held": true, "size"} or {"hash",
 * "held": false}. */
static void q_blob(server_t *s, const msg_peer_t *to, uint64_t request,
                   json_t *args)
{
    const char *hex = json_string_value(json_object_get(args, "hash"));
    blob_id_t id;
    if (!hex || blob_id_parse(hex, &id) < 0) {
        srv__send_error(s, to, request, EINVAL, "query blob: \"hash\" must "
                        "be 64 hex digits");
        return;
    }
    uint64_t size = 0;
    bool held = store_blob_size(s->store, id.bytes, &size) == 0;
    if (!held && errno != ENOENT) {
        srv__send_error(s, to, request, EIO, "query blob: %s",
                        store_last_error(s->store));
        return;
    }
    json_t *o = held ? json_pack("{s:s, s:b, s:I}", "hash", hex, "held", 1,
                                 "size", (json_int_t)size)
                     : json_pack("{s:s, s:b}", "hash", hex, "held", 0);
    srv__send_answer(s, to, request, o);
}

void srv__handle_query(server_t *s, const msg_peer_t *from, msg_t *m)
{
    const msg_query_t *q = &m->u.query;
    json_error_t jerr;
    json_t *args = json_loads(q->args_json && *q->args_json ? q->args_json
                                                            : "{}",
                              0, &jerr);
    if (!json_is_object(args)) {
        json_decref(args);
        srv__send_error(s, from, q->request, EINVAL, "query arguments are "
                        "not a JSON object");
        return;
    }
    const char *what = q->what ? q->what : "";
    if (strcmp(what, "status") == 0)
        q_status(s, from, q->request);
    else if (strcmp(what, "results") == 0)
        q_results(s, from, q->request, args);
    else if (strcmp(what, "log") == 0)
        q_log(s, from, q->request, args);
    else if (strcmp(what, "explain") == 0)
        q_explain(s, from, q->request, args);
    else if (strcmp(what, "blob") == 0)
        q_blob(s, from, q->request, args);
    else
        srv__send_error(s, from, q->request, EINVAL, "unknown query '%s'",
                        what);
    json_decref(args);
}
