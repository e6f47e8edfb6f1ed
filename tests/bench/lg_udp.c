/* lg_udp.c - UDP load: many datagrams outstanding, sent and received in batches, every reply checked. */
#include "loadgen.h"
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"
#include "wirecheck/upper.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>

#define SEQ_DIGITS 10                   /* digits pass the transform unchanged */
#define RX_BYTES 65536                  /* per received message: room for GRO and merged echoes */
#define LOSS_TIMEOUT_NS 20000000ull     /* no reply this long: what is outstanding is lost */
#define SOCKET_BUFFER (4 << 20)

struct udp_run {
    int fd;
    size_t len;
    unsigned batch;
    uint8_t *tx, *rx, *want;            /* batch datagrams out, batch messages in, the reply body */
    struct mmsghdr *txm, *rxm;
    struct iovec *txv, *rxv;
    int gso;                            /* send each batch as one UDP_SEGMENT message */
    unsigned long long sent, received, lost, wrong;
};

/* Datagram SEQ: ten decimal digits, then mixed-case text. */
static void datagram_fill(uint8_t *d, size_t len, const uint8_t *body, unsigned long long seq)
{
    char digits[SEQ_DIGITS + 1];

    snprintf(digits, sizeof digits, "%0*llu", SEQ_DIGITS, seq % 10000000000ull);
    memcpy(d, digits, SEQ_DIGITS);
    memcpy(d + SEQ_DIGITS, body + SEQ_DIGITS, len - SEQ_DIGITS);
}

static bool seq_ok(const uint8_t *d)
{
    for (int i = 0; i < SEQ_DIGITS; i++)
        if (d[i] < '0' || d[i] > '9')
            return false;
    return true;
}

/* Sends k datagrams as one GSO message: the kernel cuts it into LEN-byte
 * datagrams after one pass through the stack. Returns k, or -errno. */
static int send_gso(struct udp_run *u, unsigned k)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(uint16_t))];
    } ctl;
    struct iovec iov = { .iov_base = u->tx, .iov_len = (size_t)k * u->len };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    uint16_t seg = (uint16_t)u->len;
    ssize_t r;

    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof seg);
    memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    r = wc_sendmsg(u->fd, &m, MSG_DONTWAIT);
    return r < 0 ? (int)r : (int)k;
}

/* Sends up to k datagrams in one syscall. Returns how many left, or -errno. */
static int send_batch(struct udp_run *u, const uint8_t *body, unsigned k)
{
    int r = -EINVAL;

    for (unsigned i = 0; i < k; i++)
        datagram_fill(u->tx + (size_t)i * u->len, u->len, body, u->sent + i);
    if (u->gso && k > 1) {
        r = send_gso(u, k);
        if (r == -EINVAL || r == -EIO)
            u->gso = 0;         /* no GSO here: sendmmsg from now on */
    }
    if (!u->gso || k == 1)
        r = wc_sendmmsg(u->fd, u->txm, k, MSG_DONTWAIT);
    if (r > 0)
        u->sent += (unsigned)r;
    return r;
}

/* Receives one batch and checks it. An echoing peer may hand back several
 * requests in one message; each LEN-byte piece counts. Returns messages or -errno. */
static int recv_batch(struct udp_run *u)
{
    int r;

    for (unsigned i = 0; i < u->batch; i++)
        u->rxv[i].iov_len = RX_BYTES;
    r = wc_recvmmsg(u->fd, u->rxm, u->batch, MSG_DONTWAIT);
    for (int i = 0; i < r; i++) {
        const uint8_t *m = u->rx + (size_t)i * RX_BYTES;
        size_t n = u->rxm[i].msg_len;

        if (n == 0 || n % u->len != 0) {
            u->wrong++;
            continue;
        }
        for (size_t off = 0; off < n; off += u->len) {
            if (!seq_ok(m + off) ||
                memcmp(m + off + SEQ_DIGITS, u->want + SEQ_DIGITS, u->len - SEQ_DIGITS) != 0)
                u->wrong++;
            u->received++;
        }
    }
    return r;
}

