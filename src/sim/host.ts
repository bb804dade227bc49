/**
 * VmxHost: the host (VMX) side of the VMware backdoor, as pure protocol logic
 * without I/O. One trapped guest instruction in (`TrapRequest`, the register
 * image the trap shim saw), the VMX's answer out (`TrapReply`).
 *
 * Register conventions (simulator choices, documented because no VMware
 * source says what the VMX writes in bits it does not define):
 *  - `in eax,dx` writes EAX, so RAX bits 63..32 are always cleared on an LB
 *    reply (hardware zero-extends 32-bit destinations).
 *  - Registers the VMX returns a value in are written as 32-bit values,
 *    zero-extended. Registers it does not define are left as the guest had them.
 *  - MESSAGE status goes to ECX (LB) / EBX (HB) as `status << 16`, lo16 = 0.
 *  - After `rep insb/outsb`, RCX = 0 and RDI/RSI advance by the count, as the
 *    hardware would (docs/simulator-protocol.md), whatever the status.
 *  - An LB command the host does not implement (unknown number, or disabled
 *    with `disableCommand`) returns EAX = 0xFFFFFFFF and leaves the other
 *    registers alone. That is what every "unsupported" test in channel.md
 *    §2.5/§2.6 checks for: GETTIMEFULL success needs EAX = magic, GETTIME
 *    error is EAX = 0xFFFFFFFF, GET_VCPU_INFO bit 31 = unimplemented,
 *    GETBUILDNUM −1 = unsupported, NESTING_CONTROL ≠ 0xFFFFFFFF.
 */
import { webcrypto } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  BDOOR_CMD,
  BDOOR_CMD_NAMES,
  BDOOR_MAGIC,
  BDOOR_PORT,
  BDOOR_VERSION_MAGIC,
  BDOORHB_CMD_MESSAGE,
  BDOORHB_PORT,
  GUESTMSG_FLAG_COOKIE,
  GUESTMSG_MAX_CHANNEL,
  GUESTMSG_MAX_IN_SIZE,
  MSG_STATUS,
  MSG_TYPE,
  MSG_TYPE_NAMES,
  RPCI_PROTOCOL_NUM,
  TCLO_PROTOCOL_NUM,
  TRAP_ACTION_HANDLED,
  TRAP_ACTION_NOT_HANDLED,
  TRAP_KIND_HB_IN,
  TRAP_KIND_HB_OUT,
  TRAP_KIND_LB,
  VMX_TYPE,
} from './constants';
import { SimEvents } from './events';
import { GuestInfoView, GuestView } from './guestinfo-view';
import { GuestInfoStore, RpciContext, RpciHandler, RpciServer } from './rpci';
import { RpcLog, RpcLogEntry } from './rpclog';
import { AutoResetDriver, AutoResetOptions } from './session';
import { SendTcloOptions, TcloEndpoint, TcloEndpointInfo, TcloRouter, pidAlive } from './tclo';

export interface Regs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rbp: bigint;
}

/** 1 = LB `in`, 2 = HB `rep outsb` (guest→host), 3 = HB `rep insb` (host→guest). */
export type TrapKind = 1 | 2 | 3;

export interface TrapRequest {
  kind: TrapKind;
  pid: number;
  tid: number;
  regs: Regs;
  /** kind 2: the RCX bytes the shim read at the guest's RSI; otherwise empty. */
  payload: Buffer;
}

export interface TrapReply {
  /** 0 = handled (apply regs), 1 = not a backdoor call: deliver the fault. */
  action: 0 | 1;
  regs: Regs;
  /** kind 3: bytes to store at the guest's RDI. */
  payload: Buffer;
}

export type Proto = 'RPCI' | 'TCLO';

export interface CheckpointRule {
  /** 'send': LB SENDPAYLOAD / HB out. 'receive': LB RECVPAYLOAD / HB in / RECVSTATUS. */
  phase: 'send' | 'receive';
  /** Eligible pieces to let through before the first CPT (default 0: the next one). */
  afterCalls?: number;
  /** How many pieces answer CPT (default 1), or 'always' until cleared. */
  count?: number | 'always';
  /** Only pieces on channels of this protocol. */
  proto?: Proto;
  /** Only pieces on this channel id. */
  channel?: number;
}

export interface CallCounters {
  /** Every trapped call, handled or not. */
  total: number;
  lb: number;
  hbOut: number;
  hbIn: number;
  /** Traps answered with action 1 (EAX not magic, wrong port). */
  notHandled: number;
  /** LB calls by command name (`GETVERSION`, `MESSAGE`, … or `CMD_<n>`). */
  commands: Record<string, number>;
  /** LB MESSAGE calls by sub-command name (`OPEN` … `CLOSE`, or `MSG_<n>`). */
  message: Record<string, number>;
}

export interface CounterSnapshot extends CallCounters {
  byPid: Record<string, CallCounters>;
  /** Host events that are not backdoor calls. */
  events: {
    checkpointsInjected: number;
    stopCatchup: number;
    tcloEmptyPolls: number;
    rpciRequests: number;
  };
}

export interface ChannelInfo {
  id: number;
  proto: Proto;
  cookie: boolean;
  pid: number;
  hostClosed: boolean;
  sending: boolean;
  replyPending: boolean;
}

