/* SPDX-License-Identifier: MIT */
/* test_discover.c - the BANYAN_GPUS override (fake GPUs, none, errors), the
 * task environment and list formatting. */
#include "gpu/gpu.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gpu_info_t gpus[GPU_MAX];

static void expect_error(const char *override, const char *want)
{
    banyan_error_t err = {{0}};
    errno = 0;
    int n = gpu_discover_with(override, gpus, GPU_MAX, NULL, &err);
    ok(n == -1 && errno == EINVAL, "BANYAN_GPUS='%s' is rejected", override);
    is_str(err.text, want, "BANYAN_GPUS='%s' error names the bad part",
           override);
}

static void test_fakes(void)
{
    gpu_source_t src = GPU_SOURCE_NVML;
    int n = gpu_discover_with("fake:3", gpus, GPU_MAX, &src, NULL);
    is_int(n, 3, "fake:3 gives three GPUs");
    is_int(src, GPU_SOURCE_FAKE, "from the fake source");
    is_str(gpu_source_name(src), "fake", "named 'fake'");
    ok(gpus[0].index == 0 && gpus[1].index == 1 && gpus[2].index == 2,
       "fakes are numbered from 0");
    is_str(gpus[2].uuid, "fake-2", "a fake's UUID is fake-INDEX");
    is_str(gpus[2].name, "fake", "a fake's name is 'fake'");
    is_str(gpus[2].pci_bus_id, "", "a fake has no PCI bus id");
    ok(gpus[1].mem_total_bytes == 16ull << 30, "fakes have 16 GiB by default");
    ok(gpus[1].mem_used_bytes == 0 && gpus[1].util_percent == 0,
       "fakes are idle");

    n = gpu_discover_with("fake:4:80G", gpus, GPU_MAX, &src, NULL);
    ok(n == 4 && gpus[3].mem_total_bytes == 80ull << 30,
       "fake:4:80G gives four GPUs of 80 GiB");
    n = gpu_discover_with("fake:16G,16G,80G", gpus, GPU_MAX, &src, NULL);
    ok(n == 3 && gpus[0].mem_total_bytes == 16ull << 30 &&
           gpus[2].mem_total_bytes == 80ull << 30 && gpus[2].index == 2,
       "fake:16G,16G,80G gives one GPU per size");
    n = gpu_discover_with("fake:512M", gpus, GPU_MAX, &src, NULL);
    ok(n == 1 && gpus[0].mem_total_bytes == 512ull << 20,
       "fake:512M is one GPU of 512 MiB, not a count");
    n = gpu_discover_with("fake:0", gpus, GPU_MAX, &src, NULL);
    ok(n == 0 && src == GPU_SOURCE_FAKE, "fake:0 gives no GPU");
    n = gpu_discover_with("fake:64", gpus, GPU_MAX, &src, NULL);
    is_int(n, 64, "fake:64 gives the most GPUs supported");
    n = gpu_discover_with("fake:8", gpus, 2, &src, NULL);
    is_int(n, 2, "discovery fills at most max entries");

    n = gpu_discover_with("none", gpus, GPU_MAX, &src, NULL);
    ok(n == 0 && src == GPU_SOURCE_NONE, "'none' gives no GPU");
    src = GPU_SOURCE_FAKE;
    n = gpu_discover_with("", gpus, GPU_MAX, &src, NULL);
    ok(n == 0 && src == GPU_SOURCE_NONE, "an empty value gives no GPU");

    setenv("BANYAN_GPUS", "fake:2:1G", 1);
    n = gpu_discover(gpus, GPU_MAX, &src, NULL);
    ok(n == 2 && src == GPU_SOURCE_FAKE && gpus[0].mem_total_bytes == 1ull << 30,
       "gpu_discover reads BANYAN_GPUS from the environment");
    ok(gpu_refresh(gpus, n, src) == 0 && gpus[0].mem_used_bytes == 0,
       "refreshing fakes does nothing and succeeds");
    unsetenv("BANYAN_GPUS");
}

