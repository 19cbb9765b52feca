/* SPDX-License-Identifier: MIT */
/* cli_gnu.c - GNU Parallel's execution-control options of `banyan run`
 * (-j's forms, -P, --delay, --nice, --wd, --load, --memfree,
 * --memsuspend, --noswap, --limit, --termseq, --env, --shuf, ...), and
 * its default options ($PARALLEL, ~/.parallel/config, -J PROFILE).
 *
 * They fill the host's engine_options_t: the local driver applies them
 * (src/local/local_ctl.c), so `banyan run` passes them on unchanged.
 * Options that GNU has only for its own machinery (--will-cite,
 * --no-notice, --compress, --tmpdir, --env for local runs, --group: the
 * default) are accepted and do what GNU's do for a local run: nothing
 * visible.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "local/local.h"

const char cli_gnu_help[] =
    "\nGNU Parallel's execution control (docs/gnu-parallel.md):\n"
    "  -j, -P, --max-procs N  N, +N, -N (cores plus/minus N), N% of the "
    "cores,\n"
    "                        0 (every task at once) or a FILE holding "
    "one\n"
    "                        (read again as tasks start)\n"
    "      --delay DUR       at least DUR between two starts\n"
    "      --nice N          run the tasks at niceness N\n"
    "      --wd DIR          run the tasks in DIR (created); ... a fresh "
    "one each\n"
    "      --load MAX        start only while fewer processes run (-j "
    "syntax)\n"
    "      --memfree SIZE    start only with SIZE available; kill the "
    "youngest\n"
    "                        task (and run it again) below SIZE/2\n"
    "      --memsuspend SIZE  suspend the youngest task below 2*SIZE\n"
    "      --noswap          start nothing while the host swaps in and "
    "out\n"
    "      --limit CMD       start only while CMD exits 0 (1: not now, 2:"
    " kill\n"
    "                        the youngest task); also \"mem SIZE\", \"load "
    "N\"\n"
    "      --termseq SEQ     how tasks are stopped: SIG,MS,SIG,MS,... (GNU's\n"
    "                        is TERM,200,TERM,100,TERM,50,KILL,25; banyan's "
    "TERM,\n"
    "                        then KILL after --kill-grace)\n"
    "      --timeout N%      kill a task after N% of the median run time of"
    "\n"
    "                        the tasks that succeeded\n"
    "      --shuf            run the tasks in a random order\n"
    "      --env VAR, --will-cite, --no-notice, --group, --compress, "
    "--tmpdir DIR\n"
    "                        accepted (local tasks inherit the "
    "environment)\n"
    "  -J, --profile NAME    read ~/.parallel/NAME instead of "
    "~/.parallel/config\n"
    "      --plain           ignore $PARALLEL and the config files\n"
    "      --process-slot-var NAME  NAME holds the slot - 1\n"
    "      --semaphore, --fg, --bg, --wait, --id ID, --st SECS  banyan sem\n"
    "      --version, --citation, --minversion V, --number-of-cores, ...\n";

/* ------------------------------------------------------------ options */

void cli_gnu_note(cli_gnu_t *g, int c)
{
    switch (c) {
    case CLI_OPT_MEM:
    case CLI_OPT_MEM_RESERVE:
    case CLI_OPT_MEM_DEFAULT:
    case CLI_OPT_MEM_TOTAL:
    case CLI_OPT_MEM_LIMIT:
    case CLI_OPT_MEM_CRITICAL:
    case CLI_OPT_MEM_GROUP:
    case CLI_OPT_NO_MUX:
    case CLI_OPT_ON_CRITICAL:
    case CLI_OPT_MEMFREE:
    case CLI_OPT_MEMSUSPEND:
        g->mem_asked = true;
        break;
    case CLI_OPT_SHARE_FILE:
    case CLI_OPT_SHARE_CPUS:
        g->share_asked = true;
        break;
    }
}

