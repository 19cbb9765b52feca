/* SPDX-License-Identifier: MIT */
/* gpu_private.h - the NVML and nvidia-smi back ends of GPU discovery.
 *
 * Each back end fills an array of gpu_info_t sorted by index and returns
 * the count, or -1 when the back end is not available on this host (no
 * library, no driver, no program, a failure or a timeout).  Callers then
 * try the next source.
 */
#ifndef BANYAN_GPU_PRIVATE_H
#define BANYAN_GPU_PRIVATE_H

#include "gpu.h"
#include "util/util.h"

/* NVML through dlopen.  The library named by $BANYAN_NVML_LIBRARY (a
 * testing knob), else libnvidia-ml.so.1, else libnvidia-ml.so.  The loaded
 * and initialised library is kept for later calls (gpu_close() drops it). */
int gpu__nvml_query(gpu_info_t *out, int max);
int gpu__nvml_refresh(gpu_info_t *gpus, int n);

/* nvidia-smi, or the program named by $BANYAN_NVIDIA_SMI (a testing knob),
 * run without a shell and killed after timeout_ms. */
int gpu__smi_query(gpu_info_t *out, int max, int timeout_ms);

/* Parse nvidia-smi's CSV output (index, uuid, name, pci.bus_id,
 * memory.total, memory.used, utilization.gpu; MiB; "[N/A]" allowed). Lines
 * that do not parse are skipped.  Returns the count. */
int gpu__smi_parse(const char *text, gpu_info_t *out, int max);

/* Sort by index. */
void gpu__sort(gpu_info_t *gpus, int n);

#endif /* BANYAN_GPU_PRIVATE_H */
