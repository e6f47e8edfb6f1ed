/* capture.h - the sniffer's engine: live handles (across network namespaces) or a file in, labelled pcapng out. */
#ifndef WIRECHECK_CAPTURE_H
#define WIRECHECK_CAPTURE_H

#include <stddef.h>

#define WC_SNIFF_DEFAULT_SNAPLEN 262144
#define WC_SNIFF_MAX_IFACES 32
#define WC_SNIFF_DEFAULT_MAX_FLOWS 65536
/* The kernel's TPACKET_V3 blocks are handed over when full or after this long. */
#define WC_SNIFF_BLOCK_TIMEOUT_MS 100
/* The output buffer is written out at least this often. */
#define WC_SNIFF_FLUSH_MS 1000

enum wc_sniff_format {
    WC_FORMAT_PCAPNG = 0,
    WC_FORMAT_PCAP = 1,
};

struct wc_sniff_describe {
    const char *iface;       /* as given to -i, e.g. "veth0@ns-client" */
    const char *text;
};

struct wc_sniff_config {
    const char *const *ifaces;   /* "IFACE" or "IFACE@NETNS" (/run/netns/NETNS) */
    size_t nifaces;
    const char *read_file;       /* offline input instead of ifaces, or NULL */
    const char *write_file;      /* output, or NULL for none; "-" is stdout */
    enum wc_sniff_format format;
    const char *filter;          /* BPF for every handle, or NULL */
    int snaplen;
    int buffer_size;             /* bytes, 0: libpcap's default */
    long long count;             /* stop after this many packets, 0: never */
    long long duration_ms;       /* stop after this long, 0: never */
    const struct wc_sniff_describe *describe;
    size_t ndescribe;
    const char *const *comments; /* section comments */
    size_t ncomments;
    const char *ready_file;
    int verbose;                 /* one line per packet on stdout */
    const char *json_file;       /* summary as JSON, or NULL; "-" is stdout */
    const char *user;            /* drop privileges to USER after activation */
    size_t max_flows;
};

/* Sets the defaults: snaplen 262144, pcapng, no limits. */
void wc_sniff_defaults(struct wc_sniff_config *cfg);

/* Captures (or reads cfg->read_file) until SIGINT, SIGTERM, SIGHUP, the count,
 * the duration or the end of the input; writes the file, the summary on stderr
 * and the JSON. Returns 0, or -1 with the reason in errbuf (naming the
 * interface, the file or the missing CAP_NET_RAW). The output file gets its
 * name only when it is complete (see wc_pcapng_open). */
int wc_sniff_run(const struct wc_sniff_config *cfg, char *errbuf, size_t errlen);

#endif
