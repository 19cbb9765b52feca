/* SPDX-License-Identifier: MIT */
/* exec.c - the executor's life cycle: start, reap, stop and report tasks.
 *
 * A task is reported when three things have happened: its process was reaped
 * (wait4), and both output pipes reached EOF.  Pipe EOF means every process
 * holding the write ends exited, so the output is complete.  When the group
 * was killed but something outside it (a process that moved to a session of
 * its own) still holds a pipe, the pipes are closed once the group is gone,
 * or at the latest EXEC_DRAIN_MS after the SIGKILL, so a killed task is always
 * reported.
 *
 * Reaping.  SIGCHLD arrives through a uv_signal_t.  We peek at the next
 * zombie with waitid(P_ALL, WNOWAIT) and reap it with wait4(pid) only when
 * the pid is one of ours, so children that other code in the process started
 * (popen, uv_spawn) are left to their owners.  If the first zombie is not
 * ours we fall back to polling our own pids one by one for this round.  In
 * the usual case that is two system calls per task, with no scan.
 *
 * Stopping.  Each task has at most one timer, made only when needed: it
 * first waits for the timeout, then for the SIGTERM -> SIGKILL grace, then
 * polls the task's tree while the pipes drain.  Signals go to the task's
 * whole tree (exec__tree_signal: its group, and every process that left
 * the group, found from /proc); after the leader is reaped the group id is
 * only used while no newer task holds that pid (see exec_private.h).  The
 * SIGKILL is sent again on every poll until a look at /proc taken after
 * the last SIGKILL finds no process of the tree alive, so a process forked
 * just before it is not missed.  Looks at /proc are shared: one younger
 * than EXEC_PROCS_FRESH_MS serves every task (a halt of a thousand tasks
 * reads /proc once a poll, not a thousand times).
 *
 * Orphans.  The process is a child subreaper (set once by exec_create and
 * never unset), so the processes that a task's processes leave behind
 * become our children.  They are reaped here too: a zombie child that no
 * executor knows and that is not in our own process group (the children
 * that other code of this process starts, popen or nvidia-smi, stay in it
 * and are left to their owners) is an adopted orphan.
 *
 * Tasks die with the process.  Each executor has a guardian process
 * (exec_guard.c) that SIGKILLs every task's group when this process dies,
 * however it dies.  A task is in the guardian's table from its spawn to its
 * unlinking; the guardian is a child of ours, so the SIGCHLD handler knows
 * its pid, reaps it and starts a new one if it ever dies before us.
 *
 * Handles.  The SIGCHLD watcher is referenced only while tasks run, so the
 * loop ends when the work does; the sampler timer is never referenced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_private.h"

enum {
    EXEC_DEFAULT_GRACE_MS = 2000, /* SIGTERM -> SIGKILL when unset */
    EXEC_DRAIN_MS = 1000,         /* longest wait for pipes after SIGKILL */
    EXEC_DRAIN_POLL_MS = 50,      /* tree polling period while draining */
    EXEC_KILL_PASSES = 8,         /* SIGKILL passes at once (destroy) */
    EXEC_PROCS_FRESH_MS = 20,     /* a /proc snapshot this young is reused */
};

/* ------------------------------------------------- the process's executors */

/* Every executor of this process (one thread runs them all), so that one
 * executor's SIGCHLD handler and tree walks leave the others' children
 * alone.  all_pid: the process the list belongs to (a forked child starts
 * with an empty one). */
static exec_t *all_head;
static pid_t all_pid;

static void all_add(exec_t *ex)
{
    if (all_pid != getpid()) {
        all_pid = getpid();
        all_head = NULL;
    }
    ex->all_next = all_head;
    all_head = ex;
}

static void all_remove(exec_t *ex)
{
    if (all_pid != getpid())
        return;
    for (exec_t **p = &all_head; *p; p = &(*p)->all_next) {
        if (*p == ex) {
            *p = ex->all_next;
            return;
        }
    }
}

/* ------------------------------------------------------------ pid map */

exec_task_t *exec__map_find(const exec_t *ex, pid_t pid)
{
    exec_task_t **t = util_hmap_find(ex->map, &pid);
    return t ? *t : NULL;
}

