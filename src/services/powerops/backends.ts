/**
 * Halt/reboot backends: how a host's "Shut Down Guest" / "Restart Guest"
 * is carried out once the power-off script succeeded (core-services.md
 * §6.2 `System_Shutdown`, §6.3), and the choice between them.
 *
 * Every backend returns what happened: `ok` only when the request was
 * accepted (a command exited 0, a signal was delivered, a line was
 * recorded). The service turns a failure into status 0 for the host and a
 * log line saying why — never a silent success (Bottlerocket shipped one:
 * users-and-packaging.md §1.1).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DBusConnection, DEFAULT_SYSTEM_BUS_SOCKET, LOGIND } from './dbus';
import { detectContainer, detectInit, InitInfo, INITIAL_PID_NS_INODE, pidNamespaceInode } from './detect';

export type PowerAction = 'halt' | 'reboot';

export interface PowerResult {
  ok: boolean;
  /** What was done, or why it failed (one line, for the journal and the host's vmware.log). */
  why: string;
}

/** A way to power off or reboot. Used by powerOps and by customization (deployPkg) for its reboot. */
export interface PowerBackend {
  readonly name: string;
  halt(): Promise<PowerResult>;
  reboot(): Promise<PowerResult>;
}

// -----------------------------------------------------------------------------
// Running a command

/** Shutdown commands return as soon as the request is queued; one that takes longer is stuck. */
export const COMMAND_TIMEOUT_MS = 30000;

/**
 * systemctl inside a chroot-like container prints this and exits 0 without
 * doing anything (the containerized open-vm-tools "does nothing" bug);
 * SYSTEMD_IGNORE_CHROOT=1 prevents it, and we treat the message as a failure.
 */
const CHROOT_REFUSAL = /Running in chroot, ignoring/i;

export function runCommand(file: string, args: string[], extraEnv: Record<string, string> = {}): Promise<PowerResult> {
  const line = [file, ...args].join(' ');
  return new Promise((resolve) => {
    let out = '';
    let settled = false;
    const done = (r: PowerResult): void => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(r);
      }
    };
    // No shell: a shell-less image (Bottlerocket) must work too.
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv } });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done({ ok: false, why: `${line}: no answer after ${COMMAND_TIMEOUT_MS / 1000} s` });
    }, COMMAND_TIMEOUT_MS);
    const collect = (d: Buffer): void => {
      out = (out + d.toString('utf8')).slice(-2000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('error', (e) => done({ ok: false, why: `${line}: ${e.message}` }));
    child.on('close', (code, signal) => {
      const said = out.trim().split('\n').filter(Boolean).pop() ?? '';
      if (code === 0 && CHROOT_REFUSAL.test(out)) done({ ok: false, why: `${line}: ${said} (systemd refused: in a chroot/container without SYSTEMD_IGNORE_CHROOT)` });
      else if (code === 0) done({ ok: true, why: `ran ${line}` });
      else done({ ok: false, why: `${line}: ${signal ? `killed by ${signal}` : `exit status ${code}`}${said ? `: ${said}` : ''}` });
    });
  });
}

function isSocket(p: string): boolean {
  try {
    return fs.statSync(p).isSocket();
  } catch {
    return false;
  }
}

