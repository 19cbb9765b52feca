/* SPDX-License-Identifier: MIT */
/* msg.h - the wire protocol between clients, the server and workers.
 *
 * Transport: ZeroMQ.  The server has one ROUTER socket; workers and clients
 * connect DEALER sockets, so every message the server receives starts with
 * the peer's routing id frame.  After it (or alone, on a DEALER) comes ONE
 * payload frame: a MessagePack array
 *
 *     [MSG_MAGIC, MSG_VERSION, type, body...]
 *
 * whose body depends on the type (docs/protocol.md lists every message).
 * Messages carry batches: one ASSIGN holds many task starts, one RESULT many
 * results.  A job's definition (template, inputs, environment) crosses each
 * worker link once (MSG_JOB); ASSIGN entries then name only (job, index,
 * attempt, slot, GPUs), a few bytes per task, so that the server and the
 * worker expand and run tasks at 100,000 a second.
 *
 * Decoding treats its input as hostile: any malformed payload (wrong magic or
 * version, a type with the wrong body, a string or array longer than the
 * frame, a count beyond MSG_MAX_BATCH, out-of-range numbers, trailing bytes)
 * fails with EPROTO and a sentence, never crashes and never allocates more
 * than a small multiple of the frame size.  The caller drops the message
 * (or the peer) and counts it.
 *
 * Ownership: msg_decode() returns one heap block holding the message and all
 * its strings and arrays; free it with msg_free().  msg_encode() appends to a
 * util_buf_t the caller owns.
 */
#ifndef BANYAN_MSG_H
#define BANYAN_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/client.h>
#include <banyan/error.h>
#include <banyan/task.h>

#include <jansson.h>
#include <uv.h>

#include "res/res.h"
#include "sched/sched.h"
#include "tmpl/tmpl.h"
#include "util/util.h"

enum {
    MSG_MAGIC = 0xBA,          /* first element of every payload */
    MSG_VERSION = 3,           /* bumped on any incompatible change */
    MSG_MAX_BATCH = 65536,     /* entries in one ASSIGN/RESULT/... */
    MSG_MAX_STRING = 1 << 24,  /* bytes in one string or blob */
    MSG_MAX_ARGS = 4096,       /* words in a template, values in a source */
    MSG_MAX_FRAME = 1 << 26,   /* bytes in one payload frame (64 MiB); the
                                  sockets drop larger ones unread */
    MSG_HASH_LEN = 32,         /* a blob's name: BLAKE2b-256 of its bytes */
    MSG_MAX_JOB_BLOBS = 16,    /* blobs one job's tasks may need */
    MSG_BLOB_CHUNK = 1 << 20,  /* bytes in one BLOB_DATA / BLOB_PUT */
    MSG_SLOT_ANY = UINT32_MAX, /* ASSIGN slot: not placed yet; the receiving
                                  relay places it in its subtree */
};

