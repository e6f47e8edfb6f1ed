/* decode.h - a bounds-checked decoder of Ethernet/SLL/raw IP, IPv4, IPv6, TCP and UDP headers (no I/O). */
#ifndef WIRECHECK_DECODE_H
#define WIRECHECK_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* Link types understood (LINKTYPE_ values as in pcap files). */
enum {
    WC_LINK_NULL = 0,
    WC_LINK_ETHERNET = 1,
    WC_LINK_RAW = 101,
    WC_LINK_LINUX_SLL = 113,
    WC_LINK_IPV4 = 228,
    WC_LINK_IPV6 = 229,
    WC_LINK_LINUX_SLL2 = 276,
};

/* TCP flags as in the header's low byte. */
enum {
    WC_TCP_FIN = 0x01,
    WC_TCP_SYN = 0x02,
    WC_TCP_RST = 0x04,
    WC_TCP_PSH = 0x08,
    WC_TCP_ACK = 0x10,
    WC_TCP_URG = 0x20,
    WC_TCP_ECE = 0x40,
    WC_TCP_CWR = 0x80,
};

/* Where a capture point saw a packet go: pcapng's epb_flags bits 0-1. */
enum {
    WC_DIR_UNKNOWN = 0,
    WC_DIR_IN = 1,
    WC_DIR_OUT = 2,
};

struct wc_packet {
    /* WC_DIR_*, set by the caller after wc_decode, which leaves it WC_DIR_UNKNOWN */
    uint8_t link_dir;
    /* link layer */
    int has_eth;
    uint8_t eth_src[6], eth_dst[6];
    int has_vlan;
    uint16_t vlan_id;
    uint16_t ethertype;         /* 0x0800, 0x86DD, 0x0806, ... 0 when unknown */
    /* network layer: ip_version 0 means not IP (ARP, ...) */
    int ip_version;
    uint8_t src[16], dst[16];   /* IPv4 uses the first 4 bytes */
    uint8_t proto;              /* 6 TCP, 17 UDP, ... (after IPv6 extension headers) */
    uint8_t ttl;
    uint16_t ip_id;
    int is_fragment;            /* MF set or offset != 0: transport not decoded past offset 0 */
    int more_fragments;
    uint16_t frag_offset;       /* bytes */
    uint32_t frag_len;          /* a fragment's share of the datagram: the IP payload after the headers */
    uint32_t l4_total;          /* first fragment of UDP: the whole datagram's UDP length (its header says) */
    /* transport */
    int has_l4;                 /* the TCP or UDP header was decoded */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t tcp_flags;
    uint16_t window;
    uint16_t mss;               /* 0: no MSS option */
    int wscale;                 /* -1: no window scale option */
    int sack_ok;
    int has_ts;
    uint32_t ts_val, ts_ecr;
    /* ICMP (proto 1) or ICMPv6 (58), not a later fragment */
    int has_icmp;
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id, icmp_seq;   /* echo request and reply */
    uint8_t nd_target[16];        /* ICMPv6 neighbor solicitation and advertisement */
    /* ARP for IPv4 over Ethernet (ethertype 0x0806) */
    int has_arp;
    uint16_t arp_op;              /* 1 request, 2 reply */
    uint8_t arp_sha[6], arp_spa[4], arp_tpa[4];
    /* payload */
    uint32_t payload_len;       /* per the headers (may exceed what was captured) */
    const uint8_t *payload;     /* the captured part of it, or NULL */
    uint32_t payload_caplen;
    const char *reason;         /* why decoding stopped, when it returned -1 */
};

/* Decodes data[0..caplen) of LINKTYPE linktype into *pkt. Reads only within
 * the buffer, with explicit byte order. Returns 0 (also for frames that are
 * not IP, with ip_version 0, and for link types it does not know, with
 * ethertype 0), or -1 with pkt->reason naming the malformed or truncated
 * header. pkt->payload points into data. */
int wc_decode(const uint8_t *data, size_t caplen, int linktype, struct wc_packet *pkt);

/* Formats pkt's addresses as text ("10.0.0.1" or "fe80::1"). */
void wc_addr_str(int ip_version, const uint8_t *addr, char *out, size_t outlen);

#endif
