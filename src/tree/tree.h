/* SPDX-License-Identifier: MIT */
/* tree.h - the tree of schedulers, sans-I/O: topology, fanout model, relay
 * scheduling state and broadcast with coalesced replies.
 *
 * Nothing here reads a clock, a socket or a file.  The caller (the server,
 * a worker acting as a relay, or bench/simulate) feeds events in and turns
 * the returned actions into messages; time is passed in as now_ms.
 *
 * - tree_topo: who hangs off whom.  The root (node 0, the server) and every
 *   node accept children while they have fewer than k ("room").  A joining
 *   node goes to the earliest node of its own host that has room if that
 *   keeps the depth within the bound below, else to the shallowest node
 *   with room anywhere, so the tree stays balanced.  Guarantees (tested
 *   exactly), with n nodes besides the root, D(n, k) the least d with
 *   k + k^2 + ... + k^d >= n (the depth of a complete k-ary tree, never
 *   above ceil(log_k n) for n >= 2) and host_slack (0 or 1, default 1) the
 *   extra level allowed to keep engines under their host's relay:
 *     * no node gains a child while it has k children or more, so a node
 *       that gains one has at most k afterwards;
 *     * each join puts the new node at depth <= D(n, k) + host_slack, with
 *       n (the new node counted) and k as they are at that join (exactly
 *       the shallowest room, so <= D(n, k), when it has no host);
 *     * hence, while k never changes and nodes only join, no node has more
 *       than k children and the depth is at most D(n, k) + host_slack.
 *   Removing a node: its first child takes its place (when the parent has
 *   room then, which it always has while k never changed) and each other
 *   child goes to the shallowest node with room, so a subtree moves deeper
 *   only when the free places at or above the removed node's depth have run
 *   out.  tree_topo_set_fanout() changes k for later joins and removals
 *   only (see there for what the bounds then say).
 * - tree_model: broadcast time ~ D(n, k) * (hop + k * per_msg); pick k.
 * - tree_relay: one node's scheduling state for its subtree (a sched_t core
 *   whose engines are the node's own engine and its direct children).
 * - tree_bcast: one node's part in broadcasts (down once per link, one
 *   coalesced reply per link up).
 *
 * docs/tree.md describes the model, the protocol between relays and the
 * guarantees.
 */
#ifndef BANYAN_TREE_H
#define BANYAN_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "res/res.h"
#include "sched/sched.h"

enum {
    TREE_ROOT = 0,                  /* node id of the root (the server) */
    TREE_NONE = UINT32_MAX,         /* no node */
    TREE_PARENT = UINT32_MAX - 1,   /* "the parent" where a child id goes */
    TREE_FANOUT_MIN = 2,
    TREE_FANOUT_MAX = 1024,
    TREE_NODE_ID_MAX = 1u << 24,    /* ids are below this (memory bound) */
};

/* The capacity of a node or of a subtree, summed. */
typedef struct tree_summary {
    uint32_t engines;        /* engines counted */
    uint64_t slots;          /* execution slots */
    uint64_t cpus_milli;
    uint64_t mem_bytes;
    uint32_t gpus;           /* whole GPUs */
} tree_summary_t;

/* Add b into a. */
void tree_summary_add(tree_summary_t *a, const tree_summary_t *b);

/* The summary of one engine's capacity. */
void tree_summary_of(const res_capacity_t *cap, tree_summary_t *out);

/* Custom resources (res_custom_t: "license=2") are counted beside a
 * tree_summary_t, by name.  A subtree reports at most RES_MAX_CUSTOM
 * names, as an engine does: the first ones met (in the order the
 * children were added, each child's in its own order); the others are
 * left out, and a task that needs one of those is never sent into that
 * subtree (docs/tree.md). */

/* Add nadd custom amounts into acc (*nacc entries used, room for
 * RES_MAX_CUSTOM): an amount goes to the entry of the same name, or to a
 * new entry at the end while there is room.  Amounts saturate.  Returns
 * how many entries of add found no room. */
int tree_custom_add(res_custom_t *acc, int *nacc, const res_custom_t *add,
                    int nadd);

