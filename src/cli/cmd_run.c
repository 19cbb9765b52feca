/* SPDX-License-Identifier: MIT */
/* cmd_run.c - banyan run: GNU Parallel's syntax on banyan's local runner.
 *
 *   banyan run [OPTION]... [--] COMMAND [ARG]... [::: VALUES]... [:::: FILE]
 *
 * Options stop at the first word that is not an option (or after "--");
 * from there on come the command's words up to the first input separator.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "run/run.h"

static const char usage_text[] =
    "Usage: banyan run [OPTION]... [--] COMMAND [ARG]... [::: VALUE...]...\n"
    "Run COMMAND once per input, in parallel, on this machine.\n"
    "\n"
    "Inputs (all combinations of the sources; without any, lines of stdin):\n"
    "  ::: V...      a source of values        :::+ V...   linked to the "
    "previous\n"
    "  :::: FILE     a source read from FILE   ::::+ FILE  linked\n"
    "Replacement strings: {} {1}..{n} {.} {/} {//} {/.} {#} (task) {%} "
    "(slot)\n"
    "\n"
    "Options:\n"
    "  -j, --jobs N          run N tasks at once (default: cores; N% of "
    "cores)\n"
    CLI_TASK_HELP
    "      --resource N=A    a named resource per task (license=1)\n"
    "      --requeue-on-signal  requeue a task killed by a signal banyan "
    "did\n"
    "                        not send (OOM killer), with a larger estimate\n"
    "      --requeue-max N   requeues per task (default 3)\n"
    "      --no-score        skip the 50 ms CPU benchmark at start\n"
    "      --timeout DUR     kill a task's process group after DUR (10, "
    "1.5s, 2m)\n"
    "      --retries N       run a failed task up to N more times\n"
    "      --halt WHEN,fail=N  stop after N failures: WHEN is now (kill "
    "running\n"
    "                        tasks) or soon (let them finish); or never\n"
    "      --joblog FILE     write GNU Parallel's joblog to FILE\n"
    "      --resume          run only the tasks that did not end last time\n"
    "      --resume-failed   ... and those that failed\n"
    "  -k, --keep-order      print output in input order\n"
    "      --tag             prefix output lines with the input values\n"
    "      --results DIR     also write DIR/SEQ/stdout and DIR/SEQ/stderr\n"
    "      --dry-run         print the commands, run nothing\n"
    "      --bar, --eta      progress bar and ETA (on a terminal only)\n"
    "      --db FILE         database (default .banyan/banyan.db)\n"
    "  -h, --help            this text\n"
    "\n"
    "Environment of each task (docs/environment.md): BANYAN_TASK_ID,\n"
    "BANYAN_JOB_ID (and BANYAN_RUN_ID, the same), BANYAN_SLOT;\n"
    "on hosts with GPUs (or BANYAN_GPUS=fake:N): CUDA_VISIBLE_DEVICES,\n"
    "CUDA_DEVICE_ORDER, HIP_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES,\n"
    "BANYAN_GPUS_ASSIGNED.\n"
    "Exit: 0 all succeeded, 1 some failed, 2 bad usage or a task that can\n"
    "never fit, 3 internal error, 128+N interrupted by signal N.\n";

enum {
    OPT_HALT = 256, OPT_JOBLOG,
    OPT_RESUME, OPT_RESUME_FAILED, OPT_TAG, OPT_RESULTS, OPT_DRY_RUN,
    OPT_BAR, OPT_DB, OPT_REQUEUE, OPT_REQUEUE_MAX,
    OPT_NO_SCORE,
    /* --- tmpl: command templates (GNU's quoting and replacement strings) --- */
    OPT_TMPL_PLUS, OPT_TMPL_RPL, OPT_TMPL_PARENS, OPT_TMPL_ER, OPT_TMPL_BNR,
    OPT_TMPL_DNR, OPT_TMPL_BNER, OPT_TMPL_SEQR, OPT_TMPL_SLOTR,
};

