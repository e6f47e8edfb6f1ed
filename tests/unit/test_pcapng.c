/* test_pcapng.c - files from our writer read back by libpcap; errors and the .partial name. */
#include "wirecheck/pcapng.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>



/* One packet through wc_pcapng_write_epb: dir in epb_flags (0: left out), comment as its one opt_comment. */
static int write_packet(struct wc_pcapng *w, uint32_t ifid, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
                        uint32_t origlen, unsigned dir, const char *comment)
{
    struct wc_pcapng_str c = {comment, comment ? strlen(comment) : 0};
    struct wc_pcapng_epb e = {ifid, ts_ns, data, caplen, origlen, dir & 3u, &c, comment != NULL};

    return wc_pcapng_write_epb(w, &e);
}

static void test_roundtrip(const char *dir)
{
    static const char *const comments[] = {"scenario: unit test", "second line\n"};
    struct wc_pcapng_section sec = {comments, 2, "Linux", "test_pcapng"};
    struct wc_pcapng_iface a = {"veth0@ns-client", "client side", "tcp port 6789", 1, 262144};
    struct wc_pcapng_iface b = {"veth1@ns-server", NULL, NULL, 1, 262144};
    char path[512], partial[600], ebuf[PCAP_ERRBUF_SIZE];
    uint8_t pkt[3][300];
    uint32_t lens[3] = {60, 1, 299};
    struct wc_pcapng *w;
    struct pcap_pkthdr *h;
    const u_char *data;
    pcap_t *p;

    snprintf(path, sizeof path, "%s/roundtrip.pcapng", dir);
    snprintf(partial, sizeof partial, "%s%s", path, WC_PCAPNG_PARTIAL_SUFFIX);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 300; j++)
            pkt[i][j] = (uint8_t)(i * 31 + j);
    CHECK_EQ("open", 0, wc_pcapng_open(&w, path, &sec));
    CHECK_EQ("iface a", 0, wc_pcapng_add_iface(w, &a));
    CHECK_EQ("iface b", 1, wc_pcapng_add_iface(w, &b));
    CHECK_EQ("unknown iface", -EINVAL, write_packet(w, 2, 0, pkt[0], 10, 10, 0, NULL));
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ("packet", 0, write_packet(w, i % 2, 1700000000123456789ull + i, pkt[i],
                                                     lens[i], lens[i] + 5, i % 3, i ? "a label" : NULL));
    CHECK_EQ("flush", 0, wc_pcapng_flush(w));
    CHECK_EQ("final name absent before close", -1, access(path, F_OK));
    CHECK_EQ("stats", 0, wc_pcapng_write_stats(w, 0, 1700000001000000000ull, 1700000000000000000ull,
                                               1700000001000000000ull, 3, 0));
    CHECK_EQ("close", 0, wc_pcapng_close(w));
    CHECK_EQ("partial renamed", -1, access(partial, F_OK));

    p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!p) {
        fprintf(stderr, "pcap_open_offline: %s\n", ebuf);
        check_failures++;
        return;
    }
    CHECK_EQ("linktype", DLT_EN10MB, pcap_datalink(p));
    for (uint32_t i = 0; i < 3; i++) {
        CHECK_EQ("next", 1, pcap_next_ex(p, &h, &data));
        if (check_failures)
            break;
        CHECK_EQ("caplen", lens[i], h->caplen);
        CHECK_EQ("len", lens[i] + 5, h->len);
        CHECK_EQ("seconds", 1700000000, h->ts.tv_sec);
        CHECK_EQ("nanoseconds", 123456789 + i, h->ts.tv_usec);
        CHECK_BYTES(pkt[i], data, lens[i]);
    }
    CHECK_EQ("end of file", PCAP_ERROR_BREAK, pcap_next_ex(p, &h, &data));
    pcap_close(p);
    unlink(path);
}

