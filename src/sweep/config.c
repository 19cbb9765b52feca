/* SPDX-License-Identifier: MIT */
/* config.c - read and validate a sweep configuration (YAML or JSON).
 *
 * Both forms go through libyaml's event API into a small tree of our own
 * (scalars, sequences, maps) where every node keeps its 1-based line and
 * column, so that every semantic error can say "PATH:LINE:COLUMN: what".
 * JSON is YAML flow syntax, so a .json file is first checked by jansson
 * (whose syntax errors are precise and phrased for JSON) and then read by
 * libyaml like any YAML file.  Aliases are refused: they would let one node
 * appear in two places, and its position would then be ambiguous.
 *
 * Validation walks the tree in a fixed order (parameters first, since the
 * resource expressions and the configurations of strategy 'list' refer to
 * them) and fills a sweep_config_t.  Every map is checked for unknown keys
 * (with a suggestion within edit distance 2) and duplicate keys.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <yaml.h>

#include "sweep_private.h"
#include "util/hmap.h"
#include "util/util.h"

enum {
    MAX_DEPTH = 64,               /* nesting of the YAML tree */
    DEFAULT_MAX_PARALLEL = 4,     /* max_parallel_experiments */
    DEFAULT_RANDOM_ITERATIONS = 100,
    DEFAULT_TPE_STARTUP = 10,
    DEFAULT_GRID_NUM = 5,
    MAX_GRID_NUM = 1000000,
};

/* ---------------------------------------------------------------- tree */

typedef enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_MAP } node_kind_t;

typedef struct node {
    node_kind_t kind;
    int line, column;     /* 1-based start */
    char *text;           /* scalar: its value */
    bool plain;           /* scalar: written without quotes */
    size_t n;             /* seq: items; map: pairs */
    size_t cap;
    struct node **kids;   /* seq: n items; map: key, value, key, value... */
} node_t;

static void node_free(node_t *nd)
{
    if (!nd)
        return;
    size_t nkids = nd->kind == NODE_MAP ? 2 * nd->n : nd->n;
    for (size_t i = 0; i < nkids; i++)
        node_free(nd->kids[i]);
    free(nd->kids);
    free(nd->text);
    free(nd);
}

/* Append kid to nd->kids (for a map, keys and values alternate). */
static int kids_append(node_t *nd, size_t *count, node_t *kid)
{
    if (*count == nd->cap) {
        size_t cap = nd->cap ? 2 * nd->cap : 8;
        node_t **k = realloc(nd->kids, cap * sizeof(*k));
        if (!k)
            return -1;
        nd->kids = k;
        nd->cap = cap;
    }
    nd->kids[(*count)++] = kid;
    return 0;
}

static node_t *node_new(node_kind_t kind, const yaml_mark_t *mark)
{
    node_t *nd = calloc(1, sizeof(*nd));
    if (!nd)
        return NULL;
    nd->kind = kind;
    nd->line = (int)mark->line + 1;
    nd->column = (int)mark->column + 1;
    return nd;
}

static bool is_null(const node_t *nd)
{
    if (nd->kind != NODE_SCALAR || !nd->plain)
        return false;
    return nd->text[0] == '\0' || strcmp(nd->text, "~") == 0 ||
           strcmp(nd->text, "null") == 0 || strcmp(nd->text, "Null") == 0 ||
           strcmp(nd->text, "NULL") == 0;
}

static node_t *map_get(const node_t *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++) {
        const node_t *k = map->kids[2 * i];
        if (k->kind == NODE_SCALAR && strcmp(k->text, key) == 0)
            return map->kids[2 * i + 1];
    }
    return NULL;
}

/* ------------------------------------------------------------- loader */

typedef struct loader {
    const char *path;
    banyan_error_t *error;
    sweep_config_t *cfg;
} loader_t;

