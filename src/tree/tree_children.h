/* SPDX-License-Identifier: MIT */
/* tree_children.h - a node's links to its children, the same at the root
 * (the server) and at every relay (docs/tree.md, "Cluster mode").
 *
 * One record per child, from its HELLO until it says BYE or falls silent:
 * its identity, its own engine and, from its SUMMARYs, its subtree (kept
 * as sub(C) = id | TREE_SUB_BIT in the node's tree_relay_t core).  Down
 * each link: the JOB before the first ASSIGN naming it, one ASSIGN batch
 * per step, PINGs.  Up: RESULT seqs, each ACKed once the owner says it is
 * durable (the root after a commit, a relay once its parent ACKed it).
 * Sending goes through the owner's function; the rest of what a child
 * says is the owner's.  Records are kept by ascending id.
 */
#ifndef BANYAN_TREE_CHILDREN_H
#define BANYAN_TREE_CHILDREN_H

#include "msg/msg.h"
#include "tree/tree.h"
#include "util/hmap.h"

#define TREE_SUB_BIT 0x80000000u /* sub(C)'s id: C | this bit */

typedef struct tree_children tree_children_t;

typedef struct tree_child {
    uint32_t id;                /* its node (engine) id */
    msg_peer_t peer;            /* its link's routing id */
    char *worker_id, *name, *host, *relay; /* its HELLO's, owned (NULL: not
                                              said; name: the worker id) */
    char key[41];               /* the key its link authenticated with */
    res_capacity_t cap;         /* its own engine, from its HELLO */
    int64_t last_heard_ms;
    bool has_sub;               /* sub(C) is a child of the core */
    tree_summary_t sub;         /* below it, from its last SUMMARY: */
    uint32_t sub_ncustom;
    msg_custom_count_t sub_custom[RES_MAX_CUSTOM];
    uint64_t queued, free_slots;
    msg_node_stats_t *stats;    /* owned */
    uint32_t nstats;
    uint64_t recv_seq;          /* highest RESULT seq taken from it */
    uint64_t ack_sent;          /* highest seq ACKed to it */
    void *own;                  /* the owner's own_size bytes, zeroed */
    util_hmap_t *jobs;          /* JOB ids sent down, or NULL */
    msg_assign_entry_t *out;    /* this step's ASSIGN */
    size_t nout, out_cap;
} tree_child_t;

/* Sends m to `to`: 0 or -1 with errno. */
typedef int (*tree_send_cb)(void *arg, const msg_peer_t *to, const msg_t *m);
/* ASSIGN entries that never reached child c (their send failed). */
typedef void (*tree_unsent_cb)(void *arg, tree_child_t *c,
                               const msg_assign_entry_t *v, size_t n);

/* Records carry own_size bytes for the owner (nothing it must free).
 * NULL with ENOMEM.  Caller must destroy with tree_children_destroy(). */
tree_children_t *tree_children_create(tree_send_cb send, void *arg,
                                      size_t own_size);
void tree_children_destroy(tree_children_t *t);

/* Lookups: NULL when none (past the last for _at, by ascending id).
 * Returned pointers are borrowed; valid until the child is removed. */
size_t tree_children_count(const tree_children_t *t);
tree_child_t *tree_children_at(const tree_children_t *t, size_t i);
tree_child_t *tree_children_find(const tree_children_t *t, uint32_t id);
tree_child_t *tree_children_by_peer(const tree_children_t *t,
                                    const msg_peer_t *p);
tree_child_t *tree_children_by_worker(const tree_children_t *t,
                                      const char *worker_id);
/* The first child silent for more than limit_ms. */
tree_child_t *tree_children_silent(const tree_children_t *t, int64_t now_ms,
                                   int64_t limit_ms);
/* The owner's loop was stalled for stall_ms (a long pass, the process
 * paused): its children's messages may have waited in the socket, so that
 * time is not their silence. */
void tree_children_excuse(tree_children_t *t, int64_t stall_ms,
                          int64_t now_ms);

/* Child `id` from its HELLO h on link `from`.  NULL with EEXIST, ENOMEM. */
tree_child_t *tree_children_add(tree_children_t *t, uint32_t id,
                                const msg_peer_t *from, const msg_hello_t *h);
/* Its HELLO again: follow its routing id, take its identity again.  Only
 * from a link with the key c's did (tree_child_same_key): a HELLO with
 * c's worker id from another key is a forgery. */
bool tree_child_same_key(const tree_child_t *c, const msg_peer_t *from);
void tree_child_hello(tree_child_t *c, const msg_peer_t *from,
                      const msg_hello_t *h);
void tree_children_remove(tree_children_t *t, tree_child_t *c);

int tree_child_send(tree_children_t *t, tree_child_t *c, const msg_t *m);
void tree_child_welcome(tree_children_t *t, tree_child_t *c, uint64_t epoch,
                        uint32_t heartbeat_ms);
void tree_children_ping(tree_children_t *t);
/* Sends job (a MSG_JOB) down c's link unless it went already.  0 or -1;
 * tree_child_forget_jobs(): c may have dropped them (a new process). */
int tree_child_job(tree_children_t *t, tree_child_t *c, const msg_t *job);
void tree_child_forget_jobs(tree_child_t *c);
/* An entry for c's next ASSIGN.  0 or -1 with ENOMEM. */
int tree_child_assign(tree_child_t *c, const msg_assign_entry_t *e);
/* Sends each child its ASSIGN (split beyond MSG_MAX_BATCH); entries not
 * sent go to unsent (may be NULL).  Returns the entries sent. */
size_t tree_children_flush(tree_children_t *t, tree_unsent_cb unsent,
                           void *arg);

/* RESULT seq from c: true when new (taken).  A batch already ACKed is
 * ACKed again (the child missed it). */
bool tree_child_result(tree_children_t *t, tree_child_t *c, uint64_t seq);
/* Results up to seq are durable: ACK them (once). */
void tree_child_ack(tree_children_t *t, tree_child_t *c, uint64_t seq);

enum {
    TREE_CHILD_CHANGED = 1,     /* the SUMMARY differs from the last one */
    TREE_CHILD_RESIZED = 2,     /* ... in what sub(C) holds */
};
/* Takes SUMMARY m into c and sub(C) into core: added once it has engines,
 * resized, removed once it has neither engines nor tasks.  Returns
 * TREE_CHILD_* flags.  tree_child_sub_ensure(): sub(C) is in core now
 * (adopted tasks need it); 0 or -1 with errno. */
int tree_child_summary(tree_child_t *c, const msg_summary_t *m,
                       tree_relay_t *core);
int tree_child_sub_ensure(tree_child_t *c, tree_relay_t *core);

#endif /* BANYAN_TREE_CHILDREN_H */