static const struct {
    const char *name;
    int sig;
} signames[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
    {"ILL", SIGILL},   {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},
    {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
    {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},   {"SYS", SIGSYS},
};

static int parse_signal(const char *s)
{
    long n;
    if (util_parse_long(s, 1, 64, &n) == 0)
        return (int)n;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
        if (!strcasecmp(s, signames[i].name))
            return signames[i].sig;
    return -1;
}

/* "TERM,200,TERM,100,KILL,25": signal, milliseconds, ...  GNU's. */
static int parse_termseq(const char *s, exec_termseq_t *q)
{
    char buf[512];
    if (strlen(s) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", s);
    memset(q, 0, sizeof(*q));
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w;
         w = strtok_r(NULL, ",", &save)) {
        if (q->n == EXEC_TERMSEQ_MAX)
            return -1;
        int sig = parse_signal(w);
        if (sig < 0)
            return -1;
        char *ms_word = strtok_r(NULL, ",", &save);
        long ms = 0;
        if (ms_word && util_parse_long(ms_word, 0, 86400000, &ms) < 0)
            return -1;
        q->sig[q->n] = sig;
        q->ms[q->n] = ms;
        q->n++;
    }
    return q->n > 0 ? 0 : -1;
}

enum { CLI_GNU_VERSION = 20221122 };

/* --number-of-threads: online CPUs; --number-of-cores (and the old
 * --number-of-cpus): distinct (package, core) pairs; --number-of-sockets:
 * distinct packages; from sysfs, the CPU count where it cannot tell. */
static unsigned cpu_count(int c)
{
    unsigned n = (unsigned)util_ncpus();
    if (c == CLI_OPT_NUMBER_OF_THREADS)
        return n;
    bool sockets = c == CLI_OPT_NUMBER_OF_SOCKETS;
    long seen[1024][2];
    unsigned nseen = 0;
    for (unsigned cpu = 0; cpu < 4096 && nseen < 1024; cpu++) {
        char path[128];
        long pkg = -1, core = -1;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/"
                 "topology/physical_package_id", cpu);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        if (fscanf(f, "%ld", &pkg) != 1)
            pkg = -1;
        fclose(f);
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/"
                 "topology/core_id", cpu);
        f = fopen(path, "re");
        if (f) {
            if (fscanf(f, "%ld", &core) != 1)
                core = -1;
            fclose(f);
        }
        if (sockets)
            core = 0;
        bool dup = false;
        for (unsigned i = 0; i < nseen && !dup; i++)
            dup = seen[i][0] == pkg && seen[i][1] == core;
        if (!dup) {
            seen[nseen][0] = pkg;
            seen[nseen][1] = core;
            nseen++;
        }
    }
    return nseen ? nseen : n;
}

static int print_version(void)
{
    printf("banyan %s\n"
           "banyan run: GNU Parallel's command line on banyan "
           "(docs/gnu-parallel.md)\n",
           banyan_version());
    return 0;
}

/* GNU's ignored_vars: $PARALLEL_HOME/ignored_vars, else
 * ~/.parallel/ignored_vars.  Into buf; returns buf. */
static const char *ignored_vars(char *buf, size_t size)
{
    const char *ph = getenv("PARALLEL_HOME"), *home = getenv("HOME");
    if (ph && *ph)
        snprintf(buf, size, "%s/ignored_vars", ph);
    else
        snprintf(buf, size, "%s/.parallel/ignored_vars", home ? home : ".");
    return buf;
}

/* --record-env: the names of this environment's variables, one a line,
 * into ignored_vars (GNU's), which --env _ then leaves out.  Exit 0, or
 * 255 with a line naming the file. */
static int record_env(const char *cmd, char *path, size_t size)
{
    extern char **environ;
    ignored_vars(path, size);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    (void)mkdir(path, 0777); /* ~/.parallel, as GNU makes it */
    *slash = '/';
    FILE *f = fopen(path, "w");
    for (char **e = environ; f && *e; e++) {
        const char *eq = strchr(*e, '=');
        fprintf(f, "%.*s\n", (int)(eq ? eq - *e : (ptrdiff_t)strlen(*e)), *e);
    }
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "banyan %s: cannot write %s: %s\n", cmd, path,
                strerror(errno));
        return 255;
    }
    return 0;
}

