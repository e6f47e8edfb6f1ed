/* capture_out_pcapng.c - the sniffer's pcapng output: a section with our comments, one interface block per
 * source, one labelled packet block per packet, the kernel's counters at the end; and beside it (--split) a
 * file per capture point, each with that point's interface and packets only. */
#include "capture_int.h"

#include "wirecheck/pcapng.h"
#include "wirecheck/pcapread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

/* The -w file and the one-capture-point files (--split): one writer each; side[i] takes source i's packets. */
struct ng {
    struct wc_pcapng *w;          /* NULL without -w */
    struct wc_pcapng *side[WC_SNIFF_MAX_IFACES];
    uint32_t side_ifid[WC_SNIFF_MAX_IFACES];
    const char *side_path[WC_SNIFF_MAX_IFACES];
};

/* The source a --split names: its name as given (or the file's if_name), else its index. */
static int split_source(const struct wc_sniff *s, const char *spec)
{
    char *end;
    unsigned long i;

    for (size_t k = 0; k < s->nsrc; k++)
        if (s->src[k].pub.name && strcmp(s->src[k].pub.name, spec) == 0)
            return (int)k;
    i = strtoul(spec, &end, 10);
    if (*spec && !*end && i < s->nsrc)
        return (int)i;
    return -1;
}

/* One writer: the section (our comments, then `extra`), then the interface blocks of sources [from, to). */
static int open_writer(struct wc_sniff *s, struct wc_pcapng **out, const char *path, const char *extra,
                       size_t from, size_t to, uint32_t *ifid)
{
    const struct wc_sniff_config *cfg = s->cfg;
    struct wc_pcapng_section sec = {NULL, 0, NULL, NULL};
    struct wc_pcapng *w;
    const char **comments;
    char os[300], appl[256];   /* appl: pcap_lib_version() alone can take 100 */
    struct utsname u;
    size_t n = 0;
    int r;

    if (uname(&u) == 0) {
        snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
        sec.os = os;
    }
    snprintf(appl, sizeof appl, "wirecheck sniffer %s (%s)", WIRECHECK_VERSION, pcap_lib_version());
    sec.userappl = appl;
    /* The input's section comments first (offline), then ours, then what this file holds. */
    if (!(comments = calloc(s->nin_comments + cfg->ncomments + 2, sizeof *comments)))
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    for (size_t i = 0; i < s->nin_comments; i++)
        /* What the input said about itself ("this file: ...") is not true of this one. */
        if (strncmp(s->in_comments[i], WC_SNIFF_THIS_FILE, strlen(WC_SNIFF_THIS_FILE)) != 0)
            comments[n++] = s->in_comments[i];
    for (size_t i = 0; i < cfg->ncomments; i++)
        comments[n++] = cfg->comments[i];
    if (extra)
        comments[n++] = extra;
    sec.comments = comments;
    sec.ncomments = n;
    r = wc_pcapng_open(&w, path, &sec);
    free(comments);
    if (r < 0)
        return wc_sniff_fail(s, r, "%s%s: %s", path, WC_PCAPNG_PARTIAL_SUFFIX, strerror(-r));
    *out = w;
    for (size_t i = from; i < to; i++) {
        const struct source *src = &s->src[i];
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
        ifid[i - from] = (uint32_t)r;
    }
    return 0;
}

