/* SPDX-License-Identifier: MIT */
/* res_request.c - checking, parsing and describing resource requests.
 *
 * A request is plain data that the CLI, the config reader and the scheduler
 * fill in.  This file holds the rules about its shape that do not depend on
 * any pool: a GPU request is either a share of one GPU (< 1000 milli) or a
 * whole number of GPUs, custom names are identifiers, and no name appears
 * twice.  Every refusal comes with a sentence that names the bad value.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "res/res.h"
#include "res/res_private.h"
#include "util/util.h"

char *res__format_milli(uint64_t milli, char *buf, size_t size)
{
    uint64_t whole = milli / RES_MILLI;
    unsigned frac = (unsigned)(milli % RES_MILLI);
    if (frac == 0)
        snprintf(buf, size, "%" PRIu64, whole);
    else if (frac % 100 == 0)
        snprintf(buf, size, "%" PRIu64 ".%u", whole, frac / 100);
    else if (frac % 10 == 0)
        snprintf(buf, size, "%" PRIu64 ".%02u", whole, frac / 10);
    else
        snprintf(buf, size, "%" PRIu64 ".%03u", whole, frac);
    return buf;
}

bool res__name_valid(const char *name, size_t len)
{
    if (len == 0 || len >= RES_NAME_MAX)
        return false;
    if (!isalpha((unsigned char)name[0]) && name[0] != '_')
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

/* The GPU rule, shared by the parser and the shape check. */
static int check_gpus(uint32_t milli, const char *text, banyan_error_t *error)
{
    if (milli == 0)
        return errprintf(error, "gpus '%s' must be more than 0", text);
    if (milli > RES_MILLI && milli % RES_MILLI != 0)
        return errprintf(error,
                         "gpus '%s' is not allowed: a fraction of a GPU must "
                         "be below 1 (e.g. 0.5); more than one GPU must be a "
                         "whole number", text);
    if (milli > (uint32_t)RES_MAX_GPUS * RES_MILLI)
        return errprintf(error, "gpus '%s' is more than the %d GPUs an "
                         "engine can have", text, RES_MAX_GPUS);
    return 0;
}

int res_parse_gpus(const char *s, uint32_t *gpus_milli, banyan_error_t *error)
{
    uint32_t milli = 0;
    if (!s || util_parse_milli(s, &milli) < 0) {
        int saved = errno;
        if (s && saved == ERANGE)
            errprintf(error, "gpus '%s' is too large", s);
        else
            errprintf(error, "gpus '%s' is not a number of GPUs "
                      "(e.g. 1, 2 or 0.5, in steps of 0.001)", s ? s : "");
        errno = EINVAL;
        return -1;
    }
    if (check_gpus(milli, s, error) < 0) {
        errno = EINVAL;
        return -1;
    }
    *gpus_milli = milli;
    return 0;
}

int res_request_check(const res_request_t *req, banyan_error_t *error)
{
    if (req->gpus_milli != 0) {
        char text[32];
        res__format_milli(req->gpus_milli, text, sizeof(text));
        if (check_gpus(req->gpus_milli, text, error) < 0)
            goto inval;
    }
    if (req->ncustom < 0 || req->ncustom > RES_MAX_CUSTOM) {
        errprintf(error, "a request names %d custom resources, at most %d "
                  "are allowed", req->ncustom, RES_MAX_CUSTOM);
        goto inval;
    }
    for (int i = 0; i < req->ncustom; i++) {
        const char *name = req->custom[i].name;
        size_t len = strnlen(name, RES_NAME_MAX);
        if (!res__name_valid(name, len)) {
            errprintf(error, "custom resource name '%.*s' is not valid "
                      "(letters, digits, '_', '.', '-', at most %d bytes)",
                      (int)len, name, RES_NAME_MAX - 1);
            goto inval;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(req->custom[j].name, name) == 0) {
                errprintf(error, "custom resource '%s' is given twice", name);
                goto inval;
            }
        }
    }
    return 0;
