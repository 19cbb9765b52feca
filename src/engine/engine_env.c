/* SPDX-License-Identifier: MIT */
/* engine_env.c - the one builder of a task's environment.
 *
 * The job's entries come first and the engine's last, so that the
 * engine's win ("the last entry for a name wins", exec.h): a job cannot
 * fake its slot or its GPUs.  The table of variables is in engine.h and
 * docs/environment.md.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t count(const char *const *v, size_t max)
{
    size_t n = 0;
    while (v && n < max && v[n])
        n++;
    return n;
}

int engine_env_build(engine_env_t *e, const engine_env_in_t *in)
{
    memset(e, 0, sizeof(*e));
    int n = 0;
    if (asprintf(&e->own[n], "BANYAN_TASK_ID=%llu",
                 (unsigned long long)in->task_number) < 0)
        goto nomem;
    n++;
    if (asprintf(&e->own[n], "BANYAN_JOB_ID=%llu",
                 (unsigned long long)in->job_id) < 0)
        goto nomem;
    n++;
    if (asprintf(&e->own[n], "BANYAN_SLOT=%u", in->slot) < 0)
        goto nomem;
    n++;
    if (in->worker_name) {
        if (asprintf(&e->own[n], "BANYAN_WORKER=%s", in->worker_name) < 0)
            goto nomem;
        n++;
    }
    /* On a host with GPUs a task sees only its own, possibly none. */
    if (in->host_has_gpus) {
        int k = gpu_env_append(e->own + n, in->gpu_index, in->ngpus);
        if (k < 0)
            goto nomem;
        n += k;
    }
    size_t nj = count(in->job_env, in->njob_env);
    size_t nx = count(in->extra, SIZE_MAX);
    e->env = calloc(nj + nx + (size_t)n + 1, sizeof(*e->env));
    if (!e->env)
        goto nomem;
    size_t k = 0;
    for (size_t i = 0; i < nj; i++)
        e->env[k++] = in->job_env[i];
    for (int i = 0; i < n; i++)
        e->env[k++] = e->own[i];
    for (size_t i = 0; i < nx; i++)
        e->env[k++] = in->extra[i];
    return 0;
nomem:
    e->own[n] = NULL;
    engine_env_fini(e);
    errno = ENOMEM;
    return -1;
}

void engine_env_fini(engine_env_t *e)
{
    if (!e)
        return;
    int saved = errno;
    for (char **p = e->own; *p; p++)
        free(*p);
    free(e->env);
    memset(e, 0, sizeof(*e));
    errno = saved;
}
