/*
 * sdnotify.c -- sd_notify(3) datagrams (see sdnotify.h).
 */
#define _GNU_SOURCE
#include "system/sdnotify.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* For messages: abstract names print with their '@', as systemd shows them. */
static const char *shown(const char *path, size_t path_len, char *buf, size_t cap)
{
   snprintf(buf, cap, "%.*s", (int)(path_len < 120 ? path_len : 120), path);
   return buf;
}

vmt_status sdnotify_sockaddr(const char *path, size_t path_len,
                             struct sockaddr_un *addr, socklen_t *addr_len,
                             vmt_error *err)
{
   char name[128];

   memset(addr, 0, sizeof *addr);
   addr->sun_family = AF_UNIX;
   if (path_len == 0 || (path[0] != '/' && path[0] != '@') ||
       memchr(path, '\0', path_len) != NULL) {
      return vmt_sys_fail(err, EINVAL, "NOTIFY_SOCKET %s is neither an absolute "
                      "path nor an abstract '@' name",
                      shown(path, path_len, name, sizeof name));
   }
   if (path[0] == '@') {
      /* Abstract: every byte of sun_path up to the length is the name. */
      if (path_len > sizeof addr->sun_path) {
         return vmt_sys_fail(err, ENAMETOOLONG, "NOTIFY_SOCKET %s",
                         shown(path, path_len, name, sizeof name));
      }
      addr->sun_path[0] = '\0';
      memcpy(addr->sun_path + 1, path + 1, path_len - 1);
      *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len);
   } else {
      /* Filesystem: room for the terminating NUL, which the length counts. */
      if (path_len >= sizeof addr->sun_path) {
         return vmt_sys_fail(err, ENAMETOOLONG, "NOTIFY_SOCKET %s",
                         shown(path, path_len, name, sizeof name));
      }
      memcpy(addr->sun_path, path, path_len);
      *addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1);
   }
   return VMT_OK;
}

vmt_status sdnotify_send(const char *path, size_t path_len,
                         const uint8_t *msg, size_t len, vmt_error *err)
{
   struct sockaddr_un addr;
   socklen_t addr_len;
   char name[128];
   vmt_status st;

   st = sdnotify_sockaddr(path, path_len, &addr, &addr_len, err);
   if (st != VMT_OK) {
      return st;
   }
   int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
   if (fd < 0) {
      return vmt_sys_fail(err, errno, "sd_notify: socket");
   }
   ssize_t n;
   do {
      n = sendto(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT,
                 (struct sockaddr *)&addr, addr_len);
   } while (n < 0 && errno == EINTR);
   int e = errno;
   close(fd);
   if (n < 0) {
      return vmt_sys_fail(err, e, "sd_notify: sendto %s",
                      shown(path, path_len, name, sizeof name));
   }
   if ((size_t)n != len) {
      /* Datagrams go whole or not at all; this is a kernel surprise. */
      return vmt_sys_fail(err, EMSGSIZE, "sd_notify: sendto %s sent %zd of %zu bytes",
                      shown(path, path_len, name, sizeof name), n, len);
   }
   return VMT_OK;
}

vmt_status sdnotify_bind_for_testing(const char *path, size_t path_len,
                                     int *fd_out, vmt_error *err)
{
   struct sockaddr_un addr;
   socklen_t addr_len;
   char name[128];
   vmt_status st;

   st = sdnotify_sockaddr(path, path_len, &addr, &addr_len, err);
   if (st != VMT_OK) {
      return st;
   }
   int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
   if (fd < 0) {
      return vmt_sys_fail(err, errno, "socket");
   }
   if (bind(fd, (struct sockaddr *)&addr, addr_len) != 0) {
      int e = errno;
      close(fd);
      return vmt_sys_fail(err, e, "bind %s", shown(path, path_len, name, sizeof name));
   }
   *fd_out = fd;
   return VMT_OK;
}

vmt_status sdnotify_recv_for_testing(int fd, int timeout_ms, uint8_t *buf,
                                     size_t cap, size_t *len_out,
                                     vmt_error *err)
{
   struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
   int r;

   *len_out = (size_t)-1;
   do {
      r = poll(&p, 1, timeout_ms);
   } while (r < 0 && errno == EINTR);
   if (r < 0) {
      return vmt_sys_fail(err, errno, "poll");
   }
   if (r == 0) {
      return VMT_OK;
   }
   ssize_t n = recv(fd, buf, cap, MSG_TRUNC | MSG_DONTWAIT);
   if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
         return VMT_OK;
      }
      return vmt_sys_fail(err, errno, "recv");
   }
   *len_out = (size_t)n;
   return VMT_OK;
}
