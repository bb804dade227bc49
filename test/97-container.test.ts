/**
 * Layer 9: the container image. Builds it (or reuses an up-to-date one) with
 * container/build-image.sh, unpacks it with umoci into a private bundle and
 * runs the image's own entry point (/usr/bin/vmtoolsd) with runc (or crun)
 * against the simulator; the handshake and the guest information must come
 * from inside the container.
 *
 * Safety: this container gets its OWN pid, net, ipc, uts and mount
 * namespaces (never the host's, unlike the production run line): it cannot
 * reach this machine's PID 1, systemd or network. It sets no resource limits
 * (runc makes a transient cgroup of its own and removes it at delete; crun
 * runs with --cgroup-manager=disabled, though crun 1.8 refuses hybrid
 * cgroup hierarchies such as this machine's), keeps only three default
 * capabilities and no_new_privileges, and its root file system is read-only. The trap shim is
 * NOT in the image: it is bound in from build/Release for this test only,
 * with the simulator's socket directory.
 *
 * Guest operations run against a scratch "host" account database bound where
 * the run line binds the host's (/etc/passwd, shadow, group, shells, /home):
 * files this test writes, never this machine's accounts. For that the
 * container also keeps CAP_SETUID/CAP_SETGID (vmtoolsd-runas). No quiesce
 * operation is started: nothing is frozen.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SimLogEntry } from '../src/sim/control';
import { REPO_ROOT, SHIM_LIBRARY, SimHandle, startSimulator } from '../src/sim/harness';
import { bodies, buildMessage, Creds, OP, parseReply, relayedCommand, VixReply } from './helpers/vixClient';
import { cleanEnv, run, which } from './helpers/host-commands';
import { isolateFromThisMachine, OciMount, SHIM_IN_CONTAINER, SIM_DIR_IN_CONTAINER } from './helpers/oci-runtime';
import { sleep } from './helpers/native-env';

const BUILD_SCRIPT = path.join(REPO_ROOT, 'container', 'build-image.sh');
const ARCHIVE = path.join(REPO_ROOT, '.cache', 'container', 'out', 'vmtoolsd-node.oci.tar');
const CONTAINER_HOSTNAME = 'vmtoolsd-in-container';

/** The scratch host accounts (guest-ops.md §4: name/password checked by PAM). */
const GUEST = { name: 'vmtguest', uid: 4242, gid: 4242, password: 'Guest-Pw-4242', shell: '/bin/vmtsh' };
const EXTRA_GROUP = { name: 'vmtgrp', gid: 4343 };
/** Its shell, /bin/dash, is in the image's Debian /etc/shells but not in the bound one. */
const NOSHELL = { name: 'vmtdash', uid: 4244, gid: 4244, password: 'Dash-Pw-4244', shell: '/bin/dash' };
/** VIX_E_GUEST_USER_PERMISSIONS, the reference's answer to every bad credential (guest-ops.md §4). */
const VIX_E_GUEST_USER_PERMISSIONS = 3050;
/** vmbackup's capability: tools.capability.features index 36 (VMBACKUP_NVME), as test 64 checks natively. */
const CAP_VMBACKUP_NVME = 36;

/**
 * A "host" account database: the image's files plus the guest-ops users,
 * bound into the container as the run line binds the host's.
 */
