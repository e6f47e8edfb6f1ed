/* capture_print.c - the sniffer's -v line per packet, like tcpdump -n, with its label. */
#include "capture_int.h"

#include "wirecheck/decode.h"
#include "wirecheck/pcapng.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <time.h>

void wc_sniff_print(FILE *o, const char *ifname, const struct rec *rec, const struct wc_packet *pkt, int ok,
                    unsigned dir, const char *label)
{
    char a[INET6_ADDRSTRLEN + 1], b[INET6_ADDRSTRLEN + 1], tbuf[32];
    time_t sec = (time_t)(rec->ts / 1000000000u);
    struct tm tm;

    localtime_r(&sec, &tm);
    strftime(tbuf, sizeof tbuf, "%H:%M:%S", &tm);
    fprintf(o, "%s.%09ld %s %s ", tbuf, (long)(rec->ts % 1000000000u), ifname,
            dir == WC_DIR_IN ? "In " : dir == WC_DIR_OUT ? "Out" : "-  ");
    if (!ok) {
        fprintf(o, "malformed (%s), length %u\n", pkt->reason, rec->len);
        return;
    }
    if (!pkt->ip_version) {
        fprintf(o, "ethertype 0x%04x, length %u\n", pkt->ethertype, rec->len);
        return;
    }
    wc_addr_str(pkt->ip_version, pkt->src, a, sizeof a);
    wc_addr_str(pkt->ip_version, pkt->dst, b, sizeof b);
    if (!pkt->has_l4) {
        fprintf(o, "%s %s > %s: proto %u%s, length %u\n", pkt->ip_version == 6 ? "IP6" : "IP", a, b,
                pkt->proto, pkt->is_fragment ? " (fragment)" : "", rec->len);
        return;
    }
    fprintf(o, "%s %s.%u > %s.%u: ", pkt->ip_version == 6 ? "IP6" : "IP", a, pkt->sport, b, pkt->dport);
    if (pkt->proto == 6) {
        static const char fl[] = "FSRP.UEW";
        char flags[9];
        size_t n = 0;

        for (int i = 0; i < 8; i++)
            if (pkt->tcp_flags & (1 << i) && i != 4)
                flags[n++] = fl[i];
        if (pkt->tcp_flags & WC_TCP_ACK)
            flags[n++] = '.';
        flags[n] = '\0';
        fprintf(o, "Flags [%s], seq %u, ack %u, win %u, ", flags, pkt->seq, pkt->ack, pkt->window);
        if (pkt->mss)
            fprintf(o, "mss %u, ", pkt->mss);
        fprintf(o, "length %u", pkt->payload_len);
    } else {
        fprintf(o, "UDP, length %u", pkt->payload_len);
    }
    fprintf(o, "%s%s\n", *label ? "  # " : "", label);
}