/* Units of name in v (n entries), 0 if absent. */
uint64_t tree_custom_get(const res_custom_t *v, int n, const char *name);

/* The custom part of an aggregate pool for a subtree with the n custom
 * totals in sub: each amount times factor (saturating), into cap->custom
 * and cap->ncustom.  Positions keep a pool that has capacity old valid
 * (res_pool_set_capacity): old's names first, in old's order (0 units
 * for a name the subtree no longer has), then the subtree's new names
 * while there is room.  old may be NULL (a new pool).  Returns how many
 * of sub's names were left out for want of room. */
int tree_aggregate_custom(const res_custom_t *sub, int n, uint64_t factor,
                          const res_capacity_t *old, res_capacity_t *cap);

/* ================================================================ topology */

typedef struct tree_topo tree_topo_t;

/* One node moved by a removal: it now hangs off new_parent. */
typedef struct tree_move {
    uint32_t node;
    uint32_t old_parent;
    uint32_t new_parent;
} tree_move_t;

/* D(n, k): the least d with k + k^2 + ... + k^d >= n; 0 for n == 0. */
unsigned tree_depth_for(uint64_t n, unsigned k);

/* Create a topology with only the root.  fanout in [2, 1024]; host_slack
 * 0 or 1 (see above).  NULL with EINVAL or ENOMEM.  Caller must destroy
 * with tree_topo_destroy(). */
tree_topo_t *tree_topo_create(unsigned fanout, unsigned host_slack);
void tree_topo_destroy(tree_topo_t *t);

/* A node joins.  host names its machine (NULL or "" = a host of its own);
 * cap may be NULL.  On success *id is the new node's id (ids are never
 * reused) and *parent the node it must attach to (the redirect).  -1 with
 * ENOMEM. */
int tree_topo_join(tree_topo_t *t, const char *host,
                   const tree_summary_t *cap, uint32_t *id, uint32_t *parent);

/* Remove a node (lost or gone); the root cannot be removed.  Its children
 * reattach: the first takes its place under its parent, the others go to
 * the shallowest node with room (its parent first).  Each reattached child
 * is written to moves (at most max; *nmoves gets the full count).  -1 with
 * ENOENT (unknown or root) or ENOMEM (nothing changed). */
int tree_topo_remove(tree_topo_t *t, uint32_t node, tree_move_t *moves,
                     size_t max, size_t *nmoves);

/* A node that exists already comes back with its id (after a restart of
 * the root, its relay or itself re-announces it: docs/tree.md, "Restart
 * of the root").  parent names where it really hangs (an attached node),
 * or is TREE_NONE: then it is placed as a join would place it, and
 * *placed gets that parent (placed may be NULL).  The node is attached
 * with no children; its own come with their own attach.  A given parent
 * takes it even with k children or more: the topology records what is,
 * and such a parent takes no join until it is below k again.  The id must
 * be free (tree_topo_id_free); the ids joins give stay above it.  -1 with
 * EINVAL (0, TREE_NONE or not below TREE_NODE_ID_MAX), EEXIST (the id was
 * given already), ENOENT (parent unknown) or ENOMEM (nothing changed). */
int tree_topo_attach(tree_topo_t *t, uint32_t id, uint32_t parent,
                     const char *host, const tree_summary_t *cap,
                     uint32_t *placed);
/* Was this id never given (by a join or an attach) in this topology?
 * false for the root and TREE_NONE. */
bool tree_topo_id_free(const tree_topo_t *t, uint32_t id);
/* Joins give ids from limit on (when above the current id limit): the ids
 * below it that no node has are kept free for tree_topo_attach, so a
 * restarted root gives no id that its predecessor gave.  0, or -1 with
 * EINVAL (limit above TREE_NODE_ID_MAX) or ENOMEM. */
int tree_topo_reserve(tree_topo_t *t, uint32_t limit);

bool tree_topo_has(const tree_topo_t *t, uint32_t node);
/* Parent of a node, TREE_NONE for the root or an unknown node. */
uint32_t tree_topo_parent(const tree_topo_t *t, uint32_t node);
/* Children of a node into out (at most max); returns how many it has. */
size_t tree_topo_children(const tree_topo_t *t, uint32_t node,
                          uint32_t *out, size_t max);
