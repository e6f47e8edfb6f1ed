/* udp_client.h - the UDP client: one datagram per line or generated message, with attribution. */
#ifndef WIRECHECK_UDP_CLIENT_H
#define WIRECHECK_UDP_CLIENT_H

#include "wirecheck/log.h"

#include <stdio.h>

#define WC_UDP_CLIENT_DEFAULT_TIMEOUT_MS 1000
#define WC_UDP_CLIENT_MAX_WINDOW 4096

struct wc_udp_client_config {
    const char *host, *port;
    int family;
    FILE *in;                   /* lines to send when count is 0 */
    int out_fd;
    long long timeout_ms;       /* per try */
    int retries;                /* extra tries after a timeout */
    int seq;                    /* tag each message so replies are attributed exactly */
    long long count;            /* generate this many messages instead of reading lines */
    long long size;             /* bytes per generated message */
    double rate;                /* messages per second; 0: as fast as the window allows */
    int window;                 /* messages awaiting a reply at once (needs seq above 1) */
    long long linger_ms;        /* keep listening this long after the last reply, for duplicates */
    int raw, quiet, verbose;
    const char *json_path;      /* write the summary as JSON here */
    wc_log_fn *log;             /* the summary and messages for people; NULL: none */
};

struct wc_udp_client_result {
    unsigned long long sent, answered, mismatched;
};

void wc_udp_client_defaults(struct wc_udp_client_config *cfg);

/* Sends every message and waits for the replies; prints replies to out_fd
 * and passes the summary to cfg->log. Returns 0 with the counts in *res
 * (some unanswered or wrong), or -1 with the reason in errbuf. */
int wc_udp_client_run(const struct wc_udp_client_config *cfg, struct wc_udp_client_result *res, char *errbuf,
                      size_t errlen);

#endif
