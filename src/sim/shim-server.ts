/**
 * The trap socket: a UNIX stream server speaking the frames of
 * docs/simulator-protocol.md to preloaded trap shims, one connection per
 * guest process. Every trapped backdoor instruction is one round trip, so the
 * per-frame path is kept short: no JSON, no logging, one Buffer per reply.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import {
  FRAME_HEADER,
  FRAME_MAGIC,
  TRAP_ACTION_NOT_HANDLED,
} from './constants';
import type { Regs, TrapKind, TrapReply, TrapRequest, VmxHost } from './host';

/** The shim never forwards more than this (native/shim/shim.c MAX_TRANSFER); anything larger is a corrupt stream. */
const MAX_FRAME_PAYLOAD = 64 << 20;

export interface ShimServerStats {
  connections: number;
  frames: number;
  protocolErrors: number;
}

/** Decodes the 76-byte request header at `off` (payload not included). */
export function decodeRequestHeader(buf: Buffer, off: number): { kind: TrapKind; pid: number; tid: number; regs: Regs; payloadLength: number } {
  return {
    kind: buf.readUInt32LE(off + 4) as TrapKind,
    pid: buf.readUInt32LE(off + 8),
    tid: buf.readUInt32LE(off + 12),
    regs: {
      rax: buf.readBigUInt64LE(off + 16),
      rbx: buf.readBigUInt64LE(off + 24),
      rcx: buf.readBigUInt64LE(off + 32),
      rdx: buf.readBigUInt64LE(off + 40),
      rsi: buf.readBigUInt64LE(off + 48),
      rdi: buf.readBigUInt64LE(off + 56),
      rbp: buf.readBigUInt64LE(off + 64),
    },
    payloadLength: buf.readUInt32LE(off + 72),
  };
}

/** Encodes a request frame (used by test clients and the round-trip benchmark). */
export function encodeRequest(req: TrapRequest): Buffer {
  const b = Buffer.alloc(FRAME_HEADER + req.payload.length);
  b.writeUInt32LE(FRAME_MAGIC, 0);
  b.writeUInt32LE(req.kind, 4);
  b.writeUInt32LE(req.pid, 8);
  b.writeUInt32LE(req.tid, 12);
  writeRegs(b, req.regs);
  b.writeUInt32LE(req.payload.length, 72);
  req.payload.copy(b, FRAME_HEADER);
  return b;
}

function writeRegs(b: Buffer, r: Regs): void {
  b.writeBigUInt64LE(r.rax, 16);
  b.writeBigUInt64LE(r.rbx, 24);
  b.writeBigUInt64LE(r.rcx, 32);
  b.writeBigUInt64LE(r.rdx, 40);
  b.writeBigUInt64LE(r.rsi, 48);
  b.writeBigUInt64LE(r.rdi, 56);
  b.writeBigUInt64LE(r.rbp, 64);
}

export function encodeReply(rep: TrapReply): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + rep.payload.length);
  b.writeUInt32LE(FRAME_MAGIC, 0);
  b.writeUInt32LE(rep.action, 4);
  b.writeUInt32LE(0, 8); // reserved
  b.writeUInt32LE(0, 12); // reserved
  writeRegs(b, rep.regs);
  b.writeUInt32LE(rep.payload.length, 72);
  if (rep.payload.length > 0) rep.payload.copy(b, FRAME_HEADER);
  return b;
}

/** Decodes a reply frame whose header and payload are complete in `buf`. */
export function decodeReply(buf: Buffer): TrapReply {
  if (buf.readUInt32LE(0) !== FRAME_MAGIC) throw new Error('bad reply magic');
  const h = decodeRequestHeader(buf, 0);
  return {
    action: buf.readUInt32LE(4) as 0 | 1,
    regs: h.regs,
    payload: buf.subarray(FRAME_HEADER, FRAME_HEADER + h.payloadLength),
  };
}

/** Reassembles frames from a byte stream (partial reads, several frames per read). */
class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Calls `onFrame(buf, off)` for each complete frame; returns false on a corrupt stream. */
  push(chunk: Buffer, onFrame: (buf: Buffer, off: number, payloadLength: number) => void): boolean {
    let buf: Buffer;
    if (this.buffered === 0) {
      buf = chunk; // common case: exactly one whole frame, no copy
    } else {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (!this.enough()) return true;
      buf = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
    }
    let off = 0;
    while (buf.length - off >= FRAME_HEADER) {
      if (buf.readUInt32LE(off) !== FRAME_MAGIC) return false;
      const plen = buf.readUInt32LE(off + 72);
      if (plen > MAX_FRAME_PAYLOAD) return false;
      if (buf.length - off < FRAME_HEADER + plen) break;
      onFrame(buf, off, plen);
      off += FRAME_HEADER + plen;
    }
    if (off < buf.length) {
      const rest = buf.subarray(off);
      this.chunks = [rest];
      this.buffered = rest.length;
    }
    return true;
  }

  /** Whether the buffered bytes hold at least one whole frame. */
  private enough(): boolean {
    if (this.buffered < FRAME_HEADER) return false;
    const first = this.chunks[0];
    const head = first.length >= FRAME_HEADER ? first : Buffer.concat(this.chunks, this.buffered);
    if (head.readUInt32LE(0) !== FRAME_MAGIC) return true; // let push() report it
    return this.buffered >= FRAME_HEADER + head.readUInt32LE(72);
  }
}

export class ShimServer {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private path: string | null = null;
  readonly stats: ShimServerStats = { connections: 0, frames: 0, protocolErrors: 0 };

  constructor(private readonly host: VmxHost) {}

  /** Listens on a UNIX socket path; a stale socket file left by a previous run is replaced. */
  async listen(path: string): Promise<void> {
    this.server = await listenUnix(path, (s) => this.serve(s));
    this.path = path;
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    this.stats.connections++;
    const reader = new FrameReader();
    const onFrame = (buf: Buffer, off: number, plen: number): void => {
      this.stats.frames++;
      sock.write(this.answer(buf, off, plen));
    };
    sock.on('data', (chunk: Buffer) => {
      if (!reader.push(chunk, onFrame)) {
        this.stats.protocolErrors++;
        sock.destroy();
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.sockets.delete(sock));
  }

  private answer(buf: Buffer, off: number, plen: number): Buffer {
    const h = decodeRequestHeader(buf, off);
    const req: TrapRequest = {
      kind: h.kind,
      pid: h.pid,
      tid: h.tid,
      regs: h.regs,
      payload: buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + plen),
    };
    let rep: TrapReply;
    try {
      rep = this.host.handleTrap(req);
    } catch {
      // A simulator bug must not hang or kill the guest: behave as bare metal.
      rep = { action: TRAP_ACTION_NOT_HANDLED, regs: h.regs, payload: Buffer.alloc(0) };
    }
    return encodeReply(rep);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.path) removeStaleSocket(this.path);
    this.path = null;
  }
}

/**
 * Listens on a UNIX socket path, replacing a stale socket file left by a
 * previous run; resolves once listening (the simulator's three servers).
 */
export async function listenUnix(path: string, onConnection: (s: net.Socket) => void): Promise<net.Server> {
  removeStaleSocket(path);
  const server = net.createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Removes a leftover socket file (never a regular file or directory). */
export function removeStaleSocket(path: string): void {
  try {
    if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
  } catch {
    /* absent */
  }
}
