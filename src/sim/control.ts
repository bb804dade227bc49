/**
 * Control API of the simulator for tests and tools: JSON lines over a UNIX
 * socket. Request `{"id":1,"op":"guestinfo.set","key":"guestinfo.x","value":"y"}`,
 * answer `{"id":1,"ok":true,"result":…}` or `{"id":1,"ok":false,"error":"…"}`.
 * Requests on one connection may overlap (tclo.send waits for the guest);
 * answers carry the request id. Bytes travel as base64 (`…Base64` fields),
 * with a UTF-8 rendering alongside for convenience.
 *
 * Not on the trap path, so clarity beats speed here.
 */
import * as net from 'node:net';
import type { GuestView } from './guestinfo-view';
import type { CallCounters, ChannelInfo, CheckpointRule, CounterSnapshot, VmxHost } from './host';
import type { RpcLogEntry } from './rpclog';
import type { AutoResetConfig, AutoResetOptions, SessionInfo } from './session';
import { listenUnix, ShimServer, ShimServerStats, removeStaleSocket } from './shim-server';
import type { TcloEndpointInfo } from './tclo';
import type { VsockHost, VsockStats } from './vsock-host';

/** Settings changeable at run time (`config.get` / `config.set`). */
export interface HostConfig {
  hb: boolean;
  refuseCookieOpen: boolean;
  vmxType: number;
  mhz: number;
  hwVersion: number;
  buildNumber: number;
  maxInSize: number;
  maxOutSize: number;
  maxTimeLagUs: number;
  interruptLagUs: number;
  clockOffsetUs: number;
  disabledCommands: number[];
}

/** An RPC log entry as the control API sends it. */
export interface WireLogEntry {
  seq: number;
  time: number;
  transport: 'backdoor' | 'vsock';
  proto: 'RPCI' | 'TCLO';
  channel: number;
  pid: number | null;
  requestBase64: string | null;
  requestText: string | null;
  replyBase64: string | null;
  replyText: string | null;
  replyTime?: number;
}

/** Bytes sent by a client: UTF-8 text or base64. */
export interface WireBytes {
  value?: string;
  base64?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Args = Record<string, unknown>;

function bytesArg(a: Args, textKey: string, b64Key: string): Buffer {
  const b64 = a[b64Key];
  if (typeof b64 === 'string') return Buffer.from(b64, 'base64');
  const t = a[textKey];
  if (typeof t === 'string') return Buffer.from(t, 'utf8');
  throw new Error(`missing ${textKey} or ${b64Key}`);
}

function str(a: Args, k: string): string {
  const v = a[k];
  if (typeof v !== 'string') throw new Error(`missing string argument ${k}`);
  return v;
}

function num(a: Args, k: string): number {
  const v = a[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`missing numeric argument ${k}`);
  return v;
}

function optNum(a: Args, k: string): number | undefined {
  const v = a[k];
  return typeof v === 'number' ? v : undefined;
}

function wireEntry(e: RpcLogEntry): WireLogEntry {
  return {
    seq: e.seq,
    time: e.time,
    transport: e.transport,
    proto: e.proto,
    channel: e.channel,
    pid: e.pid,
    requestBase64: e.request ? e.request.toString('base64') : null,
    requestText: e.request ? e.request.toString('utf8') : null,
    replyBase64: e.reply ? e.reply.toString('base64') : null,
    replyText: e.reply ? e.reply.toString('utf8') : null,
    ...(e.replyTime !== undefined ? { replyTime: e.replyTime } : {}),
  };
}

export function getConfig(host: VmxHost): HostConfig {
  return {
    hb: host.hb,
    refuseCookieOpen: host.refuseCookieOpen,
    vmxType: host.vmxType,
    mhz: host.mhz,
    hwVersion: host.hwVersion,
    buildNumber: host.buildNumber,
    maxInSize: host.maxInSize,
    maxOutSize: host.maxOutSize,
    maxTimeLagUs: host.maxTimeLagUs,
    interruptLagUs: host.interruptLagUs,
    clockOffsetUs: Number(host.clockOffsetUs),
    disabledCommands: host.disabledCommands(),
  };
}

export function applyConfig(host: VmxHost, c: Partial<HostConfig>): void {
  if (c.hb !== undefined) host.hb = !!c.hb;
  if (c.refuseCookieOpen !== undefined) host.refuseCookieOpen = !!c.refuseCookieOpen;
  if (c.vmxType !== undefined) host.vmxType = c.vmxType;
  if (c.mhz !== undefined) host.mhz = c.mhz;
  if (c.hwVersion !== undefined) host.hwVersion = c.hwVersion;
  if (c.buildNumber !== undefined) host.buildNumber = c.buildNumber;
  if (c.maxInSize !== undefined) host.maxInSize = c.maxInSize;
  if (c.maxOutSize !== undefined) host.maxOutSize = c.maxOutSize;
  if (c.maxTimeLagUs !== undefined) host.maxTimeLagUs = c.maxTimeLagUs;
  if (c.interruptLagUs !== undefined) host.interruptLagUs = c.interruptLagUs;
  if (c.clockOffsetUs !== undefined) host.clockOffsetUs = BigInt(Math.round(c.clockOffsetUs));
  if (c.disabledCommands !== undefined) {
    for (const cmd of host.disabledCommands()) host.disableCommand(cmd, false);
    for (const cmd of c.disabledCommands) host.disableCommand(cmd, true);
  }
}

/** Default wait for a TCLO reply when the request gives none. */
export const DEFAULT_TCLO_TIMEOUT_MS = 10000;

/** Default wait of `guestinfo.waitForIp` (govc vm.ip waits up to ~30 s after start-up, core-services.md §8.1). */
export const DEFAULT_WAIT_FOR_IP_MS = 60000;

/** `autoreset.get` / `autoreset.set` result. */
export interface AutoResetState extends AutoResetConfig {
  sessions: SessionInfo[];
}

function autoResetState(host: VmxHost): AutoResetState {
  return { ...host.autoReset.config(), sessions: host.autoReset.list() };
}

function optionPairs(v: unknown): Array<[string, string]> | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')) {
    throw new Error('options must be a list of [name, value] string pairs');
  }
  return v as Array<[string, string]>;
}

