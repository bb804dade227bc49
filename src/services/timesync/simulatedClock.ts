/**
 * A virtual guest clock that follows the Linux kernel's NTP discipline well
 * enough to judge time sync (core-services.md §7.4-7.5), without touching
 * this machine's clock.
 *
 * Model (kernel/time/ntp.c, simplified):
 *  - between events the clock runs at rate
 *      (tick / 10000 + freq_ppm / 1e6) × (1 + driftPpm / 1e6)
 *    against "true" time: tick and frequency add (tick_length), driftPpm is
 *    the oscillator's own error;
 *  - ADJ_OFFSET is ignored unless STA_PLL is set (ntp_update_offset); with it,
 *    the offset replaces the residual and the frequency moves by
 *    offset × secs-since-last-update / 2^(2·(SHIFT_PLL + 2 + time_constant))
 *    (the PLL's integral term; the FLL is off for intervals under 256 s);
 *  - every second a chunk offset / 2^(SHIFT_PLL + time_constant) of the
 *    residual is applied (second_overflow);
 *  - ADJ_TIMECONST stores constant + 4 (no STA_NANO), so setting 0 reads 4;
 *  - maxerror grows by 500 µs/s; past 16 s STA_UNSYNC is set;
 *  - turning STA_PLL on resets the reference time; ADJ_STATUS replaces the
 *    writable bits (so STA_PLL alone clears STA_UNSYNC).
 */
import { ADJ, STA, TIMEX_LIMITS } from '../../native';
import type { Clock, Timex, TimexInput } from './clock';
import { TICK_INCR_NOMINAL } from './constants';

/** kernel/time/ntp.c */
const SHIFT_PLL = 2;
const MAXTC = 10;
const MAXERROR_GROWTH_US_PER_S = 500; // MAXFREQ: 500 ppm
const NTP_PHASE_LIMIT_US = 16_000_000;
const TIME_OK = 0;
const TIME_ERROR = 5;
const STA_RONLY = 0xff00;

/** Real wall time in µs (fractional), the default "true time". */
export function realTrueTimeUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

export type ClockEvent =
  | { kind: 'step'; deltaUs: number }
  | { kind: 'adjtimex'; input: TimexInput; result: Timex };

export interface SimulatedClockOptions {
  /** True time in µs; default real wall time. The clock starts equal to it plus offsetUs. */
  trueTimeUs?: () => number;
  /** Initial error of the guest clock against true time, µs. */
  offsetUs?: number;
  /** The guest oscillator's rate error, ppm (positive: runs fast). */
  driftPpm?: number;
}

export class SimulatedClock implements Clock {
  readonly kind = 'simulated' as const;
  /** Every step and adjtimex call, in order (tests read the exact parameters here). */
  readonly events: ClockEvent[] = [];
  driftPpm: number;

  private readonly trueSource: () => number;
  /** Extra true time added by advance() (virtual time passing). */
  private virtualUs = 0;
  private lastTrue: number;
  private wall: number;
  /** True time of the next second boundary (second_overflow). */
  private nextSecond: number;

  private tick = TICK_INCR_NOMINAL;
  /** ppm << 16 */
  private freq = 0;
  /** PLL residual, µs. */
  private pllOffset = 0;
  private status: number = STA.UNSYNC;
  /** The kernel's time_constant (what ADJ_TIMECONST stores, +4). */
  private timeConstant = 2;
  private maxerror = NTP_PHASE_LIMIT_US;
  private esterror = NTP_PHASE_LIMIT_US;
  /** True time (s) of the last PLL offset update (time_reftime). */
  private reftimeS = 0;

  constructor(opts: SimulatedClockOptions = {}) {
    this.trueSource = opts.trueTimeUs ?? realTrueTimeUs;
    this.driftPpm = opts.driftPpm ?? 0;
    this.lastTrue = this.trueNowUs();
    this.wall = this.lastTrue + (opts.offsetUs ?? 0);
    this.nextSecond = this.lastTrue + 1e6;
    this.reftimeS = Math.floor(this.lastTrue / 1e6);
  }

  /** True time now (the source plus virtual advances), µs. */
  trueNowUs(): number {
    return this.trueSource() + this.virtualUs;
  }

  /** Lets `us` of virtual time pass (the simulated hour of the benchmark). */
  advance(us: number): void {
    this.virtualUs += us;
    this.integrate(this.trueNowUs());
  }

  /** Guest time minus true time, µs (positive: guest ahead). */
  errorUs(): number {
    this.integrate(this.trueNowUs());
    return this.wall - this.lastTrue;
  }

  nowUs(): number {
    this.integrate(this.trueNowUs());
    return Math.floor(this.wall);
  }

  stepUs(deltaUs: number): void {
    if (!Number.isFinite(deltaUs)) throw new RangeError(`step must be a finite number of µs, got ${deltaUs}`);
    this.integrate(this.trueNowUs());
    this.wall += deltaUs;
    this.events.push({ kind: 'step', deltaUs });
  }

