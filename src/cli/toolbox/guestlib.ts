/**
 * The part of libguestlib (open-vm-tools/libguestlib/vmGuestLib.c) that
 * `vmware-toolbox-cmd stat` uses: VMGuestLib_UpdateInfo's version
 * negotiation over `guestlib.info.get <version>`, the v2 (packed struct) and
 * v3 (XDR) reply formats, the per-statistic getters and the error texts.
 *
 * Negotiation, as the library does it: ask for v3; "Unknown command" → not
 * enabled; any other failure → ask for v2; a v2 failure → not enabled. A
 * successful reply must carry the version asked for, and a v2 reply must be
 * exactly 669 bytes.
 */
import type { ToolboxHost } from './host';

/** VMGuestLibError values the toolbox can meet. */
export const enum GuestLibError {
  SUCCESS = 0,
  OTHER = 1,
  NOT_RUNNING_IN_VM = 2,
  NOT_ENABLED = 3,
  NOT_AVAILABLE = 4,
  NO_INFO = 5,
  MEMORY = 6,
  BUFFER_TOO_SMALL = 7,
  INVALID_HANDLE = 8,
  INVALID_ARG = 9,
  UNSUPPORTED_VERSION = 10,
}

const GUESTLIB_NAME = 'VMware Guest API';

/** VMGuestLib_GetErrorText. */
export function guestLibErrorText(e: GuestLibError): string {
  switch (e) {
    case GuestLibError.SUCCESS:
      return 'No error';
    case GuestLibError.NOT_RUNNING_IN_VM:
      return `${GUESTLIB_NAME} is not running in a Virtual Machine`;
    case GuestLibError.NOT_ENABLED:
      return `${GUESTLIB_NAME} is not enabled on the host`;
    case GuestLibError.NOT_AVAILABLE:
      return 'This value is not available on this host';
    case GuestLibError.NO_INFO:
      return 'VMGuestLib_UpdateInfo() has not been called';
    case GuestLibError.MEMORY:
      return 'There is not enough system memory';
    case GuestLibError.BUFFER_TOO_SMALL:
      return 'The provided memory buffer is too small';
    case GuestLibError.INVALID_HANDLE:
      return 'The provided handle is invalid';
    case GuestLibError.INVALID_ARG:
      return 'One or more arguments were invalid';
    case GuestLibError.UNSUPPORTED_VERSION:
      return 'Host does not support this request.';
    default:
      return 'Other error';
  }
}

export const GUESTLIB_INFO_COMMAND = 'guestlib.info.get';
export const GUESTLIB_STAT_COMMAND = 'guestlib.stat.get';
export const GUESTLIB_DATA_VERSION = 3;
/** RPCI_UNKNOWN_COMMAND (tclodefs.h), compared as the whole reply. */
const RPCI_UNKNOWN_COMMAND = 'Unknown command';

/** GuestLibV3TypeIds of the statistics the toolbox prints, with their v2 struct offsets. */
export const Stat = {
  CPU_RESERVATION_MHZ: { id: 1, v2Offset: 12 },
  CPU_LIMIT_MHZ: { id: 2, v2Offset: 20 },
  MEM_RESERVATION_MB: { id: 6, v2Offset: 56 },
  MEM_LIMIT_MB: { id: 7, v2Offset: 64 },
  MEM_BALLOONED_MB: { id: 12, v2Offset: 104 },
  MEM_SWAPPED_MB: { id: 13, v2Offset: 112 },
} as const;
export type StatId = (typeof Stat)[keyof typeof Stat];

/** sizeof(VMGuestLibDataV2): 12-byte header, StatUint32 = 8 (Bool + 3 pad + u32), StatUint64 = 12 (packed), path 513. */
export const V2_DATA_SIZE = 669;
/** sizeof(VMGuestLibDataV3): header + u32 dataSize. */
const V3_HEADER_SIZE = 16;
/** GUESTLIB_MAX_STATISTIC_ID */
const MAX_STATISTIC_ID = 39;
const GUESTLIBV3_STRING_SIZE = 512;

/** Value kinds of the v3 union arms, by statistic id (guestlibV3.x). */
function v3Kind(id: number): 'u32' | 'u64' | 'string' | 'bytes' | null {
  if (id === 18) return 'string';
  if (id === 37) return 'bytes';
  if ([4, 17, 19, 20, 22, 23, 24, 25, 26, 27, 28, 29, 30, 38].includes(id)) return 'u64';
  if (id >= 1 && id < MAX_STATISTIC_ID) return 'u32';
  return null;
}

interface V3Stat {
  id: number;
  valid: boolean;
  value: bigint | null;
}

