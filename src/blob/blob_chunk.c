/* SPDX-License-Identifier: MIT */
/* blob_chunk.c - fixed-size chunks of a blob, and their reassembly.
 *
 * A blob of size bytes is cut into ceil(size / BLOB_CHUNK_BYTES) chunks
 * (one empty chunk for an empty blob).  Chunk i starts at i * 1 MiB, so a
 * receiver can check every (offset, length) pair it is sent against the
 * size announced with the first chunk, and a peer cannot make it write
 * outside the blob or allocate more than the size it accepted.
 *
 * The assembler keeps one bit per chunk.  With a cache it pwrite()s each
 * chunk into a temp file in the cache directory and, when all bits are
 * set, hashes the file and renames it into place (blob__cache_commit);
 * memory stays one bitmap whatever the size.  Without a cache it fills one
 * buffer of the announced size (at most BLOB_MEM_MAX).  Either way nothing
 * is trusted until the final hash matches the name.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob/blob.h"
#include "blob/blob_private.h"

uint64_t blob_chunk_count(uint64_t size)
{
    if (size == 0)
        return 1;
    return (size - 1) / BLOB_CHUNK_BYTES + 1;
}

int blob_chunk_span(uint64_t size, uint64_t index, uint64_t *offset,
                    size_t *len)
{
    if (index >= blob_chunk_count(size)) {
        errno = ERANGE;
        return -1;
    }
    uint64_t off = index * BLOB_CHUNK_BYTES;
    uint64_t n = size - off < BLOB_CHUNK_BYTES ? size - off
                                               : BLOB_CHUNK_BYTES;
    if (offset)
        *offset = off;
    if (len)
        *len = (size_t)n;
    return 0;
}

/* ============================================================ assembler */

struct blob_asm {
    blob_cache_t *cache;     /* borrowed; NULL: assemble in memory */
    blob_id_t id;            /* the name the content must hash to */
    uint64_t size;           /* announced size, bytes */
    uint64_t nchunks;
    uint64_t received;       /* chunks received */
    uint8_t *bits;           /* one bit per chunk */
    char *buf;               /* in memory: size bytes (NULL when 0) */
    int fd;                  /* with a cache: the temp file, else -1 */
    char tmp[PATH_MAX];      /* its path */
    bool spent;              /* committed or taken (or failed doing so) */
};

blob_asm_t *blob_asm_create(blob_cache_t *c, const blob_id_t *id,
                            uint64_t size)
{
    if (!id) {
        errno = EINVAL;
        return NULL;
    }
    if (size > BLOB_SIZE_MAX
        || (c ? (blob__cache_max(c) && size > blob__cache_max(c))
              : size > BLOB_MEM_MAX)) {
        errno = EFBIG;
        return NULL;
    }
    blob_asm_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->cache = c;
    a->id = *id;
    a->size = size;
    a->nchunks = blob_chunk_count(size);
    a->fd = -1;
    if (!(a->bits = calloc((size_t)(a->nchunks / 8 + 1), 1)))
        goto nomem;
    if (c) {
        if ((a->fd = blob__cache_tmpfile(c, a->tmp, sizeof a->tmp)) < 0)
            goto error;
    } else if (size > 0 && !(a->buf = malloc((size_t)size))) {
        goto nomem;
    }
    return a;

nomem:
    errno = ENOMEM;
error:
    blob_asm_destroy(a);
    return NULL;
}

void blob_asm_destroy(blob_asm_t *a)
{
    if (!a)
        return;
    int saved = errno;
    if (a->fd >= 0) {
        close(a->fd);
        unlink(a->tmp);
    }
    free(a->bits);
    free(a->buf);
    free(a);
    errno = saved;
}

int blob_asm_add(blob_asm_t *a, uint64_t offset, const void *data,
                 size_t len)
{
    uint64_t off;
    size_t want;

    if (!a || (!data && len > 0) || a->spent) {
        errno = EINVAL;
        return -1;
    }
    uint64_t i = offset / BLOB_CHUNK_BYTES;
    if (offset % BLOB_CHUNK_BYTES != 0
        || blob_chunk_span(a->size, i, &off, &want) < 0 || len != want) {
        errno = EINVAL;
        return -1;
    }
    uint8_t bit = (uint8_t)(1u << (i % 8));
    if (a->bits[i / 8] & bit)
        return a->received == a->nchunks; /* a retransmission */
    if (a->fd >= 0) {
        size_t done = 0;
        while (done < len) {
            ssize_t n = pwrite(a->fd, (const char *)data + done, len - done,
                               (off_t)(off + done));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            done += (size_t)n;
        }
    } else if (len > 0) {
        memcpy(a->buf + off, data, len);
    }
    a->bits[i / 8] |= bit;
    a->received++;
    return a->received == a->nchunks;
}

bool blob_asm_complete(const blob_asm_t *a)
{
    return a && a->received == a->nchunks;
}

uint64_t blob_asm_received(const blob_asm_t *a)
{
    return a ? a->received : 0;
}

int blob_asm_read_chunk(const blob_asm_t *a, uint64_t index, void *buf,
                        size_t *len)
{
    uint64_t off;
    size_t n;

    if (!a || !buf || !len || a->spent) {
        errno = EINVAL;
        return -1;
    }
    if (blob_chunk_span(a->size, index, &off, &n) < 0)
        return -1; /* ERANGE */
    if (!(a->bits[index / 8] & (1u << (index % 8)))) {
        errno = EAGAIN;
        return -1;
    }
    if (a->fd < 0) {
        if (n > 0)
            memcpy(buf, a->buf + off, n);
    } else {
        size_t done = 0;
        while (done < n) {
            ssize_t r = pread(a->fd, (char *)buf + done, n - done,
                              (off_t)(off + done));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                if (r == 0)
                    errno = EIO; /* the temp file is shorter than written */
                return -1;
            }
            done += (size_t)r;
        }
    }
    *len = n;
    return 0;
}

/* Whether a, usable (ok), has every chunk: it is then spent.  0, or -1
 * with EINVAL or EAGAIN. */
static int spend(blob_asm_t *a, bool ok)
{
    if (!ok || a->spent) {
        errno = EINVAL;
        return -1;
    }
    if (a->received != a->nchunks) {
        errno = EAGAIN;
        return -1;
    }
    a->spent = true;
    return 0;
}

int blob_asm_commit(blob_asm_t *a)
{
    blob_id_t h;
    uint64_t size;

    if (spend(a, a && a->cache) < 0
        || blob__hash_fd(a->fd, &h, &size) < 0)
        return -1; /* destroy removes the temp file */
    if (size != a->size || !blob_id_equal(&h, &a->id)) {
        errno = EBADMSG;
        return -1;
    }
    int fd = a->fd;
    a->fd = -1; /* commit closes it and removes the temp file on failure */
    return blob__cache_commit(a->cache, fd, a->tmp, &a->id, a->size);
}

int blob_asm_take(blob_asm_t *a, void **data, size_t *len)
{
    blob_id_t h;

    if (spend(a, a && !a->cache && data && len) < 0
        || blob_hash(a->buf, (size_t)a->size, &h) < 0)
        return -1;
    if (!blob_id_equal(&h, &a->id)) {
        errno = EBADMSG;
        return -1;
    }
    if (!a->buf && !(a->buf = malloc(1))) { /* an empty blob */
        errno = ENOMEM;
        return -1;
    }
    *data = a->buf;
    *len = (size_t)a->size;
    a->buf = NULL;
    return 0;
}
