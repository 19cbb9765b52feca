/* SPDX-License-Identifier: MIT */
/* msg_addr.c - endpoint classification, this host's address towards an
 * endpoint, and CURVE key generation.
 *
 * msg_endpoint_is_loopback() decides whether a bind needs CURVE keys, so it
 * errs on the side of "no": only numeric loopback addresses (127.0.0.0/8,
 * ::1, ::ffff:127.x), the name "localhost", the interface "lo", and the
 * host-local transports ipc:// and inproc:// count.  A host name such as
 * "127.evil.example" is not an address and is not loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <zmq.h>

#include "msg/msg_private.h"

bool msg_endpoint_is_loopback(const char *endpoint)
{
    if (endpoint == NULL)
        return false;
    if (strncmp(endpoint, "ipc://", 6) == 0
        || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *semi = strrchr(host, ';');   /* "source;destination" */
    if (semi != NULL)
        host = semi + 1;
    const char *colon = strrchr(host, ':');
    size_t len = colon != NULL ? (size_t)(colon - host) : strlen(host);
    char buf[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    char *h = buf;
    if (h[0] == '[') {
        if (len < 2 || h[len - 1] != ']')
            return false;
        h[len - 1] = '\0';
        h++;
    }
    if (strcasecmp(h, "localhost") == 0 || strcmp(h, "lo") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, h, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
    }
    return false;
}

int msg_curve_keypair(char *public_key, char *secret_key)
{
    if (public_key == NULL || secret_key == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!zmq_has("curve")) {
        errno = ENOTSUP;
        return -1;
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) < 0)
        return -1;
    memcpy(public_key, pub, sizeof pub);
    memcpy(secret_key, sec, sizeof sec);
    return 0;
}

void msg_local_endpoint(const char *endpoint, char *out, size_t size)
{
    out[0] = '\0';
    char host[256];
    const char *h = endpoint + strlen("tcp://");
    const char *colon = strrchr(h, ':');
    size_t len = colon ? (size_t)(colon - h) : strlen(h);
    if (len >= sizeof(host))
        return;
    memcpy(host, h, len);
    host[len] = '\0';
    char *hp = host;
    if (hp[0] == '[' && len > 1 && hp[len - 1] == ']') {
        hp[len - 1] = '\0';
        hp++;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
    if (getaddrinfo(hp, colon ? colon + 1 : "7878", &hints, &ai) != 0)
        return;
    int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN];
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        const void *a = ss.ss_family == AF_INET6
                            ? (const void *)&((struct sockaddr_in6 *)&ss)
                                  ->sin6_addr
                            : (const void *)&((struct sockaddr_in *)&ss)
                                  ->sin_addr;
        if (inet_ntop(ss.ss_family, a, addr, sizeof(addr)))
            snprintf(out, size, ss.ss_family == AF_INET6 ? "tcp://[%s]:0"
                                                         : "tcp://%s:0",
                     addr);
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
}
