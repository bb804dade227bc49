/**
 * The whole surface of build/Release/vmtools_native.node, in one place.
 *
 * The addon is deliberately thin: it trusts its arguments (src/native/index.ts
 * validates them and fills defaults) and does one whole operation per call,
 * synchronously, on the calling thread -- except HangDetectorThread, which
 * exists to run while the JS thread cannot, and VsockTcloChannel, which
 * calls back when the host pushes a command. Failures throw the class registered
 * with setErrorClass (ChannelError), or a plain Error before that, carrying a
 * stable `code` (ChannelErrorCode).
 */

/** Stable error codes (native/backdoor/message.h `vmt_status`). */
export type ChannelErrorCode =
  | 'NOT_VMWARE' // no backdoor here (or a real vsock connect refused off VMware)
  | 'CHANNEL_CLOSED' // host status had CLOSED, or the vsock peer hung up
  | 'HOST_REFUSED' // host status lacked SUCCESS: bad cookie, unknown channel, …
  | 'CHECKPOINT_LIMIT' // more than 16 consecutive checkpoint restarts
  | 'TOO_LARGE' // request > 65536 bytes (no backdoor call made) or reply > 64 MiB
  | 'PROTOCOL' // host broke the protocol: EDX.hi16, reply prefix, DataMap
  | 'NO_MEMORY'
  | 'NOT_OPEN' // the local channel object is not open
  | 'IO' // vsock: a socket call failed (see errno)
  | 'TIMEOUT'; // vsock: no reply in time

/** RPC step that failed, on errors from rpc()/rpcOneShot()/open()/send()/receive()/close(). */
export type RpcStage = 'open' | 'send' | 'receive' | 'format' | 'close';

export interface DetectResult {
  /** GETVERSION answered with magic and protocol version 6 (channel.md §1). */
  vmware: boolean;
  /** CPUID leaf 0x40000000 EBX‖ECX‖EDX, '' when CPUID.1:ECX[31] is clear. */
  cpuidVendor: string;
  /** CPUID.1:ECX[31]. */
  hypervisorPresent: boolean;
  /** GETVERSION EAX, null when the probe failed or did not run. */
  backdoorVersion: number | null;
  /** GETVERSION ECX (0 unset, 1 Express, 2 ESX, 3 GSX, 4 Workstation, 5 ACE). */
  vmxType: number;
  /** VMTOOLSD_ASSUME_VMWARE=1 made the probe run despite a non-VMware vendor. */
  overridden: boolean;
  /** The guarded backdoor probe (touch + GETVERSION) was executed. */
  probed: boolean;
  /** ... and faulted (SIGSEGV/SIGILL caught): no backdoor on this machine. */
  probeFaulted: boolean;
}

/** Registers after an LB call: 32-bit views as numbers, full registers as bigints. */
export interface LowBandwidthResult {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  esi: number;
  edi: number;
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
}

export interface RpcReply {
  /** The host's reply began with "1 " (success) rather than "0 ". */
  ok: boolean;
  /** Bytes after the 2-byte prefix, trailing NULs stripped (channel.md §4.2). */
  reply: Buffer;
}

/** Process-wide backdoor call counters (native/backdoor/backdoor.c). */
export interface BackdoorStats {
  /** LB `in` calls, all commands. */
  lb: number;
  /** LB calls by command number (ECX.lo16); only non-zero entries. */
  lbByCommand: Record<number, number>;
  /** LB calls with a command number ≥ 128. */
  lbOtherCommands: number;
  /** LB MESSAGE (30) calls by message type (channel.md §3.1). */
  lbMessage: {
    OPEN: number;
    SENDSIZE: number;
    SENDPAYLOAD: number;
    RECVSIZE: number;
    RECVPAYLOAD: number;
    RECVSTATUS: number;
    CLOSE: number;
    OTHER: number;
  };
  /** HB `rep outsb` (guest→host). */
  hbOut: number;
  /** HB `rep insb` (host→guest). */
  hbIn: number;
  /** lb + hbOut + hbIn. */
  total: number;
}

