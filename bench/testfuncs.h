/* SPDX-License-Identifier: MIT */
/* testfuncs.h - the benchmark test functions of the search-quality
 * benchmarks (Branin 2-D, Hartmann-6, Rosenbrock 4-D), shared by
 * search_quality.c (in process) and testfunc.c (as a real experiment). */
#ifndef BANYAN_BENCH_TESTFUNCS_H
#define BANYAN_BENCH_TESTFUNCS_H

#include <math.h>
#include <stddef.h>

enum { MAXD = 6 };

typedef double objective_fn(const double *x);

typedef struct problem {
    const char *name;
    size_t dim;
    double lo[MAXD], hi[MAXD];
    objective_fn *f;
} problem_t;

static inline double branin(const double *x)
{
    double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
    double u = x[1] - b * x[0] * x[0] + c * x[0] - 6;
    return u * u + 10 * (1 - t) * cos(x[0]) + 10;
}

static inline double hartmann6(const double *x)
{
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double a[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                   {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double p[4][6] = {
        {0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
        {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
        {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
        {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
    double sum = 0;
    for (int i = 0; i < 4; i++) {
        double e = 0;
        for (int j = 0; j < 6; j++)
            e += a[i][j] * (x[j] - p[i][j]) * (x[j] - p[i][j]);
        sum += alpha[i] * exp(-e);
    }
    return -sum;
}

static inline double rosenbrock4(const double *x)
{
    double sum = 0;
    for (int i = 0; i < 3; i++) {
        double u = x[i + 1] - x[i] * x[i], v = 1 - x[i];
        sum += 100 * u * u + v * v;
    }
    return sum;
}

static const problem_t problems[] = {
    {"branin", 2, {-5, 0}, {10, 15}, branin},
    {"hartmann6", 6, {0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}, hartmann6},
    {"rosenbrock4", 4, {-2, -2, -2, -2}, {2, 2, 2, 2}, rosenbrock4},
};

#endif /* BANYAN_BENCH_TESTFUNCS_H */
