/* test_decode.c - the decoder on byte arrays: fields, byte order, every truncation refused without a crash. */
#include "wirecheck/decode.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>



/* Ethernet + 802.1Q + IPv4 (with 4 bytes of options) + TCP SYN (MSS 1460, SACK, TS, WS 7) + padding. */
static const uint8_t syn_vlan[] = {
    0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x81, 0x00, 0x00, 0x2a, 0x08, 0x00,
    0x46, 0x00, 0x00, 0x3c + 4, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0, 0,
    10, 0, 0, 1, 10, 0, 0, 2, 0x01, 0x01, 0x01, 0x00,
    0x9c, 0x40, 0x1a, 0x85, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0, 0, 0, 0, 0,
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0, 7, 0, 0, 0, 0, 0x01, 0x03, 0x03, 0x07,
};

/* Ethernet + IPv6 + hop-by-hop (8 bytes) + UDP carrying "WC0000000042:x". */
static const uint8_t udp6[] = {
    0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x86, 0xdd,
    0x60, 0, 0, 0, 0x00, 8 + 8 + 14, 0x00, 64,
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
    17, 0, 1, 4, 0, 0, 0, 0,
    0xa0, 0x00, 0x26, 0x94, 0x00, 8 + 14, 0, 0,
    'W', 'C', '0', '0', '0', '0', '0', '0', '0', '0', '4', '2', ':', 'x',
};

static void test_syn_vlan(void)
{
    struct wc_packet p;

    CHECK_EQ("decode", 0, wc_decode(syn_vlan, sizeof syn_vlan, WC_LINK_ETHERNET, &p));
    CHECK_EQ("vlan", 1, p.has_vlan);
    CHECK_EQ("vlan id", 42, p.vlan_id);
    CHECK_EQ("ip version", 4, p.ip_version);
    CHECK_EQ("proto", 6, p.proto);
    CHECK_EQ("src", 1, p.src[3]);
    CHECK_EQ("sport", 40000, p.sport);
    CHECK_EQ("dport", 6789, p.dport);
    CHECK_EQ("seq", 0x11223344, p.seq);
    CHECK_EQ("flags", WC_TCP_SYN, p.tcp_flags);
    CHECK_EQ("window", 64240, p.window);
    CHECK_EQ("mss", 1460, p.mss);
    CHECK_EQ("wscale", 7, p.wscale);
    CHECK_EQ("sack ok", 1, p.sack_ok);
    CHECK_EQ("ts", 7, p.ts_val);
    CHECK_EQ("payload", 0, p.payload_len);
    CHECK_EQ("fragment", 0, p.is_fragment);
}

static void test_udp6(void)
{
    struct wc_packet p;

    CHECK_EQ("decode", 0, wc_decode(udp6, sizeof udp6, WC_LINK_ETHERNET, &p));
    CHECK_EQ("ip version", 6, p.ip_version);
    CHECK_EQ("proto after hop-by-hop", 17, p.proto);
    CHECK_EQ("sport", 40960, p.sport);
    CHECK_EQ("dport", 9876, p.dport);
    CHECK_EQ("payload", 14, p.payload_len);
    CHECK_EQ("payload caplen", 14, p.payload_caplen);
    CHECK_EQ("payload byte", 'W', p.payload ? p.payload[0] : 0);
    /* The same packet as raw IP. */
    CHECK_EQ("raw decode", 0, wc_decode(udp6 + 14, sizeof udp6 - 14, WC_LINK_RAW, &p));
    CHECK_EQ("raw dport", 9876, p.dport);
}

/* Every prefix of a valid frame either decodes or is refused; none reads past the end
 * (ASan proves it: each prefix is copied to a buffer of exactly its size). */
static void test_truncations(const uint8_t *frame, size_t n, size_t headers)
{
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        struct wc_packet p;
        int r;

        memcpy(copy, frame, len);
        r = wc_decode(copy, len, WC_LINK_ETHERNET, &p);
        if (len < headers && r != -1) {
            fprintf(stderr, "%s:%d: prefix of %zu bytes: expected -1, got %d\n", __FILE__, __LINE__,
                    len, r);
            check_failures++;
        }
        if (r == -1 && (!p.reason || !*p.reason)) {
            fprintf(stderr, "prefix of %zu bytes: refused without a reason\n", len);
            check_failures++;
        }
        free(copy);
    }
}

