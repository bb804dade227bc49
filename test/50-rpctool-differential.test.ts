/**
 * Layer 5: bin/vmware-rpctool against Debian's open-vm-tools 12.2
 * vmware-rpctool, through the same shim and simulator. For each case both
 * tools start from the same host state; their stdout, stderr, exit code, the
 * bytes they put on the wire and the backdoor calls they make must match.
 * Both pass their VMware check the same way: through the shim's emulated
 * CPUID, not an override.
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

const LONG_VALUE = 'v'.repeat(4000) + '-end';
const USAGE = 'rpctool syntax:\n\n  -h | --help\tprint usage.\n  rpctool <text>\tsend <text> as an RPC command.\n';

interface Case {
  name: string;
  args: string[];
  /** Guest variables the host has beforehand. */
  seed?: Record<string, string>;
  setup?: (sim: SimHandle) => Promise<unknown>;
  /** What the reference prints, pinned so a regression on both sides is caught too. */
  expect?: { status: number; stdout?: string; stderr?: string };
  /** Ours refuses locally; the calls differ by design (docs/differences.md). */
  callsDiffer?: boolean;
}

const CASES: Case[] = [
  { name: 'info-set', args: ['info-set guestinfo.foo bar baz'], expect: { status: 0, stdout: '\n', stderr: '' } },
  {
    name: 'info-get, present',
    args: ['info-get guestinfo.foo'],
    seed: { 'guestinfo.foo': 'bar baz' },
    expect: { status: 0, stdout: 'bar baz\n', stderr: '' },
  },
  { name: 'info-get, missing', args: ['info-get guestinfo.missing'], expect: { status: 1, stdout: '', stderr: 'No value found\n' } },
  { name: 'unknown command', args: ['no.such.command with args'], expect: { status: 1, stderr: 'Unknown command\n' } },
  { name: 'empty request', args: [''] },
  { name: 'long value set', args: [`info-set guestinfo.long ${LONG_VALUE}`] },
  { name: 'long value get', args: ['info-get guestinfo.long'], seed: { 'guestinfo.long': LONG_VALUE } },
  { name: 'non-ASCII value', args: ['info-get guestinfo.bin'], seed: { 'guestinfo.bin': '\u00e9\u00ff\t x' } },
  { name: 'log (empty result)', args: ['log hello from rpctool'] },
  {
    name: 'request over the 64 KiB host limit',
    args: [`info-set guestinfo.huge ${'h'.repeat(70000)}`],
    expect: { status: 1, stdout: '', stderr: 'RpcOut: Unable to send the RPCI command\n' },
    callsDiffer: true,
  },
  { name: 'no arguments', args: [], expect: { status: 1, stdout: '', stderr: USAGE } },
  { name: '--help', args: ['--help'], expect: { status: 0, stdout: '', stderr: USAGE } },
  { name: '-h prefix', args: ['-hello'] },
  { name: '--help prefix', args: ['--helpful'] },
  { name: 'extra arguments are ignored', args: ['info-get guestinfo.foo', 'ignored'], seed: { 'guestinfo.foo': 'x' } },
  {
    name: 'reply with an embedded NUL',
    args: ['test.nul'],
    setup: (sim) => sim.client.setCannedReply('test.nul', Buffer.from('1 before\0after')),
    expect: { status: 0, stdout: 'before\n' },
  },
  { name: 'malformed reply', args: ['test.bad'], setup: (sim) => sim.client.setCannedReply('test.bad', 'X') },
  { name: 'host denies HB', args: ['info-get guestinfo.foo'], seed: { 'guestinfo.foo': 'x' }, setup: (sim) => sim.client.setHb(false) },
  {
    name: 'cookie refused (old host)',
    args: ['info-get guestinfo.foo'],
    seed: { 'guestinfo.foo': 'x' },
    setup: (sim) => sim.client.setRefuseCookieOpen(true),
  },
  {
    name: 'MESSAGE unavailable (the open fails)',
    args: ['info-get guestinfo.foo'],
    setup: (sim) => sim.client.disableCommand(30),
    expect: { status: 1, stdout: '', stderr: 'NULL\n' },
  },
];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  wire: string[];
  calls: { message: Record<string, number>; commands: Record<string, number>; hbOut: number; hbIn: number };
}

