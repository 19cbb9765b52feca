/* SPDX-License-Identifier: MIT */
/* cmd_worker.c - banyan worker: an engine of cluster mode.
 *
 *   banyan worker --server ENDPOINT [--cpus N] [--mem SIZE] [--gpus LIST]
 *                 [--slots N] [--name NAME] [--noop] [--key FILE
 *                 --server-key FILE] [--relay-bind EP | --no-relay]
 *                 [--cache DIR] [--cache-max SIZE]
 *
 * Options are checked here (exit 2 with one line on a bad one); the worker
 * itself (src/worker) runs on this process's loop until SIGINT, SIGTERM or
 * SIGHUP, then stops cleanly and exits 0.  Connection changes are logged on
 * stderr, one line each.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <banyan/client.h>

#include "cli.h"
#include "worker/worker.h"

enum {
    NOOP_DEFAULT_SLOTS = 100000, /* --noop without --slots */
};

static const char usage_text[] =
    "Usage: banyan worker --server ENDPOINT [OPTION]...\n"
    "Run tasks for a banyan server until stopped (SIGINT, SIGTERM, SIGHUP).\n"
    "The worker keeps its tasks running while the server is away and\n"
    "reconnects when it comes back.\n"
    "\n"
    "Options:\n"
    "      --server ENDPOINT  the server (tcp://HOST:PORT, ipc://PATH);\n"
    "                         default $BANYAN_SERVER\n"
    "      --cpus N           cpus offered (fractions allowed; default: all "
    "cores)\n"
    "      --mem SIZE         memory offered (e.g. 64G; default: MemTotal)\n"
    "      --gpus LIST        GPUs offered: auto (default: all found,\n"
    "                         honouring BANYAN_GPUS), none, or device "
    "indices\n"
    "                         or UUIDs (0,2)\n"
    "      --slots N          tasks at once (default: the cpus, rounded up;\n"
    "                         with --noop, 100000)\n"
    "      --resource N=A     a named resource offered (license=2); may be\n"
    "                         repeated.  Tasks that need it (submit\n"
    "                         --resource) run here, A units at once\n"
    "      --name NAME        name shown by banyan status (default: host "
    "name)\n"
    "      --key FILE         this worker's CURVE key pair (banyan keygen)\n"
    "      --server-key FILE  the server's public key (needed with --key)\n"
    "      --relay-bind EP    where children of this worker connect in the\n"
    "                         tree (default: ipc:// in a private directory\n"
    "                         for an ipc:// server, else tcp://<the address\n"
    "                         that reaches the server>:0)\n"
    "      --no-relay         accept no children: attach to the server only\n"
    "      --cache DIR        blob cache (default: a private directory,\n"
    "                         removed at exit)\n"
    "      --cache-max SIZE   bound on the blob cache (default: none)\n"
    "      --noop             zero-worker mode: complete every task at once\n"
    "                         without running it (exit 0).  Only for\n"
    "                         measuring the scheduler's own overhead.\n"
    "                         Nothing runs, so slots do not throttle it:\n"
    "                         it offers 100000 unless --slots is given.\n"
    "  -h, --help             this text\n"
    "\n"
    "Environment of each task: BANYAN_TASK_ID (the task's number in its\n"
    "job), BANYAN_JOB_ID,\n"
    "BANYAN_SLOT, BANYAN_WORKER (the --name), BANYAN_BLOB_<i> (the files of\n"
    "the job's blobs), the job's environment, and\n"
    "on workers with GPUs:\n"
    "CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER, HIP_VISIBLE_DEVICES,\n"
    "ROCR_VISIBLE_DEVICES, BANYAN_GPUS_ASSIGNED.\n"
    "Exit: 0 stopped cleanly, 2 bad usage, 3 internal error.\n";

enum {
    OPT_SERVER = 256, OPT_CPUS, OPT_MEM, OPT_GPUS, OPT_SLOTS, OPT_NAME,
    OPT_NOOP, OPT_KEY, OPT_SERVER_KEY, OPT_RELAY_BIND,
    OPT_NO_RELAY, OPT_CACHE, OPT_CACHE_MAX, OPT_RESOURCE,
    NSIGNALS = 3,
    STATUS_MS = 250,
    SCORE_BUDGET_MS = 100,
};

static const struct option long_opts[] = {
    {"server", required_argument, NULL, OPT_SERVER},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"mem", required_argument, NULL, OPT_MEM},
    {"gpus", required_argument, NULL, OPT_GPUS},
    {"slots", required_argument, NULL, OPT_SLOTS},
    {"resource", required_argument, NULL, OPT_RESOURCE},
    {"name", required_argument, NULL, OPT_NAME},
    {"noop", no_argument, NULL, OPT_NOOP},
    {"key", required_argument, NULL, OPT_KEY},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"relay-bind", required_argument, NULL, OPT_RELAY_BIND},
    {"no-relay", no_argument, NULL, OPT_NO_RELAY},
    {"cache", required_argument, NULL, OPT_CACHE},
    {"cache-max", required_argument, NULL, OPT_CACHE_MAX},
    CLI_HOST_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct cmd {
    uv_loop_t loop;
    worker_t *w;
    uv_signal_t sigs[NSIGNALS];
    uv_timer_t status;
    worker_stats_t last;       /* what was last logged */
    const char *endpoint;
} cmd_t;

