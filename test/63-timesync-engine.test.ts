/**
 * Layer 6: the time sync algorithm (core-services.md §7.2-7.5) against an
 * in-process host model and the simulated clock, in virtual time: exact
 * decisions and adjtimex parameters, the kernel model, Set_Option parsing,
 * tools.conf switches and other time daemons (a fake /proc).
 * Never touches this machine's clock.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ADJ, STA } from '../src/native';
import {
  findTimeDaemons,
  ModelHostTime,
  parseUint,
  SimulatedClock,
  SyncResult,
  TimeSyncConfig,
  TimeSyncEngine,
  TimeSyncService,
  clockKind,
} from '../src/services/timesync';

const START = 1_800_000_000_000_000; // µs, 2027
type Logged = { level: string; msg: string };

function rig(o: { hostOffsetUs?: number; hostDriftPpm?: number; config?: Partial<TimeSyncConfig>; daemons?: Array<{ name: string; pid: number }> } = {}) {
  let t = START;
  const trueTimeUs = (): number => t;
  const clock = new SimulatedClock({ trueTimeUs });
  const host = new ModelHostTime({ trueTimeUs, offsetUs: o.hostOffsetUs ?? 0, driftPpm: o.hostDriftPpm ?? 0 });
  const logs: Logged[] = [];
  const log = {
    debug: (msg: string) => logs.push({ level: 'debug', msg }),
    info: (msg: string) => logs.push({ level: 'info', msg }),
    warn: (msg: string) => logs.push({ level: 'warn', msg }),
    error: (msg: string) => logs.push({ level: 'error', msg }),
  };
  const engine = new TimeSyncEngine({ clock, host, log });
  const config: TimeSyncConfig = { disableAll: false, disablePeriodic: false, ntpCoexistence: 'auto', timeInfoEnabled: false, ...o.config };
  let pending: (() => void) | undefined;
  let armedMs = 0;
  const syncs: SyncResult[] = [];
  const service = new TimeSyncService({
    engine,
    config: () => config,
    log,
    timeDaemons: () => o.daemons ?? [],
    scheduler: {
      setTimeout: (fn, ms) => {
        pending = fn;
        armedMs = ms;
        return 1;
      },
      clearTimeout: () => (pending = undefined),
    },
    onSync: (_w, r) => syncs.push(r),
  });
  const advance = (us: number): void => {
    t += us;
  };
  /** One loop period passes and the timer fires. */
  const period = (): void => {
    advance(service.periodS * 1e6);
    assert.ok(pending, 'the loop timer is armed');
    pending!();
  };
  const adj = () => clock.events.filter((e) => e.kind === 'adjtimex').map((e) => (e.kind === 'adjtimex' ? e.input : undefined)!);
  const steps = () => clock.events.filter((e) => e.kind === 'step').map((e) => (e.kind === 'step' ? e.deltaUs : 0));
  const tcloSync = async (arg: string) => {
    const h = service.tcloHandlers()['Time_Synchronize']!;
    return h(Buffer.from(arg));
  };
  return { clock, host, engine, service, config, logs, syncs, advance, period, adj, steps, tcloSync, armed: () => pending !== undefined, armedMs: () => armedMs };
}

/** The host's VMX burst that turns on the periodic loop with slewing (§4). */
function startLoop(r: ReturnType<typeof rig>, period = '60'): void {
  const s = r.service;
  s.setOption('synctime', '0');
  s.setOption('synctime.period', period);
  s.setOption('time.synchronize.tools.slewCorrection', '1');
  s.setOption('time.synchronize.tools.percentCorrection', '50');
  s.setOption('synctime', '1');
}

/** TimeSyncResetSlew's five calls at loop start (§7.5): tick nominal, PLL offset 0 (+time constant, STA_PLL), frequency 0. */
const RESET_SLEW = [
  { modes: ADJ.TICK, tick: 10000 },
  { modes: ADJ.OFFSET | ADJ.MAXERROR | ADJ.ESTERROR, offset: 0, maxerror: 0, esterror: 0 },
  { modes: ADJ.TIMECONST, constant: 0 },
  { modes: ADJ.STATUS, status: STA.PLL },
  { modes: ADJ.FREQUENCY, freq: 0 },
];

