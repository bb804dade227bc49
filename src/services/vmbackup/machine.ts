/**
 * The vmbackup state machine (quiesce.md §1.3, §3, §6), polled every second
 * like the reference's, with the "left frozen" gaps of §6.2 closed:
 *
 *  - the freeze lives in a holder process (holder.ts) that thaws when told,
 *    when we die, or when our lease (renewed every tick) or its deadline runs
 *    out;
 *  - every path out of a frozen state thaws first: abort, timeout, failed
 *    sends, an abort while FIFREEZE is still running (the freeze thaws itself
 *    on arrival instead of reporting commit), channel reset, shutdown;
 *  - `finalize()` thaws before `req.done` (the reference does not).
 *
 * While frozen, the daemon's own disk activity stops (§4.4) through the
 * ioFreeze hook: logs are held in memory and tools.conf is not polled.
 */
import * as fs from 'node:fs';
import { withNul } from '../../rpc/rpcout';
import { rawArgsHandler } from '../../rpc/tclo';
import type { RpcSender, TcloHandler, TcloResult } from '../../rpc/types';
import {
  DEFAULT_TIMEOUT_S, ERR_DONE_STATE, ERR_IN_PROGRESS, ERR_INIT, ERR_NO_COMPLETE, ERR_NO_OP, ERR_PARAM_VERSION, ERR_XDR,
  EVENT_SET, EV_ABORTED, EV_DONE, EV_ERROR, EV_GENERIC_MANIFEST, EV_KEEP_ALIVE, EV_RESET, EV_SNAPSHOT_COMMIT,
  KEEP_ALIVE_MS, MAX_TIMEOUT_S, MSG_CANCELED, MSG_NOT_CANCELED, MSG_SCRIPT_START, MSG_SYNC_ENABLE, MSG_SYNC_NOTIFY,
  MState, POLL_PERIOD_MS, STATE_NAMES, Status,
} from './constants';
import { FreezeHolder, FreezeOutcome, ThawOutcome } from './holder';
import { writeManifest } from './manifest';
import { compileExclusions, Selection } from './mounts';
import type { AsyncOp, OpStatus } from './ops';
import { ParamsError, parseStart, parseStartWithOpts, QuiesceParams } from './params';
import { ScriptList, ScriptOp, ScriptPaths } from './scripts';

export interface VmBackupLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** tools.conf [vmbackup], read when an operation starts (§7). */
export interface VmBackupConfig {
  enableSyncDriver: boolean;
  enableNullDriver?: boolean;
  excludedFileSystems?: readonly string[];
  ignoreFrozenFileSystems: boolean;
  execScripts: boolean;
  scriptArg?: string;
  timeout?: number;
  forceQuiesce?: boolean;
  quiesceApps: boolean;
  quiesceFS: boolean;
  enableXmlManifest: boolean;
  enableNVMe: boolean;
  manifestPath: string;
  freezeLeaseS: number;
  scriptTimeoutS: number;
}

export interface VmBackupDeps {
  rpc: RpcSender;
  log: VmBackupLogger;
  config: () => VmBackupConfig;
  scripts: ScriptPaths;
  /** The ordered, restricted freeze targets (mounts.ts selectFreezeTargets behind the CLI's restrictions). */
  selectTargets: (volumes: string | undefined, excluded: RegExp[]) => Selection;
  /** Simulator mode: the holder refuses anything but loop-device mount roots. */
  loopOnly: boolean;
  holderExecutable?: string;
  /** §4.4: true before the freeze (must resolve once the daemon stops writing), false after the thaw. */
  ioFreeze: (frozen: boolean) => Promise<void> | void;
  /** The null driver's sync(2). */
  sync: () => Promise<void>;
  productVersion: number;
  /** Tests only. */
  pollPeriodMs?: number;
  /** Observer for tests and the benchmark. */
  onFreezeWindow?: (w: { firstFreezeNs: bigint; lastThawNs: bigint; count: number }) => void;
}

type Provider = { kind: 'sync'; nullFallback: boolean } | { kind: 'null' };
type FreezeResult = { handle: 'fifreeze' | 'null'; outcome?: FreezeOutcome } | { handle: undefined; outcome?: FreezeOutcome };

