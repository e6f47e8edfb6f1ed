/* capture_out_pcap.c - the sniffer's classic pcap output (--format pcap): libpcap's dumper, one link type, no
 * interface, no label; written as FILE.partial and renamed when complete, as the pcapng output is. */
#include "capture_int.h"

#include "wirecheck/pcapng.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct dump {
    pcap_dumper_t *d;
    char *tmp;                    /* written here, then renamed; NULL: written in place */
};

static int dump_open(struct wc_sniff *s)
{
    const char *path = s->cfg->write_file;
    struct dump *o;
    struct stat st;

    /* Classic pcap has one link type and no interface: a file of several must stay pcapng. */
    for (size_t i = 1; i < s->nsrc; i++)
        if (s->src[i].linktype != s->src[0].linktype)
            return wc_sniff_fail(s, -EINVAL,
                                 "--format pcap holds one link type, but %s has %s (%d) and %s has %s (%d): "
                                 "write pcapng",
                                 s->src[0].pub.name, wc_sniff_linktype_name(s->src[0].linktype), s->src[0].linktype,
                                 s->src[i].pub.name, wc_sniff_linktype_name(s->src[i].linktype), s->src[i].linktype);
    if (!(o = calloc(1, sizeof *o)))
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    s->out_priv = o;
    /* Renaming onto /dev/null or a FIFO would replace it: write those in place. */
    if (strcmp(path, "-") == 0 || (stat(path, &st) == 0 && !S_ISREG(st.st_mode))) {
        o->d = pcap_dump_open(s->src[0].p, path);
    } else {
        if (asprintf(&o->tmp, "%s%s", path, WC_PCAPNG_PARTIAL_SUFFIX) < 0) {
            o->tmp = NULL;
            return wc_sniff_fail(s, -ENOMEM, "out of memory");
        }
        o->d = pcap_dump_open(s->src[0].p, o->tmp);
    }
    if (!o->d)
        return wc_sniff_fail(s, -EIO, "%s", pcap_geterr(s->src[0].p));
    return 0;
}

/* A block: the timestamp in ns, caplen and len (native order: it never leaves this process), the bytes, padded
 * to a multiple of 4. */
enum { DUMP_HDR = 16 };

static size_t dump_block_len(uint32_t caplen)
{
    return DUMP_HDR + ((caplen + 3u) & ~3u);
}

static size_t dump_encode(struct wc_sniff *s, const struct source *src, const struct rec *rec, uint32_t flags,
                          const char *label,
                          uint8_t *(*room)(struct wc_sniff *s, const struct source *src, uint64_t ts, size_t size))
{
    size_t n = dump_block_len(rec->caplen);
    uint8_t *block = room(s, src, rec->ts, n);

    (void)flags, (void)label;
    if (!block)
        return 0;
    memcpy(block, &rec->ts, 8);
    memcpy(block + 8, &rec->caplen, 4);
    memcpy(block + 12, &rec->len, 4);
    memcpy(block + DUMP_HDR, rec->data, rec->caplen);
    memset(block + DUMP_HDR + rec->caplen, 0, n - DUMP_HDR - rec->caplen);
    return n;
}

static void dump_restamp(uint8_t *block, uint64_t ts)
{
    memcpy(block, &ts, 8);
}

static int dump_write(struct wc_sniff *s, const struct source *src, const uint8_t *blocks, size_t len)
{
    struct dump *o = s->out_priv;
    struct pcap_pkthdr h;
    uint64_t ts;

    (void)src;
    for (size_t off = 0; off + DUMP_HDR <= len; off += dump_block_len(h.caplen)) {
        memcpy(&ts, blocks + off, 8);
        memcpy(&h.caplen, blocks + off + 8, 4);
        memcpy(&h.len, blocks + off + 12, 4);
        if (dump_block_len(h.caplen) > len - off)
            return -EINVAL;
        h.ts.tv_sec = (time_t)(ts / 1000000000u);
        h.ts.tv_usec = (suseconds_t)(ts % 1000000000u);   /* the dumper is nanosecond-precise */
        pcap_dump((u_char *)o->d, &h, blocks + off + DUMP_HDR);
    }
    return 0;
}

static int dump_flush(struct wc_sniff *s)
{
    struct dump *o = s->out_priv;

    return pcap_dump_flush(o->d) < 0 ? -EIO : 0;
}

static void dump_free(struct dump *o)
{
    free(o->tmp);
    free(o);
}

static int dump_close(struct wc_sniff *s, uint64_t end_ns)
{
    const char *path = s->cfg->write_file;
    struct dump *o = s->out_priv;
    FILE *f = pcap_dump_file(o->d);
    int r = 0;

    (void)end_ns;
    s->out_priv = NULL;
    if (pcap_dump_flush(o->d) < 0 || ferror(f))
        r = -EIO;
    else if (o->tmp && fdatasync(fileno(f)) < 0 && errno != EINVAL)
        r = -errno;
    pcap_dump_close(o->d);
    if (r == 0 && o->tmp && rename(o->tmp, path) < 0)
        r = -errno;
    if (r < 0)
        wc_sniff_fail(s, r, "writing %s: %s (the incomplete capture is left in %s)", path, strerror(-r),
                      o->tmp ? o->tmp : "standard output");
    dump_free(o);
    return r;
}

static void dump_abort(struct wc_sniff *s, int keep_partial)
{
    struct dump *o = s->out_priv;

    if (!o)
        return;
    s->out_priv = NULL;
    if (o->d)
        pcap_dump_close(o->d);
    if (o->tmp && !keep_partial)
        unlink(o->tmp);
    dump_free(o);
}

static const char *dump_tmpname(const struct wc_sniff *s)
{
    const struct dump *o = s->out_priv;

    return o->tmp;
}

const struct wc_sniff_output_ops wc_sniff_output_pcap = {
    .open = dump_open,
    .encode = dump_encode,
    .write = dump_write,
    .restamp = dump_restamp,
    .flush = dump_flush,
    .close = dump_close,
    .abort = dump_abort,
    .tmpname = dump_tmpname,
};
