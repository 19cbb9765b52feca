/* SPDX-License-Identifier: MIT */
/* cmd_broadcast.c - banyan broadcast: run a command on every engine once,
 * or push a file to every engine's blob cache.
 *
 *   banyan broadcast [OPTION]... [--blob FILE] [--] [COMMAND [ARG]...]
 *
 * The server sends one BCAST down each link of its tree; every node runs it
 * on its own engine and answers with one reply for its subtree (docs/tree.md,
 * "Broadcast").  Without a command and without --blob, each engine only
 * acknowledges: a cheap way to see that the whole tree is alive.
 *
 * Exit codes differ from the job commands on purpose: 0 when every engine
 * succeeded and none is missing, 1 when some engine failed or did not
 * answer, 2 when the broadcast could not be made at all (bad usage, a file
 * that cannot be read, no server, the server's refusal).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_client.h"

static const char usage_text[] =
    "Usage: banyan broadcast [OPTION]... [--] [COMMAND [ARG]...]\n"
    "Run COMMAND once on every engine of a banyan server's tree and report\n"
    "each engine's exit code and output.  With --blob, FILE is stored on "
    "the\n"
    "server and fetched into every engine's cache first; COMMAND finds its\n"
    "path in $BANYAN_BLOB_0.  Without COMMAND and --blob, every engine only\n"
    "acknowledges (nothing is spawned).\n"
    "\n"
    "Options:\n"
    "      --timeout DUR     wait at most DUR for the engines (default 30;\n"
    "                        10, 1.5s, 2m); engines that have not answered\n"
    "                        by then count as missing\n"
    "      --blob FILE       push FILE to every engine (BANYAN_BLOB_0)\n"
    "  -q, --quiet           print only the summary (no per-engine lines)\n"
    CLI_CLIENT_HELP
    "Output: \"node N: exit E\" and its output tail per engine on stdout, "
    "then\n"
    "\"K engines: ok A, failed B, missing C, T ms\" on stderr; --json "
    "prints\n"
    "the server's answer instead of the per-engine lines.\n"
    "Exit: 0 every engine succeeded and none is missing, 1 otherwise, 2 bad\n"
    "usage, unreadable file, or no answer from the server.\n";

enum { OPT_TIMEOUT = 256, OPT_BLOB };

static const struct option long_opts[] = {
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"blob", required_argument, NULL, OPT_BLOB},
    {"quiet", no_argument, NULL, 'q'},
    CLI_CLIENT_LONG_OPTIONS,
    {NULL, 0, NULL, 0},
};

struct bcast_opts {
    cli_client_opts_t co;
    uint32_t timeout_ms;
    const char *blob;
    bool quiet;
};

/* An option of broadcast's own. */
static int parse_option(int c, const char *arg, void *ctx)
{
    struct bcast_opts *o = ctx;
    int64_t ms;
    if (c == 'q') {
        o->quiet = true;
    } else if (c == OPT_BLOB) {
        o->blob = arg;
    } else if (util_parse_duration_ms(arg, &ms) < 0 || ms <= 0
               || ms > (int64_t)UINT32_MAX) {
        return cli_usage_error("broadcast", "invalid --timeout '%s' "
                               "(expected a duration like 30, 1.5s or 2m)",
                               arg);
    } else {
        o->timeout_ms = (uint32_t)ms;
    }
    return 0;
}

/* The exit code for a failed call: 130 after a signal, else 2. */
static int fail(const banyan_error_t *err)
{
    if (errno == EINTR)
        return 130;
    return cli_fail("broadcast", BANYAN_EXIT_USAGE, "%s",
                    err->text[0] ? err->text : strerror(errno));
}

/* ------------------------------------------------------------- output */

/* An output tail, each line indented, ending with a newline. */
static void print_tail(const char *out)
{
    while (*out) {
        const char *nl = strchr(out, '\n');
        size_t n = nl ? (size_t)(nl - out) : strlen(out);
        printf("    %.*s\n", (int)n, out);
        out += n + (nl ? 1 : 0);
    }
}

static void print_outputs(const json_t *outputs)
{
    size_t n = json_array_size(outputs);
    json_t **v = cli_json_by_node(outputs);
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        printf("node %lld: exit %lld\n", cli_json_int(v[i], "node", -1),
               cli_json_int(v[i], "exit", -1));
        print_tail(cli_json_str(v[i], "out", ""));
    }
    free(v);
}

static void print_summary(const json_t *a)
{
    json_t *ms = json_object_get(a, "ms");
    fprintf(stderr, "%lld engines: ok %lld, failed %lld, missing %lld, "
            "%.1f ms\n", cli_json_int(a, "engines", 0),
            cli_json_int(a, "ok", 0), cli_json_int(a, "failed", 0),
            cli_json_int(a, "missing", 0),
            json_is_number(ms) ? json_number_value(ms) : 0.0);
}

/* Print the answer; the exit code it means. */
static int report(const char *answer, const struct bcast_opts *o)
{
    json_error_t jerr;
    json_t *a = json_loads(answer, 0, &jerr);
    if (!json_is_object(a)) {
        json_decref(a);
        return cli_fail("broadcast", BANYAN_EXIT_USAGE,
                        "the server's answer is not a JSON object: %s", answer);
    }
    if (o->co.json)
        cli_print_json(a, JSON_COMPACT);
    else if (!o->quiet)
        print_outputs(json_object_get(a, "outputs"));
    fflush(stdout);
    print_summary(a);
    int code = cli_json_int(a, "failed", 1) == 0
                       && cli_json_int(a, "missing", 1) == 0
                   ? BANYAN_EXIT_OK
                   : BANYAN_EXIT_FAILED;
    json_decref(a);
    return code;
}

int cmd_broadcast(int argc, char **argv)
{
    struct bcast_opts o = {.timeout_ms = BANYAN_BROADCAST_TIMEOUT_MS};
    int code = cli_client_getopt("broadcast", argc, argv, &o.co, usage_text,
                                 long_opts, "+:hq", parse_option, &o);
    if (code >= 0)
        return code;
    if (o.blob && (code = cli_check_upload("broadcast", "--blob", o.blob)))
        return code;
    banyan_client_t *c = cli_client_connect("broadcast", &o.co, &code);
    if (!c)
        return BANYAN_EXIT_USAGE;
    banyan_error_t err = {{0}};
    uint8_t hash[BANYAN_BLOB_HASH_LEN];
    char *answer = NULL;
    if (o.blob && banyan_client_blob_put_file(c, o.blob, hash, &err) < 0) {
        code = fail(&err);
    } else if (banyan_client_broadcast(c, (const char *const *)argv + optind,
                                       (size_t)(argc - optind),
                                       o.blob ? hash : NULL, o.timeout_ms,
                                       !o.quiet, &answer, &err) < 0) {
        code = fail(&err);
    } else {
        code = report(answer, &o);
    }
    free(answer);
    banyan_client_close(c);
    return code;
}
