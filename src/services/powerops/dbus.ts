/**
 * Just enough D-Bus to ask logind to power off or reboot: the SASL EXTERNAL
 * handshake, the little-endian message format (header fields, basic types
 * y b u s o g) and one method call at a time. No dependency, no daemon
 * library: a container image needs neither systemctl nor libdbus, only the
 * host's system bus socket bind-mounted.
 *
 * The same codec serves the fake logind of the tests.
 * Format: D-Bus Specification, "Message Protocol" and "Authentication Protocol".
 */
import * as net from 'node:net';

export const enum MessageType {
  MethodCall = 1,
  MethodReturn = 2,
  Error = 3,
  Signal = 4,
}

/** Header field codes (D-Bus spec, "Header Fields"). */
export const enum Field {
  Path = 1,
  Interface = 2,
  Member = 3,
  ErrorName = 4,
  ReplySerial = 5,
  Destination = 6,
  Sender = 7,
  Signature = 8,
}

const FIELD_TYPES: Record<number, string> = { 1: 'o', 2: 's', 3: 's', 4: 's', 5: 'u', 6: 's', 7: 's', 8: 'g', 9: 'u' };

export type BasicValue = number | boolean | string;

export interface Message {
  type: MessageType;
  flags: number;
  serial: number;
  fields: Map<number, BasicValue>;
  /** The body's signature ('' for none). */
  signature: string;
  /** Decoded body values (basic types only). */
  body: BasicValue[];
}

