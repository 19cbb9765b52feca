/* SPDX-License-Identifier: MIT */
/* server_private.h - what the files of the server module share.
 *
 * server.c        loop handles, the inbox, the pump, heartbeats, engines
 * server_jobs.c   job definitions (spec JSON), submit, reload, rebuild of
 *                 pending ranges, cancel, the end of a job
 * server_tasks.c  the in-flight table, ASSIGN batches, RESULT handling,
 *                 adoption after a restart, per-job logs
 * server_query.c  status / results / log / explain answers
 * server_tree.c   the tree: topology, joins and redirects, subtrees as
 *                 relay children (SUMMARY), losses, STEAL, RETURN and
 *                 REJECT handed to the relay, the fanout model
 *                 (docs/tree.md, "Cluster mode")
 * server_bcast.c  broadcasts over the direct children, blob uploads
 *                 (BLOB_PUT) and downloads (BLOB_GET)
 *
 * Placement is a tree_relay_t in root mode (s->place): the same code every
 * relay below runs, and bench/simulate drives.  Its core's engines are the
 * direct children: child C with its real capacity, and, once C's SUMMARY
 * reports engines below it, C's subtree as relay child SRV_SUB | C (an
 * aggregate pool).  Stealing, recalls, parking and rejects are the
 * relay's; the server turns its actions into messages.
 *
 * Invariants:
 *  - every task the server believes is running is in the in-flight table
 *    (srv_inflight), keyed by (job, index), with the child and attempt it
 *    was started with.  Entries are made for ASSIGN actions and for tasks
 *    a worker's HELLO reports running (adopted by the relay's core, so the
 *    core's retry rule ends them all).  A task returned for a steal leaves
 *    the table: it is parked in the relay until it is placed again.
 *  - a task row in the store means the task has ended for good (ok, failed
 *    on its last attempt, interrupted, lost too often).  Failed attempts
 *    that are retried write no row.  So "pending" for a job is always
 *    [0, ntasks) minus rows minus the in-flight table (and minus the tasks
 *    parked in the relay, which tree_relay_add_tasks leaves parked); that
 *    is how pending ranges are rebuilt after a restart or for a job parked
 *    because no engine could fit it.
 *  - messages are only queued by the socket callback and handled by the
 *    pump, so no handler ever runs inside another one.
 *  - tree: a worker with a relay endpoint is a node of the topology and
 *    its engine id is its node id.  An in-flight entry on C
 *    or SRV_SUB | C belongs to C's branch: results, RETURNs, REJECTs and
 *    ORPHANs for it are accepted from C only (an orphaned entry from any
 *    branch: it ran somewhere below a lost relay).  The engine ids of flat
 *    workers (no relay) are reserved in the topology too, so that the two
 *    never collide.
 *  - an orphaned entry is released from the relay (tree_relay_forget), is
 *    not pending, and is counted in j->orphans (entries not in the relay)
 *    until a HELLO adopts it or its deadline requeues it.
 */
#ifndef BANYAN_SERVER_PRIVATE_H
#define BANYAN_SERVER_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "blob/blob.h"
#include "msg/msg.h"
#include "res/res.h"
#include "sched/sched.h"
#include "server/server.h"
#include "store/store.h"
#include "tree/tree.h"
#include "tree/tree_children.h"
#include "util/hmap.h"
#include "util/util.h"

enum {
    SRV_PING_LOST = 5,          /* periods of silence before loss */
    SRV_WAITERS_MAX = 10000,    /* WAITs held per job (one a connection) */
    SRV_GRACE_PERIODS = 15,     /* default grace: 3 heartbeat timeouts */
    SRV_TAIL_MAX = 4096,
    SRV_PREFETCH_DEFAULT = 2,   /* aggregate depth until measured */
    SRV_PREFETCH_MAX = 8,
    SRV_RTT_SAMPLES = 64,       /* PING round trips kept for the median */
    SRV_BLOB_PUT_IDLE_MS = 60000, /* partial uploads dropped after this */
};

