/**
 * deployPkg end to end inside the process (customization.md §2–4): the TCLO
 * handlers, the state messages in the reference's order, every engine path
 * (cloud-init hand-off with a stub cloud-init, the package command, the
 * native engine on RHEL/Debian/networkd/NetworkManager-shaped target roots
 * compared with golden files), NIC enabling, reboot, and hostile packages
 * that must end in an error state with nothing written outside staging.
 *
 * Nothing here touches this machine's /etc or /var/log: every path is a
 * temporary directory; the command-engine cases run /bin/sh scripts that
 * write only into their own temporary directory.
 *
 * Golden files: test/fixtures/deploypkg/<distro>/…; regenerate with
 * DEPLOYPKG_UPDATE_GOLDEN=1 and review the diff.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultPaths, DeployPkgService, DeployPkgPaths, STAGING_BASES } from '../src/daemon/deployPkgService';
import type { ProcessResult, ProcessRunner } from '../src/services/deploypkg/command';
import { runProcess } from '../src/services/deploypkg/command';
import { chooseEngine, DeployConfig } from '../src/services/deploypkg/engine';
import { FLAG_IGNORE_CLOUD_INIT, FLAG_SKIP_REBOOT } from '../src/services/deploypkg/header';
import { REPO_ROOT } from './helpers/native-env';
import {
  CUST_DHCP, CUST_STATIC, Distro, listTree, MAC1, MAC2, makeCab, makePackage, makeTargetRoot, makeTarGz, makeZip, PackageOptions, PkgFile,
} from './helpers/deploypkg';

const LOG = '/var/log/vmware-imc/toolsDeployPkg.log';
const GOLDEN = path.join(REPO_ROOT, 'test', 'fixtures', 'deploypkg');
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Rig {
  svc: DeployPkgService;
  root: string;
  sent: string[];
  runs: string[][];
  reboots: number;
  sleeps: number[];
  pkgDir: string;
  /** Deploys `pkg` (written into a begin directory) and waits for the worker. */
  deploy(pkg: Buffer): Promise<{ reply: { ok: boolean; result: string }; outcome: string | undefined }>;
  cleanup(): void;
}

interface RigOptions {
  distro?: Distro;
  root?: string;
  config?: Partial<DeployConfig>;
  /** Stub programs of the target, by argv[0] (after chroot is stripped). */
  programs?: Record<string, (argv: string[]) => ProcessResult>;
  run?: ProcessRunner;
  replies?: (msg: string) => string;
  stagingBases?: string[];
}

const ok = (stdout = ''): ProcessResult => ({ code: 0, stdout, stderr: '', timedOut: false });

