/* pcapread_int.h - the capture reader's private state, shared by the handle (pcapread.c) and its two formats
 * (pcapread_pcap.c, pcapread_pcapng.c), and the bounds-checked cursor every field is read through. */
#ifndef WIRECHECK_PCAPREAD_INT_H
#define WIRECHECK_PCAPREAD_INT_H

#include "wirecheck/pcapread.h"

#include <stddef.h>
#include <stdint.h>

#define WC_PCAPREAD_ERRBUF_SIZE 512

enum {
    WC_PCAPREAD_BT_SHB = 0x0A0D0D0A,   /* the pcapng magic, as the first block's type */
    WC_PCAPREAD_CLASSIC_HEADER = 24,
};

enum wc_pcapread_format {
    WC_PCAPREAD_PCAP = 1,     /* classic: one interface */
    WC_PCAPREAD_PCAPNG = 2,
};

struct iface {
    struct wc_pcapread_iface pub;
    int pow2;                 /* if_tsresol: units of 2^-exp s, else 10^-exp s */
    unsigned exp;
    int64_t tsoffset;         /* seconds */
};

struct wc_pcapread {
    const uint8_t *data;
    size_t len;
    enum wc_pcapread_format format;
    char errbuf[WC_PCAPREAD_ERRBUF_SIZE];   /* the message of the last error: the reader owns it */
    struct iface *ifs;
    size_t nifs, capifs;
    char **scomments;
    size_t nscomments, capscomments;
    int collecting;           /* the first pass, in open: interfaces and comments are recorded */
    /* where the walk is */
    size_t pos;
    int be;                   /* the current section's byte order */
    int classic_ns;
    uint32_t section;         /* sections started so far (the current one is section - 1) */
    size_t sec_first;         /* file-wide index of the current section's interface 0 */
    size_t nseen;             /* interfaces met so far in this walk, file-wide */
};

/* A view of bytes [0, n) of a block or header at file offset base; every read checks its room. */
struct cursor {
    const uint8_t *p;
    size_t n, pos, base;
    int be;
};

/* Sets the reader's message: the broken invariant, then " at offset OFF". Returns -EINVAL. */
int wc_pcapread_bad(struct wc_pcapread *r, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static inline int cur_room(const struct cursor *c, size_t n)
{
    return c->n - c->pos >= n;
}

/* The callers check cur_room first; these never read past c->n. */
static inline uint16_t cur_u16(struct cursor *c)
{
    const uint8_t *p = c->p + c->pos;

    c->pos += 2;
    return c->be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static inline uint32_t cur_u32(struct cursor *c)
{
    const uint8_t *p = c->p + c->pos;

    c->pos += 4;
    if (c->be)
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline uint64_t cur_u64(struct cursor *c)
{
    uint64_t a = cur_u32(c), b = cur_u32(c);

    return c->be ? a << 32 | b : b << 32 | a;
}

/* Classic pcap (pcapread_pcap.c): the file header into the one interface; then one record per call. */
int wc_pcapread_open_pcap(struct wc_pcapread *r);
/* Each step returns 1 with a packet, 0 at the end, -EINVAL (the message set) or -ENOMEM. */
int wc_pcapread_step_pcap(struct wc_pcapread *r, struct wc_pcapread_packet *pkt);
/* pcapng (pcapread_pcapng.c): blocks up to the next packet; SHB and IDB are collected while r->collecting. */
int wc_pcapread_step_pcapng(struct wc_pcapread *r, struct wc_pcapread_packet *pkt);

#endif