export class ControlServer {
  private server: net.Server | null = null;
  private path: string | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly host: VmxHost,
    private readonly extras: { vsock?: VsockHost; shim?: ShimServer } = {},
  ) {}

  async listen(path: string): Promise<void> {
    this.server = await listenUnix(path, (s) => this.serve(s));
    this.path = path;
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.setEncoding('utf8');
    let pending = '';
    sock.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line) void this.onLine(sock, line);
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
  }

  private async onLine(sock: net.Socket, line: string): Promise<void> {
    let id: unknown = null;
    let answer: object;
    try {
      const msg = JSON.parse(line) as Args;
      id = msg.id ?? null;
      const result = await this.dispatch(str(msg, 'op'), msg);
      answer = { id, ok: true, result: result ?? null };
    } catch (e) {
      answer = { id, ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    if (!sock.destroyed) sock.write(JSON.stringify(answer) + '\n');
  }

  /** Executes one control operation (exposed for in-process use). */
  async dispatch(op: string, a: Args): Promise<unknown> {
    const h = this.host;
    switch (op) {
      case 'ping':
        return { pong: true, pid: process.pid };

      case 'guestinfo.get': {
        const v = h.getGuestInfo(str(a, 'key'));
        return v === undefined ? { value: null, base64: null } : { value: v.toString('utf8'), base64: v.toString('base64') };
      }
      case 'guestinfo.set':
        h.setGuestInfo(str(a, 'key'), bytesArg(a, 'value', 'base64'));
        return null;
      case 'guestinfo.delete':
        return { deleted: h.deleteGuestInfo(str(a, 'key')) };
      case 'guestinfo.list': {
        const out: Record<string, string> = {};
        for (const [k, v] of h.rpci.guestInfo.entries()) out[k] = v.toString('utf8');
        return out;
      }
      case 'guestinfo.view':
        return h.getGuestView();
      case 'guestinfo.viewClear':
        h.guestView.clear();
        return null;
      case 'guestinfo.waitForIp':
        return { ip: await h.waitForIp(optNum(a, 'timeoutMs') ?? DEFAULT_WAIT_FOR_IP_MS) };

      case 'autoreset.get':
        return autoResetState(h);
      case 'autoreset.set': {
        // Applies to TCLO channels that appear from now on (session.ts).
        h.autoReset.configure({
          pingIntervalMs: optNum(a, 'pingIntervalMs'),
          replyTimeoutMs: optNum(a, 'replyTimeoutMs'),
          options: optionPairs(a.options),
        });
        if (a.enabled === true) h.autoReset.enable();
        else if (a.enabled === false) h.autoReset.disable();
        return autoResetState(h);
      }

      case 'config.get':
        return getConfig(h);
      case 'config.set':
        applyConfig(h, (a.config ?? {}) as Partial<HostConfig>);
        return getConfig(h);

      case 'clock.get':
        return { hostTimeUs: h.hostTimeUs().toString(), offsetUs: Number(h.clockOffsetUs) };
      case 'clock.setOffset':
        h.setClockOffset({ ms: optNum(a, 'ms'), us: optNum(a, 'us') });
        return { offsetUs: Number(h.clockOffsetUs) };
      case 'clock.setDrift':
        h.setClockDrift(num(a, 'ppm'));
        return { driftPpm: h.clockDriftPpm };
      case 'clock.reset':
        h.resetClock();
        return { hostTimeUs: h.hostTimeUs().toString() };
      case 'clock.advance':
        h.advanceClock(Math.round(num(a, 'us')));
        return { hostTimeUs: h.hostTimeUs().toString(), advanceUs: h.clockAdvanceUs.toString() };
      case 'gui.setOptions':
        h.guiOptions = a.value === null || a.value === undefined ? undefined : num(a, 'value') >>> 0;
        return { value: h.guiOptions ?? null };

      case 'checkpoint.inject':
        h.injectCheckpoint((a.rule ?? a) as CheckpointRule);
        return h.checkpointRules();
      case 'checkpoint.clear':
        h.clearCheckpoints();
        return null;
      case 'checkpoint.list':
        return h.checkpointRules();

      case 'channels.list':
        return h.listChannels();
      case 'channels.close':
        return { closed: h.closeChannel(num(a, 'channel')) };
      case 'channels.closeAll':
        return { closed: h.closeAll() };
      case 'channels.reset':
        return { reset: h.resetChannels(), vsockDropped: this.extras.vsock ? this.extras.vsock.disconnectAll() : 0 };
      case 'channels.rotateCookie':
        return { rotated: h.rotateCookie(num(a, 'channel')) };

      case 'tclo.send': {
        const timeoutMs = optNum(a, 'timeoutMs') ?? DEFAULT_TCLO_TIMEOUT_MS;
        const reply = await h.sendTclo(bytesArg(a, 'cmd', 'base64'), {
          app: typeof a.app === 'string' ? a.app : undefined,
          channel: optNum(a, 'channel'),
          transport: a.transport === 'vsock' || a.transport === 'backdoor' ? a.transport : undefined,
          timeoutMs,
        });
        return { reply: reply.toString('utf8'), base64: reply.toString('base64') };
      }
      case 'tclo.list':
        return h.listTclo();

      case 'counters.get': {
        const pid = optNum(a, 'pid');
        return pid === undefined ? h.counters() : h.countersForPid(pid);
      }
      case 'counters.reset':
        h.resetCounters();
        return null;

      case 'rpclog.get':
        return h.getRpcLog(optNum(a, 'since')).map(wireEntry);
      case 'rpclog.clear':
        h.rpcLog.clear();
        return null;

      case 'rpci.canned': {
        const name = str(a, 'name');
        const reply = a.reply === null || (a.reply === undefined && a.base64 === undefined) ? null : bytesArg(a, 'reply', 'base64');
        h.setCannedReply(name, reply);
        return null;
      }
      case 'rpci.cannedList': {
        const out: Record<string, string> = {};
        for (const [k, v] of h.rpci.listCanned()) out[k] = v.toString('utf8');
        return out;
      }
      case 'rpci.privilegedOnly':
        h.setPrivilegedOnly(str(a, 'name'), a.on !== false);
        return null;

      case 'commands.disable':
        h.disableCommand(num(a, 'cmd'), a.disabled !== false);
        return h.disabledCommands();

      case 'vmxlog.get':
        return h.rpci.vmxLog.map((l) => l.toString('utf8'));
      case 'vmxlog.clear':
        h.rpci.vmxLog.length = 0;
        return null;

      case 'stats': {
        const vs: VsockStats | null = this.extras.vsock ? { ...this.extras.vsock.stats } : null;
        const ss: ShimServerStats | null = this.extras.shim ? { ...this.extras.shim.stats } : null;
        return { shim: ss, vsock: vs, vsockConnections: this.extras.vsock ? this.extras.vsock.connections() : [] };
      }
      default:
        throw new Error(`unknown op ${op}`);
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.path) removeStaleSocket(this.path);
    this.path = null;
  }
}

// -----------------------------------------------------------------------------
// Client

/** An RPC log entry with its bytes decoded. */
export interface SimLogEntry {
  seq: number;
  time: number;
  transport: 'backdoor' | 'vsock';
  proto: 'RPCI' | 'TCLO';
  channel: number;
  pid: number | null;
  request: Buffer | null;
  reply: Buffer | null;
  replyTime?: number;
}

export interface SimTcloOptions {
  app?: string;
  channel?: number;
  transport?: 'backdoor' | 'vsock';
  /** Default DEFAULT_TCLO_TIMEOUT_MS. */
  timeoutMs?: number;
}

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

function wireBytes(v: Buffer | string): WireBytes {
  return Buffer.isBuffer(v) ? { base64: v.toString('base64') } : { value: v };
}

/** Typed async client of the control socket. */
export class SimClient {
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private pending = '';
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    const fail = (): void => {
      this.closed = true;
      for (const [, w] of this.waiters) {
        clearTimeout(w.timer);
        w.reject(new Error('simulator control connection closed'));
      }
      this.waiters.clear();
    };
    sock.on('close', fail);
    sock.on('error', fail);
  }

  static connect(path: string): Promise<SimClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path);
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new SimClient(s));
      });
    });
  }

  private onData(chunk: string): void {
    this.pending += chunk;
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      const msg = JSON.parse(line) as { id: number; ok: boolean; result?: unknown; error?: string };
      const w = this.waiters.get(msg.id);
      if (!w) continue;
      this.waiters.delete(msg.id);
      clearTimeout(w.timer);
      if (msg.ok) w.resolve(msg.result);
      else w.reject(new Error(msg.error ?? 'control request failed'));
    }
  }

  /** Sends one raw control operation. */
  request<T = unknown>(op: string, args: Record<string, Json | undefined> = {}, timeoutMs = 15000): Promise<T> {
    if (this.closed) return Promise.reject(new Error('simulator control connection closed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`control op ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.sock.write(JSON.stringify({ ...args, id, op }) + '\n');
    });
  }

  ping(): Promise<{ pong: boolean; pid: number }> {
    return this.request('ping');
  }

  async getGuestInfo(key: string): Promise<Buffer | null> {
    const r = await this.request<{ base64: string | null }>('guestinfo.get', { key });
    return r.base64 === null ? null : Buffer.from(r.base64, 'base64');
  }

  async setGuestInfo(key: string, value: Buffer | string): Promise<void> {
    await this.request('guestinfo.set', { key, ...wireBytes(value) });
  }

  async deleteGuestInfo(key: string): Promise<boolean> {
    return (await this.request<{ deleted: boolean }>('guestinfo.delete', { key })).deleted;
  }

  listGuestInfo(): Promise<Record<string, string>> {
    return this.request('guestinfo.list');
  }

  getConfig(): Promise<HostConfig> {
    return this.request('config.get');
  }

  setConfig(config: Partial<HostConfig>): Promise<HostConfig> {
    return this.request('config.set', { config: config as { [k: string]: Json } });
  }

  /** Deny or allow high-bandwidth transfers. */
  async setHb(on: boolean): Promise<void> {
    await this.setConfig({ hb: on });
  }

  async setRefuseCookieOpen(on: boolean): Promise<void> {
    await this.setConfig({ refuseCookieOpen: on });
  }

  async setClockOffset(o: { ms?: number; us?: number }): Promise<number> {
    return (await this.request<{ offsetUs: number }>('clock.setOffset', o)).offsetUs;
  }

  /** The host clock runs `ppm` fast from now on (negative: slow). */
  async setClockDrift(ppm: number): Promise<void> {
    await this.request('clock.setDrift', { ppm });
  }

  /** Offset, drift and virtual advance back to zero. */
  async resetClock(): Promise<void> {
    await this.request('clock.reset');
  }

  /** Let `us` of virtual time pass on the host clock (drift applies). */
  async advanceClock(us: number): Promise<bigint> {
    return BigInt((await this.request<{ hostTimeUs: string }>('clock.advance', { us })).hostTimeUs);
  }

  /** GETGUIOPTIONS EAX (e.g. 0x400 = periodic time sync on); null: unimplemented (the default). */
  async setGuiOptions(value: number | null): Promise<void> {
    await this.request('gui.setOptions', { value });
  }

  async getHostTimeUs(): Promise<bigint> {
    return BigInt((await this.request<{ hostTimeUs: string }>('clock.get')).hostTimeUs);
  }

  async injectCheckpoint(rule: CheckpointRule): Promise<void> {
    await this.request('checkpoint.inject', { rule: rule as unknown as { [k: string]: Json } });
  }

  async clearCheckpoints(): Promise<void> {
    await this.request('checkpoint.clear');
  }

  listChannels(): Promise<ChannelInfo[]> {
    return this.request('channels.list');
  }

  async closeChannel(channel: number): Promise<boolean> {
    return (await this.request<{ closed: boolean }>('channels.close', { channel })).closed;
  }

  async closeAll(): Promise<number> {
    return (await this.request<{ closed: number }>('channels.closeAll')).closed;
  }

  /** Host reset: every backdoor channel invalid and every vsock connection dropped. */
  resetChannels(): Promise<{ reset: number; vsockDropped: number }> {
    return this.request('channels.reset');
  }

  async rotateCookie(channel: number): Promise<boolean> {
    return (await this.request<{ rotated: boolean }>('channels.rotateCookie', { channel })).rotated;
  }

  /** Sends a TCLO command and resolves with the guest's reply bytes. */
  async sendTclo(cmd: Buffer | string, opts: SimTcloOptions = {}): Promise<Buffer> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TCLO_TIMEOUT_MS;
    const r = await this.request<{ base64: string }>(
      'tclo.send',
      { ...(Buffer.isBuffer(cmd) ? { base64: cmd.toString('base64') } : { cmd }), app: opts.app, channel: opts.channel, transport: opts.transport, timeoutMs },
      timeoutMs + 5000,
    );
    return Buffer.from(r.base64, 'base64');
  }

  listTclo(): Promise<TcloEndpointInfo[]> {
    return this.request('tclo.list');
  }

  getCounters(): Promise<CounterSnapshot> {
    return this.request('counters.get');
  }

  getCountersForPid(pid: number): Promise<CallCounters> {
    return this.request('counters.get', { pid });
  }

  async resetCounters(): Promise<void> {
    await this.request('counters.reset');
  }

  async getRpcLog(since?: number): Promise<SimLogEntry[]> {
    const entries = await this.request<WireLogEntry[]>('rpclog.get', { since });
    return entries.map((e) => ({
      seq: e.seq,
      time: e.time,
      transport: e.transport,
      proto: e.proto,
      channel: e.channel,
      pid: e.pid,
      request: e.requestBase64 === null ? null : Buffer.from(e.requestBase64, 'base64'),
      reply: e.replyBase64 === null ? null : Buffer.from(e.replyBase64, 'base64'),
      ...(e.replyTime !== undefined ? { replyTime: e.replyTime } : {}),
    }));
  }

  async clearRpcLog(): Promise<void> {
    await this.request('rpclog.clear');
  }

  /** Fixed reply for a command name (`name*` = prefix); null removes it. */
  async setCannedReply(name: string, reply: Buffer | string | null): Promise<void> {
    await this.request('rpci.canned', reply === null ? { name, reply: null } : Buffer.isBuffer(reply) ? { name, base64: reply.toString('base64') } : { name, reply });
  }

  listCannedReplies(): Promise<Record<string, string>> {
    return this.request('rpci.cannedList');
  }

  async setPrivilegedOnly(name: string, on: boolean): Promise<void> {
    await this.request('rpci.privilegedOnly', { name, on });
  }

  disableCommand(cmd: number, disabled = true): Promise<number[]> {
    return this.request('commands.disable', { cmd, disabled });
  }

  getVmxLog(): Promise<string[]> {
    return this.request('vmxlog.get');
  }

  /** What the guest has reported with SetGuestInfo / SetGuestDiskInfo, decoded as vSphere would show it. */
  getGuestView(): Promise<GuestView> {
    return this.request('guestinfo.view');
  }

  /** Forgets the decoded guest information (pending waitForIp calls keep waiting). */
  async clearGuestView(): Promise<void> {
    await this.request('guestinfo.viewClear');
  }

  /**
   * Resolves with vSphere's guest.ipAddress as soon as the guest has reported
   * one — what `govc vm.ip` does (core-services.md §8.4). Rejects after
   * timeoutMs (0: wait as long as the connection lives).
   */
  async waitForIp(timeoutMs = DEFAULT_WAIT_FOR_IP_MS): Promise<string> {
    const wait = timeoutMs > 0 ? timeoutMs + 5000 : 0x7fffffff; // setTimeout's largest delay
    const r = await this.request<{ ip: string }>('guestinfo.waitForIp', { timeoutMs }, wait);
    return r.ip;
  }

  getAutoReset(): Promise<AutoResetState> {
    return this.request('autoreset.get');
  }

  /** Turns auto-reset on or off (for TCLO channels that appear afterwards) and/or changes its settings. */
  setAutoReset(enabled: boolean | undefined, opts: AutoResetOptions = {}): Promise<AutoResetState> {
    return this.request('autoreset.set', {
      enabled,
      pingIntervalMs: opts.pingIntervalMs,
      replyTimeoutMs: opts.replyTimeoutMs,
      options: opts.options ? opts.options.map(([k, v]) => [k, v]) : undefined,
    });
  }

  stats(): Promise<{ shim: ShimServerStats | null; vsock: VsockStats | null; vsockConnections: Array<{ id: number; role: string; privileged: boolean }> }> {
    return this.request('stats');
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}
