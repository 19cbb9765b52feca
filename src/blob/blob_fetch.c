/* SPDX-License-Identifier: MIT */
/* blob_fetch.c - pull-through of missing blobs from the parent, coalesced.
 *
 * One pending record per blob asked for: its waiters (callback, arg) and,
 * once chunks arrive, an assembler writing into the cache directory.  The
 * first waiter for an id makes the single request to the parent; later
 * waiters only join the list, so a blob crosses the link to the parent once
 * however many tasks or children want it.  A payload is trusted only after
 * its hash matches the name; a wrong one fails every waiter with EBADMSG.
 *
 * Re-entrancy: a record is unlinked before its waiters are called, and a
 * request is made after the record is linked, so a callback may call back
 * into this module (get, deliver) for the same or other ids.  The pending
 * set is a plain list: a node has few blobs in flight at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"
#include "blob/blob_private.h"
#include "util/util.h"

typedef struct waiter {
    blob_fetch_done_cb done;
    void *arg;
} waiter_t;

typedef struct pending {
    blob_id_t id;
    waiter_t *waiters;       /* in arrival order */
    size_t nwaiters, cap;
    blob_asm_t *as;          /* chunks so far, NULL before the first */
    uint64_t size;           /* size announced with the first chunk */
    struct pending *next;
} pending_t;

struct blob_fetch {
    blob_cache_t *cache;     /* borrowed */
    blob_fetch_request_cb request;
    void *arg;
    pending_t *pending;      /* outstanding requests */
    blob_fetch_stats_t st;
};

blob_fetch_t *blob_fetch_create(blob_cache_t *c, blob_fetch_request_cb request,
                                void *arg)
{
    if (!c || !request) {
        errno = EINVAL;
        return NULL;
    }
    blob_fetch_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->cache = c;
    f->request = request;
    f->arg = arg;
    return f;
}

static pending_t *find(const blob_fetch_t *f, const blob_id_t *id)
{
    for (pending_t *p = f->pending; p; p = p->next)
        if (blob_id_equal(&p->id, id))
            return p;
    return NULL;
}

static void unlink_pending(blob_fetch_t *f, pending_t *p)
{
    pending_t **pp = &f->pending;
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    p->next = NULL;
}

/* Take p out of the set, call every waiter with errnum, free p. */
static void complete(blob_fetch_t *f, pending_t *p, int errnum)
{
    unlink_pending(f, p);
    blob_asm_destroy(p->as);
    p->as = NULL;
    for (size_t i = 0; i < p->nwaiters; i++)
        p->waiters[i].done(&p->id, errnum, p->waiters[i].arg);
    free(p->waiters);
    free(p);
}

void blob_fetch_destroy(blob_fetch_t *f)
{
    if (!f)
        return;
    int saved = errno;
    while (f->pending)
        complete(f, f->pending, ECANCELED);
    free(f);
    errno = saved;
}

static int add_waiter(pending_t *p, blob_fetch_done_cb done, void *arg)
{
    if (util_grow((void **)&p->waiters, &p->cap, p->nwaiters + 1,
                  sizeof(*p->waiters)) < 0)
        return -1;
    p->waiters[p->nwaiters].done = done;
    p->waiters[p->nwaiters].arg = arg;
    p->nwaiters++;
    return 0;
}

int blob_fetch_get(blob_fetch_t *f, const blob_id_t *id,
                   blob_fetch_done_cb done, void *arg)
{
    if (!f || !id || !done) {
        errno = EINVAL;
        return -1;
    }
    if (blob_has(f->cache, id))
        return 1;
    pending_t *p = find(f, id);
    if (p) {
        if (add_waiter(p, done, arg) < 0)
            return -1;
        f->st.coalesced++;
        return 0;
    }
    if (!(p = calloc(1, sizeof *p)))
        return -1;
    p->id = *id;
    if (add_waiter(p, done, arg) < 0) {
        free(p);
        errno = ENOMEM;
        return -1;
    }
    p->next = f->pending;
    f->pending = p;
    f->st.requests++;
    blob_id_t copy = *id; /* id may point into p, which the callback frees */
    f->request(&copy, f->arg);
    return 0;
}

