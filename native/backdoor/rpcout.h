/*
 * rpcout.h -- RPCI request/reply (channel.md §4) and the TCLO poll primitive
 * (§5.1) on top of the message layer.
 */
#ifndef VMTOOLS_RPCOUT_H
#define VMTOOLS_RPCOUT_H

#include "backdoor/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which step of an RPC failed; maps to open-vm-tools' RpcOut strings. */
typedef enum rpcout_stage {
   RPCOUT_STAGE_NONE = 0,
   RPCOUT_STAGE_OPEN,
   RPCOUT_STAGE_SEND,
   RPCOUT_STAGE_RECEIVE,
   RPCOUT_STAGE_FORMAT,
   RPCOUT_STAGE_CLOSE
} rpcout_stage;

/*
 * The guest-local error text open-vm-tools returns for a failed stage
 * (§4.2), e.g. "RpcOut: Unable to send the RPCI command". NULL for
 * RPCOUT_STAGE_NONE and for OPEN/CLOSE, where RpcOut_SendOneRaw hands
 * back no reply at all (vmware-rpctool then prints "NULL").
 */
const char *rpcout_stage_text(rpcout_stage s);

typedef struct rpcout_result {
   int ok;                  /* reply began with "1 " (else "0 ") */
   const uint8_t *reply;    /* bytes after the prefix, trailing NULs stripped */
   size_t reply_len;
   size_t raw_len;          /* whole reply as received, prefix included */
   rpcout_stage failed;     /* stage of the failure when a call returns != OK */
   uint8_t *owned;          /* one-shot only: free() this after use (reply points into it) */
} rpcout_result;

/*
 * §4.2 validation: at least 2 bytes, "1 " or "0 " prefix. Returns 1 and
 * fills ok/body when valid. Shared with the vsock transport.
 */
int rpc_reply_parse(const uint8_t *raw, size_t len, int *ok,
                    const uint8_t **body, size_t *body_len);

/*
 * One RPCI request/reply on an open channel (how vmtoolsd sends). On a
 * failure the channel is closed, reopened and the request sent once more,
 * as BkdoorChannelSend does after a host reset. res->reply points into the
 * channel's buffer (valid until its next receive/close).
 */
vmt_status rpcout_send(vmt_channel *ch, const uint8_t *req, size_t len,
                       rpcout_result *res, vmt_error *err);

/*
 * One-shot RPCI (RpcOut_SendOneRaw): open, send, receive, close. A failed
 * close fails the call, as in open-vm-tools. On VMT_OK, res->owned must be
 * freed by the caller. On failure res->failed names the stage.
 */
vmt_status rpcout_send_one(const uint8_t *req, size_t len, int force_lb,
                           rpcout_result *res, vmt_error *err);

/*
 * One TCLO poll (§5.1): send the pending reply (may be empty -- the send is
 * mandatory), then receive. *present = 0 when no command was queued;
 * otherwise *cmd points into the channel's buffer.
 */
vmt_status tclo_poll(vmt_channel *ch, const uint8_t *reply, size_t reply_len,
                     const uint8_t **cmd, size_t *cmd_len, int *present,
                     vmt_error *err);

#ifdef __cplusplus
}
#endif

#endif /* VMTOOLS_RPCOUT_H */