/* --------------------------------------------------------------- options */

typedef struct args {
    worker_options_t o;
    const char *gpus;
    res_request_t res;          /* --resource, checked as submit's are */
    const char *key_file;
    const char *server_key_file;
    char public_key[41], secret_key[41], server_key[41];
} args_t;

static int parse_args(int argc, char **argv, args_t *a, bool *help)
{
    long v;
    uint64_t bytes;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER:
            a->o.endpoint = optarg;
            break;
        case OPT_CPUS:
            if (util_parse_milli(optarg, &a->o.cpus_milli) < 0 ||
                a->o.cpus_milli == 0)
                return cli_usage_error("worker", "bad --cpus '%s'", optarg);
            break;
        case OPT_MEM:
            if (util_parse_size(optarg, &bytes) < 0 || bytes == 0)
                return cli_usage_error("worker", "bad --mem '%s'", optarg);
            a->o.mem_bytes = bytes;
            break;
        case OPT_GPUS:
            a->gpus = optarg;
            break;
        case OPT_SLOTS:
            if (util_parse_long(optarg, 1, 1000000, &v) < 0)
                return cli_usage_error("worker", "bad --slots '%s'", optarg);
            a->o.slots = (uint32_t)v;
            break;
        case OPT_RESOURCE: {
            banyan_error_t err;
            if (res_request_add_custom(&a->res, optarg, &err) < 0)
                return cli_usage_error("worker", "--resource: %s", err.text);
            a->o.ncustom = a->res.ncustom;
            memcpy(a->o.custom, a->res.custom, sizeof(a->o.custom));
            break;
        }
        case OPT_NAME:
            if (!*optarg)
                return cli_usage_error("worker", "empty --name");
            a->o.name = optarg;
            break;
        case OPT_NOOP:
            a->o.noop = true;
            break;
        case OPT_KEY:
            a->key_file = optarg;
            break;
        case OPT_SERVER_KEY:
            a->server_key_file = optarg;
            break;
        case OPT_RELAY_BIND:
            if (!*optarg)
                return cli_usage_error("worker", "empty --relay-bind");
            a->o.relay_bind = optarg;
            break;
        case OPT_NO_RELAY:
            a->o.no_relay = true;
            break;
        case OPT_CACHE:
            if (!*optarg)
                return cli_usage_error("worker", "empty --cache");
            a->o.cache_dir = optarg;
            break;
        case OPT_CACHE_MAX:
            if (util_parse_size(optarg, &bytes) < 0 || bytes == 0)
                return cli_usage_error("worker", "bad --cache-max '%s'",
                                       optarg);
            a->o.cache_max_bytes = bytes;
            break;
        case 'h':
            *help = true;
            return 0;
        default:
            if (cli_host_option("worker", c, argv, &a->o.host) != 0)
                return BANYAN_EXIT_USAGE;
            break;
        }
    }
    if (optind < argc)
        return cli_usage_error("worker", "unexpected argument '%s'",
                               argv[optind]);
    return 0;
}

static int check_args(args_t *a, gpu_info_t *gpus)
{
    banyan_error_t err = {{0}};
    if (!a->o.endpoint || !*a->o.endpoint)
        a->o.endpoint = getenv("BANYAN_SERVER");
    if (!a->o.endpoint || !*a->o.endpoint)
        return cli_usage_error("worker", "no server: use --server ENDPOINT "
                                         "or set BANYAN_SERVER");
    if (a->o.no_relay && a->o.relay_bind)
        return cli_usage_error("worker", "--relay-bind and --no-relay "
                                         "exclude each other");
    if (!a->key_file != !a->server_key_file)
        return cli_usage_error("worker", "--key and --server-key go "
                                         "together");
    if (a->key_file) {
        if (banyan_key_read(a->key_file, a->public_key, a->secret_key,
                            &err) < 0 ||
            banyan_key_read(a->server_key_file, a->server_key, NULL, &err) < 0)
            return cli_usage_error("worker", "%s", err.text);
        a->o.public_key = a->public_key;
        a->o.secret_key = a->secret_key;
        a->o.server_key = a->server_key;
    }
    int n = worker_gpus_select(a->gpus, gpus, GPU_MAX, &err);
    if (n < 0)
        return cli_usage_error("worker", "--gpus: %s", err.text);
    a->o.ngpus = n;
    a->o.gpus = gpus;
    /* A noop worker runs nothing: a slot count from the cpus would only
     * keep the scheduler's pipeline short (a round trip per few tasks). */
    if (a->o.noop && a->o.slots == 0)
        a->o.slots = NOOP_DEFAULT_SLOTS;
    return 0;
}