int cli_gnu_option(const char *cmd, int c, cli_gnu_t *g)
{
    engine_options_t *h = g->host;
    const char *arg = optarg;
    char path[4096];
    int64_t ms;
    uint64_t size, milli;
    long n;
    switch (c) {
    case 'j':
    case 'P':
        g->jobs = arg;
        return 0;
    case CLI_OPT_DELAY:
        if (util_parse_duration_ms(arg, &ms) < 0)
            return cli_usage_error(cmd, "invalid --delay '%s' (expected a "
                                   "duration like 0.5, 2s or 1m)", arg);
        h->delay_ms = ms;
        return 0;
    case CLI_OPT_NICE:
        if (util_parse_long(arg, -20, 19, &n) < 0)
            return cli_usage_error(cmd, "invalid --nice '%s' (expected "
                                   "-20 to 19)", arg);
        h->nice_set = true;
        h->nice = (int)n;
        return 0;
    case CLI_OPT_WD:
        if (!*arg)
            return cli_usage_error(cmd, "empty --wd");
        if (strchr(arg, '{') && strchr(strchr(arg, '{'), '}'))
            return cli_usage_error(cmd, "--wd '%s': replacement strings in "
                                   "--wd are not supported (put 'cd DIR &&' "
                                   "in the command)", arg);
        h->wd = arg;
        return 0;
    case CLI_OPT_LOAD:
        if (local_jobs_parse(arg, &milli) < 0 || milli == 0)
            return cli_usage_error(cmd, "invalid --load '%s' (expected N, "
                                   "+N, -N or N%%)", arg);
        h->load_milli = milli > UINT32_MAX ? UINT32_MAX : (uint32_t)milli;
        return 0;
    case CLI_OPT_MEMFREE:
    case CLI_OPT_MEMSUSPEND:
        if (util_parse_size(arg, &size) < 0 || size == 0)
            return cli_usage_error(cmd, "invalid --%s '%s' (expected a "
                                   "size like 512M or 2G)",
                                   c == CLI_OPT_MEMFREE ? "memfree"
                                                        : "memsuspend",
                                   arg);
        if (c == CLI_OPT_MEMFREE) {
            /* GNU: start nothing below SIZE, kill the youngest (and run
             * it again) below SIZE/2. */
            h->mem_reserve_bytes = size;
            h->mem_critical_bytes = size / 2;
            h->on_critical = ENGINE_CRITICAL_KILL;
        } else {
            /* GNU: suspend below 2*SIZE. */
            h->mem_critical_bytes = 2 * size;
            h->on_critical = ENGINE_CRITICAL_SUSPEND;
            if (h->mem_reserve_bytes < 2 * size)
                h->mem_reserve_bytes = 2 * size;
        }
        return 0;
    case CLI_OPT_NOSWAP:
        h->noswap = true;
        return 0;
    case CLI_OPT_LIMIT:
        if (!strncmp(arg, "io", 2) && (!arg[2] || isspace((unsigned char)
                                                          arg[2])))
            return cli_usage_error(cmd, "--limit io is not supported "
                                   "(GNU's needs iostat); use a command");
        if (!*arg)
            return cli_usage_error(cmd, "empty --limit");
        h->limit_cmd = arg;
        return 0;
    case CLI_OPT_TERMSEQ:
        if (parse_termseq(arg, &h->termseq) < 0)
            return cli_usage_error(cmd, "invalid --termseq '%s' (expected "
                                   "SIGNAL,MS,SIGNAL,MS,... like TERM,200,"
                                   "KILL,25)", arg);
        return 0;
    case CLI_OPT_ENV:
        /* Local tasks inherit the whole environment, as --env _ would
         * give them; a name is checked only for its shape.  --env _ wants
         * the names --record-env saw, as GNU's. */
        if (!*arg)
            return cli_usage_error(cmd, "empty --env");
        if (!strcmp(arg, "_") && access(ignored_vars(path, sizeof(path)),
                                        R_OK) < 0)
            return cli_usage_error(cmd, "Run 'banyan run --record-env' in "
                                   "a clean environment first.");
        return 0;
    case CLI_OPT_RECORD_ENV:
        g->exit_now = true;
        g->exit_code = record_env(cmd, path, sizeof(path));
        return 0;
    case CLI_OPT_WILL_CITE:
    case CLI_OPT_GROUP_OUTPUT:
    case CLI_OPT_PLAIN:
    case 'J': /* read by cli_gnu_argv */
        return 0;
    case CLI_OPT_TMPDIR: {
        struct stat st;
        if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode) ||
            access(arg, W_OK) < 0)
            return cli_usage_error(cmd, "--tmpdir '%s' is not a writable "
                                   "directory", arg);
        /* Where tasks' spilled output goes (exec), as GNU's. */
        if (setenv("TMPDIR", arg, 1) < 0)
            return cli_usage_error(cmd, "--tmpdir: %s", strerror(errno));
        return 0;
    }
    case CLI_OPT_SHUF:
        g->shuf = true;
        return 0;
    case CLI_OPT_SLOT_VAR:
        if (!*arg || strchr(arg, '='))
            return cli_usage_error(cmd, "invalid --process-slot-var '%s'",
                                   arg);
        h->slot_var = arg;
        return 0;
    case CLI_OPT_NUMBER_OF_CORES:
    case CLI_OPT_NUMBER_OF_THREADS:
    case CLI_OPT_NUMBER_OF_SOCKETS:
        g->exit_now = true;
        printf("%u\n", cpu_count(c));
        return 0;
    case CLI_OPT_MINVERSION: {
        /* The GNU Parallel release whose command line banyan run
         * follows. */
        long want;
        g->exit_now = true;
        printf("%d\n", CLI_GNU_VERSION);
        if (util_parse_long(arg, 0, 99999999, &want) < 0)
            return cli_usage_error(cmd, "invalid --minversion '%s'", arg);
        g->exit_code = want <= CLI_GNU_VERSION ? 0 : 255;
        return 0;
    }
    case CLI_OPT_SEMAPHORE:
        g->sem = true;
        return 0;
    case CLI_OPT_SEM_ID:
        g->sem = true;
        g->sem_opts.id = arg;
        return 0;
    case CLI_OPT_SEM_FG:
    case CLI_OPT_SEM_BG:
        g->sem = true;
        g->sem_opts.fg = c == CLI_OPT_SEM_FG;
        return 0;
    case CLI_OPT_SEM_WAIT:
        g->sem = true;
        g->sem_opts.wait = true;
        return 0;
    case CLI_OPT_SEM_TIMEOUT: {
        bool neg = *arg == '-';
        if (util_parse_duration_ms(arg + neg, &ms) < 0)
            return cli_usage_error(cmd, "invalid --semaphoretimeout '%s'",
                                   arg);
        g->sem = true;
        g->sem_opts.timeout_ms = neg ? -ms : ms;
        return 0;
    }
    case CLI_OPT_VERSION:
        g->exit_now = true;
        return print_version();
    case CLI_OPT_CITATION:
        g->exit_now = true;
        printf("banyan never asks to be cited; to cite GNU Parallel, whose "
               "command line\nbanyan run follows:\n\n"
               "  Tange, O. (2022, November 22). GNU Parallel 20221122.\n"
               "  Zenodo. https://doi.org/10.5281/zenodo.7347980\n");
        return 0;
    }
    return -1;
}

