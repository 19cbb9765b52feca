/* SPDX-License-Identifier: MIT */
/* inputs.c - input sources (":::", "::::", linked "+" forms) and the tasks
 * they combine into.
 *
 * A source is an array of values whose bytes live in one block owned by the
 * source (a copy of the given values, or the file read whole with its line
 * ends turned into NULs).  Consecutive linked sources form a group; a group
 * is as long as its longest source (shorter ones wrap around), or empty when
 * any of its sources is empty.  The tasks are the cartesian product of the
 * groups, the last group varying fastest, so task i is found by writing i in
 * the mixed radix of the group lengths: nothing is expanded into memory.
 *
 * The task count is kept up to date as sources are added, and adding a
 * source that would make it exceed 2^64-1 fails with ERANGE, so that
 * tmpl_inputs_count() never has to report an error.
 */
#include "tmpl.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct source {
    char *block;    /* owned bytes of all values, NUL-separated */
    char **vals;    /* n pointers into block */
    size_t n;       /* number of values */
    bool linked;    /* paired with the previous source */
} source_t;

typedef struct group {
    size_t first;   /* index of its first source */
    size_t count;   /* number of sources in the group */
    uint64_t len;   /* values per group: longest source, 0 if one is empty */
} group_t;

struct tmpl_inputs {
    source_t *src;
    size_t nsrc;
    size_t cap;
    group_t *grp;   /* rebuilt as sources are added; nsrc entries at most */
    size_t ngrp;
    uint64_t count; /* product of the group lengths (0 without sources) */
};

tmpl_inputs_t *tmpl_inputs_create(void)
{
    tmpl_inputs_t *in = calloc(1, sizeof(*in));
    if (!in)
        errno = ENOMEM;
    return in;
}

void tmpl_inputs_destroy(tmpl_inputs_t *in)
{
    if (!in)
        return;
    int saved = errno;
    for (size_t i = 0; i < in->nsrc; i++) {
        free(in->src[i].block);
        free(in->src[i].vals);
    }
    free(in->src);
    free(in->grp);
    free(in);
    errno = saved;
}

/* The groups and count that the sources would have with s appended.  Fills
 * grp (room for nsrc + 1 entries).  0, or -1 ERANGE on overflow. */
static int plan_groups(const tmpl_inputs_t *in, const source_t *s,
                       group_t *grp, size_t *ngrp, uint64_t *count)
{
    size_t ng = 0;
    for (size_t i = 0; i <= in->nsrc; i++) {
        const source_t *cur = i < in->nsrc ? &in->src[i] : s;
        if (!cur->linked || ng == 0) {
            grp[ng++] = (group_t){.first = i, .count = 0, .len = cur->n};
        } else {
            group_t *g = &grp[ng - 1];
            /* an empty source empties its group; else the longest wins */
            if (cur->n == 0 || g->len == 0)
                g->len = 0;
            else if (cur->n > g->len)
                g->len = cur->n;
        }
        grp[ng - 1].count++;
    }
    /* an empty group means no task at all, however long the others */
    uint64_t total = 1;
    for (size_t i = 0; i < ng; i++)
        if (grp[i].len == 0)
            total = 0;
    for (size_t i = 0; i < ng && total != 0; i++) {
        if (grp[i].len > UINT64_MAX / total) {
            errno = ERANGE;
            return -1;
        }
        total *= grp[i].len;
    }
    *ngrp = ng;
    *count = total;
    return 0;
}

/* Append s (whose block and vals are taken over, also on failure). */
static int add_source(tmpl_inputs_t *in, source_t s, banyan_error_t *error)
{
    if (s.linked && in->nsrc == 0) {
        errno = EINVAL;
        errprintf(error, "linked input source (':::+' or '::::+') is linked "
                         "with nothing before it");
        goto error;
    }
    if (util_grow((void **)&in->src, &in->cap, in->nsrc + 1,
                  sizeof(*in->src)) < 0)
        goto nomem;
    group_t *grp = malloc((in->nsrc + 1) * sizeof(*grp));
    if (!grp)
        goto nomem;
    size_t ngrp;
    uint64_t count;
    if (plan_groups(in, &s, grp, &ngrp, &count) < 0) {
        free(grp);
        errprintf(error, "too many combinations of inputs: their number "
                         "exceeds 2^64-1");
        goto error;
    }
    free(in->grp);
    in->grp = grp;
    in->ngrp = ngrp;
    in->count = count;
    in->src[in->nsrc++] = s;
    return 0;
nomem:
    errno = ENOMEM;
    errprintf(error, "out of memory adding an input source");
error:;
    int saved = errno;
    free(s.block);
    free(s.vals);
    errno = saved;
    return -1;
}

int tmpl_inputs_add_values(tmpl_inputs_t *in, const char *const *values,
                           size_t n, bool linked, banyan_error_t *error)
{
    source_t s = {.n = n, .linked = linked};
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(values[i]) + 1;
    s.block = malloc(total ? total : 1);
    s.vals = malloc((n ? n : 1) * sizeof(*s.vals));
    if (!s.block || !s.vals) {
        free(s.block);
        free(s.vals);
        errno = ENOMEM;
        return errprintf(error, "out of memory adding an input source");
    }
    char *p = s.block;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(values[i]);
        memcpy(p, values[i], len + 1);
        s.vals[i] = p;
        p += len + 1;
    }
    return add_source(in, s, error);
}

/* Read all of fd (name: path, or "-" for stdin) into a NUL-terminated
 * malloc'd block.  A NUL byte, or a line longer than TMPL_LINE_MAX, is an
 * error at once: `:::: /dev/zero` fails instead of filling memory, and a
 * binary file is not taken as cut-off lines.  0, or -1 with errno and
 * text. */
