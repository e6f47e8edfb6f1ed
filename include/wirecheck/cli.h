/* cli.h - command-line helpers shared by the programs: ranged numbers, durations, usage errors. */
#ifndef WIRECHECK_CLI_H
#define WIRECHECK_CLI_H

#include <stdbool.h>

/* Exit codes shared by every program; the clients add theirs (a message went unanswered, or a reply was not
 * the upper case of its request). Only main returns them: the library returns 0 or -errno. */
enum {
    WC_EXIT_OK = 0,
    WC_EXIT_RUNTIME = 1,
    WC_EXIT_USAGE = 2,
    WC_EXIT_LOST = 3,
    WC_EXIT_WRONG_REPLY = 4,
};

/* Parses a whole decimal integer in [min, max] (strtonum(3) semantics).
 * Returns 0, or -1 with *errstr set to "invalid", "too small" or "too large". */
int wc_parse_ll(const char *s, long long min, long long max, long long *out, const char **errstr);

/* Parses seconds with an optional fraction ("1", "0.25", "2.5") in
 * [min_ms, max_ms] milliseconds into *ms. Returns 0 or -1 with *errstr set. */
int wc_parse_seconds(const char *s, long long min_ms, long long max_ms, long long *ms,
                     const char **errstr);

/* Parses a size with an optional k/K, m/M or g/G (powers of 1024) suffix. */
int wc_parse_size(const char *s, long long min, long long max, long long *out, const char **errstr);

/* Validates a port given as a number in 1..65535 (service names are refused
 * so that a typo is an error, not a lookup). Returns 0 or -1 with *errstr. */
int wc_parse_port(const char *s, const char **errstr);

/* Sets the program name used by the messages below (argv[0]'s basename). */
void wc_set_progname(const char *argv0);
const char *wc_progname(void);

/* "prog: message\n" on stderr; wc_usage_error adds "Try 'prog --help'.". */
void wc_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "prog: msg\n" on stderr in one write: the wc_log_fn (log.h) the programs give the library. */
void wc_log_line(const char *msg);
void wc_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));



/* Option-value helpers for getopt loops: each parses NAME's ARG within the
 * range, prints a usage error that names the option and the range when it
 * does not fit, and returns 0 or -1 (the caller exits with WC_EXIT_USAGE). */
int wc_opt_ll(const char *name, const char *arg, long long min, long long max, long long *out);
int wc_opt_seconds(const char *name, const char *arg, long long min_ms, long long max_ms, long long *ms);
int wc_opt_size(const char *name, const char *arg, long long min, long long max, long long *out);
int wc_opt_port(const char *name, const char *arg);

/* Operands after the options. wc_operands_host_port takes the clients' HOST [PORT] (setting *port only
 * when given); wc_operands_none refuses any operand, naming `hint` (servers take the port with -p).
 * Each returns 0, or -1 after printing a usage error. */
int wc_operands_host_port(int argc, char **argv, int first, const char **host, const char **port);
int wc_operands_none(int argc, char **argv, int first, const char *hint);

/* After getopt_long has printed its own complaint: "Try 'prog --help'". */
void wc_try_help(void);
#endif
