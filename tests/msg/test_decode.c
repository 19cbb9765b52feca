/* SPDX-License-Identifier: MIT */
/* test_decode.c - each class of malformed payload is refused with EPROTO
 * and a sentence; limits hold at their exact edges on both sides; and the
 * codec's speed on 1,000-entry batches (printed, not asserted).
 *
 * Payloads are built by hand with msgpack-c's packer, so that each test
 * breaks exactly one rule of docs/protocol.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "msg/msg.h"
#include "tap.h"

/* ---------------------------------------------------------- a builder */

static int sbuf_write(void *data, const char *buf, size_t len)
{
    return util_buf_append(data, buf, len);
}

typedef struct build {
    util_buf_t b;
    msgpack_packer pk;
} build_t;

static void start(build_t *x, uint32_t nfields, int type)
{
    util_buf_t init = UTIL_BUF_INIT;
    x->b = init;
    msgpack_packer_init(&x->pk, &x->b, sbuf_write);
    msgpack_pack_array(&x->pk, 3 + nfields);
    msgpack_pack_uint8(&x->pk, MSG_MAGIC);
    msgpack_pack_uint8(&x->pk, MSG_VERSION);
    msgpack_pack_int(&x->pk, type);
}

static void str(build_t *x, const char *s)
{
    msgpack_pack_str_with_body(&x->pk, s, strlen(s));
}

/* Decode x's bytes; true when refused with EPROTO and a sentence that
 * contains want (if given). */
static bool refused(build_t *x, const char *want)
{
    banyan_error_t err = {{0}};
    errno = 0;
    msg_t *m = msg_decode(x->b.data, x->b.len, &err);
    bool ok = m == NULL && errno == EPROTO && err.text[0] != '\0'
              && (want == NULL || strstr(err.text, want) != NULL);
    if (!ok)
        diag("decode gave %s, errno %d, text '%s'", m ? "a message" : "NULL",
             errno, err.text);
    msg_free(m);
    util_buf_fini(&x->b);
    return ok;
}

static bool accepted(build_t *x)
{
    banyan_error_t err = {{0}};
    msg_t *m = msg_decode(x->b.data, x->b.len, &err);
    if (m == NULL)
        diag("refused: %s", err.text);
    msg_free(m);
    util_buf_fini(&x->b);
    return m != NULL;
}

/* ------------------------------------------------------------ classes */

static void test_header(void)
{
    build_t x;
    banyan_error_t err = {{0}};
    errno = 0;
    ok(msg_decode("", 0, &err) == NULL && errno == EPROTO,
       "an empty frame is refused with EPROTO");

    util_buf_t init = UTIL_BUF_INIT;
    x.b = init;
    msgpack_packer_init(&x.pk, &x.b, sbuf_write);
    str(&x, "hello");
    ok(refused(&x, "expected an array"), "a payload that is not an array is "
       "refused");

    x.b = init;
    msgpack_packer_init(&x.pk, &x.b, sbuf_write);
    msgpack_pack_array(&x.pk, 2);
    msgpack_pack_uint8(&x.pk, MSG_MAGIC);
    msgpack_pack_uint8(&x.pk, MSG_VERSION);
    ok(refused(&x, "header"), "a two-element header is refused");

    x.b = init;
    msgpack_packer_init(&x.pk, &x.b, sbuf_write);
    msgpack_pack_array(&x.pk, 4);
    msgpack_pack_uint8(&x.pk, 0xBB);
    msgpack_pack_uint8(&x.pk, MSG_VERSION);
    msgpack_pack_int(&x.pk, MSG_ACK);
    msgpack_pack_int(&x.pk, 1);
    ok(refused(&x, "magic"), "a wrong magic is refused");

    x.b = init;
    msgpack_packer_init(&x.pk, &x.b, sbuf_write);
    msgpack_pack_array(&x.pk, 4);
    msgpack_pack_uint8(&x.pk, MSG_MAGIC);
    msgpack_pack_uint8(&x.pk, MSG_VERSION + 1);
    msgpack_pack_int(&x.pk, MSG_ACK);
    msgpack_pack_int(&x.pk, 1);
    ok(refused(&x, "protocol version 4, this node speaks 3"), "a later "
       "protocol version is refused and named");

    x.b = init;
    msgpack_packer_init(&x.pk, &x.b, sbuf_write);
    msgpack_pack_array(&x.pk, 4);
    msgpack_pack_uint8(&x.pk, MSG_MAGIC);
    msgpack_pack_uint8(&x.pk, 1);
    msgpack_pack_int(&x.pk, MSG_ACK);
    msgpack_pack_int(&x.pk, 1);
    ok(refused(&x, "protocol version 1, this node speaks 3"), "a version-1 "
       "payload is refused and named");

    start(&x, 1, 77);
    msgpack_pack_int(&x.pk, 1);
    ok(refused(&x, "unknown type 77"), "an unknown type is refused");

    start(&x, 2, MSG_ACK);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int(&x.pk, 2);
    ok(refused(&x, "body fields"), "a body with too many fields is refused");

    start(&x, 0, MSG_ACK);
    ok(refused(&x, "body fields"), "a body with too few fields is refused");

    start(&x, 1, MSG_ACK);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int(&x.pk, 2);
    ok(refused(&x, "trailing"), "trailing bytes are refused");

    start(&x, 0, MSG_BYE);
    ok(accepted(&x), "a BYE without a body is accepted");
}