/* The relay's child id of direct child C's subtree: SRV_SUB | C. */
#define SRV_SUB TREE_SUB_BIT
#define SRV_BASE(id) ((id) & ~SRV_SUB)
/* Largest blob a client may upload. */
#define SRV_BLOB_MAX ((uint64_t)4 << 30)

typedef enum srv_job_state {
    SRV_JOB_QUEUED,
    SRV_JOB_RUNNING,
    SRV_JOB_DONE,
    SRV_JOB_FAILED,
    SRV_JOB_CANCELLED,
} srv_job_state_t;

/* A client waiting for a job's end. */
typedef struct srv_waiter {
    msg_peer_t peer;
    uint64_t request;
} srv_waiter_t;

typedef struct srv_job {
    uint32_t id;                /* = runs.id */
    json_t *spec;               /* the definition as stored (owned) */
    msg_job_t def;              /* msg_job_from_json(spec) */
    char *command;              /* util_command_text() of the words, owned */
    uint64_t ntasks;
    uint64_t ok, failed;        /* ended for good */
    uint64_t orphans;           /* in-flight entries not in the relay */
    srv_job_state_t state;
    bool ended;                 /* state is final and stored */
    bool cancelled;
    bool parked;                /* pending tasks not in the core (no
                                   engine fits, or waiting for the grace
                                   period): rebuilt later */
    bool reloaded;              /* from the store at start: its pending
                                   ranges wait for the grace period */
    double created;
    srv_waiter_t *waiters;
    size_t nwaiters;
    FILE *log;                  /* <db>.logs/<id>.log, opened lazily */
} srv_job_t;

/* A direct child: its link, the same as every relay's (tree_children.h:
 * identity, capacity, subtree, jobs sent, ASSIGN batch, RESULT seq and
 * ACK). */
typedef tree_child_t srv_engine_t;

/* What the root alone keeps of a direct child: its link's own bytes. */
typedef struct srv_worker {
    uint64_t running;           /* in-flight entries on it or its subtree */
    bool node;                  /* a node of the topology (has a relay) */
    bool noop;
    double score;
    uint64_t tasks_done;
    uint64_t blob_bytes_out;    /* BLOB_DATA payload sent to it */
} srv_worker_t;

static inline srv_worker_t *srv__worker(const srv_engine_t *e)
{
    return e->own;
}

/* One task believed running. */
typedef struct srv_inflight {
    uint64_t index;
    uint64_t gpu_mask;
    uint32_t job;
    uint32_t engine;
    uint32_t attempt;
    uint32_t slot;
    uint32_t reported;          /* 1: found running by a HELLO: it may run
                                   anywhere below its child, so it is
                                   orphaned, not requeued, with it */
    int64_t orphaned;           /* != 0: held below a lost relay, or for a
                                   lost engine's return, until this time
                                   (util_mono_ms, the end of its grace);
                                   not in the relay */
    uint32_t lost;              /* runs lost with their engine before it */
    bool held;                  /* orphaned with its lost engine: a loss
                                   when its grace ends */
} srv_inflight_t;

/* Broadcasts in flight, blob uploads (server_bcast.c). */
typedef struct srv_bcast srv_bcast_t;
/* The topology, its nodes and the fanout model (server_tree.c). */
typedef struct srv_tree srv_tree_t;
/* The jobs, the restart grace period (server_jobs.c). */
typedef struct srv_jobs srv_jobs_t;
/* The in-flight table, the orphans and the step buffer (server_tasks.c). */
typedef struct srv_tasks srv_tasks_t;

/* The inbox (server.c). */
typedef struct srv_inbox srv_inbox_t;

/* The root: a few objects, each created, destroyed and written by one file
 * (named at its type); the rest is server.c's. */
struct server {
    server_options_t o;
    uv_loop_t *loop;
    msg_sock_t *sock;
    tree_relay_t *place;        /* placement: the relay in root mode */
    store_t *store;
    char *db_path;
    char *log_dir;              /* <db>.logs */
    uint64_t epoch;
    int64_t start_ms;

