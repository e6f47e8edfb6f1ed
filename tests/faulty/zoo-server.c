/* zoo-server.c - C members of the faulty zoo: uppercase servers with the habits of hand-written C servers,
 * one defect each, on a base that is otherwise right (dual-stack, SIGPIPE ignored, graceful stop, replies
 * from the address the request was sent to).
 *
 * Usage: zoo-server FAULT PORT     (zoo-server --list)
 * tests/faulty/zoo.toml says which clauses of tests/conformance/PROTOCOL.md each fault breaks. Not for
 * production.
 */
#include "wirecheck/upper.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct fault {
    const char *name;
    int socktype;
    const char *what;
};

static const struct fault faults[] = {
    {"poll-blocking-write", SOCK_STREAM,
     "one process, one poll() loop, blocking write() of each reply: a client that never reads stalls everyone"},
    {"sigpipe", SOCK_STREAM,
     "SIGPIPE left at its default: a write to a client that has gone (RST) kills the whole server"},
    {"line-buffer-4k", SOCK_STREAM,
     "reads each line into char line[4096]: the bytes of a longer line beyond 4,095 are dropped"},
    {"static-buffer", SOCK_STREAM,
     "thread per connection, but one static buffer shared by all threads: concurrent clients get each other's bytes"},
    {"sigterm-exit1", SOCK_STREAM,
     "SIGTERM makes accept() fail with EINTR, which it reports and exits 1 at once"},
    {"no-pktinfo", SOCK_DGRAM,
     "recvfrom()/sendto() on a wildcard socket: the reply leaves from the host's primary address"},
    {"bufsiz", SOCK_DGRAM, "receives into char buf[BUFSIZ]: datagrams above 8,192 bytes are truncated"},
    {"swapped-port", SOCK_DGRAM, "htons() applied twice to the peer's port: the reply goes to the byte-swapped port"},
    {"threads", SOCK_DGRAM, "four threads receive and reply on the same socket: replies overtake each other"},
};

static const struct fault *fault;
static volatile sig_atomic_t stopping;
static atomic_int active;       /* connection threads still running */

#define SETTLE_MS 200           /* on a stop, a connection silent this long has nothing in flight */
#define GRACE_S 5

static int is(const char *name)
{
    return !strcmp(fault->name, name);
}

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static int listen_on(int socktype, int port)
{
    struct sockaddr_in6 a;
    int fd = socket(AF_INET6, socktype, 0), one = 1, zero = 0;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
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

/* read(), except that once a stop was requested a connection silent for SETTLE_MS reads as EOF. */
static ssize_t conn_read(int fd, void *buf, size_t n)
{
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, stopping ? SETTLE_MS : 100);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r > 0) {
            ssize_t got = read(fd, buf, n);
            if (got < 0 && errno == EINTR)
                continue;
            return got;
        }
        if (r == 0 && stopping)
            return 0;
    }
}

static void serve_stream(int fd)
{
    static uint8_t shared[65536];       /* "static-buffer": one for every thread */
    uint8_t own[65536], *buf = is("static-buffer") ? shared : own;
    ssize_t r;

    while ((r = conn_read(fd, buf, sizeof own)) > 0) {
        wc_upper(buf, buf, (size_t)r);
        if (write_all(fd, buf, (size_t)r) < 0)
            break;
    }
}

static void serve_lines_4k(int fd)
{
    char line[4096];
    size_t len = 0;
    uint8_t buf[8192];
    ssize_t r;

    while ((r = conn_read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            if (len < sizeof line - 1)
                line[len++] = (char)buf[i];
            else if (buf[i] == '\n')
                line[len++] = '\n';         /* the one slot kept for the LF */
            if (buf[i] == '\n') {
                wc_upper((uint8_t *)line, (uint8_t *)line, len);
                if (write_all(fd, (uint8_t *)line, len) < 0)
                    return;
                len = 0;
            }
        }
    }
    wc_upper((uint8_t *)line, (uint8_t *)line, len);
    write_all(fd, (uint8_t *)line, len);
}

static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;

    if (is("line-buffer-4k"))
        serve_lines_4k(fd);
    else
        serve_stream(fd);
    close(fd);
    atomic_fetch_sub(&active, 1);
    return NULL;
}

