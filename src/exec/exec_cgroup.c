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

/* The mount point of the cgroup2 file system, from /proc/self/mountinfo. */
static int cgroup2_mount(char *buf, size_t size)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    char line[4096];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        /* ... mount_point options [optional fields] - fstype source ... */
        char *sep = strstr(line, " - ");
        if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
            continue;
        char mnt[1024];
        if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 &&
            strlen(mnt) < size) {
            memcpy(buf, mnt, strlen(mnt) + 1);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Our own cgroup v2 path ("0::/path" in /proc/self/cgroup). */
static int own_cgroup(char *buf, size_t size)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return -1;
    char line[4096];
    int rc = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        if (strlen(line + 3) < size) {
            memcpy(buf, line + 3, strlen(line + 3) + 1);
            rc = 0;
        }
        break;
    }
    fclose(f);
    return rc;
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
    if (cgroup2_mount(mnt, sizeof mnt) < 0) {
        snprintf(why, size, "no cgroup2 file system is mounted");
        return false;
    }
    if (own_cgroup(path, sizeof path) < 0) {
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
