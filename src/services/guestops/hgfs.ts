/**
 * The smallest HGFS server that moves a file both ways (guest-ops.md §9,
 * §7.15): what govmomi's toolbox serves to vSphere — CREATE_SESSION_V4,
 * DESTROY_SESSION_V4, OPEN_V3, READ_V3, WRITE_V3, CLOSE, GETATTR_V2,
 * SETATTR_V2 — behind the v4 packet header. Struct layouts:
 * open-vm-tools lib/include/hgfsProto.h (as govmomi toolbox/hgfs/protocol.go
 * mirrors them; all packed, little-endian).
 *
 * Every packet arrives in an authenticated VIX request (opcode 84); the file
 * work of each packet runs as that user in the worker (userWorker.ts
 * hgfs*), which reopens the file for every packet: sessions and handles are
 * bookkeeping here, never open descriptors, and a handle only answers to the
 * uid that opened it.
 */
import { randomBytes } from 'node:crypto';
import type { AuthenticatedUser } from './auth';
import type { UserRunner } from './runner';

/** hgfsProto.h HgfsHeader: 44 bytes. */
export const HGFS_HEADER_SIZE = 44;
const HGFS_HEADER_VERSION = 1;
/** HgfsHeader.dummy = HGFS_OP_NEW_HEADER marks the v4 header. */
const HGFS_OP_NEW_HEADER = 0xff;
const HGFS_PACKET_FLAG_REPLY = 0x2;
/** HGFS_LARGE_PACKET_MAX (§7.15). */
export const HGFS_LARGE_PACKET_MAX = 0xf800;

export const HgfsOp = {
  CLOSE: 3,
  GETATTR_V2: 15,
  SETATTR_V2: 16,
  OPEN_V3: 24,
  READ_V3: 25,
  WRITE_V3: 26,
  CREATE_SESSION_V4: 41,
  DESTROY_SESSION_V4: 42,
} as const;

export const HgfsStatus = {
  SUCCESS: 0,
  NO_SUCH_FILE_OR_DIR: 1,
  INVALID_HANDLE: 2,
  OPERATION_NOT_PERMITTED: 3,
  FILE_EXISTS: 4,
  NOT_DIRECTORY: 5,
  DIR_NOT_EMPTY: 6,
  PROTOCOL_ERROR: 7,
  ACCESS_DENIED: 8,
  INVALID_NAME: 9,
  GENERIC_ERROR: 10,
  NO_SPACE: 12,
  OPERATION_NOT_SUPPORTED: 13,
  NAME_TOO_LONG: 14,
  INVALID_PARAMETER: 15,
  STALE_SESSION: 17,
  TOO_MANY_SESSIONS: 18,
} as const;

/** open-vm-tools keeps up to 1024 sessions; a transfer needs one. */
const MAX_SESSIONS = 32;
const MAX_HANDLES_PER_SESSION = 64;
/** §7.15: idle sessions are invalidated (checked at every packet; there are no descriptors to leak). */
export const HGFS_SESSION_IDLE_MS = 10 * 60_000;
/** The most a READ_V3 reply can carry: packet max − header − ReplyReadV3 (12). */
const MAX_READ = HGFS_LARGE_PACKET_MAX - HGFS_HEADER_SIZE - 12;

function statusOfErrno(errno: string | undefined): number {
  switch (errno) {
    case 'ENOENT': return HgfsStatus.NO_SUCH_FILE_OR_DIR;
    case 'EACCES': case 'ELOOP': return HgfsStatus.ACCESS_DENIED;
    case 'EPERM': return HgfsStatus.OPERATION_NOT_PERMITTED;
    case 'EEXIST': return HgfsStatus.FILE_EXISTS;
    case 'ENOTDIR': return HgfsStatus.NOT_DIRECTORY;
    case 'ENOSPC': return HgfsStatus.NO_SPACE;
    case 'ENAMETOOLONG': return HgfsStatus.NAME_TOO_LONG;
    case 'EISDIR': return HgfsStatus.INVALID_PARAMETER;
    default: return HgfsStatus.GENERIC_ERROR;
  }
}

