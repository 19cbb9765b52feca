/* SPDX-License-Identifier: MIT */
/* blob_cache.c - a directory of blobs with an LRU bound and pins.
 *
 * Layout: dir/.lock (flock, one owner process), dir/ab/abcdef... (the
 * 64-character name, fanned out by its first byte), and temp files named
 * BLOB__TMP_PREFIX... directly in dir while they are being written.  A blob
 * appears under its name only by rename() of a complete, fsynced temp file,
 * so a crash leaves either the whole blob or a temp file that the next open
 * removes.
 *
 * The index lives in memory: a util_hmap from name to entry and a doubly
 * linked list in order of last use, least recent at the head.  It is rebuilt at
 * open from one stat per file, ordered by modification time; every use
 * sets the file's mtime to now (atime is unreliable under relatime), so the
 * order survives a restart.
 *
 * Invariants: stats.bytes is the sum of the entries' sizes; stats.pinned
 * counts the entries with pins > 0; an entry with pins > 0 is never
 * evicted or removed.  Content is trusted only after it was hashed in this
 * process: written by us, or checked on first use (entry.verified).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob/blob.h"
#include "blob/blob_private.h"
#include "util/hmap.h"
#include "util/util.h"

typedef struct entry {
    blob_id_t id;
    uint64_t size;           /* bytes */
    int64_t used_ns;         /* last use, wall clock ns (file mtime) */
    uint32_t pins;           /* references from running tasks */
    bool verified;           /* content hashed in this process */
    struct entry *prev;      /* LRU list: towards the least recent */
    struct entry *next;      /* LRU list: towards the most recent */
} entry_t;

struct blob_cache {
    char *dir;               /* owned copy of the directory path */
    int lock_fd;             /* dir/.lock, flocked */
    uint64_t max_bytes;      /* bound on content, 0: none */
    util_hmap_t *index;      /* blob_id_t -> entry_t *, owned */
    entry_t *lru_head;       /* least recently used */
    entry_t *lru_tail;       /* most recently used */
    blob_stats_t st;         /* count, bytes, pinned and the counters */
};

/* ------------------------------------------------------------ hash table */

static entry_t *lookup(const blob_cache_t *c, const blob_id_t *id)
{
    entry_t **e = util_hmap_find(c->index, id);
    return e ? *e : NULL;
}

/* The entry of id for a caller that may pass NULLs: NULL with ENOENT. */
static entry_t *found(const blob_cache_t *c, const blob_id_t *id)
{
    entry_t *e = c && id ? lookup(c, id) : NULL;
    if (!e)
        errno = ENOENT;
    return e;
}

static void lru_unlink(blob_cache_t *c, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_append(blob_cache_t *c, entry_t *e)
{
    e->prev = c->lru_tail;
    e->next = NULL;
    if (c->lru_tail)
        c->lru_tail->next = e;
    else
        c->lru_head = e;
    c->lru_tail = e;
}

/* Add e to the table (not to the LRU list).  0 or -1 ENOMEM. */
static int table_add(blob_cache_t *c, entry_t *e)
{
    entry_t **slot = util_hmap_insert(c->index, &e->id, NULL);
    if (!slot)
        return -1;
    *slot = e;
    c->st.count++;
    c->st.bytes += e->size;
    return 0;
}

/* Take e out of the table and the LRU list and free it. */
static void entry_drop(blob_cache_t *c, entry_t *e)
{
    util_hmap_remove(c->index, &e->id);
    lru_unlink(c, e);
    c->st.count--;
    c->st.bytes -= e->size;
    if (e->pins > 0)
        c->st.pinned--;
    free(e);
}

/* ----------------------------------------------------------------- paths */

/* dir/ab/abcd... into buf.  0 or -1 ERANGE. */
static int path_of(const blob_cache_t *c, const blob_id_t *id, char *buf,
                   size_t size)
{
    char hex[BLOB_HEX_LEN + 1];
    blob_id_format(id, hex);
    int n = snprintf(buf, size, "%s/%.2s/%s", c->dir, hex, hex);
    if (n < 0 || (size_t)n >= size) {
        errno = ERANGE;
        return -1;
    }
    return 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Mark e most recently used, in memory and in the file's mtime (best
 * effort: a failure only loses the order across a restart). */
static void touch(blob_cache_t *c, entry_t *e)
{
    char path[PATH_MAX];

    lru_unlink(c, e);
    lru_append(c, e);
    e->used_ns = now_ns();
    if (path_of(c, &e->id, path, sizeof path) == 0)
        (void)utimensat(AT_FDCWD, path, NULL, 0);
}

/* Remove e's file and entry. */
static void entry_delete(blob_cache_t *c, entry_t *e)
{
    char path[PATH_MAX];
    if (path_of(c, &e->id, path, sizeof path) == 0)
        (void)unlink(path);
    entry_drop(c, e);
}

static void drop_corrupt(blob_cache_t *c, entry_t *e)
{
    c->st.corrupt++;
    entry_delete(c, e);
}

/* Evict least recently used unpinned blobs until the content is at most
 * target bytes or only pinned ones are left. */
static void evict_to(blob_cache_t *c, uint64_t target)
{
    entry_t *e = c->lru_head;
    while (e && c->st.bytes > target) {
        entry_t *next = e->next;
        if (e->pins == 0) {
            c->st.evictions++;
            entry_delete(c, e);
        }
        e = next;
    }
}

/* ------------------------------------------------------------ open/close */

static int cmp_used(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    if (x->used_ns != y->used_ns)
        return x->used_ns < y->used_ns ? -1 : 1;
    return memcmp(x->id.bytes, y->id.bytes, BLOB_ID_BYTES);
}

/* Remove leftover temp files directly in the directory dfd. */
static void remove_temps(int dfd)
{
    /* A new open file description: a dup() would share the directory
     * offset with the caller's own reading of dfd. */
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, BLOB__TMP_PREFIX, strlen(BLOB__TMP_PREFIX))
            == 0)
            (void)unlinkat(dfd, de->d_name, 0);
    closedir(d);
}

