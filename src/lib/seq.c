/* seq.c - encode and decode the datagram sequence tag. */
#include "wirecheck/seq.h"

void wc_seq_encode(uint8_t *out, uint32_t seq)
{
    out[0] = 'W';
    out[1] = 'C';
    for (int i = 11; i >= 2; i--) {
        out[i] = (uint8_t)('0' + seq % 10);
        seq /= 10;
    }
    out[12] = ':';
}

int wc_seq_decode(const uint8_t *p, size_t n, uint32_t *seq)
{
    uint64_t v = 0;

    if (n < WC_SEQ_TAG_LEN || p[0] != 'W' || p[1] != 'C' || p[12] != ':')
        return -1;
    for (int i = 2; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *seq = (uint32_t)v;
    return 0;
}
