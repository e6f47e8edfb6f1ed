/* udp_batch.c - the UDP server's data path: a batch of datagrams in (recvmmsg), each answered with its upper case
 * from the address it was sent to, out in order (sendmmsg, GSO), and what is owed when the socket is full. */
#include "udp_server_int.h"

#include "wirecheck/log.h"
#include "wirecheck/loop.h"
#include "wirecheck/sys.h"
#include "wirecheck/upper.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Appends one control message at offset off of out. Returns the new offset. */
static size_t put_cmsg(char *out, size_t off, int level, int type, const void *data, size_t len)
{
    struct cmsghdr *o = (struct cmsghdr *)(out + off);

    memset(o, 0, CMSG_SPACE(len));
    o->cmsg_level = level;
    o->cmsg_type = type;
    o->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(o), data, len);
    return off + CMSG_SPACE(len);
}

/* Reads the received message's control data: the destination address becomes
 * the reply's source (the interface index is kept for IPv6 so that link-local
 * replies route), and a GRO segment size is returned in *seg. Returns the
 * reply's control length in out (CMSG_SPACE_TX bytes), without the segment. */
static size_t reply_control(const struct msghdr *in, char *out, unsigned *seg)
{
    size_t len = 0;

    *seg = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(in); cm; cm = CMSG_NXTHDR((struct msghdr *)in, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO && len == 0) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            pi.ipi_spec_dst = pi.ipi_addr;
            pi.ipi_ifindex = 0;
            len = put_cmsg(out, 0, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi);
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO && len == 0) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof pi);
            len = put_cmsg(out, 0, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof pi);
        } else if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
            int g;
            memcpy(&g, CMSG_DATA(cm), sizeof g);
            *seg = g > 0 ? (unsigned)g : 0;
        }
    }
    return len;
}

static void rx_prepare(struct udp_server *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct slot *sl = &s->slots[i];
        struct msghdr *m = &s->rx[i].msg_hdr;

        sl->iov.iov_base = s->bufs + (size_t)i * WC_UDP_DATAGRAM_BUFFER;
        sl->iov.iov_len = WC_UDP_DATAGRAM_BUFFER;
        memset(m, 0, sizeof *m);
        m->msg_name = &sl->peer;
        m->msg_namelen = sizeof sl->peer;
        m->msg_iov = &sl->iov;
        m->msg_iovlen = 1;
        m->msg_control = sl->rx;
        m->msg_controllen = sizeof sl->rx;
    }
}

/* A reply's UDP_SEGMENT size, or 0 when it is one datagram. */
static size_t reply_segment(const struct msghdr *m)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(m); cm; cm = CMSG_NXTHDR((struct msghdr *)m, cm))
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_SEGMENT) {
            uint16_t seg;
            memcpy(&seg, CMSG_DATA(cm), sizeof seg);
            return seg;
        }
    return 0;
}

/* The datagrams a reply stands for. */
static unsigned reply_datagrams(const struct msghdr *m)
{
    size_t len = m->msg_iov[0].iov_len, seg = reply_segment(m);

    return seg && len > seg ? (unsigned)((len + seg - 1) / seg) : 1;
}

/* Sends a reply that GSO could not (EINVAL, EIO: a route or device without it)
 * one datagram at a time, and stops taking GRO on that socket. Returns 0, or
 * -EAGAIN when the socket filled: ep->split_off remembers how far it got, so
 * the retry sends each datagram's reply exactly once. */
static int tx_split(struct udp_server *s, struct endpoint *ep, const struct msghdr *gso)
{
    struct msghdr m = *gso;
    const uint8_t *p = (const uint8_t *)gso->msg_iov[0].iov_base + ep->split_off;
    size_t left = gso->msg_iov[0].iov_len - ep->split_off, seg = reply_segment(gso);

    if (!s->gso_error_logged) {
        wc_logf(s->cfg->log, "UDP GSO refused: replying datagram by datagram, GRO off");
        s->gso_error_logged = true;
    }
    (void)wc_setsockopt_int(ep->w.fd, SOL_UDP, UDP_GRO, 0);
    m.msg_controllen -= CMSG_SPACE(sizeof(uint16_t));   /* the segment size comes last */
    if (m.msg_controllen == 0)
        m.msg_control = NULL;
    while (left > 0) {
        struct iovec iov = { .iov_base = (void *)p, .iov_len = left < seg ? left : seg };
        ssize_t r;

        m.msg_iov = &iov;
        r = wc_sendmsg(ep->w.fd, &m, MSG_DONTWAIT);
        if (r == -EAGAIN || r == -ENOBUFS)
            return -EAGAIN;
        if (r < 0)
            s->tx_errors++;
        p += iov.iov_len;
        left -= iov.iov_len;
        ep->split_off += iov.iov_len;
    }
    ep->split_off = 0;
    return 0;
}

/* Sends replies [ep->pend_from, ep->pend_to) in order. Returns 1 when the
 * socket is full (the rest stays pending), else 0. A reply the network
 * refuses (unreachable, filtered) is counted and skipped: one bad peer must
 * not stall the others. */