function firstExecutable(candidates: readonly string[]): string | undefined {
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

// -----------------------------------------------------------------------------
// The backends

/** §6.3: the reference's shutdown command and its systemctl fallback. */
export const SHUTDOWN_COMMAND = '/sbin/shutdown';
export const REFERENCE_SYSTEMCTLS = ['/usr/bin/systemctl', '/sbin/systemctl'] as const;
/** Where the systemd backend looks for systemctl when [powerops] systemctl is not set. */
export const SYSTEMCTL_SEARCH = ['/usr/bin/systemctl', '/bin/systemctl', '/usr/sbin/systemctl', '/sbin/systemctl'] as const;

/** Appends "<ISO time> <action>" to a file: for tests, the demo and dry runs. */
export class RecordBackend implements PowerBackend {
  readonly name = 'record';
  constructor(readonly file: string) {}
  halt(): Promise<PowerResult> {
    return this.record('halt');
  }
  reboot(): Promise<PowerResult> {
    return this.record('reboot');
  }
  private async record(action: PowerAction): Promise<PowerResult> {
    try {
      fs.appendFileSync(this.file, `${new Date().toISOString()} ${action}\n`);
      return { ok: true, why: `recorded ${action} in ${this.file}` };
    } catch (e) {
      return { ok: false, why: `cannot record ${action} in ${this.file}: ${(e as Error).message}` };
    }
  }
}

/** Always fails, saying why: what a refused or impossible choice turns into. */
export class RefusedBackend implements PowerBackend {
  readonly name = 'refused';
  constructor(readonly why: string) {}
  async halt(): Promise<PowerResult> {
    return { ok: false, why: this.why };
  }
  async reboot(): Promise<PowerResult> {
    return { ok: false, why: this.why };
  }
}

/**
 * The reference's way (§6.3): `/sbin/shutdown -h|-r now`; if that fails,
 * `systemctl poweroff|reboot -i` (/usr/bin first, then /sbin). Run without a
 * shell; SYSTEMD_IGNORE_CHROOT=1 so that a systemd `shutdown` in a container
 * does not silently refuse.
 */
export class ShutdownBackend implements PowerBackend {
  readonly name = 'shutdown';
  constructor(
    readonly shutdown: string = SHUTDOWN_COMMAND,
    readonly systemctls: readonly string[] = REFERENCE_SYSTEMCTLS,
  ) {}
  halt(): Promise<PowerResult> {
    return this.run('-h', 'poweroff');
  }
  reboot(): Promise<PowerResult> {
    return this.run('-r', 'reboot');
  }
  private async run(flag: string, verb: string): Promise<PowerResult> {
    const first = await runCommand(this.shutdown, [flag, 'now'], { SYSTEMD_IGNORE_CHROOT: '1' });
    if (first.ok) return first;
    const systemctl = firstExecutable(this.systemctls);
    if (!systemctl) return { ok: false, why: `${first.why}; no systemctl to fall back to (${this.systemctls.join(', ')})` };
    const second = await runCommand(systemctl, [verb, '-i'], { SYSTEMD_IGNORE_CHROOT: '1' });
    return second.ok ? { ok: true, why: `${first.why}; then ${second.why}` } : { ok: false, why: `${first.why}; ${second.why}` };
  }
}

/**
 * systemd through systemctl: on the host, or from a container with the
 * host's /run/systemd bind-mounted (systemctl then reaches the host's
 * systemd over /run/systemd/private; SYSTEMD_IGNORE_CHROOT=1 stops it from
 * refusing because the container's root differs from PID 1's).
 */
export class SystemdBackend implements PowerBackend {
  readonly name = 'systemd';
  constructor(readonly systemctl: string) {}
  halt(): Promise<PowerResult> {
    return runCommand(this.systemctl, ['poweroff', '-i'], { SYSTEMD_IGNORE_CHROOT: '1' });
  }
  reboot(): Promise<PowerResult> {
    return runCommand(this.systemctl, ['reboot', '-i'], { SYSTEMD_IGNORE_CHROOT: '1' });
  }
}

/**
 * systemd-logind over the system bus: `PowerOff(false)` / `Reboot(false)`
 * (org.freedesktop.login1(5)), with our own small D-Bus client (./dbus.ts).
 * Needs no binary in the container, only the host's bus socket
 * (/run/dbus/system_bus_socket) bind-mounted. logind answers once the job
 * is queued, or with an error (e.g. an inhibitor, a denied request).
 */
export class LogindBackend implements PowerBackend {
  readonly name = 'logind';
  constructor(readonly busSocket: string = DEFAULT_SYSTEM_BUS_SOCKET) {}
  halt(): Promise<PowerResult> {
    return this.call('PowerOff');
  }
  reboot(): Promise<PowerResult> {
    return this.call('Reboot');
  }
  private async call(member: 'PowerOff' | 'Reboot'): Promise<PowerResult> {
    let conn: DBusConnection | undefined;
    try {
      conn = await DBusConnection.connect(this.busSocket);
      await withTimeout(conn.call({ ...LOGIND, member, signature: 'b', body: [false] }), COMMAND_TIMEOUT_MS, `logind ${member}`);
      return { ok: true, why: `logind accepted ${member} (${this.busSocket})` };
    } catch (e) {
      return { ok: false, why: `logind ${member} over ${this.busSocket}: ${(e as Error).message}` };
    } finally {
      conn?.close();
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer after ${ms / 1000} s`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/**
 * Linux signal numbers as glibc names them: SIGRTMIN is 34 (the kernel's 32
 * plus the two glibc keeps for threads), and systemd documents its signals
 * as SIGRTMIN+n in glibc's numbering (systemd(1)).
 */
export const SIGRTMIN = 34;

/** Per init: the signal to PID 1 for each action (systemd(1); busybox init/init.c). */
export const INIT_SIGNALS: Record<'systemd' | 'busybox', Record<PowerAction, { signal: number; name: string }>> = {
  // systemd(1): SIGRTMIN+4 starts poweroff.target, SIGRTMIN+5 reboot.target.
  systemd: { halt: { signal: SIGRTMIN + 4, name: 'SIGRTMIN+4' }, reboot: { signal: SIGRTMIN + 5, name: 'SIGRTMIN+5' } },
  // busybox init: SIGUSR2 = poweroff, SIGTERM = reboot, SIGUSR1 = halt without
  // power-off. A poweroff sent as SIGTERM reboots instead (linuxkit#3480).
  busybox: { halt: { signal: 12, name: 'SIGUSR2' }, reboot: { signal: 15, name: 'SIGTERM' } },
};

/**
 * A signal to PID 1 matching its init, detected at each request. sysvinit
 * has no power-off signal (its init(8) signals are ctrl-alt-del, power
 * failure and reopening /run/initctl): use the shutdown backend there.
 */
export class InitSignalBackend implements PowerBackend {
  readonly name = 'init-signal';
  constructor(
    readonly procDir = '/proc',
    /** Tests: where the signal goes (always PID 1 in the daemon). */
    private readonly kill: (pid: number, signal: number) => void = (pid, signal) => process.kill(pid, signal),
  ) {}
  halt(): Promise<PowerResult> {
    return this.signal('halt');
  }
  reboot(): Promise<PowerResult> {
    return this.signal('reboot');
  }
  /** The init this backend would signal now. */
  init(): InitInfo {
    return detectInit(this.procDir);
  }
  private async signal(action: PowerAction): Promise<PowerResult> {
    const init = this.init();
    if (init.kind !== 'systemd' && init.kind !== 'busybox') {
      return {
        ok: false,
        why: `PID 1 is ${init.comm || '?'} (${init.exe || 'exe unreadable: /proc/1/exe needs CAP_SYS_PTRACE when PID 1 has capabilities we lack'}), ${init.kind === 'sysvinit' ? 'sysvinit, which has no power-off signal' : 'not an init we know the signals of'}: use [powerops] backend = shutdown or systemd`,
      };
    }
    const s = INIT_SIGNALS[init.kind][action];
    try {
      this.kill(1, s.signal);
      return { ok: true, why: `sent ${s.name} (${s.signal}) to PID 1 (${init.kind} ${init.exe || init.comm})` };
    } catch (e) {
      return { ok: false, why: `cannot send ${s.name} to PID 1 (${init.kind}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
  }
}

// -----------------------------------------------------------------------------
// Choosing one

export const POWER_BACKEND_NAMES = ['auto', 'systemd', 'logind', 'init-signal', 'shutdown', 'record'] as const;
export type PowerBackendName = (typeof POWER_BACKEND_NAMES)[number];

export interface PowerBackendConfig {
  /** [powerops] backend. */
  backend: PowerBackendName;
  /** [powerops] record-file (else $VMTOOLSD_POWER_RECORD). */
  recordFile?: string;
  /** [powerops] systemctl (else searched in SYSTEMCTL_SEARCH). */
  systemctl?: string;
  /** [powerops] system-bus (else DEFAULT_SYSTEM_BUS_SOCKET under the root). */
  systemBus?: string;
}

export interface PowerEnvironment {
  /**
   * detect().overridden: we run under the VMX simulator on a machine that is
   * not a VMware guest. Only `record`, or a backend whose every target the
   * test vouched for as a stub, may then be used.
   */
  simulator: boolean;
  /** Default '/'. */
  root?: string;
  /** Default '/proc'. */
  procDir?: string;
  /** Default process.env. Read: VMTOOLSD_POWER_RECORD, VMTOOLSD_POWER_STUBS, VMTOOLSD_POWER_OUTER_PIDNS. */
  env?: NodeJS.ProcessEnv;
}

export interface BackendChoice {
  backend: PowerBackend;
  /** Why this one (logged at start-up and with each operation). */
  reason: string;
}

/**
 * Simulator safety for a signal to PID 1: allowed only inside a PID
 * namespace that is neither the initial one nor the test's own (named in
 * VMTOOLSD_POWER_OUTER_PIDNS by the test that created it). A signal cannot
 * leave its PID namespace, so PID 1 there is the test's recording init.
 */
function simulatorPidNsCheck(env: NodeJS.ProcessEnv, procDir: string): string | null {
  const outer = Number(env.VMTOOLSD_POWER_OUTER_PIDNS);
  const own = pidNamespaceInode(procDir);
  if (!env.VMTOOLSD_POWER_OUTER_PIDNS || !Number.isFinite(outer)) return 'VMTOOLSD_POWER_OUTER_PIDNS (the test\'s PID namespace) is not set';
  if (own === null) return 'cannot read our PID namespace';
  if (own === INITIAL_PID_NS_INODE || own === outer) return `PID 1 here is this machine's (PID namespace ${own})`;
  return null;
}

/** Simulator safety for commands: every program the backend may run must be named in VMTOOLSD_POWER_STUBS. */
function simulatorStubCheck(env: NodeJS.ProcessEnv, programs: string[]): string | null {
  const stubs = new Set((env.VMTOOLSD_POWER_STUBS ?? '').split(',').filter(Boolean).map((p) => path.resolve(p)));
  const missing = programs.filter((p) => !stubs.has(path.resolve(p)));
  return missing.length ? `${missing.join(', ')} not vouched for as a stub (VMTOOLSD_POWER_STUBS)` : null;
}

/**
 * The backend named in tools.conf, or with `auto` the first that fits, in
 * this order (docs/design.md "Power operations"):
 *
 *  1. systemd — /run/systemd/system exists (systemd runs, or the host's
 *     /run/systemd is bind-mounted into our container) and systemctl is
 *     found: it reports errors, honours -i and reaches the host from a
 *     container with SYSTEMD_IGNORE_CHROOT=1;
 *  1b. logind — the same, but no systemctl and the system bus socket is
 *     there: the same request over D-Bus, without any binary;
 *  2. init-signal — PID 1 is systemd or busybox init and it is the host's
 *     (no container, or a container with --pid=host): no binaries needed;
 *  3. shutdown — the reference's way, for sysvinit and anything else.
 *
 * Under the simulator `auto` means `record`, and real backends are refused
 * unless the test vouched for their targets (see the checks above).
 */
export function chooseBackend(cfg: PowerBackendConfig, penv: PowerEnvironment): BackendChoice {
  const env = penv.env ?? process.env;
  const root = penv.root ?? '/';
  const procDir = penv.procDir ?? '/proc';
  const refuse = (why: string): BackendChoice => ({ backend: new RefusedBackend(why), reason: why });
  const sim = (what: string, problem: string | null, make: () => BackendChoice): BackendChoice =>
    penv.simulator && problem ? refuse(`simulator mode: refusing the ${what} backend: ${problem}`) : make();
  const recordFile = cfg.recordFile ?? env.VMTOOLSD_POWER_RECORD;
  const systemctl = cfg.systemctl ?? firstExecutable(SYSTEMCTL_SEARCH.map((p) => path.join(root, p)));
  const bus = cfg.systemBus ?? path.join(root, DEFAULT_SYSTEM_BUS_SOCKET);

  switch (cfg.backend) {
    case 'record':
      return recordFile
        ? { backend: new RecordBackend(recordFile), reason: `[powerops] backend = record (${recordFile})` }
        : refuse('[powerops] backend = record, but neither [powerops] record-file nor VMTOOLSD_POWER_RECORD names a file');
    case 'systemd':
      if (!systemctl) return refuse(`[powerops] backend = systemd, but no systemctl (${SYSTEMCTL_SEARCH.join(', ')}; set [powerops] systemctl)`);
      return sim('systemd', simulatorStubCheck(env, [systemctl]), () => ({ backend: new SystemdBackend(systemctl), reason: `[powerops] backend = systemd (${systemctl})` }));
    case 'logind':
      return sim('logind', simulatorStubCheck(env, [bus]), () => ({ backend: new LogindBackend(bus), reason: `[powerops] backend = logind (${bus})` }));
    case 'init-signal':
      return sim('init-signal', simulatorPidNsCheck(env, procDir), () => ({ backend: new InitSignalBackend(procDir), reason: '[powerops] backend = init-signal' }));
    case 'shutdown': {
      const programs = [SHUTDOWN_COMMAND, ...REFERENCE_SYSTEMCTLS.filter((p) => fs.existsSync(p))];
      return sim('shutdown', simulatorStubCheck(env, programs), () => ({ backend: new ShutdownBackend(), reason: '[powerops] backend = shutdown' }));
    }
    case 'auto':
      break;
  }

  if (penv.simulator) {
    if (recordFile) return { backend: new RecordBackend(recordFile), reason: `simulator mode: auto = record (${recordFile})` };
    if (!env.VMTOOLSD_POWER_STUBS && !env.VMTOOLSD_POWER_OUTER_PIDNS) {
      return refuse('simulator mode: no real halt/reboot backend is ever chosen automatically; set [powerops] backend = record and record-file');
    }
    // The test made a fake system (stub systemctl, fake /run/systemd, a PID
    // namespace with a recording init; e.g. the container tests): make the
    // real choice, then hold it to the same checks as a named backend.
    const real = chooseAuto(root, procDir, env, systemctl, bus);
    const b = real.backend;
    const problem =
      b instanceof SystemdBackend ? simulatorStubCheck(env, [b.systemctl])
      : b instanceof LogindBackend ? simulatorStubCheck(env, [b.busSocket])
      : b instanceof InitSignalBackend ? simulatorPidNsCheck(env, procDir)
      : simulatorStubCheck(env, [SHUTDOWN_COMMAND, ...REFERENCE_SYSTEMCTLS.filter((p) => fs.existsSync(p))]);
    return problem
      ? refuse(`simulator mode: refusing auto's choice (${b.name}): ${problem}`)
      : { backend: b, reason: `simulator mode, vouched for by the test: ${real.reason}` };
  }
  return chooseAuto(root, procDir, env, systemctl, bus);
}

/** `auto` outside the simulator (the order is chooseBackend's comment). */
function chooseAuto(root: string, procDir: string, env: NodeJS.ProcessEnv, systemctl: string | undefined, bus: string): BackendChoice {
  const ct = detectContainer(root, procDir, env);
  const where = ct.container ? `in a container (${ct.evidence}${ct.hostPidNamespace ? ', host PID namespace' : ', own PID namespace'})` : 'not in a container';
  const systemdRuns = fs.existsSync(path.join(root, 'run', 'systemd', 'system'));
  if (systemdRuns && systemctl) {
    return { backend: new SystemdBackend(systemctl), reason: `auto: systemd (/run/systemd/system present, ${systemctl}), ${where}` };
  }
  if (systemdRuns && isSocket(bus)) {
    return { backend: new LogindBackend(bus), reason: `auto: logind (/run/systemd/system present, no systemctl, system bus ${bus}), ${where}` };
  }
  const init = detectInit(procDir);
  if ((init.kind === 'systemd' || init.kind === 'busybox') && (!ct.container || ct.hostPidNamespace)) {
    return { backend: new InitSignalBackend(procDir), reason: `auto: init-signal (PID 1 is ${init.kind}), ${where}` };
  }
  const hint =
    ct.container && !ct.hostPidNamespace
      ? '; warning: in a container with its own PID namespace and no /run/systemd, halt/reboot cannot reach the host: run it with --pid=host or bind-mount /run/systemd'
      : '';
  return { backend: new ShutdownBackend(), reason: `auto: shutdown (PID 1 is ${init.comm || 'unknown'}, ${init.kind}), ${where}${hint}` };
}
