/* SPDX-License-Identifier: MIT */
/* cmd_launch.c - banyan launch: a server and N workers, as child processes,
 * for the length of a command (or until a signal).
 *
 *   banyan launch --engines N [OPTION]... [-- CMD ARGS...]
 *
 * Launch composes `banyan server` and `banyan worker` as real processes,
 * started from its own executable (/proc/self/exe) so that the same build
 * runs everywhere.  The order of events:
 *
 *   1. the server starts; its first stdout line ("banyan server: listening
 *      on EP") gives the endpoint (it may have picked a free port);
 *   2. N workers start: locally, through ssh round-robin over a hosts file,
 *      as one srun step, or as the ranks of one mpirun;
 *   3. the server's status is polled until N engines have joined (or
 *      --ready-timeout: exit 1 naming how many did);
 *   4. the endpoint goes to --endpoint-file, "N engines ready" to stderr,
 *      and CMD runs with BANYAN_SERVER=EP;
 *   5. shutdown (CMD ended, a signal, or a child died unexpectedly): SIGTERM
 *      to CMD, the workers and their starters, up to --grace to end, then
 *      SIGKILL; then the server the same way.
 *
 * Invariants: every process launch starts is in `children` until reaped,
 * and every one was started with PR_SET_PDEATHSIG, so that even a SIGKILL
 * of launch leaves no process running for long.  The signals launch acts
 * on (INT, TERM, HUP, CHLD) are blocked and taken with sigtimedwait(), so
 * nothing runs in a signal handler and no event is lost between checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_client.h"
#include "cli_launch.h"
#include "msg/msg.h"

static const char usage_text[] =
    "Usage: banyan launch --engines N [OPTION]... [-- CMD [ARG]...]\n"
    "Start a server and N workers, wait until they have all joined, run\n"
    "CMD with BANYAN_SERVER set to the server, then stop everything.\n"
    "Without CMD, stay until SIGINT, SIGTERM or SIGHUP.\n"
    "\n"
    "Options:\n"
    "      --engines N        workers to start (required)\n"
    "      --slots N          tasks at once per worker (worker --slots)\n"
    "      --noop             workers complete tasks without running them\n"
    "      --fanout K         the server's tree fan-out (server --fanout)\n"
    "      --db FILE          the server's database (default: a temporary\n"
    "                         file, removed at the end)\n"
    "      --bind ENDPOINT    where the server listens (default\n"
    "                         tcp://127.0.0.1:0, a free port)\n"
    "      --insecure         let the server listen off loopback without\n"
    "                         CURVE keys (trusted networks only)\n"
    "      --grace DUR        SIGTERM -> SIGKILL delay at shutdown "
    "(default 5s)\n"
    "      --ready-timeout DUR  how long the engines may take to join\n"
    "                         (default 60s)\n"
    "      --endpoint-file F  write the endpoint to F once ready (removed\n"
    "                         at the end)\n"
    "      --hosts FILE       start the workers with ssh on these hosts\n"
    "                         (\"host [slots]\" a line), round-robin\n"
    "      --slurm            start the workers with srun --ntasks=N\n"
    "      --mpi              start the workers as the ranks of mpirun -np N\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit: CMD's exit status (128+N if a signal N ended it); without CMD, 0\n"
    "after a signal; 1 when the engines did not join or a process died;\n"
    "2 bad usage; 127 CMD not found.\n";

enum {
    OPT_ENGINES = 256, OPT_FANOUT, OPT_SLOTS, OPT_NOOP, OPT_DB, OPT_BIND,
    OPT_GRACE, OPT_ENDPOINT_FILE, OPT_READY_TIMEOUT, OPT_HOSTS, OPT_SLURM,
    OPT_MPI, OPT_INSECURE,
    MAX_ENGINES = 100000,
    POLL_MS = 100,            /* status polls while waiting for engines */
    QUERY_TIMEOUT_MS = 2000,  /* one status request */
    EP_MAX = 512,
    SSH_BURST = 8,            /* ssh connections per host at once */
    SSH_PAUSE_MS = 500,       /* between bursts */
};

typedef enum {
    MODE_LOCAL, MODE_HOSTS, MODE_SLURM, MODE_MPI,
    MODE_LIST,                /* cli_launch_run(): the caller's workers */
} launch_mode_t;

/* What stopped the run, checked in this order. */
typedef enum {
    CHILD_CMD, CHILD_WORKER, CHILD_STARTER, CHILD_SERVER,
} child_kind_t;

typedef struct host {
    char *name;          /* owned */
    long slots;          /* worker --slots on this host; 0 = --slots */
} host_t;

typedef struct child {
    pid_t pid;
    child_kind_t kind;
    char label[48];      /* "worker 3", "mpirun", ... for messages */
    bool exited;
    int status;          /* waitpid status once exited */
} child_t;

typedef struct launch {
    /* options */
    long engines, fanout, slots;
    bool noop, insecure;
    const char *db, *bind, *endpoint_file, *hosts_file;
    int64_t grace_ms, ready_timeout_ms;
    launch_mode_t mode;
    char **cmd;                  /* borrowed from argv; NULL = none */
    host_t *hosts;               /* owned, with --hosts */
    size_t nhosts, hosts_cap;
    /* resolved paths */
    char exe[PATH_MAX];          /* this very executable */
    char starter[PATH_MAX];      /* mpirun, srun or ssh */
    char cmd_path[PATH_MAX];
    char **cmd_sh_argv;          /* /bin/sh CMD_PATH ARGS..., for a script
                                    without "#!" (as execvp does); owned */
    bool openmpi;                /* mpirun is Open MPI's */
    /* run state */
    char tmpdir[PATH_MAX];       /* private directory, "" if none */
    char db_buf[PATH_MAX + 16];
    char endpoint[EP_MAX];       /* for workers and clients */
    child_t *children;
    size_t nchildren, children_cap;
    int ssh_stdin[2];            /* held open so ssh never sees EOF */
    sigset_t waited;             /* the blocked signals we act on */
    sigset_t old_mask;           /* restored in children */
    int stop_signal;             /* first INT/TERM/HUP received, 0 = none */
    int nstops;                  /* INT/TERM/HUP received in all */
    bool endpoint_written;
    /* MODE_LIST (cli_launch_run) */
    const cli_launch_spec_t *spec;
    const char *cmd_name;        /* "launch", or the caller's command, for
                                    messages */
    char token[MSG_TOKEN_LEN + 1];
    int *list_fds;               /* ssh stdin pipes held open (write ends) */
    size_t nlist_fds, list_cap;
} launch_t;

