/* tcp_server.c - the TCP server's workers: one event loop and listener each, accepting up to a limit, idle
 * timeouts, and the graceful stop; each connection is tcp_conn.c. */
#include "wirecheck/tcp_server.h"
#include "tcp_server_int.h"

#include "wirecheck/log.h"
#include "wirecheck/loop.h"
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 64

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

    (void)loop, (void)ev;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int fd, r;

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
        r = wc_tcp_conn_open(wk, fd);
        if (r == -ENOMEM)
            return;
        if (r < 0)
            continue;
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
            (void)wc_tcp_conn_pump(c);
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
        wc_tcp_conn_close(wk->head, !wk->head->pend);
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
                    wc_tcp_conn_close(wk->head, false);
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
        wc_tcp_conn_close(wk->head, false);
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
