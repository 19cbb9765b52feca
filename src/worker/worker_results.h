/* SPDX-License-Identifier: MIT */
/* worker_results.h - the results window of a worker's parent link
 * (worker_results.c): RESULT batches with seq, ACK and resend. */
#ifndef BANYAN_WORKER_RESULTS_H
#define BANYAN_WORKER_RESULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "msg/msg.h"
#include "worker.h"

/* One result, in storage its owner provides (embedded in a task): the
 * window links it from worker__results_push() until it is acknowledged. */
typedef struct worker__result {
    msg_result_entry_t res;       /* what goes up; tails owned by the owner */
    struct worker__result *qnext; /* the window's queue */
} worker__result_t;

typedef struct worker__results worker__results_t;

typedef struct worker__results_ops {
    /* Send m to the parent.  0, or -1 when it cannot be sent now. */
    int (*send)(void *arg, const msg_t *m);
    /* r's batch is acknowledged (or, at destroy, never will be): its owner
     * may free it. */
    void (*release)(void *arg, worker__result_t *r, bool acked);
} worker__results_ops_t;

/* NULL with ENOMEM.  Caller must destroy with worker__results_destroy(),
 * which releases every result still held (acked false). */
worker__results_t *worker__results_create(const worker__results_ops_t *ops,
                                          void *arg);
void worker__results_destroy(worker__results_t *w);

/* Queue r for the next batch (borrowed until released). */
void worker__results_push(worker__results_t *w, worker__result_t *r);
/* Cut the queue into batches (seq = last seq + 1), and send the batches
 * not yet sent on this link, in order, if connected.  A failed send stops
 * the sending until the next flush, so seq n+1 never precedes seq n. */
void worker__results_flush(worker__results_t *w, bool connected);
/* A new link: every unacknowledged batch goes again at the next flush. */
void worker__results_resend(worker__results_t *w);
/* The parent acknowledged every batch up to seq (capped at the last seq
 * used): their results are released. */
void worker__results_ack(worker__results_t *w, uint64_t seq);

/* Whether results wait to be batched / batches wait for their ACK. */
bool worker__results_queued(const worker__results_t *w);
bool worker__results_unacked(const worker__results_t *w);
uint64_t worker__results_last_acked(const worker__results_t *w);
/* Its counters into st: last_seq, last_acked, unacked_*, batches_*;
 * its send errors are added to st->send_errors. */
void worker__results_stats(const worker__results_t *w, worker_stats_t *st);

#endif /* BANYAN_WORKER_RESULTS_H */
