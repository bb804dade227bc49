/**
 * The file and process work of guest operations, run AS THE USER: the
 * daemon starts `vmtoolsd-runas --user U -- node -e <this file>` (the helper
 * has already set uid, gid and supplementary groups and cleared the
 * environment), writes one JSON request on stdin and reads one JSON reply
 * from stdout. Kernel permission checks therefore apply exactly as they do
 * to the user (guest-ops.md §4.5, §14 duty 4).
 *
 * SELF-CONTAINED on purpose: it is passed to `node -e` as source text (the
 * user may not be able to read the daemon's install directory), so it may
 * import only Node built-ins. Semantics per guest-ops.md §7; VIX codes are
 * repeated here as literals with their §10 names.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

interface Reply {
  error: number;
  additionalError?: number;
  result?: string;
}

/** §2.2 result budget (VIX_MAX_RESULT_SIZE in constants.ts). */
const MAX_RESULT = 65483;

const E = {
  OK: 0, FAIL: 1, INVALID_ARG: 3, FILE_ALREADY_EXISTS: 12, FILE_ACCESS_ERROR: 13, FILE_NAME_INVALID: 22,
  GUEST_USER_PERMISSIONS: 3015, NOT_A_FILE: 20001, NOT_A_DIRECTORY: 20002, NO_SUCH_PROCESS: 20003,
  DIRECTORY_NOT_EMPTY: 20006,
};

const ERRNO_NUM: Record<string, number> = os.constants.errno as unknown as Record<string, number>;

/** §10 Vix_TranslateErrno. */
function fromErrno(code: string | undefined): number {
  switch (code) {
    case 'EPERM': case 'EACCES': return 13;
    case 'EAGAIN': case 'EBUSY': return 5;
    case 'EEXIST': return 12;
    case 'EFBIG': return 21;
    case 'ENOTEMPTY': return 20006;
    case 'ENOTDIR': return 20002;
    case 'ETIMEDOUT': case 'ENOBUFS': case 'EIO': case 'EMFILE': case 'ENFILE': case 'EMLINK': case 'EROFS': return 7;
    case 'ENODEV': case 'ENOENT': return 4;
    case 'ENOSPC': return 8;
    case 'EISDIR': return 20001;
    case 'ESRCH': return 20003;
    case 'ENAMETOOLONG': return 20004;
    case 'EMSGSIZE': case 'EINVAL': return 3;
    case 'ELOOP': case 'ENOMEM': return 2;
    default: return 1;
  }
}

class VixFail extends Error {
  constructor(readonly error: number, readonly additionalError = 0) {
    super(`vix ${error}`);
  }
}

function errnoFail(e: unknown): VixFail {
  const code = (e as NodeJS.ErrnoException).code;
  return new VixFail(fromErrno(code), code !== undefined ? ERRNO_NUM[code] ?? 0 : 0);
}

/** An HGFS failure: the errno name travels back in `result` with error 1. */
class HgfsFail extends Error {
  constructor(readonly errno: string) {
    super(errno);
  }
}

function hgfsCall<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof HgfsFail) throw e;
    throw new HgfsFail((e as NodeJS.ErrnoException).code ?? 'EIO');
  }
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw errnoFail(e);
  }
}

function must<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof VixFail) throw e;
    throw errnoFail(e);
  }
}

