/* SPDX-License-Identifier: MIT */
/* msg_encode.c - message types, and the MessagePack encoder.
 *
 * msg_encode() packs a msg_t with msgpack-c's packer, whose write callback
 * appends to the caller's util_buf_t.  The layout of every body is fixed by
 * docs/protocol.md: one outer array [magic, version, type, fields...], with
 * nested arrays for lists and records.  The encoder checks what the decoder
 * will check (counts, string sizes, required strings), so that a message
 * this module encodes is always one it decodes; a failure leaves the buffer
 * as it was (its length is restored).
 *
 * Errors are sticky: each pack helper records the first failure in the
 * encoder state and the remaining calls do nothing, which keeps the
 * per-message functions short and straight.
 */
#include <errno.h>
#include <string.h>

#include <msgpack.h>

#include "msg/msg_private.h"

/* ---------------------------------------------------------------- types */

/* Each message type's name and number of body fields on the wire; a type
 * missing from the table has no name, and is unknown to both directions. */
static const struct {
    const char *name;
    int body_fields;
} types[] = {
    [MSG_HELLO] = {"HELLO", 14},
    [MSG_WELCOME] = {"WELCOME", 3},
    [MSG_JOB] = {"JOB", MSG__JOB_FIELDS},
    [MSG_ASSIGN] = {"ASSIGN", 1},
    [MSG_RESULT] = {"RESULT", 2},
    [MSG_ACK] = {"ACK", 1},
    [MSG_KILL] = {"KILL", 2},
    [MSG_PING] = {"PING", 2},
    [MSG_PONG] = {"PONG", 2},
    [MSG_BYE] = {"BYE", 0},
    [MSG_REDIRECT] = {"REDIRECT", 3},
    [MSG_SUMMARY] = {"SUMMARY", 9},
    [MSG_NODES] = {"NODES", 1},
    [MSG_STEAL] = {"STEAL", 1},
    [MSG_RECALL] = {"RECALL", 1},
    [MSG_RETURN] = {"RETURN", 2},
    [MSG_DENY] = {"DENY", 0},
    [MSG_REJECT] = {"REJECT", 2},
    [MSG_ORPHAN] = {"ORPHAN", 2},
    [MSG_BCAST] = {"BCAST", 5},
    [MSG_BREPLY] = {"BREPLY", 5},
    [MSG_BLOB_GET] = {"BLOB_GET", 3},
    [MSG_BLOB_DATA] = {"BLOB_DATA", 4},
    [MSG_BLOB_NONE] = {"BLOB_NONE", 1},
    [MSG_SUBMIT] = {"SUBMIT", 4},
    [MSG_SUBMITTED] = {"SUBMITTED", 3},
    [MSG_WAIT] = {"WAIT", 2},
    [MSG_JOBSTATE] = {"JOBSTATE", 8},
    [MSG_QUERY] = {"QUERY", 3},
    [MSG_ANSWER] = {"ANSWER", 2},
    [MSG_CANCEL] = {"CANCEL", 2},
    [MSG_ERROR] = {"ERROR", 3},
    [MSG_BROADCAST] = {"BROADCAST", 5},
    [MSG_BLOB_PUT] = {"BLOB_PUT", 5},
};

static bool type_known(int type)
{
    return type >= 0 && type < (int)(sizeof types / sizeof types[0])
           && types[type].name != NULL;
}

const char *msg_type_name(int type)
{
    return type_known(type) ? types[type].name : "?";
}

int msg__body_fields(int type)
{
    return type_known(type) ? types[type].body_fields : -1;
}

/* -------------------------------------------------------------- packing */

typedef struct enc {
    msgpack_packer pk;
    int fail;            /* 0, or the errno of the first failure */
} enc_t;

static int buf_write(void *data, const char *buf, size_t len)
{
    return util_buf_append(data, buf, len) == 0 ? 0 : -1;
}

