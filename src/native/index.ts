/**
 * Typed front of the native channel layer (build/Release/vmtools_native.node).
 *
 * Split of work: this module validates arguments and fills defaults; the
 * addon trusts what it gets and does one whole operation per synchronous
 * call (a thread-pool hop would cost ~100× a backdoor exit). Native failures
 * surface as ChannelError with a stable `code`.
 */
import * as fs from 'node:fs';
import { buildArtifactCandidates } from './artifacts';
import type {
  BackdoorStats,
  ChannelErrorCode,
  DetectResult,
  HangDetectorEvent,
  HealthUpdateOutcome,
  LowBandwidthResult,
  NativeBinding,
  NativeChannel,
  NativeChannelInfo,
  NativeHangDetectorThread,
  NativeVsockChannel,
  NativeVsockInfo,
  NativeVsockTcloChannel,
  NativeVsockTcloInfo,
  RpcReply,
  RpcStage,
  ToolsHealth,
} from './native';

export type {
  BackdoorStats,
  ChannelErrorCode,
  DetectResult,
  HangDetectorEvent,
  HealthUpdateOutcome,
  LowBandwidthResult,
  NativeChannelInfo as ChannelInfo,
  NativeVsockInfo as VsockInfo,
  NativeVsockTcloInfo as VsockTcloInfo,
  NativeHangDetectorThread as HangDetectorThread,
  RpcReply,
  RpcStage,
  ToolsHealth,
};

/** channel.md §3.3 */
export const RPCI_PROTOCOL_NUM = 0x49435052;
export const TCLO_PROTOCOL_NUM = 0x4f4c4354;
export const GUESTMSG_MAX_IN_SIZE = 65536;
/** channel.md §6.1 */
export const GUESTRPC_TCLO_VSOCK_PORT = 975;
export const GUESTRPC_RPCI_VSOCK_PORT = 976;
/** channel.md §6.3 */
export const GUESTRPCPKT_TYPE_DATA = 1;
export const GUESTRPCPKT_TYPE_PING = 2;

export type Protocol = 'RPCI' | 'TCLO';

const PROTOCOL_NUMBERS: Record<Protocol, number> = { RPCI: RPCI_PROTOCOL_NUM, TCLO: TCLO_PROTOCOL_NUM };

const ERROR_CODES: readonly ChannelErrorCode[] = [
  'NOT_VMWARE',
  'CHANNEL_CLOSED',
  'HOST_REFUSED',
  'CHECKPOINT_LIMIT',
  'TOO_LARGE',
  'PROTOCOL',
  'NO_MEMORY',
  'NOT_OPEN',
  'IO',
  'TIMEOUT',
];

/** A failure of the channel layer. `code` is stable; `message` says what, where and the host status. */
export class ChannelError extends Error {
  readonly code: ChannelErrorCode;
  /** Which step of an RPC failed (set by the addon when it knows). */
  stage?: RpcStage;
  /** errno of the failed socket call, for code 'IO'. */
  errno?: number;

  constructor(message: string, code: ChannelErrorCode) {
    super(message);
    this.name = 'ChannelError';
    this.code = ERROR_CODES.includes(code) ? code : 'PROTOCOL';
  }
}

export function isChannelError(e: unknown, code?: ChannelErrorCode): e is ChannelError {
  return e instanceof ChannelError && (code === undefined || e.code === code);
}

// ---------------------------------------------------------------------------
// Loading

let binding: NativeBinding | undefined;

/** Where the addon may be: $VMTOOLSD_NATIVE_PATH, then build/Release upwards (./artifacts). */
function candidatePaths(): string[] {
  const fromEnv = process.env.VMTOOLSD_NATIVE_PATH;
  return [...(fromEnv ? [fromEnv] : []), ...buildArtifactCandidates('vmtools_native.node')];
}

/** The raw binding, loaded on first use (importing this module never throws). */
export function native(): NativeBinding {
  if (binding === undefined) {
    const found = candidatePaths().find((p) => fs.existsSync(p));
    if (found === undefined) {
      throw new Error(`vmtools_native.node not found (looked in ${candidatePaths().join(', ')}); run \`npx node-gyp rebuild\``);
    }
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const b = require(found) as NativeBinding;
    b.setErrorClass(ChannelError);
    binding = b;
  }
  return binding;
}

