/* SPDX-License-Identifier: MIT */
/* msg_decode.c - a bounds-checked MessagePack reader for hostile payloads.
 *
 * The decoder does not use msgpack-c's unpacker: it reads exactly the types
 * each field expects (unsigned and signed integers, floats, strings, blobs,
 * arrays, nil, booleans) straight into one heap block.  That block holds the
 * msg_t first, then an arena: fixed-size records (arrays of entries,
 * pointers, counts) are carved from its front with 8-byte alignment, and
 * string and blob bytes from its back, each NUL-terminated.  msg_free() is
 * one free().
 *
 * Size bound.  Every array count is checked against the bytes left in the
 * frame (an element takes at least one byte on the wire, a record more), so
 * a hostile count cannot make the decoder allocate beyond the frame.  The
 * costliest wire byte is an empty string in a list: one byte on the wire,
 * an 8-byte pointer plus a NUL in the arena.  The arena is therefore sized
 * ARENA_PER_BYTE times the frame plus a constant, plus room for RESULT
 * entries, whose records are larger (result_extra); should a bug break that
 * bound, the reader fails with EPROTO ("internal: arena") instead of
 * writing out of bounds (the fuzz target and the hostile-input test watch
 * for that text).
 *
 * Errors are sticky: the first failure records a sentence naming the field
 * and the byte offset; every later read returns zeros and empty lists, so
 * the per-message code has no error branches and loops end at once.
 * Nothing is nested deeper than the message layout: the reader never
 * recurses on what the input says, so deep nesting fails at the first
 * unexpected type.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/msg_private.h"

enum {
    ARENA_PER_BYTE = 10,     /* arena bytes per frame byte, see above */
    ARENA_EXTRA = 1024,      /* fixed records (custom resources) + slack */
};

typedef struct rd {
    const uint8_t *start;
    const uint8_t *p;        /* next byte to read */
    const uint8_t *end;
    char *front;             /* next free byte of the arena, from the front */
    char *back;              /* first used byte of the arena's back end */
    banyan_error_t *error;
    bool failed;
} rd_t;

static void fail(rd_t *r, const char *what, const char *field)
{
    if (r->failed)
        return;
    r->failed = true;
    errprintf(r->error, "malformed message: %s: %s at byte %zu", field, what,
              (size_t)(r->p - r->start));
}

static size_t left(const rd_t *r)
{
    return (size_t)(r->end - r->p);
}

/* Big-endian unsigned of n bytes at the cursor (n <= 8). */
static bool take_be(rd_t *r, size_t n, uint64_t *v, const char *field)
{
    if (left(r) < n) {
        fail(r, "truncated", field);
        return false;
    }
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | r->p[i];
    r->p += n;
    *v = x;
    return true;
}

static bool take_byte(rd_t *r, uint8_t *b, const char *field)
{
    if (r->failed)
        return false;
    if (left(r) < 1) {
        fail(r, "truncated", field);
        return false;
    }
    *b = *r->p++;
    return true;
}

/* ---------------------------------------------------------------- arena */

static void *arena_front(rd_t *r, size_t size, const char *field)
{
    uintptr_t a = ((uintptr_t)r->front + 7) & ~(uintptr_t)7;
    if (r->failed || a > (uintptr_t)r->back
        || size > (uintptr_t)r->back - a) {
        fail(r, "internal: arena", field);
        return NULL;
    }
    r->front = (char *)a + size;
    memset((void *)a, 0, size);
    return (void *)a;
}

/* Copy len bytes from the cursor into the back of the arena, with a NUL. */
static char *arena_copy(rd_t *r, size_t len, const char *field)
{
    if (r->failed || (size_t)(r->back - r->front) < len + 1) {
        fail(r, "internal: arena", field);
        return NULL;
    }
    r->back -= len + 1;
    memcpy(r->back, r->p, len);
    r->back[len] = '\0';
    r->p += len;
    return r->back;
}

/* -------------------------------------------------------------- scalars */

/* Any MessagePack integer, as a sign and a magnitude. */
static bool read_integer(rd_t *r, bool *neg, uint64_t *mag, const char *field)
{
    uint8_t b;
    if (!take_byte(r, &b, field))
        return false;
    uint64_t v;
    *neg = false;
    if (b <= 0x7f) {
        *mag = b;
        return true;
    }
    if (b >= 0xe0) {
        *neg = true;
        *mag = (uint64_t)(256 - b);
        return true;
    }
    if (b >= 0xcc && b <= 0xcf) {
        if (!take_be(r, (size_t)1 << (b - 0xcc), &v, field))
            return false;
        *mag = v;
        return true;
    }
    if (b >= 0xd0 && b <= 0xd3) {
        size_t n = (size_t)1 << (b - 0xd0);
        if (!take_be(r, n, &v, field))
            return false;
        uint64_t sign = (uint64_t)1 << (8 * n - 1);
        if (v & sign) {
            *neg = true;
            /* two's complement magnitude within n bytes */
            *mag = (n == 8 ? 0 : ((uint64_t)1 << (8 * n))) - v;
        } else {
            *mag = v;
        }
        return true;
    }
    r->p--;
    fail(r, "expected an integer", field);
    return false;
}

