/**
 * Starts the VMX simulator as a child process for mocha suites and
 * benchmarks, and hands back its sockets, a control client and the
 * environment a process under test needs.
 *
 * The simulator runs WITHOUT the trap shim: LD_PRELOAD and the shim's
 * variables are removed from its environment (the shim would otherwise be
 * preloaded into the very process that answers its traps).
 *
 * Trap socket path: scripts/run-tests.sh preloads the shim into the mocha
 * process with VMTOOLSD_SIM_SOCKET pointing into a private directory, so by
 * default the simulator listens exactly there; the addon running inside the
 * test process then reaches it. Without that variable a path in the
 * simulator's own temp directory is used.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SimClient } from './control';
import type { VsockRole } from './vsock-host';

/** Repository root (this file runs as dist/src/sim/harness.js). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const SHIM_LIBRARY = path.join(REPO_ROOT, 'build', 'Release', 'vmtoolsd_trap_shim.so');
export const SIM_MAIN = path.join(__dirname, 'main.js');

export interface StartSimulatorOptions {
  /** Default: $VMTOOLSD_SIM_SOCKET if set, else <tmpdir>/trap.sock. */
  trapSocket?: string;
  /** Seed guest variables (`guestinfo.` prefix optional). */
  guestinfo?: Record<string, string>;
  hb?: boolean;
  refuseCookieOpen?: boolean;
  vmxType?: number;
  clockOffsetMs?: number;
  /** Listen for "vsock" connections on UNIX sockets in the temp dir (see SimHandle.env). */
  vsockSockets?: boolean;
  /**
   * One connected stream per entry, served by the simulator as a vsock
   * connection of that role; the other ends are SimHandle.vsockPipes, ready
   * to be passed as a stdio entry to the process under test.
   */
  vsockPipes?: VsockRole[];
  /**
   * Drive every new guest TCLO channel like a VMX: reset, ping,
   * Capabilities_Register, Set_Option burst, then a ping every
   * pingIntervalMs (core-services.md §2.2; src/sim/session.ts).
   */
  autoReset?: boolean;
  /** Periodic ping of auto-reset sessions, ms (default 15000; 0 = none). */
  pingIntervalMs?: number;
  /** One human-readable line per event on the simulator's stderr (see SimHandle.stderr()). */
  verbose?: boolean;
  /** Where the simulator's stderr goes (default: captured, see SimHandle.stderr()). */
  stderr?: 'inherit' | 'ignore' | 'pipe';
  /** Extra main.js arguments. */
  args?: string[];
  /** Default 10000. */
  startTimeoutMs?: number;
}

export interface SimEnvOptions {
  /** Add LD_PRELOAD=<repo>/build/Release/vmtoolsd_trap_shim.so (default false). */
  preload?: boolean;
  /** VMTOOLSD_SIM_CPUID_PATCH: basenames whose cpuid the shim emulates. */
  cpuidPatch?: string[];
  /** VMTOOLSD_ASSUME_VMWARE=1 (default true). */
  assumeVmware?: boolean;
}

