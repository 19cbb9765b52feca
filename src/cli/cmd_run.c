/* SPDX-License-Identifier: MIT */
/* cmd_run.c - banyan run (placeholder until the runner lands). */
#include <stdio.h>

#include "cli.h"

int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "banyan run: not built yet\n");
    return 3;
}
