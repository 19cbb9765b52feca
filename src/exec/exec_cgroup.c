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
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
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
