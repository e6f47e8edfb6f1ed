/* test_flow.c - the flow tracker's labels and counts on hand-made packets. */
#include "wirecheck/flow.h"
#include "check.h"

#include "wirecheck/seq.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


static void expect_label(int line, const char *expected, const char *actual)
{
    if (strcmp(expected, actual) != 0) {
        fprintf(stderr, "%s:%d: label: expected \"%s\", got \"%s\"\n", __FILE__, line, expected, actual);
        check_failures++;
    }
}


/* dir 0: client 10.0.0.1:40000 -> server 10.0.0.2:6789 */
static struct wc_packet tcp(int dir, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    struct wc_packet p;

    memset(&p, 0, sizeof p);
    p.ip_version = 4;
    p.proto = 6;
    p.has_l4 = 1;
    p.src[0] = p.dst[0] = 10;
    p.src[3] = dir ? 2 : 1;
    p.dst[3] = dir ? 1 : 2;
    p.sport = dir ? 6789 : 40000;
    p.dport = dir ? 40000 : 6789;
    p.tcp_flags = flags;
    p.seq = seq;
    p.ack = ack;
    p.payload_len = len;
    return p;
}

static const char *track(struct wc_flows *t, uint64_t ts, struct wc_packet p)
{
    static char label[WC_LABEL_SIZE];

    wc_flows_track(t, 0, ts, &p, label, sizeof label);
    return label;
}

#define L(expected, pkt) expect_label(__LINE__, expected, track(t, ts += 1000, pkt))

static void test_tcp(void)
{
    struct wc_flows *t = wc_flows_new(16);
    const struct wc_flow_summary *f;
    /* Sequence numbers near the wrap, so serial arithmetic is exercised. */
    uint32_t c = 0xfffffff0u, s = 1000;
    uint64_t ts = 0;

    L("handshake 1/3 SYN", tcp(0, WC_TCP_SYN, c, 0, 0));
    L("retransmission of SYN", tcp(0, WC_TCP_SYN, c, 0, 0));
    L("handshake 2/3 SYN-ACK", tcp(1, WC_TCP_SYN | WC_TCP_ACK, s, c + 1, 0));
    L("handshake 3/3 ACK", tcp(0, WC_TCP_ACK, c + 1, s + 1, 0));
    L("data seq=1 len=10", tcp(0, WC_TCP_ACK | WC_TCP_PSH, c + 1, s + 1, 10));
    L("ACK ack=11", tcp(1, WC_TCP_ACK, s + 1, c + 11, 0));
    L("data seq=31 len=10, gap of 20 bytes before seq=31", tcp(0, WC_TCP_ACK, c + 31, s + 1, 10));  /* 11..30 */
    L("out-of-order seq=11 len=10", tcp(0, WC_TCP_ACK, c + 11, s + 1, 10));
    L("retransmission of seq=1 len=10", tcp(0, WC_TCP_ACK, c + 1, s + 1, 10));
    L("data seq=1 len=5", tcp(1, WC_TCP_ACK, s + 1, c + 41, 5));
    L("FIN", tcp(0, WC_TCP_ACK | WC_TCP_FIN, c + 41, s + 6, 0));
    L("retransmission of FIN", tcp(0, WC_TCP_ACK | WC_TCP_FIN, c + 41, s + 6, 0));
    L("data seq=6 len=2, FIN", tcp(1, WC_TCP_ACK | WC_TCP_FIN, s + 6, c + 42, 2));
    CHECK_EQ("flows", 1, wc_flows_count(t));
    f = wc_flows_get(t, 0);
    CHECK_EQ("handshake", 1, f->handshake);
    CHECK_EQ("rtt (SYN at 1000, its retransmission ignored, ACK at 4000)", 3000, f->rtt_ns);
    CHECK_EQ("client segments", 9, f->side[0].packets);
    CHECK_EQ("client bytes", 40, f->side[0].bytes);
    CHECK_EQ("client retransmissions", 3, f->side[0].retrans);
    CHECK_EQ("client out-of-order", 1, f->side[0].ooo);
    CHECK_EQ("server bytes", 7, f->side[1].bytes);
    CHECK_EQ("close", WC_CLOSE_FIN, f->close);
    L("RST", tcp(1, WC_TCP_RST, s + 9, 0, 0));
    CHECK_EQ("close after RST", WC_CLOSE_RST, f->close);
    wc_flows_free(t);
}

