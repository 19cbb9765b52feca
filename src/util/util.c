/* SPDX-License-Identifier: MIT */
/* util.c - error text, clocks, parsing, byte buffers and host facts. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *banyan_version(void)
{
    return BANYAN_VERSION_STRING;
}

/* ------------------------------------------------------------------ errors */

int verrprintf(banyan_error_t *e, const char *fmt, va_list ap)
{
    int saved = errno;
    if (e)
        vsnprintf(e->text, sizeof(e->text), fmt, ap);
    errno = saved;
    return -1;
}

int errprintf(banyan_error_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrprintf(e, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------ clocks */

uint64_t util_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t util_mono_ms(void)
{
    return (int64_t)(util_mono_ns() / 1000000u);
}

double util_wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ----------------------------------------------------------------- parsing */

/* Parse a non-negative decimal number with a unit suffix.  units[] maps a
 * lowercase suffix to its multiplier; "" is the unit without suffix. */
struct unit {
    const char *suffix;
    double mult;
};

static int parse_with_units(const char *s, const struct unit *units,
                            double *out)
{
    if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
        goto inval;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v) || v < 0)
        goto inval;
    char suffix[8];
    size_t n = strlen(end);
    if (n >= sizeof(suffix))
        goto inval;
    for (size_t i = 0; i <= n; i++)
        suffix[i] = (char)tolower((unsigned char)end[i]);
    for (const struct unit *u = units; u->suffix; u++) {
        if (strcmp(u->suffix, suffix) == 0) {
            *out = v * u->mult;
            return 0;
        }
    }
inval:
    errno = EINVAL;
    return -1;
}

int util_parse_size(const char *s, uint64_t *bytes)
{
    static const struct unit units[] = {
        {"", 1.0},          {"b", 1.0},
        {"k", 0x1p10},      {"kb", 0x1p10},  {"kib", 0x1p10},
        {"m", 0x1p20},      {"mb", 0x1p20},  {"mib", 0x1p20},
        {"g", 0x1p30},      {"gb", 0x1p30},  {"gib", 0x1p30},
        {"t", 0x1p40},      {"tb", 0x1p40},  {"tib", 0x1p40},
        {NULL, 0},
    };
    double v;
    if (parse_with_units(s, units, &v) < 0)
        return -1;
    if (v >= 0x1p63) {
        errno = ERANGE;
        return -1;
    }
    *bytes = (uint64_t)llround(v);
    return 0;
}

int util_parse_duration_ms(const char *s, int64_t *ms)
{
    static const struct unit units[] = {
        {"", 1000.0}, {"s", 1000.0},     {"ms", 1.0},
        {"m", 60e3},  {"h", 3600e3},     {"d", 86400e3},
        {NULL, 0},
    };
    double v;
    if (parse_with_units(s, units, &v) < 0)
        return -1;
    if (v >= 0x1p62) {
        errno = ERANGE;
        return -1;
    }
    *ms = (int64_t)llround(v);
    return 0;
}

int util_parse_milli(const char *s, uint32_t *milli)
{
    if (!s || !isdigit((unsigned char)*s))
        goto inval;
    uint64_t whole = 0;
    const char *p = s;
    for (; isdigit((unsigned char)*p); p++) {
        whole = whole * 10 + (uint64_t)(*p - '0');
        if (whole > UINT32_MAX / 1000) {
            errno = ERANGE;
            return -1;
        }
    }
    uint64_t frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        for (; isdigit((unsigned char)*p); p++, digits++) {
            if (digits >= 3)
                goto inval; /* finer than a thousandth */
            frac = frac * 10 + (uint64_t)(*p - '0');
        }
        if (digits == 0)
            goto inval;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    if (*p)
        goto inval;
    *milli = (uint32_t)(whole * 1000 + frac);
    return 0;
inval:
    errno = EINVAL;
    return -1;
}

int util_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) {
        errno = EINVAL;
        return -1;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end) {
        errno = EINVAL;
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        errno = ERANGE;
        return -1;
    }
    *out = v;
    return 0;
}

