/**
 * The timeSync service (core-services.md §7, §4): Set_Option handling, the
 * periodic loop, `Time_Synchronize`, `TimeInfo_Update`, the one-shot sync on
 * resume, and the policy towards other time daemons.
 *
 * Behaviour is the reference's (timeSync.c) except where a chronyd, ntpd or
 * systemd-timesyncd disciplines the clock and `[timeSync] ntp-coexistence`
 * says to defer (default `auto`: defer when one runs). Then the periodic
 * loop (its slewing, PLL and the kernel-state reset at loop start) and the
 * start-up step are left to that daemon and logged; a host-requested
 * `Time_Synchronize` and the one-shot step on resume still run, since they
 * answer a jump (resume, vMotion, snapshot revert) an NTP daemon would take
 * minutes to slew out. open-vm-tools#302; docs/differences.md.
 */
import type { Logger } from '../../daemon/coreSession';
import type { RpcSender, TcloHandler, TcloResult } from '../../rpc/types';
import {
  OPTION,
  REPLY_TIMEINFO_DISABLED,
  REPLY_UNABLE_TO_SYNC,
  REPLY_UNABLE_TO_TOKENIZE,
  TIMEINFO_UPDATE,
  TIMESYNC_DEFAULT_PERIOD_S,
  TIMESYNC_PERCENT_CORRECTION,
  TIMESYNC_SYNCHRONIZE,
} from './constants';
import { formatUs, SyncResult, SyncType, TimeSyncEngine } from './engine';
import type { TimeDaemon } from './timeDaemons';

export type NtpCoexistence = 'auto' | 'defer' | 'ignore';

/** tools.conf [timeSync], read at each decision so a reload applies at once. */
export interface TimeSyncConfig {
  disableAll: boolean;
  disablePeriodic: boolean;
  ntpCoexistence: NtpCoexistence;
  timeInfoEnabled: boolean;
}

export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realScheduler: Scheduler = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface TimeSyncServiceOptions {
  engine: TimeSyncEngine;
  config: () => TimeSyncConfig;
  log: Logger;
  /** Running time daemons (timeDaemons.ts findTimeDaemons). */
  timeDaemons: () => TimeDaemon[];
  /** For TimeInfo_Update's `timeInfo.get-updates` (§7.6). */
  rpc?: RpcSender;
  scheduler?: Scheduler;
  /** Every pass that ran, with what it decided (tests, benchmark, debug). */
  onSync?: (why: string, r: SyncResult) => void;
}

export type LoopState = 'initializing' | 'stopped' | 'running';

/** `1`/`0` exactly (ParseBoolOption). */
function parseBool(v: string): boolean | undefined {
  return v === '1' ? true : v === '0' ? false : undefined;
}

/** strtoul(base 0) of a whole token, ≤ 2^32−1 (StrUtil_StrToUint). */
export function parseUint(v: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[2]!.startsWith('0x') || m[2]!.startsWith('0X') ? BigInt(m[2]!) : m[2]!.length > 1 && m[2]!.startsWith('0') ? parseInt(m[2]!, 8) : Number(m[2]));
  if (m[1] === '-' && n !== 0) return undefined; // wraps past 2^32 on LP64
  return n <= 0xffffffff ? n : undefined;
}

/** strtol(base 0) of a whole token within int32 (StrUtil_StrToInt). */
function parseInt32(v: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(v);
  if (!m) return undefined;
  const abs = m[2]!.toLowerCase().startsWith('0x') ? Number(BigInt(m[2]!)) : m[2]!.length > 1 && m[2]!.startsWith('0') ? parseInt(m[2]!, 8) : Number(m[2]);
  const n = m[1] === '-' ? -abs : abs;
  return n >= -0x80000000 && n <= 0x7fffffff ? n : undefined;
}

export class TimeSyncService {
  state: LoopState = 'initializing';
  /** Set_Option time.synchronize.tools.slewCorrection (default off until the host says). */
  slewCorrection = false;
  private syncBeforeLoop = false;
  private startupBackward = false;
  private startupDone = false;
  private timer: unknown;
  /** The last deferral we logged ("" = not deferring), to log transitions once. */
  private deferLogged = '';

  private readonly engine: TimeSyncEngine;
  private readonly log: Logger;
  private readonly scheduler: Scheduler;

  constructor(private readonly opts: TimeSyncServiceOptions) {
    this.engine = opts.engine;
    this.log = opts.log;
    this.scheduler = opts.scheduler ?? realScheduler;
  }

  get periodS(): number {
    return this.engine.periodS;
  }

  get percentCorrection(): number {
    return this.engine.percentCorrection;
  }

  tcloHandlers(): Record<string, TcloHandler> {
    return {
      [TIMESYNC_SYNCHRONIZE]: (args) => this.timeSynchronize(args),
      [TIMEINFO_UPDATE]: () => this.timeInfoUpdate(),
    };
  }

  // -------------------------------------------------------------------------
  // Policy