static int tx_flush(struct udp_server *s, struct endpoint *ep)
{
    while (ep->pend_from < ep->pend_to) {
        unsigned n = ep->pend_to - ep->pend_from;
        /* A reply half sent datagram by datagram goes on that way, never again whole. */
        int r = ep->split_off ? -EINVAL
              : s->batch > 1 ? wc_sendmmsg(ep->w.fd, &s->tx[ep->pend_from], n, MSG_DONTWAIT)
                             : (int)wc_sendmsg(ep->w.fd, &s->tx[ep->pend_from].msg_hdr, MSG_DONTWAIT);

        if (r == -EAGAIN || r == -ENOBUFS)
            return 1;
        if ((r == -EINVAL || r == -EIO) && reply_datagrams(&s->tx[ep->pend_from].msg_hdr) > 1) {
            if (tx_split(s, ep, &s->tx[ep->pend_from].msg_hdr) < 0)
                return 1;
            r = 1;
        } else if (r < 0) {
            if (!s->send_error_logged) {
                wc_logf(s->cfg->log, "sendmsg: %s (counted; later failures are not logged)", strerror(-r));
                s->send_error_logged = true;
            }
            s->tx_errors++;
            ep->pend_from++;
            continue;
        }
        if (s->batch == 1)
            r = 1;
        for (int i = 0; i < r; i++)
            s->tx_count += reply_datagrams(&s->tx[ep->pend_from++].msg_hdr);
    }
    return 0;
}

/* One batch in, one batch out. Returns the datagrams received, or -errno. */
static int serve_batch(struct udp_server *s, struct endpoint *ep)
{
    int n;

    rx_prepare(s, s->batch);
    if (s->batch > 1) {
        n = wc_recvmmsg(ep->w.fd, s->rx, s->batch, MSG_DONTWAIT);
    } else {
        ssize_t r = wc_recvmsg(ep->w.fd, &s->rx[0].msg_hdr, MSG_DONTWAIT);
        if (r >= 0)
            s->rx[0].msg_len = (unsigned)r;
        n = r < 0 ? (int)r : 1;
    }
    if (n <= 0)
        return n;

    unsigned out = 0;
    for (int i = 0; i < n; i++) {
        struct slot *sl = &s->slots[i];
        struct msghdr *in = &s->rx[i].msg_hdr, *m = &s->tx[out].msg_hdr;
        size_t len = s->rx[i].msg_len;

        unsigned seg;

        s->rx_count++;
        if (in->msg_flags & MSG_TRUNC) {    /* cannot happen below 64 KiB; never reply with less */
            s->truncated++;
            continue;
        }
        wc_upper(sl->iov.iov_base, sl->iov.iov_base, len);
        sl->iov.iov_len = len;
        memset(m, 0, sizeof *m);
        m->msg_name = &sl->peer;
        m->msg_namelen = in->msg_namelen;
        m->msg_iov = &sl->iov;
        m->msg_iovlen = 1;
        m->msg_controllen = reply_control(in, sl->tx, &seg);
        if (seg > 0 && len > seg) {
            uint16_t seg16 = (uint16_t)seg;

            s->rx_count += (len - 1) / seg;     /* the datagrams GRO joined to the first */
            m->msg_controllen = put_cmsg(sl->tx, m->msg_controllen, SOL_UDP, UDP_SEGMENT,
                                         &seg16, sizeof seg16);
        }
        m->msg_control = m->msg_controllen ? sl->tx : NULL;
        out++;
    }
    ep->pend_from = 0;
    ep->pend_to = out;
    return n;
}

void wc_udp_on_readable(struct wc_loop *loop, struct wc_watch *w, uint32_t ev)
{
    struct endpoint *ep = w->data;
    struct udp_server *s = ep->srv;

    (void)ev;
    if (ep->pend_from < ep->pend_to) {
        if (tx_flush(s, ep))
            return;
        (void)wc_loop_mod(loop, w, EPOLLIN);
    }
    /* A few batches per wake-up, then let the other socket have a turn. */
    for (int i = 0; i < 8; i++) {
        int n = serve_batch(s, ep);
        if (n <= 0)
            return;
        if (tx_flush(s, ep)) {
            /* Stop reading until the replies we owe can leave, in order. */
            (void)wc_loop_mod(loop, w, EPOLLOUT);
            return;
        }
        if ((unsigned)n < s->batch)
            return;
    }
}

/* After the stop: answer what is already queued, then send what is owed. */
void wc_udp_drain(struct udp_server *s)
{
    unsigned long long deadline = wc_now_ns() + (unsigned long long)s->cfg->grace_ms * 1000000ull;

    for (int i = 0; i < s->nep; i++) {
        struct endpoint *ep = &s->ep[i];
        for (;;) {
            while (tx_flush(s, ep)) {
                struct pollfd pfd = { .fd = ep->w.fd, .events = POLLOUT };
                if (wc_now_ns() >= deadline || wc_poll(&pfd, 1, 10) < 0)
                    break;
            }
            if (ep->pend_from < ep->pend_to || wc_now_ns() >= deadline)
                break;
            if (serve_batch(s, ep) <= 0)
                break;
        }
    }
}
