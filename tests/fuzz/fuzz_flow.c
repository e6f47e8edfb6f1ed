/* fuzz_flow.c - the flow tracker over a packet sequence from the input: decoded frames, or compact
 * records on a few addresses and ports so that flows, handshakes, holes and --seq tags collide. */
#include "wirecheck/flow.h"

#include "wirecheck/decode.h"
#include "wirecheck/seq.h"
#include "fuzz.h"

#include <errno.h>
#include <string.h>

/* A record: what, flags, ports, seq, ack, payload length, time step. */
static void from_record(struct fuzz_in *in, struct wc_packet *p, uint8_t *tag, uint32_t *iface)
{
    uint8_t what = fuzz_u8(in), ports = fuzz_u8(in);

    memset(p, 0, sizeof *p);
    p->ip_version = what & 1 ? 6 : 4;
    p->proto = what & 2 ? 17 : 6;
    p->has_l4 = !(what & 0x80) || (what & 0x40);   /* now and then: IP without a transport header */
    p->src[0] = (uint8_t)(what >> 2 & 1);
    p->dst[0] = (uint8_t)(what >> 3 & 1);
    *iface = what >> 4 & 1;
    p->sport = (uint16_t)(1000 + (ports & 3));
    p->dport = (uint16_t)(1000 + (ports >> 2 & 3));
    p->tcp_flags = fuzz_u8(in);
    p->seq = fuzz_u32(in);
    p->ack = fuzz_u32(in);
    p->payload_len = fuzz_u16(in);
    if (p->proto == 17 && (what & 0x20)) {
        /* A --seq tag near the others: the low bits only, so windows overlap. */
        wc_seq_encode(tag, ports & 0x80 ? p->seq : p->seq & 0x7ff);
        p->payload = tag;
        p->payload_caplen = p->payload_len < WC_SEQ_TAG_LEN ? p->payload_len : WC_SEQ_TAG_LEN;
        if (!p->payload_caplen)
            p->payload = NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t mode = fuzz_u8(&in), tag[WC_SEQ_TAG_LEN];
    size_t max = (size_t)(mode & 15) + 1, labelsz = mode & 0x20 ? WC_LABEL_SIZE : fuzz_u8(&in) % 40;
    struct wc_flows *t = wc_flows_new(max);
    uint64_t ts = 0, l4 = 0, untracked = 0, counted = 0;
    char *label = malloc(labelsz ? labelsz : 1);

    FUZZ_CHECK(t && label);
    while (in.n) {
        struct wc_packet pkt;
        uint32_t iface = 0;
        int r;

        if (mode & 0x10) {
            /* A length-prefixed frame of a link type the first byte chose. */
            size_t len = fuzz_u8(&in);
            static const int lt[] = {WC_LINK_RAW, WC_LINK_ETHERNET, WC_LINK_IPV4, WC_LINK_IPV6};

            len = len < in.n ? len : in.n;
            r = wc_decode(in.p, len, lt[mode >> 6], &pkt);
            in.p += len;
            in.n -= len;
            if (r < 0)
                continue;
        } else {
            from_record(&in, &pkt, tag, &iface);
        }
        ts += (uint64_t)fuzz_u8(&in) << (mode & 0x40 ? 20 : 4);
        r = wc_flows_track(t, iface, ts, &pkt, label, labelsz);
        FUZZ_CHECK(r == 0 || r == -ENOSPC || r == -EPROTONOSUPPORT);
        if (labelsz)
            FUZZ_CHECK(memchr(label, '\0', labelsz) != NULL);
        l4 += r != -EPROTONOSUPPORT;
        untracked += r == -ENOSPC;
    }
    FUZZ_CHECK(wc_flows_count(t) <= max && wc_flows_untracked(t) == untracked);
    for (size_t i = 0; i < wc_flows_count(t); i++) {
        const struct wc_flow_summary *s = wc_flows_get(t, i);

        FUZZ_CHECK(s->proto == 6 || s->proto == 17);
        FUZZ_CHECK(strcmp(wc_flow_close_name(s->close), "?") != 0);
        for (int d = 0; d < 2; d++) {
            const struct wc_flow_side *x = &s->side[d];

            counted += x->packets;
            if (s->proto == 17) {
                FUZZ_CHECK(x->tagged <= x->packets && x->dup + x->reordered <= x->tagged);
            } else {
                /* A TCP copy made by the network is labelled and counted as a duplicate, not as a segment. */
                FUZZ_CHECK(x->tagged == 0 && x->reordered == 0 && x->retrans + x->ooo <= x->packets);
                counted += x->dup;
            }
        }
    }
    FUZZ_CHECK(wc_flows_get(t, wc_flows_count(t)) == NULL);
    FUZZ_CHECK(counted + untracked == l4);
    wc_flows_free(t);
    free(label);
    return 0;
}
