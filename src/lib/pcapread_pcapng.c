/* pcapread_pcapng.c - the pcapng format, block by block (as libpcap's sf-pcapng.c): every field read through the
 * cursor with the section's byte order, every error naming the broken invariant and its offset. */
#include "pcapread_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    BT_SHB = WC_PCAPREAD_BT_SHB,
    BT_IDB = 0x00000001,
    BT_PB = 0x00000002,   /* obsolete Packet Block */
    BT_SPB = 0x00000003,
    BT_EPB = 0x00000006,
    BOM = 0x1A2B3C4D,
    OPT_ENDOFOPT = 0,
    OPT_COMMENT = 1,
    IF_NAME = 2,
    IF_DESCRIPTION = 3,
    IF_TSRESOL = 9,
    IF_FILTER = 11,
    IF_TSOFFSET = 14,
    EPB_FLAGS = 2,        /* pack_flags has the same code and meaning in the PB */
    /* Block header and trailer: type, total length, ..., total length. */
    BLOCK_OVERHEAD = 12,
    SHB_MIN = BLOCK_OVERHEAD + 16,
};


static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static char *dupstr(const uint8_t *v, size_t n)
{
    char *s = malloc(n + 1);

    if (s) {
        memcpy(s, v, n);
        s[n] = '\0';
    }
    return s;
}

/* Options fill the rest of c. Returns 1 with one option, 0 at opt_endofopt or the block's end, -EINVAL. */
static int opt_next(struct wc_pcapread *r, struct cursor *c, const char *block, uint16_t *code,
                    const uint8_t **v, uint16_t *vlen)
{
    size_t at = c->base + c->pos;

    if (c->pos == c->n)
        return 0;
    if (!cur_room(c, 4))
        return wc_pcapread_bad(r, at, "%s option header needs 4 bytes, the block has %zu left", block, c->n - c->pos);
    *code = cur_u16(c);
    *vlen = cur_u16(c);
    if (*code == OPT_ENDOFOPT)
        return 0;
    if (!cur_room(c, pad4(*vlen)))
        return wc_pcapread_bad(r, at, "%s option %u length %u runs past the end of the block (%zu bytes left)", block,
                               *code, *vlen, c->n - c->pos);
    *v = c->p + c->pos;
    c->pos += pad4(*vlen);
    return 1;
}

static int add_section_comment(struct wc_pcapread *r, const uint8_t *v, size_t n, size_t at)
{
    if (r->nscomments == WC_PCAPREAD_MAX_SECTION_COMMENTS)
        return wc_pcapread_bad(r, at, "more than %d section comments", WC_PCAPREAD_MAX_SECTION_COMMENTS);
    if (r->nscomments == r->capscomments) {
        size_t cap = r->capscomments ? r->capscomments * 2 : 16;
        char **p = realloc(r->scomments, cap * sizeof *p);

        if (!p)
            return -ENOMEM;
        r->scomments = p;
        r->capscomments = cap;
    }
    if (!(r->scomments[r->nscomments] = dupstr(v, n)))
        return -ENOMEM;
    r->nscomments++;
    return 0;
}

/* c covers the whole block, header and trailer included; c->pos is past the total length. */
static int parse_shb(struct wc_pcapread *r, struct cursor *c)
{
    uint16_t major, minor, code, vlen;
    const uint8_t *v;
    int k;

    c->pos += 4;   /* the byte-order magic, read by the caller */
    major = cur_u16(c);
    minor = cur_u16(c);
    if (major != 1)
        return wc_pcapread_bad(r, c->base, "unsupported pcapng version %u.%u (only 1.x)", major, minor);
    c->pos += 8;   /* section length: we walk blocks, not sections */
    r->section++;
    r->sec_first = r->nseen;
    while ((k = opt_next(r, c, "SHB", &code, &v, &vlen)) > 0)
        if (code == OPT_COMMENT && r->collecting && (k = add_section_comment(r, v, vlen, c->base)) < 0)
            return k;
    return k;
}

