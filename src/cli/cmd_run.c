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

/* --- pipe: GNU Parallel's --pipe family (src/run/run_pipe.c) --- */
#define PIPE_HELP                                                            \
    "\n"                                                                     \
    "Blocks of stdin as the tasks' stdin (GNU Parallel's --pipe):\n"         \
    "      --pipe            cut stdin into blocks, one task per block\n"    \
    "      --block SIZE      block size (default 1M; k=1000, K=1024, M, G)\n" \
    "      --recend STR      a record ends with STR (default \\n)\n"        \
    "      --recstart STR    a record starts with STR\n"                     \
    "      --regexp          --recstart/--recend are regular expressions\n"  \
    "      --rrs             remove the record separators from blocks\n"    \
    "  -N n, -n n            n records per block; -L n: n-line records\n"    \
    "      --header SPEC     repeat the header (: = 1 line, N lines) to\n"   \
    "                        every block\n"                                   \
    "      --pipepart -a FILE  cut FILE by offset instead of stdin\n"        \
    "      --roundrobin      -j tasks, each gets every -j-th block\n"        \
    "      --cat, --fifo     {} is the block as a file, or a fifo\n"         \
    "      --tee             every task (one per value) gets all of stdin\n"  \
    "      --group-by COL    never split lines with the same COL (number,\n" \
    "                        or name in the first line; --colsep SEP)\n"

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
    PIPE_HELP
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
    /* --- pipe: the --pipe family --- */
    OPT_PIPE, OPT_BLOCK, OPT_RECSTART, OPT_RECEND, OPT_REGEXP, OPT_RRS,
    OPT_PIPEPART, OPT_ROUNDROBIN, OPT_CAT, OPT_FIFO, OPT_TEE, OPT_HEADER,
    OPT_MAX_LINES, OPT_GROUP_BY,
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
    /* --- pipe: the --pipe family --- */
    {"pipe", no_argument, NULL, OPT_PIPE},
    {"spreadstdin", no_argument, NULL, OPT_PIPE},
    {"block", required_argument, NULL, OPT_BLOCK},
    {"block-size", required_argument, NULL, OPT_BLOCK},
    {"blocksize", required_argument, NULL, OPT_BLOCK},
    {"recstart", required_argument, NULL, OPT_RECSTART},
    {"recend", required_argument, NULL, OPT_RECEND},
    {"regexp", no_argument, NULL, OPT_REGEXP},
    {"remove-rec-sep", no_argument, NULL, OPT_RRS},
    {"removerecsep", no_argument, NULL, OPT_RRS},
    {"rrs", no_argument, NULL, OPT_RRS},
    {"pipepart", no_argument, NULL, OPT_PIPEPART},
    {"pipe-part", no_argument, NULL, OPT_PIPEPART},
    {"roundrobin", no_argument, NULL, OPT_ROUNDROBIN},
    {"round-robin", no_argument, NULL, OPT_ROUNDROBIN},
    {"round", no_argument, NULL, OPT_ROUNDROBIN},
    {"cat", no_argument, NULL, OPT_CAT},
    {"fifo", no_argument, NULL, OPT_FIFO},
    {"tee", no_argument, NULL, OPT_TEE},
    {"header", required_argument, NULL, OPT_HEADER},
    {"max-args", required_argument, NULL, 'n'},
    {"max-replace-args", required_argument, NULL, 'N'},
    {"max-lines", required_argument, NULL, OPT_MAX_LINES},
    {"arg-file", required_argument, NULL, 'a'},
    {"group-by", required_argument, NULL, OPT_GROUP_BY},
    {"groupby", required_argument, NULL, OPT_GROUP_BY},
    {"colsep", required_argument, NULL, 'C'},
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

/* --- pipe: option values; -N/-n/-L/-a/--header are also the inputs'
 * options: at the merge, their case labels call pipe_option() too. --- */
typedef struct pipe_cli {
    run_pipe_options_t po;
    bool pipepart;
    bool max_replace;        /* -N (GNU's --max-replace-args) was given */
    const char *arg_file;    /* -a */
} pipe_cli_t;

static int pipe_count(const char *opt, const char *s, uint64_t *out)
{
    double v;
    if (run_pipe_parse_size(s, &v) < 0 || v < 0 || v > 1e15)
        return cli_usage_error("run", "invalid %s '%s' (expected a number)",
                               opt, s);
    *out = (uint64_t)v;
    return 0;
}

/* 0 when c is one of the family's options (parsed into pc), 1 when it is
 * not, BANYAN_EXIT_USAGE for a bad value. */
