/**
 * Layer 9: power operations (issue 4) and guest customization (issue 8)
 * from inside the container image, end to end: the VMX simulator sends
 * OS_Halt, OS_Reboot and deployPkg.begin/deploy to the image's own
 * /usr/bin/vmtoolsd run with runc, with tools.conf leaving the power backend
 * at `auto` and `[deployPkg] target-root` unset, as on a container host.
 *
 *  - "systemd host": a fake /run/systemd (with system/) is bound where the
 *    run line binds the host's, and a stub systemctl over the image's
 *    /usr/bin/systemctl (vouched for in VMTOOLSD_POWER_STUBS); a temporary
 *    networkd-shaped root is bound at /host. auto must pick systemd, the
 *    stub must get `poweroff -i` / `reboot -i` with SYSTEMD_IGNORE_CHROOT=1,
 *    and customization must write into /host (the image's
 *    VMTOOLSD_DEPLOYPKG_TARGET_ROOT) and reboot through the same stub.
 *  - "busybox init" (LinuxKit): the container's PID 1 is the recording fake
 *    init of test/fixtures/power/fake-init.c compiled as `busybox` and the
 *    daemon its child; auto must pick init-signal, and PID 1 must get
 *    SIGUSR2 for halt (power off, not SIGTERM: linuxkit#3480) and SIGTERM
 *    for reboot. Then the same without CAP_SYS_PTRACE while PID 1 holds a
 *    capability the daemon lacks (LinuxKit's real PID 1 holds all): the
 *    init cannot be identified, no signal is sent and the host gets
 *    status 0 — why the LinuxKit entry grants CAP_SYS_PTRACE.
 *
 * Safety: every container has its OWN pid, net, ipc, uts and mount
 * namespaces, a read-only root, at most five capabilities and
 * no_new_privileges. Nothing of this machine's /run/systemd or /run/dbus is
 * bound; "PID 1" is the fake init of the container's own PID namespace (a
 * signal cannot leave it); systemctl is a shell stub writing a line.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { targetRootFromEnv, TARGET_ROOT_ENV } from '../src/daemon/deployPkgService';
import { chooseBackend, pidNamespaceInode, RefusedBackend, SystemdBackend } from '../src/services/powerops';
import type { SimLogEntry } from '../src/sim/control';
import { REPO_ROOT, SHIM_LIBRARY, SimHandle, startSimulator } from '../src/sim/harness';
import { CUST_STATIC, makePackage, makeTargetRoot } from './helpers/deploypkg';
import { cleanEnv, run, which } from './helpers/host-commands';
import { isolateFromThisMachine, OciMount, SHIM_IN_CONTAINER, SIM_DIR_IN_CONTAINER } from './helpers/oci-runtime';
import { sleep } from './helpers/native-env';

const BUILD_SCRIPT = path.join(REPO_ROOT, 'container', 'build-image.sh');
const ARCHIVE = path.join(REPO_ROOT, '.cache', 'container', 'out', 'vmtoolsd-node.oci.tar');
const FAKE_INIT_SOURCE = path.join(REPO_ROOT, 'test', 'fixtures', 'power', 'fake-init.c');
const REC_IN_CONTAINER = '/run/vmtoolsd-rec';
const INIT_IN_CONTAINER = '/run/vmtoolsd-init/busybox';
const DEPLOY_LOG = '/var/log/vmware-imc/toolsDeployPkg.log';

/** The fake init, statically linked (the image's glibc may be older than this machine's), named busybox. */
function buildStaticBusybox(): string {
  const out = path.join(REPO_ROOT, 'build', 'power-test', 'static', 'busybox');
  if (fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(FAKE_INIT_SOURCE).mtimeMs) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  run('cc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, FAKE_INIT_SOURCE]);
  return out;
}

interface ContainerSpec {
  name: string;
  args: string[];
  env: string[];
  caps: string[];
  mounts: OciMount[];
}

/** A runc container on the shared unpacked image (read-only root) with its own namespaces. */
class TestContainer {
  output = '';
  child?: ChildProcess;
  constructor(readonly runtime: string, readonly id: string, readonly bundle: string) {}
  static create(runtime: string, work: string, base: Record<string, any>, rootfs: string, spec: ContainerSpec): TestContainer {
    const bundle = path.join(work, `bundle-${spec.name}`);
    fs.mkdirSync(bundle);
    const cfg = structuredClone(base);
    cfg.process.args = spec.args;
    cfg.process.env = [...(cfg.process.env as string[]).filter((e) => !/^(LD_PRELOAD|VMTOOLSD_(SIM|POWER|ASSUME))/.test(e)), ...spec.env];
    cfg.process.terminal = false;
    cfg.process.noNewPrivileges = true;
    cfg.process.capabilities = { bounding: spec.caps, effective: spec.caps, permitted: spec.caps, inheritable: [], ambient: [] };
    cfg.hostname = `vmtoolsd-${spec.name}`;
    cfg.root = { path: rootfs, readonly: true };
    const mounts = (cfg.mounts as OciMount[]).filter((m) => m.type !== 'cgroup' && !['/run', '/tmp', '/var/log'].includes(m.destination));
    mounts.push(
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=16m'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=16m'] },
      { destination: '/var/log', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=16m'] },
      { destination: SHIM_IN_CONTAINER, type: 'bind', source: SHIM_LIBRARY, options: ['bind', 'ro'] },
      ...spec.mounts,
    );
    cfg.mounts = mounts;
    isolateFromThisMachine(cfg);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(cfg, null, 2));
    return new TestContainer(runtime, `vmtoolsd-pw-${spec.name}-${process.pid}`, bundle);
  }
  start(): void {
    const args = this.runtime.endsWith('crun') ? ['--cgroup-manager=disabled'] : [];
    this.child = spawn(this.runtime, [...args, 'run', '--bundle', this.bundle, this.id], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
  }
  /** The container's init process as this machine sees it. */
  statePid(): number {
    return JSON.parse(run(this.runtime, ['state', this.id])).pid as number;
  }
  async stop(): Promise<void> {
    spawnSync(this.runtime, ['kill', this.id, 'KILL'], { env: cleanEnv() });
    const c = this.child;
    if (c && c.exitCode === null && c.signalCode === null) await new Promise((r) => { c.once('exit', r); setTimeout(r, 5000); });
    spawnSync(this.runtime, ['delete', '--force', this.id], { env: cleanEnv() });
  }
}

