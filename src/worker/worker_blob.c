/* SPDX-License-Identifier: MIT */
/* worker_blob.c - a worker's blobs: the on-disk cache, pull-through fetch
 * from the parent, and answers to the children's BLOB_GETs.
 *
 * The protocol is chunk by chunk: BLOB_GET (hash, offset) asks for the
 * chunk that starts at offset, BLOB_DATA carries it with the blob's total
 * size.  A fetch up asks for chunk 0 first (it learns the size from the
 * answer), then keeps WORKER_BB_CHUNKS_IN_FLIGHT requests outstanding until
 * every chunk was asked for.  blob_fetch assembles the chunks in the cache
 * directory, checks the hash and completes every waiter: need_blob callers
 * and children's BLOB_GETs.  So many children asking for one blob cause one
 * transfer over the link above.
 *
 * Chunks stream: a child's BLOB_GET for a chunk that already arrived is
 * answered from the partial file, and one for a chunk still on its way is
 * answered with that chunk's BLOB_DATA the moment it comes in, so the
 * levels of the tree transfer at the same time instead of one after the
 * other.  Such chunks are not verified yet; every node checks the hash of
 * what it assembled, so a bad payload fails at each node as it would at
 * the first.
 *
 * Records may be reallocated by callbacks that start other fetches, so no
 * pointer to a bb_up_t is kept across a call into blob_fetch.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "worker/worker_bb_private.h"

/* Chunk i of a message is chunk i of the blob module. */
_Static_assert((long)MSG_BLOB_CHUNK == (long)BLOB_CHUNK_BYTES,
               "one chunk size");

/* -------------------------------------------------------- fetches up */

static bb_up_t *up_find(worker_bb_t *b, const blob_id_t *id)
{
    for (size_t i = 0; i < b->nups; i++)
        if (blob_id_equal(&b->ups[i].id, id))
            return &b->ups[i];
    return NULL;
}

/* The record of id, made fresh (nothing known, nothing asked) when there is
 * none; NULL with ENOMEM. */
static bb_up_t *up_get(worker_bb_t *b, const blob_id_t *id)
{
    bb_up_t *u = up_find(b, id);
    if (u)
        return u;
    if (util_grow((void **)&b->ups, &b->ups_cap, b->nups + 1,
                  sizeof(*b->ups)) < 0)
        return NULL;
    u = &b->ups[b->nups++];
    memset(u, 0, sizeof(*u));
    u->id = *id;
    return u;
}

static void up_remove(worker_bb_t *b, const blob_id_t *id)
{
    bb_up_t *u = up_find(b, id);
    if (u)
        *u = b->ups[--b->nups];
}

/* Ask the parent for chunk index of id.  Returns whether it was sent. */
static bool send_get(worker_bb_t *b, const blob_id_t *id, uint64_t index)
{
    msg_t m = {.type = MSG_BLOB_GET};
    m.u.blob_get.hash = id->bytes;
    m.u.blob_get.offset = index * (uint64_t)MSG_BLOB_CHUNK;
    m.u.blob_get.len = MSG_BLOB_CHUNK;
    if (b->ops.send_up(b->arg, &m) < 0)
        return false;
    b->st.blob_requests_up++;
    return true;
}

/* Keep the window of chunk requests full. */
static void up_top_up(worker_bb_t *b, bb_up_t *u)
{
    while (u->known && u->inflight < WORKER_BB_CHUNKS_IN_FLIGHT
           && u->next < u->nchunks) {
        send_get(b, &u->id, u->next);
        u->next++;
        u->inflight++;
    }
}

/* blob_fetch wants id from the parent (a first waiter, or a retry after a
 * new parent): start over with chunk 0, which tells the size. */
static void on_request(const blob_id_t *id, void *arg)
{
    worker_bb_t *b = arg;
    if (b->destroying)
        return;
    bb_up_t *u = up_get(b, id);
    if (u) {
        u->known = false;
        u->nchunks = 0;
        u->next = 1;
        u->inflight = 1;
    }
    /* Without a record (no memory) the request still goes: the record is
     * made when the data comes. */
    send_get(b, id, 0);
}

