/**
 * TCLO over vsock, the push model (channel.md §6.4): the addon's
 * event-driven channel byte for byte through a socketpair, the push session
 * (dispatch, reply at once, 1 s PING heartbeat) and the daemon's vsock-first
 * choice against the simulator's vsock stand-in (a UNIX socket for CID 0
 * port 975).
 *
 * No test here creates an AF_VSOCK socket: this machine has a real
 * virtio-vsock device, and the hypervisor connect must be refused before any
 * socket call unless the real CPU says VMware.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  ChannelError,
  connectUnixForTesting,
  encodePacket,
  GUESTRPCPKT_TYPE_DATA,
  GUESTRPCPKT_TYPE_PING,
  socketpair,
  VsockTcloChannel,
} from '../src/native';
import { RpcOut } from '../src/rpc/rpcout';
import { TcloDispatcher } from '../src/rpc/tclo';
import { Daemon } from '../src/daemon/daemon';
import { TCLO_HEARTBEAT_INTERVAL_MS, VsockTcloSession } from '../src/daemon/vsockTcloSession';
import { decodeGuestRpcPacket, GuestRpcPacket, packetLength } from '../src/sim/datamap';
import type { SimHandle } from '../src/sim/harness';
import { BackdoorRpci, BackdoorTclo } from '../src/transport/backdoor';
import { VsockTclo } from '../src/transport/vsockTclo';
import { describeUnderShim, expectCode, NATIVE_ADDON, REPO_ROOT, sleep, startSim, testBytes } from './helpers/native-env';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** channel.md §6.3: the heartbeat, 20 bytes. */
const PING_20 = hex('00 00 00 10 00 00 00 01 00 00 00 01 00 00 00 02 00 00 00 00');
const be32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** Waits until cond() holds (polling every 5 ms), or fails after ms. */
async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The host's end of a socketpair: writes raw bytes, collects the guest's packets with arrival times. */
class HostEnd {
  readonly packets: Array<{ at: number; raw: Buffer; p: GuestRpcPacket }> = [];
  ended = false;
  private pending = Buffer.alloc(0);

  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.pending = Buffer.concat([this.pending, d]);
      for (let n = packetLength(this.pending); n !== null && this.pending.length >= n; n = packetLength(this.pending)) {
        const raw = this.pending.subarray(0, n);
        this.pending = this.pending.subarray(n);
        this.packets.push({ at: Date.now(), raw: Buffer.from(raw), p: decodeGuestRpcPacket(raw) });
      }
    });
    sock.on('end', () => (this.ended = true));
    sock.on('close', () => (this.ended = true));
    sock.on('error', () => undefined);
  }

  send(bytes: Buffer): void {
    this.sock.write(bytes);
  }

  command(text: string | Buffer): void {
    this.send(encodePacket(GUESTRPCPKT_TYPE_DATA, text));
  }

  close(): void {
    this.sock.destroy();
  }
}

/** A socketpair: the guest end's fd (for the channel) and the host end. */
function pair(): { fd: number; host: HostEnd } {
  const [a, b] = socketpair();
  return { fd: a, host: new HostEnd(new net.Socket({ fd: b, readable: true, writable: true })) };
}

