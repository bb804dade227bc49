/**
 * Daemon benchmark: our vmtoolsd beside Debian's open-vm-tools 12.2 vmtoolsd,
 * each in the same sandbox (test/helpers/sandbox.ts: private namespaces,
 * dropped capabilities, no vsock) against its own simulator, in one run.
 *
 * | Figure | Target (issue "The daemon") |
 * |---|---|
 * | idle backdoor calls/s | at most 20 |
 * | TCLO command latency | p99 at most 110 ms |
 * | exec to first TCLO reply | at most 200 ms |
 * | RSS and anon RSS, idle | anon at most 12 MiB |
 * | RSS and anon RSS after BENCH_SOAK_S (default 600 s) at 10 RPC/s | no growth |
 *
 * Run with `npm run bench` (or `bash scripts/run-bench.sh daemon`).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, SimHandle, startSimulator } from '../src/sim/harness';
import { runSandboxed, sandboxBlocker, SandboxedProcess } from '../test/helpers/sandbox';

const OVT_ROOT = process.env.VMTOOLSD_OVT_ROOT ?? path.join(REPO_ROOT, '.cache', 'ovt', 'root');
const OVT_LIB = path.join(OVT_ROOT, 'usr', 'lib', 'x86_64-linux-gnu');
const RESULTS = path.join(REPO_ROOT, 'bench', 'results');
const EXEC_RUNS = Number(process.env.BENCH_EXEC_RUNS ?? 5);
const PINGS = Number(process.env.BENCH_PINGS ?? 100);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 10);
const SOAK_S = Number(process.env.BENCH_SOAK_S ?? 600);
const SOAK_RATE = 10; // commands per second, each answered with one RPCI by both agents

type Agent = 'vmtoolsd-node' | 'open-vm-tools';
const AGENTS: Agent[] = ['vmtoolsd-node', 'open-vm-tools'];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A simulator on a trap socket of its own: the soak runs two at once. */
async function simulator(): Promise<SimHandle> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-daemon-'));
  const sim = await startSimulator({ trapSocket: path.join(dir, 'trap.sock') });
  const stop = sim.stop.bind(sim);
  sim.stop = async () => {
    await stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return sim;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function command(agent: Agent, conf: string): string[] {
  if (agent === 'vmtoolsd-node') return [process.execPath, path.join(REPO_ROOT, 'bin', 'vmtoolsd'), '-n', 'vmsvc', '-c', conf];
  const plugins = path.join(OVT_LIB, 'open-vm-tools', 'plugins');
  return [path.join(OVT_ROOT, 'usr', 'bin', 'vmtoolsd'), '-n', 'vmsvc', '--common-path', path.join(plugins, 'common'), '-p', path.join(plugins, 'vmsvc'), '-c', conf];
}

function environment(agent: Agent, sim: SimHandle): Record<string, string> {
  const base: Record<string, string> = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };
  if (agent === 'vmtoolsd-node') return { ...base, ...sim.env({ preload: true }) };
  return { ...base, ...sim.env({ preload: true, cpuidPatch: ['libvmtools.so.0'], assumeVmware: false }), LD_LIBRARY_PATH: OVT_LIB };
}

interface Running {
  proc: SandboxedProcess;
  /** Wall-clock ms just before exec, stamped inside the sandbox. */
  execAt: () => number;
  pid: () => number;
}

async function launch(agent: Agent, sim: SimHandle): Promise<Running> {
  const conf = path.join(sim.dir, 'tools.conf');
  fs.writeFileSync(conf, '[logging]\nlog = false\n');
  const stamp = path.join(sim.dir, `exec-${agent}-${Date.now()}`);
  // sh stamps the wall clock (ns) and execs the agent in place: the stamp is the exec time.
  const cmd = ['/bin/sh', '-c', `date +%s%N > ${stamp}; exec "$@"`, 'sh', ...command(agent, conf)];
  const proc = runSandboxed(cmd, { env: environment(agent, sim), stubsLog: path.join(sim.dir, 'stubs.log'), stdio: ['ignore', 'ignore', 'ignore'] });
  await proc.sandbox.ready;
  return {
    proc,
    execAt: () => Number(BigInt(fs.readFileSync(stamp, 'utf8').trim()) / 1_000_000n),
    pid: () => proc.sandbox.targetPid() ?? -1,
  };
}

