/* capture_report.c - the sniffer's summary: one line per interface and flow on stderr, the same as JSON. */
#include "capture_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void json_str(FILE *f, const char *str)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)str; p && *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static const char *src_name(const struct sniff *s, uint32_t ifid)
{
    return ifid < s->nsrc ? s->src[ifid].spec : "?";
}

void wc_sniff_report_stderr(const struct sniff *s, int live)
{
    size_t nf = wc_flows_count(s->flows);

    for (size_t i = 0; i < s->nsrc; i++) {
        const struct source *src = &s->src[i];

        if (live && src->have_stats)
            fprintf(stderr, "sniffer: %s: %" PRIu64 " packets, %u received, %u dropped\n", src->spec,
                    src->written, src->st.ps_recv, src->st.ps_drop);
        else
            fprintf(stderr, "sniffer: %s: %" PRIu64 " packets\n", src->spec, src->written);
    }
    fprintf(stderr, "sniffer: %zu flows, %" PRIu64 " malformed packets, %" PRIu64 " untracked\n", nf,
            s->malformed, wc_flows_untracked(s->flows));
    for (size_t i = 0; i < nf; i++) {
        const struct wc_flow_summary *f = wc_flows_get(s->flows, i);
        const struct wc_flow_side *a = &f->side[0], *b = &f->side[1];
        char x[INET6_ADDRSTRLEN + 1], y[INET6_ADDRSTRLEN + 1];

        wc_addr_str(f->ip_version, f->addr[0], x, sizeof x);
        wc_addr_str(f->ip_version, f->addr[1], y, sizeof y);
        fprintf(stderr, "sniffer:   %s %s:%u > %s:%u at %s: ", f->proto == 6 ? "tcp" : "udp", x,
                f->port[0], y, f->port[1], src_name(s, f->iface));
        if (f->proto == 6) {
            if (f->handshake)
                fprintf(stderr, "handshake rtt %.3f ms, ", f->rtt_ns / 1e6);
            else
                fprintf(stderr, "no handshake seen, ");
            fprintf(stderr,
                    "segments %" PRIu64 "/%" PRIu64 ", bytes %" PRIu64 "/%" PRIu64
                    ", retransmissions %" PRIu64 ", out-of-order %" PRIu64 ", %s\n",
                    a->packets, b->packets, a->bytes, b->bytes, a->retrans + b->retrans,
                    a->ooo + b->ooo, wc_flow_close_name(f->close));
        } else {
            fprintf(stderr,
                    "datagrams %" PRIu64 "/%" PRIu64 ", bytes %" PRIu64 "/%" PRIu64 ", lost %" PRIu64
                    "/%" PRIu64 ", duplicates %" PRIu64 "/%" PRIu64 ", reordered %" PRIu64 "/%" PRIu64
                    "\n",
                    a->packets, b->packets, a->bytes, b->bytes, a->lost, b->lost, a->dup, b->dup,
                    a->reordered, b->reordered);
        }
    }
}

static void json_pair(FILE *f, const char *name, uint64_t a, uint64_t b)
{
    fprintf(f, ", \"%s\": [%" PRIu64 ", %" PRIu64 "]", name, a, b);
}

static void json_flow(FILE *f, const struct sniff *s, const struct wc_flow_summary *fl)
{
    const struct wc_flow_side *a = &fl->side[0], *b = &fl->side[1];
    char x[INET6_ADDRSTRLEN + 1], y[INET6_ADDRSTRLEN + 1];

    wc_addr_str(fl->ip_version, fl->addr[0], x, sizeof x);
    wc_addr_str(fl->ip_version, fl->addr[1], y, sizeof y);
    fprintf(f, "    {\"interface\": ");
    json_str(f, src_name(s, fl->iface));
    fprintf(f, ", \"proto\": \"%s\", \"src\": \"%s\", \"sport\": %u, \"dst\": \"%s\", \"dport\": %u",
            fl->proto == 6 ? "tcp" : "udp", x, fl->port[0], y, fl->port[1]);
    fprintf(f, ", \"first\": %.9f, \"last\": %.9f", fl->first_ns / 1e9, fl->last_ns / 1e9);
    if (fl->proto == 6) {
        fprintf(f, ", \"handshake\": %s, \"rtt_ms\": ", fl->handshake ? "true" : "false");
        if (fl->handshake)
            fprintf(f, "%.6f", fl->rtt_ns / 1e6);
        else
            fprintf(f, "null");
        fprintf(f, ", \"close\": \"%s\"", wc_flow_close_name(fl->close));
        json_pair(f, "segments", a->packets, b->packets);
        json_pair(f, "bytes", a->bytes, b->bytes);
        json_pair(f, "retransmissions", a->retrans, b->retrans);
        json_pair(f, "out_of_order", a->ooo, b->ooo);
    } else {
        json_pair(f, "datagrams", a->packets, b->packets);
        json_pair(f, "bytes", a->bytes, b->bytes);
        json_pair(f, "tagged", a->tagged, b->tagged);
        json_pair(f, "lost", a->lost, b->lost);
        json_pair(f, "duplicates", a->dup, b->dup);
        json_pair(f, "reordered", a->reordered, b->reordered);
    }
    fprintf(f, "}");
}

int wc_sniff_report_json(struct sniff *s, int live)
{
    const char *path = s->cfg->json_file;
    int to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "we");
    size_t nf = wc_flows_count(s->flows);
    int bad;

    if (!f)
        return wc_sniff_fail(s, "%s: %s", path, strerror(errno));
    fprintf(f, "{\n  \"packets\": %" PRIu64 ", \"malformed\": %" PRIu64 ", \"untracked\": %" PRIu64
               ",\n  \"interfaces\": [\n", s->packets, s->malformed, wc_flows_untracked(s->flows));
    for (size_t i = 0; i < s->nsrc; i++) {
        const struct source *src = &s->src[i];

        fprintf(f, "    {\"name\": ");
        json_str(f, src->spec);
        fprintf(f, ", \"description\": ");
        if (src->description)
            json_str(f, src->description);
        else
            fprintf(f, "null");
        fprintf(f, ", \"packets\": %" PRIu64, src->written);
        if (live && src->have_stats)
            fprintf(f, ", \"recv\": %u, \"drop\": %u, \"ifdrop\": %u", src->st.ps_recv,
                    src->st.ps_drop, src->st.ps_ifdrop);
        fprintf(f, "}%s\n", i + 1 < s->nsrc ? "," : "");
    }
    fprintf(f, "  ],\n  \"flows\": [\n");
    for (size_t i = 0; i < nf; i++) {
        json_flow(f, s, wc_flows_get(s->flows, i));
        fprintf(f, "%s\n", i + 1 < nf ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    bad = fflush(f) != 0 || ferror(f);
    if (!to_stdout && fclose(f) != 0)
        bad = 1;
    if (bad)
        return wc_sniff_fail(s, "writing %s: %s", path, strerror(errno));
    return 0;
}