export interface NativeChannelInfo {
  open: boolean;
  protocol: 'RPCI' | 'TCLO' | 'unknown-protocol' | '';
  /** Host channel id (EDX.hi16 of OPEN). */
  id: number;
  /** The OPEN with the cookie flag was accepted. */
  cookie: boolean;
  forceLowBandwidth: boolean;
}

export interface NativeChannel {
  /** OPEN (cookie flag first, once more without). Closes a previous channel first. */
  open(protocolNumber: number, forceLowBandwidth: boolean): void;
  /** One message guest→host (channel.md §3.5). */
  send(message: Uint8Array): void;
  /** One message host→guest, or null when none is queued (§3.6). */
  receive(): Buffer | null;
  /** CLOSE; the object is closed afterwards even when this throws. */
  close(): void;
  /** RPCI send + receive + §4.2 validation; reopens and retries once on failure. */
  rpc(request: Uint8Array): RpcReply;
  /** TCLO: send `reply` (may be empty), then receive the next command or null. */
  tcloPoll(reply: Uint8Array): Buffer | null;
  info(): NativeChannelInfo;
  /** Tests only: present a cookie the host never issued on later calls. */
  setCookieForTesting(cookieHigh: number, cookieLow: number): void;
}

export interface NativeVsockInfo {
  open: boolean;
  privileged: boolean;
  /** Source port bound for a privileged channel, else null. */
  localPort: number | null;
  fastClose: boolean;
}

export interface NativeVsockChannel {
  /** Connect to CID 0 `port` (channel.md §6.2). Refused (NOT_VMWARE) unless the real CPUID says VMware and no simulator is configured. */
  connect(port: number, privileged: boolean, fastClose: boolean, timeoutMs: number): void;
  /** Adopt an already-connected stream fd (owned and closed by the channel). */
  adoptFd(fd: number, fastClose: boolean, timeoutMs: number): void;
  /** One DATA packet written, one packet read, payload validated like §4.2. */
  rpc(request: Uint8Array): RpcReply;
  close(): void;
  info(): NativeVsockInfo;
}

export interface NativeVsockTcloInfo {
  open: boolean;
  /** start() ran and the channel has not ended. */
  started: boolean;
  /** SO_SNDBUF / SO_RCVBUF as the kernel reports them (Linux doubles what was set); null when closed. */
  sendBufferSize: number | null;
  recvBufferSize: number | null;
}

/**
 * TCLO over vsock, the host pushing commands (channel.md §6.4). One object
 * per connection: connect() or adoptFd(), then start(); a restart makes a
 * new object. Event-driven from a uv_poll_t on the JS thread (no thread).
 */
export interface NativeVsockTcloChannel {
  /**
   * Non-blocking connect to CID 0 `port` from an ephemeral port, waiting up
   * to timeoutMs (-1 forever), then SO_SNDBUF/SO_RCVBUF ≥ 64 KiB. Refused
   * (NOT_VMWARE) unless the real CPUID says VMware and no simulator is
   * configured. timeoutMs also bounds every later packet write.
   */
  connect(port: number, timeoutMs: number): void;
  /** Adopt an already-connected stream fd (owned and closed by the channel). */
  adoptFd(fd: number, timeoutMs: number): void;
  /**
   * Watch for host packets. onCommand gets each packet's payload (field 2),
   * in order. onClosed runs once when the channel ends by itself: null when
   * the host closed cleanly between packets, else a ChannelError (PROTOCOL
   * for a packet without payload or a bad DataMap, TOO_LARGE, CHANNEL_CLOSED
   * when cut mid-packet or reset, IO). Never called after close().
   */
  start(onCommand: (payload: Buffer) => void, onClosed: (err: Error | null) => void): void;
  /** One DATA packet with `reply` as payload (no FAST_CLOSE). */
  reply(reply: Uint8Array): void;
  /** One PING packet (type 2, no payload; 20 bytes). */
  ping(): void;
  /** Stop watching and close the fd; idempotent. */
  close(): void;
  info(): NativeVsockTcloInfo;
}

