/* SPDX-License-Identifier: MIT */
/* cli_launch.h - banyan launch's machinery for another command: a server
 * and a given list of workers (local ones, or one per ssh login), alive
 * for the length of a callback (banyan run -S).
 *
 * The caller describes each worker; launch starts the server on a free
 * loopback port with a token of its own (a fresh file in its private
 * directory, named by BANYAN_TOKEN_FILE in this process from then on),
 * starts the workers, waits until all have joined, and calls run().
 * A worker over ssh reaches the server through a tunnel its ssh opens
 * (-R a Unix socket on the remote host to the server's port), reads the
 * token from ssh's standard input (never from a command line), and stops
 * when its ssh connection goes (SIGHUP of its terminal).  When run()
 * returns, or on SIGINT/SIGTERM/SIGHUP, or when a worker or its ssh ends
 * on its own, everything is stopped as `banyan launch` stops it
 * (docs/launch.md), and launch waits until the server has seen every
 * worker leave before it stops the server. */
#ifndef BANYAN_CLI_LAUNCH_H
#define BANYAN_CLI_LAUNCH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct launch launch_t;

/* One worker to start. */
typedef struct cli_launch_worker {
    char *const *ssh;    /* ssh command words, the host last, NULL-ended
                            (borrowed); NULL = a local worker */
    const char *name;    /* worker --name (borrowed) */
    const char *workdir; /* the worker's directory (made); NULL = ssh's
                            (the remote $HOME) or launch's */
    long slots;          /* worker --slots; 0 = the worker's default */
    const char *resource;/* worker --resource NAME=AMOUNT; NULL = none */
} cli_launch_worker_t;

/* The work to do with the server up: endpoint is where a client of this
 * process connects.  Returns the exit code of the command. */
typedef int (*cli_launch_run_fn)(void *ctx, launch_t *l,
                                 const char *endpoint);

typedef struct cli_launch_spec {
    const char *cmd;                   /* for messages: "run" */
    const cli_launch_worker_t *workers;
    size_t nworkers;
    int64_t grace_ms;                  /* 0 = 5 s */
    int64_t ready_timeout_ms;          /* 0 = 60 s */
    cli_launch_run_fn run;
    void *ctx;
} cli_launch_spec_t;

/* Start, run, stop.  Returns run()'s exit code; 128+N when signal N came
 * first; 1 when the workers did not join or one ended on its own (said
 * on stderr, with the end of its ssh's output); 3 on internal errors. */
int cli_launch_run(const cli_launch_spec_t *spec);

/* For run(): wait up to timeout_ms for a signal or a child's end.  false
 * when run() must give up now: a stop signal came, or a worker (or its
 * ssh) ended (said on stderr). */
bool cli_launch_wait(launch_t *l, int64_t timeout_ms);

/* The stop signal received, 0 = none. */
int cli_launch_signal(const launch_t *l);

#endif /* BANYAN_CLI_LAUNCH_H */
