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

/* One interface's packets keep the order the kernel handed them over in, which is the order its stack saw them
 * in: the kernel stamps an inbound packet when it is queued (on either CPU), so under load one can carry a time
 * older than packets handed over before it, sent before it too by their IP IDs; sorted by those times, tshark
 * calls the earlier ones retransmissions. Such a packet takes the time of the one before it instead: the file
 * stays in time order, and in the interface's order. */
static struct rec in_order(struct source *src, const struct rec *rec)
{
    struct rec r = *rec;

    if (r.ts < src->last_ts) {
        src->pub.restamped++;
        if (src->last_ts - r.ts > src->pub.restamped_max_ns)
            src->pub.restamped_max_ns = src->last_ts - r.ts;
        r.ts = src->last_ts;
    }
    src->last_ts = r.ts;
    return r;
}

void wc_sniff_packet(struct wc_sniff *s, struct source *src, const struct rec *in)
{
    char label[WC_LABEL_SIZE + 64];
    struct rec r = in_order(src, in), *rec = &r;
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
