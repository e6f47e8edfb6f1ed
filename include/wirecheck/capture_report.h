/* capture_report.h - the sniffer's end-of-run summary, for people and for machines (--json), from a read-only view. */
#ifndef WIRECHECK_CAPTURE_REPORT_H
#define WIRECHECK_CAPTURE_REPORT_H

#include "wirecheck/capture.h"

#include <stdio.h>

/* The end-of-run summary: per interface, packets written (live: received and dropped);
 * per flow, handshake, RTT, segments, bytes, retransmissions, out-of-order, close; UDP datagrams with loss,
 * duplicates and reordering. As lines for people, or as JSON; the JSON returns 0 or -EIO. */
void wc_sniff_report_text(const struct wc_sniff *s, FILE *f);
int wc_sniff_report_json(const struct wc_sniff *s, FILE *f);

#endif
