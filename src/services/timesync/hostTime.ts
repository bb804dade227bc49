/**
 * Reading the host's clock over the backdoor (core-services.md §7.1,
 * channel.md §2.6), and the host/guest sample (TimeSyncReadHostAndGuest).
 */
import { lowBandwidth, LowBandwidthRegs, LowBandwidthResult } from '../../native';
import type { Clock } from './clock';
import {
  BDOOR_CMD_GETTIME,
  BDOOR_CMD_GETTIMEFULL,
  BDOOR_CMD_GETTIMEFULL_WITH_LAG,
  BDOOR_CMD_STOPCATCHUP,
  BDOOR_MAGIC,
  TIMESYNC_GOOD_SAMPLE_THRESHOLD_US,
  TIMESYNC_MAX_SAMPLES,
  US_PER_SEC,
} from './constants';

export type HostTimeCommand = 'GETTIMEFULL_WITH_LAG' | 'GETTIMEFULL' | 'GETTIME';

/** One read of the host clock (TimeSyncReadHost's outputs). */
export interface HostReading {
  /** Host time, µs since the epoch. */
  hostUs: number;
  /** apparent − real time, µs: −(interrupt lag) with WITH_LAG, else 0. */
  apparentErrorUs: number;
  /** Only GETTIMEFULL_WITH_LAG separates the interrupt lag (§7.1). */
  apparentErrorValid: boolean;
  /** ECX: the error allowed to go uncorrected (maxTimeLag), µs. */
  maxTimeErrorUs: number;
  command: HostTimeCommand;
}

/** Where time sync gets the host's time; the backdoor in the daemon, a model in the benchmark. */
export interface HostTimeSource {
  /** Throws HostTimeError when the host has no usable time. */
  read(): HostReading;
  /** STOPCATCHUP after a step (§7.3). */
  stopCatchup(): void;
}

export class HostTimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostTimeError';
  }
}

export type LowBandwidthCall = (regs: LowBandwidthRegs) => LowBandwidthResult;

/**
 * TimeSyncReadHost: GETTIMEFULL_WITH_LAG (55), else GETTIMEFULL (46), else
 * GETTIME (23), tried in that order on every read as the reference does.
 * Success tests per §7.1: 55/46 leave EAX = magic; 23 answers EAX ≠ 0xFFFFFFFF.
 */
export class BackdoorHostTime implements HostTimeSource {
  constructor(private readonly lb: LowBandwidthCall = lowBandwidth) {}

  read(): HostReading {
    let r = this.lb({ ecx: BDOOR_CMD_GETTIMEFULL_WITH_LAG });
    let secs: bigint;
    let command: HostTimeCommand;
    let interruptLag = 0;
    if (r.eax === BDOOR_MAGIC) {
      secs = (BigInt(r.esi) << 32n) | BigInt(r.edx);
      interruptLag = r.edi;
      command = 'GETTIMEFULL_WITH_LAG';
    } else {
      r = this.lb({ ecx: BDOOR_CMD_GETTIMEFULL });
      if (r.eax === BDOOR_MAGIC) {
        secs = (BigInt(r.esi) << 32n) | BigInt(r.edx);
        command = 'GETTIMEFULL';
      } else {
        r = this.lb({ ecx: BDOOR_CMD_GETTIME });
        if (r.eax === 0xffffffff) throw new HostTimeError('the host answers none of GETTIMEFULL_WITH_LAG, GETTIMEFULL, GETTIME');
        secs = BigInt(r.eax);
        command = 'GETTIME';
      }
    }
    const signed = BigInt.asIntN(64, secs);
    if (signed <= 0n) throw new HostTimeError(`invalid host time: ${signed} s, ${r.ebx} µs (${command})`);
    return {
      hostUs: Number(signed) * US_PER_SEC + r.ebx,
      apparentErrorUs: interruptLag === 0 ? 0 : -interruptLag,
      apparentErrorValid: command === 'GETTIMEFULL_WITH_LAG',
      maxTimeErrorUs: r.ecx,
      command,
    };
  }

  stopCatchup(): void {
    this.lb({ ecx: BDOOR_CMD_STOPCATCHUP });
  }
}

/** TimeSyncReadHostAndGuest's outputs. */
export interface HostGuestSample extends HostReading {
  guestUs: number;
  /** Host reads that bracketed the kept guest read, and how many samples were taken. */
  bracketUs: number;
  samples: number;
}

/**
 * §7.1: read host (h2); then up to 4 times h1 = h2, read the guest, read the
 * host again; keep the sample with the smallest h2 − h1 (negative → 0), stop
 * early once it is ≤ 2000 µs; the host estimate is h1 + diff/2.
 */
export function readHostAndGuest(host: HostTimeSource, clock: Clock): HostGuestSample {
  let h2 = host.read();
  let best: HostGuestSample | undefined;
  let bestDiff = Number.MAX_SAFE_INTEGER;
  let iter = 0;
  do {
    iter++;
    const h1 = h2;
    const guestUs = clock.nowUs();
    h2 = host.read();
    const diff = h1.hostUs < h2.hostUs ? h2.hostUs - h1.hostUs : 0;
    if (diff <= bestDiff) {
      bestDiff = diff;
      best = { ...h2, hostUs: h1.hostUs + Math.trunc(diff / 2), guestUs, bracketUs: diff, samples: iter };
    }
  } while (iter < TIMESYNC_MAX_SAMPLES && bestDiff > TIMESYNC_GOOD_SAMPLE_THRESHOLD_US);
  best!.samples = iter;
  return best!;
}
