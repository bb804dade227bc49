/**
 * A sandbox for running a guest agent (Debian's vmtoolsd, or ours) on this
 * real machine without letting it touch the machine: see docs/sandbox.md.
 *
 * Layers, outermost first:
 *
 *  1. `unshare --mount --net --pid --uts --ipc --fork --mount-proc --kill-child`:
 *     private mount, network and PID namespaces (UTS and IPC too, for free). The agent's "PID 1" is our recording
 *     init, its network is a lone loopback, and mounts made for it are private.
 *     /tmp and the rest of the file system stay visible, so the simulator's
 *     UNIX trap socket (a path on the shared file system) is reachable.
 *  2. A setup script, run as root inside the new mount namespace:
 *     bind-mounts a recording stub over every shutdown, reboot, poweroff,
 *     halt, init, systemctl and hwclock that exists under /sbin, /usr/sbin,
 *     /bin and /usr/bin (symlinks are followed, so the binary they point to is
 *     covered), /dev/null over /dev/vsock, and an empty tmpfs over /var/log.
 *  3. `setpriv --bounding-set -sys_time,-sys_boot,-sys_admin,-sys_rawio
 *     --inh-caps -all --ambient-caps -all`: those four capabilities are gone
 *     from every set after the exec (the clock cannot be set, no reboot(2), no
 *     FIFREEZE or mount, no iopl).
 *  4. test/fixtures/novsock-exec.c (compiled here with cc): verifies layers
 *     1–3 from the inside, sets NO_NEW_PRIVS and a seccomp filter that makes
 *     AF_VSOCK sockets fail with EAFNOSUPPORT (a network namespace does not
 *     isolate vsock, and this machine has a real virtio-vsock device), then
 *     stays as PID 1 of the namespace: it forwards our signals to the agent,
 *     records signals the agent sends to PID 1 and reaps.
 *
 * After the launcher reports success, the test process verifies the same
 * facts again from the outside in /proc/<pid>/status and /proc/<pid>/ns of
 * the init and of the agent. Anything missing makes `sandbox.ready` reject
 * (and the sandbox is killed): a test must await it and fail rather than run
 * the agent unsandboxed.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../../src/sim/harness';

export const LAUNCHER_SOURCE = path.join(REPO_ROOT, 'test', 'fixtures', 'novsock-exec.c');
export const STUB_SOURCE = path.join(REPO_ROOT, 'test', 'fixtures', 'stubs', 'record-stub.sh');
export const LAUNCHER = path.join(REPO_ROOT, 'build', 'sandbox', 'novsock-exec');

/** Capabilities removed from every set (setpriv names, capability numbers). */
export const DROPPED_CAPS: Record<string, number> = { sys_rawio: 17, sys_admin: 21, sys_boot: 22, sys_time: 25 };
const DROPPED_MASK = Object.values(DROPPED_CAPS).reduce((m, b) => m | (1n << BigInt(b)), 0n);

/** Commands replaced by the recording stub, and where. */
export const STUBBED_COMMANDS = ['shutdown', 'reboot', 'poweroff', 'halt', 'init', 'systemctl', 'hwclock'];
export const STUBBED_DIRS = ['/sbin', '/usr/sbin', '/bin', '/usr/bin'];

export type StdioMode = 'pipe' | 'ignore' | 'inherit';

/** Directories given a private, empty tmpfs inside the sandbox (what the agents write there stays there). */
export const PRIVATE_DIRS = ['/var/log'];

export interface SandboxOptions {
  /** The complete environment of the command (nothing else is inherited). The stub directory is prepended to its PATH. */
  env: Record<string, string>;
  /** File the stubs and the recording init append to (created if needed). */
  stubsLog: string;
  cwd?: string;
  /** stdin, stdout, stderr of the command (default all 'pipe'). */
  stdio?: [StdioMode, StdioMode, StdioMode];
  /** How long to wait for the sandbox to come up (default 10000 ms). */
  readyTimeoutMs?: number;
}

/** Capability and confinement state of one process, read from /proc. */
export interface ProcState {
  pid: number;
  exe: string;
  caps: Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb', string>;
  noNewPrivs: number;
  seccomp: number;
  ns: Record<'mnt' | 'net' | 'pid', string>;
  /** The process's PID inside its namespace (last NSpid field). */
  nsPid: number;
}

