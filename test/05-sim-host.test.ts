/**
 * Unit tests of the VMX simulator with no native code: VmxHost is driven
 * with hand-built register images, following the guest algorithms of
 * channel.md §3.5/§3.6 step by step, and the call counts of §3.7 are
 * asserted exactly. Also: DataMap (§6.3), the vsock host, the trap socket
 * framing and the simulator process with its control API.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FRAME_HEADER, MSG_STATUS, RPCI_PROTOCOL_NUM, TCLO_PROTOCOL_NUM } from '../src/sim/constants';
import {
  DataMapError,
  decodeDataMap,
  decodeGuestRpcPacket,
  encodeDataMap,
  encodeGuestRpcPacket,
  packetLength,
} from '../src/sim/datamap';
import { startSimulator } from '../src/sim/harness';
import { Regs, TrapKind, TrapReply, VmxHost, VmxHostOptions } from '../src/sim/host';
import { ShimServer, decodeReply, encodeRequest } from '../src/sim/shim-server';
import { VsockHost } from '../src/sim/vsock-host';
import { packetReader } from './helpers/packet-reader';

const MAGIC = 0x564d5868n;
const LB_PORT = 0x5658n;
const HB_PORT = 0x5659n;
const COOKIE = 0x80000000n;
const PID = 4242;

const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
const hi16 = (v: bigint): number => lo32(v) >>> 16;

function regs(p: Partial<Regs> = {}): Regs {
  return { rax: MAGIC, rbx: 0n, rcx: 0n, rdx: LB_PORT, rsi: 0n, rdi: 0n, rbp: 0x1234n, ...p };
}

function trap(host: VmxHost, kind: TrapKind, r: Regs, payload: Buffer = Buffer.alloc(0), pid = PID): TrapReply {
  return host.handleTrap({ kind, pid, tid: pid, regs: r, payload });
}

function lb(host: VmxHost, p: Partial<Regs>, pid = PID): Regs {
  const rep = trap(host, 1, regs(p), undefined, pid);
  assert.equal(rep.action, 0);
  return rep.regs;
}

interface Chan {
  id: number;
  hi: number;
  lo: number;
}

/**
 * A guest message layer written from channel.md §3.4–3.6 (open-vm-tools
 * message.c), used to drive the host exactly as the real guest would.
 */
class Guest {
  constructor(private readonly host: VmxHost, private readonly pid = PID) {}

  private call(type: number, ch: Chan | null, rbx: bigint): Regs {
    return lb(
      this.host,
      {
        rbx,
        rcx: (BigInt(type) << 16n) | 30n,
        rdx: (BigInt(ch ? ch.id : 0) << 16n) | LB_PORT,
        rsi: BigInt(ch ? ch.hi : 0),
        rdi: BigInt(ch ? ch.lo : 0),
      },
      this.pid,
    );
  }

  /** One OPEN; null on failure (no retry). */
  openOnce(proto: number, cookie: boolean): Chan | null {
    const r = this.call(0, null, BigInt(proto) | (cookie ? COOKIE : 0n));
    if (!(hi16(r.rcx) & MSG_STATUS.SUCCESS)) return null;
    return { id: hi16(r.rdx), hi: lo32(r.rsi), lo: lo32(r.rdi) };
  }

  /** §3.4: the cookie OPEN first, then once without the flag. */
  open(proto: number): Chan | null {
    return this.openOnce(proto, true) ?? this.openOnce(proto, false);
  }

  close(ch: Chan): number {
    return hi16(this.call(6, ch, 0n).rcx);
  }

  /** §3.5; returns the status that ended it (SUCCESS on success). */
  send(ch: Chan, buf: Buffer): number {
    for (let attempt = 0; attempt < 10; attempt++) {
      const r = this.call(1, ch, BigInt(buf.length));
      const st = hi16(r.rcx);
      if (!(st & MSG_STATUS.SUCCESS)) return st;
      if (st & MSG_STATUS.HB) {
        if (buf.length > 0) {
          const h = trap(
            this.host,
            2,
            regs({
              rbx: 0x00010000n,
              rcx: BigInt(buf.length),
              rdx: (BigInt(ch.id) << 16n) | HB_PORT,
              rsi: 0x7f0000001000n,
              rdi: BigInt(ch.lo),
              rbp: BigInt(ch.hi),
            }),
            buf,
            this.pid,
          );
          assert.equal(h.action, 0);
          assert.equal(h.regs.rcx, 0n);
          assert.equal(h.regs.rsi, 0x7f0000001000n + BigInt(buf.length));
          const hs = hi16(h.regs.rbx);
          if (!(hs & MSG_STATUS.SUCCESS)) {
            if (hs & MSG_STATUS.CPT) continue;
            return hs;
          }
        }
        return MSG_STATUS.SUCCESS;
      }
      let restart = false;
      for (let off = 0; off < buf.length; off += 4) {
        let word = 0;
        for (let i = 0; i < 4 && off + i < buf.length; i++) word |= buf[off + i] << (8 * i);
        const p = hi16(this.call(2, ch, BigInt(word >>> 0)).rcx);
        if (!(p & MSG_STATUS.SUCCESS)) {
          if (p & MSG_STATUS.CPT) {
            restart = true;
            break;
          }
          return p;
        }
      }
      if (!restart) return MSG_STATUS.SUCCESS;
    }
    throw new Error('send restarted too often');
  }

