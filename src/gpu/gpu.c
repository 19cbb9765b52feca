/* SPDX-License-Identifier: MIT */
/* gpu.c - GPU discovery in order (BANYAN_GPUS, NVML, nvidia-smi, none) and
 * the environment that gives a task its GPUs.
 *
 * BANYAN_GPUS either replaces discovery ("none", "", "fake:...") or
 * restricts what the real sources found to a list of indices and UUIDs.
 * The override is parsed completely before any source is asked, so that a
 * malformed value is reported the same way on hosts with and without GPUs.
 * Results are always sorted by index and capped at GPU_MAX.
 */
#include "gpu_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    SMI_TIMEOUT_MS = 5000,
    FAKE_DEFAULT_GIB = 16,
};

const char *gpu_source_name(gpu_source_t src)
{
    switch (src) {
    case GPU_SOURCE_NONE:
        return "none";
    case GPU_SOURCE_FAKE:
        return "fake";
    case GPU_SOURCE_NVML:
        return "nvml";
    case GPU_SOURCE_SMI:
        return "nvidia-smi";
    }
    return "none";
}

static int by_index(const void *a, const void *b)
{
    const gpu_info_t *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

void gpu__sort(gpu_info_t *gpus, int n)
{
    if (n > 1)
        qsort(gpus, (size_t)n, sizeof(*gpus), by_index);
}

/* ---------------------------------------------------------------- fakes */

static void make_fake(gpu_info_t *g, int index, uint64_t bytes)
{
    memset(g, 0, sizeof(*g));
    g->index = index;
    snprintf(g->uuid, sizeof(g->uuid), "fake-%d", index);
    snprintf(g->name, sizeof(g->name), "fake");
    g->mem_total_bytes = bytes;
}

/* A positive memory size. */
static bool parse_mem(const char *s, uint64_t *bytes)
{
    return *s && util_parse_size(s, bytes) == 0 && *bytes > 0;
}

/* "fake:N", "fake:N:SIZE" or "fake:SIZE,SIZE,...": fills out[GPU_MAX]. */
static int parse_fake(const char *text, const char *spec, gpu_info_t *out,
                      banyan_error_t *error)
{
    size_t ndig = strspn(spec, "0123456789");
    if (ndig > 0 && (spec[ndig] == '\0' || spec[ndig] == ':')) {
        long n;
        char count[32];
        if (ndig >= sizeof(count))
            ndig = sizeof(count) - 1;
        memcpy(count, spec, ndig);
        count[ndig] = '\0';
        if (util_parse_long(count, 0, GPU_MAX, &n) < 0) {
            errno = EINVAL;
            return errprintf(error, "BANYAN_GPUS='%s': at most %d GPUs are "
                                    "supported",
                             text, GPU_MAX);
        }
        uint64_t bytes = (uint64_t)FAKE_DEFAULT_GIB << 30;
        const char *size = spec + ndig;
        if (*size == ':' && !parse_mem(++size, &bytes)) {
            errno = EINVAL;
            return errprintf(error, "BANYAN_GPUS='%s': bad memory size '%s' "
                                    "(expected e.g. 16G)",
                             text, size);
        }
        for (int i = 0; i < (int)n; i++)
            make_fake(&out[i], i, bytes);
        return (int)n;
    }
    /* a list of sizes */
    int n = 0;
    const char *p = spec;
    for (;;) {
        size_t len = strcspn(p, ",");
        char item[64];
        uint64_t bytes;
        bool good = len < sizeof(item);
        if (good) {
            memcpy(item, p, len);
            item[len] = '\0';
            good = parse_mem(item, &bytes);
        }
        if (!good) {
            errno = EINVAL;
            if (n == 0 && p[len] == '\0')
                return errprintf(error, "BANYAN_GPUS='%s': expected a GPU "
                                        "count or memory sizes after 'fake:'",
                                 text);
            return errprintf(error, "BANYAN_GPUS='%s': bad memory size "
                                    "'%.*s' (expected e.g. 16G)",
                             text, (int)len, p);
        }
        if (n == GPU_MAX) {
            errno = EINVAL;
            return errprintf(error, "BANYAN_GPUS='%s': at most %d GPUs are "
                                    "supported",
                             text, GPU_MAX);
        }
        make_fake(&out[n], n, bytes);
        n++;
        if (p[len] == '\0')
            return n;
        p += len + 1;
    }
}

/* ---------------------------------------------------------- restriction */

/* Keep only the GPUs named in list (indices or UUIDs, comma-separated). */
static int restrict_to(const char *text, gpu_info_t *gpus, int n,
                       banyan_error_t *error)
{
    bool keep[GPU_MAX] = {false};
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        while (len > 0 && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0) {
            errno = EINVAL;
            return errprintf(error, "BANYAN_GPUS='%s': empty entry in the "
                                    "list of GPUs",
                             text);
        }
        char item[128];
        if (len >= sizeof(item))
            len = sizeof(item) - 1;
        memcpy(item, p, len);
        item[len] = '\0';
        long index = -1;
        bool numeric = util_parse_long(item, 0, 1000000, &index) == 0;
        int found = -1;
        for (int i = 0; i < n && found < 0; i++) {
            if (numeric ? gpus[i].index == index
                        : strcmp(gpus[i].uuid, item) == 0)
                found = i;
        }
        if (found < 0) {
            errno = EINVAL;
            return errprintf(error, "BANYAN_GPUS='%s': no GPU has the %s "
                                    "'%s' (%d GPU%s found)",
                             text, numeric ? "index" : "UUID", item, n,
                             n == 1 ? "" : "s");
        }
        keep[found] = true;
        p += strcspn(p, ",");
        if (*p == '\0')
            break;
        p++;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (keep[i])
            gpus[k++] = gpus[i];
    return k;
}

/* ------------------------------------------------------------ discovery */

static int discover_real(gpu_info_t *all, gpu_source_t *src)
{
    int n = gpu__nvml_query(all, GPU_MAX);
    if (n >= 0) {
        *src = GPU_SOURCE_NVML;
        gpu__sort(all, n);
        return n;
    }
    n = gpu__smi_query(all, GPU_MAX, SMI_TIMEOUT_MS);
    if (n >= 0) {
        *src = GPU_SOURCE_SMI;
        return n;
    }
    *src = GPU_SOURCE_NONE;
    return 0;
}

static bool is_blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

int gpu_discover_with(const char *override, gpu_info_t *out, int max,
                      gpu_source_t *source, banyan_error_t *error)
{
    gpu_info_t all[GPU_MAX];
    gpu_source_t src = GPU_SOURCE_NONE;
    int n;
    if (override && (is_blank(override) || strcmp(override, "none") == 0)) {
        n = 0;
    } else if (override && strncmp(override, "fake:", 5) == 0) {
        n = parse_fake(override, override + 5, all, error);
        if (n < 0)
            return -1;
        src = GPU_SOURCE_FAKE;
    } else {
        n = discover_real(all, &src);
        if (override && (n = restrict_to(override, all, n, error)) < 0)
            return -1;
    }
    if (n > max)
        n = max > 0 ? max : 0;
    if (n > 0)
        memcpy(out, all, (size_t)n * sizeof(*out));
    if (source)
        *source = src;
    return n;
}

int gpu_discover(gpu_info_t *out, int max, gpu_source_t *source,
                 banyan_error_t *error)
{
    return gpu_discover_with(getenv("BANYAN_GPUS"), out, max, source, error);
}

int gpu_refresh(gpu_info_t *gpus, int n, gpu_source_t source)
{
    if (n <= 0 || source == GPU_SOURCE_NONE || source == GPU_SOURCE_FAKE)
        return 0;
    if (source == GPU_SOURCE_NVML)
        return gpu__nvml_refresh(gpus, n);
    gpu_info_t now[GPU_MAX];
    int m = gpu__smi_query(now, GPU_MAX, SMI_TIMEOUT_MS);
    if (m < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < m; k++) {
            if (now[k].index != gpus[i].index ||
                strcmp(now[k].uuid, gpus[i].uuid) != 0)
                continue;
            gpus[i].mem_total_bytes = now[k].mem_total_bytes;
            gpus[i].mem_used_bytes = now[k].mem_used_bytes;
            gpus[i].util_percent = now[k].util_percent;
        }
    }
    return 0;
}

