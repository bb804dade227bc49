/**
 * The host's RPCI command processor: turns one complete guest→host request
 * into the reply bytes (`"1 …"` / `"0 …"`, channel.md §4.2). Transport-free:
 * the backdoor message layer (host.ts) and the vsock host (vsock-host.ts)
 * both call `handle()`.
 */
import {
  RPCI_NO_VALUE,
  RPCI_PERMISSION_DENIED,
  RPCI_UNKNOWN_COMMAND,
} from './constants';

export type Transport = 'backdoor' | 'vsock';

export interface RpciContext {
  transport: Transport;
  /** Backdoor channel id, or the vsock connection number. */
  channel: number;
  /** Guest pid when known (backdoor: from the trap frame); null over vsock. */
  pid: number | null;
  /** vsock from a privileged source port; backdoor callers count as unprivileged (channel.md §2.2, UNCONFIRMED rule). */
  privileged: boolean;
}

export interface RpciRequest {
  /** Bytes exactly as the guest sent them. */
  raw: Buffer;
  /** `raw` without trailing NUL bytes (vmtoolsd appends one, vmware-rpctool does not: channel.md §4.1). */
  text: Buffer;
  /** Command name: the bytes before the first space (channel.md §4.1). */
  name: string;
  /** Bytes after the first space; empty when there is none. */
  args: Buffer;
  /** Whether a space followed the name at all. */
  hasArgs: boolean;
  ctx: RpciContext;
}

export type RpciHandler = (req: RpciRequest) => Buffer | string;

/** Host-side guest variables ("GuestVars", core-services.md §9). Values are raw bytes. */
export class GuestInfoStore {
  private readonly vars = new Map<string, Buffer>();

  /** Seeds from an object of `.vmx`-style entries: `{ 'guestinfo.foo': 'bar' }`. */
  seed(entries: Record<string, string | Buffer>): void {
    for (const [k, v] of Object.entries(entries)) this.set(k, v);
  }

  get(key: string): Buffer | undefined {
    return this.vars.get(key);
  }

  set(key: string, value: string | Buffer): void {
    this.vars.set(key, Buffer.isBuffer(value) ? Buffer.from(value) : Buffer.from(value, 'utf8'));
  }

  delete(key: string): boolean {
    return this.vars.delete(key);
  }

  clear(): void {
    this.vars.clear();
  }

  entries(): Array<[string, Buffer]> {
    return [...this.vars.entries()];
  }
}

/**
 * Replies a real VMX gives "1 " to during vmtoolsd start-up and service
 * (core-services.md §11 quick reference). Installed by default so that both
 * our daemon and Debian's vmtoolsd run undisturbed; tests may override or
 * remove any of them. A trailing `*` makes the name a prefix pattern.
 */
export const DEFAULT_CANNED_REPLIES: Readonly<Record<string, string>> = {
  'tools.capability.*': '1 ',
  'tools.set.version*': '1 ',
  'vmx.capability.unified_loop': '1 ',
  SetGuestInfo: '1 ',
  SetGuestDiskInfo: '1 ',
  'tools.os.statechange.status': '1 ',
  'update.tools.health': '1 ',
};

function trimTrailingNuls(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return end === b.length ? b : b.subarray(0, end);
}

export function parseRpciRequest(raw: Buffer, ctx: RpciContext): RpciRequest {
  const text = trimTrailingNuls(raw);
  const sp = text.indexOf(0x20);
  const name = (sp < 0 ? text : text.subarray(0, sp)).toString('latin1');
  const args = sp < 0 ? Buffer.alloc(0) : text.subarray(sp + 1);
  return { raw, text, name, args, hasArgs: sp >= 0, ctx };
}

function toBuffer(r: Buffer | string): Buffer {
  return Buffer.isBuffer(r) ? r : Buffer.from(r, 'utf8');
}

export class RpciServer {
  readonly guestInfo: GuestInfoStore;
  /** Lines the guest wrote with `log …` (what would go to vmware.log, core-services.md §10). */
  readonly vmxLog: Buffer[] = [];
  private readonly handlers = new Map<string, RpciHandler>();
  private readonly canned = new Map<string, Buffer>();
  private readonly cannedPrefixes: Array<[string, Buffer]> = [];
  private readonly privilegedOnly = new Set<string>();

  constructor(store = new GuestInfoStore(), installDefaults = true) {
    this.guestInfo = store;
    if (installDefaults) {
      for (const [k, v] of Object.entries(DEFAULT_CANNED_REPLIES)) this.setCanned(k, v);
    }
  }

