/* SPDX-License-Identifier: MIT */
/* worker_private.h - shared inside src/worker only: the job cache and the
 * expansion of one task into argv and environment. */
#ifndef BANYAN_WORKER_PRIVATE_H
#define BANYAN_WORKER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

#include "engine/engine.h"
#include "gpu/gpu.h"
#include "msg/msg.h"
#include "tmpl/tmpl.h"
#include "util/hmap.h"
#include "worker.h"

/* A cached job definition.  A definition the worker cannot use (bad
 * template, arity mismatch) is still cached, with tmpl == NULL and the
 * reason in error: its tasks are reported as failed starts. */
typedef struct worker__job {
    uint32_t id;
    const msg_job_t *def;     /* the definition (borrowed) */
    msg_t *msg;               /* the decoded JOB that holds def, or NULL;
                                 set by the caller, freed with the job */
    tmpl_t *tmpl;             /* NULL when refused */
    tmpl_inputs_t *inputs;    /* NULL for an array or a job without input */
    size_t arity;             /* values per task: sources, 1 (array), 0 */
    uint64_t ntasks;          /* tasks the definition describes */
    bool array;               /* {} = def->array_first + index */
    const char **env;         /* def's "K=V" entries, NULL-ended */
    size_t nenv;
    const char *cwd;          /* NULL = the worker's */
    int64_t timeout_ms;
    uint32_t slots;           /* each task's execution slots (>= 1) */
    char group[EST_GROUP_MAX]; /* estimate group: engine_group_name() of
                                  the command */
    /* The tasks wait until def->blobs are fetched through the parent. */
    uint32_t nblobs;          /* def->nblobs */
    char **blob_env;          /* "BANYAN_BLOB_<i>=<path>", once fetched */
    uint32_t blobs_pending;   /* fetches not yet answered */
    bool blobs_ready;         /* all fetched: the tasks start at once */
    char *stdin_path;         /* blob 0 with MSG_JOB_STDIN_BLOB */
    char *blob_error;         /* why the last fetch failed */
    void *waiting;            /* worker.c's tasks waiting for the blobs */
    char error[sizeof(banyan_error_t) + 32]; /* why refused; "" if usable */
} worker__job_t;

/* Build a job from its definition m, which is borrowed: it must outlive
 * the job (set j->msg to the message that holds it).  NULL only with
 * ENOMEM; an unusable definition gives a job with error set. */
worker__job_t *worker__job_create(const msg_job_t *m);
void worker__job_destroy(worker__job_t *j);

/* Free the fetched blobs' paths and the failure, so that the next task
 * asks for the blobs again. */
void worker__job_blobs_forget(worker__job_t *j);

/* Jobs by id.  NULL with ENOMEM.  Caller must destroy with
 * worker__jobs_destroy(), which destroys the jobs. */
typedef struct worker__jobs worker__jobs_t;
worker__jobs_t *worker__jobs_create(void);
void worker__jobs_destroy(worker__jobs_t *t);

/* Add j (the table takes ownership, also on failure).  0, or -1 with
 * EEXIST (j destroyed: definitions never change) or ENOMEM. */
int worker__jobs_add(worker__jobs_t *t, worker__job_t *j);
/* The job, or NULL.  Returned pointer is borrowed; valid until
 * worker__jobs_destroy(). */
worker__job_t *worker__jobs_find(const worker__jobs_t *t, uint32_t id);
size_t worker__jobs_count(const worker__jobs_t *t);
/* Every job once: start with *it = UTIL_HMAP_ITER_INIT; NULL at the end. */
worker__job_t *worker__jobs_next(const worker__jobs_t *t,
                                 util_hmap_iter_t *it);

/* One task ready to spawn. */
typedef struct worker__launch {
    char **argv;                        /* one block from tmpl_expand */
    char *line;                         /* the command line, for messages */
    engine_env_in_t env;                /* what engine_start builds the
                                           environment from */
    int gpu_index[GPU_MAX];             /* env.gpu_index points here */
} worker__launch_t;

/* Map an ASSIGN gpu_mask (positions in the worker's gpus[]) to device
 * indices in out[] (room for GPU_MAX).  Returns the count, or -1 with
 * ERANGE when the mask names a position >= ngpus. */
int worker__gpu_mask_indices(const gpu_info_t *gpus, int ngpus, uint64_t mask,
                             int *out);

/* Expand task index of j for slot, with the given GPU device indices
 * (has_gpus: the worker offers GPUs, so the task gets the GPU variables
 * even when it has none), and say what its environment is made of (for
 * engine_start): the job's entries, the task, worker_name (BANYAN_WORKER,
 * or NULL) and extra (more entries that win, e.g. BANYAN_BLOB_<i>;
 * NULL-ended).  j, worker_name and extra are borrowed: they must outlive
 * l.  0, or -1 with errno (EINVAL refused job, ERANGE index beyond the
 * job, ENOMEM) and a sentence; l is then empty.  Release with
 * worker__launch_fini(). */
int worker__launch_prepare(const worker__job_t *j, uint64_t index,
                           uint32_t slot, const int *gpu_idx, int ngpu_idx,
                           bool has_gpus, const char *worker_name,
                           const char *const *extra, worker__launch_t *l,
                           banyan_error_t *error);
void worker__launch_fini(worker__launch_t *l);


