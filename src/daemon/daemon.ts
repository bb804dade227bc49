/**
 * The daemon: wires the channel, the TCLO loop, the core session and the
 * services together, and keeps the channel alive through host resets and
 * errors the way the reference does (channel.md §5.4):
 *
 *  - any TCLO send/receive failure, or an RPCI failure that survived the
 *    channel's own reopen-and-retry, stops the loop; 1 s later the whole
 *    channel (RPCI and TCLO) is restarted;
 *  - after 60 consecutive restarts without a `reset` from the host the daemon
 *    gives up (RPCIN_MAX_RESTARTS); a processed `reset` clears the count.
 *
 * It never spins (every retry is at least 1 s apart) and never exits on a
 * transient fault.
 */
import { isChannelError } from '../native';
import { RpcOut } from '../rpc/rpcout';
import { TcloDispatcher } from '../rpc/tclo';
import type { RpcReply, RpcSender, TcloHandler } from '../rpc/types';
import type { TcloTransport } from '../transport/transport';
import { CoreSession, Logger, ServiceHooks } from './coreSession';
import { BackdoorTcloLoop } from './tcloLoop';

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
  tclo: TcloTransport;
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
}

export class Daemon {
  readonly dispatcher = new TcloDispatcher();
  readonly session: CoreSession;
  readonly loop: BackdoorTcloLoop;
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
          if (isChannelError(e) && e.code !== 'TOO_LARGE') this.channelError(e, 'RPCI');
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
    this.loop = new BackdoorTcloLoop({
      transport: opts.tclo,
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
    });
  }

  start(): void {
    this.opts.onState?.('starting');
    this.session.publishVersion();
    this.loop.start();
    for (const t of this.opts.services.timers ?? []) this.startTimer(t);
  }

  /** Orderly shutdown (core-services.md §10): withdraw capabilities, send the pending reply, close. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.onState?.('stopping');
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const t of this.timers) clearTimeout(t);
    if (!this.errorPending) this.session.shutdown();
    this.loop.stop();
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
    this.loop.abort();
    this.opts.rpc.reset();
    this.scheduleRestart(e);
  }

  private scheduleRestart(cause: unknown): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.restarts++;
      if (this.restarts > MAX_CHANNEL_RESTARTS) {
        this.opts.log.error(`giving up after ${MAX_CHANNEL_RESTARTS} consecutive channel restarts`);
        this.opts.onGiveUp?.(cause);
        return;
      }
      try {
        this.opts.tclo.start();
      } catch (e) {
        this.opts.log.warn(`channel restart ${this.restarts} failed: ${e instanceof Error ? e.message : String(e)}`);
        this.scheduleRestart(e);
        return;
      }
      this.errorPending = false;
      this.opts.log.info(`channel restarted (attempt ${this.restarts}); waiting for the host's reset`);
      this.opts.onState?.('running: channel restarted');
      this.loop.start();
    }, CHANNEL_RESTART_DELAY_MS);
  }
}
