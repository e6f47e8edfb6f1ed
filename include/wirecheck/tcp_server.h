/* tcp_server.h - the TCP uppercase server: epoll workers, bounded buffers, graceful stop. */
#ifndef WIRECHECK_TCP_SERVER_H
#define WIRECHECK_TCP_SERVER_H

#include "wirecheck/log.h"

#include <stddef.h>

#define WC_TCP_DEFAULT_PORT "6789"
#define WC_TCP_READ_SIZE (128 * 1024)       /* bytes per read(); also the most held per connection */
#define WC_TCP_DEFAULT_MAX_CONNS 100000
#define WC_TCP_DEFAULT_GRACE_MS 5000

struct wc_tcp_server_config {
    const char *host;           /* bind address; NULL: all, IPv4 and IPv6 */
    const char *port;
    int family;                 /* AF_UNSPEC, AF_INET, AF_INET6 */
    int backlog;
    int workers;                /* event loops, one SO_REUSEPORT listener each */
    unsigned max_conns;         /* per worker; past it, accepting pauses */
    long long idle_ms;          /* close connections idle this long; 0: never */
    long long grace_ms;         /* after SIGINT/SIGTERM, time to finish replies */
    int nodelay;                /* TCP_NODELAY on accepted sockets */
    const char *user;           /* drop privileges to this user after binding */
    int verbose;                /* log connections */
    wc_log_fn *log;             /* messages for people; NULL: none */
};

/* Fills *cfg with the documented defaults. */
void wc_tcp_server_defaults(struct wc_tcp_server_config *cfg);

/* Serves until SIGINT, SIGTERM or SIGHUP, then stops accepting, finishes the
 * replies already requested (up to grace_ms) and returns 0. Returns -1 with
 * the reason in errbuf when it cannot start. Logs through cfg->log. */
int wc_tcp_server_run(const struct wc_tcp_server_config *cfg, char *errbuf, size_t errlen);

#endif
