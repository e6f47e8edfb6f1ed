/* decode.c - packet header decoder; every read goes through struct cursor and its bounds. */
#include "wirecheck/decode.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

struct cursor {
    const uint8_t *p;
    size_t len, off;
};

static int cur_need(const struct cursor *c, size_t n)
{
    return c->len - c->off >= n;
}

static uint8_t get8(struct cursor *c)
{
    return c->p[c->off++];
}

static uint16_t get16(struct cursor *c)
{
    uint16_t v = (uint16_t)(c->p[c->off] << 8 | c->p[c->off + 1]);

    c->off += 2;
    return v;
}

static uint32_t get32(struct cursor *c)
{
    uint32_t v = (uint32_t)c->p[c->off] << 24 | (uint32_t)c->p[c->off + 1] << 16 |
                 (uint32_t)c->p[c->off + 2] << 8 | c->p[c->off + 3];

    c->off += 4;
    return v;
}

static void get_bytes(struct cursor *c, void *out, size_t n)
{
    memcpy(out, c->p + c->off, n);
    c->off += n;
}

static void skip(struct cursor *c, size_t n)
{
    c->off += n;
}

/* A sub-cursor over the next n bytes (the caller checked they are there). */
static struct cursor sub(const struct cursor *c, size_t n)
{
    struct cursor s = {c->p + c->off, n, 0};

    return s;
}

static int fail(struct wc_packet *pkt, const char *why)
{
    pkt->reason = why;
    return -1;
}

static int decode_tcp_options(struct cursor *o, struct wc_packet *pkt)
{
    while (cur_need(o, 1)) {
        uint8_t kind = get8(o), len;

        if (kind == 0)
            break;
        if (kind == 1)
            continue;
        if (!cur_need(o, 1))
            return fail(pkt, "TCP option length truncated");
        len = get8(o);
        if (len < 2 || !cur_need(o, (size_t)len - 2))
            return fail(pkt, "TCP option length out of bounds");
        if (kind == 2 && len == 4)
            pkt->mss = get16(o);
        else if (kind == 3 && len == 3)
            pkt->wscale = get8(o);
        else if (kind == 4 && len == 2)
            pkt->sack_ok = 1;
        else if (kind == 8 && len == 10) {
            pkt->has_ts = 1;
            pkt->ts_val = get32(o);
            pkt->ts_ecr = get32(o);
        } else
            skip(o, (size_t)len - 2);
    }
    return 0;
}

/* c covers the transport header and payload as far as the IP length says and
 * the capture has; l4len is the length per the IP header. */
static int decode_l4(struct cursor *c, uint32_t l4len, struct wc_packet *pkt)
{
    size_t hl;

    if (pkt->is_fragment)
        pkt->frag_len = l4len;
    if (pkt->is_fragment && pkt->frag_offset != 0)
        return 0;
    if (pkt->proto == 1 || pkt->proto == 58) {
        if (!cur_need(c, 4))
            return fail(pkt, pkt->proto == 1 ? "ICMP header truncated" : "ICMPv6 header truncated");
        pkt->has_icmp = 1;
        pkt->icmp_type = get8(c);
        pkt->icmp_code = get8(c);
        skip(c, 2);
        if (cur_need(c, 4)) {
            pkt->icmp_id = get16(c);
            pkt->icmp_seq = get16(c);
            /* Neighbor solicitation and advertisement: 4 bytes (read above), then the target. */
            if (pkt->proto == 58 && (pkt->icmp_type == 135 || pkt->icmp_type == 136) && cur_need(c, 16))
                get_bytes(c, pkt->nd_target, 16);
        }
        return 0;
    }
    if (pkt->proto == 6) {
        struct cursor o;

        if (!cur_need(c, 20))
            return fail(pkt, "TCP header truncated");
        pkt->sport = get16(c);
        pkt->dport = get16(c);
        pkt->seq = get32(c);
        pkt->ack = get32(c);
        hl = (size_t)(get8(c) >> 4) * 4;
        pkt->tcp_flags = get8(c);
        pkt->window = get16(c);
        skip(c, 4);   /* checksum, urgent pointer */
        if (hl < 20)
            return fail(pkt, "TCP data offset below 5");
        if (hl > l4len)
            return fail(pkt, "TCP data offset beyond the IP payload");
        if (!cur_need(c, hl - 20))
            return fail(pkt, "TCP options truncated");
        o = sub(c, hl - 20);
        skip(c, hl - 20);
        if (decode_tcp_options(&o, pkt) < 0)
            return -1;
    } else if (pkt->proto == 17) {
        uint16_t ulen;

        if (!cur_need(c, 8))
            return fail(pkt, "UDP header truncated");
        pkt->sport = get16(c);
        pkt->dport = get16(c);
        ulen = get16(c);
        skip(c, 2);
        hl = 8;
        /* The first fragment of a larger datagram carries its UDP header: the length is the whole datagram's. */
        if (ulen < 8 || (ulen > l4len && !pkt->more_fragments))
            return fail(pkt, "UDP length outside the IP payload");
        if (pkt->more_fragments)
            pkt->l4_total = ulen;
        else
            l4len = ulen;
    } else {
        return 0;
    }
    pkt->has_l4 = 1;
    pkt->payload_len = l4len - (uint32_t)hl;
    pkt->payload_caplen = (uint32_t)(c->len - c->off);
    if (pkt->payload_caplen > pkt->payload_len)
        pkt->payload_caplen = pkt->payload_len;
    pkt->payload = pkt->payload_caplen ? c->p + c->off : NULL;
    return 0;
}