bool exec__pid_is_known(pid_t pid)
{
    if (all_pid != getpid())
        return false;
    for (exec_t *e = all_head; e; e = e->all_next) {
        if (e->guard.pid == pid)
            return true;
        exec_task_t *t = exec__map_find(e, pid);
        if (t && !t->reaped)
            return true;
    }
    return false;
}

static void map_remove(exec_t *ex, exec_task_t *t)
{
    if (exec__map_find(ex, t->pid) == t)
        util_hmap_remove(ex->map, &t->pid);
}

/* Enter t under its pid; an older, reaped task with the same number is
 * dropped from the map (its group is gone, or the number would not have
 * been reused).  0 or -1 ENOMEM. */
static int map_put(exec_t *ex, exec_task_t *t)
{
    exec_task_t **slot = util_hmap_insert(ex->map, &t->pid, NULL);
    if (!slot)
        return -1;
    *slot = t;
    return 0;
}

/* ------------------------------------------------------------- lists */

static void list_append(exec_task_t **head, exec_task_t **tail,
                        exec_task_t *t)
{
    t->next = NULL;
    t->prev = *tail;
    if (*tail)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static void list_remove(exec_task_t **head, exec_task_t **tail,
                        exec_task_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        *head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        *tail = t->prev;
    t->prev = t->next = NULL;
}

/* ------------------------------------------------------- task teardown */

/* Close callbacks touch only the task: the executor may be gone. */
static void on_task_handle_closed(uv_handle_t *h)
{
    exec_task_t *t = h->data;
    if (--t->open_handles == 0)
        free(t);
}

static void pipe_close(exec_pipe_t *p)
{
    if (p->fd < 0)
        return;
    uv_close((uv_handle_t *)&p->poll, on_task_handle_closed);
    close(p->fd);
    p->fd = -1;
}

/* Release everything of a task that is out of the executor's lists. */
static void task_free(exec_task_t *t)
{
    pipe_close(&t->pipes[0]);
    pipe_close(&t->pipes[1]);
    exec__stream_fini(&t->pipes[0].stream);
    exec__stream_fini(&t->pipes[1].stream);
    if (t->has_timer) {
        t->has_timer = false;
        uv_close((uv_handle_t *)&t->timer, on_task_handle_closed);
    }
    if (--t->open_handles == 0) /* the task's own reference */
        free(t);
}

/* Take t out of the running set. */
static void task_unlink(exec_t *ex, exec_task_t *t)
{
    if (t->pid > 0)
        map_remove(ex, t);
    /* Out of the map, out of the guardian's table: from here on the
     * number may be reused, and the guardian must not kill its group. */
    exec__guard_release(&ex->guard, t->guard_slot);
    t->guard_slot = 0;
    if (t->in_cgroup) /* stays while a daemon it left lives in it */
        exec__cgroup_remove(&ex->cg, t->seq);
    t->in_cgroup = false;
    if (t->mem_limit && t->pid > 0)
        ex->nlimited--;
    list_remove(&ex->head, &ex->tail, t);
    if (--ex->running == 0 && !ex->closing)
        uv_unref((uv_handle_t *)&ex->sigchld);
}

/* Hand t's result to the callback and free it. */
static void task_report(exec_t *ex, exec_task_t *t)
{
    if (t->has_timer)
        uv_timer_stop(&t->timer);
    if (t->capture) {
        t->res.out = &t->pipes[0].stream;
        t->res.err = &t->pipes[1].stream;
    }
    ex->cb(ex, t->task_arg, &t->res, ex->cb_arg);
    task_free(t);
}

static void maybe_report(exec_t *ex, exec_task_t *t)
{
    if (!t->reaped || t->pipes[0].fd >= 0 || t->pipes[1].fd >= 0)
        return;
    task_unlink(ex, t);
    task_report(ex, t);
}

/* -------------------------------------------------------------- signals */

/* Signal t's process group.  Once the leader is reaped, the group id may
 * have been given to a newer task of ours (only after the group emptied);
 * then there is nothing left to signal. */
static int group_kill(exec_t *ex, exec_task_t *t, int sig)
{
    if (t->pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    if (t->reaped) {
        exec_task_t *owner = exec__map_find(ex, t->pid);
        if (owner != t) {
            errno = ESRCH;
            return -1;
        }
    }
    return kill(-t->pid, sig);
}

static void on_task_timer(uv_timer_t *h);

static void task_timer_start(exec_t *ex, exec_task_t *t, int64_t ms)
{
    if (!t->has_timer) {
        uv_timer_init(ex->loop, &t->timer);
        t->timer.data = t;
        t->has_timer = true;
        t->open_handles++;
    }
    uv_timer_start(&t->timer, on_task_timer, ms > 0 ? (uint64_t)ms : 0, 0);
}

/* The processes of the host as seen at most max_age_ms ago (0: now), or
 * NULL when /proc cannot be read. */
static exec_procs_t *procs_get(exec_t *ex, int64_t max_age_ms)
{
    int64_t now = util_mono_ms();
    if (ex->procs_ok && now - ex->procs_ms <= max_age_ms)
        return &ex->procs;
    ex->procs_ok = exec__procs_scan(&ex->procs) == 0;
    ex->procs_ms = now;
    return ex->procs_ok ? &ex->procs : NULL;
}

/* SIGKILL t's tree as a recent look at /proc shows it.  Returns whether
 * that look found no process of it alive (without /proc: whether the
 * group is gone). */
static bool tree_kill(exec_t *ex, exec_task_t *t)
{
    exec_procs_t *ps = procs_get(ex, EXEC_PROCS_FRESH_MS);
    int n = exec__tree_signal(ex, t, ps, SIGKILL);
    /* After the walk, not before: a process the task forked before it
     * was moved into its cgroup is found through its parent, which
     * cgroup.kill would have killed first. */
    if (t->in_cgroup)
        exec__cgroup_kill(&ex->cg, t->seq);
    if (n < 0 || !ps)
        return group_kill(ex, t, 0) < 0 && errno == ESRCH;
    return n == 0;
}

static void task_sigkill(exec_t *ex, exec_task_t *t)
{
    (void)tree_kill(ex, t);
    t->phase = EXEC_KILL_KILLED;
    t->killed_ms = util_mono_ms();
    /* The leader's death comes through SIGCHLD; the timer only watches the
     * pipes in case something outside the group keeps them open. */
    task_timer_start(ex, t, EXEC_DRAIN_POLL_MS);
}

void exec__limit_kill(exec_t *ex, exec_task_t *t)
{
    if (t->phase == EXEC_KILL_KILLED || t->res.mem_limited)
        return;
    t->res.mem_limited = true;
    /* No grace: a task over its memory limit only grows while it cleans
     * up, and the limit protects the others. */
    task_sigkill(ex, t);
}

/* The next step of t's termseq: its signal to the tree, then a wait; a
 * SIGKILL step, or the end of the sequence, kills for good. */
static void termseq_step(exec_t *ex, exec_task_t *t)
{
    const exec_termseq_t *q = &t->termseq;
    if (t->term_step >= q->n || q->sig[t->term_step] == SIGKILL) {
        task_sigkill(ex, t);
        return;
    }
    int i = t->term_step++;
    (void)exec__tree_signal(ex, t, procs_get(ex, EXEC_PROCS_FRESH_MS),
                            q->sig[i]);
    t->phase = EXEC_KILL_TERM;
    t->kill_due_ms = util_mono_ms() + q->ms[i];
    task_timer_start(ex, t, q->ms[i]);
}

/* SIGTERM now, SIGKILL after grace_ms (at once when grace_ms <= 0), to t's
 * whole tree, or (with a termseq, grace_ms > 0) its steps.  A kill already
 * scheduled earlier is kept. */
static void task_terminate(exec_t *ex, exec_task_t *t, int64_t grace_ms)
{
    if (t->phase == EXEC_KILL_KILLED)
        return;
    if (grace_ms <= 0) {
        task_sigkill(ex, t);
        return;
    }
    if (t->termseq.n > 0) {
        if (t->phase == EXEC_KILL_NONE)
            termseq_step(ex, t);
        return;
    }
    int64_t due = util_mono_ms() + grace_ms;
    exec_procs_t *ps = procs_get(ex, EXEC_PROCS_FRESH_MS);
    (void)exec__tree_signal(ex, t, ps, SIGTERM);
    /* A stopped process would sleep through SIGTERM. */
    (void)exec__tree_signal(ex, t, ps, SIGCONT);
    if (t->phase == EXEC_KILL_TERM && t->kill_due_ms <= due)
        return;
    t->phase = EXEC_KILL_TERM;
    t->kill_due_ms = due;
    task_timer_start(ex, t, grace_ms);
}

/* Close the pipes of a killed task once its tree is empty (killing what
 * is left of it on the way), or after EXEC_DRAIN_MS in any case.  The
 * look at /proc that tells is younger than the SIGKILL before it (a drain
 * poll comes EXEC_DRAIN_POLL_MS later). */
static void task_drain(exec_t *ex, exec_task_t *t)
{
    bool tree_gone = tree_kill(ex, t);
    if (!t->reaped)
        return; /* task_reaped() comes back here */
    if (tree_gone || util_mono_ms() - t->killed_ms >= EXEC_DRAIN_MS) {
        pipe_close(&t->pipes[0]);
        pipe_close(&t->pipes[1]);
        maybe_report(ex, t);
        return;
    }
    task_timer_start(ex, t, EXEC_DRAIN_POLL_MS);
}

static void on_task_timer(uv_timer_t *h)
{
    exec_task_t *t = h->data;
    exec_t *ex = t->ex;
    switch (t->phase) {
    case EXEC_KILL_NONE: /* the timeout */
        t->res.timed_out = true;
        task_terminate(ex, t, t->grace_ms);
        break;
    case EXEC_KILL_TERM:
        if (t->termseq.n > 0)
            termseq_step(ex, t);
        else
            task_sigkill(ex, t);
        break;
    case EXEC_KILL_KILLED:
        task_drain(ex, t);
        break;
    }
}

/* --------------------------------------------------------------- output */

static void on_pipe(uv_poll_t *h, int status, int events)
{
    exec_pipe_t *p = (exec_pipe_t *)((char *)h - offsetof(exec_pipe_t, poll));
    exec_task_t *t = h->data;
    exec_t *ex = t->ex;
    (void)events;
    if (status < 0) {
        pipe_close(p);
        maybe_report(ex, t);
        return;
    }
    /* Read what is there now; a level-triggered poll brings us back for
     * more, so one busy pipe cannot starve the rest of the loop. */
    for (int round = 0; round < 16; round++) {
        ssize_t n = read(p->fd, ex->rbuf, sizeof ex->rbuf);
        if (n > 0) {
            if (t->on_output)
                t->on_output(p == &t->pipes[0] ? 1 : 2, ex->rbuf, (size_t)n,
                             t->on_output_arg);
            exec__stream_append(&p->stream, ex->rbuf, (size_t)n);
            if ((size_t)n < sizeof ex->rbuf)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        pipe_close(p); /* EOF, or an error that will not go away */
        maybe_report(ex, t);
        return;
    }
}

/* --------------------------------------------------------------- reaping */

/* Is bytes (a task's ru_maxrss) above banyan's own high-water RSS?
 *
 * A child created with vfork semantics (posix_spawn) or fork runs on an mm
 * that holds the parent's pages, and exec records that mm's high-water RSS
 * into the child's ru_maxrss.  So wait4 reports at least banyan's own RSS for
 * every task, and a tiny task of a 500 MB banyan would look like 500 MB.  A
 * value at or below our own high-water mark may be just that, so it is not
 * used; above it, it can only come from the task. */
static bool above_self_maxrss(exec_t *ex, uint64_t bytes)
{
    /* Our high-water mark only grows: a value at or below an earlier
     * reading needs no system call. */
    if (bytes <= ex->self_maxrss)
        return false;
    struct rusage self;
    if (getrusage(RUSAGE_SELF, &self) < 0)
        return false;
    ex->self_maxrss = (uint64_t)self.ru_maxrss * 1024;
    return bytes > ex->self_maxrss;
}

static void task_reaped(exec_t *ex, exec_task_t *t, int status,
                        const struct rusage *ru)
{
    t->reaped = true;
    ex->unreaped--;
    t->res.end_time = util_wall_time();
    if (WIFSIGNALED(status)) {
        t->res.exit_code = -1;
        t->res.term_signal = WTERMSIG(status);
    } else {
        t->res.exit_code = WEXITSTATUS(status);
    }
    t->res.cpu_user = (double)ru->ru_utime.tv_sec +
                      (double)ru->ru_utime.tv_usec / 1e6;
    t->res.cpu_sys = (double)ru->ru_stime.tv_sec +
                     (double)ru->ru_stime.tv_usec / 1e6;
    uint64_t maxrss = (uint64_t)ru->ru_maxrss * 1024; /* KiB on Linux */
    if (maxrss > t->res.peak_rss_bytes && above_self_maxrss(ex, maxrss))
        t->res.peak_rss_bytes = maxrss;
    /* A task too short to sample stayed at or below wait4's figure, which
     * is the most it can have used (a tree spread over several processes
     * could sum higher, but a short task rarely is one). */
    if (t->res.peak_rss_bytes == 0)
        t->res.peak_rss_bound_bytes = maxrss;
    if (t->phase == EXEC_KILL_KILLED)
        task_drain(ex, t);
    else
        maybe_report(ex, t);
}

/* Reap t if it has exited.  Returns true when it was reaped. */
static bool try_reap(exec_t *ex, exec_task_t *t)
{
    int status;
    struct rusage ru;
    pid_t r;
    do
        r = wait4(t->pid, &status, WNOHANG, &ru);
    while (r < 0 && errno == EINTR);
    if (r != t->pid)
        return false;
    task_reaped(ex, t, status, &ru);
    return true;
}

static void on_sigchld(uv_signal_t *h, int signum)
{
    exec_t *ex = h->data;
    (void)signum;
    while (!ex->closing && (ex->unreaped > 0 || ex->guard.pid > 0)) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
            if (errno == EINTR)
                continue;
            return; /* ECHILD: no children at all */
        }
        if (si.si_pid == 0)
            return; /* children, but none has exited */
        if (exec__guard_reap(&ex->guard, si.si_pid))
            continue; /* and a new guardian runs */
        exec_task_t *t = exec__map_find(ex, si.si_pid);
        if (!t || t->reaped) {
            if (exec__pid_is_known(si.si_pid) ||
                !exec__is_adopted(si.si_pid))
                break; /* someone else's child: theirs to reap */
            pid_t r;
            do
                r = waitpid(si.si_pid, NULL, WNOHANG);
            while (r < 0 && errno == EINTR);
            if (r != si.si_pid)
                break;
            continue; /* an orphan of a task, adopted and now reaped */
        }
        if (!try_reap(ex, t))
            break;
    }
    /* A foreign zombie hides the rest: ask for each of ours in turn.  The
     * callbacks may start tasks (appended, harmless) but report only the
     * task at hand, so saving next is enough. */
    if (!ex->closing)
        (void)exec__guard_reap(&ex->guard, 0);
    exec_task_t *next;
    for (exec_task_t *t = ex->head; t && !ex->closing && ex->unreaped > 0;
         t = next) {
        next = t->next;
        if (!t->reaped && t->pid > 0)
            (void)try_reap(ex, t);
    }
}

/* ------------------------------------------------------------- failures */

static void on_idle(uv_idle_t *h)
{
    exec_t *ex = h->data;
    uv_idle_stop(h);
    while (ex->failed_head && !ex->closing) {
        exec_task_t *t = ex->failed_head;
        list_remove(&ex->failed_head, &ex->failed_tail, t);
        if (--ex->running == 0)
            uv_unref((uv_handle_t *)&ex->sigchld);
        task_report(ex, t);
    }
}

/* ------------------------------------------------------------ interface */

exec_t *exec_create(uv_loop_t *loop, exec_done_cb cb, void *cb_arg)
{
    exec_t *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL; /* ENOMEM */
    ex->cg.fd = -1;
    ex->loop = loop;
    ex->cb = cb;
    ex->cb_arg = cb_arg;
    ex->page_size = sysconf(_SC_PAGESIZE);
    ex->sample_every_ms = EXEC_SAMPLE_MIN_MS;
    ex->limit_every_ms = EXEC_LIMIT_SAMPLE_MS;
    ex->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (ex->devnull < 0)
        goto error;
    ex->map = util_hmap_create(sizeof(pid_t), sizeof(exec_task_t *), NULL,
                               NULL);
    if (!ex->map)
        goto error;
    /* Orphans of the tasks come to us, not to init (see the top).  Kernels
     * before 3.4 lack it: trees are then followed while their parents
     * live, and by their tags. */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (exec__spawn_attr_init(ex) < 0)
        goto error;
    (void)exec__cgroup_open(&ex->cg); /* cg.fd -1: none here */
    if (exec__guard_init(&ex->guard,
                         ex->cg.fd >= 0 ? ex->cg.path : NULL) < 0) {
        posix_spawnattr_destroy(&ex->attr);
        exec__cgroup_close(&ex->cg);
        goto error;
    }
    int rc = uv_signal_init(loop, &ex->sigchld);
    if (rc < 0) {
        exec__guard_fini(&ex->guard);
        exec__cgroup_close(&ex->cg);
        posix_spawnattr_destroy(&ex->attr);
        errno = -rc;
        goto error;
    }
    uv_idle_init(loop, &ex->idle);
    uv_timer_init(loop, &ex->sampler);
    ex->sigchld.data = ex->idle.data = ex->sampler.data = ex;
    ex->open_handles = 3;
    uv_unref((uv_handle_t *)&ex->sampler);
    rc = uv_signal_start(&ex->sigchld, on_sigchld, SIGCHLD);
    if (rc < 0) {
        /* Handles exist now: let the normal teardown free them. */
        exec_destroy(ex);
        errno = -rc;
        return NULL;
    }
    uv_unref((uv_handle_t *)&ex->sigchld);
    all_add(ex);
    return ex;
error:;
    int saved = errno;
    if (ex->devnull >= 0)
        close(ex->devnull);
    util_hmap_destroy(ex->map);
    free(ex);
    errno = saved;
    return NULL;
}

/* Reap the adopted orphans that have exited (exec_destroy: the trees it
 * killed). */
static void reap_orphans(void)
{
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
            errno == EINTR)
            continue;
        if (si.si_pid == 0 || exec__pid_is_known(si.si_pid) ||
            !exec__is_adopted(si.si_pid))
            return;
        if (waitpid(si.si_pid, NULL, WNOHANG) != si.si_pid)
            return;
    }
}