static const struct option long_opts[] = {
    {"jobs", required_argument, NULL, 'j'},
    CLI_TASK_OPTIONS,
    {"halt", required_argument, NULL, OPT_HALT},
    {"joblog", required_argument, NULL, OPT_JOBLOG},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"resume-failed", no_argument, NULL, OPT_RESUME_FAILED},
    {"keep-order", no_argument, NULL, 'k'},
    {"tag", no_argument, NULL, OPT_TAG},
    {"results", required_argument, NULL, OPT_RESULTS},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"bar", no_argument, NULL, OPT_BAR},
    {"eta", no_argument, NULL, OPT_BAR},
    {"progress", no_argument, NULL, OPT_BAR},
    {"db", required_argument, NULL, OPT_DB},
    {"requeue-on-signal", no_argument, NULL, OPT_REQUEUE},
    {"requeue-max", required_argument, NULL, OPT_REQUEUE_MAX},
    {"no-score", no_argument, NULL, OPT_NO_SCORE},
    CLI_HOST_OPTIONS,
    /* --- tmpl: command templates --- */
    {"quote", no_argument, NULL, 'q'},
    {"plus", no_argument, NULL, OPT_TMPL_PLUS},
    {"rpl", required_argument, NULL, OPT_TMPL_RPL},
    {"parens", required_argument, NULL, OPT_TMPL_PARENS},
    {"replace", optional_argument, NULL, 'i'},
    {"extensionreplace", required_argument, NULL, OPT_TMPL_ER},
    {"er", required_argument, NULL, OPT_TMPL_ER},
    {"basenamereplace", required_argument, NULL, OPT_TMPL_BNR},
    {"bnr", required_argument, NULL, OPT_TMPL_BNR},
    {"dirnamereplace", required_argument, NULL, OPT_TMPL_DNR},
    {"dnr", required_argument, NULL, OPT_TMPL_DNR},
    {"basenameextensionreplace", required_argument, NULL, OPT_TMPL_BNER},
    {"bner", required_argument, NULL, OPT_TMPL_BNER},
    {"seqreplace", required_argument, NULL, OPT_TMPL_SEQR},
    {"slotreplace", required_argument, NULL, OPT_TMPL_SLOTR},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_jobs(const char *s, uint32_t *jobs)
{
    long v;
    size_t n = strlen(s);
    if (n > 1 && s[n - 1] == '%') {
        char num[32];
        if (n >= sizeof(num))
            return -1;
        memcpy(num, s, n - 1);
        num[n - 1] = '\0';
        if (util_parse_long(num, 1, 100000, &v) < 0)
            return -1;
        v = (long)util_ncpus() * v / 100;
        *jobs = v < 1 ? 1 : (uint32_t)v;
        return 0;
    }
    if (util_parse_long(s, 1, 1000000, &v) < 0)
        return -1;
    *jobs = (uint32_t)v;
    return 0;
}

static int parse_halt(const char *s, run_options_t *o)
{
    if (!strcmp(s, "never")) {
        o->halt = RUN_HALT_NEVER;
        return 0;
    }
    const char *rest;
    if (!strncmp(s, "now,", 4)) {
        o->halt = RUN_HALT_NOW;
        rest = s + 4;
    } else if (!strncmp(s, "soon,", 5)) {
        o->halt = RUN_HALT_SOON;
        rest = s + 5;
    } else {
        return -1;
    }
    long n;
    if (strncmp(rest, "fail=", 5) || util_parse_long(rest + 5, 1, 1L << 30,
                                                     &n) < 0)
        return -1;
    o->halt_fail = (uint32_t)n;
    return 0;
}

/* --- tmpl: command templates --- */

/* The template options; 1 when c was one of them, 0 when not, -1 after a
 * usage error was printed.  --rpl values go to rpl[TMPL_RPL_MAX]. */
#define TMPL_RPL_MAX 256
static int tmpl_option(int c, const char *arg, tmpl_syntax_t *sx,
                       const char **rpl)
{
    switch (c) {
    case 'q': sx->quote = true; return 1;
    case OPT_TMPL_PLUS: sx->plus = true; return 1;
    case 'I': sx->replace = arg; return 1;
    case 'i': sx->replace = arg && *arg ? arg : "{}"; return 1;
    case OPT_TMPL_ER: sx->extensor = arg; return 1;
    case OPT_TMPL_BNR: sx->basename = arg; return 1;
    case OPT_TMPL_DNR: sx->dirname = arg; return 1;
    case OPT_TMPL_BNER: sx->basename_ext = arg; return 1;
    case OPT_TMPL_SEQR: sx->seq = arg; return 1;
    case OPT_TMPL_SLOTR: sx->slot = arg; return 1;
    case OPT_TMPL_PARENS:
        if (strlen(arg) < 2) {
            cli_usage_error("run", "invalid --parens '%s'", arg);
            return -1;
        }
        sx->parens = arg;
        return 1;
    case OPT_TMPL_RPL:
        if (sx->nrpl >= TMPL_RPL_MAX) {
            cli_usage_error("run", "more than %d --rpl", TMPL_RPL_MAX);
            return -1;
        }
        rpl[sx->nrpl++] = arg;
        sx->rpl = rpl;
        return 1;
    default: return 0;
    }
}

