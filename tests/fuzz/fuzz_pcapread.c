/* fuzz_pcapread.c - our capture reader on arbitrary bytes: what it hands out lies inside the input, and a file
 * it accepts survives our writer and a second read packet for packet (interface, time, bytes, comments). */
#include "wirecheck/pcapng.h"
#include "wirecheck/pcapread.h"

#include "fuzz.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int out_fd = -1;

static void inside(const uint8_t *data, size_t size, const void *p, size_t n)
{
    const uint8_t *b = p;

    FUZZ_CHECK(n == 0 || (b >= data && n <= size && b - data <= (ptrdiff_t)(size - n)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct wc_pcapread_packet a, b;
    struct wc_pcapread *r, *back;
    struct wc_pcapng *w;
    char err[256];
    uint64_t n = 0;
    off_t len;
    void *m;
    int k;

    if (wc_pcapread_open(&r, data, size, err, sizeof err) < 0) {
        FUZZ_CHECK(strstr(err, " at offset ") || strcmp(err, "out of memory") == 0);
        return 0;
    }
    if (out_fd < 0)
        FUZZ_CHECK((out_fd = memfd_create("fuzz_pcapread", MFD_CLOEXEC)) >= 0);
    FUZZ_CHECK(ftruncate(out_fd, 0) == 0 && lseek(out_fd, 0, SEEK_SET) == 0);
    FUZZ_CHECK(wc_pcapng_fdopen(&w, out_fd, NULL) == 0);
    for (size_t i = 0; i < wc_pcapread_nifaces(r); i++) {
        const struct wc_pcapread_iface *f = wc_pcapread_iface(r, i);
        struct wc_pcapng_iface ifc = {f->name, f->description, f->filter, f->linktype, f->snaplen};

        FUZZ_CHECK(wc_pcapng_add_iface(w, &ifc) == (int)i);
    }
    while ((k = wc_pcapread_next(r, &a)) > 0) {
        struct wc_pcapng_str c[WC_PCAPREAD_MAX_COMMENTS];
        struct wc_pcapng_epb e = {a.iface, a.ts_ns, a.data, a.caplen, a.origlen, a.flags, c, a.ncomments};

        FUZZ_CHECK(a.iface < wc_pcapread_nifaces(r) && a.ncomments <= WC_PCAPREAD_MAX_COMMENTS);
        inside(data, size, a.data, a.caplen);
        for (size_t i = 0; i < a.ncomments; i++) {
            inside(data, size, a.comments[i].s, a.comments[i].len);
            c[i].s = a.comments[i].s;
            c[i].len = a.comments[i].len;
        }
        /* A packet larger than the writer's buffer is refused, by design. */
        if ((k = wc_pcapng_write_epb(w, &e)) == -EMSGSIZE) {
            wc_pcapng_abort(w, 0);
            wc_pcapread_close(r);
            return 0;
        }
        FUZZ_CHECK(k == 0);
        n++;
    }
    FUZZ_CHECK(k == 0);
    FUZZ_CHECK(wc_pcapng_close(w) == 0);
    len = lseek(out_fd, 0, SEEK_END);
    FUZZ_CHECK(len > 0 && (m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, out_fd, 0)) != MAP_FAILED);
    FUZZ_CHECK(wc_pcapread_open(&back, m, (size_t)len, err, sizeof err) == 0);
    FUZZ_CHECK(wc_pcapread_nifaces(back) == wc_pcapread_nifaces(r));
    wc_pcapread_rewind(r);
    for (uint64_t i = 0; i < n; i++) {
        FUZZ_CHECK(wc_pcapread_next(r, &a) == 1 && wc_pcapread_next(back, &b) == 1);
        FUZZ_CHECK(a.iface == b.iface && a.ts_ns == b.ts_ns && a.caplen == b.caplen && a.origlen == b.origlen);
        FUZZ_CHECK(a.caplen == 0 || memcmp(a.data, b.data, a.caplen) == 0);
        FUZZ_CHECK(a.ncomments == b.ncomments && a.flags == b.flags);
    }
    FUZZ_CHECK(wc_pcapread_next(back, &b) == 0);
    wc_pcapread_close(back);
    munmap(m, (size_t)len);
    wc_pcapread_close(r);
    return 0;
}