/* Edges from the root to the node (root 0); -1 if unknown. */
int tree_topo_node_depth(const tree_topo_t *t, uint32_t node);
/* The deepest node's depth. */
unsigned tree_topo_depth(const tree_topo_t *t);
/* Nodes besides the root. */
size_t tree_topo_count(const tree_topo_t *t);
/* One past the largest id given or reserved (joins give ids from here). */
uint32_t tree_topo_id_limit(const tree_topo_t *t);
unsigned tree_topo_fanout(const tree_topo_t *t);

/* Change k for the joins and removals that follow.  Nothing moves: a node
 * that now has more than k children keeps them all and takes no more until
 * it is below k; when k grows, nodes regain room at once and later joins
 * fill the shallowest room first.  What then holds (tree.h, top):
 *   - no node gains a child while it has k or more children;
 *   - each later join lands at depth <= D(n, k) + host_slack (n, k at that
 *     join).  So, with only joins since the change, every node that joined
 *     since the change is within D(n, k) + host_slack of the current n and
 *     k.  Nodes that joined before keep their depth.  With no removal at
 *     all, so is every node that joined while k was at least its current
 *     value (D only grows as n grows and k shrinks): after a shrink to the
 *     smallest k used so far, the whole tree.  A node that joined under a
 *     smaller k may be deeper than D(n, k) + host_slack for good (until
 *     removals lift it);
 *   - tree_topo_max_children() may exceed k after a shrink, until removals
 *     bring those nodes down.
 * 0, or -1 with EINVAL (k outside [2, 1024]) or ENOMEM (nothing changed). */
int tree_topo_set_fanout(tree_topo_t *t, unsigned k);

/* The most children any node has (more than k only after a shrink). */
unsigned tree_topo_max_children(const tree_topo_t *t);
/* The node's host name ("" for none); borrowed, valid until destroy. */
const char *tree_topo_host(const tree_topo_t *t, uint32_t node);
/* The node's own capacity as given at join. */
const tree_summary_t *tree_topo_cap(const tree_topo_t *t, uint32_t node);
/* The node's relay on its host: the earliest-joined live node of the same
 * host (itself if first); TREE_NONE if unknown. */
uint32_t tree_topo_host_relay(const tree_topo_t *t, uint32_t node);

/* =================================================================== model */

/* Broadcast time in microseconds for n engines at fanout k:
 * D(n, k) * (hop_us + k * per_msg_us). */
double tree_model_bcast_us(uint64_t n, unsigned k, double hop_us,
                           double per_msg_us);

/* The k in [2, 1024] that minimises tree_model_bcast_us (the smallest such
 * k on ties, so a free per-message cost gives the flat tree k = n). */
unsigned tree_model_fanout(uint64_t n, double hop_us, double per_msg_us);

/* Prefetch depth of an engine (tasks outstanding per slot, running ones
 * included): ceil(rtt / mean task duration) + 1, within [1, max_depth].  An
 * unknown duration (0) gives max_depth. */
unsigned tree_prefetch_depth(uint64_t rtt_us, uint64_t mean_task_us,
                             unsigned max_depth);

/* =================================================================== relay */

typedef struct tree_relay tree_relay_t;

typedef struct tree_relay_config {
    bool is_root;            /* the root holds whole jobs (ranges); others
                                hold a bounded queue of single tasks */
    unsigned prefetch;       /* depth (tasks per slot) granted to relay
                                children's aggregates; >= 1 */
    uint32_t queue_max;      /* bound on this relay's queue (not root) */
    uint32_t steal_min_free; /* ask for work when this many slots are free
                                (the children's and the own engine's:
                                tree_relay_set_own_free) and the queue is
                                empty (not root) */
    int64_t steal_retry_ms;  /* wait after a denied or answered steal */
} tree_relay_config_t;

/* Defaults: not root, prefetch 2, queue_max 65536, steal_min_free 1,
 * steal_retry_ms 1000. */
void tree_relay_config_default(tree_relay_config_t *cfg);

/* Create a relay's state.  NULL with ENOMEM or EINVAL.  Caller must destroy
 * with tree_relay_destroy(). */