/** The freeze step as an async op (§3.2): the holder (or sync() for the null driver). */
class FreezeOp implements AsyncOp {
  readonly name: string;
  private status: OpStatus = 'pending';
  result: FreezeResult | undefined;
  canceled = false;
  constructor(name: string, run: (op: FreezeOp) => Promise<FreezeResult>, onDone: () => void) {
    this.name = name;
    run(this).then(
      (r) => {
        this.result = r;
        if (this.status === 'pending') this.status = 'finished';
        onDone();
      },
      () => {
        this.result = { handle: undefined };
        if (this.status === 'pending') this.status = 'finished';
        onDone();
      },
    );
  }
  query(): OpStatus {
    return this.status;
  }
  cancel(): void {
    this.canceled = true;
    if (this.status === 'pending') this.status = 'canceled';
  }
}

class Operation {
  state = MState.IDLE;
  rpcState: 'normal' | 'error' | 'ignore' = 'normal';
  freezeStatus: 'finished' | 'error' | 'canceled' = 'finished';
  current: AsyncOp | undefined;
  callbacks: Array<() => boolean> = [];
  pollTimer: NodeJS.Timeout | undefined;
  keepAliveTimer: NodeJS.Timeout | undefined;
  abortTimer: NodeJS.Timeout | undefined;
  scripts: ScriptList | undefined;
  /** freezeFail starts below this slot (§5.2). */
  scriptIndex = 0;
  holder: FreezeHolder | undefined;
  manifest = false;
  ioHeld = false;
  ticking = false;
  finalized = false;
  constructor(readonly params: QuiesceParams, readonly provider: Provider, readonly cfg: VmBackupConfig) {}
}

export class VmBackupService {
  private op: Operation | undefined;
  private readonly pollMs: number;

  constructor(private readonly d: VmBackupDeps) {
    this.pollMs = d.pollPeriodMs ?? POLL_PERIOD_MS;
  }

  /** True while an operation exists (any state but IDLE). */
  get busy(): boolean {
    return this.op !== undefined;
  }

  get stateName(): string {
    return STATE_NAMES[this.op?.state ?? MState.IDLE];
  }

  /** The holder's pid while one runs (tests kill around it). */
  get holderPid(): number | undefined {
    return this.op?.holder?.active ? this.op.holder.pid : undefined;
  }

  tcloHandlers(): Record<string, TcloHandler> {
    return {
      'vmbackup.start': (args) => this.start(args, false),
      // XDR ends in zeros more often than not: the body byte for byte (quiesce.md §1.2).
      'vmbackup.startWithOpts': rawArgsHandler((args) => this.start(args, true)),
      'vmbackup.snapshotDone': () => this.snapshotDone(),
      'vmbackup.abort': () => this.abort(),
      'vmbackup.snapshotCompleted': () => ({ ok: false, result: ERR_NO_COMPLETE }),
    };
  }

  // ---------------------------------------------------------------- TCLO

