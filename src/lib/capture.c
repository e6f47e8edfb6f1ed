/* capture.c - the sniffer's engine: one pcap handle per interface (opened inside its netns), one poll loop, labels, output. */
#include "wirecheck/capture.h"
#include "capture_int.h"
#include "capture_report.h"

#include "wirecheck/decode.h"
#include "wirecheck/flow.h"
#include "wirecheck/loop.h"
#include "wirecheck/pcapng.h"
#include "wirecheck/pcapread.h"
#include "wirecheck/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>



int wc_sniff_fail(struct sniff *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errbuf, s->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

void wc_sniff_defaults(struct wc_sniff_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->snaplen = WC_SNIFF_DEFAULT_SNAPLEN;
    cfg->format = WC_FORMAT_PCAPNG;
    cfg->max_flows = WC_SNIFF_DEFAULT_MAX_FLOWS;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Enters /run/netns/NAME; *back is an fd on the namespace to return to. */
static int netns_enter(struct sniff *s, const char *name, int *back)
{
    char path[256];
    int fd;

    if (strchr(name, '/') || !*name)
        return wc_sniff_fail(s, "network namespace '%s': not a name in /run/netns", name);
    snprintf(path, sizeof path, "/run/netns/%s", name);
    *back = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (*back < 0)
        return wc_sniff_fail(s, "open /proc/self/ns/net: %s", strerror(errno));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        wc_sniff_fail(s, "network namespace %s: %s", path, strerror(errno));
        wc_close(*back);
        return -1;
    }
    if (setns(fd, CLONE_NEWNET) < 0) {
        wc_sniff_fail(s, "setns(%s): %s%s", path, strerror(errno),
             errno == EPERM ? " (entering a namespace needs CAP_SYS_ADMIN)" : "");
        wc_close(fd);
        wc_close(*back);
        return -1;
    }
    wc_close(fd);
    return 0;
}

static int netns_leave(struct sniff *s, int back)
{
    int r = setns(back, CLONE_NEWNET);

    wc_close(back);
    if (r < 0)
        return wc_sniff_fail(s, "setns back to the original namespace: %s", strerror(errno));
    return 0;
}

/* Reads the interface's own MAC so that frames can be told in from out. */
static void read_mac(struct source *src)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", src->ifname);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family == 1 /* ARPHRD_ETHER */) {
        static const uint8_t zero[6];

        memcpy(src->mac, ifr.ifr_hwaddr.sa_data, 6);
        /* lo's MAC is all zeros on both ends: no direction there. */
        src->has_mac = memcmp(src->mac, zero, 6) != 0;
    }
    wc_close(fd);
}

static int pcap_fail(struct sniff *s, struct source *src, int r, const char *what)
{
    const char *e = pcap_geterr(src->p);

    switch (r) {
    case PCAP_ERROR_PERM_DENIED:
        return wc_sniff_fail(s, "%s: %s: permission denied: capturing needs CAP_NET_RAW "
                       "(run as root, or setcap cap_net_raw,cap_net_admin=eip on the binary)%s%s",
                    src->spec, what, *e ? ": " : "", e);
    case PCAP_ERROR_NO_SUCH_DEVICE:
        return wc_sniff_fail(s, "%s: no such interface%s%s", src->spec, src->netns ? " in netns " : "",
                    src->netns ? src->netns : "");
    case PCAP_ERROR_IFACE_NOT_UP:
        return wc_sniff_fail(s, "%s: interface is down", src->spec);
    default:
        return wc_sniff_fail(s, "%s: %s: %s", src->spec, what, *e ? e : pcap_statustostr(r));
    }
}

