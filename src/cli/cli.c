/* SPDX-License-Identifier: MIT */
/* cli.c - helpers shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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
