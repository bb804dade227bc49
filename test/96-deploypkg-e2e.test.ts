/**
 * deployPkg end to end: the VMX simulator sends `deployPkg.begin` and
 * `deployPkg.deploy` to the real bin/vmtoolsd (under the trap shim); the
 * package is written into the directory the daemon handed out (standing in
 * for the host's copy, customization.md §2.3); the daemon customizes a
 * temporary target root ([deployPkg] target-root) with the native engine
 * and reports the reference's state sequence over RPCI.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SimHandle } from '../src/sim/harness';
import { CUST_STATIC, listTree, makePackage, makeTargetRoot } from './helpers/deploypkg';
import { describeUnderShim, REPO_ROOT, sleep, startSim } from './helpers/native-env';

const VMTOOLSD = path.join(REPO_ROOT, 'bin', 'vmtoolsd');
const LOG = '/var/log/vmware-imc/toolsDeployPkg.log';

describeUnderShim(__filename, 'deployPkg through the simulator and bin/vmtoolsd', () => {
  let sim: SimHandle;
  let child: ChildProcess;
  let root: string;
  let output = '';

  before(async function () {
    this.timeout(30000);
    sim = await startSim({});
    root = makeTargetRoot('networkd');
    const conf = path.join(sim.dir, 'tools.conf');
    // The reboot goes through the power-ops backend: a recording one here (never this machine's).
    fs.writeFileSync(conf, `[deployPkg]\ntarget-root = ${root}\n[powerops]\nbackend = record\nrecord-file = ${path.join(sim.dir, 'power.log')}\n`);
    child = spawn(process.execPath, [VMTOOLSD, '-c', conf], { env: { ...process.env, ...sim.env({ preload: true }) }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 15000 })).toString(), 'OK ATR toolbox');
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await sim?.stop();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function states(since: number, until: RegExp, ms = 15000): Promise<string[]> {
    const end = Date.now() + ms;
    for (;;) {
      const got = (await sim.client.getRpcLog(since))
        .filter((e) => e.proto === 'RPCI' && e.request && e.request.toString().startsWith('deployPkg.update.state'))
        .map((e) => e.request!.toString());
      if (got.some((s) => until.test(s))) return got;
      if (Date.now() > end) throw new Error(`no ${until} in ${JSON.stringify(got)}\n${output}`);
      await sleep(100);
    }
  }

  it('leaves the plugin file cloud-init looks for in the target', () => {
    assert.ok(fs.existsSync(path.join(root, 'usr/lib/vmware-tools/plugins/vmsvc/libdeployPkgPlugin.so')));
  });

  it('begin → copy → deploy: 3, 4 0, 5 0; files written in the target root; reboot requested', async function () {
    this.timeout(30000);
    const since = (await sim.client.getRpcLog()).reduce((a, e) => Math.max(a, e.seq), 0);
    const begin = (await sim.client.sendTclo('deployPkg.begin')).toString();
    assert.match(begin, /^OK \/.*\/[0-9a-f]{8}\/$/);
    const dir = begin.slice(3);
    assert.ok(dir.startsWith(path.join(root, 'run') + '/'), `begin directory ${dir} lies in the target root`);
    const pkg = path.join(dir, 'imc.pkg');
    fs.writeFileSync(pkg, makePackage({ files: [{ name: 'cust.cfg', data: CUST_STATIC }, { name: 'scripts/Customize.pl', data: 'exit 0;' }] }));
    assert.equal((await sim.client.sendTclo(`deployPkg.deploy ${pkg}`)).toString(), 'OK ');
    const got = await states(since, / 5 0 /);
    assert.deepEqual(got, ['deployPkg.update.state 3', `deployPkg.update.state 4 0 ${LOG}`, `deployPkg.update.state 5 0 ${LOG}`]);
    assert.equal(fs.readFileSync(path.join(root, 'etc/hostname'), 'utf8'), 'web01\n');
    assert.match(fs.readFileSync(path.join(root, 'etc/systemd/network/05-vmware-NIC1.network'), 'utf8'), /Address=10\.20\.30\.40\/24/);
    assert.equal(fs.existsSync(pkg), false);
    assert.deepEqual(listTree(path.join(root, 'run')).filter((n) => n.startsWith('.vmware-imgcust')), []);
    const record = path.join(sim.dir, 'power.log');
    const end = Date.now() + 5000;
    while (!fs.existsSync(record) && Date.now() < end) await sleep(50);
    assert.match(fs.readFileSync(record, 'utf8'), /reboot/);
    assert.doesNotMatch(fs.readFileSync(record, 'utf8'), /halt/);
  });

  it('a missing package: ERROR failed to get package file, 3 5 …', async () => {
    const since = (await sim.client.getRpcLog()).reduce((a, e) => Math.max(a, e.seq), 0);
    assert.equal((await sim.client.sendTclo('deployPkg.deploy /nonexistent/x')).toString(), 'ERROR failed to get package file');
    assert.deepEqual(await states(since, / 3 5 /), ['deployPkg.update.state 3', 'deployPkg.update.state 3 5 Package file /nonexistent/x not found']);
  });
});
