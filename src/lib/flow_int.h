/* flow_int.h - a flow's private state, shared by the table (flow.c) and the labels (flow_label.c). */
#ifndef WIRECHECK_FLOW_INT_H
#define WIRECHECK_FLOW_INT_H

#include "wirecheck/decode.h"
#include "wirecheck/flow.h"
#include "wirecheck/seq.h"

#include <stddef.h>
#include <stdint.h>

/* Per-direction state the labels need; the counts live in the summary. */
struct dir_state {
    uint32_t isn;                 /* relative numbers count from here */
    uint32_t nxt;                 /* highest sequence number sent + 1 */
    uint32_t syn_seq, fin_seq;
    uint32_t hole_lo, hole_hi;    /* bytes never seen below nxt */
    uint64_t hole_ns;             /* when the hole appeared */
    unsigned isn_known : 1, syn : 1, synack : 1, fin : 1, has_hole : 1, udp_started : 1;
    uint32_t udp_max;             /* highest --seq number seen */
    uint64_t seen[WC_SEQ_WINDOW / 64];
};

struct flow {
    struct wc_flow_summary s;
    struct dir_state d[2];
    uint64_t syn_ns;
    uint32_t next;                /* hash chain */
};

/* Updates f with pkt, seen in direction dir (0: as the flow's first packet went), and writes its label into
 * label[0..len) (NUL-terminated, possibly empty). */
void wc_flow_label(struct flow *f, int dir, uint64_t ts_ns, const struct wc_packet *pkt, char *label, size_t len);

#endif