static void on_exec_handle_closed(uv_handle_t *h)
{
    exec_t *ex = h->data;
    if (--ex->open_handles == 0) {
        util_hmap_destroy(ex->map);
        exec__procs_fini(&ex->procs);
        free(ex->envp);
        exec__paths_free(ex);
        free(ex);
    }
}

void exec_destroy(exec_t *ex)
{
    if (!ex || ex->closing)
        return;
    int saved = errno;
    ex->closing = true;
    /* Kill every tree first, then reap, so that they die in parallel; a
     * pass reads /proc once for all tasks, and passes go on while one
     * finds a process alive (it may have forked before its death). */
    for (int pass = 0; pass < EXEC_KILL_PASSES && ex->head; pass++) {
        bool all_gone = true;
        exec_procs_t *ps = procs_get(ex, 0);
        for (exec_task_t *t = ex->head; t; t = t->next) {
            all_gone &= exec__tree_signal(ex, t, ps, SIGKILL) == 0 && ps;
            if (t->in_cgroup) /* after the walk, as in tree_kill */
                exec__cgroup_kill(&ex->cg, t->seq);
        }
        if (all_gone)
            break;
    }
    exec__procs_fini(&ex->procs);
    ex->procs_ok = false;
    while (ex->head) {
        exec_task_t *t = ex->head;
        if (!t->reaped) {
            int status;
            while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR)
                ;
            t->reaped = true;
        }
        task_unlink(ex, t);
        task_free(t);
    }
    reap_orphans();
    all_remove(ex);
    while (ex->failed_head) {
        exec_task_t *t = ex->failed_head;
        list_remove(&ex->failed_head, &ex->failed_tail, t);
        task_free(t);
    }
    ex->running = 0;
    ex->unreaped = 0;
    /* Every task is dead and reaped: the guardian can go. */
    exec__guard_fini(&ex->guard);
    exec__cgroup_close(&ex->cg);
    posix_spawnattr_destroy(&ex->attr);
    close(ex->devnull);
    ex->devnull = -1;
    uv_close((uv_handle_t *)&ex->sigchld, on_exec_handle_closed);
    uv_close((uv_handle_t *)&ex->idle, on_exec_handle_closed);
    uv_close((uv_handle_t *)&ex->sampler, on_exec_handle_closed);
    errno = saved;
}

