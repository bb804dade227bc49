/**
 * The daemon: wires the channel, the TCLO loop, the core session and the
 * services together, and keeps the channel alive through host resets and
 * errors the way the reference does (channel.md §5.4):
 *
 *  - any TCLO send/receive failure stops the loop; 1 s later the whole
 *    channel (RPCI and TCLO) is restarted;
 *  - an RPCI failure that survived the channel's own reopen-and-resend only
 *    resets the RPCI side (the next request reopens it), as the reference's
 *    BkdoorChannelSend does; the TCLO loop is not disturbed;
 *  - after 60 consecutive restarts without a `reset` from the host the daemon
 *    gives up (RPCIN_MAX_RESTARTS); a processed `reset` clears the count;
 *  - TCLO runs over vsock when a vsock transport is given and the connection
 *    can be established, else over the backdoor at once; every restart tries
 *    vsock first again (channel.md §6.4–6.5).
 *
 * It never spins (every retry is at least 1 s apart) and never exits on a
 * transient fault.
 */
import { isChannelError } from '../native';
import { RpcOut } from '../rpc/rpcout';
import { TcloDispatcher } from '../rpc/tclo';
import type { RpcReply, RpcSender, TcloHandler } from '../rpc/types';
import type { TcloTransport } from '../transport/transport';
import type { VsockTclo } from '../transport/vsockTclo';
import { CoreSession, Logger, ServiceHooks } from './coreSession';
import type { TcloDriver, TcloDriverHooks } from './tcloDriver';
import { BackdoorTcloLoop } from './tcloLoop';
import { VsockTcloSession } from './vsockTcloSession';

/** channel.md §5.4 / reference-figures.md §5 */
export const CHANNEL_RESTART_DELAY_MS = 1000;
export const MAX_CHANNEL_RESTARTS = 60;

export interface DaemonServices {
  /** Hooks into the core session, in load order. */
  hooks: ServiceHooks[];
  /** TCLO handlers by command name. */
  handlers: Record<string, TcloHandler>;
  /** Periodic work: started after the channel is up, stopped at shutdown. */
  timers?: Array<{ name: string; intervalMs: () => number; run: () => void }>;
}

export interface DaemonOptions {
  rpc: RpcOut;
  /** TCLO over the backdoor: the poll loop's channel (channel.md §5), and the fallback when vsockTclo is given. */
  tclo: TcloTransport;
  /** TCLO over vsock, tried first at start and at every restart (§6.4–6.5); absent: backdoor only. */
  vsockTclo?: VsockTclo;
  log: Logger;
  services: DaemonServices;
  confDirectory?: string;
  hideToolsVersion?: () => boolean;
  disableToolsVersion?: () => boolean | undefined;
  /** The first TCLO exchange completed (systemd READY=1). */
  onFirstExchange?: () => void;
  /** A short state for systemd STATUS=. */
  onState?: (state: string) => void;
  /** Every TCLO command with its reply, for the debug log. */
  onCommand?: (command: Buffer, reply: Buffer, ms: number) => void;
  /** The channel could not be restarted 60 times in a row. */
  onGiveUp?: (e: unknown) => void;
  /** Tests only: the restart delay and limit (default the reference's 1000 ms and 60). */
  restartDelayMs?: number;
  maxRestarts?: number;
}

