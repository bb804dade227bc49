/** RPCI over AF_VSOCK (channel.md §6.2): one DATA packet out, one packet back per call. */
import { GUESTRPC_RPCI_VSOCK_PORT, VsockChannel } from '../native';
import type { RpcReply } from '../rpc/types';
import { closeQuietly, type RpciTransport } from './transport';

export interface VsockRpciOptions {
  /** Ask the VMX to close after each reply (one-shot channels, §6.3). */
  fastClose?: boolean;
  /** Reply timeout; default 30000 ms. */
  timeoutMs?: number;
}

/**
 * A vsock RPCI channel made by `connect`: the real one connects to CID 0
 * port 976 (privileged source port when root); tests pass a factory that
 * adopts a socketpair or simulator fd, so no real vsock host is ever reached.
 */
export class VsockRpci implements RpciTransport {
  readonly kind = 'vsock' as const;
  private channel: VsockChannel | undefined;

  constructor(private readonly connect: () => VsockChannel) {}

  /** The hypervisor's RPCI listener. The addon refuses it (NOT_VMWARE) off VMware. */
  static hypervisor(opts: VsockRpciOptions = {}): VsockRpci {
    const privileged = typeof process.getuid === 'function' && process.getuid() === 0;
    return new VsockRpci(() => VsockChannel.connect({ port: GUESTRPC_RPCI_VSOCK_PORT, privileged, ...opts }));
  }

  /** Adopts already-connected stream fds, one per (re)start, from `nextFd`. */
  static fromFds(nextFd: () => number, opts: VsockRpciOptions = {}): VsockRpci {
    return new VsockRpci(() => VsockChannel.fromFd(nextFd(), opts));
  }

  get isOpen(): boolean {
    return this.channel !== undefined;
  }

  get privileged(): boolean {
    return this.channel?.info.privileged ?? false;
  }

  start(): void {
    if (!this.channel) this.channel = this.connect();
  }

  stop(): void {
    const ch = this.channel;
    this.channel = undefined;
    closeQuietly(ch);
  }

  call(request: Buffer): RpcReply {
    this.start();
    return this.channel!.rpc(request);
  }
}
