/* SPDX-License-Identifier: MIT */
/* main.c - the banyan command: dispatch to one cmd_<name>.c per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "util/log.h"

/* The one sink of the libraries' messages (util/log.h). */
static void to_stderr(const char *text, void *arg)
{
    (void)arg;
    fputs(text, stderr);
}

static const struct cli_command commands[] = {
    {"run", cmd_run, "run a command over inputs, in parallel, locally"},
    {"sweep", cmd_sweep, "run or resume an experiment sweep"},
    {"results", cmd_results, "list runs, sweeps and their tasks"},
    {"stats", cmd_stats, "learnt memory estimates, busy and idle time"},
    {"server", cmd_server, "run the root scheduler of a cluster"},
    {"worker", cmd_worker, "run tasks for a server, on this machine"},
    {"submit", cmd_submit, "submit a job to a server"},
    {"wait", cmd_wait, "wait for a job to end"},
    {"status", cmd_status, "show a server's engines and jobs"},
    {"broadcast", cmd_broadcast,
     "run a command on every engine, or push a file"},
    {"log", cmd_log, "print the output of a job's tasks"},
    {"explain", cmd_explain, "say why a task is pending"},
    {"cancel", cmd_cancel, "cancel a job"},
    {"keygen", cmd_keygen, "write a CURVE key pair"},
    {"launch", cmd_launch, "start a server and N workers, run a command"},
    {"sem", cmd_sem, "run a command under a counting semaphore (GNU sem)"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: banyan COMMAND [OPTION]... [ARG]...\n\n"
               "Commands:\n");
    for (const struct cli_command *c = commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "\nRun 'banyan COMMAND --help' for a command's options.\n"
               "Exit codes: 0 all tasks succeeded, 1 some task failed, "
               "2 usage or configuration error, 3 internal error;\n"
               "banyan run: GNU Parallel's (see 'banyan run --help').\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("banyan %s\n", banyan_version());
        return 0;
    }
    util_log_set(to_stderr, NULL);
    for (const struct cli_command *c = commands; c->name; c++) {
        if (!strcmp(argv[1], c->name))
            return c->fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "banyan: unknown command '%s' (try 'banyan --help')\n",
            argv[1]);
    return 2;
}
