/**
 * Processes for ListProcessesEx (guest-ops.md §7.3): the programs
 * StartProgram launched (kept 5 minutes after exit with their exit code),
 * then everything in /proc.
 */
import * as fs from 'node:fs';

/** §7.2 rule 8: VIX_TOOLS_EXITED_PROGRAM_REAP_TIME. */
export const EXITED_PROGRAM_REAP_MS = 5 * 60_000;

export interface StartedProgram {
  pid: number;
  cmdName: string;
  fullCommandLine: string;
  user: string;
  startTime: number;
  exitCode: number;
  endTime: number;
  running: boolean;
}

export interface ProcessEntry {
  cmd?: string;
  name: string;
  pid: number;
  user: string;
  start: number;
  exitCode: number;
  endTime: number;
}

/** §8 */
export function escapeXml(s: string): string {
  return s.replace(/["%&'<>]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function renderProcess(p: ProcessEntry): string {
  return (
    `<proc>${p.cmd !== undefined ? `<cmd>${escapeXml(p.cmd)}</cmd>` : ''}<name>${escapeXml(p.name)}</name>` +
    `<pid>${p.pid}</pid><user>${escapeXml(p.user)}</user><start>${p.start}</start>` +
    `<eCode>${p.exitCode}</eCode><eTime>${p.endTime}</eTime></proc>`
  );
}

export class ProcessTable {
  private readonly started = new Map<number, StartedProgram>();

  constructor(private readonly now: () => number = Date.now) {}

  add(p: Omit<StartedProgram, 'running' | 'exitCode' | 'endTime'>, exited: Promise<number>): void {
    this.reap();
    const rec: StartedProgram = { ...p, running: true, exitCode: 0, endTime: 0 };
    this.started.set(p.pid, rec);
    void exited.then((code) => {
      rec.running = false;
      rec.exitCode = code;
      rec.endTime = Math.floor(this.now() / 1000);
    });
  }

  /** Drops exited entries older than the reap time. */
  reap(): void {
    const limit = Math.floor((this.now() - EXITED_PROGRAM_REAP_MS) / 1000);
    for (const [pid, p] of this.started) if (!p.running && p.endTime < limit) this.started.delete(pid);
  }

  list(): StartedProgram[] {
    this.reap();
    return [...this.started.values()];
  }
}

/** uid → user name from /etc/passwd (bound from the host in the container). */
export function userNames(): Map<number, string> {
  const m = new Map<number, string>();
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
    }
  } catch {
    /* names stay numeric */
  }
  return m;
}

/** Every process in /proc (exit code and time 0). */
export function procProcesses(): ProcessEntry[] {
  const names = userNames();
  let btime = 0;
  try {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'latin1'));
    if (m) btime = Number(m[1]);
  } catch {
    /* start times relative to 0 */
  }
  const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on every Linux architecture we run on
  const out: ProcessEntry[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'latin1');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      const start = btime + Math.floor(Number(fields[19]) / CLK_TCK);
      const cmdline = fs.readFileSync(`/proc/${d}/cmdline`).toString('utf8').replace(/\0+$/, '').split('\0').join(' ');
      const st = fs.statSync(`/proc/${d}`);
      out.push({
        cmd: comm,
        name: cmdline !== '' ? cmdline : comm,
        pid: Number(d),
        user: names.get(st.uid) ?? String(st.uid),
        start,
        exitCode: 0,
        endTime: 0,
      });
    } catch {
      /* the process went away */
    }
  }
  return out;
}
