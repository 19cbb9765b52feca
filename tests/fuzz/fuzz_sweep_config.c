/* SPDX-License-Identifier: MIT */
/* fuzz_sweep_config.c - fuzz targets: sweep configurations, YAML
 * (fuzz_sweep_yaml) and JSON (fuzz_sweep_json), built from this one file
 * with SWEEP_SUFFIX ".yaml" or ".json".
 *
 * The input is written to a file with that suffix and read by
 * sweep_config_load(), the parser behind `banyan sweep`.  A refusal must
 * say why and name the file; a configuration that loads has a name that
 * is one plain folder name, a command and parameters, and is then used as
 * the runner uses it: its space text, the first points of its strategy,
 * its resource expressions at those points and its command with their
 * values substituted, and each point through JSON and back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sweep/sweep.h"

#ifndef SWEEP_SUFFIX
#error "SWEEP_SUFFIX must be .yaml or .json"
#endif

enum { POINTS = 3 };

/* What the runner does with a loaded configuration, for a few points. */
static void use_config(const sweep_config_t *cfg)
{
    free(sweep_config_space_text(cfg));
    size_t np = cfg->nparams ? cfg->nparams : 1;
    double *x = calloc(POINTS * np, sizeof *x);
    double *back = calloc(np, sizeof *back);
    sweep_obs_t obs[POINTS];
    size_t nobs = 0;
    for (uint64_t it = 0; x && back && it < POINTS; it++) {
        double *p = x + it * np;
        if (sweep_suggest(cfg, it, obs, nobs, p) != 0)
            break;
        obs[nobs++] = (sweep_obs_t){.x = p, .y = (double)it,
                                    .state = SWEEP_OBS_DONE};
        const char *exprs[3] = {cfg->gpus_expr, cfg->cpus_expr,
                                cfg->mem_expr};
        for (int k = 0; k < 3; k++) {
            double v;
            banyan_error_t err = {{0}};
            if (exprs[k] != NULL
                && sweep_expr_eval(cfg, exprs[k], p, k == 2, &v, &err) < 0)
                fuzz_check_refusal(&err);
        }
        free(sweep_substitute(cfg, cfg->command, p));
        char *json = sweep_point_to_json(cfg, p);
        if (json != NULL && sweep_point_from_json(cfg, json, back) < 0)
            __builtin_trap(); /* a point's own JSON must read back */
        free(json);
    }
    free(back);
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(data, size, SWEEP_SUFFIX);
    if (path == NULL)
        return 0;
    banyan_error_t err = {{0}};
    sweep_config_t *cfg = sweep_config_load(path, &err);
    if (cfg == NULL) {
        fuzz_check_refusal(&err);
        if (strstr(err.text, path) == NULL)
            __builtin_trap(); /* every error names the file */
        return 0;
    }
    /* the name is one plain folder name under .banyan/sweeps */
    if (cfg->name == NULL || cfg->name[0] == '\0' || cfg->name[0] == '.'
        || strchr(cfg->name, '/') != NULL || cfg->command == NULL
        || cfg->nparams == 0 || cfg->max_parallel == 0)
        __builtin_trap();
    use_config(cfg);
    sweep_config_free(cfg);
    return 0;
}