// ---------------------------------------------------------------------------
// Validation helpers

export type Bytes = Uint8Array | string;

/** Strings are sent as UTF-8 bytes, exactly (no NUL added: add '\0' yourself where open-vm-tools does, §4.1). */
function toBytes(v: Bytes, what: string): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return v;
  throw new TypeError(`${what} must be a Buffer, Uint8Array or string`);
}

function checkBool(v: unknown, what: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new TypeError(`${what} must be a boolean`);
  return v;
}

function checkInt(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${what} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

const U64_MAX = (1n << 64n) - 1n;

function checkReg(v: unknown, what: string): number | bigint {
  if (v === undefined) return 0;
  if (typeof v === 'bigint') {
    if (v < 0n || v > U64_MAX) throw new RangeError(`${what} must fit in 64 unsigned bits`);
    return v;
  }
  return checkInt(v, what, 0, 0xffffffff);
}

// ---------------------------------------------------------------------------
// Backdoor: detection, raw LB calls, counters

/** Runs VMware detection (channel.md §1) now; never crashes off VMware. */
export function detect(): DetectResult {
  return native().detect();
}

/**
 * Registers for one raw LB call (GETVERSION, GETTIME* …). EAX is always the
 * magic and DX.lo16 the LB port; `edx` may carry EDX.hi16. Numbers are 32-bit
 * register values; pass a bigint where a full 64-bit register matters.
 */
export interface LowBandwidthRegs {
  /** ECX: ECX.lo16 = command number, ECX.hi16 = sub-command. */
  ecx: number | bigint;
  ebx?: number | bigint;
  edx?: number | bigint;
  esi?: number | bigint;
  edi?: number | bigint;
}

/** One LB `in` with the given registers; unused inputs are zero. Throws NOT_VMWARE without a backdoor. */
export function lowBandwidth(regs: LowBandwidthRegs): LowBandwidthResult {
  if (typeof regs !== 'object' || regs === null) throw new TypeError('regs must be an object');
  if (regs.ecx === undefined) throw new TypeError('regs.ecx (the command) is required');
  return native().lowBandwidth(
    checkReg(regs.ebx, 'ebx'),
    checkReg(regs.ecx, 'ecx'),
    checkReg(regs.edx, 'edx'),
    checkReg(regs.esi, 'esi'),
    checkReg(regs.edi, 'edi'),
  );
}

/** Process-wide backdoor call counters (every LB/HB instruction this process issued). */
export function stats(): BackdoorStats {
  return native().stats();
}

export function resetStats(): void {
  native().resetStats();
}

// ---------------------------------------------------------------------------
// Backdoor message channels

const EMPTY = Buffer.alloc(0);

export interface OpenOptions {
  /** Ignore the host's HB offer and move 4 bytes per LB call. */
  forceLowBandwidth?: boolean;
}

/**
 * One backdoor message channel. Not for concurrent use (one per owner); the
 * host allows 128 channels in all, so close() what you open (a collected
 * object closes its channel too).
 */
export class Channel {
  private readonly n: NativeChannel;

  constructor() {
    this.n = new (native().Channel)();
  }

  /** OPEN a channel of `protocol` (channel.md §3.4); reopens if already open. */
  open(protocol: Protocol, opts: OpenOptions = {}): this {
    const num = PROTOCOL_NUMBERS[protocol];
    if (num === undefined) throw new TypeError(`protocol must be 'RPCI' or 'TCLO', got ${String(protocol)}`);
    this.n.open(num, checkBool(opts.forceLowBandwidth, 'forceLowBandwidth'));
    return this;
  }

  /** Send one message (≤ 65536 bytes, else TOO_LARGE without a backdoor call). */
  send(message: Bytes): void {
    this.n.send(toBytes(message, 'message'));
  }

  /** Receive one message; null when the host has none queued. */
  receive(): Buffer | null {
    return this.n.receive();
  }

  /** CLOSE. The channel is closed locally even if the host refuses (then this throws). */
  close(): void {
    this.n.close();
  }

  /** One RPCI request/reply on this open RPCI channel (5 backdoor calls in HB). */
  rpc(request: Bytes): RpcReply {
    return this.n.rpc(toBytes(request, 'request'));
  }

  /** One TCLO poll: send `reply` (empty if none pending), then fetch the next command or null. */
  tcloPoll(reply: Bytes = EMPTY): Buffer | null {
    return this.n.tcloPoll(toBytes(reply, 'reply'));
  }

  get info(): NativeChannelInfo {
    return this.n.info();
  }

  get isOpen(): boolean {
    return this.n.info().open;
  }

  /** Tests only: present a cookie the host never issued. */
  setCookieForTesting(cookieHigh: number, cookieLow: number): void {
    this.n.setCookieForTesting(checkInt(cookieHigh, 'cookieHigh', 0, 0xffffffff), checkInt(cookieLow, 'cookieLow', 0, 0xffffffff));
  }
}

/** One-shot RPCI like RpcOut_SendOneRaw / vmware-rpctool: open, send, receive, close (7 calls in HB). */
export function rpcOneShot(request: Bytes, opts: OpenOptions = {}): RpcReply {
  return native().rpcOneShot(toBytes(request, 'request'), checkBool(opts.forceLowBandwidth, 'forceLowBandwidth'));
}

// ---------------------------------------------------------------------------
// vsock

export interface VsockOptions {
  /** Set FAST_CLOSE on every request (one-shot use; channel.md §6.3). */
  fastClose?: boolean;
  /** How long rpc() waits for a reply; default 30000, -1 = forever. */
  timeoutMs?: number;
}

export interface VsockConnectOptions extends VsockOptions {
  /** Default 976 (RPCI). */
  port?: number;
  /** Bind a source port < 1024 first (falls back to unprivileged on EACCES). Default true. */
  privileged?: boolean;
}

const DEFAULT_VSOCK_TIMEOUT_MS = 30000;

function checkTimeout(v: unknown): number {
  if (v === undefined) return DEFAULT_VSOCK_TIMEOUT_MS;
  return checkInt(v, 'timeoutMs', -1, 0x7fffffff);
}

/** RPCI over AF_VSOCK: one request packet, one reply packet per rpc() (channel.md §6). */
export class VsockChannel {
  private constructor(private readonly n: NativeVsockChannel) {}

  /** Connect to the hypervisor (CID 0). Refused with NOT_VMWARE unless really on VMware. */
  static connect(opts: VsockConnectOptions = {}): VsockChannel {
    const n = new (native().VsockChannel)();
    const port = opts.port === undefined ? GUESTRPC_RPCI_VSOCK_PORT : checkInt(opts.port, 'port', 0, 0xfffffffe);
    const privileged = opts.privileged === undefined ? true : checkBool(opts.privileged, 'privileged');
    n.connect(port, privileged, checkBool(opts.fastClose, 'fastClose'), checkTimeout(opts.timeoutMs));
    return new VsockChannel(n);
  }

  /** Use an already-connected stream fd (the channel owns and closes it). */
  static fromFd(fd: number, opts: VsockOptions = {}): VsockChannel {
    const n = new (native().VsockChannel)();
    n.adoptFd(checkInt(fd, 'fd', 0, 0x7fffffff), checkBool(opts.fastClose, 'fastClose'), checkTimeout(opts.timeoutMs));
    return new VsockChannel(n);
  }

  rpc(request: Bytes): RpcReply {
    return this.n.rpc(toBytes(request, 'request'));
  }

  close(): void {
    this.n.close();
  }

  get info(): NativeVsockInfo {
    return this.n.info();
  }
}

// ---------------------------------------------------------------------------
// TCLO over vsock (channel.md §6.4)

/**
 * How long connect() waits for CID 0 port 975, and any one packet write
 * waits for buffer space. The VMX accepts or refuses at once; the kernel's
 * own vsock connect timeout is 2 s as well. A write never waits in practice
 * (64 KiB buffers, replies of a few bytes), and must not hold the JS thread
 * long: the hang detector reports "hung" after 5 s.
 */
export const DEFAULT_VSOCK_TCLO_TIMEOUT_MS = 2000;

export interface VsockTcloOptions {
  /** connect() and per-write wait; default 2000 ms, -1 = forever. */
  timeoutMs?: number;
}

export interface VsockTcloConnectOptions extends VsockTcloOptions {
  /** Default 975 (GUESTRPC_TCLO_VSOCK_LISTEN_PORT). */
  port?: number;
}

/** Called once when the channel ends by itself: null = the host closed cleanly. */
export type VsockTcloClosed = (err: ChannelError | null) => void;

function checkTcloTimeout(v: unknown): number {
  return v === undefined ? DEFAULT_VSOCK_TCLO_TIMEOUT_MS : checkInt(v, 'timeoutMs', -1, 0x7fffffff);
}

/**
 * One TCLO-over-vsock connection (channel.md §6.4): the host pushes each
 * command as a DataMap packet, start()'s onCommand receives its payload,
 * reply() answers with a DATA packet and ping() sends the heartbeat. One
 * object per connection; a restart makes a new one.
 */
export class VsockTcloChannel {
  private started = false;

  private constructor(private readonly n: NativeVsockTcloChannel) {}

  /** Connect to the hypervisor (CID 0 port 975). Refused with NOT_VMWARE unless really on VMware. */
  static connect(opts: VsockTcloConnectOptions = {}): VsockTcloChannel {
    const n = new (native().VsockTcloChannel)();
    const port = opts.port === undefined ? GUESTRPC_TCLO_VSOCK_PORT : checkInt(opts.port, 'port', 0, 0xfffffffe);
    n.connect(port, checkTcloTimeout(opts.timeoutMs));
    return new VsockTcloChannel(n);
  }

  /** Use an already-connected stream fd (the channel owns and closes it). */
  static fromFd(fd: number, opts: VsockTcloOptions = {}): VsockTcloChannel {
    const n = new (native().VsockTcloChannel)();
    n.adoptFd(checkInt(fd, 'fd', 0, 0x7fffffff), checkTcloTimeout(opts.timeoutMs));
    return new VsockTcloChannel(n);
  }

  /**
   * Starts delivering host commands to onCommand (on this thread, in order).
   * onClosed runs once if the channel ends by itself -- never after close().
   */
  start(onCommand: (payload: Buffer) => void, onClosed: VsockTcloClosed): void {
    if (typeof onCommand !== 'function') throw new TypeError('onCommand must be a function');
    if (typeof onClosed !== 'function') throw new TypeError('onClosed must be a function');
    if (this.started) throw new Error('VsockTcloChannel already started');
    this.n.start(onCommand, onClosed as (err: Error | null) => void);
    this.started = true;
  }

  /** The reply to the last command, as one DATA packet ("OK …"/"ERROR …", never empty). */
  reply(reply: Bytes): void {
    const b = toBytes(reply, 'reply');
    // An empty payload would go out without field 2 (RpcInPackSendData), which no host expects.
    if (b.length === 0) throw new RangeError('a TCLO reply is never empty ("OK " at least)');
    this.n.reply(b);
  }

  /** The heartbeat: one PING packet. */
  ping(): void {
    this.n.ping();
  }

  close(): void {
    this.n.close();
  }

  get info(): NativeVsockTcloInfo {
    return this.n.info();
  }
}

/** A connected AF_UNIX stream pair, for driving VsockChannel.fromFd in tests. */
export function socketpair(): [number, number] {
  return native().socketpair();
}

/** Tests only: a stream fd connected to the UNIX socket `path` (e.g. the simulator's vsock stand-in). */
export function connectUnixForTesting(socketPath: string): number {
  if (typeof socketPath !== 'string' || socketPath.length === 0) throw new TypeError('path must be a non-empty string');
  return native().connectUnixForTesting(socketPath);
}

/** The exact bytes of a GuestRPC DataMap packet (channel.md §6.3). */
export function encodePacket(type: number, payload: Bytes | null, fastClose = false): Buffer {
  return native().encodePacket(
    checkInt(type, 'type', -0x80000000, 0x7fffffff),
    payload === null ? null : toBytes(payload, 'payload'),
    checkBool(fastClose, 'fastClose'),
  );
}

// ---------------------------------------------------------------------------
// systemd notification socket

function checkSocketPath(v: unknown, what: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  if (v.includes('\0')) throw new TypeError(`${what} must not contain NUL (write an abstract name as '@name')`);
  return v;
}

/**
 * sd_notify(3): `message` (e.g. "READY=1") as one datagram to `socketPath`,
 * the value of $NOTIFY_SOCKET: an absolute path, or '@name' for an abstract
 * socket. Never blocks (a full receiver queue is an error, EAGAIN). Failures
 * are ChannelError code 'IO' with `errno` (EINVAL for an address that is
 * neither, ENAMETOOLONG, ECONNREFUSED, ENOENT, …).
 */
export function sdNotify(socketPath: string, message: Bytes): void {
  native().sdNotify(checkSocketPath(socketPath, 'socketPath'), toBytes(message, 'message'));
}

/** Tests only: a bound, non-blocking datagram socket at `socketPath` ('/…' or '@…') to receive sdNotify() on; close with fs.closeSync. */
export function bindDatagramForTesting(socketPath: string): number {
  return native().bindDatagramForTesting(checkSocketPath(socketPath, 'socketPath'));
}

/** Tests only: one datagram from `fd`, waiting up to timeoutMs (default 0: just look); null when none came. */
export function recvDatagramForTesting(fd: number, timeoutMs = 0): Buffer | null {
  return native().recvDatagramForTesting(checkInt(fd, 'fd', 0, 0x7fffffff), checkInt(timeoutMs, 'timeoutMs', -1, 0x7fffffff));
}

// ---------------------------------------------------------------------------
// Hang detector thread

/** Check-in and sampling period of the hang detector (core-services.md §5.3). */
export const HANG_DETECTOR_INTERVAL_MS = 1000;

export interface HangDetectorThreadOptions {
  /** Check-in/sampling period; default 1000 (§5.3). Shorter only to make tests quick. */
  intervalMs?: number;
  /** Tests only: the thread oversleeps every sample by this much, as in a starved guest. Default 0. */
  starveForTestingMs?: number;
}

/**
 * Starts the hang detector's sampling thread (native/system/hangdetect.c).
 * `onEvent` runs on this (JS) thread for every transition, after the health
 * update was already sent from the detector thread.
 */
export function startHangDetectorThread(
  onEvent: (ev: HangDetectorEvent) => void,
  opts: HangDetectorThreadOptions = {},
): NativeHangDetectorThread {
  if (typeof onEvent !== 'function') throw new TypeError('onEvent must be a function');
  const intervalMs = opts.intervalMs === undefined ? HANG_DETECTOR_INTERVAL_MS : checkInt(opts.intervalMs, 'intervalMs', 10, 60000);
  const starveMs = opts.starveForTestingMs === undefined ? 0 : checkInt(opts.starveForTestingMs, 'starveForTestingMs', 0, 60000);
  return new (native().HangDetectorThread)(intervalMs, starveMs, onEvent);
}

// ---------------------------------------------------------------------------
// Clock: clock_gettime, clock_settime, adjtimex (time sync, core-services.md
// §7.3-7.5). Only src/services/timesync's SystemClock calls the setters; tests
// and benchmarks use the simulated clock and never change this machine's time.

/** adjtimex(2) mode bits (linux/timex.h). */
export const ADJ = {
  OFFSET: 0x0001,
  FREQUENCY: 0x0002,
  MAXERROR: 0x0004,
  ESTERROR: 0x0008,
  STATUS: 0x0010,
  TIMECONST: 0x0020,
  TAI: 0x0080,
  SETOFFSET: 0x0100,
  MICRO: 0x1000,
  NANO: 0x2000,
  TICK: 0x4000,
} as const;

/** Mode bits this module lets through (no ADJ_OFFSET_SINGLESHOT/ADJ_ADJTIME, no SETOFFSET). */
const ADJ_ALLOWED =
  ADJ.OFFSET | ADJ.FREQUENCY | ADJ.MAXERROR | ADJ.ESTERROR | ADJ.STATUS | ADJ.TIMECONST | ADJ.MICRO | ADJ.NANO | ADJ.TICK;

/** Status bits (linux/timex.h). */
export const STA = {
  PLL: 0x0001,
  PPSFREQ: 0x0002,
  PPSTIME: 0x0004,
  FLL: 0x0008,
  INS: 0x0010,
  DEL: 0x0020,
  UNSYNC: 0x0040,
  FREQHOLD: 0x0080,
  NANO: 0x2000,
} as const;

/** Kernel limits checked here so a bad value is a clear RangeError, not EINVAL. */
export const TIMEX_LIMITS = {
  /** USER_HZ 100: tick within ±10 % of 10000 µs (core-services.md §7.4). */
  tickMin: 9000,
  tickMax: 11000,
  /** MAXFREQ 500 ppm, in ppm << 16. */
  freqMax: 500 * 65536,
  /** MAXPHASE 0.5 s in µs (the kernel clamps; §7.5 clamps before). */
  offsetMax: 500000,
  /** MAXTC */
  constantMax: 10,
} as const;

export type ClockErrorCode =
  | 'PERMISSION_DENIED' // EPERM: no CAP_SYS_TIME (e.g. in a container without it)
  | 'INVALID_ARGUMENT' // EINVAL: the kernel refused a value
  | 'IO'; // anything else (errno set)

/** A failed clock syscall. `code` is stable; `errno` and `syscall` say what the kernel said. */
export class ClockError extends Error {
  readonly code: ClockErrorCode;
  readonly errno: number;
  readonly syscall: string;

  constructor(message: string, errno: number, syscall: string) {
    super(message);
    this.name = 'ClockError';
    this.errno = errno;
    this.syscall = syscall;
    this.code = errno === 1 ? 'PERMISSION_DENIED' : errno === 22 ? 'INVALID_ARGUMENT' : 'IO';
  }
}

export function isClockError(e: unknown, code?: ClockErrorCode): e is ClockError {
  return e instanceof ClockError && (code === undefined || e.code === code);
}

function clockCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const x = e as { message?: string; errno?: number; syscall?: string };
    if (typeof x?.errno === 'number') throw new ClockError(String(x.message), x.errno, String(x.syscall ?? 'clock'));
    throw e;
  }
}

