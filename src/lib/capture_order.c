/* capture_order.c - the reorder stage between the per-packet path and the output: blocks are written in
 * timestamp order. Live, the interfaces are read one after the other, each in blocks the kernel hands over up
 * to WC_SNIFF_BLOCK_TIMEOUT_MS late; one interface's packets come in its own order, their times made to
 * follow it on arrival (capture_packet.c). So each packet, labelled and encoded on arrival, waits as its
 * output block in one queue per interface until no packet still to come can be older, then leaves oldest
 * first.
 * Only the encoded blocks wait, one after the other in large chunks: decoding packets as they left (cold in
 * cache) tripled the sniffer's live CPU per packet. Live, they wait only as long as they must (until each
 * interface still capturing has shown a newer one or has been read since, not a fixed 300 ms): every MiB
 * held is written and read cold. They
 * leave in runs, each a single write of blocks that lie side by side. */
#include "capture_int.h"

#include "wirecheck/sys.h"

#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

struct wc_sniff_chunk {
    struct wc_sniff_chunk *next;  /* on the free list */
    size_t cap, used;             /* bytes of data */
    size_t live;                  /* blocks in it not written yet */
    alignas(max_align_t) uint8_t data[];
};

/* A chunk for blocks of len bytes: a huge page, or more for a larger block. */
static struct wc_sniff_chunk *chunk_new(size_t len)
{
    size_t size = sizeof(struct wc_sniff_chunk) + len;
    struct wc_sniff_chunk *c = wc_alloc_huge(size > WC_SNIFF_ORDER_CHUNK ? size : WC_SNIFF_ORDER_CHUNK);

    if (!c)
        return NULL;
    c->cap = (size > WC_SNIFF_ORDER_CHUNK ? size : WC_SNIFF_ORDER_CHUNK) - sizeof *c;
    return c;
}

static int chunk_is_standard(const struct wc_sniff_chunk *c)
{
    return c->cap == WC_SNIFF_ORDER_CHUNK - sizeof *c;
}

static void chunk_put(struct wc_sniff_order *o, struct wc_sniff_chunk *c)
{
    /* Kept up to a bound: giving memory back and faulting it in again costs more than keeping it. */
    if (!chunk_is_standard(c) || o->free_bytes + WC_SNIFF_ORDER_CHUNK > WC_SNIFF_ORDER_FREE_BYTES) {
        free(c);
        return;
    }
    c->next = o->free;
    o->free = c;
    o->free_bytes += WC_SNIFF_ORDER_CHUNK;
}

static void free_chunks_drain(struct wc_sniff_order *o)
{
    while (o->free) {
        struct wc_sniff_chunk *c = o->free;

        o->free = c->next;
        free(c);
    }
    o->free_bytes = 0;
}

/* A chunk with room for len bytes, or NULL. */
static struct wc_sniff_chunk *chunk_get(struct wc_sniff_order *o, size_t len)
{
    struct wc_sniff_chunk *c = o->free;

    if (c && len <= c->cap) {
        o->free = c->next;
        o->free_bytes -= WC_SNIFF_ORDER_CHUNK;
    } else if (!(c = chunk_new(len))) {
        return NULL;
    }
    c->used = 0;
    c->live = 0;
    return c;
}

/* n blocks of c's have been written (or one never queued). */
static void chunk_done(struct wc_sniff_order *o, struct wc_sniff_chunk *c, size_t n)
{
    if ((c->live -= n))
        return;
    if (c == o->cur)
        c->used = 0;   /* empty: fill it again from the start */
    else
        chunk_put(o, c);
}

static int before(const struct wc_sniff_order_slot *a, const struct wc_sniff_order_slot *b)
{
    return a->ts < b->ts || (a->ts == b->ts && (int32_t)(a->arrival - b->arrival) < 0);
}

/* Each interface's packets come in time order: a queue per interface, and the oldest of the queues' heads
 * leaves first. The order key lives in the ring, so merging never touches a block. */
static struct wc_sniff_order_slot *at(struct wc_sniff_order_queue *q, size_t i)
{
    return &q->ring[(q->head + i) & (q->cap - 1)];
}