export interface VmxHostOptions {
  /** GETVERSION ECX (channel.md §1 step 5); default 2 = ESX. */
  vmxType?: number;
  /** GETMHZ EAX; default 2400. */
  mhz?: number;
  /** GETHWVERSION EAX; default 21 (simulator choice). */
  hwVersion?: number;
  /** GETBUILDNUM EAX; default 24022510 (simulator choice). */
  buildNumber?: number;
  /** Offer high-bandwidth transfers (the HB status bit); default true. */
  hb?: boolean;
  /** Fail OPEN requests that ask for a cookie (old hosts; the guest retries without). */
  refuseCookieOpen?: boolean;
  /** Largest guest→host message accepted at SENDSIZE; default 65536 (GUESTMSG_MAX_IN_SIZE, channel.md §3.3). */
  maxInSize?: number;
  /** Largest RPCI reply; longer replies become `0 Reply too long` (simulator convention). 0 = unlimited (default). */
  maxOutSize?: number;
  /** Maximum allowed time lag reported by GETTIME* in µs; default 500000 (UNCONFIRMED real value). */
  maxTimeLagUs?: number;
  /** Interrupt lag in µs (GETTIMEFULL_WITH_LAG EDI, added to ECX by 23/46); default 0. */
  interruptLagUs?: number;
  /** Added to the host clock, µs. */
  clockOffsetUs?: number;
  /** Host wall clock in µs since the epoch, before the offset. Default: Date.now()-based with µs resolution. */
  clock?: () => bigint;
  /**
   * GETGUIOPTIONS (13) EAX, e.g. VMWARE_GUI_SYNC_TIME for "periodic sync on".
   * Default undefined: the command is unimplemented (EAX = 0xFFFFFFFF), as before it existed.
   */
  guiOptions?: number;
  /** Seed guest variables, like `.vmx` `guestinfo.*` entries. */
  guestinfo?: Record<string, string | Buffer>;
  /** Install DEFAULT_CANNED_REPLIES (default true). */
  defaultCannedReplies?: boolean;
  /** Entries kept in the RPC log (default 10000). */
  rpcLogLimit?: number;
  /** ms clock for log timestamps and TCLO staleness (default Date.now). */
  now?: () => number;
  /** Whether a guest pid still exists (default: kill(pid, 0)); used to spot abandoned channels. */
  pidAlive?: (pid: number) => boolean;
  /**
   * Play the VMX's side of the session on every new guest TCLO channel:
   * reset, ping, Capabilities_Register, Set_Option burst, periodic ping
   * (core-services.md §2.2; session.ts). Default off: tests drive TCLO themselves.
   */
  autoReset?: boolean | AutoResetOptions;
  /** MAC → the VM's virtual NIC name ("ethernet0"), for GuestView nics[].name. */
  vnics?: Record<string, string>;
}

interface Channel {
  id: number;
  proto: Proto;
  cookie: boolean;
  cookieHigh: number;
  cookieLow: number;
  pid: number;
  /** Closed by the host (closeChannel): calls answer CLOSED until the guest closes or reopens. */
  hostClosed: boolean;
  /** Guest→host message being assembled. */
  sendBuf: Buffer | null;
  sendPos: number;
  /** RPCI: the reply the next RECVSIZE offers. */
  rpciReply: Buffer | null;
  /** Message offered by the last RECVSIZE and how far it was transferred. */
  recvMsg: Buffer | null;
  recvPos: number;
  tclo: TcloEndpoint | null;
  /** Last call on the channel, ms (for reaping channels of dead guests). */
  lastActivity: number;
}

interface ActiveRule {
  phase: 'send' | 'receive';
  skip: number;
  remaining: number | 'always';
  proto?: Proto;
  channel?: number;
}

const M32 = 0xffffffffn;
const M64 = 0xffffffffffffffffn;
const EMPTY: Buffer = Buffer.alloc(0);

function lo32(v: bigint): number {
  return Number(v & M32);
}

function u32(n: number): bigint {
  return BigInt(n >>> 0);
}

function newCounters(): CallCounters {
  return { total: 0, lb: 0, hbOut: 0, hbIn: 0, notHandled: 0, commands: {}, message: {} };
}

function copyCounters(c: CallCounters): CallCounters {
  return { ...c, commands: { ...c.commands }, message: { ...c.message } };
}

function bump(rec: Record<string, number>, key: string): void {
  rec[key] = (rec[key] ?? 0) + 1;
}

function randomU32Pair(): [number, number] {
  const a = new Uint32Array(2);
  webcrypto.getRandomValues(a);
  return [a[0], a[1]];
}

/** Date.now()-based wall clock with µs resolution (timeOrigin is wall time, now() monotonic). */
export function defaultClockUs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

export class VmxHost {
  readonly rpci: RpciServer;
  readonly tclo: TcloRouter;
  readonly rpcLog: RpcLog;
  /** Observers' view of what happens (events.ts): the session driver, --verbose, tests. */
  readonly events = new SimEvents();
  /** What the guest reported with SetGuestInfo / SetGuestDiskInfo (core-services.md §8). */
  readonly guestView: GuestInfoView;
  readonly autoReset: AutoResetDriver;

