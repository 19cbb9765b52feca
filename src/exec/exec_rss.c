/* SPDX-License-Identifier: MIT */
/* exec_rss.c - peak resident memory of each task's whole process tree.
 *
 * A task's tree is its process group (the executor puts every task in a group
 * of its own, and that group is also what a timeout kills).  Two ways to list
 * a group's members were considered:
 *
 *  - walking /proc/<pid>/task/<tid>/children from the task's pid: cheap per
 *    task, but it needs CONFIG_PROC_CHILDREN (absent on some kernels, e.g.
 *    the firecracker VMs we test on) and it loses every process whose parent
 *    exited, since orphans are re-parented to init while staying in the
 *    group (`sh -c 'big &'`);
 *  - one pass over /proc/<pid>/stat: it sees every member of every group,
 *    orphans included, and a single pass serves all running tasks at once,
 *    because the pgrp field (5) maps straight to a task through the pid map
 *    and the rss field (24) is in the same line, so each process costs one
 *    open/read/close and no second file.
 *
 * We take the second.  Its cost grows with the processes on the host, not
 * with the tasks, so the period adapts: it starts at EXEC_SAMPLE_MIN_MS and
 * is stretched to keep a pass under ~2% of one core (a 1 ms pass allows one
 * every 50 ms, so most hosts stay at 100 ms), capped at EXEC_SAMPLE_MAX_MS.
 * Tasks younger than EXEC_SAMPLE_AFTER_MS are not scanned for at all: the
 * timer only scans when the oldest running task has passed that age, so a
 * stream of short tasks never pays for /proc.  Shared pages of the members
 * are counted once per member, as a sum of VmRSS would, except that
 * members sharing one address space are counted once: a child between
 * vfork() and exec (posix_spawn in a task, Python's subprocess) and a
 * CLONE_VM helper (LeakSanitizer's tracer at exit) show the same rss as
 * their parent, and summing both killed a task at twice its size (t0 of
 * tests/exec/test_limit.c under ASan, one run in three).  Members with
 * the same vsize and stack start are asked with kcmp(KCMP_VM) whether
 * they share one (a fork() child has its own copy, however alike).
 *
 * Hard memory limits: while any running task has one, the timer ticks every
 * EXEC_LIMIT_SAMPLE_MS (stretched to keep a pass under ~4% of a core, at
 * most EXEC_SAMPLE_MIN_MS) and ignores the age rule, and each pass kills the
 * groups found above their limit.
 *
 * Process trees.  Memory is counted by group, but a task is more than its
 * group: `timeout` and `set -m` put children in groups of their own, and
 * `setsid` in a session of its own; all of them must die when the task is
 * stopped.  The process that runs an executor is a child subreaper
 * (PR_SET_CHILD_SUBREAPER, set by exec_create), so a process whose parent
 * exits is adopted by us instead of init: every process a task made stays
 * a descendant of ours as long as it lives.  The tree of a task is then,
 * from one pass over /proc/<pid>/stat (pid, ppid, pgrp, state): its group
 * (while the number is the task's), its leader (while unreaped), the
 * orphans we adopted whose tag (EXEC_TAG_VAR in /proc/<pid>/environ) names
 * the task, and every descendant of these by the parent links.  Only the
 * adopted orphans need their environment read, so a pass costs what a
 * memory scan costs.  What is missed: an orphan whose environment does not
 * carry the tag any more (`env -i`, a setuid program whose environ we may
 * not read) when its parent died before the pass, and anything under it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_private.h"

/* What one line of /proc/<pid>/stat says. */
typedef struct stat_line {
    char state;                 /* field 3 */
    pid_t ppid;                 /* field 4 */
    pid_t pgrp;                 /* field 5 */
    uint64_t vsize;             /* field 23, bytes */
    uint64_t rss_pages;         /* field 24 */
    uint64_t startstack;        /* field 28 */
    bool busy;
} stat_line_t;

/* The fields of stat_line_t from the text of /proc/<pid>/stat.  The command
 * name (field 2) may hold spaces and parentheses, so parsing starts after
 * the last ')'.  0 or -1 when the text is not understood. */