static exec_task_t *task_new(exec_t *ex, const exec_spec_t *spec,
                             void *task_arg)
{
    exec_task_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL; /* ENOMEM */
    t->ex = ex;
    t->task_arg = task_arg;
    t->open_handles = 1; /* held by the executor until task_free() */
    t->capture = spec->capture;
    t->on_output = spec->on_output;
    t->on_output_arg = spec->on_output_arg;
    t->grace_ms = spec->kill_grace_ms > 0 ? spec->kill_grace_ms
                                          : EXEC_DEFAULT_GRACE_MS;
    t->termseq = spec->termseq;
    if (t->termseq.n > EXEC_TERMSEQ_MAX)
        t->termseq.n = EXEC_TERMSEQ_MAX;
    t->mem_limit = spec->mem_limit_bytes;
    t->res.mem_limit_bytes = spec->mem_limit_bytes;
    for (int i = 0; i < 2; i++) {
        t->pipes[i].fd = -1;
        exec__stream_init(&t->pipes[i].stream);
    }
    return t;
}

/* Watch t's pipes.  Cannot fail for a valid fd; on a failure the pipe is
 * closed and counts as EOF. */
static void watch_pipes(exec_t *ex, exec_task_t *t)
{
    for (int i = 0; i < 2; i++) {
        exec_pipe_t *p = &t->pipes[i];
        if (uv_poll_init(ex->loop, &p->poll, p->fd) < 0) {
            close(p->fd);
            p->fd = -1;
            continue;
        }
        p->poll.data = t; /* every handle of a task points to the task */
        t->open_handles++;
        if (uv_poll_start(&p->poll, UV_READABLE, on_pipe) < 0)
            pipe_close(p);
    }
}