  vmxType: number;
  mhz: number;
  hwVersion: number;
  buildNumber: number;
  hb: boolean;
  refuseCookieOpen: boolean;
  maxInSize: number;
  maxOutSize: number;
  maxTimeLagUs: number;
  interruptLagUs: number;
  clockOffsetUs: bigint;
  /** The host clock's rate error, ppm, from driftStartUs on (setClockDrift). */
  clockDriftPpm = 0;
  private driftStartUs = 0n;
  /** Virtual time added by advanceClock (a simulated hour in a test), µs. */
  clockAdvanceUs = 0n;
  /** GETGUIOPTIONS EAX; undefined = unimplemented. */
  guiOptions: number | undefined;

  private readonly clock: () => bigint;
  private readonly now: () => number;
  private readonly pidAlive: (pid: number) => boolean;
  private readonly channels = new Map<number, Channel>();
  private nextId = 0;
  private readonly disabled = new Set<number>();
  private rules: ActiveRule[] = [];
  private all = newCounters();
  private byPid = new Map<number, CallCounters>();
  private counts = { checkpointsInjected: 0, stopCatchup: 0, rpciRequests: 0 };

  constructor(opts: VmxHostOptions = {}) {
    this.vmxType = opts.vmxType ?? VMX_TYPE.ESX;
    this.mhz = opts.mhz ?? 2400;
    this.hwVersion = opts.hwVersion ?? 21;
    this.buildNumber = opts.buildNumber ?? 24022510;
    this.hb = opts.hb ?? true;
    this.refuseCookieOpen = opts.refuseCookieOpen ?? false;
    this.maxInSize = opts.maxInSize ?? GUESTMSG_MAX_IN_SIZE;
    this.maxOutSize = opts.maxOutSize ?? 0;
    this.maxTimeLagUs = opts.maxTimeLagUs ?? 500000;
    this.interruptLagUs = opts.interruptLagUs ?? 0;
    this.clockOffsetUs = BigInt(opts.clockOffsetUs ?? 0);
    this.clock = opts.clock ?? defaultClockUs;
    this.guiOptions = opts.guiOptions;
    this.rpcLog = new RpcLog(opts.rpcLogLimit ?? 10000);
    this.rpci = new RpciServer(new GuestInfoStore(), opts.defaultCannedReplies ?? true);
    if (opts.guestinfo) this.rpci.guestInfo.seed(opts.guestinfo);
    this.now = opts.now ?? Date.now;
    this.pidAlive = opts.pidAlive ?? pidAlive;
    this.tclo = new TcloRouter(this.rpcLog, this.now, this.pidAlive, this.events);
    this.guestView = new GuestInfoView({ now: this.now, vnics: opts.vnics });
    const ar = opts.autoReset;
    this.autoReset = new AutoResetDriver(this, typeof ar === 'object' ? { enabled: true, ...ar } : { enabled: ar === true }, this.now);
  }

  // ---------------------------------------------------------------------------
  // Trap entry point

  handleTrap(req: TrapRequest): TrapReply {
    const r = req.regs;
    const out: Regs = { rax: r.rax, rbx: r.rbx, rcx: r.rcx, rdx: r.rdx, rsi: r.rsi, rdi: r.rdi, rbp: r.rbp };
    const pc = this.pidCounters(req.pid);
    this.all.total++;
    pc.total++;
    const port = Number(r.rdx & 0xffffn);
    const expectedPort = req.kind === TRAP_KIND_LB ? BDOOR_PORT : BDOORHB_PORT;
    const validKind = req.kind === TRAP_KIND_LB || req.kind === TRAP_KIND_HB_OUT || req.kind === TRAP_KIND_HB_IN;
    // channel.md §2.5: without the magic in EAX and the right port it is not a backdoor call.
    if (!validKind || lo32(r.rax) !== BDOOR_MAGIC || port !== expectedPort) {
      this.all.notHandled++;
      pc.notHandled++;
      return { action: TRAP_ACTION_NOT_HANDLED, regs: out, payload: EMPTY };
    }
    let payload: Buffer = EMPTY;
    if (req.kind === TRAP_KIND_LB) {
      this.all.lb++;
      pc.lb++;
      this.lowBandwidth(req, out, pc);
    } else if (req.kind === TRAP_KIND_HB_OUT) {
      this.all.hbOut++;
      pc.hbOut++;
      this.hbOut(req, out);
    } else {
      this.all.hbIn++;
      pc.hbIn++;
      payload = this.hbIn(req, out);
    }
    return { action: TRAP_ACTION_HANDLED, regs: out, payload };
  }

  private pidCounters(pid: number): CallCounters {
    let c = this.byPid.get(pid);
    if (!c) {
      c = newCounters();
      this.byPid.set(pid, c);
    }
    return c;
  }

  // ---------------------------------------------------------------------------
  // Low-bandwidth commands (channel.md §2.2, §2.6)

