/*
 * vsock.c -- RPCI over AF_VSOCK (channel.md §6; open-vm-tools
 * lib/rpcChannel/simpleSocket.c, vsockChannel.c, lib/dataMap/dataMap.c).
 */
#define _GNU_SOURCE
#include "vsock/vsock.h"
#include "backdoor/backdoor.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void vsock_init(vmt_vsock *v)
{
   memset(v, 0, sizeof *v);
   v->fd = -1;
   v->local_port = VSOCK_PORT_ANY;
   v->timeout_ms = -1;
}

void vsock_from_fd(vmt_vsock *v, int fd)
{
   vsock_close(v);
   v->fd = fd;
}

void vsock_close(vmt_vsock *v)
{
   if (v->fd >= 0) {
      close(v->fd);
   }
   free(v->in);
   v->in = NULL;
   v->in_alloc = 0;
   v->fd = -1;
}

/* ---------------------------------------------------------------------------
 * Connect (§6.2)
 */

/*
 * A real connect reaches the hypervisor. This machine class has virtio-vsock
 * devices whose CID 0 is not a VMX, and the trap shim can make CPUID say
 * VMwareVMware for patched objects, so require both: the real vendor
 * (bd_cpuid_is_vmware ignores VMTOOLSD_ASSUME_VMWARE) and no simulator.
 */
vmt_status vsock_real_connect_allowed(vmt_error *err)
{
   const char *sim = getenv("VMTOOLSD_SIM_SOCKET");
   if (sim != NULL && *sim != '\0') {
      return vmt_fail(err, VMT_NOT_VMWARE,
                      "refusing a real vsock connect: running against the VMX "
                      "simulator (VMTOOLSD_SIM_SOCKET is set)");
   }
   if (!bd_cpuid_is_vmware()) {
      int hv;
      char vendor[13];
      bd_cpuid_vendor(&hv, vendor);
      return vmt_fail(err, VMT_NOT_VMWARE,
                      "refusing a real vsock connect: CPUID hypervisor vendor is "
                      "\"%s\", not VMwareVMware", vendor);
   }
   return VMT_OK;
}

typedef enum { STEP_SOCKET, STEP_BIND, STEP_CONNECT } connect_step;

/* SocketConnectVmciInternal: fresh socket, bind, blocking connect. */
static int connect_from(unsigned local_port, unsigned port, connect_step *step, int *e)
{
   struct vsock_addr local, peer;
   int fd = socket(VSOCK_AF_LINUX, SOCK_STREAM | SOCK_CLOEXEC, 0);
   if (fd < 0) {
      *step = STEP_SOCKET;
      *e = errno;
      return -1;
   }
   memset(&local, 0, sizeof local);
   local.svm_family = VSOCK_AF_LINUX;
   local.svm_cid = VSOCK_CID_ANY;      /* = VMCISock_GetLocalCID() on Linux */
   local.svm_port = local_port;
   if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
      *step = STEP_BIND;
      *e = errno;
      close(fd);
      return -1;
   }
   memset(&peer, 0, sizeof peer);
   peer.svm_family = VSOCK_AF_LINUX;
   peer.svm_cid = VSOCK_CID_HYPERVISOR;  /* never anything else */
   peer.svm_port = port;
   if (connect(fd, (struct sockaddr *)&peer, sizeof peer) != 0) {
      *step = STEP_CONNECT;
      *e = errno;
      close(fd);
      return -1;
   }
   return fd;
}

static const char *step_name(connect_step s)
{
   return s == STEP_SOCKET ? "socket" : s == STEP_BIND ? "bind" : "connect";
}