  /** Registers (or with null removes) a handler for an exact command name. Takes precedence over canned replies and built-ins. */
  setHandler(name: string, handler: RpciHandler | null): void {
    if (handler) this.handlers.set(name, handler);
    else this.handlers.delete(name);
  }

  /** Registers (or with null removes) a fixed reply; `name*` matches every command starting with `name`. */
  setCanned(name: string, reply: Buffer | string | null): void {
    if (name.endsWith('*')) {
      const prefix = name.slice(0, -1);
      const i = this.cannedPrefixes.findIndex(([p]) => p === prefix);
      if (i >= 0) this.cannedPrefixes.splice(i, 1);
      if (reply !== null) {
        this.cannedPrefixes.push([prefix, toBuffer(reply)]);
        // Longest prefix first, so a specific pattern beats a general one.
        this.cannedPrefixes.sort((a, b) => b[0].length - a[0].length);
      }
    } else if (reply === null) {
      this.canned.delete(name);
    } else {
      this.canned.set(name, toBuffer(reply));
    }
  }

  /** Canned replies as {name or pattern: reply}. */
  listCanned(): Array<[string, Buffer]> {
    return [...this.canned.entries(), ...this.cannedPrefixes.map(([p, r]): [string, Buffer] => [`${p}*`, r])];
  }

  clearCanned(): void {
    this.canned.clear();
    this.cannedPrefixes.length = 0;
  }

  /**
   * Emulates `guest_rpc.rpci.auth.cmd.<name> = "TRUE"` (core-services.md §9):
   * unprivileged callers get `0 Permission denied`.
   */
  setPrivilegedOnly(name: string, on: boolean): void {
    if (on) this.privilegedOnly.add(name);
    else this.privilegedOnly.delete(name);
  }

  /** Computes the reply to one complete request. */
  handle(raw: Buffer, ctx: RpciContext): Buffer {
    const req = parseRpciRequest(raw, ctx);
    if (this.privilegedOnly.has(req.name) && !ctx.privileged) return Buffer.from(RPCI_PERMISSION_DENIED);
    const h = this.handlers.get(req.name);
    if (h) return toBuffer(h(req));
    const c = this.canned.get(req.name);
    if (c) return c;
    for (const [prefix, reply] of this.cannedPrefixes) {
      if (req.name.startsWith(prefix)) return reply;
    }
    return this.builtin(req);
  }

  private builtin(req: RpciRequest): Buffer {
    switch (req.name) {
      case 'info-get':
        return this.infoGet(req);
      case 'info-set':
        return this.infoSet(req);
      case 'log':
        // core-services.md §10: `log <text>` → "1 ".
        this.vmxLog.push(Buffer.from(req.args));
        return Buffer.from('1 ');
      case 'vmbackup.eventSet':
        // quiesce.md §2: the host takes every quiesce event; what it does with
        // them is its business (tests read them from the RPC log).
        return Buffer.from('1 ');
      case 'sim.echo':
        // Simulator-only: echoes the argument bytes for byte-exactness tests.
        return Buffer.concat([Buffer.from('1 '), req.args]);
      default:
        return Buffer.from(RPCI_UNKNOWN_COMMAND);
    }
  }

  // core-services.md §9: `info-get guestinfo.<name>` → "1 <value>" or "0 No value found".
  private infoGet(req: RpciRequest): Buffer {
    const sp = req.args.indexOf(0x20);
    const key = (sp < 0 ? req.args : req.args.subarray(0, sp)).toString('utf8');
    const v = this.guestInfo.get(key);
    return v === undefined ? Buffer.from(RPCI_NO_VALUE) : Buffer.concat([Buffer.from('1 '), v]);
  }

  // core-services.md §9: `info-set guestinfo.<name> <value>` → "1 ". The value
  // is every byte after the first space that follows the key.
  private infoSet(req: RpciRequest): Buffer {
    const sp = req.args.indexOf(0x20);
    if (sp <= 0) {
      // Failure text is UNCONFIRMED (core-services.md §9); this is the simulator's.
      return Buffer.from('0 Two and exactly two arguments expected');
    }
    const key = req.args.subarray(0, sp).toString('utf8');
    this.guestInfo.set(key, Buffer.from(req.args.subarray(sp + 1)));
    return Buffer.from('1 ');
  }
}
