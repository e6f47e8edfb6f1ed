/* flow.c - the flow table: a chained hash on a canonical key, so both directions share one flow; the labels are
 * flow_label.c. */
#include "wirecheck/flow.h"
#include "flow_int.h"
#include "wirecheck/sys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
/* Flows live in blocks of this many, each in a huge page where the kernel has them: a growing array moved
 * (mremap) and faulted in 4 KiB pages took a third of labelling a file of 15,000 short connections. */
#define FLOW_BLOCK 2048
_Static_assert(FLOW_BLOCK * sizeof(struct flow) <= WC_HUGE_PAGE, "a block of flows fills one huge page");

struct wc_flows {
    struct flow **blocks;         /* max / FLOW_BLOCK of them, allocated as flows come */
    size_t n, max;
    uint32_t *buckets;
    size_t nbuckets;              /* a power of two */
    uint64_t untracked;
    uint32_t last;                /* the flow found last, or NIL */
    struct frag_slot frags[WC_FRAG_SLOTS];   /* datagrams being fragmented, by a hash of their id */
};

struct wc_flows *wc_flows_new(size_t max_flows)
{
    struct wc_flows *t = calloc(1, sizeof *t);

    if (!t || max_flows == 0 || max_flows > NIL / 2)
        goto fail;
    t->max = max_flows;
    t->last = NIL;
    for (t->nbuckets = 64; t->nbuckets < max_flows; t->nbuckets *= 2)
        ;
    if (!(t->buckets = malloc(t->nbuckets * sizeof *t->buckets)) ||
        !(t->blocks = calloc((max_flows + FLOW_BLOCK - 1) / FLOW_BLOCK, sizeof *t->blocks)))
        goto fail;
    memset(t->buckets, 0xff, t->nbuckets * sizeof *t->buckets);
    return t;
fail:
    if (t)
        free(t->buckets);
    free(t);
    errno = ENOMEM;
    return NULL;
}

void wc_flows_free(struct wc_flows *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i += FLOW_BLOCK)
        free(t->blocks[i / FLOW_BLOCK]);
    free(t->blocks);
    free(t->buckets);
    free(t);
}

static struct flow *flow_at(const struct wc_flows *t, size_t i)
{
    return &t->blocks[i / FLOW_BLOCK][i % FLOW_BLOCK];
}

size_t wc_flows_count(const struct wc_flows *t)
{
    return t->n;
}

const struct wc_flow_summary *wc_flows_get(const struct wc_flows *t, size_t i)
{
    return i < t->n ? &flow_at(t, i)->s : NULL;
}

uint64_t wc_flows_untracked(const struct wc_flows *t)
{
    return t->untracked;
}

