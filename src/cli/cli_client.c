/* SPDX-License-Identifier: MIT */
/* cli_client.c - connection options, connection and exit codes shared by
 * the client subcommands.
 *
 * Every client command connects with catch_signals set, so Ctrl-C during a
 * request or a long wait ends the call; the command then closes the
 * connection (the server is told BYE) and exits 130 instead of dying with
 * a request half done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_client.h"

bool cli_client_option(cli_client_opts_t *o, int c, const char *arg)
{
    switch (c) {
    case CLI_OPT_SERVER: o->server = arg; return true;
    case CLI_OPT_KEY: o->key_file = arg; return true;
    case CLI_OPT_SERVER_KEY: o->server_key_file = arg; return true;
    case CLI_OPT_JSON: o->json = true; return true;
    default: return false;
    }
}

int cli_client_getopt(const char *cmd, int argc, char **argv,
                      cli_client_opts_t *o, const char *usage_text,
                      const struct option *opts, const char *shortopts,
                      cli_option_fn own, void *ctx)
{
    static const struct option shared[] = {
        CLI_CLIENT_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, shortopts ? shortopts : "+:h",
                            opts ? opts : shared, NULL)) != -1) {
        if (cli_client_option(o, c, optarg))
            continue;
        if (c == 'h') {
            fputs(usage_text, stdout);
            return BANYAN_EXIT_OK;
        }
        if (c == '?' || c == ':' || !own)
            return cli_bad_option(cmd, c, argv);
        int code = own(c, optarg, ctx);
        if (code)
            return code;
    }
    return -1;
}

banyan_client_t *cli_client_connect(const char *cmd,
                                    const cli_client_opts_t *o, int *code)
{
    const char *ep = o->server;
    if (!ep || !*ep)
        ep = getenv("BANYAN_SERVER");
    if (!ep || !*ep)
        ep = BANYAN_DEFAULT_SERVER;
    banyan_client_options_t opts = {
        .key_file = o->key_file,
        .server_key_file = o->server_key_file,
        .catch_signals = true,
    };
    banyan_error_t err = {{0}};
    banyan_client_t *c = banyan_client_connect(ep, &opts, &err);
    if (!c)
        *code = cli_fail(cmd, errno == EINVAL || errno == ENOENT
                                  ? BANYAN_EXIT_USAGE
                                  : BANYAN_EXIT_INTERNAL,
                         "%s", err.text);
    return c;
}

int cli_client_fail(const char *cmd, const banyan_error_t *err)
{
    int e = errno;
    if (e == EINTR)
        return 130;
    return cli_fail(cmd,
                    e == ENOENT || e == EINVAL ? BANYAN_EXIT_USAGE
                                               : BANYAN_EXIT_INTERNAL,
                    "%s", err->text[0] ? err->text : strerror(e));
}

int cli_check_upload(const char *cmd, const char *opt, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0 || access(path, R_OK) < 0)
        return cli_usage_error(cmd, "cannot read %s '%s': %s", opt, path,
                               strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return cli_usage_error(cmd, "%s '%s' is not a regular file", opt,
                               path);
    return 0;
}

int cli_parse_job(const char *cmd, const char *what, const char *s,
                  uint32_t *job)
{
    long v;
    if (util_parse_long(s, 1, (long)UINT32_MAX, &v) < 0)
        return cli_usage_error(cmd, "invalid %s '%s'", what, s);
    *job = (uint32_t)v;
    return 0;
}

void cli_print_job_state(const banyan_job_state_t *st, bool json)
{
    if (json) {
        json_t *j = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "job",
                              (json_int_t)st->job, "state", st->state,
                              "ntasks", (json_int_t)st->ntasks, "pending",
                              (json_int_t)st->pending, "running",
                              (json_int_t)st->running, "ok",
                              (json_int_t)st->ok, "failed",
                              (json_int_t)st->failed);
        cli_print_json(j, JSON_COMPACT);
        json_decref(j);
        return;
    }
    printf("job %u %s: %llu task%s, %llu ok, %llu failed", st->job,
           st->state[0] ? st->state : "?", (unsigned long long)st->ntasks,
           st->ntasks == 1 ? "" : "s", (unsigned long long)st->ok,
           (unsigned long long)st->failed);
    uint64_t ended = st->ok + st->failed;
    if (banyan_job_state_is_final(st) && ended < st->ntasks)
        printf(", %llu not run", (unsigned long long)(st->ntasks - ended));
    else if (st->pending || st->running)
        printf(", %llu running, %llu pending",
               (unsigned long long)st->running,
               (unsigned long long)st->pending);
    putchar('\n');
}

int cli_job_exit_code(const banyan_job_state_t *st)
{
    return !strcmp(st->state, "done") && st->failed == 0 &&
                   st->ok == st->ntasks
               ? BANYAN_EXIT_OK
               : BANYAN_EXIT_FAILED;
}

json_t *cli_client_query(const char *cmd, banyan_client_t *c,
                         const char *what, json_t *args, int *code)
{
    char *text = args ? json_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    banyan_error_t err = {{0}};
    char *answer = NULL;
    int rc = banyan_client_query(c, what, text ? text : "{}", &answer, &err);
    free(text);
    if (rc < 0) {
        *code = cli_client_fail(cmd, &err);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loads(answer, JSON_DECODE_ANY, &jerr);
    free(answer);
    if (!j)
        *code = cli_fail(cmd, BANYAN_EXIT_INTERNAL,
                         "the server's answer is not JSON: %s", jerr.text);
    return j;
}

void cli_print_json(const json_t *j, size_t flags)
{
    json_dumpf(j, stdout, flags | JSON_ENCODE_ANY);
    putchar('\n');
}

static int by_node(const void *a, const void *b)
{
    long long x = cli_json_int(*(json_t *const *)a, "node", -1);
    long long y = cli_json_int(*(json_t *const *)b, "node", -1);
    return x < y ? -1 : x > y;
}

json_t **cli_json_by_node(const json_t *array)
{
    size_t n = json_array_size(array);
    json_t **v = malloc((n ? n : 1) * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(array, i);
    qsort(v, n, sizeof(*v), by_node);
    return v;
}

long long cli_json_int(const json_t *o, const char *key, long long dflt)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return dflt;
}

const char *cli_json_str(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}