/* Index the files of fan-out folder sub (e.g. "ab").  0 or -1 ENOMEM. */
static int scan_sub(blob_cache_t *c, const char *sub)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", c->dir, sub);
    if (n < 0 || (size_t)n >= sizeof path)
        return 0;
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0; /* not made yet, or not ours to read: nothing indexed */
    remove_temps(dfd);
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return 0;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        blob_id_t id;
        char hex[BLOB_HEX_LEN + 1];
        struct stat sb;

        /* Only canonical names in the right folder: "ABCD..." or a name
         * filed under the wrong prefix is not ours and is left alone. */
        if (blob_id_parse(de->d_name, &id) < 0
            || strcmp(blob_id_format(&id, hex), de->d_name) != 0
            || strncmp(hex, sub, 2) != 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0
            || !S_ISREG(sb.st_mode) || lookup(c, &id))
            continue;
        entry_t *e = calloc(1, sizeof *e);
        if (!e) {
            rc = -1;
            break;
        }
        e->id = id;
        e->size = (uint64_t)sb.st_size;
        e->used_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000
                     + sb.st_mtim.tv_nsec;
        if (table_add(c, e) < 0) {
            free(e);
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

/* Build the LRU list from the table, oldest mtime first.  0 or -1. */
static int order_lru(blob_cache_t *c)
{
    if (c->st.count == 0)
        return 0;
    entry_t **v = malloc(c->st.count * sizeof *v);
    if (!v)
        return -1;
    size_t n = 0;
    util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
    void *e;
    while (util_hmap_next(c->index, &it, NULL, &e))
        v[n++] = *(entry_t **)e;
    qsort(v, n, sizeof *v, cmp_used);
    for (size_t i = 0; i < n; i++)
        lru_append(c, v[i]);
    free(v);
    return 0;
}

blob_cache_t *blob_cache_open(const char *dir, uint64_t max_bytes,
                              banyan_error_t *error)
{
    blob_cache_t *c = NULL;
    char path[PATH_MAX];
    int saved;

    if (!dir || !*dir) {
        errno = EINVAL;
        errprintf(error, "blob cache: no directory given");
        return NULL;
    }
    if (blob__sodium_init() < 0) {
        errprintf(error, "blob cache: libsodium failed to initialise");
        return NULL;
    }
    if (strlen(dir) + 1 + 2 + 1 + BLOB_HEX_LEN + 32 >= PATH_MAX) {
        errno = ENAMETOOLONG;
        errprintf(error, "blob cache: directory name too long: %s", dir);
        return NULL;
    }
    if (util_mkdir_p(dir, 0700) < 0) {
        saved = errno;
        errprintf(error, "blob cache: cannot create %s: %s", dir,
                  strerror(saved));
        errno = saved;
        return NULL;
    }
    if (!(c = calloc(1, sizeof *c)) || !(c->dir = strdup(dir)))
        goto nomem;
    c->lock_fd = -1;
    c->max_bytes = max_bytes;
    c->st.max_bytes = max_bytes;
    c->index = util_hmap_create(sizeof(blob_id_t), sizeof(entry_t *), NULL,
                                NULL);
    if (!c->index)
        goto nomem;

    snprintf(path, sizeof path, "%s/.lock", dir);
    c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (c->lock_fd < 0) {
        saved = errno;
        errprintf(error, "blob cache: cannot open %s: %s", path,
                  strerror(saved));
        goto error;
    }
    if (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        saved = errno;
        errprintf(error, "blob cache: %s is in use by another process%s%s",
                  dir, saved == EWOULDBLOCK ? "" : ": ",
                  saved == EWOULDBLOCK ? "" : strerror(saved));
        goto error;
    }

    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        remove_temps(dfd);
        close(dfd);
    }
    for (unsigned i = 0; i < 256; i++) {
        char sub[3];
        snprintf(sub, sizeof sub, "%02x", i);
        if (scan_sub(c, sub) < 0)
            goto nomem;
    }
    if (order_lru(c) < 0)
        goto nomem;
    if (c->max_bytes && c->st.bytes > c->max_bytes)
        evict_to(c, c->max_bytes);
    return c;

nomem:
    saved = ENOMEM;
    errprintf(error, "blob cache: out of memory");
error:
    blob_cache_close(c);
    errno = saved;
    return NULL;
}

