/* SPDX-License-Identifier: MIT */
/* test_bb.c - the worker's broadcast and blob unit (worker_bb.h) against
 * fake ops: every message it sends is copied into a list, and the test plays
 * the parent and the children by feeding messages back.  A real uv loop runs
 * the broadcast commands and the deferred completions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob/blob.h"
#include "tap.h"
#include "tree/tree.h"
#include "util/util.h"
#include "worker/worker_bb.h"

enum { SELF = 10, MIB = 1 << 20 };

/* ------------------------------------------------------------ fake ops */

typedef struct cap_entry {
    uint32_t node;
    int32_t exit_code;
    char *out;               /* NUL-terminated copy */
    uint32_t out_len;
} cap_entry_t;

/* One message the unit sent, deep-copied. */
typedef struct cap {
    uint32_t to;             /* TREE_PARENT or a child */
    int type;
    uint64_t id;             /* BCAST, BREPLY */
    uint32_t timeout_ms, nwords;
    bool has_blob;
    uint32_t ok, failed, missing, n;
    cap_entry_t *entries;
    uint8_t hash[32];        /* BLOB_* */
    uint64_t offset, total;
    uint32_t len;
    uint8_t *data;
} cap_t;

static struct {
    uint32_t kids[8];
    size_t nkids;
    cap_t *caps;
    size_t ncaps, cap_cap;
    bool refuse_child;       /* send_child fails */
    unsigned wire_errors;    /* messages that did not survive the codec */
} F;

/* Every message goes through the real codec, so that what the unit sends
 * is valid on the wire; the decoded copy is what the test sees. */
static void capture(uint32_t to, const msg_t *m);
static void capture_wire(uint32_t to, const msg_t *m)
{
    util_buf_t buf = {0};
    banyan_error_t err = {{0}};
    msg_t *d = NULL;
    if (msg_encode(m, &buf) == 0)
        d = msg_decode(buf.data, buf.len, &err);
    util_buf_fini(&buf);
    if (!d) {
        diag("%s did not survive the codec: %s", msg_type_name(m->type),
             err.text);
        F.wire_errors++;
        capture(to, m);
        return;
    }
    capture(to, d);
    msg_free(d);
}

static void capture(uint32_t to, const msg_t *m)
{
    if (util_grow((void **)&F.caps, &F.cap_cap, F.ncaps + 1,
                  sizeof(*F.caps)) < 0)
        bail_out("out of memory");
    cap_t *c = &F.caps[F.ncaps++];
    memset(c, 0, sizeof(*c));
    c->to = to;
    c->type = m->type;
    switch (m->type) {
    case MSG_BCAST:
        c->id = m->u.bcast.id;
        c->timeout_ms = m->u.bcast.timeout_ms;
        c->nwords = m->u.bcast.nwords;
        c->has_blob = m->u.bcast.blob != NULL;
        break;
    case MSG_BREPLY:
        c->id = m->u.breply.id;
        c->ok = m->u.breply.ok;
        c->failed = m->u.breply.failed;
        c->missing = m->u.breply.missing;
        c->n = m->u.breply.n;
        c->entries = calloc(c->n + 1, sizeof(*c->entries));
        for (uint32_t i = 0; i < c->n; i++) {
            const msg_breply_entry_t *e = &m->u.breply.entries[i];
            c->entries[i].node = e->node;
            c->entries[i].exit_code = e->exit_code;
            c->entries[i].out_len = e->out_len;
            c->entries[i].out = calloc(1, e->out_len + 1);
            if (e->out_len)
                memcpy(c->entries[i].out, e->out, e->out_len);
        }
        break;
    case MSG_BLOB_GET:
        memcpy(c->hash, m->u.blob_get.hash, 32);
        c->offset = m->u.blob_get.offset;
        c->len = m->u.blob_get.len;
        break;
    case MSG_BLOB_DATA:
        memcpy(c->hash, m->u.blob_data.hash, 32);
        c->offset = m->u.blob_data.offset;
        c->total = m->u.blob_data.total;
        c->len = m->u.blob_data.len;
        c->data = malloc(c->len + 1);
        if (c->len)
            memcpy(c->data, m->u.blob_data.data, c->len);
        break;
    case MSG_BLOB_NONE:
        memcpy(c->hash, m->u.blob_none.hash, 32);
        break;
    default:
        break;
    }
}

static void caps_clear(void)
{
    for (size_t i = 0; i < F.ncaps; i++) {
        cap_t *c = &F.caps[i];
        for (uint32_t k = 0; k < c->n; k++)
            free(c->entries[k].out);
        free(c->entries);
        free(c->data);
    }
    F.ncaps = 0;
}

static int op_send_up(void *arg, const msg_t *m)
{
    (void)arg;
    capture_wire(TREE_PARENT, m);
    return 0;
}

static int op_send_child(void *arg, uint32_t node, const msg_t *m)
{
    (void)arg;
    if (F.refuse_child)
        return -1;
    capture_wire(node, m);
    return 0;
}

