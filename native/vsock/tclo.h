/*
 * tclo.h -- TCLO over AF_VSOCK, the push model (channel.md §6.4; open-vm-tools
 * lib/rpcIn/rpcin.c: RpcInOpenChannel, RpcInConnRecvedCb,
 * RpcInHeartbeatCallback).
 *
 * The host pushes each command as a DataMap packet whose payload (field 2)
 * is the command; the guest writes its reply as a DATA packet and, after
 * its first reply, a PING packet every second. This file does the socket
 * and framing work only. Watching the fd belongs to the addon (a uv_poll_t
 * on the JS thread, native/addon/addon.cc), the dispatch and the heartbeat
 * timer to src/daemon/vsockTcloSession.ts.
 *
 * Safety: vsock_tclo_connect refuses (VMT_NOT_VMWARE) exactly like
 * vsock_connect -- never a real connect off VMware or under the simulator.
 */
#ifndef VMTOOLS_VSOCK_TCLO_H
#define VMTOOLS_VSOCK_TCLO_H

#include "vsock/vsock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RPCIN_MIN_SEND_BUF_SIZE, RPCIN_MIN_RECV_BUF_SIZE (reference-figures.md §4) */
#define VSOCK_TCLO_MIN_BUF_SIZE (64 * 1024)

/*
 * §6.4 steps 1-2: a non-blocking connect to CID 0 `port` from an ephemeral
 * port, waiting at most timeout_ms (< 0: forever) for it to complete, then
 * SO_SNDBUF/SO_RCVBUF raised to at least 64 KiB. Any failure here happens
 * before the channel is established (the caller falls back to the
 * backdoor). *fd_out is non-blocking and close-on-exec.
 */
vmt_status vsock_tclo_connect(unsigned port, int timeout_ms, int *fd_out, vmt_error *err);

/* AsyncSocket_EstablishMinBufferSizes: raise each buffer that is below 64 KiB. */
vmt_status vsock_tclo_min_buffers(int fd, vmt_error *err);

/*
 * One packet out: a DATA packet carrying `payload` (a TCLO reply), or a
 * PING (type GUESTRPCPKT_TYPE_PING, payload NULL). Like RpcInPackSendData,
 * the payload field is omitted when len is 0. No FAST_CLOSE, ever.
 */
vmt_status vsock_tclo_send(int fd, int64_t type, const uint8_t *payload, size_t len,
                           int timeout_ms, vmt_error *err);

/*
 * Incoming packets, reassembled from a non-blocking fd. fill() reads what
 * the socket has; next() hands out one complete packet's payload at a time.
 */
typedef struct vsock_tclo_reader {
   uint8_t *buf;
   size_t start;     /* first unconsumed byte */
   size_t len;       /* bytes in buf */
   size_t alloc;
} vsock_tclo_reader;

void vsock_tclo_reader_init(vsock_tclo_reader *r);
void vsock_tclo_reader_free(vsock_tclo_reader *r);

/*
 * Reads until the socket would block (or 256 KiB this call, so one busy
 * peer cannot hold the loop). *eof = 1 when the peer shut down its side.
 * Errors: VMT_CHANNEL_CLOSED (reset), VMT_IO, VMT_NO_MEMORY.
 */
vmt_status vsock_tclo_reader_fill(vsock_tclo_reader *r, int fd, int *eof, vmt_error *err);

/*
 * The next complete packet: *have = 1 and its payload (pointing into the
 * reader, valid until the next fill), or *have = 0 when more bytes are
 * needed. A length over INT_MAX - 4, a DataMap the decoder rejects or a
 * packet without a payload field is VMT_PROTOCOL (RpcInDecodePacket:
 * "Empty payload"); over VSOCK_MAX_PACKET is VMT_TOO_LARGE. The type field
 * is not checked, as in the reference.
 */
vmt_status vsock_tclo_reader_next(vsock_tclo_reader *r, const uint8_t **payload,
                                  size_t *len, int *have, vmt_error *err);

/* Bytes of an incomplete packet still buffered (non-zero at EOF: cut mid-packet). */
size_t vsock_tclo_reader_pending(const vsock_tclo_reader *r);

#ifdef __cplusplus
}
#endif

#endif /* VMTOOLS_VSOCK_TCLO_H */
