/**
 * Per-opcode body parsing (guest-ops.md §7). Each parser reads the
 * opcode's fixed struct (offsets absolute, header = 0..50) and its strings
 * through BodyReader, which bounds every read by header+body. Argument
 * checks the reference makes before impersonating (empty path, env entry
 * without '=') are here too, so they are answered before credentials, as
 * the reference does (§5 last paragraph).
 */
import { BodyReader, VixBodyError } from './body';
import { VixError, VixOp } from './constants';

export type ParsedBody =
  | { op: 'none' }
  | { op: 'kill'; pid: bigint }
  | { op: 'listFiles'; path: string; pattern?: string; index: number; maxResults: number; offset: number }
  | { op: 'mkdir'; path: string; parents: boolean }
  | { op: 'move'; src: string; dst: string; overwrite: boolean; directory: boolean }
  | { op: 'mktemp'; prefix: string; suffix: string; dir: string; directory: boolean }
  | { op: 'setattr'; path: string; options: number; atime: string; mtime: string; uid: number; gid: number; perm: number }
  | { op: 'start'; program: string; args?: string; cwd?: string; env?: string[] }
  | { op: 'listProcs'; key: number; offset: number; pids?: bigint[] }
  | { op: 'env'; names?: string[] }
  | { op: 'transferFrom'; path: string }
  | { op: 'transferTo'; path: string; overwrite: boolean; options: number }
  | { op: 'deleteFile'; path: string }
  | { op: 'deleteDir'; path: string; recursive: boolean }
  | { op: 'hgfs'; packet: Buffer };

const invalidArg = (why: string): VixBodyError => new VixBodyError(VixError.INVALID_ARG, why);

function nonEmpty(p: string): string {
  if (p === '') throw invalidArg('empty path');
  return p;
}

/** §7.11 layout (also §7.13). */
function listFilesLayout(b: BodyReader): { path: string; pattern?: string; index: number; maxResults: number; offset: number } {
  const pathLen = b.u32(55);
  const patternLen = b.u32(59);
  const index = b.i32(63);
  const maxResults = b.i32(67);
  const offset = b.u64(71);
  const path = b.string(pathLen);
  const pattern = patternLen > 0 ? b.string(patternLen) : undefined;
  if (index < 0 || maxResults < 0 || offset >= 2n ** 31n) throw invalidArg('negative index/maxResults or huge offset');
  return { path, pattern, index, maxResults, offset: Number(offset) };
}