static size_t op_children(void *arg, uint32_t *out, size_t max)
{
    (void)arg;
    for (size_t i = 0; i < F.nkids && i < max; i++)
        out[i] = F.kids[i];
    return F.nkids;
}

static uint32_t op_self(void *arg)
{
    (void)arg;
    return SELF;
}

static const worker_bb_ops_t OPS = {op_send_up, op_send_child, op_children,
                                    op_self};

static void set_kids(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        F.kids[i] = va_arg(ap, uint32_t);
    va_end(ap);
    F.nkids = n;
}

/* Messages of a type sent to a destination (TREE_NONE: anywhere). */
static size_t count(int type, uint32_t to)
{
    size_t n = 0;
    for (size_t i = 0; i < F.ncaps; i++)
        if (F.caps[i].type == type && (to == TREE_NONE || F.caps[i].to == to))
            n++;
    return n;
}

static cap_t *find_cap(int type, uint32_t to)
{
    for (size_t i = 0; i < F.ncaps; i++)
        if (F.caps[i].type == type && F.caps[i].to == to)
            return &F.caps[i];
    return NULL;
}

/* ------------------------------------------------------------ the loop */

static uv_loop_t loop;
static worker_bb_t *bb;
static bool (*until_cond)(void);

static void on_poll(uv_timer_t *t)
{
    worker_bb_tick(bb, util_mono_ms());
    if (until_cond())
        uv_stop(t->loop);
}

static void on_guard(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Run the loop (ticking the unit every 5 ms) until cond holds or ms pass.
 * Returns cond(). */
static bool run_until(bool (*cond)(void), int ms)
{
    uv_timer_t poll, guard;
    until_cond = cond;
    uv_timer_init(&loop, &poll);
    uv_timer_init(&loop, &guard);
    uv_timer_start(&poll, on_poll, 0, 5);
    uv_timer_start(&guard, on_guard, (uint64_t)ms, 0);
    if (!cond())
        uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&poll, NULL);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return cond();
}

static bool breply_up(void)
{
    return count(MSG_BREPLY, TREE_PARENT) > 0;
}

/* ------------------------------------------------------------- helpers */

static void bcast(uint64_t id, uint32_t nwords, const char **words,
                  const uint8_t *blob, uint32_t timeout_ms, bool want_output)
{
    msg_bcast_t m = {.id = id, .nwords = nwords, .words = words,
                     .blob = blob, .timeout_ms = timeout_ms,
                     .want_output = want_output};
    worker_bb_on_bcast(bb, &m);
}

static void breply(uint32_t child, uint64_t id, uint32_t ok, uint32_t failed,
                   uint32_t missing, uint32_t n, msg_breply_entry_t *e)
{
    msg_breply_t m = {.id = id, .ok = ok, .failed = failed,
                      .missing = missing, .n = n, .entries = e};
    worker_bb_on_breply(bb, child, &m);
}

static void blob_get(uint32_t child, const blob_id_t *id, uint64_t offset)
{
    msg_blob_get_t m = {.hash = id->bytes, .offset = offset,
                        .len = MSG_BLOB_CHUNK};
    worker_bb_on_blob_get(bb, child, &m);
}

/* The parent answers a BLOB_GET for chunk at offset of data. */
static void parent_data(const blob_id_t *id, const uint8_t *data,
                        uint64_t total, uint64_t offset)
{
    uint64_t len = total - offset < MSG_BLOB_CHUNK ? total - offset
                                                   : MSG_BLOB_CHUNK;
    msg_blob_data_t m = {.hash = id->bytes, .offset = offset,
                         .total = total, .len = (uint32_t)len,
                         .data = data + offset};
    worker_bb_on_blob_data(bb, &m);
}

static uint8_t *make_data(size_t len, unsigned seed)
{
    uint8_t *d = malloc(len);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        d[i] = (uint8_t)(x >> 16);
    }
    return d;
}

/* --------------------------------------------------------------- tests */

static void test_fanout(void)
{
    caps_clear();
    set_kids(3, 11u, 12u, 13u);
    bcast(1, 0, NULL, NULL, 2000, true);
    is_int(count(MSG_BCAST, TREE_NONE), 3, "BCAST forwarded to 3 children");
    bool each = find_cap(MSG_BCAST, 11) && find_cap(MSG_BCAST, 12)
                && find_cap(MSG_BCAST, 13);
    ok(each, "one to each child");
    cap_t *c = find_cap(MSG_BCAST, 11);
    is_int(c ? c->timeout_ms : 0, 2000 * 9 / 10 - 20,
           "forwarded with a shorter timeout");
    is_int(count(MSG_BREPLY, TREE_PARENT), 0, "no reply before the children");

    msg_breply_entry_t e11[] = {{11, 0, 2, "a\n"}};
    msg_breply_entry_t e12[] = {{12, 0, 2, "b\n"}, {20, 0, 0, NULL}};
    msg_breply_entry_t e13[] = {{13, 0, 0, NULL}, {21, 7, 4, "bad\n"}};
    breply(11, 1, 1, 0, 0, 1, e11);
    breply(12, 1, 2, 0, 0, 2, e12);
    breply(11, 1, 1, 0, 0, 1, e11); /* a second reply: ignored */
    is_int(count(MSG_BREPLY, TREE_PARENT), 0, "still waiting for child 13");
    breply(13, 1, 1, 1, 0, 2, e13);
    is_int(count(MSG_BREPLY, TREE_PARENT), 1, "ONE coalesced reply up");
    c = find_cap(MSG_BREPLY, TREE_PARENT);
    if (!c)
        bail_out("no reply");
    ok(c->ok == 5 && c->failed == 1 && c->missing == 0,
       "tally summed: ok %u failed %u missing %u", c->ok, c->failed,
       c->missing);
    is_int(c->n, 6, "entries: mine and the children's");
    ok(c->entries[0].node == SELF && c->entries[0].exit_code == 0,
       "the first entry is mine, exit 0");
    bool found21 = false;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->entries[i].node == 21)
            found21 = c->entries[i].exit_code == 7
                      && strcmp(c->entries[i].out, "bad\n") == 0;
    ok(found21, "a grandchild's entry passes up with its output");
}

