/* udp_server.c - the UDP server's set-up and life: a socket per address with packet info and GRO, the loop, the
 * stop; the datagrams themselves are udp_batch.c. */
#include "wirecheck/udp_server.h"
#include "udp_server_int.h"

#include "wirecheck/log.h"
#include "wirecheck/loop.h"
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wc_udp_server_defaults(struct wc_udp_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = WC_UDP_DEFAULT_PORT;
    cfg->family = AF_UNSPEC;
    cfg->batch = WC_UDP_DEFAULT_BATCH;
    cfg->grace_ms = WC_UDP_DEFAULT_GRACE_MS;
}

static void on_stop(struct wc_loop *loop, struct wc_watch *w, uint32_t ev)
{
    struct udp_server *s = w->data;

    (void)ev;
    (void)wc_loop_del(loop, w);
    s->stopping = true;
}

static int setup(struct udp_server *s, const struct wc_udp_server_config *cfg, int sfd,
                 char *errbuf, size_t errlen)
{
    struct wc_listen_opts lo = { .host = cfg->host, .port = cfg->port, .socktype = SOCK_DGRAM,
                                 .family = cfg->family };
    int fds[WC_MAX_LISTENERS], n;

    s->cfg = cfg;
    s->batch = (unsigned)(cfg->batch > 0 ? cfg->batch : 1);
    s->loop = wc_loop_new();
    s->bufs = malloc((size_t)s->batch * WC_UDP_DATAGRAM_BUFFER);
    s->slots = calloc(s->batch, sizeof *s->slots);
    s->rx = calloc(s->batch, sizeof *s->rx);
    s->tx = calloc(s->batch, sizeof *s->tx);
    if (!s->loop || !s->bufs || !s->slots || !s->rx || !s->tx) {
        snprintf(errbuf, errlen, "set-up: %s", strerror(errno));
        return -1;
    }
    n = wc_listen(&lo, fds, WC_MAX_LISTENERS, errbuf, errlen);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        struct endpoint *ep = &s->ep[s->nep];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;

        getsockname(fds[i], (struct sockaddr *)&ss, &sl);
        ep->srv = s;
        ep->family = ss.ss_family;
        if (ep->family == AF_INET6)
            (void)wc_setsockopt_int(fds[i], IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
        else
            (void)wc_setsockopt_int(fds[i], IPPROTO_IP, IP_PKTINFO, 1);
        if (s->batch > 1)
            (void)wc_setsockopt_int(fds[i], SOL_UDP, UDP_GRO, 1);
        if (cfg->rcvbuf > 0)
            (void)wc_setsockopt_int(fds[i], SOL_SOCKET, SO_RCVBUF, cfg->rcvbuf);
        if (wc_loop_add(s->loop, &ep->w, fds[i], EPOLLIN, wc_udp_on_readable, ep) < 0) {
            snprintf(errbuf, errlen, "epoll_ctl: %s", strerror(errno));
            for (int j = i; j < n; j++)
                wc_close(fds[j]);
            return -1;
        }
        s->nep++;
    }
    if (wc_loop_add(s->loop, &s->stopw, sfd, EPOLLIN, on_stop, s) < 0) {
        snprintf(errbuf, errlen, "epoll_ctl: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int wc_udp_server_run(const struct wc_udp_server_config *cfg, char *errbuf, size_t errlen)
{
    struct udp_server s;
    char names[WC_MAX_LISTENERS * WC_ADDRSTR_SIZE] = "", as[WC_ADDRSTR_SIZE];
    int sfd, rc = -1;

    memset(&s, 0, sizeof s);
    sfd = wc_signals_open();
    if (sfd < 0) {
        snprintf(errbuf, errlen, "signalfd: %s", strerror(-sfd));
        return -1;
    }
    if (setup(&s, cfg, sfd, errbuf, errlen) < 0)
        goto out;
    for (int i = 0; i < s.nep; i++) {
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", i ? " " : "",
                 wc_sock_name(s.ep[i].w.fd, 0, as, sizeof as));
    }
    if (cfg->user && wc_drop_privileges(cfg->user, errbuf, errlen) < 0)
        goto out;
    wc_logf(cfg->log, "listening on %s (batch %u)", names, s.batch);
    while (!s.stopping) {
        int r = wc_loop_run_once(s.loop, -1);
        if (r < 0) {
            snprintf(errbuf, errlen, "event loop: %s", strerror(-r));
            goto out;
        }
    }
    wc_udp_drain(&s);
    if (cfg->verbose || s.tx_errors || s.truncated)
        wc_logf(cfg->log, "stopped: %llu datagrams in, %llu replies out, %llu send errors, %llu truncated", s.rx_count,
                s.tx_count, s.tx_errors, s.truncated);
    rc = 0;
out:
    for (int i = 0; i < s.nep; i++)
        wc_close(s.ep[i].w.fd);
    wc_loop_free(s.loop);
    free(s.bufs);
    free(s.slots);
    free(s.rx);
    free(s.tx);
    wc_close(sfd);
    return rc;
}