static void test_types(void)
{
    build_t x;
    start(&x, 1, MSG_ACK);
    str(&x, "12");
    ok(refused(&x, "ack.seq: expected an integer"), "a string for an "
       "integer is refused and the field named");

    start(&x, 1, MSG_ACK);
    msgpack_pack_int(&x.pk, -1);
    ok(refused(&x, "out of range"), "a negative unsigned field is refused");

    start(&x, 2, MSG_WAIT);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_uint64(&x.pk, 1ull << 32);
    ok(refused(&x, "wait.job: number out of range"), "2^32 in a 32-bit field "
       "is refused");

    start(&x, 3, MSG_ERROR);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int64(&x.pk, (int64_t)INT32_MIN - 1);
    str(&x, "x");
    ok(refused(&x, "error.code"), "an int32 field below INT32_MIN is "
       "refused");

    start(&x, 2, MSG_PING);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_true(&x.pk);
    ok(refused(&x, "expected a number"), "a boolean for a float is refused");

    start(&x, 2, MSG_PING);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int(&x.pk, -3);
    ok(accepted(&x), "an integer for a float is accepted");

    start(&x, 2, MSG_ANSWER);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_nil(&x.pk);
    ok(refused(&x, "answer.json"), "nil for a required string is refused");

    start(&x, 2, MSG_ANSWER);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_str_with_body(&x.pk, "a\0b", 3);
    ok(refused(&x, "NUL"), "a string with a NUL byte is refused");

    start(&x, 2, MSG_ANSWER);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_bin_with_body(&x.pk, "{}", 2);
    ok(refused(&x, "expected a string"), "a blob for a string is refused");

    start(&x, 2, MSG_RESULT);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_array(&x.pk, 1);
    msgpack_pack_array(&x.pk, 12);
    for (int i = 0; i < 12; i++)
        msgpack_pack_uint32(&x.pk, 1000000);   /* 5 bytes: the frame holds
                                                   a full entry's minimum */
    ok(refused(&x, "wrong number of fields"), "a result entry with a field "
       "missing is refused");

    start(&x, 1, MSG_ASSIGN);
    msgpack_pack_array(&x.pk, 1);
    msgpack_pack_array(&x.pk, 1);
    msgpack_pack_array(&x.pk, 1);
    msgpack_pack_array(&x.pk, 1);
    ok(refused(&x, NULL), "nested arrays where records belong are refused");

    start(&x, 2, MSG_KILL);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_map(&x.pk, 0);
    ok(refused(&x, "expected an array"), "a map for a list is refused");
}

static void test_counts(void)
{
    build_t x;
    start(&x, 1, MSG_ASSIGN);
    msgpack_pack_array(&x.pk, MSG_MAX_BATCH + 1);
    ok(refused(&x, "too many"), "a batch count beyond MSG_MAX_BATCH is "
       "refused before anything is read");

    start(&x, 1, MSG_ASSIGN);
    msgpack_pack_array(&x.pk, 1000);
    ok(refused(&x, "more elements than the frame holds"), "a count larger "
       "than the frame holds is refused");

    start(&x, 3, MSG_QUERY);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_str(&x.pk, 100);
    msgpack_pack_str_body(&x.pk, "short", 5);
    msgpack_pack_nil(&x.pk);
    ok(refused(&x, "longer than the frame"), "a string longer than the "
       "frame is refused");

    start(&x, 3, MSG_QUERY);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_str(&x.pk, (size_t)MSG_MAX_STRING + 1);
    ok(refused(&x, "MSG_MAX_STRING"), "a string beyond MSG_MAX_STRING is "
       "refused");

    start(&x, 14, MSG_HELLO);
    str(&x, "w");
    msgpack_pack_nil(&x.pk);
    msgpack_pack_nil(&x.pk);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_array(&x.pk, 0);
    msgpack_pack_array(&x.pk, 1);
    msgpack_pack_array(&x.pk, 2);
    str(&x, "a_name_that_is_much_longer_than_32_bytes");
    msgpack_pack_int(&x.pk, 1);
    ok(refused(&x, "custom.name"), "a custom resource name too long is "
       "refused");

    start(&x, 14, MSG_HELLO);
    str(&x, "w");
    msgpack_pack_nil(&x.pk);
    msgpack_pack_nil(&x.pk);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_array(&x.pk, RES_MAX_GPUS + 1);
    for (int i = 0; i < 5 * (RES_MAX_GPUS + 1) + 8; i++)
        msgpack_pack_int(&x.pk, 0);   /* bytes enough for the count */
    ok(refused(&x, "hello.gpus: too many"), "more than RES_MAX_GPUS GPUs "
       "are refused");
}


