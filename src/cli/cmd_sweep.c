/* SPDX-License-Identifier: MIT */
/* cmd_sweep.c - banyan sweep CONFIG: run or resume an experiment sweep. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_client.h"
#include "local/local.h"
#include "sweep/sweep_run.h"

static const char usage_text[] =
    "Usage: banyan sweep [OPTION]... CONFIG\n"
    "Run the experiments of the sweep described in CONFIG (YAML or JSON,\n"
    "see docs/sweep-config.md), at most max_parallel_experiments at once,\n"
    "each with the GPUs it asks for.  Rerunning the same CONFIG resumes the\n"
    "sweep: finished experiments are not run again.\n"
    "\n"
    "  --db FILE            database (default .banyan/banyan.db)\n"
    "  --results-dir DIR    experiments' folders (default\n"
    "                       .banyan/sweeps/NAME; experiment N in DIR/N)\n"
    "  --max-failures N     stop starting experiments after N failures\n"
    "  --restart            discard the sweep's earlier records first\n"
    "  --requeue-on-signal  requeue an experiment killed by a signal banyan\n"
    "                       did not send (OOM killer)\n"
    "  --requeue-max N      requeues per experiment (default 3)\n"
    "  --bar                progress line on a terminal\n"
    "  --server ENDPOINT    run the experiments on a banyan server (also\n"
    "                       $BANYAN_SERVER); the records stay in --db, and\n"
    "                       workers must see --results-dir, or experiments\n"
    "                       print their metrics on stdout\n"
    "  --local              run locally even when $BANYAN_SERVER is set\n"
    "  --key FILE           own CURVE key pair, for --server\n"
    "  --server-key FILE    the server's public key, for --server\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit: 0 all experiments succeeded, 1 some failed, 2 bad configuration\n"
    "or usage, 3 internal error, 128+N interrupted by signal N.\n";

int cmd_sweep(int argc, char **argv)
{
    enum { OPT_DB = 256, OPT_RESULTS, OPT_MAXFAIL, OPT_RESTART, OPT_BAR,
           OPT_REQUEUE, OPT_REQUEUE_MAX, OPT_LOCAL };
    static const struct option opts[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"results-dir", required_argument, NULL, OPT_RESULTS},
        {"max-failures", required_argument, NULL, OPT_MAXFAIL},
        {"restart", no_argument, NULL, OPT_RESTART},
        {"bar", no_argument, NULL, OPT_BAR},
        {"progress", no_argument, NULL, OPT_BAR},
        {"requeue-on-signal", no_argument, NULL, OPT_REQUEUE},
        {"requeue-max", required_argument, NULL, OPT_REQUEUE_MAX},
        {"local", no_argument, NULL, OPT_LOCAL},
        {"server", required_argument, NULL, CLI_OPT_SERVER},
        {"key", required_argument, NULL, CLI_OPT_KEY},
        {"server-key", required_argument, NULL, CLI_OPT_SERVER_KEY},
        CLI_HOST_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sweep_run_options_t o = {0};
    cli_host_init(&o.host);
    const char *db = NULL;
    bool bar = false, local = false;
    cli_client_opts_t co = {0};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        long n;
        switch (c) {
        case OPT_DB: db = optarg; break;
        case OPT_RESULTS: o.results_dir = optarg; break;
        case OPT_MAXFAIL:
            if (util_parse_long(optarg, 1, 1L << 30, &n) < 0)
                return cli_usage_error("sweep", "invalid --max-failures "
                                       "'%s'", optarg);
            o.max_failures = (uint32_t)n;
            break;
        case OPT_RESTART: o.restart = true; break;
        case OPT_BAR: bar = true; break;
        case OPT_REQUEUE: o.requeue_on_signal = true; break;
        case OPT_REQUEUE_MAX:
            if (util_parse_long(optarg, 1, 1000000, &n) < 0)
                return cli_usage_error("sweep", "invalid --requeue-max "
                                       "'%s'", optarg);
            o.requeue_max = (uint32_t)n;
            break;
        case OPT_LOCAL: local = true; break;
        case CLI_OPT_SERVER:
        case CLI_OPT_KEY:
        case CLI_OPT_SERVER_KEY:
            cli_client_option(&co, c, optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            fputs(cli_host_help, stdout);
            return BANYAN_EXIT_OK;
        default:
            if (cli_host_option("sweep", c, argv, &o.host) != 0)
                return BANYAN_EXIT_USAGE;
            break;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("sweep", "%s", argc == optind
                                                  ? "no configuration file "
                                                    "given"
                                                  : "one configuration file "
                                                    "expected");
    banyan_error_t err = {{0}};
    sweep_config_t *cfg = sweep_config_load(argv[optind], &err);
    if (!cfg)
        return cli_fail("sweep", BANYAN_EXIT_USAGE, "%s", err.text);
    o.cfg = cfg;
    o.progress = bar && isatty(STDERR_FILENO);
    if (cli_default_db(&db, &err) < 0) {
        sweep_config_free(cfg);
        return cli_fail("sweep", BANYAN_EXIT_USAGE, "%s", err.text);
    }
    o.db_path = db;
    const char *server = co.server;
    if (!local && (!server || !*server))
        server = getenv("BANYAN_SERVER");
    int code;
    if (!local && server && *server) {
        banyan_client_options_t copts = {
            .key_file = co.key_file,
            .server_key_file = co.server_key_file,
        };
        code = sweep_run_remote(&o, server, &copts, &err);
    } else {
        code = sweep_run(&o, &err);
    }
    if (code == BANYAN_EXIT_USAGE || code == BANYAN_EXIT_INTERNAL)
        fprintf(stderr, "banyan sweep: %s\n", err.text);
    sweep_config_free(cfg);
    return code;
}
