/**
 * The tools hang detector end to end (core-services.md §5.3): the main
 * thread is blocked with a synchronous busy-wait, the native detector
 * thread must still tell the simulated host `update.tools.health hung` on a
 * one-shot backdoor channel, then `normal` once the loop runs again; a
 * refused update stops further ones until onReset().
 *
 * The first case runs at the real 1 s period (≈ 10 s); the others shorten
 * the period (intervalMs), which changes no logic, to keep the suite quick.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { HangDetector, HangDetectorEvent } from '../src/daemon/hangDetector';
import * as nat from '../src/native';
import type { SimLogEntry } from '../src/sim/control';
import type { SimHandle } from '../src/sim/harness';
import { REPO_ROOT, describeUnderShim, sleep, startSim } from './helpers/native-env';

/** Blocks this thread (and so the event loop) for `ms`. */
function busyWait(ms: number): { start: number; end: number } {
  const start = Date.now();
  while (Date.now() - start < ms) {
    // spin: no timer, no I/O callback, no check-in runs
  }
  return { start, end: Date.now() };
}

function recordingLog(): { lines: string[]; info(m: string): void; warn(m: string): void; debug(m: string): void } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    debug: (m) => lines.push(`debug ${m}`),
  };
}

/** The exact request text (a NUL or any stray byte would show). */
const health = (s: string): string => `update.tools.health ${s}`;
const requests = (entries: SimLogEntry[]): Array<string | undefined> => entries.map((e) => e.request?.toString('latin1'));