/* The option of code `code` in the first block of kind `type`, found by walking the file's blocks. */
static const uint8_t *find_option(const uint8_t *f, size_t n, uint32_t type, uint16_t code, uint16_t *len)
{
    for (size_t pos = 0; pos + 12 <= n;) {
        uint32_t bt, bl;
        size_t q, end;

        memcpy(&bt, f + pos, 4);
        memcpy(&bl, f + pos + 4, 4);
        if (bl < 12 || pos + bl > n)
            return NULL;
        if (bt == type) {
            q = pos + (type == 0x0A0D0D0Au ? 24 : 8);
            end = pos + bl - 4;
            if (type == 6) {
                uint32_t caplen;

                memcpy(&caplen, f + pos + 20, 4);
                q = pos + 28 + ((caplen + 3) & ~3u);
            }
            while (q + 4 <= end) {
                uint16_t c, l;

                memcpy(&c, f + q, 2);
                memcpy(&l, f + q + 2, 2);
                if (c == 0)
                    break;
                if (c == code) {
                    *len = l;
                    return f + q + 4;
                }
                q += 4 + ((l + 3u) & ~3u);
            }
            return NULL;
        }
        pos += bl;
    }
    return NULL;
}

/* Comments go out without trailing newlines (tshark prints them as a literal \n); shb_userappl is whole. */
static void test_option_text(const char *dir)
{
    static const char *const comments[] = {"first line\n\n"};
    char appl[300], path[512];
    struct wc_pcapng_section sec = {comments, 1, "Linux", appl};
    struct wc_pcapng_iface a = {"lo", NULL, NULL, 1, 262144};
    uint8_t pkt[60] = {0}, f[4096];
    struct wc_pcapng *w;
    const uint8_t *v;
    uint16_t len = 0;
    ssize_t n;
    int fd;

    memset(appl, 'a', sizeof appl - 1);
    appl[sizeof appl - 1] = '\0';
    snprintf(path, sizeof path, "%s/text.pcapng", dir);
    CHECK_EQ("open", 0, wc_pcapng_open(&w, path, &sec));
    CHECK_EQ("iface", 0, wc_pcapng_add_iface(w, &a));
    CHECK_EQ("packet", 0, write_packet(w, 0, 1, pkt, sizeof pkt, sizeof pkt, 1, "udp seq=1\n"));
    CHECK_EQ("close", 0, wc_pcapng_close(w));
    fd = open(path, O_RDONLY);
    n = fd >= 0 ? read(fd, f, sizeof f) : -1;
    if (fd >= 0)
        close(fd);
    CHECK(n > 0);
    if (n <= 0)
        return;
    v = find_option(f, (size_t)n, 0x0A0D0D0Au, 1, &len);
    CHECK(v != NULL);
    CHECK_EQ("section comment length", 10, len);
    v = find_option(f, (size_t)n, 0x0A0D0D0Au, 4, &len);
    CHECK(v != NULL);
    CHECK_EQ("shb_userappl length", (int)sizeof appl - 1, len);
    v = find_option(f, (size_t)n, 6, 1, &len);
    CHECK(v != NULL);
    CHECK_EQ("packet comment length", 9, len);
    if (v)
        CHECK_BYTES((const uint8_t *)"udp seq=1", v, 9);
    unlink(path);
}

static void test_write_errors(const char *dir)
{
    struct wc_pcapng_iface a = {"lo", NULL, NULL, 1, 262144};
    struct wc_pcapng *w;
    uint8_t big[4096] = {0};
    char path[512], partial[600];
    int fd = open("/dev/full", O_WRONLY), r = 0;

    if (fd >= 0) {
        CHECK_EQ("fdopen", 0, wc_pcapng_fdopen(&w, fd, NULL));
        CHECK_EQ("iface", 0, wc_pcapng_add_iface(w, &a));
        CHECK_EQ("full disk", -ENOSPC, wc_pcapng_flush(w));
        CHECK_EQ("error sticks", -ENOSPC, write_packet(w, 0, 1, big, 100, 100, 0, NULL));
        CHECK_EQ("close reports it", -ENOSPC, wc_pcapng_close(w));
        close(fd);
    }
    /* A block larger than the buffer is refused, not overflowed. */
    snprintf(path, sizeof path, "%s/big.pcapng", dir);
    snprintf(partial, sizeof partial, "%s%s", path, WC_PCAPNG_PARTIAL_SUFFIX);
    CHECK_EQ("open", 0, wc_pcapng_open(&w, path, NULL));
    CHECK_EQ("iface", 0, wc_pcapng_add_iface(w, &a));
    for (int i = 0; i < 300 && r == 0; i++)   /* more than the buffer: flushes in between */
        r = write_packet(w, 0, 1, big, sizeof big, sizeof big, 1, "x");
    CHECK_EQ("many packets", 0, r);
    CHECK_EQ("oversized block", -EMSGSIZE,
             write_packet(w, 0, 1, big, WC_PCAPNG_BUFFER_SIZE, WC_PCAPNG_BUFFER_SIZE, 0, NULL));
    CHECK_EQ("close after an error", -EMSGSIZE, wc_pcapng_close(w));
    CHECK_EQ("no final name after an error", -1, access(path, F_OK));
    CHECK_EQ("partial kept", 0, access(partial, F_OK));
    unlink(partial);
    snprintf(path, sizeof path, "%s/no/such/dir/x.pcapng", dir);
    CHECK_EQ("open in a missing directory", -ENOENT, wc_pcapng_open(&w, path, NULL));
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = malloc(1 << 16);

    *len = f && b ? fread(b, 1, 1 << 16, f) : 0;
    if (f)
        fclose(f);
    return b;
}