static void put_rc(enc_t *e, int rc)
{
    if (rc != 0 && !e->fail)
        e->fail = ENOMEM;
}

static void invalid(enc_t *e)
{
    if (!e->fail)
        e->fail = EINVAL;
}

static void put_uint(enc_t *e, uint64_t v)
{
    if (!e->fail)
        put_rc(e, msgpack_pack_uint64(&e->pk, v));
}

static void put_int(enc_t *e, int64_t v)
{
    if (!e->fail)
        put_rc(e, msgpack_pack_int64(&e->pk, v));
}

static void put_double(enc_t *e, double v)
{
    if (!e->fail)
        put_rc(e, msgpack_pack_double(&e->pk, v));
}

static void put_bool(enc_t *e, bool v)
{
    if (!e->fail)
        put_rc(e, v ? msgpack_pack_true(&e->pk) : msgpack_pack_false(&e->pk));
}

static void put_array(enc_t *e, size_t n)
{
    if (!e->fail)
        put_rc(e, msgpack_pack_array(&e->pk, n));
}

/* A list header: n entries at p, at most max. */
static void put_list(enc_t *e, size_t n, const void *p, size_t max)
{
    if (n > max || (n > 0 && p == NULL))
        invalid(e);
    put_array(e, n);
}

/* A string; NULL is nil when optional, an error when required. */
static void put_str(enc_t *e, const char *s, bool required)
{
    if (e->fail)
        return;
    if (s == NULL) {
        if (required)
            invalid(e);
        else
            put_rc(e, msgpack_pack_nil(&e->pk));
        return;
    }
    size_t len = strlen(s);
    if (len > MSG_MAX_STRING) {
        invalid(e);
        return;
    }
    put_rc(e, msgpack_pack_str_with_body(&e->pk, s, len));
}

/* A blob; NULL is nil (and then len must be 0). */
static void put_bin(enc_t *e, const void *p, uint32_t len)
{
    if (e->fail)
        return;
    if (p == NULL) {
        if (len != 0)
            invalid(e);
        else
            put_rc(e, msgpack_pack_nil(&e->pk));
        return;
    }
    if (len > MSG_MAX_STRING) {
        invalid(e);
        return;
    }
    put_rc(e, msgpack_pack_bin_with_body(&e->pk, p, len));
}

/* A blob's name: exactly MSG_HASH_LEN bytes; NULL is nil when optional. */
static void put_hash(enc_t *e, const uint8_t *h, bool required)
{
    if (h == NULL && required)
        invalid(e);
    else
        put_bin(e, h, h == NULL ? 0 : MSG_HASH_LEN);
}

/* A chunk of a blob (BLOB_DATA, BLOB_PUT): a bin, never nil (NULL with
 * length 0 is the empty chunk), at most MSG_BLOB_CHUNK bytes. */
static void put_chunk(enc_t *e, const void *p, uint32_t len)
{
    if (len > MSG_BLOB_CHUNK || (p == NULL && len > 0)) {
        invalid(e);
        return;
    }
    put_bin(e, p == NULL ? "" : p, len);
}

static void put_strv(enc_t *e, size_t n, const char *const *v, size_t max)
{
    put_list(e, n, v, max);
    for (size_t i = 0; i < n && !e->fail; i++)
        put_str(e, v[i], true);
}

/* ---------------------------------------------------------------- bodies */

static void put_ref_fields(enc_t *e, const msg_task_ref_t *t)
{
    put_uint(e, t->job);
    put_uint(e, t->index);
    put_uint(e, t->attempt);
}

static void put_refs(enc_t *e, uint32_t n, const msg_task_ref_t *v)
{
    put_list(e, n, v, MSG_MAX_BATCH);
    for (uint32_t i = 0; i < n && !e->fail; i++) {
        put_array(e, MSG__REF_FIELDS);
        put_ref_fields(e, &v[i]);
    }
}