static void test_silent_child(void)
{
    caps_clear();
    set_kids(3, 11u, 12u, 13u);
    bcast(2, 0, NULL, NULL, 300, false);
    breply(11, 2, 1, 0, 0, 0, NULL);
    breply(13, 2, 3, 0, 1, 0, NULL);
    worker_bb_tick(bb, util_mono_ms());
    is_int(count(MSG_BREPLY, TREE_PARENT), 0, "no reply before the deadline");
    worker_bb_tick(bb, util_mono_ms() + 400);
    cap_t *c = find_cap(MSG_BREPLY, TREE_PARENT);
    ok(c && c->ok == 5 && c->failed == 0 && c->missing == 2,
       "at the deadline: the silent child counts missing (ok %u missing %u)",
       c ? c->ok : 0, c ? c->missing : 0);
    is_int(c ? c->n : 99, 0, "no entries without want_output");
    breply(12, 2, 1, 0, 0, 0, NULL);
    is_int(count(MSG_BREPLY, TREE_PARENT), 1, "a late reply is dropped");
}

static void test_duplicate(void)
{
    caps_clear();
    set_kids(2, 11u, 12u);
    bcast(1, 0, NULL, NULL, 2000, false); /* finished above */
    is_int(F.ncaps, 0, "a finished id again: not forwarded, not answered");
    bcast(3, 0, NULL, NULL, 2000, false);
    size_t n = F.ncaps;
    bcast(3, 0, NULL, NULL, 2000, false);
    is_int(F.ncaps, n, "an active id again: ignored");
    breply(11, 3, 1, 0, 0, 0, NULL);
    breply(12, 3, 1, 0, 0, 0, NULL);
    cap_t *c = find_cap(MSG_BREPLY, TREE_PARENT);
    ok(c && c->ok == 3, "the broadcast ran once (ok %u)", c ? c->ok : 0);
    worker_bb_stats_t st;
    worker_bb_stats(bb, &st);
    is_int(st.bcasts, 3, "three broadcasts taken, duplicates not counted");
}

static void test_command(void)
{
    caps_clear();
    set_kids(0);
    worker_bb_stats_t st0, st1;
    worker_bb_stats(bb, &st0);
    const char *words[] = {"sh", "-c", "echo hello; echo oops >&2; exit 3"};
    bcast(4, 3, words, NULL, 5000, true);
    ok(run_until(breply_up, 5000), "the command's reply came");
    cap_t *c = find_cap(MSG_BREPLY, TREE_PARENT);
    if (!c)
        bail_out("no reply");
    ok(c->ok == 0 && c->failed == 1, "exit 3 counts failed");
    ok(c->n == 1 && c->entries[0].node == SELF
           && c->entries[0].exit_code == 3,
       "entry: my node, exit code 3");
    ok(c->n == 1 && strstr(c->entries[0].out, "hello")
           && strstr(c->entries[0].out, "oops"),
       "stdout and stderr captured");
    worker_bb_stats(bb, &st1);
    is_int(st1.bcast_runs - st0.bcast_runs, 1, "one command spawned");

    caps_clear();
    const char *ok_words[] = {"sh", "-c", "printf '%05000d' 0; echo tail"};
    bcast(5, 3, ok_words, NULL, 5000, true);
    ok(run_until(breply_up, 5000), "a second command's reply came");
    c = find_cap(MSG_BREPLY, TREE_PARENT);
    ok(c && c->ok == 1 && c->n == 1 && c->entries[0].exit_code == 0,
       "exit 0 counts ok");
    ok(c && c->n == 1 && c->entries[0].out_len == WORKER_BB_TAIL_BYTES
           && strstr(c->entries[0].out, "0tail\n"),
       "the output is the last %d bytes", WORKER_BB_TAIL_BYTES);

    caps_clear();
    const char *slow[] = {"sleep", "30"};
    int64_t t0 = util_mono_ms();
    bcast(6, 2, slow, NULL, 400, true);
    ok(run_until(breply_up, 3000), "a command past its deadline is stopped");
    int64_t took = util_mono_ms() - t0;
    c = find_cap(MSG_BREPLY, TREE_PARENT);
    ok(c && c->failed == 1 && c->n == 1 && c->entries[0].exit_code == -1,
       "it counts failed with exit -1");
    ok(took < 1000, "and the reply went up by the deadline (%lld ms)",
       (long long)took);

    caps_clear();
    const char *missing[] = {"/nonexistent/banyan-bb-test"};
    bcast(7, 1, missing, NULL, 3000, true);
    ok(run_until(breply_up, 3000), "a missing program is answered");
    c = find_cap(MSG_BREPLY, TREE_PARENT);
    ok(c && c->failed == 1 && c->n == 1 && c->entries[0].exit_code == -1,
       "as a failure with exit -1");
}

