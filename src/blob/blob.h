/* SPDX-License-Identifier: MIT */
/* blob.h - content-addressed payloads: BLAKE2b names, a bounded on-disk LRU
 * cache, pull-through fetch state for relays, and chunking for transfer.
 *
 * A blob is a byte string named by its BLAKE2b-256 hash (libsodium's
 * crypto_generichash, 32 bytes, no key).  Two blobs with the same name are
 * the same bytes, so a node that holds a name never needs the bytes again.
 *
 * - blob_id / blob_hash: the name, its 64-character lowercase hex text, and
 *   one-shot or streaming hashing.
 * - blob_cache: a directory of blobs (dir/ab/abcdef..., mode 0600) with an
 *   in-memory index of size and last use, least-recently-used eviction down
 *   to max_bytes, and pins for blobs that running tasks use.  Writes are
 *   atomic (temp file, fsync, rename); contents are checked against their
 *   name before they are trusted.  One process owns a directory at a time
 *   (an flock on dir/.lock).
 * - blob_chunk: fixed 1 MiB chunks, so no message carries more than that;
 *   an assembler puts chunks back together (in memory or straight into the
 *   cache) and checks the hash at the end.
 * - blob_fetch: sans-I/O pull-through for relays: one request to the parent
 *   per missing blob however many waiters ask for it, completion of every
 *   waiter when the payload arrives, and rejection of a payload whose hash
 *   is wrong.
 *
 * docs/blobs.md describes the layout, eviction, pinning and the protocol a
 * relay follows (BLOB_GET / BLOB_DATA).
 */
#ifndef BANYAN_BLOB_H
#define BANYAN_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

enum {
    BLOB_ID_BYTES = 32,           /* BLAKE2b-256 */
    BLOB_HEX_LEN = 64,            /* hex characters of a name, without NUL */
    BLOB_CHUNK_BYTES = 1 << 20,   /* payload bytes per chunk (1 MiB) */
    BLOB_MEM_MAX = 1 << 30,       /* largest blob assembled in memory */
};

/* No blob is larger than this (1 TiB): a size a peer announces above it is
 * refused (EFBIG), which also bounds the assembler's bitmap. */
#define BLOB_SIZE_MAX ((uint64_t)1 << 40)

/* ==================================================================== names */

/* A blob's name: the BLAKE2b-256 hash of its bytes. */
typedef struct blob_id {
    uint8_t bytes[BLOB_ID_BYTES];
} blob_id_t;

/* Streaming hash state, in storage the caller provides.  Opaque; its size
 * and alignment match libsodium's crypto_generichash_state. */
typedef struct blob_hash_state {
    _Alignas(64) unsigned char opaque[384];
} blob_hash_state_t;

/* Hash len bytes of data (data may be NULL when len is 0) into *out.
 * 0, or -1 with errno (EINVAL for a NULL argument). */
int blob_hash(const void *data, size_t len, blob_id_t *out);

/* Streaming form: init, any number of updates, final.  Each returns 0 or -1
 * with EINVAL.  After final the state must be initialised again before
 * reuse; it holds no memory, so an abandoned state needs no cleanup. */
int blob_hash_init(blob_hash_state_t *st);
int blob_hash_update(blob_hash_state_t *st, const void *data, size_t len);
int blob_hash_final(blob_hash_state_t *st, blob_id_t *out);

/* Hash a whole file, reading it in pieces (memory does not grow with the
 * file).  *size (may be NULL) gets its length.  0 or -1 with errno from
 * open/read. */
int blob_hash_file(const char *path, blob_id_t *out, uint64_t *size);

bool blob_id_equal(const blob_id_t *a, const blob_id_t *b);

/* Write the 64 lowercase hex characters and a NUL into out.  Returns out. */
char *blob_id_format(const blob_id_t *id, char out[BLOB_HEX_LEN + 1]);

/* Parse exactly 64 hex digits (either case) followed by the end of the
 * string.  Safe on hostile input: reads at most 65 bytes of s.  0, or -1
 * with EINVAL (NULL, too short, too long, a non-hex character), leaving
 * *out unchanged on failure. */
int blob_id_parse(const char *s, blob_id_t *out);

/* The same for a counted string that need not be NUL-terminated (a field of
 * a message): len must be exactly 64.  0 or -1 with EINVAL. */
int blob_id_parse_n(const char *s, size_t len, blob_id_t *out);

/* ==================================================================== cache */

typedef struct blob_cache blob_cache_t;

