/* capture_order.c - the reorder stage between the sources and the per-packet path: packets are labelled and
 * written in timestamp order. Live, the interfaces are read one after the other, each in blocks the kernel hands
 * over up to WC_SNIFF_BLOCK_TIMEOUT_MS late, and even one interface stamps its outbound packets out of order
 * with its inbound ones; so packets wait, in one sorted queue per interface, until they are older than a
 * window, then leave oldest first. */
#include "capture_int.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One packet waiting: its record, then a copy of its bytes (live) or of the reader's packet up to its last
 * comment (offline, whose bytes and comments point into the input, which stays mapped). */
struct held {
    struct rec rec;
    uint64_t arrival;             /* equal timestamps leave in the order they came */
    size_t size;                  /* counted against WC_SNIFF_ORDER_MAX_BYTES */
    int cls;                      /* its size class, -1: its own malloc */
    struct held *next;            /* on a free list */
    alignas(max_align_t) uint8_t tail[];
};

/* Blocks are recycled by size class (malloc and free were a third of the stage's cost): a tail of up to 256
 * bytes (small packets, offline records), or up to a full Ethernet frame. */
static const size_t class_tail[WC_SNIFF_ORDER_CLASSES] = {256, 1536};

static struct held *block_get(struct wc_sniff_order *o, size_t tail)
{
    struct held *x;
    int c = -1;

    for (int k = 0; k < WC_SNIFF_ORDER_CLASSES; k++)
        if (tail <= class_tail[k]) {
            c = k;
            break;
        }
    if (c >= 0 && (x = o->free[c])) {
        o->free[c] = x->next;
        o->nfree[c]--;
        o->free_bytes -= sizeof *x + class_tail[c];
        return x;
    }
    if (!(x = malloc(sizeof *x + (c >= 0 ? class_tail[c] : tail))))
        return NULL;
    x->cls = c;
    return x;
}

static void block_put(struct wc_sniff_order *o, struct held *x)
{
    size_t size = sizeof *x + (x->cls >= 0 ? class_tail[x->cls] : 0);

    /* Kept up to a bound in bytes: freeing each block past a small count made malloc give the heap's top
     * back to the kernel and take it again, a page fault every few packets. */
    if (x->cls < 0 || o->free_bytes + size > WC_SNIFF_ORDER_FREE_BYTES) {
        free(x);
        return;
    }
    x->next = o->free[x->cls];
    o->free[x->cls] = x;
    o->nfree[x->cls]++;
    o->free_bytes += size;
}

static int before(const struct held *a, const struct held *b)
{
    return a->rec.ts < b->rec.ts || (a->rec.ts == b->rec.ts && a->arrival < b->arrival);
}

/* Each interface's packets come nearly in order: a queue per interface, sorted by insertion from its tail
 * (a few steps back at most), and the oldest of the queues' heads leaves first. */
static struct held **at(struct wc_sniff_order_queue *q, size_t i)
{
    return &q->ring[(q->head + i) & (q->cap - 1)];
}

static int queue_grow(struct wc_sniff_order_queue *q)
{
    size_t cap = q->cap ? 2 * q->cap : 256;
    struct held **r = malloc(cap * sizeof *r);

    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < q->n; i++)
        r[i] = *at(q, i);
    free(q->ring);
    q->ring = r;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static void queue_insert(struct wc_sniff_order_queue *q, struct held *x)
{
    size_t i = q->n++;

    while (i > 0 && before(x, *at(q, i - 1))) {
        *at(q, i) = *at(q, i - 1);
        i--;
    }
    *at(q, i) = x;
}

/* The queue whose head is the oldest packet waiting, or NULL. */
static struct wc_sniff_order_queue *oldest(struct wc_sniff *s)
{
    struct wc_sniff_order_queue *best = NULL;

    for (size_t k = 0; k < s->nsrc; k++) {
        struct wc_sniff_order_queue *q = &s->order.q[k];

        if (q->n && (!best || before(*at(q, 0), *at(best, 0))))
            best = q;
    }
    return best;
}

/* Takes the head of q out and through the per-packet path. */
static void release_one(struct wc_sniff *s, struct wc_sniff_order_queue *q)
{
    struct wc_sniff_order *o = &s->order;
    struct held *x = *at(q, 0);

    q->head = (q->head + 1) & (q->cap - 1);
    q->n--;
    o->n--;
    o->bytes -= x->size;
    if (o->released && x->rec.ts < o->last_ts)
        o->late++;
    o->released = 1;
    o->last_ts = x->rec.ts;
    wc_sniff_packet(s, &s->src[q - o->q], &x->rec);
    block_put(o, x);
}

void wc_sniff_order_release(struct wc_sniff *s, uint64_t horizon)
{
    struct wc_sniff_order_queue *q;

    while (!s->stop && (q = oldest(s)) && (*at(q, 0))->rec.ts <= horizon)
        release_one(s, q);
}

void wc_sniff_order_expire(struct wc_sniff *s)
{
    struct timespec now;
    uint64_t ns, w = s->order.window_ns;

    clock_gettime(CLOCK_REALTIME, &now);
    ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
    wc_sniff_order_release(s, ns > w ? ns - w : 0);
}

static struct held *hold(struct wc_sniff_order *o, const struct rec *rec)
{
    /* Offline, only the comments the packet has: the rest of the array is never read. */
    size_t upto = rec->in ? offsetof(struct wc_pcapread_packet, comments) +
                            rec->in->ncomments * sizeof rec->in->comments[0] : 0;
    size_t tail = rec->in ? upto : rec->caplen;
    struct held *x = block_get(o, tail);

    if (!x)
        return NULL;
    x->rec = *rec;
    x->size = sizeof *x + tail;
    if (rec->in) {
        memcpy(x->tail, rec->in, upto);
        x->rec.in = (const struct wc_pcapread_packet *)(const void *)x->tail;
    } else {
        memcpy(x->tail, rec->data, rec->caplen);
        x->rec.data = x->tail;
    }
    return x;
}

void wc_sniff_order_push(struct wc_sniff *s, struct source *src, const struct rec *rec)
{
    struct wc_sniff_order *o = &s->order;
    struct wc_sniff_order_queue *q = &o->q[src - s->src], *old;
    struct held *x;

    if (s->stop)
        return;
    if (q->n == q->cap && queue_grow(q) < 0)
        goto direct;
    if (!(x = hold(o, rec)))
        goto direct;
    x->arrival = o->arrivals++;
    queue_insert(q, x);
    o->n++;
    o->bytes += x->size;
    if (rec->ts > o->newest)
        o->newest = rec->ts;
    wc_sniff_order_release(s, o->newest > o->window_ns ? o->newest - o->window_ns : 0);
    /* A burst larger than the memory we allow leaves early, oldest first. */
    while (!s->stop && o->bytes > WC_SNIFF_ORDER_MAX_BYTES && (old = oldest(s)))
        release_one(s, old);
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

    for (size_t k = 0; k < WC_SNIFF_MAX_IFACES; k++) {
        struct wc_sniff_order_queue *q = &o->q[k];

        for (size_t i = 0; i < q->n; i++)
            free(*at(q, i));
        free(q->ring);
    }
    for (int k = 0; k < WC_SNIFF_ORDER_CLASSES; k++)
        while (o->free[k]) {
            struct held *x = o->free[k];

            o->free[k] = x->next;
            free(x);
        }
    memset(o, 0, sizeof *o);
}
