/* SPDX-License-Identifier: MIT */
/* engine.c - the engine object: the gate, starting tasks, their ends.
 *
 * Local mode's driver and a cluster worker both hold one engine on their
 * own loop and call the same functions: engine_gate() before a start,
 * engine_start() to spawn (the environment built by engine_env_build, the
 * host's memory limit and kill grace applied), and ops->done with the one
 * classification (engine_end_classify) when the process group is over.
 * The memory watch, estimates, multiplexing and fair sharing are in
 * engine_mem.c; this file decides when they are asked.
 *
 * Invariants: a task is in the running list from a successful
 * engine_start() until just before its ops->done; e->charged is the sum
 * of the running tasks' charges; every running task gets exactly one
 * ops->done.
 */
#include "engine_private.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

enum {
    HOUSEKEEP_MS = 100,
};

static void on_housekeep(uv_timer_t *h);

/* ------------------------------------------------------- running list */

static void run_link(engine_t *e, engine_task_t *t)
{
    t->prev = e->run_tail;
    t->next = NULL;
    if (e->run_tail)
        e->run_tail->next = t;
    else
        e->run_head = t;
    e->run_tail = t;
    t->running = true;
    e->running++;
    e->charged += t->charge;
    /* The housekeeping runs while tasks do (idle engines stay asleep:
     * hundreds of workers share a host). */
    if (e->timer_open && !uv_is_active((uv_handle_t *)&e->housekeep))
        uv_timer_start(&e->housekeep, on_housekeep, HOUSEKEEP_MS,
                       HOUSEKEEP_MS);
}

static void run_unlink(engine_t *e, engine_task_t *t)
{
    assert(t->running);
    if (t->prev)
        t->prev->next = t->next;
    else
        e->run_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        e->run_tail = t->prev;
    t->prev = t->next = NULL;
    t->running = false;
    assert(e->running > 0 && e->charged >= t->charge);
    e->running--;
    e->charged -= t->charge;
}

/* ---------------------------------------------------------------- log */

void engine__log(engine_t *e, const char *fmt, ...)
{
    if (!e->ops->log)
        return;
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    e->ops->log(e, line, e->arg);
}

/* --------------------------------------------------------------- ends */

static void on_exec_done(exec_t *ex, void *task_arg, const exec_result_t *res,
                         void *cb_arg)
{
    (void)ex;
    engine_t *e = cb_arg;
    engine_task_t *t = task_arg;
    run_unlink(e, t);
    if (t->suspended)
        engine__unsuspend(e, t);
    /* Killed by a signal that banyan (timeout, interrupt, limit, critical
     * memory, a stop) did not send: the OOM killer, a user. */
    bool unasked = res->term_signal && !res->timed_out &&
                   !res->interrupted && !res->mem_limited &&
                   !t->critical_killed && !t->interrupting;
    engine_end_ctx_t ctx = {.timeout_ms = t->timeout_ms,
                            .interrupted = t->interrupting,
                            .mem_critical = t->critical_killed,
                            .why = t->why};
    banyan_task_end_t end;
    engine_end_classify(res, &ctx, &end);
    engine__learn(e, t, res, unasked);
    engine__mux_end(e, t, res);
    e->st.tasks++;
    e->st.cpu_s += res->cpu_user + res->cpu_sys;
    if (!res->spawn_failed && res->end_time > res->start_time) {
        e->fin_run_s += res->end_time - res->start_time;
        e->fin_cpu_s += res->cpu_user + res->cpu_sys;
    }
    if (res->mem_limited)
        e->st.limit_kills++;
    engine_env_fini(&t->env);
    e->ops->done(e, t, res, &end, unasked, e->arg);
}

/* ------------------------------------------------------------- gate */

engine_wait_t engine_gate(engine_t *e)
{
    if (e->nsusp > 0)
        return ENGINE_WAIT_SUSPENDED;
    if (e->o.mem_reserve_bytes && e->mem_avail_known &&
        e->mem_avail < e->o.mem_reserve_bytes)
        return ENGINE_WAIT_RESERVE;
    uint32_t allowed = engine_allowed(e);
    if (e->running >= allowed)
        return allowed < e->o.slots ? ENGINE_WAIT_SHARE : ENGINE_WAIT_SLOTS;
    return ENGINE_GO;
}