typedef enum msg_type {
    /* worker <-> server */
    MSG_HELLO = 1,     /* w->s: I am this engine, with these resources and
                          these tasks running / finished-but-unacked */
    MSG_WELCOME = 2,   /* s->w: your engine id; heartbeat period */
    MSG_JOB = 3,       /* s->w: a job's definition, once per worker */
    MSG_ASSIGN = 4,    /* s->w: start these tasks */
    MSG_RESULT = 5,    /* w->s: these tasks ended (batch, with a seq) */
    MSG_ACK = 6,       /* s->w: results up to seq are durable */
    MSG_KILL = 7,      /* s->w: stop these tasks / this job */
    MSG_PING = 8,      /* either way: heartbeat */
    MSG_PONG = 9,
    MSG_BYE = 10,      /* either way: going away cleanly */
    /* the tree (docs/tree.md): "up" is child -> parent, "down" the other
     * way; the parent of a direct child of the server is the server */
    MSG_REDIRECT = 11, /* s->w: attach below this relay instead */
    MSG_SUMMARY = 12,  /* up: the sender's subtree (below it) and stats */
    MSG_NODES = 13,    /* up, forwarded to the root: nodes attached/lost */
    MSG_STEAL = 14,    /* up: my subtree is idle, give me work */
    MSG_RECALL = 15,   /* down: give back up to n queued tasks */
    MSG_RETURN = 16,   /* up: queued tasks given back (answer to RECALL) */
    MSG_DENY = 17,     /* down: your STEAL found nothing */
    MSG_REJECT = 18,   /* up: no engine of my subtree can ever run these */
    MSG_ORPHAN = 19,   /* up, forwarded to the root: tasks held by a lost
                          relay child; the root holds them for the grace */
    MSG_BCAST = 20,    /* down: run this on every engine */
    MSG_BREPLY = 21,   /* up: one coalesced reply for a subtree */
    MSG_BLOB_GET = 22, /* up: send me this chunk of a blob */
    MSG_BLOB_DATA = 23,/* down: a chunk of a blob */
    MSG_BLOB_NONE = 24,/* down: nobody above has this blob */
    /* client <-> server: requests carry a client-chosen id echoed back */
    MSG_SUBMIT = 32,   /* c->s: a job */
    MSG_SUBMITTED = 33,/* s->c: its id, after it is durable */
    MSG_WAIT = 34,     /* c->s: reply when the job has ended */
    MSG_JOBSTATE = 35, /* s->c: a job's counts and state */
    MSG_QUERY = 36,    /* c->s: status / results / log / explain, as JSON */
    MSG_ANSWER = 37,   /* s->c: the answer, as JSON text */
    MSG_CANCEL = 38,   /* c->s: cancel a job */
    MSG_ERROR = 39,    /* s->c: the request failed: errno + sentence */
    MSG_BROADCAST = 40,/* c->s: broadcast a command / a blob; answered by
                          ANSWER (JSON) when every engine replied */
    MSG_BLOB_PUT = 41, /* c->s: one chunk of a blob to store; the last
                          chunk is answered by ANSWER {"hash": ...} */
} msg_type_t;

/* Name of a type ("HELLO"), or "?" . */
const char *msg_type_name(int type);

/* ------------------------------------------------------------- bodies */

/* A task, as the server names it to a worker. */
typedef struct msg_task_ref {
    uint32_t job;
    uint64_t index;
    uint32_t attempt;
} msg_task_ref_t;

/* One GPU a worker offers. */
typedef struct msg_gpu {
    int32_t index;
    const char *uuid;
    const char *name;
    uint64_t mem_total_bytes;
} msg_gpu_t;

typedef struct msg_hello {
    const char *worker_id;   /* stable per worker process (host:pid:start) */
    const char *name;        /* --name, default the host name */
    const char *host;
    uint32_t slots;
    uint32_t cpus_milli;
    uint64_t mem_bytes;
    uint32_t ngpus;
    msg_gpu_t *gpus;
    uint32_t ncustom;
    res_custom_t *custom;
    double score;            /* capability score, 0 if unknown */
    bool noop;               /* --noop: completes tasks without running */
    uint32_t nrunning;       /* tasks still running from an earlier server */
    msg_task_ref_t *running;
    uint64_t last_acked;     /* highest RESULT seq the worker saw acked */
    const char *relay;       /* endpoint where this worker accepts children
                                (its ROUTER); NULL = it cannot relay */
    uint32_t node;           /* node id from a REDIRECT (or an earlier
                                WELCOME), 0 = none yet */
} msg_hello_t;

/* The capacity a HELLO offers (its GPUs and custom resources capped at
 * RES_MAX_GPUS and RES_MAX_CUSTOM), as a pool takes it. */
void msg_hello_capacity(const msg_hello_t *h, res_capacity_t *cap);

typedef struct msg_welcome {
    uint32_t engine_id;
    uint64_t server_epoch;   /* changes when the server restarts */
    uint32_t heartbeat_ms;   /* PING period; peer lost after 5 periods */
} msg_welcome_t;

/* A job's definition: the one shape of a job between a client and the
 * processes that run its tasks.  A client sends it in SUBMIT, the server
 * stores it as JSON (msg_job_to_json) and serves what it reloads
 * (msg_job_from_json) in JOB, once per link; a worker expands its tasks
 * from it (msg_job_tasks) and a relay's core places them
 * (msg_job_sched).  The MessagePack record is put_job_fields /
 * r_job_fields in msg_encode.c / msg_decode.c; the JSON one is in
 * msg_job.c. */