void blob_cache_close(blob_cache_t *c)
{
    if (!c)
        return;
    int saved = errno;
    if (c->index) {
        util_hmap_iter_t it = UTIL_HMAP_ITER_INIT;
        void *e;
        while (util_hmap_next(c->index, &it, NULL, &e))
            free(*(entry_t **)e);
        util_hmap_destroy(c->index);
    }
    if (c->lock_fd >= 0)
        close(c->lock_fd); /* releases the flock */
    free(c->dir);
    free(c);
    errno = saved;
}

const char *blob_cache_dir(const blob_cache_t *c)
{
    return c->dir;
}

uint64_t blob__cache_max(const blob_cache_t *c)
{
    return c->max_bytes;
}

/* ---------------------------------------------------------------- writing */

int blob__cache_tmpfile(blob_cache_t *c, char *path, size_t size)
{
    int n = snprintf(path, size, "%s/" BLOB__TMP_PREFIX "XXXXXX", c->dir);
    if (n < 0 || (size_t)n >= size) {
        errno = ERANGE;
        return -1;
    }
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fchmod(fd, 0600) < 0) {
        int saved = errno;
        close(fd);
        unlink(path);
        errno = saved;
        return -1;
    }
    return fd;
}

/* fsync the directory at path (so a rename into it is durable). */
static int sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int blob__cache_commit(blob_cache_t *c, int fd, const char *tmp_path,
                       const blob_id_t *id, uint64_t size)
{
    char path[PATH_MAX], sub[PATH_MAX];
    char hex[BLOB_HEX_LEN + 1];
    entry_t *e = lookup(c, id);
    int saved;

    if (e) { /* raced with another writer of the same content */
        close(fd);
        unlink(tmp_path);
        touch(c, e);
        return 0;
    }
    if (c->max_bytes && size > c->max_bytes) {
        saved = EFBIG;
        goto error;
    }
    if (!(e = calloc(1, sizeof *e))) {
        saved = ENOMEM;
        goto error;
    }
    if (fsync(fd) < 0) {
        saved = errno;
        goto error;
    }
    close(fd);
    fd = -1;

    blob_id_format(id, hex);
    snprintf(sub, sizeof sub, "%s/%.2s", c->dir, hex);
    if (path_of(c, id, path, sizeof path) < 0
        || (mkdir(sub, 0700) < 0 && errno != EEXIST)) {
        saved = errno;
        goto error;
    }
    if (c->max_bytes && c->st.bytes + size > c->max_bytes)
        evict_to(c, c->max_bytes - size);
    if (rename(tmp_path, path) < 0) {
        saved = errno;
        goto error;
    }
    (void)sync_dir(sub); /* durability only; the blob is complete anyway */
    e->id = *id;
    e->size = size;
    e->verified = true;
    if (table_add(c, e) < 0) {
        saved = ENOMEM;
        unlink(path);
        free(e);
        errno = saved;
        return -1;
    }
    lru_append(c, e);
    touch(c, e);
    c->st.stored++;
    return 0;

error:
    free(e);
    if (fd >= 0)
        close(fd);
    unlink(tmp_path);
    errno = saved;
    return -1;
}