tree_relay_t *tree_relay_create(const tree_relay_config_t *cfg);
void tree_relay_destroy(tree_relay_t *r);

/* Add an engine child (the node's own engine too) with its real capacity:
 * tasks placed on it never exceed it.  -1 EEXIST, ENOMEM, EINVAL. */
int tree_relay_add_engine(tree_relay_t *r, uint32_t id,
                          const res_capacity_t *cap);

/* Add a relay child with its subtree's summary.  It is scheduled against an
 * aggregate pool: the summary's slots, cpus, memory and GPUs times the
 * prefetch depth (GPUs at most RES_MAX_GPUS).  Over-admission against the
 * aggregate is safe: the child queues what it cannot place and idle
 * siblings steal it (docs/tree.md).  -1 EEXIST, ENOMEM, EINVAL. */
int tree_relay_add_relay(tree_relay_t *r, uint32_t id,
                         const tree_summary_t *sum);

/* A relay child's subtree changed: its aggregate is resized in place to
 * the new summary (res_pool_set_capacity); the tasks it holds stay.  A
 * shrink that would drop GPU positions still in use keeps them until they
 * are released.  -1 ENOENT if id is not a relay child, ENOMEM. */
int tree_relay_update_relay(tree_relay_t *r, uint32_t id,
                            const tree_summary_t *sum);

/* A relay child's subtree has these custom resources (totals, n <=
 * RES_MAX_CUSTOM, distinct names): its aggregate holds them times the
 * prefetch depth, as it does slots, and tasks that need them may go
 * there.  Positions follow tree_aggregate_custom (a name once seen stays,
 * with 0 units once gone).  A relay child starts with none.  -1 ENOENT
 * (not a relay child), EINVAL (n out of range, a bad or repeated name),
 * ENOMEM; nothing changed. */
int tree_relay_set_relay_custom(tree_relay_t *r, uint32_t id,
                                const res_custom_t *custom, int n);

/* Units of custom resource name free now in a child's pool (its capacity,
 * an aggregate's times the prefetch depth, minus what the tasks placed on
 * it hold); 0 for an unknown child or name.  For an engine child this is
 * exactly what its engine has free as far as this relay knows. */
uint64_t tree_relay_child_custom_free(const tree_relay_t *r, uint32_t child,
                                      const char *name);

/* The node's own engine, when it is not one of the relay's engines (in
 * cluster mode its parent places tasks on it: docs/tree.md), has
 * free_slots free execution slots now.  They count as free in the
 * decision to STEAL (an idle own engine makes an idle relay even when the
 * children are busy) and in the STEAL's count; the caller updates it as
 * tasks start and end on the own engine.  0 (the default) when the own
 * engine is one of the relay's children or is busy. */
void tree_relay_set_own_free(tree_relay_t *r, uint32_t free_slots);

/* Relay child relay_id's own engine is engine child engine_id (a worker
 * that is also a relay is both: its engine placed exactly, its subtree as
 * an aggregate).  A task returned for a steal of relay_id while its
 * subtree runs as many tasks as it has slots then goes to that engine
 * first, where the steal's idle slots are, instead of waiting in the
 * thief's queue.  -1 ENOENT (an unknown id), EINVAL (relay_id is not a
 * relay child or engine_id not an engine child). */
int tree_relay_set_own_engine(tree_relay_t *r, uint32_t relay_id,
                              uint32_t engine_id);

/* A child is gone.  The tasks it held (running or queued in its subtree)
 * become pending here again.  -1 ENOENT. */
int tree_relay_remove_child(tree_relay_t *r, uint32_t id);

/* One task, by job and index. */
typedef struct tree_task {
    uint32_t job_id;
    uint64_t index;
} tree_task_t;

/* A child is gone and its tasks are NOT requeued (a lost relay: the
 * engines below it may still be running them; the root decides after a
 * grace period).  Every task it held (running or queued below it) is
 * forgotten here and listed in *out (*n entries; NULL when none).  Caller
 * must free *out.  -1 ENOENT, ENOMEM (nothing changed). */