function memory(pid: number): { rssKiB: number; anonKiB: number } {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(st)?.[1] ?? NaN);
  return { rssKiB: kb('VmRSS'), anonKiB: kb('RssAnon') };
}

/** The session a VMX opens: reset, ping, Capabilities_Register, a few options. */
async function handshake(sim: SimHandle): Promise<void> {
  for (const c of ['reset', 'ping', 'Capabilities_Register', 'Set_Option broadcastIP 1', 'Set_Option synctime 0']) {
    await sim.client.sendTclo(c, { timeoutMs: 10000 });
  }
}

interface Figures {
  execToFirstReplyMs: number[];
  idleCallsPerS: number;
  latencyMs: { p50: number; p99: number; max: number };
  idle: { rssKiB: number; anonKiB: number };
  soak?: { seconds: number; start: { rssKiB: number; anonKiB: number }; end: { rssKiB: number; anonKiB: number }; maxAnonKiB: number; commands: number };
}

async function measure(agent: Agent): Promise<Figures> {
  const f: Partial<Figures> = { execToFirstReplyMs: [] };
  for (let i = 0; i < EXEC_RUNS; i++) {
    const sim = await simulator();
    try {
      await sim.client.clearRpcLog();
      const first = sim.client.sendTclo('reset', { timeoutMs: 15000 });
      const run = await launch(agent, sim);
      await first;
      const tclo = (await sim.client.getRpcLog()).find((e) => e.proto === 'TCLO' && e.reply !== null);
      f.execToFirstReplyMs!.push((tclo?.replyTime ?? Date.now()) - run.execAt());
      await run.proc.sandbox.stop();
    } finally {
      await sim.stop();
    }
  }

  const sim = await simulator();
  try {
    const run = await launch(agent, sim);
    await handshake(sim);
    await sleep(3000); // the poll back-off settles at 100 ms
    await sim.client.resetCounters();
    await sleep(IDLE_S * 1000);
    f.idleCallsPerS = (await sim.client.getCounters()).total / IDLE_S;
    f.idle = memory(run.pid());

    const lat: number[] = [];
    for (let i = 0; i < PINGS; i++) {
      await sleep(Math.random() * 250);
      const t0 = performance.now();
      await sim.client.sendTclo('ping', { timeoutMs: 5000 });
      lat.push(performance.now() - t0);
    }
    f.latencyMs = { p50: percentile(lat, 50), p99: percentile(lat, 99), max: Math.max(...lat) };
    await run.proc.sandbox.stop();
  } finally {
    await sim.stop();
  }
  return f as Figures;
}

/** Both agents at once, each with its own simulator: 10 commands/s, each answered with an RPCI. */
async function soak(): Promise<Record<Agent, Figures['soak']>> {
  const out = {} as Record<Agent, Figures['soak']>;
  await Promise.all(
    AGENTS.map(async (agent) => {
      const sim = await simulator();
      try {
        const run = await launch(agent, sim);
        await handshake(sim);
        await sleep(5000);
        const start = memory(run.pid());
        let maxAnon = start.anonKiB;
        let commands = 0;
        const end = Date.now() + SOAK_S * 1000;
        let nextSample = Date.now() + 30000;
        while (Date.now() < end) {
          const t = Date.now();
          await sim.client.sendTclo('Set_Option broadcastIP 1', { timeoutMs: 5000 });
          commands++;
          if (Date.now() >= nextSample) {
            maxAnon = Math.max(maxAnon, memory(run.pid()).anonKiB);
            nextSample += 30000;
            await sim.client.clearRpcLog(); // keep the simulator's own footprint flat
          }
          await sleep(Math.max(0, 1000 / SOAK_RATE - (Date.now() - t)));
        }
        const last = memory(run.pid());
        out[agent] = { seconds: SOAK_S, start, end: last, maxAnonKiB: Math.max(maxAnon, last.anonKiB), commands };
        await run.proc.sandbox.stop();
      } finally {
        await sim.stop();
      }
    }),
  );
  return out;
}

