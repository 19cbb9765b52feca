/* SPDX-License-Identifier: MIT */
/* share.c - the host-wide arbitration file: open, lock, parse, prune,
 * rewrite.
 *
 * Every operation is one critical section under flock(LOCK_EX): read the
 * whole file (at most SHARE_MAX_FILE_BYTES), parse it into records, drop
 * the dead and the malformed, replace this instance's record, compute the
 * grant, write the file back from offset 0 and truncate it.  A writer that
 * dies half-way leaves a torn file, which the next reader finds malformed
 * and repairs; live instances re-register on their next update, so the
 * file heals itself within one update period.
 *
 * The lock is taken with LOCK_NB in a loop with 1 ms naps, so a process
 * that holds it forever (a hostile user can) costs a bounded wait, never a
 * hang of the caller's event loop beyond the lock timeout.
 *
 * Opening defends against a hostile /dev/shm: O_NOFOLLOW (no symlinks),
 * O_NONBLOCK (a FIFO cannot block the open), then fstat must show a regular
 * file with one link.  The file is created with O_EXCL and fchmod'ed to
 * 0666 whatever the umask; an existing file is opened without O_CREAT, as
 * fs.protected_regular refuses O_CREAT on another user's file in a sticky
 * directory.
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

#define SHARE_HEADER "banyan-share 1\n"

/* Upper bounds of a record's figures; above is malformed. */
#define SHARE_MAX_CPUS_MILLI (UINT64_C(1) << 40)
#define SHARE_MAX_MEM_BYTES (UINT64_C(1) << 60)

struct share {
    int fd;                   /* the open file, O_CLOEXEC */
    char *path;               /* owned */
    pid_t pid;                /* getpid() at open */
    uint32_t serial;          /* unique within this process */
    uint64_t start;           /* our start time in ticks, 0 unknown */
    uid_t uid;                /* getuid() */
    share_amount_t capacity;  /* what we divide */
    int64_t stale_ms;         /* 0 = never stale */
    int64_t lock_timeout_ms;  /* wait for the lock */
    share_record_t *recs;     /* live records after the last update */
    size_t nrecs;             /* entries used in recs */
    size_t cap;               /* entries allocated in recs */
};

static uint32_t next_serial; /* per process; the pid separates processes */

/* ------------------------------------------------------------------ /proc */

/* State (field 3) and start time (field 22) of pid from /proc/<pid>/stat.
 * 0, or -1 with errno (ENOENT: no such process). */
static int proc_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 ? saved : ENOENT;
        return -1;
    }
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')': skip past the
     * last ')'.  Field 3 follows, field 22 is 19 fields after it. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2]) {
        errno = EIO;
        return -1;
    }
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) {
            errno = EIO;
            return -1;
        }
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p) {
        errno = EIO;
        return -1;
    }
    *start = v;
    return 0;
}

