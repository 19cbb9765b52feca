/* SPDX-License-Identifier: MIT */
/* test_fetch.c - pull-through fetch: coalescing, delivery, bad payloads,
 * chunks, retries, and a chain of relays where each link carries a blob
 * once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"
#include "tap.h"

/* What a node's request callback saw. */
typedef struct requests {
    int n;
    blob_id_t last;
} requests_t;

static void on_request(const blob_id_t *id, void *arg)
{
    requests_t *r = arg;
    r->n++;
    r->last = *id;
}

/* A waiter's record. */
typedef struct waiter {
    int calls;
    int errnum;
} waiter_t;

static void on_done(const blob_id_t *id, int errnum, void *arg)
{
    (void)id;
    waiter_t *w = arg;
    w->calls++;
    w->errnum = errnum;
}

static void test_coalesce(void)
{
    requests_t req = {0};
    waiter_t w[3] = {{0}};
    blob_fetch_stats_t st;
    blob_id_t id, other;

    blob_cache_t *c = blob_cache_open("f1", 0, NULL);
    blob_fetch_t *f = blob_fetch_create(c, on_request, &req);
    ok(f != NULL, "fetch state created");
    blob_hash("payload", 7, &id);

    for (int i = 0; i < 3; i++)
        ok(blob_fetch_get(f, &id, on_done, &w[i]) == 0,
           "waiter %d waits for the missing blob", i);
    is_int(req.n, 1, "three waiters make one request to the parent");
    ok(blob_id_equal(&req.last, &id), "the request names the blob");
    ok(blob_fetch_pending(f, &id), "the blob is pending");
    is_int(w[0].calls + w[1].calls + w[2].calls, 0,
           "nobody is completed before the payload arrives");

    /* Wrong payload: every waiter fails with EBADMSG. */
    errno = 0;
    ok(blob_fetch_deliver(f, &id, "PAYLOAD", 7) == -1 && errno == EBADMSG,
       "a payload that does not hash to the name is refused (EBADMSG)");
    int failed = 0;
    for (int i = 0; i < 3; i++)
        failed += w[i].calls == 1 && w[i].errnum == EBADMSG;
    is_int(failed, 3, "each of the three waiters fails once with EBADMSG");
    ok(!blob_has(c, &id), "the wrong payload is not cached");
    ok(!blob_fetch_pending(f, &id), "the request is no longer pending");
    blob_fetch_stats(f, &st);
    is_int(st.bad, 1, "the bad payload is counted");

    /* Ask again, get it right. */
    memset(w, 0, sizeof w);
    for (int i = 0; i < 3; i++)
        blob_fetch_get(f, &id, on_done, &w[i]);
    is_int(req.n, 2, "asking again makes one new request");
    ok(blob_fetch_deliver(f, &id, "payload", 7) == 0,
       "the right payload is accepted");
    int done = 0;
    for (int i = 0; i < 3; i++)
        done += w[i].calls == 1 && w[i].errnum == 0;
    is_int(done, 3, "each waiter completes once with success");
    ok(blob_has(c, &id), "the blob is now cached");
    memset(w, 0, sizeof w);
    is_int(blob_fetch_get(f, &id, on_done, &w[0]), 1,
           "a later get finds it in the cache at once");
    ok(w[0].calls == 0 && req.n == 2, "without a callback or a request");

    /* Unsolicited payloads are dropped. */
    blob_hash("other", 5, &other);
    errno = 0;
    ok(blob_fetch_deliver(f, &other, "other", 5) == -1 && errno == ENOENT,
       "a payload nobody asked for is refused with ENOENT");
    ok(!blob_has(c, &other), "and not cached");
    errno = 0;
    ok(blob_fetch_deliver_chunk(f, &other, 5, 0, "other", 5) == -1
           && errno == ENOENT,
       "so is an unsolicited chunk");
    blob_fetch_stats(f, &st);
    ok(st.requests == 2 && st.coalesced == 4 && st.delivered == 1
           && st.unsolicited == 2,
       "requests 2, coalesced 4, delivered 1, unsolicited 2 (got %llu %llu "
       "%llu %llu)",
       (unsigned long long)st.requests, (unsigned long long)st.coalesced,
       (unsigned long long)st.delivered, (unsigned long long)st.unsolicited);

    /* The parent does not have it; destroy cancels. */
    memset(w, 0, sizeof w);
    blob_fetch_get(f, &other, on_done, &w[0]);
    ok(blob_fetch_fail(f, &other, ENOENT) == 0 && w[0].calls == 1
           && w[0].errnum == ENOENT,
       "fail completes the waiters with the parent's error");
    errno = 0;
    ok(blob_fetch_fail(f, &other, ENOENT) == -1 && errno == ENOENT,
       "failing a blob that is not pending fails with ENOENT");
    blob_fetch_get(f, &other, on_done, &w[1]);
    blob_fetch_destroy(f);
    ok(w[1].calls == 1 && w[1].errnum == ECANCELED,
       "destroy completes outstanding waiters with ECANCELED");
    blob_cache_close(c);

    errno = 0;
    ok(blob_fetch_create(NULL, on_request, NULL) == NULL && errno == EINVAL,
       "create refuses a NULL cache");
}

