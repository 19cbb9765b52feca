/* SPDX-License-Identifier: MIT */
/* server_bcast.c - broadcasts started at the root, and blobs.
 *
 * BROADCAST from a client starts a tree_bcast over the root's direct
 * children (flat workers too: each answers for itself): ONE BCAST down
 * each link, ONE coalesced BREPLY back per link, then ONE ANSWER to the
 * client with the tally.  The root's messages per broadcast are counted,
 * so that `status` shows they grow with k, not with the engines.
 *
 * BLOB_PUT chunks from a client are assembled in memory per (peer, hash),
 * in order, checked against their name (blob_hash) and stored once in the
 * database (store_blob_put); BLOB_GET from a direct child is answered
 * from the database, one chunk per request.  Both, with their counters,
 * are this file's alone (srv_bcast_t); server.c runs the poll timer.
 *
 * Uploads are bounded (docs/blobs.md, "Uploads that stop"): a client that
 * vanishes mid-upload sends no word of it, so an upload with no chunk for
 * put_idle_ms (SRV_BLOB_PUT_IDLE_MS, or BANYAN_BLOB_PUT_IDLE_MS for tests)
 * is dropped, its staged rows with it, and counted ("expired"); at most
 * PUTS_MAX uploads are under way at once, PUTS_PER_PEER_MAX of them from
 * one connection, and a new one past either bound is refused (EBUSY) and
 * counted ("refused").  So what vanished clients can leave in the
 * database is PUTS_MAX uploads, for put_idle_ms.
 *
 * Memory: srv__blob_beat also hands the heap's free pages back to the
 * system after a burst (mem_beat below).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob/blob.h"
#include "server/server_private.h"

/* A BLOB_GET of one protocol chunk reads one stored row. */
_Static_assert((long)MSG_BLOB_CHUNK == (long)STORE_BLOB_CHUNK,
               "one chunk size on the wire and in the store");

enum {
    BCAST_DEFAULT_MS = 10000,
    BCAST_MAX_OUT = 4096,    /* bytes of output tail per engine answered */
    PUTS_MAX = 32,           /* uploads under way on the server */
    PUTS_PER_PEER_MAX = 4,   /* ... from one connection (routing id) */
    PUT_IDLE_MAX_MS = 86400000, /* BANYAN_BLOB_PUT_IDLE_MS: at most 1 day */
};

/* Heap pages freed by a burst are handed back once the heap's free bytes
 * grew by this much since the last trim (mem_beat), looked at every
 * MEM_CHECK_MS at most. */
#define TRIM_GROWTH_BYTES ((size_t)8 << 20)
enum { MEM_CHECK_MS = 5000 };

static const char PUT_IDLE_ENV[] = "BANYAN_BLOB_PUT_IDLE_MS";

/* A broadcast started at the root for a client. */
typedef struct bcast {
    uint64_t id;
    msg_peer_t client;
    uint64_t request;
    uint32_t engines;           /* engines known when it started */
    int64_t started_ms;
    bool want_output;
    uint64_t sent, received;    /* root messages for it */
    json_t *outputs;            /* [{"node","exit","out"}] */
} bcast_t;

/* A client's blob upload under way: its chunks go into the store as they
 * come (staged), so the server holds one chunk, not the blob. */
typedef struct put {
    msg_peer_t peer;
    uint8_t hash[MSG_HASH_LEN];
    uint64_t total;
    uint64_t received;          /* bytes staged so far */
    int64_t upload;             /* its number in the store's staging */
    blob_hash_state_t hs;       /* the hash of what came so far */
    int64_t last_ms;
} put_t;