static void put_custom(enc_t *e, int n, const res_custom_t *v)
{
    if (n < 0) {
        invalid(e);
        return;
    }
    put_list(e, (size_t)n, v, RES_MAX_CUSTOM);
    for (int i = 0; i < n && !e->fail; i++) {
        size_t len = strnlen(v[i].name, RES_NAME_MAX);
        if (len == 0 || len == RES_NAME_MAX) {
            invalid(e);
            return;
        }
        put_array(e, 2);
        put_str(e, v[i].name, true);
        put_uint(e, v[i].amount);
    }
}

static void put_request(enc_t *e, const res_request_t *q)
{
    put_array(e, MSG__REQ_FIELDS);
    put_uint(e, q->slots);
    put_uint(e, q->cpus_milli);
    put_uint(e, q->mem_bytes);
    put_uint(e, q->gpus_milli);
    put_uint(e, q->gpu_mem_bytes);
    put_custom(e, q->ncustom, q->custom);
}

/* The fields of a job, without an array header (JOB inlines them, SUBMIT
 * wraps them in an array).  Its JSON twin is msg_job_to_json(). */
static void put_job_fields(enc_t *e, const msg_job_t *j)
{
    put_uint(e, j->id);
    put_strv(e, j->nwords, j->words, MSG_MAX_ARGS);
    put_list(e, j->nsources, j->sources, MSG_MAX_ARGS);
    for (uint32_t i = 0; i < j->nsources && !e->fail; i++) {
        put_array(e, 2);
        put_bool(e, j->sources[i].linked);
        put_strv(e, j->sources[i].nvalues, j->sources[i].values,
                 MSG_MAX_ARGS);
    }
    put_uint(e, j->array_first);
    put_uint(e, j->array_count);
    put_strv(e, j->nenv, j->env, MSG_MAX_ARGS);
    put_str(e, j->cwd, false);
    put_int(e, j->timeout_ms);
    /* the decoder's rules: known flags only, a stdin blob must exist */
    if ((j->flags & ~(uint32_t)MSG_JOB_STDIN_BLOB) != 0
        || ((j->flags & MSG_JOB_STDIN_BLOB) && j->nblobs == 0))
        invalid(e);
    put_uint(e, j->flags);
    put_list(e, j->nblobs, j->blobs, MSG_MAX_JOB_BLOBS);
    for (uint32_t i = 0; i < j->nblobs && !e->fail; i++)
        put_hash(e, j->blobs[i], true);
    put_request(e, &j->req);
    put_int(e, j->priority);
}

static void put_hello(enc_t *e, const msg_hello_t *h)
{
    put_str(e, h->worker_id, true);
    put_str(e, h->name, false);
    put_str(e, h->host, false);
    put_uint(e, h->slots);
    put_uint(e, h->cpus_milli);
    put_uint(e, h->mem_bytes);
    put_list(e, h->ngpus, h->gpus, RES_MAX_GPUS);
    for (uint32_t i = 0; i < h->ngpus && !e->fail; i++) {
        put_array(e, MSG__GPU_FIELDS);
        put_int(e, h->gpus[i].index);
        put_str(e, h->gpus[i].uuid, false);
        put_str(e, h->gpus[i].name, false);
        put_uint(e, h->gpus[i].mem_total_bytes);
    }
    if (h->ncustom > RES_MAX_CUSTOM)
        invalid(e);
    else
        put_custom(e, (int)h->ncustom, h->custom);
    put_double(e, h->score);
    put_bool(e, h->noop);
    put_refs(e, h->nrunning, h->running);
    put_uint(e, h->last_acked);
    put_str(e, h->relay, false);
    put_uint(e, h->node);
}

static void put_assign(enc_t *e, const msg_assign_t *a)
{
    put_list(e, a->n, a->entries, MSG_MAX_BATCH);
    for (uint32_t i = 0; i < a->n && !e->fail; i++) {
        const msg_assign_entry_t *x = &a->entries[i];
        put_array(e, MSG__ASSIGN_FIELDS);
        put_ref_fields(e, &x->task);
        put_uint(e, x->slot);
        put_uint(e, x->gpu_mask);
        put_uint(e, x->gpu_milli_each);
    }
}

