/* capture_offline.c - the sniffer's offline source: a pcap or pcapng file (or stdin) read from memory by pcapread,
 * one source per interface in the file so that flows, labels and counts stay apart. */
#include "capture_int.h"

#include "wirecheck/loop.h"
#include "wirecheck/pcapread.h"
#include "wirecheck/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct offline {
    struct wc_pcapread *rd;
    uint8_t *buf;                 /* what rd reads: mapped, or read into memory */
    size_t len;
    int mapped;
    const char **comments;        /* the file's section comments, for the output */
};

/* Maps the input (or reads it, from a pipe or "-"): the reader parses memory. */
/* Reads from a pipe grow the buffer whenever less than this is free. */
#define READ_CHUNK 65536

static int read_fail(struct wc_sniff *s, int fd, int err, const char *what)
{
    if (fd != STDIN_FILENO)
        wc_close(fd);
    return wc_sniff_fail(s, err, "%s: %s", s->cfg->read_file, what);
}

/* Maps the input (or reads it, from a pipe or "-"): the reader parses memory. */
static int load_input(struct wc_sniff *s, struct offline *o)
{
    const char *path = s->cfg->read_file;
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    char what[300];
    struct stat st;
    size_t cap = 0;

    if (fd < 0)
        return wc_sniff_fail(s, -errno, "%s: cannot read: %s", path, strerror(errno));
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

        if (m != MAP_FAILED) {
            o->buf = m;
            o->len = (size_t)st.st_size;
            o->mapped = 1;
            if (fd != STDIN_FILENO)
                wc_close(fd);
            return 0;
        }
    }
    for (;;) {
        ssize_t n;

        if (cap - o->len < READ_CHUNK) {
            uint8_t *b = realloc(o->buf, cap = cap ? cap * 2 : 1 << 20);

            if (!b)
                return read_fail(s, fd, -ENOMEM, "out of memory");
            o->buf = b;
        }
        n = wc_read(fd, o->buf + o->len, cap - o->len);
        if (n < 0) {
            snprintf(what, sizeof what, "cannot read: %s", strerror((int)-n));
            return read_fail(s, fd, (int)n, what);
        }
        if (n == 0)
            break;
        o->len += (size_t)n;
    }
    if (fd != STDIN_FILENO)
        wc_close(fd);
    return 0;
}