function rig(o: RigOptions = {}): Rig {
  const root = o.root ?? makeTargetRoot(o.distro ?? 'networkd');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-rig-'));
  const pkgDir = path.join(scratch, 'begin');
  fs.mkdirSync(pkgDir);
  const r: Partial<Rig> = { root, sent: [], runs: [], reboots: 0, sleeps: [], pkgDir };
  const paths: DeployPkgPaths = {
    targetRoot: root, beginBases: [pkgDir], stagingBases: o.stagingBases ?? STAGING_BASES,
    logFile: path.join(root === '/' ? scratch : root, 'var/log/vmware-imc/toolsDeployPkg.log'), logName: LOG,
    markerDir: path.join(root === '/' ? scratch : root, 'var/log'),
    // Under the real root, never look at this machine's cloud-init (it could stage files in the real /run).
    cloudInit: root === '/' ? '/nonexistent/cloud-init' : '/usr/bin/cloud-init',
  };
  const run: ProcessRunner = o.run ?? (async (argv) => {
    const a = argv[0] === '/usr/sbin/chroot' ? argv.slice(2) : argv;
    r.runs!.push(argv);
    const p = o.programs?.[a[0]];
    return p ? p(a) : { code: 127, stdout: '', stderr: '', timedOut: false, spawnError: 'ENOENT' };
  });
  const svc = new DeployPkgService({
    rpc: {
      send: (req) => {
        const m = req.toString();
        r.sent!.push(m);
        return { ok: true, reply: Buffer.from(o.replies?.(m) ?? '') };
      },
    },
    log: quiet,
    config: () => ({ enableCustomization: true, processTimeoutS: undefined, waitCloudInitTimeoutS: 30, engine: 'auto', enableCustomScripts: undefined, ...o.config }),
    paths,
    reboot: async () => {
      r.reboots!++;
      return { ok: true };
    },
    run,
    interfaces: () => [{ name: 'ens192', mac: MAC1 }, { name: 'ens224', mac: MAC2 }],
    sleep: async (ms) => void r.sleeps!.push(ms),
  });
  r.svc = svc;
  r.deploy = async (pkg: Buffer) => {
    const begin = svc.begin();
    assert.equal(begin.ok, true);
    const dir = String(begin.result);
    assert.ok(dir.endsWith('/') && dir.startsWith(pkgDir + '/'), dir);
    const file = path.join(dir, 'vmware-pkg.cab');
    fs.writeFileSync(file, pkg);
    const reply = svc.deploy(Buffer.from(` ${file}\n`)) as { ok: boolean; result: string };
    const outcome = await svc.lastRun;
    assert.equal(fs.existsSync(file), false, 'package removed');
    assert.equal(fs.existsSync(dir), false, 'its directory removed');
    return { reply, outcome };
  };
  r.cleanup = () => {
    if (root !== '/') fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  return r as Rig;
}

const files = (cust: string, extra: PkgFile[] = []): PkgFile[] => [{ name: 'cust.cfg', data: cust }, { name: 'scripts/Customize.pl', data: 'exit 0;\n' }, ...extra];
const marker = (root: string, name: string): boolean => fs.existsSync(path.join(root, 'var/log', `.vmware-deploy.${name}`));
const staged = (root: string): string[] => fs.readdirSync(path.join(root, 'run')).filter((n) => n.startsWith('.vmware-imgcust'));

function compareGolden(distro: string, root: string, rels: string[]): void {
  for (const rel of rels) {
    const got = fs.readFileSync(path.join(root, rel), 'utf8').replace(/\$6\$[^:]+/, '$6$<hash>').replace(/^(root:\$6\$<hash>):\d+/m, '$1:<today>');
    const g = path.join(GOLDEN, distro, rel);
    if (process.env.DEPLOYPKG_UPDATE_GOLDEN) {
      fs.mkdirSync(path.dirname(g), { recursive: true });
      fs.writeFileSync(g, got);
    }
    assert.equal(got, fs.readFileSync(g, 'utf8'), `${distro}: ${rel}`);
  }
}

describe('deployPkg: TCLO protocol (§2, §3.4)', () => {
  it('begin: a fresh directory with a trailing slash; failure text', () => {
    const r = rig();
    const a = r.svc.begin();
    const b = r.svc.begin();
    assert.match(String(a.result), /\/[0-9a-f]{8}\/$/);
    assert.notEqual(a.result, b.result);
    const broken = new DeployPkgService({ rpc: { send: () => ({ ok: true, reply: Buffer.alloc(0) }) }, log: quiet, config: () => ({}) as DeployConfig, paths: { beginBases: ['/proc/1'] } as DeployPkgPaths, reboot: async () => ({ ok: true }) });
    assert.deepEqual(broken.begin(), { ok: false, result: 'failed to get temp dir' });
    r.cleanup();
  });
  it('deploy of a missing package: 3, then 3 5 "Package file … not found"', () => {
    const r = rig();
    assert.deepEqual(r.svc.deploy(Buffer.from(' /nonexistent/pkg ')), { ok: false, result: 'failed to get package file' });
    assert.deepEqual(r.sent, ['deployPkg.update.state 3', 'deployPkg.update.state 3 5 Package file /nonexistent/pkg not found']);
    r.cleanup();
  });
  it('customization disabled: 3, then 3 7; the package is removed', async () => {
    const r = rig({ config: { enableCustomization: false } });
    const { reply, outcome } = await r.deploy(makePackage({ files: files(CUST_DHCP) }));
    assert.deepEqual(reply, { ok: true, result: '' });
    assert.equal(outcome, 'disabled');
    assert.deepEqual(r.sent, ['deployPkg.update.state 3', 'deployPkg.update.state 3 7 Customization is disabled by guest admin']);
    r.cleanup();
  });
});

describe('deployPkg: the native engine on four system families (§5)', () => {
  const cases: Array<[Distro, string[]]> = [
    ['rhel', ['etc/sysconfig/network-scripts/ifcfg-ens192', 'etc/sysconfig/network-scripts/ifcfg-ens224', 'etc/resolv.conf', 'etc/sysconfig/clock']],
    ['debian', ['etc/network/interfaces', 'etc/resolv.conf', 'etc/timezone']],
    ['networkd', ['etc/systemd/network/05-vmware-NIC1.network', 'etc/systemd/network/05-vmware-NIC2.network']],
    ['networkmanager', ['etc/NetworkManager/system-connections/vmware-NIC1.nmconnection', 'etc/NetworkManager/system-connections/vmware-NIC2.nmconnection', 'etc/resolv.conf']],
  ];
  for (const [distro, netFiles] of cases) {
    it(`${distro}: files as expected, states 3 / 4 0 / 5 0, marker Done, reboot`, async () => {
      const r = rig({ distro });
      const { outcome } = await r.deploy(makePackage({ files: files(CUST_STATIC) }));
      assert.equal(outcome, 'done');
      assert.deepEqual(r.sent, ['deployPkg.update.state 3', `deployPkg.update.state 4 0 ${LOG}`, `deployPkg.update.state 5 0 ${LOG}`]);
      compareGolden(distro, r.root, ['etc/hostname', 'etc/hosts', 'etc/shadow', 'etc/adjtime', ...netFiles]);
      assert.equal(fs.readlinkSync(path.join(r.root, 'etc/localtime')), '../usr/share/zoneinfo/Europe/Berlin');
      assert.equal(fs.readFileSync(path.join(r.root, 'etc/localtime'), 'utf8'), 'TZif-Berlin');
      assert.equal(marker(r.root, 'Done'), true);
      assert.equal(marker(r.root, 'INPROGRESS'), false);
      assert.equal(r.reboots, 1);
      assert.deepEqual(staged(r.root), []);
      const log = fs.readFileSync(path.join(r.root, 'var/log/vmware-imc/toolsDeployPkg.log'), 'utf8');
      assert.equal(fs.statSync(path.join(r.root, 'var/log/vmware-imc/toolsDeployPkg.log')).mode & 0o777, 0o600);
      assert.match(log, /\[ {4}info\] Deployment succeeded/);
      assert.doesNotMatch(log, /VMware1!|Vk13YXJlMSE/);
      if (distro === 'networkd') assert.equal(fs.lstatSync(path.join(r.root, 'etc/resolv.conf')).isSymbolicLink(), true, 'resolved keeps its symlink');
      r.cleanup();
    });
  }
  it('zip and tar.gz payloads, and the SKIP_REBOOT flag', async () => {
    for (const type of ['zip', 'tgz'] as const) {
      const r = rig({ distro: 'debian' });
      const { outcome } = await r.deploy(makePackage({ type, files: files(CUST_DHCP), flags: FLAG_SKIP_REBOOT }));
      assert.equal(outcome, 'done');
      assert.equal(fs.readFileSync(path.join(r.root, 'etc/hostname'), 'utf8'), 'db02\n');
      assert.match(fs.readFileSync(path.join(r.root, 'etc/network/interfaces'), 'utf8'), /iface ens192 inet dhcp/);
      assert.equal(r.reboots, 0);
      r.cleanup();
    }
  });
  it('custom script: disabled → 4 6; enabled → pre and post runs in the target', async () => {
    const withScript = `${CUST_DHCP}\n[CUSTOM-SCRIPT]\nSCRIPT-NAME = script01.bat\n`;
    const pkg = makePackage({ files: files(withScript, [{ name: 'script01.bat', data: '#!/bin/sh\r\necho hi\r\n' }]) });
    const off = rig({ distro: 'debian' });
    await off.deploy(pkg);
    assert.deepEqual(off.sent.slice(-1), [`deployPkg.update.state 4 6 ${LOG}`]);
    assert.equal(marker(off.root, 'ERRORED'), true);
    off.cleanup();
    const on = rig({ distro: 'debian', config: { enableCustomScripts: true }, programs: { '/bin/sh': () => ok('hi\n') } });
    assert.equal((await on.deploy(pkg)).outcome, 'done');
    assert.deepEqual(on.runs.map((a) => a.slice(2).join(' ')), ['/bin/sh /root/.customization/customize.sh precustomization', '/bin/sh /root/.customization/customize.sh postcustomization']);
    assert.deepEqual(on.runs.map((a) => a.slice(0, 2)), [['/usr/sbin/chroot', on.root], ['/usr/sbin/chroot', on.root]]);
    assert.equal(fs.readFileSync(path.join(on.root, 'root/.customization/customize.sh'), 'utf8'), '#!/bin/sh\necho hi\n');
    on.cleanup();
  });
  it('auto: the Perl engine is not used when the target root is not / (container) or Perl is missing', () => {
    assert.equal(chooseEngine('auto', true, true, true), 'command');
    assert.equal(chooseEngine('auto', false, true, true), 'native');
    assert.equal(chooseEngine('auto', true, false, true), 'native');
    assert.equal(chooseEngine('auto', false, true, false), 'command');
    assert.equal(chooseEngine('command', false, false, true), 'command');
    assert.equal(chooseEngine('native', true, true, false), 'native');
  });
});

describe('deployPkg: NIC enabling (§4.6)', () => {
  it('4 103 until queryNicsSupported, then 4 104 until connected', async () => {
    let queries = 0;
    const r = rig({
      distro: 'networkd',
      replies: (m) => (m.includes(' 4 103 ') ? 'queryNicsSupported' : m.includes(' 4 104 ') ? (++queries >= 2 ? 'connected' : 'no') : ''),
    });
    await r.deploy(makePackage({ files: files(CUST_DHCP, [{ name: 'nics.txt', data: '1,2\n' }]) }));
    assert.deepEqual(r.sent, [
      'deployPkg.update.state 3', `deployPkg.update.state 4 0 ${LOG}`,
      `deployPkg.update.state 4 103 ${LOG}@1,2\n`, `deployPkg.update.state 4 104 ${LOG}@1,2\n`, `deployPkg.update.state 4 104 ${LOG}@1,2\n`,
      `deployPkg.update.state 5 0 ${LOG}`,
    ]);
    assert.deepEqual(r.sleeps, [5000, 1000]);
    r.cleanup();
  });
});

describe('deployPkg: cloud-init (§4.5, §4.7, §4.8) with a stub cloud-init', () => {
  const cloudInit = (version: string, statuses: string[] = ['status: done\n']) => ({
    '/usr/bin/cloud-init': (a: string[]) => (a[1] === '-v' ? ok(version) : ok(statuses.length > 1 ? statuses.shift()! : statuses[0])),
  });
  const installCloudInit = (root: string, enabled: boolean): void => {
    fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr/bin/cloud-init'), '#!/bin/sh\n', { mode: 0o755 });
    fs.mkdirSync(path.join(root, 'etc/cloud/cloud.cfg.d'), { recursive: true });
    if (enabled) fs.writeFileSync(path.join(root, 'etc/cloud/cloud.cfg.d/99-vmware.cfg'), 'disable_vmware_customization: false\n');
  };
  it('enabled: delegated, files staged in /var/run/vmware-imc of the target, no 5 0, no reboot', async () => {
    const root = makeTargetRoot('networkd');
    installCloudInit(root, true);
    const r = rig({ root, programs: cloudInit('/usr/bin/cloud-init 23.4.4') });
    const { outcome } = await r.deploy(makePackage({ files: files(CUST_STATIC, [{ name: 'nics.txt', data: '1\n' }, { name: 'script01.bat', data: 'x' }, { name: 'scripts/post-customize-guest.sh', data: 'y' }]) }));
    assert.equal(outcome, 'delegated');
    assert.deepEqual(r.sent, ['deployPkg.update.state 3', `deployPkg.update.state 4 0 ${LOG}`]);
    assert.deepEqual(fs.readdirSync(path.join(root, 'run/vmware-imc')).sort(), ['cust.cfg', 'nics.txt', 'post-customize-guest.sh', 'script01.bat']);
    assert.equal(fs.readFileSync(path.join(root, 'run/vmware-imc/cust.cfg'), 'utf8'), CUST_STATIC);
    assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), 'localhost\n', 'nothing applied by tools');
    assert.equal(marker(root, 'Done'), true);
    assert.equal(r.reboots, 0);
    r.cleanup();
  });
  it('raw metadata with cloud-init 20.3: 4 8 …@Deployment failed, ERRORED', async () => {
    const root = makeTargetRoot('networkd');
    installCloudInit(root, false);
    const r = rig({ root, programs: cloudInit('/usr/bin/cloud-init 20.3-2-g371b392c') });
    const { outcome } = await r.deploy(makePackage({ files: files(CUST_STATIC, [{ name: 'metadata', data: 'instance-id: x\n' }]) }));
    assert.equal(outcome, 'error');
    assert.deepEqual(r.sent.slice(-1), [`deployPkg.update.state 4 8 ${LOG}@Deployment failed`]);
    assert.equal(marker(root, 'ERRORED'), true);
    r.cleanup();
  });
  it('raw metadata with cloud-init 21.1: delegated even when disabled in cloud.cfg', async () => {
    const root = makeTargetRoot('networkd');
    installCloudInit(root, false);
    const r = rig({ root, programs: cloudInit('21.1') });
    assert.equal((await r.deploy(makePackage({ files: files(CUST_STATIC, [{ name: 'metadata', data: 'x' }]) }))).outcome, 'delegated');
    assert.ok(fs.existsSync(path.join(root, 'run/vmware-imc/metadata')));
    r.cleanup();
  });
  it('installed but disabled: traditional path, then waits for cloud-init status before the reboot', async () => {
    const root = makeTargetRoot('networkd');
    installCloudInit(root, false);
    const r = rig({ root, programs: cloudInit('23.1', ['status: running\n', 'status: running\n', 'status: done\n']) });
    assert.equal((await r.deploy(makePackage({ files: files(CUST_DHCP) }))).outcome, 'done');
    assert.deepEqual(r.runs.map((a) => a.slice(2).join(' ')), ['/usr/bin/cloud-init -v', '/usr/bin/cloud-init status', '/usr/bin/cloud-init status', '/usr/bin/cloud-init status']);
    assert.deepEqual(r.sleeps, [5000, 5000]);
    assert.equal(r.reboots, 1);
    r.cleanup();
  });
  it('IGNORE_CLOUD_INIT flag: traditional path although cloud-init is enabled', async () => {
    const root = makeTargetRoot('networkd');
    installCloudInit(root, true);
    const r = rig({ root, programs: cloudInit('23.1'), config: { waitCloudInitTimeoutS: 0 } });
    assert.equal((await r.deploy(makePackage({ files: files(CUST_DHCP), flags: FLAG_IGNORE_CLOUD_INIT }))).outcome, 'done');
    assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), 'db02\n');
    r.cleanup();
  });
});

