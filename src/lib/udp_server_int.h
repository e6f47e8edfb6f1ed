/* udp_server_int.h - the UDP server's private state, shared by its set-up (udp_server.c) and its data path
 * (udp_batch.c). */
#ifndef WIRECHECK_UDP_SERVER_INT_H
#define WIRECHECK_UDP_SERVER_INT_H

#include "wirecheck/loop.h"
#include "wirecheck/sock.h"
#include "wirecheck/udp_server.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* With --batch above 1 the sockets also take UDP GRO: the kernel may hand over
 * several datagrams of one peer, all SEG bytes but the last, as one message.
 * The transform works byte by byte, so the reply is the whole buffer sent back
 * with UDP_SEGMENT SEG: one reply datagram per request datagram, in order, for
 * one pass through the stack instead of one per datagram. */
#define CMSG_SPACE_RX (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)))
#define CMSG_SPACE_TX (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)))

struct slot {
    struct sockaddr_storage peer;
    struct iovec iov;
    /* Aligned for cmsghdr. Not by a cmsghdr member: glibc ends it with a flexible array, and clang
     * refuses (-Wgnu-variable-sized-type-not-at-end) a struct holding one anywhere but last. */
    _Alignas(struct cmsghdr) char rx[CMSG_SPACE_RX];
    _Alignas(struct cmsghdr) char tx[CMSG_SPACE_TX];
};

struct endpoint {
    struct wc_watch w;
    struct udp_server *srv;
    int family;
    unsigned pend_from, pend_to;            /* replies the socket refused (EAGAIN) */
    size_t split_off;                       /* bytes of pend_from already sent by tx_split */
};

struct udp_server {
    const struct wc_udp_server_config *cfg;
    struct wc_loop *loop;
    struct endpoint ep[WC_MAX_LISTENERS];
    int nep;
    struct wc_watch stopw;
    unsigned batch;
    uint8_t *bufs;
    struct slot *slots;
    struct mmsghdr *rx, *tx;
    bool stopping;
    unsigned long long rx_count, tx_count, tx_errors, truncated;
    bool send_error_logged, gso_error_logged;
};

/* Answers what is ready on an endpoint's socket, a few batches per wake-up; stops reading while replies are owed. */
void wc_udp_on_readable(struct wc_loop *loop, struct wc_watch *w, uint32_t ev);
/* After the stop: answers what is already queued, then sends what is owed, up to cfg->grace_ms. */
void wc_udp_drain(struct udp_server *s);

#endif