static uint64_t r_uint(rd_t *r, uint64_t max, const char *field)
{
    bool neg;
    uint64_t mag;
    if (!read_integer(r, &neg, &mag, field))
        return 0;
    if ((neg && mag != 0) || mag > max) {
        fail(r, "number out of range", field);
        return 0;
    }
    return mag;
}

static uint32_t r_u32(rd_t *r, const char *field)
{
    return (uint32_t)r_uint(r, UINT32_MAX, field);
}

static int64_t r_int(rd_t *r, int64_t min, int64_t max, const char *field)
{
    bool neg;
    uint64_t mag;
    if (!read_integer(r, &neg, &mag, field))
        return 0;
    /* an int64 holds magnitudes up to INT64_MAX, and INT64_MAX + 1 negated */
    uint64_t limit = (uint64_t)INT64_MAX + (neg ? 1 : 0);
    int64_t v = 0;
    if (mag <= limit && neg)
        v = mag == limit ? INT64_MIN : -(int64_t)mag;
    else if (mag <= limit)
        v = (int64_t)mag;
    if (mag > limit || v < min || v > max) {
        fail(r, "number out of range", field);
        return 0;
    }
    return v;
}

static int32_t r_i32(rd_t *r, const char *field)
{
    return (int32_t)r_int(r, INT32_MIN, INT32_MAX, field);
}

/* A float32 or float64; an integer is accepted too. */
static double r_double(rd_t *r, const char *field)
{
    if (r->failed)
        return 0;
    if (left(r) < 1) {
        fail(r, "truncated", field);
        return 0;
    }
    uint8_t b = *r->p;
    if (b == 0xca || b == 0xcb) {
        r->p++;
        uint64_t v;
        if (!take_be(r, b == 0xcb ? 8 : 4, &v, field))
            return 0;
        if (b == 0xcb) {
            double d;
            memcpy(&d, &v, sizeof d);
            return d;
        }
        uint32_t v32 = (uint32_t)v;
        float f;
        memcpy(&f, &v32, sizeof f);
        return f;
    }
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) {
        bool neg;
        uint64_t mag;
        if (!read_integer(r, &neg, &mag, field))
            return 0;
        return neg ? -(double)mag : (double)mag;
    }
    fail(r, "expected a number", field);
    return 0;
}

static bool r_bool(rd_t *r, const char *field)
{
    uint8_t b;
    if (!take_byte(r, &b, field))
        return false;
    if (b != 0xc2 && b != 0xc3) {
        r->p--;
        fail(r, "expected a boolean", field);
        return false;
    }
    return b == 0xc3;
}

static bool at_nil(rd_t *r)
{
    if (!r->failed && left(r) >= 1 && *r->p == 0xc0) {
        r->p++;
        return true;
    }
    return false;
}

/* ------------------------------------------------------ strings, arrays */

/* A string; nil gives NULL when optional.  Strings with a NUL byte inside
 * are refused: they would be cut short silently. */
static const char *r_str(rd_t *r, bool optional, const char *field)
{
    if (optional && at_nil(r))
        return NULL;
    uint8_t b;
    if (!take_byte(r, &b, field))
        return NULL;
    uint64_t len;
    if (b >= 0xa0 && b <= 0xbf) {
        len = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
        if (!take_be(r, (size_t)1 << (b - 0xd9), &len, field))
            return NULL;
    } else {
        r->p--;
        fail(r, optional ? "expected a string or nil" : "expected a string",
             field);
        return NULL;
    }
    if (len > MSG_MAX_STRING) {
        fail(r, "string longer than MSG_MAX_STRING", field);
        return NULL;
    }
    if (len > left(r)) {
        fail(r, "string longer than the frame", field);
        return NULL;
    }
    if (memchr(r->p, '\0', (size_t)len) != NULL) {
        fail(r, "string contains a NUL byte", field);
        return NULL;
    }
    return arena_copy(r, (size_t)len, field);
}

/* A blob (bin) or nil.  The copy is NUL-terminated too. */
static const void *r_bin(rd_t *r, uint32_t *lenp, const char *field)
{
    *lenp = 0;
    if (at_nil(r))
        return NULL;
    uint8_t b;
    if (!take_byte(r, &b, field))
        return NULL;
    if (b < 0xc4 || b > 0xc6) {
        r->p--;
        fail(r, "expected a blob or nil", field);
        return NULL;
    }
    uint64_t len;
    if (!take_be(r, (size_t)1 << (b - 0xc4), &len, field))
        return NULL;
    if (len > MSG_MAX_STRING) {
        fail(r, "blob longer than MSG_MAX_STRING", field);
        return NULL;
    }
    if (len > left(r)) {
        fail(r, "blob longer than the frame", field);
        return NULL;
    }
    const void *p = arena_copy(r, (size_t)len, field);
    if (p != NULL)
        *lenp = (uint32_t)len;
    return p;
}

