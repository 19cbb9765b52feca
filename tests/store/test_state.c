/* SPDX-License-Identifier: MIT */
/* test_state.c - the server's named integers: absent until set, replaced,
 * committed with the grouped transaction, kept across a reopen, refused on
 * a read-only store. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "store/store.h"
#include "tap.h"

int main(void)
{
    plan(NO_PLAN);
    char path[1024];
    snprintf(path, sizeof(path), "%s/state.db", tap_tmpdir());
    unlink(path);
    banyan_error_t err = {{0}};
    store_t *st = store_open(path, NULL, &err);
    ok(st != NULL, "open a new database: %s", err.text);
    if (!st)
        return done_testing();
    int64_t v = 7;
    errno = 0;
    ok(store_state_get(st, "tree_ids", &v) < 0 && errno == ENOENT && v == 7,
       "a name never set is ENOENT");
    ok(store_state_put(st, "tree_ids", 64) == 0
           && store_state_put(st, "other", -3) == 0
           && store_state_put(st, "tree_ids", 128) == 0,
       "set two names, one twice");
    ok(store_state_get(st, "tree_ids", &v) == 0 && v == 128,
       "the second value replaced the first");
    ok(store_flush(st) == 0, "commit");
    store_close(st);

    store_options_t ro = {.readonly = true};
    st = store_open(path, &ro, &err);
    ok(st && store_state_get(st, "tree_ids", &v) == 0 && v == 128
           && store_state_get(st, "other", &v) == 0 && v == -3,
       "both are there after a reopen, for a reader too");
    errno = 0;
    ok(st && store_state_put(st, "tree_ids", 1) < 0 && errno == EROFS,
       "a reader cannot set one");
    errno = 0;
    ok(store_state_get(st, NULL, &v) < 0 && errno == EINVAL,
       "a NULL name is EINVAL");
    store_close(st);
    return done_testing();
}
