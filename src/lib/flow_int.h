/* flow_int.h - a flow's private state, shared by the table (flow.c) and the labels (flow_label.c,
 * flow_label_tcp.c). */
#ifndef WIRECHECK_FLOW_INT_H
#define WIRECHECK_FLOW_INT_H

#include "wirecheck/decode.h"
#include "wirecheck/flow.h"
#include "wirecheck/seq.h"

#include <stddef.h>
#include <stdint.h>

/* Gaps in a direction's sequence space followed at once; one more drops the oldest. */
#define WC_TCP_HOLES 4
/* Segments remembered each way: to recognise the network's copies, which may arrive after other packets, and
 * which copy brought bytes seen before (a power of two). */
#define WC_TCP_RECENT 8

/* Bytes never seen below nxt, and the segment that opened the hole (its IPv4 ID, its TCP timestamp, when). */
struct tcp_hole {
    uint32_t lo, hi;
    uint64_t ns;
    uint32_t tsval;
    uint16_t id;
    uint8_t has_ts;
};

/* A segment as it was sent. A copy made by the network has the same segment with the same IP ID (IPv4), or the
 * same bytes where there is no IP ID; a sender's retransmission has a new IP ID and timestamp, which also tell
 * whether it was sent before or after another segment. */
struct tcp_sig {
    uint32_t seq, ack, len, tsval;
    uint16_t ip_id, win;
    uint8_t flags, has_ts, used;
};

/* Per-direction state the labels need; the counts live in the summary. A flow is TCP or UDP, never both, so
 * the two protocols' state share the room. */
struct dir_state {
    unsigned isn_known : 1, syn : 1, synack : 1, fin : 1, udp_started : 1, has_ack : 1, id_known : 1,
        ids_count : 1, ts_known : 1, unknown : 1;
    union {
        struct {                          /* TCP */
            uint32_t isn;                 /* relative numbers count from here */
            uint32_t nxt;                 /* highest sequence number sent + 1 */
            uint32_t syn_seq, fin_seq;
            /* Below unknown_hi (if unknown): bytes that may never have been seen here, though no hole says so
             * (the flow was picked up mid-stream, or a hole was dropped to make room). */
            uint32_t unknown_hi;
            /* The latest-sent segment seen this way, by its IPv4 ID (Linux counts it up per packet of a
             * socket) or its TCP timestamp: where nothing else tells, a segment below nxt sent before it was
             * overtaken, one sent after it is a resend. */
            uint16_t max_id;
            uint32_t max_tsval;
            /* Duplicate ACKs: the ACK number and window of the last ACK sent this way, and how many repeated
             * it. */
            uint32_t ack, dupacks;
            uint16_t win;
            uint8_t nholes, recent_next;
            struct tcp_hole holes[WC_TCP_HOLES];    /* in sequence order */
            struct tcp_sig recent[WC_TCP_RECENT];   /* the last segments sent this way, a ring: recent_next
                                                     * is the oldest */
        };
        struct {                          /* UDP */
            uint32_t udp_max;             /* highest --seq number seen */
            uint32_t last_tag;            /* the last --seq number seen, and its datagram's IPv4 ID */
            uint16_t last_udp_id;
            uint64_t seen[WC_SEQ_WINDOW / 64];
        };
    };
};

struct flow {
    struct wc_flow_summary s;
    struct dir_state d[2];
    uint64_t syn_ns;
    uint32_t next;                /* hash chain */
};

/* Updates f with pkt, seen in direction dir (0: as the flow's first packet went), and writes its label into
 * label[0..len) (NUL-terminated, possibly empty). */
void wc_flow_label(struct flow *f, int dir, uint64_t ts_ns, const struct wc_packet *pkt, char *label, size_t len);

struct lbl;
/* wc_flow_label for a TCP segment: updates f's state in direction dir and appends the label to l. */
void wc_flow_label_tcp(struct flow *f, int dir, uint64_t ts_ns, const struct wc_packet *pkt, struct lbl *l);

/* Datagrams whose fragments are followed at once (a power of two). */
#define WC_FRAG_SLOTS 64

/* A datagram being fragmented, as seen at one interface: what its fragments' labels need. */
struct frag_slot {
    uint32_t iface;
    uint8_t src[16], dst[16];
    uint32_t id;                  /* IPv4: the 16-bit IP ID; IPv6: the fragment header's identification */
    uint8_t proto;
    uint8_t used;
    uint32_t frag_len;            /* a non-last fragment's share (all but the last have the same) */
    uint32_t total;               /* the datagram's transport length, 0: not known yet */
};

/* The label of a fragment of p, knowing the slot of its datagram (updated here), appended to label[0..len):
 * "IPv4 fragment 2 of 45, datagram id 0x1a2b". */
void wc_frag_label(struct frag_slot *slot, const struct wc_packet *p, char *label, size_t len);
/* The label of a packet outside any flow: ICMP, ICMPv6 (with neighbor discovery), ARP, other protocols. */
void wc_other_label(const struct wc_packet *p, char *label, size_t len);

#endif
