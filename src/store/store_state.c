/* SPDX-License-Identifier: MIT */
/* store_state.c - named integers a server keeps across restarts (schema 5).
 *
 * One row per name in server_state.  The tree's root keeps there the bound
 * on the node ids it has given, so that a restarted root gives new ids above
 * every id the workers of the old tree still carry (docs/tree.md, "Restart
 * of the root").  In the database rather than beside it, so that the state
 * goes wherever the database goes.
 */
#include <errno.h>

#include "store/store_private.h"

int store_state_get(store_t *st, const char *name, int64_t *value)
{
    sqlite3_stmt *s = store__read_stmt(st, name && value,
                                       "SELECT value FROM server_state "
                                       "WHERE name = ?1");
    if (!s)
        return -1;
    int rc = sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_DONE)
        ret = store__fail_errno(st, ENOENT, "no such state");
    else
        ret = store__fail(st, rc, "cannot read the server's state");
    int err = errno;
    sqlite3_reset(s);
    errno = err;
    return ret;
}

int store_state_put(store_t *st, const char *name, int64_t value)
{
    sqlite3_stmt *s = store__write_stmt(st, name,
                                        "INSERT OR REPLACE INTO server_state "
                                        "(name, value) VALUES (?1, ?2)");
    if (!s)
        return -1;
    int rc = sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, value);
    if (rc != SQLITE_OK)
        return store__bind_fail(st, s, rc);
    return store__step(st, s, "cannot write the server's state");
}