/* ------------------------------------------------------------ serving */

static void send_none(worker_bb_t *b, uint32_t child, const blob_id_t *id)
{
    msg_t m = {.type = MSG_BLOB_NONE};
    m.u.blob_none.hash = id->bytes;
    (void)b->ops.send_child(b->arg, child, &m);
}

static void send_data(worker_bb_t *b, uint32_t child, const blob_id_t *id,
                      uint64_t offset, uint64_t total, const void *data,
                      uint32_t len)
{
    msg_t m = {.type = MSG_BLOB_DATA};
    m.u.blob_data.hash = id->bytes;
    m.u.blob_data.offset = offset;
    m.u.blob_data.total = total;
    m.u.blob_data.len = len;
    m.u.blob_data.data = data;
    if (b->ops.send_child(b->arg, child, &m) == 0)
        b->st.blob_bytes_served += len;
}

/* Answer a child's BLOB_GET from the cache: the chunk that starts at
 * offset, or BLOB_NONE when the blob is not (any longer) here or the
 * offset is not one of its chunks. */
static void serve(worker_bb_t *b, uint32_t child, const blob_id_t *id,
                  uint64_t offset)
{
    uint64_t total;
    size_t len = 0;
    int rc = -1;
    /* The pin marks the blob used, so blobs that children want stay. */
    if (blob_size(b->cache, id, &total) == 0
        && offset % MSG_BLOB_CHUNK == 0
        && (offset < total || (offset == 0 && total == 0))
        && blob_pin(b->cache, id) == 0) {
        rc = blob_chunk_read(b->cache, id, offset / MSG_BLOB_CHUNK, b->chunk,
                             &len);
        (void)blob_unpin(b->cache, id);
    }
    if (rc < 0)
        send_none(b, child, id);
    else
        send_data(b, child, id, offset, total, b->chunk, (uint32_t)len);
}

/* Answer a child's BLOB_GET from the partial file of a fetch under way.
 * Returns whether that chunk was there to send. */
static bool serve_partial(worker_bb_t *b, uint32_t child, const blob_id_t *id,
                          uint64_t offset)
{
    size_t len = 0;
    uint64_t total = 0;
    if (offset % MSG_BLOB_CHUNK != 0
        || blob_fetch_read_chunk(b->fetch, id, offset / MSG_BLOB_CHUNK,
                                 b->chunk, &len, &total) < 0)
        return false;
    b->st.blob_chunks_streamed++;
    send_data(b, child, id, offset, total, b->chunk, (uint32_t)len);
    return true;
}

/* A chunk of a fetch under way arrived and was taken: pass it to the
 * children waiting for it. */
static void stream_chunk(worker_bb_t *b, const blob_id_t *id,
                         const msg_blob_data_t *m)
{
    for (bb_serve_t *s = b->serves; s; s = s->next) {
        if (s->answered || s->child == TREE_NONE || s->offset != m->offset
            || !blob_id_equal(&s->id, id))
            continue;
        s->answered = true;
        b->st.blob_chunks_streamed++;
        send_data(b, s->child, id, m->offset, m->total, m->data, m->len);
    }
}

