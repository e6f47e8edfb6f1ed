/* pcapread.c - the capture reader's handle: it tells classic pcap from pcapng by the magic, checks the whole file
 * once in open, then hands out packets; the formats are pcapread_pcap.c and pcapread_pcapng.c. */
#include "wirecheck/pcapread.h"
#include "pcapread_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int wc_pcapread_bad(struct wc_pcapread *r, size_t off, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    va_start(ap, fmt);
    n = vsnprintf(r->errbuf, sizeof r->errbuf, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof r->errbuf)
        snprintf(r->errbuf + n, sizeof r->errbuf - (size_t)n, " at offset %zu", off);
    return -EINVAL;
}

static int step(struct wc_pcapread *r, struct wc_pcapread_packet *pkt)
{
    return r->format == WC_PCAPREAD_PCAP ? wc_pcapread_step_pcap(r, pkt) : wc_pcapread_step_pcapng(r, pkt);
}

void wc_pcapread_rewind(struct wc_pcapread *r)
{
    r->pos = r->format == WC_PCAPREAD_PCAP ? WC_PCAPREAD_CLASSIC_HEADER : 0;
    r->section = 0;
    r->sec_first = 0;
    r->nseen = 0;
}

int wc_pcapread_open(struct wc_pcapread **out, const uint8_t *data, size_t len, char *errbuf, size_t errlen)
{
    struct wc_pcapread *r = calloc(1, sizeof *r);
    struct wc_pcapread_packet *pkt = NULL;
    uint32_t magic;
    int k;

    if (!r)
        return -ENOMEM;
    r->data = data;
    r->len = len;
    if (len < 4) {
        k = wc_pcapread_bad(r, 0, "file of %zu bytes is too short to be pcap or pcapng", len);
        goto fail;
    }
    magic = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    if (magic == WC_PCAPREAD_BT_SHB) {
        r->format = WC_PCAPREAD_PCAPNG;
    } else if (magic == 0xA1B2C3D4 || magic == 0xD4C3B2A1 || magic == 0xA1B23C4D || magic == 0x4D3CB2A1) {
        r->format = WC_PCAPREAD_PCAP;
        if ((k = wc_pcapread_open_pcap(r)) < 0)
            goto fail;
    } else {
        k = wc_pcapread_bad(r, 0, "magic number 0x%08x is neither pcap nor pcapng", magic);
        goto fail;
    }
    /* The first pass checks every block and learns every interface; the packets come on the second. */
    if (!(pkt = malloc(sizeof *pkt))) {
        k = -ENOMEM;
        goto fail;
    }
    r->collecting = 1;
    while ((k = step(r, pkt)) > 0)
        ;
    if (k < 0)
        goto fail;
    r->collecting = 0;
    free(pkt);
    wc_pcapread_rewind(r);
    *out = r;
    return 0;
fail:
    /* The caller's buffer is written only here, during the call; the reader never keeps it. */
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", k == -ENOMEM ? "out of memory" : r->errbuf);
    free(pkt);
    wc_pcapread_close(r);
    return k;
}

void wc_pcapread_close(struct wc_pcapread *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nifs; i++) {
        free((char *)r->ifs[i].pub.name);
        free((char *)r->ifs[i].pub.description);
        free((char *)r->ifs[i].pub.filter);
    }
    for (size_t i = 0; i < r->nscomments; i++)
        free(r->scomments[i]);
    free(r->scomments);
    free(r->ifs);
    free(r);
}

size_t wc_pcapread_nifaces(const struct wc_pcapread *r)
{
    return r->nifs;
}

const struct wc_pcapread_iface *wc_pcapread_iface(const struct wc_pcapread *r, size_t i)
{
    return i < r->nifs ? &r->ifs[i].pub : NULL;
}

size_t wc_pcapread_nsection_comments(const struct wc_pcapread *r)
{
    return r->nscomments;
}

const char *wc_pcapread_section_comment(const struct wc_pcapread *r, size_t i)
{
    return i < r->nscomments ? r->scomments[i] : NULL;
}

int wc_pcapread_next(struct wc_pcapread *r, struct wc_pcapread_packet *pkt)
{
    return step(r, pkt);
}

const char *wc_pcapread_geterr(const struct wc_pcapread *r)
{
    return r->errbuf;
}