describeUnderShim(__filename, 'tools hang detector (simulator)', function () {
  let sim: SimHandle;
  let detector: HangDetector | undefined;

  before(async () => {
    sim = await startSim();
    // Backdoor detection is cached per process; a suite that probed while no
    // simulator listened (40-vsock) leaves "not VMware" behind. Probe anew.
    assert.equal(nat.detect().vmware, true, 'the simulator answers the backdoor probe');
  });
  after(async () => {
    await sim?.stop();
  });
  afterEach(async () => {
    detector?.stop();
    detector = undefined;
    // The simulator's default answer (removing the entry would make it "Unknown command").
    await sim.client.setCannedReply('update.tools.health', '1 ');
  });

  async function lastSeq(): Promise<number> {
    return (await sim.client.getRpcLog()).at(-1)?.seq ?? 0;
  }

  async function healthLog(since: number): Promise<SimLogEntry[]> {
    return (await sim.client.getRpcLog(since)).filter((e) => e.pid === process.pid && e.request?.subarray(0, 19).toString() === 'update.tools.health');
  }

  async function messageCounts(): Promise<Record<string, number>> {
    return (await sim.client.getCountersForPid(process.pid)).message;
  }

  it('a blocked main loop: "hung" sent from the detector thread, "normal" after recovery', async function () {
    this.timeout(30000);
    const log = recordingLog();
    const events: HangDetectorEvent[] = [];
    detector = new HangDetector({ log, onTransition: (ev) => events.push(ev) });
    const since = await lastSeq();
    const before = await messageCounts();

    assert.equal(detector.start(), true);
    await sleep(1500);
    assert.equal(detector.state, 'normal');
    assert.deepEqual(await healthLog(since), [], 'nothing sent while the loop checks in');

    const block = busyWait(6500);
    // Read before the event loop turns: the thread decided during the block.
    assert.equal(detector.state, 'hung');
    assert.equal(events.length, 0, 'reports wait for the event loop');

    await sleep(1500); // the overdue check-in runs, the next sample sees it
    assert.equal(detector.state, 'normal');

    assert.deepEqual(events.map((e) => [e.state, e.outcome, e.detail]), [['hung', 'sent', ''], ['normal', 'sent', '']]);
    const entries = await healthLog(since);
    assert.deepEqual(requests(entries), [health('hung'), health('normal')], 'exact bytes, no NUL');
    for (const e of entries) {
      assert.equal(e.transport, 'backdoor');
      assert.equal(e.proto, 'RPCI');
      assert.deepEqual(e.reply, Buffer.from('1 '));
    }
    assert.notEqual(entries[0].channel, undefined);
    // ≈ 5 samples after the last check-in, and while this thread was still spinning.
    assert.ok(entries[0].time >= block.start + 4000 && entries[0].time <= block.end, `hung at +${entries[0].time - block.start} ms`);
    assert.ok(entries[1].time > block.end);

    // One fresh one-shot channel per update: OPEN … CLOSE each.
    const after = await messageCounts();
    assert.equal((after.OPEN ?? 0) - (before.OPEN ?? 0), 2, 'OPEN');
    assert.equal((after.CLOSE ?? 0) - (before.CLOSE ?? 0), 2, 'CLOSE');

    assert.equal(events[0].intervalsMs.length, 5);
    assert.ok(events[0].elapsedMs > 4500 && events[0].elapsedMs < 7500, `5 samples took ${events[0].elapsedMs} ms`);
    assert.ok(log.lines.includes('info tools service hung.'), log.lines.join('\n'));
    assert.ok(log.lines.includes('info tools service recovered from a hang.'));
    assert.ok(log.lines.some((l) => /^info tools hang detector time sequence (\d+\.\d\ds, ){4}\d+\.\d\ds\.$/.test(l)));
  });

  it('the host refuses ("0 "): no further updates until onReset()', async function () {
    this.timeout(15000);
    await sim.client.setCannedReply('update.tools.health', '0 rejected');
    const log = recordingLog();
    const events: HangDetectorEvent[] = [];
    detector = new HangDetector({ log, intervalMs: 100, onTransition: (ev) => events.push(ev) });
    const since = await lastSeq();
    detector.start();
    await sleep(250);

    const hangOnce = async (): Promise<void> => {
      busyWait(1000); // 10 periods: hung after 5 samples
      assert.equal(detector?.state, 'hung');
      await sleep(400);
      assert.equal(detector?.state, 'normal');
    };

    await hangOnce(); // sent, refused: latched
    await hangOnce(); // nothing sent
    assert.deepEqual(requests(await healthLog(since)), [health('hung')]);

    detector.onReset();
    await hangOnce(); // sent again (and refused again)
    const entries = await healthLog(since);
    assert.deepEqual(requests(entries), [health('hung'), health('hung')]);
    assert.deepEqual(entries[1].reply, Buffer.from('0 rejected'));

    assert.deepEqual(
      events.map((e) => [e.state, e.outcome]),
      [
        ['hung', 'rejected'],
        ['normal', 'suppressed'],
        ['hung', 'suppressed'],
        ['normal', 'suppressed'],
        ['hung', 'rejected'],
        ['normal', 'suppressed'],
      ],
    );
    assert.equal(events[0].detail, 'rejected');
    assert.ok(log.lines.includes('warn Failed to send RPCI message: update.tools.health hung (rejected); no more health updates until the next reset.'), log.lines.join('\n'));
  });

  it('a starved guest (5 samples took > 1.5 × their nominal time): "guest_slow"', async function () {
    this.timeout(15000);
    const events: HangDetectorEvent[] = [];
    // Samples 100 + 100 ms apart: 5 of them take ~1000 ms > 5 × 100 × 1.5.
    detector = new HangDetector({ log: recordingLog(), intervalMs: 100, starveForTestingMs: 100, onTransition: (ev) => events.push(ev) });
    const since = await lastSeq();
    detector.start();
    await sleep(300);
    busyWait(1800);
    assert.equal(detector.state, 'guest_slow');
    await sleep(600);
    assert.equal(detector.state, 'normal');
    assert.deepEqual(requests(await healthLog(since)), [health('guest_slow'), health('normal')]);
    assert.deepEqual(events.map((e) => [e.state, e.outcome]), [['guest_slow', 'sent'], ['normal', 'sent']]);
    assert.ok(events[0].elapsedMs > 750, `${events[0].elapsedMs} ms`);
  });

  it('disabled ([vmsvc] toolsHangDetectorDisabled=true): start() does nothing', async () => {
    const log = recordingLog();
    detector = new HangDetector({ disabled: true, log, intervalMs: 50 });
    const since = await lastSeq();
    assert.equal(detector.start(), false);
    assert.equal(detector.running, false);
    busyWait(500);
    await sleep(100);
    assert.equal(detector.state, 'normal');
    assert.deepEqual(await healthLog(since), []);
    assert.deepEqual(log.lines, ['info tools hang detector is disabled']);
  });

  it('stop() joins the thread; neither timer nor thread keeps a process alive', async function () {
    this.timeout(15000);
    detector = new HangDetector({ log: recordingLog(), intervalMs: 50 });
    detector.start();
    detector.stop();
    detector.stop();
    assert.equal(detector.running, false);
    assert.equal(detector.state, 'normal');

    const script = `
      const { HangDetector } = require(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'daemon', 'hangDetector.js'))});
      const log = { info() {}, warn() {}, debug() {} };
      new HangDetector({ log }).start();
      globalThis.t0 = Date.now();
      process.on('exit', () => console.log('exited after ' + (Date.now() - t0) + ' ms'));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 0, r.stderr);
    const ms = Number(/exited after (\d+) ms/.exec(r.stdout)?.[1]);
    assert.ok(ms < 500, `process lingered ${ms} ms`);
  });

  it('the thread goes with its environment: a worker that exits, a collected object', async function () {
    this.timeout(15000);
    const daemon = JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'daemon', 'hangDetector.js'));
    const nativeIndex = JSON.stringify(path.join(REPO_ROOT, 'dist', 'src', 'native', 'index.js'));
    const script = `
      const { Worker } = require('node:worker_threads');
      const nat = require(${nativeIndex});
      (async () => {
        // A worker that starts a detector and ends without stop(): the
        // environment's cleanup hook must stop and join the thread.
        for (let i = 0; i < 3; i++) {
          const w = new Worker(\`
            const { HangDetector } = require(${daemon});
            new HangDetector({ log: { info() {}, warn() {}, debug() {} }, intervalMs: 20 }).start();
            const t = Date.now(); while (Date.now() - t < 200); // reports queue up, undelivered\`, { eval: true });
          const code = await new Promise((r) => w.on('exit', r));
          if (code !== 0) throw new Error('worker exit ' + code);
        }
        // A thread object nobody references: its destructor joins the thread.
        for (let i = 0; i < 20; i++) nat.startHangDetectorThread(() => {}, { intervalMs: 20 });
        for (let i = 0; i < 5; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
        const threads = require('node:fs').readdirSync('/proc/self/task')
          .map((t) => { try { return require('node:fs').readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim(); } catch { return ''; } })
          .filter((n) => n === 'HangDetector').length;
        console.log('detector threads left: ' + threads);
        // And leave with reports still queued: the environment's cleanup drops them.
        const kept = [1, 2, 3].map(() => nat.startHangDetectorThread(() => {}, { intervalMs: 20 }));
        const t = Date.now(); while (Date.now() - t < 200);
        globalThis.kept = kept;
      })().catch((e) => { console.error(e); process.exit(1); });`;
    // Off the shim: the health updates fail at OPEN (no backdoor), which is fine here.
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    delete env.VMTOOLSD_SIM_SOCKET;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 10000, env });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /detector threads left: 0/);
  });
});
