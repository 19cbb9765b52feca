/* SPDX-License-Identifier: MIT */
/* cli_client.h - what the client subcommands (submit, wait, status, log,
 * explain, cancel, results --server) share: the connection options, the
 * connection, and the mapping of client errors to exit codes. */
#ifndef BANYAN_CLI_CLIENT_H
#define BANYAN_CLI_CLIENT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <banyan/client.h>
#include <jansson.h>

#include "cli.h"

/* getopt_long codes of the shared options (above any command's own, and
 * apart from cli.h's host options: sweep takes both). */
enum {
    CLI_OPT_SERVER = 0x2000,
    CLI_OPT_KEY,
    CLI_OPT_SERVER_KEY,
    CLI_OPT_JSON,
};

/* The shared entries of a command's struct option table. */
#define CLI_CLIENT_LONG_OPTIONS                                             \
    {"server", required_argument, NULL, CLI_OPT_SERVER},                    \
    {"key", required_argument, NULL, CLI_OPT_KEY},                          \
    {"server-key", required_argument, NULL, CLI_OPT_SERVER_KEY},            \
    {"json", no_argument, NULL, CLI_OPT_JSON},                              \
    {"help", no_argument, NULL, 'h'}

/* Their --help text. */
#define CLI_CLIENT_HELP                                                     \
    "      --server ENDPOINT  the server (default $BANYAN_SERVER, else\n"   \
    "                        " BANYAN_DEFAULT_SERVER ")\n"                  \
    "      --key FILE        own CURVE key pair (banyan keygen's .key)\n"   \
    "      --server-key FILE the server's public key (.pub), for CURVE\n"   \
    "      --json            machine-readable output\n"                     \
    "  -h, --help            this text\n"

typedef struct cli_client_opts {
    const char *server;           /* NULL: $BANYAN_SERVER or the default */
    const char *key_file;
    const char *server_key_file;
    bool json;
} cli_client_opts_t;

/* Take a shared option; true when c was one. */
bool cli_client_option(cli_client_opts_t *o, int c, const char *arg);

/* A command's own option c, with getopt's optarg in arg: 0, or an exit
 * code after a usage error. */
typedef int (*cli_option_fn)(int c, const char *arg, void *ctx);

/* Parse argv: the shared options, -h (prints usage_text) and the
 * command's own ones, handed to own(c, optarg, ctx).  opts is the
 * command's table (its options, CLI_CLIENT_LONG_OPTIONS, the end) and
 * shortopts its getopt string; NULL, NULL and NULL for a command with
 * only the shared options.  optind is then at the first operand.
 * Returns -1 to go on, or an exit code to return (0 after --help, 2
 * after a usage error). */
int cli_client_getopt(const char *cmd, int argc, char **argv,
                      cli_client_opts_t *o, const char *usage_text,
                      const struct option *opts, const char *shortopts,
                      cli_option_fn own, void *ctx);

/* Connect as o says.  NULL after printing "banyan CMD: <why>" with the
 * exit code in *code (2 for bad options or keys, 3 otherwise). */
banyan_client_t *cli_client_connect(const char *cmd,
                                    const cli_client_opts_t *o, int *code);

/* Print "banyan CMD: <err>" and return the exit code for errno: 2 for a
 * request the server found wrong (ENOENT, EINVAL), 130 for EINTR, 3 for
 * connection and other errors. */
int cli_client_fail(const char *cmd, const banyan_error_t *err);

/* Ask the server (args is stolen; NULL = {}) and parse the answer.  NULL
 * after printing the error, with the exit code in *code. */
json_t *cli_client_query(const char *cmd, banyan_client_t *c,
                         const char *what, json_t *args, int *code);

/* Print a JSON value and a newline on stdout: json_dumpf's flags
 * (JSON_COMPACT for one line, JSON_INDENT(2) pretty), JSON_ENCODE_ANY
 * added. */
void cli_print_json(const json_t *j, size_t flags);

/* The entries of array in the order of their "node" member.  Caller must
 * free() the vector, NULL when out of memory; the entries are borrowed. */
json_t **cli_json_by_node(const json_t *array);

/* A member as an integer / a string, with a default. */
long long cli_json_int(const json_t *o, const char *key, long long dflt);
const char *cli_json_str(const json_t *o, const char *key, const char *dflt);

/* A file to upload (given with opt, e.g. "--blob") must be a readable
 * regular file; checked before connecting.  0, or exit code 2 after a
 * usage error. */
int cli_check_upload(const char *cmd, const char *opt, const char *path);

/* Parse operand s, a job id or a task number (1..2^32-1) as what says
 * ("job id").  0, or exit code 2 after "invalid WHAT 'S'". */
int cli_parse_job(const char *cmd, const char *what, const char *s,
                  uint32_t *job);

/* "job 7 done: 6 tasks, 5 ok, 1 failed" on stdout, or the JSON object. */
void cli_print_job_state(const banyan_job_state_t *st, bool json);

/* Exit code of an ended job: 0 when every task succeeded, else 1. */
int cli_job_exit_code(const banyan_job_state_t *st);

#endif /* BANYAN_CLI_CLIENT_H */