/* ------------------------------------------------------------- options */

static int find_on_path(const char *name, char *out, size_t size)
{
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return access(name, X_OK);
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && (size_t)snprintf(out, size, "%.*s/%s", (int)n, path,
                                      name) < size &&
            access(out, X_OK) == 0)
            return 0;
        path += n + (path[n] == ':');
    }
    errno = ENOENT;
    return -1;
}

static int read_hosts(launch_t *l)
{
    FILE *f = fopen(l->hosts_file, "r");
    if (!f)
        return cli_usage_error("launch", "--hosts: cannot read %s: %s",
                               l->hosts_file, strerror(errno));
    char line[512];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "#\r\n")] = '\0';
        char *save = NULL, *name = strtok_r(line, " \t", &save);
        if (!name)
            continue;
        char *slots = strtok_r(NULL, " \t", &save);
        long v = 0;
        if ((slots && util_parse_long(slots, 1, 1000000, &v) < 0) ||
            strtok_r(NULL, " \t", &save)) {
            rc = cli_usage_error("launch", "%s:%d: expected \"host "
                                 "[slots]\"", l->hosts_file, lineno);
            break;
        }
        char *dup = strdup(name);
        if (!dup || util_grow((void **)&l->hosts, &l->hosts_cap,
                              l->nhosts + 1, sizeof(*l->hosts)) < 0) {
            free(dup);
            fclose(f);
            return cli_fail("launch", BANYAN_EXIT_INTERNAL, "out of memory");
        }
        l->hosts[l->nhosts++] = (host_t){dup, v};
    }
    fclose(f);
    if (rc == 0 && l->nhosts == 0)
        rc = cli_usage_error("launch", "--hosts: no hosts in %s",
                             l->hosts_file);
    return rc;
}

/* Open MPI needs --oversubscribe to start more ranks than cores, and
 * --allow-run-as-root under root; other mpiruns (MPICH's hydra) refuse
 * those flags, so ask which one this is. */
static bool mpirun_is_openmpi(const char *mpirun)
{
    util_buf_t b = UTIL_BUF_INIT;
    util_shell_quote(&b, mpirun);
    util_buf_puts(&b, " --version 2>&1");
    FILE *p = b.data ? popen(b.data, "r") : NULL;
    util_buf_fini(&b);
    if (!p)
        return false;
    char line[256];
    bool open = false;
    while (fgets(line, sizeof(line), p))
        open = open || strstr(line, "Open MPI") || strstr(line, "OpenRTE");
    pclose(p);
    return open;
}

static int parse_duration(const char *opt, const char *v, int64_t *ms)
{
    if (util_parse_duration_ms(v, ms) < 0 || *ms < 0)
        return cli_usage_error("launch", "%s: not a duration: '%s'", opt, v);
    return 0;
}

static int parse_args(launch_t *l, int argc, char **argv, bool *help)
{
    static const struct option opts[] = {
        {"engines", required_argument, NULL, OPT_ENGINES},
        {"fanout", required_argument, NULL, OPT_FANOUT},
        {"slots", required_argument, NULL, OPT_SLOTS},
        {"noop", no_argument, NULL, OPT_NOOP},
        {"db", required_argument, NULL, OPT_DB},
        {"bind", required_argument, NULL, OPT_BIND},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"endpoint-file", required_argument, NULL, OPT_ENDPOINT_FILE},
        {"ready-timeout", required_argument, NULL, OPT_READY_TIMEOUT},
        {"hosts", required_argument, NULL, OPT_HOSTS},
        {"slurm", no_argument, NULL, OPT_SLURM},
        {"mpi", no_argument, NULL, OPT_MPI},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int modes = 0, c;
    opterr = 0;
    optind = 1;
    /* "+": CMD's own options are not ours. */
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ENGINES:
            if (util_parse_long(optarg, 1, MAX_ENGINES, &l->engines) < 0)
                return cli_usage_error("launch", "--engines: not a number "
                                       "from 1 to %d: '%s'", MAX_ENGINES,
                                       optarg);
            break;
        case OPT_FANOUT:
            if (util_parse_long(optarg, 1, 1000000, &l->fanout) < 0)
                return cli_usage_error("launch", "bad --fanout '%s'",
                                       optarg);
            break;
        case OPT_SLOTS:
            if (util_parse_long(optarg, 1, 1000000, &l->slots) < 0)
                return cli_usage_error("launch", "bad --slots '%s'", optarg);
            break;
        case OPT_NOOP: l->noop = true; break;
        case OPT_DB: l->db = optarg; break;
        case OPT_BIND: l->bind = optarg; break;
        case OPT_INSECURE: l->insecure = true; break;
        case OPT_GRACE:
            if (parse_duration("--grace", optarg, &l->grace_ms))
                return BANYAN_EXIT_USAGE;
            break;
        case OPT_READY_TIMEOUT:
            if (parse_duration("--ready-timeout", optarg,
                               &l->ready_timeout_ms))
                return BANYAN_EXIT_USAGE;
            if (l->ready_timeout_ms == 0)
                return cli_usage_error("launch", "--ready-timeout must be "
                                       "more than 0");
            break;
        case OPT_ENDPOINT_FILE: l->endpoint_file = optarg; break;
        case OPT_HOSTS: l->hosts_file = optarg; l->mode = MODE_HOSTS;
            modes++; break;
        case OPT_SLURM: l->mode = MODE_SLURM; modes++; break;
        case OPT_MPI: l->mode = MODE_MPI; modes++; break;
        case 'h': *help = true; return 0;
        default:
            return cli_bad_option("launch", c, argv);
        }
    }
    if (l->engines < 1)
        return cli_usage_error("launch", "--engines N is required");
    if (modes > 1)
        return cli_usage_error("launch", "--hosts, --slurm and --mpi "
                               "exclude each other");
    if (optind < argc)
        l->cmd = argv + optind;
    return 0;
}