/* A blob's name: a bin of exactly MSG_HASH_LEN bytes copied to dst (an
 * r_entry_fn, for the job's blobs). */
static void r_hash_into(rd_t *r, void *dst, const char *field)
{
    uint8_t b;
    if (!take_byte(r, &b, field))
        return;
    uint64_t len;
    if (b < 0xc4 || b > 0xc6) {
        r->p--;
        fail(r, "expected a blob", field);
        return;
    }
    if (!take_be(r, (size_t)1 << (b - 0xc4), &len, field))
        return;
    if (len != MSG_HASH_LEN) {
        fail(r, "a hash is not MSG_HASH_LEN bytes", field);
        return;
    }
    if (len > left(r)) {
        fail(r, "blob longer than the frame", field);
        return;
    }
    memcpy(dst, r->p, MSG_HASH_LEN);
    r->p += MSG_HASH_LEN;
}

/* A hash in the arena; nil gives NULL when optional. */
static const uint8_t *r_hash(rd_t *r, bool optional, const char *field)
{
    if (optional && at_nil(r))
        return NULL;
    uint8_t *h = arena_front(r, MSG_HASH_LEN, field);
    if (h != NULL)
        r_hash_into(r, h, field);
    return r->failed ? NULL : h;
}

/* A chunk of a blob: a bin (not nil) of at most MSG_BLOB_CHUNK bytes. */
static const void *r_chunk(rd_t *r, uint32_t *lenp, const char *field)
{
    *lenp = 0;
    if (!r->failed && left(r) >= 1 && *r->p == 0xc0) {
        fail(r, "expected a blob", field);
        return NULL;
    }
    const void *p = r_bin(r, lenp, field);
    if (!r->failed && *lenp > MSG_BLOB_CHUNK) {
        fail(r, "chunk longer than MSG_BLOB_CHUNK", field);
        *lenp = 0;
        return NULL;
    }
    return p;
}

/* An array header of at most max elements, each at least min_bytes long
 * on the wire (so that the count cannot exceed what the frame holds). */
static uint32_t r_array(rd_t *r, uint32_t max, size_t min_bytes,
                        const char *field)
{
    uint8_t b;
    if (!take_byte(r, &b, field))
        return 0;
    uint64_t n;
    if (b >= 0x90 && b <= 0x9f) {
        n = b & 0x0f;
    } else if (b == 0xdc || b == 0xdd) {
        if (!take_be(r, b == 0xdc ? 2 : 4, &n, field))
            return 0;
    } else {
        r->p--;
        fail(r, "expected an array", field);
        return 0;
    }
    if (n > max) {
        fail(r, "too many elements", field);
        return 0;
    }
    if (n * min_bytes > left(r)) {
        fail(r, "more elements than the frame holds", field);
        return 0;
    }
    return (uint32_t)n;
}

/* A record: an array of exactly n fields. */
static void r_record(rd_t *r, uint32_t n, const char *field)
{
    uint32_t got = r_array(r, UINT32_MAX, 1, field);
    if (!r->failed && got != n)
        fail(r, "wrong number of fields", field);
}

/* Reads one entry of a list into p, a zeroed record in the arena. */
typedef void r_entry_fn(rd_t *r, void *p, const char *field);

/* A list of at most max entries, each at least min_bytes long on the wire,
 * read by entry into an array of size-byte records in the arena.  *np gets
 * the count; the array is NULL when the list is empty or on failure. */
static void *r_list(rd_t *r, uint32_t *np, uint32_t max, size_t min_bytes,
                    size_t size, r_entry_fn *entry, const char *field)
{
    uint32_t n = r_array(r, max, min_bytes, field);
    char *v = n > 0 ? arena_front(r, n * size, field) : NULL;
    for (uint32_t i = 0; i < n && !r->failed; i++)
        entry(r, v + i * size, field);
    *np = r->failed ? 0 : n;
    return r->failed ? NULL : v;
}

static void r_strv_entry(rd_t *r, void *p, const char *field)
{
    *(const char **)p = r_str(r, false, field);
}

static const char **r_strv(rd_t *r, uint32_t *np, uint32_t max,
                           const char *field)
{
    return r_list(r, np, max, 1, sizeof(const char *), r_strv_entry, field);
}

/* ---------------------------------------------------------------- bodies */

static void r_ref_fields(rd_t *r, msg_task_ref_t *t)
{
    t->job = r_u32(r, "task.job");
    t->index = r_uint(r, UINT64_MAX, "task.index");
    t->attempt = r_u32(r, "task.attempt");
}

static void r_ref_entry(rd_t *r, void *p, const char *field)
{
    r_record(r, MSG__REF_FIELDS, field);
    r_ref_fields(r, p);
}

static msg_task_ref_t *r_refs(rd_t *r, uint32_t *np, const char *field)
{
    return r_list(r, np, MSG_MAX_BATCH, 1 + MSG__REF_FIELDS,
                  sizeof(msg_task_ref_t), r_ref_entry, field);
}

