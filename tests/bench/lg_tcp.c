/* lg_tcp.c - TCP load: pipelined streams, short connections, idle connections, the null server. */
#include "loadgen.h"
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"
#include "wirecheck/upper.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define PATTERN_BYTES (64 * 1024)       /* requests repeat with this period (rounded to lines) */
#define READ_BYTES (256 * 1024)
#define EPOLL_BATCH 256
#define WARMUP_TRIPS 1000               /* idle mode: round trips after opening, before timing */
#define SOURCE_ADDRS 32                 /* 127.0.0.2.. for short connections: 32x the port space */

/* The requests and the replies they must get, PERIOD bytes each. */
struct pattern {
    uint8_t *req, *rep;
    size_t period, line;
};

static int pattern_init(struct pattern *p, size_t line, int echo)
{
    p->line = line;
    p->period = PATTERN_BYTES / line * line;
    if (p->period == 0)
        p->period = line;
    p->req = malloc(p->period);
    p->rep = malloc(p->period);
    if (!p->req || !p->rep)
        return -1;
    lg_fill_lines(p->req, p->period, line, 1);
    if (echo)
        memcpy(p->rep, p->req, p->period);
    else
        wc_upper(p->rep, p->req, p->period);
    return 0;
}

static void pattern_free(struct pattern *p)
{
    free(p->req);
    free(p->rep);
}

/* Compares n reply bytes at stream offset off with what they should be.
 * Returns n, or the offset within got of the first wrong byte. */
static size_t pattern_check(const struct pattern *p, unsigned long long off, const uint8_t *got, size_t n)
{
    size_t done = 0;

    while (done < n) {
        size_t at = (size_t)((off + done) % p->period), k = p->period - at;
        if (k > n - done)
            k = n - done;
        if (memcmp(p->rep + at, got + done, k) != 0)
            return done + lg_first_diff(p->rep + at, got + done, k);
        done += k;
    }
    return n;
}

/* --- pipelined streams (stream and pipeline modes) ---------------------- */

struct flow {
    int fd;
    unsigned long long sent, recvd;
};

/* Reads every reply that is there, checking each byte, then writes requests
 * until WINDOW bytes are unanswered or the socket is full. Edge-triggered:
 * both directions are drained. Returns 0, -EPROTO on a wrong byte, or -errno. */
static int flow_pump(struct flow *f, const struct pattern *p, size_t window, uint8_t *buf,
                     unsigned long long *bad_off)
{
    for (;;) {
        ssize_t r = wc_read(f->fd, buf, READ_BYTES);
        size_t ok;

        if (r == -EAGAIN)
            break;
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -ECONNRESET;
        ok = pattern_check(p, f->recvd, buf, (size_t)r);
        if (ok < (size_t)r) {
            *bad_off = f->recvd + ok;
            return -EPROTO;
        }
        f->recvd += (unsigned long long)r;
    }
    while (f->sent - f->recvd < window) {
        size_t at = (size_t)(f->sent % p->period), n = p->period - at;
        size_t room = window - (size_t)(f->sent - f->recvd);
        ssize_t w;

        if (n > room)
            n = room;
        w = wc_write(f->fd, p->req + at, n);
        if (w == -EAGAIN)
            break;
        if (w < 0)
            return (int)w;
        f->sent += (unsigned long long)w;
    }
    return 0;
}

