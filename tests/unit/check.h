/* check.h - a minimal assertion harness for the C unit tests (one binary per file). */
#ifndef WIRECHECK_CHECK_H
#define WIRECHECK_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                   \
        }                                                                       \
    } while (0)

#define CHECK_EQ_LL(want, got)                                                  \
    do {                                                                        \
        long long w_ = (long long)(want), g_ = (long long)(got);                \
        if (w_ != g_) {                                                         \
            fprintf(stderr, "%s:%d: %s: expected %lld, got %lld\n", __FILE__, __LINE__, #got, w_, g_); \
            check_failures++;                                                   \
        }                                                                       \
    } while (0)

/* Like CHECK_EQ_LL, naming the quantity in words. */
#define CHECK_EQ(what, expected, actual)                                        \
    do {                                                                        \
        long long e_ = (long long)(expected), a_ = (long long)(actual);         \
        if (e_ != a_) {                                                         \
            fprintf(stderr, "%s:%d: %s: expected %lld, got %lld\n", __FILE__, __LINE__, \
                    (what), e_, a_);                                            \
            check_failures++;                                                   \
        }                                                                       \
    } while (0)

/* Compares two byte buffers and reports the first differing offset with a hex window. */
static inline void check_bytes(const char *file, int line, const unsigned char *want,
                               const unsigned char *got, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (want[i] != got[i]) {
            size_t lo = i > 4 ? i - 4 : 0, hi = i + 4 < n ? i + 4 : n;
            fprintf(stderr, "%s:%d: bytes differ at offset %zu\n  want:", file, line, i);
            for (size_t k = lo; k < hi; k++)
                fprintf(stderr, " %02x", want[k]);
            fprintf(stderr, "\n  got: ");
            for (size_t k = lo; k < hi; k++)
                fprintf(stderr, " %02x", got[k]);
            fprintf(stderr, "\n");
            check_failures++;
            return;
        }
    }
}
#define CHECK_BYTES(want, got, n) check_bytes(__FILE__, __LINE__, (want), (got), (n))

/* xorshift64*: reproducible random data; the seed is printed on failure. */
static inline unsigned long long check_rand(unsigned long long *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static inline int check_done(const char *name)
{
    if (check_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

#endif
