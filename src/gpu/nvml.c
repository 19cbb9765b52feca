/* SPDX-License-Identifier: MIT */
/* nvml.c - GPU discovery through NVML, loaded with dlopen().
 *
 * banyan must run on hosts without an NVIDIA driver, so it never links
 * against libnvidia-ml: the library is opened at run time and the few
 * functions used are looked up by name.  The NVML types needed are declared
 * here with the layouts of NVML's public header (the structs are plain C
 * with fixed-size members: nvmlMemory_t is three unsigned long long,
 * nvmlUtilization_t two unsigned int, nvmlPciInfo_t a 16-byte legacy bus
 * id, five unsigned int and a 32-byte bus id).
 *
 * nvmlInit can take a long time on hosts without the persistence daemon,
 * so the initialised library is kept in one process-wide session, guarded
 * by a mutex, and reused by later discoveries and refreshes until
 * gpu_close().  A session is only kept once nvmlInit succeeded, so a host
 * whose driver comes up later is found by the next discovery.
 */
#include "gpu_private.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ NVML types */

typedef int nvml_return_t;                /* nvmlReturn_t, 0 = success */
typedef struct nvml_device *nvml_device_t; /* nvmlDevice_t, opaque */

typedef struct nvml_memory {              /* nvmlMemory_t (v1) */
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvml_memory_t;

typedef struct nvml_utilization {         /* nvmlUtilization_t */
    unsigned int gpu;                     /* percent of time busy */
    unsigned int memory;
} nvml_utilization_t;

typedef struct nvml_pci_info {            /* nvmlPciInfo_t (v2/v3) */
    char bus_id_legacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pci_device_id;
    unsigned int pci_subsystem_id;
    char bus_id[32];
} nvml_pci_info_t;

enum { NVML_OK = 0, NVML_STRING_MAX = 96 };

typedef struct nvml_api {
    nvml_return_t (*init)(void);
    nvml_return_t (*shutdown)(void);
    nvml_return_t (*count)(unsigned int *);
    nvml_return_t (*handle)(unsigned int, nvml_device_t *);
    nvml_return_t (*uuid)(nvml_device_t, char *, unsigned int);
    nvml_return_t (*name)(nvml_device_t, char *, unsigned int);
    nvml_return_t (*pci)(nvml_device_t, nvml_pci_info_t *);   /* optional */
    nvml_return_t (*memory)(nvml_device_t, nvml_memory_t *);
    nvml_return_t (*util)(nvml_device_t, nvml_utilization_t *); /* optional */
} nvml_api_t;

/* The process-wide session. */
static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static void *session_dl;       /* dlopen handle, NULL when closed */
static nvml_api_t session_api;

/* dlsym into a function pointer without a cast between object and function
 * pointers, which ISO C leaves undefined. */
static bool resolve(void *dl, const char *name, void *fnptr, size_t size)
{
    void *sym = dlsym(dl, name);
    if (sym)
        memcpy(fnptr, &sym, size);
    return sym != NULL;
}

#define RESOLVE(dl, name, field) \
    resolve((dl), (name), &(field), sizeof(field))

static void *open_library(void)
{
    const char *env = getenv("BANYAN_NVML_LIBRARY");
    if (env && *env)
        return dlopen(env, RTLD_NOW | RTLD_LOCAL);
    void *dl = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        dl = dlopen("libnvidia-ml.so", RTLD_NOW | RTLD_LOCAL);
    return dl;
}

/* Open and initialise the session if needed.  Called with the lock held.
 * 0, or -1 when NVML is not usable. */
static int session_open(void)
{
    if (session_dl)
        return 0;
    void *dl = open_library();
    if (!dl)
        return -1;
    nvml_api_t api = {0};
    bool okay = RESOLVE(dl, "nvmlInit_v2", api.init) &&
                RESOLVE(dl, "nvmlShutdown", api.shutdown) &&
                RESOLVE(dl, "nvmlDeviceGetCount_v2", api.count) &&
                RESOLVE(dl, "nvmlDeviceGetHandleByIndex_v2", api.handle) &&
                RESOLVE(dl, "nvmlDeviceGetUUID", api.uuid) &&
                RESOLVE(dl, "nvmlDeviceGetName", api.name) &&
                RESOLVE(dl, "nvmlDeviceGetMemoryInfo", api.memory);
    if (okay && !RESOLVE(dl, "nvmlDeviceGetPciInfo_v3", api.pci))
        RESOLVE(dl, "nvmlDeviceGetPciInfo_v2", api.pci);
    if (okay)
        RESOLVE(dl, "nvmlDeviceGetUtilizationRates", api.util);
    if (!okay || api.init() != NVML_OK) {
        dlclose(dl);
        return -1;
    }
    session_dl = dl;
    session_api = api;
    return 0;
}

void gpu_close(void)
{
    pthread_mutex_lock(&session_lock);
    if (session_dl) {
        session_api.shutdown();
        dlclose(session_dl);
        session_dl = NULL;
        memset(&session_api, 0, sizeof(session_api));
    }
    pthread_mutex_unlock(&session_lock);
}

/* Memory used and utilisation of one device. */
static void read_usage(const nvml_api_t *api, nvml_device_t dev,
                       gpu_info_t *g)
{
    nvml_memory_t mem;
    if (api->memory(dev, &mem) == NVML_OK) {
        g->mem_total_bytes = mem.total;
        g->mem_used_bytes = mem.used;
    }
    nvml_utilization_t util;
    if (api->util && api->util(dev, &util) == NVML_OK)
        g->util_percent = util.gpu > 100 ? 100 : util.gpu;
}

static int query_locked(gpu_info_t *out, int max)
{
    const nvml_api_t *api = &session_api;
    unsigned int count = 0;
    if (api->count(&count) != NVML_OK)
        return -1;
    int n = 0;
    for (unsigned int i = 0; i < count && n < max; i++) {
        nvml_device_t dev;
        /* a device we may not open (permissions, lost) is skipped */
        if (api->handle(i, &dev) != NVML_OK)
            continue;
        gpu_info_t *g = &out[n];
        memset(g, 0, sizeof(*g));
        g->index = (int)i;
        char text[NVML_STRING_MAX];
        if (api->uuid(dev, text, sizeof(text)) == NVML_OK) {
            text[sizeof(text) - 1] = '\0';
            snprintf(g->uuid, sizeof(g->uuid), "%s", text);
        }
        if (api->name(dev, text, sizeof(text)) == NVML_OK) {
            text[sizeof(text) - 1] = '\0';
            snprintf(g->name, sizeof(g->name), "%s", text);
        }
        nvml_pci_info_t pci;
        if (api->pci && api->pci(dev, &pci) == NVML_OK) {
            pci.bus_id[sizeof(pci.bus_id) - 1] = '\0';
            snprintf(g->pci_bus_id, sizeof(g->pci_bus_id), "%s", pci.bus_id);
        }
        read_usage(api, dev, g);
        n++;
    }
    return n;
}

int gpu__nvml_query(gpu_info_t *out, int max)
{
    pthread_mutex_lock(&session_lock);
    int n = session_open() == 0 ? query_locked(out, max) : -1;
    pthread_mutex_unlock(&session_lock);
    return n;
}

int gpu__nvml_refresh(gpu_info_t *gpus, int n)
{
    pthread_mutex_lock(&session_lock);
    int rc = session_open();
    for (int i = 0; rc == 0 && i < n; i++) {
        nvml_device_t dev;
        if (session_api.handle((unsigned int)gpus[i].index, &dev) != NVML_OK)
            continue;
        read_usage(&session_api, dev, &gpus[i]);
    }
    pthread_mutex_unlock(&session_lock);
    if (rc < 0)
        errno = ENODEV;
    return rc;
}