describeUnderShim(__filename, 'vmware-rpctool differential', () => {
  let sim: SimHandle;

  before(async () => {
    assert.ok(fs.existsSync(THEIRS), `Debian's vmware-rpctool is not unpacked at ${THEIRS}: run scripts/setup.sh`);
    sim = await startSim();
  });
  after(async () => sim?.stop());

  /** Puts the host back to the same state before each tool runs. */
  async function prepare(c: Case): Promise<void> {
    await sim.client.setConfig({ hb: true, refuseCookieOpen: false });
    await sim.client.disableCommand(30, false);
    for (const k of Object.keys(await sim.client.listGuestInfo())) await sim.client.deleteGuestInfo(k);
    for (const [k, v] of Object.entries(c.seed ?? {})) await sim.client.setGuestInfo(k, v);
    await c.setup?.(sim);
    await sim.client.clearRpcLog();
    await sim.client.resetCounters();
  }

  function envFor(): NodeJS.ProcessEnv {
    const env = { ...process.env, ...sim.env({ preload: true, cpuidPatch: ['vmware-rpctool'] }) };
    delete env.VMTOOLSD_ASSUME_VMWARE;
    return env;
  }

  async function run(file: string, args: string[]): Promise<Run> {
    // The same argv[0] for both: the reference prints it in one message.
    const r = spawnSync(file, args, { argv0: 'vmware-rpctool', env: envFor(), encoding: 'latin1', timeout: 20000 });
    const wire = (await sim.client.getRpcLog())
      .filter((e) => e.proto === 'RPCI' && e.request !== null)
      .map((e) => e.request!.toString('base64'));
    const c = await sim.client.getCounters();
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      wire,
      calls: { message: c.message, commands: c.commands, hbOut: c.hbOut, hbIn: c.hbIn },
    };
  }

  after(async () => {
    await sim?.client.disableCommand(30, false).catch(() => undefined);
  });

  for (const c of CASES) {
    it(`${c.name}: same output, exit code, wire bytes and backdoor calls`, async () => {
      await prepare(c);
      const theirs = await run(THEIRS, c.args);
      await prepare(c);
      const ours = await run(OURS, c.args);
      if (c.callsDiffer) {
        assert.deepEqual({ ...ours, calls: null, wire: null }, { ...theirs, calls: null, wire: null });
      } else {
        assert.deepEqual(ours, theirs);
      }
      if (c.expect) {
        assert.equal(theirs.status, c.expect.status);
        if (c.expect.stdout !== undefined) assert.equal(theirs.stdout, c.expect.stdout);
        if (c.expect.stderr !== undefined) assert.equal(theirs.stderr, c.expect.stderr);
      }
    });
  }

  it('not on VMware (no simulator answering): same error and exit code', () => {
    const env = envFor();
    env.VMTOOLSD_SIM_SOCKET = path.join(sim.dir, 'nobody-listens.sock');
    const theirs = spawnSync(THEIRS, ['info-get guestinfo.foo'], { argv0: 'vmware-rpctool', env, encoding: 'utf8' });
    const ours = spawnSync(OURS, ['info-get guestinfo.foo'], { argv0: 'vmware-rpctool', env, encoding: 'utf8' });
    assert.deepEqual(
      { status: ours.status, stdout: ours.stdout, stderr: ours.stderr },
      { status: theirs.status, stdout: theirs.stdout, stderr: theirs.stderr },
    );
    assert.equal(theirs.status, 255);
    assert.equal(theirs.stderr, 'Error: vmware-rpctool must be run inside a virtual machine on a VMware hypervisor product.\n');
  });
});
