/* SPDX-License-Identifier: MIT */
/* spawn_loop.c - the physical limit for starting tasks on this machine.
 *
 *   spawn_loop [--fork] [--parent-mb=M] N J CMD [ARGS...]
 *
 * runs CMD N times keeping J running at once, with nothing but
 * posix_spawnp() (or, with --fork, fork() + execvp()) and waitpid(): no
 * pipes, no event loop, output to /dev/null.  banyan's runners are measured
 * against this number.  Prints one line:
 *
 *   spawn_loop tasks=N jobs=J mode=spawn|fork parent_mb=M seconds=S
 *              self_cpu_us_per_task=C tasks_per_s=R failed=F
 *
 * (on one line).  --parent-mb=M first makes the parent M MiB large.
 * --fork exists to document why the executor uses posix_spawn: glibc's
 * posix_spawn is clone(CLONE_VM | CLONE_VFORK), which copies no page tables,
 * while fork() copies the parent's (and gets slower as the parent grows).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

extern char **environ;

static pid_t start_spawn(char **argv, const posix_spawn_file_actions_t *fa)
{
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], fa, NULL, argv, environ);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

static pid_t start_fork(char **argv, int devnull)
{
    pid_t pid = fork();
    if (pid == 0) {
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* CPU seconds this process used itself (not its children). */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    int i = 1;
    bool use_fork = false;
    long parent_mb = 0;
    bool bad = false;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0 && !bad; i++) {
        if (strcmp(argv[i], "--fork") == 0)
            use_fork = true;
        else if (strncmp(argv[i], "--parent-mb=", 12) == 0)
            bad = util_parse_long(argv[i] + 12, 0, 1 << 20, &parent_mb) < 0;
        else
            bad = true;
    }
    long n, j;
    if (bad || argc - i < 3 || util_parse_long(argv[i], 1, 1L << 40, &n) < 0 ||
        util_parse_long(argv[i + 1], 1, 1 << 20, &j) < 0) {
        fprintf(stderr, "usage: spawn_loop [--fork] [--parent-mb=M] N J "
                        "CMD [ARGS...]\n");
        return 2;
    }
    /* A parent as big as a busy scheduler: fork() has to copy its page
     * tables, posix_spawn() does not. */
    size_t ballast_len = (size_t)parent_mb << 20;
    char *ballast = ballast_len ? malloc(ballast_len) : NULL;
    if (ballast)
        memset(ballast, 1, ballast_len);
    char **cmd = &argv[i + 2];
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, devnull, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, devnull, STDERR_FILENO);

    long started = 0, done = 0, failed = 0;
    double cpu0 = self_cpu();
    uint64_t t0 = util_mono_ns();
    while (done < n) {
        while (started < n && started - done < j) {
            pid_t pid = use_fork ? start_fork(cmd, devnull)
                                 : start_spawn(cmd, &fa);
            if (pid < 0) {
                fprintf(stderr, "spawn_loop: %s: %s\n", cmd[0],
                        strerror(errno));
                return 1;
            }
            started++;
        }
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "spawn_loop: waitpid: %s\n", strerror(errno));
            return 1;
        }
        done++;
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    double s = (double)(util_mono_ns() - t0) / 1e9;
    double cpu_us = (self_cpu() - cpu0) * 1e6 / (double)n;
    printf("spawn_loop tasks=%ld jobs=%ld mode=%s parent_mb=%ld seconds=%.3f "
           "self_cpu_us_per_task=%.1f tasks_per_s=%.1f failed=%ld\n",
           n, j, use_fork ? "fork" : "spawn", parent_mb, s, cpu_us,
           (double)n / s, failed);
    posix_spawn_file_actions_destroy(&fa);
    close(devnull);
    free(ballast);
    return failed ? 1 : 0;
}
