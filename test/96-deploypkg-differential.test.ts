/**
 * deployPkg protocol states: ours against Debian's open-vm-tools 12.2
 * vmtoolsd (its libdeployPkgPlugin.so and libDeployPkg), both in the
 * sandbox of test/helpers/sandbox.ts, each against a fresh simulator.
 *
 * Same packages for both: a header + MSZIP cabinet whose command is
 * `/bin/sh <imcDir>/run.sh` (no Perl needed), with SKIP_REBOOT so neither
 * agent tries to reboot (the sandbox stubs systemctl anyway). Ours is told
 * `[deployPkg] target-root = /` and `engine = command` so it runs the
 * package command exactly as the reference does. Compared: each TCLO reply
 * and the `deployPkg.update.state` messages each deployment causes.
 *
 * Footprint outside the sandbox's private /var/log: both agents create and
 * remove a directory under /run (deployPkg.begin, the staging directory).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FLAG_SKIP_REBOOT } from '../src/services/deploypkg/header';
import { SimHandle, startSimulator } from '../src/sim/harness';
import { makePackage } from './helpers/deploypkg';
import { sleep } from './helpers/native-env';
import { Agent, OVT_PLUGINS, requireSandbox, StartedAgent, startAgent } from './helpers/reference-agent';

interface Case {
  name: string;
  /** run.sh body; undefined = deploy a path that does not exist. */
  script?: string;
}

const CASES: Case[] = [
  { name: 'missing package' },
  { name: 'command exits 0', script: 'exit 0' },
  { name: 'command exits 253 (network)', script: 'exit 253' },
  { name: 'command exits 6 (script disabled)', script: 'exit 6' },
  { name: 'command exits 255', script: 'exit 255' },
  { name: 'command succeeds but writes stderr', script: 'echo warn >&2; exit 0' },
];

const CUST = '[NETWORK]\nHOSTNAME = diff01\n';

async function runAgent(agent: Agent, work: string): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(work, `${agent}-`));
  const conf = path.join(dir, 'tools.conf');
  fs.writeFileSync(conf, '[logging]\nlog = true\nvmsvc.level = message\nvmsvc.handler = std\n[deployPkg]\ntarget-root = /\nengine = command\n');
  const sim: SimHandle = await startSimulator({ trapSocket: path.join(dir, 'trap.sock') });
  let agentRun: StartedAgent | null = null;
  const rec: string[] = [];
  try {
    agentRun = startAgent(agent, { sim, conf, stubsLog: path.join(dir, 'stubs.log') });
    await agentRun.process.sandbox.ready;
    await agentRun.waitForTclo(20000, 100);
    rec.push(`reset → ${(await sim.client.sendTclo('reset', { timeoutMs: 15000 })).toString()}`);
    await sleep(1500);
    for (const c of CASES) {
      const log0 = await sim.client.getRpcLog();
      const since = log0.length ? log0[log0.length - 1].seq : 0;
      let pkgPath = '/nonexistent/vmware-pkg';
      if (c.script !== undefined) {
        const begin = (await sim.client.sendTclo('deployPkg.begin')).toString();
        if (!begin.startsWith('OK /')) throw new Error(`${agent}: begin → ${begin}\n${agentRun.output()}`);
        pkgPath = path.join(begin.slice(3), 'pkg');
        fs.writeFileSync(pkgPath, makePackage({
          command: '/bin/sh @@IMC_TMP_PATH_VAR@@/run.sh', flags: FLAG_SKIP_REBOOT,
          files: [{ name: 'cust.cfg', data: CUST }, { name: 'run.sh', data: `${c.script}\n` }],
        }));
        rec.push(`${c.name}: begin → OK <dir>/`);
      }
      rec.push(`${c.name}: deploy → ${(await sim.client.sendTclo(`deployPkg.deploy ${pkgPath}`)).toString()}`);
      // Wait for the final state of this deployment (or 3 s of quiet).
      const stop = Date.now() + 15000;
      let states: string[] = [];
      let quiet = Date.now();
      for (;;) {
        const got = (await sim.client.getRpcLog(since))
          .filter((e) => e.proto === 'RPCI' && e.request?.toString().startsWith('deployPkg.update.state'))
          .map((e) => e.request!.toString().replace(/\0$/, ''));
        if (got.length !== states.length) quiet = Date.now();
        states = got;
        const last = got[got.length - 1] ?? '';
        if (/ (5 0|4 10[01]|4 6|3 [57]) /.test(last) || Date.now() - quiet > 3000 || Date.now() > stop) break;
        await sleep(100);
      }
      await sleep(300);
      rec.push(...states.map((s) => `${c.name}: ${s}`));
      if (c.script !== undefined && fs.existsSync(pkgPath)) rec.push(`${c.name}: package left behind`);
    }
  } finally {
    if (agentRun) {
      agentRun.process.kill('SIGKILL');
      await agentRun.process.sandbox.exited.catch(() => undefined);
    }
    await sim.stop();
  }
  return rec;
}

