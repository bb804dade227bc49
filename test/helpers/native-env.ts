/**
 * Where a native test may run.
 *
 * Backdoor instructions only work in a process that has the trap shim
 * preloaded (LD_PRELOAD is read at exec time, so a running process cannot
 * acquire it) and a simulator listening on $VMTOOLSD_SIM_SOCKET.
 * scripts/run-tests.sh starts mocha that way. When a suite finds itself in a
 * plain process (`npx mocha dist/test/20-message.test.js`), describeUnderShim
 * re-runs that one file in a child mocha with the shim preloaded, and reports
 * the child's result as one test; if the shim or the simulator is not built,
 * it skips with the reason.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { ChannelError, ChannelErrorCode, detect } from '../../src/native';
import { REPO_ROOT, SHIM_LIBRARY, SimHandle, StartSimulatorOptions, startSimulator } from '../../src/sim/harness';

export { REPO_ROOT, SHIM_LIBRARY };

export const NATIVE_ADDON = path.join(REPO_ROOT, 'build', 'Release', 'vmtools_native.node');
export const RPCTOOL = path.join(REPO_ROOT, 'build', 'Release', 'vmware-rpctool');
const SIM_MAIN = path.join(REPO_ROOT, 'dist', 'src', 'sim', 'main.js');
const MOCHA = path.join(REPO_ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js');
const RESPAWNED = 'VMTOOLSD_TEST_RESPAWNED';

/** The shim is mapped into this process and has a simulator socket to talk to. */
export function shimLoaded(): boolean {
  if (!process.env.VMTOOLSD_SIM_SOCKET) return false;
  try {
    return fs.readFileSync('/proc/self/maps', 'utf8').includes('vmtoolsd_trap_shim.so');
  } catch {
    return false;
  }
}

/** Why this process cannot re-spawn a file under the shim, or null if it can. */
function respawnBlocker(): string | null {
  for (const [what, p] of [
    ['native addon', NATIVE_ADDON],
    ['trap shim', SHIM_LIBRARY],
    ['simulator', SIM_MAIN],
    ['mocha', MOCHA],
  ] as const) {
    if (!fs.existsSync(p)) return `${what} not built (${path.relative(REPO_ROOT, p)})`;
  }
  return null;
}

/**
 * describe() for suites that execute backdoor instructions. `file` is the
 * caller's __filename (the compiled .js), re-run in a child when needed.
 */
export function describeUnderShim(file: string, title: string, fn: (this: Mocha.Suite) => void): void {
  if (shimLoaded()) {
    describe(title, fn);
    return;
  }
  if (process.env[RESPAWNED]) {
    describe(title, () => {
      it('runs with the trap shim preloaded', () => {
        throw new Error('re-spawned under the trap shim, but the shim is not loaded: check LD_PRELOAD / VMTOOLSD_SIM_SOCKET');
      });
    });
    return;
  }
  const blocker = respawnBlocker();
  if (blocker) {
    describe(title, () => {
      it(`needs the trap shim and simulator: ${blocker}`, function () {
        this.skip();
      });
    });
    return;
  }
  describe(`${title} (re-spawned under the trap shim)`, () => {
    it(`passes in a child mocha process for ${path.basename(file)}`, async function () {
      this.timeout(300000);
      const { code, output } = await runUnderShim(file, title);
      if (code !== 0) throw new Error(`child mocha exited ${code}:\n${output}`);
      // Show the child's own report so a pass is not a black box.
      process.stdout.write(output.replace(/^/gm, '      | ') + '\n');
    });
  });
}

function runUnderShim(file: string, title: string): Promise<{ code: number | null; output: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-respawn-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    [RESPAWNED]: '1',
    VMTOOLSD_SIM_SOCKET: path.join(dir, 'trap.sock'),
    VMTOOLSD_ASSUME_VMWARE: '1',
    LD_PRELOAD: SHIM_LIBRARY,
  };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MOCHA, '--timeout', '60000', '--reporter', 'spec', '--fgrep', title, file], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (code) => {
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, output });
    });
  });
}

/**
 * Starts the simulator on this process's trap socket (the one the preloaded
 * shim talks to). Call in before(); stop in after().
 */
export async function startSim(opts: StartSimulatorOptions = {}): Promise<SimHandle> {
  const sim = await startSimulator({ trapSocket: process.env.VMTOOLSD_SIM_SOCKET, ...opts });
  // The addon caches "is there a backdoor?" per process; a suite that probed
  // while no simulator was listening left "no". Probe again now that one is.
  if (shimLoaded()) detect();
  return sim;
}

/** Deterministic binary test data including NUL bytes (xorshift32). */
export function testBytes(n: number, seed = 0x2545f491): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  // Make sure NULs appear even in short buffers, but never as the very last
  // byte: the simulator's RPCI log keeps raw bytes, yet some of its parsers
  // trim trailing NULs (channel.md §4.1), and the point here is exactness.
  if (n >= 3) b[1] = 0;
  if (n > 0 && b[n - 1] === 0) b[n - 1] = 0x5a;
  return b;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** ⌈n/4⌉: LB payload calls for n bytes (channel.md §3.7). */
export const pieces = (n: number): number => Math.ceil(n / 4);

/** Runs `fn` and returns the ChannelError it must throw, with `code` (and a message matching `message`). */
export function expectCode(fn: () => unknown, code: ChannelErrorCode, message?: RegExp): ChannelError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ChannelError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${code}`);
}