  private start(args: Buffer, withOpts: boolean): TcloResult {
    if (this.op) return { ok: false, result: ERR_IN_PROGRESS };
    const cfg = this.d.config();
    let params: QuiesceParams;
    try {
      params = withOpts
        ? parseStartWithOpts(args, cfg.forceQuiesce ?? true)
        : parseStart(args, () => ({ quiesceApps: cfg.quiesceApps, quiesceFS: cfg.quiesceFS, execScripts: cfg.execScripts, scriptArg: cfg.scriptArg, timeout: cfg.timeout ?? 0, forceQuiesce: cfg.forceQuiesce }));
    } catch (e) {
      if (e instanceof ParamsError) return { ok: false, result: e.kind === 'version' ? ERR_PARAM_VERSION : ERR_XDR };
      throw e;
    }
    // §1.3 provider selection
    let provider: Provider | undefined;
    if (!params.forceQuiesce) provider = cfg.enableSyncDriver ? { kind: 'sync', nullFallback: cfg.enableNullDriver ?? true } : { kind: 'null' };
    else if (params.quiesceFS && cfg.enableSyncDriver) provider = { kind: 'sync', nullFallback: false };
    else if (!params.quiesceApps && !params.quiesceFS) provider = { kind: 'null' };
    if (!provider) return { ok: false, result: ERR_INIT };

    const op = new Operation(params, provider, cfg);
    this.op = op;
    op.state = MState.IDLE;
    this.d.log.info(`quiesce starting (${withOpts ? 'startWithOpts' : 'start'}, provider ${provider.kind}, scripts ${params.execScripts ? 'on' : 'off'}, manifest ${params.generateManifest ? 'requested' : 'not requested'})`);
    this.sendEvent(op, EV_RESET, Status.SUCCESS, '');
    if (params.execScripts) {
      try {
        op.scripts = new ScriptList(this.d.scripts);
        op.current = new ScriptOp(op.scripts, 'freeze', params.scriptArg, this.d.log, cfg.scriptTimeoutS * 1000);
      } catch (e) {
        this.d.log.warn(`${MSG_SCRIPT_START} ${e instanceof Error ? e.message : String(e)}`);
        this.op = undefined;
        return { ok: false, result: ERR_INIT };
      }
    }
    op.state = MState.SCRIPT_FREEZE;
    let timeout = params.timeout;
    if (timeout === 0) timeout = cfg.timeout ?? DEFAULT_TIMEOUT_S;
    if (timeout < 0 || timeout > MAX_TIMEOUT_S) timeout = DEFAULT_TIMEOUT_S;
    if (timeout !== 0) {
      op.abortTimer = setTimeout(() => {
        op.abortTimer = undefined;
        this.d.log.warn(`quiesce timed out after ${timeout} s; aborting`);
        void this.doAbort(op);
      }, timeout * 1000);
    }
    this.armPoll(op);
    return { ok: true, result: '' };
  }

  private async snapshotDone(): Promise<TcloResult> {
    const op = this.op;
    if (!op) return { ok: false, result: ERR_NO_OP };
    if (op.state !== MState.SYNC_FREEZE) return { ok: false, result: ERR_DONE_STATE };
    const t = await this.thaw(op);
    if (this.op !== op) return { ok: true, result: '' };
    if (t === undefined || (t.failures === 0 && t.reason === 'command')) {
      op.state = MState.SYNC_THAW;
    } else {
      this.d.log.error(`thaw at snapshotDone: ${t.failures} FITHAW failure(s), errno ${t.errno}, ended by ${t.reason}`);
      this.sendEvent(op, EV_ERROR, Status.SYNC_ERROR, MSG_SYNC_NOTIFY);
      await this.onError(op);
    }
    return { ok: true, result: '' };
  }

  private async abort(): Promise<TcloResult> {
    const op = this.op;
    if (!op) return { ok: false, result: ERR_NO_OP };
    this.d.log.info('quiesce abort requested by the host');
    await this.doAbort(op);
    return { ok: true, result: '' };
  }

  /** Channel reset (ours; the reference does nothing, §6.2): an operation in flight is aborted. */
  onReset(): void {
    const op = this.op;
    if (!op) return;
    this.d.log.warn(`channel reset during a quiesce (${STATE_NAMES[op.state]}): aborting it`);
    void this.doAbort(op);
  }

  /** Daemon shutdown (SIGTERM): thaw, tell the host, end. Resolves when thawed. */
  async shutdown(): Promise<void> {
    const op = this.op;
    if (!op) return;
    this.d.log.warn(`shutting down during a quiesce (${STATE_NAMES[op.state]}): thawing`);
    op.rpcState = 'ignore';
    if (op.current) {
      op.current.cancel();
      op.current = undefined;
    }
    op.callbacks = [];
    const t = await this.thaw(op);
    this.sendEvent(op, EV_ABORTED, Status.REMOTE_ABORT, t && t.failures > 0 ? MSG_NOT_CANCELED : MSG_CANCELED);
    op.state = MState.IDLE;
    await this.finalize(op);
  }

  // ---------------------------------------------------------------- events

