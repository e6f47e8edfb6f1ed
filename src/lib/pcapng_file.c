/* pcapng_file.c - where the pcapng writer's bytes go: FILE.partial renamed to FILE only once complete, a device
 * or FIFO written in place, stdout, or the caller's fd; and what a failed run leaves behind. */
#include "wirecheck/pcapng.h"
#include "pcapng_int.h"

#include "wirecheck/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int wc_pcapng_fdopen(struct wc_pcapng **out, int fd, const struct wc_pcapng_section *s)
{
    return wc_pcapng_writer_new(out, fd, s);
}

int wc_pcapng_open(struct wc_pcapng **out, const char *path, const struct wc_pcapng_section *s)
{
    struct wc_pcapng *w;
    char *tmp = NULL, *final = NULL;
    struct stat st;
    int fd, r;

    if (strcmp(path, "-") == 0)
        return wc_pcapng_writer_new(out, STDOUT_FILENO, s);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (!(final = strdup(path)))
            return -ENOMEM;
        if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
            r = -errno;
            goto fail;
        }
        if ((r = wc_pcapng_writer_new(&w, fd, s)) < 0) {
            wc_close(fd);
            goto fail;
        }
        w->own_fd = 1;
        w->path = final;
        *out = w;
        return 0;
    }
    if (asprintf(&tmp, "%s%s", path, WC_PCAPNG_PARTIAL_SUFFIX) < 0)
        return -ENOMEM;
    if (!(final = strdup(path))) {
        r = -ENOMEM;
        goto fail;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = -errno;
        goto fail;
    }
    if ((r = wc_pcapng_writer_new(&w, fd, s)) < 0) {
        wc_close(fd);
        unlink(tmp);
        goto fail;
    }
    w->own_fd = 1;
    w->path = final;
    w->tmp = tmp;
    *out = w;
    return 0;
fail:
    free(final);
    free(tmp);
    return r;
}

static void writer_free(struct wc_pcapng *w)
{
    free(w->buf);
    free(w->path);
    free(w->tmp);
    free(w);
}

int wc_pcapng_close(struct wc_pcapng *w)
{
    int r = wc_pcapng_flush(w);

    if (w->own_fd) {
        /* Some file systems report a full disk only when the data reaches it. */
        if (r == 0 && fdatasync(w->fd) < 0 && errno != EINVAL && errno != EROFS)
            r = -errno;
        if (close(w->fd) < 0 && r == 0)
            r = -errno;
        if (r == 0 && w->tmp && rename(w->tmp, w->path) < 0)
            r = -errno;
    }
    writer_free(w);
    return r;
}

void wc_pcapng_abort(struct wc_pcapng *w, int keep_partial)
{
    if (keep_partial)
        (void)wc_pcapng_flush(w);
    if (w->own_fd) {
        wc_close(w->fd);
        if (!keep_partial && w->tmp)
            unlink(w->tmp);
    }
    writer_free(w);
}

const char *wc_pcapng_tmpname(const struct wc_pcapng *w)
{
    return w->tmp ? w->tmp : w->path ? w->path : "standard output";
}