engine_wait_t engine_fits(engine_t *e, uint64_t mem_bytes, const char *group)
{
    uint64_t charge = mem_bytes ? mem_bytes : engine_estimate(e, group);
    if (e->running > 0 && e->charged + charge > e->mem_budget + e->mux_slack)
        return ENGINE_WAIT_MEM;
    return ENGINE_GO;
}

/* ------------------------------------------------------------ start */

int engine_start(engine_t *e, engine_task_t *t, exec_spec_t *spec,
                 const engine_env_in_t *env_in, banyan_error_t *error)
{
    t->auto_mem = t->mem_bytes == 0 && e->est != NULL;
    t->charge = t->mem_bytes ? t->mem_bytes
                             : engine_estimate(e, t->group);
    t->running = t->suspended = t->critical_killed = false;
    t->interrupting = false;
    t->settled_peak = t->mux_slack = 0;
    t->why[0] = '\0';
    t->timeout_ms = spec->timeout_ms;
    if (engine_env_build(&t->env, env_in) < 0)
        return errprintf(error, "cannot build the environment: %s",
                         strerror(errno));
    spec->env = t->env.env;
    spec->mem_limit_bytes = e->o.mem_limit_bytes;
    spec->kill_grace_ms = e->o.kill_grace_ms;
    spec->termseq = e->o.termseq;
    if (exec_start(e->exec, spec, t, error) < 0) {
        engine_env_fini(&t->env);
        return -1;
    }
    run_link(e, t);
    return 0;
}

void engine_task_stop(engine_t *e, engine_task_t *t)
{
    if (!t->running)
        return;
    t->interrupting = true;
    if (t->suspended) /* a stopped tree cannot act on SIGTERM */
        engine__unsuspend(e, t); /* exec_stop sends SIGCONT */
    /* The same stop as a timeout's and engine_interrupt's: the whole
     * tree, SIGKILL after the grace. */
    (void)exec_stop(e->exec, t, e->o.kill_grace_ms);
}

void engine_task_timeout(engine_t *e, engine_task_t *t)
{
    if (!t->running || t->interrupting)
        return;
    if (t->suspended)
        engine__unsuspend(e, t);
    (void)exec_timeout_now(e->exec, t);
}

void engine_set_slots(engine_t *e, uint32_t n)
{
    e->o.slots = n ? n : 1;
}

int engine_task_signal(engine_t *e, engine_task_t *t, int sig)
{
    if (!t->running) {
        errno = ESRCH;
        return -1;
    }
    return exec_signal(e->exec, t, sig);
}

void engine_interrupt(engine_t *e, int64_t grace_ms)
{
    if (!e->exec)
        return;
    if (grace_ms < 0)
        grace_ms = e->o.kill_grace_ms;
    for (engine_task_t *t = e->run_head; t; t = t->next)
        t->interrupting = true;
    /* Suspended tasks must run to act on SIGTERM. */
    while (e->nsusp > 0) {
        engine_task_t *t = e->susp[e->nsusp - 1];
        engine__unsuspend(e, t);
        (void)exec_signal(e->exec, t, SIGCONT);
    }
    exec_interrupt(e->exec, grace_ms);
}

/* ------------------------------------------------------ housekeeping */

static void on_housekeep(uv_timer_t *h)
{
    engine_t *e = h->data;
    int64_t now = util_mono_ms();
    engine__meminfo(e, now);
    engine__critical(e, now);
    engine__mux_tick(e, now);
    engine__share_tick(e, now);
    if (e->running == 0)
        uv_timer_stop(&e->housekeep);
}

void engine_poll(engine_t *e, int64_t now_ms)
{
    engine__meminfo(e, now_ms);
    /* Settled tasks give memory back soon after the sampler saw them. */
    if (engine__mux_on(e) && now_ms - e->last_mux_ms >= ENGINE_MUX_EVERY_MS)
        engine__mux_tick(e, now_ms);
    engine__share_tick(e, now_ms);
}

