/* capture_order.c - the reorder stage between the sources and the per-packet path: packets are labelled and
 * written in timestamp order. Live, the interfaces are read one after the other, each in blocks the kernel hands
 * over up to WC_SNIFF_BLOCK_TIMEOUT_MS late, and even one interface stamps its outbound packets out of order
 * with its inbound ones; so packets wait in a min-heap until they are older than a window, then leave oldest
 * first. */
#include "capture_int.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One packet waiting: its record, then a copy of its bytes (live) or of the reader's packet (offline, whose
 * bytes and comments point into the input, which stays mapped). */
struct held {
    struct rec rec;
    struct source *src;
    uint64_t arrival;             /* equal timestamps leave in the order they came */
    size_t size;
    alignas(max_align_t) uint8_t tail[];
};

static int before(const struct held *a, const struct held *b)
{
    return a->rec.ts < b->rec.ts || (a->rec.ts == b->rec.ts && a->arrival < b->arrival);
}

static void sift_up(struct held **h, size_t i)
{
    struct held *x = h[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (!before(x, h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static void sift_down(struct held **h, size_t n, size_t i)
{
    struct held *x = h[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= n)
            break;
        if (c + 1 < n && before(h[c + 1], h[c]))
            c++;
        if (!before(h[c], x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Takes the oldest packet out of the heap and through the per-packet path. */
static void release_one(struct wc_sniff *s)
{
    struct wc_sniff_order *o = &s->order;
    struct held *x = o->heap[0];

    if (--o->n) {
        o->heap[0] = o->heap[o->n];
        sift_down(o->heap, o->n, 0);
    }
    o->bytes -= x->size;
    if (o->released && x->rec.ts < o->last_ts)
        o->late++;
    o->released = 1;
    o->last_ts = x->rec.ts;
    wc_sniff_packet(s, x->src, &x->rec);
    free(x);
}

void wc_sniff_order_release(struct wc_sniff *s, uint64_t horizon)
{
    struct wc_sniff_order *o = &s->order;

    while (o->n && !s->stop && o->heap[0]->rec.ts <= horizon)
        release_one(s);
}

void wc_sniff_order_expire(struct wc_sniff *s)
{
    struct timespec now;
    uint64_t ns, w = s->order.window_ns;

    clock_gettime(CLOCK_REALTIME, &now);
    ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
    wc_sniff_order_release(s, ns > w ? ns - w : 0);
}

static struct held *hold(const struct rec *rec, struct source *src)
{
    size_t tail = rec->in ? sizeof *rec->in : rec->caplen;
    struct held *x = malloc(sizeof *x + tail);

    if (!x)
        return NULL;
    x->rec = *rec;
    x->src = src;
    x->size = sizeof *x + tail;
    if (rec->in) {
        struct wc_pcapread_packet *in = (struct wc_pcapread_packet *)(void *)x->tail;

        /* Only the comments the packet has: the rest of the array is never read. */
        memcpy(in, rec->in, offsetof(struct wc_pcapread_packet, comments));
        memcpy(in->comments, rec->in->comments, rec->in->ncomments * sizeof in->comments[0]);
        in->offset = rec->in->offset;
        x->rec.in = in;
    } else {
        memcpy(x->tail, rec->data, rec->caplen);
        x->rec.data = x->tail;
    }
    return x;
}

void wc_sniff_order_push(struct wc_sniff *s, struct source *src, const struct rec *rec)
{
    struct wc_sniff_order *o = &s->order;
    struct held *x;

    if (s->stop)
        return;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 1024;
        struct held **h = realloc(o->heap, cap * sizeof *h);

        if (!h)
            goto direct;
        o->heap = h;
        o->cap = cap;
    }
    if (!(x = hold(rec, src)))
        goto direct;
    x->arrival = o->arrivals++;
    o->heap[o->n] = x;
    sift_up(o->heap, o->n++);
    o->bytes += x->size;
    if (rec->ts > o->newest)
        o->newest = rec->ts;
    wc_sniff_order_release(s, o->newest > o->window_ns ? o->newest - o->window_ns : 0);
    /* A burst larger than the memory we allow leaves early, oldest first. */
    while (o->n && !s->stop && o->bytes > WC_SNIFF_ORDER_MAX_BYTES)
        release_one(s);
    return;
direct:
    /* Out of memory: what waits goes first, then this packet, so nothing is lost; only the order may suffer. */
    wc_sniff_order_release(s, UINT64_MAX);
    if (!s->stop) {
        if (o->released && rec->ts < o->last_ts)
            o->late++;
        o->released = 1;
        o->last_ts = rec->ts;
        wc_sniff_packet(s, src, rec);
    }
}

void wc_sniff_order_free(struct wc_sniff *s)
{
    struct wc_sniff_order *o = &s->order;

    for (size_t i = 0; i < o->n; i++)
        free(o->heap[i]);
    free(o->heap);
    memset(o, 0, sizeof *o);
}
