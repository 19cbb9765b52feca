/* SPDX-License-Identifier: MIT */
/* log.h - the one sink for what library code tells the user.
 *
 * Library code never prints (STYLE §3).  local, run and sweep hand their
 * messages to util_log(); only main() decides where they go, by installing
 * a sink (the command line writes them to stderr).  With no sink, messages
 * are dropped.  A sink is a function and its argument, the shape of
 * server_options_t's log callback, so that the server can take one too.
 *
 * A message is the text the user sees, as it is: a line ending in '\n'
 * (with its "banyan: " prefix), or a progress line that begins with
 * "\r\033[K" and has no '\n', redrawn by the next one.  A process has one
 * sink: install it before the loop runs, on the thread that logs.
 */
#ifndef BANYAN_UTIL_LOG_H
#define BANYAN_UTIL_LOG_H

/* Receives one message; text is borrowed for the call. */
typedef void (*util_log_cb)(const char *text, void *arg);

/* Install the process's sink; NULL drops messages. */
void util_log_set(util_log_cb cb, void *arg);

/* Format a message and hand it to the sink.  errno is kept. */
void util_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* BANYAN_UTIL_LOG_H */
