/**
 * The time sync algorithm of open-vm-tools' timeSync plugin on Linux
 * (core-services.md §7.2-7.5: TimeSyncDoSync, TimeSyncStepTime,
 * TimeSyncSlewTime, slewLinux.c, pllLinux.c), over the Clock and
 * HostTimeSource interfaces so it runs the same against the real clock and
 * the simulated one. Decisions, thresholds and adjtimex parameters are the
 * reference's; integer arithmetic truncates like its int64 C.
 *
 * Scheduling (the loop timer) and policy (config, NTP daemons) live in
 * service.ts; this class only decides and applies one pass at a time.
 */
import { ADJ, STA } from '../../native';
import type { Logger } from '../../daemon/coreSession';
import type { Clock } from './clock';
import {
  PLL_KERNEL_TIME_CONSTANT,
  PLL_OFFSET_CLAMP_US,
  TICK_INCR_MAX,
  TICK_INCR_MIN,
  TICK_INCR_NOMINAL,
  TIMESYNC_CALIBRATION_DURATION_US,
  TIMESYNC_DEFAULT_PERIOD_S,
  TIMESYNC_PERCENT_CORRECTION,
  TIMESYNC_PLL_ACTIVATE_US,
  TIMESYNC_PLL_MAX_PPM,
  TIMESYNC_PLL_UNSYNC_US,
  US_PER_SEC,
  USER_HZ,
} from './constants';
import { HostGuestSample, HostTimeSource, readHostAndGuest } from './hostTime';

/** TIMESYNC_STEP (one-shot) or TIMESYNC_PERIODIC (the loop). */
export type SyncType = 'step' | 'periodic';
export type SlewState = 'uncalibrated' | 'calibrating' | 'pll';

/** What one pass decided, for the log, tests and the benchmark. */
export interface SyncResult {
  type: SyncType;
  action: 'step' | 'slew' | 'none';
  /** guest − host − apparentError, µs (positive: guest ahead). */
  gosErrorUs: number;
  apparentErrorUs: number;
  maxTimeErrorUs: number;
  sample: HostGuestSample;
  /** The step applied (host − guest), µs. */
  stepUs?: number;
  /** The slew: the adjustment asked for, the state it ran in and what was set. */
  slew?: SlewResult;
}

export interface SlewResult {
  adjustmentUs: number;
  /** The state before this pass and after it. */
  from: SlewState;
  to: SlewState;
  /** ADJ_TICK set this pass (tick slewing). */
  tick?: number;
  /** PLL activation: the estimated frequency error, ppm << 16 (as ADJ_FREQUENCY gets it). */
  freq?: number;
  /** ADJ_OFFSET sent to the PLL this pass (after the ±500 ms clamp). */
  pllOffsetUs?: number;
}

export class TimeSyncError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'TimeSyncError';
  }
}

export interface TimeSyncEngineOptions {
  clock: Clock;
  host: HostTimeSource;
  log: Logger;
}

export class TimeSyncEngine {
  /** Loop period, s (Set_Option synctime.period; 0 → 60). */
  periodS = TIMESYNC_DEFAULT_PERIOD_S;
  /** Share of the error slewed per period, % (percentCorrection). */
  percentCorrection = TIMESYNC_PERCENT_CORRECTION;
  slewActive = false;
  slewState: SlewState = 'uncalibrated';
  /** Some adjtimex call of ours changed the kernel's discipline (so stopping must undo it). */
  kernelTouched = false;

  // TimeSync_Slew's statics (slewLinux.c)
  private slewStart = 0;
  private tickLength = TICK_INCR_NOMINAL;
  private deltaRequested = 0;
  // TimeSyncSlewTime's statics
  private calibrationStart = 0;
  private calibrationAdjustment = 0;

  constructor(private readonly opts: TimeSyncEngineOptions) {}

  get clock(): Clock {
    return this.opts.clock;
  }

