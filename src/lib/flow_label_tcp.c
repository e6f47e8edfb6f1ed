/* flow_label_tcp.c - the TCP labels: handshake, data, retransmission, out-of-order, network duplicates,
 * duplicate ACKs, FIN/RST, from a flow's per-direction state. */
#include "flow_int.h"
#include "label_int.h"

/* Serial-number arithmetic (RFC 1982): is a before b? */
static int seq_lt(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
}

static void close_state(struct flow *f)
{
    if (f->s.close == WC_CLOSE_RST)
        return;
    f->s.close = f->d[0].fin && f->d[1].fin ? WC_CLOSE_FIN : WC_CLOSE_HALF;
}

/* Was p sent before the latest-sent segment seen this way (1), after it (0), or is it not known (-1)? Then
 * p becomes the latest if it is. */
static int sent_earlier(struct dir_state *d, const struct wc_packet *p)
{
    int r = -1;

    if (p->ip_version == 4 && p->ip_id) {
        int16_t delta = (int16_t)(uint16_t)(p->ip_id - d->max_id);

        /* Only IDs seen counting up (a step of 1 to 64) are an order; random IDs are not. */
        if (d->id_known && delta > 0 && delta <= 64)
            d->ids_count = 1;
        else if (d->id_known && (delta > 4096 || delta < -4096))
            d->ids_count = 0;
        if (d->ids_count && delta != 0)
            r = delta < 0;
        if (!d->id_known || delta > 0) {
            d->max_id = p->ip_id;
            d->id_known = 1;
        }
        if (r >= 0)
            return r;
    }
    if (p->has_ts) {
        if (d->ts_known && p->ts_val != d->max_tsval)
            r = seq_lt(p->ts_val, d->max_tsval);
        if (!d->ts_known || r == 0) {
            d->max_tsval = p->ts_val;
            d->ts_known = 1;
        }
    }
    return r;
}

/* Was p sent before the segment that opened the hole (1), after it (0), or is it not known (-1)? */
static int sent_before_hole(const struct dir_state *d, const struct wc_packet *p)
{
    if (p->ip_version == 4 && p->ip_id && d->ids_count && d->hole_id && p->ip_id != d->hole_id)
        return (int16_t)(uint16_t)(p->ip_id - d->hole_id) < 0;
    if (p->has_ts && d->ts_known && p->ts_val != d->hole_tsval)
        return seq_lt(p->ts_val, d->hole_tsval);
    return -1;
}

/* Is p the network's copy of a segment sent this way lately? */
static int is_copy(const struct dir_state *d, const struct wc_packet *p, uint32_t seglen)
{
    if (p->ip_version == 4 ? p->ip_id == 0 : !(seglen && p->has_ts))
        return 0;
    for (unsigned i = 0; i < WC_TCP_RECENT; i++) {
        const struct tcp_sig *r = &d->recent[i];

        if (r->used && r->seq == p->seq && r->ack == p->ack && r->len == p->payload_len &&
            r->flags == p->tcp_flags && r->win == p->window &&
            (p->ip_version == 4 ? r->ip_id == p->ip_id : r->tsval == p->ts_val))
            return 1;
    }
    return 0;
}

static void remember(struct dir_state *d, const struct wc_packet *p)
{
    struct tcp_sig *r = &d->recent[d->recent_next];

    d->recent_next = (uint8_t)((d->recent_next + 1) & (WC_TCP_RECENT - 1));
    r->seq = p->seq;
    r->ack = p->ack;
    r->len = p->payload_len;
    r->tsval = p->ts_val;
    r->ip_id = p->ip_id;
    r->win = p->window;
    r->flags = p->tcp_flags;
    r->used = 1;
}

/* A new ACK number or window sent this way: the count of duplicate ACKs starts again. */
static void note_ack(struct dir_state *d, const struct wc_packet *p)
{
    d->has_ack = 1;
    d->ack = p->ack;
    d->win = p->window;
    d->dupacks = 0;
}

