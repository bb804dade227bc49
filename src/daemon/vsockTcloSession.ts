/**
 * TCLO over vsock, the push model (channel.md §6.4; rpcin.c
 * RpcInConnRecvedCb, RpcInHeartbeatCallback):
 *
 *  - the host pushes each command as a packet; it is dispatched exactly as
 *    over the backdoor (§5.3) and the reply is written as a DATA packet
 *    right after the dispatch -- not with a later poll. So on vsock
 *    `OK ATR toolbox` leaves before the reset hook's RPCs, which run from
 *    setImmediate (core-services.md §2.3 ordering note);
 *  - after the first reply, a PING packet every 1000 ms while the
 *    connection lives (HA monitoring depends on it);
 *  - a connection that cannot be established makes start() throw (the
 *    daemon falls back to the backdoor); one that fails later is a channel
 *    error (onError; the daemon restarts after 1 s, vsock first again).
 *
 * The reference dispatches synchronously, so commands never overlap and no
 * PING falls between a command and its reply. Our handlers may be async:
 * commands are queued and dispatched one at a time, in order, and a
 * heartbeat tick that finds a command in flight is skipped.
 */
import { ChannelError, VsockTcloChannel } from '../native';
import type { VsockTclo } from '../transport/vsockTclo';
import type { TcloDriver, TcloDriverHooks } from './tcloDriver';

/** RPCIN_HEARTBEAT_INTERVAL (reference-figures.md §4). */
export const TCLO_HEARTBEAT_INTERVAL_MS = 1000;

export interface VsockTcloSessionOptions extends TcloDriverHooks {
  transport: VsockTclo;
}

export class VsockTcloSession implements TcloDriver {
  readonly kind = 'vsock' as const;
  private channel: VsockTcloChannel | undefined;
  private readonly queue: Buffer[] = [];
  /** When the command being dispatched arrived; undefined while idle. */
  private busySince: number | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Replies and PINGs written on the current connection (tests, logs). */
  replies = 0;
  pings = 0;

  constructor(private readonly opts: VsockTcloSessionOptions) {
    this.now = opts.now ?? Date.now;
  }

  get isRunning(): boolean {
    return this.channel !== undefined;
  }

  /**
   * While idle the session is waiting for the host, which is healthy on a
   * push channel: now. While a command is in flight: when it arrived, so a
   * dispatch that never ends shows, as a stalled poll loop does.
   */
  get lastActivityAt(): number {
    return this.busySince ?? this.now();
  }

  /** Connects (throws if the connection cannot be established) and starts serving. */
  start(): void {
    if (this.channel) return;
    const ch = this.opts.transport.open();
    try {
      ch.start(
        (payload) => this.received(ch, payload),
        (err) => this.closed(ch, err),
      );
    } catch (e) {
      ch.close();
      throw e;
    }
    this.channel = ch;
    this.replies = 0;
    this.pings = 0;
  }

  /** Nothing waits to be sent on vsock (each reply goes out with its dispatch): just close. */
  stop(): void {
    this.teardown();
  }

  abort(): void {
    this.teardown();
  }

  private received(ch: VsockTcloChannel, payload: Buffer): void {
    if (ch !== this.channel) return;
    this.queue.push(payload);
    if (this.busySince === undefined) void this.drain(ch);
  }

  private async drain(ch: VsockTcloChannel): Promise<void> {
    while (ch === this.channel) {
      const cmd = this.queue.shift();
      if (cmd === undefined) return;
      const t0 = this.now();
      this.busySince = t0;
      let reply: Buffer;
      try {
        reply = await this.opts.dispatch(cmd);
      } catch (e) {
        // dispatch() frames handler failures itself; reaching here is a bug: restart cleanly.
        if (ch === this.channel) this.fail(e);
        return;
      }
      // Stopped or failed meanwhile: nobody to answer, and busySince and the
      // queue now belong to whatever runs next.
      if (ch !== this.channel) return;
      this.busySince = undefined;
      try {
        ch.reply(reply); // §6.4 step 4: a DATA packet, at once
      } catch (e) {
        this.fail(e);
        return;
      }
      this.replies++;
      this.opts.onCommand?.(cmd, reply, this.now() - t0);
      // §6.4 step 5: the heartbeat starts after the first successful reply.
      if (!this.heartbeat && ch === this.channel) {
        this.heartbeat = setInterval(() => this.beat(ch), TCLO_HEARTBEAT_INTERVAL_MS);
      }
    }
  }

  private beat(ch: VsockTcloChannel): void {
    if (ch !== this.channel || this.busySince !== undefined) return;
    try {
      ch.ping();
      this.pings++;
    } catch (e) {
      this.fail(e);
    }
  }

  /** The channel ended by itself: null means the host closed it cleanly -- still a channel error. */
  private closed(ch: VsockTcloChannel, err: ChannelError | null): void {
    if (ch !== this.channel) return;
    this.fail(err ?? new ChannelError('vsock TCLO: the host closed the connection', 'CHANNEL_CLOSED'));
  }

  private fail(e: unknown): void {
    this.teardown();
    this.opts.onError(e);
  }

  private teardown(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.queue.length = 0;
    this.busySince = undefined;
    const ch = this.channel;
    this.channel = undefined;
    ch?.close();
  }
}
