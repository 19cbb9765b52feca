/* SPDX-License-Identifier: MIT */
/* worker_results.c - the results window: RESULT batches with seq, ACK and
 * resend.
 *
 * Results are queued as their tasks end.  A flush cuts the queue into
 * batches (at most MSG_MAX_BATCH entries and BATCH_TAIL_BYTES of output
 * tails, seq = ++last_seq) and appends them to the unacked list, which is
 * sent in order and only while the parent is known.  A batch's results are
 * released at the ACK that covers it; a new link sends every unacked batch
 * again (the parent ignores what it has).
 *
 * Invariants: batches are in seq order; last_acked <= last_seq; a batch
 * is released once.
 */
#include "worker_results.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

enum {
    BATCH_TAIL_BYTES = 4 << 20,    /* output tails in one RESULT message */
};

typedef struct batch {
    uint64_t seq;
    uint32_t n;
    bool sent;                     /* on the current connection */
    bool ever_sent;
    struct batch *next;
    worker__result_t *res[];       /* n */
} batch_t;

struct worker__results {
    worker__results_ops_t ops;
    void *arg;
    worker__result_t *head, *tail; /* queued, not yet batched */
    batch_t *batches, *batches_tail; /* unacked, by seq */
    msg_result_entry_t *scratch;   /* entries of the RESULT being sent */
    size_t scratch_cap;
    uint64_t last_seq, last_acked;
    uint64_t unacked_batches, unacked_entries;
    uint64_t batches_sent, batches_resent, send_errors;
};

worker__results_t *worker__results_create(const worker__results_ops_t *ops,
                                          void *arg)
{
    worker__results_t *w = calloc(1, sizeof(*w));
    if (!w) {
        errno = ENOMEM;
        return NULL;
    }
    w->ops = *ops;
    w->arg = arg;
    return w;
}

void worker__results_destroy(worker__results_t *w)
{
    if (!w)
        return;
    int saved = errno;
    for (worker__result_t *r = w->head, *next; r; r = next) {
        next = r->qnext;
        w->ops.release(w->arg, r, false);
    }
    while (w->batches) {
        batch_t *b = w->batches;
        w->batches = b->next;
        for (uint32_t i = 0; i < b->n; i++)
            w->ops.release(w->arg, b->res[i], false);
        free(b);
    }
    free(w->scratch);
    free(w);
    errno = saved;
}

void worker__results_push(worker__results_t *w, worker__result_t *r)
{
    r->qnext = NULL;
    if (w->tail)
        w->tail->qnext = r;
    else
        w->head = r;
    w->tail = r;
}

/* Cut the queue into batches.  0, or -1 (ENOMEM: the rest stays queued). */
static int make_batches(worker__results_t *w)
{
    while (w->head) {
        size_t n = 0, bytes = 0;
        for (worker__result_t *r = w->head; r && n < MSG_MAX_BATCH;
             r = r->qnext) {
            size_t b = (size_t)r->res.out_tail_len + r->res.err_tail_len;
            if (n > 0 && bytes + b > BATCH_TAIL_BYTES)
                break;
            bytes += b;
            n++;
        }
        batch_t *b = malloc(sizeof(*b) + n * sizeof(b->res[0]));
        if (!b)
            return -1;
        b->seq = ++w->last_seq;
        b->n = (uint32_t)n;
        b->sent = b->ever_sent = false;
        b->next = NULL;
        for (size_t i = 0; i < n; i++) {
            b->res[i] = w->head;
            w->head = w->head->qnext;
        }
        if (!w->head)
            w->tail = NULL;
        if (w->batches_tail)
            w->batches_tail->next = b;
        else
            w->batches = b;
        w->batches_tail = b;
        w->unacked_batches++;
        w->unacked_entries += n;
    }
    return 0;
}

static int send_batch(worker__results_t *w, batch_t *b)
{
    if (b->n > w->scratch_cap) {
        size_t cap = b->n > 256 ? b->n : 256;
        msg_result_entry_t *s = realloc(w->scratch, cap * sizeof(*s));
        if (!s)
            return -1;
        w->scratch = s;
        w->scratch_cap = cap;
    }
    for (uint32_t i = 0; i < b->n; i++)
        w->scratch[i] = b->res[i]->res;
    msg_t m = {.type = MSG_RESULT};
    m.u.result.seq = b->seq;
    m.u.result.n = b->n;
    m.u.result.entries = w->scratch;
    if (w->ops.send(w->arg, &m) < 0)
        return -1;
    if (b->ever_sent)
        w->batches_resent++;
    else
        w->batches_sent++;
    b->sent = b->ever_sent = true;
    return 0;
}

void worker__results_flush(worker__results_t *w, bool connected)
{
    if (make_batches(w) < 0)
        w->send_errors++;
    if (!connected)
        return;
    for (batch_t *b = w->batches; b; b = b->next)
        if (!b->sent && send_batch(w, b) < 0)
            break; /* keep the order: the rest waits */
}

void worker__results_resend(worker__results_t *w)
{
    for (batch_t *b = w->batches; b; b = b->next)
        b->sent = false;
}

void worker__results_ack(worker__results_t *w, uint64_t seq)
{
    if (seq > w->last_seq) /* never acknowledge what was not sent */
        seq = w->last_seq;
    if (seq > w->last_acked)
        w->last_acked = seq;
    while (w->batches && w->batches->seq <= seq) {
        batch_t *b = w->batches;
        w->batches = b->next;
        if (!w->batches)
            w->batches_tail = NULL;
        w->unacked_batches--;
        w->unacked_entries -= b->n;
        for (uint32_t i = 0; i < b->n; i++)
            w->ops.release(w->arg, b->res[i], true);
        free(b);
    }
    assert(w->last_acked <= w->last_seq);
}

bool worker__results_queued(const worker__results_t *w)
{
    return w->head != NULL;
}

bool worker__results_unacked(const worker__results_t *w)
{
    return w->batches != NULL;
}

uint64_t worker__results_last_acked(const worker__results_t *w)
{
    return w->last_acked;
}

void worker__results_stats(const worker__results_t *w, worker_stats_t *st)
{
    st->last_seq = w->last_seq;
    st->last_acked = w->last_acked;
    st->unacked_batches = w->unacked_batches;
    st->unacked_entries = w->unacked_entries;
    st->batches_sent = w->batches_sent;
    st->batches_resent = w->batches_resent;
    st->send_errors += w->send_errors;
}