/* A custom resource's name into dst: non-empty, shorter than RES_NAME_MAX. */
static void r_res_name(rd_t *r, char *dst, const char *field)
{
    const char *name = r_str(r, false, field);
    size_t len = name ? strlen(name) : 0;
    if (!r->failed && (len == 0 || len >= RES_NAME_MAX))
        fail(r, "custom resource name empty or too long", field);
    else if (name)
        memcpy(dst, name, len + 1);
}

/* One custom resource, of a HELLO or a job's request; its errors name it
 * "custom" in both. */
static void r_custom_one(rd_t *r, void *p, const char *list)
{
    res_custom_t *c = p;
    (void)list;
    r_record(r, 2, "custom");
    r_res_name(r, c->name, "custom.name");
    c->amount = r_uint(r, UINT64_MAX, "custom.amount");
}

static void r_request(rd_t *r, res_request_t *q)
{
    r_record(r, MSG__REQ_FIELDS, "job.req");
    q->slots = r_u32(r, "req.slots");
    q->cpus_milli = r_u32(r, "req.cpus_milli");
    q->mem_bytes = r_uint(r, UINT64_MAX, "req.mem_bytes");
    q->gpus_milli = r_u32(r, "req.gpus_milli");
    q->gpu_mem_bytes = r_uint(r, UINT64_MAX, "req.gpu_mem_bytes");
    uint32_t n = r_array(r, RES_MAX_CUSTOM, 4, "req.custom");
    for (uint32_t i = 0; i < n && !r->failed; i++)
        r_custom_one(r, &q->custom[i], "req.custom");
    q->ncustom = r->failed ? 0 : (int)n;
}

static void r_source(rd_t *r, void *p, const char *field)
{
    banyan_source_t *src = p;
    uint32_t nv;
    r_record(r, 2, field);
    src->linked = r_bool(r, "job.sources.linked");
    src->values = r_strv(r, &nv, MSG_MAX_ARGS, "job.sources.values");
    src->nvalues = nv;
}

/* Its JSON twin is msg_job_from_json(). */
static void r_job_fields(rd_t *r, msg_job_t *j)
{
    j->id = r_u32(r, "job.id");
    j->words = r_strv(r, &j->nwords, MSG_MAX_ARGS, "job.words");
    j->sources = r_list(r, &j->nsources, MSG_MAX_ARGS, 3,
                        sizeof(banyan_source_t), r_source, "job.sources");
    j->array_first = r_uint(r, UINT64_MAX, "job.array_first");
    j->array_count = r_uint(r, UINT64_MAX, "job.array_count");
    j->env = r_strv(r, &j->nenv, MSG_MAX_ARGS, "job.env");
    j->cwd = r_str(r, true, "job.cwd");
    j->timeout_ms = r_int(r, INT64_MIN, INT64_MAX, "job.timeout_ms");
    j->flags = r_u32(r, "job.flags");
    if ((j->flags & ~(uint32_t)MSG_JOB_STDIN_BLOB) != 0)
        fail(r, "unknown flag bits", "job.flags");
    j->blobs = r_list(r, &j->nblobs, MSG_MAX_JOB_BLOBS, 2 + MSG_HASH_LEN,
                      MSG_HASH_LEN, r_hash_into, "job.blobs");
    if ((j->flags & MSG_JOB_STDIN_BLOB) && j->nblobs == 0)
        fail(r, "a stdin blob without blobs", "job.flags");
    r_request(r, &j->req);
    j->priority = r_i32(r, "job.priority");
}

static void r_gpu(rd_t *r, void *p, const char *field)
{
    msg_gpu_t *g = p;
    r_record(r, MSG__GPU_FIELDS, field);
    g->index = r_i32(r, "gpu.index");
    g->uuid = r_str(r, true, "gpu.uuid");
    g->name = r_str(r, true, "gpu.name");
    g->mem_total_bytes = r_uint(r, UINT64_MAX, "gpu.mem_total_bytes");
}

static void r_hello(rd_t *r, msg_hello_t *h)
{
    h->worker_id = r_str(r, false, "hello.worker_id");
    h->name = r_str(r, true, "hello.name");
    h->host = r_str(r, true, "hello.host");
    h->slots = r_u32(r, "hello.slots");
    h->cpus_milli = r_u32(r, "hello.cpus_milli");
    h->mem_bytes = r_uint(r, UINT64_MAX, "hello.mem_bytes");
    h->gpus = r_list(r, &h->ngpus, RES_MAX_GPUS, 1 + MSG__GPU_FIELDS,
                     sizeof(msg_gpu_t), r_gpu, "hello.gpus");
    h->custom = r_list(r, &h->ncustom, RES_MAX_CUSTOM, 4,
                       sizeof(res_custom_t), r_custom_one, "hello.custom");
    h->score = r_double(r, "hello.score");
    h->noop = r_bool(r, "hello.noop");
    h->running = r_refs(r, &h->nrunning, "hello.running");
    h->last_acked = r_uint(r, UINT64_MAX, "hello.last_acked");
    h->relay = r_str(r, true, "hello.relay");
    h->node = r_u32(r, "hello.node");
}

