/* SPDX-License-Identifier: MIT */
/* expr.c - resource expressions over sweep parameters ("{tp} * 2", "8G").
 *
 * A recursive-descent parser that evaluates as it parses:
 *
 *     expr    := term (('+' | '-') term)*
 *     term    := unary (('*' | '/') unary)*
 *     unary   := ('-' | '+') unary | primary
 *     primary := NUMBER [SUFFIX] | '{' NAME '}' | '(' expr ')'
 *
 * SUFFIX (k, M, G, T, binary multiples, optionally followed by "B" or "iB")
 * is only allowed where the caller says numbers are sizes (mem).  The same
 * parser checks an expression at load time without a point: references then
 * have an unknown value, and only a division by a known zero is reported.
 * Errors name the 1-based column inside the expression.  Nesting is bounded
 * so that a hostile expression cannot exhaust the stack.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep_private.h"
#include "util/util.h"

enum { MAX_DEPTH = 64 };

typedef struct value {
    double v;   /* the value, when known */
    bool known; /* false in check mode for anything that depends on a point */
} value_t;

typedef struct parser {
    const sweep_config_t *cfg;
    const char *s;  /* the expression */
    size_t pos;     /* next byte */
    const double *x; /* the point, NULL when only checking */
    bool size_units;
    int depth;
    banyan_error_t *error;
} parser_t;

static int parse_expr(parser_t *p, value_t *out);

static int fail(parser_t *p, size_t pos, const char *fmt, const char *arg)
{
    char what[sizeof(banyan_error_t) + 64];
    snprintf(what, sizeof(what), fmt, arg);
    errno = EINVAL;
    return errprintf(p->error, "column %zu: %s", pos + 1, what);
}

static void skip_space(parser_t *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
}

/* A printable description of the byte at pos for error messages. */
static const char *here(parser_t *p, char *buf, size_t size)
{
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '\0')
        snprintf(buf, size, "end of expression");
    else if (isprint(c))
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02x", c);
    return buf;
}

/* ------------------------------------------------------------- numbers */

static double suffix_scale(char c)
{
    switch (c) {
    case 'k': case 'K': return 0x1p10;
    case 'm': case 'M': return 0x1p20;
    case 'g': case 'G': return 0x1p30;
    case 't': case 'T': return 0x1p40;
    default: return 0;
    }
}

static int parse_number(parser_t *p, value_t *out)
{
    size_t start = p->pos, i = p->pos;
    const char *s = p->s;
    size_t digits = 0;
    while (isdigit((unsigned char)s[i]))
        i++, digits++;
    if (s[i] == '.') {
        i++;
        while (isdigit((unsigned char)s[i]))
            i++, digits++;
    }
    if (digits == 0)
        return fail(p, start, "malformed number%s", "");
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (isdigit((unsigned char)s[j])) {
            while (isdigit((unsigned char)s[j]))
                j++;
            i = j;
        }
    }
    char text[64];
    if (i - start >= sizeof(text))
        return fail(p, start, "number too long%s", "");
    memcpy(text, s + start, i - start);
    text[i - start] = '\0';
    double v = strtod(text, NULL);
    if (isalpha((unsigned char)s[i])) {
        double scale = suffix_scale(s[i]);
        if (!p->size_units || scale == 0) {
            char b[32];
            p->pos = i;
            return fail(p, i, p->size_units
                                  ? "unknown size suffix %s (use k, M, G or T)"
                                  : "unexpected %s after a number (size "
                                    "suffixes are only allowed in mem)",
                        here(p, b, sizeof(b)));
        }
        i++;
        if (s[i] == 'i' && s[i + 1] == 'B')
            i += 2;
        else if (s[i] == 'B')
            i++;
        if (isalnum((unsigned char)s[i]) || s[i] == '_') {
            char b[32];
            p->pos = i;
            return fail(p, i, "unexpected %s after a size",
                        here(p, b, sizeof(b)));
        }
        v *= scale;
    }
    if (!isfinite(v))
        return fail(p, start, "number out of range%s", "");
    p->pos = i;
    out->v = v;
    out->known = true;
    return 0;
}

/* ---------------------------------------------------------- references */

int sweep__param_number(const sweep_config_t *cfg, size_t i, const double *x,
                        double *out, banyan_error_t *error)
{
    const sweep_param_t *par = &cfg->params[i];
    if (par->kind != SWEEP_CATEGORICAL) {
        *out = x[i];
        return 0;
    }
    double idx = x[i];
    if (!(idx >= 0 && idx < (double)par->nvalues)) {
        errno = EINVAL;
        return errprintf(error, "parameter '%s' has no value number %g",
                         par->name, idx);
    }
    const sweep_value_t *v = &par->values[(size_t)idx];
    if (!v->is_num) {
        errno = EINVAL;
        return errprintf(error, "parameter '%s' value '%s' is not a number",
                         par->name, v->text);
    }
    *out = v->num;
    return 0;
}

