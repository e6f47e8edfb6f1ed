/* flow_label.c - the labels of a flow's packets, one per packet: the UDP --seq state machine (loss, duplicates,
 * reordering) here, TCP's in flow_label_tcp.c. A new label goes into one of the two. */
#include "flow_int.h"
#include "label_int.h"

#include "wirecheck/seq.h"

#include <string.h>

static int seen_test(const struct dir_state *d, uint32_t s)
{
    return (d->seen[(s % WC_SEQ_WINDOW) / 64] >> (s % 64)) & 1;
}

static void seen_set(struct dir_state *d, uint32_t s)
{
    d->seen[(s % WC_SEQ_WINDOW) / 64] |= 1ull << (s % 64);
}

static void seen_clear(struct dir_state *d, uint32_t s)
{
    d->seen[(s % WC_SEQ_WINDOW) / 64] &= ~(1ull << (s % 64));
}

static void label_udp(struct flow *f, int dir, const struct wc_packet *p, struct lbl *l)
{
    struct dir_state *d = &f->d[dir];
    struct wc_flow_side *side = &f->s.side[dir];
    uint32_t s, m = d->udp_max;

    side->packets++;
    side->bytes += p->payload_len;
    if (!p->payload || wc_seq_decode(p->payload, p->payload_caplen, &s) < 0) {
        put_sus(l, "udp len=", p->payload_len, "");
        return;
    }
    side->tagged++;
    if (!d->udp_started) {
        d->udp_started = 1;
        d->udp_max = s;
        seen_set(d, s);
        put_sus(l, "udp seq=", s, "");
        return;
    }
    if (s == m || (s < m && m - s < WC_SEQ_WINDOW && seen_test(d, s))) {
        /* The network's copy keeps the IPv4 ID; a second datagram the sender made with this tag (a server
         * answering both copies of a request) has its own. */
        int copy = p->ip_version != 4 || !p->ip_id || (s == d->last_tag && p->ip_id == d->last_udp_id);

        d->last_tag = s;
        d->last_udp_id = p->ip_id;
        if (copy && p->link_dir != WC_DIR_OUT) {
            side->dup++;
            put_sus(l, "udp seq=", s, " duplicate");
            if (p->ip_version == 4 && p->ip_id) {
                put_s(l, " (same IP ID ");
                put_hex(l, p->ip_id, 4, 1);
                put_s(l, ")");
            }
        } else {
            put_sus(l, "udp seq=", s, " again (another datagram with this tag)");
        }
        return;
    }
    d->last_tag = s;
    d->last_udp_id = p->ip_id;
    if (s < m) {
        side->reordered++;
        if (side->lost)
            side->lost--;
        if (m - s < WC_SEQ_WINDOW)
            seen_set(d, s);
        /* Where it was sent, the order is the sender's; the first sender numbers its datagrams in order, so
         * out of order on arrival they were reordered on the way; the answers echo the tags in the order the
         * requests came, so their order may be either link's doing. */
        if (p->link_dir == WC_DIR_OUT)
            put_sus(l, "udp seq=", s, " sent after seq=");
        else if (dir == 0)
            put_sus(l, "udp seq=", s, " reordered (after ");
        else
            put_sus(l, "udp seq=", s, " after seq=");
        put_u(l, m);
        if (p->link_dir != WC_DIR_OUT)
            put_s(l, dir == 0 ? ")" : " (the requests or these answers were reordered)");
        return;
    }
    /* Moving the window: numbers that drop out of it are forgotten. */
    if (s - m >= WC_SEQ_WINDOW)
        memset(d->seen, 0, sizeof d->seen);
    else
        for (uint32_t i = m + 1; i != s + 1; i++)
            seen_clear(d, i);
    seen_set(d, s);
    d->udp_max = s;
    if (s == m + 1) {
        put_sus(l, "udp seq=", s, "");
        return;
    }
    side->lost += s - m - 1;
    put_sus(l, "udp seq=", s, " follows a gap of ");
    put_sus(l, "", s - m - 1, " (loss?)");
}

void wc_flow_label(struct flow *f, int dir, uint64_t ts_ns, const struct wc_packet *pkt, char *label, size_t len)
{
    struct lbl l = {label, 0, len};

    if (pkt->proto == 6)
        wc_flow_label_tcp(f, dir, ts_ns, pkt, &l);
    else
        label_udp(f, dir, pkt, &l);
}
