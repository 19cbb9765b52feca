/* SPDX-License-Identifier: MIT */
/* banyan/task.h - the task vocabulary: task states and how a task ended.
 *
 * Every layer speaks these types: the engine classifies a process's end
 * into a banyan_task_end_t once, where it happens (src/engine); the wire
 * carries it (RESULT entries); the store keeps its state by name; `banyan
 * results`, sweeps and stats read it back through banyan_task_state_parse().
 * A task state is never compared as a string anywhere else.
 *
 * States and their names (the database's `state` column, docs/schema.md):
 *
 *   queued       waiting to run (also: requeued for another attempt)
 *   running      started, not ended
 *   ok           exited with status 0
 *   failed       exited non-zero, or could not be started
 *   timeout      killed because its time limit passed
 *   killed       ended by a signal banyan did not send for a timeout or an
 *                interruption: the memory limit, critical host memory, the
 *                OOM killer, a user
 *   interrupted  stopped by banyan (Ctrl-C, cancel, engine shutdown); it
 *                did not fail and is run again on resume
 *   cancelled    never run: its job was cancelled first
 */
#ifndef BANYAN_TASK_H
#define BANYAN_TASK_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum banyan_task_state {
    BANYAN_TASK_QUEUED = 0,
    BANYAN_TASK_RUNNING,
    BANYAN_TASK_OK,
    BANYAN_TASK_FAILED,
    BANYAN_TASK_TIMEOUT,
    BANYAN_TASK_KILLED,
    BANYAN_TASK_INTERRUPTED,
    BANYAN_TASK_CANCELLED,
    BANYAN_TASK_STATE_COUNT
} banyan_task_state_t;

/* Why a task ended, besides its exit status (banyan_task_end_t.flags). */
enum banyan_task_end_flags {
    BANYAN_END_TIMED_OUT = 1 << 0,    /* its time limit passed */
    BANYAN_END_INTERRUPTED = 1 << 1,  /* banyan stopped it (Ctrl-C, cancel,
                                         engine shutdown) */
    BANYAN_END_SPAWN_FAILED = 1 << 2, /* never ran (not found, not
                                         executable, bad cwd or stdin) */
    BANYAN_END_MEM_LIMITED = 1 << 3,  /* its tree went above mem_limit */
    BANYAN_END_MEM_CRITICAL = 1 << 4, /* killed by its engine because the
                                         host's memory was critical */
    BANYAN_END_OUTPUT_CUT = 1 << 5,   /* its captured output lost bytes
                                         (the spill file could not be
                                         written): failed, whatever its
                                         exit status */
    BANYAN_END_FLAGS_ALL = (1 << 6) - 1,
};

enum {
    BANYAN_TASK_REASON_MAX = 200, /* bytes of banyan_task_end_t.reason */
};

/* How one task ended: made once by the engine, carried unchanged by the
 * wire and the store. */
typedef struct banyan_task_end {
    banyan_task_state_t state;
    uint32_t flags;            /* BANYAN_END_* */
    int32_t exit_code;         /* exit status; -1 when ended by a signal;
                                  127/126/1 for a spawn failure */
    int32_t term_signal;       /* the signal that ended it, 0 if none */
    double start_time;         /* wall clock, seconds since the epoch */
    double end_time;
    double cpu_user;           /* seconds, the whole waited-for tree */
    double cpu_sys;
    uint64_t peak_rss_bytes;   /* peak resident memory of its tree */
    uint64_t mem_limit_bytes;  /* the hard limit it ran under; 0 none */
    char reason[BANYAN_TASK_REASON_MAX]; /* one line for people; "" for
                                  a task that ended ok */
} banyan_task_end_t;

/* The state's name ("ok", ...); "unknown" for a value out of range.
 * Returned pointer is static. */
const char *banyan_task_state_name(banyan_task_state_t state);

/* The state named name.  0, or -1 with EINVAL for NULL or an unknown
 * name (*state unchanged). */
int banyan_task_state_parse(const char *name, banyan_task_state_t *state);

/* True for states a task ends in (all but queued and running). */
bool banyan_task_state_is_end(banyan_task_state_t state);

#ifdef __cplusplus
}
#endif

#endif /* BANYAN_TASK_H */