describe('deployPkg: the package command (VMware\'s Perl engine path, §4.4, §4.6, §7)', () => {
  // Target root "/" with real child processes; the scripts write only into `out`.
  const commandRig = (script: string, header: Partial<PackageOptions> = {}) => {
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-stage-'));
    const r = rig({ root: '/', run: runProcess, config: { engine: 'command', waitCloudInitTimeoutS: 0 }, stagingBases: [stage] });
    const pkg = makePackage({ command: '/bin/sh @@IMC_TMP_PATH_VAR@@/scripts/run.sh @@IMC_TMP_PATH_VAR@@/cust.cfg', files: [{ name: 'cust.cfg', data: CUST_DHCP }, { name: 'scripts/run.sh', data: script }], ...header });
    return { r, pkg, stage };
  };
  const cases: Array<[string, string, string, Partial<PackageOptions>?]> = [
    ['exit 0', 'exit 0', `5 0 ${LOG}`],
    ['exit 253 (network)', 'exit 253', `4 101 ${LOG}`],
    ['exit 6 (script disabled)', 'exit 6', `4 6 ${LOG}`],
    ['exit 255', 'exit 255', `4 100 ${LOG}`],
    ['stderr on success', 'echo oops >&2; exit 0', `4 100 ${LOG}`],
    ['header timeout (1 s) → SIGKILL', 'exec sleep 30', `4 100 ${LOG}`, { timeout: 1 }],
  ];
  for (const [name, script, last, header] of cases) {
    it(`${name} → ${last}`, async function () {
      this.timeout(10000);
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-out-'));
      const { r, pkg, stage } = commandRig(`echo "$1" > ${out}/arg; ls "$(dirname "$1")" > ${out}/ls; ${script}\n`, header);
      await r.deploy(pkg);
      assert.equal(r.sent[r.sent.length - 1], `deployPkg.update.state ${last}`);
      const arg = fs.readFileSync(path.join(out, 'arg'), 'utf8').trim();
      assert.match(arg, new RegExp(`^${stage}/\\.vmware-imgcust-d[A-Za-z0-9]{6}/cust\\.cfg$`));
      assert.deepEqual(fs.readFileSync(path.join(out, 'ls'), 'utf8').trim().split('\n'), ['cust.cfg', 'scripts']);
      assert.deepEqual(fs.readdirSync(stage), [], 'staging removed');
      assert.equal(r.reboots, last.startsWith('5 0') ? 1 : 0);
      r.cleanup();
      fs.rmSync(out, { recursive: true });
      fs.rmSync(stage, { recursive: true });
    });
  }
  it('program missing (no Perl) with engine=command: 4 100 with the reason', async () => {
    const { r, stage } = commandRig('exit 0');
    await r.deploy(makePackage({ command: '/nonexistent/perl /tmp/.vmware/linux/deploy/x', files: [{ name: 'cust.cfg', data: CUST_DHCP }] }));
    assert.equal(r.sent[r.sent.length - 1], `deployPkg.update.state 4 100 ${LOG}@customization program /nonexistent/perl is not installed (Perl is missing)`);
    r.cleanup();
    fs.rmSync(stage, { recursive: true });
  });
});

