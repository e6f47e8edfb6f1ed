/* pcapread.h - a reader of classic pcap and pcapng captures held in memory (no I/O), keeping interface identity. */
#ifndef WIRECHECK_PCAPREAD_H
#define WIRECHECK_PCAPREAD_H

#include <stddef.h>
#include <stdint.h>

/* The largest pcapng block and the largest classic pcap record accepted (libpcap uses 16 MiB too). */
#define WC_PCAPREAD_MAX_BLOCK (16u << 20)
/* Interfaces in one file, over all its sections. */
#define WC_PCAPREAD_MAX_IFACES 4096
/* Comments kept on one packet; a packet with more is an error, never a silent loss. */
#define WC_PCAPREAD_MAX_COMMENTS 32
/* Section comments kept over the whole file. */
#define WC_PCAPREAD_MAX_SECTION_COMMENTS 1024

/* One interface as the file describes it. Strings are NUL-terminated copies the reader owns (NULL: absent). */
struct wc_pcapread_iface {
    uint32_t section;         /* 0 for the first section */
    uint32_t local_id;        /* its id inside that section */
    uint16_t linktype;        /* LINKTYPE_ value */
    uint32_t snaplen;
    const char *name;         /* if_name */
    const char *description;  /* if_description */
    const char *filter;       /* if_filter when it is a libpcap filter string */
};

/* A string inside the input, not NUL-terminated. */
struct wc_pcapread_str {
    const char *s;
    size_t len;
};

/* One packet; data and comments point into the caller's buffer. */
struct wc_pcapread_packet {
    uint32_t iface;           /* index for wc_pcapread_iface: numbered over the whole file */
    uint64_t ts_ns;           /* nanoseconds since the epoch (if_tsresol and if_tsoffset applied) */
    const uint8_t *data;
    uint32_t caplen, origlen;
    uint32_t flags;           /* epb_flags (pack_flags for the obsolete PB); 0 when absent */
    int has_flags;
    size_t ncomments;
    struct wc_pcapread_str comments[WC_PCAPREAD_MAX_COMMENTS];
    size_t offset;            /* where the record starts in the file */
};

struct wc_pcapread;

/* Reads the structure of data[0..len) (classic pcap in either byte order, µs or ns; pcapng in either byte
 * order with any number of sections): every block is checked, and the interfaces and section comments are
 * collected, so that they are all known before the first packet. data must outlive the reader and is never
 * written. Returns 0 and *out, -EINVAL for a malformed or unsupported file, -ENOMEM; on error errbuf names
 * the broken invariant and its offset ("block total length in header 40 and trailer 44 don't match at
 * offset 28"). errbuf is written only during the call, never kept. */
int wc_pcapread_open(struct wc_pcapread **out, const uint8_t *data, size_t len, char *errbuf,
                     size_t errlen);
void wc_pcapread_close(struct wc_pcapread *r);

size_t wc_pcapread_nifaces(const struct wc_pcapread *r);
const struct wc_pcapread_iface *wc_pcapread_iface(const struct wc_pcapread *r, size_t i);
/* The opt_comment strings of every section, in file order (NUL-terminated, owned by the reader). */
size_t wc_pcapread_nsection_comments(const struct wc_pcapread *r);
const char *wc_pcapread_section_comment(const struct wc_pcapread *r, size_t i);

/* The next packet into *pkt (blocks that are no packets are skipped). Returns 1 with a packet, 0 at the end,
 * or -EINVAL with the reason in wc_pcapread_geterr (open has checked the file already, so only a caller who
 * ignored its error sees one). */
int wc_pcapread_next(struct wc_pcapread *r, struct wc_pcapread_packet *pkt);

/* Starts again from the first packet. */
void wc_pcapread_rewind(struct wc_pcapread *r);
/* The message of the reader's last error; the reader owns it. */
const char *wc_pcapread_geterr(const struct wc_pcapread *r);

#endif
