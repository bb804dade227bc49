/**
 * DataMap: the packet framing of every vsock GuestRPC message
 * (channel.md §6.3, open-vm-tools lib/dataMap/dataMap.c).
 *
 *   u32 BE L, then entries until L bytes are consumed:
 *   i32 BE type, i32 BE id, value
 *     INT64      u32 BE low word, u32 BE high word (not a plain BE int64)
 *     STRING     i32 BE n, n raw bytes
 *     INT64LIST  i32 BE count, count × INT64
 *     STRINGLIST i32 BE count, count × STRING
 */
import {
  GUESTRPCPKT_FIELD_FAST_CLOSE,
  GUESTRPCPKT_FIELD_PAYLOAD,
  GUESTRPCPKT_FIELD_TYPE,
  GUESTRPCPKT_TYPE_DATA,
} from './constants';

export const DMFIELD_INT64 = 1;
export const DMFIELD_STRING = 2;
export const DMFIELD_INT64LIST = 3;
export const DMFIELD_STRINGLIST = 4;

export type DataMapValue =
  | { type: 'int64'; value: bigint }
  | { type: 'string'; value: Buffer }
  | { type: 'int64list'; value: bigint[] }
  | { type: 'stringlist'; value: Buffer[] };

/** Field id → value. Encoding emits ascending ids (channel.md §6.3, "Emit in that order"). */
export type DataMap = Map<number, DataMapValue>;

export class DataMapError extends Error {
  override name = 'DataMapError';
}

/** `Socket_RecvPacket` treats L > INT_MAX − 4 as fatal (channel.md §6.3). */
export const DATAMAP_MAX_LENGTH = 0x7fffffff - 4;

function int64Size(): number {
  return 8;
}

function valueSize(v: DataMapValue): number {
  switch (v.type) {
    case 'int64':
      return int64Size();
    case 'string':
      return 4 + v.value.length;
    case 'int64list':
      return 4 + v.value.length * int64Size();
    case 'stringlist':
      return 4 + v.value.reduce((n, s) => n + 4 + s.length, 0);
  }
}

function typeCode(v: DataMapValue): number {
  switch (v.type) {
    case 'int64':
      return DMFIELD_INT64;
    case 'string':
      return DMFIELD_STRING;
    case 'int64list':
      return DMFIELD_INT64LIST;
    case 'stringlist':
      return DMFIELD_STRINGLIST;
  }
}

function writeInt64(buf: Buffer, off: number, value: bigint): number {
  const u = BigInt.asUintN(64, value);
  // channel.md §6.3: low word first, then high word, each big-endian.
  buf.writeUInt32BE(Number(u & 0xffffffffn), off);
  buf.writeUInt32BE(Number(u >> 32n), off + 4);
  return off + 8;
}

function writeString(buf: Buffer, off: number, s: Buffer): number {
  buf.writeInt32BE(s.length, off);
  s.copy(buf, off + 4);
  return off + 4 + s.length;
}

/** Serialises a DataMap, including the leading u32 BE length. */
export function encodeDataMap(map: DataMap | Iterable<[number, DataMapValue]>): Buffer {
  const entries = [...(map instanceof Map ? map.entries() : map)].sort((a, b) => a[0] - b[0]);
  let body = 0;
  for (const [, v] of entries) body += 8 + valueSize(v);
  const buf = Buffer.alloc(4 + body);
  buf.writeUInt32BE(body, 0);
  let off = 4;
  for (const [id, v] of entries) {
    buf.writeInt32BE(typeCode(v), off);
    buf.writeInt32BE(id, off + 4);
    off += 8;
    switch (v.type) {
      case 'int64':
        off = writeInt64(buf, off, v.value);
        break;
      case 'string':
        off = writeString(buf, off, v.value);
        break;
      case 'int64list':
        buf.writeInt32BE(v.value.length, off);
        off += 4;
        for (const x of v.value) off = writeInt64(buf, off, x);
        break;
      case 'stringlist':
        buf.writeInt32BE(v.value.length, off);
        off += 4;
        for (const s of v.value) off = writeString(buf, off, s);
        break;
    }
  }
  return buf;
}

/** Bounds-checked reader over the L bytes of one packet body. */
class Reader {
  constructor(private readonly buf: Buffer, public off: number, private readonly end: number) {}

  need(n: number, what: string): void {
    if (n < 0 || this.off + n > this.end) {
      throw new DataMapError(`truncated DataMap: ${what} needs ${n} bytes at offset ${this.off}`);
    }
  }

