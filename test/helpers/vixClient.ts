/**
 * A small VIX client that builds `Vix_1_Relayed_Command` requests the way
 * the VMX does for vCenter's guest-operation APIs (guest-ops.md §2, §3, §7),
 * and parses the guest's replies. Used by the guestops suites.
 */
import { obfuscateNamePassword } from '../../src/services/guestops/credentials';

export const VIX_MAGIC = 0xd00d0001;
export const HEADER = 51;

export interface Creds {
  user: string;
  password: string;
  /** Default 4 (NAME_PASSWORD_OBFUSCATED), as the VMX sends for NamePasswordAuthentication. */
  type?: number;
}

export interface BuildOptions {
  opCode: number;
  /** The opcode's fixed struct after the header, then its strings. */
  body?: Buffer;
  creds?: Creds | { type: number; raw: Buffer };
  commonFlags?: number;
  requestFlags?: number;
}

/** §4.2 credential bytes: nameLength, passwordLength, obfuscated string + NUL. */
export function nameCredential(user: string, password: string): Buffer {
  const lens = Buffer.alloc(8);
  lens.writeUInt32LE(Buffer.byteLength(user), 0);
  lens.writeUInt32LE(Buffer.byteLength(password), 4);
  return Buffer.concat([lens, Buffer.from(obfuscateNamePassword(user, password), 'latin1'), Buffer.from([0])]);
}

/** A whole binary request message (§3.1 layout: header | body | credential). */
export function buildMessage(o: BuildOptions): Buffer {
  const body = o.body ?? Buffer.alloc(0);
  let credType = 0;
  let cred: Buffer = Buffer.alloc(0);
  if (o.creds) {
    if ('raw' in o.creds) {
      credType = o.creds.type;
      cred = o.creds.raw;
    } else {
      credType = o.creds.type ?? 4;
      cred = nameCredential(o.creds.user, o.creds.password);
    }
  }
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(VIX_MAGIC, 0);
  h.writeUInt16LE(5, 4);
  h.writeUInt32LE(HEADER + body.length + cred.length, 6);
  h.writeUInt32LE(HEADER, 10);
  h.writeUInt32LE(body.length, 14);
  h.writeUInt32LE(cred.length, 18);
  h.writeUInt8((o.commonFlags ?? 0x01) & 0xff, 22);
  h.writeUInt32LE(o.opCode, 23);
  h.writeUInt32LE(o.requestFlags ?? 0, 27);
  h.writeUInt32LE(0, 31);
  h.writeBigUInt64LE(0x1234n, 35);
  h.writeUInt32LE(7, 43);
  h.writeUInt32LE(credType, 47);
  return Buffer.concat([h, body, cred]);
}

/** TCLO arguments as the handler receives them: ` "name"` NUL message. */
export function relayedArgs(message: Buffer, requestName = '4711'): Buffer {
  return Buffer.concat([Buffer.from(` "${requestName}"`, 'latin1'), Buffer.from([0]), message]);
}

/** The whole TCLO command (for the simulator). */
export function relayedCommand(message: Buffer, requestName = '4711'): Buffer {
  return Buffer.concat([Buffer.from('Vix_1_Relayed_Command', 'latin1'), relayedArgs(message, requestName)]);
}

export interface VixReply {
  error: number;
  additionalError: number;
  result: string;
  binary: boolean;
  raw: Buffer;
}

/** Parses `<err> <addErr> <result>\0` or `<err> <addErr> #<bytes>`. Throws if malformed. */
export function parseReply(b: Buffer): VixReply {
  const s = b.toString('latin1');
  const m = /^(-?\d+) (-?\d+) /.exec(s);
  if (!m) throw new Error(`malformed VIX reply ${JSON.stringify(s.slice(0, 40))}`);
  const rest = b.subarray(m[0].length);
  if (rest[0] === 0x23 /* # */) return { error: Number(m[1]), additionalError: Number(m[2]), result: rest.subarray(1).toString('latin1'), binary: true, raw: b };
  if (rest[rest.length - 1] !== 0) throw new Error('text VIX reply without its NUL');
  return { error: Number(m[1]), additionalError: Number(m[2]), result: rest.subarray(0, rest.length - 1).toString('utf8'), binary: false, raw: b };
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
const u64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};
const i64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n);
  return b;
};
/** "len excludes NUL" string. */
const str = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
const slen = (s: string): number => Buffer.byteLength(s);

