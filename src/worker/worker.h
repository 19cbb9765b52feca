/* SPDX-License-Identifier: MIT */
/* worker.h - a cluster-mode engine (`banyan worker`): the engine of
 * src/engine plus a link to its parent.
 *
 * A worker connects a DEALER to the server, says HELLO (its id, resources,
 * GPUs, capability score, the tasks it still runs, the last RESULT seq it
 * saw acknowledged) and repeats it with exponential backoff (250 ms, 500 ms,
 * ... 5 s) until WELCOME.  It then caches job definitions (MSG_JOB),
 * expands the tasks of every ASSIGN itself (tmpl) and runs them through
 * its engine (the same as local mode's): a task starts when the engine
 * admits it on this host (no task suspended for critical memory,
 * MemAvailable above the reserve, the host's fair share, and its memory
 * request or else its command's learnt estimate fits); until then it
 * waits in the worker's admission queue, holding the slot its parent gave
 * it.  The engine classifies each end once (banyan_task_end_t), and the
 * worker reports it in RESULT batches: results that end in one loop
 * iteration go out together, with a per-worker sequence number.
 *
 * Exactly-once, worker side (docs/cluster.md): a task (job, index, attempt)
 * is started at most once per worker process; a duplicate ASSIGN of a task
 * that is running or whose result is not yet acknowledged is ignored.
 * Every RESULT batch is kept until an ACK with a seq at or above its own;
 * ACKs are cumulative.  Batches leave in seq order, and only while the
 * server is known (between WELCOME and loss); after a new WELCOME every
 * unacknowledged batch is sent again, in order, so a server that restarted
 * (new epoch) or a link that dropped messages gets them all; duplicates are
 * the server's to ignore.
 *
 * Liveness: PING every heartbeat_ms (from WELCOME), PONG at once to a PING.
 * A server silent for WORKER_LOST_PERIODS periods is lost: tasks keep
 * running and their results pile up, and the worker goes back to HELLO with
 * backoff, forever.  The worker keeps one DEALER for its whole life (ZeroMQ
 * reconnects it), so HELLOs sent while nobody listened may reach a server
 * that comes back all together: the server must take a HELLO from a
 * worker_id it already knows as a repeat (answer WELCOME again).
 *
 * Memory while the server is away: every unacknowledged result is kept
 * (it is the truth): about 200 bytes plus its output tails (at most
 * 2 x WORKER_TAIL_BYTES) per task.  64 slots of one-second tasks with full
 * tails for an hour come to about 1.9 GB; tasks that print little, about
 * 50 MB.  worker_stats() shows the figure (unacked_entries).
 *
 * The tree: unless no_relay, the worker binds a ROUTER for children and
 * names it in HELLO.relay.  A REDIRECT from the root makes it close its
 * DEALER, connect one to the relay it names and say HELLO there with the
 * node id it was given.  A parent relay that goes silent (or says BYE)
 * sends it back to the root (HELLO with its node, every task its engine
 * and its subtree hold, then its unacknowledged results); its own children
 * stay attached.  As a relay it places the tasks its parent hands its
 * subtree (ASSIGN entries with MSG_SLOT_ANY) on its children, passes their
 * results up in its own RESULT batches (every 10 ms) and acknowledges a
 * child's results only after its parent acknowledged them; see
 * worker_relay.c for the rest (losses, SUMMARY, steals).
 *
 * Jobs with blobs: a task of such a job starts once every blob is in the
 * worker's cache (fetched through the parent); BANYAN_BLOB_<i> names the
 * files and MSG_JOB_STDIN_BLOB makes blob 0 the task's stdin.
 *
 * Zero-worker mode (noop): every assigned task completes at once with exit
 * 0 and zero duration, without spawning, through the same RESULT path.  It
 * exists only to measure the scheduler's own overhead.
 */
#ifndef BANYAN_WORKER_H
#define BANYAN_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include <banyan/error.h>

#include "engine/engine.h"
#include "gpu/gpu.h"
#include "res/res.h"

