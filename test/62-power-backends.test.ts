/**
 * Layer 6: the halt/reboot backends and their choice
 * (src/services/powerops/backends.ts), then bin/vmtoolsd end to end in a
 * private PID namespace whose PID 1 is a recording fake init
 * (test/fixtures/power/fake-init.c) pretending to be systemd, busybox init
 * or sysvinit.
 *
 * Safety: the choice is tested on fake /proc and / trees; the only backends
 * ever invoked are the record backend, a systemd backend whose systemctl is
 * a stub in a temp directory, and InitSignalBackend with a recording kill
 * function. The daemon's signals go to PID 1 of a namespace the test made
 * (`unshare --pid --fork --mount-proc --kill-child`), which is the fake init.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  chooseBackend,
  detectContainer,
  detectInit,
  INITIAL_PID_NS_INODE,
  InitSignalBackend,
  pidNamespaceInode,
  RefusedBackend,
  SystemdBackend,
} from '../src/services/powerops';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, REPO_ROOT, sleep, startSim } from './helpers/native-env';

const FAKE_INIT_SOURCE = path.join(REPO_ROOT, 'test', 'fixtures', 'power', 'fake-init.c');
const FAKE_INIT_DIR = path.join(REPO_ROOT, 'build', 'power-test');
const VMTOOLSD = path.join(REPO_ROOT, 'bin', 'vmtoolsd');

/** A fake system tree: / with the files the detection reads, and a /proc. */
function fakeSystem(
  base: string,
  o: { comm: string; exe: string; pidNs?: number; dockerenv?: boolean; runSystemd?: boolean; systemctl?: string; cgroup?: string },
): { root: string; proc: string } {
  const root = path.join(base, 'root');
  const proc = path.join(base, 'proc');
  fs.mkdirSync(path.join(proc, '1'), { recursive: true });
  fs.mkdirSync(path.join(proc, 'self', 'ns'), { recursive: true });
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(proc, '1', 'comm'), `${o.comm}\n`);
  fs.symlinkSync(o.exe, path.join(proc, '1', 'exe'));
  fs.symlinkSync(`pid:[${o.pidNs ?? INITIAL_PID_NS_INODE}]`, path.join(proc, 'self', 'ns', 'pid'));
  fs.writeFileSync(path.join(proc, 'self', 'cgroup'), o.cgroup ?? '0::/\n');
  if (o.dockerenv) fs.writeFileSync(path.join(root, '.dockerenv'), '');
  if (o.runSystemd) fs.mkdirSync(path.join(root, 'run', 'systemd', 'system'), { recursive: true });
  if (o.systemctl !== undefined) {
    fs.mkdirSync(path.join(root, 'usr', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr', 'bin', 'systemctl'), o.systemctl, { mode: 0o755 });
  }
  return { root, proc };
}

describe('powerOps backends: detection and choice (fake /proc and /)', () => {
  let work: string;
  let n = 0;
  const next = (): string => path.join(work, String(n++));
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-power-be-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('detects the init from /proc/1/comm and /proc/1/exe', () => {
    const cases: Array<[string, string, string]> = [
      ['systemd', '/usr/lib/systemd/systemd', 'systemd'],
      ['init', '/bin/busybox', 'busybox'],
      ['init', '/sbin/init', 'sysvinit'],
      ['tini', '/usr/bin/tini', 'unknown'],
      ['node', '/usr/bin/node', 'unknown'],
    ];
    for (const [comm, exe, kind] of cases) {
      const f = fakeSystem(next(), { comm, exe });
      assert.equal(detectInit(f.proc).kind, kind, `${comm} ${exe}`);
    }
  });

  it('detects containers (/.dockerenv, $container, cgroup) and the host PID namespace', () => {
    let f = fakeSystem(next(), { comm: 'systemd', exe: '/lib/systemd/systemd' });
    assert.deepEqual(detectContainer(f.root, f.proc, {}), { container: false, evidence: '', hostPidNamespace: true });
    f = fakeSystem(next(), { comm: 'tini', exe: '/tini', dockerenv: true, pidNs: 4026532000 });
    assert.deepEqual(detectContainer(f.root, f.proc, {}), { container: true, evidence: '/.dockerenv', hostPidNamespace: false });
    assert.equal(detectContainer(fakeSystem(next(), { comm: 'x', exe: '/x' }).root, f.proc, { container: 'podman' }).evidence, 'container=podman');
    const k = fakeSystem(next(), { comm: 'x', exe: '/x', cgroup: '0::/kubepods/besteffort/pod1\n' });
    assert.equal(detectContainer(k.root, k.proc, {}).evidence, 'cgroup kubepods');
  });

  it('auto, host with systemd: the systemd backend (systemctl poweroff|reboot -i, SYSTEMD_IGNORE_CHROOT=1)', async () => {
    const base = next();
    const rec = path.join(base, 'systemctl.log');
    const f = fakeSystem(base, {
      comm: 'systemd', exe: '/lib/systemd/systemd', runSystemd: true,
      systemctl: `#!/bin/sh\necho "$* SYSTEMD_IGNORE_CHROOT=$SYSTEMD_IGNORE_CHROOT" >> ${rec}\n`,
    });
    const c = chooseBackend({ backend: 'auto' }, { simulator: false, root: f.root, procDir: f.proc, env: {} });
    assert.ok(c.backend instanceof SystemdBackend, c.reason);
    assert.match(c.reason, /^auto: systemd \(\/run\/systemd\/system present, .*not in a container$/);
    assert.deepEqual(await c.backend.halt(), { ok: true, why: `ran ${f.root}/usr/bin/systemctl poweroff -i` });
    assert.equal((await c.backend.reboot()).ok, true);
    assert.deepEqual(fs.readFileSync(rec, 'utf8').trim().split('\n'), ['poweroff -i SYSTEMD_IGNORE_CHROOT=1', 'reboot -i SYSTEMD_IGNORE_CHROOT=1']);
  });

  it('auto, container with the host\'s /run/systemd bind-mounted (own PID namespace): systemd through the stub systemctl', async () => {
    const base = next();
    const rec = path.join(base, 'systemctl.log');
    const f = fakeSystem(base, {
      comm: 'vmtoolsd', exe: '/usr/bin/node', pidNs: 4026532999, dockerenv: true, runSystemd: true,
      systemctl: `#!/bin/sh\necho "$*" >> ${rec}\n`,
    });
    const c = chooseBackend({ backend: 'auto' }, { simulator: false, root: f.root, procDir: f.proc, env: {} });
    assert.ok(c.backend instanceof SystemdBackend, c.reason);
    assert.match(c.reason, /in a container \(\/\.dockerenv, own PID namespace\)/);
    assert.equal((await c.backend.halt()).ok, true);
    assert.equal(fs.readFileSync(rec, 'utf8'), 'poweroff -i\n');
  });

  it('auto without /run/systemd: init-signal when PID 1 is the host\'s systemd or busybox init, else shutdown', () => {
    const choose = (o: Parameters<typeof fakeSystem>[1]): string => {
      const f = fakeSystem(next(), o);
      const c = chooseBackend({ backend: 'auto' }, { simulator: false, root: f.root, procDir: f.proc, env: {} });
      return `${c.backend.name}: ${c.reason}`;
    };
    assert.match(choose({ comm: 'systemd', exe: '/lib/systemd/systemd' }), /^init-signal: auto: init-signal \(PID 1 is systemd\), not in a container$/);
    assert.match(choose({ comm: 'init', exe: '/bin/busybox', dockerenv: true }), /^init-signal: .*PID 1 is busybox.*host PID namespace/); // --pid=host
    assert.match(choose({ comm: 'init', exe: '/sbin/init' }), /^shutdown: auto: shutdown \(PID 1 is init, sysvinit\)/);
    // A container with its own PID namespace: PID 1 is the container's, never signalled; a warning says what to do.
    assert.match(
      choose({ comm: 'systemd', exe: '/lib/systemd/systemd', dockerenv: true, pidNs: 4026532111 }),
      /^shutdown: .*own PID namespace\).*warning: .*--pid=host or bind-mount \/run\/systemd$/,
    );
  });

  it('InitSignalBackend: systemd SIGRTMIN+4/+5 (38/39), busybox SIGUSR2/SIGTERM (not SIGTERM for poweroff: linuxkit#3480); sysvinit and others fail', async () => {
    const sent: Array<[number, number]> = [];
    const kill = (pid: number, sig: number): void => void sent.push([pid, sig]);
    const b = (comm: string, exe: string): InitSignalBackend => new InitSignalBackend(fakeSystem(next(), { comm, exe }).proc, kill);
    assert.equal((await b('systemd', '/lib/systemd/systemd').halt()).ok, true);
    assert.equal((await b('systemd', '/lib/systemd/systemd').reboot()).ok, true);
    const bb = b('init', '/bin/busybox');
    assert.match((await bb.halt()).why, /^sent SIGUSR2 \(12\) to PID 1 \(busybox/);
    assert.equal((await bb.reboot()).ok, true);
    assert.deepEqual(sent, [[1, 38], [1, 39], [1, 12], [1, 15]]);
    const sysv = await b('init', '/sbin/init').halt();
    assert.equal(sysv.ok, false);
    assert.match(sysv.why, /sysvinit, which has no power-off signal/);
    assert.equal((await b('tini', '/tini').reboot()).ok, false);
    assert.equal(sent.length, 4);
    const eperm = new InitSignalBackend(fakeSystem(next(), { comm: 'systemd', exe: '/lib/systemd/systemd' }).proc, () => {
      throw Object.assign(new Error('kill EPERM'), { code: 'EPERM' });
    });
    assert.deepEqual(await eperm.halt(), { ok: false, why: 'cannot send SIGRTMIN+4 to PID 1 (systemd): EPERM' });
  });

  it('simulator mode: auto = record; real backends refused unless the test vouched for them', () => {
    const own = pidNamespaceInode()!;
    const refused = (b: 'auto' | 'shutdown' | 'systemd' | 'init-signal', env: NodeJS.ProcessEnv, systemctl?: string): string => {
      const c = chooseBackend({ backend: b, systemctl }, { simulator: true, env });
      assert.ok(c.backend instanceof RefusedBackend, `${b}: ${c.reason}`);
      return c.reason;
    };
    assert.equal(chooseBackend({ backend: 'auto' }, { simulator: true, env: { VMTOOLSD_POWER_RECORD: '/tmp/x' } }).backend.name, 'record');
    assert.match(refused('auto', {}), /no real halt\/reboot backend is ever chosen automatically/);
    assert.match(refused('shutdown', {}), /\/sbin\/shutdown.* not vouched for as a stub/);
    assert.match(refused('systemd', { VMTOOLSD_POWER_STUBS: '/elsewhere' }, '/usr/bin/systemctl'), /\/usr\/bin\/systemctl not vouched/);
    assert.match(refused('init-signal', {}), /VMTOOLSD_POWER_OUTER_PIDNS/);
    // Our own PID namespace (the one this test, and this machine's PID 1 as far as we can tell, live in) is refused.
    assert.match(refused('init-signal', { VMTOOLSD_POWER_OUTER_PIDNS: String(own) }), /PID 1 here is this machine's/);
    assert.match(refused('init-signal', { VMTOOLSD_POWER_OUTER_PIDNS: '12345' }), own === INITIAL_PID_NS_INODE ? /this machine's/ : /./);
    assert.equal(chooseBackend({ backend: 'record' }, { simulator: true, env: {} }).backend.name, 'refused');
  });
});

// -----------------------------------------------------------------------------

/** Builds the fake init under the name it pretends to be (comm and exe basename). */
function buildFakeInit(name: 'systemd' | 'busybox' | 'init'): string {
  const out = path.join(FAKE_INIT_DIR, name, name);
  const src = fs.statSync(FAKE_INIT_SOURCE);
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= src.mtimeMs) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, FAKE_INIT_SOURCE], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot compile the fake init: ${r.stderr}`);
  return out;
}

describeUnderShim(__filename, 'bin/vmtoolsd in a PID namespace with a recording PID 1 (init-signal backend)', () => {
  let sim: SimHandle;
  let dir: string;
  before(async function () {
    if (process.getuid?.() !== 0) throw new Error('needs root for unshare --pid --mount-proc');
    sim = await startSim();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-power-ns-'));
  });
  after(async () => {
    await sim?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function runUnder(name: 'systemd' | 'busybox' | 'init', ops: string[]): Promise<{ signals: string[]; rpc: string[]; output: string }> {
    const init = buildFakeInit(name);
    const log = path.join(dir, `${name}.log`);
    const conf = path.join(dir, `${name}.conf`);
    fs.writeFileSync(conf, '[logging]\nvmsvc.level = info\n[powerops]\nbackend = init-signal\npoweroff-script =\n');
    const env = {
      ...process.env,
      ...sim.env({ preload: true }),
      // The test's own PID namespace: the daemon refuses to signal a PID 1 that lives there.
      VMTOOLSD_POWER_OUTER_PIDNS: String(pidNamespaceInode()),
    };
    const child: ChildProcess = spawn(
      'unshare',
      ['--pid', '--fork', '--mount-proc', '--kill-child', '--', init, '--log', log, '--', process.execPath, VMTOOLSD, '-c', conf],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 15000 })).toString(), 'OK ATR toolbox');
      await sim.client.clearRpcLog();
      for (const op of ops) {
        assert.equal((await sim.client.sendTclo(op, { timeoutMs: 5000 })).toString(), 'OK ', `${op}\n${output}`);
        const end = Date.now() + 5000;
        for (;;) {
          const rpc = (await sim.client.getRpcLog()).filter((e) => e.proto === 'RPCI' && e.request?.toString('latin1').startsWith('log '));
          if (rpc.length >= ops.indexOf(op) + 1) break;
          if (Date.now() > end) throw new Error(`no result for ${op}:\n${output}`);
          await sleep(50);
        }
      }
      await sleep(100);
      const rpc = (await sim.client.getRpcLog()).filter((e) => e.proto === 'RPCI' && e.request).map((e) => e.request!.toString('latin1'));
      const signals = fs.readFileSync(log, 'utf8').trim().split('\n').filter((l) => l.startsWith('signal ')).map((l) => l.replace(/ from \d+$/, ''));
      return { signals, rpc: rpc.filter((r) => /^(tools\.os\.statechange|log )/.test(r)), output };
    } finally {
      child.kill('SIGKILL'); // --kill-child: the fake init and the daemon go with it
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    }
  }

  it('PID 1 = systemd: OS_Halt → SIGRTMIN+4 (38), OS_Reboot → SIGRTMIN+5 (39), status 1 each', async function () {
    this.timeout(40000);
    const r = await runUnder('systemd', ['OS_Halt', 'OS_Reboot']);
    assert.deepEqual(r.signals, ['signal 38', 'signal 39'], r.output);
    assert.deepEqual(r.rpc, ['tools.os.statechange.status 1 1\0', 'log Initiating halt.\0', 'tools.os.statechange.status 1 2\0', 'log Initiating reboot.\0']);
    assert.match(r.output, /halt: sent SIGRTMIN\+4 \(38\) to PID 1 \(systemd/);
  });

  it('PID 1 = busybox init: OS_Halt → SIGUSR2 (12, poweroff, not SIGTERM), OS_Reboot → SIGTERM (15)', async function () {
    this.timeout(40000);
    const r = await runUnder('busybox', ['OS_Halt', 'OS_Reboot']);
    assert.deepEqual(r.signals, ['signal 12', 'signal 15'], r.output);
    assert.deepEqual(r.rpc, ['tools.os.statechange.status 1 1\0', 'log Initiating halt.\0', 'tools.os.statechange.status 1 2\0', 'log Initiating reboot.\0']);
  });

  it('PID 1 = sysvinit: no signal is sent; status 0 and the reason in vmware.log', async function () {
    this.timeout(40000);
    const r = await runUnder('init', ['OS_Halt']);
    assert.deepEqual(r.signals, [], r.output);
    assert.equal(r.rpc[0], 'tools.os.statechange.status 0 1\0');
    assert.match(r.rpc[1], /^log Unable to initiate halt: PID 1 is init .*sysvinit, which has no power-off signal/);
  });
});
