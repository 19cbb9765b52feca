/* SPDX-License-Identifier: MIT */
/* rng.c - the sweep strategies' seedable generator and random points.
 *
 * splitmix64 (Steele, Lea and Flood) turns (seed, iteration, stream) into a
 * well-mixed 64-bit key and expands it into the state of xoshiro256**
 * (Blackman and Vigna), a small, fast generator with good statistics.  Both
 * are written here from their published definitions.  Uniform doubles take
 * the top 53 bits; integers below n use rejection so that no value is
 * favoured; normals use Marsaglia's polar method, which needs no
 * trigonometry and keeps no cached second deviate, so that the generator's
 * state is the whole story.
 *
 * Random points draw each parameter in declaration order: categorical
 * uniformly over its indices, float uniformly (log-uniformly with log), int
 * uniformly over its integers; a log-scale int is drawn log-uniformly over
 * [lo - 0.5, hi + 0.5] and rounded, so every integer gets the mass of the
 * unit interval around it on the log scale and the endpoints are not halved.
 */
#include <errno.h>
#include <math.h>

#include "sweep/rng.h"

/* ------------------------------------------------------------ generator */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t v, int k)
{
    return (v << k) | (v >> (64 - k));
}

void sweep__rng_seed(sweep__rng_t *r, uint64_t seed, uint64_t it,
                     uint64_t stream)
{
    /* Chain the three inputs through splitmix64 so that nearby seeds,
     * iterations and streams give unrelated keys. */
    uint64_t key = seed;
    uint64_t h = splitmix64(&key);
    key = h ^ it;
    h = splitmix64(&key);
    key = h ^ stream;
    h = splitmix64(&key);
    key = h;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&key);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) /* practically never */
        r->s[0] = 1;
}

uint64_t sweep__rng_next(sweep__rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sweep__rng_uniform(sweep__rng_t *r)
{
    return (double)(sweep__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t sweep__rng_below(sweep__rng_t *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Reject the top partial block of 2^64 so that every residue is
     * equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do {
        v = sweep__rng_next(r);
    } while (v >= limit);
    return v % n;
}

double sweep__rng_normal(sweep__rng_t *r)
{
    double u, v, s;
    do {
        u = 2.0 * sweep__rng_uniform(r) - 1.0;
        v = 2.0 * sweep__rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

/* ------------------------------------------------------- random points */

int sweep__int_range(const sweep_param_t *p, double *lo, double *hi)
{
    double a = ceil(p->min), b = floor(p->max);
    /* Beyond 2^53 doubles no longer hold every integer. */
    if (!isfinite(a) || !isfinite(b) || a > b || fabs(a) > 0x1.0p53
        || fabs(b) > 0x1.0p53 || (p->log && a < 1)) {
        errno = EINVAL;
        return -1;
    }
    *lo = a;
    *hi = b;
    return 0;
}

int sweep__space_check(const sweep_config_t *cfg)
{
    if (cfg->nparams > 0 && !cfg->params)
        goto inval;
    for (size_t i = 0; i < cfg->nparams; i++) {
        const sweep_param_t *p = &cfg->params[i];
        double lo, hi;
        switch (p->kind) {
        case SWEEP_CATEGORICAL:
            if (p->nvalues == 0)
                goto inval;
            break;
        case SWEEP_FLOAT:
            if (!isfinite(p->min) || !isfinite(p->max) || p->min > p->max
                || (p->log && p->min <= 0))
                goto inval;
            break;
        case SWEEP_INT:
            if (sweep__int_range(p, &lo, &hi) < 0)
                goto inval;
            break;
        default:
            goto inval;
        }
    }
    return 0;
inval:
    errno = EINVAL;
    return -1;
}

double sweep__draw_param(const sweep_param_t *p, sweep__rng_t *r)
{
    double u, lo, hi, v;
    switch (p->kind) {
    case SWEEP_CATEGORICAL:
        return (double)sweep__rng_below(r, p->nvalues);
    case SWEEP_INT:
        (void)sweep__int_range(p, &lo, &hi);
        if (!p->log)
            return lo + (double)sweep__rng_below(r, (uint64_t)(hi - lo) + 1);
        u = sweep__rng_uniform(r);
        v = exp(log(lo - 0.5) + u * (log(hi + 0.5) - log(lo - 0.5)));
        v = round(v);
        return v < lo ? lo : v > hi ? hi : v;
    case SWEEP_FLOAT:
    default:
        u = sweep__rng_uniform(r);
        if (p->log)
            v = exp(log(p->min) + u * (log(p->max) - log(p->min)));
        else
            v = p->min + u * (p->max - p->min);
        /* Rounding in exp() or the product may step just outside. */
        return v < p->min ? p->min : v > p->max ? p->max : v;
    }
}

int sweep__random_point(const sweep_config_t *cfg, uint64_t it, double *x)
{
    if (sweep__space_check(cfg) < 0)
        return -1;
    sweep__rng_t r;
    sweep__rng_seed(&r, cfg->seed, it, SWEEP__STREAM_RANDOM);
    for (size_t i = 0; i < cfg->nparams; i++)
        x[i] = sweep__draw_param(&cfg->params[i], &r);
    return 0;
}
