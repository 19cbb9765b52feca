/* SPDX-License-Identifier: MIT */
/* rawpeer.c - a hostile peer for the integration tests: a raw ZeroMQ
 * DEALER that sends malformed frames to a live server.
 *
 *   integ_rawpeer ENDPOINT ROUNDS
 *   integ_rawpeer ENDPOINT N status
 *   integ_rawpeer ENDPOINT hello ID [KEY_FILE SERVER_PUB_FILE]
 *
 * Each round sends seven bad messages: random bytes, a truncated header, a
 * wrong magic, a wrong version, an unknown type, a valid PING followed by
 * trailing bytes, and a two-frame message; the server must drop and count
 * every one (status "malformed") and keep serving.  Rounds are seeded by
 * their number, so a run is reproducible.  With "status", it sends N
 * well-formed status QUERYs as fast as the link takes them, then waits
 * for their answers: a flood.  Prints "sent N" (the messages that left) and
 * exits 0, or 3 when the socket cannot be set up.  With "hello", it says
 * HELLO as worker ID (with CURVE keys when given, else the user's token)
 * and prints what came back within 5 s: "welcome ENGINE", "error TEXT"
 * or "nothing".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include <banyan/client.h>

#include "msg/msg.h"

enum { KINDS = 7 };

/* One malformed payload of kind k into buf; returns its length. */
static size_t bad_payload(int k, unsigned *seed, unsigned char *buf)
{
    switch (k) {
    case 0: { /* random bytes */
        size_t n = 1 + (size_t)(rand_r(seed) % 200);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rand_r(seed);
        buf[0] = 0x93 + (unsigned char)(rand_r(seed) % 8); /* an array */
        return n;
    }
    case 1: /* fixarray of 3 with only the magic */
        buf[0] = 0x93;
        buf[1] = 0xcc;
        buf[2] = 0xba;
        return 3;
    case 2: /* wrong magic: [0x42, 1, 10] */
        memcpy(buf, "\x93\x42\x01\x0a", 4);
        return 4;
    case 3: /* wrong version: [0xba, 99, 10] */
        memcpy(buf, "\x93\xcc\xba\x63\x0a", 5);
        return 5;
    case 4: /* unknown type: [0xba, 1, 200] */
        memcpy(buf, "\x93\xcc\xba\x01\xcc\xc8", 6);
        return 6;
    default: /* a PING [0xba, 1, 8, 1, 0.0] and trailing garbage */
        memcpy(buf, "\x95\xcc\xba\x01\x08\x01\xcb\0\0\0\0\0\0\0\0\xff\xff",
               17);
        return 17;
    }
}

