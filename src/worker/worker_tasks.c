/* SPDX-License-Identifier: MIT */
/* worker_tasks.c - a worker's own tasks (see worker_tasks.h).
 *
 * A util_hmap from msg_task_ref_t to the task's pointer; the running list
 * is circular around a sentinel, the admission queue singly linked with a
 * tail.  Invariants: a task is on the running list or in the queue, never
 * both; busy is the sum of nslots of the tasks not released.
 */
#include "worker_tasks.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "util/hmap.h"

struct worker__tasks {
    util_hmap_t *map;              /* msg_task_ref_t -> worker__task_t * */
    worker__task_t running;        /* list head (sentinel) */
    uint32_t nrunning;
    worker__task_t *admit_head, *admit_tail; /* qnext */
    uint32_t nadmit;
    uint32_t busy;                 /* slots of tasks not released */
};

static uint64_t ref_hash(const void *key)
{
    const msg_task_ref_t *r = key;
    return r->index * 0x9E3779B97F4A7C15ull ^
           ((uint64_t)r->job << 32 | r->attempt);
}

static bool ref_eq(const void *a, const void *b)
{
    const msg_task_ref_t *x = a, *y = b;
    return x->job == y->job && x->index == y->index &&
           x->attempt == y->attempt;
}

worker__tasks_t *worker__tasks_create(void)
{
    worker__tasks_t *ts = calloc(1, sizeof(*ts));
    if (ts)
        ts->map = util_hmap_create(sizeof(msg_task_ref_t),
                                   sizeof(worker__task_t *), ref_hash,
                                   ref_eq);
    if (!ts || !ts->map) {
        free(ts);
        errno = ENOMEM;
        return NULL;
    }
    ts->running.next = ts->running.prev = &ts->running;
    return ts;
}

void worker__tasks_destroy(worker__tasks_t *ts)
{
    if (!ts)
        return;
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    void *v;
    while (util_hmap_next(ts->map, &it, NULL, &v))
        worker__task_free(*(worker__task_t **)v);
    util_hmap_destroy(ts->map);
    free(ts);
}

worker__task_t *worker__task_new(void)
{
    return calloc(1, sizeof(worker__task_t));
}

void worker__task_free(worker__task_t *t)
{
    worker__launch_fini(&t->launch);
    free((void *)t->r.res.out_tail);
    free((void *)t->r.res.err_tail);
    free(t);
}

worker__task_t *worker__tasks_find(const worker__tasks_t *ts,
                                   const msg_task_ref_t *ref)
{
    worker__task_t **t = util_hmap_find(ts->map, ref);
    return t ? *t : NULL;
}

worker__task_t *worker__tasks_add(worker__tasks_t *ts,
                                  const msg_assign_entry_t *e,
                                  uint32_t nslots)
{
    worker__task_t *t = worker__task_new();
    bool created = false;
    worker__task_t **slot = t ? util_hmap_insert(ts->map, &e->task, &created)
                              : NULL;
    if (!slot || !created) {
        free(t);
        errno = slot ? EEXIST : ENOMEM;
        return NULL;
    }
    *slot = t;
    t->ref = e->task;
    t->slot = e->slot;
    t->nslots = nslots;
    ts->busy += nslots;
    return t;
}

void worker__tasks_remove(worker__tasks_t *ts, worker__task_t *t)
{
    assert(!t->running && !t->admitting);
    util_hmap_remove(ts->map, &t->ref);
    worker__task_free(t);
}

size_t worker__tasks_count(const worker__tasks_t *ts)
{
    return util_hmap_count(ts->map);
}

size_t worker__tasks_held(const worker__tasks_t *ts, msg_task_ref_t *out,
                          size_t max)
{
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    void *v;
    size_t n = 0;
    while (n < max && util_hmap_next(ts->map, &it, NULL, &v))
        if (!(*(worker__task_t **)v)->ended)
            out[n++] = (*(worker__task_t **)v)->ref;
    return n;
}

/* ------------------------------------------------------------ running */

void worker__tasks_run(worker__tasks_t *ts, worker__task_t *t)
{
    assert(!t->running && !t->admitting);
    t->running = true;
    t->next = &ts->running;
    t->prev = ts->running.prev;
    t->prev->next = t;
    ts->running.prev = t;
    ts->nrunning++;
}

void worker__tasks_unrun(worker__tasks_t *ts, worker__task_t *t)
{
    if (!t->running)
        return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
    t->running = false;
    ts->nrunning--;
}

void worker__tasks_release(worker__tasks_t *ts, worker__task_t *t)
{
    worker__tasks_unrun(ts, t);
    ts->busy -= t->nslots < ts->busy ? t->nslots : ts->busy;
    t->nslots = 0;
    t->ended = true;
}

worker__task_t *worker__tasks_running_next(const worker__tasks_t *ts,
                                           const worker__task_t *t)
{
    const worker__task_t *n = t ? t->next : ts->running.next;
    return n == &ts->running ? NULL : (worker__task_t *)n;
}

uint32_t worker__tasks_nrunning(const worker__tasks_t *ts)
{
    return ts->nrunning;
}

uint32_t worker__tasks_busy(const worker__tasks_t *ts)
{
    return ts->busy;
}

/* ---------------------------------------------------------- admission */

void worker__tasks_admit_push(worker__tasks_t *ts, worker__task_t *t)
{
    assert(!t->running && !t->admitting);
    t->admitting = true;
    ts->nadmit++;
    t->qnext = NULL;
    if (ts->admit_tail)
        ts->admit_tail->qnext = t;
    else
        ts->admit_head = t;
    ts->admit_tail = t;
}

worker__task_t *worker__tasks_admit_head(const worker__tasks_t *ts)
{
    return ts->admit_head;
}

void worker__tasks_admit_remove(worker__tasks_t *ts, worker__task_t *t)
{
    if (!t->admitting)
        return;
    worker__task_t **p = &ts->admit_head, *prev = NULL;
    while (*p && *p != t) {
        prev = *p;
        p = &(*p)->qnext;
    }
    if (!*p)
        return;
    *p = t->qnext;
    if (ts->admit_tail == t)
        ts->admit_tail = prev;
    t->qnext = NULL;
    t->admitting = false;
    ts->nadmit--;
}

uint32_t worker__tasks_nadmit(const worker__tasks_t *ts)
{
    return ts->nadmit;
}