    uv_check_t pump;
    uv_idle_t idle;             /* keeps the loop spinning on a backlog */
    uv_timer_t beat;
    uv_timer_t commit_timer;    /* the open transaction's commit is due */
    uv_timer_t bcast_timer;     /* polls the broadcasts in flight */
    int open_handles;
    bool closing;

    srv_inbox_t *inbox;
    tree_children_t *engines;   /* the direct children, by id */
    srv_jobs_t *jobs;
    srv_tasks_t *tasks;
    srv_tree_t *tree;
    srv_bcast_t *bcast;
    server_stats_t st;          /* written by every file */
};

/* server.c */
void srv__log(server_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int srv__send(server_t *s, const msg_peer_t *to, const msg_t *m);
void srv__send_error(server_t *s, const msg_peer_t *to, uint64_t request,
                     int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* server_jobs.c */
/* NULL with ENOMEM.  Caller must destroy with srv__jobs_destroy(). */
srv_jobs_t *srv__jobs_create(void);
void srv__jobs_destroy(srv_jobs_t *js);
/* The job, or NULL.  Borrowed; valid until srv__jobs_destroy(). */
srv_job_t *srv__job_find(server_t *s, uint32_t id);
/* The i-th job by id, NULL past the last. */
srv_job_t *srv__job_at(const server_t *s, size_t i);
/* Some job may have ended: srv__jobs_check() looks at them all. */
void srv__jobs_changed(server_t *s);
/* When the restart grace period ends; 0 once it is over (or none). */
int64_t srv__grace_end_ms(const server_t *s);
/* A reloaded job, its tasks waiting for the grace period. */
bool srv__job_waits_grace(const server_t *s, const srv_job_t *j);
/* Ends the grace period when due. */
void srv__jobs_beat(server_t *s, int64_t now_ms);
void srv__handle_submit(server_t *s, const msg_peer_t *from, msg_t *m);
void srv__handle_wait(server_t *s, const msg_peer_t *from, msg_t *m);
void srv__handle_cancel(server_t *s, const msg_peer_t *from, msg_t *m);
int srv__reload_jobs(server_t *s, banyan_error_t *error);
void srv__jobs_check(server_t *s);
void srv__jobs_unpark(server_t *s);
void srv__job_started(server_t *s, srv_job_t *j);
const char *srv__job_state_name(srv_job_state_t st);
void srv__job_counts(server_t *s, const srv_job_t *j, uint64_t *pending,
                     uint64_t *running);
/* A job's tasks ended ok and not ok, from its task rows. */
void srv__stored_counts(server_t *s, uint32_t id, uint64_t *ok,
                        uint64_t *failed);

/* server_tasks.c */
/* NULL with ENOMEM.  Caller must destroy with srv__tasks_destroy(). */
srv_tasks_t *srv__tasks_create(uint32_t max_actions);
void srv__tasks_destroy(srv_tasks_t *t);
/* The entry of (job, index), or NULL.  Returned pointer is borrowed; valid
 * until the table changes (an entry added or dropped). */
srv_inflight_t *srv__fl_find(server_t *s, uint32_t job, uint64_t index);
/* Every entry once (UTIL_HMAP_ITER_INIT first); the table must not change
 * meanwhile, the entries may. */
bool srv__fl_next(server_t *s, util_hmap_iter_t *it, srv_inflight_t **p);
size_t srv__fl_count(const server_t *s);
/* One placement step; true when it stopped at max_actions (more to do). */
bool srv__schedule(server_t *s, int64_t now_ms);
void srv__handle_result(server_t *s, srv_engine_t *e, msg_t *m);
/* Tasks a HELLO reports running go on relay child `child` (those not
 * ours to keep are KILLed through peer). */
void srv__adopt(server_t *s, uint32_t child, const msg_hello_t *h,
                const msg_peer_t *peer, const char *name);
void srv__engine_drop_tasks(server_t *s, srv_engine_t *e, int64_t hold_ms);
void srv__job_close_log(srv_job_t *j);

/* server_query.c */
void srv__handle_query(server_t *s, const msg_peer_t *from, msg_t *m);
/* Answer a request with o as JSON text (takes o; NULL: out of memory). */
void srv__send_answer(server_t *s, const msg_peer_t *to, uint64_t request,
                      json_t *o);
json_t *srv__bytes_json(const void *data, size_t len);
/* Job id's summary from memory, else its runs row (kind NULL: any kind) and
 * task rows.  NULL if unknown.  Caller must destroy with json_decref(). */
json_t *srv__job_summary(server_t *s, uint32_t id, const char *kind);

/* server.c (engines) */
void srv__engine_remove(server_t *s, srv_engine_t *e, const char *why,
                        bool may_return);
/* A child for a worker's HELLO on link `from` (welcomed); NULL (logged)
 * when it cannot be added. */
srv_engine_t *srv__engine_add(server_t *s, uint32_t id,
                              const msg_peer_t *from, const msg_hello_t *h);

/* server_tree.c */
/* NULL with errno and error.  Caller must destroy with
 * srv__tree_destroy(). */
srv_tree_t *srv__tree_create(server_t *s, banyan_error_t *error);
void srv__tree_destroy(srv_tree_t *t);
/* Nodes in the topology. */
uint32_t srv__tree_count(const server_t *s);
/* A message sent in ns nanoseconds (the model's per-message cost). */
void srv__tree_sent(server_t *s, uint64_t ns);
/* "tree" of the status answer (NULL: out of memory). */
json_t *srv__tree_json(server_t *s);
void srv__tree_hello(server_t *s, const msg_peer_t *from, msg_t *m);
uint32_t srv__flat_id(server_t *s);
void srv__tree_child_lost(server_t *s, srv_engine_t *e);
void srv__handle_summary(server_t *s, srv_engine_t *e, msg_t *m);
void srv__handle_nodes(server_t *s, srv_engine_t *e, msg_t *m);
void srv__handle_orphan(server_t *s, srv_engine_t *e, msg_t *m);
void srv__handle_steal(server_t *s, srv_engine_t *e, msg_t *m);
void srv__handle_return(server_t *s, srv_engine_t *e, msg_t *m);
void srv__handle_reject(server_t *s, srv_engine_t *e, msg_t *m);
void srv__tree_beat(server_t *s, int64_t now_ms);
void srv__tree_pong(server_t *s, const msg_t *m);
void srv__tree_task_time(server_t *s, const msg_result_entry_t *r);

/* server_tasks.c (the tree's side of the in-flight table) */
void srv__orphan(server_t *s, srv_inflight_t *p, int64_t now_ms);
void srv__orphans_expire(server_t *s, int64_t now_ms);
/* An entry leaves its engine's count and the table (its task is no longer
 * on that branch: returned, rejected, or its send failed). */
void srv__fl_drop(server_t *s, srv_inflight_t *p);
/* A placed task goes back to pending at the root, no attempt used. */
void srv__requeue_placed(server_t *s, uint32_t job, uint64_t index);
/* The relay's child for tasks of node n's branch: its subtree when the
 * root has one for it, else the direct child itself. */
uint32_t srv__branch_child(server_t *s, uint32_t n);

/* server_bcast.c */
/* NULL with errno and error (drops the uploads a previous server left).
 * Caller must destroy with srv__bcast_destroy(). */
srv_bcast_t *srv__bcast_create(server_t *s, banyan_error_t *error);
void srv__bcast_destroy(srv_bcast_t *bc);
/* Its counters into the status answer's "tree" object o. */
void srv__bcast_json(server_t *s, json_t *o);
void srv__handle_broadcast(server_t *s, const msg_peer_t *from, msg_t *m);
void srv__handle_breply(server_t *s, srv_engine_t *e, msg_t *m);
/* Answer the broadcasts that are complete or due; true while some are
 * still in flight (the caller polls again). */
bool srv__bcast_poll(server_t *s, int64_t now_ms);
void srv__handle_blob_put(server_t *s, const msg_peer_t *from, msg_t *m);
void srv__handle_blob_get(server_t *s, srv_engine_t *e, msg_t *m);
void srv__blob_beat(server_t *s, int64_t now_ms);

#endif /* BANYAN_SERVER_PRIVATE_H */
