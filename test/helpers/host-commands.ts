/**
 * Running this machine's own tools (runc, umoci, cc, sh) from a test whose
 * process carries the trap shim and the simulator's variables: those must
 * not reach them.
 */
import { spawnSync } from 'node:child_process';

/** Variables the harness sets for the agent under test, never for host tools. */
const AGENT_ONLY_VARIABLES = [
  'LD_PRELOAD', 'VMTOOLSD_SIM_SOCKET', 'VMTOOLSD_SIM_CPUID_PATCH', 'VMTOOLSD_ASSUME_VMWARE',
  'VMTOOLSD_POWER_RECORD', 'VMTOOLSD_POWER_STUBS', 'VMTOOLSD_POWER_OUTER_PIDNS',
];

/** This machine's environment without the trap shim and the agent's test variables. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of AGENT_ONLY_VARIABLES) delete env[k];
  return env;
}

/** The path of a command on PATH, or null. */
export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', env: cleanEnv() });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Runs a host command to completion; its stdout, or an error with its output. */
export function run(cmd: string, args: string[], timeoutMs = 600_000): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: cleanEnv(), timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}
