/* sniffer - records interfaces (across network namespaces) or reads a capture, into a labelled pcapng. */
#include "wirecheck/capture.h"
#include "wirecheck/capture_report.h"
#include "wirecheck/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    printf("Usage: sniffer -i IFACE[@NETNS] [-i ...] [-w FILE] [options]\n"
           "       sniffer -r IN [-w OUT] [--json FILE] [-v]\n"
           "Records TCP and UDP traffic into one pcapng file with one interface block per\n"
           "interface and a label on every packet (handshake steps, data, retransmissions,\n"
           "out-of-order, FIN/RST, UDP --seq loss, duplicates and reordering).\n\n"
           "  -i, --interface IFACE[@NETNS]  capture on IFACE, inside /run/netns/NETNS if given (repeatable)\n"
           "  -r, --read FILE         read a pcap or pcapng file (\"-\": stdin) instead and label it,\n"
           "                          each of its interfaces apart (the -w copy keeps them)\n"
           "      --relabel           with -r: drop the input's packet comments, keep only our labels\n"
           "  -w, --write FILE        write the capture to FILE (\"-\": stdout); it is written as\n"
           "                          FILE" ".partial and renamed to FILE only once it is complete\n"
           "      --split IFACE=FILE  also write IFACE's packets alone to FILE (pcapng; repeatable):\n"
           "                          one file per capture point, whose TCP analysis Wireshark gets\n"
           "                          right; IFACE as given to -i, the input's interface name, or an\n"
           "                          index (0: the first); works without -w too\n"
           "      --format FMT        pcapng (default) or pcap (classic, one interface)\n"
           "  -f, --filter EXPR       BPF filter for every interface\n"
           "  -s, --snaplen N         bytes kept per packet (64..262144, default %d)\n"
           "  -B, --buffer-size SIZE  kernel ring per interface (k/m/g suffixes; default libpcap's)\n"
           "  -c, --count N           stop after N packets\n"
           "  -G, --duration SEC      stop after SEC seconds\n"
           "      --describe IFACE=TEXT  interface description (\"client side\"); IFACE as given to -i\n"
           "      --comment TEXT      section comment: scenario, impairments, commands (repeatable)\n"
           "      --ready-file PATH   create PATH once every interface is capturing\n"
           "  -v, --verbose           one line per packet on stdout, like tcpdump -n, with its label\n"
           "      --json FILE         the summary as JSON (\"-\": stdout)\n"
           "      --max-flows N       flows tracked at most (default %d)\n"
           "  -Z, --user USER         drop privileges to USER after opening the interfaces; the\n"
           "                          output, ready and JSON files are then created as USER\n"
           "  -h, --help              this help;  -V, --version  the version\n\n"
           "Prints \"sniffer: ready\" on stderr once capturing. SIGINT, SIGTERM, SIGHUP, -c or -G\n"
           "end the capture: the file gets its interface statistics and its name, and a summary\n"
           "goes to stderr. Capturing needs CAP_NET_RAW (and CAP_SYS_ADMIN for @NETNS).\n"
           "Exit: 0 on success, 1 on a runtime error (the output keeps its .partial name),\n"
           "2 on bad usage.\n",
           WC_SNIFF_DEFAULT_SNAPLEN, WC_SNIFF_DEFAULT_MAX_FLOWS);
}

/* The engine's warnings: an interface that goes away, a libpcap warning at activation. */
static void warn(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "sniffer: warning: %s\n", msg);
}