static int decode_ipv4(struct cursor *c, struct wc_packet *pkt)
{
    uint8_t vihl;
    uint16_t total, frag;
    size_t hl;
    struct cursor l4;

    if (!cur_need(c, 20))
        return fail(pkt, "IPv4 header truncated");
    vihl = get8(c);
    if (vihl >> 4 != 4)
        return fail(pkt, "IPv4 version is not 4");
    hl = (size_t)(vihl & 15) * 4;
    skip(c, 1);
    total = get16(c);
    pkt->ip_id = get16(c);
    frag = get16(c);
    pkt->ttl = get8(c);
    pkt->proto = get8(c);
    skip(c, 2);
    get_bytes(c, pkt->src, 4);
    get_bytes(c, pkt->dst, 4);
    pkt->ip_version = 4;
    if (hl < 20)
        return fail(pkt, "IPv4 header length below 20");
    if (total < hl)
        return fail(pkt, "IPv4 total length below its header length");
    if (!cur_need(c, hl - 20))
        return fail(pkt, "IPv4 options truncated");
    skip(c, hl - 20);   /* options: nothing in them changes how we label */
    pkt->more_fragments = (frag & 0x2000) != 0;
    pkt->frag_offset = (uint16_t)((frag & 0x1fff) * 8);
    pkt->is_fragment = pkt->more_fragments || pkt->frag_offset;
    /* Ethernet pads short frames: the IP length, not the capture, says where the packet ends. */
    l4 = sub(c, cur_need(c, total - hl) ? total - hl : c->len - c->off);
    return decode_l4(&l4, total - (uint32_t)hl, pkt);
}

static int decode_ipv6(struct cursor *c, struct wc_packet *pkt)
{
    uint32_t plen;
    uint8_t next;
    struct cursor l4;

    if (!cur_need(c, 40))
        return fail(pkt, "IPv6 header truncated");
    if (get8(c) >> 4 != 6)
        return fail(pkt, "IPv6 version is not 6");
    skip(c, 3);
    plen = get16(c);
    next = get8(c);
    pkt->ttl = get8(c);
    get_bytes(c, pkt->src, 16);
    get_bytes(c, pkt->dst, 16);
    pkt->ip_version = 6;
    l4 = sub(c, cur_need(c, plen) ? plen : c->len - c->off);
    /* Skip hop-by-hop, routing, fragment and destination options headers. */
    for (;;) {
        size_t elen;

        if (next != 0 && next != 43 && next != 44 && next != 60)
            break;
        if (!cur_need(&l4, 8))
            return fail(pkt, "IPv6 extension header truncated");
        if (next == 44) {
            uint16_t off;

            next = get8(&l4);
            skip(&l4, 1);
            off = get16(&l4);
            pkt->ip_id = (uint16_t)get32(&l4);
            pkt->more_fragments = off & 1;
            pkt->frag_offset = off & 0xfff8;
            pkt->is_fragment = 1;
            elen = 8;
        } else {
            next = get8(&l4);
            elen = ((size_t)get8(&l4) + 1) * 8;
            if (!cur_need(&l4, elen - 2))
                return fail(pkt, "IPv6 extension header truncated");
            skip(&l4, elen - 2);
        }
        if (elen > plen)
            return fail(pkt, "IPv6 extension headers beyond the payload length");
        plen -= (uint32_t)elen;
    }
    pkt->proto = next;
    l4 = sub(&l4, l4.len - l4.off);
    return decode_l4(&l4, plen, pkt);
}