static struct wc_packet udp(int dir, const uint8_t *payload, uint32_t len)
{
    struct wc_packet p = tcp(dir, 0, 0, 0, len);

    p.proto = 17;
    p.payload = payload;
    p.payload_caplen = len;
    return p;
}

static void test_udp(void)
{
    struct wc_flows *t = wc_flows_new(16);
    const struct wc_flow_summary *f;
    uint8_t b[32];
    uint64_t ts = 0;
    static const uint32_t order[] = {0, 1, 4, 2, 2, 5, 3};
    static const char *const labels[] = {
        "udp seq=0", "udp seq=1", "udp seq=4 follows a gap of 2 (loss?)",
        "udp seq=2 reordered (after 4)", "udp seq=2 duplicate", "udp seq=5",
        "udp seq=3 reordered (after 5)",
    };

    memset(b, 'x', sizeof b);
    L("udp len=20", udp(0, b, 20));
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        wc_seq_encode(b, order[i]);
        L(labels[i], udp(0, b, 20));
    }
    f = wc_flows_get(t, 0);
    CHECK_EQ("datagrams", 8, f->side[0].packets);
    CHECK_EQ("tagged", 7, f->side[0].tagged);
    CHECK_EQ("lost (both gaps filled later)", 0, f->side[0].lost);
    CHECK_EQ("dup", 1, f->side[0].dup);
    CHECK_EQ("reordered", 2, f->side[0].reordered);
    /* The answers (direction 1) echo the tags in the order the requests came: out of order, either link
     * may have done it; where they were sent (outbound), the order is the sender's. */
    wc_seq_encode(b, 9);
    L("udp seq=9", udp(1, b, 20));
    wc_seq_encode(b, 8);
    L("udp seq=8 after seq=9 (the requests or these answers were reordered)", udp(1, b, 20));
    {
        struct wc_packet out;

        wc_seq_encode(b, 1);
        out = udp(1, b, 20);
        out.link_dir = 2;
        L("udp seq=1 sent after seq=9", out);
    }
    wc_flows_free(t);
}

static void test_limits(void)
{
    struct wc_flows *t = wc_flows_new(2);
    struct wc_packet p = tcp(0, WC_TCP_SYN, 1, 0, 0);
    char label[WC_LABEL_SIZE];

    for (int i = 0; i < 3; i++) {
        p.sport = (uint16_t)(1000 + i);
        CHECK_EQ("track", i < 2 ? 0 : -ENOSPC, wc_flows_track(t, 0, 1, &p, label, sizeof label));
    }
    CHECK_EQ("untracked", 1, wc_flows_untracked(t));
    /* The same packet on another interface is another flow, not a retransmission. */
    p.sport = 1000;
    CHECK_EQ("other interface: table full", -ENOSPC, wc_flows_track(t, 1, 1, &p, label, sizeof label));
    p.has_l4 = 0;
    CHECK_EQ("not tcp/udp", -EPROTONOSUPPORT, wc_flows_track(t, 0, 1, &p, label, sizeof label));
    wc_flows_free(t);
}

static struct wc_packet with_id(struct wc_packet p, uint16_t id)
{
    p.ip_id = id;
    return p;
}

