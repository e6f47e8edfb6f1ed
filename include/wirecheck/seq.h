/* seq.h - the sequence tag udp-client --seq puts at the start of each datagram. */
#ifndef WIRECHECK_SEQ_H
#define WIRECHECK_SEQ_H

#include <stddef.h>
#include <stdint.h>

/* "WC" then 10 decimal digits then ':' ("WC0000000042:"). Upper case and
 * digits only, so the server's transform leaves the tag unchanged and the
 * reply carries the same number as its request. */
#define WC_SEQ_TAG_LEN 13

/* Writes the tag for seq into out[0..WC_SEQ_TAG_LEN). */
void wc_seq_encode(uint8_t *out, uint32_t seq);

/* Returns 0 and sets *seq when p[0..n) starts with a valid tag, else -1. */
int wc_seq_decode(const uint8_t *p, size_t n, uint32_t *seq);

#endif
