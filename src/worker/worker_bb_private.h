/* SPDX-License-Identifier: MIT */
/* worker_bb_private.h - the state shared by worker_bcast.c (broadcasts, the
 * unit's life cycle) and worker_blob.c (cache, pull-through, serving). */
#ifndef BANYAN_WORKER_BB_PRIVATE_H
#define BANYAN_WORKER_BB_PRIVATE_H

#include "blob/blob.h"
#include "exec/exec.h"
#include "tree/tree.h"
#include "worker/worker_bb.h"

/* One broadcast this node takes part in, until its reply went up. */
typedef struct bb_bcast {
    uint64_t id;
    bool want_output;
    uint32_t nwords;             /* the command, kept until it is spawned */
    char **words;
    bool has_blob;
    blob_id_t blob;
    int64_t deadline_ms;         /* the reply goes up by then */
    int64_t cmd_deadline_ms;     /* the command is stopped by then */
    /* the own engine's entry */
    bool local_done;
    int32_t exit_code;
    uint8_t *out;
    uint32_t out_len;
    /* direct children waited for, and whether each answered */
    uint32_t *children;
    bool *replied;
    size_t nchildren;
    /* entries from the children's replies (want_output), outputs owned */
    msg_breply_entry_t *entries;
    size_t nentries, entries_cap;
    uint64_t entries_bytes;
    struct bb_bcast *next;
} bb_bcast_t;

/* The own run of one broadcast: the argument of its blob wait and of its
 * process.  It names the broadcast by id, because the broadcast may have
 * ended (deadline) before the run does. */
typedef struct bb_run {
    struct worker_bb *bb;
    uint64_t id;
    bool pinned;                 /* blob pinned while the command runs */
    blob_id_t blob;
    struct bb_run *next;
} bb_run_t;

/* One fetch up: which chunks were asked for. */
typedef struct bb_up {
    blob_id_t id;
    bool known;                  /* total learned from the first chunk */
    uint64_t nchunks;
    uint64_t next;               /* next chunk index to ask for */
    uint32_t inflight;
} bb_up_t;

/* A child's BLOB_GET waiting for its chunk to arrive.  It stays a waiter
 * of the whole fetch after it was answered (streamed), until the fetch
 * completes. */
typedef struct bb_serve {
    struct worker_bb *bb;
    blob_id_t id;
    uint32_t child;              /* TREE_NONE once the child is lost */
    uint64_t offset;
    bool answered;               /* the chunk went down as it arrived */
    struct bb_serve *prev, *next;
} bb_serve_t;

/* A need_blob caller. */
typedef struct bb_need {
    struct worker_bb *bb;
    blob_id_t id;
    worker_bb_blob_cb cb;
    void *arg;
    struct bb_need *next;
} bb_need_t;

struct worker_bb {
    uv_loop_t *loop;
    worker_bb_ops_t ops;
    void *arg;
    bool noop;
    int64_t kill_grace_ms;
    bool destroying;
    worker_bb_stats_t st;
    /* broadcasts */
    tree_bcast_t *tb;
    exec_t *ex;
    bb_bcast_t *bcasts;
    bb_run_t *runs;
    uint32_t *kids, *fwd;        /* scratch for tree_bcast_begin */
    size_t kids_cap;
    /* blobs */
    blob_cache_t *cache;
    blob_fetch_t *fetch;
    bb_up_t *ups;
    size_t nups, ups_cap;
    bb_serve_t *serves;
    bb_need_t *ready_head, *ready_tail;  /* cached: completed next turn */
    uv_timer_t defer;
    bool defer_init;
    uint8_t *chunk;              /* one chunk, for serving */
};

/* worker_blob.c: open the cache and the fetch state (0, or -1 with errno
 * and a sentence), and tear them down (waiters get ECANCELED). */
int worker_bb__blob_open(struct worker_bb *b, const char *dir,
                         uint64_t max_bytes, banyan_error_t *err);
void worker_bb__blob_close(struct worker_bb *b);

/* worker_blob.c: the child's pending BLOB_GETs are dropped. */
void worker_bb__blob_child_lost(struct worker_bb *b, uint32_t child);

#endif /* BANYAN_WORKER_BB_PRIVATE_H */
