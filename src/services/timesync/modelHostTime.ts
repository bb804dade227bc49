/**
 * An in-process host clock for the benchmark and unit tests: what the
 * simulator's GETTIME* commands answer, without a backdoor. host time =
 * true time + offset + driftPpm × (true time − start), like the simulator
 * with `clock.setDrift`.
 */
import type { HostReading, HostTimeCommand, HostTimeSource } from './hostTime';

export interface ModelHostTimeOptions {
  trueTimeUs: () => number;
  offsetUs?: number;
  driftPpm?: number;
  /** ECX of GETTIMEFULL_WITH_LAG; default 500000 as the simulator. */
  maxTimeLagUs?: number;
  interruptLagUs?: number;
  command?: HostTimeCommand;
}

export class ModelHostTime implements HostTimeSource {
  offsetUs: number;
  driftPpm: number;
  maxTimeLagUs: number;
  interruptLagUs: number;
  command: HostTimeCommand;
  reads = 0;
  stopCatchups = 0;
  private readonly start: number;

  constructor(private readonly opts: ModelHostTimeOptions) {
    this.offsetUs = opts.offsetUs ?? 0;
    this.driftPpm = opts.driftPpm ?? 0;
    this.maxTimeLagUs = opts.maxTimeLagUs ?? 500000;
    this.interruptLagUs = opts.interruptLagUs ?? 0;
    this.command = opts.command ?? 'GETTIMEFULL_WITH_LAG';
    this.start = opts.trueTimeUs();
  }

  /** Host time now, µs (fractional). */
  nowUs(): number {
    const t = this.opts.trueTimeUs();
    return t + this.offsetUs + (this.driftPpm * (t - this.start)) / 1e6;
  }

  read(): HostReading {
    this.reads++;
    const withLag = this.command === 'GETTIMEFULL_WITH_LAG';
    return {
      hostUs: Math.floor(this.nowUs()),
      apparentErrorUs: withLag && this.interruptLagUs !== 0 ? -this.interruptLagUs : 0,
      apparentErrorValid: withLag,
      maxTimeErrorUs: withLag ? this.maxTimeLagUs : this.maxTimeLagUs + this.interruptLagUs,
      command: this.command,
    };
  }

  stopCatchup(): void {
    this.stopCatchups++;
  }
}
