/* SPDX-License-Identifier: MIT */
/* smi.c - GPU discovery through nvidia-smi, when NVML cannot be loaded.
 *
 * The program is started with posix_spawnp() and a pipe, without a shell,
 * with stdin and stderr on /dev/null.  Its output is read with poll() until
 * end of file or the deadline; a program that hangs (a wedged driver makes
 * nvidia-smi hang) is killed and reaped, and the source counts as not
 * available.  The CSV is parsed leniently: fields are trimmed, "[N/A]" and
 * other non-numbers read as 0, and lines that do not have the seven fields
 * or a numeric index are skipped.
 */
#include "gpu_private.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum { SMI_OUTPUT_MAX = 1 << 20, SMI_FIELDS = 7 };

static const char smi_query[] =
    "--query-gpu=index,uuid,name,pci.bus_id,memory.total,memory.used,"
    "utilization.gpu";

/* ---------------------------------------------------------------- parsing */

/* Trim spaces in place; returns the start. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* A non-negative decimal number, or 0 for "[N/A]" and the like. */
static unsigned long long number(const char *s)
{
    char *end;
    if (*s < '0' || *s > '9')
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return 0;
    return v;
}

static bool parse_line(char *line, gpu_info_t *g)
{
    char *field[SMI_FIELDS];
    int nf = 0;
    char *p = line;
    for (;;) {
        char *comma = strchr(p, ',');
        if (nf == SMI_FIELDS)
            return false;  /* too many fields */
        field[nf++] = p;
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    if (nf != SMI_FIELDS)
        return false;
    for (int i = 0; i < nf; i++)
        field[i] = trim(field[i]);
    char *end;
    errno = 0;
    long index = strtol(field[0], &end, 10);
    if (errno != 0 || end == field[0] || *end != '\0' || index < 0 ||
        index > 1000000)
        return false;
    memset(g, 0, sizeof(*g));
    g->index = (int)index;
    snprintf(g->uuid, sizeof(g->uuid), "%s", field[1]);
    snprintf(g->name, sizeof(g->name), "%s", field[2]);
    if (strcmp(field[3], "[N/A]") != 0)
        snprintf(g->pci_bus_id, sizeof(g->pci_bus_id), "%s", field[3]);
    /* MiB; anything beyond 2^44 MiB is not a real GPU, cap to avoid wrap */
    unsigned long long total = number(field[4]), used = number(field[5]);
    const unsigned long long cap = 1ull << 44;
    g->mem_total_bytes = (total > cap ? cap : total) << 20;
    g->mem_used_bytes = (used > cap ? cap : used) << 20;
    unsigned long long util = number(field[6]);
    g->util_percent = util > 100 ? 100 : (unsigned)util;
    return true;
}

int gpu__smi_parse(const char *text, gpu_info_t *out, int max)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = '\0';
            if (parse_line(line, &out[n]))
                n++;
        }
        p += len + (nl ? 1 : 0);
    }
    gpu__sort(out, n);
    return n;
}

/* ---------------------------------------------------------------- running */

/* Read fd to end of file or until deadline_ms (monotonic).  0, or -1 on
 * timeout or error. */
static int read_until(int fd, util_buf_t *b, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - util_mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        char chunk[4096];
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (b->len + (size_t)r > SMI_OUTPUT_MAX ||
            util_buf_append(b, chunk, (size_t)r) < 0)
            return -1;
    }
}

/* Wait for pid until deadline_ms; kill it when the time is up. Returns the
 * exit status as waitpid() gives it, or -1. */
static int reap(pid_t pid, int64_t deadline_ms, bool kill_now)
{
    int status;
    if (!kill_now) {
        for (;;) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid)
                return status;
            if (r < 0 && errno != EINTR)
                return -1;
            if (util_mono_ms() >= deadline_ms)
                break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return -1;
}

int gpu__smi_query(gpu_info_t *out, int max, int timeout_ms)
{
    const char *prog = getenv("BANYAN_NVIDIA_SMI");
    if (!prog || !*prog)
        prog = "nvidia-smi";
    char *const argv[] = {(char *)prog, (char *)smi_query,
                          (char *)"--format=csv,noheader,nounits", NULL};
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
                                     O_WRONLY, 0);
    /* the child starts with default signal handling and no blocked signals,
     * whatever the event loop of this process has set up */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawnp(&pid, prog, &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        errno = rc;
        return -1;
    }
    int64_t deadline = util_mono_ms() + timeout_ms;
    util_buf_t b = UTIL_BUF_INIT;
    bool read_ok = read_until(pfd[0], &b, deadline) == 0;
    close(pfd[0]);
    int status = reap(pid, deadline, !read_ok);
    int n = -1;
    if (read_ok && status >= 0 && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0)
        n = gpu__smi_parse(b.data ? b.data : "", out, max);
    util_buf_fini(&b);
    if (n < 0)
        errno = ENODEV;
    return n;
}