/* ------------------------------------------------- version 2 messages */

static void hash(build_t *x, size_t len)
{
    uint8_t h[MSG_HASH_LEN + 1];
    memset(h, 0x5a, sizeof h);
    msgpack_pack_bin_with_body(&x->pk, h, len);
}

/* The ten job fields before req and priority, with these flags and nblobs
 * hashes of hash_len. */
static void job_head(build_t *x, uint32_t flags, uint32_t nblobs,
                     size_t hash_len)
{
    msgpack_pack_int(&x->pk, 1);        /* id */
    msgpack_pack_array(&x->pk, 1);      /* words */
    str(x, "true");
    msgpack_pack_array(&x->pk, 0);      /* sources */
    msgpack_pack_int(&x->pk, 0);        /* array_first */
    msgpack_pack_int(&x->pk, 0);        /* array_count */
    msgpack_pack_array(&x->pk, 0);      /* env */
    msgpack_pack_nil(&x->pk);           /* cwd */
    msgpack_pack_int(&x->pk, 0);        /* timeout_ms */
    msgpack_pack_uint32(&x->pk, flags);
    msgpack_pack_array(&x->pk, nblobs);
    for (uint32_t i = 0; i < nblobs; i++)
        hash(x, hash_len);
}

/* A req record of nfields fields (6 is right): 1 slot, 250 milli-CPUs,
 * 1 GiB, 2 GPUs, 3 GiB per GPU, one custom resource "lic" = 4. */
static void req(build_t *x, uint32_t nfields)
{
    msgpack_pack_array(&x->pk, nfields);
    uint64_t v[5] = {1, 250, 1ull << 30, 2000, 3ull << 30};
    for (uint32_t i = 0; i < 5 && i < nfields; i++)
        msgpack_pack_uint64(&x->pk, v[i]);
    if (nfields < 6)
        return;
    msgpack_pack_array(&x->pk, 1);
    msgpack_pack_array(&x->pk, 2);
    str(x, "lic");
    msgpack_pack_int(&x->pk, 4);
    for (uint32_t i = 6; i < nfields; i++)
        msgpack_pack_int(&x->pk, 0);
}

/* A JOB (inline fields) with these flags and nblobs hashes of hash_len. */
static void job(build_t *x, uint32_t flags, uint32_t nblobs, size_t hash_len)
{
    start(x, 12, MSG_JOB);
    job_head(x, flags, nblobs, hash_len);
    req(x, 6);
    msgpack_pack_int(&x->pk, 0);        /* priority */
    for (size_t i = hash_len; nblobs > 0 && i < MSG_HASH_LEN; i++)
        msgpack_pack_nil(&x->pk);   /* bytes enough for the count check */
}

/* Decode x and return the message (NULL with a diag). */
static msg_t *decoded(build_t *x)
{
    banyan_error_t err = {{0}};
    msg_t *m = msg_decode(x->b.data, x->b.len, &err);
    if (m == NULL)
        diag("refused: %s", err.text);
    util_buf_fini(&x->b);
    return m;
}

static bool req_is_sample(const res_request_t *q)
{
    return q->slots == 1 && q->cpus_milli == 250 && q->mem_bytes == 1ull << 30
           && q->gpus_milli == 2000 && q->gpu_mem_bytes == 3ull << 30
           && q->ncustom == 1 && strcmp(q->custom[0].name, "lic") == 0
           && q->custom[0].amount == 4;
}