/** Bodies of the opcodes (guest-ops.md §7), fixed struct after the header then strings. */
export const bodies = {
  listFiles: (path: string, o: { pattern?: string; index?: number; maxResults?: number; offset?: bigint } = {}) =>
    Buffer.concat([
      u32(0), u32(slen(path)), u32(o.pattern !== undefined ? slen(o.pattern) : 0), u32(o.index ?? 0), u32(o.maxResults ?? 1000),
      u64(o.offset ?? 0n), str(path), o.pattern !== undefined ? str(o.pattern) : Buffer.alloc(0),
    ]),
  mkdir: (path: string, parents = false) => Buffer.concat([u32(0), u32(slen(path)), u32(0), u8(parents ? 1 : 0), str(path)]),
  move: (src: string, dst: string, overwrite = false) =>
    Buffer.concat([u32(0), u32(slen(src)), u32(slen(dst)), u32(0), u8(overwrite ? 1 : 0), str(src), str(dst)]),
  mktemp: (prefix: string, suffix: string, dir: string) =>
    Buffer.concat([u32(0), u32(slen(prefix)), u32(slen(suffix)), u32(slen(dir)), u32(0), str(prefix), str(suffix), str(dir)]),
  setattr: (path: string, o: { options: number; atime?: bigint; mtime?: bigint; uid?: number; gid?: number; perm?: number }) =>
    Buffer.concat([
      u32(o.options), i64(o.atime ?? 0n), i64(o.mtime ?? 0n), u32(o.uid ?? 0), u32(o.gid ?? 0), u32(o.perm ?? 0), u8(0), u8(0),
      u32(slen(path)), str(path),
    ]),
  /** StartProgram strings use "len includes NUL" (§3.3). */
  startProgram: (program: string, args?: string, cwd?: string, env?: string[]) => {
    const opt = (s?: string) => (s === undefined ? Buffer.alloc(0) : str(s));
    const olen = (s?: string) => (s === undefined ? 0 : slen(s) + 1);
    const envBuf = Buffer.concat((env ?? []).map(str));
    return Buffer.concat([
      u8(0), u32(olen(program)), u32(olen(args)), u32(olen(cwd)), u32(env?.length ?? 0), u32(envBuf.length),
      opt(program), opt(args), opt(cwd), envBuf,
    ]);
  },
  listProcesses: (pids: bigint[] = [], key = 0, offset = 0) => Buffer.concat([u32(key), u32(offset), u32(pids.length), ...pids.map(u64)]),
  kill: (pid: bigint) => Buffer.concat([u64(pid), u32(0)]),
  readEnv: (names: string[] = []) => {
    const b = Buffer.concat(names.map(str));
    return Buffer.concat([u32(names.length), u32(b.length), b]);
  },
  transferFrom: (path: string) => bodies.listFiles(path),
  transferTo: (path: string, overwrite = false, options = 0) => Buffer.concat([u32(options), u32(slen(path)), u8(overwrite ? 1 : 0), str(path)]),
  deleteFile: (path: string) => Buffer.concat([u32(0), u32(slen(path)), str(path)]),
  deleteDir: (path: string, recursive = false) => Buffer.concat([u32(0), u32(slen(path)), u32(0), u8(recursive ? 1 : 0), str(path)]),
};