static void test_errors(void)
{
    expect_error("fake:x", "BANYAN_GPUS='fake:x': expected a GPU count or "
                           "memory sizes after 'fake:'");
    expect_error("fake:", "BANYAN_GPUS='fake:': expected a GPU count or "
                          "memory sizes after 'fake:'");
    expect_error("fake:4:x", "BANYAN_GPUS='fake:4:x': bad memory size 'x' "
                             "(expected e.g. 16G)");
    expect_error("fake:4:", "BANYAN_GPUS='fake:4:': bad memory size '' "
                            "(expected e.g. 16G)");
    expect_error("fake:4:0", "BANYAN_GPUS='fake:4:0': bad memory size '0' "
                             "(expected e.g. 16G)");
    expect_error("fake:16G,,8G", "BANYAN_GPUS='fake:16G,,8G': bad memory "
                                 "size '' (expected e.g. 16G)");
    expect_error("fake:16G,lots", "BANYAN_GPUS='fake:16G,lots': bad memory "
                                  "size 'lots' (expected e.g. 16G)");
    expect_error("fake:65", "BANYAN_GPUS='fake:65': at most 64 GPUs are "
                            "supported");
    expect_error("fake:99999999999999999999", "BANYAN_GPUS="
                 "'fake:99999999999999999999': at most 64 GPUs are supported");
}

static void test_env(void)
{
    char *env[GPU_ENV_MAX + 2] = {NULL};
    env[0] = "KEEP=1";
    const int idx[] = {0, 2, 3};
    int n = gpu_env_append(env + 1, idx, 3);
    is_int(n, 5, "five variables are appended");
    is_str(env[0], "KEEP=1", "the entries before are kept");
    is_str(env[1], "CUDA_VISIBLE_DEVICES=0,2,3", "CUDA_VISIBLE_DEVICES");
    is_str(env[2], "CUDA_DEVICE_ORDER=PCI_BUS_ID", "CUDA_DEVICE_ORDER");
    is_str(env[3], "HIP_VISIBLE_DEVICES=0,2,3", "HIP_VISIBLE_DEVICES");
    is_str(env[4], "ROCR_VISIBLE_DEVICES=0,2,3", "ROCR_VISIBLE_DEVICES");
    is_str(env[5], "BANYAN_GPUS_ASSIGNED=0,2,3", "BANYAN_GPUS_ASSIGNED");
    ok(env[6] == NULL, "nothing is written past the five entries");
    for (int i = 1; i <= 5; i++)
        free(env[i]);

    char *e2[GPU_ENV_MAX];
    n = gpu_env_append(e2, NULL, 0);
    is_int(n, 5, "the variables are set also without GPUs");
    is_str(e2[0], "CUDA_VISIBLE_DEVICES=", "no GPU: CUDA_VISIBLE_DEVICES empty");
    is_str(e2[1], "CUDA_DEVICE_ORDER=PCI_BUS_ID", "no GPU: device order set");
    is_str(e2[2], "HIP_VISIBLE_DEVICES=", "no GPU: HIP list empty");
    is_str(e2[3], "ROCR_VISIBLE_DEVICES=", "no GPU: ROCR list empty");
    is_str(e2[4], "BANYAN_GPUS_ASSIGNED=", "no GPU: assigned list empty");
    for (int i = 0; i < 5; i++)
        free(e2[i]);

    char buf[16];
    const int many[] = {10, 11, 12, 13, 14};
    is_str(gpu_list_format(idx, 1, buf, sizeof(buf)), "0", "one index");
    is_str(gpu_list_format(idx, 0, buf, sizeof(buf)), "", "no index");
    is_str(gpu_list_format(many, 5, buf, 11), "10,11,12",
           "a list that does not fit stops at a whole number");
}

static void test_names(void)
{
    is_str(gpu_source_name(GPU_SOURCE_NONE), "none", "source none");
    is_str(gpu_source_name(GPU_SOURCE_NVML), "nvml", "source nvml");
    is_str(gpu_source_name(GPU_SOURCE_SMI), "nvidia-smi", "source smi");
}

int main(void)
{
    plan(NO_PLAN);
    test_fakes();
    test_errors();
    test_env();
    test_names();
    return done_testing();
}
