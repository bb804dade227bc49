/**
 * Structured log of complete GuestRPC exchanges seen by the simulated host:
 * every RPCI request with its reply, and every TCLO command with the guest's
 * answer. Bounded, so a long `npm start` session does not grow without limit.
 *
 * Storage is a ring buffer: once full, each add overwrites the oldest slot in
 * O(1). (An array trimmed with splice costs O(limit) per RPC, which showed in
 * long runs and benchmarks.) Sequence numbers are assigned only by add() and
 * every add is stored, so the retained entries always carry the contiguous
 * seqs [nextSeq - size, nextSeq - 1]; `get(since)` finds its start by
 * arithmetic instead of scanning.
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

function capacity(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

export class RpcLog {
  private slots: Array<RpcLogEntry | undefined>;
  /** Slot of the oldest retained entry. */
  private head = 0;
  private count = 0;
  private cap: number;
  private nextSeq = 1;

  constructor(limit = 10000) {
    this.cap = capacity(limit);
    this.slots = new Array<RpcLogEntry | undefined>(this.cap);
  }

  /** Entries kept; lowering it drops the oldest ones. */
  get limit(): number {
    return this.cap;
  }

  set limit(n: number) {
    const all = this.get();
    this.cap = capacity(n);
    this.slots = new Array<RpcLogEntry | undefined>(this.cap);
    this.head = 0;
    this.count = 0;
    // The newest entries survive; they are still contiguous in seq.
    for (const e of all.slice(all.length - Math.min(all.length, this.cap))) this.slots[this.count++] = e;
  }

  /** Entries currently retained. */
  get size(): number {
    return this.count;
  }

  add(e: Omit<RpcLogEntry, 'seq'>): RpcLogEntry {
    const entry: RpcLogEntry = { seq: this.nextSeq++, ...e };
    if (this.cap === 0) return entry; // nothing retained, as with the old splice at limit 0
    if (this.count < this.cap) {
      this.slots[(this.head + this.count) % this.cap] = entry;
      this.count++;
    } else {
      this.slots[this.head] = entry;
      this.head = (this.head + 1) % this.cap;
    }
    return entry;
  }

  /** Entries with seq > since (all by default), oldest first. */
  get(since = 0): RpcLogEntry[] {
    const oldestSeq = this.nextSeq - this.count;
    // NaN and anything before the oldest retained entry mean "everything".
    const skip = since >= oldestSeq ? Math.min(this.count, Math.floor(since) - oldestSeq + 1) : 0;
    const out = new Array<RpcLogEntry>(this.count - skip);
    for (let i = skip; i < this.count; i++) out[i - skip] = this.slots[(this.head + i) % this.cap] as RpcLogEntry;
    return out;
  }

  clear(): void {
    this.slots = new Array<RpcLogEntry | undefined>(this.cap);
    this.head = 0;
    this.count = 0;
  }
}
