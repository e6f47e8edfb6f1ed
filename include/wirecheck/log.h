/* log.h - the library's messages for people: handed to a function the program gives, never printed here. */
#ifndef WIRECHECK_LOG_H
#define WIRECHECK_LOG_H

/* Takes one message (no newline, no program name); the programs give wc_log_line (cli.h). */
typedef void wc_log_fn(const char *msg);

/* The longest message passed on, with its NUL; longer ones are cut. */
#define WC_LOG_MSG_SIZE 1024

/* Formats the message and passes it to fn in one call (workers may log at once); a NULL fn drops it. */
void wc_logf(wc_log_fn *fn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
