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
int cmd_sweep(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_results_remote(int argc, char **argv);
int cmd_server(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_broadcast(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_launch(int argc, char **argv);

/* Print "banyan CMD: <message>" and the --help hint; returns exit code 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* MemAvailable floor for tasks without a memory request: 5% of RAM, at
 * most 2 GiB. */
uint64_t cli_default_mem_reserve(void);

/* Use *db, or create .banyan/ and use .banyan/banyan.db.  0 or -1. */
int cli_default_db(const char **db, banyan_error_t *error);

#endif /* BANYAN_CLI_H */
