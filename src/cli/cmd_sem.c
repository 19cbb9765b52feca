/* SPDX-License-Identifier: MIT */
/* cmd_sem.c - banyan sem: GNU Parallel's sem (parallel --semaphore), a
 * counting semaphore between processes.
 *
 *   banyan sem [-j N] [--id ID] [--fg|--bg] [--st SECS] COMMAND [ARG]...
 *   banyan sem [--id ID] --wait
 *
 * The semaphore ID is a folder, ~/.parallel/semaphores/id-ID (or under
 * $PARALLEL_HOME), holding one file per place: slot-0 .. slot-(N-1).  A
 * holder keeps an exclusive flock() on one of them for as long as its
 * command runs, so a holder that dies (kill -9 included) gives its place
 * back at once, which GNU's link counts only notice later.  -j N: the
 * first N places; acquiring tries each without blocking and sleeps
 * between rounds (1 ms, growing to 100 ms).  --wait takes every place
 * that exists, one after the other, blocking, and lets it go: it returns
 * once every command that held one when it came has ended.
 *
 * As GNU's: the command words form one shell command line (run by
 * $PARALLEL_SHELL, else $SHELL, else /bin/sh); --bg (the default) returns
 * at once with 0 and the command runs on in the background, holding its
 * place; --fg waits and exits with the command's status; the default ID
 * is the name of the terminal (`tty`'s output: "not a tty" without one),
 * with characters other than letters, digits, - and _ written in hex;
 * --st SECS > 0 takes the place anyway after SECS, < 0 gives up (exit 1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "local/local.h"

extern char **environ;

enum {
    SEM_SLEEP_MAX_MS = 100,
    OPT_SEM_ID = 0x2c00, OPT_SEM_FG, OPT_SEM_BG, OPT_SEM_WAIT, OPT_SEM_ST,
    OPT_SEM_IGNORE,
};

static const char usage_text[] =
    "Usage: banyan sem [OPTION]... COMMAND [ARG]...\n"
    "       banyan sem [--id ID] --wait\n"
    "Run COMMAND once a place of the semaphore ID is free (GNU Parallel's "
    "sem).\n"
    "\n"
    "  -j, --jobs N          places of the semaphore (default 1: a mutex)\n"
    "      --id ID           the semaphore (default: the terminal's name)\n"
    "      --bg              return at once; COMMAND runs in the "
    "background\n"
    "                        (the default)\n"
    "      --fg              wait for COMMAND; exit with its status\n"
    "      --wait            wait until every command of ID has ended\n"
    "      --st, --semaphoretimeout SECS  after SECS take a place anyway;\n"
    "                        negative: give up with exit status 1\n"
    "  -h, --help            this text\n"
    "Places are files under ~/.parallel/semaphores/id-ID, held with "
    "flock().\n";

static const struct option long_opts[] = {
    {"jobs", required_argument, NULL, 'j'},
    {"max-procs", required_argument, NULL, 'j'},
    {"id", required_argument, NULL, OPT_SEM_ID},
    {"semaphorename", required_argument, NULL, OPT_SEM_ID},
    {"fg", no_argument, NULL, OPT_SEM_FG},
    {"bg", no_argument, NULL, OPT_SEM_BG},
    {"wait", no_argument, NULL, OPT_SEM_WAIT},
    {"st", required_argument, NULL, OPT_SEM_ST},
    {"semaphoretimeout", required_argument, NULL, OPT_SEM_ST},
    {"semaphore-timeout", required_argument, NULL, OPT_SEM_ST},
    {"semaphore", no_argument, NULL, OPT_SEM_IGNORE},
    {"will-cite", no_argument, NULL, OPT_SEM_IGNORE},
    {"no-notice", no_argument, NULL, OPT_SEM_IGNORE},
    {"ungroup", no_argument, NULL, 'u'},
    {"line-buffer", no_argument, NULL, OPT_SEM_IGNORE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* ~/.parallel/semaphores/id-<ID, non-word characters in hex>. */
