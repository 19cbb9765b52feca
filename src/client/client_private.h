/* SPDX-License-Identifier: MIT */
/* client_private.h - shared between the files of the client module.
 *
 * client.c owns the connection and the request engine: client__request()
 * sends one message and runs the private loop until the matching answer
 * (same request id), the deadline, or a signal; client__send() sends one
 * without waiting (the chunks of an upload).  client_job.c builds the
 * requests; client_blob.c uploads blobs and broadcasts; client_key.c reads
 * and writes key files.
 */
#ifndef BANYAN_CLIENT_PRIVATE_H
#define BANYAN_CLIENT_PRIVATE_H

#include <stdint.h>

#include <banyan/client.h>

#include "msg/msg.h"

/* How client__request() treats a long wait. */
typedef struct client__call {
    int64_t timeout_ms;      /* < 0: no deadline */
    int64_t resend_ms;       /* > 0: send the request again this often
                                (WAIT across a server restart) */
    const char *what;        /* for error text: "submit", "wait", ... */
    uint64_t request;        /* > 0: use this request id (from
                                client__new_request) instead of a fresh
                                one, so that the chunks of one upload
                                share it */
} client__call_t;

/* A fresh request id, for calls that share one. */
uint64_t client__new_request(banyan_client_t *c);

/* Set req's request id, send it, and wait for the answer with that id.
 * Returns the answer (caller must msg_free()), which is never MSG_ERROR:
 * an error answer becomes NULL with its errno and text.  NULL with
 * ECONNREFUSED, ETIMEDOUT, EINTR, or the send's errno. */
msg_t *client__request(banyan_client_t *c, msg_t *req,
                       const client__call_t *call, banyan_error_t *error);

/* Send req (its request id set as client__request does) without waiting
 * for an answer: return once the socket took it.  A send the socket refuses
 * for now (EAGAIN: its queue is full) is retried until call->timeout_ms.
 * 0 when sent, with *early NULL, or with *early the answer to this request
 * id that already came (caller must msg_free()); -1 with errno and text when
 * the send failed, the deadline passed, a signal came, the endpoint refuses
 * connections, or the server already answered with an ERROR. */
int client__send(banyan_client_t *c, msg_t *req, const client__call_t *call,
                 msg_t **early, banyan_error_t *error);

/* Take r, client__request's answer to a what request: its JSON text into
 * *json (caller must free()).  0, or -1 with errno and text when r is NULL
 * (the request failed) or not an ANSWER (EPROTO). */
int client__answer(msg_t *r, const char *what, char **json,
                   banyan_error_t *error);

/* The deadline of ordinary requests. */
int64_t client__timeout_ms(const banyan_client_t *c);

/* Is a 40-character Z85 key? */
bool client__key_valid(const char *key);

#endif /* BANYAN_CLIENT_PRIVATE_H */