  private lowBandwidth(req: TrapRequest, out: Regs, pc: CallCounters): void {
    const cmd = lo32(req.regs.rcx) & 0xffff; // BDOOR_CMD(ecx) = ecx & 0xFFFF (§2.1)
    const name = BDOOR_CMD_NAMES.get(cmd) ?? `CMD_${cmd}`;
    bump(this.all.commands, name);
    bump(pc.commands, name);
    out.rax = BigInt(BDOOR_MAGIC); // `in eax,dx` zero-extends; commands below overwrite EAX as needed
    if (this.disabled.has(cmd)) {
      out.rax = M32;
      return;
    }
    switch (cmd) {
      case BDOOR_CMD.GETVERSION: // §1 step 5: EAX = 6, EBX = magic, ECX = VMX type
        out.rax = u32(BDOOR_VERSION_MAGIC);
        out.rbx = u32(BDOOR_MAGIC);
        out.rcx = u32(this.vmxType);
        return;
      case BDOOR_CMD.GETMHZ:
        out.rax = u32(this.mhz);
        return;
      case BDOOR_CMD.GETGUIOPTIONS: // §2.6 (toolboxcmd-time.c): EAX = GUI option bits
        out.rax = this.guiOptions === undefined ? M32 : u32(this.guiOptions);
        return;
      case BDOOR_CMD.GETHWVERSION: // §2.6: EAX = hw version, EBX = magic
        out.rax = u32(this.hwVersion);
        out.rbx = u32(BDOOR_MAGIC);
        return;
      case BDOOR_CMD.GETTIME: {
        // §2.6: EAX = seconds (u32), EBX = µs, ECX = max lag incl. interrupt lag.
        const [sec, us] = this.hostTime();
        out.rax = sec < 0n || sec >= M32 ? M32 : sec;
        out.rbx = u32(us);
        out.rcx = u32(this.maxTimeLagUs + this.interruptLagUs);
        return;
      }
      case BDOOR_CMD.STOPCATCHUP: // §2.6: no outputs; counted
        this.counts.stopCatchup++;
        return;
      case BDOOR_CMD.GETHZ: {
        // §2.6 (secondary source): EAX/EBX = TSC Hz low/high.
        const hz = BigInt(this.mhz) * 1000000n;
        out.rax = hz & M32;
        out.rbx = (hz >> 32n) & M32;
        return;
      }
      case BDOOR_CMD.GETTIMEFULL:
      case BDOOR_CMD.GETTIMEFULL_WITH_LAG: {
        // §2.6 / core-services.md §7.1: EAX stays magic; seconds = ESI<<32 | EDX; EBX = µs.
        const [sec, us] = this.hostTime();
        const s = BigInt.asUintN(64, sec);
        out.rsi = s >> 32n;
        out.rdx = s & M32;
        out.rbx = u32(us);
        if (cmd === BDOOR_CMD.GETTIMEFULL) {
          out.rcx = u32(this.maxTimeLagUs + this.interruptLagUs);
        } else {
          out.rcx = u32(this.maxTimeLagUs); // 55: max lag only; interrupt lag in EDI
          out.rdi = u32(this.interruptLagUs);
        }
        return;
      }
      case BDOOR_CMD.GETBUILDNUM:
        out.rax = u32(this.buildNumber);
        return;
      case BDOOR_CMD.MESSAGE:
        this.message(req, out, pc);
        return;
      default:
        out.rax = M32;
        return;
    }
  }

  /** [seconds, microseconds] of the simulated host clock. */
  private hostTime(): [bigint, number] {
    const t = this.hostTimeUs();
    let sec = t / 1000000n;
    let us = t % 1000000n;
    if (us < 0n) {
      us += 1000000n;
      sec -= 1n;
    }
    return [sec, Number(us)];
  }

  /** The simulated host wall clock, µs since the epoch (offset applied). */
  hostTimeUs(): bigint {
    const base = this.clock() + this.clockAdvanceUs;
    const drift = this.clockDriftPpm === 0 ? 0n : BigInt(Math.round((this.clockDriftPpm * Number(base - this.driftStartUs)) / 1e6));
    return base + this.clockOffsetUs + drift;
  }

  /** Make the host clock run `ppm` fast (negative: slow) from now on, keeping its current reading. */
  setClockDrift(ppm: number): void {
    const before = this.hostTimeUs();
    this.clockDriftPpm = ppm;
    this.driftStartUs = this.clock() + this.clockAdvanceUs;
    this.clockOffsetUs += before - this.hostTimeUs();
  }

  /** Offset, drift and virtual advance back to zero: the host clock is the real clock again. */
  resetClock(): void {
    this.clockOffsetUs = 0n;
    this.clockDriftPpm = 0;
    this.driftStartUs = 0n;
    this.clockAdvanceUs = 0n;
  }

  /** Let `us` of virtual time pass on the host clock (drift applies), for simulated hours in tests. */
  advanceClock(us: number | bigint): void {
    this.clockAdvanceUs += BigInt(us);
  }

  // ---------------------------------------------------------------------------
  // MESSAGE over LB (channel.md §3.4)

  private message(req: TrapRequest, out: Regs, pc: CallCounters): void {
    const r = req.regs;
    const ecx = lo32(r.rcx);
    const edx = lo32(r.rdx);
    const type = ecx >>> 16;
    const typeName = MSG_TYPE_NAMES[type] ?? `MSG_${type}`;
    bump(this.all.message, typeName);
    bump(pc.message, typeName);
    const status = this.messageOp(type, req, out, edx);
    out.rcx = u32(status << 16);
  }