static int pipe_option(pipe_cli_t *pc, int c, const char *arg)
{
    run_pipe_options_t *po = &pc->po;
    switch (c) {
    case OPT_PIPE: po->pipe = true; return 0;
    case OPT_BLOCK: po->block = arg; return 0;
    case OPT_RECSTART: po->recstart = arg; return 0;
    case OPT_RECEND: po->recend = arg; return 0;
    case OPT_REGEXP: po->regexp = true; return 0;
    case OPT_RRS: po->rrs = true; return 0;
    case OPT_PIPEPART: pc->pipepart = true; return 0;
    case OPT_ROUNDROBIN: po->roundrobin = true; return 0;
    case OPT_CAT: po->cat = true; return 0;
    case OPT_FIFO: po->fifo = true; return 0;
    case OPT_TEE: po->tee = true; return 0;
    case OPT_HEADER: po->header = arg; return 0;
    case 'a': pc->arg_file = arg; return 0;
    case OPT_GROUP_BY: po->group_by = arg; return 0;
    case 'C': po->colsep = arg; return 0;
    case 'N':
    case 'n':
        pc->max_replace |= c == 'N';
        return pipe_count(c == 'N' ? "-N" : "-n", arg, &po->max_records)
                   ? BANYAN_EXIT_USAGE : 0;
    case 'L':
    case OPT_MAX_LINES:
        if (pipe_count("-L", arg, &po->max_lines))
            return BANYAN_EXIT_USAGE;
        if (c == OPT_MAX_LINES && po->max_lines == 0)
            po->max_lines = 1;
        return 0;
    default: return 1;
    }
}

/* After the options: the family's rules.  0, or BANYAN_EXIT_USAGE. */
static int pipe_finish(pipe_cli_t *pc, run_options_t *o, bool has_sources)
{
    run_pipe_options_t *po = &pc->po;
    if (pc->pipepart) {
        if (!pc->arg_file)
            return cli_usage_error("run", "%s", "--pipepart needs the file "
                                   "to cut: --pipepart -a FILE");
        po->part_path = pc->arg_file;
        if (pc->max_replace)
            return cli_usage_error("run", "%s", "--pipepart is incompatible "
                                   "with --max-replace-args, --max-lines, "
                                   "and -L.");
    }
    if (!run_pipe_enabled(po)) {
        if (pc->arg_file || po->max_records || po->max_lines || po->header ||
            po->colsep ||
            po->block || po->recstart || po->recend || po->regexp || po->rrs)
            return cli_usage_error("run", "%s", "-a, -N, -n, -L, --header, --colsep, "
                                   "--block, --recstart, --recend, --regexp "
                                   "and --rrs need --pipe or --pipepart in "
                                   "this build");
        return 0;
    }
    if (pc->arg_file && !pc->pipepart)
        return cli_usage_error("run", "%s", "-a with --pipe: use --pipepart "
                               "-a FILE, or --pipe < FILE");
    banyan_error_t err = {{0}};
    if (run_pipe_check(po, has_sources, &err) < 0)
        return cli_usage_error("run", "%s", err.text);
    if (o->dry_run)
        return cli_usage_error("run", "%s", "--dry-run cannot be combined "
                               "with --pipe in banyan (the blocks are cut "
                               "while tasks run)");
    if (o->resume != RUN_RESUME_NONE)
        return cli_usage_error("run", "%s", "--resume cannot be combined "
                               "with --pipe (stdin is not kept)");
    if (po->roundrobin && o->retries)
        return cli_usage_error("run", "%s", "--retries cannot be combined "
                               "with --roundrobin.");
    o->pipe = po;
    return 0;
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

    opterr = 0;
    optind = 1;
    int c;
    pipe_cli_t pipe = {.pipepart = false};
    while ((c = getopt_long(argc, argv, "+:j:khN:n:L:a:C:", long_opts,
                            NULL)) != -1) {
        /* --- pipe: the --pipe family --- */
        int pc = pipe_option(&pipe, c, optarg);
        if (pc == BANYAN_EXIT_USAGE)
            return BANYAN_EXIT_USAGE;
        if (pc == 0)
            continue;
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
    if (i == first)
        return cli_usage_error("run", "%s", "no command given");

    /* --- pipe: no input sources with --pipe (stdin is the blocks) --- */
    if (pipe_finish(&pipe, &o, i < argc) != 0)
        return BANYAN_EXIT_USAGE;
    bool no_sources = o.pipe && i == argc;

    int code = BANYAN_EXIT_USAGE;
    tmpl_t *t = tmpl_parse((const char *const *)argv + first, i - first, &err);
    tmpl_inputs_t *in = tmpl_inputs_create();
    util_buf_t text = UTIL_BUF_INIT;
    if (!t || !in || (!no_sources &&
                      cli_parse_sources(argc, argv, i, add_source, in, &err) < 0)
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
