/* test_capture_order.c - the sniffer writes in timestamp order: a file whose two interfaces interleave out of
 * order comes out of `sniffer -r IN -w OUT` merged by time (equal times keep their order), each packet on its
 * own interface with its label, and each interface in its own order (a packet stamped before the one ahead of
 * it takes that one's time); a packet later than the window is written anyway, at the time of the one written
 * before it (the file stays in time order), counted and warned about; many
 * packets go through the stage's chunks in runs and come out in order. */
#include "wirecheck/capture.h"
#include "check.h"

#include "wirecheck/pcapng.h"
#include "wirecheck/pcapread.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An Ethernet/IPv4/UDP frame from 10.0.0.1:sport to 10.0.0.2:9 with 4 bytes of payload. */
static void frame(uint8_t f[46], uint16_t sport)
{
    static const uint8_t hdr[34] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
                                    0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};

    memcpy(f, hdr, sizeof hdr);
    f[34] = (uint8_t)(sport >> 8);
    f[35] = (uint8_t)sport;
    f[36] = 0;
    f[37] = 9;
    f[38] = 0;
    f[39] = 12;
    f[40] = f[41] = 0;
    memcpy(f + 42, "abcd", 4);
}

struct in_pkt {
    uint32_t ifid;
    uint64_t ms;
    uint16_t sport;
};

static char warned[512];
static uint64_t restamped[2], restamped_max_ns[2];   /* of the last run, per interface */
static enum wc_sniff_format out_format;               /* of the runs' output */

static void on_warn(void *arg, const char *msg)
{
    (void)arg;
    snprintf(warned, sizeof warned, "%s", msg);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    struct stat st;
    uint8_t *b = NULL;
    int fd = open(path, O_RDONLY);

    if (fd >= 0 && fstat(fd, &st) == 0 && (b = malloc((size_t)st.st_size + 1)) &&
        read(fd, b, (size_t)st.st_size) == st.st_size)
        *len = (size_t)st.st_size;
    else {
        free(b);
        b = NULL;
    }
    if (fd >= 0)
        close(fd);
    return b;
}

/* Writes pkts to in, runs the sniffer offline into out, returns the number of packets read back into
 * got (in file order) and fills their interface ids. */
static size_t run(const char *dir, const struct in_pkt *pkts, size_t n, struct in_pkt *got, uint64_t *late_warned)
{
    struct wc_pcapng_iface ifc[2] = {{"client", NULL, NULL, 1, 262144}, {"server", NULL, NULL, 1, 262144}};
    char in[512], out[512];
    struct wc_sniff_config cfg;
    struct wc_sniff *s;
    struct wc_pcapng *w;
    struct wc_pcapread *rd;
    struct wc_pcapread_packet *p = malloc(sizeof *p);
    char ebuf[256];
    uint8_t f[46], *buf;
    size_t len = 0, k = 0;

    snprintf(in, sizeof in, "%s/in.pcapng", dir);
    snprintf(out, sizeof out, "%s/out.pcapng", dir);
    CHECK_EQ("open", 0, wc_pcapng_open(&w, in, NULL));
    CHECK_EQ("iface 0", 0, wc_pcapng_add_iface(w, &ifc[0]));
    CHECK_EQ("iface 1", 1, wc_pcapng_add_iface(w, &ifc[1]));
    for (size_t i = 0; i < n; i++) {
        struct wc_pcapng_epb e = {pkts[i].ifid, 1700000000000000000ull + pkts[i].ms * 1000000ull, f, 46, 46, 0,
                                  NULL, 0};

        frame(f, pkts[i].sport);
        CHECK_EQ("packet", 0, wc_pcapng_write_epb(w, &e));
    }
    CHECK_EQ("close", 0, wc_pcapng_close(w));

    wc_sniff_defaults(&cfg);
    cfg.read_file = in;
    cfg.write_file = out;
    cfg.format = out_format;
    cfg.warn = on_warn;
    warned[0] = '\0';
    CHECK((s = wc_sniff_new(&cfg)) != NULL);
    CHECK_EQ("activate", 0, wc_sniff_activate(s));
    CHECK_EQ("loop", 0, wc_sniff_loop(s));
    for (size_t i = 0; i < 2; i++) {
        restamped[i] = wc_sniff_iface(s, i)->restamped;
        restamped_max_ns[i] = wc_sniff_iface(s, i)->restamped_max_ns;
    }
    CHECK_EQ("finish", 0, wc_sniff_finish(s));
    wc_sniff_close(s);
    *late_warned = warned[0] ? strtoull(warned, NULL, 10) : 0;

    CHECK((buf = slurp(out, &len)) != NULL);
    if (!buf || !p) {
        free(p);
        return 0;
    }
    CHECK_EQ("read back", 0, wc_pcapread_open(&rd, buf, len, ebuf, sizeof ebuf));
    while (k < n && wc_pcapread_next(rd, p) == 1) {
        got[k].ifid = p->iface;
        got[k].ms = (p->ts_ns - 1700000000000000000ull) / 1000000ull;
        got[k].sport = (uint16_t)(p->data[34] << 8 | p->data[35]);
        CHECK_EQ("one label per packet (pcap: none)", out_format == WC_FORMAT_PCAP ? 0 : 1, p->ncomments);
        k++;
    }
    wc_pcapread_close(rd);
    free(buf);
    free(p);
    unlink(in);
    unlink(out);
    return k;
}

