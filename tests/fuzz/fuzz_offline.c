/* fuzz_offline.c - the offline labelling on arbitrary bytes, through both readers: our pcapread (what
 * sniffer -r uses) labels every packet per interface with its link type; libpcap reads the bytes from memory
 * (fmemopen) into our decoder, flow labels and pcapng writer, whose output libpcap must read back whole. */
#include "wirecheck/decode.h"
#include "wirecheck/flow.h"
#include "wirecheck/pcapng.h"
#include "wirecheck/pcapread.h"

#include "fuzz.h"

#include <pcap/pcap.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int out_fd = -1;

/* What we wrote, read back by libpcap: it must hold every packet we were given. */
static uint64_t count_packets(int fd)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const u_char *bytes;
    off_t len = lseek(fd, 0, SEEK_END);
    uint64_t n = 0;
    void *m;
    FILE *fp;
    pcap_t *p;

    FUZZ_CHECK(len > 0 && (m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0)) != MAP_FAILED);
    FUZZ_CHECK(fp = fmemopen(m, (size_t)len, "r"));
    p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!p)
        fprintf(stderr, "libpcap refuses what we wrote: %s\n", errbuf);
    FUZZ_CHECK(p);
    while (pcap_next_ex(p, &h, &bytes) == 1)
        n++;
    pcap_close(p);
    munmap(m, (size_t)len);
    return n;
}

/* Our reader: each packet decoded with its own interface's link type and labelled in that interface's flows. */
static void label_with_pcapread(const uint8_t *data, size_t size)
{
    static struct wc_pcapread_packet pkt;
    char err[256], label[WC_LABEL_SIZE];
    struct wc_pcapread *r;
    struct wc_flows *flows;
    struct wc_packet dec;

    if (wc_pcapread_open(&r, data, size, err, sizeof err) < 0)
        return;
    FUZZ_CHECK(flows = wc_flows_new(16));
    while (wc_pcapread_next(r, &pkt) > 0) {
        const struct wc_pcapread_iface *f = wc_pcapread_iface(r, pkt.iface);

        FUZZ_CHECK(f);
        if (wc_decode(pkt.data, pkt.caplen, f->linktype, &dec) == 0)
            wc_flows_track(flows, pkt.iface, pkt.ts_ns, &dec, label, sizeof label);
    }
    wc_flows_free(flows);
    wc_pcapread_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errbuf[PCAP_ERRBUF_SIZE], label[WC_LABEL_SIZE + 64];
    struct wc_pcapng_iface ifc = {.name = "fuzz"};
    struct wc_pcapng *w;
    struct wc_flows *flows;
    struct pcap_pkthdr *h;
    const u_char *bytes;
    uint64_t n = 0;
    FILE *fp;
    pcap_t *p;
    int r;

    label_with_pcapread(data, size);
    if (size == 0 || !(fp = fmemopen((void *)(uintptr_t)data, size, "r")))
        return 0;
    if (!(p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf))) {
        fclose(fp);
        return 0;
    }
    if (out_fd < 0)
        FUZZ_CHECK((out_fd = memfd_create("fuzz_offline", MFD_CLOEXEC)) >= 0);
    FUZZ_CHECK(ftruncate(out_fd, 0) == 0 && lseek(out_fd, 0, SEEK_SET) == 0);
    FUZZ_CHECK(flows = wc_flows_new(16));
    FUZZ_CHECK(wc_pcapng_fdopen(&w, out_fd, NULL) == 0);
    ifc.linktype = (uint16_t)pcap_datalink(p);
    ifc.snaplen = (uint32_t)pcap_snapshot(p);
    FUZZ_CHECK(wc_pcapng_add_iface(w, &ifc) == 0);
    while ((r = pcap_next_ex(p, &h, &bytes)) == 1) {
        uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
        struct wc_packet pkt;

        FUZZ_CHECK(h->caplen <= (uint32_t)pcap_snapshot(p) || pcap_snapshot(p) == 0);
        if (wc_decode(bytes, h->caplen, pcap_datalink(p), &pkt) < 0)
            snprintf(label, sizeof label, "malformed: %s", pkt.reason);
        else
            wc_flows_track(flows, 0, ts, &pkt, label, sizeof label);
        {
            struct wc_pcapng_str c = {label, strlen(label)};
            struct wc_pcapng_epb e = {0, ts, bytes, h->caplen, h->len, WC_DIR_UNKNOWN, &c, *label != '\0'};

            FUZZ_CHECK(wc_pcapng_write_epb(w, &e) == 0);
        }
        n++;
    }
    FUZZ_CHECK(r == PCAP_ERROR_BREAK || r == PCAP_ERROR);
    FUZZ_CHECK(wc_pcapng_close(w) == 0);
    pcap_close(p);
    wc_flows_free(flows);
    FUZZ_CHECK(count_packets(out_fd) == n);
    return 0;
}