  /** §3.6; a Buffer, null for "nothing queued", or the failing status as a number. */
  receive(ch: Chan): Buffer | null | number {
    retry: for (let attempt = 0; attempt < 10; attempt++) {
      const r = this.call(3, ch, 0n);
      const st = hi16(r.rcx);
      if (!(st & MSG_STATUS.SUCCESS)) return st;
      if (!(st & MSG_STATUS.DORECV)) return null;
      assert.equal(hi16(r.rdx), 1, 'RECVSIZE EDX.hi16 must be 1');
      const n = lo32(r.rbx);
      const buf = Buffer.alloc(n);
      let remaining = n;
      if (st & MSG_STATUS.HB && n > 0) {
        const h = trap(
          this.host,
          3,
          regs({
            rbx: 0x00010000n,
            rcx: BigInt(n),
            rdx: (BigInt(ch.id) << 16n) | HB_PORT,
            rsi: BigInt(ch.hi),
            rdi: 0x7f0000002000n,
            rbp: BigInt(ch.lo),
          }),
          undefined,
          this.pid,
        );
        assert.equal(h.action, 0);
        assert.equal(h.regs.rcx, 0n);
        const hs = hi16(h.regs.rbx);
        if (!(hs & MSG_STATUS.SUCCESS)) {
          if (hs & MSG_STATUS.CPT) continue retry;
          return this.fail(ch, remaining, hs);
        }
        assert.equal(h.regs.rdi, 0x7f0000002000n + BigInt(n));
        h.payload.copy(buf);
        assert.equal(h.payload.length, n);
      } else {
        while (remaining > 0) {
          const p = this.call(4, ch, 1n);
          const ps = hi16(p.rcx);
          if (!(ps & MSG_STATUS.SUCCESS)) {
            if (ps & MSG_STATUS.CPT) continue retry;
            return this.fail(ch, remaining, ps);
          }
          assert.equal(hi16(p.rdx), 2, 'RECVPAYLOAD EDX.hi16 must be 2');
          const take = Math.min(4, remaining);
          for (let i = 0; i < take; i++) buf[n - remaining + i] = (lo32(p.rbx) >>> (8 * i)) & 0xff;
          remaining -= take;
        }
      }
      const s = hi16(this.call(5, ch, 1n).rcx);
      if (!(s & MSG_STATUS.SUCCESS)) {
        if (s & MSG_STATUS.CPT) continue retry;
        return this.fail(ch, remaining, s);
      }
      return buf;
    }
    throw new Error('receive restarted too often');
  }

  private fail(ch: Chan, remaining: number, st: number): number {
    this.call(remaining === 0 ? 5 : 4, ch, 0n);
    return st;
  }

  /** RpcOut one-shot: open, send, receive, close (channel.md §4.3). */
  oneShot(req: Buffer | string): Buffer {
    const ch = this.open(RPCI_PROTOCOL_NUM);
    assert.ok(ch, 'open failed');
    assert.equal(this.send(ch, Buffer.from(req)), MSG_STATUS.SUCCESS);
    const reply = this.receive(ch);
    assert.ok(Buffer.isBuffer(reply), `receive failed: ${String(reply)}`);
    assert.equal(this.close(ch), MSG_STATUS.SUCCESS);
    return reply;
  }

  rpc(ch: Chan, req: Buffer | string): Buffer {
    assert.equal(this.send(ch, Buffer.from(req)), MSG_STATUS.SUCCESS);
    const reply = this.receive(ch);
    assert.ok(Buffer.isBuffer(reply), `receive failed: ${String(reply)}`);
    return reply;
  }
}

const FIXED_US = 1_700_000_000_123_456n;

function newHost(o: VmxHostOptions = {}): VmxHost {
  return new VmxHost({ clock: () => FIXED_US, pidAlive: () => true, ...o });
}

const calls = (h: VmxHost): number => h.counters().total;
const ceil4 = (n: number): number => Math.ceil(n / 4);

