/* capture_out_pcapng.c - the sniffer's pcapng output: a section with our comments, one interface block per
 * source, one labelled packet block per packet, the kernel's counters at the end. */
#include "capture_int.h"

#include "wirecheck/pcapng.h"
#include "wirecheck/pcapread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

static int ng_open(struct wc_sniff *s)
{
    const struct wc_sniff_config *cfg = s->cfg;
    struct wc_pcapng_section sec = {NULL, 0, NULL, NULL};
    struct wc_pcapng *w;
    const char **comments;
    char os[300], appl[256];   /* appl: pcap_lib_version() alone can take 100 */
    struct utsname u;
    int r;

    if (uname(&u) == 0) {
        snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
        sec.os = os;
    }
    snprintf(appl, sizeof appl, "wirecheck sniffer %s (%s)", WIRECHECK_VERSION, pcap_lib_version());
    sec.userappl = appl;
    /* The input's section comments first (offline), then ours. */
    if (!(comments = calloc(s->nin_comments + cfg->ncomments + 1, sizeof *comments)))
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    for (size_t i = 0; i < s->nin_comments; i++)
        comments[i] = s->in_comments[i];
    for (size_t i = 0; i < cfg->ncomments; i++)
        comments[s->nin_comments + i] = cfg->comments[i];
    sec.comments = comments;
    sec.ncomments = s->nin_comments + cfg->ncomments;
    r = wc_pcapng_open(&w, cfg->write_file, &sec);
    free(comments);
    if (r < 0)
        return wc_sniff_fail(s, r, "%s%s: %s", cfg->write_file, WC_PCAPNG_PARTIAL_SUFFIX, strerror(-r));
    s->out_priv = w;
    for (size_t i = 0; i < s->nsrc; i++) {
        struct source *src = &s->src[i];
        struct wc_pcapng_iface ifc = {
            .name = src->out_name,
            .description = src->out_desc,
            .filter = src->out_filter,
            .linktype = (uint16_t)src->linktype,
            .snaplen = src->out_snaplen,
        };

        r = wc_pcapng_add_iface(w, &ifc);
        if (r < 0)
            return wc_sniff_fail(s, r, "%s: %s", wc_pcapng_tmpname(w), strerror(-r));
        src->ifid = (uint32_t)r;
    }
    return 0;
}

/* Does the input already carry this label as a comment (with or without the "\n" writers add)? */
static int has_comment(const struct wc_pcapread_packet *in, const char *label, size_t n)
{
    for (size_t i = 0; i < in->ncomments; i++) {
        const char *c = in->comments[i].s;
        size_t m = in->comments[i].len;

        while (m && (c[m - 1] == '\n' || c[m - 1] == '\0'))
            m--;
        if (m == n && memcmp(c, label, n) == 0)
            return 1;
    }
    return 0;
}

static int ng_write(struct wc_sniff *s, const struct source *src, const struct rec *rec, uint32_t flags,
                    const char *label)
{
    struct wc_pcapng_str comments[WC_PCAPREAD_MAX_COMMENTS + 1];
    struct wc_pcapng_epb e = {src->ifid, rec->ts, rec->data, rec->caplen, rec->len, flags, comments, 0};
    size_t n = strlen(label);

    /* The input's comments stay; the label joins them unless one of them says it already. */
    if (rec->in)
        for (size_t i = 0; i < rec->in->ncomments; i++) {
            comments[e.ncomments].s = rec->in->comments[i].s;
            comments[e.ncomments++].len = rec->in->comments[i].len;
        }
    if (n && !(rec->in && has_comment(rec->in, label, n))) {
        comments[e.ncomments].s = label;
        comments[e.ncomments++].len = n;
    }
    return wc_pcapng_write_epb(s->out_priv, &e);
}

static int ng_flush(struct wc_sniff *s)
{
    return wc_pcapng_flush(s->out_priv);
}

static int ng_close(struct wc_sniff *s, uint64_t end_ns)
{
    const char *path = s->cfg->write_file;
    struct wc_pcapng *w = s->out_priv;
    int r;

    s->out_priv = NULL;
    for (size_t i = 0; i < s->nsrc; i++) {
        const struct source *src = &s->src[i];

        if (src->pub.has_stats)
            wc_pcapng_write_stats(w, src->ifid, end_ns, src->start_ns, end_ns, src->pub.recv, src->pub.drop);
    }
    r = wc_pcapng_close(w);
    if (r < 0)
        return wc_sniff_fail(s, r, "writing %s: %s (the incomplete capture is left in %s%s)", path, strerror(-r), path,
                             WC_PCAPNG_PARTIAL_SUFFIX);
    return 0;
}

static void ng_abort(struct wc_sniff *s, int keep_partial)
{
    if (s->out_priv)
        wc_pcapng_abort(s->out_priv, keep_partial);
    s->out_priv = NULL;
}

static const char *ng_tmpname(const struct wc_sniff *s)
{
    return wc_pcapng_tmpname(s->out_priv);
}

const struct wc_sniff_output_ops wc_sniff_output_pcapng = {
    .open = ng_open,
    .write = ng_write,
    .flush = ng_flush,
    .close = ng_close,
    .abort = ng_abort,
    .tmpname = ng_tmpname,
};
