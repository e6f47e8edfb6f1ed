/* capture.h - the sniffer's engine: live handles (across network namespaces) or a file in, labelled pcapng out. */
#ifndef WIRECHECK_CAPTURE_H
#define WIRECHECK_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WC_SNIFF_DEFAULT_SNAPLEN 262144
#define WC_SNIFF_MAX_IFACES 32
#define WC_SNIFF_DEFAULT_MAX_FLOWS 65536
/* The kernel's TPACKET_V3 blocks are handed over when full or after this long. */
#define WC_SNIFF_BLOCK_TIMEOUT_MS 100
/* After a stop, how much longer the sniffer reads for packets the kernel counted but has not handed over. */
#define WC_SNIFF_DRAIN_MAX_MS 1000
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

/* One more file with one capture point's packets only (pcapng): Wireshark's TCP analysis is right on such a
 * file, and mixes capture points up in a file that holds several. */
struct wc_sniff_split {
    const char *iface;       /* as given to -i (offline: the file's if_name), or its index "0", "1", ... */
    const char *path;        /* written as PATH.partial, renamed on a clean finish, like the -w file */
};

struct wc_sniff_config {
    const char *const *ifaces;   /* "IFACE" or "IFACE@NETNS" (/run/netns/NETNS) */
    size_t nifaces;
    const char *read_file;       /* offline input instead of ifaces, or NULL */
    const char *write_file;      /* output, or NULL for none; "-" is stdout */
    const struct wc_sniff_split *split;   /* one-capture-point files beside it (pcapng only) */
    size_t nsplit;
    int relabel;                 /* offline: drop the input's packet comments, write only our labels */
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
    const char *ready_file;      /* created once every interface is capturing (live) */
    FILE *print;                 /* one line per packet here (-v: stdout), or NULL */
    const char *user;            /* drop privileges to USER after activation */
    size_t max_flows;
    /* Called with a warning that does not stop the capture ("IFACE: reason"), or NULL to ignore them. */
    void (*warn)(void *arg, const char *msg);
    void *warn_arg;
};

/* One interface as the summary sees it. */
struct wc_sniff_iface {
    const char *name;            /* as given to -i; offline: the file's if_name (or the file's name) */
    const char *description;     /* --describe, or the file's if_description; NULL: none */
    uint64_t packets;            /* written */
    uint64_t restamped;          /* stamped older than the one before them, given that one's time (see
                                    wc_sniff_packet): the interface's order kept */
    uint64_t restamped_max_ns;   /* by how much at most */
    int has_stats;               /* live, with the kernel's counters below */
    unsigned recv, drop, ifdrop;
};

/* The engine's handle (opaque). */
struct wc_sniff;

/* Sets the defaults: snaplen 262144, pcapng, no limits. */
void wc_sniff_defaults(struct wc_sniff_config *cfg);

/* A handle for cfg, which must outlive it. NULL: out of memory. */
struct wc_sniff *wc_sniff_new(const struct wc_sniff_config *cfg);
/* Opens every interface (inside its netns) or the input file, drops privileges (cfg->user), then creates
 * the output as FILE.partial. Returns 0 or -errno with the message in wc_sniff_geterr (naming the interface,
 * the file or the missing CAP_NET_RAW). */
int wc_sniff_activate(struct wc_sniff *s);
/* Creates cfg->ready_file (live), then captures (or reads) until SIGINT, SIGTERM, SIGHUP, the count, the
 * duration or the end of the input. Returns 0 or -errno with the message in wc_sniff_geterr. */
int wc_sniff_loop(struct wc_sniff *s);
/* Takes the kernel's counters, completes the output (it gets its name only now, see wc_pcapng_open) and
 * flushes cfg->print. Returns 0 or -errno with the message in wc_sniff_geterr. */
int wc_sniff_finish(struct wc_sniff *s);
/* Frees s. An output not finished stays as FILE.partial once the loop has started (evidence, never a valid
 * capture); before that it is removed. */
void wc_sniff_close(struct wc_sniff *s);
/* The message of the last failure; the handle owns it. */
const char *wc_sniff_geterr(const struct wc_sniff *s);

/* The read-only view the summary takes. */
size_t wc_sniff_nifaces(const struct wc_sniff *s);
const struct wc_sniff_iface *wc_sniff_iface(const struct wc_sniff *s, size_t i);
const struct wc_flows *wc_sniff_flows(const struct wc_sniff *s);
uint64_t wc_sniff_packets(const struct wc_sniff *s);
uint64_t wc_sniff_malformed(const struct wc_sniff *s);
/* Live: the loop ended because no interface was left to capture on. */
int wc_sniff_no_source_left(const struct wc_sniff *s);

#endif
