/* pcapng_int.h - the pcapng writer's private state, shared by its blocks (pcapng.c) and its file (pcapng_file.c). */
#ifndef WIRECHECK_PCAPNG_INT_H
#define WIRECHECK_PCAPNG_INT_H

#include "wirecheck/pcapng.h"

#include <stddef.h>
#include <stdint.h>

/* The buffer's first size; a power of two, as WC_PCAPNG_BUFFER_SIZE is. */
#define WC_PCAPNG_BUFFER_INITIAL (64u << 10)

struct wc_pcapng {
    int fd;
    int own_fd;             /* opened by us: close it, and rename on success */
    int err;                /* first write error (negative errno), sticky */
    uint32_t nifaces;
    uint8_t *buf;
    size_t len, cap;
    char *path;             /* final name, or NULL */
    char *tmp;              /* name written to, or NULL */
};

/* A writer on fd with its buffer and the section header (s NULL: no options) in it. Returns 0 and *out, or
 * -errno; the caller keeps fd on failure. */
int wc_pcapng_writer_new(struct wc_pcapng **out, int fd, const struct wc_pcapng_section *s);

#endif