typedef struct blob_stats {
    uint64_t count;       /* blobs in the cache */
    uint64_t bytes;       /* their total size */
    uint64_t max_bytes;   /* the bound (0: none) */
    uint64_t pinned;      /* blobs with a pin count above 0 */
    uint64_t hits;        /* get_path/read/pin that found the blob */
    uint64_t misses;      /* get_path/read/pin that did not */
    uint64_t stored;      /* blobs written (a put of a held blob is not) */
    uint64_t evictions;   /* blobs removed to respect max_bytes */
    uint64_t corrupt;     /* files whose content did not match their name,
                           * removed */
} blob_stats_t;

/* Open (creating it, mode 0700, if needed) the cache directory dir, bounded
 * to max_bytes of blob content (0: no bound).  Takes an exclusive lock on
 * dir/.lock, so one process at a time owns a directory.  Builds the index
 * by scanning the 256 fan-out folders: one stat per file, no content read,
 * so the time is linear in the number of files (docs/blobs.md gives a
 * figure).  Leftover temp files of interrupted writes are removed; files
 * whose names are not blob names are ignored.  The last-use order is
 * restored from modification times.  If the content exceeds max_bytes, the
 * least recently used blobs are evicted.
 * NULL with errno (EWOULDBLOCK: another process holds the lock) and text in
 * error.  Caller must close with blob_cache_close(). */
blob_cache_t *blob_cache_open(const char *dir, uint64_t max_bytes,
                              banyan_error_t *error);

/* Free the in-memory index and release the lock; files stay.  Pins are not
 * kept.  Accepts NULL; keeps errno. */
void blob_cache_close(blob_cache_t *c);

/* The cache directory.  Borrowed; valid until blob_cache_close(). */
const char *blob_cache_dir(const blob_cache_t *c);

/* Store len bytes of data and give its name in *id (may be NULL).  A blob
 * already held is not written again (it only counts as used).  Before
 * writing, least recently used unpinned blobs are evicted to make room; a
 * put never evicts the blob it stores.  If pinned blobs leave no room, the
 * cache goes over its bound until they are unpinned.
 * 0, or -1 with errno: EFBIG (len > max_bytes), or an I/O error (ENOSPC,
 * EIO...), in which case nothing is left on disk or in the index. */
int blob_put(blob_cache_t *c, const void *data, size_t len, blob_id_t *id);

/* Store the content of the file at path, streaming it (memory does not grow
 * with the file).  As blob_put() otherwise. */
int blob_put_file(blob_cache_t *c, const char *path, blob_id_t *id);

/* Whether the cache holds id (index only: no disk access, no use counted).
 */
bool blob_has(const blob_cache_t *c, const blob_id_t *id);

/* The size of blob id in *size.  0 or -1 with ENOENT.  Counts no use. */
int blob_size(const blob_cache_t *c, const blob_id_t *id, uint64_t *size);

/* Write the path of blob id's file (dir/ab/abcd...) into path (size bytes;
 * PATH_MAX is always enough) so that a task can read it, and mark it used.
 * The first use after open is verified by hashing the file; later uses
 * check its size.  The path stays valid while the blob is pinned; an
 * unpinned blob may be evicted by the next put.
 * 0, or -1 with ENOENT (not held, or found corrupt and removed: counted in
 * stats.corrupt), ERANGE (path too small), or an I/O error. */
int blob_get_path(blob_cache_t *c, const blob_id_t *id, char *path,
                  size_t size);

/* Read blob id into a new buffer *data (NUL-terminated for convenience,
 * caller must free()) of *len bytes, and mark it used.  The content is
 * always checked against the name.  0, or -1 with ENOENT (not held, or
 * corrupt and removed), ENOMEM, or an I/O error. */
int blob_read(blob_cache_t *c, const blob_id_t *id, void **data,
              size_t *len);

/* Hash blob id's file again now.  0, or -1 with ENOENT (not held, or corrupt
 * and removed).  Counts no use. */
int blob_verify(blob_cache_t *c, const blob_id_t *id);

/* Pin blob id (a reference count): a pinned blob is never evicted, so a
 * running task can rely on its path.  Marks it used.  0 or -1 with ENOENT.
 */
int blob_pin(blob_cache_t *c, const blob_id_t *id);

/* Drop one pin.  When the last pin goes and the cache is over its bound,
 * the least recently used unpinned blobs are evicted.  0, or -1 with
 * ENOENT (not held) or EINVAL (not pinned). */
int blob_unpin(blob_cache_t *c, const blob_id_t *id);

