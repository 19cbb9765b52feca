/* SPDX-License-Identifier: MIT */
/* worker_privdir.c - the worker's private directory and its lock.
 *
 * $TMPDIR/banyan-worker-XXXXXX holds the relay's ipc endpoint and the
 * default blob cache.  A live worker holds a flock on its "lock" file, so
 * the directory of a worker that died without cleaning up (kill -9, a
 * crash) is the one whose lock can be taken: each new worker removes
 * those before it makes its own.
 */
#include "worker_privdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

struct worker__privdir {
    char *path;                /* made by us, removed at destroy */
    int lock_fd;               /* flock held on path/lock, or -1 */
};

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Remove the private directories of workers that died without cleaning up
 * (kill -9, a crash): a live worker holds a flock on its dir's "lock"
 * file, so a lock we can take belongs to nobody.  Directories without a
 * "lock" are left alone (being made now, or not ours to judge). */
static void sweep_privdirs(const char *tmp)
{
    DIR *d = opendir(tmp);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "banyan-worker-", 14) != 0)
            continue;
        int n = snprintf(path, sizeof(path), "%s/%s/lock", tmp, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(path))
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
            flock(fd, LOCK_EX | LOCK_NB) == 0) {
            path[n - 5] = '\0'; /* the directory */
            nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        }
        close(fd);
    }
    closedir(d);
}

/* Hold a flock on privdir/lock for the worker's life.  The file is locked
 * under another name and then renamed, so a sweeping worker never sees it
 * unlocked. */
static void lock_privdir(worker__privdir_t *d)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    int a = snprintf(tmp, sizeof(tmp), "%s/lock.new", d->path);
    int b = snprintf(final, sizeof(final), "%s/lock", d->path);
    if (a < 0 || b < 0 || (size_t)a >= sizeof(tmp) ||
        (size_t)b >= sizeof(final))
        return;
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (flock(fd, LOCK_EX) < 0 || rename(tmp, final) < 0) {
        close(fd);
        unlink(tmp);
        return;
    }
    d->lock_fd = fd;
}

worker__privdir_t *worker__privdir_create(banyan_error_t *error)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    sweep_privdirs(tmp);
    worker__privdir_t *d = calloc(1, sizeof(*d));
    if (!d || asprintf(&d->path, "%s/banyan-worker-XXXXXX", tmp) < 0) {
        free(d);
        errno = ENOMEM;
        errprintf(error, "out of memory");
        return NULL;
    }
    d->lock_fd = -1;
    if (!mkdtemp(d->path)) {
        int saved = errno;
        free(d->path);
        free(d);
        errno = saved;
        errprintf(error, "cannot make a directory in %s: %s", tmp,
                  strerror(saved));
        return NULL;
    }
    lock_privdir(d);
    return d;
}

void worker__privdir_destroy(worker__privdir_t *d)
{
    if (!d)
        return;
    int saved = errno;
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    nftw(d->path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(d->path);
    free(d);
    errno = saved;
}

const char *worker__privdir_path(const worker__privdir_t *d)
{
    return d->path;
}
