/* SPDX-License-Identifier: MIT */
/* engine_end.c - the one classifier of how a task ended.
 *
 * An exec result plus what the engine did to the task (stopped it, killed
 * it for memory) becomes a banyan_task_end_t here and nowhere else; the
 * order of the rules is the order of precedence: a task banyan stopped was
 * interrupted whatever signal ended it, a task that never ran failed to
 * start, and a timeout or a limit kill explains the SIGKILL that follows.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static void set_reason(banyan_task_end_t *end, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_reason(banyan_task_end_t *end, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(end->reason, sizeof(end->reason), fmt, ap);
    va_end(ap);
}

/* Why a task could not start, from what exec wrote on its stderr
 * ("banyan: cmd: command not found"), as one line without the prefix. */
static void spawn_reason(const exec_result_t *res, banyan_task_end_t *end)
{
    char text[BANYAN_TASK_REASON_MAX];
    size_t n = res->err ? exec_stream_tail(res->err, text, sizeof(text) - 1)
                        : 0;
    text[n] = '\0';
    char *p = text;
    if (strncmp(p, "banyan: ", 8) == 0)
        p += 8;
    p[strcspn(p, "\n")] = '\0';
    if (*p)
        set_reason(end, "could not start: %s", p);
    else
        set_reason(end, "could not start: %s",
                   res->exit_code == 127   ? "command not found"
                   : res->exit_code == 126 ? "command not executable"
                                           : "cannot open its stdin or "
                                             "working directory");
}

/* The errno that cut stream s (its spill file could not be written), or
 * 0: exec_stream_dup() says it first (exec_stream.c). */
static int stream_lost(const exec_stream_t *s)
{
    if (!s)
        return 0;
    char *p = exec_stream_dup(s, 0);
    if (p) {
        free(p);
        return 0;
    }
    return errno == EFBIG || errno == ENOMEM ? 0 : errno;
}

/* A task whose output could not be kept whole ended in error, whatever its
 * exit status (docs/full-disk.md): its reason says which stream and why. */
static void output_cut(const exec_result_t *res, banyan_task_end_t *end)
{
    const struct {
        const char *name;
        const exec_stream_t *s;
    } st[] = {{"stdout", res->out}, {"stderr", res->err}};
    for (size_t i = 0; i < 2; i++) {
        int err = stream_lost(st[i].s);
        if (!err)
            continue;
        end->flags |= BANYAN_END_OUTPUT_CUT;
        const char *dir = getenv("TMPDIR");
        char note[160];
        snprintf(note, sizeof(note), "its %s was cut: cannot write the "
                 "spill file in %s: %s", st[i].name,
                 dir && *dir ? dir : "/tmp", strerror(err));
        if (end->state == BANYAN_TASK_OK) {
            end->state = BANYAN_TASK_FAILED;
            end->reason[0] = '\0';
        }
        engine_end_note(end, note);
    }
}

void engine_end_classify(const exec_result_t *res, const engine_end_ctx_t *ctx,
                         banyan_task_end_t *end)
{
    static const engine_end_ctx_t none = {0};
    if (!ctx)
        ctx = &none;
    memset(end, 0, sizeof(*end));
    end->exit_code = res->exit_code;
    end->term_signal = res->term_signal;
    end->start_time = res->start_time;
    end->end_time = res->end_time;
    end->cpu_user = res->cpu_user;
    end->cpu_sys = res->cpu_sys;
    end->peak_rss_bytes = res->peak_rss_bytes;
    end->mem_limit_bytes = res->mem_limit_bytes;
    char lim[32], peak[32];
    if (res->interrupted || ctx->interrupted) {
        end->state = BANYAN_TASK_INTERRUPTED;
        end->flags |= BANYAN_END_INTERRUPTED;
        set_reason(end, "interrupted");
    } else if (res->spawn_failed) {
        end->state = BANYAN_TASK_FAILED;
        end->flags |= BANYAN_END_SPAWN_FAILED;
        spawn_reason(res, end);
    } else if (res->timed_out) {
        end->state = BANYAN_TASK_TIMEOUT;
        end->flags |= BANYAN_END_TIMED_OUT;
        if (ctx->timeout_ms > 0)
            set_reason(end, "timed out after %.3f s",
                       (double)ctx->timeout_ms / 1000.0);
        else
            set_reason(end, "timed out");
    } else if (res->mem_limited) {
        end->state = BANYAN_TASK_KILLED;
        end->flags |= BANYAN_END_MEM_LIMITED;
        set_reason(end, "memory limit %s exceeded: peak %s",
                   util_format_size(res->mem_limit_bytes, lim, sizeof(lim)),
                   util_format_size(res->peak_rss_bytes, peak,
                                    sizeof(peak)));
    } else if (ctx->mem_critical && res->term_signal) {
        end->state = BANYAN_TASK_KILLED;
        end->flags |= BANYAN_END_MEM_CRITICAL;
        set_reason(end, "%s", ctx->why && *ctx->why
                                  ? ctx->why
                                  : "killed: host memory critical");
    } else if (res->term_signal) {
        end->state = BANYAN_TASK_KILLED;
        set_reason(end, "killed by signal %d (%s)", res->term_signal,
                   strsignal(res->term_signal));
    } else if (res->exit_code == 0) {
        end->state = BANYAN_TASK_OK;
    } else {
        end->state = BANYAN_TASK_FAILED;
        set_reason(end, "exit status %d", res->exit_code);
    }
    output_cut(res, end);
}

void engine_end_spawn_failed(banyan_task_end_t *end, double now,
                             const char *why)
{
    memset(end, 0, sizeof(*end));
    end->state = BANYAN_TASK_FAILED;
    end->flags = BANYAN_END_SPAWN_FAILED;
    end->exit_code = 127;
    end->start_time = end->end_time = now;
    set_reason(end, "could not start: %s", why);
}

void engine_end_interrupted(banyan_task_end_t *end, double now)
{
    memset(end, 0, sizeof(*end));
    end->state = BANYAN_TASK_INTERRUPTED;
    end->flags = BANYAN_END_INTERRUPTED;
    end->exit_code = -1;
    end->start_time = end->end_time = now;
    set_reason(end, "interrupted");
}

void engine_end_note(banyan_task_end_t *end, const char *text)
{
    size_t n = strlen(end->reason);
    if (n + 1 >= sizeof(end->reason))
        return;
    snprintf(end->reason + n, sizeof(end->reason) - n, "%s%s",
             n ? "; " : "", text);
}
