/* zoo-client.c - C members of the faulty zoo on the client side: uppercase clients with one defect each.
 *
 * Usage: zoo-client FAULT HOST PORT     (zoo-client --list)
 * tests/faulty/zoo.toml says which clause each fault breaks. Not for production.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct fault {
    const char *name;
    int socktype;
    const char *what;
};

static const struct fault faults[] = {
    {"udp-stale-buffer", SOCK_DGRAM,
     "printf(\"FROM SERVER:%s\\n\", buf) on a receive buffer that is never NUL-terminated: stale bytes of a longer "
     "earlier reply are printed after a shorter one"},
    {"tcp-exit0-early-close", SOCK_STREAM,
     "pipelined and half-closing, but when the server closes before every line has its reply it exits 0"},
};

static const struct fault *fault;

static int dial(const char *host, const char *port, int socktype)
{
    struct addrinfo hints = {0}, *res, *ai;
    int fd = -1;

    hints.ai_socktype = socktype;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int udp_stale(int fd)
{
    static char buf[65536];         /* never cleared, never terminated after a reply */
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int missing = 0;
    struct timeval tv = {1, 0};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while ((n = getline(&line, &cap, stdin)) > 0) {
        int got = 0;

        if (line[n - 1] == '\n')
            n--;
        for (int attempt = 0; attempt < 3 && !got; attempt++) {
            send(fd, line, (size_t)n, 0);
            got = recv(fd, buf, sizeof buf - 1, 0) >= 0;
        }
        if (got)
            printf("FROM SERVER:%s\n", buf);
        else {
            fprintf(stderr, "udp-client: no reply to a %zd-byte message after 3 tries\n", n);
            missing = 1;
        }
    }
    free(line);
    return missing ? 3 : 0;
}

static void *send_stdin(void *arg)
{
    int fd = *(int *)arg;
    char buf[65536];
    size_t n;

    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        if (send(fd, buf, n, MSG_NOSIGNAL) < 0)
            break;
    shutdown(fd, SHUT_WR);
    return NULL;
}

static int tcp_exit0(int fd)
{
    pthread_t t;
    char buf[65536];
    ssize_t n;
    int at_line_start = 1;

    if (pthread_create(&t, NULL, send_stdin, &fd) != 0)
        return 1;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (at_line_start)
                fputs("FROM SERVER: ", stdout);
            putchar(buf[i]);
            at_line_start = buf[i] == '\n';
        }
    if (!at_line_start)
        putchar('\n');
    fflush(stdout);
    return 0;       /* the defect: whether every line got its reply is never checked */
}

int main(int argc, char **argv)
{
    int fd;

    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
            printf("%s %s %s\n", faults[i].name, faults[i].socktype == SOCK_STREAM ? "tcp" : "udp", faults[i].what);
        return 0;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: zoo-client FAULT HOST PORT   (zoo-client --list)\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        if (!strcmp(argv[1], faults[i].name))
            fault = &faults[i];
    if (!fault) {
        fprintf(stderr, "zoo-client: unknown fault '%s' (try --list)\n", argv[1]);
        return 2;
    }
    fd = dial(argv[2], argv[3], fault->socktype);
    if (fd < 0) {
        fprintf(stderr, "zoo-client: %s port %s: cannot connect\n", argv[2], argv[3]);
        return 1;
    }
    return fault->socktype == SOCK_DGRAM ? udp_stale(fd) : tcp_exit0(fd);
}