static int errat(loader_t *L, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int errat(loader_t *L, int line, int column, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errno = EINVAL;
    return errprintf(L->error, "%s:%d:%d: %s", L->path, line, column, msg);
}

#define ERR(L, nd, ...) errat((L), (nd)->line, (nd)->column, __VA_ARGS__)

static int nomem(loader_t *L)
{
    errno = ENOMEM;
    return errprintf(L->error, "%s: out of memory", L->path);
}

/* --------------------------------------------------- YAML -> tree */

static int yaml_fail(loader_t *L, yaml_parser_t *yp)
{
    if (yp->error == YAML_MEMORY_ERROR)
        return nomem(L);
    const yaml_mark_t *m = &yp->problem_mark;
    const char *problem = yp->problem ? yp->problem : "malformed YAML";
    if (yp->context)
        return errat(L, (int)m->line + 1, (int)m->column + 1, "%s %s",
                     problem, yp->context);
    return errat(L, (int)m->line + 1, (int)m->column + 1, "%s", problem);
}

/* Build the node that starts with event ev (owned by the caller). */
static int build_node(loader_t *L, yaml_parser_t *yp, const yaml_event_t *ev,
                      int depth, node_t **out)
{
    const yaml_mark_t *mark = &ev->start_mark;
    if (ev->type == YAML_ALIAS_EVENT)
        return errat(L, (int)mark->line + 1, (int)mark->column + 1,
                     "YAML aliases (*%s) are not supported; write the value "
                     "out", (const char *)ev->data.alias.anchor);
    if (depth > MAX_DEPTH)
        return errat(L, (int)mark->line + 1, (int)mark->column + 1,
                     "nested too deeply");
    if (ev->type == YAML_SCALAR_EVENT) {
        node_t *nd = node_new(NODE_SCALAR, mark);
        if (!nd)
            return nomem(L);
        nd->text = strndup((const char *)ev->data.scalar.value,
                           ev->data.scalar.length);
        if (!nd->text) {
            free(nd);
            return nomem(L);
        }
        if (strlen(nd->text) != ev->data.scalar.length) {
            node_free(nd);
            return errat(L, (int)mark->line + 1, (int)mark->column + 1,
                         "NUL character in a value");
        }
        nd->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        *out = nd;
        return 0;
    }
    bool is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT)
        return errat(L, (int)mark->line + 1, (int)mark->column + 1,
                     "unexpected YAML event");
    node_t *nd = node_new(is_map ? NODE_MAP : NODE_SEQ, mark);
    if (!nd)
        return nomem(L);
    size_t count = 0;
    for (;;) {
        yaml_event_t kid_ev;
        if (!yaml_parser_parse(yp, &kid_ev)) {
            if (is_map && count % 2) /* a key without its value */
                node_free(nd->kids[--count]);
            nd->n = is_map ? count / 2 : count;
            node_free(nd);
            return yaml_fail(L, yp);
        }
        if (kid_ev.type == YAML_MAPPING_END_EVENT ||
            kid_ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&kid_ev);
            break;
        }
        node_t *kid = NULL;
        int rc = build_node(L, yp, &kid_ev, depth + 1, &kid);
        yaml_event_delete(&kid_ev);
        if (rc == 0 && kids_append(nd, &count, kid) < 0) {
            node_free(kid);
            rc = nomem(L);
        }
        if (rc < 0) {
            if (is_map && count % 2) /* a key without its value */
                node_free(nd->kids[--count]);
            nd->n = is_map ? count / 2 : count;
            node_free(nd);
            return -1;
        }
    }
    nd->n = is_map ? count / 2 : count;
    *out = nd;
    return 0;
}

/* Parse the text into a tree: exactly one document. */
static int parse_yaml(loader_t *L, const char *data, size_t len,
                      node_t **root)
{
    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp))
        return nomem(L);
    yaml_parser_set_input_string(&yp, (const unsigned char *)data, len);
    node_t *tree = NULL;
    int rc = -1;
    bool in_doc = false;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            yaml_fail(L, &yp);
            goto out;
        }
        yaml_event_type_t type = ev.type;
        if (type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (type == YAML_DOCUMENT_START_EVENT) {
            if (tree) {
                errat(L, (int)ev.start_mark.line + 1,
                      (int)ev.start_mark.column + 1,
                      "only one YAML document is allowed");
                yaml_event_delete(&ev);
                goto out;
            }
            in_doc = true;
        } else if (in_doc && type != YAML_DOCUMENT_END_EVENT) {
            int brc = build_node(L, &yp, &ev, 0, &tree);
            if (brc < 0) {
                yaml_event_delete(&ev);
                goto out;
            }
        } else if (type == YAML_DOCUMENT_END_EVENT) {
            in_doc = false;
        }
        yaml_event_delete(&ev);
    }
    if (!tree) {
        errat(L, 1, 1, "empty configuration");
        goto out;
    }
    *root = tree;
    tree = NULL;
    rc = 0;
out:
    node_free(tree);
    yaml_parser_delete(&yp);
    return rc;
}

/* -------------------------------------------------- key checking */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of names (NULL-ended) within edit distance 2, NULL if none
 * or if two are equally close. */
static const char *suggest(const char *word, const char *const *names)
{
    const char *best = NULL;
    size_t best_d = 3;
    bool tie = false;
    for (size_t i = 0; names[i]; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d < best_d) {
            best = names[i];
            best_d = d;
            tie = false;
        } else if (d == best_d) {
            tie = true;
        }
    }
    return tie ? NULL : best;
}

static void hint(char *buf, size_t size, const char *word,
                 const char *const *names)
{
    const char *s = suggest(word, names);
    if (s)
        snprintf(buf, size, " (did you mean '%s'?)", s);
    else
        buf[0] = '\0';
}

/* Keys of map must be scalars, unique, and (when allowed is not NULL) among
 * allowed.  where names the map in messages ("optimization"). */