int lg_stream(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen)
{
    size_t nf = (size_t)o->conns, window = (size_t)o->window;
    struct flow *flows = calloc(nf, sizeof *flows);
    uint8_t *buf = malloc(READ_BYTES);
    struct epoll_event ev[EPOLL_BATCH];
    struct pattern p = { 0 };
    unsigned long long t0, t1, deadline, bytes = 0, bad_off = 0;
    double cpu0;
    int ep = epoll_create1(EPOLL_CLOEXEC), rc = 1, err = 0;
    size_t opened = 0;

    if (!flows || !buf || ep < 0 || pattern_init(&p, (size_t)o->line, o->echo) < 0) {
        snprintf(errbuf, errlen, "set-up: %s", strerror(errno));
        goto out;
    }
    for (; opened < nf; opened++) {
        struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = &flows[opened] };

        flows[opened].fd = wc_connect(o->host, o->port, SOCK_STREAM, AF_UNSPEC, 5000, errbuf, errlen);
        if (flows[opened].fd < 0)
            goto out;
        (void)wc_setsockopt_int(flows[opened].fd, IPPROTO_TCP, TCP_NODELAY, 1);
        if (epoll_ctl(ep, EPOLL_CTL_ADD, flows[opened].fd, &e) < 0) {
            snprintf(errbuf, errlen, "epoll_ctl: %s", strerror(errno));
            wc_close(flows[opened].fd);
            goto out;
        }
    }
    cpu0 = lg_cpu_seconds();
    t0 = wc_now_ns();
    deadline = t0 + (unsigned long long)o->duration_ms * 1000000ull;
    while (!err && wc_now_ns() < deadline) {
        int n = epoll_wait(ep, ev, EPOLL_BATCH, 10);

        for (int i = 0; i < n && !err; i++) {
            struct flow *f = ev[i].data.ptr;
            unsigned long long before = f->recvd;

            err = flow_pump(f, &p, window, buf, &bad_off);
            bytes += f->recvd - before;
        }
    }
    t1 = wc_now_ns();
    if (err == -EPROTO) {
        snprintf(errbuf, errlen, "reply byte at stream offset %llu is not the %s of the request",
                 bad_off, o->echo ? "copy" : "upper case");
        rc = LG_EXIT_MISMATCH;
        goto out;
    }
    if (err) {
        snprintf(errbuf, errlen, "connection: %s", strerror(-err));
        goto out;
    }
    {
        double s = (double)(t1 - t0) / 1e9;

        lg_report_add(rep, "connections", (double)nf);
        lg_report_add(rep, "line_bytes", (double)o->line);
        lg_report_add(rep, "reply_bytes_per_s", (double)bytes / s);
        lg_report_add(rep, "gbit_per_s", (double)bytes * 8 / s / 1e9);
        lg_report_add(rep, "lines_per_s", (double)bytes / (double)o->line / s);
        lg_report_add(rep, "client_cpu", (lg_cpu_seconds() - cpu0) / s);
        lg_report_add(rep, "seconds", s);
    }
    rc = 0;
out:
    for (size_t i = 0; i < opened; i++)
        wc_close(flows[i].fd);
    if (ep >= 0)
        wc_close(ep);
    pattern_free(&p);
    free(flows);
    free(buf);
    return rc;
}

/* --- short connections -------------------------------------------------- */

struct shortconn {
    int fd;
    size_t got;
    uint8_t reply[256];
};

struct connrate {
    const struct lg_opts *o;
    struct sockaddr_storage dst;
    socklen_t dstlen;
    int ep;
    unsigned next_src;
    const uint8_t *req, *rep;
    unsigned long long answered, unanswered, failed, wrong;
};

