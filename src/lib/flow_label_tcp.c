/* flow_label_tcp.c - the TCP labels: handshake, data, retransmission, out-of-order, network duplicates,
 * duplicate ACKs, FIN/RST, from a flow's per-direction state. */
#include "flow_int.h"
#include "label_int.h"

#include <string.h>

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

/* Was p sent before a segment with this IPv4 ID and timestamp (1), after it (0), or is it not known (-1)? */
static int sent_before_seg(const struct dir_state *d, const struct wc_packet *p, uint16_t id, uint32_t tsval,
                           int has_ts)
{
    if (p->ip_version == 4 && p->ip_id && d->ids_count && id && p->ip_id != id)
        return (int16_t)(uint16_t)(p->ip_id - id) < 0;
    if (p->has_ts && has_ts && p->ts_val != tsval)
        return seq_lt(p->ts_val, tsval);
    return -1;
}

/* Bytes below hi may never have been seen this way, though no hole says so. */
static void mark_unknown(struct dir_state *d, uint32_t hi)
{
    if (!d->unknown || seq_lt(d->unknown_hi, hi)) {
        d->unknown = 1;
        d->unknown_hi = hi;
    }
}

/* The hole that seq lies in, or NULL. */
static struct tcp_hole *hole_at(struct dir_state *d, uint32_t seq)
{
    for (unsigned i = 0; i < d->nholes; i++)
        if (!seq_lt(seq, d->holes[i].lo) && seq_lt(seq, d->holes[i].hi))
            return &d->holes[i];
    return NULL;
}

static void hole_remove(struct dir_state *d, unsigned i)
{
    memmove(&d->holes[i], &d->holes[i + 1], (d->nholes - i - 1) * sizeof d->holes[0]);
    d->nholes--;
}

/* p opened the gap [lo, hi) above every hole; with no room, the oldest hole's bytes become unknown. */
static void hole_open(struct dir_state *d, uint32_t lo, uint32_t hi, uint64_t ts, const struct wc_packet *p)
{
    struct tcp_hole *h;

    if (d->nholes == WC_TCP_HOLES) {
        mark_unknown(d, d->holes[0].hi);
        hole_remove(d, 0);
    }
    h = &d->holes[d->nholes++];
    h->lo = lo;
    h->hi = hi;
    h->ns = ts;
    h->tsval = p->ts_val;
    h->id = p->ip_id;
    h->has_ts = (uint8_t)(p->has_ts != 0);
}

/* [seq, end) arrived, seq inside hole h: what is left of h, split in two (same opener) if there is room. */
static void hole_fill(struct dir_state *d, struct tcp_hole *h, uint32_t seq, uint32_t end)
{
    unsigned i = (unsigned)(h - d->holes);

    if (seq == h->lo) {
        if (seq_lt(end, h->hi))
            h->lo = end;
        else
            hole_remove(d, i);
    } else if (!seq_lt(end, h->hi)) {
        h->hi = seq;
    } else if (d->nholes < WC_TCP_HOLES) {
        memmove(&d->holes[i + 1], &d->holes[i], (d->nholes - i) * sizeof d->holes[0]);
        d->nholes++;
        d->holes[i].hi = seq;
        d->holes[i + 1].lo = end;
    }
}

enum copy { NOT_A_COPY, SAME_IP_ID, SAME_BYTES };

/* Is p the network's copy of a segment sent this way lately, and what tells? An IPv4 ID where the sender
 * counts one (Linux sends its SYN-ACKs with ID 0, as it may any segment with DF), else the timestamps of a
 * segment that takes sequence space (a resend gets a new one; pure ACKs may repeat one within a tick). Not
 * the bytes of a packet seen leaving its host: a resend within the timestamp clock's tick (a SYN-ACK sent
 * again at once for a SYN that came twice) looks the same, and the network copies beyond the host. */
static enum copy is_copy(const struct dir_state *d, const struct wc_packet *p, uint32_t seglen)
{
    int by_id = p->ip_version == 4 && p->ip_id != 0;