const char *wc_flow_close_name(enum wc_flow_close c)
{
    static const char *const names[] = {"open", "half-closed", "fin", "rst"};

    return (unsigned)c < 4 ? names[c] : "?";
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static uint64_t endpoint_hash(const uint8_t *addr, uint16_t port)
{
    uint64_t a, b;

    memcpy(&a, addr, 8);
    memcpy(&b, addr + 8, 8);
    return mix(mix(mix(0x243F6A8885A308D3ull, a), b), port);
}

/* Symmetric (the two endpoints' hashes are added), so both directions land in one bucket without ordering
 * the endpoints first. */
static uint32_t flow_hash(uint32_t iface, const struct wc_packet *p)
{
    uint64_t h = endpoint_hash(p->src, p->sport) + endpoint_hash(p->dst, p->dport);

    h = mix(h, (uint64_t)iface << 16 | (uint64_t)p->proto << 8 | (uint64_t)p->ip_version);
    return (uint32_t)(h >> 32);
}

/* Returns 0 or 1 when f is pkt's flow (the direction pkt travels), else -1. */
static int flow_match(const struct flow *f, uint32_t iface, const struct wc_packet *p)
{
    const struct wc_flow_summary *s = &f->s;

    if (s->iface != iface || s->proto != p->proto || s->ip_version != p->ip_version)
        return -1;
    if (s->port[0] == p->sport && s->port[1] == p->dport && !memcmp(s->addr[0], p->src, 16) &&
        !memcmp(s->addr[1], p->dst, 16))
        return 0;
    if (s->port[1] == p->sport && s->port[0] == p->dport && !memcmp(s->addr[1], p->src, 16) &&
        !memcmp(s->addr[0], p->dst, 16))
        return 1;
    return -1;
}

static struct flow *flow_lookup(struct wc_flows *t, uint32_t iface, uint64_t ts,
                                const struct wc_packet *p, int *dir)
{
    uint32_t b;
    struct flow *f;

    /* Most packets belong to the flow of the one before (a burst, or its reply). */
    if (t->last != NIL && (*dir = flow_match(flow_at(t, t->last), iface, p)) >= 0)
        return flow_at(t, t->last);
    b = flow_hash(iface, p) & (uint32_t)(t->nbuckets - 1);
    for (uint32_t i = t->buckets[b]; i != NIL; i = flow_at(t, i)->next)
        if ((*dir = flow_match(flow_at(t, i), iface, p)) >= 0)
            return flow_at(t, t->last = i);
    if (t->n == t->max)
        return NULL;
    if (t->n % FLOW_BLOCK == 0) {
        if (!(t->blocks[t->n / FLOW_BLOCK] = wc_alloc_huge(FLOW_BLOCK * sizeof(struct flow))))
            return NULL;
    }
    f = flow_at(t, t->n);
    memset(f, 0, sizeof *f);
    f->s.iface = iface;
    f->s.ip_version = p->ip_version;
    f->s.proto = p->proto;
    memcpy(f->s.addr[0], p->src, 16);
    memcpy(f->s.addr[1], p->dst, 16);
    f->s.port[0] = p->sport;
    f->s.port[1] = p->dport;
    f->s.first_ns = ts;
    f->next = t->buckets[b];
    t->buckets[b] = t->last = (uint32_t)t->n++;
    *dir = 0;
    return f;
}

/* The slot of pkt's datagram: found, or taken over (a direct-mapped table: an old datagram is forgotten). */
static struct frag_slot *frag_slot(struct wc_flows *t, uint32_t iface, const struct wc_packet *p)
{
    size_t alen = p->ip_version == 4 ? 4 : 16;
    uint32_t h = p->ip_id * 2654435761u ^ iface * 40503u ^ p->src[alen - 1] * 131u ^ p->dst[alen - 1];
    struct frag_slot *s = &t->frags[h & (WC_FRAG_SLOTS - 1)];

    if (s->used && s->iface == iface && s->id == p->ip_id && s->proto == p->proto &&
        memcmp(s->src, p->src, alen) == 0 && memcmp(s->dst, p->dst, alen) == 0)
        return s;
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->iface = iface;
    s->id = p->ip_id;
    s->proto = p->proto;
    memcpy(s->src, p->src, alen);
    memcpy(s->dst, p->dst, alen);
    return s;
}

int wc_flows_track(struct wc_flows *t, uint32_t iface, uint64_t ts_ns, const struct wc_packet *pkt,
                   char *label, size_t len)
{
    struct flow *f;
    int dir;

    if (len)
        label[0] = '\0';
    if (!pkt->has_l4 || (pkt->proto != 6 && pkt->proto != 17)) {
        if (pkt->is_fragment && pkt->frag_offset != 0)
            wc_frag_label(frag_slot(t, iface, pkt), pkt, label, len);
        else
            wc_other_label(pkt, label, len);
        if (pkt->is_fragment && pkt->frag_offset == 0 && len)
            wc_frag_label(frag_slot(t, iface, pkt), pkt, label, len);
        return -EPROTONOSUPPORT;
    }
    if (!(f = flow_lookup(t, iface, ts_ns, pkt, &dir))) {
        t->untracked++;
        if (len)
            snprintf(label, len, "untracked: flow table full");
        return -ENOSPC;
    }
    f->s.last_ns = ts_ns;
    wc_flow_label(f, dir, ts_ns, pkt, label, len);
    /* The first fragment of a datagram: its flow's label, then which fragment it is. */
    if (pkt->is_fragment)
        wc_frag_label(frag_slot(t, iface, pkt), pkt, label, len);
    return 0;
}