  /**
   * TimeSyncDoSync (§7.2). Throws TimeSyncError when the host or guest time
   * cannot be read or the clock cannot be changed.
   */
  doSync(type: SyncType, slewCorrection: boolean, allowBackward: boolean): SyncResult {
    const log = this.opts.log;
    let sample: HostGuestSample;
    try {
      sample = readHostAndGuest(this.opts.host, this.opts.clock);
    } catch (e) {
      throw new TimeSyncError(`unable to read the host and guest time: ${msg(e)}`, e);
    }
    const apparentError = sample.apparentErrorUs;
    const maxTimeError = sample.maxTimeErrorUs;
    const gosError = sample.guestUs - sample.hostUs - apparentError;
    const result: SyncResult = { type, action: 'none', gosErrorUs: gosError, apparentErrorUs: apparentError, maxTimeErrorUs: maxTimeError, sample };
    log.debug(
      `sync ${type}: guest − host ${gosError} µs (apparent error ${apparentError} µs, limit ${maxTimeError} µs, ` +
        `${sample.command}, ${sample.samples} sample(s), bracket ${sample.bracketUs} µs)`,
    );
    if (type === 'step') {
      // Step if the guest is behind by more than the allowed lag, or ahead and backward steps are allowed.
      if (gosError < -maxTimeError || (gosError + apparentError > 0 && allowBackward)) {
        result.stepUs = -gosError - apparentError;
        this.stepTime(result.stepUs);
        result.action = 'step';
      } else {
        log.debug('one-time synchronization: correction not needed');
      }
      return result;
    }
    // Periodic: slewing only with WITH_LAG's separate apparent error and slewCorrection on.
    this.setSlewState(sample.apparentErrorValid && slewCorrection);
    if (gosError < -maxTimeError) {
      result.stepUs = -gosError - apparentError;
      this.stepTime(result.stepUs);
      result.action = 'step';
    } else if (slewCorrection && sample.apparentErrorValid) {
      result.slew = this.slewTime(-gosError);
      result.action = 'slew';
    }
    return result;
  }

  /** TimeSyncStepTime (§7.3): stop slewing, settimeofday(now + delta), STOPCATCHUP. */
  stepTime(adjustmentUs: number): void {
    this.setSlewState(false);
    try {
      this.opts.clock.stepUs(adjustmentUs);
    } catch (e) {
      throw new TimeSyncError(`unable to step the clock by ${adjustmentUs} µs: ${msg(e)}`, e);
    }
    this.opts.log.info(`stepped the clock by ${formatUs(adjustmentUs)}`);
    try {
      this.opts.host.stopCatchup();
    } catch (e) {
      this.opts.log.warn(`STOPCATCHUP failed: ${msg(e)}`);
    }
  }

  /** TimeSyncSlewTime (§7.4-7.5): tick slewing, 15 min calibration, then the kernel PLL. */
  slewTime(adjustment: number): SlewResult {
    const log = this.opts.log;
    const periodUs = this.periodS * US_PER_SEC;
    const slewDiff = Math.trunc((adjustment * this.percentCorrection) / 100);
    const now = this.opts.clock.nowUs();
    const from = this.slewState;
    const out: SlewResult = { adjustmentUs: adjustment, from, to: from };

    if (Math.abs(adjustment) > TIMESYNC_PLL_UNSYNC_US && this.slewState !== 'uncalibrated') {
      log.debug(`adjustment too large (${adjustment} µs): resetting the PLL state`);
      this.slewState = 'uncalibrated';
    }
    if (this.slewState === 'uncalibrated') {
      try {
        out.tick = this.slew(slewDiff, periodUs).tick;
      } catch (e) {
        this.slewState = 'uncalibrated';
        throw new TimeSyncError(`slewing failed: ${msg(e)}`, e);
      }
      if (Math.abs(adjustment) < TIMESYNC_PLL_ACTIVATE_US) {
        log.debug('starting PLL calibration');
        this.calibrationStart = now;
        // We start adjustment behind, and have already asked for slewDiff of it.
        this.calibrationAdjustment = slewDiff - adjustment;
        this.slewState = 'calibrating';
      }
    } else if (this.slewState === 'calibrating') {
      if (now > this.calibrationStart + TIMESYNC_CALIBRATION_DURATION_US) {
        // Back to nominal, and learn what of the last request was not applied.
        let remaining = 0;
        try {
          remaining = this.slew(0, periodUs).remaining;
        } catch (e) {
          log.warn(`resetting the tick failed: ${msg(e)}`); // the reference ignores this failure too
        }
        this.calibrationAdjustment += adjustment - remaining;
        const ppmErr = Number(((1_000_000n * BigInt(Math.trunc(this.calibrationAdjustment))) << 16n) / BigInt(Math.trunc(now - this.calibrationStart)));
        const ppm = Math.floor(ppmErr / 65536); // ppmErr >> 16 (arithmetic)
        if (ppm < TIMESYNC_PLL_MAX_PPM && ppm > -TIMESYNC_PLL_MAX_PPM) {
          log.info(`activating the PLL: estimated frequency error ${ppm} ppm (${ppmErr})`);
          out.pllOffsetUs = this.pllUpdate(adjustment);
          this.pllSetFrequency(ppmErr);
          out.freq = ppmErr;
          this.slewState = 'pll';
        } else {
          log.info(`frequency error too large for the PLL: ${ppm} ppm; slewing`);
          this.slewState = 'uncalibrated';
        }
      } else {
        let r: { tick: number; remaining: number };
        try {
          r = this.slew(slewDiff, periodUs);
        } catch (e) {
          throw new TimeSyncError(`slewing failed: ${msg(e)}`, e);
        }
        out.tick = r.tick;
        this.calibrationAdjustment += slewDiff - r.remaining;
      }
    } else {
      try {
        out.pllOffsetUs = this.pllUpdate(adjustment);
      } catch (e) {
        log.warn(`PLL update failed (${msg(e)}); resetting slew`);
        this.resetSlew();
      }
    }
    out.to = this.slewState;
    return out;
  }