typedef struct msg_job {
    uint32_t id;
    uint32_t nwords;         /* command template words (tmpl syntax) */
    const char **words;
    uint32_t nsources;       /* input sources (values borrowed) */
    const banyan_source_t *sources;
    uint64_t array_first;    /* --array FIRST-LAST: with nsources == 0, */
    uint64_t array_count;    /* task i gets {} = first + i; 0 = no array */
    uint32_t nenv;           /* "K=V" */
    const char **env;
    const char *cwd;         /* NULL = the worker's */
    int64_t timeout_ms;
    uint32_t flags;          /* MSG_JOB_* */
    uint32_t nblobs;         /* blobs the tasks need (<= MSG_MAX_JOB_BLOBS):
                                each MSG_HASH_LEN bytes; an engine fetches
                                them through its parent before starting the
                                job's first task; task env BANYAN_BLOB_<i> =
                                the cached file's path */
    const uint8_t (*blobs)[MSG_HASH_LEN];
    res_request_t req;       /* what every task needs: a relay places the
                                job's tasks on its children with it (exact
                                slot and GPUs on engine children); slots 0
                                (zero-initialised) is taken as 1 */
    int32_t priority;        /* higher runs first */
    /* SUBMIT and the stored definition only (not in JOB: the root
     * decides retries): */
    const char *name;        /* optional label */
    uint32_t max_attempts;   /* runs per task; 0 is taken as 1 */
} msg_job_t;

enum msg_job_flags {
    MSG_JOB_STDIN_BLOB = 1,  /* each task's stdin is blobs[0] */
};

/* The job as the server stores it: a JSON object with the fields above
 * (id aside; the blobs as lowercase hex names).  NULL with ENOMEM.  Caller
 * must json_decref(). */
json_t *msg_job_to_json(const msg_job_t *d);

/* Read a stored definition into d (d->id is left alone).  Strings are
 * borrowed from spec; the arrays are d's own: release them with
 * msg_job_fini().  A spec written before a field existed reads it as 0.
 * 0, or -1 with EINVAL (not a definition) or ENOMEM and a sentence; d then
 * holds nothing to release. */
int msg_job_from_json(msg_job_t *d, const json_t *spec,
                      banyan_error_t *error);
void msg_job_fini(msg_job_t *d);

/* The one count of a job's tasks, with its template checked against its
 * inputs: the combinations of its sources, its array range, or 1.  tmpl
 * and inputs are both NULL, or receive the parsed template and the inputs
 * (NULL for an array or no inputs), which the caller must destroy.  0, or -1 with EINVAL (a bad template, arity or range) or
 * ENOMEM and a sentence. */
int msg_job_tasks(const msg_job_t *d, uint64_t *ntasks, tmpl_t **tmpl,
                  tmpl_inputs_t **inputs, banyan_error_t *error);

/* The core's view of the job (id, priority, request, attempts, with 0
 * slots and 0 attempts taken as 1). */
void msg_job_sched(const msg_job_t *d, sched_job_t *out);

/* Start one task: the allocation chosen by the server's core. */
typedef struct msg_assign_entry {
    msg_task_ref_t task;
    uint32_t slot;
    uint64_t gpu_mask;       /* positions in the worker's HELLO gpus[] */
    uint32_t gpu_milli_each;
} msg_assign_entry_t;

typedef struct msg_assign {
    uint32_t n;
    msg_assign_entry_t *entries;
} msg_assign_t;

/* How one task ended. */
typedef struct msg_result_entry {
    msg_task_ref_t task;
    banyan_task_end_t end;   /* as its engine classified it (times are
                                the worker's wall clock); the decoder
                                checks state and flags */
    uint32_t out_tail_len;   /* last bytes of stdout / stderr */
    const void *out_tail;
    uint32_t err_tail_len;
    const void *err_tail;
} msg_result_entry_t;

typedef struct msg_result {
    uint64_t seq;            /* per worker, increasing; ACKed by server */
    uint32_t n;
    msg_result_entry_t *entries;
} msg_result_t;

