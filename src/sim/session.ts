/**
 * Auto-reset: the simulator plays the VMX's part of a tools session by
 * itself, so `npm start` shows a realistic exchange without a test driving
 * it (core-services.md §2.2). When a guest TCLO channel appears (its first
 * send on the backdoor, §5.1; its connection on vsock, §6.4) the driver sends,
 * one command at a time and each after the previous reply:
 *
 *   reset → `OK ATR <app>`, ping, Capabilities_Register, a burst of Set_Option,
 *
 * then a `ping` every pingIntervalMs (15 s: one public log shows a 5-byte
 * command answered with 3 bytes every 15 s, §2.2 item 6; cadence UNCONFIRMED).
 *
 * Left out on purpose: `Time_Synchronize 0`, which a VMX sends right after a
 * reset (§2.2 item 3). It asks for a one-shot clock step, and the "guest"
 * next to this simulator is the developer's own machine. For the same reason
 * the default Set_Option burst does not ask for a start-up step sync.
 *
 * Commands travel through VmxHost.sendTclo, so they are logged in the RPC log
 * like any other TCLO exchange.
 */
import { SimEvents, endpointLabel } from './events';
import type { SendTcloOptions, TcloEndpoint } from './tclo';

/** The part of VmxHost the driver needs. */
export interface SessionHost {
  sendTclo(cmd: Buffer | string, opts?: SendTcloOptions): Promise<Buffer>;
  readonly events: SimEvents;
}

/**
 * Set_Option burst (§4): broadcastIP 1 (the VMX asks for guestinfo.ip), the
 * power-operation scripts enabled (vSphere's defaults), and time sync as a VM
 * with "synchronize guest time with host" off has it. Values are decimal
 * strings, booleans exactly "1"/"0" (§4).
 */
export const DEFAULT_SESSION_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  ['broadcastIP', '1'],
  ['toolScripts.afterPowerOn', '1'],
  ['toolScripts.afterResume', '1'],
  ['toolScripts.beforeSuspend', '1'],
  ['toolScripts.beforePowerOff', '1'],
  ['synctime', '0'],
  ['synctime.period', '60'],
  ['time.synchronize.tools.enable', '1'],
  // "1" would step the clock of the machine running the simulator (see the file comment).
  ['time.synchronize.tools.startup', '0'],
  ['time.synchronize.tools.startup.backward', '0'],
  ['time.synchronize.tools.slewCorrection', '1'],
  ['time.synchronize.tools.percentCorrection', '50'],
];

/** §2.2 item 6 (cadence UNCONFIRMED). */
export const DEFAULT_PING_INTERVAL_MS = 15000;
/** How long to wait for each reply before giving the session up. */
export const DEFAULT_REPLY_TIMEOUT_MS = 30000;

export interface AutoResetOptions {
  /** Drive new channels (default: true when options are given to VmxHost, else false). */
  enabled?: boolean;
  /** Periodic ping period, ms; 0 = none. Default 15000. */
  pingIntervalMs?: number;
  /** Set_Option burst after Capabilities_Register, in order. Default DEFAULT_SESSION_OPTIONS. */
  options?: ReadonlyArray<readonly [string, string]>;
  /** Per-command reply timeout, ms. Default 30000. */
  replyTimeoutMs?: number;
}

export interface AutoResetConfig {
  enabled: boolean;
  pingIntervalMs: number;
  options: Array<[string, string]>;
  replyTimeoutMs: number;
}

export type SessionState = 'starting' | 'running' | 'failed' | 'closed' | 'stopped';

export interface SessionInfo {
  /** "backdoor:3" / "vsock:1". */
  endpoint: string;
  transport: TcloEndpoint['transport'];
  channel: number;
  pid: number | null;
  /** TCLO app the guest named in its reset answer ("toolbox"). */
  app: string | null;
  state: SessionState;
  /** Commands answered so far, this session. */
  commands: number;
  pings: number;
  /** Why it failed. */
  error?: string;
  startedAt: number;
}

interface Session {
  ep: TcloEndpoint;
  info: SessionInfo;
  timer: NodeJS.Timeout | null;
  pinging: boolean;
}

const ATR_RE = /^OK ATR (\S+)/;

export class AutoResetDriver {
  private enabledFlag = false;
  private pingIntervalMs: number;
  private options: Array<[string, string]>;
  private replyTimeoutMs: number;
  private readonly sessions = new Map<TcloEndpoint, Session>();
  /** Finished sessions kept for `sessions()` (bounded). */
  private readonly finished: SessionInfo[] = [];
  private unsubscribe: Array<() => void> = [];

  constructor(
    private readonly host: SessionHost,
    opts: AutoResetOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.pingIntervalMs = DEFAULT_PING_INTERVAL_MS;
    this.options = DEFAULT_SESSION_OPTIONS.map(([k, v]) => [k, v]);
    this.replyTimeoutMs = DEFAULT_REPLY_TIMEOUT_MS;
    this.configure(opts);
    if (opts.enabled) this.enable();
  }

  get enabled(): boolean {
    return this.enabledFlag;
  }