enum {
    WORKER_TAIL_BYTES = 4096,      /* stdout / stderr tail in a result */
    WORKER_HELLO_MIN_MS = 250,     /* HELLO backoff: first delay */
    WORKER_HELLO_MAX_MS = 5000,    /* ... doubling up to this */
    WORKER_HEARTBEAT_MS = 1000,    /* PING period before WELCOME says */
    WORKER_LOST_PERIODS = 5,       /* silent periods before the server is
                                      lost */
    WORKER_STOP_ACK_MS = 2000,     /* wait for the last ACK at shutdown */
};

typedef struct worker worker_t;

/* Called once, on the loop, when worker_stop() has finished: BYE sent,
 * tasks ended, results flushed (and acknowledged, or the wait ran out) and
 * every handle of the worker closed. */
typedef void (*worker_done_cb)(worker_t *w, void *arg);

typedef struct worker_options {
    const char *endpoint;       /* the server ("tcp://host:7878") */
    const char *name;           /* NULL = the host name */
    uint32_t slots;             /* tasks at once the server may place; 0 =
                                   the cpus (rounded up) */
    uint32_t cpus_milli;        /* 0 = this host's cores */
    uint64_t mem_bytes;         /* 0 = this host's MemTotal */
    int ngpus;                  /* GPUs offered, in HELLO order: a task's */
    const gpu_info_t *gpus;     /* gpu_mask bit i means gpus[i] (copied) */
    double score;               /* capability score for HELLO, 0 = unknown */
    int64_t score_budget_ms;    /* > 0 with score 0: measure the score at
                                   create (blocks the caller that long) */
    bool noop;                  /* zero-worker mode, see above */
    /* This host (engine.h, the same options as `banyan run`): the kill
     * grace (SIGTERM -> SIGKILL for KILL, timeouts and shutdown; 0 =
     * 2000), the memory limit, reserve and critical levels, estimates
     * (tasks without a memory request wait here until their group's
     * estimate fits), fair sharing with the other banyans of the host.
     * Its slots and mem_bytes are the ones above. */
    engine_options_t host;
    /* One line for a person (critical memory, sharing).  May be NULL. */
    void (*log)(const char *line, void *arg);
    void *log_arg;
    /* CURVE (all NULL = none): own key pair and the server's public key,
     * Z85 text (copied). */
    const char *public_key;
    const char *secret_key;
    const char *server_key;
    /* The tree (docs/tree.md, "Cluster mode: how the tree is wired"). */
    const char *relay_bind;     /* ROUTER for children; NULL = default:
                                   ipc:// in a private directory when the
                                   server is ipc://, else tcp://<the
                                   address that reaches the server>:0 */
    bool no_relay;              /* bind nothing: attach to the root only */
    const char *cache_dir;      /* blob cache; NULL = in the private
                                   directory (removed at exit) */
    uint64_t cache_max_bytes;   /* 0 = no bound */
    int ncustom;                /* named resources offered in HELLO
                                   (--resource license=2): tasks that need
                                   them are placed here, at most amount
                                   units at once (valid, distinct names) */
    res_custom_t custom[RES_MAX_CUSTOM];
    worker_done_cb done;        /* may be NULL */
    void *done_arg;
} worker_options_t;

/* Start a worker on loop: it connects and sends its first HELLO at once.
 * NULL with errno and a sentence in error (bad endpoint, no executor).
 * Caller must destroy with worker_destroy(). */
worker_t *worker_create(uv_loop_t *loop, const worker_options_t *opts,
                        banyan_error_t *error);

/* Shut down cleanly (SIGINT/SIGTERM/SIGHUP of `banyan worker`): send BYE,
 * interrupt running tasks (SIGTERM, SIGKILL after the grace), report them
 * as interrupted, wait up to WORKER_STOP_ACK_MS for the server to
 * acknowledge every result, then close and call opts->done.  Tasks
 * assigned meanwhile are reported interrupted without running.  A second
 * call kills the remaining tasks at once. */