const mib = (kib: number): string => (kib / 1024).toFixed(1);

async function main(): Promise<void> {
  const blocker = sandboxBlocker();
  if (blocker) throw new Error(`the sandbox cannot be built here: ${blocker}`);
  const figures = {} as Record<Agent, Figures>;
  for (const a of AGENTS) figures[a] = await measure(a);
  if (SOAK_S > 0) {
    const s = await soak();
    for (const a of AGENTS) figures[a].soak = s[a];
  }

  const ours = figures['vmtoolsd-node'];
  const theirs = figures['open-vm-tools'];
  const med = (xs: number[]): number => percentile(xs, 50);
  const row = (what: string, o: string, t: string, target: string, met: boolean): string => `| ${what} | ${o} | ${t} | ${target} | ${met ? 'yes' : 'NO'} |`;
  const grew = (f: Figures): number => (f.soak ? f.soak.end.anonKiB - f.soak.start.anonKiB : NaN);
  const lines = [
    '# Daemon benchmark',
    '',
    `${new Date().toISOString()} · ${os.cpus()[0]?.model ?? 'cpu?'} × ${os.cpus().length} · node ${process.version}`,
    `Both agents run in the same sandbox against their own simulator. exec→reply over ${EXEC_RUNS} starts (median); ` +
      `${PINGS} pings at random 0–250 ms gaps; idle counted over ${IDLE_S} s; soak ${SOAK_S} s at ${SOAK_RATE} commands/s, each answered with one RPCI.`,
    '',
    '| figure | vmtoolsd-node | open-vm-tools 12.2 | target | met |',
    '|---|---:|---:|---|---|',
    row('idle backdoor calls/s', ours.idleCallsPerS.toFixed(1), theirs.idleCallsPerS.toFixed(1), '≤ 20', ours.idleCallsPerS <= 20),
    row('TCLO latency p50 / p99 (ms)', `${ours.latencyMs.p50.toFixed(1)} / ${ours.latencyMs.p99.toFixed(1)}`, `${theirs.latencyMs.p50.toFixed(1)} / ${theirs.latencyMs.p99.toFixed(1)}`, 'p99 ≤ 110', ours.latencyMs.p99 <= 110),
    row('exec → first TCLO reply (ms, median)', med(ours.execToFirstReplyMs).toFixed(0), med(theirs.execToFirstReplyMs).toFixed(0), '≤ 200', med(ours.execToFirstReplyMs) <= 200),
    row('idle RSS / anon RSS (MiB)', `${mib(ours.idle.rssKiB)} / ${mib(ours.idle.anonKiB)}`, `${mib(theirs.idle.rssKiB)} / ${mib(theirs.idle.anonKiB)}`, 'anon ≤ 12', ours.idle.anonKiB <= 12 * 1024),
  ];
  if (ours.soak && theirs.soak) {
    lines.push(
      row(
        `anon RSS start → end of soak (MiB; ${ours.soak.commands} / ${theirs.soak.commands} commands)`,
        `${mib(ours.soak.start.anonKiB)} → ${mib(ours.soak.end.anonKiB)} (max ${mib(ours.soak.maxAnonKiB)})`,
        `${mib(theirs.soak.start.anonKiB)} → ${mib(theirs.soak.end.anonKiB)} (max ${mib(theirs.soak.maxAnonKiB)})`,
        'no growth (≤ 1 MiB)',
        grew(ours) <= 1024,
      ),
    );
  }
  const table = lines.join('\n') + '\n';
  process.stdout.write(table);
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'daemon.md'), table);
  fs.writeFileSync(path.join(RESULTS, 'daemon.json'), JSON.stringify(figures, null, 2) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
