/**
 * Layer 3½: transports and the RPCI/TCLO primitives the daemon builds on.
 * Policy details run against fakes; every transport also runs for real
 * through the addon, the shim and the simulator.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ChannelError, connectUnixForTesting, resetStats, stats } from '../src/native';
import { RpcOut, withNul } from '../src/rpc/rpcout';
import { frameTcloReply, parseTcloCommand, TcloDispatcher } from '../src/rpc/tclo';
import type { RpcReply } from '../src/rpc/types';
import type { SimHandle } from '../src/sim/harness';
import { BackdoorOneShotRpci, BackdoorRpci, BackdoorTclo } from '../src/transport/backdoor';
import { FakeRpci, FakeTclo } from '../src/transport/fake';
import type { RpciTransport } from '../src/transport/transport';
import { VsockRpci } from '../src/transport/vsock';
import { describeUnderShim, sleep, startSim } from './helpers/native-env';

/** A transport that records what happened and fails on demand. */
class ScriptedTransport implements RpciTransport {
  isOpen = false;
  starts = 0;
  calls = 0;
  startFails = false;
  callFails: ChannelError | undefined;

  constructor(readonly kind: 'vsock' | 'backdoor') {}

  start(): void {
    if (this.isOpen) return;
    this.starts++;
    if (this.startFails) throw new ChannelError(`${this.kind} refused`, 'IO');
    this.isOpen = true;
  }

  stop(): void {
    this.isOpen = false;
  }

  call(): RpcReply {
    this.start();
    this.calls++;
    const f = this.callFails;
    this.callFails = undefined;
    if (f) throw f;
    return { ok: true, reply: Buffer.from(this.kind) };
  }
}

describe('RpcOut and TCLO primitives (fake transports)', () => {
  it('sends the exact bytes and splits the reply', () => {
    const fake = new FakeRpci();
    const out = new RpcOut({ fallback: fake });
    assert.deepEqual(out.send('info-set guestinfo.a 1 2'), { ok: true, reply: Buffer.alloc(0) });
    const got = out.send(withNul('info-get guestinfo.a'));
    assert.equal(got.ok, true);
    assert.equal(got.reply.toString(), '1 2');
    assert.deepEqual(out.send('info-get guestinfo.none'), { ok: false, reply: Buffer.from('No value found') });
    assert.deepEqual(fake.requests[1], Buffer.from('info-get guestinfo.a\0'));
  });

  it('falls back to the backdoor and sticks to it 4 s, then 8 s, up to 300 s (channel.md §6.5)', () => {
    let t = 0;
    const vsock = new ScriptedTransport('vsock');
    const bdoor = new ScriptedTransport('backdoor');
    vsock.startFails = true;
    const out = new RpcOut({ primary: vsock, fallback: bdoor, now: () => t });
    assert.equal(out.send('x').reply.toString(), 'backdoor');
    t = 3999;
    out.send('x');
    assert.equal(vsock.starts, 1, 'no vsock retry within the first 4 s');
    t = 4000;
    out.send('x');
    assert.equal(vsock.starts, 2, 'vsock retried after 4 s');
    t = 4000 + 7999;
    out.send('x');
    assert.equal(vsock.starts, 2);
    t = 4000 + 8000;
    out.send('x');
    assert.equal(vsock.starts, 3, 'second stick is 8 s');
    for (let i = 0; i < 12; i++) {
      t += 400_000;
      out.send('x');
    }
    const before = vsock.starts;
    t += 299_999;
    out.send('x');
    assert.equal(vsock.starts, before, 'capped at 300 s');
    t += 1;
    out.send('x');
    assert.equal(vsock.starts, before + 1);
    vsock.startFails = false;
    t += 300_000;
    assert.equal(out.send('x').reply.toString(), 'vsock', 'back on vsock once it starts');
  });

  it('restarts vsock and resends once after a failed send; the request error is not retried', () => {
    const vsock = new ScriptedTransport('vsock');
    const bdoor = new ScriptedTransport('backdoor');
    const out = new RpcOut({ primary: vsock, fallback: bdoor });
    vsock.callFails = new ChannelError('peer hung up', 'CHANNEL_CLOSED');
    assert.equal(out.send('x').reply.toString(), 'vsock');
    assert.equal(vsock.calls, 2);
    assert.equal(vsock.starts, 2);
    vsock.callFails = new ChannelError('too big', 'TOO_LARGE');
    assert.throws(() => out.send('x'), { code: 'TOO_LARGE' });
    assert.equal(vsock.calls, 3);
  });

  it('parses commands and frames replies exactly (channel.md §5.3)', () => {
    assert.deepEqual(parseTcloCommand(Buffer.from('Set_Option broadcastIP 1')), {
      name: 'Set_Option',
      args: Buffer.from(' broadcastIP 1'),
    });
    assert.deepEqual(parseTcloCommand(Buffer.from('reset\0')), { name: 'reset', args: Buffer.alloc(0) });
    assert.equal(parseTcloCommand(Buffer.from('  \0')), null);
    assert.equal(parseTcloCommand(Buffer.alloc(0)), null);
    assert.deepEqual(frameTcloReply({ ok: true, result: 'ATR toolbox' }), Buffer.from('OK ATR toolbox'));
    assert.deepEqual(frameTcloReply({ ok: false, result: '' }), Buffer.from('ERROR '));
  });

  it('dispatches by name, with the reference replies for unknown and empty commands', async () => {
    const d = new TcloDispatcher();
    d.register('ping', () => ({ ok: true, result: '' }));
    d.register('boom', () => {
      throw new Error('handler failed');
    });
    d.register('echo', (args) => ({ ok: true, result: args }));
    const tclo = new FakeTclo();
    for (const c of ['ping', 'nosuch', '', 'boom', 'echo  two spaces\0']) tclo.queue(c);
    let reply: Buffer = Buffer.alloc(0);
    for (let cmd = tclo.poll(reply); cmd; cmd = tclo.poll(reply)) reply = await d.dispatch(cmd);
    assert.deepEqual(
      tclo.replies.map((r) => r.toString()),
      ['OK ', 'ERROR Unknown Command', 'ERROR Bad command', 'ERROR handler failed', 'OK   two spaces'],
    );
    assert.throws(() => d.register('ping', () => ({ ok: true, result: '' })), /already registered/);
  });
});