static int activate(struct sniff *s, struct source *src)
{
    const struct wc_sniff_config *cfg = s->cfg;
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct bpf_program prog;
    int r;

    if (!(src->p = pcap_create(src->ifname, ebuf)))
        return wc_sniff_fail(s, "%s: pcap_create: %s", src->spec, ebuf);
    pcap_set_snaplen(src->p, cfg->snaplen);
    pcap_set_promisc(src->p, 1);
    /* Immediate mode would turn TPACKET_V3 off: let the kernel fill blocks. */
    pcap_set_immediate_mode(src->p, 0);
    pcap_set_timeout(src->p, WC_SNIFF_BLOCK_TIMEOUT_MS);
    if (cfg->buffer_size)
        pcap_set_buffer_size(src->p, cfg->buffer_size);
    pcap_set_tstamp_precision(src->p, PCAP_TSTAMP_PRECISION_NANO);
    r = pcap_activate(src->p);
    if (r < 0)
        return pcap_fail(s, src, r, "pcap_activate");
    if (r > 0)
        fprintf(stderr, "%s: warning: %s: %s\n", "sniffer", src->spec, pcap_geterr(src->p));
    if (cfg->filter) {
        if (pcap_compile(src->p, &prog, cfg->filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
            return wc_sniff_fail(s, "%s: filter '%s': %s", src->spec, cfg->filter, pcap_geterr(src->p));
        r = pcap_setfilter(src->p, &prog);
        pcap_freecode(&prog);
        if (r < 0)
            return wc_sniff_fail(s, "%s: pcap_setfilter: %s", src->spec, pcap_geterr(src->p));
    }
    if (pcap_setnonblock(src->p, 1, ebuf) < 0)
        return wc_sniff_fail(s, "%s: pcap_setnonblock: %s", src->spec, ebuf);
    if ((src->fd = pcap_get_selectable_fd(src->p)) < 0)
        return wc_sniff_fail(s, "%s: no selectable fd", src->spec);
    src->linktype = pcap_datalink(src->p);
    read_mac(src);
    src->start_ns = wall_ns();
    return 0;
}

static int open_live(struct sniff *s, struct source *src)
{
    const char *at = strchr(src->spec, '@');
    size_t n = at ? (size_t)(at - src->spec) : strlen(src->spec);
    int back = -1, r;

    if (n == 0 || n >= sizeof src->ifname)
        return wc_sniff_fail(s, "interface '%s': the name must have 1 to %d characters", src->spec,
                    IF_NAMESIZE - 1);
    memcpy(src->ifname, src->spec, n);
    src->ifname[n] = '\0';
    src->netns = at ? at + 1 : NULL;
    src->fd = -1;
    if (src->netns && netns_enter(s, src->netns, &back) < 0)
        return -1;
    /* The packet socket stays in the namespace it was created in. */
    r = activate(s, src);
    if (back >= 0 && netns_leave(s, back) < 0)
        return -1;
    return r;
}

/* Maps the input (or reads it, from a pipe or "-"): the reader parses memory. */
static int load_input(struct sniff *s)
{
    const char *path = s->cfg->read_file;
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t cap = 0;

    if (fd < 0)
        return wc_sniff_fail(s, "%s: cannot read: %s", path, strerror(errno));
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

        if (m != MAP_FAILED) {
            s->in_buf = m;
            s->in_len = (size_t)st.st_size;
            s->in_mapped = 1;
            if (fd != STDIN_FILENO)
                wc_close(fd);
            return 0;
        }
    }
    for (;;) {
        ssize_t n;

        if (cap - s->in_len < 65536) {
            uint8_t *b = realloc(s->in_buf, cap = cap ? cap * 2 : 1 << 20);

            if (!b) {
                if (fd != STDIN_FILENO)
                    wc_close(fd);
                return wc_sniff_fail(s, "%s: out of memory", path);
            }
            s->in_buf = b;
        }
        n = wc_read(fd, s->in_buf + s->in_len, cap - s->in_len);
        if (n < 0) {
            if (fd != STDIN_FILENO)
                wc_close(fd);
            return wc_sniff_fail(s, "%s: cannot read: %s", path, strerror((int)-n));
        }
        if (n == 0)
            break;
        s->in_len += (size_t)n;
    }
    if (fd != STDIN_FILENO)
        wc_close(fd);
    return 0;
}

/* One source per interface of the file, in the file's order: flows, labels and counts stay per interface. */
static int open_offline(struct sniff *s)
{
    const struct wc_sniff_config *cfg = s->cfg;
    char ebuf[512] = "";
    size_t n;
    int r;

    if (load_input(s) < 0)
        return -1;
    if ((r = wc_pcapread_open(&s->rd, s->in_buf, s->in_len, ebuf, sizeof ebuf)) < 0)
        return wc_sniff_fail(s, "%s: cannot read: %s", cfg->read_file, r == -ENOMEM ? strerror(ENOMEM) : ebuf);
    n = wc_pcapread_nifaces(s->rd);
    if (n == 0)
        return wc_sniff_fail(s, "%s: no interface description block: no packet can be read", cfg->read_file);
    if (!(s->src = calloc(n, sizeof *s->src)))
        return wc_sniff_fail(s, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct wc_pcapread_iface *ifc = wc_pcapread_iface(s->rd, i);
        struct source *src = &s->src[s->nsrc++];
        int snap = ifc->snaplen && ifc->snaplen <= INT32_MAX ? (int)ifc->snaplen : WC_SNIFF_DEFAULT_SNAPLEN;

        src->s = s;
        src->fd = -1;
        src->ifid = (uint32_t)i;
        src->linktype = ifc->linktype;
        src->description = ifc->description;
        if (ifc->name) {
            src->spec = ifc->name;
        } else if (n == 1) {
            src->spec = cfg->read_file;
        } else {
            if (asprintf(&src->owned_spec, "%s#%zu", cfg->read_file, i) < 0) {
                src->owned_spec = NULL;
                return wc_sniff_fail(s, "out of memory");
            }
            src->spec = src->owned_spec;
        }
        src->p = pcap_open_dead_with_tstamp_precision(ifc->linktype, snap, PCAP_TSTAMP_PRECISION_NANO);
        if (!src->p)
            return wc_sniff_fail(s, "out of memory");
        if (cfg->filter) {
            if (pcap_compile(src->p, &src->prog, cfg->filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
                return wc_sniff_fail(s, "filter '%s' on %s (link type %s): %s", cfg->filter, src->spec,
                            pcap_datalink_val_to_name(src->linktype) ? pcap_datalink_val_to_name(src->linktype)
                                                                     : "unknown",
                            pcap_geterr(src->p));
            src->has_prog = 1;
        }
    }
    return 0;
}

/* Every interface in one file must share the first one's link type. */
static int unify_linktype(struct sniff *s)
{
    for (size_t i = 1; i < s->nsrc; i++) {
        struct source *a = &s->src[0], *b = &s->src[i];

        if (b->linktype == a->linktype)
            continue;
        if (pcap_set_datalink(b->p, a->linktype) < 0)
            return wc_sniff_fail(s, "%s has link type %s and %s has %s: one file holds one link type",
                        b->spec, pcap_datalink_val_to_name(b->linktype), a->spec,
                        pcap_datalink_val_to_name(a->linktype));
        b->linktype = a->linktype;
    }
    return 0;
}

static const char *describe_for(const struct wc_sniff_config *cfg, const char *spec)
{
    for (size_t i = 0; i < cfg->ndescribe; i++)
        if (strcmp(cfg->describe[i].iface, spec) == 0)
            return cfg->describe[i].text;
    return NULL;
}

/* Offline: the input's own interface description, or where it came from. */
static const char *offline_description(struct sniff *s, struct source *src)
{
    if (src->description)
        return src->description;
    if (!src->owned_desc && asprintf(&src->owned_desc, "read from %s", s->cfg->read_file) < 0) {
        src->owned_desc = NULL;
        return NULL;
    }
    return src->owned_desc;
}

static int open_pcapng(struct sniff *s)
{
    const struct wc_sniff_config *cfg = s->cfg;
    struct wc_pcapng_section sec = {cfg->comments, cfg->ncomments, NULL, NULL};
    const char **comments = NULL;
    char os[300], appl[64];
    struct utsname u;
    int r;

    if (uname(&u) == 0) {
        snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
        sec.os = os;
    }
    snprintf(appl, sizeof appl, "wirecheck sniffer %s (%s)", WIRECHECK_VERSION, pcap_lib_version());
    sec.userappl = appl;
    if (s->rd) {
        /* Every section of the input becomes one: its comments first, then ours. */
        size_t n = wc_pcapread_nsection_comments(s->rd);

        if (!(comments = calloc(n + cfg->ncomments + 1, sizeof *comments)))
            return wc_sniff_fail(s, "out of memory");
        for (size_t i = 0; i < n; i++)
            comments[i] = wc_pcapread_section_comment(s->rd, i);
        for (size_t i = 0; i < cfg->ncomments; i++)
            comments[n + i] = cfg->comments[i];
        sec.comments = comments;
        sec.ncomments = n + cfg->ncomments;
    }
    r = wc_pcapng_open(&s->ng, cfg->write_file, &sec);
    free(comments);
    if (r < 0)
        return wc_sniff_fail(s, "%s%s: %s", cfg->write_file, WC_PCAPNG_PARTIAL_SUFFIX, strerror(-r));
    for (size_t i = 0; i < s->nsrc; i++) {
        struct source *src = &s->src[i];
        struct wc_pcapng_iface ifc = {
            .name = src->spec,
            .description = src->description,
            .filter = cfg->filter,
            .linktype = (uint16_t)src->linktype,
            .snaplen = (uint32_t)pcap_snapshot(src->p),
        };
        char *both = NULL;

        if (s->rd) {
            const struct wc_pcapread_iface *in = wc_pcapread_iface(s->rd, i);

            ifc.name = in->name;
            ifc.snaplen = in->snaplen;
            if (!(ifc.description = offline_description(s, src)))
                return wc_sniff_fail(s, "out of memory");
            /* The file's own filter stays, and ours narrows it. */
            if (in->filter && cfg->filter) {
                if (asprintf(&both, "(%s) and (%s)", in->filter, cfg->filter) < 0)
                    return wc_sniff_fail(s, "out of memory");
                ifc.filter = both;
            } else if (in->filter) {
                ifc.filter = in->filter;
            }
        }
        r = wc_pcapng_add_iface(s->ng, &ifc);
        free(both);
        if (r < 0)
            return wc_sniff_fail(s, "%s: %s", wc_pcapng_tmpname(s->ng), strerror(-r));
        src->ifid = (uint32_t)r;
    }
    return 0;
}

static int open_pcap(struct sniff *s)
{
    const char *path = s->cfg->write_file;
    struct stat st;

    /* Classic pcap has one link type and no interface: a file of several must stay pcapng. */
    for (size_t i = 1; i < s->nsrc; i++)
        if (s->src[i].linktype != s->src[0].linktype)
            return wc_sniff_fail(s, "--format pcap holds one link type, but %s has %s (%d) and %s has %s (%d): "
                           "write pcapng",
                        s->src[0].spec, pcap_datalink_val_to_name(s->src[0].linktype) ?: "unknown",
                        s->src[0].linktype, s->src[i].spec,
                        pcap_datalink_val_to_name(s->src[i].linktype) ?: "unknown", s->src[i].linktype);
    /* Renaming onto /dev/null or a FIFO would replace it: write those in place. */
    if (strcmp(path, "-") == 0 || (stat(path, &st) == 0 && !S_ISREG(st.st_mode))) {
        s->dump = pcap_dump_open(s->src[0].p, path);
    } else {
        if (asprintf(&s->dump_tmp, "%s%s", path, WC_PCAPNG_PARTIAL_SUFFIX) < 0) {
            s->dump_tmp = NULL;
            return wc_sniff_fail(s, "out of memory");
        }
        s->dump = pcap_dump_open(s->src[0].p, s->dump_tmp);
    }
    if (!s->dump)
        return wc_sniff_fail(s, "%s", pcap_geterr(s->src[0].p));
    return 0;
}

static unsigned direction(const struct source *src, const struct wc_packet *pkt)
{
    if (!src->has_mac || !pkt->has_eth)
        return WC_DIR_UNKNOWN;
    return memcmp(pkt->eth_src, src->mac, 6) == 0 ? WC_DIR_OUT : WC_DIR_IN;
}

static void print_line(struct sniff *s, const struct source *src, const struct rec *rec,
                       const struct wc_packet *pkt, int ok, unsigned dir, const char *label)
{
    FILE *o = s->out;
    char a[INET6_ADDRSTRLEN + 1], b[INET6_ADDRSTRLEN + 1], tbuf[32];
    time_t sec = (time_t)(rec->ts / 1000000000u);
    struct tm tm;

    localtime_r(&sec, &tm);
    strftime(tbuf, sizeof tbuf, "%H:%M:%S", &tm);
    fprintf(o, "%s.%09ld %s %s ", tbuf, (long)(rec->ts % 1000000000u), src->spec,
            dir == WC_DIR_IN ? "In " : dir == WC_DIR_OUT ? "Out" : "-  ");
    if (!ok) {
        fprintf(o, "malformed (%s), length %u\n", pkt->reason, rec->len);
        return;
    }
    if (!pkt->ip_version) {
        fprintf(o, "ethertype 0x%04x, length %u\n", pkt->ethertype, rec->len);
        return;
    }
    wc_addr_str(pkt->ip_version, pkt->src, a, sizeof a);
    wc_addr_str(pkt->ip_version, pkt->dst, b, sizeof b);
    if (!pkt->has_l4) {
        fprintf(o, "%s %s > %s: proto %u%s, length %u\n", pkt->ip_version == 6 ? "IP6" : "IP", a, b,
                pkt->proto, pkt->is_fragment ? " (fragment)" : "", rec->len);
        return;
    }
    fprintf(o, "%s %s.%u > %s.%u: ", pkt->ip_version == 6 ? "IP6" : "IP", a, pkt->sport, b, pkt->dport);
    if (pkt->proto == 6) {
        static const char fl[] = "FSRP.UEW";
        char flags[9];
        size_t n = 0;

        for (int i = 0; i < 8; i++)
            if (pkt->tcp_flags & (1 << i) && i != 4)
                flags[n++] = fl[i];
        if (pkt->tcp_flags & WC_TCP_ACK)
            flags[n++] = '.';
        flags[n] = '\0';
        fprintf(o, "Flags [%s], seq %u, ack %u, win %u, ", flags, pkt->seq, pkt->ack, pkt->window);
        if (pkt->mss)
            fprintf(o, "mss %u, ", pkt->mss);
        fprintf(o, "length %u", pkt->payload_len);
    } else {
        fprintf(o, "UDP, length %u", pkt->payload_len);
    }
    fprintf(o, "%s%s\n", *label ? "  # " : "", label);
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

static void write_ng(struct sniff *s, const struct source *src, const struct rec *rec, uint32_t flags,
                     const char *label)
{
    struct wc_pcapng_str comments[WC_PCAPREAD_MAX_COMMENTS + 1];
    struct wc_pcapng_epb e = {src->ifid, rec->ts, rec->data, rec->caplen, rec->len, flags, comments, 0};
    size_t n = strlen(label);
    int r;

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
    r = wc_pcapng_write_epb(s->ng, &e);
    if (r < 0 && !s->werr)
        s->werr = r;
}

/* Labels, prints and writes one packet. */
static void handle(struct sniff *s, struct source *src, const struct rec *rec)
{
    char label[WC_LABEL_SIZE + 64];
    struct wc_packet pkt;
    uint32_t flags;
    int ok;

    label[0] = '\0';
    ok = wc_decode(rec->data, rec->caplen, src->linktype, &pkt) == 0;
    /* Offline, the file knows the direction (and more flags); live, the MAC tells. */
    flags = rec->in ? rec->in->flags : direction(src, &pkt);
    if (!ok) {
        s->malformed++;
        snprintf(label, sizeof label, "malformed: %s", pkt.reason);
    } else {
        wc_flows_track(s->flows, src->ifid, rec->ts, &pkt, label, sizeof label);
    }
    if (s->out)
        print_line(s, src, rec, &pkt, ok, flags & 3u, label);
    if (s->ng) {
        write_ng(s, src, rec, flags, label);
    } else if (s->dump) {
        struct pcap_pkthdr h;

        h.ts.tv_sec = (time_t)(rec->ts / 1000000000u);
        h.ts.tv_usec = (suseconds_t)(rec->ts % 1000000000u);   /* the dumper is nanosecond-precise */
        h.caplen = rec->caplen;
        h.len = rec->len;
        pcap_dump((u_char *)s->dump, &h, rec->data);
    }
    src->written++;
    s->packets++;
    if (s->cfg->count && s->packets >= (uint64_t)s->cfg->count)
        s->stop = 1;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct source *src = (struct source *)(void *)user;
    struct sniff *s = src->s;
    /* Nanosecond precision: tv_usec holds nanoseconds. */
    struct rec rec = {(uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec, bytes, h->caplen,
                      h->len, NULL};

    if (s->stop)
        return;
    handle(s, src, &rec);
    if (s->stop)
        pcap_breakloop(src->p);
}

static int flush_output(struct sniff *s)
{
    int r = 0;

    if (s->ng)
        r = wc_pcapng_flush(s->ng);
    else if (s->dump && pcap_dump_flush(s->dump) < 0)
        r = -EIO;
    if (r < 0 && !s->werr)
        s->werr = r;
    return s->werr;
}

static int make_ready_file(struct sniff *s)
{
    const char *path = s->cfg->ready_file;
    int fd;

    fprintf(stderr, "sniffer: ready\n");
    if (!path)
        return 0;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return wc_sniff_fail(s, "ready file %s: %s", path, strerror(errno));
    wc_close(fd);
    return 0;
}

/* Dispatches what is ready on every source; a source that fails for good is
 * dropped from the poll set with a warning. */
static void dispatch(struct sniff *s, struct pollfd *pfd, struct source **polled, size_t n)
{
    for (size_t i = 0; i < n && !s->stop; i++) {
        struct source *src = polled[i];
        int r;

        if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
            continue;
        r = pcap_dispatch(src->p, -1, on_packet, (u_char *)src);
        if (r == PCAP_ERROR) {
            /* An interface that vanishes (its namespace deleted) ends its capture, not ours. */
            fprintf(stderr, "sniffer: warning: %s: %s; no longer capturing there\n", src->spec,
                    pcap_geterr(src->p));
            if (pcap_stats(src->p, &src->st) == 0)
                src->have_stats = 1;
            src->fd = -1;
        }
    }
}

static size_t poll_set(struct sniff *s, struct pollfd *pfd, struct source **polled, int sfd)
{
    size_t n = 0;

    for (size_t i = 0; i < s->nsrc; i++) {
        if (s->src[i].fd < 0)
            continue;
        polled[n] = &s->src[i];
        pfd[n].fd = s->src[i].fd;
        pfd[n].events = POLLIN;
        pfd[n++].revents = 0;
    }
    pfd[n].fd = sfd;
    pfd[n].events = POLLIN;
    pfd[n].revents = 0;
    return n;
}

static int run_live(struct sniff *s, int sfd)
{
    const uint64_t ms = 1000000ull;
    struct pollfd pfd[WC_SNIFF_MAX_IFACES + 1];
    struct source *polled[WC_SNIFF_MAX_IFACES];
    uint64_t now = wc_now_ns(), last_flush = now, drain_until = 0;
    uint64_t deadline = s->cfg->duration_ms ? now + (uint64_t)s->cfg->duration_ms * ms : 0;

    for (;;) {
        size_t n = poll_set(s, pfd, polled, sfd);
        uint64_t wake = last_flush + WC_SNIFF_FLUSH_MS * ms;
        int r, timeout;

        if (n == 0 && !drain_until) {
            fprintf(stderr, "sniffer: no interface left to capture on\n");
            return 0;
        }
        if (deadline && deadline < wake)
            wake = deadline;
        if (drain_until && drain_until < wake)
            wake = drain_until;
        timeout = wake > now ? (int)((wake - now + ms - 1) / ms) : 0;
        if ((r = wc_poll(pfd, n + 1, timeout)) < 0)
            return wc_sniff_fail(s, "poll: %s", strerror(-r));
        if (pfd[n].revents & POLLIN) {
            int sig = wc_signals_read(sfd);

            /* Packets before the signal may sit in a block the kernel has not
             * handed over yet: keep reading for one block timeout. */
            if (sig > 0 && !drain_until)
                drain_until = wc_now_ns() + (WC_SNIFF_BLOCK_TIMEOUT_MS + 50) * ms;
        }
        dispatch(s, pfd, polled, n);
        now = wc_now_ns();
        if (now - last_flush >= WC_SNIFF_FLUSH_MS * ms) {
            last_flush = now;
            flush_output(s);
        }
        if (s->werr)
            return wc_sniff_fail(s, "writing %s: %s", s->ng ? wc_pcapng_tmpname(s->ng) : s->dump_tmp,
                        strerror(-s->werr));
        if (s->stop)
            return 0;
        if (deadline && now >= deadline && !drain_until)
            drain_until = now + (WC_SNIFF_BLOCK_TIMEOUT_MS + 50) * ms;
        if (drain_until && now >= drain_until)
            return 0;
    }
}

static int run_offline(struct sniff *s, int sfd)
{
    struct wc_pcapread_packet *in = malloc(sizeof *in);
    int r = 0;

    if (!in)
        return wc_sniff_fail(s, "out of memory");
    for (uint64_t n = 1; !s->stop; n++) {
        struct source *src;
        struct rec rec;
        int k = wc_pcapread_next(s->rd, in);

        if (k == 0)
            break;
        if (k < 0) {
            /* wc_pcapread_open checked every block: this is a bug, not bad input. */
            r = wc_sniff_fail(s, "%s: bad input after %" PRIu64 " packets", s->cfg->read_file, s->packets);
            break;
        }
        src = &s->src[in->iface];
        rec = (struct rec){in->ts_ns, in->data, in->caplen, in->origlen, in};
        if (src->has_prog) {
            struct pcap_pkthdr h = {.caplen = in->caplen, .len = in->origlen};

            if (!pcap_offline_filter(&src->prog, &h, in->data))
                continue;
        }
        handle(s, src, &rec);
        if (s->werr) {
            r = wc_sniff_fail(s, "writing %s: %s", s->ng ? wc_pcapng_tmpname(s->ng) : s->dump_tmp,
                     strerror(-s->werr));
            break;
        }
        if (n % 4096 == 0 && wc_signals_read(sfd) > 0)
            break;
    }
    free(in);
    return r;
}

static int close_output(struct sniff *s, int live)
{
    const char *path = s->cfg->write_file;
    uint64_t end = wall_ns();
    int r = 0;

    if (s->ng) {
        for (size_t i = 0; live && i < s->nsrc; i++) {
            struct source *src = &s->src[i];

            if (src->have_stats)
                r = wc_pcapng_write_stats(s->ng, src->ifid, end, src->start_ns, end,
                                          src->st.ps_recv, src->st.ps_drop);
        }
        r = wc_pcapng_close(s->ng);
        s->ng = NULL;
        if (r < 0)
            return wc_sniff_fail(s, "writing %s: %s (the incomplete capture is left in %s%s)", path,
                        strerror(-r), path, WC_PCAPNG_PARTIAL_SUFFIX);
    } else if (s->dump) {
        FILE *f = pcap_dump_file(s->dump);

        if (pcap_dump_flush(s->dump) < 0 || ferror(f))
            r = -EIO;
        else if (s->dump_tmp && fdatasync(fileno(f)) < 0 && errno != EINVAL)
            r = -errno;
        pcap_dump_close(s->dump);
        s->dump = NULL;
        if (r == 0 && s->dump_tmp && rename(s->dump_tmp, path) < 0)
            r = -errno;
        if (r < 0)
            return wc_sniff_fail(s, "writing %s: %s (the incomplete capture is left in %s)", path,
                        strerror(-r), s->dump_tmp ? s->dump_tmp : "standard output");
    }
    return 0;
}

static int has_source(const struct sniff *s, const char *spec)
{
    for (size_t i = 0; i < s->nsrc; i++)
        if (strcmp(s->src[i].spec, spec) == 0)
            return 1;
    return 0;
}

static int setup(struct sniff *s, int live)
{
    const struct wc_sniff_config *cfg = s->cfg;

    if (!(s->flows = wc_flows_new(cfg->max_flows)))
        return wc_sniff_fail(s, "flow table: %s", strerror(errno));
    if (live) {
        if (cfg->nifaces == 0 || cfg->nifaces > WC_SNIFF_MAX_IFACES)
            return wc_sniff_fail(s, "1 to %d interfaces, not %zu", WC_SNIFF_MAX_IFACES, cfg->nifaces);
        if (!(s->src = calloc(cfg->nifaces, sizeof *s->src)))
            return wc_sniff_fail(s, "out of memory");
        for (size_t i = 0; i < cfg->nifaces; i++) {
            struct source *src = &s->src[s->nsrc++];

            src->s = s;
            src->spec = cfg->ifaces[i];
            src->ifid = (uint32_t)i;
            src->description = describe_for(cfg, src->spec);
            if (open_live(s, src) < 0)
                return -1;
        }
        if (unify_linktype(s) < 0)
            return -1;
    } else if (open_offline(s) < 0) {
        return -1;
    }
    for (size_t i = 0; live && i < cfg->ndescribe; i++)
        if (!has_source(s, cfg->describe[i].iface))
            return wc_sniff_fail(s, "--describe %s: not one of the -i interfaces", cfg->describe[i].iface);
    /* Like tcpdump, files are created as USER: it must be able to rename its .partial. */
    if (cfg->user) {
        char ebuf[256];

        if (wc_drop_privileges(cfg->user, ebuf, sizeof ebuf) < 0)
            return wc_sniff_fail(s, "-Z %s: %s", cfg->user, ebuf);
    }
    if (cfg->write_file) {
        if (cfg->format == WC_FORMAT_PCAP ? open_pcap(s) < 0 : open_pcapng(s) < 0)
            return -1;
    }
    if (cfg->verbose)
        s->out = stdout;
    return 0;
}

int wc_sniff_run(const struct wc_sniff_config *cfg, char *errbuf, size_t errlen)
{
    struct sniff *s = calloc(1, sizeof *s);
    int live = cfg->read_file == NULL, sfd, r = -1, keep_partial = 0;

    if (!s) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    s->cfg = cfg;
    s->errbuf = errbuf;
    s->errlen = errlen;
    if ((sfd = wc_signals_open()) < 0) {
        wc_sniff_fail(s, "signalfd: %s", strerror(-sfd));
        goto out;
    }
    if (setup(s, live) < 0)
        goto out;
    if (live && make_ready_file(s) < 0)
        goto out;
    keep_partial = 1;
    if ((live ? run_live(s, sfd) : run_offline(s, sfd)) < 0)
        goto out;
    for (size_t i = 0; live && i < s->nsrc; i++)
        if (s->src[i].fd >= 0 && pcap_stats(s->src[i].p, &s->src[i].st) == 0)
            s->src[i].have_stats = 1;
    if (close_output(s, live) < 0)
        goto out;
    if (s->out && fflush(s->out) != 0) {
        wc_sniff_fail(s, "writing standard output: %s", strerror(errno));
        goto out;
    }
    wc_sniff_report_stderr(s, live);
    if (cfg->json_file && wc_sniff_report_json(s, live) < 0)
        goto out;
    r = 0;
out:
    /* A file cut short by an error keeps its .partial name: evidence, never a valid capture. */
    if (s->ng)
        wc_pcapng_abort(s->ng, keep_partial);
    if (s->dump)
        pcap_dump_close(s->dump);
    if (s->dump_tmp && !keep_partial)
        unlink(s->dump_tmp);
    free(s->dump_tmp);
    for (size_t i = 0; i < s->nsrc; i++) {
        struct source *src = &s->src[i];

        if (src->has_prog)
            pcap_freecode(&src->prog);
        if (src->p)
            pcap_close(src->p);
        free(src->owned_spec);
        free(src->owned_desc);
    }
    free(s->src);
    wc_pcapread_close(s->rd);
    if (s->in_mapped)
        munmap(s->in_buf, s->in_len);
    else
        free(s->in_buf);
    wc_flows_free(s->flows);
    wc_close(sfd);
    free(s);
    return r;
}
