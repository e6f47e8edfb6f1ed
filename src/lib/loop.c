/* loop.c - epoll dispatch and signalfd set-up for the servers. */
#include "wirecheck/loop.h"
#include "wirecheck/sys.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define WC_LOOP_BATCH 256

struct wc_loop {
    int epfd;
    int next, n;                /* the batch being dispatched: ev[next..n) are still to come */
    struct epoll_event ev[WC_LOOP_BATCH];
};

struct wc_loop *wc_loop_new(void)
{
    struct wc_loop *loop = calloc(1, sizeof *loop);

    if (!loop)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        int e = errno;
        free(loop);
        errno = e;
        return NULL;
    }
    return loop;
}

void wc_loop_free(struct wc_loop *loop)
{
    if (!loop)
        return;
    wc_close(loop->epfd);
    free(loop);
}

int wc_loop_add(struct wc_loop *loop, struct wc_watch *w, int fd, uint32_t events,
                wc_watch_cb cb, void *data)
{
    struct epoll_event ev = { .events = events, .data.ptr = w };

    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->data = data;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int wc_loop_mod(struct wc_loop *loop, struct wc_watch *w, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = w };

    if (w->events == events)
        return 0;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

int wc_loop_del(struct wc_loop *loop, struct wc_watch *w)
{
    /* A callback may delete (and free) a watch whose event is still pending in this batch, as a stop that
     * closes every connection does: forget that event, as libuv's uv__platform_invalidate_fd does. */
    for (int i = loop->next; i < loop->n; i++)
        if (loop->ev[i].data.ptr == w)
            loop->ev[i].data.ptr = NULL;
    return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0 ? -errno : 0;
}

int wc_loop_run_once(struct wc_loop *loop, int timeout_ms)
{
    int n = epoll_wait(loop->epfd, loop->ev, WC_LOOP_BATCH, timeout_ms);

    if (n < 0)
        return errno == EINTR ? 0 : -errno;     /* a stop signal: the caller re-checks */
    loop->n = n;
    for (loop->next = 0; loop->next < n;) {
        struct epoll_event *e = &loop->ev[loop->next++];
        struct wc_watch *w = e->data.ptr;

        if (w)
            w->cb(loop, w, e->events);
    }
    loop->n = loop->next = 0;
    return n;
}

int wc_signals_open(void)
{
    sigset_t set;
    int fd;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    /* Blocked signals wait in the signalfd, so no handler ever runs and no
     * syscall elsewhere sees EINTR from them. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int wc_signals_read(int sfd)
{
    struct signalfd_siginfo si;
    ssize_t r = wc_read(sfd, &si, sizeof si);

    if (r == -EAGAIN)
        return 0;
    if (r < 0)
        return (int)r;
    return r == (ssize_t)sizeof si ? (int)si.ssi_signo : -EIO;
}