void worker_stop(worker_t *w);

/* Close whatever is still open (tasks still running are killed without
 * results) and free the worker once the loop has run its close callbacks:
 * run the loop once more (uv_run(loop, UV_RUN_DEFAULT)).  Accepts NULL. */
void worker_destroy(worker_t *w);

typedef enum worker_state {
    WORKER_HELLO = 0,    /* looking for the server (HELLO with backoff) */
    WORKER_CONNECTED,    /* WELCOME received, server alive */
    WORKER_STOPPING,     /* worker_stop() called */
    WORKER_CLOSED,       /* all handles closed */
} worker_state_t;

typedef struct worker_stats {
    worker_state_t state;
    uint32_t engine_id;         /* from the last WELCOME, 0 before */
    uint64_t server_epoch;      /* idem */
    uint32_t heartbeat_ms;      /* period in use */
    uint64_t welcomes;          /* WELCOMEs that connected the worker */
    uint64_t hellos_sent;
    uint64_t server_lost;       /* times the server went silent */
    uint64_t epochs_seen;       /* distinct epochs (server restarts + 1) */
    uint64_t jobs;              /* job definitions cached */
    uint64_t tasks_started;     /* spawned (or completed at once in noop) */
    uint64_t tasks_running;
    uint64_t tasks_done;        /* results produced */
    uint64_t tasks_failed_start;/* unknown job, bad template, bad GPU mask */
    uint64_t duplicates;        /* ASSIGN entries ignored as duplicates */
    uint64_t killed;            /* tasks stopped by MSG_KILL */
    uint64_t batches_sent;      /* RESULT messages, first sends */
    uint64_t batches_resent;    /* RESULT messages sent again */
    uint64_t last_seq;          /* highest RESULT seq used */
    uint64_t last_acked;        /* highest seq acknowledged */
    uint64_t unacked_entries;   /* results kept until acknowledged */
    uint64_t unacked_batches;
    uint64_t pings_sent, pongs_sent, pongs_received;
    uint64_t send_errors;       /* sends refused (EAGAIN...) */
    uint64_t unexpected;        /* messages a worker should not get */
    /* the tree */
    uint32_t node;              /* id from REDIRECT / WELCOME, 0 before */
    uint32_t parent_node;       /* 0 = the root */
    uint32_t children;          /* direct children attached now */
    uint64_t redirects;         /* REDIRECTs followed */
    uint64_t back_to_root;      /* parent relays lost: HELLO to the root */
    uint64_t relay_queued;      /* tasks queued here, not yet placed */
    uint64_t relay_held;        /* tasks queued here or placed below */
    uint64_t relay_assigned;    /* ASSIGN entries sent to children */
    uint64_t child_results;     /* result entries taken from children */
    uint64_t children_lost;
    uint64_t orphans_sent;
    uint64_t up_sent, up_received;     /* messages on the parent link */
    uint64_t down_sent, down_received; /* messages on the children's */
} worker_stats_t;

void worker_stats(const worker_t *w, worker_stats_t *st);

/* Where children connect (HELLO.relay), NULL without a relay.  Borrowed. */
const char *worker_relay_endpoint(const worker_t *w);

/* "host:pid:start:secret" of this process (start = process start time in
 * milliseconds since the epoch; secret = 32 random hex digits, so that
 * nobody can say HELLO as this worker), into buf.  Returns buf. */
char *worker_id_format(char *buf, size_t size);

/* Choose the GPUs a worker offers.  spec: NULL or "auto" = every GPU found
 * by gpu_discover() (which honours BANYAN_GPUS); "none" = none; otherwise a
 * comma-separated list of device indices or UUIDs among those found.
 * Returns the count written to out (at most max), or -1 with EINVAL and a
 * sentence in error. */
int worker_gpus_select(const char *spec, gpu_info_t *out, int max,
                       banyan_error_t *error);

#endif /* BANYAN_WORKER_H */
