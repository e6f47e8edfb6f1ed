/* fuzz_pcapng.c - a round trip: blocks from the input through our writer into a memfd, read back by
 * libpcap from memory (fmemopen), and every packet's interface, time, lengths and bytes compared. */
#include "wirecheck/pcapng.h"

#include "fuzz.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_PKTS 64

struct sent {
    uint32_t ifid, caplen, origlen;
    uint64_t ts;
    const uint8_t *data;
};

static int long_str_used;

/* A NUL-free string from the input: short ones are its bytes; one long one per input (20,000 to 80,000 bytes,
 * so that the writer must cut some at 65532) repeats one byte. No per-byte loop: coverage hooks would crawl. */
static char *take_str(struct fuzz_in *in)
{
    uint8_t len = fuzz_u8(in), c = fuzz_u8(in);
    int is_long = len >= 0xfc && !long_str_used++;
    size_t n = is_long ? (size_t)(len - 0xfb) * 20000 : len, k = 0;
    char *s = malloc(n + 1), *z;

    FUZZ_CHECK(s);
    if (!is_long) {
        k = n < in->n ? n : in->n;
        memcpy(s, in->p, k);
        in->p += k;
        in->n -= k;
    }
    memset(s + k, c ? c : 'x', n - k);
    s[n] = '\0';
    while ((z = memchr(s, '\0', n)))
        *z = c ? (char)c : 'x';
    return s;
}

static int rt_fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    /* LINKTYPE_ values written, and the DLT_ values libpcap reads them back as (RAW is 12 on Linux). */
    static const uint16_t lts[] = {1, 101, 113, 228, 229, 276, 147}, dlts[] = {1, 12, 113, 228, 229, 276, 147};
    static const uint32_t snaps[] = {0, 65535, 262144};
    char *strs[8] = {0}, errbuf[PCAP_ERRBUF_SIZE];
    struct sent sent[MAX_PKTS];
    struct wc_pcapng_section sec = {(const char *const *)strs, 0, NULL, NULL};
    struct wc_pcapng *w;
    uint8_t shape = fuzz_u8(&in), *file;
    uint32_t nifaces = (shape & 3) + 1, npkts = 0;
    uint16_t lt = lts[(shape >> 2) % 7], dlt = dlts[(shape >> 2) % 7];
    struct pcap_pkthdr *h;
    const u_char *bytes;
    off_t len;
    FILE *fp;
    pcap_t *p;
    int r;

    long_str_used = 0;
    if (rt_fd < 0)
        FUZZ_CHECK((rt_fd = memfd_create("fuzz_pcapng", MFD_CLOEXEC)) >= 0);
    FUZZ_CHECK(ftruncate(rt_fd, 0) == 0 && lseek(rt_fd, 0, SEEK_SET) == 0);
    /* libpcap 1.10.3 maps the first IDB's LINKTYPE_RAW (101) to DLT_RAW (12), then refuses a second
     * one of 101 as "a type different from the first interface": one interface for RAW. */
    if (lt == 101)
        nifaces = 1;
    sec.ncomments = shape >> 5 & 3;
    for (size_t i = 0; i < sec.ncomments; i++)
        strs[i] = take_str(&in);
    strs[3] = shape & 0x80 ? take_str(&in) : NULL;
    sec.os = strs[3];
    FUZZ_CHECK(wc_pcapng_fdopen(&w, rt_fd, &sec) == 0);
    for (uint32_t i = 0; i < nifaces; i++) {
        uint8_t opts = fuzz_u8(&in);
        /* libpcap wants one link type and one snapshot length in a section. */
        struct wc_pcapng_iface ifc = {.linktype = lt, .snaplen = snaps[shape % 3]};

        ifc.name = strs[4] = opts & 0x10 ? take_str(&in) : NULL;
        ifc.description = strs[5] = opts & 0x20 ? take_str(&in) : NULL;
        ifc.filter = strs[6] = opts & 0x40 ? take_str(&in) : NULL;
        FUZZ_CHECK(wc_pcapng_add_iface(w, &ifc) == (int)i);
        for (int k = 4; k < 7; k++) {
            free(strs[k]);
            strs[k] = NULL;
        }
    }
    while (in.n && npkts < MAX_PKTS) {
        uint8_t kind = fuzz_u8(&in);
        struct sent *s = &sent[npkts];

        s->ifid = kind % nifaces;
        s->ts = (uint64_t)fuzz_u32(&in) << (kind & 0x80 ? 32 : 0) | fuzz_u32(&in);
        if (kind & 0x40) {
            FUZZ_CHECK(wc_pcapng_write_stats(w, s->ifid, s->ts, fuzz_u32(&in), s->ts, fuzz_u32(&in),
                                             fuzz_u32(&in)) == 0);
            continue;
        }
        s->origlen = kind & 0x20 ? fuzz_u32(&in) : UINT32_MAX;
        strs[7] = kind & 0x10 ? take_str(&in) : NULL;
        s->caplen = fuzz_u16(&in);
        s->caplen = s->caplen < in.n ? s->caplen : (uint32_t)in.n;
        s->origlen = s->origlen == UINT32_MAX ? s->caplen : s->origlen;
        s->data = in.p;
        {
            struct wc_pcapng_str c = {strs[7], strs[7] ? strlen(strs[7]) : 0};
            struct wc_pcapng_epb e = {s->ifid, s->ts, s->data, s->caplen, s->origlen, kind >> 2 & 3, &c,
                                      strs[7] != NULL};

            FUZZ_CHECK(wc_pcapng_write_epb(w, &e) == 0);
        }
        free(strs[7]);
        strs[7] = NULL;
        in.p += s->caplen;
        in.n -= s->caplen;
        npkts++;
    }
    FUZZ_CHECK(wc_pcapng_write_epb(w, &(struct wc_pcapng_epb){.ifid = nifaces}) == -EINVAL);
    FUZZ_CHECK(wc_pcapng_close(w) == 0);
    for (size_t i = 0; i < 4; i++)
        free(strs[i]);

    FUZZ_CHECK((len = lseek(rt_fd, 0, SEEK_END)) > 0 && len % 4 == 0);
    file = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, rt_fd, 0);
    FUZZ_CHECK(file != MAP_FAILED && (fp = fmemopen(file, (size_t)len, "r")));
    p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!p)
        fprintf(stderr, "libpcap refuses what we wrote: %s\n", errbuf);
    FUZZ_CHECK(p && pcap_datalink(p) == dlt);
    for (uint32_t i = 0; i < npkts; i++) {
        const struct sent *s = &sent[i];
        r = pcap_next_ex(p, &h, &bytes);
        if (r != 1)
            fprintf(stderr, "packet %u of %u: pcap_next_ex %d: %s\n", i, npkts, r, pcap_geterr(p));
        FUZZ_CHECK(r == 1);
        FUZZ_CHECK(h->caplen == s->caplen && h->len == s->origlen);
        FUZZ_CHECK((uint64_t)h->ts.tv_sec == s->ts / 1000000000u &&
                   (uint64_t)h->ts.tv_usec == s->ts % 1000000000u);
        FUZZ_CHECK(s->caplen == 0 || memcmp(bytes, s->data, s->caplen) == 0);
    }
    if ((r = pcap_next_ex(p, &h, &bytes)) != PCAP_ERROR_BREAK)
        fprintf(stderr, "after %u packets: pcap_next_ex %d: %s\n", npkts, r, pcap_geterr(p));
    FUZZ_CHECK(r == PCAP_ERROR_BREAK);
    pcap_close(p);
    munmap(file, (size_t)len);
    return 0;
}