describe('05 VMX simulator: VmxHost', () => {
  describe('LB commands (channel.md §2.6)', () => {
    it('GETVERSION answers version 6, the magic and the VMX type', () => {
      const h = newHost();
      const r = lb(h, { rbx: ~MAGIC & 0xffffffffn, rcx: 0xffff000an, rdx: LB_PORT | 0xabcd0000n });
      assert.equal(r.rax, 6n);
      assert.equal(r.rbx, MAGIC);
      assert.equal(r.rcx, 2n);
      h.vmxType = 4;
      assert.equal(lb(h, { rcx: 10n }).rcx, 4n);
      assert.equal(h.counters().commands.GETVERSION, 2);
    });

    it('is not handled without the magic or with the wrong port', () => {
      const h = newHost();
      assert.equal(trap(h, 1, regs({ rax: 0n, rcx: 10n })).action, 1);
      assert.equal(trap(h, 1, regs({ rcx: 10n, rdx: 0x1234n })).action, 1);
      assert.equal(trap(h, 1, regs({ rcx: 10n, rdx: HB_PORT })).action, 1);
      assert.equal(trap(h, 2, regs({ rdx: LB_PORT })).action, 1);
      assert.equal(trap(h, 3, regs({ rdx: LB_PORT })).action, 1);
      const c = h.counters();
      assert.equal(c.notHandled, 5);
      assert.equal(c.total, 5);
    });

    it('GETMHZ, GETHWVERSION, GETBUILDNUM, STOPCATCHUP', () => {
      const h = newHost({ mhz: 3000, hwVersion: 19, buildNumber: 123 });
      assert.equal(lb(h, { rcx: 1n }).rax, 3000n);
      const hw = lb(h, { rcx: 17n });
      assert.equal(hw.rax, 19n);
      assert.equal(hw.rbx, MAGIC);
      assert.equal(lb(h, { rcx: 100n }).rax, 123n);
      const before = regs({ rcx: 24n, rbx: 7n });
      const sc = lb(h, { rcx: 24n, rbx: 7n });
      assert.equal(sc.rbx, before.rbx);
      assert.equal(h.counters().commands.STOPCATCHUP, 1);
      assert.equal(h.counters().events.stopCatchup, 1);
    });

    it('GETTIME / GETTIMEFULL / GETTIMEFULL_WITH_LAG from the host clock with offset and lags', () => {
      const h = newHost({ maxTimeLagUs: 300000, interruptLagUs: 1500 });
      const sec = FIXED_US / 1000000n;
      const us = FIXED_US % 1000000n;
      const t = lb(h, { rcx: 23n });
      assert.equal(t.rax, sec & 0xffffffffn);
      assert.equal(t.rbx, us);
      assert.equal(t.rcx, 301500n);

      const f = lb(h, { rcx: 46n });
      assert.equal(f.rax, MAGIC, 'GETTIMEFULL leaves EAX = magic on success');
      assert.equal((f.rsi << 32n) | f.rdx, sec);
      assert.equal(f.rbx, us);
      assert.equal(f.rcx, 301500n);

      const w = lb(h, { rcx: 55n });
      assert.equal(w.rax, MAGIC);
      assert.equal((w.rsi << 32n) | w.rdx, sec);
      assert.equal(w.rcx, 300000n, 'WITH_LAG: ECX is the max lag only');
      assert.equal(w.rdi, 1500n, 'WITH_LAG: EDI is the interrupt lag');

      h.setClockOffset({ ms: -2500, us: 1 });
      const o = lb(h, { rcx: 55n });
      const got = ((o.rsi << 32n) | o.rdx) * 1000000n + o.rbx;
      assert.equal(got, FIXED_US - 2500000n + 1n);
    });

    it('unimplemented and disabled commands return EAX = 0xFFFFFFFF', () => {
      const h = newHost();
      const r = lb(h, { rcx: 99n, rbx: 5n });
      assert.equal(r.rax, 0xffffffffn);
      assert.equal(r.rbx, 5n);
      h.disableCommand(55);
      assert.notEqual(lb(h, { rcx: 55n }).rax, MAGIC);
      assert.equal(lb(h, { rcx: 46n }).rax, MAGIC);
      h.disableCommand(55, false);
      assert.equal(lb(h, { rcx: 55n }).rax, MAGIC);
      assert.equal(h.counters().commands.CMD_99, 1);
    });

    it('the default clock is Date.now()-based', () => {
      const h = new VmxHost();
      const r = lb(h, { rcx: 46n });
      const s = Number((r.rsi << 32n) | r.rdx);
      assert.ok(Math.abs(s - Date.now() / 1000) < 2);
    });
  });

  describe('RPCI over the backdoor (channel.md §3, §4)', () => {
    it('one-shot HB RPC takes exactly 7 calls and returns the stored value', () => {
      const h = newHost({ guestinfo: { 'guestinfo.foo': 'bar' } });
      const g = new Guest(h);
      const reply = g.oneShot('info-get guestinfo.foo');
      assert.equal(reply.toString(), '1 bar');
      const c = h.counters();
      assert.equal(c.total, 7);
      assert.equal(c.hbOut, 1);
      assert.equal(c.hbIn, 1);
      assert.deepEqual(c.message, { OPEN: 1, SENDSIZE: 1, RECVSIZE: 1, RECVSTATUS: 1, CLOSE: 1 });
      assert.equal(c.byPid[String(PID)].total, 7);
    });

    it('open-channel HB RPC takes exactly 5 calls', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      h.resetCounters();
      for (let i = 0; i < 3; i++) {
        const before = calls(h);
        assert.equal(g.rpc(ch, 'vmx.capability.unified_loop toolbox\0').toString(), '1 ');
        assert.equal(calls(h) - before, 5);
      }
    });

    it('one-shot LB RPC takes 5 + ⌈Q/4⌉ + ⌈P/4⌉ calls (worked example: 13)', () => {
      const h = newHost({ hb: false, guestinfo: { 'guestinfo.foo': 'bar' } });
      const g = new Guest(h);
      assert.equal(g.oneShot('info-get guestinfo.foo').toString(), '1 bar');
      assert.equal(calls(h), 13);
      assert.equal(h.counters().hbOut + h.counters().hbIn, 0);
      for (let q = 0; q <= 9; q++) {
        const payload = Buffer.from('abcdefghi'.slice(0, q));
        const req = Buffer.concat([Buffer.from('sim.echo '), payload]);
        h.resetCounters();
        const reply = g.oneShot(req);
        assert.deepEqual(reply, Buffer.concat([Buffer.from('1 '), payload]));
        assert.equal(calls(h), 5 + ceil4(req.length) + ceil4(reply.length), `Q=${req.length}`);
      }
    });

    it('HB status bit is never set when HB is denied; HB calls then fail', () => {
      const h = newHost({ hb: false });
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      const size = lb(h, { rbx: 4n, rcx: 0x0001001en, rdx: (BigInt(ch.id) << 16n) | LB_PORT, rsi: BigInt(ch.hi), rdi: BigInt(ch.lo) });
      assert.equal(hi16(size.rcx), MSG_STATUS.SUCCESS);
      const hb = trap(h, 2, regs({ rbx: 0x10000n, rcx: 4n, rdx: (BigInt(ch.id) << 16n) | HB_PORT, rdi: BigInt(ch.lo), rbp: BigInt(ch.hi) }), Buffer.from('ping'));
      assert.equal(hi16(hb.regs.rbx) & MSG_STATUS.SUCCESS, 0);
    });

    it('byte-exact payloads across LB and HB, including binary and non-ASCII bytes', () => {
      for (const hb of [true, false]) {
        const h = newHost({ hb });
        const g = new Guest(h);
        const ch = g.open(RPCI_PROTOCOL_NUM);
        assert.ok(ch);
        const data = Buffer.from([0x01, 0xff, 0x80, 0x00, 0x7f, 0x20, 0xc3, 0xa9, 0x00, 0x09]);
        const reply = g.rpc(ch, Buffer.concat([Buffer.from('sim.echo '), data]));
        assert.deepEqual(reply, Buffer.concat([Buffer.from('1 '), data]));
        const log = h.getRpcLog();
        assert.equal(log.length, 1);
        assert.deepEqual(log[0].request, Buffer.concat([Buffer.from('sim.echo '), data]));
        assert.deepEqual(log[0].reply, reply);
        assert.equal(log[0].proto, 'RPCI');
        assert.equal(log[0].channel, ch.id);
        assert.equal(log[0].pid, PID);
      }
    });

    it('info-set / info-get / log / unknown, with and without a trailing NUL', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      assert.equal(g.rpc(ch, 'info-get guestinfo.missing').toString(), '0 No value found');
      assert.equal(g.rpc(ch, 'info-set guestinfo.k two  words \0').toString(), '1 ');
      assert.equal(h.getGuestInfo('guestinfo.k')?.toString(), 'two  words ');
      assert.equal(g.rpc(ch, 'info-get guestinfo.k\0').toString(), '1 two  words ');
      assert.equal(g.rpc(ch, 'info-set guestinfo.empty ').toString(), '1 ');
      assert.equal(g.rpc(ch, 'info-get guestinfo.empty').toString(), '1 ');
      assert.equal(g.rpc(ch, 'log toolbox: Version: 13.1.0.0\0').toString(), '1 ');
      assert.deepEqual(h.rpci.vmxLog.map(String), ['toolbox: Version: 13.1.0.0']);
      assert.equal(g.rpc(ch, 'no.such.command arg\0').toString(), '0 Unknown command');
      assert.equal(g.rpc(ch, 'tools.capability.features 37=1 36=1\0').toString(), '1 ');
      assert.equal(g.rpc(ch, 'tools.set.versiontype 13344 4\0').toString(), '1 ');
      assert.equal(g.rpc(ch, 'SetGuestInfo  7 12345678\0').toString(), '1 ');
    });

    it('custom handlers and canned replies by command name', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      h.setCannedReply('tools.capability.*', '0 nope');
      h.setCannedReply('tools.capability.hgfs_server', '1 yes');
      h.setRpciHandler('custom.cmd', (req) => `1 ${req.args.toString()}|${req.ctx.transport}`);
      assert.equal(g.rpc(ch, 'tools.capability.features 1\0').toString(), '0 nope');
      assert.equal(g.rpc(ch, 'tools.capability.hgfs_server toolbox 1\0').toString(), '1 yes');
      assert.equal(g.rpc(ch, 'custom.cmd a b\0').toString(), '1 a b|backdoor');
      h.setCannedReply('tools.capability.*', null);
      h.setCannedReply('tools.capability.hgfs_server', null);
      assert.equal(g.rpc(ch, 'tools.capability.features 1\0').toString(), '0 Unknown command');
      h.setPrivilegedOnly('info-get', true);
      assert.equal(g.rpc(ch, 'info-get guestinfo.x').toString(), '0 Permission denied');
    });

    it('guest→host messages over 65536 bytes are refused at SENDSIZE', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      const big = Buffer.alloc(65537, 0x41);
      assert.equal(g.send(ch, big), 0);
      const ok = Buffer.concat([Buffer.from('sim.echo '), Buffer.alloc(65536 - 9, 0x42)]);
      assert.equal(ok.length, 65536);
      const reply = g.rpc(ch, ok);
      assert.equal(reply.length, 2 + 65536 - 9);
    });

    it('an empty RECVSIZE (nothing queued) is SUCCESS without DORECV', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      const r = lb(h, { rcx: 0x0003001en, rdx: (BigInt(ch.id) << 16n) | LB_PORT, rsi: BigInt(ch.hi), rdi: BigInt(ch.lo) });
      assert.equal(hi16(r.rcx), MSG_STATUS.SUCCESS);
    });

    it('RECVSTATUS with EBX=0 keeps the reply for the next RECVSIZE', () => {
      const h = newHost({ hb: false });
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      assert.equal(g.send(ch, Buffer.from('sim.echo xyz')), MSG_STATUS.SUCCESS);
      const sel = { rdx: (BigInt(ch.id) << 16n) | LB_PORT, rsi: BigInt(ch.hi), rdi: BigInt(ch.lo) };
      const size = lb(h, { rcx: 0x0003001en, ...sel });
      assert.equal(lo32(size.rbx), 5);
      lb(h, { rcx: 0x0004001en, rbx: 1n, ...sel });
      lb(h, { rcx: 0x0004001en, rbx: 1n, ...sel });
      const st = lb(h, { rcx: 0x0005001en, rbx: 0n, ...sel });
      assert.ok(hi16(st.rcx) & MSG_STATUS.SUCCESS);
      assert.equal(g.receive(ch)?.toString(), '1 xyz');
      assert.equal(g.receive(ch), null, 'acknowledged: gone');
    });

    it('the cookie OPEN can be refused; the retry without cookie costs one call', () => {
      const h = newHost({ refuseCookieOpen: true });
      const g = new Guest(h);
      assert.equal(g.oneShot('sim.echo hi').toString(), '1 hi');
      assert.equal(calls(h), 8);
      assert.equal(h.counters().message.OPEN, 2);
      assert.equal(h.listChannels().length, 0);
    });
  });

  describe('channel faults', () => {
    it('wrong cookie, unknown id and rotated cookie answer status 0', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      assert.equal(g.send({ ...ch, lo: (ch.lo ^ 1) >>> 0 }, Buffer.from('x')), 0);
      assert.equal(g.send({ ...ch, hi: (ch.hi ^ 1) >>> 0 }, Buffer.from('x')), 0);
      assert.equal(g.send({ ...ch, id: (ch.id + 7) % 128 }, Buffer.from('x')), 0);
      assert.equal(g.rpc(ch, 'sim.echo ok').toString(), '1 ok');
      h.rotateCookie(ch.id);
      assert.equal(g.send(ch, Buffer.from('x')), 0);
      assert.equal(g.receive(ch), 0);
    });

    it('a host-closed channel answers CLOSED until the guest opens a new one', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      assert.ok(h.closeChannel(ch.id));
      assert.equal(g.send(ch, Buffer.from('sim.echo a')), MSG_STATUS.CLOSED);
      assert.equal(g.receive(ch), MSG_STATUS.CLOSED);
      assert.equal(g.close(ch), MSG_STATUS.CLOSED);
      const ch2 = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch2);
      assert.equal(g.rpc(ch2, 'sim.echo b').toString(), '1 b');
    });

    it('closeAll and resetChannels invalidate every channel', () => {
      const h = newHost();
      const g = new Guest(h);
      const a = g.open(RPCI_PROTOCOL_NUM);
      const b = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(a && b);
      assert.equal(h.closeAll(), 2);
      assert.equal(g.send(a, Buffer.from('x')), MSG_STATUS.CLOSED);
      const c = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(c);
      assert.equal(h.resetChannels(), 3);
      assert.equal(g.send(c, Buffer.from('x')), 0);
      assert.equal(g.send(a, Buffer.from('x')), 0);
      assert.deepEqual(h.listChannels(), []);
    });

    it('at most 128 channels are open at once', () => {
      const h = newHost();
      const g = new Guest(h);
      const chans: Chan[] = [];
      for (let i = 0; i < 128; i++) {
        const ch = g.openOnce(RPCI_PROTOCOL_NUM, true);
        assert.ok(ch, `open ${i}`);
        chans.push(ch);
      }
      assert.equal(new Set(chans.map((c) => c.id)).size, 128);
      assert.equal(g.openOnce(RPCI_PROTOCOL_NUM, true), null);
      g.close(chans[5]);
      assert.ok(g.openOnce(RPCI_PROTOCOL_NUM, true));
    });
  });

  describe('checkpoints (channel.md §3.5, §3.6)', () => {
    it('CPT during an LB send restarts from SENDSIZE; the request is processed once', () => {
      const h = newHost({ hb: false });
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      h.resetCounters();
      h.injectCheckpoint({ phase: 'send', afterCalls: 2 });
      const req = 'sim.echo 0123456789'; // 19 bytes → 5 payload calls
      assert.equal(g.rpc(ch, req).toString(), '1 0123456789');
      // SENDSIZE + 3 pieces (third answers CPT), then SENDSIZE + 5, then receive 1 + 3 + 1
      assert.equal(calls(h), 1 + 3 + 1 + 5 + 1 + ceil4(12) + 1);
      assert.equal(h.counters().events.checkpointsInjected, 1);
      assert.equal(h.getRpcLog().length, 1);
    });

    it('CPT during an HB send restarts from SENDSIZE', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      h.resetCounters();
      h.injectCheckpoint({ phase: 'send' });
      assert.equal(g.rpc(ch, 'sim.echo hb').toString(), '1 hb');
      assert.equal(calls(h), 2 + 5);
      assert.equal(h.counters().hbOut, 2);
    });

    it('CPT during an LB receive re-offers the whole message', () => {
      const h = newHost({ hb: false });
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      h.injectCheckpoint({ phase: 'receive', afterCalls: 1, proto: 'RPCI' });
      assert.equal(g.rpc(ch, 'sim.echo abcdefgh').toString(), '1 abcdefgh');
      h.injectCheckpoint({ phase: 'receive', count: 2 }); // HB-less: RECVPAYLOAD twice
      assert.equal(g.rpc(ch, 'sim.echo ABC').toString(), '1 ABC');
      assert.equal(h.counters().events.checkpointsInjected, 3);
    });

    it('CPT on HB in and on RECVSTATUS re-offers the message', () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      h.resetCounters();
      h.injectCheckpoint({ phase: 'receive', count: 1 });
      assert.equal(g.rpc(ch, 'sim.echo one').toString(), '1 one');
      assert.equal(calls(h), 5 + 2, 'RECVSIZE + HB in lost to the checkpoint');
      h.resetCounters();
      h.injectCheckpoint({ phase: 'receive', afterCalls: 1 });
      assert.equal(g.rpc(ch, 'sim.echo two').toString(), '1 two');
      assert.equal(calls(h), 5 + 3, 'RECVSIZE + HB in + RECVSTATUS lost');
    });

    it("count 'always' keeps answering CPT until cleared", () => {
      const h = newHost();
      const g = new Guest(h);
      const ch = g.open(RPCI_PROTOCOL_NUM);
      assert.ok(ch);
      h.injectCheckpoint({ phase: 'send', count: 'always' });
      assert.throws(() => g.send(ch, Buffer.from('sim.echo x')), /restarted too often/);
      h.clearCheckpoints();
      assert.equal(g.rpc(ch, 'sim.echo x').toString(), '1 x');
    });
  });

  describe('TCLO over the backdoor (channel.md §5)', () => {
    it('poll, fetch and reply; sendTclo resolves with the reply', async () => {
      const h = newHost();
      const g = new Guest(h);
      const t = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(t);
      h.resetCounters();
      // Idle poll: empty send + empty receive = 2 calls.
      assert.equal(g.send(t, Buffer.alloc(0)), MSG_STATUS.SUCCESS);
      assert.equal(g.receive(t), null);
      assert.equal(calls(h), 2);
      assert.equal(h.counters().events.tcloEmptyPolls, 1);

      const reply = h.sendTclo('reset');
      // The host delivers only after the guest has sent (§5.1): poll first.
      assert.equal(g.send(t, Buffer.alloc(0)), MSG_STATUS.SUCCESS);
      h.resetCounters();
      const cmd = g.receive(t);
      assert.equal(String(cmd), 'reset');
      assert.equal(calls(h), 3, 'HB fetch = RECVSIZE + HB in + RECVSTATUS');
      h.resetCounters();
      assert.equal(g.send(t, Buffer.from('OK ATR toolbox')), MSG_STATUS.SUCCESS);
      assert.equal(calls(h), 2, 'HB reply send = SENDSIZE + HB out');
      assert.equal((await reply).toString(), 'OK ATR toolbox');

      const log = h.getRpcLog().filter((e) => e.proto === 'TCLO');
      assert.equal(log.length, 1);
      assert.equal(log[0].request?.toString(), 'reset');
      assert.equal(log[0].reply?.toString(), 'OK ATR toolbox');
      assert.deepEqual(h.listTclo().map((e) => e.app), ['toolbox']);
    });

    it('commands queue in order; the next is delivered with the poll carrying the reply', async () => {
      const h = newHost({ hb: false });
      const g = new Guest(h);
      const t = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(t);
      const p1 = h.sendTclo('ping');
      const p2 = h.sendTclo('Capabilities_Register');
      assert.equal(g.receive(t), null, 'nothing before the first send');
      assert.equal(g.send(t, Buffer.alloc(0)), MSG_STATUS.SUCCESS);
      assert.equal(String(g.receive(t)), 'ping');
      assert.equal(g.receive(t), null, 'no second command before the reply');
      h.resetCounters();
      assert.equal(g.send(t, Buffer.from('OK ')), MSG_STATUS.SUCCESS);
      assert.equal(String(g.receive(t)), 'Capabilities_Register');
      // LB: reply send 1 + ⌈3/4⌉, fetch 2 + ⌈21/4⌉ (reference-figures.md §2)
      assert.equal(calls(h), 1 + 1 + 2 + ceil4(21));
      assert.equal(g.send(t, Buffer.from('OK ')), MSG_STATUS.SUCCESS);
      assert.equal((await p1).toString(), 'OK ');
      assert.equal((await p2).toString(), 'OK ');
    });

    it('a 0-byte command is offered as DORECV with length 0', async () => {
      const h = newHost();
      const g = new Guest(h);
      const t = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(t);
      const p = h.sendTclo(Buffer.alloc(0));
      g.send(t, Buffer.alloc(0));
      h.resetCounters();
      assert.deepEqual(g.receive(t), Buffer.alloc(0));
      assert.equal(calls(h), 2, 'RECVSIZE + RECVSTATUS, no HB for 0 bytes');
      g.send(t, Buffer.from('ERROR Bad command'));
      assert.equal((await p).toString(), 'ERROR Bad command');
    });

    it('a checkpoint during a command fetch re-offers the command', async () => {
      const h = newHost();
      const g = new Guest(h);
      const t = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(t);
      const p = h.sendTclo('OS_Halt');
      g.send(t, Buffer.alloc(0));
      h.injectCheckpoint({ phase: 'receive', proto: 'TCLO' });
      assert.equal(String(g.receive(t)), 'OS_Halt');
      g.send(t, Buffer.from('OK '));
      assert.equal((await p).toString(), 'OK ');
    });

    it('closing the channel rejects an unanswered command; undelivered ones wait for the next channel', async () => {
      const h = newHost();
      const g = new Guest(h);
      const t = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(t);
      const p1 = h.sendTclo('ping');
      const p2 = h.sendTclo('Time_Synchronize 0');
      g.send(t, Buffer.alloc(0));
      assert.equal(String(g.receive(t)), 'ping');
      h.closeChannel(t.id);
      await assert.rejects(p1, /before the guest replied/);
      const t2 = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(t2);
      g.send(t2, Buffer.alloc(0));
      assert.equal(String(g.receive(t2)), 'Time_Synchronize 0');
      g.send(t2, Buffer.from('OK '));
      assert.equal((await p2).toString(), 'OK ');
    });

    it('sendTclo times out', async () => {
      const h = newHost();
      await assert.rejects(h.sendTclo('ping', { timeoutMs: 20 }), /timed out/);
    });

    it('OK ATR <app> binds the channel to that app', async () => {
      const h = newHost();
      const g = new Guest(h);
      const sys = g.open(TCLO_PROTOCOL_NUM);
      const usr = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(sys && usr);
      const r1 = h.sendTclo('reset', { channel: usr.id });
      g.send(usr, Buffer.alloc(0));
      assert.equal(String(g.receive(usr)), 'reset');
      g.send(usr, Buffer.from('OK ATR toolbox-dnd'));
      assert.equal((await r1).toString(), 'OK ATR toolbox-dnd');
      const apps = Object.fromEntries(h.listTclo().map((e) => [e.id, e.app]));
      assert.equal(apps[sys.id], 'toolbox');
      assert.equal(apps[usr.id], 'toolbox-dnd');
      const r2 = h.sendTclo('ping', { app: 'toolbox-dnd' });
      assert.equal(String(g.receive(usr)), 'ping');
      g.send(usr, Buffer.from('OK '));
      assert.equal((await r2).toString(), 'OK ');
    });
  });

  describe('abandoned channels', () => {
    it("a restarted daemon's TCLO channel takes over commands queued for the dead one", async () => {
      let t = 1000;
      const dead = new Set<number>();
      const h = newHost({ now: () => t, pidAlive: (pid) => !dead.has(pid) });
      const a = new Guest(h, 1);
      const ta = a.open(TCLO_PROTOCOL_NUM);
      assert.ok(ta);
      a.send(ta, Buffer.alloc(0));
      assert.equal(a.receive(ta), null);
      dead.add(1); // killed without CLOSE
      const b = new Guest(h, 2);
      const tb = b.open(TCLO_PROTOCOL_NUM);
      assert.ok(tb);
      const reply = h.sendTclo('reset');
      b.send(tb, Buffer.alloc(0));
      assert.equal(b.receive(tb), null, 'the dead one is not stale yet');
      t += 300;
      b.send(tb, Buffer.alloc(0));
      assert.equal(String(b.receive(tb)), 'reset');
      b.send(tb, Buffer.from('OK ATR toolbox'));
      assert.equal((await reply).toString(), 'OK ATR toolbox');
      const apps = Object.fromEntries(h.listTclo().map((e) => [e.id, e.app]));
      assert.equal(apps[tb.id], 'toolbox');
      assert.notEqual(apps[ta.id], 'toolbox');
    });

    it('a silent live channel goes stale after a second', async () => {
      let t = 0;
      const h = newHost({ now: () => t });
      const g = new Guest(h);
      const ta = g.open(TCLO_PROTOCOL_NUM);
      const tb = g.open(TCLO_PROTOCOL_NUM);
      assert.ok(ta && tb);
      const reply = h.sendTclo('ping');
      t += 999;
      g.send(tb, Buffer.alloc(0));
      assert.equal(g.receive(tb), null);
      t += 1;
      assert.equal(String(g.receive(tb)), 'ping');
      g.send(tb, Buffer.from('OK '));
      assert.equal((await reply).toString(), 'OK ');
    });

    it('channels of dead processes are reaped when the table is full', () => {
      let t = 0;
      const h = newHost({ now: () => t, pidAlive: (pid) => pid !== 1 });
      const dead = new Guest(h, 1);
      for (let i = 0; i < 128; i++) assert.ok(dead.openOnce(RPCI_PROTOCOL_NUM, true));
      const g = new Guest(h, 2);
      assert.equal(g.openOnce(RPCI_PROTOCOL_NUM, true), null);
      t += 1000;
      const ch = g.openOnce(RPCI_PROTOCOL_NUM, true);
      assert.ok(ch);
      assert.equal(g.rpc(ch, 'sim.echo alive').toString(), '1 alive');
      assert.equal(h.listChannels().length, 1);
    });
  });

  describe('counters', () => {
    it('counts per pid and resets', () => {
      const h = newHost();
      new Guest(h, 1).oneShot('sim.echo a');
      new Guest(h, 2).oneShot('sim.echo b');
      lb(h, { rcx: 10n }, 2);
      const c = h.counters();
      assert.equal(c.total, 15);
      assert.equal(c.byPid['1'].total, 7);
      assert.equal(c.byPid['2'].total, 8);
      assert.equal(c.byPid['2'].commands.GETVERSION, 1);
      assert.equal(c.commands.MESSAGE, 10);
      assert.equal(h.countersForPid(2).hbIn, 1);
      h.resetCounters();
      assert.equal(h.counters().total, 0);
      assert.deepEqual(h.counters().byPid, {});
    });
  });
});