typedef struct msg_ack {
    uint64_t seq;
} msg_ack_t;

typedef struct msg_kill {
    uint32_t job;            /* all tasks of job when n == 0 */
    uint32_t n;
    msg_task_ref_t *tasks;
} msg_kill_t;

/* Attach below a relay: connect to endpoint and say HELLO with node. */
typedef struct msg_redirect {
    uint32_t node;           /* the id the root gave this worker */
    uint32_t parent;         /* the relay's node id */
    const char *endpoint;    /* the relay's ROUTER */
} msg_redirect_t;

/* Per-node counters, for `banyan status --tree`. */
typedef struct msg_node_stats {
    uint32_t node;
    uint32_t parent;
    uint32_t children;
    uint64_t sent, received;        /* messages */
    uint64_t bytes_out, bytes_in;
} msg_node_stats_t;

/* One custom resource of a subtree (SUMMARY). */
typedef struct msg_custom_count {
    char name[RES_NAME_MAX]; /* non-empty, NUL-terminated */
    uint64_t total;          /* units on the subtree's engines */
    uint64_t free;           /* of those, not held by tasks now (<= total,
                                as far as the sender knows) */
} msg_custom_count_t;

/* A subtree below the sender (its own engine is in its HELLO). */
typedef struct msg_summary {
    uint32_t engines;
    uint64_t slots;
    uint64_t cpus_milli;
    uint64_t mem_bytes;
    uint32_t gpus;           /* whole GPUs */
    uint64_t queued;         /* tasks queued, not started, in the subtree
                                (the sender's own queue included) */
    uint64_t free_slots;
    uint32_t nstats;         /* the sender and every node below it */
    msg_node_stats_t *stats;
    uint32_t ncustom;        /* the subtree's custom resources: at most
                                RES_MAX_CUSTOM distinct names, like a
                                HELLO's (the first ones met, docs/tree.md) */
    msg_custom_count_t *custom;
} msg_summary_t;

enum msg_node_event {
    MSG_NODE_ATTACHED = 1,
    MSG_NODE_LOST = 2,       /* silent for the heartbeat limit */
    MSG_NODE_LEFT = 3,       /* said BYE */
};

typedef struct msg_node_event_entry {
    uint32_t node;
    uint32_t parent;         /* where it was / is attached */
    uint32_t event;          /* msg_node_event */
    /* ATTACHED only, else NULL: the node's HELLO as its parent saw it, so
     * that a root that restarted can take the node back with its id
     * (docs/tree.md, "Restart of the root").  NULL = not given. */
    const char *worker_id;
    const char *host;
    const char *relay;       /* its ROUTER endpoint */
} msg_node_event_entry_t;

typedef struct msg_nodes {
    uint32_t n;
    msg_node_event_entry_t *events;
} msg_nodes_t;

typedef struct msg_steal {
    uint32_t want;           /* slots free in the thief's subtree */
} msg_steal_t;

typedef struct msg_recall {
    uint32_t n;
} msg_recall_t;

/* RETURN (tasks given back; done: the recall is fully answered),
 * REJECT (reason set) and ORPHAN (node: the lost relay) share a shape. */
typedef struct msg_tasks {
    uint32_t node;           /* ORPHAN: the lost relay; else 0 */
    bool done;               /* RETURN: last message of the answer */
    const char *reason;      /* REJECT: why (required); else NULL */
    uint32_t n;
    msg_task_ref_t *tasks;
} msg_tasks_t;

typedef struct msg_bcast {
    uint64_t id;             /* unique per root */
    uint32_t nwords;         /* command; 0 = acknowledge only (no spawn) */
    const char **words;
    const uint8_t *blob;     /* MSG_HASH_LEN bytes or NULL: fetch (and
                                cache) this blob first; BANYAN_BLOB_0 */
    uint32_t timeout_ms;     /* each node answers by then */
    bool want_output;        /* replies carry each engine's output tail */
} msg_bcast_t;

typedef struct msg_breply_entry {
    uint32_t node;
    int32_t exit_code;       /* -1 signal / spawn failure / blob missing */
    uint32_t out_len;
    const void *out;         /* stdout tail (+ stderr), may be NULL */
} msg_breply_entry_t;

