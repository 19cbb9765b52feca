/* SPDX-License-Identifier: MIT */
/* test_strategy.c - space sizes and the grid, list and random strategies:
 * exact grid order, exhaustion, float grids, overflow, list order, random
 * reproducibility, bounds and distributions, and bad input. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/sweep.h"
#include "tap.h"

static sweep_value_t tp_values[] = {
    {"1", true, 1}, {"2", true, 2}, {"4", true, 4}};
static sweep_value_t batch_values[] = {{"16", true, 16}, {"32", true, 32}};
static sweep_value_t opt_values[] = {
    {"sgd", false, 0}, {"adam", false, 0}, {"lion", false, 0},
    {"rmsprop", false, 0}};

static sweep_param_t categorical(char *name, sweep_value_t *v, size_t n)
{
    sweep_param_t p = {.name = name, .kind = SWEEP_CATEGORICAL};
    p.nvalues = n;
    p.values = v;
    return p;
}

static sweep_param_t numeric(char *name, sweep_param_kind_t kind, double min,
                             double max, bool log)
{
    sweep_param_t p = {.name = name, .kind = kind, .min = min, .max = max};
    p.log = log;
    return p;
}

static sweep_config_t config(sweep_strategy_t s, sweep_param_t *params,
                             size_t n, uint64_t seed)
{
    sweep_config_t c = {.name = "test", .strategy = s};
    c.params = params;
    c.nparams = n;
    c.seed = seed;
    c.max_parallel = 1;
    return c;
}

static bool near(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

/* ------------------------------------------------------------------ grid */

static void test_grid_order(void)
{
    sweep_param_t p[3] = {categorical("tp", tp_values, 3),
                          categorical("batch", batch_values, 2),
                          numeric("layers", SWEEP_INT, 2, 3, false)};
    sweep_config_t c = config(SWEEP_GRID, p, 3, 0);
    is_int(sweep_space_size(&c), 12, "grid of 3 x 2 x 2 has 12 points");

    /* The product in declaration order, the last parameter fastest. */
    uint64_t it = 0;
    bool all = true;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++)
            for (int l = 2; l <= 3; l++, it++) {
                double x[3] = {-1, -1, -1};
                int rc = sweep_suggest(&c, it, NULL, 0, x);
                if (rc != 0 || x[0] != a || x[1] != b || x[2] != l) {
                    diag("it %llu: rc %d got (%g, %g, %g), want (%d, %d, %d)",
                         (unsigned long long)it, rc, x[0], x[1], x[2], a, b,
                         l);
                    all = false;
                }
            }
    ok(all, "grid points come in product order with layers fastest, then "
            "batch, then tp");

    double x[3];
    is_int(sweep_suggest(&c, 12, NULL, 0, x), 1,
           "the grid is exhausted at iteration 12");
    is_int(sweep_suggest(&c, UINT64_MAX, NULL, 0, x), 1,
           "and at the largest iteration");
    double first[3], again[3];
    sweep_suggest(&c, 5, NULL, 0, first);
    sweep_suggest(&c, 5, NULL, 0, again);
    ok(memcmp(first, again, sizeof(first)) == 0,
       "asking again for an iteration gives the same grid point");
}

static void test_grid_float(void)
{
    sweep_param_t p = numeric("x", SWEEP_FLOAT, 0, 1, false);
    sweep_config_t c = config(SWEEP_GRID, &p, 1, 0);
    is_int(sweep_space_size(&c), 5, "a float grid has 5 points by default");
    double want[5] = {0, 0.25, 0.5, 0.75, 1}, x;
    bool good = true;
    for (int i = 0; i < 5; i++)
        good = good && sweep_suggest(&c, i, NULL, 0, &x) == 0
               && fabs(x - want[i]) < 1e-12;
    ok(good, "linear float grid points are 0, .25, .5, .75, 1");

    sweep_param_t q = numeric("lr", SWEEP_FLOAT, 1e-4, 1, true);
    q.grid_num = 5;
    c = config(SWEEP_GRID, &q, 1, 0);
    double lwant[5] = {1e-4, 1e-3, 1e-2, 1e-1, 1};
    good = true;
    for (int i = 0; i < 5; i++) {
        good = good && sweep_suggest(&c, i, NULL, 0, &x) == 0
               && near(x, lwant[i], 1e-9);
        if (i == 0)
            ok(x == 1e-4, "log grid starts exactly at min");
        if (i == 4)
            ok(x == 1.0, "log grid ends exactly at max");
    }
    ok(good, "log float grid points are 1e-4, 1e-3, 1e-2, 1e-1, 1");

    q.grid_num = 3;
    q.min = 0.5;
    q.max = 8;
    q.log = false;
    sweep_suggest(&c, 2, NULL, 0, &x);
    ok(sweep_space_size(&c) == 3 && x == 8.0,
       "grid_num 3 gives 3 points, the last exactly max");
    q.grid_num = 1;
    ok(sweep_space_size(&c) == 1 && sweep_suggest(&c, 0, NULL, 0, &x) == 0
       && x == 0.5, "grid_num 1 gives the single point min");
}