describe('TCLO over vsock: the channel (socketpair)', function () {
  before(function () {
    if (!fs.existsSync(NATIVE_ADDON)) this.skip();
  });

  let host: HostEnd | undefined;
  let ch: VsockTcloChannel | undefined;
  afterEach(() => {
    ch?.close();
    host?.close();
    ch = undefined;
    host = undefined;
  });

  /** A started channel on a socketpair, recording what it delivers. */
  function started(): { got: Buffer[]; closes: Array<ChannelError | null> } {
    const p = pair();
    host = p.host;
    ch = VsockTcloChannel.fromFd(p.fd);
    const got: Buffer[] = [];
    const closes: Array<ChannelError | null> = [];
    ch.start(
      (payload) => got.push(payload),
      (err) => closes.push(err),
    );
    return { got, closes };
  }

  it('delivers each pushed payload exactly and answers with exact DATA and PING packets (§6.3)', async () => {
    const { got } = started();
    const binary = Buffer.concat([Buffer.from('echo '), testBytes(5000)]);
    host!.command('reset');
    host!.command(binary);
    await until(() => got.length === 2, 3000, 'two commands');
    assert.deepEqual(got[0], Buffer.from('reset'));
    assert.deepEqual(got[1], binary);

    ch!.reply('OK ATR toolbox');
    ch!.ping();
    await until(() => host!.packets.length === 2, 3000, 'reply and ping');
    const [reply, ping] = host!.packets;
    // §6.3: L = 16 + 12 + 14 = 42, 46 bytes; DATA, the payload, no FAST_CLOSE.
    assert.equal(reply.raw.length, 46);
    assert.equal(reply.raw.readUInt32BE(0), 0x2a);
    assert.deepEqual(reply.raw, encodePacket(GUESTRPCPKT_TYPE_DATA, 'OK ATR toolbox'));
    assert.deepEqual(reply.p, { type: GUESTRPCPKT_TYPE_DATA, payload: Buffer.from('OK ATR toolbox'), fastClose: false });
    assert.deepEqual(ping.raw, PING_20);
  });

  it('reassembles packets split anywhere and several packets in one write, in order', async () => {
    const { got } = started();
    const cmds = ['ping', 'Set_Option broadcastIP 1', 'x'.repeat(70000), 'Capabilities_Register'];
    const wire = Buffer.concat(cmds.map((c) => encodePacket(GUESTRPCPKT_TYPE_DATA, c)));
    // Byte by byte for the first packet, then the rest in one go.
    const first = encodePacket(GUESTRPCPKT_TYPE_DATA, cmds[0]).length;
    for (let i = 0; i < first; i++) {
      host!.send(wire.subarray(i, i + 1));
      await sleep(1);
    }
    host!.send(wire.subarray(first));
    await until(() => got.length === cmds.length, 3000, 'all commands');
    assert.deepEqual(
      got.map((b) => b.toString()),
      cmds,
    );
  });

  it('a packet without a payload field is a protocol error that closes the channel (§6.4 step 3)', async () => {
    const { got, closes } = started();
    host!.command('ping');
    host!.send(encodePacket(GUESTRPCPKT_TYPE_DATA, null)); // DATA, no field 2
    host!.command('never delivered');
    await until(() => closes.length === 1, 3000, 'onClosed');
    assert.deepEqual(got.map(String), ['ping']);
    const e = closes[0];
    assert.ok(e instanceof ChannelError, String(e));
    assert.equal(e.code, 'PROTOCOL');
    assert.match(e.message, /host packet without a payload field/);
    assert.equal(ch!.info.open, false);
    await until(() => host!.ended, 3000, 'the host end to see EOF');
    expectCode(() => ch!.reply('OK '), 'NOT_OPEN');
  });

  it('rejects a corrupt DataMap, an impossible length and an oversized packet', async () => {
    const cases: Array<[Buffer, string, RegExp]> = [
      // STRING field whose length runs past the packet
      [Buffer.concat([be32(12), be32(2), be32(2), be32(100)]), 'PROTOCOL', /truncated DataMap/],
      [be32(0xfffffff0), 'PROTOCOL', /claims 4294967280 bytes/],
      [be32(65 << 20), 'TOO_LARGE', /over the 67108864-byte limit/],
    ];
    for (const [bytes, code, message] of cases) {
      const { closes } = started();
      host!.send(bytes);
      await until(() => closes.length === 1, 3000, `onClosed for ${code}`);
      assert.equal(closes[0]?.code, code);
      assert.match(closes[0]!.message, message);
      host!.close();
      ch!.close();
    }
  });

  it('reports a clean host close as null, a close mid-packet as CHANNEL_CLOSED', async () => {
    let s = started();
    host!.sock.end();
    await until(() => s.closes.length === 1, 3000, 'onClosed');
    assert.equal(s.closes[0], null);
    host!.close();

    s = started();
    host!.sock.end(encodePacket(GUESTRPCPKT_TYPE_DATA, 'cut short').subarray(0, 10));
    await until(() => s.closes.length === 1, 3000, 'onClosed');
    assert.equal(s.closes[0]?.code, 'CHANNEL_CLOSED');
    assert.match(s.closes[0]!.message, /middle of a packet/);
  });

  it('close() is idempotent, never calls onClosed, and gives the fd back', async () => {
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 20; i++) {
      const { closes } = started();
      ch!.close();
      ch!.close();
      host!.close();
      await sleep(2);
      assert.deepEqual(closes, []);
      assert.deepEqual(ch!.info, { open: false, started: false, sendBufferSize: null, recvBufferSize: null });
    }
    await sleep(20);
    assert.ok(fs.readdirSync('/proc/self/fd').length <= fdsBefore + 2, 'no fd leaked');
  });

  it('one connection per object; reports the socket buffers', () => {
    started();
    assert.throws(() => ch!.start(() => undefined, () => undefined), /already started/);
    const info = ch!.info;
    assert.equal(info.open, true);
    assert.equal(info.started, true);
    assert.ok(info.sendBufferSize! >= 65536 && info.recvBufferSize! >= 65536, JSON.stringify(info));
    assert.throws(() => ch!.reply(''), RangeError);
  });

  it('never reaches a real vsock host here: the hypervisor connect is refused (NOT_VMWARE)', () => {
    expectCode(() => VsockTcloChannel.connect(), 'NOT_VMWARE', /refusing a real vsock connect/);
    expectCode(() => VsockTclo.hypervisor().open(), 'NOT_VMWARE', /refusing a real vsock connect/);
    // Not even with the simulator's VMware override: the guard reads the real CPUID.
    const nativeIndex = JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'native', 'index.js'));
    const env: NodeJS.ProcessEnv = { ...process.env, VMTOOLSD_ASSUME_VMWARE: '1' };
    delete env.VMTOOLSD_SIM_SOCKET;
    delete env.LD_PRELOAD;
    const r = spawnSync(
      process.execPath,
      ['-e', `try { require(${nativeIndex}).VsockTcloChannel.connect(); console.log('CONNECTED'); } catch (e) { console.log(e.code + ': ' + e.message); }`],
      { encoding: 'utf8', env, timeout: 10000 },
    );
    assert.match(r.stdout, /^NOT_VMWARE: refusing a real vsock connect: CPUID hypervisor vendor is/);
  });

  it('a started channel goes with its environment: workers that exit or are terminated', function () {
    this.timeout(20000);
    const nativeIndex = JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'native', 'index.js'));
    // A worker's loop is closed with uv_loop_close after its environment is
    // freed; Node aborts the process if a handle is still open then.
    const script = `
      const { Worker } = require('node:worker_threads');
      (async () => {
        for (const how of ['exit', 'terminate', 'exit', 'terminate']) {
          const w = new Worker(\`
            const nat = require(${nativeIndex});
            const { parentPort } = require('node:worker_threads');
            const keep = [];
            for (let i = 0; i < 5; i++) {
              const [a, b] = nat.socketpair();
              const ch = nat.VsockTcloChannel.fromFd(a);
              ch.start(() => {}, () => {});
              keep.push(ch, b);
            }
            globalThis.keep = keep;
            parentPort.postMessage('started');
            if ('\${how}' === 'exit') setTimeout(() => process.exit(0), 20);\`, { eval: true });
          const exited = new Promise((r) => w.once('exit', r));
          await new Promise((r) => w.once('message', r));
          if (how === 'terminate') await w.terminate();
          const code = await exited;
          if (how === 'exit' && code !== 0) throw new Error('worker exit ' + code);
        }
        console.log('survived');
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    delete env.VMTOOLSD_SIM_SOCKET;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15000, env });
    assert.equal(r.status, 0, `status ${r.status} signal ${r.signal}: ${r.stderr}`);
    assert.match(r.stdout, /survived/);
  });
});

describe('TCLO over vsock: the push session (socketpair)', function () {
  before(function () {
    if (!fs.existsSync(NATIVE_ADDON)) this.skip();
  });

  let host: HostEnd | undefined;
  let session: VsockTcloSession | undefined;
  afterEach(() => {
    session?.stop();
    host?.close();
    session = undefined;
    host = undefined;
  });

  function run(d: TcloDispatcher, wrap?: (ch: VsockTcloChannel) => void): { errors: unknown[] } {
    const p = pair();
    host = p.host;
    const errors: unknown[] = [];
    let used = false;
    session = new VsockTcloSession({
      transport: new VsockTclo(() => {
        assert.equal(used, false, 'one connection');
        used = true;
        const ch = VsockTcloChannel.fromFd(p.fd);
        wrap?.(ch);
        return ch;
      }),
      dispatch: (cmd) => d.dispatch(cmd),
      onError: (e) => errors.push(e),
    });
    session.start();
    return { errors };
  }

  it('writes the reply right after dispatch: `OK ATR toolbox` before the reset hook runs (core-services.md §2.3)', async () => {
    const events: string[] = [];
    const d = new TcloDispatcher();
    // As CoreSession does: answer at once, run the hook from setImmediate.
    d.register('reset', () => {
      setImmediate(() => events.push('reset hook'));
      return { ok: true, result: 'ATR toolbox' };
    });
    run(d, (ch) => {
      const reply = ch.reply.bind(ch);
      ch.reply = (b) => {
        events.push('reply written');
        reply(b);
      };
    });
    host!.command('reset');
    await until(() => events.length === 2 && host!.packets.length === 1, 3000, 'reply and hook');
    assert.deepEqual(events, ['reply written', 'reset hook']);
    assert.deepEqual(host!.packets[0].raw, encodePacket(GUESTRPCPKT_TYPE_DATA, 'OK ATR toolbox'));
  });

  it('dispatches queued commands one at a time, in order, with the reference replies', async () => {
    const d = new TcloDispatcher();
    let inFlight = 0;
    let overlap = false;
    d.register('slow', async (args) => {
      overlap ||= inFlight > 0;
      inFlight++;
      await sleep(30);
      inFlight--;
      return { ok: true, result: args };
    });
    run(d);
    host!.send(Buffer.concat(['slow 1', 'slow 2', 'nosuch', '', 'slow 3'].map((c) => encodePacket(GUESTRPCPKT_TYPE_DATA, c))));
    await until(() => host!.packets.length === 5, 3000, 'five replies');
    assert.deepEqual(
      host!.packets.map((x) => x.p.payload?.toString()),
      ['OK  1', 'OK  2', 'ERROR Unknown Command', 'ERROR Bad command', 'OK  3'],
    );
    assert.equal(overlap, false, 'no two dispatches overlap');
  });

  it('no PING before the first reply, then one every second (§6.4 step 5)', async function () {
    this.timeout(10000);
    const d = new TcloDispatcher();
    d.register('ping', () => ({ ok: true, result: '' }));
    run(d);
    await sleep(1300);
    assert.equal(host!.packets.length, 0, 'nothing before the first command');
    host!.command('ping');
    await until(() => host!.packets.length === 1, 3000, 'the reply');
    const replied = host!.packets[0].at;
    await until(() => host!.packets.length === 3, 3500, 'two PINGs');
    const pings = host!.packets.slice(1);
    for (const x of pings) assert.deepEqual(x.raw, PING_20);
    const gaps = [pings[0].at - replied, pings[1].at - pings[0].at];
    for (const g of gaps) assert.ok(Math.abs(g - TCLO_HEARTBEAT_INTERVAL_MS) < 250, `PING gaps ${gaps.join(', ')} ms`);
    assert.equal(session!.pings, 2);
  });

  it('a protocol error ends the session with the error; no more PINGs', async () => {
    const d = new TcloDispatcher();
    d.register('ping', () => ({ ok: true, result: '' }));
    const { errors } = run(d);
    host!.command('ping');
    await until(() => host!.packets.length === 1, 3000, 'the reply');
    host!.send(encodePacket(GUESTRPCPKT_TYPE_PING, null)); // a host PING carries no payload either
    await until(() => errors.length === 1, 3000, 'onError');
    assert.ok(errors[0] instanceof ChannelError);
    assert.equal((errors[0] as ChannelError).code, 'PROTOCOL');
    assert.equal(session!.isRunning, false);
    await until(() => host!.ended, 3000, 'EOF at the host');
    await sleep(1200);
    assert.equal(host!.packets.length, 1, 'the heartbeat stopped with the channel');
  });

  it('a connection that cannot be established makes start() throw (the daemon falls back)', () => {
    const s = new VsockTcloSession({
      transport: VsockTclo.fromFds(() => connectUnixForTesting('/nonexistent/vsock-tclo.sock')),
      dispatch: async () => Buffer.from('OK '),
      onError: () => assert.fail('not an established channel'),
    });
    expectCode(() => s.start(), 'IO', /connect \/nonexistent/);
    assert.equal(s.isRunning, false);
  });
});

describeUnderShim(__filename, 'TCLO over vsock against the simulator (addon, shim, simulator)', () => {
  let sim: SimHandle;

  before(async () => {
    sim = await startSim({ vsockSockets: true });
  });
  after(async () => sim?.stop());

  const simTclo = (): VsockTclo => VsockTclo.fromFds(() => connectUnixForTesting(sim.vsockTcloSocket!));

  async function pings(): Promise<number> {
    return (await sim.client.stats()).vsock!.pings;
  }

  it('a host command is dispatched and the reply arrives exact; PINGs every second after it, none before', async function () {
    this.timeout(15000);
    const d = new TcloDispatcher();
    d.register('echo', (args) => ({ ok: true, result: args }));
    const session = new VsockTcloSession({ transport: simTclo(), dispatch: (c) => d.dispatch(c), onError: (e) => assert.fail(String(e)) });
    const p0 = await pings();
    await sim.client.clearRpcLog();
    session.start();
    try {
      await sleep(1500);
      assert.equal(await pings(), p0, 'no PING before the first reply');
      const payload = testBytes(3000);
      const reply = await sim.client.sendTclo(Buffer.concat([Buffer.from('echo '), payload]), { timeoutMs: 5000 });
      assert.deepEqual(reply, Buffer.concat([Buffer.from('OK  '), payload]));
      const log = (await sim.client.getRpcLog()).filter((e) => e.proto === 'TCLO');
      assert.deepEqual(
        log.map((e) => [e.transport, e.request?.subarray(0, 5).toString(), e.reply?.length]),
        [['vsock', 'echo ', reply.length]],
      );
      // +1, +2, +3 s (the socketpair test above measures the spacing exactly).
      await sleep(3400);
      const n = (await pings()) - p0;
      assert.ok(Math.abs(n - 3) <= 1, `${n} PINGs in 3.4 s after the first reply`);
    } finally {
      session.stop();
    }
  });

  it('a daemon over vsock: reset answered at once, RPCs over the backdoor; a lost connection restarts vsock-first', async function () {
    this.timeout(15000);
    const lines: string[] = [];
    const log = { ...quiet, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m) };
    let connects = 0;
    const daemon = new Daemon({
      rpc: new RpcOut({ fallback: new BackdoorRpci() }),
      tclo: new BackdoorTclo(),
      vsockTclo: VsockTclo.fromFds(() => {
        connects++;
        return connectUnixForTesting(sim.vsockTcloSocket!);
      }),
      log,
      services: { hooks: [], handlers: {} },
    });
    daemon.start();
    try {
      assert.equal(daemon.driver.kind, 'vsock');
      await sim.client.clearRpcLog();
      assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 5000 })).toString(), 'OK ATR toolbox');
      await sleep(100);
      const entries = await sim.client.getRpcLog();
      const rpci = entries.filter((e) => e.proto === 'RPCI').map((e) => e.request!.toString('latin1'));
      assert.equal(rpci[0], 'vmx.capability.unified_loop toolbox\0');
      assert.ok(entries.every((e) => e.proto === 'RPCI' ? e.transport === 'backdoor' : e.transport === 'vsock'));

      // The host drops the connection: a channel error after establishment (§6.4), restart in 1 s, vsock first.
      const dropped = await sim.client.resetChannels();
      assert.equal(dropped.vsockDropped, 1);
      await until(() => connects === 2, 3000, 'the vsock reconnect');
      assert.equal(daemon.driver.kind, 'vsock');
      assert.equal((await sim.client.sendTclo('ping', { timeoutMs: 5000 })).toString(), 'OK ');
      assert.ok(lines.some((l) => /TCLO channel error: vsock TCLO: the host closed the connection/.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => /channel restarted over vsock \(attempt 1\)/.test(l)), lines.join('\n'));
    } finally {
      daemon.stop();
    }
  });

  it('a daemon whose vsock connect fails uses the backdoor at once, and tries vsock again at the next restart', async function () {
    this.timeout(15000);
    let connects = 0;
    const lines: string[] = [];
    const daemon = new Daemon({
      rpc: new RpcOut({ fallback: new BackdoorRpci() }),
      tclo: new BackdoorTclo(),
      vsockTclo: VsockTclo.fromFds(() => {
        // Nobody listens the first time (as on a host without vsock TCLO), the simulator after that.
        const target = connects++ === 0 ? path.join(sim.dir, 'nobody.sock') : sim.vsockTcloSocket!;
        return connectUnixForTesting(target);
      }),
      log: { ...quiet, info: (m: string) => lines.push(m) },
      services: { hooks: [], handlers: {} },
    });
    daemon.start();
    try {
      assert.equal(daemon.driver.kind, 'backdoor');
      assert.match(lines.join('\n'), /TCLO over vsock unavailable \(connect .*nobody\.sock: .*\); using the backdoor/);
      assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 5000 })).toString(), 'OK ATR toolbox');
      const log = (await sim.client.getRpcLog()).filter((e) => e.proto === 'TCLO' && e.request?.toString() === 'reset');
      assert.equal(log[log.length - 1].transport, 'backdoor');

      await sim.client.resetChannels(); // the backdoor TCLO channel is gone: channel error, restart
      await until(() => daemon.driver.kind === 'vsock', 4000, 'the restart over vsock');
      assert.equal(connects, 2);
      assert.equal((await sim.client.sendTclo('ping', { timeoutMs: 5000 })).toString(), 'OK ');
    } finally {
      daemon.stop();
    }
  });
});