static void test_chunks_and_retry(void)
{
    enum { SIZE = 3 * BLOB_CHUNK_BYTES + 100 };
    requests_t req = {0};
    waiter_t w[2] = {{0}};
    blob_fetch_stats_t st;
    blob_id_t id;
    uint64_t off;
    size_t len;

    char *data = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        data[i] = (char)(i % 251);
    blob_hash(data, SIZE, &id);
    blob_cache_t *c = blob_cache_open("f2", 0, NULL);
    blob_fetch_t *f = blob_fetch_create(c, on_request, &req);

    blob_id_t other_id;
    blob_hash("not asked for", 13, &other_id);
    blob_fetch_get(f, &id, on_done, &w[0]);
    blob_fetch_get(f, &id, on_done, &w[1]);
    /* Two chunks from the old parent, then it goes away. */
    for (uint64_t i = 0; i < 2; i++) {
        blob_chunk_span(SIZE, i, &off, &len);
        blob_fetch_deliver_chunk(f, &id, SIZE, off, data + off, len);
    }
    char *chunk = malloc(BLOB_CHUNK_BYTES);
    uint64_t size = 0;
    len = 0;
    ok(blob_fetch_read_chunk(f, &id, 1, chunk, &len, &size) == 0
           && len == BLOB_CHUNK_BYTES && size == SIZE
           && !memcmp(chunk, data + BLOB_CHUNK_BYTES, len),
       "a chunk that arrived reads back before the blob is whole");
    errno = 0;
    ok(blob_fetch_read_chunk(f, &id, 2, chunk, &len, &size) == -1
           && errno == EAGAIN,
       "a chunk that did not arrive does not (EAGAIN)");
    errno = 0;
    ok(blob_fetch_read_chunk(f, &other_id, 0, chunk, &len, &size) == -1
           && errno == ENOENT,
       "nor does one of a blob not being fetched (ENOENT)");
    free(chunk);
    is_int(blob_fetch_retry_all(f), 1,
           "a new parent: the one pending blob is asked for again");
    is_int(req.n, 2, "that is the second request");
    ok(w[0].calls == 0 && w[1].calls == 0, "the waiters are still waiting");
    int rc = -2;
    uint64_t n = blob_chunk_count(SIZE);
    for (uint64_t i = 0; i < n; i++) {
        blob_chunk_span(SIZE, i, &off, &len);
        rc = blob_fetch_deliver_chunk(f, &id, SIZE, off, data + off, len);
    }
    is_int(rc, 1, "the last chunk from the new parent completes the blob");
    ok(w[0].calls == 1 && w[0].errnum == 0 && w[1].calls == 1
           && w[1].errnum == 0,
       "both waiters complete once, with success");
    ok(blob_has(c, &id) && blob_verify(c, &id) == 0,
       "the assembled blob is cached intact");
    blob_fetch_stats(f, &st);
    is_int(st.bytes_in, SIZE + 2 * BLOB_CHUNK_BYTES,
           "bytes in count the abandoned chunks too");

    /* A peer that changes the size mid-transfer. */
    blob_id_t id2;
    blob_hash(data, SIZE - 1, &id2);
    memset(w, 0, sizeof w);
    blob_fetch_get(f, &id2, on_done, &w[0]);
    blob_fetch_deliver_chunk(f, &id2, SIZE - 1, 0, data, BLOB_CHUNK_BYTES);
    errno = 0;
    ok(blob_fetch_deliver_chunk(f, &id2, SIZE, BLOB_CHUNK_BYTES,
                                data + BLOB_CHUNK_BYTES, BLOB_CHUNK_BYTES)
               == -1
           && errno == EINVAL,
       "a chunk announcing a different size is refused with EINVAL");
    ok(w[0].calls == 1 && w[0].errnum == EBADMSG,
       "and fails the waiter with EBADMSG");

    /* Chunks whose content is wrong. */
    memset(w, 0, sizeof w);
    blob_fetch_get(f, &id2, on_done, &w[0]);
    data[10] ^= 1;
    for (uint64_t i = 0; i < blob_chunk_count(SIZE - 1); i++) {
        blob_chunk_span(SIZE - 1, i, &off, &len);
        rc = blob_fetch_deliver_chunk(f, &id2, SIZE - 1, off, data + off,
                                      len);
    }
    ok(rc == -1 && errno == EBADMSG && w[0].errnum == EBADMSG,
       "assembled chunks that do not hash to the name fail with EBADMSG");
    ok(!blob_has(c, &id2), "and are not cached");
    blob_fetch_stats(f, &st);
    is_int(st.bad, 2, "both bad transfers are counted");

    blob_fetch_destroy(f);
    blob_cache_close(c);
    free(data);
}