/* Remove blob id now.  0, or -1 with ENOENT or EBUSY (pinned). */
int blob_remove(blob_cache_t *c, const blob_id_t *id);

/* Fill *out with the counters. */
void blob_stats(const blob_cache_t *c, blob_stats_t *out);

/* The least recently used blob's name in *id, skipping pinned ones (what
 * the next eviction takes).  0 or -1 with ENOENT (none). */
int blob_cache_lru(const blob_cache_t *c, blob_id_t *id);

/* =================================================================== chunks */

/* A blob of size bytes travels as blob_chunk_count(size) chunks; chunk i
 * starts at offset i * BLOB_CHUNK_BYTES and holds BLOB_CHUNK_BYTES bytes,
 * except the last, which holds the rest.  An empty blob is one empty chunk,
 * so that something is always sent. */
uint64_t blob_chunk_count(uint64_t size);

/* Offset and length of chunk index of a blob of size bytes.  0 or -1 with
 * ERANGE (index past the last chunk). */
int blob_chunk_span(uint64_t size, uint64_t index, uint64_t *offset,
                    size_t *len);

/* Read chunk index of cached blob id into buf (at least BLOB_CHUNK_BYTES,
 * or the chunk's length) with pread, so a sender never holds more than one
 * chunk.  *len gets the chunk's length.  Marks no use (pin the blob while
 * sending it).  0, or -1 with ENOENT, ERANGE, or an I/O error. */
int blob_chunk_read(blob_cache_t *c, const blob_id_t *id, uint64_t index,
                    void *buf, size_t *len);

/* Reassembly of one blob from chunks arriving in any order. */
typedef struct blob_asm blob_asm_t;

/* Expect blob id of size bytes.  With a cache, chunks are written into a
 * temp file in the cache directory (memory stays one bitmap) and
 * blob_asm_commit() moves the blob into the cache; without one (c NULL)
 * they go into one buffer of size bytes, taken with blob_asm_take().
 * size is checked as hostile: NULL with EFBIG when it exceeds
 * BLOB_SIZE_MAX, the cache's max_bytes (or, without a cache, BLOB_MEM_MAX),
 * ENOMEM, or an I/O error.
 * Caller must destroy with blob_asm_destroy(). */
blob_asm_t *blob_asm_create(blob_cache_t *c, const blob_id_t *id,
                            uint64_t size);

/* Drop a partial assembly (its temp file too).  Accepts NULL; keeps errno.
 */
void blob_asm_destroy(blob_asm_t *a);

/* Add the chunk that starts at offset.  Returns 1 when every chunk has now
 * arrived, 0 when some are still missing, or -1 with EINVAL (offset not a
 * chunk boundary or len not that chunk's length: a hostile or confused
 * peer) or an I/O error.  A chunk already received is ignored (0 or 1), so
 * a retransmission is harmless; its bytes are not compared. */
int blob_asm_add(blob_asm_t *a, uint64_t offset, const void *data,
                 size_t len);

/* Whether every chunk has arrived. */
bool blob_asm_complete(const blob_asm_t *a);

/* Chunks received so far. */
uint64_t blob_asm_received(const blob_asm_t *a);

/* Read chunk index of a partial assembly into buf (at least the chunk's
 * length) so that a relay can pass it on before the rest arrives; *len
 * gets the chunk's length.  The bytes are not verified yet: the hash is
 * checked only once every chunk is here, by every node that assembles
 * them.  0, or -1 with EAGAIN (that chunk has not arrived), ERANGE (no
 * such chunk), EINVAL (spent) or an I/O error. */
int blob_asm_read_chunk(const blob_asm_t *a, uint64_t index, void *buf,
                        size_t *len);

/* For an assembly with a cache: check the hash of the file and move it into
 * the cache under its name (evicting as blob_put() does).  0, or -1 with
 * EAGAIN (chunks missing), EBADMSG (content does not match the name: the
 * partial file is dropped), EINVAL (no cache) or an I/O error.  The
 * assembly is spent afterwards either way; destroy it. */
int blob_asm_commit(blob_asm_t *a);

/* For an assembly without a cache: check the hash and hand the buffer over
 * in *data / *len (caller must free()).  0, or -1 with EAGAIN, EBADMSG or
 * EINVAL as above. */
int blob_asm_take(blob_asm_t *a, void **data, size_t *len);

/* ==================================================================== fetch */

/* Pull-through state of one relay or engine: the blobs it has asked its
 * parent for, and who waits for each.  No I/O: the owner sends BLOB_GET
 * when asked to through request_cb and feeds arriving BLOB_DATA in. */