vmt_status vsock_connect(vmt_vsock *v, unsigned port, int privileged, vmt_error *err)
{
   connect_step step = STEP_SOCKET;
   int e = 0, fd = -1;
   vmt_status st;

   vsock_close(v);
   st = vsock_real_connect_allowed(err);
   if (st != VMT_OK) {
      return st;
   }

   if (privileged) {
      int resets = 0, nobufs = 0;
      unsigned local = VSOCK_PRIV_PORT_MAX;
      while (local >= VSOCK_PRIV_PORT_MIN) {
         fd = connect_from(local, port, &step, &e);
         if (fd >= 0) {
            v->fd = fd;
            v->privileged = 1;
            v->local_port = local;
            return VMT_OK;
         }
         if (step == STEP_BIND && e == EADDRINUSE) {
            local--;                       /* next lower source port */
            continue;
         }
         if (step == STEP_CONNECT && e == ECONNRESET) {
            /* The VMX may be slow to release a port pair. */
            if (++resets >= VSOCK_MAX_ECONNRESET) {
               break;
            }
            local--;
            continue;
         }
         if (step == STEP_CONNECT && e == EINTR) {
            continue;                      /* same port again */
         }
         if (step == STEP_CONNECT && e == ENOBUFS) {
            if (++nobufs >= VSOCK_MAX_ENOBUFS) {
               break;
            }
            struct timespec ms = { 0, 1000000 };
            nanosleep(&ms, NULL);
            continue;
         }
         break;                            /* unrecoverable */
      }
      if (!(step == STEP_BIND && e == EACCES)) {
         return vmt_sys_fail(err, e, "vsock %s to CID 0 port %u from privileged port %u",
                               step_name(step), port, local);
      }
      /* Not root (no CAP_NET_BIND_SERVICE): an unprivileged channel. */
   }

   fd = connect_from(VSOCK_PORT_ANY, port, &step, &e);
   if (fd < 0) {
      return vmt_sys_fail(err, e, "vsock %s to CID 0 port %u", step_name(step), port);
   }
   v->fd = fd;
   v->privileged = 0;
   v->local_port = VSOCK_PORT_ANY;
   return VMT_OK;
}

/* ---------------------------------------------------------------------------
 * DataMap framing (§6.3)
 */

