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
#include "cli_input.h"
#include "run/run.h"

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
    /* --- inputs: input and grouping options --- */
    INPUTS_OPTIONS,
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

/* --- inputs: the input and grouping options, and what they do --- */

typedef struct inputs_opts {
    const char **arg_files;  /* -a, in argv */
    size_t narg_files;
    tmpl_read_t rd;
    char *delim;             /* -d unescaped (owned) */
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

static void inputs_init(inputs_opts_t *io, int argc)
{
    *io = (inputs_opts_t){.max_args = -1, .max_replace = -1,
                          .max_lines = -1, .max_chars = -1};
    io->arg_files = calloc((size_t)argc + 1, sizeof(*io->arg_files));
}

static void inputs_fini(inputs_opts_t *io)
{
    free(io->arg_files);
    free(io->delim);
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
        if (!io->arg_files)
            return cli_usage_error("run", "out of memory");
        io->arg_files[io->narg_files++] = optarg;
        return 0;
    case OPT_ARG_SEP: io->arg_sep = optarg; return 0;
    case OPT_ARG_FILE_SEP: io->file_sep = optarg; return 0;
    case '0':
        io->rd.delim = "";
        io->rd.delim_len = 1;
        return 0;
    case 'd':
        free(io->delim);
        if (!(io->delim = malloc(strlen(optarg) + 1)))
            return cli_usage_error("run", "out of memory");
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
    /* --- inputs: input and grouping options --- */
    inputs_opts_t io;
    inputs_init(&io, argc);

    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:j:khqI:i::" INPUTS_SHORT,
                            long_opts, NULL)) != -1) {
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
            inputs_fini(&io);
            return BANYAN_EXIT_OK;
        default: {
            int ic = inputs_option(&io, c); /* --- inputs --- */
            if (ic > 0) {
                inputs_fini(&io);
                return BANYAN_EXIT_USAGE;
            }
            if (ic == 0)
                break;
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
    /* --- inputs: limits, separators, multiple values a job --- */
    if (io.max_line || io.show_limits)
        inputs_limits(&io);
    if (io.max_line) {
        inputs_fini(&io);
        return BANYAN_EXIT_OK;
    }
    cli_set_separators(io.arg_sep, io.file_sep);
    if (inputs_context(&io))
        tsx.multi = TMPL_MULTI_X;
    else if (io.m || io.xargs || io.max_args > 1 || io.max_lines > 1)
        tsx.multi = TMPL_MULTI_M;

    /* The command words, up to the first input separator. */
    int first = optind, i = cli_find_separator(argc, argv, optind);
    if (i == first)   /* tmpl: each input line is a command (GNU) */
        tsx.commands_from_input = true;

    int code = BANYAN_EXIT_USAGE;
    tmpl_t *t = NULL;
    tmpl_inputs_t *in = tmpl_inputs_create();
    util_buf_t text = UTIL_BUF_INIT;
    /* The inputs first (--header names the columns of the template); -a
     * files come before the other sources and replace stdin. */
    if (!in || inputs_setup(&io, in, &err) < 0 ||
        ((io.narg_files == 0 || i < argc) &&
         cli_parse_sources(argc, argv, i, add_source, in, &err) < 0))
        goto fail;
    tsx.names = tmpl_inputs_names(in, &tsx.nnames);
    t = tmpl_parse((const char *const *)argv + first, i - first, &tsx, &err);
    if (!t || inputs_group(&io, in, t, o.jobs, &err) < 0 ||
        tmpl_check_arity(t, tmpl_inputs_job_room(in), &err) < 0) {
        if (errno == E2BIG) /* -x: GNU's error and exit code */
            code = 255;
        goto fail;
    }
    util_command_text(&text, (const char *const *)argv + first,
                      (size_t)(i - first));
    o.tmpl = t;
    o.inputs = in;
    o.command_text = text.data ? text.data : ""; /* no command: "" */

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
    inputs_fini(&io);
    util_buf_fini(&text);
    tmpl_inputs_destroy(in);
    tmpl_destroy(t);
    return code;
}
