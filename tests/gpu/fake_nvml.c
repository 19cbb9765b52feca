/* SPDX-License-Identifier: MIT */
/* fake_nvml.c - a stand-in for libnvidia-ml.so with three fake devices, so
 * that the dlopen path of GPU discovery runs on hosts without a GPU.
 *
 * Steered by the environment, read at each call: FAKE_NVML_FAIL_INIT=1
 * makes nvmlInit_v2 fail as when no driver is loaded, FAKE_NVML_COUNT sets
 * the number of devices (0..3), FAKE_NVML_UTIL overrides the utilisation of
 * every device and FAKE_NVML_USED_MIB the memory used.  FAKE_NVML_NO_HANDLE
 * names one index whose handle cannot be opened.
 */
#include <stdlib.h>
#include <string.h>

typedef struct fake_dev {
    const char *uuid;
    const char *name;
    const char *bus_id;
    unsigned long long total, used;
    unsigned util;
} fake_dev_t;

typedef struct fake_memory {
    unsigned long long total, free, used;
} fake_memory_t;

typedef struct fake_util {
    unsigned int gpu, memory;
} fake_util_t;

typedef struct fake_pci {
    char bus_id_legacy[16];
    unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
} fake_pci_t;

enum { OK = 0, ERR_INVALID = 2, ERR_UNINIT = 1, ERR_DRIVER = 9,
       ERR_NO_PERMISSION = 4, ERR_SIZE = 7 };

static fake_dev_t devs[3] = {
    {"GPU-11111111-2222-3333-4444-555555555555", "Fake H100 80GB HBM3",
     "00000000:17:00.0", 80ull << 30, 1ull << 30, 10},
    {"GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "Fake A100-SXM4-40GB",
     "00000000:65:00.0", 40ull << 30, 2ull << 30, 50},
    {"GPU-99999999-8888-7777-6666-555555555555", "Fake A100-SXM4-40GB",
     "00000000:CA:00.0", 40ull << 30, 0, 0},
};
static int inited;

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *count);
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, fake_dev_t **dev);
int nvmlDeviceGetUUID(fake_dev_t *dev, char *buf, unsigned int len);
int nvmlDeviceGetName(fake_dev_t *dev, char *buf, unsigned int len);
int nvmlDeviceGetPciInfo_v3(fake_dev_t *dev, fake_pci_t *pci);
int nvmlDeviceGetMemoryInfo(fake_dev_t *dev, fake_memory_t *mem);
int nvmlDeviceGetUtilizationRates(fake_dev_t *dev, fake_util_t *util);
int fake_nvml_init_count(void);

static unsigned count(void)
{
    const char *s = getenv("FAKE_NVML_COUNT");
    unsigned n = s ? (unsigned)atoi(s) : 3;
    return n > 3 ? 3 : n;
}

int fake_nvml_init_count(void)
{
    return inited;
}

int nvmlInit_v2(void)
{
    const char *s = getenv("FAKE_NVML_FAIL_INIT");
    if (s && strcmp(s, "1") == 0)
        return ERR_DRIVER;
    inited++;
    return OK;
}

int nvmlShutdown(void)
{
    if (inited == 0)
        return ERR_UNINIT;
    inited--;
    return OK;
}

int nvmlDeviceGetCount_v2(unsigned int *n)
{
    if (!inited)
        return ERR_UNINIT;
    *n = count();
    return OK;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int i, fake_dev_t **dev)
{
    const char *deny = getenv("FAKE_NVML_NO_HANDLE");
    if (!inited)
        return ERR_UNINIT;
    if (i >= count())
        return ERR_INVALID;
    if (deny && (unsigned)atoi(deny) == i)
        return ERR_NO_PERMISSION;
    *dev = &devs[i];
    return OK;
}

static int copy(const char *s, char *buf, unsigned int len)
{
    if (strlen(s) + 1 > len)
        return ERR_SIZE;
    strcpy(buf, s);
    return OK;
}

int nvmlDeviceGetUUID(fake_dev_t *dev, char *buf, unsigned int len)
{
    return copy(dev->uuid, buf, len);
}

int nvmlDeviceGetName(fake_dev_t *dev, char *buf, unsigned int len)
{
    return copy(dev->name, buf, len);
}

int nvmlDeviceGetPciInfo_v3(fake_dev_t *dev, fake_pci_t *pci)
{
    memset(pci, 0, sizeof(*pci));
    strcpy(pci->bus_id_legacy, "0000:00:00.0");
    pci->domain = 0;
    pci->bus = 0x17;
    pci->pci_device_id = 0x233010de;
    strcpy(pci->bus_id, dev->bus_id);
    return OK;
}

int nvmlDeviceGetMemoryInfo(fake_dev_t *dev, fake_memory_t *mem)
{
    const char *s = getenv("FAKE_NVML_USED_MIB");
    mem->total = dev->total;
    mem->used = s ? strtoull(s, NULL, 10) << 20 : dev->used;
    mem->free = mem->total - mem->used;
    return OK;
}

int nvmlDeviceGetUtilizationRates(fake_dev_t *dev, fake_util_t *util)
{
    const char *s = getenv("FAKE_NVML_UTIL");
    util->gpu = s ? (unsigned)atoi(s) : dev->util;
    util->memory = util->gpu / 2;
    return OK;
}
