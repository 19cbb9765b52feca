/* SPDX-License-Identifier: MIT */
/* zmq_floor.c - the memory floor of any process that speaks ZeroMQ here.
 *
 * Opens a context and one DEALER socket connected to ENDPOINT (as an idle
 * worker is), waits until the I/O thread is up, and prints its own VmRSS,
 * RssAnon and Pss in kB ("vmrss_kb=... anon_kb=... pss_kb=...").  It does
 * nothing else, so what it prints is what libzmq and the libraries Debian
 * builds it against (libstdc++, libsodium, libpgm, libnorm, gssapi...) cost
 * a process by themselves: bench/tree_bench.sh prints it next to a banyan
 * worker's idle figures.
 *
 * Usage: zmq_floor [ENDPOINT]   (default tcp://127.0.0.1:9, never answered)
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

/* The value of "key:" in a /proc file, in kB; -1 if absent. */
static long field_kb(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            sscanf(line + n + 1, "%ld", &v);
            break;
        }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    const char *ep = argc > 1 ? argv[1] : "tcp://127.0.0.1:9";
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    if (!s || zmq_connect(s, ep) != 0) {
        fprintf(stderr, "zmq_floor: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    usleep(300 * 1000); /* connection attempts, the I/O thread's start */
    printf("vmrss_kb=%ld anon_kb=%ld pss_kb=%ld\n",
           field_kb("/proc/self/status", "VmRSS"),
           field_kb("/proc/self/status", "RssAnon"),
           field_kb("/proc/self/smaps_rollup", "Pss"));
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
