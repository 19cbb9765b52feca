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
#include "cli_remote.h"
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
#include "cli_input.h"

/* --- inputs: the help of the input and grouping options --- */
#define INPUTS_HELP                                                        \
    "Input (GNU Parallel's options):\n"                                    \
    "  -a, --arg-file FILE   a source read from FILE (- = stdin), before "  \
    "the others\n"                                                          \
    "  -0, --null            values end with a NUL; -d, --delimiter D: "    \
    "with D\n"                                                              \
    "  -E EOF                a value EOF ends its source; -r: skip blank "  \
    "values\n"                                                              \
    "      --colsep RE, --csv, --header :, --trim lr, --link, "             \
    "--arg-sep S,\n"                                                        \
    "      --arg-file-sep S  columns {1}..{n}, named {col}; linked "        \
    "sources\n"                                                             \
    "  -N, -n, -L N          N values (lines) a job; -m, -X, --xargs: as "  \
    "many as\n"                                                             \
    "                        fit (-s CHARS); no command: values are "       \
    "commands\n"

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
    INPUTS_HELP
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
    "      --retries N       run a failing task N times in all (0: until it "
    "works)\n"
    "      --halt WHEN,WHAT=N  stop after N (or N%) tasks: WHEN is now "
    "(kill\n"
    "                        running tasks) or soon (let them finish), WHAT\n"
    "                        fail, success or done; or never, 0, 1, 2, -1, "
    "-2\n"
    "      --joblog FILE     write GNU Parallel's joblog to FILE (+FILE "
    "appends,\n"
    "                        - is stdout)\n"
    "      --resume          run only the tasks that are not in the joblog\n"
    "                        (or, with --results DIR, have no output files "
    "there;\n"
    "                        else: that did not end last time, from --db)\n"
    "      --resume-failed   ... and those that failed\n"
    "      --retry-failed    run the failed commands of the joblog again\n"
    "  -k, --keep-order      print output in input order\n"
    "      --tag             prefix output lines with the input values\n"
    "      --tagstring STR   prefix output lines with STR (replacement "
    "strings)\n"
    "  -u, --ungroup         tasks write to stdout directly (lines may mix)\n"
    "      --line-buffer, --lb  print whole lines as they come\n"
    "      --files           print names of files holding each task's "
    "stdout\n"
    "      --ctag, --ctagstring STR, --color, --color-failed  coloured "
    "output\n"
    "  -v                    print each command line before its output\n"
    "  -t, --verbose         print each command line on stderr as it "
    "starts\n"
    "      --results DIR     write DIR/1/VALUE/.../{seq,stdout,stderr} "
    "instead of\n"
    "                        printing; DIR.csv, DIR.tsv, DIR.json: one table "
    "(-.csv:\n"
    "                        stdout); with replacement strings: per task\n"
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
    "Exit (GNU Parallel's): 0 all succeeded, 1-100 that many failed, 101 "
    "more;\n"
    "with --halt the status of the task that halted it; 255 bad usage, a "
    "task\n"
    "that can never fit or an internal error; 128+N interrupted by signal "
    "N.\n";

/* --- inputs: input and grouping options (GNU Parallel's) --- */
#define INPUTS_SHORT "a:0d:E:e::rC:N:n:L:l::mXs:x"
enum {
    OPT_INPUTS_FIRST = 0x2400,
    OPT_ARG_SEP = OPT_INPUTS_FIRST, OPT_ARG_FILE_SEP, OPT_TRIM, OPT_CSV,
    OPT_HEADER, OPT_LINK, OPT_XARGS, OPT_SHOW_LIMITS, OPT_MAX_LINE,
    OPT_INPUTS_LAST = OPT_MAX_LINE,
};
#define INPUTS_OPTIONS                                                     \
    {"arg-file", required_argument, NULL, 'a'},                            \
    {"argfile", required_argument, NULL, 'a'},                             \
    {"arg-sep", required_argument, NULL, OPT_ARG_SEP},                     \
    {"argsep", required_argument, NULL, OPT_ARG_SEP},                      \
    {"arg-file-sep", required_argument, NULL, OPT_ARG_FILE_SEP},           \
    {"argfilesep", required_argument, NULL, OPT_ARG_FILE_SEP},             \
    {"null", no_argument, NULL, '0'},                                      \
    {"delimiter", required_argument, NULL, 'd'},                           \
    {"eof", optional_argument, NULL, 'e'},                                 \
    {"no-run-if-empty", no_argument, NULL, 'r'},                           \
    {"norunifempty", no_argument, NULL, 'r'},                              \
    {"trim", required_argument, NULL, OPT_TRIM},                           \
    {"colsep", required_argument, NULL, 'C'},                              \
    {"col-sep", required_argument, NULL, 'C'},                             \
    {"csv", no_argument, NULL, OPT_CSV},                                   \
    {"header", required_argument, NULL, OPT_HEADER},                       \
    {"link", no_argument, NULL, OPT_LINK},                                 \
    {"xapply", no_argument, NULL, OPT_LINK},                               \
    {"max-replace-args", required_argument, NULL, 'N'},                    \
    {"max-args", required_argument, NULL, 'n'},                            \
    {"max-lines", optional_argument, NULL, 'l'},                           \
    {"xargs", no_argument, NULL, OPT_XARGS},                               \
    {"max-chars", required_argument, NULL, 's'},                           \
    {"exit", no_argument, NULL, 'x'},                                      \
    {"show-limits", no_argument, NULL, OPT_SHOW_LIMITS},                   \
    {"max-line-length-allowed", no_argument, NULL, OPT_MAX_LINE}
