/**
 * Quiesce benchmark (issue 6), on loop-mounted file systems it creates and
 * removes (the only file systems it may freeze), for 1 and 8 of them:
 *
 *  - freeze window: first FIFREEZE to last FITHAW (the holder's
 *    CLOCK_MONOTONIC stamps), minus the host's snapshot time (from sending
 *    prov.snapshotCommit to receiving snapshotDone; the fake host answers
 *    at once, and what it took is subtracted anyway);
 *  - vmbackup.start → prov.snapshotCommit ("req.snapshot"): wall time.
 *
 * The state machine runs in this process with the reference's 1 s poll
 * period, a fake host (RPC sender) and the real freeze holder, no scripts.
 *
 * Debian's vmtoolsd cannot be run on the same loop file systems safely:
 * its sandbox drops CAP_SYS_ADMIN (no FIFREEZE), and with it restored it
 * would freeze every local file system of its mount namespace, this
 * machine's root included. So its start → commit time is measured with the
 * null provider (enableSyncDriver=false) in the sandbox against the
 * simulator, beside ours the same way; its freeze window follows from its
 * source (the commit goes out on the poll tick after FIFREEZE returns,
 * stateMachine.c: ~1 poll period), see bench/results/quiesce.md.
 *
 * Run: `bash scripts/run-bench.sh quiesce` (root; BENCH_QUIESCE_RUNS, default 5).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectFreezeTarget } from '../src/native';
import type { RpcReply } from '../src/rpc/types';
import { REPO_ROOT, startSimulator } from '../src/sim/harness';
import { selectFreezeTargets, VmBackupConfig, VmBackupService } from '../src/services/vmbackup';
import { LoopFs, loopFsBlocker, makeLoopFs, thawQuietly } from '../test/helpers/loopfs';
import { runSandboxed, sandboxBlocker, SandboxedProcess } from '../test/helpers/sandbox';

const RUNS = Number(process.env.BENCH_QUIESCE_RUNS ?? 5);
const RESULTS = path.join(REPO_ROOT, 'bench', 'results');
const OVT_ROOT = process.env.VMTOOLSD_OVT_ROOT ?? path.join(REPO_ROOT, '.cache', 'ovt', 'root');
const OVT_LIB = path.join(OVT_ROOT, 'usr', 'lib', 'x86_64-linux-gnu');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Sample {
  windowMs: number;
  hostMs: number;
  startToCommitMs: number;
  totalMs: number;
}

function stats(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
}

async function oneRun(filesystems: LoopFs[], work: string): Promise<Sample> {
  const mounts = path.join(work, 'mounts');
  fs.writeFileSync(mounts, filesystems.map((f) => `${f.device} ${f.mountPoint} ${f.type} rw 0 0`).join('\n'));
  const allow = filesystems.map((f) => f.mountPoint);
  let t0 = 0;
  let commitAt = 0;
  let doneAt = 0;
  let window: { firstFreezeNs: bigint; lastThawNs: bigint } | undefined;
  let finished!: () => void;
  const end = new Promise<void>((r) => (finished = r));
  let svc!: VmBackupService;
  const config: VmBackupConfig = {
    enableSyncDriver: true, ignoreFrozenFileSystems: false, execScripts: false, quiesceApps: true, quiesceFS: true,
    enableXmlManifest: false, enableNVMe: true, manifestPath: path.join(work, 'm.xml'), freezeLeaseS: 10, scriptTimeoutS: 300,
  };
  svc = new VmBackupService({
    rpc: {
      send: (r: Buffer | string): RpcReply => {
        const text = r.toString();
        if (text.startsWith('vmbackup.eventSet prov.snapshotCommit')) {
          commitAt = performance.now();
          // The host takes its snapshot and answers at once.
          setImmediate(() => {
            doneAt = performance.now();
            void svc.tcloHandlers()['vmbackup.snapshotDone'](Buffer.alloc(0));
          });
        }
        if (text.startsWith('vmbackup.eventSet req.done')) setImmediate(finished);
        return { ok: true, reply: Buffer.alloc(0) };
      },
    },
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => process.stderr.write(`${m}\n`) },
    config: () => config,
    scripts: { legacyFreeze: '/nonexistent/pre', legacyThaw: '/nonexistent/post', dir: '/nonexistent/d' },
    selectTargets: (volumes, excluded) => selectFreezeTargets({ mountTable: mounts, allow, loopOnly: true, inspect: inspectFreezeTarget, excluded, volumes }),
    loopOnly: true,
    ioFreeze: () => undefined,
    sync: async () => undefined,
    productVersion: 13344,
    onFreezeWindow: (w) => (window = w),
  });
  t0 = performance.now();
  const r = await svc.tcloHandlers()['vmbackup.start'](Buffer.from(' 0'));
  if (!r.ok) throw new Error(`start: ${r.result.toString()}`);
  await end;
  const total = performance.now() - t0;
  if (!window) throw new Error('no freeze window reported');
  const raw = Number(window.lastThawNs - window.firstFreezeNs) / 1e6;
  const host = doneAt - commitAt;
  return { windowMs: raw - host, hostMs: host, startToCommitMs: commitAt - t0, totalMs: total };
}

/** Start → commit with the null provider, for either agent, in the sandbox against the simulator. */
async function nullProviderStartToCommit(agent: 'ours' | 'theirs', work: string): Promise<number[]> {
  const out: number[] = [];
  const dir = fs.mkdtempSync(path.join(work, `${agent}-`));
  const conf = path.join(dir, 'tools.conf');
  fs.writeFileSync(conf, '[logging]\nlog = true\nvmsvc.level = message\nvmsvc.handler = std\n[vmbackup]\nenableSyncDriver = false\n');
  const sim = await startSimulator({ trapSocket: path.join(dir, 'trap.sock') });
  const base = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C' };
  const plugins = path.join(OVT_LIB, 'open-vm-tools', 'plugins');
  const cmd = agent === 'theirs'
    ? [path.join(OVT_ROOT, 'usr', 'bin', 'vmtoolsd'), '-n', 'vmsvc', '--common-path', path.join(plugins, 'common'), '-p', path.join(plugins, 'vmsvc'), '-c', conf]
    : [process.execPath, path.join(REPO_ROOT, 'bin', 'vmtoolsd'), '-n', 'vmsvc', '-c', conf];
  const env = agent === 'theirs'
    ? { ...base, ...sim.env({ preload: true, cpuidPatch: ['libvmtools.so.0'], assumeVmware: false }), LD_LIBRARY_PATH: OVT_LIB }
    : { ...base, ...sim.env({ preload: true, assumeVmware: true }) };
  let p: SandboxedProcess | null = null;
  try {
    p = runSandboxed(cmd, { env, stubsLog: path.join(dir, 'stubs.log'), cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'ignore'] });
    await p.sandbox.ready;
    await sim.client.sendTclo('reset', { timeoutMs: 15000 });
    await sleep(500);
    for (let i = 0; i < RUNS; i++) {
      await sim.client.clearRpcLog();
      const t0 = Date.now();
      await sim.client.sendTclo('vmbackup.start 0');
      let commit: number | undefined;
      while (commit === undefined) {
        const e = (await sim.client.getRpcLog()).find((x) => x.request?.toString('latin1').startsWith('vmbackup.eventSet prov.snapshotCommit'));
        if (e) commit = e.time;
        else await sleep(10);
        if (Date.now() - t0 > 10000) throw new Error(`${agent}: no prov.snapshotCommit`);
      }
      out.push(commit - t0);
      await sim.client.sendTclo('vmbackup.snapshotDone');
      for (let k = 0; k < 100; k++) {
        if ((await sim.client.getRpcLog()).some((x) => x.request?.toString('latin1').startsWith('vmbackup.eventSet req.done'))) break;
        await sleep(50);
      }
    }
  } finally {
    if (p) await p.sandbox.stop(3000);
    await sim.stop();
  }
  return out;
}