/* Paths of the programs launch will run, checked before anything starts. */
static int resolve_programs(launch_t *l)
{
    ssize_t n = readlink("/proc/self/exe", l->exe, sizeof(l->exe) - 1);
    if (n < 0)
        return cli_fail("launch", BANYAN_EXIT_INTERNAL,
                        "cannot find its own executable (/proc/self/exe): %s",
                        strerror(errno));
    l->exe[n] = '\0';
    static const char *const starters[] = {
        [MODE_HOSTS] = "ssh", [MODE_SLURM] = "srun", [MODE_MPI] = "mpirun",
    };
    if (l->mode != MODE_LOCAL &&
        find_on_path(starters[l->mode], l->starter, sizeof(l->starter)) < 0)
        return cli_usage_error("launch", "%s: %s not found on PATH",
                               l->mode == MODE_MPI     ? "--mpi"
                               : l->mode == MODE_SLURM ? "--slurm"
                                                       : "--hosts",
                               starters[l->mode]);
    if (l->mode == MODE_MPI)
        l->openmpi = mpirun_is_openmpi(l->starter);
    if (l->cmd && find_on_path(l->cmd[0], l->cmd_path, sizeof(l->cmd_path)) < 0)
        return cli_fail("launch", 127, "%s: command not found", l->cmd[0]);
    return 0;
}

/* ------------------------------------------------------------ children */

/* Start argv[0] (a path) with stdin from in_fd and stdout to out_fd (-1:
 * inherited).  fork+exec rather than posix_spawn: the child must ask for
 * PR_SET_PDEATHSIG between the two, which posix_spawn cannot do without
 * exec'ing a wrapper first.  Only async-signal-safe calls run in the child
 * (launch has ZeroMQ threads once it has queried the server). */
static pid_t spawn(launch_t *l, char *const argv[], int in_fd, int out_fd,
                   child_kind_t kind, const char *label)
{
    if (util_grow((void **)&l->children, &l->children_cap, l->nchildren + 1,
                  sizeof(*l->children)) < 0)
        return cli_fail("launch", -1, "out of memory");
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return cli_fail("launch", -1, "cannot start %s: %s", label,
                        strerror(errno));
    if (pid == 0) {
        /* SIGTERM when launch dies, even by SIGKILL; and if it died
         * before the prctl, getppid() already tells. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
            _exit(127);
        if (in_fd >= 0 && in_fd != 0 && dup2(in_fd, 0) < 0)
            _exit(127);
        if (out_fd >= 0 && out_fd != 1 && dup2(out_fd, 1) < 0)
            _exit(127);
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        static const int reset[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD,
                                    SIGPIPE, SIGQUIT};
        for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
            sigaction(reset[i], &dfl, NULL);
        sigprocmask(SIG_SETMASK, &l->old_mask, NULL);
        execv(argv[0], argv);
        if (errno == ENOEXEC && kind == CHILD_CMD && l->cmd_sh_argv)
            execv(l->cmd_sh_argv[0], l->cmd_sh_argv);
        static const char msg[] = "banyan launch: cannot execute ";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        w = write(2, argv[0], strlen(argv[0]));
        w = write(2, "\n", 1);
        (void)w;
        _exit(127);
    }
    child_t *ch = &l->children[l->nchildren++];
    *ch = (child_t){.pid = pid, .kind = kind};
    snprintf(ch->label, sizeof(ch->label), "%s", label);
    return pid;
}

/* spawn() with stderr (and stdout when out_fd is -2) to the file NAME in
 * the private directory: MODE_LIST keeps its children's logs there and
 * shows them only when something went wrong. */
static pid_t spawn_logged(launch_t *l, char *const argv[], int in_fd,
                          int out_fd, child_kind_t kind, const char *label,
                          const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", l->tmpdir, name);
    int log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = dup(2);
    pid_t pid = -1;
    if (log < 0 || err < 0 || dup2(log, 2) < 0)
        fprintf(stderr, "banyan %s: cannot write %s: %s\n", l->cmd_name,
                path, strerror(errno));
    else
        pid = spawn(l, argv, in_fd, out_fd == -2 ? log : out_fd, kind,
                    label);
    if (err >= 0) {
        dup2(err, 2);
        close(err);
    }
    if (log >= 0)
        close(log);
    return pid;
}

static child_t *child_find(launch_t *l, pid_t pid)
{
    for (size_t i = 0; i < l->nchildren; i++)
        if (l->children[i].pid == pid)
            return &l->children[i];
    return NULL;
}

static void reap(launch_t *l)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        child_t *ch = child_find(l, pid);
        if (ch) {
            ch->exited = true;
            ch->status = st;
        }
    }
}

/* Wait up to timeout_ms for a signal; note stop signals, reap children.
 * Takes every pending signal before returning, so that a SIGINT that came
 * with the SIGCHLD of a child it stopped is seen first. */
static void wait_event(launch_t *l, int64_t timeout_ms)
{
    if (timeout_ms < 0)
        timeout_ms = 0;
    struct timespec ts = {timeout_ms / 1000, timeout_ms % 1000 * 1000000};
    int sig;
    while ((sig = sigtimedwait(&l->waited, NULL, &ts)) > 0) {
        ts = (struct timespec){0, 0};
        if (sig == SIGCHLD)
            continue;
        l->nstops++;
        if (!l->stop_signal)
            l->stop_signal = sig;
    }
    reap(l);
}

/* The first child that ended while it should still run, or NULL. */
static child_t *unexpected_exit(launch_t *l)
{
    for (size_t i = 0; i < l->nchildren; i++)
        if (l->children[i].exited && l->children[i].kind != CHILD_CMD)
            return &l->children[i];
    return NULL;
}