class HgfsError extends Error {
  constructor(readonly status: number) {
    super(`hgfs status ${status}`);
  }
}

/**
 * A CP name (`root\0etc\0hosts`, hgfsProto.h HgfsFileName) → absolute path.
 * Only the "root" share (the whole file system, as govmomi's server
 * policy); empty, "." and ".." components are refused.
 */
export function cpNameToPath(name: Buffer): string {
  const parts = name.toString('utf8').split('\0');
  if (parts[0] !== 'root' || parts.length < 2) throw new HgfsError(HgfsStatus.INVALID_NAME);
  const rest = parts.slice(1);
  if (rest.some((c) => c === '' || c === '.' || c === '..' || c.includes('/'))) throw new HgfsError(HgfsStatus.INVALID_NAME);
  return `/${rest.join('/')}`;
}

export function pathToCpName(p: string): Buffer {
  return Buffer.from(['root', ...p.replace(/^\/+/, '').split('/')].join('\0'), 'utf8');
}

interface OpenFile {
  path: string;
  /** 0 read, 1 write, 2 read-write (HgfsOpenMode). */
  mode: number;
}

interface Session {
  uid: number;
  lastUsed: number;
  files: Map<number, OpenFile>;
}

export interface HgfsHeader {
  op: number;
  requestId: number;
  sessionId: bigint;
  payload: Buffer;
}

/** Parses the v4 header; null if it is not one (the caller answers a VIX error). */
export function parseHgfsHeader(packet: Buffer): HgfsHeader | null {
  if (packet.length < HGFS_HEADER_SIZE) return null;
  if (packet[0] !== HGFS_HEADER_VERSION || packet.readInt32LE(4) !== HGFS_OP_NEW_HEADER) return null;
  const packetSize = packet.readUInt32LE(8);
  const headerSize = packet.readUInt32LE(12);
  if (headerSize < HGFS_HEADER_SIZE || packetSize < headerSize || packetSize > packet.length) return null;
  return {
    requestId: packet.readUInt32LE(16),
    op: packet.readInt32LE(20),
    sessionId: packet.readBigUInt64LE(36),
    payload: packet.subarray(headerSize, packetSize),
  };
}

export function buildHgfsPacket(h: { op: number; requestId: number; sessionId: bigint; status?: number; reply?: boolean }, payload: Buffer): Buffer {
  const b = Buffer.alloc(HGFS_HEADER_SIZE);
  b[0] = HGFS_HEADER_VERSION;
  b.writeInt32LE(HGFS_OP_NEW_HEADER, 4);
  b.writeUInt32LE(HGFS_HEADER_SIZE + payload.length, 8);
  b.writeUInt32LE(HGFS_HEADER_SIZE, 12);
  b.writeUInt32LE(h.requestId >>> 0, 16);
  b.writeInt32LE(h.op, 20);
  b.writeUInt32LE(h.status ?? 0, 24);
  b.writeUInt32LE(h.reply ? HGFS_PACKET_FLAG_REPLY : 0x1, 28);
  b.writeBigUInt64LE(h.sessionId, 36);
  return Buffer.concat([b, payload]);
}

const need = (p: Buffer, n: number): void => {
  if (p.length < n) throw new HgfsError(HgfsStatus.PROTOCOL_ERROR);
};

export class HgfsServer {
  private readonly sessions = new Map<bigint, Session>();
  private nextHandle = 1;

