/* SPDX-License-Identifier: MIT */
/* exec_guard.c - the guardian: tasks die with the process that started them.
 *
 * A task lives in a process group of its own, so when banyan dies by SIGKILL,
 * the OOM killer or a crash, nothing would stop its tasks: they are
 * re-parented to init and go on, and a server that runs them again elsewhere
 * gets every side effect twice.  Neither of the usual tools fits here:
 * PR_SET_PDEATHSIG must be set in the child between fork and exec, which
 * posix_spawn() cannot do (and it reaches the direct child only, fires when
 * the spawning *thread* exits, and is reset by exec of a setuid program); a
 * cgroup needs delegation that many hosts lack (exec_cgroup.c).
 *
 * So each executor forks one small process, the guardian, when it is
 * created.  The two share a table of process group ids in a MAP_SHARED
 * mapping made before the fork: the executor writes a task's group into a
 * slot right after posix_spawn() returns and clears the slot when it reports
 * the task (exec.c task_unlink), before the number could be reused (the
 * kernel does not hand out a pid that a live group still uses).  Registering
 * is a store to memory, so the spawn path makes no extra system call.  The
 * guardian holds the read end of a pipe whose write end only the executor
 * has (O_CLOEXEC, so tasks never get it) and blocks in read().  read()
 * returns 0 when the executor's process is gone, whatever killed it; the
 * guardian then sends SIGKILL to every group in the table and to every
 * process whose tag (EXEC_TAG_VAR in its environment, exec_spawn.c) names
 * this process and a task still in the table, and does it again until a
 * pass finds none alive (at most GUARD_PASSES): this finds the processes
 * that left the task's group (setsid, `timeout`, `set -m`), which went to
 * init with the engine's death and have no other link to it.  The first
 * pass stops (SIGSTOP) the groups and the tagged processes before it kills
 * anything, and kills their descendants too, found by the parent links
 * that the stop keeps: a child that left the group and dropped the tag is
 * found through its parent.  Where the
 * tasks have cgroups (exec_cgroup.c), it writes their cgroup.kill first,
 * and removes them and the executor's directory at the end.
 *
 * The guardian is forked from a process that has threads (libuv, ZeroMQ), so
 * it calls only async-signal-safe functions and system calls, allocates
 * nothing, and never returns from guard_main().  It closes every inherited
 * descriptor but its pipe (a copy of a task's pipe would keep the task's
 * output from ever reaching EOF; a copy of a listening socket or of a
 * flock'ed file would keep them alive), ignores SIGINT, SIGTERM, SIGHUP and
 * SIGPIPE (banyan handles those itself and stops its tasks), and moves to a
 * process group of its own, so that a signal to banyan's group (Ctrl-C, or a
 * SIGKILL to the whole job) does not take the guardian along with banyan.
 * It renames itself "banyan-guard" (comm and command line), so that `ps` and
 * `pgrep -f` tell it from the engine it watches.
 *
 * The executor reaps its guardian: exec_destroy() (after it has killed the
 * tasks itself) and the SIGCHLD handler, which starts a new guardian on the
 * same table when the old one died while the executor lives.
 *
 * Limits.  A task's group is registered a few instructions after
 * posix_spawn() returns: a death in between leaves that one task alive.  A
 * process that left its task's group is found by its tag or by its parent
 * (at the first pass): one that cleared or replaced its environment (`env
 * -i`, or an exec with an environment of its own) or that we may not read
 * (a setuid program), and whose parent had died before the engine did,
 * lives on (unless the task had a cgroup).  A child
 * that this process fork()s without exec holds a copy of the write end, so
 * the guardian sees the death only when that child is gone too.  The
 * guardian's memory is a copy-on-write image of the engine at
 * exec_create(): pages the engine writes later become the guardian's own,
 * at most the engine's anonymous memory at that time (a worker's guardian:
 * 0.1 MB private, 0.5 MB PSS, unchanged after 1,000 tasks).
 *
 * Slots.  The table's first `used` slots have been handed out; a slot holds a
 * group id (> 0) or is free (<= 0).  Free slots form a list through the
 * table itself: a free slot holds -(index of the next free slot + 1), or 0
 * at the end of the list.  The guardian only looks at values > 0.  The
 * mapping is MAP_NORESERVE: only the pages of slots ever used cost memory, 8
 * bytes (group and tag number) per task running at once.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec_private.h"

struct exec_guard_table {
    _Atomic uint32_t used;                  /* slots handed out so far */
    _Atomic int32_t slot[EXEC_GUARD_SLOTS]; /* > 0: a group to kill */
    _Atomic uint32_t seq[EXEC_GUARD_SLOTS]; /* its task's tag number */
};