struct srv_bcast {
    tree_bcast_t *tb;
    bcast_t *v;                 /* broadcasts in flight */
    size_t n, cap;
    uint64_t next_id;
    put_t *puts;                /* uploads under way */
    size_t nputs, cap_puts;
    int64_t last_upload;        /* staging numbers given so far */
    int64_t put_idle_ms;        /* an upload silent this long is dropped */
    uint64_t started, sent, received;   /* broadcasts; root messages */
    uint64_t blob_puts, blob_bytes_in, blob_gets, blob_bytes_out;
    uint64_t puts_expired;      /* uploads dropped after put_idle_ms */
    uint64_t puts_refused;      /* new uploads refused: too many */
    size_t heap_free_base;      /* the heap's free bytes after the last
                                   trim, or their low since */
    int64_t mem_next_ms;        /* the heap's next look (util_mono_ms) */
    uint64_t trims;             /* malloc_trim calls (after a burst) */
    uint64_t trimmed_bytes;     /* RSS they gave back */
};

/* -------------------------------------------------------------- helpers */

static char *hex(const uint8_t *hash, char out[BLOB_HEX_LEN + 1])
{
    blob_id_t id;
    memcpy(id.bytes, hash, BLOB_ID_BYTES);
    return blob_id_format(&id, out);
}

/* ------------------------------------------------------------ broadcast */

/* put_idle_ms: SRV_BLOB_PUT_IDLE_MS, or BANYAN_BLOB_PUT_IDLE_MS (tests
 * set it short).  -1 (EINVAL) when the variable is not a number in range. */
static int put_idle_get(int64_t *ms, banyan_error_t *error)
{
    const char *v = getenv(PUT_IDLE_ENV);
    *ms = SRV_BLOB_PUT_IDLE_MS;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < 1 || n > PUT_IDLE_MAX_MS) {
        errno = EINVAL;
        return errprintf(error, "%s='%s': not a number of milliseconds "
                         "from 1 to %d", PUT_IDLE_ENV, v, PUT_IDLE_MAX_MS);
    }
    *ms = n;
    return 0;
}

srv_bcast_t *srv__bcast_create(server_t *s, banyan_error_t *error)
{
    srv_bcast_t *bc = calloc(1, sizeof(*bc));
    if (!bc || !(bc->tb = tree_bcast_create(false, false))) {
        free(bc);
        errno = ENOMEM;
        errprintf(error, "out of memory");
        return NULL;
    }
    if (put_idle_get(&bc->put_idle_ms, error) < 0) {
        srv__bcast_destroy(bc);
        errno = EINVAL;
        return NULL;
    }
    bc->heap_free_base = SIZE_MAX;
    /* Uploads a previous server was receiving when it stopped. */
    if (store_blob_stage_drop(s->store, 0) < 0
        || store_flush(s->store) < 0) {
        errprintf(error, "cannot drop unfinished blob uploads: %s",
                  store_last_error(s->store));
        srv__bcast_destroy(bc);
        return NULL;
    }
    return bc;
}

void srv__bcast_destroy(srv_bcast_t *bc)
{
    if (!bc)
        return;
    tree_bcast_destroy(bc->tb);
    for (size_t i = 0; i < bc->n; i++)
        json_decref(bc->v[i].outputs);
    free(bc->v);
    free(bc->puts); /* staged chunks stay: the next start drops them */
    free(bc);
}

void srv__bcast_json(server_t *s, json_t *o)
{
    srv_bcast_t *bc = s->bcast;
    json_object_set_new(o, "broadcasts", json_pack(
        "{s:I, s:I, s:I}", "started", (json_int_t)bc->started,
        "sent", (json_int_t)bc->sent, "received", (json_int_t)bc->received));
    json_object_set_new(o, "blobs", json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "puts", (json_int_t)bc->blob_puts,
        "bytes_in", (json_int_t)bc->blob_bytes_in,
        "gets", (json_int_t)bc->blob_gets,
        "bytes_out", (json_int_t)bc->blob_bytes_out,
        "uploads", (json_int_t)bc->nputs,
        "expired", (json_int_t)bc->puts_expired,
        "refused", (json_int_t)bc->puts_refused,
        "idle_ms", (json_int_t)bc->put_idle_ms));
    json_object_set_new(o, "memory", json_pack(
        "{s:I, s:I}", "trims", (json_int_t)bc->trims,
        "trimmed_bytes", (json_int_t)bc->trimmed_bytes));
}

