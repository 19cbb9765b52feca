/* SPDX-License-Identifier: MIT */
/* worker_private.h - shared inside src/worker only: the job cache and the
 * expansion of one task into argv and environment. */
#ifndef BANYAN_WORKER_PRIVATE_H
#define BANYAN_WORKER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

#include "gpu/gpu.h"
#include "msg/msg.h"
#include "tmpl/tmpl.h"

/* A cached job definition.  A definition the worker cannot use (bad
 * template, arity mismatch) is still cached, with tmpl == NULL and the
 * reason in error: its tasks are reported as failed starts. */
typedef struct worker__job {
    uint32_t id;
    tmpl_t *tmpl;             /* NULL when refused */
    tmpl_inputs_t *inputs;    /* NULL for an array or a job without input */
    size_t arity;             /* values per task: sources, 1 (array), 0 */
    uint64_t ntasks;          /* tasks the definition describes */
    bool array;               /* {} = array_first + index */
    uint64_t array_first;
    char **env;               /* "K=V" copies, NULL-ended */
    size_t nenv;
    char *cwd;                /* NULL = the worker's */
    int64_t timeout_ms;
    char error[sizeof(banyan_error_t) + 32]; /* why refused; "" if usable */
    struct worker__job *next; /* hash chain */
} worker__job_t;

/* Build a job from its message (everything copied).  NULL only with
 * ENOMEM; an unusable definition gives a job with error set. */
worker__job_t *worker__job_create(const msg_job_t *m);
void worker__job_destroy(worker__job_t *j);

/* Jobs by id. */
typedef struct worker__jobs {
    worker__job_t **buckets;
    size_t nbuckets;          /* a power of two, or 0 before the first add */
    size_t n;
} worker__jobs_t;

/* Add j (the table takes ownership, also on failure).  0, or -1 with
 * EEXIST (j destroyed: definitions never change) or ENOMEM. */
int worker__jobs_add(worker__jobs_t *t, worker__job_t *j);
worker__job_t *worker__jobs_find(const worker__jobs_t *t, uint32_t id);
void worker__jobs_fini(worker__jobs_t *t);

enum {
    WORKER__OWN_ENV = 3 + GPU_ENV_MAX, /* TASK_ID, JOB_ID, SLOT, GPUs */
};

/* One task ready to spawn. */
typedef struct worker__launch {
    char **argv;                        /* one block from tmpl_expand */
    char *line;                         /* the command line, for messages */
    char *own[WORKER__OWN_ENV + 1];     /* ours, malloc'd, NULL-ended */
    const char **env;                   /* the job's + ours, NULL-ended */
} worker__launch_t;

/* Map an ASSIGN gpu_mask (positions in the worker's gpus[]) to device
 * indices in out[] (room for GPU_MAX).  Returns the count, or -1 with
 * ERANGE when the mask names a position >= ngpus. */
int worker__gpu_mask_indices(const gpu_info_t *gpus, int ngpus, uint64_t mask,
                             int *out);

/* Expand task index of j for slot, with the given GPU device indices
 * (has_gpus: the worker offers GPUs, so the task gets the GPU variables
 * even when it has none).  Environment: the job's entries, then
 * BANYAN_TASK_ID=<job>.<index+1>, BANYAN_JOB_ID, BANYAN_SLOT and the GPU
 * variables (ours win).  0, or -1 with errno (EINVAL refused job, ERANGE
 * index beyond the job, ENOMEM) and a sentence; l is then empty.
 * Release with worker__launch_fini(). */
int worker__launch_prepare(const worker__job_t *j, uint64_t index,
                           uint32_t slot, const int *gpu_idx, int ngpu_idx,
                           bool has_gpus, worker__launch_t *l,
                           banyan_error_t *error);
void worker__launch_fini(worker__launch_t *l);

/* Add kv ("K=V", borrowed: it must outlive l) at the end of l's
 * environment, so it wins over the job's entries.  0, or -1 with ENOMEM
 * (l unchanged). */
int worker__launch_add_env(worker__launch_t *l, const char *kv);

#endif /* BANYAN_WORKER_PRIVATE_H */
