/* SPDX-License-Identifier: MIT */
/* test_chunk.c - splitting blobs into 1 MiB chunks and reassembling them,
 * in memory and through the cache directory, with hostile chunks.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"
#include "tap.h"

enum { MIB = 1 << 20, BIG = 50 * 1000 * 1000 };

/* Files in dir whose name starts with a dot (temp files), excluding the
 * lock and "." / "..". */
static int count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)))
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".")
            && strcmp(de->d_name, "..") && strcmp(de->d_name, ".lock"))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_spans(void)
{
    uint64_t off;
    size_t len;

    is_int(blob_chunk_count(0), 1, "an empty blob is one chunk");
    ok(blob_chunk_span(0, 0, &off, &len) == 0 && off == 0 && len == 0,
       "that chunk is empty, at offset 0");
    is_int(blob_chunk_count(1), 1, "1 byte is one chunk");
    is_int(blob_chunk_count(MIB), 1, "1 MiB is one chunk");
    is_int(blob_chunk_count(MIB + 1), 2, "1 MiB + 1 is two chunks");
    ok(blob_chunk_span(MIB + 1, 1, &off, &len) == 0 && off == MIB
           && len == 1,
       "the second chunk of 1 MiB + 1 holds the last byte");
    is_int(blob_chunk_count(BIG), 48, "50 MB is 48 chunks");
    ok(blob_chunk_span(BIG, 47, &off, &len) == 0 && off == 47ull * MIB
           && len == BIG - 47ull * MIB,
       "the last chunk of 50 MB holds the rest");
    errno = 0;
    ok(blob_chunk_span(BIG, 48, &off, &len) == -1 && errno == ERANGE,
       "a chunk index past the end fails with ERANGE");
}

/* 50 MB in memory: split, shuffle, duplicate, reassemble. */
static void test_memory(void)
{
    char *data = malloc(BIG);
    blob_id_t id;
    uint64_t n = blob_chunk_count(BIG), off;
    size_t len, biggest = 0;

    for (size_t i = 0; i < BIG; i++)
        data[i] = (char)(i * 2654435761u >> 13);
    blob_hash(data, BIG, &id);

    blob_asm_t *a = blob_asm_create(NULL, &id, BIG);
    ok(a != NULL, "an in-memory assembly of 50 MB is created");
    /* Odd chunks first, then even ones backwards, each odd one twice. */
    int rc = 0, fails = 0;
    for (uint64_t i = 1; i < n; i += 2) {
        blob_chunk_span(BIG, i, &off, &len);
        biggest = len > biggest ? len : biggest;
        fails += blob_asm_add(a, off, data + off, len) != 0;
        fails += blob_asm_add(a, off, data + off, len) != 0;
    }
    is_int(fails, 0, "half the chunks, each twice, leave it incomplete");
    is_int(blob_asm_received(a), n / 2, "duplicates are not counted");
    void *out = NULL;
    size_t outlen = 0;
    errno = 0;
    ok(blob_asm_take(a, &out, &outlen) == -1 && errno == EAGAIN,
       "take before the last chunk fails with EAGAIN");
    for (uint64_t i = n - (n % 2 ? 1 : 2);; i -= 2) { /* evens, backwards */
        blob_chunk_span(BIG, i, &off, &len);
        biggest = len > biggest ? len : biggest;
        rc = blob_asm_add(a, off, data + off, len);
        if (i == 0)
            break;
    }
    is_int(rc, 1, "the last chunk completes the assembly");
    ok(blob_asm_complete(a), "complete reports so");
    ok(biggest <= BLOB_CHUNK_BYTES, "no chunk is larger than 1 MiB");
    ok(blob_asm_take(a, &out, &outlen) == 0 && outlen == BIG
           && memcmp(out, data, BIG) == 0,
       "take gives back the 50 MB, byte for byte");
    free(out);
    blob_asm_destroy(a);

    /* One flipped byte: the final hash check fails. */
    a = blob_asm_create(NULL, &id, BIG);
    for (uint64_t i = 0; i < n; i++) {
        blob_chunk_span(BIG, i, &off, &len);
        if (i == 7) {
            data[off + 5] ^= 1;
            blob_asm_add(a, off, data + off, len);
            data[off + 5] ^= 1;
        } else {
            blob_asm_add(a, off, data + off, len);
        }
    }
    errno = 0;
    out = NULL;
    ok(blob_asm_take(a, &out, &outlen) == -1 && errno == EBADMSG
           && out == NULL,
       "a chunk with one wrong byte fails the final check with EBADMSG");
    blob_asm_destroy(a);
    free(data);

    /* An empty blob. */
    blob_hash("", 0, &id);
    a = blob_asm_create(NULL, &id, 0);
    ok(blob_asm_add(a, 0, NULL, 0) == 1, "an empty blob is one empty chunk");
    ok(blob_asm_take(a, &out, &outlen) == 0 && outlen == 0,
       "an empty blob is taken");
    free(out);
    blob_asm_destroy(a);
}

