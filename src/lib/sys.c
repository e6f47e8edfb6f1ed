/* sys.c - EINTR-retrying syscall wrappers returning 0/n or -errno. */
#include "wirecheck/sys.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Each wrapper loops only on EINTR; every other failure becomes -errno. */
ssize_t wc_read(int fd, void *buf, size_t n)
{
    ssize_t r;

    do
        r = read(fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

ssize_t wc_write(int fd, const void *buf, size_t n)
{
    ssize_t r;

    do
        r = write(fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

ssize_t wc_recv(int fd, void *buf, size_t n, int flags)
{
    ssize_t r;

    do
        r = recv(fd, buf, n, flags);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

ssize_t wc_recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t r;

    do
        r = recvmsg(fd, msg, flags);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

ssize_t wc_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    ssize_t r;

    do
        r = sendmsg(fd, msg, flags);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int wc_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    int r;

    do
        r = recvmmsg(fd, v, n, flags, NULL);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int wc_sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    int r;

    do
        r = sendmmsg(fd, v, n, flags);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int wc_accept(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    int r;

    do
        r = accept4(fd, sa, len, flags);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int wc_poll(struct pollfd *fds, nfds_t n, int timeout_ms)
{
    int r;

    do
        r = poll(fds, n, timeout_ms);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int wc_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;

    while (n > 0) {
        ssize_t w = wc_write(fd, p, n);
        if (w < 0)
            return (int)w;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void wc_close(int fd)
{
    if (fd >= 0)
        (void)close(fd);
}

unsigned long long wc_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

unsigned long long wc_wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

void *wc_alloc_huge(size_t size)
{
    size_t whole = (size + WC_HUGE_PAGE - 1) & ~(size_t)(WC_HUGE_PAGE - 1);
    void *p;

    if (whole < size || posix_memalign(&p, WC_HUGE_PAGE, whole) != 0)
        return NULL;
    madvise(p, whole, MADV_HUGEPAGE);   /* advice: without it, 4 KiB pages */
    return p;
}

int wc_drop_privileges(const char *user, char *errbuf, size_t errlen)
{
    struct passwd *pw;

    errno = 0;
    pw = getpwnam(user);
    if (!pw) {
        snprintf(errbuf, errlen, "user %s: %s", user, errno ? strerror(errno) : "no such user");
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0) {
        snprintf(errbuf, errlen, "initgroups(%s): %s", user, strerror(errno));
        return -1;
    }
    if (setgid(pw->pw_gid) < 0) {
        snprintf(errbuf, errlen, "setgid(%u): %s", (unsigned)pw->pw_gid, strerror(errno));
        return -1;
    }
    if (setuid(pw->pw_uid) < 0) {
        snprintf(errbuf, errlen, "setuid(%u): %s", (unsigned)pw->pw_uid, strerror(errno));
        return -1;
    }
    return 0;
}
