/* SPDX-License-Identifier: MIT */
/* run_output.c - grouped task output, in completion or input order.
 *
 * A task's stdout and stderr are written whole when it ends, so lines of two
 * tasks never interleave.  Without keep_order that happens at once, straight
 * from the executor's streams.  With keep_order the output is copied out of
 * the streams and parked in a min-heap keyed by task index until every
 * earlier task has been written (or will never run: resumed runs skip the
 * tasks done before).  --results DIR also writes DIR/<seq>/stdout and
 * DIR/<seq>/stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run_private.h"

typedef struct parked {
    uint64_t index;
    char *out;        /* owned, may be NULL */
    size_t out_len;
    char *err;        /* owned, may be NULL */
    size_t err_len;
    char *prefix;     /* owned --tag prefix, may be NULL */
} parked_t;

struct run_output {
    const run_options_t *o;
    run_skip_fn skip;
    void *skip_arg;
    uint64_t next;    /* keep_order: index of the next task to write */
    parked_t *heap;   /* keep_order: min-heap by index */
    size_t nheap;
    size_t capheap;
};

run_output_t *run__output_create(const run_options_t *o, run_skip_fn skip,
                                 void *skip_arg)
{
    run_output_t *out = calloc(1, sizeof(*out));
    if (!out)
        return NULL;
    out->o = o;
    out->skip = skip;
    out->skip_arg = skip_arg;
    return out;
}

static void parked_free(parked_t *p)
{
    free(p->out);
    free(p->err);
    free(p->prefix);
}

void run__output_destroy(run_output_t *out)
{
    if (!out)
        return;
    for (size_t i = 0; i < out->nheap; i++)
        parked_free(&out->heap[i]);
    free(out->heap);
    free(out);
}

int run__json_string(util_buf_t *b, const char *s)
{
    if (util_buf_putc(b, '"') < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        switch (*p) {
        case '"': rc = util_buf_puts(b, "\\\""); break;
        case '\\': rc = util_buf_puts(b, "\\\\"); break;
        case '\n': rc = util_buf_puts(b, "\\n"); break;
        case '\t': rc = util_buf_puts(b, "\\t"); break;
        case '\r': rc = util_buf_puts(b, "\\r"); break;
        default:
            if (*p < 0x20)
                rc = util_buf_printf(b, "\\u%04x", *p);
            else
                rc = util_buf_putc(b, (char)*p);
        }
        if (rc < 0)
            return -1;
    }
    return util_buf_putc(b, '"');
}

/* GNU Parallel's --tag prefix: the values joined by spaces, then a TAB. */
static char *tag_prefix(const char *const *vals, size_t nvals)
{
    util_buf_t b = UTIL_BUF_INIT;
    for (size_t i = 0; i < nvals; i++) {
        if ((i && util_buf_putc(&b, ' ') < 0) || util_buf_puts(&b, vals[i]) < 0)
            goto error;
    }
    if (util_buf_putc(&b, '\t') < 0)
        goto error;
    return util_buf_steal(&b);
error:
    util_buf_fini(&b);
    return NULL;
}

/* Write text to fd, with prefix before every line (a missing final newline
 * is added when prefixing, as exec_stream_copy does). */
static int write_prefixed(int fd, const char *p, size_t len,
                          const char *prefix)
{
    if (!prefix)
        return util_write_all(fd, p, len);
    util_buf_t b = UTIL_BUF_INIT;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(p + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - p) + 1 : len;
        if (util_buf_puts(&b, prefix) < 0 ||
            util_buf_append(&b, p + i, end - i) < 0 ||
            (!nl && util_buf_putc(&b, '\n') < 0)) {
            util_buf_fini(&b);
            return -1;
        }
        i = end;
    }
    int rc = b.len ? util_write_all(fd, b.data, b.len) : 0;
    util_buf_fini(&b);
    return rc;
}

/* Write DIR/<seq>/stdout and stderr.  0, or -1 with errno and why. */
static int write_results_dir(const char *dir, uint64_t index,
                             const exec_result_t *res, bool lost, char *why,
                             size_t why_size)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%llu", dir,
             (unsigned long long)index + 1);
    if (util_mkdir_p(path, 0755) < 0)
        goto error;
    const struct {
        const char *name;
        const exec_stream_t *s;
    } files[] = {{"stdout", res->out}, {"stderr", res->err}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%llu/%s", dir,
                 (unsigned long long)index + 1, files[i].name);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            goto error;
        int rc = files[i].s ? exec_stream_copy(files[i].s, fd, NULL) : 0;
        int err = errno;
        if (close(fd) < 0)
            goto error;
        if (rc < 0 && !lost) { /* a lost stream fails the copy as well */
            errno = err;
            goto error;
        }
    }
    return 0;