char *util_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char units[] = "kMGTP";
    if (bytes < 1024) {
        snprintf(buf, size, "%llu", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = -1;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (v == floor(v))
        snprintf(buf, size, "%.0f%c", v, units[u]);
    else
        snprintf(buf, size, "%.1f%c", v, units[u]);
    return buf;
}

/* ------------------------------------------------------------------ buffer */

int util_buf_reserve(util_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            errno = ENOMEM;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int util_buf_append(util_buf_t *b, const void *data, size_t len)
{
    if (util_buf_reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int util_buf_puts(util_buf_t *b, const char *s)
{
    return util_buf_append(b, s, strlen(s));
}

int util_buf_putc(util_buf_t *b, char c)
{
    return util_buf_append(b, &c, 1);
}

int util_buf_printf(util_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || util_buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void util_buf_reset(util_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void util_buf_fini(util_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *util_buf_steal(util_buf_t *b)
{
    if (!b->data && util_buf_reserve(b, 0) < 0)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

int util_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / (size ? size : 1)) {
            errno = ENOMEM;
            return -1;
        }
        ncap *= 2;
    }
    void *np = realloc(*p, ncap * size);
    if (!np) {
        errno = ENOMEM;
        return -1;
    }
    *p = np;
    *cap = ncap;
    return 0;
}

/* ------------------------------------------------------------------- misc */

int util_shell_quote(util_buf_t *b, const char *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789@%+=:,./-_";
    if (*s && strspn(s, safe) == strlen(s))
        return util_buf_puts(b, s);
    if (util_buf_putc(b, '\'') < 0)
        return -1;
    for (const char *p = s; *p; p++) {
        int rc = *p == '\'' ? util_buf_puts(b, "'\\''") : util_buf_putc(b, *p);
        if (rc < 0)
            return -1;
    }
    return util_buf_putc(b, '\'');
}

int util_command_text(util_buf_t *b, const char *const *words, size_t n)
{
    int rc = 0;
    for (size_t w = 0; w < n && rc == 0; w++) {
        if (w > 0)
            rc = util_buf_putc(b, ' ');
        if (rc < 0)
            break;
        if (*words[w] && !strpbrk(words[w], " \t\n'\"\\$`|&;<>()*?[]#~!"))
            rc = util_buf_puts(b, words[w]);
        else
            rc = util_shell_quote(b, words[w]);
    }
    return rc;
}

char **util_plain_words(const char *line)
{
    static const char special[] = "|&;<>()$`\\\"'*?[]{}#~!\n\r";
    size_t len = strlen(line), nwords = 0;
    bool in_word = false;
    for (const char *p = line; *p; p++) {
        if (strchr(special, *p)) {
            errno = EINVAL;
            return NULL;
        }
        bool blank = *p == ' ' || *p == '\t';
        if (!blank && !in_word)
            nwords++;
        in_word = !blank;
    }
    size_t first = strcspn(line + strspn(line, " \t"), " \t");
    if (nwords == 0 || memchr(line + strspn(line, " \t"), '=', first)) {
        errno = EINVAL; /* blank, or FOO=bar cmd: an assignment */
        return NULL;
    }
    char **argv = malloc((nwords + 1) * sizeof(*argv) + len + 1);
    if (!argv) {
        errno = ENOMEM;
        return NULL;
    }
    char *text = (char *)(argv + nwords + 1);
    memcpy(text, line, len + 1);
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(text, " \t", &save); tok;
         tok = strtok_r(NULL, " \t", &save))
        argv[n++] = tok;
    argv[n] = NULL;
    return argv;
}

uint64_t util_mul_sat(uint64_t a, uint64_t b)
{
    return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

int util_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
                return -1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The length of the well-formed UTF-8 sequence at s (n bytes there), or 0
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned lo = 0x80, hi = 0xBF;
    size_t len;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        lo = s[0] == 0xE0 ? 0xA0 : lo; /* not overlong */
        hi = s[0] == 0xED ? 0x9F : hi; /* not a surrogate */
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        lo = s[0] == 0xF0 ? 0x90 : lo; /* not overlong */
        hi = s[0] == 0xF4 ? 0x8F : hi; /* not above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

char *util_utf8_repair(const void *p, size_t len, size_t *n)
{
    const unsigned char *s = p;
    char *out = len <= SIZE_MAX / 3 - 1 ? malloc(len * 3 + 1) : NULL;
    if (!out) {
        errno = ENOMEM;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_seq(s + i, len - i);
        if (k) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    *n = o;
    return out;
}

char *util_one_line(const char *s, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    size_t n = 0;
    bool space = false;
    for (const char *p = s ? s : ""; *p; p++) {
        if (isspace((unsigned char)*p)) {
            space = n > 0;
            continue;
        }
        if (n + (space ? 2 : 1) >= size) {
            if (size >= 4)
                memcpy(buf + (n > size - 4 ? size - 4 : n), "...", 4);
            else
                buf[n] = '\0';
            return buf;
        }
        if (space)
            buf[n++] = ' ';
        space = false;
        buf[n++] = *p;
    }
    buf[n] = '\0';
    return buf;
}

int util_mkdir_p(const char *path, unsigned mode)
{
    char tmp[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(tmp)) {
        errno = n ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    struct stat sb;
    if (stat(tmp, &sb) < 0)
        return -1;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int util_read_file(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    util_buf_t b = UTIL_BUF_INIT;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto error;
        }
        if (n == 0)
            break;
        if (util_buf_append(&b, chunk, (size_t)n) < 0)
            goto error;
    }
    close(fd);
    if (len)
        *len = b.len;
    *data = util_buf_steal(&b);
    return *data ? 0 : -1;
error:;
    int saved = errno;
    close(fd);
    util_buf_fini(&b);
    errno = saved;
    return -1;
}

int util_ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int util_meminfo(uint64_t *total, uint64_t *available)
{
    /* Read with one read() into a stack buffer: this is called often. */
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        errno = EIO;
        return -1;
    }
    buf[n] = '\0';
    int found = 0;
    for (char *line = buf; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        unsigned long long kb;
        if (total && sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
            *total = kb * 1024;
            found |= 1;
        } else if (available &&
                   sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            *available = kb * 1024;
            found |= 2;
        }
    }
    if ((total && !(found & 1)) || (available && !(found & 2))) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}