static void report_exit(const launch_t *l, const child_t *ch)
{
    if (WIFSIGNALED(ch->status))
        fprintf(stderr, "banyan %s: %s (pid %d) was killed by %s\n",
                l->cmd_name, ch->label, (int)ch->pid,
                strsignal(WTERMSIG(ch->status)));
    else
        fprintf(stderr, "banyan %s: %s (pid %d) exited with status %d\n",
                l->cmd_name, ch->label, (int)ch->pid,
                WEXITSTATUS(ch->status));
}

static bool kind_running(const launch_t *l, child_kind_t from,
                         child_kind_t to)
{
    for (size_t i = 0; i < l->nchildren; i++)
        if (!l->children[i].exited && l->children[i].kind >= from &&
            l->children[i].kind <= to)
            return true;
    return false;
}

/* SIGTERM the running children of kinds from..to, wait up to the grace
 * period, then SIGKILL what is left and wait for it.  A second stop signal
 * cuts the grace period short. */
static void stop_kinds(launch_t *l, child_kind_t from, child_kind_t to)
{
    for (size_t i = 0; i < l->nchildren; i++) {
        child_t *ch = &l->children[i];
        /* CMD gets the signal launch got (Ctrl-C stays Ctrl-C for it). */
        int sig = ch->kind == CHILD_CMD && l->stop_signal ? l->stop_signal
                                                          : SIGTERM;
        if (!ch->exited && ch->kind >= from && ch->kind <= to)
            kill(ch->pid, sig);
    }
    int nstops = l->nstops;
    int64_t deadline = util_mono_ms() + l->grace_ms;
    while (kind_running(l, from, to) && util_mono_ms() < deadline) {
        int64_t left = deadline - util_mono_ms();
        wait_event(l, left < 50 ? left : 50);
        if (l->nstops > nstops)
            break;
    }
    for (size_t i = 0; i < l->nchildren; i++) {
        child_t *ch = &l->children[i];
        if (ch->exited || ch->kind < from || ch->kind > to)
            continue;
        fprintf(stderr, "banyan %s: %s (pid %d) did not stop within "
                        "the grace period; killing it\n", l->cmd_name,
                ch->label,
                (int)ch->pid);
        kill(ch->pid, SIGKILL);
        while (waitpid(ch->pid, &ch->status, 0) < 0 && errno == EINTR)
            ;
        ch->exited = true;
    }
}

static void stop_all(launch_t *l)
{
    stop_kinds(l, CHILD_CMD, CHILD_STARTER);
    stop_kinds(l, CHILD_SERVER, CHILD_SERVER);
}

/* -------------------------------------------------------------- server */

static int make_tmpdir(launch_t *l)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(l->tmpdir, sizeof(l->tmpdir), "%s/banyan-launch-XXXXXX", base);
    if (!mkdtemp(l->tmpdir)) {
        l->tmpdir[0] = '\0';
        return cli_fail("launch", -1, "cannot create a directory in %s: %s",
                        base, strerror(errno));
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0)
        fprintf(stderr, "banyan launch: cannot remove %s: %s\n", path,
                strerror(errno));
    return 0;
}

/* The private directory holds the database, its journal files and the
 * server's task logs (DB.logs/). */
static void remove_tmpdir(launch_t *l)
{
    if (l->tmpdir[0])
        nftw(l->tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A server bound to every address reports 0.0.0.0 (or *): workers and
 * clients need an address they can connect to. */
static void set_endpoint(launch_t *l, const char *reported)
{
    const char *host = strstr(reported, "://");
    host = host ? host + 3 : reported;
    size_t hl = strcspn(host, ":");
    char name[256] = "127.0.0.1";
    bool any = (hl == 7 && !strncmp(host, "0.0.0.0", 7)) ||
               (hl == 1 && host[0] == '*');
    if (any && (l->mode == MODE_HOSTS || l->mode == MODE_SLURM)) {
        if (gethostname(name, sizeof(name)) < 0)
            strcpy(name, "127.0.0.1");
        name[sizeof(name) - 1] = '\0';
    }
    /* scheme://, then the host (or the name for "any"), then :port */
    size_t pl = (size_t)(host - reported);
    const char *h = any ? name : host;
    size_t nl = any ? strlen(name) : hl;
    size_t rl = strlen(host + hl);
    if (pl + nl + rl >= sizeof(l->endpoint)) { /* cannot happen: EP_MAX */
        h = host;
        nl = hl;
        rl = 0;
        if (pl + nl >= sizeof(l->endpoint))
            pl = nl = 0;
    }
    memcpy(l->endpoint, reported, pl);
    memcpy(l->endpoint + pl, h, nl);
    memcpy(l->endpoint + pl + nl, host + hl, rl);
    l->endpoint[pl + nl + rl] = '\0';
}

/* Read the server's "banyan server: listening on EP" line.  Its stdout is
 * closed afterwards: the server logs on stderr and ignores SIGPIPE, and a
 * pipe nobody drains could block it later. */
static int read_listen_line(launch_t *l, int fd, int64_t deadline)
{
    static const char prefix[] = "banyan server: listening on ";
    char line[EP_MAX + sizeof(prefix)];
    size_t len = 0;
    while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
        if (util_mono_ms() >= deadline || l->stop_signal ||
            unexpected_exit(l))
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, POLL_MS);
        if (r > 0) {
            ssize_t n = read(fd, line + len, sizeof(line) - 1 - len);
            if (n <= 0)
                return -1;
            len += (size_t)n;
        }
        wait_event(l, 0);
    }
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
        return cli_fail("launch", -1, "unexpected line from the server: %s",
                        line);
    set_endpoint(l, line + sizeof(prefix) - 1);
    return 0;
}

