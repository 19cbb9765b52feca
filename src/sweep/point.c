/* SPDX-License-Identifier: MIT */
/* point.c - points of a sweep's space as text, in templates and as JSON.
 *
 * A point is one double per parameter: the value for float and int
 * parameters, the index of the value for categorical ones.  Its text form
 * is what an experiment sees (command template, BANYAN_PARAM_<NAME>): a
 * categorical value exactly as written in the configuration, an int in
 * decimal, a float as the shortest text that reads back as the same double
 * (0.001, not 0.0010000000000000000208).  The JSON form is built by hand so
 * that floats keep that shortest text; strings are escaped by jansson.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sweep_private.h"
#include "util/util.h"

/* ----------------------------------------------------------- numbers */

bool sweep__parse_number(const char *s, double *out)
{
    if (!s)
        return false;
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (digits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != '\0')
        return false;
    errno = 0;
    double v = strtod(s, NULL);
    if (!isfinite(v))
        return false;
    if (out)
        *out = v;
    return true;
}

char *sweep__format_double(double v, char *buf, size_t size)
{
    if (v == 0) { /* also -0: "0" reads back as a zero, which is what counts */
        snprintf(buf, size, "0");
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return buf;
    }
    snprintf(buf, size, "%.17g", v);
    return buf;
}

/* -------------------------------------------------------------- text */

int sweep_param_index(const sweep_config_t *cfg, const char *name)
{
    if (!cfg || !name)
        return -1;
    for (size_t i = 0; i < cfg->nparams; i++)
        if (strcmp(cfg->params[i].name, name) == 0)
            return (int)i;
    return -1;
}

char *sweep_value_text(const sweep_config_t *cfg, size_t i, const double *x,
                       char *buf, size_t size)
{
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (!cfg || i >= cfg->nparams || !x)
        return buf;
    const sweep_param_t *p = &cfg->params[i];
    switch (p->kind) {
    case SWEEP_CATEGORICAL:
        if (x[i] >= 0 && x[i] < (double)p->nvalues)
            snprintf(buf, size, "%s", p->values[(size_t)x[i]].text);
        break;
    case SWEEP_INT:
        snprintf(buf, size, "%lld", (long long)llround(x[i]));
        break;
    case SWEEP_FLOAT:
        sweep__format_double(x[i], buf, size);
        break;
    }
    return buf;
}

static bool name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

char *sweep_substitute(const sweep_config_t *cfg, const char *text,
                       const double *x)
{
    util_buf_t b = UTIL_BUF_INIT;
    if (!text)
        text = "";
    const char *p = text;
    while (*p) {
        const char *open = strchr(p, '{');
        if (!open) {
            if (util_buf_puts(&b, p) < 0)
                goto error;
            break;
        }
        if (util_buf_append(&b, p, (size_t)(open - p)) < 0)
            goto error;
        const char *q = open + 1;
        while (name_char(*q, q == open + 1))
            q++;
        int idx = -1;
        if (*q == '}' && q > open + 1 && cfg) {
            char name[256];
            size_t n = (size_t)(q - open - 1);
            if (n < sizeof(name)) {
                memcpy(name, open + 1, n);
                name[n] = '\0';
                idx = sweep_param_index(cfg, name);
            }
        }
        if (idx < 0) { /* not a placeholder of ours: keep the brace */
            if (util_buf_putc(&b, '{') < 0)
                goto error;
            p = open + 1;
            continue;
        }
        char val[512];
        sweep_value_text(cfg, (size_t)idx, x, val, sizeof(val));
        if (util_buf_puts(&b, val) < 0)
            goto error;
        p = q + 1;
    }
    return util_buf_steal(&b);
error:
    util_buf_fini(&b);
    errno = ENOMEM;
    return NULL;
}

/* -------------------------------------------------------------- JSON */

/* Append s as a JSON string. */
static int put_json_string(util_buf_t *b, const char *s)
{
    json_t *j = json_string(s);
    if (!j) { /* not UTF-8: keep the bytes we can, escaped as jansson does */
        j = json_stringn_nocheck(s, strlen(s));
        if (!j)
            return -1;
    }
    char *text = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    if (!text)
        return -1;
    int rc = util_buf_puts(b, text);
    free(text);
    return rc;
}