typedef struct blob_fetch blob_fetch_t;

/* Ask the parent for blob id (send BLOB_GET).  Called once per outstanding
 * id, from blob_fetch_get() or blob_fetch_retry_all(). */
typedef void (*blob_fetch_request_cb)(const blob_id_t *id, void *arg);

/* A waiter's completion: errnum 0 means the blob is in the cache now; else
 * EBADMSG (the payload did not match its name), ENOENT (the parent does
 * not have it), ECANCELED (the fetch state was destroyed), or the errno of
 * a local failure (ENOSPC...). */
typedef void (*blob_fetch_done_cb)(const blob_id_t *id, int errnum,
                                   void *arg);

typedef struct blob_fetch_stats {
    uint64_t requests;     /* request_cb calls (BLOB_GETs sent) */
    uint64_t coalesced;    /* waiters that joined an outstanding request */
    uint64_t delivered;    /* blobs that arrived intact */
    uint64_t bad;          /* payloads whose hash was wrong */
    uint64_t unsolicited;  /* payloads or chunks nobody asked for, dropped */
    uint64_t bytes_in;     /* payload bytes received (chunks included) */
} blob_fetch_stats_t;

/* Create the state over cache c (borrowed; must outlive it).  request may
 * not be NULL.  NULL with EINVAL or ENOMEM.  Caller must destroy with
 * blob_fetch_destroy(). */
blob_fetch_t *blob_fetch_create(blob_cache_t *c, blob_fetch_request_cb request,
                                void *arg);

/* Complete every waiter with ECANCELED, then free.  Accepts NULL; keeps
 * errno. */
void blob_fetch_destroy(blob_fetch_t *f);

/* Want blob id.  Returns 1 if the cache already holds it (done is not
 * called), 0 if done will be called once, later (the first waiter for an
 * id makes one request_cb call; later ones just wait), or -1 with ENOMEM.
 * If the owner delivers synchronously from inside request_cb, done runs
 * before this returns 0. */
int blob_fetch_get(blob_fetch_t *f, const blob_id_t *id,
                   blob_fetch_done_cb done, void *arg);

/* Whether a request for id is outstanding. */
bool blob_fetch_pending(const blob_fetch_t *f, const blob_id_t *id);

/* The whole payload of id arrived.  If it hashes to id it goes into the
 * cache and every waiter completes with 0; if not, every waiter completes
 * with EBADMSG and it is counted.  0, or -1 with EBADMSG, ENOENT (no request
 * outstanding: dropped and counted as unsolicited), or the cache's error
 * (waiters complete with it). */
int blob_fetch_deliver(blob_fetch_t *f, const blob_id_t *id,
                       const void *data, size_t len);

/* One chunk of id (of size bytes in all, starting at offset) arrived.  The
 * chunks are assembled in the cache directory; when the last arrives the
 * hash is checked and the waiters complete as for blob_fetch_deliver().
 * Returns 1 when the blob is complete and intact, 0 when chunks are still
 * missing, or -1 with ENOENT (unsolicited), EBADMSG (hash wrong: waiters
 * failed), EINVAL (bad offset, length, or a size different from the first
 * chunk's: the assembly is dropped and waiters fail with EBADMSG), EFBIG,
 * or an I/O error (waiters fail with it). */
int blob_fetch_deliver_chunk(blob_fetch_t *f, const blob_id_t *id,
                             uint64_t size, uint64_t offset,
                             const void *data, size_t len);

/* Read chunk index of id's partial assembly, as blob_asm_read_chunk()
 * does; *size gets the blob's size.  0, or -1 with ENOENT (no request
 * outstanding, or no chunk of it arrived yet) or blob_asm_read_chunk()'s
 * errors. */
int blob_fetch_read_chunk(const blob_fetch_t *f, const blob_id_t *id,
                          uint64_t index, void *buf, size_t *len,
                          uint64_t *size);

/* The parent cannot provide id (it answered "not found", or it is gone and
 * the owner gives up): every waiter completes with errnum.  0 or -1 with
 * ENOENT (no request outstanding). */
int blob_fetch_fail(blob_fetch_t *f, const blob_id_t *id, int errnum);

/* The node has a new parent: drop partial assemblies and call request_cb
 * again for every outstanding id.  Returns how many were asked again. */
size_t blob_fetch_retry_all(blob_fetch_t *f);

void blob_fetch_stats(const blob_fetch_t *f, blob_fetch_stats_t *out);

#endif /* BANYAN_BLOB_H */
