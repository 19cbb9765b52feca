/* SPDX-License-Identifier: MIT */
/* fake_server.h - a tiny server that plays the worker protocol, for the
 * worker's integration tests.
 *
 * It binds a ROUTER on its own loop in the test process, answers HELLO with
 * WELCOME (when auto_welcome), PING with PONG, ACKs RESULT batches (when
 * auto_ack) and records everything it saw: HELLOs (with their running
 * lists), every result entry by (job, index, attempt) with a count, PINGs,
 * PONGs and BYEs.  Tests drive it with fs_run_until().
 *
 * The worker runs as a separate process: the built `banyan worker` when
 * $BANYAN_BIN has that subcommand, else a fork of the test that runs
 * worker_create() on a loop of its own.  It is started before the server
 * binds (ZeroMQ contexts must not cross a fork), which also exercises the
 * worker's HELLO retries.
 */
#ifndef BANYAN_TEST_FAKE_SERVER_H
#define BANYAN_TEST_FAKE_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "msg/msg.h"

/* One reported task. */
typedef struct fs_result {
    msg_task_ref_t task;
    unsigned count;            /* times reported to this server */
    banyan_task_state_t state;
    int32_t exit_code, term_signal;
    uint32_t flags;                /* BANYAN_END_* */
    char reason[BANYAN_TASK_REASON_MAX];
    double start_time, end_time;
    char *out, *err;           /* tails as text (malloc'd) */
    struct fs_result *next;
} fs_result_t;

typedef struct fs_hello {
    char worker_id[256];
    char name[256];
    uint32_t slots, cpus_milli, ngpus;
    int gpu_index[64];
    double score;
    bool noop;
    uint32_t nrunning;
    msg_task_ref_t running[64];
    uint64_t last_acked;
} fs_hello_t;

typedef struct fake_server {
    uv_loop_t *loop;
    msg_sock_t *sock;
    char endpoint[512];
    uint64_t epoch;
    uint32_t heartbeat_ms;
    bool auto_welcome, auto_ack;
    msg_peer_t peer;           /* routing id of the latest HELLO */
    bool have_peer;
    unsigned hellos, welcomes, pings, pongs, byes, others;
    uint64_t last_pong_seq;
    fs_hello_t hello;          /* the latest */
    unsigned batches;          /* RESULT messages */
    uint64_t max_seq, acked;
    uint64_t nresults;         /* entries, duplicates included */
    uint64_t duplicates;       /* entries already reported to this server */
    fs_result_t **buckets;     /* results by task */
    size_t nbuckets;
} fake_server_t;

/* Bind at endpoint on loop (an initialised loop of the test's).  Bails out
 * on failure. */
void fs_start(fake_server_t *s, uv_loop_t *loop, const char *endpoint,
              uint64_t epoch, uint32_t heartbeat_ms);
/* Same, with CURVE (sec may be NULL). */
void fs_start_secure(fake_server_t *s, uv_loop_t *loop, const char *endpoint,
                     uint64_t epoch, uint32_t heartbeat_ms,
                     const msg_security_t *sec);
/* Close the socket (the results stay readable) and free the results with
 * fs_free(). */
void fs_stop(fake_server_t *s);
void fs_free(fake_server_t *s);

/* Run the loop until pred(s, arg) holds or timeout_ms passes.  Returns
 * the predicate's last value. */
bool fs_run_until(fake_server_t *s, bool (*pred)(fake_server_t *, void *),
                  void *arg, int64_t timeout_ms);
/* Run the loop for ms. */
void fs_run_for(fake_server_t *s, int64_t ms);

void fs_send(fake_server_t *s, const msg_t *m);
void fs_welcome(fake_server_t *s);
void fs_ack(fake_server_t *s, uint64_t seq);
/* Send an ASSIGN of tasks [first, first+n) of job (attempt, slot 1 + i %
 * nslots, gpu_mask = masks[i % nmasks] when masks). */
void fs_assign_range(fake_server_t *s, uint32_t job, uint64_t first,
                     uint64_t n, uint32_t attempt, uint32_t nslots,
                     const uint64_t *masks, size_t nmasks);

fs_result_t *fs_result(const fake_server_t *s, uint32_t job, uint64_t index,
                       uint32_t attempt);

/* Predicates for fs_run_until. */
bool fs_has_hello(fake_server_t *s, void *min_hellos);   /* unsigned * */
bool fs_has_results(fake_server_t *s, void *min_entries); /* uint64_t * */

/* The worker process. */
typedef struct fs_worker_opts {
    const char *endpoint;
    uint32_t slots;
    bool noop;
    const char *gpus_env;      /* BANYAN_GPUS for the worker, NULL = unset */
    int64_t kill_grace_ms;     /* 0 = default */
    const char *key_file;      /* CURVE: worker key pair file and the */
    const char *server_key_file; /* server's public key file, or NULL */
} fs_worker_opts_t;

/* Start the worker (bails out on failure). */
pid_t fs_worker_start(const fs_worker_opts_t *o);
/* Wait up to timeout_ms for it to exit: its wait status, or -1 when it
 * did not (it is then killed with SIGKILL and reaped). */
int fs_worker_wait(pid_t pid, int64_t timeout_ms);
/* True when the worker runs as the real `banyan worker` binary. */
bool fs_worker_is_binary(void);

#endif /* BANYAN_TEST_FAKE_SERVER_H */
