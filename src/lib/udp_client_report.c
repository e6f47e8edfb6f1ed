/* udp_client_report.c - the UDP client's summary: counts, round-trip times, and the same as JSON. */
#include "udp_client_int.h"

#include "wirecheck/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_ull(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

    return (x > y) - (x < y);
}

struct summary {
    unsigned long long sent, lost;
    double min_ms, med_ms, p99_ms, max_ms, mean_ms;
};

static int summarize(const struct client *c, struct summary *s)
{
    unsigned long long *rtt = malloc((c->answered + 1) * sizeof *rtt), sum = 0;
    size_t n = 0;

    memset(s, 0, sizeof *s);
    if (!rtt)
        return -1;
    s->sent = c->nm;
    for (size_t i = 0; i < c->nm; i++) {
        if (c->m[i].state == ANSWERED) {
            rtt[n++] = c->m[i].rtt_ns;
            sum += c->m[i].rtt_ns;
        } else {
            s->lost++;
        }
    }
    if (n > 0) {
        qsort(rtt, n, sizeof *rtt, cmp_ull);
        s->min_ms = rtt[0] / 1e6;
        s->med_ms = (n % 2 ? rtt[n / 2] : (rtt[n / 2 - 1] + rtt[n / 2]) / 2) / 1e6;
        s->p99_ms = rtt[(n * 99 + 99) / 100 - 1] / 1e6;
        s->max_ms = rtt[n - 1] / 1e6;
        s->mean_ms = (double)sum / (double)n / 1e6;
    }
    free(rtt);
    return 0;
}

static void write_json(const struct client *c, const struct summary *s)
{
    FILE *f = fopen(c->cfg->json_path, "w");
    const char *sep = "";

    if (!f) {
        wc_logf(c->cfg->log, "cannot write %s: %s", c->cfg->json_path, strerror(errno));
        return;
    }
    fprintf(f, "{\"sent\": %llu, \"answered\": %llu, \"lost\": %llu, \"duplicated\": %llu, "
               "\"reordered\": %llu, \"late\": %llu, \"mismatched\": %llu, \"retransmitted\": %llu, "
               "\"stray\": %llu, \"icmp_refused\": %llu, \"seq\": %s,\n",
            s->sent, c->answered, s->lost, c->dup, c->reordered, c->late, c->mismatched,
            c->retrans, c->stray, c->refused, c->cfg->seq ? "true" : "false");
    fprintf(f, " \"rtt_ms\": {\"min\": %.3f, \"median\": %.3f, \"mean\": %.3f, \"p99\": %.3f, \"max\": %.3f},\n",
            s->min_ms, s->med_ms, s->mean_ms, s->p99_ms, s->max_ms);
    fprintf(f, " \"lost_messages\": [");
    for (size_t i = 0; i < c->nm; i++)
        if (c->m[i].state != ANSWERED) {
            fprintf(f, "%s%zu", sep, i);
            sep = ", ";
        }
    fprintf(f, "]}\n");
    if (fclose(f) != 0)
        wc_logf(c->cfg->log, "cannot write %s: %s", c->cfg->json_path, strerror(errno));
}

void wc_udp_client_report(const struct client *c)
{
    char rtt[128] = "";
    struct summary s;

    if (summarize(c, &s) < 0)
        return;
    if (c->answered)
        snprintf(rtt, sizeof rtt, "; rtt min/median/max %.3f/%.3f/%.3f ms", s.min_ms, s.med_ms, s.max_ms);
    wc_logf(c->cfg->log, "%llu sent, %llu answered, %llu lost (%.2f%%), %llu duplicated, "
                         "%llu reordered, %llu late, %llu wrong, %llu retransmitted%s",
            s.sent, c->answered, s.lost, s.sent ? 100.0 * s.lost / s.sent : 0.0, c->dup, c->reordered, c->late,
            c->mismatched, c->retrans, rtt);
    if (c->cfg->json_path)
        write_json(c, &s);
}
