/* upper.c - vectorized ASCII upper case, the hot path of both servers. */
#include "wirecheck/upper.h"

#include <string.h>

/* GCC/clang vector extensions: portable SIMD without intrinsics. A 32-byte
 * vector is one AVX2 register, or two SSE2 (NEON) registers where that is all
 * there is; two vectors per step keep loads and stores in flight. */
typedef uint8_t wc_v32 __attribute__((vector_size(32)));

#define WC_STEP 64

/* On x86-64 the loader picks the AVX2 clone when the CPU has it (ifunc): the
 * SSE2 baseline runs at about 0.6x memcpy on 64 KiB, AVX2 at memcpy's speed.
 * gcc only: clang 14 names the ifunc "wc_upper.ifunc", so no other file links. */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(__clang__)
#if __has_attribute(target_clones)
#define WC_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef WC_MULTIVERSION
#define WC_MULTIVERSION
#endif

WC_MULTIVERSION
void wc_upper(uint8_t *dst, const uint8_t *src, size_t n)
{
    const wc_v32 a = {
        'a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a',
        'a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a',
    };
    const wc_v32 span = a - a + 25, bit = a - a + 0x20;
    size_t i = 0;

    for (; i + WC_STEP <= n; i += WC_STEP) {
        wc_v32 v0, v1;

        memcpy(&v0, src + i, 32);               /* unaligned loads */
        memcpy(&v1, src + i + 32, 32);
        /* (v - 'a') <= 25 unsigned  <=>  'a' <= v <= 'z'; the compare gives 0xff lanes. */
        v0 -= (wc_v32)((v0 - a) <= span) & bit;
        v1 -= (wc_v32)((v1 - a) <= span) & bit;
        memcpy(dst + i, &v0, 32);
        memcpy(dst + i + 32, &v1, 32);
    }
    for (; i < n; i++)
        dst[i] = wc_upper_byte(src[i]);
}
