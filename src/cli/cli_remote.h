/* SPDX-License-Identifier: MIT */
/* cli_remote.h - banyan run -S: GNU Parallel's remote execution options
 * and the path that runs a command line through banyan's cluster mode
 * (cmd_run_remote.c). */
#ifndef BANYAN_CLI_REMOTE_H
#define BANYAN_CLI_REMOTE_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "run/run.h"

/* getopt_long codes of the remote options (apart from cli.h's and
 * cli_client.h's ranges). */
enum {
    CLI_OPT_REMOTE_FIRST = 0x2800,
    CLI_OPT_SSHLOGIN = 'S',
    CLI_OPT_SLF = CLI_OPT_REMOTE_FIRST,
    CLI_OPT_SSH,
    CLI_OPT_TRANSFERFILE,
    CLI_OPT_TRANSFER,
    CLI_OPT_RETURN,
    CLI_OPT_CLEANUP,
    CLI_OPT_TRC,
    CLI_OPT_BASEFILE,
    CLI_OPT_ONALL,
    CLI_OPT_NONALL,
    CLI_OPT_WORKDIR,
    CLI_OPT_REMOTE_LAST,
};

#define CLI_REMOTE_OPTIONS                                                 \
    {"sshlogin", required_argument, NULL, CLI_OPT_SSHLOGIN},               \
    {"slf", required_argument, NULL, CLI_OPT_SLF},                         \
    {"sshloginfile", required_argument, NULL, CLI_OPT_SLF},                \
    {"ssh", required_argument, NULL, CLI_OPT_SSH},                         \
    {"transferfile", required_argument, NULL, CLI_OPT_TRANSFERFILE},       \
    {"tf", required_argument, NULL, CLI_OPT_TRANSFERFILE},                 \
    {"transfer", no_argument, NULL, CLI_OPT_TRANSFER},                     \
    {"return", required_argument, NULL, CLI_OPT_RETURN},                   \
    {"cleanup", no_argument, NULL, CLI_OPT_CLEANUP},                       \
    {"trc", required_argument, NULL, CLI_OPT_TRC},                         \
    {"basefile", required_argument, NULL, CLI_OPT_BASEFILE},               \
    {"bf", required_argument, NULL, CLI_OPT_BASEFILE},                     \
    {"onall", no_argument, NULL, CLI_OPT_ONALL},                           \
    {"nonall", no_argument, NULL, CLI_OPT_NONALL}

#define CLI_REMOTE_HELP                                                    \
    "Remote execution (docs/remote.md):\n"                                 \
    "  -S, --sshlogin [N/]LOGIN[,...]  run on these hosts through ssh "    \
    "(: = here)\n"                                                         \
    "      --slf FILE        sshlogins from FILE (.. = "                   \
    "~/.parallel/sshloginfile)\n"                                          \
    "      --ssh CMD         the ssh command (default ssh)\n"              \
    "      --transferfile F, --transfer, --return F, --cleanup, --trc F\n" \
    "      --basefile F      send F to every host first\n"                \
    "      --onall, --nonall run every task (or the command) on every "    \
    "host\n"                                                               \
    "      --workdir DIR     the directory of remote tasks\n"

/* How many times each repeatable remote option may be given. */
enum { RUN_REMOTE_MAX_ARGS = 64 };

/* What the remote options said: argv's strings, borrowed, so that it
 * holds no memory (cmd_run returns early from many places).
 * Zero-initialise. */
typedef struct run_remote_opts {
    const char *sshlogin[RUN_REMOTE_MAX_ARGS]; /* -S values (comma lists) */
    size_t nsshlogin;
    const char *slf[RUN_REMOTE_MAX_ARGS];      /* --slf files, read later */
    size_t nslf;
    const char *ssh;          /* --ssh; NULL = "ssh" */
    const char *transfer[RUN_REMOTE_MAX_ARGS]; /* --transferfile templates */
    size_t ntransfer;
    const char *ret[RUN_REMOTE_MAX_ARGS];      /* --return templates */
    size_t nret;
    const char *base[RUN_REMOTE_MAX_ARGS];     /* --basefile names */
    size_t nbase;
    bool cleanup, onall, nonall;
    const char *workdir;      /* --workdir; NULL = the remote $HOME */
} run_remote_opts_t;

/* Take remote option c (its value arg, argv's, kept).  0; exit code 2
 * after a usage error; -1 when c is not a remote option. */
int run_remote_option(run_remote_opts_t *r, int c, const char *arg);

/* True when a login names another host than ":" (this machine), an
 * --slf file is given, or --onall/--nonall. */
bool run_remote_wanted(const run_remote_opts_t *r);

/* banyan run through a server and workers on the logins' hosts: o as
 * cmd_run parsed it (its tmpl and inputs), argv[first..sep-1] the command
 * words.  Returns banyan run's exit code. */
int cmd_run_remote(run_remote_opts_t *r, const run_options_t *o,
                   char **argv, int first, int sep);

#endif /* BANYAN_CLI_REMOTE_H */
