/* SPDX-License-Identifier: MIT */
/* bcast_loop.c - broadcast latency as a connected client sees it.
 *
 *   bcast_loop ENDPOINT WARMUP REPS [CMD [ARGS...]]
 *
 * connects once to a banyan server (banyan_client_connect), runs WARMUP
 * broadcasts it does not report, then REPS broadcasts of CMD (none: every
 * engine only acknowledges), one after the other, and prints one line per
 * broadcast:
 *
 *   wall_ms=W root_ms=R engines=N ok=A failed=B missing=C
 *
 * W is the client's time from the request to the answer (CLOCK_MONOTONIC);
 * R is the root's own "ms".  This is what ipyparallel's apply_sync on a
 * connected client measures, without the 5 ms that starting the banyan
 * command line tool costs (exec and dynamic linking; bench/tree_bench.sh
 * reports that time too).  Exit 0, 1 when a broadcast failed, 2 bad usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "banyan/client.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long long json_int(const json_t *o, const char *key)
{
    return (long long)json_number_value(json_object_get(o, key));
}

/* One broadcast; prints its line when report.  0, or -1 on an error. */
static int one(banyan_client_t *c, const char *const *words, size_t nwords,
               bool report)
{
    banyan_error_t error = {{0}};
    char *answer = NULL;
    double t0 = now_ms();
    if (banyan_client_broadcast(c, words, nwords, NULL, 0, false, &answer,
                                &error) < 0) {
        fprintf(stderr, "bcast_loop: %s\n", error.text);
        return -1;
    }
    double wall = now_ms() - t0;
    json_t *a = json_loads(answer, 0, NULL);
    free(answer);
    if (!a) {
        fprintf(stderr, "bcast_loop: the answer is not JSON\n");
        return -1;
    }
    if (report)
        printf("wall_ms=%.3f root_ms=%.3f engines=%lld ok=%lld failed=%lld "
               "missing=%lld\n",
               wall, json_number_value(json_object_get(a, "ms")),
               json_int(a, "engines"), json_int(a, "ok"),
               json_int(a, "failed"), json_int(a, "missing"));
    json_decref(a);
    return 0;
}

/* A count argument: a whole number >= 0, or -1. */
static long count_arg(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (errno || end == s || *end || v < 0) ? -1 : v;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bcast_loop ENDPOINT WARMUP REPS "
                        "[CMD [ARGS...]]\n");
        return 2;
    }
    long warmup = count_arg(argv[2]), reps = count_arg(argv[3]);
    if (warmup < 0 || reps < 0) {
        fprintf(stderr, "bcast_loop: WARMUP and REPS are counts (0 or "
                        "more)\n");
        return 2;
    }
    const char *const *words = (const char *const *)argv + 4;
    size_t nwords = (size_t)(argc - 4);
    banyan_error_t error = {{0}};
    banyan_client_t *c = banyan_client_connect(argv[1], NULL, &error);
    if (!c) {
        fprintf(stderr, "bcast_loop: %s\n", error.text);
        return 1;
    }
    int rc = 0;
    for (long i = 0; i < warmup + reps && rc == 0; i++)
        if (one(c, words, nwords, i >= warmup) < 0)
            rc = 1;
    fflush(stdout);
    banyan_client_close(c);
    return rc;
}
