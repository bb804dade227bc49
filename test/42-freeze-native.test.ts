/**
 * Layer 4: the freeze holder (native/system/freeze-holder.c) and the target
 * check (native/addon/freeze.cc), on loop-mounted ext4 and xfs file systems
 * this suite creates and removes. Nothing else is ever passed to the holder,
 * and every test thaws (the after hooks run `fsfreeze -u` before umount).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspectFreezeTarget } from '../src/native';
import { FreezeHolder, findHolder } from '../src/services/vmbackup';
import { isFrozen, LoopFs, loopFsBlocker, makeLoopFs, thawQuietly, writeLater } from './helpers/loopfs';

const blocker = loopFsBlocker();

function holder(paths: string[], extra: Partial<ConstructorParameters<typeof FreezeHolder>[0]> = {}): FreezeHolder {
  const h = new FreezeHolder({ paths, loopOnly: true, ignoreFrozen: false, leaseMs: 0, deadlineMs: 60000, ...extra });
  h.start();
  return h;
}

describe('freeze holder on loop file systems (FIFREEZE/FITHAW, quiesce.md §4.2)', function () {
  this.timeout(60000);
  let ext4: LoopFs;
  let xfs: LoopFs;
  const holders: FreezeHolder[] = [];

  before(function () {
    if (blocker) this.skip();
    ext4 = makeLoopFs('ext4');
    xfs = makeLoopFs('xfs');
  });
  afterEach(async () => {
    for (const h of holders.splice(0)) if (h.active) await h.thaw();
    for (const f of [ext4, xfs]) if (f) thawQuietly(f.mountPoint);
  });
  after(() => {
    ext4?.remove();
    xfs?.remove();
  });

  it('the holder is built', () => {
    assert.ok(fs.existsSync(findHolder()), findHolder());
  });

  it('inspectFreezeTarget: loop mount roots are loop mount roots; a subdirectory is not a mount root', () => {
    const root = inspectFreezeTarget(ext4.mountPoint);
    assert.equal(root.isLoop, true);
    assert.equal(root.major, 7);
    assert.equal(root.isMountRoot, true);
    assert.equal(root.isDirectory, true);
    fs.mkdirSync(path.join(ext4.mountPoint, 'sub'), { recursive: true });
    assert.equal(inspectFreezeTarget(path.join(ext4.mountPoint, 'sub')).isMountRoot, false);
    assert.equal(inspectFreezeTarget(ext4.dir).isLoop, false, 'the temp directory is on the real disk');
    assert.throws(() => inspectFreezeTarget('/nonexistent/x'), (e: NodeJS.ErrnoException & { errno?: number }) => e.code === 'FREEZE_TARGET');
  });

  it('freezes ext4 and xfs (a write blocks), thaws on command in reverse order (the write completes)', async () => {
    const h = holder([xfs.mountPoint, ext4.mountPoint]);
    holders.push(h);
    const f = await h.frozen;
    assert.deepEqual(f.ok && f.count, 2);
    const w = await writeLater(path.join(ext4.mountPoint, 'while-frozen'), 800);
    assert.equal(w.outcome, 'blocked', 'a write blocks while frozen');
    assert.equal(await isFrozen(xfs.mountPoint), true);
    const t = await h.thaw();
    assert.equal(t.reason, 'command');
    assert.equal(t.failures, 0);
    await w.done; // the blocked writer finishes (or dies of its SIGKILL) once thawed
    assert.equal((await writeLater(path.join(ext4.mountPoint, 'after'), 5000)).outcome, 'ok');
    assert.equal((await writeLater(path.join(xfs.mountPoint, 'after'), 5000)).outcome, 'ok');
    assert.ok(f.ok && t.lastThawNs > f.firstFreezeNs);
  });

  it('loop-only guard: a target that is not a loop mount root is refused before anything is frozen', async () => {
    const sub = path.join(ext4.mountPoint, 'sub');
    fs.mkdirSync(sub, { recursive: true });
    const h = holder([xfs.mountPoint, sub]);
    const f = await h.frozen;
    assert.equal(f.ok, false);
    assert.equal(!f.ok && f.kind, 'refused');
    assert.equal(await isFrozen(xfs.mountPoint), false, 'the first (allowed) target was not frozen either');
  });

  it('partial freeze rolled back: an FS frozen by someone else fails the set (EBUSY) and thaws what was frozen', async () => {
    const r = spawn('fsfreeze', ['-f', xfs.mountPoint]);
    await new Promise((res) => r.on('exit', res));
    try {
      const h = holder([ext4.mountPoint, xfs.mountPoint]);
      const f = await h.frozen;
      assert.equal(!f.ok && f.kind, 'error');
      assert.equal(!f.ok && f.errno, 16 /* EBUSY */);
      assert.equal(await isFrozen(ext4.mountPoint), false, 'ext4 thawed again');
      // ignoreFrozenFileSystems: the foreign freeze is skipped
      const h2 = holder([ext4.mountPoint, xfs.mountPoint], { ignoreFrozen: true });
      holders.push(h2);
      const f2 = await h2.frozen;
      assert.deepEqual(f2.ok && f2.count, 1);
      assert.ok(h2.notes.some((n) => n.what === 'skip-already-frozen'));
      await h2.thaw();
    } finally {
      thawQuietly(xfs.mountPoint);
    }
    assert.equal(await isFrozen(xfs.mountPoint), false);
  });

  it('a bind mount of an FS frozen in the same set is skipped (same fsid), not an error', async () => {
    const bind = path.join(ext4.dir, 'bind');
    fs.mkdirSync(bind, { recursive: true });
    const m = spawn('mount', ['--bind', ext4.mountPoint, bind]);
    await new Promise((res) => m.on('exit', res));
    try {
      // The bind is a loop mount root too (same superblock).
      const h = holder([ext4.mountPoint, bind]);
      holders.push(h);
      const f = await h.frozen;
      assert.deepEqual(f.ok && f.count, 1);
      assert.ok(h.notes.some((n) => n.what === 'skip-same-fs'));
      await h.thaw();
    } finally {
      thawQuietly(ext4.mountPoint);
      const u = spawn('umount', [bind]);
      await new Promise((res) => u.on('exit', res));
    }
  });

  it('a bind-mounted file among the targets is skipped (open-vm-tools#347), the rest frozen', async () => {
    const src = path.join(ext4.mountPoint, 'file');
    const target = path.join(ext4.dir, 'bound-file');
    fs.writeFileSync(src, 'x');
    fs.writeFileSync(target, '');
    const m = spawn('mount', ['--bind', src, target]);
    await new Promise((res) => m.on('exit', res));
    try {
      const h = holder([target, ext4.mountPoint]);
      holders.push(h);
      const f = await h.frozen;
      assert.deepEqual(f.ok && f.count, 1);
      assert.deepEqual(h.notes.map((n) => [n.index, n.what]), [[0, 'skip-notdir']]);
      await h.thaw();
    } finally {
      thawQuietly(ext4.mountPoint);
      const u = spawn('umount', [target]);
      await new Promise((res) => u.on('exit', res));
    }
  });

  it('thaws by itself when the lease is not renewed (a hung daemon)', async () => {
    const h = holder([ext4.mountPoint], { leaseMs: 600 });
    holders.push(h);
    assert.ok((await h.frozen).ok);
    const t0 = Date.now();
    const t = await h.thawed;
    assert.equal(t.reason, 'lease');
    assert.ok(Date.now() - t0 < 3000);
    assert.equal(await isFrozen(ext4.mountPoint), false);
  });

  it('renewing keeps it frozen past the lease; the absolute deadline still ends it', async () => {
    const h = holder([ext4.mountPoint], { leaseMs: 500, deadlineMs: 1800 });
    holders.push(h);
    assert.ok((await h.frozen).ok);
    const timer = setInterval(() => h.renew(), 150);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(h.thawResult, undefined, 'still frozen after 2 leases');
      const t = await h.thawed;
      assert.equal(t.reason, 'deadline');
    } finally {
      clearInterval(timer);
    }
    assert.equal(await isFrozen(ext4.mountPoint), false);
  });

  it('SIGKILL of the holder\'s parent thaws at once (pipe EOF / PDEATHSIG)', async () => {
    // A throwaway parent: node that spawns the holder with inherited pipes, reports, then is killed.
    const script = `
      const { spawn } = require('child_process');
      const h = spawn(${JSON.stringify(findHolder())}, ['--loop-only', '--', ${JSON.stringify(ext4.mountPoint)}], { stdio: ['pipe', 'pipe', 'inherit'] });
      h.stdout.on('data', (d) => process.stdout.write(d));
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((res) => parent.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('frozen')) res();
    }));
    assert.match(out, /^frozen 1 /);
    assert.equal(await isFrozen(ext4.mountPoint), true);
    parent.kill('SIGKILL');
    const t0 = Date.now();
    while (await isFrozen(ext4.mountPoint, 300)) assert.ok(Date.now() - t0 < 5000, 'thawed within 5 s of the SIGKILL');
  });

  it('a holder that dies without thawing (SIGKILL of the holder itself): the daemon side thaws with --thaw-only', async () => {
    let unexpected: string | undefined;
    const h = new FreezeHolder({ paths: [ext4.mountPoint, xfs.mountPoint], loopOnly: true, ignoreFrozen: false, leaseMs: 0, deadlineMs: 60000 }, (t) => (unexpected = t.reason));
    h.start();
    holders.push(h);
    assert.ok((await h.frozen).ok);
    process.kill(h.pid!, 'SIGKILL'); // the kernel keeps both frozen: closing fds does not thaw
    const t = await h.thawed;
    assert.match(t.reason, /emergency thaw$/);
    assert.equal(t.failures, 0);
    assert.match(unexpected ?? '', /emergency/);
    assert.equal(await isFrozen(ext4.mountPoint), false);
    assert.equal(await isFrozen(xfs.mountPoint), false);
  });

  it('SIGTERM to the holder thaws', async () => {
    const h = holder([xfs.mountPoint]);
    holders.push(h);
    assert.ok((await h.frozen).ok);
    process.kill(h.pid!, 'SIGTERM');
    const t = await h.thawed;
    assert.equal(t.reason, 'signal');
    assert.equal(await isFrozen(xfs.mountPoint), false);
  });
});
