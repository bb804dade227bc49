/**
 * The daemon's side of the freeze holder (native/system/freeze-holder.c):
 * a child process that FIFREEZEs the mount points, holds the fds and thaws
 * on command, on our death (pipe EOF, PR_SET_PDEATHSIG), on a signal, when
 * the lease we renew from the event loop runs out (hung loop), or at its
 * absolute deadline. So the freeze is off the event loop, and neither a
 * SIGKILL nor a hang of the daemon can leave a file system frozen.
 */
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { findBuildArtifact } from '../../native/artifacts';

export const HOLDER_NAME = 'vmtoolsd-freeze-holder';

/** Beside the addon: build/Release of the repository, or $VMTOOLSD_FREEZE_HOLDER. */
export function findHolder(): string {
  const env = process.env.VMTOOLSD_FREEZE_HOLDER;
  if (env) return env;
  return findBuildArtifact(HOLDER_NAME) ?? path.join('/usr/lib/vmtoolsd-node', HOLDER_NAME);
}

export interface HolderOptions {
  executable?: string;
  paths: string[];
  loopOnly: boolean;
  ignoreFrozen: boolean;
  leaseMs: number;
  deadlineMs: number;
}

export type FreezeOutcome =
  | { ok: true; count: number; firstFreezeNs: bigint }
  | { ok: false; kind: 'error' | 'unavailable' | 'refused' | 'spawn'; errno: number; index: number; path?: string };

export interface ThawOutcome {
  failures: number;
  errno: number;
  lastThawNs: bigint;
  /** command | eof | signal | lease | deadline | exit (the holder died without saying) */
  reason: string;
}

export interface HolderNote {
  index: number;
  what: string;
  errno: number;
}

export class FreezeHolder {
  private child: ChildProcess | undefined;
  private buf = '';
  private frozenResolve!: (o: FreezeOutcome) => void;
  private thawResolve!: (o: ThawOutcome) => void;
  /** Settles when the holder reports frozen or failed. */
  readonly frozen: Promise<FreezeOutcome>;
  /** Settles when the holder reports thawed (or exits). */
  readonly thawed: Promise<ThawOutcome>;
  private thawedResult: ThawOutcome | undefined;
  private frozenResult: FreezeOutcome | undefined;
  readonly notes: HolderNote[] = [];
  pid: number | undefined;

  constructor(private readonly o: HolderOptions, private readonly onUnexpectedThaw?: (t: ThawOutcome) => void) {
    this.frozen = new Promise((r) => (this.frozenResolve = r));
    this.thawed = new Promise((r) => (this.thawResolve = r));
  }

  /** Spawns the holder; its result arrives on `frozen`. */
  start(): void {
    const args: string[] = [];
    if (this.o.loopOnly) args.push('--loop-only');
    if (this.o.ignoreFrozen) args.push('--ignore-frozen');
    if (this.o.leaseMs > 0) args.push('--lease-ms', String(Math.round(this.o.leaseMs)));
    if (this.o.deadlineMs > 0) args.push('--deadline-ms', String(Math.round(this.o.deadlineMs)));
    args.push('--', ...this.o.paths);
    let child: ChildProcess;
    try {
      child = spawn(this.o.executable ?? findHolder(), args, { stdio: ['pipe', 'pipe', 'inherit'] });
    } catch (e) {
      this.settleFrozen({ ok: false, kind: 'spawn', errno: 0, index: -1 });
      this.settleThawed({ failures: 0, errno: 0, lastThawNs: 0n, reason: 'exit' });
      return;
    }
    this.child = child;
    this.pid = child.pid;
    child.stdin!.on('error', () => undefined); // EPIPE after the holder is gone
    child.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.line(line);
      }
    });
    child.on('error', () => {
      this.settleFrozen({ ok: false, kind: 'spawn', errno: 0, index: -1 });
      this.settleThawed({ failures: 0, errno: 0, lastThawNs: 0n, reason: 'exit' });
    });
    child.on('exit', (code, signal) => {
      this.child = undefined;
      this.settleFrozen({ ok: false, kind: 'error', errno: 0, index: -1 });
      if (this.thawedResult) return;
      if (this.frozenResult?.ok) {
        // Frozen, and the holder died without reporting a thaw (a crash of
        // it): thaw from a fresh one in --thaw-only mode before settling.
        this.emergencyThaw().then(
          (t) => this.settleThawed({ ...t, reason: `holder died (${signal ?? code}); emergency thaw` }),
          () => this.settleThawed({ failures: 1, errno: 0, lastThawNs: 0n, reason: `holder died (${signal ?? code}); emergency thaw failed` }),
        );
      } else {
        this.settleThawed({ failures: code === 0 ? 0 : 1, errno: 0, lastThawNs: 0n, reason: 'exit' });
      }
    });
  }

  private emergencyThaw(): Promise<ThawOutcome> {
    return new Promise((resolve, reject) => {
      const args = ['--thaw-only', ...(this.o.loopOnly ? ['--loop-only'] : []), '--', ...this.o.paths];
      const c = spawn(this.o.executable ?? findHolder(), args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
      c.on('error', reject);
      c.on('exit', () => {
        const f = out.trim().split(' ');
        if (f[0] !== 'thawed') reject(new Error('no answer'));
        else resolve({ failures: Number(f[1]), errno: Number(f[2]), lastThawNs: BigInt(f[3]), reason: 'emergency' });
      });
    });
  }

  private line(l: string): void {
    const f = l.split(' ');
    if (f[0] === 'note') this.notes.push({ index: Number(f[1]), what: f[2], errno: Number(f[3]) });
    else if (f[0] === 'frozen') this.settleFrozen({ ok: true, count: Number(f[1]), firstFreezeNs: BigInt(f[2]) });
    else if (f[0] === 'failed') {
      const index = Number(f[3]);
      this.settleFrozen({ ok: false, kind: f[1] as 'error', errno: Number(f[2]), index, path: this.o.paths[index] });
      this.settleThawed({ failures: 0, errno: 0, lastThawNs: 0n, reason: 'failed' });
    } else if (f[0] === 'thawed') {
      this.settleThawed({ failures: Number(f[1]), errno: Number(f[2]), lastThawNs: BigInt(f[3]), reason: f[4] });
    }
  }

  private settleFrozen(o: FreezeOutcome): void {
    if (this.frozenResult) return;
    this.frozenResult = o;
    this.frozenResolve(o);
  }

  private settleThawed(t: ThawOutcome): void {
    if (this.thawedResult) return;
    this.thawedResult = t;
    this.thawResolve(t);
    if (this.requested === false && this.frozenResult?.ok) this.onUnexpectedThaw?.(t);
  }

  private requested = false;

  /** True while the holder may be holding something frozen. */
  get active(): boolean {
    return this.child !== undefined && this.thawedResult === undefined;
  }

  get thawResult(): ThawOutcome | undefined {
    return this.thawedResult;
  }

  /** The event loop is alive: push the lease out. A pipe write, never a disk write. */
  renew(): void {
    if (this.active) this.child!.stdin!.write('renew\n');
  }

  /** Asks for the thaw (also valid while the freeze is still running: it thaws right after). */
  thaw(timeoutMs = 5000): Promise<ThawOutcome> {
    this.requested = true;
    if (this.active) {
      this.child!.stdin!.write('thaw\n');
      // Belt and braces: if the holder does not answer, SIGTERM also thaws.
      const t = setTimeout(() => this.child?.kill('SIGTERM'), timeoutMs);
      void this.thawed.then(() => clearTimeout(t));
    }
    return this.thawed;
  }
}
