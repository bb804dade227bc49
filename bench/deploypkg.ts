/**
 * deployPkg benchmark (in-process, no simulator): how fast the host-facing
 * parsers are, what a vCenter-sized package costs to unpack, and how long a
 * whole native deployment takes on a temporary target root.
 *
 * | Figure | What |
 * |---|---|
 * | header parses/s | parseHeader on a valid 512-byte header |
 * | cust.cfg parses/s | parseCustCfg on the two-NIC static fixture |
 * | CAB MSZIP read MiB/s | readCab on a 4 MiB cabinet of Perl-like text |
 * | native deployment ms | begin → deploy → 5 0 on a networkd root (median of 20) |
 * | size bomb ms | a 1 GiB-of-zeros tar.gz refused at the 64 MiB cap |
 *
 * Run with `bash scripts/run-bench.sh deploypkg`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { DeployPkgService, STAGING_BASES } from '../src/daemon/deployPkgService';
import { REPO_ROOT } from '../src/sim/harness';
import { readCab, readTarGz } from '../src/services/deploypkg/archive';
import { parseCustCfg } from '../src/services/deploypkg/custcfg';
import { parseHeader } from '../src/services/deploypkg/header';
import { CUST_STATIC, MAC1, makeCab, makePackage, makeTar, makeTargetRoot } from '../test/helpers/deploypkg';

const RESULTS = path.join(REPO_ROOT, 'bench', 'results');
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function rate(fn: () => void, ms = 1000): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function main(): Promise<void> {
  const rows: Array<[string, string]> = [];
  const pkg = makePackage({ files: [{ name: 'cust.cfg', data: CUST_STATIC }] });
  rows.push(['header parses/s', rate(() => parseHeader(pkg.subarray(0, 512), pkg.length)).toFixed(0)]);
  rows.push(['cust.cfg parses/s', rate(() => parseCustCfg(CUST_STATIC)).toFixed(0)]);

  const text = Buffer.from('my $x = "customize"; # perl-ish line of a script\n'.repeat(90000)).subarray(0, 4 * 1024 * 1024);
  const cab = makeCab([{ name: 'scripts/Customize.pl', data: text }]);
  const t0 = process.hrtime.bigint();
  const reps = 10;
  for (let i = 0; i < reps; i++) readCab(cab);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  rows.push(['CAB MSZIP read MiB/s (4 MiB cabinet)', ((4 * reps) / s).toFixed(1)]);

  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const root = makeTargetRoot('networkd');
    const begin = path.join(root, 'run');
    const svc = new DeployPkgService({
      rpc: { send: () => ({ ok: true, reply: Buffer.alloc(0) }) }, log: quiet,
      config: () => ({ enableCustomization: true, processTimeoutS: undefined, waitCloudInitTimeoutS: 0, engine: 'native', enableCustomScripts: undefined }),
      paths: { targetRoot: root, beginBases: [begin], stagingBases: STAGING_BASES, logFile: path.join(root, 'var/log/x.log'), logName: 'x', markerDir: path.join(root, 'var/log'), cloudInit: '/usr/bin/cloud-init' },
      reboot: async () => ({ ok: true }), interfaces: () => [{ name: 'ens192', mac: MAC1 }], sleep: async () => undefined,
    });
    const t = process.hrtime.bigint();
    const dir = String(svc.begin().result);
    fs.writeFileSync(path.join(dir, 'p'), pkg);
    svc.deploy(Buffer.from(path.join(dir, 'p')));
    await svc.lastRun;
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    fs.rmSync(root, { recursive: true, force: true });
  }
  times.sort((a, b) => a - b);
  rows.push(['native deployment ms (median of 20)', times[10].toFixed(1)]);

  const bomb = zlib.gzipSync(makeTar([{ name: 'z', data: Buffer.alloc(1024 * 1024 * 1024) }]), { level: 9 });
  const tb = process.hrtime.bigint();
  try {
    readTarGz(bomb);
  } catch {
    /* refused */
  }
  rows.push([`size bomb ms (${(bomb.length / 1024).toFixed(0)} KiB gz of 1 GiB)`, (Number(process.hrtime.bigint() - tb) / 1e6).toFixed(0)]);

  const md = [`# deployPkg benchmark (${new Date().toISOString()}, ${os.cpus().length} CPUs, node ${process.version})`, '', '| Figure | Value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`), ''].join('\n');
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'deploypkg.md'), md);
  process.stdout.write(md);
}

void main();