/* A copy the network made is no retransmission; repeated ACKs while data is outstanding are duplicate ACKs. */
static void test_tcp_duplicates(void)
{
    struct wc_flows *t = wc_flows_new(16);
    const struct wc_flow_summary *f;
    uint32_t c = 100, s = 5000;
    uint64_t ts = 0;

    L("handshake 1/3 SYN", with_id(tcp(0, WC_TCP_SYN, c, 0, 0), 1));
    L("handshake 2/3 SYN-ACK", with_id(tcp(1, WC_TCP_SYN | WC_TCP_ACK, s, c + 1, 0), 7));
    L("handshake 3/3 ACK", with_id(tcp(0, WC_TCP_ACK, c + 1, s + 1, 0), 2));
    L("data seq=1 len=100", with_id(tcp(0, WC_TCP_ACK, c + 1, s + 1, 100), 3));
    L("network duplicate of seq=1 len=100 (same IP ID 0x0003)", with_id(tcp(0, WC_TCP_ACK, c + 1, s + 1, 100), 3));
    L("retransmission of seq=1 len=100", with_id(tcp(0, WC_TCP_ACK, c + 1, s + 1, 100), 4));
    L("data seq=201 len=100, gap of 100 bytes before seq=201", with_id(tcp(0, WC_TCP_ACK, c + 201, s + 1, 100), 5));
    L("ACK ack=101", with_id(tcp(1, WC_TCP_ACK, s + 1, c + 101, 0), 8));
    L("duplicate ACK #1 ack=101", with_id(tcp(1, WC_TCP_ACK, s + 1, c + 101, 0), 9));
    L("network duplicate of ACK ack=101 (same IP ID 0x0009)", with_id(tcp(1, WC_TCP_ACK, s + 1, c + 101, 0), 9));
    L("duplicate ACK #2 ack=101", with_id(tcp(1, WC_TCP_ACK, s + 1, c + 101, 0), 10));
    L("retransmission of seq=101 len=100", with_id(tcp(0, WC_TCP_ACK, c + 101, s + 1, 100), 6));
    L("ACK ack=301", with_id(tcp(1, WC_TCP_ACK, s + 1, c + 301, 0), 11));
    /* Nothing outstanding: the same ACK again is a window probe answer or keep-alive, not a duplicate ACK. */
    L("ACK ack=301", with_id(tcp(1, WC_TCP_ACK, s + 1, c + 301, 0), 12));
    f = wc_flows_get(t, 0);
    CHECK_EQ("client retransmissions", 2, f->side[0].retrans);
    CHECK_EQ("client network duplicates", 1, f->side[0].dup);
    CHECK_EQ("server network duplicates", 1, f->side[1].dup);
    wc_flows_free(t);
}

/* The flows below: client ISN 100, server ISN 5000, IPv4 IDs counting up as Linux's do. */
#define CI 100u
#define SI 5000u

/* The client's data segment at relative seq rel (ACK flag, nothing acknowledged yet), IP ID id. */
static struct wc_packet cdata(uint32_t rel, uint32_t len, uint16_t id)
{
    return with_id(tcp(0, WC_TCP_ACK, CI + rel, SI + 1, len), id);
}

/* The server's pure ACK of the client's bytes up to relative ack rel, IP ID id. */
static struct wc_packet sack(uint32_t rel, uint16_t id)
{
    return with_id(tcp(1, WC_TCP_ACK, SI + 1, CI + rel, 0), id);
}

/* The handshake with IP IDs 1 and 2 from the client, 20 from the server. */
static void handshake(struct wc_flows *t, uint64_t *tsp)
{
    uint64_t ts = *tsp;

    L("handshake 1/3 SYN", with_id(tcp(0, WC_TCP_SYN, CI, 0, 0), 1));
    L("handshake 2/3 SYN-ACK", with_id(tcp(1, WC_TCP_SYN | WC_TCP_ACK, SI, CI + 1, 0), 20));
    L("handshake 3/3 ACK", with_id(tcp(0, WC_TCP_ACK, CI + 1, SI + 1, 0), 2));
    *tsp = ts;
}

/* p as captured on interface iface (a flow of its own), seen leaving its host. */
static struct wc_packet leaving(struct wc_packet p, uint32_t iface)
{
    p.link_dir = WC_DIR_OUT;
    p.src[1] = (uint8_t)iface;   /* the tests' track() captures on interface 0: another address instead */
    p.dst[1] = (uint8_t)iface;
    return p;
}

/* A third connection's segment (client port 40001), with IP ID id and TCP timestamp tsval. */
static struct wc_packet third_conn(struct wc_packet p, uint16_t id, uint32_t tsval)
{
    if (p.sport == 40000)
        p.sport = 40001;
    else
        p.dport = 40001;
    p.ip_id = id;
    p.has_ts = 1;
    p.ts_val = tsval;
    return p;
}

