/* SPDX-License-Identifier: MIT */
/* est.c - per-group peak-RSS statistics (Welford) and their JSON form.
 *
 * The table is a sorted array of (name, stats) pairs: groups are few (one
 * per run or sweep, a handful per --mem-group), lookups are binary searches and
 * an insertion shifts the tail.  Names are copied into the entries.
 *
 * Welford's update keeps the mean and m2 (sum of squared deviations) without
 * ever summing squares of raw values, so samples around 1e9 bytes with a few
 * bytes of noise keep their variance; the naive sum-of-squares formula loses
 * it to cancellation.  The estimate is computed in double and converted with
 * a saturating ceiling.
 */
#include "est.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/util.h"

typedef struct est_entry {
    char *group;     /* owned, valid name */
    est_stats_t st;
} est_entry_t;

struct est_table {
    est_entry_t *v;  /* sorted by strcmp of group */
    size_t n;        /* entries used */
    size_t cap;      /* entries allocated */
};

/* ----------------------------------------------------------- statistics */

void est_stats_add(est_stats_t *st, uint64_t sample_bytes)
{
    double x = (double)sample_bytes;
    st->count++;
    double delta = x - st->mean_bytes;
    st->mean_bytes += delta / (double)st->count;
    st->m2 += delta * (x - st->mean_bytes);
    if (st->m2 < 0) /* rounding can only make it a hair negative */
        st->m2 = 0;
    if (sample_bytes > st->hwm_bytes)
        st->hwm_bytes = sample_bytes;
}

double est_stats_variance(const est_stats_t *st)
{
    if (st->count < 2)
        return 0;
    return st->m2 / (double)(st->count - 1);
}

double est_stats_stddev(const est_stats_t *st)
{
    return sqrt(est_stats_variance(st));
}

/* ceil(x) as bytes, saturating at EST_MAX_BYTES (x is never negative). */
static uint64_t bytes_ceil(double x)
{
    if (!(x > 0))
        return 0;
    if (x >= (double)EST_MAX_BYTES)
        return EST_MAX_BYTES;
    return (uint64_t)ceil(x);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

uint64_t est_stats_estimate(const est_stats_t *st, uint64_t default_bytes)
{
    uint64_t e;
    if (st->count >= EST_MIN_SAMPLES) {
        double learnt = st->mean_bytes + 2 * est_stats_stddev(st);
        e = max_u64(bytes_ceil(learnt), st->hwm_bytes);
    } else {
        e = default_bytes;
    }
    return max_u64(e, st->floor_bytes);
}

/* Fail with EINVAL and a sentence. */
static int invalid(banyan_error_t *error, const char *why)
{
    errno = EINVAL;
    return errprintf(error, "%s", why);
}

int est_stats_check(const est_stats_t *st, banyan_error_t *error)
{
    if (!isfinite(st->mean_bytes) || st->mean_bytes < 0 ||
        st->mean_bytes > (double)EST_MAX_BYTES)
        return invalid(error, "mean is not a byte count");
    if (!isfinite(st->m2) || st->m2 < 0)
        return invalid(error, "m2 is not a finite non-negative number");
    if (st->hwm_bytes > EST_MAX_BYTES || st->floor_bytes > EST_MAX_BYTES)
        return invalid(error, "byte figure above the 1 EiB limit");
    if (st->count == 0) {
        if (st->mean_bytes != 0 || st->m2 != 0 || st->hwm_bytes != 0)
            return invalid(error, "statistics without samples");
        return 0;
    }
    /* The mean of samples never exceeds the largest one; allow for rounding
     * in the last bits. */
    if (st->mean_bytes > (double)st->hwm_bytes * (1 + 1e-12) + 1)
        return invalid(error, "mean above the high-water mark");
    if (st->count == 1 && st->m2 != 0)
        return invalid(error, "variance of a single sample");
    /* Each squared deviation is at most hwm^2. */
    double hwm = (double)st->hwm_bytes;
    if (st->m2 > hwm * hwm * (double)st->count * (1 + 1e-9) + 1)
        return invalid(error, "variance larger than the samples allow");
    return 0;
}

/* ---------------------------------------------------------------- table */

est_table_t *est_table_create(void)
{
    est_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        errno = ENOMEM;
    return t;
}

void est_table_destroy(est_table_t *t)
{
    if (!t)
        return;
    int saved = errno;
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].group);
    free(t->v);
    free(t);
    errno = saved;
}