static int resolve_one(const char *host, const char *port, struct sockaddr_storage *ss, socklen_t *len,
                       char *errbuf, size_t errlen)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
    int r = getaddrinfo(host, port, &hints, &res);

    if (r != 0) {
        snprintf(errbuf, errlen, "resolve %s port %s: %s", host, port, gai_strerror(r));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Starts one connection in slot s. Returns 0 or -errno. */
static int shortconn_start(struct connrate *cr, struct shortconn *s)
{
    struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = s };
    int fd = socket(cr->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    /* Loopback answers all of 127/8: spreading the source address keeps the
     * run clear of the ephemeral port range and of TIME_WAIT. */
    if (cr->dst.ss_family == AF_INET &&
        ((struct sockaddr_in *)&cr->dst)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
        struct sockaddr_in src = { .sin_family = AF_INET };

        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + cr->next_src++ % SOURCE_ADDRS);
        (void)wc_setsockopt_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        (void)bind(fd, (struct sockaddr *)&src, sizeof src);
    }
    if (connect(fd, (struct sockaddr *)&cr->dst, cr->dstlen) < 0 && errno != EINPROGRESS) {
        int e2 = errno;
        wc_close(fd);
        return -e2;
    }
    if (epoll_ctl(cr->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
        int e2 = errno;
        wc_close(fd);
        return -e2;
    }
    s->fd = fd;
    s->got = 0;
    return 0;
}

/* The connection's last step: its outcome is counted, the fd closed
 * (gracefully: the seed's pattern), and the slot reused. */
static void shortconn_finish(struct connrate *cr, struct shortconn *s, unsigned long long *counter)
{
    (*counter)++;
    wc_close(s->fd);
    s->fd = -1;
    while (shortconn_start(cr, s) < 0)
        cr->failed++;       /* out of ports or fds: the count shows it */
}

/* Writes the line once connected, then reads until the whole reply or EOF. */
static void shortconn_event(struct connrate *cr, struct shortconn *s, uint32_t events)
{
    size_t line = (size_t)cr->o->line;

    if (events & EPOLLOUT && s->got == 0 && !(events & EPOLLERR)) {
        ssize_t w = wc_write(s->fd, cr->req, line);
        if (w == (ssize_t)line)
            s->got = 1;         /* marks the request as sent; the reply counts from here */
        else if (w < 0 && w != -EAGAIN) {
            shortconn_finish(cr, s, w == -ECONNREFUSED ? &cr->failed : &cr->unanswered);
            return;
        }
    }
    if (events & EPOLLERR && s->got == 0) {
        shortconn_finish(cr, s, &cr->failed);
        return;
    }
    while (s->got > 0) {
        size_t have = s->got - 1;
        ssize_t r = wc_read(s->fd, s->reply + have, sizeof s->reply - have);

        if (r == -EAGAIN)
            return;
        if (r <= 0) {           /* EOF or reset before the reply: the null server */
            shortconn_finish(cr, s, have >= line ? &cr->answered : &cr->unanswered);
            return;
        }
        s->got += (size_t)r;
        if (s->got - 1 >= line) {
            if (memcmp(s->reply, cr->rep, line) != 0)
                cr->wrong++;
            shortconn_finish(cr, s, &cr->answered);
            return;
        }
    }
}

int lg_connrate(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen)
{
    struct connrate cr = { .o = o, .ep = -1 };
    size_t ns = (size_t)o->conns, line = (size_t)o->line;
    struct shortconn *slots = calloc(ns, sizeof *slots);
    uint8_t *req = malloc(line), *want = malloc(line);
    struct epoll_event ev[EPOLL_BATCH];
    unsigned long long t0, t1, deadline;
    double cpu0;
    int rc = 1;

    if (!slots || !req || !want || line > sizeof slots[0].reply) {
        snprintf(errbuf, errlen, "set-up: %s", line > sizeof slots[0].reply ? "line too long" : strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < ns; i++)
        slots[i].fd = -1;
    lg_fill_lines(req, line, line, 7);
    if (o->echo)
        memcpy(want, req, line);
    else
        wc_upper(want, req, line);
    cr.req = req;
    cr.rep = want;
    if (resolve_one(o->host, o->port, &cr.dst, &cr.dstlen, errbuf, errlen) < 0)
        goto out;
    cr.ep = epoll_create1(EPOLL_CLOEXEC);
    if (cr.ep < 0) {
        snprintf(errbuf, errlen, "epoll_create1: %s", strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < ns; i++) {
        int r = shortconn_start(&cr, &slots[i]);
        if (r < 0) {
            snprintf(errbuf, errlen, "connect: %s", strerror(-r));
            goto out;
        }
    }
    cpu0 = lg_cpu_seconds();
    t0 = wc_now_ns();
    deadline = t0 + (unsigned long long)o->duration_ms * 1000000ull;
    while (wc_now_ns() < deadline) {
        int n = epoll_wait(cr.ep, ev, EPOLL_BATCH, 10);

        for (int i = 0; i < n; i++)
            shortconn_event(&cr, ev[i].data.ptr, ev[i].events);
    }
    t1 = wc_now_ns();
    if (cr.wrong) {
        snprintf(errbuf, errlen, "%llu replies were not the %s of the request", cr.wrong,
                 o->echo ? "copy" : "upper case");
        rc = LG_EXIT_MISMATCH;
        goto out;
    }
    {
        double s = (double)(t1 - t0) / 1e9;

        lg_report_add(rep, "concurrency", (double)ns);
        lg_report_add(rep, "conns_per_s", (double)(cr.answered + cr.unanswered) / s);
        lg_report_add(rep, "answered", (double)cr.answered);
        lg_report_add(rep, "unanswered", (double)cr.unanswered);
        lg_report_add(rep, "failed", (double)cr.failed);
        lg_report_add(rep, "client_cpu", (lg_cpu_seconds() - cpu0) / s);
        lg_report_add(rep, "seconds", s);
    }
    rc = 0;
out:
    for (size_t i = 0; slots && i < ns; i++)
        wc_close(slots[i].fd);
    if (cr.ep >= 0)
        wc_close(cr.ep);
    free(slots);
    free(req);
    free(want);
    return rc;
}

/* --- idle connections and latency --------------------------------------- */

/* Times N round trips of one line on fd into us[]. Returns 0, -EPROTO on a
 * wrong reply, or -errno. */
static int round_trips(int fd, const uint8_t *req, const uint8_t *want, size_t line, double *us, long long n)
{
    uint8_t got[256];

    for (long long i = 0; i < n; i++) {
        unsigned long long t = wc_now_ns();
        size_t have = 0;
        int r = wc_write_all(fd, req, line);

        if (r < 0)
            return r;
        while (have < line) {
            struct pollfd pfd = { .fd = fd, .events = POLLIN };
            ssize_t k = wc_read(fd, got + have, line - have);

            if (k == -EAGAIN) {
                if (wc_poll(&pfd, 1, 5000) <= 0)
                    return -ETIMEDOUT;
                continue;
            }
            if (k <= 0)
                return k == 0 ? -ECONNRESET : (int)k;
            have += (size_t)k;
        }
        us[i] = (double)(wc_now_ns() - t) / 1e3;
        if (memcmp(got, want, line) != 0)
            return -EPROTO;
    }
    return 0;
}

/* Polls the server's fd count up to a deadline: it has accepted them all. */
static int wait_accepted(long long pid, long long want_fds)
{
    unsigned long long deadline = wc_now_ns() + 30000000000ull;

    while (lg_fd_count(pid) < want_fds) {
        if (wc_now_ns() > deadline)
            return -ETIMEDOUT;
        (void)wc_poll(NULL, 0, 5);  /* a poll interval against a deadline, not a readiness wait */
    }
    return 0;
}

int lg_idle(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen)
{
    static const uint8_t partial[] = "a partial line, no end";
    size_t line = (size_t)o->line, n = (size_t)o->idle;
    long long ns = o->samples, fds0 = 0, rss0 = 0, rss1 = 0;
    int *idle = malloc(n * sizeof *idle), active = -1, rc = 1, r;
    double *base = malloc((size_t)ns * sizeof *base), *loaded = malloc((size_t)ns * sizeof *loaded);
    uint8_t req[256], want[256];
    size_t opened = 0;

    if (!idle || !base || !loaded || line > sizeof req) {
        snprintf(errbuf, errlen, "set-up: %s", line > sizeof req ? "line too long" : strerror(errno));
        goto out;
    }
    lg_raise_nofile((long long)n + 64);
    lg_fill_lines(req, line, line, 3);
    wc_upper(want, req, line);
    active = wc_connect(o->host, o->port, SOCK_STREAM, AF_UNSPEC, 5000, errbuf, errlen);
    if (active < 0)
        goto out;
    (void)wc_setsockopt_int(active, IPPROTO_TCP, TCP_NODELAY, 1);
    r = round_trips(active, req, want, line, base, ns);
    if (r < 0)
        goto rt_failed;
    if (o->server_pid > 0) {
        fds0 = lg_fd_count(o->server_pid);
        rss0 = lg_rss_kib(o->server_pid);
    }
    for (; opened < n; opened++) {
        idle[opened] = wc_connect(o->host, o->port, SOCK_STREAM, AF_UNSPEC, 5000, errbuf, errlen);
        if (idle[opened] < 0)
            goto out;
        /* A third hold a line the server has seen begin but not end. */
        r = opened % 3 == 0 ? wc_write_all(idle[opened], partial, sizeof partial - 1) : 0;
        if (r < 0) {
            snprintf(errbuf, errlen, "partial line: %s", strerror(-r));
            opened++;
            goto out;
        }
    }
    if (o->server_pid > 0) {
        if (wait_accepted(o->server_pid, fds0 + (long long)n) < 0) {
            snprintf(errbuf, errlen, "server pid %lld did not accept %zu connections in 30 s",
                     o->server_pid, n);
            goto out;
        }
        rss1 = lg_rss_kib(o->server_pid);
    }
    /* Not timed: the server may still be reading the partial lines, which is
     * the cost of opening connections, not of holding them. */
    r = round_trips(active, req, want, line, loaded, ns < WARMUP_TRIPS ? ns : WARMUP_TRIPS);
    if (r == 0)
        r = round_trips(active, req, want, line, loaded, ns);
    if (r < 0)
        goto rt_failed;
    {
        double p99b = lg_percentile(base, (size_t)ns, 99), p99l = lg_percentile(loaded, (size_t)ns, 99);

        lg_report_add(rep, "idle_conns", (double)n);
        lg_report_add(rep, "p50_us_alone", lg_percentile(base, (size_t)ns, 50));
        lg_report_add(rep, "p99_us_alone", p99b);
        lg_report_add(rep, "p50_us_idle", lg_percentile(loaded, (size_t)ns, 50));
        lg_report_add(rep, "p99_us_idle", p99l);
        lg_report_add(rep, "p99_ratio", p99b > 0 ? p99l / p99b : 0);
        if (o->server_pid > 0) {
            lg_report_add(rep, "rss_kib_before", (double)rss0);
            lg_report_add(rep, "rss_kib_after", (double)rss1);
            lg_report_add(rep, "rss_bytes_per_conn", (double)(rss1 - rss0) * 1024.0 / (double)n);
        }
    }
    rc = 0;
    goto out;
rt_failed:
    snprintf(errbuf, errlen, "round trip: %s", r == -EPROTO ? "the reply was not the upper case" : strerror(-r));
    rc = r == -EPROTO ? LG_EXIT_MISMATCH : 1;
out:
    for (size_t i = 0; i < opened; i++)
        wc_close(idle[i]);
    wc_close(active);
    free(idle);
    free(base);
    free(loaded);
    return rc;
}

/* --- the null server ----------------------------------------------------- */

int lg_null_server(const struct lg_opts *o, char *errbuf, size_t errlen)
{
    struct wc_listen_opts lo = { .host = o->host, .port = o->port, .socktype = SOCK_STREAM,
                                 .family = AF_UNSPEC, .backlog = SOMAXCONN };
    struct pollfd pfd[WC_MAX_LISTENERS];
    int fds[WC_MAX_LISTENERS], n = wc_listen(&lo, fds, WC_MAX_LISTENERS, errbuf, errlen);

    if (n < 0)
        return 1;
    for (int i = 0; i < n; i++)
        pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    fprintf(stderr, "loadgen: null server ready on port %s\n", o->port);
    for (;;) {
        int r = wc_poll(pfd, (nfds_t)n, -1);

        if (r < 0) {
            snprintf(errbuf, errlen, "poll: %s", strerror(-r));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd;

            if (!(pfd[i].revents & POLLIN))
                continue;
            while ((fd = wc_accept(fds[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
                wc_close(fd);
        }
    }
}
