/* udp_client.c - sends datagrams, matches replies, and accounts for loss, duplicates and order. */
#include "wirecheck/udp_client.h"
#include "udp_client_int.h"

#include "wirecheck/log.h"
#include "wirecheck/seq.h"
#include "wirecheck/sock.h"
#include "wirecheck/sys.h"
#include "wirecheck/upper.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char prefix[] = "FROM SERVER:";

void wc_udp_client_defaults(struct wc_udp_client_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = "9876";
    cfg->family = AF_UNSPEC;
    cfg->in = stdin;
    cfg->out_fd = 1;
    cfg->timeout_ms = WC_UDP_CLIENT_DEFAULT_TIMEOUT_MS;
    cfg->size = 64;
    cfg->window = 1;
}

/* Generated payloads are a function of the index, so they need no storage. */
static size_t build(struct client *c, size_t i, uint8_t *out)
{
    const struct msg *m = &c->m[i];
    size_t off = 0;

    if (c->cfg->seq) {
        wc_seq_encode(out, (uint32_t)i);
        off = WC_SEQ_TAG_LEN;
    }
    if (m->data || m->len == off) {
        memcpy(out + off, m->data, m->len - off);
    } else {
        for (size_t k = off; k < m->len; k++)
            out[k] = (uint8_t)('a' + (i + k) % 26);
    }
    return m->len;
}

/* Adds the next message. Returns 1 when added, 0 at the end of input, -1 on error. */
static int next_message(struct client *c, char *errbuf, size_t errlen)
{
    const struct wc_udp_client_config *cfg = c->cfg;
    size_t tag = cfg->seq ? WC_SEQ_TAG_LEN : 0, len;
    struct msg *m;

    if (cfg->count > 0 && c->nm >= (size_t)cfg->count)
        return 0;
    if (c->nm == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        struct msg *nmem = realloc(c->m, ncap * sizeof *nmem);
        if (!nmem) {
            snprintf(errbuf, errlen, "out of memory after %zu messages", c->nm);
            return -1;
        }
        c->m = nmem;
        c->cap = ncap;
    }
    m = &c->m[c->nm];
    memset(m, 0, sizeof *m);
    if (cfg->count > 0) {
        m->len = (uint32_t)cfg->size;
    } else {
        ssize_t r = getline(&c->line, &c->linecap, cfg->in);
        if (r < 0) {
            if (ferror(cfg->in)) {
                snprintf(errbuf, errlen, "reading input: %s", strerror(errno));
                return -1;
            }
            return 0;
        }
        if (r > 0 && c->line[r - 1] == '\n')
            r--;
        len = (size_t)r + tag;
        if (len > WC_UDP_MAX_PAYLOAD_V4) {
            snprintf(errbuf, errlen, "line %zu: %zu bytes do not fit in one datagram (max %d)",
                     c->nm + 1, len, WC_UDP_MAX_PAYLOAD_V4);
            return -1;
        }
        m->len = (uint32_t)len;
        m->data = malloc((size_t)r + 1);
        if (!m->data) {
            snprintf(errbuf, errlen, "out of memory");
            return -1;
        }
        memcpy(m->data, c->line, (size_t)r);
    }
    c->nm++;
    return 1;
}

static int send_msg(struct client *c, size_t i, char *errbuf, size_t errlen)
{
    size_t len = build(c, i, c->sbuf);
    ssize_t r = wc_write(c->fd, c->sbuf, len);

    /* A full socket buffer or an ICMP error is the network's doing: the
     * message counts as sent and its timeout decides. */
    if (r < 0 && r != -EAGAIN && r != -ENOBUFS && r != -ECONNREFUSED) {
        snprintf(errbuf, errlen, "send: %s", strerror((int)-r));
        return -1;
    }
    if (r == -ECONNREFUSED)
        c->refused++;
    c->m[i].sent_ns = wc_now_ns();
    c->m[i].tries++;
    return 0;
}

static void drop_outstanding(struct client *c, int k)
{
    c->outstanding[k] = c->outstanding[--c->nout];
}

