/* SPDX-License-Identifier: MIT */
/* run_report.c - the GNU Parallel joblog and the progress bar. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_private.h"

/* ----------------------------------------------------------------- joblog */

FILE *run__joblog_open(const char *path, bool append)
{
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f)
        return NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && sb.st_size == 0)
        fputs("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\t"
              "Signal\tCommand\n",
              f);
    return f;
}

void run__joblog_write(FILE *f, uint64_t seq, const char *host,
                       const exec_result_t *res, const char *command)
{
    /* GNU Parallel's columns: Exitval is the exit status (0 when a signal
     * ended the job) and Signal the signal number.  Commands are one line. */
    int exitval = res->term_signal ? 0 : res->exit_code;
    fprintf(f, "%llu\t%s\t%14.3f\t%10.3f\t0\t0\t%d\t%d\t",
            (unsigned long long)seq, host, res->start_time,
            res->end_time - res->start_time, exitval, res->term_signal);
    for (const char *p = command; *p; p++)
        fputc(*p == '\n' ? ' ' : *p, f);
    fputc('\n', f);
}

/* --------------------------------------------------------------- progress */

static void format_hms(char *buf, size_t size, double s)
{
    long t = s > 0 ? (long)(s + 0.5) : 0;
    snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void run__progress_draw(run_progress_t *p, int64_t now_ms)
{
    uint64_t done = p->ok + p->failed;
    double frac = p->total ? (double)done / (double)p->total : 1.0;
    double elapsed = (double)(now_ms - p->start_ms) / 1000.0;
    char eta[32] = "?";
    if (done > 0 && done < p->total)
        format_hms(eta, sizeof(eta),
                   elapsed / (double)done * (double)(p->total - done));
    else if (done == p->total)
        format_hms(eta, sizeof(eta), 0);
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int fill = (int)(frac * WIDTH);
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    const char *red = getenv("NO_COLOR") ? "" : "\033[31m";
    const char *reset = getenv("NO_COLOR") ? "" : "\033[0m";
    util_log("\r\033[K[%s] %3d%% %llu/%llu  running %llu  ok %llu  "
             "%sfailed %llu%s  ETA %s",
             bar, (int)(frac * 100), (unsigned long long)done,
             (unsigned long long)p->total, (unsigned long long)p->running,
             (unsigned long long)p->ok, p->failed ? red : "",
             (unsigned long long)p->failed, p->failed ? reset : "", eta);
    p->shown = true;
}

void run__progress_end(run_progress_t *p, int64_t now_ms)
{
    if (!p->shown)
        return;
    run__progress_draw(p, now_ms);
    util_log("\n");
    p->shown = false;
}
