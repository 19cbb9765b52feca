/* SPDX-License-Identifier: MIT */
/* harness.h - fake workers and clients for the server's tests.
 *
 * Everything runs on one libuv loop in the test process: the server under
 * test, and DEALER sockets playing workers and clients.  A fake keeps every
 * message it receives in arrival order; h_run_until() turns the loop until
 * a condition holds (or a generous deadline passes) and answers PINGs of
 * the fakes that are "alive".
 */
#ifndef BANYAN_TEST_SERVER_HARNESS_H
#define BANYAN_TEST_SERVER_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "msg/msg.h"
#include "server/server.h"

enum { FAKE_MAX_MSGS = 4096 };

typedef struct fake {
    msg_sock_t *sock;
    msg_t *msgs[FAKE_MAX_MSGS];  /* received, in order */
    int n;
    bool alive;                  /* answers PINGs */
    int seen;                    /* messages already handled by the test */
    uint64_t result_seq;
    uint64_t acked;              /* highest ACK seen */
    char worker_id[64];
    const char *host;            /* HELLO's host; NULL = this machine's
                                    (placed by balance, not grouped) */
} fake_t;

typedef struct harness {
    uv_loop_t loop;
    uv_timer_t tick;
    char dir[1024];
    char endpoint[1100];
    char db[1100];
    server_t *server;
    fake_t *fakes[16];
    int nfakes;
} harness_t;

void h_init(harness_t *h, const char *name);
void h_fini(harness_t *h);
server_t *h_server(harness_t *h, const server_options_t *extra);
void h_server_stop(harness_t *h);

fake_t *h_fake(harness_t *h);
void h_fake_close(harness_t *h, fake_t *f);

/* Turn the loop until cond(arg) is true or timeout_ms passes. */
bool h_run_until(harness_t *h, bool (*cond)(void *arg), void *arg,
                 int timeout_ms);
void h_run_for(harness_t *h, int ms);

/* Worker side. */
void f_hello(fake_t *f, const char *worker_id, uint32_t slots, uint32_t ngpus,
             const msg_task_ref_t *running, uint32_t nrunning);
/* HELLO of a worker that can relay (relay = its endpoint), with the node
 * id it was given (0 = none yet). */
void f_hello_relay(fake_t *f, const char *worker_id, uint32_t slots,
                   const char *relay, uint32_t node,
                   const msg_task_ref_t *running, uint32_t nrunning);
bool f_welcomed(harness_t *h, fake_t *f);
/* Turn the loop until f has received n messages of type (5 s at most). */
bool f_wait_for(harness_t *h, fake_t *f, msg_type_t type, int n);
/* Collect ASSIGN entries not yet taken into out (up to max); count. */
int f_take_assigns(fake_t *f, msg_assign_entry_t *out, int max);
/* Report tasks: exit code for all, optional stdout tail. */
uint64_t f_results(fake_t *f, const msg_task_ref_t *t, int n, int exit_code,
                   uint32_t flags, const char *out);
int f_count(fake_t *f, msg_type_t type);
msg_t *f_last(fake_t *f, msg_type_t type);

/* Client side. */
void c_submit_array(fake_t *f, uint64_t request, const char *const *words,
                    int nwords, uint64_t count, const res_request_t *req,
                    uint32_t max_attempts);
void c_query(fake_t *f, uint64_t request, const char *what,
             const char *args);
void c_wait(fake_t *f, uint64_t request, uint32_t job);
void c_cancel(fake_t *f, uint64_t request, uint32_t job);
/* The reply with this request id (SUBMITTED, ANSWER, JOBSTATE, ERROR). */
msg_t *c_reply(fake_t *f, uint64_t request);
msg_t *c_wait_reply(harness_t *h, fake_t *f, uint64_t request, int ms);

#endif