static void test_pull_through(void)
{
    caps_clear();
    const size_t size = 3 * MIB;
    uint8_t *data = make_data(size, 1);
    blob_id_t id;
    blob_hash(data, size, &id);
    worker_bb_stats_t st0, st1;
    worker_bb_stats(bb, &st0);

    blob_get(11, &id, 0);
    blob_get(12, &id, 0);
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 1,
           "two children asking: one BLOB_GET up");
    cap_t *g = find_cap(MSG_BLOB_GET, TREE_PARENT);
    ok(g && g->offset == 0 && memcmp(g->hash, id.bytes, 32) == 0,
       "for chunk 0 of the blob");

    /* Play the parent: answer every BLOB_GET up, once, in order. */
    uint8_t *got[2] = {calloc(1, size), calloc(1, size)};
    uint32_t kids[2] = {11, 12};
    size_t seen = 0;
    int rounds = 0;
    bool progress = true;
    while (progress && rounds++ < 100) {
        progress = false;
        size_t end = F.ncaps;
        for (; seen < end; seen++) {
            cap_t c = F.caps[seen]; /* F.caps may move */
            if (c.type == MSG_BLOB_GET && c.to == TREE_PARENT) {
                parent_data(&id, data, size, c.offset);
                progress = true;
            } else if (c.type == MSG_BLOB_DATA) {
                /* a child got a chunk: keep it, ask for the next */
                int k = c.to == 11 ? 0 : 1;
                if (c.offset + c.len <= size)
                    memcpy(got[k] + c.offset, c.data, c.len);
                if (c.offset + c.len < size)
                    blob_get(kids[k], &id, c.offset + c.len);
                progress = true;
            }
        }
    }
    size_t per_chunk[3] = {0, 0, 0};
    for (size_t i = 0; i < F.ncaps; i++)
        if (F.caps[i].type == MSG_BLOB_GET && F.caps[i].to == TREE_PARENT
            && F.caps[i].offset / MIB < 3)
            per_chunk[F.caps[i].offset / MIB]++;
    ok(per_chunk[0] == 1 && per_chunk[1] == 1 && per_chunk[2] == 1,
       "each chunk asked up exactly once (%zu %zu %zu)", per_chunk[0],
       per_chunk[1], per_chunk[2]);
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 3, "three BLOB_GETs up in all");
    ok(memcmp(got[0], data, size) == 0, "child 11 got the right bytes");
    ok(memcmp(got[1], data, size) == 0, "child 12 got the right bytes");
    is_int(count(MSG_BLOB_NONE, TREE_NONE), 0, "no BLOB_NONE");
    worker_bb_stats(bb, &st1);
    is_int(st1.blob_bytes_in - st0.blob_bytes_in, size,
           "blob_bytes_in: the blob once");
    is_int(st1.blob_bytes_served - st0.blob_bytes_served, 2 * size,
           "blob_bytes_served: the blob twice");
    is_int(st1.blob_requests_up - st0.blob_requests_up, 3,
           "blob_requests_up counts chunks");

    /* A later child is served from the cache at once. */
    caps_clear();
    blob_get(13, &id, 2 * MIB);
    cap_t *d = find_cap(MSG_BLOB_DATA, 13);
    ok(d && d->offset == 2 * MIB && d->total == size && d->len == MIB
           && memcmp(d->data, data + 2 * MIB, MIB) == 0,
       "a cached blob is answered at once");
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 0, "without asking up");
    blob_get(13, &id, 5);
    ok(find_cap(MSG_BLOB_NONE, 13), "an offset that is not a chunk: NONE");
    free(got[0]);
    free(got[1]);
    free(data);
}

/* Chunks go down as they arrive, before the whole blob is here. */
static size_t data_to(uint32_t child, uint64_t offset)
{
    size_t n = 0;
    for (size_t i = 0; i < F.ncaps; i++)
        n += F.caps[i].type == MSG_BLOB_DATA && F.caps[i].to == child
             && F.caps[i].offset == offset;
    return n;
}

