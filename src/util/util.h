/* SPDX-License-Identifier: MIT */
/* util.h - small helpers every module uses: error text, clocks, parsing of
 * sizes and durations, a growable byte buffer. */
#ifndef BANYAN_UTIL_H
#define BANYAN_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/banyan.h>

/* ------------------------------------------------------------------ errors */

/* Fill e (may be NULL) with printf-style text.  Returns -1 and leaves errno
 * unchanged, so that "return errprintf(error, ...);" reports a failure. */
int errprintf(banyan_error_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int verrprintf(banyan_error_t *e, const char *fmt, va_list ap);

/* ------------------------------------------------------------------ clocks */

/* Monotonic time in nanoseconds / milliseconds (CLOCK_MONOTONIC). */
uint64_t util_mono_ns(void);
int64_t util_mono_ms(void);

/* Wall-clock time in seconds since the epoch, with sub-second precision. */
double util_wall_time(void);

/* ----------------------------------------------------------------- parsing */

/* Parse a byte size: "123", "64k", "512M", "8G", "1.5T" (binary multiples,
 * case-insensitive, optional trailing "B"/"iB").  0 on success, -1 EINVAL or
 * ERANGE. */
int util_parse_size(const char *s, uint64_t *bytes);

/* Parse a duration into milliseconds: "10" (seconds), "1.5s", "250ms",
 * "2m", "1h", "1d".  0 on success, -1 EINVAL or ERANGE. */
int util_parse_duration_ms(const char *s, int64_t *ms);

/* Parse a non-negative decimal with up to three fractional digits into
 * thousandths: "2" -> 2000, "0.5" -> 500, "0.125" -> 125.  0 or -1 EINVAL or
 * ERANGE. */
int util_parse_milli(const char *s, uint32_t *milli);

/* Parse a non-negative integer in [min, max].  0 or -1 EINVAL/ERANGE. */
int util_parse_long(const char *s, long min, long max, long *out);

/* Format bytes as "1.5G", "512M", "12k" or "100" into buf. Returns buf. */
char *util_format_size(uint64_t bytes, char *buf, size_t size);

/* ------------------------------------------------------------------ buffer */

/* A growable byte buffer, always NUL-terminated when data != NULL. */
typedef struct util_buf {
    char *data;  /* owned, NULL until the first append */
    size_t len;  /* bytes used, excluding the terminating NUL */
    size_t cap;  /* bytes allocated */
} util_buf_t;

#define UTIL_BUF_INIT {NULL, 0, 0}

int util_buf_reserve(util_buf_t *b, size_t extra);
int util_buf_append(util_buf_t *b, const void *data, size_t len);
int util_buf_puts(util_buf_t *b, const char *s);
int util_buf_putc(util_buf_t *b, char c);
int util_buf_printf(util_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Empty the buffer, keeping its memory. */
void util_buf_reset(util_buf_t *b);
/* Free the memory; the buffer can be used again afterwards. */
void util_buf_fini(util_buf_t *b);
/* Take the data out of the buffer: caller must free() it.  Never NULL on
 * success (an empty buffer gives ""), NULL with ENOMEM. */
char *util_buf_steal(util_buf_t *b);

/* Make the array *p (of *cap elements of size bytes) hold at least need
 * elements, doubling its capacity (from 8).  0, or -1 with ENOMEM and the
 * array unchanged. */
int util_grow(void **p, size_t *cap, size_t need, size_t size);

/* ------------------------------------------------------------------- misc */

/* Append s to b with POSIX shell quoting, so that /bin/sh reads it back as
 * one word with the same bytes. */
int util_shell_quote(util_buf_t *b, const char *s);

/* Append the command words as one line: words with shell syntax or
 * blanks are quoted, replacement strings ({}, {1}) stay readable.  The
 * text names a command in records and is its default estimate group, the
 * same for `banyan run` and a worker.  0 or -1 with ENOMEM. */
int util_command_text(util_buf_t *b, const char *const *words, size_t n);

/* The words of a command line that needs no shell: blanks separate words
 * and no character a shell would interpret occurs (quotes, $, `, \,
 * globs, redirections, ;, &, |, (, ), {, }, #, ~, !, a newline, or an
 * assignment before the program).  Such a line runs the same spawned
 * directly as under /bin/sh -c, and a direct spawn tells a missing
 * program and a signal apart from an exit status.  Returns a NULL-ended
 * argv in one block (caller frees the pointer), or NULL with EINVAL when
 * the line needs a shell or is blank, ENOMEM. */
char **util_plain_words(const char *line);

/* a * b, or UINT64_MAX where it would overflow. */
uint64_t util_mul_sat(uint64_t a, uint64_t b);

/* write() all len bytes at data to fd, through EINTR, and through EAGAIN
 * by waiting for room when fd is nonblocking.  0, or -1 with errno. */
int util_write_all(int fd, const void *data, size_t len);

/* A copy of the len bytes at p that is valid UTF-8 (what JSON must
 * carry): each byte that does not start a well-formed sequence becomes
 * U+FFFD; NUL bytes are kept.  NUL-terminated, its length in *n; caller
 * must free().  NULL with ENOMEM. */
char *util_utf8_repair(const void *p, size_t len, size_t *n);

/* Copy s into buf as one line: runs of whitespace become one space, and
 * text beyond size - 1 bytes is cut with "...".  Returns buf. */
char *util_one_line(const char *s, char *buf, size_t size);

/* Create a directory and its parents, like mkdir -p.  0 or -1 with errno. */
int util_mkdir_p(const char *path, unsigned mode);

/* Read a whole file into *data (NUL-terminated, caller frees).  0 or -1. */
int util_read_file(const char *path, char **data, size_t *len);

/* Number of online CPUs, at least 1. */
int util_ncpus(void);

/* MemTotal and MemAvailable of the host from /proc/meminfo, in bytes.
 * 0 or -1 with errno. Either pointer may be NULL. */
int util_meminfo(uint64_t *total, uint64_t *available);

#endif /* BANYAN_UTIL_H */
