/*
 * message.c -- the GuestRPC message layer (channel.md §3.4-3.6), following
 * open-vm-tools' lib/message/message.c step for step, with three additions:
 * a cap on consecutive checkpoint restarts, size limits checked before any
 * backdoor call, and pre-touched HB buffers.
 */
#define _GNU_SOURCE
#include "backdoor/message.h"
#include "backdoor/backdoor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Errors
 */

static const char *const g_status_names[VMT_STATUS_COUNT] = {
   [VMT_OK] = "OK",
   [VMT_NOT_VMWARE] = "NOT_VMWARE",
   [VMT_CHANNEL_CLOSED] = "CHANNEL_CLOSED",
   [VMT_HOST_REFUSED] = "HOST_REFUSED",
   [VMT_CHECKPOINT_LIMIT] = "CHECKPOINT_LIMIT",
   [VMT_TOO_LARGE] = "TOO_LARGE",
   [VMT_PROTOCOL] = "PROTOCOL",
   [VMT_NO_MEMORY] = "NO_MEMORY",
   [VMT_NOT_OPEN] = "NOT_OPEN",
   [VMT_IO] = "IO",
   [VMT_TIMEOUT] = "TIMEOUT",
};

const char *vmt_status_name(vmt_status s)
{
   return (unsigned)s < VMT_STATUS_COUNT ? g_status_names[s] : "UNKNOWN";
}

vmt_status vmt_fail(vmt_error *err, vmt_status code, const char *fmt, ...)
{
   if (err != NULL) {
      va_list ap;
      err->code = code;
      err->sys_errno = 0;
      va_start(ap, fmt);
      vsnprintf(err->message, sizeof err->message, fmt, ap);
      va_end(ap);
   }
   return code;
}

vmt_status vmt_sys_fail(vmt_error *err, int e, const char *fmt, ...)
{
   if (err != NULL) {
      char what[200];
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(what, sizeof what, fmt, ap);
      va_end(ap);
      vmt_fail(err, VMT_IO, "%s: %s", what, strerror(e));
      err->sys_errno = e;
   }
   return VMT_IO;
}

const char *msg_proto_name(uint32_t proto)
{
   switch (proto & ~GUESTMSG_FLAG_COOKIE) {
   case RPCI_PROTOCOL_NUM: return "RPCI";
   case TCLO_PROTOCOL_NUM: return "TCLO";
   default: return "unknown-protocol";
   }
}

/* ---------------------------------------------------------------------------
 * One LB MESSAGE call with the channel's id and cookie (§3.4 table)
 */

static uint32_t lb_message(const vmt_channel *ch, uint32_t type, uint64_t rbx,
                           bd_regs *r)
{
   memset(r, 0, sizeof *r);                 /* zero unused inputs (§2.6 note) */
   r->rax = BDOOR_MAGIC;
   r->rbx = rbx;
   r->rcx = (type << 16) | BDOOR_CMD_MESSAGE;
   r->rdx = ((uint32_t)ch->id << 16) | BDOOR_PORT;
   r->rsi = ch->cookie_high;
   r->rdi = ch->cookie_low;
   bd_lb_call(r);
   return ((uint32_t)r->rcx >> 16) & 0xFFFFu;   /* status in ECX.hi16 */
}

static uint32_t edx_hi(const bd_regs *r)
{
   return ((uint32_t)r->rdx >> 16) & 0xFFFFu;
}

/* A step answered without SUCCESS (and without CPT, or not restartable). */
static vmt_status step_failed(const vmt_channel *ch, const char *step,
                              uint32_t status, vmt_error *err)
{
   if (status & MESSAGE_STATUS_CLOSED) {
      return vmt_fail(err, VMT_CHANNEL_CLOSED,
                      "host closed %s channel %u at %s (status 0x%04x)",
                      msg_proto_name(ch->proto), ch->id, step, status);
   }
   return vmt_fail(err, VMT_HOST_REFUSED,
                   "host refused %s on %s channel %u (status 0x%04x)",
                   step, msg_proto_name(ch->proto), ch->id, status);
}

static vmt_status cpt_limit(const vmt_channel *ch, const char *step,
                            uint32_t status, vmt_error *err)
{
   return vmt_fail(err, VMT_CHECKPOINT_LIMIT,
                   "gave up after %u consecutive checkpoint restarts at %s on "
                   "%s channel %u (status 0x%04x)", MSG_MAX_CPT_RESTARTS, step,
                   msg_proto_name(ch->proto), ch->id, status);
}