/* An IPv6 segment: no IP ID, only its TCP timestamp tells one sending from another. */
static struct wc_packet v6_ts(struct wc_packet p, uint32_t tsval)
{
    p.ip_version = 6;
    p.has_ts = 1;
    p.ts_val = tsval;
    return p;
}

/* Reordering puts other packets between the network's copy and its original: still a copy, not a resend. */
static void test_tcp_late_copies(void)
{
    struct wc_flows *t = wc_flows_new(16);
    const struct wc_flow_summary *f;
    uint64_t ts = 0;

    handshake(t, &ts);
    L("data seq=1 len=100", cdata(1, 100, 3));
    L("data seq=101 len=100", cdata(101, 100, 4));
    L("ACK ack=101", sack(101, 21));
    L("network duplicate of seq=1 len=100 (same IP ID 0x0003)", cdata(1, 100, 3));
    L("ACK ack=201", sack(201, 22));
    L("network duplicate of ACK ack=101 (same IP ID 0x0015)", sack(101, 21));
    f = wc_flows_get(t, 0);
    CHECK_EQ("client network duplicates", 1, f->side[0].dup);
    CHECK_EQ("server network duplicates", 1, f->side[1].dup);
    CHECK_EQ("client retransmissions", 0, f->side[0].retrans);
    CHECK_EQ("client out-of-order", 0, f->side[0].ooo);

    /* IPv6: the same bytes, timestamp included, are the copy; a resend has a later timestamp. */
    L("handshake 1/3 SYN", v6_ts(tcp(0, WC_TCP_SYN, CI, 0, 0), 900));
    L("handshake 2/3 SYN-ACK", v6_ts(tcp(1, WC_TCP_SYN | WC_TCP_ACK, SI, CI + 1, 0), 7));
    L("handshake 3/3 ACK", v6_ts(tcp(0, WC_TCP_ACK, CI + 1, SI + 1, 0), 901));
    L("data seq=1 len=100", v6_ts(cdata(1, 100, 0), 1000));
    L("data seq=101 len=100", v6_ts(cdata(101, 100, 0), 1000));
    L("network duplicate of seq=1 len=100 (same bytes)", v6_ts(cdata(1, 100, 0), 1000));
    L("retransmission of seq=1 len=100", v6_ts(cdata(1, 100, 0), 1050));
    CHECK_EQ("flows", 2, wc_flows_count(t));
    f = wc_flows_get(t, 1);
    CHECK_EQ("IPv6 client network duplicates", 1, f->side[0].dup);
    CHECK_EQ("IPv6 client retransmissions", 1, f->side[0].retrans);

    /* IPv4 with ID 0 (Linux's SYN-ACKs): the timestamps tell, as on IPv6; a resend's is later. */
    L("handshake 1/3 SYN", third_conn(tcp(0, WC_TCP_SYN, CI, 0, 0), 1, 30));
    L("handshake 2/3 SYN-ACK", third_conn(tcp(1, WC_TCP_SYN | WC_TCP_ACK, SI, CI + 1, 0), 0, 40));
    L("network duplicate of SYN-ACK (same bytes)", third_conn(tcp(1, WC_TCP_SYN | WC_TCP_ACK, SI, CI + 1, 0), 0, 40));
    L("retransmission of SYN-ACK", third_conn(tcp(1, WC_TCP_SYN | WC_TCP_ACK, SI, CI + 1, 0), 0, 1040));
    CHECK_EQ("flows", 3, wc_flows_count(t));
    f = wc_flows_get(t, 2);
    CHECK_EQ("SYN-ACK network duplicates", 1, f->side[1].dup);
    CHECK_EQ("SYN-ACK retransmissions", 1, f->side[1].retrans);
    /* Seen leaving the server, the same bytes are its own resend within the tick (for a SYN that came twice). */
    L("handshake 2/3 SYN-ACK", leaving(third_conn(tcp(1, WC_TCP_SYN | WC_TCP_ACK, SI, CI + 1, 0), 0, 40), 2));
    L("retransmission of SYN-ACK", leaving(third_conn(tcp(1, WC_TCP_SYN | WC_TCP_ACK, SI, CI + 1, 0), 0, 40), 2));
    wc_flows_free(t);
}