static int check_keys(loader_t *L, const node_t *map,
                      const char *const *allowed, const char *where,
                      const char *dup_what)
{
    for (size_t i = 0; i < map->n; i++) {
        const node_t *k = map->kids[2 * i];
        if (k->kind != NODE_SCALAR)
            return ERR(L, k, "keys of %s must be names, not a %s", where,
                       k->kind == NODE_MAP ? "map" : "list");
        if (allowed) {
            bool known = false;
            for (size_t a = 0; allowed[a] && !known; a++)
                known = strcmp(allowed[a], k->text) == 0;
            if (!known) {
                char h[96];
                hint(h, sizeof(h), k->text, allowed);
                return ERR(L, k, "unknown key '%s' in %s%s", k->text, where,
                           h);
            }
        }
        for (size_t j = 0; j < i; j++) {
            const node_t *prev = map->kids[2 * j];
            if (strcmp(prev->text, k->text) == 0)
                return ERR(L, k, "duplicate %s '%s' (first at line %d, "
                           "column %d)", dup_what, k->text, prev->line,
                           prev->column);
        }
    }
    return 0;
}

/* ------------------------------------------------- scalar readers */

static int want_map(loader_t *L, const node_t *nd, const char *what)
{
    if (nd->kind != NODE_MAP)
        return ERR(L, nd, "'%s' must be a map of keys and values", what);
    return 0;
}

/* A non-empty string (any non-null scalar). */
static int get_string(loader_t *L, const node_t *nd, const char *what,
                      char **out)
{
    if (nd->kind != NODE_SCALAR || is_null(nd) || nd->text[0] == '\0')
        return ERR(L, nd, "'%s' must be a non-empty string", what);
    char *s = strdup(nd->text);
    if (!s)
        return nomem(L);
    free(*out);
    *out = s;
    return 0;
}

/* A decimal integer in [min, max]. */
static int get_uint(loader_t *L, const node_t *nd, const char *what,
                    uint64_t min, uint64_t max, uint64_t *out)
{
    const char *kind = min > 0 ? "a positive integer" : "a non-negative "
                                                        "integer";
    if (nd->kind != NODE_SCALAR || !isdigit((unsigned char)nd->text[0]))
        return ERR(L, nd, "'%s' must be %s", what, kind);
    uint64_t v = 0;
    for (const char *p = nd->text; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return ERR(L, nd, "'%s' must be %s", what, kind);
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return ERR(L, nd, "'%s' is too large (at most %llu)", what,
                       (unsigned long long)max);
        v = v * 10 + d;
    }
    if (v < min)
        return ERR(L, nd, "'%s' must be %s", what, kind);
    if (v > max)
        return ERR(L, nd, "'%s' is too large (at most %llu)", what,
                   (unsigned long long)max);
    *out = v;
    return 0;
}

static int get_bool(loader_t *L, const node_t *nd, const char *what,
                    bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    if (nd->kind == NODE_SCALAR && nd->plain) {
        for (size_t i = 0; yes[i]; i++)
            if (strcasecmp(nd->text, yes[i]) == 0) {
                *out = true;
                return 0;
            }
        for (size_t i = 0; no[i]; i++)
            if (strcasecmp(nd->text, no[i]) == 0) {
                *out = false;
                return 0;
            }
    }
    return ERR(L, nd, "'%s' must be true or false", what);
}

static int get_number(loader_t *L, const node_t *nd, const char *param,
                      const char *what, double *out)
{
    if (nd->kind != NODE_SCALAR || !sweep__parse_number(nd->text, out))
        return ERR(L, nd, "parameter '%s': '%s' must be a number", param,
                   what);
    return 0;
}

static bool valid_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

/* ---------------------------------------------------------- parameters */

static int value_init(sweep_value_t *v, const char *text)
{
    v->text = strdup(text);
    if (!v->text)
        return -1;
    v->is_num = sweep__parse_number(text, &v->num);
    if (!v->is_num)
        v->num = 0;
    return 0;
}

static uint64_t text_hash(const void *key)
{
    return util_hash_str(*(const char *const *)key);
}

static bool text_equal(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b) == 0;
}

/* The index of the first of the n values that repeats an earlier one (the
 * same text, or the same number: "1" and "1.0"), the earlier's in *first;
 * n if none, SIZE_MAX with ENOMEM.  Hashed: 100,000 values take
 * milliseconds, not the 25 s that comparing each with all before took. */
static size_t first_repeat(const sweep_value_t *v, size_t n, size_t *first)
{
    util_hmap_t *texts = util_hmap_create(sizeof(char *), sizeof(size_t),
                                          text_hash, text_equal);
    util_hmap_t *nums = util_hmap_create(sizeof(double), sizeof(size_t),
                                         NULL, NULL);
    size_t i = texts && nums ? 0 : SIZE_MAX;
    for (; i < n; i++) {
        double num = v[i].num == 0 ? 0 : v[i].num; /* -0 is 0 */
        bool fresh = true, fresh_num = true;
        size_t *at = util_hmap_insert(texts, &v[i].text, &fresh);
        size_t *at_num = v[i].is_num && !isnan(num) && at && fresh
                             ? util_hmap_insert(nums, &num, &fresh_num)
                             : at;
        if (!at || !at_num) {
            i = SIZE_MAX;
            break;
        }
        if (!fresh || !fresh_num) {
            *first = fresh ? *at_num : *at;
            break;
        }
        *at = *at_num = i;
    }
    util_hmap_destroy(texts);
    util_hmap_destroy(nums);
    return i;
}

