/* SPDX-License-Identifier: MIT */
/* test_tpe.c - the TPE strategy: bounds, determinism, startup, the constant
 * liar, degenerate spaces and observations, and search quality against
 * random search on a quadratic and on Branin (fixed seeds, so the
 * comparisons are deterministic). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/sweep.h"
#include "tap.h"

enum { MAXP = 8, MAXIT = 200 };

static sweep_value_t opt_values[] = {
    {"sgd", false, 0}, {"adam", false, 0}, {"lion", false, 0}};
static sweep_value_t one_value[] = {{"only", false, 0}};

static sweep_param_t numeric(char *name, sweep_param_kind_t kind, double min,
                             double max, bool log)
{
    sweep_param_t p = {.name = name, .kind = kind, .min = min, .max = max};
    p.log = log;
    return p;
}

static sweep_param_t categorical(char *name, sweep_value_t *v, size_t n)
{
    sweep_param_t p = {.name = name, .kind = SWEEP_CATEGORICAL};
    p.nvalues = n;
    p.values = v;
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

/* A sequential search: points[it] and ys[it] for it < n. */
typedef struct run {
    double x[MAXIT][MAXP];
    double y[MAXIT];
    sweep_obs_t obs[MAXIT];
    double best;
} run_t;

typedef double objective_fn(const double *x);

static int run_search(const sweep_config_t *c, objective_fn *f, int n,
                      run_t *r)
{
    r->best = INFINITY;
    for (int it = 0; it < n; it++) {
        if (sweep_suggest(c, (uint64_t)it, r->obs, (size_t)it, r->x[it]) != 0)
            return -1;
        r->y[it] = f(r->x[it]);
        r->obs[it] = (sweep_obs_t){r->x[it], r->y[it], SWEEP_OBS_DONE};
        r->best = fmin(r->best, r->y[it]);
    }
    return 0;
}

static double quadratic(const double *x)
{
    return (x[0] - 0.3) * (x[0] - 0.3);
}

static double branin(const double *x)
{
    double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10,
           t = 1 / (8 * M_PI);
    double u = x[1] - b * x[0] * x[0] + c * x[0] - r;
    return a * u * u + s * (1 - t) * cos(x[0]) + s;
}

/* A mixed space: the objective likes lr near 1e-3, 6 layers, adam and a
 * small dropout. */
static double mixed(const double *x)
{
    double l = log10(x[0]) + 3;
    return l * l + 0.1 * fabs(x[1] - 6) + (x[2] == 1 ? 0 : 1) + x[3];
}

