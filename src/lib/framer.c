/* framer.c - line framing over a byte stream, one piece per call. */
#include "wirecheck/framer.h"

#include <string.h>

size_t wc_framer_next(struct wc_framer *f, const uint8_t *p, size_t n, struct wc_frame *out)
{
    const uint8_t *lf;

    out->sol = f->line_bytes == 0 && n > 0;
    lf = n ? memchr(p, '\n', n) : NULL;
    if (lf) {
        out->len = (size_t)(lf - p) + 1;
        out->eol = true;
        f->lines++;
        f->line_bytes = 0;
    } else {
        out->len = n;
        out->eol = false;
        f->line_bytes += n;
    }
    f->bytes += out->len;
    return out->len;
}
