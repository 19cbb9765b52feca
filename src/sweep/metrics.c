/* SPDX-License-Identifier: MIT */
/* metrics.c - the metrics an experiment reports, from its file or stdout.
 *
 * An experiment reports metrics as one JSON object, either in the file named
 * by $BANYAN_METRICS or as a line of its stdout.  The file wins whenever it
 * exists, and a file that exists but does not hold a JSON object is an error
 * even when stdout has a good line: the experiment meant to use the file, and
 * silently reading something else would hide its bug.  On stdout the last
 * line that parses as a JSON object wins (progress lines and earlier
 * interim metrics are ignored).  The metric is looked up as a top-level key,
 * and, when absent there and its name has dots, as a path into nested
 * objects ("eval.loss").  It must be a JSON number; booleans are not.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "sweep_private.h"
#include "util/util.h"

/* Append j as compact JSON, with reals in their shortest exact form (jansson
 * writes 0.9 as 0.90000000000000002). */
static int dump(util_buf_t *b, json_t *j, int depth)
{
    char num[64];
    if (depth > 256) /* jansson's own parser stops at 2048; be safe */
        return -1;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;
        bool first = true;
        if (util_buf_putc(b, '{') < 0)
            return -1;
        json_object_foreach(j, key, v) {
            json_t *k = json_string(key);
            char *kt = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
            json_decref(k);
            int rc = kt ? 0 : -1;
            if (rc == 0 && !first)
                rc = util_buf_putc(b, ',');
            if (rc == 0)
                rc = util_buf_puts(b, kt);
            free(kt);
            if (rc < 0 || util_buf_putc(b, ':') < 0 ||
                dump(b, v, depth + 1) < 0)
                return -1;
            first = false;
        }
        return util_buf_putc(b, '}');
    }
    case JSON_ARRAY: {
        if (util_buf_putc(b, '[') < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(j); i++)
            if ((i > 0 && util_buf_putc(b, ',') < 0) ||
                dump(b, json_array_get(j, i), depth + 1) < 0)
                return -1;
        return util_buf_putc(b, ']');
    }
    case JSON_REAL:
        return util_buf_puts(b, sweep__format_double(json_real_value(j), num,
                                                      sizeof(num)));
    default: {
        char *t = json_dumps(j, JSON_ENCODE_ANY);
        int rc = t ? util_buf_puts(b, t) : -1;
        free(t);
        return rc;
    }
    }
}

/* Parse one line (len bytes at s, no newline) as a JSON object. */
static json_t *line_object(const char *s, size_t len)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
                       s[len - 1] == '\r'))
        len--;
    if (len < 2 || s[0] != '{' || s[len - 1] != '}')
        return NULL;
    json_t *j = json_loadb(s, len, 0, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The last line of text that is a JSON object, NULL if none. */
static json_t *last_object_line(const char *text)
{
    if (!text)
        return NULL;
    size_t end = strlen(text);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && text[start - 1] != '\n')
            start--;
        json_t *j = line_object(text + start, end - start);
        if (j)
            return j;
        end = start > 0 ? start - 1 : 0;
    }
    return NULL;
}

/* The metric named name in obj: a key, else a dotted path. Borrowed. */
static json_t *lookup(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (v || !strchr(name, '.'))
        return v;
    char *path = strdup(name);
    if (!path)
        return NULL;
    json_t *cur = obj;
    char *save = NULL;
    for (char *part = strtok_r(path, ".", &save); part && cur;
         part = strtok_r(NULL, ".", &save))
        cur = json_is_object(cur) ? json_object_get(cur, part) : NULL;
    free(path);
    return cur == obj ? NULL : cur;
}

int sweep_metrics_read(const char *metrics_path, const char *stdout_text,
                       const char *metric, char **json_out, double *value,
                       banyan_error_t *error)
{
    json_t *obj = NULL;
    struct stat st;
    if (json_out)
        *json_out = NULL;
    if (metrics_path && stat(metrics_path, &st) == 0) {
        json_error_t jerr;
        if (S_ISDIR(st.st_mode)) {
            errno = EINVAL;
            return errprintf(error, "malformed metrics file: %s is a "
                             "directory", metrics_path);
        }
        obj = json_load_file(metrics_path, 0, &jerr);
        if (!obj) {
            errno = EINVAL;
            return errprintf(error, "malformed metrics file: %s:%d:%d: %s",
                             metrics_path, jerr.line, jerr.column, jerr.text);
        }
        if (!json_is_object(obj)) {
            json_decref(obj);
            errno = EINVAL;
            return errprintf(error, "malformed metrics file: %s does not "
                             "hold a JSON object", metrics_path);
        }
    } else if (metrics_path && errno != ENOENT && errno != ENOTDIR) {
        int e = errno;
        errprintf(error, "malformed metrics file: %s: %s", metrics_path,
                  strerror(e));
        errno = e;
        return -1;
    } else {
        obj = last_object_line(stdout_text);
        if (!obj) {
            errno = ENOENT;
            return errprintf(error, "no metrics: BANYAN_METRICS file absent "
                             "and no JSON object line on stdout");
        }
    }

    if (json_out) {
        util_buf_t b = UTIL_BUF_INIT;
        if (dump(&b, obj, 0) == 0)
            *json_out = util_buf_steal(&b);
        util_buf_fini(&b);
        if (!*json_out) {
            json_decref(obj);
            errno = ENOMEM;
            return errprintf(error, "out of memory");
        }
    }
    int rc = 0;
    if (metric) {
        json_t *v = lookup(obj, metric);
        if (!v) {
            errno = ENOENT;
            rc = errprintf(error, "metric '%s' missing", metric);
        } else if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            errno = EINVAL;
            rc = errprintf(error, "metric '%s' is not a number", metric);
        } else if (value) {
            *value = json_number_value(v);
        }
    }
    json_decref(obj);
    return rc;
}
