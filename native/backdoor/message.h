/*
 * message.h -- the GuestRPC message layer over the backdoor (channel.md §3):
 * open / send / receive / close of a host mailbox, plus the error type every
 * channel module (rpcout, vsock) reports with.
 */
#ifndef VMTOOLS_MESSAGE_H
#define VMTOOLS_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* channel.md §3.1: message types, placed in ECX.hi16 */
#define MESSAGE_TYPE_OPEN        0u
#define MESSAGE_TYPE_SENDSIZE    1u
#define MESSAGE_TYPE_SENDPAYLOAD 2u
#define MESSAGE_TYPE_RECVSIZE    3u
#define MESSAGE_TYPE_RECVPAYLOAD 4u
#define MESSAGE_TYPE_RECVSTATUS  5u
#define MESSAGE_TYPE_CLOSE       6u

/* channel.md §3.2: status bits, ECX.hi16 (LB) or EBX.hi16 (HB) */
#define MESSAGE_STATUS_SUCCESS  0x0001u
#define MESSAGE_STATUS_DORECV   0x0002u
#define MESSAGE_STATUS_CLOSED   0x0004u
#define MESSAGE_STATUS_UNSENT   0x0008u
#define MESSAGE_STATUS_CPT      0x0010u
#define MESSAGE_STATUS_POWEROFF 0x0020u
#define MESSAGE_STATUS_TIMEOUT  0x0040u
#define MESSAGE_STATUS_HB       0x0080u

/* channel.md §3.3 */
#define RPCI_PROTOCOL_NUM     0x49435052u   /* "RPCI" */
#define TCLO_PROTOCOL_NUM     0x4F4C4354u   /* "TCLO" */
#define GUESTMSG_FLAG_COOKIE  0x80000000u
#define GUESTMSG_MAX_IN_SIZE  65536u

/* Our own limits (not in open-vm-tools, which loops / allocates unboundedly). */
#define MSG_MAX_CPT_RESTARTS  16u            /* consecutive checkpoint restarts */
#define MSG_MAX_RECV_SIZE     (64u << 20)    /* host->guest message cap */

/*
 * Error codes. The names (vmt_status_name) are a stable API: the addon puts
 * them in Error.code.
 */
typedef enum vmt_status {
   VMT_OK = 0,
   VMT_NOT_VMWARE,        /* no backdoor (or vsock refused off VMware) */
   VMT_CHANNEL_CLOSED,    /* host status has CLOSED; vsock peer hung up */
   VMT_HOST_REFUSED,      /* host status lacks SUCCESS (bad cookie, unknown id...) */
   VMT_CHECKPOINT_LIMIT,  /* more than MSG_MAX_CPT_RESTARTS consecutive CPTs */
   VMT_TOO_LARGE,         /* > GUESTMSG_MAX_IN_SIZE out, > MSG_MAX_RECV_SIZE in */
   VMT_PROTOCOL,          /* host broke the protocol (EDX.hi16, reply format...) */
   VMT_NO_MEMORY,
   VMT_NOT_OPEN,          /* local: the channel object is not open */
   VMT_IO,                /* vsock: a socket call failed (errno in sys_errno) */
   VMT_TIMEOUT,           /* vsock: no reply within the timeout */
   VMT_STATUS_COUNT
} vmt_status;

const char *vmt_status_name(vmt_status s);

typedef struct vmt_error {
   vmt_status code;
   int sys_errno;          /* errno for VMT_IO, else 0 */
   char message[256];      /* human text: step, channel, status */
} vmt_error;

/* Fills err (if non-NULL) and returns code. printf-style message. */
vmt_status vmt_fail(vmt_error *err, vmt_status code, const char *fmt, ...)
   __attribute__((format(printf, 3, 4)));

/* A failed system call: VMT_IO with errno `e`, message "<what>: <strerror>". */
vmt_status vmt_sys_fail(vmt_error *err, int e, const char *fmt, ...)
   __attribute__((format(printf, 3, 4)));

/* A message channel (channel.md §3: 16-bit id + 64-bit cookie). */
typedef struct vmt_channel {
   uint32_t proto;          /* RPCI_PROTOCOL_NUM or TCLO_PROTOCOL_NUM */
   uint16_t id;
   uint32_t cookie_high;
   uint32_t cookie_low;
   int is_open;
   int has_cookie;          /* the first OPEN (with the cookie flag) succeeded */
   int force_lb;            /* ignore the HB status bit: 4 bytes per call */
   uint8_t *in;             /* receive buffer, reused; NUL after the message */
   size_t in_alloc;
} vmt_channel;

/* Zeroes a channel object (not open, no buffer). */
void msg_init(vmt_channel *ch);

/*
 * OPEN with the cookie flag, and once more without it if refused (§3.4).
 * Checks bd_available() first (VMT_NOT_VMWARE, no backdoor instruction).
 */
vmt_status msg_open(vmt_channel *ch, uint32_t proto, int force_lb, vmt_error *err);

/* §3.5. len > GUESTMSG_MAX_IN_SIZE -> VMT_TOO_LARGE before any call. */
vmt_status msg_send(vmt_channel *ch, const uint8_t *buf, size_t len, vmt_error *err);

/*
 * §3.6. On success *present says whether the host had a message; if so
 * out and out_len point into the channel's buffer (valid until the next
 * receive or close; a NUL follows the message).
 */
vmt_status msg_receive(vmt_channel *ch, const uint8_t **out, size_t *out_len,
                       int *present, vmt_error *err);

/*
 * CLOSE. The channel is marked closed and its buffer freed whatever the
 * host says; the return value tells whether the host acknowledged.
 */
vmt_status msg_close(vmt_channel *ch, vmt_error *err);

/* "RPCI", "TCLO" or the hex number, for messages. */
const char *msg_proto_name(uint32_t proto);

#ifdef __cplusplus
}
#endif

#endif /* VMTOOLS_MESSAGE_H */