static void report_mismatch(struct client *c, size_t i, const uint8_t *got, size_t glen)
{
    uint8_t *want = c->sbuf;
    size_t wlen = build(c, i, want), k;

    wc_upper(want, want, wlen);
    for (k = 0; k < wlen && k < glen && want[k] == got[k]; k++)
        ;
    if (k == wlen && k == glen)
        return;
    c->mismatched++;
    if (c->mismatch_logged)
        return;
    c->mismatch_logged = true;
    if (wlen != glen)
        wc_logf(c->cfg->log,
                "wrong reply to message %zu: %zu bytes for a %zu-byte request (first difference at byte %zu)", i, glen,
                wlen, k);
    else
        wc_logf(c->cfg->log, "wrong reply to message %zu: byte %zu is 0x%02x, expected 0x%02x", i, k, got[k], want[k]);
}

static int print_reply(struct client *c, const uint8_t *p, size_t n)
{
    int r = 0;

    if (c->cfg->quiet)
        return 0;
    if (!c->cfg->raw)
        r = wc_write_all(c->cfg->out_fd, prefix, sizeof prefix - 1);
    if (r == 0)
        r = wc_write_all(c->cfg->out_fd, p, n);
    if (r == 0)
        r = wc_write_all(c->cfg->out_fd, "\n", 1);
    return r;
}

/* Attributes one reply to its message and updates the counters. */
static int on_reply(struct client *c, const uint8_t *p, size_t n)
{
    unsigned long long now = wc_now_ns();
    size_t i;
    struct msg *m;
    int k = -1;

    if (c->cfg->seq) {
        uint32_t s;
        if (wc_seq_decode(p, n, &s) < 0 || s >= c->nm) {
            c->stray++;
            return 0;
        }
        i = s;
        for (k = 0; k < c->nout && c->outstanding[k] != i; k++)
            ;
        if (k == c->nout)
            k = -1;
    } else {
        /* Without tags the window is 1: the reply is the outstanding message's. */
        if (c->nout == 0) {
            c->stray++;
            return 0;
        }
        k = 0;
        i = c->outstanding[0];
    }
    m = &c->m[i];
    if (++m->replies > 1) {
        c->dup++;
        return 0;
    }
    if (m->state == LOST)
        c->late++;
    m->state = ANSWERED;
    m->rtt_ns = now - m->sent_ns;
    c->answered++;
    if ((long long)i < c->max_seq)
        c->reordered++;
    else
        c->max_seq = (long long)i;
    if (k >= 0)
        drop_outstanding(c, k);
    report_mismatch(c, i, p, n);
    return print_reply(c, p, n);
}

static int receive_all(struct client *c, char *errbuf, size_t errlen)
{
    for (;;) {
        ssize_t r = wc_recv(c->fd, c->rbuf, WC_UDP_DATAGRAM_BUFFER, MSG_DONTWAIT);

        if (r == -EAGAIN)
            return 0;
        if (r == -ECONNREFUSED) {
            c->refused++;
            if (!c->refused_logged)
                wc_logf(c->cfg->log, "the server's port is unreachable (ICMP port unreachable): is it running?");
            c->refused_logged = true;
            continue;
        }
        if (r < 0) {
            snprintf(errbuf, errlen, "receive: %s", strerror((int)-r));
            return -1;
        }
        if (on_reply(c, c->rbuf, (size_t)r) < 0) {
            snprintf(errbuf, errlen, "writing output: %s", strerror(errno));
            return -1;
        }
    }
}

