/* test_pcapread.c - the capture reader on hand-built pcap and pcapng files: fields, sections, options, and an
 * error (never a read out of bounds) for every truncation and every broken framing invariant. */
#include "wirecheck/pcapread.h"
#include "check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A file under construction, in one byte order. */
struct b {
    uint8_t d[4096];
    size_t n;
    int be;
    size_t block;      /* where the open block starts */
    size_t bounds[32]; /* offsets where a record or block ends */
    size_t nbounds;
};

static void u8(struct b *b, uint8_t v)
{
    b->d[b->n++] = v;
}

static void u16(struct b *b, uint16_t v)
{
    if (b->be) {
        u8(b, (uint8_t)(v >> 8));
        u8(b, (uint8_t)v);
    } else {
        u8(b, (uint8_t)v);
        u8(b, (uint8_t)(v >> 8));
    }
}

static void u32(struct b *b, uint32_t v)
{
    if (b->be) {
        u16(b, (uint16_t)(v >> 16));
        u16(b, (uint16_t)v);
    } else {
        u16(b, (uint16_t)v);
        u16(b, (uint16_t)(v >> 16));
    }
}

static void bytes(struct b *b, const void *v, size_t n)
{
    if (n)
        memcpy(b->d + b->n, v, n);
    b->n += n;
    while (b->n % 4)
        u8(b, 0);
}

static void opt(struct b *b, uint16_t code, const void *v, size_t n)
{
    u16(b, code);
    u16(b, (uint16_t)n);
    bytes(b, v, n);
}

static void begin(struct b *b, uint32_t type)
{
    b->block = b->n;
    u32(b, type);
    u32(b, 0);   /* patched by end() */
}

static void end(struct b *b)
{
    size_t total = b->n - b->block + 4, save;

    u32(b, (uint32_t)total);
    save = b->n;
    b->n = b->block + 4;
    u32(b, (uint32_t)total);
    b->n = save;
    b->bounds[b->nbounds++] = b->n;
}

/* epb_flags (or pack_flags) in the block's byte order. */
static void flags_opt(struct b *b, uint32_t v)
{
    u16(b, 2);
    u16(b, 4);
    u32(b, v);
}

static void idb_begin(struct b *b, uint16_t linktype, uint32_t snaplen)
{
    begin(b, 1);
    u16(b, linktype);
    u16(b, 0);
    u32(b, snaplen);
}

static void shb(struct b *b, int be, const char *comment)
{
    b->be = be;
    begin(b, 0x0A0D0D0A);
    u32(b, 0x1A2B3C4D);
    u16(b, 1);
    u16(b, 0);
    u32(b, 0xFFFFFFFF);
    u32(b, 0xFFFFFFFF);
    if (comment)
        opt(b, 1, comment, strlen(comment));
    opt(b, 0, NULL, 0);
    end(b);
}

/* The sample used throughout: two sections in opposite byte orders, every packet block kind. */
static size_t build_pcapng(struct b *b)
{
    static const uint8_t pkt[] = {1, 2, 3, 4, 5, 6, 7};
    uint8_t res = 9, off[8];

    memset(b, 0, sizeof *b);
    shb(b, 0, "section one\n");
    idb_begin(b, 1, 5);   /* IDB: Ethernet, snaplen 5, ns, named */
    opt(b, 2, "eth0@ns-a", 9);
    opt(b, 3, "client side", 11);
    opt(b, 9, &res, 1);
    opt(b, 11, "\0tcp port 6789", 14);
    opt(b, 0, NULL, 0);
    end(b);
    begin(b, 6);   /* EPB: comment and flags */
    u32(b, 0);
    u32(b, 0x17);
    u32(b, 0x89ABCDEF);
    u32(b, 5);
    u32(b, 7);
    bytes(b, pkt, 5);
    opt(b, 1, "label one\n", 10);
    flags_opt(b, 2);
    opt(b, 1, "second", 6);
    opt(b, 0, NULL, 0);
    end(b);
    begin(b, 0x0BAD);   /* unknown: skipped */
    u32(b, 42);
    end(b);
    begin(b, 3);   /* SPB: origlen 7, cut to the snaplen 5 */
    u32(b, 7);
    bytes(b, pkt, 5);
    end(b);
    shb(b, 1, NULL);   /* section two, big-endian */
    idb_begin(b, 101, 0);   /* IDB: raw IP, default µs, offset 100 s */
    memset(off, 0, sizeof off);
    off[7] = 100;
    opt(b, 14, off, 8);
    end(b);   /* no opt_endofopt: allowed */
    begin(b, 2);   /* obsolete PB */
    u16(b, 0);
    u16(b, 0);
    u32(b, 0);
    u32(b, 3);
    u32(b, 2);
    u32(b, 2);
    bytes(b, pkt, 2);
    opt(b, 1, "old", 3);
    flags_opt(b, 1);
    end(b);
    return b->n;
}