static void test_sorted(const char *dir)
{
    /* The client side read in one block, then the server side's older packets; a tie keeps its order. The
     * client side's 8 and 9 come after 4 but are stamped before it: they stay after it, at its time. */
    static const struct in_pkt pkts[] = {
        {0, 1000, 1}, {0, 1010, 2}, {0, 1020, 3}, {0, 1040, 4}, {1, 1005, 5}, {1, 1015, 6},
        {1, 1020, 7}, {0, 1030, 8}, {0, 1025, 9}, {1, 1900, 10}, {0, 1100, 11},
    };
    static const uint16_t want[] = {1, 5, 2, 6, 3, 7, 4, 8, 9, 11, 10};
    static const uint64_t want_ms[] = {1000, 1005, 1010, 1015, 1020, 1020, 1040, 1040, 1040, 1100, 1900};
    struct in_pkt got[16];
    uint64_t late;
    size_t n = run(dir, pkts, sizeof pkts / sizeof pkts[0], got, &late);

    CHECK_EQ("packets", sizeof want / sizeof want[0], n);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ("order (source port)", want[i], got[i].sport);
        CHECK_EQ("its interface", pkts[want[i] - 1].ifid, got[i].ifid);
        CHECK_EQ("its time", want_ms[i], got[i].ms);
    }
    CHECK_EQ("client side: two restamped", 2, restamped[0]);
    CHECK_EQ("by 15 ms at most", 15000000, restamped_max_ns[0]);
    CHECK_EQ("server side: none", 0, restamped[1]);
    CHECK_EQ("no packet late", 0, late);
}

static void test_later_than_the_window(const char *dir)
{
    /* 10 s behind the newest: written, not lost, at the time of the packet written before it; the warning
     * counts it. */
    static const struct in_pkt pkts[] = {{0, 20000, 1}, {0, 30000, 2}, {1, 19000, 3}, {1, 30001, 4}};
    struct in_pkt got[4];
    uint64_t late;

    CHECK_EQ("packets", 4, run(dir, pkts, 4, got, &late));
    CHECK_EQ("late ones counted", 1, late);
    CHECK_EQ("the late one is written", 3, got[1].sport);
    CHECK_EQ("at the time of the one before it", 20000, got[1].ms);
    CHECK_EQ("which keeps its own", 20000, got[0].ms);
    /* The same in a pcap file, whose blocks carry their time elsewhere. */
    out_format = WC_FORMAT_PCAP;
    CHECK_EQ("pcap: packets", 4, run(dir, pkts, 4, got, &late));
    out_format = WC_FORMAT_PCAPNG;
    CHECK_EQ("pcap: late ones counted", 1, late);
    CHECK_EQ("pcap: the late one is written", 3, got[1].sport);
    CHECK_EQ("pcap: at the time of the one before it", 20000, got[1].ms);
}

static void test_many_blocks(const char *dir)
{
    /* 40,000 packets, 4 MiB of blocks: the stage fills and recycles its chunks, and each interface's blocks
     * leave in runs cut where the other interface's come first. The client side is read 100 ms at a time,
     * then the server side's same 100 ms; each millisecond has one packet on each. */
    enum { N = 40000, STEP = 100 };
    struct in_pkt *pkts = malloc(N * sizeof *pkts), *got = malloc(N * sizeof *got);
    size_t k = 0, n, bad = 0;
    uint64_t late;

    if (!pkts || !got) {
        CHECK(!"out of memory");
        free(pkts);
        free(got);
        return;
    }
    for (uint64_t t = 0; k < N; t += STEP)
        for (uint32_t ifid = 0; ifid < 2; ifid++)
            for (uint64_t j = 0; j < STEP; j++, k++)
                pkts[k] = (struct in_pkt){ifid, t + j, (uint16_t)k};
    n = run(dir, pkts, N, got, &late);
    CHECK_EQ("packets", N, n);
    CHECK_EQ("no packet late", 0, late);
    /* In time order; within a millisecond the client side's first, as it came first. */
    for (size_t i = 0; i < n; i++)
        if (got[i].ms != i / 2 || got[i].ifid != i % 2 ||
            got[i].sport != (uint16_t)((i / 2) / STEP * 2 * STEP + (i % 2) * STEP + (i / 2) % STEP))
            bad++;
    CHECK_EQ("packets out of place", 0, bad);
    free(pkts);
    free(got);
}

int main(void)
{
    char dir[] = "/tmp/wc-test-order-XXXXXX";

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_sorted(dir);
    test_later_than_the_window(dir);
    test_many_blocks(dir);
    rmdir(dir);
    return check_done("test_capture_order");
}