/** §8: " % & ' < > → %XX (uppercase hex); nothing else. */
function escapeXml(s: string): string {
  return s.replace(/["%&'<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** §7.11 entry. `name` as given; stat follows symlinks for times/size. */
function fileEntry(name: string, full: string): string | null {
  const l = must(() => fs.lstatSync(full));
  let st: fs.Stats = l;
  let target = '';
  if (l.isSymbolicLink()) {
    try {
      target = fs.readlinkSync(full);
    } catch {
      target = '';
    }
    try {
      st = fs.statSync(full);
    } catch {
      st = l;
    }
  }
  const ft = l.isSymbolicLink() ? 2 : st.isDirectory() ? 1 : 0;
  const fs_ = st.isFile() ? st.size : 0;
  return (
    `<fxi><Name>${escapeXml(name)}</Name><ft>${ft}</ft><fs>${fs_}</fs>` +
    `<mt>${Math.floor(st.mtimeMs / 1000)}</mt><at>${Math.floor(st.atimeMs / 1000)}</at>` +
    `<uid>${st.uid}</uid><gid>${st.gid}</gid><perm>${st.mode}</perm><slt>${escapeXml(target)}</slt></fxi>`
  );
}

type Req = Record<string, unknown> & { op: string };

const ops: Record<string, (r: Req) => string | void> = {
  /** §7.6 */
  mkdir(r) {
    const p = r.path as string;
    if (lstatOrNull(p) !== null) throw new VixFail(E.FILE_ALREADY_EXISTS);
    must(() => fs.mkdirSync(p, { mode: 0o700, recursive: r.parents === true }));
  },
  /** §7.7: unlink never follows a final symlink. */
  deleteFile(r) {
    const p = r.path as string;
    const st = must(() => fs.lstatSync(p));
    if (!st.isSymbolicLink() && !st.isFile()) throw new VixFail(E.NOT_A_FILE);
    must(() => fs.unlinkSync(p));
  },
  /** §7.8 */
  deleteDir(r) {
    const p = r.path as string;
    const st = must(() => fs.lstatSync(p));
    if (st.isSymbolicLink() || !st.isDirectory()) throw new VixFail(E.NOT_A_DIRECTORY);
    if (r.recursive === true) must(() => fs.rmSync(p, { recursive: true, force: false }));
    else {
      try {
        fs.rmdirSync(p);
      } catch (e) {
        const c = (e as NodeJS.ErrnoException).code;
        if (c === 'ENOTEMPTY' || c === 'EEXIST') throw new VixFail(E.DIRECTORY_NOT_EMPTY);
        throw errnoFail(e);
      }
    }
  },
  /** §7.9 */
  move(r) {
    const src = r.src as string;
    const dst = r.dst as string;
    const isDirOp = r.directory === true;
    const s = must(() => fs.lstatSync(src));
    const d = lstatOrNull(dst);
    if (d !== null && d.dev === s.dev && d.ino === s.ino) return;
    if (d !== null && d.isDirectory() && !d.isSymbolicLink()) throw new VixFail(E.FILE_ALREADY_EXISTS);
    if (isDirOp) {
      if (s.isSymbolicLink() || !s.isDirectory()) throw new VixFail(E.NOT_A_DIRECTORY);
      if (d !== null) throw new VixFail(E.FILE_ALREADY_EXISTS);
    } else {
      if (s.isDirectory()) throw new VixFail(E.NOT_A_FILE);
      if (d !== null && r.overwrite !== true) throw new VixFail(E.FILE_ALREADY_EXISTS);
    }
    try {
      fs.renameSync(src, dst);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw errnoFail(e);
      // Across file systems: copy then delete (the reference's File_Move).
      must(() => fs.cpSync(src, dst, { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true, verbatimSymlinks: true }));
      must(() => fs.rmSync(src, { recursive: true }));
    }
  },
  /** §7.10 */
  mktemp(r) {
    let dir = r.dir as string;
    if (dir === '') dir = userTempDir();
    const st = must(() => fs.statSync(dir));
    if (!st.isDirectory()) throw new VixFail(E.NOT_A_DIRECTORY);
    const isDir = r.directory === true;
    for (let attempt = 0; attempt < 1000; attempt++) {
      // Odd for files, even for directories (§7.10).
      let n = Math.floor(Math.random() * 0x3fffffff) * 2;
      if (!isDir) n += 1;
      const p = path.join(dir, `${r.prefix as string}vmware${n}${r.suffix as string}`);
      try {
        if (isDir) fs.mkdirSync(p, { mode: 0o700 });
        else fs.closeSync(fs.openSync(p, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600));
        return p;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw errnoFail(e);
      }
    }
    throw new VixFail(E.FAIL);
  },
  /** §7.12 */
  setattr(r) {
    const p = r.path as string;
    const o = r.options as number;
    const st = must(() => fs.statSync(p));
    if (o & 0x03) {
      const at = o & 0x01 ? Number(r.atime) : st.atimeMs / 1000;
      const mt = o & 0x02 ? Number(r.mtime) : st.mtimeMs / 1000;
      must(() => fs.utimesSync(p, at, mt));
    }
    if (o & 0x30) must(() => fs.chownSync(p, o & 0x10 ? (r.uid as number) : -1, o & 0x20 ? (r.gid as number) : -1));
    if (o & 0x40) must(() => fs.chmodSync(p, (r.perm as number) & 0o7777));
  },
  /** §7.11 */
  listFiles(r) {
    const p = r.path as string;
    let re: RegExp | undefined;
    if (typeof r.pattern === 'string') {
      try {
        re = new RegExp(r.pattern, 'u');
      } catch {
        throw new VixFail(E.INVALID_ARG);
      }
    }
    const l = must(() => fs.lstatSync(p));
    let names: Array<[string, string]>;
    if (l.isDirectory()) {
      const list = must(() => fs.readdirSync(p));
      names = ['.', '..', ...list].map((n) => [n, path.join(p, n)]);
    } else names = [[p, p]];
    if (re) names = names.filter(([n]) => re!.test(n));
    const index = r.index as number;
    const offset = r.offset as number;
    const maxResults = r.maxResults as number;
    let out = '';
    let emitted = 0;
    let truncated = false;
    if (maxResults > 0) {
      if (offset >= maxResults) throw new VixFail(E.INVALID_ARG);
      const want = maxResults - offset;
      const budget = MAX_RESULT - 40;
      for (let i = index + offset; i < names.length && emitted < want; i++) {
        let ent: string | null;
        try {
          ent = fileEntry(names[i][0], names[i][1]);
        } catch {
          ent = null; // vanished or unreadable: omitted (§7.11)
        }
        if (ent === null) {
          emitted++;
          continue;
        }
        if (Buffer.byteLength(out) + Buffer.byteLength(ent) > budget) {
          truncated = true;
          break;
        }
        out += ent;
        emitted++;
      }
    }
    const rem = Math.max(0, names.length - index - (maxResults > 0 ? offset + emitted : 0));
    return `${truncated ? '1' : '0'} <rem>${rem}</rem>${out}`;
  },
  /** §7.13 */
  transferFrom(r) {
    const p = r.path as string;
    const l = must(() => fs.lstatSync(p));
    if (l.isSymbolicLink()) throw new VixFail(E.INVALID_ARG);
    if (l.isDirectory()) throw new VixFail(E.NOT_A_FILE);
    try {
      fs.accessSync(p, fs.constants.R_OK);
    } catch {
      throw new VixFail(E.FILE_ACCESS_ERROR);
    }
    return fileEntry(p, p) ?? '';
  },
  /** §7.14: checks only. */
  transferTo(r) {
    const p = r.path as string;
    const l = lstatOrNull(p);
    if (l !== null) {
      if (l.isSymbolicLink()) throw new VixFail(E.INVALID_ARG);
      if (l.isDirectory()) throw new VixFail(E.NOT_A_FILE);
      if (r.overwrite !== true) throw new VixFail(E.FILE_ALREADY_EXISTS);
      try {
        fs.accessSync(p, fs.constants.W_OK);
      } catch {
        throw new VixFail(E.FILE_ACCESS_ERROR);
      }
    }
    const parent = path.dirname(p);
    let ps: fs.Stats;
    try {
      ps = fs.statSync(parent);
    } catch {
      throw new VixFail(E.FILE_NAME_INVALID);
    }
    if (!ps.isDirectory()) throw new VixFail(E.FILE_NAME_INVALID);
    try {
      fs.accessSync(parent, fs.constants.W_OK);
    } catch {
      throw new VixFail(E.FILE_ACCESS_ERROR);
    }
  },
  /** §7.4: SIGTERM, ≤5 s, SIGKILL, ≤15 s; as the user, so kill(2) checks apply. */
  kill(r) {
    const pid = r.pid as number;
    const gone = (): boolean => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
        return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
      } catch {
        return true;
      }
    };
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(pid, sig);
      } catch (e) {
        const c = (e as NodeJS.ErrnoException).code;
        if (c === 'EPERM' || c === 'EACCES') throw new VixFail(E.GUEST_USER_PERMISSIONS, ERRNO_NUM[c] ?? 0);
        if (c === 'ESRCH') throw new VixFail(E.NO_SUCH_PROCESS, ERRNO_NUM.ESRCH ?? 0);
        throw errnoFail(e);
      }
    };
    const waitGone = (ms: number): boolean => {
      const end = Date.now() + ms;
      const cell = new Int32Array(new SharedArrayBuffer(4));
      while (Date.now() < end) {
        if (gone()) return true;
        Atomics.wait(cell, 0, 0, 50);
      }
      return gone();
    };
    signal('SIGTERM');
    if (waitGone(5000)) return;
    signal('SIGKILL');
    waitGone(15000);
  },
  /**
   * HGFS data path (guest-ops.md §9), one packet's file work. Handles live in
   * the daemon; every packet reopens the file as the user, so no descriptor
   * outlives a packet. O_NOFOLLOW: transfer endpoints are never symlinks (§14
   * duty 7). Errors come back as errno names for the HGFS status mapping.
   */
  hgfsOpen(r) {
    const p = r.path as string;
    const C = fs.constants;
    const mode = r.mode as number; // 0 read, 1 write, 2 read-write
    const flags = r.flags as number; // 0 open, 1 open+truncate, 2 create, 3 create-excl, 4 create+truncate
    let f = (mode === 0 ? C.O_RDONLY : mode === 1 ? C.O_WRONLY : C.O_RDWR) | C.O_NOFOLLOW;
    if (flags === 1 || flags === 4) f |= C.O_TRUNC;
    if (flags >= 2) f |= C.O_CREAT;
    if (flags === 3) f |= C.O_EXCL;
    const fd = hgfsCall(() => fs.openSync(p, f, 0o600));
    try {
      if (!fs.fstatSync(fd).isFile()) throw new HgfsFail('EISDIR');
    } finally {
      fs.closeSync(fd);
    }
    return '';
  },
  hgfsRead(r) {
    const fd = hgfsCall(() => fs.openSync(r.path as string, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW));
    try {
      const buf = Buffer.alloc(r.size as number);
      const n = hgfsCall(() => fs.readSync(fd, buf, 0, buf.length, Number(r.offset)));
      return buf.subarray(0, n).toString('base64');
    } finally {
      fs.closeSync(fd);
    }
  },
  hgfsWrite(r) {
    const C = fs.constants;
    const fd = hgfsCall(() => fs.openSync(r.path as string, C.O_WRONLY | C.O_NOFOLLOW | (r.append === true ? C.O_APPEND : 0)));
    try {
      const data = Buffer.from(r.data as string, 'base64');
      return String(hgfsCall(() => fs.writeSync(fd, data, 0, data.length, r.append === true ? null : Number(r.offset))));
    } finally {
      fs.closeSync(fd);
    }
  },
  hgfsGetattr(r) {
    const l = hgfsCall(() => fs.lstatSync(r.path as string));
    const st = l.isSymbolicLink() ? hgfsCall(() => fs.statSync(r.path as string)) : l;
    return JSON.stringify({ type: l.isSymbolicLink() ? 2 : st.isDirectory() ? 1 : 0, size: st.size, mode: st.mode, uid: st.uid, gid: st.gid, atime: st.atimeMs, mtime: st.mtimeMs, ctime: st.ctimeMs });
  },
  /** §7.5, from this process's (the user's clean) environment. */
  env(r) {
    const names = r.names as string[] | undefined;
    if (names === undefined) {
      return Object.entries(process.env)
        .map(([k, v]) => `<ev>${escapeXml(`${k}=${v ?? ''}`)}</ev>`)
        .join('');
    }
    return names
      .filter((n) => process.env[n] !== undefined)
      .map((n) => `<ev>${escapeXml(n)}=${escapeXml(process.env[n] ?? '')}</ev>`)
      .join('');
  },
};

