/* SPDX-License-Identifier: MIT */
/* test_nvml.c - discovery through NVML, with a fake libnvidia-ml loaded by
 * dlopen through BANYAN_NVML_LIBRARY: the device facts, restriction by
 * index and UUID, refresh, and falling through when nvmlInit fails. */
#include "gpu/gpu.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static gpu_info_t gpus[GPU_MAX];

static const char uuid0[] = "GPU-11111111-2222-3333-4444-555555555555";
static const char uuid1[] = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

static void test_devices(void)
{
    gpu_source_t src = GPU_SOURCE_NONE;
    int n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    is_int(n, 3, "the fake NVML's three devices are found");
    is_int(src, GPU_SOURCE_NVML, "through NVML");
    is_str(gpu_source_name(src), "nvml", "named 'nvml'");
    ok(gpus[0].index == 0 && gpus[1].index == 1 && gpus[2].index == 2,
       "indices are NVML's");
    is_str(gpus[0].uuid, uuid0, "the UUID is read");
    is_str(gpus[0].name, "Fake H100 80GB HBM3", "the name is read");
    is_str(gpus[0].pci_bus_id, "00000000:17:00.0",
           "the PCI bus id comes from the right field of nvmlPciInfo_t");
    is_str(gpus[2].pci_bus_id, "00000000:CA:00.0", "bus id of device 2");
    ok(gpus[0].mem_total_bytes == 80ull << 30, "total memory is read");
    ok(gpus[1].mem_used_bytes == 2ull << 30, "used memory is read");
    is_int(gpus[1].util_percent, 50, "utilisation is read");

    setenv("FAKE_NVML_UTIL", "77", 1);
    setenv("FAKE_NVML_USED_MIB", "300", 1);
    ok(gpu_refresh(gpus, n, src) == 0, "refresh through NVML succeeds");
    ok(gpus[2].util_percent == 77 && gpus[0].util_percent == 77,
       "refresh updates the utilisation");
    ok(gpus[2].mem_used_bytes == 300ull << 20, "refresh updates memory used");
    setenv("FAKE_NVML_UTIL", "250", 1);
    gpu_refresh(gpus, n, src);
    is_int(gpus[0].util_percent, 100, "a utilisation over 100 is capped");
    unsetenv("FAKE_NVML_UTIL");
    unsetenv("FAKE_NVML_USED_MIB");

    n = gpu_discover_with(NULL, gpus, 2, &src, NULL);
    is_int(n, 2, "at most max devices are returned");

    setenv("FAKE_NVML_NO_HANDLE", "1", 1);
    n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 2 && gpus[0].index == 0 && gpus[1].index == 2,
       "a device that cannot be opened is skipped");
    unsetenv("FAKE_NVML_NO_HANDLE");
}

static void test_restrict(void)
{
    gpu_source_t src;
    banyan_error_t err = {{0}};
    int n = gpu_discover_with("2,0", gpus, GPU_MAX, &src, &err);
    ok(n == 2 && gpus[0].index == 0 && gpus[1].index == 2,
       "'2,0' keeps devices 0 and 2, sorted by index");
    is_int(src, GPU_SOURCE_NVML, "restricted GPUs still come from NVML");
    n = gpu_discover_with(uuid1, gpus, GPU_MAX, &src, &err);
    ok(n == 1 && gpus[0].index == 1, "a UUID selects its device");
    char mixed[128];
    snprintf(mixed, sizeof(mixed), " %s , 2 ,2", uuid0);
    n = gpu_discover_with(mixed, gpus, GPU_MAX, &src, &err);
    ok(n == 2 && gpus[0].index == 0 && gpus[1].index == 2,
       "UUIDs and indices mix, with spaces and repeats");

    errno = 0;
    n = gpu_discover_with("0,7", gpus, GPU_MAX, &src, &err);
    ok(n == -1 && errno == EINVAL, "an unknown index is an error");
    is_str(err.text, "BANYAN_GPUS='0,7': no GPU has the index '7' (3 GPUs "
                     "found)",
           "the error names the unknown index");
    n = gpu_discover_with("GPU-nope", gpus, GPU_MAX, &src, &err);
    ok(n == -1 && errno == EINVAL, "an unknown UUID is an error");
    is_str(err.text, "BANYAN_GPUS='GPU-nope': no GPU has the UUID "
                     "'GPU-nope' (3 GPUs found)",
           "the error names the unknown UUID");
    n = gpu_discover_with("0,,1", gpus, GPU_MAX, &src, &err);
    ok(n == -1 && errno == EINVAL, "an empty entry is an error");
    is_str(err.text, "BANYAN_GPUS='0,,1': empty entry in the list of GPUs",
           "the error says the entry is empty");
}

static void test_init_failure(void)
{
    char smi[1024];
    snprintf(smi, sizeof(smi), "%s/fake-smi", tap_tmpdir());
    FILE *f = fopen(smi, "w");
    if (!f)
        bail_out("cannot write %s", smi);
    fputs("#!/bin/sh\necho '0, GPU-smi-0, Smi GPU, 00000000:01:00.0, 1024, "
          "0, 5'\n",
          f);
    fclose(f);
    chmod(smi, 0755);

    gpu_close();
    setenv("FAKE_NVML_FAIL_INIT", "1", 1);
    setenv("BANYAN_NVIDIA_SMI", smi, 1);
    gpu_source_t src;
    int n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 1 && src == GPU_SOURCE_SMI && strcmp(gpus[0].uuid, "GPU-smi-0") == 0,
       "when nvmlInit fails, discovery falls through to nvidia-smi");
    setenv("BANYAN_NVIDIA_SMI", "/nonexistent/nvidia-smi", 1);
    n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 0 && src == GPU_SOURCE_NONE,
       "without NVML nor nvidia-smi there are no GPUs");
    banyan_error_t err = {{0}};
    n = gpu_discover_with("0", gpus, GPU_MAX, &src, &err);
    ok(n == -1 && errno == EINVAL, "restricting to a GPU on a host "
                                   "without any is an error");
    is_str(err.text, "BANYAN_GPUS='0': no GPU has the index '0' (0 GPUs "
                     "found)",
           "the error says no GPU was found");

    unsetenv("FAKE_NVML_FAIL_INIT");
    n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 3 && src == GPU_SOURCE_NVML,
       "NVML is found once its driver comes up");

    setenv("BANYAN_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 3 && src == GPU_SOURCE_NVML,
       "a loaded NVML session is reused until gpu_close()");
    gpu_close();
    n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 0 && src == GPU_SOURCE_NONE,
       "a library that cannot be opened counts as no NVML");
    gpu_close();
    gpu_close();
    ok(1, "gpu_close() twice is harmless");
}

int main(void)
{
    plan(NO_PLAN);
    setenv("BANYAN_NVML_LIBRARY", FAKE_NVML_PATH, 1);
    setenv("BANYAN_NVIDIA_SMI", "/nonexistent/nvidia-smi", 1);
    unsetenv("FAKE_NVML_COUNT");
    test_devices();
    test_restrict();
    test_init_failure();
    gpu_close();
    return done_testing();
}
