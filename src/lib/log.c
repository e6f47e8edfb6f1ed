/* log.c - formats a library message and hands it to the program's wc_log_fn. */
#include "wirecheck/log.h"

#include <stdarg.h>
#include <stdio.h>

void wc_logf(wc_log_fn *fn, const char *fmt, ...)
{
    char msg[WC_LOG_MSG_SIZE];
    va_list ap;

    if (!fn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(msg);
}