static uint8_t *copy(const uint8_t *d, size_t n)
{
    /* Exactly n bytes on the heap, so that ASan sees any read past them. */
    uint8_t *p = malloc(n ? n : 1);

    if (!p)
        abort();
    memcpy(p, d, n);
    return p;
}

static int str_is(const struct wc_pcapread_str *s, const char *want)
{
    return s->len == strlen(want) && memcmp(s->s, want, s->len) == 0;
}

static void test_pcapng(void)
{
    struct b b;
    size_t n = build_pcapng(&b);
    uint8_t *d = copy(b.d, n);
    struct wc_pcapread *r;
    struct wc_pcapread_packet pkt;
    const struct wc_pcapread_iface *f;
    char err[256] = "";

    CHECK_EQ("open", 0, wc_pcapread_open(&r, d, n, err, sizeof err));
    if (check_failures) {
        fprintf(stderr, "open: %s\n", err);
        free(d);
        return;
    }
    CHECK_EQ("interfaces", 2, wc_pcapread_nifaces(r));
    CHECK_EQ("section comments", 1, wc_pcapread_nsection_comments(r));
    CHECK(strcmp(wc_pcapread_section_comment(r, 0), "section one\n") == 0);
    f = wc_pcapread_iface(r, 0);
    CHECK(f->name && strcmp(f->name, "eth0@ns-a") == 0);
    CHECK(f->description && strcmp(f->description, "client side") == 0);
    CHECK(f->filter && strcmp(f->filter, "tcp port 6789") == 0);
    CHECK_EQ("linktype 0", 1, f->linktype);
    CHECK_EQ("snaplen 0", 5, f->snaplen);
    f = wc_pcapread_iface(r, 1);
    CHECK(!f->name && !f->description && !f->filter);
    CHECK_EQ("linktype 1", 101, f->linktype);
    CHECK_EQ("section of 1", 1, f->section);
    CHECK_EQ("local id of 1", 0, f->local_id);
    CHECK(wc_pcapread_iface(r, 2) == NULL);

    CHECK_EQ("epb", 1, wc_pcapread_next(r, &pkt));
    CHECK_EQ("epb iface", 0, pkt.iface);
    CHECK_EQ("epb ts", (0x17ull << 32) | 0x89ABCDEF, pkt.ts_ns);
    CHECK_EQ("epb caplen", 5, pkt.caplen);
    CHECK_EQ("epb origlen", 7, pkt.origlen);
    CHECK(pkt.data && pkt.data[0] == 1 && pkt.data[4] == 5);
    CHECK_EQ("epb flags", 2, pkt.flags);
    CHECK_EQ("epb has flags", 1, pkt.has_flags);
    CHECK_EQ("epb comments", 2, pkt.ncomments);
    CHECK(str_is(&pkt.comments[0], "label one\n") && str_is(&pkt.comments[1], "second"));

    CHECK_EQ("spb", 1, wc_pcapread_next(r, &pkt));
    CHECK_EQ("spb iface", 0, pkt.iface);
    CHECK_EQ("spb caplen (snaplen)", 5, pkt.caplen);
    CHECK_EQ("spb origlen", 7, pkt.origlen);
    CHECK_EQ("spb comments", 0, pkt.ncomments);
    CHECK_EQ("spb flags", 0, pkt.has_flags);

    CHECK_EQ("pb", 1, wc_pcapread_next(r, &pkt));
    CHECK_EQ("pb iface (second section)", 1, pkt.iface);
    CHECK_EQ("pb ts: 3 µs + 100 s", 100000003000ull, pkt.ts_ns);
    CHECK_EQ("pb caplen", 2, pkt.caplen);
    CHECK_EQ("pb flags", 1, pkt.flags);
    CHECK(pkt.ncomments == 1 && str_is(&pkt.comments[0], "old"));
    CHECK_EQ("end", 0, wc_pcapread_next(r, &pkt));
    CHECK_EQ("still the end", 0, wc_pcapread_next(r, &pkt));
    wc_pcapread_rewind(r);
    CHECK_EQ("rewound", 1, wc_pcapread_next(r, &pkt));
    CHECK_EQ("rewound iface", 0, pkt.iface);
    wc_pcapread_close(r);
    free(d);
}

