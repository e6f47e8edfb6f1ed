/* tcp-client - sends stdin to the TCP uppercase server, pipelined, and prints the replies. */
#include "wirecheck/cli.h"
#include "wirecheck/sock.h"
#include "wirecheck/tcp_client.h"

#include <getopt.h>
#include <stdio.h>
#include <sys/socket.h>

static void usage(void)
{
    printf("Usage: tcp-client [options] HOST [PORT]\n"
           "Sends the lines of standard input to the TCP uppercase server at HOST:PORT\n"
           "(default port 6789), pipelined, and prints each reply as 'FROM SERVER: <reply>'.\n"
           "After the input ends it half-closes, so an unterminated last line is answered too.\n\n"
           "  -r, --raw             print the replies exactly as received, without the prefix\n"
           "  -w, --window BYTES    most request bytes awaiting replies (default %d KiB; k/m suffix)\n"
           "  -t, --timeout SEC     connect timeout and longest wait for a reply (default %.0f)\n"
           "      --no-check        do not compare each reply byte with the request's upper case\n"
           "      --no-nodelay      leave Nagle's algorithm on\n"
           "  -4, -6                IPv4 or IPv6 only\n"
           "  -v, --verbose         print the connection's addresses\n"
           "  -h, --help            this help;  -V, --version  the version\n\n"
           "Exit: 0 once every line has its reply, 1 on an error, timeout or early close,\n"
           "2 on bad usage, 4 when a reply is not the upper case of its request.\n",
           WC_TCP_CLIENT_DEFAULT_WINDOW / 1024, WC_TCP_CLIENT_DEFAULT_TIMEOUT_MS / 1000.0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"raw", no_argument, NULL, 'r'},          {"window", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'}, {"no-check", no_argument, NULL, 'C'},
        {"no-nodelay", no_argument, NULL, 'N'},   {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct wc_tcp_client_config cfg;
    struct wc_tcp_client_result res;
    char errbuf[WC_ERRBUF_SIZE];
    long long v;
    int ch;

    wc_set_progname(argv[0]);
    wc_tcp_client_defaults(&cfg);
    cfg.log = wc_log_line;
    while ((ch = getopt_long(argc, argv, "rw:t:46vhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'r': cfg.raw = 1; break;
        case 'w':
            if (wc_opt_size("window", optarg, 1, 1LL << 30, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.window = (size_t)v;
            break;
        case 't':
            if (wc_opt_seconds("timeout", optarg, 1, 86400000, &cfg.timeout_ms) < 0)
                return WC_EXIT_USAGE;
            break;
        case 'C': cfg.check = 0; break;
        case 'N': cfg.nodelay = 0; break;
        case '4': cfg.family = AF_INET; break;
        case '6': cfg.family = AF_INET6; break;
        case 'v': cfg.verbose = 1; break;
        case 'h': usage(); return WC_EXIT_OK;
        case 'V': printf("tcp-client (wirecheck) %s\n", WIRECHECK_VERSION); return WC_EXIT_OK;
        default:
            wc_try_help();
            return WC_EXIT_USAGE;
        }
    }
    if (wc_operands_host_port(argc, argv, optind, &cfg.host, &cfg.port) < 0)
        return WC_EXIT_USAGE;
    if (wc_tcp_client_run(&cfg, &res, errbuf, sizeof errbuf) < 0) {
        wc_log("%s", errbuf);
        return WC_EXIT_RUNTIME;
    }
    if (res.mismatched) {
        wc_log("wrong reply: byte %llu is 0x%02x, expected 0x%02x (the upper case of the request)",
               res.mismatch_at, res.got, res.expected);
        return WC_EXIT_WRONG_REPLY;
    }
    return WC_EXIT_OK;
}