  /**
   * The time daemons we leave the clock to, or null when we act as the
   * reference does. `defer` defers even when none is seen.
   */
  deferringTo(): TimeDaemon[] | null {
    const mode = this.opts.config().ntpCoexistence;
    if (mode === 'ignore') return null;
    const found = this.opts.timeDaemons();
    if (mode === 'defer') return found;
    return found.length > 0 ? found : null;
  }

  private describe(d: TimeDaemon[]): string {
    return d.length === 0 ? 'the system time service' : d.map((x) => `${x.name} (pid ${x.pid})`).join(', ');
  }

  /** May the periodic loop touch the clock now? Logs transitions. */
  private periodicAllowed(): boolean {
    const cfg = this.opts.config();
    let why = '';
    if (cfg.disableAll) why = '[timeSync] disable-all is set: time sync is off';
    else if (cfg.disablePeriodic) why = '[timeSync] disable-periodic is set: periodic time sync is off';
    else {
      const d = this.deferringTo();
      if (d) {
        why = `${this.describe(d)} disciplines the clock: leaving periodic time sync to it ([timeSync] ntp-coexistence=${cfg.ntpCoexistence})`;
      }
    }
    if (why !== this.deferLogged) {
      if (why) this.log.info(why);
      else if (this.deferLogged) this.log.info('periodic time sync resumes');
      this.deferLogged = why;
    }
    return why === '';
  }

  // -------------------------------------------------------------------------
  // One-shot syncs

  private runSync(why: string, type: SyncType, allowBackward: boolean): SyncResult {
    const r = this.engine.doSync(type, this.slewCorrection, allowBackward);
    if (r.action === 'none') this.log.debug(`${why}: guest − host ${formatUs(r.gosErrorUs)}, no correction needed`);
    else if (r.action === 'slew') {
      const s = r.slew!;
      this.log.debug(
        `${why}: guest − host ${formatUs(r.gosErrorUs)}, slew ${s.from}→${s.to}` +
          `${s.tick !== undefined ? ` tick ${s.tick}` : ''}${s.pllOffsetUs !== undefined ? ` PLL offset ${s.pllOffsetUs} µs` : ''}` +
          `${s.freq !== undefined ? ` freq ${s.freq}` : ''}`,
      );
    }
    this.opts.onSync?.(why, r);
    return r;
  }