export type ClockId = 'realtime' | 'monotonic';

export interface Timespec {
  sec: number;
  nsec: number;
}

/** clock_gettime(CLOCK_REALTIME or CLOCK_MONOTONIC). */
export function clockGetTime(id: ClockId = 'realtime'): Timespec {
  if (id !== 'realtime' && id !== 'monotonic') throw new TypeError(`clock must be 'realtime' or 'monotonic', got ${String(id)}`);
  const [sec, nsec] = clockCall(() => native().clockGetTime(id === 'monotonic' ? 1 : 0));
  return { sec, nsec };
}

/** CLOCK_REALTIME in µs since the epoch (a double: exact to the µs for centuries). */
export function realtimeMicros(): number {
  const t = clockGetTime('realtime');
  return t.sec * 1e6 + Math.floor(t.nsec / 1000);
}

/**
 * clock_settime(CLOCK_REALTIME): sets THIS MACHINE's clock. Only the
 * daemon's SystemClock calls it; never call it from tests or benchmarks.
 */
export function clockSetTime(t: Timespec): void {
  if (typeof t !== 'object' || t === null) throw new TypeError('time must be {sec, nsec}');
  const sec = checkInt(t.sec, 'sec', 1, Number.MAX_SAFE_INTEGER);
  const nsec = checkInt(t.nsec, 'nsec', 0, 999999999);
  clockCall(() => native().clockSetTime(sec, nsec));
}