static void put_be32(uint8_t *p, uint32_t v)
{
   p[0] = (uint8_t)(v >> 24);
   p[1] = (uint8_t)(v >> 16);
   p[2] = (uint8_t)(v >> 8);
   p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
   return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* INT64: low word then high word, each big-endian -- NOT a plain BE int64. */
static uint8_t *put_int64_field(uint8_t *p, int32_t id, int64_t value)
{
   put_be32(p, DMFIELD_INT64);
   put_be32(p + 4, (uint32_t)id);
   put_be32(p + 8, (uint32_t)((uint64_t)value & 0xFFFFFFFFu));
   put_be32(p + 12, (uint32_t)((uint64_t)value >> 32));
   return p + 16;
}

static int64_t get_int64(const uint8_t *p)
{
   return (int64_t)((uint64_t)get_be32(p + 4) << 32 | get_be32(p));
}

size_t guestrpc_packet_size(int has_payload, size_t payload_len, int fast_close)
{
   return 4 + 16 + (has_payload ? 12 + payload_len : 0) + (fast_close ? 16 : 0);
}

size_t guestrpc_packet_encode(uint8_t *out, int64_t type, int has_payload,
                              const uint8_t *payload, size_t payload_len,
                              int fast_close)
{
   size_t total = guestrpc_packet_size(has_payload, payload_len, fast_close);
   uint8_t *p = out + 4;

   put_be32(out, (uint32_t)(total - 4));
   /* Ascending ids, the order open-vm-tools' hash map happens to emit. */
   p = put_int64_field(p, GUESTRPCPKT_FIELD_TYPE, type);
   if (has_payload) {
      put_be32(p, DMFIELD_STRING);
      put_be32(p + 4, GUESTRPCPKT_FIELD_PAYLOAD);
      put_be32(p + 8, (uint32_t)payload_len);
      if (payload_len > 0) {
         memcpy(p + 12, payload, payload_len);
      }
      p += 12 + payload_len;
   }
   if (fast_close) {
      p = put_int64_field(p, GUESTRPCPKT_FIELD_FAST_CLOSE, 1);
   }
   return total;
}

#define MAX_DATAMAP_FIELDS 256

vmt_status guestrpc_packet_decode(const uint8_t *body, size_t len,
                                  guestrpc_packet *pkt, vmt_error *err)
{
   int32_t seen[MAX_DATAMAP_FIELDS];
   size_t nseen = 0, off = 0;

   memset(pkt, 0, sizeof *pkt);
#define NEED(n) do { if (len - off < (size_t)(n)) goto truncated; } while (0)
   while (off < len) {
      NEED(8);
      int32_t type = (int32_t)get_be32(body + off);
      int32_t id = (int32_t)get_be32(body + off + 4);
      off += 8;
      for (size_t i = 0; i < nseen; i++) {
         if (seen[i] == id) {
            return vmt_fail(err, VMT_PROTOCOL, "vsock packet: duplicate DataMap field id %d", id);
         }
      }
      if (nseen == MAX_DATAMAP_FIELDS) {
         return vmt_fail(err, VMT_PROTOCOL, "vsock packet: more than %d DataMap fields",
                         MAX_DATAMAP_FIELDS);
      }
      seen[nseen++] = id;

      switch (type) {
      case DMFIELD_INT64: {
         NEED(8);
         int64_t value = get_int64(body + off);
         off += 8;
         if (id == GUESTRPCPKT_FIELD_TYPE) {
            pkt->has_type = 1;
            pkt->type = value;
         } else if (id == GUESTRPCPKT_FIELD_FAST_CLOSE) {
            pkt->has_fast_close = 1;
            pkt->fast_close = value;
         }
         break;
      }
      case DMFIELD_STRING: {
         NEED(4);
         int32_t n = (int32_t)get_be32(body + off);
         off += 4;
         if (n < 0) {
            return vmt_fail(err, VMT_PROTOCOL, "vsock packet: negative string length %d", n);
         }
         NEED(n);
         if (id == GUESTRPCPKT_FIELD_PAYLOAD) {
            pkt->has_payload = 1;
            pkt->payload = body + off;
            pkt->payload_len = (size_t)n;
         }
         off += (size_t)n;
         break;
      }
      case DMFIELD_INT64LIST: {
         NEED(4);
         int32_t count = (int32_t)get_be32(body + off);
         off += 4;
         if (count < 0) {
            return vmt_fail(err, VMT_PROTOCOL, "vsock packet: negative list count %d", count);
         }
         NEED((size_t)count * 8);
         off += (size_t)count * 8;
         break;
      }
      case DMFIELD_STRINGLIST: {
         NEED(4);
         int32_t count = (int32_t)get_be32(body + off);
         off += 4;
         if (count < 0) {
            return vmt_fail(err, VMT_PROTOCOL, "vsock packet: negative list count %d", count);
         }
         for (int32_t i = 0; i < count; i++) {
            NEED(4);
            int32_t n = (int32_t)get_be32(body + off);
            off += 4;
            if (n < 0) {
               return vmt_fail(err, VMT_PROTOCOL, "vsock packet: negative string length %d", n);
            }
            NEED(n);
            off += (size_t)n;
         }
         break;
      }
      default:
         return vmt_fail(err, VMT_PROTOCOL, "vsock packet: unknown DataMap field type %d (id %d)",
                         type, id);
      }
      /* A known id with the wrong type is as broken as a truncated packet. */
      if ((id == GUESTRPCPKT_FIELD_PAYLOAD && type != DMFIELD_STRING) ||
          ((id == GUESTRPCPKT_FIELD_TYPE || id == GUESTRPCPKT_FIELD_FAST_CLOSE) &&
           type != DMFIELD_INT64)) {
         return vmt_fail(err, VMT_PROTOCOL, "vsock packet: field id %d has type %d", id, type);
      }
   }
#undef NEED
   return VMT_OK;

truncated:
   return vmt_fail(err, VMT_PROTOCOL, "vsock packet: truncated DataMap at offset %zu of %zu",
                   off, len);
}

/* ---------------------------------------------------------------------------
 * Socket I/O
 */

/* Waits until fd is readable/writable: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int timeout_ms)
{
   for (;;) {
      struct pollfd pfd = { fd, events, 0 };
      int r = poll(&pfd, 1, timeout_ms);
      if (r < 0 && errno == EINTR) {
         continue;
      }
      return r < 0 ? -1 : r > 0;
   }
}

vmt_status vsock_write_all(int fd, const uint8_t *p, size_t n, int timeout_ms,
                           const char *what, vmt_error *err)
{
   int use_write = 0;
   while (n > 0) {
      /* MSG_NOSIGNAL: a peer that hung up must be an error, not SIGPIPE. */
      ssize_t k = use_write ? write(fd, p, n) : send(fd, p, n, MSG_NOSIGNAL);
      if (k < 0 && errno == ENOTSOCK && !use_write) {
         use_write = 1;                    /* an injected pipe, say */
         continue;
      }
      if (k < 0 && errno == EINTR) {
         continue;
      }
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
         /* An injected fd may be non-blocking (e.g. one libuv created). */
         int w = wait_fd(fd, POLLOUT, timeout_ms);
         if (w > 0) {
            continue;
         }
         if (w == 0) {
            return vmt_fail(err, VMT_TIMEOUT, "%s: peer not reading for %d ms", what,
                            timeout_ms);
         }
      }
      if (k < 0) {
         int e = errno;
         if (e == EPIPE || e == ECONNRESET) {
            return vmt_fail(err, VMT_CHANNEL_CLOSED, "%s: peer closed the connection (%s)",
                            what, strerror(e));
         }
         return vmt_sys_fail(err, e, "%s", what);
      }
      p += k;
      n -= (size_t)k;
   }
   return VMT_OK;
}