int exec_start(exec_t *ex, const exec_spec_t *spec, void *task_arg,
               banyan_error_t *error)
{
    if (!ex || ex->closing || !spec || !spec->argv || !spec->argv[0]) {
        errno = EINVAL;
        return errprintf(error, "exec_start: no command");
    }
    /* A guardian that died and could not be started again then: no task
     * runs unguarded. */
    if (ex->guard.pid == 0 && exec__guard_start(&ex->guard) < 0)
        return errprintf(error, "cannot start the task guardian: %s",
                         strerror(errno));
    uint32_t slot = exec__guard_reserve(&ex->guard);
    if (slot == 0)
        return errprintf(error, "cannot start task: %u tasks run already",
                         ex->running);
    exec_task_t *t = task_new(ex, spec, task_arg);
    if (!t) {
        exec__guard_release(&ex->guard, slot);
        return errprintf(error, "cannot start task: out of memory");
    }
    if (exec__spawn(ex, t, spec, error) < 0) {
        exec__guard_release(&ex->guard, slot);
        if (t->in_cgroup)
            exec__cgroup_remove(&ex->cg, t->seq);
        task_free(t);
        return -1;
    }
    if (t->pid > 0) {
        /* At once: until this store, the task would outlive us. */
        exec__guard_set(&ex->guard, slot, t->pid, t->seq);
        if (t->in_cgroup)
            t->in_cgroup = exec__cgroup_add(&ex->cg, t->seq, t->pid);
        t->guard_slot = slot;
    } else {
        exec__guard_release(&ex->guard, slot);
        if (t->in_cgroup)
            exec__cgroup_remove(&ex->cg, t->seq);
        t->in_cgroup = false;
    }
    if (ex->running++ == 0)
        uv_ref((uv_handle_t *)&ex->sigchld);
    if (t->pid == 0) { /* never ran: report from the loop, not from here */
        list_append(&ex->failed_head, &ex->failed_tail, t);
        uv_idle_start(&ex->idle, on_idle);
        return 0;
    }
    if (map_put(ex, t) < 0) {
        /* Without an entry we could not reap it: take it back. */
        int saved = errno;
        kill(-t->pid, SIGKILL);
        while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        exec__guard_release(&ex->guard, t->guard_slot);
        if (t->in_cgroup)
            exec__cgroup_remove(&ex->cg, t->seq);
        if (--ex->running == 0)
            uv_unref((uv_handle_t *)&ex->sigchld);
        task_free(t);
        errno = saved;
        return errprintf(error, "cannot start task: out of memory");
    }
    list_append(&ex->head, &ex->tail, t);
    ex->unreaped++;
    if (t->mem_limit)
        ex->nlimited++;
    if (t->capture)
        watch_pipes(ex, t);
    if (spec->timeout_ms > 0) {
        /* The loop's clock may be stale after a long callback; a timeout
         * must never fire early. */
        uv_update_time(ex->loop);
        task_timer_start(ex, t, spec->timeout_ms);
    }
    exec__sampler_kick(ex);
    return 0;
}

