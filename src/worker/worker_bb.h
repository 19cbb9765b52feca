/* SPDX-License-Identifier: MIT */
/* worker_bb.h - a worker's part in broadcasts and blobs (docs/tree.md,
 * "Broadcast" and "Blobs"), as a unit that the worker's relay code drives.
 *
 * The unit does no socket I/O: it hands msg_t structs to the ops (send_up,
 * send_child), which encode them at once (the msg_t and everything it
 * points to are borrowed for the call only).  It learns the direct
 * children from ops->children when a broadcast arrives.
 *
 * Broadcast.  A BCAST from the parent is forwarded once to each direct
 * child, with a shorter timeout (timeout * 0.9 - 20 ms, at least 50 ms) so
 * that replies meet the deadline level by level, and run on the own engine:
 * no words: acknowledged at once; words: spawned as argv (no shell; own
 * process group; stdout and stderr tails, 4 KiB in all, captured; SIGTERM
 * at the children's timeout, SIGKILL soon after), with BANYAN_BLOB_0 = the
 * cached file's path when the BCAST names a blob (fetched first; a blob
 * that cannot be had counts as a failure with exit code -1).  A BCAST with
 * a blob and no words just fetches the blob (pre-staging caches).  A noop
 * worker never spawns: it acknowledges a command at once, after fetching a
 * named blob (real work on the tree's links, worth measuring).
 * When every child replied and the own run ended, or at the deadline, ONE
 * BREPLY goes up: the summed tally (a child that did not answer, or was
 * lost, counts one missing) and, with want_output, every entry: the own
 * engine's (node = self_node; exit -1 if it did not end in time) and the
 * children's.  A duplicate BCAST id is ignored.  Deadlines are checked by
 * worker_bb_tick() (call it every tick) with util_mono_ms() time.
 *
 * Blobs.  An on-disk LRU cache (cfg->cache_dir, created 0700, bounded to
 * cache_max_bytes) and pull-through fetch from the parent:
 *   - BLOB_GET (hash, offset, len) asks for the chunk of the blob that
 *     starts at offset (a multiple of MSG_BLOB_CHUNK; len is advisory, the
 *     answer is always that whole chunk).  The answer is BLOB_DATA (hash,
 *     offset, total size, the chunk) or BLOB_NONE (hash) when the blob
 *     cannot be had (or the offset is not a chunk of it).
 *   - A fetch up asks for chunk 0 first (the size is not known yet), then
 *     for the other chunks, 4 in flight.  The chunks are assembled in the
 *     cache directory and the hash checked before anything is trusted.
 *   - One fetch up per blob however many children and local callers want
 *     it (coalesced); a child's BLOB_GET for a blob not cached waits for
 *     the whole blob (verified) and is then answered from the cache.
 *   - BLOB_NONE from the parent fails every local waiter with ENOENT and
 *     answers every waiting child with BLOB_NONE.
 *   - A fetch has no timeout of its own: a new parent
 *     (worker_bb_parent_changed) asks again for every outstanding blob.
 * Pins: a broadcast pins its blob while its command runs.  A blob given
 * by worker_bb_need_blob() is NOT pinned: it stays in the cache unless the
 * LRU evicts it to make room for another blob; a caller that needs the
 * path to stay valid for a while (a running task) pins it with
 * worker_bb_blob_pin() and unpins it afterwards.
 */
#ifndef BANYAN_WORKER_BB_H
#define BANYAN_WORKER_BB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <banyan/error.h>

#include "msg/msg.h"

enum {
    WORKER_BB_TAIL_BYTES = 4096,      /* own output tail in a BREPLY entry */
    WORKER_BB_CHUNKS_IN_FLIGHT = 4,   /* BLOB_GETs outstanding per fetch */
    WORKER_BB_MIN_TIMEOUT_MS = 50,    /* floor of a forwarded timeout */
};

typedef struct worker_bb worker_bb_t;

/* How the unit talks to the world.  send_up / send_child return 0, or -1
 * when the message could not be queued (no parent now, child gone): a
 * broadcast reply is then lost (the parent counts this node missing) and a
 * blob request is asked again by worker_bb_parent_changed(). */
typedef struct worker_bb_ops {
    int (*send_up)(void *arg, const msg_t *m);                     /* to my parent */
    int (*send_child)(void *arg, uint32_t node, const msg_t *m);   /* to a direct child */
    size_t (*children)(void *arg, uint32_t *out, size_t max);      /* my direct children now;
                                                                      returns how many (may
                                                                      exceed max) */
    uint32_t (*self_node)(void *arg);
} worker_bb_ops_t;