int blob_put(blob_cache_t *c, const void *data, size_t len, blob_id_t *id)
{
    blob_id_t h;
    char tmp[PATH_MAX];

    if (!c || (!data && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    if (blob_hash(data, len, &h) < 0)
        return -1;
    entry_t *e = lookup(c, &h);
    if (e) {
        touch(c, e);
        goto done;
    }
    if (c->max_bytes && len > c->max_bytes) {
        errno = EFBIG;
        return -1;
    }
    int fd = blob__cache_tmpfile(c, tmp, sizeof tmp);
    if (fd < 0)
        return -1;
    if (util_write_all(fd, data, len) < 0) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        errno = saved;
        return -1;
    }
    if (blob__cache_commit(c, fd, tmp, &h, len) < 0)
        return -1;
done:
    if (id)
        *id = h;
    return 0;
}

int blob_put_file(blob_cache_t *c, const char *path, blob_id_t *id)
{
    char tmp[PATH_MAX];
    blob_hash_state_t st;
    blob_id_t h;
    struct stat sb;
    uint64_t total = 0;
    int in = -1, fd = -1, saved;
    char *buf = NULL;
    enum { PIECE = 256 * 1024 };

    if (!c || !path) {
        errno = EINVAL;
        return -1;
    }
    if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    if (fstat(in, &sb) < 0)
        goto error;
    if (S_ISDIR(sb.st_mode)) {
        errno = EISDIR;
        goto error;
    }
    if (c->max_bytes && S_ISREG(sb.st_mode)
        && (uint64_t)sb.st_size > c->max_bytes) {
        errno = EFBIG;
        goto error;
    }
    if (!(buf = malloc(PIECE)))
        goto error;
    if (blob_hash_init(&st) < 0)
        goto error;
    if ((fd = blob__cache_tmpfile(c, tmp, sizeof tmp)) < 0)
        goto error;
    for (;;) {
        ssize_t n = read(in, buf, PIECE);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto error;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (c->max_bytes && total > c->max_bytes) {
            errno = EFBIG; /* a pipe or a growing file */
            goto error;
        }
        if (blob_hash_update(&st, buf, (size_t)n) < 0
            || util_write_all(fd, buf, (size_t)n) < 0)
            goto error;
    }
    if (blob_hash_final(&st, &h) < 0)
        goto error;
    free(buf);
    close(in);
    if (blob__cache_commit(c, fd, tmp, &h, total) < 0)
        return -1;
    if (id)
        *id = h;
    return 0;

error:
    saved = errno;
    free(buf);
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    close(in);
    errno = saved;
    return -1;
}

/* ---------------------------------------------------------------- reading */

bool blob_has(const blob_cache_t *c, const blob_id_t *id)
{
    return c && id && lookup(c, id) != NULL;
}

int blob_size(const blob_cache_t *c, const blob_id_t *id, uint64_t *size)
{
    entry_t *e = found(c, id);
    if (!e)
        return -1;
    if (size)
        *size = e->size;
    return 0;
}

/* Open e's file for reading; a file gone (or replaced by a link) drops
 * the entry: -1 with ENOENT.  The fd, or -1 with errno. */
static int open_entry(blob_cache_t *c, entry_t *e)
{
    char path[PATH_MAX];
    if (path_of(c, &e->id, path, sizeof path) < 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && (errno == ENOENT || errno == ELOOP)) {
        entry_drop(c, e);
        errno = ENOENT;
    }
    return fd;
}

/* Hash e's file and compare with its name and size.  0 when it matches;
 * -1 ENOENT when it does not or the file is gone (the entry is dropped,
 * and counted as corrupt when the file was there but wrong); -1 with
 * another errno on an I/O error (the entry stays). */
static int check(blob_cache_t *c, entry_t *e)
{
    blob_id_t h;
    uint64_t size;

    int fd = open_entry(c, e);
    if (fd < 0)
        return -1;
    int rc = blob__hash_fd(fd, &h, &size);
    int saved = errno;
    close(fd);
    if (rc < 0) {
        errno = saved;
        return -1;
    }
    if (size != e->size || !blob_id_equal(&h, &e->id)) {
        drop_corrupt(c, e);
        errno = ENOENT;
        return -1;
    }
    e->verified = true;
    return 0;
}

int blob_get_path(blob_cache_t *c, const blob_id_t *id, char *path,
                  size_t size)
{
    char p[PATH_MAX];
    struct stat sb;

    if (!c || !id || !path) {
        errno = EINVAL;
        return -1;
    }
    entry_t *e = lookup(c, id);
    if (!e)
        goto miss;
    if (!e->verified) {
        if (check(c, e) < 0) {
            if (errno == ENOENT)
                goto miss;
            return -1;
        }
    } else {
        if (path_of(c, id, p, sizeof p) < 0)
            return -1;
        if (lstat(p, &sb) < 0 || !S_ISREG(sb.st_mode)) {
            entry_drop(c, e);
            goto miss;
        }
        if ((uint64_t)sb.st_size != e->size) {
            drop_corrupt(c, e);
            goto miss;
        }
    }
    if (path_of(c, id, path, size) < 0)
        return -1;
    c->st.hits++;
    touch(c, e);
    return 0;

miss:
    c->st.misses++;
    errno = ENOENT;
    return -1;
}

int blob_read(blob_cache_t *c, const blob_id_t *id, void **data, size_t *len)
{
    blob_id_t h;
    char *buf = NULL;
    int fd = -1, saved;

    if (!c || !id || !data || !len) {
        errno = EINVAL;
        return -1;
    }
    entry_t *e = lookup(c, id);
    if (!e)
        goto miss;
    if (e->size >= SIZE_MAX) {
        errno = EFBIG;
        return -1;
    }
    if ((fd = open_entry(c, e)) < 0) {
        if (errno == ENOENT)
            goto miss;
        return -1;
    }
    size_t size = (size_t)e->size, got = 0;
    if (!(buf = malloc(size + 1))) {
        saved = ENOMEM;
        goto error;
    }
    /* Read one byte past the expected size, to notice a longer file. */
    for (;;) {
        size_t want = size + 1 - got;
        if (want == 0)
            break;
        ssize_t n = read(fd, buf + got, want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            saved = errno;
            goto error;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    fd = -1;
    if (got != size || blob_hash(buf, size, &h) < 0
        || !blob_id_equal(&h, id)) {
        free(buf);
        drop_corrupt(c, e);
        goto miss;
    }
    buf[size] = '\0';
    e->verified = true;
    c->st.hits++;
    touch(c, e);
    *data = buf;
    *len = size;
    return 0;

miss:
    c->st.misses++;
    errno = ENOENT;
    return -1;

error:
    free(buf);
    if (fd >= 0)
        close(fd);
    errno = saved;
    return -1;
}

int blob_verify(blob_cache_t *c, const blob_id_t *id)
{
    entry_t *e = found(c, id);
    if (!e)
        return -1;
    return check(c, e);
}

int blob_chunk_read(blob_cache_t *c, const blob_id_t *id, uint64_t index,
                    void *buf, size_t *len)
{
    uint64_t off;
    size_t n;

    if (!buf || !len) {
        errno = EINVAL;
        return -1;
    }
    entry_t *e = found(c, id);
    if (!e || blob_chunk_span(e->size, index, &off, &n) < 0)
        return -1;
    int fd = open_entry(c, e);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got,
                          (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) { /* the file shrank under us */
        drop_corrupt(c, e);
        errno = ENOENT;
        return -1;
    }
    *len = n;
    return 0;
}

/* ---------------------------------------------------------------- pinning */

int blob_pin(blob_cache_t *c, const blob_id_t *id)
{
    entry_t *e = found(c, id);
    if (!e) {
        if (c)
            c->st.misses++;
        return -1;
    }
    if (e->pins == UINT32_MAX) {
        errno = EOVERFLOW;
        return -1;
    }
    if (e->pins++ == 0)
        c->st.pinned++;
    c->st.hits++;
    touch(c, e);
    return 0;
}

int blob_unpin(blob_cache_t *c, const blob_id_t *id)
{
    entry_t *e = found(c, id);
    if (!e)
        return -1;
    if (e->pins == 0) {
        errno = EINVAL;
        return -1;
    }
    if (--e->pins == 0) {
        c->st.pinned--;
        if (c->max_bytes && c->st.bytes > c->max_bytes)
            evict_to(c, c->max_bytes);
    }
    return 0;
}

int blob_remove(blob_cache_t *c, const blob_id_t *id)
{
    entry_t *e = found(c, id);
    if (!e)
        return -1;
    if (e->pins > 0) {
        errno = EBUSY;
        return -1;
    }
    entry_delete(c, e);
    return 0;
}

void blob_stats(const blob_cache_t *c, blob_stats_t *out)
{
    *out = c->st;
}

int blob_cache_lru(const blob_cache_t *c, blob_id_t *id)
{
    for (entry_t *e = c->lru_head; e; e = e->next)
        if (e->pins == 0) {
            if (id)
                *id = e->id;
            return 0;
        }
    errno = ENOENT;
    return -1;
}
