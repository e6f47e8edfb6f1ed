/* fuzz_decode.c - the packet decoder on arbitrary bytes, under every link type it knows and one it does not. */
#include "wirecheck/decode.h"

#include "fuzz.h"

#include <arpa/inet.h>
#include <string.h>

static const int linktypes[] = {
    WC_LINK_NULL, WC_LINK_ETHERNET, WC_LINK_RAW, 12, WC_LINK_LINUX_SLL,
    WC_LINK_IPV4, WC_LINK_IPV6, WC_LINK_LINUX_SLL2, 147,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < sizeof linktypes / sizeof linktypes[0]; i++) {
        struct wc_packet pkt;
        char addr[INET6_ADDRSTRLEN + 1];
        int r = wc_decode(data, size, linktypes[i], &pkt);

        FUZZ_CHECK(r == 0 || r == -1);
        FUZZ_CHECK((r < 0) == (pkt.reason != NULL));
        FUZZ_CHECK(pkt.ip_version == 0 || pkt.ip_version == 4 || pkt.ip_version == 6);
        if (pkt.ip_version) {
            wc_addr_str(pkt.ip_version, pkt.src, addr, sizeof addr);
            wc_addr_str(pkt.ip_version, pkt.dst, addr, sizeof addr);
        }
        if (r < 0 || !pkt.has_l4)
            continue;
        FUZZ_CHECK(pkt.proto == 6 || pkt.proto == 17);
        FUZZ_CHECK(pkt.payload_caplen <= pkt.payload_len);
        FUZZ_CHECK((pkt.payload == NULL) == (pkt.payload_caplen == 0));
        if (pkt.payload) {
            /* The payload lies inside the buffer; reading its ends lets ASan confirm it. */
            volatile uint8_t ends;

            FUZZ_CHECK(pkt.payload >= data && pkt.payload + pkt.payload_caplen <= data + size);
            ends = pkt.payload[0] ^ pkt.payload[pkt.payload_caplen - 1];
            (void)ends;
        }
        FUZZ_CHECK(pkt.wscale >= -1 && pkt.wscale <= 255);
    }
    return 0;
}