describe('05 VMX simulator: DataMap (channel.md §6.3)', () => {
  const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

  it('encodes the one-shot info-get request exactly (68 bytes)', () => {
    const b = encodeGuestRpcPacket({ type: 1, payload: Buffer.from('info-get guestinfo.x'), fastClose: true });
    const expected = hex(`
      00 00 00 40
      00 00 00 01 00 00 00 01 00 00 00 01 00 00 00 00
      00 00 00 02 00 00 00 02 00 00 00 14 69 6e 66 6f
      2d 67 65 74 20 67 75 65 73 74 69 6e 66 6f 2e 78
      00 00 00 01 00 00 00 03 00 00 00 01 00 00 00 00`);
    assert.equal(b.length, 68);
    assert.deepEqual(b, expected);
    const p = decodeGuestRpcPacket(expected);
    assert.equal(p.type, 1);
    assert.equal(p.payload?.toString(), 'info-get guestinfo.x');
    assert.equal(p.fastClose, true);
  });

  it('encodes PING (20 bytes) and the OK ATR toolbox reply (46 bytes)', () => {
    assert.deepEqual(encodeGuestRpcPacket({ type: 2 }), hex('00 00 00 10 00 00 00 01 00 00 00 01 00 00 00 02 00 00 00 00'));
    const r = encodeGuestRpcPacket({ type: 1, payload: Buffer.from('OK ATR toolbox') });
    assert.equal(r.length, 46);
    assert.equal(r.readUInt32BE(0), 0x2a);
  });

  it('round-trips every field type, in ascending id order', () => {
    const map = new Map([
      [9, { type: 'stringlist' as const, value: [Buffer.from('a'), Buffer.alloc(0), Buffer.from([0, 255])] }],
      [3, { type: 'int64list' as const, value: [0n, -1n, 0x123456789abcdefn] }],
      [1, { type: 'int64' as const, value: -2n }],
      [2, { type: 'string' as const, value: Buffer.from('héllo') }],
    ]);
    const b = encodeDataMap(map);
    assert.deepEqual([...decodeDataMap(b).keys()], [1, 2, 3, 9]);
    assert.deepEqual(decodeDataMap(b), map);
    // INT64 is low word then high word.
    const one = encodeDataMap(new Map([[5, { type: 'int64' as const, value: 0x0000000100000002n }]]));
    assert.deepEqual(one.subarray(12), hex('00 00 00 02 00 00 00 01'));
  });

  it('rejects L > buffer, unknown types, duplicate ids and truncated entries', () => {
    const good = encodeGuestRpcPacket({ type: 2 });
    const tooLong = Buffer.from(good);
    tooLong.writeUInt32BE(17, 0);
    assert.throws(() => decodeDataMap(tooLong), DataMapError);
    const unknown = Buffer.from(good);
    unknown.writeInt32BE(5, 4);
    assert.throws(() => decodeDataMap(unknown), /unknown DataMap field type/);
    const dup = Buffer.concat([hex('00 00 00 20'), good.subarray(4), good.subarray(4)]);
    assert.throws(() => decodeDataMap(dup), /duplicate/);
    const trunc = hex('00 00 00 0c 00 00 00 02 00 00 00 02 00 00 00 05');
    assert.throws(() => decodeDataMap(trunc), /truncated/);
    assert.throws(() => packetLength(hex('80 00 00 00')), DataMapError);
    assert.equal(packetLength(hex('00 00')), null);
    assert.equal(packetLength(good), 20);
  });
});