/* The job's request and priority: fields 11 and 12, in JOB and SUBMIT. */
static void test_job_request(void)
{
    build_t x;
    start(&x, 12, MSG_JOB);
    job_head(&x, 0, 0, 0);
    req(&x, 6);
    msgpack_pack_int(&x.pk, -7);
    msg_t *m = decoded(&x);
    ok(m && req_is_sample(&m->u.job.req) && m->u.job.priority == -7,
       "a JOB carries its request and priority");
    msg_free(m);

    start(&x, 10, MSG_JOB);
    job_head(&x, 0, 0, 0);
    ok(refused(&x, "JOB with 10 body fields, expected 12"), "a JOB without "
       "request and priority is refused");

    start(&x, 12, MSG_JOB);
    job_head(&x, 0, 0, 0);
    req(&x, 5);
    msgpack_pack_int(&x.pk, 0);
    ok(refused(&x, "job.req: wrong number of fields"), "a job request of 5 "
       "fields is refused");

    start(&x, 12, MSG_JOB);
    job_head(&x, 0, 0, 0);
    req(&x, 7);
    msgpack_pack_int(&x.pk, 0);
    ok(refused(&x, "job.req: wrong number of fields"), "a job request of 7 "
       "fields is refused");

    start(&x, 12, MSG_JOB);
    job_head(&x, 0, 0, 0);
    req(&x, 6);
    msgpack_pack_int64(&x.pk, (int64_t)INT32_MAX + 1);
    ok(refused(&x, "job.priority"), "a priority beyond i32 is refused");

    start(&x, 12, MSG_JOB);
    job_head(&x, 0, 0, 0);
    req(&x, 6);
    msgpack_pack_nil(&x.pk);
    ok(refused(&x, "job.priority"), "a nil priority is refused");

    start(&x, 4, MSG_SUBMIT);
    msgpack_pack_int(&x.pk, 9);             /* request */
    msgpack_pack_array(&x.pk, 12);
    job_head(&x, 0, 0, 0);
    req(&x, 6);
    msgpack_pack_int(&x.pk, 5);             /* priority */
    str(&x, "name");
    msgpack_pack_int(&x.pk, 3);             /* max_attempts */
    m = decoded(&x);
    ok(m && req_is_sample(&m->u.submit.job.req)
       && m->u.submit.job.priority == 5 && m->u.submit.job.max_attempts == 3
       && strcmp(m->u.submit.job.name, "name") == 0,
       "SUBMIT's request and priority come from its job record");
    msg_free(m);

    start(&x, 6, MSG_SUBMIT);
    msgpack_pack_int(&x.pk, 9);
    msgpack_pack_array(&x.pk, 12);
    job_head(&x, 0, 0, 0);
    req(&x, 6);
    msgpack_pack_int(&x.pk, 5);
    str(&x, "name");
    msgpack_pack_int(&x.pk, 5);
    req(&x, 6);
    msgpack_pack_int(&x.pk, 3);
    ok(refused(&x, "SUBMIT with 6 body fields, expected 4"), "a SUBMIT with "
       "a request and priority of its own is refused");
}

static void test_job_blobs(void)
{
    build_t x;
    job(&x, 0, 0, 0);
    ok(accepted(&x), "a JOB without blobs is accepted");
    job(&x, MSG_JOB_STDIN_BLOB, 1, MSG_HASH_LEN);
    ok(accepted(&x), "a JOB whose stdin is its one blob is accepted");
    job(&x, 0, MSG_MAX_JOB_BLOBS, MSG_HASH_LEN);
    ok(accepted(&x), "a JOB with MSG_MAX_JOB_BLOBS blobs is accepted");
    job(&x, 0, MSG_MAX_JOB_BLOBS + 1, MSG_HASH_LEN);
    ok(refused(&x, "job.blobs: too many"), "MSG_MAX_JOB_BLOBS + 1 blobs are "
       "refused");
    job(&x, 0, 1, MSG_HASH_LEN - 1);
    ok(refused(&x, "job.blobs: a hash is not MSG_HASH_LEN"), "a 31-byte "
       "blob name is refused");
    job(&x, 0, 1, MSG_HASH_LEN + 1);
    ok(refused(&x, "job.blobs: a hash is not MSG_HASH_LEN"), "a 33-byte "
       "blob name is refused");
    job(&x, 2, 1, MSG_HASH_LEN);
    ok(refused(&x, "job.flags: unknown flag bits"), "an unknown job flag is "
       "refused");
    job(&x, MSG_JOB_STDIN_BLOB, 0, 0);
    ok(refused(&x, "job.flags: a stdin blob without blobs"), "a stdin blob "
       "flag without blobs is refused");

    /* the same record inside SUBMIT, with version 1's 9 fields */
    start(&x, 4, MSG_SUBMIT);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_array(&x.pk, 9);
    for (int i = 0; i < 9 + 2; i++)
        msgpack_pack_nil(&x.pk);
    ok(refused(&x, "submit.job: wrong number of fields"), "a SUBMIT job "
       "record of version 1 (9 fields) is refused");

    start(&x, 12, MSG_HELLO);
    for (int i = 0; i < 12; i++)
        msgpack_pack_nil(&x.pk);
    ok(refused(&x, "HELLO with 12 body fields, expected 14"), "a HELLO of "
       "version 1 (12 fields) is refused");
}

