/**
 * Minimal XDR (RFC 4506) primitives: big-endian 4-byte units, opaque/string
 * = u32 length + bytes + zero padding to a multiple of 4, optional ("*")
 * = u32 0/1 + value. This is exactly the subset nicinfo.x needs
 * (core-services.md §8.3); nothing here knows about NIC info.
 */

/** Thrown when encoding would violate an XDR bound or decoding hits bad data. */
export class XdrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XdrError';
  }
}

function padLength(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Appends XDR items to a growing list of chunks; `toBuffer()` joins them. */
export class XdrWriter {
  private readonly chunks: Buffer[] = [];
  private length = 0;

  private push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  get byteLength(): number {
    return this.length;
  }

  uint32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new XdrError(`uint32 out of range: ${value}`);
    }
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value, 0);
    this.push(b);
    return this;
  }

  /** Enums and bools are 4-byte integers on the wire. */
  enumValue(value: number): this {
    return this.uint32(value);
  }

  bool(value: boolean): this {
    return this.uint32(value ? 1 : 0);
  }

  /** Variable-length opaque with an upper bound, as in `opaque x<max>`. */
  opaque(data: Buffer, max: number): this {
    if (data.length > max) throw new XdrError(`opaque of ${data.length} bytes exceeds <${max}>`);
    this.uint32(data.length);
    this.push(Buffer.from(data));
    const pad = padLength(data.length);
    if (pad) this.push(Buffer.alloc(pad));
    return this;
  }

  /** `string x<max>`: same wire form as opaque, bytes as UTF-8. */
  string(value: string, max: number): this {
    return this.opaque(Buffer.from(value, 'utf8'), max);
  }

  /** `T *x`: a presence word, then the value when present. */
  optional<T>(value: T | undefined, write: (w: this, v: T) => void): this {
    if (value === undefined) return this.uint32(0);
    this.uint32(1);
    write(this, value);
    return this;
  }

  /** `T x<max>`: a count word, then each element. */
  array<T>(items: readonly T[], max: number, write: (w: this, v: T) => void): this {
    if (items.length > max) throw new XdrError(`array of ${items.length} exceeds <${max}>`);
    this.uint32(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/** Reads XDR items from a buffer, enforcing the same bounds as the writer. */
export class XdrReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new XdrError(`truncated XDR at offset ${this.pos}: need ${n} more bytes`);
    }
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  enumValue(): number {
    return this.uint32();
  }

  bool(): boolean {
    const v = this.uint32();
    if (v > 1) throw new XdrError(`bool must be 0 or 1, got ${v} at offset ${this.pos - 4}`);
    return v === 1;
  }

  opaque(max: number): Buffer {
    const len = this.uint32();
    if (len > max) throw new XdrError(`opaque of ${len} bytes exceeds <${max}>`);
    const pad = padLength(len);
    this.need(len + pad);
    const data = Buffer.from(this.buf.subarray(this.pos, this.pos + len));
    for (let i = 0; i < pad; i++) {
      if (this.buf[this.pos + len + i] !== 0) throw new XdrError(`non-zero XDR padding at offset ${this.pos + len + i}`);
    }
    this.pos += len + pad;
    return data;
  }

  string(max: number): string {
    return this.opaque(max).toString('utf8');
  }

  optional<T>(read: (r: this) => T): T | undefined {
    const present = this.uint32();
    if (present === 0) return undefined;
    if (present !== 1) throw new XdrError(`optional presence word must be 0 or 1, got ${present}`);
    return read(this);
  }

  array<T>(max: number, read: (r: this) => T): T[] {
    const count = this.uint32();
    if (count > max) throw new XdrError(`array of ${count} exceeds <${max}>`);
    const out: T[] = [];
    for (let i = 0; i < count; i++) out.push(read(this));
    return out;
  }
}
