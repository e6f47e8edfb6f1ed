/* sock.c - getaddrinfo-based listen and connect for IPv4 and IPv6. */
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int wc_setsockopt_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
}

/* Formats an address as "1.2.3.4:80" or "[::1]:80" into buf (WC_ADDRSTR_SIZE). */
static const char *addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
    } else {
        snprintf(buf, len, "(family %d)", sa->sa_family);
    }
    return buf;
}

const char *wc_sock_name(int fd, int peer, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
                 : getsockname(fd, (struct sockaddr *)&ss, &sl);

    if (r < 0) {
        snprintf(buf, len, "?");
        return buf;
    }
    return addr_str((struct sockaddr *)&ss, buf, len);
}

static int resolve(const char *host, const char *port, int socktype, int family,
                   int passive, struct addrinfo **res, char *errbuf, size_t errlen)
{
    struct addrinfo hints;
    int r;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    /* No AI_ADDRCONFIG: a namespace with only lo must still resolve ::1. */
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    if (host && (!*host || !strcmp(host, "*")))
        host = NULL;
    r = getaddrinfo(host, port, &hints, res);
    if (r != 0) {
        snprintf(errbuf, errlen, "resolve %s port %s: %s", host ? host : "*", port,
                 r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
        return -1;
    }
    return 0;
}

int wc_listen(const struct wc_listen_opts *o, int *fds, int max, char *errbuf, size_t errlen)
{
    struct addrinfo *res, *ai;
    char as[WC_ADDRSTR_SIZE];
    int n = 0;

    if (resolve(o->host, o->port, o->socktype, o->family, 1, &res, errbuf, errlen) < 0)
        return -1;
    for (ai = res; ai && n < max; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            /* A host without IPv6 still serves IPv4. */
            snprintf(errbuf, errlen, "socket(%s): %s", addr_str(ai->ai_addr, as, sizeof as),
                     strerror(errno));
            continue;
        }
        if (ai->ai_family == AF_INET6)
            (void)wc_setsockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
        if (o->socktype == SOCK_STREAM)
            (void)wc_setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (o->reuseport)
            (void)wc_setsockopt_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
            (o->socktype == SOCK_STREAM && listen(fd, o->backlog > 0 ? o->backlog : SOMAXCONN) < 0)) {
            int e = errno;

            snprintf(errbuf, errlen, "bind %s: %s", addr_str(ai->ai_addr, as, sizeof as),
                     strerror(e));
            wc_close(fd);
            if (e == EADDRINUSE || e == EACCES)
                goto fail;      /* a real conflict, not a missing family */
            continue;
        }
        fds[n++] = fd;
    }
    freeaddrinfo(res);
    return n > 0 ? n : -1;
fail:
    freeaddrinfo(res);
    while (n > 0)
        wc_close(fds[--n]);
    return -1;
}

/* Waits for a non-blocking connect to finish. Returns 0 or -errno. */
static int connect_wait(int fd, int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int err = 0;
    socklen_t el = sizeof err;
    int r = wc_poll(&pfd, 1, timeout_ms);

    if (r < 0)
        return r;
    if (r == 0)
        return -ETIMEDOUT;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        return -errno;
    return -err;
}

int wc_connect(const char *host, const char *port, int socktype, int family,
               int timeout_ms, char *errbuf, size_t errlen)
{
    struct addrinfo *res, *ai;
    char as[WC_ADDRSTR_SIZE];
    int fd = -1;

    if (resolve(host, port, socktype, family, 0, &res, errbuf, errlen) < 0)
        return -1;
    snprintf(errbuf, errlen, "connect %s port %s: no address", host, port);
    for (ai = res; ai; ai = ai->ai_next) {
        int r;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            snprintf(errbuf, errlen, "socket: %s", strerror(errno));
            continue;
        }
        r = connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ? -errno : 0;
        if (r == -EINPROGRESS)
            r = connect_wait(fd, timeout_ms);
        if (r == 0)
            break;
        snprintf(errbuf, errlen, "connect %s: %s", addr_str(ai->ai_addr, as, sizeof as),
                 strerror(-r));
        wc_close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}
