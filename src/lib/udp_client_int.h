/* udp_client_int.h - the UDP client's private state, shared by the exchange (udp_client.c) and its summary
 * (udp_client_report.c). */
#ifndef WIRECHECK_UDP_CLIENT_INT_H
#define WIRECHECK_UDP_CLIENT_INT_H

#include "wirecheck/udp_client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { PENDING, ANSWERED, LOST };

struct msg {
    unsigned long long sent_ns;     /* of the latest try */
    unsigned long long rtt_ns;
    uint8_t *data;                  /* stdin lines only; generated ones are rebuilt */
    uint32_t len;
    uint16_t tries, replies;
    uint8_t state;
};

struct client {
    const struct wc_udp_client_config *cfg;
    int fd;
    struct msg *m;
    size_t nm, cap;
    uint32_t *outstanding;          /* indices of PENDING messages */
    int nout;
    bool input_done;
    uint8_t *rbuf, *sbuf;
    char *line;
    size_t linecap;
    unsigned long long answered, dup, reordered, late, mismatched, retrans, stray, refused;
    long long max_seq;              /* highest message index answered so far */
    bool mismatch_logged, refused_logged;
};

/* The summary line through cfg->log, and cfg->json_path (a failure to write it is logged, not fatal). */
void wc_udp_client_report(const struct client *c);

#endif