  private messageOp(type: number, req: TrapRequest, out: Regs, edx: number): number {
    const r = req.regs;
    const id = edx >>> 16;
    const ebx = lo32(r.rbx);
    if (type === MSG_TYPE.OPEN) return this.open(req, out, ebx, edx);
    if (type === MSG_TYPE.CLOSE) return this.close(id, lo32(r.rsi), lo32(r.rdi));
    const found = this.lookup(id, lo32(r.rsi), lo32(r.rdi));
    if (typeof found === 'number') return found;
    const ch = found;
    switch (type) {
      case MSG_TYPE.SENDSIZE:
        return this.sendSize(ch, ebx, req.pid);
      case MSG_TYPE.SENDPAYLOAD:
        return this.sendPayload(ch, ebx, req.pid);
      case MSG_TYPE.RECVSIZE:
        return this.recvSize(ch, out, edx);
      case MSG_TYPE.RECVPAYLOAD:
        return this.recvPayload(ch, out, ebx, edx);
      case MSG_TYPE.RECVSTATUS:
        return this.recvStatus(ch, ebx);
      default:
        return 0;
    }
  }

  /** Channel for an id + cookie pair, or the status to answer (0 = unknown / wrong cookie). */
  private lookup(id: number, cookieHigh: number, cookieLow: number): Channel | number {
    const ch = this.channels.get(id);
    if (!ch) return 0;
    if (ch.cookie && (ch.cookieHigh !== cookieHigh || ch.cookieLow !== cookieLow)) return 0;
    if (ch.hostClosed) return MSG_STATUS.CLOSED;
    ch.lastActivity = this.now();
    return ch;
  }

  private open(req: TrapRequest, out: Regs, ebx: number, edx: number): number {
    const wantCookie = (ebx & GUESTMSG_FLAG_COOKIE) !== 0;
    const protoNum = (ebx & ~GUESTMSG_FLAG_COOKIE) >>> 0;
    let proto: Proto;
    if (protoNum === RPCI_PROTOCOL_NUM) proto = 'RPCI';
    else if (protoNum === TCLO_PROTOCOL_NUM) proto = 'TCLO';
    else return 0;
    if (wantCookie && this.refuseCookieOpen) return 0;
    const id = this.allocateId();
    if (id < 0) return 0;
    const [hi, lo] = wantCookie ? randomU32Pair() : [0, 0];
    const ch: Channel = {
      id,
      proto,
      cookie: wantCookie,
      cookieHigh: hi,
      cookieLow: lo,
      pid: req.pid,
      hostClosed: false,
      sendBuf: null,
      sendPos: 0,
      rpciReply: null,
      recvMsg: null,
      recvPos: 0,
      tclo: null,
      lastActivity: this.now(),
    };
    if (proto === 'TCLO') ch.tclo = this.tclo.newEndpoint('backdoor', id, req.pid);
    this.channels.set(id, ch);
    // §3.4: EDX.hi16 = channel id, ESI = cookie high, EDI = cookie low.
    out.rdx = u32(((id << 16) | (edx & 0xffff)) >>> 0);
    out.rsi = u32(hi);
    out.rdi = u32(lo);
    return MSG_STATUS.SUCCESS;
  }

  /**
   * Ids rotate through 0..GUESTMSG_MAX_CHANNEL-1 rather than reusing the
   * lowest free one, so a guest that keeps using a stale id is more likely to
   * hit an unknown channel than someone else's (simulator policy). Host-closed
   * slots are kept (answering CLOSED) until the guest closes them or the
   * table is full.
   */
  private allocateId(): number {
    if (this.liveChannels() >= GUESTMSG_MAX_CHANNEL) {
      this.reapAbandoned();
      if (this.liveChannels() >= GUESTMSG_MAX_CHANNEL) return -1; // §3.3 host-wide limit
    }
    for (let i = 0; i < GUESTMSG_MAX_CHANNEL; i++) {
      const id = (this.nextId + i) % GUESTMSG_MAX_CHANNEL;
      if (!this.channels.has(id)) {
        this.nextId = (id + 1) % GUESTMSG_MAX_CHANNEL;
        return id;
      }
    }
    for (const c of this.channels.values()) {
      if (c.hostClosed) {
        this.channels.delete(c.id);
        this.nextId = (c.id + 1) % GUESTMSG_MAX_CHANNEL;
        return c.id;
      }
    }
    return -1;
  }

  private liveChannels(): number {
    let live = 0;
    for (const c of this.channels.values()) if (!c.hostClosed) live++;
    return live;
  }

  /**
   * Frees channels whose guest process is gone and that were idle for a
   * second: the stand-in for the VMX's idle timeout (channel.md §4.3, value
   * UNCONFIRMED), so killed test processes cannot exhaust the 128 slots.
   */
  reapAbandoned(): number {
    const now = this.now();
    let n = 0;
    for (const c of [...this.channels.values()]) {
      if (now - c.lastActivity >= 1000 && !this.pidAlive(c.pid)) {
        this.drop(c, 'abandoned');
        this.channels.delete(c.id);
        n++;
      }
    }
    return n;
  }

