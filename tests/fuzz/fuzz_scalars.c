/* SPDX-License-Identifier: MIT */
/* fuzz_scalars.c - fuzz target: the one-word parsers of command lines,
 * configuration and the database: sizes, durations, thousandths, bounded
 * integers, GPU amounts, custom resources, blob names, task state names,
 * nvidia-smi's CSV lines, and whether an endpoint is loopback (which
 * decides if CURVE is needed).
 *
 * The first byte picks the parser, the rest is the word.  What a parser
 * accepts must read back: a blob name formats to the same name, a state
 * name to the same state; an endpoint is loopback only with a transport
 * that can be.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <banyan/task.h>

#include "blob/blob.h"
#include "fuzz.h"
#include "gpu/gpu_private.h"
#include "msg/msg.h"
#include "res/res.h"
#include "util/util.h"

static void refusal(int rc, const banyan_error_t *err)
{
    if (rc < 0)
        fuzz_check_refusal(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *s = fuzz_strndup(data + 1, size - 1);
    if (s == NULL)
        return 0;
    banyan_error_t err = {{0}};
    uint64_t u64;
    int64_t i64;
    uint32_t u32;
    long l;
    switch (data[0] % 10) {
    case 0:
        util_parse_size(s, &u64);
        break;
    case 1:
        util_parse_duration_ms(s, &i64);
        break;
    case 2:
        util_parse_milli(s, &u32);
        break;
    case 3:
        util_parse_long(s, -5, 1000, &l);
        break;
    case 4:
        refusal(res_parse_gpus(s, &u32, &err), &err);
        break;
    case 5: {
        res_request_t req = {0};
        refusal(res_request_add_custom(&req, s, &err), &err);
        break;
    }
    case 6: {
        blob_id_t id;
        char hex[BLOB_HEX_LEN + 1];
        if (blob_id_parse(s, &id) == 0
            && strcasecmp(blob_id_format(&id, hex), s) != 0)
            __builtin_trap();
        break;
    }
    case 7: {
        banyan_task_state_t st;
        if (banyan_task_state_parse(s, &st) == 0
            && strcmp(banyan_task_state_name(st), s) != 0)
            __builtin_trap();
        break;
    }
    case 8: {
        gpu_info_t gpus[4];
        int n = gpu__smi_parse(s, gpus, 4);
        if (n < 0 || n > 4)
            __builtin_trap();
        break;
    }
    default:
        if (msg_endpoint_is_loopback(s) && strncmp(s, "tcp://", 6) != 0
            && strncmp(s, "ipc://", 6) != 0
            && strncmp(s, "inproc://", 9) != 0)
            __builtin_trap();
        break;
    }
    free(s);
    return 0;
}