typedef struct msg_breply {
    uint64_t id;
    uint32_t ok, failed, missing;
    uint32_t n;              /* want_output: one entry per engine that ran */
    msg_breply_entry_t *entries;
} msg_breply_t;

/* BLOB_GET: request [offset, offset + len) of a blob. */
typedef struct msg_blob_get {
    const uint8_t *hash;     /* MSG_HASH_LEN bytes */
    uint64_t offset;
    uint32_t len;            /* <= MSG_BLOB_CHUNK */
} msg_blob_get_t;

/* BLOB_DATA (down) and BLOB_PUT (client -> server, request set). */
typedef struct msg_blob_data {
    uint64_t request;        /* BLOB_PUT only; 0 in BLOB_DATA */
    const uint8_t *hash;
    uint64_t offset;
    uint64_t total;          /* the blob's size */
    uint32_t len;            /* <= MSG_BLOB_CHUNK */
    const void *data;
} msg_blob_data_t;

/* BLOB_NONE */
typedef struct msg_blob_none {
    const uint8_t *hash;
} msg_blob_none_t;

typedef struct msg_broadcast {
    uint64_t request;
    uint32_t nwords;         /* 0 = acknowledge only */
    const char **words;
    const uint8_t *blob;     /* NULL or a hash stored by BLOB_PUT */
    uint32_t timeout_ms;
    bool want_output;
} msg_broadcast_t;

typedef struct msg_ping {
    uint64_t seq;
    double sent;             /* sender's monotonic seconds, echoed in PONG */
} msg_ping_t;

/* A job as a client submits it (job.id ignored). */
typedef struct msg_submit {
    uint64_t request;        /* client's id, echoed */
    msg_job_t job;
} msg_submit_t;

typedef struct msg_submitted {
    uint64_t request;
    uint32_t job;
    uint64_t ntasks;
} msg_submitted_t;

typedef struct msg_wait {
    uint64_t request;
    uint32_t job;
} msg_wait_t;

typedef struct msg_jobstate {
    uint64_t request;
    uint32_t job;
    const char *state;       /* "queued", "running", "done", "failed",
                                "cancelled" */
    uint64_t ntasks, pending, running, ok, failed;
} msg_jobstate_t;

/* Read requests: what = "status", "results", "log", "explain"; args is a
 * JSON object text ({"job": 3, "task": 17, "offset": 0}). */
typedef struct msg_query {
    uint64_t request;
    const char *what;
    const char *args_json;
} msg_query_t;

typedef struct msg_answer {
    uint64_t request;
    const char *json;        /* the answer, JSON text */
} msg_answer_t;

typedef struct msg_cancel {
    uint64_t request;
    uint32_t job;
} msg_cancel_t;

typedef struct msg_error {
    uint64_t request;
    int32_t code;            /* errno value */
    const char *text;
} msg_error_t;

/* A decoded message: type says which member is valid. */
typedef struct msg {
    msg_type_t type;
    union {
        msg_hello_t hello;
        msg_welcome_t welcome;
        msg_job_t job;
        msg_assign_t assign;
        msg_result_t result;
        msg_ack_t ack;
        msg_kill_t kill;
        msg_ping_t ping;       /* PING and PONG */
        msg_submit_t submit;
        msg_submitted_t submitted;
        msg_wait_t wait;
        msg_jobstate_t jobstate;
        msg_query_t query;
        msg_answer_t answer;
        msg_cancel_t cancel;
        msg_error_t error;
        msg_redirect_t redirect;
        msg_summary_t summary;
        msg_nodes_t nodes;
        msg_steal_t steal;
        msg_recall_t recall;
        msg_tasks_t tasks;     /* RETURN, REJECT, ORPHAN */
        msg_bcast_t bcast;
        msg_breply_t breply;
        msg_blob_get_t blob_get;
        msg_blob_data_t blob_data; /* BLOB_DATA, BLOB_PUT */
        msg_blob_none_t blob_none;
        msg_broadcast_t broadcast;
    } u;
} msg_t;

/* Append the payload of m to out.  0, or -1 with EINVAL (a count or
 * string beyond the limits) / ENOMEM.  BYE has no body. */