  private close(id: number, cookieHigh: number, cookieLow: number): number {
    const ch = this.channels.get(id);
    if (!ch) return 0;
    if (ch.cookie && (ch.cookieHigh !== cookieHigh || ch.cookieLow !== cookieLow)) return 0;
    this.drop(ch, 'closed by the guest');
    this.channels.delete(id);
    return ch.hostClosed ? MSG_STATUS.CLOSED : MSG_STATUS.SUCCESS;
  }

  private drop(ch: Channel, reason: string): void {
    ch.sendBuf = null;
    ch.rpciReply = null;
    ch.recvMsg = null;
    if (ch.tclo) {
      this.tclo.removeEndpoint(ch.tclo, reason);
      ch.tclo = null;
    }
  }

  private sendSize(ch: Channel, len: number, pid: number): number {
    ch.sendBuf = null; // a new SENDSIZE restarts any partial send (§3.5 "retry")
    if (len > this.maxInSize) return 0; // §3.3 GUESTMSG_MAX_IN_SIZE
    const status = MSG_STATUS.SUCCESS | (this.hb ? MSG_STATUS.HB : 0);
    if (len === 0) {
      this.completeSend(ch, EMPTY, pid); // §3.5: an empty message is exactly one SENDSIZE
    } else {
      ch.sendBuf = Buffer.allocUnsafe(len);
      ch.sendPos = 0;
    }
    return status;
  }

  private sendPayload(ch: Channel, ebx: number, pid: number): number {
    const buf = ch.sendBuf;
    if (!buf) return 0;
    if (this.checkpoint('send', ch)) {
      ch.sendBuf = null; // the guest restarts from SENDSIZE (§3.5)
      return MSG_STATUS.CPT;
    }
    // §3.4: b0 | b1<<8 | b2<<16 | b3<<24; only the remaining bytes count.
    const n = Math.min(4, buf.length - ch.sendPos);
    for (let i = 0; i < n; i++) buf[ch.sendPos + i] = (ebx >>> (8 * i)) & 0xff;
    ch.sendPos += n;
    if (ch.sendPos === buf.length) this.completeSend(ch, buf, pid);
    return MSG_STATUS.SUCCESS;
  }

  private completeSend(ch: Channel, msg: Buffer, pid: number): void {
    ch.sendBuf = null;
    ch.recvMsg = null;
    if (ch.proto === 'RPCI') {
      // §4.3: the reply is what the next RECVSIZE offers.
      ch.rpciReply = this.handleRpci(msg, { transport: 'backdoor', channel: ch.id, pid, privileged: false });
    } else if (ch.tclo) {
      this.tclo.guestSent(ch.tclo, msg);
    }
  }

  private outgoing(ch: Channel): Buffer | null {
    if (ch.proto === 'RPCI') return ch.rpciReply;
    return ch.tclo ? this.tclo.offer(ch.tclo) : null;
  }

  private recvSize(ch: Channel, out: Regs, edx: number): number {
    const msg = this.outgoing(ch);
    ch.recvMsg = msg;
    ch.recvPos = 0;
    if (!msg) return MSG_STATUS.SUCCESS; // §3.6: nothing queued → SUCCESS without DORECV
    // §3.4: EDX.hi16 = 1 (SENDSIZE), EBX = length.
    out.rbx = u32(msg.length);
    out.rdx = u32(((MSG_TYPE.SENDSIZE << 16) | (edx & 0xffff)) >>> 0);
    return MSG_STATUS.SUCCESS | MSG_STATUS.DORECV | (this.hb ? MSG_STATUS.HB : 0);
  }

  private recvPayload(ch: Channel, out: Regs, ebx: number, edx: number): number {
    const msg = ch.recvMsg;
    if (!msg) return 0;
    if ((ebx & MSG_STATUS.SUCCESS) === 0) {
      // The guest's failure report (§3.6 error path): keep the message for the next RECVSIZE.
      ch.recvPos = 0;
      return MSG_STATUS.SUCCESS;
    }
    if (this.checkpoint('receive', ch)) {
      ch.recvMsg = null; // re-offered whole at the next RECVSIZE
      return MSG_STATUS.CPT;
    }
    if (ch.recvPos >= msg.length) return 0;
    const n = Math.min(4, msg.length - ch.recvPos);
    let word = 0;
    for (let i = 0; i < n; i++) word |= msg[ch.recvPos + i] << (8 * i);
    ch.recvPos += n;
    out.rbx = u32(word);
    out.rdx = u32(((MSG_TYPE.SENDPAYLOAD << 16) | (edx & 0xffff)) >>> 0); // §3.4: EDX.hi16 = 2
    return MSG_STATUS.SUCCESS;
  }

  private recvStatus(ch: Channel, ebx: number): number {
    const msg = ch.recvMsg;
    if (!msg) return 0;
    if ((ebx & MSG_STATUS.SUCCESS) === 0) {
      // Guest failed to take the message: keep it; the next RECVSIZE offers it again.
      ch.recvMsg = null;
      return MSG_STATUS.SUCCESS;
    }
    if (this.checkpoint('receive', ch)) {
      ch.recvMsg = null;
      return MSG_STATUS.CPT;
    }
    if (ch.recvPos < msg.length) return 0; // acknowledged before the transfer finished
    ch.recvMsg = null;
    if (ch.proto === 'RPCI') ch.rpciReply = null;
    else if (ch.tclo) this.tclo.acknowledge(ch.tclo);
    return MSG_STATUS.SUCCESS;
  }

