/* SPDX-License-Identifier: MIT */
/* sched.c - the scheduler core: jobs, engines, and deciding what starts.
 *
 * sched_step() walks the queue (priority, then id) once.  For each job with
 * pending tasks it starts tasks while one of the engines grants the job's
 * request, trying the engines round-robin from where the last start left
 * off, so that two engines share the load.  A job that cannot start its next
 * task is blocked; the first blocked job is the head, and later jobs may
 * backfill around it.
 *
 * Anti-starvation: the head records when it was first found blocked and how
 * many tasks were backfilled past it.  Once it has waited starve_after_ms or
 * been bypassed starve_after_bypass times, it gets a hold (res_pool_hold) on
 * the engine where it fits ever and the least is missing.  From then on
 * nothing else can take what it waits for on that engine, so it starts at
 * the latest when the tasks running there now have ended.  There is one
 * hold at a time and it follows the head: if another job becomes the
 * blocked head (a higher priority job arrived), the hold is released.
 *
 * Cost: a step is O(jobs + engines per blocked job + actions).  Starting a
 * task allocates nothing but its cell in the running table (which grows
 * geometrically).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_private.h"
#include "util/util.h"

void sched_config_default(sched_config_t *cfg)
{
    cfg->starve_after_ms = 1000;
    cfg->starve_after_bypass = 64;
}

sched_t *sched_create(const sched_config_t *cfg)
{
    sched_t *s = calloc(1, sizeof(*s));
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    if (cfg)
        s->cfg = *cfg;
    else
        sched_config_default(&s->cfg);
    s->engines_gen = 1;
    s->run = sched__run_create();
    s->jobs = util_hmap_create(sizeof(uint32_t), sizeof(sched__job_t *), NULL,
                               NULL);
    if (!s->run || !s->jobs) {
        sched_destroy(s);
        errno = ENOMEM;
        return NULL;
    }
    return s;
}

static void job_free(sched__job_t *j)
{
    if (!j)
        return;
    free(j->ranges);
    free(j->rq);
    free(j);
}

static void engine_free(sched__engine_t *e)
{
    res_pool_destroy(e->pool);
    free(e->excl);
    free(e);
}

void sched_destroy(sched_t *s)
{
    if (!s)
        return;
    int saved = errno;
    for (size_t i = 0; i < s->nqueue; i++)
        job_free(s->queue[i]);
    free(s->queue);
    for (size_t i = 0; i < s->nengines; i++)
        engine_free(s->engines[i]);
    free(s->engines);
    free(s->order);
    sched__run_destroy(s->run);
    util_hmap_destroy(s->jobs);
    free(s);
    errno = saved;
}

static void hold_release(sched_t *s)
{
    if (s->hold_job && s->hold_engine)
        res_pool_unhold(s->hold_engine->pool);
    s->hold_job = NULL;
    s->hold_engine = NULL;
}

/* ----------------------------------------------------------------- engines */

/* The engine with this id (its position in *pos), or NULL with ENOENT. */
static sched__engine_t *engine_find(const sched_t *s, uint32_t id,
                                    size_t *pos)
{
    for (size_t i = 0; i < s->nengines; i++) {
        if (s->engines[i]->id == id) {
            if (pos)
                *pos = i;
            return s->engines[i];
        }
    }
    errno = ENOENT;
    return NULL;
}

/* Weighted placement is used while some engine's weight is not 1. */
static void weights_update(sched_t *s)
{
    s->weighted = false;
    for (size_t i = 0; i < s->nengines; i++)
        s->weighted |= s->engines[i]->weight != 1;
}

int sched_engine_add(sched_t *s, uint32_t engine_id, res_pool_t *pool)
{
    if (engine_find(s, engine_id, NULL)) {
        res_pool_destroy(pool);
        errno = EEXIST;
        return -1;
    }
    if (util_grow((void **)&s->engines, &s->engines_cap, s->nengines + 1,
                  sizeof(*s->engines)) < 0
        || util_grow((void **)&s->order, &s->order_cap, s->nengines + 1,
                     sizeof(*s->order)) < 0)
        goto nomem;
    sched__engine_t *e = calloc(1, sizeof(*e));
    if (!e)
        goto nomem;
    e->id = engine_id;
    e->pool = pool;
    e->weight = 1;
    /* A newcomer starts level with the least served engine, so that it
     * does not take every task until it has caught up. */
    for (size_t i = 0; i < s->nengines; i++)
        if (i == 0 || s->engines[i]->vtime < e->vtime)
            e->vtime = s->engines[i]->vtime;
    s->engines[s->nengines++] = e;
    s->engines_gen++;
    return 0;
nomem:
    res_pool_destroy(pool);
    errno = ENOMEM;
    return -1;
}

