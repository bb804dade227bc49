/**
 * Host → guest TCLO commands (channel.md §5 backdoor polling, §6.4 vsock push).
 *
 * The host keeps one command queue per TCLO *application* ("toolbox" for the
 * system daemon, "toolbox-dnd" for the per-user one, channel.md §5.3). A
 * guest TCLO channel (a backdoor channel opened with the TCLO protocol, or a
 * vsock TCLO connection) is an *endpoint*; each endpoint serves one app.
 *
 * Binding (simulator policy; the VMX's is not documented): a new endpoint
 * takes the oldest named app that has no live endpoint, else an anonymous app
 * of its own; a guest reply `OK ATR <name>` (the answer to `reset`,
 * channel.md §5.3) moves the endpoint to app <name>, swapping with whichever
 * endpoint held it.
 *
 * Abandoned channels: a guest killed without CLOSE leaves its backdoor TCLO
 * channel open (the VMX would reap it after an idle timeout, channel.md §4.3).
 * A backdoor endpoint counts as *stale* once it has not polled for
 * STALE_IDLE_MS (a live guest polls at least every 100 ms, §5.2), or for
 * STALE_DEAD_MS when its pid no longer exists. A polling endpoint with an
 * anonymous app adopts a named app whose endpoint is stale or missing, so a
 * restarted daemon receives the commands queued for "toolbox".
 *
 * Backdoor delivery follows channel.md §5.1: a command is offered at RECVSIZE
 * only after the guest has sent on the channel since the previous command
 * (its reply, or the empty poll), and only when the previous command has been
 * answered. The reply to command N arrives with the poll that fetches N+1.
 */
import type { SimEvents } from './events';
import type { RpcLog, RpcLogEntry } from './rpclog';
import type { Transport } from './rpci';

export interface PendingCommand {
  cmd: Buffer;
  app: TcloApp;
  resolve: (reply: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
  log: RpcLogEntry | null;
}

export interface TcloApp {
  name: string;
  /** Named by the guest or by a test (true), or made up for an unbound endpoint (false). */
  named: boolean;
  queue: PendingCommand[];
  /** Delivered to the guest, reply not yet received. */
  inflight: PendingCommand | null;
  endpoint: TcloEndpoint | null;
}

export interface TcloEndpoint {
  transport: Transport;
  /** Backdoor channel id or vsock connection number. */
  id: number;
  pid: number | null;
  app: TcloApp | null;
  /** Backdoor: the guest has sent since the last delivered command (channel.md §5.1). */
  ready: boolean;
  /** Backdoor: offered at RECVSIZE, not yet acknowledged with RECVSTATUS. */
  offered: PendingCommand | null;
  /** vsock: writes a command packet; null for backdoor endpoints. */
  push: ((cmd: Buffer) => void) | null;
  /** Creation order (newest wins when several could adopt an app). */
  serial: number;
  /** Last poll or send, ms (router clock). */
  lastActivity: number;
  /** 'tclo.open' was emitted for it (backdoor: at its first send; vsock: on connect). */
  announced: boolean;
}

export interface SendTcloOptions {
  /** Target app name (default "toolbox"). */
  app?: string;
  /** Target the app currently bound to this endpoint id (backdoor channel id / vsock connection number). */
  channel?: number;
  transport?: Transport;
  /** Reject after this many ms without a reply (0 or absent: wait forever). */
  timeoutMs?: number;
}

export interface TcloEndpointInfo {
  transport: Transport;
  id: number;
  pid: number | null;
  app: string | null;
  queued: number;
  inflight: boolean;
}

export class TcloError extends Error {
  override name = 'TcloError';
}

const ATR_RE = /^OK ATR (\S+)/;

/** A backdoor TCLO endpoint silent this long is abandoned (10× the 100 ms max poll delay, channel.md §5.2). */
export const STALE_IDLE_MS = 1000;
/** ... or this long when its process is gone (2.5× the max poll delay, margin for a loaded machine). */
export const STALE_DEAD_MS = 250;

/** Whether a pid exists in our pid namespace (EPERM still means it exists). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class TcloRouter {
  private readonly apps = new Map<string, TcloApp>();
  private readonly endpoints = new Set<TcloEndpoint>();
  /** Empty sends (idle polls) seen on backdoor TCLO channels. */
  emptyPolls = 0;
  private serial = 0;

  constructor(
    private readonly log: RpcLog,
    private readonly now: () => number = Date.now,
    private readonly isAlive: (pid: number) => boolean = pidAlive,
    private readonly events: SimEvents | null = null,
  ) {
    this.app('toolbox', true);
  }

  /** Whether an endpoint looks abandoned by its guest (see the file comment). */
  isStale(ep: TcloEndpoint): boolean {
    if (ep.transport !== 'backdoor') return false; // vsock: the socket closing tells us
    const idle = this.now() - ep.lastActivity;
    if (idle >= STALE_IDLE_MS) return true;
    return idle >= STALE_DEAD_MS && ep.pid !== null && !this.isAlive(ep.pid);
  }