export class Daemon {
  readonly dispatcher = new TcloDispatcher();
  readonly session: CoreSession;
  /** The backdoor poll loop, and the vsock push session when vsock is configured. */
  private readonly loop: BackdoorTcloLoop;
  private readonly vsock: VsockTcloSession | undefined;
  private current: TcloDriver;
  /** What services send through: reports failures to the supervisor. */
  readonly rpc: RpcSender;
  private restartTimer: NodeJS.Timeout | undefined;
  private restarts = 0;
  private errorPending = false;
  private firstExchange = false;
  private stopped = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: DaemonOptions) {
    this.rpc = {
      send: (request: Buffer | string): RpcReply => {
        try {
          return opts.rpc.send(request);
        } catch (e) {
          // The channel already reopened and resent once (BkdoorChannelSend) and,
          // on vsock, fell back to the backdoor with its back-off (§6.5). Like the
          // reference, reset only the RPCI side so the next request starts
          // afresh; the TCLO loop and the reply it owes the host carry on.
          if (isChannelError(e) && e.code !== 'TOO_LARGE') {
            opts.log.warn(`RPCI failed: ${e.message}; the next request reopens the channel`);
            opts.rpc.stop();
          }
          throw e;
        }
      },
    };
    this.session = new CoreSession({
      rpc: this.rpc,
      log: opts.log,
      confDirectory: opts.confDirectory,
      hideToolsVersion: opts.hideToolsVersion,
      disableToolsVersion: opts.disableToolsVersion,
      onResetProcessed: () => {
        if (!this.errorPending) this.restarts = 0;
      },
    });
    this.session.registerHandlers(this.dispatcher);
    for (const h of opts.services.hooks) this.session.addService(h);
    this.dispatcher.registerAll(opts.services.handlers);
    const hooks: TcloDriverHooks = {
      dispatch: (cmd) => this.dispatcher.dispatch(cmd),
      onError: (e) => this.channelError(e, 'TCLO'),
      onCommand: (cmd, reply, ms) => {
        if (!this.firstExchange) {
          this.firstExchange = true;
          opts.onFirstExchange?.();
          opts.onState?.('running: host connected');
        }
        opts.onCommand?.(cmd, reply, ms);
      },
    };
    this.loop = new BackdoorTcloLoop({ ...hooks, transport: opts.tclo });
    this.vsock = opts.vsockTclo ? new VsockTcloSession({ ...hooks, transport: opts.vsockTclo }) : undefined;
    this.current = this.loop;
  }

  /** The TCLO driver in use now (it changes at restarts): its kind and liveness, for the watchdog. */
  get driver(): TcloDriver {
    return this.current;
  }

  start(): void {
    this.opts.onState?.('starting');
    this.session.publishVersion();
    this.startTclo(false);
    for (const t of this.opts.services.timers ?? []) this.startTimer(t);
  }

  /**
   * vsock first; if its connection cannot be established, the backdoor at
   * once (§6.4 "Fallback"). `openBackdoor`: open the backdoor channel here,
   * so a restart sees a failure now instead of at the first poll. Throws
   * only when the backdoor channel cannot be opened either.
   */
  private startTclo(openBackdoor: boolean): void {
    if (this.vsock) {
      try {
        this.vsock.start();
        this.current = this.vsock;
        this.opts.log.info('TCLO over vsock');
        return;
      } catch (e) {
        this.opts.log.info(`TCLO over vsock unavailable (${e instanceof Error ? e.message : String(e)}); using the backdoor`);
      }
    }
    if (openBackdoor) this.opts.tclo.start();
    this.current = this.loop;
    this.loop.start();
  }

  /** Orderly shutdown (core-services.md §10): withdraw capabilities, send the pending reply, close. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.onState?.('stopping');
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const t of this.timers) clearTimeout(t);
    if (!this.errorPending) this.session.shutdown();
    this.current.stop();
    this.opts.rpc.stop();
  }

  private startTimer(t: { name: string; intervalMs: () => number; run: () => void }): void {
    const arm = (): void => {
      const ms = t.intervalMs();
      if (this.stopped || ms <= 0) return; // 0 disables, as poll-interval=0 does
      const timer = setTimeout(() => {
        this.timers.splice(this.timers.indexOf(timer), 1);
        if (!this.errorPending) {
          try {
            t.run();
          } catch (e) {
            this.opts.log.warn(`${t.name}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        arm();
      }, ms);
      this.timers.push(timer);
    };
    arm();
  }

  private channelError(e: unknown, where: string): void {
    if (this.stopped || this.errorPending) return;
    this.errorPending = true;
    this.opts.log.warn(`${where} channel error: ${e instanceof Error ? e.message : String(e)}; restarting the channel in 1 s`);
    this.opts.onState?.('channel error: restarting');
    this.current.abort();
    this.opts.rpc.reset();
    this.scheduleRestart(e);
  }

  private scheduleRestart(cause: unknown): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.restarts++;
      const max = this.opts.maxRestarts ?? MAX_CHANNEL_RESTARTS;
      if (this.restarts > max) {
        this.opts.log.error(`giving up after ${max} consecutive channel restarts`);
        this.opts.onGiveUp?.(cause);
        return;
      }
      try {
        // Drivers report errors asynchronously, so none can come before errorPending is cleared below.
        this.startTclo(true);
      } catch (e) {
        this.opts.log.warn(`channel restart ${this.restarts} failed: ${e instanceof Error ? e.message : String(e)}`);
        this.scheduleRestart(e);
        return;
      }
      this.errorPending = false;
      this.opts.log.info(`channel restarted over ${this.current.kind} (attempt ${this.restarts}); waiting for the host's reset`);
      this.opts.onState?.('running: channel restarted');
    }, this.opts.restartDelayMs ?? CHANNEL_RESTART_DELAY_MS);
  }
}