    if (!by_id && (!(seglen && p->has_ts) || p->link_dir == WC_DIR_OUT))
        return NOT_A_COPY;
    for (unsigned i = 0; i < WC_TCP_RECENT; i++) {
        const struct tcp_sig *r = &d->recent[i];

        if (r->used && r->seq == p->seq && r->ack == p->ack && r->len == p->payload_len &&
            r->flags == p->tcp_flags && r->win == p->window && r->ip_id == p->ip_id &&
            (by_id || (r->has_ts && r->tsval == p->ts_val)))
            return by_id ? SAME_IP_ID : SAME_BYTES;
    }
    return NOT_A_COPY;
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
    r->has_ts = (uint8_t)(p->has_ts != 0);
    r->used = 1;
}

/* p (remembered last) carries bytes already seen here: was it sent before every recent segment that brought
 * them (1: the original, overtaken by its resend), after one of them (0: a resend), or is it not known (-1)? */
static int sent_before_copies(const struct dir_state *d, const struct wc_packet *p)
{
    int r = -1;

    for (unsigned i = 1; i < WC_TCP_RECENT; i++) {
        const struct tcp_sig *c = &d->recent[(d->recent_next - 1 - i) & (WC_TCP_RECENT - 1)];
        int o;

        if (!c->used || !c->len || seq_lt(p->seq, c->seq) || !seq_lt(p->seq, c->seq + c->len))
            continue;
        if ((o = sent_before_seg(d, p, c->ip_id, c->tsval, c->has_ts)) == 0)
            return 0;
        if (o == 1)
            r = 1;
    }
    return r;
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
    enum copy copy = is_copy(d, p, seglen);
    int sent_before;

    /* A copy the network made: the same segment again with the same IP ID (IPv4), or with the same
     * timestamps where there is no IP ID; reordering may put other packets between it and its original. */
    if (copy != NOT_A_COPY) {
        side->dup++;
        if (fl & WC_TCP_SYN) {
            put_s(l, fl & WC_TCP_ACK ? "network duplicate of SYN-ACK" : "network duplicate of SYN");
        } else if (seglen) {
            put_sus(l, "network duplicate of seq=", p->seq - (d->isn_known ? d->isn : p->seq), " len=");
            put_u(l, plen);
        } else {
            put_sus(l, "network duplicate of ACK ack=", p->ack - (peer->isn_known ? peer->isn : p->ack), "");
        }
        if (copy == SAME_IP_ID) {
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
        mark_unknown(d, p->seq);
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
            struct tcp_hole *h = hole_at(d, p->seq);
            int ooo;

            if (h) {
                /* Where the sender's order is known (IP ID, timestamp), it decides: sent before the segment
                 * that opened the hole is reordering, sent after it a resend. Else filling a hole soon after
                 * it appeared is reordering on the way here; later than one RTT, the sender repairing a loss. */
                int before = sent_before_seg(d, p, h->id, h->tsval, h->has_ts);
                int late = f->s.rtt_ns && ts - h->ns > f->s.rtt_ns;

                ooo = before == 1 || (before < 0 && !late);
                hole_fill(d, h, p->seq, p->seq + plen);
            } else if (d->unknown && seq_lt(p->seq, d->unknown_hi)) {
                /* Bytes perhaps never seen here: only the sender's order can tell. */
                ooo = sent_before == 1;
            } else {
                /* Bytes seen here already, and not the network's copy: the sender sent them again (even if
                 * segments it sent later overtook this one), unless this is the first copy, which its own
                 * resend overtook. */
                ooo = sent_before_copies(d, p) == 1;
            }
            if (ooo) {
                side->ooo++;
                put_sus(l, "out-of-order seq=", rel, " len=");
            } else {
                side->retrans++;
                put_sus(l, "retransmission of seq=", rel, " len=");
            }
            put_u(l, plen);
        } else {
            put_sus(l, "data seq=", rel, " len=");
            put_u(l, plen);
            if (seq_lt(d->nxt, p->seq)) {
                hole_open(d, d->nxt, p->seq, ts, p);
                put_sus(l, ", gap of ", p->seq - d->nxt, " bytes before seq=");
                put_u(l, rel);
            }
        }
    } else if (seq_lt(d->nxt, p->seq)) {
        hole_open(d, d->nxt, p->seq, ts, p);    /* a FIN ahead of data not seen yet */
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
