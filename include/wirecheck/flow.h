/* flow.h - a bounded flow tracker that labels each TCP segment and UDP datagram and keeps per-flow counts. */
#ifndef WIRECHECK_FLOW_H
#define WIRECHECK_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "wirecheck/decode.h"

/* The longest label wc_flows_track writes, with its NUL. */
#define WC_LABEL_SIZE 128
/* Reordering and duplicates of --seq datagrams are told apart within this many numbers. */
#define WC_SEQ_WINDOW 1024

enum wc_flow_close {
    WC_CLOSE_OPEN = 0,        /* neither FIN nor RST seen */
    WC_CLOSE_HALF,            /* FIN one way only */
    WC_CLOSE_FIN,             /* FIN both ways */
    WC_CLOSE_RST,
};

/* One direction of a flow; direction 0 sent the first packet seen. */
struct wc_flow_side {
    uint64_t packets, bytes;      /* TCP segments (the network's copies left out) or UDP datagrams; payload bytes */
    uint64_t retrans, ooo;        /* TCP */
    uint64_t tagged, lost, dup, reordered;   /* UDP with the --seq tag; dup also TCP's copies made by the network */
};

/* What is known about one flow at one capture interface. */
struct wc_flow_summary {
    uint32_t iface;               /* the caller's interface number */
    int ip_version;
    uint8_t proto;                /* 6 or 17 */
    uint8_t addr[2][16];          /* [0] sent the first packet seen */
    uint16_t port[2];
    uint64_t first_ns, last_ns;
    int handshake;                /* all three steps seen */
    uint64_t rtt_ns;              /* SYN to the third ACK, as seen here (0: unknown) */
    enum wc_flow_close close;
    struct wc_flow_side side[2];
};

struct wc_flows;

/* Returns a tracker holding at most max_flows flows, or NULL (ENOMEM). */
struct wc_flows *wc_flows_new(size_t max_flows);
void wc_flows_free(struct wc_flows *t);

/* Accounts pkt, seen at ts_ns on interface iface (each interface has its own
 * flows: the same packet seen at two places is no retransmission), and writes
 * its label into label[0..len): every packet gets one. Returns 0;
 * -EPROTONOSUPPORT when pkt is not TCP or UDP (labelled still: an ICMP, ICMPv6
 * or ARP message, an IP fragment "IPv4 fragment 2 of 45, datagram id 0x1a2b",
 * or the protocol's number); -ENOSPC when the flow is new and the table is
 * full (label "untracked: flow table full"). */
int wc_flows_track(struct wc_flows *t, uint32_t iface, uint64_t ts_ns, const struct wc_packet *pkt,
                   char *label, size_t len);

/* The flows in the order they were first seen: wc_flows_get(t, 0 .. count-1). */
size_t wc_flows_count(const struct wc_flows *t);
const struct wc_flow_summary *wc_flows_get(const struct wc_flows *t, size_t i);
/* Packets of new flows that did not fit. */
uint64_t wc_flows_untracked(const struct wc_flows *t);

/* "open", "half-closed", "fin" or "rst". */
const char *wc_flow_close_name(enum wc_flow_close c);

#endif