/** The `update.tools.health` argument, and the hang detector's state (core-services.md §5.3). */
export type ToolsHealth = 'normal' | 'hung' | 'guest_slow';

/**
 * What became of a transition's health update: `sent` ("1 "), `rejected`
 * ("0 ", or the RPC failed after OPEN; later updates are suppressed until
 * rearm), `open-failed` (no channel; not latched), `suppressed` (not sent).
 */
export type HealthUpdateOutcome = 'sent' | 'rejected' | 'open-failed' | 'suppressed';

/** One state transition of the hang detector thread, delivered on the JS thread. */
export interface HangDetectorEvent {
  state: ToolsHealth;
  outcome: HealthUpdateOutcome;
  /** The RPC text sent (or that would have been), e.g. "update.tools.health hung". */
  request: string;
  /** The host's reply text, or the error message; may be empty. */
  detail: string;
  /** Wall time of the last 5 sample intervals (hung/guest_slow only; else 0). */
  elapsedMs: number;
  /** Those intervals, newest first (as toolsHangDetector.c logs them). */
  intervalsMs: number[];
}

/** The hang detector's sampling thread (native/system/hangdetect.c); started by the constructor. */
export interface NativeHangDetectorThread {
  /** The main loop's check-in: the counter back to 5. */
  checkin(): void;
  /** Send health updates again after a rejection (on `reset`). */
  rearm(): void;
  /** Current state; null once stopped. */
  state(): ToolsHealth | null;
  /** Wake and join the thread (waits for an RPC in flight). Idempotent. */
  stop(): void;
}

export interface NativeBinding extends NativeClockBinding {
  /** Runs the detection of channel.md §1 now (≤ 2 LB calls, guarded). */
  detect(): DetectResult;
  /** One raw LB call; EAX = magic and DX.lo16 = 0x5658 are forced. Throws NOT_VMWARE without a backdoor. */
  lowBandwidth(
    rbx: number | bigint,
    rcx: number | bigint,
    rdx: number | bigint,
    rsi: number | bigint,
    rdi: number | bigint,
  ): LowBandwidthResult;
  /** RpcOut_SendOneRaw: open, send, receive, close. */
  rpcOneShot(request: Uint8Array, forceLowBandwidth: boolean): RpcReply;
  stats(): BackdoorStats;
  resetStats(): void;
  /** A connected AF_UNIX stream pair (close-on-exec), for tests. */
  socketpair(): [number, number];
  /** Tests only: a connected AF_UNIX stream fd to `path` (the simulator's vsock stand-in). */
  connectUnixForTesting(path: string): number;
  /**
   * sd_notify(3): `message` as one datagram to `socketPath` ('/…' path or
   * '@…' abstract name), never blocking. Failures: code 'IO' with `errno`.
   */
  sdNotify(socketPath: string, message: Uint8Array): void;
  /** Tests only: a bound non-blocking datagram socket at `path` ('/…' or '@…'); returns the fd. */
  bindDatagramForTesting(path: string): number;
  /** Tests only: one datagram from `fd`, waiting up to timeoutMs (0 = just look); null if none. */
  recvDatagramForTesting(fd: number, timeoutMs: number): Buffer | null;
  /** The exact bytes of a GuestRPC DataMap packet (channel.md §6.3). */
  encodePacket(type: number, payload: Uint8Array | null, fastClose: boolean): Buffer;
  /** Error class the addon instantiates as `new ctor(message, code)`. */
  setErrorClass(ctor: new (message: string, code: ChannelErrorCode) => Error): void;
  Channel: new () => NativeChannel;
  VsockChannel: new () => NativeVsockChannel;
  VsockTcloChannel: new () => NativeVsockTcloChannel;
  /** Starts the thread; `starveForTestingMs` > 0 makes it oversleep every sample (tests only). */
  HangDetectorThread: new (
    intervalMs: number,
    starveForTestingMs: number,
    onEvent: (ev: HangDetectorEvent) => void,
  ) => NativeHangDetectorThread;
}

