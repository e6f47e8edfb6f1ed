/* capture.c - the sniffer's handle: picks a source and an output backend, and runs them open, loop, finish, close. */
#include "wirecheck/capture.h"
#include "capture_int.h"

#include "wirecheck/flow.h"
#include "wirecheck/loop.h"
#include "wirecheck/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void wc_sniff_defaults(struct wc_sniff_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->snaplen = WC_SNIFF_DEFAULT_SNAPLEN;
    cfg->format = WC_FORMAT_PCAPNG;
    cfg->max_flows = WC_SNIFF_DEFAULT_MAX_FLOWS;
}

struct wc_sniff *wc_sniff_new(const struct wc_sniff_config *cfg)
{
    struct wc_sniff *s = calloc(1, sizeof *s);

    if (!s)
        return NULL;
    s->cfg = cfg;
    s->sfd = -1;
    s->in = cfg->read_file ? &wc_sniff_source_offline : &wc_sniff_source_live;
    s->order.live = !cfg->read_file;
    s->order.window_ns = WC_SNIFF_ORDER_WINDOW_OFFLINE_MS * 1000000ull;
    if (cfg->write_file || cfg->nsplit)
        s->out = cfg->format == WC_FORMAT_PCAP ? &wc_sniff_output_pcap : &wc_sniff_output_pcapng;
    return s;
}

const char *wc_sniff_geterr(const struct wc_sniff *s)
{
    return s->errbuf;
}

int wc_sniff_activate(struct wc_sniff *s)
{
    const struct wc_sniff_config *cfg = s->cfg;
    int r;

    if ((s->sfd = wc_signals_open()) < 0) {
        r = s->sfd;
        return wc_sniff_fail(s, r, "signalfd: %s", strerror(-r));
    }
    if (!(s->flows = wc_flows_new(cfg->max_flows)))
        return wc_sniff_fail(s, -errno, "flow table: %s", strerror(errno));
    if ((r = s->in->open(s)) < 0)
        return r;
    /* Like tcpdump, files are created as USER: it must be able to rename its .partial. */
    if (cfg->user) {
        char ebuf[256];

        if (wc_drop_privileges(cfg->user, ebuf, sizeof ebuf) < 0)
            return wc_sniff_fail(s, -EPERM, "-Z %s: %s", cfg->user, ebuf);
    }
    if (s->out && (r = s->out->open(s)) < 0)
        return r;
    return 0;
}

static int make_ready_file(struct wc_sniff *s)
{
    const char *path = s->cfg->ready_file;
    int fd;

    if (!path)
        return 0;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return wc_sniff_fail(s, -errno, "ready file %s: %s", path, strerror(errno));
    wc_close(fd);
    return 0;
}

int wc_sniff_loop(struct wc_sniff *s)
{
    int r;

    if (!s->cfg->read_file && (r = make_ready_file(s)) < 0)
        return r;
    s->looped = 1;
    if ((r = s->in->loop(s, s->sfd)) < 0)
        return r;
    /* The end of the input, a signal or the count: what still waits goes out in order. */
    wc_sniff_order_release(s, UINT64_MAX);
    if (s->werr)
        return wc_sniff_write_failed(s);
    if (s->order.late)
        wc_sniff_warn(s, "%" PRIu64 " packets came after later ones had been written (more than %" PRIu64 " ms "
                      "behind): each was given the time of the one written before it (up to %.3f ms later than "
                      "its own)", s->order.late,
                      s->order.live ? (uint64_t)WC_SNIFF_BLOCK_TIMEOUT_MS : s->order.window_ns / 1000000u,
                      (double)s->order.late_max_ns / 1e6);
    return 0;
}

int wc_sniff_finish(struct wc_sniff *s)
{
    FILE *print = s->cfg->print;
    int r;

    if (s->in->stats)
        s->in->stats(s);
    if (s->out) {
        r = s->out->close(s, wc_wall_ns());
        s->out = NULL;
        if (r < 0)
            return r;
    }
    if (print && fflush(print) != 0)
        return wc_sniff_fail(s, -errno, "writing standard output: %s", strerror(errno));
    return 0;
}

void wc_sniff_close(struct wc_sniff *s)
{
    if (!s)
        return;
    /* A file cut short by an error keeps its .partial name: evidence, never a valid capture. */
    if (s->out)
        s->out->abort(s, s->looped);
    for (size_t i = 0; i < s->nsrc; i++) {
        struct source *src = &s->src[i];

        if (src->has_prog)
            pcap_freecode(&src->prog);
        if (src->p)
            pcap_close(src->p);
        free(src->owned_name);
        free(src->owned_desc);
        free(src->owned_filter);
    }
    free(s->src);
    wc_sniff_order_free(s);
    s->in->cleanup(s);
    wc_flows_free(s->flows);
    wc_close(s->sfd);
    free(s);
}

size_t wc_sniff_nifaces(const struct wc_sniff *s)
{
    return s->nsrc;
}

const struct wc_sniff_iface *wc_sniff_iface(const struct wc_sniff *s, size_t i)
{
    return i < s->nsrc ? &s->src[i].pub : NULL;
}

const struct wc_flows *wc_sniff_flows(const struct wc_sniff *s)
{
    return s->flows;
}

uint64_t wc_sniff_packets(const struct wc_sniff *s)
{
    return s->packets;
}

uint64_t wc_sniff_malformed(const struct wc_sniff *s)
{
    return s->malformed;
}

int wc_sniff_no_source_left(const struct wc_sniff *s)
{
    return s->no_source_left;
}