  adjtimex(tx: Partial<TimexInput>): Timex {
    const now = this.trueNowUs();
    this.integrate(now);
    const modes = tx.modes ?? 0;
    const input: TimexInput = { modes };
    for (const k of ['offset', 'freq', 'maxerror', 'esterror', 'status', 'constant', 'tick'] as const) {
      if (tx[k] !== undefined) input[k] = tx[k];
    }
    // The kernel's validation (ntp_validate_timex): EINVAL for a tick outside ±10 %.
    if (modes & ADJ.TICK && (tx.tick! < TIMEX_LIMITS.tickMin || tx.tick! > TIMEX_LIMITS.tickMax)) {
      throw new RangeError(`tick must be in [${TIMEX_LIMITS.tickMin}, ${TIMEX_LIMITS.tickMax}]`);
    }
    const nowS = Math.floor(now / 1e6);
    if (modes & ADJ.STATUS) {
      const want = tx.status ?? 0;
      if (this.status & STA.PLL && !(want & STA.PLL)) this.status = STA.UNSYNC;
      if (!(this.status & STA.PLL) && want & STA.PLL) this.reftimeS = nowS;
      this.status = (this.status & STA_RONLY) | (want & ~STA_RONLY);
    }
    if (modes & ADJ.FREQUENCY) this.freq = clamp(tx.freq ?? 0, -TIMEX_LIMITS.freqMax, TIMEX_LIMITS.freqMax);
    if (modes & ADJ.MAXERROR) this.maxerror = tx.maxerror ?? 0;
    if (modes & ADJ.ESTERROR) this.esterror = tx.esterror ?? 0;
    if (modes & ADJ.TIMECONST) this.timeConstant = clamp((tx.constant ?? 0) + 4, 0, MAXTC);
    if (modes & ADJ.OFFSET) this.updateOffset(tx.offset ?? 0, nowS);
    if (modes & ADJ.TICK) this.tick = tx.tick!;
    const result = this.read();
    if (modes !== 0) this.events.push({ kind: 'adjtimex', input, result });
    return result;
  }

  /** ntp_update_offset: the PLL (µs, no STA_NANO). */
  private updateOffset(offsetUs: number, nowS: number): void {
    if (!(this.status & STA.PLL)) return;
    const offset = clamp(offsetUs, -TIMEX_LIMITS.offsetMax, TIMEX_LIMITS.offsetMax);
    let secs = nowS - this.reftimeS;
    if (this.status & STA.FREQHOLD || secs < 0) secs = 0;
    this.reftimeS = nowS;
    // offset_ns·secs << (32 − 2·(SHIFT_PLL+2+tc)) in (ns/s)<<32 is offset_µs·secs·2^(16 − 2·(tc+4)+8) in ppm<<16;
    // with the usual tc 4 that is exactly offset_µs·secs.
    const gain = Math.pow(2, 2 * (SHIFT_PLL + 2 + 4) - 2 * (SHIFT_PLL + 2 + this.timeConstant));
    this.freq = clamp(this.freq + offset * secs * gain, -TIMEX_LIMITS.freqMax, TIMEX_LIMITS.freqMax);
    this.pllOffset = offset;
  }

  private read(): Timex {
    const wall = this.wall;
    return {
      offset: Math.trunc(this.pllOffset),
      freq: Math.trunc(this.freq),
      maxerror: Math.trunc(this.maxerror),
      esterror: Math.trunc(this.esterror),
      status: this.status,
      constant: this.timeConstant,
      precision: 1,
      tolerance: TIMEX_LIMITS.freqMax,
      tick: this.tick,
      timeSec: Math.floor(wall / 1e6),
      timeUsec: Math.floor(wall % 1e6),
      state: this.status & STA.UNSYNC ? TIME_ERROR : TIME_OK,
    };
  }

  /** Rate of the clock against true time. */
  private rate(): number {
    return (this.tick / TICK_INCR_NOMINAL + this.freq / 65536 / 1e6) * (1 + this.driftPpm / 1e6);
  }

  private integrate(to: number): void {
    let t = this.lastTrue;
    while (t < to) {
      const end = Math.min(to, this.nextSecond);
      this.wall += (end - t) * this.rate();
      t = end;
      if (end === this.nextSecond) {
        this.nextSecond += 1e6;
        this.secondOverflow();
      }
    }
    if (to > this.lastTrue) this.lastTrue = to;
  }

  /** second_overflow: error bookkeeping and one chunk of the PLL residual. */
  private secondOverflow(): void {
    this.maxerror += MAXERROR_GROWTH_US_PER_S;
    if (this.maxerror > NTP_PHASE_LIMIT_US) {
      this.maxerror = NTP_PHASE_LIMIT_US;
      this.status |= STA.UNSYNC;
    }
    if (this.pllOffset !== 0) {
      const chunk = this.pllOffset / Math.pow(2, SHIFT_PLL + this.timeConstant);
      this.pllOffset -= chunk;
      this.wall += chunk;
    }
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