// ---------------------------------------------------------------------------
// Clock (time sync, core-services.md §7.3-7.5; native/addon/clock.cc)

/** The writable part of struct timex (adjtimex(2)), in the kernel's units. */
export interface NativeTimexInput {
  /** ADJ_* bits; 0 reads only. */
  modes: number;
  /** µs (ns with STA_NANO); ADJ_OFFSET. */
  offset?: number;
  /** ppm << 16; ADJ_FREQUENCY. */
  freq?: number;
  maxerror?: number;
  esterror?: number;
  /** STA_* bits; ADJ_STATUS. */
  status?: number;
  /** PLL time constant; ADJ_TIMECONST. */
  constant?: number;
  /** µs per tick (USER_HZ 100: nominal 10000); ADJ_TICK. */
  tick?: number;
}

/** The kernel's NTP state after an adjtimex call. */
export interface NativeTimex {
  offset: number;
  freq: number;
  maxerror: number;
  esterror: number;
  status: number;
  constant: number;
  precision: number;
  tolerance: number;
  tick: number;
  /** The time with the call (timeUsec is ns when STA_NANO is set). */
  timeSec: number;
  timeUsec: number;
  /** adjtimex's return value: TIME_OK 0, TIME_INS 1, TIME_DEL 2, TIME_OOP 3, TIME_WAIT 4, TIME_ERROR 5. */
  state: number;
}

export interface NativeClockBinding {
  /** clock_gettime: id 0 = CLOCK_REALTIME, 1 = CLOCK_MONOTONIC; [sec, nsec]. */
  clockGetTime(id: number): [number, number];
  /** clock_settime(CLOCK_REALTIME). Changes this machine's clock: never from tests. */
  clockSetTime(sec: number, nsec: number): void;
  /** adjtimex(2); modes 0 only reads. Failures: Error code 'IO' with errno and syscall. */
  adjtimex(tx: NativeTimexInput): NativeTimex;
}

// ---------------------------------------------------------------------------
// Quiesce (issue 6; native/addon/freeze.cc). The freeze itself runs in the
// freeze holder process (native/system/freeze-holder.c), never in the addon.

/** What a freeze target is: the simulator-mode guard allows only loop-device mount roots. */
export interface FreezeTargetInfo {
  major: number;
  minor: number;
  isDirectory: boolean;
  /** st_dev differs from its parent's (or it is "/"). */
  isMountRoot: boolean;
  /** Block major 7. */
  isLoop: boolean;
}

export interface NativeBinding {
  /** Opens `path` (O_DIRECTORY) and fstat()s it and "..". Throws code 'FREEZE_TARGET' with `errno`. */
  inspectFreezeTarget(path: string): FreezeTargetInfo;
}

// ---------------------------------------------------------------------------
// Guest operations (issue 7): PAM on a worker thread (native/addon/auth.cc).

export interface PamAuthResult {
  /** pam_authenticate, pam_acct_mgmt and pam_setcred all succeeded. */
  ok: boolean;
  /** The Linux-PAM return code of the step that decided (PAM_SUCCESS = 0). */
  pamCode: number;
  /** 'start' | 'authenticate' | 'acct_mgmt' | 'setcred' */
  stage: string;
  /** pam_strerror of pamCode (never contains the password). */
  message: string;
}

export interface NativeAuthBinding {
  /** The whole PAM exchange for `service` on a libuv worker; `confDir` uses pam_start_confdir (tests). */
  /** `noFailDelay` (tests only) replaces PAM's ~2 s failure delay with none. */
  pamAuthenticate(service: string, user: string, password: Uint8Array, confDir: string | null, noFailDelay?: boolean): Promise<PamAuthResult>;
  /** PAM return codes by name (PAM_SUCCESS, PAM_AUTH_ERR, …). */
  pamCodes: Record<string, number>;
}