static exec_task_t *task_find(exec_t *ex, void *task_arg)
{
    for (exec_task_t *t = ex->head; t; t = t->next)
        if (t->task_arg == task_arg)
            return t;
    return NULL;
}

int exec_signal(exec_t *ex, void *task_arg, int sig)
{
    exec_task_t *t = task_find(ex, task_arg);
    if (t) {
        if (sig == SIGKILL) {
            /* Until the tree is empty, as a timeout would. */
            if (t->phase != EXEC_KILL_KILLED)
                task_sigkill(ex, t);
            return 0;
        }
        /* Without /proc, the group alone was signalled. */
        (void)exec__tree_signal(ex, t, procs_get(ex, EXEC_PROCS_FRESH_MS),
                                sig);
        return 0;
    }
    for (t = ex->failed_head; t; t = t->next)
        if (t->task_arg == task_arg)
            return 0; /* never ran, nothing to signal */
    errno = ENOENT;
    return -1;
}

int exec_timeout_now(exec_t *ex, void *task_arg)
{
    exec_task_t *t = task_find(ex, task_arg);
    if (!t) {
        errno = ENOENT;
        return -1;
    }
    if (t->phase == EXEC_KILL_NONE && !t->reaped) {
        int saved = errno;
        t->res.timed_out = true;
        task_terminate(ex, t, t->grace_ms);
        errno = saved;
    }
    return 0;
}