/** XDR decoding of the v3 statistics array; stops at the first one that does not decode or is out of order. */
function decodeV3(data: Buffer): { stats: V3Stat[]; complete: boolean } | null {
  let pos = 0;
  const u32 = (): number | null => {
    if (pos + 4 > data.length) return null;
    const v = data.readUInt32BE(pos);
    pos += 4;
    return v;
  };
  let count = u32();
  if (count === null) return null;
  if (count >= MAX_STATISTIC_ID) count = MAX_STATISTIC_ID - 1;
  const stats: V3Stat[] = [];
  for (let i = 0; i < count; i++) {
    const id = u32();
    if (id === null) return { stats, complete: false };
    const kind = v3Kind(id);
    if (kind === null) return { stats, complete: false };
    // xdr_Bool is xdr_char: a 4-byte int.
    const valid = u32();
    if (valid === null) return { stats, complete: false };
    let value: bigint | null = null;
    if (kind === 'u32') {
      const v = u32();
      if (v === null) return { stats, complete: false };
      value = BigInt(v);
    } else if (kind === 'u64') {
      if (pos + 8 > data.length) return { stats, complete: false };
      value = data.readBigUInt64BE(pos);
      pos += 8;
    } else {
      const len = u32();
      if (len === null || (kind === 'string' && len > GUESTLIBV3_STRING_SIZE)) return { stats, complete: false };
      const padded = len + ((4 - (len % 4)) % 4);
      if (pos + padded > data.length) return { stats, complete: false };
      pos += padded;
    }
    if (id !== i + 1) return { stats, complete: false };
    // xdr_char keeps the low byte only.
    stats.push({ id, valid: (valid & 0xff) !== 0, value });
  }
  return { stats, complete: true };
}

/** A VMGuestLibHandle after a successful (or failed) VMGuestLib_UpdateInfo. */
export class GuestLibInfo {
  private constructor(
    private readonly version: number,
    private readonly sessionId: bigint,
    private readonly v2: Buffer | null,
    private readonly v3: V3Stat[] | null,
  ) {}

  /** VMGuestLib_UpdateInfo on a fresh handle. */
  static update(host: ToolboxHost): { error: GuestLibError; info?: GuestLibInfo } {
    let hostVersion = GUESTLIB_DATA_VERSION;
    let reply: Buffer;
    for (;;) {
      const r = host.sendOneRaw(Buffer.from(`${GUESTLIB_INFO_COMMAND} ${hostVersion}`, 'latin1'));
      if (r.ok && r.reply !== null) {
        reply = r.reply;
        break;
      }
      if (r.reply === null) return { error: GuestLibError.OTHER };
      if (hostVersion === 2 || cString(r.reply) === RPCI_UNKNOWN_COMMAND) return { error: GuestLibError.NOT_ENABLED };
      hostVersion = 2; // v3 failed: a v2 host does not say which version it has
    }

    if (reply.length < 4) return { error: GuestLibError.OTHER };
    const version = reply.readUInt32LE(0);
    if (hostVersion === 2) {
      if (version !== 2 || reply.length !== V2_DATA_SIZE) return { error: GuestLibError.OTHER };
      return { error: GuestLibError.SUCCESS, info: new GuestLibInfo(2, reply.readBigUInt64LE(4), reply, null) };
    }
    // v3
    if (version !== 3 || reply.length < V3_HEADER_SIZE) return { error: GuestLibError.OTHER };
    const sessionId = reply.readBigUInt64LE(4);
    const dataSize = reply.readUInt32LE(12);
    const data = reply.subarray(V3_HEADER_SIZE, V3_HEADER_SIZE + dataSize);
    const decoded = decodeV3(data);
    if (decoded === null) {
      // The library keeps the session id but has no statistics: every getter then fails.
      return { error: GuestLibError.SUCCESS, info: new GuestLibInfo(3, sessionId, null, []) };
    }
    // An array that does not decode leaves the handle without a session (getters: NO_INFO).
    return { error: GuestLibError.SUCCESS, info: new GuestLibInfo(3, decoded.complete ? sessionId : 0n, null, decoded.stats) };
  }

  /** VMGuestLib_GetSessionId. */
  getSessionId(): { error: GuestLibError; value?: bigint } {
    if (this.sessionId === 0n) return { error: GuestLibError.NO_INFO };
    return { error: GuestLibError.SUCCESS, value: this.sessionId };
  }

  /** The uint32 getters (VMGUESTLIB_GETFN_BODY). */
  getUint32(stat: StatId): { error: GuestLibError; value?: number } {
    if (this.sessionId === 0n) return { error: GuestLibError.NO_INFO };
    if (this.version === 2) {
      const b = this.v2!;
      if (b[stat.v2Offset] === 0) return { error: GuestLibError.NOT_AVAILABLE };
      return { error: GuestLibError.SUCCESS, value: b.readUInt32LE(stat.v2Offset + 4) };
    }
    const stats = this.v3!;
    const s = stats[stat.id - 1];
    if (s === undefined) return { error: GuestLibError.UNSUPPORTED_VERSION };
    if (!s.valid) return { error: GuestLibError.NOT_AVAILABLE };
    return { error: GuestLibError.SUCCESS, value: Number(s.value! & 0xffffffffn) };
  }
}

/** The string a C caller sees: up to the first NUL. */
export function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return (nul < 0 ? b : b.subarray(0, nul)).toString('latin1');
}

/** VMGuestLib_StatGet: `guestlib.stat.get <encoding> <stat>` (no NUL), at most 255 bytes. */
export function statGet(host: ToolboxHost, encoding: string, stat: string): { error: GuestLibError; reply?: Buffer } {
  const request = Buffer.from(`${GUESTLIB_STAT_COMMAND} ${encoding} ${stat}`, 'utf8');
  if (request.length >= 256) return { error: GuestLibError.BUFFER_TOO_SMALL };
  const r = host.sendOneRaw(request);
  if (!r.ok) return { error: GuestLibError.NOT_AVAILABLE };
  return { error: GuestLibError.SUCCESS, reply: r.reply ?? Buffer.alloc(0) };
}
