/* fuzz_framer.c - the line framer over the input fed in chunks whose sizes come from the input itself. */
#include "wirecheck/framer.h"

#include "fuzz.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wc_framer f = {0};
    struct wc_frame fr;
    uint64_t lfs = 0, line = 0;
    size_t off = 0, step = size ? data[0] % 31 + 1 : 1;

    while (off < size) {
        size_t n = size - off < step ? size - off : step, used = 0;

        while (used < n) {
            const uint8_t *p = data + off + used;
            size_t k = wc_framer_next(&f, p, n - used, &fr);

            FUZZ_CHECK(k == fr.len && k > 0 && k <= n - used);
            FUZZ_CHECK(fr.sol == (line == 0));
            /* A piece holds at most one LF, and only as its last byte. */
            FUZZ_CHECK(!memchr(p, '\n', k - 1));
            FUZZ_CHECK(fr.eol == (p[k - 1] == '\n'));
            FUZZ_CHECK(fr.eol || k == n - used);
            lfs += fr.eol;
            line = fr.eol ? 0 : line + k;
            used += k;
            FUZZ_CHECK(f.lines == lfs && f.line_bytes == line && f.bytes == off + used);
        }
        FUZZ_CHECK(wc_framer_next(&f, data + off + n, 0, &fr) == 0 && !fr.sol && !fr.eol);
        off += n;
        /* The next chunk's size: 1..64 bytes, from the byte just consumed. */
        step = data[off - 1] % 64 + 1;
    }
    FUZZ_CHECK(f.bytes == size && f.lines == lfs && wc_framer_partial(&f) == (line != 0));
    return 0;
}