function rpci(log: SimLogEntry[]): string[] {
  return log.filter((e) => e.proto === 'RPCI' && e.request).map((e) => e.request!.toString('latin1'));
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms: number, context: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await sleep(100);
  }
}

/** Sends OS_Halt or OS_Reboot and returns the statechange status line that follows. */
async function powerOp(sim: SimHandle, ct: TestContainer, op: 'OS_Halt' | 'OS_Reboot'): Promise<string> {
  await sim.client.clearRpcLog();
  assert.equal((await sim.client.sendTclo(op, { timeoutMs: 10_000 })).toString(), 'OK ', `${op}\n${ct.output}`);
  return waitFor(`${op}'s statechange status`, async () => rpci(await sim.client.getRpcLog()).find((r) => r.startsWith('tools.os.statechange.status ')), 15_000, () => ct.output);
}

/** The tools.conf the LinuxKit entry writes (its `files:` item), indentation removed. */
function linuxkitToolsConf(): string {
  const y = fs.readFileSync(path.join(REPO_ROOT, 'container', 'linuxkit', 'vmtoolsd.yml'), 'utf8');
  const m = /path: etc\/vmware-tools\/tools\.conf\n\s+contents: \|\n((?:\s{6}.*\n|\s*\n)+)/.exec(y);
  assert.ok(m, 'the LinuxKit yml writes etc/vmware-tools/tools.conf');
  return m[1].split('\n').map((l) => l.replace(/^ {6}/, '')).join('\n');
}

