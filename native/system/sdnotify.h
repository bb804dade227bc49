/*
 * sdnotify.h -- sd_notify(3) without libsystemd: one AF_UNIX datagram to
 * the socket systemd names in $NOTIFY_SOCKET (READY=1, STATUS=..., WATCHDOG=1).
 *
 * Why native: Node has no AF_UNIX datagram sockets, and spawning
 * systemd-notify per message (the npm package's way) costs a process start
 * every watchdog ping.
 *
 * Addresses follow systemd's rules (sd_notify(3), sockaddr_un_set_path): a
 * path starting with '/' is a filesystem socket (address length includes
 * the terminating NUL); one starting with '@' is an abstract name: the '@'
 * becomes a leading NUL and the length is exact, with no trailing NUL.
 */
#ifndef VMTOOLS_SDNOTIFY_H
#define VMTOOLS_SDNOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "backdoor/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Fills *addr / *addr_len for `path` (path_len bytes, no NUL inside).
 * VMT_IO with sys_errno EINVAL for an empty path or one that is neither
 * absolute nor abstract, ENAMETOOLONG when it does not fit sun_path.
 */
vmt_status sdnotify_sockaddr(const char *path, size_t path_len,
                             struct sockaddr_un *addr, socklen_t *addr_len,
                             vmt_error *err);

/*
 * Sends `msg` as one datagram to `path` on a fresh close-on-exec socket.
 * Never blocks: a receiver whose queue is full gives VMT_IO / EAGAIN
 * rather than stalling the caller's event loop. Failures are VMT_IO with
 * the errno in err->sys_errno.
 */
vmt_status sdnotify_send(const char *path, size_t path_len,
                         const uint8_t *msg, size_t len, vmt_error *err);

/*
 * Tests only: a bound, non-blocking, close-on-exec datagram socket at
 * `path` (same address rules) standing in for systemd. Returns the fd.
 */
vmt_status sdnotify_bind_for_testing(const char *path, size_t path_len,
                                     int *fd_out, vmt_error *err);

/*
 * Tests only: waits up to timeout_ms (0 = just look, -1 = forever) for one
 * datagram on fd. *len_out = (size_t)-1 when none arrived; otherwise the
 * datagram is in buf (truncated to cap; the real size is *len_out).
 */
vmt_status sdnotify_recv_for_testing(int fd, int timeout_ms, uint8_t *buf,
                                     size_t cap, size_t *len_out,
                                     vmt_error *err);

#ifdef __cplusplus
}
#endif

#endif
