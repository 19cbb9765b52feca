/* SPDX-License-Identifier: MIT */
/* msg_private.h - helpers shared between the files of the msg module.
 *
 * The wire field counts of each message body live here so that the encoder
 * (msg_encode.c) and the decoder (msg_decode.c) cannot disagree about them;
 * docs/protocol.md lists the same numbers.
 */
#ifndef BANYAN_MSG_PRIVATE_H
#define BANYAN_MSG_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "msg/msg.h"

enum {
    MSG__HEADER_FIELDS = 3,   /* magic, version, type */
    MSG__JOB_FIELDS = 12,     /* id, words, sources, first, count, env, cwd,
                                 timeout_ms, flags, blobs, req, priority */
    MSG__REQ_FIELDS = 6,      /* slots, cpus, mem, gpus, gpu_mem, custom */
    MSG__REF_FIELDS = 3,      /* job, index, attempt */
    MSG__ASSIGN_FIELDS = 6,   /* ref + slot, gpu_mask, gpu_milli_each */
    MSG__RESULT_FIELDS = 16,  /* ref + state .. reason + tails */
    MSG__GPU_FIELDS = 4,      /* index, uuid, name, mem_total */
    MSG__STATS_FIELDS = 7,    /* node, parent, children, sent, received,
                                 bytes_out, bytes_in */
    MSG__EVENT_FIELDS = 3,    /* node, parent, event */
    MSG__EVENT_FIELDS_HELLO = 6, /* ... + worker_id, host, relay */
    MSG__BREPLY_FIELDS = 3,   /* node, exit_code, out */
    MSG__CUSTOM_COUNT_FIELDS = 3, /* name, total, free */
};

/* Number of body fields of a message type on the wire, or -1 when the type
 * is unknown. */
int msg__body_fields(int type);

#endif /* BANYAN_MSG_PRIVATE_H */
