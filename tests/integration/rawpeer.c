/* SPDX-License-Identifier: MIT */
/* rawpeer.c - a hostile peer for the integration tests: a raw ZeroMQ
 * DEALER that sends malformed frames to a live server.
 *
 *   integ_rawpeer ENDPOINT ROUNDS
 *
 * Each round sends seven bad messages: random bytes, a truncated header, a
 * wrong magic, a wrong version, an unknown type, a valid PING followed by
 * trailing bytes, and a two-frame message; the server must drop and count
 * every one (status "malformed") and keep serving.  Rounds are seeded by
 * their number, so a run is reproducible.  Prints "sent N" (the messages
 * that left) and exits 0, or 3 when the socket cannot be set up.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: integ_rawpeer ENDPOINT ROUNDS\n");
        return 2;
    }
    long rounds = strtol(argv[2], NULL, 10);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    int linger = 2000;
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
        zmq_connect(s, argv[1]) < 0) {
        fprintf(stderr, "integ_rawpeer: %s\n", zmq_strerror(zmq_errno()));
        return 3;
    }
    unsigned char buf[256];
    long sent = 0;
    for (long r = 0; r < rounds; r++) {
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