describe('deployPkg: hostile packages end in an error state, nothing written outside staging', () => {
  const cfg = [{ name: 'cust.cfg', data: CUST_DHCP }];
  const hostile: Array<[string, () => Buffer, RegExp]> = [
    ['CAB path traversal', () => makePackage({ files: [...cfg, { name: '../../../etc/evil', data: 'x' }] }), /\.\./],
    ['CAB absolute name', () => makePackage({ files: [...cfg, { name: '/etc/evil', data: 'x' }] }), /absolute/],
    ['tar symlink escape', () => makePackage({ type: 'tgz', files: [{ name: 'scripts', kind: 'symlink', linkTarget: '/etc' }, { name: 'scripts/evil', data: 'x' }] }), /symbolic link/],
    ['tar hardlink escape', () => makePackage({ type: 'tgz', files: [{ name: 'h', kind: 'hardlink', linkTarget: '/etc/shadow' }] }), /hard link/],
    ['tar device', () => makePackage({ type: 'tgz', files: [{ name: 'mem', kind: 'chardev' }] }), /device/],
    ['zip symlink', () => makePackage({ type: 'zip', files: [{ name: 'l', kind: 'symlink', linkTarget: '../../../../etc/shadow' }] }), /symbolic link/],
    ['tar size bomb', () => makePackage({ type: 'tgz', payload: makeTarGzBomb() }), /size|limit/],
    ['huge declared length', () => makePackage({ files: cfg, payloadLength: 2 ** 40 }), /exceeds the package length/],
    ['command with no NUL', () => { const b = makePackage({ files: cfg }); b.fill(0x41, 56, 512); return b; }, /NUL/],
    ['bad magic', () => { const b = makePackage({ files: cfg }); b.write('XXXX', 0); return b; }, /signature/],
    ['truncated file', () => makePackage({ files: cfg }).subarray(0, 400), /truncated/],
    ['truncated payload', () => { const b = makePackage({ files: cfg }); return b.subarray(0, b.length - 20); }, /exceeds the file size/],
    ['CAB with a foreign payload', () => makePackage({ payload: Buffer.alloc(100, 1) }), /MSCF/],
  ];
  for (const [name, build, why] of hostile) {
    it(name, async () => {
      const r = rig({ distro: 'rhel' });
      const before = listTree(r.root);
      const { outcome } = await r.deploy(build());
      assert.equal(outcome, 'error');
      const last = r.sent[r.sent.length - 1];
      assert.ok(last.startsWith(`deployPkg.update.state 4 100 ${LOG}@Package rejected: `), last);
      assert.match(last, why);
      assert.deepEqual(r.sent.slice(0, 2), ['deployPkg.update.state 3', `deployPkg.update.state 4 0 ${LOG}`]);
      const after = listTree(r.root).filter((p) => !p.startsWith('var/log/'));
      assert.deepEqual(after, before.filter((p) => !p.startsWith('var/log/')), 'target root unchanged');
      assert.equal(marker(r.root, 'ERRORED'), true);
      assert.equal(r.reboots, 0);
      r.cleanup();
    });
  }
});