  /** Whether an app can be taken over by another endpoint. */
  private vacant(a: TcloApp): boolean {
    return a.named && (!a.endpoint || this.isStale(a.endpoint));
  }

  /**
   * Moves `ep` (bound to an anonymous app) to a named app that is vacant.
   * The displaced stale endpoint gets an anonymous app; a command it was
   * given is lost with it.
   */
  private adopt(ep: TcloEndpoint): void {
    // Only an endpoint with nothing of its own pending moves (commands sent to it by id stay with it).
    if (!ep.app || ep.app.named || ep.app.queue.length > 0 || ep.app.inflight) return;
    for (const a of this.apps.values()) {
      if (!this.vacant(a)) continue;
      const old = ep.app;
      const stale = a.endpoint;
      if (stale) {
        if (stale.offered) {
          a.queue.unshift(stale.offered);
          stale.offered = null;
        }
        this.bind(stale, this.app(`${stale.transport}:${stale.id}`, false));
      }
      if (a.inflight) {
        const p = a.inflight;
        a.inflight = null;
        this.settle(p, new TcloError(`TCLO ${stale ? `${stale.transport} channel ${stale.id}` : 'channel'} abandoned before the guest replied`));
      }
      this.bind(ep, a);
      old.endpoint = null;
      this.apps.delete(old.name);
      return;
    }
  }

  private app(name: string, named: boolean): TcloApp {
    let a = this.apps.get(name);
    if (!a) {
      a = { name, named, queue: [], inflight: null, endpoint: null };
      this.apps.set(name, a);
    } else if (named) {
      a.named = true;
    }
    return a;
  }

  newEndpoint(transport: Transport, id: number, pid: number | null, push: TcloEndpoint['push'] = null): TcloEndpoint {
    const ep: TcloEndpoint = {
      transport,
      id,
      pid,
      app: null,
      ready: false,
      offered: null,
      push,
      serial: this.serial++,
      lastActivity: this.now(),
      announced: false,
    };
    this.endpoints.add(ep);
    this.bind(ep, this.app(`${transport}:${id}`, false));
    this.adopt(ep);
    // §6.4: a vsock guest never sends first (the host pushes), so the connection is its appearance.
    if (push) this.announce(ep);
    return ep;
  }

  private bind(ep: TcloEndpoint, app: TcloApp): void {
    ep.app = app;
    app.endpoint = ep;
  }

  /** Tells observers that a guest TCLO channel exists (once per endpoint). */
  private announce(ep: TcloEndpoint): void {
    if (ep.announced) return;
    ep.announced = true;
    this.events?.emit('tclo.open', ep);
  }

  /** The endpoint went away (guest CLOSE, host close/reset, socket end). */
  removeEndpoint(ep: TcloEndpoint, reason: string): void {
    if (!this.endpoints.delete(ep)) return;
    if (ep.announced) this.events?.emit('tclo.close', { endpoint: ep, reason });
    const app = ep.app;
    ep.app = null;
    if (!app) return;
    if (ep.offered) {
      // Never acknowledged: the guest did not get it, so it stays first in line.
      app.queue.unshift(ep.offered);
      ep.offered = null;
    }
    if (app.inflight) {
      const p = app.inflight;
      app.inflight = null;
      this.settle(p, new TcloError(`TCLO ${ep.transport} channel ${ep.id} ${reason} before the guest replied`));
    }
    app.endpoint = null;
    if (!app.named && app.queue.length === 0) this.apps.delete(app.name);
  }

  /** Queues a command; resolves with the guest's next non-empty send on that app's endpoint. */
  send(cmd: Buffer, opts: SendTcloOptions = {}): Promise<Buffer> {
    // A 0-byte command is delivered as DORECV with length 0 (message-layer tests use it);
    // an RpcIn guest takes it for "no command" (channel.md §5.1) and will not answer.
    let app: TcloApp;
    if (opts.channel !== undefined) {
      const ep = [...this.endpoints].find((e) => e.id === opts.channel && (!opts.transport || e.transport === opts.transport));
      if (!ep || !ep.app) return Promise.reject(new TcloError(`no TCLO endpoint with id ${opts.channel}`));
      app = ep.app;
    } else {
      app = this.app(opts.app ?? 'toolbox', true);
    }
    return new Promise<Buffer>((resolve, reject) => {
      const p: PendingCommand = { cmd: Buffer.from(cmd), app, resolve, reject, timer: null, log: null };
      if (opts.timeoutMs && opts.timeoutMs > 0) {
        p.timer = setTimeout(() => this.expire(p), opts.timeoutMs);
        p.timer.unref();
      }
      app.queue.push(p);
      if (this.vacant(app)) {
        // A pushing (vsock) endpoint never polls, so it adopts here; backdoor ones adopt at their next poll.
        const live = [...this.endpoints].filter((e) => e.push && e.app && !e.app.named).sort((x, y) => y.serial - x.serial);
        if (live.length > 0) this.adopt(live[0]);
      }
      if (app.endpoint) this.pump(app.endpoint);
    });
  }