class Writer {
  private readonly parts: Buffer[] = [];
  length = 0;
  private push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  align(n: number): void {
    const pad = (n - (this.length % n)) % n;
    if (pad) this.push(Buffer.alloc(pad));
  }
  byte(v: number): void {
    this.push(Buffer.from([v & 0xff]));
  }
  u32(v: number): void {
    this.align(4);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  string(v: string): void {
    const s = Buffer.from(v, 'utf8');
    this.u32(s.length);
    this.push(Buffer.concat([s, Buffer.alloc(1)]));
  }
  sig(v: string): void {
    this.byte(v.length);
    this.push(Buffer.from(`${v}\0`, 'ascii'));
  }
  value(type: string, v: BasicValue): void {
    switch (type) {
      case 'y': this.byte(Number(v)); break;
      case 'b': this.u32(v ? 1 : 0); break;
      case 'u': this.u32(Number(v)); break;
      case 's': case 'o': this.string(String(v)); break;
      case 'g': this.sig(String(v)); break;
      default: throw new Error(`D-Bus type ${type} not supported`);
    }
  }
  raw(b: Buffer): void {
    this.push(b);
  }
  buffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class Reader {
  constructor(private readonly buf: Buffer, public pos = 0) {}
  align(n: number): void {
    this.pos += (n - (this.pos % n)) % n;
  }
  byte(): number {
    return this.buf[this.pos++]!;
  }
  u32(): number {
    this.align(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  string(): string {
    const n = this.u32();
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n + 1;
    return s;
  }
  sig(): string {
    const n = this.byte();
    const s = this.buf.toString('ascii', this.pos, this.pos + n);
    this.pos += n + 1;
    return s;
  }
  value(type: string): BasicValue {
    switch (type) {
      case 'y': return this.byte();
      case 'b': return this.u32() !== 0;
      case 'u': return this.u32();
      case 'i': return this.u32() | 0;
      case 's': case 'o': return this.string();
      case 'g': return this.sig();
      default: throw new Error(`D-Bus type ${type} not supported`);
    }
  }
}

/** Encodes one message (little-endian, protocol version 1). Body types: y b u s o g. */
export function encodeMessage(m: { type: MessageType; flags?: number; serial: number; fields: Array<[Field, BasicValue]>; signature?: string; body?: BasicValue[] }): Buffer {
  const body = new Writer();
  const sig = m.signature ?? '';
  [...sig].forEach((t, i) => body.value(t, m.body![i]!));
  const fields: Array<[number, BasicValue]> = [...m.fields];
  if (sig) fields.push([Field.Signature, sig]);
  const h = new Writer();
  h.raw(Buffer.from('l', 'ascii'));
  h.byte(m.type);
  h.byte(m.flags ?? 0);
  h.byte(1);
  h.u32(body.length);
  h.u32(m.serial);
  const arr = new Writer();
  for (const [code, v] of fields) {
    arr.align(8);
    arr.byte(code);
    arr.sig(FIELD_TYPES[code]!);
    arr.value(FIELD_TYPES[code]!, v);
  }
  h.u32(arr.length);
  // h is 16 bytes here: 8-aligned, so the array's own alignment is preserved.
  h.raw(arr.buffer());
  h.align(8);
  h.raw(body.buffer());
  return h.buffer();
}

/** Splits a byte stream into messages. */
export class MessageReader {
  private pending = Buffer.alloc(0);

  push(data: Buffer): Message[] {
    this.pending = Buffer.concat([this.pending, data]);
    const out: Message[] = [];
    for (;;) {
      if (this.pending.length < 16) break;
      if (this.pending[0] !== 0x6c) throw new Error('big-endian D-Bus messages are not supported');
      const bodyLen = this.pending.readUInt32LE(4);
      const fieldsLen = this.pending.readUInt32LE(12);
      const headerEnd = 16 + fieldsLen + ((8 - ((16 + fieldsLen) % 8)) % 8);
      const total = headerEnd + bodyLen;
      if (this.pending.length < total) break;
      out.push(decode(this.pending.subarray(0, total), 16 + fieldsLen, headerEnd));
      this.pending = this.pending.subarray(total);
    }
    return out;
  }
}

function decode(buf: Buffer, fieldsEnd: number, headerEnd: number): Message {
  const r = new Reader(buf, 16);
  const fields = new Map<number, BasicValue>();
  while (r.pos < fieldsEnd) {
    r.align(8);
    const code = r.byte();
    const sig = r.sig();
    fields.set(code, r.value(sig));
  }
  const signature = String(fields.get(Field.Signature) ?? '');
  const body: BasicValue[] = [];
  const br = new Reader(buf.subarray(headerEnd));
  for (const t of signature) {
    if (!'ybusogi'.includes(t)) break; // containers are not needed here
    body.push(br.value(t));
  }
  return { type: buf[1] as MessageType, flags: buf[2]!, serial: buf.readUInt32LE(8), fields, signature, body };
}

/** A connection to a bus socket, authenticated (EXTERNAL) and registered (Hello). */
export class DBusConnection {
  private serial = 0;
  private readonly reader = new MessageReader();
  private readonly waiting = new Map<number, (m: Message) => void>();
  private failure: Error | undefined;
  private onFail: Array<(e: Error) => void> = [];
  /** Incoming method calls and signals (for a service). */
  onMessage?: (m: Message) => void;
  uniqueName = '';

  private constructor(private readonly socket: net.Socket) {}

  static async connect(socketPath: string, timeoutMs = 5000): Promise<DBusConnection> {
    const socket = net.connect({ path: socketPath });
    const conn = new DBusConnection(socket);
    const timer = setTimeout(() => socket.destroy(new Error(`no answer from ${socketPath} in ${timeoutMs} ms`)), timeoutMs);
    try {
      await conn.authenticate();
      const hello = await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', iface: 'org.freedesktop.DBus', member: 'Hello' });
      conn.uniqueName = String(hello.body[0] ?? '');
      return conn;
    } catch (e) {
      socket.destroy();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private authenticate(): Promise<void> {
    return new Promise((resolve, reject) => {
      let text = '';
      const fail = (e: Error): void => {
        this.socket.removeListener('data', onData);
        reject(e);
      };
      const onData = (d: Buffer): void => {
        text += d.toString('latin1');
        const nl = text.indexOf('\r\n');
        if (nl < 0) return;
        this.socket.removeListener('data', onData);
        this.socket.removeListener('error', fail);
        if (!text.startsWith('OK ')) return reject(new Error(`D-Bus authentication refused: ${text.slice(0, nl)}`));
        const rest = Buffer.from(text.slice(nl + 2), 'latin1');
        this.socket.write('BEGIN\r\n');
        this.socket.on('data', (x: Buffer) => this.receive(x));
        this.socket.on('error', (e) => this.fail(e));
        this.socket.on('close', () => this.fail(new Error('the bus closed the connection')));
        if (rest.length) this.receive(rest);
        resolve();
      };
      this.socket.on('data', onData);
      this.socket.once('error', fail);
      const uid = Buffer.from(String(process.getuid?.() ?? 0), 'ascii').toString('hex');
      this.socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
    });
  }

  private receive(data: Buffer): void {
    let msgs: Message[];
    try {
      msgs = this.reader.push(data);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    for (const m of msgs) {
      const rs = m.fields.get(Field.ReplySerial);
      const w = typeof rs === 'number' ? this.waiting.get(rs) : undefined;
      if ((m.type === MessageType.MethodReturn || m.type === MessageType.Error) && w) {
        this.waiting.delete(rs as number);
        w(m);
      } else {
        this.onMessage?.(m);
      }
    }
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const f of this.onFail) f(e);
    this.onFail = [];
  }

  /** Calls a method; resolves with its return, rejects with "<ErrorName>: <message>" or a transport error. */
  call(c: { destination: string; path: string; iface: string; member: string; signature?: string; body?: BasicValue[] }): Promise<Message> {
    if (this.failure) return Promise.reject(this.failure);
    const serial = ++this.serial;
    return new Promise((resolve, reject) => {
      this.onFail.push(reject);
      this.waiting.set(serial, (m) => {
        if (m.type === MessageType.Error) reject(new Error(`${String(m.fields.get(Field.ErrorName))}${m.body.length ? `: ${String(m.body[0])}` : ''}`));
        else resolve(m);
      });
      this.socket.write(
        encodeMessage({
          type: MessageType.MethodCall, serial,
          fields: [[Field.Path, c.path], [Field.Interface, c.iface], [Field.Member, c.member], [Field.Destination, c.destination]],
          signature: c.signature, body: c.body,
        }),
      );
    });
  }

  /** Sends a reply to an incoming call (for a service). */
  reply(to: Message, r: { error?: { name: string; message: string }; signature?: string; body?: BasicValue[] }): void {
    const serial = ++this.serial;
    const fields: Array<[Field, BasicValue]> = [[Field.ReplySerial, to.serial], [Field.Destination, String(to.fields.get(Field.Sender))]];
    if (r.error) {
      this.socket.write(encodeMessage({ type: MessageType.Error, serial, fields: [...fields, [Field.ErrorName, r.error.name]], signature: 's', body: [r.error.message] }));
    } else {
      this.socket.write(encodeMessage({ type: MessageType.MethodReturn, serial, fields, signature: r.signature, body: r.body }));
    }
  }

  close(): void {
    this.failure ??= new Error('closed');
    this.socket.destroy();
  }
}

/** logind's well-known name, object and interface (org.freedesktop.login1(5)). */
export const LOGIND = { destination: 'org.freedesktop.login1', path: '/org/freedesktop/login1', iface: 'org.freedesktop.login1.Manager' } as const;
/** Where the system bus listens when $DBUS_SYSTEM_BUS_ADDRESS is not set (D-Bus spec, "Well-known Message Bus Instances"). */
export const DEFAULT_SYSTEM_BUS_SOCKET = '/run/dbus/system_bus_socket';