static int ng_open(struct wc_sniff *s)
{
    const struct wc_sniff_config *cfg = s->cfg;
    struct ng *ng = calloc(1, sizeof *ng);
    uint32_t ids[WC_SNIFF_MAX_IFACES];
    char line[1024];
    int r;

    if (!ng)
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    s->out_priv = ng;
    for (size_t k = 0; k < cfg->nsplit; k++) {
        int i = split_source(s, cfg->split[k].iface);

        if (i < 0)
            return wc_sniff_fail(s, -EINVAL, "--split %s: no interface of that name or index (%zu interfaces)",
                                 cfg->split[k].iface, s->nsrc);
        if (ng->side_path[i])
            return wc_sniff_fail(s, -EINVAL, "--split %s: interface %d has a file already (%s)",
                                 cfg->split[k].iface, i, ng->side_path[i]);
        ng->side_path[i] = cfg->split[k].path;
    }
    if (cfg->write_file) {
        const char *extra = NULL;

        if (cfg->nsplit) {
            snprintf(line, sizeof line, WC_SNIFF_THIS_FILE "all %zu capture points, for matching them packet by packet; "
                     "Wireshark's TCP analysis mixes capture points up, open a file of one for it", s->nsrc);
            extra = line;
        }
        if ((r = open_writer(s, &ng->w, cfg->write_file, extra, 0, s->nsrc, ids)) < 0)
            return r;
        for (size_t i = 0; i < s->nsrc; i++)
            s->src[i].ifid = ids[i];
    }
    for (size_t i = 0; i < s->nsrc; i++) {
        const struct source *src = &s->src[i];

        if (!ng->side_path[i])
            continue;
        snprintf(line, sizeof line, WC_SNIFF_THIS_FILE "one capture point, interface %zu of the sniffer: %s%s%s%s",
                 i, src->out_name ? src->out_name : "?", src->out_desc ? " (" : "",
                 src->out_desc ? src->out_desc : "", src->out_desc ? ")" : "");
        if ((r = open_writer(s, &ng->side[i], ng->side_path[i], line, i, i + 1, &ng->side_ifid[i])) < 0)
            return r;
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

/* The input's comments stay (unless relabelling); the label joins them unless one says it already. */
static size_t ng_encode(struct wc_sniff *s, const struct source *src, const struct rec *rec, uint32_t flags,
                        const char *label,
                        uint8_t *(*room)(struct wc_sniff *s, const struct source *src, uint64_t ts, size_t size))
{
    struct wc_pcapng_str comments[WC_PCAPREAD_MAX_COMMENTS + 1];
    struct wc_pcapng_epb e = {src->ifid, rec->ts, rec->data, rec->caplen, rec->len, flags, comments, 0};
    size_t n = strlen(label);
    uint8_t *block;

    if (rec->in && !s->cfg->relabel)
        for (size_t i = 0; i < rec->in->ncomments; i++) {
            comments[e.ncomments].s = rec->in->comments[i].s;
            comments[e.ncomments++].len = rec->in->comments[i].len;
        }
    if (n && !(rec->in && !s->cfg->relabel && has_comment(rec->in, label, n))) {
        comments[e.ncomments].s = label;
        comments[e.ncomments++].len = n;
    }
    block = room(s, src, rec->ts, wc_pcapng_epb_size(&e));
    return block ? wc_pcapng_epb_encode(block, &e) : 0;
}

/* Blocks to the -w file and to their capture point's own file, each under that file's interface id. */
static int ng_write(struct wc_sniff *s, const struct source *src, const uint8_t *blocks, size_t len)
{
    struct ng *ng = s->out_priv;
    size_t at = (size_t)(src - s->src);
    int r = 0;

    if (ng->w)
        r = wc_pcapng_write_epb_blocks(ng->w, blocks, len, src->ifid);
    if (r == 0 && ng->side[at])
        r = wc_pcapng_write_epb_blocks(ng->side[at], blocks, len, ng->side_ifid[at]);
    return r;
}

static int ng_flush(struct wc_sniff *s)
{
    struct ng *ng = s->out_priv;
    int r = ng->w ? wc_pcapng_flush(ng->w) : 0;

    for (size_t i = 0; i < s->nsrc && r == 0; i++)
        if (ng->side[i])
            r = wc_pcapng_flush(ng->side[i]);
    return r;
}

/* The interface statistics, then the name: w holds sources [from, to), their ids in ifid. */
static int close_writer(struct wc_sniff *s, struct wc_pcapng *w, const char *path, uint64_t end_ns, size_t from,
                        size_t to, const uint32_t *ifid)
{
    int r;

    for (size_t i = from; i < to; i++) {
        const struct source *src = &s->src[i];

        if (src->pub.has_stats)
            wc_pcapng_write_stats(w, ifid ? ifid[i - from] : src->ifid, end_ns, src->start_ns, end_ns,
                                  src->pub.recv, src->pub.drop);
    }
    r = wc_pcapng_close(w);
    if (r < 0)
        return wc_sniff_fail(s, r, "writing %s: %s (the incomplete capture is left in %s%s)", path, strerror(-r), path,
                             WC_PCAPNG_PARTIAL_SUFFIX);
    return 0;
}

static int ng_close(struct wc_sniff *s, uint64_t end_ns)
{
    struct ng *ng = s->out_priv;
    int r = 0, k;

    if (ng->w) {
        r = close_writer(s, ng->w, s->cfg->write_file, end_ns, 0, s->nsrc, NULL);
        ng->w = NULL;
    }
    for (size_t i = 0; i < s->nsrc; i++) {
        if (!ng->side[i])
            continue;
        /* After a failure the others are still closed (and named): each is complete on its own. */
        k = close_writer(s, ng->side[i], ng->side_path[i], end_ns, i, i + 1, &ng->side_ifid[i]);
        ng->side[i] = NULL;
        if (k < 0 && r == 0)
            r = k;
    }
    free(ng);
    s->out_priv = NULL;
    return r;
}

static void ng_abort(struct wc_sniff *s, int keep_partial)
{
    struct ng *ng = s->out_priv;

    if (!ng)
        return;
    if (ng->w)
        wc_pcapng_abort(ng->w, keep_partial);
    for (size_t i = 0; i < s->nsrc; i++)
        if (ng->side[i])
            wc_pcapng_abort(ng->side[i], keep_partial);
    free(ng);
    s->out_priv = NULL;
}

static const char *ng_tmpname(const struct wc_sniff *s)
{
    const struct ng *ng = s->out_priv;

    if (ng && ng->w)
        return wc_pcapng_tmpname(ng->w);
    for (size_t i = 0; ng && i < s->nsrc; i++)
        if (ng->side[i])
            return wc_pcapng_tmpname(ng->side[i]);
    return "the output";
}

const struct wc_sniff_output_ops wc_sniff_output_pcapng = {
    .open = ng_open,
    .encode = ng_encode,
    .write = ng_write,
    .restamp = wc_pcapng_epb_restamp,
    .flush = ng_flush,
    .close = ng_close,
    .abort = ng_abort,
    .tmpname = ng_tmpname,
};
