/*
 * rpcout.c -- RPCI over the backdoor message layer (channel.md §4,
 * open-vm-tools lib/rpcOut/rpcout.c and lib/rpcChannel/bdoorChannel.c) and
 * the TCLO poll (§5.1).
 */
#include "backdoor/rpcout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rpcout_stage_text(rpcout_stage s)
{
   switch (s) {
   case RPCOUT_STAGE_SEND: return "RpcOut: Unable to send the RPCI command";
   case RPCOUT_STAGE_RECEIVE: return "RpcOut: Unable to receive the result of the RPCI command";
   case RPCOUT_STAGE_FORMAT: return "RpcOut: Invalid format for the result of the RPCI command";
   default: return NULL;
   }
}

int rpc_reply_parse(const uint8_t *raw, size_t len, int *ok,
                    const uint8_t **body, size_t *body_len)
{
   if (len < 2 || raw[1] != ' ' || (raw[0] != '1' && raw[0] != '0')) {
      return 0;
   }
   *ok = raw[0] == '1';
   *body = raw + 2;
   *body_len = len - 2;
   /* Whether the host counts a trailing NUL in the reply is unconfirmed
    * (§4.2); callers want the text either way. */
   while (*body_len > 0 && (*body)[*body_len - 1] == '\0') {
      (*body_len)--;
   }
   return 1;
}

static void result_init(rpcout_result *res)
{
   memset(res, 0, sizeof *res);
}

/* RpcOut_send: one send + one receive + validation. */
static vmt_status rpc_once(vmt_channel *ch, const uint8_t *req, size_t len,
                           rpcout_result *res, vmt_error *err)
{
   const uint8_t *raw;
   size_t raw_len;
   int present;
   vmt_status st;

   st = msg_send(ch, req, len, err);
   if (st != VMT_OK) {
      res->failed = RPCOUT_STAGE_SEND;
      return st;
   }
   st = msg_receive(ch, &raw, &raw_len, &present, err);
   if (st != VMT_OK) {
      res->failed = RPCOUT_STAGE_RECEIVE;
      return st;
   }
   /* The reply is due right after the send (§4.3): nothing queued is a
    * malformed reply, exactly like a too-short one. */
   res->raw_len = raw_len;
   if (!present || !rpc_reply_parse(raw, raw_len, &res->ok, &res->reply, &res->reply_len)) {
      res->failed = RPCOUT_STAGE_FORMAT;
      if (present) {
         return vmt_fail(err, VMT_PROTOCOL,
                         "%s: reply of %zu bytes without a \"1 \"/\"0 \" prefix "
                         "on %s channel %u", rpcout_stage_text(RPCOUT_STAGE_FORMAT),
                         raw_len, msg_proto_name(ch->proto), ch->id);
      }
      return vmt_fail(err, VMT_PROTOCOL,
                      "%s: no reply queued after the request on %s channel %u",
                      rpcout_stage_text(RPCOUT_STAGE_FORMAT),
                      msg_proto_name(ch->proto), ch->id);
   }
   return VMT_OK;
}

/* Failures a fresh channel may cure (a host reset invalidated the old one). */
static int worth_reopening(vmt_status st)
{
   return st == VMT_HOST_REFUSED || st == VMT_CHANNEL_CLOSED ||
          st == VMT_PROTOCOL || st == VMT_CHECKPOINT_LIMIT;
}

static vmt_status too_large(size_t len, vmt_error *err)
{
   return vmt_fail(err, VMT_TOO_LARGE,
                   "RPCI request of %zu bytes exceeds the host limit of %u bytes "
                   "(GUESTMSG_MAX_IN_SIZE)", len, GUESTMSG_MAX_IN_SIZE);
}

vmt_status rpcout_send(vmt_channel *ch, const uint8_t *req, size_t len,
                       rpcout_result *res, vmt_error *err)
{
   vmt_status st;

   result_init(res);
   if (len > GUESTMSG_MAX_IN_SIZE) {
      res->failed = RPCOUT_STAGE_SEND;
      return too_large(len, err);
   }
   if (!ch->is_open) {
      res->failed = RPCOUT_STAGE_SEND;
      return vmt_fail(err, VMT_NOT_OPEN, "cannot send an RPC: the RPCI channel is not open");
   }

   st = rpc_once(ch, req, len, res, err);
   if (st == VMT_OK || !worth_reopening(st)) {
      return st;
   }

   /* BkdoorChannelSend: restart the RpcOut channel and try exactly once more. */
   uint32_t proto = ch->proto;
   int force_lb = ch->force_lb;
   vmt_error reopen_err;
   msg_close(ch, NULL);
   if (msg_open(ch, proto, force_lb, &reopen_err) != VMT_OK) {
      if (err != NULL) {
         size_t used = strlen(err->message);
         snprintf(err->message + used, sizeof err->message - used,
                  "; reopening failed: %s", reopen_err.message);
      }
      return st;     /* the channel stays closed: callers see NOT_OPEN next */
   }
   result_init(res);
   return rpc_once(ch, req, len, res, err);
}

vmt_status rpcout_send_one(const uint8_t *req, size_t len, int force_lb,
                           rpcout_result *res, vmt_error *err)
{
   vmt_channel ch;
   vmt_status st, close_st;
   vmt_error close_err;

   result_init(res);
   if (len > GUESTMSG_MAX_IN_SIZE) {
      /* open-vm-tools would open, see SENDSIZE refused and close: report
       * the same stage, without the three backdoor calls. */
      res->failed = RPCOUT_STAGE_SEND;
      return too_large(len, err);
   }

   msg_init(&ch);
   st = msg_open(&ch, RPCI_PROTOCOL_NUM, force_lb, err);
   if (st != VMT_OK) {
      res->failed = RPCOUT_STAGE_OPEN;
      return st;
   }

   st = rpc_once(&ch, req, len, res, err);
   if (st == VMT_OK) {
      /* Keep the reply past CLOSE, which frees the channel buffer. */
      res->owned = ch.in;
      ch.in = NULL;
      ch.in_alloc = 0;
   }

   close_st = msg_close(&ch, &close_err);
   if (close_st != VMT_OK) {
      /* RpcOutSendOneRawWork: a failed stop drops the reply, whatever came
       * before (vmware-rpctool then prints "NULL"). */
      if (st == VMT_OK) {
         free(res->owned);
         result_init(res);
         if (err != NULL) {
            *err = close_err;
         }
         st = close_st;
      } else if (err != NULL) {
         size_t used = strlen(err->message);
         snprintf(err->message + used, sizeof err->message - used,
                  "; CLOSE failed too: %s", close_err.message);
      }
      res->failed = RPCOUT_STAGE_CLOSE;
   }
   return st;
}

vmt_status tclo_poll(vmt_channel *ch, const uint8_t *reply, size_t reply_len,
                     const uint8_t **cmd, size_t *cmd_len, int *present,
                     vmt_error *err)
{
   vmt_status st;

   *present = 0;
   *cmd = NULL;
   *cmd_len = 0;
   st = msg_send(ch, reply, reply_len, err);
   if (st != VMT_OK) {
      return st;
   }
   return msg_receive(ch, cmd, cmd_len, present, err);
}
