/* SPDX-License-Identifier: MIT */
/* sched_table.c - the hash tables of the scheduler core.
 *
 * Both tables use open addressing with linear probing and keep at most
 * three quarters (running tasks) or half (jobs) of their cells full.
 * Deletion shifts the following cells of the probe run back instead of
 * leaving tombstones, so lookups stay short however many tasks have come
 * and gone: at 100,000 tasks a second the table sees that many inserts and
 * deletes, and never allocates except to grow.
 */
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

static size_t run_slot(uint32_t job_id, uint64_t index, size_t cap)
{
    uint64_t h = mix64(index * UINT64_C(0x9E3779B97F4A7C15)
                       + ((uint64_t)job_id << 32 | job_id));
    return (size_t)h & (cap - 1);
}

sched__run_t *sched__run_find(const sched__runtab_t *t, uint32_t job_id,
                              uint64_t index)
{
    if (t->count == 0)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = run_slot(job_id, index, t->cap);; i = (i + 1) & mask) {
        sched__run_t *c = &t->cells[i];
        if (!c->job)
            return NULL;
        if (c->index == index && c->job->def.id == job_id)
            return c;
    }
}

static int run_grow(sched__runtab_t *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    sched__run_t *cells = calloc(ncap, sizeof(*cells));
    if (!cells) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++) {
        sched__run_t *c = &t->cells[i];
        if (!c->job)
            continue;
        size_t j = run_slot(c->job->def.id, c->index, ncap);
        while (cells[j].job)
            j = (j + 1) & (ncap - 1);
        cells[j] = *c;
    }
    free(t->cells);
    t->cells = cells;
    t->cap = ncap;
    return 0;
}

sched__run_t *sched__run_insert(sched__runtab_t *t, sched__job_t *job,
                                uint64_t index)
{
    if ((t->count + 1) * 4 > t->cap * 3 && run_grow(t) < 0)
        return NULL;
    size_t mask = t->cap - 1;
    size_t i = run_slot(job->def.id, index, t->cap);
    while (t->cells[i].job)
        i = (i + 1) & mask;
    sched__run_t *c = &t->cells[i];
    memset(c, 0, sizeof(*c));
    c->job = job;
    c->index = index;
    t->count++;
    return c;
}

void sched__run_remove(sched__runtab_t *t, sched__run_t *cell)
{
    size_t mask = t->cap - 1;
    size_t hole = (size_t)(cell - t->cells);
    size_t i = hole;
    for (;;) {
        i = (i + 1) & mask;
        sched__run_t *c = &t->cells[i];
        if (!c->job)
            break;
        size_t home = run_slot(c->job->def.id, c->index, t->cap);
        /* c may move into the hole if its home is not in (hole, i]. */
        bool stays = hole <= i ? (home > hole && home <= i)
                               : (home > hole || home <= i);
        if (stays)
            continue;
        t->cells[hole] = *c;
        hole = i;
    }
    memset(&t->cells[hole], 0, sizeof(t->cells[hole]));
    t->count--;
}

void sched__run_fini(sched__runtab_t *t)
{
    free(t->cells);
    memset(t, 0, sizeof(*t));
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
