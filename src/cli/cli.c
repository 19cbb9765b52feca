/* SPDX-License-Identifier: MIT */
/* cli.c - helpers shared by the subcommands. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_input.h"

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "banyan %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'banyan %s --help' for more information.\n", cmd);
    return BANYAN_EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
    if (c == ':')
        return cli_usage_error(cmd, "option '%s' needs a value",
                               argv[optind - 1]);
    return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int cli_fail(const char *cmd, int code, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    fprintf(stderr, "banyan %s: %s\n", cmd, text);
    return code;
}

uint64_t cli_default_mem_reserve(void)
{
    uint64_t total = 0;
    util_meminfo(&total, NULL);
    uint64_t reserve = total / 20;
    return reserve > (2ULL << 30) ? 2ULL << 30 : reserve;
}

int cli_default_db(const char **db, banyan_error_t *error)
{
    if (*db)
        return 0;
    if (util_mkdir_p(".banyan", 0700) < 0)
        return errprintf(error, "cannot create directory '.banyan': %s",
                         strerror(errno));
    *db = ".banyan/banyan.db";
    return 0;
}

static int run_id_of(const store_run_t *run, void *arg)
{
    *(int64_t *)arg = run->id;
    return 1;
}

int64_t cli_run_id(store_t *st, const char *run, bool look_up)
{
    int64_t id = 0;
    long n;
    if (!strcmp(run, "last")) {
        store_runs_foreach(st, 0, 1, run_id_of, &id);
        return id;
    }
    if (util_parse_long(run, 1, LONG_MAX, &n) < 0)
        return -1;
    if (look_up && store_runs_foreach(st, n, 1, run_id_of, &id) != 1)
        return 0;
    return n;
}

/* ------------------------------------------------- command and inputs */

/* The separators (GNU's --arg-sep and --arg-file-sep). */
static const char *arg_sep = ":::", *file_sep = "::::";

void cli_set_separators(const char *args, const char *files)
{
    arg_sep = args ? args : ":::";
    file_sep = files ? files : "::::";
}

/* True when w is sep, or sep and "+" (*linked, may be NULL). */
static bool is_sep(const char *w, const char *sep, bool *linked)
{
    size_t n = strlen(sep);
    if (strncmp(w, sep, n) != 0 || (w[n] && strcmp(w + n, "+") != 0))
        return false;
    if (linked)
        *linked = w[n] == '+';
    return true;
}

static bool is_separator(const char *w)
{
    return is_sep(w, arg_sep, NULL) || is_sep(w, file_sep, NULL);
}

int cli_find_separator(int argc, char **argv, int i)
{
    while (i < argc && !is_separator(argv[i]))
        i++;
    return i;
}

int cli_parse_sources(int argc, char **argv, int i, cli_source_fn add,
                      void *ctx, banyan_error_t *error)
{
    static const char *const stdin_file[] = {"-"};
    if (i == argc)
        return add(ctx, stdin_file, 1, true, false, error);
    const char *const *words = (const char *const *)argv;
    while (i < argc) {
        const char *sep = argv[i++];
        bool linked = false, file = is_sep(sep, file_sep, &linked);
        if (!file)
            is_sep(sep, arg_sep, &linked);
        int start = i;
        i = cli_find_separator(argc, argv, i);
        if (!file) {
            if (add(ctx, words + start, (size_t)(i - start), false, linked,
                    error) < 0)
                return -1;
            continue;
        }
        if (i == start)
            return errprintf(error, "'%s' needs a file name", sep);
        for (int f = start; f < i; f++)
            if (add(ctx, words + f, 1, true, linked && f == start,
                    error) < 0)
                return -1;
    }
    return 0;
}

/* ------------------------------------------------------- task options */

int cli_task_option(const char *cmd, int c, res_request_t *req,
                    int64_t *timeout_ms, uint32_t *retries)
{
    banyan_error_t err = {{0}};
    long n;
    switch (c) {
    case CLI_OPT_CPUS:
        if (util_parse_milli(optarg, &req->cpus_milli) < 0)
            return cli_usage_error(cmd, "invalid --cpus '%s' (expected a "
                                   "number like 2 or 0.5)", optarg);
        return 0;
    case CLI_OPT_MEM:
        if (util_parse_size(optarg, &req->mem_bytes) < 0 ||
            req->mem_bytes == 0)
            return cli_usage_error(cmd, "invalid --mem '%s' (expected a "
                                   "size like 512M or 2G)", optarg);
        return 0;
    case CLI_OPT_GPUS:
        if (res_parse_gpus(optarg, &req->gpus_milli, &err) < 0)
            return cli_usage_error(cmd, "--gpus: %s", err.text);
        return 0;
    case CLI_OPT_RESOURCE:
        if (res_request_add_custom(req, optarg, &err) < 0)
            return cli_usage_error(cmd, "--resource: %s", err.text);
        return 0;
    case CLI_OPT_TIMEOUT:
        if (util_parse_duration_ms(optarg, timeout_ms) < 0 ||
            *timeout_ms <= 0)
            return cli_usage_error(cmd, "invalid --timeout '%s' (expected "
                                   "a duration like 10, 1.5s or 2m)",
                                   optarg);
        return 0;
    case CLI_OPT_RETRIES:
        if (util_parse_long(optarg, 0, 1000000, &n) < 0)
            return cli_usage_error(cmd, "invalid --retries '%s'", optarg);
        *retries = (uint32_t)n;
        return 0;
    }
    return -1;
}
