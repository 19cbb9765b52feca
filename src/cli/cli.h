/* SPDX-License-Identifier: MIT */
/* cli.h - the subcommands of the banyan command line. */
#ifndef BANYAN_CLI_H
#define BANYAN_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "res/res.h"
#include "store/store.h"
#include "util/util.h"

/* A subcommand: argv[0] is its name.  Returns the process exit code. */
typedef int (*cli_fn)(int argc, char **argv);

struct cli_command {
    const char *name;
    cli_fn fn;
    const char *summary;
};

int cmd_run(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_results_remote(int argc, char **argv);
int cmd_server(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_wait(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_broadcast(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_launch(int argc, char **argv);
int cmd_sem(int argc, char **argv);

/* Print "banyan CMD: <message>" and the --help hint; returns exit code 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The usage error for what getopt_long returned as c (':' a missing
 * value, anything else an unknown option), argv[optind - 1] named; 2. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* Print "banyan CMD: <message>" on stderr; returns code. */
int cli_fail(const char *cmd, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* MemAvailable floor for tasks without a memory request: 5% of RAM, at
 * most 2 GiB. */
uint64_t cli_default_mem_reserve(void);

/* Use *db, or create .banyan/ and use .banyan/banyan.db.  0 or -1. */
int cli_default_db(const char **db, banyan_error_t *error);

/* The run that RUN names: "last", the newest run in st (0 when there is
 * none), or a positive id, looked up in st when look_up (0 when it is not
 * there).  -1 when RUN is neither. */
int64_t cli_run_id(store_t *st, const char *run, bool look_up);

/* ------------------------------------------------- command and inputs */

/* The index of the first input separator (":::", ":::+", "::::",
 * "::::+") in argv from i on; argc when there is none. */
int cli_find_separator(int argc, char **argv, int i);

/* Add one input source: n values, or (file) the file values[0]. */
typedef int (*cli_source_fn)(void *ctx, const char *const *values, size_t n,
                             bool file, bool linked, banyan_error_t *error);

/* Hand add() the input sources that follow the command words (argv[i] is
 * a separator, or i is argc: then one source, the file "-" read from
 * stdin).  0, or -1 with the text in error. */
int cli_parse_sources(int argc, char **argv, int i, cli_source_fn add,
                      void *ctx, banyan_error_t *error);

/* ------------------------------------------------------- task options */

/* What each task asks for, the same for run and submit: put
 * CLI_TASK_OPTIONS in the getopt table and CLI_TASK_HELP in the help. */
enum {
    CLI_OPT_CPUS = 0x1800,
    CLI_OPT_MEM,
    CLI_OPT_GPUS,
    CLI_OPT_RESOURCE,
    CLI_OPT_TIMEOUT,
    CLI_OPT_RETRIES,
};

#define CLI_TASK_OPTIONS                                                   \
    {"cpus", required_argument, NULL, CLI_OPT_CPUS},                       \
    {"mem", required_argument, NULL, CLI_OPT_MEM},                         \
    {"gpus", required_argument, NULL, CLI_OPT_GPUS},                       \
    {"resource", required_argument, NULL, CLI_OPT_RESOURCE},               \
    {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},                 \
    {"retries", required_argument, NULL, CLI_OPT_RETRIES}

#define CLI_TASK_HELP                                                      \
    "      --cpus X          cpus per task (fractions allowed)\n"          \
    "      --mem SIZE        memory per task (e.g. 512M, 2G)\n"            \
    "      --gpus X          GPUs per task: 1, 2, ... or a share like 0.5\n"

/* Parse task option c (getopt's optarg) into req, *timeout_ms or
 * *retries.  0, exit code 2 after a usage error, or -1 when c is not a
 * task option. */
int cli_task_option(const char *cmd, int c, res_request_t *req,
                    int64_t *timeout_ms, uint32_t *retries);

/* ------------------------------------------------------- host options */

/* The host-level options of an engine (cli_host.c), the same for run,
 * sweep and worker: put CLI_HOST_OPTIONS in the getopt table and hand
 * every option the command does not know to cli_host_option(). */
enum {
    CLI_OPT_HOST_FIRST = 0x1000,
    CLI_OPT_MEM_RESERVE = CLI_OPT_HOST_FIRST,
    CLI_OPT_MEM_DEFAULT,
    CLI_OPT_MEM_TOTAL,
    CLI_OPT_MEM_LIMIT,
    CLI_OPT_MEM_CRITICAL,
    CLI_OPT_MEM_GROUP,
    CLI_OPT_NO_MUX,
    CLI_OPT_ON_CRITICAL,
    CLI_OPT_NO_SHARE,
    CLI_OPT_SHARE_FILE,
    CLI_OPT_SHARE_CPUS,
    CLI_OPT_KILL_GRACE,
};

#define CLI_HOST_OPTIONS                                                   \
    {"mem-reserve", required_argument, NULL, CLI_OPT_MEM_RESERVE},         \
    {"mem-default", required_argument, NULL, CLI_OPT_MEM_DEFAULT},         \
    {"mem-total", required_argument, NULL, CLI_OPT_MEM_TOTAL},             \
    {"mem-limit", required_argument, NULL, CLI_OPT_MEM_LIMIT},             \
    {"mem-critical", required_argument, NULL, CLI_OPT_MEM_CRITICAL},       \
    {"mem-group", required_argument, NULL, CLI_OPT_MEM_GROUP},             \
    {"no-mem-multiplex", no_argument, NULL, CLI_OPT_NO_MUX},               \
    {"on-critical", required_argument, NULL, CLI_OPT_ON_CRITICAL},         \
    {"no-share", no_argument, NULL, CLI_OPT_NO_SHARE},                     \
    {"share-file", required_argument, NULL, CLI_OPT_SHARE_FILE},           \
    {"share-cpus", required_argument, NULL, CLI_OPT_SHARE_CPUS},           \
    {"kill-grace", required_argument, NULL, CLI_OPT_KILL_GRACE}

/* Their --help text. */
extern const char cli_host_help[];

/* The defaults: the reserve (cli_default_mem_reserve), sharing on, a 2 s
 * kill grace, the rest zero. */
void cli_host_init(engine_options_t *o);

/* Parse host option c (getopt's optarg, kept: it is argv's) into o.  0,
 * or exit code 2 after a usage error naming the option; any other c is
 * cli_bad_option's error. */
int cli_host_option(const char *cmd, int c, char **argv,
                    engine_options_t *o);

/* ------------------------------------- GNU Parallel's execution control */

/* The options of `banyan run` that GNU Parallel has for execution
 * control (cli_gnu.c): put CLI_GNU_OPTIONS in the getopt table, show
 * cli_gnu_help, call cli_gnu_note() for every option getopt returns and
 * cli_gnu_option() for the ones the command does not know, then
 * cli_gnu_finish() once the options are read. */
enum {
    CLI_OPT_GNU_FIRST = 0x1900,
    CLI_OPT_DELAY = CLI_OPT_GNU_FIRST,
    CLI_OPT_NICE,
    CLI_OPT_WD,
    CLI_OPT_LOAD,
    CLI_OPT_MEMFREE,
    CLI_OPT_MEMSUSPEND,
    CLI_OPT_NOSWAP,
    CLI_OPT_LIMIT,
    CLI_OPT_TERMSEQ,
    CLI_OPT_ENV,
    CLI_OPT_WILL_CITE,
    CLI_OPT_CITATION,
    CLI_OPT_VERSION,
    CLI_OPT_TMPDIR,
    CLI_OPT_GROUP_OUTPUT,
    CLI_OPT_PLAIN,
    CLI_OPT_PROFILE,
    CLI_OPT_SHUF,
    CLI_OPT_SEMAPHORE,
    CLI_OPT_SEM_ID,
    CLI_OPT_SEM_FG,
    CLI_OPT_SEM_BG,
    CLI_OPT_SEM_WAIT,
    CLI_OPT_SEM_TIMEOUT,
    CLI_OPT_SLOT_VAR,
    CLI_OPT_NUMBER_OF_CORES,
    CLI_OPT_NUMBER_OF_THREADS,
    CLI_OPT_NUMBER_OF_SOCKETS,
    CLI_OPT_MINVERSION,
    CLI_OPT_RECORD_ENV,
    CLI_OPT_GNU_LAST = CLI_OPT_RECORD_ENV,
};

#define CLI_GNU_OPTIONS                                                    \
    {"max-procs", required_argument, NULL, 'P'},                           \
    {"delay", required_argument, NULL, CLI_OPT_DELAY},                     \
    {"nice", required_argument, NULL, CLI_OPT_NICE},                       \
    {"wd", required_argument, NULL, CLI_OPT_WD},                           \
    {"workdir", required_argument, NULL, CLI_OPT_WD},                      \
    {"load", required_argument, NULL, CLI_OPT_LOAD},                       \
    {"memfree", required_argument, NULL, CLI_OPT_MEMFREE},                 \
    {"memsuspend", required_argument, NULL, CLI_OPT_MEMSUSPEND},           \
    {"noswap", no_argument, NULL, CLI_OPT_NOSWAP},                         \
    {"limit", required_argument, NULL, CLI_OPT_LIMIT},                     \
    {"termseq", required_argument, NULL, CLI_OPT_TERMSEQ},                 \
    {"term-seq", required_argument, NULL, CLI_OPT_TERMSEQ},                \
    {"env", required_argument, NULL, CLI_OPT_ENV},                         \
    {"record-env", no_argument, NULL, CLI_OPT_RECORD_ENV},                 \
    {"will-cite", no_argument, NULL, CLI_OPT_WILL_CITE},                   \
    {"no-notice", no_argument, NULL, CLI_OPT_WILL_CITE},                   \
    {"bibtex", no_argument, NULL, CLI_OPT_CITATION},                       \
    {"citation", no_argument, NULL, CLI_OPT_CITATION},                     \
    {"version", no_argument, NULL, CLI_OPT_VERSION},                       \
    {"tmpdir", required_argument, NULL, CLI_OPT_TMPDIR},                   \
    {"tempdir", required_argument, NULL, CLI_OPT_TMPDIR},                  \
    {"group", no_argument, NULL, CLI_OPT_GROUP_OUTPUT},                    \
    {"plain", no_argument, NULL, CLI_OPT_PLAIN},                           \
    {"profile", required_argument, NULL, 'J'},                             \
    {"shuf", no_argument, NULL, CLI_OPT_SHUF},                             \
    {"semaphore", no_argument, NULL, CLI_OPT_SEMAPHORE},                   \
    {"id", required_argument, NULL, CLI_OPT_SEM_ID},                       \
    {"semaphorename", required_argument, NULL, CLI_OPT_SEM_ID},            \
    {"fg", no_argument, NULL, CLI_OPT_SEM_FG},                             \
    {"bg", no_argument, NULL, CLI_OPT_SEM_BG},                             \
    {"wait", no_argument, NULL, CLI_OPT_SEM_WAIT},                         \
    {"st", required_argument, NULL, CLI_OPT_SEM_TIMEOUT},                  \
    {"semaphoretimeout", required_argument, NULL, CLI_OPT_SEM_TIMEOUT},    \
    {"semaphore-timeout", required_argument, NULL, CLI_OPT_SEM_TIMEOUT},   \
    {"process-slot-var", required_argument, NULL, CLI_OPT_SLOT_VAR},       \
    {"gnu", no_argument, NULL, CLI_OPT_WILL_CITE},                         \
    {"number-of-cores", no_argument, NULL, CLI_OPT_NUMBER_OF_CORES},       \
    {"number-of-cpus", no_argument, NULL, CLI_OPT_NUMBER_OF_CORES},        \
    {"number-of-threads", no_argument, NULL, CLI_OPT_NUMBER_OF_THREADS},   \
    {"number-of-sockets", no_argument, NULL, CLI_OPT_NUMBER_OF_SOCKETS},   \
    {"minversion", required_argument, NULL, CLI_OPT_MINVERSION}

/* The short options among them, for getopt's string. */
#define CLI_GNU_SHORT "P:J:"

extern const char cli_gnu_help[];

/* A semaphore run (cmd_sem.c): GNU's sem, or parallel --semaphore. */
typedef struct cli_sem {
    long jobs;                 /* places (default 1) */
    const char *id;            /* NULL: the terminal's name */
    bool fg;                   /* wait for the command (else --bg) */
    bool wait;                 /* --wait: for every command of id */
    int64_t timeout_ms;        /* --st: > 0 take anyway, < 0 give up */
} cli_sem_t;

/* Run the command words under s (or, with s->wait, wait).  The exit
 * code: the command's with fg, 0 with bg, 1 when --st < 0 gave up. */
int cli_sem_exec(const cli_sem_t *s, int argc, char **argv);

/* What the GNU options asked for besides the host's options. */
typedef struct cli_gnu {
    engine_options_t *host;    /* filled in place */
    const char *jobs;          /* -j/-P as given (the last), or NULL */
    bool mem_asked;            /* a memory option (--mem, --mem-*,
                                  --memfree, --memsuspend, --load...) */
    bool share_asked;          /* --share-file or --share-cpus */
    bool shuf;                 /* --shuf */
    bool exit_now;             /* --version, --citation, --number-of-*,
                                  --minversion: printed; exit_code */
    int exit_code;
    bool sem;                  /* --semaphore, --fg, --bg, --wait, --id or
                                  --st: this is `banyan sem` */
    cli_sem_t sem_opts;        /* its options (jobs from -j at the end) */
} cli_gnu_t;

/* Note option c (anything getopt returned): memory and share options. */
void cli_gnu_note(cli_gnu_t *g, int c);

/* Parse GNU option c (getopt's optarg; -j is 'j' and -P, its value kept:
 * it is argv's).  0, exit code 2 after a usage error naming it, or -1
 * when c is not one of them.  --version, --citation, --number-of-* and
 * --minversion print and set exit_now and exit_code. */
int cli_gnu_option(const char *cmd, int c, cli_gnu_t *g);

/* The run's concurrency and the admission that goes with it, once the
 * options are read: *jobs from -j (as GNU: N, +N, -N, N%, 0 = ntasks,
 * a FILE read now and again at every start); without a memory option,
 * no admission below -j for want of a learnt estimate and no memory
 * reserve; with -j given and no share option, no fair sharing (GNU's -j
 * is exact).  0, or exit code 2 after a usage error. */
int cli_gnu_finish(const char *cmd, cli_gnu_t *g, uint64_t ntasks,
                   uint32_t *jobs);

/* Once the options are read with g->sem set: `banyan sem` on the command
 * words argv (-j from g->jobs, default 1).  The exit code. */
int cli_gnu_sem(const char *cmd, cli_gnu_t *g, int argc, char **argv);

/* argv with GNU Parallel's default options in front of the command line's:
 * those of /etc/parallel/config, ~/.parallel/config (or $PARALLEL_HOME's,
 * or -J PROFILE's files instead), ~/.parallelrc, then $PARALLEL, each
 * split into words as a shell would (GNU's shell_words); none with
 * --plain (pre: cli_gnu_prescan's).  *out_argv[0] is argv[0]; free it
 * with cli_gnu_argv_free().
 * 0, or -1 with the text in error (a -J profile that cannot be read). */
enum { CLI_GNU_PROFILES_MAX = 16 };
typedef struct cli_gnu_pre {
    const char *profiles[CLI_GNU_PROFILES_MAX]; /* -J values (argv's) */
    int nprofiles;
    bool plain;                                /* --plain */
} cli_gnu_pre_t;

/* Find -J and --plain among the command line's options (getopt_long with
 * the command's table, errors ignored; optind is reset). */
void cli_gnu_prescan(int argc, char **argv, const struct option *opts,
                     const char *shortopts, cli_gnu_pre_t *pre);

int cli_gnu_argv(int argc, char **argv, const cli_gnu_pre_t *pre,
                 int *out_argc, char ***out_argv, banyan_error_t *error);
void cli_gnu_argv_free(int argc, char **argv, char **orig);

#endif /* BANYAN_CLI_H */
