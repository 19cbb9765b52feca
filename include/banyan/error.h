/* SPDX-License-Identifier: MIT */
/* banyan/error.h - error text returned to people, and the exit codes. */
#ifndef BANYAN_ERROR_H
#define BANYAN_ERROR_H

/* A fixed buffer that a failing function fills with a sentence a person can
 * act on ("tune.yaml:3:5: unknown key 'strategyy'").  Functions that take a
 * banyan_error_t * accept NULL.  errno carries the machine-readable cause. */
typedef struct banyan_error {
    char text[512];
} banyan_error_t;

/* Exit codes of every banyan command (DESIGN.md section 10). */
enum banyan_exit {
    BANYAN_EXIT_OK = 0,       /* every task succeeded */
    BANYAN_EXIT_FAILED = 1,   /* at least one task failed */
    BANYAN_EXIT_USAGE = 2,    /* bad usage, configuration or input */
    BANYAN_EXIT_INTERNAL = 3, /* internal, system or connection error */
};

#endif /* BANYAN_ERROR_H */
