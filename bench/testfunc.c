/* SPDX-License-Identifier: MIT */
/* testfunc.c - one evaluation of a benchmark function, as an experiment:
 *
 *   testfunc NAME X1 ... XD      prints {"value": F} on stdout
 *
 * bench/sweep_bench.sh runs it through `banyan sweep` to measure search
 * quality with real processes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testfuncs.h"

int main(int argc, char **argv)
{
    for (size_t i = 0; i < sizeof(problems) / sizeof(problems[0]); i++) {
        const problem_t *p = &problems[i];
        if (argc < 2 || strcmp(argv[1], p->name) != 0)
            continue;
        if ((size_t)argc != p->dim + 2) {
            fprintf(stderr, "testfunc: %s takes %zu values\n", p->name,
                    p->dim);
            return 2;
        }
        double x[MAXD];
        for (size_t d = 0; d < p->dim; d++)
            x[d] = strtod(argv[d + 2], NULL);
        printf("{\"value\": %.17g}\n", p->f(x));
        return 0;
    }
    fprintf(stderr, "usage: testfunc branin|hartmann6|rosenbrock4 X...\n");
    return 2;
}