/*
 * Touch every page of an HB buffer before the string instruction: whether
 * the hypervisor copes with a not-present page in the middle of `rep insb`
 * is unconfirmed (§2.3), and faulting it in here costs next to nothing.
 */
static void pretouch_read(const uint8_t *p, size_t n)
{
   const volatile uint8_t *v = p;
   for (size_t i = 0; i < n; i += 4096) {
      (void)v[i];
   }
   (void)v[n - 1];
}

static void pretouch_write(uint8_t *p, size_t n)
{
   volatile uint8_t *v = p;
   for (size_t i = 0; i < n; i += 4096) {
      v[i] = 0;
   }
   v[n - 1] = 0;
}

/* ---------------------------------------------------------------------------
 * Open / close
 */

void msg_init(vmt_channel *ch)
{
   memset(ch, 0, sizeof *ch);
}

vmt_status msg_open(vmt_channel *ch, uint32_t proto, int force_lb, vmt_error *err)
{
   uint32_t flags = GUESTMSG_FLAG_COOKIE;
   uint32_t status;
   bd_regs r;

   if (ch->is_open) {
      msg_close(ch, NULL);        /* never leak a host channel (limit 128) */
   }
   if (!bd_available()) {
      return vmt_fail(err, VMT_NOT_VMWARE,
                      "no VMware backdoor: not running on a VMware hypervisor");
   }

   msg_init(ch);
   ch->proto = proto;
   for (;;) {
      /* OPEN carries no id/cookie: ch is zeroed, so EDX.hi16/ESI/EDI = 0. */
      status = lb_message(ch, MESSAGE_TYPE_OPEN, proto | flags, &r);
      if (status & MESSAGE_STATUS_SUCCESS) {
         break;
      }
      if (flags == 0) {
         return vmt_fail(err, status & MESSAGE_STATUS_CLOSED ? VMT_CHANNEL_CLOSED
                                                             : VMT_HOST_REFUSED,
                         "host refused OPEN of a %s channel (status 0x%04x)",
                         msg_proto_name(proto), status);
      }
      flags = 0;                  /* very old hosts: retry once without cookie */
   }
   ch->id = (uint16_t)edx_hi(&r);
   ch->cookie_high = (uint32_t)r.rsi;
   ch->cookie_low = (uint32_t)r.rdi;
   ch->has_cookie = flags != 0;
   ch->force_lb = force_lb != 0;
   ch->is_open = 1;
   return VMT_OK;
}

vmt_status msg_close(vmt_channel *ch, vmt_error *err)
{
   uint32_t status;
   bd_regs r;

   if (!ch->is_open) {
      return VMT_OK;
   }
   status = lb_message(ch, MESSAGE_TYPE_CLOSE, 0, &r);
   free(ch->in);
   ch->in = NULL;
   ch->in_alloc = 0;
   ch->is_open = 0;
   if (!(status & MESSAGE_STATUS_SUCCESS)) {
      return step_failed(ch, "CLOSE", status, err);
   }
   return VMT_OK;
}

static vmt_status not_open(const vmt_channel *ch, const char *what, vmt_error *err)
{
   return vmt_fail(err, VMT_NOT_OPEN, "cannot %s: the %s channel is not open",
                   what, ch->proto ? msg_proto_name(ch->proto) : "message");
}

/* ---------------------------------------------------------------------------
 * Send (§3.5)
 */