static int parse_idb(struct wc_pcapread *r, struct cursor *c)
{
    struct iface f;
    uint16_t code, vlen;
    const uint8_t *v;
    int k;

    if (!cur_room(c, 8))
        return wc_pcapread_bad(r, c->base, "IDB body of %zu bytes is shorter than its 8 fixed bytes", c->n - c->pos);
    if (r->nseen == WC_PCAPREAD_MAX_IFACES)
        return wc_pcapread_bad(r, c->base, "more than %d interfaces", WC_PCAPREAD_MAX_IFACES);
    if (!r->collecting) {
        r->nseen++;
        return 0;
    }
    memset(&f, 0, sizeof f);
    f.pub.section = r->section - 1;
    f.pub.local_id = (uint32_t)(r->nseen - r->sec_first);
    f.pub.linktype = cur_u16(c);
    c->pos += 2;
    f.pub.snaplen = cur_u32(c);
    f.exp = 6;   /* microseconds unless if_tsresol says otherwise */
    if (r->nifs == r->capifs) {
        size_t cap = r->capifs ? r->capifs * 2 : 8;
        struct iface *p = realloc(r->ifs, cap * sizeof *p);

        if (!p)
            return -ENOMEM;
        r->ifs = p;
        r->capifs = cap;
    }
    /* Entered now, so that wc_pcapread_close frees its strings if an option below is bad. */
    r->ifs[r->nifs++] = f;
    while ((k = opt_next(r, c, "IDB", &code, &v, &vlen)) > 0) {
        struct iface *g = &r->ifs[r->nifs - 1];
        const char **dst = NULL;
        size_t skip = 0;

        switch (code) {
        case IF_NAME: dst = &g->pub.name; break;
        case IF_DESCRIPTION: dst = &g->pub.description; break;
        case IF_FILTER:
            /* The first byte names the language; 0 is a libpcap filter string. */
            if (vlen >= 1 && v[0] == 0) {
                dst = &g->pub.filter;
                skip = 1;
            }
            break;
        case IF_TSRESOL:
            if (vlen != 1)
                return wc_pcapread_bad(r, c->base, "if_tsresol length %u is not 1", vlen);
            g->pow2 = (v[0] & 0x80) != 0;
            g->exp = v[0] & 0x7f;
            if (g->pow2 ? g->exp > 63 : g->exp > 19)
                return wc_pcapread_bad(r, c->base, "if_tsresol %s^-%u is finer than 64 bits can hold",
                                       g->pow2 ? "2" : "10", g->exp);
            break;
        case IF_TSOFFSET: {
            struct cursor o = {v, vlen, 0, 0, c->be};

            if (vlen != 8)
                return wc_pcapread_bad(r, c->base, "if_tsoffset length %u is not 8", vlen);
            g->tsoffset = (int64_t)cur_u64(&o);
            break;
        }
        default: break;
        }
        if (dst && !*dst && !(*dst = dupstr(v + skip, vlen - skip)))
            return -ENOMEM;
    }
    if (k < 0)
        return k;
    r->nseen++;
    return 0;
}

