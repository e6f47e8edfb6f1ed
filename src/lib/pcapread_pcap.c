/* pcapread_pcap.c - the classic pcap format (either byte order, µs or ns): one header, then records. */
#include "pcapread_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    CLASSIC_RECORD = 16,
};

int wc_pcapread_step_pcap(struct wc_pcapread *r, struct wc_pcapread_packet *pkt)
{
    struct cursor c = {r->data + r->pos, r->len - r->pos, 0, r->pos, r->be};
    uint32_t sec, frac;

    if (r->pos == r->len)
        return 0;
    if (!cur_room(&c, CLASSIC_RECORD))
        return wc_pcapread_bad(r, r->pos, "record header needs %d bytes, the file has %zu left", CLASSIC_RECORD, c.n);
    memset(pkt, 0, offsetof(struct wc_pcapread_packet, comments));
    pkt->ncomments = 0;
    pkt->offset = r->pos;
    sec = cur_u32(&c);
    frac = cur_u32(&c);
    pkt->caplen = cur_u32(&c);
    pkt->origlen = cur_u32(&c);
    if (pkt->caplen > WC_PCAPREAD_MAX_BLOCK)
        return wc_pcapread_bad(r, r->pos, "record capture length %u is bigger than the maximum %u", pkt->caplen,
                               WC_PCAPREAD_MAX_BLOCK);
    if (!cur_room(&c, pkt->caplen))
        return wc_pcapread_bad(r, r->pos, "record capture length %u runs past the end of the file (%zu bytes left)",
                               pkt->caplen, c.n - c.pos);
    pkt->data = c.p + c.pos;
    pkt->ts_ns = (uint64_t)sec * 1000000000ull + (uint64_t)frac * (r->classic_ns ? 1u : 1000u);
    r->pos += CLASSIC_RECORD + pkt->caplen;
    return 1;
}

int wc_pcapread_open_pcap(struct wc_pcapread *r)
{
    struct cursor c = {r->data, r->len, 0, 0, 0};
    struct iface f;
    uint32_t magic, snaplen, network;
    uint16_t major, minor;

    if (!cur_room(&c, WC_PCAPREAD_CLASSIC_HEADER))
        return wc_pcapread_bad(r, 0, "pcap file header needs %d bytes, the file has %zu", WC_PCAPREAD_CLASSIC_HEADER,
                               r->len);
    magic = cur_u32(&c);
    r->be = magic == 0xD4C3B2A1 || magic == 0x4D3CB2A1;
    r->classic_ns = magic == 0xA1B23C4D || magic == 0x4D3CB2A1;
    c.be = r->be;
    major = cur_u16(&c);
    minor = cur_u16(&c);
    if (major != 2)
        return wc_pcapread_bad(r, 4, "unsupported pcap version %u.%u (only 2.x)", major, minor);
    c.pos += 8;   /* thiszone, sigfigs */
    snaplen = cur_u32(&c);
    network = cur_u32(&c);
    /* The upper bits carry the FCS length, not the link type. */
    if ((network & 0x03FFFFFF) > 0xFFFF)
        return wc_pcapread_bad(r, 20, "link type %u is above 65535", network & 0x03FFFFFF);
    memset(&f, 0, sizeof f);
    f.pub.linktype = (uint16_t)network;
    f.pub.snaplen = snaplen;
    f.exp = r->classic_ns ? 9 : 6;
    if (!(r->ifs = malloc(sizeof *r->ifs)))
        return -ENOMEM;
    r->ifs[0] = f;
    r->nifs = r->capifs = 1;
    r->pos = WC_PCAPREAD_CLASSIC_HEADER;
    return 0;
}
