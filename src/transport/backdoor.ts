/** RPCI and TCLO over the backdoor message layer (channel.md §3–5). */
import { Channel, OpenOptions, Protocol, rpcOneShot } from '../native';
import type { RpcReply } from '../rpc/types';
import { closeQuietly, type RpciTransport, type TcloTransport } from './transport';

/** A persistent backdoor channel of one protocol; base of the two transports below. */
abstract class BackdoorChannel {
  readonly kind = 'backdoor' as const;
  protected readonly channel = new Channel();

  constructor(
    private readonly protocol: Protocol,
    private readonly opts: OpenOptions,
  ) {}

  get isOpen(): boolean {
    return this.channel.isOpen;
  }

  start(): void {
    if (!this.channel.isOpen) this.channel.open(this.protocol, this.opts);
  }

  stop(): void {
    if (this.channel.isOpen) closeQuietly(this.channel);
  }
}

/**
 * The main RPCI channel, as vmtoolsd keeps it: opened once, reused for every
 * request (5 backdoor calls per RPC in HB). The addon closes, reopens and
 * retries once when a send fails, like BkdoorChannelSend (channel.md §4.3).
 */
export class BackdoorRpci extends BackdoorChannel implements RpciTransport {
  constructor(opts: OpenOptions = {}) {
    super('RPCI', opts);
  }

  call(request: Buffer): RpcReply {
    this.start();
    return this.channel.rpc(request);
  }
}

/** One-shot RPCI (open, send, receive, close), as vmware-rpctool and the hang detector send. */
export class BackdoorOneShotRpci implements RpciTransport {
  readonly kind = 'backdoor' as const;
  readonly isOpen = false;

  constructor(private readonly opts: OpenOptions = {}) {}

  start(): void {}

  stop(): void {}

  call(request: Buffer): RpcReply {
    return rpcOneShot(request, this.opts);
  }
}

/** The TCLO channel polled by the daemon's loop (channel.md §5.1). */
export class BackdoorTclo extends BackdoorChannel implements TcloTransport {
  constructor(opts: OpenOptions = {}) {
    super('TCLO', opts);
  }

  poll(reply: Buffer): Buffer | null {
    this.start();
    const command = this.channel.tcloPoll(reply);
    // RpcIn treats a 0-byte message like an empty poll: no command, no reply
    // (Debian's 12.2 vmtoolsd does exactly that; test/90).
    return command !== null && command.length === 0 ? null : command;
  }
}
