/**
 * Layer 5: bin/vmware-rpctool against Debian's open-vm-tools 12.2
 * vmware-rpctool, through the same shim and simulator. For each case both
 * tools start from the same host state; their stdout, stderr, exit code and
 * the bytes they put on the wire must be identical.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, REPO_ROOT, startSim } from './helpers/native-env';

const OURS = path.join(REPO_ROOT, 'bin', 'vmware-rpctool');
const OVT_ROOT = process.env.VMTOOLSD_OVT_ROOT ?? path.join(REPO_ROOT, '.cache', 'ovt', 'root');
const THEIRS = path.join(OVT_ROOT, 'usr', 'bin', 'vmware-rpctool');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  wire: string[];
}

const LONG_VALUE = 'v'.repeat(4000) + '-end';

/** Each case: the arguments, and the guest variables the host has beforehand. */
const CASES: Array<{ name: string; args: string[]; seed?: Record<string, string> }> = [
  { name: 'info-set', args: ['info-set guestinfo.foo bar baz'] },
  { name: 'info-get, present', args: ['info-get guestinfo.foo'], seed: { 'guestinfo.foo': 'bar baz' } },
  { name: 'info-get, missing', args: ['info-get guestinfo.missing'] },
  { name: 'unknown command', args: ['no.such.command with args'] },
  { name: 'empty request', args: [''] },
  { name: 'long value set', args: [`info-set guestinfo.long ${LONG_VALUE}`] },
  { name: 'long value get', args: ['info-get guestinfo.long'], seed: { 'guestinfo.long': LONG_VALUE } },
  { name: 'value with a NUL-free binary-ish tail', args: ['info-get guestinfo.bin'], seed: { 'guestinfo.bin': '\u00e9\u00ff\t x' } },
  { name: 'request over the host limit', args: [`info-set guestinfo.huge ${'h'.repeat(70000)}`] },
  { name: 'no arguments', args: [] },
  { name: 'extra arguments are ignored', args: ['info-get guestinfo.foo', 'ignored'], seed: { 'guestinfo.foo': 'x' } },
];

describeUnderShim(__filename, 'vmware-rpctool differential', () => {
  let sim: SimHandle;

  before(async function () {
    if (!fs.existsSync(THEIRS)) {
      throw new Error(`Debian's vmware-rpctool is not unpacked at ${THEIRS}: run scripts/setup.sh`);
    }
    sim = await startSim();
  });
  after(async () => sim?.stop());

  async function seed(vars: Record<string, string> = {}): Promise<void> {
    for (const k of Object.keys(await sim.client.listGuestInfo())) {
      if (!(k in vars)) await sim.client.deleteGuestInfo(k);
    }
    for (const [k, v] of Object.entries(vars)) await sim.client.setGuestInfo(k, v);
    await sim.client.clearRpcLog();
  }

  async function run(file: string, args: string[], env: Record<string, string>): Promise<Run> {
    // The same argv[0] for both: the reference prints it in one message.
    const r = spawnSync(file, args, { argv0: 'vmware-rpctool', env, encoding: 'utf8', timeout: 20000 });
    const wire = (await sim.client.getRpcLog())
      .filter((e) => e.proto === 'RPCI' && e.request !== null)
      .map((e) => e.request!.toString('base64'));
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, wire };
  }

  function envFor(patch: string[]): Record<string, string> {
    const env = { ...process.env, ...sim.env({ preload: true, cpuidPatch: patch }) } as Record<string, string>;
    // Our tool must pass the VMware check the same way the reference does:
    // through the shim's emulated CPUID, not through an override.
    delete env.VMTOOLSD_ASSUME_VMWARE;
    return env;
  }

  for (const c of CASES) {
    it(`${c.name}: same stdout, stderr, exit code and wire bytes`, async () => {
      await seed(c.seed);
      const theirs = await run(THEIRS, c.args, envFor(['vmware-rpctool']));
      await seed(c.seed);
      const ours = await run(OURS, c.args, envFor(['vmware-rpctool']));
      assert.deepEqual(ours, theirs);
    });
  }

  it('not on VMware (no simulator answering): same error and exit code', async () => {
    const env = envFor(['vmware-rpctool']);
    env.VMTOOLSD_SIM_SOCKET = path.join(sim.dir, 'nobody-listens.sock');
    const theirs = spawnSync(THEIRS, ['info-get guestinfo.foo'], { argv0: 'vmware-rpctool', env, encoding: 'utf8' });
    const ours = spawnSync(OURS, ['info-get guestinfo.foo'], { argv0: 'vmware-rpctool', env, encoding: 'utf8' });
    assert.deepEqual(
      { status: ours.status, stdout: ours.stdout, stderr: ours.stderr },
      { status: theirs.status, stdout: theirs.stdout, stderr: theirs.stderr },
    );
    assert.equal(theirs.status, 255);
  });
});
