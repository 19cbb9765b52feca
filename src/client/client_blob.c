/* SPDX-License-Identifier: MIT */
/* client_blob.c - uploading blobs and broadcasting to every engine.
 *
 * An upload is a run of BLOB_PUT messages that share one request id, each
 * carrying the blob's hash, its total size, and one chunk (offset, bytes)
 * of at most MSG_BLOB_CHUNK.  The server assembles them, checks the hash,
 * stores the blob, and answers only the last chunk, with ANSWER
 * {"hash": "<hex>", "size": N} or ERROR.  So every chunk but the last is
 * sent without waiting (client__send), and an ERROR that comes early (a
 * server that refuses the size at the first chunk) ends the upload at
 * once.  The hash is computed before the first chunk leaves, since every
 * chunk names it: a file is therefore read twice, once to hash it and once
 * to send it, in pieces, and a file that changes in between is noticed
 * (its size) or refused by the server (its hash).
 *
 * A broadcast is one BROADCAST request; the server answers when every
 * engine of the tree has replied or the broadcast's own timeout has
 * passed, so the client waits that long plus its ordinary deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "blob/blob.h"
#include "client_private.h"

_Static_assert(BANYAN_BLOB_HASH_LEN == MSG_HASH_LEN
                   && BANYAN_BLOB_HASH_LEN == (int)BLOB_ID_BYTES,
               "one hash length everywhere");
_Static_assert(BANYAN_JOB_MAX_BLOBS == MSG_MAX_JOB_BLOBS,
               "the job's blob limit is the wire's");
_Static_assert((int)MSG_BLOB_CHUNK == (int)BLOB_CHUNK_BYTES,
               "chunks of the wire and of the blob module agree");

/* Where the bytes of an upload come from: memory or a file descriptor. */
typedef struct source {
    const uint8_t *data;     /* memory, or NULL */
    int fd;                  /* a file, when data is NULL */
    const char *path;        /* for error text */
    uint8_t *buf;            /* one chunk, for a file */
} source_t;

/* The bytes [offset, offset + len) of the source.  Pointer, or NULL with
 * errno and text (the file shrank or cannot be read). */
static const void *source_chunk(source_t *src, uint64_t offset, size_t len,
                                banyan_error_t *error)
{
    if (src->data)
        return src->data + offset;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(src->fd, src->buf + got, len - got,
                          (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            errprintf(error, "cannot read '%s': %s", src->path, strerror(e));
            errno = e;
            return NULL;
        }
        if (n == 0) {
            errno = EIO;
            errprintf(error, "'%s' changed while it was being sent (it "
                             "became shorter)", src->path);
            return NULL;
        }
        got += (size_t)n;
    }
    return src->buf;
}

/* Check the server's answer to the last chunk: {"hash": hex, "size": n}
 * naming what was sent.  0, or -1 with EPROTO. */
static int check_put_answer(const msg_t *r, const blob_id_t *id,
                            uint64_t size, banyan_error_t *error)
{
    if (r->type != MSG_ANSWER) {
        errno = EPROTO;
        return errprintf(error, "the server answered the blob upload with "
                                "%s", msg_type_name(r->type));
    }
    json_error_t jerr;
    json_t *j = json_loads(r->u.answer.json ? r->u.answer.json : "", 0,
                           &jerr);
    const char *hex = json_string_value(json_object_get(j, "hash"));
    json_t *n = json_object_get(j, "size");
    blob_id_t got;
    bool same = hex && blob_id_parse(hex, &got) == 0
                && blob_id_equal(&got, id) && json_is_integer(n)
                && (uint64_t)json_integer_value(n) == size;
    json_decref(j);
    if (!same) {
        errno = EPROTO;
        return errprintf(error, "the server's answer to the blob upload "
                                "does not name the blob sent: %.120s",
                         r->u.answer.json ? r->u.answer.json : "(none)");
    }
    return 0;
}

/* The deadline of the last chunk's answer: the ordinary one, plus time for
 * the server to store the blob (at 50 MB/s). */
static int64_t put_timeout_ms(const banyan_client_t *c, uint64_t size)
{
    return client__timeout_ms(c) + (int64_t)(size / 50000);
}

