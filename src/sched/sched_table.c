/* SPDX-License-Identifier: MIT */
/* sched_table.c - the hash tables of the scheduler core.
 *
 * The running table is a util_hmap from (job id, task index) to the task's
 * sched__run_t; at 100,000 tasks a second it sees that many inserts and
 * removes, and util_hmap's backward-shift deletion keeps its probes short
 * without tombstones.  The job index uses open addressing with linear
 * probing, at most half full, with the same backward-shift deletion.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_private.h"

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

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

static size_t job_slot(uint32_t id, size_t cap)
{
    return (size_t)mix64(id) & (cap - 1);
}

sched__job_t *sched__job_find(const sched__jobtab_t *t, uint32_t id)
{
    if (t->count == 0)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = job_slot(id, t->cap);; i = (i + 1) & mask) {
        if (!t->cells[i])
            return NULL;
        if (t->cells[i]->def.id == id)
            return t->cells[i];
    }
}

int sched__job_insert(sched__jobtab_t *t, sched__job_t *job)
{
    if ((t->count + 1) * 2 > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        sched__job_t **cells = calloc(ncap, sizeof(*cells));
        if (!cells) {
            errno = ENOMEM;
            return -1;
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->cells[i])
                continue;
            size_t j = job_slot(t->cells[i]->def.id, ncap);
            while (cells[j])
                j = (j + 1) & (ncap - 1);
            cells[j] = t->cells[i];
        }
        free(t->cells);
        t->cells = cells;
        t->cap = ncap;
    }
    size_t i = job_slot(job->def.id, t->cap);
    while (t->cells[i])
        i = (i + 1) & (t->cap - 1);
    t->cells[i] = job;
    t->count++;
    return 0;
}

void sched__job_erase(sched__jobtab_t *t, uint32_t id)
{
    if (t->count == 0)
        return;
    size_t mask = t->cap - 1;
    size_t hole = job_slot(id, t->cap);
    while (t->cells[hole] && t->cells[hole]->def.id != id)
        hole = (hole + 1) & mask;
    if (!t->cells[hole])
        return;
    size_t i = hole;
    for (;;) {
        i = (i + 1) & mask;
        if (!t->cells[i])
            break;
        size_t home = job_slot(t->cells[i]->def.id, t->cap);
        bool stays = hole <= i ? (home > hole && home <= i)
                               : (home > hole || home <= i);
        if (stays)
            continue;
        t->cells[hole] = t->cells[i];
        hole = i;
    }
    t->cells[hole] = NULL;
    t->count--;
}

void sched__jobtab_fini(sched__jobtab_t *t)
{
    free(t->cells);
    memset(t, 0, sizeof(*t));
}
