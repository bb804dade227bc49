/**
 * Reading an opcode's fixed struct and its strings (guest-ops.md §3.3),
 * strictly bounded by header+body. Every failure is a VixBodyError carrying
 * the VIX code (10001 INVALID_MESSAGE_BODY, 27 INVALID_UTF8_STRING or, for a
 * struct that does not fit, 10000 as the reference's parser answers).
 */
import { VixError } from './constants';

export class VixBodyError extends Error {
  constructor(readonly vixError: number, message: string) {
    super(message);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(b: Buffer): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new VixBodyError(VixError.INVALID_UTF8_STRING, 'string is not UTF-8');
  }
}

export class BodyReader {
  /** Where the strings begin: right after the opcode's fixed struct. */
  private pos: number;

  /** `fixedSize` is the absolute size of header + the opcode's fixed struct (§3.2 third rule). */
  constructor(private readonly buf: Buffer, fixedSize: number) {
    if (buf.length < fixedSize) throw new VixBodyError(VixError.INVALID_MESSAGE_HEADER, 'body shorter than the opcode struct');
    this.pos = fixedSize;
  }

  u8(off: number): number {
    return this.buf.readUInt8(off);
  }
  u32(off: number): number {
    return this.buf.readUInt32LE(off);
  }
  i32(off: number): number {
    return this.buf.readInt32LE(off);
  }
  u64(off: number): bigint {
    return this.buf.readBigUInt64LE(off);
  }
  i64(off: number): bigint {
    return this.buf.readBigInt64LE(off);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** "len excludes NUL" (GetString): len+1 bytes, NUL exactly at the end, none before. */
  string(len: number): string {
    if (len > this.remaining - 1 || this.remaining < 1) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'string past the body');
    const s = this.buf.subarray(this.pos, this.pos + len);
    if (this.buf[this.pos + len] !== 0 || s.includes(0)) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'string length and NUL disagree');
    this.pos += len + 1;
    return decodeUtf8(s);
  }

  /** "len includes NUL" (GetOptionalString, StartProgram): 0 = absent. */
  optionalString(len: number): string | undefined {
    if (len === 0) return undefined;
    if (len > this.remaining) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'string past the body');
    const s = this.buf.subarray(this.pos, this.pos + len - 1);
    if (this.buf[this.pos + len - 1] !== 0 || s.includes(0)) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'string length and NUL disagree');
    this.pos += len;
    return decodeUtf8(s);
  }

  /** `count` NUL-terminated strings in exactly `total` bytes; count 0 = absent. */
  stringArray(count: number, total: number): string[] | undefined {
    if (count === 0) return undefined;
    if (total > this.remaining) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'string array past the body');
    const region = this.buf.subarray(this.pos, this.pos + total);
    const out: string[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      const nul = region.indexOf(0, p);
      if (nul < 0) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'string array entry without NUL');
      out.push(decodeUtf8(region.subarray(p, nul)));
      p = nul + 1;
    }
    if (p !== total) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'string array leaves bytes over');
    this.pos += total;
    return out;
  }

  /** Skips `len` bytes (an ignored property list); must fit. */
  skip(len: number): void {
    if (len > this.remaining) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'property list past the body');
    this.pos += len;
  }

  /** The body must be consumed exactly (the reference's CreateTemporary* rule; also used where fixed). */
  expectEnd(): void {
    if (this.remaining !== 0) throw new VixBodyError(VixError.INVALID_MESSAGE_BODY, 'bytes left over in the body');
  }
}
