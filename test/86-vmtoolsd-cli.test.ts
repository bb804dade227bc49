/**
 * Layer 8: bin/vmtoolsd as a process under the trap shim, driven by the
 * simulator: --cmd, --help/--version, the daemon's handshake, a tools.conf
 * change while running, SIGHUP and SIGTERM.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bindDatagramForTesting, recvDatagramForTesting } from '../src/native';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, REPO_ROOT, sleep, startSim } from './helpers/native-env';
import { runSandboxed, sandboxBlocker } from './helpers/sandbox';

const OVT_ROOT = process.env.VMTOOLSD_OVT_ROOT ?? path.join(REPO_ROOT, '.cache', 'ovt', 'root');
const OVT_LIB = path.join(OVT_ROOT, 'usr', 'lib', 'x86_64-linux-gnu');

const VMTOOLSD = path.join(REPO_ROOT, 'bin', 'vmtoolsd');

describeUnderShim(__filename, 'bin/vmtoolsd', () => {
  let sim: SimHandle;

  before(async () => {
    sim = await startSim({ guestinfo: { 'guestinfo.foo': 'bar' } });
  });
  after(async () => sim?.stop());

  function env(): NodeJS.ProcessEnv {
    return { ...process.env, ...sim.env({ preload: true }) };
  }

  function run(args: string[], e: NodeJS.ProcessEnv = env()): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [VMTOOLSD, ...args], { env: e, encoding: 'utf8', timeout: 20000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('--cmd prints the reply, exit 0; a failure reply goes to stderr, exit 1', () => {
    assert.deepEqual(run(['--cmd', 'info-get guestinfo.foo']), { status: 0, stdout: 'bar\n', stderr: '' });
    assert.deepEqual(run(['--cmd', 'info-get guestinfo.nope']), { status: 1, stdout: '', stderr: 'No value found\n' });
  });

  it("--cmd: same stdout, stderr and exit code as Debian's vmtoolsd --cmd (both in the sandbox)", async function () {
    this.timeout(60000);
    const blocker = sandboxBlocker();
    if (blocker) throw new Error(`cannot sandbox Debian's vmtoolsd: ${blocker}`);
    const base = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };
    // Its --cmd tries vsock first: only ever inside the sandbox, where AF_VSOCK fails.
    const run = async (cmd: string[], e: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> => {
      const p = runSandboxed(cmd, { env: e, stubsLog: path.join(sim.dir, 'stubs.log') });
      let out = '';
      let err = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      await p.sandbox.ready;
      return { code: (await p.sandbox.exited).code, out, err };
    };
    for (const rpc of ['info-get guestinfo.foo', 'info-get guestinfo.nope', 'bogus.cmd with args']) {
      const theirs = await run([path.join(OVT_ROOT, 'usr', 'bin', 'vmtoolsd'), '--cmd', rpc], {
        ...base,
        ...sim.env({ preload: true, cpuidPatch: ['libvmtools.so.0'], assumeVmware: false }),
        LD_LIBRARY_PATH: OVT_LIB,
      });
      const ours = await run([process.execPath, VMTOOLSD, '--cmd', rpc], { ...base, ...sim.env({ preload: true }) });
      assert.deepEqual(ours, theirs, rpc);
    }
  });

  it('--cmd off VMware: the reference message, exit 1; the service exits 0', () => {
    const bare = { ...process.env };
    for (const k of ['LD_PRELOAD', 'VMTOOLSD_SIM_SOCKET', 'VMTOOLSD_ASSUME_VMWARE']) delete bare[k];
    assert.deepEqual(run(['--cmd', 'info-get guestinfo.foo'], bare), {
      status: 1,
      stdout: '',
      stderr: 'Unable to send command to VMware hypervisor.\n',
    });
    const svc = run(['-c', '/nonexistent/tools.conf'], bare);
    assert.equal(svc.status, 0);
    assert.match(svc.stdout + svc.stderr, /not running in a VMware virtual machine/);
  });

  it('--help lists the options; --version names the agent and the tools version', () => {
    const help = run(['--help']);
    assert.equal(help.status, 0);
    for (const opt of ['--name', '--config', '--cmd', '--log-level', '--version', '--help']) assert.ok(help.stdout.includes(opt), opt);
    assert.match(run(['--version']).stdout, /^vmtoolsd-node \d+\.\d+\.\d+ \(VMware Tools 13\.1\.0, version 13344\)\n$/);
    assert.equal(run(['--no-such-option']).status, 1);
  });

  describe('the service', () => {
    let child: ChildProcess;
    let output = '';
    let conf: string;

    let notifyFd: number;
    const notes: string[] = [];

    /** Everything sd_notify sent so far, one datagram per entry. */
    function drainNotes(): string[] {
      for (let d = recvDatagramForTesting(notifyFd, 0); d; d = recvDatagramForTesting(notifyFd, 0)) notes.push(d.toString());
      return notes;
    }

    before(async () => {
      conf = path.join(sim.dir, 'tools.conf');
      fs.writeFileSync(conf, '[logging]\nvmsvc.level = message\n');
      const notifySocket = path.join(sim.dir, 'notify.sock');
      notifyFd = bindDatagramForTesting(notifySocket);
      child = spawn(process.execPath, [VMTOOLSD, '-c', conf], {
        env: { ...env(), NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: '1000000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    });
    after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    async function waitFor(re: RegExp, ms = 10000): Promise<void> {
      const end = Date.now() + ms;
      while (!re.test(output)) {
        if (Date.now() > end) throw new Error(`no ${re} in:\n${output}`);
        await sleep(50);
      }
    }

    it('answers the handshake', async () => {
      assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 10000 })).toString(), 'OK ATR toolbox');
      assert.equal((await sim.client.sendTclo('Capabilities_Register')).toString(), 'OK ');
    });

    it('tells systemd: STATUS while starting, READY=1 after the first TCLO exchange, WATCHDOG=1 while alive', async () => {
      await sleep(1200); // at least two watchdog periods of 500 ms
      const got = drainNotes();
      assert.equal(got[0], 'STATUS=starting');
      const ready = got.indexOf('READY=1');
      assert.ok(ready > 0, got.join(' | '));
      assert.ok(got.indexOf('STATUS=running: host connected') > ready, got.join(' | '));
      assert.ok(got.filter((n) => n === 'WATCHDOG=1').length >= 2, got.join(' | '));
    });

    it('picks up a tools.conf change while running (debug logging turned on)', async () => {
      assert.ok(!/TCLO "ping"/.test(output), 'no debug lines at level message');
      fs.writeFileSync(conf, '[logging]\nvmsvc.level = debug\n');
      // Make sure the size or mtime differs from the first write even within one second.
      fs.utimesSync(conf, new Date(), new Date(Date.now() + 2000));
      await waitFor(/configuration changed: \[logging\] vmsvc\.level/, 12000);
      await sim.client.sendTclo('ping');
      await waitFor(/TCLO "ping" → "OK "/);
    });

    it('reloads on SIGHUP', async () => {
      child.kill('SIGHUP');
      await waitFor(/SIGHUP: reloading the configuration/);
    });

    it('survives an invalid value with a warning', async () => {
      fs.writeFileSync(conf, '[logging]\nvmsvc.level = debug\n[guestinfo]\npoll-interval = soon\n');
      child.kill('SIGHUP');
      await waitFor(/poll-interval/);
      assert.equal((await sim.client.sendTclo('ping')).toString(), 'OK ');
    });

    it('SIGTERM: closes both channels and exits 0', async () => {
      await sim.client.resetCounters();
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const c = await sim.client.getCounters();
      assert.equal(c.message.CLOSE, 2, JSON.stringify(c.message));
      assert.ok(drainNotes().includes('STOPPING=1'));
    });
  });
});
