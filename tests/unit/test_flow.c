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
    L("data seq=31 len=10", tcp(0, WC_TCP_ACK, c + 31, s + 1, 10));      /* 11..30 not seen yet */
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

int main(void)
{
    test_tcp();
    test_udp();
    test_limits();
    return check_done("test_flow");
}
