/**
 * Layer 0: the trap shim. A C probe with its own SIGSEGV handler (like
 * vmware-rpctool) and this very Node process (whose V8 installs a SIGSEGV
 * handler for WebAssembly) must both see backdoor calls answered by the
 * simulator and every other fault delivered to their own handler.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detect } from '../src/native';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, REPO_ROOT, startSim } from './helpers/native-env';

const PROBE_SOURCE = path.join(REPO_ROOT, 'test', 'fixtures', 'shim-probe.c');

/** A wasm function that loads from 0x10000, one byte past its single 64 KiB page. */
const OOB_WASM = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 102, 0, 0, 10, 11, 1, 9, 0,
  65, 128, 128, 4, 40, 2, 0, 11,
]);

/** The slice of the WebAssembly global this test needs (lib ES2022 has no wasm types). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

function wasmOutOfBounds(): string {
  const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
  const inst = new wasm.Instance(new wasm.Module(OOB_WASM));
  try {
    (inst.exports.f as () => number)();
    return 'no trap';
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

function parseLines(out: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const line of out.trim().split('\n')) {
    const i = line.indexOf(' ');
    r[line.slice(0, i)] = line.slice(i + 1);
  }
  return r;
}

describeUnderShim(__filename, 'trap shim', () => {
  let sim: SimHandle;
  let dir: string;
  let probe: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-probe-'));
    probe = path.join(dir, 'shim-probe');
    execFileSync('cc', ['-O2', '-pthread', '-o', probe, PROBE_SOURCE]);
    sim = await startSim();
  });
  after(async () => {
    await sim?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function runProbe(mode: string, env: Record<string, string>): Record<string, string> {
    const r = spawnSync(probe, [mode], { env, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, `probe exited ${r.status} ${r.signal}: ${r.stderr}`);
    return parseLines(r.stdout);
  }

  it('answers backdoor calls and hands every other fault to the program', () => {
    const env = { ...process.env, ...sim.env({ preload: true, cpuidPatch: ['shim-probe'] }) };
    const r = runProbe('all', env as Record<string, string>);
    assert.deepEqual(r, {
      sigaction_reports_app: '1',
      getversion: '6',
      wrong_port: '-1',
      null_deref_app: '1',
      signal_null_deref_app: '1',
      getversion_after_signal: '6',
      fork_child_ok: '1',
      fork_parent_ok: '1',
      threads_ok: '800',
      cpuid_vendor: 'VMwareVMware',
    });
  });

  it('counts the probe calls in the simulator, per pid', async () => {
    await sim.client.resetCounters();
    const env = { ...process.env, ...sim.env({ preload: true }) };
    runProbe('getversion', env as Record<string, string>);
    const c = await sim.client.getCounters();
    assert.equal(c.commands.GETVERSION, 1);
    assert.equal(Object.keys(c.byPid).length, 1);
  });

  it('without the shim, a backdoor call faults into the program as on bare metal', () => {
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    assert.equal(runProbe('getversion', env as Record<string, string>).getversion, '-1');
  });

  it('with the simulator unreachable, the fault goes to the program', () => {
    const env = { ...process.env, ...sim.env({ preload: true }), VMTOOLSD_SIM_SOCKET: path.join(dir, 'nobody.sock') };
    assert.equal(runProbe('getversion', env as Record<string, string>).getversion, '-1');
  });

  it('leaves cpuid alone in objects it was not asked to patch', () => {
    const env = { ...process.env, ...sim.env({ preload: true }) };
    delete (env as Record<string, string | undefined>).VMTOOLSD_SIM_CPUID_PATCH;
    assert.notEqual(runProbe('all', env as Record<string, string>).cpuid_vendor, 'VMwareVMware');
  });

  it('keeps working in this Node process after V8 installed its own SIGSEGV handler', () => {
    // V8's WebAssembly trap handler turns this fault into a RuntimeError:
    // proof that Node's handler still receives faults that are not backdoor calls.
    assert.equal(wasmOutOfBounds(), 'RuntimeError: memory access out of bounds');
    const d = detect();
    assert.equal(d.vmware, true);
    assert.equal(d.backdoorVersion, 6);
    assert.equal(wasmOutOfBounds(), 'RuntimeError: memory access out of bounds');
  });
});