static vmt_status read_all(int fd, uint8_t *p, size_t n, int timeout_ms, vmt_error *err)
{
   while (n > 0) {
      /* poll first, so a silent host cannot block us past the timeout and
       * a non-blocking injected fd does not spin on EAGAIN. */
      int w = wait_fd(fd, POLLIN, timeout_ms);
      if (w < 0) {
         return vmt_sys_fail(err, errno,
                               "VSockOut: Unable to receive the result of the RPCI command");
      }
      if (w == 0) {
         return vmt_fail(err, VMT_TIMEOUT, "VSockOut: Unable to receive the result of the "
                         "RPCI command: no reply within %d ms", timeout_ms);
      }
      ssize_t k = read(fd, p, n);
      if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
         continue;
      }
      if (k == 0) {
         return vmt_fail(err, VMT_CHANNEL_CLOSED, "VSockOut: Unable to receive the result of "
                         "the RPCI command: peer closed the connection");
      }
      if (k < 0) {
         int e = errno;
         if (e == ECONNRESET) {
            return vmt_fail(err, VMT_CHANNEL_CLOSED, "VSockOut: Unable to receive the result "
                            "of the RPCI command: connection reset");
         }
         return vmt_sys_fail(err, e,
                               "VSockOut: Unable to receive the result of the RPCI command");
      }
      p += k;
      n -= (size_t)k;
   }
   return VMT_OK;
}

vmt_status vsock_rpc(vmt_vsock *v, const uint8_t *req, size_t len,
                     rpcout_result *res, vmt_error *err)
{
   vmt_status st;
   uint8_t hdr[4];

   memset(res, 0, sizeof *res);
   res->failed = RPCOUT_STAGE_SEND;
   if (v->fd < 0) {
      return vmt_fail(err, VMT_NOT_OPEN, "cannot send an RPC: the vsock channel is not open");
   }
   if (len > VSOCK_MAX_PACKET) {
      return vmt_fail(err, VMT_TOO_LARGE, "RPCI request of %zu bytes is over the %u-byte "
                      "vsock packet limit", len, VSOCK_MAX_PACKET);
   }

   size_t size = guestrpc_packet_size(1, len, v->fast_close);
   uint8_t *pkt = malloc(size);
   if (pkt == NULL) {
      return vmt_fail(err, VMT_NO_MEMORY, "cannot allocate a %zu-byte vsock packet", size);
   }
   guestrpc_packet_encode(pkt, GUESTRPCPKT_TYPE_DATA, 1, req, len, v->fast_close);
   st = vsock_write_all(v->fd, pkt, size, v->timeout_ms,
                        "VSockOut: Unable to send data for the RPCI command", err);
   free(pkt);
   if (st != VMT_OK) {
      return st;
   }

   res->failed = RPCOUT_STAGE_RECEIVE;
   st = read_all(v->fd, hdr, 4, v->timeout_ms, err);
   if (st != VMT_OK) {
      return st;
   }
   uint32_t body_len = get_be32(hdr);
   if (body_len > INT_MAX - 4) {
      /* Socket_RecvPacket panics here; we refuse the stream instead. */
      return vmt_fail(err, VMT_PROTOCOL, "vsock reply packet claims %u bytes", body_len);
   }
   if (body_len > VSOCK_MAX_PACKET) {
      return vmt_fail(err, VMT_TOO_LARGE, "vsock reply packet of %u bytes is over the "
                      "%u-byte limit", body_len, VSOCK_MAX_PACKET);
   }
   if ((size_t)body_len + 1 > v->in_alloc) {
      uint8_t *p = realloc(v->in, (size_t)body_len + 1);
      if (p == NULL) {
         return vmt_fail(err, VMT_NO_MEMORY, "cannot allocate %u bytes for a vsock reply",
                         body_len + 1);
      }
      v->in = p;
      v->in_alloc = (size_t)body_len + 1;
   }
   st = read_all(v->fd, v->in, body_len, v->timeout_ms, err);
   if (st != VMT_OK) {
      return st;
   }
   v->in[body_len] = '\0';

   guestrpc_packet dec;
   res->failed = RPCOUT_STAGE_FORMAT;
   st = guestrpc_packet_decode(v->in, body_len, &dec, err);
   if (st != VMT_OK) {
      return st;
   }
   if (!dec.has_payload) {
      return vmt_fail(err, VMT_PROTOCOL, "VSockOut: Unable to receive the result of the RPCI "
                      "command: reply packet has no payload field");
   }
   res->raw_len = dec.payload_len;
   if (!rpc_reply_parse(dec.payload, dec.payload_len, &res->ok, &res->reply, &res->reply_len)) {
      return vmt_fail(err, VMT_PROTOCOL, "VSockOut: Invalid format for the result of the RPCI "
                      "command (reply of %zu bytes)", dec.payload_len);
   }
   res->failed = RPCOUT_STAGE_NONE;
   return VMT_OK;
}
