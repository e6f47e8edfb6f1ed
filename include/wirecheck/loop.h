/* loop.h - a small epoll event loop with signal delivery through signalfd. */
#ifndef WIRECHECK_LOOP_H
#define WIRECHECK_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct wc_loop;
struct wc_watch;

typedef void (*wc_watch_cb)(struct wc_loop *loop, struct wc_watch *w, uint32_t events);

/* A watch is owned by the caller and usually embedded in its object; the loop
 * only points at it between wc_loop_add and wc_loop_del. */
struct wc_watch {
    int fd;
    uint32_t events;        /* EPOLLIN/EPOLLOUT as registered */
    wc_watch_cb cb;
    void *data;
};

/* Returns a loop, or NULL with errno set. */
struct wc_loop *wc_loop_new(void);
void wc_loop_free(struct wc_loop *loop);

/* Registration; each returns 0 or -errno. Level-triggered. */
int wc_loop_add(struct wc_loop *loop, struct wc_watch *w, int fd, uint32_t events,
                wc_watch_cb cb, void *data);
int wc_loop_mod(struct wc_loop *loop, struct wc_watch *w, uint32_t events);
/* wc_loop_del also forgets the watch's events still pending in the batch being dispatched, so a callback may
 * delete and free other watches (a stop closing every connection) without a later callback touching them. */
int wc_loop_del(struct wc_loop *loop, struct wc_watch *w);

/* Waits up to timeout_ms (-1: forever) and dispatches what is ready.
 * Returns the number of watches dispatched, or -errno. */
int wc_loop_run_once(struct wc_loop *loop, int timeout_ms);

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (call it before
 * starting threads) and returns a signalfd that reads them, or -errno.
 * SIGPIPE is ignored too: a peer that goes away is an EPIPE, not a death. */
int wc_signals_open(void);

/* Reads one pending signal from a signalfd: its number, 0 when none, or -errno. */
int wc_signals_read(int sfd);

#endif
