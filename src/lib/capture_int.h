/* capture_int.h - the sniffer engine's private state, shared by capture.c and capture_report.c. */
#ifndef WIRECHECK_CAPTURE_INT_H
#define WIRECHECK_CAPTURE_INT_H

#include "wirecheck/capture.h"
#include "wirecheck/flow.h"
#include "wirecheck/pcapng.h"
#include "wirecheck/pcapread.h"

#include <net/if.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

struct source {
    pcap_t *p;                    /* offline: a dead handle for the filter and classic pcap output */
    const char *spec;             /* as given: "IFACE" or "IFACE@NETNS"; offline: the file's if_name */
    char ifname[IF_NAMESIZE];
    const char *netns;            /* NULL: ours */
    const char *description;
    int linktype;
    int fd;                       /* selectable fd, -1 when gone */
    uint8_t mac[6];
    int has_mac;                  /* direction comes from comparing source MACs */
    uint32_t ifid;
    uint64_t start_ns, written;
    struct pcap_stat st;
    int have_stats;
    struct bpf_program prog;      /* offline -f, compiled for this interface's link type */
    int has_prog;
    char *owned_spec, *owned_desc;  /* offline: a name and a description made up here */
    struct sniff *s;              /* back pointer for pcap's callback */
};

/* One packet, whichever way it came in. */
struct rec {
    uint64_t ts;                  /* ns */
    const uint8_t *data;
    uint32_t caplen, len;
    const struct wc_pcapread_packet *in;   /* offline: its flags and comments */
};

struct sniff {
    const struct wc_sniff_config *cfg;
    struct source *src;           /* live: one per -i; offline: one per interface in the file */
    size_t nsrc;
    struct wc_pcapread *rd;       /* offline input */
    uint8_t *in_buf;              /* what rd reads: mapped, or read into memory */
    size_t in_len;
    int in_mapped;
    struct wc_pcapng *ng;
    pcap_dumper_t *dump;
    char *dump_tmp;               /* classic pcap is written here, then renamed */
    struct wc_flows *flows;
    FILE *out;                    /* -v lines */
    uint64_t packets, malformed;
    int stop;                     /* -c reached */
    int werr;                     /* first output error, -errno */
    char *errbuf;
    size_t errlen;
};

/* Records the first error in the caller's errbuf (printf-style) and returns -1. */
int wc_sniff_fail(struct sniff *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