static bcast_t *bcast_find(server_t *s, uint64_t id)
{
    srv_bcast_t *bc = s->bcast;
    for (size_t i = 0; i < bc->n; i++)
        if (bc->v[i].id == id)
            return &bc->v[i];
    return NULL;
}

/* Engines of the whole tree: flat workers and every node. */
static uint32_t engines_known(server_t *s)
{
    uint32_t n = srv__tree_count(s);
    srv_engine_t *e;
    for (size_t i = 0; (e = tree_children_at(s->engines, i)); i++)
        n += !srv__worker(e)->node;
    return n;
}

void srv__handle_broadcast(server_t *s, const msg_peer_t *from, msg_t *m)
{
    srv_bcast_t *bc = s->bcast;
    const msg_broadcast_t *b = &m->u.broadcast;
    uint64_t size;
    char name[BLOB_HEX_LEN + 1];
    if (b->blob && store_blob_size(s->store, b->blob, &size) < 0) {
        srv__send_error(s, from, b->request, ENOENT, "no blob %s (store it "
                        "first)", hex(b->blob, name));
        return;
    }
    if (util_grow((void **)&bc->v, &bc->cap, bc->n + 1,
                  sizeof(*bc->v)) < 0) {
        srv__send_error(s, from, b->request, ENOMEM, "out of memory");
        return;
    }
    size_t n = tree_children_count(s->engines);
    /* The children, then (from children + n) the ones to forward to. */
    uint32_t *children = calloc(2 * n + 1, sizeof(*children));
    json_t *outputs = json_array();
    int64_t now = util_mono_ms();
    uint32_t timeout = b->timeout_ms ? b->timeout_ms : BCAST_DEFAULT_MS;
    uint64_t id = ++bc->next_id;
    for (size_t i = 0; children && i < n; i++)
        children[i] = tree_children_at(s->engines, i)->id;
    if (!children || !outputs
        || tree_bcast_begin(bc->tb, id, children, n, now, timeout,
                            children + n) < 0) {
        free(children);
        json_decref(outputs);
        srv__send_error(s, from, b->request, ENOMEM, "out of memory");
        return;
    }
    /* Each level answers a little before its parent's deadline. */
    msg_t d = {.type = MSG_BCAST};
    d.u.bcast.id = id;
    d.u.bcast.nwords = b->nwords;
    d.u.bcast.words = b->words;
    d.u.bcast.blob = b->blob;
    d.u.bcast.timeout_ms = timeout - timeout / 10;
    d.u.bcast.want_output = b->want_output;
    bcast_t *r = &bc->v[bc->n++];
    memset(r, 0, sizeof(*r));
    r->id = id;
    r->client = *from;
    r->request = b->request;
    r->engines = engines_known(s);
    r->started_ms = now;
    r->want_output = b->want_output;
    r->outputs = outputs;
    for (size_t i = 0; i < n; i++) {
        srv_engine_t *e = tree_children_find(s->engines, children[n + i]);
        if (e && srv__send(s, &e->peer, &d) == 0)
            r->sent++;
    }
    free(children);
    bc->started++;
    bc->sent += r->sent;
    s->st.broadcasts++;
    srv__log(s, "broadcast %llu: to %zu direct child%s, %u engines",
             (unsigned long long)id, n, n == 1 ? "" : "ren", r->engines);
}

void srv__handle_breply(server_t *s, srv_engine_t *e, msg_t *m)
{
    srv_bcast_t *bc = s->bcast;
    const msg_breply_t *br = &m->u.breply;
    bc->received++;
    bcast_t *r = bcast_find(s, br->id);
    if (!r)
        return; /* too late: already answered */
    r->received++;
    tree_tally_t t = {.ok = br->ok, .failed = br->failed,
                      .missing = br->missing};
    if (tree_bcast_child_reply(bc->tb, br->id, e->id, &t) < 0)
        return;
    for (uint32_t i = 0; r->want_output && i < br->n; i++) {
        const msg_breply_entry_t *x = &br->entries[i];
        size_t len = x->out_len, skip = 0;
        if (len > BCAST_MAX_OUT) {
            skip = len - BCAST_MAX_OUT;
            len = BCAST_MAX_OUT;
        }
        json_t *o = json_pack("{s:I, s:i, s:o}", "node", (json_int_t)x->node,
                              "exit", (int)x->exit_code, "out",
                              srv__bytes_json(x->out ? (const char *)x->out
                                                           + skip
                                                     : NULL, len));
        if (o)
            json_array_append_new(r->outputs, o);
    }
}

