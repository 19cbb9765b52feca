/* SPDX-License-Identifier: MIT */
/* server.h - the root scheduler of cluster mode (`banyan server`).
 *
 * A server owns one ROUTER socket (msg), one scheduler core (sched) and the
 * database (store), all on the caller's libuv loop.  Workers say HELLO and
 * become engines of the core; clients SUBMIT jobs, WAIT for them and QUERY
 * them.  Once per loop iteration the server processes what arrived (bounded
 * work), commits the store, ACKs the results that commit holds, asks the
 * core what to start and sends one ASSIGN per engine.  docs/cluster.md
 * describes the protocol, the exactly-once rules and the restart grace.
 *
 * The server is the root of the tree of schedulers (docs/tree.md, "Cluster
 * mode: how the tree is wired"): workers that can relay join a topology of
 * fanout k and are redirected below other workers; each direct child's
 * subtree is one more engine of the core (an aggregate pool).  It also
 * starts broadcasts and keeps blobs that clients upload.
 *
 * Library code: the server never prints; lines for a log go to the log
 * callback of its options.
 */
#ifndef BANYAN_SERVER_H
#define BANYAN_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <banyan/error.h>

#include <uv.h>

#include "msg/msg.h"

typedef struct server server_t;

/* One line for the server's log (no newline).  Borrowed for the call. */
typedef void (*server_log_cb)(const char *line, void *arg);

/* A field left 0 takes its default. */
typedef struct server_options {
    const char *listen;          /* endpoint; tcp://127.0.0.1:7878 */
    const char *db_path;         /* the database file; required */
    uint32_t heartbeat_ms;       /* PING period; 1000.  Lost after 5 */
    uint32_t crash_limit;        /* losses per task before it fails; 5 */
    int64_t grace_ms;            /* after a restart; 0 = 3 heartbeat
                                    timeouts (15 periods); < 0 = none */
    const msg_security_t *sec;   /* CURVE; NULL = none.  Copied pointers
                                    must stay valid until destroy */
    bool fail_infeasible;        /* fail a job that no engine can ever fit
                                    (when engines exist) instead of keeping
                                    it pending for engines still to come */
    double min_score;            /* workers scoring below get no work; 0 */
    uint32_t fanout;             /* children per node of the tree; 0 =
                                    the model's k (tree_model_fanout) from
                                    the measured hop and per-message cost,
                                    re-evaluated for new joins */
    uint32_t max_actions;        /* core actions per loop iteration; 10000 */
    uint32_t max_entries;        /* result entries per iteration; 50000 */
    server_log_cb log;           /* may be NULL */
    void *log_arg;
    /* The database cannot be written (a full disk, an I/O error): said
     * once in the log, then called once (may be NULL) with log_arg.  The
     * server has stopped assigning tasks and acknowledging results; its
     * owner destroys it and exits 3.  The workers keep what it could not
     * record, and send it to the server started again (docs/full-disk.md):
     * nothing is lost, and nothing that ran runs again. */
    void (*failed)(void *arg);
} server_options_t;

/* Open the database, reload unfinished jobs, bind the socket and start
 * serving on loop.  NULL with errno and a sentence.  Caller must destroy
 * with server_destroy(). */
server_t *server_create(uv_loop_t *loop, const server_options_t *opts,
                        banyan_error_t *error);

/* Stop serving: commit, close the socket and the handles.  The memory is
 * released once the loop has run the close callbacks (run it once more,
 * e.g. uv_run(loop, UV_RUN_DEFAULT) after stopping everything else).
 * Accepts NULL. */
void server_destroy(server_t *s);

/* The endpoint bound (with the port chosen for ":0").  Borrowed. */
const char *server_endpoint(const server_t *s);

typedef struct server_stats {
    uint32_t engines;          /* connected now */
    uint32_t jobs_active;      /* not ended */
    uint64_t tasks_running;    /* assigned (or adopted), no result yet */
    uint64_t results;          /* result entries recorded */
    uint64_t duplicates;       /* result entries ignored as known */
    uint64_t engines_lost;     /* engines dropped for silence */
    uint64_t assigned;         /* task starts sent */
    uint64_t adopted;          /* tasks adopted from re-HELLOs */
    uint64_t commits;          /* store commits that carried results */
    uint64_t strangers;        /* PING/RESULT from peers without HELLO,
                                  answered BYE */
    uint64_t forbidden;        /* messages refused for their sender's role
                                  (a client key's HELLO, a worker key's
                                  SUBMIT), answered ERROR */
    uint64_t forged;           /* HELLOs with a known worker id from
                                  another key: refused */
    bool in_grace;             /* still in the restart grace period */
    uint32_t nodes;            /* tree nodes (workers with a relay) */
    uint64_t redirects;        /* HELLOs answered REDIRECT */
    uint64_t orphaned;         /* tasks held for a grace after a loss */
    uint64_t orphans_adopted;  /* ... claimed by a HELLO in time */
    uint64_t orphans_requeued; /* ... requeued at their deadline */
    uint64_t steals, recalls, denies, returned, rejected;
    uint64_t broadcasts;       /* broadcasts started */
} server_stats_t;

void server_get_stats(const server_t *s, server_stats_t *st);

#endif /* BANYAN_SERVER_H */