export type TimexInput = import('./native').NativeTimexInput;
export type Timex = import('./native').NativeTimex;

/**
 * adjtimex(2). `{modes: 0}` (the default) only reads. Only the fields named
 * by `modes` are sent; each is range-checked against the kernel's limits.
 * Any non-zero `modes` changes THIS MACHINE's clock discipline: the daemon's
 * SystemClock only, never tests or benchmarks.
 */
export function adjtimex(tx: Partial<TimexInput> = {}): Timex {
  if (typeof tx !== 'object' || tx === null) throw new TypeError('timex must be an object');
  const modes = tx.modes === undefined ? 0 : checkInt(tx.modes, 'modes', 0, 0xffff);
  if ((modes & ~ADJ_ALLOWED) !== 0) {
    throw new RangeError(`unsupported adjtimex mode bits 0x${(modes & ~ADJ_ALLOWED).toString(16)}`);
  }
  const input: TimexInput = { modes };
  const need = (bit: number, key: keyof Omit<TimexInput, 'modes'>, min: number, max: number): void => {
    if (modes & bit) input[key] = checkInt(tx[key], key, min, max);
  };
  const nano = (modes & ADJ.NANO) !== 0;
  need(ADJ.OFFSET, 'offset', nano ? -TIMEX_LIMITS.offsetMax * 1000 : -TIMEX_LIMITS.offsetMax, nano ? TIMEX_LIMITS.offsetMax * 1000 : TIMEX_LIMITS.offsetMax);
  need(ADJ.FREQUENCY, 'freq', -TIMEX_LIMITS.freqMax, TIMEX_LIMITS.freqMax);
  need(ADJ.MAXERROR, 'maxerror', 0, 0x7fffffff);
  need(ADJ.ESTERROR, 'esterror', 0, 0x7fffffff);
  need(ADJ.STATUS, 'status', 0, 0xffff);
  need(ADJ.TIMECONST, 'constant', 0, TIMEX_LIMITS.constantMax);
  need(ADJ.TICK, 'tick', TIMEX_LIMITS.tickMin, TIMEX_LIMITS.tickMax);
  return clockCall(() => native().adjtimex(input));
}