enum {
    GUARD_PASSES = 50,          /* kill passes at most, GUARD_PAUSE_MS apart */
    GUARD_PAUSE_MS = 20,
    GUARD_HANDOVER_POLLS = 500, /* 2 ms apart: the engine's exit */
};

/* ------------------------------------------------------------ tags */

/* Async-signal-safe: no stdio, no allocation. */
int64_t exec__environ_tag(int proc_fd, const char *name, const char *prefix)
{
    char path[64];
    size_t n = strlen(name);
    if (n + sizeof "/environ" > sizeof path)
        return -1;
    memcpy(path, name, n);
    memcpy(path + n, "/environ", sizeof "/environ");
    int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* Entries are NUL-ended "K=V"; match prefix at the start of each, then
     * read the digits after it.  Byte by byte, so that nothing depends on
     * where the reads split the text. */
    size_t plen = strlen(prefix), k = 0;
    bool skip = false, in_value = false;
    int64_t value = 0, found = -1;
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            char c = buf[i];
            if (c == '\0') {
                if (in_value) {
                    found = value;
                    goto out;
                }
                k = 0;
                skip = false;
                continue;
            }
            if (skip)
                continue;
            if (in_value) {
                if (c >= '0' && c <= '9' && value < INT32_MAX)
                    value = value * 10 + (c - '0');
                else
                    skip = true, in_value = false;
            } else if (k < plen && c == prefix[k]) {
                if (++k == plen)
                    in_value = true;
            } else {
                skip = true;
            }
        }
    }
    if (in_value)
        found = value;
out:
    close(fd);
    return found;
}

static const char guard_name[] = "banyan-guard";

/* ------------------------------------------------------ in the guardian */

/* Make /proc/self/cmdline say guard_name: overwrite the argument area
 * (arg_start and arg_end, fields 48 and 49 of /proc/self/stat).  This is
 * our copy of the engine's memory; the engine is not touched. */
static void guard_retitle(void)
{
    char buf[2048];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the name (field 2) may hold ')' */
    if (!p)
        return;
    p++;
    unsigned long value[2] = {0, 0};
    for (int field = 3; field <= 49; field++) {
        while (*p == ' ')
            p++;
        if (*p == '\0' || *p == '\n')
            return; /* an older kernel without these fields */
        unsigned long v = 0;
        for (; *p != ' ' && *p != '\0' && *p != '\n'; p++)
            v = v * 10 + (unsigned long)(*p - '0'); /* digits where used */
        if (field >= 48)
            value[field - 48] = v;
    }
    if (value[0] == 0 || value[1] <= value[0])
        return;
    char *area = (char *)value[0];
    size_t size = value[1] - value[0];
    if (size <= sizeof guard_name)
        return; /* too short to say anything useful */
    memset(area, 0, size);
    memcpy(area, guard_name, sizeof guard_name);
    /* A last byte that is not NUL makes the kernel read the area as one
     * string (setproctitle's convention): "banyan-guard", without the
     * trailing NULs it would show otherwise. */
    area[size - 1] = ' ';
}

/* Keep only the pipe, as fd 0. */
static void guard_close_fds(int rfd, long open_max)
{
    if (rfd != 0 && dup2(rfd, 0) < 0)
        _exit(127); /* without its pipe it cannot do its job */
    if (close_range(1, ~0U, 0) == 0)
        return;
    for (long fd = 1; fd < open_max; fd++)
        (void)close((int)fd);
}