  // ---------------------------------------------------------------------------
  // High-bandwidth transfers (channel.md §2.3)

  private hbOut(req: TrapRequest, out: Regs): void {
    const r = req.regs;
    const count = r.rcx;
    out.rcx = 0n;
    out.rsi = (r.rsi + count) & M64;
    // §2.3 guest→host: cookie high in RBP, cookie low in RDI.
    const status = this.hbOutStatus(req, lo32(r.rbx), count, lo32(r.rdx) >>> 16, lo32(r.rbp), lo32(r.rdi));
    out.rbx = u32(status << 16);
  }

  private hbOutStatus(req: TrapRequest, ebx: number, count: bigint, id: number, hi: number, lo: number): number {
    if ((ebx & 0xffff) !== BDOORHB_CMD_MESSAGE || !this.hb) return 0;
    const found = this.lookup(id, hi, lo);
    if (typeof found === 'number') return found;
    const ch = found;
    const buf = ch.sendBuf;
    if (!buf) return 0;
    if (this.checkpoint('send', ch)) {
      ch.sendBuf = null;
      return MSG_STATUS.CPT;
    }
    const n = Number(count);
    if (req.payload.length !== n || ch.sendPos + n > buf.length) {
      ch.sendBuf = null;
      return 0;
    }
    req.payload.copy(buf, ch.sendPos);
    ch.sendPos += n;
    if (ch.sendPos === buf.length) this.completeSend(ch, buf, req.pid);
    return MSG_STATUS.SUCCESS;
  }

  private hbIn(req: TrapRequest, out: Regs): Buffer {
    const r = req.regs;
    const count = r.rcx;
    out.rcx = 0n;
    out.rdi = (r.rdi + count) & M64;
    let payload: Buffer = EMPTY;
    // §2.3 host→guest: cookie high in RSI, cookie low in RBP.
    const status = ((): number => {
      if ((lo32(r.rbx) & 0xffff) !== BDOORHB_CMD_MESSAGE || !this.hb) return 0;
      const found = this.lookup(lo32(r.rdx) >>> 16, lo32(r.rsi), lo32(r.rbp));
      if (typeof found === 'number') return found;
      const ch = found;
      const msg = ch.recvMsg;
      if (!msg) return 0;
      if (this.checkpoint('receive', ch)) {
        ch.recvMsg = null;
        return MSG_STATUS.CPT;
      }
      if (count !== BigInt(msg.length - ch.recvPos)) return 0;
      payload = ch.recvPos === 0 ? msg : msg.subarray(ch.recvPos);
      ch.recvPos = msg.length;
      return MSG_STATUS.SUCCESS;
    })();
    out.rbx = u32(status << 16);
    return payload;
  }

  // ---------------------------------------------------------------------------
  // Checkpoint injection

  injectCheckpoint(rule: CheckpointRule): void {
    const count = rule.count ?? 1;
    if (count !== 'always' && count <= 0) return;
    this.rules.push({
      phase: rule.phase,
      skip: Math.max(0, rule.afterCalls ?? 0),
      remaining: count,
      proto: rule.proto,
      channel: rule.channel,
    });
  }

  clearCheckpoints(): void {
    this.rules = [];
  }

  /** Pending checkpoint rules (for diagnostics). */
  checkpointRules(): CheckpointRule[] {
    return this.rules.map((r) => ({ phase: r.phase, afterCalls: r.skip, count: r.remaining, proto: r.proto, channel: r.channel }));
  }

  private checkpoint(phase: 'send' | 'receive', ch: Channel): boolean {
    if (this.rules.length === 0) return false;
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i];
      if (rule.phase !== phase) continue;
      if (rule.proto !== undefined && rule.proto !== ch.proto) continue;
      if (rule.channel !== undefined && rule.channel !== ch.id) continue;
      if (rule.skip > 0) {
        rule.skip--;
        continue;
      }
      if (rule.remaining !== 'always' && --rule.remaining <= 0) this.rules.splice(i, 1);
      this.counts.checkpointsInjected++;
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------------------
  // Channel switches

  /** The host closes a channel: every later call on it answers CLOSED until the guest closes or reopens. */
  closeChannel(id: number): boolean {
    const ch = this.channels.get(id);
    if (!ch || ch.hostClosed) return false;
    this.drop(ch, 'closed by the host');
    ch.hostClosed = true;
    return true;
  }

  closeAll(): number {
    let n = 0;
    for (const id of [...this.channels.keys()]) if (this.closeChannel(id)) n++;
    return n;
  }

  /** Host reset (vMotion, restore): every channel is forgotten; old ids are unknown (status 0). */
  resetChannels(): number {
    const n = this.channels.size;
    for (const ch of this.channels.values()) this.drop(ch, 'reset by the host');
    this.channels.clear();
    return n;
  }

  /** Changes the host's cookie for a channel: the guest's cookie mismatches from then on. */
  rotateCookie(id: number): boolean {
    const ch = this.channels.get(id);
    if (!ch) return false;
    let [hi, lo] = randomU32Pair();
    if (hi === ch.cookieHigh && lo === ch.cookieLow) hi = (hi + 1) >>> 0;
    ch.cookie = true;
    ch.cookieHigh = hi;
    ch.cookieLow = lo;
    return true;
  }