error:;
    int err = errno;
    snprintf(why, why_size, "cannot write --results %s: %s", path,
             strerror(err));
    errno = err;
    return -1;
}

/* ------------------------------------------------------------ keep order */

static void heap_swap(parked_t *a, parked_t *b)
{
    parked_t t = *a;
    *a = *b;
    *b = t;
}

static int heap_push(run_output_t *out, const parked_t *p)
{
    if (out->nheap == out->capheap) {
        size_t cap = out->capheap ? out->capheap * 2 : 64;
        parked_t *h = realloc(out->heap, cap * sizeof(*h));
        if (!h)
            return -1;
        out->heap = h;
        out->capheap = cap;
    }
    size_t i = out->nheap++;
    out->heap[i] = *p;
    while (i > 0 && out->heap[(i - 1) / 2].index > out->heap[i].index) {
        heap_swap(&out->heap[(i - 1) / 2], &out->heap[i]);
        i = (i - 1) / 2;
    }
    return 0;
}

static parked_t heap_pop(run_output_t *out)
{
    parked_t top = out->heap[0];
    out->heap[0] = out->heap[--out->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < out->nheap && out->heap[l].index < out->heap[m].index)
            m = l;
        if (r < out->nheap && out->heap[r].index < out->heap[m].index)
            m = r;
        if (m == i)
            break;
        heap_swap(&out->heap[i], &out->heap[m]);
        i = m;
    }
    return top;
}

static void write_parked(parked_t *p)
{
    /* A closed stdout (banyan ... | head) must not stop the run. */
    if (p->out)
        (void)write_prefixed(STDOUT_FILENO, p->out, p->out_len, p->prefix);
    if (p->err)
        (void)write_prefixed(STDERR_FILENO, p->err, p->err_len, p->prefix);
    parked_free(p);
}

void run__output_drain(run_output_t *out, bool flush_all)
{
    for (;;) {
        while (out->skip && out->skip(out->next, out->skip_arg))
            out->next++;
        if (out->nheap == 0 ||
            (!flush_all && out->heap[0].index != out->next))
            return;
        parked_t p = heap_pop(out);
        if (p.index >= out->next)
            out->next = p.index + 1;
        write_parked(&p);
    }
}

/* The stream's bytes, for parking.  A stream that lost bytes (lost: a
 * full TMPDIR; its task failed for it) is refused by exec_stream_dup(),
 * so what it kept is read as its tail, which is all of it. */
static char *stream_copy(const exec_stream_t *s, bool lost, size_t *len)
{
    *len = 0;
    uint64_t size = s ? exec_stream_size(s) : 0;
    if (size == 0 || size >= SIZE_MAX)
        return NULL;
    char *p = exec_stream_dup(s, SIZE_MAX);
    if (p) {
        *len = (size_t)size;
        return p;
    }
    if (!lost || !(p = malloc((size_t)size)))
        return NULL;
    *len = exec_stream_tail(s, p, (size_t)size);
    return p;
}

int run__output_task(run_output_t *out, uint64_t index,
                     const char *const *vals, size_t nvals,
                     const exec_result_t *res, bool lost, char *why,
                     size_t why_size)
{
    const run_options_t *o = out->o;
    bool failed = o->results_dir &&
                  write_results_dir(o->results_dir, index, res, lost, why,
                                    why_size) < 0;
    int err = errno;
    char *prefix = o->tag ? tag_prefix(vals, nvals) : NULL;
    if (o->tag && !prefix) {
        snprintf(why, why_size, "cannot write its output: out of memory");
        return -1;
    }
    if (!o->keep_order) {
        /* Still printed after a --results failure: what can be shown is. */
        const struct {
            const char *name;
            const exec_stream_t *s;
            int fd;
        } to[] = {{"stdout", res->out, STDOUT_FILENO},
                  {"stderr", res->err, STDERR_FILENO}};
        for (size_t i = 0; i < 2; i++) {
            if (!to[i].s || exec_stream_copy(to[i].s, to[i].fd, prefix) == 0 ||
                lost || errno == EPIPE || failed)
                continue;
            err = errno;
            snprintf(why, why_size, "cannot write its output to banyan's %s: "
                     "%s", to[i].name, strerror(err));
            failed = true;
        }
        free(prefix);
        errno = err;
        return failed ? -1 : 0;
    }
    /* Parked even after a --results failure: the tasks after it wait for
     * its turn. */
    parked_t p = {.index = index, .prefix = prefix};
    p.out = stream_copy(res->out, lost, &p.out_len);
    p.err = stream_copy(res->err, lost, &p.err_len);
    if (heap_push(out, &p) < 0) {
        parked_free(&p);
        snprintf(why, why_size, "cannot keep its output: out of memory");
        return -1;
    }
    run__output_drain(out, false);
    errno = err;
    return failed ? -1 : 0;
}
