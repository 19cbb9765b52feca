/* SPDX-License-Identifier: MIT */
/* cmd_server.c - banyan server: the root scheduler of cluster mode.
 *
 *   banyan server [--listen ENDPOINT] [--db FILE] [--heartbeat MS]
 *                 [--crash-limit N] [--grace MS] [--key FILE]
 *                 [--allow FILE] [--insecure] [--fail-infeasible]
 *                 [--min-score N] [--fanout K]
 *
 * Prints "banyan server: listening on ENDPOINT" on stdout once bound (so a
 * script that asked for port 0 can read the port), logs to stderr, and runs
 * until SIGINT or SIGTERM.  A non-loopback endpoint needs CURVE keys and an
 * allow-list unless --insecure is given.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <banyan/client.h>

#include "cli.h"
#include "server/server.h"

static const char usage_text[] =
    "Usage: banyan server [OPTION]...\n"
    "Run the root scheduler: workers (banyan worker) join it, clients\n"
    "(banyan submit, wait, status, ...) send it jobs.\n"
    "\n"
    "  --listen ENDPOINT   where to listen (default tcp://127.0.0.1:7878;\n"
    "                      tcp://127.0.0.1:0 picks a free port)\n"
    "  --db FILE           database (default .banyan/banyan.db)\n"
    "  --heartbeat MS      PING period; a worker silent for 5 is lost\n"
    "                      (default 1000)\n"
    "  --crash-limit N     a task lost with its worker N times fails\n"
    "                      (default 5)\n"
    "  --grace MS          after a restart, wait this long for workers to\n"
    "                      report their tasks (default 15 heartbeats)\n"
    "  --key FILE          the server's CURVE key pair (banyan keygen)\n"
    "  --allow FILE        public keys of workers and clients, one a line\n"
    "  --insecure          listen off loopback without CURVE\n"
    "  --fail-infeasible   fail a job no connected worker can ever fit\n"
    "                      (default: keep it until one joins)\n"
    "  --min-score N       give no work to workers whose capability score\n"
    "                      is below N (about 1000 = one core of a 2026\n"
    "                      laptop); work is spread in proportion to scores\n"
    "  --fanout K          children per node of the tree of workers (2..1024;\n"
    "                      default: chosen from the measured hop latency and\n"
    "                      per-message cost, see docs/tree.md)\n"
    "  -h, --help          this text\n";

enum {
    OPT_LISTEN = 256, OPT_DB, OPT_HEARTBEAT, OPT_CRASH, OPT_GRACE, OPT_KEY,
    OPT_ALLOW, OPT_INSECURE, OPT_FAIL_INFEASIBLE, OPT_MIN_SCORE, OPT_FANOUT,
};

static void log_line(const char *line, void *arg)
{
    (void)arg;
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%H:%M:%S", &tm);
    fprintf(stderr, "%s banyan server: %s\n", when, line);
}

typedef struct run_state {
    server_t *server;
    uv_signal_t sigs[2];
    int signal_seen;
} run_state_t;

static void on_signal(uv_signal_t *h, int signum)
{
    run_state_t *r = h->data;
    r->signal_seen = signum;
    log_line("stopping", NULL);
    server_destroy(r->server);
    r->server = NULL;
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&r->sigs[i], NULL);
}

static int parse_ms(const char *cmd, const char *opt, const char *v,
                    long min, long *out)
{
    if (util_parse_long(v, min, 86400000L, out) < 0)
        return cli_usage_error(cmd, "%s: not a number of milliseconds: '%s'",
                               opt, v);
    return 0;
}

int cmd_server(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"db", required_argument, NULL, OPT_DB},
        {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
        {"crash-limit", required_argument, NULL, OPT_CRASH},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"key", required_argument, NULL, OPT_KEY},
        {"allow", required_argument, NULL, OPT_ALLOW},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"fail-infeasible", no_argument, NULL, OPT_FAIL_INFEASIBLE},
        {"min-score", required_argument, NULL, OPT_MIN_SCORE},
        {"fanout", required_argument, NULL, OPT_FANOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    server_options_t so = {0};
    const char *db = NULL, *key = NULL, *allow = NULL;
    bool insecure = false;
    long v;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case OPT_LISTEN: so.listen = optarg; break;
        case OPT_DB: db = optarg; break;
        case OPT_HEARTBEAT:
            if (parse_ms("server", "--heartbeat", optarg, 10, &v))
                return BANYAN_EXIT_USAGE;
            so.heartbeat_ms = (uint32_t)v;
            break;
        case OPT_CRASH:
            if (util_parse_long(optarg, 1, 1000000, &v) < 0)
                return cli_usage_error("server", "--crash-limit: not a "
                                       "positive number: '%s'", optarg);
            so.crash_limit = (uint32_t)v;
            break;
        case OPT_GRACE:
            if (parse_ms("server", "--grace", optarg, 0, &v))
                return BANYAN_EXIT_USAGE;
            so.grace_ms = v == 0 ? -1 : v;
            break;
        case OPT_KEY: key = optarg; break;
        case OPT_ALLOW: allow = optarg; break;
        case OPT_INSECURE: insecure = true; break;
        case OPT_FAIL_INFEASIBLE: so.fail_infeasible = true; break;
        case OPT_MIN_SCORE: {
            long n;
            if (util_parse_long(optarg, 0, 1000000000L, &n) < 0)
                return cli_usage_error("server", "invalid --min-score '%s'",
                                       optarg);
            so.min_score = (double)n;
            break;
        }
        case OPT_FANOUT:
            if (util_parse_long(optarg, 2, 1024, &v) < 0)
                return cli_usage_error("server", "--fanout: not a number "
                                       "from 2 to 1024: '%s'", optarg);
            so.fanout = (uint32_t)v;
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            return cli_bad_option("server", o, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("server", "unexpected argument '%s'",
                               argv[optind]);
    if (!so.listen)
        so.listen = "tcp://127.0.0.1:7878";
    if (!!key != !!allow)
        return cli_usage_error("server", "--key and --allow go together");
    if (!msg_endpoint_is_loopback(so.listen) && !key && !insecure)
        return cli_usage_error("server", "refusing to listen on %s without "
                               "--key and --allow (or --insecure)",
                               so.listen);
    banyan_error_t err = {{0}};
    char pub[BANYAN_KEY_LEN + 1], sec[BANYAN_KEY_LEN + 1];
    char **allowed = NULL;
    msg_security_t security = {0};
    if (key) {
        if (banyan_key_read(key, pub, sec, &err) < 0 ||
            !(allowed = banyan_key_list_read(allow, &err)))
            return cli_fail("server", BANYAN_EXIT_USAGE, "%s", err.text);
        security.public_key = pub;
        security.secret_key = sec;
        security.allowed = (const char *const *)allowed;
        so.sec = &security;
    }
    if (cli_default_db(&db, &err) < 0) {
        banyan_key_list_free(allowed);
        return cli_fail("server", BANYAN_EXIT_INTERNAL, "%s", err.text);
    }
    so.db_path = db;
    so.log = log_line;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    run_state_t r = {0};
    r.server = server_create(&loop, &so, &err);
    if (!r.server) {
        fprintf(stderr, "banyan server: %s\n", err.text);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        banyan_key_list_free(allowed);
        return errno == EADDRINUSE || errno == EINVAL ? BANYAN_EXIT_USAGE
                                                      : BANYAN_EXIT_INTERNAL;
    }
    printf("banyan server: listening on %s\n", server_endpoint(r.server));
    fflush(stdout);
    static const int signums[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        uv_signal_init(&loop, &r.sigs[i]);
        r.sigs[i].data = &r;
        uv_signal_start(&r.sigs[i], on_signal, signums[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    banyan_key_list_free(allowed);
    return 0;
}
