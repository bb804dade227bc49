/**
 * Power-operation scripts: which one runs (core-services.md §6.2), the
 * built-in equivalent of the reference's default scripts (§6.4), and running
 * a script with a timeout.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SCRIPT_KILL_GRACE_MS, StateChangeCommand } from './constants';

/** What to run for one state change. */
export type ScriptPlan =
  /** Key set to "": nothing to run, the state change succeeds (§6.2). */
  | { kind: 'none'; reason: string }
  /** A script file, run as argv = [path] (§6.2). */
  | { kind: 'file'; path: string }
  /**
   * The default script is not installed: run its drop-ins ourselves, as
   * statechange.sh would (§6.4). Empty when no drop-in exists.
   */
  | { kind: 'builtin'; defaultPath: string; dropIns: string[]; op: string };

/**
 * §6.2: the configured value (typed: the default name when the key is
 * absent, "" when set empty) → what to run. A relative name is under
 * `scriptDir`; a leading '"' and the last character are stripped first
 * (the reference's legacy quoting).
 */
export function planScript(cmd: StateChangeCommand, configured: string, scriptDir: string): ScriptPlan {
  if (configured === '') return { kind: 'none', reason: `[powerops] ${cmd.scriptKey} is empty` };
  let script = configured;
  if (!path.isAbsolute(script)) {
    if (script.startsWith('"')) script = script.slice(1, -1);
    script = `${scriptDir}/${script}`;
  }
  const defaultPath = `${scriptDir}/${cmd.defaultScript}`;
  if (script === defaultPath && !fs.existsSync(script)) {
    return { kind: 'builtin', defaultPath, dropIns: listDropIns(cmd.op, scriptDir), op: cmd.op };
  }
  return { kind: 'file', path: script };
}

/**
 * §6.4: executables in scripts/vmware and scripts/<op>-default.d, each
 * directory in name order; VMware's directory first for power-on/resume,
 * the user's first for power-off/suspend.
 */
export function listDropIns(op: string, scriptDir: string): string[] {
  const vmware = path.join(scriptDir, 'scripts', 'vmware');
  const user = path.join(scriptDir, 'scripts', `${op}-default.d`);
  const order = op === 'poweron-vm' || op === 'resume-vm' ? [vmware, user] : [user, vmware];
  const out: string[] = [];
  for (const dir of order) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const p = path.join(dir, n);
      try {
        if (fs.statSync(p).isFile()) {
          fs.accessSync(p, fs.constants.X_OK);
          out.push(p);
        }
      } catch {
        /* not an executable file: statechange.sh skips it too */
      }
    }
  }
  return out;
}

/** How a script ended: the reference logs these three forms (§6.2 "on child exit"). */
export type ScriptOutcome = { exitCode: number } | { signal: number; timedOut: boolean };

export interface RunningScript {
  pid: number;
  /** Resolves once every process of the run has ended. */
  done: Promise<ScriptOutcome>;
}

export interface RunOptions {
  /** 0 = wait forever (the reference's behaviour). */
  timeoutMs: number;
  env: NodeJS.ProcessEnv;
  /** Called when the timeout fires (before the kill), for the log. */
  onTimeout?: () => void;
  /** Called for each drop-in of a built-in run as it starts. */
  onDropIn?: (file: string) => void;
}

const signalNumber = (name: NodeJS.Signals | null): number => (name ? (os.constants.signals[name] ?? 0) : 0);

/**
 * Starts one process as the reference does (g_spawn_async: stdin, stdout and
 * stderr on /dev/null, the daemon's environment and working directory), in
 * its own process group so a timeout can end everything the script started.
 * Returns an Error if it could not be started (§6.2 "Error starting script").
 */
function spawnOne(file: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess | Error {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch (e) {
    return new Error(`${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const child = spawn(file, args, { stdio: 'ignore', env, detached: true });
  if (child.pid === undefined) {
    // spawn() reports ENOENT/EACCES/ENOEXEC asynchronously; no pid means it failed.
    child.on('error', () => undefined);
    return new Error(`${file}: cannot be executed`);
  }
  return child;
}

function waitChild(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    child.on('error', () => undefined);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * Runs a plan ('file' or 'builtin'). A timeout sends SIGTERM to the process
 * group, then SIGKILL after SCRIPT_KILL_GRACE_MS.
 */
export function runScript(plan: Extract<ScriptPlan, { kind: 'file' } | { kind: 'builtin' }>, opts: RunOptions): RunningScript | Error {
  let current: ChildProcess | undefined;
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const killGroup = (sig: NodeJS.Signals): void => {
    if (current?.pid === undefined || current.exitCode !== null || current.signalCode !== null) return;
    try {
      process.kill(-current.pid, sig);
    } catch {
      /* already gone */
    }
  };
  const armTimeout = (): void => {
    if (opts.timeoutMs <= 0) return;
    timer = setTimeout(() => {
      timedOut = true;
      opts.onTimeout?.();
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), SCRIPT_KILL_GRACE_MS);
      killTimer.unref();
    }, opts.timeoutMs);
  };
  const finish = (o: ScriptOutcome): ScriptOutcome => {
    if (timer) clearTimeout(timer);
    if (killTimer) clearTimeout(killTimer);
    return o;
  };

  if (plan.kind === 'file') {
    const child = spawnOne(plan.path, [], opts.env);
    if (child instanceof Error) return child;
    current = child;
    armTimeout();
    const done = waitChild(child).then(({ code, signal }) =>
      finish(signal ? { signal: signalNumber(signal), timedOut } : { exitCode: code ?? 0 }),
    );
    return { pid: child.pid!, done };
  }

  // Built-in statechange.sh: each drop-in with the operation as its only
  // argument and TOOLS_CONFDIR set; the exit code is the OR of theirs
  // (a drop-in killed by signal N counts as 128+N, as in sh).
  const env = { ...opts.env, TOOLS_CONFDIR: path.dirname(plan.defaultPath) };
  armTimeout();
  const done = (async (): Promise<ScriptOutcome> => {
    let code = 0;
    for (const file of plan.dropIns) {
      if (timedOut) break;
      opts.onDropIn?.(file);
      const child = spawnOne(file, [plan.op], env);
      if (child instanceof Error) {
        code |= 126;
        continue;
      }
      current = child;
      const r = await waitChild(child);
      current = undefined;
      if (timedOut) return finish({ signal: signalNumber(r.signal) || os.constants.signals.SIGTERM, timedOut });
      code |= r.signal ? 128 + signalNumber(r.signal) : (r.code ?? 0);
    }
    return finish({ exitCode: code });
  })();
  return { pid: process.pid, done };
}