static int load_categorical(loader_t *L, const node_t *seq,
                            sweep_param_t *p)
{
    if (seq->n == 0)
        return ERR(L, seq, "parameter '%s' has an empty list of values",
                   p->name);
    p->kind = SWEEP_CATEGORICAL;
    p->values = calloc(seq->n, sizeof(*p->values));
    if (!p->values)
        return nomem(L);
    for (size_t i = 0; i < seq->n; i++) {
        const node_t *item = seq->kids[i];
        if (item->kind != NODE_SCALAR)
            return ERR(L, item, "values of parameter '%s' must be numbers "
                       "or strings, not a %s", p->name,
                       item->kind == NODE_MAP ? "map" : "list");
        if (item->text[0] == '\0')
            return ERR(L, item, "parameter '%s' has an empty value",
                       p->name);
        if (value_init(&p->values[i], item->text) < 0)
            return nomem(L);
        p->nvalues = i + 1;
    }
    size_t first = 0;
    size_t i = first_repeat(p->values, p->nvalues, &first);
    if (i == SIZE_MAX)
        return nomem(L);
    if (i < p->nvalues)
        return ERR(L, seq->kids[i], "parameter '%s' lists the value '%s' "
                   "twice", p->name, p->values[first].text);
    return 0;
}

static bool is_integral(double v)
{
    return v == floor(v) && fabs(v) <= 0x1p53;
}

static int load_range(loader_t *L, const node_t *map, sweep_param_t *p)
{
    const node_t *min = map_get(map, "min"), *max = map_get(map, "max");
    const node_t *type = map_get(map, "type"), *log = map_get(map, "log");
    const node_t *num = map_get(map, "num");
    if (!min || !max)
        return ERR(L, map, "parameter '%s' needs 'min' and 'max' (or "
                   "'values')", p->name);
    p->kind = SWEEP_FLOAT;
    if (type) {
        if (type->kind == NODE_SCALAR && strcmp(type->text, "int") == 0)
            p->kind = SWEEP_INT;
        else if (!(type->kind == NODE_SCALAR &&
                   strcmp(type->text, "float") == 0))
            return ERR(L, type, "parameter '%s': 'type' must be int or "
                       "float", p->name);
    }
    if (get_number(L, min, p->name, "min", &p->min) < 0 ||
        get_number(L, max, p->name, "max", &p->max) < 0)
        return -1;
    if (p->kind == SWEEP_INT) {
        if (!is_integral(p->min))
            return ERR(L, min, "parameter '%s' is an int, but 'min' is %s",
                       p->name, min->text);
        if (!is_integral(p->max))
            return ERR(L, max, "parameter '%s' is an int, but 'max' is %s",
                       p->name, max->text);
    }
    if (p->min > p->max)
        return ERR(L, min, "parameter '%s': min (%s) is greater than max "
                   "(%s)", p->name, min->text, max->text);
    if (log && get_bool(L, log, "log", &p->log) < 0)
        return -1;
    if (p->log && p->min <= 0)
        return ERR(L, min, "parameter '%s': a log scale needs min > 0, "
                   "not %s", p->name, min->text);
    p->grid_num = DEFAULT_GRID_NUM;
    if (num) {
        uint64_t n;
        if (get_uint(L, num, "num", 1, MAX_GRID_NUM, &n) < 0)
            return -1;
        p->grid_num = (unsigned)n;
    }
    return 0;
}

static int load_param(loader_t *L, const node_t *key, const node_t *val,
                      sweep_param_t *p)
{
    static const char *const keys[] = {"values", "min", "max", "log",
                                       "type", "num", NULL};
    if (!valid_name(key->text))
        return ERR(L, key, "invalid parameter name '%s' (use letters, "
                   "digits and '_', not starting with a digit)", key->text);
    p->name = strdup(key->text);
    if (!p->name)
        return nomem(L);
    p->line = key->line;
    p->column = key->column;
    if (val->kind == NODE_SEQ)
        return load_categorical(L, val, p);
    if (val->kind != NODE_MAP)
        return ERR(L, val, "parameter '%s' must be a list of values, "
                   "{values: [...]} or {min: ..., max: ...}%s", p->name,
                   is_null(val) ? "" : " (write [x] for a single value)");
    char where[160];
    snprintf(where, sizeof(where), "parameter '%s'", p->name);
    if (check_keys(L, val, keys, where, "key") < 0)
        return -1;
    const node_t *values = map_get(val, "values");
    if (values) {
        for (size_t i = 0; i < val->n; i++) {
            const node_t *k = val->kids[2 * i];
            if (strcmp(k->text, "values") != 0)
                return ERR(L, k, "parameter '%s': '%s' cannot be combined "
                           "with 'values'", p->name, k->text);
        }
        if (values->kind != NODE_SEQ)
            return ERR(L, values, "parameter '%s': 'values' must be a list",
                       p->name);
        return load_categorical(L, values, p);
    }
    return load_range(L, val, p);
}

