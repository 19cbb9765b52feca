/* SPDX-License-Identifier: MIT */
/* inputs_read.c - reading a source as GNU Parallel reads its input: values
 * ended by the delimiter (-d, -0; a newline by default), the end-of-file
 * string (-E), empty values dropped (-r), lines continued (-L), the header
 * (--header), white space trimmed (--trim) and columns (--colsep, --csv).
 *
 * Everything happens in one pass over a block of bytes (a file read whole,
 * or the ":::" values written one after the other with the delimiter after
 * each, as GNU does): values are cut in place, so a value costs a pointer
 * and its bytes.  With columns, the columns of each value are copied into a
 * new block, one string after the other, and the value keeps their count.
 *
 * Differences kept on purpose (docs/gnu-parallel.md): by default ":::"
 * values are not split at newlines (a value with a newline stays one value),
 * a "\r" before a newline is dropped, and a NUL byte in a file read by lines
 * is an error rather than a warning.
 */
#include "inputs_private.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- options */

int tmpl_trim_parse(const char *s, tmpl_trim_t *trim)
{
    static const struct {
        const char *name;
        tmpl_trim_t trim;
    } names[] = {{"n", TMPL_TRIM_NONE}, {"l", TMPL_TRIM_LEFT},
                 {"r", TMPL_TRIM_RIGHT}, {"lr", TMPL_TRIM_BOTH},
                 {"rl", TMPL_TRIM_BOTH}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(s, names[i].name)) {
            *trim = names[i].trim;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

size_t tmpl_unescape_delim(const char *s, char *out)
{
    /* GNU's unquote_printf: \t \n \r, \NNN and \N in octal */
    size_t n = 0;
    while (*s) {
        if (s[0] == '\\' && s[1] == 't') {
            out[n++] = '\t';
            s += 2;
        } else if (s[0] == '\\' && s[1] == 'n') {
            out[n++] = '\n';
            s += 2;
        } else if (s[0] == '\\' && s[1] == 'r') {
            out[n++] = '\r';
            s += 2;
        } else if (s[0] == '\\' && isdigit((unsigned char)s[1])) {
            int digits = isdigit((unsigned char)s[2]) &&
                         isdigit((unsigned char)s[3]) ? 3 : 1;
            unsigned v = 0;
            for (int i = 1; i <= digits; i++)
                v = v * 8 + (unsigned)(s[i] - '0');
            out[n++] = (char)v;
            s += 1 + digits;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    return n;
}

/* A Perl regular expression as a POSIX extended one: the escapes Perl
 * knows and POSIX does not (\t \n \r \f \e \d \D \xHH) become what they
 * mean.  Into out (room for 8 * strlen(s) + 1). */
static void perl_to_posix(const char *s, char *out)
{
    size_t n = 0;
    while (*s) {
        if (s[0] != '\\' || !s[1]) {
            out[n++] = *s++;
            continue;
        }
        char c = s[1];
        s += 2;
        switch (c) {
        case 't': out[n++] = '\t'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 'f': out[n++] = '\f'; break;
        case 'e': out[n++] = '\033'; break;
        case 'd': memcpy(out + n, "[0-9]", 5); n += 5; break;
        case 'D': memcpy(out + n, "[^0-9]", 6); n += 6; break;
        case 'x': {
            unsigned v = 0;
            int k = 0;
            while (k < 2 && isxdigit((unsigned char)*s)) {
                char h = *s++;
                v = v * 16 + (unsigned)(isdigit((unsigned char)h)
                                        ? h - '0' : (h | 0x20) - 'a' + 10);
                k++;
            }
            /* as a bracket so that a special character stays literal */
            n += (size_t)sprintf(out + n, "[%c]", (char)v);
            break;
        }
        default:
            out[n++] = '\\';
            out[n++] = c;
        }
    }
    out[n] = '\0';
}

/* True when a regular expression is a plain string (after \t and the like
 * were made what they mean). */
static bool is_plain(const char *re)
{
    return strpbrk(re, ".[]()*+?{}|^$\\") == NULL;
}

void inputs__read_fini(tmpl_inputs_t *in)
{
    if (in->re_ok)
        regfree(&in->re);
    in->re_ok = false;
    free(in->rd_text);
    in->rd_text = NULL;
}

int tmpl_inputs_set_read(tmpl_inputs_t *in, const tmpl_read_t *r,
                         banyan_error_t *error)
{
    const char *colsep = r->colsep;
    if (!colsep && r->csv)
        colsep = ",";
    else if (!colsep && r->header)
        colsep = "\t";
    size_t dl = r->delim ? r->delim_len : 0;
    size_t el = r->eof ? strlen(r->eof) : 0;
    size_t cl = colsep ? strlen(colsep) : 0;
    char *text = malloc(dl + el + 8 * cl + 3);
    if (!text) {
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    inputs__read_fini(in);
    in->rd = *r;
    in->rd_text = text;
    if (r->delim) {
        memcpy(text, r->delim, dl);
        in->rd.delim = text;
        text += dl;
    }
    *text++ = '\0';
    if (r->eof) {
        memcpy(text, r->eof, el + 1);
        in->rd.eof = text;
        text += el + 1;
    }
    in->rd.colsep = NULL;
    in->colsep_lit = NULL;
    if (!colsep)
        return 0;
    perl_to_posix(colsep, text);
    in->rd.colsep = text;
    if (r->csv || is_plain(text)) {
        /* --csv takes its separator as it is */
        in->colsep_lit = r->csv ? strcpy(text, colsep) : text;
        in->colsep_len = strlen(in->colsep_lit);
        if (in->colsep_len > 0)
            return 0;
        if (r->csv) {
            errno = EINVAL;
            return errprintf(error, "--csv needs a separator that is not "
                             "empty");
        }
        in->colsep_lit = NULL; /* "" splits every character: a regex */
    }
    int rc = regcomp(&in->re, text, REG_EXTENDED);
    if (rc != 0) {
        char why[160];
        regerror(rc, &in->re, why, sizeof(why));
        errno = EINVAL;
        return errprintf(error, "invalid --colsep '%s': %s", colsep, why);
    }
    in->re_ok = true;
    return 0;
}

/* ---------------------------------------------------------------- columns */

/* The next separator in s[from..len): its start and end.  false if none. */
static bool next_sep(const tmpl_inputs_t *in, const char *s, size_t len,
                     size_t from, size_t *start, size_t *end)
{
    if (in->colsep_lit) {
        const char *p = memmem(s + from, len - from, in->colsep_lit,
                               in->colsep_len);
        if (!p)
            return false;
        *start = (size_t)(p - s);
        *end = *start + in->colsep_len;
        return true;
    }
    regmatch_t m = {.rm_so = (regoff_t)from, .rm_eo = (regoff_t)len};
    if (regexec(&in->re, s, 1, &m, REG_STARTEND | (from ? REG_NOTBOL : 0)))
        return false;
    *start = (size_t)m.rm_so;
    *end = (size_t)m.rm_eo;
    return true;
}

/* Perl's split(/colsep/, s, -1) into out, one string after the other;
 * *ncols their number.  An empty match splits between characters (not
 * before the first of a field), so "" splits "abc" into a, b, c and "".  keep_trailing: false drops empty trailing fields
 * (split without -1, for the header).  0 or -1 ENOMEM. */
static int split_cols(const tmpl_inputs_t *in, const char *s, util_buf_t *out,
                      uint32_t *ncols, bool keep_trailing)
{
    size_t len = strlen(s), start = 0, pos = 0, ms, me;
    uint32_t n = 0;
    size_t last_nonempty = out->len; /* end of the last non-empty field */
    uint32_t n_nonempty = 0;
    while (pos <= len && next_sep(in, s, len, pos, &ms, &me)) {
        if (me == ms) {
            /* an empty match splits between characters, never before the
             * first one of a field nor at the end */
            if (ms == start) {
                pos = ms + 1;
                continue;
            }
        }
        if (util_buf_append(out, s + start, ms - start) < 0 ||
            util_buf_putc(out, '\0') < 0)
            return -1;
        n++;
        if (ms > start) {
            last_nonempty = out->len;
            n_nonempty = n;
        }
        start = pos = me;
    }
    if (util_buf_append(out, s + start, len - start) < 0 ||
        util_buf_putc(out, '\0') < 0)
        return -1;
    n++;
    if (len > start) {
        last_nonempty = out->len;
        n_nonempty = n;
    }
    if (!keep_trailing) {
        out->len = last_nonempty;
        n = n_nonempty;
    }
    *ncols = n;
    return 0;
}

/* RFC 4180 fields of s (Text::CSV with binary => 1: quoted fields may hold
 * the separator, newlines and "" for a quote) into out.  0, -1 EINVAL (a
 * quote where none may be) or ENOMEM. */
static int split_csv(const tmpl_inputs_t *in, const char *s, util_buf_t *out,
                     uint32_t *ncols)
{
    const char *sep = in->colsep_lit;
    size_t seplen = in->colsep_len;
    uint32_t n = 0;
    for (;;) {
        if (*s == '"') {
            s++;
            for (;;) {
                if (!*s)
                    goto bad; /* no closing quote */
                if (s[0] == '"' && s[1] == '"') {
                    if (util_buf_putc(out, '"') < 0)
                        return -1;
                    s += 2;
                } else if (s[0] == '"') {
                    s++;
                    break;
                } else if (util_buf_putc(out, *s++) < 0) {
                    return -1;
                }
            }
            if (*s && strncmp(s, sep, seplen) != 0)
                goto bad; /* text after the closing quote */
        } else {
            const char *end = strstr(s, sep);
            size_t flen = end ? (size_t)(end - s) : strlen(s);
            if (memchr(s, '"', flen))
                goto bad;
            if (util_buf_append(out, s, flen) < 0)
                return -1;
            s += flen;
        }
        if (util_buf_putc(out, '\0') < 0)
            return -1;
        n++;
        if (!*s)
            break;
        s += seplen;
    }
    *ncols = n;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}

/* ------------------------------------------------------------------ values */

static bool is_blank(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* Trim s in place as --trim says; returns the new start. */
static char *trim(tmpl_trim_t how, char *s)
{
    if (how == TMPL_TRIM_LEFT || how == TMPL_TRIM_BOTH)
        while (isspace((unsigned char)*s))
            s++;
    if (how == TMPL_TRIM_RIGHT || how == TMPL_TRIM_BOTH) {
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            s[--n] = '\0';
    }
    return s;
}

static void trim_cols(tmpl_trim_t how, util_buf_t *out, size_t from)
{
    /* columns were just appended from offset from: trim each in place by
     * rewriting them one after the other */
    if (how == TMPL_TRIM_NONE)
        return;
    size_t rd = from, wr = from;
    while (rd < out->len) {
        char *col = out->data + rd;
        size_t clen = strlen(col);
        char *t = trim(how, col);
        size_t tlen = strlen(t);
        memmove(out->data + wr, t, tlen + 1);
        wr += tlen + 1;
        rd += clen + 1;
    }
    out->len = wr;
}

/* The state of one source being read. */
typedef struct reader {
    tmpl_inputs_t *in;
    source_t *s;
    size_t cap;         /* room in s->vals (and s->ncols) */
    bool columns;       /* values are split into columns */
    util_buf_t cols;    /* the columns of all values */
    size_t *offs;       /* with columns: offset of value i in cols */
} reader_t;

static int emit(reader_t *r, char *v)
{
    source_t *s = r->s;
    if (s->n == r->cap) {
        size_t cap = r->cap;
        if (util_grow((void **)&s->vals, &cap, s->n + 1,
                      sizeof(*s->vals)) < 0)
            return -1;
        if (r->columns) {
            size_t c2 = r->cap, c3 = r->cap;
            if (util_grow((void **)&s->ncols, &c2, s->n + 1,
                          sizeof(*s->ncols)) < 0 ||
                util_grow((void **)&r->offs, &c3, s->n + 1,
                          sizeof(*r->offs)) < 0)
                return -1;
        }
        r->cap = cap;
    }
    if (!r->columns) {
        s->vals[s->n++] = trim(r->in->rd.trim, v);
        return 0;
    }
    size_t from = r->cols.len;
    uint32_t n = 1;
    int rc;
    if (!*v)
        rc = util_buf_putc(&r->cols, '\0'); /* GNU: "" is one empty column */
    else if (r->in->rd.csv)
        rc = split_csv(r->in, v, &r->cols, &n);
    else
        rc = split_cols(r->in, v, &r->cols, &n, true);
    if (rc < 0)
        return -1;
    trim_cols(r->in->rd.trim, &r->cols, from);
    r->offs[s->n] = from;
    s->ncols[s->n++] = n;
    if (n > s->maxcols)
        s->maxcols = n;
    return 0;
}

/* The header: names of the next positions, split as GNU splits it. */
static int take_header(tmpl_inputs_t *in, char *line)
{
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\r')
        line[n - 1] = '\0';
    util_buf_t b = UTIL_BUF_INIT;
    uint32_t ncols = 0;
    if (split_cols(in, line, &b, &ncols, false) < 0)
        goto nomem;
    size_t cap = in->nnames;
    const char *p = b.data;
    for (uint32_t i = 0; i < ncols; i++, p += strlen(p) + 1) {
        char *name = strdup(p);
        if (!name || util_grow((void **)&in->names, &cap, in->nnames + 1,
                               sizeof(*in->names)) < 0) {
            free(name);
            goto nomem;
        }
        in->names[in->nnames++] = name;
    }
    util_buf_fini(&b);
    return 0;
nomem:
    util_buf_fini(&b);
    errno = ENOMEM;
    return -1;
}

/* Where the value starting at p ends: the next delimiter (with --csv, one
 * outside quotes).  *next: where the next value starts. */
static char *value_end(const tmpl_inputs_t *in, char *p, char *end,
                       const char *delim, size_t dlen, char **next)
{
    char *q = p;
    bool quoted = false;
    for (;;) {
        char *d = dlen == 1 ? memchr(q, delim[0], (size_t)(end - q))
                            : memmem(q, (size_t)(end - q), delim, dlen);
        if (!d) {
            *next = end;
            return end;
        }
        if (in->rd.csv) {
            /* GNU reads on while a line has an odd number of quotes */
            for (char *c = q; c < d; c++)
                quoted ^= *c == '"';
            if (quoted) {
                /* the line goes on; a NUL between ":::" values becomes
                 * the newline GNU has there */
                if (dlen == 1 && *d == '\0')
                    *d = '\n';
                q = d + dlen;
                continue;
            }
        }
        *next = d + dlen;
        return d;
    }
}

/* Cut block (len bytes and a NUL) into the values of s. */
static int read_values(tmpl_inputs_t *in, source_t *s, char *block,
                       size_t len, const char *delim, size_t dlen, bool lines,
                       banyan_error_t *error, const char *what)
{
    const tmpl_read_t *rd = &in->rd;
    reader_t r = {.in = in, .s = s, .columns = rd->colsep != NULL};
    char *p = block, *end = block + len, *prepend = NULL, *bad = NULL;
    bool header = rd->header;
    while (p < end) {
        char *next, *stop = value_end(in, p, end, delim, dlen, &next);
        if (lines && stop > p && stop[-1] == '\r')
            stop--;
        *stop = '\0';
        char *v = p;
        p = next;
        if (header) {
            header = false;
            if (take_header(in, v) < 0)
                goto nomem;
            continue;
        }
        if (rd->eof && !strcmp(v, rd->eof))
            break; /* GNU ignores the rest of the source */
        if (prepend) {
            /* -L: the previous value goes on with this one */
            size_t vl = strlen(v);
            char *at = prepend + strlen(prepend);
            memmove(at, v, vl + 1);
            v = prepend;
            prepend = NULL;
        }
        if (rd->skip_empty && is_blank(v))
            continue;
        size_t vl = strlen(v);
        if (rd->continue_lines && vl > 0 &&
            isspace((unsigned char)v[vl - 1])) {
            prepend = v;
            continue;
        }
        if (emit(&r, v) < 0) {
            bad = v;
            goto fail;
        }
    }
    if (prepend && emit(&r, prepend) < 0) {
        bad = prepend;
        goto fail;
    }
    if (r.columns) {
        free(s->block);
        s->block = r.cols.data ? r.cols.data : strdup("");
        r.cols.data = NULL;
        if (!s->block)
            goto nomem;
        for (size_t i = 0; i < s->n; i++)
            s->vals[i] = s->block + r.offs[i];
    }
    free(r.offs);
    return 0;
fail:
    if (errno == EINVAL) {
        size_t bl = strlen(bad); /* a quote left open ran to the end */
        if (bl > 0 && bad[bl - 1] == '\n')
            bad[bl - 1] = '\0';
        free(r.offs);
        util_buf_fini(&r.cols);
        return errprintf(error, "%s: CSV has unexpected format: ^%.200s^",
                         what, bad);
    }
nomem:
    free(r.offs);
    util_buf_fini(&r.cols);
    errno = ENOMEM;
    return errprintf(error, "out of memory reading %s", what);
}

/* Read block (len bytes, NUL after them, owned: taken over also on
 * failure) into a new source. */
static int add_block(tmpl_inputs_t *in, char *block, size_t len,
                     const char *delim, size_t dlen, bool lines, bool linked,
                     const char *what, banyan_error_t *error)
{
    source_t s = {.block = block, .linked = linked};
    if (read_values(in, &s, block, len, delim, dlen, lines, error,
                    what) < 0) {
        int saved = errno;
        free(s.block);
        free(s.vals);
        free(s.ncols);
        errno = saved;
        return -1;
    }
    return inputs__add_source(in, s, error);
}

int tmpl_inputs_add_values(tmpl_inputs_t *in, const char *const *values,
                           size_t n, bool linked, banyan_error_t *error)
{
    /* Written one after the other with the delimiter after each, as GNU
     * writes ":::" values to a file; without -d/-0 the delimiter is a NUL,
     * so that a value with a newline stays one value. */
    const char *delim = in->rd.delim ? in->rd.delim : "";
    size_t dlen = in->rd.delim ? in->rd.delim_len : 1;
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(values[i]) + dlen;
    char *block = malloc(total);
    if (!block) {
        errno = ENOMEM;
        return errprintf(error, "out of memory adding an input source");
    }
    char *p = block;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(values[i]);
        memcpy(p, values[i], len);
        memcpy(p + len, delim, dlen);
        p += len + dlen;
    }
    *p = '\0';
    return add_block(in, block, (size_t)(p - block), delim, dlen, false,
                     linked, "':::' values", error);
}

/* Read all of fd (name: path, or "-" for stdin) into a NUL-terminated
 * malloc'd block.  A NUL byte (unless it is the delimiter), or a value
 * longer than TMPL_LINE_MAX, is an error at once: `:::: /dev/zero` fails
 * instead of filling memory, and a binary file is not taken as cut-off
 * lines.  0, or -1 with errno and text. */
static int read_input(int fd, const char *path, char sep, bool nul_ok,
                      char **data, size_t *len, banyan_error_t *error)
{
    util_buf_t b = UTIL_BUF_INIT;
    char chunk[65536];
    uint64_t line = 1;
    size_t col = 0; /* bytes of the line so far */
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            errprintf(error, "cannot read input file '%s': %s", path,
                      strerror(errno));
            goto error;
        }
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            if (chunk[i] == sep) {
                line++;
                col = 0;
            } else if (chunk[i] == '\0' && !nul_ok) {
                errno = EINVAL;
                errprintf(error, "input file '%s', line %llu: a NUL byte "
                          "(input values are lines of text; -0 reads "
                          "NUL-separated values)", path,
                          (unsigned long long)line);
                goto error;
            } else if (++col > TMPL_LINE_MAX) {
                errno = EFBIG;
                errprintf(error, "input file '%s', line %llu: longer than "
                          "%d bytes", path, (unsigned long long)line,
                          TMPL_LINE_MAX);
                goto error;
            }
        }
        if (util_buf_append(&b, chunk, (size_t)r) < 0) {
            errprintf(error, "out of memory reading input file '%s'", path);
            goto error;
        }
    }
    *len = b.len;
    if ((*data = util_buf_steal(&b)))
        return 0;
    return errprintf(error, "out of memory reading input file '%s'", path);
error:;
    int saved = errno;
    util_buf_fini(&b);
    errno = saved;
    return -1;
}

int tmpl_inputs_add_file(tmpl_inputs_t *in, const char *path, bool linked,
                         banyan_error_t *error)
{
    const char *delim = in->rd.delim ? in->rd.delim : "\n";
    size_t dlen = in->rd.delim ? in->rd.delim_len : 1;
    bool nul_ok = memchr(delim, '\0', dlen) != NULL;
    size_t len = 0;
    char *block;
    bool in_stdin = strcmp(path, "-") == 0;
    int fd = in_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errprintf(error, "cannot read input file '%s': %s", path,
                         strerror(errno));
    int rc = read_input(fd, path, delim[0], nul_ok, &block, &len, error);
    if (!in_stdin)
        close(fd);
    if (rc < 0)
        return -1;
    char what[300];
    snprintf(what, sizeof(what), "input file '%s'", path);
    return add_block(in, block, len, delim, dlen, !in->rd.delim, linked,
                     what, error);
}
