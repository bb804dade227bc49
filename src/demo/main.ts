/**
 * `npm start`: runs the agent. On VMware it is just bin/vmtoolsd. Anywhere
 * else the built-in VMX simulator plays the host: it opens the session the
 * way a VMX does (reset, Capabilities_Register, Set_Option, a ping every
 * 15 s) and narrates what it sees, while the agent logs its side. Ctrl-C
 * stops both.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { detect } from '../native';
import { REPO_ROOT, startSimulator } from '../sim/harness';

const VMTOOLSD = path.join(REPO_ROOT, 'bin', 'vmtoolsd');

function forwardSignals(child: ChildProcess, onExit: (code: number) => void): void {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => onExit(code ?? (signal ? 128 : 1)));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  // Guarded probe: on a machine without a backdoor this returns vmware=false, no crash.
  const d = detect();
  if (d.vmware) {
    process.stdout.write('VMware hypervisor found: running the agent.\n');
    const child = spawn(process.execPath, [VMTOOLSD, ...args], { stdio: 'inherit' });
    forwardSignals(child, (code) => process.exit(code));
    return;
  }

  process.stdout.write(
    `No VMware hypervisor here (CPUID vendor "${d.cpuidVendor || 'none'}"): the built-in VMX simulator plays the host.\n` +
      'Lines from the host start with "sim"; the agent logs its own side. Ctrl-C stops both.\n\n',
  );
  const sim = await startSimulator({ autoReset: true, verbose: true, stderr: 'inherit', pingIntervalMs: 15000 });
  // Power operations: under the simulator the agent only ever records a halt
  // or reboot in this file (the recording backend); it never reaches this
  // machine's init. Variables a test uses to vouch for stubs are dropped.
  const powerRecord = path.join(os.tmpdir(), 'vmtoolsd-demo-power.log');
  const env: NodeJS.ProcessEnv = { ...process.env, ...sim.env({ preload: true }), VMTOOLSD_POWER_RECORD: powerRecord };
  delete env.VMTOOLSD_POWER_STUBS;
  delete env.VMTOOLSD_POWER_OUTER_PIDNS;
  process.stdout.write(`Halt/reboot requests from the simulated host are recorded in ${powerRecord}, never carried out.\n\n`);
  const child = spawn(process.execPath, [VMTOOLSD, '--log-level', 'info', ...args], {
    env,
    stdio: 'inherit',
  });
  sim.client.waitForIp(60000).then(
    (ip) => process.stdout.write(`\nThe host now knows the guest's IP: ${ip} (what govc vm.ip and Packer wait for).\n\n`),
    () => undefined,
  );
  forwardSignals(child, (code) => {
    void sim.stop().then(() => process.exit(code));
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`npm start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
