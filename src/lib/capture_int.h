/* capture_int.h - the sniffer engine's private structs and its two backend interfaces (after libpcap's pcap-int.h):
 * a source (live handles in namespaces, or a file) brings packets in; an output (pcapng or pcap) takes them out. */
#ifndef WIRECHECK_CAPTURE_INT_H
#define WIRECHECK_CAPTURE_INT_H

#include "wirecheck/capture.h"
#include "wirecheck/flow.h"
#include "wirecheck/pcapread.h"

#include <net/if.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define WC_SNIFF_ERRBUF_SIZE 1024
/* How a section comment saying what its file holds begins; an input's is not copied (it was about the input). */
#define WC_SNIFF_THIS_FILE "this file: "

struct wc_sniff;

/* One interface: a live pcap handle, or one interface block of the input file. */
struct source {
    struct wc_sniff_iface pub;    /* name (as given: "IFACE[@NETNS]"; offline: the file's if_name), counts */
    pcap_t *p;                    /* offline: a dead handle for the filter and classic pcap output */
    char ifname[IF_NAMESIZE];
    const char *netns;            /* NULL: ours */
    int linktype;
    int fd;                       /* live: selectable fd, -1 when gone */
    uint8_t mac[6];
    int has_mac;                  /* direction comes from comparing source MACs */
    uint32_t ifid;                /* the output's interface id */
    uint64_t start_ns;
    uint64_t last_ts;             /* the time given to its last packet */
    struct bpf_program prog;      /* offline -f, compiled for this interface's link type */
    int has_prog;
    /* What the output's interface block says about it. */
    const char *out_name, *out_desc, *out_filter;
    uint32_t out_snaplen;
    char *owned_name, *owned_desc, *owned_filter;   /* made up here, freed with the handle */
    struct wc_sniff *s;           /* back pointer for pcap's callback */
};

/* One packet, whichever way it came in. */
struct rec {
    uint64_t ts;                  /* ns */
    const uint8_t *data;
    uint32_t caplen, len;
    const struct wc_pcapread_packet *in;   /* offline: its flags and comments */
};

/* A source backend (read_op and cleanup_op in libpcap). Each returns 0 or -errno with the handle's message set. */
struct wc_sniff_source_ops {
    /* Fills s->src (one per interface) and sets each source's output fields. */
    int (*open)(struct wc_sniff *s);
    /* Feeds every packet to wc_sniff_packet until a signal, the count, the duration or the end. */
    int (*loop)(struct wc_sniff *s, int sfd);
    /* Takes the kernel's counters into each source's pub (live only). */
    void (*stats)(struct wc_sniff *s);
    void (*cleanup)(struct wc_sniff *s);
};

/* An output backend. Each returns 0 or -errno; open and close set the handle's message. A packet is encoded
 * on arrival, while its bytes are in cache, and its block is written once the reorder stage lets it go. */
struct wc_sniff_output_ops {
    int (*open)(struct wc_sniff *s);
    /* Encodes rec, its flags and its label into the size bytes that room(s, src, rec->ts, size) gives, and
     * returns size, a multiple of 4; 0: room gave none. */
    size_t (*encode)(struct wc_sniff *s, const struct source *src, const struct rec *rec, uint32_t flags,
                     const char *label,
                     uint8_t *(*room)(struct wc_sniff *s, const struct source *src, uint64_t ts, size_t size));
    /* Writes blocks that encode made of src's packets, back to back in blocks[0..len) (one block, or up to
     * WC_SNIFF_ORDER_RUN_MAX bytes of them). */
    int (*write)(struct wc_sniff *s, const struct source *src, const uint8_t *blocks, size_t len);
    /* Gives a block that encode made the time ts instead of its own. */
    void (*restamp)(uint8_t *block, uint64_t ts);
    int (*flush)(struct wc_sniff *s);
    /* Writes what is left (pcapng: the interface statistics) and gives the file its name. */
    int (*close)(struct wc_sniff *s, uint64_t end_ns);
    /* A run cut short: keep_partial leaves the .partial file as evidence, otherwise it goes. */
    void (*abort)(struct wc_sniff *s, int keep_partial);
    /* The name being written, for messages. */
    const char *(*tmpname)(const struct wc_sniff *s);
};

/* The reorder stage (capture_order.c): per interface, a queue of encoded blocks sorted by timestamp (a ring
 * of cap, a power of two), the oldest of all written first once no packet still to come can be older (live)
 * or once it is window_ns behind the newest (offline). The blocks themselves lie one after the other in
 * chunks, in the order they came. */
struct wc_sniff_chunk;
struct wc_sniff_order_slot {      /* 32 bytes: a power of two of them fill a huge page */
    uint64_t ts;
    uint8_t *block;
    struct wc_sniff_chunk *chunk;
    uint32_t len;
    uint32_t arrival;             /* equal timestamps leave in the order they came */
};
struct wc_sniff_order_queue {
    struct wc_sniff_order_slot *ring;
    size_t head, n, cap;
    uint64_t newest;              /* live: the newest timestamp read on this interface */
};
/* Chunks are this large, a huge page (a larger block gets one of its own), and at most this many bytes of
 * empty ones are kept for reuse. */