static int start_server(launch_t *l, int null)
{
    char fanout[24];
    char *argv[12];
    int n = 0;
    argv[n++] = l->exe;
    argv[n++] = "server";
    argv[n++] = "--listen";
    argv[n++] = (char *)l->bind;
    argv[n++] = "--db";
    argv[n++] = (char *)l->db;
    if (l->fanout > 0) {
        snprintf(fanout, sizeof(fanout), "%ld", l->fanout);
        argv[n++] = "--fanout";
        argv[n++] = fanout;
    }
    if (l->insecure)
        argv[n++] = "--insecure";
    argv[n] = NULL;
    int out[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return cli_fail("launch", -1, "cannot create a pipe: %s",
                        strerror(errno));
    pid_t pid = l->spec ? spawn_logged(l, argv, null, out[1], CHILD_SERVER,
                                       "the server", "server.log")
                        : spawn(l, argv, null, out[1], CHILD_SERVER,
                                "the server");
    close(out[1]);
    int rc = -1;
    if (pid > 0) {
        rc = read_listen_line(l, out[0],
                              util_mono_ms() + l->ready_timeout_ms);
        if (rc < 0 && !l->stop_signal && !unexpected_exit(l))
            fprintf(stderr, "banyan %s: the server did not say where "
                            "it listens\n", l->cmd_name);
    }
    close(out[0]);
    return rc;
}

/* ------------------------------------------------------------- workers */

/* "worker --server EP [--slots S] [--noop]" into argv from index n. */
static int worker_args(launch_t *l, char **argv, int n, long slots,
                       char *slots_buf, size_t size)
{
    argv[n++] = l->exe;
    argv[n++] = "worker";
    argv[n++] = "--server";
    argv[n++] = l->endpoint;
    if (slots > 0) {
        snprintf(slots_buf, size, "%ld", slots);
        argv[n++] = "--slots";
        argv[n++] = slots_buf;
    }
    if (l->noop)
        argv[n++] = "--noop";
    argv[n] = NULL;
    return n;
}

static int start_local(launch_t *l, int null)
{
    char slots[24], label[48];
    char *argv[10];
    worker_args(l, argv, 0, l->slots, slots, sizeof(slots));
    for (long i = 0; i < l->engines; i++) {
        snprintf(label, sizeof(label), "worker %ld", i + 1);
        if (spawn(l, argv, null, -1, CHILD_WORKER, label) < 0)
            return -1;
    }
    return 0;
}

/* ssh -tt: with a terminal, the remote worker gets SIGHUP (and stops)
 * when the connection goes, also when launch is killed.  Its stdin is a
 * pipe launch holds open, so that ssh neither reads launch's terminal nor
 * sees an end of input. */
static int start_ssh(launch_t *l)
{
    if (pipe2(l->ssh_stdin, O_CLOEXEC) < 0)
        return cli_fail("launch", -1, "cannot create a pipe: %s",
                        strerror(errno));
    for (long i = 0; i < l->engines; i++) {
        /* sshd drops unauthenticated connections beyond MaxStartups
         * (10 by default): a host gets SSH_BURST new ones at a time. */
        if (i > 0 && i % (SSH_BURST * (long)l->nhosts) == 0) {
            wait_event(l, SSH_PAUSE_MS);
            if (l->stop_signal || unexpected_exit(l))
                return -1;
        }
        const host_t *h = &l->hosts[i % (long)l->nhosts];
        char slots[24], label[48];
        char *wargv[10];
        int wn = worker_args(l, wargv, 0, h->slots ? h->slots : l->slots,
                             slots, sizeof(slots));
        util_buf_t remote = UTIL_BUF_INIT;
        for (int k = 0; k < wn; k++) {
            if (k)
                util_buf_putc(&remote, ' ');
            util_shell_quote(&remote, wargv[k]);
        }
        char *argv[] = {l->starter, "-tt", "-o", "BatchMode=yes", h->name,
                        remote.data, NULL};
        snprintf(label, sizeof(label), "ssh %s (worker %ld)", h->name,
                 i + 1);
        pid_t pid = remote.data ? spawn(l, argv, l->ssh_stdin[0], -1,
                                        CHILD_STARTER, label)
                                : -1;
        util_buf_fini(&remote);
        if (pid < 0)
            return -1;
    }
    return 0;
}

/* One srun step or one mpirun with N tasks, each a worker. */
static int start_parallel(launch_t *l, int null)
{
    char np[24], slots[24], ntasks[40];
    char *argv[20];
    int n = 0;
    snprintf(np, sizeof(np), "%ld", l->engines);
    argv[n++] = l->starter;
    if (l->mode == MODE_SLURM) {
        snprintf(ntasks, sizeof(ntasks), "--ntasks=%ld", l->engines);
        argv[n++] = ntasks;
    } else {
        argv[n++] = "-np";
        argv[n++] = np;
        if (l->openmpi) {
            argv[n++] = "--oversubscribe";
            if (geteuid() == 0)
                argv[n++] = "--allow-run-as-root";
        }
    }
    worker_args(l, argv, n, l->slots, slots, sizeof(slots));
    return spawn(l, argv, null, -1, CHILD_STARTER,
                 l->mode == MODE_SLURM ? "srun" : "mpirun") < 0 ? -1 : 0;
}

/* The port of the server's tcp://127.0.0.1:PORT endpoint. */
static const char *endpoint_port(const launch_t *l)
{
    const char *colon = strrchr(l->endpoint, ':');
    return colon ? colon + 1 : "0";
}

/* The shell script a worker over ssh runs: a private directory for its
 * token (read from the terminal, echo off, so no command line shows it),
 * the worker attached to the tunnel's socket, in the background so that
 * the shell's trap can hand it SIGTERM when the terminal says SIGINT
 * (launch's ^C, the polite stop) or SIGHUP (the connection went), and a
 * trap that removes the directory and the socket at the end. */
static int remote_script(util_buf_t *b, const launch_t *l,
                         const cli_launch_worker_t *w, const char *sock,
                         const char *slots)
{
    util_buf_puts(b, "umask 077; d=$(mktemp -d \"/tmp/banyan-worker."
                     "XXXXXX\") || exit 1; s=");
    util_shell_quote(b, sock);
    util_buf_puts(b, "; w=; trap 'rm -rf \"$d\" \"$s\"' EXIT; "
                     "trap '[ -n \"$w\" ] && kill -TERM $w 2>/dev/null' "
                     "HUP TERM INT; "
                     "stty -echo 2>/dev/null; IFS= read -r t || exit 1; "
                     "printf '%s\\n' \"$t\" > \"$d/token\"; ");
    if (w->workdir) {
        util_buf_puts(b, "mkdir -p -- ");
        util_shell_quote(b, w->workdir);
        util_buf_puts(b, " && cd -- ");
        util_shell_quote(b, w->workdir);
        util_buf_puts(b, " || exit 1; ");
    }
    util_buf_puts(b, "BANYAN_TOKEN_FILE=\"$d/token\" ");
    util_shell_quote(b, l->exe);
    util_buf_puts(b, " worker --no-relay --server \"ipc://$s\" --name ");
    util_shell_quote(b, w->name);
    if (w->slots > 0)
        util_buf_printf(b, " --slots %s", slots);
    if (w->resource) {
        util_buf_puts(b, " --resource ");
        util_shell_quote(b, w->resource);
    }
    return util_buf_puts(b, " </dev/null & w=$!; "
                            "while kill -0 $w 2>/dev/null; do wait $w; "
                            "done");
}

static int start_list_ssh(launch_t *l, const cli_launch_worker_t *w,
                          size_t i, const char *slots, const char *label)
{
    char sock[128], forward[256], logname[32];
    snprintf(sock, sizeof(sock), "/tmp/banyan-run-%ld-%zu.sock",
             (long)getpid(), i);
    snprintf(forward, sizeof(forward), "%s:127.0.0.1:%s", sock,
             endpoint_port(l));
    snprintf(logname, sizeof(logname), "worker-%zu.log", i);
    int in[2];
    if (util_grow((void **)&l->list_fds, &l->list_cap, l->nlist_fds + 1,
                  sizeof(int)) < 0 || pipe2(in, O_CLOEXEC) < 0)
        return cli_fail(l->cmd_name, -1, "cannot create a pipe: %s",
                        strerror(errno));
    l->list_fds[l->nlist_fds++] = in[1];
    char line[MSG_TOKEN_LEN + 2];
    snprintf(line, sizeof(line), "%s\n", l->token);
    ssize_t wr = write(in[1], line, strlen(line)); /* fits a pipe */
    memset(line, 0, sizeof(line));
    size_t nssh = 0;
    while (w->ssh[nssh])
        nssh++;
    util_buf_t script = UTIL_BUF_INIT, remote = UTIL_BUF_INIT;
    char **argv = calloc(nssh + 16, sizeof(char *));
    pid_t pid = -1;
    /* /bin/sh whatever the login shell is (csh, fish) */
    if (wr > 0 && argv && remote_script(&script, l, w, sock, slots) == 0 &&
        util_buf_puts(&remote, "exec /bin/sh -c ") == 0 &&
        util_shell_quote(&remote, script.data) == 0) {
        int n = 0;
        argv[n++] = w->ssh[0];
        char *opts[] = {"-tt", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
                        "-o",
                        "ExitOnForwardFailure=yes", "-o",
                        "StreamLocalBindUnlink=yes", "-R", forward};
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
            argv[n++] = opts[k];
        for (size_t k = 1; k < nssh; k++)
            argv[n++] = w->ssh[k];
        argv[n++] = remote.data;
        argv[n] = NULL;
        char path[PATH_MAX];
        if (find_on_path(argv[0], path, sizeof(path)) < 0) {
            fprintf(stderr, "banyan %s: %s: not found\n", l->cmd_name,
                    argv[0]);
        } else {
            argv[0] = path;
            /* ssh's own errors and the worker's log (its terminal) */
            pid = spawn_logged(l, argv, in[0], -2, CHILD_STARTER, label,
                               logname);
        }
    }
    close(in[0]);
    free(argv);
    util_buf_fini(&script);
    util_buf_fini(&remote);
    return pid < 0 ? -1 : 0;
}

/* MODE_LIST: the caller's workers, local or through ssh. */
static int start_list(launch_t *l, int null)
{
    for (size_t i = 0; i < l->spec->nworkers; i++) {
        const cli_launch_worker_t *w = &l->spec->workers[i];
        char slots[24], label[300];
        snprintf(slots, sizeof(slots), "%ld", w->slots);
        if (w->ssh) {
            snprintf(label, sizeof(label), "ssh %s (worker %zu)", w->name,
                     i + 1);
            if (start_list_ssh(l, w, i, slots, label) < 0)
                return -1;
            continue;
        }
        char *argv[16];
        int n = 0;
        argv[n++] = l->exe;
        argv[n++] = "worker";
        argv[n++] = "--no-relay";
        argv[n++] = "--server";
        argv[n++] = l->endpoint;
        argv[n++] = "--name";
        argv[n++] = (char *)w->name;
        if (w->slots > 0) {
            argv[n++] = "--slots";
            argv[n++] = slots;
        }
        if (w->resource) {
            argv[n++] = "--resource";
            argv[n++] = (char *)w->resource;
        }
        argv[n] = NULL;
        char logname[32];
        snprintf(label, sizeof(label), "worker %zu (%s)", i + 1, w->name);
        snprintf(logname, sizeof(logname), "worker-%zu.log", i);
        if (spawn_logged(l, argv, null, -1, CHILD_WORKER, label, logname)
            < 0)
            return -1;
    }
    return 0;
}

static int start_workers(launch_t *l, int null)
{
    if (l->mode == MODE_LIST)
        return start_list(l, null);
    return l->mode == MODE_LOCAL   ? start_local(l, null)
           : l->mode == MODE_HOSTS ? start_ssh(l)
                                   : start_parallel(l, null);
}

/* ---------------------------------------------------------- readiness */

/* Engines that joined: each of the root's direct engines, and in a tree
 * the engines below each relay ("subtree": {"engines": N} in its entry,
 * docs/tree.md); at least the server's own "engines" count. */
static long count_engines(const json_t *status)
{
    long n = (long)cli_json_int(json_object_get(status, "server"),
                                "engines", 0);
    long total = 0;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(status, "engines"), i, e) {
        total += 1 + (long)cli_json_int(json_object_get(e, "subtree"),
                                        "engines", 0);
    }
    return total > n ? total : n;
}