static int parse_reference(parser_t *p, value_t *out)
{
    size_t start = p->pos; /* at '{' */
    size_t i = start + 1;
    while (p->s[i] == ' ')
        i++;
    size_t name_at = i;
    while (isalnum((unsigned char)p->s[i]) || p->s[i] == '_')
        i++;
    size_t name_len = i - name_at;
    while (p->s[i] == ' ')
        i++;
    if (p->s[i] != '}') {
        p->pos = i;
        if (name_len == 0)
            return fail(p, i, "expected a parameter name after '{'%s", "");
        char at[24];
        snprintf(at, sizeof(at), "%zu", start + 1);
        return fail(p, i, "expected '}' to close '{' at column %s", at);
    }
    char name[128];
    if (name_len == 0 || name_len >= sizeof(name))
        return fail(p, name_at, "expected a parameter name after '{'%s", "");
    memcpy(name, p->s + name_at, name_len);
    name[name_len] = '\0';
    int idx = sweep_param_index(p->cfg, name);
    if (idx < 0)
        return fail(p, name_at, "unknown parameter '%s'", name);
    const sweep_param_t *par = &p->cfg->params[idx];
    banyan_error_t why;
    if (p->x) {
        if (sweep__param_number(p->cfg, (size_t)idx, p->x, &out->v,
                                &why) < 0)
            return fail(p, start, "%s", why.text);
        out->known = true;
    } else {
        /* Checking: every value the parameter can take must be a number. */
        for (size_t k = 0; par->kind == SWEEP_CATEGORICAL && k < par->nvalues;
             k++) {
            if (!par->values[k].is_num) {
                snprintf(why.text, sizeof(why.text),
                         "parameter '%s' value '%s' is not a number",
                         par->name, par->values[k].text);
                return fail(p, start, "%s", why.text);
            }
        }
        out->v = 1;
        out->known = false;
    }
    p->pos = i + 1;
    return 0;
}

/* ------------------------------------------------------------- grammar */

static int parse_primary(parser_t *p, value_t *out)
{
    char b[32];
    skip_space(p);
    char c = p->s[p->pos];
    if (c == '(') {
        size_t open = p->pos;
        p->pos++;
        if (++p->depth > MAX_DEPTH)
            return fail(p, open, "expression nested too deeply%s", "");
        if (parse_expr(p, out) < 0)
            return -1;
        p->depth--;
        skip_space(p);
        if (p->s[p->pos] != ')') {
            char at[24];
            snprintf(at, sizeof(at), "%zu", open + 1);
            return fail(p, p->pos, "expected ')' to close '(' at column %s",
                        at);
        }
        p->pos++;
        return 0;
    }
    if (c == '{')
        return parse_reference(p, out);
    if (isdigit((unsigned char)c) || c == '.')
        return parse_number(p, out);
    if (c == '\0')
        return fail(p, p->pos, "expected a number, '{name}' or '(' at %s",
                    here(p, b, sizeof(b)));
    return fail(p, p->pos, "expected a number, '{name}' or '(', not %s",
                here(p, b, sizeof(b)));
}

static int parse_unary(parser_t *p, value_t *out)
{
    skip_space(p);
    char c = p->s[p->pos];
    if (c == '-' || c == '+') {
        size_t at = p->pos;
        p->pos++;
        if (++p->depth > MAX_DEPTH)
            return fail(p, at, "expression nested too deeply%s", "");
        if (parse_unary(p, out) < 0)
            return -1;
        p->depth--;
        if (c == '-')
            out->v = -out->v;
        return 0;
    }
    return parse_primary(p, out);
}

static int parse_term(parser_t *p, value_t *out)
{
    if (parse_unary(p, out) < 0)
        return -1;
    for (;;) {
        skip_space(p);
        char op = p->s[p->pos];
        if (op != '*' && op != '/')
            return 0;
        size_t at = p->pos;
        p->pos++;
        value_t rhs;
        if (parse_unary(p, &rhs) < 0)
            return -1;
        if (op == '*') {
            out->v *= rhs.v;
        } else {
            if (rhs.known && rhs.v == 0)
                return fail(p, at, "division by zero%s", "");
            out->v /= rhs.v;
        }
        out->known = out->known && rhs.known;
    }
}

static int parse_expr(parser_t *p, value_t *out)
{
    if (parse_term(p, out) < 0)
        return -1;
    for (;;) {
        skip_space(p);
        char op = p->s[p->pos];
        if (op != '+' && op != '-')
            return 0;
        p->pos++;
        value_t rhs;
        if (parse_term(p, &rhs) < 0)
            return -1;
        out->v = op == '+' ? out->v + rhs.v : out->v - rhs.v;
        out->known = out->known && rhs.known;
    }
}

static int run(parser_t *p, value_t *out)
{
    skip_space(p);
    if (p->s[0] == '\0' || p->s[p->pos] == '\0')
        return fail(p, p->pos, "empty expression%s", "");
    if (parse_expr(p, out) < 0)
        return -1;
    skip_space(p);
    if (p->s[p->pos] != '\0') {
        char b[32];
        return fail(p, p->pos, "unexpected %s", here(p, b, sizeof(b)));
    }
    return 0;
}

/* ---------------------------------------------------------------- API */

int sweep_expr_eval(const sweep_config_t *cfg, const char *expr,
                    const double *x, bool size_units, double *out,
                    banyan_error_t *error)
{
    if (!cfg || !expr || !x || !out) {
        errno = EINVAL;
        return errprintf(error, "column 1: no expression");
    }
    parser_t p = {.cfg = cfg, .s = expr, .x = x, .size_units = size_units,
                  .error = error};
    value_t v = {0, true};
    if (run(&p, &v) < 0)
        return -1;
    if (!isfinite(v.v))
        return fail(&p, 0, "the result is not a finite number%s", "");
    *out = v.v;
    return 0;
}

int sweep__expr_check(const sweep_config_t *cfg, const char *expr,
                      bool size_units, banyan_error_t *error)
{
    if (!cfg || !expr) {
        errno = EINVAL;
        return errprintf(error, "column 1: no expression");
    }
    parser_t p = {.cfg = cfg, .s = expr, .x = NULL, .size_units = size_units,
                  .error = error};
    value_t v = {0, true};
    return run(&p, &v);
}
