/* sys.h - the one place where system calls are retried on EINTR. */
#ifndef WIRECHECK_SYS_H
#define WIRECHECK_SYS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <poll.h>

/* Every wrapper retries EINTR and returns what the call returns on success,
 * or -errno on failure. EAGAIN comes back as -EAGAIN: a state, not an error.
 * Short reads and writes are returned as they are; the caller owns the rest. */
ssize_t wc_read(int fd, void *buf, size_t n);
ssize_t wc_write(int fd, const void *buf, size_t n);
ssize_t wc_recv(int fd, void *buf, size_t n, int flags);
ssize_t wc_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t wc_sendmsg(int fd, const struct msghdr *msg, int flags);
int wc_recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags);
int wc_sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags);
int wc_accept(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int wc_poll(struct pollfd *fds, nfds_t n, int timeout_ms);

/* Writes all of buf to a blocking fd, looping over short writes.
 * Returns 0 or -errno. */
int wc_write_all(int fd, const void *buf, size_t n);

/* Closes fd and never retries: on Linux the fd is gone even after EINTR. */
void wc_close(int fd);

/* Monotonic clock in nanoseconds. */
unsigned long long wc_now_ns(void);
/* Wall clock (CLOCK_REALTIME) in nanoseconds since the epoch, as capture files stamp packets. */
unsigned long long wc_wall_ns(void);

/* A huge page (x86-64, arm64 with 4 KiB base pages). */
#define WC_HUGE_PAGE (2u << 20)
/* At least size bytes in whole huge pages, aligned to one, advised to the kernel as huge pages; free() them.
 * NULL: out of memory. For memory filled at once and soon: on this VM each 4 KiB first-touch fault costs
 * ~15 us. */
void *wc_alloc_huge(size_t size);

/* Drops root to USER (its uid, gid and groups). Returns 0, or -1 with a
 * message naming the failed step in errbuf. */
int wc_drop_privileges(const char *user, char *errbuf, size_t errlen);

#endif
