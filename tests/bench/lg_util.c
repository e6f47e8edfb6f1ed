/* lg_util.c - the load generator's shared pieces: payloads, limits, clocks, /proc readings, the report. */
#include "loadgen.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

void lg_report_add(struct lg_report *r, const char *name, double value)
{
    if (r->n < LG_MAX_METRICS) {
        r->name[r->n] = name;
        r->value[r->n] = value;
        r->n++;
    }
}

void lg_report_print(const struct lg_report *r, int json)
{
    if (json) {
        printf("{\"mode\": \"%s\"", r->mode);
        for (int i = 0; i < r->n; i++)
            printf(", \"%s\": %.6g", r->name[i], r->value[i]);
        printf("}\n");
    } else {
        printf("%s:", r->mode);
        for (int i = 0; i < r->n; i++)
            printf("%s %s %.6g", i ? "," : "", r->name[i], r->value[i]);
        printf("\n");
    }
    fflush(stdout);
}

void lg_fill_lines(uint8_t *buf, size_t n, size_t line, unsigned seed)
{
    /* Lower case dominates, as in text, so the transform has work on most bytes. */
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.;:-_";
    unsigned long long x = 0x9e3779b97f4a7c15ull ^ seed;

    for (size_t i = 0; i < n; i++) {
        if (line > 0 && i % line == line - 1) {
            buf[i] = '\n';
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)alphabet[x % (sizeof alphabet - 1)];
    }
}

long long lg_raise_nofile(long long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if ((long long)rl.rlim_cur < want) {
        rl.rlim_cur = (rlim_t)want < rl.rlim_max ? (rlim_t)want : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long long)rl.rlim_cur;
}

double lg_cpu_seconds(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double lg_percentile(double *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

long long lg_rss_kib(long long pid)
{
    char path[64], line[256];
    long long kib = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%lld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

long long lg_fd_count(long long pid)
{
    char path[64];
    long long n = 0;
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof path, "/proc/%lld/fd", pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

size_t lg_first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i = 0;

    while (i < n && a[i] == b[i])
        i++;
    return i;
}