vmt_status msg_send(vmt_channel *ch, const uint8_t *buf, size_t len, vmt_error *err)
{
   unsigned restarts = 0;
   uint32_t status;
   bd_regs r;

   if (!ch->is_open) {
      return not_open(ch, "send", err);
   }
   /* The host refuses these anyway (§3.3); say so without a round trip. */
   if (len > GUESTMSG_MAX_IN_SIZE) {
      return vmt_fail(err, VMT_TOO_LARGE,
                      "message of %zu bytes exceeds the host limit of %u bytes "
                      "(GUESTMSG_MAX_IN_SIZE) on %s channel %u", len,
                      GUESTMSG_MAX_IN_SIZE, msg_proto_name(ch->proto), ch->id);
   }

retry:
   status = lb_message(ch, MESSAGE_TYPE_SENDSIZE, len, &r);
   if (!(status & MESSAGE_STATUS_SUCCESS)) {
      return step_failed(ch, "SENDSIZE", status, err);   /* no retry here */
   }

   if ((status & MESSAGE_STATUS_HB) && !ch->force_lb) {
      if (len > 0) {
         bd_hb_regs h;
         pretouch_read(buf, len);
         memset(&h, 0, sizeof h);
         h.rax = BDOOR_MAGIC;
         h.rbx = (MESSAGE_STATUS_SUCCESS << 16) | BDOORHB_CMD_MESSAGE;
         h.rcx = len;
         h.rdx = ((uint32_t)ch->id << 16) | BDOORHB_PORT;
         h.rsi = (uintptr_t)buf;             /* §2.3: source in RSI ... */
         h.rdi = ch->cookie_low;             /* ... cookie low in RDI */
         h.rbp = ch->cookie_high;
         bd_hb_out(&h);
         status = ((uint32_t)h.rbx >> 16) & 0xFFFFu;
         if (!(status & MESSAGE_STATUS_SUCCESS)) {
            if (status & MESSAGE_STATUS_CPT) {
               if (++restarts > MSG_MAX_CPT_RESTARTS) {
                  return cpt_limit(ch, "HB send", status, err);
               }
               goto retry;                  /* resend size + data */
            }
            return step_failed(ch, "HB send", status, err);
         }
      }
      return VMT_OK;
   }

   for (size_t off = 0; off < len; off += 4) {
      size_t n = len - off < 4 ? len - off : 4;
      uint32_t piece = 0;
      /* b0 | b1<<8 | b2<<16 (§3.6 caution), never reading past the end. */
      for (size_t i = 0; i < n; i++) {
         piece |= (uint32_t)buf[off + i] << (8 * i);
      }
      status = lb_message(ch, MESSAGE_TYPE_SENDPAYLOAD, piece, &r);
      if (!(status & MESSAGE_STATUS_SUCCESS)) {
         if (status & MESSAGE_STATUS_CPT) {
            if (++restarts > MSG_MAX_CPT_RESTARTS) {
               return cpt_limit(ch, "SENDPAYLOAD", status, err);
            }
            goto retry;                     /* restart the whole message */
         }
         return step_failed(ch, "SENDPAYLOAD", status, err);
      }
   }
   return VMT_OK;
}

/* ---------------------------------------------------------------------------
 * Receive (§3.6)
 */

/*
 * error(remaining) of §3.6: tell the host the transfer failed. RECVSTATUS
 * when nothing remains, RECVPAYLOAD otherwise -- open-vm-tools' choice,
 * including its HB quirk (remaining is never decremented on the HB path).
 */
static void report_receive_error(const vmt_channel *ch, size_t remaining)
{
   bd_regs r;
   lb_message(ch, remaining == 0 ? MESSAGE_TYPE_RECVSTATUS : MESSAGE_TYPE_RECVPAYLOAD,
              0, &r);
}

/* Room for n bytes + NUL. Shrinks a buffer a huge message left behind. */
static int ensure_buffer(vmt_channel *ch, size_t n)
{
   size_t need = n + 1;
   if (need <= ch->in_alloc && !(ch->in_alloc > (1u << 20) && need <= (1u << 16))) {
      return 1;
   }
   size_t size = need < 256 ? 256 : need;
   uint8_t *p = realloc(ch->in, size);
   if (p == NULL) {
      return 0;
   }
   ch->in = p;
   ch->in_alloc = size;
   return 1;
}

