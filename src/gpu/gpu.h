/* SPDX-License-Identifier: MIT */
/* gpu.h - GPU discovery and the environment a task's GPUs are given in.
 *
 * Discovery order:
 *  1. BANYAN_GPUS, when set (docs/gpus.md):
 *       "fake:N"            N fake GPUs of 16 GiB each
 *       "fake:N:SIZE"       N fake GPUs of SIZE each ("fake:4:80G")
 *       "fake:SIZE,SIZE,.." one fake GPU per size ("fake:16G,16G,80G")
 *       "none" or ""        no GPUs
 *       "0,2" / UUIDs       restrict the real GPUs found below to these
 *                           indices or UUIDs ("GPU-1a2b...")
 *  2. NVML, loaded with dlopen("libnvidia-ml.so.1") so that banyan runs on
 *     hosts without a driver: index, UUID, name, PCI bus id, memory total and
 *     used, utilisation.
 *  3. nvidia-smi --query-gpu=index,uuid,name,pci.bus_id,memory.total,
 *     memory.used,utilization.gpu --format=csv,noheader,nounits
 *  4. none.
 *
 * Testing and debugging knobs: $BANYAN_NVML_LIBRARY names the library to
 * dlopen instead of libnvidia-ml.so.1 (no fallback then), and
 * $BANYAN_NVIDIA_SMI the program to run instead of nvidia-smi.
 */
#ifndef BANYAN_GPU_H
#define BANYAN_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <banyan/error.h>

enum { GPU_MAX = 64 };

typedef enum gpu_source {
    GPU_SOURCE_NONE = 0,
    GPU_SOURCE_FAKE,   /* BANYAN_GPUS=fake:... */
    GPU_SOURCE_NVML,
    GPU_SOURCE_SMI,    /* nvidia-smi */
} gpu_source_t;

/* Name of a source: "none", "fake", "nvml", "nvidia-smi". Static. */
const char *gpu_source_name(gpu_source_t src);

typedef struct gpu_info {
    int index;                 /* device index (CUDA_VISIBLE_DEVICES value) */
    char uuid[96];             /* "GPU-..." or "fake-3" */
    char name[96];             /* "NVIDIA H100 80GB HBM3" or "fake" */
    char pci_bus_id[32];       /* "00000000:17:00.0", "" for fakes */
    uint64_t mem_total_bytes;
    uint64_t mem_used_bytes;
    unsigned util_percent;     /* 0..100 */
} gpu_info_t;

/* Discover the GPUs of this host, honouring BANYAN_GPUS (read from the
 * environment).  Fills at most max entries in out, sorted by index.  Returns
 * the count (0 when there are none), or -1 with EINVAL and a sentence in
 * error when BANYAN_GPUS is malformed or names a GPU that does not exist. */
int gpu_discover(gpu_info_t *out, int max, gpu_source_t *source,
                 banyan_error_t *error);

/* Same, with the override text given explicitly (NULL = not set). */
int gpu_discover_with(const char *override, gpu_info_t *out, int max,
                      gpu_source_t *source, banyan_error_t *error);

/* Refresh memory used and utilisation of already discovered GPUs from the
 * same source (no-op for fakes).  0 or -1. */
int gpu_refresh(gpu_info_t *gpus, int n, gpu_source_t source);

/* NVML, once initialised, stays loaded for later discoveries and refreshes
 * (nvmlInit can be slow).  Shut it down and unload it; the next discovery
 * loads it again.  Safe to call when it is not loaded. */
void gpu_close(void);

/* Append to env[] (which has room for at least GPU_ENV_MAX more entries,
 * each a malloc'd "K=V" string the caller frees) the variables that give a
 * task exactly these device indices: CUDA_VISIBLE_DEVICES,
 * CUDA_DEVICE_ORDER=PCI_BUS_ID, HIP_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES,
 * BANYAN_GPUS_ASSIGNED, in that order.  The entries are written at env[0],
 * env[1], ...: pass the address just past your last entry (no NULL is
 * written after them).  With n == 0 the visible lists are empty (the task
 * sees no GPU).  Returns the number appended, -1 ENOMEM (nothing written). */
enum { GPU_ENV_MAX = 5 };
int gpu_env_append(char **env, const int *indices, int n);

/* Format indices as "0,2,3" into buf.  Returns buf. */
char *gpu_list_format(const int *indices, int n, char *buf, size_t size);

#endif /* BANYAN_GPU_H */
