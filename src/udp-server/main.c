/* udp-server - the reference UDP uppercase server (options, then the library's loop). */
#include "wirecheck/cli.h"
#include "wirecheck/sock.h"
#include "wirecheck/udp_server.h"

#include <getopt.h>
#include <stdio.h>
#include <sys/socket.h>

static void usage(void)
{
    printf("Usage: udp-server [options]\n"
           "Answers every UDP datagram (0 to 65,507 bytes) with exactly one datagram holding\n"
           "the ASCII upper case of exactly its bytes, sent from the address and port the\n"
           "request was sent to, in the order the requests arrived.\n\n"
           "  -p, --port PORT     port to listen on (default " WC_UDP_DEFAULT_PORT ")\n"
           "  -b, --bind ADDR     address to listen on (default: all, IPv4 and IPv6)\n"
           "  -4, -6              IPv4 or IPv6 only\n"
           "      --batch N       datagrams per recvmmsg/sendmmsg (1..%d, default %d;\n"
           "                      1 uses one recvmsg/sendmsg per datagram)\n"
           "      --rcvbuf BYTES  socket receive buffer (default: the kernel's)\n"
           "      --grace SEC     on SIGINT/SIGTERM, time to answer what is queued (default %.0f)\n"
           "  -Z, --user USER     drop privileges to USER after binding\n"
           "  -v, --verbose       print counters on exit\n"
           "  -h, --help          this help;  -V, --version  the version\n\n"
           "A reply is never larger than its request. Exit: 0 after a signal, 1 on a\n"
           "runtime error, 2 on bad usage.\n",
           WC_UDP_MAX_BATCH, WC_UDP_DEFAULT_BATCH, WC_UDP_DEFAULT_GRACE_MS / 1000.0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},   {"bind", required_argument, NULL, 'b'},
        {"batch", required_argument, NULL, 'B'},  {"rcvbuf", required_argument, NULL, 'R'},
        {"grace", required_argument, NULL, 'G'},  {"user", required_argument, NULL, 'Z'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    struct wc_udp_server_config cfg;
    char errbuf[WC_ERRBUF_SIZE];
    long long v;
    int ch;

    wc_set_progname(argv[0]);
    wc_udp_server_defaults(&cfg);
    cfg.log = wc_log_line;
    while ((ch = getopt_long(argc, argv, "p:b:46Z:vhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (wc_opt_port("port", optarg) < 0)
                return WC_EXIT_USAGE;
            cfg.port = optarg;
            break;
        case 'b': cfg.host = optarg; break;
        case '4': cfg.family = AF_INET; break;
        case '6': cfg.family = AF_INET6; break;
        case 'B':
            if (wc_opt_ll("batch", optarg, 1, WC_UDP_MAX_BATCH, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.batch = (int)v;
            break;
        case 'R':
            if (wc_opt_size("rcvbuf", optarg, 1024, 1LL << 30, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.rcvbuf = (int)v;
            break;
        case 'G':
            if (wc_opt_seconds("grace", optarg, 0, 3600000, &cfg.grace_ms) < 0)
                return WC_EXIT_USAGE;
            break;
        case 'Z': cfg.user = optarg; break;
        case 'v': cfg.verbose = 1; break;
        case 'h': usage(); return WC_EXIT_OK;
        case 'V': printf("udp-server (wirecheck) %s\n", WIRECHECK_VERSION); return WC_EXIT_OK;
        default:
            wc_try_help();
            return WC_EXIT_USAGE;
        }
    }
    if (wc_operands_none(argc, argv, optind, "the port is given with -p") < 0)
        return WC_EXIT_USAGE;
    if (wc_udp_server_run(&cfg, errbuf, sizeof errbuf) < 0) {
        wc_log("%s", errbuf);
        return WC_EXIT_RUNTIME;
    }
    return WC_EXIT_OK;
}
