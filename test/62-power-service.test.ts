/**
 * Layer 6: the powerOps service end to end (core-services.md §6) — the
 * daemon with the real backdoor transports, the addon, the shim and the
 * simulator as host. Scripts are made by the test in a temp directory and
 * configured through tools.conf [powerops]; halt/reboot go to the record
 * backend or to a stub systemctl. Nothing here can reach this machine's
 * init: the only backends built are `record` and `systemd` with a stub.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseKeyFile, ToolsConfig } from '../src/config';
import { Daemon } from '../src/daemon/daemon';
import { combineServices, guestInfoServices } from '../src/daemon/guestInfoService';
import { powerOpsServices } from '../src/daemon/powerOpsService';
import { RpcOut } from '../src/rpc/rpcout';
import { LinuxGuestInfoSources } from '../src/services/guestinfo';
import type { PowerOpsService } from '../src/services/powerops';
import type { SimLogEntry } from '../src/sim/control';
import type { SimHandle } from '../src/sim/harness';
import { BackdoorRpci, BackdoorTclo } from '../src/transport/backdoor';
import { describeUnderShim, sleep, startSim } from './helpers/native-env';

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function rpci(log: SimLogEntry[]): string[] {
  return log.filter((e) => e.proto === 'RPCI' && e.request).map((e) => e.request!.toString('latin1'));
}

function config(text: string): ToolsConfig {
  const r = parseKeyFile(text);
  if (!r.ok) throw new Error(`bad test tools.conf: ${r.error.message}`);
  return ToolsConfig.fromKeyFile(r.file, '/test/tools.conf');
}

describeUnderShim(__filename, 'powerOps service (addon, shim, simulator)', () => {
  let sim: SimHandle;
  let daemon: Daemon;
  let power: PowerOpsService;
  let dir: string;
  let conf: ToolsConfig;
  let resumes = 0;
  const lines: string[] = [];
  const log = { debug: () => undefined, info: (m: string) => lines.push(`I ${m}`), warn: (m: string) => lines.push(`W ${m}`), error: (m: string) => lines.push(`E ${m}`) };

  /** A script that records "$0|$#|$*|TOOLS_CONFDIR" in <dir>/ran and exits with `code` (or runs `body`). */
  function script(name: string, code: number, body = ''): string {
    const p = path.join(dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, `#!/bin/sh\necho "$0|$#|$*|\${TOOLS_CONFDIR:-}" >> ${dir}/ran\n${body}\nexit ${code}\n`, { mode: 0o755 });
    return p;
  }
  const ran = (): string[] => (fs.existsSync(path.join(dir, 'ran')) ? fs.readFileSync(path.join(dir, 'ran'), 'utf8').trim().split('\n') : []);
  const recorded = (): string[] =>
    fs.existsSync(path.join(dir, 'actions')) ? fs.readFileSync(path.join(dir, 'actions'), 'utf8').trim().split('\n').map((l) => l.split(' ')[1]) : [];

  function setConf(powerops: string): void {
    conf = config(`[powerops]\nbackend = record\nrecord-file = ${dir}/actions\nscript-directory = ${dir}/etc\n${powerops}\n`);
  }

  /** Sends one command, waits for the operation to finish; returns the reply and the RPCs it caused. */
  async function op(cmd: string): Promise<{ reply: string; rpc: string[]; log: SimLogEntry[] }> {
    await sim.client.clearRpcLog();
    const reply = (await sim.client.sendTclo(cmd, { timeoutMs: 10000 })).toString('latin1');
    await sleep(20);
    await power.whenIdle();
    const l = await sim.client.getRpcLog();
    return { reply, rpc: rpci(l), log: l };
  }

  before(async () => {
    sim = await startSim();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtoolsd-power-'));
    setConf('');
    const rpc = new RpcOut({ fallback: new BackdoorRpci() });
    const send = { send: (r: Buffer | string) => daemon.rpc.send(r) };
    const gi = guestInfoServices({ rpc: send, sources: new LinuxGuestInfoSources(), config: () => undefined, log: quiet });
    // simulator: true — the same safety rules as bin/vmtoolsd under the simulator.
    const p = powerOpsServices({ rpc: send, config: () => conf, log, simulator: true, onResume: () => resumes++ });
    power = p.service;
    daemon = new Daemon({ rpc, tclo: new BackdoorTclo(), log: quiet, services: combineServices(gi.services, p.services) });
    daemon.start();
    assert.equal((await sim.client.sendTclo('reset', { timeoutMs: 5000 })).toString(), 'OK ATR toolbox');
    await sleep(100);
  });
  after(async () => {
    daemon?.stop();
    await sim?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    fs.rmSync(path.join(dir, 'ran'), { force: true });
    fs.rmSync(path.join(dir, 'actions'), { force: true });
    fs.rmSync(path.join(dir, 'etc'), { recursive: true, force: true });
    lines.length = 0;
  });

  it('Capabilities_Register: statechange and softpowerop_retry, trailing space and no NUL, after guestInfo (§3, §6.5)', async () => {
    await sim.client.clearRpcLog();
    assert.equal((await sim.client.sendTclo('Capabilities_Register')).toString(), 'OK ');
    const sent = rpci(await sim.client.getRpcLog());
    const i = sent.indexOf('tools.capability.statechange ');
    assert.ok(i >= 0, sent.join(' | '));
    assert.equal(sent[i + 1], 'tools.capability.softpowerop_retry ');
    assert.ok(i < sent.indexOf('tools.capability.guest_conf_directory /etc/vmware-tools\0'), sent.join(' | '));
  });

  it('OS_PowerOn runs poweron-script with argv = [script] only; status 1 3 after the script (§6.2)', async () => {
    const s = script('on.sh', 0);
    setConf(`poweron-script = ${s}`);
    const r = await op('OS_PowerOn');
    assert.equal(r.reply, 'OK ');
    assert.deepEqual(r.rpc, [
      "log Executing script for state change 'OS_PowerOn'.\0",
      'log Script exit code: 0, success = 1\0',
      'tools.os.statechange.status 1 3\0',
    ]);
    assert.deepEqual(ran(), [`${s}|0||`]);
  });

  it('OS_Resume runs resume-script, reports status 1 4 and then calls onResume', async () => {
    const s = script('resume.sh', 0);
    setConf(`resume-script = ${s}`);
    const before = resumes;
    const r = await op('OS_Resume');
    assert.equal(r.reply, 'OK ');
    assert.equal(r.rpc[r.rpc.length - 1], 'tools.os.statechange.status 1 4\0');
    assert.equal(resumes, before + 1);
    assert.deepEqual(ran(), [`${s}|0||`]);
  });

  it('OS_Suspend with a failing script: status 0 5; the same failure again proceeds (softpowerop_retry)', async () => {
    const s = script('suspend.sh', 3);
    setConf(`suspend-script = ${s}`);
    const first = await op('OS_Suspend');
    assert.equal(first.reply, 'OK ');
    assert.deepEqual(first.rpc, [
      "log Executing script for state change 'OS_Suspend'.\0",
      'log Script exit code: 3, success = 0\0',
      'tools.os.statechange.status 0 5\0',
    ]);
    const second = await op('OS_Suspend');
    assert.equal(second.rpc[2], 'tools.os.statechange.status 1 5\0');
    // The retry is consumed: a third failure is reported again.
    const third = await op('OS_Suspend');
    assert.equal(third.rpc[2], 'tools.os.statechange.status 0 5\0');
    await op('OS_Suspend'); // leave lastFailed clear for the next tests
  });

  it('OS_Halt with poweroff-script = "": OK first, then status 1 1, "Initiating halt." and the backend', async () => {
    setConf('poweroff-script =');
    const r = await op('OS_Halt');
    assert.equal(r.reply, 'OK ');
    assert.deepEqual(r.rpc, ['tools.os.statechange.status 1 1\0', 'log Initiating halt.\0']);
    assert.deepEqual(recorded(), ['halt']);
    const t = r.log.find((e) => e.proto === 'TCLO');
    const status = r.log.find((e) => e.request?.toString('latin1').startsWith('tools.os.statechange.status'));
    assert.ok(t?.replyTime !== undefined && status && status.time >= t.replyTime, 'the TCLO reply left before the status');
  });

  it('OS_Reboot runs poweroff-script, then reboots through the backend: status 1 2, "Initiating reboot."', async () => {
    const s = script('off.sh', 0);
    setConf(`poweroff-script = ${s}`);
    const r = await op('OS_Reboot');
    assert.equal(r.reply, 'OK ');
    assert.deepEqual(r.rpc, [
      "log Executing script for state change 'OS_Reboot'.\0",
      'log Script exit code: 0, success = 1\0',
      'tools.os.statechange.status 1 2\0',
      'log Initiating reboot.\0',
    ]);
    assert.deepEqual(ran(), [`${s}|0||`]);
    assert.deepEqual(recorded(), ['reboot']);
  });

  it('OS_Halt with a failing poweroff script: status 0 1 and no halt; the retry halts (softpowerop_retry)', async () => {
    script('off-fail.sh', 1);
    setConf(`poweroff-script = ${dir}/off-fail.sh`);
    const r = await op('OS_Halt');
    assert.equal(r.rpc[2], 'tools.os.statechange.status 0 1\0');
    assert.deepEqual(recorded(), []);
    const again = await op('OS_Halt');
    assert.deepEqual(again.rpc.slice(2), ['tools.os.statechange.status 1 1\0', 'log Initiating halt.\0']);
    assert.deepEqual(recorded(), ['halt']);
  });

  it('the default script, relative names and the legacy quoting resolve under script-directory', async () => {
    const dflt = script('etc/poweron-vm-default', 0);
    setConf('');
    await op('OS_PowerOn');
    assert.deepEqual(ran(), [`${dflt}|0||`]);
    fs.rmSync(path.join(dir, 'ran'));
    const quoted = script('etc/my on.sh', 0);
    setConf('poweron-script = "my on.sh"');
    const r = await op('OS_PowerOn');
    assert.equal(r.rpc[2], 'tools.os.statechange.status 1 3\0');
    assert.deepEqual(ran(), [`${quoted}|0||`]);
  });

  it('a missing default script: its drop-ins run directly, with the operation as argument, user first for power-off (§6.4)', async () => {
    const user = [script('etc/scripts/poweroff-vm-default.d/10-b', 0), script('etc/scripts/poweroff-vm-default.d/01-a', 4)];
    const vmw = script('etc/scripts/vmware/network', 0);
    fs.writeFileSync(path.join(dir, 'etc/scripts/poweroff-vm-default.d/README'), 'not executable\n');
    setConf('');
    const r = await op('OS_Halt');
    assert.equal(r.reply, 'OK ');
    const etc = path.join(dir, 'etc');
    assert.deepEqual(ran(), [user[1], user[0], vmw].map((p) => `${p}|1|poweroff-vm|${etc}`));
    // Exit code = OR of the drop-ins' codes (4): the halt is refused this time.
    assert.deepEqual(r.rpc, [
      "log Executing script for state change 'OS_Halt'.\0",
      'log Script exit code: 4, success = 0\0',
      'tools.os.statechange.status 0 1\0',
    ]);
    fs.rmSync(path.join(dir, 'ran'));
    const on = await op('OS_PowerOn'); // VMware's directory first for power-on
    assert.deepEqual(ran(), [`${vmw}|1|poweron-vm|${etc}`]);
    assert.equal(on.rpc[2], 'tools.os.statechange.status 1 3\0'); // a success clears the pending retry too
  });

  it('a missing default script without drop-ins: nothing to run, status 1 at once', async () => {
    setConf('');
    const r = await op('OS_Suspend');
    assert.deepEqual(r.rpc, ['tools.os.statechange.status 1 5\0']);
  });

  it('a script that cannot be started: ERROR Error starting script, status 0 (§6.2)', async () => {
    setConf(`poweron-script = ${dir}/no-such-script`);
    const r = await op('OS_PowerOn');
    assert.equal(r.reply, 'ERROR Error starting script');
    assert.deepEqual(r.rpc, ["log Executing script for state change 'OS_PowerOn'.\0", 'tools.os.statechange.status 0 3\0']);
    await op('OS_PowerOn'); // the retry: status 1 (clears the pending retry)
  });

  it('a hanging script: other commands get "State change already in progress"; it is killed at script-timeout, status 0', async function () {
    this.timeout(20000);
    const s = script('hang.sh', 0, `sleep 60 &\necho $! > ${dir}/sleep.pid\nwait`);
    setConf(`resume-script = ${s}\nsuspend-script = ${s}\nscript-timeout = 1`);
    await sim.client.clearRpcLog();
    const t0 = Date.now();
    assert.equal((await sim.client.sendTclo('OS_Suspend')).toString(), 'OK ');
    assert.equal((await sim.client.sendTclo('OS_Resume')).toString(), 'ERROR State change already in progress');
    assert.ok(power.isBusy);
    await power.whenIdle();
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 8000, `killed after ${took} ms`);
    assert.deepEqual(rpci(await sim.client.getRpcLog()), [
      "log Executing script for state change 'OS_Suspend'.\0",
      'log Script canceled by signal: 15, success = 0\0',
      'tools.os.statechange.status 0 5\0',
    ]);
    assert.ok(lines.some((l) => /still running after 1 s .*killing it/.test(l)), lines.join('\n'));
    // The whole process group went: the script's `sleep 60` is not left behind.
    await sleep(300);
    const pid = fs.readFileSync(path.join(dir, 'sleep.pid'), 'utf8').trim();
    let state = 'gone';
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      /* gone */
    }
    assert.ok(state === 'gone' || state === 'Z', `sleep ${pid} is still ${state}`);
    setConf('');
    await op('OS_PowerOn'); // a success clears the pending retry
  });

  it('Set_Option toolScripts.beforePowerOff 0 skips the script for halt and reboot; 1 restores it; other values are ignored', async () => {
    const s = script('off2.sh', 0);
    setConf(`poweroff-script = ${s}`);
    assert.equal((await sim.client.sendTclo('Set_Option toolScripts.beforePowerOff 0')).toString(), 'OK ');
    const r = await op('OS_Reboot');
    assert.deepEqual(r.rpc, ['tools.os.statechange.status 1 2\0', 'log Initiating reboot.\0']);
    assert.deepEqual(ran(), []);
    assert.equal((await sim.client.sendTclo('Set_Option toolScripts.beforePowerOff yes')).toString(), 'OK ');
    await op('OS_Halt');
    assert.deepEqual(ran(), [], '"yes" is not "1": still disabled');
    assert.equal((await sim.client.sendTclo('Set_Option toolScripts.beforePowerOff 1')).toString(), 'OK ');
    await op('OS_Halt');
    assert.deepEqual(ran(), [`${s}|0||`]);
    assert.deepEqual(recorded(), ['reboot', 'halt', 'halt']);
  });

  it('Set_Option toolScripts.afterPowerOn / afterResume / beforeSuspend 0 each disable only their own script', async () => {
    const s = script('any.sh', 0);
    setConf(`poweron-script = ${s}\nresume-script = ${s}\nsuspend-script = ${s}`);
    for (const o of ['afterPowerOn', 'afterResume', 'beforeSuspend']) await sim.client.sendTclo(`Set_Option toolScripts.${o} 0`);
    for (const c of ['OS_PowerOn', 'OS_Resume', 'OS_Suspend']) {
      const r = await op(c);
      assert.equal(r.rpc.length, 1, `${c}: ${r.rpc.join(' | ')}`);
    }
    assert.deepEqual(ran(), []);
    await sim.client.sendTclo('Set_Option toolScripts.afterResume 1');
    await op('OS_Resume');
    assert.equal(ran().length, 1);
    for (const o of ['afterPowerOn', 'beforeSuspend']) await sim.client.sendTclo(`Set_Option toolScripts.${o} 1`);
  });

  it('a failing backend: status 0 and a log line saying why; never a silent success', async () => {
    const stub = script('bin/systemctl', 1, 'echo "Failed to connect to bus: No such file or directory" >&2');
    conf = config(`[powerops]\nbackend = systemd\nsystemctl = ${stub}\npoweroff-script =\n`);
    // Under the simulator a command backend needs the test's word that it is a stub.
    const saved = process.env.VMTOOLSD_POWER_STUBS;
    let r = await op('OS_Halt');
    assert.match(r.rpc[0], /^tools\.os\.statechange\.status 0 1\0$/);
    assert.match(r.rpc[1], /^log Unable to initiate halt: simulator mode: refusing the systemd backend/);
    assert.deepEqual(ran(), [], 'the refused backend did not run');
    process.env.VMTOOLSD_POWER_STUBS = stub;
    try {
      r = await op('OS_Halt');
      assert.deepEqual(ran(), [`${stub}|2|poweroff -i|`]);
      assert.equal(r.rpc[0], 'tools.os.statechange.status 0 1\0');
      assert.match(r.rpc[1], /^log Unable to initiate halt: .*systemctl poweroff -i: exit status 1: Failed to connect to bus/);
      assert.ok(lines.some((l) => /^E halt failed \(backend systemd\)/.test(l)), lines.join('\n'));
      // systemctl in a container without SYSTEMD_IGNORE_CHROOT says this and exits 0: still a failure.
      script('bin/systemctl', 0, 'echo "Running in chroot, ignoring request." >&2');
      r = await op('OS_Reboot');
      assert.equal(r.rpc[0], 'tools.os.statechange.status 0 2\0');
      assert.match(r.rpc[1], /Running in chroot, ignoring request/);
      // A working one: exit 0, status 1, SYSTEMD_IGNORE_CHROOT=1 passed.
      script('bin/systemctl', 0, `echo "IGNORE_CHROOT=$SYSTEMD_IGNORE_CHROOT" >> ${dir}/ran`);
      r = await op('OS_Reboot');
      assert.deepEqual(r.rpc, ['tools.os.statechange.status 1 2\0', 'log Initiating reboot.\0']);
      assert.ok(ran().includes('IGNORE_CHROOT=1'), ran().join('\n'));
    } finally {
      if (saved === undefined) delete process.env.VMTOOLSD_POWER_STUBS;
      else process.env.VMTOOLSD_POWER_STUBS = saved;
    }
  });

  it('arguments after the command are ignored (§6.1): "OS_PowerOn 1 extra" is OS_PowerOn', async () => {
    const s = script('on-args.sh', 0);
    setConf(`poweron-script = ${s}`);
    const r = await op('OS_PowerOn 1 extra');
    assert.equal(r.reply, 'OK ');
    assert.equal(r.rpc[2], 'tools.os.statechange.status 1 3\0');
    assert.deepEqual(ran(), [`${s}|0||`]);
  });

  it('simulator mode never picks a real backend: auto without a record file is refused (status 0)', async () => {
    conf = config('[powerops]\npoweroff-script =\n');
    const saved = process.env.VMTOOLSD_POWER_RECORD;
    delete process.env.VMTOOLSD_POWER_RECORD;
    try {
      const r = await op('OS_Reboot');
      assert.equal(r.rpc[0], 'tools.os.statechange.status 0 2\0');
      assert.match(r.rpc[1], /^log Unable to initiate reboot: simulator mode: no real halt\/reboot backend is ever chosen automatically/);
      for (const b of ['shutdown', 'init-signal']) {
        conf = config(`[powerops]\nbackend = ${b}\npoweroff-script =\n`);
        const x = await op('OS_Reboot');
        assert.match(x.rpc[1], new RegExp(`^log Unable to initiate reboot: simulator mode: refusing the ${b} backend`), x.rpc.join(' | '));
      }
    } finally {
      if (saved !== undefined) process.env.VMTOOLSD_POWER_RECORD = saved;
    }
  });
});
