/*
 * tclo.c -- TCLO over AF_VSOCK (see tclo.h; channel.md §6.3-6.4).
 */
#define _GNU_SOURCE
#include "vsock/tclo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One fill() reads at most this much: fairness towards the rest of the loop. */
#define TCLO_FILL_BUDGET (256u * 1024u)
/* Free space made before each read. */
#define TCLO_READ_CHUNK (16u * 1024u)

static uint32_t be32(const uint8_t *p)
{
   return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t monotonic_ms(void)
{
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------------------
 * Connect (§6.4 steps 1-2)
 */

vmt_status vsock_tclo_min_buffers(int fd, vmt_error *err)
{
   static const struct { int opt; const char *name; } bufs[] = {
      { SO_SNDBUF, "SO_SNDBUF" },
      { SO_RCVBUF, "SO_RCVBUF" },
   };
   for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
      int size = 0;
      socklen_t len = sizeof size;
      if (getsockopt(fd, SOL_SOCKET, bufs[i].opt, &size, &len) != 0) {
         return vmt_sys_fail(err, errno, "vsock TCLO: getsockopt %s", bufs[i].name);
      }
      if (size >= VSOCK_TCLO_MIN_BUF_SIZE) {
         continue;
      }
      size = VSOCK_TCLO_MIN_BUF_SIZE;
      if (setsockopt(fd, SOL_SOCKET, bufs[i].opt, &size, sizeof size) != 0) {
         return vmt_sys_fail(err, errno, "vsock TCLO: cannot raise %s to %d bytes",
                               bufs[i].name, VSOCK_TCLO_MIN_BUF_SIZE);
      }
   }
   return VMT_OK;
}

vmt_status vsock_tclo_connect(unsigned port, int timeout_ms, int *fd_out, vmt_error *err)
{
   struct vsock_addr peer;
   vmt_status st;
   int fd, e;

   *fd_out = -1;
   st = vsock_real_connect_allowed(err);
   if (st != VMT_OK) {
      return st;
   }

   fd = socket(VSOCK_AF_LINUX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
   if (fd < 0) {
      return vmt_sys_fail(err, errno, "vsock TCLO: socket");
   }
   /* No bind: connect() picks an ephemeral source port. The TCLO channel
    * is never privileged (§6.4 step 1; only RPCI binds below 1024). */
   memset(&peer, 0, sizeof peer);
   peer.svm_family = VSOCK_AF_LINUX;
   peer.svm_cid = VSOCK_CID_HYPERVISOR;   /* never anything else */
   peer.svm_port = port;
   if (connect(fd, (struct sockaddr *)&peer, sizeof peer) != 0) {
      if (errno != EINPROGRESS && errno != EINTR) {
         e = errno;
         close(fd);
         return vmt_sys_fail(err, e, "vsock TCLO: connect to CID 0 port %u", port);
      }
      /* Completion is writability (connect(2), "EINPROGRESS"). */
      int64_t deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
      for (;;) {
         int wait = -1;
         if (deadline >= 0) {
            int64_t left = deadline - monotonic_ms();
            wait = left > 0 ? (int)left : 0;
         }
         struct pollfd pfd = { fd, POLLOUT, 0 };
         int r = poll(&pfd, 1, wait);
         if (r < 0 && errno == EINTR) {
            continue;
         }
         if (r < 0) {
            e = errno;
            close(fd);
            return vmt_sys_fail(err, e, "vsock TCLO: waiting for the connect to CID 0 port %u",
                                  port);
         }
         if (r == 0) {
            close(fd);
            return vmt_fail(err, VMT_TIMEOUT, "vsock TCLO: connect to CID 0 port %u did not "
                            "complete within %d ms", port, timeout_ms);
         }
         break;
      }
      socklen_t len = sizeof e;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) {
         e = errno;
      }
      if (e != 0) {
         close(fd);
         return vmt_sys_fail(err, e, "vsock TCLO: connect to CID 0 port %u", port);
      }
   }

   st = vsock_tclo_min_buffers(fd, err);
   if (st != VMT_OK) {
      close(fd);
      return st;
   }
   *fd_out = fd;
   return VMT_OK;
}

/* ---------------------------------------------------------------------------
 * Packets out
 */

vmt_status vsock_tclo_send(int fd, int64_t type, const uint8_t *payload, size_t len,
                           int timeout_ms, vmt_error *err)
{
   int has_payload = payload != NULL && len > 0;
   uint8_t small[256];
   uint8_t *pkt = small;
   vmt_status st;

   if (fd < 0) {
      return vmt_fail(err, VMT_NOT_OPEN, "vsock TCLO: the channel is not open");
   }
   if (len > VSOCK_MAX_PACKET) {
      return vmt_fail(err, VMT_TOO_LARGE, "vsock TCLO: a reply of %zu bytes is over the "
                      "%u-byte packet limit", len, VSOCK_MAX_PACKET);
   }
   size_t size = guestrpc_packet_size(has_payload, has_payload ? len : 0, 0);
   if (size > sizeof small) {
      pkt = malloc(size);
      if (pkt == NULL) {
         return vmt_fail(err, VMT_NO_MEMORY, "cannot allocate a %zu-byte vsock packet", size);
      }
   }
   guestrpc_packet_encode(pkt, type, has_payload, payload, has_payload ? len : 0, 0);
   st = vsock_write_all(fd, pkt, size, timeout_ms,
                        type == GUESTRPCPKT_TYPE_PING ? "vsock TCLO: Unable to send the heartbeat"
                                                      : "vsock TCLO: Unable to send the reply",
                        err);
   if (pkt != small) {
      free(pkt);
   }
   return st;
}

/* ---------------------------------------------------------------------------
 * Packets in
 */

void vsock_tclo_reader_init(vsock_tclo_reader *r)
{
   memset(r, 0, sizeof *r);
}

void vsock_tclo_reader_free(vsock_tclo_reader *r)
{
   free(r->buf);
   memset(r, 0, sizeof *r);
}

size_t vsock_tclo_reader_pending(const vsock_tclo_reader *r)
{
   return r->len - r->start;
}

vmt_status vsock_tclo_reader_fill(vsock_tclo_reader *r, int fd, int *eof, vmt_error *err)
{
   size_t budget = TCLO_FILL_BUDGET;

   *eof = 0;
   if (r->start > 0) {
      /* Payloads handed out by next() are gone from here on. */
      memmove(r->buf, r->buf + r->start, r->len - r->start);
      r->len -= r->start;
      r->start = 0;
   }
   while (budget > 0) {
      if (r->alloc - r->len < TCLO_READ_CHUNK) {
         size_t want = r->alloc < TCLO_READ_CHUNK ? 4 * TCLO_READ_CHUNK : r->alloc * 2;
         uint8_t *p = realloc(r->buf, want);
         if (p == NULL) {
            return vmt_fail(err, VMT_NO_MEMORY, "vsock TCLO: cannot grow the receive buffer "
                            "to %zu bytes", want);
         }
         r->buf = p;
         r->alloc = want;
      }
      size_t room = r->alloc - r->len;
      ssize_t k = read(fd, r->buf + r->len, room < budget ? room : budget);
      if (k > 0) {
         r->len += (size_t)k;
         budget -= (size_t)k;
         continue;
      }
      if (k == 0) {
         *eof = 1;
         return VMT_OK;
      }
      if (errno == EINTR) {
         continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
         return VMT_OK;
      }
      if (errno == ECONNRESET) {
         return vmt_fail(err, VMT_CHANNEL_CLOSED, "vsock TCLO: connection reset by the host");
      }
      return vmt_sys_fail(err, errno, "vsock TCLO: read");
   }
   return VMT_OK;
}

vmt_status vsock_tclo_reader_next(vsock_tclo_reader *r, const uint8_t **payload,
                                  size_t *len, int *have, vmt_error *err)
{
   size_t avail = r->len - r->start;
   const uint8_t *p = r->buf + r->start;
   guestrpc_packet pkt;
   vmt_status st;

   *have = 0;
   if (avail < 4) {
      return VMT_OK;
   }
   uint32_t body = be32(p);
   if (body > INT_MAX - 4) {
      /* Socket_RecvPacket panics here; we refuse the stream instead. */
      return vmt_fail(err, VMT_PROTOCOL, "vsock TCLO: packet claims %u bytes", body);
   }
   if (body > VSOCK_MAX_PACKET) {
      return vmt_fail(err, VMT_TOO_LARGE, "vsock TCLO: packet of %u bytes is over the "
                      "%u-byte limit", body, VSOCK_MAX_PACKET);
   }
   if (avail - 4 < body) {
      return VMT_OK;
   }
   st = guestrpc_packet_decode(p + 4, body, &pkt, err);
   if (st != VMT_OK) {
      return st;
   }
   if (!pkt.has_payload) {
      return vmt_fail(err, VMT_PROTOCOL, "vsock TCLO: host packet without a payload field "
                      "(%u bytes, type %lld)", body, pkt.has_type ? (long long)pkt.type : -1LL);
   }
   r->start += 4 + (size_t)body;
   *payload = pkt.payload;
   *len = pkt.payload_len;
   *have = 1;
   return VMT_OK;
}