/** Parses the body of `opCode`; throws VixBodyError. Unknown opcodes are the caller's. */
export function parseBody(opCode: number, buf: Buffer): ParsedBody {
  switch (opCode) {
    case VixOp.GET_TOOLS_STATE:
    case VixOp.WAIT_FOR_TOOLS:
    case VixOp.CAPTURE_SCREEN:
    case VixOp.VALIDATE_CREDENTIALS:
    case VixOp.ACQUIRE_CREDENTIALS:
    case VixOp.RELEASE_CREDENTIALS:
      return { op: 'none' };
    case VixOp.KILL_PROCESS:
    case VixOp.TERMINATE_PROCESS: {
      const b = new BodyReader(buf, 63);
      return { op: 'kill', pid: b.u64(51) };
    }
    case VixOp.LIST_FILES: {
      const r = listFilesLayout(new BodyReader(buf, 79));
      return { op: 'listFiles', ...r, path: nonEmpty(r.path) };
    }
    case VixOp.CREATE_DIRECTORY_EX: {
      const b = new BodyReader(buf, 64);
      const path = b.string(b.u32(55));
      b.skip(b.u32(59));
      return { op: 'mkdir', path: nonEmpty(path), parents: b.u8(63) !== 0 };
    }
    case VixOp.MOVE_GUEST_FILE_EX:
    case VixOp.MOVE_GUEST_DIRECTORY: {
      const b = new BodyReader(buf, 68);
      const oldLen = b.u32(55);
      const newLen = b.u32(59);
      const propLen = b.u32(63);
      const src = b.string(oldLen);
      const dst = b.string(newLen);
      b.skip(propLen);
      return { op: 'move', src: nonEmpty(src), dst: nonEmpty(dst), overwrite: b.u8(67) !== 0, directory: opCode === VixOp.MOVE_GUEST_DIRECTORY };
    }
    case VixOp.CREATE_TEMPORARY_FILE_EX:
    case VixOp.CREATE_TEMPORARY_DIRECTORY: {
      const b = new BodyReader(buf, 71);
      const p = b.u32(55);
      const s = b.u32(59);
      const d = b.u32(63);
      const l = b.u32(67);
      // §7.10: header+body must be exactly the sum.
      if (71 + (p + 1) + (s + 1) + (d + 1) + l !== buf.length) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'sizes do not add up');
      const prefix = b.string(p);
      const suffix = b.string(s);
      const dir = b.string(d);
      b.skip(l);
      if (prefix.includes('/') || suffix.includes('/')) throw invalidArg('prefix/suffix with "/"');
      return { op: 'mktemp', prefix, suffix, dir, directory: opCode === VixOp.CREATE_TEMPORARY_DIRECTORY };
    }
    case VixOp.SET_GUEST_FILE_ATTRIBUTES: {
      const b = new BodyReader(buf, 89);
      const options = b.u32(51);
      const path = b.string(b.u32(85));
      // §7.12: READONLY/HIDDEN mean nothing on Linux; unknown bits are refused too.
      if (options & 0x0c || options & ~0x7f) throw invalidArg('unsupported attribute bits');
      return {
        op: 'setattr', path: nonEmpty(path), options, atime: b.i64(55).toString(), mtime: b.i64(63).toString(),
        uid: b.u32(71), gid: b.u32(75), perm: b.u32(79),
      };
    }
    case VixOp.START_PROGRAM: {
      const b = new BodyReader(buf, 72);
      const progLen = b.u32(52);
      const argsLen = b.u32(56);
      const wdLen = b.u32(60);
      const numEnv = b.u32(64);
      const envLen = b.u32(68);
      const program = b.optionalString(progLen);
      const args = b.optionalString(argsLen);
      const cwd = b.optionalString(wdLen);
      const env = b.stringArray(numEnv, envLen);
      if (program === undefined || program.trim() === '') throw invalidArg('empty program path');
      if (env?.some((e) => !e.includes('='))) throw invalidArg('environment entry without "="');
      return { op: 'start', program, args, cwd: cwd === '' ? undefined : cwd, env };
    }
    case VixOp.LIST_PROCESSES_EX: {
      const b = new BodyReader(buf, 63);
      const numPids = b.u32(59);
      // §3.2: numPids × 8 must fit in the body.
      if (numPids * 8 > b.remaining) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'pid array past the body');
      const pids: bigint[] = [];
      for (let i = 0; i < numPids; i++) pids.push(buf.readBigUInt64LE(63 + 8 * i));
      return { op: 'listProcs', key: b.u32(51), offset: b.u32(55), pids: numPids > 0 ? pids : undefined };
    }
    case VixOp.READ_ENV_VARIABLES: {
      const b = new BodyReader(buf, 59);
      return { op: 'env', names: b.stringArray(b.u32(51), b.u32(55)) };
    }
    case VixOp.INITIATE_FILE_TRANSFER_FROM_GUEST: {
      const r = listFilesLayout(new BodyReader(buf, 79));
      return { op: 'transferFrom', path: nonEmpty(r.path) };
    }
    case VixOp.INITIATE_FILE_TRANSFER_TO_GUEST: {
      const b = new BodyReader(buf, 60);
      const options = b.u32(51);
      const path = b.string(b.u32(55));
      if (options & 0x0c || options & ~0x7f) throw invalidArg('unsupported attribute bits');
      return { op: 'transferTo', path: nonEmpty(path), overwrite: b.u8(59) !== 0, options };
    }
    case VixOp.DELETE_GUEST_FILE_EX: {
      const b = new BodyReader(buf, 59);
      return { op: 'deleteFile', path: nonEmpty(b.string(b.u32(55))) };
    }
    case VixOp.DELETE_GUEST_DIRECTORY_EX: {
      const b = new BodyReader(buf, 64);
      const path = b.string(b.u32(55));
      b.skip(b.u32(59));
      return { op: 'deleteDir', path: nonEmpty(path), recursive: b.u8(63) !== 0 };
    }
    case VixOp.HGFS_SEND_PACKET: {
      const b = new BodyReader(buf, 59);
      const size = b.u32(51);
      // §7.15: size 0 → 1 (FAIL); the packet must fit in the body.
      if (size === 0) throw new VixBodyError(VixError.FAIL, 'empty HGFS packet');
      if (size > b.remaining) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'HGFS packet past the body');
      return { op: 'hgfs', packet: buf.subarray(59, 59 + size) };
    }
    default:
      throw new VixBodyError(VixError.UNRECOGNIZED_COMMAND_IN_GUEST, `opcode ${opCode}`);
  }
}

/**
 * StartProgram's argument string → argv, without a shell (our rule; the
 * reference runs `bash -c`): blanks separate words; '…' is literal; "…"
 * honours \" \\ \$ \`; a backslash outside quotes escapes the next character.
 * No expansion of any kind. Unterminated quotes → null (INVALID_ARG).
 */
export function splitArguments(s: string): string[] | null {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return null;
      cur += s.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      i++;
      for (; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1])) cur += s[++i];
        else cur += s[i];
      }
      if (i >= s.length) return null;
    } else if (c === '\\') {
      if (i + 1 < s.length) cur += s[++i];
    } else cur += c;
  }
  if (inWord) out.push(cur);
  return out;
}

/** §7.2 rule 3: leading spaces and one pair of surrounding quotes are stripped from the program path. */
export function cleanProgramPath(p: string): string {
  let s = p.replace(/^ +/, '');
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) s = s.slice(1, -1);
  return s;
}