  listChannels(): ChannelInfo[] {
    return [...this.channels.values()].map((c) => ({
      id: c.id,
      proto: c.proto,
      cookie: c.cookie,
      pid: c.pid,
      hostClosed: c.hostClosed,
      sending: c.sendBuf !== null,
      replyPending: c.proto === 'RPCI' ? c.rpciReply !== null : !!(c.tclo && c.tclo.offered),
    }));
  }

  /** Make an LB command behave as unimplemented (EAX = 0xFFFFFFFF), e.g. to test GETTIMEFULL fallbacks. */
  disableCommand(cmd: number, disabled = true): void {
    if (disabled) this.disabled.add(cmd);
    else this.disabled.delete(cmd);
  }

  disabledCommands(): number[] {
    return [...this.disabled];
  }

  setClockOffset(o: { ms?: number; us?: number | bigint }): void {
    this.clockOffsetUs = BigInt(Math.round((o.ms ?? 0) * 1000)) + BigInt(o.us ?? 0);
  }

  // ---------------------------------------------------------------------------
  // RPCI, guest variables, TCLO

  /** Computes and logs the reply to one complete RPCI request (any transport). */
  handleRpci(raw: Buffer, ctx: RpciContext): Buffer {
    const request = Buffer.from(raw);
    let reply: Buffer;
    try {
      reply = this.rpci.handle(request, ctx);
    } catch (e) {
      reply = Buffer.from(`0 ${e instanceof Error ? e.message : String(e)}`);
    }
    if (this.maxOutSize > 0 && reply.length > this.maxOutSize) reply = Buffer.from('0 Reply too long');
    this.counts.rpciRequests++;
    const entry = this.rpcLog.add({
      time: this.now(),
      transport: ctx.transport,
      proto: 'RPCI',
      channel: ctx.channel,
      pid: ctx.pid,
      request,
      reply,
    });
    this.events.emit('rpci', entry);
    // Decoded from the raw bytes: parseRpciRequest's NUL trimming would cut binary bodies.
    if (GuestInfoView.wants(request)) {
      for (const u of this.guestView.observe(request, reply)) this.events.emit('guestinfo', u);
    }
    return reply;
  }

  /** What the guest has reported, as vSphere would show it (a copy). */
  getGuestView(): GuestView {
    const ip = this.rpci.guestInfo.get('guestinfo.ip');
    return this.guestView.snapshot(ip === undefined ? null : ip.toString('utf8'));
  }

  /** Simulator shutdown: ends auto-reset sessions and fails every pending TCLO command and IP wait. */
  shutdown(reason = 'simulator stopped'): void {
    this.autoReset.disable();
    this.tclo.failAll(reason);
    this.guestView.failWaiters(reason);
  }

  /** Resolves with guest.ipAddress once the guest has reported one (what `govc vm.ip` waits for). */
  waitForIp(timeoutMs = 0): Promise<string> {
    return this.guestView.waitForIp(timeoutMs);
  }

  setRpciHandler(name: string, handler: RpciHandler | null): void {
    this.rpci.setHandler(name, handler);
  }

  setCannedReply(name: string, reply: Buffer | string | null): void {
    this.rpci.setCanned(name, reply);
  }

  setPrivilegedOnly(name: string, on: boolean): void {
    this.rpci.setPrivilegedOnly(name, on);
  }

  getGuestInfo(key: string): Buffer | undefined {
    return this.rpci.guestInfo.get(key);
  }

  setGuestInfo(key: string, value: string | Buffer): void {
    this.rpci.guestInfo.set(key, value);
  }

  deleteGuestInfo(key: string): boolean {
    return this.rpci.guestInfo.delete(key);
  }

  seedGuestInfo(entries: Record<string, string | Buffer>): void {
    this.rpci.guestInfo.seed(entries);
  }

  /** Queues a TCLO command; resolves with the guest's next non-empty send on that app's channel. */
  sendTclo(cmd: Buffer | string, opts?: SendTcloOptions): Promise<Buffer> {
    return this.tclo.send(Buffer.isBuffer(cmd) ? cmd : Buffer.from(cmd, 'utf8'), opts);
  }

  listTclo(): TcloEndpointInfo[] {
    return this.tclo.list();
  }

  getRpcLog(since?: number): RpcLogEntry[] {
    return this.rpcLog.get(since);
  }

  // ---------------------------------------------------------------------------
  // Counters

  counters(): CounterSnapshot {
    const byPid: Record<string, CallCounters> = {};
    for (const [pid, c] of this.byPid) byPid[String(pid)] = copyCounters(c);
    return {
      ...copyCounters(this.all),
      byPid,
      events: { ...this.counts, tcloEmptyPolls: this.tclo.emptyPolls },
    };
  }

  /** Counters of one pid (zeros if it made no call). */
  countersForPid(pid: number): CallCounters {
    const c = this.byPid.get(pid);
    return c ? copyCounters(c) : newCounters();
  }

  resetCounters(): void {
    this.all = newCounters();
    this.byPid = new Map();
    this.counts = { checkpointsInjected: 0, stopCatchup: 0, rpciRequests: 0 };
    this.tclo.emptyPolls = 0;
  }
}
