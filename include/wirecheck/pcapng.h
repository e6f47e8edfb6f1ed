/* pcapng.h - a small pcapng writer (SHB, IDB, EPB, ISB) that buffers and reports every write error. */
#ifndef WIRECHECK_PCAPNG_H
#define WIRECHECK_PCAPNG_H

#include <stddef.h>
#include <stdint.h>

/* The most the write buffer grows to (it starts at 64 KiB); a block larger than it is refused (-EMSGSIZE). */
#define WC_PCAPNG_BUFFER_SIZE (1u << 20)
/* Suffix of the file being written; it gets its final name only on a clean close. */
#define WC_PCAPNG_PARTIAL_SUFFIX ".partial"

struct wc_pcapng;

/* The Section Header Block's options; NULL or 0 leaves an option out. Each comment becomes one opt_comment.
 * Every string option (comments, names) is written without trailing newlines or NULs: tshark prints a
 * comment's newline as a literal "\n" in its fields and columns. */
struct wc_pcapng_section {
    const char *const *comments;
    size_t ncomments;
    const char *os;          /* shb_os */
    const char *userappl;    /* shb_userappl */
};

/* One Interface Description Block. Timestamps are always nanoseconds (if_tsresol 9). */
struct wc_pcapng_iface {
    const char *name;        /* if_name, e.g. "veth0@ns-client" */
    const char *description; /* if_description, or NULL */
    const char *filter;      /* if_filter as a BPF string, or NULL */
    uint16_t linktype;       /* a LINKTYPE_ value (the same as DLT_ for the common ones) */
    uint32_t snaplen;
};

/* Creates PATH + WC_PCAPNG_PARTIAL_SUFFIX (mode 0644, truncating) and writes the
 * section header into the buffer. PATH "-" writes to stdout (no rename). The
 * file gets its final name only through wc_pcapng_close, so a file named PATH
 * is always complete. A PATH that exists and is no regular file (/dev/null, a
 * FIFO) is written in place: renaming onto it would replace the device.
 * Returns 0 and *out, or -errno. */
int wc_pcapng_open(struct wc_pcapng **out, const char *path, const struct wc_pcapng_section *s);

/* Like wc_pcapng_open on an fd the caller owns (it is not closed and never renamed). */
int wc_pcapng_fdopen(struct wc_pcapng **out, int fd, const struct wc_pcapng_section *s);

/* Appends an IDB; its id is the number of interfaces added before it. Add
 * every interface before the first packet. Returns the id (>= 0) or -errno. */
int wc_pcapng_add_iface(struct wc_pcapng *w, const struct wc_pcapng_iface *ifc);

/* A string with its length (need not be NUL-terminated). */
struct wc_pcapng_str {
    const char *s;
    size_t len;
};

/* One Enhanced Packet Block with all its options. */
struct wc_pcapng_epb {
    uint32_t ifid;
    uint64_t ts_ns;
    const uint8_t *data;
    uint32_t caplen, origlen;
    uint32_t flags;                          /* epb_flags, whole word (direction in bits 0-1); 0: left out */
    const struct wc_pcapng_str *comments;    /* one opt_comment each, in order, without trailing newlines */
    size_t ncomments;
};

/* Appends e. Returns 0 or -errno (-EINVAL for an unknown ifid; a failed flush: the error sticks). */
int wc_pcapng_write_epb(struct wc_pcapng *w, const struct wc_pcapng_epb *e);

/* The size in bytes of e as an Enhanced Packet Block. */
size_t wc_pcapng_epb_size(const struct wc_pcapng_epb *e);
/* Encodes e into block (wc_pcapng_epb_size(e) bytes of room) without I/O, and returns its size: a block made
 * where the packet's bytes are hot can wait (the sniffer's reorder stage) and be written later. */
size_t wc_pcapng_epb_encode(uint8_t *block, const struct wc_pcapng_epb *e);
/* Gives a block made by wc_pcapng_epb_encode the time ts_ns instead of its own. */
void wc_pcapng_epb_restamp(uint8_t *block, uint64_t ts_ns);
/* Appends blocks made by wc_pcapng_epb_encode, back to back in blocks[0..len), at most
 * WC_PCAPNG_BUFFER_SIZE bytes, each as interface ifid (the copies' interface ids are rewritten, so one block
 * can go to several files). Returns 0 or -errno (-EINVAL for an unknown ifid or lengths that are not whole
 * blocks, and then nothing is written; a failed flush: the error sticks). */
int wc_pcapng_write_epb_blocks(struct wc_pcapng *w, const uint8_t *blocks, size_t len, uint32_t ifid);

/* Appends an Interface Statistics Block with isb_starttime, isb_endtime,
 * isb_ifrecv and isb_ifdrop (start/end 0: left out). Returns 0 or -errno. */
int wc_pcapng_write_stats(struct wc_pcapng *w, uint32_t ifid, uint64_t ts_ns, uint64_t start_ns,
                          uint64_t end_ns, uint64_t recv, uint64_t drop);

/* Writes the buffer out. Call it at least once a second. Returns 0 or -errno. */
int wc_pcapng_flush(struct wc_pcapng *w);

/* Flushes, closes and renames PATH.partial to PATH. Returns 0, or -errno when
 * any write, close or the rename failed: then PATH.partial is left for
 * inspection and PATH is not created. Frees w in every case. */
int wc_pcapng_close(struct wc_pcapng *w);

/* Closes without renaming, for a failed run: keep_partial writes out what it
 * can and leaves PATH.partial as evidence, otherwise PATH.partial is removed.
 * Frees w. */
void wc_pcapng_abort(struct wc_pcapng *w, int keep_partial);

/* The name being written (PATH.partial), for messages. */
const char *wc_pcapng_tmpname(const struct wc_pcapng *w);

#endif