static void test_grid_sizes(void)
{
    sweep_param_t p = numeric("n", SWEEP_INT, 1, 100, true);
    sweep_config_t c = config(SWEEP_GRID, &p, 1, 0);
    is_int(sweep_space_size(&c), 100,
           "a log-scale int grid still holds every integer");
    double x;
    ok(sweep_suggest(&c, 99, NULL, 0, &x) == 0 && x == 100,
       "its last point is max");

    sweep_param_t big[5];
    for (int i = 0; i < 5; i++)
        big[i] = numeric("b", SWEEP_INT, 0, 1e6, false);
    c = config(SWEEP_GRID, big, 5, 0);
    ok(sweep_space_size(&c) == UINT64_MAX,
       "a grid beyond 2^64 points saturates at UINT64_MAX");
    double xb[5];
    ok(sweep_suggest(&c, 0, NULL, 0, xb) == 0 && xb[0] == 0 && xb[4] == 0,
       "a saturated grid still yields its first point");

    sweep_param_t e[2] = {categorical("tp", tp_values, 3),
                          categorical("none", NULL, 0)};
    c = config(SWEEP_GRID, e, 2, 0);
    double xe[2];
    ok(sweep_space_size(&c) == 0 && sweep_suggest(&c, 0, NULL, 0, xe) == 1,
       "a parameter with no values empties the grid");

    c = config(SWEEP_GRID, NULL, 0, 0);
    ok(sweep_space_size(&c) == 1 && sweep_suggest(&c, 0, NULL, 0, NULL) == 0
       && sweep_suggest(&c, 1, NULL, 0, NULL) == 1,
       "a grid without parameters has one (empty) point");

    c = config(SWEEP_RANDOM, big, 5, 0);
    is_int(sweep_space_size(&c), 0, "random search is unbounded (size 0)");
    c.strategy = SWEEP_TPE;
    is_int(sweep_space_size(&c), 0, "TPE is unbounded (size 0)");
}

/* ------------------------------------------------------------------ list */

static void test_list(void)
{
    sweep_param_t p[2] = {categorical("tp", tp_values, 3),
                          numeric("lr", SWEEP_FLOAT, 1e-5, 1, true)};
    double configs[] = {2, 0.1, 0, 1e-3, 1, 1e-5};
    sweep_config_t c = config(SWEEP_LIST, p, 2, 0);
    c.configs = configs;
    c.nconfigs = 3;
    is_int(sweep_space_size(&c), 3, "a list of 3 configurations has size 3");
    bool good = true;
    for (int i = 0; i < 3; i++) {
        double x[2];
        good = good && sweep_suggest(&c, i, NULL, 0, x) == 0
               && x[0] == configs[2 * i] && x[1] == configs[2 * i + 1];
    }
    ok(good, "list points come in the order written");
    double x[2];
    is_int(sweep_suggest(&c, 3, NULL, 0, x), 1,
           "the list is exhausted after its last configuration");
    c.nconfigs = 0;
    ok(sweep_space_size(&c) == 0 && sweep_suggest(&c, 0, NULL, 0, x) == 1,
       "an empty list is exhausted at once");
}

/* ---------------------------------------------------------------- random */

static int dbl_cmp(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return p < q ? -1 : p > q;
}

static void test_random_repro(void)
{
    sweep_param_t p[4] = {categorical("opt", opt_values, 4),
                          numeric("lr", SWEEP_FLOAT, 1e-5, 1e-1, true),
                          numeric("layers", SWEEP_INT, 2, 12, false),
                          numeric("drop", SWEEP_FLOAT, 0, 0.5, false)};
    sweep_config_t c = config(SWEEP_RANDOM, p, 4, 42);
    double a[4], b[4];
    ok(sweep_suggest(&c, 7, NULL, 0, a) == 0
       && sweep_suggest(&c, 7, NULL, 0, b) == 0
       && memcmp(a, b, sizeof(a)) == 0,
       "random: the same seed and iteration give the same point");

    double y[4] = {1, 2, 3, 4};
    sweep_obs_t obs[1] = {{y, 0.5, SWEEP_OBS_DONE}};
    ok(sweep_suggest(&c, 7, obs, 1, b) == 0 && memcmp(a, b, sizeof(a)) == 0,
       "random points do not depend on observations");

    sweep_suggest(&c, 8, NULL, 0, b);
    ok(memcmp(a, b, sizeof(a)) != 0, "the next iteration gives another point");

    int differ = 0;
    for (uint64_t it = 0; it < 20; it++) {
        c.seed = 42;
        sweep_suggest(&c, it, NULL, 0, a);
        c.seed = 43;
        sweep_suggest(&c, it, NULL, 0, b);
        differ += a[1] != b[1] && a[3] != b[3];
    }
    is_int(differ, 20, "different seeds give different points at every "
                       "iteration");
}