static void r_assign_entry(rd_t *r, void *p, const char *field)
{
    msg_assign_entry_t *x = p;
    r_record(r, MSG__ASSIGN_FIELDS, field);
    r_ref_fields(r, &x->task);
    x->slot = r_u32(r, "assign.slot");
    x->gpu_mask = r_uint(r, UINT64_MAX, "assign.gpu_mask");
    x->gpu_milli_each = r_u32(r, "assign.gpu_milli_each");
}

static void r_assign(rd_t *r, msg_assign_t *a)
{
    a->entries = r_list(r, &a->n, MSG_MAX_BATCH, 1 + MSG__ASSIGN_FIELDS,
                        sizeof(msg_assign_entry_t), r_assign_entry,
                        "assign.entries");
}

static void r_result_entry(rd_t *r, void *p, const char *field)
{
    msg_result_entry_t *x = p;
    r_record(r, MSG__RESULT_FIELDS, field);
    r_ref_fields(r, &x->task);
    banyan_task_end_t *d = &x->end;
    d->state = (banyan_task_state_t)r_uint(r, BANYAN_TASK_STATE_COUNT - 1,
                                           "result.state");
    d->flags = (uint32_t)r_uint(r, BANYAN_END_FLAGS_ALL, "result.flags");
    d->exit_code = r_i32(r, "result.exit_code");
    d->term_signal = r_i32(r, "result.term_signal");
    d->start_time = r_double(r, "result.start_time");
    d->end_time = r_double(r, "result.end_time");
    d->cpu_user = r_double(r, "result.cpu_user");
    d->cpu_sys = r_double(r, "result.cpu_sys");
    d->peak_rss_bytes = r_uint(r, UINT64_MAX, "result.peak_rss");
    d->mem_limit_bytes = r_uint(r, UINT64_MAX, "result.mem_limit");
    const char *why = r_str(r, false, "result.reason");
    snprintf(d->reason, sizeof(d->reason), "%s", why ? why : "");
    x->out_tail = r_bin(r, &x->out_tail_len, "result.out_tail");
    x->err_tail = r_bin(r, &x->err_tail_len, "result.err_tail");
}

static void r_result(rd_t *r, msg_result_t *res)
{
    res->seq = r_uint(r, UINT64_MAX, "result.seq");
    res->entries = r_list(r, &res->n, MSG_MAX_BATCH, 1 + MSG__RESULT_FIELDS,
                          sizeof(msg_result_entry_t), r_result_entry,
                          "result.entries");
}

static void r_submit(rd_t *r, msg_submit_t *s)
{
    s->request = r_uint(r, UINT64_MAX, "submit.request");
    r_record(r, MSG__JOB_FIELDS, "submit.job");
    r_job_fields(r, &s->job);
    s->job.name = r_str(r, true, "submit.name");
    s->job.max_attempts = r_u32(r, "submit.max_attempts");
}

/* A subtree's custom resources: as many as an engine may have, each
 * name once, free within total. */
static void r_custom_counts(rd_t *r, msg_summary_t *s)
{
    uint32_t n = r_array(r, RES_MAX_CUSTOM, 1 + MSG__CUSTOM_COUNT_FIELDS,
                         "summary.custom");
    if (n > 0)
        s->custom = arena_front(r, n * sizeof *s->custom, "summary.custom");
    for (uint32_t i = 0; i < n && !r->failed; i++) {
        msg_custom_count_t *x = &s->custom[i];
        r_record(r, MSG__CUSTOM_COUNT_FIELDS, "summary.custom");
        r_res_name(r, x->name, "summary.custom.name");
        for (uint32_t j = 0; j < i && !r->failed; j++)
            if (strcmp(s->custom[j].name, x->name) == 0)
                fail(r, "custom resource named twice",
                     "summary.custom.name");
        x->total = r_uint(r, UINT64_MAX, "summary.custom.total");
        x->free = r_uint(r, x->total, "summary.custom.free");
    }
    s->ncustom = r->failed ? 0 : n;
    if (r->failed)
        s->custom = NULL;
}

static void r_stats_entry(rd_t *r, void *p, const char *field)
{
    msg_node_stats_t *x = p;
    r_record(r, MSG__STATS_FIELDS, field);
    x->node = r_u32(r, "stats.node");
    x->parent = r_u32(r, "stats.parent");
    x->children = r_u32(r, "stats.children");
    x->sent = r_uint(r, UINT64_MAX, "stats.sent");
    x->received = r_uint(r, UINT64_MAX, "stats.received");
    x->bytes_out = r_uint(r, UINT64_MAX, "stats.bytes_out");
    x->bytes_in = r_uint(r, UINT64_MAX, "stats.bytes_in");
}