int tree_relay_drop_child(tree_relay_t *r, uint32_t id, tree_task_t **out,
                          size_t *n);

/* A task held here (placed on a child, or queued here) is forgotten: its
 * accounting is released, it is not requeued and no result will come for
 * it (ORPHAN passing up, or the task moved to another branch).  -1 ENOENT
 * if it is not held here. */
int tree_relay_forget(tree_relay_t *r, uint32_t job_id, uint64_t index);

/* A child REJECTed a task (its subtree can never run it): it is released
 * from that child, the job is never offered to that child again, and the
 * task is pending here again to be placed elsewhere.  When no child can
 * take the job, the next step hands its tasks up (TREE_ACT_REJECT) or, at
 * the root, fails it (TREE_ACT_INFEASIBLE).  -1 ENOENT (the task is not
 * held by that child), ENOMEM. */
int tree_relay_rejected(tree_relay_t *r, uint32_t child, uint32_t job_id,
                        uint64_t index);

/* A task found running on a child that (re)attached here is accounted on
 * that child, in the core (sched_task_adopt), so that nothing is placed
 * over it; its result comes through tree_relay_task_done() as usual, and
 * the core's retry rule applies to it.  attempt: the run's attempt number
 * (0: the one it would have started with).  Engine child: alloc is the
 * exact allocation it reports, claimed in its pool (-1 EBUSY when it does
 * not fit: nothing is accounted; EINVAL when outside the pool), or NULL:
 * the job's request, counted even past capacity.  Relay child: alloc is
 * ignored and the job's request is counted, even past the aggregate's
 * capacity.  A task queued or parked here leaves the queue or park.  -1
 * ENOENT (unknown child or job), EEXIST (already placed on a child),
 * ENOMEM. */
int tree_relay_adopt(tree_relay_t *r, uint32_t child, uint32_t job_id,
                     uint64_t index, uint32_t attempt,
                     const res_alloc_t *alloc);

/* Learn a job (all its tasks share def->req).  Below the root the relay
 * never retries: results go up and the root decides.  -1 EEXIST, EINVAL,
 * ENOMEM. */
int tree_relay_add_job(tree_relay_t *r, const sched_job_t *def);

/* Root only: tasks [first, first + count) of a job are pending (those
 * parked here stay parked). */
int tree_relay_add_tasks(tree_relay_t *r, uint32_t job_id, uint64_t first,
                         uint64_t count);

/* Not root: the parent assigned one task to this subtree.  -1 ENOENT
 * (unknown job), EEXIST (already here), ENOSPC (queue full: hand it back),
 * ENOMEM. */
int tree_relay_assign(tree_relay_t *r, uint32_t job_id, uint64_t index);

/* A task placed from here ended (reported by the child it went to, or by
 * the own engine).  Its resources are freed.  Not root: the result is
 * queued for the next coalesced batch up.  Returns 1 if the root requeued
 * it for another attempt, 0 if done, -1 ENOENT (not running here). */
int tree_relay_task_done(tree_relay_t *r, uint32_t job_id, uint64_t index,
                         sched_outcome_t outcome);

/* A child's report: tasks queued and not started in its subtree. */
void tree_relay_child_queued(tree_relay_t *r, uint32_t child,
                             uint64_t queued);

/* A child asks for work (it is idle).  -1 ENOENT. */
int tree_relay_steal(tree_relay_t *r, uint32_t thief, uint32_t want);

/* The parent answered this relay's steal with nothing. */
void tree_relay_steal_denied(tree_relay_t *r, int64_t now_ms);

/* The parent asks for up to n queued tasks back (for a thief). */
void tree_relay_recall(tree_relay_t *r, uint32_t n);

/* A recalled child gave a queued task back.  It is parked here: still
 * charged to that child (the victim) in the core and not pending, so that
 * it is never placed straight back on the victim.  The next steps place it,
 * before the core places anything: on the thief whose steal caused the
 * recall if it fits there, else on the other child with the most free
 * slots that it fits (never the victim); failing both it waits, and after
 * steal_retry_ms (at once when no child but the victim could ever run it,
 * or the victim is gone) it is pending in the core again and may go
 * anywhere.  When the recall came from the parent, a RETURN up is queued
 * instead.  Parked tasks count as queued.  -1 ENOENT if it was not held by
 * that child, ENOMEM (nothing changed). */
