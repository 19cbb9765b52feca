/* SPDX-License-Identifier: MIT */
/* tree_custom.c - custom resources of a subtree, summed by name, and the
 * custom part of a relay child's aggregate pool.
 *
 * An engine has at most RES_MAX_CUSTOM named counters, and so has a pool:
 * a subtree's summary keeps the first RES_MAX_CUSTOM names it meets.  An
 * aggregate pool is resized in place (res_pool_set_capacity), whose live
 * allocations name custom resources by position, so a name keeps its
 * position for the pool's life and new names are appended.
 */
#include <string.h>

#include "tree/tree.h"
#include "util/util.h"

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int find(const res_custom_t *v, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strncmp(v[i].name, name, RES_NAME_MAX) == 0)
            return i;
    return -1;
}

int tree_custom_add(res_custom_t *acc, int *nacc, const res_custom_t *add,
                    int nadd)
{
    int left_out = 0;
    for (int i = 0; i < nadd; i++) {
        int pos = find(acc, *nacc, add[i].name);
        if (pos < 0 && *nacc >= RES_MAX_CUSTOM) {
            left_out++;
            continue;
        }
        if (pos < 0) {
            pos = (*nacc)++;
            memset(&acc[pos], 0, sizeof(acc[pos]));
            memcpy(acc[pos].name, add[i].name,
                   strnlen(add[i].name, RES_NAME_MAX - 1));
        }
        acc[pos].amount = add_sat(acc[pos].amount, add[i].amount);
    }
    return left_out;
}

uint64_t tree_custom_get(const res_custom_t *v, int n, const char *name)
{
    int pos = find(v, n, name);
    return pos < 0 ? 0 : v[pos].amount;
}

int tree_aggregate_custom(const res_custom_t *sub, int n, uint64_t factor,
                          const res_capacity_t *old, res_capacity_t *cap)
{
    memset(cap->custom, 0, sizeof(cap->custom));
    cap->ncustom = 0;
    int nold = old ? old->ncustom : 0;
    for (int i = 0; i < nold && i < RES_MAX_CUSTOM; i++) {
        cap->custom[i] = old->custom[i];
        cap->custom[i].amount =
            util_mul_sat(tree_custom_get(sub, n, old->custom[i].name), factor);
        cap->ncustom++;
    }
    int left_out = 0;
    for (int i = 0; i < n; i++) {
        if (find(cap->custom, cap->ncustom, sub[i].name) >= 0)
            continue;
        if (cap->ncustom >= RES_MAX_CUSTOM) {
            left_out++;
            continue;
        }
        res_custom_t *c = &cap->custom[cap->ncustom++];
        memcpy(c->name, sub[i].name, strnlen(sub[i].name, RES_NAME_MAX - 1));
        c->amount = util_mul_sat(sub[i].amount, factor);
    }
    return left_out;
}