static void r_summary(rd_t *r, msg_summary_t *s)
{
    s->engines = r_u32(r, "summary.engines");
    s->slots = r_uint(r, UINT64_MAX, "summary.slots");
    s->cpus_milli = r_uint(r, UINT64_MAX, "summary.cpus_milli");
    s->mem_bytes = r_uint(r, UINT64_MAX, "summary.mem_bytes");
    s->gpus = r_u32(r, "summary.gpus");
    s->queued = r_uint(r, UINT64_MAX, "summary.queued");
    s->free_slots = r_uint(r, UINT64_MAX, "summary.free_slots");
    s->stats = r_list(r, &s->nstats, MSG_MAX_BATCH, 1 + MSG__STATS_FIELDS,
                      sizeof(msg_node_stats_t), r_stats_entry, "summary.stats");
    r_custom_counts(r, s);
}

static void r_event_entry(rd_t *r, void *p, const char *field)
{
    msg_node_event_entry_t *x = p;
    /* 3 fields, or 6 with the attached node's HELLO strings. */
    uint32_t nf = r_array(r, UINT32_MAX, 1, field);
    if (!r->failed && nf != MSG__EVENT_FIELDS
        && nf != MSG__EVENT_FIELDS_HELLO)
        fail(r, "wrong number of fields", field);
    x->node = r_u32(r, "nodes.node");
    x->parent = r_u32(r, "nodes.parent");
    x->event = (uint32_t)r_uint(r, MSG_NODE_LEFT, "nodes.event");
    if (!r->failed && x->event < MSG_NODE_ATTACHED)
        fail(r, "number out of range", "nodes.event");
    if (nf == MSG__EVENT_FIELDS_HELLO) {
        x->worker_id = r_str(r, true, "nodes.worker_id");
        x->host = r_str(r, true, "nodes.host");
        x->relay = r_str(r, true, "nodes.relay");
    }
}

static void r_nodes(rd_t *r, msg_nodes_t *v)
{
    v->events = r_list(r, &v->n, MSG_MAX_BATCH, 1 + MSG__EVENT_FIELDS,
                       sizeof(msg_node_event_entry_t), r_event_entry,
                       "nodes.events");
}

/* RETURN, REJECT and ORPHAN: one leading field, then the tasks. */
static void r_tasks(rd_t *r, msg_type_t type, msg_tasks_t *t)
{
    if (type == MSG_RETURN)
        t->done = r_bool(r, "return.done");
    else if (type == MSG_REJECT)
        t->reason = r_str(r, false, "reject.reason");
    else
        t->node = r_u32(r, "orphan.node");
    t->tasks = r_refs(r, &t->n, "tasks");
}

static void r_bcast(rd_t *r, msg_bcast_t *b)
{
    b->id = r_uint(r, UINT64_MAX, "bcast.id");
    b->words = r_strv(r, &b->nwords, MSG_MAX_ARGS, "bcast.words");
    b->blob = r_hash(r, true, "bcast.blob");
    b->timeout_ms = r_u32(r, "bcast.timeout_ms");
    b->want_output = r_bool(r, "bcast.want_output");
}

static void r_broadcast(rd_t *r, msg_broadcast_t *b)
{
    b->request = r_uint(r, UINT64_MAX, "request");
    b->words = r_strv(r, &b->nwords, MSG_MAX_ARGS, "broadcast.words");
    b->blob = r_hash(r, true, "broadcast.blob");
    b->timeout_ms = r_u32(r, "broadcast.timeout_ms");
    b->want_output = r_bool(r, "broadcast.want_output");
}

static void r_breply_entry(rd_t *r, void *p, const char *field)
{
    msg_breply_entry_t *x = p;
    r_record(r, MSG__BREPLY_FIELDS, field);
    x->node = r_u32(r, "breply.node");
    x->exit_code = r_i32(r, "breply.exit_code");
    x->out = r_bin(r, &x->out_len, "breply.out");
}

static void r_breply(rd_t *r, msg_breply_t *b)
{
    b->id = r_uint(r, UINT64_MAX, "breply.id");
    b->ok = r_u32(r, "breply.ok");
    b->failed = r_u32(r, "breply.failed");
    b->missing = r_u32(r, "breply.missing");
    b->entries = r_list(r, &b->n, MSG_MAX_BATCH, 1 + MSG__BREPLY_FIELDS,
                        sizeof(msg_breply_entry_t), r_breply_entry,
                        "breply.entries");
}

static void r_blob_get(rd_t *r, msg_blob_get_t *g)
{
    g->hash = r_hash(r, false, "blob_get.hash");
    g->offset = r_uint(r, UINT64_MAX, "blob_get.offset");
    g->len = (uint32_t)r_uint(r, MSG_BLOB_CHUNK, "blob_get.len");
    if (!r->failed && g->len == 0)
        fail(r, "number out of range", "blob_get.len");
}