  /** §2: `vmbackup.eventSet <event> <code> <description>\0`; §2.4 keep-alive and failure rules. */
  private sendEvent(op: Operation, event: string, code: number, desc: string, noAbort = false): boolean {
    if (op.keepAliveTimer) clearTimeout(op.keepAliveTimer);
    op.keepAliveTimer = undefined;
    let ok = false;
    try {
      ok = this.d.rpc.send(withNul(`${EVENT_SET} ${event} ${code} ${desc}`)).ok;
    } catch (e) {
      this.d.log.warn(`${event}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (ok) {
      if (!op.finalized) {
        op.keepAliveTimer = setTimeout(() => {
          op.keepAliveTimer = undefined;
          op.holder?.renew();
          this.sendEvent(op, EV_KEEP_ALIVE, Status.SUCCESS, '');
        }, KEEP_ALIVE_MS);
      }
    } else {
      this.d.log.warn(`failed to send ${event} to the host`);
      if (!noAbort && op.rpcState !== 'ignore') op.rpcState = 'error';
    }
    return ok;
  }

  // ---------------------------------------------------------------- machine

  private armPoll(op: Operation): void {
    if (op.finalized) return;
    op.pollTimer = setTimeout(() => {
      op.pollTimer = undefined;
      void this.tick(op);
    }, this.pollMs);
  }

  /** Runs the next tick now instead of at the poll timer (no-op while a tick runs). */
  private kick(op: Operation): void {
    if (this.op !== op || op.finalized || op.ticking) return;
    if (op.pollTimer) clearTimeout(op.pollTimer);
    op.pollTimer = undefined;
    setImmediate(() => void this.tick(op));
  }

  private async tick(op: Operation): Promise<void> {
    if (this.op !== op || op.ticking) return;
    op.ticking = true;
    try {
      await this.step(op);
    } catch (e) {
      this.d.log.error(`vmbackup: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
      await this.thaw(op);
    } finally {
      op.ticking = false;
    }
    if (this.op !== op) return;
    if (op.state === MState.IDLE) await this.finalize(op);
    else if (!op.pollTimer) this.armPoll(op);
  }

  /** One poll tick (§3.1). */
  private async step(op: Operation): Promise<void> {
    op.holder?.renew();
    if (op.current) {
      const cur = op.current;
      const s = cur.query();
      if (s === 'pending') return;
      op.current = undefined;
      if (cur instanceof ScriptOp) op.scriptIndex = cur.index;
      if (s === 'error' || s === 'canceled') {
        if (cur.scriptError) this.sendEvent(op, EV_ERROR, Status.SCRIPT_ERROR, cur.scriptError);
        this.sendEvent(op, EV_ERROR, Status.UNEXPECTED_ERROR, `'${cur.name}' operation failed${cur.detail ? `: ${cur.detail}` : '.'}`);
        await this.onError(op);
        return;
      }
    }
    while (op.callbacks.length > 0) {
      const cb = op.callbacks.shift()!;
      if (!cb()) {
        await this.onError(op);
        return;
      }
      if (op.current) return;
    }
    if (op.rpcState === 'error') {
      await this.doAbort(op);
      return;
    }
    switch (op.state) {
      case MState.SCRIPT_FREEZE:
        await this.startFreeze(op);
        break;
      case MState.SYNC_FREEZE_WAIT:
        if (op.freezeStatus === 'error') {
          await this.releaseIo(op);
          this.sendEvent(op, EV_ERROR, Status.SYNC_ERROR, MSG_SYNC_ENABLE);
          await this.onError(op);
        } else {
          op.state = MState.SYNC_FREEZE;
        }
        break;
      case MState.SYNC_FREEZE:
        break;
      case MState.SYNC_THAW:
        await this.releaseIo(op);
        this.sendManifest(op);
        this.startScripts(op, 'thaw');
        op.state = MState.SCRIPT_THAW;
        break;
      case MState.SCRIPT_THAW:
      case MState.SCRIPT_ERROR:
        op.state = MState.IDLE;
        break;
      case MState.SYNC_ERROR:
        this.startScripts(op, 'freezeFail');
        op.state = MState.SCRIPT_ERROR;
        break;
      default:
        break;
    }
  }

  private startScripts(op: Operation, phase: 'thaw' | 'freezeFail'): void {
    if (!op.params.execScripts || !op.scripts) return;
    const from = phase === 'thaw' ? op.scripts.entries.length : op.scriptIndex;
    op.current = new ScriptOp(op.scripts, phase, op.params.scriptArg, this.d.log, op.cfg.scriptTimeoutS * 1000, from);
  }

  /** SCRIPT_FREEZE tick: stop our own disk I/O, then freeze on the holder (§3.1, §3.2). */
  private async startFreeze(op: Operation): Promise<void> {
    op.state = MState.SYNC_FREEZE_WAIT;
    op.ioHeld = true;
    await this.d.ioFreeze(true);
    if (this.op !== op || op.state !== MState.SYNC_FREEZE_WAIT) return;
    const provider = op.provider;
    const name = provider.kind === 'null' ? 'VmBackupNullStart' : provider.nullFallback ? 'VmBackupSyncDriverStart' : 'VmBackupSyncDriverOnlyStart';
    // Ours: the tick that reports prov.snapshotCommit runs as soon as the
    // freeze is done, not up to a poll period later (the reference waits for
    // the next 1 s tick with the file systems already frozen).
    const freeze = new FreezeOp(name, (self) => this.runFreeze(op, self), () => this.kick(op));
    op.current = freeze;
    op.callbacks.push(() => this.readyForSnapshot(op, freeze));
  }

  private async runFreeze(op: Operation, self: FreezeOp): Promise<FreezeResult> {
    const provider = op.provider;
    if (provider.kind === 'null') {
      await this.d.sync();
      return { handle: 'null' };
    }
    const sel = this.d.selectTargets(op.params.volumes, compileExclusions(op.cfg.excludedFileSystems));
    for (const s of sel.skipped) this.d.log.debug(`not freezing ${s.path}: ${s.why}`);
    if (sel.paths.length === 0) {
      this.d.log.warn('No file systems to freeze.');
      return { handle: undefined };
    }
    this.d.log.info(`freezing ${sel.paths.join(' ')}`);
    const holder = new FreezeHolder(
      {
        executable: this.d.holderExecutable,
        paths: sel.paths,
        loopOnly: this.d.loopOnly,
        ignoreFrozen: op.cfg.ignoreFrozenFileSystems,
        leaseMs: op.cfg.freezeLeaseS * 1000,
        deadlineMs: this.holderDeadlineMs(op),
      },
      (t) => void this.unexpectedThaw(op, t),
    );
    op.holder = holder;
    holder.start();
    const outcome = await holder.frozen;
    for (const n of holder.notes) this.d.log.debug(`freeze: ${sel.paths[n.index]}: ${n.what} (errno ${n.errno})`);
    if (self.canceled) {
      // §6.2 gap 3: an abort came while FIFREEZE ran; the holder got "thaw" and thaws on arrival.
      return { handle: undefined, outcome };
    }
    if (outcome.ok) {
      this.d.log.info(`frozen ${outcome.count} file system(s)`);
      return { handle: 'fifreeze', outcome };
    }
    if (outcome.kind === 'unavailable' && provider.nullFallback) {
      this.d.log.warn('FIFREEZE is not available; falling back to sync() (the snapshot is only crash-consistent)');
      await this.d.sync();
      return { handle: 'null', outcome };
    }
    this.d.log.warn(`freeze failed (${outcome.kind}, errno ${outcome.errno}${outcome.path ? `, ${outcome.path}` : ''}); nothing is left frozen`);
    return { handle: undefined, outcome };
  }

  /** The holder's absolute deadline: the overall timeout, or 900 s if that is disabled (§6.2 guidance 4). */
  private holderDeadlineMs(op: Operation): number {
    let t = op.params.timeout || (op.cfg.timeout ?? DEFAULT_TIMEOUT_S);
    if (t <= 0 || t > MAX_TIMEOUT_S) t = DEFAULT_TIMEOUT_S;
    return t * 1000;
  }

  /** §3.2 readyForSnapshot. */
  private readyForSnapshot(op: Operation, freeze: FreezeOp): boolean {
    const r = freeze.result;
    if (r?.handle) {
      op.manifest = r.handle === 'fifreeze';
      if (this.sendEvent(op, EV_SNAPSHOT_COMMIT, Status.SUCCESS, '')) {
        op.freezeStatus = 'finished';
        return true;
      }
      void this.thaw(op);
      op.freezeStatus = 'error';
      return false;
    }
    op.freezeStatus = 'error';
    return true;
  }

  /** §3.1 onError. */
  private async onError(op: Operation): Promise<void> {
    switch (op.state) {
      case MState.SCRIPT_FREEZE:
      case MState.SYNC_ERROR:
        op.state = MState.SCRIPT_ERROR;
        this.startScripts(op, 'freezeFail');
        break;
      case MState.SYNC_FREEZE_WAIT:
      case MState.SYNC_FREEZE:
      case MState.SYNC_THAW:
        op.state = MState.SYNC_ERROR;
        await this.releaseIo(op);
        break;
      default:
        op.state = MState.IDLE;
    }
  }

  /** §3.5 doAbort, thawing whatever is frozen whatever the state. */
  private async doAbort(op: Operation): Promise<void> {
    if (this.op !== op) return;
    op.rpcState = 'ignore';
    if (op.state === MState.SCRIPT_ERROR || op.state === MState.SYNC_ERROR) return;
    let msg = MSG_CANCELED;
    if (op.current) {
      const cur = op.current;
      cur.cancel();
      if (cur instanceof ScriptOp) op.scriptIndex = cur.index;
      op.current = undefined;
    }
    op.callbacks = []; // a pending readyForSnapshot must not report commit (§6.2 gap 3)
    if (op.holder?.active || op.state === MState.SYNC_FREEZE) {
      const t = await this.thaw(op);
      if (t && t.failures > 0) msg = MSG_NOT_CANCELED;
    }
    if (this.op !== op) return;
    this.sendEvent(op, EV_ABORTED, Status.REMOTE_ABORT, msg);
    await this.onError(op);
    if (op.state === MState.IDLE) await this.finalize(op);
  }

  /** The holder thawed on its own (lease, deadline, crash) while we thought it frozen. */
  private async unexpectedThaw(op: Operation, t: ThawOutcome): Promise<void> {
    this.d.log.error(`the freeze holder thawed on its own (${t.reason}); the snapshot cannot be quiesced`);
    if (this.op !== op) return;
    if (op.state === MState.SYNC_FREEZE || op.state === MState.SYNC_FREEZE_WAIT) {
      this.sendEvent(op, EV_ERROR, Status.SYNC_ERROR, MSG_SYNC_NOTIFY);
      if (op.current) {
        op.current.cancel();
        op.current = undefined;
      }
      op.callbacks = [];
      await this.onError(op);
    }
  }

  /** Thaws if something is (or may be) frozen; then lets the daemon write again. */
  private async thaw(op: Operation): Promise<ThawOutcome | undefined> {
    const h = op.holder;
    let t: ThawOutcome | undefined;
    const wasActive = h?.active ?? false;
    if (h) {
      t = await h.thaw();
      if (wasActive && t.lastThawNs > 0n) {
        const f = await h.frozen;
        if (f.ok) this.d.onFreezeWindow?.({ firstFreezeNs: f.firstFreezeNs, lastThawNs: t.lastThawNs, count: f.count });
      }
    }
    await this.releaseIo(op);
    if (t && wasActive) this.d.log.info(`thawed (${t.reason}${t.failures ? `, ${t.failures} FITHAW failure(s), errno ${t.errno}` : ''})`);
    return t;
  }

  private async releaseIo(op: Operation): Promise<void> {
    if (op.holder?.active) await op.holder.thaw();
    if (!op.ioHeld) return;
    op.ioHeld = false;
    await this.d.ioFreeze(false);
  }

  /** §5.4, after the thaw; failures are only logged. */
  private sendManifest(op: Operation): void {
    if (!op.manifest || !op.params.generateManifest || !op.cfg.enableXmlManifest) return;
    const file = op.cfg.manifestPath;
    try {
      writeManifest(file, this.d.productVersion);
    } catch (e) {
      this.d.log.warn(`cannot write the quiesce manifest ${file}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.sendEvent(op, EV_GENERIC_MANIFEST, Status.SUCCESS, file, true);
  }

  /** §3.1 finalize, with a thaw first (ours). */
  private async finalize(op: Operation): Promise<void> {
    if (op.finalized) return;
    op.finalized = true;
    if (op.abortTimer) clearTimeout(op.abortTimer);
    if (op.pollTimer) clearTimeout(op.pollTimer);
    if (op.current) op.current.cancel();
    op.current = undefined;
    await this.thaw(op);
    this.sendEvent(op, EV_DONE, Status.SUCCESS, '');
    if (op.keepAliveTimer) clearTimeout(op.keepAliveTimer);
    op.keepAliveTimer = undefined;
    if (this.op === op) this.op = undefined;
    this.d.log.info('quiesce operation finished');
  }
}

/** True if `p` exists (used by the factory for optional paths). */
export function exists(p: string): boolean {
  return fs.existsSync(p);
}
