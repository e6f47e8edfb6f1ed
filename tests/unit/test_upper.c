/* test_upper.c - the vectorized transform against the scalar reference. */
#include "check.h"
#include "wirecheck/upper.h"

static uint8_t ref(uint8_t c)
{
    return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

int main(void)
{
    uint8_t in[4096 + 64], out[sizeof in], want[sizeof in];
    unsigned long long seed = 0x5eed1234abcdull;

    /* All 256 byte values, at every alignment of the 16-byte vector path. */
    for (int c = 0; c < 256; c++)
        CHECK_EQ_LL(ref((uint8_t)c), wc_upper_byte((uint8_t)c));
    for (size_t off = 0; off < 16; off++) {
        for (int c = 0; c < 256; c++) {
            in[off + (size_t)c] = (uint8_t)c;
            want[off + (size_t)c] = ref((uint8_t)c);
        }
        wc_upper(out + off, in + off, 256);
        CHECK_BYTES(want + off, out + off, 256);
    }
    /* Random buffers of every length up to 300 and a few large ones, in place too. */
    for (size_t n = 0; n < sizeof in; n = n < 300 ? n + 1 : n * 2) {
        for (size_t i = 0; i < n; i++) {
            in[i] = (uint8_t)check_rand(&seed);
            want[i] = ref(in[i]);
        }
        wc_upper(out, in, n);
        CHECK_BYTES(want, out, n);
        wc_upper(in, in, n);
        CHECK_BYTES(want, in, n);
    }
    /* The bytes beyond n are not touched. */
    memset(out, 0xAA, 64);
    memcpy(in, "abcdefghijklmnopqrstuvwxyz", 26);
    wc_upper(out, in, 20);
    CHECK(memcmp(out, "ABCDEFGHIJKLMNOPQRST", 20) == 0);
    CHECK(out[20] == 0xAA && out[63] == 0xAA);
    if (check_failures)
        fprintf(stderr, "seed was 0x5eed1234abcd\n");
    return check_done("test_upper");
}