static void test_streaming(void)
{
    caps_clear();
    const size_t size = 3 * MIB + 5;
    uint8_t *data = make_data(size, 7);
    blob_id_t id;
    blob_hash(data, size, &id);
    worker_bb_stats_t st0, st1;
    worker_bb_stats(bb, &st0);

    blob_get(21, &id, 0);
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 1, "a child's BLOB_GET goes up");
    parent_data(&id, data, size, 0);
    cap_t *d = find_cap(MSG_BLOB_DATA, 21);
    ok(d && d->offset == 0 && d->total == size && d->len == MIB
           && memcmp(d->data, data, MIB) == 0,
       "chunk 0 goes down the moment it arrives");

    blob_get(22, &id, 0);
    d = find_cap(MSG_BLOB_DATA, 22);
    ok(d && d->offset == 0 && memcmp(d->data, data, MIB) == 0,
       "a later child gets an arrived chunk from the partial file at once");

    blob_get(21, &id, 3 * MIB);
    is_int(data_to(21, 3 * MIB), 0, "a chunk on its way is not answered yet");
    parent_data(&id, data, size, 3 * MIB);
    d = find_cap(MSG_BLOB_DATA, 21);
    is_int(data_to(21, 3 * MIB), 1, "it is answered when it arrives");

    blob_get(21, &id, MIB);
    blob_get(21, &id, 2 * MIB);
    parent_data(&id, data, size, MIB);
    parent_data(&id, data, size, 2 * MIB); /* completes the blob */
    ok(data_to(21, 0) == 1 && data_to(21, MIB) == 1 && data_to(21, 2 * MIB) == 1
           && data_to(21, 3 * MIB) == 1,
       "every chunk went down once: none again at completion");
    is_int(data_to(22, 0), 1, "nor to the child served from the partial file");
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 4, "each chunk was asked up once");
    blob_get(24, &id, 2 * MIB);
    ok(data_to(24, 2 * MIB) == 1 && count(MSG_BLOB_GET, TREE_PARENT) == 4,
       "the last chunk completed it: the cache answers");
    worker_bb_stats(bb, &st1);
    /* 0 to 21 and 22, 3 and 1 to 21; 2 completed the blob and went from
     * the cache. */
    is_int(st1.blob_chunks_streamed - st0.blob_chunks_streamed, 4,
           "four chunks streamed");

    /* A payload that does not match its name: the chunks that went down
     * are checked below; requests still waiting get BLOB_NONE. */
    caps_clear();
    blob_id_t wrong;
    blob_hash("some other content", 18, &wrong);
    blob_get(23, &wrong, 0);
    parent_data(&wrong, data, size, 0);
    is_int(data_to(23, 0), 1, "an unverified chunk streams");
    blob_get(23, &wrong, MIB);
    parent_data(&wrong, data, size, 2 * MIB);
    parent_data(&wrong, data, size, 3 * MIB);
    parent_data(&wrong, data, size, MIB); /* completes: the hash is wrong */
    ok(count(MSG_BLOB_NONE, 23) == 1 && data_to(23, MIB) == 0,
       "the request the failed last chunk would have answered gets NONE");
    size_t ups = count(MSG_BLOB_GET, TREE_PARENT);
    blob_get(23, &wrong, 2 * MIB);
    ok(count(MSG_BLOB_GET, TREE_PARENT) == ups + 1 && data_to(23, 2 * MIB) == 0,
       "the bad blob was not cached: a request after the failure asks up");
    worker_bb_on_blob_none(bb, &(msg_blob_none_t){.hash = wrong.bytes});
    is_int(count(MSG_BLOB_NONE, 23), 2, "and is told NONE when above says so");
    free(data);
}

typedef struct need {
    int calls;
    int errnum;
    char path[4096];
} need_t;

static void on_need(void *arg, int errnum, const char *path)
{
    need_t *n = arg;
    n->calls++;
    n->errnum = errnum;
    snprintf(n->path, sizeof(n->path), "%s", path ? path : "");
}

static need_t *until_need;
static bool need_called(void)
{
    return until_need->calls > 0;
}

static void test_need_blob(void)
{
    caps_clear();
    const size_t size = MIB + 12345;
    uint8_t *data = make_data(size, 2);
    blob_id_t id;
    blob_hash(data, size, &id);
    need_t n = {0};
    ok(worker_bb_need_blob(bb, id.bytes, on_need, &n) == 0,
       "need_blob of a blob not cached");
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 1, "asks the parent");
    parent_data(&id, data, size, 0);
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 2, "then the second chunk");
    is_int(n.calls, 0, "not done with one chunk of two");
    parent_data(&id, data, size, MIB);
    is_int(n.calls, 1, "done when the last chunk arrives");
    is_int(n.errnum, 0, "without an error");
    blob_id_t fid;
    uint64_t fsize = 0;
    ok(n.path[0] && blob_hash_file(n.path, &fid, &fsize) == 0
           && blob_id_equal(&fid, &id) && fsize == size,
       "the path's contents hash to the name");
    struct stat sb;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/cache", tap_tmpdir());
    ok(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700,
       "the cache directory is 0700");

    /* Cached: completed on the next loop turn, not inside the call. */
    need_t m = {0};
    ok(worker_bb_need_blob(bb, id.bytes, on_need, &m) == 0 && m.calls == 0,
       "a cached blob is not completed inside the call");
    until_need = &m;
    ok(run_until(need_called, 2000) && m.errnum == 0
           && strcmp(m.path, n.path) == 0,
       "but on the loop, with the same path");

    /* A broadcast naming it runs with BANYAN_BLOB_0. */
    caps_clear();
    set_kids(0);
    const char *words[] = {"sh", "-c", "wc -c < \"$BANYAN_BLOB_0\""};
    bcast(8, 3, words, id.bytes, 5000, true);
    ok(run_until(breply_up, 5000), "a broadcast with a blob replied");
    cap_t *c = find_cap(MSG_BREPLY, TREE_PARENT);
    char want[32];
    snprintf(want, sizeof(want), "%zu\n", size);
    ok(c && c->ok == 1 && c->n == 1 && strcmp(c->entries[0].out, want) == 0,
       "the command read the cached blob through BANYAN_BLOB_0 (%.*s)",
       (int)strcspn(c && c->n ? c->entries[0].out : "-", "\n"),
       c && c->n ? c->entries[0].out : "-");
    free(data);
}