static void guard_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        bool ignore = sig == SIGINT || sig == SIGTERM || sig == SIGHUP ||
                      sig == SIGPIPE || sig == SIGQUIT || sig == SIGTSTP ||
                      sig == SIGTTIN || sig == SIGTTOU;
        sa.sa_handler = ignore ? SIG_IGN : SIG_DFL;
        (void)sigaction(sig, &sa, NULL); /* EINVAL for KILL, STOP, ... */
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Whether a task with tag number seq is in the table. */
static bool guard_has_seq(struct exec_guard_table *tab, uint32_t used,
                          int64_t seq)
{
    for (uint32_t i = 0; i < used && i < EXEC_GUARD_SLOTS; i++)
        if (atomic_load(&tab->slot[i]) > 0 && atomic_load(&tab->seq[i]) ==
                                                  (uint32_t)seq)
            return true;
    return false;
}

struct guard_dirent { /* what getdents64 returns */
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

/* SIGKILL every live process whose tag names a task in the table.
 * Returns how many. */
static int guard_kill_tagged(struct exec_guard_table *tab, uint32_t used,
                             const char *prefix)
{
    int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0)
        return 0;
    pid_t self = getpid();
    int killed = 0;
    char buf[8192];
    for (;;) {
        long n = syscall(SYS_getdents64, proc_fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct guard_dirent *d = (struct guard_dirent *)(buf + off);
            off += d->reclen;
            if (d->name[0] < '1' || d->name[0] > '9')
                continue;
            pid_t pid = 0;
            for (const char *c = d->name; *c >= '0' && *c <= '9'; c++)
                pid = pid * 10 + (*c - '0');
            if (pid == self)
                continue;
            int64_t seq = exec__environ_tag(proc_fd, d->name, prefix);
            if (seq >= 0 && guard_has_seq(tab, used, seq) &&
                kill(pid, SIGKILL) == 0)
                killed++;
        }
    }
    close(proc_fd);
    return killed;
}

/* Whether group pgrp is a task's in the table. */
static bool guard_has_group(struct exec_guard_table *tab, uint32_t used,
                            pid_t pgrp)
{
    /* A free slot holds 0, and so does the group of init and of kernel
     * threads: matching it marked pid 1, whose descendants are every
     * process of the host. */
    if (pgrp <= 1)
        return false;
    for (uint32_t i = 0; i < used && i < EXEC_GUARD_SLOTS; i++)
        if (atomic_load(&tab->slot[i]) == (int32_t)pgrp)
            return true;
    return false;
}

/* One process of the freeze pass. */
struct guard_proc {
    pid_t pid, ppid;
    bool mark;
};

enum { GUARD_PROCS_MAX = 1 << 20 };