static int sem_dir(const char *id, char *dir, size_t size)
{
    const char *base = getenv("PARALLEL_HOME");
    char home[4096];
    if (!base || !*base) {
        const char *h = getenv("HOME");
        snprintf(home, sizeof(home), "%s/.parallel", h && *h ? h : "/tmp");
        base = home;
    }
    int n = snprintf(dir, size, "%s/semaphores/id-", base);
    for (const unsigned char *p = (const unsigned char *)id;
         *p && n + 3 < (int)size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
            dir[n++] = (char)*p;
        else
            n += snprintf(dir + n, size - (size_t)n, "%02x", *p);
    }
    dir[n] = '\0';
    if ((size_t)n + 16 >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return util_mkdir_p(dir, 0700);
}

/* The default ID: the terminal's name, as `tty` prints it. */
static void default_id(char *buf, size_t size)
{
    const char *t = isatty(STDIN_FILENO) ? ttyname(STDIN_FILENO) : NULL;
    snprintf(buf, size, "%s", t ? t : "not a tty");
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Try each of the first n places once; the held fd, or -1. */
static int try_places(const char *dir, long n)
{
    char path[4200];
    for (long k = 0; k < n; k++) {
        snprintf(path, sizeof(path), "%s/slot-%ld", dir, k);
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        close(fd);
    }
    return -1;
}

/* Hold a place: its fd; -2 when --st < 0 gave up; -3 when --st > 0 ran
 * out (the place is taken anyway: no fd). */
static int acquire(const char *dir, long n, int64_t st_ms)
{
    int64_t start = util_mono_ms(), sleep = 1;
    for (;;) {
        int fd = try_places(dir, n);
        if (fd >= 0)
            return fd;
        int64_t waited = util_mono_ms() - start;
        if (st_ms > 0 && waited > st_ms) {
            fprintf(stderr, "banyan sem: Warning: Semaphore timed out. "
                            "Stealing the semaphore.\n");
            return -3;
        }
        if (st_ms < 0 && waited > -st_ms) {
            fprintf(stderr, "banyan sem: Warning: Semaphore timed out. "
                            "Exiting.\n");
            return -2;
        }
        sleep_ms(sleep);
        sleep = sleep * 11 / 10 + 1;
        if (sleep > SEM_SLEEP_MAX_MS)
            sleep = SEM_SLEEP_MAX_MS;
    }
}

/* --wait: take and release every place that exists. */
static int wait_all(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    char path[4096 + 300];
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "slot-", 5) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
            ;
        close(fd);
    }
    closedir(d);
    return 0;
}

/* The shell GNU runs commands with. */
static const char *shell_of(void)
{
    const char *s = getenv("PARALLEL_SHELL");
    if (!s || !*s)
        s = getenv("SHELL");
    return s && *s ? s : "/bin/sh";
}

/* Run the words as one shell command line and wait: its exit status (as
 * a shell reports it: 128+N for a signal), 127 when it cannot start. */
static int run_command(int argc, char **argv, bool null_stdin)
{
    util_buf_t line = UTIL_BUF_INIT;
    for (int i = 0; i < argc; i++)
        if ((i && util_buf_putc(&line, ' ') < 0) ||
            util_buf_puts(&line, argv[i]) < 0)
            return 127;
    const char *args[] = {shell_of(), "-c", line.data ? line.data : "",
                          NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (null_stdin)
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
                                         O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, args[0], &fa, NULL, (char *const *)args,
                         environ);
    posix_spawn_file_actions_destroy(&fa);
    util_buf_fini(&line);
    if (rc != 0) {
        fprintf(stderr, "banyan sem: cannot run %s: %s\n", args[0],
                strerror(rc));
        return 127;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 127;
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

int cli_sem_exec(const cli_sem_t *s, int argc, char **argv)
{
    char idbuf[512], dir[4096];
    const char *id = s->id;
    if (!id) {
        default_id(idbuf, sizeof(idbuf));
        id = idbuf;
    }
    if (sem_dir(id, dir, sizeof(dir)) < 0)
        return cli_fail("sem", BANYAN_EXIT_USAGE, "cannot create the "
                        "semaphore folder for '%s': %s", id,
                        strerror(errno));
    if (s->wait)
        return wait_all(dir);
    int fd = acquire(dir, s->jobs, s->timeout_ms);
    if (fd == -2)
        return 1;
    if (s->fg) {
        int code = run_command(argc, argv, false);
        if (fd >= 0)
            close(fd);
        return code;
    }
    /* --bg: the place is held by a child that outlives us; the caller
     * goes on at once. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return cli_fail("sem", BANYAN_EXIT_INTERNAL, "cannot fork: %s",
                        strerror(errno));
    if (pid > 0) {
        if (fd >= 0)
            close(fd);
        return BANYAN_EXIT_OK;
    }
    setsid(); /* not killed with the caller's terminal job */
    int code = run_command(argc, argv, true);
    _exit(code & 0xff);
}

int cmd_sem(int argc, char **argv)
{
    cli_sem_t s = {.jobs = 1};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "+:j:P:uh", long_opts, NULL)) != -1) {
        switch (c) {
        case 'j':
        case 'P': {
            uint64_t milli;
            if (local_jobs_parse(optarg, &milli) < 0)
                return cli_usage_error("sem", "invalid --jobs '%s'", optarg);
            s.jobs = milli == 0 ? 1000000 : local_jobs_from_milli(milli);
            break;
        }
        case OPT_SEM_ID: s.id = optarg; break;
        case OPT_SEM_FG: s.fg = true; break;
        case OPT_SEM_BG: s.fg = false; break;
        case OPT_SEM_WAIT: s.wait = true; break;
        case OPT_SEM_ST: {
            const char *v = optarg;
            bool neg = *v == '-';
            if (util_parse_duration_ms(v + neg, &s.timeout_ms) < 0)
                return cli_usage_error("sem", "invalid --semaphoretimeout "
                                       "'%s'", optarg);
            if (neg)
                s.timeout_ms = -s.timeout_ms;
            break;
        }
        case OPT_SEM_IGNORE:
        case 'u':
            break;
        case 'h':
            fputs(usage_text, stdout);
            return BANYAN_EXIT_OK;
        default:
            return cli_bad_option("sem", c, argv);
        }
    }
    if (!s.wait && optind >= argc)
        return cli_usage_error("sem", "no command given");
    return cli_sem_exec(&s, argc - optind, argv + optind);
}
