/**
 * Byte-exact framing of every RPCI request the guestInfo service sends.
 * Which messages carry a trailing NUL is the main trap here
 * (core-services.md §8.2, §4, §8.1, §10).
 */
import { GUEST_DISK_INFO_COMMAND, GUEST_INFO_COMMAND, InfoType } from './constants';

const NUL = Buffer.from([0]);

/** "SetGuestInfo  <type> " — two spaces after the command (core-services.md §8.2). */
export function setGuestInfoHeader(type: number): Buffer {
  return Buffer.from(`${GUEST_INFO_COMMAND}  ${type} `, 'latin1');
}

/** String value: "SetGuestInfo  <type> <value>\0" (core-services.md §8.2). */
export function setGuestInfoString(type: number, value: string): Buffer {
  return Buffer.concat([setGuestInfoHeader(type), Buffer.from(value, 'utf8'), NUL]);
}

/** Binary value: "SetGuestInfo  <type> " + body, no NUL (core-services.md §8.2). */
export function setGuestInfoBinary(type: number, body: Buffer): Buffer {
  return Buffer.concat([setGuestInfoHeader(type), body]);
}

/** Type 7: uptime in hundredths of a second, as a decimal string with NUL (core-services.md §8.2). */
export function uptimeMessage(hundredths: bigint): Buffer {
  return setGuestInfoString(InfoType.UPTIME, hundredths.toString());
}

/** "info-set guestinfo.ip <ip>\0"; empty ip when none qualifies (core-services.md §4, §8.4). */
export function broadcastIpMessage(ip: string): Buffer {
  return Buffer.concat([Buffer.from(`info-set guestinfo.ip ${ip}`, 'utf8'), NUL]);
}

/**
 * "log <text>\0" (core-services.md §10); the whole message, including "log "
 * and the NUL, fits a 4096-byte buffer, so the text is cut at 4091 bytes.
 */
export function vmxLogMessage(text: string): Buffer {
  const max = 4096 - 'log '.length - 1;
  let body = Buffer.from(text, 'utf8');
  if (body.length > max) body = body.subarray(0, max);
  return Buffer.concat([Buffer.from('log ', 'latin1'), body, NUL]);
}

/** core-services.md §8.1: the "gather ran late" warning text (ends in "\n", then NUL). */
export function lateGatherLogMessage(actualSec: number, expectedSec: number): Buffer {
  return vmxLogMessage(
    `*** WARNING: GuestInfo collection interval longer than expected; actual=${actualSec} sec, expected=${expectedSec} sec. ***\n`,
  );
}

/** The JSON disk message prefix, for parsers: "SetGuestDiskInfo ". */
export const DISK_INFO_JSON_PREFIX = `${GUEST_DISK_INFO_COMMAND} `;

/**
 * Splits a raw "SetGuestInfo  <type> …" request into its type and the bytes
 * after the header (for the simulator and tests). The body is returned
 * untouched: string values keep their NUL, and binary bodies may end in zero
 * bytes that must not be trimmed.
 */
export function parseSetGuestInfo(raw: Buffer): { type: number; body: Buffer } | undefined {
  const m = /^SetGuestInfo {2}(\d+) /.exec(raw.subarray(0, 32).toString('latin1'));
  if (!m || m[1] === undefined) return undefined;
  return { type: Number(m[1]), body: raw.subarray(m[0].length) };
}