char *sweep_point_to_json(const sweep_config_t *cfg, const double *x)
{
    util_buf_t b = UTIL_BUF_INIT;
    if (!cfg || !x) {
        errno = EINVAL;
        return NULL;
    }
    if (util_buf_putc(&b, '{') < 0)
        goto nomem;
    for (size_t i = 0; i < cfg->nparams; i++) {
        const sweep_param_t *p = &cfg->params[i];
        if (i > 0 && util_buf_puts(&b, ", ") < 0)
            goto nomem;
        if (put_json_string(&b, p->name) < 0 || util_buf_puts(&b, ": ") < 0)
            goto nomem;
        char num[64];
        int rc;
        switch (p->kind) {
        case SWEEP_CATEGORICAL:
            if (!(x[i] >= 0 && x[i] < (double)p->nvalues)) {
                util_buf_fini(&b);
                errno = EINVAL;
                return NULL;
            }
            const sweep_value_t *v = &p->values[(size_t)x[i]];
            if (v->is_num)
                rc = util_buf_puts(&b, sweep__format_double(v->num, num,
                                                             sizeof(num)));
            else
                rc = put_json_string(&b, v->text);
            break;
        default:
            if (!isfinite(x[i])) {
                util_buf_fini(&b);
                errno = EINVAL;
                return NULL;
            }
            rc = util_buf_puts(&b, sweep_value_text(cfg, i, x, num,
                                                    sizeof(num)));
            break;
        }
        if (rc < 0)
            goto nomem;
    }
    if (util_buf_putc(&b, '}') < 0)
        goto nomem;
    return util_buf_steal(&b);
nomem:
    util_buf_fini(&b);
    errno = ENOMEM;
    return NULL;
}

/* The index of the categorical value that j stands for, -1 if none: a
 * string matches a value's text, a number matches a numeric value. */
static long find_value(const sweep_param_t *p, const json_t *j)
{
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        for (size_t k = 0; k < p->nvalues; k++)
            if (strcmp(p->values[k].text, s) == 0)
                return (long)k;
        double d;
        if (!sweep__parse_number(s, &d))
            return -1;
        for (size_t k = 0; k < p->nvalues; k++)
            if (p->values[k].is_num && p->values[k].num == d)
                return (long)k;
        return -1;
    }
    if (json_is_number(j)) {
        double d = json_number_value(j);
        for (size_t k = 0; k < p->nvalues; k++)
            if (p->values[k].is_num && p->values[k].num == d)
                return (long)k;
    }
    return -1;
}

int sweep_point_from_json(const sweep_config_t *cfg, const char *json,
                          double *x)
{
    if (!cfg || !json || !x) {
        errno = EINVAL;
        return -1;
    }
    json_t *obj = json_loads(json, 0, NULL);
    if (!obj || !json_is_object(obj))
        goto inval;
    double *tmp = cfg->nparams ? calloc(cfg->nparams, sizeof(*tmp)) : NULL;
    if (cfg->nparams && !tmp) {
        json_decref(obj);
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < cfg->nparams; i++) {
        const sweep_param_t *p = &cfg->params[i];
        json_t *v = json_object_get(obj, p->name);
        if (!v)
            goto inval_tmp;
        if (p->kind == SWEEP_CATEGORICAL) {
            long k = find_value(p, v);
            if (k < 0)
                goto inval_tmp;
            tmp[i] = (double)k;
            continue;
        }
        if (!json_is_number(v))
            goto inval_tmp;
        double d = json_number_value(v);
        /* an int is whole and within 2^53, as the configuration's ints
         * are (config.c): beyond, it would not print as itself */
        if (!isfinite(d) || (p->kind == SWEEP_INT
                             && (d != floor(d) || fabs(d) > 0x1p53)))
            goto inval_tmp;
        tmp[i] = d;
    }
    if (cfg->nparams)
        memcpy(x, tmp, cfg->nparams * sizeof(*x));
    free(tmp);
    json_decref(obj);
    return 0;
inval_tmp:
    free(tmp);
inval:
    json_decref(obj);
    errno = EINVAL;
    return -1;
}