async function main(): Promise<void> {
  const blocker = loopFsBlocker();
  if (blocker) throw new Error(`quiesce bench: ${blocker}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-quiesce-'));
  const rows: string[] = [];
  const json: Record<string, unknown> = {};
  const sets: Array<{ name: string; types: Array<'ext4' | 'xfs'> }> = [
    { name: '1 × ext4', types: ['ext4'] },
    { name: '1 × xfs', types: ['xfs'] },
    { name: '8 (4 ext4 + 4 xfs)', types: ['ext4', 'xfs', 'ext4', 'xfs', 'ext4', 'xfs', 'ext4', 'xfs'] },
  ];
  try {
    for (const set of sets) {
      const fss: LoopFs[] = [];
      try {
        for (const t of set.types) fss.push(makeLoopFs(t));
        // Some dirty data in each, so FIFREEZE has something to flush.
        for (const f of fss) fs.writeFileSync(path.join(f.mountPoint, 'data'), Buffer.alloc(4 << 20, 1));
        const samples: Sample[] = [];
        for (let i = 0; i < RUNS; i++) {
          for (const f of fss) fs.writeFileSync(path.join(f.mountPoint, 'data'), Buffer.alloc(1 << 20, i));
          samples.push(await oneRun(fss, work));
        }
        const w = stats(samples.map((s) => s.windowMs));
        const c = stats(samples.map((s) => s.startToCommitMs));
        json[set.name] = samples;
        rows.push(`| ${set.name} | ${w.median.toFixed(1)} (${w.min.toFixed(1)}–${w.max.toFixed(1)}) | ${c.median.toFixed(0)} (${c.min.toFixed(0)}–${c.max.toFixed(0)}) |`);
      } finally {
        for (const f of fss) thawQuietly(f.mountPoint);
        for (const f of fss) f.remove();
      }
    }
    let cmp: string[] = [];
    const sb = sandboxBlocker();
    if (sb) cmp = [`(sandbox unavailable: ${sb})`];
    else {
      const ours = stats(await nullProviderStartToCommit('ours', work));
      const theirs = stats(await nullProviderStartToCommit('theirs', work));
      json['null provider start→commit'] = { ours, theirs };
      cmp = [
        '| Agent (null provider, sandbox, simulator) | vmbackup.start → prov.snapshotCommit, ms: median (min–max) |',
        '|---|---|',
        `| vmtoolsd-node | ${ours.median} (${ours.min}–${ours.max}) |`,
        `| open-vm-tools 12.2 | ${theirs.median} (${theirs.min}–${theirs.max}) |`,
      ];
    }
    const table = [
      `Runs per row: ${RUNS}. Host snapshot time excluded from the window. Machine: ${os.cpus().length} CPUs, ${os.release()}.`,
      '',
      '| Loop file systems | freeze window, ms: median (min–max) | vmbackup.start → prov.snapshotCommit, ms: median (min–max) |',
      '|---|---|---|',
      ...rows,
      '',
      ...cmp,
    ].join('\n');
    process.stdout.write(`${table}\n`);
    fs.mkdirSync(RESULTS, { recursive: true });
    fs.writeFileSync(path.join(RESULTS, 'quiesce.json'), JSON.stringify(json, null, 2));
    const mdFile = path.join(RESULTS, 'quiesce.md');
    const md = fs.existsSync(mdFile) ? fs.readFileSync(mdFile, 'utf8') : '';
    const begin = '<!-- bench:begin -->';
    const stop = '<!-- bench:end -->';
    const block = `${begin}\n${table}\n${stop}`;
    fs.writeFileSync(mdFile, md.includes(begin) ? md.replace(new RegExp(`${begin}[\\s\\S]*${stop}`), block) : `# Quiesce benchmark\n\n${block}\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