function tmpSock(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sim05-')), name);
}

function connect(p: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(p, () => resolve(s));
    s.once('error', reject);
  });
}

describe('05 VMX simulator: vsock host (channel.md §6.2–6.4)', () => {
  let host: VmxHost;
  let vs: VsockHost;
  let rpciPath: string;
  let tcloPath: string;

  beforeEach(async () => {
    host = newHost({ guestinfo: { 'guestinfo.v': 'vsock!' } });
    vs = new VsockHost(host);
    rpciPath = tmpSock('rpci.sock');
    tcloPath = tmpSock('tclo.sock');
    await vs.listen(rpciPath, { role: 'rpci', privileged: false });
    await vs.listen(tcloPath, { role: 'tclo' });
  });
  afterEach(async () => {
    await vs.close();
  });

  it('serves RPCI requests and closes after FAST_CLOSE', async () => {
    const s = await connect(rpciPath);
    const next = packetReader(s);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    // Two requests written in one chunk, the second split across writes.
    const a = encodeGuestRpcPacket({ type: 1, payload: Buffer.from('info-get guestinfo.v\0') });
    const b = encodeGuestRpcPacket({ type: 1, payload: Buffer.from('info-get guestinfo.v'), fastClose: true });
    s.write(Buffer.concat([a, b.subarray(0, 7)]));
    assert.equal(decodeGuestRpcPacket(await next()).payload?.toString(), '1 vsock!');
    s.write(b.subarray(7));
    const r2 = decodeGuestRpcPacket(await next());
    assert.equal(r2.type, 1);
    assert.equal(r2.payload?.toString(), '1 vsock!');
    await closed;
    const log = host.getRpcLog();
    assert.equal(log.length, 2);
    assert.equal(log[0].transport, 'vsock');
    host.setPrivilegedOnly('info-get', true);
    const s2 = await connect(rpciPath);
    const next2 = packetReader(s2);
    s2.write(encodeGuestRpcPacket({ type: 1, payload: Buffer.from('info-get guestinfo.v'), fastClose: true }));
    assert.equal(decodeGuestRpcPacket(await next2()).payload?.toString(), '0 Permission denied');
  });

  it('pushes TCLO commands, takes replies and counts PINGs', async () => {
    const pending = host.sendTclo('reset'); // queued before the guest connects
    const s = await connect(tcloPath);
    const next = packetReader(s);
    const cmd = decodeGuestRpcPacket(await next());
    assert.equal(cmd.payload?.toString(), 'reset');
    s.write(encodeGuestRpcPacket({ type: 1, payload: Buffer.from('OK ATR toolbox') }));
    assert.equal((await pending).toString(), 'OK ATR toolbox');
    s.write(encodeGuestRpcPacket({ type: 2 }));
    const p2 = host.sendTclo('ping');
    assert.equal(decodeGuestRpcPacket(await next()).payload?.toString(), 'ping');
    s.write(encodeGuestRpcPacket({ type: 1, payload: Buffer.from('OK ') }));
    assert.equal((await p2).toString(), 'OK ');
    assert.equal(vs.stats.pings, 1);
    s.destroy();
  });

  it('closes the stream on a malformed packet', async () => {
    const s = await connect(rpciPath);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.write(Buffer.from('00000008000000090000000a', 'hex'));
    await closed;
    assert.equal(vs.stats.protocolErrors, 1);
  });
});

