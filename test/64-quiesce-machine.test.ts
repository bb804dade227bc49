/**
 * Layer 6: the vmbackup state machine (quiesce.md §1–§6) with a recording
 * RPC sender, the real freeze holder and loop-mounted ext4/xfs file systems
 * this suite creates. The candidate set is a fake mount table that also
 * lists this machine's "/" — which the allow-list and the loop-only guard
 * must keep out — restricted to the suite's loop mounts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectFreezeTarget } from '../src/native';
import { parseTcloCommand, TcloDispatcher } from '../src/rpc/tclo';
import type { RpcReply } from '../src/rpc/types';
import {
  compileExclusions, encodeStartWithOpts, localMounts, manifestText, parseMountTable, parseStartWithOpts, selectFreezeTargets,
  VmBackupConfig, VmBackupService,
} from '../src/services/vmbackup';
import { isFrozen, LoopFs, loopFsBlocker, makeLoopFs, thawQuietly } from './helpers/loopfs';
import { sleep } from './helpers/native-env';

describe('vmbackup mount selection (quiesce.md §4.1)', () => {
  const table = [
    '/dev/vda / ext4 rw 0 0',
    'proc /proc proc rw 0 0',
    'tmpfs /run tmpfs rw 0 0',
    '/dev/vdb /data xfs rw 0 0',
    'srv:/x /nfs nfs4 rw 0 0',
    'overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0',
    '/dev/vdb /data2 xfs rw 0 0',
    'https://dav /dav davfs rw 0 0',
    '/dev/loop3 /mnt/with\\040space ext4 rw 0 0',
  ].join('\n');

  it('reverse table order, first mount of a device wins, remote/pseudo/overlay/http skipped, \\040 decoded', () => {
    assert.deepEqual(localMounts(parseMountTable(table)).map((m) => m.mountPoint), ['/mnt/with space', '/data', '/']);
  });

  it('excludedFileSystems: GLib globs, * and ? cross "/", no trimming of items', () => {
    const ex = compileExclusions(['/da*', ' /']);
    assert.equal(ex[0].test('/data/x'), true);
    assert.equal(ex[1].test('/'), false, '" /" never matches');
    assert.equal(compileExclusions(['/mnt/?ith space'])[0].test('/mnt/with space'), true);
  });

  it('allow-list and loop-only guard keep everything else out', () => {
    const file = path.join(os.tmpdir(), `qz-mounts-${process.pid}`);
    fs.writeFileSync(file, table);
    try {
      const sel = selectFreezeTargets({ mountTable: file, allow: ['/', '/data'], loopOnly: true, inspect: () => ({ major: 254, minor: 0, isDirectory: true, isMountRoot: true, isLoop: false }), excluded: [] });
      assert.deepEqual(sel.paths, []);
      assert.ok(sel.skipped.some((s) => s.path === '/' && /loop/.test(s.why)));
      const none = selectFreezeTargets({ mountTable: file, allow: [], loopOnly: false, inspect: () => { throw new Error('x'); }, excluded: [] });
      assert.deepEqual(none.paths, []);
    } finally {
      fs.unlinkSync(file);
    }
  });

  it('the dispatcher hands startWithOpts its XDR body byte for byte, zero tail included', async () => {
    const body = encodeStartWithOpts({ quiesceFS: true, execScripts: true, timeout: 0 });
    assert.equal(body[body.length - 1], 0, 'the body ends in zeros');
    const d = new TcloDispatcher();
    let seen: Buffer | undefined;
    const m = new VmBackupService({} as never);
    // The registered handler, wrapped around a spy: the dispatcher must see the raw marker on it.
    const real = m.tcloHandlers()['vmbackup.startWithOpts'];
    d.register('vmbackup.startWithOpts', Object.assign(async (args: Buffer) => ((seen = Buffer.from(args)), { ok: true, result: '' }), real));
    await d.dispatch(Buffer.concat([Buffer.from('vmbackup.startWithOpts'), body]));
    assert.deepEqual(seen, body);
  });

  it('startWithOpts XDR survives a relay dropping trailing NULs (the zero tail of the body)', () => {
    const cmd = Buffer.concat([Buffer.from('vmbackup.startWithOpts'), encodeStartWithOpts({ quiesceFS: true, execScripts: true, timeout: 0 })]);
    const parsed = parseTcloCommand(cmd)!;
    assert.ok(parsed.args.length < cmd.length - 'vmbackup.startWithOpts'.length, 'the tail was dropped');
    const p = parseStartWithOpts(parsed.args, true);
    assert.deepEqual([p.quiesceFS, p.execScripts, p.timeout, p.volumes], [true, true, 0, undefined]);
    const v = parseStartWithOpts(encodeStartWithOpts({ volumes: '/a /b', scriptArg: 'x', timeout: 60 }), true);
    assert.deepEqual([v.volumes, v.scriptArg, v.timeout], ['/a /b', 'x', 60]);
  });

  it('the manifest text (§5.4)', () => {
    assert.equal(manifestText(12352), '<quiesceManifest>\n   <productVersion>12352</productVersion>\n   <providerName>fifreeze</providerName>\n</quiesceManifest>\n');
  });
});

interface Harness {
  svc: VmBackupService;
  events: string[];
  io: boolean[];
  failRpc: { on: boolean };
  dir: string;
}

describe('vmbackup state machine on loop file systems', function () {
  this.timeout(60000);
  const blocker = loopFsBlocker();
  let ext4: LoopFs;
  let xfs: LoopFs;
  let work: string;
  let h: Harness | undefined;

  before(function () {
    if (blocker) this.skip();
    ext4 = makeLoopFs('ext4');
    xfs = makeLoopFs('xfs');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'qz-machine-'));
  });
  afterEach(async () => {
    if (h?.svc.busy) await h.svc.shutdown();
    h = undefined;
    for (const f of [ext4, xfs]) if (f) thawQuietly(f.mountPoint);
  });
  after(() => {
    ext4?.remove();
    xfs?.remove();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  function config(over: Partial<VmBackupConfig> = {}): VmBackupConfig {
    return {
      enableSyncDriver: true, ignoreFrozenFileSystems: false, execScripts: true, quiesceApps: true, quiesceFS: true,
      enableXmlManifest: true, enableNVMe: true, manifestPath: path.join(work, 'manifest', 'quiesce_manifest.xml'),
      freezeLeaseS: 10, scriptTimeoutS: 300, ...over,
    };
  }

  /** A service whose only freezable targets are the two loop mounts. */
  function harness(over: Partial<VmBackupConfig> = {}, scripts?: { legacy?: boolean; names?: string[]; fail?: Record<string, string> }): Harness {
    const dir = fs.mkdtempSync(path.join(work, 'case-'));
    const sdir = path.join(dir, 'backupScripts.d');
    fs.mkdirSync(sdir);
    const record = path.join(dir, 'scripts.log');
    const write = (p: string, failOn?: string): void => {
      fs.writeFileSync(p, `#!/bin/sh\necho "$(basename "$0") $*" >> ${record}\necho "output of $(basename "$0")"\n${failOn ? `[ "$1" = "${failOn}" ] && exit 3\n` : ''}exit 0\n`, { mode: 0o755 });
    };
    if (scripts?.legacy) {
      write(path.join(dir, 'pre-freeze-script'), scripts.fail?.['pre-freeze-script']);
      write(path.join(dir, 'post-thaw-script'), scripts.fail?.['post-thaw-script']);
    }
    for (const n of scripts?.names ?? []) write(path.join(sdir, n), scripts?.fail?.[n]);
    const mounts = path.join(dir, 'mounts');
    fs.writeFileSync(mounts, `/dev/vda / ext4 rw 0 0\n${ext4.device} ${ext4.mountPoint} ext4 rw 0 0\n${xfs.device} ${xfs.mountPoint} xfs rw 0 0\n`);
    const events: string[] = [];
    const io: boolean[] = [];
    const failRpc = { on: false };
    const svc = new VmBackupService({
      rpc: {
        send: (r: Buffer | string): RpcReply => {
          const text = Buffer.isBuffer(r) ? r.toString('latin1') : r;
          assert.ok(text.endsWith('\0'), 'events carry a NUL');
          events.push(text.slice(0, -1).replace(/^vmbackup\.eventSet /, ''));
          return { ok: !failRpc.on, reply: Buffer.alloc(0) };
        },
      },
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      config: () => config(over),
      scripts: { legacyFreeze: path.join(dir, 'pre-freeze-script'), legacyThaw: path.join(dir, 'post-thaw-script'), dir: sdir },
      selectTargets: (volumes, excluded) =>
        selectFreezeTargets({ mountTable: mounts, allow: [ext4.mountPoint, xfs.mountPoint], loopOnly: true, inspect: inspectFreezeTarget, excluded, volumes }),
      loopOnly: true,
      ioFreeze: (frozen) => void io.push(frozen),
      sync: async () => undefined,
      productVersion: 13344,
      pollPeriodMs: 50,
    });
    h = { svc, events, io, failRpc, dir };
    return h;
  }

  const tclo = async (hh: Harness, cmd: string, args = ''): Promise<string> => {
    const r = await hh.svc.tcloHandlers()[cmd](Buffer.from(args, 'latin1'));
    return `${r.ok ? 'OK' : 'ERROR'} ${r.result.toString()}`;
  };
  const waitFor = async (what: () => boolean, ms = 10000): Promise<void> => {
    const t0 = Date.now();
    while (!what()) {
      if (Date.now() - t0 > ms) throw new Error('timed out waiting');
      await sleep(20);
    }
  };
  const noKeepAlive = (ev: string[]): string[] => ev.filter((e) => !e.startsWith('req.keepAlive'));
  const scriptLog = (hh: Harness): string[] => {
    try {
      return fs.readFileSync(path.join(hh.dir, 'scripts.log'), 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };

  it('happy path: reset, scripts, both FS frozen, prov.snapshotCommit, snapshotDone thaws, manifest, thaw scripts, req.done', async () => {
    const hh = harness({}, { legacy: true, names: ['b-second', 'a-first'] });
    assert.equal(await tclo(hh, 'vmbackup.start', ' 1 uuid-1 uuid-2'), 'OK ');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    assert.deepEqual(noKeepAlive(hh.events), ['reset 0 ', 'prov.snapshotCommit 0 ']);
    assert.equal(await isFrozen(ext4.mountPoint), true);
    assert.equal(await isFrozen(xfs.mountPoint), true);
    assert.deepEqual(hh.io, [true], 'the daemon stopped its own disk I/O before the freeze');
    assert.equal(await tclo(hh, 'vmbackup.start', ' 0'), `ERROR Quiesce operation already in progress.`);
    assert.equal(await tclo(hh, 'vmbackup.snapshotDone'), 'OK ');
    assert.deepEqual(hh.io, [true, false]);
    assert.equal(await isFrozen(ext4.mountPoint), false);
    assert.equal(await isFrozen(xfs.mountPoint), false);
    await waitFor(() => !hh.svc.busy);
    const manifest = path.join(work, 'manifest', 'quiesce_manifest.xml');
    assert.deepEqual(noKeepAlive(hh.events), ['reset 0 ', 'prov.snapshotCommit 0 ', `req.genericManifest 0 ${manifest}`, 'req.done 0 ']);
    assert.equal(fs.readFileSync(manifest, 'utf8'), manifestText(13344));
    assert.deepEqual(scriptLog(hh), [
      'pre-freeze-script freeze', 'a-first freeze', 'b-second freeze',
      'b-second thaw', 'a-first thaw', 'post-thaw-script thaw',
    ]);
  });

  it('scriptArg is passed quoted after the op', async () => {
    const hh = harness({ scriptArg: 'my arg' }, { names: ['s'] });
    assert.equal(await tclo(hh, 'vmbackup.start', ' 0'), 'OK ');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    await tclo(hh, 'vmbackup.snapshotDone');
    await waitFor(() => !hh.svc.busy);
    assert.deepEqual(scriptLog(hh), ['s freeze my arg', 's thaw my arg']);
    assert.ok(!hh.events.some((e) => e.startsWith('req.genericManifest')), 'no manifest when not requested');
  });

  it('a failing freeze script: req.error 2 + 5, freezeFail for the scripts before it (reverse), never frozen, req.done', async () => {
    const hh = harness({}, { legacy: true, names: ['a', 'b', 'c'], fail: { b: 'freeze' } });
    assert.equal(await tclo(hh, 'vmbackup.start', ' 1'), 'OK ');
    await waitFor(() => !hh.svc.busy);
    assert.deepEqual(noKeepAlive(hh.events), [
      'reset 0 ', 'req.error 2 Custom quiesce script failed.', "req.error 5 'VmBackupOnFreeze' operation failed.", 'req.done 0 ',
    ]);
    assert.deepEqual(scriptLog(hh), ['pre-freeze-script freeze', 'a freeze', 'b freeze', 'a freezeFail', 'post-thaw-script freezeFail']);
    assert.deepEqual(hh.io, [], 'never froze');
  });

  it('a failing thaw script: the others still run; req.error 2 + 5 VmBackupOnThaw; req.done', async () => {
    const hh = harness({}, { names: ['a', 'b', 'c'], fail: { b: 'thaw' } });
    assert.equal(await tclo(hh, 'vmbackup.start', ' 0'), 'OK ');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    await tclo(hh, 'vmbackup.snapshotDone');
    await waitFor(() => !hh.svc.busy);
    assert.deepEqual(scriptLog(hh), ['a freeze', 'b freeze', 'c freeze', 'c thaw', 'b thaw', 'a thaw']);
    assert.deepEqual(noKeepAlive(hh.events).slice(-3), ['req.error 2 Custom quiesce script failed.', "req.error 5 'VmBackupOnThaw' operation failed.", 'req.done 0 ']);
  });

  it('abort while frozen: thawed at once, req.aborted 4 "Quiesce canceled.", freezeFail scripts, req.done', async () => {
    const hh = harness({}, { names: ['a'] });
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    assert.equal(await isFrozen(ext4.mountPoint), true);
    assert.equal(await tclo(hh, 'vmbackup.abort'), 'OK ');
    assert.equal(await isFrozen(ext4.mountPoint), false);
    assert.equal(await isFrozen(xfs.mountPoint), false);
    await waitFor(() => !hh.svc.busy);
    assert.deepEqual(noKeepAlive(hh.events), ['reset 0 ', 'prov.snapshotCommit 0 ', 'req.aborted 4 Quiesce canceled.', 'req.done 0 ']);
    assert.deepEqual(scriptLog(hh), ['a freeze', 'a freezeFail']);
    assert.equal(await tclo(hh, 'vmbackup.abort'), 'ERROR Error: no quiesce operation in progress');
  });

  it('abort during a freeze script: the script is killed; only earlier scripts get freezeFail', async () => {
    const hh = harness({}, { names: ['a'] });
    fs.writeFileSync(path.join(hh.dir, 'backupScripts.d', 'b-slow'), `#!/bin/sh\necho "b-slow $*" >> ${path.join(hh.dir, 'scripts.log')}\n[ "$1" = freeze ] && sleep 30\nexit 0\n`, { mode: 0o755 });
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => scriptLog(hh).includes('b-slow freeze'));
    assert.equal(await tclo(hh, 'vmbackup.abort'), 'OK ');
    await waitFor(() => !hh.svc.busy);
    assert.deepEqual(scriptLog(hh), ['a freeze', 'b-slow freeze', 'a freezeFail']);
    assert.ok(hh.events.includes('req.aborted 4 Quiesce canceled.'));
  });

  it('scriptTimeout: a freeze script still running is killed and fails the phase', async () => {
    const hh = harness({ scriptTimeoutS: 1 }, { names: ['a'] });
    fs.writeFileSync(path.join(hh.dir, 'backupScripts.d', 'b-hangs'), `#!/bin/sh\necho "b-hangs $*" >> ${path.join(hh.dir, 'scripts.log')}\n[ "$1" = freeze ] && exec sleep 30\nexit 0\n`, { mode: 0o755 });
    const t0 = Date.now();
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => !hh.svc.busy, 8000);
    assert.ok(Date.now() - t0 < 6000);
    assert.deepEqual(noKeepAlive(hh.events), ['reset 0 ', 'req.error 2 Custom quiesce script failed.', "req.error 5 'VmBackupOnFreeze' operation failed.", 'req.done 0 ']);
    assert.deepEqual(scriptLog(hh), ['a freeze', 'b-hangs freeze', 'a freezeFail']);
  });

  it('the overall timeout aborts and thaws', async () => {
    const hh = harness({ timeout: 1 });
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    await waitFor(() => !hh.svc.busy, 5000);
    assert.deepEqual(noKeepAlive(hh.events), ['reset 0 ', 'prov.snapshotCommit 0 ', 'req.aborted 4 Quiesce canceled.', 'req.done 0 ']);
    assert.equal(await isFrozen(ext4.mountPoint), false);
  });

  it('a channel reset while frozen aborts and thaws (ours; the reference does nothing)', async () => {
    const hh = harness();
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    hh.svc.onReset();
    await waitFor(() => !hh.svc.busy);
    assert.equal(await isFrozen(ext4.mountPoint), false);
    assert.ok(hh.events.includes('req.aborted 4 Quiesce canceled.'));
  });

  it('a failed event send while frozen (keep-alive) aborts on the next tick and thaws (§2.4)', async () => {
    const hh = harness();
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    hh.failRpc.on = true;
    await waitFor(() => !hh.svc.busy, 8000); // keep-alive at 2.5 s fails → abort
    assert.equal(await isFrozen(ext4.mountPoint), false);
  });

  it('prov.snapshotCommit cannot be delivered: immediate thaw, error path', async () => {
    const hh = harness();
    hh.failRpc.on = true; // even reset fails: rpcState error, but the freeze still goes first (as the reference)
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => !hh.svc.busy, 8000);
    assert.equal(await isFrozen(ext4.mountPoint), false);
    assert.equal(await isFrozen(xfs.mountPoint), false);
  });

  it('a hung event loop (this very process blocked for 3.5 s) with freezeLease = 2: thawed by the holder meanwhile; then req.error 3', async () => {
    const hh = harness({ freezeLeaseS: 2 });
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    const pid = hh.svc.holderPid!;
    assert.ok(pid > 0);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3500); // the loop is stuck: no renewals
    // The holder thawed during the block; it has exited (signal 0 fails) or is about to.
    await waitFor(() => !hh.svc.busy, 5000);
    assert.equal(await isFrozen(ext4.mountPoint), false);
    assert.equal(await isFrozen(xfs.mountPoint), false);
    assert.ok(hh.events.includes('req.error 3 Error when notifying the sync provider.'), hh.events.join(' | '));
    assert.equal(hh.events[hh.events.length - 1], 'req.done 0 ');
  });

  it('an FS frozen by someone else: the operation fails (nothing left frozen by us), unless ignoreFrozenFileSystems', async () => {
    const { spawnSync } = await import('node:child_process');
    spawnSync('fsfreeze', ['-f', ext4.mountPoint]);
    try {
      const hh = harness();
      await tclo(hh, 'vmbackup.start', ' 0');
      await waitFor(() => !hh.svc.busy);
      assert.deepEqual(noKeepAlive(hh.events), ['reset 0 ', 'req.error 3 Error when enabling the sync provider.', 'req.done 0 ']);
      assert.equal(await isFrozen(xfs.mountPoint), false, 'the partial freeze was rolled back');
      const h2 = harness({ ignoreFrozenFileSystems: true });
      await tclo(h2, 'vmbackup.start', ' 0');
      await waitFor(() => h2.svc.stateName === 'SYNC_FREEZE');
      assert.equal(await isFrozen(xfs.mountPoint), true);
      await tclo(h2, 'vmbackup.snapshotDone');
      await waitFor(() => !h2.svc.busy);
      assert.equal(await isFrozen(xfs.mountPoint), false);
    } finally {
      thawQuietly(ext4.mountPoint);
    }
  });

  it('excludedFileSystems can leave nothing to freeze: req.error 3 "Error when enabling the sync provider."', async () => {
    const hh = harness({ excludedFileSystems: ['/tmp/*'] });
    await tclo(hh, 'vmbackup.start', ' 0');
    await waitFor(() => !hh.svc.busy);
    assert.deepEqual(noKeepAlive(hh.events), ['reset 0 ', 'req.error 3 Error when enabling the sync provider.', 'req.done 0 ']);
  });

  it('enableSyncDriver=false: the null provider (sync only): commit without freezing, no manifest', async () => {
    const hh = harness({ enableSyncDriver: false });
    await tclo(hh, 'vmbackup.start', ' 1');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    assert.equal(await isFrozen(ext4.mountPoint), false);
    await tclo(hh, 'vmbackup.snapshotDone');
    await waitFor(() => !hh.svc.busy);
    assert.deepEqual(noKeepAlive(hh.events), ['reset 0 ', 'prov.snapshotCommit 0 ', 'req.done 0 ']);
  });

  it('replies: snapshotDone without an operation / in the wrong state, snapshotCompleted, XDR errors, init error', async () => {
    const hh = harness({ enableSyncDriver: false });
    assert.equal(await tclo(hh, 'vmbackup.snapshotDone'), 'ERROR Error: no quiesce operation in progress');
    assert.equal(await tclo(hh, 'vmbackup.snapshotCompleted'), 'ERROR Error: no quiesce complete in progress');
    assert.equal(await tclo(hh, 'vmbackup.startWithOpts', encodeStartWithOpts({ version: 2 }).toString('latin1')), 'ERROR Incompatible quiesce parameter version');
    assert.equal(await tclo(hh, 'vmbackup.startWithOpts', ' \x00\x00'), 'ERROR XDR deserialization failed.');
    // forceQuiesce (startWithOpts default) + quiesceFS without the sync driver: no provider
    assert.equal(await tclo(hh, 'vmbackup.startWithOpts', encodeStartWithOpts({ quiesceFS: true }).toString('latin1')), 'ERROR Error initializing quiesce operation.');
    assert.equal(hh.events.length, 0);
    // both false: the null provider
    assert.equal(await tclo(hh, 'vmbackup.startWithOpts', encodeStartWithOpts({ quiesceFS: false, quiesceApps: false }).toString('latin1')), 'OK ');
    assert.equal(await tclo(hh, 'vmbackup.snapshotDone'), 'ERROR Error: unexpected state for quiesce done message.');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    assert.equal(await tclo(hh, 'vmbackup.snapshotDone'), 'OK ');
    await waitFor(() => !hh.svc.busy);
  });

  it('startWithOpts V1 with explicit mount points (diskUuids starting with "/"): only those are frozen', async () => {
    const hh = harness();
    assert.equal(await tclo(hh, 'vmbackup.startWithOpts', encodeStartWithOpts({ quiesceFS: true, volumes: xfs.mountPoint }).toString('latin1')), 'OK ');
    await waitFor(() => hh.svc.stateName === 'SYNC_FREEZE');
    assert.equal(await isFrozen(xfs.mountPoint), true);
    assert.equal(await isFrozen(ext4.mountPoint), false);
    await tclo(hh, 'vmbackup.snapshotDone');
    await waitFor(() => !hh.svc.busy);
    assert.equal(await isFrozen(xfs.mountPoint), false);
  });
});