bool est_group_is_valid(const char *group)
{
    if (!group || !*group)
        return false;
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *)group; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if (++len >= EST_GROUP_MAX)
            return false;
    }
    return true;
}

/* Index of group, or where it would be inserted with *found false. */
static size_t find(const est_table_t *t, const char *group, bool *found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->v[mid].group, group);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* The entry of group, created empty if missing.  NULL with errno. */
static est_entry_t *lookup_or_insert(est_table_t *t, const char *group)
{
    if (!est_group_is_valid(group)) {
        errno = EINVAL;
        return NULL;
    }
    bool found;
    size_t i = find(t, group, &found);
    if (found)
        return &t->v[i];
    if (t->n >= EST_MAX_GROUPS) {
        errno = ENOSPC;
        return NULL;
    }
    if (util_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v)) < 0)
        return NULL;
    char *name = strdup(group);
    if (!name) {
        errno = ENOMEM;
        return NULL;
    }
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
    t->v[i].group = name;
    memset(&t->v[i].st, 0, sizeof(t->v[i].st));
    t->n++;
    return &t->v[i];
}

/* The entry to record a peak of peak_bytes in: NULL with EINVAL (0 bytes),
 * ERANGE (over EST_MAX_BYTES) or as lookup_or_insert(). */
static est_entry_t *entry_for_peak(est_table_t *t, const char *group,
                                   uint64_t peak_bytes)
{
    if (peak_bytes == 0 || peak_bytes > EST_MAX_BYTES) {
        errno = peak_bytes == 0 ? EINVAL : ERANGE;
        return NULL;
    }
    return lookup_or_insert(t, group);
}

int est_table_add(est_table_t *t, const char *group, uint64_t peak_bytes)
{
    est_entry_t *e = entry_for_peak(t, group, peak_bytes);
    if (!e)
        return -1;
    est_stats_add(&e->st, peak_bytes);
    return 0;
}

int est_table_bump(est_table_t *t, const char *group, uint64_t peak_bytes)
{
    est_entry_t *e = entry_for_peak(t, group, peak_bytes);
    if (!e)
        return -1;
    /* ceil(1.5 * p) in integers: p + ceil(p / 2).  p <= 2^60, no overflow. */
    uint64_t floor_bytes = peak_bytes + peak_bytes / 2 + (peak_bytes & 1);
    if (floor_bytes > EST_MAX_BYTES)
        floor_bytes = EST_MAX_BYTES;
    e->st.floor_bytes = max_u64(e->st.floor_bytes, floor_bytes);
    return 0;
}

int est_table_get(const est_table_t *t, const char *group, est_stats_t *st)
{
    bool found;
    size_t i = group ? find(t, group, &found) : (found = false, 0);
    if (!found) {
        errno = ENOENT;
        return -1;
    }
    *st = t->v[i].st;
    return 0;
}

int est_table_set(est_table_t *t, const char *group, const est_stats_t *st,
                  banyan_error_t *error)
{
    if (!est_group_is_valid(group)) {
        errno = EINVAL;
        return errprintf(error, "invalid group name");
    }
    if (est_stats_check(st, error) < 0)
        return -1;
    est_entry_t *e = lookup_or_insert(t, group);
    if (!e)
        return errprintf(error, "cannot add group '%s': %s", group,
                         errno == ENOSPC ? "too many groups"
                                         : "out of memory");
    e->st = *st;
    return 0;
}

uint64_t est_table_estimate(const est_table_t *t, const char *group,
                            uint64_t default_bytes)
{
    est_stats_t st;
    if (est_table_get(t, group, &st) < 0)
        return default_bytes;
    return est_stats_estimate(&st, default_bytes);
}

int est_table_remove(est_table_t *t, const char *group)
{
    bool found;
    size_t i = group ? find(t, group, &found) : (found = false, 0);
    if (!found) {
        errno = ENOENT;
        return -1;
    }
    free(t->v[i].group);
    memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
    t->n--;
    return 0;
}

size_t est_table_count(const est_table_t *t)
{
    return t->n;
}

int est_table_entry(const est_table_t *t, size_t i, const char **group,
                    est_stats_t *st)
{
    if (i >= t->n) {
        errno = ENOENT;
        return -1;
    }
    if (group)
        *group = t->v[i].group;
    if (st)
        *st = t->v[i].st;
    return 0;
}

/* ---------------------------------------------------------- persistence */

