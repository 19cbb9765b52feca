/* SPDX-License-Identifier: MIT */
/* log.c - the process's log sink (log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static util_log_cb sink;
static void *sink_arg;

void util_log_set(util_log_cb cb, void *arg)
{
    sink = cb;
    sink_arg = arg;
}

void util_log(const char *fmt, ...)
{
    if (!sink)
        return;
    int e = errno;
    char *text;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) >= 0) {
        sink(text, sink_arg);
        free(text);
    }
    va_end(ap);
    errno = e;
}