static int parse_stat(char *text, stat_line_t *st)
{
    char *p = strrchr(text, ')');
    if (!p)
        return -1;
    p++;
    while (*p == ' ')
        p++;
    /* Running or runnable, or in uninterruptible (disk, page fault) wait:
     * the process may be growing even if this scan saw no growth. */
    st->busy = *p == 'R' || *p == 'D';
    st->state = *p;
    /* Fields after the name: state(3) ppid(4) pgrp(5) ... vsize(23)
     * rss(24) ... startstack(28). */
    for (int field = 3; field <= 28; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        if (field == 4 || field == 5 || field == 23 || field == 24 ||
            field == 28) {
            char *end;
            errno = 0;
            long long v = strtoll(p, &end, 10);
            if (end == p || errno)
                return -1;
            uint64_t u = v > 0 ? (uint64_t)v : 0;
            if (field == 4)
                st->ppid = (pid_t)v;
            else if (field == 5)
                st->pgrp = (pid_t)v;
            else if (field == 23)
                st->vsize = u;
            else if (field == 24)
                st->rss_pages = u;
            else
                st->startstack = u;
            p = end;
        } else {
            while (*p && *p != ' ')
                p++;
        }
    }
    return 0;
}

/* Whether processes a and b share one address space: kcmp(2), asked only
 * for members whose vsize and stack start already match (a fork() child
 * that has not diverged matches too, but has a copy of its own).  False
 * where kcmp is missing (no CONFIG_CHECKPOINT_RESTORE): both are counted,
 * as before. */
static bool share_mm(pid_t a, pid_t b)
{
    return syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0) == 0;
}

/* Whether a member of t with pid's address space was counted in this
 * scan; if not, remember it (while there is room). */
static bool same_mm_seen(exec_task_t *t, pid_t pid, const stat_line_t *st)
{
    for (unsigned i = 0; i < t->nmm_seen; i++)
        if (t->mm_seen[i][1] == st->vsize &&
            t->mm_seen[i][2] == st->startstack &&
            share_mm((pid_t)t->mm_seen[i][0], pid))
            return true;
    if (t->nmm_seen < EXEC__MM_SEEN) {
        t->mm_seen[t->nmm_seen][0] = (uint64_t)pid;
        t->mm_seen[t->nmm_seen][1] = st->vsize;
        t->mm_seen[t->nmm_seen][2] = st->startstack;
        t->nmm_seen++;
    }
    return false;
}

/* Read /proc/<name>/stat into buf (NUL-terminated).  0 or -1. */
static int read_stat(int proc_fd, const char *name, char *buf, size_t size)
{
    char path[64];
    size_t n = strlen(name);
    if (n + sizeof "/stat" > sizeof path)
        return -1;
    memcpy(path, name, n);
    memcpy(path + n, "/stat", sizeof "/stat");
    int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r;
    do
        r = read(fd, buf, size - 1);
    while (r < 0 && errno == EINTR);
    close(fd);
    if (r <= 0)
        return -1;
    buf[r] = '\0';
    return 0;
}

int exec__sample_all(exec_t *ex)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return -1;
    int proc_fd = dirfd(dir);
    for (exec_task_t *t = ex->head; t; t = t->next) {
        t->rss_sum = 0;
        t->busy_sum = false;
        t->nmm_seen = 0;
    }
    struct dirent *d;
    char buf[1024];
    while ((d = readdir(dir))) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9')
            continue;
        stat_line_t st = {0};
        if (read_stat(proc_fd, d->d_name, buf, sizeof buf) < 0 ||
            parse_stat(buf, &st) < 0 || st.pgrp <= 0)
            continue; /* gone meanwhile, or not ours to understand */
        exec_task_t *t = exec__map_find(ex, st.pgrp);
        if (t) {
            t->busy_sum |= st.busy;
            if (!same_mm_seen(t, (pid_t)atoi(d->d_name), &st))
                t->rss_sum += st.rss_pages * (uint64_t)ex->page_size;
        }
    }
    closedir(dir);
    int64_t now = util_mono_ms();
    for (exec_task_t *t = ex->head; t; t = t->next) {
        t->rss_now = t->rss_sum;
        t->busy = t->busy_sum;
        t->samples++;
        if (t->rss_sum > t->res.peak_rss_bytes) {
            t->res.peak_rss_bytes = t->rss_sum;
            t->peak_grew_ms = now;
        }
        /* Killing only changes the task's phase and timer, never the
         * list, so the walk may go on. */
        if (t->mem_limit && t->rss_sum > t->mem_limit)
            exec__limit_kill(ex, t);
    }
    return 0;
}

