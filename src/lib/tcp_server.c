/* tcp_server.c - streams each connection's bytes back upper-cased, with back-pressure. */
#include "wirecheck/tcp_server.h"
#include "wirecheck/log.h"
#include "wirecheck/loop.h"
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"
#include "wirecheck/upper.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 64
#define READS_PER_WAKEUP 16         /* then let other connections run */

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

void wc_tcp_server_defaults(struct wc_tcp_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = WC_TCP_DEFAULT_PORT;
    cfg->family = AF_UNSPEC;
    cfg->backlog = SOMAXCONN;
    cfg->workers = 1;
    cfg->max_conns = WC_TCP_DEFAULT_MAX_CONNS;
    cfg->grace_ms = WC_TCP_DEFAULT_GRACE_MS;
    cfg->nodelay = 1;
}

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

static void set_accepting(struct worker *wk, bool on)
{
    for (int i = 0; i < wk->nl; i++)
        (void)wc_loop_mod(wk->loop, &wk->lw[i], on ? EPOLLIN : 0);
    wk->paused = !on;
}

/* graceful: every reply is written, so shut down our side first (FIN). */
static void conn_close(struct conn *c, bool graceful)
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
static bool conn_pump(struct conn *c)
{
    struct worker *wk = c->wk;

    for (int i = 0; i < READS_PER_WAKEUP; i++) {
        ssize_t r = wc_read(c->w.fd, wk->scratch, WC_TCP_READ_SIZE), w;

        if (r == -EAGAIN)
            break;
        if (r < 0) {
            conn_close(c, false);
            return false;
        }
        if (r == 0) {
            conn_close(c, true);    /* half-close answered: all replies written, FIN */
            return false;
        }
        wc_upper(wk->scratch, wk->scratch, (size_t)r);
        w = wc_write(c->w.fd, wk->scratch, (size_t)r);
        if (w == -EAGAIN)
            w = 0;
        if (w < 0) {
            conn_close(c, false);
            return false;
        }
        if (w < r) {
            c->pend_len = (size_t)(r - w);
            c->pend = malloc(c->pend_len);
            if (!c->pend) {
                conn_close(c, false);
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
        conn_close(c, true);
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
            conn_close(c, false);
            return;
        }
        if (r > 0)
            return;
        (void)wc_loop_mod(c->wk->loop, &c->w, EPOLLIN);
    }
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLOUT))
        (void)conn_pump(c);
}