static void test_hashes(void)
{
    build_t x;
    start(&x, 1, MSG_BLOB_NONE);
    hash(&x, MSG_HASH_LEN);
    ok(accepted(&x), "a BLOB_NONE with a 32-byte hash is accepted");
    start(&x, 1, MSG_BLOB_NONE);
    hash(&x, 0);
    ok(refused(&x, "blob_none.hash: a hash is not MSG_HASH_LEN"),
       "an empty hash is refused");
    start(&x, 1, MSG_BLOB_NONE);
    msgpack_pack_nil(&x.pk);
    ok(refused(&x, "blob_none.hash: expected a blob"), "a nil hash where one "
       "is required is refused");
    start(&x, 1, MSG_BLOB_NONE);
    msgpack_pack_str_with_body(&x.pk, "0123456789abcdef0123456789abcdef",
                               MSG_HASH_LEN);
    ok(refused(&x, "expected a blob"), "a hash as a string is refused");
    start(&x, 1, MSG_BLOB_NONE);
    msgpack_pack_bin(&x.pk, MSG_HASH_LEN);
    msgpack_pack_bin_body(&x.pk, "short", 5);
    ok(refused(&x, "longer than the frame"), "a hash cut short by the frame "
       "is refused");

    for (int k = 0; k < 2; k++) {
        int type = k ? MSG_BROADCAST : MSG_BCAST;
        start(&x, 5, type);
        msgpack_pack_int(&x.pk, 1);
        msgpack_pack_array(&x.pk, 0);
        msgpack_pack_nil(&x.pk);
        msgpack_pack_int(&x.pk, 1000);
        msgpack_pack_false(&x.pk);
        ok(accepted(&x), "%s without a blob is accepted", msg_type_name(type));
        start(&x, 5, type);
        msgpack_pack_int(&x.pk, 1);
        msgpack_pack_array(&x.pk, 0);
        hash(&x, 16);
        msgpack_pack_int(&x.pk, 1000);
        msgpack_pack_false(&x.pk);
        ok(refused(&x, "blob: a hash is not MSG_HASH_LEN"), "%s with a "
           "16-byte blob name is refused", msg_type_name(type));
        start(&x, 5, type);
        msgpack_pack_int(&x.pk, 1);
        msgpack_pack_array(&x.pk, MSG_MAX_ARGS + 1);
        ok(refused(&x, "words: too many"), "%s with MSG_MAX_ARGS + 1 words "
           "is refused", msg_type_name(type));
    }
}

static void blob_get(build_t *x, uint64_t len)
{
    start(x, 3, MSG_BLOB_GET);
    hash(x, MSG_HASH_LEN);
    msgpack_pack_uint64(&x->pk, UINT64_MAX);
    msgpack_pack_uint64(&x->pk, len);
}

/* A BLOB_DATA (or BLOB_PUT) with a chunk of len bytes (nil when len < 0). */
static void blob_data(build_t *x, int type, uint64_t offset, uint64_t total,
                      long len)
{
    start(x, type == MSG_BLOB_PUT ? 5 : 4, type);
    if (type == MSG_BLOB_PUT)
        msgpack_pack_int(&x->pk, 7);
    hash(x, MSG_HASH_LEN);
    msgpack_pack_uint64(&x->pk, offset);
    msgpack_pack_uint64(&x->pk, total);
    if (len < 0) {
        msgpack_pack_nil(&x->pk);
        return;
    }
    msgpack_pack_bin(&x->pk, (size_t)len);
    char *body = calloc(1, (size_t)len + 1);
    msgpack_pack_bin_body(&x->pk, body, (size_t)len);
    free(body);
}

static void test_chunks(void)
{
    build_t x;
    blob_get(&x, 1);
    ok(accepted(&x), "a BLOB_GET of 1 byte is accepted");
    blob_get(&x, MSG_BLOB_CHUNK);
    ok(accepted(&x), "a BLOB_GET of MSG_BLOB_CHUNK bytes is accepted");
    blob_get(&x, 0);
    ok(refused(&x, "blob_get.len: number out of range"), "a BLOB_GET of 0 "
       "bytes is refused");
    blob_get(&x, MSG_BLOB_CHUNK + 1);
    ok(refused(&x, "blob_get.len: number out of range"), "a BLOB_GET of "
       "MSG_BLOB_CHUNK + 1 bytes is refused");

    for (int k = 0; k < 2; k++) {
        int type = k ? MSG_BLOB_PUT : MSG_BLOB_DATA;
        const char *name = msg_type_name(type);
        blob_data(&x, type, 0, 0, 0);
        ok(accepted(&x), "%s: the empty blob's one empty chunk is accepted",
           name);
        blob_data(&x, type, 10, MSG_BLOB_CHUNK + 10, MSG_BLOB_CHUNK);
        ok(accepted(&x), "%s: a full chunk ending at the total is accepted",
           name);
        blob_data(&x, type, 0, UINT64_MAX, MSG_BLOB_CHUNK + 1);
        ok(refused(&x, "blob.data: chunk longer than MSG_BLOB_CHUNK"),
           "%s: a chunk of MSG_BLOB_CHUNK + 1 bytes is refused", name);
        blob_data(&x, type, 0, 0, -1);
        ok(refused(&x, "blob.data: expected a blob"), "%s: a nil chunk is "
           "refused", name);
        blob_data(&x, type, 5, 14, 10);
        ok(refused(&x, "beyond the blob's total"), "%s: a chunk past the "
           "total is refused", name);
        blob_data(&x, type, UINT64_MAX - 4, UINT64_MAX, 10);
        ok(refused(&x, "beyond the blob's total"), "%s: offset + len "
           "overflowing 64 bits is refused", name);
        blob_data(&x, type, 20, 10, 0);
        ok(refused(&x, "beyond the blob's total"), "%s: an offset past the "
           "total is refused", name);
    }
}