static int64_t clamp_ms(int64_t ms, int64_t lo, int64_t hi)
{
    return ms < lo ? lo : ms > hi ? hi : ms;
}

static void on_sample(uv_timer_t *h)
{
    exec_t *ex = h->data;
    if (!ex->head) {
        uv_timer_stop(h);
        return;
    }
    /* The list is in start order, so its head is the oldest task.  Tasks
     * with a memory limit are watched from their first moment on. */
    bool limited = ex->nlimited > 0;
    if (ex->no_sampling && !limited) {
        uv_timer_stop(h);
        return;
    }
    uint64_t t0 = util_mono_ns();
    if (!limited &&
        (int64_t)(t0 / 1000000) - ex->head->start_ms < EXEC_SAMPLE_AFTER_MS)
        return;
    (void)exec__sample_all(ex);
    int64_t pass_ms = (int64_t)((util_mono_ns() - t0) / 1000000);
    int64_t every = clamp_ms(pass_ms * 50, EXEC_SAMPLE_MIN_MS,
                             EXEC_SAMPLE_MAX_MS);
    ex->sample_every_ms = every;
    /* With a limit to enforce, up to ~4% of a core is spent on it. */
    int64_t fast = clamp_ms(pass_ms * 25, EXEC_LIMIT_SAMPLE_MS,
                            EXEC_SAMPLE_MIN_MS);
    ex->limit_every_ms = fast;
    int64_t want = ex->nlimited > 0 ? fast : every;
    if ((uint64_t)want != uv_timer_get_repeat(h))
        uv_timer_set_repeat(h, (uint64_t)want);
}

void exec_set_sampling(exec_t *ex, bool on)
{
    ex->no_sampling = !on;
}

void exec__sampler_kick(exec_t *ex)
{
    bool fast = ex->nlimited > 0;
    if (ex->no_sampling && !fast)
        return;
    uv_timer_t *h = &ex->sampler;
    if (ex->limit_every_ms <= 0)
        ex->limit_every_ms = EXEC_LIMIT_SAMPLE_MS;
    if (uv_is_active((uv_handle_t *)h)) {
        if (!fast || uv_timer_get_repeat(h) <= (uint64_t)ex->limit_every_ms)
            return;
        uv_timer_stop(h); /* a limited task needs the fast period now */
    }
    /* Without a limit, the first tick comes when a task started now
     * becomes old enough to be worth a scan. */
    uint64_t every = (uint64_t)(fast ? ex->limit_every_ms
                                     : ex->sample_every_ms);
    uint64_t first = fast ? every : EXEC_SAMPLE_AFTER_MS;
    uv_timer_start(h, on_sample, first, every);
}

/* ------------------------------------------------------------ process trees */

static int proc_cmp(const void *a, const void *b)
{
    pid_t x = ((const exec_proc_t *)a)->pid, y = ((const exec_proc_t *)b)->pid;
    return (x > y) - (x < y);
}

int exec__procs_scan(exec_procs_t *ps)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return -1;
    int proc_fd = dirfd(dir);
    ps->n = 0;
    struct dirent *d;
    char buf[1024];
    while ((d = readdir(dir))) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9')
            continue;
        stat_line_t st = {0};
        if (read_stat(proc_fd, d->d_name, buf, sizeof buf) < 0 ||
            parse_stat(buf, &st) < 0)
            continue; /* gone meanwhile */
        if (ps->n == ps->cap &&
            util_grow((void **)&ps->v, &ps->cap, ps->n + 1, sizeof *ps->v) <
                0) {
            closedir(dir);
            errno = ENOMEM;
            return -1;
        }
        ps->v[ps->n++] = (exec_proc_t){
            .pid = (pid_t)atoi(d->d_name),
            .ppid = st.ppid,
            .pgrp = st.pgrp,
            .zombie = st.state == 'Z' || st.state == 'X',
        };
    }
    closedir(dir);
    if (ps->n > 1)
        qsort(ps->v, ps->n, sizeof *ps->v, proc_cmp);
    return 0;
}

