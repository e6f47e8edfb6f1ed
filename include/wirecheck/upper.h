/* upper.h - the protocol's transform: ASCII upper case, every other byte unchanged. */
#ifndef WIRECHECK_UPPER_H
#define WIRECHECK_UPPER_H

#include <stddef.h>
#include <stdint.h>

/* Writes the ASCII upper case of src[0..n) to dst: 'a'..'z' become 'A'..'Z',
 * the other 246 byte values pass unchanged. dst may equal src (in place);
 * other overlaps are undefined. Never fails. */
void wc_upper(uint8_t *dst, const uint8_t *src, size_t n);

/* One byte of the same transform: the scalar reference the tests compare with. */
static inline uint8_t wc_upper_byte(uint8_t c)
{
    return (uint8_t)(c - ((uint8_t)(c - 'a') < 26u ? 0x20 : 0));
}

#endif
