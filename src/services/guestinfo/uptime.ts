/**
 * Guest uptime in hundredths of a second from /proc/uptime, for type 7
 * (core-services.md §8.2). Parsed from the text ("12345.67") rather than as
 * a float so no rounding creeps in — systemLinux.c System_Uptime reads
 * "%llu.%2u" and computes sec * 100 + csec.
 */
import { GuestInfoSources } from './sources';

export const PROC_UPTIME = '/proc/uptime';

export function parseUptimeHundredths(text: string): bigint | undefined {
  const m = /^\s*(\d+)\.(\d{1,2})/.exec(text);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  // "%2u" reads up to two digits as a number: ".5" is 5 hundredths, as in the reference.
  return BigInt(m[1]) * 100n + BigInt(parseInt(m[2], 10));
}

export function gatherUptime(src: GuestInfoSources): bigint | undefined {
  const text = src.readFile(PROC_UPTIME);
  return text === undefined ? undefined : parseUptimeHundredths(text);
}
