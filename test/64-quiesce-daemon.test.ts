/**
 * Layer 6 end to end: `bin/vmtoolsd` (a child process) against the VMX
 * simulator, quiescing loop-mounted ext4 and xfs file systems this suite
 * creates. The daemon runs in simulator mode (VMTOOLSD_ASSUME_VMWARE=1), so
 * it may only freeze the loop mounts named in $VMTOOLSD_VMBACKUP_ALLOW, and
 * the holder refuses anything that is not a loop-device mount root.
 *
 * Its log file lives ON the frozen ext4: a single log write while frozen
 * would block the daemon, and snapshotDone would go unanswered (§4.4).
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SimLogEntry } from '../src/sim/control';
import { SimHandle, startSimulator } from '../src/sim/harness';
import { isFrozen, LoopFs, loopFsBlocker, makeLoopFs, thawQuietly } from './helpers/loopfs';
import { REPO_ROOT, sleep } from './helpers/native-env';

const VMTOOLSD = path.join(REPO_ROOT, 'bin', 'vmtoolsd');

export function vmbackupEvents(log: SimLogEntry[]): string[] {
  return log
    .filter((e) => e.proto === 'RPCI' && e.request)
    .map((e) => e.request!.toString('latin1'))
    .filter((t) => t.startsWith('vmbackup.eventSet '))
    .map((t) => t.replace(/^vmbackup\.eventSet /, '').replace(/\0$/, ''));
}

describe('vmtoolsd quiesce end to end (simulator, loop ext4 + xfs)', function () {
  this.timeout(90000);
  const blocker = loopFsBlocker();
  let ext4: LoopFs;
  let xfs: LoopFs;
  let sim: SimHandle | undefined;
  let child: ChildProcess | undefined;
  let output = '';

  before(function () {
    if (blocker) this.skip();
    ext4 = makeLoopFs('ext4');
    xfs = makeLoopFs('xfs');
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    child = undefined;
    for (const f of [ext4, xfs]) if (f) thawQuietly(f.mountPoint);
    await sim?.stop();
    sim = undefined;
  });
  after(() => {
    ext4?.remove();
    xfs?.remove();
  });

  async function startDaemon(extraConf = '', allow = true): Promise<void> {
    sim = await startSimulator({});
    const conf = path.join(sim.dir, 'tools.conf');
    fs.mkdirSync(path.join(sim.dir, 'backupScripts.d'));
    fs.writeFileSync(
      conf,
      `[logging]\nvmsvc.level = debug\nvmsvc.handler = file\nvmsvc.data = ${path.join(ext4.mountPoint, 'vmtoolsd.log')}\n` +
        `[vmbackup]\nmanifestPath = ${path.join(sim.dir, 'quiesce_manifest.xml')}\nfreezeLease = 2\n${extraConf}`,
    );
    output = '';
    child = spawn(process.execPath, [VMTOOLSD, '-c', conf], {
      env: {
        ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VMTOOLSD_VMBACKUP_'))),
        ...sim.env({ preload: true }),
        ...(allow ? { VMTOOLSD_VMBACKUP_ALLOW: `${ext4.mountPoint}:${xfs.mountPoint}` } : {}),
        VMTOOLSD_VMBACKUP_LEGACY_DIR: path.join(sim.dir, 'no-legacy'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 15000 })).toString(), 'OK ATR toolbox');
    await sim.client.clearRpcLog();
  }

  async function events(): Promise<string[]> {
    return vmbackupEvents(await sim!.client.getRpcLog());
  }

  async function waitEvent(name: string, ms = 15000): Promise<string[]> {
    const end = Date.now() + ms;
    for (;;) {
      const ev = await events();
      if (ev.some((e) => e.startsWith(name))) return ev;
      if (Date.now() > end) throw new Error(`no ${name} event; got ${ev.join(' | ')}\n${output}`);
      await sleep(100);
    }
  }

  async function waitThawed(ms: number): Promise<number> {
    const t0 = Date.now();
    while (await isFrozen(ext4.mountPoint, 250)) {
      if (Date.now() - t0 > ms) throw new Error(`still frozen after ${ms} ms`);
    }
    assert.equal(await isFrozen(xfs.mountPoint), false);
    return Date.now() - t0;
  }

  const noKeepAlive = (ev: string[]): string[] => ev.filter((e) => !e.startsWith('req.keepAlive'));

  it('Capabilities_Register advertises vmbackup NVMe (36=1)', async () => {
    await startDaemon();
    await sim!.client.sendTclo('Capabilities_Register');
    const sent = (await sim!.client.getRpcLog()).filter((e) => e.request).map((e) => e.request!.toString('latin1'));
    assert.ok(sent.some((s) => /^tools\.capability\.features .*\b36=1\b/.test(s)), sent.join(' | '));
  });

  it('happy path: start → reset, prov.snapshotCommit with both FS frozen, snapshotDone → thawed, manifest, req.done', async () => {
    await startDaemon();
    const script = path.join(sim!.dir, 'backupScripts.d', 'record');
    fs.writeFileSync(script, `#!/bin/sh\necho "$1" >> ${path.join(sim!.dir, 'script.log')}\necho "script says $1"\n`, { mode: 0o755 });
    assert.equal((await sim!.client.sendTclo('vmbackup.start 1')).toString(), 'OK ');
    await waitEvent('prov.snapshotCommit');
    assert.equal(await isFrozen(ext4.mountPoint), true);
    assert.equal(await isFrozen(xfs.mountPoint), true);
    // The daemon keeps answering while its log file's FS is frozen.
    assert.equal((await sim!.client.sendTclo('ping', { timeoutMs: 3000 })).toString(), 'OK ');
    assert.equal((await sim!.client.sendTclo('vmbackup.snapshotDone', { timeoutMs: 5000 })).toString(), 'OK ');
    assert.equal(await isFrozen(ext4.mountPoint), false);
    const ev = noKeepAlive(await waitEvent('req.done'));
    assert.deepEqual(ev, ['reset 0 ', 'prov.snapshotCommit 0 ', `req.genericManifest 0 ${path.join(sim!.dir, 'quiesce_manifest.xml')}`, 'req.done 0 ']);
    assert.deepEqual(fs.readFileSync(path.join(sim!.dir, 'script.log'), 'utf8').trim().split('\n'), ['freeze', 'thaw']);
    await sleep(300);
    const log = fs.readFileSync(path.join(ext4.mountPoint, 'vmtoolsd.log'), 'utf8');
    assert.match(log, /script says freeze/, 'script output in the log');
    assert.match(log, /frozen 2 file system/);
  });

  it('simulator mode without an allow-list (npm start): nothing is frozen, the operation fails cleanly', async () => {
    await startDaemon('', false);
    assert.equal((await sim!.client.sendTclo('vmbackup.start 0')).toString(), 'OK ');
    const ev = noKeepAlive(await waitEvent('req.done'));
    assert.deepEqual(ev, ['reset 0 ', 'req.error 3 Error when enabling the sync provider.', 'req.done 0 ']);
    assert.equal(await isFrozen(ext4.mountPoint), false);
  });

  it('kill -9 of the daemon while frozen: the holder thaws at once', async () => {
    await startDaemon();
    await sim!.client.sendTclo('vmbackup.start 0');
    await waitEvent('prov.snapshotCommit');
    assert.equal(await isFrozen(ext4.mountPoint), true);
    child!.kill('SIGKILL');
    const ms = await waitThawed(5000);
    assert.ok(ms < 5000, `thawed ${ms} ms after SIGKILL`);
  });

  it('a hung event loop (SIGSTOP) while frozen: thawed when the lease (2 s) runs out; on resuming the daemon reports the error and ends', async () => {
    await startDaemon();
    await sim!.client.sendTclo('vmbackup.start 0');
    await waitEvent('prov.snapshotCommit');
    child!.kill('SIGSTOP');
    const t0 = Date.now();
    await waitThawed(6000);
    assert.ok(Date.now() - t0 < 6000);
    child!.kill('SIGCONT');
    const ev = noKeepAlive(await waitEvent('req.done'));
    assert.ok(ev.includes('req.error 3 Error when notifying the sync provider.'), ev.join(' | '));
    assert.equal((await sim!.client.sendTclo('vmbackup.snapshotDone')).toString(), 'ERROR Error: no quiesce operation in progress');
  });

  it('SIGTERM while frozen: thawed, req.aborted and req.done sent, exit 0', async () => {
    await startDaemon();
    await sim!.client.sendTclo('vmbackup.start 0');
    await waitEvent('prov.snapshotCommit');
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child!.kill('SIGTERM');
    assert.equal(await exited, 0);
    await waitThawed(1000);
    const ev = noKeepAlive(await events());
    assert.deepEqual(ev.slice(-2), ['req.aborted 4 Quiesce canceled.', 'req.done 0 ']);
  });

  it('host abort mid-freeze and a channel reset mid-freeze both thaw', async () => {
    await startDaemon();
    await sim!.client.sendTclo('vmbackup.start 0');
    await waitEvent('prov.snapshotCommit');
    assert.equal((await sim!.client.sendTclo('vmbackup.abort', { timeoutMs: 5000 })).toString(), 'OK ');
    await waitThawed(1000);
    await waitEvent('req.done');
    await sim!.client.clearRpcLog();
    await sim!.client.sendTclo('vmbackup.start 0');
    await waitEvent('prov.snapshotCommit');
    assert.equal(await isFrozen(ext4.mountPoint), true);
    await sim!.client.resetChannels();
    await sleep(1500);
    assert.equal((await sim!.client.sendTclo('reset', { timeoutMs: 10000 })).toString(), 'OK ATR toolbox');
    await waitThawed(4000);
    await waitEvent('req.done');
  });

  it('the overall timeout ([vmbackup] timeout = 4) thaws', async () => {
    await startDaemon('timeout = 4\n');
    await sim!.client.sendTclo('vmbackup.start 0');
    await waitEvent('prov.snapshotCommit');
    await waitThawed(4000);
    const ev = noKeepAlive(await waitEvent('req.done'));
    assert.ok(ev.includes('req.aborted 4 Quiesce canceled.'), ev.join(' | '));
  });
});
