/* sock.h - socket set-up shared by the four programs: resolve, listen, connect, name. */
#ifndef WIRECHECK_SOCK_H
#define WIRECHECK_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

#define WC_ERRBUF_SIZE 256
#define WC_ADDRSTR_SIZE 64           /* "[ffff:...:ffff%ifname]:65535" fits */
#define WC_MAX_LISTENERS 8
/* The largest UDP payload over IPv4: 65,535 less the IPv4 (20) and UDP (8) headers. */
#define WC_UDP_MAX_PAYLOAD_V4 65507
/* A buffer that holds any one UDP datagram's payload, IPv4 or IPv6 (the UDP length field is 16 bits). */
#define WC_UDP_DATAGRAM_BUFFER 65535

struct wc_listen_opts {
    const char *host;       /* NULL or "" or "*": every local address, IPv4 and IPv6 */
    const char *port;       /* number or service name */
    int socktype;           /* SOCK_STREAM or SOCK_DGRAM */
    int family;             /* AF_UNSPEC, AF_INET or AF_INET6 */
    int backlog;            /* SOCK_STREAM only */
    int reuseport;          /* set SO_REUSEPORT, for one listener per worker */
};

/* Binds (and for SOCK_STREAM listens on) every address HOST resolves to, with
 * non-blocking, close-on-exec sockets; IPv6 sockets are IPv6-only so that each
 * family has its own. Fills fds[0..max) and returns how many, or -1 with the
 * reason in errbuf. One family failing is not an error when another binds. */
int wc_listen(const struct wc_listen_opts *o, int *fds, int max, char *errbuf, size_t errlen);

/* Connects a socket of SOCKTYPE to HOST:PORT, trying each address in turn,
 * within timeout_ms per address (-1: the kernel's). For SOCK_DGRAM this fixes
 * the peer, so only its replies arrive. Returns a non-blocking fd, or -1 with
 * the reason in errbuf. */
int wc_connect(const char *host, const char *port, int socktype, int family,
               int timeout_ms, char *errbuf, size_t errlen);


/* The local or peer address of fd, as "1.2.3.4:80" or "[::1]:80" into buf (WC_ADDRSTR_SIZE; "?" on failure). */
const char *wc_sock_name(int fd, int peer, char *buf, size_t len);


/* Sets an int socket option. Returns 0 or -errno. */
int wc_setsockopt_int(int fd, int level, int name, int value);

#endif
