/**
 * The small interfaces every service module codes against, so that a service
 * can be driven by the real channel (backdoor or vsock) or by a fake in unit
 * tests (govmomi's toolbox does the same with its Channel interface).
 */

/** A host reply to one RPCI request: "1 <reply>" → ok, "0 <reply>" → not ok (channel.md §4.2). */
export interface RpcReply {
  ok: boolean;
  /** The bytes after the "1 "/"0 " prefix. */
  reply: Buffer;
}

/**
 * Sends one guest→host request and returns the host's reply. Synchronous on
 * purpose: one native call does one whole RPC (the channel layer serialises
 * requests, as open-vm-tools' outLock does). Throws ChannelError on a
 * transport failure.
 */
export interface RpcSender {
  send(request: Buffer | string): RpcReply;
}

/** The result of a TCLO command handler: framed as "OK <result>" or "ERROR <result>" (channel.md §5.3). */
export interface TcloResult {
  ok: boolean;
  result: Buffer | string;
}

/**
 * A handler for one host→guest TCLO command. `args` is everything after the
 * command name, starting at the character after it (normally a space),
 * exactly as open-vm-tools passes it (channel.md §5.3).
 */
export type TcloHandler = (args: Buffer) => TcloResult | Promise<TcloResult>;
