/**
 * Replaces a file atomically: write a temporary file next to it, fsync,
 * rename over the original. A reader (the daemon's 5-second poll) therefore
 * sees either the old or the new tools.conf, never half of one — open-vm-tools
 * truncates and rewrites in place, which its own poll can catch mid-write.
 *
 * Failures become a `FileWriteError` with a sentence a user can act on;
 * a read-only /etc (Flatcar, Fedora CoreOS) is the common case.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

export class FileWriteError extends Error {
  constructor(
    message: string,
    /** errno code (EROFS, EACCES, …) or 'EUNKNOWN'. */
    readonly code: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'FileWriteError';
  }
}

function errnoCode(err: unknown): string {
  if (err instanceof Error && 'code' in err && typeof err.code === 'string') return err.code;
  return 'EUNKNOWN';
}

/** A one-sentence explanation of why `file` could not be written. */
export function describeWriteFailure(file: string, code: string, detail: string): string {
  const dir = path.dirname(file);
  switch (code) {
    case 'EROFS':
      return `cannot write ${file}: ${dir} is on a read-only file system (EROFS). ` +
        'On immutable systems such as Flatcar, /etc is read-only: provide tools.conf through your ' +
        'provisioning (e.g. Ignition) or point the daemon at a writable configuration path.';
    case 'EACCES':
    case 'EPERM':
      return `cannot write ${file}: permission denied (${code}); run as root or fix the permissions of ${dir}.`;
    case 'ENOENT':
      return `cannot write ${file}: directory ${dir} does not exist.`;
    case 'ENOTDIR':
      return `cannot write ${file}: a component of ${dir} is not a directory.`;
    case 'ENOSPC':
    case 'EDQUOT':
      return `cannot write ${file}: no space left on the file system (${code}).`;
    default:
      return `cannot write ${file}: ${detail}`;
  }
}

export interface AtomicWriteOptions {
  /** Mode for a newly created file (an existing file keeps its mode). */
  mode?: number;
}

/**
 * Atomically replaces `file` with `data`. If `file` is a symbolic link, the
 * link target is replaced (the link stays). Keeps the mode and, when
 * possible, the owner of an existing file. Throws FileWriteError.
 */
export async function writeFileAtomic(file: string, data: Buffer | string, options: AtomicWriteOptions = {}): Promise<void> {
  let target = file;
  try {
    target = await fsp.realpath(file);
  } catch {
    // Does not exist (yet) or dangling link: write the path as given.
  }
  let mode = options.mode ?? 0o644;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = await fsp.stat(target);
    mode = st.mode & 0o7777;
    owner = { uid: st.uid, gid: st.gid };
  } catch {
    // New file.
  }

  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let created = false;
  try {
    const fh = await fsp.open(tmp, 'wx', mode);
    created = true;
    try {
      await fh.writeFile(data);
      // The umask may have narrowed the mode given to open().
      await fh.chmod(mode);
      if (owner) await fh.chown(owner.uid, owner.gid).catch(() => undefined);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
    created = false;
    // Make the rename itself durable; not all file systems allow it.
    const dh = await fsp.open(dir, 'r').catch(() => undefined);
    if (dh) await dh.sync().catch(() => undefined).finally(() => dh.close());
  } catch (err) {
    if (created) await fsp.unlink(tmp).catch(() => undefined);
    const code = errnoCode(err);
    const detail = err instanceof Error ? err.message : String(err);
    throw new FileWriteError(describeWriteFailure(target, code, detail), code, target);
  }
}