/* ------------------------------------------------------------- relay */

/* The relay role of a worker (worker_relay.c): a ROUTER for children, a
 * tree_relay_t placing the ANY entries of the parent's ASSIGNs on them,
 * the children's heartbeats and losses, SUMMARY / NODES / ORPHAN up and
 * the steal protocol (docs/tree.md, "Cluster mode: how the tree is
 * wired").  The worker owns the link to the parent and the RESULT batches:
 * the relay hands each child result to ops->child_result and is told by
 * worker__relay_acked() when the parent acknowledged it, so that it ACKs
 * the child only then (the durability chain). */
typedef struct worker__relay worker__relay_t;

enum {
    WORKER__NO_CHILD = 0,       /* child_result of no child (KILL of a
                                   task queued here) */
};

typedef struct worker__relay_ops {
    /* To the parent; -1 when it cannot be sent now. */
    int (*send_up)(void *arg, const msg_t *m);
    /* A result for my next RESULT batch up (copied).  child: the node it
     * came from (WORKER__NO_CHILD: made here); last: e ends that child's
     * batch seq, which may be ACKed once the parent ACKs mine. */
    void (*child_result)(void *arg, uint32_t child, uint64_t seq, bool last,
                         const msg_result_entry_t *e);
    /* BREPLY and BLOB_GET from a child (m borrowed). */
    void (*child_msg)(void *arg, uint32_t child, const msg_t *m);
    /* A direct child is gone (lost or BYE). */
    void (*child_lost)(void *arg, uint32_t child);
    /* Counters of the socket to the parent (zeros when none). */
    void (*up_stats)(void *arg, msg_sock_stats_t *st);
} worker__relay_ops_t;

/* Bind the children's ROUTER at endpoint.  jobs (the worker's, borrowed:
 * it must outlive the relay) give the JOB messages sent down.  NULL with
 * errno and a sentence.  Destroy with worker__relay_destroy() (run the
 * loop once more to finish closing the socket). */
worker__relay_t *worker__relay_create(uv_loop_t *loop, const char *endpoint,
                                      const worker__jobs_t *jobs,
                                      const worker__relay_ops_t *ops,
                                      void *arg, banyan_error_t *error);
void worker__relay_destroy(worker__relay_t *r);
/* The endpoint children connect to (for HELLO.relay).  Borrowed. */
const char *worker__relay_endpoint(const worker__relay_t *r);

/* Who this node is now: its id, its parent's id, the root's epoch and the
 * heartbeat period (from the parent's WELCOME). */
void worker__relay_set_identity(worker__relay_t *r, uint32_t node,
                                uint32_t parent, uint64_t epoch,
                                uint32_t heartbeat_ms);
/* A new link to a parent is up (WELCOME): the next tick sends SUMMARY. */
void worker__relay_parent_changed(worker__relay_t *r);

/* From the parent.  on_job: a job new to the worker's table. */
void worker__relay_on_job(worker__relay_t *r, const msg_job_t *m);
void worker__relay_on_any(worker__relay_t *r, const msg_assign_entry_t *e);
void worker__relay_on_recall(worker__relay_t *r, uint32_t n);
void worker__relay_on_deny(worker__relay_t *r);

/* The worker's own engine has free_slots execution slots free (not held
 * by a task its parent placed on it).  They count in the relay's decision
 * to STEAL (tree_relay_set_own_free): a relay whose own engine idles asks
 * for work even while its children are busy. */
void worker__relay_set_own_free(worker__relay_t *r, uint32_t free_slots);
/* KILL: forwarded to the children that hold the job's tasks; tasks queued
 * here are reported interrupted (ops->child_result). */
void worker__relay_on_kill(worker__relay_t *r, const msg_kill_t *m);
/* The parent acknowledged the batch that carried the end of child's batch
 * seq. */
void worker__relay_acked(worker__relay_t *r, uint32_t child, uint64_t seq);

/* Stopping: tasks queued here go back up (RETURN), children get BYE (they
 * go back to the root with what they run). */
void worker__relay_stop(worker__relay_t *r);

/* Place, answer steals and send what that gives: once per loop iteration. */
void worker__relay_step(worker__relay_t *r, int64_t now_ms);
/* Heartbeats, losses and SUMMARY: every tick. */
void worker__relay_tick(worker__relay_t *r, int64_t now_ms);

/* Tasks the subtree holds (queued here or placed on children), with their
 * attempts, into out (at most max); returns how many there are. */
size_t worker__relay_held(const worker__relay_t *r, msg_task_ref_t *out,
                          size_t max);
/* Direct children now (node ids into out, at most max); returns the count. */
size_t worker__relay_children(const worker__relay_t *r, uint32_t *out,
                              size_t max);
/* Whether the relay needs its tick soon: events, orphans or a changed
 * summary wait to go up. */
bool worker__relay_active(const worker__relay_t *r);
/* Send m to direct child node.  0, or -1 (ENOENT: no such child). */
int worker__relay_send_child(worker__relay_t *r, uint32_t node,
                             const msg_t *m);

/* Fill the relay's part of st: children, relay_*, child_results,
 * children_lost, orphans_sent, down_*. */
void worker__relay_stats(const worker__relay_t *r, worker_stats_t *st);

#endif /* BANYAN_WORKER_PRIVATE_H */