/* what: "the blob" or a file's name. */
static int too_big(uint64_t size, const char *what, banyan_error_t *error)
{
    errno = EFBIG;
    return errprintf(error, "%s is %llu bytes; a server stores blobs of at "
                            "most %llu bytes", what, (unsigned long long)size,
                     (unsigned long long)BANYAN_BLOB_MAX_BYTES);
}

/* Whether the server holds id (of size bytes) already.  Asked before a
 * blob of more than one chunk is sent, so that submitting the same input
 * again costs a round trip, not the whole blob.  Any doubt (an older
 * server, an error) means no: the blob is sent. */
static bool server_holds(banyan_client_t *c, const blob_id_t *id,
                         uint64_t size)
{
    char hex[BLOB_HEX_LEN + 1], args[BLOB_HEX_LEN + 16];
    blob_id_format(id, hex);
    snprintf(args, sizeof(args), "{\"hash\":\"%s\"}", hex);
    char *answer = NULL;
    banyan_error_t ignored = {{0}};
    if (banyan_client_query(c, "blob", args, &answer, &ignored) < 0)
        return false;
    json_error_t jerr;
    json_t *j = json_loads(answer, 0, &jerr);
    free(answer);
    json_t *n = json_object_get(j, "size");
    bool held = json_is_true(json_object_get(j, "held"))
                && json_is_integer(n)
                && (uint64_t)json_integer_value(n) == size;
    json_decref(j);
    return held;
}

/* Send the chunks of src (size bytes, named id) and wait for the answer to
 * the last one; nothing when the server holds the blob already.  0 or -1
 * with errno and text. */
static int upload(banyan_client_t *c, source_t *src, const blob_id_t *id,
                  uint64_t size, banyan_error_t *error)
{
    if (size > MSG_BLOB_CHUNK && server_holds(c, id, size))
        return 0;
    uint64_t nchunks = size ? (size + MSG_BLOB_CHUNK - 1) / MSG_BLOB_CHUNK
                            : 1; /* an empty blob is one empty chunk */
    client__call_t call = {.timeout_ms = client__timeout_ms(c),
                           .what = "blob upload",
                           .request = client__new_request(c)};
    msg_t m = {.type = MSG_BLOB_PUT};
    msg_blob_data_t *d = &m.u.blob_data;
    d->hash = id->bytes;
    d->total = size;
    for (uint64_t i = 0; i < nchunks; i++) {
        d->offset = i * MSG_BLOB_CHUNK;
        uint64_t left = size - d->offset;
        d->len = (uint32_t)(left < MSG_BLOB_CHUNK ? left : MSG_BLOB_CHUNK);
        d->data = d->len ? source_chunk(src, d->offset, d->len, error) : "";
        if (!d->data)
            return -1;
        msg_t *r = NULL;
        if (i + 1 == nchunks) {
            call.timeout_ms = put_timeout_ms(c, size);
            r = client__request(c, &m, &call, error);
            if (!r)
                return -1;
        } else if (client__send(c, &m, &call, &r, error) < 0) {
            return -1;
        }
        if (r) { /* the last chunk's answer, or one that came early */
            int rc = check_put_answer(r, id, size, error);
            msg_free(r);
            return rc;
        }
    }
    return 0; /* not reached: the last chunk always has an answer */
}


int banyan_client_blob_put(banyan_client_t *c, const void *data, size_t size,
                           uint8_t hash_out[BANYAN_BLOB_HASH_LEN],
                           banyan_error_t *error)
{
    if (!c || !hash_out || (!data && size > 0)) {
        errno = EINVAL;
        return errprintf(error, "banyan_client_blob_put: missing argument");
    }
    if (size > BANYAN_BLOB_MAX_BYTES)
        return too_big(size, "the blob", error);
    blob_id_t id;
    if (blob_hash(data, size, &id) < 0)
        return errprintf(error, "cannot hash the blob: %s", strerror(errno));
    source_t src = {.data = data ? data : (const uint8_t *)"", .fd = -1};
    if (upload(c, &src, &id, size, error) < 0)
        return -1;
    memcpy(hash_out, id.bytes, BANYAN_BLOB_HASH_LEN);
    return 0;
}

/* Hash the whole of fd, reading it in pieces into buf.  0 with *id and the
 * bytes read in *size, or -1 with errno. */
static int hash_fd(int fd, uint8_t *buf, blob_id_t *id, uint64_t *size)
{
    blob_hash_state_t hs;
    blob_hash_init(&hs);
    *size = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, MSG_BLOB_CHUNK, (off_t)*size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        blob_hash_update(&hs, buf, (size_t)n);
        *size += (uint64_t)n;
    }
    return blob_hash_final(&hs, id);
}

