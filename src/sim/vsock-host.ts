/**
 * The host side of the vsock GuestRPC transport (channel.md §6.2–6.4) over
 * any connected byte stream. Nothing here touches AF_VSOCK (Node has none,
 * and tests must never reach a real CID): the stream is one end of a
 * socketpair (e.g. a child's stdio fd 3) or a UNIX socket the guest side
 * connects to instead of CID 0 port 975/976.
 *
 *  - 'rpci' streams (port 976): each DATA packet's payload is one RPCI
 *    request; the reply goes back as one DATA packet; FAST_CLOSE = 1 closes
 *    the stream after the reply (one-shot channels).
 *  - 'tclo' streams (port 975): the host pushes commands as DATA packets;
 *    the guest answers with DATA packets and sends PING heartbeats (§6.4).
 */
import type { Duplex } from 'node:stream';
import * as net from 'node:net';
import { GUESTRPCPKT_TYPE_DATA, GUESTRPCPKT_TYPE_PING } from './constants';
import { DataMapError, GuestRpcPacket, decodeGuestRpcPacket, encodeGuestRpcPacket, packetLength } from './datamap';
import type { VmxHost } from './host';
import { listenUnix, removeStaleSocket } from './shim-server';
import type { TcloEndpoint } from './tclo';

export type VsockRole = 'rpci' | 'tclo';

export interface VsockAttachOptions {
  role: VsockRole;
  /** Whether the guest connected from a privileged port (< 1024, channel.md §6.2); default true. */
  privileged?: boolean;
}

export interface VsockStats {
  connections: number;
  open: number;
  packetsIn: number;
  packetsOut: number;
  pings: number;
  protocolErrors: number;
}

/** Guard against a corrupt length word making us buffer gigabytes (simulator limit). */
const MAX_PACKET = 64 << 20;

export class VsockConnection {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private endpoint: TcloEndpoint | null = null;
  private closed = false;

  constructor(
    readonly id: number,
    private readonly stream: Duplex,
    readonly role: VsockRole,
    readonly privileged: boolean,
    private readonly host: VmxHost,
    private readonly stats: VsockStats,
    private readonly onGone: (c: VsockConnection) => void,
  ) {
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', () => this.destroy());
    stream.on('close', () => this.gone());
    stream.on('end', () => this.gone());
    if (role === 'tclo') {
      this.endpoint = host.tclo.newEndpoint('vsock', id, null, (cmd) =>
        this.write({ type: GUESTRPCPKT_TYPE_DATA, payload: cmd }),
      );
      host.tclo.pump(this.endpoint);
    }
  }

  private write(p: GuestRpcPacket): void {
    if (this.closed) return;
    this.stats.packetsOut++;
    this.stream.write(encodeGuestRpcPacket(p));
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      for (;;) {
        if (this.buffered < 4) return;
        const head = this.chunks[0].length >= 4 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
        const total = packetLength(head);
        if (total === null) return;
        if (total > MAX_PACKET) throw new DataMapError(`packet of ${total} bytes exceeds the simulator limit`);
        if (this.buffered < total) return;
        const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
        const packet = all.subarray(0, total);
        const rest = all.subarray(total);
        this.chunks = rest.length > 0 ? [rest] : [];
        this.buffered = rest.length;
        this.onPacket(decodeGuestRpcPacket(packet));
        if (this.closed) return;
      }
    } catch {
      // §6.4: a malformed packet is a protocol error that closes the channel.
      this.stats.protocolErrors++;
      this.destroy();
    }
  }

  private onPacket(p: GuestRpcPacket): void {
    this.stats.packetsIn++;
    if (p.type === GUESTRPCPKT_TYPE_PING) {
      this.stats.pings++; // §6.4 step 5: heartbeat, no payload
      return;
    }
    if (p.type !== GUESTRPCPKT_TYPE_DATA || p.payload === undefined) {
      throw new DataMapError('DATA packet without payload');
    }
    if (this.role === 'rpci') {
      const reply = this.host.handleRpci(p.payload, {
        transport: 'vsock',
        channel: this.id,
        pid: null,
        privileged: this.privileged,
      });
      this.write({ type: GUESTRPCPKT_TYPE_DATA, payload: reply });
      if (p.fastClose) this.end(); // §6.3 field 3: close after replying
    } else if (this.endpoint) {
      this.host.tclo.guestSent(this.endpoint, p.payload);
    }
  }

  /** Closes gracefully (after pending writes). */
  end(): void {
    if (this.closed) return;
    this.stream.end();
    this.gone();
  }

  destroy(): void {
    this.stream.destroy();
    this.gone();
  }

  private gone(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.endpoint) {
      this.host.tclo.removeEndpoint(this.endpoint, 'connection closed');
      this.endpoint = null;
    }
    this.onGone(this);
  }
}

export class VsockHost {
  readonly stats: VsockStats = { connections: 0, open: 0, packetsIn: 0, packetsOut: 0, pings: 0, protocolErrors: 0 };
  private nextId = 1;
  private readonly conns = new Set<VsockConnection>();
  private readonly servers: Array<{ server: net.Server; path: string }> = [];

  constructor(private readonly host: VmxHost) {}

  /** Serves an already connected stream (e.g. `new net.Socket({ fd })`). */
  attach(stream: Duplex, opts: VsockAttachOptions): VsockConnection {
    this.stats.connections++;
    this.stats.open++;
    const c = new VsockConnection(this.nextId++, stream, opts.role, opts.privileged ?? true, this.host, this.stats, (x) => {
      if (this.conns.delete(x)) this.stats.open--;
    });
    this.conns.add(c);
    return c;
  }

  /** Accepts guest connections on a UNIX socket path standing in for CID 0 port 975/976. */
  async listen(path: string, opts: VsockAttachOptions): Promise<void> {
    const server = await listenUnix(path, (s) => {
      this.attach(s, opts);
    });
    this.servers.push({ server, path });
  }

  connections(): Array<{ id: number; role: VsockRole; privileged: boolean }> {
    return [...this.conns].map((c) => ({ id: c.id, role: c.role, privileged: c.privileged }));
  }

  /** Drops every connection (as a VMX restart would). */
  disconnectAll(): number {
    const n = this.conns.size;
    for (const c of [...this.conns]) c.destroy();
    return n;
  }

  async close(): Promise<void> {
    this.disconnectAll();
    const servers = this.servers.splice(0);
    await Promise.all(
      servers.map(
        ({ server, path }) =>
          new Promise<void>((resolve) =>
            server.close(() => {
              removeStaleSocket(path);
              resolve();
            }),
          ),
      ),
    );
  }
}