/* Bytes seen here already come again as a resend, even when segments sent after it overtook it; only the
 * first copy, overtaken by its own resend, is out of order. */
static void test_tcp_resends_overtaken(void)
{
    struct wc_flows *t = wc_flows_new(16);
    const struct wc_flow_summary *f;
    uint64_t ts = 0;

    handshake(t, &ts);
    /* A (ID 3) overtaken by B (ID 4); the sender resends A (ID 5) and sends C (ID 6), which overtakes it. */
    L("data seq=101 len=100, gap of 100 bytes before seq=101", cdata(101, 100, 4));
    L("out-of-order seq=1 len=100", cdata(1, 100, 3));
    L("data seq=201 len=100", cdata(201, 100, 6));
    L("retransmission of seq=1 len=100", cdata(1, 100, 5));
    /* D (ID 7) late, E (ID 8) opens a gap, D's resend (ID 9) fills it; then D itself: out of order. */
    L("data seq=401 len=100, gap of 100 bytes before seq=401", cdata(401, 100, 8));
    L("retransmission of seq=301 len=100", cdata(301, 100, 9));
    L("out-of-order seq=301 len=100", cdata(301, 100, 7));
    /* A FIN (ID 11) overtakes the last data (ID 10): the bytes before it are a hole all the same. */
    L("FIN", with_id(tcp(0, WC_TCP_ACK | WC_TCP_FIN, CI + 601, SI + 1, 0), 11));
    L("out-of-order seq=501 len=100", cdata(501, 100, 10));
    f = wc_flows_get(t, 0);
    CHECK_EQ("client retransmissions", 2, f->side[0].retrans);
    CHECK_EQ("client out-of-order", 3, f->side[0].ooo);
    CHECK_EQ("client network duplicates", 0, f->side[0].dup);
    wc_flows_free(t);
}

/* Each hole keeps the segment that opened it, so a later gap does not lose the order of an earlier one. */
static void test_tcp_holes(void)
{
    struct wc_flows *t = wc_flows_new(16);
    const struct wc_flow_summary *f;
    uint64_t ts = 0;
    char want[64];

    handshake(t, &ts);
    L("data seq=1 len=100", cdata(1, 100, 3));
    /* B (ID 4) lost: C (ID 5) opens a hole; D (ID 6) late: E (ID 7) opens a second one. */
    L("data seq=201 len=100, gap of 100 bytes before seq=201", cdata(201, 100, 5));
    L("data seq=401 len=100, gap of 100 bytes before seq=401", cdata(401, 100, 7));
    /* B's resend (ID 8), overtaken by F (ID 9): sent after its hole's opener (ID 5), a resend. */
    L("data seq=501 len=100", cdata(501, 100, 9));
    L("retransmission of seq=101 len=100", cdata(101, 100, 8));
    L("out-of-order seq=301 len=100", cdata(301, 100, 6));
    /* Three segments (IDs 10 to 12) behind G (ID 13); the middle one first splits the hole in two. */
    L("data seq=901 len=100, gap of 300 bytes before seq=901", cdata(901, 100, 13));
    L("out-of-order seq=701 len=100", cdata(701, 100, 11));
    L("out-of-order seq=801 len=100", cdata(801, 100, 12));
    L("retransmission of seq=701 len=100", cdata(701, 100, 14));
    L("out-of-order seq=601 len=100", cdata(601, 100, 10));
    f = wc_flows_get(t, 0);
    CHECK_EQ("client retransmissions", 2, f->side[0].retrans);
    CHECK_EQ("client out-of-order", 4, f->side[0].ooo);
    wc_flows_free(t);

    /* One gap more than is followed: the oldest hole is dropped, and what fills it is judged by the sender's
     * order alone (sent before the latest segment: reordered), not taken for bytes seen already. */
    t = wc_flows_new(16);
    handshake(t, &ts);
    L("data seq=1 len=100", cdata(1, 100, 3));
    for (uint32_t i = 0; i <= 4; i++) {
        uint32_t rel = 201 + 200 * i;

        snprintf(want, sizeof want, "data seq=%u len=100, gap of 100 bytes before seq=%u", rel, rel);
        L(want, cdata(rel, 100, (uint16_t)(5 + 2 * i)));
    }
    L("out-of-order seq=101 len=100", cdata(101, 100, 4));
    L("out-of-order seq=901 len=100", cdata(901, 100, 12));
    L("retransmission of seq=701 len=100", cdata(701, 100, 14));
    wc_flows_free(t);
}

