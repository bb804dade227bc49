/**
 * sd_notify datagrams (native/system/sdnotify.c) and SystemdNotifier
 * (src/daemon/systemd.ts): READY/STATUS/STOPPING, the watchdog cadence and
 * its liveness gate. A bound datagram socket in the test stands in for
 * systemd; python3, when present, checks the abstract-name encoding from
 * the outside.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as nat from '../src/native';
import { SystemdNotifier, statusLine, watchdogPeriodMs } from '../src/daemon/systemd';
import { sleep } from './helpers/native-env';

const ENOENT = os.constants.errno.ENOENT;
const EINVAL = os.constants.errno.EINVAL;
const ENAMETOOLONG = os.constants.errno.ENAMETOOLONG;
const ECONNREFUSED = os.constants.errno.ECONNREFUSED;

interface Received {
  at: number;
  text: string;
}

/** Every datagram waiting on fd right now (no waiting, no event-loop turn). */
function drain(fd: number): string[] {
  const out: string[] = [];
  for (let d = nat.recvDatagramForTesting(fd, 0); d !== null; d = nat.recvDatagramForTesting(fd, 0)) {
    out.push(d.toString('utf8'));
  }
  return out;
}

/** Datagrams arriving on fd during `ms`, timestamped, polling without blocking the event loop. */
async function collect(fd: number, ms: number): Promise<Received[]> {
  const out: Received[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    for (const text of drain(fd)) out.push({ at: Date.now(), text });
    await sleep(2);
  }
  for (const text of drain(fd)) out.push({ at: Date.now(), text });
  return out;
}

function expectIo(fn: () => unknown, errno: number): nat.ChannelError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof nat.ChannelError, String(e));
    assert.equal(e.code, 'IO', e.message);
    assert.equal(e.errno, errno, e.message);
    return e;
  }
  assert.fail(`expected IO/${errno}`);
}