static void test_blob_none(void)
{
    caps_clear();
    uint8_t *data = make_data(1000, 3);
    blob_id_t id;
    blob_hash(data, 1000, &id);
    need_t n = {0};
    worker_bb_need_blob(bb, id.bytes, on_need, &n);
    blob_get(11, &id, 0);
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 1, "one request up");
    msg_blob_none_t none = {.hash = id.bytes};
    worker_bb_on_blob_none(bb, &none);
    ok(n.calls == 1 && n.errnum == ENOENT && !n.path[0],
       "BLOB_NONE fails the waiter with ENOENT");
    cap_t *c = find_cap(MSG_BLOB_NONE, 11);
    ok(c && memcmp(c->hash, id.bytes, 32) == 0,
       "and the waiting child gets BLOB_NONE");

    /* A broadcast whose blob cannot be had fails with exit -1. */
    caps_clear();
    set_kids(0);
    const char *words[] = {"true"};
    bcast(9, 1, words, id.bytes, 3000, true);
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 1, "the broadcast asks up");
    worker_bb_on_blob_none(bb, &none);
    c = find_cap(MSG_BREPLY, TREE_PARENT);
    ok(c && c->failed == 1 && c->n == 1 && c->entries[0].exit_code == -1
           && strstr(c->entries[0].out, "blob"),
       "a missing blob: failed, exit -1 (%s)",
       c && c->n ? c->entries[0].out : "-");
    free(data);
}

static void test_parent_changed(void)
{
    caps_clear();
    const size_t size = 2 * MIB + 7;
    uint8_t *data = make_data(size, 4);
    blob_id_t id;
    blob_hash(data, size, &id);
    need_t n = {0};
    worker_bb_need_blob(bb, id.bytes, on_need, &n);
    parent_data(&id, data, size, 0);
    is_int(count(MSG_BLOB_GET, TREE_PARENT), 3, "chunk 0, then 1 and 2");
    caps_clear();
    worker_bb_parent_changed(bb);
    cap_t *g = find_cap(MSG_BLOB_GET, TREE_PARENT);
    ok(count(MSG_BLOB_GET, TREE_PARENT) == 1 && g && g->offset == 0,
       "a new parent: asked again from chunk 0");
    for (uint64_t off = 0; off < size; off += MIB)
        parent_data(&id, data, size, off);
    ok(n.calls == 1 && n.errnum == 0, "and completed by the new parent");
    free(data);
}

static void test_child_lost(void)
{
    caps_clear();
    set_kids(3, 11u, 12u, 13u);
    bcast(10, 0, NULL, NULL, 60000, false);
    breply(11, 10, 1, 0, 0, 0, NULL);
    worker_bb_child_lost(bb, 12);
    is_int(count(MSG_BREPLY, TREE_PARENT), 0, "one lost, one still waited");
    worker_bb_child_lost(bb, 13);
    cap_t *c = find_cap(MSG_BREPLY, TREE_PARENT);
    ok(c && c->ok == 2 && c->missing == 2,
       "lost children count missing at once (ok %u missing %u)",
       c ? c->ok : 0, c ? c->missing : 0);

    /* A child that cannot be sent to counts missing too. */
    caps_clear();
    F.refuse_child = true;
    bcast(11, 0, NULL, NULL, 60000, false);
    F.refuse_child = false;
    c = find_cap(MSG_BREPLY, TREE_PARENT);
    ok(c && c->ok == 1 && c->missing == 3,
       "unreachable children count missing at once");
}

/* ------------------------------------------------- a tree of real units */

/* root <- A(1) <- {B(2) <- {C(4), D(5)}, E(3)}: every node a worker_bb of
 * its own (own cache), messages queued and delivered through the codec,
 * the root played by the test. */
enum { NNODES = 5 };

typedef struct tnode {
    uint32_t id;
    uint32_t parent;         /* 0: the root */
    uint32_t kids[2];
    size_t nkids;
    worker_bb_t *bb;
} tnode_t;

typedef struct tqueued {
    msg_t *m;
    uint32_t from, to;       /* node ids, 0 = the root */
} tqueued_t;

