/* test_cli.c - edge cases of ranged option parsing. */
#include "check.h"
#include "wirecheck/cli.h"
#include "wirecheck/seq.h"

static int ll(const char *s, long long min, long long max, long long *v)
{
    const char *e = NULL;
    int r = wc_parse_ll(s, min, max, v, &e);
    CHECK((r == 0) == (e == NULL));
    return r;
}

int main(void)
{
    long long v = -1;
    const char *e;
    uint8_t tag[WC_SEQ_TAG_LEN];
    uint32_t s;

    CHECK(ll("1", 1, 65535, &v) == 0 && v == 1);
    CHECK(ll("65535", 1, 65535, &v) == 0 && v == 65535);
    CHECK(ll("0", 1, 65535, &v) < 0);
    CHECK(ll("65536", 1, 65535, &v) < 0);
    CHECK(ll("-1", 1, 65535, &v) < 0);
    CHECK(ll("", 1, 65535, &v) < 0);
    CHECK(ll("12x", 1, 65535, &v) < 0);
    CHECK(ll(" 12", 1, 65535, &v) < 0);
    CHECK(ll("0x10", 1, 65535, &v) < 0);
    CHECK(ll("99999999999999999999999", 0, 10, &v) < 0);
    CHECK(ll(NULL, 0, 10, &v) < 0);

    CHECK(wc_parse_port("6789", &e) == 0);
    CHECK(wc_parse_port("http", &e) < 0 && strcmp(e, "invalid") == 0);
    CHECK(wc_parse_port("70000", &e) < 0 && strcmp(e, "too large") == 0);

    CHECK(wc_parse_seconds("1", 0, 10000, &v, &e) == 0 && v == 1000);
    CHECK(wc_parse_seconds("0.25", 0, 10000, &v, &e) == 0 && v == 250);
    CHECK(wc_parse_seconds("2.5", 0, 10000, &v, &e) == 0 && v == 2500);
    CHECK(wc_parse_seconds("0.0001", 1, 10000, &v, &e) < 0 && strcmp(e, "too small") == 0);
    CHECK(wc_parse_seconds("11", 0, 10000, &v, &e) < 0 && strcmp(e, "too large") == 0);
    CHECK(wc_parse_seconds("1.", 0, 10000, &v, &e) < 0);
    CHECK(wc_parse_seconds(".5", 0, 10000, &v, &e) < 0);
    CHECK(wc_parse_seconds("1s", 0, 10000, &v, &e) < 0);
    CHECK(wc_parse_seconds("99999999999999999999", 0, 10000, &v, &e) < 0);

    CHECK(wc_parse_size("64", 0, 1 << 20, &v, &e) == 0 && v == 64);
    CHECK(wc_parse_size("4k", 0, 1 << 20, &v, &e) == 0 && v == 4096);
    CHECK(wc_parse_size("1M", 0, 1 << 20, &v, &e) == 0 && v == 1 << 20);
    CHECK(wc_parse_size("2M", 0, 1 << 20, &v, &e) < 0 && strcmp(e, "too large") == 0);
    CHECK(wc_parse_size("k", 0, 1 << 20, &v, &e) < 0);
    CHECK(wc_parse_size("9999999999999999g", 0, 1LL << 40, &v, &e) < 0);

    /* The seq tag survives the server's transform and round-trips. */
    wc_seq_encode(tag, 4294967295u);
    CHECK(wc_seq_decode(tag, sizeof tag, &s) == 0 && s == 4294967295u);
    wc_seq_encode(tag, 42);
    CHECK(memcmp(tag, "WC0000000042:", WC_SEQ_TAG_LEN) == 0);
    CHECK(wc_seq_decode(tag, WC_SEQ_TAG_LEN - 1, &s) < 0);
    CHECK(wc_seq_decode((const uint8_t *)"WC99999999999", 13, &s) < 0);
    CHECK(wc_seq_decode((const uint8_t *)"wc0000000042:", 13, &s) < 0);
    return check_done("test_cli");
}