static int load_parameters(loader_t *L, const node_t *map)
{
    sweep_config_t *cfg = L->cfg;
    if (map->kind != NODE_MAP)
        return ERR(L, map, "'parameters' must be a map of parameter names "
                   "to values or ranges");
    if (map->n == 0)
        return ERR(L, map, "'parameters' is empty: a sweep needs at least "
                   "one parameter");
    if (check_keys(L, map, NULL, "parameters", "parameter") < 0)
        return -1;
    cfg->params = calloc(map->n, sizeof(*cfg->params));
    if (!cfg->params)
        return nomem(L);
    for (size_t i = 0; i < map->n; i++) {
        cfg->nparams = i + 1; /* so that free() sees what was filled */
        if (load_param(L, map->kids[2 * i], map->kids[2 * i + 1],
                       &cfg->params[i]) < 0)
            return -1;
    }
    return 0;
}

/* -------------------------------------------------------- resources */

static int load_resources(loader_t *L, const node_t *map)
{
    static const char *const keys[] = {"gpus", "cpus", "mem", NULL};
    if (want_map(L, map, "resources") < 0 ||
        check_keys(L, map, keys, "resources", "key") < 0)
        return -1;
    for (size_t i = 0; i < map->n; i++) {
        const node_t *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
        char what[32];
        snprintf(what, sizeof(what), "resources.%s", k->text);
        char **slot = strcmp(k->text, "gpus") == 0   ? &L->cfg->gpus_expr
                      : strcmp(k->text, "cpus") == 0 ? &L->cfg->cpus_expr
                                                     : &L->cfg->mem_expr;
        if (v->kind != NODE_SCALAR || is_null(v) || v->text[0] == '\0')
            return ERR(L, v, "'%s' must be a number or an expression such "
                       "as \"{tp} * 2\"", what);
        banyan_error_t why;
        if (sweep__expr_check(L->cfg, v->text, slot == &L->cfg->mem_expr,
                              &why) < 0)
            return ERR(L, v, "%s: %s (in \"%s\")", what, why.text, v->text);
        if (get_string(L, v, what, slot) < 0)
            return -1;
    }
    return 0;
}

/* ----------------------------------------------------- optimization */

static const struct {
    const char *name;
    sweep_strategy_t strategy;
} strategies[] = {
    {"grid_search", SWEEP_GRID}, {"grid", SWEEP_GRID},
    {"random", SWEEP_RANDOM},    {"tpe", SWEEP_TPE},
    {"bayesian", SWEEP_TPE},     {"list", SWEEP_LIST},
};
#define NSTRATEGIES (sizeof(strategies) / sizeof(strategies[0]))

static int load_strategy(loader_t *L, const node_t *nd)
{
    if (nd->kind == NODE_SCALAR)
        for (size_t i = 0; i < NSTRATEGIES; i++)
            if (strcmp(nd->text, strategies[i].name) == 0) {
                L->cfg->strategy = strategies[i].strategy;
                return 0;
            }
    const char *names[NSTRATEGIES + 1];
    for (size_t i = 0; i < NSTRATEGIES; i++)
        names[i] = strategies[i].name;
    names[NSTRATEGIES] = NULL;
    char h[96] = "";
    if (nd->kind == NODE_SCALAR)
        hint(h, sizeof(h), nd->text, names);
    return ERR(L, nd, "unknown strategy '%s'%s: use grid_search, random, "
               "tpe (or bayesian) or list",
               nd->kind == NODE_SCALAR ? nd->text : "?", h);
}

static int load_objective(loader_t *L, const node_t *nd)
{
    sweep_config_t *cfg = L->cfg;
    if (nd->kind == NODE_SCALAR) {
        const char *t = nd->text;
        bool min = strncmp(t, "minimize_", 9) == 0;
        bool max = strncmp(t, "maximize_", 9) == 0;
        if ((!min && !max) || t[9] == '\0')
            return ERR(L, nd, "'objective' must be minimize_<metric>, "
                       "maximize_<metric> or {metric: ..., goal: "
                       "minimize|maximize}, not '%s'", t);
        cfg->maximize = max;
        cfg->metric = strdup(t + 9);
        return cfg->metric ? 0 : nomem(L);
    }
    static const char *const keys[] = {"metric", "goal", NULL};
    if (nd->kind != NODE_MAP)
        return ERR(L, nd, "'objective' must be minimize_<metric>, "
                   "maximize_<metric> or {metric: ..., goal: ...}");
    if (check_keys(L, nd, keys, "objective", "key") < 0)
        return -1;
    const node_t *metric = map_get(nd, "metric"), *goal = map_get(nd, "goal");
    if (!metric)
        return ERR(L, nd, "'objective' needs a 'metric'");
    if (!goal)
        return ERR(L, nd, "'objective' needs a 'goal' (minimize or "
                   "maximize)");
    if (get_string(L, metric, "metric", &cfg->metric) < 0)
        return -1;
    if (goal->kind == NODE_SCALAR && strcmp(goal->text, "minimize") == 0)
        cfg->maximize = false;
    else if (goal->kind == NODE_SCALAR && strcmp(goal->text, "maximize") == 0)
        cfg->maximize = true;
    else
        return ERR(L, goal, "'goal' must be minimize or maximize");
    return 0;
}

