/* SPDX-License-Identifier: MIT */
/* exec_cgroup.c - can this host give tasks cgroup v2 memory accounting?
 *
 * cgroup v2 would give exact figures (memory.peak) and exact limits
 * (memory.max) for a task's whole tree.  banyan could use it only when the
 * cgroup it runs in lies on a cgroup2 mount, is writable by it (delegated),
 * and has the memory controller available (listed in cgroup.controllers).
 * Many hosts lack one of the three: cgroup v1 or hybrid layouts where the
 * memory controller sits on the v1 hierarchy, containers with a read-only
 * /sys/fs/cgroup, systemd sessions without delegation.  The probe says which
 * one is missing, in a sentence for `banyan stats`; the executor samples
 * /proc in every case (exec_rss.c), so the results do not depend on it.
 *
 * Killing.  Where this process's cgroup2 directory is writable and has
 * cgroup.kill (Linux 5.14), each executor makes a directory of its own in
 * it (banyan-<pid>-<n>) and puts each task in a cgroup t<N> below it (N:
 * its tag number) right after the spawn (the directory is made before it,
 * so that only one write is left for after); no controller is needed.  A
 * SIGKILL of a task then also writes cgroup.kill, which reaches every
 * process of the cgroup whatever it did to its group, session, parent or
 * environment, and the guardian does the same when this process dies.  A
 * process that the task forked before it was moved stays outside (the
 * spawn is posix_spawn, which cannot clone into a cgroup): the /proc walk
 * finds it as before.  BANYAN_NO_CGROUP=1 turns this off.  A task's cgroup
 * is removed when it is reported, unless something it left behind still
 * runs in it; an executor's directory when it is destroyed, or by the
 * guardian, or else by a later executor once its process is gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_private.h"

/* Whether some line of path is one that pick() turns into buf. */
static bool scan_lines(const char *path,
                      bool (*pick)(const char *line, char *buf, size_t size),
                      char *buf, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = pick(line, buf, size);
    fclose(f);
    return found;
}

/* The mount point of the cgroup2 file system, from a line of
 * /proc/self/mountinfo: mount_point options [optional fields] - fstype ... */
static bool cgroup2_mount(const char *line, char *buf, size_t size)
{
    const char *sep = strstr(line, " - ");
    char mnt[1024];
    if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0
        || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1
        || strlen(mnt) >= size)
        return false;
    memcpy(buf, mnt, strlen(mnt) + 1);
    return true;
}

/* Our own cgroup v2 path, from the "0::/path" line of /proc/self/cgroup. */
static bool own_cgroup(const char *line, char *buf, size_t size)
{
    if (strncmp(line, "0::", 3) != 0)
        return false;
    size_t n = strcspn(line + 3, "\n");
    if (n >= size)
        return false;
    memcpy(buf, line + 3, n);
    buf[n] = '\0';
    return true;
}

static bool has_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = text; (p = strstr(p, word)); p += n) {
        bool start = p == text || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';
        if (start && end)
            return true;
    }
    return false;
}

bool exec_cgroup_probe(char *why, size_t size)
{
    char mnt[1024], path[1024], dir[2100], file[2200], ctl[512] = "";
    if (!why || size == 0) {
        why = file; /* scratch, never read */
        size = sizeof file;
    }
    if (!scan_lines("/proc/self/mountinfo", cgroup2_mount, mnt, sizeof mnt)) {
        snprintf(why, size, "no cgroup2 file system is mounted");
        return false;
    }
    if (!scan_lines("/proc/self/cgroup", own_cgroup, path, sizeof path)) {
        snprintf(why, size, "this process has no cgroup v2 path");
        return false;
    }
    snprintf(dir, sizeof dir, "%s%s", mnt, strcmp(path, "/") ? path : "");
    snprintf(file, sizeof file, "%s/cgroup.controllers", dir);
    FILE *f = fopen(file, "re");
    if (!f) {
        snprintf(why, size, "cannot read %s: %s", file, strerror(errno));
        return false;
    }
    if (!fgets(ctl, sizeof ctl, f))
        ctl[0] = '\0';
    fclose(f);
    ctl[strcspn(ctl, "\n")] = '\0';
    if (!has_word(ctl, "memory")) {
        snprintf(why, size, "the cgroup2 hierarchy at %s has no memory "
                 "controller (controllers: %s)", dir, ctl[0] ? ctl : "none");
        return false;
    }
    if (access(dir, W_OK) < 0) {
        snprintf(why, size, "cgroup %s is not writable (not delegated)",
                 dir);
        return false;
    }
    snprintf(why, size, "cgroup v2 with memory controller at %s", dir);
    return true;
}

/* ------------------------------------------------------------ killing */

/* Remove the empty task cgroups in dir_fd/name, then the directory. */
static void remove_tree(int dir_fd, const char *name)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] == 't' && e->d_type == DT_DIR)
            (void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
    closedir(d);
    (void)unlinkat(dir_fd, name, AT_REMOVEDIR);
}

