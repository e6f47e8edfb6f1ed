/* lg_transform.c - the uppercase transform's GB/s against memcpy's on the same buffers. */
#include "loadgen.h"
#include "wirecheck/sys.h"
#include "wirecheck/upper.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 5                /* memcpy and the transform alternate, so noise hits both */
#define ITERS_PER_CLOCK 64
/* Cache-line aligned: on AMD Zen, glibc's memcpy (rep movsb) runs at a tenth
 * of its speed when the destination is not, which would flatter the transform. */
#define BUFFER_ALIGN 64

/* Keeps the compiler from dropping stores nobody reads. */
static inline void clobber(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* Runs one kernel over the buffers for about ns nanoseconds; returns bytes/ns. */
static double time_kernel(int upper, uint8_t *dst, const uint8_t *src, size_t n, unsigned long long ns)
{
    unsigned long long t0 = wc_now_ns(), t, bytes = 0;

    do {
        for (int i = 0; i < ITERS_PER_CLOCK; i++) {
            if (upper)
                wc_upper(dst, src, n);
            else
                memcpy(dst, src, n);
            clobber(dst);
        }
        bytes += (unsigned long long)n * ITERS_PER_CLOCK;
        t = wc_now_ns();
    } while (t - t0 < ns);
    return (double)bytes / (double)(t - t0);
}

int lg_transform(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen)
{
    size_t n = (size_t)o->size, alloc = (n + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN;
    uint8_t *src = aligned_alloc(BUFFER_ALIGN, alloc), *dst = aligned_alloc(BUFFER_ALIGN, alloc);
    unsigned long long slice = (unsigned long long)o->duration_ms * 1000000ull / (2 * ROUNDS);
    double copy[ROUNDS], upper[ROUNDS];

    if (!src || !dst) {
        snprintf(errbuf, errlen, "set-up: %s", strerror(errno));
        free(src);
        free(dst);
        return 1;
    }
    lg_fill_lines(src, n, 64, 9);
    memset(dst, 0, n);
    for (int r = 0; r < ROUNDS; r++) {
        copy[r] = time_kernel(0, dst, src, n, slice);
        upper[r] = time_kernel(1, dst, src, n, slice);
    }
    {
        double c = lg_percentile(copy, ROUNDS, 50), u = lg_percentile(upper, ROUNDS, 50);

        lg_report_add(rep, "buffer_bytes", (double)n);
        lg_report_add(rep, "memcpy_gb_per_s", c);
        lg_report_add(rep, "upper_gb_per_s", u);
        lg_report_add(rep, "ratio", u / c);
    }
    free(src);
    free(dst);
    return 0;
}
