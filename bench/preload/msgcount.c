/* SPDX-License-Identifier: MIT */
/* msgcount.c - count a process's banyan messages per type, from outside.
 *
 *   LD_PRELOAD=build/bench/libmsgcount.so BANYAN_MSGCOUNT_ROLE=server \
 *   BANYAN_MSGCOUNT_FILE=/tmp/counts banyan launch ...
 *
 * A preloaded library for bench/sim_vs_prod.sh: the server keeps only the
 * totals of its socket (sent, received: `banyan status --tree --json`), and
 * the benchmark needs them per message type to compare with bench/simulate.
 * It wraps libzmq's zmq_send (how msg_sock sends: identity frame, then the
 * payload) and zmq_msg_recv (how it receives), reads the header of every
 * last frame that is a banyan payload (msgpack [MAGIC, VERSION, TYPE, ...],
 * src/msg/msg_encode.c) and counts it under its type.  Frames that are not
 * banyan payloads (identities, ZAP, the socket monitor) are not counted.
 *
 * Only the process whose first argument is BANYAN_MSGCOUNT_ROLE counts
 * (launch starts the server and the workers from one executable and one
 * environment).  The counts are written to BANYAN_MSGCOUNT_FILE (by
 * rename, so a reader never sees half a file) after every message sent to
 * a client (SUBMITTED, JOBSTATE, ANSWER, ERROR: a client's request is the
 * moment to read them) and at exit: one line "sent T=N ..." and one line
 * "received T=N ...", T the type's number.  Nothing in src/ knows of it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

enum { NTYPES = 64, MAGIC = 0xBA };

static bool active;
static const char *out_path;
static uint64_t sent[NTYPES], received[NTYPES];
static int (*real_send)(void *, const void *, size_t, int);
static int (*real_msg_recv)(zmq_msg_t *, void *, int);

/* One msgpack unsigned integer at *p; -1 when it is not one. */
static int64_t mp_uint(const uint8_t **p, const uint8_t *end)
{
    if (*p >= end)
        return -1;
    uint8_t c = *(*p)++;
    if (c <= 0x7f)
        return c;
    size_t n = c == 0xcc ? 1 : c == 0xcd ? 2 : c == 0xce ? 4 : 0;
    if (n == 0 || (size_t)(end - *p) < n)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | *(*p)++;
    return v;
}

/* The banyan type of a payload, or -1. */
static int payload_type(const void *data, size_t len)
{
    const uint8_t *p = data, *end = p + len;
    if (len < 4)
        return -1;
    if ((*p & 0xf0) == 0x90)
        p += 1;
    else if (*p == 0xdc)
        p += 3;
    else if (*p == 0xdd)
        p += 5;
    else
        return -1;
    if (mp_uint(&p, end) != MAGIC || mp_uint(&p, end) < 0)
        return -1;
    int64_t t = mp_uint(&p, end);
    return t > 0 && t < NTYPES ? (int)t : -1;
}

static void dump(void)
{
    char tmp[4096];
    if (!out_path || snprintf(tmp, sizeof tmp, "%s.tmp", out_path)
                         >= (int)sizeof tmp)
        return;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    const char *what[2] = {"sent", "received"};
    const uint64_t *v[2] = {sent, received};
    for (int k = 0; k < 2; k++) {
        fputs(what[k], f);
        for (int t = 0; t < NTYPES; t++)
            if (v[k][t])
                fprintf(f, " %d=%llu", t, (unsigned long long)v[k][t]);
        fputc('\n', f);
    }
    if (fclose(f) == 0)
        rename(tmp, out_path);
}

__attribute__((constructor)) static void init(void)
{
    real_send = (int (*)(void *, const void *, size_t, int))dlsym(
        RTLD_NEXT, "zmq_send");
    real_msg_recv = (int (*)(zmq_msg_t *, void *, int))dlsym(
        RTLD_NEXT, "zmq_msg_recv");
    const char *role = getenv("BANYAN_MSGCOUNT_ROLE");
    out_path = getenv("BANYAN_MSGCOUNT_FILE");
    if (!role || !out_path)
        return;
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (!f)
        return;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t first = strlen(buf) + 1; /* argv[1] follows argv[0]'s NUL */
    active = first < n && strcmp(buf + first, role) == 0;
    if (active)
        atexit(dump);
}

int zmq_send(void *s, const void *buf, size_t len, int flags)
{
    int rc = real_send(s, buf, len, flags);
    if (active && rc >= 0 && !(flags & ZMQ_SNDMORE)) {
        int t = payload_type(buf, len);
        if (t >= 0) {
            sent[t]++;
            if (t == 33 || t == 35 || t == 37 || t == 39)
                dump(); /* a client's answer: the moment it may read */
        }
    }
    return rc;
}

int zmq_msg_recv(zmq_msg_t *m, void *s, int flags)
{
    int rc = real_msg_recv(m, s, flags);
    if (active && rc >= 0 && !zmq_msg_more(m)) {
        int t = payload_type(zmq_msg_data(m), zmq_msg_size(m));
        if (t >= 0)
            received[t]++;
    }
    return rc;
}
