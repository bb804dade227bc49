/**
 * The guest clock as time sync sees it (core-services.md §7.3-7.5): read the
 * wall clock, step it, and read/set the kernel's NTP discipline (adjtimex).
 *
 * Two implementations: SystemClock (this machine, through the addon) and
 * SimulatedClock (simulatedClock.ts: a virtual clock with drift that applies
 * tick, frequency and PLL offset the way the kernel does). Tests and
 * benchmarks only ever use the simulated one; in simulator mode the daemon
 * is forced onto it too (selectClock below), so `npm start` never changes
 * this machine's time.
 */
import { adjtimex, clockGetTime, clockSetTime, realtimeMicros, Timex, TimexInput } from '../../native';

export type { Timex, TimexInput };

export interface Clock {
  readonly kind: 'system' | 'simulated';
  /** CLOCK_REALTIME, µs since the epoch (gettimeofday, as TimeSync_GetCurrentTime). */
  nowUs(): number;
  /** settimeofday(now + delta) (TimeSync_AddToCurrentTime, §7.3). */
  stepUs(deltaUs: number): void;
  /** adjtimex(2): `{modes: 0}` reads; other modes set (tick, frequency, offset, status, time constant). */
  adjtimex(tx: Partial<TimexInput>): Timex;
}

/** This machine's clock. Never constructed by tests or benchmarks; never in simulator mode. */
export class SystemClock implements Clock {
  readonly kind = 'system' as const;

  nowUs(): number {
    return realtimeMicros();
  }

  stepUs(deltaUs: number): void {
    if (!Number.isFinite(deltaUs)) throw new RangeError(`step must be a finite number of µs, got ${deltaUs}`);
    // Read with ns precision and add, as TimeSync_AddToCurrentTime does with gettimeofday.
    const t = clockGetTime('realtime');
    const totalNs = BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec) + BigInt(Math.round(deltaUs)) * 1000n;
    clockSetTime({ sec: Number(totalNs / 1_000_000_000n), nsec: Number(totalNs % 1_000_000_000n) });
  }

  adjtimex(tx: Partial<TimexInput>): Timex {
    return adjtimex(tx);
  }
}

/** How the daemon picks its clock (src/daemon/timeSyncService.ts). */
export interface ClockChoice {
  /** detect().overridden: the VMware check was overridden, i.e. we run under the simulator. */
  simulatorMode: boolean;
  /** $VMTOOLSD_CLOCK: 'simulated' forces the virtual clock (tests); anything else is ignored. */
  env?: string;
}

/**
 * 'simulated' under the simulator or when asked for; else 'system'. There is
 * deliberately no way to force the system clock in simulator mode.
 */
export function clockKind(c: ClockChoice): 'system' | 'simulated' {
  if (c.simulatorMode) return 'simulated';
  if (c.env === 'simulated') return 'simulated';
  return 'system';
}
