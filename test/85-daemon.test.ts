/**
 * Layer 8: the daemon's session end to end — real backdoor transports, the
 * addon, the shim and the simulator as host. The daemon runs inside this
 * (shim-preloaded) process; the simulator drives it with TCLO commands.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { connectUnixForTesting } from '../src/native';
import { RpcOut } from '../src/rpc/rpcout';
import { decodeGuestNicProto, LinuxGuestInfoSources } from '../src/services/guestinfo';
import type { SimHandle } from '../src/sim/harness';
import type { SimLogEntry } from '../src/sim/control';
import { BackdoorRpci, BackdoorTclo } from '../src/transport/backdoor';
import { VsockTclo } from '../src/transport/vsockTclo';
import { Daemon } from '../src/daemon/daemon';
import { guestInfoServices } from '../src/daemon/guestInfoService';
import { TOOLS_VERSION_CURRENT } from '../src/daemon/version';
import { describeUnderShim, sleep, startSim } from './helpers/native-env';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function rpciText(log: SimLogEntry[]): string[] {
  return log.filter((e) => e.proto === 'RPCI' && e.request).map((e) => e.request!.toString('latin1'));
}

describeUnderShim(__filename, 'daemon session (addon, shim, simulator)', () => {
  let sim: SimHandle;
  let daemon: Daemon;
  let firstExchange = 0;

  before(async () => {
    sim = await startSim();
    const rpc = new RpcOut({ fallback: new BackdoorRpci() });
    const gi = guestInfoServices({ rpc: { send: (r) => daemon.rpc.send(r) }, sources: new LinuxGuestInfoSources(), config: () => undefined, log: quiet });
    daemon = new Daemon({ rpc, tclo: new BackdoorTclo(), log: quiet, services: gi.services, onFirstExchange: () => firstExchange++ });
    daemon.start();
  });
  after(async () => {
    daemon?.stop();
    await sim?.stop();
  });

  it('publishes the version guest variables at start (core-services.md §2.1)', async () => {
    const vars = await sim.client.listGuestInfo();
    assert.equal(vars['guestinfo.vmtools.versionString'], '13.1.0');
    assert.equal(vars['guestinfo.vmtools.versionNumber'], String(TOOLS_VERSION_CURRENT));
    assert.match(vars['guestinfo.vmtools.description'], /^vmtoolsd-node 13\.1\.0\.\d+$/);
    const sent = rpciText(await sim.client.getRpcLog());
    assert.deepEqual(sent.slice(0, 4).map((s) => s.split(' ')[1]), [
      'guestinfo.vmtools.description',
      'guestinfo.vmtools.versionString',
      'guestinfo.vmtools.versionNumber',
      'guestinfo.vmtools.buildNumber',
    ]);
    assert.ok(sent.slice(0, 4).every((s) => s.endsWith('\0')), 'each with a trailing NUL');
  });

  it('reset → OK ATR toolbox, then unified_loop, the version log line and a full guest-info report', async () => {
    await sim.client.clearRpcLog();
    assert.equal((await sim.client.sendTclo('reset')).toString(), 'OK ATR toolbox');
    assert.equal(firstExchange, 1);
    await sleep(50);
    const log = await sim.client.getRpcLog();
    const sent = rpciText(log);
    assert.equal(sent[0], 'vmx.capability.unified_loop toolbox\0');
    assert.match(sent[1], /^log toolbox: Version: 13\.1\.0\.0\.\d+\0$/);
    // The first full report right after reset (our improvement): NIC info as XDR type 10.
    const nic = log.find((e) => e.request?.subarray(0, 16).toString('latin1') === 'SetGuestInfo  10');
    assert.ok(nic, `NIC info sent after reset; got ${sent.map((s) => s.slice(0, 24)).join(' | ')}`);
    const body = nic.request!.subarray('SetGuestInfo  10 '.length);
    const decoded = decodeGuestNicProto(body);
    assert.ok(decoded.nics.length >= 0);
    assert.ok(sent.some((s) => s.startsWith('SetGuestInfo  7 ')), 'uptime');
  });

  it('ping → OK', async () => {
    assert.equal((await sim.client.sendTclo('ping')).toString(), 'OK ');
  });

  it('Capabilities_Register → OK, guest_conf_directory, versiontype 13344 4', async () => {
    await sim.client.clearRpcLog();
    assert.equal((await sim.client.sendTclo('Capabilities_Register')).toString(), 'OK ');
    const sent = rpciText(await sim.client.getRpcLog());
    assert.ok(sent.includes('tools.capability.guest_conf_directory /etc/vmware-tools\0'), sent.join(' | '));
    assert.ok(sent.includes(`tools.set.versiontype ${TOOLS_VERSION_CURRENT} 4\0`));
  });

  it('an old host without tools.set.versiontype gets tools.set.version 2147483647 (core-services.md §3 step 4)', async () => {
    await sim.client.setCannedReply('tools.set.versiontype', '0 Unknown command');
    try {
      await sim.client.clearRpcLog();
      assert.equal((await sim.client.sendTclo('Capabilities_Register')).toString(), 'OK ');
      const sent = rpciText(await sim.client.getRpcLog());
      const i = sent.indexOf(`tools.set.versiontype ${TOOLS_VERSION_CURRENT} 4\0`);
      assert.ok(i >= 0, sent.join(' | '));
      assert.equal(sent[i + 1], 'tools.set.version 2147483647\0');
    } finally {
      await sim.client.setCannedReply('tools.set.versiontype', '1 ');
    }
  });

  it('Set_Option: OK for any well-formed option, ERROR for a malformed one, broadcastIP answered', async () => {
    await sim.client.clearRpcLog();
    assert.equal((await sim.client.sendTclo('Set_Option no.such.option 1')).toString(), 'OK ');
    assert.equal((await sim.client.sendTclo('Set_Option lonely')).toString(), 'ERROR Unknown or invalid option');
    assert.equal((await sim.client.sendTclo('Set_Option broadcastIP 1')).toString(), 'OK ');
    const sent = rpciText(await sim.client.getRpcLog());
    assert.ok(sent.some((s) => s.startsWith('info-set guestinfo.ip ') && s.endsWith('\0')), sent.join(' | '));
  });

  it('an unknown command gets the reference reply', async () => {
    assert.equal((await sim.client.sendTclo('No_Such_Command x')).toString(), 'ERROR Unknown Command');
  });

  it('polls idle at the reference cadence: about 20 backdoor calls per second', async () => {
    await sleep(300); // let the back-off reach 100 ms
    await sim.client.resetCounters();
    await sleep(2000);
    const c = await sim.client.getCounters();
    const perSecond = c.total / 2;
    assert.ok(perSecond >= 16 && perSecond <= 22, `idle calls/s ${perSecond}`);
  });

  it('an RPCI failure that survives the channel\'s own retry resets only the RPCI side; the session goes on', async () => {
    // A reply without the "1 "/"0 " prefix fails the RPC twice (send, reopen, resend).
    await sim.client.setCannedReply('tools.set.versiontype', 'X');
    try {
      // The TCLO reply still reaches the host: the loop is not disturbed.
      assert.equal((await sim.client.sendTclo('Capabilities_Register')).toString(), 'OK ');
    } finally {
      await sim.client.setCannedReply('tools.set.versiontype', '1 ');
    }
    await sim.client.clearRpcLog();
    assert.equal((await sim.client.sendTclo('Set_Option broadcastIP 1')).toString(), 'OK ');
    const sent = rpciText(await sim.client.getRpcLog());
    assert.ok(sent.some((r) => r.startsWith('info-set guestinfo.ip ')), 'the next RPCI goes through on a reopened channel');
  });

  it('recovers from a host reset of every channel (vMotion): restarts after 1 s and answers again', async () => {
    await sim.client.resetChannels();
    await sleep(1500);
    assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 5000 })).toString(), 'OK ATR toolbox');
    assert.equal((await sim.client.sendTclo('ping')).toString(), 'OK ');
  });

  it('with a vsock TCLO factory that cannot connect: falls back to the backdoor loop at once and answers reset (channel.md §6.4)', async () => {
    daemon.stop(); // its TCLO channel closes, so "toolbox" goes to the next daemon
    const lines: string[] = [];
    let attempts = 0;
    const fallback = new Daemon({
      rpc: new RpcOut({ fallback: new BackdoorRpci() }),
      tclo: new BackdoorTclo(),
      vsockTclo: VsockTclo.fromFds(() => {
        attempts++;
        return connectUnixForTesting(path.join(sim.dir, 'no-vsock-tclo.sock'));
      }),
      log: { ...quiet, info: (m: string) => lines.push(m) },
      services: { hooks: [], handlers: {} },
    });
    fallback.start();
    try {
      assert.equal(attempts, 1);
      assert.equal(fallback.driver.kind, 'backdoor');
      assert.ok(lines.some((l) => /^TCLO over vsock unavailable .*; using the backdoor$/.test(l)), lines.join('\n'));
      await sim.client.clearRpcLog();
      assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 5000 })).toString(), 'OK ATR toolbox');
      const tclo = (await sim.client.getRpcLog()).filter((e) => e.proto === 'TCLO');
      assert.deepEqual(tclo.map((e) => e.transport), ['backdoor']);
      assert.equal(fallback.driver.isRunning, true);
      assert.ok(Date.now() - fallback.driver.lastActivityAt < 1000, 'the loop is polling');
    } finally {
      fallback.stop();
    }
  });
});