static void test_hostile(void)
{
    char chunk[16] = "0123456789abcdef";
    blob_id_t id;

    blob_hash("whatever", 8, &id);
    blob_asm_t *a = blob_asm_create(NULL, &id, 2 * MIB + 16);
    char *buf = calloc(1, MIB);
    errno = 0;
    ok(blob_asm_add(a, 5, chunk, 16) == -1 && errno == EINVAL,
       "an offset that is not a chunk boundary fails with EINVAL");
    errno = 0;
    ok(blob_asm_add(a, 2 * MIB, chunk, 15) == -1 && errno == EINVAL,
       "a last chunk of the wrong length fails with EINVAL");
    errno = 0;
    ok(blob_asm_add(a, 0, buf, MIB - 1) == -1 && errno == EINVAL,
       "a short middle chunk fails with EINVAL");
    errno = 0;
    ok(blob_asm_add(a, 3 * MIB, chunk, 16) == -1 && errno == EINVAL,
       "a chunk past the end fails with EINVAL");
    errno = 0;
    ok(blob_asm_add(a, UINT64_MAX - MIB + 1, chunk, 16) == -1
           && errno == EINVAL,
       "an offset near 2^64 fails with EINVAL");
    is_int(blob_asm_received(a), 0, "refused chunks are not counted");
    blob_asm_destroy(a);
    free(buf);

    errno = 0;
    ok(blob_asm_create(NULL, &id, (uint64_t)BLOB_MEM_MAX + 1) == NULL
           && errno == EFBIG,
       "an in-memory assembly over BLOB_MEM_MAX is refused with EFBIG");
    errno = 0;
    ok(blob_asm_create(NULL, &id, UINT64_MAX) == NULL && errno == EFBIG,
       "a size of 2^64 - 1 is refused with EFBIG");

    blob_cache_t *c = blob_cache_open("small", 1000, NULL);
    errno = 0;
    ok(blob_asm_create(c, &id, 1001) == NULL && errno == EFBIG,
       "an assembly larger than the cache's bound is refused with EFBIG");
    blob_cache_close(c);
    c = blob_cache_open("unbounded", 0, NULL);
    errno = 0;
    ok(blob_asm_create(c, &id, BLOB_SIZE_MAX + 1) == NULL && errno == EFBIG,
       "an unbounded cache still refuses sizes over BLOB_SIZE_MAX");
    blob_cache_close(c);
}

/* 50 MB from one cache to another, one chunk in memory at a time. */
static void test_cache_to_cache(void)
{
    char *data = malloc(BIG);
    char *buf = malloc(BLOB_CHUNK_BYTES);
    blob_id_t id;
    uint64_t off;
    size_t len;

    for (size_t i = 0; i < BIG; i++)
        data[i] = (char)(i * 40503u >> 7);
    blob_cache_t *src = blob_cache_open("src", 0, NULL);
    blob_cache_t *dst = blob_cache_open("dst", 0, NULL);
    ok(blob_put(src, data, BIG, &id) == 0, "50 MB stored in the sender");
    free(data);

    uint64_t n = blob_chunk_count(BIG), sent = 0;
    blob_asm_t *a = blob_asm_create(dst, &id, BIG);
    ok(a != NULL, "an assembly into the receiver's cache is created");
    ok(count_temps("dst") == 1, "it writes into one temp file");
    int rc = 0, bad = 0, reread = 0;
    errno = 0;
    ok(blob_asm_read_chunk(a, n - 1, buf, &len) == -1 && errno == EAGAIN,
       "a chunk not received yet cannot be read from the assembly");
    for (uint64_t i = n; i-- > 0;) { /* backwards */
        if (blob_chunk_read(src, &id, i, buf, &len) < 0)
            bad++;
        blob_chunk_span(BIG, i, &off, NULL);
        sent += len;
        rc = blob_asm_add(a, off, buf, len);
        /* A relay passes a chunk on from its partial file. */
        char first = buf[0], last = buf[len - 1];
        size_t back = 0;
        memset(buf, 0, len);
        if (blob_asm_read_chunk(a, i, buf, &back) < 0 || back != len
            || buf[0] != first || buf[len - 1] != last)
            reread++;
    }
    is_int(bad, 0, "every chunk is read from the sender's file");
    is_int(reread, 0, "every received chunk reads back from the assembly");
    errno = 0;
    ok(blob_asm_read_chunk(a, n, buf, &len) == -1 && errno == ERANGE,
       "reading a chunk past the end of an assembly fails with ERANGE");
    is_int(sent, BIG, "the chunks add up to 50 MB");
    is_int(rc, 1, "the last chunk completes the assembly");
    ok(!blob_has(dst, &id), "nothing is in the receiver's cache before commit");
    ok(blob_asm_commit(a) == 0, "commit checks the hash and stores the blob");
    blob_asm_destroy(a);
    ok(blob_has(dst, &id) && blob_verify(dst, &id) == 0,
       "the receiver holds the intact blob");
    ok(count_temps("dst") == 0, "no temp file is left");
    errno = 0;
    ok(blob_chunk_read(src, &id, n, buf, &len) == -1 && errno == ERANGE,
       "reading a chunk past the end fails with ERANGE");

    /* A corrupt transfer into the cache. */
    blob_id_t other;
    blob_put(src, "tiny", 4, &other);
    a = blob_asm_create(dst, &other, 4);
    blob_asm_add(a, 0, "TINY", 4);
    errno = 0;
    ok(blob_asm_commit(a) == -1 && errno == EBADMSG,
       "commit of content that does not match the name fails with EBADMSG");
    blob_asm_destroy(a);
    ok(!blob_has(dst, &other) && count_temps("dst") == 0,
       "the bad content is neither cached nor left on disk");

    a = blob_asm_create(dst, &other, 4);
    errno = 0;
    ok(blob_asm_commit(a) == -1 && errno == EAGAIN,
       "commit with chunks missing fails with EAGAIN");
    blob_asm_destroy(a);
    ok(count_temps("dst") == 0,
       "destroying a partial assembly removes its file");

    blob_cache_close(src);
    blob_cache_close(dst);
    free(buf);
}

int main(void)
{
    plan(NO_PLAN);
    test_spans();
    test_memory();
    test_hostile();
    test_cache_to_cache();
    return done_testing();
}
