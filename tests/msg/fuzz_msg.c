/* SPDX-License-Identifier: MIT */
/* fuzz_msg.c - libFuzzer target for the message decoder (make fuzz).
 *
 * Every input goes through msg_decode().  A refusal must be EPROTO with a
 * sentence; an accepted message must encode again, and that encoding must
 * decode and encode to the same bytes.  A broken arena bound ("internal")
 * or a broken round trip traps, so libFuzzer records the input.  With
 * BANYAN_FUZZ_SEED_DIR set, LLVMFuzzerInitialize() first writes one valid
 * message of every type there, as the seed corpus.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/msg.h"
#include "samples.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("BANYAN_FUZZ_SEED_DIR");
    if (dir == NULL || *dir == '\0')
        return 0;
    util_buf_t s[SAMPLES_MAX];
    int n = samples_encode(s);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed-%02d", dir, i);
        FILE *f = fopen(path, "wb");
        if (f != NULL) {
            fwrite(s[i].data, 1, s[i].len, f);
            fclose(f);
        }
        util_buf_fini(&s[i]);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    banyan_error_t err = {{0}};
    errno = 0;
    msg_t *m = msg_decode(data, size, &err);
    if (m == NULL) {
        if (errno != EPROTO || err.text[0] == '\0'
            || strstr(err.text, "internal") != NULL)
            __builtin_trap();
        return 0;
    }
    util_buf_t a = UTIL_BUF_INIT, b = UTIL_BUF_INIT;
    if (msg_encode(m, &a) < 0)
        __builtin_trap();
    msg_t *m2 = msg_decode(a.data, a.len, NULL);
    if (m2 == NULL || msg_encode(m2, &b) < 0 || a.len != b.len
        || memcmp(a.data, b.data, a.len) != 0)
        __builtin_trap();
    msg_free(m2);
    msg_free(m);
    util_buf_fini(&a);
    util_buf_fini(&b);
    return 0;
}