static void bcast_answer(server_t *s, const tree_bcast_done_t *d,
                         int64_t now_ms)
{
    srv_bcast_t *bc = s->bcast;
    bcast_t *r = bcast_find(s, d->bcast_id);
    if (!r)
        return;
    r->sent++; /* the ANSWER */
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:O}", "id",
        (json_int_t)r->id, "engines", (json_int_t)r->engines, "ok",
        (json_int_t)d->tally.ok, "failed", (json_int_t)d->tally.failed,
        "missing", (json_int_t)d->tally.missing, "ms",
        (json_int_t)(now_ms - r->started_ms), "sent", (json_int_t)r->sent,
        "received", (json_int_t)r->received, "outputs", r->outputs);
    srv__log(s, "broadcast %llu: %u ok, %u failed, %u missing in %lld ms",
             (unsigned long long)r->id, d->tally.ok, d->tally.failed,
             d->tally.missing, (long long)(now_ms - r->started_ms));
    srv__send_answer(s, &r->client, r->request, o);
    json_decref(r->outputs);
    *r = bc->v[--bc->n];
}

bool srv__bcast_poll(server_t *s, int64_t now_ms)
{
    srv_bcast_t *bc = s->bcast;
    tree_bcast_done_t done[16];
    int n;
    if (bc->n == 0)
        return false;
    do {
        n = tree_bcast_poll(bc->tb, now_ms, done, 16);
        for (int i = 0; i < n; i++)
            bcast_answer(s, &done[i], now_ms);
    } while (n == 16);
    return bc->n > 0;
}

/* ---------------------------------------------------------------- blobs */

static put_t *put_find(server_t *s, const msg_peer_t *p,
                           const uint8_t *hash)
{
    srv_bcast_t *bc = s->bcast;
    for (size_t i = 0; i < bc->nputs; i++) {
        put_t *u = &bc->puts[i];
        if (u->peer.len == p->len && memcmp(u->peer.id, p->id, p->len) == 0
            && memcmp(u->hash, hash, MSG_HASH_LEN) == 0)
            return u;
    }
    return NULL;
}

/* Forget an upload; drop its staged chunks unless they became the blob.
 * (A failed drop leaves rows nobody reads, which the next start drops.) */
static void put_drop(server_t *s, put_t *u, bool stored)
{
    srv_bcast_t *bc = s->bcast;
    if (!stored && u->received > 0
        && store_blob_stage_drop(s->store, u->upload) < 0)
        srv__log(s, "cannot drop an unfinished blob upload: %s",
                 store_last_error(s->store));
    *u = bc->puts[--bc->nputs];
}

/* The whole blob is here: check its name, make it a blob, answer. */
static void put_finish(server_t *s, put_t *u, uint64_t request)
{
    srv_bcast_t *bc = s->bcast;
    blob_id_t id;
    char name[BLOB_HEX_LEN + 1];
    msg_peer_t peer = u->peer;
    uint64_t total = u->total;
    if (blob_hash_final(&u->hs, &id) < 0
        || memcmp(id.bytes, u->hash, MSG_HASH_LEN) != 0) {
        put_drop(s, u, false);
        srv__send_error(s, &peer, request, EINVAL,
                        "hash does not match the data");
        return;
    }
    hex(u->hash, name);
    if (store_blob_stage_end(s->store, u->upload, u->hash, total) < 0
        || store_flush(s->store) < 0) {
        put_drop(s, u, false);
        srv__send_error(s, &peer, request, EIO, "cannot store blob %s: %s",
                        name, store_last_error(s->store));
        return;
    }
    put_drop(s, u, true);
    bc->blob_puts++;
    bc->blob_bytes_in += total;
    srv__log(s, "blob %.12s stored (%llu bytes)", name,
             (unsigned long long)total);
    srv__send_answer(s, &peer, request,
                json_pack("{s:s, s:I}", "hash", name, "size",
                          (json_int_t)total));
}