  i32(what: string): number {
    this.need(4, what);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  int64(): bigint {
    this.need(8, 'INT64');
    const lo = BigInt(this.buf.readUInt32BE(this.off));
    const hi = BigInt(this.buf.readUInt32BE(this.off + 4));
    this.off += 8;
    return BigInt.asIntN(64, (hi << 32n) | lo);
  }

  string(): Buffer {
    const n = this.i32('STRING length');
    if (n < 0) throw new DataMapError(`negative STRING length ${n}`);
    this.need(n, 'STRING bytes');
    const s = Buffer.from(this.buf.subarray(this.off, this.off + n));
    this.off += n;
    return s;
  }

  count(what: string): number {
    const n = this.i32(what);
    if (n < 0) throw new DataMapError(`negative ${what} ${n}`);
    return n;
  }

  get done(): boolean {
    return this.off >= this.end;
  }
}

/**
 * Total packet size (4 + L) once at least 4 bytes are available, else null.
 * Throws on a length the guest library would treat as fatal.
 */
export function packetLength(buf: Buffer): number | null {
  if (buf.length < 4) return null;
  const l = buf.readUInt32BE(0);
  if (l > DATAMAP_MAX_LENGTH) throw new DataMapError(`DataMap length ${l} exceeds INT_MAX - 4`);
  return 4 + l;
}

/**
 * Deserialises one packet (4-byte length included). Rejects, as
 * `DataMap_Deserialize` does (channel.md §6.3): L larger than the buffer,
 * unknown field types, duplicate ids; plus truncated entries.
 */
export function decodeDataMap(buf: Buffer): DataMap {
  if (buf.length < 4) throw new DataMapError('DataMap shorter than its length word');
  const l = buf.readUInt32BE(0);
  if (l > buf.length - 4) throw new DataMapError(`DataMap length ${l} exceeds buffer (${buf.length - 4})`);
  const r = new Reader(buf, 4, 4 + l);
  const map: DataMap = new Map();
  while (!r.done) {
    const type = r.i32('field type');
    const id = r.i32('field id');
    if (map.has(id)) throw new DataMapError(`duplicate DataMap field id ${id}`);
    let v: DataMapValue;
    switch (type) {
      case DMFIELD_INT64:
        v = { type: 'int64', value: r.int64() };
        break;
      case DMFIELD_STRING:
        v = { type: 'string', value: r.string() };
        break;
      case DMFIELD_INT64LIST: {
        const n = r.count('INT64LIST count');
        r.need(n * 8, 'INT64LIST values');
        const xs: bigint[] = [];
        for (let i = 0; i < n; i++) xs.push(r.int64());
        v = { type: 'int64list', value: xs };
        break;
      }
      case DMFIELD_STRINGLIST: {
        const n = r.count('STRINGLIST count');
        const xs: Buffer[] = [];
        for (let i = 0; i < n; i++) xs.push(r.string());
        v = { type: 'stringlist', value: xs };
        break;
      }
      default:
        throw new DataMapError(`unknown DataMap field type ${type}`);
    }
    map.set(id, v);
  }
  return map;
}

/** A GuestRPC vsock packet (channel.md §6.3 field table). */
export interface GuestRpcPacket {
  /** 1 = DATA, 2 = PING (GUESTRPCPKT_TYPE_*). */
  type: number;
  payload?: Buffer;
  fastClose?: boolean;
}

export function encodeGuestRpcPacket(p: GuestRpcPacket): Buffer {
  const map: DataMap = new Map();
  map.set(GUESTRPCPKT_FIELD_TYPE, { type: 'int64', value: BigInt(p.type) });
  if (p.payload !== undefined) map.set(GUESTRPCPKT_FIELD_PAYLOAD, { type: 'string', value: p.payload });
  if (p.fastClose) map.set(GUESTRPCPKT_FIELD_FAST_CLOSE, { type: 'int64', value: 1n });
  return encodeDataMap(map);
}

/** Decodes a GuestRPC packet; fields of the wrong type are a protocol error. */
export function decodeGuestRpcPacket(buf: Buffer): GuestRpcPacket {
  const map = decodeDataMap(buf);
  const t = map.get(GUESTRPCPKT_FIELD_TYPE);
  if (t !== undefined && t.type !== 'int64') throw new DataMapError('packet type field is not INT64');
  const p = map.get(GUESTRPCPKT_FIELD_PAYLOAD);
  if (p !== undefined && p.type !== 'string') throw new DataMapError('packet payload field is not STRING');
  const fc = map.get(GUESTRPCPKT_FIELD_FAST_CLOSE);
  if (fc !== undefined && fc.type !== 'int64') throw new DataMapError('packet fast-close field is not INT64');
  return {
    // A packet without a type field is treated as DATA (simulator choice; open-vm-tools always sends it).
    type: t ? Number(t.value) : GUESTRPCPKT_TYPE_DATA,
    payload: p ? p.value : undefined,
    fastClose: fc ? fc.value === 1n : false,
  };
}