describeUnderShim(__filename, 'transports (addon, shim, simulator)', () => {
  let sim: SimHandle;

  before(async () => {
    sim = await startSim({ vsockSockets: true });
  });
  after(async () => sim?.stop());

  it('RpcOut over the persistent backdoor channel: 5 calls per RPC', () => {
    const bd = new BackdoorRpci();
    const out = new RpcOut({ fallback: bd });
    out.send('info-set guestinfo.t1 hello');
    resetStats();
    const r = out.send(withNul('info-get guestinfo.t1'));
    assert.deepEqual(r, { ok: true, reply: Buffer.from('hello') });
    assert.equal(stats().total, 5);
    out.stop();
    assert.equal(bd.isOpen, false);
  });

  it('one-shot backdoor RPCI: 7 calls', () => {
    resetStats();
    const r = new BackdoorOneShotRpci().call(Buffer.from('info-get guestinfo.t1'));
    assert.equal(r.reply.toString(), 'hello');
    assert.equal(stats().total, 7);
  });

  it('RpcOut prefers vsock and sends over it', async () => {
    await sim.client.clearRpcLog();
    const out = new RpcOut({
      primary: VsockRpci.fromFds(() => connectUnixForTesting(sim.vsockRpciSocket!)),
      fallback: new BackdoorRpci(),
    });
    assert.equal(out.send('info-get guestinfo.t1').reply.toString(), 'hello');
    assert.equal(out.transport?.kind, 'vsock');
    const log = await sim.client.getRpcLog();
    assert.deepEqual(
      log.map((e) => [e.transport, e.request?.toString()]),
      [['vsock', 'info-get guestinfo.t1']],
    );
    out.stop();
  });

  it('falls back to the backdoor when vsock cannot connect', () => {
    const switches: string[] = [];
    const out = new RpcOut({
      primary: VsockRpci.fromFds(() => connectUnixForTesting(path.join(sim.dir, 'nobody.sock'))),
      fallback: new BackdoorRpci(),
      onSwitch: (to, why) => switches.push(`${to.kind}: ${why}`),
    });
    assert.equal(out.send('info-get guestinfo.t1').reply.toString(), 'hello');
    assert.equal(out.transport?.kind, 'backdoor');
    assert.match(switches[0], /^backdoor: vsock unavailable: /);
    out.stop();
  });

  it('never reaches a real vsock host here: the hypervisor connect is refused', () => {
    assert.throws(() => VsockRpci.hypervisor().start(), { code: 'NOT_VMWARE' });
  });

  it('reopens the backdoor channel after a host reset (vMotion)', async () => {
    const out = new RpcOut({ fallback: new BackdoorRpci() });
    out.send('info-get guestinfo.t1');
    await sim.client.resetChannels();
    assert.equal(out.send('info-get guestinfo.t1').reply.toString(), 'hello');
    out.stop();
  });

  it('TCLO over the backdoor: the host command is dispatched and the reply reaches the host', async () => {
    const tclo = new BackdoorTclo();
    const d = new TcloDispatcher();
    d.register('ping', () => ({ ok: true, result: '' }));
    tclo.poll(Buffer.alloc(0)); // the first send announces the guest (§5.1)
    for (const [cmd, want] of [
      ['ping', 'OK '],
      ['bogus x', 'ERROR Unknown Command'],
    ]) {
      const answered = sim.client.sendTclo(cmd, { timeoutMs: 5000 });
      let msg: Buffer | null = null;
      for (let i = 0; i < 200 && !msg; i++) {
        msg = tclo.poll(Buffer.alloc(0));
        if (!msg) await sleep(5);
      }
      assert.ok(msg, `command ${cmd} arrived`);
      assert.equal(msg.toString(), cmd);
      tclo.poll(await d.dispatch(msg));
      assert.equal((await answered).toString(), want);
    }
    tclo.stop();
  });
});