static size_t puts_of(const srv_bcast_t *bc, const msg_peer_t *p)
{
    size_t n = 0;
    for (size_t i = 0; i < bc->nputs; i++)
        n += bc->puts[i].peer.len == p->len
             && memcmp(bc->puts[i].peer.id, p->id, p->len) == 0;
    return n;
}

/* A new upload from peer: NULL with an error sent. */
static put_t *put_start(server_t *s, const msg_peer_t *from,
                            const msg_blob_data_t *c)
{
    srv_bcast_t *bc = s->bcast;
    size_t mine = puts_of(bc, from);
    if (bc->nputs >= PUTS_MAX || mine >= PUTS_PER_PEER_MAX) {
        bool peer = mine >= PUTS_PER_PEER_MAX;
        bc->puts_refused++;
        srv__send_error(s, from, c->request, EBUSY, "too many blob uploads "
                        "under way %s (%zu, at most %d): try again when one "
                        "ends, or after %lld ms if a client vanished",
                        peer ? "from this connection" : "on the server",
                        peer ? mine : bc->nputs,
                        peer ? PUTS_PER_PEER_MAX : PUTS_MAX,
                        (long long)bc->put_idle_ms);
        return NULL;
    }
    if (util_grow((void **)&bc->puts, &bc->cap_puts, bc->nputs + 1,
                  sizeof(*bc->puts)) < 0) {
        srv__send_error(s, from, c->request, ENOMEM, "out of memory");
        return NULL;
    }
    put_t *u = &bc->puts[bc->nputs++];
    memset(u, 0, sizeof(*u));
    u->peer = *from;
    memcpy(u->hash, c->hash, MSG_HASH_LEN);
    u->total = c->total;
    u->upload = ++bc->last_upload;
    blob_hash_init(&u->hs);
    return u;
}

void srv__handle_blob_put(server_t *s, const msg_peer_t *from, msg_t *m)
{
    const msg_blob_data_t *c = &m->u.blob_data;
    if (c->total > SRV_BLOB_MAX) {
        srv__send_error(s, from, c->request, EFBIG, "a blob may hold at "
                        "most 4 GiB (this one: %llu bytes)",
                        (unsigned long long)c->total);
        return;
    }
    put_t *u = put_find(s, from, c->hash);
    if (u && c->offset == 0) {
        put_drop(s, u, false); /* the client started over */
        u = NULL;
    }
    if (!u && c->offset != 0) {
        srv__send_error(s, from, c->request, EINVAL, "blob chunk at offset "
                        "%llu of an upload that did not start at 0",
                        (unsigned long long)c->offset);
        return;
    }
    if (!u && !(u = put_start(s, from, c)))
        return;
    /* In order, and 1 MiB each but the last: chunk i is row i. */
    bool last = c->offset + c->len == c->total;
    if (c->total != u->total || c->offset != u->received
        || c->offset + c->len > c->total
        || (!last && c->len != MSG_BLOB_CHUNK)) {
        put_drop(s, u, false);
        srv__send_error(s, from, c->request, EINVAL, "blob chunks must come "
                        "in order, 1 MiB each but the last, within the "
                        "blob's size");
        return;
    }
    if (c->len > 0) {
        if (store_blob_stage(s->store, u->upload,
                             c->offset / MSG_BLOB_CHUNK, c->data,
                             c->len) < 0) {
            char why[200];
            snprintf(why, sizeof(why), "%s", store_last_error(s->store));
            put_drop(s, u, false);
            srv__send_error(s, from, c->request, EIO, "cannot store a blob "
                            "chunk: %s", why);
            return;
        }
        blob_hash_update(&u->hs, c->data, c->len);
        u->received += c->len;
    }
    u->last_ms = util_mono_ms();
    if (u->received == u->total)
        put_finish(s, u, c->request);
}

/* Resident bytes of this process (0 when /proc cannot tell). */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return resident * (uint64_t)(page > 0 ? page : 4096);
}