/* Poll the server until N engines joined.  0, or -1 after saying why
 * (nothing is said when a signal or a child's death stopped the wait). */
static int wait_ready(launch_t *l)
{
    banyan_client_options_t o = {.timeout_ms = QUERY_TIMEOUT_MS};
    banyan_error_t err = {{0}};
    banyan_client_t *c = banyan_client_connect(l->endpoint, &o, &err);
    if (!c)
        return cli_fail("launch", -1, "%s", err.text);
    int64_t deadline = util_mono_ms() + l->ready_timeout_ms;
    long joined = 0;
    int rc = -1;
    for (;;) {
        char *answer = NULL;
        if (banyan_client_query(c, "status", "{}", &answer, &err) == 0) {
            json_t *j = json_loads(answer, 0, NULL);
            if (j)
                joined = count_engines(j);
            json_decref(j);
            free(answer);
        }
        if (joined >= l->engines) {
            rc = 0;
            break;
        }
        wait_event(l, POLL_MS);
        if (l->stop_signal || unexpected_exit(l))
            break;
        if (util_mono_ms() >= deadline) {
            fprintf(stderr, "banyan %s: only %ld of %ld engines joined "
                            "within %.3gs\n", l->cmd_name, joined, l->engines,
                    (double)l->ready_timeout_ms / 1000);
            break;
        }
    }
    banyan_client_close(c);
    return rc;
}