res_pool_t *sched_engine_pool(const sched_t *s, uint32_t engine_id)
{
    sched__engine_t *e = engine_find(s, engine_id, NULL);
    return e ? e->pool : NULL;
}

/* Put a task back at the front of its job's queue.  -1 ENOMEM. */
static int requeue(sched__job_t *j, uint64_t index, uint32_t attempt,
                   uint32_t lost)
{
    if (j->rq_head > 0 && j->rq_head == j->rq_len)
        j->rq_head = j->rq_len = 0;
    if (j->rq_len == j->rq_cap && j->rq_head > 0) {
        memmove(j->rq, j->rq + j->rq_head,
                (j->rq_len - j->rq_head) * sizeof(*j->rq));
        j->rq_len -= j->rq_head;
        j->rq_head = 0;
    }
    if (util_grow((void **)&j->rq, &j->rq_cap, j->rq_len + 1,
                  sizeof(*j->rq)) < 0)
        return -1;
    j->rq[j->rq_len++] = (sched__requeued_t){index, attempt, lost};
    j->pending++;
    return 0;
}

int sched_engine_remove(sched_t *s, uint32_t engine_id)
{
    size_t pos;
    sched__engine_t *e = engine_find(s, engine_id, &pos);
    if (!e)
        return -1;
    if (s->hold_engine == e)
        hold_release(s);
    /* Requeue its tasks. */
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    sched__run_t *c;
    while ((c = sched__run_next(s->run, &it))) {
        if (c->engine != e)
            continue;
        sched__job_t *j = c->job;
        /* A failed requeue (ENOMEM) loses the task from the queue; there is
         * nothing better to do with an engine that is gone. */
        if (requeue(j, c->index, c->attempt, c->lost + 1) == 0) {
            s->pending++;
            s->requeued++;
        }
        j->running--;
        sched__run_iter_remove(s->run, &it);
    }
    memmove(&s->engines[pos], &s->engines[pos + 1],
            (s->nengines - pos - 1) * sizeof(*s->engines));
    s->nengines--;
    if (s->rr > pos)
        s->rr--;
    weights_update(s);
    s->engines_gen++;
    engine_free(e);
    return 0;
}

int sched_engine_set_capacity(sched_t *s, uint32_t engine_id,
                              const res_capacity_t *cap)
{
    sched__engine_t *e = engine_find(s, engine_id, NULL);
    if (!e || res_pool_set_capacity(e->pool, cap) < 0)
        return -1;
    s->engines_gen++; /* what fits ever may have changed */
    return 0;
}

