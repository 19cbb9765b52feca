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
 * are counted once per member, as a sum of VmRSS would.
 *
 * Hard memory limits: while any running task has one, the timer ticks every
 * EXEC_LIMIT_SAMPLE_MS (stretched to keep a pass under ~4% of a core, at
 * most EXEC_SAMPLE_MIN_MS) and ignores the age rule, and each pass kills the
 * groups found above their limit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_private.h"

/* pgrp and rss (pages) from the text of /proc/<pid>/stat.  The command name
 * (field 2) may hold spaces and parentheses, so parsing starts after the
 * last ')'.  0 or -1 when the text is not understood. */
static int parse_stat(char *text, pid_t *pgrp, uint64_t *rss_pages,
                      bool *busy)
{
    char *p = strrchr(text, ')');
    if (!p)
        return -1;
    p++;
    while (*p == ' ')
        p++;
    /* Running or runnable, or in uninterruptible (disk, page fault) wait:
     * the process may be growing even if this scan saw no growth. */
    *busy = *p == 'R' || *p == 'D';
    /* Fields after the name: state(3) ppid(4) pgrp(5) ... rss(24). */
    for (int field = 3; field <= 24; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return -1;
        if (field == 5 || field == 24) {
            char *end;
            errno = 0;
            long long v = strtoll(p, &end, 10);
            if (end == p || errno)
                return -1;
            if (field == 5)
                *pgrp = (pid_t)v;
            else
                *rss_pages = v > 0 ? (uint64_t)v : 0;
            p = end;
        } else {
            while (*p && *p != ' ')
                p++;
        }
    }
    return 0;
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
    }
    struct dirent *d;
    char buf[1024];
    while ((d = readdir(dir))) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9')
            continue;
        pid_t pgrp = 0;
        uint64_t pages = 0;
        bool busy = false;
        if (read_stat(proc_fd, d->d_name, buf, sizeof buf) < 0 ||
            parse_stat(buf, &pgrp, &pages, &busy) < 0 || pgrp <= 0)
            continue; /* gone meanwhile, or not ours to understand */
        exec_task_t *t = exec__map_find(ex, pgrp);
        if (t) {
            t->rss_sum += pages * (uint64_t)ex->page_size;
            t->busy_sum |= busy;
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
    int64_t every = pass_ms * 50;
    if (every < EXEC_SAMPLE_MIN_MS)
        every = EXEC_SAMPLE_MIN_MS;
    if (every > EXEC_SAMPLE_MAX_MS)
        every = EXEC_SAMPLE_MAX_MS;
    ex->sample_every_ms = every;
    /* With a limit to enforce, up to ~4% of a core is spent on it. */
    int64_t fast = pass_ms * 25;
    if (fast < EXEC_LIMIT_SAMPLE_MS)
        fast = EXEC_LIMIT_SAMPLE_MS;
    if (fast > EXEC_SAMPLE_MIN_MS)
        fast = EXEC_SAMPLE_MIN_MS;
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
