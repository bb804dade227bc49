/**
 * The message layer (channel.md §3.4–3.7) against the VMX simulator: exact
 * bytes in both directions, in high and low bandwidth, exact backdoor call
 * counts, checkpoint recovery, and every failure mapped to its error code.
 */
import assert from 'node:assert/strict';
import * as nat from '../src/native';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, pieces, sleep, startSim, testBytes, expectCode } from './helpers/native-env';

const SIZES = [0, 1, 3, 4, 5, 4095, 65536];
const EMPTY = Buffer.alloc(0);

type Stats = nat.BackdoorStats;

/** What changed in the counters while fn ran. */
function delta<T>(fn: () => T): { result: T; d: Record<string, number> } {
  const a = nat.stats();
  const result = fn();
  const b = nat.stats();
  const d: Record<string, number> = {};
  const put = (k: string, v: number): void => {
    if (v !== 0) d[k] = v;
  };
  for (const k of Object.keys(b.lbMessage) as Array<keyof Stats['lbMessage']>) put(k, b.lbMessage[k] - a.lbMessage[k]);
  put('hbOut', b.hbOut - a.hbOut);
  put('hbIn', b.hbIn - a.hbIn);
  put('otherLb', b.lb - a.lb - Object.values(b.lbMessage).reduce((x, y) => x + y, 0) + Object.values(a.lbMessage).reduce((x, y) => x + y, 0));
  return { result, d };
}

/** Expected counters for sending q bytes (§3.7). */
function sendCounts(q: number, hb: boolean): Record<string, number> {
  if (hb) return q > 0 ? { SENDSIZE: 1, hbOut: 1 } : { SENDSIZE: 1 };
  return q > 0 ? { SENDSIZE: 1, SENDPAYLOAD: pieces(q) } : { SENDSIZE: 1 };
}

/** Expected counters for receiving a queued p-byte message (§3.7). */
function recvCounts(p: number, hb: boolean): Record<string, number> {
  if (hb) return p > 0 ? { RECVSIZE: 1, hbIn: 1, RECVSTATUS: 1 } : { RECVSIZE: 1, RECVSTATUS: 1 };
  return p > 0 ? { RECVSIZE: 1, RECVPAYLOAD: pieces(p), RECVSTATUS: 1 } : { RECVSIZE: 1, RECVSTATUS: 1 };
}