function makeTarGzBomb(): Buffer {
  // 300 MiB of zeros compresses to ~300 KiB; the default limit is 64 MiB.
  return makeTarGz([{ name: 'cust.cfg', data: Buffer.alloc(300 * 1024 * 1024) }]);
}

void makeCab;
void makeZip;

describe('deployPkg: daemon wiring and simulator safety (§1)', () => {
  const cfgOf = (values: Record<string, unknown>) => () => ({
    value: (_s: 'deployPkg', k: string): unknown =>
      k in values ? values[k] : ({ 'enable-customization': true, 'wait-cloudinit-timeout': 30, engine: 'auto' } as Record<string, unknown>)[k],
  });
  const rpc = { send: () => ({ ok: true, reply: Buffer.alloc(0) }) };
  it('under the simulator without target-root: a scratch root, never /, native engine, no marker in /usr/lib', async () => {
    const { deployPkgFromConfig } = await import('../src/daemon/deployPkgService');
    const before = fs.existsSync('/usr/lib/vmware-tools');
    const built = deployPkgFromConfig({ rpc, cfg: cfgOf({}), detect: { vmxType: 2, overridden: true }, log: quiet });
    const paths = (built.service as unknown as { opts: { paths: DeployPkgPaths; config: () => DeployConfig } }).opts;
    assert.notEqual(path.resolve(paths.paths.targetRoot), '/');
    assert.ok(paths.paths.beginBases.every((b) => !b.startsWith('/run') && !b.startsWith('/var/run')), paths.paths.beginBases.join());
    assert.ok(!paths.paths.logFile.startsWith('/var/log'));
    assert.equal(paths.config().engine, 'native');
    assert.ok(built.services.handlers['deployPkg.deploy']);
    assert.equal(fs.existsSync('/usr/lib/vmware-tools'), before);
  });
  it('under the simulator with target-root = / configured: the real paths (explicit), still no plugin marker', async () => {
    const { deployPkgFromConfig } = await import('../src/daemon/deployPkgService');
    const before = fs.existsSync('/usr/lib/vmware-tools');
    const built = deployPkgFromConfig({ rpc, cfg: cfgOf({ 'target-root': '/' }), detect: { vmxType: 2, overridden: true }, log: quiet });
    const o = (built.service as unknown as { opts: { paths: DeployPkgPaths; config: () => DeployConfig } }).opts;
    assert.equal(o.paths.targetRoot, '/');
    assert.equal(o.config().engine, 'auto');
    assert.equal(fs.existsSync('/usr/lib/vmware-tools'), before);
  });
  it('not on ESX (Workstation): the commands are not registered, as the plugin does not load', async () => {
    const { deployPkgFromConfig } = await import('../src/daemon/deployPkgService');
    const built = deployPkgFromConfig({ rpc, cfg: cfgOf({}), detect: { vmxType: 4, overridden: true }, log: quiet });
    assert.deepEqual(Object.keys(built.services.handlers), []);
  });
  it('a re-rooted target: plugin marker created once under the root, begin directory inside the root', () => {
    const root = makeTargetRoot('debian');
    const svc = new DeployPkgService({ rpc, log: quiet, config: () => ({}) as DeployConfig, paths: { ...defaultPaths({ targetRoot: root, simulator: false }) }, reboot: async () => ({ ok: true }) });
    assert.equal(svc.ensurePluginMarker(), path.join(root, 'usr/lib/vmware-tools/plugins/vmsvc/libdeployPkgPlugin.so'));
    assert.equal(svc.ensurePluginMarker(), undefined);
    assert.ok(String(svc.begin().result).startsWith(path.join(root, 'run') + '/'));
    fs.rmSync(root, { recursive: true, force: true });
  });
});