export interface SandboxReport {
  /** key=value lines the launcher wrote after checking itself from the inside. */
  inside: Record<string, string>;
  /** The same facts read by the test process. */
  init: ProcState;
  target: ProcState;
  /** Paths the stub was bind-mounted over (after following symlinks) and names that do not exist here. */
  stubs: { bound: string[]; missing: string[] };
  /** /dev/vsock covered by /dev/null, or absent on this machine. */
  vsockDevice: 'covered' | 'absent';
}

export interface SandboxHandle {
  /** Private directory of this run (removed when the sandbox exits). */
  dir: string;
  /** Resolves once the command runs inside a verified sandbox; rejects (after killing it) otherwise. */
  ready: Promise<SandboxReport>;
  /** Host PID of the namespace's init (our launcher), once known. */
  initPid(): number | null;
  /** Host PID of the command, once known. */
  targetPid(): number | null;
  /** Resolves when unshare exits, with the command's exit status (128+N if killed by signal N). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (forwarded by the init to the command), then SIGKILL after timeoutMs. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * The unshare process. kill(sig) delivers sig to the command through the
 * namespace's init (unshare itself ignores SIGTERM); SIGKILL kills unshare,
 * and with it (--kill-child) the init and the whole PID namespace.
 */
export type SandboxedProcess = ChildProcess & { sandbox: SandboxHandle };

// -----------------------------------------------------------------------------

function which(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(d || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Why a sandbox cannot be built here, or null. Tests must FAIL (not skip) on a non-null answer. */
export function sandboxBlocker(): string | null {
  if (process.platform !== 'linux') return `the sandbox needs Linux namespaces (platform ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the sandbox must be built as root (unshare of mount/net/pid namespaces)';
  for (const tool of ['unshare', 'setpriv', 'mount', 'cc']) {
    if (!which(tool)) return `${tool} not found in PATH (util-linux / build-essential)`;
  }
  for (const f of [LAUNCHER_SOURCE, STUB_SOURCE]) if (!fs.existsSync(f)) return `missing ${path.relative(REPO_ROOT, f)}`;
  return null;
}

/** Compiles test/fixtures/novsock-exec.c into build/sandbox/ when missing or stale; returns its path. */
export function buildLauncher(): string {
  const src = fs.statSync(LAUNCHER_SOURCE);
  try {
    if (fs.statSync(LAUNCHER).mtimeMs >= src.mtimeMs) return LAUNCHER;
  } catch {
    /* build it */
  }
  fs.mkdirSync(path.dirname(LAUNCHER), { recursive: true });
  const tmp = `${LAUNCHER}.${process.pid}.tmp`;
  const r = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', tmp, LAUNCHER_SOURCE], { encoding: 'utf8' });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`cannot compile ${path.relative(REPO_ROOT, LAUNCHER_SOURCE)}: ${r.error?.message ?? ''}${r.stderr}`);
  }
  fs.renameSync(tmp, LAUNCHER);
  return LAUNCHER;
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function nsInode(pid: number | 'self', ns: string): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
}

/** Children of `ppid` (scanning /proc: this kernel has no /proc/<pid>/task/<tid>/children). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

export function readProcState(pid: number): ProcState {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k: string): string => {
    const m = new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status);
    if (!m) throw new Error(`${k} missing from /proc/${pid}/status`);
    return m[1].trim();
  };
  const nspid = field('NSpid').split(/\s+/);
  let exe = '';
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    /* zombie */
  }
  return {
    pid,
    exe,
    caps: { CapInh: field('CapInh'), CapPrm: field('CapPrm'), CapEff: field('CapEff'), CapBnd: field('CapBnd'), CapAmb: field('CapAmb') },
    noNewPrivs: Number(field('NoNewPrivs')),
    seccomp: Number(field('Seccomp')),
    ns: { mnt: nsInode(pid, 'mnt'), net: nsInode(pid, 'net'), pid: nsInode(pid, 'pid') },
    nsPid: Number(nspid[nspid.length - 1]),
  };
}

/** Throws unless `s` is confined as promised (names the first missing layer). */
export function assertConfined(s: ProcState, what: string): void {
  for (const [set, hex] of Object.entries(s.caps)) {
    const v = BigInt(`0x${hex}`);
    if (v & DROPPED_MASK) {
      const held = Object.entries(DROPPED_CAPS)
        .filter(([, b]) => v & (1n << BigInt(b)))
        .map(([n]) => `CAP_${n.toUpperCase()}`);
      throw new Error(`sandbox: ${what} (pid ${s.pid}) still has ${held.join(', ')} in ${set}=${hex}`);
    }
  }
  if (s.noNewPrivs !== 1) throw new Error(`sandbox: ${what} (pid ${s.pid}) lacks NoNewPrivs`);
  if (s.seccomp !== 2) throw new Error(`sandbox: ${what} (pid ${s.pid}) has no seccomp filter (Seccomp: ${s.seccomp})`);
  for (const ns of ['mnt', 'net', 'pid'] as const) {
    if (s.ns[ns] === nsInode('self', ns)) throw new Error(`sandbox: ${what} (pid ${s.pid}) shares the test's ${ns} namespace ${s.ns[ns]}`);
  }
}

function parseReport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function planStubs(): { bound: string[]; missing: string[] } {
  const bound = new Set<string>();
  const missing: string[] = [];
  const dirs = new Map<string, string>(); // real directory -> first name given (/sbin and /usr/sbin may be one)
  for (const d of STUBBED_DIRS) {
    try {
      const real = fs.realpathSync(d);
      if (!dirs.has(real)) dirs.set(real, d);
    } catch {
      /* no such directory */
    }
  }
  for (const dir of dirs.values()) {
    for (const name of STUBBED_COMMANDS) {
      const p = path.join(dir, name);
      let real: string;
      try {
        real = fs.realpathSync(p);
      } catch {
        missing.push(p);
        continue;
      }
      if (fs.statSync(real).isFile()) bound.add(real);
    }
  }
  return { bound: [...bound].sort(), missing };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `cmd` (argv; cmd[0] is looked up in the command's PATH) inside the
 * sandbox. Throws at once if the sandbox cannot be built here; otherwise
 * await `.sandbox.ready` before relying on the command running.
 */
export function runSandboxed(cmd: string[], opts: SandboxOptions): SandboxedProcess {
  if (cmd.length === 0) throw new Error('runSandboxed: empty command');
  const blocker = sandboxBlocker();
  if (blocker) throw new Error(`sandbox unavailable, refusing to run ${cmd[0]} unsandboxed: ${blocker}`);
  const launcher = buildLauncher();

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-sandbox-'));
  const reportFile = path.join(dir, 'report');
  const envFile = path.join(dir, 'env');
  const setupFile = path.join(dir, 'setup.sh');
  const stub = path.join(dir, 'stub');
  const binDir = path.join(dir, 'bin');
  fs.mkdirSync(path.dirname(opts.stubsLog), { recursive: true });
  fs.appendFileSync(opts.stubsLog, '');

  // The recording stub, with the log path written in (programs may clear their environment).
  fs.writeFileSync(stub, fs.readFileSync(STUB_SOURCE, 'utf8').replace(`'@STUBS_LOG@'`, shq(path.resolve(opts.stubsLog))), { mode: 0o755 });
  fs.mkdirSync(binDir);
  for (const name of STUBBED_COMMANDS) fs.symlinkSync(stub, path.join(binDir, name));

  const stubs = planStubs();
  const vsockDevice = fs.existsSync('/dev/vsock') ? 'covered' : 'absent';

  // The command's environment: exactly opts.env, with the stub directory first in PATH.
  const env = { ...opts.env, PATH: `${binDir}:${opts.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}` };
  fs.writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(''));

  const outer = (['mnt', 'net', 'pid'] as const).map((ns) => `${ns}=${fs.statSync(`/proc/self/ns/${ns}`).ino}`).join(',');
  const setup = [
    '#!/bin/sh',
    '# Runs as root inside the new mount/net/pid namespaces, before capabilities are dropped.',
    'set -eu',
    'mount --make-rprivate /',
    ...stubs.bound.map((p) => `mount --bind ${shq(stub)} ${shq(p)}`),
    ...(vsockDevice === 'covered' ? ['mount --bind /dev/null /dev/vsock'] : []),
    // Debian's vmtoolsd opens /var/log/vmware-vmtoolsd-<user>.log before it reads -c: keep it off the host.
    ...PRIVATE_DIRS.filter((d) => fs.existsSync(d)).map((d) => `mount -t tmpfs -o size=16m,mode=0755 sandbox-${path.basename(d)} ${shq(d)}`),
    `exec setpriv --bounding-set ${Object.keys(DROPPED_CAPS)
      .map((c) => `-${c}`)
      .join(',')} --inh-caps -all --ambient-caps -all -- \\`,
    `  ${shq(launcher)} --init --report ${shq(reportFile)} --log ${shq(path.resolve(opts.stubsLog))} --env-file ${shq(envFile)} --outer-ns ${outer} --watch-fd 3 -- \\`,
    `  ${cmd.map(shq).join(' ')}`,
    '',
  ].join('\n');
  fs.writeFileSync(setupFile, setup, { mode: 0o755 });

  const stdio = opts.stdio ?? ['pipe', 'pipe', 'pipe'];
  const child = spawn(
    'unshare',
    ['--mount', '--net', '--pid', '--uts', '--ipc', '--fork', '--mount-proc', '--kill-child', '--propagation', 'private', '--', '/bin/sh', setupFile],
    {
      cwd: opts.cwd,
      // unshare, sh, mount and setpriv get a minimal environment: no LD_PRELOAD, no shim variables.
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
      stdio: [stdio[0], stdio[1], stdio[2], 'pipe'],
    },
  ) as SandboxedProcess;

  let init: number | null = null;
  let target: number | null = null;
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(exitInfo);
    });
  });
  let spawnError: Error | null = null;
  child.once('error', (e) => (spawnError = e));

  const origKill = child.kill.bind(child);
  child.kill = (sig: NodeJS.Signals | number = 'SIGTERM'): boolean => {
    if (exitInfo) return false;
    // Never anything but our own init (host PID > 1, verified to be PID 1 of the sandbox's namespace).
    if (sig === 'SIGKILL' || sig === 9 || init === null || init <= 1) return origKill('SIGKILL');
    try {
      process.kill(init, sig);
      return true;
    } catch {
      return origKill('SIGKILL');
    }
  };

  const ready = (async (): Promise<SandboxReport> => {
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 10000);
    let inside: Record<string, string> = {};
    // 1. The launcher's own verdict.
    for (;;) {
      if (spawnError) throw new Error(`sandbox: cannot start unshare: ${(spawnError as Error).message}`);
      let text = '';
      try {
        text = fs.readFileSync(reportFile, 'utf8');
      } catch {
        /* not yet */
      }
      inside = parseReport(text);
      if (inside.ok === '1') break;
      if (inside.ok === '0') throw new Error(`sandbox: the launcher refused to start ${cmd[0]}: ${inside.error}`);
      if (exitInfo) throw new Error(`sandbox: unshare exited (${JSON.stringify(exitInfo)}) before the command started; setup:\n${setup}`);
      if (Date.now() > deadline) throw new Error(`sandbox: not up after ${opts.readyTimeoutMs ?? 10000} ms`);
      await sleep(10);
    }
    // 2. The same facts from the outside: the init is unshare's child, the command the init's.
    const pid = child.pid!;
    while (init === null) {
      const kids = childrenOf(pid);
      if (kids.length === 1) init = kids[0];
      else if (Date.now() > deadline || exitInfo) throw new Error(`sandbox: cannot find the namespace's init under unshare ${pid}`);
      else await sleep(10);
    }
    const initState = readProcState(init);
    if (initState.nsPid !== 1) throw new Error(`sandbox: the launcher is not PID 1 of its namespace (NSpid ${initState.nsPid})`);
    assertConfined(initState, 'the sandbox init');
    let targetState: ProcState | null = null;
    while (targetState === null) {
      const kids = childrenOf(init);
      if (kids.length > 0) {
        const s = readProcState(kids[0]);
        if (s.exe !== initState.exe) {
          target = kids[0];
          targetState = s;
          break;
        }
      }
      if (exitInfo) throw new Error(`sandbox: ${cmd[0]} exited at once (${JSON.stringify(exitInfo)})`);
      if (Date.now() > deadline) throw new Error(`sandbox: ${cmd[0]} did not start under the init`);
      await sleep(10);
    }
    assertConfined(targetState, cmd[0]);
    for (const ns of ['mnt', 'net', 'pid'] as const) {
      if (targetState.ns[ns] !== initState.ns[ns]) throw new Error(`sandbox: ${cmd[0]} left the sandbox ${ns} namespace`);
    }
    return { inside, init: initState, target: targetState, stubs, vsockDevice };
  })();
  ready.catch(() => {
    if (!exitInfo) origKill('SIGKILL');
  });

  child.sandbox = {
    dir,
    ready,
    initPid: () => init,
    targetPid: () => target,
    exited,
    async stop(timeoutMs = 5000) {
      if (exitInfo) return exitInfo;
      child.kill('SIGTERM');
      const t = setTimeout(() => origKill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
  return child;
}