static void test_tree_rules(void)
{
    build_t x;
    for (int ev = 0; ev <= 4; ev++) {
        start(&x, 1, MSG_NODES);
        msgpack_pack_array(&x.pk, 1);
        msgpack_pack_array(&x.pk, 3);
        msgpack_pack_int(&x.pk, 2);
        msgpack_pack_int(&x.pk, 1);
        msgpack_pack_int(&x.pk, ev);
        if (ev >= MSG_NODE_ATTACHED && ev <= MSG_NODE_LEFT)
            ok(accepted(&x), "node event %d is accepted", ev);
        else
            ok(refused(&x, "nodes.event: number out of range"),
               "node event %d is refused", ev);
    }

    for (int nf = 4; nf <= 6; nf++) {
        start(&x, 1, MSG_NODES);
        msgpack_pack_array(&x.pk, 1);
        msgpack_pack_array(&x.pk, (size_t)nf);
        msgpack_pack_int(&x.pk, 2);
        msgpack_pack_int(&x.pk, 1);
        msgpack_pack_int(&x.pk, MSG_NODE_ATTACHED);
        for (int i = 3; i < nf; i++)
            msgpack_pack_nil(&x.pk);
        if (nf == 6)
            ok(accepted(&x), "a node event with its HELLO strings (nil) is "
               "accepted");
        else
            ok(refused(&x, "nodes.events: wrong number of fields"),
               "a node event of %d fields is refused", nf);
    }

    start(&x, 2, MSG_REJECT);
    msgpack_pack_nil(&x.pk);
    msgpack_pack_array(&x.pk, 0);
    ok(refused(&x, "reject.reason"), "a REJECT without a reason is refused");

    start(&x, 2, MSG_RETURN);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_array(&x.pk, 0);
    ok(refused(&x, "return.done: expected a boolean"), "a RETURN with a "
       "number for done is refused");

    start(&x, 3, MSG_REDIRECT);
    msgpack_pack_int(&x.pk, 2);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_nil(&x.pk);
    ok(refused(&x, "redirect.endpoint"), "a REDIRECT without an endpoint is "
       "refused");

    start(&x, 9, MSG_SUMMARY);
    for (int i = 0; i < 7; i++)
        msgpack_pack_int(&x.pk, i);
    msgpack_pack_array(&x.pk, 1);
    msgpack_pack_array(&x.pk, 6);
    for (int i = 0; i < 6; i++)
        msgpack_pack_uint32(&x.pk, 1000000);
    ok(refused(&x, "summary.stats: wrong number of fields"), "a node's "
       "counters with a field missing are refused");

    start(&x, 9, MSG_SUMMARY);
    msgpack_pack_uint64(&x.pk, 1ull << 32);
    ok(refused(&x, "summary.engines: number out of range"), "2^32 engines "
       "are refused");

    start(&x, 5, MSG_BREPLY);
    for (int i = 0; i < 4; i++)
        msgpack_pack_int(&x.pk, i);
    msgpack_pack_array(&x.pk, 1);
    msgpack_pack_array(&x.pk, 3);
    msgpack_pack_int(&x.pk, 1);
    msgpack_pack_int(&x.pk, -1);
    str(&x, "out");
    ok(refused(&x, "breply.out: expected a blob or nil"), "a BREPLY output "
       "as a string is refused");

    start(&x, 5, MSG_BREPLY);
    for (int i = 0; i < 4; i++)
        msgpack_pack_int(&x.pk, i);
    msgpack_pack_array(&x.pk, MSG_MAX_BATCH + 1);
    ok(refused(&x, "breply.entries: too many"), "a BREPLY of "
       "MSG_MAX_BATCH + 1 entries is refused");

    start(&x, 1, MSG_DENY);
    msgpack_pack_int(&x.pk, 1);
    ok(refused(&x, "DENY with 1 body fields, expected 0"), "a DENY with a "
       "body is refused");
    start(&x, 0, MSG_DENY);
    ok(accepted(&x), "a DENY without a body is accepted");
}

/* ------------------------------------------------------ limits, speed */