static void put_result(enc_t *e, const msg_result_t *r)
{
    put_uint(e, r->seq);
    put_list(e, r->n, r->entries, MSG_MAX_BATCH);
    for (uint32_t i = 0; i < r->n && !e->fail; i++) {
        const msg_result_entry_t *x = &r->entries[i];
        put_array(e, MSG__RESULT_FIELDS);
        put_ref_fields(e, &x->task);
        const banyan_task_end_t *d = &x->end;
        if ((unsigned)d->state >= BANYAN_TASK_STATE_COUNT ||
            (d->flags & ~(uint32_t)BANYAN_END_FLAGS_ALL))
            invalid(e);
        put_uint(e, (uint64_t)d->state);
        put_uint(e, d->flags);
        put_int(e, d->exit_code);
        put_int(e, d->term_signal);
        put_double(e, d->start_time);
        put_double(e, d->end_time);
        put_double(e, d->cpu_user);
        put_double(e, d->cpu_sys);
        put_uint(e, d->peak_rss_bytes);
        put_uint(e, d->mem_limit_bytes);
        put_str(e, d->reason, true);
        put_bin(e, x->out_tail, x->out_tail_len);
        put_bin(e, x->err_tail, x->err_tail_len);
    }
}

static void put_submit(enc_t *e, const msg_submit_t *s)
{
    put_uint(e, s->request);
    put_array(e, MSG__JOB_FIELDS);
    put_job_fields(e, &s->job);
    put_str(e, s->job.name, false);
    put_uint(e, s->job.max_attempts);
}

/* A subtree's custom resources: the decoder's rules (bounded count,
 * names as in HELLO, each once, free within total). */
static void put_custom_counts(enc_t *e, uint32_t n,
                              const msg_custom_count_t *v)
{
    if (n > RES_MAX_CUSTOM) {
        invalid(e);
        return;
    }
    put_list(e, n, v, RES_MAX_CUSTOM);
    for (uint32_t i = 0; i < n && !e->fail; i++) {
        size_t len = strnlen(v[i].name, RES_NAME_MAX);
        bool dup = false;
        for (uint32_t j = 0; j < i; j++)
            dup = dup || strncmp(v[j].name, v[i].name, RES_NAME_MAX) == 0;
        if (len == 0 || len == RES_NAME_MAX || dup || v[i].free > v[i].total) {
            invalid(e);
            return;
        }
        put_array(e, MSG__CUSTOM_COUNT_FIELDS);
        put_str(e, v[i].name, true);
        put_uint(e, v[i].total);
        put_uint(e, v[i].free);
    }
}

static void put_summary(enc_t *e, const msg_summary_t *s)
{
    put_uint(e, s->engines);
    put_uint(e, s->slots);
    put_uint(e, s->cpus_milli);
    put_uint(e, s->mem_bytes);
    put_uint(e, s->gpus);
    put_uint(e, s->queued);
    put_uint(e, s->free_slots);
    put_list(e, s->nstats, s->stats, MSG_MAX_BATCH);
    for (uint32_t i = 0; i < s->nstats && !e->fail; i++) {
        const msg_node_stats_t *x = &s->stats[i];
        put_array(e, MSG__STATS_FIELDS);
        put_uint(e, x->node);
        put_uint(e, x->parent);
        put_uint(e, x->children);
        put_uint(e, x->sent);
        put_uint(e, x->received);
        put_uint(e, x->bytes_out);
        put_uint(e, x->bytes_in);
    }
    put_custom_counts(e, s->ncustom, s->custom);
}