static void test_random_bounds(void)
{
    sweep_param_t p[5] = {categorical("opt", opt_values, 4),
                          numeric("lr", SWEEP_FLOAT, 1e-5, 1e-1, true),
                          numeric("layers", SWEEP_INT, 2, 12, false),
                          numeric("drop", SWEEP_FLOAT, -1, 0.5, false),
                          numeric("width", SWEEP_INT, 8, 64, true)};
    sweep_config_t c = config(SWEEP_RANDOM, p, 5, 7);
    bool in = true, integral = true;
    bool saw_min = false, saw_max = false, saw_wmin = false, saw_wmax = false;
    for (uint64_t it = 0; it < 5000; it++) {
        double x[5];
        if (sweep_suggest(&c, it, NULL, 0, x) != 0)
            in = false;
        in = in && x[0] >= 0 && x[0] <= 3 && x[1] >= 1e-5 && x[1] <= 1e-1
             && x[2] >= 2 && x[2] <= 12 && x[3] >= -1 && x[3] <= 0.5
             && x[4] >= 8 && x[4] <= 64;
        integral = integral && x[0] == floor(x[0]) && x[2] == floor(x[2])
                   && x[4] == floor(x[4]);
        saw_min |= x[2] == 2;
        saw_max |= x[2] == 12;
        saw_wmin |= x[4] == 8;
        saw_wmax |= x[4] == 64;
    }
    ok(in, "random points lie within their parameters' bounds");
    ok(integral, "int and categorical draws are integers");
    ok(saw_min && saw_max, "int draws reach both ends of the range");
    ok(saw_wmin && saw_wmax, "log-scale int draws reach both ends too");
}

static void test_random_distribution(void)
{
    enum { N = 4001 };
    sweep_param_t p[2] = {numeric("lr", SWEEP_FLOAT, 1e-5, 1e-1, true),
                          categorical("opt", opt_values, 4)};
    sweep_config_t c = config(SWEEP_RANDOM, p, 2, 2024);
    double *lr = malloc(N * sizeof(*lr));
    unsigned counts[4] = {0};
    if (!lr)
        bail_out("out of memory");
    for (uint64_t it = 0; it < N; it++) {
        double x[2];
        sweep_suggest(&c, it, NULL, 0, x);
        lr[it] = x[0];
        counts[(int)x[1]]++;
    }
    qsort(lr, N, sizeof(*lr), dbl_cmp);
    double med = log10(lr[N / 2]);
    /* The geometric mean of 1e-5 and 1e-1 is 1e-3; a linear draw would put
     * the median near 5e-2 (log10 -1.3). */
    ok(fabs(med + 3.0) < 0.1,
       "log-uniform draws have their median near the geometric mean "
       "(log10 median %.3f)", med);
    unsigned below = 0;
    for (int i = 0; i < N; i++)
        below += lr[i] < 1e-4;
    ok(below > N / 4 - 150 && below < N / 4 + 150,
       "a quarter of log-uniform draws fall in the lowest decade (%u)", below);

    double chi = 0, want = N / 4.0;
    for (int i = 0; i < 4; i++)
        chi += (counts[i] - want) * (counts[i] - want) / want;
    /* 3 degrees of freedom: 16.3 is the 0.1% tail. */
    ok(chi < 16.3, "categorical draws are uniform over the values "
                   "(chi-square %.2f, counts %u %u %u %u)",
       chi, counts[0], counts[1], counts[2], counts[3]);
    free(lr);
}

/* ------------------------------------------------------------ bad input */

static void test_bad_input(void)
{
    sweep_param_t p = numeric("x", SWEEP_FLOAT, 2, 1, false);
    sweep_config_t c = config(SWEEP_RANDOM, &p, 1, 0);
    double x;
    errno = 0;
    ok(sweep_suggest(&c, 0, NULL, 0, &x) == -1 && errno == EINVAL,
       "random over a float with min > max fails with EINVAL");
    p = numeric("x", SWEEP_FLOAT, 0, 1, true);
    errno = 0;
    ok(sweep_suggest(&c, 0, NULL, 0, &x) == -1 && errno == EINVAL,
       "random over a log float with min 0 fails with EINVAL");
    p = numeric("x", SWEEP_INT, 1.2, 1.8, false);
    errno = 0;
    ok(sweep_suggest(&c, 0, NULL, 0, &x) == -1 && errno == EINVAL,
       "random over an int range without integers fails with EINVAL");
    p = numeric("x", SWEEP_FLOAT, 0, 1, false);
    c.strategy = 0;
    errno = 0;
    ok(sweep_suggest(&c, 0, NULL, 0, &x) == -1 && errno == EINVAL,
       "an unknown strategy fails with EINVAL");
    errno = 0;
    ok(sweep_suggest(NULL, 0, NULL, 0, &x) == -1 && errno == EINVAL,
       "a NULL configuration fails with EINVAL");
    ok(sweep_space_size(NULL) == 0, "a NULL configuration has size 0");
    c.strategy = SWEEP_LIST;
    c.nconfigs = 2;
    errno = 0;
    ok(sweep_suggest(&c, 0, NULL, 0, &x) == -1 && errno == EINVAL,
       "a list without its configurations fails with EINVAL");
}

int main(void)
{
    plan(NO_PLAN);
    test_grid_order();
    test_grid_float();
    test_grid_sizes();
    test_list();
    test_random_repro();
    test_random_bounds();
    test_random_distribution();
    test_bad_input();
    return done_testing();
}