/* ppid and pgrp of /proc/<name>/stat.  0 or -1. */
static int guard_stat(int proc_fd, const char *name, pid_t *ppid,
                      pid_t *pgrp)
{
    char path[64], buf[512];
    size_t n = strlen(name);
    if (n + sizeof "/stat" > sizeof path)
        return -1;
    memcpy(path, name, n);
    memcpy(path + n, "/stat", sizeof "/stat");
    int fd = openat(proc_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return -1;
    buf[r] = '\0';
    char *p = NULL;
    for (char *c = buf; *c; c++)
        if (*c == ')')
            p = c; /* the last one: the name may hold ')' */
    if (!p)
        return -1;
    long v[3] = {0, 0, 0}; /* state, ppid, pgrp */
    for (int field = 3; field <= 5; field++) {
        while (*++p == ' ')
            ;
        if (!*p)
            return -1;
        for (; *p && *p != ' '; p++)
            if (*p >= '0' && *p <= '9')
                v[field - 3] = v[field - 3] * 10 + (*p - '0');
        p--;
    }
    *ppid = (pid_t)v[1];
    *pgrp = (pid_t)v[2];
    return 0;
}

static struct guard_proc *guard_find(struct guard_proc *v, size_t n,
                                     pid_t pid)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].pid == pid)
            return &v[mid];
        if (v[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The first pass: SIGSTOP, not SIGKILL, every process of the tasks'
 * groups and every tagged one, so that none dies and none forks while the
 * parent links are read; then SIGKILL them and every descendant: this
 * finds the children that left the group *and* dropped the tag (`env -i
 * setsid ...`) while their parent lived.  Returns how many were killed. */
static int guard_freeze_kill(struct exec_guard_table *tab, uint32_t used,
                             const char *prefix)
{
    for (uint32_t i = 0; i < used && i < EXEC_GUARD_SLOTS; i++) {
        int32_t pgid = atomic_load(&tab->slot[i]);
        if (pgid > 1) /* kill(-1) would be every process */
            (void)kill(-pgid, SIGSTOP);
    }
    size_t size = GUARD_PROCS_MAX * sizeof(struct guard_proc);
    struct guard_proc *v = mmap(NULL, size, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                -1, 0);
    int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (v == MAP_FAILED || proc_fd < 0) {
        if (v != MAP_FAILED)
            munmap(v, size);
        if (proc_fd >= 0)
            close(proc_fd);
        return 0;
    }
    pid_t self = getpid();
    size_t n = 0;
    bool sorted = true;
    char buf[8192];
    for (;;) {
        long got = syscall(SYS_getdents64, proc_fd, buf, sizeof buf);
        if (got <= 0)
            break;
        for (long off = 0; off < got && n < GUARD_PROCS_MAX;) {
            struct guard_dirent *d = (struct guard_dirent *)(buf + off);
            off += d->reclen;
            if (d->name[0] < '1' || d->name[0] > '9')
                continue;
            pid_t pid = 0, ppid, pgrp;
            for (const char *c = d->name; *c >= '0' && *c <= '9'; c++)
                pid = pid * 10 + (*c - '0');
            if (pid <= 1 || pid == self
                || guard_stat(proc_fd, d->name, &ppid, &pgrp))
                continue;
            bool mark = guard_has_group(tab, used, pgrp);
            if (!mark) {
                int64_t seq = exec__environ_tag(proc_fd, d->name, prefix);
                mark = seq >= 0 && guard_has_seq(tab, used, seq);
                if (mark)
                    (void)kill(pid, SIGSTOP);
            }
            if (n > 0 && v[n - 1].pid > pid)
                sorted = false;
            v[n++] = (struct guard_proc){pid, ppid, mark};
        }
    }
    close(proc_fd);
    /* Descendants of the marked: /proc lists in pid order, so a parent is
     * found by bisection (a linear look otherwise). */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            if (v[i].mark)
                continue;
            struct guard_proc *parent = NULL;
            if (sorted) {
                parent = guard_find(v, n, v[i].ppid);
            } else {
                for (size_t j = 0; j < n && !parent; j++)
                    if (v[j].pid == v[i].ppid)
                        parent = &v[j];
            }
            if (parent && parent->mark) {
                v[i].mark = true;
                changed = true;
                (void)kill(v[i].pid, SIGSTOP);
            }
        }
    }
    int killed = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].mark && kill(v[i].pid, SIGKILL) == 0)
            killed++;
    munmap(v, size);
    return killed;
}

/* cg_path/t<seq>/file into buf (async-signal-safe).  False when it does
 * not fit. */
static bool guard_cg_path(char *buf, size_t size, const char *cg_path,
                          uint32_t seq, const char *file)
{
    char num[16];
    int k = 0;
    do
        num[k++] = (char)('0' + seq % 10);
    while ((seq /= 10) && k < (int)sizeof num);
    size_t a = strlen(cg_path), f = file ? strlen(file) : 0;
    if (a + 2 + (size_t)k + 1 + f + 1 > size)
        return false;
    memcpy(buf, cg_path, a);
    buf[a++] = '/';
    buf[a++] = 't';
    while (k > 0)
        buf[a++] = num[--k];
    if (file) {
        buf[a++] = '/';
        memcpy(buf + a, file, f);
        a += f;
    }
    buf[a] = '\0';
    return true;
}