/* A chain root -> r1 -> r2 -> engines: engines under r2 want the same blob;
 * each link is crossed once.  Messages are delivered synchronously. */
enum { DEPTH = 3 };
typedef struct node {
    blob_cache_t *cache;
    blob_fetch_t *fetch;
    struct node *parent;
    uint64_t bytes_down;     /* bytes that crossed the link from the parent */
    int gets_up;             /* BLOB_GETs sent to the parent */
} node_t;

static node_t nodes[DEPTH];

/* The parent serves a child's request: from its cache if it has the blob,
 * else after pulling it from its own parent. */
static void serve(node_t *child, const blob_id_t *id);

static void on_parent_has(const blob_id_t *id, int errnum, void *arg)
{
    node_t *child = arg;
    if (errnum == 0)
        serve(child, id);
    else
        blob_fetch_fail(child->fetch, id, errnum);
}

static void serve(node_t *child, const blob_id_t *id)
{
    node_t *p = child->parent;
    char *buf = malloc(BLOB_CHUNK_BYTES);
    uint64_t size, off;
    size_t len;

    if (blob_fetch_get(p->fetch, id, on_parent_has, child) == 1) {
        blob_pin(p->cache, id); /* stays while being sent */
        blob_size(p->cache, id, &size);
        for (uint64_t i = 0; i < blob_chunk_count(size); i++) {
            blob_chunk_read(p->cache, id, i, buf, &len);
            blob_chunk_span(size, i, &off, NULL);
            child->bytes_down += len;
            blob_fetch_deliver_chunk(child->fetch, id, size, off, buf, len);
        }
        blob_unpin(p->cache, id);
    }
    free(buf);
}

/* BLOB_GETs in flight, delivered later, as a real link would. */
static struct {
    node_t *from;
    blob_id_t id;
} gets[16];
static int ngets;

static void node_request(const blob_id_t *id, void *arg)
{
    node_t *n = arg;
    n->gets_up++;
    if (ngets < 16) {
        gets[ngets].from = n;
        gets[ngets].id = *id;
        ngets++;
    }
}

static void test_chain(void)
{
    enum { SIZE = 5 * BLOB_CHUNK_BYTES / 2, ENGINES = 8 };
    char dir[32];
    blob_id_t id;
    waiter_t w[ENGINES] = {{0}};

    for (int i = 0; i < DEPTH; i++) {
        snprintf(dir, sizeof dir, "node%d", i);
        nodes[i].cache = blob_cache_open(dir, 0, NULL);
        nodes[i].fetch = blob_fetch_create(nodes[i].cache, node_request,
                                           &nodes[i]);
        nodes[i].parent = i ? &nodes[i - 1] : NULL;
    }
    char *data = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        data[i] = (char)(i * 7);
    blob_put(nodes[0].cache, data, SIZE, &id);
    free(data);

    /* Engines on the last relay all ask before anything arrives; the
     * relay asks its parent once, which asks its own parent once. */
    node_t *leaf = &nodes[DEPTH - 1];
    int waiting = 0, got = 0, steps = 0;
    for (int e = 0; e < ENGINES; e++)
        waiting += blob_fetch_get(leaf->fetch, &id, on_done, &w[e]) == 0;
    is_int(waiting, ENGINES, "all engines wait for the missing blob");
    while (ngets > 0 && steps++ < 100) {
        node_t *from = gets[0].from;
        blob_id_t want = gets[0].id;
        memmove(gets, gets + 1, (size_t)--ngets * sizeof gets[0]);
        serve(from, &want);
    }
    for (int e = 0; e < ENGINES; e++)
        got += w[e].calls == 1 && w[e].errnum == 0;
    is_int(got, ENGINES, "every engine on the last relay gets the blob once");
    ok(blob_fetch_get(leaf->fetch, &id, on_done, &w[0]) == 1,
       "a later engine finds it in the relay's cache");
    for (int i = 1; i < DEPTH; i++) {
        is_int(nodes[i].gets_up, 1, "relay %d asked its parent once", i);
        is_int(nodes[i].bytes_down, SIZE,
               "the link above relay %d carried the blob once", i);
        ok(blob_has(nodes[i].cache, &id), "relay %d cached it", i);
    }
    for (int i = 0; i < DEPTH; i++) {
        blob_fetch_destroy(nodes[i].fetch);
        blob_cache_close(nodes[i].cache);
    }
}

int main(void)
{
    plan(NO_PLAN);
    test_coalesce();
    test_chunks_and_retry();
    test_chain();
    return done_testing();
}
