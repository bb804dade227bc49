/**
 * RPCI over vsock (channel.md §6): DataMap framing byte for byte through a
 * socketpair, reply validation, the safety gate on real connects, and a full
 * exchange with the simulator's vsock host over a UNIX socket.
 *
 * No test here ever creates an AF_VSOCK socket: this machine has a real
 * virtio-vsock device, and VsockChannel.connect() must refuse before any
 * socket call unless the real CPU says VMware.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as nat from '../src/native';
import type { SimHandle } from '../src/sim/harness';
import { NATIVE_ADDON, REPO_ROOT, startSim, testBytes, expectCode } from './helpers/native-env';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** channel.md §6.3: one-shot RPCI request `info-get guestinfo.x` with FAST_CLOSE. */
const EXAMPLE_68 = hex(`
  00 00 00 40
  00 00 00 01 00 00 00 01 00 00 00 01 00 00 00 00
  00 00 00 02 00 00 00 02 00 00 00 14 69 6e 66 6f
  2d 67 65 74 20 67 75 65 73 74 69 6e 66 6f 2e 78
  00 00 00 01 00 00 00 03 00 00 00 01 00 00 00 00`);
const PING_20 = hex('00 00 00 10 00 00 00 01 00 00 00 01 00 00 00 02 00 00 00 00');

/** Raw DataMap field builders, to hand-craft replies the encoder would never make. */
const be32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
};
const int64Field = (id: number, lo: number, hi = 0): Buffer => Buffer.concat([be32(1), be32(id), be32(lo), be32(hi)]);
const stringField = (id: number, s: Buffer | string): Buffer => {
  const v = Buffer.isBuffer(s) ? s : Buffer.from(s);
  return Buffer.concat([be32(2), be32(id), be32(v.length), v]);
};
const packet = (...fields: Buffer[]): Buffer => {
  const body = Buffer.concat(fields);
  return Buffer.concat([be32(body.length), body]);
};

function readExactly(fd: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    const k = fs.readSync(fd, b, off, n - off, null);
    if (k === 0) throw new Error('EOF');
    off += k;
  }
  return b;
}