static void serve_unlink(worker_bb_t *b, bb_serve_t *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        b->serves = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

/* The blob a child waited for arrived (0) or cannot be had. */
static void on_serve_done(const blob_id_t *id, int errnum, void *arg)
{
    bb_serve_t *s = arg;
    worker_bb_t *b = s->bb;
    serve_unlink(b, s);
    if (!b->destroying && s->child != TREE_NONE && !s->answered) {
        if (errnum == 0)
            serve(b, s->child, id, s->offset);
        else
            send_none(b, s->child, id);
    }
    free(s);
}

/* Whether a BLOB_GET for id can be answered from the cache now.  The first
 * chunk goes through blob_get_path, which verifies a blob found on disk at
 * open the first time it is used (a corrupt one is removed and fetched). */
static bool cached(worker_bb_t *b, const blob_id_t *id, uint64_t offset)
{
    if (!blob_has(b->cache, id))
        return false;
    if (offset != 0)
        return true;
    char path[PATH_MAX];
    return blob_get_path(b->cache, id, path, sizeof(path)) == 0;
}

void worker_bb_on_blob_get(worker_bb_t *b, uint32_t child,
                           const msg_blob_get_t *m)
{
    if (!m->hash)
        return;
    blob_id_t id;
    memcpy(id.bytes, m->hash, sizeof(id.bytes));
    if (cached(b, &id, m->offset)) {
        b->st.blob_hits++;
        serve(b, child, &id, m->offset);
        return;
    }
    if (serve_partial(b, child, &id, m->offset))
        return;
    bb_serve_t *s = calloc(1, sizeof(*s));
    if (!s) {
        send_none(b, child, &id);
        return;
    }
    s->bb = b;
    s->id = id;
    s->child = child;
    s->offset = m->offset;
    s->next = b->serves;
    if (s->next)
        s->next->prev = s;
    b->serves = s;
    int rc = blob_fetch_get(b->fetch, &id, on_serve_done, s);
    if (rc == 0)
        return; /* on_serve_done answers */
    serve_unlink(b, s);
    free(s);
    if (rc == 1)
        serve(b, child, &id, m->offset);
    else
        send_none(b, child, &id);
}

void worker_bb__blob_child_lost(worker_bb_t *b, uint32_t child)
{
    /* The records stay until blob_fetch completes them; they answer no
     * one. */
    for (bb_serve_t *s = b->serves; s; s = s->next)
        if (s->child == child)
            s->child = TREE_NONE;
}

/* ---------------------------------------------------- from the parent */

void worker_bb_on_blob_data(worker_bb_t *b, const msg_blob_data_t *m)
{
    if (!m->hash || (m->len > 0 && !m->data))
        return;
    b->st.blob_bytes_in += m->len;
    blob_id_t id;
    memcpy(id.bytes, m->hash, sizeof(id.bytes));
    bb_up_t *u = blob_fetch_pending(b->fetch, &id) ? up_get(b, &id) : NULL;
    if (u) {
        if (!u->known) {
            u->known = true;
            u->nchunks = blob_chunk_count(m->total);
            if (u->next == 0)
                u->next = 1; /* made here: chunk 0 was asked for */
        }
        if (u->inflight > 0)
            u->inflight--;
    }
    /* Completion runs the waiters, which may start other fetches. */
    int rc = blob_fetch_deliver_chunk(b->fetch, &id, m->total, m->offset,
                                      m->data, m->len);
    if (rc == 0)
        stream_chunk(b, &id, m);
    if (!blob_fetch_pending(b->fetch, &id)) {
        up_remove(b, &id);
        return;
    }
    u = up_find(b, &id);
    if (u)
        up_top_up(b, u);
}

void worker_bb_on_blob_none(worker_bb_t *b, const msg_blob_none_t *m)
{
    if (!m->hash)
        return;
    blob_id_t id;
    memcpy(id.bytes, m->hash, sizeof(id.bytes));
    up_remove(b, &id);
    (void)blob_fetch_fail(b->fetch, &id, ENOENT);
}

void worker_bb_parent_changed(worker_bb_t *b)
{
    /* Chunks asked of the old parent will not come: start every fetch
     * over (blob_fetch drops the partial assemblies and calls on_request
     * for each, which makes fresh records). */
    b->nups = 0;
    (void)blob_fetch_retry_all(b->fetch);
}

/* --------------------------------------------------------- need_blob */

/* Complete one need_blob caller. */
static void need_finish(bb_need_t *n, int errnum)
{
    worker_bb_t *b = n->bb;
    char path[PATH_MAX];
    if (errnum == 0 && !b->destroying
        && blob_get_path(b->cache, &n->id, path, sizeof(path)) < 0)
        errnum = errno;
    if (b->destroying)
        errnum = ECANCELED;
    n->cb(n->arg, errnum, errnum ? NULL : path);
    free(n);
}

static void on_need_done(const blob_id_t *id, int errnum, void *arg)
{
    (void)id;
    need_finish(arg, errnum);
}

/* Complete the callers whose blobs were cached. */
static void ready_finish(worker_bb_t *b, int errnum)
{
    bb_need_t *n = b->ready_head;
    b->ready_head = b->ready_tail = NULL;
    while (n) {
        bb_need_t *next = n->next;
        need_finish(n, errnum);
        n = next;
    }
}

/* Cached blobs are completed here, on the next loop iteration, so that a
 * caller is never called back from inside worker_bb_need_blob(). */
static void on_defer(uv_timer_t *t)
{
    ready_finish(t->data, 0);
}

int worker_bb_need_blob(worker_bb_t *b, const uint8_t hash[32],
                        worker_bb_blob_cb cb, void *arg)
{
    bb_need_t *n = calloc(1, sizeof(*n));
    if (!n) {
        errno = ENOMEM;
        return -1;
    }
    n->bb = b;
    memcpy(n->id.bytes, hash, sizeof(n->id.bytes));
    n->cb = cb;
    n->arg = arg;
    int rc = blob_fetch_get(b->fetch, &n->id, on_need_done, n);
    if (rc < 0) {
        free(n);
        errno = ENOMEM;
        return -1;
    }
    if (rc == 1) {
        b->st.blob_hits++;
        if (b->ready_tail)
            b->ready_tail->next = n;
        else
            b->ready_head = n;
        b->ready_tail = n;
        uv_timer_start(&b->defer, on_defer, 0, 0);
    }
    return 0;
}

int worker_bb_blob_pin(worker_bb_t *b, const uint8_t hash[32])
{
    blob_id_t id;
    memcpy(id.bytes, hash, sizeof(id.bytes));
    return blob_pin(b->cache, &id);
}

int worker_bb_blob_unpin(worker_bb_t *b, const uint8_t hash[32])
{
    blob_id_t id;
    memcpy(id.bytes, hash, sizeof(id.bytes));
    return blob_unpin(b->cache, &id);
}

/* -------------------------------------------------------- life cycle */

int worker_bb__blob_open(worker_bb_t *b, const char *dir, uint64_t max_bytes,
                         banyan_error_t *err)
{
    b->chunk = malloc(MSG_BLOB_CHUNK);
    if (!b->chunk) {
        errno = ENOMEM;
        return errprintf(err, "worker: out of memory for the blob buffer");
    }
    b->cache = blob_cache_open(dir, max_bytes, err);
    if (!b->cache)
        return -1;
    b->fetch = blob_fetch_create(b->cache, on_request, b);
    if (!b->fetch) {
        errno = ENOMEM;
        return errprintf(err, "worker: out of memory for the blob fetcher");
    }
    int rc = uv_timer_init(b->loop, &b->defer);
    if (rc < 0) {
        errno = -rc;
        return errprintf(err, "worker: cannot make a timer: %s",
                         uv_strerror(rc));
    }
    b->defer.data = b;
    b->defer_init = true;
    return 0;
}

void worker_bb__blob_close(worker_bb_t *b)
{
    /* Every waiter completes with ECANCELED: need_blob callers are told,
     * children's requests are dropped (b->destroying). */
    blob_fetch_destroy(b->fetch);
    b->fetch = NULL;
    ready_finish(b, ECANCELED);
    blob_cache_close(b->cache);
    b->cache = NULL;
    free(b->ups);
    b->ups = NULL;
    b->nups = b->ups_cap = 0;
    free(b->chunk);
    b->chunk = NULL;
}
