/**
 * Layer 6/8: time sync against the simulator's host clock, through the real
 * backdoor path (addon → trap shim → simulator): GETTIMEFULL_WITH_LAG and
 * its fallbacks, STOPCATCHUP, TCLO replies, Set_Option; then bin/vmtoolsd
 * in simulator mode, which must use the simulated clock; then
 * `vmware-toolbox-cmd timesync status` and `stat hosttime`.
 *
 * SAFETY: the guest clock is always a SimulatedClock; the spawned daemon runs
 * in simulator mode (VMTOOLSD_ASSUME_VMWARE=1), which forces it. The test
 * checks this machine's clock and tick were left alone.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adjtimex, ADJ, STA } from '../src/native';
import { RpcOut } from '../src/rpc/rpcout';
import { BackdoorRpci, BackdoorTclo } from '../src/transport/backdoor';
import { Daemon } from '../src/daemon/daemon';
import { timeSyncServices, TimeSyncParts } from '../src/daemon/timeSyncService';
import { ToolsConfig } from '../src/config';
import { BackdoorHostTime, readHostAndGuest, SimulatedClock, SyncResult } from '../src/services/timesync';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, REPO_ROOT, sleep, startSim } from './helpers/native-env';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const VMTOOLSD = path.join(REPO_ROOT, 'bin', 'vmtoolsd');
const TOOLBOX = path.join(REPO_ROOT, 'bin', 'vmware-toolbox-cmd');

describeUnderShim(__filename, 'timeSync against the simulator host clock', () => {
  let sim: SimHandle;
  const realTick = adjtimex().tick;

  before(async () => {
    sim = await startSim();
  });
  after(async () => {
    await sim?.stop();
    assert.equal(adjtimex().tick, realTick, "this machine's tick is unchanged");
  });

  describe('in-process daemon with a simulated clock', () => {
    let daemon: Daemon;
    let ts: TimeSyncParts;
    let clock: SimulatedClock;
    let pending: (() => void) | undefined;
    const syncs: SyncResult[] = [];

    const adj = () => clock.events.flatMap((e) => (e.kind === 'adjtimex' ? [e.input] : []));
    const steps = () => clock.events.flatMap((e) => (e.kind === 'step' ? [e.deltaUs] : []));

    beforeEach(async () => {
      await sim.client.resetClock();
      await sim.client.disableCommand(55, false);
      await sim.client.disableCommand(46, false);
      await sim.client.disableCommand(23, false);
      clock = new SimulatedClock();
      syncs.length = 0;
      const rpc = new RpcOut({ fallback: new BackdoorRpci() });
      ts = timeSyncServices({
        rpc: { send: (r) => daemon.rpc.send(r) },
        config: () => ToolsConfig.defaults(),
        log: quiet,
        simulatorMode: true,
        clock,
        onSync: (_w, r) => syncs.push(r),
        scheduler: { setTimeout: (fn) => ((pending = fn), 1), clearTimeout: () => (pending = undefined) },
      });
      daemon = new Daemon({ rpc, tclo: new BackdoorTclo(), log: quiet, services: ts.services });
      daemon.start();
      await sim.client.resetCounters();
    });
    afterEach(() => {
      ts.stop();
      daemon.stop();
    });

    it('Time_Synchronize 0, host +5 s: OK, steps +5 s (GETTIMEFULL_WITH_LAG), then STOPCATCHUP', async () => {
      await sim.client.setClockOffset({ ms: 5000 });
      assert.equal((await sim.client.sendTclo('Time_Synchronize 0')).toString(), 'OK ');
      assert.equal(steps().length, 1);
      assert.ok(Math.abs(steps()[0]! - 5e6) < 5000, `step ${steps()[0]}`);
      assert.deepEqual(adj(), []);
      assert.equal(syncs[0]!.sample.command, 'GETTIMEFULL_WITH_LAG');
      const c = await sim.client.getCounters();
      assert.equal(c.events.stopCatchup, 1);
      assert.ok((c.commands.GETTIMEFULL_WITH_LAG ?? 0) >= 2, JSON.stringify(c.commands));
      assert.equal(c.commands.GETTIMEFULL ?? 0, 0);
    });

    it('host -5 s: Time_Synchronize 0 leaves the clock, Time_Synchronize 1 steps back -5 s', async () => {
      await sim.client.setClockOffset({ ms: -5000 });
      assert.equal((await sim.client.sendTclo('Time_Synchronize 0')).toString(), 'OK ');
      assert.deepEqual(steps(), []);
      assert.equal((await sim.client.sendTclo('Time_Synchronize 1')).toString(), 'OK ');
      assert.ok(Math.abs(steps()[0]! + 5e6) < 5000, `step ${steps()[0]}`);
    });

    it('replies: a missing number, and a host that answers no GETTIME* command', async () => {
      assert.equal((await sim.client.sendTclo('Time_Synchronize')).toString(), 'ERROR Unable to tokenize TimeSync RPC data');
      for (const cmd of [55, 46, 23]) await sim.client.disableCommand(cmd, true);
      assert.equal((await sim.client.sendTclo('Time_Synchronize 0')).toString(), 'ERROR Unable to sync time');
    });

    it('falls back to GETTIMEFULL, then GETTIME (§7.1), with the lag they report', async () => {
      await sim.client.setClockOffset({ ms: 5000 });
      await sim.client.disableCommand(55, true);
      assert.equal((await sim.client.sendTclo('Time_Synchronize 0')).toString(), 'OK ');
      assert.equal(syncs[0]!.sample.command, 'GETTIMEFULL');
      assert.equal(syncs[0]!.apparentErrorUs, 0);
      await sim.client.disableCommand(46, true);
      assert.equal((await sim.client.sendTclo('Time_Synchronize 0')).toString(), 'OK ');
      assert.equal(syncs[1]!.sample.command, 'GETTIME');
      assert.equal(syncs[1]!.action, 'none', 'already stepped');
      const reader = new BackdoorHostTime();
      const r = reader.read();
      assert.equal(r.command, 'GETTIME');
      assert.equal(r.maxTimeErrorUs, 500000);
    });

    it('max lag: behind by 150 ms steps when the host allows 100 ms, not when it allows 500 ms', async () => {
      await sim.client.setClockOffset({ ms: 150 });
      assert.equal((await sim.client.sendTclo('Time_Synchronize 0')).toString(), 'OK ');
      assert.deepEqual(steps(), []);
      await sim.client.setConfig({ maxTimeLagUs: 100000 });
      try {
        assert.equal((await sim.client.sendTclo('Time_Synchronize 0')).toString(), 'OK ');
        assert.equal(steps().length, 1);
        assert.ok(Math.abs(steps()[0]! - 150000) < 5000);
      } finally {
        await sim.client.setConfig({ maxTimeLagUs: 500000 });
      }
    });

    it('Set_Option synctime 1 with slewing, host +50 ms: loop-start reset, then tick 10004; synctime 0 stops it', async () => {
      await sim.client.setClockOffset({ ms: 50 });
      for (const o of ['synctime 0', 'synctime.period 60', 'time.synchronize.tools.slewCorrection 1', 'synctime 1']) {
        assert.equal((await sim.client.sendTclo(`Set_Option ${o}`)).toString(), 'OK ');
      }
      assert.deepEqual(adj(), [
        { modes: ADJ.TICK, tick: 10000 },
        { modes: ADJ.OFFSET | ADJ.MAXERROR | ADJ.ESTERROR, offset: 0, maxerror: 0, esterror: 0 },
        { modes: ADJ.TIMECONST, constant: 0 },
        { modes: ADJ.STATUS, status: STA.PLL },
        { modes: ADJ.FREQUENCY, freq: 0 },
        { modes: ADJ.TICK, tick: 10004 },
      ]);
      assert.ok(pending, 'the loop is armed');
      assert.equal((await sim.client.sendTclo('Set_Option synctime 0')).toString(), 'OK ');
      assert.equal(pending, undefined);
      assert.equal(ts.service.state, 'stopped');
    });

    it('host +5 ms: tick 10000 and PLL calibration; host -5 s: no backward step, tick 9583', async () => {
      await sim.client.setClockOffset({ ms: 5 });
      for (const o of ['synctime 0', 'time.synchronize.tools.slewCorrection 1', 'synctime 1']) await sim.client.sendTclo(`Set_Option ${o}`);
      assert.deepEqual(adj().at(-1), { modes: ADJ.TICK, tick: 10000 });
      assert.equal(ts.service['engine'].slewState, 'calibrating');
      await sim.client.setClockOffset({ ms: -5000 });
      pending!();
      assert.deepEqual(steps(), []);
      assert.deepEqual(adj().at(-1), { modes: ADJ.TICK, tick: 9583 });
    });

    it('a host clock drifting +50 ppm: PLL after 15 simulated minutes with ADJ_FREQUENCY ≈ 50 ppm', async () => {
      for (const o of ['synctime 0', 'time.synchronize.tools.slewCorrection 1', 'synctime 1']) await sim.client.sendTclo(`Set_Option ${o}`);
      await sim.client.setClockDrift(50);
      let passes = 0;
      while (ts.service['engine'].slewState !== 'pll' && passes < 20) {
        await sim.client.advanceClock(60e6);
        clock.advance(60e6);
        pending!();
        passes++;
      }
      assert.equal(passes, 15);
      const freq = adj().at(-1)!;
      assert.equal(freq.modes, ADJ.FREQUENCY);
      // Host and guest clocks both run on real time here, so each offset the
      // loop reads carries the latency of one trapped read: 1 ms of it on a
      // loaded machine is ~1.1 ppm over 15 minutes (CI once saw 50.84 ppm).
      // The exact figures are bench/timesync.ts's, run on an idle machine.
      assert.ok(Math.abs(freq.freq! - 50 * 65536) < 2 * 65536, `freq ${freq.freq}`);
      for (let i = 0; i < 45; i++) {
        await sim.client.advanceClock(60e6);
        clock.advance(60e6);
        pending!();
      }
      // Host and guest read bracketed as the daemon does (§7.1): a control round trip would add its own delay.
      const s = readHostAndGuest(new BackdoorHostTime(), clock);
      const residual = s.guestUs - s.hostUs;
      // The 1 ms target is the benchmark's; here: converged, with room for read latency under load.
      assert.ok(Math.abs(residual) <= 3000, `residual after one simulated hour ${residual} µs`);
    });
  });

  let child: ChildProcess;
  let output = '';
  async function waitForOutput(re: RegExp, ms = 10000): Promise<void> {
    const end = Date.now() + ms;
    while (!re.test(output)) {
      if (Date.now() > end) throw new Error(`no ${re} in:\n${output}`);
      await sleep(50);
    }
  }
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  describe('bin/vmtoolsd in simulator mode', () => {
    let procRoot: string;
    const waitFor = waitForOutput;

    before(async () => {
      await sim.client.resetClock();
      for (const cmd of [55, 46, 23]) await sim.client.disableCommand(cmd, false);
      procRoot = path.join(sim.dir, 'proc');
      fs.mkdirSync(path.join(procRoot, '612'), { recursive: true });
      fs.writeFileSync(path.join(procRoot, '612', 'comm'), 'chronyd\n');
      const conf = path.join(sim.dir, 'timesync-tools.conf');
      fs.writeFileSync(conf, '[logging]\nvmsvc.level = message\n');
      child = spawn(process.execPath, [VMTOOLSD, '-c', conf], {
        env: { ...process.env, ...sim.env({ preload: true }), VMTOOLSD_TIMESYNC_PROC_ROOT: procRoot },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 10000 })).toString(), 'OK ATR toolbox');
    });

    it('says it uses the simulated clock', async () => {
      await waitFor(/time sync uses a simulated clock \(simulator mode\): this machine's clock is never changed/);
    });

    it('with chronyd running: the start-up step and the loop are left to it', async () => {
      await sim.client.setClockOffset({ ms: 5000 });
      assert.equal((await sim.client.sendTclo('Set_Option time.synchronize.tools.startup 1')).toString(), 'OK ');
      await waitFor(/chronyd \(pid 612\) disciplines the clock: leaving the start-up step to it/);
      await sim.client.sendTclo('Set_Option time.synchronize.tools.slewCorrection 1');
      assert.equal((await sim.client.sendTclo('Set_Option synctime 1')).toString(), 'OK ');
      await waitFor(/leaving periodic time sync to it \(\[timeSync\] ntp-coexistence=auto\)/);
      assert.ok(!/simulated clock: (step|adjtimex)/.test(output), output);
    });

    it('Time_Synchronize still steps the simulated clock (+5 s), and this machine\'s clock is untouched', async () => {
      const before = Date.now();
      assert.equal((await sim.client.sendTclo('Time_Synchronize 0')).toString(), 'OK ');
      await waitFor(/simulated clock: step (499\d{4}|500\d{4}) us/);
      assert.ok(Math.abs(Date.now() - before) < 3000, 'real clock did not jump');
      assert.equal(adjtimex().tick, realTick);
    });

    it('without chronyd, the loop slews the simulated clock', async () => {
      fs.rmSync(path.join(procRoot, '612'), { recursive: true, force: true });
      await sim.client.setClockOffset({ ms: 5050 }); // 50 ms ahead of the guest now
      assert.equal((await sim.client.sendTclo('Set_Option synctime.period 30')).toString(), 'OK ');
      await waitFor(/simulated clock: adjtimex \{"modes":16384,"tick":10008\}/); // 25 ms over 30 s
    });
  });

  describe('bin/vmtoolsd in simulator mode: after OS_Resume', () => {
    it('power ops\' onResume runs the one-shot step (host 3 s ahead → +3 s)', async () => {
      // Reuses the daemon above: its clock matches the host at +5.05 s; the host now jumps 3 s.
      await sim.client.setClockOffset({ ms: 8050 });
      const r = (await sim.client.sendTclo('OS_Resume', { timeoutMs: 10000 })).toString();
      assert.equal(r, 'OK ');
      await waitForOutput(/simulated clock: step (29|30)\d{5} us/); // 3 s, plus the 50 ms the loop had not slewed yet
    });
  });

  describe('vmware-toolbox-cmd', () => {
    function toolbox(args: string[]) {
      return spawnSync(TOOLBOX, args, { env: { ...process.env, ...sim.env({ preload: true }) }, encoding: 'utf8', timeout: 20000 });
    }

    it('timesync status reads GETGUIOPTIONS bit 0x400 (simulator: gui.setOptions)', async () => {
      await sim.client.setGuiOptions(0x400);
      let r = toolbox(['timesync', 'status']);
      assert.equal(r.stdout, 'Enabled\n');
      assert.equal(r.status, 0);
      await sim.client.setGuiOptions(0);
      r = toolbox(['timesync', 'status']);
      assert.equal(r.stdout, 'Disabled\n');
      assert.equal(r.status, 69);
      await sim.client.setGuiOptions(null);
    });

    it('timesync enable sends vmx.set_option synctime 0 1 when off', async () => {
      await sim.client.setGuiOptions(0);
      await sim.client.setCannedReply('vmx.set_option', '1 ');
      await sim.client.clearRpcLog();
      try {
        const r = toolbox(['timesync', 'enable']);
        assert.equal(r.stdout, 'Enabled\n');
        assert.equal(r.status, 0);
        const log = await sim.client.getRpcLog();
        assert.ok(log.some((e) => e.request?.toString('latin1') === 'vmx.set_option synctime 0 1\0'));
      } finally {
        await sim.client.setCannedReply('vmx.set_option', null);
        await sim.client.setGuiOptions(null);
      }
    });

    it('stat hosttime prints the host clock (with its offset), in local time', async () => {
      await sim.client.resetClock();
      const r = toolbox(['stat', 'hosttime']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}\n$/);
      const shown = new Date(r.stdout.trim().replace(/^(\d{2}) (\w{3}) (\d{4})/, '$2 $1 $3'));
      assert.ok(Math.abs(shown.getTime() - Date.now()) < 5000, `${r.stdout} vs now`);
    });
  });
});
