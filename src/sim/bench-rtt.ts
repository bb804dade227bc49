/**
 * Round-trip latency of the trap socket, measured with a Node client that
 * speaks the shim's frames (one outstanding frame at a time, as the shim).
 *
 *   node dist/src/sim/bench-rtt.js [--socket P] [--count N] [--kind getversion|hbout]
 *
 * Without --socket it starts its own simulator (src/sim/harness.ts), so the
 * server runs in a separate process as it does under test.
 */
import * as net from 'node:net';
import { FRAME_HEADER } from './constants';
import { startSimulator } from './harness';
import type { Regs } from './host';
import { encodeRequest } from './shim-server';

const MAGIC = 0x564d5868n;

function regsFor(kind: string): { kind: 1 | 2; regs: Regs; payload: Buffer } {
  const base: Regs = { rax: MAGIC, rbx: 0n, rcx: 10n, rdx: 0x5658n, rsi: 0n, rdi: 0n, rbp: 0n };
  if (kind === 'hbout') {
    // An HB out on no channel: exercises payload framing (4 KiB) without channel state.
    return { kind: 2, regs: { ...base, rbx: 0x10000n, rcx: 4096n, rdx: 0x5659n }, payload: Buffer.alloc(4096) };
  }
  return { kind: 1, regs: base, payload: Buffer.alloc(0) };
}

async function measure(socketPath: string, count: number, kind: string): Promise<number[]> {
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.createConnection(socketPath, () => resolve(s));
    s.once('error', reject);
  });
  sock.setNoDelay(true);
  const r = regsFor(kind);
  const frame = encodeRequest({ kind: r.kind, pid: process.pid, tid: process.pid, regs: r.regs, payload: r.payload });
  const samples: number[] = [];
  let got = 0;
  let need = FRAME_HEADER;
  let t0 = 0n;
  await new Promise<void>((resolve) => {
    sock.on('data', (d: Buffer) => {
      got += d.length;
      while (got >= need) {
        got -= need;
        samples.push(Number(process.hrtime.bigint() - t0) / 1000);
        if (samples.length === count) {
          resolve();
          return;
        }
        t0 = process.hrtime.bigint();
        sock.write(frame);
      }
    });
    t0 = process.hrtime.bigint();
    sock.write(frame);
    need = FRAME_HEADER; // replies carry no payload for these kinds
  });
  sock.destroy();
  return samples;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (k: string, d: string): string => {
    const i = argv.indexOf(k);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : d;
  };
  const count = Number(opt('--count', '20000'));
  const kind = opt('--kind', 'getversion');
  let socketPath = opt('--socket', '');
  const sim = socketPath ? null : await startSimulator({ trapSocket: undefined });
  if (sim) socketPath = sim.trapSocket;
  try {
    await measure(socketPath, Math.min(2000, count), kind); // warm-up (JIT)
    const s = (await measure(socketPath, count, kind)).sort((a, b) => a - b);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    process.stdout.write(
      `trap socket round trip (${kind}, n=${count}): mean ${mean.toFixed(1)} µs, ` +
        `p50 ${pct(s, 50).toFixed(1)} µs, p99 ${pct(s, 99).toFixed(1)} µs, max ${s[s.length - 1].toFixed(1)} µs\n`,
    );
  } finally {
    if (sim) await sim.stop();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