function writeHostAccounts(rootfs: string, dir: string): Record<string, string> {
  const img = (f: string): string => fs.readFileSync(path.join(rootfs, 'etc', f), 'utf8').replace(/\n?$/, '\n');
  const hash = (pw: string): string => run('openssl', ['passwd', '-6', '-salt', 'vmtoolsd97', pw]).trim();
  const files: Record<string, string> = {
    passwd: img('passwd') +
      `${GUEST.name}:x:${GUEST.uid}:${GUEST.gid}::/home/${GUEST.name}:${GUEST.shell}\n` +
      `${NOSHELL.name}:x:${NOSHELL.uid}:${NOSHELL.gid}::/home/${NOSHELL.name}:${NOSHELL.shell}\n`,
    shadow: img('shadow') +
      `${GUEST.name}:${hash(GUEST.password)}:19000:0:99999:7:::\n` +
      `${NOSHELL.name}:${hash(NOSHELL.password)}:19000:0:99999:7:::\n`,
    group: img('group') +
      `${GUEST.name}:x:${GUEST.gid}:\n${NOSHELL.name}:x:${NOSHELL.gid}:\n${EXTRA_GROUP.name}:x:${EXTRA_GROUP.gid}:${GUEST.name}\n`,
    // Not the image's Debian list: the guest's shell is here, /bin/dash is not.
    shells: '/bin/sh\n/bin/bash\n/usr/bin/bash\n' + `${GUEST.shell}\n`,
  };
  fs.mkdirSync(dir, { recursive: true });
  const out: Record<string, string> = {};
  for (const [f, text] of Object.entries(files)) {
    out[f] = path.join(dir, f);
    fs.writeFileSync(out[f], text, { mode: f === 'shadow' ? 0o640 : 0o644 });
  }
  out.home = path.join(dir, 'home');
  fs.mkdirSync(out.home, { mode: 0o755 });
  for (const u of [GUEST, NOSHELL]) {
    const h = path.join(out.home, u.name);
    fs.mkdirSync(h, { mode: 0o700 });
    fs.chownSync(h, u.uid, u.gid);
  }
  return out;
}

function rpciText(log: SimLogEntry[]): string[] {
  return log.filter((e) => e.proto === 'RPCI' && e.request).map((e) => e.request!.toString('latin1'));
}

/** The runtime config for this test (see the file comment for why each choice). */
function testConfig(base: Record<string, any>, simDir: string, confDir: string, accounts: Record<string, string>): Record<string, any> {
  const cfg = structuredClone(base);
  const env: string[] = (cfg.process.env as string[]).filter((e) => !e.startsWith('LD_PRELOAD='));
  env.push(
    `LD_PRELOAD=${SHIM_IN_CONTAINER}`,
    `VMTOOLSD_SIM_SOCKET=${SIM_DIR_IN_CONTAINER}/trap.sock`,
    'VMTOOLSD_ASSUME_VMWARE=1',
  );
  cfg.process.env = env;
  cfg.process.args = ['/usr/bin/vmtoolsd', '--log-level', 'info'];
  cfg.process.terminal = false;
  cfg.process.noNewPrivileges = true;
  // vmtoolsd-runas needs setuid/setgid (and initgroups' setgroups) to become the guest user.
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID'];
  cfg.process.capabilities = { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] };
  cfg.hostname = CONTAINER_HOSTNAME;
  cfg.root = { path: 'rootfs', readonly: true };
  const mounts: OciMount[] = (cfg.mounts as OciMount[]).filter(
    (m) => m.type !== 'cgroup' && !['/run', '/tmp', '/var/log'].includes(m.destination),
  );
  mounts.push(
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=16m'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', 'size=16m'] },
    { destination: '/var/log', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755', 'size=16m'] },
    { destination: SHIM_IN_CONTAINER, type: 'bind', source: SHIM_LIBRARY, options: ['bind', 'ro'] },
    { destination: SIM_DIR_IN_CONTAINER, type: 'bind', source: simDir, options: ['bind', 'rw'] },
    { destination: '/etc/vmware-tools', type: 'bind', source: confDir, options: ['bind', 'ro'] },
    // The run line's guest-ops binds, from the scratch "host" accounts.
    ...['passwd', 'shadow', 'group', 'shells'].map((f) => ({ destination: `/etc/${f}`, type: 'bind', source: accounts[f], options: ['bind', 'ro'] })),
    { destination: '/home', type: 'bind', source: accounts.home, options: ['bind', 'rw'] },
  );
  cfg.mounts = mounts;
  isolateFromThisMachine(cfg);
  return cfg;
}

