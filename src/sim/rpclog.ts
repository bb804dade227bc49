/**
 * Structured log of complete GuestRPC exchanges seen by the simulated host:
 * every RPCI request with its reply, and every TCLO command with the guest's
 * answer. Bounded, so a long `npm start` session does not grow without limit.
 */
import type { Transport } from './rpci';

export interface RpcLogEntry {
  /** Monotonic sequence number (survives `clear()`, so clients can poll with `since`). */
  seq: number;
  /** ms since the epoch: RPCI = when the request was complete; TCLO = when the command was delivered. */
  time: number;
  transport: Transport;
  proto: 'RPCI' | 'TCLO';
  /** Backdoor channel id, or vsock connection number. */
  channel: number;
  pid: number | null;
  /** RPCI: the guest's request bytes, exactly. TCLO: the host's command. Null for an unsolicited TCLO send. */
  request: Buffer | null;
  /** RPCI: the host's reply. TCLO: the guest's reply (null until it arrives, or if it never does). */
  reply: Buffer | null;
  /** TCLO: when the reply arrived. */
  replyTime?: number;
}

export class RpcLog {
  private entries: RpcLogEntry[] = [];
  private nextSeq = 1;

  constructor(public limit = 10000) {}

  add(e: Omit<RpcLogEntry, 'seq'>): RpcLogEntry {
    const entry: RpcLogEntry = { seq: this.nextSeq++, ...e };
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    return entry;
  }

  /** Entries with seq > since (all by default), oldest first. */
  get(since = 0): RpcLogEntry[] {
    return since <= 0 ? [...this.entries] : this.entries.filter((e) => e.seq > since);
  }

  clear(): void {
    this.entries = [];
  }
}