  /**
   * TimeSync_Slew (slewLinux.c): set the tick so that `delta` µs is made up
   * over the period; report what of the previous request was not applied.
   */
  private slew(delta: number, periodUs: number): { tick: number; remaining: number } {
    const now = this.opts.clock.nowUs();
    let remaining = 0;
    if (this.slewStart !== 0) {
      const ticksElapsed = Math.trunc((now - this.slewStart) / this.tickLength);
      remaining = this.deltaRequested - ticksElapsed * (this.tickLength - TICK_INCR_NOMINAL);
    }
    let tick = Math.trunc((periodUs + delta) / ((Math.trunc(periodUs / US_PER_SEC)) * USER_HZ));
    if (tick > TICK_INCR_MAX) tick = TICK_INCR_MAX;
    else if (tick < TICK_INCR_MIN) tick = TICK_INCR_MIN;
    this.tickLength = tick;
    this.slewStart = now;
    this.deltaRequested = delta;
    try {
      this.kernelTouched = true;
      this.opts.clock.adjtimex({ modes: ADJ.TICK, tick });
    } catch (e) {
      this.slewStart = 0;
      throw e;
    }
    this.opts.log.debug(`time slew: tick ${tick}`);
    return { tick, remaining };
  }

  /** TimeSync_PLLUpdate (pllLinux.c): offset clamped to ±500 ms; time constant and STA_PLL as needed. */
  private pllUpdate(offsetUs: number): number {
    const offset = Math.max(-PLL_OFFSET_CLAMP_US, Math.min(PLL_OFFSET_CLAMP_US, Math.trunc(offsetUs)));
    const clock = this.opts.clock;
    this.kernelTouched = true;
    let tx = clock.adjtimex({ modes: ADJ.OFFSET | ADJ.MAXERROR | ADJ.ESTERROR, offset, maxerror: 0, esterror: 0 });
    if (tx.constant !== PLL_KERNEL_TIME_CONSTANT) {
      tx = clock.adjtimex({ modes: ADJ.TIMECONST, constant: 0 });
    }
    if ((tx.status & STA.PLL) === 0 || (tx.status & STA.UNSYNC) !== 0) {
      clock.adjtimex({ modes: ADJ.STATUS, status: STA.PLL });
    }
    return offset;
  }

  /** TimeSync_PLLSetFrequency: ppm << 16. */
  private pllSetFrequency(freq: number): void {
    this.kernelTouched = true;
    this.opts.clock.adjtimex({ modes: ADJ.FREQUENCY, freq });
  }

  /** TimeSyncResetSlew: tick nominal, PLL offset 0, frequency 0; back to uncalibrated. */
  resetSlew(): void {
    this.slewState = 'uncalibrated';
    const periodUs = this.periodS * US_PER_SEC;
    try {
      this.slew(0, periodUs);
      this.pllUpdate(0);
      this.pllSetFrequency(0);
    } catch (e) {
      this.opts.log.warn(`resetting the slew failed: ${msg(e)}`);
    }
  }

  /** TimeSyncSetSlewState: stopping the slew resets it to nominal. */
  setSlewState(active: boolean): void {
    if (active === this.slewActive) return;
    this.opts.log.debug(active ? 'starting slew' : 'stopping slew');
    if (!active) this.resetSlew();
    this.slewActive = active;
  }

  /** TimeSync_DisableTimeSlew: tick back to nominal (loop stop). */
  disableTimeSlew(): void {
    try {
      this.kernelTouched = true;
      this.opts.clock.adjtimex({ modes: ADJ.TICK, tick: TICK_INCR_NOMINAL });
    } catch (e) {
      this.opts.log.warn(`resetting the tick failed: ${msg(e)}`);
    }
  }
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** "+5.000123 s" / "-250 µs" */
export function formatUs(us: number): string {
  const sign = us < 0 ? '-' : '+';
  const a = Math.abs(us);
  return a >= US_PER_SEC ? `${sign}${(a / US_PER_SEC).toFixed(6)} s` : `${sign}${Math.round(a)} µs`;
}