describe('container image (umoci bundle run with runc against the simulator)', function () {
  let runtime: string | null = null;
  let work = '';
  let sim: SimHandle | undefined;
  let child: ChildProcess | undefined;
  let containerId = '';
  let output = '';
  let simDir = '';
  let installLabel = '';
  let accounts: Record<string, string> = {};
  let sentAtRegister: string[] = [];

  const vix = async (opCode: number, creds?: Creds, body?: Buffer): Promise<VixReply> => {
    const reply = await sim!.client.sendTclo(relayedCommand(buildMessage({ opCode, body, creds })), { timeoutMs: 20_000 });
    assert.equal(reply.subarray(0, 3).toString('latin1'), 'OK ', `TCLO reply ${JSON.stringify(reply.toString('latin1'))}\n${output}`);
    return parseReply(reply.subarray(3));
  };

  before(async function () {
    if (process.platform !== 'linux' || process.arch !== 'x64') this.skip();
    if (typeof process.geteuid !== 'function' || process.geteuid() !== 0) this.skip(); // debootstrap, chroot, rootful runtime
    this.timeout(30 * 60_000);
    runtime = which('runc') ?? which('crun');
    assert.ok(runtime, 'runc or crun is missing (scripts/setup.sh installs runc)');
    assert.ok(fs.existsSync(SHIM_LIBRARY), 'trap shim not built');

    // Build the image, or reuse it when it is newer than everything it holds.
    run('bash', [BUILD_SCRIPT, '--if-stale'], 25 * 60_000);
    assert.ok(fs.existsSync(ARCHIVE), `${ARCHIVE} missing after the build`);

    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-container-'));
    const layout = path.join(work, 'oci');
    fs.mkdirSync(layout);
    run('tar', ['-C', layout, '-xf', ARCHIVE]);
    const bundle = path.join(work, 'bundle');
    run('umoci', ['unpack', '--image', `${layout}:latest`, bundle], 10 * 60_000);

    simDir = path.join(work, 'sim');
    fs.mkdirSync(simDir);
    const confDir = path.join(work, 'vmware-tools');
    fs.mkdirSync(confDir);
    fs.writeFileSync(path.join(confDir, 'tools.conf'), '[guestinfo]\npoll-interval = 2\n');
    accounts = writeHostAccounts(path.join(bundle, 'rootfs'), path.join(work, 'host-accounts'));
    const base = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(testConfig(base, simDir, confDir, accounts), null, 2));

    sim = await startSimulator({ trapSocket: path.join(simDir, 'trap.sock') });
    containerId = `vmtoolsd-test-${process.pid}`;
    const args = runtime!.endsWith('crun') ? ['--cgroup-manager=disabled'] : [];
    child = spawn(runtime!, [...args, 'run', '--bundle', bundle, containerId], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  });

  after(async function () {
    this.timeout(60_000);
    if (runtime && containerId) {
      spawnSync(runtime, ['kill', containerId, 'KILL'], { env: cleanEnv() });
      if (child && child.exitCode === null) await new Promise((r) => { child!.once('exit', r); setTimeout(r, 5000); });
      spawnSync(runtime, ['delete', '--force', containerId], { env: cleanEnv() });
    }
    await sim?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the image carries the run line and the documented binds in its labels', function () {
    const layout = path.join(work, 'oci');
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const blob = (d: string): any => JSON.parse(fs.readFileSync(path.join(layout, 'blobs', ...d.split(':')), 'utf8'));
    const manifest = blob(index.manifests[0].digest);
    const config = blob(manifest.config.digest);
    const labels: Record<string, string> = config.config.Labels;
    for (const want of ['--privileged', '--net=host', '--pid=host', '--ipc=host', '--uts=host', '-e SYSTEMD_IGNORE_CHROOT=1',
      '-v /run/systemd:/run/systemd', '-v /:/host', '-v /etc/passwd:/etc/passwd:ro', '-v /etc/shadow:/etc/shadow:ro',
      '-v /etc/group:/etc/group:ro', '-v /etc/shells:/etc/shells:ro', '-v /home:/home',
      '-v /var/log:/var/log', '-v /tmp:/tmp', '-v /etc/vmware-tools:/etc/vmware-tools', '-v /etc/os-release:/etc/os-release:ro']) {
      assert.ok(labels.RUN.includes(want), `RUN label lacks ${want}: ${labels.RUN}`);
    }
    assert.match(labels.INSTALL, /-v \/:\/host .*install-host\.sh install$/);
    // A command, not an entry point: the INSTALL label and `podman run -it <image> bash` replace it.
    assert.deepEqual(config.config.Cmd, ['/usr/bin/vmtoolsd']);
    assert.equal(config.config.Entrypoint ?? null, null);
    installLabel = labels.INSTALL;
    assert.ok((config.config.Env as string[]).includes('SYSTEMD_IGNORE_CHROOT=1'));
    assert.equal(JSON.parse(labels['org.mobyproject.config']).pid, 'host');
  });

  it('the image ships its tools, and no trap shim, simulator or build-machine settings', function () {
    const rootfs = path.join(work, 'bundle', 'rootfs');
    const found = run('find', [rootfs, '-name', '*trap_shim*', '-o', '-path', '*/dist/src/sim', '-o', '-name', 'mocha']).trim();
    assert.equal(found, '');
    for (const p of ['usr/bin/vmtoolsd', 'usr/bin/vmware-rpctool', 'usr/bin/vmware-toolbox-cmd', 'usr/local/bin/node', 'etc/pam.d/vmtoolsd', 'exports/config.json.template']) {
      assert.ok(fs.existsSync(path.join(rootfs, p)), `${p} missing from the image`);
    }
    // The PAM service is the repository's, and the daemon's helpers are where it looks for them.
    assert.equal(fs.readFileSync(path.join(rootfs, 'etc', 'pam.d', 'vmtoolsd'), 'utf8'), fs.readFileSync(path.join(REPO_ROOT, 'pam', 'vmtoolsd'), 'utf8'));
    for (const h of ['vmtoolsd-runas', 'vmtoolsd-freeze-holder']) {
      const st = fs.statSync(path.join(rootfs, 'usr', 'lib', 'vmtoolsd-node', 'build', 'Release', h));
      assert.ok(st.isFile() && (st.mode & 0o111) !== 0, `${h} executable in the image`);
    }
    // bin/ runs the bundles there (bin/entry.js): present, current, with their code caches (tar kept the order of the mtimes).
    const cli = path.join(rootfs, 'usr', 'lib', 'vmtoolsd-node', 'dist', 'src', 'cli');
    for (const e of ['vmtoolsd', 'toolboxCmd']) {
      const m = (f: string): number => fs.statSync(path.join(cli, f)).mtimeMs;
      assert.ok(m(`${e}.bundle.js`) >= m(`${e}.js`), `${e}.bundle.js current in the image`);
      assert.ok(m(`${e}.bundle.v8cache`) >= m(`${e}.bundle.js`), `${e}.bundle.v8cache current in the image`);
    }
    // Nothing of the build machine: its resolver and host name are not the VM's.
    assert.equal(fs.readFileSync(path.join(rootfs, 'etc', 'resolv.conf'), 'utf8'), '');
    assert.equal(fs.readFileSync(path.join(rootfs, 'etc', 'hostname'), 'utf8'), '');
  });

  it('the daemon inside the container answers reset and Capabilities_Register', async function () {
    this.timeout(60_000);
    const reply = await sim!.client.sendTclo('reset', { timeoutMs: 45_000 }).catch((e: Error) => {
      throw new Error(`${e.message}\ncontainer output:\n${output}`);
    });
    assert.equal(reply.toString(), 'OK ATR toolbox', output);
    await sim!.client.clearRpcLog();
    assert.equal((await sim!.client.sendTclo('Capabilities_Register')).toString(), 'OK ');
    const sent = rpciText(await sim!.client.getRpcLog());
    assert.ok(sent.includes('tools.capability.guest_conf_directory /etc/vmware-tools\0'), sent.join(' | '));
    assert.ok(sent.some((s) => s.startsWith('tools.set.versiontype ')), sent.join(' | '));
    sentAtRegister = sent;
  });

  it('quiesce is alive in the image: vmbackup\'s capability is advertised, its handler answers (no freeze)', async function () {
    assert.ok(sentAtRegister.some((s) => new RegExp(`^tools\\.capability\\.features .*\\b${CAP_VMBACKUP_NVME}=1\\b`).test(s)), sentAtRegister.join(' | '));
    // snapshotDone with nothing in progress: the handler's own error, not "Unknown command".
    assert.equal((await sim!.client.sendTclo('vmbackup.snapshotDone')).toString(), 'ERROR Error: no quiesce operation in progress');
    assert.doesNotMatch(output, /vmtoolsd-runas not found|guest operations disabled/, output);
  });

  it('guest operations in the image: the bound accounts authenticate through the image\'s PAM, bad credentials get 3050', async function () {
    this.timeout(90_000);
    assert.equal((await vix(OP.GET_TOOLS_STATE)).error, 0, 'GetToolsState needs no credentials');
    const good = { user: GUEST.name, password: GUEST.password };
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS, good)).error, 0, `good password, shell listed in the bound /etc/shells\n${output}`);
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS, { user: NOSHELL.name, password: NOSHELL.password })).error, VIX_E_GUEST_USER_PERMISSIONS,
      'pam_shells reads the bound /etc/shells (/bin/dash is in the image\'s own)');
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS, { user: 'vmtnobody', password: 'x' })).error, VIX_E_GUEST_USER_PERMISSIONS, 'unknown user');
    assert.equal((await vix(OP.START_PROGRAM, { user: 'root', password: 'wrong' }, bodies.startProgram('/bin/true'))).error,
      VIX_E_GUEST_USER_PERMISSIONS, 'wrong password: nothing runs');
    assert.equal((await vix(OP.VALIDATE_CREDENTIALS, { ...good, password: '' })).error, VIX_E_GUEST_USER_PERMISSIONS, 'empty password');
  });

  it('StartProgram runs as the bound user: uid, gid, supplementary groups from /etc/group, home from /home', async function () {
    this.timeout(60_000);
    const r = await vix(OP.START_PROGRAM, { user: GUEST.name, password: GUEST.password },
      bodies.startProgram('/bin/sh', `-c "id > /home/${GUEST.name}/id.txt; pwd >> /home/${GUEST.name}/id.txt"`));
    assert.equal(r.error, 0, `${JSON.stringify(r)}\n${output}`);
    assert.ok(Number(r.result) > 0, `pid ${r.result}`);
    const file = path.join(accounts.home, GUEST.name, 'id.txt');
    const end = Date.now() + 20_000;
    while (!(fs.existsSync(file) && fs.readFileSync(file, 'utf8').split('\n').length >= 3) && Date.now() < end) await sleep(100);
    if (!fs.existsSync(file)) {
      const ps = await vix(OP.LIST_PROCESSES_EX, { user: GUEST.name, password: GUEST.password }, bodies.listProcesses([BigInt(r.result)]));
      assert.fail(`${file} not written; the program: ${ps.result}\n${output}`);
    }
    const [id, cwd] = fs.readFileSync(file, 'utf8').split('\n');
    assert.match(id, new RegExp(`^uid=${GUEST.uid}\\(${GUEST.name}\\) gid=${GUEST.gid}\\(${GUEST.name}\\) groups=.*\\b${EXTRA_GROUP.gid}\\(${EXTRA_GROUP.name}\\)`));
    assert.doesNotMatch(id, /\b0\(root\)/);
    assert.equal(cwd, `/home/${GUEST.name}`);
    assert.equal(fs.statSync(file).uid, GUEST.uid, 'the file is the user\'s, on the "host"');
  });

  it('the daemon\'s own log, from inside the container, shows the simulator mode and the reset', function () {
    assert.match(output, /starting: backdoor version 6, .*VMware check overridden \(simulator\)/, output);
    assert.match(output, /first TCLO exchange with the host/, output);
    assert.match(output, /Channel was reset successfully/, output);
  });

  it('guest info reaches the simulator from inside the container (its host name, the image\'s OS)', async function () {
    this.timeout(30_000);
    const end = Date.now() + 20_000;
    let view = await sim!.client.getGuestView();
    while ((view.hostName === null || view.osFullName === null || view.uptime === null) && Date.now() < end) {
      await sleep(250);
      view = await sim!.client.getGuestView();
    }
    assert.equal(view.hostName?.value, CONTAINER_HOSTNAME, `host name from the container's UTS namespace\n${output}`);
    assert.match(view.osFullName?.value ?? '', /Debian GNU\/Linux 12/);
    assert.ok(view.uptime, 'uptime reported');
    assert.deepEqual(view.errors, []);
    // The private network namespace has only loopback, which is never reported.
    assert.equal(view.ipAddress, null);
  });

  it('the INSTALL label\'s command, run in the image, writes the podman unit into the host root', function () {
    this.timeout(60_000);
    // The words after ${IMAGE} are the command run in the image.
    const words = installLabel.split(' ');
    const cmd = words.slice(words.indexOf('${IMAGE}') + 1);
    assert.equal(cmd[0], '/usr/lib/vmtoolsd-node/container/install-host.sh', installLabel);
    const host = path.join(work, 'host');
    fs.mkdirSync(path.join(host, 'etc'), { recursive: true });
    const bundle2 = path.join(work, 'bundle-install');
    fs.mkdirSync(bundle2);
    const base = JSON.parse(fs.readFileSync(path.join(work, 'bundle', 'config.json'), 'utf8'));
    base.process.args = cmd;
    base.process.env = [...base.process.env.filter((e: string) => !/^(LD_PRELOAD|VMTOOLSD_)/.test(e)),
      'HOST=/host', 'IMAGE=registry.example.com/vmtoolsd-node:9', 'NAME=vmtoolsd'];
    base.root = { path: path.join(work, 'bundle', 'rootfs'), readonly: true };
    base.mounts = (base.mounts as OciMount[]).filter((m) => !m.destination.startsWith('/run/vmtoolsd') && m.destination !== '/etc/vmware-tools');
    base.mounts.push({ destination: '/host', type: 'bind', source: host, options: ['bind', 'rw'] });
    fs.writeFileSync(path.join(bundle2, 'config.json'), JSON.stringify(base));
    const args = runtime!.endsWith('crun') ? ['--cgroup-manager=disabled'] : [];
    const out = run(runtime!, [...args, 'run', '--bundle', bundle2, `${containerId}-install`], 60_000);
    assert.match(out, /installed .*vmtoolsd-podman\.service/);
    const unit = fs.readFileSync(path.join(host, 'etc', 'systemd', 'system', 'vmtoolsd-podman.service'), 'utf8');
    assert.match(unit, /^Environment=VMTOOLSD_IMAGE=registry\.example\.com\/vmtoolsd-node:9$/m);
    assert.ok(fs.statSync(path.join(host, 'etc', 'vmware-tools')).isDirectory());
  });

  it('the container process is still running under the runtime (not on this machine\'s PID 1)', function () {
    assert.equal(child!.exitCode, null, output);
    const state = JSON.parse(run(runtime!, ['state', containerId]));
    assert.equal(state.status, 'running');
    const ns = fs.readlinkSync(`/proc/${state.pid}/ns/pid`);
    assert.notEqual(ns, fs.readlinkSync('/proc/self/ns/pid'), 'own PID namespace (not this machine\'s)');
    assert.notEqual(fs.readlinkSync(`/proc/${state.pid}/ns/net`), fs.readlinkSync('/proc/self/ns/net'), 'own network namespace');
  });
});
