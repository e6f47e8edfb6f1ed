/* faulty-server.c - uppercase servers with one deliberate defect each, for testing the suite's teeth.
 *
 * Usage: faulty-server FAULT PORT
 * Each fault breaks exactly the clause of tests/conformance/PROTOCOL.md named beside it and is
 * otherwise a plain blocking implementation, the way the lecture writes it. Not for production.
 */
#include "wirecheck/upper.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fault {
    const char *name;
    int socktype;
    const char *breaks;     /* the clause it violates */
    const char *what;
};

static const struct fault faults[] = {
    {"first-line", SOCK_STREAM, "T3", "answers only the first line of a connection and never closes it (the seed's TCPServer)"},
    {"serial", SOCK_STREAM, "T6", "serves one connection at a time: an idle client blocks the others"},
    {"latin1", SOCK_STREAM, "T2", "also upper-cases Latin-1 letters 0xE0-0xFE"},
    {"rst", SOCK_STREAM, "T4", "answers, then closes with RST instead of FIN"},
    {"waits", SOCK_STREAM, "T3", "answers only when 4 KiB have gathered or the client half-closes"},
    {"drop-tail", SOCK_STREAM, "T4", "drops an unterminated last line at the half-close"},
    {"pad", SOCK_DGRAM, "U1", "replies with its whole 1024-byte buffer, stale bytes included (the seed's UDPServer)"},
    {"cstring", SOCK_DGRAM, "U1", "treats the payload as a C string: stops at the first NUL"},
    {"other-port", SOCK_DGRAM, "U2", "replies from a second socket with another port"},
    {"swap", SOCK_DGRAM, "U3", "sends the replies of each pair of requests in swapped order"},
    {"double", SOCK_DGRAM, "U1", "replies twice to every datagram"},
};

static const struct fault *fault;

static int listen_on(int socktype, int port)
{
    struct sockaddr_in6 a;
    int fd = socket(AF_INET6, socktype, 0), one = 1, zero = 0;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);     /* IPv4 too, mapped */
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)port);
    a.sin6_addr = in6addr_any;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        (socktype == SOCK_STREAM && listen(fd, 128) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void transform(uint8_t *p, size_t n)
{
    wc_upper(p, p, n);
    if (!strcmp(fault->name, "latin1"))
        for (size_t i = 0; i < n; i++)
            if (p[i] >= 0xE0 && p[i] <= 0xFE && p[i] != 0xF7)
                p[i] = (uint8_t)(p[i] - 0x20);
}

static void *serve_tcp(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t buf[8192], *acc = NULL;
    size_t acc_len = 0;
    ssize_t r;

    while ((r = read(fd, buf, sizeof buf)) > 0) {
        transform(buf, (size_t)r);
        if (!strcmp(fault->name, "first-line")) {
            /* The first line's bytes as they come (the seed's readLine loses none of them), then nothing. */
            uint8_t *lf = memchr(buf, '\n', (size_t)r);
            write_all(fd, buf, lf ? (size_t)(lf - buf) + 1 : (size_t)r);
            if (lf)
                for (;;)            /* like the seed: the connection is simply abandoned */
                    pause();
            continue;
        }
        if (!strcmp(fault->name, "waits") || !strcmp(fault->name, "drop-tail")) {
            uint8_t *n = realloc(acc, acc_len + (size_t)r);
            if (!n)
                break;
            acc = n;
            memcpy(acc + acc_len, buf, (size_t)r);
            acc_len += (size_t)r;
            size_t send_len = acc_len;
            if (!strcmp(fault->name, "drop-tail")) {
                /* acc holds no LF before this read's bytes: scanning only them keeps a long line linear */
                uint8_t *lf = memrchr(acc + acc_len - (size_t)r, '\n', (size_t)r);
                send_len = lf ? (size_t)(lf - acc) + 1 : 0;
            } else if (acc_len < 4096) {
                continue;
            }
            write_all(fd, acc, send_len);
            memmove(acc, acc + send_len, acc_len - send_len);
            acc_len -= send_len;
            continue;
        }
        write_all(fd, buf, (size_t)r);
    }
    if (!strcmp(fault->name, "waits"))
        write_all(fd, acc, acc_len);
    free(acc);
    if (!strcmp(fault->name, "rst")) {
        struct linger l = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(fd);
    return NULL;
}

static int run_tcp(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        pthread_t t;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return 1;
        }
        if (!strcmp(fault->name, "serial")) {
            serve_tcp((void *)(intptr_t)fd);
            continue;
        }
        if (pthread_create(&t, NULL, serve_tcp, (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}

static int run_udp(int fd)
{
    static uint8_t buf[1024];           /* the seed's fixed buffer, for "pad" */
    static uint8_t big[65536], held[65536];
    struct sockaddr_storage peer, held_peer;
    socklen_t pl, held_pl = 0;
    size_t held_len = 0;
    int other = socket(AF_INET6, SOCK_DGRAM, 0), zero = 0;
    int have_held = 0;

    setsockopt(other, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    for (;;) {
        uint8_t *p = !strcmp(fault->name, "pad") ? buf : big;
        size_t cap = !strcmp(fault->name, "pad") ? sizeof buf : sizeof big;
        ssize_t r;

        pl = sizeof peer;
        r = recvfrom(fd, p, cap, 0, (struct sockaddr *)&peer, &pl);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        size_t n = (size_t)r;
        transform(p, n);
        if (!strcmp(fault->name, "pad"))
            n = sizeof buf;
        else if (!strcmp(fault->name, "cstring"))
            n = strnlen((char *)p, n);
        if (!strcmp(fault->name, "swap")) {
            if (!have_held) {
                memcpy(held, p, n);
                held_len = n;
                held_peer = peer;
                held_pl = pl;
                have_held = 1;
                continue;
            }
            sendto(fd, p, n, 0, (struct sockaddr *)&peer, pl);
            sendto(fd, held, held_len, 0, (struct sockaddr *)&held_peer, held_pl);
            have_held = 0;
            continue;
        }
        sendto(!strcmp(fault->name, "other-port") ? other : fd, p, n, 0, (struct sockaddr *)&peer, pl);
        if (!strcmp(fault->name, "double"))
            sendto(fd, p, n, 0, (struct sockaddr *)&peer, pl);
    }
}

int main(int argc, char **argv)
{
    int port, fd;

    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
            printf("%s %s %s %s\n", faults[i].name, faults[i].socktype == SOCK_STREAM ? "tcp" : "udp",
                   faults[i].breaks, faults[i].what);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: faulty-server FAULT PORT   (faulty-server --list)\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        if (!strcmp(argv[1], faults[i].name))
            fault = &faults[i];
    port = atoi(argv[2]);
    if (!fault || port < 1 || port > 65535) {
        fprintf(stderr, "faulty-server: unknown fault '%s' or bad port '%s' (try --list)\n", argv[1], argv[2]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    fd = listen_on(fault->socktype, port);
    if (fd < 0) {
        fprintf(stderr, "faulty-server: port %d: %s\n", port, strerror(errno));
        return 1;
    }
    return fault->socktype == SOCK_STREAM ? run_tcp(fd) : run_udp(fd);
}