static int add_source(void *in, const char *const *values, size_t n,
                      bool file, bool linked, banyan_error_t *error)
{
    if (file)
        return tmpl_inputs_add_file(in, values[0], linked, error);
    return tmpl_inputs_add_values(in, values, n, linked, error);
}

int cmd_run(int argc, char **argv)
{
    run_options_t o = {0};
    o.jobs = (uint32_t)util_ncpus();
    cli_host_init(&o.host);
    o.req.slots = 1;
    const char *db_path = NULL;
    bool want_progress = false;
    banyan_error_t err = {{0}};
    /* --- tmpl: the template's syntax (other helpers may set fields) --- */
    tmpl_syntax_t tsx = {0};
    const char *tsx_rpl[TMPL_RPL_MAX];

    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:j:khqI:i::", long_opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            if (parse_jobs(optarg, &o.jobs) < 0)
                return cli_usage_error("run", "invalid --jobs '%s' (expected a "
                                   "number >= 1 or N%%)", optarg);
            break;
        case OPT_HALT:
            if (parse_halt(optarg, &o) < 0)
                return cli_usage_error("run", "invalid --halt '%s' (expected now,fail=N,"
                                   " soon,fail=N or never)", optarg);
            break;
        case OPT_JOBLOG: o.joblog_path = optarg; break;
        case OPT_RESUME: o.resume = RUN_RESUME; break;
        case OPT_RESUME_FAILED: o.resume = RUN_RESUME_FAILED; break;
        case 'k': o.keep_order = true; break;
        case OPT_TAG: o.tag = true; break;
        case OPT_RESULTS: o.results_dir = optarg; break;
        case OPT_DRY_RUN: o.dry_run = true; break;
        case OPT_BAR: want_progress = true; break;
        case OPT_DB: db_path = optarg; break;
        case OPT_REQUEUE: o.requeue_on_signal = true; break;
        case OPT_REQUEUE_MAX: {
            long n;
            if (util_parse_long(optarg, 1, 1000000, &n) < 0)
                return cli_usage_error("run", "invalid --requeue-max '%s'",
                                       optarg);
            o.requeue_max = (uint32_t)n;
            break;
        }
        case OPT_NO_SCORE: o.no_score = true; break;
        case 'h':
            fputs(usage_text, stdout);
            fputs(cli_host_help, stdout);
            return BANYAN_EXIT_OK;
        default: {
            int tc = tmpl_option(c, optarg, &tsx, tsx_rpl);
            if (tc < 0)
                return BANYAN_EXIT_USAGE;
            if (tc > 0)
                break;
            int code = cli_task_option("run", c, &o.req, &o.timeout_ms,
                                       &o.retries);
            if (code < 0)
                code = cli_host_option("run", c, argv, &o.host);
            if (code != 0)
                return BANYAN_EXIT_USAGE;
            break;
        }
        }
    }
    o.progress = want_progress && isatty(STDERR_FILENO);

    /* The command words, up to the first input separator. */
    int first = optind, i = cli_find_separator(argc, argv, optind);
    if (i == first)   /* tmpl: each input line is a command (GNU) */
        tsx.commands_from_input = true;

    int code = BANYAN_EXIT_USAGE;
    tmpl_t *t = tmpl_parse((const char *const *)argv + first, i - first,
                           &tsx, &err);
    tmpl_inputs_t *in = tmpl_inputs_create();
    util_buf_t text = UTIL_BUF_INIT;
    if (!t || !in || cli_parse_sources(argc, argv, i, add_source, in, &err) < 0
        || tmpl_check_arity(t, tmpl_inputs_arity(in), &err) < 0)
        goto fail;
    util_command_text(&text, (const char *const *)argv + first,
                      (size_t)(i - first));
    o.tmpl = t;
    o.inputs = in;
    o.command_text = text.data;

    if (!o.dry_run && cli_default_db(&db_path, &err) < 0)
        goto fail;
    o.db_path = db_path;
    code = run_local(&o, &err);
    if (code == BANYAN_EXIT_USAGE || code == BANYAN_EXIT_INTERNAL)
        fprintf(stderr, "banyan run: %s\n", err.text);
    goto out;
fail:
    fprintf(stderr, "banyan run: %s\n", err.text[0] ? err.text
                                                    : strerror(errno));
out:
    util_buf_fini(&text);
    tmpl_inputs_destroy(in);
    tmpl_destroy(t);
    return code;
}