typedef struct worker_bb_config {
    const char *cache_dir;      /* required; created 0700 */
    uint64_t cache_max_bytes;   /* 0 = no bound */
    bool noop;                  /* acknowledge broadcasts without running */
    int64_t kill_grace_ms;      /* SIGTERM -> SIGKILL of a broadcast
                                   command; <= 0: 500 ms; never beyond the
                                   node's own deadline */
} worker_bb_config_t;

/* Create the unit on loop: opens the cache (an flock on it: one process
 * per directory) and an executor for broadcast commands.  NULL with errno
 * and a sentence in err (EINVAL: no cache_dir or a missing op; the cache's
 * errors; ENOMEM).  Destroy with worker_bb_destroy(). */
worker_bb_t *worker_bb_create(uv_loop_t *loop, const worker_bb_config_t *cfg,
                              const worker_bb_ops_t *ops, void *arg,
                              banyan_error_t *err);

/* Kill a running broadcast command (no reply is sent), complete every
 * need_blob caller that still waits with ECANCELED, close the cache.  Run
 * the loop once more afterwards (uv_run(loop, UV_RUN_DEFAULT)) to finish
 * closing the handles.  Accepts NULL. */
void worker_bb_destroy(worker_bb_t *b);

/* Messages.  The message is borrowed for the call. */
void worker_bb_on_bcast(worker_bb_t *b, const msg_bcast_t *m);          /* from parent */
void worker_bb_on_breply(worker_bb_t *b, uint32_t child, const msg_breply_t *m);
void worker_bb_on_blob_get(worker_bb_t *b, uint32_t child, const msg_blob_get_t *m);
void worker_bb_on_blob_data(worker_bb_t *b, const msg_blob_data_t *m);  /* from parent */
void worker_bb_on_blob_none(worker_bb_t *b, const msg_blob_none_t *m);  /* from parent */

/* A direct child is gone: it counts missing at once in every broadcast
 * waiting for it, and its pending BLOB_GETs are dropped. */
void worker_bb_child_lost(worker_bb_t *b, uint32_t child);

/* The node is attached to a new parent: partial blob transfers are dropped
 * and every outstanding blob is asked for again. */
void worker_bb_parent_changed(worker_bb_t *b);

/* Completion of worker_bb_need_blob(): errnum 0 and the cached file's path
 * (borrowed for the call), or an errno and NULL: ENOENT (nobody above has
 * it), EBADMSG (the bytes did not match the name), ECANCELED (the unit is
 * being destroyed), or a local error (ENOSPC, EFBIG: larger than the cache
 * bound...). */
typedef void (*worker_bb_blob_cb)(void *arg, int errnum, const char *path);

/* Want blob hash in the cache.  0: cb will be called exactly once, never
 * from inside this call (a cached blob is completed on the next loop
 * iteration), so the caller may hold state across it.  -1 with ENOMEM
 * (cb is not called). */
int worker_bb_need_blob(worker_bb_t *b, const uint8_t hash[32],
                        worker_bb_blob_cb cb, void *arg);

/* Pin / unpin a cached blob (a reference count) so that its path stays
 * valid while a task uses it.  0, or -1 with ENOENT (not cached) / EINVAL
 * (unpin of a blob not pinned). */
int worker_bb_blob_pin(worker_bb_t *b, const uint8_t hash[32]);
int worker_bb_blob_unpin(worker_bb_t *b, const uint8_t hash[32]);

/* Send the replies of broadcasts whose deadline passed.  now_ms is
 * util_mono_ms() time. */
void worker_bb_tick(worker_bb_t *b, int64_t now_ms);

typedef struct worker_bb_stats {
    uint64_t bcasts;             /* BCASTs taken (duplicates not counted) */
    uint64_t bcast_runs;         /* commands spawned for them */
    uint64_t blob_bytes_in;      /* BLOB_DATA payload bytes from the parent */
    uint64_t blob_bytes_served;  /* BLOB_DATA payload bytes to children */
    uint64_t blob_requests_up;   /* BLOB_GETs sent up (one per chunk) */
    uint64_t blob_hits;          /* BLOB_GETs and need_blob calls the cache
                                    answered without a fetch */
    uint64_t blob_chunks_streamed; /* chunks passed to children before
                                      the whole blob was here */
} worker_bb_stats_t;

void worker_bb_stats(const worker_bb_t *b, worker_bb_stats_t *st);

#endif /* BANYAN_WORKER_BB_H */