#define WC_SNIFF_ORDER_CHUNK WC_HUGE_PAGE
#define WC_SNIFF_ORDER_FREE_BYTES (16u << 20)
struct wc_sniff_order {
    struct wc_sniff_order_queue q[WC_SNIFF_MAX_IFACES];   /* one per source, in s->src order */
    struct wc_sniff_order_queue *next;     /* the one whose head leaves next, NULL: all empty */
    struct wc_sniff_chunk *cur;   /* blocks are appended here */
    struct wc_sniff_chunk *free;  /* empty chunks of WC_SNIFF_ORDER_CHUNK */
    size_t free_bytes;
    size_t bytes;                 /* held */
    int live;
    uint64_t floor_ns;            /* live: every packet stamped before this has been read */
    uint64_t window_ns;           /* offline */
    uint64_t newest;              /* offline: the newest timestamp pushed */
    uint32_t arrivals;
    uint64_t last_ts;             /* of the block written last */
    int released;
    uint64_t late;                /* came after a later one had been written: given its time */
    uint64_t late_max_ns;         /* by how much, at most */
};

/* Offline: files of the sniffer before this stage were out of order by up to 80 ms. */
#define WC_SNIFF_ORDER_WINDOW_OFFLINE_MS 500
/* Blocks leave in runs: the blocks of one interface that lie side by side, up to this many bytes, in one call
 * and one copy rather than one per packet. */
#define WC_SNIFF_ORDER_RUN_MAX (64u << 10)
/* The oldest block waits for this much more before the stage writes: a run rather than a block at a time. */
#define WC_SNIFF_ORDER_BATCH_NS 1000000ull
/* The most the stage holds in blocks; past it, the oldest blocks leave early. */
#define WC_SNIFF_ORDER_MAX_BYTES (64u << 20)

extern const struct wc_sniff_source_ops wc_sniff_source_live, wc_sniff_source_offline;
extern const struct wc_sniff_output_ops wc_sniff_output_pcapng, wc_sniff_output_pcap;

struct wc_sniff {
    const struct wc_sniff_config *cfg;
    const struct wc_sniff_source_ops *in;
    void *in_priv;                /* the source backend's own state */
    const struct wc_sniff_output_ops *out;   /* NULL: no -w */
    void *out_priv;
    struct source *src;           /* live: one per -i; offline: one per interface in the file */
    size_t nsrc;
    const char *const *in_comments;          /* the input's section comments (offline) */
    size_t nin_comments;
    struct wc_flows *flows;
    struct wc_sniff_order order;
    int sfd;                      /* signalfd */
    uint64_t packets, malformed;
    int stop;                     /* -c reached */
    int no_source_left;           /* live: every interface went away */
    int looped;                   /* the output holds packets: keep it as .partial when cut short */
    int werr;                     /* first output error, -errno */
    char errbuf[WC_SNIFF_ERRBUF_SIZE];
};

/* Sets the handle's message (printf-style) and returns err, a -errno. */
static inline int wc_sniff_fail(struct wc_sniff *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int wc_sniff_fail(struct wc_sniff *s, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errbuf, sizeof s->errbuf, fmt, ap);
    va_end(ap);
    return err;
}

/* Passes a warning to the caller's cfg->warn, if any (printf-style). */
static inline void wc_sniff_warn(struct wc_sniff *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void wc_sniff_warn(struct wc_sniff *s, const char *fmt, ...)
{
    char msg[WC_SNIFF_ERRBUF_SIZE];
    va_list ap;

    if (!s->cfg->warn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->cfg->warn(s->cfg->warn_arg, msg);
}

/* The link type's name for messages ("EN10MB"), or "unknown". */
static inline const char *wc_sniff_linktype_name(int linktype)
{
    const char *n = pcap_datalink_val_to_name(linktype);

    return n ? n : "unknown";
}

/* Room for the block of one of src's packets, stamped ts, len bytes (capture_order.c): queued at once in
 * time order, to be filled before the next call into the stage. Before it, writes out what is due. NULL: out
 * of memory even after writing out what waited. */
uint8_t *wc_sniff_order_reserve(struct wc_sniff *s, const struct source *src, uint64_t ts, size_t len);
/* Writes every block stamped at or before horizon (UINT64_MAX: all), oldest first. */
void wc_sniff_order_release(struct wc_sniff *s, uint64_t horizon);
/* Live: every interface has been read since wall-clock time since_ns, taken before the poll whose ready
 * interfaces were then all read. Writes what no packet still to come can precede. */
void wc_sniff_order_drained(struct wc_sniff *s, uint64_t since_ns);
/* Frees what still waits (a run cut short). */
void wc_sniff_order_free(struct wc_sniff *s);

/* Decodes, labels and prints one packet as it arrives, and hands its encoded block to the reorder stage
 * (capture_packet.c); an output error is kept in s->werr. Sources call it; nothing after s->stop. */
void wc_sniff_packet(struct wc_sniff *s, struct source *src, const struct rec *rec);
/* Writes the output's buffer out; returns s->werr. */
int wc_sniff_flush(struct wc_sniff *s);
/* The message for s->werr: "writing FILE: reason". Returns s->werr. */
int wc_sniff_write_failed(struct wc_sniff *s);

/* One line per packet, like tcpdump -n, with its label (capture_print.c). */
void wc_sniff_print(FILE *o, const char *ifname, const struct rec *rec, const struct wc_packet *pkt, int ok,
                    unsigned dir, const char *label);

#endif