static void test_limits(void)
{
    util_buf_t b = UTIL_BUF_INIT;
    msg_t m = {.type = MSG_ASSIGN};
    msg_assign_entry_t *e = calloc(MSG_MAX_BATCH + 1, sizeof *e);
    for (uint32_t i = 0; i <= MSG_MAX_BATCH; i++)
        e[i] = (msg_assign_entry_t){{1, i, 1}, i % 64 + 1, 0, 0};
    m.u.assign = (msg_assign_t){MSG_MAX_BATCH, e};
    msg_t *out = NULL;
    ok(msg_encode(&m, &b) == 0
           && (out = msg_decode(b.data, b.len, NULL)) != NULL
           && out->u.assign.n == MSG_MAX_BATCH
           && out->u.assign.entries[MSG_MAX_BATCH - 1].task.index
                  == MSG_MAX_BATCH - 1,
       "an ASSIGN of exactly MSG_MAX_BATCH entries round-trips");
    msg_free(out);
    util_buf_reset(&b);
    m.u.assign.n = MSG_MAX_BATCH + 1;
    errno = 0;
    ok(msg_encode(&m, &b) < 0 && errno == EINVAL && b.len == 0,
       "encoding MSG_MAX_BATCH + 1 entries fails with EINVAL and leaves "
       "the buffer as it was");
    m.u.assign = (msg_assign_t){3, NULL};
    errno = 0;
    ok(msg_encode(&m, &b) < 0 && errno == EINVAL,
       "a count with a NULL array fails with EINVAL");
    free(e);

    char *big = malloc((size_t)MSG_MAX_STRING + 2);
    memset(big, 'x', (size_t)MSG_MAX_STRING + 1);
    big[MSG_MAX_STRING] = '\0';
    msg_t a = {.type = MSG_ANSWER, .u.answer = {1, big}};
    util_buf_reset(&b);
    out = NULL;
    ok(msg_encode(&a, &b) == 0
           && (out = msg_decode(b.data, b.len, NULL)) != NULL
           && strlen(out->u.answer.json) == MSG_MAX_STRING,
       "a string of exactly MSG_MAX_STRING bytes round-trips");
    msg_free(out);
    big[MSG_MAX_STRING] = 'x';
    big[MSG_MAX_STRING + 1] = '\0';
    util_buf_reset(&b);
    errno = 0;
    ok(msg_encode(&a, &b) < 0 && errno == EINVAL,
       "a string of MSG_MAX_STRING + 1 bytes fails to encode with EINVAL");
    free(big);

    static const char *many[MSG_MAX_ARGS + 1];
    for (int i = 0; i <= MSG_MAX_ARGS; i++)
        many[i] = "w";
    msg_t j = {.type = MSG_JOB};
    j.u.job.nwords = MSG_MAX_ARGS;
    j.u.job.words = many;
    util_buf_reset(&b);
    out = NULL;
    ok(msg_encode(&j, &b) == 0
           && (out = msg_decode(b.data, b.len, NULL)) != NULL
           && out->u.job.nwords == MSG_MAX_ARGS,
       "a template of exactly MSG_MAX_ARGS words round-trips");
    msg_free(out);
    j.u.job.nwords = MSG_MAX_ARGS + 1;
    errno = 0;
    ok(msg_encode(&j, &b) < 0 && errno == EINVAL,
       "MSG_MAX_ARGS + 1 words fail to encode with EINVAL");

    msg_t bad = {.type = (msg_type_t)99};
    errno = 0;
    ok(msg_encode(&bad, &b) < 0 && errno == EINVAL,
       "an unknown type fails to encode with EINVAL");
    msg_t nul = {.type = MSG_HELLO};
    errno = 0;
    ok(msg_encode(&nul, &b) < 0 && errno == EINVAL,
       "a HELLO without its worker id fails to encode with EINVAL");
    util_buf_fini(&b);
}

static void test_speed(void)
{
    enum { N = 1000, ROUNDS = 200 };
    msg_assign_entry_t *ae = calloc(N, sizeof *ae);
    msg_result_entry_t *re = calloc(N, sizeof *re);
    for (uint32_t i = 0; i < N; i++) {
        ae[i] = (msg_assign_entry_t){{7, 1000000 + i, 1}, i % 64 + 1,
                                     i % 3 ? 0 : 1, 1000};
        re[i] = (msg_result_entry_t){
            .task = {7, 1000000 + i, 1},
            .end = {.state = BANYAN_TASK_OK, .start_time = 1.7e9 + i,
                    .end_time = 1.7e9 + i + 0.5, .cpu_user = 0.01,
                    .cpu_sys = 0.002, .peak_rss_bytes = 4 << 20}};
    }
    msg_t ma = {.type = MSG_ASSIGN, .u.assign = {N, ae}};
    msg_t mr = {.type = MSG_RESULT, .u.result = {1, N, re}};
    const msg_t *ms[2] = {&ma, &mr};
    util_buf_t b = UTIL_BUF_INIT;
    for (int k = 0; k < 2; k++) {
        uint64_t enc_ns = 0, dec_ns = 0;
        bool good = true;
        for (int r = 0; r < ROUNDS; r++) {
            util_buf_reset(&b);
            uint64_t t0 = util_mono_ns();
            good &= msg_encode(ms[k], &b) == 0;
            uint64_t t1 = util_mono_ns();
            msg_t *m = msg_decode(b.data, b.len, NULL);
            uint64_t t2 = util_mono_ns();
            good &= m != NULL
                    && (k == 0 ? m->u.assign.n : m->u.result.n) == N;
            msg_free(m);
            enc_ns += t1 - t0;
            dec_ns += t2 - t1;
        }
        ok(good, "%s of %d entries encodes and decodes",
           msg_type_name(ms[k]->type), N);
        diag("%s x %d: %zu bytes, encode %.1f us, decode %.1f us",
             msg_type_name(ms[k]->type), N, b.len,
             enc_ns / 1e3 / ROUNDS, dec_ns / 1e3 / ROUNDS);
    }
    util_buf_fini(&b);
    free(ae);
    free(re);
}