vmt_status msg_receive(vmt_channel *ch, const uint8_t **out, size_t *out_len,
                       int *present, vmt_error *err)
{
   unsigned restarts = 0;
   uint32_t status;
   bd_regs r;

   *present = 0;
   *out = NULL;
   *out_len = 0;
   if (!ch->is_open) {
      return not_open(ch, "receive", err);
   }

retry:
   status = lb_message(ch, MESSAGE_TYPE_RECVSIZE, 0, &r);
   if (!(status & MESSAGE_STATUS_SUCCESS)) {
      return step_failed(ch, "RECVSIZE", status, err);
   }
   if (!(status & MESSAGE_STATUS_DORECV)) {
      return VMT_OK;                                  /* nothing queued */
   }
   if (edx_hi(&r) != MESSAGE_TYPE_SENDSIZE) {
      return vmt_fail(err, VMT_PROTOCOL,
                      "protocol error at RECVSIZE on %s channel %u: EDX.hi16 = %u, "
                      "expected 1 (SENDSIZE) (status 0x%04x)",
                      msg_proto_name(ch->proto), ch->id, edx_hi(&r), status);
   }

   size_t n = (uint32_t)r.rbx;                        /* EBX = message length */
   int hb = (status & MESSAGE_STATUS_HB) && !ch->force_lb;

   if (n > MSG_MAX_RECV_SIZE) {
      report_receive_error(ch, n);
      return vmt_fail(err, VMT_TOO_LARGE,
                      "host offered a message of %zu bytes on %s channel %u, over "
                      "the %u-byte receive limit (status 0x%04x)", n,
                      msg_proto_name(ch->proto), ch->id, MSG_MAX_RECV_SIZE, status);
   }
   if (!ensure_buffer(ch, n)) {
      report_receive_error(ch, n);
      return vmt_fail(err, VMT_NO_MEMORY,
                      "cannot allocate %zu bytes to receive on %s channel %u",
                      n + 1, msg_proto_name(ch->proto), ch->id);
   }

   uint8_t *buf = ch->in;
   size_t remaining = n;

   if (hb && n > 0) {
      bd_hb_regs h;
      pretouch_write(buf, n);
      memset(&h, 0, sizeof h);
      h.rax = BDOOR_MAGIC;
      h.rbx = (MESSAGE_STATUS_SUCCESS << 16) | BDOORHB_CMD_MESSAGE;
      h.rcx = n;
      h.rdx = ((uint32_t)ch->id << 16) | BDOORHB_PORT;
      h.rsi = ch->cookie_high;                        /* §2.3: cookie high in RSI */
      h.rdi = (uintptr_t)buf;                         /* destination in RDI */
      h.rbp = ch->cookie_low;
      bd_hb_in(&h);
      status = ((uint32_t)h.rbx >> 16) & 0xFFFFu;
      if (!(status & MESSAGE_STATUS_SUCCESS)) {
         if (status & MESSAGE_STATUS_CPT) {
            if (++restarts > MSG_MAX_CPT_RESTARTS) {
               report_receive_error(ch, remaining);
               return cpt_limit(ch, "HB receive", status, err);
            }
            goto retry;
         }
         report_receive_error(ch, remaining);
         return step_failed(ch, "HB receive", status, err);
      }
      /* NB: remaining stays n, as in open-vm-tools (§3.6). */
   } else {
      size_t pos = 0;
      while (remaining > 0) {
         status = lb_message(ch, MESSAGE_TYPE_RECVPAYLOAD, MESSAGE_STATUS_SUCCESS, &r);
         if (!(status & MESSAGE_STATUS_SUCCESS)) {
            if (status & MESSAGE_STATUS_CPT) {
               if (++restarts > MSG_MAX_CPT_RESTARTS) {
                  report_receive_error(ch, remaining);
                  return cpt_limit(ch, "RECVPAYLOAD", status, err);
               }
               goto retry;
            }
            report_receive_error(ch, remaining);
            return step_failed(ch, "RECVPAYLOAD", status, err);
         }
         if (edx_hi(&r) != MESSAGE_TYPE_SENDPAYLOAD) {
            uint32_t got = edx_hi(&r);
            report_receive_error(ch, remaining);
            return vmt_fail(err, VMT_PROTOCOL,
                            "protocol error at RECVPAYLOAD on %s channel %u: EDX.hi16 = "
                            "%u, expected 2 (SENDPAYLOAD) (status 0x%04x)",
                            msg_proto_name(ch->proto), ch->id, got, status);
         }
         size_t k = remaining < 4 ? remaining : 4;
         uint32_t piece = (uint32_t)r.rbx;
         for (size_t i = 0; i < k; i++) {
            buf[pos + i] = (uint8_t)(piece >> (8 * i));
         }
         pos += k;
         remaining -= k;
      }
   }
   buf[n] = '\0';   /* for callers that treat replies as C strings */

   status = lb_message(ch, MESSAGE_TYPE_RECVSTATUS, MESSAGE_STATUS_SUCCESS, &r);
   if (!(status & MESSAGE_STATUS_SUCCESS)) {
      if (status & MESSAGE_STATUS_CPT) {
         if (++restarts > MSG_MAX_CPT_RESTARTS) {
            report_receive_error(ch, remaining);
            return cpt_limit(ch, "RECVSTATUS", status, err);
         }
         goto retry;
      }
      report_receive_error(ch, remaining);   /* 0 after LB, n after HB */
      return step_failed(ch, "RECVSTATUS", status, err);
   }

   *present = 1;
   *out = buf;
   *out_len = n;
   return VMT_OK;
}
