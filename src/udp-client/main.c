/* udp-client - sends stdin lines or generated messages as datagrams and accounts for the replies. */
#include "wirecheck/cli.h"
#include "wirecheck/seq.h"
#include "wirecheck/sock.h"
#include "wirecheck/udp_client.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static void usage(void)
{
    printf("Usage: udp-client [options] HOST [PORT]\n"
           "Sends each line of standard input, without its LF, as one datagram to the UDP\n"
           "uppercase server at HOST:PORT (default port 9876) and prints each reply as\n"
           "'FROM SERVER:<reply>'. A summary goes to standard error: sent, answered, lost,\n"
           "duplicated, reordered, and the round-trip times.\n\n"
           "  -r, --raw            print only the reply\n"
           "  -q, --quiet          print no replies, only the summary\n"
           "  -t, --timeout SEC    wait for each reply this long (default 1)\n"
           "      --retries N      send again this many times after a timeout (default 0)\n"
           "      --seq            start each datagram with a tag 'WC<10 digits>:' so that\n"
           "                       every reply is attributed to its request exactly\n"
           "  -n, --count N        send N generated messages instead of reading input\n"
           "  -s, --size BYTES     bytes per generated message (default 64, tag included)\n"
           "      --rate PPS       messages per second (default: as fast as the window allows)\n"
           "  -w, --window N       messages awaiting replies at once (default 1; above 1 needs --seq)\n"
           "      --linger SEC     after the last reply, listen this long for duplicates\n"
           "      --json FILE      write the summary as JSON\n"
           "  -4, -6               IPv4 or IPv6 only\n"
           "  -v, --verbose        log addresses and each lost message\n"
           "  -h, --help           this help;  -V, --version  the version\n\n"
           "Exit: 0 when every message was answered correctly, 1 on an error, 2 on bad\n"
           "usage, 3 when a message got no reply, 4 when a reply was not the upper case\n"
           "of its request.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"raw", no_argument, NULL, 'r'},           {"quiet", no_argument, NULL, 'q'},
        {"timeout", required_argument, NULL, 't'}, {"retries", required_argument, NULL, 'R'},
        {"seq", no_argument, NULL, 'S'},           {"count", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'},    {"rate", required_argument, NULL, 'P'},
        {"window", required_argument, NULL, 'w'},  {"linger", required_argument, NULL, 'L'},
        {"json", required_argument, NULL, 'J'},    {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct wc_udp_client_config cfg;
    struct wc_udp_client_result res;
    char errbuf[WC_ERRBUF_SIZE];
    long long v;
    int ch;

    wc_set_progname(argv[0]);
    wc_udp_client_defaults(&cfg);
    cfg.log = wc_log_line;
    while ((ch = getopt_long(argc, argv, "rqt:n:s:w:46vhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'r': cfg.raw = 1; break;
        case 'q': cfg.quiet = 1; break;
        case 't':
            if (wc_opt_seconds("timeout", optarg, 1, 3600000, &cfg.timeout_ms) < 0)
                return WC_EXIT_USAGE;
            break;
        case 'R':
            if (wc_opt_ll("retries", optarg, 0, 100, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.retries = (int)v;
            break;
        case 'S': cfg.seq = 1; break;
        case 'n':
            if (wc_opt_ll("count", optarg, 1, 100000000, &cfg.count) < 0)
                return WC_EXIT_USAGE;
            break;
        case 's':
            if (wc_opt_size("size", optarg, 0, WC_UDP_MAX_PAYLOAD_V4, &cfg.size) < 0)
                return WC_EXIT_USAGE;
            break;
        case 'P':
            if (wc_opt_ll("rate", optarg, 1, 10000000, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.rate = (double)v;
            break;
        case 'w':
            if (wc_opt_ll("window", optarg, 1, WC_UDP_CLIENT_MAX_WINDOW, &v) < 0)
                return WC_EXIT_USAGE;
            cfg.window = (int)v;
            break;
        case 'L':
            if (wc_opt_seconds("linger", optarg, 0, 3600000, &cfg.linger_ms) < 0)
                return WC_EXIT_USAGE;
            break;
        case 'J': cfg.json_path = optarg; break;
        case '4': cfg.family = AF_INET; break;
        case '6': cfg.family = AF_INET6; break;
        case 'v': cfg.verbose = 1; break;
        case 'h': usage(); return WC_EXIT_OK;
        case 'V': printf("udp-client (wirecheck) %s\n", WIRECHECK_VERSION); return WC_EXIT_OK;
        default:
            wc_try_help();
            return WC_EXIT_USAGE;
        }
    }
    if (wc_operands_host_port(argc, argv, optind, &cfg.host, &cfg.port) < 0)
        return WC_EXIT_USAGE;
    if (cfg.window > 1 && !cfg.seq) {
        wc_usage_error("--window above 1 needs --seq: without tags a reply cannot be attributed");
        return WC_EXIT_USAGE;
    }
    if (cfg.count > 0 && cfg.seq && cfg.size < WC_SEQ_TAG_LEN) {
        wc_usage_error("--size %lld is too small for the %d-byte --seq tag", cfg.size, WC_SEQ_TAG_LEN);
        return WC_EXIT_USAGE;
    }
    if (wc_udp_client_run(&cfg, &res, errbuf, sizeof errbuf) < 0) {
        wc_log("%s", errbuf);
        return WC_EXIT_RUNTIME;
    }
    if (res.mismatched)
        return WC_EXIT_WRONG_REPLY;
    return res.answered < res.sent ? WC_EXIT_LOST : WC_EXIT_OK;
}