int cli_gnu_sem(const char *cmd, cli_gnu_t *g, int argc, char **argv)
{
    cli_sem_t s = g->sem_opts;
    s.jobs = 1; /* GNU's sem: a mutex unless -j says */
    if (g->jobs) {
        uint64_t milli;
        if (local_jobs_parse(g->jobs, &milli) < 0)
            return cli_usage_error(cmd, "invalid --jobs '%s'", g->jobs);
        s.jobs = milli == 0 ? 1000000 : local_jobs_from_milli(milli);
    }
    if (!s.wait && argc == 0)
        return cli_usage_error(cmd, "no command given");
    return cli_sem_exec(&s, argc, argv);
}

int cli_gnu_finish(const char *cmd, cli_gnu_t *g, uint64_t ntasks,
                   uint32_t *jobs)
{
    engine_options_t *h = g->host;
    if (h->load_milli || h->noswap || h->limit_cmd)
        g->mem_asked = true; /* the user asked for limits: banyan's too */
    if (g->jobs) {
        uint64_t milli;
        if (local_jobs_parse(g->jobs, &milli) < 0) {
            struct stat st;
            FILE *f = stat(g->jobs, &st) == 0 && S_ISREG(st.st_mode)
                          ? fopen(g->jobs, "re") : NULL;
            char buf[64] = "";
            bool ok = f && fgets(buf, sizeof(buf), f);
            if (f)
                fclose(f);
            if (!ok || local_jobs_parse(buf, &milli) < 0)
                return cli_usage_error(cmd, "invalid --jobs '%s' (expected "
                                       "N, +N, -N, N%%, 0 or a file "
                                       "holding one)", g->jobs);
            h->jobs_file = g->jobs;
        }
        if (milli == 0) {
            /* GNU: as many as the system allows; here every task at once,
             * as far as file handles (two pipes a task) and processes
             * allow. */
            uint64_t n = ntasks ? ntasks : 1;
            struct rlimit rl;
            if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
                rl.rlim_cur != RLIM_INFINITY && n > rl.rlim_cur / 4)
                n = rl.rlim_cur / 4;
            if (getrlimit(RLIMIT_NPROC, &rl) == 0 &&
                rl.rlim_cur != RLIM_INFINITY && n > rl.rlim_cur / 2)
                n = rl.rlim_cur / 2;
            if (n < 1)
                n = 1;
            *jobs = n > 1000000 ? 1000000 : (uint32_t)n;
        } else {
            *jobs = local_jobs_from_milli(milli);
        }
        if (!g->share_asked)
            h->share = false;
    }
    if (!g->mem_asked) {
        /* GNU's -j is exact unless memory or load limits are asked for:
         * estimates are still learnt, but admit nothing. */
        h->mem_no_estimate = true;
        h->mem_reserve_bytes = 0;
    }
    return 0;
}

