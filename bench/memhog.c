/* SPDX-License-Identifier: MIT */
/* memhog.c - the memory-packing benchmark's task and its budget watcher.
 *
 *   memhog alloc MB MS      touch MB MiB at once, hold them until MS ms
 *                           after the start, exit 0
 *   memhog watch BUDGET_MB STOPFILE
 *                           every 20 ms, sum the resident memory of every
 *                           process named "memhog" (except itself); when
 *                           the sum is above BUDGET_MB, every process in it
 *                           counts as a task that hit the budget.  Ends
 *                           when STOPFILE exists and prints one line:
 *                           samples=N over_samples=M max_total_mb=X
 *                           tasks_over=K
 *
 * The watcher defines "hitting the limit" for a machine budget that is not
 * enforced by the kernel: on a host with exactly BUDGET_MB of memory those
 * tasks would have met the OOM killer.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { MAX_PIDS = 4096, MAX_OVER = 65536 };

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

static int alloc(long mb, long hold_ms)
{
    long t0 = now_ms();
    size_t n = (size_t)mb << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    for (size_t i = 0; i < n; i += 4096)
        p[i] = 1;
    long left = hold_ms - (now_ms() - t0);
    if (left > 0)
        sleep_ms(left);
    munmap(p, n);
    return 0;
}

/* RSS pages of pid if its name is "memhog"; -1 otherwise. */
static long memhog_pages(const char *pid)
{
    char path[300], buf[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return -1;
    buf[r] = '\0';
    char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
    if (!open_p || !close_p || close_p - open_p - 1 != 6 ||
        strncmp(open_p + 1, "memhog", 6) != 0)
        return -1;
    char *p = close_p + 1;
    for (int field = 3; field < 24; field++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return -1;
    }
    return atol(p + 1);
}

static int watch(long budget_mb, const char *stopfile)
{
    long page = sysconf(_SC_PAGESIZE);
    static long over_pids[MAX_OVER];
    long nover = 0, samples = 0, over_samples = 0;
    double max_mb = 0;
    char self[32];
    snprintf(self, sizeof self, "%ld", (long)getpid());
    while (access(stopfile, F_OK) != 0) {
        long pids[MAX_PIDS];
        int npids = 0;
        double total = 0;
        DIR *d = opendir("/proc");
        if (!d)
            return 1;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
                strcmp(e->d_name, self) == 0)
                continue;
            long pages = memhog_pages(e->d_name);
            if (pages < 0)
                continue;
            total += (double)pages * (double)page / 1048576.0;
            if (npids < MAX_PIDS)
                pids[npids++] = atol(e->d_name);
        }
        closedir(d);
        samples++;
        if (total > max_mb)
            max_mb = total;
        if (total > (double)budget_mb) {
            over_samples++;
            for (int i = 0; i < npids; i++) {
                int seen = 0;
                for (long j = 0; j < nover && !seen; j++)
                    seen = over_pids[j] == pids[i];
                if (!seen && nover < MAX_OVER)
                    over_pids[nover++] = pids[i];
            }
        }
        sleep_ms(20);
    }
    printf("samples=%ld over_samples=%ld max_total_mb=%.0f tasks_over=%ld\n",
           samples, over_samples, max_mb, nover);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "alloc") == 0)
        return alloc(atol(argv[2]), atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "watch") == 0)
        return watch(atol(argv[2]), argv[3]);
    fprintf(stderr, "usage: memhog alloc MB MS | memhog watch BUDGET_MB "
                    "STOPFILE\n");
    return 2;
}
