/**
 * The two agents under test in the differential suites (test/9x-*-differential):
 * Debian's open-vm-tools 12.2 `vmtoolsd` and ours, each started in the
 * sandbox of ./sandbox.ts against its own simulator.
 *
 * Debian's vmtoolsd is unpacked under .cache/ovt (never installed): it finds
 * its plugins through --common-path/-p, its libraries through
 * LD_LIBRARY_PATH, and passes its VMware check through the shim's software
 * CPUID (cpuidPatch libvmtools.so.0). Ours runs as
 * `node bin/vmtoolsd -n vmsvc -c <conf>` with VMTOOLSD_ASSUME_VMWARE=1.
 * Debian's daemon is a real system daemon: it is only ever started through
 * runSandboxed, never bare.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SimHandle } from '../../src/sim/harness';
import { REPO_ROOT, sleep } from './native-env';
import { buildLauncher, runSandboxed, sandboxBlocker, SandboxedProcess, StdioMode } from './sandbox';

export const OVT_ROOT = process.env.VMTOOLSD_OVT_ROOT ?? path.join(REPO_ROOT, '.cache', 'ovt', 'root');
export const OVT_LIB = path.join(OVT_ROOT, 'usr', 'lib', 'x86_64-linux-gnu');
/** Debian's plugin tree: common/ (e.g. libvix.so) and vmsvc/ (e.g. libdeployPkgPlugin.so). */
export const OVT_PLUGINS = path.join(OVT_LIB, 'open-vm-tools', 'plugins');
export const THEIRS = path.join(OVT_ROOT, 'usr', 'bin', 'vmtoolsd');
export const OURS = path.join(REPO_ROOT, 'bin', 'vmtoolsd');
/** Where the differential suites write their reports. */
export const REPORT_DIR = path.join(REPO_ROOT, 'build', 'differential');

export type Agent = 'theirs' | 'ours';

/** A minimal PATH/HOME/LANG; the sandbox puts its stub directory in front of PATH. */
const BASE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C' };

/** The argv that starts `agent` as the vmsvc service with tools.conf `conf`. */
export function agentCommand(agent: Agent, conf: string): string[] {
  if (agent === 'theirs') {
    return [THEIRS, '-n', 'vmsvc', '--common-path', path.join(OVT_PLUGINS, 'common'), '-p', path.join(OVT_PLUGINS, 'vmsvc'), '-c', conf];
  }
  return [process.execPath, OURS, '-n', 'vmsvc', '-c', conf];
}

/** The environment `agent` runs with against `sim`; `oursExtra` is added for ours only. */
export function agentEnv(agent: Agent, sim: SimHandle, oursExtra: Record<string, string> = {}): Record<string, string> {
  if (agent === 'theirs') {
    return { ...BASE_ENV, ...sim.env({ preload: true, cpuidPatch: ['libvmtools.so.0'], assumeVmware: false }), LD_LIBRARY_PATH: OVT_LIB };
  }
  return { ...BASE_ENV, ...sim.env({ preload: true, assumeVmware: true }), ...oursExtra };
}

/** Fails (never skips) when the sandbox cannot be built; builds its launcher. */
export function requireSandbox(): void {
  const blocker = sandboxBlocker();
  if (blocker) throw new Error(`cannot build the sandbox for Debian's vmtoolsd: ${blocker}`);
  buildLauncher();
}

/** requireSandbox, and Debian's vmtoolsd must be unpacked. */
export function requireReference(): void {
  requireSandbox();
  if (!fs.existsSync(THEIRS)) throw new Error(`Debian's vmtoolsd is not unpacked at ${THEIRS}: run scripts/setup.sh`);
}

/** Waits until the RPC log has been quiet for quietMs (and, if asked, a TCLO endpoint is polling). */
export async function settle(sim: SimHandle, quietMs: number, timeoutMs: number, needEndpoint: boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let quietSince = Date.now();
  for (;;) {
    const log = await sim.client.getRpcLog();
    const n = log.length ? log[log.length - 1].seq : 0;
    if (n !== last) {
      last = n;
      quietSince = Date.now();
    }
    const polling = !needEndpoint || (await sim.client.listTclo()).some((e) => e.pid !== null);
    if (polling && Date.now() - quietSince >= quietMs) return;
    if (Date.now() > deadline) throw new Error(`agent did not go idle within ${timeoutMs} ms (TCLO endpoint ${polling ? 'up' : 'missing'})`);
    await sleep(50);
  }
}

