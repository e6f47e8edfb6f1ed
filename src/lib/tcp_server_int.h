/* tcp_server_int.h - the TCP server's private state, shared by its workers (tcp_server.c) and their
 * connections (tcp_conn.c). */
#ifndef WIRECHECK_TCP_SERVER_INT_H
#define WIRECHECK_TCP_SERVER_INT_H

#include "wirecheck/loop.h"
#include "wirecheck/sock.h"
#include "wirecheck/tcp_server.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct worker;

/* The protocol needs no line buffer: bytes are transformed as they arrive, so
 * a connection holds memory only while the peer is not reading its replies,
 * and then at most one read's worth. */
struct conn {
    struct wc_watch w;
    struct worker *wk;
    struct conn *prev, *next;           /* activity order, oldest first */
    unsigned long long last_ns;
    uint8_t *pend;                      /* reply bytes the socket did not take */
    size_t pend_off, pend_len;
};

struct worker {
    const struct wc_tcp_server_config *cfg;
    struct wc_loop *loop;
    struct wc_watch lw[WC_MAX_LISTENERS];
    int nl;
    struct wc_watch stopw;
    uint8_t *scratch;
    struct conn *head, *tail;
    unsigned nconns;
    bool paused, stopping, emfile_logged;
    unsigned emfile_at;                 /* connections open when descriptors ran out */
    int spare_fd;                       /* released on EMFILE to accept-and-close */
    unsigned long long deadline_ns;
    int err;
};

/* Listens again (on) or stops listening, as the connection count crosses max_conns. */
static inline void set_accepting(struct worker *wk, bool on)
{
    for (int i = 0; i < wk->nl; i++)
        (void)wc_loop_mod(wk->loop, &wk->lw[i], on ? EPOLLIN : 0);
    wk->paused = !on;
}

/* Takes an accepted, non-blocking fd into the worker. Returns 0, or -errno (fd closed; -ENOMEM: stop accepting
 * for this wake-up). */
int wc_tcp_conn_open(struct worker *wk, int fd);
/* Reads, transforms and writes until the socket is empty, the peer stops reading or the fairness budget is
 * used; while stopping, closes once all is answered. Returns false when the connection was closed. */
bool wc_tcp_conn_pump(struct conn *c);
/* graceful: every reply is written, so our side shuts down first (FIN). Frees c; listens again if paused. */
void wc_tcp_conn_close(struct conn *c, bool graceful);

#endif