/* BLOB_DATA and BLOB_PUT (which leads with its request id). */
static void r_blob_data(rd_t *r, msg_type_t type, msg_blob_data_t *d)
{
    if (type == MSG_BLOB_PUT)
        d->request = r_uint(r, UINT64_MAX, "request");
    d->hash = r_hash(r, false, "blob.hash");
    d->offset = r_uint(r, UINT64_MAX, "blob.offset");
    d->total = r_uint(r, UINT64_MAX, "blob.total");
    d->data = r_chunk(r, &d->len, "blob.data");
    if (!r->failed
        && (d->offset > d->total || d->len > d->total - d->offset))
        fail(r, "chunk beyond the blob's total size", "blob.data");
}

static void r_body(rd_t *r, msg_t *m)
{
    switch (m->type) {
    case MSG_HELLO:
        r_hello(r, &m->u.hello);
        break;
    case MSG_WELCOME:
        m->u.welcome.engine_id = r_u32(r, "welcome.engine_id");
        m->u.welcome.server_epoch = r_uint(r, UINT64_MAX, "welcome.epoch");
        m->u.welcome.heartbeat_ms = r_u32(r, "welcome.heartbeat_ms");
        break;
    case MSG_JOB:
        r_job_fields(r, &m->u.job);
        break;
    case MSG_ASSIGN:
        r_assign(r, &m->u.assign);
        break;
    case MSG_RESULT:
        r_result(r, &m->u.result);
        break;
    case MSG_ACK:
        m->u.ack.seq = r_uint(r, UINT64_MAX, "ack.seq");
        break;
    case MSG_KILL:
        m->u.kill.job = r_u32(r, "kill.job");
        m->u.kill.tasks = r_refs(r, &m->u.kill.n, "kill.tasks");
        break;
    case MSG_PING:
    case MSG_PONG:
        m->u.ping.seq = r_uint(r, UINT64_MAX, "ping.seq");
        m->u.ping.sent = r_double(r, "ping.sent");
        break;
    case MSG_BYE:
    case MSG_DENY:
        break;
    case MSG_REDIRECT:
        m->u.redirect.node = r_u32(r, "redirect.node");
        m->u.redirect.parent = r_u32(r, "redirect.parent");
        m->u.redirect.endpoint = r_str(r, false, "redirect.endpoint");
        break;
    case MSG_SUMMARY:
        r_summary(r, &m->u.summary);
        break;
    case MSG_NODES:
        r_nodes(r, &m->u.nodes);
        break;
    case MSG_STEAL:
        m->u.steal.want = r_u32(r, "steal.want");
        break;
    case MSG_RECALL:
        m->u.recall.n = r_u32(r, "recall.n");
        break;
    case MSG_RETURN:
    case MSG_REJECT:
    case MSG_ORPHAN:
        r_tasks(r, m->type, &m->u.tasks);
        break;
    case MSG_BCAST:
        r_bcast(r, &m->u.bcast);
        break;
    case MSG_BREPLY:
        r_breply(r, &m->u.breply);
        break;
    case MSG_BLOB_GET:
        r_blob_get(r, &m->u.blob_get);
        break;
    case MSG_BLOB_DATA:
    case MSG_BLOB_PUT:
        r_blob_data(r, m->type, &m->u.blob_data);
        break;
    case MSG_BLOB_NONE:
        m->u.blob_none.hash = r_hash(r, false, "blob_none.hash");
        break;
    case MSG_BROADCAST:
        r_broadcast(r, &m->u.broadcast);
        break;
    case MSG_SUBMIT:
        r_submit(r, &m->u.submit);
        break;
    case MSG_SUBMITTED:
        m->u.submitted.request = r_uint(r, UINT64_MAX, "request");
        m->u.submitted.job = r_u32(r, "submitted.job");
        m->u.submitted.ntasks = r_uint(r, UINT64_MAX, "submitted.ntasks");
        break;
    case MSG_WAIT:
        m->u.wait.request = r_uint(r, UINT64_MAX, "request");
        m->u.wait.job = r_u32(r, "wait.job");
        break;
    case MSG_JOBSTATE: {
        msg_jobstate_t *s = &m->u.jobstate;
        s->request = r_uint(r, UINT64_MAX, "request");
        s->job = r_u32(r, "jobstate.job");
        s->state = r_str(r, false, "jobstate.state");
        s->ntasks = r_uint(r, UINT64_MAX, "jobstate.ntasks");
        s->pending = r_uint(r, UINT64_MAX, "jobstate.pending");
        s->running = r_uint(r, UINT64_MAX, "jobstate.running");
        s->ok = r_uint(r, UINT64_MAX, "jobstate.ok");
        s->failed = r_uint(r, UINT64_MAX, "jobstate.failed");
        break;
    }
    case MSG_QUERY:
        m->u.query.request = r_uint(r, UINT64_MAX, "request");
        m->u.query.what = r_str(r, false, "query.what");
        m->u.query.args_json = r_str(r, true, "query.args_json");
        break;
    case MSG_ANSWER:
        m->u.answer.request = r_uint(r, UINT64_MAX, "request");
        m->u.answer.json = r_str(r, false, "answer.json");
        break;
    case MSG_CANCEL:
        m->u.cancel.request = r_uint(r, UINT64_MAX, "request");
        m->u.cancel.job = r_u32(r, "cancel.job");
        break;
    case MSG_ERROR:
        m->u.error.request = r_uint(r, UINT64_MAX, "request");
        m->u.error.code = r_i32(r, "error.code");
        m->u.error.text = r_str(r, false, "error.text");
        break;
    }
}

