/**
 * Freeze/thaw scripts (quiesce.md §5.1–5.3, scriptOps.c): the legacy
 * pre-freeze/post-thaw pair and backupScripts.d, run one at a time through
 * the shell with `freeze`, `freezeFail` or `thaw` (+ scriptArg), output to
 * the log.
 */
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SCRIPT_KILL_GRACE_MS } from './constants';
import type { AsyncOp, OpStatus } from './ops';

export interface ScriptPaths {
  legacyFreeze: string;
  legacyThaw: string;
  dir: string;
}

export const DEFAULT_SCRIPT_PATHS: ScriptPaths = {
  legacyFreeze: '/usr/sbin/pre-freeze-script',
  legacyThaw: '/usr/sbin/post-thaw-script',
  dir: '/etc/vmware-tools/backupScripts.d',
};

export type ScriptPhase = 'freeze' | 'freezeFail' | 'thaw';

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** §5.1: slot 0 is the legacy script if either exists; then the directory in strcmp order. */
export class ScriptList {
  readonly entries: string[] = [];
  readonly legacy: boolean;
  constructor(readonly paths: ScriptPaths) {
    this.legacy = isFile(paths.legacyFreeze) || isFile(paths.legacyThaw);
    if (this.legacy) this.entries.push(paths.legacyFreeze);
    let names: string[] = [];
    try {
      names = fs.readdirSync(paths.dir);
    } catch {
      /* no directory */
    }
    names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const n of names) {
      const p = path.join(paths.dir, n);
      if (isFile(p)) this.entries.push(p);
    }
  }
  /** The path slot `i` runs in `phase` (the legacy slot swaps to post-thaw). */
  pathFor(i: number, phase: ScriptPhase): string {
    if (i === 0 && this.legacy && phase !== 'freeze') return this.paths.legacyThaw;
    return this.entries[i];
  }
}

export interface ScriptLog {
  info(msg: string): void;
  warn(msg: string): void;
}

/** §5.2: `"<path>" <op>` or `"<path>" <op> "<scriptArg>"` (no escaping, as the reference). */
export function scriptCommand(p: string, phase: ScriptPhase, arg: string | undefined): string {
  return arg ? `"${p}" ${phase} "${arg}"` : `"${p}" ${phase}`;
}

const SHELL = fs.existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';

/**
 * One script phase as an async op polled by the state machine. FREEZE stops
 * at the first failure; THAW and FREEZE_FAIL run every script and fail at
 * the end (§5.3). `index` is where the phase is (for freezeFail's start).
 */
export class ScriptOp implements AsyncOp {
  readonly name: string;
  private status: OpStatus = 'pending';
  private failed = false;
  private child: ChildProcess | undefined;
  private timer: NodeJS.Timeout | undefined;
  private canceled = false;
  /** The slot running now (or that failed); after a full FREEZE run, entries.length. */
  index: number;
  /** Set when a script failed: the state machine sends req.error 2 with it. */
  scriptError: string | undefined;
  detail?: string;

  constructor(
    private readonly list: ScriptList,
    private readonly phase: ScriptPhase,
    private readonly arg: string | undefined,
    private readonly log: ScriptLog,
    private readonly timeoutMs: number,
    /** freezeFail: start below this slot. */
    from?: number,
  ) {
    this.name = phase === 'freeze' ? 'VmBackupOnFreeze' : phase === 'thaw' ? 'VmBackupOnThaw' : 'VmBackupOnFreezeFail';
    this.index = phase === 'freeze' ? 0 : (from ?? list.entries.length) - 1;
    setImmediate(() => this.next());
  }

  query(): OpStatus {
    return this.status;
  }

  private next(): void {
    if (this.canceled) return;
    const forward = this.phase === 'freeze';
    while (forward ? this.index < this.list.entries.length : this.index >= 0) {
      const p = this.list.pathFor(this.index, this.phase);
      if (isFile(p)) {
        this.run(p);
        return;
      }
      this.index += forward ? 1 : -1; // vanished since listing: skipped silently (§5.1)
    }
    this.finish();
  }

  private finish(): void {
    if (this.failed) this.scriptError = 'Custom quiesce script failed.';
    this.status = this.failed ? 'error' : 'finished';
  }

  private run(p: string): void {
    const cmd = scriptCommand(p, this.phase, this.arg);
    this.log.info(`running ${cmd}`);
    let child: ChildProcess;
    try {
      child = spawn(SHELL, ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      this.log.warn(`cannot run ${p}: ${e instanceof Error ? e.message : String(e)}`);
      this.settle(false);
      return;
    }
    this.child = child;
    const name = path.basename(p);
    const pipe = (s: NodeJS.ReadableStream | null, warn: boolean): void => {
      let pending = '';
      s?.on('data', (d: Buffer) => {
        pending += d.toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          (warn ? this.log.warn : this.log.info).call(this.log, `${name}: ${line}`);
        }
      });
      s?.on('end', () => {
        if (pending) (warn ? this.log.warn : this.log.info).call(this.log, `${name}: ${pending}`);
      });
    };
    pipe(child.stdout, false);
    pipe(child.stderr, true);
    if (this.timeoutMs > 0) {
      this.timer = setTimeout(() => {
        this.log.warn(`${p} ${this.phase}: still running after ${this.timeoutMs / 1000} s; killing it`);
        this.kill();
      }, this.timeoutMs);
    }
    child.on('error', (e) => {
      this.log.warn(`cannot run ${p}: ${e.message}`);
      this.settleOnce(child, false);
    });
    child.on('exit', (code, signal) => {
      if (code !== 0) this.log.warn(`${p} ${this.phase}: ${signal ? `killed by ${signal}` : `exit status ${code}`}`);
      this.settleOnce(child, code === 0);
    });
  }

  private settleOnce(child: ChildProcess, ok: boolean): void {
    if (this.child !== child) return;
    this.child = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.settle(ok);
  }

  private settle(ok: boolean): void {
    if (this.canceled) return;
    if (!ok) {
      this.failed = true;
      if (this.phase === 'freeze') {
        this.finish(); // §5.3: FREEZE stops at once
        return;
      }
    }
    this.index += this.phase === 'freeze' ? 1 : -1;
    this.next();
  }

  private kill(): void {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), SCRIPT_KILL_GRACE_MS);
    child.once('exit', () => clearTimeout(t));
  }

  /** §3.5: kill the running script; the phase ends canceled. */
  cancel(): void {
    if (this.status !== 'pending') return;
    this.canceled = true;
    this.kill();
    if (this.timer) clearTimeout(this.timer);
    this.status = 'canceled';
  }
}