/* ------------------------------------------------------------------ loop */

static void log_changes(cmd_t *c)
{
    worker_stats_t st;
    worker_stats(c->w, &st);
    if (st.back_to_root > c->last.back_to_root)
        fprintf(stderr, "banyan worker: lost parent node; back to %s\n",
                c->endpoint);
    if (st.redirects > c->last.redirects)
        fprintf(stderr, "banyan worker: redirected below node %u as node "
                        "%u\n",
                st.parent_node, st.node);
    if (st.welcomes > c->last.welcomes && st.parent_node)
        fprintf(stderr, "banyan worker: connected to node %u as engine %u "
                        "(server epoch %llu)\n",
                st.parent_node, st.engine_id,
                (unsigned long long)st.server_epoch);
    else if (st.welcomes > c->last.welcomes)
        fprintf(stderr, "banyan worker: connected to %s as engine %u "
                        "(server epoch %llu)\n",
                c->endpoint, st.engine_id,
                (unsigned long long)st.server_epoch);
    if (st.children_lost > c->last.children_lost)
        fprintf(stderr, "banyan worker: lost %llu child node%s; %u "
                        "attached\n",
                (unsigned long long)(st.children_lost -
                                     c->last.children_lost),
                st.children_lost - c->last.children_lost == 1 ? "" : "s",
                st.children);
    if (st.server_lost > c->last.server_lost &&
        st.back_to_root == c->last.back_to_root)
        fprintf(stderr, "banyan worker: lost the server; %llu task%s "
                        "running, reconnecting\n",
                (unsigned long long)st.tasks_running,
                st.tasks_running == 1 ? "" : "s");
    c->last = st;
}

static void on_log(const char *line, void *arg)
{
    (void)arg;
    fprintf(stderr, "banyan worker: %s\n", line);
}

static void on_status(uv_timer_t *h)
{
    log_changes(h->data);
}

static void on_done(worker_t *w, void *arg)
{
    (void)w;
    cmd_t *c = arg;
    for (int i = 0; i < NSIGNALS; i++)
        uv_close((uv_handle_t *)&c->sigs[i], NULL);
    uv_close((uv_handle_t *)&c->status, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    cmd_t *c = h->data;
    worker_stats_t st;
    worker_stats(c->w, &st);
    if (st.state != WORKER_STOPPING && st.tasks_running > 0)
        fprintf(stderr, "banyan worker: %s: stopping, interrupting %llu "
                        "running task%s\n",
                strsignal(signum), (unsigned long long)st.tasks_running,
                st.tasks_running == 1 ? "" : "s");
    else if (st.state != WORKER_STOPPING)
        fprintf(stderr, "banyan worker: %s: stopping\n", strsignal(signum));
    worker_stop(c->w);
}

int cmd_worker(int argc, char **argv)
{
    args_t a = {0};
    cli_host_init(&a.o.host);
    bool help = false;
    int rc = parse_args(argc, argv, &a, &help);
    if (rc != 0)
        return rc;
    if (help) {
        fputs(usage_text, stdout);
        fputs(cli_host_help, stdout);
        return 0;
    }
    gpu_info_t gpus[GPU_MAX];
    if ((rc = check_args(&a, gpus)) != 0)
        return rc;

    static const int signums[NSIGNALS] = {SIGINT, SIGTERM, SIGHUP};
    cmd_t c = {.endpoint = a.o.endpoint};
    if (uv_loop_init(&c.loop) < 0)
        return cli_fail("worker", BANYAN_EXIT_INTERNAL,
                        "cannot create the event loop");
    a.o.score_budget_ms = SCORE_BUDGET_MS;
    a.o.log = on_log;
    a.o.done = on_done;
    a.o.done_arg = &c;
    banyan_error_t err = {{0}};
    c.w = worker_create(&c.loop, &a.o, &err);
    if (!c.w) {
        int e = errno;
        fprintf(stderr, "banyan worker: %s\n", err.text);
        uv_loop_close(&c.loop);
        return e == EINVAL || e == EPROTONOSUPPORT ? BANYAN_EXIT_USAGE
                                                   : BANYAN_EXIT_INTERNAL;
    }
    for (int i = 0; i < NSIGNALS; i++) {
        uv_signal_init(&c.loop, &c.sigs[i]);
        c.sigs[i].data = &c;
        uv_signal_start(&c.sigs[i], on_signal, signums[i]);
    }
    uv_timer_init(&c.loop, &c.status);
    c.status.data = &c;
    uv_timer_start(&c.status, on_status, STATUS_MS, STATUS_MS);
    uv_run(&c.loop, UV_RUN_DEFAULT);

    worker_stats_t st;
    worker_stats(c.w, &st);
    if (st.unacked_entries > 0)
        fprintf(stderr, "banyan worker: %llu result%s never acknowledged "
                        "by the server\n",
                (unsigned long long)st.unacked_entries,
                st.unacked_entries == 1 ? " was" : "s were");
    worker_destroy(c.w);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    return 0;
}
