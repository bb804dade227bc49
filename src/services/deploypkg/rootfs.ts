/**
 * Files of the system being customized, under a target root that may not
 * be `/` (the host's root bind-mounted at /host in the container). Paths
 * are resolved the way the target system would resolve them: a symlink to
 * `/usr/share/zoneinfo/UTC` or `/run/...` means `<root>/usr/...`, never the
 * container's own file, and `..` cannot climb above the root. Writes are
 * atomic (temporary file + rename) and never follow a final symlink unless
 * asked to.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const MAX_LINKS = 40; // as the kernel's ELOOP limit

export class TargetRoot {
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get isHostRoot(): boolean {
    return this.root === '/';
  }

  /**
   * The real path of `p` (a path as the target sees it) with every symlink
   * resolved inside the root; `followLast` = false leaves the last
   * component unresolved (to replace a symlink itself).
   */
  resolve(p: string, followLast = true): string {
    let todo = p.split('/').filter((c) => c !== '' && c !== '.');
    const done: string[] = [];
    let links = 0;
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === '..') {
        done.pop();
        continue;
      }
      const real = path.join(this.root, ...done, c);
      const last = todo.length === 0;
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(real);
      } catch {
        st = undefined;
      }
      if (st?.isSymbolicLink() && (!last || followLast)) {
        if (++links > MAX_LINKS) throw new Error(`too many symbolic links resolving ${p}`);
        const target = fs.readlinkSync(real);
        if (target.startsWith('/')) done.length = 0;
        todo = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...todo];
        continue;
      }
      done.push(c);
    }
    return path.join(this.root, ...done);
  }

  /** The target-side path of a real path under the root (`<root>/etc/x` → `/etc/x`). */
  inTarget(real: string): string {
    if (this.isHostRoot) return real;
    const rel = path.relative(this.root, real);
    return '/' + rel;
  }

  exists(p: string): boolean {
    return fs.existsSync(this.resolve(p));
  }

  /** Exists as a name (a dangling symlink counts: systemd's enable links point into /usr/lib). */
  lexists(p: string): boolean {
    try {
      fs.lstatSync(this.resolve(p, false));
      return true;
    } catch {
      return false;
    }
  }

  isDir(p: string): boolean {
    try {
      return fs.statSync(this.resolve(p)).isDirectory();
    } catch {
      return false;
    }
  }

  isExecutable(p: string): boolean {
    try {
      const r = this.resolve(p);
      fs.accessSync(r, fs.constants.X_OK);
      return fs.statSync(r).isFile();
    } catch {
      return false;
    }
  }

  read(p: string): string | undefined {
    try {
      return fs.readFileSync(this.resolve(p), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Atomically writes `p` (its final symlink, if any, is followed inside the root). */
  write(p: string, data: string, mode = 0o644): string {
    const real = this.resolve(p);
    fs.mkdirSync(path.dirname(real), { recursive: true, mode: 0o755 });
    let keepMode = mode;
    try {
      const st = fs.statSync(real);
      if (st.isFile()) keepMode = mode === 0o644 ? st.mode & 0o7777 : mode;
    } catch {
      /* new file */
    }
    const tmp = `${real}.vmtoolsd-${process.pid}.tmp`;
    const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, keepMode);
    try {
      fs.writeSync(fd, data);
      fs.fchmodSync(fd, keepMode);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.renameSync(tmp, real);
    } catch (e) {
      // A bind-mounted file (e.g. /etc/hostname in some containers) cannot be replaced: rewrite it in place.
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY') {
        fs.rmSync(tmp, { force: true });
        throw e;
      }
      fs.copyFileSync(tmp, real);
      fs.rmSync(tmp, { force: true });
    }
    return real;
  }

  /** Replaces `p` itself (not what it points to) with a symlink to `target`. */
  symlink(p: string, target: string): void {
    const real = this.resolve(p, false);
    const tmp = `${real}.vmtoolsd-${process.pid}.tmp`;
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(target, tmp);
    fs.renameSync(tmp, real);
  }

  remove(p: string): void {
    fs.rmSync(this.resolve(p, false), { force: true });
  }
}
