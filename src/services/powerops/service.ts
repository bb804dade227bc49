/**
 * The powerOps service (core-services.md §6): the OS_Halt, OS_Reboot,
 * OS_PowerOn, OS_Resume and OS_Suspend handlers, their scripts, the status
 * RPC, the `softpowerop_retry` rule and the `toolScripts.*` options.
 *
 * Follows the reference's PowerOpsStateChange (§6.2) step by step, with
 * three deliberate changes (docs/differences.md, "Power operations"):
 *  - halt/reboot are carried out after the TCLO reply has gone out, and the
 *    status RPC reports whether the backend accepted the request;
 *  - scripts have a timeout ([powerops] script-timeout);
 *  - a missing default script is replaced by running its drop-ins directly.
 */
import { withNul } from '../../rpc/rpcout';
import type { RpcSender, TcloHandler, TcloResult } from '../../rpc/types';
import type { BackendChoice, PowerAction, PowerResult } from './backends';
import {
  ERROR_STARTING_SCRIPT,
  GuestOsState,
  POWER_CAPABILITIES,
  STATE_CHANGE_COMMANDS,
  STATE_CHANGE_IN_PROGRESS,
  ScriptKey,
  StateChangeCommand,
  TOOL_SCRIPT_OPTIONS,
} from './constants';
import { planScript, runScript, ScriptOutcome } from './scripts';

export interface PowerOpsLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface PowerOpsConfig {
  /** Typed [powerops] *-script values: the default name when absent, "" when set empty. */
  scripts: Record<ScriptKey, string>;
  /** Where relative script names and the default scripts' drop-ins are. */
  scriptDirectory: string;
  /** Seconds; 0 = no timeout (the reference's behaviour). */
  scriptTimeoutS: number;
}

export interface PowerOpsServiceOptions {
  rpc: RpcSender;
  log: PowerOpsLogger;
  config: () => PowerOpsConfig;
  /** The halt/reboot backend, chosen afresh for each operation (tools.conf may change). */
  backend: () => BackendChoice;
  /** Called after an OS_Resume was handled (time sync re-syncs the clock). */
  onResume?: () => void;
  /** The environment scripts get (default: the daemon's). */
  env?: () => NodeJS.ProcessEnv;
  /** How long after the TCLO handler returns a halt/reboot starts (default AFTER_REPLY_MS). */
  afterReplyMs?: number;
}

/**
 * The reply to a TCLO command leaves when the handler has returned: over the
 * backdoor with the next poll, which the loop schedules at once after a
 * command (channel.md §5.2: a 0 ms timer, created after ours, but due
 * earlier); over vsock right after the dispatch (§6.4). Deferring the halt
 * by this much puts the reply first on both, so the host is not left waiting.
 */
export const AFTER_REPLY_MS = 50;

/** core-services.md §10: VMTools_VmxLog caps a message at 4095 characters. */
const VMX_LOG_MAX = 4095;

