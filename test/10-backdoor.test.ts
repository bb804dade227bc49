/**
 * The backdoor instructions and VMware detection (channel.md §1–2).
 *
 * Part 1 runs in child processes WITHOUT the trap shim: on this (KVM) machine
 * a backdoor instruction faults, and detection must say "not VMware" without
 * crashing. Part 2 runs under the shim + simulator and checks the raw LB call.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as nat from '../src/native';
import type { SimHandle } from '../src/sim/harness';
import { NATIVE_ADDON, REPO_ROOT, RPCTOOL, describeUnderShim, startSim } from './helpers/native-env';

const BDOOR_MAGIC = 0x564d5868;
const NATIVE_INDEX = path.join(REPO_ROOT, 'dist', 'src', 'native', 'index.js');

/** Environment of a process with no shim at all. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.LD_PRELOAD;
  delete env.VMTOOLSD_SIM_SOCKET;
  delete env.VMTOOLSD_SIM_CPUID_PATCH;
  if (!('VMTOOLSD_ASSUME_VMWARE' in extra)) delete env.VMTOOLSD_ASSUME_VMWARE;
  return env;
}

/** Runs `body` (JS, with `nat` = the native index) in a shim-less child; returns its JSON output. */
function runBare(body: string, extra: Record<string, string> = {}): { status: number | null; signal: NodeJS.Signals | null; out: unknown; stderr: string } {
  const script = `const nat = require(${JSON.stringify(NATIVE_INDEX)}); const out = (() => { ${body} })(); process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['-e', script], { env: bareEnv(extra), encoding: 'utf8', timeout: 20000 });
  let out: unknown = null;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    /* reported through status/stderr */
  }
  return { status: r.status, signal: r.signal, out, stderr: r.stderr };
}

const realVendor = (): string => runBare('return nat.detect().cpuidVendor;').out as string;

describe('backdoor without the trap shim (this machine is not VMware)', function () {
  before(function () {
    if (!fs.existsSync(NATIVE_ADDON) || !fs.existsSync(NATIVE_INDEX)) this.skip();
    // On real VMware hardware these expectations do not hold.
    if (realVendor() === 'VMwareVMware') this.skip();
  });

  it('detect() reads CPUID and says "not VMware" without executing the backdoor', () => {
    const r = runBare('return nat.detect();');
    assert.equal(r.status, 0, r.stderr);
    const d = r.out as nat.DetectResult;
    assert.equal(d.vmware, false);
    assert.equal(d.backdoorVersion, null);
    assert.equal(d.overridden, false);
    if (d.cpuidVendor === 'KVMKVMKVM' || d.cpuidVendor === 'XenVMMXenVMM') {
      assert.equal(d.probed, false, 'a known other hypervisor stops before the probe (§1 step 3)');
    }
  });

  it('VMTOOLSD_ASSUME_VMWARE=1 runs the guarded probe, which faults and is caught', () => {
    const r = runBare(
      `const d = nat.detect(); const s = nat.stats();
       const errs = {};
       for (const [k, f] of Object.entries({
         lowBandwidth: () => nat.lowBandwidth({ ecx: 10 }),
         open: () => new nat.Channel().open('RPCI'),
         oneShot: () => nat.rpcOneShot('info-get guestinfo.x'),
       })) { try { f(); errs[k] = null; } catch (e) { errs[k] = [e.code, e.name, e instanceof nat.ChannelError]; } }
       return { d, lb: s.lb, errs, after: nat.stats().lb };`,
      { VMTOOLSD_ASSUME_VMWARE: '1' },
    );
    assert.equal(r.status, 0, r.stderr);
    const { d, lb, errs, after } = r.out as { d: nat.DetectResult; lb: number; errs: Record<string, unknown>; after: number };
    assert.equal(d.vmware, false);
    assert.equal(d.overridden, true);
    assert.equal(d.probed, true);
    assert.equal(d.probeFaulted, true);
    assert.equal(lb, 1, 'the first instruction (touch) faulted, GETVERSION never ran');
    for (const k of ['lowBandwidth', 'open', 'oneShot']) assert.deepEqual(errs[k], ['NOT_VMWARE', 'ChannelError', true], k);
    assert.equal(after, 1, 'nothing after detection executed a backdoor instruction');
  });

  it('the probe restores the signal handlers it borrowed', () => {
    const r = runBare(
      `const caught = () => require('fs').readFileSync('/proc/self/status', 'utf8').match(/SigCgt:\\s*(\\w+)/)[1];
       const before = caught(); nat.detect(); return [before, caught()];`,
      { VMTOOLSD_ASSUME_VMWARE: '1' },
    );
    assert.equal(r.status, 0, r.stderr);
    const [before, after] = r.out as [string, string];
    assert.equal(after, before);
  });

  it('vmware-rpctool refuses off VMware exactly like open-vm-tools 12.2 (exit 255)', function () {
    if (!fs.existsSync(RPCTOOL)) this.skip();
    for (const [args, extra] of [
      [[], {}],
      [['info-get guestinfo.x'], {}],
      [['info-get guestinfo.x'], { VMTOOLSD_ASSUME_VMWARE: '1' }],
    ] as Array<[string[], Record<string, string>]>) {
      const r = spawnSync(RPCTOOL, args, { env: bareEnv(extra), encoding: 'utf8' });
      assert.equal(r.status, 255);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `Error: ${RPCTOOL} must be run inside a virtual machine on a VMware hypervisor product.\n`);
    }
  });
});

describeUnderShim(__filename, 'backdoor under the trap shim and simulator', function () {
  let sim: SimHandle;

  before(async () => {
    sim = await startSim();
  });
  after(async () => {
    await sim?.stop();
  });

  it('detect(): GETVERSION says VMware, protocol 6, ESX', async () => {
    await sim.client.resetCounters();
    nat.resetStats();
    const d = nat.detect();
    assert.equal(d.vmware, true);
    assert.equal(d.backdoorVersion, 6);
    assert.equal(d.vmxType, 2);
    assert.equal(d.probed, true);
    assert.equal(d.probeFaulted, false);
    assert.equal(d.overridden, d.cpuidVendor !== 'VMwareVMware');
    // §1 steps 4 and 5: the touch and GETVERSION proper, nothing else.
    assert.equal(nat.stats().lb, 2);
    assert.deepEqual(nat.stats().lbByCommand, { 10: 2 });
    const c = await sim.client.getCountersForPid(process.pid);
    assert.deepEqual(c.commands, { GETVERSION: 2 });
  });

  it('lowBandwidth(): all six registers in and out, 64-bit where it matters', () => {
    const r = nat.lowBandwidth({
      ecx: 0xffff000a, // GETVERSION with the "unset type" pattern (§1 step 5)
      ebx: 0xa9b2a797, // ~magic
      edx: 0x12340000, // EDX.hi16 is passed; DX is forced to the LB port
      esi: 0xdeadbeef01234567n, // not touched by GETVERSION: must come back whole
      edi: 0x0123456789abcdefn,
    });
    assert.equal(r.eax, 6);
    assert.equal(r.ebx, BDOOR_MAGIC);
    assert.equal(r.ecx, 2);
    assert.equal(r.edx & 0xffff, 0x5658);
    assert.equal(r.edx >>> 16, 0x1234);
    assert.equal(r.rsi, 0xdeadbeef01234567n);
    assert.equal(r.rdi, 0x0123456789abcdefn);
    assert.equal(r.esi, 0x01234567);
    assert.equal(typeof r.rax, 'bigint');
  });

  it('lowBandwidth(): GETTIMEFULL (46) gives the host time in ESI:EDX', () => {
    const r = nat.lowBandwidth({ ecx: 46 });
    assert.equal(r.eax, BDOOR_MAGIC, 'EAX unchanged (= magic) on success (§2.6)');
    const secs = (BigInt(r.esi) << 32n) | BigInt(r.edx);
    assert.ok(Math.abs(Number(secs) - Date.now() / 1000) < 5, `host seconds ${secs}`);
    assert.ok(r.ebx < 1_000_000);
  });

  it('counts every LB call by command, agreeing with the simulator', async () => {
    await sim.client.resetCounters();
    nat.resetStats();
    for (let i = 0; i < 3; i++) nat.lowBandwidth({ ecx: 10, ebx: 0xa9b2a797 });
    nat.lowBandwidth({ ecx: 46 });
    const s = nat.stats();
    assert.equal(s.lb, 4);
    assert.deepEqual(s.lbByCommand, { 10: 3, 46: 1 });
    assert.equal(s.hbIn + s.hbOut, 0);
    const c = await sim.client.getCountersForPid(process.pid);
    assert.equal(c.lb, 4);
    assert.equal(c.commands.GETVERSION, 3);
  });

  it('rejects register values that do not fit', () => {
    assert.throws(() => nat.lowBandwidth({ ecx: -1 }), RangeError);
    assert.throws(() => nat.lowBandwidth({ ecx: 2 ** 32 }), RangeError);
    assert.throws(() => nat.lowBandwidth({ ecx: 1n << 64n }), RangeError);
    assert.throws(() => nat.lowBandwidth({} as nat.LowBandwidthRegs), TypeError);
  });
});
