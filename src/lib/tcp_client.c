/* tcp_client.c - one poll loop with per-direction buffers and a byte window. */
#include "wirecheck/tcp_client.h"
#include "wirecheck/framer.h"
#include "wirecheck/log.h"
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"
#include "wirecheck/upper.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IOBUF (64 * 1024)
static const char prefix[] = "FROM SERVER: ";

void wc_tcp_client_defaults(struct wc_tcp_client_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = "6789";
    cfg->family = AF_UNSPEC;
    cfg->in_fd = 0;
    cfg->out_fd = 1;
    cfg->window = WC_TCP_CLIENT_DEFAULT_WINDOW;
    cfg->timeout_ms = WC_TCP_CLIENT_DEFAULT_TIMEOUT_MS;
    cfg->check = 1;
    cfg->nodelay = 1;
}

struct session {
    const struct wc_tcp_client_config *cfg;
    struct wc_tcp_client_result *res;
    int fd;
    uint8_t out[IOBUF];             /* request bytes read from input, not yet sent */
    size_t out_off, out_len;
    uint8_t in[IOBUF];
    uint8_t *ring;                  /* the last `window` request bytes, to check replies */
    bool in_eof, shut;
    struct wc_framer fr;
};

/* Prints a piece of reply with the seed's prefix at each line start. */
static int emit(struct session *s, const uint8_t *p, size_t n)
{
    while (n > 0) {
        struct wc_frame f;
        int r;

        wc_framer_next(&s->fr, p, n, &f);
        if (f.sol && !s->cfg->raw && (r = wc_write_all(s->cfg->out_fd, prefix, sizeof prefix - 1)) < 0)
            return r;
        if ((r = wc_write_all(s->cfg->out_fd, p, f.len)) < 0)
            return r;
        if (f.eol)
            s->res->lines_recv++;
        p += f.len;
        n -= f.len;
    }
    return 0;
}

static void check(struct session *s, const uint8_t *p, size_t n)
{
    unsigned long long off = s->res->bytes_recv;

    for (size_t i = 0; i < n && !s->res->mismatched; i++, off++) {
        uint8_t want = wc_upper_byte(s->ring[off % s->cfg->window]);
        if (p[i] != want) {
            s->res->mismatched = 1;
            s->res->mismatch_at = off;
            s->res->expected = want;
            s->res->got = p[i];
        }
    }
}

static int read_input(struct session *s, char *errbuf, size_t errlen)
{
    unsigned long long inflight = s->res->bytes_sent + s->out_len - s->res->bytes_recv;
    size_t room = s->cfg->window - (size_t)inflight, want = IOBUF;
    ssize_t r;

    if (want > room)
        want = room;
    r = wc_read(s->cfg->in_fd, s->out, want);
    if (r < 0) {
        snprintf(errbuf, errlen, "reading input: %s", strerror((int)-r));
        return -1;
    }
    if (r == 0) {
        s->in_eof = true;
        return 0;
    }
    for (ssize_t i = 0; i < r; i++) {
        s->ring[(s->res->bytes_sent + (size_t)i) % s->cfg->window] = s->out[i];
        s->res->lines_sent += s->out[i] == '\n';
    }
    s->out_off = 0;
    s->out_len = (size_t)r;
    return 0;
}

