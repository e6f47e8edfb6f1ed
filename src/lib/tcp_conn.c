/* tcp_conn.c - one TCP connection: its bytes back upper-cased as they arrive, with back-pressure (a peer that
 * does not read stops us reading it), its place in the worker's activity order, and its close. */
#include "tcp_server_int.h"

#include "wirecheck/log.h"
#include "wirecheck/loop.h"
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"
#include "wirecheck/upper.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define READS_PER_WAKEUP 16         /* then let other connections run */

static void list_unlink(struct worker *wk, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        wk->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        wk->tail = c->prev;
    c->prev = c->next = NULL;
}

static void list_append(struct worker *wk, struct conn *c)
{
    c->prev = wk->tail;
    c->next = NULL;
    if (wk->tail)
        wk->tail->next = c;
    else
        wk->head = c;
    wk->tail = c;
}

static void touch(struct conn *c)
{
    struct worker *wk = c->wk;

    c->last_ns = wc_now_ns();
    if (wk->tail != c) {
        list_unlink(wk, c);
        list_append(wk, c);
    }
}

/* graceful: every reply is written, so shut down our side first (FIN). */
void wc_tcp_conn_close(struct conn *c, bool graceful)
{
    struct worker *wk = c->wk;

    (void)wc_loop_del(wk->loop, &c->w);
    if (graceful)
        (void)shutdown(c->w.fd, SHUT_WR);
    wc_close(c->w.fd);
    list_unlink(wk, c);
    free(c->pend);
    free(c);
    wk->nconns--;
    /* One line per episode: the flood is over once a tenth of those connections are gone. */
    if (wk->emfile_logged && wk->nconns < wk->emfile_at - wk->emfile_at / 10) {
        wc_logf(wk->cfg->log, "file descriptors available again (%u connections)", wk->nconns);
        wk->emfile_logged = false;
    }
    if (wk->paused && !wk->stopping)
        set_accepting(wk, true);
}

/* Writes what is pending. Returns 0 when all of it is gone, 1 when the socket
 * is full, or -errno. */
static int conn_flush(struct conn *c)
{
    while (c->pend_off < c->pend_len) {
        ssize_t w = wc_write(c->w.fd, c->pend + c->pend_off, c->pend_len - c->pend_off);
        if (w == -EAGAIN)
            return 1;
        if (w < 0)
            return (int)w;
        c->pend_off += (size_t)w;
    }
    free(c->pend);
    c->pend = NULL;
    c->pend_off = c->pend_len = 0;
    return 0;
}

/* Reads, transforms and writes until the socket is empty, the peer stops
 * reading (back-pressure: we stop reading too) or the fairness budget is used.
 * Returns false when the connection was closed. */
bool wc_tcp_conn_pump(struct conn *c)
{
    struct worker *wk = c->wk;

    for (int i = 0; i < READS_PER_WAKEUP; i++) {
        ssize_t r = wc_read(c->w.fd, wk->scratch, WC_TCP_READ_SIZE), w;

        if (r == -EAGAIN)
            break;
        if (r < 0) {
            wc_tcp_conn_close(c, false);
            return false;
        }
        if (r == 0) {
            wc_tcp_conn_close(c, true);    /* half-close answered: all replies written, FIN */
            return false;
        }
        wc_upper(wk->scratch, wk->scratch, (size_t)r);
        w = wc_write(c->w.fd, wk->scratch, (size_t)r);
        if (w == -EAGAIN)
            w = 0;
        if (w < 0) {
            wc_tcp_conn_close(c, false);
            return false;
        }
        if (w < r) {
            c->pend_len = (size_t)(r - w);
            c->pend = malloc(c->pend_len);
            if (!c->pend) {
                wc_tcp_conn_close(c, false);
                return false;
            }
            memcpy(c->pend, wk->scratch + w, c->pend_len);
            (void)wc_loop_mod(wk->loop, &c->w, EPOLLOUT);
            return true;
        }
        if (r < WC_TCP_READ_SIZE)
            break;                  /* most likely drained: skip a read that says EAGAIN */
    }
    if (wk->stopping) {
        /* Everything the peer sent before the stop is answered. */
        wc_tcp_conn_close(c, true);
        return false;
    }
    return true;
}

static void on_conn(struct wc_loop *loop, struct wc_watch *w, uint32_t ev)
{
    struct conn *c = w->data;

    (void)loop;
    touch(c);
    if (c->pend) {
        int r = conn_flush(c);
        if (r < 0) {
            wc_tcp_conn_close(c, false);
            return;
        }
        if (r > 0)
            return;
        (void)wc_loop_mod(c->wk->loop, &c->w, EPOLLIN);
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLOUT))
        (void)wc_tcp_conn_pump(c);
}

int wc_tcp_conn_open(struct worker *wk, int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    int r;

    if (!c) {
        wc_close(fd);
        return -ENOMEM;
    }
    c->wk = wk;
    if (wk->cfg->nodelay)
        (void)wc_setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if ((r = wc_loop_add(wk->loop, &c->w, fd, EPOLLIN, on_conn, c)) < 0) {
        wc_close(fd);
        free(c);
        return r;
    }
    wk->nconns++;
    list_append(wk, c);
    c->last_ns = wc_now_ns();
    return 0;
}