/** Output kept from an agent (the tail), for error messages. */
const OUTPUT_KEEP = 200000;

export interface StartedAgent {
  process: SandboxedProcess;
  /** The agent's stdout and stderr so far, interleaved (the last OUTPUT_KEEP characters). */
  output(): string;
  /** Polls every pollMs until the agent's TCLO endpoint is up; throws after timeoutMs. */
  waitForTclo(timeoutMs: number, pollMs: number): Promise<void>;
}

export interface StartOptions {
  sim: SimHandle;
  conf: string;
  /** Where the sandbox's stubs and init record what ran (see ./sandbox.ts). */
  stubsLog: string;
  cwd?: string;
  /** Environment added for ours only (agentEnv). */
  oursEnv?: Record<string, string>;
}

/** Starts `agent` in the sandbox against `opts.sim` and collects its output; await `.process.sandbox.ready`. */
export function startAgent(agent: Agent, opts: StartOptions): StartedAgent {
  const stdio: [StdioMode, StdioMode, StdioMode] = ['ignore', 'pipe', 'pipe'];
  const p = runSandboxed(agentCommand(agent, opts.conf), { env: agentEnv(agent, opts.sim, opts.oursEnv), stubsLog: opts.stubsLog, cwd: opts.cwd ?? REPO_ROOT, stdio });
  let out = '';
  const collect = (d: Buffer): void => {
    out = (out + d.toString()).slice(-OUTPUT_KEEP);
  };
  p.stdout!.on('data', collect);
  p.stderr!.on('data', collect);
  return {
    process: p,
    output: () => out,
    async waitForTclo(timeoutMs: number, pollMs: number): Promise<void> {
      const end = Date.now() + timeoutMs;
      while (!(await opts.sim.client.listTclo()).some((e) => e.pid !== null)) {
        if (Date.now() > end) throw new Error(`${agent}: no TCLO endpoint within ${timeoutMs} ms\n--- ${agent} output (tail) ---\n${out.slice(-4000)}`);
        await sleep(pollMs);
      }
    },
  };
}

/** What the sandbox recorded: system commands run in place of shutdown & co., signals sent to its PID 1. */
export function systemActions(stubsLog: string): string[] {
  const lines = fs.existsSync(stubsLog) ? fs.readFileSync(stubsLog, 'utf8').split('\n') : [];
  const out: string[] = [];
  for (const l of lines) {
    if (/^init: signal .* sent to PID 1/.test(l)) out.push(l.replace(/by pid \d+/, 'by pid <n>'));
    else if (l && !l.startsWith('init:')) out.push(`ran ${l.replace(/^\d+ /, '')}`);
  }
  return out;
}

/** Lines only on one side, by longest common subsequence (order matters). */
export function lcsDiff(a: string[], b: string[]): Array<{ side: 'theirs-only' | 'ours-only'; line: string }> {
  const m = a.length;
  const n = b.length;
  const t: number[][] = Array.from({ length: m + 1 }, () => new Array<number>(n + 1).fill(0));
  for (let i = m - 1; i >= 0; i--) for (let j = n - 1; j >= 0; j--) t[i][j] = a[i] === b[j] ? t[i + 1][j + 1] + 1 : Math.max(t[i + 1][j], t[i][j + 1]);
  const out: Array<{ side: 'theirs-only' | 'ours-only'; line: string }> = [];
  let i = 0;
  let j = 0;
  while (i < m || j < n) {
    if (i < m && j < n && a[i] === b[j]) {
      i++;
      j++;
    } else if (j >= n || (i < m && t[i + 1][j] >= t[i][j + 1])) out.push({ side: 'theirs-only', line: a[i++] });
    else out.push({ side: 'ours-only', line: b[j++] });
  }
  return out;
}
