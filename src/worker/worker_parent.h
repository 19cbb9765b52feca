/* SPDX-License-Identifier: MIT */
/* worker_parent.h - a worker's link to its parent (worker_parent.c): HELLO
 * with backoff until WELCOME, PING every heartbeat and the loss of a
 * silent parent, REDIRECT to a relay and back to the root when that relay
 * is lost.  What HELLO says and what the other messages mean is the
 * worker's (ops). */
#ifndef BANYAN_WORKER_PARENT_H
#define BANYAN_WORKER_PARENT_H

#include <stdbool.h>
#include <stdint.h>

#include "msg/msg.h"
#include "worker.h"

typedef struct worker__parent worker__parent_t;

typedef struct worker__parent_ops {
    /* Every message but WELCOME, REDIRECT, PING, PONG and BYE.  Takes m. */
    void (*recv)(void *arg, msg_t *m);
    /* Say HELLO now (worker__parent_send). */
    void (*hello)(void *arg);
    /* HELLO state entered: what went up before may be lost. */
    void (*rejoin)(void *arg);
    /* A WELCOME (identity set).  joined: it connected the link (false: an
     * answer to an earlier HELLO); again: the link was connected already
     * (a new epoch: a restarted root). */
    void (*welcome)(void *arg, bool joined, bool again);
    /* BYE while stopping: the parent acknowledges nothing more. */
    void (*released)(void *arg);
    /* worker__parent_close() has finished. */
    void (*closed)(void *arg);
} worker__parent_ops_t;

/* Connect to the root at o->endpoint (CURVE with o's keys, when given).
 * NULL with errno and a sentence.  Caller must destroy with
 * worker__parent_destroy(), after worker__parent_close() has finished if
 * worker__parent_start() was called. */
worker__parent_t *worker__parent_create(uv_loop_t *loop,
                                        const worker_options_t *o,
                                        const worker__parent_ops_t *ops,
                                        void *arg, banyan_error_t *error);
void worker__parent_destroy(worker__parent_t *p);
/* Start the timers and say HELLO. */
void worker__parent_start(worker__parent_t *p);
/* Stopping: no HELLO, REDIRECT or return to the root any more. */
void worker__parent_stop(worker__parent_t *p);
/* Close the socket and the timers; ops->closed when done. */
void worker__parent_close(worker__parent_t *p);

/* Send m.  0, or -1 (no socket, refused: counted in send_errors). */
int worker__parent_send(worker__parent_t *p, const msg_t *m);
bool worker__parent_connected(const worker__parent_t *p);
/* The root's endpoint (borrowed; valid until destroy). */
const char *worker__parent_endpoint(const worker__parent_t *p);
/* This node's id, its parent's, the root's epoch and the heartbeat period. */
void worker__parent_identity(const worker__parent_t *p, uint32_t *node,
                             uint32_t *parent, uint64_t *epoch,
                             uint32_t *heartbeat_ms);
/* Counters of the sockets to the parent, closed ones included. */
void worker__parent_sock_stats(const worker__parent_t *p,
                               msg_sock_stats_t *st);
/* Fill the link's part of st (state, ids, heartbeat, HELLO/WELCOME/PING
 * counters, up_*); send_errors is added to. */
void worker__parent_stats(const worker__parent_t *p, worker_stats_t *st);

#endif /* BANYAN_WORKER_PARENT_H */
