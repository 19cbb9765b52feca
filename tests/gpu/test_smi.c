/* SPDX-License-Identifier: MIT */
/* test_smi.c - discovery through nvidia-smi, played by shell scripts
 * named by BANYAN_NVIDIA_SMI: the arguments it gets, parsing with "[N/A]"
 * fields and junk lines, failure, a hang cut by the timeout, refresh. */
#include "gpu/gpu.h"
#include "tap.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static gpu_info_t gpus[GPU_MAX];

/* Write an executable script into the test directory; returns its path. */
static const char *script(const char *name, const char *body)
{
    static char path[1024];
    snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), name);
    FILE *f = fopen(path, "w");
    if (!f)
        bail_out("cannot write %s", path);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    chmod(path, 0755);
    setenv("BANYAN_NVIDIA_SMI", path, 1);
    return path;
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (f) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static void test_parse(void)
{
    char args[1024], body[2048];
    snprintf(args, sizeof(args), "%s/args", tap_tmpdir());
    snprintf(body, sizeof(body),
             "for a in \"$@\"; do echo \"$a\"; done > '%s'\n"
             "echo 'this line is junk'\n"
             "echo '1, GPU-bbb, NVIDIA H100 80GB HBM3, 00000000:65:00.0, "
             "[N/A], [N/A], [N/A]'\n"
             "printf '0, GPU-aaa, NVIDIA H100 80GB HBM3, 00000000:17:00.0, "
             "81559, 1024, 37\\r\\n'\n"
             "echo 'x, GPU-ccc, bad index, 0, 1, 1, 1'\n"
             "echo '2, GPU-ddd, too, few'\n"
             "echo '3, GPU-eee, Tesla T4, [N/A], 15360, 3, 101'\n"
             "echo 'this goes to stderr' >&2\n",
             args);
    script("smi-ok", body);
    gpu_source_t src = GPU_SOURCE_NONE;
    int n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    is_int(n, 3, "three good lines give three GPUs, junk is skipped");
    is_int(src, GPU_SOURCE_SMI, "from nvidia-smi");
    is_str(slurp(args),
           "--query-gpu=index,uuid,name,pci.bus_id,memory.total,memory.used,"
           "utilization.gpu\n--format=csv,noheader,nounits\n",
           "nvidia-smi gets the query arguments, one argument each");
    ok(gpus[0].index == 0 && gpus[1].index == 1 && gpus[2].index == 3,
       "GPUs are sorted by index");
    is_str(gpus[0].uuid, "GPU-aaa", "the UUID is trimmed");
    is_str(gpus[0].name, "NVIDIA H100 80GB HBM3", "the name keeps its spaces");
    is_str(gpus[0].pci_bus_id, "00000000:17:00.0", "the bus id is read");
    ok(gpus[0].mem_total_bytes == 81559ull << 20, "memory.total is in MiB");
    ok(gpus[0].mem_used_bytes == 1024ull << 20, "memory.used is in MiB");
    is_int(gpus[0].util_percent, 37, "the utilisation is read");
    ok(gpus[1].mem_total_bytes == 0 && gpus[1].mem_used_bytes == 0 &&
           gpus[1].util_percent == 0,
       "[N/A] fields read as 0");
    is_str(gpus[2].pci_bus_id, "", "an [N/A] bus id is empty");
    is_int(gpus[2].util_percent, 100, "a utilisation over 100 is capped");

    n = gpu_discover_with("GPU-bbb,3", gpus, GPU_MAX, &src, NULL);
    ok(n == 2 && gpus[0].index == 1 && gpus[1].index == 3,
       "restriction works on nvidia-smi's GPUs");
}

static void test_refresh(void)
{
    script("smi-util", "echo \"0, GPU-aaa, G, 00000000:17:00.0, 1000, "
                       "${FAKE_USED:-0}, ${FAKE_UTIL:-0}\"\n");
    gpu_source_t src;
    int n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 1 && gpus[0].util_percent == 0, "one idle GPU found");
    setenv("FAKE_UTIL", "64", 1);
    setenv("FAKE_USED", "500", 1);
    ok(gpu_refresh(gpus, n, src) == 0, "refresh through nvidia-smi works");
    ok(gpus[0].util_percent == 64 && gpus[0].mem_used_bytes == 500ull << 20,
       "refresh reads the new utilisation and memory used");
    script("smi-gone", "exit 9\n");
    ok(gpu_refresh(gpus, n, src) == -1, "refresh fails when nvidia-smi does");
}

static void test_failures(void)
{
    gpu_source_t src;
    script("smi-fail", "echo '0, GPU-aaa, G, 0, 1, 1, 1'\nexit 6\n");
    int n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 0 && src == GPU_SOURCE_NONE,
       "nvidia-smi exiting non-zero means no GPUs");

    script("smi-empty", "exit 0\n");
    n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 0 && src == GPU_SOURCE_SMI, "nvidia-smi with no GPU lists none");

    setenv("BANYAN_NVIDIA_SMI", "/nonexistent/nvidia-smi", 1);
    n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    ok(n == 0 && src == GPU_SOURCE_NONE, "a missing nvidia-smi means none");

    script("smi-hang", "echo '0, GPU-aaa, G, 0, 1, 1, 1'\nexec sleep 60\n");
    int64_t t0 = util_mono_ms();
    n = gpu_discover_with(NULL, gpus, GPU_MAX, &src, NULL);
    int64_t took = util_mono_ms() - t0;
    ok(n == 0 && src == GPU_SOURCE_NONE,
       "an nvidia-smi that hangs is given up");
    ok(took >= 4000 && took < 30000,
       "after its timeout of a few seconds (took %lld ms)", (long long)took);
}

int main(void)
{
    plan(NO_PLAN);
    setenv("BANYAN_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    test_parse();
    test_refresh();
    test_failures();
    return done_testing();
}