  /** A one-shot step sync; false when it failed (logged). */
  private oneShot(why: string, allowBackward: boolean): boolean {
    try {
      this.runSync(why, 'step', allowBackward);
      return true;
    } catch (e) {
      this.log.warn(`${why}: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  /** TCLO `Time_Synchronize <n>` (§7.6): a one-shot step, backward iff n == 1. */
  private timeSynchronize(args: Buffer): TcloResult {
    const token = args.toString('latin1').split(' ').find((t) => t !== '');
    const n = token === undefined ? undefined : parseUint(token);
    if (n === undefined) return { ok: false, result: REPLY_UNABLE_TO_TOKENIZE };
    if (this.opts.config().disableAll) {
      this.log.debug('Time_Synchronize: [timeSync] disable-all is set; not synchronising');
      return { ok: true, result: '' };
    }
    return this.oneShot(`Time_Synchronize ${n}`, n === 1) ? { ok: true, result: '' } : { ok: false, result: REPLY_UNABLE_TO_SYNC };
  }

  /**
   * The guest resumed (power ops' OS_Resume): one forward step if the guest
   * fell behind by more than the host's allowed lag, as `Time_Synchronize 0`
   * would. Runs even when deferring to an NTP daemon. Returns whether it ran.
   */
  resumed(): boolean {
    if (this.opts.config().disableAll) return false;
    return this.oneShot('resume', false);
  }

  // -------------------------------------------------------------------------
  // Set_Option (§4, timeSync.c TimeSyncSetOption)

  /** Returns what the reference's handler returns (ignored by the core since 11.0). */
  setOption(name: string, value: string): boolean {
    switch (name) {
      case OPTION.SYNCTIME: {
        const start = parseBool(value);
        if (start === undefined) return false;
        if (start && this.state !== 'running') {
          // Not at the first start-up: synctime arrives before ...tools.enable there.
          if (this.state === 'stopped' && this.syncBeforeLoop && this.oneShotAllowed('synctime 1')) {
            this.oneShot('synctime 1', true);
          }
          this.startLoop();
        } else if (!start) {
          if (this.state === 'running') this.stopLoop();
          else this.state = 'stopped';
        }
        return true;
      }
      case OPTION.SLEW_CORRECTION:
        this.slewCorrection = value !== '0';
        this.log.debug(`slewCorrection ${this.slewCorrection ? 1 : 0}`);
        return true;
      case OPTION.PERCENT_CORRECTION: {
        const p = parseInt32(value);
        if (p === undefined) return false;
        this.engine.percentCorrection = p <= 0 || p > 100 ? TIMESYNC_PERCENT_CORRECTION : p;
        return true;
      }
      case OPTION.PERIOD: {
        let p = parseUint(value);
        if (p === undefined) return false;
        if (p === 0) p = TIMESYNC_DEFAULT_PERIOD_S;
        if (p !== this.engine.periodS) {
          this.engine.periodS = p;
          if (this.state === 'running') {
            this.stopLoop();
            this.startLoop();
          }
        }
        return true;
      }
      case OPTION.STARTUP_BACKWARD: {
        const b = parseBool(value);
        if (b === undefined) return false;
        this.startupBackward = b;
        return true;
      }
      case OPTION.STARTUP: {
        const doSync = parseBool(value);
        if (doSync === undefined) return false;
        if (doSync && !this.startupDone && this.oneShotAllowed('the start-up step')) {
          // A failed start-up sync may be retried by a later `startup 1`, as in the reference.
          if (!this.oneShot('start-up sync', this.startupBackward)) return false;
        }
        this.startupDone = true;
        return true;
      }
      case OPTION.ENABLE: {
        const b = parseBool(value);
        if (b === undefined) return false;
        this.syncBeforeLoop = b;
        return true;
      }
      case OPTION.GUEST_RESYNC: {
        const b = parseBool(value);
        if (b === undefined) return false;
        if (b) this.log.debug('guest resync is not implemented on Linux (as in the reference)');
        return true;
      }
      case OPTION.GUEST_RESYNC_TIMEOUT:
        return parseUint(value) !== undefined;
      default:
        return false;
    }
  }

  /** The start-up step and the pre-loop step: off with disable-all, and left to an NTP daemon. */
  private oneShotAllowed(what: string): boolean {
    const cfg = this.opts.config();
    if (cfg.disableAll) return false;
    const d = this.deferringTo();
    if (d) {
      this.log.info(`${this.describe(d)} disciplines the clock: leaving ${what} to it (open-vm-tools#302)`);
      return false;
    }
    return true;
  }

  // -------------------------------------------------------------------------
  // The loop

  /** TimeSyncStartLoop: reset the slew, one pass now, then one every period. */
  private startLoop(): void {
    this.log.info(`starting the time sync loop (period ${this.engine.periodS} s, slewCorrection ${this.slewCorrection ? 1 : 0})`);
    if (this.periodicAllowed()) {
      this.engine.resetSlew();
      this.pass('loop start');
    }
    this.state = 'running';
    this.arm();
  }

  /** TimeSyncStopLoop: slew off and the tick nominal (unless we never touched the kernel). */
  private stopLoop(): void {
    this.log.info('stopping the time sync loop');
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.engine.kernelTouched) {
      this.engine.setSlewState(false);
      this.engine.disableTimeSlew();
    }
    this.state = 'stopped';
  }

  private arm(): void {
    this.timer = this.scheduler.setTimeout(() => {
      this.timer = undefined;
      if (this.state !== 'running') return;
      this.periodicPass();
      if (this.state === 'running' && this.timer === undefined) this.arm();
    }, this.engine.periodS * 1000);
  }

  /** One pass of the loop (the timer's callback; tests call it directly). */
  periodicPass(): void {
    if (!this.periodicAllowed()) {
      // A daemon appeared (or the config changed) while we were slewing: hand back a nominal clock.
      if (this.engine.slewActive) this.engine.setSlewState(false);
      return;
    }
    this.pass('periodic sync');
  }

  private pass(why: string): void {
    try {
      this.runSync(why, 'periodic', false);
    } catch (e) {
      this.log.warn(`unable to synchronise time: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** tools.conf changed: apply disable-all / disable-periodic / ntp-coexistence to a running loop now. */
  configChanged(): void {
    if (this.state === 'running' && !this.periodicAllowed() && this.engine.slewActive) this.engine.setSlewState(false);
  }

  /** Shutdown (TimeSyncShutdown): stop the loop, leaving the tick nominal. */
  stop(): void {
    if (this.state === 'running') this.stopLoop();
  }

  // -------------------------------------------------------------------------
  // TimeInfo (§7.6)

  private timeInfoUpdate(): TcloResult {
    if (!this.opts.config().timeInfoEnabled) return { ok: false, result: REPLY_TIMEINFO_DISABLED };
    const rpc = this.opts.rpc;
    if (rpc) {
      setImmediate(() => {
        try {
          const r = rpc.send('timeInfo.get-updates precisionclock0');
          this.log.info(`TimeInfo update: ${r.ok ? 'OK' : 'failed'} ${JSON.stringify(r.reply.toString('utf8'))}`);
        } catch (e) {
          this.log.warn(`TimeInfo update: ${e instanceof Error ? e.message : String(e)}`);
        }
      });
    }
    return { ok: true, result: '' };
  }

  /** `timeInfo.subscribe` / `unsubscribe precisionclock0` (no NUL), when enabled. */
  timeInfoSubscription(subscribe: boolean): void {
    if (!this.opts.config().timeInfoEnabled || !this.opts.rpc) return;
    try {
      this.opts.rpc.send(`timeInfo.${subscribe ? 'subscribe' : 'unsubscribe'} precisionclock0`);
    } catch (e) {
      this.log.debug(`timeInfo subscription: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