static int run_threads(int lfd)
{
    sigset_t stop_sigs, old;
    int rc;

    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    while (!stopping) {
        int fd = accept(lfd, NULL, NULL);
        pthread_t t;

        if (fd < 0) {
            if (errno == EINTR && is("sigterm-exit1")) {
                perror("accept");
                exit(1);
            }
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return 1;
        }
        atomic_fetch_add(&active, 1);
        /* the connection threads block the stop signals, so that they interrupt this accept() */
        pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);
        rc = pthread_create(&t, NULL, conn_thread, (void *)(intptr_t)fd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            atomic_fetch_sub(&active, 1);
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
    close(lfd);
    for (int i = 0; i < GRACE_S * 100 && atomic_load(&active) > 0; i++)
        usleep(10000);
    return 0;
}

/* "poll-blocking-write": the classic single-process poll() server, replies written with blocking write(). */
static int run_poll(int lfd)
{
    enum { MAXFD = 1024 };
    struct pollfd p[MAXFD];
    struct timespec quiet[MAXFD];
    int n = 1;
    uint8_t buf[65536];

    p[0] = (struct pollfd){lfd, POLLIN, 0};
    for (;;) {
        int r = poll(p, (nfds_t)n, 100);
        struct timespec now;

        if (r < 0 && errno != EINTR)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (stopping && p[0].fd >= 0) {
            close(p[0].fd);
            p[0].fd = -1;
        }
        if (stopping && n == 1)
            return 0;
        if (r <= 0) {
            for (int i = n - 1; stopping && i >= 1; i--)
                if ((now.tv_sec - quiet[i].tv_sec) * 1000 + (now.tv_nsec - quiet[i].tv_nsec) / 1000000 > SETTLE_MS) {
                    close(p[i].fd);
                    n--;
                    p[i] = p[n];
                    quiet[i] = quiet[n];
                }
            continue;
        }
        if (p[0].fd >= 0 && (p[0].revents & POLLIN) && n < MAXFD) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0) {
                quiet[n] = now;
                p[n++] = (struct pollfd){fd, POLLIN, 0};
            }
        }
        for (int i = 1; i < n; i++) {
            ssize_t got;

            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            quiet[i] = now;
            got = read(p[i].fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR)
                continue;
            if (got > 0) {
                wc_upper(buf, buf, (size_t)got);
                if (write_all(p[i].fd, buf, (size_t)got) == 0)     /* blocks while this client does not read */
                    continue;
            }
            close(p[i].fd);
            p[i] = p[--n];
            quiet[i] = quiet[n];
            i--;
        }
    }
}

struct dgram {
    uint8_t data[65536];
    struct sockaddr_in6 peer;
    uint8_t ctl[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* One datagram in, its reply out, from the address it was sent to (unless "no-pktinfo"). Returns -1 when
 * nothing is waiting after a stop request, 0 otherwise. */
static int udp_one(int fd, struct dgram *d, int wait_ms)
{
    size_t cap = is("bufsiz") ? BUFSIZ : sizeof d->data;
    struct iovec iov = {d->data, cap};
    struct msghdr m = {&d->peer, sizeof d->peer, &iov, 1, d->ctl, sizeof d->ctl, 0};
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t r;

    if (poll(&p, 1, stopping ? 0 : wait_ms) <= 0)
        return stopping ? -1 : 0;
    if (is("no-pktinfo")) {
        socklen_t pl = sizeof d->peer;
        r = recvfrom(fd, d->data, cap, MSG_DONTWAIT, (struct sockaddr *)&d->peer, &pl);
        if (r < 0)
            return 0;
        wc_upper(d->data, d->data, (size_t)r);
        sendto(fd, d->data, (size_t)r, 0, (struct sockaddr *)&d->peer, pl);
        return 0;
    }
    r = recvmsg(fd, &m, MSG_DONTWAIT);
    if (r < 0)
        return 0;
    wc_upper(d->data, d->data, (size_t)r);
    iov.iov_len = (size_t)r;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
            ((struct in6_pktinfo *)CMSG_DATA(c))->ipi6_ifindex = 0;
    if (is("swapped-port"))
        d->peer.sin6_port = htons(d->peer.sin6_port);
    m.msg_flags = 0;
    sendmsg(fd, &m, 0);
    return 0;
}

static int udp_fd;

static void *udp_thread(void *arg)
{
    struct dgram *d = malloc(sizeof *d);

    (void)arg;
    if (!d)
        return NULL;
    while (udp_one(udp_fd, d, 100) == 0)
        ;
    free(d);
    return NULL;
}

static int run_udp(int fd)
{
    int one = 1, nthreads = is("threads") ? 4 : 1;
    pthread_t t[4];

    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    udp_fd = fd;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, udp_thread, NULL) != 0)
            return 1;
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    int port, fd;

    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
            printf("%s %s %s\n", faults[i].name, faults[i].socktype == SOCK_STREAM ? "tcp" : "udp", faults[i].what);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: zoo-server FAULT PORT   (zoo-server --list)\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        if (!strcmp(argv[1], faults[i].name))
            fault = &faults[i];
    port = atoi(argv[2]);
    if (!fault || port < 1 || port > 65535) {
        fprintf(stderr, "zoo-server: unknown fault '%s' or bad port '%s' (try --list)\n", argv[1], argv[2]);
        return 2;
    }
    if (!is("sigpipe"))
        signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;        /* no SA_RESTART: accept() and poll() return EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    fd = listen_on(fault->socktype, port);
    if (fd < 0) {
        fprintf(stderr, "zoo-server: port %d: %s\n", port, strerror(errno));
        return 1;
    }
    if (fault->socktype == SOCK_DGRAM)
        return run_udp(fd);
    return is("poll-blocking-write") ? run_poll(fd) : run_threads(fd);
}