export class PowerOpsService {
  /** A script is running or a halt/reboot is under way (the reference: state->pid != INVALID_PID). */
  private busy = false;
  private inProgress: GuestOsState = GuestOsState.None;
  private lastFailed: GuestOsState = GuestOsState.None;
  /** §6.2 note: all four script classes start enabled. */
  private readonly scriptEnabled = new Map<GuestOsState, boolean>(STATE_CHANGE_COMMANDS.map((c) => [c.id, true]));
  /** Settles when the current operation (script, status, backend) is over: for tests and orderly shutdown. */
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PowerOpsServiceOptions) {}

  /** TCLO handlers by command name (§6.1). */
  tcloHandlers(): Record<string, TcloHandler> {
    const out: Record<string, TcloHandler> = {};
    for (const cmd of STATE_CHANGE_COMMANDS) out[cmd.tclo] = () => this.stateChange(cmd);
    return out;
  }

  /** §6.5. */
  capabilities(): Array<{ kind: 'noval'; name: string }> {
    return POWER_CAPABILITIES.map((name) => ({ kind: 'noval' as const, name }));
  }

  /** `Set_Option toolScripts.* 1|0` (§4); other values are ignored, as PowerOpsSetOption does. */
  setOption(name: string, value: string): void {
    const states = TOOL_SCRIPT_OPTIONS[name];
    if (!states || (value !== '1' && value !== '0')) return;
    for (const s of states) this.scriptEnabled.set(s, value === '1');
    this.opts.log.debug(`${name} = ${value}`);
  }

  /** Resolves when no state change is in progress. */
  whenIdle(): Promise<void> {
    return this.idle;
  }

  get isBusy(): boolean {
    return this.busy;
  }

  private stateChange(cmd: StateChangeCommand): TcloResult {
    const log = this.opts.log;
    if (this.busy) {
      log.info(`State change already in progress: ${this.inProgress}, requested = '${cmd.tclo}'`);
      return { ok: false, result: STATE_CHANGE_IN_PROGRESS };
    }
    log.info(`State change: ${cmd.tclo}`);
    this.inProgress = cmd.id;

    if (!this.scriptEnabled.get(cmd.id)) return this.withoutScript(cmd, 'disabled by the host (Set_Option toolScripts)');
    const cfg = this.opts.config();
    const plan = planScript(cmd, cfg.scripts[cmd.scriptKey], cfg.scriptDirectory);
    if (plan.kind === 'none') return this.withoutScript(cmd, plan.reason);
    if (plan.kind === 'builtin' && plan.dropIns.length === 0) {
      return this.withoutScript(cmd, `${plan.defaultPath} is not installed and no drop-in exists`);
    }

    this.vmxLog(`Executing script for state change '${cmd.tclo}'.`);
    const timeoutMs = cfg.scriptTimeoutS * 1000;
    const what = plan.kind === 'file' ? plan.path : `${plan.defaultPath} (built in: ${plan.dropIns.join(', ')})`;
    log.info(`Executing script: '${what}'`);
    const run = runScript(plan, {
      timeoutMs,
      env: this.opts.env?.() ?? process.env,
      onTimeout: () => log.warn(`script '${what}' for ${cmd.tclo} still running after ${cfg.scriptTimeoutS} s ([powerops] script-timeout): killing it`),
      onDropIn: (f) => log.debug(`running ${f} ${plan.kind === 'builtin' ? plan.op : ''}`),
    });
    if (run instanceof Error) {
      log.warn(`Error starting script: ${run.message}`);
      this.track(this.done(false, true));
      return { ok: false, result: ERROR_STARTING_SCRIPT };
    }
    this.busy = true;
    this.track(
      run.done.then((o) => {
        this.vmxLog(outcomeLine(o));
        log.info(`script for ${cmd.tclo} ended: ${outcomeLine(o)}`);
        this.busy = false;
        return this.done(exitedZero(o), false);
      }),
    );
    return { ok: true, result: '' };
  }

  /**
   * No script to run: the state change succeeds at once (§6.2).
   */
  private withoutScript(cmd: StateChangeCommand, why: string): TcloResult {
    this.opts.log.debug(`No script to run for state change ${cmd.tclo}: ${why}`);
    this.track(this.done(true, true));
    return { ok: true, result: '' };
  }

  /**
   * PowerOpsStateChangeDone (§6.2): the softpowerop_retry rule, the status
   * RPC, then halt/reboot. Everything but a halt/reboot runs synchronously,
   * so without a script the status goes out before the TCLO reply, as in the
   * reference; a halt/reboot first waits for the reply to leave
   * (`replyPending`: called from inside the TCLO handler).
   */
  private async done(success: boolean, replyPending: boolean): Promise<void> {
    const id = this.inProgress;
    if (success || this.lastFailed === id) {
      success = true;
      this.lastFailed = GuestOsState.None;
    } else {
      this.lastFailed = id;
    }
    const action: PowerAction | undefined = id === GuestOsState.Halt ? 'halt' : id === GuestOsState.Reboot ? 'reboot' : undefined;
    if (!success || !action) {
      this.sendStatus(success, id);
      this.inProgress = GuestOsState.None;
      if (id === GuestOsState.Resume) this.notifyResume();
      return;
    }
    // Halt/reboot: ask the backend first, so that the status tells the truth.
    this.busy = true;
    if (replyPending) await new Promise((resolve) => setTimeout(resolve, this.opts.afterReplyMs ?? AFTER_REPLY_MS));
    let r: PowerResult;
    let name = '?';
    try {
      const choice = this.opts.backend();
      name = choice.backend.name;
      this.opts.log.info(`${action}: backend ${name}: ${choice.reason}`);
      r = await (action === 'halt' ? choice.backend.halt() : choice.backend.reboot());
    } catch (e) {
      r = { ok: false, why: e instanceof Error ? e.message : String(e) };
    }
    if (r.ok) {
      this.opts.log.info(`${action}: ${r.why}`);
      this.sendStatus(true, id);
      this.vmxLog(action === 'halt' ? 'Initiating halt.' : 'Initiating reboot.');
    } else {
      this.opts.log.error(`${action} failed (backend ${name}): ${r.why}`);
      this.sendStatus(false, id);
      this.vmxLog(`Unable to initiate ${action}: ${r.why}`);
    }
    this.busy = false;
    this.inProgress = GuestOsState.None;
  }

  private notifyResume(): void {
    try {
      this.opts.onResume?.();
    } catch (e) {
      this.opts.log.warn(`resume hook: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private track(p: Promise<void>): void {
    const guarded = p.catch((e: unknown) => {
      this.busy = false;
      this.inProgress = GuestOsState.None;
      this.opts.log.error(`state change failed: ${e instanceof Error ? e.stack : String(e)}`);
    });
    this.idle = Promise.all([this.idle, guarded]).then(() => undefined);
  }

  /** `tools.os.statechange.status <0|1> <id>\0` (§6.2); failures are logged, as the reference does. */
  private sendStatus(success: boolean, id: GuestOsState): void {
    this.send(`tools.os.statechange.status ${success ? 1 : 0} ${id}`, 'Unable to send the status RPC');
  }

  /** `log <text>\0` (§10: the whole message is capped at 4095 characters). */
  private vmxLog(text: string): void {
    this.send(`log ${text}`.slice(0, VMX_LOG_MAX), 'vmx log');
  }

  private send(text: string, what: string): void {
    try {
      const r = this.opts.rpc.send(withNul(text));
      if (!r.ok) this.opts.log.warn(`${what}: host replied '${r.reply.toString('latin1')}'`);
    } catch (e) {
      this.opts.log.warn(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

function exitedZero(o: ScriptOutcome): boolean {
  return 'exitCode' in o && o.exitCode === 0;
}

/** The reference's VmxLog lines after a script (PowerOpsScriptCallback). */
export function outcomeLine(o: ScriptOutcome): string {
  if ('exitCode' in o) return `Script exit code: ${o.exitCode}, success = ${o.exitCode === 0 ? 1 : 0}`;
  return `Script canceled by signal: ${o.signal}, success = 0`;
}