static int session_loop(struct session *s, char *errbuf, size_t errlen)
{
    struct wc_tcp_client_result *res = s->res;
    unsigned long long last_progress = wc_now_ns();

    for (;;) {
        unsigned long long inflight = res->bytes_sent + s->out_len - s->out_off - res->bytes_recv;
        struct pollfd pf[2];
        int npf = 0, r, in_i = -1;

        if (s->in_eof && s->out_off == s->out_len && !s->shut) {
            /* An unterminated last line is answered once the server sees our FIN. */
            (void)shutdown(s->fd, SHUT_WR);
            s->shut = true;
        }
        if (s->in_eof && s->out_off == s->out_len && res->bytes_recv >= res->bytes_sent)
            return 0;

        pf[npf].fd = s->fd;
        pf[npf].events = POLLIN | (s->out_off < s->out_len ? POLLOUT : 0);
        npf++;
        if (!s->in_eof && s->out_off == s->out_len && inflight < s->cfg->window) {
            pf[npf].fd = s->cfg->in_fd;
            pf[npf].events = POLLIN;
            in_i = npf++;
        }
        r = wc_poll(pf, (nfds_t)npf, 100);
        if (r < 0) {
            snprintf(errbuf, errlen, "poll: %s", strerror(-r));
            return -1;
        }
        if (in_i >= 0 && pf[in_i].revents) {
            if (read_input(s, errbuf, errlen) < 0)
                return -1;
            continue;
        }
        if (pf[0].revents & POLLOUT) {
            ssize_t w = wc_write(s->fd, s->out + s->out_off, s->out_len - s->out_off);
            if (w < 0 && w != -EAGAIN) {
                snprintf(errbuf, errlen, "send: %s (after %llu bytes sent, %llu answered)",
                         strerror((int)-w), res->bytes_sent, res->bytes_recv);
                return -1;
            }
            if (w > 0) {
                if (res->bytes_recv == res->bytes_sent)
                    last_progress = wc_now_ns();    /* the wait for a reply starts now */
                s->out_off += (size_t)w;
                res->bytes_sent += (size_t)w;
                if (s->out_off == s->out_len)
                    s->out_off = s->out_len = 0;
            }
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = wc_read(s->fd, s->in, sizeof s->in);
            if (n < 0 && n != -EAGAIN) {
                snprintf(errbuf, errlen, "receive: %s (after %llu of %llu reply bytes)",
                         strerror((int)-n), res->bytes_recv, res->bytes_sent);
                return -1;
            }
            if (n == 0) {
                snprintf(errbuf, errlen,
                         "server closed the connection after %llu of %llu reply bytes",
                         res->bytes_recv, res->bytes_sent + s->out_len - s->out_off);
                return -1;
            }
            if (n > 0) {
                if (res->bytes_recv + (size_t)n > res->bytes_sent) {
                    snprintf(errbuf, errlen, "server sent %llu bytes more than were requested",
                             res->bytes_recv + (size_t)n - res->bytes_sent);
                    return -1;
                }
                if (s->cfg->check)
                    check(s, s->in, (size_t)n);
                if ((r = emit(s, s->in, (size_t)n)) < 0) {
                    snprintf(errbuf, errlen, "writing output: %s", strerror(-r));
                    return -1;
                }
                res->bytes_recv += (size_t)n;
                last_progress = wc_now_ns();
            }
        }
        if (res->bytes_recv < res->bytes_sent &&
            wc_now_ns() - last_progress > (unsigned long long)s->cfg->timeout_ms * 1000000ull) {
            snprintf(errbuf, errlen, "timeout: no reply for %.1f s (%llu of %llu bytes answered)",
                     s->cfg->timeout_ms / 1000.0, res->bytes_recv, res->bytes_sent);
            return -1;
        }
    }
}

int wc_tcp_client_run(const struct wc_tcp_client_config *cfg, struct wc_tcp_client_result *res,
                      char *errbuf, size_t errlen)
{
    struct session *s = calloc(1, sizeof *s);
    int rc = -1;

    memset(res, 0, sizeof *res);
    signal(SIGPIPE, SIG_IGN);
    if (!s || !(s->ring = malloc(cfg->window))) {
        snprintf(errbuf, errlen, "out of memory for a %zu-byte window", cfg->window);
        goto out;
    }
    s->cfg = cfg;
    s->res = res;
    s->fd = wc_connect(cfg->host, cfg->port, SOCK_STREAM, cfg->family, (int)cfg->timeout_ms,
                       errbuf, errlen);
    if (s->fd < 0)
        goto out;
    if (cfg->nodelay)
        (void)wc_setsockopt_int(s->fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (cfg->verbose) {
        char a[WC_ADDRSTR_SIZE], b[WC_ADDRSTR_SIZE];
        wc_logf(cfg->log, "connected %s -> %s", wc_sock_name(s->fd, 0, a, sizeof a),
                wc_sock_name(s->fd, 1, b, sizeof b));
    }
    rc = session_loop(s, errbuf, errlen);
    /* A tail the server left unterminated still ends the terminal's line. */
    if (rc == 0 && !cfg->raw && wc_framer_partial(&s->fr))
        (void)wc_write_all(cfg->out_fd, "\n", 1);
    wc_close(s->fd);
out:
    if (s)
        free(s->ring);
    free(s);
    return rc;
}
