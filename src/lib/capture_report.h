/* capture_report.h - the sniffer's end-of-run summary, for people (stderr) and machines (--json). */
#ifndef WIRECHECK_CAPTURE_REPORT_H
#define WIRECHECK_CAPTURE_REPORT_H

#include "capture_int.h"

/* Per interface: packets written (live: received and dropped); per flow: handshake, RTT, segments, bytes,
 * retransmissions, out-of-order, close; UDP datagrams with loss, duplicates and reordering. */
void wc_sniff_report_stderr(const struct sniff *s, int live);

/* The same as JSON into cfg->json_file ("-": stdout). Returns 0, or -1 via wc_sniff_fail. */
int wc_sniff_report_json(struct sniff *s, int live);

#endif
