/* loadgen.h - the benchmark's load generator: one function per mode, a shared report. */
#ifndef WIRECHECK_LOADGEN_H
#define WIRECHECK_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

#define LG_MAX_METRICS 16

/* Exit code of a run whose replies were wrong (the clients' own convention). */
#define LG_EXIT_MISMATCH 4

struct lg_opts {
    const char *host;
    const char *port;
    long long duration_ms;      /* how long a timed mode runs */
    long long conns;            /* connections (pipeline), concurrency (connrate) */
    long long line;             /* bytes per line or datagram, LF included for TCP */
    long long window;           /* unanswered bytes per connection (TCP) or datagrams (UDP) */
    long long batch;            /* datagrams per sendmmsg/recvmmsg */
    long long idle;             /* idle connections (idle mode) */
    long long samples;          /* round trips per latency phase (idle mode) */
    long long server_pid;       /* whose VmRSS and fds to read (idle mode); 0: none */
    long long size;             /* buffer bytes (transform mode) */
    int echo;                   /* the peer echoes bytes unchanged (socat) */
    int gso;                    /* udp: UDP_SEGMENT sends and UDP_GRO receives */
    int json;
};

/* A mode's result: named numbers printed as one line, or as JSON with --json. */
struct lg_report {
    const char *mode;
    int n;
    const char *name[LG_MAX_METRICS];
    double value[LG_MAX_METRICS];
};

void lg_report_add(struct lg_report *r, const char *name, double value);
void lg_report_print(const struct lg_report *r, int json);

/* Each mode fills *rep and returns 0; 1 on a runtime error or LG_EXIT_MISMATCH,
 * with the reason in errbuf. */
int lg_stream(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen);
int lg_connrate(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen);
int lg_idle(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen);
int lg_udp(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen);
int lg_transform(const struct lg_opts *o, struct lg_report *rep, char *errbuf, size_t errlen);

/* The null server: accepts and closes until killed. Returns only on error. */
int lg_null_server(const struct lg_opts *o, char *errbuf, size_t errlen);

/* Helpers shared by the modes (lg_util.c). */

/* Fills buf[0..n) with lines of LINE bytes (the last one LF) of mixed-case
 * text, deterministic for a given seed. */
void lg_fill_lines(uint8_t *buf, size_t n, size_t line, unsigned seed);

/* Raises RLIMIT_NOFILE's soft limit to at least want (up to the hard limit).
 * Returns the new soft limit. */
long long lg_raise_nofile(long long want);

/* This process's user+system CPU seconds. */
double lg_cpu_seconds(void);

/* The p-th percentile (0..100) of v[0..n), which it sorts. */
double lg_percentile(double *v, size_t n, double p);

/* VmRSS of PID in KiB, or -1. */
long long lg_rss_kib(long long pid);

/* Open file descriptors of PID, or -1. */
long long lg_fd_count(long long pid);

/* The offset of the first byte where a and b differ, or n. */
size_t lg_first_diff(const uint8_t *a, const uint8_t *b, size_t n);

#endif