int msg_encode(const msg_t *m, util_buf_t *out);

/* Decode one payload frame.  Returns a message (free with msg_free()), or
 * NULL with EPROTO (malformed: a sentence in error) or ENOMEM.  Optional
 * strings absent on the wire are NULL; lists with no entries have n == 0
 * and a NULL array; blobs are followed by a NUL byte (not counted in the
 * length), so that text tails can be printed as they are. */
msg_t *msg_decode(const void *data, size_t len, banyan_error_t *error);
void msg_free(msg_t *m);

/* ------------------------------------------------------------ sockets */

/* A ZeroMQ socket on a libuv loop.  The zmq context and socket stay inside
 * this module.  A server binds a ROUTER; workers and clients connect a
 * DEALER.  Received messages are decoded and handed to the callback with
 * the sender's routing id (ROUTER) or an empty peer (DEALER); malformed
 * payloads are dropped and counted (msg_sock_stats), never delivered.
 * ZMQ_FD is edge-triggered: the module drains the socket whenever it may be
 * readable (after a poll event and after each send), so no message waits. */
typedef struct msg_sock msg_sock_t;

enum { MSG_PEER_MAX = 256 };

/* What a peer authenticated as (docs/security.md, "Roles"). */
enum {
    MSG_ROLE_CLIENT = 1,       /* may submit, query, cancel, upload */
    MSG_ROLE_WORKER = 2,       /* may join as an engine (HELLO, RESULT...) */
    MSG_ROLE_ANY = MSG_ROLE_CLIENT | MSG_ROLE_WORKER,  /* admin */
};

/* A peer's routing id (ROUTER side).  len == 0 on a DEALER. */
typedef struct msg_peer {
    uint8_t id[MSG_PEER_MAX];
    size_t len;
    unsigned roles;            /* MSG_ROLE_*, from its handshake: the roles
                                  of its key on the allow-lists; every role
                                  when the socket checks no key */
    char key[41];              /* its CURVE public key (Z85) when an
                                  allow-list checked it, else "" */
} msg_peer_t;

/* Called for each well-formed message; m is owned by the callee (free it
 * with msg_free()).  A DEALER whose handshake the server refuses gets an
 * ERROR (request 0, code EACCES) saying why, made up here. */
typedef void (*msg_recv_cb)(msg_sock_t *s, const msg_peer_t *from, msg_t *m,
                            void *arg);

/* Security (docs/security.md).  All keys are Z85 text (40 chars). */
typedef struct msg_security {
    const char *public_key;    /* own key pair; NULL = no CURVE */
    const char *secret_key;
    const char *server_key;    /* DEALER: the server's public key */
    const char *const *allowed;/* ROUTER: client keys, NULL-ended */
    const char *const *workers;/* ROUTER: worker keys, NULL-ended (a key on
                                  both lists has both roles).  Both NULL:
                                  any key, every role */
    const char *token;         /* without CURVE: the shared secret a peer
                                  must give (ROUTER), or gives (DEALER),
                                  by ZeroMQ's PLAIN mechanism; NULL = the
                                  user's token on a loopback endpoint
                                  (tcp, ipc: msg_token_for; a ROUTER makes
                                  it), none elsewhere */
} msg_security_t;

/* Bind a ROUTER at endpoint ("tcp://127.0.0.1:7878", "tcp://127.0.0.1:0"
 * for an ephemeral port, "ipc:///path").  sec may be NULL (no CURVE).
 * NULL with errno and a sentence.  Caller must close with
 * msg_sock_close(). */
msg_sock_t *msg_sock_bind(uv_loop_t *loop, const char *endpoint,
                          const msg_security_t *sec, msg_recv_cb cb,
                          void *arg, banyan_error_t *error);

/* Connect a DEALER to endpoint; it reconnects by itself when the link
 * drops.  NULL with errno and a sentence. */
msg_sock_t *msg_sock_connect(uv_loop_t *loop, const char *endpoint,
                             const msg_security_t *sec, msg_recv_cb cb,
                             void *arg, banyan_error_t *error);

/* The endpoint actually bound (with the port chosen for ":0").
 * Borrowed. */
const char *msg_sock_endpoint(const msg_sock_t *s);

