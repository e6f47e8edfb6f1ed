/* cli.c - ranged number parsing and the programs' message helpers. */
#include "wirecheck/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *progname = "wirecheck";

void wc_set_progname(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

    if (argv0 && *argv0)
        progname = slash ? slash + 1 : argv0;
}

const char *wc_progname(void)
{
    return progname;
}

void wc_log(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void wc_log_line(const char *msg)
{
    fprintf(stderr, "%s: %s\n", progname, msg);
}

void wc_usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", progname);
}

int wc_parse_ll(const char *s, long long min, long long max, long long *out, const char **errstr)
{
    char *end;
    long long v;

    if (!s || !*s || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) {
        *errstr = "invalid";
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0') {
        *errstr = "invalid";
        return -1;
    }
    if ((errno == ERANGE && v == LLONG_MIN) || v < min) {
        *errstr = "too small";
        return -1;
    }
    if ((errno == ERANGE && v == LLONG_MAX) || v > max) {
        *errstr = "too large";
        return -1;
    }
    *out = v;
    return 0;
}

int wc_parse_seconds(const char *s, long long min_ms, long long max_ms, long long *ms,
                     const char **errstr)
{
    long long whole = 0, frac = 0, scale = 1000;
    const char *p = s;

    if (!s || !*s || *s == '.') {
        *errstr = "invalid";
        return -1;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > max_ms / 1000 + 1) {
            *errstr = "too large";
            return -1;
        }
    }
    if (*p == '.') {
        p++;
        if (!*p) {
            *errstr = "invalid";
            return -1;
        }
        for (; *p >= '0' && *p <= '9'; p++)
            if (scale > 1) {
                scale /= 10;
                frac += (*p - '0') * scale;
            }
    }
    if (*p != '\0') {
        *errstr = "invalid";
        return -1;
    }
    whole = whole * 1000 + frac;
    if (whole < min_ms) {
        *errstr = "too small";
        return -1;
    }
    if (whole > max_ms) {
        *errstr = "too large";
        return -1;
    }
    *ms = whole;
    return 0;
}

int wc_parse_size(const char *s, long long min, long long max, long long *out, const char **errstr)
{
    char buf[32];
    size_t n = s ? strlen(s) : 0;
    long long mult = 1, v;

    if (n == 0 || n >= sizeof buf) {
        *errstr = "invalid";
        return -1;
    }
    memcpy(buf, s, n + 1);
    switch (buf[n - 1]) {
    case 'k': case 'K': mult = 1LL << 10; break;
    case 'm': case 'M': mult = 1LL << 20; break;
    case 'g': case 'G': mult = 1LL << 30; break;
    default: break;
    }
    if (mult != 1)
        buf[n - 1] = '\0';
    if (wc_parse_ll(buf, 0, LLONG_MAX / mult, &v, errstr) < 0)
        return -1;
    v *= mult;
    if (v < min) {
        *errstr = "too small";
        return -1;
    }
    if (v > max) {
        *errstr = "too large";
        return -1;
    }
    *out = v;
    return 0;
}

int wc_parse_port(const char *s, const char **errstr)
{
    long long v;

    return wc_parse_ll(s, 1, 65535, &v, errstr);
}

void wc_try_help(void)
{
    fprintf(stderr, "Try '%s --help' for more information.\n", progname);
}

int wc_opt_ll(const char *name, const char *arg, long long min, long long max, long long *out)
{
    const char *errstr;

    if (wc_parse_ll(arg, min, max, out, &errstr) == 0)
        return 0;
    wc_usage_error("%s '%s': %s (%lld..%lld)", name, arg, errstr, min, max);
    return -1;
}

int wc_opt_seconds(const char *name, const char *arg, long long min_ms, long long max_ms, long long *ms)
{
    const char *errstr;

    if (wc_parse_seconds(arg, min_ms, max_ms, ms, &errstr) == 0)
        return 0;
    wc_usage_error("%s '%s': %s (%g..%g seconds)", name, arg, errstr, min_ms / 1000.0, max_ms / 1000.0);
    return -1;
}

int wc_opt_size(const char *name, const char *arg, long long min, long long max, long long *out)
{
    const char *errstr;

    if (wc_parse_size(arg, min, max, out, &errstr) == 0)
        return 0;
    wc_usage_error("%s '%s': %s (%lld..%lld bytes; k, m, g suffixes)", name, arg, errstr, min, max);
    return -1;
}

int wc_opt_port(const char *name, const char *arg)
{
    long long v;

    return wc_opt_ll(name, arg, 1, 65535, &v);
}

int wc_operands_host_port(int argc, char **argv, int first, const char **host, const char **port)
{
    int n = argc - first;

    if (n < 1 || n > 2) {
        wc_usage_error(n < 1 ? "missing HOST" : "too many arguments");
        return -1;
    }
    *host = argv[first];
    if (n == 2) {
        if (wc_opt_port("port", argv[first + 1]) < 0)
            return -1;
        *port = argv[first + 1];
    }
    return 0;
}

int wc_operands_none(int argc, char **argv, int first, const char *hint)
{
    if (first < argc) {
        wc_usage_error("unexpected argument '%s' (%s)", argv[first], hint);
        return -1;
    }
    return 0;
}