/** §7.10: a per-user 0700 directory under the system temp dir, never a symlink or someone else's. */
function userTempDir(): string {
  const uid = process.getuid ? process.getuid() : -1;
  const user = process.env.USER ?? String(uid);
  const d = path.join(os.tmpdir(), `vmware-${user}`);
  try {
    fs.mkdirSync(d, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw errnoFail(e);
  }
  const st = must(() => fs.lstatSync(d));
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) throw new VixFail(E.FILE_ACCESS_ERROR);
  return d;
}

function main(): void {
  const chunks: Buffer[] = [];
  process.stdin.on('data', (c: Buffer) => chunks.push(c));
  process.stdin.on('end', () => {
    let reply: Reply;
    try {
      const req = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Req;
      const f = ops[req.op];
      if (f === undefined) reply = { error: E.FAIL };
      else {
        const result = f(req);
        reply = { error: E.OK, result: typeof result === 'string' ? result : '' };
      }
    } catch (e) {
      if (e instanceof VixFail) reply = { error: e.error, additionalError: e.additionalError };
      else if (e instanceof HgfsFail) reply = { error: E.FAIL, result: `errno:${e.errno}` };
      else reply = { error: E.FAIL };
    }
    process.stdout.write(JSON.stringify(reply));
  });
}

main();