export interface SimHandle {
  /** Private temp directory (removed by stop()). */
  dir: string;
  trapSocket: string;
  controlSocket: string;
  vsockRpciSocket: string | null;
  vsockTcloSocket: string | null;
  /** Other ends of StartSimulatorOptions.vsockPipes, in order. */
  vsockPipes: net.Socket[];
  pid: number;
  client: SimClient;
  /** Environment for a process under test (add LD_PRELOAD yourself or with {preload: true}). */
  env(opts?: SimEnvOptions): Record<string, string>;
  /** Captured stderr of the simulator (when not inherited). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Variables that must not reach the simulator process. */
const SHIM_VARS = ['LD_PRELOAD', 'VMTOOLSD_SIM_SOCKET', 'VMTOOLSD_SIM_CPUID_PATCH'];

function simEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of SHIM_VARS) delete env[k];
  return env;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export async function startSimulator(opts: StartSimulatorOptions = {}): Promise<SimHandle> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmx-sim-'));
  const trapSocket = opts.trapSocket ?? process.env.VMTOOLSD_SIM_SOCKET ?? path.join(dir, 'trap.sock');
  const controlSocket = path.join(dir, 'control.sock');
  const vsockRpciSocket = opts.vsockSockets ? path.join(dir, 'vsock-rpci.sock') : null;
  const vsockTcloSocket = opts.vsockSockets ? path.join(dir, 'vsock-tclo.sock') : null;

  const args = [SIM_MAIN, '--trap-socket', trapSocket, '--control-socket', controlSocket, '--exit-on-stdin-close'];
  for (const [k, v] of Object.entries(opts.guestinfo ?? {})) args.push('--guestinfo', `${k}=${v}`);
  if (opts.hb === false) args.push('--no-hb');
  if (opts.refuseCookieOpen) args.push('--refuse-cookie-open');
  if (opts.vmxType !== undefined) args.push('--vmx-type', String(opts.vmxType));
  if (opts.clockOffsetMs !== undefined) args.push('--clock-offset-ms', String(opts.clockOffsetMs));
  if (opts.autoReset) args.push('--auto-reset');
  if (opts.pingIntervalMs !== undefined) args.push('--ping-interval-ms', String(opts.pingIntervalMs));
  if (opts.verbose) args.push('--verbose');
  if (vsockRpciSocket) args.push('--vsock-rpci-socket', vsockRpciSocket);
  if (vsockTcloSocket) args.push('--vsock-tclo-socket', vsockTcloSocket);
  const pipes = opts.vsockPipes ?? [];
  pipes.forEach((role, i) => args.push('--vsock-fd', `${3 + i}:${role}`));
  args.push(...(opts.args ?? []));

  const stderrMode = opts.stderr ?? 'pipe';
  const child = spawn(process.execPath, args, {
    env: simEnv(),
    stdio: ['pipe', 'pipe', stderrMode, ...pipes.map(() => 'pipe' as const)],
  });
  let stderrText = '';
  if (child.stderr) {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderrText = (stderrText + s).slice(-65536);
    });
  }

  const cleanup = (): void => {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`simulator did not start: ${stderrText}`)), opts.startTimeoutMs ?? 10000);
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`simulator exited (${code}) before READY: ${stderrText}`));
      };
      child.once('exit', onExit);
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (s: string) => {
        out += s;
        if (out.includes('\n') && out.startsWith('READY ')) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve();
        }
      });
    });
  } catch (e) {
    cleanup();
    throw e;
  }

  let client: SimClient;
  try {
    client = await SimClient.connect(controlSocket);
  } catch (e) {
    cleanup();
    throw e;
  }

  const vsockPipes = pipes.map((_, i) => {
    const s = child.stdio[3 + i] as net.Socket;
    s.pause(); // the bytes are for the process under test, not for us
    return s;
  });

  let stopped = false;
  return {
    dir,
    trapSocket,
    controlSocket,
    vsockRpciSocket,
    vsockTcloSocket,
    vsockPipes,
    pid: child.pid ?? -1,
    client,
    env(e: SimEnvOptions = {}): Record<string, string> {
      const env: Record<string, string> = {
        VMTOOLSD_SIM_SOCKET: trapSocket,
        VMTOOLSD_SIM_CONTROL_SOCKET: controlSocket,
      };
      if (e.assumeVmware !== false) env.VMTOOLSD_ASSUME_VMWARE = '1';
      if (e.cpuidPatch && e.cpuidPatch.length > 0) env.VMTOOLSD_SIM_CPUID_PATCH = e.cpuidPatch.join(',');
      if (e.preload) env.LD_PRELOAD = SHIM_LIBRARY;
      if (vsockRpciSocket) env.VMTOOLSD_SIM_VSOCK_RPCI = vsockRpciSocket;
      if (vsockTcloSocket) env.VMTOOLSD_SIM_VSOCK_TCLO = vsockTcloSocket;
      return env;
    },
    stderr: () => stderrText,
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      client.close();
      for (const p of vsockPipes) p.destroy();
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 2000);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