int exec_task_mem(const exec_t *ex, void *task_arg, exec_mem_t *out)
{
    for (const exec_task_t *t = ex->head; t; t = t->next) {
        if (t->task_arg != task_arg)
            continue;
        out->rss_bytes = t->rss_now;
        out->peak_bytes = t->res.peak_rss_bytes;
        out->samples = t->samples;
        out->busy = t->busy;
        out->peak_age_ms = util_mono_ms() - t->peak_grew_ms;
        return 0;
    }
    errno = ENOENT;
    return -1;
}

int exec_stop(exec_t *ex, void *task_arg, int64_t grace_ms)
{
    exec_task_t *t = task_find(ex, task_arg);
    if (!t) {
        for (t = ex->failed_head; t; t = t->next)
            if (t->task_arg == task_arg)
                return 0; /* never ran, nothing to stop */
        errno = ENOENT;
        return -1;
    }
    int saved = errno;
    t->res.interrupted = true;
    task_terminate(ex, t, grace_ms);
    errno = saved;
    return 0;
}

void exec_interrupt(exec_t *ex, int64_t grace_ms)
{
    if (!ex || ex->closing)
        return;
    int saved = errno;
    /* One look at /proc serves every task (procs_get). */
    for (exec_task_t *t = ex->head; t; t = t->next) {
        t->res.interrupted = true;
        task_terminate(ex, t, grace_ms);
    }
    errno = saved;
}

unsigned exec_running(const exec_t *ex)
{
    return ex ? ex->running : 0;
}