static int load_timeout(loader_t *L, const node_t *nd)
{
    int64_t ms;
    if (nd->kind != NODE_SCALAR ||
        util_parse_duration_ms(nd->text, &ms) < 0 || ms < 0)
        return ERR(L, nd, "'timeout_per_iteration' must be a duration: "
                   "seconds (600) or a number with a unit (\"10m\", "
                   "\"1.5h\")");
    L->cfg->timeout_ms = ms;
    return 0;
}

static int load_optimization(loader_t *L, const node_t *map,
                             bool *has_iterations)
{
    static const char *const keys[] = {
        "strategy", "objective", "max_iterations",
        "max_parallel_experiments", "timeout_per_iteration", "seed",
        "tpe_startup", NULL};
    sweep_config_t *cfg = L->cfg;
    if (want_map(L, map, "optimization") < 0 ||
        check_keys(L, map, keys, "optimization", "key") < 0)
        return -1;
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->kids[2 * i]->text;
        const node_t *v = map->kids[2 * i + 1];
        uint64_t u;
        int rc = 0;
        if (strcmp(k, "strategy") == 0) {
            rc = load_strategy(L, v);
        } else if (strcmp(k, "objective") == 0) {
            rc = load_objective(L, v);
        } else if (strcmp(k, "max_iterations") == 0) {
            rc = get_uint(L, v, k, 1, UINT64_C(1) << 40, &u);
            cfg->max_iterations = u;
            *has_iterations = true;
        } else if (strcmp(k, "max_parallel_experiments") == 0) {
            rc = get_uint(L, v, k, 1, 100000, &u);
            cfg->max_parallel = (uint32_t)u;
        } else if (strcmp(k, "timeout_per_iteration") == 0) {
            rc = load_timeout(L, v);
        } else if (strcmp(k, "seed") == 0) {
            rc = get_uint(L, v, k, 0, UINT64_MAX, &u);
            cfg->seed = u;
        } else if (strcmp(k, "tpe_startup") == 0) {
            rc = get_uint(L, v, k, 0, 1000000, &u);
            cfg->tpe_startup = (unsigned)u;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------- configurations */

/* Set x[i] from the value node v of a 'list' configuration number n. */
static int config_value(loader_t *L, size_t n, const node_t *v, size_t i,
                        double *x)
{
    const sweep_param_t *p = &L->cfg->params[i];
    if (v->kind != NODE_SCALAR)
        return ERR(L, v, "configuration %zu: the value of '%s' must be a "
                   "number or a string", n, p->name);
    double d;
    bool is_num = sweep__parse_number(v->text, &d);
    if (p->kind == SWEEP_CATEGORICAL) {
        for (size_t k = 0; k < p->nvalues; k++)
            if (strcmp(p->values[k].text, v->text) == 0) {
                x[i] = (double)k;
                return 0;
            }
        for (size_t k = 0; is_num && k < p->nvalues; k++)
            if (p->values[k].is_num && p->values[k].num == d) {
                x[i] = (double)k;
                return 0;
            }
        return ERR(L, v, "configuration %zu: '%s' is not one of the values "
                   "of parameter '%s'", n, v->text, p->name);
    }
    if (!is_num)
        return ERR(L, v, "configuration %zu: parameter '%s' needs a number, "
                   "not '%s'", n, p->name, v->text);
    if (p->kind == SWEEP_INT && !is_integral(d))
        return ERR(L, v, "configuration %zu: parameter '%s' is an int, not "
                   "%s", n, p->name, v->text);
    x[i] = d;
    return 0;
}

static int load_configurations(loader_t *L, const node_t *seq)
{
    sweep_config_t *cfg = L->cfg;
    if (seq->kind != NODE_SEQ)
        return ERR(L, seq, "'configurations' must be a list of maps from "
                   "parameter names to values");
    if (seq->n == 0)
        return ERR(L, seq, "'configurations' is empty");
    const char **names = calloc(cfg->nparams + 1, sizeof(*names));
    cfg->configs = calloc(seq->n * cfg->nparams, sizeof(*cfg->configs));
    if (!names || !cfg->configs) {
        free(names);
        return nomem(L);
    }
    for (size_t i = 0; i < cfg->nparams; i++)
        names[i] = cfg->params[i].name;
    int rc = -1;
    for (size_t c = 0; c < seq->n; c++) {
        const node_t *map = seq->kids[c];
        double *x = cfg->configs + c * cfg->nparams;
        if (map->kind != NODE_MAP) {
            ERR(L, map, "configuration %zu must be a map from parameter "
                "names to values", c + 1);
            goto out;
        }
        if (check_keys(L, map, NULL, "a configuration", "parameter") < 0)
            goto out;
        for (size_t k = 0; k < map->n; k++) {
            const node_t *key = map->kids[2 * k];
            int idx = sweep_param_index(cfg, key->text);
            if (idx < 0) {
                char h[96];
                hint(h, sizeof(h), key->text, names);
                ERR(L, key, "configuration %zu: unknown parameter '%s'%s",
                    c + 1, key->text, h);
                goto out;
            }
            if (config_value(L, c + 1, map->kids[2 * k + 1], (size_t)idx,
                             x) < 0)
                goto out;
        }
        for (size_t i = 0; i < cfg->nparams; i++)
            if (!map_get(map, cfg->params[i].name)) {
                ERR(L, map, "configuration %zu does not set parameter '%s'",
                    c + 1, cfg->params[i].name);
                goto out;
            }
    }
    cfg->nconfigs = seq->n;
    rc = 0;
out:
    free(names);
    return rc;
}

/* ------------------------------------------------------------ top level */

static int validate(loader_t *L, const node_t *root)
{
    static const char *const keys[] = {"name", "command", "parameters",
                                       "resources", "optimization",
                                       "configurations", NULL};
    sweep_config_t *cfg = L->cfg;
    if (root->kind != NODE_MAP)
        return ERR(L, root, "a sweep configuration must be a map with "
                   "name, command, parameters, resources and optimization");
    if (check_keys(L, root, keys, "the configuration", "key") < 0)
        return -1;
    const char *required[] = {"name", "command", "parameters"};
    for (size_t i = 0; i < 3; i++)
        if (!map_get(root, required[i]))
            return ERR(L, root, "missing '%s'", required[i]);
    if (get_string(L, map_get(root, "name"), "name", &cfg->name) < 0 ||
        get_string(L, map_get(root, "command"), "command",
                   &cfg->command) < 0 ||
        load_parameters(L, map_get(root, "parameters")) < 0)
        return -1;
    /* It names the sweep's folder in .banyan/sweeps: one plain component. */
    const char *n = cfg->name;
    bool plain = n[0] != '.';
    for (; *n && plain; n++)
        plain = *n != '/' && *n != '\\' && (unsigned char)*n >= 0x20
                && *n != 0x7f;
    if (!plain)
        return ERR(L, map_get(root, "name"), "'name' must be a plain file "
                   "name: no '/' or '\\', no control character, not "
                   "starting with '.'");

    cfg->strategy = SWEEP_GRID;
    cfg->max_parallel = DEFAULT_MAX_PARALLEL;
    cfg->tpe_startup = DEFAULT_TPE_STARTUP;
    bool has_iterations = false;
    const node_t *opt = map_get(root, "optimization");
    if (opt && load_optimization(L, opt, &has_iterations) < 0)
        return -1;
    const node_t *res = map_get(root, "resources");
    if (res && load_resources(L, res) < 0)
        return -1;

    const node_t *confs = map_get(root, "configurations");
    if (cfg->strategy == SWEEP_LIST) {
        if (!confs) {
            const node_t *at = map_get(opt, "strategy");
            return ERR(L, at, "strategy 'list' needs a 'configurations' "
                       "list at the top level");
        }
        if (load_configurations(L, confs) < 0)
            return -1;
    } else if (confs) {
        const node_t *key = NULL;
        for (size_t i = 0; i < root->n; i++)
            if (root->kids[2 * i + 1] == confs)
                key = root->kids[2 * i];
        return ERR(L, key, "'configurations' is only used with strategy "
                   "'list'");
    }
    if (!cfg->metric)
        return ERR(L, opt ? opt : root, "missing 'objective' in "
                   "optimization (minimize_<metric>, maximize_<metric> or "
                   "{metric: ..., goal: ...})");
    if (!has_iterations) {
        /* A grid or list runs whole; the size saturates, never wraps. */
        if (cfg->strategy == SWEEP_LIST || cfg->strategy == SWEEP_GRID)
            cfg->max_iterations = sweep_space_size(cfg);
        else
            cfg->max_iterations = DEFAULT_RANDOM_ITERATIONS;
    }
    return 0;
}

static bool has_json_suffix(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcasecmp(path + n - 5, ".json") == 0;
}

sweep_config_t *sweep_config_load(const char *path, banyan_error_t *error)
{
    loader_t L = {.path = path, .error = error};
    if (!path) {
        errno = EINVAL;
        errprintf(error, "no configuration file given");
        return NULL;
    }
    char *data = NULL;
    size_t len = 0;
    if (util_read_file(path, &data, &len) < 0) {
        int e = errno;
        errprintf(error, "%s: %s", path, strerror(e));
        errno = e;
        return NULL;
    }
    node_t *root = NULL;
    if (has_json_suffix(path)) {
        json_error_t jerr;
        json_t *j = json_loadb(data, len, 0, &jerr);
        if (!j) {
            errat(&L, jerr.line, jerr.column, "%s", jerr.text);
            free(data);
            return NULL;
        }
        json_decref(j);
    }
    if (memchr(data, '\0', len)) {
        errat(&L, 1, 1, "the file contains a NUL byte");
        free(data);
        return NULL;
    }
    int rc = parse_yaml(&L, data, len, &root);
    free(data);
    if (rc < 0)
        return NULL;
    L.cfg = calloc(1, sizeof(*L.cfg));
    if (!L.cfg || !(L.cfg->path = strdup(path))) {
        nomem(&L);
        goto error;
    }
    if (validate(&L, root) < 0)
        goto error;
    node_free(root);
    return L.cfg;
error:;
    int e = errno;
    node_free(root);
    sweep_config_free(L.cfg);
    errno = e;
    return NULL;
}

void sweep_config_free(sweep_config_t *cfg)
{
    if (!cfg)
        return;
    int e = errno;
    for (size_t i = 0; i < cfg->nparams; i++) {
        sweep_param_t *p = &cfg->params[i];
        for (size_t k = 0; k < p->nvalues; k++)
            free(p->values[k].text);
        free(p->values);
        free(p->name);
    }
    free(cfg->params);
    free(cfg->configs);
    free(cfg->path);
    free(cfg->name);
    free(cfg->command);
    free(cfg->gpus_expr);
    free(cfg->cpus_expr);
    free(cfg->mem_expr);
    free(cfg->metric);
    free(cfg);
    errno = e;
}

/* -------------------------------------------------------- space text */

static int put_quoted(util_buf_t *b, const char *s)
{
    if (util_buf_putc(b, '"') < 0)
        return -1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int rc;
        if (c == '"' || c == '\\')
            rc = util_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            rc = util_buf_printf(b, "\\x%02x", c);
        else
            rc = util_buf_putc(b, (char)c);
        if (rc < 0)
            return -1;
    }
    return util_buf_putc(b, '"');
}

char *sweep_config_space_text(const sweep_config_t *cfg)
{
    static const char *const strategy_names[] = {
        [SWEEP_GRID] = "grid", [SWEEP_RANDOM] = "random",
        [SWEEP_TPE] = "tpe",   [SWEEP_LIST] = "list"};
    if (!cfg) {
        errno = EINVAL;
        return NULL;
    }
    util_buf_t b = UTIL_BUF_INIT;
    const char *sname = cfg->strategy >= SWEEP_GRID &&
                                cfg->strategy <= SWEEP_LIST
                            ? strategy_names[cfg->strategy]
                            : "?";
    int rc = util_buf_printf(&b, "strategy %s\n", sname);
    for (size_t i = 0; rc == 0 && i < cfg->nparams; i++) {
        const sweep_param_t *p = &cfg->params[i];
        rc = util_buf_printf(&b, "param %s ", p->name);
        if (rc < 0)
            break;
        if (p->kind == SWEEP_CATEGORICAL) {
            rc = util_buf_puts(&b, "categorical");
            for (size_t k = 0; rc == 0 && k < p->nvalues; k++)
                rc = util_buf_putc(&b, ' ') < 0
                         ? -1
                         : put_quoted(&b, p->values[k].text);
        } else {
            rc = util_buf_printf(&b, "%s min=%.17g max=%.17g%s",
                                 p->kind == SWEEP_INT ? "int" : "float",
                                 p->min, p->max, p->log ? " log" : "");
            /* The number of grid points shapes the grid only. */
            if (rc == 0 && cfg->strategy == SWEEP_GRID)
                rc = util_buf_printf(&b, " num=%u", p->grid_num);
        }
        if (rc == 0)
            rc = util_buf_putc(&b, '\n');
    }
    if (rc == 0 && cfg->strategy == SWEEP_LIST) {
        for (size_t c = 0; rc == 0 && c < cfg->nconfigs; c++) {
            rc = util_buf_puts(&b, "config");
            for (size_t i = 0; rc == 0 && i < cfg->nparams; i++)
                rc = util_buf_printf(&b, " %.17g",
                                     cfg->configs[c * cfg->nparams + i]);
            if (rc == 0)
                rc = util_buf_putc(&b, '\n');
        }
    }
    if (rc < 0) {
        util_buf_fini(&b);
        errno = ENOMEM;
        return NULL;
    }
    return util_buf_steal(&b);
}