/* A SUMMARY up to its custom list (no counters), then the list's header. */
static void summary_custom(build_t *x, uint32_t n)
{
    start(x, 9, MSG_SUMMARY);
    for (int i = 0; i < 7; i++)
        msgpack_pack_int(&x->pk, i);
    msgpack_pack_array(&x->pk, 0);
    msgpack_pack_array(&x->pk, n);
}

static void custom_count(build_t *x, const char *name, uint64_t total,
                         uint64_t free)
{
    msgpack_pack_array(&x->pk, 3);
    str(x, name);
    msgpack_pack_uint64(&x->pk, total);
    msgpack_pack_uint64(&x->pk, free);
}

/* SUMMARY's custom resources are bounded and checked like HELLO's. */
static void test_summary_custom(void)
{
    build_t x;
    summary_custom(&x, 2);
    custom_count(&x, "license", 4, 4);
    custom_count(&x, "fpga", 2, 0);
    banyan_error_t err = {{0}};
    msg_t *m = msg_decode(x.b.data, x.b.len, &err);
    ok(m && m->u.summary.ncustom == 2
           && strcmp(m->u.summary.custom[0].name, "license") == 0
           && m->u.summary.custom[0].total == 4
           && m->u.summary.custom[0].free == 4
           && strcmp(m->u.summary.custom[1].name, "fpga") == 0
           && m->u.summary.custom[1].free == 0,
       "a SUMMARY's custom resources decode");
    msg_free(m);
    util_buf_fini(&x.b);

    summary_custom(&x, RES_MAX_CUSTOM + 1);
    for (int i = 0; i <= RES_MAX_CUSTOM; i++) {
        char name[8];
        snprintf(name, sizeof(name), "r%d", i);
        custom_count(&x, name, 1, 1);
    }
    ok(refused(&x, "summary.custom: too many elements"),
       "more than RES_MAX_CUSTOM custom resources are refused");

    summary_custom(&x, 1);
    custom_count(&x, "", 1, 1);
    ok(refused(&x, "summary.custom.name: custom resource name empty"),
       "an empty custom resource name is refused");

    char longname[RES_NAME_MAX + 1];
    memset(longname, 'n', RES_NAME_MAX);
    longname[RES_NAME_MAX] = '\0';
    summary_custom(&x, 1);
    custom_count(&x, longname, 1, 1);
    ok(refused(&x, "summary.custom.name: custom resource name empty or too "
               "long"), "a custom resource name of RES_NAME_MAX bytes is "
       "refused");

    summary_custom(&x, 2);
    custom_count(&x, "license", 1, 1);
    custom_count(&x, "license", 2, 1);
    ok(refused(&x, "summary.custom.name: custom resource named twice"),
       "a custom resource named twice is refused");

    summary_custom(&x, 1);
    custom_count(&x, "license", 2, 3);
    ok(refused(&x, "summary.custom.free: number out of range"),
       "more free than total is refused");

    summary_custom(&x, 1);
    msgpack_pack_array(&x.pk, 2);
    str(&x, "license");
    msgpack_pack_uint64(&x.pk, 1);
    ok(refused(&x, "summary.custom: wrong number of fields"),
       "a custom resource without its free count is refused");

    summary_custom(&x, 1000);
    ok(refused(&x, "summary.custom: too many elements"),
       "a huge custom count is refused before anything is allocated");

    /* The old 8-field SUMMARY (before custom resources) is refused. */
    start(&x, 8, MSG_SUMMARY);
    for (int i = 0; i < 7; i++)
        msgpack_pack_int(&x.pk, i);
    msgpack_pack_array(&x.pk, 0);
    ok(refused(&x, NULL), "a SUMMARY without the custom list is refused");
}

int main(void)
{
    plan(NO_PLAN);
    test_header();
    test_types();
    test_counts();
    test_job_blobs();
    test_job_request();
    test_hashes();
    test_chunks();
    test_tree_rules();
    test_summary_custom();
    test_limits();
    test_speed();
    return done_testing();
}
