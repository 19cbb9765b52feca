/* SPDX-License-Identifier: MIT */
/* tree_relay_private.h - what the files of one relay share (tree.h has the
 * interface; docs/tree.md the protocol).
 *
 * tree_relay.c        the object: children, the task table, jobs, results,
 *                     the step and the core's placements
 * tree_relay_steal.c  work stealing: STEAL, RECALL, RETURN, the park of
 *                     returned tasks and where they go, the relay's own STEAL
 * tree_relay_pool.c   what a child can hold: aggregates of relay children
 *                     (prefetch, GPUs, custom resources), weights, reads
 *
 * Invariants (checked by assert where cheap):
 *  - every task the relay holds has one entry in the table: QUEUED (not
 *    root: also in the queue at qpos and pending in the core), CORE
 *    (running in the core on child slot `slot`) or PARKED (in the park at
 *    qpos, still running in the core on its victim, slot);
 *  - a child's inflight counts the CORE and PARKED entries on it.
 */
#ifndef BANYAN_TREE_RELAY_PRIVATE_H
#define BANYAN_TREE_RELAY_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/hmap.h"
#include "tree/tree.h"

enum {
    ENT_EMPTY = 0,
    ENT_QUEUED = 1,
    ENT_CORE = 2,
    ENT_PARKED = 3,
};

typedef struct task_ent {
    uint32_t job_id;
    uint32_t state;          /* ENT_* */
    uint64_t index;
    uint32_t slot;           /* child slot when placed (PARKED: the
                                victim's, which the core still charges) */
    uint32_t qpos;           /* position in queue (QUEUED) or park
                                (PARKED) */
    uint32_t attempt;        /* CORE, PARKED: the run's attempt number */
} task_ent_t;

typedef struct qkey {
    uint32_t job_id;
    uint64_t index;
} qkey_t;

/* A task given back by a recalled child, waiting to be placed. */
typedef struct parked {
    uint32_t job_id;
    uint64_t index;
    uint32_t victim;         /* child slot it came back from; TREE_NONE
                                once that child is gone */
    uint32_t thief;          /* child slot of the steal it answers;
                                TREE_NONE for none */
    int64_t since_ms;        /* first step that saw it; INT64_MIN before */
} parked_t;

typedef struct relay_child {
    uint32_t id;             /* TREE_NONE: free slot */
    bool is_relay;
    tree_summary_t sum;      /* capacity (relay: its subtree) */
    uint64_t cap_slots;      /* slots of its pool in the core */
    uint64_t inflight;       /* tasks placed on it, not done */
    uint64_t queued;         /* reported queued in its subtree */
    uint32_t steal_want;     /* > 0: it asked for work */
    uint32_t return_to;      /* recall in progress: thief slot,
                                TREE_PARENT, or TREE_NONE */
    uint64_t returned;       /* tasks given back for that recall */
    bool steal_open;         /* as thief: its steal is being answered */
    uint32_t recalls;        /* as thief: victims recalling for it */
    uint32_t parked;         /* as thief: tasks parked for it */
    uint64_t got;            /* tasks placed on it since steal_open */
    bool resize_pending;     /* relay: GPU positions kept until released */
    int ncustom;             /* relay: its subtree's custom resources */
    res_custom_t custom[RES_MAX_CUSTOM];
    uint32_t own_engine;     /* relay: the id of its own engine among the
                                engine children, or TREE_NONE */
} relay_child_t;

struct tree_relay {
    tree_relay_config_t cfg;
    sched_t *core;
    relay_child_t *children;
    size_t nchildren, children_cap;
    util_hmap_t *slots;      /* child id -> slot in children */
    sched_job_t *jobs;
    size_t njobs, jobs_cap;
    task_ent_t *tab;         /* open addressing, power of two */
    size_t tab_cap, tab_count;
    qkey_t *queue;
    size_t nqueue, queue_cap;
    parked_t *park;          /* PARKED tasks, in the order they came */
    size_t npark, park_cap;
    tree_result_t *results;
    size_t nresults, results_cap;
    tree_action_t *out;
    size_t out_len, out_head, out_cap;
    bool need_gen;
    uint32_t recall_want;    /* the parent asked for this many back */
    bool steal_out;          /* our STEAL is unanswered */
    int64_t steal_next_ms;   /* no STEAL before this */
    bool steal_wait;         /* idle, waiting only for steal_next_ms: the
                                step asks then, with no event needed */
    bool seen_work;
    uint32_t own_free;       /* own engine's free slots, when it is not a
                                child (tree_relay_set_own_free) */
};

sched_job_t *relay__job_find(const tree_relay_t *r, uint32_t id);
/* The slot of child id in r->children, TREE_NONE with ENOENT. */
uint32_t relay__child_slot(const tree_relay_t *r, uint32_t id);
tree_action_t *relay__out_push(tree_relay_t *r, tree_act_type_t type);
void relay__assign_fill(const tree_relay_t *r, tree_action_t *a,
                        const task_ent_t *e, const res_alloc_t *alloc);
task_ent_t *relay__tab_find(const tree_relay_t *r, uint32_t job,
                            uint64_t index);
int relay__queue_reserve(tree_relay_t *r);
int relay__child_add(tree_relay_t *r, uint32_t id, bool is_relay,
                     const tree_summary_t *sum, const res_capacity_t *cap);
void relay__child_released(tree_relay_t *r, relay_child_t *c);
void relay__ent_drop(tree_relay_t *r, task_ent_t *e);
int relay__unpark(tree_relay_t *r, task_ent_t *e);
int relay__place_on(tree_relay_t *r, task_ent_t *e, uint32_t s,
                    uint32_t attempt, const res_alloc_t *alloc);
void relay__park_take(tree_relay_t *r, task_ent_t *e);
uint64_t relay__drop_parked(tree_relay_t *r, uint32_t job_id, bool reject);
int relay__gen_recall(tree_relay_t *r);
int relay__gen_steals(tree_relay_t *r);
uint64_t relay__free_slots(const tree_relay_t *r, uint64_t *child_queued);
int relay__gen_own_steal(tree_relay_t *r, int64_t now_ms);
int relay__place_parked(tree_relay_t *r, int64_t now_ms);
int relay__child_resize(tree_relay_t *r, relay_child_t *c);

#endif /* BANYAN_TREE_RELAY_PRIVATE_H */