/* Write EP and a newline to F through a temporary file and a rename, so
 * that a reader never sees half an endpoint. */
static int write_endpoint_file(launch_t *l)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", l->endpoint_file, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", l->endpoint) < 0 || fclose(f) != 0 ||
        rename(tmp, l->endpoint_file) < 0) {
        fprintf(stderr, "banyan launch: cannot write %s: %s\n",
                l->endpoint_file, strerror(errno));
        unlink(tmp);
        return -1;
    }
    l->endpoint_written = true;
    return 0;
}

/* ----------------------------------------------------------------- run */

static int exit_code_of(int status)
{
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Run CMD (or nothing) until it ends, a signal comes or a child dies.
 * Returns launch's exit code; everything is still running. */
static int run_phase(launch_t *l)
{
    child_t *cmd = NULL;
    if (l->spec)
        return l->spec->run(l->spec->ctx, l, l->endpoint);
    if (l->cmd) {
        if (setenv("BANYAN_SERVER", l->endpoint, 1) < 0)
            return BANYAN_EXIT_INTERNAL;
        size_t n = 0;
        while (l->cmd[n])
            n++;
        l->cmd_sh_argv = calloc(n + 2, sizeof(char *));
        if (!l->cmd_sh_argv)
            return cli_fail("launch", BANYAN_EXIT_INTERNAL, "out of memory");
        l->cmd_sh_argv[0] = "/bin/sh";
        l->cmd_sh_argv[1] = l->cmd_path;
        memcpy(l->cmd_sh_argv + 2, l->cmd + 1, (n - 1) * sizeof(char *));
        char *saved = l->cmd[0];
        l->cmd[0] = l->cmd_path;
        pid_t pid = spawn(l, l->cmd, -1, -1, CHILD_CMD, saved);
        l->cmd[0] = saved;
        if (pid < 0)
            return BANYAN_EXIT_FAILED;
        cmd = child_find(l, pid);
    }
    for (;;) {
        wait_event(l, 1000);
        cmd = cmd ? child_find(l, cmd->pid) : NULL; /* the array moves */
        if (l->stop_signal)
            return cmd ? 128 + l->stop_signal : BANYAN_EXIT_OK;
        child_t *ch = unexpected_exit(l);
        if (ch) {
            report_exit(l, ch);
            return BANYAN_EXIT_FAILED;
        }
        if (cmd && cmd->exited)
            return exit_code_of(cmd->status);
    }
}

/* MODE_LIST: a token of this run's own, in the private directory, for
 * the server, the local workers and this process's clients. */
static int make_token(launch_t *l)
{
    char path[PATH_MAX + 16];
    banyan_error_t err = {{0}};
    snprintf(path, sizeof(path), "%s/token", l->tmpdir);
    if (setenv("BANYAN_TOKEN_FILE", path, 1) < 0 ||
        msg_token_load(true, l->token, &err) < 0)
        return cli_fail(l->cmd_name, -1, "%s", err.text[0] ? err.text
                                                           : strerror(errno));
    return 0;
}

/* MODE_LIST: after the workers' ends, until the server has seen them
 * leave (at most the grace period), so that nothing is left running on a
 * remote host when launch returns. */
static void wait_engines_gone(launch_t *l)
{
    banyan_client_options_t o = {.timeout_ms = QUERY_TIMEOUT_MS};
    banyan_client_t *c = banyan_client_connect(l->endpoint, &o, NULL);
    int64_t deadline = util_mono_ms() + l->grace_ms;
    while (c && util_mono_ms() < deadline) {
        char *answer = NULL;
        long joined = -1;
        if (banyan_client_query(c, "status", "{}", &answer, NULL) == 0) {
            json_t *j = json_loads(answer, 0, NULL);
            if (j)
                joined = count_engines(j);
            json_decref(j);
            free(answer);
        }
        if (joined <= 0)
            break;
        wait_event(l, 50);
    }
    banyan_client_close(c);
}

/* Print the end of each worker's log (and of its ssh's errors). */
static void show_ssh_logs(const launch_t *l)
{
    for (size_t i = 0; l->spec && i < l->spec->nworkers; i++) {
        char path[PATH_MAX + 32], buf[2048];
        snprintf(path, sizeof(path), "%s/worker-%zu.log", l->tmpdir, i);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        off_t end = lseek(fd, 0, SEEK_END);
        if (end > (off_t)sizeof(buf) - 1)
            lseek(fd, end - (off_t)sizeof(buf) + 1, SEEK_SET);
        else
            lseek(fd, 0, SEEK_SET);
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            fprintf(stderr, "banyan %s: worker %s said:\n%s%s", l->cmd_name,
                    l->spec->workers[i].name, buf,
                    buf[n - 1] == '\n' ? "" : "\n");
        }
    }
}