export const OP = {
  WAIT_FOR_TOOLS: 38, CAPTURE_SCREEN: 58, GET_TOOLS_STATE: 62, HGFS: 84, KILL_PROCESS: 85, LIST_FILES: 177,
  CREATE_DIRECTORY_EX: 178, MOVE_FILE: 179, MOVE_DIRECTORY: 180, CREATE_TEMP_FILE: 181, CREATE_TEMP_DIR: 182,
  SET_ATTRIBUTES: 183, START_PROGRAM: 185, LIST_PROCESSES_EX: 186, READ_ENV: 187, TRANSFER_FROM: 188, TRANSFER_TO: 189,
  ACQUIRE_CREDS: 190, RELEASE_CREDS: 191, VALIDATE_CREDENTIALS: 192, TERMINATE_PROCESS: 193, DELETE_FILE: 194, DELETE_DIRECTORY: 195,
} as const;

/** HGFS request packets (hgfsProto.h layouts, v4 header), as the VMX sends them in opcode 84. */
import { buildHgfsPacket, pathToCpName } from '../../src/services/guestops/hgfs';

export const hgfs = {
  /** Opcode 84 body: hgfsPacketSize u32, timeout u32, packet. */
  body: (packet: Buffer): Buffer => {
    const h = Buffer.alloc(8);
    h.writeUInt32LE(packet.length, 0);
    return Buffer.concat([h, packet]);
  },
  createSession: (requestId = 1) => buildHgfsPacket({ op: 41, requestId, sessionId: 0n }, Buffer.alloc(16)),
  destroySession: (sessionId: bigint) => buildHgfsPacket({ op: 42, requestId: 9, sessionId }, Buffer.alloc(8)),
  openV3: (sessionId: bigint, path: string, mode: number, flags: number) => {
    const name = pathToCpName(path);
    const p = Buffer.alloc(80);
    p.writeInt32LE(mode, 8);
    p.writeInt32LE(flags, 12);
    p.writeUInt32LE(name.length, 64);
    return buildHgfsPacket({ op: 24, requestId: 2, sessionId }, Buffer.concat([p, name, Buffer.from([0])]));
  },
  readV3: (sessionId: bigint, handle: number, offset: bigint, size: number) => {
    const p = Buffer.alloc(24);
    p.writeUInt32LE(handle, 0);
    p.writeBigUInt64LE(offset, 4);
    p.writeUInt32LE(size, 12);
    return buildHgfsPacket({ op: 25, requestId: 3, sessionId }, p);
  },
  writeV3: (sessionId: bigint, handle: number, offset: bigint, data: Buffer) => {
    const p = Buffer.alloc(25);
    p.writeUInt32LE(handle, 0);
    p.writeBigUInt64LE(offset, 5);
    p.writeUInt32LE(data.length, 13);
    return buildHgfsPacket({ op: 26, requestId: 4, sessionId }, Buffer.concat([p, data]));
  },
  close: (sessionId: bigint, handle: number) => {
    const p = Buffer.alloc(12);
    p.writeInt32LE(3, 4);
    p.writeUInt32LE(handle, 8);
    return buildHgfsPacket({ op: 3, requestId: 5, sessionId }, p);
  },
  getattrV2: (sessionId: bigint, path: string) => {
    const name = pathToCpName(path);
    const p = Buffer.alloc(24);
    p.writeInt32LE(15, 4);
    p.writeUInt32LE(name.length, 20);
    return buildHgfsPacket({ op: 15, requestId: 6, sessionId }, Buffer.concat([p, name, Buffer.from([0])]));
  },
  setattrV2: (sessionId: bigint, path: string, perms: number) => {
    const name = pathToCpName(path);
    const p = Buffer.alloc(128);
    p.writeInt32LE(16, 4);
    p.writeBigUInt64LE(0x380n, 16);
    p[16 + 53] = (perms >> 6) & 7;
    p[16 + 54] = (perms >> 3) & 7;
    p[16 + 55] = perms & 7;
    p.writeUInt32LE(name.length, 124);
    return buildHgfsPacket({ op: 16, requestId: 7, sessionId }, Buffer.concat([p, name, Buffer.from([0])]));
  },
};
