/**
 * The TCLO loop over the backdoor (channel.md §5.1–5.2): each iteration sends
 * the reply to the previous command (an empty message if there was none —
 * the send is what tells the host the guest is alive) and fetches the next
 * command. After a command the next poll is immediate; while idle the delay
 * backs off 0 → 10 → 20 → 40 → 80 → 100 ms and stays at 100 ms (≈ 20
 * backdoor calls per second).
 */
import type { TcloTransport } from '../transport/transport';
import type { TcloDriver, TcloDriverHooks } from './tcloDriver';

/** channel.md §5.2: delay unit and RPCIN_MAX_DELAY (10 units = 100 ms). */
export const TCLO_DELAY_UNIT_MS = 10;
export const TCLO_MAX_DELAY_UNITS = 10;

const EMPTY = Buffer.alloc(0);

export interface TcloLoopOptions extends TcloDriverHooks {
  transport: TcloTransport;
}

export class BackdoorTcloLoop implements TcloDriver {
  readonly kind = 'backdoor' as const;
  private delayUnits = 0;
  private pendingReply: Buffer = EMPTY;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private busy = false;
  private readonly now: () => number;
  /** When the last poll went through: the liveness signal for the watchdog. */
  lastPollAt = 0;
  polls = 0;

  constructor(private readonly opts: TcloLoopOptions) {
    this.now = opts.now ?? Date.now;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** TcloDriver: the last poll (at least every 100 ms while the loop turns, §5.2). */
  get lastActivityAt(): number {
    return this.lastPollAt;
  }

  /** The delay before the next poll, in ms (for tests and logs). */
  get currentDelayMs(): number {
    return this.delayUnits * TCLO_DELAY_UNIT_MS;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.delayUnits = 0;
    this.schedule();
  }

  /**
   * Stops polling. Like RpcIn_stop, a pending reply is sent first, then the
   * channel is closed (channel.md §5.4).
   */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pendingReply.length > 0 && this.opts.transport.isOpen) {
      try {
        this.opts.transport.poll(this.pendingReply);
      } catch {
        // the host is gone; nothing more to tell it
      }
    }
    this.pendingReply = EMPTY;
    this.opts.transport.stop();
  }

  /** Drops the pending reply and the channel without sending (after a channel error). */
  abort(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pendingReply = EMPTY;
    this.opts.transport.stop();
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.iterate(), this.delayUnits * TCLO_DELAY_UNIT_MS);
  }

  private async iterate(): Promise<void> {
    this.timer = undefined;
    if (!this.running || this.busy) return;
    this.busy = true;
    try {
      let command: Buffer | null;
      try {
        command = this.opts.transport.poll(this.pendingReply);
      } catch (e) {
        this.running = false;
        this.pendingReply = EMPTY;
        this.opts.onError(e);
        return;
      }
      this.pendingReply = EMPTY;
      this.lastPollAt = this.now();
      this.polls++;
      if (command === null) {
        // RpcInUpdateDelayTime: 0 → 1 → 2 → 4 → 8 → 10 units.
        this.delayUnits = this.delayUnits === 0 ? 1 : Math.min(this.delayUnits * 2, TCLO_MAX_DELAY_UNITS);
      } else {
        const t0 = this.now();
        const reply = await this.opts.dispatch(command);
        this.opts.onCommand?.(command, reply, this.now() - t0);
        this.pendingReply = reply;
        this.delayUnits = 0;
      }
    } finally {
      this.busy = false;
    }
    if (this.running) this.schedule();
  }
}