describe('deployPkg: [logging] deployPkg.handler (§8)', () => {
  it('file/file+/vmx: no dedicated log file, the daemon log gets the lines', async () => {
    const r = rig({ distro: 'debian', config: { dedicatedLog: false } });
    assert.equal((await r.deploy(makePackage({ files: files(CUST_DHCP) }))).outcome, 'done');
    assert.equal(fs.existsSync(path.join(r.root, 'var/log/vmware-imc/toolsDeployPkg.log')), false);
    assert.equal(r.sent[r.sent.length - 1], `deployPkg.update.state 5 0 ${LOG}`);
    r.cleanup();
  });
});

describe('deployPkg: package removal only where begin created it (§9.3)', () => {
  it('a package outside any begin directory is deployed but not deleted', async () => {
    const r = rig({ distro: 'debian' });
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-elsewhere-'));
    const file = path.join(elsewhere, 'important-file');
    fs.writeFileSync(file, 'not a package');
    r.svc.deploy(Buffer.from(file));
    assert.equal(await r.svc.lastRun, 'error');
    assert.equal(fs.readFileSync(file, 'utf8'), 'not a package');
    assert.match(r.sent[r.sent.length - 1], /4 100 .*@Package rejected: truncated package/);
    fs.rmSync(elsewhere, { recursive: true });
    r.cleanup();
  });
});