/* The summary as JSON into PATH ("-": stdout). Returns 0, or -1 after saying why. */
static int write_json(const struct wc_sniff *s, const char *path)
{
    int to_stdout = strcmp(path, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(path, "we");
    int bad;

    if (!f) {
        wc_log("%s: %s", path, strerror(errno));
        return -1;
    }
    bad = wc_sniff_report_json(s, f) < 0;
    if (!to_stdout && fclose(f) != 0)
        bad = 1;
    if (bad) {
        wc_log("writing %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The summary on stderr through a buffer of its own: stderr is unbuffered, and a line per flow written piece
 * by piece cost 4 system calls a flow (60,000 for the bench's 200,000-packet file, a third of its time). */
static void print_summary(const struct wc_sniff *s)
{
    int fd = dup(STDERR_FILENO);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

    if (!f) {
        if (fd >= 0)
            close(fd);
        wc_sniff_report_text(s, stderr);
        return;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    wc_sniff_report_text(s, f);
    fclose(f);   /* stderr's errors go unreported, as ever */
}

/* Captures (or reads) as cfg says: the ready line, the run, the summary on stderr and the JSON. */
static int run(const struct wc_sniff_config *cfg, const char *json_file)
{
    struct wc_sniff *s = wc_sniff_new(cfg);
    int rc = WC_EXIT_RUNTIME;

    if (!s) {
        wc_log("out of memory");
        return rc;
    }
    if (wc_sniff_activate(s) < 0)
        goto fail;
    if (!cfg->read_file)
        fprintf(stderr, "sniffer: ready\n");
    if (wc_sniff_loop(s) < 0)
        goto fail;
    if (wc_sniff_no_source_left(s))
        fprintf(stderr, "sniffer: no interface left to capture on\n");
    if (wc_sniff_finish(s) < 0)
        goto fail;
    print_summary(s);
    if (json_file && write_json(s, json_file) < 0)
        goto out;
    rc = WC_EXIT_OK;
    goto out;
fail:
    wc_log("%s", wc_sniff_geterr(s));
out:
    wc_sniff_close(s);
    return rc;
}

enum {
    OPT_FORMAT = 256,
    OPT_DESCRIBE,
    OPT_COMMENT,
    OPT_SPLIT,
    OPT_RELABEL,
    OPT_READY,
    OPT_JSON,
    OPT_MAX_FLOWS,
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"interface", required_argument, NULL, 'i'}, {"read", required_argument, NULL, 'r'},
        {"write", required_argument, NULL, 'w'},     {"format", required_argument, NULL, OPT_FORMAT},
        {"filter", required_argument, NULL, 'f'},    {"snaplen", required_argument, NULL, 's'},
        {"buffer-size", required_argument, NULL, 'B'}, {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'G'},  {"describe", required_argument, NULL, OPT_DESCRIBE},
        {"comment", required_argument, NULL, OPT_COMMENT}, {"split", required_argument, NULL, OPT_SPLIT},
        {"relabel", no_argument, NULL, OPT_RELABEL},
        {"ready-file", required_argument, NULL, OPT_READY},
        {"verbose", no_argument, NULL, 'v'},         {"json", required_argument, NULL, OPT_JSON},
        {"max-flows", required_argument, NULL, OPT_MAX_FLOWS},
        {"user", required_argument, NULL, 'Z'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0},
    };
    struct wc_sniff_config cfg;
    const char **ifaces = calloc((size_t)argc, sizeof *ifaces);
    const char **comments = calloc((size_t)argc, sizeof *comments);
    struct wc_sniff_describe *desc = calloc((size_t)argc, sizeof *desc);
    struct wc_sniff_split *split = calloc((size_t)argc, sizeof *split);
    const char *json_file = NULL;
    long long v;
    int ch, rc = WC_EXIT_USAGE;

    wc_set_progname(argv[0]);
    if (!ifaces || !comments || !desc || !split) {
        wc_log("out of memory");
        rc = WC_EXIT_RUNTIME;
        goto out;
    }
    wc_sniff_defaults(&cfg);
    cfg.ifaces = ifaces;
    cfg.comments = comments;
    cfg.describe = desc;
    cfg.split = split;
    cfg.warn = warn;
    while ((ch = getopt_long(argc, argv, "i:r:w:f:s:B:c:G:vZ:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'i': ifaces[cfg.nifaces++] = optarg; break;
        case 'r': cfg.read_file = optarg; break;
        case 'w': cfg.write_file = optarg; break;
        case OPT_FORMAT:
            if (strcmp(optarg, "pcapng") == 0)
                cfg.format = WC_FORMAT_PCAPNG;
            else if (strcmp(optarg, "pcap") == 0)
                cfg.format = WC_FORMAT_PCAP;
            else {
                wc_usage_error("format '%s': pcapng or pcap", optarg);
                goto out;
            }
            break;
        case 'f': cfg.filter = optarg; break;
        case 's':
            if (wc_opt_ll("snaplen", optarg, 64, WC_SNIFF_DEFAULT_SNAPLEN, &v) < 0)
                goto out;
            cfg.snaplen = (int)v;
            break;
        case 'B':
            if (wc_opt_size("buffer-size", optarg, 65536, 1LL << 30, &v) < 0)
                goto out;
            cfg.buffer_size = (int)v;
            break;
        case 'c':
            if (wc_opt_ll("count", optarg, 1, 1LL << 62, &cfg.count) < 0)
                goto out;
            break;
        case 'G':
            if (wc_opt_seconds("duration", optarg, 1, 864000000, &cfg.duration_ms) < 0)
                goto out;
            break;
        case OPT_DESCRIBE: {
            char *eq = strchr(optarg, '=');

            if (!eq || eq == optarg) {
                wc_usage_error("describe '%s': IFACE=TEXT", optarg);
                goto out;
            }
            *eq = '\0';
            desc[cfg.ndescribe].iface = optarg;
            desc[cfg.ndescribe++].text = eq + 1;
            break;
        }
        case OPT_COMMENT: comments[cfg.ncomments++] = optarg; break;
        case OPT_SPLIT: {
            char *eq = strchr(optarg, '=');

            if (!eq || eq == optarg || !eq[1]) {
                wc_usage_error("split '%s': IFACE=FILE", optarg);
                goto out;
            }
            *eq = '\0';
            split[cfg.nsplit].iface = optarg;
            split[cfg.nsplit++].path = eq + 1;
            break;
        }
        case OPT_READY: cfg.ready_file = optarg; break;
        case OPT_RELABEL: cfg.relabel = 1; break;
        case 'v': cfg.print = stdout; break;
        case OPT_JSON: json_file = optarg; break;
        case OPT_MAX_FLOWS:
            if (wc_opt_ll("max-flows", optarg, 1, 1 << 24, &v) < 0)
                goto out;
            cfg.max_flows = (size_t)v;
            break;
        case 'Z': cfg.user = optarg; break;
        case 'h': usage(); rc = WC_EXIT_OK; goto out;
        case 'V': printf("sniffer (wirecheck) %s\n", WIRECHECK_VERSION); rc = WC_EXIT_OK; goto out;
        default: wc_try_help(); goto out;
        }
    }
    if (optind < argc) {
        wc_usage_error("unexpected argument '%s' (a filter is given with -f)", argv[optind]);
        goto out;
    }
    if (!cfg.read_file == !cfg.nifaces) {
        wc_usage_error(cfg.read_file ? "-r and -i exclude each other" : "nothing to capture: give -i IFACE or -r FILE");
        goto out;
    }
    if (cfg.nifaces > WC_SNIFF_MAX_IFACES) {
        wc_usage_error("at most %d interfaces", WC_SNIFF_MAX_IFACES);
        goto out;
    }
    if (cfg.format == WC_FORMAT_PCAP && cfg.nifaces > 1) {
        wc_usage_error("--format pcap holds one interface; use pcapng for %zu", cfg.nifaces);
        goto out;
    }
    if (cfg.relabel && !cfg.read_file) {
        wc_usage_error("--relabel goes with -r: a live capture has no comments to drop");
        goto out;
    }
    if (cfg.format == WC_FORMAT_PCAP && cfg.nsplit) {
        wc_usage_error("--split writes pcapng files; it does not go with --format pcap");
        goto out;
    }
    rc = run(&cfg, json_file);
out:
    free(ifaces);
    free(comments);
    free(desc);
    free(split);
    return rc;
}
