/* SPDX-License-Identifier: MIT */
/* exec_helper.c - a program the executor's tests run as a task.
 *
 * Debian's minimal images have no python, and sh plus coreutils cannot hold a
 * known amount of memory for a known time, so the tests use this instead:
 *
 *   exec_helper mem MB HOLD_MS        touch MB MiB, hold them HOLD_MS
 *   exec_helper tree MB HOLD_MS       the same in this process and in a child
 *   exec_helper sharedmm MB HOLD_MS   touch MB MiB, then a CLONE_VM child
 *                                     (one address space, two processes)
 *                                     and this process both hold them
 *   exec_helper spin CPU_MS           burn CPU_MS of user time
 *   exec_helper pidfile PATH HOLD_MS  write the pid to PATH, then sleep
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

static int hold(long mb, long ms)
{
    size_t n = (size_t)mb << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    memset(p, 1, n);
    sleep_ms(ms);
    munmap(p, n);
    return 0;
}

static long shared_hold_ms;

static int shared_child(void *arg)
{
    (void)arg;
    sleep_ms(shared_hold_ms);
    return 0;
}

/* MB MiB touched, then a second process on the same address space (as a
 * vfork child before exec, or LeakSanitizer's tracer): both hold them. */
static int hold_shared(long mb, long ms)
{
    size_t n = (size_t)mb << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static char stack[64 << 10];
    if (p == MAP_FAILED)
        return 1;
    memset(p, 1, n);
    shared_hold_ms = ms;
    pid_t pid = clone(shared_child, stack + sizeof(stack),
                      CLONE_VM | SIGCHLD, NULL);
    if (pid < 0)
        return 1;
    int status;
    waitpid(pid, &status, 0);
    munmap(p, n);
    return !WIFEXITED(status) || WEXITSTATUS(status);
}

static double user_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "mem") == 0)
        return hold(atol(argv[2]), atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "sharedmm") == 0)
        return hold_shared(atol(argv[2]), atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "tree") == 0) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0)
            _exit(hold(atol(argv[2]), atol(argv[3])));
        int rc = hold(atol(argv[2]), atol(argv[3]));
        int status;
        waitpid(pid, &status, 0);
        return rc || !WIFEXITED(status) || WEXITSTATUS(status);
    }
    if (argc == 3 && strcmp(argv[1], "spin") == 0) {
        double want = atol(argv[2]) / 1000.0;
        volatile unsigned long x = 0;
        while (user_seconds() < want)
            for (int i = 0; i < 1000000; i++)
                x += (unsigned long)i;
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "pidfile") == 0) {
        FILE *f = fopen(argv[2], "w");
        if (!f)
            return 1;
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
        sleep_ms(atol(argv[3]));
        return 0;
    }
    fprintf(stderr, "usage: exec_helper mem|tree|spin|pidfile ...\n");
    return 2;
}
