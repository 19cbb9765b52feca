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
    "  --allow FILE        public keys of clients, one a line (cat *.pub)\n"
    "  --allow-workers FILE  public keys of workers\n"
    "  --allow-admins FILE public keys that may be both\n"
    "  --insecure          listen off loopback without CURVE: anyone who\n"
    "                      reaches the port may submit and join (on\n"
    "                      loopback the user's token is wanted instead,\n"
    "                      docs/security.md)\n"
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
    OPT_ALLOW, OPT_ALLOW_WORKERS, OPT_ALLOW_ADMINS, OPT_INSECURE,
    OPT_FAIL_INFEASIBLE, OPT_MIN_SCORE, OPT_FANOUT,
};

/* The keys of the allow-lists: clients, workers, admins (on both). */
typedef struct allow_lists {
    const char *file[3];
    char **keys[3];
    char **clients, **workers; /* arrays of borrowed keys */
} allow_lists_t;

static void allow_free(allow_lists_t *a)
{
    for (int i = 0; i < 3; i++)
        banyan_key_list_free(a->keys[i]);
    free(a->clients);
    free(a->workers);
}

/* Read the lists; clients and workers each get admins' keys too.  0 or -1
 * with a sentence. */
static int allow_read(allow_lists_t *a, banyan_error_t *err)
{
    size_t n[3] = {0};
    for (int i = 0; i < 3; i++) {
        if (a->file[i] && !(a->keys[i] = banyan_key_list_read(a->file[i],
                                                              err)))
            return -1;
        while (a->keys[i] && a->keys[i][n[i]])
            n[i]++;
    }
    a->clients = calloc(n[0] + n[2] + 1, sizeof(char *));
    a->workers = calloc(n[1] + n[2] + 1, sizeof(char *));
    if (!a->clients || !a->workers)
        return errprintf(err, "out of memory");
    for (size_t i = 0; i < n[0]; i++)
        a->clients[i] = a->keys[0][i];
    for (size_t i = 0; i < n[1]; i++)
        a->workers[i] = a->keys[1][i];
    for (size_t i = 0; i < n[2]; i++)
        a->clients[n[0] + i] = a->workers[n[1] + i] = a->keys[2][i];
    return 0;
}

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
    uv_timer_t stop;             /* the database failed: stop, exit 3 */
    bool failed;
} run_state_t;

static void stop(run_state_t *r)
{
    log_line("stopping", NULL);
    server_destroy(r->server);
    r->server = NULL;
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&r->sigs[i], NULL);
    uv_close((uv_handle_t *)&r->stop, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    stop(h->data);
}

static void on_stop(uv_timer_t *h)
{
    stop(h->data);
}

/* Called from inside the server's loop: it is destroyed a turn later. */
static void on_failed(void *arg)
{
    run_state_t *r = arg;
    r->failed = true;
    uv_timer_start(&r->stop, on_stop, 0, 0);
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
        {"allow-workers", required_argument, NULL, OPT_ALLOW_WORKERS},
        {"allow-admins", required_argument, NULL, OPT_ALLOW_ADMINS},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"fail-infeasible", no_argument, NULL, OPT_FAIL_INFEASIBLE},
        {"min-score", required_argument, NULL, OPT_MIN_SCORE},
        {"fanout", required_argument, NULL, OPT_FANOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    server_options_t so = {0};
    const char *db = NULL, *key = NULL;
    allow_lists_t allow = {0};
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
        case OPT_ALLOW: allow.file[0] = optarg; break;
        case OPT_ALLOW_WORKERS: allow.file[1] = optarg; break;
        case OPT_ALLOW_ADMINS: allow.file[2] = optarg; break;
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
    bool lists = allow.file[0] || allow.file[1] || allow.file[2];
    if (!!key != lists)
        return cli_usage_error("server", "--key and --allow (or "
                               "--allow-workers, --allow-admins) go "
                               "together");
    if (!msg_endpoint_is_loopback(so.listen) && !key && !insecure)
        return cli_usage_error("server", "refusing to listen on %s without "
                               "--key and --allow (or --insecure)",
                               so.listen);
    banyan_error_t err = {{0}};
    char pub[BANYAN_KEY_LEN + 1], sec[BANYAN_KEY_LEN + 1];
    msg_security_t security = {0};
    if (key) {
        if (banyan_key_read(key, pub, sec, &err) < 0
            || allow_read(&allow, &err) < 0) {
            allow_free(&allow);
            return cli_fail("server", BANYAN_EXIT_USAGE, "%s", err.text);
        }
        security.public_key = pub;
        security.secret_key = sec;
        security.allowed = (const char *const *)allow.clients;
        security.workers = (const char *const *)allow.workers;
        so.sec = &security;
    }
    if (cli_default_db(&db, &err) < 0) {
        allow_free(&allow);
        return cli_fail("server", BANYAN_EXIT_INTERNAL, "%s", err.text);
    }
    so.db_path = db;
    so.log = log_line;
    so.failed = on_failed;

    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    run_state_t r = {0};
    so.log_arg = &r;
    r.server = server_create(&loop, &so, &err);
    if (!r.server) {
        fprintf(stderr, "banyan server: %s\n", err.text);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        allow_free(&allow);
        return errno == EADDRINUSE || errno == EINVAL ? BANYAN_EXIT_USAGE
                                                      : BANYAN_EXIT_INTERNAL;
    }
    printf("banyan server: listening on %s\n", server_endpoint(r.server));
    fflush(stdout);
    uv_timer_init(&loop, &r.stop);
    r.stop.data = &r;
    static const int signums[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        uv_signal_init(&loop, &r.sigs[i]);
        r.sigs[i].data = &r;
        uv_signal_start(&r.sigs[i], on_signal, signums[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    allow_free(&allow);
    return r.failed ? BANYAN_EXIT_INTERNAL : 0;
}