inval:
    errno = EINVAL;
    return -1;
}

int res_request_add_custom(res_request_t *req, const char *spec,
                           banyan_error_t *error)
{
    const char *eq = spec ? strchr(spec, '=') : NULL;
    if (!eq) {
        errprintf(error, "custom resource '%s' must look like name=amount "
                  "(e.g. license=1)", spec ? spec : "");
        goto inval;
    }
    size_t len = (size_t)(eq - spec);
    if (!res__name_valid(spec, len)) {
        errprintf(error, "custom resource name '%.*s' is not valid "
                  "(letters, digits, '_', '.', '-', at most %d bytes)",
                  (int)len, spec, RES_NAME_MAX - 1);
        goto inval;
    }
    const char *num = eq + 1;
    if (!isdigit((unsigned char)*num)) {
        errprintf(error, "custom resource amount '%s' in '%s' is not a "
                  "whole number", num, spec);
        goto inval;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long amount = strtoull(num, &end, 10);
    if (errno != 0 || *end != '\0') {
        errprintf(error, "custom resource amount '%s' in '%s' is not a "
                  "whole number", num, spec);
        goto inval;
    }
    for (int i = 0; i < req->ncustom; i++) {
        if (strlen(req->custom[i].name) == len
            && memcmp(req->custom[i].name, spec, len) == 0) {
            errprintf(error, "custom resource '%.*s' is given twice",
                      (int)len, spec);
            goto inval;
        }
    }
    if (req->ncustom >= RES_MAX_CUSTOM || req->ncustom < 0) {
        errprintf(error, "too many custom resources: at most %d",
                  RES_MAX_CUSTOM);
        errno = ENOSPC;
        return -1;
    }
    res_custom_t *c = &req->custom[req->ncustom++];
    memset(c->name, 0, sizeof(c->name));
    memcpy(c->name, spec, len);
    c->amount = amount;
    return 0;
inval:
    errno = EINVAL;
    return -1;
}

/* Append ", " (unless first) and the printf text to buf at *off. */
static void appendf(char *buf, size_t size, size_t *off, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
static void appendf(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
    if (*off >= size)
        return;
    if (*off > 0) {
        int n = snprintf(buf + *off, size - *off, ", ");
        *off += n > 0 ? (size_t)n : 0;
        if (*off >= size)
            return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, size - *off, fmt, ap);
    va_end(ap);
    *off += n > 0 ? (size_t)n : 0;
}

char *res_request_format(const res_request_t *req, char *buf, size_t size)
{
    size_t off = 0;
    char num[32];
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (req->slots)
        appendf(buf, size, &off, "%" PRIu32 " slot%s", req->slots,
                req->slots == 1 ? "" : "s");
    if (req->cpus_milli)
        appendf(buf, size, &off, "%s cpu%s",
                res__format_milli(req->cpus_milli, num, sizeof(num)),
                req->cpus_milli == RES_MILLI ? "" : "s");
    if (req->mem_bytes)
        appendf(buf, size, &off, "%s mem",
                util_format_size(req->mem_bytes, num, sizeof(num)));
    if (req->gpus_milli)
        appendf(buf, size, &off, "%s gpu%s",
                res__format_milli(req->gpus_milli, num, sizeof(num)),
                req->gpus_milli == RES_MILLI ? "" : "s");
    if (req->gpu_mem_bytes)
        appendf(buf, size, &off, "%s gpu_mem",
                util_format_size(req->gpu_mem_bytes, num, sizeof(num)));
    for (int i = 0; i < req->ncustom && i < RES_MAX_CUSTOM; i++)
        appendf(buf, size, &off, "%.*s=%" PRIu64, RES_NAME_MAX,
                req->custom[i].name, req->custom[i].amount);
    if (off == 0)
        snprintf(buf, size, "nothing");
    return buf;
}