  constructor(
    private readonly runner: UserRunner,
    private readonly now: () => number = Date.now,
  ) {}

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** One request packet → its reply packet (status in the header). */
  async handle(user: AuthenticatedUser, h: HgfsHeader): Promise<Buffer> {
    let payload: Buffer = Buffer.alloc(0);
    let status: number = HgfsStatus.SUCCESS;
    let sessionId = h.sessionId;
    const now = this.now();
    for (const [id, s] of this.sessions) if (now - s.lastUsed > HGFS_SESSION_IDLE_MS) this.sessions.delete(id);
    try {
      if (h.op === HgfsOp.CREATE_SESSION_V4) {
        if (this.sessions.size >= MAX_SESSIONS) throw new HgfsError(HgfsStatus.TOO_MANY_SESSIONS);
        sessionId = randomBytes(8).readBigUInt64LE(0) & 0x7fffffffffffffffn;
        this.sessions.set(sessionId, { uid: user.uid, lastUsed: now, files: new Map() });
        payload = this.createSessionReply(sessionId);
      } else {
        const s = this.sessions.get(h.sessionId);
        if (s === undefined || s.uid !== user.uid) throw new HgfsError(HgfsStatus.STALE_SESSION);
        s.lastUsed = now;
        payload = await this.op(user, s, h);
        if (h.op === HgfsOp.DESTROY_SESSION_V4) this.sessions.delete(h.sessionId);
      }
    } catch (e) {
      if (!(e instanceof HgfsError)) throw e;
      status = e.status;
      payload = Buffer.alloc(0);
    }
    return buildHgfsPacket({ op: h.op, requestId: h.requestId, sessionId, status, reply: true }, payload);
  }

  private createSessionReply(id: bigint): Buffer {
    const ops = Object.values(HgfsOp);
    const b = Buffer.alloc(28 + 8 * ops.length);
    b.writeBigUInt64LE(id, 0);
    b.writeUInt32LE(ops.length, 8);
    b.writeUInt32LE(HGFS_LARGE_PACKET_MAX, 12);
    b.writeUInt32LE(0, 16); // identityOffset
    b.writeUInt32LE(0x1, 20); // HGFS_SESSION_MAXPACKETSIZE_VALID
    ops.forEach((op, i) => {
      b.writeInt32LE(op, 28 + 8 * i);
      b.writeUInt32LE(0x1, 32 + 8 * i);
    });
    return b;
  }

  private async work(user: AuthenticatedUser, req: Record<string, unknown> & { op: string }): Promise<string> {
    const r = await this.runner.runWorker(user, req);
    if (r.error !== 0) throw new HgfsError(statusOfErrno(r.result?.startsWith('errno:') ? r.result.slice(6) : undefined));
    return r.result ?? '';
  }

  private file(s: Session, handle: number): OpenFile {
    const f = s.files.get(handle);
    if (f === undefined) throw new HgfsError(HgfsStatus.INVALID_HANDLE);
    return f;
  }