/* ---------------------------------------------------- default options */

typedef struct words {
    char **v;
    size_t n, cap;
} words_t;

static int words_add(words_t *w, const char *s, size_t len)
{
    if (util_grow((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v)) < 0)
        return -1;
    char *c = strndup(s, len);
    if (!c)
        return -1;
    w->v[w->n++] = c;
    return 0;
}

/* Split line into words as Perl's Text::ParseWords::shellwords does:
 * blanks separate; '...' is literal; "..." keeps its text, a backslash
 * escaping the next character; a backslash outside quotes escapes the
 * next character.  -1 ENOMEM or EINVAL (an open quote). */
static int shell_words(const char *line, words_t *w)
{
    const char *p = line;
    util_buf_t b = UTIL_BUF_INIT;
    int rc = 0;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        b.len = 0;
        while (*p && !isspace((unsigned char)*p) && rc == 0) {
            if (*p == '\\' && p[1]) {
                rc = util_buf_putc(&b, p[1]);
                p += 2;
            } else if (*p == '\'' || *p == '"') {
                char q = *p++;
                while (*p && *p != q && rc == 0) {
                    if (q == '"' && *p == '\\' && p[1])
                        p++;
                    rc = util_buf_putc(&b, *p++);
                }
                if (*p != q) {
                    errno = EINVAL;
                    rc = -1;
                    break;
                }
                p++;
            } else {
                rc = util_buf_putc(&b, *p++);
            }
        }
        if (rc < 0 || util_buf_putc(&b, '\0') < 0 ||
            words_add(w, b.data, b.len - 1) < 0) {
            rc = -1;
            break;
        }
    }
    util_buf_fini(&b);
    return rc;
}

/* Add the words of file path (lines beginning with # are comments).
 * missing_ok: a file that is not there adds nothing. */
static int read_profile(const char *path, bool missing_ok, words_t *w,
                        banyan_error_t *error)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        if (missing_ok)
            return 0;
        return errprintf(error, "%s not readable", path);
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        const char *p = line + strspn(line, " \t");
        if (*p == '#')
            continue;
        if (shell_words(line, w) < 0)
            rc = errprintf(error, "cannot read %s: %s", path,
                           errno == EINVAL ? "unmatched quote"
                                           : strerror(errno));
    }
    free(line);
    fclose(f);
    return rc;
}

/* GNU's config directories that exist: $PARALLEL_HOME, then
 * ~/.parallel. */
