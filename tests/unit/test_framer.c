/* test_framer.c - the line framer fed whole, byte by byte, and in random chunks. */
#include "check.h"
#include "wirecheck/framer.h"

struct tally {
    unsigned long long lines, starts, bytes;
    size_t line_len[64];
};

/* Feeds buf in chunks of at most `chunk` bytes (0: random sizes). */
static void feed(struct wc_framer *f, struct tally *t, const uint8_t *buf, size_t n, size_t chunk,
                 unsigned long long *seed)
{
    size_t cur = 0;

    while (n > 0) {
        size_t c = chunk ? chunk : 1 + check_rand(seed) % 17;
        if (c > n)
            c = n;
        const uint8_t *p = buf;
        size_t m = c;
        while (m > 0) {
            struct wc_frame fr;
            size_t used = wc_framer_next(f, p, m, &fr);
            CHECK(used > 0 && used <= m);
            if (fr.sol)
                t->starts++;
            cur += used;
            if (fr.eol) {
                CHECK(p[used - 1] == '\n');
                if (t->lines < 64)
                    t->line_len[t->lines] = cur;
                t->lines++;
                cur = 0;
            } else {
                CHECK(memchr(p, '\n', used) == NULL);
            }
            t->bytes += used;
            p += used;
            m -= used;
        }
        buf += c;
        n -= c;
    }
}

int main(void)
{
    static const char text[] = "hello\n\nCRLF\r\nlong line without end";
    const size_t n = sizeof text - 1;
    unsigned long long seed = 42;

    for (size_t chunk = 0; chunk <= n; chunk++) {
        for (int rep = 0; rep < (chunk ? 1 : 50); rep++) {
            struct wc_framer f = {0};
            struct tally t = {0};
            feed(&f, &t, (const uint8_t *)text, n, chunk, &seed);
            CHECK_EQ_LL(3, t.lines);
            CHECK_EQ_LL(4, t.starts);          /* three lines plus the unterminated tail */
            CHECK_EQ_LL(n, t.bytes);
            CHECK_EQ_LL(n, f.bytes);
            CHECK_EQ_LL(6, t.line_len[0]);
            CHECK_EQ_LL(1, t.line_len[1]);
            CHECK_EQ_LL(6, t.line_len[2]);
            CHECK(wc_framer_partial(&f));
            CHECK_EQ_LL(strlen("long line without end"), f.line_bytes);
        }
    }
    /* Empty input consumes nothing and starts nothing. */
    {
        struct wc_framer f = {0};
        struct wc_frame fr;
        CHECK_EQ_LL(0, wc_framer_next(&f, (const uint8_t *)"", 0, &fr));
        CHECK(!fr.sol && !fr.eol && !wc_framer_partial(&f));
    }
    /* NUL and high bytes are ordinary line content. */
    {
        const uint8_t bin[] = {0, 0xff, 'a', '\n', 0x80, '\n'};
        struct wc_framer f = {0};
        struct tally t = {0};
        feed(&f, &t, bin, sizeof bin, 1, &seed);
        CHECK_EQ_LL(2, t.lines);
        CHECK_EQ_LL(4, t.line_len[0]);
        CHECK(!wc_framer_partial(&f));
    }
    return check_done("test_framer");
}
