/* pcapng.c - the pcapng writer's blocks (SHB, IDB, EPB, ISB): little-endian, assembled in one buffer, written
 * with wc_write_all; the file they go to is pcapng_file.c. */
#include "wirecheck/pcapng.h"
#include "pcapng_int.h"

#include "wirecheck/sys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    BT_SHB = 0x0A0D0D0A,
    BT_IDB = 0x00000001,
    BT_ISB = 0x00000005,
    BT_EPB = 0x00000006,
    OPT_ENDOFOPT = 0,
    OPT_COMMENT = 1,
    SHB_OS = 3,
    SHB_USERAPPL = 4,
    IF_NAME = 2,
    IF_DESCRIPTION = 3,
    IF_TSRESOL = 9,
    IF_FILTER = 11,
    EPB_FLAGS = 2,
    ISB_STARTTIME = 2,
    ISB_ENDTIME = 3,
    ISB_IFRECV = 4,
    ISB_IFDROP = 5,
    /* An option's length is 16 bits; longer strings are cut to fit. */
    OPT_MAX = 65532,
};

/* A block is assembled in place at buf + len; these helpers never check room:
 * block_begin reserved all of it. */
static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    p = put32(p, (uint32_t)v);
    return put32(p, (uint32_t)(v >> 32));
}

/* A pcapng timestamp: the high 32 bits first, each half in the section's order. */
static uint8_t *put_ts(uint8_t *p, uint64_t ts)
{
    p = put32(p, (uint32_t)(ts >> 32));
    return put32(p, (uint32_t)ts);
}

static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static uint8_t *put_bytes(uint8_t *p, const void *v, size_t n)
{
    size_t padded = pad4(n);

    if (n)
        memcpy(p, v, n);
    memset(p + n, 0, padded - n);
    return p + padded;
}

static uint8_t *put_opt(uint8_t *p, uint16_t code, const void *v, size_t n)
{
    p = put16(p, code);
    p = put16(p, (uint16_t)n);
    return put_bytes(p, v, n);
}

/* The value length of a string option of raw bytes: trailing newlines and NULs dropped (tshark shows a
 * comment's newline as a literal "\n" in fields and columns), cut to fit. */
static size_t mem_len(const char *s, size_t raw)
{
    while (raw && (s[raw - 1] == '\n' || s[raw - 1] == '\0'))
        raw--;
    return raw > OPT_MAX ? OPT_MAX : raw;
}

static size_t str_len(const char *s)
{
    return mem_len(s, strlen(s));
}

static size_t opt_size(size_t vlen)
{
    return 4 + pad4(vlen);
}

static uint8_t *put_str_opt(uint8_t *p, uint16_t code, const char *s)
{
    return put_opt(p, code, s, str_len(s));
}

int wc_pcapng_flush(struct wc_pcapng *w)
{
    int r;

    if (w->err)
        return w->err;
    if (w->len == 0)
        return 0;
    r = wc_write_all(w->fd, w->buf, w->len);
    if (r < 0) {
        w->err = r;
        return r;
    }
    w->len = 0;
    return 0;
}

/* Reserves total bytes at the end of the buffer (flushing first when they do
 * not fit) and returns where they start, or NULL with w->err set. */
static uint8_t *reserve(struct wc_pcapng *w, size_t total)
{
    if (w->err)
        return NULL;
    if (total > WC_PCAPNG_BUFFER_SIZE || total > UINT32_MAX) {
        w->err = -EMSGSIZE;
        return NULL;
    }
    if (w->cap - w->len < total && w->cap < WC_PCAPNG_BUFFER_SIZE) {
        size_t cap = w->cap;
        uint8_t *b;

        while (cap < WC_PCAPNG_BUFFER_SIZE && cap - w->len < total)
            cap *= 2;
        if (!(b = realloc(w->buf, cap))) {
            w->err = -ENOMEM;
            return NULL;
        }
        w->buf = b;
        w->cap = cap;
    }
    if (w->cap - w->len < total && wc_pcapng_flush(w) < 0)
        return NULL;
    return w->buf + w->len;
}

/* Reserves a block of total bytes and writes its type and length; returns where its body starts, or NULL
 * with w->err set. */