static size_t build_classic(uint8_t *out, int be, int ns)
{
    struct b b;

    memset(&b, 0, sizeof b);
    b.be = be;
    u32(&b, ns ? 0xA1B23C4D : 0xA1B2C3D4);
    u16(&b, 2);
    u16(&b, 4);
    u32(&b, 0);
    u32(&b, 0);
    u32(&b, 65535);
    u32(&b, 113);
    for (uint32_t i = 0; i < 3; i++) {
        u32(&b, 1000 + i);
        u32(&b, 7);
        u32(&b, i + 1);
        u32(&b, 60);
        for (uint32_t k = 0; k <= i; k++)
            u8(&b, (uint8_t)(0xA0 + k));
        b.bounds[b.nbounds++] = b.n;
    }
    memcpy(out, b.d, b.n);
    return b.n;
}

static void test_classic(void)
{
    for (int be = 0; be < 2; be++) {
        for (int ns = 0; ns < 2; ns++) {
            uint8_t raw[256];
            size_t n = build_classic(raw, be, ns);
            uint8_t *d = copy(raw, n);
            struct wc_pcapread *r;
            struct wc_pcapread_packet pkt;
            char err[256] = "";

            CHECK_EQ("classic open", 0, wc_pcapread_open(&r, d, n, err, sizeof err));
            if (check_failures) {
                fprintf(stderr, "be %d ns %d: %s\n", be, ns, err);
                free(d);
                return;
            }
            CHECK_EQ("classic ifaces", 1, wc_pcapread_nifaces(r));
            CHECK_EQ("classic linktype", 113, wc_pcapread_iface(r, 0)->linktype);
            CHECK_EQ("classic snaplen", 65535, wc_pcapread_iface(r, 0)->snaplen);
            for (uint32_t i = 0; i < 3; i++) {
                CHECK_EQ("classic next", 1, wc_pcapread_next(r, &pkt));
                CHECK_EQ("classic ts", (1000ull + i) * 1000000000ull + (ns ? 7 : 7000), pkt.ts_ns);
                CHECK_EQ("classic caplen", i + 1, pkt.caplen);
                CHECK_EQ("classic origlen", 60, pkt.origlen);
                CHECK_EQ("classic last byte", 0xA0 + i, pkt.data[i]);
            }
            CHECK_EQ("classic end", 0, wc_pcapread_next(r, &pkt));
            wc_pcapread_close(r);
            free(d);
        }
    }
}

/* Counts the packets of a file that opens; -1 when it does not (err then names an offset). */
static int count_packets(const uint8_t *d, size_t n, char *err, size_t errlen)
{
    struct wc_pcapread *r;
    struct wc_pcapread_packet pkt;
    int k, c = 0;

    err[0] = '\0';
    if (wc_pcapread_open(&r, d, n, err, errlen) < 0)
        return -1;
    while ((k = wc_pcapread_next(r, &pkt)) > 0) {
        /* Touch both ends of every packet: ASan checks they are inside the buffer. */
        volatile uint8_t x = pkt.caplen ? pkt.data[0] ^ pkt.data[pkt.caplen - 1] : 0;

        (void)x;
        c++;
    }
    wc_pcapread_close(r);
    return k < 0 ? -1 : c;
}

static int is_bound(const size_t *bounds, size_t nb, size_t k)
{
    for (size_t i = 0; i < nb; i++)
        if (bounds[i] == k)
            return (int)i + 1;
    return 0;
}

/* A prefix ending exactly after a block or record is a valid, shorter file; every other prefix is an error
 * whose message names an offset. */
static void truncations(const char *what, const uint8_t *full, size_t n, const size_t *bounds, size_t nb,
                        const int *packets_at)
{
    for (size_t k = 0; k < n; k++) {
        uint8_t *d = copy(full, k);
        char err[256];
        int c = count_packets(d, k, err, sizeof err), bi = is_bound(bounds, nb, k);

        if (bi) {
            if (c != packets_at[bi - 1]) {
                fprintf(stderr, "%s: prefix of %zu bytes (a boundary): expected %d packets, got %d (%s)\n",
                        what, k, packets_at[bi - 1], c, err);
                check_failures++;
            }
        } else if (c != -1 || !strstr(err, " at offset ")) {
            fprintf(stderr, "%s: prefix of %zu bytes: expected an error naming an offset, got %d (%s)\n",
                    what, k, c, err);
            check_failures++;
        }
        free(d);
    }
}

