/* tcp-server - the reference TCP uppercase server (options, then the library's loop). */
#include "wirecheck/cli.h"
#include "wirecheck/sock.h"
#include "wirecheck/tcp_server.h"

#include <getopt.h>
#include <stdio.h>
#include <sys/socket.h>

static void usage(void)
{
    printf("Usage: tcp-server [options]\n"
           "Answers every TCP connection with the ASCII upper case of the bytes it sends,\n"
           "byte for byte, for any number of lines and connections.\n\n"
           "  -p, --port PORT         port to listen on (default " WC_TCP_DEFAULT_PORT ")\n"
           "  -b, --bind ADDR         address to listen on (default: all, IPv4 and IPv6)\n"
           "  -4, -6                  IPv4 or IPv6 only\n"
           "  -w, --workers N         event loops, each with its own SO_REUSEPORT listener (1..64, default 1)\n"
           "      --max-conns N       connections per worker before accepting pauses (default %d)\n"
           "      --idle-timeout SEC  close connections idle this long (default: never)\n"
           "      --grace SEC         on SIGINT/SIGTERM, time to finish replies (default %.0f)\n"
           "      --backlog N         listen backlog (default SOMAXCONN)\n"
           "      --no-nodelay        leave Nagle's algorithm on\n"
           "  -Z, --user USER         drop privileges to USER after binding\n"
           "  -v, --verbose           log connections\n"
           "  -h, --help              this help;  -V, --version  the version\n\n"
           "Limits: at most %d KiB of unsent reply per connection; a client that does not\n"
           "read its replies is not read from (back-pressure). Exit: 0 after a signal,\n"
           "1 on a runtime error, 2 on bad usage.\n",
           WC_TCP_DEFAULT_MAX_CONNS, WC_TCP_DEFAULT_GRACE_MS / 1000.0, WC_TCP_READ_SIZE / 1024);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},     {"bind", required_argument, NULL, 'b'},
        {"workers", required_argument, NULL, 'w'},  {"max-conns", required_argument, NULL, 'M'},
        {"idle-timeout", required_argument, NULL, 'I'}, {"grace", required_argument, NULL, 'G'},
        {"backlog", required_argument, NULL, 'L'},  {"no-nodelay", no_argument, NULL, 'N'},
        {"user", required_argument, NULL, 'Z'},     {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct wc_tcp_server_config cfg;
    char errbuf[WC_ERRBUF_SIZE];
    long long v;
    int ch;

    wc_set_progname(argv[0]);
    wc_tcp_server_defaults(&cfg);
    cfg.log = wc_log_line;
    while ((ch = getopt_long(argc, argv, "p:b:46w:Z:vhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (wc_opt_port("port", optarg) < 0)
                return WC_EXIT_USAGE;
            cfg.port = optarg;
            break;
        case 'b': cfg.host = optarg; break;
        case '4': cfg.family = AF_INET; break;
        case '6': cfg.family = AF_INET6; break;
        case 'w':
            if (wc_opt_ll("workers", optarg, 1, 64, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.workers = (int)v;
            break;
        case 'M':
            if (wc_opt_ll("max-conns", optarg, 1, 10000000, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.max_conns = (unsigned)v;
            break;
        case 'I':
            if (wc_opt_seconds("idle-timeout", optarg, 1, 86400000, &cfg.idle_ms) < 0)
                return WC_EXIT_USAGE;
            break;
        case 'G':
            if (wc_opt_seconds("grace", optarg, 0, 3600000, &cfg.grace_ms) < 0)
                return WC_EXIT_USAGE;
            break;
        case 'L':
            if (wc_opt_ll("backlog", optarg, 1, 65535, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.backlog = (int)v;
            break;
        case 'N': cfg.nodelay = 0; break;
        case 'Z': cfg.user = optarg; break;
        case 'v': cfg.verbose = 1; break;
        case 'h': usage(); return WC_EXIT_OK;
        case 'V': printf("tcp-server (wirecheck) %s\n", WIRECHECK_VERSION); return WC_EXIT_OK;
        default:
            wc_try_help();
            return WC_EXIT_USAGE;
        }
    }
    if (wc_operands_none(argc, argv, optind, "the port is given with -p") < 0)
        return WC_EXIT_USAGE;
    if (wc_tcp_server_run(&cfg, errbuf, sizeof errbuf) < 0) {
        wc_log("%s", errbuf);
        return WC_EXIT_RUNTIME;
    }
    return WC_EXIT_OK;
}
