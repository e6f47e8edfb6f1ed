/* udp_client.h - the UDP client: one datagram per line or generated message, with attribution. */
#ifndef WIRECHECK_UDP_CLIENT_H
#define WIRECHECK_UDP_CLIENT_H

#include <stdio.h>

#define WC_UDP_CLIENT_DEFAULT_TIMEOUT_MS 1000
#define WC_UDP_CLIENT_MAX_WINDOW 4096
#define WC_UDP_MAX_DATAGRAM 65507       /* the largest UDP payload over IPv4 */

/* Exit codes beyond cli.h's: a message went unanswered, or a reply was not
 * the upper case of its request. */
enum { WC_EXIT_LOST = 3, WC_EXIT_WRONG_REPLY = 4 };

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
};

void wc_udp_client_defaults(struct wc_udp_client_config *cfg);

/* Sends every message and waits for the replies; prints replies to out_fd
 * and the summary to stderr. Returns WC_EXIT_OK, WC_EXIT_LOST,
 * WC_EXIT_WRONG_REPLY, or WC_EXIT_RUNTIME with the reason in errbuf. */
int wc_udp_client_run(const struct wc_udp_client_config *cfg, char *errbuf, size_t errlen);

#endif
