/* SPDX-License-Identifier: MIT */
/* worker_upq.c - a relay's ORPHANs and NODES events on their way up (see
 * worker_upq.h).  Two arrays in arrival order; an ORPHAN longer than
 * MSG_MAX_BATCH goes in several messages, its last tasks first. */
#include "worker_upq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

typedef struct orphan {
    uint32_t node;
    msg_task_ref_t *v;
    size_t n;
} orphan_t;

struct worker__upq {
    int (*send)(void *arg, const msg_t *m);
    void *arg;
    orphan_t *orphans;
    size_t norphans, orphans_cap;
    msg_node_event_entry_t *events;
    size_t nevents, events_cap;
};

worker__upq_t *worker__upq_create(int (*send)(void *arg, const msg_t *m),
                                  void *arg)
{
    worker__upq_t *q = calloc(1, sizeof(*q));
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    q->send = send;
    q->arg = arg;
    return q;
}

static void event_free(msg_node_event_entry_t *e)
{
    free((char *)e->worker_id);
    free((char *)e->host);
    free((char *)e->relay);
}

void worker__upq_destroy(worker__upq_t *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->norphans; i++)
        free(q->orphans[i].v);
    free(q->orphans);
    for (size_t i = 0; i < q->nevents; i++)
        event_free(&q->events[i]);
    free(q->events);
    free(q);
}

void worker__upq_event(worker__upq_t *q, const msg_node_event_entry_t *e)
{
    if (util_grow((void **)&q->events, &q->events_cap, q->nevents + 1,
                  sizeof(*q->events)) < 0)
        return;
    msg_node_event_entry_t c = *e;
    c.worker_id = e->worker_id ? strdup(e->worker_id) : NULL;
    c.host = e->host ? strdup(e->host) : NULL;
    c.relay = e->relay ? strdup(e->relay) : NULL;
    /* Without its strings an attached node is still reported (the root
     * then knows its place, not how to reach it). */
    q->events[q->nevents++] = c;
}

void worker__upq_orphan(worker__upq_t *q, uint32_t node, msg_task_ref_t *v,
                        size_t n)
{
    if (util_grow((void **)&q->orphans, &q->orphans_cap, q->norphans + 1,
                  sizeof(*q->orphans)) < 0)
        free(v);
    else
        q->orphans[q->norphans++] = (orphan_t){node, v, n};
}

void worker__upq_flush(worker__upq_t *q)
{
    size_t done = 0;
    while (done < q->norphans) {
        orphan_t *o = &q->orphans[done];
        size_t n = o->n > MSG_MAX_BATCH ? MSG_MAX_BATCH : o->n;
        msg_t m = {.type = MSG_ORPHAN};
        m.u.tasks.node = o->node;
        m.u.tasks.n = (uint32_t)n;
        m.u.tasks.tasks = n ? o->v + o->n - n : NULL;
        if (q->send(q->arg, &m) < 0)
            break;
        o->n -= n;
        if (o->n == 0) {
            free(o->v);
            done++;
        }
    }
    if (done > 0) {
        memmove(q->orphans, q->orphans + done,
                (q->norphans - done) * sizeof(*q->orphans));
        q->norphans -= done;
    }
    if (q->norphans > 0 || q->nevents == 0)
        return;
    size_t n = q->nevents > MSG_MAX_BATCH ? MSG_MAX_BATCH : q->nevents;
    msg_t m = {.type = MSG_NODES};
    m.u.nodes.n = (uint32_t)n;
    m.u.nodes.events = q->events;
    if (q->send(q->arg, &m) == 0) {
        for (size_t i = 0; i < n; i++)
            event_free(&q->events[i]);
        memmove(q->events, q->events + n,
                (q->nevents - n) * sizeof(*q->events));
        q->nevents -= n;
    }
}

bool worker__upq_pending(const worker__upq_t *q)
{
    return q->norphans > 0 || q->nevents > 0;
}
