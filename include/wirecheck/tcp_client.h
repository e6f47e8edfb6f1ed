/* tcp_client.h - the pipelined TCP client: stdin lines out, upper-cased replies back. */
#ifndef WIRECHECK_TCP_CLIENT_H
#define WIRECHECK_TCP_CLIENT_H

#include "wirecheck/log.h"

#include <stddef.h>

#define WC_TCP_CLIENT_DEFAULT_WINDOW (256 * 1024)
#define WC_TCP_CLIENT_DEFAULT_TIMEOUT_MS 10000

struct wc_tcp_client_config {
    const char *host, *port;
    int family;
    int in_fd, out_fd;          /* usually 0 and 1 */
    size_t window;              /* most request bytes awaiting their reply */
    long long timeout_ms;       /* connect, and longest wait without progress */
    int raw;                    /* print replies as they are, no "FROM SERVER: " */
    int check;                  /* compare each reply byte with upper(request byte) */
    int nodelay;
    int verbose;                /* log the connection's addresses */
    wc_log_fn *log;             /* messages for people; NULL: none */
};

struct wc_tcp_client_result {
    unsigned long long bytes_sent, bytes_recv, lines_sent, lines_recv;
    unsigned long long mismatch_at;     /* first differing stream offset, valid when mismatched */
    int mismatched;
    unsigned char expected, got;
};

void wc_tcp_client_defaults(struct wc_tcp_client_config *cfg);

/* Runs one session: sends in_fd to the server while reading replies, with at
 * most cfg->window bytes unanswered, and half-closes after the input's end.
 * Returns 0 once every byte has its reply (res->mismatched says whether one
 * differed, and where), or -1 with the reason in errbuf (connect failure,
 * timeout, early close). */
int wc_tcp_client_run(const struct wc_tcp_client_config *cfg, struct wc_tcp_client_result *res,
                      char *errbuf, size_t errlen);

#endif