/* 10.0.0.1 -> 10.0.0.2, IPv4 id 0x1a2b, a fragment of `len` bytes at `off`. */
static struct wc_packet frag(uint8_t proto, uint16_t off, uint32_t len, int more)
{
    struct wc_packet p = udp(0, NULL, 0);

    p.proto = proto;
    p.has_l4 = 0;
    p.ip_id = 0x1a2b;
    p.is_fragment = 1;
    p.more_fragments = more;
    p.frag_offset = off;
    p.frag_len = len;
    return p;
}

static void test_fragments_and_other(void)
{
    static const uint8_t tag[] = "WC0000000007:abc";
    struct wc_flows *t = wc_flows_new(16);
    struct wc_packet p;
    uint64_t ts = 0;

    /* A 4,008-byte UDP datagram in three fragments of 1,480, 1,480 and 1,048 bytes. */
    p = udp(0, tag, 1472);
    p.payload_caplen = sizeof tag - 1;
    p.ip_id = 0x1a2b;
    p.is_fragment = p.more_fragments = 1;
    p.frag_len = 1480;
    p.l4_total = 4008;
    L("udp seq=7, IPv4 fragment 1 of 3, datagram id 0x1a2b", p);
    L("IPv4 fragment 2 of 3, datagram id 0x1a2b", frag(17, 1480, 1480, 1));
    L("IPv4 fragment 3 of 3 (last), datagram id 0x1a2b", frag(17, 2960, 1048, 0));
    /* Without the first: the last tells the length, not the share. */
    p = frag(1, 2960, 100, 0);
    p.ip_id = 0x0042;
    L("IPv4 fragment at offset 2960 (last), datagram id 0x0042", p);

    memset(&p, 0, sizeof p);
    p.ip_version = 4;
    p.proto = 1;
    p.has_icmp = 1;
    p.icmp_type = 3;
    p.icmp_code = 3;
    L("ICMP destination unreachable (port unreachable)", p);
    p.icmp_type = 8;
    p.icmp_code = 0;
    p.icmp_id = 77;
    p.icmp_seq = 2;
    L("ICMP echo request id=77 seq=2", p);
    p.ip_version = 6;
    p.proto = 58;
    p.icmp_type = 135;
    memset(p.nd_target, 0, sizeof p.nd_target);
    p.nd_target[0] = 0xfe;
    p.nd_target[1] = 0x80;
    p.nd_target[15] = 1;
    L("ICMPv6 neighbor solicitation for fe80::1", p);
    p.icmp_type = 143;
    L("ICMPv6 multicast listener report v2", p);

    memset(&p, 0, sizeof p);
    p.ethertype = 0x0806;
    p.has_arp = 1;
    p.arp_op = 1;
    memcpy(p.arp_spa, (const uint8_t[]){10, 0, 0, 1}, 4);
    memcpy(p.arp_tpa, (const uint8_t[]){10, 0, 0, 2}, 4);
    L("ARP who-has 10.0.0.2 tell 10.0.0.1", p);
    p.arp_op = 2;
    memcpy(p.arp_sha, (const uint8_t[]){0x02, 0, 0, 0, 0xab, 0x01}, 6);
    L("ARP reply 10.0.0.1 is-at 02:00:00:00:ab:01", p);
    wc_flows_free(t);
}

int main(void)
{
    test_tcp();
    test_tcp_duplicates();
    test_tcp_late_copies();
    test_tcp_resends_overtaken();
    test_tcp_holes();
    test_fragments_and_other();
    test_udp();
    test_limits();
    return check_done("test_flow");
}
