/* capture_live.c - the sniffer's live source: one pcap handle per interface, opened inside its network namespace,
 * and one poll loop over them all. */
#include "capture_int.h"

#include "wirecheck/loop.h"
#include "wirecheck/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Enters /run/netns/NAME; *back is an fd on the namespace to return to. */
static int netns_enter(struct wc_sniff *s, const char *name, int *back)
{
    char path[256];
    int fd;

    if (strchr(name, '/') || !*name)
        return wc_sniff_fail(s, -EINVAL, "network namespace '%s': not a name in /run/netns", name);
    snprintf(path, sizeof path, "/run/netns/%s", name);
    *back = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (*back < 0)
        return wc_sniff_fail(s, -errno, "open /proc/self/ns/net: %s", strerror(errno));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int r = wc_sniff_fail(s, -errno, "network namespace %s: %s", path, strerror(errno));

        wc_close(*back);
        return r;
    }
    if (setns(fd, CLONE_NEWNET) < 0) {
        int r = wc_sniff_fail(s, -errno, "setns(%s): %s%s", path, strerror(errno),
                              errno == EPERM ? " (entering a namespace needs CAP_SYS_ADMIN)" : "");

        wc_close(fd);
        wc_close(*back);
        return r;
    }
    wc_close(fd);
    return 0;
}