/* HELLO as worker id; prints the answer.  0, or 3. */
static int hello(const char *endpoint, const char *id, const char *keyfile,
                 const char *serverfile)
{
    char pub[41], sec[41], spub[41], token[MSG_TOKEN_LEN + 1];
    banyan_error_t err;
    bool curve = keyfile != NULL;
    if (curve && (banyan_key_read(keyfile, pub, sec, &err) < 0
                  || banyan_key_read(serverfile, spub, NULL, &err) < 0)) {
        fprintf(stderr, "integ_rawpeer: %s\n", err.text);
        return 3;
    }
    int t = msg_token_for(endpoint, curve, false, token, &err);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    int linger = 0, wait_ms = 5000;
    if (t < 0 || !s
        || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) < 0
        || zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait_ms, sizeof(wait_ms)) < 0
        || (curve && (zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40) < 0
                      || zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40) < 0
                      || zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, spub,
                                        40) < 0))
        || (t > 0 && (zmq_setsockopt(s, ZMQ_PLAIN_USERNAME, "x", 1) < 0
                      || zmq_setsockopt(s, ZMQ_PLAIN_PASSWORD, token,
                                        strlen(token)) < 0))
        || zmq_connect(s, endpoint) < 0) {
        fprintf(stderr, "integ_rawpeer: cannot set up the socket\n");
        return 3;
    }
    msg_t m = {.type = MSG_HELLO};
    m.u.hello.worker_id = id;
    m.u.hello.name = "forger";
    m.u.hello.slots = 1;
    m.u.hello.cpus_milli = 1000;
    util_buf_t b = UTIL_BUF_INIT;
    if (msg_encode(&m, &b) == 0)
        zmq_send(s, b.data, b.len, 0);
    util_buf_fini(&b);
    char buf[4096];
    int n = zmq_recv(s, buf, sizeof(buf), 0);
    msg_t *r = n > 0 && (size_t)n <= sizeof(buf)
                   ? msg_decode(buf, (size_t)n, &err)
                   : NULL;
    if (r && r->type == MSG_WELCOME)
        printf("welcome %u\n", r->u.welcome.engine_id);
    else if (r && r->type == MSG_ERROR)
        printf("error %s\n", r->u.error.text ? r->u.error.text : "");
    else
        printf("nothing\n");
    msg_free(r);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[2], "hello") == 0)
        return hello(argv[1], argv[3], argc > 5 ? argv[4] : NULL,
                     argc > 5 ? argv[5] : NULL);
    bool flood = argc == 4 && strcmp(argv[3], "status") == 0;
    if (argc != 3 && !flood) {
        fprintf(stderr, "usage: integ_rawpeer ENDPOINT ROUNDS [status]\n");
        return 2;
    }
    long rounds = strtol(argv[2], NULL, 10);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    int linger = flood ? -1 : 2000;   /* a flood waits until all left */
    /* The user's token, as every client gives it on loopback: the peer is
     * hostile in what it sends, not in who it is. */
    char token[MSG_TOKEN_LEN + 1];
    banyan_error_t err;
    int t = msg_token_for(argv[1], false, false, token, &err);
    if (t < 0) {
        fprintf(stderr, "integ_rawpeer: %s\n", err.text);
        return 3;
    }
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
        (t && (zmq_setsockopt(s, ZMQ_PLAIN_USERNAME, "x", 1) < 0 ||
               zmq_setsockopt(s, ZMQ_PLAIN_PASSWORD, token,
                              strlen(token)) < 0)) ||
        zmq_connect(s, argv[1]) < 0) {
        fprintf(stderr, "integ_rawpeer: %s\n", zmq_strerror(zmq_errno()));
        return 3;
    }
    unsigned char buf[256];
    long sent = 0;
    util_buf_t q = UTIL_BUF_INIT;
    msg_t m = {.type = MSG_QUERY};
    m.u.query.what = "status";
    m.u.query.args_json = "{}";
    for (long r = 0; flood && r < rounds; r++) {
        m.u.query.request = (uint64_t)r + 1;
        util_buf_reset(&q);
        if (msg_encode(&m, &q) == 0
            && zmq_send(s, q.data, q.len, 0) == (int)q.len)
            sent++;
    }
    util_buf_fini(&q);
    /* Stay until the answers came (a closed link drops what the server
     * has not read yet): up to 60 s without one. */
    int wait_ms = 60000;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait_ms, sizeof(wait_ms));
    for (long got = 0; flood && got < sent; got++)
        if (zmq_recv(s, buf, sizeof(buf), 0) < 0)
            break;
    for (long r = 0; !flood && r < rounds; r++) {
        unsigned seed = (unsigned)r + 1;
        for (int k = 0; k < KINDS - 1; k++) {
            size_t n = bad_payload(k, &seed, buf);
            if (zmq_send(s, buf, n, 0) == (int)n)
                sent++;
        }
        /* Two frames: the server takes one payload per message. */
        if (zmq_send(s, "\x93\xcc\xba\x01\x0a", 5, ZMQ_SNDMORE) == 5 &&
            zmq_send(s, "\x93\xcc\xba\x01\x0a", 5, 0) == 5)
            sent++;
    }
    printf("sent %ld\n", sent);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