// ---------------------------------------------------------------------------
// Quiesce (issue 6)

export type { FreezeTargetInfo } from './native';

/** Device and mount-root facts of a would-be freeze target (native/system/fsfreeze.c). */
export function inspectFreezeTarget(p: string): import('./native').FreezeTargetInfo {
  if (typeof p !== 'string' || p === '' || p.includes('\0')) throw new TypeError('path must be a non-empty string without NUL');
  return native().inspectFreezeTarget(p);
}

// ---------------------------------------------------------------------------
// Guest operations (issue 7): PAM authentication (native/addon/auth.cc).

import type { NativeAuthBinding, PamAuthResult } from './native';
export type { PamAuthResult } from './native';

/** The PAM service guest operations authenticate against (guest-ops.md §4.4). */
export const PAM_SERVICE_VMTOOLSD = 'vmtoolsd';

function authBinding(): NativeAuthBinding {
  return native() as unknown as NativeAuthBinding;
}

/**
 * pam_start(service) → pam_authenticate → pam_acct_mgmt → pam_setcred on a
 * worker thread. The addon copies `password` before returning and wipes its
 * copy when PAM is done; the caller wipes its own buffer.
 */
export function pamAuthenticate(
  user: string,
  password: Uint8Array,
  opts: { service?: string; confDir?: string; noFailDelay?: boolean } = {},
): Promise<PamAuthResult> {
  if (typeof user !== 'string' || user === '' || user.includes('\0')) throw new TypeError('user must be a non-empty string without NUL');
  if (!(password instanceof Uint8Array)) throw new TypeError('password must be a Uint8Array');
  if (password.includes(0)) throw new TypeError('password must not contain NUL');
  return authBinding().pamAuthenticate(opts.service ?? PAM_SERVICE_VMTOOLSD, user, password, opts.confDir ?? null, opts.noFailDelay === true);
}

/** PAM return code number → name (for the "infrastructure vs denied" split). */
export function pamCodeNames(): Map<number, string> {
  return new Map(Object.entries(authBinding().pamCodes).map(([k, v]) => [v, k]));
}
