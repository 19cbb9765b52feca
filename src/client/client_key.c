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
 * can be concatenated into an allow-list (one key a line).
 *
 * The one reader of both, and of allow-lists, accepts exactly that: a line
 * that is a bare key (a public one), "public-key = K" and "secret-key = K"
 * lines (blanks around '=' optional), blank lines, and comments: other
 * lines that begin with '#' ('#' is a Z85 character, so a bare key may
 * begin with one).  Anything else, a key that is not 40 characters of Z85,
 * or a key given twice is an error naming the file and the line; a NUL
 * byte anywhere is an error naming the file.
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

enum key_line { LINE_SKIP, LINE_PUBLIC, LINE_SECRET, LINE_BAD };

/* What one line of a key file is (the grammar in the file's header); *key
 * gets the key inside line.  A bare key is checked first: '#' and '=' are
 * Z85 characters. */
static enum key_line key_line(char *line, char **key)
{
    char *l = trim(line);
    enum key_line kind = LINE_PUBLIC;
    if (client__key_valid(*key = l))
        return LINE_PUBLIC;
    if (!*l || *l == '#')
        return LINE_SKIP;
    if ((*key = value_of(l, "secret-key")))
        kind = LINE_SECRET;
    else if (!(*key = value_of(l, "public-key")))
        return LINE_BAD;
    return client__key_valid(*key) ? kind : LINE_BAD;
}

/* The next line of *data (NUL-ended in place), or NULL at the end. */
static char *next_line(char **data)
{
    char *line = *data;
    if (!line)
        return NULL;
    *data = strchr(line, '\n');
    if (*data)
        *(*data)++ = '\0';
    return line;
}

/* Read the whole file.  A NUL byte is an error: the lines after it would
 * otherwise be ignored without a word.  0, or -1 with errno and text
 * naming what (key file, key list) and path. */
static int read_text(const char *path, const char *what, char **data,
                     size_t *len, banyan_error_t *error)
{
    if (util_read_file(path, data, len) < 0)
        return errprintf(error, "cannot read %s '%s': %s", what, path,
                         strerror(errno));
    if (memchr(*data, '\0', *len) != NULL) {
        memset(*data, 0, *len);
        free(*data);
        *data = NULL;
        errno = EINVAL;
        return errprintf(error, "%s '%s' contains a NUL byte", what, path);
    }
    return 0;
}

int banyan_key_read(const char *path, char *public_key, char *secret_key,
                    banyan_error_t *error)
{
    char *data = NULL, *rest, *line, *key;
    size_t len;
    if (read_text(path, "key file", &data, &len, error) < 0)
        return -1;
    char pub[BANYAN_KEY_LEN + 1] = "", sec[BANYAN_KEY_LEN + 1] = "";
    const char *what = NULL;
    int lineno = 0, rc = -1;
    for (rest = data; !what && (line = next_line(&rest));) {
        lineno++;
        enum key_line kind = key_line(line, &key);
        char *dst = kind == LINE_PUBLIC ? pub : sec;
        if (kind == LINE_BAD)
            what = "expected a 40-character Z85 key";
        else if (kind != LINE_SKIP && dst[0])
            what = kind == LINE_PUBLIC ? "a second public key"
                                       : "a second secret key";
        else if (kind != LINE_SKIP)
            strcpy(dst, key);
    }
    errno = EINVAL;
    if (what)
        errprintf(error, "key file '%s', line %d: %s", path, lineno, what);
    else if (!pub[0])
        errprintf(error, "key file '%s' has no public key", path);
    else if (secret_key && !sec[0])
        errprintf(error, "key file '%s' has no secret key (use the .key "
                         "file, not the .pub)", path);
    else
        rc = 0;
    if (rc == 0) {
        strcpy(public_key, pub);
        if (secret_key)
            strcpy(secret_key, sec);
    }
    memset(sec, 0, sizeof(sec));
    memset(data, 0, len);
    free(data);
    return rc;
}

char **banyan_key_list_read(const char *path, banyan_error_t *error)
{
    char *data = NULL, *rest, *line, *key;
    size_t len, n = 0;
    if (read_text(path, "key list", &data, &len, error) < 0)
        return NULL;
    /* A key line takes at least 40 bytes: this many slots hold them all. */
    char **keys = calloc(len / BANYAN_KEY_LEN + 1, sizeof(*keys));
    static const char oom[] = "out of memory";
    const char *what = NULL;
    int lineno = 0;
    for (rest = data; keys && !what && (line = next_line(&rest));) {
        lineno++;
        enum key_line kind = key_line(line, &key);
        if (kind == LINE_BAD)
            what = "expected a 40-character Z85 public key";
        else if (kind == LINE_SECRET)
            what = "a secret key (list the .pub files, not the .key)";
        else if (kind == LINE_PUBLIC && !(keys[n++] = strdup(key)))
            what = oom;
    }
    memset(data, 0, len);
    free(data);
    if (keys && !what && n > 0)
        return keys;
    errno = !keys || what == oom ? ENOMEM : EINVAL;
    if (!keys)
        errprintf(error, "%s", oom);
    else if (what)
        errprintf(error, "key list '%s', line %d: %s", path, lineno, what);
    else
        errprintf(error, "key list '%s' has no public key", path);
    banyan_key_list_free(keys);
    return NULL;
}

void banyan_key_list_free(char **keys)
{
    int e = errno;
    for (size_t i = 0; keys && keys[i]; i++)
        free(keys[i]);
    free(keys);
    errno = e;
}
