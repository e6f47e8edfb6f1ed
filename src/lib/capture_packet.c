/* capture_packet.c - the sniffer's per-packet path, the same for every source: decode, label, print and encode
 * on arrival, then the block waits in the reorder stage for its turn to be written. */
#include "capture_int.h"

#include "wirecheck/decode.h"
#include "wirecheck/flow.h"
#include "wirecheck/pcapng.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static unsigned direction(const struct source *src, const struct wc_packet *pkt)
{
    if (!src->has_mac || !pkt->has_eth)
        return WC_DIR_UNKNOWN;
    return memcmp(pkt->eth_src, src->mac, 6) == 0 ? WC_DIR_OUT : WC_DIR_IN;
}

void wc_sniff_packet(struct wc_sniff *s, struct source *src, const struct rec *rec)
{
    char label[WC_LABEL_SIZE + 64];
    struct wc_packet pkt;
    uint32_t flags;
    int ok;

    label[0] = '\0';
    ok = wc_decode(rec->data, rec->caplen, src->linktype, &pkt) == 0;
    /* Offline, the file knows the direction (and more flags); live, the MAC tells. */
    flags = rec->in ? rec->in->flags : direction(src, &pkt);
    pkt.link_dir = (uint8_t)(flags & 3u);
    if (!ok) {
        s->malformed++;
        snprintf(label, sizeof label, "malformed: %s", pkt.reason);
    } else {
        wc_flows_track(s->flows, src->ifid, rec->ts, &pkt, label, sizeof label);
    }
    if (s->cfg->print)
        wc_sniff_print(s->cfg->print, src->pub.name, rec, &pkt, ok, flags & 3u, label);
    if (s->out && !s->out->encode(s, src, rec, flags, label, wc_sniff_order_reserve) && !s->werr)
        s->werr = -ENOMEM;
    src->pub.packets++;
    s->packets++;
    if (s->cfg->count && s->packets >= (uint64_t)s->cfg->count)
        s->stop = 1;
}

int wc_sniff_flush(struct wc_sniff *s)
{
    int r = s->out ? s->out->flush(s) : 0;

    if (r < 0 && !s->werr)
        s->werr = r;
    return s->werr;
}

int wc_sniff_write_failed(struct wc_sniff *s)
{
    return wc_sniff_fail(s, s->werr, "writing %s: %s", s->out->tmpname(s), strerror(-s->werr));
}