static uint64_t to_ns(const struct iface *f, uint64_t t)
{
    static const uint64_t p10[] = {
        1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
        1000000000ull, 10000000000ull,
    };
    __int128 v;

    if (f->pow2)
        v = (__int128)(((unsigned __int128)t * 1000000000u) >> f->exp);
    else if (f->exp <= 9)
        v = (__int128)t * (__int128)p10[9 - f->exp];
    else
        v = (__int128)(t / p10[f->exp - 9]);   /* exp <= 19, checked when the IDB was read */
    v += (__int128)f->tsoffset * 1000000000;
    if (v < 0)
        return 0;
    return v > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

/* The section-local interface id, checked against the IDBs seen so far in this section. */
static int packet_iface(struct wc_pcapread *r, uint32_t id, const char *block, size_t at, uint32_t *out)
{
    size_t n = r->nseen - r->sec_first;

    if (id >= n)
        return wc_pcapread_bad(r, at, "%s interface id %u, but the section has %zu interface%s before it", block, id, n,
                               n == 1 ? "" : "s");
    *out = (uint32_t)(r->sec_first + id);
    return 0;
}

static int packet_opts(struct wc_pcapread *r, struct cursor *c, const char *block, struct wc_pcapread_packet *pkt)
{
    uint16_t code, vlen;
    const uint8_t *v;
    int k;

    while ((k = opt_next(r, c, block, &code, &v, &vlen)) > 0) {
        if (code == OPT_COMMENT) {
            if (pkt->ncomments == WC_PCAPREAD_MAX_COMMENTS)
                return wc_pcapread_bad(r, c->base, "%s has more than %d comments", block, WC_PCAPREAD_MAX_COMMENTS);
            pkt->comments[pkt->ncomments].s = (const char *)v;
            pkt->comments[pkt->ncomments++].len = vlen;
        } else if (code == EPB_FLAGS) {
            struct cursor o = {v, vlen, 0, 0, c->be};

            if (vlen != 4)
                return wc_pcapread_bad(r, c->base, "%s flags option length %u is not 4", block, vlen);
            pkt->flags = cur_u32(&o);
            pkt->has_flags = 1;
        }
    }
    return k;
}

/* EPB and the obsolete PB differ only in their first fields. */
static int parse_epb(struct wc_pcapread *r, struct cursor *c, int obsolete, struct wc_pcapread_packet *pkt)
{
    const char *block = obsolete ? "PB" : "EPB";
    uint32_t id, hi, lo;

    if (!cur_room(c, 20))
        return wc_pcapread_bad(r, c->base, "%s body of %zu bytes is shorter than its 20 fixed bytes", block,
                               c->n - c->pos);
    if (obsolete) {
        id = cur_u16(c);
        c->pos += 2;   /* drops count */
    } else {
        id = cur_u32(c);
    }
    hi = cur_u32(c);
    lo = cur_u32(c);
    pkt->caplen = cur_u32(c);
    pkt->origlen = cur_u32(c);
    if (packet_iface(r, id, block, c->base, &pkt->iface) < 0)
        return -EINVAL;
    if (pkt->caplen > c->n - c->pos || !cur_room(c, pad4(pkt->caplen)))
        return wc_pcapread_bad(r, c->base, "%s capture length %u runs past the end of the block (%zu bytes left)",
                               block, pkt->caplen, c->n - c->pos);
    pkt->data = c->p + c->pos;
    c->pos += pad4(pkt->caplen);
    pkt->ts_ns = to_ns(&r->ifs[pkt->iface], (uint64_t)hi << 32 | lo);
    return packet_opts(r, c, block, pkt);
}

static int parse_spb(struct wc_pcapread *r, struct cursor *c, struct wc_pcapread_packet *pkt)
{
    uint32_t snap;
    size_t room;

    if (!cur_room(c, 4))
        return wc_pcapread_bad(r, c->base, "SPB body of %zu bytes is shorter than its 4 fixed bytes", c->n - c->pos);
    pkt->origlen = cur_u32(c);
    if (packet_iface(r, 0, "SPB", c->base, &pkt->iface) < 0)
        return -EINVAL;
    /* The captured length is implied: the original length, cut to the snap length and to the block. */
    snap = r->ifs[pkt->iface].pub.snaplen;
    room = c->n - c->pos;
    pkt->caplen = pkt->origlen;
    if (snap && pkt->caplen > snap)
        pkt->caplen = snap;
    if (pkt->caplen > room)
        pkt->caplen = (uint32_t)room;
    pkt->data = c->p + c->pos;
    pkt->ts_ns = 0;
    return 0;
}

/* Checks a block's framing at r->pos and sets up c over it; min is the shortest legal total length. */
static int block_frame(struct wc_pcapread *r, struct cursor *c, uint32_t *type, size_t min)
{
    size_t left = r->len - r->pos, at = r->pos;
    uint32_t total, trailer;

    c->p = r->data + at;
    c->n = left;
    c->pos = 0;
    c->base = at;
    c->be = r->be;
    if (!cur_room(c, 8))
        return wc_pcapread_bad(r, at, "block header needs 8 bytes, the file has %zu left", left);
    *type = cur_u32(c);
    total = cur_u32(c);
    if (total < min)
        return wc_pcapread_bad(r, at, "block total length %u is less than the minimum %zu", total, min);
    if (total % 4)
        return wc_pcapread_bad(r, at, "block total length %u is not a multiple of 4", total);
    if (total > WC_PCAPREAD_MAX_BLOCK)
        return wc_pcapread_bad(r, at, "block total length %u is bigger than the maximum %u", total,
                               WC_PCAPREAD_MAX_BLOCK);
    if (total > left)
        return wc_pcapread_bad(r, at, "block total length %u runs past the end of the file (%zu bytes left)", total,
                               left);
    c->pos = total - 4;
    trailer = cur_u32(c);
    if (trailer != total)
        return wc_pcapread_bad(r, at, "block total length in header %u and trailer %u don't match", total, trailer);
    /* The body only: header and trailer are done. */
    c->n = total - 4;
    c->pos = 8;
    return 0;
}

int wc_pcapread_step_pcapng(struct wc_pcapread *r, struct wc_pcapread_packet *pkt)
{
    for (;;) {
        struct cursor c;
        uint32_t type = 0;
        size_t at = r->pos;
        int k;

        if (r->pos == r->len)
            return 0;
        /* A section header decides the byte order of everything up to the next one, its own length included. */
        if (r->len - r->pos >= 12) {
            const uint8_t *p = r->data + r->pos;

            if (p[0] == 0x0A && p[1] == 0x0D && p[2] == 0x0D && p[3] == 0x0A) {
                uint32_t bom = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 |
                               (uint32_t)p[11] << 24;

                if (bom == BOM)
                    r->be = 0;
                else if (bom == 0x4D3C2B1A)
                    r->be = 1;
                else
                    return wc_pcapread_bad(r, at, "SHB byte-order magic 0x%08x is neither 0x1A2B3C4D nor swapped", bom);
            }
        }
        if ((k = block_frame(r, &c, &type, BLOCK_OVERHEAD)) < 0)
            return k;
        r->pos += c.n + 4;
        if (r->section == 0 && type != BT_SHB)
            return wc_pcapread_bad(r, at, "the file does not start with a section header block");
        memset(pkt, 0, offsetof(struct wc_pcapread_packet, comments));
        pkt->ncomments = 0;
        pkt->offset = at;
        switch (type) {
        case BT_SHB:
            if (c.n + 4 < SHB_MIN)
                return wc_pcapread_bad(r, at, "SHB total length %zu is less than the minimum %d", c.n + 4, SHB_MIN);
            if ((k = parse_shb(r, &c)) < 0)
                return k;
            break;
        case BT_IDB:
            if ((k = parse_idb(r, &c)) < 0)
                return k;
            break;
        case BT_EPB:
        case BT_PB:
            if ((k = parse_epb(r, &c, type == BT_PB, pkt)) < 0)
                return k;
            return 1;
        case BT_SPB:
            if ((k = parse_spb(r, &c, pkt)) < 0)
                return k;
            return 1;
        default:
            break;   /* statistics, name resolution, custom blocks: not ours to read */
        }
    }
}