int tree_relay_returned(tree_relay_t *r, uint32_t child, uint32_t job_id,
                        uint64_t index);

/* A recalled child's answer is complete (RECALL_DONE).  A thief is denied
 * (DENY at a later step) once every recall for it is done, nothing is
 * parked for it and nothing was placed on it since it asked.  -1 ENOENT. */
int tree_relay_recall_done(tree_relay_t *r, uint32_t child);

typedef enum tree_act_type {
    TREE_ACT_ASSIGN = 1,     /* send task (job, index) to child */
    TREE_ACT_RETURN = 2,     /* give task back to the parent (recall) */
    TREE_ACT_REJECT = 3,     /* task can never run in this subtree: up */
    TREE_ACT_RECALL = 4,     /* ask child for count queued tasks back */
    TREE_ACT_STEAL = 5,      /* ask the parent for count tasks */
    TREE_ACT_DENY = 6,       /* tell child its steal found nothing */
    TREE_ACT_INFEASIBLE = 7, /* root: job can never run (reason) */
    TREE_ACT_RECALL_DONE = 8,/* to the parent: a recall is answered (send
                                after this recall's RETURNs, same message) */
} tree_act_type_t;

typedef struct tree_action {
    tree_act_type_t type;
    uint32_t child;          /* ASSIGN, RECALL, DENY */
    uint32_t job_id;
    uint64_t index;          /* ASSIGN, RETURN, REJECT */
    uint32_t attempt;        /* ASSIGN at the root: the run's attempt (a
                                stolen task keeps its own) */
    uint32_t lost;           /* ASSIGN at the root: earlier runs lost
                                with their engine */
    uint64_t count;          /* RECALL, STEAL, RECALL_DONE (tasks given
                                back); INFEASIBLE: tasks dropped */
    bool exact;              /* ASSIGN: child is an engine child (the own
                                engine too): alloc is the exact allocation
                                from its real pool, to send in the ASSIGN.
                                false for a relay child (MSG_SLOT_ANY) */
    res_alloc_t alloc;       /* ASSIGN with exact: slot, GPUs, amounts */
    char reason[160];        /* INFEASIBLE */
} tree_action_t;

/* Decide: place queued tasks on children, answer steals and recalls, ask
 * for work when idle.  Writes at most max actions and returns how many;
 * call again while it returns max. */
int tree_relay_step(tree_relay_t *r, int64_t now_ms, tree_action_t *out,
                    int max);

/* One result waiting to go up. */
typedef struct tree_result {
    uint32_t job_id;
    uint64_t index;
    sched_outcome_t outcome;
} tree_result_t;

/* Take up to max results of the coalesced batch (call once per tick and
 * send them as one message up).  Returns how many. */
size_t tree_relay_take_results(tree_relay_t *r, tree_result_t *out,
                               size_t max);
size_t tree_relay_results_waiting(const tree_relay_t *r);

/* What the relay reports up with each batch. */
typedef struct tree_report {
    tree_summary_t total;    /* capacity of the subtree (own engine too) */
    uint64_t queued;         /* not started: here and reported by children */
    uint64_t inflight;       /* placed on children, not done */
    uint64_t free_slots;     /* slots free among the children's pools */
} tree_report_t;

void tree_relay_report(const tree_relay_t *r, tree_report_t *rep);

/* Tasks queued here (not root) or pending (root), not placed. */
uint64_t tree_relay_queued(const tree_relay_t *r);

/* The child a task was placed on, TREE_NONE if it is not placed here. */
uint32_t tree_relay_task_child(const tree_relay_t *r, uint32_t job_id,
                               uint64_t index);

/* Tasks placed on a child and not done; 0 for an unknown child. */
uint64_t tree_relay_child_inflight(const tree_relay_t *r, uint32_t child);

/* What the root (the server) asks of its relay besides the above: the
 * core's job and engine controls, and reads for status and explain. */

/* An engine child's weight in placement (its score).  -1 ENOENT. */
int tree_relay_set_weight(tree_relay_t *r, uint32_t child, double weight);