/* What a burst of connections allocated (libzmq's pipes and buffers,
 * 25 to 40 KB each, on its I/O thread's arena) is freed when they close,
 * but glibc keeps the free pages: 1,000 connections at once left 50 MB
 * resident for good.  Once the heap's free bytes grew by
 * TRIM_GROWTH_BYTES since the last trim (or their low since),
 * malloc_trim(0) gives those pages back (58 MB to 9 MB).  mallinfo2 and
 * malloc_trim walk the free chunks, so the heap is looked at every
 * MEM_CHECK_MS, not every heartbeat. */
static void mem_beat(server_t *s, int64_t now_ms)
{
    srv_bcast_t *bc = s->bcast;
    if (now_ms < bc->mem_next_ms)
        return;
    bc->mem_next_ms = now_ms + MEM_CHECK_MS;
    uint64_t t0 = util_mono_ns();
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks < bc->heap_free_base)
        bc->heap_free_base = mi.fordblks;
    if (mi.fordblks - bc->heap_free_base < TRIM_GROWTH_BYTES)
        return;
    uint64_t before = rss_bytes();
    malloc_trim(0);
    uint64_t after = rss_bytes();
    uint64_t ns = util_mono_ns() - t0;
    bc->heap_free_base = mi.fordblks;
    bc->trims++;
    if (before > after)
        bc->trimmed_bytes += before - after;
    srv__log(s, "memory: gave %llu MB of freed heap back (%llu MB free in "
             "it; %.1f ms)", (unsigned long long)(before > after
                                                      ? before - after
                                                      : 0) >> 20,
             (unsigned long long)mi.fordblks >> 20, (double)ns / 1e6);
}

void srv__blob_beat(server_t *s, int64_t now_ms)
{
    srv_bcast_t *bc = s->bcast;
    for (size_t i = 0; i < bc->nputs;) {
        put_t *u = &bc->puts[i];
        if (now_ms - u->last_ms > bc->put_idle_ms) {
            srv__log(s, "a blob upload stalled at %llu of %llu bytes for "
                     "%lld ms: dropped", (unsigned long long)u->received,
                     (unsigned long long)u->total,
                     (long long)(now_ms - u->last_ms));
            put_drop(s, u, false);
            bc->puts_expired++;
            continue;
        }
        i++;
    }
    mem_beat(s, now_ms);
}

void srv__handle_blob_get(server_t *s, srv_engine_t *e, msg_t *m)
{
    srv_bcast_t *bc = s->bcast;
    const msg_blob_get_t *g = &m->u.blob_get;
    msg_t none = {.type = MSG_BLOB_NONE};
    none.u.blob_none.hash = g->hash;
    uint64_t size;
    if (store_blob_size(s->store, g->hash, &size) < 0) {
        srv__send(s, &e->peer, &none);
        return;
    }
    size_t len = g->len > MSG_BLOB_CHUNK ? MSG_BLOB_CHUNK : g->len;
    if (g->offset >= size)
        len = 0;
    else if (len > size - g->offset)
        len = (size_t)(size - g->offset);
    void *buf = malloc(len + 1);
    size_t got = 0;
    if (!buf || (len > 0 && store_blob_read(s->store, g->hash, g->offset,
                                            buf, len, &got) < 0)) {
        char name[BLOB_HEX_LEN + 1];
        srv__log(s, "cannot read blob %s: %s", hex(g->hash, name),
                 buf ? store_last_error(s->store) : "out of memory");
        free(buf);
        srv__send(s, &e->peer, &none);
        return;
    }
    msg_t d = {.type = MSG_BLOB_DATA};
    d.u.blob_data.hash = g->hash;
    d.u.blob_data.offset = g->offset;
    d.u.blob_data.total = size;
    d.u.blob_data.len = (uint32_t)got;
    d.u.blob_data.data = buf;
    if (srv__send(s, &e->peer, &d) == 0) {
        srv__worker(e)->blob_bytes_out += got;
        bc->blob_bytes_out += got;
        bc->blob_gets++;
    }
    free(buf);
}
