/* loadgen - the benchmark's load generator for the line protocol (options, then one mode). */
#include "loadgen.h"
#include "wirecheck/cli.h"
#include "wirecheck/sock.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(void)
{
    printf("Usage: loadgen MODE [options]\n"
           "Drives a line-protocol server and prints what it measured (--json: one JSON object).\n\n"
           "Modes:\n"
           "  stream     one connection of pipelined LINE-byte lines, every reply byte checked\n"
           "  pipeline   the same over CONNS connections (default 50 connections of 16-byte lines)\n"
           "  connrate   short connections, CONNS at a time: connect, one line, read the reply, close\n"
           "  idle       the p50/p99 round trip of one active connection, alone and then with IDLE idle\n"
           "             connections (a third holding a partial line); with --server-pid, the server's\n"
           "             VmRSS before and after them\n"
           "  udp        LINE-byte datagrams, WINDOW outstanding, BATCH per sendmmsg/recvmmsg\n"
           "  null       a null server: accepts and closes, until killed (the kernel's connection limit)\n"
           "  transform  the uppercase transform's GB/s against memcpy's over SIZE-byte buffers\n\n"
           "Options:\n"
           "  -H, --host HOST         server address (default 127.0.0.1)\n"
           "  -p, --port PORT         server port (default 6789; udp: 9876)\n"
           "  -d, --duration SEC      how long a timed mode runs (default 3)\n"
           "  -c, --conns N           connections or concurrency (1..100000)\n"
           "  -l, --line BYTES        bytes per line (LF included) or datagram (default 64)\n"
           "  -w, --window N          unanswered bytes per TCP connection, or datagrams for udp\n"
           "  -b, --batch N           datagrams per syscall (1..1024, default 64)\n"
           "  -n, --idle N            idle connections (default 10000)\n"
           "  -s, --samples N         round trips per latency phase (default 20000)\n"
           "  -P, --server-pid PID    the server to read /proc/PID/status and fd counts from\n"
           "      --size BYTES        transform buffer (default 64k)\n"
           "      --echo              the peer echoes bytes unchanged (socat): check copies\n"
           "      --no-gso            udp: plain sendmmsg/recvmmsg (default: UDP GSO out, GRO in)\n"
           "      --json              print the result as JSON\n"
           "  -h, --help              this help\n\n"
           "Exit: 0, 1 on a runtime error, 2 on bad usage, 4 when a reply byte was wrong.\n");
}

/* Per-mode defaults, applied before the options so that these override them. */
static void mode_defaults(const char *mode, struct lg_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = strcmp(mode, "udp") ? "6789" : "9876";
    o->duration_ms = 3000;
    o->conns = 1;
    o->line = 64;
    o->window = 256 * 1024;
    o->batch = 64;
    o->idle = 10000;
    o->samples = 20000;
    o->size = 64 * 1024;
    o->gso = 1;
    if (!strcmp(mode, "pipeline")) {
        o->conns = 50;
        o->line = 16;
        o->window = 1024;       /* 64 lines in flight per connection */
    } else if (!strcmp(mode, "connrate")) {
        o->conns = 16;
    } else if (!strcmp(mode, "udp")) {
        o->window = 256;
    }
}

static int parse_options(int argc, char **argv, struct lg_opts *o)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},     {"port", required_argument, NULL, 'p'},
        {"duration", required_argument, NULL, 'd'}, {"conns", required_argument, NULL, 'c'},
        {"line", required_argument, NULL, 'l'},     {"window", required_argument, NULL, 'w'},
        {"batch", required_argument, NULL, 'b'},    {"idle", required_argument, NULL, 'n'},
        {"samples", required_argument, NULL, 's'},  {"server-pid", required_argument, NULL, 'P'},
        {"size", required_argument, NULL, 'S'},     {"echo", no_argument, NULL, 'E'},
        {"json", no_argument, NULL, 'J'},           {"no-gso", no_argument, NULL, 'G'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "H:p:d:c:l:w:b:n:s:P:h", opts, NULL)) != -1) {
        int r = 0;

        switch (ch) {
        case 'H': o->host = optarg; break;
        case 'p':
            r = wc_opt_port("port", optarg);
            o->port = optarg;
            break;
        case 'd': r = wc_opt_seconds("duration", optarg, 10, 3600000, &o->duration_ms); break;
        case 'c': r = wc_opt_ll("conns", optarg, 1, 100000, &o->conns); break;
        case 'l': r = wc_opt_size("line", optarg, 2, 65507, &o->line); break;
        case 'w': r = wc_opt_size("window", optarg, 1, 1LL << 30, &o->window); break;
        case 'b': r = wc_opt_ll("batch", optarg, 1, 1024, &o->batch); break;
        case 'n': r = wc_opt_ll("idle", optarg, 1, 1000000, &o->idle); break;
        case 's': r = wc_opt_ll("samples", optarg, 1, 10000000, &o->samples); break;
        case 'P': r = wc_opt_ll("server-pid", optarg, 1, 1LL << 31, &o->server_pid); break;
        case 'S': r = wc_opt_size("size", optarg, 1, 1LL << 30, &o->size); break;
        case 'E': o->echo = 1; break;
        case 'J': o->json = 1; break;
        case 'G': o->gso = 0; break;
        case 'h': usage(); return 1;
        default:
            wc_try_help();
            return -1;
        }
        if (r < 0)
            return -1;
    }
    if (optind < argc) {
        wc_usage_error("unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(const struct lg_opts *, struct lg_report *, char *, size_t);
    } modes[] = {
        {"stream", lg_stream},   {"pipeline", lg_stream}, {"connrate", lg_connrate},
        {"idle", lg_idle},       {"udp", lg_udp},         {"transform", lg_transform},
    };
    struct lg_opts o;
    struct lg_report rep = { 0 };
    char errbuf[WC_ERRBUF_SIZE];
    const char *mode;
    int r;

    wc_set_progname(argv[0]);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage();
        return argc < 2 ? WC_EXIT_USAGE : WC_EXIT_OK;
    }
    mode = argv[1];
    mode_defaults(mode, &o);
    argv[1] = argv[0];          /* getopt starts after the mode */
    r = parse_options(argc - 1, argv + 1, &o);
    if (r != 0)
        return r > 0 ? WC_EXIT_OK : WC_EXIT_USAGE;
    signal(SIGPIPE, SIG_IGN);
    lg_raise_nofile((mode[0] == 'c' || mode[0] == 'p' ? o.conns : 0) + 64);

    if (!strcmp(mode, "null")) {
        r = lg_null_server(&o, errbuf, sizeof errbuf);
        wc_log("%s", errbuf);
        return r;
    }
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(mode, modes[i].name) != 0)
            continue;
        rep.mode = mode;
        r = modes[i].run(&o, &rep, errbuf, sizeof errbuf);
        if (r != 0) {
            wc_log("%s: %s", mode, errbuf);
            return r;
        }
        lg_report_print(&rep, o.json);
        return WC_EXIT_OK;
    }
    wc_usage_error("unknown mode '%s'", mode);
    return WC_EXIT_USAGE;
}
