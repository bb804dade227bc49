/**
 * Is another time daemon disciplining this clock? open-vm-tools does not
 * ask, and its loop start rewrites the kernel's NTP state under chronyd or
 * ntpd (core-services.md §7.5; open-vm-tools#302). We look for the usual
 * daemons in /proc (comm, then argv[0]), so the answer also holds inside a
 * container that shares the host's PID namespace; without it, no daemon is
 * seen and we behave like the reference (documented in docs/differences.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** comm values (truncated to 15 bytes by the kernel) and argv[0] basenames. */
const KNOWN: ReadonlyArray<{ name: string; comm: string[] }> = [
  { name: 'chronyd', comm: ['chronyd'] },
  { name: 'ntpd', comm: ['ntpd', 'openntpd'] },
  { name: 'systemd-timesyncd', comm: ['systemd-timesyn', 'systemd-timesyncd'] },
  { name: 'ntpd-rs', comm: ['ntp-daemon', 'ntpd-rs'] },
];

export interface TimeDaemon {
  name: string;
  pid: number;
}

/** Running time daemons, by a scan of `procRoot` (default /proc). Never throws. */
export function findTimeDaemons(procRoot = '/proc'): TimeDaemon[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot);
  } catch {
    return [];
  }
  const found: TimeDaemon[] = [];
  for (const e of entries) {
    if (!/^[0-9]+$/.test(e)) continue;
    const name = daemonName(path.join(procRoot, e));
    if (name) found.push({ name, pid: Number(e) });
  }
  return found.sort((a, b) => a.pid - b.pid);
}

function daemonName(dir: string): string | undefined {
  const comm = readTrimmed(path.join(dir, 'comm'));
  let argv0: string | undefined;
  const cmdline = readTrimmed(path.join(dir, 'cmdline'));
  if (cmdline) argv0 = path.basename(cmdline.split('\0')[0] ?? '');
  for (const k of KNOWN) {
    if ((comm && k.comm.includes(comm)) || (argv0 && k.comm.includes(argv0))) return k.name;
  }
  return undefined;
}

function readTrimmed(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'latin1').replace(/\n$/, '');
  } catch {
    return undefined;
  }
}