/* ---------------------------------------------------------------- entry */

/* A RESULT entry's record holds its reason inline (banyan_task_end_t):
 * 320 bytes for 17 bytes on the wire at the least, more than
 * ARENA_PER_BYTE times that.  The arena gets the difference (with the
 * NULs of the entry's three empty strings) for as many entries as the
 * frame can hold, at most MSG_MAX_BATCH: about 9 more bytes per frame
 * byte, 10 MB at most.  Every other record fits ARENA_PER_BYTE. */
static size_t result_extra(size_t len)
{
    enum { MIN_BYTES = 1 + MSG__RESULT_FIELDS };
    size_t need = sizeof(msg_result_entry_t) + 8;
    if (need <= ARENA_PER_BYTE * MIN_BYTES)
        return 0;
    size_t n = len / MIN_BYTES;
    if (n > MSG_MAX_BATCH)
        n = MSG_MAX_BATCH;
    return n * (need - ARENA_PER_BYTE * MIN_BYTES);
}

msg_t *msg_decode(const void *data, size_t len, banyan_error_t *error)
{
    if (data == NULL && len > 0) {
        errno = EINVAL;
        errprintf(error, "msg_decode: no data");
        return NULL;
    }
    if (len > MSG_MAX_FRAME) {
        errno = EPROTO;
        errprintf(error, "malformed message: frame of %zu bytes is larger "
                  "than MSG_MAX_FRAME", len);
        return NULL;
    }
    size_t cap = sizeof(msg_t) + 8 + ARENA_PER_BYTE * len + ARENA_EXTRA
                 + result_extra(len);
    msg_t *m = malloc(cap);
    if (m == NULL) {
        errno = ENOMEM;
        errprintf(error, "out of memory decoding a %zu-byte message", len);
        return NULL;
    }
    memset(m, 0, sizeof *m);
    rd_t r = {
        .start = data,
        .p = data,
        .end = (const uint8_t *)data + len,
        .front = (char *)(m + 1),
        .back = (char *)m + cap,
        .error = error,
    };
    uint32_t n = r_array(&r, UINT32_MAX, 1, "header");
    if (!r.failed && n < MSG__HEADER_FIELDS)
        fail(&r, "array too short for a header", "header");
    if (r_uint(&r, UINT64_MAX, "magic") != MSG_MAGIC && !r.failed)
        fail(&r, "bad magic (not a banyan message)", "magic");
    uint64_t version = r_uint(&r, UINT64_MAX, "version");
    if (version != MSG_VERSION && !r.failed) {
        r.failed = true;
        errprintf(error, "malformed message: protocol version %llu, this "
                  "node speaks %d", (unsigned long long)version, MSG_VERSION);
    }
    uint64_t type = r_uint(&r, UINT64_MAX, "type");
    int nfields = type > 255 ? -1 : msg__body_fields((int)type);
    if (nfields < 0 && !r.failed) {
        r.failed = true;
        errprintf(error, "malformed message: unknown type %llu",
                  (unsigned long long)type);
    }
    if (!r.failed && n != MSG__HEADER_FIELDS + (uint32_t)nfields) {
        r.failed = true;
        errprintf(error, "malformed message: %s with %u body fields, "
                  "expected %d", msg_type_name((int)type),
                  n - MSG__HEADER_FIELDS, nfields);
    }
    if (!r.failed) {
        m->type = (msg_type_t)type;
        r_body(&r, m);
    }
    if (!r.failed && r.p != r.end)
        fail(&r, "trailing bytes after the message", msg_type_name(m->type));
    if (r.failed) {
        free(m);
        errno = EPROTO;
        return NULL;
    }
    return m;
}

void msg_free(msg_t *m)
{
    free(m);
}

void msg_hello_capacity(const msg_hello_t *h, res_capacity_t *cap)
{
    memset(cap, 0, sizeof(*cap));
    cap->slots = h->slots;
    cap->cpus_milli = h->cpus_milli;
    cap->mem_bytes = h->mem_bytes;
    cap->ngpus = h->ngpus > RES_MAX_GPUS ? RES_MAX_GPUS : (int)h->ngpus;
    for (int i = 0; i < cap->ngpus; i++) {
        cap->gpus[i].index = h->gpus[i].index;
        cap->gpus[i].mem_total_bytes = h->gpus[i].mem_total_bytes;
    }
    cap->ncustom = h->ncustom > RES_MAX_CUSTOM ? RES_MAX_CUSTOM
                                               : (int)h->ncustom;
    for (int i = 0; i < cap->ncustom; i++)
        cap->custom[i] = h->custom[i];
}
