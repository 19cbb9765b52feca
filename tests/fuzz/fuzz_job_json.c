/* SPDX-License-Identifier: MIT */
/* fuzz_job_json.c - fuzz target: a job's stored JSON record
 * (msg_job_from_json), as a server reloads runs.spec_json.
 *
 * A record that reads must write back (msg_job_to_json) to a record that
 * reads to the same JSON; its tasks are then counted (msg_job_tasks, which
 * parses the template against the inputs) and the first and last tasks
 * expanded, as a worker does.  A refusal must say why.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "msg/msg.h"

/* Expand task i of the job, as a worker does. */
static void expand(const tmpl_t *t, const tmpl_inputs_t *in,
                   const msg_job_t *d, uint64_t i)
{
    const char **vals = NULL;
    size_t n = 0;
    char num[24];
    const char *one[1] = {num};
    if (in != NULL) {
        n = tmpl_inputs_arity(in);
        vals = calloc(n ? n : 1, sizeof *vals);
        if (vals == NULL || tmpl_inputs_get(in, i, vals) < 0) {
            free(vals);
            return;
        }
    } else if (d->array_count > 0) {
        snprintf(num, sizeof num, "%llu",
                 (unsigned long long)(d->array_first + i));
        vals = one;
        n = 1;
    }
    tmpl_ctx_t ctx = {.vals = vals, .nvals = n, .seq = i + 1, .slot = 1};
    char **argv = NULL, *line = NULL;
    if (tmpl_expand(t, &ctx, &argv, &line) == 0
        && (argv == NULL || argv[0] == NULL || line == NULL))
        __builtin_trap(); /* an expanded task has a program */
    free(argv);
    free(line);
    if (vals != one)
        free(vals);
}

static void use_job(const msg_job_t *d)
{
    uint64_t ntasks = 0;
    tmpl_t *t = NULL;
    tmpl_inputs_t *in = NULL;
    banyan_error_t err = {{0}};
    if (msg_job_tasks(d, &ntasks, &t, &in, &err) < 0) {
        fuzz_check_refusal(&err);
        return;
    }
    if (ntasks > 0) {
        expand(t, in, d, 0);
        expand(t, in, d, ntasks - 1);
    }
    tmpl_destroy(t);
    tmpl_inputs_destroy(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *spec = json_loadb((const char *)data, size, 0, NULL);
    if (spec == NULL)
        return 0;
    msg_job_t d = {.id = 7};
    banyan_error_t err = {{0}};
    if (msg_job_from_json(&d, spec, &err) < 0) {
        fuzz_check_refusal(&err);
        json_decref(spec);
        return 0;
    }
    json_t *again = msg_job_to_json(&d);
    if (again == NULL)
        __builtin_trap();
    msg_job_t d2 = {.id = 7};
    if (msg_job_from_json(&d2, again, &err) < 0)
        __builtin_trap(); /* what was written must read back */
    json_t *third = msg_job_to_json(&d2);
    char *a = json_dumps(again, JSON_SORT_KEYS | JSON_COMPACT);
    char *b = third ? json_dumps(third, JSON_SORT_KEYS | JSON_COMPACT)
                    : NULL;
    if (a == NULL || b == NULL || strcmp(a, b) != 0)
        __builtin_trap(); /* the record is a fixed point */
    free(a);
    free(b);
    json_decref(third);
    use_job(&d2);
    msg_job_fini(&d2);
    json_decref(again);
    msg_job_fini(&d);
    json_decref(spec);
    return 0;
}