/* --- end of inputs --- */

enum {
    OPT_HALT = 256, OPT_JOBLOG,
    OPT_RESUME, OPT_RESUME_FAILED, OPT_TAG, OPT_RESULTS, OPT_DRY_RUN,
    OPT_BAR, OPT_DB, OPT_REQUEUE, OPT_REQUEUE_MAX,
    OPT_NO_SCORE,
    /* --- tmpl: command templates (GNU's quoting and replacement strings) --- */
    OPT_TMPL_PLUS, OPT_TMPL_RPL, OPT_TMPL_PARENS, OPT_TMPL_ER, OPT_TMPL_BNR,
    OPT_TMPL_DNR, OPT_TMPL_BNER, OPT_TMPL_SEQR, OPT_TMPL_SLOTR,
    OPT_TMPL_SHELL_QUOTE,
    /* --- pipe: the --pipe family --- */
    OPT_PIPE, OPT_BLOCK, OPT_RECSTART, OPT_RECEND, OPT_REGEXP, OPT_RRS,
    OPT_PIPEPART, OPT_ROUNDROBIN, OPT_CAT, OPT_FIFO, OPT_TEE, OPT_GROUP_BY,
};

/* --- output: output modes, joblog, halt, retries --- */
enum {
    OPT_OUT_LINE_BUFFER = 0x2100,
    OPT_OUT_TAGSTRING,
    OPT_OUT_FILES,
    OPT_OUT_RETRY_FAILED,
    OPT_OUT_NO_KEEP_ORDER,
    OPT_OUT_SILENT,
    OPT_OUT_COMPRESS,
    OPT_OUT_CTAG,
    OPT_OUT_CTAGSTRING,
    OPT_OUT_COLOR,
    OPT_OUT_COLOR_FAILED,
    OPT_OUT_TOTAL_JOBS,
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
    /* --- output --- */
    {"line-buffer", no_argument, NULL, OPT_OUT_LINE_BUFFER},
    {"lb", no_argument, NULL, OPT_OUT_LINE_BUFFER},
    {"ungroup", no_argument, NULL, 'u'},
    {"tagstring", required_argument, NULL, OPT_OUT_TAGSTRING},
    {"files", no_argument, NULL, OPT_OUT_FILES},
    {"retry-failed", no_argument, NULL, OPT_OUT_RETRY_FAILED},
    {"verbose", no_argument, NULL, 't'},
    {"silent", no_argument, NULL, OPT_OUT_SILENT},
    {"compress", no_argument, NULL, OPT_OUT_COMPRESS},
    {"ctag", no_argument, NULL, OPT_OUT_CTAG},
    {"ctagstring", required_argument, NULL, OPT_OUT_CTAGSTRING},
    {"ctag-string", required_argument, NULL, OPT_OUT_CTAGSTRING},
    {"color", no_argument, NULL, OPT_OUT_COLOR},
    {"colour", no_argument, NULL, OPT_OUT_COLOR},
    {"color-failed", no_argument, NULL, OPT_OUT_COLOR_FAILED},
    {"colour-failed", no_argument, NULL, OPT_OUT_COLOR_FAILED},
    {"cf", no_argument, NULL, OPT_OUT_COLOR_FAILED},
    {"total-jobs", required_argument, NULL, OPT_OUT_TOTAL_JOBS},
    {"total", required_argument, NULL, OPT_OUT_TOTAL_JOBS},
    /* GNU Parallel's other names for them */
    {"jl", required_argument, NULL, OPT_JOBLOG},
    {"halt-on-error", required_argument, NULL, OPT_HALT},
    {"haltonerror", required_argument, NULL, OPT_HALT},
    {"keeporder", no_argument, NULL, 'k'},
    {"no-keep-order", no_argument, NULL, OPT_OUT_NO_KEEP_ORDER},
    {"nokeeporder", no_argument, NULL, OPT_OUT_NO_KEEP_ORDER},
    {"nok", no_argument, NULL, OPT_OUT_NO_KEEP_ORDER},
    {"no-k", no_argument, NULL, OPT_OUT_NO_KEEP_ORDER},
    {"line-buffered", no_argument, NULL, OPT_OUT_LINE_BUFFER},
    {"linebuffer", no_argument, NULL, OPT_OUT_LINE_BUFFER},
    {"linebuffered", no_argument, NULL, OPT_OUT_LINE_BUFFER},
    {"tag-string", required_argument, NULL, OPT_OUT_TAGSTRING},
    {"result", required_argument, NULL, OPT_RESULTS},
    {"res", required_argument, NULL, OPT_RESULTS},
    {"resumefailed", no_argument, NULL, OPT_RESUME_FAILED},
    {"retryfailed", no_argument, NULL, OPT_OUT_RETRY_FAILED},
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
    {"shell-quote", no_argument, NULL, OPT_TMPL_SHELL_QUOTE},
    {"shellquote", no_argument, NULL, OPT_TMPL_SHELL_QUOTE},
    /* --- ctl --- */
    CLI_GNU_OPTIONS,
    /* --- remote: -S, --slf, --ssh, transfers, --onall/--nonall --- */
    CLI_REMOTE_OPTIONS,
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
    {"group-by", required_argument, NULL, OPT_GROUP_BY},
    {"groupby", required_argument, NULL, OPT_GROUP_BY},
    /* --- inputs: input and grouping options --- */
    INPUTS_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* --- ctl: the short options (cmd_run's getopt and cli_gnu_prescan), --shuf
 * --- */
static const char run_short_opts[] = "+:j:kh" "uvt" /* output */
    "qI:i::" /* tmpl */ "S:" /* remote */ INPUTS_SHORT CLI_GNU_SHORT;

/* --shuf: the same tasks in a random order, as new inputs whose linked
 * columns hold the shuffled combinations ({#} counts starts, as GNU's). */
static tmpl_inputs_t *ctl_shuffle(const tmpl_inputs_t *in,
                                  banyan_error_t *err)
{
    uint64_t n = tmpl_inputs_count(in);
    size_t arity = tmpl_inputs_arity(in);
    uint64_t *perm = malloc((n ? n : 1) * sizeof(*perm));
    const char **col = malloc((n ? n : 1) * sizeof(*col));
    const char **vals = malloc((arity ? arity : 1) * sizeof(*vals));
    tmpl_inputs_t *out = tmpl_inputs_create();
    if (!perm || !col || !vals || !out) {
        errprintf(err, "out of memory");
        goto fail;
    }
    unsigned seed = (unsigned)util_mono_ms() ^ (unsigned)getpid();
    for (uint64_t i = 0; i < n; i++)
        perm[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t r = ((uint64_t)rand_r(&seed) << 31 ^ (uint64_t)
                      rand_r(&seed)) % i;
        uint64_t x = perm[i - 1];
        perm[i - 1] = perm[r];
        perm[r] = x;
    }
    for (size_t k = 0; k < arity; k++) {
        for (uint64_t i = 0; i < n; i++) {
            tmpl_inputs_get(in, perm[i], vals);
            col[i] = vals[k];
        }
        if (tmpl_inputs_add_values(out, col, (size_t)n, k > 0, err) < 0)
            goto fail;
    }
    free(perm);
    free(col);
    free(vals);
    return out;
fail:
    free(perm);
    free(col);
    free(vals);
    tmpl_inputs_destroy(out);
    return NULL;
}

/* --- output: --halt, GNU Parallel's grammar --- */

/* never; now|soon,fail|success|done=N|N%; the old 0 1 2 -1 -2; N%
 * (soon,fail=N%).  0 or -1. */
static int parse_halt(const char *s, run_options_t *o)
{
    static const struct {
        const char *old, *now;
    } expand[] = {{"0", "never"}, {"1", "soon,fail=1"}, {"2", "now,fail=1"},
                  {"-1", "soon,success=1"}, {"-2", "now,success=1"}};
    for (size_t i = 0; i < sizeof(expand) / sizeof(expand[0]); i++)
        if (!strcmp(s, expand[i].old))
            s = expand[i].now;
    char buf[64];
    size_t n = strlen(s);
    if (n > 1 && n < 32 && s[n - 1] == '%' && strspn(s, "0123456789") ==
                                                  n - 1) {
        snprintf(buf, sizeof(buf), "soon,fail=%s", s);
        s = buf;
    }
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
    if (!strncmp(rest, "fail=", 5)) {
        o->halt_on = RUN_HALT_ON_FAIL;
        rest += 5;
    } else if (!strncmp(rest, "success=", 8)) {
        o->halt_on = RUN_HALT_ON_SUCCESS;
        rest += 8;
    } else if (!strncmp(rest, "done=", 5)) {
        o->halt_on = RUN_HALT_ON_DONE;
        rest += 5;
    } else {
        return -1;
    }
    size_t digits = strspn(rest, "0123456789");
    if (digits == 0 || digits > 9 ||
        (rest[digits] && strcmp(rest + digits, "%")))
        return -1;
    o->halt_fail = (uint32_t)strtoul(rest, NULL, 10);
    o->halt_pct = rest[digits] == '%';
    return 0;
}

/* --- tmpl: command templates --- */

/* The template options; 1 when c was one of them, 0 when not, -1 after a
 * usage error was printed.  --rpl values go to rpl[TMPL_RPL_MAX]. */
#define TMPL_RPL_MAX 256
static int tmpl_option(int c, const char *arg, int argc, char **argv,
                       tmpl_syntax_t *sx, const char **rpl)
{
    switch (c) {
    case OPT_TMPL_SHELL_QUOTE: sx->shell_quote = true; return 1;
    case 'q': sx->quote = true; return 1;
    case OPT_TMPL_PLUS: sx->plus = true; return 1;
    case 'I': sx->replace = arg; return 1;
    case 'i':
        /* GNU's Getopt ("i:s") also takes the next word when it is not
         * an option: `-i echo {}` makes "echo" the replacement string */
        if (!arg && optind < argc && argv[optind][0] != '-')
            arg = argv[optind++];
        sx->replace = arg && *arg ? arg : "{}";
        return 1;
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

/* --- output: the text templates, once every option is read --- */
static int out_texts(run_options_t *o, const char *tagstring, bool tag,
                     banyan_error_t *err)
{
    if (tag && !tagstring)
        tagstring = "{}";
    if (tagstring && !(o->tagstring = tmpl_parse_text(tagstring, NULL, err)))
        return -1;
    if (o->results_dir) {
        o->results_fmt = run_results_fmt(o->results_dir);
        if (o->results_fmt == RUN_RESULTS_DIR &&
            !(o->results_name = tmpl_parse_text(o->results_dir, NULL, err)))
            return -1;
    }
    return 0;
}

/* --- output: the exit status --- */

/* Set once run_local() has decided the exit status: any other is an error
 * of banyan run, which exits 255 as GNU Parallel does. */
static bool run_exit_known;

/* --- output: --retry-failed without a command: the joblog's commands --- */
static int run_retry_failed(run_options_t *o, const char *db_path,
                            const char *tagstring, bool tag)
{
    banyan_error_t err = {{0}};
    int code = RUN_EXIT_ERROR;
    tmpl_inputs_t *in = tmpl_inputs_create();
    if (!o->joblog_path || !strcmp(o->joblog_path, "-")) {
        fprintf(stderr, "banyan run: --retry-failed needs --joblog FILE\n");
        goto out;
    }
    if (out_texts(o, tagstring, tag, &err) < 0) {
        fprintf(stderr, "banyan run: %s\n", err.text);
        goto out;
    }
    if (!in || cli_default_db(&db_path, &err) < 0) {
        fprintf(stderr, "banyan run: %s\n", in ? err.text : strerror(errno));
        goto out;
    }
    o->inputs = in; /* none: the joblog gives the tasks */
    o->command_text = "";
    o->db_path = db_path;
    code = run_local(o, &err);
    run_exit_known = true;
    if (code == RUN_EXIT_ERROR)
        fprintf(stderr, "banyan run: %s\n", err.text);
out:
    tmpl_inputs_destroy(in);
    tmpl_destroy((tmpl_t *)o->tagstring);
    tmpl_destroy((tmpl_t *)o->results_name);
    return code;
}

/* --- pipe: option values; -N/-n/-L/-l/-a/-C/--header are the inputs'
 * options too: pipe_option() notes them and leaves them to the inputs. */
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

/* 0 when c is one of the family's own options (parsed into pc), 1 when it
 * is not (the options shared with the inputs are noted and give 1 too),
 * BANYAN_EXIT_USAGE for a bad value. */
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
    case OPT_GROUP_BY: po->group_by = arg; return 0;
    case OPT_HEADER: po->header = arg; return 1;
    case 'a': pc->arg_file = arg; return 1;
    case 'C': po->colsep = arg; return 1;
    case 'N':
    case 'n':
        pc->max_replace |= c == 'N';
        return pipe_count(c == 'N' ? "-N" : "-n", arg, &po->max_records)
                   ? BANYAN_EXIT_USAGE : 1;
    case 'L':
    case 'l':
        if (!arg) {
            po->max_lines = 1;
            return 1;
        }
        if (pipe_count("-L", arg, &po->max_lines))
            return BANYAN_EXIT_USAGE;
        if (c == 'l' && po->max_lines == 0)
            po->max_lines = 1;
        return 1;
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
        if (po->block || po->recstart || po->recend || po->regexp || po->rrs)
            return cli_usage_error("run", "%s", "--block, --recstart, "
                                   "--recend, --regexp and --rrs need --pipe "
                                   "or --pipepart");
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

/* --- inputs: the input and grouping options, and what they do --- */

typedef struct inputs_opts {
    const char **arg_files;  /* -a, in argv (room for argc of them) */
    size_t narg_files;
    tmpl_read_t rd;
    char delim[64];          /* -d unescaped */
    const char *arg_sep, *file_sep;
    long max_args;           /* -n, -1 = not given */
    long max_replace;        /* -N */
    long max_lines;          /* -L / -l */
    bool context_lines;      /* -L (not -l): context replace */
    bool m, x, xargs;
    long max_chars;          /* -s */
    bool show_limits, max_line;
    bool trim_given;         /* --trim, even "n" */
    bool exit_too_long;      /* -x */
} inputs_opts_t;

/* Nothing to free: arg_files is the caller's (room for argc). */
static void inputs_init(inputs_opts_t *io, const char **arg_files)
{
    *io = (inputs_opts_t){.max_args = -1, .max_replace = -1,
                          .max_lines = -1, .max_chars = -1,
                          .arg_files = arg_files};
}

static int inputs_count(const char *opt, const char *s, long *n)
{
    if (util_parse_long(s, 0, 1L << 40, n) < 0)
        return cli_usage_error("run", "invalid %s '%s' (expected a number "
                               ">= 0)", opt, s);
    return 0;
}

/* Option c of the inputs: 0, BANYAN_EXIT_USAGE after a usage error, or -1
 * when c is not one of them. */
static int inputs_option(inputs_opts_t *io, int c)
{
    switch (c) {
    case 'a':
        io->arg_files[io->narg_files++] = optarg;
        return 0;
    case OPT_ARG_SEP: io->arg_sep = optarg; return 0;
    case OPT_ARG_FILE_SEP: io->file_sep = optarg; return 0;
    case '0':
        io->rd.delim = "";
        io->rd.delim_len = 1;
        return 0;
    case 'd':
        if (strlen(optarg) >= sizeof(io->delim))
            return cli_usage_error("run", "--delimiter is longer than %zu "
                                   "bytes", sizeof(io->delim) - 1);
        io->rd.delim_len = tmpl_unescape_delim(optarg, io->delim);
        io->rd.delim = io->delim;
        if (io->rd.delim_len == 0)
            return cli_usage_error("run", "invalid --delimiter '' (expected "
                                   "one or more characters)");
        return 0;
    case 'E':
    case 'e':
        io->rd.eof = optarg && *optarg ? optarg : NULL;
        return 0;
    case 'r': io->rd.skip_empty = true; return 0;
    case OPT_TRIM:
        io->trim_given = true;
        if (tmpl_trim_parse(optarg, &io->rd.trim) < 0)
            return cli_usage_error("run", "--trim must be one of: r l rl "
                                   "lr (or n)");
        return 0;
    case 'C': io->rd.colsep = optarg; return 0;
    case OPT_CSV: io->rd.csv = true; return 0;
    case OPT_HEADER: io->rd.header = strcmp(optarg, "0") != 0; return 0;
    case OPT_LINK: io->rd.link = true; return 0;
    case 'N': return inputs_count("-N", optarg, &io->max_replace);
    case 'n': return inputs_count("-n", optarg, &io->max_args);
    case 'L':
        io->context_lines = true;
        return inputs_count("-L", optarg, &io->max_lines);
    case 'l':
        if (!optarg) {
            io->max_lines = 1;
            return 0;
        }
        if (inputs_count("-l", optarg, &io->max_lines))
            return BANYAN_EXIT_USAGE;
        if (io->max_lines == 0)
            io->max_lines = 1;
        return 0;
    case 'm': io->m = true; return 0;
    case 'x': io->exit_too_long = true; return 0;
    case 'X': io->x = true; return 0;
    case OPT_XARGS: io->xargs = true; return 0;
    case 's': return inputs_count("-s", optarg, &io->max_chars);
    case OPT_SHOW_LIMITS: io->show_limits = true; return 0;
    case OPT_MAX_LINE: io->max_line = true; return 0;
    }
    return -1;
}

/* Before the sources: how they are read, and the -a files (which come
 * first, as in GNU Parallel).  0 or -1 with err. */
static int inputs_setup(inputs_opts_t *io, tmpl_inputs_t *in,
                        banyan_error_t *err)
{
    io->rd.continue_lines = io->max_lines > 0;
    if (io->rd.colsep && !io->trim_given && !io->rd.csv)
        io->rd.trim = TMPL_TRIM_BOTH; /* GNU: --colsep trims, --csv not */
    cli_set_separators(io->arg_sep, io->file_sep);
    if (tmpl_inputs_set_read(in, &io->rd, err) < 0)
        return -1;
    for (size_t f = 0; f < io->narg_files; f++)
        if (tmpl_inputs_add_file(in, io->arg_files[f], false, err) < 0)
            return -1;
    return 0;
}

/* GNU's context replace: -X, -N and -L (but not with -m or --xargs). */
static bool inputs_context(const inputs_opts_t *io)
{
    return io->x || ((io->max_replace >= 0 || io->context_lines) &&
                     !(io->m || io->xargs));
}

/* The length of the command line of a job of values of arity each. */
static size_t inputs_expand_len(const tmpl_t *t, const char *const *vals,
                                size_t nvals, size_t arity)
{
    tmpl_ctx_t ctx = {.vals = vals, .nvals = nvals, .arity = arity,
                      .seq = 1, .slot = 1};
    char **argv, *line;
    if (tmpl_expand(t, &ctx, &argv, &line) != 0)
        return SIZE_MAX;
    size_t len = strlen(line);
    free(argv);
    free(line);
    return len;
}

/* The length of a command line of one record, as GNU counts it. */
static size_t inputs_line_len(void *arg, const char *const *vals,
                              size_t nvals)
{
    return inputs_expand_len(arg, vals, nvals, nvals);
}

/* After the sources and the template: records into jobs.  0 or -1. */
static int inputs_group(const inputs_opts_t *io, tmpl_inputs_t *in,
                        const tmpl_t *t, uint32_t slots, banyan_error_t *err)
{
    tmpl_group_t g = {.slots = slots, .max_len = tmpl_max_len()};
    long n = io->max_replace >= 0 ? io->max_replace : io->max_args;
    if (n < 0 && io->max_lines > 0)
        n = io->max_lines;
    g.fill = io->m || io->x || io->xargs;
    g.spread = io->m || io->x;
    if (n == 0 && !g.fill) {
        g.zero_args = true;
        return tmpl_inputs_group(in, &g);
    }
    g.max_args = n > 0 ? (uint64_t)n : 0;
    if (io->max_chars > 0) {
        if ((size_t)io->max_chars <= g.max_len)
            g.max_len = (size_t)io->max_chars;
        else
            fprintf(stderr, "banyan run: warning: value for option -s "
                    "should be < %zu\n", g.max_len);
    }
    if (!g.fill && g.max_args <= 1 && !io->exit_too_long)
        return tmpl_inputs_group(in, &g);
    if (tmpl_inputs_count(in) > 0) {
        /* GNU's count: a job of records r1..rk is base + sum(len(ri) -
         * base) long, base = 2 len(r) - len(r r) */
        size_t w = tmpl_inputs_arity(in), n1;
        const char **vals = malloc(2 * (w ? w : 1) * sizeof(*vals));
        if (!vals) {
            errno = ENOMEM;
            return errprintf(err, "out of memory");
        }
        n1 = tmpl_inputs_record(in, 0, vals);
        memcpy(vals + n1, vals, n1 * sizeof(*vals));
        size_t one = inputs_expand_len(t, vals, n1, n1);
        size_t two = inputs_expand_len(t, vals, 2 * n1, n1);
        free(vals);
        if (one == SIZE_MAX || two == SIZE_MAX)
            return errprintf(err, "cannot expand the command: %s",
                             strerror(errno));
        g.len = inputs_line_len;
        g.len_arg = (void *)t;
        g.len_base = 2 * (int64_t)one - (int64_t)two;
    }
    uint64_t rec = 0;
    size_t len = 0;
    g.exit_too_long = io->exit_too_long;
    g.too_long_rec = &rec;
    g.too_long_len = &len;
    if (tmpl_inputs_group(in, &g) == 0)
        return 0;
    if (errno != E2BIG)
        return errprintf(err, "cannot group the inputs: %s",
                         strerror(errno));
    /* GNU's words */
    size_t w = tmpl_inputs_arity(in);
    const char **vals = malloc((w ? w : 1) * sizeof(*vals));
    util_buf_t b = UTIL_BUF_INIT;
    size_t nv = vals ? tmpl_inputs_record(in, rec, vals) : 0;
    for (size_t k = 0; k < nv; k++)
        if ((k && util_buf_putc(&b, ' ') < 0) ||
            util_buf_puts(&b, vals[k]) < 0)
            break;
    errprintf(err, "Command line too long (%zu >= %zu) at input %llu: "
              "%.50s%s", len, g.max_len, (unsigned long long)rec,
              b.data ? b.data : "", b.len > 50 ? "..." : "");
    free(vals);
    util_buf_fini(&b);
    errno = E2BIG;
    return -1;
}

/* --show-limits and --max-line-length-allowed (GNU's words). */
static void inputs_limits(const inputs_opts_t *io)
{
    if (io->max_line)
        printf("%zu\n", tmpl_max_line());
    if (io->show_limits)
        printf("Maximal size of command: %zu\n"
               "Maximal usable size of command: %zu\n\n"
               "Execution will continue now, and it will try to read its "
               "input\nand run commands; if this is not what you wanted to "
               "happen, please\npress CTRL-D or CTRL-C\n",
               tmpl_max_line(), tmpl_max_len());
    fflush(stdout);
}
/* --- end of inputs --- */

static int run_main(int argc, char **argv)
{
    run_options_t o = {0};
    o.jobs = (uint32_t)util_ncpus();
    cli_host_init(&o.host);
    o.req.slots = 1;
    const char *db_path = NULL;
    bool want_progress = false;
    const char *out_tagstring = NULL; /* --- output --- */
    bool out_tag = false, out_no_keep_order = false, out_silent = false;
    banyan_error_t err = {{0}};
    /* --- tmpl: the template's syntax (other helpers may set fields) --- */
    tmpl_syntax_t tsx = {0};
    const char *tsx_rpl[TMPL_RPL_MAX];
    cli_gnu_t gnu = {.host = &o.host}; /* --- ctl --- */
    /* --- remote: the -S family (cli_remote.h) --- */
    run_remote_opts_t remote = {0};
    /* --- inputs: input and grouping options --- */
    inputs_opts_t io;
    const char *arg_files[argc + 1];
    inputs_init(&io, arg_files);

    opterr = 0;
    optind = 1;
    int c;
    pipe_cli_t pipe = {.pipepart = false};
    while ((c = getopt_long(argc, argv, run_short_opts, long_opts, NULL)) !=
           -1) {
        cli_gnu_note(&gnu, c); /* --- ctl --- */
        /* --- pipe: the --pipe family --- */
        int pc = pipe_option(&pipe, c, optarg);
        if (pc == BANYAN_EXIT_USAGE)
            return BANYAN_EXIT_USAGE;
        if (pc == 0)
            continue;
        switch (c) {
        /* --- ctl: -j and the execution control (cli_gnu.c) --- */
        case 'j':
        case 'P':
        case 'J':
        case CLI_OPT_GNU_FIRST ... CLI_OPT_GNU_LAST:
            /* GNU's --wd is --workdir: on the remote hosts with -S */
            if (c == CLI_OPT_WD &&
                run_remote_option(&remote, CLI_OPT_WORKDIR, optarg) != 0)
                return BANYAN_EXIT_USAGE;
            if (cli_gnu_option("run", c, &gnu) != 0)
                return BANYAN_EXIT_USAGE;
            if (gnu.exit_now) {
                run_exit_known = true;
                return gnu.exit_code;
            }
            break;
        case CLI_OPT_TIMEOUT: {
            size_t len = strlen(optarg);
            if (len < 2 || optarg[len - 1] != '%') {
                if (cli_task_option("run", c, &o.req, &o.timeout_ms,
                                    &o.retries) != 0)
                    return BANYAN_EXIT_USAGE;
                break;
            }
            char num[32];
            uint32_t milli;
            snprintf(num, sizeof(num), "%.*s", (int)(len - 1), optarg);
            if (len > sizeof(num) || util_parse_milli(num, &milli) < 0 ||
                milli == 0)
                return cli_usage_error("run", "invalid --timeout '%s' "
                                       "(expected a duration or N%%)",
                                       optarg);
            o.host.timeout_pct_milli = milli;
            break;
        }
        case OPT_HALT:
            if (parse_halt(optarg, &o) < 0)
                return cli_usage_error("run", "invalid --halt '%s' (expected "
                                       "never, or now or soon, then ,fail=, "
                                       ",success= or ,done= and N or N%%)",
                                       optarg);
            break;
        case OPT_JOBLOG:
            o.joblog_append = optarg[0] == '+';
            o.joblog_path = optarg + o.joblog_append;
            break;
        case OPT_RESUME: o.resume = RUN_RESUME; break;
        case OPT_RESUME_FAILED: o.resume = RUN_RESUME_FAILED; break;
        case 'k': o.keep_order = true; break;
        case OPT_TAG: o.tag = out_tag = true; break;
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
        /* --- output --- */
        case 'u': o.out_mode = RUN_OUT_UNGROUP; break;
        case OPT_OUT_LINE_BUFFER: o.out_mode = RUN_OUT_LINE; break;
        case OPT_OUT_FILES: o.out_mode = RUN_OUT_FILES; break;
        case OPT_OUT_TAGSTRING: out_tagstring = optarg; break;
        case OPT_OUT_RETRY_FAILED: o.retry_failed = true; break;
        case OPT_OUT_NO_KEEP_ORDER: out_no_keep_order = true; break;
        case 'v': o.verbose_out = true; break;
        case 't': o.verbose_err = true; break;
        case OPT_OUT_SILENT: out_silent = true; break;
        case OPT_OUT_CTAG: out_tag = o.color = true; break;
        case OPT_OUT_CTAGSTRING:
            out_tagstring = optarg;
            o.color = true;
            break;
        case OPT_OUT_COLOR: o.color = true; break;
        case OPT_OUT_COLOR_FAILED: o.color_failed = true; break;
        case OPT_OUT_TOTAL_JOBS: {
            long n;
            if (util_parse_long(optarg, 1, 1L << 50, &n) < 0)
                return cli_usage_error("run", "invalid --total-jobs '%s'",
                                       optarg);
            o.total_jobs = (uint64_t)n;
            break;
        }
        case OPT_OUT_COMPRESS: break; /* GNU compresses its temporary
                                         files; banyan keeps output in
                                         memory first: the same output */
        case CLI_OPT_RETRIES: {
            long n;
            if (util_parse_long(optarg, 0, 1000000000, &n) < 0)
                return cli_usage_error("run", "invalid --retries '%s'",
                                       optarg);
            o.retries = (uint32_t)n;
            o.retries_set = true;
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            fputs(cli_gnu_help, stdout); /* --- ctl --- */
            fputs(cli_host_help, stdout);
            fputs(CLI_REMOTE_HELP, stdout);
            return BANYAN_EXIT_OK;
        /* --- remote: -S and its options --- */
        case CLI_OPT_SSHLOGIN:
        case CLI_OPT_SLF ... CLI_OPT_REMOTE_LAST - 1: {
            int code = run_remote_option(&remote, c, optarg);
            if (code != 0)
                return code;
            break;
        }
        default: {
            int ic = inputs_option(&io, c); /* --- inputs --- */
            if (ic > 0)
                return BANYAN_EXIT_USAGE;
            if (ic == 0)
                break;
            int tc = tmpl_option(c, optarg, argc, argv, &tsx, tsx_rpl);
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
    if (out_no_keep_order) /* --- output: wins, as GNU's --nok --- */
        o.keep_order = false;
    if (out_silent) /* --- output: wins over -v, as GNU's --- */
        o.verbose_out = false;
    if (gnu.sem) { /* --- ctl: parallel --semaphore is banyan sem --- */
        run_exit_known = true;
        return cli_gnu_sem("run", &gnu, argc - optind, argv + optind);
    }
    /* --- inputs: limits, separators, multiple values a job --- */
    if (io.max_line || io.show_limits)
        inputs_limits(&io);
    if (io.max_line)
        return BANYAN_EXIT_OK;
    cli_set_separators(io.arg_sep, io.file_sep);
    if (inputs_context(&io))
        tsx.multi = TMPL_MULTI_X;
    else if (io.m || io.xargs || io.max_args > 1 || io.max_lines > 1)
        tsx.multi = TMPL_MULTI_M;

    /* The command words, up to the first input separator. */
    int first = optind, i = cli_find_separator(argc, argv, optind);
    if (i == first && o.retry_failed) /* --- output --- */
        return run_retry_failed(&o, db_path, out_tagstring, out_tag);
    if (i == first)   /* tmpl: each input line is a command (GNU) */
        tsx.commands_from_input = true;
    if (tsx.shell_quote)   /* tmpl: print the quoted lines, run nothing */
        o.dry_run = true;

    /* --- pipe: no input sources with --pipe (stdin is the blocks) --- */
    if (pipe_finish(&pipe, &o, i < argc) != 0)
        return BANYAN_EXIT_USAGE;
    bool no_sources = o.pipe && i == argc;

    int code = BANYAN_EXIT_USAGE;
    tmpl_t *t = NULL;
    tmpl_inputs_t *in = tmpl_inputs_create(), *unshuffled = NULL;
    util_buf_t text = UTIL_BUF_INIT;
    if (o.pipe) /* --- pipe: -a names the --pipepart file, not a source */
        io.narg_files = 0;
    /* The inputs first (--header names the columns of the template); -a
     * files come before the other sources and replace stdin. */
    if (!in || inputs_setup(&io, in, &err) < 0 ||
        (!no_sources && (io.narg_files == 0 || i < argc) &&
         cli_parse_sources(argc, argv, i, add_source, in, &err) < 0))
        goto fail;
    tsx.names = tmpl_inputs_names(in, &tsx.nnames);
    /* --- ctl: -j's forms and the admission that goes with them; --shuf
     * orders the records at random (unshuffled keeps the names) --- */
    if (cli_gnu_finish("run", &gnu, tmpl_inputs_count(in), &o.jobs) != 0)
        goto out;
    if (gnu.shuf) {
        unshuffled = in;
        if (!(in = ctl_shuffle(unshuffled, &err)))
            goto fail;
    }
    t = tmpl_parse((const char *const *)argv + first, i - first, &tsx, &err);
    if (!t || (!o.pipe && inputs_group(&io, in, t, o.jobs, &err) < 0) ||
        tmpl_check_arity(t, tmpl_inputs_job_room(in), &err) < 0) {
        if (errno == E2BIG) /* -x: GNU's error and exit code */
            code = 255;
        goto fail;
    }
    /* --header: the names of --results folders and table columns (one a
     * value: not with several records a job) */
    if (tsx.nnames && tmpl_inputs_job_room(in) <= tsx.nnames)
        o.source_names = tsx.names;
    util_command_text(&text, (const char *const *)argv + first,
                      (size_t)(i - first));
    if (tsx.commands_from_input && util_buf_puts(&text, "{}") < 0)
        goto fail;   /* tmpl: the command is each input line, GNU's {} */
    o.tmpl = t;
    o.inputs = in;
    o.command_text = text.data ? text.data : ""; /* no command: "" */
    if (out_texts(&o, out_tagstring, out_tag, &err) < 0) /* --- output --- */
        goto fail;

    /* --- remote: another host than this one runs the tasks --- */
    if (run_remote_wanted(&remote) && !o.dry_run) {
        code = cmd_run_remote(&remote, &o, argv, first, i);
        run_exit_known = true; /* its own messages, GNU's statuses */
        goto out;
    }
    if (!o.dry_run && cli_default_db(&db_path, &err) < 0)
        goto fail;
    o.db_path = db_path;
    code = run_local(&o, &err);
    run_exit_known = true; /* --- output --- */
    if (code == RUN_EXIT_ERROR)
        fprintf(stderr, "banyan run: %s\n", err.text);
    goto out;
fail:
    fprintf(stderr, "banyan run: %s\n", err.text[0] ? err.text
                                                    : strerror(errno));
out:
    util_buf_fini(&text);
    tmpl_inputs_destroy(in);
    tmpl_inputs_destroy(unshuffled);
    tmpl_destroy(t);
    tmpl_destroy((tmpl_t *)o.tagstring); /* --- output --- */
    tmpl_destroy((tmpl_t *)o.results_name);
    return code;
}

/* GNU Parallel's default options ($PARALLEL, the config files, -J) go
 * before the command line's (ctl); any exit that is not a run's result
 * (usage errors) is 255, as GNU Parallel's (output). */
int cmd_run(int argc, char **argv)
{
    int nargc;
    char **nargv;
    banyan_error_t err = {{0}};
    cli_gnu_pre_t pre;
    cli_gnu_prescan(argc, argv, long_opts, run_short_opts, &pre);
    if (cli_gnu_argv(argc, argv, &pre, &nargc, &nargv, &err) < 0) {
        cli_usage_error("run", "%s", err.text);
        return RUN_EXIT_ERROR;
    }
    run_exit_known = false;
    int code = run_main(nargc, nargv);
    cli_gnu_argv_free(nargc, nargv, argv);
    if (!run_exit_known && code != BANYAN_EXIT_OK)
        return RUN_EXIT_ERROR;
    return code;
}