/* Position of job_id in e's sorted exclusion list, or where it would go. */
static size_t excl_pos(const sched__engine_t *e, uint32_t job_id)
{
    size_t lo = 0, hi = e->nexcl;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->excl[mid] < job_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool excludes(const sched__engine_t *e, uint32_t job_id)
{
    if (e->nexcl == 0)
        return false;
    size_t i = excl_pos(e, job_id);
    return i < e->nexcl && e->excl[i] == job_id;
}

bool sched_engine_excludes(const sched_t *s, uint32_t engine_id,
                           uint32_t job_id)
{
    const sched__engine_t *e = engine_find(s, engine_id, NULL);
    return e && excludes(e, job_id);
}

int sched_engine_exclude_job(sched_t *s, uint32_t engine_id,
                             uint32_t job_id)
{
    sched__engine_t *e = engine_find(s, engine_id, NULL);
    sched__job_t *j = sched__job_find(s->jobs, job_id);
    if (!e || !j)
        return -1;
    size_t at = excl_pos(e, job_id);
    if (at < e->nexcl && e->excl[at] == job_id)
        return 0;
    if (util_grow((void **)&e->excl, &e->excl_cap, e->nexcl + 1,
                  sizeof(*e->excl)) < 0)
        return -1;
    memmove(&e->excl[at + 1], &e->excl[at],
            (e->nexcl - at) * sizeof(*e->excl));
    e->excl[at] = job_id;
    e->nexcl++;
    if (s->hold_job == j && s->hold_engine == e)
        hold_release(s);
    j->feasible_gen = 0; /* it may fit nowhere now */
    return 0;
}

/* Forget job_id in every engine's exclusion list (the job is removed). */
static void excl_forget_job(sched_t *s, uint32_t job_id)
{
    for (size_t i = 0; i < s->nengines; i++) {
        sched__engine_t *e = s->engines[i];
        size_t at = excl_pos(e, job_id);
        if (at < e->nexcl && e->excl[at] == job_id) {
            memmove(&e->excl[at], &e->excl[at + 1],
                    (e->nexcl - at - 1) * sizeof(*e->excl));
            e->nexcl--;
        }
    }
}

/* -------------------------------------------------------------------- jobs */

/* Does a come before b in the queue? */
static bool queue_before(const sched__job_t *a, const sched__job_t *b)
{
    if (a->def.priority != b->def.priority)
        return a->def.priority > b->def.priority;
    return a->def.id < b->def.id;
}

int sched_job_add(sched_t *s, const sched_job_t *job)
{
    if (sched__job_find(s->jobs, job->id)) {
        errno = EEXIST;
        return -1;
    }
    if (res_request_check(&job->req, NULL) < 0) {
        errno = EINVAL;
        return -1;
    }
    if (util_grow((void **)&s->queue, &s->queue_cap, s->nqueue + 1,
                  sizeof(*s->queue)) < 0)
        return -1;
    /* The job and its index entry, or neither. */
    sched__job_t *j = calloc(1, sizeof(*j));
    sched__job_t **slot = j ? util_hmap_insert(s->jobs, &job->id, NULL) : NULL;
    if (!slot) {
        free(j);
        errno = ENOMEM;
        return -1;
    }
    *slot = j;
    j->def = *job;
    if (j->def.max_attempts == 0)
        j->def.max_attempts = 1;
    j->blocked_since_ms = -1;
    size_t at = s->nqueue;
    while (at > 0 && queue_before(j, s->queue[at - 1]))
        at--;
    memmove(&s->queue[at + 1], &s->queue[at],
            (s->nqueue - at) * sizeof(*s->queue));
    s->queue[at] = j;
    s->nqueue++;
    return 0;
}

/* Room for one more range after compacting the consumed front.  -1 ENOMEM
 * (nothing changed but the compaction). */
static int ranges_reserve(sched__job_t *j)
{
    if (j->rhead > 0) {
        memmove(j->ranges, j->ranges + j->rhead,
                (j->nranges - j->rhead) * sizeof(*j->ranges));
        j->nranges -= j->rhead;
        j->rhead = 0;
    }
    return util_grow((void **)&j->ranges, &j->ranges_cap, j->nranges + 1,
                     sizeof(*j->ranges));
}

/* Position of the live range holding index, or nranges. */
static size_t range_find(const sched__job_t *j, uint64_t index)
{
    size_t lo = j->rhead, hi = j->nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->ranges[mid].end <= index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < j->nranges && j->ranges[lo].first <= index ? lo
                                                           : j->nranges;
}

static uint64_t ranges_total(const sched__job_t *j)
{
    uint64_t n = 0;
    for (size_t i = j->rhead; i < j->nranges; i++)
        n += j->ranges[i].end - j->ranges[i].first;
    return n;
}

int sched_job_add_tasks(sched_t *s, uint32_t job_id, uint64_t first,
                        uint64_t count)
{
    sched__job_t *j = sched__job_find(s->jobs, job_id);
    if (!j)
        return -1;
    if (count == 0)
        return 0;
    if (first > UINT64_MAX - count) {
        errno = EINVAL;
        return -1;
    }
    if (ranges_reserve(j) < 0)
        return -1;
    uint64_t before = ranges_total(j);
    sched__range_t nr = {first, first + count};
    size_t at = 0;
    while (at < j->nranges && j->ranges[at].end < nr.first)
        at++;
    /* Merge every range that overlaps or touches nr. */
    size_t last = at;
    while (last < j->nranges && j->ranges[last].first <= nr.end) {
        if (j->ranges[last].first < nr.first)
            nr.first = j->ranges[last].first;
        if (j->ranges[last].end > nr.end)
            nr.end = j->ranges[last].end;
        last++;
    }
    /* Replace ranges [at, last) by nr. */
    size_t tail = j->nranges - last;
    memmove(&j->ranges[at + 1], &j->ranges[last], tail * sizeof(nr));
    j->ranges[at] = nr;
    j->nranges = at + 1 + tail;
    uint64_t added = ranges_total(j) - before;
    j->pending += added;
    s->pending += added;
    j->cancelled = false;
    return 0;
}

static uint64_t job_drop_pending(sched_t *s, sched__job_t *j)
{
    uint64_t dropped = j->pending;
    j->nranges = j->rhead = 0;
    j->rq_len = j->rq_head = 0;
    s->pending -= j->pending;
    j->pending = 0;
    j->blocked_since_ms = -1;
    j->bypass = 0;
    if (s->hold_job == j)
        hold_release(s);
    return dropped;
}

int sched_job_cancel(sched_t *s, uint32_t job_id)
{
    sched__job_t *j = sched__job_find(s->jobs, job_id);
    if (!j)
        return -1;
    job_drop_pending(s, j);
    j->cancelled = true;
    return 0;
}

int sched_job_remove(sched_t *s, uint32_t job_id)
{
    sched__job_t *j = sched__job_find(s->jobs, job_id);
    if (!j)
        return -1;
    if (j->pending || j->running) {
        errno = EBUSY;
        return -1;
    }
    if (s->hold_job == j)
        hold_release(s);
    for (size_t i = 0; i < s->nqueue; i++) {
        if (s->queue[i] == j) {
            memmove(&s->queue[i], &s->queue[i + 1],
                    (s->nqueue - i - 1) * sizeof(*s->queue));
            s->nqueue--;
            break;
        }
    }
    util_hmap_remove(s->jobs, &job_id);
    excl_forget_job(s, job_id);
    job_free(j);
    return 0;
}

int sched_job_set_mem(sched_t *s, uint32_t job_id, uint64_t mem_bytes)
{
    sched__job_t *j = sched__job_find(s->jobs, job_id);
    if (!j)
        return -1;
    if (j->def.req.mem_bytes == mem_bytes)
        return 0;
    res_request_t req = j->def.req;
    req.mem_bytes = mem_bytes;
    if (res_request_check(&req, NULL) < 0) {
        errno = EINVAL;
        return -1;
    }
    j->def.req = req;
    /* A hold was sized for the old request; the next step places a new one
     * if the job still starves.  Running cells keep their own allocation,
     * so releases stay exact. */
    if (s->hold_job == j)
        hold_release(s);
    j->feasible_gen = 0;
    return 0;
}

uint64_t sched_job_pending(const sched_t *s, uint32_t job_id)
{
    const sched__job_t *j = sched__job_find(s->jobs, job_id);
    return j ? j->pending : 0;
}

uint64_t sched_job_running(const sched_t *s, uint32_t job_id)
{
    const sched__job_t *j = sched__job_find(s->jobs, job_id);
    return j ? j->running : 0;
}

/* Is index pending in j (requeue list or ranges)? */
static bool job_has_pending(const sched__job_t *j, uint64_t index)
{
    for (size_t i = j->rq_head; i < j->rq_len; i++)
        if (j->rq[i].index == index)
            return true;
    return range_find(j, index) < j->nranges;
}

/* -------------------------------------------------------------------- step */

/* The task a job would start next. */
static void job_peek(const sched__job_t *j, uint64_t *index,
                     uint32_t *attempt, uint32_t *lost)
{
    if (j->rq_head < j->rq_len) {
        const sched__requeued_t *r = &j->rq[j->rq_head];
        *index = r->index;
        *attempt = r->attempt;
        *lost = r->lost;
    } else {
        *index = j->ranges[j->rhead].first;
        *attempt = 1;
        *lost = 0;
    }
}

static void job_pop(sched__job_t *j)
{
    if (j->rq_head < j->rq_len) {
        if (++j->rq_head == j->rq_len)
            j->rq_head = j->rq_len = 0;
    } else if (++j->ranges[j->rhead].first == j->ranges[j->rhead].end) {
        if (++j->rhead == j->nranges)
            j->rhead = j->nranges = 0;
    }
    j->pending--;
}

static int by_vtime(const void *a, const void *b)
{
    const sched__engine_t *x = *(sched__engine_t *const *)a;
    const sched__engine_t *y = *(sched__engine_t *const *)b;
    if (x->vtime != y->vtime)
        return x->vtime < y->vtime ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int sched_engine_set_weight(sched_t *s, uint32_t engine_id, double weight)
{
    if (!(weight > 0) || !isfinite(weight)) {
        errno = EINVAL;
        return -1;
    }
    sched__engine_t *e = engine_find(s, engine_id, NULL);
    if (!e)
        return -1;
    e->weight = weight;
    weights_update(s);
    return 0;
}

/* Start j's next task if an engine grants it; fill act.  false when no
 * engine can take it now. */
static bool place_one(sched_t *s, sched__job_t *j, sched_action_t *act)
{
    const res_request_t *req = &j->def.req;
    sched__engine_t *e = NULL;
    res_alloc_t a;
    uint32_t id = j->def.id;
    if (s->hold_job == j
        && res_pool_acquire_held(s->hold_engine->pool, req, &a) == 0) {
        e = s->hold_engine;
        s->hold_job = NULL;       /* the pool cleared its own hold */
        s->hold_engine = NULL;
    }
    if (!e && s->weighted) {
        /* Weighted: the engine with the least starts per unit of weight
         * that fits is chosen (stride scheduling). */
        memcpy(s->order, s->engines, s->nengines * sizeof(*s->order));
        qsort(s->order, s->nengines, sizeof(*s->order), by_vtime);
        for (size_t k = 0; !e && k < s->nengines; k++) {
            sched__engine_t *cand = s->order[k];
            if ((s->hold_job != j || cand != s->hold_engine)
                && !excludes(cand, id)
                && res_pool_acquire(cand->pool, req, &a) == 0)
                e = cand;
        }
    }
    for (size_t k = 0; !e && !s->weighted && k < s->nengines; k++) {
        size_t i = (s->rr + k) % s->nengines;
        sched__engine_t *cand = s->engines[i];
        if ((s->hold_job == j && cand == s->hold_engine)
            || excludes(cand, id))
            continue;
        if (res_pool_acquire(cand->pool, req, &a) == 0) {
            e = cand;
            s->rr = i + 1;
        }
    }
    if (!e)
        return false;
    e->vtime += 1.0 / e->weight;
    if (s->hold_job == j)
        hold_release(s); /* started elsewhere: the hold is not needed */

    uint64_t index;
    uint32_t attempt, lost;
    job_peek(j, &index, &attempt, &lost);
    sched__run_t *c = sched__run_insert(s->run, j, index);
    if (!c) {
        res_pool_release(e->pool, &a);
        return false;
    }
    c->engine = e;
    c->attempt = attempt;
    c->lost = lost;
    c->alloc = a;
    job_pop(j);
    s->pending--;
    j->running++;
    j->blocked_since_ms = -1;
    j->bypass = 0;
    s->started++;

    memset(act, 0, sizeof(*act));
    act->type = SCHED_ACT_START;
    act->job_id = j->def.id;
    act->index = index;
    act->attempt = attempt;
    act->lost = lost;
    act->engine_id = e->id;
    act->alloc = a;
    return true;
}

/* Can some engine that does not exclude j ever run it?  If not, a reason
 * goes to buf. */
static bool job_feasible(const sched_t *s, const sched__job_t *j, char *buf,
                         size_t size)
{
    banyan_error_t err;
    err.text[0] = '\0';
    size_t rejected = 0;
    for (size_t i = 0; i < s->nengines; i++) {
        if (excludes(s->engines[i], j->def.id)) {
            rejected++;
            continue;
        }
        banyan_error_t *ep = err.text[0] == '\0' ? &err : NULL;
        if (res_pool_fits_ever(s->engines[i]->pool, &j->def.req, ep))
            return true;
    }
    if (rejected == s->nengines)
        snprintf(buf, size, "rejected by %s engine",
                 s->nengines == 1 ? "its" : "every");
    else if (s->nengines == 1)
        snprintf(buf, size, "%s", err.text);
    else if (rejected > 0)
        snprintf(buf, size, "%s (no engine of %zu fits, %zu rejected it)",
                 err.text, s->nengines, rejected);
    else
        snprintf(buf, size, "%s (no engine of %zu fits)", err.text,
                 s->nengines);
    return false;
}

/* The engine not excluding j where j fits ever and the least of it is
 * missing now, or NULL. */
static sched__engine_t *least_short(const sched_t *s, const sched__job_t *j)
{
    sched__engine_t *best = NULL;
    double best_short = HUGE_VAL;
    for (size_t i = 0; i < s->nengines; i++) {
        if (excludes(s->engines[i], j->def.id))
            continue;
        double m = res_pool_shortfall(s->engines[i]->pool, &j->def.req);
        if (m < best_short) {
            best_short = m;
            best = s->engines[i];
        }
    }
    return best;
}

/* Set a hold for the starving head j on the engine where it fits ever and
 * the least is missing. */
static void hold_place(sched_t *s, sched__job_t *j)
{
    sched__engine_t *best = least_short(s, j);
    if (!best)
        return;
    res_pool_hold(best->pool, &j->def.req);
    s->hold_job = j;
    s->hold_engine = best;
}

static void maybe_hold(sched_t *s, sched__job_t *head, int64_t now_ms)
{
    if (s->hold_job == head)
        return;
    if (now_ms - head->blocked_since_ms >= s->cfg.starve_after_ms
        || head->bypass >= s->cfg.starve_after_bypass)
        hold_place(s, head);
}

/* The first blocked job is the head: start its clock, move the hold to it
 * and hold once it starves. */
static void head_blocked(sched_t *s, sched__job_t *j, int64_t now_ms)
{
    if (s->hold_job && s->hold_job != j)
        hold_release(s);
    if (j->blocked_since_ms < 0) {
        j->blocked_since_ms = now_ms;
        j->bypass = 0;
    }
    maybe_hold(s, j, now_ms);
}

int sched_step(sched_t *s, int64_t now_ms, sched_action_t *out, int max)
{
    int n = 0;
    sched__job_t *head = NULL;
    if (s->hold_job && s->hold_job->pending == 0)
        hold_release(s);
    if (s->nengines == 0)
        return 0;
    for (size_t qi = 0; qi < s->nqueue && n < max; qi++) {
        sched__job_t *j = s->queue[qi];
        if (j->pending == 0)
            continue;
        if (j->feasible_gen != s->engines_gen) {
            char reason[sizeof(out->reason)];
            if (!job_feasible(s, j, reason, sizeof(reason))) {
                sched_action_t *act = &out[n];
                memset(act, 0, sizeof(*act));
                memcpy(act->reason, reason, sizeof(act->reason));
                act->type = SCHED_ACT_INFEASIBLE;
                act->job_id = j->def.id;
                act->dropped = job_drop_pending(s, j);
                n++;
                continue;
            }
            j->feasible_gen = s->engines_gen;
        }
        while (n < max && j->pending > 0 && place_one(s, j, &out[n])) {
            n++;
            if (head) {
                head->bypass++;
                maybe_hold(s, head, now_ms);
            }
        }
        if (j->pending > 0 && n < max && !head) {
            head = j;
            head_blocked(s, j, now_ms);
        }
    }
    return n;
}

/* -------------------------------------------------------------------- done */

sched_outcome_t sched_outcome_of(const banyan_task_end_t *end)
{
    switch (end->state) {
    case BANYAN_TASK_OK:
        return SCHED_OK;
    case BANYAN_TASK_INTERRUPTED:
    case BANYAN_TASK_CANCELLED:
        return SCHED_FINAL;
    default:
        return end->flags & BANYAN_END_SPAWN_FAILED ? SCHED_FINAL
                                                    : SCHED_FAILED;
    }
}

bool sched_retry_allowed(sched_outcome_t outcome, uint32_t attempt,
                         uint32_t max_attempts)
{
    return outcome == SCHED_FAILED && attempt < max_attempts;
}

int sched_task_done(sched_t *s, uint32_t job_id, uint64_t index,
                    sched_outcome_t outcome)
{
    sched__run_t *c = sched__run_find(s->run, job_id, index);
    if (!c)
        return -1;
    sched__job_t *j = c->job;
    res_pool_release(c->engine->pool, &c->alloc);
    j->running--;
    int rc = 0;
    if (!j->cancelled
        && sched_retry_allowed(outcome, c->attempt, j->def.max_attempts)
        && requeue(j, index, c->attempt + 1, c->lost) == 0) {
        s->pending++;
        s->requeued++;
        rc = 1;
    }
    sched__run_remove(s->run, c);
    return rc;
}

int sched_task_return(sched_t *s, uint32_t job_id, uint64_t index)
{
    sched__run_t *c = sched__run_find(s->run, job_id, index);
    if (!c)
        return -1;
    sched__job_t *j = c->job;
    /* Same attempt and lost count: it never ran, so nothing is counted. */
    bool again = !j->cancelled;
    if (again) {
        if (requeue(j, index, c->attempt, c->lost) < 0)
            return -1;
        s->pending++;
    }
    res_pool_release(c->engine->pool, &c->alloc);
    j->running--;
    sched__run_remove(s->run, c);
    return again ? 1 : 0;
}

int sched_task_forget(sched_t *s, uint32_t job_id, uint64_t index)
{
    sched__run_t *c = sched__run_find(s->run, job_id, index);
    if (!c)
        return -1;
    res_pool_release(c->engine->pool, &c->alloc);
    c->job->running--;
    sched__run_remove(s->run, c);
    return 0;
}

bool sched_task_running(const sched_t *s, uint32_t job_id, uint64_t index,
                        uint32_t *engine_id, res_alloc_t *alloc)
{
    const sched__run_t *c = sched__run_find(s->run, job_id, index);
    if (!c)
        return false;
    if (engine_id)
        *engine_id = c->engine->id;
    if (alloc)
        *alloc = c->alloc;
    return true;
}

uint32_t sched_task_attempt(const sched_t *s, uint32_t job_id,
                            uint64_t index)
{
    const sched__run_t *c = sched__run_find(s->run, job_id, index);
    return c ? c->attempt : 0;
}

/* Take index out of j's ranges; the caller made room for a split. */
static void range_cut(sched__job_t *j, size_t k, uint64_t index)
{
    sched__range_t *r = &j->ranges[k];
    if (r->first == index && r->end == index + 1) {
        memmove(r, r + 1, (j->nranges - k - 1) * sizeof(*r));
        j->nranges--;
        if (j->rhead == j->nranges)
            j->rhead = j->nranges = 0;
    } else if (r->first == index) {
        r->first++;
    } else if (r->end == index + 1) {
        r->end--;
    } else {
        memmove(r + 2, r + 1, (j->nranges - k - 1) * sizeof(*r));
        r[1] = (sched__range_t){index + 1, r->end};
        r->end = index;
        j->nranges++;
    }
}

/* Take a pending index out of j.  -1 ENOENT / ENOMEM, nothing changed. */
static int job_withdraw(sched_t *s, sched__job_t *j, uint64_t index)
{
    for (size_t i = j->rq_head; i < j->rq_len; i++) {
        if (j->rq[i].index != index)
            continue;
        memmove(&j->rq[i], &j->rq[i + 1],
                (j->rq_len - i - 1) * sizeof(*j->rq));
        if (--j->rq_len == j->rq_head)
            j->rq_head = j->rq_len = 0;
        goto taken;
    }
    size_t k = range_find(j, index);
    if (k == j->nranges) {
        errno = ENOENT;
        return -1;
    }
    const sched__range_t *r = &j->ranges[k];
    if (r->first < index && index + 1 < r->end) {
        if (ranges_reserve(j) < 0) /* a split needs one more range */
            return -1;
        k = range_find(j, index);
    }
    range_cut(j, k, index);
taken:
    j->pending--;
    s->pending--;
    return 0;
}

int sched_task_withdraw(sched_t *s, uint32_t job_id, uint64_t index)
{
    sched__job_t *j = sched__job_find(s->jobs, job_id);
    if (!j)
        return -1;
    return job_withdraw(s, j, index);
}

int sched_task_adopt(sched_t *s, uint32_t job_id, uint64_t index,
                     uint32_t attempt, uint32_t engine_id,
                     const res_alloc_t *alloc)
{
    sched__job_t *j = sched__job_find(s->jobs, job_id);
    sched__engine_t *e = engine_find(s, engine_id, NULL);
    if (!j || !e)
        return -1;
    if (sched__run_find(s->run, job_id, index)) {
        errno = EEXIST;
        return -1;
    }
    /* Make every later step infallible before changing anything. */
    bool pending = job_has_pending(j, index);
    if (pending && ranges_reserve(j) < 0)
        return -1;
    uint32_t lost = 0;
    for (size_t i = j->rq_head; pending && i < j->rq_len; i++)
        if (j->rq[i].index == index) {
            if (attempt == 0)
                attempt = j->rq[i].attempt;
            lost = j->rq[i].lost;
        }
    res_alloc_t a;
    if (alloc) {
        if (res_pool_claim(e->pool, alloc) < 0)
            return -1;
        a = *alloc;
    } else if (res_pool_acquire_over(e->pool, &j->def.req, &a) < 0) {
        return -1;
    }
    sched__run_t *c = sched__run_insert(s->run, j, index);
    if (!c) {
        res_pool_release(e->pool, &a);
        return -1;
    }
    if (pending)
        (void)job_withdraw(s, j, index); /* room was made above */
    c->engine = e;
    c->attempt = attempt ? attempt : 1;
    c->lost = lost;
    c->alloc = a;
    j->running++;
    return 0;
}

/* -------------------------------------------------------------- inspection */

void sched_get_stats(const sched_t *s, sched_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->pending = s->pending;
    st->running = sched__run_count(s->run);
    st->started = s->started;
    st->requeued = s->requeued;
    st->engines = (uint32_t)s->nengines;
    st->jobs = (uint32_t)s->nqueue;
}

char *sched_explain(const sched_t *s, uint32_t job_id, uint64_t index,
                    char *buf, size_t size)
{
    const sched__job_t *j = sched__job_find(s->jobs, job_id);
    if (size == 0)
        return buf;
    if (!j) {
        snprintf(buf, size, "unknown job %" PRIu32, job_id);
        return buf;
    }
    const sched__run_t *c = sched__run_find(s->run, job_id, index);
    if (c) {
        snprintf(buf, size, "running on engine %" PRIu32 " (attempt %"
                 PRIu32 ")", c->engine->id, c->attempt);
        return buf;
    }
    if (!job_has_pending(j, index)) {
        snprintf(buf, size, "not pending");
        return buf;
    }
    if (s->nengines == 0) {
        snprintf(buf, size, "pending: no engine has joined yet");
        return buf;
    }
    char why[200];
    if (!job_feasible(s, j, why, sizeof(why))) {
        snprintf(buf, size, "pending: never fits: %s", why);
        return buf;
    }
    /* Explain against the hold's engine, else the one missing least (it
     * exists: the job is feasible). */
    bool held = s->hold_job == j;
    const sched__engine_t *e = held ? s->hold_engine : least_short(s, j);
    res_pool_explain(e->pool, &j->def.req, why, sizeof(why));
    if (held && strcmp(why, "fits now") == 0)
        snprintf(buf, size, "pending: resources held on engine %" PRIu32
                 ", starts at the next step", e->id);
    else if (held)
        snprintf(buf, size, "pending: holding resources on engine %"
                 PRIu32 " while they drain", e->id);
    else if (strcmp(why, "fits now") == 0)
        snprintf(buf, size, "pending: fits now on engine %" PRIu32
                 ", starts at the next step", e->id);
    else
        snprintf(buf, size, "pending: %s on engine %" PRIu32, why, e->id);
    return buf;
}