/* A new prefetch depth (>= 1): every relay child's aggregate is resized.
 * -1 EINVAL, ENOMEM (some aggregate kept its size). */
int tree_relay_set_prefetch(tree_relay_t *r, unsigned prefetch);

/* Drop a job's pending and parked tasks; placed ones run on and are not
 * retried.  -1 ENOENT. */
int tree_relay_cancel_job(tree_relay_t *r, uint32_t job_id);

/* Forget a job with nothing pending or placed.  -1 ENOENT, EBUSY. */
int tree_relay_remove_job(tree_relay_t *r, uint32_t job_id);

/* A job's tasks pending (parked ones included) and placed on children. */
void tree_relay_job_counts(const tree_relay_t *r, uint32_t job_id,
                           uint64_t *pending, uint64_t *running);

/* Why is this task where it is?  One sentence into buf; returns buf. */
char *tree_relay_explain(const tree_relay_t *r, uint32_t job_id,
                         uint64_t index, char *buf, size_t size);

/* A child's pool in the core (an aggregate for a relay child), to report
 * its load.  Borrowed; NULL for an unknown child. */
const res_pool_t *tree_relay_child_pool(const tree_relay_t *r,
                                        uint32_t child);

/* Could some child (one that has not rejected the job) ever run a task of
 * it?  false with why filled (may be NULL) for the last child tried. */
bool tree_relay_fits_ever(const tree_relay_t *r, uint32_t job_id,
                          banyan_error_t *why);

/* =============================================================== broadcast */

typedef struct tree_bcast tree_bcast_t;

/* What a coalesced reply carries about a subtree. */
typedef struct tree_tally {
    uint32_t ok;             /* engines that ran it and succeeded */
    uint32_t failed;         /* engines that ran it and failed */
    uint32_t missing;        /* children whose reply did not come in time */
} tree_tally_t;

typedef struct tree_bcast_stats {
    uint64_t sent;           /* messages sent (down and up) */
    uint64_t received;       /* messages received */
    uint64_t runs;           /* times the own engine ran a broadcast */
} tree_bcast_stats_t;

/* One node's broadcast state.  has_engine: the node runs broadcasts
 * itself (workers do, the root does not).  has_parent: replies go up.
 * NULL with ENOMEM.  Caller must destroy with tree_bcast_destroy(). */
tree_bcast_t *tree_bcast_create(bool has_engine, bool has_parent);
void tree_bcast_destroy(tree_bcast_t *b);

/* A broadcast arrives (from the parent, or is started at the root) and is
 * forwarded once to each child: the ids go to forward_to (room for
 * nchildren).  The caller runs it on the own engine if it has one and
 * reports with tree_bcast_local_done().  -1 EEXIST (id seen: a duplicate
 * is not forwarded or run again), ENOMEM. */
int tree_bcast_begin(tree_bcast_t *b, uint64_t bcast_id,
                     const uint32_t *children, size_t nchildren,
                     int64_t now_ms, int64_t timeout_ms,
                     uint32_t *forward_to);

int tree_bcast_local_done(tree_bcast_t *b, uint64_t bcast_id, bool ok);

/* A child's coalesced reply.  A second reply from the same child, or one
 * from a child not waited for, is counted as received and ignored.
 * -1 ENOENT (unknown broadcast or child). */
int tree_bcast_child_reply(tree_bcast_t *b, uint64_t bcast_id,
                           uint32_t child, const tree_tally_t *t);

/* A broadcast finished here: everyone answered, or the timeout passed. */
typedef struct tree_bcast_done {
    uint64_t bcast_id;
    tree_tally_t tally;      /* the subtree's total: send it up as ONE
                                reply (counted as sent if has_parent) */
} tree_bcast_done_t;

/* Collect finished broadcasts (at most max).  Returns how many. */
int tree_bcast_poll(tree_bcast_t *b, int64_t now_ms, tree_bcast_done_t *out,
                    int max);

void tree_bcast_get_stats(const tree_bcast_t *b, tree_bcast_stats_t *st);

#endif /* BANYAN_TREE_H */