/* Real uid of pid from /proc/<pid>/status.  0 or -1 with errno. */
static int proc_uid(pid_t pid, uid_t *uid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    int rc = -1;
    errno = EIO;
    while (fgets(line, sizeof(line), f)) {
        unsigned long u;
        if (sscanf(line, "Uid: %lu", &u) == 1) {
            *uid = (uid_t)u;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Whether the process behind r still exists as the same instance. */
static bool record_is_live(const share_t *sh, const share_record_t *r)
{
    if (r->pid == sh->pid) /* another handle of this very process */
        return r->start == sh->start && r->uid == sh->uid;
    if (kill(r->pid, 0) < 0 && errno == ESRCH)
        return false;
    char state;
    uint64_t start;
    if (proc_stat(r->pid, &state, &start) < 0)
        /* Gone, or /proc hidden from us (hidepid): trust kill(). */
        return errno != ENOENT && errno != ESRCH;
    if (state == 'Z' || state == 'X')
        return false; /* killed, not yet reaped */
    if (r->start != 0 && start != r->start)
        return false; /* the pid was reused */
    uid_t uid;
    if (proc_uid(r->pid, &uid) == 0 && uid != r->uid)
        return false; /* a record posing as another user */
    return true;
}

/* ---------------------------------------------------------------- parsing */

/* A decimal of at most max at *p, followed by sep; advances *p. */
static int parse_field(const char **p, uint64_t max, char sep, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (*s != sep)
        return -1;
    *p = s + 1;
    *out = v;
    return 0;
}

/* One record line ending in '\n'.  0 or -1 when malformed. */
static int parse_line(const char **p, share_record_t *r)
{
    uint64_t f[9];
    static const uint64_t max[9] = {
        INT_MAX,             UINT32_MAX,
        INT64_MAX,           (uid_t)-1 - 1,
        SHARE_MAX_CPUS_MILLI, SHARE_MAX_MEM_BYTES,
        SHARE_MAX_CPUS_MILLI, SHARE_MAX_MEM_BYTES,
        INT64_MAX,
    };
    for (int i = 0; i < 9; i++)
        if (parse_field(p, max[i], i < 8 ? ' ' : '\n', &f[i]) < 0)
            return -1;
    if (f[0] == 0)
        return -1;
    r->pid = (pid_t)f[0];
    r->serial = (uint32_t)f[1];
    r->start = f[2];
    r->uid = (uid_t)f[3];
    r->want.cpus_milli = f[4];
    r->want.mem_bytes = f[5];
    r->hold.cpus_milli = f[6];
    r->hold.mem_bytes = f[7];
    r->updated_ms = (int64_t)f[8];
    return 0;
}

static int push_record(share_t *sh, const share_record_t *r)
{
    if (util_grow((void **)&sh->recs, &sh->cap, sh->nrecs + 1,
                  sizeof(*sh->recs)) < 0)
        return -1;
    sh->recs[sh->nrecs++] = *r;
    return 0;
}

static bool same_instance(const share_record_t *a, const share_record_t *b)
{
    return a->pid == b->pid && a->serial == b->serial;
}

/* Parse text into sh->recs, dropping malformed lines and duplicates.  A
 * wrong header or too many records leaves the table empty.  Text may be
 * anything; it is NUL-terminated at len.  -1 only with ENOMEM. */
static int parse_file(share_t *sh, const char *text, size_t len)
{
    sh->nrecs = 0;
    size_t hlen = strlen(SHARE_HEADER);
    if (len < hlen || memcmp(text, SHARE_HEADER, hlen) != 0)
        return 0; /* empty, foreign or corrupt: start afresh */
    const char *p = text + hlen, *end = text + len;
    size_t lines = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* a torn last line */
        if (++lines > SHARE_MAX_RECORDS) {
            sh->nrecs = 0; /* flooded: reset */
            return 0;
        }
        share_record_t r;
        const char *q = p;
        /* NULs in the line stop parse_field, so the line is dropped. */
        if (parse_line(&q, &r) == 0 && q == nl + 1) {
            bool dup = false;
            for (size_t i = 0; i < sh->nrecs && !dup; i++)
                dup = same_instance(&sh->recs[i], &r);
            if (!dup && push_record(sh, &r) < 0)
                return -1;
        }
        p = nl + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ file */

static int lock_file(share_t *sh)
{
    int64_t deadline = util_mono_ms() + sh->lock_timeout_ms;
    for (;;) {
        if (flock(sh->fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return -1;
        if (util_mono_ms() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec nap = {0, 1000000};
        nanosleep(&nap, NULL);
    }
}

static void unlock_file(share_t *sh)
{
    int saved = errno;
    flock(sh->fd, LOCK_UN);
    errno = saved;
}

/* Read the whole file.  *text is malloc'd and NUL-terminated; a file above
 * SHARE_MAX_FILE_BYTES gives an empty text (reset). */
static int read_file(share_t *sh, char **text, size_t *len)
{
    char *buf = malloc(SHARE_MAX_FILE_BYTES + 2);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    while (n < SHARE_MAX_FILE_BYTES + 1) {
        ssize_t r = pread(sh->fd, buf + n, SHARE_MAX_FILE_BYTES + 1 - n,
                          (off_t)n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            free(buf);
            errno = saved;
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > SHARE_MAX_FILE_BYTES)
        n = 0; /* too large: treat as corrupt */
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

static int write_file(share_t *sh)
{
    util_buf_t b = UTIL_BUF_INIT;
    if (util_buf_puts(&b, SHARE_HEADER) < 0)
        goto nomem;
    for (size_t i = 0; i < sh->nrecs; i++) {
        const share_record_t *r = &sh->recs[i];
        if (util_buf_printf(&b, "%ld %lu %llu %lu %llu %llu %llu %llu "
                                "%lld\n",
                            (long)r->pid, (unsigned long)r->serial,
                            (unsigned long long)r->start,
                            (unsigned long)r->uid,
                            (unsigned long long)r->want.cpus_milli,
                            (unsigned long long)r->want.mem_bytes,
                            (unsigned long long)r->hold.cpus_milli,
                            (unsigned long long)r->hold.mem_bytes,
                            (long long)r->updated_ms) < 0)
            goto nomem;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = pwrite(sh->fd, b.data + off, b.len - off, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto error;
        off += (size_t)w;
    }
    if (ftruncate(sh->fd, (off_t)b.len) < 0)
        goto error;
    util_buf_fini(&b);
    return 0;
nomem:
    errno = ENOMEM;
error:
    {
        int saved = errno;
        util_buf_fini(&b);
        errno = saved;
    }
    return -1;
}

static int cmp_record(const void *a, const void *b)
{
    const share_record_t *x = a, *y = b;
    if (x->uid != y->uid)
        return x->uid < y->uid ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return (x->serial > y->serial) - (x->serial < y->serial);
}

/* The critical section: read, prune, put self (when self != NULL) or remove
 * it, write.  Leaves the live records in sh->recs; *self_index is where our
 * record ended up. */
static int sync_file(share_t *sh, const share_record_t *self,
                     size_t *self_index)
{
    if (lock_file(sh) < 0)
        return -1;
    char *text = NULL;
    size_t len;
    if (read_file(sh, &text, &len) < 0 || parse_file(sh, text, len) < 0)
        goto error;
    int64_t now_ms = (int64_t)(util_wall_time() * 1000);
    share_record_t own = {.pid = sh->pid, .serial = sh->serial};
    size_t kept = 0;
    for (size_t i = 0; i < sh->nrecs; i++) {
        const share_record_t *r = &sh->recs[i];
        if (same_instance(r, &own) || !record_is_live(sh, r))
            continue;
        if (sh->stale_ms > 0 && now_ms - r->updated_ms > sh->stale_ms)
            continue;
        sh->recs[kept++] = *r;
    }
    sh->nrecs = kept;
    if (self) {
        if (sh->nrecs >= SHARE_MAX_RECORDS)
            sh->nrecs = 0; /* flooded with live-looking records: reset */
        if (push_record(sh, self) < 0)
            goto error;
        sh->recs[sh->nrecs - 1].updated_ms = now_ms;
    }
    if (sh->nrecs > 1) /* recs may be NULL when there are none */
        qsort(sh->recs, sh->nrecs, sizeof(*sh->recs), cmp_record);
    if (write_file(sh) < 0)
        goto error;
    unlock_file(sh);
    free(text);
    for (size_t i = 0; self && i < sh->nrecs; i++)
        if (same_instance(&sh->recs[i], &own))
            *self_index = i;
    return 0;
error:
    unlock_file(sh);
    {
        int saved = errno;
        free(text);
        sh->nrecs = 0; /* share_records() is empty after a failure */
        errno = saved;
    }
    return -1;
}

/* ------------------------------------------------------------------- API */

int share_default_path(char *buf, size_t size)
{
    /* BANYAN_SHARE_FILE names another arbitration file: a group of
     * instances that share among themselves only (tests use one each). */
    const char *env = getenv("BANYAN_SHARE_FILE");
    if (env && *env) {
        if ((size_t)snprintf(buf, size, "%s", env) >= size) {
            errno = ENAMETOOLONG;
            return -1;
        }
        return 0;
    }
    const char *dir = "/tmp";
    struct stat st;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK | X_OK) == 0)
        dir = "/dev/shm";
    else if (xdg && xdg[0] == '/' && access(xdg, W_OK | X_OK) == 0)
        dir = xdg;
    int n = snprintf(buf, size, "%s/%s", dir, SHARE_FILE_NAME);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Open path without creating it, or create it 0666 if it does not exist. */
static int open_or_create(const char *path)
{
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    for (int tries = 0; tries < 3; tries++) {
        int fd = open(path, flags);
        if (fd >= 0 || errno != ENOENT)
            return fd;
        fd = open(path, flags | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            /* The umask trimmed the mode; every user must be able to
             * write. */
            if (fchmod(fd, 0666) < 0) {
                int saved = errno;
                close(fd);
                errno = saved;
                return -1;
            }
            return fd;
        }
        if (errno != EEXIST)
            return -1;
        /* Another instance created it between our two opens: retry. */
    }
    return -1;
}

share_t *share_open(const char *path, banyan_error_t *error)
{
    char defpath[PATH_MAX];
    if (!path) {
        if (share_default_path(defpath, sizeof(defpath)) < 0) {
            errprintf(error, "share: no usable directory for the "
                             "arbitration file");
            return NULL;
        }
        path = defpath;
    }
    share_t *sh = calloc(1, sizeof(*sh));
    if (!sh || !(sh->path = strdup(path))) {
        free(sh);
        errno = ENOMEM;
        errprintf(error, "share: out of memory");
        return NULL;
    }
    sh->fd = open_or_create(path);
    if (sh->fd < 0) {
        int saved = errno;
        errprintf(error, "share: cannot open %s: %s%s", path,
                  strerror(saved),
                  saved == ELOOP ? " (a symlink is refused)"
                  : saved == EACCES
                      ? " (it must be writable by every user: mode 0666)"
                      : "");
        goto error;
    }
    struct stat st;
    if (fstat(sh->fd, &st) < 0) {
        errprintf(error, "share: cannot stat %s: %s", path, strerror(errno));
        goto error;
    }
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        errno = EINVAL;
        errprintf(error, "share: %s is not a regular file with one link",
                  path);
        goto error;
    }
    /* Back to blocking I/O for the regular file (O_NONBLOCK only guarded
     * the open against a FIFO). */
    int fl = fcntl(sh->fd, F_GETFL);
    if (fl >= 0)
        fcntl(sh->fd, F_SETFL, fl & ~O_NONBLOCK);
    sh->pid = getpid();
    sh->uid = getuid();
    sh->serial = next_serial++;
    char state;
    if (proc_stat(sh->pid, &state, &sh->start) < 0)
        sh->start = 0; /* unknown: others then rely on kill() alone */
    sh->capacity.cpus_milli = (uint64_t)util_ncpus() * 1000;
    if (util_meminfo(&sh->capacity.mem_bytes, NULL) < 0)
        sh->capacity.mem_bytes = 0;
    sh->lock_timeout_ms = SHARE_LOCK_TIMEOUT_MS;
    return sh;
error:
    {
        int saved = errno;
        if (sh->fd >= 0)
            close(sh->fd);
        free(sh->path);
        free(sh);
        errno = saved;
    }
    return NULL;
}

void share_set_capacity(share_t *sh, const share_amount_t *capacity)
{
    sh->capacity = *capacity;
}

void share_set_stale_ms(share_t *sh, int64_t stale_ms)
{
    sh->stale_ms = stale_ms > 0 ? stale_ms : 0;
}

void share_set_lock_timeout_ms(share_t *sh, int64_t timeout_ms)
{
    sh->lock_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

static uint64_t clamp(uint64_t v, uint64_t max)
{
    return v < max ? v : max;
}

int share_update(share_t *sh, const share_amount_t *want,
                 const share_amount_t *hold, share_grant_t *grant,
                 banyan_error_t *error)
{
    share_record_t self = {
        .pid = sh->pid,
        .serial = sh->serial,
        .start = sh->start,
        .uid = sh->uid,
        .want = {clamp(want->cpus_milli, SHARE_MAX_CPUS_MILLI),
                 clamp(want->mem_bytes, SHARE_MAX_MEM_BYTES)},
        .hold = {clamp(hold->cpus_milli, SHARE_MAX_CPUS_MILLI),
                 clamp(hold->mem_bytes, SHARE_MAX_MEM_BYTES)},
    };
    size_t me = 0;
    if (sync_file(sh, &self, &me) < 0)
        return errprintf(error, "share: %s: %s", sh->path,
                         errno == ETIMEDOUT ? "lock held too long"
                                            : strerror(errno));
    share_grant_t g;
    if (share_fair(sh->recs, sh->nrecs, me, &sh->capacity, &g) < 0)
        return errprintf(error, "share: out of memory");
    *grant = g;
    return 0;
}

size_t share_records(const share_t *sh, const share_record_t **recs)
{
    *recs = sh->recs;
    return sh->nrecs;
}

const char *share_path(const share_t *sh)
{
    return sh->path;
}

void share_close(share_t *sh)
{
    if (!sh)
        return;
    int saved = errno;
    sync_file(sh, NULL, NULL);
    close(sh->fd);
    free(sh->recs);
    free(sh->path);
    free(sh);
    errno = saved;
}