enum { EST_FORMAT_VERSION = 1 };

char *est_table_encode(const est_table_t *t)
{
    json_t *groups = json_array();
    json_t *root = json_pack("{s:i, s:o}", "v", EST_FORMAT_VERSION,
                             "groups", groups); /* "o" steals groups */
    if (!root) {
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < t->n; i++) {
        const est_stats_t *st = &t->v[i].st;
        json_t *g = json_pack("{s:s, s:I, s:f, s:f, s:I, s:I}",
                              "g", t->v[i].group,
                              "n", (json_int_t)st->count,
                              "mean", st->mean_bytes,
                              "m2", st->m2,
                              "hwm", (json_int_t)st->hwm_bytes,
                              "floor", (json_int_t)st->floor_bytes);
        if (!g || json_array_append_new(groups, g) < 0) { /* steals g */
            json_decref(root);
            errno = ENOMEM;
            return NULL;
        }
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                      JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!text)
        errno = ENOMEM;
    return text;
}

/* A non-negative JSON integer no larger than max, or -1. */
static int get_count(json_t *o, const char *key, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max)
        return -1;
    *out = (uint64_t)x;
    return 0;
}

/* A finite JSON number (integers accepted too), or -1. */
static int get_real(json_t *o, const char *key, double *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return -1;
    double x = json_number_value(v);
    if (!isfinite(x))
        return -1;
    *out = x;
    return 0;
}

static int decode_group(est_table_t *t, json_t *g, size_t i,
                        banyan_error_t *error)
{
    errno = EINVAL;
    if (!json_is_object(g) || json_object_size(g) != 6)
        return errprintf(error, "group %zu: not an object of 6 keys", i);
    json_t *name = json_object_get(g, "g");
    if (!json_is_string(name) ||
        strlen(json_string_value(name)) != json_string_length(name) ||
        !est_group_is_valid(json_string_value(name)))
        return errprintf(error, "group %zu: invalid name", i);
    const char *group = json_string_value(name);
    est_stats_t st;
    if (get_count(g, "n", UINT64_MAX >> 1, &st.count) < 0 ||
        get_real(g, "mean", &st.mean_bytes) < 0 ||
        get_real(g, "m2", &st.m2) < 0 ||
        get_count(g, "hwm", EST_MAX_BYTES, &st.hwm_bytes) < 0 ||
        get_count(g, "floor", EST_MAX_BYTES, &st.floor_bytes) < 0)
        return errprintf(error, "group %zu: missing or invalid figures", i);
    bool found;
    find(t, group, &found);
    if (found)
        return errprintf(error, "group %zu: duplicate name", i);
    banyan_error_t why;
    if (est_table_set(t, group, &st, &why) < 0)
        return errprintf(error, "group %zu: %s", i, why.text);
    return 0;
}

est_table_t *est_table_decode(const char *text, banyan_error_t *error)
{
    if (!text) {
        errno = EINVAL;
        errprintf(error, "no text");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        errno = EINVAL;
        errprintf(error, "estimates: %s at offset %d", jerr.text,
                  jerr.position);
        return NULL;
    }
    est_table_t *t = NULL;
    json_t *v = json_object_get(root, "v");
    json_t *groups = json_object_get(root, "groups");
    if (!json_is_object(root) || json_object_size(root) != 2 ||
        !json_is_integer(v) || !json_is_array(groups)) {
        errno = EINVAL;
        errprintf(error, "estimates: expected {\"v\":1,\"groups\":[...]}");
        goto error;
    }
    if (json_integer_value(v) != EST_FORMAT_VERSION) {
        errno = EINVAL;
        errprintf(error, "estimates: unknown version %lld",
                  (long long)json_integer_value(v));
        goto error;
    }
    if (json_array_size(groups) > EST_MAX_GROUPS) {
        errno = EINVAL;
        errprintf(error, "estimates: more than %d groups", EST_MAX_GROUPS);
        goto error;
    }
    if (!(t = est_table_create()))
        goto error;
    for (size_t i = 0; i < json_array_size(groups); i++) {
        banyan_error_t why;
        if (decode_group(t, json_array_get(groups, i), i, &why) < 0) {
            errprintf(error, "estimates: %s", why.text);
            goto error;
        }
    }
    json_decref(root);
    return t;
error:
    {
        int saved = errno;
        json_decref(root);
        est_table_destroy(t);
        errno = saved;
    }
    return NULL;
}