/* The directories of executors whose process is gone (killed before they
 * could remove them; the guardian tries, but its tasks may take longer to
 * die than it waits) are removed by the next executor in the same cgroup,
 * when empty. */
static void remove_stale(const char *parent)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        long pid;
        unsigned n;
        char end;
        if (strncmp(e->d_name, "banyan-", 7) != 0 ||
            sscanf(e->d_name + 7, "%ld-%u%c", &pid, &n, &end) != 2 ||
            pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
            continue;
        remove_tree(dirfd(d), e->d_name);
    }
    closedir(d);
}

int exec__cgroup_open(exec_cgroup_t *cg)
{
    static unsigned counter; /* executors of this process so far */
    cg->fd = -1;
    cg->path[0] = '\0';
    const char *off = getenv("BANYAN_NO_CGROUP");
    if (off && *off && strcmp(off, "0") != 0)
        return -1;
    char mnt[1024], own[1024], dir[2100];
    if (!scan_lines("/proc/self/mountinfo", cgroup2_mount, mnt, sizeof mnt) ||
        !scan_lines("/proc/self/cgroup", own_cgroup, own, sizeof own))
        return -1;
    int n = snprintf(dir, sizeof dir, "%s%s", mnt,
                     strcmp(own, "/") ? own : "");
    if (n < 0 || (size_t)n >= sizeof dir - 64)
        return -1;
    remove_stale(dir);
    n += snprintf(dir + n, sizeof dir - (size_t)n, "/banyan-%ld-%u",
                  (long)getpid(), ++counter);
    if ((size_t)n >= sizeof cg->path - 32)
        return -1;
    if (mkdir(dir, 0700) < 0)
        return -1; /* not delegated, read-only, ... */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || faccessat(fd, "cgroup.kill", W_OK, 0) < 0) {
        if (fd >= 0)
            close(fd);
        rmdir(dir); /* a kernel before 5.14 */
        return -1;
    }
    cg->fd = fd;
    memcpy(cg->path, dir, (size_t)n + 1);
    return 0;
}

void exec__cgroup_close(exec_cgroup_t *cg)
{
    if (cg->fd < 0)
        return;
    /* Tasks' cgroups whose removal failed at their report (a process was
     * still exiting): empty by now unless a daemon lives in one. */
    int dup_fd = dup(cg->fd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d && dup_fd >= 0)
        close(dup_fd);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] == 't' && e->d_type == DT_DIR)
            (void)unlinkat(cg->fd, e->d_name, AT_REMOVEDIR);
    if (d)
        closedir(d);
    close(cg->fd);
    cg->fd = -1;
    (void)rmdir(cg->path); /* EBUSY while a task's cgroup is left */
}

/* Write text to dir_fd/name/file. */
static int write_at(int dir_fd, const char *name, const char *file,
                    const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "%s/%s", name, file);
    int fd = openat(dir_fd, path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return w < 0 ? -1 : 0;
}

bool exec__cgroup_make(exec_cgroup_t *cg, uint32_t seq)
{
    if (cg->fd < 0)
        return false;
    char name[24];
    snprintf(name, sizeof name, "t%lu", (unsigned long)seq);
    return mkdirat(cg->fd, name, 0700) == 0 || errno == EEXIST;
}

bool exec__cgroup_add(exec_cgroup_t *cg, uint32_t seq, pid_t pid)
{
    char name[24], text[24];
    snprintf(name, sizeof name, "t%lu", (unsigned long)seq);
    snprintf(text, sizeof text, "%ld", (long)pid);
    if (write_at(cg->fd, name, "cgroup.procs", text) < 0) {
        (void)unlinkat(cg->fd, name, AT_REMOVEDIR);
        return false; /* gone already, or not allowed: the walk will do */
    }
    return true;
}

void exec__cgroup_kill(exec_cgroup_t *cg, uint32_t seq)
{
    if (cg->fd < 0)
        return;
    char name[24];
    snprintf(name, sizeof name, "t%lu", (unsigned long)seq);
    (void)write_at(cg->fd, name, "cgroup.kill", "1");
}

void exec__cgroup_remove(exec_cgroup_t *cg, uint32_t seq)
{
    if (cg->fd < 0)
        return;
    char name[24];
    snprintf(name, sizeof name, "t%lu", (unsigned long)seq);
    (void)unlinkat(cg->fd, name, AT_REMOVEDIR); /* EBUSY: a daemon left */
}

int exec__cgroup_pids(exec_cgroup_t *cg, uint32_t seq, pid_t *pids,
                      int max)
{
    if (cg->fd < 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "t%lu/cgroup.procs", (unsigned long)seq);
    int fd = openat(cg->fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[4096];
    int n = 0;
    long v = 0;
    bool in = false;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                v = v * 10 + (buf[i] - '0');
                in = true;
            } else if (in) {
                if (n < max)
                    pids[n++] = (pid_t)v;
                v = 0;
                in = false;
            }
        }
    }
    if (in && n < max)
        pids[n++] = (pid_t)v;
    close(fd);
    return n;
}