/** The same reset once STA_PLL and time constant 4 are already in place: no TIMECONST/STATUS calls. */
const RESET_SLEW_AGAIN = [RESET_SLEW[0], RESET_SLEW[1], RESET_SLEW[4]];

describe('timeSync engine and service (simulated clock, virtual time)', () => {
  describe('one-shot sync (Time_Synchronize, §7.2)', () => {
    it('+5 s (guest behind): steps +5 s exactly, then STOPCATCHUP; no adjtimex', async () => {
      const r = rig({ hostOffsetUs: 5e6 });
      assert.deepEqual(await r.tcloSync(' 0'), { ok: true, result: '' });
      assert.deepEqual(r.steps(), [5e6]);
      assert.equal(r.host.stopCatchups, 1);
      assert.deepEqual(r.adj(), []);
      assert.ok(Math.abs(r.clock.errorUs() - 5e6) < 2, 'guest now equals host');
    });

    it('-5 s (guest ahead): no step with Time_Synchronize 0; steps -5 s with Time_Synchronize 1', async () => {
      const r = rig({ hostOffsetUs: -5e6 });
      assert.deepEqual(await r.tcloSync(' 0'), { ok: true, result: '' });
      assert.deepEqual(r.steps(), []);
      assert.deepEqual(await r.tcloSync(' 1'), { ok: true, result: '' });
      assert.deepEqual(r.steps(), [-5e6]);
    });

    it('+50 ms and +5 ms: within the host\'s max lag (500 ms): no step', async () => {
      for (const off of [50_000, 5_000]) {
        const r = rig({ hostOffsetUs: off });
        await r.tcloSync(' 0');
        assert.deepEqual(r.steps(), [], `offset ${off}`);
        assert.equal(r.syncs[0]!.action, 'none');
        assert.equal(r.syncs[0]!.gosErrorUs, -off);
      }
    });

    it('honours the max lag: behind by more than ECX steps, by less does not', async () => {
      const r = rig({ hostOffsetUs: 150_000 });
      r.host.maxTimeLagUs = 100_000;
      await r.tcloSync(' 0');
      assert.deepEqual(r.steps(), [150_000]);
      const q = rig({ hostOffsetUs: 150_000 });
      q.host.maxTimeLagUs = 200_000;
      await q.tcloSync(' 0');
      assert.deepEqual(q.steps(), []);
    });

    it('the interrupt lag (apparent error) is not stepped away: step = host − guest', async () => {
      const r = rig({ hostOffsetUs: 1e6 });
      r.host.interruptLagUs = 300;
      await r.tcloSync(' 0');
      assert.equal(r.syncs[0]!.gosErrorUs, -1e6 + 300);
      assert.deepEqual(r.steps(), [1e6]);
    });

    it('replies: no number → tokenize error; host without time → Unable to sync time', async () => {
      const r = rig();
      assert.deepEqual(await r.tcloSync(''), { ok: false, result: 'Unable to tokenize TimeSync RPC data' });
      assert.deepEqual(await r.tcloSync(' x'), { ok: false, result: 'Unable to tokenize TimeSync RPC data' });
      assert.deepEqual(await r.tcloSync(' -1'), { ok: false, result: 'Unable to tokenize TimeSync RPC data' });
      assert.deepEqual(await r.tcloSync(' 7 junk'), { ok: true, result: '' });
      r.host.read = () => {
        throw new Error('no host time');
      };
      assert.deepEqual(await r.tcloSync(' 0'), { ok: false, result: 'Unable to sync time' });
    });

    it('[timeSync] disable-all: replies OK, changes nothing', async () => {
      const r = rig({ hostOffsetUs: 5e6, config: { disableAll: true } });
      assert.deepEqual(await r.tcloSync(' 1'), { ok: true, result: '' });
      r.service.setOption('time.synchronize.tools.startup', '1');
      startLoop(r);
      assert.deepEqual(r.clock.events, []);
      assert.equal(r.host.reads, 0);
    });
  });

  describe('periodic loop (Set_Option synctime, §7.2, §7.4-7.6)', () => {
    it('+5 s: loop start resets the slew, then steps forward +5 s', () => {
      const r = rig({ hostOffsetUs: 5e6 });
      startLoop(r);
      assert.deepEqual(r.adj().slice(0, 5), RESET_SLEW);
      assert.deepEqual(r.steps(), [5e6]);
      assert.equal(r.syncs[0]!.action, 'step');
      assert.equal(r.armedMs(), 60000);
    });

    it('-5 s: never steps back; slews with the tick clamped... to (60e6 − 2.5e6)/6000 = 9583', () => {
      const r = rig({ hostOffsetUs: -5e6 });
      startLoop(r);
      assert.deepEqual(r.steps(), []);
      assert.deepEqual(r.adj().slice(5), [{ modes: ADJ.TICK, tick: 9583 }]);
      assert.equal(r.engine.slewState, 'uncalibrated', '|5 s| ≥ 30 ms: no PLL calibration');
      r.period();
      // 60 s at tick 9583 took 2.502 s off; the next request is for the rest.
      const last = r.adj().at(-1)!;
      assert.equal(last.modes, ADJ.TICK);
      assert.ok(last.tick! > 9583 && last.tick! < 10000, String(last.tick));
    });

    it('+50 ms: slews with tick 10004 (50 % of 50 ms over 60 s) and starts PLL calibration', () => {
      const r = rig({ hostOffsetUs: 50_000 });
      startLoop(r);
      assert.deepEqual(r.adj().slice(5), [{ modes: ADJ.TICK, tick: 10004 }]);
      assert.equal(r.engine.slewState, 'uncalibrated', '50 ms ≥ 30 ms: no calibration yet');
      r.period();
      assert.deepEqual(r.adj().at(-1), { modes: ADJ.TICK, tick: 10002 });
      assert.equal(r.engine.slewState, 'calibrating', 'below 30 ms now');
    });

    it('+5 ms: tick stays 10000 (2.5 ms over 60 s is under a tick step) and PLL calibration starts', () => {
      const r = rig({ hostOffsetUs: 5_000 });
      startLoop(r);
      assert.deepEqual(r.adj().slice(5), [{ modes: ADJ.TICK, tick: 10000 }]);
      assert.equal(r.engine.slewState, 'calibrating');
      assert.equal(r.syncs[0]!.slew!.to, 'calibrating');
    });

    it('50 ppm fast host: 15 min calibration by tick slewing, then the PLL with ADJ_FREQUENCY ≈ 50 ppm << 16', () => {
      const r = rig({ hostDriftPpm: 50 });
      startLoop(r);
      assert.equal(r.engine.slewState, 'calibrating', 'error < 30 ms at loop start');
      let passes = 0;
      while (r.engine.slewState === 'calibrating' && passes < 20) {
        r.period();
        passes++;
      }
      // The 15 minutes are measured on the guest clock, which the slew speeds up: the 15th pass ends them.
      assert.equal(passes, 15);
      assert.equal(r.engine.slewState, 'pll');
      const ticks = r.adj().slice(5, -3);
      assert.ok(ticks.every((a) => a.modes === ADJ.TICK), JSON.stringify(ticks));
      // 3 ms more per minute: tick 10000 until 50 % of the error reaches a tick step (6 ms), then 10001.
      assert.deepEqual([...new Set(ticks.map((a) => a.tick))], [10000, 10001]);
      const last = r.syncs.at(-1)!;
      const tail = r.adj().slice(-3);
      // Slew(0) → tick nominal, PLLUpdate(adjustment) with STA_PLL already set, then the frequency.
      assert.deepEqual(tail[0], { modes: ADJ.TICK, tick: 10000 });
      assert.deepEqual(tail[1], { modes: ADJ.OFFSET | ADJ.MAXERROR | ADJ.ESTERROR, offset: -last.gosErrorUs, maxerror: 0, esterror: 0 });
      assert.equal(tail[2]!.modes, ADJ.FREQUENCY);
      assert.ok(Math.abs(tail[2]!.freq! - 50 * 65536) < 0.05 * 65536, `freq ${tail[2]!.freq} ≈ ${50 * 65536}`);
      assert.deepEqual(last.slew, { adjustmentUs: -last.gosErrorUs, from: 'calibrating', to: 'pll', pllOffsetUs: -last.gosErrorUs, freq: tail[2]!.freq });
      // In PLL mode every pass is ADJ_OFFSET only (time constant 4 and STA_PLL already set).
      r.period();
      assert.deepEqual(Object.keys(r.adj().at(-1)!).sort(), ['esterror', 'maxerror', 'modes', 'offset']);
      for (let i = 0; i < 44; i++) r.period(); // one simulated hour in all
      assert.ok(Math.abs(r.clock.nowUs() - r.host.nowUs()) <= 1000, `residual ${r.clock.nowUs() - r.host.nowUs()} µs`);
    });

    it('PLL unsync: an error above 60 ms drops back to tick slewing', () => {
      const r = rig({ hostDriftPpm: 50 });
      startLoop(r);
      for (let i = 0; i < 17; i++) r.period();
      assert.equal(r.engine.slewState, 'pll');
      r.host.offsetUs += 70_000;
      r.period();
      assert.equal(r.engine.slewState, 'uncalibrated');
      assert.equal(r.adj().at(-1)!.modes, ADJ.TICK);
    });

    it('without GETTIMEFULL_WITH_LAG there is no slewing (apparent error unknown); steps still happen', () => {
      const r = rig({ hostOffsetUs: 50_000 });
      r.host.command = 'GETTIMEFULL';
      startLoop(r);
      assert.deepEqual(r.adj(), RESET_SLEW, 'only the loop-start reset');
      assert.equal(r.syncs[0]!.action, 'none');
      r.host.offsetUs = 2e6;
      r.period();
      assert.deepEqual(r.steps(), [2e6]);
    });

    it('slewCorrection 0: no slewing', () => {
      const r = rig({ hostOffsetUs: 50_000 });
      startLoop(r);
      r.service.setOption('time.synchronize.tools.slewCorrection', '0');
      r.period();
      assert.equal(r.syncs.at(-1)!.action, 'none');
      assert.equal(r.engine.slewActive, false);
      assert.deepEqual(r.adj().slice(-3), RESET_SLEW_AGAIN, 'stopping the slew resets it to nominal');
    });

    it('percentCorrection: 100 doubles the tick change; 0 or 101 fall back to 50', () => {
      const r = rig({ hostOffsetUs: 50_000 });
      r.service.setOption('time.synchronize.tools.percentCorrection', '100');
      startLoop(r);
      assert.deepEqual(r.adj().at(-1), { modes: ADJ.TICK, tick: 10004 }, 'startLoop resets the option to 50');
      r.service.setOption('time.synchronize.tools.percentCorrection', '100');
      r.host.offsetUs += 100_000; // 150 ms behind (minus what was slewed)
      r.period();
      assert.equal(r.service.percentCorrection, 100);
      assert.ok(r.adj().at(-1)!.tick! >= 10020, String(r.adj().at(-1)!.tick));
      r.service.setOption('time.synchronize.tools.percentCorrection', '0');
      assert.equal(r.service.percentCorrection, 50);
      r.service.setOption('time.synchronize.tools.percentCorrection', '101');
      assert.equal(r.service.percentCorrection, 50);
    });

    it('synctime 0 stops the loop: tick nominal, timer cleared; synctime 1 with tools.enable 1 first steps (backward allowed)', () => {
      const r = rig({ hostOffsetUs: -5e6 });
      startLoop(r);
      assert.ok(r.armed());
      r.service.setOption('synctime', '0');
      assert.equal(r.service.state, 'stopped');
      assert.ok(!r.armed());
      assert.deepEqual(r.adj().at(-1), { modes: ADJ.TICK, tick: 10000 });
      r.service.setOption('time.synchronize.tools.enable', '1');
      r.service.setOption('synctime', '1');
      assert.deepEqual(r.steps(), [-5e6], 'the pre-loop one-shot may go backwards');
      assert.ok(r.armed());
    });

    it('synctime 1 at first start-up (state initializing) does no pre-loop step', () => {
      const r = rig({ hostOffsetUs: -5e6 });
      r.service.setOption('time.synchronize.tools.enable', '1');
      r.service.setOption('synctime', '1');
      assert.deepEqual(r.steps(), []);
      assert.equal(r.service.state, 'running');
    });

    it('synctime.period restarts a running loop with the new period; 0 means 60', () => {
      const r = rig();
      startLoop(r);
      r.service.setOption('synctime.period', '10');
      assert.equal(r.armedMs(), 10000);
      r.service.setOption('synctime.period', '0');
      assert.equal(r.armedMs(), 60000);
      assert.equal(r.service.setOption('synctime.period', '-3'), false);
      assert.equal(r.service.setOption('synctime', 'yes'), false);
    });

    it('[timeSync] disable-periodic: the loop runs but never touches the clock', () => {
      const r = rig({ hostOffsetUs: 5e6, config: { disablePeriodic: true } });
      startLoop(r);
      r.period();
      assert.deepEqual(r.clock.events, []);
      assert.ok(r.logs.some((l) => l.level === 'info' && /disable-periodic/.test(l.msg)));
    });
  });

  describe('start-up sync (Set_Option time.synchronize.tools.startup)', () => {
    it('steps forward once per process; backward only with ...startup.backward 1', () => {
      const r = rig({ hostOffsetUs: -5e6 });
      r.service.setOption('time.synchronize.tools.startup', '1');
      assert.deepEqual(r.steps(), [], 'backward not allowed by default');
      const q = rig({ hostOffsetUs: -5e6 });
      q.service.setOption('time.synchronize.tools.startup.backward', '1');
      q.service.setOption('time.synchronize.tools.startup', '1');
      q.service.setOption('time.synchronize.tools.startup', '1');
      assert.deepEqual(q.steps(), [-5e6], 'once only');
    });

    it('a failed start-up sync may be retried by a later startup 1', () => {
      const r = rig({ hostOffsetUs: 5e6 });
      const read = r.host.read.bind(r.host);
      r.host.read = () => {
        throw new Error('no host time');
      };
      assert.equal(r.service.setOption('time.synchronize.tools.startup', '1'), false);
      r.host.read = read;
      assert.equal(r.service.setOption('time.synchronize.tools.startup', '1'), true);
      assert.deepEqual(r.steps(), [5e6]);
    });
  });

  describe('other time daemons ([timeSync] ntp-coexistence, open-vm-tools#302)', () => {
    const chrony = [{ name: 'chronyd', pid: 612 }];

    it('auto + chronyd: no loop discipline, no start-up step; logged once', () => {
      const r = rig({ hostOffsetUs: 5e6, daemons: chrony });
      r.service.setOption('time.synchronize.tools.startup', '1');
      startLoop(r);
      r.period();
      r.period();
      assert.deepEqual(r.clock.events, [], 'the kernel NTP state is chronyd\'s');
      const info = r.logs.filter((l) => l.level === 'info' && /chronyd \(pid 612\)/.test(l.msg));
      assert.equal(info.length, 2, info.map((l) => l.msg).join(' | ')); // start-up step, periodic (once)
      assert.match(info[1]!.msg, /leaving periodic time sync to it \(\[timeSync\] ntp-coexistence=auto\)/);
    });

    it('auto + chronyd: Time_Synchronize and resume still step (a host-requested one-shot)', async () => {
      const r = rig({ hostOffsetUs: 5e6, daemons: chrony });
      await r.tcloSync(' 0');
      assert.deepEqual(r.steps(), [5e6]);
      r.host.offsetUs += 3e6;
      assert.equal(r.service.resumed(), true);
      assert.deepEqual(r.steps(), [5e6, 3e6]);
    });

    it('ignore: behaves like open-vm-tools even with chronyd', () => {
      const r = rig({ hostOffsetUs: 50_000, daemons: chrony, config: { ntpCoexistence: 'ignore' } });
      startLoop(r);
      assert.deepEqual(r.adj().slice(0, 6), [...RESET_SLEW, { modes: ADJ.TICK, tick: 10004 }]);
    });

    it('defer: defers even when no daemon is seen', () => {
      const r = rig({ hostOffsetUs: 50_000, config: { ntpCoexistence: 'defer' } });
      startLoop(r);
      assert.deepEqual(r.clock.events, []);
    });

    it('a daemon that appears while we slew gets a nominal clock back, once', () => {
      const daemons: Array<{ name: string; pid: number }> = [];
      const r = rig({ hostOffsetUs: 50_000, daemons });
      startLoop(r);
      assert.equal(r.engine.slewActive, true);
      daemons.push({ name: 'ntpd', pid: 77 });
      r.period();
      assert.equal(r.engine.slewActive, false);
      assert.deepEqual(r.adj().slice(-3), RESET_SLEW_AGAIN);
      const n = r.clock.events.length;
      r.period();
      assert.equal(r.clock.events.length, n);
    });

    it('findTimeDaemons scans a /proc root: comm (15-byte truncated) and argv[0]', () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'timesync-proc-'));
      try {
        const proc = (pid: number, comm: string, argv0: string) => {
          fs.mkdirSync(path.join(root, String(pid)));
          fs.writeFileSync(path.join(root, String(pid), 'comm'), `${comm}\n`);
          fs.writeFileSync(path.join(root, String(pid), 'cmdline'), `${argv0}\0--flag\0`);
        };
        proc(1, 'systemd', '/sbin/init');
        proc(412, 'systemd-timesyn', '/lib/systemd/systemd-timesyncd');
        proc(97, 'chronyd', '/usr/sbin/chronyd');
        proc(500, 'node', '/usr/sbin/ntpd'); // argv[0]
        proc(501, 'vim', 'vim'); // not a daemon
        fs.mkdirSync(path.join(root, 'self'));
        fs.writeFileSync(path.join(root, 'uptime'), '1 1\n');
        assert.deepEqual(findTimeDaemons(root), [
          { name: 'chronyd', pid: 97 },
          { name: 'systemd-timesyncd', pid: 412 },
          { name: 'ntpd', pid: 500 },
        ]);
        assert.deepEqual(findTimeDaemons(path.join(root, 'missing')), []);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  });

  describe('pieces', () => {
    it('clock choice: simulator mode always simulated; env only adds', () => {
      assert.equal(clockKind({ simulatorMode: true }), 'simulated');
      assert.equal(clockKind({ simulatorMode: true, env: 'system' }), 'simulated');
      assert.equal(clockKind({ simulatorMode: false }), 'system');
      assert.equal(clockKind({ simulatorMode: false, env: 'simulated' }), 'simulated');
    });

    it('parseUint follows strtoul base 0 on a whole token', () => {
      assert.equal(parseUint('60'), 60);
      assert.equal(parseUint('0x3c'), 60);
      assert.equal(parseUint('074'), 60);
      assert.equal(parseUint('0'), 0);
      assert.equal(parseUint('4294967295'), 4294967295);
      assert.equal(parseUint('4294967296'), undefined);
      assert.equal(parseUint('6x'), undefined);
      assert.equal(parseUint(''), undefined);
    });

    it('simulated kernel: tick and frequency change the rate; ADJ_OFFSET needs STA_PLL; constant 0 reads 4', () => {
      let t = START;
      const c = new SimulatedClock({ trueTimeUs: () => t });
      c.adjtimex({ modes: ADJ.TICK, tick: 10010 }); // +1000 ppm
      t += 1e6;
      assert.ok(Math.abs(c.errorUs() - 1000) < 1e-6);
      c.adjtimex({ modes: ADJ.TICK | ADJ.FREQUENCY, tick: 10000, freq: -100 * 65536 });
      t += 1e6;
      assert.ok(Math.abs(c.errorUs() - 900) < 1e-6);
      c.adjtimex({ modes: ADJ.FREQUENCY, freq: 0 });
      assert.equal(c.adjtimex({ modes: ADJ.OFFSET, offset: 1000 }).offset, 0, 'ignored without STA_PLL');
      assert.equal(c.adjtimex({ modes: 0 }).state, 5, 'TIME_ERROR while unsynchronised');
      const st = c.adjtimex({ modes: ADJ.STATUS, status: STA.PLL });
      assert.equal(st.status, STA.PLL);
      assert.equal(st.state, 0);
      assert.equal(c.adjtimex({ modes: ADJ.TIMECONST, constant: 0 }).constant, 4);
      c.adjtimex({ modes: ADJ.OFFSET, offset: 6400 });
      const e0 = c.errorUs();
      t += 1e6;
      assert.ok(Math.abs(c.errorUs() - e0 - 100) < 1e-6, 'offset/64 per second');
      assert.throws(() => c.adjtimex({ modes: ADJ.TICK, tick: 12000 }), RangeError);
    });
  });
});
