/**
 * Layer 6: the logind backend (src/services/powerops/dbus.ts, LogindBackend)
 * against a private dbus-daemon with a fake org.freedesktop.login1, then
 * bin/vmtoolsd using it end to end through the simulator.
 *
 * Safety: the bus is a dbus-daemon started here with its own configuration,
 * listening only on a socket in a temp directory; this machine's system bus
 * is never contacted (every path is asserted to be under the temp directory).
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chooseBackend, DBusConnection, LogindBackend, Message, RefusedBackend } from '../src/services/powerops';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, REPO_ROOT, sleep, startSim } from './helpers/native-env';

const VMTOOLSD = path.join(REPO_ROOT, 'bin', 'vmtoolsd');

/** A private bus: dbus-daemon with a permissive policy, on `socket` only. */
async function startBus(socket: string): Promise<ChildProcess> {
  assert.ok(socket.startsWith(os.tmpdir()), `refusing a bus outside the temp directory: ${socket}`);
  fs.mkdirSync(path.dirname(socket), { recursive: true });
  const conf = path.join(path.dirname(socket), 'bus.conf');
  fs.writeFileSync(
    conf,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
`,
  );
  const p = spawn('dbus-daemon', [`--config-file=${conf}`, '--nofork', '--nopidfile', '--nosyslog'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const end = Date.now() + 5000;
  while (!fs.existsSync(socket)) {
    if (p.exitCode !== null || Date.now() > end) throw new Error(`dbus-daemon did not start: ${err}`);
    await sleep(20);
  }
  return p;
}

/** A fake systemd-logind: owns org.freedesktop.login1 and records PowerOff/Reboot calls. */
class FakeLogind {
  calls: string[] = [];
  /** Answer with this D-Bus error instead of success. */
  failWith: { name: string; message: string } | undefined;
  private constructor(private readonly conn: DBusConnection) {}
  static async start(socket: string): Promise<FakeLogind> {
    const conn = await DBusConnection.connect(socket);
    const f = new FakeLogind(conn);
    conn.onMessage = (m: Message) => f.onCall(m);
    const r = await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', iface: 'org.freedesktop.DBus', member: 'RequestName', signature: 'su', body: ['org.freedesktop.login1', 4] });
    assert.equal(r.body[0], 1, 'primary owner of org.freedesktop.login1');
    return f;
  }
  private onCall(m: Message): void {
    if (m.type !== 1) return;
    const member = String(m.fields.get(3));
    const iface = String(m.fields.get(2));
    this.calls.push(`${m.fields.get(1)} ${iface}.${member}(${m.signature}) ${m.body.join(',')}`);
    if (this.failWith) this.conn.reply(m, { error: this.failWith });
    else this.conn.reply(m, {});
  }
  stop(): void {
    this.conn.close();
  }
}

describe('logind backend over a private D-Bus', () => {
  let dir: string;
  let bus: ChildProcess;
  let socket: string;
  let logind: FakeLogind;
  before(async function () {
    this.timeout(20000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-power-dbus-'));
    // Laid out as a root file system, so `auto` finds it where it looks for the system bus.
    socket = path.join(dir, 'root', 'run', 'dbus', 'system_bus_socket');
    bus = await startBus(socket);
    logind = await FakeLogind.start(socket);
  });
  after(() => {
    logind?.stop();
    bus?.kill('SIGTERM');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    logind.calls = [];
    logind.failWith = undefined;
  });

  it('halt → PowerOff(false), reboot → Reboot(false) on /org/freedesktop/login1', async () => {
    const b = new LogindBackend(socket);
    assert.deepEqual(await b.halt(), { ok: true, why: `logind accepted PowerOff (${socket})` });
    assert.equal((await b.reboot()).ok, true);
    assert.deepEqual(logind.calls, [
      '/org/freedesktop/login1 org.freedesktop.login1.Manager.PowerOff(b) false',
      '/org/freedesktop/login1 org.freedesktop.login1.Manager.Reboot(b) false',
    ]);
  });

  it('an error from logind (e.g. an inhibitor) is a failure that names it', async () => {
    logind.failWith = { name: 'org.freedesktop.login1.OperationInProgress', message: 'There is already a shutdown or sleep operation in progress' };
    const r = await new LogindBackend(socket).halt();
    assert.equal(r.ok, false);
    assert.match(r.why, /org\.freedesktop\.login1\.OperationInProgress: There is already a shutdown/);
  });

  it('no bus, or no logind on it: a failure saying so', async () => {
    const none = await new LogindBackend(path.join(dir, 'no-such-socket')).reboot();
    assert.equal(none.ok, false);
    assert.match(none.why, /ENOENT/);
    logind.stop();
    try {
      await sleep(100);
      const r = await new LogindBackend(socket).halt();
      assert.equal(r.ok, false);
      assert.match(r.why, /org\.freedesktop\.DBus\.Error\.ServiceUnknown/);
    } finally {
      logind = await FakeLogind.start(socket);
    }
  });

  it('auto: systemd running, no systemctl, the bus socket present → logind (a container with /run/dbus bind-mounted)', async () => {
    const root = path.join(dir, 'root');
    const proc = path.join(dir, 'proc');
    fs.mkdirSync(path.join(root, 'run', 'systemd', 'system'), { recursive: true });
    fs.mkdirSync(path.join(proc, '1'), { recursive: true });
    fs.mkdirSync(path.join(proc, 'self', 'ns'), { recursive: true });
    fs.writeFileSync(path.join(proc, '1', 'comm'), 'tini\n');
    fs.symlinkSync('/tini', path.join(proc, '1', 'exe'));
    fs.symlinkSync('pid:[4026532222]', path.join(proc, 'self', 'ns', 'pid'));
    fs.writeFileSync(path.join(root, '.dockerenv'), '');
    const c = chooseBackend({ backend: 'auto' }, { simulator: false, root, procDir: proc, env: {} });
    assert.ok(c.backend instanceof LogindBackend, c.reason);
    assert.equal((c.backend as LogindBackend).busSocket, socket);
    assert.equal((await c.backend.halt()).ok, true);
    assert.deepEqual(logind.calls, ['/org/freedesktop/login1 org.freedesktop.login1.Manager.PowerOff(b) false']);
    // Under the simulator only a vouched-for socket is used.
    assert.ok(chooseBackend({ backend: 'logind' }, { simulator: true, env: {} }).backend instanceof RefusedBackend);
    assert.ok(chooseBackend({ backend: 'logind', systemBus: socket }, { simulator: true, env: { VMTOOLSD_POWER_STUBS: socket } }).backend instanceof LogindBackend);
  });

  describeUnderShim(__filename, 'bin/vmtoolsd with [powerops] backend = logind', () => {
    let sim: SimHandle;
    before(async () => {
      sim = await startSim();
    });
    after(async () => sim?.stop());

    it('OS_Reboot → Reboot(false) on the fake logind, status 1 2; a logind error → status 0 2 with the reason', async function () {
      this.timeout(30000);
      const conf = path.join(dir, 'tools.conf');
      fs.writeFileSync(conf, `[powerops]\nbackend = logind\nsystem-bus = ${socket}\npoweroff-script =\n`);
      const child = spawn(process.execPath, [VMTOOLSD, '-c', conf], {
        env: { ...process.env, ...sim.env({ preload: true }), VMTOOLSD_POWER_STUBS: socket },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const statusOf = async (): Promise<string[]> => {
        const end = Date.now() + 5000;
        for (;;) {
          const l = (await sim.client.getRpcLog()).filter((e) => e.proto === 'RPCI' && e.request).map((e) => e.request!.toString('latin1'));
          const s = l.filter((x) => x.startsWith('tools.os.statechange.status') || x.startsWith('log Initiating') || x.startsWith('log Unable'));
          if (s.length >= 2) return s;
          if (Date.now() > end) throw new Error(`no status:\n${out}`);
          await sleep(50);
        }
      };
      try {
        assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 15000 })).toString(), 'OK ATR toolbox');
        await sim.client.clearRpcLog();
        assert.equal((await sim.client.sendTclo('OS_Reboot')).toString(), 'OK ');
        assert.deepEqual(await statusOf(), ['tools.os.statechange.status 1 2\0', 'log Initiating reboot.\0']);
        assert.deepEqual(logind.calls, ['/org/freedesktop/login1 org.freedesktop.login1.Manager.Reboot(b) false']);
        logind.failWith = { name: 'org.freedesktop.DBus.Error.AccessDenied', message: 'Permission denied' };
        await sim.client.clearRpcLog();
        assert.equal((await sim.client.sendTclo('OS_Reboot')).toString(), 'OK ');
        const s = await statusOf();
        assert.equal(s[0], 'tools.os.statechange.status 0 2\0');
        assert.match(s[1], /^log Unable to initiate reboot: logind Reboot over .*: org\.freedesktop\.DBus\.Error\.AccessDenied: Permission denied\0$/);
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});
