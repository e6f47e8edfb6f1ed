/* upper.c - vectorized ASCII upper case, the hot path of both servers. */
#include "wirecheck/upper.h"

#include <string.h>

/* GCC/clang vector extensions: portable SIMD (SSE2 on x86-64, NEON on arm64)
 * without intrinsics. 16 bytes per step; the tail uses the scalar form. */
typedef uint8_t wc_v16 __attribute__((vector_size(16)));

void wc_upper(uint8_t *dst, const uint8_t *src, size_t n)
{
    const wc_v16 a = {'a','a','a','a','a','a','a','a','a','a','a','a','a','a','a','a'};
    const wc_v16 span = {25,25,25,25,25,25,25,25,25,25,25,25,25,25,25,25};
    const wc_v16 bit = {0x20,0x20,0x20,0x20,0x20,0x20,0x20,0x20,
                        0x20,0x20,0x20,0x20,0x20,0x20,0x20,0x20};
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        wc_v16 v;
        memcpy(&v, src + i, 16);                /* unaligned load */
        /* (v - 'a') <= 25 unsigned  <=>  'a' <= v <= 'z'; the compare gives 0xff lanes. */
        wc_v16 lower = (wc_v16)((v - a) <= span);
        v -= lower & bit;
        memcpy(dst + i, &v, 16);
    }
    for (; i < n; i++)
        dst[i] = wc_upper_byte(src[i]);
}