static void config_dirs(char dirs[2][4096], int *n)
{
    struct stat st;
    const char *home = getenv("HOME");
    const char *ph = getenv("PARALLEL_HOME");
    *n = 0;
    if (ph && *ph && stat(ph, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(dirs[(*n)++], 4096, "%s", ph);
    if (home && *home) {
        snprintf(dirs[*n], 4096, "%s/.parallel", home);
        if (stat(dirs[*n], &st) == 0 && S_ISDIR(st.st_mode))
            (*n)++;
    }
}

void cli_gnu_prescan(int argc, char **argv, const struct option *opts,
                     const char *shortopts, cli_gnu_pre_t *pre)
{
    memset(pre, 0, sizeof(*pre));
    int saved_opterr = opterr;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        if (c == 'J' && pre->nprofiles < CLI_GNU_PROFILES_MAX)
            pre->profiles[pre->nprofiles++] = optarg;
        else if (c == CLI_OPT_PLAIN)
            pre->plain = true;
    }
    optind = 1;
    opterr = saved_opterr;
}

int cli_gnu_argv(int argc, char **argv, const cli_gnu_pre_t *pre,
                 int *out_argc, char ***out_argv, banyan_error_t *error)
{
    words_t w = {0};
    bool plain = pre->plain;
    const char *const *profiles = pre->profiles;
    int np = pre->nprofiles;
    if (util_grow((void **)&w.v, &w.cap, 1, sizeof(*w.v)) < 0)
        goto nomem;
    w.v[w.n++] = argv[0];
    if (!plain) {
        char dirs[2][4096], path[8300];
        int nd;
        config_dirs(dirs, &nd);
        const char *home = getenv("HOME");
        if (np == 0) {
            if (read_profile("/etc/parallel/config", true, &w, error) < 0)
                goto fail;
            for (int d = 0; d < nd; d++) {
                snprintf(path, sizeof(path), "%s/config", dirs[d]);
                if (read_profile(path, true, &w, error) < 0)
                    goto fail;
            }
            if (home && *home) {
                snprintf(path, sizeof(path), "%s/.parallelrc", home);
                if (read_profile(path, true, &w, error) < 0)
                    goto fail;
            }
        }
        for (int k = 0; k < np; k++) {
            const char *p = profiles[k];
            bool found = false;
            if (p[0] == '/' || !strncmp(p, "./", 2)) {
                found = access(p, R_OK) == 0;
                if (found && read_profile(p, false, &w, error) < 0)
                    goto fail;
            } else {
                for (int d = 0; d < nd; d++) {
                    snprintf(path, sizeof(path), "%s/%s", dirs[d], p);
                    if (access(path, R_OK) != 0)
                        continue;
                    found = true;
                    if (read_profile(path, false, &w, error) < 0)
                        goto fail;
                }
            }
            if (!found) {
                errprintf(error, "profile '%s' not readable", p);
                goto fail;
            }
        }
        const char *env = getenv("PARALLEL");
        if (env && *env && shell_words(env, &w) < 0) {
            errprintf(error, "cannot split $PARALLEL: %s",
                      errno == EINVAL ? "unmatched quote" : strerror(errno));
            goto fail;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (util_grow((void **)&w.v, &w.cap, w.n + 2, sizeof(*w.v)) < 0)
            goto nomem;
        w.v[w.n++] = argv[i];
    }
    if (util_grow((void **)&w.v, &w.cap, w.n + 1, sizeof(*w.v)) < 0)
        goto nomem;
    w.v[w.n] = NULL;
    *out_argc = (int)w.n;
    *out_argv = w.v;
    return 0;
nomem:
    errprintf(error, "out of memory");
fail:
    cli_gnu_argv_free((int)w.n, w.v, argv);
    return -1;
}

void cli_gnu_argv_free(int argc, char **argv, char **orig)
{
    if (!argv || argv == orig)
        return;
    /* The words that are not the caller's were allocated here: they sit
     * between argv[0] and the caller's argv[1]. */
    int own = argc;
    for (int i = 1; i < argc; i++) {
        if (orig[1] && argv[i] == orig[1]) {
            own = i;
            break;
        }
    }
    for (int i = 1; i < own; i++)
        free(argv[i]);
    free(argv);
}
