/* capture_report.c - the sniffer's summary from a read-only view: one line per interface and flow, or JSON. */
#include "wirecheck/capture_report.h"

#include "wirecheck/capture.h"
#include "wirecheck/decode.h"
#include "wirecheck/flow.h"

#include <arpa/inet.h>

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

static const char *src_name(const struct wc_sniff *s, uint32_t ifid)
{
    const struct wc_sniff_iface *i = wc_sniff_iface(s, ifid);

    return i ? i->name : "?";
}

void wc_sniff_report_text(const struct wc_sniff *s, FILE *out)
{
    const struct wc_flows *flows = wc_sniff_flows(s);
    size_t nf = wc_flows_count(flows);

    for (size_t i = 0; i < wc_sniff_nifaces(s); i++) {
        const struct wc_sniff_iface *src = wc_sniff_iface(s, i);

        if (src->has_stats)
            fprintf(out, "sniffer: %s: %" PRIu64 " packets, %u received, %u dropped", src->name,
                    src->packets, src->recv, src->drop);
        else
            fprintf(out, "sniffer: %s: %" PRIu64 " packets", src->name, src->packets);
        if (src->restamped)
            fprintf(out, ", %" PRIu64 " stamped before the packet ahead of them, given its time (up to %.3f ms)",
                    src->restamped, (double)src->restamped_max_ns / 1e6);
        fputc('\n', out);
    }
    fprintf(out, "sniffer: %zu flows, %" PRIu64 " malformed packets, %" PRIu64 " untracked\n", nf,
            wc_sniff_malformed(s), wc_flows_untracked(flows));
    for (size_t i = 0; i < nf; i++) {
        const struct wc_flow_summary *f = wc_flows_get(flows, i);
        const struct wc_flow_side *a = &f->side[0], *b = &f->side[1];
        char x[INET6_ADDRSTRLEN + 1], y[INET6_ADDRSTRLEN + 1];

        wc_addr_str(f->ip_version, f->addr[0], x, sizeof x);
        wc_addr_str(f->ip_version, f->addr[1], y, sizeof y);
        fprintf(out, "sniffer:   %s %s:%u > %s:%u at %s: ", f->proto == 6 ? "tcp" : "udp", x,
                f->port[0], y, f->port[1], src_name(s, f->iface));
        if (f->proto == 6) {
            if (f->handshake)
                fprintf(out, "handshake rtt %.3f ms, ", f->rtt_ns / 1e6);
            else
                fprintf(out, "no handshake seen, ");
            fprintf(out,
                    "segments %" PRIu64 "/%" PRIu64 ", bytes %" PRIu64 "/%" PRIu64
                    ", retransmissions %" PRIu64 ", out-of-order %" PRIu64 ", %s\n",
                    a->packets, b->packets, a->bytes, b->bytes, a->retrans + b->retrans,
                    a->ooo + b->ooo, wc_flow_close_name(f->close));
        } else {
            fprintf(out,
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

static void json_flow(FILE *f, const struct wc_sniff *s, const struct wc_flow_summary *fl)
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

int wc_sniff_report_json(const struct wc_sniff *s, FILE *f)
{
    const struct wc_flows *flows = wc_sniff_flows(s);
    size_t nf = wc_flows_count(flows), ni = wc_sniff_nifaces(s);

    fprintf(f, "{\n  \"packets\": %" PRIu64 ", \"malformed\": %" PRIu64 ", \"untracked\": %" PRIu64
               ",\n  \"interfaces\": [\n", wc_sniff_packets(s), wc_sniff_malformed(s), wc_flows_untracked(flows));
    for (size_t i = 0; i < ni; i++) {
        const struct wc_sniff_iface *src = wc_sniff_iface(s, i);

        fprintf(f, "    {\"name\": ");
        json_str(f, src->name);
        fprintf(f, ", \"description\": ");
        if (src->description)
            json_str(f, src->description);
        else
            fprintf(f, "null");
        fprintf(f, ", \"packets\": %" PRIu64, src->packets);
        if (src->has_stats)
            fprintf(f, ", \"recv\": %u, \"drop\": %u, \"ifdrop\": %u", src->recv, src->drop, src->ifdrop);
        fprintf(f, "}%s\n", i + 1 < ni ? "," : "");
    }
    fprintf(f, "  ],\n  \"flows\": [\n");
    for (size_t i = 0; i < nf; i++) {
        json_flow(f, s, wc_flows_get(flows, i));
        fprintf(f, "%s\n", i + 1 < nf ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}
