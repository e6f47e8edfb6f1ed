/* framer.h - splits a byte stream into LF-terminated lines without buffering or I/O. */
#ifndef WIRECHECK_FRAMER_H
#define WIRECHECK_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A framer holds no bytes, only where the stream is: lines of any length
 * (10 MB and more) cost nothing. Zero-initialise it before use. */
struct wc_framer {
    uint64_t lines;         /* completed lines (LF seen) */
    uint64_t bytes;         /* bytes consumed in total */
    uint64_t line_bytes;    /* bytes of the current, unterminated line */
};

/* One piece of the stream that lies within a single line. */
struct wc_frame {
    size_t len;             /* bytes consumed, LF included when eol */
    bool sol;               /* the piece starts a new line */
    bool eol;               /* the piece ends with the line's LF */
};

/* Consumes the longest prefix of p[0..n) that stays within the current line
 * and describes it in *out. Returns out->len, which is 0 only when n is 0.
 * Feed the rest of the buffer by calling again with p + len. */
size_t wc_framer_next(struct wc_framer *f, const uint8_t *p, size_t n, struct wc_frame *out);

/* True when the stream ended in the middle of a line (an unterminated tail). */
static inline bool wc_framer_partial(const struct wc_framer *f)
{
    return f->line_bytes != 0;
}

#endif
