/**
 * In-memory transports for unit tests of service modules, beside the real
 * ones (govmomi's toolbox keeps mock channels next to its backdoor channel).
 * The host side is the simulator's own RPCI processor, so a fake answers
 * info-get, info-set, log and canned replies exactly as the simulator does.
 */
import { RpciServer } from '../sim/rpci';
import type { RpcReply } from '../rpc/types';
import type { RpciTransport, TcloTransport } from './transport';

const EMPTY = Buffer.alloc(0);

/** Splits "1 …"/"0 …" into a reply (channel.md §4.2). */
function toReply(raw: Buffer): RpcReply {
  return { ok: raw[0] === 0x31, reply: raw.subarray(2) };
}

export class FakeRpci implements RpciTransport {
  readonly kind = 'fake' as const;
  isOpen = false;
  /** Every request, byte for byte. */
  readonly requests: Buffer[] = [];
  /** When set, the next call throws it (then it is cleared). */
  failNext: Error | undefined;

  constructor(readonly host: RpciServer = new RpciServer()) {}

  start(): void {
    this.isOpen = true;
  }

  stop(): void {
    this.isOpen = false;
  }

  call(request: Buffer): RpcReply {
    const fail = this.failNext;
    this.failNext = undefined;
    if (fail) throw fail;
    this.start();
    this.requests.push(Buffer.from(request));
    return toReply(this.host.handle(request, { transport: 'backdoor', channel: 1, pid: process.pid, privileged: false }));
  }
}

/** Host commands queued by the test; replies collected in order. */
export class FakeTclo implements TcloTransport {
  readonly kind = 'fake' as const;
  isOpen = false;
  readonly commands: Buffer[] = [];
  /** Non-empty replies the guest sent, in order. */
  readonly replies: Buffer[] = [];
  /** Number of polls, empty or not. */
  polls = 0;

  queue(command: Buffer | string): void {
    this.commands.push(Buffer.from(command));
  }

  start(): void {
    this.isOpen = true;
  }

  stop(): void {
    this.isOpen = false;
  }

  poll(reply: Buffer = EMPTY): Buffer | null {
    this.start();
    this.polls++;
    if (reply.length > 0) this.replies.push(Buffer.from(reply));
    return this.commands.shift() ?? null;
  }
}
