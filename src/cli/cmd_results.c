/* SPDX-License-Identifier: MIT */
/* cmd_results.c - banyan results: list runs and their tasks (placeholder
 * until the store lands). */
#include <stdio.h>

#include "cli.h"

int cmd_results(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "banyan results: not built yet\n");
    return 3;
}