void engine_want(engine_t *e, uint32_t tasks, uint32_t mcpu_each)
{
    e->want_tasks = tasks;
    e->want_mcpu = mcpu_each;
}

bool engine_mem_available(const engine_t *e, uint64_t *bytes)
{
    *bytes = e->mem_avail;
    return e->mem_avail_known;
}

/* ------------------------------------------------------------ set-up */

engine_t *engine_create(uv_loop_t *loop, const engine_options_t *o,
                        const engine_ops_t *ops, void *arg,
                        banyan_error_t *error)
{
    engine_t *e = calloc(1, sizeof(*e));
    if (!e) {
        errprintf(error, "out of memory");
        return NULL;
    }
    e->loop = loop;
    e->o = *o;
    e->ops = ops;
    e->arg = arg;
    if (e->o.slots == 0)
        e->o.slots = 1;
    if (e->o.kill_grace_ms <= 0)
        e->o.kill_grace_ms = 2000;
    if ((o->group && !(e->group = strdup(o->group))) ||
        (o->share_path && !(e->share_path = strdup(o->share_path)))) {
        errprintf(error, "out of memory");
        goto error;
    }
    e->o.group = e->group;
    e->o.share_path = e->share_path;
    e->share_slots = 0; /* no grant yet: one task, until the first update */
    uint64_t total = 0;
    if (util_meminfo(&total, NULL) < 0) {
        errprintf(error, "cannot read /proc/meminfo: %s", strerror(errno));
        goto error;
    }
    e->mem_budget = o->mem_bytes && o->mem_bytes < total ? o->mem_bytes
                                                         : total;
    if (engine__mem_init(e, error) < 0)
        goto error;
    e->exec = exec_create(loop, on_exec_done, e);
    if (!e->exec) {
        errprintf(error, "cannot create the executor: %s", strerror(errno));
        goto error;
    }
    uv_timer_init(loop, &e->housekeep);
    e->housekeep.data = e;
    e->timer_open = true;
    return e;
error:
    /* Nothing on the loop yet but exec's handles, closed by the next run
     * of the caller's loop (engine_close destroys exec).  Keeps errno. */
    engine_destroy(e);
    return NULL;
}

static void free_engine(engine_t *e)
{
    engine__mem_fini(e);
    free(e->susp);
    free(e->group);
    free(e->share_path);
    free(e);
}

static void on_timer_closed(uv_handle_t *h)
{
    engine_t *e = h->data;
    e->timer_closing = false;
    if (e->destroyed)
        free_engine(e);
}

void engine_close(engine_t *e)
{
    if (!e)
        return;
    if (e->timer_open) {
        e->timer_open = false;
        e->timer_closing = true;
        uv_close((uv_handle_t *)&e->housekeep, on_timer_closed);
    }
    /* Tasks still running are killed and reaped without callbacks. */
    exec_destroy(e->exec);
    e->exec = NULL;
    while (e->run_head) {
        engine_task_t *t = e->run_head;
        run_unlink(e, t);
        engine_env_fini(&t->env);
    }
    e->nsusp = 0;
    /* Leave the host's share at once: others may grow into it. */
    engine__share_close(e);
}

void engine_destroy(engine_t *e)
{
    if (!e)
        return;
    int saved = errno;
    engine_close(e);
    if (e->timer_closing)
        e->destroyed = true; /* freed when the loop closes the timer */
    else
        free_engine(e);
    errno = saved;
}

/* ----------------------------------------------------------- queries */

uint32_t engine_allowed(const engine_t *e)
{
    if (!e->share || e->share_slots >= e->o.slots)
        return e->o.slots;
    return e->share_slots ? e->share_slots : 1;
}

est_table_t *engine_estimates(engine_t *e)
{
    return e->est;
}

void engine_get_stats(const engine_t *e, engine_stats_t *st)
{
    *st = e->st;
}