/** Sends request frames over a UNIX socket and reads replies (a Node stand-in for the C shim). */
class FrameClient {
  private buf = Buffer.alloc(0);
  private waiting: Array<() => void> = [];
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiting.splice(0).forEach((f) => f());
    });
  }
  async read(): Promise<TrapReply> {
    for (;;) {
      if (this.buf.length >= FRAME_HEADER) {
        const n = FRAME_HEADER + this.buf.readUInt32LE(72);
        if (this.buf.length >= n) {
          const f = this.buf.subarray(0, n);
          this.buf = this.buf.subarray(n);
          return decodeReply(f);
        }
      }
      await new Promise<void>((r) => this.waiting.push(r));
    }
  }
}

describe('05 VMX simulator: trap socket framing', () => {
  it('answers frames split across writes and several frames per write, in order', async () => {
    const host = newHost();
    const srv = new ShimServer(host);
    const p = tmpSock('trap.sock');
    await srv.listen(p);
    try {
      const c = new FrameClient(await connect(p));
      const gv = encodeRequest({ kind: 1, pid: 9, tid: 9, regs: regs({ rcx: 10n }), payload: Buffer.alloc(0) });
      for (const cut of [1, 4, 40, 75]) {
        c.sock.write(gv.subarray(0, cut));
        await new Promise((r) => setImmediate(r));
        c.sock.write(gv.subarray(cut));
        const rep = await c.read();
        assert.equal(rep.action, 0);
        assert.equal(rep.regs.rax, 6n);
      }
      const bad = encodeRequest({ kind: 1, pid: 9, tid: 9, regs: regs({ rax: 0n }), payload: Buffer.alloc(0) });
      c.sock.write(Buffer.concat([gv, bad, gv]));
      assert.equal((await c.read()).action, 0);
      assert.equal((await c.read()).action, 1);
      assert.equal((await c.read()).regs.rbx, MAGIC);
      assert.equal(srv.stats.frames, 7);
      assert.equal(host.counters().byPid['9'].total, 7);
    } finally {
      await srv.close();
    }
    assert.equal(fs.existsSync(p), false, 'socket unlinked on close');
  });
});

