/* SPDX-License-Identifier: MIT */
/* inputs.c - input sources (":::", "::::", linked "+" forms), the records
 * they combine into and the jobs the records are grouped into.
 *
 * A source is an array of values whose bytes live in one block owned by the
 * source (inputs_read.c turns the given values or a file into it: split by
 * the delimiter, filtered by -E/-r, joined by -L, trimmed, cut into columns
 * by --colsep or --csv).  Consecutive linked sources form a group; a group
 * is as long as its shortest source (GNU 20221122's ":::+"), or with --link
 * (one group of all sources) as its longest, shorter ones wrapping around.
 * An empty source counts as one empty value unless all sources are empty,
 * as in GNU Parallel.  The records are the cartesian product of the groups,
 * the last group varying fastest, so record i is found by writing i in the
 * mixed radix of the group lengths: nothing is expanded into memory.
 *
 * The record count is kept up to date as sources are added, and adding a
 * source that would make it exceed 2^64-1 fails with ERANGE, so that
 * tmpl_inputs_count() never has to report an error.  Jobs are records
 * unless tmpl_inputs_group() groups them (inputs_group.c).
 */
#include "inputs_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        free(in->src[i].ncols);
    }
    free(in->src);
    free(in->grp);
    inputs__read_fini(in);
    for (size_t i = 0; i < in->nnames; i++)
        free(in->names[i]);
    free(in->names);
    free(in->job_first);
    free(in);
    errno = saved;
}

/* The values a source counts for: an empty one is one empty value unless
 * every source is empty. */
static uint64_t effective(const source_t *s, bool all_empty)
{
    return s->n ? s->n : all_empty ? 0 : 1;
}

/* The groups and count that the sources would have with s appended.  Fills
 * grp (room for nsrc + 1 entries).  0, or -1 ERANGE on overflow. */
static int plan_groups(const tmpl_inputs_t *in, const source_t *s,
                       group_t *grp, size_t *ngrp, uint64_t *count)
{
    bool all_empty = s->n == 0;
    for (size_t i = 0; i < in->nsrc; i++)
        all_empty = all_empty && in->src[i].n == 0;
    size_t ng = 0;
    for (size_t i = 0; i <= in->nsrc; i++) {
        const source_t *cur = i < in->nsrc ? &in->src[i] : s;
        uint64_t n = effective(cur, all_empty);
        if (ng == 0 || (!cur->linked && !in->rd.link)) {
            grp[ng++] = (group_t){.first = i, .count = 0, .len = n};
        } else {
            group_t *g = &grp[ng - 1];
            /* --link: the longest wins (shorter ones wrap); ":::+": the
             * shortest (GNU 20221122 drops the rest) */
            if (in->rd.link ? n > g->len : n < g->len)
                g->len = n;
        }
        grp[ng - 1].count++;
    }
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

int inputs__add_source(tmpl_inputs_t *in, source_t s, banyan_error_t *error)
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
    if (s.maxcols == 0)
        s.maxcols = 1;
    in->width += s.maxcols;
    in->src[in->nsrc++] = s;
    return 0;
nomem:
    errno = ENOMEM;
    errprintf(error, "out of memory adding an input source");
error:;
    int saved = errno;
    free(s.block);
    free(s.vals);
    free(s.ncols);
    errno = saved;
    return -1;
}

size_t tmpl_inputs_arity(const tmpl_inputs_t *in)
{
    return in->width;
}

uint64_t tmpl_inputs_count(const tmpl_inputs_t *in)
{
    return in->nsrc ? in->count : 0;
}

/* The value index of each source in record i into idx (SIZE_MAX for the
 * empty value of an empty source). */
static void record_indices(const tmpl_inputs_t *in, uint64_t i, size_t *idx)
{
    for (size_t g = in->ngrp; g-- > 0;) {
        const group_t *grp = &in->grp[g];
        uint64_t digit = i % grp->len;
        i /= grp->len;
        for (size_t k = 0; k < grp->count; k++) {
            const source_t *s = &in->src[grp->first + k];
            idx[grp->first + k] = s->n ? (size_t)(digit % s->n) : SIZE_MAX;
        }
    }
}

int tmpl_inputs_get(const tmpl_inputs_t *in, uint64_t i, const char **vals)
{
    if (i >= tmpl_inputs_count(in)) {
        errno = ERANGE;
        return -1;
    }
    size_t idx[in->nsrc];
    record_indices(in, i, idx);
    for (size_t k = 0; k < in->nsrc; k++)
        vals[k] = idx[k] == SIZE_MAX ? "" : in->src[k].vals[idx[k]];
    return 0;
}

size_t tmpl_inputs_record(const tmpl_inputs_t *in, uint64_t i,
                          const char **vals)
{
    if (i >= tmpl_inputs_count(in)) {
        errno = ERANGE;
        return 0;
    }
    size_t idx[in->nsrc];
    record_indices(in, i, idx);
    size_t n = 0;
    for (size_t k = 0; k < in->nsrc; k++) {
        const source_t *s = &in->src[k];
        if (idx[k] == SIZE_MAX) {
            vals[n++] = "";
            continue;
        }
        const char *v = s->vals[idx[k]];
        uint32_t cols = s->ncols ? s->ncols[idx[k]] : 1;
        for (uint32_t c = 0; c < cols; c++) {
            vals[n++] = v;
            v += strlen(v) + 1; /* columns are consecutive strings */
        }
    }
    return n;
}

const char *const *tmpl_inputs_names(const tmpl_inputs_t *in, size_t *n)
{
    *n = in->nnames;
    return in->nnames ? (const char *const *)in->names : NULL;
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
            uint32_t cols = s->ncols ? s->ncols[k] : 1;
            const char *v = s->vals[k];
            for (uint32_t c = 0; c < cols; c++) {
                size_t len = strlen(v);
                fnv_u64(&h, len);
                fnv_bytes(&h, v, len);
                v += len + 1;
            }
            if (s->ncols)
                fnv_u64(&h, cols);
        }
    }
    /* How records were grouped and linked: only when not the default, so
     * that the runs of earlier versions are still found by --resume. */
    if (in->rd.link)
        fnv_bytes(&h, "link", 4);
    if (in->grouped) {
        fnv_bytes(&h, "jobs", 4);
        fnv_u64(&h, in->njobs);
        fnv_u64(&h, in->per);
        fnv_u64(&h, in->zero_args);
    }
    snprintf(buf, 33, "%016llx%016llx", (unsigned long long)h.hi,
             (unsigned long long)h.lo);
    return buf;
}
