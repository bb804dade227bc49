/**
 * Guest operations: what one request costs (issue 7). Runs as root; creates
 * one throw-away account (removed at the end) and uses a private PAM
 * confdir with our pam/vmtoolsd.
 *
 *  - rejected requests (header error, unsupported credential type) through
 *    the whole service, per request;
 *  - ValidateCredentials with the right password (one PAM exchange);
 *  - a file operation (CreateDirectoryEx: runas helper + Node worker);
 *  - StartProgram (runas helper only, until the exec).
 *
 * Results: bench/results/guestops.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guestOpsServices } from '../src/daemon/guestOpsService';
import { quietLog } from '../test/helpers/guestopsFakes';
import { makePamConfDir } from '../test/helpers/pamTestConf';
import { createUser, removeAll } from '../test/helpers/testUsers';
import { bodies, buildMessage, hgfs, OP, parseReply, relayedArgs } from '../test/helpers/vixClient';

function stats(ms: number[]): { median: number; p90: number } {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], p90: s[Math.floor(s.length * 0.9)] };
}

async function main(): Promise<void> {
  const confDir = makePamConfDir();
  const u = createUser('b');
  try {
    const { service } = guestOpsServices({ config: () => ({ disabled: false, apiDisabled: () => false }), log: quietLog, pamConfDir: confDir });
    const creds = { user: u.name, password: u.password };
    const time = async (n: number, make: (i: number) => Buffer, expect: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const args = relayedArgs(make(i));
        const t0 = process.hrtime.bigint();
        const r = parseReply(await service.handleRelayed(args));
        out.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.error !== expect) throw new Error(`expected ${expect}, got ${r.error}`);
      }
      return out;
    };
    const bad = buildMessage({ opCode: OP.DELETE_FILE, body: bodies.deleteFile('/tmp/x'), creds });
    bad.writeUInt32LE(0, 0);
    const saml = buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds: { ...creds, type: 11 } });
    const rows: Array<[string, number, { median: number; p90: number }]> = [];
    const hdr = await time(20000, () => bad, 10000);
    rows.push(['header error (10000)', hdr.length, stats(hdr)]);
    const typ = await time(20000, () => saml, 6);
    rows.push(['unsupported credential type (6)', typ.length, stats(typ)]);
    const val = await time(20, () => buildMessage({ opCode: OP.VALIDATE_CREDENTIALS, creds }), 0);
    rows.push(['ValidateCredentials, right password (PAM)', val.length, stats(val)]);
    const mk = await time(20, (i) => buildMessage({ opCode: OP.CREATE_DIRECTORY_EX, body: bodies.mkdir(path.join(u.home, `d${i}`)), creds }), 0);
    rows.push(['CreateDirectoryEx (PAM + helper + Node worker)', mk.length, stats(mk)]);
    const sp = await time(20, () => buildMessage({ opCode: OP.START_PROGRAM, body: bodies.startProgram('/bin/true'), creds }), 0);
    rows.push(['StartProgram /bin/true (PAM + helper, until exec)', sp.length, stats(sp)]);
    // HGFS upload: 10 WRITE_V3 packets of 60 000 bytes (each authenticated + one worker).
    const hgfsCall = async (packet: Buffer): Promise<Buffer> => {
      const r = parseReply(await service.handleRelayed(relayedArgs(buildMessage({ opCode: OP.HGFS, body: hgfs.body(packet), creds, commonFlags: 0x81 }))));
      if (r.error !== 0) throw new Error(`HGFS VIX error ${r.error}`);
      return Buffer.from(r.result, 'latin1').subarray(44);
    };
    const sid = (await hgfsCall(hgfs.createSession())).readBigUInt64LE(0);
    const wh = (await hgfsCall(hgfs.openV3(sid, path.join(u.home, 'big'), 1, 4))).readUInt32LE(0);
    const chunk = Buffer.alloc(60_000, 1);
    const w: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = process.hrtime.bigint();
      await hgfsCall(hgfs.writeV3(sid, wh, BigInt(i * chunk.length), chunk));
      w.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    rows.push(['HGFS WRITE_V3, 60 000 bytes (PAM + worker per packet)', w.length, stats(w)]);
    const kbps = (chunk.length / 1024) / (stats(w).median / 1000);
    const table = [
      `# Guest operations: cost of one request`,
      '',
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`,
      'Measured in-process through `GuestOpsService.handleRelayed` (no TCLO round trip).',
      '',
      '| Request | n | median ms | p90 ms |',
      '|---|---|---|---|',
      ...rows.map(([name, n, s]) => `| ${name} | ${n} | ${s.median.toFixed(3)} | ${s.p90.toFixed(3)} |`),
      '',
      `HGFS upload throughput at the median: ${kbps.toFixed(0)} KiB/s.`,
      '',
    ].join('\n');
    console.log(table);
    fs.mkdirSync(path.join(__dirname, '..', '..', 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(__dirname, '..', '..', 'bench', 'results', 'guestops.md'), table);
  } finally {
    removeAll();
    fs.rmSync(confDir, { recursive: true, force: true });
  }
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
