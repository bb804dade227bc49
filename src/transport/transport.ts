/**
 * Transports carry whole GuestRPC messages between guest and host. Like
 * govmomi toolbox's Channel, each is a handful of methods; unlike it, a
 * request and its reply travel in one call, because one synchronous native
 * call does one whole RPC (a thread-pool hop costs ~100x a backdoor exit).
 */
import type { RpcReply } from '../rpc/types';

export type TransportKind = 'backdoor' | 'vsock' | 'fake';

/** Guest→host requests (RPCI, channel.md §4). */
export interface RpciTransport {
  readonly kind: TransportKind;
  readonly isOpen: boolean;
  /** Opens the channel (idempotent). Throws ChannelError. */
  start(): void;
  /** Closes the channel; never throws. */
  stop(): void;
  /** One request and its reply, starting the channel if needed. Throws ChannelError. */
  call(request: Buffer): RpcReply;
}

/** Host→guest commands polled by the guest (TCLO over the backdoor, channel.md §5.1). */
export interface TcloTransport {
  readonly kind: TransportKind;
  readonly isOpen: boolean;
  start(): void;
  stop(): void;
  /**
   * Sends `reply` (empty when there is none: the send itself tells the host
   * the guest is alive, §5.1), then fetches the next command, or null.
   */
  poll(reply: Buffer): Buffer | null;
}

/**
 * Closes a channel whose peer may already be gone: the host drops channels
 * on reset and vMotion, and the channel is closed locally either way.
 */
export function closeQuietly(channel: { close(): void } | undefined): void {
  try {
    channel?.close();
  } catch {
    // closed locally either way
  }
}
