/* SPDX-License-Identifier: MIT */
/* task.c - names of the task states (banyan/task.h).
 *
 * The table below is the only place a state's name is written; every
 * reader and writer of a state string goes through these two functions.
 */
#include <banyan/task.h>

#include <errno.h>
#include <string.h>

static const char *const names[BANYAN_TASK_STATE_COUNT] = {
    [BANYAN_TASK_QUEUED] = "queued",
    [BANYAN_TASK_RUNNING] = "running",
    [BANYAN_TASK_OK] = "ok",
    [BANYAN_TASK_FAILED] = "failed",
    [BANYAN_TASK_TIMEOUT] = "timeout",
    [BANYAN_TASK_KILLED] = "killed",
    [BANYAN_TASK_INTERRUPTED] = "interrupted",
    [BANYAN_TASK_CANCELLED] = "cancelled",
};

const char *banyan_task_state_name(banyan_task_state_t state)
{
    if ((unsigned)state >= BANYAN_TASK_STATE_COUNT)
        return "unknown";
    return names[state];
}

int banyan_task_state_parse(const char *name, banyan_task_state_t *state)
{
    for (int i = 0; name && i < BANYAN_TASK_STATE_COUNT; i++) {
        if (strcmp(names[i], name) == 0) {
            *state = (banyan_task_state_t)i;
            return 0;
        }
    }
    errno = EINVAL;
    return -1;
}

bool banyan_task_state_is_end(banyan_task_state_t state)
{
    return state > BANYAN_TASK_RUNNING && state < BANYAN_TASK_STATE_COUNT;
}
