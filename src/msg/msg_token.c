/* SPDX-License-Identifier: MIT */
/* msg_token.c - the user's token: who may talk to a server that listens on
 * loopback without CURVE keys (docs/security.md, "The token").
 *
 * One file per user, mode 0600 in a 0700 directory: $BANYAN_TOKEN_FILE,
 * else $XDG_CONFIG_HOME/banyan/token, else $HOME/.config/banyan/token.  A
 * server makes it (64 hex digits from getrandom) when there is none;
 * clients and workers of the same user read it and give it in their
 * handshake (ZeroMQ's PLAIN mechanism, checked by the server's ZAP
 * handler), so another user of the host, who cannot read the file, can
 * neither submit nor join.  A file that others may read, or that is not
 * the user's, is refused.  Two servers that start together make one
 * token: each writes a file of its own and links it into place; the
 * loser reads the winner's.
 *
 * Both ends decide from the endpoint alone whether a link uses the token
 * (msg_token_for): loopback and no CURVE.  Off loopback without CURVE
 * (--insecure) nothing is checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msg/msg_private.h"

int msg_token_path(char *path, size_t size, banyan_error_t *error)
{
    const char *file = getenv("BANYAN_TOKEN_FILE");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (file && *file)
        n = snprintf(path, size, "%s", file);
    else if (xdg && *xdg == '/')
        n = snprintf(path, size, "%s/banyan/token", xdg);
    else if (home && *home == '/')
        n = snprintf(path, size, "%s/.config/banyan/token", home);
    else
        n = -1;
    if (n < 0 || (size_t)n >= size) {
        errno = EINVAL;
        return errprintf(error, "no place for the token: set HOME or "
                         "BANYAN_TOKEN_FILE");
    }
    return 0;
}

/* The directories above path, made 0700 where missing. */
static int make_dirs(const char *path)
{
    char dir[MSG_TOKEN_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

static int read_token(const char *path, char *out, banyan_error_t *error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errprintf(error, "cannot read the token '%s': %s", path,
                         strerror(errno));
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && st.st_uid == geteuid()
        && (st.st_mode & 077) == 0)
        n = read(fd, out, MSG_TOKEN_LEN + 1);
    else
        errno = EPERM;
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return errprintf(error, "%s the token '%s': %s",
                         saved == EPERM ? "refusing" : "cannot read", path,
                         saved == EPERM ? "others may read it or it is not "
                                          "ours (chmod 600)"
                                        : strerror(saved));
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    if (n != MSG_TOKEN_LEN || strspn(out, "0123456789abcdef") != (size_t)n) {
        errno = EINVAL;
        return errprintf(error, "the token '%s' is not %d hex digits", path,
                         MSG_TOKEN_LEN);
    }
    return 0;
}

/* A new token in a file of its own, linked to path unless one is there. */
static int make_token(const char *path, banyan_error_t *error)
{
    uint8_t raw[MSG_TOKEN_LEN / 2];
    char hex[MSG_TOKEN_LEN + 2], tmp[MSG_TOKEN_PATH_MAX + 32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return errprintf(error, "getrandom: %s", strerror(errno));
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[MSG_TOKEN_LEN] = '\n';
    memset(raw, 0, sizeof raw);
    snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
    if (make_dirs(path) < 0)
        return errprintf(error, "cannot make the directory of '%s': %s",
                         path, strerror(errno));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && util_write_all(fd, hex, MSG_TOKEN_LEN + 1) == 0
              && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    ok = ok && (link(tmp, path) == 0 || (saved = errno) == EEXIST);
    unlink(tmp);
    memset(hex, 0, sizeof hex);
    if (!ok) {
        errno = saved;
        return errprintf(error, "cannot write the token '%s': %s", path,
                         strerror(saved));
    }
    return 0;
}

int msg_token_load(bool create, char *out, banyan_error_t *error)
{
    char path[MSG_TOKEN_PATH_MAX];
    if (msg_token_path(path, sizeof path, error) < 0)
        return -1;
    if (create && access(path, F_OK) < 0 && errno == ENOENT
        && make_token(path, error) < 0)
        return -1;
    return read_token(path, out, error);
}

int msg_token_for(const char *endpoint, bool curve, bool create, char *out,
                  banyan_error_t *error)
{
    if (curve || !msg_endpoint_is_loopback(endpoint))
        return 0;
    if (msg_token_load(create, out, error) == 0)
        return 1;
    if (errno == ENOENT)
        errprintf(error, "%s: no token: a server on loopback wants its "
                  "user's token (it makes one when it starts: run it as "
                  "this user first, or set BANYAN_TOKEN_FILE)", endpoint);
    return -1;
}
