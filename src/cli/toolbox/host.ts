/**
 * What vmware-toolbox-cmd needs from the host, behind one interface so the
 * commands can be unit-tested with a fake: the VMware check, raw backdoor
 * LB calls, and RPCs sent the two ways the reference sends them.
 *
 *  - sendRpc: ToolsCmd_SendRPC (RpcChannel_New + Start + Send): vsock
 *    first, without FAST_CLOSE, then the backdoor; timesync uses it.
 *  - sendOneRaw: RpcChannel_SendOneRaw: the same with FAST_CLOSE on vsock;
 *    guestlib uses it.
 *
 * vsock is used only where detection found a real VMware CPU vendor (never an
 * override, never another hypervisor's vsock host). On the backdoor the
 * request goes over an RPCI message channel opened for it (OPEN, SENDSIZE,
 * payload, RECVSIZE, payload, RECVSTATUS, CLOSE, as RpcOut_start/send/stop
 * do) and the reply comes back byte-exact: guestlib replies are binary and
 * may end in NUL bytes that must not be trimmed. A failed send or receive is
 * retried once on a reopened channel, like BkdoorChannelSend.
 */
import { Channel, ChannelError, detect, DetectResult, lowBandwidth } from '../../native';
import { RpcOut } from '../../rpc/rpcout';
import type { RpcReply } from '../../rpc/types';
import { closeQuietly, type RpciTransport } from '../../transport/transport';
import { VsockRpci } from '../../transport/vsock';

/** Registers after a backdoor LB call (32-bit views). */
export interface LbRegs {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
  esi: number;
  edi: number;
}

/** What RpcChannel_Send* hand back: success (transport ok and host said "1 ") and the reply or error text. */
export interface RpcResult {
  ok: boolean;
  /** null when no channel could be started (ToolsCmd_SendRPC then has no reply at all). */
  reply: Buffer | null;
}

export interface ToolboxHost {
  /** VmCheck_IsVirtualWorld. */
  isVirtualWorld(): boolean;
  /** One LB backdoor call; unused inputs are zero. */
  lowBandwidth(cmd: number, ebx?: number): LbRegs;
  /** ToolsCmd_SendRPC. */
  sendRpc(request: Buffer): RpcResult;
  /** RpcChannel_SendOneRaw. */
  sendOneRaw(request: Buffer): RpcResult;
}

/** rpcout.c texts for a failed RpcOut_send. */
export const RPCOUT_SEND_FAILED = 'RpcOut: Unable to send the RPCI command';
export const RPCOUT_RECEIVE_FAILED = 'RpcOut: Unable to receive the result of the RPCI command';
export const RPCOUT_BAD_FORMAT = 'RpcOut: Invalid format for the result of the RPCI command';
/** rpcChannel.c RpcChannelSendOneRaw when the channel cannot start. */
export const RPCCHANNEL_OPEN_FAILED = 'RpcChannel: Unable to open the communication channel';

function stageError(message: string, stage: ChannelError['stage']): ChannelError {
  const e = new ChannelError(message, 'IO');
  e.stage = stage;
  return e;
}

/** One raw RpcOut_send on an open channel: the reply bytes, or the rpcout.c failure text. */
function rpcOutSend(ch: Channel, request: Buffer): RpcReply | { failed: string } {
  try {
    ch.send(request);
  } catch {
    return { failed: RPCOUT_SEND_FAILED };
  }
  let raw: Buffer | null;
  try {
    raw = ch.receive();
  } catch {
    return { failed: RPCOUT_RECEIVE_FAILED };
  }
  const r = raw ?? Buffer.alloc(0);
  if (r.length < 2 || r[1] !== 0x20 || (r[0] !== 0x31 && r[0] !== 0x30)) return { failed: RPCOUT_BAD_FORMAT };
  return { ok: r[0] === 0x31, reply: r.subarray(2) };
}

/** The backdoor RPCI channel of a BackdoorChannel, with byte-exact replies. */
export class BackdoorRawRpci implements RpciTransport {
  readonly kind = 'backdoor' as const;
  private channel: Channel | undefined;

  get isOpen(): boolean {
    return this.channel !== undefined;
  }

  start(): void {
    if (this.channel) return;
    const ch = new Channel();
    try {
      ch.open('RPCI');
    } catch (e) {
      throw stageError(e instanceof Error ? e.message : String(e), 'open');
    }
    this.channel = ch;
  }

  stop(): void {
    const ch = this.channel;
    this.channel = undefined;
    closeQuietly(ch);
  }

  call(request: Buffer): RpcReply {
    this.start();
    const first = rpcOutSend(this.channel!, request);
    if (!('failed' in first)) return first;
    // BkdoorChannelSend: restart the channel and try once more.
    this.stop();
    try {
      this.start();
    } catch {
      throw stageError(first.failed, 'send');
    }
    const second = rpcOutSend(this.channel!, request);
    if ('failed' in second) throw stageError(second.failed, 'send');
    return second;
  }
}

/** vsock only where the CPU really says VMware: never towards another hypervisor's vsock host. */
export function vsockAllowed(d: DetectResult): boolean {
  return d.vmware && d.cpuidVendor === 'VMwareVMware' && !d.overridden;
}

/** The real host, through the native addon. */
export class NativeToolboxHost implements ToolboxHost {
  private detected: DetectResult | undefined;

  private detection(): DetectResult {
    this.detected ??= detect();
    return this.detected;
  }

  /** Probes every time, like VmCheck_IsVirtualWorld (main and VMGuestLib_OpenHandle each call it). */
  isVirtualWorld(): boolean {
    this.detected = detect();
    return this.detected.vmware;
  }

  lowBandwidth(cmd: number, ebx = 0): LbRegs {
    const r = lowBandwidth({ ecx: cmd, ebx });
    return { eax: r.eax, ebx: r.ebx, ecx: r.ecx, edx: r.edx, esi: r.esi, edi: r.edi };
  }

  private send(request: Buffer, fastClose: boolean): RpcResult & { started: boolean } {
    const out = new RpcOut({
      primary: vsockAllowed(this.detection()) ? VsockRpci.hypervisor({ fastClose }) : undefined,
      fallback: new BackdoorRawRpci(),
    });
    try {
      const r = out.send(request);
      return { ok: r.ok, reply: Buffer.from(r.reply), started: true };
    } catch (e) {
      if (e instanceof ChannelError && e.stage === 'open' && out.transport === undefined) {
        return { ok: false, reply: null, started: false };
      }
      return { ok: false, reply: Buffer.from(e instanceof Error ? e.message : String(e), 'utf8'), started: true };
    } finally {
      out.stop();
    }
  }

  sendRpc(request: Buffer): RpcResult {
    const r = this.send(request, false);
    return { ok: r.ok, reply: r.reply };
  }

  sendOneRaw(request: Buffer): RpcResult {
    const r = this.send(request, true);
    if (!r.started) return { ok: false, reply: Buffer.from(RPCCHANNEL_OPEN_FAILED) };
    return { ok: r.ok, reply: r.reply };
  }
}