static int udp_run_init(struct udp_run *u, const struct lg_opts *o)
{
    u->len = (size_t)o->line;
    u->batch = (unsigned)o->batch;
    u->tx = malloc((size_t)u->batch * u->len);
    u->rx = malloc((size_t)u->batch * RX_BYTES);
    u->want = malloc(u->len);
    u->txm = calloc(u->batch, sizeof *u->txm);
    u->rxm = calloc(u->batch, sizeof *u->rxm);
    u->txv = calloc(u->batch, sizeof *u->txv);
    u->rxv = calloc(u->batch, sizeof *u->rxv);
    if (!u->tx || !u->rx || !u->want || !u->txm || !u->rxm || !u->txv || !u->rxv)
        return -1;
    for (unsigned i = 0; i < u->batch; i++) {
        u->txv[i] = (struct iovec){ .iov_base = u->tx + (size_t)i * u->len, .iov_len = u->len };
        u->rxv[i] = (struct iovec){ .iov_base = u->rx + (size_t)i * RX_BYTES, .iov_len = RX_BYTES };
        u->txm[i].msg_hdr = (struct msghdr){ .msg_iov = &u->txv[i], .msg_iovlen = 1 };
        u->rxm[i].msg_hdr = (struct msghdr){ .msg_iov = &u->rxv[i], .msg_iovlen = 1 };
    }
    return 0;
}

static void udp_run_free(struct udp_run *u)
{
    free(u->tx);
    free(u->rx);
    free(u->want);
    free(u->txm);
    free(u->rxm);
    free(u->txv);
    free(u->rxv);
}

int lg_udp(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen)
{
    struct udp_run u = { .fd = -1 };
    uint8_t *body = NULL;
    unsigned long long t0, t1, now, deadline, last_rx;
    double cpu0;
    int rc = 1;

    if (o->line < SEQ_DIGITS + 1 || o->line > RX_BYTES) {
        snprintf(errbuf, errlen, "--line must be %d..%d bytes for UDP", SEQ_DIGITS + 1, RX_BYTES);
        return 1;
    }
    body = malloc((size_t)o->line);
    if (!body || udp_run_init(&u, o) < 0) {
        snprintf(errbuf, errlen, "set-up: %s", strerror(errno));
        goto out;
    }
    lg_fill_lines(body, u.len, 0, 5);
    if (o->echo)
        memcpy(u.want, body, u.len);
    else
        wc_upper(u.want, body, u.len);
    u.fd = wc_connect(o->host, o->port, SOCK_DGRAM, AF_UNSPEC, 5000, errbuf, errlen);
    if (u.fd < 0)
        goto out;
    (void)wc_setsockopt_int(u.fd, SOL_SOCKET, SO_RCVBUF, SOCKET_BUFFER);
    (void)wc_setsockopt_int(u.fd, SOL_SOCKET, SO_SNDBUF, SOCKET_BUFFER);
    /* GSO out and GRO in keep the client's cost per datagram well below the
     * server's, so that the server is what is measured. */
    u.gso = o->gso && u.len <= 1400;
    if (o->gso)
        (void)wc_setsockopt_int(u.fd, SOL_UDP, UDP_GRO, 1);
    cpu0 = lg_cpu_seconds();
    t0 = last_rx = now = wc_now_ns();
    deadline = t0 + (unsigned long long)o->duration_ms * 1000000ull;
    while (now < deadline) {
        long long out = (long long)(u.sent - u.received - u.lost);
        long long room = o->window - (out > 0 ? out : 0);
        int s = 0, r;

        if (room > 0)
            s = send_batch(&u, body, (unsigned)(room < (long long)u.batch ? room : (long long)u.batch));
        r = recv_batch(&u);
        now = wc_now_ns();
        if (r > 0) {
            last_rx = now;
            continue;
        }
        if (r < 0 && r != -EAGAIN && r != -ECONNREFUSED) {
            snprintf(errbuf, errlen, "recvmmsg: %s", strerror(-r));
            goto out;
        }
        if (s <= 0) {
            struct pollfd pfd = { .fd = u.fd, .events = POLLIN };
            (void)wc_poll(&pfd, 1, 1);
            now = wc_now_ns();
        }
        if (now - last_rx > LOSS_TIMEOUT_NS && u.sent > u.received + u.lost) {
            u.lost = u.sent - u.received;
            last_rx = now;
        }
    }
    t1 = wc_now_ns();
    if (u.wrong) {
        snprintf(errbuf, errlen, "%llu replies were not the %s of their request", u.wrong,
                 o->echo ? "copy" : "upper case");
        rc = LG_EXIT_MISMATCH;
        goto out;
    }
    {
        double s = (double)(t1 - t0) / 1e9;

        lg_report_add(rep, "datagram_bytes", (double)u.len);
        lg_report_add(rep, "replies_per_s", (double)u.received / s);
        lg_report_add(rep, "sent_per_s", (double)u.sent / s);
        lg_report_add(rep, "sent", (double)u.sent);
        lg_report_add(rep, "received", (double)u.received);
        lg_report_add(rep, "client_cpu", (lg_cpu_seconds() - cpu0) / s);
        lg_report_add(rep, "gso", u.gso);
        lg_report_add(rep, "seconds", s);
    }
    rc = 0;
out:
    wc_close(u.fd);
    udp_run_free(&u);
    free(body);
    return rc;
}