static void test_malformed(void)
{
    uint8_t b[sizeof syn_vlan];
    struct wc_packet p;

    memcpy(b, syn_vlan, sizeof b);
    b[18] = 0x43;   /* IHL 3 */
    CHECK_EQ("ihl below 5", -1, wc_decode(b, sizeof b, WC_LINK_ETHERNET, &p));
    memcpy(b, syn_vlan, sizeof b);
    b[18 + 24 + 12] = 0x40;   /* TCP data offset 4 */
    CHECK_EQ("tcp offset below 5", -1, wc_decode(b, sizeof b, WC_LINK_ETHERNET, &p));
    memcpy(b, syn_vlan, sizeof b);
    b[18 + 24 + 20 + 1] = 40;   /* MSS option length beyond the header */
    CHECK_EQ("option length", -1, wc_decode(b, sizeof b, WC_LINK_ETHERNET, &p));
    memcpy(b, syn_vlan, sizeof b);
    b[18 + 6] = 0x20;   /* MF: a first fragment still has its TCP header */
    CHECK_EQ("first fragment", 0, wc_decode(b, sizeof b, WC_LINK_ETHERNET, &p));
    CHECK_EQ("more fragments", 1, p.more_fragments);
    b[18 + 6] = 0x00;
    b[18 + 7] = 0x10;   /* offset 128 bytes: no transport header here */
    CHECK_EQ("later fragment", 0, wc_decode(b, sizeof b, WC_LINK_ETHERNET, &p));
    CHECK_EQ("fragment offset", 128, p.frag_offset);
    CHECK_EQ("no l4 in a later fragment", 0, p.has_l4);
    CHECK_EQ("unknown link type", 0, wc_decode(b, sizeof b, 9999, &p));
    CHECK_EQ("unknown link type: no ip", 0, p.ip_version);
}

/* The first fragment of a 4,008-byte UDP datagram: valid, its UDP length is the whole datagram's. */
static void test_first_udp_fragment_arp_icmp(void)
{
    static const uint8_t frag1[] = {
        2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
        0x45, 0, 0x05, 0xdc, 0x1a, 0x2b, 0x20, 0x00, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        0x9c, 0x40, 0x26, 0x94, 0x0f, 0xa8, 0, 0,   /* 40000 -> 9876, UDP length 4008 */
        'W', 'C', '0', '0', '0', '0', '0', '0', '0', '0', '0', '7', ':'};
    static const uint8_t arp[] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
        0, 1, 0x08, 0x00, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2};
    static const uint8_t ping[] = {
        2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        8, 0, 0, 0, 0, 77, 0, 2};
    struct wc_packet p;

    CHECK_EQ("first fragment of a large datagram", 0, wc_decode(frag1, sizeof frag1, WC_LINK_ETHERNET, &p));
    CHECK_EQ("its l4", 1, p.has_l4);
    CHECK_EQ("datagram length", 4008, p.l4_total);
    CHECK_EQ("this fragment's share", 1480, p.frag_len);
    CHECK_EQ("payload here", 1472, p.payload_len);
    CHECK_EQ("ip id", 0x1a2b, p.ip_id);
    CHECK_EQ("arp", 0, wc_decode(arp, sizeof arp, WC_LINK_ETHERNET, &p));
    CHECK_EQ("arp decoded", 1, p.has_arp);
    CHECK_EQ("arp op", 1, p.arp_op);
    CHECK_EQ("arp target", 2, p.arp_tpa[3]);
    CHECK_EQ("arp truncated", -1, wc_decode(arp, sizeof arp - 1, WC_LINK_ETHERNET, &p));
    CHECK_EQ("icmp", 0, wc_decode(ping, sizeof ping, WC_LINK_ETHERNET, &p));
    CHECK_EQ("icmp decoded", 1, p.has_icmp);
    CHECK_EQ("icmp type", 8, p.icmp_type);
    CHECK_EQ("icmp id", 77, p.icmp_id);
    CHECK_EQ("icmp seq", 2, p.icmp_seq);
}

int main(void)
{
    test_first_udp_fragment_arp_icmp();
    test_syn_vlan();
    test_udp6();
    test_truncations(syn_vlan, sizeof syn_vlan, sizeof syn_vlan);
    test_truncations(udp6, sizeof udp6, 14 + 40 + 8 + 8);
    test_malformed();
    return check_done("test_decode");
}