static struct {
    tnode_t nodes[NNODES + 1];
    tqueued_t *q;
    size_t qhead, qlen, qcap;
    const uint8_t *blob;     /* what the root serves */
    uint64_t blob_size;
    unsigned root_gets[8];   /* BLOB_GETs the root saw, per chunk */
    unsigned root_breplies;
    uint32_t ok, failed, missing, n;
} T;

static void t_enqueue(uint32_t from, uint32_t to, const msg_t *m)
{
    util_buf_t buf = {0};
    banyan_error_t err = {{0}};
    msg_t *d = NULL;
    if (msg_encode(m, &buf) == 0)
        d = msg_decode(buf.data, buf.len, &err);
    util_buf_fini(&buf);
    if (!d) {
        F.wire_errors++;
        return;
    }
    if (util_grow((void **)&T.q, &T.qcap, T.qlen + 1, sizeof(*T.q)) < 0)
        bail_out("out of memory");
    T.q[T.qlen++] = (tqueued_t){d, from, to};
}

static int t_send_up(void *arg, const msg_t *m)
{
    tnode_t *n = arg;
    t_enqueue(n->id, n->parent, m);
    return 0;
}

static int t_send_child(void *arg, uint32_t node, const msg_t *m)
{
    tnode_t *n = arg;
    t_enqueue(n->id, node, m);
    return 0;
}

static size_t t_children(void *arg, uint32_t *out, size_t max)
{
    tnode_t *n = arg;
    for (size_t i = 0; i < n->nkids && i < max; i++)
        out[i] = n->kids[i];
    return n->nkids;
}

static uint32_t t_self(void *arg)
{
    return ((tnode_t *)arg)->id;
}

static const worker_bb_ops_t TOPS = {t_send_up, t_send_child, t_children,
                                     t_self};

/* The root: answers BLOB_GETs from T.blob, counts replies. */
static void t_root(const tqueued_t *e)
{
    const msg_t *m = e->m;
    if (m->type == MSG_BREPLY) {
        T.root_breplies++;
        T.ok = m->u.breply.ok;
        T.failed = m->u.breply.failed;
        T.missing = m->u.breply.missing;
        T.n = m->u.breply.n;
    } else if (m->type == MSG_BLOB_GET) {
        uint64_t off = m->u.blob_get.offset;
        if (off / MIB < 8)
            T.root_gets[off / MIB]++;
        uint64_t len = T.blob_size - off < MIB ? T.blob_size - off : MIB;
        msg_t d = {.type = MSG_BLOB_DATA};
        d.u.blob_data.hash = m->u.blob_get.hash;
        d.u.blob_data.offset = off;
        d.u.blob_data.total = T.blob_size;
        d.u.blob_data.len = (uint32_t)len;
        d.u.blob_data.data = T.blob + off;
        t_enqueue(0, e->from, &d);
    }
}

/* Deliver queued messages until none is left. */
static void t_pump(void)
{
    while (T.qhead < T.qlen) {
        tqueued_t e = T.q[T.qhead++];
        const msg_t *m = e.m;
        worker_bb_t *to = e.to ? T.nodes[e.to].bb : NULL;
        if (!to)
            t_root(&e);
        else if (m->type == MSG_BCAST)
            worker_bb_on_bcast(to, &m->u.bcast);
        else if (m->type == MSG_BREPLY)
            worker_bb_on_breply(to, e.from, &m->u.breply);
        else if (m->type == MSG_BLOB_GET)
            worker_bb_on_blob_get(to, e.from, &m->u.blob_get);
        else if (m->type == MSG_BLOB_DATA)
            worker_bb_on_blob_data(to, &m->u.blob_data);
        else if (m->type == MSG_BLOB_NONE)
            worker_bb_on_blob_none(to, &m->u.blob_none);
        msg_free(e.m);
    }
    T.qhead = T.qlen = 0;
}