static int dbl_cmp(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return p < q ? -1 : p > q;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static run_t *new_run(void)
{
    run_t *r = calloc(1, sizeof(*r));
    if (!r)
        bail_out("out of memory");
    return r;
}

/* ------------------------------------------------------------ behaviour */

static void test_bounds_and_determinism(void)
{
    sweep_param_t p[4] = {numeric("lr", SWEEP_FLOAT, 1e-5, 1e-1, true),
                          numeric("layers", SWEEP_INT, 2, 12, false),
                          categorical("opt", opt_values, 3),
                          numeric("drop", SWEEP_FLOAT, 0, 0.5, false)};
    sweep_config_t c = config(SWEEP_TPE, p, 4, 11);
    run_t *a = new_run(), *b = new_run();
    ok(run_search(&c, mixed, 50, a) == 0, "TPE runs 50 iterations over a "
                                          "mixed space");
    bool in = true;
    for (int it = 0; it < 50; it++) {
        const double *x = a->x[it];
        in = in && x[0] >= 1e-5 && x[0] <= 1e-1 && x[1] >= 2 && x[1] <= 12
             && x[1] == floor(x[1]) && (x[2] == 0 || x[2] == 1 || x[2] == 2)
             && x[3] >= 0 && x[3] <= 0.5;
    }
    ok(in, "every TPE point lies in bounds, ints and categories integral");
    run_search(&c, mixed, 50, b);
    ok(memcmp(a->x, b->x, sizeof(a->x)) == 0,
       "the same seed and observations give the same TPE points");
    double again[4];
    sweep_suggest(&c, 50, a->obs, 50, again);
    sweep_suggest(&c, 50, a->obs, 50, b->x[50]);
    ok(memcmp(again, b->x[50], sizeof(again)) == 0,
       "asking twice for one iteration gives one point");
    ok(a->best < 0.5, "TPE finds a good region of the mixed space "
                      "(best %.3f)", a->best);

    c.seed = 12;
    run_search(&c, mixed, 50, b);
    ok(memcmp(a->x[30], b->x[30], sizeof(a->x[30])) != 0,
       "another seed gives other TPE points");
    free(a);
    free(b);
}

static void test_startup(void)
{
    sweep_param_t p[3] = {numeric("lr", SWEEP_FLOAT, 1e-5, 1e-1, true),
                          numeric("layers", SWEEP_INT, 2, 12, false),
                          categorical("opt", opt_values, 3)};
    sweep_config_t t = config(SWEEP_TPE, p, 3, 5);
    sweep_config_t r = config(SWEEP_RANDOM, p, 3, 5);
    run_t *a = new_run();
    run_search(&t, mixed, 12, a);
    bool same = true;
    for (int it = 0; it < 10; it++) {
        double x[3];
        sweep_suggest(&r, (uint64_t)it, NULL, 0, x);
        same = same && memcmp(x, a->x[it], sizeof(x)) == 0;
    }
    ok(same, "the first 10 TPE points (tpe_startup 0) are random's points");
    double x[3];
    sweep_suggest(&r, 10, NULL, 0, x);
    ok(memcmp(x, a->x[10], sizeof(x)) != 0,
       "iteration 10 is TPE's own point");

    t.tpe_startup = 3;
    sweep_suggest(&r, 2, NULL, 0, x);
    sweep_suggest(&t, 2, a->obs, 2, a->x[2]);
    ok(memcmp(x, a->x[2], sizeof(x)) == 0, "tpe_startup 3: iteration 2 is "
                                           "random");
    sweep_suggest(&r, 3, NULL, 0, x);
    sweep_suggest(&t, 3, a->obs, 3, a->x[3]);
    ok(memcmp(x, a->x[3], sizeof(x)) != 0, "tpe_startup 3: iteration 3 is "
                                           "TPE");
    free(a);
}

static void test_constant_liar(void)
{
    sweep_param_t p = numeric("x", SWEEP_FLOAT, 0, 1, false);
    sweep_config_t c = config(SWEEP_TPE, &p, 1, 3);
    run_t *a = new_run();
    run_search(&c, quadratic, 15, a);

    double s1, s2;
    ok(sweep_suggest(&c, 15, a->obs, 15, &s1) == 0, "TPE suggests at 15");
    a->x[15][0] = s1;
    a->obs[15] = (sweep_obs_t){a->x[15], 0, SWEEP_OBS_RUNNING};
    int rc = sweep_suggest(&c, 15, a->obs, 16, &s2);
    ok(rc == 0 && s2 != s1,
       "a running point changes the suggestion (%.6f, then %.6f)", s1, s2);

    /* Four experiments in flight: none of them is suggested again. */
    for (int k = 16; k < 19; k++) {
        sweep_suggest(&c, (uint64_t)k, a->obs, (size_t)k, a->x[k]);
        a->obs[k] = (sweep_obs_t){a->x[k], 0, SWEEP_OBS_RUNNING};
    }
    double s3;
    sweep_suggest(&c, 19, a->obs, 19, &s3);
    bool fresh = true;
    for (int k = 15; k < 19; k++)
        fresh = fresh && s3 != a->x[k][0];
    ok(fresh, "with four running points the next point is none of them");

    /* The liar's value is the worst DONE objective: running points below
     * it do not pull the search towards themselves. */
    double wy = 0;
    for (int k = 0; k < 15; k++)
        wy = fmax(wy, a->y[k]);
    a->obs[15].state = SWEEP_OBS_DONE;
    a->obs[15].y = wy;
    double s4;
    sweep_suggest(&c, 15, a->obs, 16, &s4);
    ok(s4 == s2, "a running point counts as a done point with the worst "
                 "objective");

    /* Without any DONE point TPE has nothing to model: random. */
    sweep_obs_t run_only[2] = {{a->x[0], 0, SWEEP_OBS_RUNNING},
                               {a->x[1], 0, SWEEP_OBS_FAILED}};
    sweep_config_t r = config(SWEEP_RANDOM, &p, 1, 3);
    double t, u;
    sweep_suggest(&c, 20, run_only, 2, &t);
    sweep_suggest(&r, 20, NULL, 0, &u);
    ok(t == u, "with only running and failed points TPE falls back to "
               "random");
    free(a);
}

static void test_failed(void)
{
    /* Done points everywhere, failures clustered near 0.9: the search
     * treats the failures as bad and stays away from them. */
    sweep_param_t p = numeric("x", SWEEP_FLOAT, 0, 1, false);
    sweep_config_t c = config(SWEEP_TPE, &p, 1, 9);
    double xs[30];
    sweep_obs_t obs[30];
    for (int i = 0; i < 30; i++) {
        xs[i] = i < 20 ? i / 19.0 : 0.85 + 0.01 * (i - 20);
        obs[i] = (sweep_obs_t){&xs[i], fabs(xs[i] - 0.9),
                               i < 20 ? SWEEP_OBS_DONE : SWEEP_OBS_FAILED};
    }
    int near_fail = 0;
    for (uint64_t it = 30; it < 60; it++) {
        double x;
        sweep_suggest(&c, it, obs, 30, &x);
        near_fail += fabs(x - 0.9) < 0.06;
    }
    ok(near_fail <= 10, "failed points steer suggestions away "
                        "(%d of 30 near the failures)", near_fail);
}

static void test_degenerate(void)
{
    sweep_param_t p[6] = {numeric("narrow", SWEEP_FLOAT, 0.5, 0.5 + 1e-9,
                                  false),
                          numeric("same", SWEEP_INT, 4, 4, false),
                          categorical("one", one_value, 1),
                          numeric("fixed", SWEEP_FLOAT, 2, 2, true),
                          numeric("tiny", SWEEP_FLOAT, 1, 1 + 1e-15, true),
                          numeric("ok", SWEEP_INT, 1, 3, true)};
    sweep_config_t c = config(SWEEP_TPE, p, 6, 1);
    c.tpe_startup = 1;
    double xs[12][6];
    sweep_obs_t obs[12];
    bool good = true;
    for (int it = 0; it < 12; it++) {
        good = good && sweep_suggest(&c, (uint64_t)it, obs, (size_t)it,
                                     xs[it]) == 0;
        const double *x = xs[it];
        good = good && x[0] >= 0.5 && x[0] <= 0.5 + 1e-9 && x[1] == 4
               && x[2] == 0 && x[3] == 2 && x[4] >= 1 && x[4] <= 1 + 1e-15
               && (x[5] == 1 || x[5] == 2 || x[5] == 3);
        /* All objectives equal: every split is a tie. */
        obs[it] = (sweep_obs_t){xs[it], 1.0, SWEEP_OBS_DONE};
    }
    ok(good, "degenerate parameters and all-equal objectives give "
             "in-bounds points");

    sweep_param_t q = numeric("x", SWEEP_FLOAT, -1, 1, false);
    c = config(SWEEP_TPE, &q, 1, 1);
    double x0 = 0.25, x;
    sweep_obs_t one[1] = {{&x0, 3.0, SWEEP_OBS_DONE}};
    int rc = sweep_suggest(&c, 10, one, 1, &x);
    ok(rc == 0 && x >= -1 && x <= 1 && x != x0,
       "a single done point is enough for TPE (%.4f)", x);

    double nan_x = NAN, xv[2] = {0.1, 0.2};
    sweep_obs_t odd[3] = {{&nan_x, 1.0, SWEEP_OBS_DONE},
                          {&xv[0], NAN, SWEEP_OBS_DONE},
                          {&xv[1], -INFINITY, SWEEP_OBS_DONE}};
    rc = sweep_suggest(&c, 10, odd, 3, &x);
    ok(rc == 0 && x >= -1 && x <= 1,
       "non-finite points and objectives are tolerated (%.4f)", x);

    /* A tiny discrete space: TPE prefers a point not yet tried. */
    sweep_param_t d[2] = {categorical("opt", opt_values, 3),
                          numeric("n", SWEEP_INT, 1, 2, false)};
    c = config(SWEEP_TPE, d, 2, 4);
    double dx[5][2] = {{0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 1}};
    sweep_obs_t dobs[5];
    for (int i = 0; i < 5; i++)
        dobs[i] = (sweep_obs_t){dx[i], (double)i, SWEEP_OBS_DONE};
    double y[2];
    rc = sweep_suggest(&c, 10, dobs, 5, y);
    ok(rc == 0 && y[0] == 2 && y[1] == 2,
       "in a 6-point space with 5 tried TPE suggests the sixth (%g, %g)",
       y[0], y[1]);

    sweep_param_t bad = numeric("x", SWEEP_FLOAT, 1, 0, false);
    c = config(SWEEP_TPE, &bad, 1, 1);
    errno = 0;
    ok(sweep_suggest(&c, 10, one, 1, &x) == -1 && errno == EINVAL,
       "TPE over a float with min > max fails with EINVAL");
}

/* -------------------------------------------------------- search quality */

static void compare(const char *name, sweep_param_t *p, size_t np,
                    objective_fn *f, double tpe_bound)
{
    enum { SEEDS = 10, N = 60 };
    double tb[SEEDS], rb[SEEDS];
    run_t *a = new_run();
    for (int s = 0; s < SEEDS; s++) {
        sweep_config_t t = config(SWEEP_TPE, p, np, (uint64_t)s + 1);
        sweep_config_t r = config(SWEEP_RANDOM, p, np, (uint64_t)s + 1);
        if (run_search(&t, f, N, a) < 0)
            bail_out("TPE failed on %s", name);
        tb[s] = a->best;
        run_search(&r, f, N, a);
        rb[s] = a->best;
    }
    free(a);
    if (tpe_bound > 0)
        ok(tb[0] < tpe_bound, "%s: TPE's best of 60 with seed 1 is below "
                              "%g (%.3g)", name, tpe_bound, tb[0]);
    double tm = median(tb, SEEDS), rm = median(rb, SEEDS);
    ok(tm < rm, "%s: TPE's median best over 10 seeds beats random's "
                "(%.4g vs %.4g)", name, tm, rm);
}

static void test_quality(void)
{
    sweep_param_t q = numeric("x", SWEEP_FLOAT, 0, 1, false);
    compare("quadratic", &q, 1, quadratic, 1e-3);
    sweep_param_t b[2] = {numeric("x1", SWEEP_FLOAT, -5, 10, false),
                          numeric("x2", SWEEP_FLOAT, 0, 15, false)};
    compare("branin", b, 2, branin, 0);
}

/* An asynchronous search with four experiments in flight: each iteration
 * finishes the oldest running point and suggests a new one. */
static void test_async(void)
{
    sweep_param_t p[2] = {numeric("x1", SWEEP_FLOAT, -5, 10, false),
                          numeric("x2", SWEEP_FLOAT, 0, 15, false)};
    sweep_config_t c = config(SWEEP_TPE, p, 2, 21);
    run_t *a = new_run();
    double best = INFINITY;
    bool dup = false;
    for (int it = 0; it < 60; it++) {
        if (it >= 4) { /* the oldest running experiment finishes */
            a->obs[it - 4].y = branin(a->x[it - 4]);
            a->obs[it - 4].state = SWEEP_OBS_DONE;
            best = fmin(best, a->obs[it - 4].y);
        }
        sweep_suggest(&c, (uint64_t)it, a->obs, (size_t)it, a->x[it]);
        for (int k = 0; k < it; k++)
            dup = dup || memcmp(a->x[k], a->x[it], sizeof(a->x[k])) == 0;
        a->obs[it] = (sweep_obs_t){a->x[it], 0, SWEEP_OBS_RUNNING};
    }
    ok(!dup, "with four in flight no point is suggested twice");
    ok(best < 1.0, "with four in flight TPE still gets close to Branin's "
                   "minimum 0.398 (%.4f)", best);
    free(a);
}

int main(void)
{
    plan(NO_PLAN);
    test_bounds_and_determinism();
    test_startup();
    test_constant_liar();
    test_failed();
    test_degenerate();
    test_quality();
    test_async();
    return done_testing();
}