/* cgroup.kill (or, with rm, rmdir) of the cgroup of every task in the
 * table. */
static void guard_cgroups(struct exec_guard_table *tab, uint32_t used,
                          const char *cg_path, bool rm)
{
    if (!cg_path)
        return;
    char path[2300];
    for (uint32_t i = 0; i < used && i < EXEC_GUARD_SLOTS; i++) {
        if (atomic_load(&tab->slot[i]) <= 0)
            continue;
        uint32_t seq = atomic_load(&tab->seq[i]);
        if (!guard_cg_path(path, sizeof path, cg_path, seq,
                           rm ? NULL : "cgroup.kill"))
            continue;
        if (rm) {
            (void)rmdir(path);
            continue;
        }
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t w = write(fd, "1", 1);
            (void)w;
            close(fd);
        }
    }
}

static void guard_kill_all(struct exec_guard_table *tab, const char *prefix,
                           const char *cg_path)
{
    uint32_t used = atomic_load(&tab->used);
    /* cgroup.kill only after: a process forked before its task was moved
     * into the cgroup is found through its parent, which must not die
     * first. */
    (void)guard_freeze_kill(tab, used, prefix);
    for (int pass = 0; pass < GUARD_PASSES; pass++) {
        guard_cgroups(tab, used, cg_path, false);
        for (uint32_t i = 0; i < used && i < EXEC_GUARD_SLOTS; i++) {
            int32_t pgid = atomic_load(&tab->slot[i]);
            if (pgid > 1)
                (void)kill(-pgid, SIGKILL);
        }
        /* A process being killed has no environment to read any more:
         * a pass that finds none has nothing left to do. */
        if (guard_kill_tagged(tab, used, prefix) == 0)
            break;
        struct timespec ts = {0, GUARD_PAUSE_MS * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
    /* The cgroups empty as their processes finish dying: a few tries. */
    for (int i = 0; cg_path && i < 10; i++) {
        guard_cgroups(tab, used, cg_path, true);
        if (rmdir(cg_path) == 0 || errno == ENOENT)
            break;
        struct timespec ts = {0, GUARD_PAUSE_MS * 1000000L};
        (void)nanosleep(&ts, NULL);
    }
}

static __attribute__((noreturn)) void guard_main(struct exec_guard_table *tab,
                                                 const char *prefix,
                                                 const char *cg_path, int rfd,
                                                 long open_max)
{
    pid_t parent = getppid(); /* the executor's process */
    guard_signals();
    (void)setpgid(0, 0);
    (void)prctl(PR_SET_NAME, guard_name, 0, 0, 0);
    guard_retitle();
    guard_close_fds(rfd, open_max);
    for (;;) {
        char c;
        ssize_t n = read(0, &c, 1);
        if (n == 0)
            break; /* the executor's process is gone, or destroyed us */
        if (n < 0 && errno != EINTR)
            break; /* cannot watch any more: act as if it were gone */
    }
    /* The pipe closes early in the engine's exit, before its children are
     * handed to init.  That hand-over orphans the tasks' groups, and the
     * kernel sends SIGHUP and SIGCONT to an orphaned group with a stopped
     * member: a task shell stopped by the first pass would die of it and
     * lose its children to init before they are found.  So wait until we
     * were handed over too (our parent changed), 1 s at most. */
    for (int i = 0; i < GUARD_HANDOVER_POLLS && getppid() == parent; i++) {
        struct timespec ts = {0, 2000000L};
        (void)nanosleep(&ts, NULL);
    }
    guard_kill_all(tab, prefix, cg_path);
    _exit(0);
}

/* ---------------------------------------------------- in the executor */

int exec__guard_init(exec_guard_t *g, const char *cg_path)
{
    g->cg_path = cg_path;
    g->pid = 0;
    g->wfd = -1;
    g->free_head = 0;
    snprintf(g->prefix, sizeof g->prefix, "%s", exec__tag_prefix());
    void *p = mmap(NULL, sizeof *g->tab, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    g->tab = p; /* zero-filled: no slot used */
    if (exec__guard_start(g) < 0) {
        int saved = errno;
        munmap(g->tab, sizeof *g->tab);
        g->tab = NULL;
        errno = saved;
        return -1;
    }
    return 0;
}

int exec__guard_start(exec_guard_t *g)
{
    if (g->pid > 0)
        return 0;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    long open_max = sysconf(_SC_OPEN_MAX);
    if (open_max < 0 || open_max > (1L << 20))
        open_max = 1L << 20;
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        errno = saved;
        return -1;
    }
    if (pid == 0)
        guard_main(g->tab, g->prefix, g->cg_path, fds[0],
                   open_max); /* never returns */
    close(fds[0]);
    g->pid = pid;
    g->wfd = fds[1];
    return 0;
}

/* Forget a guardian that is gone (reaped). */
static void guard_gone(exec_guard_t *g)
{
    g->pid = 0;
    if (g->wfd >= 0)
        close(g->wfd);
    g->wfd = -1;
}

bool exec__guard_reap(exec_guard_t *g, pid_t pid)
{
    if (g->pid <= 0 || (pid != 0 && pid != g->pid))
        return false;
    pid_t r;
    do
        r = waitpid(g->pid, NULL, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return false; /* still running */
    /* Reaped now, or by someone else (ECHILD): either way it is gone. */
    guard_gone(g);
    int saved = errno;
    (void)exec__guard_start(g); /* exec_start() retries if this fails */
    errno = saved;
    return true;
}

void exec__guard_fini(exec_guard_t *g)
{
    if (!g->tab)
        return;
    if (g->pid > 0) {
        /* Still our child (alive, or a zombie nobody reaped): only then is
         * its pid surely not someone else's. */
        siginfo_t si;
        if (waitid(P_PID, (id_t)g->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
            0) {
            /* The caller killed and reaped every task: the guardian has
             * nothing left to do, and its pipe may have other holders (a
             * fork() that did not exec), so do not wait for EOF. */
            (void)kill(g->pid, SIGKILL);
            while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    guard_gone(g);
    munmap(g->tab, sizeof *g->tab);
    g->tab = NULL;
}

uint32_t exec__guard_reserve(exec_guard_t *g)
{
    struct exec_guard_table *tab = g->tab;
    if (g->free_head) {
        uint32_t i = g->free_head - 1;
        int32_t next =
            atomic_load_explicit(&tab->slot[i], memory_order_relaxed);
        assert(next <= 0);
        g->free_head = (uint32_t)-next;
        atomic_store_explicit(&tab->slot[i], 0, memory_order_relaxed);
        return i + 1;
    }
    uint32_t used = atomic_load_explicit(&tab->used, memory_order_relaxed);
    if (used >= EXEC_GUARD_SLOTS) {
        errno = EAGAIN;
        return 0;
    }
    atomic_store_explicit(&tab->used, used + 1, memory_order_release);
    return used + 1;
}

void exec__guard_set(exec_guard_t *g, uint32_t slot, pid_t pgid,
                     uint32_t seq)
{
    assert(slot > 0 && slot <= EXEC_GUARD_SLOTS && pgid > 0);
    atomic_store_explicit(&g->tab->seq[slot - 1], seq, memory_order_relaxed);
    atomic_store_explicit(&g->tab->slot[slot - 1], (int32_t)pgid,
                          memory_order_release);
}

void exec__guard_release(exec_guard_t *g, uint32_t slot)
{
    if (slot == 0)
        return;
    assert(slot <= EXEC_GUARD_SLOTS);
    atomic_store_explicit(&g->tab->slot[slot - 1], -(int32_t)g->free_head,
                          memory_order_release);
    g->free_head = slot;
}