static int start_and_run(launch_t *l)
{
    if (l->spec && (make_tmpdir(l) < 0 || make_token(l) < 0))
        return BANYAN_EXIT_INTERNAL;
    if (!l->db) {
        if (!l->tmpdir[0] && make_tmpdir(l) < 0)
            return BANYAN_EXIT_INTERNAL;
        snprintf(l->db_buf, sizeof(l->db_buf), "%s/banyan.db", l->tmpdir);
        l->db = l->db_buf;
    }
    /* The stdin of the server and the local or parallel workers. */
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0)
        return cli_fail("launch", BANYAN_EXIT_FAILED,
                        "cannot open /dev/null: %s", strerror(errno));
    int rc = BANYAN_EXIT_FAILED;
    bool ready = false;
    if (start_server(l, null) == 0 && start_workers(l, null) == 0
        && wait_ready(l) == 0
        && (!l->endpoint_file || write_endpoint_file(l) == 0)) {
        ready = true;
        if (!l->spec)
            fprintf(stderr, "banyan launch: %ld engine%s ready at %s\n",
                    l->engines, l->engines == 1 ? "" : "s", l->endpoint);
        rc = run_phase(l);
    } else if (l->stop_signal) {
        rc = l->cmd || l->spec ? 128 + l->stop_signal : BANYAN_EXIT_OK;
    } else {
        child_t *ch = unexpected_exit(l);
        if (ch)
            report_exit(l, ch);
    }
    close(null);
    if (l->spec) {
        bool failed = !l->stop_signal && (!ready || unexpected_exit(l));
        /* The polite stop first, while the tunnels still carry BYE: a ^C
         * on each remote terminal, SIGTERM to the local workers. */
        for (size_t i = 0; i < l->nlist_fds; i++) {
            ssize_t w = write(l->list_fds[i], "\003", 1);
            (void)w;
        }
        for (size_t i = 0; i < l->nchildren; i++)
            if (!l->children[i].exited &&
                l->children[i].kind == CHILD_WORKER)
                kill(l->children[i].pid, SIGTERM);
        wait_engines_gone(l);
        stop_kinds(l, CHILD_CMD, CHILD_STARTER);
        if (failed)
            show_ssh_logs(l);
    }
    stop_all(l);
    if (l->endpoint_written)
        unlink(l->endpoint_file);
    return rc;
}

int cmd_launch(int argc, char **argv)
{
    launch_t l = {
        .bind = "tcp://127.0.0.1:0",
        .grace_ms = 5000,
        .ready_timeout_ms = 60000,
        .ssh_stdin = {-1, -1},
        .cmd_name = "launch",
    };
    bool help = false;
    int rc = parse_args(&l, argc, argv, &help);
    if (rc == 0 && help)
        fputs(usage_text, stdout);
    if (rc == 0 && !help && l.mode == MODE_HOSTS)
        rc = read_hosts(&l);
    if (rc == 0 && !help)
        rc = resolve_programs(&l);
    if (rc == 0 && !help) {
        /* A background job of a script starts with SIGINT ignored; an
         * ignored signal is never pending, so restore the default first. */
        sigemptyset(&l.waited);
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};
        for (size_t i = 0; i < 4; i++) {
            signal(sigs[i], SIG_DFL);
            sigaddset(&l.waited, sigs[i]);
        }
        sigprocmask(SIG_BLOCK, &l.waited, &l.old_mask);
        rc = start_and_run(&l);
        remove_tmpdir(&l);
        wait_event(&l, 0); /* a late signal must not kill launch now */
        sigprocmask(SIG_SETMASK, &l.old_mask, NULL);
    }
    for (int i = 0; i < 2; i++)
        if (l.ssh_stdin[i] >= 0)
            close(l.ssh_stdin[i]);
    for (size_t i = 0; i < l.nhosts; i++)
        free(l.hosts[i].name);
    free(l.hosts);
    free(l.children);
    free(l.cmd_sh_argv);
    return rc;
}

/* ------------------------------------------------ for other commands */

int cli_launch_run(const cli_launch_spec_t *spec)
{
    launch_t l = {
        .bind = "tcp://127.0.0.1:0",
        .grace_ms = spec->grace_ms > 0 ? spec->grace_ms : 5000,
        .ready_timeout_ms = spec->ready_timeout_ms > 0
                                ? spec->ready_timeout_ms
                                : 60000,
        .ssh_stdin = {-1, -1},
        .mode = MODE_LIST,
        .spec = spec,
        .cmd_name = spec->cmd,
        .engines = (long)spec->nworkers,
    };
    ssize_t n = readlink("/proc/self/exe", l.exe, sizeof(l.exe) - 1);
    if (n < 0)
        return cli_fail(l.cmd_name, BANYAN_EXIT_INTERNAL,
                        "cannot find its own executable (/proc/self/exe): "
                        "%s", strerror(errno));
    l.exe[n] = '\0';
    sigemptyset(&l.waited);
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD};
    for (size_t i = 0; i < 4; i++)
        sigaddset(&l.waited, sigs[i]);
    sigprocmask(SIG_BLOCK, &l.waited, &l.old_mask);
    /* an ssh that ended must not kill us when its stdin is written */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigaction(SIGPIPE, &ign, &old_pipe);
    int rc = start_and_run(&l);
    sigaction(SIGPIPE, &old_pipe, NULL);
    for (size_t i = 0; i < l.nlist_fds; i++)
        close(l.list_fds[i]);
    remove_tmpdir(&l);
    wait_event(&l, 0);
    sigprocmask(SIG_SETMASK, &l.old_mask, NULL);
    free(l.list_fds);
    free(l.children);
    memset(l.token, 0, sizeof(l.token));
    return rc;
}

bool cli_launch_wait(launch_t *l, int64_t timeout_ms)
{
    wait_event(l, timeout_ms);
    if (l->stop_signal)
        return false;
    child_t *ch = unexpected_exit(l);
    if (ch) {
        report_exit(l, ch);
        return false;
    }
    return true;
}

int cli_launch_signal(const launch_t *l)
{
    return l->stop_signal;
}