void exec__procs_fini(exec_procs_t *ps)
{
    free(ps->v);
    ps->v = NULL;
    ps->n = ps->cap = 0;
}

static exec_proc_t *procs_find(const exec_procs_t *ps, pid_t pid)
{
    exec_proc_t key = {.pid = pid};
    return ps->n ? bsearch(&key, ps->v, ps->n, sizeof *ps->v, proc_cmp)
                 : NULL;
}

/* Whether our adopted child p carries t's tag. */
static bool tagged_for(const exec_task_t *t, pid_t pid)
{
    int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0)
        return false;
    char name[24];
    snprintf(name, sizeof name, "%ld", (long)pid);
    int64_t seq = exec__environ_tag(proc_fd, name, exec__tag_prefix());
    close(proc_fd);
    return seq >= 0 && (uint64_t)seq == t->seq;
}

/* Whether t still owns its process group number (see exec_private.h). */
static bool owns_group(exec_t *ex, const exec_task_t *t)
{
    return t->pid > 0 && (!t->reaped || exec__map_find(ex, t->pid) == t);
}

int exec__tree_signal(exec_t *ex, exec_task_t *t, exec_procs_t *ps, int sig)
{
    if (t->pid <= 0)
        return 0;
    bool group = owns_group(ex, t);
    exec_procs_t own = {0};
    if (!ps) {
        if (exec__procs_scan(&own) < 0) {
            int saved = errno;
            exec__procs_fini(&own);
            if (group)
                (void)kill(-t->pid, sig);
            errno = saved;
            return -1;
        }
        ps = &own;
    }
    pid_t self = getpid();
    /* The roots. */
    for (size_t i = 0; i < ps->n; i++) {
        exec_proc_t *p = &ps->v[i];
        p->mark = false;
        if (p->pid == self)
            continue;
        if ((group && p->pgrp == t->pid) ||
            (p->pid == t->pid && !t->reaped))
            p->mark = true;
        else if (p->ppid == self && !p->zombie &&
                 !exec__pid_is_known(p->pid) && tagged_for(t, p->pid))
            p->mark = true; /* an orphan of t that we adopted */
    }
    /* Everything in the task's cgroup, whatever it did. */
    if (t->in_cgroup) {
        pid_t pids[256];
        int n = exec__cgroup_pids(&ex->cg, t->seq, pids, 256);
        for (int i = 0; i < n; i++) {
            exec_proc_t *p = procs_find(ps, pids[i]);
            if (p && p->pid != self)
                p->mark = true;
        }
    }
    /* Descendants: a process whose parent is marked, until nothing
     * changes (one pass per level at most; trees are shallow). */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < ps->n; i++) {
            exec_proc_t *p = &ps->v[i];
            if (p->mark || p->pid == self)
                continue;
            exec_proc_t *parent = procs_find(ps, p->ppid);
            if (parent && parent->mark)
                p->mark = changed = true;
        }
    }
    int n = 0;
    for (size_t i = 0; i < ps->n; i++) {
        exec_proc_t *p = &ps->v[i];
        if (!p->mark || p->zombie)
            continue;
        if (kill(p->pid, sig) == 0)
            n++;
    }
    /* And the group as such: a member born after the pass. */
    if (group)
        (void)kill(-t->pid, sig);
    exec__procs_fini(&own);
    return n;
}

bool exec__is_adopted(pid_t pid)
{
    char name[24], buf[1024];
    snprintf(name, sizeof name, "%ld", (long)pid);
    int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0)
        return false;
    stat_line_t st = {0};
    bool ok = read_stat(proc_fd, name, buf, sizeof buf) == 0 &&
              parse_stat(buf, &st) == 0;
    close(proc_fd);
    return ok && st.ppid == getpid() && st.pgrp != getpgrp();
}