function uniqueAbstract(): string {
  return `@vmtoolsd-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

const logger = (): { lines: string[]; warn(m: string): void; debug(m: string): void } => {
  const lines: string[] = [];
  return { lines, warn: (m) => lines.push(`warn ${m}`), debug: (m) => lines.push(`debug ${m}`) };
};

const hasPython = spawnSync('python3', ['-c', 'pass']).status === 0;

describe('sd_notify (native) and SystemdNotifier', function () {
  let dir: string;
  let fsPath: string;
  let fsFd: number;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-sdnotify-'));
    fsPath = path.join(dir, 'notify.sock');
    fsFd = nat.bindDatagramForTesting(fsPath);
  });
  after(() => {
    fs.closeSync(fsFd);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => drain(fsFd));

  describe('sdNotify()', () => {
    it('sends one datagram to a filesystem socket, bytes exact', () => {
      nat.sdNotify(fsPath, 'READY=1');
      nat.sdNotify(fsPath, Buffer.from('STATUS=ünïcode\nX=1'));
      assert.deepEqual(drain(fsFd), ['READY=1', 'STATUS=ünïcode\nX=1']);
    });

    it('sends to an abstract name: "@" is a leading NUL, no trailing NUL', () => {
      const name = uniqueAbstract();
      const fd = nat.bindDatagramForTesting(name);
      try {
        // The kernel's own view: an exact-length abstract name lists as "@name";
        // a trailing NUL would list as "@name@".
        const listed = fs.readFileSync('/proc/net/unix', 'utf8').split('\n').map((l) => l.trim().split(/\s+/).at(-1));
        assert.ok(listed.includes(name), `${name} bound with its exact length`);
        nat.sdNotify(name, 'WATCHDOG=1');
        assert.deepEqual(drain(fd), ['WATCHDOG=1']);
      } finally {
        fs.closeSync(fd);
      }
    });

    it('reaches an abstract socket bound by another program (python3)', async function () {
      if (!hasPython) this.skip();
      const name = uniqueAbstract();
      const py = spawn('python3', [
        '-c',
        [
          'import socket, sys',
          's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
          's.bind("\\0" + sys.argv[1])',
          's.settimeout(10)',
          'print("bound", flush=True)',
          'print(s.recv(4096).hex(), flush=True)',
        ].join('\n'),
        name.slice(1),
      ]);
      let out = '';
      py.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise<number | null>((r) => py.on('close', r));
      while (!out.includes('bound')) {
        assert.equal(py.exitCode, null, 'python3 exited early');
        await sleep(10);
      }
      nat.sdNotify(name, 'READY=1');
      assert.equal(await done, 0);
      assert.equal(Buffer.from(out.split('\n')[1], 'hex').toString(), 'READY=1');
    });

    it('failures are ChannelError code IO with errno', () => {
      const e = expectIo(() => nat.sdNotify(path.join(dir, 'missing.sock'), 'READY=1'), ENOENT);
      assert.match(e.message, /sd_notify: sendto .*missing\.sock: No such file or directory/);
      expectIo(() => nat.sdNotify('relative/notify', 'READY=1'), EINVAL);
      expectIo(() => nat.sdNotify(uniqueAbstract(), 'READY=1'), ECONNREFUSED);
      expectIo(() => nat.sdNotify('/' + 'x'.repeat(107), 'READY=1'), ENAMETOOLONG);
      expectIo(() => nat.sdNotify('@' + 'x'.repeat(108), 'READY=1'), ENAMETOOLONG);
      assert.throws(() => nat.sdNotify('', 'READY=1'), TypeError);
      assert.throws(() => nat.sdNotify('\0abstract', 'READY=1'), TypeError);
    });

    it('fits the longest names exactly (107-byte path, 108-byte abstract)', () => {
      const abs = '@' + 'a'.repeat(107 - 20) + Math.random().toString(36).slice(2, 22).padEnd(20, '0');
      assert.equal(abs.length, 108);
      const long = path.join(dir, 'p'.repeat(107 - dir.length - 1));
      assert.equal(long.length, 107);
      for (const name of [abs, long]) {
        const fd = nat.bindDatagramForTesting(name);
        try {
          nat.sdNotify(name, 'READY=1');
          assert.deepEqual(drain(fd), ['READY=1']);
        } finally {
          fs.closeSync(fd);
        }
      }
    });
  });

  describe('SystemdNotifier', () => {
    it('without NOTIFY_SOCKET: disabled, every call a no-op', () => {
      const n = new SystemdNotifier({ env: { WATCHDOG_USEC: '1000000' } });
      assert.equal(n.enabled, false);
      assert.equal(n.watchdogPeriodMs, null);
      assert.equal(n.ready(), false);
      assert.equal(n.status('x'), false);
      assert.equal(n.startWatchdog(() => true), false);
      assert.equal(n.watchdogRunning, false);
    });

    it('READY=1, STATUS= (one line), STOPPING=1', () => {
      const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: fsPath } });
      assert.equal(n.enabled, true);
      assert.equal(n.ready(), true);
      assert.equal(n.status('polling TCLO\nchannel 3\r\nok\0'), true);
      assert.equal(n.stopping(), true);
      assert.deepEqual(drain(fsFd), ['READY=1', 'STATUS=polling TCLO channel 3 ok', 'STOPPING=1']);
      assert.equal(statusLine('a\n\nb\rc'), 'a b c');
    });

    it('works with an abstract NOTIFY_SOCKET', () => {
      const name = uniqueAbstract();
      const fd = nat.bindDatagramForTesting(name);
      try {
        assert.equal(new SystemdNotifier({ env: { NOTIFY_SOCKET: name } }).ready(), true);
        assert.deepEqual(drain(fd), ['READY=1']);
      } finally {
        fs.closeSync(fd);
      }
    });

    it('WATCHDOG_USEC / WATCHDOG_PID: half the timeout, only for our pid', () => {
      assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '20000000' }, 42), 10000);
      assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '42' }, 42), 10000);
      assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '43' }, 42), null);
      assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '0' }, 42), null);
      assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '-5' }, 42), null);
      assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '1e6' }, 42), null);
      assert.equal(watchdogPeriodMs({}, 42), null);
      assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: '1' }, 42), 1);
      assert.equal(watchdogPeriodMs({ WATCHDOG_USEC: String(Number.MAX_SAFE_INTEGER) }, 42), 0x7fffffff);
      const other = new SystemdNotifier({ env: { NOTIFY_SOCKET: fsPath, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' } });
      assert.equal(other.startWatchdog(() => true), false);
    });

    it('WATCHDOG=1 right away, then every WATCHDOG_USEC/2', async () => {
      const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: fsPath, WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid) } });
      assert.equal(n.watchdogPeriodMs, 100);
      const t0 = Date.now();
      assert.equal(n.startWatchdog(() => true), true);
      let got: Received[];
      try {
        got = await collect(fsFd, 1050);
      } finally {
        n.stopWatchdog();
      }
      assert.ok(got.every((r) => r.text === 'WATCHDOG=1'), JSON.stringify(got));
      // At 0, 100, …, 1000 ms: 11 pings; allow for timer jitter.
      assert.ok(got.length >= 9 && got.length <= 12, `${got.length} pings`);
      assert.ok(got[0].at - t0 < 50, 'first ping at once');
      const gaps = got.slice(1).map((r, i) => r.at - got[i].at).sort((a, b) => a - b);
      const median = gaps[Math.floor(gaps.length / 2)];
      assert.ok(median >= 80 && median <= 130, `median gap ${median} ms`);
      assert.deepEqual(await collect(fsFd, 250), [], 'nothing after stopWatchdog()');
    });

    it('no WATCHDOG=1 while isAlive() is false (or throws); pings resume when it passes', async () => {
      const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: fsPath, WATCHDOG_USEC: '100000' } });
      let alive: boolean | 'throw' = false;
      let checks = 0;
      n.startWatchdog(() => {
        checks++;
        if (alive === 'throw') throw new Error('TCLO loop state unknown');
        return alive;
      });
      try {
        assert.deepEqual(await collect(fsFd, 400), []);
        assert.ok(checks >= 6, `liveness asked ${checks} times`);
        alive = 'throw';
        assert.deepEqual(await collect(fsFd, 200), []);
        alive = true;
        const got = await collect(fsFd, 300);
        assert.ok(got.length >= 4 && got.every((r) => r.text === 'WATCHDOG=1'), JSON.stringify(got));
      } finally {
        n.close();
      }
    });

    it('a blocked event loop sends no pings', async () => {
      const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: fsPath, WATCHDOG_USEC: '40000' } });
      n.startWatchdog(() => true);
      try {
        await sleep(100);
        drain(fsFd);
        const end = Date.now() + 400;
        while (Date.now() < end) {
          // busy: 20 ping periods pass without the timer running
        }
        assert.deepEqual(drain(fsFd), []);
        await sleep(50);
        assert.ok(drain(fsFd).length >= 1, 'pings resume with the loop');
      } finally {
        n.close();
      }
    });

    it('a failed send returns false and is logged once, not thrown', () => {
      const log = logger();
      const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: path.join(dir, 'gone.sock') }, log });
      assert.equal(n.ready(), false);
      assert.equal(n.status('x'), false);
      assert.equal(log.lines.length, 2);
      assert.match(log.lines[0], /^warn sd_notify "READY=1" failed: .*No such file or directory/);
      assert.match(log.lines[1], /^debug sd_notify "STATUS=x" failed/);
    });
  });
});
