/**
 * Time sync benchmark: the reference's algorithm (core-services.md §7) as
 * implemented in src/services/timesync, run on the simulated clock in
 * virtual time (an hour takes milliseconds), against a host clock model
 * with a chosen offset and drift. Never touches this machine's clock.
 *
 * | Figure | Target (issue 5) |
 * |---|---|
 * | residual after one sync | ≤ 1 ms where the reference steps |
 * | residual after one simulated hour with drift (periodic sync, slewing on) | ≤ 1 ms |
 *
 * Side by side with open-vm-tools: its timeSync plugin cannot apply a
 * correction here (it would change this machine's clock; in the sandbox it
 * lacks CAP_SYS_TIME), so the comparison is of decisions and parameters:
 * each row prints what our engine did next to what the reference's formulas
 * (§7.2-7.5, slewLinux.c, pllLinux.c) prescribe for the same inputs.
 * test/93-timesync-differential.test.ts compares the RPCs and backdoor calls
 * of both daemons in the sandbox.
 *
 * Run with `bash scripts/run-bench.sh timesync`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADJ, detect, stats } from '../src/native';
import {
  BackdoorHostTime,
  ModelHostTime,
  readHostAndGuest,
  SimulatedClock,
  SyncResult,
  TimeSyncEngine,
  TimeSyncService,
} from '../src/services/timesync';
import { startSimulator } from '../src/sim/harness';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const RESULTS = path.join(REPO_ROOT, 'bench', 'results');
const START = 1_800_000_000_000_000;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Rig {
  clock: SimulatedClock;
  host: ModelHostTime;
  engine: TimeSyncEngine;
  service: TimeSyncService;
  syncs: SyncResult[];
  /** Let `s` seconds of virtual time pass; fires the loop timer if it is due. */
  run(s: number): void;
  residualUs(): number;
}

function rig(hostOffsetUs: number, hostDriftPpm: number, guestDriftPpm = 0): Rig {
  let t = START;
  const trueTimeUs = (): number => t;
  const clock = new SimulatedClock({ trueTimeUs, driftPpm: guestDriftPpm });
  const host = new ModelHostTime({ trueTimeUs, offsetUs: hostOffsetUs, driftPpm: hostDriftPpm });
  const engine = new TimeSyncEngine({ clock, host, log: quiet });
  let due: { at: number; fn: () => void } | undefined;
  const syncs: SyncResult[] = [];
  const service = new TimeSyncService({
    engine,
    config: () => ({ disableAll: false, disablePeriodic: false, ntpCoexistence: 'ignore', timeInfoEnabled: false }),
    log: quiet,
    timeDaemons: () => [],
    scheduler: { setTimeout: (fn, ms) => ((due = { at: t + ms * 1000, fn }), 1), clearTimeout: () => (due = undefined) },
    onSync: (_w, r) => syncs.push(r),
  });
  return {
    clock,
    host,
    engine,
    service,
    syncs,
    run(s: number) {
      const end = t + s * 1e6;
      while (due && due.at <= end) {
        t = due.at;
        const d = due;
        due = undefined;
        d.fn();
      }
      t = end;
    },
    residualUs: () => clock.errorUs() - (host.nowUs() - trueTimeUs()),
  };
}

function startLoop(r: Rig): void {
  for (const [k, v] of [['synctime', '0'], ['synctime.period', '60'], ['time.synchronize.tools.slewCorrection', '1'], ['time.synchronize.tools.percentCorrection', '50'], ['synctime', '1']]) {
    r.service.setOption(k!, v!);
  }
}

const fmtUs = (us: number): string => {
  const a = Math.abs(us);
  if (a >= 1e6) return `${(us / 1e6).toFixed(3)} s`;
  if (a >= 1e3) return `${(us / 1e3).toFixed(2)} ms`;
  return `${us.toFixed(1)} µs`;
};

/** What the reference prescribes for a first periodic pass with error `adj` (host − guest), period 60 s, 50 %. */
function referencePeriodic(adj: number, maxLag = 500000): string {
  if (-adj < -maxLag) return `step ${fmtUs(adj)}`;
  const slewDiff = Math.trunc((adj * 50) / 100);
  const tick = Math.min(11000, Math.max(9000, Math.trunc((60e6 + slewDiff) / 6000)));
  return `tick ${tick}${Math.abs(adj) < 30000 ? ', calibrate' : ''}`;
}

function ourPeriodic(r: SyncResult): string {
  if (r.action === 'step') return `step ${fmtUs(r.stepUs!)}`;
  if (r.action === 'slew') return `tick ${r.slew!.tick}${r.slew!.to === 'calibrating' ? ', calibrate' : ''}`;
  return 'none';
}

