/**
 * Loop-mounted ext4/xfs file systems a quiesce test creates and removes:
 * the ONLY file systems any test may freeze (helper brief, issue 6). Each
 * lives in a private temp directory: a sparse image, a loop device
 * (`losetup -f --show`), a mount point. `remove()` thaws first (fsfreeze -u,
 * harmless when not frozen), then umounts and detaches.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type LoopFsType = 'ext4' | 'xfs';

export interface LoopFs {
  type: LoopFsType;
  dir: string;
  image: string;
  device: string;
  mountPoint: string;
  remove(): void;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message || `status ${r.status}`}`);
  return r.stdout.trim();
}

/** Why loop file systems cannot be made here, or null. */
export function loopFsBlocker(types: LoopFsType[] = ['ext4', 'xfs']): string | null {
  if (process.getuid?.() !== 0) return 'needs root (losetup, mount)';
  for (const t of types) {
    const mkfs = `mkfs.${t}`;
    const found = ['/usr/sbin', '/sbin', '/usr/bin'].some((d) => fs.existsSync(path.join(d, mkfs)));
    if (!found) return `${mkfs} not installed (apt-get install ${t === 'xfs' ? 'xfsprogs' : 'e2fsprogs'})`;
  }
  if (!fs.existsSync('/dev/loop-control')) return 'no /dev/loop-control';
  return null;
}

/** Thaws a mount point of ours, ignoring "not frozen". */
export function thawQuietly(mountPoint: string): void {
  spawnSync('fsfreeze', ['-u', mountPoint], { stdio: 'ignore', timeout: 10000 });
}

export function makeLoopFs(type: LoopFsType, sizeMb = type === 'xfs' ? 320 : 64): LoopFs {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vmtoolsd-qz-${type}-`));
  const image = path.join(dir, 'image');
  const mountPoint = path.join(dir, 'mnt');
  fs.mkdirSync(mountPoint);
  fs.closeSync(fs.openSync(image, 'w'));
  fs.truncateSync(image, sizeMb * 1024 * 1024);
  run(`mkfs.${type}`, type === 'xfs' ? ['-q', '-f', image] : ['-q', '-F', image]);
  const device = run('losetup', ['-f', '--show', image]);
  if (!/^\/dev\/loop\d+$/.test(device)) throw new Error(`losetup gave ${device}`);
  let mounted = false;
  const remove = (): void => {
    if (mounted) {
      thawQuietly(mountPoint);
      spawnSync('umount', [mountPoint], { stdio: 'ignore', timeout: 30000 });
      mounted = false;
    }
    spawnSync('losetup', ['-d', device], { stdio: 'ignore', timeout: 10000 });
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    run('mount', [device, mountPoint]);
    mounted = true;
  } catch (e) {
    remove();
    throw e;
  }
  return { type, dir, image, device, mountPoint, remove };
}

/**
 * A write of `file` in a child process, bounded by `timeoutMs`: 'blocked'
 * when it did not finish in time (the FS is frozen), 'ok' when it did. A
 * writer stuck on a frozen FS sleeps uninterruptibly, so it is SIGKILLed and
 * left behind (it dies after the thaw); we never wait for it synchronously.
 */
export function writeLater(file: string, timeoutMs: number): Promise<{ outcome: 'ok' | 'blocked' | 'error'; ms: number; done: Promise<number> }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', 'echo x > "$1" && sync -f "$1"', 'sh', file], { stdio: 'ignore' });
    const done = new Promise<number>((r) => child.on('exit', () => r(Date.now() - t0)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ outcome: 'blocked', ms: Date.now() - t0, done });
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ outcome: code === 0 ? 'ok' : 'error', ms: Date.now() - t0, done });
    });
  });
}

/** Whether the file system is frozen now: a bounded write probe. */
export async function isFrozen(mountPoint: string, probeMs = 700): Promise<boolean> {
  return (await writeLater(path.join(mountPoint, `.probe-${process.pid}`), probeMs)).outcome === 'blocked';
}