static int netns_leave(struct wc_sniff *s, int back)
{
    int r = setns(back, CLONE_NEWNET);

    wc_close(back);
    if (r < 0)
        return wc_sniff_fail(s, -errno, "setns back to the original namespace: %s", strerror(errno));
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

static int pcap_fail(struct wc_sniff *s, struct source *src, int r, const char *what)
{
    const char *e = pcap_geterr(src->p);

    switch (r) {
    case PCAP_ERROR_PERM_DENIED:
        return wc_sniff_fail(s, -EPERM, "%s: %s: permission denied: capturing needs CAP_NET_RAW "
                             "(run as root, or setcap cap_net_raw,cap_net_admin=eip on the binary)%s%s",
                             src->pub.name, what, *e ? ": " : "", e);
    case PCAP_ERROR_NO_SUCH_DEVICE:
        return wc_sniff_fail(s, -ENODEV, "%s: no such interface%s%s", src->pub.name, src->netns ? " in netns " : "",
                             src->netns ? src->netns : "");
    case PCAP_ERROR_IFACE_NOT_UP:
        return wc_sniff_fail(s, -ENETDOWN, "%s: interface is down", src->pub.name);
    default:
        return wc_sniff_fail(s, -EIO, "%s: %s: %s", src->pub.name, what, *e ? e : pcap_statustostr(r));
    }
}

static int activate(struct wc_sniff *s, struct source *src)
{
    const struct wc_sniff_config *cfg = s->cfg;
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    struct bpf_program prog;
    int r;

    if (!(src->p = pcap_create(src->ifname, ebuf)))
        return wc_sniff_fail(s, -EIO, "%s: pcap_create: %s", src->pub.name, ebuf);
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
        wc_sniff_warn(s, "%s: %s", src->pub.name, pcap_geterr(src->p));
    if (cfg->filter) {
        if (pcap_compile(src->p, &prog, cfg->filter, 1, PCAP_NETMASK_UNKNOWN) < 0)
            return wc_sniff_fail(s, -EINVAL, "%s: filter '%s': %s", src->pub.name, cfg->filter, pcap_geterr(src->p));
        r = pcap_setfilter(src->p, &prog);
        pcap_freecode(&prog);
        if (r < 0)
            return wc_sniff_fail(s, -EINVAL, "%s: pcap_setfilter: %s", src->pub.name, pcap_geterr(src->p));
    }
    if (pcap_setnonblock(src->p, 1, ebuf) < 0)
        return wc_sniff_fail(s, -EIO, "%s: pcap_setnonblock: %s", src->pub.name, ebuf);
    if ((src->fd = pcap_get_selectable_fd(src->p)) < 0)
        return wc_sniff_fail(s, -EIO, "%s: no selectable fd", src->pub.name);
    src->linktype = pcap_datalink(src->p);
    read_mac(src);
    src->start_ns = wc_wall_ns();
    return 0;
}

static int open_live(struct wc_sniff *s, struct source *src)
{
    const char *at = strchr(src->pub.name, '@');
    size_t n = at ? (size_t)(at - src->pub.name) : strlen(src->pub.name);
    int back = -1, r;

    if (n == 0 || n >= sizeof src->ifname)
        return wc_sniff_fail(s, -EINVAL, "interface '%s': the name must have 1 to %d characters", src->pub.name,
                             IF_NAMESIZE - 1);
    memcpy(src->ifname, src->pub.name, n);
    src->ifname[n] = '\0';
    src->netns = at ? at + 1 : NULL;
    src->fd = -1;
    if (src->netns && (r = netns_enter(s, src->netns, &back)) < 0)
        return r;
    /* The packet socket stays in the namespace it was created in. */
    r = activate(s, src);
    if (back >= 0) {
        int l = netns_leave(s, back);

        if (l < 0)
            return l;
    }
    return r;
}

/* Every interface in one file must share the first one's link type. */
static int unify_linktype(struct wc_sniff *s)
{
    for (size_t i = 1; i < s->nsrc; i++) {
        struct source *a = &s->src[0], *b = &s->src[i];

        if (b->linktype == a->linktype)
            continue;
        if (pcap_set_datalink(b->p, a->linktype) < 0)
            return wc_sniff_fail(s, -EINVAL, "%s has link type %s and %s has %s: one file holds one link type",
                                 b->pub.name, pcap_datalink_val_to_name(b->linktype), a->pub.name,
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

static void take_stats(struct source *src)
{
    struct pcap_stat st;

    if (pcap_stats(src->p, &st) == 0) {
        src->pub.has_stats = 1;
        src->pub.recv = st.ps_recv;
        src->pub.drop = st.ps_drop;
        src->pub.ifdrop = st.ps_ifdrop;
    }
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct source *src = (struct source *)(void *)user;
    struct wc_sniff *s = src->s;
    /* Nanosecond precision: tv_usec holds nanoseconds. */
    struct rec rec = {(uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec, bytes, h->caplen,
                      h->len, NULL};

    if (s->stop)
        return;
    wc_sniff_packet(s, src, &rec);
    if (s->stop)
        pcap_breakloop(src->p);
}

/* Dispatches what is ready on every source; a source that fails for good is
 * dropped from the poll set with a warning. */
static void dispatch(struct wc_sniff *s, struct pollfd *pfd, struct source **polled, size_t n)
{
    for (size_t i = 0; i < n && !s->stop; i++) {
        struct source *src = polled[i];
        int r;

        if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
            continue;
        r = pcap_dispatch(src->p, -1, on_packet, (u_char *)src);
        if (r == PCAP_ERROR) {
            /* An interface that vanishes (its namespace deleted) ends its capture, not ours. */
            wc_sniff_warn(s, "%s: %s; no longer capturing there", src->pub.name, pcap_geterr(src->p));
            take_stats(src);
            src->fd = -1;
        }
    }
}

/* Does the kernel count packets on an open source that we have not read yet (in a block it has not handed
 * over)? Its count includes the ones it dropped. */
static int pending(struct wc_sniff *s)
{
    for (size_t i = 0; i < s->nsrc; i++) {
        struct source *src = &s->src[i];

        if (src->fd < 0)
            continue;
        take_stats(src);
        if (src->pub.has_stats && (uint64_t)src->pub.recv > src->pub.packets + src->pub.drop)
            return 1;
    }
    return 0;
}

static size_t poll_set(struct wc_sniff *s, struct pollfd *pfd, struct source **polled, int sfd)
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

static int run_live(struct wc_sniff *s, int sfd)
{
    const uint64_t ms = 1000000ull;
    struct pollfd pfd[WC_SNIFF_MAX_IFACES + 1];
    struct source *polled[WC_SNIFF_MAX_IFACES];
    uint64_t now = wc_now_ns(), last_flush = now, drain_until = 0, drain_limit = 0;
    uint64_t deadline = s->cfg->duration_ms ? now + (uint64_t)s->cfg->duration_ms * ms : 0;

    for (;;) {
        size_t n = poll_set(s, pfd, polled, sfd);
        uint64_t wake = last_flush + WC_SNIFF_FLUSH_MS * ms, polled_at;
        int r, timeout;

        if (n == 0 && !drain_until) {
            s->no_source_left = 1;
            return 0;
        }
        if (deadline && deadline < wake)
            wake = deadline;
        if (drain_until && drain_until < wake)
            wake = drain_until;
        timeout = wake > now ? (int)((wake - now + ms - 1) / ms) : 0;
        polled_at = wc_wall_ns();
        if ((r = wc_poll(pfd, n + 1, timeout)) < 0)
            return wc_sniff_fail(s, r, "poll: %s", strerror(-r));
        if (pfd[n].revents & POLLIN) {
            int sig = wc_signals_read(sfd);

            /* Packets before the signal may sit in a block the kernel has not
             * handed over yet: keep reading for one block timeout. */
            if (sig > 0 && !drain_until) {
                drain_until = wc_now_ns() + (WC_SNIFF_BLOCK_TIMEOUT_MS + 50) * ms;
                drain_limit = drain_until + WC_SNIFF_DRAIN_MAX_MS * ms;
            }
        }
        dispatch(s, pfd, polled, n);
        wc_sniff_order_drained(s, polled_at);
        now = wc_now_ns();
        if (now - last_flush >= WC_SNIFF_FLUSH_MS * ms) {
            last_flush = now;
            wc_sniff_flush(s);
        }
        if (s->werr)
            return wc_sniff_write_failed(s);
        if (s->stop)
            return 0;
        if (deadline && now >= deadline && !drain_until) {
            drain_until = now + (WC_SNIFF_BLOCK_TIMEOUT_MS + 50) * ms;
            drain_limit = drain_until + WC_SNIFF_DRAIN_MAX_MS * ms;
        }
        if (drain_until && now >= drain_until) {
            /* The kernel's block timer runs late on a loaded machine (and in User-Mode Linux): while it still
             * holds packets it counted, read on for them, a block timeout at a time, up to a bound. */
            if (now >= drain_limit || !pending(s))
                return 0;
            drain_until = now + WC_SNIFF_BLOCK_TIMEOUT_MS * ms;
        }
    }
}

static int has_source(const struct wc_sniff *s, const char *spec)
{
    for (size_t i = 0; i < s->nsrc; i++)
        if (strcmp(s->src[i].pub.name, spec) == 0)
            return 1;
    return 0;
}

static int live_open(struct wc_sniff *s)
{
    const struct wc_sniff_config *cfg = s->cfg;
    int r;

    if (cfg->nifaces == 0 || cfg->nifaces > WC_SNIFF_MAX_IFACES)
        return wc_sniff_fail(s, -EINVAL, "1 to %d interfaces, not %zu", WC_SNIFF_MAX_IFACES, cfg->nifaces);
    if (!(s->src = calloc(cfg->nifaces, sizeof *s->src)))
        return wc_sniff_fail(s, -ENOMEM, "out of memory");
    for (size_t i = 0; i < cfg->nifaces; i++) {
        struct source *src = &s->src[s->nsrc++];

        src->s = s;
        src->pub.name = cfg->ifaces[i];
        src->ifid = (uint32_t)i;
        src->pub.description = describe_for(cfg, src->pub.name);
        if ((r = open_live(s, src)) < 0)
            return r;
    }
    if ((r = unify_linktype(s)) < 0)
        return r;
    for (size_t i = 0; i < cfg->ndescribe; i++)
        if (!has_source(s, cfg->describe[i].iface))
            return wc_sniff_fail(s, -EINVAL, "--describe %s: not one of the -i interfaces", cfg->describe[i].iface);
    for (size_t i = 0; i < s->nsrc; i++) {
        struct source *src = &s->src[i];

        src->out_name = src->pub.name;
        src->out_desc = src->pub.description;
        src->out_filter = cfg->filter;
        src->out_snaplen = (uint32_t)pcap_snapshot(src->p);
    }
    return 0;
}

/* The kernel's counters of every interface still open (one that went away has them already). */
static void live_stats(struct wc_sniff *s)
{
    for (size_t i = 0; i < s->nsrc; i++)
        if (s->src[i].fd >= 0)
            take_stats(&s->src[i]);
}

static void live_cleanup(struct wc_sniff *s)
{
    (void)s;
}

const struct wc_sniff_source_ops wc_sniff_source_live = {
    .open = live_open,
    .loop = run_live,
    .stats = live_stats,
    .cleanup = live_cleanup,
};
