/* SPDX-License-Identifier: MIT */
/* search_quality.c - how well banyan's TPE and random search minimise
 * standard test functions, in process.
 *
 * Each method runs sequentially (one experiment at a time) for 60
 * evaluations with seeds 1..20 on Branin (2-D), Hartmann-6 (6-D) and
 * Rosenbrock (4-D on [-2, 2]^4), calling sweep_suggest() directly, and
 * prints per function and method the median and quartiles of the best value
 * found over the seeds:
 *
 *   search_quality func=branin method=tpe median=0.41 q1=0.40 q3=0.45
 *
 * bench/search_quality.py prints the same lines for Optuna's TPESampler;
 * quartiles are linear interpolations, as numpy's default, in both.
 *
 * With PARALLEL > 1 the search is asynchronous, as under
 * max_parallel_experiments: PARALLEL experiments are in flight, each new
 * suggestion sees them as RUNNING, and they finish in the order they were
 * started; the lines then carry "parallel=N" after the method.
 * Usage: search_quality [EVALS [SEEDS [PARALLEL]]]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sweep/sweep.h"
#include "testfuncs.h"

enum { MAXEVALS = 1000, MAXSEEDS = 1000 };

static int dbl_cmp(const void *a, const void *b)
{
    double p = *(const double *)a, q = *(const double *)b;
    return p < q ? -1 : p > q;
}

/* The q-quantile of sorted v[n], interpolating linearly. */
static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* The best value of one search with par experiments in flight, or NAN if
 * suggest failed. */
static double search(const problem_t *pb, sweep_strategy_t strategy,
                     uint64_t seed, int evals, int par, double (*xs)[MAXD],
                     sweep_obs_t *obs)
{
    sweep_param_t params[MAXD] = {0};
    for (size_t i = 0; i < pb->dim; i++) {
        params[i].name = "x";
        params[i].kind = SWEEP_FLOAT;
        params[i].min = pb->lo[i];
        params[i].max = pb->hi[i];
    }
    sweep_config_t cfg = {.name = "bench", .strategy = strategy};
    cfg.params = params;
    cfg.nparams = pb->dim;
    cfg.seed = seed;
    cfg.max_parallel = 1;
    double best = INFINITY;
    for (int it = 0; it < evals + par; it++) {
        if (it >= par) { /* the oldest experiment in flight finishes */
            sweep_obs_t *o = &obs[it - par];
            o->y = pb->f(o->x);
            o->state = SWEEP_OBS_DONE;
            best = fmin(best, o->y);
        }
        if (it >= evals)
            continue;
        if (sweep_suggest(&cfg, (uint64_t)it, obs, (size_t)it, xs[it]) != 0)
            return NAN;
        obs[it] = (sweep_obs_t){xs[it], 0, SWEEP_OBS_RUNNING};
    }
    return best;
}

int main(int argc, char **argv)
{
    int evals = argc > 1 ? atoi(argv[1]) : 60;
    int seeds = argc > 2 ? atoi(argv[2]) : 20;
    int par = argc > 3 ? atoi(argv[3]) : 1;
    if (evals < 1 || evals > MAXEVALS || seeds < 1 || seeds > MAXSEEDS
        || par < 1 || par > evals) {
        fprintf(stderr, "usage: search_quality [EVALS [SEEDS [PARALLEL]]] "
                        "(1..%d evaluations, 1..%d seeds, 1..EVALS in "
                        "flight)\n",
                MAXEVALS, MAXSEEDS);
        return 2;
    }
    char partext[32] = "";
    if (par > 1)
        snprintf(partext, sizeof(partext), " parallel=%d", par);
    double(*xs)[MAXD] = calloc((size_t)evals, sizeof(*xs));
    sweep_obs_t *obs = calloc((size_t)evals, sizeof(*obs));
    double *best = calloc((size_t)seeds, sizeof(*best));
    if (!xs || !obs || !best) {
        fprintf(stderr, "search_quality: out of memory\n");
        return 3;
    }
    static const struct {
        const char *name;
        sweep_strategy_t strategy;
    } methods[] = {{"tpe", SWEEP_TPE}, {"random", SWEEP_RANDOM}};
    int rc = 0;
    for (size_t p = 0; p < sizeof(problems) / sizeof(problems[0]); p++)
        for (size_t m = 0; m < 2; m++) {
            for (int s = 0; s < seeds; s++) {
                best[s] = search(&problems[p], methods[m].strategy,
                                 (uint64_t)s + 1, evals, par, xs, obs);
                if (isnan(best[s])) {
                    fprintf(stderr, "search_quality: suggest failed\n");
                    rc = 3;
                }
            }
            qsort(best, (size_t)seeds, sizeof(*best), dbl_cmp);
            printf("search_quality func=%s method=%s%s median=%.6g "
                   "q1=%.6g q3=%.6g\n",
                   problems[p].name, methods[m].name, partext,
                   quantile(best, seeds, 0.5), quantile(best, seeds, 0.25),
                   quantile(best, seeds, 0.75));
        }
    free(xs);
    free(obs);
    free(best);
    return rc;
}
