/**
 * The deployment package header (customization.md §4.2, deployPkgFormat.h):
 * 512 bytes, packed, little-endian, followed by the payload.
 *
 * The reference checks almost nothing (not the signature, not the version,
 * not the lengths, and it does not force a NUL into the command field). We
 * validate every field before anything is extracted or run; see
 * docs/differences.md "deployPkg".
 */

/** §4.2: header size. */
export const HEADER_SIZE = 512;
/** §4.2 offset 0: signature, 16 bytes, not NUL-terminated. */
export const SIGNATURE = 'VMWAREDEPLOYPKG_';
/** §4.2 offset 16/17: the current format is 1.0; we accept any minor of major 1. */
export const MAJOR_VERSION = 1;
/** §4.2 offset 56: command field size. */
export const COMMAND_OFFSET = 56;
export const COMMAND_SIZE = 456;

/** §4.2 byte 18: payload type. */
export const PAYLOAD_CAB = 0;
export const PAYLOAD_ZIP = 1;
export const PAYLOAD_TGZ = 2;
export type PayloadType = 'cab' | 'zip' | 'tgz';

/** §4.2 byte 19 ("reserved", used as flags). */
export const FLAG_SKIP_REBOOT = 1;
export const FLAG_IGNORE_CLOUD_INIT = 2;
export const FLAG_RAW_CLOUD_INIT = 4;
const KNOWN_FLAGS = FLAG_SKIP_REBOOT | FLAG_IGNORE_CLOUD_INIT | FLAG_RAW_CLOUD_INIT;

export interface PackageHeader {
  majorVersion: number;
  minorVersion: number;
  payloadType: PayloadType;
  flags: number;
  /** Seconds; 0 = not set (§7). */
  processTimeout: number;
  pkgLength: number;
  payloadOffset: number;
  payloadLength: number;
  /** The command, without its NUL padding. */
  command: string;
}

export class PackageFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PackageFormatError';
  }
}

/** Largest offset/length we accept: beyond 2^53 a JS number loses precision (and no real package is that big). */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function u64(buf: Buffer, off: number, what: string): number {
  const v = buf.readBigUInt64LE(off);
  if (v > MAX_SAFE) throw new PackageFormatError(`${what} ${v} is out of range`);
  return Number(v);
}

/**
 * Parses and validates `head` (at least the first 512 bytes of the file)
 * against the file's real size. Throws PackageFormatError with a one-line
 * reason; never anything else, whatever the bytes.
 */
export function parseHeader(head: Buffer, fileSize: number): PackageHeader {
  if (head.length < HEADER_SIZE || fileSize < HEADER_SIZE) {
    throw new PackageFormatError(`truncated package: ${Math.min(head.length, fileSize)} bytes, the header alone is ${HEADER_SIZE}`);
  }
  if (head.toString('latin1', 0, 16) !== SIGNATURE) throw new PackageFormatError('bad signature (not a VMware deployment package)');
  const majorVersion = head[16];
  const minorVersion = head[17];
  if (majorVersion !== MAJOR_VERSION) throw new PackageFormatError(`unsupported package version ${majorVersion}.${minorVersion}`);
  const type = head[18];
  const payloadType: PayloadType | undefined = type === PAYLOAD_CAB ? 'cab' : type === PAYLOAD_ZIP ? 'zip' : type === PAYLOAD_TGZ ? 'tgz' : undefined;
  if (payloadType === undefined) throw new PackageFormatError(`unknown payload type ${type}`);
  const flags = head[19];
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new PackageFormatError(`unknown flags 0x${flags.toString(16)}`);
  const processTimeout = head.readUInt16LE(20);
  const pkgLength = u64(head, 24, 'package length');
  const payloadOffset = u64(head, 32, 'payload offset');
  const payloadLength = u64(head, 40, 'payload length');
  if (pkgLength > fileSize) throw new PackageFormatError(`package length ${pkgLength} exceeds the file size ${fileSize}`);
  if (pkgLength < HEADER_SIZE) throw new PackageFormatError(`package length ${pkgLength} is shorter than the header`);
  if (payloadOffset < HEADER_SIZE) throw new PackageFormatError(`payload offset ${payloadOffset} lies inside the header`);
  if (payloadOffset > pkgLength || payloadLength > pkgLength - payloadOffset) {
    throw new PackageFormatError(`payload (offset ${payloadOffset}, length ${payloadLength}) exceeds the package length ${pkgLength}`);
  }
  if (payloadLength === 0) throw new PackageFormatError('empty payload');
  const cmd = head.subarray(COMMAND_OFFSET, COMMAND_OFFSET + COMMAND_SIZE);
  const nul = cmd.indexOf(0);
  if (nul < 0) throw new PackageFormatError('command field is not NUL-terminated');
  if (nul === 0) throw new PackageFormatError('empty command');
  const command = cmd.toString('utf8', 0, nul);
  return { majorVersion, minorVersion, payloadType, flags, processTimeout, pkgLength, payloadOffset, payloadLength, command };
}

/** Builds a header (tests, and the package tool in test/helpers). */
export function buildHeader(h: Omit<PackageHeader, 'majorVersion' | 'minorVersion'> & { majorVersion?: number; minorVersion?: number }): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.write(SIGNATURE, 0, 'latin1');
  b[16] = h.majorVersion ?? MAJOR_VERSION;
  b[17] = h.minorVersion ?? 0;
  b[18] = h.payloadType === 'cab' ? PAYLOAD_CAB : h.payloadType === 'zip' ? PAYLOAD_ZIP : PAYLOAD_TGZ;
  b[19] = h.flags;
  b.writeUInt16LE(h.processTimeout, 20);
  b.writeBigUInt64LE(BigInt(h.pkgLength), 24);
  b.writeBigUInt64LE(BigInt(h.payloadOffset), 32);
  b.writeBigUInt64LE(BigInt(h.payloadLength), 40);
  b.write(h.command, COMMAND_OFFSET, COMMAND_SIZE - 1, 'utf8');
  return b;
}
