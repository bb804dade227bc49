/**
 * RpcOut: guest→host requests over the best transport there is, with
 * open-vm-tools' choice between vsock and the backdoor (channel.md §6.5):
 *
 *  - vsock first; if it cannot start, fall back to the backdoor and "stick"
 *    to it for vsockRetryDelay seconds: 2 at first, doubled on every fallback
 *    (so the first stick is 4 s), at most 300 s; the next send after that
 *    stops the backdoor channel and tries vsock again;
 *  - a send that fails on vsock stops it, clears the stick delay, restarts
 *    (vsock first, maybe the backdoor) and resends once;
 *  - on the backdoor the addon itself reopens and resends once (§4.3).
 */
import { ChannelError, isChannelError } from '../native';
import type { RpciTransport } from '../transport/transport';
import type { RpcReply, RpcSender } from './types';

/** channel.md §6.5 / reference-figures.md §4 */
export const VSOCK_RETRY_DELAY_INITIAL_S = 2;
export const VSOCK_RETRY_DELAY_MAX_S = 300;

export interface RpcOutOptions {
  /** Tried first (vsock). */
  primary?: RpciTransport;
  /** Used when the primary cannot start (the backdoor). */
  fallback?: RpciTransport;
  /** Milliseconds clock, for tests. */
  now?: () => number;
  /** Told about each fallback and return to the primary. */
  onSwitch?: (to: RpciTransport, why: string) => void;
}

/** A request as vmtoolsd sends most of them: the text plus a NUL counted in the length (§4.1). */
export function withNul(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.alloc(1)]);
}

function toBuffer(request: Buffer | string): Buffer {
  return typeof request === 'string' ? Buffer.from(request, 'utf8') : request;
}

/** Errors a second try cannot fix: the request itself is wrong, or there is no host. */
function retryable(e: unknown): boolean {
  return isChannelError(e) && e.code !== 'TOO_LARGE' && e.code !== 'NOT_VMWARE';
}

export class RpcOut implements RpcSender {
  private active: RpciTransport | undefined;
  private retryDelayS = VSOCK_RETRY_DELAY_INITIAL_S;
  private stickUntil = 0;
  private readonly now: () => number;

  constructor(private readonly opts: RpcOutOptions) {
    if (!opts.primary && !opts.fallback) throw new TypeError('RpcOut needs a primary or a fallback transport');
    this.now = opts.now ?? Date.now;
  }

  /** The transport the last request went over. */
  get transport(): RpciTransport | undefined {
    return this.active;
  }

  send(request: Buffer | string): RpcReply {
    const buf = toBuffer(request);
    const { primary, fallback } = this.opts;
    if (primary && this.active === fallback && this.now() >= this.stickUntil) {
      fallback!.stop(); // time to try vsock again
      this.active = undefined;
    }
    if (!this.active) this.startBest();
    try {
      return this.active!.call(buf);
    } catch (e) {
      if (this.active !== primary || !retryable(e)) throw e;
      primary!.stop();
      this.active = undefined;
      this.retryDelayS = VSOCK_RETRY_DELAY_INITIAL_S;
      this.startBest();
      return this.active!.call(buf);
    }
  }

  /** A channel reset or restart: close everything and forget the stick delay (§6.5). */
  reset(): void {
    this.stop();
    this.retryDelayS = VSOCK_RETRY_DELAY_INITIAL_S;
    this.stickUntil = 0;
  }

  stop(): void {
    this.opts.primary?.stop();
    this.opts.fallback?.stop();
    this.active = undefined;
  }

  private startBest(): void {
    const { primary, fallback } = this.opts;
    let why = '';
    if (primary) {
      try {
        primary.start();
        if (this.active !== primary) this.opts.onSwitch?.(primary, 'started');
        this.active = primary;
        return;
      } catch (e) {
        if (!fallback || !(e instanceof ChannelError)) throw e;
        why = `${primary.kind} unavailable: ${e.message}`;
        this.retryDelayS = Math.min(this.retryDelayS * 2, VSOCK_RETRY_DELAY_MAX_S);
        this.stickUntil = this.now() + this.retryDelayS * 1000;
      }
    }
    fallback!.start();
    this.active = fallback;
    this.opts.onSwitch?.(fallback!, why || 'started');
  }
}