static uint8_t *block_begin(struct wc_pcapng *w, uint32_t type, size_t total)
{
    uint8_t *p = reserve(w, total);

    if (!p)
        return NULL;
    p = put32(p, type);
    return put32(p, (uint32_t)total);
}

/* Writes opt_endofopt and the trailing length, and commits the block. */
static void block_end(struct wc_pcapng *w, uint8_t *p, size_t total)
{
    p = put16(p, OPT_ENDOFOPT);
    p = put16(p, 0);
    put32(p, (uint32_t)total);
    w->len += total;
}

static int write_shb(struct wc_pcapng *w, const struct wc_pcapng_section *s)
{
    size_t total = 28 + 4;   /* header, BOM, version, section length, trailer; endofopt */
    uint8_t *p;

    for (size_t i = 0; i < s->ncomments; i++)
        total += opt_size(str_len(s->comments[i]));
    if (s->os)
        total += opt_size(str_len(s->os));
    if (s->userappl)
        total += opt_size(str_len(s->userappl));
    if (!(p = block_begin(w, BT_SHB, total)))
        return w->err;
    p = put32(p, 0x1A2B3C4D);
    p = put16(p, 1);
    p = put16(p, 0);
    p = put64(p, UINT64_MAX);   /* section length unknown: we stream */
    for (size_t i = 0; i < s->ncomments; i++)
        p = put_str_opt(p, OPT_COMMENT, s->comments[i]);
    if (s->os)
        p = put_str_opt(p, SHB_OS, s->os);
    if (s->userappl)
        p = put_str_opt(p, SHB_USERAPPL, s->userappl);
    block_end(w, p, total);
    return 0;
}

int wc_pcapng_writer_new(struct wc_pcapng **out, int fd, const struct wc_pcapng_section *s)
{
    struct wc_pcapng *w = calloc(1, sizeof *w);
    static const struct wc_pcapng_section none;
    int r;

    if (!w)
        return -ENOMEM;
    w->fd = fd;
    /* It grows to WC_PCAPNG_BUFFER_SIZE only when a second's worth of blocks needs it. */
    w->cap = WC_PCAPNG_BUFFER_INITIAL;
    if (!(w->buf = malloc(w->cap))) {
        free(w);
        return -ENOMEM;
    }
    if ((r = write_shb(w, s ? s : &none)) < 0) {
        free(w->buf);
        free(w);
        return r;
    }
    *out = w;
    return 0;
}

int wc_pcapng_add_iface(struct wc_pcapng *w, const struct wc_pcapng_iface *ifc)
{
    size_t total = 20 + 4 + opt_size(1);   /* header, linktype, snaplen, trailer; endofopt; tsresol */
    size_t flen = 0;
    uint8_t *p, res = 9;

    if (ifc->name)
        total += opt_size(str_len(ifc->name));
    if (ifc->description)
        total += opt_size(str_len(ifc->description));
    if (ifc->filter) {
        flen = strlen(ifc->filter);
        if (flen > OPT_MAX - 1)
            flen = OPT_MAX - 1;
        total += opt_size(flen + 1);
    }
    if (!(p = block_begin(w, BT_IDB, total)))
        return w->err;
    p = put16(p, ifc->linktype);
    p = put16(p, 0);
    p = put32(p, ifc->snaplen);
    if (ifc->name)
        p = put_str_opt(p, IF_NAME, ifc->name);
    if (ifc->description)
        p = put_str_opt(p, IF_DESCRIPTION, ifc->description);
    if (ifc->filter) {
        /* The first byte says which language the filter is in: 0 is libpcap's. */
        p = put16(p, IF_FILTER);
        p = put16(p, (uint16_t)(flen + 1));
        *p = 0;
        memcpy(p + 1, ifc->filter, flen);
        memset(p + 1 + flen, 0, pad4(flen + 1) - (flen + 1));
        p += pad4(flen + 1);
    }
    p = put_opt(p, IF_TSRESOL, &res, 1);
    block_end(w, p, total);
    return (int)w->nifaces++;
}

