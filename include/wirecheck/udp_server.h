/* udp_server.h - the UDP uppercase server: one reply per datagram, batched syscalls. */
#ifndef WIRECHECK_UDP_SERVER_H
#define WIRECHECK_UDP_SERVER_H

#include "wirecheck/log.h"

#include <stddef.h>

#define WC_UDP_DEFAULT_PORT "9876"
#define WC_UDP_DEFAULT_BATCH 64
#define WC_UDP_MAX_BATCH 1024
/* After SIGINT/SIGTERM, time to answer what is already queued. */
#define WC_UDP_DEFAULT_GRACE_MS 2000

struct wc_udp_server_config {
    const char *host;           /* NULL: all addresses, IPv4 and IPv6 */
    const char *port;
    int family;
    int batch;                  /* datagrams per recvmmsg/sendmmsg; 1: recvmsg/sendmsg */
    long long grace_ms;
    int rcvbuf;                 /* SO_RCVBUF bytes; 0: the kernel's default */
    const char *user;
    int verbose;                /* log the counters on exit */
    wc_log_fn *log;             /* messages for people; NULL: none */
};

void wc_udp_server_defaults(struct wc_udp_server_config *cfg);

/* Serves until SIGINT, SIGTERM or SIGHUP, then answers what is already queued
 * and returns 0. Each reply leaves from the address and port the request was
 * sent to (IP_PKTINFO / IPV6_PKTINFO) for its source address and port.
 * Returns -1 with the reason in errbuf when it cannot start. */
int wc_udp_server_run(const struct wc_udp_server_config *cfg, char *errbuf, size_t errlen);

#endif
