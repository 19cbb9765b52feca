/* SPDX-License-Identifier: MIT */
/* worker_upq.h - a relay's queue of what must reach the root even while
 * the parent is away (worker_upq.c): ORPHANs (a lost child's tasks) and
 * NODES events (children attached and lost), sent oldest first, the
 * ORPHANs before the events. */
#ifndef BANYAN_WORKER_UPQ_H
#define BANYAN_WORKER_UPQ_H

#include <stdbool.h>
#include <stddef.h>

#include "msg/msg.h"

typedef struct worker__upq worker__upq_t;

/* send: to the parent, 0 or -1 when it cannot take m now.  NULL with
 * ENOMEM.  Caller must destroy with worker__upq_destroy(). */
worker__upq_t *worker__upq_create(int (*send)(void *arg, const msg_t *m),
                                  void *arg);
void worker__upq_destroy(worker__upq_t *q);

/* Queue an event; its strings are copied. */
void worker__upq_event(worker__upq_t *q, const msg_node_event_entry_t *e);
/* Queue an ORPHAN of node listing v[n].  Takes ownership of v (malloc'd),
 * also on failure. */
void worker__upq_orphan(worker__upq_t *q, uint32_t node, msg_task_ref_t *v,
                        size_t n);
/* Send what waits; what the parent cannot take now stays. */
void worker__upq_flush(worker__upq_t *q);
bool worker__upq_pending(const worker__upq_t *q);

#endif /* BANYAN_WORKER_UPQ_H */
