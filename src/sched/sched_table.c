/* SPDX-License-Identifier: MIT */
/* sched_table.c - the hash tables of the scheduler core.
 *
 * The running table is a util_hmap from (job id, task index) to the task's
 * sched__run_t; at 100,000 tasks a second it sees that many inserts and
 * removes, and util_hmap's backward-shift deletion keeps its probes short
 * without tombstones.  The job index is a util_hmap from job id to job.
 */
#include <assert.h>

#include "sched/sched_private.h"

/* ----------------------------------------------------------------- running */

/* The running table's key: no padding, so its bytes are its value. */
typedef struct run_key {
    uint64_t index;
    uint32_t job_id;
    uint32_t zero;
} run_key_t;

static run_key_t run_key(uint32_t job_id, uint64_t index)
{
    return (run_key_t){.index = index, .job_id = job_id};
}

sched__runtab_t *sched__run_create(void)
{
    return util_hmap_create(sizeof(run_key_t), sizeof(sched__run_t), NULL,
                            NULL);
}

void sched__run_destroy(sched__runtab_t *t)
{
    util_hmap_destroy(t);
}

size_t sched__run_count(const sched__runtab_t *t)
{
    return util_hmap_count(t);
}

sched__run_t *sched__run_find(const sched__runtab_t *t, uint32_t job_id,
                              uint64_t index)
{
    run_key_t k = run_key(job_id, index);
    return util_hmap_find(t, &k);
}

sched__run_t *sched__run_insert(sched__runtab_t *t, sched__job_t *job,
                                uint64_t index)
{
    run_key_t k = run_key(job->def.id, index);
    bool created;
    sched__run_t *c = util_hmap_insert(t, &k, &created);
    if (!c)
        return NULL;
    assert(created);
    c->job = job;
    c->index = index;
    return c;
}

void sched__run_remove(sched__runtab_t *t, sched__run_t *cell)
{
    run_key_t k = run_key(cell->job->def.id, cell->index);
    int rc = util_hmap_remove(t, &k);
    assert(rc == 0);
    (void)rc;
}

sched__run_t *sched__run_next(const sched__runtab_t *t, util_hmap_iter_t *it)
{
    void *value;
    return util_hmap_next(t, it, NULL, &value) ? value : NULL;
}

void sched__run_iter_remove(sched__runtab_t *t, util_hmap_iter_t *it)
{
    util_hmap_iter_remove(t, it);
}

/* -------------------------------------------------------------------- jobs */

sched__job_t *sched__job_find(const util_hmap_t *jobs, uint32_t id)
{
    sched__job_t **j = util_hmap_find(jobs, &id);
    return j ? *j : NULL;
}