/* ---------------------------------------------------------- environment */

char *gpu_list_format(const int *indices, int n, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    buf[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + len, size - len, "%s%d", i ? "," : "",
                         indices[i]);
        if (w < 0 || (size_t)w >= size - len) {
            buf[len] = '\0';  /* never end with half a number */
            break;
        }
        len += (size_t)w;
    }
    return buf;
}

int gpu_env_append(char **env, const int *indices, int n)
{
    static const char *const names[GPU_ENV_MAX] = {
        "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES", "BANYAN_GPUS_ASSIGNED",
    };
    /* GPU_MAX indices of up to 7 characters and commas */
    char list[GPU_MAX * 8 + 1];
    gpu_list_format(indices, n < 0 ? 0 : n, list, sizeof(list));
    for (int i = 0; i < GPU_ENV_MAX; i++) {
        const char *value = i == 1 ? "PCI_BUS_ID" : list;
        size_t len = strlen(names[i]) + 1 + strlen(value) + 1;
        env[i] = malloc(len);
        if (!env[i]) {
            while (i-- > 0) {
                free(env[i]);
                env[i] = NULL;
            }
            errno = ENOMEM;
            return -1;
        }
        snprintf(env[i], len, "%s=%s", names[i], value);
    }
    return GPU_ENV_MAX;
}
