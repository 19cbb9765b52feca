/* SPDX-License-Identifier: MIT */
/* exec_stream.c - captured output of a task: memory first, then a file.
 *
 * A stream keeps its first EXEC_SPILL_BYTES in a growable buffer and the rest
 * in an unlinked temporary file (O_TMPFILE in $TMPDIR or /tmp, falling back
 * to mkstemp() + unlink() on file systems without O_TMPFILE).  Byte k of the
 * stream is mem.data[k] when k < mem.len, else byte k - mem.len of the file;
 * mem.len only reaches EXEC_SPILL_BYTES before the file is used, so the two
 * parts never interleave.
 *
 * Appending never fails: when the file cannot be created or written, the
 * bytes are counted but dropped and lost_errno remembers why; the readers
 * (copy, dup) then fail with that errno after writing what they have, so a
 * caller never mistakes a truncated stream for a whole one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_private.h"

enum { COPY_CHUNK = 65536 };

void exec__stream_init(exec_stream_t *s)
{
    s->mem = (util_buf_t)UTIL_BUF_INIT;
    s->spill_fd = -1;
    s->size = 0;
    s->spilled = 0;
    s->lost_errno = 0;
}

void exec__stream_fini(exec_stream_t *s)
{
    int saved = errno;
    util_buf_fini(&s->mem);
    if (s->spill_fd >= 0)
        close(s->spill_fd);
    s->spill_fd = -1;
    errno = saved;
}

/* An anonymous file for the bytes beyond the memory part, or -1. */
static int spill_open(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
                    errno != EINVAL))
        return fd;
    util_buf_t path = UTIL_BUF_INIT;
    if (util_buf_printf(&path, "%s/banyan-out.XXXXXX", dir) < 0)
        return -1;
    fd = mkostemp(path.data, O_CLOEXEC);
    if (fd >= 0)
        unlink(path.data);
    util_buf_fini(&path);
    return fd;
}

void exec__stream_append(exec_stream_t *s, const void *data, size_t n)
{
    const char *p = data;
    s->size += n;
    if (s->lost_errno)
        return;
    if (s->spill_fd < 0 && s->mem.len < EXEC_SPILL_BYTES) {
        size_t room = EXEC_SPILL_BYTES - s->mem.len;
        size_t take = n < room ? n : room;
        if (util_buf_append(&s->mem, p, take) < 0) {
            s->lost_errno = errno;
            return;
        }
        p += take;
        n -= take;
    }
    if (n == 0)
        return;
    if (s->spill_fd < 0 && (s->spill_fd = spill_open()) < 0) {
        s->lost_errno = errno ? errno : EIO;
        return;
    }
    if (util_write_all(s->spill_fd, p, n) < 0) {
        s->lost_errno = errno ? errno : EIO;
        return;
    }
    s->spilled += n;
}

/* Bytes actually stored (size minus what was lost). */
static uint64_t stored(const exec_stream_t *s)
{
    return s->mem.len + s->spilled;
}

/* Read stored bytes [off, off + n) into buf.  0 or -1 with errno. */
static int read_at(const exec_stream_t *s, uint64_t off, char *buf, size_t n)
{
    if (off < s->mem.len) {
        size_t k = s->mem.len - (size_t)off;
        if (k > n)
            k = n;
        memcpy(buf, s->mem.data + off, k);
        buf += k;
        n -= k;
        off += k;
    }
    off -= s->mem.len;
    while (n > 0) {
        ssize_t r = pread(s->spill_fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        buf += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* ------------------------------------------------------------------ public */

uint64_t exec_stream_size(const exec_stream_t *s)
{
    return s ? s->size : 0;
}

/* Copy with a prefix before every line, gathering output in obuf so that a
 * task's many short lines become few write() calls. */
static int copy_prefixed(const exec_stream_t *s, int fd, const char *prefix)
{
    size_t plen = strlen(prefix);
    uint64_t total = stored(s), off = 0;
    util_buf_t obuf = UTIL_BUF_INIT;
    char *in = malloc(COPY_CHUNK);
    bool at_line_start = true;
    int rc = -1;
    if (!in || util_buf_reserve(&obuf, 2 * COPY_CHUNK) < 0)
        goto out;
    while (off < total) {
        size_t n = total - off < COPY_CHUNK ? (size_t)(total - off)
                                            : COPY_CHUNK;
        if (read_at(s, off, in, n) < 0)
            goto out;
        off += n;
        const char *p = in, *end = in + n;
        while (p < end) {
            if (at_line_start && util_buf_append(&obuf, prefix, plen) < 0)
                goto out;
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *stop = nl ? nl + 1 : end;
            if (util_buf_append(&obuf, p, (size_t)(stop - p)) < 0)
                goto out;
            at_line_start = nl != NULL;
            p = stop;
        }
        if (obuf.len >= COPY_CHUNK) {
            if (util_write_all(fd, obuf.data, obuf.len) < 0)
                goto out;
            util_buf_reset(&obuf);
        }
    }
    if (!at_line_start && util_buf_putc(&obuf, '\n') < 0)
        goto out;
    if (obuf.len > 0 && util_write_all(fd, obuf.data, obuf.len) < 0)
        goto out;
    rc = 0;
out:
    free(in);
    util_buf_fini(&obuf);
    return rc;
}

static int copy_plain(const exec_stream_t *s, int fd)
{
    if (util_write_all(fd, s->mem.data, s->mem.len) < 0)
        return -1;
    if (s->spilled == 0)
        return 0;
    char *in = malloc(COPY_CHUNK);
    if (!in)
        return -1;
    uint64_t off = 0;
    int rc = 0;
    while (rc == 0 && off < s->spilled) {
        size_t n = s->spilled - off < COPY_CHUNK ? (size_t)(s->spilled - off)
                                                 : COPY_CHUNK;
        rc = read_at(s, s->mem.len + off, in, n);
        if (rc == 0)
            rc = util_write_all(fd, in, n);
        off += n;
    }
    int saved = errno;
    free(in);
    errno = saved;
    return rc;
}

int exec_stream_copy(const exec_stream_t *s, int fd, const char *line_prefix)
{
    if (!s)
        return 0;
    int rc = line_prefix ? copy_prefixed(s, fd, line_prefix)
                         : copy_plain(s, fd);
    if (rc == 0 && s->lost_errno) {
        errno = s->lost_errno;
        return -1;
    }
    return rc;
}

size_t exec_stream_tail(const exec_stream_t *s, void *buf, size_t size)
{
    if (!s)
        return 0;
    uint64_t total = stored(s);
    size_t n = total < size ? (size_t)total : size;
    if (n == 0 || read_at(s, total - n, buf, n) < 0)
        return 0;
    return n;
}

char *exec_stream_dup(const exec_stream_t *s, size_t max)
{
    uint64_t total = s ? stored(s) : 0;
    /* Lost bytes are told before the size is looked at: the task-end
     * classifier asks exec_stream_dup(s, 0) whether a stream is whole
     * (engine_end.c, stream_lost), there being no accessor of lost_errno
     * in exec.h. */
    if (s && s->lost_errno) {
        errno = s->lost_errno;
        return NULL;
    }
    if (total > max || total >= SIZE_MAX) {
        errno = EFBIG;
        return NULL;
    }
    char *p = malloc((size_t)total + 1);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > 0 && read_at(s, 0, p, (size_t)total) < 0) {
        int saved = errno;
        free(p);
        errno = saved;
        return NULL;
    }
    p[total] = '\0';
    return p;
}