describe('container defaults: target root from the environment, auto under the simulator with the test\'s stubs', function () {
  it(`${TARGET_ROOT_ENV}: the default of [deployPkg] target-root; never the real / under the simulator`, function () {
    assert.deepEqual(targetRootFromEnv({}, false), {});
    assert.deepEqual(targetRootFromEnv({ [TARGET_ROOT_ENV]: ' ' }, true), {});
    assert.deepEqual(targetRootFromEnv({ [TARGET_ROOT_ENV]: '/host' }, false), { root: '/host' });
    assert.deepEqual(targetRootFromEnv({ [TARGET_ROOT_ENV]: '/host/' }, true), { root: '/host' });
    assert.deepEqual(targetRootFromEnv({ [TARGET_ROOT_ENV]: '/' }, false), { root: '/' });
    assert.match(targetRootFromEnv({ [TARGET_ROOT_ENV]: '/host/..' }, true).ignored ?? '', /ignored under the VMX simulator/);
    assert.match(targetRootFromEnv({ [TARGET_ROOT_ENV]: 'host' }, false).ignored ?? '', /not an absolute path/);
  });

  it('simulator + auto: the real choice only when the test vouched for it, else refused (never a fallback)', function () {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-ct-choice-'));
    try {
      const root = path.join(base, 'root');
      fs.mkdirSync(path.join(root, 'run', 'systemd', 'system'), { recursive: true });
      fs.mkdirSync(path.join(root, 'usr', 'bin'), { recursive: true });
      const systemctl = path.join(root, 'usr', 'bin', 'systemctl');
      fs.writeFileSync(systemctl, '#!/bin/sh\n', { mode: 0o755 });
      const choose = (env: NodeJS.ProcessEnv) => chooseBackend({ backend: 'auto' }, { simulator: true, root, env });
      const ok = choose({ VMTOOLSD_POWER_STUBS: systemctl });
      assert.ok(ok.backend instanceof SystemdBackend, ok.reason);
      assert.match(ok.reason, /^simulator mode, vouched for by the test: auto: systemd/);
      const other = choose({ VMTOOLSD_POWER_STUBS: '/elsewhere' });
      assert.ok(other.backend instanceof RefusedBackend);
      assert.match(other.reason, /refusing auto's choice \(systemd\): .*not vouched for/);
      assert.match(choose({}).reason, /no real halt\/reboot backend is ever chosen automatically/);
      assert.equal(choose({ VMTOOLSD_POWER_STUBS: systemctl, VMTOOLSD_POWER_RECORD: path.join(base, 'r') }).backend.name, 'record');
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('container image: power operations and guest customization (runc, simulator)', function () {
  let runtime: string | null = null;
  let work = '';
  let rootfs = '';
  let base: Record<string, any> = {};

  before(function () {
    if (process.platform !== 'linux' || process.arch !== 'x64') this.skip();
    if (typeof process.geteuid !== 'function' || process.geteuid() !== 0) this.skip();
    this.timeout(30 * 60_000);
    runtime = which('runc') ?? which('crun');
    assert.ok(runtime, 'runc or crun is missing (scripts/setup.sh installs runc)');
    assert.ok(fs.existsSync(SHIM_LIBRARY), 'trap shim not built');
    run('bash', [BUILD_SCRIPT, '--if-stale'], 25 * 60_000);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-ct-power-'));
    const layout = path.join(work, 'oci');
    fs.mkdirSync(layout);
    run('tar', ['-C', layout, '-xf', ARCHIVE]);
    run('umoci', ['unpack', '--image', `${layout}:latest`, path.join(work, 'bundle')], 10 * 60_000);
    rootfs = path.join(work, 'bundle', 'rootfs');
    base = JSON.parse(fs.readFileSync(path.join(work, 'bundle', 'config.json'), 'utf8'));
  });

  after(function () {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the image defaults customization to /host and has what every power backend needs', function () {
    assert.ok((base.process.env as string[]).includes('VMTOOLSD_DEPLOYPKG_TARGET_ROOT=/host'), String(base.process.env));
    assert.ok((base.process.env as string[]).includes('SYSTEMD_IGNORE_CHROOT=1'));
    // systemd: systemctl; shutdown: /sbin/shutdown (systemd-sysv); logind and init-signal: nothing (Node only).
    for (const p of ['usr/bin/systemctl', 'sbin/shutdown', 'host', 'run/systemd']) assert.ok(fs.existsSync(path.join(rootfs, p)), `${p} in the image`);
  });

  describe('a systemd host: fake /run/systemd, stub systemctl, a temporary host root at /host', function () {
    let sim: SimHandle | undefined;
    let ct: TestContainer;
    let dir = '';
    let hostRoot = '';
    const calls = (): string[] => {
      const f = path.join(dir, 'rec', 'systemctl.log');
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
    };

    before(async function () {
      this.timeout(120_000);
      dir = path.join(work, 'systemd');
      for (const d of ['sim', 'rec', 'conf', 'run-systemd/system', 'stub']) fs.mkdirSync(path.join(dir, d), { recursive: true });
      fs.chmodSync(path.join(dir, 'rec'), 0o777);
      // Production's tools.conf on a container host: nothing about power or target-root.
      fs.writeFileSync(path.join(dir, 'conf', 'tools.conf'), '[logging]\nvmsvc.level = info\n');
      const stub = path.join(dir, 'stub', 'systemctl');
      fs.writeFileSync(stub, `#!/bin/sh\necho "$* SYSTEMD_IGNORE_CHROOT=\${SYSTEMD_IGNORE_CHROOT:-unset}" >> ${REC_IN_CONTAINER}/systemctl.log\n`, { mode: 0o755 });
      hostRoot = makeTargetRoot('networkd');
      sim = await startSimulator({ trapSocket: path.join(dir, 'sim', 'trap.sock') });
      ct = TestContainer.create(runtime!, work, base, rootfs, {
        name: 'systemd',
        args: ['/usr/bin/vmtoolsd', '--log-level', 'info'],
        env: [`LD_PRELOAD=${SHIM_IN_CONTAINER}`, `VMTOOLSD_SIM_SOCKET=${SIM_DIR_IN_CONTAINER}/trap.sock`, 'VMTOOLSD_ASSUME_VMWARE=1',
          // The test's word that the systemctl auto finds is a stub (simulator-mode rule).
          'VMTOOLSD_POWER_STUBS=/usr/bin/systemctl'],
        caps: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_CHOWN', 'CAP_FOWNER'],
        mounts: [
          { destination: SIM_DIR_IN_CONTAINER, type: 'bind', source: path.join(dir, 'sim'), options: ['bind', 'rw'] },
          { destination: '/etc/vmware-tools', type: 'bind', source: path.join(dir, 'conf'), options: ['bind', 'ro'] },
          // Where the run line binds the host's /run/systemd: a fake one (never this machine's).
          { destination: '/run/systemd', type: 'bind', source: path.join(dir, 'run-systemd'), options: ['bind', 'ro'] },
          { destination: '/usr/bin/systemctl', type: 'bind', source: stub, options: ['bind', 'ro'] },
          { destination: REC_IN_CONTAINER, type: 'bind', source: path.join(dir, 'rec'), options: ['bind', 'rw'] },
          { destination: '/host', type: 'bind', source: hostRoot, options: ['rbind', 'rw'] },
        ],
      });
      ct.start();
      const reply = await sim.client.sendTclo('reset', { timeoutMs: 60_000 }).catch((e: Error) => {
        throw new Error(`${e.message}\ncontainer output:\n${ct.output}`);
      });
      assert.equal(reply.toString(), 'OK ATR toolbox', ct.output);
    });

    after(async function () {
      this.timeout(60_000);
      await ct?.stop();
      await sim?.stop();
      if (hostRoot) fs.rmSync(hostRoot, { recursive: true, force: true });
    });

    it('auto picks the systemd backend (the bound /run/systemd/system and the image\'s systemctl)', function () {
      assert.match(ct.output, /power operations: halt\/reboot backend systemd.*auto: systemd \(\/run\/systemd\/system present, \/usr\/bin\/systemctl\)/, ct.output);
      // No tools.conf key: /host comes from the image's environment.
      assert.doesNotMatch(ct.output, /customizing the scratch root/);
      assert.ok(fs.existsSync(path.join(hostRoot, 'usr/lib/vmware-tools/plugins/vmsvc/libdeployPkgPlugin.so')), 'cloud-init\'s plugin marker in the host root');
    });

    it('OS_Halt: systemctl poweroff -i with SYSTEMD_IGNORE_CHROOT=1; the host gets status 1 1', async function () {
      this.timeout(60_000);
      assert.equal(await powerOp(sim!, ct, 'OS_Halt'), 'tools.os.statechange.status 1 1\0');
      await waitFor('the stub\'s poweroff', () => (calls().length >= 1 ? true : undefined), 10_000, () => ct.output);
      assert.deepEqual(calls(), ['poweroff -i SYSTEMD_IGNORE_CHROOT=1']);
    });

    it('OS_Reboot: systemctl reboot -i with SYSTEMD_IGNORE_CHROOT=1; the host gets status 1 2', async function () {
      this.timeout(60_000);
      assert.equal(await powerOp(sim!, ct, 'OS_Reboot'), 'tools.os.statechange.status 1 2\0');
      await waitFor('the stub\'s reboot', () => (calls().length >= 2 ? true : undefined), 10_000, () => ct.output);
      assert.deepEqual(calls(), ['poweroff -i SYSTEMD_IGNORE_CHROOT=1', 'reboot -i SYSTEMD_IGNORE_CHROOT=1']);
    });

    it('deployPkg: the package lands in /host, the host\'s files are customized, the reboot goes through systemctl', async function () {
      this.timeout(90_000);
      await sim!.client.clearRpcLog();
      const begin = (await sim!.client.sendTclo('deployPkg.begin', { timeoutMs: 10_000 })).toString();
      assert.match(begin, /^OK \/host\/.*\/[0-9a-f]{8}\/$/, `${begin}\n${ct.output}`);
      // Standing in for the host's copy of the package (customization.md §2.3): /host is hostRoot here.
      const dirInContainer = begin.slice(3);
      const pkgInContainer = path.posix.join(dirInContainer, 'imc.pkg');
      const pkgOnHost = path.join(hostRoot, path.posix.relative('/host', pkgInContainer));
      fs.writeFileSync(pkgOnHost, makePackage({ files: [{ name: 'cust.cfg', data: CUST_STATIC }, { name: 'scripts/Customize.pl', data: 'exit 0;' }] }));
      assert.equal((await sim!.client.sendTclo(`deployPkg.deploy ${pkgInContainer}`, { timeoutMs: 10_000 })).toString(), 'OK ');
      const states = await waitFor('deployPkg state 5 0', async () => {
        const s = rpci(await sim!.client.getRpcLog()).filter((r) => r.startsWith('deployPkg.update.state')).map((r) => r.replace(/\0$/, ''));
        return s.some((x) => / 5 0 /.test(x)) || s.some((x) => / 3 [1-9]/.test(x)) ? s : undefined;
      }, 60_000, () => ct.output);
      assert.deepEqual(states, ['deployPkg.update.state 3', `deployPkg.update.state 4 0 ${DEPLOY_LOG}`, `deployPkg.update.state 5 0 ${DEPLOY_LOG}`], ct.output);
      assert.equal(fs.readFileSync(path.join(hostRoot, 'etc/hostname'), 'utf8'), 'web01\n');
      assert.match(fs.readFileSync(path.join(hostRoot, 'etc/systemd/network/05-vmware-NIC1.network'), 'utf8'), /Address=10\.20\.30\.40\/24/);
      assert.ok(fs.existsSync(path.join(hostRoot, DEPLOY_LOG)), 'the customization log is the host\'s');
      await waitFor('the customization\'s reboot', () => (calls().length >= 3 ? true : undefined), 30_000, () => ct.output);
      assert.deepEqual(calls().slice(2), ['reboot -i SYSTEMD_IGNORE_CHROOT=1']);
      // The worker removes the package (and begin's directory) once the engine is done.
      await waitFor('the package\'s removal', () => (fs.existsSync(pkgOnHost) ? undefined : true), 10_000, () => ct.output);
      assert.equal(fs.existsSync(path.dirname(pkgOnHost)), false, 'begin\'s directory removed');
    });

    it('nothing of this machine was reached: the container has its own PID namespace', function () {
      const pid = ct.statePid();
      assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'));
    });
  });

  describe('LinuxKit: busybox init as PID 1 of the container, the daemon its child', function () {
    let busybox = '';
    before(function () {
      this.timeout(120_000);
      busybox = buildStaticBusybox();
    });

    /**
     * Runs the daemon under the fake busybox init; `dropPtrace` runs it
     * without CAP_SYS_PTRACE. PID 1 always keeps CAP_NET_BIND_SERVICE,
     * which the daemon lacks, as LinuxKit's init holds every capability
     * the service does not.
     */
    async function underBusybox(name: string, toolsConf: string, dropPtrace: boolean, ops: Array<'OS_Halt' | 'OS_Reboot'>): Promise<{ statuses: string[]; signals: string[]; ct: TestContainer; rpc: string[] }> {
      const dir = path.join(work, name);
      for (const d of ['sim', 'rec', 'conf']) fs.mkdirSync(path.join(dir, d), { recursive: true });
      fs.chmodSync(path.join(dir, 'rec'), 0o777);
      fs.writeFileSync(path.join(dir, 'conf', 'tools.conf'), `[logging]\nvmsvc.level = info\n${toolsConf}`);
      const sim = await startSimulator({ trapSocket: path.join(dir, 'sim', 'trap.sock') });
      const drop = dropPtrace ? '-net_bind_service,-sys_ptrace' : '-net_bind_service';
      const ct = TestContainer.create(runtime!, work, base, rootfs, {
        name,
        args: [INIT_IN_CONTAINER, '--log', `${REC_IN_CONTAINER}/init.log`, '--',
          '/usr/bin/setpriv', `--bounding-set=${drop}`, `--inh-caps=-all`, '--', '/usr/bin/vmtoolsd', '--log-level', 'info'],
        env: [`LD_PRELOAD=${SHIM_IN_CONTAINER}`, `VMTOOLSD_SIM_SOCKET=${SIM_DIR_IN_CONTAINER}/trap.sock`, 'VMTOOLSD_ASSUME_VMWARE=1',
          // The test's own PID namespace: the daemon must not signal a PID 1 living there (simulator-mode rule).
          `VMTOOLSD_POWER_OUTER_PIDNS=${pidNamespaceInode()}`],
        caps: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_PTRACE', 'CAP_SETPCAP'],
        mounts: [
          { destination: SIM_DIR_IN_CONTAINER, type: 'bind', source: path.join(dir, 'sim'), options: ['bind', 'rw'] },
          { destination: '/etc/vmware-tools', type: 'bind', source: path.join(dir, 'conf'), options: ['bind', 'ro'] },
          { destination: INIT_IN_CONTAINER, type: 'bind', source: busybox, options: ['bind', 'ro'] },
          { destination: REC_IN_CONTAINER, type: 'bind', source: path.join(dir, 'rec'), options: ['bind', 'rw'] },
        ],
      });
      try {
        ct.start();
        const reply = await sim.client.sendTclo('reset', { timeoutMs: 60_000 }).catch((e: Error) => {
          throw new Error(`${e.message}\ncontainer output:\n${ct.output}`);
        });
        assert.equal(reply.toString(), 'OK ATR toolbox', ct.output);
        // PID 1 of the container is the fake init, in a PID namespace that is not this machine's.
        const pid = ct.statePid();
        assert.notEqual(fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'));
        assert.equal(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'busybox');
        const statuses: string[] = [];
        const rpc: string[] = [];
        for (const op of ops) {
          statuses.push(await powerOp(sim, ct, op));
          await sleep(300);
          rpc.push(...rpci(await sim.client.getRpcLog()));
        }
        await sleep(300);
        const log = fs.readFileSync(path.join(dir, 'rec', 'init.log'), 'utf8');
        // SIGURG (23) is not the daemon's: the Go runtime of `runc init`, which
        // execs the fake init, uses it to preempt its threads, and a pending
        // one survives the exec. Every other signal is kept.
        const signals = log.trim().split('\n').filter((l) => l.startsWith('signal ') && !l.startsWith('signal 23 ')).map((l) => l.replace(/ from \d+$/, ''));
        if (process.env.VMTOOLSD_TEST_DEBUG) console.log(log);
        return { statuses, signals, ct, rpc };
      } finally {
        await ct.stop();
        await sim.stop();
      }
    }

    it('auto picks init-signal; OS_Halt → SIGUSR2 (power off, not SIGTERM), OS_Reboot → SIGTERM; status 1 each', async function () {
      this.timeout(180_000);
      const r = await underBusybox('busybox', '', false, ['OS_Halt', 'OS_Reboot']);
      assert.match(r.ct.output, /halt\/reboot backend init-signal.*auto: init-signal \(PID 1 is busybox\)/, r.ct.output);
      assert.deepEqual(r.statuses, ['tools.os.statechange.status 1 1\0', 'tools.os.statechange.status 1 2\0'], r.ct.output);
      assert.deepEqual(r.signals, ['signal 12', 'signal 15'], r.ct.output);
      assert.match(r.ct.output, /sent SIGUSR2 \(12\) to PID 1 \(busybox/);
    });

    it('with the LinuxKit entry\'s tools.conf (backend = init-signal, customization off): OS_Halt → SIGUSR2', async function () {
      this.timeout(180_000);
      const r = await underBusybox('busybox-lk', linuxkitToolsConf(), false, ['OS_Halt']);
      assert.match(r.ct.output, /halt\/reboot backend init-signal/, r.ct.output);
      assert.deepEqual(r.statuses, ['tools.os.statechange.status 1 1\0'], r.ct.output);
      assert.deepEqual(r.signals, ['signal 12'], r.ct.output);
    });

    it('without CAP_SYS_PTRACE the init cannot be identified: no signal, status 0 and the reason (why LinuxKit grants it)', async function () {
      this.timeout(180_000);
      const r = await underBusybox('busybox-noptrace', linuxkitToolsConf(), true, ['OS_Halt']);
      assert.deepEqual(r.signals, [], r.ct.output);
      assert.deepEqual(r.statuses, ['tools.os.statechange.status 0 1\0'], r.ct.output);
      assert.ok(r.rpc.some((l) => /^log Unable to initiate halt: .*CAP_SYS_PTRACE/.test(l)), r.rpc.join(' | '));
    });

    it('the LinuxKit entry and label grant CAP_SYS_PTRACE and CAP_KILL, with pid: host and init-signal', function () {
      const y = fs.readFileSync(path.join(REPO_ROOT, 'container', 'linuxkit', 'vmtoolsd.yml'), 'utf8');
      for (const c of ['CAP_SYS_PTRACE', 'CAP_KILL']) assert.match(y, new RegExp(`- ${c}\\b`));
      assert.match(y, /backend = init-signal/);
      const label = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'container', 'linuxkit', 'org.mobyproject.config.json'), 'utf8'));
      assert.ok(label.capabilities.includes('CAP_SYS_PTRACE') && label.capabilities.includes('CAP_KILL'));
      assert.equal(label.pid, 'host');
    });
  });
});