  private expire(p: PendingCommand): void {
    const app = p.app;
    const i = app.queue.indexOf(p);
    if (i >= 0) app.queue.splice(i, 1);
    if (app.inflight === p) app.inflight = null;
    if (app.endpoint && app.endpoint.offered === p) app.endpoint.offered = null;
    p.timer = null;
    p.reject(new TcloError(`TCLO command ${JSON.stringify(p.cmd.toString('latin1'))} timed out`));
    if (app.endpoint) this.pump(app.endpoint);
  }

  private settle(p: PendingCommand, result: Buffer | Error): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    if (result instanceof Error) p.reject(result);
    else p.resolve(result);
  }

  /** Backdoor RECVSIZE: the command to offer, or null for an empty receive. */
  offer(ep: TcloEndpoint): Buffer | null {
    ep.lastActivity = this.now();
    if (ep.offered) return ep.offered.cmd; // re-offered after a failed or restarted receive
    this.adopt(ep);
    const app = ep.app;
    if (!ep.ready || !app || app.inflight || app.queue.length === 0) return null;
    ep.offered = app.queue.shift() ?? null;
    return ep.offered ? ep.offered.cmd : null;
  }

  /** Backdoor RECVSTATUS success: the offered command now belongs to the guest. */
  acknowledge(ep: TcloEndpoint): void {
    const p = ep.offered;
    if (!p || !ep.app) return;
    ep.offered = null;
    ep.ready = false;
    this.deliver(ep, p);
  }

  private deliver(ep: TcloEndpoint, p: PendingCommand): void {
    p.app.inflight = p;
    p.log = this.log.add({
      time: this.now(),
      transport: ep.transport,
      proto: 'TCLO',
      channel: ep.id,
      pid: ep.pid,
      request: p.cmd,
      reply: null,
    });
    this.events?.emit('tclo.command', p.log);
  }

  /** A complete guest send on a TCLO endpoint (backdoor message or vsock DATA packet). */
  guestSent(ep: TcloEndpoint, msg: Buffer): void {
    ep.ready = true;
    ep.lastActivity = this.now();
    if (msg.length === 0) {
      this.emptyPolls++;
    } else {
      this.reply(ep, msg);
    }
    // §5.1: the first send is "the only way to signal the existence of this
    // guest application"; announced last, so an observer that queues a
    // command here sees the endpoint ready and the command goes out with the
    // guest's very next RECVSIZE.
    if (!ep.announced) this.announce(ep);
  }

  private reply(ep: TcloEndpoint, msg: Buffer): void {
    const app = ep.app;
    const p = app ? app.inflight : null;
    const t = this.now();
    let entry: RpcLogEntry;
    if (p && app) {
      app.inflight = null;
      entry = p.log ?? this.log.add({ time: t, transport: ep.transport, proto: 'TCLO', channel: ep.id, pid: ep.pid, request: p.cmd, reply: null });
      entry.reply = Buffer.from(msg);
      entry.replyTime = t;
      this.settle(p, Buffer.from(msg));
    } else {
      entry = this.log.add({ time: t, transport: ep.transport, proto: 'TCLO', channel: ep.id, pid: ep.pid, request: null, reply: Buffer.from(msg), replyTime: t });
    }
    this.events?.emit('tclo.reply', entry);
    const m = ATR_RE.exec(msg.toString('latin1'));
    if (m) this.rebind(ep, m[1]);
    this.pump(ep);
  }

  private rebind(ep: TcloEndpoint, name: string): void {
    const old = ep.app;
    const target = this.app(name, true);
    if (old === target || !old) return;
    const other = target.endpoint;
    // Pending work follows the app, not the endpoint.
    if (other) this.bind(other, old);
    else {
      old.endpoint = null;
      if (!old.named && old.queue.length === 0 && !old.inflight) this.apps.delete(old.name);
    }
    this.bind(ep, target);
    if (other) this.pump(other);
  }

  /** vsock: push the next command when the endpoint is idle. */
  pump(ep: TcloEndpoint): void {
    const app = ep.app;
    if (!ep.push || !app || app.inflight || app.queue.length === 0) return;
    const p = app.queue.shift();
    if (!p) return;
    this.deliver(ep, p);
    ep.push(p.cmd);
  }

  list(): TcloEndpointInfo[] {
    return [...this.endpoints].map((ep) => ({
      transport: ep.transport,
      id: ep.id,
      pid: ep.pid,
      app: ep.app ? ep.app.name : null,
      queued: ep.app ? ep.app.queue.length : 0,
      inflight: !!(ep.app && ep.app.inflight),
    }));
  }

  /** Rejects every queued and in-flight command (simulator shutdown). */
  failAll(reason: string): void {
    for (const app of this.apps.values()) {
      const offered = app.endpoint ? app.endpoint.offered : null;
      const all = [...(offered ? [offered] : []), ...app.queue, ...(app.inflight ? [app.inflight] : [])];
      app.queue = [];
      app.inflight = null;
      if (app.endpoint) app.endpoint.offered = null;
      for (const p of all) this.settle(p, new TcloError(reason));
    }
  }
}