describe('05 VMX simulator: process, harness and control API', function () {
  this.timeout(20000);

  it('starts, serves traps and control ops, and stops cleanly', async () => {
    const sim = await startSimulator({ guestinfo: { foo: 'seeded' }, trapSocket: tmpSock('trap.sock') });
    try {
      const env = sim.env({ preload: true });
      assert.equal(env.VMTOOLSD_SIM_SOCKET, sim.trapSocket);
      assert.match(env.LD_PRELOAD, /vmtoolsd_trap_shim\.so$/);
      assert.equal((await sim.client.getGuestInfo('guestinfo.foo'))?.toString(), 'seeded');
      await sim.client.setGuestInfo('guestinfo.bar', Buffer.from([0x61, 0x00, 0x62]));

      // Drive one RPCI exchange through the trap socket by hand (HB, one-shot).
      const c = new FrameClient(await connect(sim.trapSocket));
      const call = async (kind: TrapKind, r: Partial<Regs>, payload: Buffer = Buffer.alloc(0)): Promise<TrapReply> => {
        c.sock.write(encodeRequest({ kind, pid: 77, tid: 77, regs: regs(r), payload }));
        return c.read();
      };
      const open = await call(1, { rbx: BigInt(RPCI_PROTOCOL_NUM) | COOKIE, rcx: 0x1en });
      const id = BigInt(hi16(open.regs.rdx));
      const sel = { rdx: (id << 16n) | LB_PORT, rsi: open.regs.rsi, rdi: open.regs.rdi };
      const req = Buffer.from('info-get guestinfo.bar');
      const size = await call(1, { rbx: BigInt(req.length), rcx: 0x0001001en, ...sel });
      assert.equal(hi16(size.regs.rcx), MSG_STATUS.SUCCESS | MSG_STATUS.HB);
      const out = await call(2, { rbx: 0x10000n, rcx: BigInt(req.length), rdx: (id << 16n) | HB_PORT, rsi: 0x1000n, rdi: open.regs.rdi, rbp: open.regs.rsi }, req);
      assert.equal(hi16(out.regs.rbx), MSG_STATUS.SUCCESS);
      const rs = await call(1, { rcx: 0x0003001en, ...sel });
      assert.equal(lo32(rs.regs.rbx), 5);
      const hbin = await call(3, { rbx: 0x10000n, rcx: 5n, rdx: (id << 16n) | HB_PORT, rsi: open.regs.rsi, rdi: 0x2000n, rbp: open.regs.rdi });
      assert.deepEqual(hbin.payload, Buffer.from('1 a\0b'));
      await call(1, { rbx: 1n, rcx: 0x0005001en, ...sel });
      await call(1, { rcx: 0x0006001en, ...sel });
      c.sock.destroy();

      const counters = await sim.client.getCounters();
      assert.equal(counters.byPid['77'].total, 7);
      const log = await sim.client.getRpcLog();
      assert.deepEqual(log.map((e) => e.request?.toString()), ['info-get guestinfo.bar']);
      assert.deepEqual(log[0].reply, Buffer.from('1 a\0b'));

      await sim.client.setHb(false);
      assert.equal((await sim.client.getConfig()).hb, false);
      assert.equal(await sim.client.setClockOffset({ ms: 1500 }), 1500000);
      await sim.client.setCannedReply('my.cmd', '1 canned');
      assert.equal((await sim.client.listCannedReplies())['my.cmd'], '1 canned');
      await assert.rejects(sim.client.sendTclo('ping', { timeoutMs: 50 }), /timed out/);
      await assert.rejects(sim.client.request('no.such.op'), /unknown op/);
      await sim.client.resetCounters();
      assert.equal((await sim.client.getCounters()).total, 0);
    } finally {
      await sim.stop();
    }
    assert.equal(fs.existsSync(sim.trapSocket), false);
    assert.equal(fs.existsSync(sim.dir), false);
  });

  it('serves a vsock stream passed as a file descriptor', async () => {
    const sim = await startSimulator({ trapSocket: tmpSock('trap.sock'), vsockPipes: ['rpci'] });
    try {
      const s = sim.vsockPipes[0];
      s.resume();
      const next = packetReader(s);
      s.write(encodeGuestRpcPacket({ type: 1, payload: Buffer.from('sim.echo fd') }));
      assert.equal(decodeGuestRpcPacket(await next()).payload?.toString(), '1 fd');
    } finally {
      await sim.stop();
    }
  });
});