static void accept_one_and_drop(struct worker *wk, int lfd)
{
    /* The classic EMFILE escape: free the spare fd, take the pending
     * connection and close it, so the listener does not spin and the client
     * gets a clean refusal instead of a hang. */
    if (!wk->emfile_logged) {
        wc_logf(wk->cfg->log, "out of file descriptors at %u connections: refusing new ones until some close",
               wk->nconns);
        wk->emfile_logged = true;
        wk->emfile_at = wk->nconns;
    }
    if (wk->spare_fd >= 0) {
        wc_close(wk->spare_fd);
        int fd = wc_accept(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            wc_close(fd);
        wk->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
}

static void on_accept(struct wc_loop *loop, struct wc_watch *w, uint32_t ev)
{
    struct worker *wk = w->data;
    char as[WC_ADDRSTR_SIZE];

    (void)ev;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        struct conn *c;
        int fd;

        if (wk->nconns >= wk->cfg->max_conns) {
            set_accepting(wk, false);
            return;
        }
        fd = wc_accept(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -EAGAIN)
            return;
        if (fd == -EMFILE || fd == -ENFILE) {
            accept_one_and_drop(wk, w->fd);
            return;
        }
        if (fd < 0)
            continue;               /* ECONNABORTED and friends: the next one may be fine */
        c = calloc(1, sizeof *c);
        if (!c) {
            wc_close(fd);
            return;
        }
        c->wk = wk;
        if (wk->cfg->nodelay)
            (void)wc_setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
        if (wc_loop_add(loop, &c->w, fd, EPOLLIN, on_conn, c) < 0) {
            wc_close(fd);
            free(c);
            continue;
        }
        wk->nconns++;
        list_append(wk, c);
        c->last_ns = wc_now_ns();
        if (wk->cfg->verbose)
            wc_logf(wk->cfg->log, "connection from %s", wc_sock_name(fd, 1, as, sizeof as));
    }
}

static void begin_stop(struct worker *wk)
{
    struct conn *c, *next;

    if (wk->stopping)
        return;
    wk->stopping = true;
    wk->deadline_ns = wc_now_ns() + (unsigned long long)wk->cfg->grace_ms * 1000000ull;
    for (int i = 0; i < wk->nl; i++) {
        (void)wc_loop_del(wk->loop, &wk->lw[i]);
        wc_close(wk->lw[i].fd);
    }
    wk->nl = 0;
    /* Answer what already arrived; connections still writing finish in on_conn. */
    for (c = wk->head; c; c = next) {
        next = c->next;
        if (!c->pend)
            (void)conn_pump(c);
    }
}

static void on_stop(struct wc_loop *loop, struct wc_watch *w, uint32_t ev)
{
    struct worker *wk = w->data;

    (void)ev;
    (void)wc_loop_del(loop, w);
    begin_stop(wk);
}

static void expire_idle(struct worker *wk, unsigned long long now)
{
    unsigned long long idle_ns = (unsigned long long)wk->cfg->idle_ms * 1000000ull;

    while (wk->head && now - wk->head->last_ns >= idle_ns) {
        if (wk->cfg->verbose)
            wc_logf(wk->cfg->log, "closing a connection idle for %lld ms", wk->cfg->idle_ms);
        conn_close(wk->head, !wk->head->pend);
    }
}

static void *worker_run(void *arg)
{
    struct worker *wk = arg;

    for (;;) {
        unsigned long long now = wc_now_ns();
        int timeout = -1, r;

        if (wk->stopping) {
            if (wk->nconns == 0)
                break;
            if (now >= wk->deadline_ns) {
                wc_logf(wk->cfg->log, "grace period over: closing %u unfinished connection(s)", wk->nconns);
                while (wk->head)
                    conn_close(wk->head, false);
                break;
            }
            timeout = (int)((wk->deadline_ns - now) / 1000000ull) + 1;
        }
        if (wk->cfg->idle_ms > 0) {
            expire_idle(wk, now);
            if (timeout < 0 || timeout > 100)
                timeout = 100;
        }
        r = wc_loop_run_once(wk->loop, timeout);
        if (r < 0) {
            wk->err = -r;
            break;
        }
    }
    return NULL;
}

static int worker_init(struct worker *wk, const struct wc_tcp_server_config *cfg, int stopfd,
                       char *errbuf, size_t errlen)
{
    struct wc_listen_opts lo = {
        .host = cfg->host, .port = cfg->port, .socktype = SOCK_STREAM,
        .family = cfg->family, .backlog = cfg->backlog, .reuseport = cfg->workers > 1,
    };
    int fds[WC_MAX_LISTENERS], n;

    wk->cfg = cfg;
    wk->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    wk->scratch = malloc(WC_TCP_READ_SIZE);
    wk->loop = wc_loop_new();
    if (!wk->scratch || !wk->loop) {
        snprintf(errbuf, errlen, "worker set-up: %s", strerror(errno));
        return -1;
    }
    n = wc_listen(&lo, fds, WC_MAX_LISTENERS, errbuf, errlen);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (wc_loop_add(wk->loop, &wk->lw[i], fds[i], EPOLLIN, on_accept, wk) < 0) {
            snprintf(errbuf, errlen, "epoll_ctl: %s", strerror(errno));
            for (int j = i; j < n; j++)
                wc_close(fds[j]);
            return -1;
        }
        wk->nl++;
    }
    if (wc_loop_add(wk->loop, &wk->stopw, stopfd, EPOLLIN, on_stop, wk) < 0) {
        snprintf(errbuf, errlen, "epoll_ctl: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void worker_fini(struct worker *wk)
{
    for (int i = 0; i < wk->nl; i++)
        wc_close(wk->lw[i].fd);
    while (wk->head)
        conn_close(wk->head, false);
    wc_close(wk->spare_fd);
    wc_loop_free(wk->loop);
    free(wk->scratch);
}

int wc_tcp_server_run(const struct wc_tcp_server_config *cfg, char *errbuf, size_t errlen)
{
    int nw = cfg->workers > 0 ? cfg->workers : 1;
    struct worker *wks = calloc((size_t)nw, sizeof *wks);
    pthread_t *th = calloc((size_t)nw, sizeof *th);
    int sfd, stopfd = -1, started = 0, rc = -1;
    char names[WC_MAX_LISTENERS * WC_ADDRSTR_SIZE] = "", as[WC_ADDRSTR_SIZE];

    sfd = wc_signals_open();        /* before any thread, so all inherit the mask */
    if (!wks || !th || sfd < 0) {
        snprintf(errbuf, errlen, "set-up: %s", strerror(sfd < 0 ? -sfd : ENOMEM));
        goto out;
    }
    /* One worker watches the signalfd itself; several share an eventfd that
     * stays readable once written, so every worker sees the stop. */
    stopfd = nw == 1 ? sfd : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stopfd < 0) {
        snprintf(errbuf, errlen, "eventfd: %s", strerror(errno));
        goto out;
    }
    for (int i = 0; i < nw; i++) {
        started++;              /* worker_fini copes with a half-built worker */
        if (worker_init(&wks[i], cfg, stopfd, errbuf, errlen) < 0)
            goto out_workers;
    }
    for (int i = 0; i < wks[0].nl; i++) {
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", i ? " " : "",
                 wc_sock_name(wks[0].lw[i].fd, 0, as, sizeof as));
    }
    if (cfg->user && wc_drop_privileges(cfg->user, errbuf, errlen) < 0)
        goto out_workers;
    wc_logf(cfg->log, "listening on %s (%d worker%s)", names, nw, nw == 1 ? "" : "s");

    if (nw == 1) {
        worker_run(&wks[0]);
    } else {
        struct pollfd pfd = { .fd = sfd, .events = POLLIN };
        uint64_t one = 1;
        int launched = 0;

        for (; launched < nw; launched++)
            if (pthread_create(&th[launched], NULL, worker_run, &wks[launched]) != 0)
                break;
        if (launched < nw)
            wc_logf(cfg->log, "could only start %d of %d workers", launched, nw);
        while (launched > 0 && wc_poll(&pfd, 1, -1) == 0)
            ;
        (void)wc_write(stopfd, &one, sizeof one);
        for (int i = 0; i < launched; i++)
            pthread_join(th[i], NULL);
    }
    rc = 0;
    for (int i = 0; i < nw; i++)
        if (wks[i].err) {
            snprintf(errbuf, errlen, "event loop: %s", strerror(wks[i].err));
            rc = -1;
        }
out_workers:
    for (int i = 0; i < started; i++)
        worker_fini(&wks[i]);
out:
    if (stopfd >= 0 && stopfd != sfd)
        wc_close(stopfd);
    if (sfd >= 0)
        wc_close(sfd);
    free(wks);
    free(th);
    return rc;
}
