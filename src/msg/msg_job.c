/* SPDX-License-Identifier: MIT */
/* msg_job.c - a job's definition: its JSON record and its tasks.
 *
 * msg_job_t is the one shape of a job from the client to the processes
 * (msg.h).  Its MessagePack record is written and read by put_job_fields
 * and r_job_fields (msg_encode.c, msg_decode.c); this file holds the JSON
 * record the server stores in runs.spec_json, with the same fields and
 * the blobs as hex names, and the one place a job's tasks are counted.
 * A database written before a field existed must stay readable: absent
 * fields read as 0 (no blobs, no flags, one attempt).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"
#include "msg/msg_private.h"

/* ----------------------------------------------------------------- JSON */

static json_t *strings_json(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i] ? v[i] : "")) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *request_json(const res_request_t *r)
{
    json_t *c = json_object();
    for (int i = 0; c && i < r->ncustom && i < RES_MAX_CUSTOM; i++)
        json_object_set_new(c, r->custom[i].name,
                            json_integer((json_int_t)r->custom[i].amount));
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o*}", "slots",
                     (json_int_t)r->slots, "cpus_milli",
                     (json_int_t)r->cpus_milli, "mem_bytes",
                     (json_int_t)r->mem_bytes, "gpus_milli",
                     (json_int_t)r->gpus_milli, "gpu_mem_bytes",
                     (json_int_t)r->gpu_mem_bytes, "custom", c);
}

json_t *msg_job_to_json(const msg_job_t *d)
{
    json_t *sources = json_array(), *blobs = json_array();
    for (uint32_t i = 0; sources && i < d->nsources; i++) {
        const banyan_source_t *s = &d->sources[i];
        json_t *src = json_pack("{s:o*, s:b}", "values",
                                strings_json(s->values, s->nvalues),
                                "linked", s->linked);
        if (json_array_append_new(sources, src) < 0) { /* steals src */
            json_decref(sources);
            sources = NULL;
        }
    }
    for (uint32_t i = 0; blobs && i < d->nblobs; i++) {
        blob_id_t id;
        char hex[BLOB_HEX_LEN + 1];
        memcpy(id.bytes, d->blobs[i], sizeof(id.bytes));
        json_t *name = json_string(blob_id_format(&id, hex));
        if (json_array_append_new(blobs, name) < 0) {
            json_decref(blobs);
            blobs = NULL;
        }
    }
    /* o* steals each part and fails the whole pack when one is NULL */
    return json_pack("{s:o*, s:o*, s:I, s:I, s:o*, s:s?, s:I, s:s?, s:i, "
                     "s:I, s:o*, s:I, s:o*}",
                     "words", strings_json(d->words, d->nwords),
                     "sources", sources,
                     "array_first", (json_int_t)d->array_first,
                     "array_count", (json_int_t)d->array_count,
                     "env", strings_json(d->env, d->nenv),
                     "cwd", d->cwd,
                     "timeout_ms", (json_int_t)d->timeout_ms,
                     "name", d->name,
                     "priority", (int)d->priority,
                     "max_attempts", (json_int_t)d->max_attempts,
                     "request", request_json(&d->req),
                     "flags", (json_int_t)d->flags,
                     "blobs", blobs);
}

static int64_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* Borrow the strings of a JSON array into a new array of pointers. */
static const char **strings_borrow(const json_t *a, uint32_t *n)
{
    size_t len = json_array_size(a);
    const char **v = calloc(len + 1, sizeof(*v));
    for (size_t i = 0; v && i < len; i++) {
        const char *t = json_string_value(json_array_get(a, i));
        v[i] = t ? t : "";
    }
    *n = v ? (uint32_t)len : 0;
    return v;
}

static int request_from_json(const json_t *r, res_request_t *req)
{
    memset(req, 0, sizeof(*req));
    req->slots = (uint32_t)jint(r, "slots");
    req->cpus_milli = (uint32_t)jint(r, "cpus_milli");
    req->mem_bytes = (uint64_t)jint(r, "mem_bytes");
    req->gpus_milli = (uint32_t)jint(r, "gpus_milli");
    req->gpu_mem_bytes = (uint64_t)jint(r, "gpu_mem_bytes");
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(r, "custom"), key, v) {
        if (req->ncustom == RES_MAX_CUSTOM || strlen(key) >= RES_NAME_MAX)
            return -1;
        snprintf(req->custom[req->ncustom].name, RES_NAME_MAX, "%s", key);
        req->custom[req->ncustom].amount = (uint64_t)json_integer_value(v);
        req->ncustom++;
    }
    if (req->slots == 0)
        req->slots = 1;
    return 0;
}

/* The blobs (hex names) into d->blobs (owned).  -1 with EINVAL (a bad
 * name, too many, or a stdin blob without blobs) or ENOMEM. */