/** The shim is preloaded (scripts/run-bench.sh): the real backdoor path to a simulator is available. */
function shimLoaded(): boolean {
  try {
    return !!process.env.VMTOOLSD_SIM_SOCKET && fs.readFileSync('/proc/self/maps', 'utf8').includes('vmtoolsd_trap_shim.so');
  } catch {
    return false;
  }
}

/**
 * One-shot syncs through the real backdoor path (addon → shim → simulator,
 * host clock +5 s): the residual right after the step, measured with the
 * same bracketed read, the backdoor calls and the time per sync.
 */
async function throughSimulator(runs: number): Promise<{ residualsUs: number[]; callsPerSync: number; msPerSync: number[] } | null> {
  if (!shimLoaded()) return null;
  const sim = await startSimulator({ trapSocket: process.env.VMTOOLSD_SIM_SOCKET });
  try {
    detect();
    const residualsUs: number[] = [];
    const msPerSync: number[] = [];
    let calls = 0;
    for (let i = 0; i < runs; i++) {
      await sim.client.setClockOffset({ ms: 5000 });
      const clock = new SimulatedClock();
      const engine = new TimeSyncEngine({ clock, host: new BackdoorHostTime(), log: quiet });
      const before = stats().lb;
      const t0 = performance.now();
      engine.doSync('step', false, false);
      msPerSync.push(performance.now() - t0);
      calls += stats().lb - before;
      const s = readHostAndGuest(new BackdoorHostTime(), clock);
      residualsUs.push(s.guestUs - s.hostUs);
    }
    return { residualsUs, callsPerSync: calls / runs, msPerSync };
  } finally {
    await sim.stop();
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main(): Promise<void> {
  const lines: string[] = [];
  const out = (s = ''): void => {
    lines.push(s);
    console.log(s);
  };
  out('# Time sync benchmark (simulated clock, virtual time)');
  out();
  out(`Run ${new Date().toISOString()} on Node ${process.version}. Source: bench/timesync.ts. Host clock model: max lag 500 ms (ECX), no interrupt lag; GETTIMEFULL_WITH_LAG.`);
  out();

  // 1. One-shot sync (Time_Synchronize).
  out('## One sync: `Time_Synchronize <n>` (one-shot, §7.2)');
  out();
  out('| Host offset | n | Reference decision | Ours | Residual after the sync | Target |');
  out('|---|---|---|---|---|---|');
  const oneShot: Array<[number, number]> = [[5e6, 0], [-5e6, 0], [-5e6, 1], [50e3, 0], [5e3, 0]];
  const oneShotRows: unknown[] = [];
  for (const [off, n] of oneShot) {
    const r = rig(off, 0);
    void r.service.tcloHandlers()['Time_Synchronize']!(Buffer.from(` ${n}`));
    const s = r.syncs[0]!;
    const refStep = -off < -500000 || (-off > 0 && n === 1);
    const ref = refStep ? `step ${fmtUs(off)}` : 'none (within max lag / no backward)';
    const ours = s.action === 'step' ? `step ${fmtUs(s.stepUs!)}` : 'none';
    const res = r.residualUs();
    out(`| ${fmtUs(off)} | ${n} | ${ref} | ${ours} | ${fmtUs(res)} | ${refStep ? (Math.abs(res) <= 1000 ? '≤ 1 ms ✔' : '≤ 1 ms ✘') : '— (no step by design)'} |`);
    oneShotRows.push({ offsetUs: off, n, reference: ref, ours, residualUs: res });
  }
  out();

  const real = await throughSimulator(50);
  if (real) {
    const abs = real.residualsUs.map(Math.abs);
    out(`Through the real backdoor path (addon → trap shim → simulator, host +5 s, ${real.residualsUs.length} one-shot syncs on a fresh simulated clock each): residual after the step median ${fmtUs(pct(abs, 50))}, max ${fmtUs(Math.max(...abs))} (target ≤ 1 ms ${Math.max(...abs) <= 1000 ? '✔' : '✘'}); ${real.callsPerSync.toFixed(1)} backdoor calls per sync (host reads + STOPCATCHUP); ${pct(real.msPerSync, 50).toFixed(2)} ms per sync (median, each call is a trap into the simulator here).`);
  } else {
    out('Through the real backdoor path: skipped (run through scripts/run-bench.sh so the trap shim is preloaded).');
  }
  out();

  // 2. First periodic pass and one hour of periodic sync.
  out('## Periodic sync (`Set_Option synctime 1`, slewCorrection 1, period 60 s, 50 %)');
  out();
  out('| Host offset | Host drift | Reference first pass | Ours | Residual after 1 min | after 1 h | max |error| in the last 15 min | PLL at | Target (1 h) |');
  out('|---|---|---|---|---|---|---|---|---|');
  const periodic: Array<[number, number, number]> = [
    [5e6, 0, 0], [-5e6, 0, 0], [50e3, 0, 0], [5e3, 0, 0], [0, 50, 0], [0, -50, 0], [0, 200, 0], [20e3, 50, 10],
  ];
  const periodicRows: unknown[] = [];
  for (const [off, drift, guestDrift] of periodic) {
    const r = rig(off, drift, guestDrift);
    startLoop(r);
    const first = r.syncs[0]!;
    r.run(60);
    const after1m = r.residualUs();
    let maxLast = 0;
    let pllAt: number | undefined;
    for (let s = 60; s < 3600; s += 60) {
      r.run(60);
      if (pllAt === undefined && r.engine.slewState === 'pll') pllAt = s + 60;
      if (s + 60 > 2700) maxLast = Math.max(maxLast, Math.abs(r.residualUs()));
    }
    const after1h = r.residualUs();
    const ok = Math.abs(after1h) <= 1000;
    out(
      `| ${fmtUs(off)} | ${drift} ppm${guestDrift ? ` (guest ${guestDrift} ppm)` : ''} | ${referencePeriodic(off)} | ${ourPeriodic(first)} | ${fmtUs(after1m)} | ${fmtUs(after1h)} | ${fmtUs(maxLast)} | ${pllAt ? `${pllAt / 60} min` : '—'} | ${ok ? '≤ 1 ms ✔' : '≤ 1 ms ✘'} |`,
    );
    periodicRows.push({ offsetUs: off, hostDriftPpm: drift, guestDriftPpm: guestDrift, reference: referencePeriodic(off), ours: ourPeriodic(first), after1mUs: after1m, after1hUs: after1h, maxLast15mUs: maxLast, pllAtS: pllAt ?? null });
  }
  out();

  // 3. The 50 ppm hour in detail: what the kernel was told.
  const r = rig(0, 50);
  startLoop(r);
  r.run(3600);
  const calls = r.clock.events.flatMap((e) => (e.kind === 'adjtimex' ? [e.input] : []));
  const freq = calls.filter((c) => c.modes === ADJ.FREQUENCY && c.freq !== 0).map((c) => c.freq!);
  const ticks = [...new Set(calls.filter((c) => c.modes === ADJ.TICK).map((c) => c.tick!))];
  out('## 50 ppm host drift, one hour: the adjtimex calls');
  out();
  out(`- ${calls.length} adjtimex calls, ${r.clock.events.filter((e) => e.kind === 'step').length} steps;`);
  out(`- ticks used while calibrating: ${ticks.join(', ')} (tick resolution is 100 ppm, so 50 ppm is slewed by alternating 10000/10001);`);
  out(`- PLL frequency set at activation: ${freq.map((f) => `${f} (${(f / 65536).toFixed(3)} ppm)`).join(', ')} — the reference's calibration estimate of the 50 ppm drift;`);
  out(`- residual at the end: ${fmtUs(r.residualUs())}; without any sync it would be ${fmtUs(50 * 3600)}.`);
  out();
  out('Reading the tables: "Reference" is what core-services.md §7.2-7.5 prescribes (step test, tick = (60 s + 50 % of the error) / 6000 clamped to 9000-11000, calibration below 30 ms, PLL after 15 min). The one-shot rows without a step are by design: the reference only steps a guest that is behind by more than the host\'s max lag (500 ms here), or ahead when `n` is 1. A periodic loop never steps backwards; a guest 5 s ahead is slewed instead, 50 % of the error per minute (tick 9583, then 9791, …), and calibrates the PLL once under 30 ms. Everything runs in virtual time on the simulated clock (src/services/timesync/simulatedClock.ts: tick, frequency and the PLL offset and time constant as kernel/time/ntp.c applies them), so the residuals are those of the algorithm, without the read noise of a real backdoor (test/63-timesync-sim.test.ts measures the same hour through the simulator: within 1 ms).');

  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'timesync.md'), lines.join('\n') + '\n');
  fs.writeFileSync(path.join(RESULTS, 'timesync.json'), JSON.stringify({ oneShot: oneShotRows, throughSimulator: real, periodic: periodicRows }, null, 2) + '\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