  private async op(user: AuthenticatedUser, s: Session, h: HgfsHeader): Promise<Buffer> {
    const p = h.payload;
    switch (h.op) {
      case HgfsOp.DESTROY_SESSION_V4:
        return Buffer.alloc(8);
      case HgfsOp.OPEN_V3: {
        // HgfsRequestOpenV3: mask u64, mode i32 @8, flags i32 @12, perms 4×u8, attrFlags u64, allocationSize u64,
        // desiredAccess u32, shareAccess u32, desiredLock i32 @44, reserved 2×u64, HgfsFileNameV3 @64 (length, flags, caseType, id, name @80).
        need(p, 80);
        const mode = p.readInt32LE(8);
        const flags = p.readInt32LE(12);
        if (p.readInt32LE(44) !== 0) throw new HgfsError(HgfsStatus.OPERATION_NOT_SUPPORTED);
        if (mode < 0 || mode > 2 || flags < 0 || flags > 4) throw new HgfsError(HgfsStatus.INVALID_PARAMETER);
        const len = p.readUInt32LE(64);
        need(p, 80 + len);
        const path = cpNameToPath(p.subarray(80, 80 + len));
        if (s.files.size >= MAX_HANDLES_PER_SESSION) throw new HgfsError(HgfsStatus.GENERIC_ERROR);
        await this.work(user, { op: 'hgfsOpen', path, mode, flags });
        const handle = this.nextHandle++ >>> 0;
        s.files.set(handle, { path, mode });
        const b = Buffer.alloc(16);
        b.writeUInt32LE(handle, 0);
        return b;
      }
      case HgfsOp.READ_V3: {
        // HgfsRequestReadV3: handle u32, offset u64 @4, requiredSize u32 @12, reserved u64.
        need(p, 16);
        const f = this.file(s, p.readUInt32LE(0));
        if (f.mode === 1) throw new HgfsError(HgfsStatus.ACCESS_DENIED);
        const size = Math.min(p.readUInt32LE(12), MAX_READ);
        const data = Buffer.from(await this.work(user, { op: 'hgfsRead', path: f.path, offset: p.readBigUInt64LE(4).toString(), size }), 'base64');
        const b = Buffer.alloc(12);
        b.writeUInt32LE(data.length, 0);
        return Buffer.concat([b, data]);
      }
      case HgfsOp.WRITE_V3: {
        // HgfsRequestWriteV3: handle u32, flags u8 @4, offset u64 @5, requiredSize u32 @13, reserved u64, data @25.
        need(p, 25);
        const f = this.file(s, p.readUInt32LE(0));
        if (f.mode === 0) throw new HgfsError(HgfsStatus.ACCESS_DENIED);
        const size = p.readUInt32LE(13);
        need(p, 25 + size);
        const n = await this.work(user, {
          op: 'hgfsWrite', path: f.path, offset: p.readBigUInt64LE(5).toString(), append: (p[4] & 1) === 1,
          data: p.subarray(25, 25 + size).toString('base64'),
        });
        const b = Buffer.alloc(12);
        b.writeUInt32LE(Number(n) >>> 0, 0);
        return b;
      }
      case HgfsOp.CLOSE: {
        // HgfsRequestClose: HgfsRequest (id u32, op i32), handle u32 @8.
        need(p, 12);
        const handle = p.readUInt32LE(8);
        this.file(s, handle);
        s.files.delete(handle);
        return Buffer.alloc(8);
      }
      case HgfsOp.GETATTR_V2: {
        // HgfsRequestGetattrV2: HgfsRequest, hints u64 @8, handle u32 @16, HgfsFileName @20 (length, name @24).
        need(p, 24);
        const len = p.readUInt32LE(20);
        need(p, 24 + len);
        const path = cpNameToPath(p.subarray(24, 24 + len));
        const a = JSON.parse(await this.work(user, { op: 'hgfsGetattr', path })) as { type: number; size: number; mode: number; uid: number; gid: number };
        // HgfsReplyGetattrV2: HgfsReply (8), HgfsAttrV2 (104), HgfsFileName symlink target (length 0, one NUL).
        const b = Buffer.alloc(8 + 104 + 5);
        const at = 8;
        // Valid: type, size, owner/group/other perms, user id, group id.
        b.writeBigUInt64LE(BigInt(0x1 | 0x2 | 0x80 | 0x100 | 0x200 | 0x1000 | 0x2000), at);
        b.writeInt32LE(a.type, at + 8);
        b.writeBigUInt64LE(BigInt(a.type === 0 ? a.size : 0), at + 12);
        b[at + 53] = (a.mode >> 6) & 7;
        b[at + 54] = (a.mode >> 3) & 7;
        b[at + 55] = a.mode & 7;
        b.writeUInt32LE(a.uid >>> 0, at + 72);
        b.writeUInt32LE(a.gid >>> 0, at + 76);
        return b;
      }
      case HgfsOp.SETATTR_V2: {
        // HgfsRequestSetattrV2: HgfsRequest, hints u64 @8, HgfsAttrV2 @16 (104), handle u32 @120, HgfsFileName @124 (name @128).
        need(p, 128);
        const len = p.readUInt32LE(124);
        need(p, 128 + len);
        const path = cpNameToPath(p.subarray(128, 128 + len));
        const mask = p.readBigUInt64LE(16);
        let options = 0;
        let perm = 0;
        if (mask & 0x380n) {
          options |= 0x40;
          perm = (p[16 + 53] << 6) | (p[16 + 54] << 3) | p[16 + 55];
        }
        if (mask & 0x1000n) options |= 0x10;
        if (mask & 0x2000n) options |= 0x20;
        if (options !== 0) {
          await this.work(user, { op: 'setattr', path, options, atime: '0', mtime: '0', uid: p.readUInt32LE(16 + 72), gid: p.readUInt32LE(16 + 76), perm });
        }
        return Buffer.alloc(8);
      }
      default:
        throw new HgfsError(HgfsStatus.OPERATION_NOT_SUPPORTED);
    }
  }
}
