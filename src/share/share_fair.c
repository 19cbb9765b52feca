/* SPDX-License-Identifier: MIT */
/* share_fair.c - max-min fair division, on one level and on two (users,
 * then instances).
 *
 * Water-filling in integers: claimants are visited by increasing want (ties
 * by index).  With `left` units still to give and k claimants still to
 * serve, the equal split is left / k; a claimant wanting no more than that
 * is satisfied, and what it does not take raises the split of the others.
 * The first claimant wanting more than the split shows that all the
 * remaining ones do too: each gets the split, and the remainder
 * (left mod k < k units) goes one unit each to the lowest indices, so the
 * whole capacity (or every want) is handed out exactly.
 *
 * Everything here is deterministic, which matters: every instance runs this
 * on the same records and must reach the same division.
 */
#include "share.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct claim {
    uint64_t want;
    size_t index;
} claim_t;

static int cmp_claim(const void *a, const void *b)
{
    const claim_t *x = a, *y = b;
    if (x->want != y->want)
        return x->want < y->want ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int cmp_index(const void *a, const void *b)
{
    const claim_t *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

int share_maxmin(uint64_t capacity, const uint64_t *wants, size_t n,
                 uint64_t *out)
{
    if (n == 0)
        return 0;
    claim_t *c = malloc(n * sizeof(*c));
    if (!c) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        c[i] = (claim_t){wants[i], i};
    qsort(c, n, sizeof(*c), cmp_claim);
    uint64_t left = capacity;
    size_t i = 0;
    for (; i < n; i++) {
        uint64_t split = left / (n - i);
        if (c[i].want > split)
            break;
        out[c[i].index] = c[i].want;
        left -= c[i].want;
    }
    if (i < n) {
        /* c[i..n-1] all want more than the split: level them. */
        size_t k = n - i;
        uint64_t split = left / k, extra = left % k;
        qsort(c + i, k, sizeof(*c), cmp_index);
        for (size_t j = i; j < n; j++)
            out[c[j].index] = split + (j - i < extra ? 1 : 0);
    }
    free(c);
    return 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int cmp_record(const void *a, const void *b)
{
    const share_record_t *x = *(const share_record_t *const *)a;
    const share_record_t *y = *(const share_record_t *const *)b;
    if (x->uid != y->uid)
        return x->uid < y->uid ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return (x->serial > y->serial) - (x->serial < y->serial);
}

/* One dimension: dim(r) picks cpus or memory out of an amount. */
typedef uint64_t (*dim_fn)(const share_amount_t *a);

static uint64_t dim_cpus(const share_amount_t *a)
{
    return a->cpus_milli;
}

static uint64_t dim_mem(const share_amount_t *a)
{
    return a->mem_bytes;
}

/* The two-level fair share of sorted[self] in one dimension.  users[] and
 * nusers describe runs of equal uid in sorted[] (start index of each run,
 * with users[nusers] = n).  scratch holds 2 * n + 2 values. */
static int fair_dim(const share_record_t *const *sorted, size_t n,
                    size_t self, const size_t *users, size_t nusers,
                    uint64_t capacity, dim_fn dim, uint64_t *scratch,
                    uint64_t *fair)
{
    uint64_t *uwant = scratch, *ushare = scratch + nusers;
    size_t me = 0;
    for (size_t u = 0; u < nusers; u++) {
        uwant[u] = 0;
        for (size_t i = users[u]; i < users[u + 1]; i++)
            uwant[u] = add_sat(uwant[u], dim(&sorted[i]->want));
        if (self >= users[u] && self < users[u + 1])
            me = u;
    }
    if (share_maxmin(capacity, uwant, nusers, ushare) < 0)
        return -1;
    uint64_t mine = ushare[me]; /* read before iwant overwrites scratch */
    size_t first = users[me], k = users[me + 1] - first;
    uint64_t *iwant = scratch, *ishare = scratch + n + 1;
    for (size_t i = 0; i < k; i++)
        iwant[i] = dim(&sorted[first + i]->want);
    if (share_maxmin(mine, iwant, k, ishare) < 0)
        return -1;
    *fair = ishare[self - first];
    return 0;
}

/* capacity - others' holds, floored at 0, capped by fair. */
static uint64_t limit_dim(const share_record_t *const *sorted, size_t n,
                          size_t self, uint64_t capacity, uint64_t fair,
                          dim_fn dim)
{
    uint64_t others = 0;
    for (size_t i = 0; i < n; i++)
        if (i != self)
            others = add_sat(others, dim(&sorted[i]->hold));
    uint64_t room = capacity > others ? capacity - others : 0;
    return room < fair ? room : fair;
}

int share_fair(const share_record_t *recs, size_t n, size_t self,
               const share_amount_t *capacity, share_grant_t *grant)
{
    if (self >= n) {
        errno = EINVAL;
        return -1;
    }
    const share_record_t **sorted = malloc(n * sizeof(*sorted));
    size_t *users = malloc((n + 1) * sizeof(*users));
    uint64_t *scratch = malloc((2 * n + 2) * sizeof(*scratch));
    int rc = -1;
    if (!sorted || !users || !scratch) {
        errno = ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &recs[i];
    const share_record_t *own = &recs[self];
    qsort(sorted, n, sizeof(*sorted), cmp_record);
    size_t s = 0, nusers = 0;
    for (size_t i = 0; i < n; i++) {
        if (sorted[i] == own)
            s = i;
        if (i == 0 || sorted[i]->uid != sorted[i - 1]->uid)
            users[nusers++] = i;
    }
    users[nusers] = n;
    share_grant_t g;
    memset(&g, 0, sizeof(g));
    if (fair_dim(sorted, n, s, users, nusers, capacity->cpus_milli,
                 dim_cpus, scratch, &g.fair.cpus_milli) < 0 ||
        fair_dim(sorted, n, s, users, nusers, capacity->mem_bytes, dim_mem,
                 scratch, &g.fair.mem_bytes) < 0)
        goto out;
    g.limit.cpus_milli = limit_dim(sorted, n, s, capacity->cpus_milli,
                                   g.fair.cpus_milli, dim_cpus);
    g.limit.mem_bytes = limit_dim(sorted, n, s, capacity->mem_bytes,
                                  g.fair.mem_bytes, dim_mem);
    g.ninstances = (uint32_t)n;
    g.nusers = (uint32_t)nusers;
    *grant = g;
    rc = 0;
out:
    free(sorted);
    free(users);
    free(scratch);
    return rc;
}
