/* SPDX-License-Identifier: MIT */
/* rng.h - seedable pseudo-random numbers and random points for the sweep
 * strategies (shared by strategy.c and tpe.c only).
 *
 * Every strategy draw comes from a generator seeded by (seed, iteration,
 * stream): splitmix64 hashes the three into the 256-bit state of a
 * xoshiro256** generator.  No state survives between calls, so a suggestion
 * is a pure function of its inputs and a resumed sweep draws the same
 * numbers again.  The stream separates independent uses of one iteration
 * (the random point, the TPE candidates).
 */
#ifndef BANYAN_SWEEP_RNG_H
#define BANYAN_SWEEP_RNG_H

#include <stdint.h>

#include "sweep.h"

typedef struct sweep__rng {
    uint64_t s[4]; /* xoshiro256** state, never all zero */
} sweep__rng_t;

enum sweep__rng_stream {
    SWEEP__STREAM_RANDOM = 0x72616e64, /* random points ("rand") */
    SWEEP__STREAM_TPE = 0x74706521,    /* TPE candidates ("tpe!") */
};

/* Seed r from (seed, it, stream); equal triples give equal sequences. */
void sweep__rng_seed(sweep__rng_t *r, uint64_t seed, uint64_t it,
                     uint64_t stream);

/* The next 64 random bits. */
uint64_t sweep__rng_next(sweep__rng_t *r);

/* A uniform double in [0, 1), with 53 random bits. */
double sweep__rng_uniform(sweep__rng_t *r);

/* A uniform integer in [0, n), without modulo bias; 0 when n == 0. */
uint64_t sweep__rng_below(sweep__rng_t *r, uint64_t n);

/* A standard normal deviate (Marsaglia's polar method). */
double sweep__rng_normal(sweep__rng_t *r);

/* ------------------------------------------------------ space helpers */

/* The integers of an int parameter: [*lo, *hi] = [ceil(min), floor(max)].
 * -1 EINVAL when that range is empty or not finite. */
int sweep__int_range(const sweep_param_t *p, double *lo, double *hi);

/* Check that every parameter has a non-empty domain that can be sampled
 * (categorical: values; float: finite min <= max; log: min > 0; int: an
 * integer in range).  0 or -1 EINVAL. */
int sweep__space_check(const sweep_config_t *cfg);

/* Draw one parameter's value uniformly (log-uniformly on a log scale) from
 * r; categorical: an index.  The space must have passed
 * sweep__space_check(). */
double sweep__draw_param(const sweep_param_t *p, sweep__rng_t *r);

/* The random strategy's point of iteration it: every parameter drawn in
 * declaration order from the generator of (cfg->seed, it, RANDOM).  0 or -1
 * EINVAL (see sweep__space_check). */
int sweep__random_point(const sweep_config_t *cfg, uint64_t it, double *x);

/* The TPE strategy after its startup (tpe.c).  0, or -1 with EINVAL or
 * ENOMEM. */
int sweep__tpe_suggest(const sweep_config_t *cfg, uint64_t it,
                       const sweep_obs_t *obs, size_t nobs, double *x);

#endif /* BANYAN_SWEEP_RNG_H */