describe('vsock transport', function () {
  before(function () {
    if (!fs.existsSync(NATIVE_ADDON)) this.skip();
  });

  describe('DataMap packets (§6.3)', () => {
    it('encodes the one-shot example exactly (68 bytes, INT64 as low word then high word)', () => {
      assert.deepEqual(nat.encodePacket(1, 'info-get guestinfo.x', true), EXAMPLE_68);
    });

    it('encodes the PING heartbeat (20 bytes) and an "OK ATR toolbox" reply (46 bytes, L = 0x2A)', () => {
      assert.deepEqual(nat.encodePacket(2, null), PING_20);
      const r = nat.encodePacket(1, 'OK ATR toolbox');
      assert.equal(r.length, 46);
      assert.equal(r.readUInt32BE(0), 0x2a);
      assert.deepEqual(r, packet(int64Field(1, 1), stringField(2, 'OK ATR toolbox')));
    });
  });

  describe('rpc() over an injected fd (socketpair)', () => {
    let fds: [number, number] | null = null;
    let ch: nat.VsockChannel | null = null;

    function pair(opts: nat.VsockOptions = {}): number {
      fds = nat.socketpair();
      ch = nat.VsockChannel.fromFd(fds[0], opts);
      return fds[1];
    }
    afterEach(() => {
      ch?.close(); // closes fds[0]
      if (fds) fs.closeSync(fds[1]);
      ch = null;
      fds = null;
    });

    it('writes exactly the §6.3 request packet and reads one reply packet', () => {
      const peer = pair({ fastClose: true });
      fs.writeSync(peer, nat.encodePacket(1, '1 bar'));
      assert.deepEqual(ch!.rpc('info-get guestinfo.x'), { ok: true, reply: Buffer.from('bar') });
      assert.deepEqual(readExactly(peer, 68), EXAMPLE_68);
    });

    it('carries any number of request/reply pairs, binary and up to 64 KiB+, without FAST_CLOSE', () => {
      const peer = pair();
      for (const n of [0, 1, 3, 4, 5, 4095, 65536, 200000]) {
        const req = testBytes(n, n + 17);
        const body = testBytes(n, n + 23);
        // The reply is queued before rpc() runs: the call is synchronous.
        // (Trailing NULs of a reply are stripped by design, so avoid one.)
        fs.writeSync(peer, nat.encodePacket(1, Buffer.concat([Buffer.from('1 '), body])));
        const res = ch!.rpc(req);
        assert.equal(res.ok, true);
        assert.ok(res.reply.equals(body), `reply of ${n} bytes`);
        assert.deepEqual(readExactly(peer, 4 + 16 + 12 + n), packet(int64Field(1, 1), stringField(2, req)), `request of ${n} bytes`);
      }
    });

    it('accepts fields in any order and skips unknown ids and list types', () => {
      const peer = pair();
      const lists = Buffer.concat([
        be32(3), be32(9), be32(2), be32(1), be32(0), be32(2), be32(0), // INT64LIST id 9: [1, 2]
        be32(4), be32(10), be32(2), be32(1), Buffer.from('a'), be32(0), // STRINGLIST id 10: ['a', '']
      ]);
      fs.writeSync(peer, packet(stringField(2, '0 No value found'), lists, int64Field(7, 5), int64Field(1, 1)));
      assert.deepEqual(ch!.rpc('info-get guestinfo.y'), { ok: false, reply: Buffer.from('No value found') });
    });

    const bad: Array<[string, Buffer, nat.ChannelErrorCode, RegExp]> = [
      ['no payload field', packet(int64Field(1, 1)), 'PROTOCOL', /no payload field/],
      ['a duplicate field id', packet(int64Field(1, 1), int64Field(1, 1), stringField(2, '1 ')), 'PROTOCOL', /duplicate DataMap field id 1/],
      ['field type 5', packet(int64Field(1, 1), Buffer.concat([be32(5), be32(2)])), 'PROTOCOL', /unknown DataMap field type 5/],
      ['a truncated string', packet(int64Field(1, 1), be32(2), be32(2), be32(50), Buffer.from('1 abc')), 'PROTOCOL', /truncated/],
      ['the payload as an INT64', packet(int64Field(2, 1)), 'PROTOCOL', /field id 2 has type 1/],
      ['a payload without the "1 "/"0 " prefix', packet(int64Field(1, 1), stringField(2, 'ok')), 'PROTOCOL', /VSockOut: Invalid format for the result of the RPCI command/],
      ['a 1-byte payload', packet(int64Field(1, 1), stringField(2, '1')), 'PROTOCOL', /Invalid format/],
      ['L > INT_MAX − 4', hex('7f ff ff ff'), 'PROTOCOL', /claims/],
      ['L over the 64 MiB cap', be32((64 << 20) + 1), 'TOO_LARGE', /limit/],
    ];
    for (const [what, reply, code, re] of bad) {
      it(`rejects a reply with ${what}: ${code}`, () => {
        const peer = pair();
        fs.writeSync(peer, reply);
        const e = expectCode(() => ch!.rpc('x'), code, re);
        assert.ok(e.stage === 'format' || e.stage === 'receive');
      });
    }

    it('peer hung up mid-reply: CHANNEL_CLOSED at "receive"', () => {
      const peer = pair({ timeoutMs: 10000 });
      // rpc() blocks this thread, so the peer must be another process: it
      // reads the request, writes half a reply packet and exits.
      const script = `const fs = require('fs'); fs.readSync(3, Buffer.alloc(65536)); fs.writeSync(3, Buffer.from('000000400000', 'hex'));`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit', peer] });
      fs.closeSync(peer);
      fds = null; // ch still owns its end; afterEach closes that
      try {
        const e = expectCode(() => ch!.rpc('x'), 'CHANNEL_CLOSED', /peer closed the connection/);
        assert.equal(e.stage, 'receive');
      } finally {
        child.kill();
      }
    });

    it('peer gone before the request: CHANNEL_CLOSED at "send" (no SIGPIPE)', () => {
      pair();
      fs.closeSync(fds![1]);
      fds = null;
      const e = expectCode(() => ch!.rpc('x'), 'CHANNEL_CLOSED');
      assert.equal(e.stage, 'send');
    });

    it('a silent peer: TIMEOUT after timeoutMs', () => {
      pair({ timeoutMs: 100 });
      const t0 = Date.now();
      expectCode(() => ch!.rpc('x'), 'TIMEOUT', /no reply within 100 ms/);
      assert.ok(Date.now() - t0 >= 90);
    });

    it('closed channel: NOT_OPEN', () => {
      pair();
      ch!.close();
      expectCode(() => ch!.rpc('x'), 'NOT_OPEN');
    });
  });

  describe('connect() safety gate', () => {
    it('refuses a real connect on this machine (not VMware), before any socket call', function () {
      const d = nat.detect();
      if (d.cpuidVendor === 'VMwareVMware' && !process.env.VMTOOLSD_SIM_SOCKET) this.skip(); // real VMware: not a test to run
      const e = expectCode(() => nat.VsockChannel.connect({ port: 976, privileged: false }), 'NOT_VMWARE', /refusing a real vsock connect/);
      assert.equal(e.stage, 'open');
    });

    it('VMTOOLSD_ASSUME_VMWARE does not unlock it', function () {
      const saved = process.env.VMTOOLSD_ASSUME_VMWARE;
      process.env.VMTOOLSD_ASSUME_VMWARE = '1';
      try {
        if (nat.detect().cpuidVendor === 'VMwareVMware' && !process.env.VMTOOLSD_SIM_SOCKET) this.skip();
        expectCode(() => nat.VsockChannel.connect(), 'NOT_VMWARE');
      } finally {
        if (saved === undefined) delete process.env.VMTOOLSD_ASSUME_VMWARE;
        else process.env.VMTOOLSD_ASSUME_VMWARE = saved;
      }
    });

    it('validates options in TypeScript', () => {
      assert.throws(() => nat.VsockChannel.connect({ port: -1 }), RangeError);
      assert.throws(() => nat.VsockChannel.fromFd(1.5), RangeError);
      assert.throws(() => nat.VsockChannel.fromFd(3, { timeoutMs: -2 }), RangeError);
    });
  });

  describe('against the simulator\'s vsock host (UNIX socket stand-in for CID 0:976)', () => {
    let sim: SimHandle;
    before(async function () {
      if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'src', 'sim', 'main.js'))) this.skip();
      sim = await startSim({ vsockSockets: true, guestinfo: { foo: 'bar' } });
    });
    after(async () => {
      await sim?.stop();
    });

    it('RPCs on one connection, request bytes exact in the host log', async () => {
      const ch = nat.VsockChannel.fromFd(nat.connectUnixForTesting(sim.vsockRpciSocket!));
      try {
        assert.deepEqual(ch.rpc('info-get guestinfo.foo'), { ok: true, reply: Buffer.from('bar') });
        assert.deepEqual(ch.rpc('info-get guestinfo.nope'), { ok: false, reply: Buffer.from('No value found') });
        const since = (await sim.client.getRpcLog()).at(-1)?.seq ?? 0;
        for (const n of [1, 3, 4, 5, 4095, 65536]) {
          const req = testBytes(n, 3 * n);
          assert.deepEqual(ch.rpc(req), { ok: false, reply: Buffer.from('Unknown command') });
        }
        const log = (await sim.client.getRpcLog(since)).filter((e) => e.transport === 'vsock');
        assert.deepEqual(
          log.map((e) => e.request?.length),
          [1, 3, 4, 5, 4095, 65536],
        );
        for (const e of log) assert.ok(e.request!.equals(testBytes(e.request!.length, 3 * e.request!.length)));
      } finally {
        ch.close();
      }
    });

    it('FAST_CLOSE: the host replies, then closes; the next rpc() sees CHANNEL_CLOSED', () => {
      const ch = nat.VsockChannel.fromFd(nat.connectUnixForTesting(sim.vsockRpciSocket!), { fastClose: true });
      try {
        assert.deepEqual(ch.rpc('info-get guestinfo.foo'), { ok: true, reply: Buffer.from('bar') });
        const e = expectCode(() => ch.rpc('info-get guestinfo.foo'), 'CHANNEL_CLOSED');
        assert.ok(e.stage === 'send' || e.stage === 'receive');
      } finally {
        ch.close();
      }
    });
  });
});