/* ARP for IPv4 over Ethernet; other hardware or protocol types are left undecoded. */
static int decode_arp(struct cursor *c, struct wc_packet *pkt)
{
    uint16_t htype, ptype;
    uint8_t hlen, plen;

    if (!cur_need(c, 8))
        return fail(pkt, "ARP header truncated");
    htype = get16(c);
    ptype = get16(c);
    hlen = get8(c);
    plen = get8(c);
    pkt->arp_op = get16(c);
    if (htype != 1 || ptype != 0x0800 || hlen != 6 || plen != 4)
        return 0;
    if (!cur_need(c, 20))
        return fail(pkt, "ARP addresses truncated");
    pkt->has_arp = 1;
    get_bytes(c, pkt->arp_sha, 6);
    get_bytes(c, pkt->arp_spa, 4);
    skip(c, 6);
    get_bytes(c, pkt->arp_tpa, 4);
    return 0;
}

static int decode_ethertype(struct cursor *c, struct wc_packet *pkt)
{
    if (pkt->ethertype == 0x0806)
        return decode_arp(c, pkt);
    if (pkt->ethertype == 0x0800)
        return decode_ipv4(c, pkt);
    if (pkt->ethertype == 0x86DD)
        return decode_ipv6(c, pkt);
    return 0;
}

static int decode_raw(struct cursor *c, struct wc_packet *pkt)
{
    if (!cur_need(c, 1))
        return fail(pkt, "raw IP packet empty");
    pkt->ethertype = (c->p[c->off] >> 4) == 6 ? 0x86DD : 0x0800;
    return decode_ethertype(c, pkt);
}

int wc_decode(const uint8_t *data, size_t caplen, int linktype, struct wc_packet *pkt)
{
    struct cursor c = {data, caplen, 0};

    memset(pkt, 0, sizeof *pkt);
    pkt->wscale = -1;
    switch (linktype) {
    case WC_LINK_ETHERNET:
        if (!cur_need(&c, 14))
            return fail(pkt, "Ethernet header truncated");
        pkt->has_eth = 1;
        get_bytes(&c, pkt->eth_dst, 6);
        get_bytes(&c, pkt->eth_src, 6);
        pkt->ethertype = get16(&c);
        if (pkt->ethertype == 0x8100 || pkt->ethertype == 0x88A8) {
            if (!cur_need(&c, 4))
                return fail(pkt, "802.1Q tag truncated");
            pkt->has_vlan = 1;
            pkt->vlan_id = get16(&c) & 0x0fff;
            pkt->ethertype = get16(&c);
        }
        return decode_ethertype(&c, pkt);
    case WC_LINK_LINUX_SLL:
        if (!cur_need(&c, 16))
            return fail(pkt, "Linux cooked header truncated");
        skip(&c, 14);
        pkt->ethertype = get16(&c);
        return decode_ethertype(&c, pkt);
    case WC_LINK_LINUX_SLL2:
        if (!cur_need(&c, 20))
            return fail(pkt, "Linux cooked v2 header truncated");
        pkt->ethertype = get16(&c);
        skip(&c, 18);
        return decode_ethertype(&c, pkt);
    case WC_LINK_NULL:
        if (!cur_need(&c, 4))
            return fail(pkt, "loopback header truncated");
        skip(&c, 4);   /* the family, in the writer's byte order */
        return decode_raw(&c, pkt);
    case WC_LINK_RAW:
    case 12:           /* DLT_RAW on some systems */
        return decode_raw(&c, pkt);
    case WC_LINK_IPV4:
        pkt->ethertype = 0x0800;
        return decode_ethertype(&c, pkt);
    case WC_LINK_IPV6:
        pkt->ethertype = 0x86DD;
        return decode_ethertype(&c, pkt);
    default:
        return 0;
    }
}

void wc_addr_str(int ip_version, const uint8_t *addr, char *out, size_t outlen)
{
    if (!inet_ntop(ip_version == 6 ? AF_INET6 : AF_INET, addr, out, (socklen_t)outlen))
        snprintf(out, outlen, "?");
}