bool blob_fetch_pending(const blob_fetch_t *f, const blob_id_t *id)
{
    return f && id && find(f, id) != NULL;
}

/* The pending fetch a delivery of len bytes of id is for (counted), or
 * NULL with errno: EINVAL, or ENOENT for a blob nobody asked for. */
static pending_t *delivered(blob_fetch_t *f, const blob_id_t *id,
                            const void *data, size_t len)
{
    if (!f || !id || (!data && len > 0)) {
        errno = EINVAL;
        return NULL;
    }
    pending_t *p = find(f, id);
    if (!p) {
        f->st.unsolicited++;
        errno = ENOENT;
        return NULL;
    }
    f->st.bytes_in += len;
    return p;
}

/* Complete p with err (bad: a payload that does not check out); -1. */
static int failed(blob_fetch_t *f, pending_t *p, int err)
{
    if (err == EBADMSG)
        f->st.bad++;
    complete(f, p, err);
    errno = err;
    return -1;
}

int blob_fetch_deliver(blob_fetch_t *f, const blob_id_t *id,
                       const void *data, size_t len)
{
    blob_id_t h;
    pending_t *p = delivered(f, id, data, len);
    if (!p || blob_hash(data, len, &h) < 0)
        return -1;
    if (!blob_id_equal(&h, id))
        return failed(f, p, EBADMSG);
    if (blob_put(f->cache, data, len, NULL) < 0)
        return failed(f, p, errno);
    f->st.delivered++;
    complete(f, p, 0);
    return 0;
}

int blob_fetch_deliver_chunk(blob_fetch_t *f, const blob_id_t *id,
                             uint64_t size, uint64_t offset,
                             const void *data, size_t len)
{
    pending_t *p = delivered(f, id, data, len);
    if (!p)
        return -1;
    if (!p->as) {
        if (!(p->as = blob_asm_create(f->cache, id, size)))
            return failed(f, p, errno);
        p->size = size;
    } else if (size != p->size) {
        goto confused;
    }
    int rc = blob_asm_add(p->as, offset, data, len);
    if (rc < 0 && errno == EINVAL)
        goto confused;
    if (rc <= 0)
        return rc < 0 ? failed(f, p, errno) : 0;
    if (blob_asm_commit(p->as) < 0)
        return failed(f, p, errno);
    f->st.delivered++;
    complete(f, p, 0);
    return 1;

confused: /* offsets or sizes that do not fit together: a bad payload */
    f->st.bad++;
    complete(f, p, EBADMSG);
    errno = EINVAL;
    return -1;
}

int blob_fetch_read_chunk(const blob_fetch_t *f, const blob_id_t *id,
                          uint64_t index, void *buf, size_t *len,
                          uint64_t *size)
{
    const pending_t *p = f && id ? find(f, id) : NULL;
    if (!p || !p->as) {
        errno = ENOENT;
        return -1;
    }
    if (blob_asm_read_chunk(p->as, index, buf, len) < 0)
        return -1;
    if (size)
        *size = p->size;
    return 0;
}

int blob_fetch_fail(blob_fetch_t *f, const blob_id_t *id, int errnum)
{
    pending_t *p = f && id ? find(f, id) : NULL;
    if (!p) {
        errno = ENOENT;
        return -1;
    }
    complete(f, p, errnum);
    return 0;
}

size_t blob_fetch_retry_all(blob_fetch_t *f)
{
    size_t n = 0, asked = 0;

    if (!f)
        return 0;
    for (pending_t *p = f->pending; p; p = p->next)
        n++;
    if (n == 0)
        return 0;
    /* Copy the ids first: a request may complete records synchronously. */
    blob_id_t *ids = malloc(n * sizeof *ids);
    if (!ids)
        return 0;
    size_t i = 0;
    for (pending_t *p = f->pending; p; p = p->next) {
        blob_asm_destroy(p->as);
        p->as = NULL;
        p->size = 0;
        ids[i++] = p->id;
    }
    for (i = 0; i < n; i++) {
        if (!find(f, &ids[i]))
            continue;
        f->st.requests++;
        asked++;
        f->request(&ids[i], f->arg);
    }
    free(ids);
    return asked;
}

void blob_fetch_stats(const blob_fetch_t *f, blob_fetch_stats_t *out)
{
    *out = f->st;
}
