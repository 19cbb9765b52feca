/* SPDX-License-Identifier: MIT */
/* est.h - learnt memory estimates: running peak-RSS statistics per group.
 *
 * A task that states no memory request is admitted against an estimate
 * learnt from the finished tasks of its group (a `run`, a sweep, or
 * `--mem-group NAME`).  For each group the table keeps the number of samples,
 * their mean and the sum of squared deviations from the mean (Welford's
 * online algorithm, stable for values around 1e9 bytes with small noise),
 * the high-water mark (largest sample) and a floor raised by est_table_bump().
 *
 * The admission figure of a group (est_table_estimate) is
 *
 *     count >= EST_MIN_SAMPLES:  max(mean + 2 * sigma, hwm, floor)
 *     otherwise:                 max(default_bytes, floor)
 *
 * where sigma is the sample standard deviation (divisor count - 1), rounded
 * up to whole bytes.  A group the table has never seen gets default_bytes.
 *
 * Bump rule: a task killed by a signal it did not ask for (the OOM killer,
 * a hard memory limit) was cut short, so its observed peak is only a lower
 * bound of what it needs and is NOT added as a sample.  est_table_bump()
 * instead raises the group's floor to at least ceil(1.5 * observed peak);
 * every later estimate of the group is at least the floor.  The floor only
 * grows; it stays until the table is rebuilt (it is part of the encoded
 * text), so a requeued task and its siblings are not killed the same way
 * again.  A caller that requeues the killed task itself should admit it
 * against est_table_estimate() after the bump.
 *
 * The module is pure bookkeeping: no I/O, no clocks.  The caller persists the
 * table with est_table_encode() / est_table_decode() (one compact JSON line)
 * or row by row with est_table_entry() / est_table_set().  Groups are kept in
 * a sorted array, so lookups are O(log n) and listings come in name order.
 */
#ifndef BANYAN_EST_H
#define BANYAN_EST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

enum {
    EST_MIN_SAMPLES = 3,     /* samples before the statistics are trusted */
    EST_GROUP_MAX = 256,     /* bytes in a group name, with the NUL */
    EST_MAX_GROUPS = 100000, /* groups in one table (decode refuses more) */
};

/* Largest byte figure accepted anywhere (1 EiB): keeps every sum and the
 * 1.5x bump far from overflow and every figure exact in JSON integers. */
#define EST_MAX_BYTES (UINT64_C(1) << 60)

/* The statistics of one group.  Zero-initialised means "no samples". */
typedef struct est_stats {
    uint64_t count;      /* samples added */
    double mean_bytes;   /* mean of the samples, bytes */
    double m2;           /* sum of squared deviations from the mean, bytes^2 */
    uint64_t hwm_bytes;  /* largest sample, bytes */
    uint64_t floor_bytes; /* lower bound raised by est_table_bump(), 0 none */
} est_stats_t;

typedef struct est_table est_table_t;

/* ----------------------------------------------------------- statistics */

/* Fold one sample into st (Welford's update).  Pure; never fails. */
void est_stats_add(est_stats_t *st, uint64_t sample_bytes);

/* Sample variance m2 / (count - 1) in bytes^2, and its square root; both 0
 * with fewer than two samples. */
double est_stats_variance(const est_stats_t *st);
double est_stats_stddev(const est_stats_t *st);

/* The admission figure of st as described above, in bytes. */
uint64_t est_stats_estimate(const est_stats_t *st, uint64_t default_bytes);

/* Check that st could have come from est_stats_add/est_table_bump: finite,
 * non-negative figures, mean <= hwm, nothing above EST_MAX_BYTES.  0, or -1
 * with EINVAL and a sentence in error. */
int est_stats_check(const est_stats_t *st, banyan_error_t *error);

/* ---------------------------------------------------------------- table */

/* An empty table.  NULL with ENOMEM.  Caller must destroy with
 * est_table_destroy(). */
est_table_t *est_table_create(void);

/* Free t.  Accepts NULL, keeps errno. */
void est_table_destroy(est_table_t *t);

/* Whether group is a valid name: 1..EST_GROUP_MAX-1 bytes, no control
 * characters. */
bool est_group_is_valid(const char *group);

/* Add one finished task's peak RSS to its group, creating the group.
 * 0, or -1 with EINVAL (bad name, peak 0 = "not measured"), ERANGE (peak
 * above EST_MAX_BYTES), ENOSPC (EST_MAX_GROUPS reached) or ENOMEM; on
 * failure the table is unchanged. */
int est_table_add(est_table_t *t, const char *group, uint64_t peak_bytes);

/* Apply the bump rule for a task of group killed by a signal it did not ask
 * for, with observed peak RSS peak_bytes: floor = max(floor,
 * ceil(1.5 * peak_bytes)).  The group is created if new.  Errors as
 * est_table_add (a peak of 0 is EINVAL). */
int est_table_bump(est_table_t *t, const char *group, uint64_t peak_bytes);

/* Copy the statistics of group into *st.  0, or -1 with ENOENT. */
int est_table_get(const est_table_t *t, const char *group, est_stats_t *st);

/* Replace (or create) group's statistics, e.g. when restoring rows from the
 * store.  st is checked with est_stats_check().  0, or -1 with EINVAL,
 * ENOSPC or ENOMEM and error text; on failure the table is unchanged. */
int est_table_set(est_table_t *t, const char *group, const est_stats_t *st,
                  banyan_error_t *error);

/* The admission figure for a task of group, in bytes: est_stats_estimate()
 * of the group, or default_bytes for a group never seen. */
uint64_t est_table_estimate(const est_table_t *t, const char *group,
                            uint64_t default_bytes);

/* Remove group.  0, or -1 with ENOENT. */
int est_table_remove(est_table_t *t, const char *group);

/* Number of groups, and the i-th group in name order (0 <= i < count) for
 * listings such as `banyan stats`.  *group is borrowed: valid until the next
 * change of t.  est_table_entry returns -1 with ENOENT when i is out of
 * range. */
size_t est_table_count(const est_table_t *t);
int est_table_entry(const est_table_t *t, size_t i, const char **group,
                    est_stats_t *st);

/* ---------------------------------------------------------- persistence */

/* Encode t as one compact JSON line without a newline:
 *   {"v":1,"groups":[{"g":NAME,"n":COUNT,"mean":M,"m2":M2,"hwm":H,
 *                     "floor":F},...]}
 * Reals are written with 17 significant digits, so decoding gives back the
 * exact doubles.  Returns a string the caller must free(), or NULL with
 * ENOMEM. */
char *est_table_encode(const est_table_t *t);

/* Decode text made by est_table_encode() into a new table.  The input is
 * treated as hostile: anything but the exact shape above (unknown version,
 * wrong types, negative or non-finite figures, inconsistent statistics,
 * invalid or duplicate names, too many groups) is refused as a whole.
 * Returns a table the caller must destroy with est_table_destroy(), or NULL
 * with EINVAL (and a sentence in error) or ENOMEM. */
est_table_t *est_table_decode(const char *text, banyan_error_t *error);

#endif /* BANYAN_EST_H */