  configure(opts: AutoResetOptions): void {
    if (opts.pingIntervalMs !== undefined) this.pingIntervalMs = Math.max(0, opts.pingIntervalMs);
    if (opts.options !== undefined) this.options = opts.options.map(([k, v]) => [k, v]);
    if (opts.replyTimeoutMs !== undefined) this.replyTimeoutMs = Math.max(0, opts.replyTimeoutMs);
    // Running sessions pick up a new ping period at once.
    for (const s of this.sessions.values()) if (s.info.state === 'running') this.armPing(s);
  }

  config(): AutoResetConfig {
    return {
      enabled: this.enabledFlag,
      pingIntervalMs: this.pingIntervalMs,
      options: this.options.map(([k, v]) => [k, v]),
      replyTimeoutMs: this.replyTimeoutMs,
    };
  }

  /** Drives every TCLO channel that appears from now on. */
  enable(): void {
    if (this.enabledFlag) return;
    this.enabledFlag = true;
    const ev = this.host.events;
    this.unsubscribe = [
      ev.on('tclo.open', (ep) => this.start(ep)),
      ev.on('tclo.close', ({ endpoint, reason }) => this.end(endpoint, 'closed', reason)),
    ];
  }

  /** Stops driving: no new sessions, ping timers cancelled. */
  disable(): void {
    if (!this.enabledFlag) return;
    this.enabledFlag = false;
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    for (const ep of [...this.sessions.keys()]) this.end(ep, 'stopped', 'auto-reset disabled');
  }

  /** Live sessions, then the most recent finished ones. */
  list(): SessionInfo[] {
    return [...[...this.sessions.values()].map((s) => ({ ...s.info })), ...this.finished.map((i) => ({ ...i }))];
  }

  private start(ep: TcloEndpoint): void {
    if (this.sessions.has(ep)) return;
    const info: SessionInfo = {
      endpoint: endpointLabel(ep),
      transport: ep.transport,
      channel: ep.id,
      pid: ep.pid,
      app: null,
      state: 'starting',
      commands: 0,
      pings: 0,
      startedAt: this.now(),
    };
    const s: Session = { ep, info, timer: null, pinging: false };
    this.sessions.set(ep, s);
    this.host.events.emit('session', { endpoint: info.endpoint, state: 'started' });
    // Called synchronously from the guest's first send: `reset` is queued
    // before its next RECVSIZE, so it is the first command the guest gets.
    this.run(s).catch((e: unknown) => this.end(ep, 'failed', e instanceof Error ? e.message : String(e)));
  }

  private send(s: Session, cmd: string): Promise<Buffer> {
    return this.host
      .sendTclo(cmd, { channel: s.ep.id, transport: s.ep.transport, timeoutMs: this.replyTimeoutMs })
      .then((reply) => {
        s.info.commands++;
        return reply;
      });
  }

  /** The opening of §2.2: reset, ping, Capabilities_Register, Set_Option burst. */
  private async run(s: Session): Promise<void> {
    const atr = (await this.send(s, 'reset')).toString('latin1');
    const m = ATR_RE.exec(atr);
    if (!m) throw new Error(`reset answered ${JSON.stringify(atr)}, not "OK ATR <app>"`);
    s.info.app = m[1] ?? null;
    const steps = ['ping', 'Capabilities_Register', ...this.options.map(([k, v]) => `Set_Option ${k} ${v}`)];
    for (const cmd of steps) {
      if (!this.sessions.has(s.ep)) return; // closed or disabled meanwhile
      await this.send(s, cmd);
    }
    if (!this.sessions.has(s.ep)) return;
    s.info.state = 'running';
    this.host.events.emit('session', { endpoint: s.info.endpoint, state: 'running', detail: `${steps.length + 1} commands` });
    this.armPing(s);
  }

  private armPing(s: Session): void {
    if (s.timer) clearInterval(s.timer);
    s.timer = null;
    if (this.pingIntervalMs <= 0) return;
    s.timer = setInterval(() => this.ping(s), this.pingIntervalMs);
    s.timer.unref(); // the simulator's sockets keep the process alive, not this timer
  }

  private ping(s: Session): void {
    if (s.pinging) return; // the previous ping is still unanswered: do not pile them up
    s.pinging = true;
    this.send(s, 'ping').then(
      () => {
        s.pinging = false;
        s.info.pings++;
      },
      (e: unknown) => {
        s.pinging = false;
        this.end(s.ep, 'failed', `ping: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  }

  private end(ep: TcloEndpoint, state: 'failed' | 'closed' | 'stopped', detail: string): void {
    const s = this.sessions.get(ep);
    if (!s) return;
    this.sessions.delete(ep);
    if (s.timer) clearInterval(s.timer);
    s.timer = null;
    s.info.state = state;
    if (state === 'failed') s.info.error = detail;
    this.finished.unshift(s.info);
    if (this.finished.length > 20) this.finished.length = 20;
    if (state !== 'stopped') this.host.events.emit('session', { endpoint: s.info.endpoint, state, detail });
  }
}