/* Retries or gives up on timed-out messages; returns the next deadline. */
static int expire(struct client *c, unsigned long long now, unsigned long long *next,
                  char *errbuf, size_t errlen)
{
    unsigned long long to = (unsigned long long)c->cfg->timeout_ms * 1000000ull;

    for (int k = 0; k < c->nout;) {
        struct msg *m = &c->m[c->outstanding[k]];

        if (now - m->sent_ns < to) {
            if (m->sent_ns + to < *next)
                *next = m->sent_ns + to;
            k++;
            continue;
        }
        if (m->tries <= c->cfg->retries) {
            c->retrans++;
            if (send_msg(c, c->outstanding[k], errbuf, errlen) < 0)
                return -1;
            if (m->sent_ns + to < *next)
                *next = m->sent_ns + to;
            k++;
            continue;
        }
        m->state = LOST;
        if (c->cfg->verbose)
            wc_logf(c->cfg->log, "message %u: no reply after %u tries", c->outstanding[k], m->tries);
        drop_outstanding(c, k);
    }
    return 0;
}

static int run(struct client *c, char *errbuf, size_t errlen)
{
    const struct wc_udp_client_config *cfg = c->cfg;
    unsigned long long gap = cfg->rate > 0 ? (unsigned long long)(1e9 / cfg->rate) : 0;
    unsigned long long next_send = wc_now_ns(), linger_end = 0;

    for (;;) {
        unsigned long long now = wc_now_ns(), next = now + 1000000000ull;
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int r;

        if (expire(c, now, &next, errbuf, errlen) < 0)
            return -1;
        while (!c->input_done && c->nout < cfg->window && now >= next_send) {
            r = next_message(c, errbuf, errlen);
            if (r < 0)
                return -1;
            if (r == 0) {
                c->input_done = true;
                break;
            }
            c->outstanding[c->nout++] = (uint32_t)(c->nm - 1);
            if (send_msg(c, c->nm - 1, errbuf, errlen) < 0)
                return -1;
            if (gap) {
                /* Pace; after a stall, restart from now rather than burst to catch up. */
                next_send += gap;
                if (next_send + gap * (unsigned long long)cfg->window < now)
                    next_send = now;
            }
        }
        if (c->input_done && c->nout == 0) {
            if (!linger_end)
                linger_end = now + (unsigned long long)cfg->linger_ms * 1000000ull;
            if (now >= linger_end)
                return 0;
            next = linger_end;
        }
        if (!c->input_done && c->nout < cfg->window && next_send < next)
            next = next_send;
        r = wc_poll(&pfd, 1, next > now ? (int)((next - now + 999999) / 1000000) : 0);
        if (r < 0) {
            snprintf(errbuf, errlen, "poll: %s", strerror(-r));
            return -1;
        }
        if (r > 0 && receive_all(c, errbuf, errlen) < 0)
            return -1;
    }
}

int wc_udp_client_run(const struct wc_udp_client_config *cfg, struct wc_udp_client_result *res, char *errbuf,
                      size_t errlen)
{
    struct client c;
    int rc = -1;

    memset(res, 0, sizeof *res);
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    c.max_seq = -1;
    c.rbuf = malloc(WC_UDP_DATAGRAM_BUFFER);
    c.sbuf = malloc(WC_UDP_DATAGRAM_BUFFER);
    c.outstanding = calloc((size_t)cfg->window, sizeof *c.outstanding);
    if (!c.rbuf || !c.sbuf || !c.outstanding) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    c.fd = wc_connect(cfg->host, cfg->port, SOCK_DGRAM, cfg->family, -1, errbuf, errlen);
    if (c.fd < 0)
        goto out;
    if (cfg->verbose) {
        char a[WC_ADDRSTR_SIZE], b[WC_ADDRSTR_SIZE];
        wc_logf(cfg->log, "sending from %s to %s", wc_sock_name(c.fd, 0, a, sizeof a),
                wc_sock_name(c.fd, 1, b, sizeof b));
    }
    if (run(&c, errbuf, errlen) == 0) {
        wc_udp_client_report(&c);
        res->sent = c.nm;
        res->answered = c.answered;
        res->mismatched = c.mismatched;
        rc = 0;
    }
    wc_close(c.fd);
out:
    for (size_t i = 0; i < c.nm; i++)
        free(c.m[i].data);
    free(c.m);
    free(c.line);
    free(c.rbuf);
    free(c.sbuf);
    free(c.outstanding);
    return rc;
}
