/*
 * vsock.h -- RPCI over AF_VSOCK (channel.md §6): privileged/unprivileged
 * connect to the hypervisor (CID 0, port 976) and DataMap packet framing.
 *
 * Safety: real connects are refused (VMT_NOT_VMWARE) unless the real CPUID
 * vendor is VMwareVMware and no VMX simulator is configured; the
 * VMTOOLSD_ASSUME_VMWARE override does not apply here. Tests drive the
 * framing through an injected fd (vsock_from_fd + a socketpair).
 */
#ifndef VMTOOLS_VSOCK_H
#define VMTOOLS_VSOCK_H

#include "backdoor/message.h"
#include "backdoor/rpcout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* channel.md §6.1 */
#define VSOCK_AF_LINUX                  40
#define VSOCK_CID_HYPERVISOR            0u          /* VMCI_HYPERVISOR_CONTEXT_ID */
#define VSOCK_CID_ANY                   0xFFFFFFFFu /* VMADDR_CID_ANY */
#define VSOCK_PORT_ANY                  0xFFFFFFFFu /* VMADDR_PORT_ANY */
#define GUESTRPC_TCLO_VSOCK_LISTEN_PORT 975u
#define GUESTRPC_RPCI_VSOCK_LISTEN_PORT 976u

/* channel.md §6.2 (simpleSocket.c) */
#define VSOCK_PRIV_PORT_MAX      1023u
#define VSOCK_PRIV_PORT_MIN      1u
#define VSOCK_MAX_ECONNRESET     8
#define VSOCK_MAX_ENOBUFS        5

/* channel.md §6.3: DataMap field types and GuestRPC field ids/values */
#define DMFIELD_INT64       1
#define DMFIELD_STRING      2
#define DMFIELD_INT64LIST   3
#define DMFIELD_STRINGLIST  4
#define GUESTRPCPKT_FIELD_TYPE        1
#define GUESTRPCPKT_FIELD_PAYLOAD     2
#define GUESTRPCPKT_FIELD_FAST_CLOSE  3
#define GUESTRPCPKT_TYPE_DATA 1
#define GUESTRPCPKT_TYPE_PING 2

/* Our cap on a reply packet (the reference only rejects > INT_MAX - 4). */
#define VSOCK_MAX_PACKET (64u << 20)

/* struct sockaddr_vm (§6.1), spelled out so no kernel header is needed. */
struct vsock_addr {
   uint16_t svm_family;
   uint16_t svm_reserved1;
   uint32_t svm_port;
   uint32_t svm_cid;
   uint8_t svm_zero[4];
};

typedef struct vmt_vsock {
   int fd;                 /* -1 when closed */
   int privileged;         /* bound to a source port < 1024 */
   unsigned local_port;    /* the port bound, or VSOCK_PORT_ANY */
   int fast_close;         /* set FAST_CLOSE on every request (one-shot use) */
   int timeout_ms;         /* reply wait; < 0 = forever */
   uint8_t *in;            /* last reply packet */
   size_t in_alloc;
} vmt_vsock;

void vsock_init(vmt_vsock *v);

/*
 * Connects to CID 0 `port`. privileged: bind 1023 downward first, falling
 * back to an ephemeral port on EACCES (§6.2 steps 1-2).
 */
vmt_status vsock_connect(vmt_vsock *v, unsigned port, int privileged, vmt_error *err);

/* Adopts an already-connected stream fd (closed by vsock_close). */
void vsock_from_fd(vmt_vsock *v, int fd);

/*
 * One request packet written, one reply packet read (§6.2); the reply's
 * payload is validated like §4.2. res->reply points into v->in.
 */
vmt_status vsock_rpc(vmt_vsock *v, const uint8_t *req, size_t len,
                     rpcout_result *res, vmt_error *err);

void vsock_close(vmt_vsock *v);

/* ---- Shared with the TCLO channel (vsock/tclo.c) ---- */

/*
 * VMT_OK when a connect to the real hypervisor is allowed: the real CPUID
 * vendor is VMwareVMware and no simulator is configured; else VMT_NOT_VMWARE
 * with the reason. Every AF_VSOCK connect goes through this first.
 */
vmt_status vsock_real_connect_allowed(vmt_error *err);


/*
 * Writes all n bytes (MSG_NOSIGNAL; waits up to timeout_ms whenever a
 * non-blocking fd is full). `what` starts every error message.
 */
vmt_status vsock_write_all(int fd, const uint8_t *p, size_t n, int timeout_ms,
                           const char *what, vmt_error *err);

/* ---- DataMap packets (exposed for tests) ---- */

/* Bytes of a GuestRPC packet: DATA with payload (+FAST_CLOSE), or a PING. */
size_t guestrpc_packet_size(int has_payload, size_t payload_len, int fast_close);

/* Writes the packet (length prefix included) into out; returns its size. */
size_t guestrpc_packet_encode(uint8_t *out, int64_t type, int has_payload,
                              const uint8_t *payload, size_t payload_len,
                              int fast_close);

typedef struct guestrpc_packet {
   int has_type;
   int64_t type;
   int has_payload;
   const uint8_t *payload;   /* points into the decoded buffer */
   size_t payload_len;
   int has_fast_close;
   int64_t fast_close;
} guestrpc_packet;

/* Decodes the entries after the length prefix (DataMap_Deserialize rules). */
vmt_status guestrpc_packet_decode(const uint8_t *body, size_t len,
                                  guestrpc_packet *pkt, vmt_error *err);

#ifdef __cplusplus
}
#endif

#endif /* VMTOOLS_VSOCK_H */
