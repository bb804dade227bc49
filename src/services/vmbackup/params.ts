/**
 * What a quiesce request asks for: `vmbackup.start` text (quiesce.md §1.1)
 * and the `vmbackup.startWithOpts` XDR GuestQuiesceParams (§1.2).
 */
import { MAX_DISK_UUIDS, MAX_SCRIPT_ARG } from './constants';

export interface QuiesceParams {
  generateManifest: boolean;
  quiesceApps: boolean;
  quiesceFS: boolean;
  execScripts: boolean;
  scriptArg?: string;
  /** Seconds; 0 = take tools.conf / default (§1.3). */
  timeout: number;
  volumes?: string;
  forceQuiesce: boolean;
}

export class ParamsError extends Error {
  constructor(message: string, readonly kind: 'version' | 'xdr') {
    super(message);
  }
}

/** The options tools.conf supplies to `vmbackup.start` (§1.1 step 3). */
export interface StartConfig {
  quiesceApps: boolean;
  quiesceFS: boolean;
  execScripts: boolean;
  scriptArg?: string;
  timeout?: number;
  forceQuiesce?: boolean;
}

/** §1.1: `[SP] INT [SP VOLUMES]`; no argument bytes → nothing from tools.conf. */
export function parseStart(args: Buffer, conf: () => StartConfig): QuiesceParams {
  const text = args.toString('latin1');
  if (text.length === 0) {
    return { generateManifest: false, quiesceApps: false, quiesceFS: false, execScripts: false, timeout: 0, forceQuiesce: conf().forceQuiesce ?? false };
  }
  const m = /^ *(\S*)/.exec(text)!;
  const token = m[1];
  // StrUtil_GetNextIntToken: a signed decimal; failure leaves the flag false.
  const n = /^[-+]?\d+$/.test(token) ? parseInt(token, 10) : 0;
  const c = conf();
  const rest = text.slice(m[0].length);
  return {
    generateManifest: n !== 0,
    quiesceApps: c.quiesceApps,
    quiesceFS: c.quiesceFS,
    execScripts: c.execScripts,
    scriptArg: c.scriptArg,
    timeout: c.timeout ?? 0,
    volumes: rest.length > 0 ? rest : undefined,
    forceQuiesce: c.forceQuiesce ?? false,
  };
}

/**
 * Reads XDR; bytes past the end read as zero. The handler receives the body
 * byte for byte (rawArgsHandler), but a host or relay that trims trailing
 * NULs would cut exactly the zero tail of a GuestQuiesceParams body
 * (timeout 0, empty diskUuids), so what is missing can only have been zeros.
 * A message that is really short still fails: its version or lengths come
 * out as 0 / inconsistent.
 */
class XdrReader {
  private off = 0;
  constructor(private readonly b: Buffer) {}
  private byte(i: number): number {
    return i < this.b.length ? this.b[i] : 0;
  }
  u32(): number {
    const v = ((this.byte(this.off) << 24) | (this.byte(this.off + 1) << 16) | (this.byte(this.off + 2) << 8) | this.byte(this.off + 3)) >>> 0;
    this.off += 4;
    return v;
  }
  bool(): boolean {
    return this.u32() !== 0;
  }
  string(max: number): string {
    const len = this.u32();
    if (len > max) throw new ParamsError('XDR: string too long', 'xdr');
    const padded = (len + 3) & ~3;
    if (len > 0 && this.off + len > this.b.length) throw new ParamsError('XDR: truncated string', 'xdr');
    const s = this.b.subarray(this.off, this.off + len).toString('latin1');
    this.off += padded;
    return s;
  }
}

/** §1.2; `args` starts with the space after the command name. */
export function parseStartWithOpts(args: Buffer, forceQuiesce: boolean): QuiesceParams {
  if (args.length < 1) throw new ParamsError('XDR: empty', 'xdr');
  const r = new XdrReader(args.subarray(1));
  const ver = r.u32();
  if (ver === 2) throw new ParamsError('version 2', 'version');
  if (ver !== 1) throw new ParamsError(`unknown version ${ver}`, 'xdr');
  const base: QuiesceParams = { generateManifest: false, quiesceApps: false, quiesceFS: false, execScripts: false, timeout: 0, forceQuiesce };
  if (!r.bool()) return base;
  base.generateManifest = r.bool();
  base.quiesceApps = r.bool();
  base.quiesceFS = r.bool();
  r.bool(); // writableSnapshot (allowHWProvider): Windows only
  base.execScripts = r.bool();
  const arg = r.string(MAX_SCRIPT_ARG);
  base.scriptArg = arg === '' ? undefined : arg;
  base.timeout = r.u32();
  const disks = r.string(MAX_DISK_UUIDS);
  base.volumes = disks === '' ? undefined : disks;
  return base;
}

/** Encodes V1 params (the simulator and tests send startWithOpts with it). */
export function encodeStartWithOpts(p: Partial<QuiesceParams> & { version?: number; present?: boolean }): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number): void => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    parts.push(b);
  };
  const str = (s: string): void => {
    const raw = Buffer.from(s, 'latin1');
    u32(raw.length);
    parts.push(raw, Buffer.alloc(((raw.length + 3) & ~3) - raw.length));
  };
  u32(p.version ?? 1);
  u32(p.present === false ? 0 : 1);
  if (p.present !== false) {
    u32(p.generateManifest ? 1 : 0);
    u32(p.quiesceApps ? 1 : 0);
    u32(p.quiesceFS ?? true ? 1 : 0);
    u32(0);
    u32(p.execScripts ? 1 : 0);
    str(p.scriptArg ?? '');
    u32(p.timeout ?? 0);
    str(p.volumes ?? '');
  }
  return Buffer.concat([Buffer.from(' '), ...parts]);
}