static void test_tree(void)
{
    static const uint32_t parents[NNODES + 1] = {0, 0, 1, 1, 2, 2};
    for (uint32_t i = 1; i <= NNODES; i++) {
        tnode_t *n = &T.nodes[i];
        n->id = i;
        n->parent = parents[i];
        if (i > 1) {
            tnode_t *p = &T.nodes[parents[i]];
            p->kids[p->nkids++] = i;
        }
    }
    for (uint32_t i = 1; i <= NNODES; i++) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/tree-%u", tap_tmpdir(), i);
        worker_bb_config_t cfg = {.cache_dir = dir};
        banyan_error_t err = {{0}};
        T.nodes[i].bb = worker_bb_create(&loop, &cfg, &TOPS, &T.nodes[i],
                                         &err);
        if (!T.nodes[i].bb)
            bail_out("worker_bb_create: %s", err.text);
    }

    /* A broadcast from the root: one reply for the five engines. */
    msg_t b = {.type = MSG_BCAST};
    b.u.bcast.id = 77;
    b.u.bcast.timeout_ms = 5000;
    b.u.bcast.want_output = true;
    t_enqueue(0, 1, &b);
    t_pump();
    ok(T.root_breplies == 1 && T.ok == 5 && T.failed == 0 && T.missing == 0
           && T.n == 5,
       "tree: one BREPLY at the root for 5 engines (ok %u, %u entries)",
       T.ok, T.n);

    /* Three engines in two branches need one 3 MiB blob. */
    const size_t size = 3 * MIB - 1;
    uint8_t *data = make_data(size, 5);
    T.blob = data;
    T.blob_size = size;
    blob_id_t id;
    blob_hash(data, size, &id);
    need_t need[3] = {{0}};
    uint32_t who[3] = {3, 4, 5};
    for (int i = 0; i < 3; i++)
        worker_bb_need_blob(T.nodes[who[i]].bb, id.bytes, on_need, &need[i]);
    t_pump();
    ok(T.root_gets[0] == 1 && T.root_gets[1] == 1 && T.root_gets[2] == 1,
       "tree: the root sent each chunk once (%u %u %u)", T.root_gets[0],
       T.root_gets[1], T.root_gets[2]);
    bool all = true;
    for (int i = 0; i < 3; i++) {
        blob_id_t fid;
        all = all && need[i].calls == 1 && need[i].errnum == 0
              && blob_hash_file(need[i].path, &fid, NULL) == 0
              && blob_id_equal(&fid, &id);
    }
    ok(all, "tree: every engine has the blob, intact");
    worker_bb_stats_t sa, sb;
    worker_bb_stats(T.nodes[1].bb, &sa);
    worker_bb_stats(T.nodes[2].bb, &sb);
    ok(sa.blob_bytes_in == size && sa.blob_bytes_served == 2 * size
           && sb.blob_bytes_in == size && sb.blob_bytes_served == 2 * size,
       "tree: each link carried the blob once (A in %llu out %llu, "
       "B in %llu out %llu)",
       (unsigned long long)sa.blob_bytes_in,
       (unsigned long long)sa.blob_bytes_served,
       (unsigned long long)sb.blob_bytes_in,
       (unsigned long long)sb.blob_bytes_served);

    for (uint32_t i = 1; i <= NNODES; i++)
        worker_bb_destroy(T.nodes[i].bb);
    uv_run(&loop, UV_RUN_DEFAULT);
    free(T.q);
    free(data);
}

/* A noop worker acknowledges a command without spawning it. */
static void test_noop(void)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/cache-noop", tap_tmpdir());
    worker_bb_config_t cfg = {.cache_dir = dir, .noop = true};
    banyan_error_t err = {{0}};
    worker_bb_t *main_bb = bb;
    bb = worker_bb_create(&loop, &cfg, &OPS, NULL, &err);
    if (!bb)
        bail_out("worker_bb_create: %s", err.text);
    caps_clear();
    set_kids(0);
    const char *words[] = {"sh", "-c", "exit 1"};
    bcast(20, 3, words, NULL, 5000, true);
    cap_t *c = find_cap(MSG_BREPLY, TREE_PARENT);
    worker_bb_stats_t st;
    worker_bb_stats(bb, &st);
    ok(c && c->ok == 1 && c->n == 1 && c->entries[0].exit_code == 0
           && st.bcast_runs == 0,
       "noop: a command is acknowledged at once, not spawned");
    worker_bb_destroy(bb);
    uv_run(&loop, UV_RUN_DEFAULT);
    bb = main_bb;
}

static void test_destroy_running(void)
{
    caps_clear();
    set_kids(0);
    const char *slow[] = {"sleep", "30"};
    bcast(12, 2, slow, NULL, 60000, true);
    uint8_t h[32] = {1, 2, 3};
    need_t n = {0};
    worker_bb_need_blob(bb, h, on_need, &n);
    uv_run(&loop, UV_RUN_NOWAIT);
    worker_bb_destroy(bb);
    bb = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(n.calls == 1 && n.errnum == ECANCELED,
       "destroy cancels a need_blob waiter");
    is_int(count(MSG_BREPLY, TREE_NONE), 0, "and sends no reply");
}

int main(void)
{
    plan(NO_PLAN);
    uv_loop_init(&loop);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/cache", tap_tmpdir());
    worker_bb_config_t cfg = {.cache_dir = dir,
                              .cache_max_bytes = 64 << 20,
                              .kill_grace_ms = 200};
    banyan_error_t err = {{0}};
    worker_bb_config_t bad = cfg;
    bad.cache_dir = NULL;
    ok(!worker_bb_create(&loop, &bad, &OPS, NULL, &err) && errno == EINVAL
           && err.text[0],
       "no cache directory: EINVAL (%s)", err.text);
    bb = worker_bb_create(&loop, &cfg, &OPS, NULL, &err);
    if (!bb)
        bail_out("worker_bb_create: %s", err.text);

    test_fanout();
    test_silent_child();
    test_duplicate();
    test_command();
    test_pull_through();
    test_streaming();
    test_need_blob();
    test_blob_none();
    test_parent_changed();
    test_child_lost();
    test_noop();
    test_tree();
    test_destroy_running();

    is_int(F.wire_errors, 0, "every message sent was valid on the wire");
    caps_clear();
    free(F.caps);
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0, "every handle closed");
    return done_testing();
}