size_t wc_pcapng_epb_size(const struct wc_pcapng_epb *e)
{
    size_t total = 28 + 4 + 4 + pad4(e->caplen);  /* header, ifid, ts, lengths, trailer; endofopt */

    for (size_t i = 0; i < e->ncomments; i++)
        total += opt_size(mem_len(e->comments[i].s, e->comments[i].len));
    if (e->flags)
        total += opt_size(4);
    return total;
}

size_t wc_pcapng_epb_encode(uint8_t *block, const struct wc_pcapng_epb *e)
{
    uint8_t *p = block + 8, flags[4];
    size_t total;

    p = put32(p, e->ifid);
    p = put_ts(p, e->ts_ns);
    p = put32(p, e->caplen);
    p = put32(p, e->origlen);
    p = put_bytes(p, e->data, e->caplen);
    for (size_t i = 0; i < e->ncomments; i++)
        p = put_opt(p, OPT_COMMENT, e->comments[i].s, mem_len(e->comments[i].s, e->comments[i].len));
    if (e->flags) {
        put32(flags, e->flags);
        p = put_opt(p, EPB_FLAGS, flags, 4);
    }
    p = put16(p, OPT_ENDOFOPT);
    p = put16(p, 0);
    /* The length, known now, goes in front and at the end. */
    total = (size_t)(p - block) + 4;
    put32(p, (uint32_t)total);
    put32(block, BT_EPB);
    put32(block + 4, (uint32_t)total);
    return total;
}

void wc_pcapng_epb_restamp(uint8_t *block, uint64_t ts_ns)
{
    put_ts(block + 12, ts_ns);   /* after the type, the length and the interface id */
}

int wc_pcapng_write_epb(struct wc_pcapng *w, const struct wc_pcapng_epb *e)
{
    size_t total = wc_pcapng_epb_size(e);
    uint8_t *p;

    if (e->ifid >= w->nifaces)
        return -EINVAL;
    if (!(p = reserve(w, total)))
        return w->err;
    wc_pcapng_epb_encode(p, e);
    w->len += total;
    return 0;
}

int wc_pcapng_write_epb_blocks(struct wc_pcapng *w, const uint8_t *blocks, size_t len, uint32_t ifid)
{
    uint8_t *p;

    if (ifid >= w->nifaces)
        return -EINVAL;
    if (!(p = reserve(w, len)))
        return w->err;
    memcpy(p, blocks, len);
    /* Each block's length from the copy: it is checked before anything counts as written. */
    for (size_t off = 0; off < len;) {
        uint32_t n;

        if (len - off < 32)
            return -EINVAL;
        n = (uint32_t)p[off + 4] | (uint32_t)p[off + 5] << 8 | (uint32_t)p[off + 6] << 16 |
            (uint32_t)p[off + 7] << 24;
        if (n < 32 || n % 4 != 0 || n > len - off)
            return -EINVAL;
        put32(p + off + 8, ifid);
        off += n;
    }
    w->len += len;
    return 0;
}

int wc_pcapng_write_stats(struct wc_pcapng *w, uint32_t ifid, uint64_t ts_ns, uint64_t start_ns,
                          uint64_t end_ns, uint64_t recv, uint64_t drop)
{
    size_t total = 24 + 4 + 2 * opt_size(8);   /* header, ifid, ts, trailer; endofopt; recv, drop */
    uint8_t *p, v[8];

    if (ifid >= w->nifaces)
        return -EINVAL;
    if (start_ns)
        total += opt_size(8);
    if (end_ns)
        total += opt_size(8);
    if (!(p = block_begin(w, BT_ISB, total)))
        return w->err;
    p = put32(p, ifid);
    p = put_ts(p, ts_ns);
    if (start_ns) {
        put_ts(v, start_ns);
        p = put_opt(p, ISB_STARTTIME, v, 8);
    }
    if (end_ns) {
        put_ts(v, end_ns);
        p = put_opt(p, ISB_ENDTIME, v, 8);
    }
    put64(v, recv);
    p = put_opt(p, ISB_IFRECV, v, 8);
    put64(v, drop);
    p = put_opt(p, ISB_IFDROP, v, 8);
    block_end(w, p, total);
    return 0;
}