static void put_nodes(enc_t *e, const msg_nodes_t *n)
{
    put_list(e, n->n, n->events, MSG_MAX_BATCH);
    for (uint32_t i = 0; i < n->n && !e->fail; i++) {
        const msg_node_event_entry_t *x = &n->events[i];
        if (x->event < MSG_NODE_ATTACHED || x->event > MSG_NODE_LEFT)
            invalid(e);
        bool hello = x->worker_id || x->host || x->relay;
        put_array(e, hello ? MSG__EVENT_FIELDS_HELLO : MSG__EVENT_FIELDS);
        put_uint(e, x->node);
        put_uint(e, x->parent);
        put_uint(e, x->event);
        if (hello) {
            put_str(e, x->worker_id, false);
            put_str(e, x->host, false);
            put_str(e, x->relay, false);
        }
    }
}

/* RETURN, REJECT and ORPHAN: one leading field, then the tasks. */
static void put_tasks(enc_t *e, msg_type_t type, const msg_tasks_t *t)
{
    if (type == MSG_RETURN)
        put_bool(e, t->done);
    else if (type == MSG_REJECT)
        put_str(e, t->reason, true);
    else
        put_uint(e, t->node);
    put_refs(e, t->n, t->tasks);
}

static void put_bcast(enc_t *e, uint64_t id, uint32_t nwords,
                      const char *const *words, const uint8_t *blob,
                      uint32_t timeout_ms, bool want_output)
{
    put_uint(e, id);
    put_strv(e, nwords, words, MSG_MAX_ARGS);
    put_hash(e, blob, false);
    put_uint(e, timeout_ms);
    put_bool(e, want_output);
}

static void put_breply(enc_t *e, const msg_breply_t *b)
{
    put_uint(e, b->id);
    put_uint(e, b->ok);
    put_uint(e, b->failed);
    put_uint(e, b->missing);
    put_list(e, b->n, b->entries, MSG_MAX_BATCH);
    for (uint32_t i = 0; i < b->n && !e->fail; i++) {
        const msg_breply_entry_t *x = &b->entries[i];
        put_array(e, MSG__BREPLY_FIELDS);
        put_uint(e, x->node);
        put_int(e, x->exit_code);
        put_bin(e, x->out, x->out_len);
    }
}

/* BLOB_DATA and BLOB_PUT (which leads with its request id). */
static void put_blob_data(enc_t *e, msg_type_t type, const msg_blob_data_t *d)
{
    if (type == MSG_BLOB_PUT)
        put_uint(e, d->request);
    if (d->offset > d->total || d->len > d->total - d->offset)
        invalid(e);
    put_hash(e, d->hash, true);
    put_uint(e, d->offset);
    put_uint(e, d->total);
    put_chunk(e, d->data, d->len);
}

