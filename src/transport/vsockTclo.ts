/**
 * Where TCLO-over-vsock connections come from (channel.md §6.4): the real
 * one connects to CID 0 port 975; tests adopt a socketpair or a stream to the
 * simulator's stand-in, so no real vsock host is ever reached. Each open()
 * is a fresh connection -- the reference reconnects on every channel
 * restart (§6.5) -- and what runs over it is src/daemon/vsockTcloSession.ts.
 */
import { GUESTRPC_TCLO_VSOCK_PORT, VsockTcloChannel, VsockTcloOptions } from '../native';

export class VsockTclo {
  readonly kind = 'vsock' as const;

  constructor(private readonly connect: () => VsockTcloChannel) {}

  /** The hypervisor's TCLO listener. The addon refuses it (NOT_VMWARE) off VMware. */
  static hypervisor(opts: VsockTcloOptions = {}): VsockTclo {
    return new VsockTclo(() => VsockTcloChannel.connect({ port: GUESTRPC_TCLO_VSOCK_PORT, ...opts }));
  }

  /** Adopts already-connected stream fds, one per open(), from `nextFd` (which may throw: no connection). */
  static fromFds(nextFd: () => number, opts: VsockTcloOptions = {}): VsockTclo {
    return new VsockTclo(() => VsockTcloChannel.fromFd(nextFd(), opts));
  }

  /**
   * A new established connection, not yet started. Throws (ChannelError)
   * when it cannot be established -- the moment the reference falls back to
   * the backdoor (§6.4 "Fallback").
   */
  open(): VsockTcloChannel {
    return this.connect();
  }
}
