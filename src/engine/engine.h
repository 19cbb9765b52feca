/* SPDX-License-Identifier: MIT */
/* engine.h - the engine: what happens between "the scheduler says run task
 * T with allocation A" and "task T ended like this", the same in local mode
 * (`banyan run`, `banyan sweep`) and on a cluster worker.
 *
 * Two things are defined here once for every mode:
 *
 * - The task environment (engine_env_build): the job's own entries first,
 *   then the engine's, which win.  Each variable has one meaning
 *   (docs/environment.md):
 *     BANYAN_TASK_ID   the task's number within its job, from 1 (GNU
 *                      Parallel's {#}); the same in every mode
 *     BANYAN_JOB_ID    the job: the run's id in `banyan run`, the sweep's
 *                      id in `banyan sweep`, the job id `banyan submit`
 *                      printed on a server
 *     BANYAN_SLOT      the slot it holds, from 1 (GNU Parallel's {%})
 *     BANYAN_WORKER    the worker's --name (cluster mode only)
 *     BANYAN_BLOB_<i>  the files of the job's blobs (cluster mode only)
 *     CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER, ROCR/HIP_VISIBLE_DEVICES,
 *     GPU_DEVICE_ORDINAL  on a host with GPUs: the task's own, maybe none
 *
 * - The task-end classifier (engine_end_classify): an exec result and what
 *   the engine itself did to the task become one banyan_task_end_t (state,
 *   reason, flags, figures).  Nothing downstream classifies again: the wire
 *   carries the record, the store keeps it, the scheduler core maps it to
 *   its retry rule with sched_outcome_of().
 */
#ifndef BANYAN_ENGINE_H
#define BANYAN_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <banyan/task.h>

#include "exec/exec.h"
#include "gpu/gpu.h"

/* ------------------------------------------------------- classification */

/* What the engine knows of a task besides its exec result. */
typedef struct engine_end_ctx {
    int64_t timeout_ms;        /* the limit it ran under (for the reason) */
    bool interrupted;          /* the engine stopped it (cancel, shutdown)
                                  even if exec did not say so */
    bool mem_critical;         /* the engine killed it for critical host
                                  memory */
    const char *why;           /* with mem_critical: the engine's sentence
                                  ("host memory critical: ..."), or NULL */
} engine_end_ctx_t;

/* Classify res into *end, in this order: interrupted; could not start
 * (failed, "cmd: command not found"); timed out ("timed out after 2.000
 * s"); over the memory limit (killed, "memory limit 1.0 GiB exceeded:
 * peak 1.2 GiB"); killed for critical memory (killed, ctx->why); any other
 * signal (killed, "killed by signal 9 (Killed)"); exit 0 (ok, no reason);
 * else failed ("exit status 3").  ctx may be NULL. */
void engine_end_classify(const exec_result_t *res, const engine_end_ctx_t *ctx,
                         banyan_task_end_t *end);

/* A task that never ran: could not be prepared or spawned for why (one
 * line, e.g. "cannot expand task 3 of job 7: ..."); failed, final. */
void engine_end_spawn_failed(banyan_task_end_t *end, double now,
                             const char *why);

/* A task stopped by banyan before or without a process end to classify
 * (a cancelled task that had not started, a relay's lost child): the
 * record an interrupted task has. */
void engine_end_interrupted(banyan_task_end_t *end, double now);

/* Append text to end->reason ("; " between), truncating. */
void engine_end_note(banyan_task_end_t *end, const char *text);

/* ---------------------------------------------------------- environment */

enum {
    ENGINE_ENV_OWN = 4 + GPU_ENV_MAX, /* TASK_ID, JOB_ID, SLOT, WORKER, GPUs */
};

/* What the environment is made of.  Everything is borrowed for the call,
 * except job_env and extra, which the built env points into. */
typedef struct engine_env_in {
    uint64_t job_id;           /* BANYAN_JOB_ID */
    uint64_t task_number;      /* BANYAN_TASK_ID, from 1 */
    uint32_t slot;             /* BANYAN_SLOT */
    const char *worker_name;   /* BANYAN_WORKER, or NULL */
    bool host_has_gpus;        /* set the GPU variables (maybe to none) */
    const int *gpu_index;      /* the task's GPU device indices */
    int ngpus;
    const char *const *job_env; /* the job's "K=V" entries, NULL-ended, or
                                   NULL; must outlive the built env */
    size_t njob_env;           /* entries of job_env to use (all: SIZE_MAX) */
    const char *const *extra;  /* more engine entries that win over the
                                  job's ("BANYAN_BLOB_0=..."), NULL-ended
                                  or NULL; must outlive the built env */
} engine_env_in_t;

/* A built environment: env (NULL-ended) is what exec_spec_t.env takes. */
typedef struct engine_env {
    const char **env;
    char *own[ENGINE_ENV_OWN + 1]; /* the engine's entries, malloc'd */
} engine_env_t;

/* Build e from in.  0, or -1 with ENOMEM (e is then empty).  Release
 * with engine_env_fini(). */
int engine_env_build(engine_env_t *e, const engine_env_in_t *in);

/* Free what e holds (NULL-safe, idempotent). */
void engine_env_fini(engine_env_t *e);

#endif /* BANYAN_ENGINE_H */