describe('deployPkg differential: Debian open-vm-tools 12.2 vs ours, in the sandbox', function () {
  this.timeout(180000);
  let work: string;
  before(function () {
    requireSandbox();
    if (!fs.existsSync(path.join(OVT_PLUGINS, 'vmsvc', 'libdeployPkgPlugin.so'))) throw new Error('Debian deployPkg plugin missing');
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'dp-diff-'));
  });
  after(() => work && fs.rmSync(work, { recursive: true, force: true }));

  let theirs: string[] = [];
  it("Debian's vmtoolsd: the pinned state sequence", async () => {
    theirs = await runAgent('theirs', work);
    const L = '/var/log/vmware-imc/toolsDeployPkg.log';
    assert.deepEqual(theirs, [
      'reset → OK ATR toolbox',
      'missing package: deploy → ERROR failed to get package file',
      'missing package: deployPkg.update.state 3',
      'missing package: deployPkg.update.state 3 5 Package file /nonexistent/vmware-pkg not found',
      'command exits 0: begin → OK <dir>/', 'command exits 0: deploy → OK ',
      'command exits 0: deployPkg.update.state 3', `command exits 0: deployPkg.update.state 4 0 ${L}`, `command exits 0: deployPkg.update.state 5 0 ${L}`,
      'command exits 253 (network): begin → OK <dir>/', 'command exits 253 (network): deploy → OK ',
      'command exits 253 (network): deployPkg.update.state 3', `command exits 253 (network): deployPkg.update.state 4 0 ${L}`, `command exits 253 (network): deployPkg.update.state 4 101 ${L}`,
      'command exits 6 (script disabled): begin → OK <dir>/', 'command exits 6 (script disabled): deploy → OK ',
      'command exits 6 (script disabled): deployPkg.update.state 3', `command exits 6 (script disabled): deployPkg.update.state 4 0 ${L}`, `command exits 6 (script disabled): deployPkg.update.state 4 6 ${L}`,
      'command exits 255: begin → OK <dir>/', 'command exits 255: deploy → OK ',
      'command exits 255: deployPkg.update.state 3', `command exits 255: deployPkg.update.state 4 0 ${L}`, `command exits 255: deployPkg.update.state 4 100 ${L}`,
      'command succeeds but writes stderr: begin → OK <dir>/', 'command succeeds but writes stderr: deploy → OK ',
      'command succeeds but writes stderr: deployPkg.update.state 3', `command succeeds but writes stderr: deployPkg.update.state 4 0 ${L}`, `command succeeds but writes stderr: deployPkg.update.state 4 100 ${L}`,
    ]);
  });

  it('ours: the same replies and states', async () => {
    const ours = await runAgent('ours', work);
    assert.deepEqual(ours, theirs);
  });
});