/* Open path as a regular file, no larger than a blob may be.  fd, or -1
 * with errno and text. */
static int open_regular(const char *path, banyan_error_t *error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        errprintf(error, "cannot open '%s': %s", path, strerror(e));
        errno = e;
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        errno = EINVAL;
        return errprintf(error, "'%s' is not a regular file", path);
    }
    if ((uint64_t)sb.st_size > BANYAN_BLOB_MAX_BYTES) {
        close(fd);
        return too_big((uint64_t)sb.st_size, path, error);
    }
    return fd;
}

int banyan_client_blob_put_file(banyan_client_t *c, const char *path,
                                uint8_t hash_out[BANYAN_BLOB_HASH_LEN],
                                banyan_error_t *error)
{
    if (!c || !path || !hash_out) {
        errno = EINVAL;
        return errprintf(error, "banyan_client_blob_put_file: missing "
                                "argument");
    }
    int fd = open_regular(path, error);
    if (fd < 0)
        return -1;
    int rc = -1;
    source_t src = {.fd = fd, .path = path, .buf = malloc(MSG_BLOB_CHUNK)};
    blob_id_t id;
    uint64_t size;
    if (!src.buf) {
        errno = ENOMEM;
        errprintf(error, "out of memory");
    } else if (hash_fd(fd, src.buf, &id, &size) < 0) {
        int e = errno;
        errprintf(error, "cannot read '%s': %s", path, strerror(e));
        errno = e;
    } else if (size > BANYAN_BLOB_MAX_BYTES) { /* it grew since fstat */
        too_big(size, path, error);
    } else if (upload(c, &src, &id, size, error) == 0) {
        memcpy(hash_out, id.bytes, BANYAN_BLOB_HASH_LEN);
        rc = 0;
    }
    int e = errno;
    free(src.buf);
    close(fd);
    errno = e;
    return rc;
}

/* ------------------------------------------------------------ broadcast */

static int check_words(const char *const *words, size_t nwords,
                       banyan_error_t *error)
{
    errno = EINVAL;
    if (nwords && !words)
        return errprintf(error, "the broadcast command is missing");
    if (nwords > MSG_MAX_ARGS)
        return errprintf(error, "the command has %zu words; at most %d can "
                                "be sent", nwords, (int)MSG_MAX_ARGS);
    for (size_t i = 0; i < nwords; i++)
        if (!words[i])
            return errprintf(error, "command word %zu is NULL", i + 1);
    errno = 0;
    return 0;
}

int banyan_client_broadcast(banyan_client_t *c, const char *const *words,
                            size_t nwords, const uint8_t *blob_hash,
                            uint32_t timeout_ms, bool want_output,
                            char **json_out, banyan_error_t *error)
{
    if (!c || !json_out) {
        errno = EINVAL;
        return errprintf(error, "banyan_client_broadcast: missing argument");
    }
    if (check_words(words, nwords, error) < 0)
        return -1;
    if (timeout_ms == 0)
        timeout_ms = BANYAN_BROADCAST_TIMEOUT_MS;
    msg_t m = {.type = MSG_BROADCAST};
    msg_broadcast_t *b = &m.u.broadcast;
    b->nwords = (uint32_t)nwords;
    b->words = (const char **)words; /* only read; msg_t is not const */
    b->blob = blob_hash;
    b->timeout_ms = timeout_ms;
    b->want_output = want_output;
    /* The server answers by timeout_ms at the latest (with the engines
     * that did not reply counted as missing). */
    client__call_t call = {.timeout_ms = (int64_t)timeout_ms
                                         + client__timeout_ms(c),
                           .what = "broadcast"};
    return client__answer(client__request(c, &m, &call, error), "broadcast",
                          json_out, error);
}

int banyan_client_push_blob(banyan_client_t *c, const void *data,
                            size_t size, uint32_t timeout_ms,
                            char **json_out, banyan_error_t *error)
{
    uint8_t hash[BANYAN_BLOB_HASH_LEN];
    if (banyan_client_blob_put(c, data, size, hash, error) < 0)
        return -1;
    return banyan_client_broadcast(c, NULL, 0, hash, timeout_ms, false,
                                   json_out, error);
}