/* "tcp://ADDR:0" for the address this host reaches endpoint's host from,
 * into out ("" when it cannot tell): a UDP socket connected there says
 * which, without sending anything. */
void msg_local_endpoint(const char *endpoint, char *out, size_t size);

/* Send m to peer (ROUTER; NULL on a DEALER, where it is ignored).  0, or
 * -1 with EAGAIN (the peer's queue is full or it is gone), EHOSTUNREACH
 * (unknown peer), EINVAL (cannot encode, or no peer on a ROUTER), EMSGSIZE
 * (payload over MSG_MAX_FRAME) or ENOMEM.  Never calls the receive callback
 * itself: messages that arrived meanwhile are delivered on a later loop
 * iteration, so it is safe to call from inside the callback. */
int msg_sock_send(msg_sock_t *s, const msg_peer_t *to, const msg_t *m);

typedef struct msg_sock_stats {
    uint64_t received;     /* well-formed messages delivered */
    uint64_t malformed;    /* payloads dropped by the decoder */
    uint64_t sent;
    uint64_t bytes_in, bytes_out;
    uint64_t refused;      /* peers refused by CURVE / the allow-list /
                              the token (ROUTER), or handshakes the
                              server refused (DEALER) */
} msg_sock_stats_t;

void msg_sock_stats(const msg_sock_t *s, msg_sock_stats_t *st);

/* One line on the last refused peer ("key <Z85> not on the allow-list,
 * from 10.0.0.7", or "handshake failed (...)"), "" when none.  The owner
 * logs it when stats.refused grows.  Borrowed; valid until the next loop
 * iteration. */
const char *msg_sock_last_refused(const msg_sock_t *s);

/* The decoder's sentence for the last malformed payload dropped, "" when
 * none.  Borrowed; valid until the next loop iteration. */
const char *msg_sock_last_malformed(const msg_sock_t *s);

/* Stop watching and close (linger 0 on a ROUTER, a short linger on a
 * DEALER so a final message gets out).  Run the loop once more to finish
 * closing.  Accepts NULL.  May be called from the receive callback; no
 * callback runs after it.  Closing the process's last socket terminates the
 * shared zmq context, which waits up to the DEALER linger (500 ms) for
 * unsent messages. */
void msg_sock_close(msg_sock_t *s);

/* Write a new CURVE key pair (Z85) into public_key[41] / secret_key[41].
 * 0 or -1 (ENOTSUP when libzmq has no CURVE). */
int msg_curve_keypair(char *public_key, char *secret_key);

/* The user's token (msg_token.c, docs/security.md): a server listening on
 * loopback without CURVE keys wants it from every peer. */
enum {
    MSG_TOKEN_LEN = 64,        /* hex digits */
    MSG_TOKEN_PATH_MAX = 4096,
};

/* Where the token file is: $BANYAN_TOKEN_FILE, else
 * $XDG_CONFIG_HOME/banyan/token, else $HOME/.config/banyan/token.  0, or
 * -1 with EINVAL and a sentence (no HOME). */
int msg_token_path(char *path, size_t size, banyan_error_t *error);

/* Read the token into out[MSG_TOKEN_LEN + 1]; with create, make one first
 * when there is none (0600, its directories 0700).  0, or -1 with errno
 * and a sentence naming the file: ENOENT (none), EPERM (others may read
 * it, or another user owns it), EINVAL (not a token). */
int msg_token_load(bool create, char *out, banyan_error_t *error);

/* The token a link to or from endpoint uses: one exactly when the
 * endpoint is loopback (msg_endpoint_is_loopback) and the link has no
 * CURVE keys.  1 with it in out[MSG_TOKEN_LEN + 1]; 0 when none applies;
 * -1 as msg_token_load (ENOENT: there is none, and the sentence says what
 * to do). */
int msg_token_for(const char *endpoint, bool curve, bool create, char *out,
                  banyan_error_t *error);

/* Is the endpoint on the loopback interface (tcp://127.x, tcp://[::1],
 * tcp://localhost, ipc://, inproc://)? */
bool msg_endpoint_is_loopback(const char *endpoint);

#endif /* BANYAN_MSG_H */