describeUnderShim(__filename, 'message layer (backdoor, simulator)', function () {
  let sim: SimHandle;
  const UNKNOWN = Buffer.from('0 Unknown command');

  before(async () => {
    sim = await startSim();
  });
  after(async () => {
    await sim?.stop();
  });
  afterEach(async () => {
    await sim.client.clearCheckpoints();
    await sim.client.setConfig({ hb: true, refuseCookieOpen: false });
  });

  /** The host's last complete RPCI request on channel `id`. */
  async function lastRequest(id: number, since: number): Promise<Buffer | null> {
    const log = await sim.client.getRpcLog(since);
    const mine = log.filter((e) => e.proto === 'RPCI' && e.channel === id && e.pid === process.pid);
    return mine.length ? mine[mine.length - 1].request : null;
  }

  async function logSeq(): Promise<number> {
    const log = await sim.client.getRpcLog();
    return log.length ? log[log.length - 1].seq : 0;
  }

  // -------------------------------------------------------------------------
  for (const mode of ['HB', 'LB (forced)', 'LB (host denies HB)'] as const) {
    const hb = mode === 'HB';
    describe(`guest→host, ${mode}`, () => {
      let ch: nat.Channel;
      before(async () => {
        ch = new nat.Channel().open('RPCI', { forceLowBandwidth: mode === 'LB (forced)' });
      });
      beforeEach(async () => {
        if (mode === 'LB (host denies HB)') await sim.client.setHb(false);
      });
      after(() => ch.close());

      for (const q of SIZES) {
        it(`${q} bytes arrive byte-exact with ${hb ? 'HB' : 'LB'} call counts`, async function () {
          this.timeout(60000);
          const payload = testBytes(q, q + 1);
          const since = await logSeq();
          const sent = delta(() => ch.send(payload));
          assert.deepEqual(sent.d, sendCounts(q, hb));
          const got = delta(() => ch.receive());
          assert.deepEqual(got.result, UNKNOWN, 'the host answered the request');
          assert.deepEqual(got.d, recvCounts(UNKNOWN.length, hb));
          assert.deepEqual(await lastRequest(ch.info.id, since), payload);
        });
      }
    });
  }

  // -------------------------------------------------------------------------
  for (const mode of ['HB', 'LB (forced)'] as const) {
    const hb = mode === 'HB';
    describe(`host→guest (TCLO), ${mode}`, () => {
      let ch: nat.Channel;
      before(() => {
        ch = new nat.Channel().open('TCLO', { forceLowBandwidth: !hb });
        // §5.1: the host delivers nothing until the guest has sent.
        assert.equal(ch.tcloPoll(EMPTY), null);
      });
      after(() => ch.close());

      for (const c of [...SIZES, 200000]) {
        it(`a ${c}-byte command arrives byte-exact with ${hb ? 'HB' : 'LB'} call counts; the reply goes back exact`, async function () {
          this.timeout(60000);
          const cmd = testBytes(c, 7 * c + 3);
          const reply = Buffer.concat([Buffer.from('OK '), testBytes(c % 1000, c)]);
          const answered = sim.client.sendTclo(cmd, { channel: ch.info.id, timeoutMs: 30000 });
          let got: { result: Buffer | null; d: Record<string, number> } = { result: null, d: {} };
          for (let i = 0; i < 2000 && got.result === null; i++) {
            got = delta(() => ch.receive());
            if (got.result === null) {
              assert.deepEqual(got.d, { RECVSIZE: 1 }, 'an empty receive is one call');
              await sleep(2);
            }
          }
          assert.ok(got.result !== null, 'command delivered');
          assert.equal(got.result.length, c);
          assert.ok(got.result.equals(cmd), 'command bytes differ');
          assert.deepEqual(got.d, recvCounts(c, hb));
          const sent = delta(() => ch.send(reply));
          assert.deepEqual(sent.d, sendCounts(reply.length, hb));
          assert.ok((await answered).equals(reply), 'reply bytes differ');
        });
      }
    });
  }

  // -------------------------------------------------------------------------
  describe('checkpoints', () => {
    let ch: nat.Channel;
    afterEach(() => ch?.close());

    it('mid-send (LB): restarts from SENDSIZE, the host gets the message once, exact', async () => {
      ch = new nat.Channel().open('RPCI', { forceLowBandwidth: true });
      const payload = testBytes(20, 99);
      await sim.client.injectCheckpoint({ phase: 'send', afterCalls: 2, count: 1, channel: ch.info.id });
      const since = await logSeq();
      const { d } = delta(() => ch.send(payload));
      // SENDSIZE, 2 pieces, CPT on the 3rd; then SENDSIZE and all 5 pieces.
      assert.deepEqual(d, { SENDSIZE: 2, SENDPAYLOAD: 3 + 5 });
      assert.deepEqual(ch.receive(), UNKNOWN);
      assert.deepEqual(await lastRequest(ch.info.id, since), payload);
      assert.equal((await sim.client.getRpcLog(since)).filter((e) => e.channel === ch.info.id).length, 1);
    });

    it('mid-send (HB): resends size and data', async () => {
      ch = new nat.Channel().open('RPCI');
      const payload = testBytes(4095, 5);
      await sim.client.injectCheckpoint({ phase: 'send', count: 1, channel: ch.info.id });
      const since = await logSeq();
      assert.deepEqual(delta(() => ch.send(payload)).d, { SENDSIZE: 2, hbOut: 2 });
      assert.deepEqual(ch.receive(), UNKNOWN);
      assert.deepEqual(await lastRequest(ch.info.id, since), payload);
    });

    it('mid-receive (LB): restarts from RECVSIZE and returns the whole message', async () => {
      ch = new nat.Channel().open('RPCI', { forceLowBandwidth: true });
      ch.send('x');
      await sim.client.injectCheckpoint({ phase: 'receive', afterCalls: 1, count: 1, channel: ch.info.id });
      const got = delta(() => ch.receive());
      assert.deepEqual(got.result, UNKNOWN);
      // RECVSIZE, piece 1, CPT on piece 2; RECVSIZE, 5 pieces, RECVSTATUS.
      assert.deepEqual(got.d, { RECVSIZE: 2, RECVPAYLOAD: 2 + pieces(UNKNOWN.length), RECVSTATUS: 1 });
    });

    it('mid-receive (HB): a CPT on rep insb, then on RECVSTATUS, both recovered', async () => {
      ch = new nat.Channel().open('RPCI');
      ch.send('x');
      await sim.client.injectCheckpoint({ phase: 'receive', count: 1, channel: ch.info.id });
      let got = delta(() => ch.receive());
      assert.deepEqual(got.result, UNKNOWN);
      assert.deepEqual(got.d, { RECVSIZE: 2, hbIn: 2, RECVSTATUS: 1 });

      ch.send('x');
      await sim.client.injectCheckpoint({ phase: 'receive', afterCalls: 1, count: 1, channel: ch.info.id });
      got = delta(() => ch.receive());
      assert.deepEqual(got.result, UNKNOWN);
      assert.deepEqual(got.d, { RECVSIZE: 2, hbIn: 2, RECVSTATUS: 2 });
    });

    it('persistent checkpoints mid-send: CHECKPOINT_LIMIT after 16 restarts, no hang', async () => {
      ch = new nat.Channel().open('RPCI');
      await sim.client.injectCheckpoint({ phase: 'send', count: 'always', channel: ch.info.id });
      const t0 = Date.now();
      expectCode(() => ch.send('info-get guestinfo.x'), 'CHECKPOINT_LIMIT', /16 consecutive checkpoint restarts at HB send on RPCI channel \d+ \(status 0x0010\)/);
      assert.ok(Date.now() - t0 < 5000);
    });

    it('persistent checkpoints: exact call counts (LB send, HB receive)', async () => {
      ch = new nat.Channel().open('RPCI', { forceLowBandwidth: true });
      await sim.client.injectCheckpoint({ phase: 'send', count: 'always', channel: ch.info.id });
      let a = nat.stats();
      expectCode(() => ch.send('abcdefgh'), 'CHECKPOINT_LIMIT', /at SENDPAYLOAD/);
      let b = nat.stats();
      assert.equal(b.lbMessage.SENDSIZE - a.lbMessage.SENDSIZE, 17, '1 + 16 restarts');
      assert.equal(b.lbMessage.SENDPAYLOAD - a.lbMessage.SENDPAYLOAD, 17);
      await sim.client.clearCheckpoints();
      ch.close();

      ch = new nat.Channel().open('RPCI');
      ch.send('x');
      await sim.client.injectCheckpoint({ phase: 'receive', count: 'always', channel: ch.info.id });
      a = nat.stats();
      expectCode(() => ch.receive(), 'CHECKPOINT_LIMIT', /at HB receive/);
      b = nat.stats();
      assert.equal(b.lbMessage.RECVSIZE - a.lbMessage.RECVSIZE, 17);
      assert.equal(b.hbIn - a.hbIn, 17);
      // §3.6 error path: the host is told (RECVPAYLOAD with status 0, HB quirk).
      assert.equal(b.lbMessage.RECVPAYLOAD - a.lbMessage.RECVPAYLOAD, 1);
      // Once the checkpoints stop, the host offers the message again.
      await sim.client.clearCheckpoints();
      assert.deepEqual(ch.receive(), UNKNOWN);
    });
  });

  // -------------------------------------------------------------------------
  describe('failures', () => {
    it('a message over 65536 bytes: TOO_LARGE with zero backdoor calls', async () => {
      const ch = new nat.Channel().open('RPCI');
      await sim.client.resetCounters();
      nat.resetStats();
      expectCode(() => ch.send(Buffer.alloc(65537)), 'TOO_LARGE', /65537 bytes exceeds the host limit of 65536/);
      expectCode(() => ch.rpc(Buffer.alloc(65537)), 'TOO_LARGE');
      expectCode(() => nat.rpcOneShot(Buffer.alloc(100000)), 'TOO_LARGE');
      assert.equal(nat.stats().total, 0);
      assert.equal((await sim.client.getCountersForPid(process.pid)).total, 0);
      ch.close();
    });

    it('host-closed channel: CHANNEL_CLOSED (status has CLOSED)', async () => {
      const ch = new nat.Channel().open('RPCI');
      const id = ch.info.id;
      assert.equal(await sim.client.closeChannel(id), true);
      expectCode(() => ch.send('x'), 'CHANNEL_CLOSED', new RegExp(`host closed RPCI channel ${id} at SENDSIZE \\(status 0x0004\\)`));
      expectCode(() => ch.receive(), 'CHANNEL_CLOSED', /at RECVSIZE/);
      expectCode(() => ch.close(), 'CHANNEL_CLOSED', /at CLOSE/);
      assert.equal(ch.isOpen, false, 'closed locally even though the host refused');
    });

    it('cookie mismatch: HOST_REFUSED naming the step, channel and status', async () => {
      const ch = new nat.Channel().open('RPCI');
      const id = ch.info.id;
      assert.equal(ch.info.cookie, true);
      assert.equal(await sim.client.rotateCookie(id), true);
      const e = expectCode(() => ch.send('x'), 'HOST_REFUSED');
      assert.equal(e.message, `host refused SENDSIZE on RPCI channel ${id} (status 0x0000)`);
      assert.equal(e.stage, 'send');
      expectCode(() => ch.receive(), 'HOST_REFUSED', new RegExp(`host refused RECVSIZE on RPCI channel ${id}`));
      expectCode(() => ch.close(), 'HOST_REFUSED', /CLOSE/);
    });

    it('a cookie the host never issued (setCookieForTesting): HOST_REFUSED on every step', () => {
      const ch = new nat.Channel().open('TCLO');
      ch.setCookieForTesting(1, 2);
      expectCode(() => ch.tcloPoll(EMPTY), 'HOST_REFUSED', /SENDSIZE on TCLO channel/);
      expectCode(() => ch.receive(), 'HOST_REFUSED', /RECVSIZE on TCLO channel/);
      expectCode(() => ch.close(), 'HOST_REFUSED');
    });

    it('a channel that is not open: NOT_OPEN, no backdoor call', () => {
      const ch = new nat.Channel();
      nat.resetStats();
      expectCode(() => ch.send('x'), 'NOT_OPEN');
      expectCode(() => ch.receive(), 'NOT_OPEN');
      expectCode(() => ch.rpc('x'), 'NOT_OPEN');
      ch.close(); // closing a closed channel is a no-op
      assert.equal(nat.stats().total, 0);
    });

    it('argument types are checked in TypeScript', () => {
      const ch = new nat.Channel();
      assert.throws(() => ch.open('XXXX' as nat.Protocol), TypeError);
      assert.throws(() => ch.send(42 as unknown as Buffer), TypeError);
      assert.throws(() => ch.open('RPCI', { forceLowBandwidth: 'yes' as unknown as boolean }), TypeError);
    });
  });

  // -------------------------------------------------------------------------
  describe('open, close and polls', () => {
    it('OPEN asks for a cookie first and retries once without (old hosts)', async () => {
      let ch = new nat.Channel();
      assert.deepEqual(delta(() => ch.open('RPCI')).d, { OPEN: 1 });
      assert.equal(ch.info.cookie, true);
      ch.close();
      await sim.client.setRefuseCookieOpen(true);
      ch = new nat.Channel();
      assert.deepEqual(delta(() => ch.open('RPCI')).d, { OPEN: 2 });
      assert.equal(ch.info.cookie, false);
      assert.deepEqual(ch.rpc('info-get guestinfo.none'), { ok: false, reply: Buffer.from('No value found') });
      ch.close();
    });

    it('an empty receive is one RECVSIZE and returns null; a TCLO idle poll is 2 calls', () => {
      const ch = new nat.Channel().open('TCLO');
      assert.deepEqual(delta(() => ch.receive()), { result: null, d: { RECVSIZE: 1 } });
      assert.deepEqual(delta(() => ch.tcloPoll(EMPTY)), { result: null, d: { SENDSIZE: 1, RECVSIZE: 1 } });
      assert.deepEqual(delta(() => ch.close()).d, { CLOSE: 1 });
    });

    it('opening and closing 300 channels never exhausts the host (limit 128)', async () => {
      const mineNow = async (): Promise<number> => (await sim.client.listChannels()).filter((c) => c.pid === process.pid).length;
      const before = await mineNow();
      for (let i = 0; i < 300; i++) {
        const ch = new nat.Channel().open(i % 2 ? 'RPCI' : 'TCLO');
        ch.close();
      }
      assert.equal(await mineNow(), before);
    });

    it('reopening an open channel closes the old one first', async () => {
      const ch = new nat.Channel().open('RPCI');
      const first = ch.info.id;
      assert.deepEqual(delta(() => ch.open('TCLO')).d, { CLOSE: 1, OPEN: 1 });
      const ids = (await sim.client.listChannels()).filter((c) => c.pid === process.pid).map((c) => c.id);
      assert.ok(!ids.includes(first));
      assert.equal(ch.info.protocol, 'TCLO');
      ch.close();
    });
  });
});