/* 256 slots, then a huge page of them (a queue that holds more than 256 is a busy one), then twice as many. */
static int queue_grow(struct wc_sniff_order_queue *q)
{
    size_t big = WC_SNIFF_ORDER_CHUNK / sizeof *q->ring;
    size_t cap = !q->cap ? 256 : q->cap < big ? big : 2 * q->cap;
    struct wc_sniff_order_slot *r = cap < big ? malloc(cap * sizeof *r) : wc_alloc_huge(cap * sizeof *r);

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

/* Appends x, never older than the blocks before it (capture_packet.c), and returns its place (0: the head). */
static size_t queue_push(struct wc_sniff_order_queue *q, const struct wc_sniff_order_slot *x)
{
    size_t i = q->n++;

    *at(q, i) = *x;
    return i;
}

/* The queue, other than not, whose head is the oldest block waiting, or NULL. */
static struct wc_sniff_order_queue *oldest(struct wc_sniff *s, const struct wc_sniff_order_queue *not)
{
    struct wc_sniff_order_queue *best = NULL;

    for (size_t k = 0; k < s->nsrc; k++) {
        struct wc_sniff_order_queue *q = &s->order.q[k];

        if (q != not && q->n && (!best || before(at(q, 0), at(best, 0))))
            best = q;
    }
    return best;
}

/* Takes the oldest block out, with the blocks of its queue that follow it in time and in memory (a run, as
 * long as none of another queue is older and all are stamped at or before horizon), and writes them. */
static void release_run(struct wc_sniff *s, uint64_t horizon)
{
    struct wc_sniff_order *o = &s->order;
    struct wc_sniff_order_queue *q = o->next, *other = oldest(s, q);
    const struct wc_sniff_order_slot *x = at(q, 0);
    struct wc_sniff_chunk *c = x->chunk;
    const uint8_t *start = x->block, *end;
    size_t n = 0;
    int r;

    do {
        if (o->released && x->ts < o->last_ts) {
            /* Later than the horizon allowed for: it takes the time of the block written last, so the file
             * stays in time order (tshark and our readers take a step back in time for a broken file). */
            o->late++;
            if (o->last_ts - x->ts > o->late_max_ns)
                o->late_max_ns = o->last_ts - x->ts;
            s->out->restamp(x->block, o->last_ts);
        } else {
            o->last_ts = x->ts;
        }
        o->released = 1;
        end = x->block + x->len;
        n++;
        q->head = (q->head + 1) & (q->cap - 1);
        q->n--;
        x = at(q, 0);
    } while (q->n && x->block == end && x->chunk == c && x->ts <= horizon &&
             (size_t)(end - start) + x->len <= WC_SNIFF_ORDER_RUN_MAX && (!other || before(x, at(other, 0))));
    o->bytes -= (size_t)(end - start);   /* side by side: the run's bytes are its blocks' */
    o->next = !q->n ? other : !other || before(at(q, 0), at(other, 0)) ? q : other;
    if ((r = s->out->write(s, &s->src[q - o->q], start, (size_t)(end - start))) < 0 && !s->werr)
        s->werr = r;
    chunk_done(o, c, n);
}

void wc_sniff_order_release(struct wc_sniff *s, uint64_t horizon)
{
    while (s->order.next && at(s->order.next, 0)->ts <= horizon)
        release_run(s, horizon);
}

/* Offline, how long a block waits behind the newest for older ones of other interfaces: the window, or nothing
 * with a single interface (a pcap file, most pcapng files), whose packets come in their order. An interface
 * that a file declares later gets the window from then on; its packets older than what is written by then are
 * restamped and counted (release_run). */
static uint64_t offline_wait_ns(const struct wc_sniff *s)
{
    return s->nsrc > 1 ? s->order.window_ns : 0;
}

/* What no packet still to come can precede. Offline: the window behind the newest. Live: the kernel hands an
 * interface's packets over in blocks, in its order (which their times follow), and a block at the latest
 * WC_SNIFF_BLOCK_TIMEOUT_MS after it opened; so of an interface still capturing, nothing older than its newest
 * is still to come, nor (quiet ones) older than floor_ns. */
static uint64_t horizon(const struct wc_sniff *s)
{
    const struct wc_sniff_order *o = &s->order;
    uint64_t h = UINT64_MAX;

    if (!o->live)
        return o->newest > offline_wait_ns(s) ? o->newest - offline_wait_ns(s) : 0;
    for (size_t k = 0; k < s->nsrc; k++) {
        uint64_t lo = o->q[k].newest;

        if (s->src[k].fd < 0)
            continue;   /* gone: nothing more comes from it */
        if (lo < o->floor_ns)
            lo = o->floor_ns;
        if (lo < h)
            h = lo;
    }
    return h;
}

void wc_sniff_order_drained(struct wc_sniff *s, uint64_t since_ns)
{
    struct wc_sniff_order *o = &s->order;
    uint64_t back = WC_SNIFF_BLOCK_TIMEOUT_MS * 1000000ull;

    o->floor_ns = since_ns > back ? since_ns - back : 0;
    wc_sniff_order_release(s, horizon(s));
}

/* The chunk with room bytes free at its end: the current one, or a new current one. NULL: out of memory. */
static struct wc_sniff_chunk *chunk_with_room(struct wc_sniff *s, size_t room)
{
    struct wc_sniff_order *o = &s->order;
    struct wc_sniff_chunk *c = o->cur;

    if (c && c->cap - c->used >= room)
        return c;
    if (!(c = chunk_get(o, room))) {
        /* Out of memory: what waits goes out (only the order may suffer), its memory back to the heap. */
        wc_sniff_order_release(s, UINT64_MAX);
        free_chunks_drain(o);
        c = o->cur;
        if (c && c->cap - c->used >= room)
            return c;
        if (!(c = chunk_get(o, room)))
            return NULL;
    }
    if (o->cur && o->cur->live == 0)
        chunk_put(o, o->cur);
    o->cur = c;
    return c;
}

uint8_t *wc_sniff_order_reserve(struct wc_sniff *s, const struct source *src, uint64_t ts, size_t len)
{
    struct wc_sniff_order *o = &s->order;
    struct wc_sniff_order_queue *q = &o->q[src - s->src];
    /* 4-byte aligned, as pcapng blocks are: a block of an encoder's size lies right after the one before. */
    size_t room = (len + 3) & ~(size_t)3;
    uint64_t slack = o->live ? 0 : offline_wait_ns(s), h;
    struct wc_sniff_order_slot x;
    struct wc_sniff_chunk *c;

    if (len > UINT32_MAX)
        return NULL;
    /* The blocks reserved before are filled by now: what is due leaves first, in runs. Here the horizon moves
     * only with the newest timestamp (the clock's part moves in wc_sniff_order_drained, which writes out
     * itself): nothing new is due until the newest is the slack past the oldest, so most packets skip it. */
    if (o->next && o->newest >= at(o->next, 0)->ts + WC_SNIFF_ORDER_BATCH_NS + slack &&
        at(o->next, 0)->ts + WC_SNIFF_ORDER_BATCH_NS <= (h = horizon(s)))
        wc_sniff_order_release(s, h);
    /* A burst larger than the memory we allow leaves early, oldest first. */
    while (o->bytes > WC_SNIFF_ORDER_MAX_BYTES && o->next)
        wc_sniff_order_release(s, at(o->next, 0)->ts);
    if (q->n == q->cap && queue_grow(q) < 0)
        wc_sniff_order_release(s, UINT64_MAX);   /* out of memory: only the order may suffer */
    if (q->n == q->cap || !(c = chunk_with_room(s, room)))
        return NULL;
    if (ts > o->newest)
        o->newest = ts;
    if (ts > q->newest)
        q->newest = ts;
    x.ts = ts;
    x.block = c->data + c->used;
    x.chunk = c;
    x.len = (uint32_t)len;
    x.arrival = o->arrivals++;   /* compared as a serial number: it may wrap */
    c->used += room;
    c->live++;
    if (queue_push(q, &x) == 0 && (!o->next || before(&x, at(o->next, 0))))
        o->next = q;
    o->bytes += len;
    return c->data + c->used - room;
}

void wc_sniff_order_free(struct wc_sniff *s)
{
    struct wc_sniff_order *o = &s->order;

    for (size_t k = 0; k < WC_SNIFF_MAX_IFACES; k++) {
        struct wc_sniff_order_queue *q = &o->q[k];

        /* Chunks still holding blocks are freed once, when their last block goes. */
        while (q->n) {
            struct wc_sniff_order_slot *x = at(q, 0);

            q->head = (q->head + 1) & (q->cap - 1);
            q->n--;
            if (--x->chunk->live == 0 && x->chunk != o->cur)
                free(x->chunk);
        }
        free(q->ring);
    }
    free(o->cur);
    free_chunks_drain(o);
    memset(o, 0, sizeof *o);
}
