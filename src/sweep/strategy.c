/* SPDX-License-Identifier: MIT */
/* strategy.c - the size of a parameter space and the point of an iteration
 * for the grid, list, random and TPE strategies.
 *
 * Every strategy is a pure function of (configuration, iteration,
 * observations), so a resumed sweep can ask again for any iteration and get
 * the same point.  A grid is a mixed-radix number: parameter i has n_i
 * points (categorical: its values; int: every integer of [min, max], also on
 * a log scale; float: grid_num points, 5 by default, evenly spaced on the
 * linear or log scale with both endpoints), the last parameter is the
 * fastest digit, and the it-th point is it written in that radix.  Sizes
 * saturate at UINT64_MAX instead of wrapping.  A list is its configurations
 * in order.  Random and TPE draw from generators seeded by (seed, it); see
 * rng.c and tpe.c.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "sweep/rng.h"
#include "sweep/sweep.h"

enum { GRID_NUM_DEFAULT = 5, TPE_STARTUP_DEFAULT = 10 };

/* ------------------------------------------------------------------ grid */

/* The number of grid points of one parameter (0 when its domain is empty or
 * it cannot be enumerated). */
static uint64_t grid_count(const sweep_param_t *p)
{
    double lo, hi;
    switch (p->kind) {
    case SWEEP_CATEGORICAL:
        return p->nvalues;
    case SWEEP_INT:
        if (sweep__int_range(p, &lo, &hi) < 0)
            return 0;
        return (uint64_t)(hi - lo) + 1;
    case SWEEP_FLOAT:
        if (!isfinite(p->min) || !isfinite(p->max) || p->min > p->max
            || (p->log && p->min <= 0))
            return 0;
        return p->grid_num ? p->grid_num : GRID_NUM_DEFAULT;
    default:
        return 0;
    }
}

/* The k-th of a parameter's n grid points (k < n). */
static double grid_value(const sweep_param_t *p, uint64_t k, uint64_t n)
{
    double lo, hi;
    switch (p->kind) {
    case SWEEP_CATEGORICAL:
        return (double)k;
    case SWEEP_INT:
        (void)sweep__int_range(p, &lo, &hi);
        return lo + (double)k;
    case SWEEP_FLOAT:
    default:
        /* Both endpoints exactly, whatever the rounding in between. */
        if (k == 0 || n < 2)
            return p->min;
        if (k == n - 1)
            return p->max;
        double f = (double)k / (double)(n - 1);
        if (p->log)
            return exp(log(p->min) + f * (log(p->max) - log(p->min)));
        return p->min + f * (p->max - p->min);
    }
}

static uint64_t grid_size(const sweep_config_t *cfg)
{
    if (cfg->nparams > 0 && !cfg->params)
        return 0;
    uint64_t size = 1;
    bool saturated = false;
    for (size_t i = 0; i < cfg->nparams; i++) {
        uint64_t n = grid_count(&cfg->params[i]);
        if (n == 0)
            return 0; /* an empty factor empties the product */
        if (saturated || size > UINT64_MAX / n)
            saturated = true;
        else
            size *= n;
    }
    return saturated ? UINT64_MAX : size;
}

static int grid_point(const sweep_config_t *cfg, uint64_t it, double *x)
{
    if (it >= grid_size(cfg))
        return 1;
    /* Peel digits off from the last (fastest) parameter. */
    for (size_t i = cfg->nparams; i-- > 0;) {
        const sweep_param_t *p = &cfg->params[i];
        uint64_t n = grid_count(p);
        x[i] = grid_value(p, it % n, n);
        it /= n;
    }
    return 0;
}

/* ------------------------------------------------------------ strategies */

uint64_t sweep_space_size(const sweep_config_t *cfg)
{
    if (!cfg)
        return 0;
    switch (cfg->strategy) {
    case SWEEP_GRID:
        return grid_size(cfg);
    case SWEEP_LIST:
        return cfg->nconfigs;
    default:
        return 0;
    }
}

int sweep_suggest(const sweep_config_t *cfg, uint64_t it,
                  const sweep_obs_t *obs, size_t nobs, double *x)
{
    if (!cfg || (!x && cfg->nparams > 0) || (!obs && nobs > 0)) {
        errno = EINVAL;
        return -1;
    }
    switch (cfg->strategy) {
    case SWEEP_GRID:
        return grid_point(cfg, it, x);
    case SWEEP_LIST:
        if (it >= cfg->nconfigs)
            return 1;
        if (!cfg->configs && cfg->nparams > 0) {
            errno = EINVAL;
            return -1;
        }
        if (cfg->nparams > 0)
            memcpy(x, cfg->configs + it * cfg->nparams,
                   cfg->nparams * sizeof(*x));
        return 0;
    case SWEEP_RANDOM:
        return sweep__random_point(cfg, it, x);
    case SWEEP_TPE: {
        unsigned startup = cfg->tpe_startup ? cfg->tpe_startup
                                            : TPE_STARTUP_DEFAULT;
        if (it < startup)
            return sweep__random_point(cfg, it, x);
        return sweep__tpe_suggest(cfg, it, obs, nobs, x);
    }
    default:
        errno = EINVAL;
        return -1;
    }
}
