/* SPDX-License-Identifier: MIT */
/* cli_host.c - the host-level options of an engine, parsed once for
 * `banyan run`, `banyan sweep` and `banyan worker`.
 *
 * Each of them runs tasks through one engine (src/engine), so the options
 * that shape an engine (memory reserve, limit and critical levels,
 * learnt estimates, fair sharing, the kill grace) are spelled, defaulted
 * and checked here and fill an engine_options_t directly: no command
 * copies them field by field.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <getopt.h>

#include "cli.h"

const char cli_host_help[] =
    "\nHost options (the same for run, sweep and worker; docs/resources.md):\n"
    "      --mem-reserve SIZE  start tasks without --mem only while this "
    "much\n"
    "                        memory stays available (default 5% of RAM, "
    "max 2G)\n"
    "      --mem-group NAME  learn memory estimates under NAME (default:"
    " the\n"
    "                        command); tasks without --mem are admitted "
    "against\n"
    "                        max(mean + 2 sd, largest) of the group's peaks\n"
    "      --mem-default SIZE  estimate until 3 tasks were measured (256M)\n"
    "      --mem-total SIZE  memory tasks may be charged (default: RAM)\n"
    "      --no-mem-multiplex  charge tasks without --mem their estimate "
    "until\n"
    "                        they end (default: a task whose peak has "
    "settled\n"
    "                        is charged that peak)\n"
    "      --mem-limit SIZE  kill a task whose process tree exceeds SIZE\n"
    "      --mem-critical SIZE  below this much available memory, "
    "suspend\n"
    "                        the youngest task (resume above the reserve)\n"
    "      --on-critical suspend|kill  ... or kill it (run and sweep "
    "requeue it)\n"
    "      --no-share        do not share the host's cores with other "
    "banyans\n"
    "      --share-file FILE  the arbitration file (default "
    "/dev/shm/banyan-share)\n"
    "      --share-cpus N    cores to divide between instances (default: "
    "all)\n"
    "      --kill-grace DUR  SIGTERM -> SIGKILL delay (default 2s)\n";

void cli_host_init(engine_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->mem_reserve_bytes = cli_default_mem_reserve();
    o->share = true;
    o->kill_grace_ms = 2000;
}

/* The option's spelling, for messages. */
static const char *name_of(int c)
{
    static const struct option opts[] = {CLI_HOST_OPTIONS, {0, 0, 0, 0}};
    for (const struct option *p = opts; p->name; p++)
        if (p->val == c)
            return p->name;
    return "?";
}

int cli_host_option(const char *cmd, int c, char **argv,
                    engine_options_t *o)
{
    const char *arg = optarg;
    char opt[40];
    snprintf(opt, sizeof(opt), "--%s", name_of(c));
    uint64_t v;
    int64_t ms;
    long n;
    switch (c) {
    case CLI_OPT_MEM_RESERVE:
        if (util_parse_size(arg, &o->mem_reserve_bytes) < 0)
            return cli_usage_error(cmd, "invalid %s '%s'", opt, arg);
        return 0;
    case CLI_OPT_MEM_DEFAULT:
    case CLI_OPT_MEM_TOTAL:
    case CLI_OPT_MEM_LIMIT:
    case CLI_OPT_MEM_CRITICAL:
        if (util_parse_size(arg, &v) < 0 || v == 0)
            return cli_usage_error(cmd, "invalid %s '%s' (expected a size "
                                   "like 512M or 2G)", opt, arg);
        if (c == CLI_OPT_MEM_DEFAULT)
            o->mem_default_bytes = v;
        else if (c == CLI_OPT_MEM_TOTAL)
            o->mem_bytes = v;
        else if (c == CLI_OPT_MEM_LIMIT)
            o->mem_limit_bytes = v;
        else
            o->mem_critical_bytes = v;
        return 0;
    case CLI_OPT_MEM_GROUP:
        if (!est_group_is_valid(arg))
            return cli_usage_error(cmd, "invalid %s '%s'", opt, arg);
        o->group = arg;
        return 0;
    case CLI_OPT_NO_MUX:
        o->mem_no_multiplex = true;
        return 0;
    case CLI_OPT_ON_CRITICAL:
        if (!strcmp(arg, "kill"))
            o->on_critical = ENGINE_CRITICAL_KILL;
        else if (!strcmp(arg, "suspend"))
            o->on_critical = ENGINE_CRITICAL_SUSPEND;
        else
            return cli_usage_error(cmd, "invalid %s '%s' (expected suspend "
                                   "or kill)", opt, arg);
        return 0;
    case CLI_OPT_NO_SHARE:
        o->share = false;
        return 0;
    case CLI_OPT_SHARE_FILE:
        if (!*arg)
            return cli_usage_error(cmd, "empty %s", opt);
        o->share_path = arg;
        return 0;
    case CLI_OPT_SHARE_CPUS:
        if (util_parse_long(arg, 1, 1000000, &n) < 0)
            return cli_usage_error(cmd, "invalid %s '%s'", opt, arg);
        o->share_cpus = (uint32_t)n;
        return 0;
    case CLI_OPT_KILL_GRACE:
        if (util_parse_duration_ms(arg, &ms) < 0 || ms <= 0)
            return cli_usage_error(cmd, "invalid %s '%s' (expected a "
                                   "duration like 10, 1.5s or 2m)", opt,
                                   arg);
        o->kill_grace_ms = ms;
        return 0;
    }
    return cli_bad_option(cmd, c, argv);
}
