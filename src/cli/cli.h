/* SPDX-License-Identifier: MIT */
/* cli.h - the subcommands of the banyan command line. */
#ifndef BANYAN_CLI_H
#define BANYAN_CLI_H

#include "util/util.h"

/* A subcommand: argv[0] is its name.  Returns the process exit code. */
typedef int (*cli_fn)(int argc, char **argv);

struct cli_command {
    const char *name;
    cli_fn fn;
    const char *summary;
};

int cmd_run(int argc, char **argv);
int cmd_results(int argc, char **argv);

#endif /* BANYAN_CLI_H */