static int blobs_from_json(const json_t *a, msg_job_t *d)
{
    size_t n = json_array_size(a);
    if ((a && !json_is_array(a)) || n > MSG_MAX_JOB_BLOBS
        || ((d->flags & MSG_JOB_STDIN_BLOB) && n == 0)) {
        errno = EINVAL;
        return -1;
    }
    uint8_t (*b)[MSG_HASH_LEN] = n ? malloc(n * sizeof(*b)) : NULL;
    if (n && !b)
        return -1;
    for (size_t i = 0; i < n; i++) {
        blob_id_t id;
        if (blob_id_parse(json_string_value(json_array_get(a, i)), &id) < 0) {
            free(b);
            errno = EINVAL;
            return -1;
        }
        memcpy(b[i], id.bytes, MSG_HASH_LEN);
    }
    d->nblobs = (uint32_t)n;
    d->blobs = (const uint8_t (*)[MSG_HASH_LEN])b;
    return 0;
}

int msg_job_from_json(msg_job_t *d, const json_t *spec,
                      banyan_error_t *error)
{
    uint32_t id = d->id;
    memset(d, 0, sizeof(*d));
    d->id = id;
    if (!json_is_object(spec))
        goto bad;
    d->words = strings_borrow(json_object_get(spec, "words"), &d->nwords);
    d->env = strings_borrow(json_object_get(spec, "env"), &d->nenv);
    json_t *sources = json_object_get(spec, "sources");
    size_t ns = json_array_size(sources);
    banyan_source_t *src = calloc(ns + 1, sizeof(*src));
    d->sources = src;
    if (!d->words || !d->env || !src)
        goto nomem;
    d->nsources = (uint32_t)ns;
    for (size_t i = 0; i < ns; i++) {
        json_t *s = json_array_get(sources, i);
        uint32_t nv;
        src[i].values = strings_borrow(json_object_get(s, "values"), &nv);
        src[i].nvalues = nv;
        src[i].linked = json_is_true(json_object_get(s, "linked"));
        if (!src[i].values)
            goto nomem;
    }
    d->array_first = (uint64_t)jint(spec, "array_first");
    d->array_count = (uint64_t)jint(spec, "array_count");
    d->cwd = json_string_value(json_object_get(spec, "cwd"));
    d->timeout_ms = jint(spec, "timeout_ms");
    d->flags = (uint32_t)jint(spec, "flags");
    d->name = json_string_value(json_object_get(spec, "name"));
    d->priority = (int32_t)jint(spec, "priority");
    d->max_attempts = (uint32_t)jint(spec, "max_attempts");
    if (d->nwords == 0 || (d->flags & ~(uint32_t)MSG_JOB_STDIN_BLOB) != 0
        || request_from_json(json_object_get(spec, "request"), &d->req) < 0)
        goto bad;
    if (blobs_from_json(json_object_get(spec, "blobs"), d) < 0) {
        if (errno == ENOMEM)
            goto nomem;
        goto bad;
    }
    return 0;
nomem:
    msg_job_fini(d);
    errno = ENOMEM;
    return errprintf(error, "out of memory");
bad:
    msg_job_fini(d);
    errno = EINVAL;
    return errprintf(error, "job %u: malformed definition", id);
}

void msg_job_fini(msg_job_t *d)
{
    int saved = errno;
    free(d->words);
    free(d->env);
    for (uint32_t i = 0; d->sources && i < d->nsources; i++)
        free((void *)d->sources[i].values);
    free((void *)d->sources);
    free((void *)d->blobs);
    uint32_t id = d->id;
    memset(d, 0, sizeof(*d));
    d->id = id;
    errno = saved;
}

/* ---------------------------------------------------------------- tasks */

int msg_job_tasks(const msg_job_t *d, uint64_t *ntasks, tmpl_t **tmpl,
                  tmpl_inputs_t **inputs, banyan_error_t *error)
{
    if (d->nsources > 0 && d->array_count > 0) {
        errno = EINVAL;
        return errprintf(error, "a job has input sources or an array "
                                "range, not both");
    }
    if (d->array_count > 0 && d->array_first + d->array_count
                                  < d->array_first) {
        errno = EINVAL;
        return errprintf(error, "the array range overflows");
    }
    static const tmpl_syntax_t argv_words = {.argv_words = true};
    tmpl_t *t = tmpl_parse(d->words, (int)d->nwords, &argv_words, error);
    if (!t)
        return -1;
    tmpl_inputs_t *in = NULL;
    int rc = 0;
    if (d->nsources > 0 && !(in = tmpl_inputs_create()))
        rc = errprintf(error, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < d->nsources; i++)
        rc = tmpl_inputs_add_values(in, d->sources[i].values,
                                    d->sources[i].nvalues,
                                    d->sources[i].linked, error);
    if (rc == 0)
        rc = tmpl_check_arity(t, in ? tmpl_inputs_arity(in)
                                    : d->array_count > 0, error);
    *ntasks = in ? tmpl_inputs_count(in)
                 : d->array_count > 0 ? d->array_count : 1;
    if (rc == 0 && tmpl) {
        *tmpl = t;
        *inputs = in;
        return 0;
    }
    int saved = errno;
    tmpl_destroy(t);
    tmpl_inputs_destroy(in);
    errno = saved;
    return rc;
}

void msg_job_sched(const msg_job_t *d, sched_job_t *out)
{
    *out = (sched_job_t){.id = d->id, .priority = d->priority,
                         .req = d->req,
                         .max_attempts = d->max_attempts ? d->max_attempts
                                                          : 1};
    if (out->req.slots == 0)
        out->req.slots = 1;
}