static void put_body(enc_t *e, const msg_t *m)
{
    switch (m->type) {
    case MSG_HELLO:
        put_hello(e, &m->u.hello);
        break;
    case MSG_WELCOME:
        put_uint(e, m->u.welcome.engine_id);
        put_uint(e, m->u.welcome.server_epoch);
        put_uint(e, m->u.welcome.heartbeat_ms);
        break;
    case MSG_JOB:
        put_job_fields(e, &m->u.job);
        break;
    case MSG_ASSIGN:
        put_assign(e, &m->u.assign);
        break;
    case MSG_RESULT:
        put_result(e, &m->u.result);
        break;
    case MSG_ACK:
        put_uint(e, m->u.ack.seq);
        break;
    case MSG_KILL:
        put_uint(e, m->u.kill.job);
        put_refs(e, m->u.kill.n, m->u.kill.tasks);
        break;
    case MSG_PING:
    case MSG_PONG:
        put_uint(e, m->u.ping.seq);
        put_double(e, m->u.ping.sent);
        break;
    case MSG_BYE:
    case MSG_DENY:
        break;
    case MSG_REDIRECT:
        put_uint(e, m->u.redirect.node);
        put_uint(e, m->u.redirect.parent);
        put_str(e, m->u.redirect.endpoint, true);
        break;
    case MSG_SUMMARY:
        put_summary(e, &m->u.summary);
        break;
    case MSG_NODES:
        put_nodes(e, &m->u.nodes);
        break;
    case MSG_STEAL:
        put_uint(e, m->u.steal.want);
        break;
    case MSG_RECALL:
        put_uint(e, m->u.recall.n);
        break;
    case MSG_RETURN:
    case MSG_REJECT:
    case MSG_ORPHAN:
        put_tasks(e, m->type, &m->u.tasks);
        break;
    case MSG_BCAST: {
        const msg_bcast_t *b = &m->u.bcast;
        put_bcast(e, b->id, b->nwords, b->words, b->blob, b->timeout_ms,
                  b->want_output);
        break;
    }
    case MSG_BREPLY:
        put_breply(e, &m->u.breply);
        break;
    case MSG_BLOB_GET: {
        const msg_blob_get_t *g = &m->u.blob_get;
        if (g->len == 0 || g->len > MSG_BLOB_CHUNK)
            invalid(e);
        put_hash(e, g->hash, true);
        put_uint(e, g->offset);
        put_uint(e, g->len);
        break;
    }
    case MSG_BLOB_DATA:
    case MSG_BLOB_PUT:
        put_blob_data(e, m->type, &m->u.blob_data);
        break;
    case MSG_BLOB_NONE:
        put_hash(e, m->u.blob_none.hash, true);
        break;
    case MSG_BROADCAST: {
        const msg_broadcast_t *b = &m->u.broadcast;
        put_bcast(e, b->request, b->nwords, b->words, b->blob, b->timeout_ms,
                  b->want_output);
        break;
    }
    case MSG_SUBMIT:
        put_submit(e, &m->u.submit);
        break;
    case MSG_SUBMITTED:
        put_uint(e, m->u.submitted.request);
        put_uint(e, m->u.submitted.job);
        put_uint(e, m->u.submitted.ntasks);
        break;
    case MSG_WAIT:
        put_uint(e, m->u.wait.request);
        put_uint(e, m->u.wait.job);
        break;
    case MSG_JOBSTATE: {
        const msg_jobstate_t *s = &m->u.jobstate;
        put_uint(e, s->request);
        put_uint(e, s->job);
        put_str(e, s->state, true);
        put_uint(e, s->ntasks);
        put_uint(e, s->pending);
        put_uint(e, s->running);
        put_uint(e, s->ok);
        put_uint(e, s->failed);
        break;
    }
    case MSG_QUERY:
        put_uint(e, m->u.query.request);
        put_str(e, m->u.query.what, true);
        put_str(e, m->u.query.args_json, false);
        break;
    case MSG_ANSWER:
        put_uint(e, m->u.answer.request);
        put_str(e, m->u.answer.json, true);
        break;
    case MSG_CANCEL:
        put_uint(e, m->u.cancel.request);
        put_uint(e, m->u.cancel.job);
        break;
    case MSG_ERROR:
        put_uint(e, m->u.error.request);
        put_int(e, m->u.error.code);
        put_str(e, m->u.error.text, true);
        break;
    }
}

int msg_encode(const msg_t *m, util_buf_t *out)
{
    if (m == NULL || out == NULL || msg__body_fields((int)m->type) < 0) {
        errno = EINVAL;
        return -1;
    }
    size_t start = out->len;
    enc_t e = {.fail = 0};
    msgpack_packer_init(&e.pk, out, buf_write);
    put_array(&e, MSG__HEADER_FIELDS + (size_t)msg__body_fields((int)m->type));
    put_uint(&e, MSG_MAGIC);
    put_uint(&e, MSG_VERSION);
    put_uint(&e, (uint64_t)m->type);
    put_body(&e, m);
    if (e.fail) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        errno = e.fail;
        return -1;
    }
    return 0;
}
