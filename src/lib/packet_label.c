/* packet_label.c - the labels of packets outside the flows: IP fragments ("IPv4 fragment 2 of 45, datagram id
 * 0x1a2b"), ICMP, ICMPv6 with neighbor discovery, ARP, and the protocol of anything else. */
#include "flow_int.h"
#include "label_int.h"

#include "wirecheck/decode.h"

#include <string.h>

static void put_addr4(struct lbl *l, const uint8_t *a)
{
    for (int i = 0; i < 4; i++) {
        put_u(l, a[i]);
        if (i < 3)
            put_s(l, ".");
    }
}

void wc_frag_label(struct frag_slot *slot, const struct wc_packet *p, char *label, size_t len)
{
    struct lbl l = {label, len ? strlen(label) : 0, len};   /* no room: the slot is still updated */
    uint32_t index = 0, count = 0;

    /* Every fragment but the last has the same share, a multiple of 8; the last (or the first, through its
     * UDP header) tells the datagram's length. */
    if (p->more_fragments && p->frag_len)
        slot->frag_len = p->frag_len;
    if (!p->more_fragments)
        slot->total = p->frag_offset + p->frag_len;
    else if (p->frag_offset == 0 && p->l4_total)
        slot->total = p->l4_total;
    if (slot->frag_len) {
        index = p->frag_offset / slot->frag_len + 1;
        if (slot->total)
            count = (slot->total + slot->frag_len - 1) / slot->frag_len;
    } else if (p->frag_offset == 0) {
        index = 1;
    }
    if (l.n)
        put_s(&l, ", ");
    put_s(&l, p->ip_version == 4 ? "IPv4 fragment " : "IPv6 fragment ");
    if (index) {
        put_u(&l, index);
        if (count) {
            put_sus(&l, " of ", count, "");
        }
    } else {
        put_sus(&l, "at offset ", p->frag_offset, "");
    }
    if (!p->more_fragments)
        put_s(&l, " (last)");
    put_s(&l, ", datagram id ");
    put_hex(&l, slot->id, 4, 1);
}

static const char *icmp4_name(uint8_t type)
{
    switch (type) {
    case 0: return "echo reply";
    case 3: return "destination unreachable";
    case 5: return "redirect";
    case 8: return "echo request";
    case 11: return "time exceeded";
    case 12: return "parameter problem";
    default: return NULL;
    }
}

static const char *icmp6_name(uint8_t type)
{
    switch (type) {
    case 1: return "destination unreachable";
    case 2: return "packet too big";
    case 3: return "time exceeded";
    case 4: return "parameter problem";
    case 128: return "echo request";
    case 129: return "echo reply";
    case 133: return "router solicitation";
    case 134: return "router advertisement";
    case 135: return "neighbor solicitation";
    case 136: return "neighbor advertisement";
    case 137: return "redirect";
    case 143: return "multicast listener report v2";
    default: return NULL;
    }
}

static const char *unreach_name(int v6, uint8_t code)
{
    static const char *const v4[] = {"net unreachable", "host unreachable", "protocol unreachable",
                                     "port unreachable", "fragmentation needed", "source route failed"};
    static const char *const v6n[] = {"no route", "administratively prohibited", "beyond scope",
                                      "address unreachable", "port unreachable"};

    if (v6)
        return code < sizeof v6n / sizeof v6n[0] ? v6n[code] : NULL;
    return code < sizeof v4 / sizeof v4[0] ? v4[code] : NULL;
}

void wc_other_label(const struct wc_packet *p, char *label, size_t len)
{
    struct lbl l = {label, 0, len};

    if (len)
        label[0] = '\0';
    if (p->has_arp) {
        if (p->arp_op == 1) {
            put_s(&l, "ARP who-has ");
            put_addr4(&l, p->arp_tpa);
            put_s(&l, " tell ");
            put_addr4(&l, p->arp_spa);
        } else if (p->arp_op == 2) {
            put_s(&l, "ARP reply ");
            put_addr4(&l, p->arp_spa);
            put_s(&l, " is-at ");
            for (int i = 0; i < 6; i++) {
                put_hex(&l, p->arp_sha[i], 2, 0);
                if (i < 5)
                    put_s(&l, ":");
            }
        } else {
            put_sus(&l, "ARP op ", p->arp_op, "");
        }
        return;
    }
    if (p->ethertype == 0x0806) {
        put_s(&l, "ARP (not IPv4 over Ethernet)");
        return;
    }
    if (p->has_icmp) {
        int v6 = p->proto == 58;
        const char *name = v6 ? icmp6_name(p->icmp_type) : icmp4_name(p->icmp_type);

        put_s(&l, v6 ? "ICMPv6 " : "ICMP ");
        if (name)
            put_s(&l, name);
        else
            put_sus(&l, "type ", p->icmp_type, "");
        if (p->icmp_type == (v6 ? 1 : 3)) {
            const char *why = unreach_name(v6, p->icmp_code);

            if (why) {
                put_s(&l, " (");
                put_s(&l, why);
                put_s(&l, ")");
            } else {
                put_sus(&l, " (code ", p->icmp_code, ")");
            }
        } else if (p->icmp_type == (v6 ? 128 : 8) || p->icmp_type == (v6 ? 129 : 0)) {
            put_sus(&l, " id=", p->icmp_id, " seq=");
            put_u(&l, p->icmp_seq);
        } else if (v6 && (p->icmp_type == 135 || p->icmp_type == 136)) {
            char a[48];

            wc_addr_str(6, p->nd_target, a, sizeof a);
            put_s(&l, " for ");
            put_s(&l, a);
        }
        return;
    }
    if (p->ip_version) {
        put_sus(&l, p->ip_version == 4 ? "IPv4 protocol " : "IPv6 next header ", p->proto, "");
        return;
    }
    if (p->ethertype) {
        put_s(&l, "ethertype ");
        put_hex(&l, p->ethertype, 4, 1);
        return;
    }
    put_s(&l, "not decoded (unknown link type)");
}