/* One source for interface i of the file: its name, description and filter, here and in the output. */
static int open_iface(struct wc_sniff *s, struct offline *o, size_t i, size_t n)
{
    const struct wc_sniff_config *cfg = s->cfg;
    const struct wc_pcapread_iface *ifc = wc_pcapread_iface(o->rd, i);
    struct source *src = &s->src[s->nsrc++];
    int snap = ifc->snaplen && ifc->snaplen <= INT32_MAX ? (int)ifc->snaplen : WC_SNIFF_DEFAULT_SNAPLEN;

    src->s = s;
    src->fd = -1;
    src->ifid = (uint32_t)i;
    src->linktype = ifc->linktype;
    src->pub.description = ifc->description;
    if (ifc->name) {
        src->pub.name = ifc->name;
    } else if (n == 1) {
        src->pub.name = cfg->read_file;
    } else {
        if (asprintf(&src->owned_name, "%s#%zu", cfg->read_file, i) < 0) {
            src->owned_name = NULL;
            return wc_sniff_fail(s, -ENOMEM, "out of memory");
        }
        src->pub.name = src->owned_name;
    }
    src->p = pcap_open_dead_with_tstamp_precision(ifc->linktype, snap, PCAP_TSTAMP_PRECISION_NANO);
    if (!src->p)
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    if (cfg->filter) {
        if (pcap_compile(src->p, &src->prog, cfg->filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
            return wc_sniff_fail(s, -EINVAL, "filter '%s' on %s (link type %s): %s", cfg->filter, src->pub.name,
                                 wc_sniff_linktype_name(src->linktype), pcap_geterr(src->p));
        src->has_prog = 1;
    }
    /* In the output: the file's own name and snaplen, its description or where it came from, and its own
     * filter narrowed by ours. */
    src->out_name = ifc->name;
    src->out_snaplen = ifc->snaplen;
    src->out_desc = ifc->description;
    if (!src->out_desc) {
        if (asprintf(&src->owned_desc, "read from %s", cfg->read_file) < 0) {
            src->owned_desc = NULL;
            return wc_sniff_fail(s, -ENOMEM, "out of memory");
        }
        src->out_desc = src->owned_desc;
    }
    src->out_filter = cfg->filter;
    if (ifc->filter && cfg->filter) {
        if (asprintf(&src->owned_filter, "(%s) and (%s)", ifc->filter, cfg->filter) < 0) {
            src->owned_filter = NULL;
            return wc_sniff_fail(s, -ENOMEM, "out of memory");
        }
        src->out_filter = src->owned_filter;
    } else if (ifc->filter) {
        src->out_filter = ifc->filter;
    }
    return 0;
}

/* One source per interface of the file, in the file's order: flows, labels and counts stay per interface. */
static int offline_open(struct wc_sniff *s)
{
    const struct wc_sniff_config *cfg = s->cfg;
    struct offline *o = calloc(1, sizeof *o);
    char ebuf[512] = "";
    size_t n;
    int r;

    if (!o)
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    s->in_priv = o;
    if ((r = load_input(s, o)) < 0)
        return r;
    if ((r = wc_pcapread_open(&o->rd, o->buf, o->len, ebuf, sizeof ebuf)) < 0)
        return wc_sniff_fail(s, r, "%s: cannot read: %s", cfg->read_file, r == -ENOMEM ? strerror(ENOMEM) : ebuf);
    n = wc_pcapread_nifaces(o->rd);
    if (n == 0)
        return wc_sniff_fail(s, -EINVAL, "%s: no interface description block: no packet can be read", cfg->read_file);
    /* The output, the splits and the reorder stage keep a slot per interface, as live capture does. */
    if (n > WC_SNIFF_MAX_IFACES)
        return wc_sniff_fail(s, -EINVAL, "%s: %zu interfaces; the sniffer reads at most %d", cfg->read_file, n,
                             WC_SNIFF_MAX_IFACES);
    if (!(s->src = calloc(n, sizeof *s->src)))
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if ((r = open_iface(s, o, i, n)) < 0)
            return r;
    /* Every section of the input becomes one in the output: its comments first. */
    s->nin_comments = wc_pcapread_nsection_comments(o->rd);
    if (!(o->comments = calloc(s->nin_comments + 1, sizeof *o->comments)))
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    for (size_t i = 0; i < s->nin_comments; i++)
        o->comments[i] = wc_pcapread_section_comment(o->rd, i);
    s->in_comments = o->comments;
    return 0;
}

static int offline_loop(struct wc_sniff *s, int sfd)
{
    struct offline *o = s->in_priv;
    struct wc_pcapread_packet *in = malloc(sizeof *in);
    int r = 0;

    if (!in)
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    for (uint64_t n = 1; !s->stop; n++) {
        struct source *src;
        struct rec rec;
        int k = wc_pcapread_next(o->rd, in);

        if (k == 0)
            break;
        if (k < 0) {
            /* wc_pcapread_open checked every block: this is a bug, not bad input. */
            r = wc_sniff_fail(s, k, "%s: bad input after %" PRIu64 " packets", s->cfg->read_file, s->packets);
            break;
        }
        src = &s->src[in->iface];
        rec = (struct rec){in->ts_ns, in->data, in->caplen, in->origlen, in};
        if (src->has_prog) {
            struct pcap_pkthdr h = {.caplen = in->caplen, .len = in->origlen};

            if (!pcap_offline_filter(&src->prog, &h, in->data))
                continue;
        }
        wc_sniff_packet(s, src, &rec);
        if (s->werr) {
            r = wc_sniff_write_failed(s);
            break;
        }
        if (n % 4096 == 0 && wc_signals_read(sfd) > 0)
            break;
    }
    free(in);
    return r;
}

static void offline_cleanup(struct wc_sniff *s)
{
    struct offline *o = s->in_priv;

    if (!o)
        return;
    wc_pcapread_close(o->rd);
    if (o->mapped)
        munmap(o->buf, o->len);
    else
        free(o->buf);
    free(o->comments);
    free(o);
}

const struct wc_sniff_source_ops wc_sniff_source_offline = {
    .open = offline_open,
    .loop = offline_loop,
    .stats = NULL,
    .cleanup = offline_cleanup,
};