static void test_truncations(void)
{
    struct b b;
    size_t n = build_pcapng(&b);
    /* Packets before each block boundary: SHB, IDB, EPB, unknown, SPB, SHB, IDB, PB. */
    static const int ng_packets[] = {0, 0, 1, 1, 2, 2, 2, 3};
    static const int classic_packets[] = {1, 2, 3};
    uint8_t raw[256];
    size_t cn;

    CHECK_EQ("pcapng blocks", 8, b.nbounds);
    truncations("pcapng", b.d, n, b.bounds, b.nbounds, ng_packets);
    cn = build_classic(raw, 1, 1);
    {
        /* The header alone is a valid empty file. */
        size_t bounds[4] = {24, 24 + 17, 24 + 17 + 18, 24 + 17 + 18 + 19};
        static const int at[] = {0, 1, 2, 3};

        CHECK_EQ("classic size", bounds[3], cn);
        truncations("classic", raw, cn, bounds, 4, at);
        (void)classic_packets;
    }
}

static void expect_error(const char *what, const uint8_t *d0, size_t n, const char *want)
{
    uint8_t *d = copy(d0, n);
    char err[256];

    if (count_packets(d, n, err, sizeof err) != -1 || !strstr(err, want)) {
        fprintf(stderr, "%s: expected an error containing \"%s\", got \"%s\"\n", what, want, err);
        check_failures++;
    }
    free(d);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void test_invariants(void)
{
    struct b b, m;
    size_t n = build_pcapng(&b);
    size_t s0 = b.bounds[0], idb = b.bounds[1];   /* the IDB spans [s0, idb) */
    char want[128];

    m = b;
    put_le32(m.d + idb - 4, (uint32_t)(idb - s0 + 4));
    snprintf(want, sizeof want, "block total length in header %zu and trailer %zu don't match at offset %zu",
             idb - s0, idb - s0 + 4, s0);
    expect_error("trailer", m.d, n, want);
    m = b;
    put_le32(m.d + s0 + 4, (uint32_t)(idb - s0 + 2));
    expect_error("multiple of 4", m.d, n, "is not a multiple of 4 at offset");
    m = b;
    put_le32(m.d + s0 + 4, WC_PCAPREAD_MAX_BLOCK + 4);
    expect_error("maximum", m.d, n, "is bigger than the maximum 16777216");
    m = b;
    put_le32(m.d + 4, 0x7FFFFFF0);
    expect_error("huge SHB", m.d, n, "at offset 0");
    m = b;
    put_le32(m.d + 8, 0x12345678);
    expect_error("byte order", m.d, n, "byte-order magic 0x12345678");
    m = b;
    put_le32(m.d + idb + 8, 1);   /* the EPB after the IDB: interface id 1 of 1 */
    expect_error("interface id", m.d, n, "EPB interface id 1, but the section has 1 interface before it");
    m = b;
    put_le32(m.d + idb + 20, 200);   /* EPB caplen */
    expect_error("epb caplen", m.d, n, "EPB capture length 200 runs past the end of the block");
    m = b;
    m.d[0] = 'x';
    expect_error("magic", m.d, n, "neither pcap nor pcapng");
    expect_error("IDB first", b.d + s0, n - s0, "magic number 0x00000001 is neither");
    expect_error("empty", b.d, 0, "too short");
    {
        uint8_t raw[256];
        size_t cn = build_classic(raw, 0, 0);

        put_le32(raw + 24 + 8, 0x7FFFFFFF);
        expect_error("classic huge caplen", raw, cn, "record capture length 2147483647 is bigger than the maximum");
        put_le32(raw + 24 + 8, 100);
        expect_error("classic caplen", raw, cn, "record capture length 100 runs past the end of the file");
        raw[4] = 3;
        expect_error("classic version", raw, cn, "unsupported pcap version 3.4 (only 2.x) at offset 4");
    }
    {
        /* One comment more than the reader keeps. */
        memset(&m, 0, sizeof m);
        shb(&m, 0, NULL);
        idb_begin(&m, 1, 0);
        end(&m);
        begin(&m, 6);
        for (int i = 0; i < 5; i++)
            u32(&m, 0);
        for (int i = 0; i <= WC_PCAPREAD_MAX_COMMENTS; i++)
            opt(&m, 1, "c", 1);
        end(&m);
        expect_error("comments", m.d, m.n, "EPB has more than 32 comments");
    }
}

int main(void)
{
    test_pcapng();
    test_classic();
    test_truncations();
    test_invariants();
    return check_done("test_pcapread");
}
