/* SPDX-License-Identifier: MIT */
/* fuzz_share.c - fuzz target: the host's share file (share.h), which any
 * local user can write.
 *
 * The input is the file as another instance left it; one update reads it,
 * drops what is malformed or dead, adds this process's record and writes
 * it back.  The update must succeed (the file is hostile, not broken) and
 * the grant must not exceed the capacity.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "share/share.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(data, size, ".share");
    if (path == NULL)
        return 0;
    banyan_error_t err = {{0}};
    share_t *sh = share_open(path, &err);
    if (sh == NULL)
        __builtin_trap();
    share_amount_t cap = {4000, 8ull << 30};
    share_set_capacity(sh, &cap);
    share_set_lock_timeout_ms(sh, 0);
    share_amount_t want = {2000, 1ull << 30}, hold = {0, 0};
    share_grant_t grant;
    if (share_update(sh, &want, &hold, &grant, &err) < 0)
        __builtin_trap();
    if (grant.limit.cpus_milli > cap.cpus_milli
        || grant.limit.mem_bytes > cap.mem_bytes)
        __builtin_trap();
    const share_record_t *recs;
    if (share_records(sh, &recs) < 1)
        __builtin_trap(); /* this instance's own record at least */
    share_close(sh);
    return 0;
}
