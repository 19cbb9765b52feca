/* SPDX-License-Identifier: MIT */
/* client_key.c - CURVE key files: generate, write, read.
 *
 * PREFIX.key holds a key pair and is private (0600):
 *
 *     # banyan CURVE key pair: keep this file private.
 *     public-key = <40 characters of Z85>
 *     secret-key = <40 characters of Z85>
 *
 * PREFIX.pub holds the public key alone, on one line, so that public keys
 * can be concatenated into an allow-list (one key a line).  The reader
 * accepts both: "public-key = K" / "secret-key = K" lines, or a line that
 * is a bare key (the public one).  Lines starting with '#' that are not a
 * key are comments ('#' is a Z85 character, so a bare key may start with
 * one; a comment has a space or is not 40 characters long).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_private.h"

static const char z85_chars[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ".-:+=^!/*?&<>()[]{}@%$#";

bool client__key_valid(const char *key)
{
    if (!key || strlen(key) != BANYAN_KEY_LEN)
        return false;
    for (const char *p = key; *p; p++)
        if (!strchr(z85_chars, *p))
            return false;
    return true;
}

int banyan_key_generate(char *public_key, char *secret_key)
{
    return msg_curve_keypair(public_key, secret_key);
}

/* Write text to a new file (never an existing one).  0 or -1. */
static int write_new(const char *path, const char *text, mode_t mode,
                     banyan_error_t *error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return errprintf(error, "cannot create '%s': %s", path,
                         strerror(errno));
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int e = errno;
    if (w != (ssize_t)len || fchmod(fd, mode) < 0 || close(fd) < 0) {
        if (w >= 0 && w == (ssize_t)len)
            e = errno;
        else if (w >= 0)
            e = EIO;
        close(fd);
        unlink(path);
        errno = e;
        return errprintf(error, "cannot write '%s': %s", path, strerror(e));
    }
    return 0;
}

int banyan_key_write(const char *prefix, const char *public_key,
                     const char *secret_key, banyan_error_t *error)
{
    if (!prefix || !*prefix || !client__key_valid(public_key) ||
        !client__key_valid(secret_key)) {
        errno = EINVAL;
        return errprintf(error, "banyan_key_write: a prefix and two Z85 "
                                "keys are needed");
    }
    size_t n = strlen(prefix) + 5;
    char *key_path = malloc(n), *pub_path = malloc(n);
    if (!key_path || !pub_path) {
        free(key_path);
        free(pub_path);
        errno = ENOMEM;
        return errprintf(error, "out of memory");
    }
    snprintf(key_path, n, "%s.key", prefix);
    snprintf(pub_path, n, "%s.pub", prefix);
    int rc = -1;
    struct stat st;
    const char *exists = lstat(key_path, &st) == 0   ? key_path
                         : lstat(pub_path, &st) == 0 ? pub_path
                                                     : NULL;
    if (exists) {
        errno = EEXIST;
        errprintf(error, "'%s' exists; not overwriting it", exists);
        goto out;
    }
    char text[256];
    snprintf(text, sizeof(text),
             "# banyan CURVE key pair: keep this file private.\n"
             "public-key = %s\n"
             "secret-key = %s\n",
             public_key, secret_key);
    if (write_new(key_path, text, 0600, error) < 0)
        goto out;
    snprintf(text, sizeof(text), "%s\n", public_key);
    if (write_new(pub_path, text, 0644, error) < 0) {
        int e = errno;
        unlink(key_path);
        errno = e;
        goto out;
    }
    rc = 0;
out:
    memset(text, 0, sizeof(text));
    free(key_path);
    free(pub_path);
    return rc;
}

/* Strip leading and trailing blanks in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* "name = value": the value if the line names it, else NULL. */
static char *value_of(char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n))
        return NULL;
    char *p = line + n;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '=')
        return NULL;
    return trim(p + 1);
}

int banyan_key_read(const char *path, char *public_key, char *secret_key,
                    banyan_error_t *error)
{
    char *data = NULL;
    size_t len;
    if (util_read_file(path, &data, &len) < 0)
        return errprintf(error, "cannot read key file '%s': %s", path,
                         strerror(errno));
    char pub[BANYAN_KEY_LEN + 1] = "", sec[BANYAN_KEY_LEN + 1] = "";
    int lineno = 0, rc = -1;
    for (char *line = data, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        char *l = trim(line), *v;
        if (!*l)
            continue;
        if (client__key_valid(l) && !pub[0]) {
            strcpy(pub, l);
        } else if ((v = value_of(l, "public-key"))) {
            if (!client__key_valid(v))
                goto bad;
            strcpy(pub, v);
        } else if ((v = value_of(l, "secret-key"))) {
            if (!client__key_valid(v))
                goto bad;
            strcpy(sec, v);
        } else if (*l != '#') {
            goto bad;
        }
    }
    if (!pub[0]) {
        errno = EINVAL;
        errprintf(error, "key file '%s' has no public key", path);
        goto out;
    }
    if (secret_key && !sec[0]) {
        errno = EINVAL;
        errprintf(error, "key file '%s' has no secret key (use the .key "
                         "file, not the .pub)", path);
        goto out;
    }
    strcpy(public_key, pub);
    if (secret_key)
        strcpy(secret_key, sec);
    rc = 0;
    goto out;
bad:
    errno = EINVAL;
    errprintf(error, "key file '%s', line %d: expected a 40-character Z85 "
                     "key", path, lineno);
out:
    memset(sec, 0, sizeof(sec));
    if (data)
        memset(data, 0, len);
    free(data);
    return rc;
}