static int read_input(int fd, const char *path, char **data, size_t *len,
                      banyan_error_t *error)
{
    util_buf_t b = UTIL_BUF_INIT;
    char chunk[65536];
    uint64_t line = 1;
    size_t col = 0; /* bytes of the line so far */
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            errprintf(error, "cannot read input file '%s': %s", path,
                      strerror(errno));
            goto error;
        }
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            if (chunk[i] == '\n') {
                line++;
                col = 0;
            } else if (chunk[i] == '\0') {
                errno = EINVAL;
                errprintf(error, "input file '%s', line %llu: a NUL byte "
                          "(input values are lines of text)", path,
                          (unsigned long long)line);
                goto error;
            } else if (++col > TMPL_LINE_MAX) {
                errno = EFBIG;
                errprintf(error, "input file '%s', line %llu: longer than "
                          "%d bytes", path, (unsigned long long)line,
                          TMPL_LINE_MAX);
                goto error;
            }
        }
        if (util_buf_append(&b, chunk, (size_t)r) < 0) {
            errprintf(error, "out of memory reading input file '%s'", path);
            goto error;
        }
    }
    *len = b.len;
    if ((*data = util_buf_steal(&b)))
        return 0;
    return errprintf(error, "out of memory reading input file '%s'", path);
error:;
    int saved = errno;
    util_buf_fini(&b);
    errno = saved;
    return -1;
}

/* Split block (len bytes, NUL-terminated) into lines in place: one value a
 * line, "\r\n" accepted, a final line without "\n" kept, no empty value
 * after a final "\n". */
static int split_lines(char *block, size_t len, source_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (block[i] == '\n')
            n++;
    if (len > 0 && block[len - 1] != '\n')
        n++;
    s->vals = malloc((n ? n : 1) * sizeof(*s->vals));
    if (!s->vals) {
        errno = ENOMEM;
        return -1;
    }
    size_t k = 0;
    char *p = block, *end = block + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        if (stop > p && stop[-1] == '\r')
            stop[-1] = '\0';
        *stop = '\0';
        s->vals[k++] = p;
        p = stop + 1;
    }
    s->n = k;
    return 0;
}

int tmpl_inputs_add_file(tmpl_inputs_t *in, const char *path, bool linked,
                         banyan_error_t *error)
{
    source_t s = {.linked = linked};
    size_t len = 0;
    bool in_stdin = strcmp(path, "-") == 0;
    int fd = in_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errprintf(error, "cannot read input file '%s': %s", path,
                         strerror(errno));
    int rc = read_input(fd, path, &s.block, &len, error);
    if (!in_stdin)
        close(fd);
    if (rc < 0)
        return -1;
    if (split_lines(s.block, len, &s) < 0) {
        free(s.block);
        return errprintf(error, "out of memory reading input file '%s'",
                         path);
    }
    return add_source(in, s, error);
}

size_t tmpl_inputs_arity(const tmpl_inputs_t *in)
{
    return in->nsrc;
}

uint64_t tmpl_inputs_count(const tmpl_inputs_t *in)
{
    return in->nsrc ? in->count : 0;
}

int tmpl_inputs_get(const tmpl_inputs_t *in, uint64_t i, const char **vals)
{
    if (i >= tmpl_inputs_count(in)) {
        errno = ERANGE;
        return -1;
    }
    for (size_t g = in->ngrp; g-- > 0;) {
        const group_t *grp = &in->grp[g];
        uint64_t digit = i % grp->len;
        i /= grp->len;
        for (size_t k = 0; k < grp->count; k++) {
            const source_t *s = &in->src[grp->first + k];
            vals[grp->first + k] = s->vals[digit % s->n];
        }
    }
    return 0;
}

/* ------------------------------------------------------------ fingerprint */

/* 128-bit FNV-1a, kept as two 64-bit halves so that no compiler extension
 * is needed.  The prime is 2^88 + 0x13b. */
typedef struct fnv128 {
    uint64_t hi, lo;
} fnv128_t;

static void fnv_byte(fnv128_t *h, unsigned char c)
{
    h->lo ^= c;
    /* (hi, lo) * 0x13b: multiply lo in 32-bit halves to get the carry */
    const uint64_t k = 0x13b;
    uint64_t a0 = h->lo & 0xffffffffu, a1 = h->lo >> 32;
    uint64_t t0 = a0 * k, t1 = a1 * k;
    uint64_t lo = t0 + (t1 << 32);
    uint64_t carry = (t1 >> 32) + (lo < t0);
    uint64_t hi = h->hi * k + carry;
    /* + (hi, lo) << 88: only lo << 24 lands in the high word */
    hi += h->lo << 24;
    h->hi = hi;
    h->lo = lo;
}

static void fnv_bytes(fnv128_t *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        fnv_byte(h, p[i]);
}

/* Numbers go in as 8 little-endian bytes whatever the host. */
static void fnv_u64(fnv128_t *h, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        fnv_byte(h, (unsigned char)(v >> (8 * i)));
}

char *tmpl_inputs_fingerprint(const tmpl_inputs_t *in, char *buf)
{
    fnv128_t h = {0x6c62272e07bb0142u, 0x62b821756295c58du};
    fnv_u64(&h, in->nsrc);
    for (size_t i = 0; i < in->nsrc; i++) {
        const source_t *s = &in->src[i];
        fnv_u64(&h, s->linked);
        fnv_u64(&h, s->n);
        for (size_t k = 0; k < s->n; k++) {
            size_t len = strlen(s->vals[k]);
            fnv_u64(&h, len);
            fnv_bytes(&h, s->vals[k], len);
        }
    }
    snprintf(buf, 33, "%016llx%016llx", (unsigned long long)h.hi,
             (unsigned long long)h.lo);
    return buf;
}