void wc_flow_label_tcp(struct flow *f, int dir, uint64_t ts, const struct wc_packet *p, struct lbl *l)
{
    struct dir_state *d = &f->d[dir], *peer = &f->d[!dir];
    struct wc_flow_side *side = &f->s.side[dir];
    uint8_t fl = p->tcp_flags;
    uint32_t plen = p->payload_len, seglen = plen + !!(fl & WC_TCP_SYN) + !!(fl & WC_TCP_FIN);
    int sent_before;

    /* A copy the network made: the same segment again with the same IP ID (IPv4), or with the same
     * timestamps where there is no IP ID; reordering may put other packets between it and its original. */
    if (is_copy(d, p, seglen)) {
        side->dup++;
        if (seglen)
            put_sus(l, "network duplicate of seq=", p->seq - (d->isn_known ? d->isn : p->seq), " len=");
        else
            put_sus(l, "network duplicate of ACK ack=", p->ack - (peer->isn_known ? peer->isn : p->ack), "");
        if (seglen)
            put_u(l, plen);
        if (p->ip_version == 4) {
            put_s(l, " (same IP ID ");
            put_hex(l, p->ip_id, 4, 1);
            put_s(l, ")");
        } else {
            put_s(l, " (same bytes)");
        }
        return;
    }
    sent_before = sent_earlier(d, p);
    remember(d, p);
    side->packets++;
    side->bytes += plen;
    if (fl & WC_TCP_RST) {
        f->s.close = WC_CLOSE_RST;
        put_s(l, "RST");
        return;
    }
    if (fl & WC_TCP_SYN) {
        int synack = (fl & WC_TCP_ACK) != 0;

        if (d->syn && d->syn_seq == p->seq) {
            side->retrans++;
            put_s(l, synack ? "retransmission of SYN-ACK" : "retransmission of SYN");
            return;
        }
        d->syn = 1;
        d->synack = synack;
        d->syn_seq = d->isn = p->seq;
        d->isn_known = 1;
        d->nxt = p->seq + 1;
        if (!synack)
            f->syn_ns = ts;
        put_s(l, synack ? "handshake 2/3 SYN-ACK" : "handshake 1/3 SYN");
        return;
    }
    if (!d->isn_known) {
        /* Picked up mid-stream: count from here, as if a SYN came just before. */
        d->isn = p->seq - 1;
        d->nxt = p->seq;
        d->isn_known = 1;
    }
    if ((fl & WC_TCP_ACK) && !f->s.handshake && d->syn && !d->synack && peer->synack &&
        seglen == 0 && p->ack == peer->isn + 1 && p->seq == d->isn + 1) {
        f->s.handshake = 1;
        f->s.rtt_ns = ts - f->syn_ns;
        put_s(l, "handshake 3/3 ACK");
        return;
    }
    if (seglen == 0) {
        /* RFC 5681: the same ACK number and window again, without data, while data is outstanding. */
        if ((fl & WC_TCP_ACK) && d->has_ack && p->ack == d->ack && p->window == d->win && peer->isn_known &&
            seq_lt(p->ack, peer->nxt)) {
            d->dupacks++;
            put_sus(l, "duplicate ACK #", d->dupacks, " ack=");
            put_u(l, p->ack - peer->isn);
            return;
        }
        if (fl & WC_TCP_ACK)
            note_ack(d, p);
        if (peer->isn_known && (fl & WC_TCP_ACK))
            put_sus(l, "ACK ack=", p->ack - peer->isn, "");
        else
            put_s(l, "ACK");
        return;
    }
    if (fl & WC_TCP_ACK)
        note_ack(d, p);
    if ((fl & WC_TCP_FIN) && plen == 0 && d->fin && p->seq == d->fin_seq) {
        side->retrans++;
        put_s(l, "retransmission of FIN");
        return;
    }
    if (plen > 0) {
        uint32_t rel = p->seq - d->isn;

        if (seq_lt(p->seq, d->nxt)) {
            int in_hole = d->has_hole && !seq_lt(p->seq, d->hole_lo) && seq_lt(p->seq, d->hole_hi);
            /* Filling a hole soon after it appeared is reordering on the way here;
             * filling it later than one RTT is the sender repairing a loss. */
            int late = f->s.rtt_ns && ts - d->hole_ns > f->s.rtt_ns;

            /* Where the sender's order is known (IP ID, timestamp), it decides: in the hole, sent before the
             * segment that opened it is reordering, sent after it a resend; else the hole and the RTT. */
            int before = in_hole ? sent_before_hole(d, p) : sent_before;

            if (before == 1 || (before < 0 && in_hole && !late)) {
                side->ooo++;
                put_sus(l, "out-of-order seq=", rel, " len=");
                put_u(l, plen);
            } else {
                side->retrans++;
                put_sus(l, "retransmission of seq=", rel, " len=");
                put_u(l, plen);
            }
            if (in_hole && p->seq == d->hole_lo) {
                d->hole_lo = p->seq + plen;
                if (!seq_lt(d->hole_lo, d->hole_hi))
                    d->has_hole = 0;
            }
        } else {
            put_sus(l, "data seq=", rel, " len=");
            put_u(l, plen);
            if (seq_lt(d->nxt, p->seq)) {
                d->has_hole = 1;
                d->hole_lo = d->nxt;
                d->hole_hi = p->seq;
                d->hole_ns = ts;
                d->hole_id = p->ip_id;
                d->hole_tsval = p->ts_val;
                put_sus(l, ", gap of ", p->seq - d->nxt, " bytes before seq=");
                put_u(l, rel);
            }
        }
    }
    if (seq_lt(d->nxt, p->seq + seglen))
        d->nxt = p->seq + seglen;
    if (fl & WC_TCP_FIN) {
        d->fin = 1;
        d->fin_seq = p->seq + plen;
        close_state(f);
        put_s(l, l->n ? ", FIN" : "FIN");
    }
}
