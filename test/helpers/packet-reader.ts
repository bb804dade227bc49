/** Reads whole DataMap packets (channel.md §6.3) from a stream, for tests that play the guest side of vsock. */
import type * as net from 'node:net';
import { packetLength } from '../../src/sim/datamap';

/** Returns a function that resolves with the next complete packet, length prefix included. */
export function packetReader(sock: net.Socket): () => Promise<Buffer> {
  let buf = Buffer.alloc(0);
  const waiting: Array<() => void> = [];
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    waiting.splice(0).forEach((f) => f());
  });
  return async () => {
    for (;;) {
      const n = packetLength(buf);
      if (n !== null && buf.length >= n) {
        const p = buf.subarray(0, n);
        buf = buf.subarray(n);
        return p;
      }
      await new Promise<void>((r) => waiting.push(r));
    }
  };
}