/* Blocks encoded now and written later (the sniffer's reorder stage), back to back, are byte for byte what
 * wc_pcapng_write_epb writes, under the interface id of the file they go to. */
static void test_encoded_block(const char *dir)
{
    struct wc_pcapng_iface a = {"lo", NULL, NULL, 1, 262144};
    static const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7};
    struct wc_pcapng_str c[2] = {{"udp seq=7\n", 10}, {"second", 6}};
    struct wc_pcapng_epb e = {0, 1700000000123456789ull, data, sizeof data, 60, 2, c, 2};
    uint8_t block[256];
    struct wc_pcapng *w;
    char direct[512], later[512];
    uint8_t *x, *y;
    size_t n, nx = 0, ny = 0;

    snprintf(direct, sizeof direct, "%s/direct.pcapng", dir);
    snprintf(later, sizeof later, "%s/later.pcapng", dir);
    CHECK_EQ("open", 0, wc_pcapng_open(&w, direct, NULL));
    CHECK_EQ("iface 0", 0, wc_pcapng_add_iface(w, &a));
    CHECK_EQ("iface 1", 1, wc_pcapng_add_iface(w, &a));
    e.ifid = 1;
    CHECK_EQ("direct", 0, wc_pcapng_write_epb(w, &e));
    e.ncomments = 1;
    CHECK_EQ("direct, one comment", 0, wc_pcapng_write_epb(w, &e));
    CHECK_EQ("close", 0, wc_pcapng_close(w));

    e.ifid = 0;
    e.ncomments = 2;
    n = wc_pcapng_epb_encode(block, &e);
    CHECK_EQ("encoded size", wc_pcapng_epb_size(&e), n);
    e.ncomments = 1;
    n += wc_pcapng_epb_encode(block + n, &e);
    CHECK_EQ("open", 0, wc_pcapng_open(&w, later, NULL));
    CHECK_EQ("iface 0", 0, wc_pcapng_add_iface(w, &a));
    CHECK_EQ("iface 1", 1, wc_pcapng_add_iface(w, &a));
    CHECK_EQ("unknown interface", -EINVAL, wc_pcapng_write_epb_blocks(w, block, n, 2));
    CHECK_EQ("not whole blocks", -EINVAL, wc_pcapng_write_epb_blocks(w, block, n - 4, 1));
    CHECK_EQ("as interface 1", 0, wc_pcapng_write_epb_blocks(w, block, n, 1));
    CHECK_EQ("close", 0, wc_pcapng_close(w));
    CHECK_EQ("the blocks keep their own interface id", 0, block[8]);

    x = slurp(direct, &nx);
    y = slurp(later, &ny);
    CHECK_EQ("file sizes", nx, ny);
    if (x && y && nx == ny)
        CHECK_BYTES(x, y, nx);
    free(x);
    free(y);
    unlink(direct);
    unlink(later);
}

int main(void)
{
    char dir[] = "/tmp/wc-test-pcapng-XXXXXX";

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_roundtrip(dir);
    test_option_text(dir);
    test_write_errors(dir);
    test_encoded_block(dir);
    rmdir(dir);
    return check_done("test_pcapng");
}
