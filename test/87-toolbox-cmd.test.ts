/**
 * Layer 8: vmware-toolbox-cmd (src/cli/toolboxCmd.ts).
 *
 * Part 1 drives main() in-process against a fake host and a temporary
 * configuration directory: option parsing, guestlib v2/v3 decoding, the
 * GUI-options states the simulator cannot produce, device lists, charset
 * conversion.
 *
 * Part 2 is the differential suite: bin/vmware-toolbox-cmd against Debian's
 * open-vm-tools 12.2 binary through the same shim and simulator, each case
 * from the same tools.conf and host state; stdout, stderr, exit code, the
 * RPCs on the wire and the backdoor commands must match, and so must the
 * resulting tools.conf (byte for byte where the reference's rewrite and our
 * in-place edit agree, otherwise key for key). The reference only knows
 * /etc/vmware-tools, so each run gets a private mount namespace with a
 * temporary directory there (test/helpers/sandbox.ts), which also makes its
 * vsock attempts fail before they reach anything.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { spawnSync } from 'node:child_process';

import { parseKeyFile } from '../src/config/keyfile';
import { decodeGuestNicProto } from '../src/services/guestinfo';
import type { SimHandle } from '../src/sim/harness';
import { describeUnderShim, REPO_ROOT, startSim } from './helpers/native-env';
import { buildLauncher, DROPPED_CAPS, runSandboxed } from './helpers/sandbox';
import { main, programName } from '../src/cli/toolboxCmd';
import { parseToolboxOptions } from '../src/cli/toolbox/getopt';
import type { LbRegs, RpcResult, ToolboxHost } from '../src/cli/toolbox/host';
import { localeCharset, toConsole } from '../src/cli/toolbox/output';
import { formatHostTime } from '../src/cli/toolbox/commands';

// ---------------------------------------------------------------------------
// guestlib reply builders (libguestlib/vmGuestLibInt.h, guestlibV3.x)

/** v3 statistic kinds by id: u64 ones, the string (18) and the byte array (37); the rest are u32. */
const V3_U64 = new Set([4, 17, 19, 20, 22, 23, 24, 25, 26, 27, 28, 29, 30, 38]);

interface V3StatSpec {
  valid?: boolean;
  value?: number | bigint | string;
}

/** A VMGuestLibDataV3 reply body: header (LE), dataSize, XDR statistics 1..n in order. */
export function guestlibV3(sessionId: bigint, stats: V3StatSpec[], opts: { version?: number; count?: number } = {}): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number): void => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    parts.push(b);
  };
  u32(opts.count ?? stats.length);
  stats.forEach((s, i) => {
    const id = i + 1;
    u32(id);
    u32(s.valid === false ? 0 : 1);
    if (id === 18 || id === 37) {
      const v = Buffer.from(String(s.value ?? ''), 'utf8');
      u32(v.length);
      parts.push(v, Buffer.alloc((4 - (v.length % 4)) % 4));
    } else if (V3_U64.has(id)) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(s.value ?? 0));
      parts.push(b);
    } else {
      u32(Number(s.value ?? 0));
    }
  });
  const data = Buffer.concat(parts);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(opts.version ?? 3, 0);
  hdr.writeBigUInt64LE(sessionId, 4);
  hdr.writeUInt32LE(data.length, 12);
  return Buffer.concat([hdr, data]);
}

/** A VMGuestLibDataV2 reply (669 bytes): fields by their struct offsets. */
export function guestlibV2(sessionId: bigint, fields: Record<number, number | null>): Buffer {
  const b = Buffer.alloc(669);
  b.writeUInt32LE(2, 0);
  b.writeBigUInt64LE(sessionId, 4);
  for (const [off, v] of Object.entries(fields)) {
    if (v === null) continue;
    b[Number(off)] = 1;
    b.writeUInt32LE(v, Number(off) + 4);
  }
  return b;
}

/** Statistics 1..13 with recognisable values: cpu res 1000, cpu limit 2000, mem res 512, limit 4096, ballooned 64, swapped 32. */
export function sampleV3Stats(): V3StatSpec[] {
  const s: V3StatSpec[] = [];
  for (let id = 1; id <= 20; id++) s.push({ value: id * 3 });
  s[0] = { value: 1000 };
  s[1] = { value: 2000 };
  s[5] = { value: 512 };
  s[6] = { value: 4096 };
  s[11] = { value: 64 };
  s[12] = { value: 32 };
  s[17] = { value: '/host/user/pool' };
  return s;
}

// ---------------------------------------------------------------------------
// Part 1: in-process, fake host

class FakeHost implements ToolboxHost {
  vm = true;
  guiOptions = 0xffffffff;
  mhz = 2400;
  timeFull: { ok: boolean; secs: bigint; usecs: number } = { ok: true, secs: 1700000000n, usecs: 0 };
  devices: Array<{ name: string; enabled: boolean; toggle?: boolean }> = [];
  readonly lb: Array<[number, number]> = [];
  readonly rpcs: Array<{ how: 'send' | 'one'; request: Buffer }> = [];
  reply: (request: string) => RpcResult = () => ({ ok: false, reply: Buffer.from('Unknown command') });

  isVirtualWorld(): boolean {
    return this.vm;
  }

  lowBandwidth(cmd: number, ebx = 0): LbRegs {
    this.lb.push([cmd, ebx]);
    const r: LbRegs = { eax: 0x564d5868, ebx, ecx: cmd, edx: 0x5658, esi: 0, edi: 0 };
    switch (cmd) {
      case 1:
        return { ...r, eax: this.mhz >>> 0 };
      case 13:
        return { ...r, eax: this.guiOptions >>> 0 };
      case 46:
        if (!this.timeFull.ok) return { ...r, eax: 0xffffffff };
        return { ...r, esi: Number(this.timeFull.secs >> 32n), edx: Number(this.timeFull.secs & 0xffffffffn), ebx: this.timeFull.usecs };
      case 23:
        return { ...r, eax: 0xffffffff };
      case 11: {
        const id = ebx >>> 16;
        const off = ebx & 0xffff;
        const d = this.devices[id];
        if (!d) return { ...r, eax: 0 };
        const b = Buffer.alloc(40);
        b.write(d.name, 0, 31, 'utf8');
        b[36] = d.enabled ? 1 : 0;
        return { ...r, eax: 1, ebx: b.readUInt32LE(off) };
      }
      case 12: {
        const d = this.devices[ebx & 0xffff];
        if (!d || d.toggle === false) return { ...r, eax: 0 };
        d.enabled = (ebx & 0x80000000) !== 0;
        return { ...r, eax: 1 };
      }
      default:
        return { ...r, eax: 0xffffffff };
    }
  }

  sendRpc(request: Buffer): RpcResult {
    this.rpcs.push({ how: 'send', request });
    return this.reply(request.toString('latin1'));
  }

  sendOneRaw(request: Buffer): RpcResult {
    this.rpcs.push({ how: 'one', request });
    return this.reply(request.toString('latin1'));
  }
}

interface InProcessRun {
  status: number;
  stdout: string;
  stderr: string;
}

async function runInProcess(
  args: string[],
  host: FakeHost,
  opts: { confDir?: string; env?: NodeJS.ProcessEnv; isRoot?: boolean } = {},
): Promise<InProcessRun> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const status = await main(args, {
    prog: 'vmware-toolbox-cmd',
    host,
    sink: { stdout: (d) => out.push(Buffer.from(d)), stderr: (d) => err.push(Buffer.from(d)) },
    env: opts.env ?? { LANG: 'C.UTF-8' },
    confDir: opts.confDir ?? '/nonexistent/vmware-tools',
    isRoot: () => opts.isRoot ?? true,
    nicInfoMessage: () => Buffer.from('SetGuestInfo  10 xdr'),
  });
  return { status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

describe('87 vmware-toolbox-cmd (in-process)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'toolbox-cmd-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('getopt_long emulation', () => {
    const p = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseToolboxOptions('tbc', argv, env);

    it('permutes options to the front and keeps the operands in order', () => {
      assert.deepEqual(p(['config', '-q', 'get', 'a', 'b']), { ok: true, quiet: true, help: false, version: false, args: ['config', 'get', 'a', 'b'] });
    });
    it('"--" ends the options; a lone "-" is an operand', () => {
      assert.deepEqual(p(['a', '--', '-v', '-']), { ok: true, quiet: false, help: false, version: false, args: ['a', '-v', '-'] });
      assert.deepEqual(p(['-']), { ok: true, quiet: false, help: false, version: false, args: ['-'] });
    });
    it('POSIXLY_CORRECT stops at the first operand', () => {
      assert.deepEqual(p(['config', '-q'], { POSIXLY_CORRECT: '1' }), { ok: true, quiet: false, help: false, version: false, args: ['config', '-q'] });
    });
    it('clusters, abbreviations and glibc messages', () => {
      assert.deepEqual(p(['-qv', '--he']), { ok: true, quiet: true, help: true, version: true, args: [] });
      const e = (argv: string[]) => {
        const r = p(argv);
        assert.equal(r.ok, false);
        return (r as { message: Buffer }).message.toString('latin1');
      };
      assert.equal(e(['-x']), "tbc: invalid option -- 'x'\n");
      assert.equal(e(['--nope=1']), "tbc: unrecognized option '--nope=1'\n");
      assert.equal(e(['--vers=2']), "tbc: option '--version' doesn't allow an argument\n");
      assert.equal(e(['--=x']), "tbc: option '--=x' is ambiguous; possibilities: '--quiet' '--help' '--version'\n");
      assert.equal(e(['-\u00e9']), "tbc: invalid option -- '\u00c3'\n");
    });
  });

  describe('start-up, help and usage errors', () => {
    it('not in a VM: the reference message before anything else, exit 1', async () => {
      const h = new FakeHost();
      h.vm = false;
      assert.deepEqual(await runInProcess(['-v'], h), {
        status: 1,
        stdout: '',
        stderr: 'vmware-toolbox-cmd must be run inside a virtual machine.\n',
      });
    });
    it('-v prints "<version> (build-<n>)"', async () => {
      const r = await runInProcess(['-v'], new FakeHost());
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^\d+\.\d+\.\d+\.\d+ \(build-\d+\)\n$/);
    });
    it('root-only commands refuse other users with EX_NOPERM before checking arguments', async () => {
      for (const cmd of ['config', 'script', 'logging', 'info', 'disk', 'globalconf']) {
        assert.deepEqual(await runInProcess([cmd], new FakeHost(), { isRoot: false }), {
          status: 77,
          stdout: '',
          stderr: `vmware-toolbox-cmd: You must be root to perform ${cmd} operations.\n`,
        });
      }
      assert.equal((await runInProcess(['stat', 'speed'], new FakeHost(), { isRoot: false })).status, 0);
    });
    it('help of every command names the command and the program', async () => {
      for (const cmd of ['timesync', 'script', 'disk', 'stat', 'device', 'gueststore', 'globalconf', 'logging', 'info', 'config']) {
        const r = await runInProcess(['help', cmd], new FakeHost());
        assert.equal(r.status, 0);
        assert.ok(r.stdout.startsWith(`${cmd}: `), cmd);
        assert.ok(r.stdout.includes(`Usage: vmware-toolbox-cmd ${cmd} `), cmd);
      }
    });
    it('unsupported commands say so with EX_UNAVAILABLE', async () => {
      const r = await runInProcess(['disk', 'list'], new FakeHost());
      assert.deepEqual(r, { status: 69, stdout: '', stderr: 'vmware-toolbox-cmd: disk operations are not supported by vmtoolsd-node\n' });
    });
  });

  describe('stat', () => {
    it('hosttime: GETTIMEFULL, µs carried into seconds, local time in the C locale', async () => {
      const h = new FakeHost();
      h.timeFull = { ok: true, secs: 1700000000n, usecs: 2500000 };
      const tz = process.env.TZ;
      try {
        process.env.TZ = 'UTC';
        assert.deepEqual(await runInProcess(['stat', 'hosttime'], h), { status: 0, stdout: '14 Nov 2023 22:13:22\n', stderr: '' });
        process.env.TZ = 'Asia/Kolkata';
        assert.deepEqual(await runInProcess(['stat', 'hosttime'], h), { status: 0, stdout: '15 Nov 2023 03:43:22\n', stderr: '' });
      } finally {
        if (tz === undefined) delete process.env.TZ;
        else process.env.TZ = tz;
      }
      assert.deepEqual(h.lb.map(([c]) => c), [46, 46]);
    });
    it('hosttime: falls back to GETTIME, then fails with EX_TEMPFAIL', async () => {
      const h = new FakeHost();
      h.timeFull.ok = false;
      assert.deepEqual(await runInProcess(['stat', 'hosttime'], h), { status: 75, stdout: '', stderr: 'Unable to get host time.\n' });
      assert.deepEqual(h.lb.map(([c]) => c), [46, 23]);
      assert.deepEqual(await runInProcess(['-q', 'stat', 'hosttime'], h), { status: 75, stdout: '', stderr: '' });
    });
    it('formatHostTime pads like strftime', () => {
      assert.equal(formatHostTime(new Date(2024, 0, 5, 3, 4, 5)), '05 Jan 2024 03:04:05');
    });
    it('speed: a non-positive int32 is an error', async () => {
      const h = new FakeHost();
      h.mhz = 0x80000000;
      assert.deepEqual(await runInProcess(['stat', 'speed'], h), { status: 75, stdout: '', stderr: 'Unable to get processor speed.\n' });
    });
    it('guestlib v3: every statistic, the session id in hex', async () => {
      const h = new FakeHost();
      h.reply = (req) => (req === 'guestlib.info.get 3' ? { ok: true, reply: guestlibV3(0xabcdef0123n, sampleV3Stats()) } : { ok: false, reply: Buffer.from('x') });
      const expect: Record<string, string> = {
        sessionid: '0xabcdef0123\n',
        balloon: '64 MB\n',
        swap: '32 MB\n',
        memlimit: '4096 MB\n',
        memres: '512 MB\n',
        cpures: '1000 MHz\n',
        cpulimit: '2000 MHz\n',
      };
      for (const [sub, out] of Object.entries(expect)) {
        assert.deepEqual(await runInProcess(['stat', sub], h), { status: 0, stdout: out, stderr: '' }, sub);
      }
      assert.ok(h.rpcs.every((r) => r.how === 'one' && r.request.toString() === 'guestlib.info.get 3'));
    });
    it('guestlib v3: invalid, missing and out-of-order statistics', async () => {
      const h = new FakeHost();
      const stats = sampleV3Stats().slice(0, 12);
      stats[6] = { valid: false, value: 1 };
      h.reply = () => ({ ok: true, reply: guestlibV3(7n, stats) });
      assert.deepEqual(await runInProcess(['stat', 'memlimit'], h), { status: 75, stdout: '', stderr: 'Failed to get memory limit: This value is not available on this host\n' });
      assert.deepEqual(await runInProcess(['stat', 'swap'], h), { status: 75, stdout: '', stderr: 'Failed to get swapped memory: Host does not support this request.\n' });
      // A count larger than what follows: the array does not decode, the handle has no session.
      h.reply = () => ({ ok: true, reply: guestlibV3(7n, sampleV3Stats(), { count: 25 }) });
      assert.deepEqual(await runInProcess(['stat', 'sessionid'], h), { status: 75, stdout: '', stderr: 'Failed to get session ID: VMGuestLib_UpdateInfo() has not been called\n' });
      // A v2 header in answer to a v3 request.
      h.reply = () => ({ ok: true, reply: guestlibV3(7n, sampleV3Stats(), { version: 2 }) });
      assert.deepEqual(await runInProcess(['stat', 'balloon'], h), { status: 75, stdout: '', stderr: 'UpdateInfo failed: Other error\n' });
    });
    it('guestlib: a v3 failure other than "Unknown command" falls back to v2', async () => {
      const h = new FakeHost();
      h.reply = (req) =>
        req.endsWith(' 2') ? { ok: true, reply: guestlibV2(0x42n, { 104: 5, 112: null, 12: 700 }) } : { ok: false, reply: Buffer.from('Unsupported version') };
      assert.deepEqual(await runInProcess(['stat', 'balloon'], h), { status: 0, stdout: '5 MB\n', stderr: '' });
      assert.deepEqual(await runInProcess(['stat', 'cpures'], h), { status: 0, stdout: '700 MHz\n', stderr: '' });
      assert.deepEqual(await runInProcess(['stat', 'swap'], h), { status: 75, stdout: '', stderr: 'Failed to get swapped memory: This value is not available on this host\n' });
      assert.deepEqual(await runInProcess(['stat', 'sessionid'], h), { status: 0, stdout: '0x42\n', stderr: '' });
      assert.deepEqual(
        h.rpcs.slice(0, 2).map((r) => r.request.toString()),
        ['guestlib.info.get 3', 'guestlib.info.get 2'],
      );
      // A v2 reply of the wrong size is refused.
      h.reply = (req) => (req.endsWith(' 2') ? { ok: true, reply: guestlibV2(1n, {}).subarray(0, 600) } : { ok: false, reply: Buffer.from('no') });
      assert.deepEqual(await runInProcess(['stat', 'balloon'], h), { status: 75, stdout: '', stderr: 'UpdateInfo failed: Other error\n' });
      // v2 failing too: not enabled.
      h.reply = () => ({ ok: false, reply: Buffer.from('no') });
      assert.deepEqual(await runInProcess(['stat', 'balloon'], h), { status: 75, stdout: '', stderr: 'UpdateInfo failed: VMware Guest API is not enabled on the host\n' });
    });
    it('raw: the request, "%*s" alignment of a reply with a NUL, the 255-byte limit', async () => {
      const h = new FakeHost();
      h.reply = () => ({ ok: true, reply: Buffer.from('ab\0cd') });
      assert.deepEqual(await runInProcess(['stat', 'raw', 'json', 'vscsi', 'scsi0:0'], h), { status: 0, stdout: '   ab', stderr: '' });
      assert.equal(h.rpcs[0]!.request.toString(), 'guestlib.stat.get json vscsi scsi0:0');
      assert.deepEqual(await runInProcess(['stat', 'raw', 'x'.repeat(240)], h), {
        status: 75,
        stdout: '',
        stderr: 'Failed to get stat: The provided memory buffer is too small\n',
      });
    });
  });

  describe('timesync', () => {
    it('status reads GETGUIOPTIONS bit 0x400', async () => {
      const h = new FakeHost();
      h.guiOptions = 0x400;
      assert.deepEqual(await runInProcess(['timesync', 'status'], h), { status: 0, stdout: 'Enabled\n', stderr: '' });
      h.guiOptions = 0xfffffbff;
      assert.deepEqual(await runInProcess(['timesync', 'status'], h), { status: 69, stdout: 'Disabled\n', stderr: '' });
      assert.deepEqual(await runInProcess(['timesync', 'status', '-q'], h), { status: 69, stdout: '', stderr: '' });
      assert.equal(h.rpcs.length, 0);
    });
    it('enable sends "vmx.set_option synctime 0 1\\0" only when it is off', async () => {
      const h = new FakeHost();
      h.guiOptions = 0;
      h.reply = () => ({ ok: true, reply: Buffer.alloc(0) });
      assert.deepEqual(await runInProcess(['timesync', 'enable'], h), { status: 0, stdout: 'Enabled\n', stderr: '' });
      assert.deepEqual(h.rpcs.map((r) => [r.how, r.request.toString('latin1')]), [['send', 'vmx.set_option synctime 0 1\0']]);
      h.guiOptions = 0x400;
      assert.deepEqual(await runInProcess(['timesync', 'enable'], h), { status: 0, stdout: 'Enabled\n', stderr: '' });
      assert.equal(h.rpcs.length, 1);
    });
    it('disable: the host refusal, and no channel at all', async () => {
      const h = new FakeHost();
      h.reply = () => ({ ok: false, reply: Buffer.from('Unknown command') });
      assert.deepEqual(await runInProcess(['timesync', 'disable'], h), { status: 1, stdout: '', stderr: 'Error: Unknown command\n' });
      assert.equal(h.rpcs[0]!.request.toString('latin1'), 'vmx.set_option synctime 1 0\0');
      h.reply = () => ({ ok: false, reply: null });
      assert.deepEqual(await runInProcess(['timesync', 'disable'], h), { status: 1, stdout: '', stderr: 'Error: (NULL)\n' });
      h.guiOptions = 0;
      assert.deepEqual(await runInProcess(['timesync', 'disable'], h), { status: 0, stdout: 'Disabled\n', stderr: '' });
    });
  });

  describe('device', () => {
    it('list, status, enable, disable', async () => {
      const h = new FakeHost();
      h.devices = [{ name: '', enabled: false }, { name: 'ide1:0', enabled: true }, { name: 'Ethernet0', enabled: false, toggle: false }];
      assert.deepEqual(await runInProcess(['device', 'list'], h), { status: 0, stdout: 'ide1:0: Enabled\nEthernet0: Disabled\n', stderr: '' });
      assert.deepEqual(await runInProcess(['device', 'status', 'Ethernet0'], h), { status: 69, stdout: 'Disabled\n', stderr: '' });
      assert.deepEqual(await runInProcess(['device', 'disable', 'ide1:0'], h), { status: 0, stdout: 'Disabled\n', stderr: '' });
      assert.equal(h.devices[1]!.enabled, false);
      assert.deepEqual(await runInProcess(['device', 'enable', 'Ethernet0'], h), { status: 75, stdout: '', stderr: 'Unable to connect device Ethernet0.\n' });
      assert.deepEqual(await runInProcess(['device', 'status', 'nope'], h), {
        status: 72,
        stdout: '',
        stderr: 'Error fetching interface information: device not found.\n',
      });
      assert.deepEqual(await runInProcess(['device', 'status'], h), {
        status: 64,
        stdout: '',
        stderr: "vmware-toolbox-cmd: Missing device name\nTry 'vmware-toolbox-cmd help device' for more information.\n",
      });
    });
  });

  describe('config, script and logging on a temporary directory', () => {
    const conf = (): string => path.join(dir, 'tools.conf');

    it('config get: missing file 69, empty file 0, value, escapes, rejected file 69', async () => {
      const h = new FakeHost();
      const get = () => runInProcess(['config', 'get', 'deployPkg', 'enable-custom-scripts'], h, { confDir: dir });
      assert.deepEqual(await get(), { status: 69, stdout: '[deployPkg] enable-custom-scripts UNSET\n', stderr: '' });
      fs.writeFileSync(conf(), '');
      assert.deepEqual(await get(), { status: 0, stdout: '[deployPkg] enable-custom-scripts UNSET\n', stderr: '' });
      fs.writeFileSync(conf(), '# c\n[deployPkg]\nenable-custom-scripts = \\strue\\n\n');
      assert.deepEqual(await get(), { status: 0, stdout: '[deployPkg] enable-custom-scripts =  true\n\n', stderr: '' });
      fs.writeFileSync(conf(), '[deployPkg]\nenable-custom-scripts=true\n; not a comment for GLib\n');
      const rejected = await get();
      assert.deepEqual({ ...rejected, stderr: '' }, { status: 69, stdout: '[deployPkg] enable-custom-scripts UNSET\n', stderr: '' });
      assert.match(
        rejected.stderr,
        /^\n\*\* \(process:\d+\): WARNING \*\*: \d\d:\d\d:\d\d\.\d{3}: Cannot load config file: Key file contains line \u201c; not a comment for GLib\u201d which is not a key-value pair, group, or comment\n$/,
      );
      fs.writeFileSync(conf(), 'enable-custom-scripts=true\n[deployPkg]\nenable-custom-scripts=true\n');
      assert.deepEqual(await get(), { status: 0, stdout: '[deployPkg] enable-custom-scripts UNSET\n', stderr: '' });
    });

    it('config get: keys missing from tools.conf come from tools-global.conf when [globalconf] enabled=true', async () => {
      const h = new FakeHost();
      fs.writeFileSync(path.join(dir, 'tools-global.conf'), '[deployPkg]\nenable-custom-scripts=false\n[powerops]\npoweron-script=/g\n');
      fs.writeFileSync(conf(), '[globalconf]\nenabled=true\n');
      assert.equal((await runInProcess(['config', 'get', 'deployPkg', 'enable-custom-scripts'], h, { confDir: dir })).stdout, '[deployPkg] enable-custom-scripts = false\n');
      assert.equal((await runInProcess(['script', 'power', 'current'], h, { confDir: dir })).stdout, '/g\n');
      fs.writeFileSync(conf(), '[globalconf]\nenabled=True\n');
      assert.equal((await runInProcess(['config', 'get', 'deployPkg', 'enable-custom-scripts'], h, { confDir: dir })).stdout, '[deployPkg] enable-custom-scripts UNSET\n');
    });

    it('config set/remove edit in place; remove of a missing file is 69', async () => {
      const h = new FakeHost();
      assert.deepEqual(await runInProcess(['config', 'remove', 'a', 'b'], h, { confDir: dir }), { status: 69, stdout: '', stderr: '' });
      assert.equal(fs.existsSync(conf()), false);
      assert.equal((await runInProcess(['config', 'set', 'deployPkg', 'enable-custom-scripts', 'true'], h, { confDir: dir })).status, 0);
      assert.equal(fs.readFileSync(conf(), 'utf8'), '[deployPkg]\nenable-custom-scripts=true\n');
      fs.writeFileSync(conf(), '# keep me\n[logging]\nlog = true   \n');
      await runInProcess(['config', 'set', 'logging', 'vmsvc.level', 'debug'], h, { confDir: dir });
      assert.equal(fs.readFileSync(conf(), 'utf8'), '# keep me\n[logging]\nlog = true   \nvmsvc.level=debug\n');
      await runInProcess(['config', 'remove', 'logging', 'log'], h, { confDir: dir });
      assert.equal(fs.readFileSync(conf(), 'utf8'), '# keep me\n[logging]\nvmsvc.level=debug\n');
    });

    it('write failures: "Error writing config: <strerror>" and 75, silenced by -q', async () => {
      const h = new FakeHost();
      const missingDir = path.join(dir, 'nope');
      assert.deepEqual(await runInProcess(['config', 'set', 'a', 'b', 'c'], h, { confDir: missingDir }), {
        status: 75,
        stdout: '',
        stderr: 'Error writing config: No such file or directory\n',
      });
      assert.deepEqual(await runInProcess(['-q', 'script', 'power', 'disable'], h, { confDir: missingDir }), { status: 75, stdout: '', stderr: '' });
    });

    it('script: default, current (relative, quoted, empty), set, enable, disable', async () => {
      const h = new FakeHost();
      const run = (...a: string[]) => runInProcess(['script', ...a], h, { confDir: dir });
      assert.deepEqual(await run('resume', 'default'), { status: 0, stdout: `${dir}/resume-vm-default\n`, stderr: '' });
      fs.writeFileSync(conf(), '[powerops]\npoweron-script="my script"\nsuspend-script=\nresume-script="\n');
      assert.equal((await run('power', 'current')).stdout, `${dir}/my script\n`);
      assert.equal((await run('resume', 'current')).stdout, `${dir}/\n`);
      assert.deepEqual(await run('suspend', 'current'), { status: 75, stdout: '', stderr: 'No script for operation suspend.\n' });
      assert.deepEqual(await run('shutdown', 'set', path.join(dir, 'none')), { status: 72, stdout: '', stderr: `${path.join(dir, 'none')} doesn't exist.\n` });
      assert.equal((await run('shutdown', 'set', conf())).status, 0);
      assert.equal((await run('shutdown', 'current')).stdout, `${conf()}\n`);
      assert.equal((await run('power', 'disable')).status, 0);
      assert.equal((await run('suspend', 'enable')).status, 0);
      const parsed = parseKeyFile(fs.readFileSync(conf(), 'utf8'));
      assert.ok(parsed.ok);
      assert.deepEqual(Object.fromEntries(parsed.file.groups.get('powerops')!), {
        'poweron-script': '',
        'suspend-script': 'suspend-vm-default',
        'resume-script': '"',
        'poweroff-script': conf(),
      });
    });

    it('logging level get/set', async () => {
      const h = new FakeHost();
      assert.deepEqual(await runInProcess(['logging', 'level', 'get', 'vmsvc'], h, { confDir: dir }), { status: 0, stdout: 'vmsvc.level = message\n', stderr: '' });
      assert.deepEqual(await runInProcess(['logging', 'level', 'set', 'vmsvc', 'loud'], h, { confDir: dir }), {
        status: 64,
        stdout: '',
        stderr: "vmware-toolbox-cmd: Unknown logging level 'loud'\nTry 'vmware-toolbox-cmd help logging' for more information.\n",
      });
      assert.equal((await runInProcess(['logging', 'level', 'set', 'vmsvc', 'debug'], h, { confDir: dir })).status, 0);
      assert.equal((await runInProcess(['logging', 'level', 'get', 'vmsvc'], h, { confDir: dir })).stdout, 'vmsvc.level = debug\n');
    });
  });

  describe('output', () => {
    it('GLib console conversion: "?" outside UTF-8 locales, escapes for invalid UTF-8', () => {
      assert.equal(toConsole('caf\u00e9 \u20ac', 'ascii').toString('latin1'), 'caf? ?');
      assert.equal(toConsole('caf\u00e9 \u20ac', 'latin1').toString('latin1'), 'caf\u00e9 ?');
      assert.equal(toConsole(Buffer.from([0x61, 0xff, 0x0a]), 'ascii').toString('latin1'), '[Invalid UTF-8] a\\xff\n');
      assert.equal(toConsole('\u00e9', 'utf8').toString('utf8'), '\u00e9');
      assert.equal(localeCharset({ LANG: 'C.UTF-8' }), 'utf8');
      assert.equal(localeCharset({ LC_ALL: 'C', LANG: 'C.UTF-8' }), 'ascii');
      assert.equal(localeCharset({}), 'ascii');
      assert.equal(localeCharset({ LANG: 'xx_YY.UTF-8' }), 'ascii'); // not installed: setlocale fails, "C" stays
    });
    it('config get prints non-ASCII values converted for the locale', async () => {
      fs.writeFileSync(path.join(dir, 'tools.conf'), '[a]\nb=caf\u00e9\n');
      const h = new FakeHost();
      assert.equal((await runInProcess(['config', 'get', 'a', 'b'], h, { confDir: dir, env: { LANG: 'C.UTF-8' } })).stdout, '[a] b = caf\u00e9\n');
      assert.equal((await runInProcess(['config', 'get', 'a', 'b'], h, { confDir: dir, env: { LANG: 'C' } })).stdout, '[a] b = caf?\n');
    });
    it('programName: the bare name when PATH finds this very script, else the path', () => {
      const bin = path.join(dir, 'bin');
      fs.mkdirSync(bin);
      const script = path.join(bin, 'vmware-toolbox-cmd');
      fs.writeFileSync(script, '', { mode: 0o755 });
      assert.equal(programName(script, { PATH: `/nonexistent:${bin}` }), 'vmware-toolbox-cmd');
      assert.equal(programName(script, { PATH: '/usr/bin' }), script);
    });
  });
});

// ---------------------------------------------------------------------------
// Part 2: differential, ours against Debian's open-vm-tools 12.2

const OVT_ROOT = process.env.VMTOOLSD_OVT_ROOT ?? path.join(REPO_ROOT, '.cache', 'ovt', 'root');
const THEIRS_DIR = path.join(OVT_ROOT, 'usr', 'bin');
const THEIRS_LIBS = path.join(OVT_ROOT, 'usr', 'lib', 'x86_64-linux-gnu');
const OURS_DIR = path.join(REPO_ROOT, 'bin');
const TOOL = 'vmware-toolbox-cmd';
/**
 * Objects whose cpuid the shim emulates: libguestlib carries its own copy of
 * VmCheck_IsVirtualWorld, and being first in the binary's NEEDED list, its
 * copy is the one main() calls.
 */
const CPUID_PATCH = ['libvmtools.so.0', 'libguestlib.so.0', TOOL];

type Which = 'ours' | 'theirs';

interface Case {
  name: string;
  args: string[];
  /** tools.conf before the run; undefined: no such file. A Buffer is written as is. */
  conf?: string | Buffer;
  /** Other files in /etc/vmware-tools (tools-global.conf …); a value of null makes a directory. */
  files?: Record<string, string | null>;
  /** /etc/vmware-tools itself: there (default), missing, or mounted read-only. */
  confDir?: 'dir' | 'missing' | 'readonly';
  /** Extra environment for both tools (LANG, TZ, POSIXLY_CORRECT …). */
  env?: Record<string, string>;
  setup?: (sim: SimHandle) => Promise<unknown>;
  /** The command sends RPCs: run in the vsock-proof sandbox (test/helpers/sandbox.ts). */
  rpc?: boolean;
  /** How the resulting tools.conf must compare: 'bytes' (default), 'keys' (same GLib reading), 'none'. */
  confCompare?: 'bytes' | 'keys' | 'none';
  /** The output names the current second (stat hosttime): tolerate one tick. */
  clock?: boolean;
  /** What the reference prints, pinned so that a change on both sides is noticed too. */
  expect?: { status: number; stdout?: string | RegExp; stderr?: string | RegExp };
  /** Compare the RPCs through this view instead of byte for byte. */
  wireView?: (request: Buffer) => unknown;
  /** A deliberate difference: which fields are not compared, and why. */
  differs?: { fields: Array<keyof ToolRun>; why: string; check?: (ours: ToolRun, theirs: ToolRun) => void };
}

interface ToolRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** RPCI requests on the wire (base64). */
  wire: string[];
  /** LB commands by name, MESSAGE sub-commands, HB transfers. */
  calls: { commands: Record<string, number>; message: Record<string, number>; hbOut: number; hbIn: number };
  /** tools.conf afterwards (latin1), null if absent. */
  conf: string | null;
}

const GUESTLIB_SAMPLE = (): Buffer => Buffer.concat([Buffer.from('1 '), guestlibV3(0x1122334455667788n, sampleV3Stats())]);

const USAGE_HINT = (cmd = ''): string => `Try '${TOOL} help${cmd ? ` ${cmd}` : ''}' for more information.\n`;

const CASES: Case[] = [
  // --- options, help and usage errors
  { name: 'no arguments', args: [], expect: { status: 64, stdout: '', stderr: `${TOOL}: Missing command\n${USAGE_HINT()}` } },
  { name: 'help', args: ['help'], expect: { status: 0, stdout: /^Usage: vmware-toolbox-cmd <command> \[options\] \[subcommand\]\nType 'vmware-toolbox-cmd help <command>'/ } },
  { name: '-h', args: ['-h'], expect: { status: 0, stderr: '' } },
  { name: '--help with a command after it', args: ['stat', '--help'] },
  { name: 'help help', args: ['help', 'help'] },
  { name: 'help of an unknown command', args: ['help', 'bogus'], expect: { status: 64, stderr: `${TOOL}: Unknown subcommand 'bogus'\n` } },
  ...['timesync', 'script', 'disk', 'stat', 'device', 'gueststore', 'globalconf', 'logging', 'info', 'config'].map(
    (c): Case => ({ name: `help ${c}`, args: ['help', c], expect: { status: 0 } }),
  ),
  { name: 'upgrade is not an open-vm-tools command', args: ['upgrade', 'status'], expect: { status: 64 } },
  { name: 'unknown command', args: ['foo'], expect: { status: 64, stderr: `${TOOL}: Unknown command 'foo'\n${USAGE_HINT()}` } },
  { name: 'invalid short option', args: ['-x', 'stat', 'speed'], expect: { status: 1, stdout: '', stderr: `${TOOL}: invalid option -- 'x'\nTry '${TOOL} -h' for more information.\n` } },
  { name: 'invalid option in a cluster after -q', args: ['-qz'] },
  { name: 'non-ASCII short option (one byte reported)', args: ['-\u00e9'] },
  { name: 'unrecognized long option', args: ['--bogus=1'] },
  { name: 'long option with an argument', args: ['--help=3'] },
  { name: 'ambiguous empty long option', args: ['--=x'] },
  { name: 'abbreviated --quiet', args: ['--qu', 'timesync', 'status'], expect: { status: 0, stdout: '', stderr: '' } },
  { name: 'options after the operands (permuted)', args: ['timesync', 'status', '-q'] },
  { name: '"--" ends the options', args: ['--', '-v'], expect: { status: 64 } },
  { name: 'POSIXLY_CORRECT: options after a command are operands', args: ['stat', '-q'], env: { POSIXLY_CORRECT: '1' }, expect: { status: 64 } },
  { name: '-q does not silence usage errors', args: ['-q', 'stat'] },
  { name: 'a lone "-" is a command name', args: ['-'] },

  // --- config
  { name: 'config without an operation', args: ['config'], expect: { status: 64, stderr: `${TOOL}: Missing subcommand\n${USAGE_HINT('config')}` } },
  { name: 'config get without a section', args: ['config', 'get'] },
  { name: 'config get without a key', args: ['config', 'get', 'deployPkg'] },
  { name: 'config set without a value', args: ['config', 'set', 'a', 'b'] },
  { name: 'config with an unknown operation', args: ['config', 'bogus', 'a', 'b'] },
  {
    name: 'config get, no tools.conf (cloud-init)',
    args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'],
    expect: { status: 69, stdout: '[deployPkg] enable-custom-scripts UNSET\n', stderr: '' },
  },
  { name: 'config get, no /etc/vmware-tools', args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'], confDir: 'missing' },
  { name: 'config get, empty tools.conf', args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'], conf: '', expect: { status: 0 } },
  {
    name: 'config get, set (cloud-init)',
    args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'],
    conf: '# Debian tools.conf\n[deployPkg]\nenable-custom-scripts = true\n',
    expect: { status: 0, stdout: '[deployPkg] enable-custom-scripts = true\n', stderr: '' },
  },
  { name: 'config get, extra arguments ignored', args: ['config', 'get', 'a', 'b', 'c', 'd'], conf: '[a]\nb=1\n' },
  { name: 'config get, escapes and trailing blanks', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb = \\s x\\ty\\\\z\\n  \n' },
  { name: 'config get, a bad escape is kept', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb = x\\qy\n' },
  { name: 'config get, a backslash at the end is dropped', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb = abc\\\n' },
  { name: 'config get -q still prints the value (g_print)', args: ['-q', 'config', 'get', 'a', 'b'], conf: '[a]\nb=1\n' },
  { name: 'config get, non-ASCII section name, C locale', args: ['config', 'get', 'caf\u00e9', 'b'], conf: '[caf\u00e9]\nb=1\n', env: { LANG: 'C' } },
  { name: 'config get, non-ASCII section name, C.UTF-8', args: ['config', 'get', 'caf\u00e9', 'b'], conf: '[caf\u00e9]\nb=1\n', env: { LANG: 'C.UTF-8' } },
  { name: 'config get, no inline comments', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb = 1 # one\n' },
  { name: 'config get, last duplicate wins, groups merge', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb=1\n[c]\nd=2\n[a]\nb=3\n' },
  { name: 'config get, translated key kept apart', args: ['config', 'get', 'a', 'b[de]'], conf: '[a]\nb=1\nb[de]=2\n' },
  { name: 'config get, key with inner space', args: ['config', 'get', 'a', 'b c'], conf: '[a]\nb c = 5\n' },
  { name: 'config get, CRLF file', args: ['config', 'get', 'a', 'b'], conf: '[a]\r\nb=1\r\n' },
  { name: 'config get, absent key', args: ['config', 'get', 'a', 'x'], conf: '[a]\nb=1\n', expect: { status: 0, stdout: '[a] x UNSET\n' } },
  { name: 'config get, ";" line rejects the file', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb=1\n; comment\n', expect: { status: 69 } },
  { name: 'config get, ";" key is a key for GLib', args: ['config', 'get', 'a', ';c'], conf: '[a]\n;c=1\n' },
  { name: 'config get, garbage line rejects the file', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb=1\njunk\n' },
  { name: 'config get, UTF-8 BOM rejects the file', args: ['config', 'get', 'a', 'b'], conf: '\ufeff[a]\nb=1\n' },
  { name: 'config get, non-UTF-8 encoding rejected', args: ['config', 'get', 'a', 'b'], conf: '[a]\nEncoding=ISO-8859-1\nb=1\n' },
  { name: 'config get, key before any group', args: ['config', 'get', 'a', 'b'], conf: 'x=1\n[a]\nb=1\n', expect: { status: 0 } },
  { name: 'config get, tools.conf is a directory', args: ['config', 'get', 'a', 'b'], files: { 'tools.conf': null }, expect: { status: 69 } },
  { name: 'config get, non-ASCII value, C locale', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb=caf\u00e9 \u20ac\n', env: { LANG: 'C' } },
  { name: 'config get, non-ASCII value, C.UTF-8', args: ['config', 'get', 'a', 'b'], conf: '[a]\nb=caf\u00e9 \u20ac\n', env: { LANG: 'C.UTF-8' } },
  { name: 'config get, invalid UTF-8 value', args: ['config', 'get', 'a', 'b'], conf: Buffer.from('[a]\nb=x\xffy\n', 'latin1'), env: { LANG: 'C.UTF-8' } },
  {
    name: 'config get, from tools-global.conf when enabled',
    args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'],
    conf: '[globalconf]\nenabled=true\n',
    files: { 'tools-global.conf': '[deployPkg]\nenable-custom-scripts=true\n' },
    expect: { status: 0, stdout: '[deployPkg] enable-custom-scripts = true\n' },
  },
  {
    name: 'config get, tools.conf wins over tools-global.conf',
    args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'],
    conf: '[globalconf]\nenabled=1\n[deployPkg]\nenable-custom-scripts=false\n',
    files: { 'tools-global.conf': '[deployPkg]\nenable-custom-scripts=true\n' },
  },
  {
    name: 'config get, tools-global.conf that does not load',
    args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'],
    conf: '[globalconf]\nenabled=true\n',
    files: { 'tools-global.conf': 'x=1\n[deployPkg]\nenable-custom-scripts=true\n' },
  },
  { name: 'help, with a tools.conf GLib rejects (start-up warning)', args: ['help'], conf: '[a\n' },
  {
    name: 'config get, global config not enabled ("True" is no boolean)',
    args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'],
    conf: '[globalconf]\nenabled=True\n',
    files: { 'tools-global.conf': '[deployPkg]\nenable-custom-scripts=true\n' },
  },
  { name: 'config set, no tools.conf: creates it', args: ['config', 'set', 'deployPkg', 'enable-custom-scripts', 'true'], expect: { status: 0, stdout: '', stderr: '' } },
  {
    name: 'config set, new key in a group followed by a blank line (GLib puts it after the blank; we after the last key)',
    args: ['config', 'set', 'logging', 'vmsvc.level', 'debug'],
    conf: '[logging]\nlog=true\n\n[guestinfo]\npoll-interval=30\n',
    confCompare: 'keys',
  },
  { name: 'config set, new group', args: ['config', 'set', 'deployPkg', 'enable-custom-scripts', 'false'], conf: '[logging]\nlog=true\n' },
  { name: 'config set, replace a value', args: ['config', 'set', 'logging', 'log', 'false'], conf: '[logging]\nlog=true\nvmsvc.level=debug\n' },
  { name: 'config set, value needing escapes', args: ['config', 'set', 'a', 'b', ' lead\ttab\nnl\\bs '], conf: '[a]\n' },
  { name: 'config set, empty value', args: ['config', 'set', 'a', 'b', ''] },
  { name: 'config set, file without a final newline', args: ['config', 'set', 'a', 'c', '2'], conf: '[a]\nb=1', confCompare: 'keys' },
  { name: 'config set, CRLF file', args: ['config', 'set', 'a', 'b', '2'], conf: '[a]\r\nb=1\r\n', confCompare: 'keys' },
  { name: 'config set -q, quiet success', args: ['-q', 'config', 'set', 'a', 'b', 'c'] },
  {
    name: 'config set keeps comments (same keys; the reference re-serialises)',
    args: ['config', 'set', 'logging', 'log', 'false'],
    conf: '# comment\n  [logging]  \nlog = true\n\n# trailing\n',
    confCompare: 'keys',
  },
  {
    name: 'config set, tools.conf is a directory (GLib warns at start-up)',
    args: ['config', 'set', 'a', 'b', 'c'],
    files: { 'tools.conf': null },
    expect: { status: 75, stderr: /^\n\*\* \(process:\d+\): WARNING \*\*: [\d:.]+: Cannot load config file: Not a regular file\nError writing config: Is a directory\n$/ },
  },
  { name: 'config set, no /etc/vmware-tools', args: ['config', 'set', 'a', 'b', 'c'], confDir: 'missing', expect: { status: 75, stderr: 'Error writing config: No such file or directory\n' } },
  { name: 'config set, read-only /etc/vmware-tools', args: ['config', 'set', 'a', 'b', 'c'], conf: '[a]\nb=1\n', confDir: 'readonly', expect: { status: 75, stderr: 'Error writing config: Read-only file system\n' } },
  { name: 'config set -q, write error is quiet', args: ['-q', 'config', 'set', 'a', 'b', 'c'], confDir: 'missing', expect: { status: 75, stderr: '' } },
  { name: 'config set, invalid group name', args: ['config', 'set', 'a]b', 'c', 'd'], conf: '[a]\nb=1\n' },
  { name: 'config set, invalid key name', args: ['config', 'set', 'a', 'c=d', 'e'], conf: '[a]\nb=1\n' },
  { name: 'config remove, no tools.conf', args: ['config', 'remove', 'a', 'b'], expect: { status: 69, stdout: '', stderr: '' } },
  { name: 'config remove, a key', args: ['config', 'remove', 'logging', 'log'], conf: '[logging]\nlog=true\nvmsvc.level=debug\n', expect: { status: 0 } },
  { name: 'config remove, the only key of a group', args: ['config', 'remove', 'a', 'b'], conf: '[a]\nb=1\n\n[c]\nd=2\n', confCompare: 'keys' },
  { name: 'config remove, an absent key', args: ['config', 'remove', 'a', 'x'], conf: '[a]\nb=1\n', expect: { status: 0 } },
  { name: 'config remove, rejected file left alone', args: ['config', 'remove', 'a', 'b'], conf: '[a]\nb=1\njunk\n', expect: { status: 69 } },
  {
    name: 'config remove, a key written twice',
    args: ['config', 'remove', 'a', 'b'],
    conf: '[a]\nb=1\nc=2\nb=3\n',
    differs: {
      fields: ['conf'],
      why: 'GLib removes the definition it reads (the last) and writes the older one back; ours removes every one',
      check: (ours, theirs) => {
        assert.equal(theirs.conf, '[a]\nb=1\nc=2\n');
        assert.equal(ours.conf, '[a]\nc=2\n');
      },
    },
  },
  {
    name: 'config set on a file GLib rejects',
    args: ['config', 'set', 'x', 'y', 'z'],
    conf: '[a]\nb=1\njunk\n',
    differs: {
      fields: ['conf', 'stderr'],
      why: 'the reference replaces the whole file by one holding just [x] y; ours edits it in place and adds a warning that it still does not load',
      check: (ours, theirs) => {
        assert.equal(theirs.conf, '[x]\ny=z\n');
        assert.equal(ours.conf, '[a]\nb=1\njunk\n\n[x]\ny=z\n');
        const glib = '\\n\\*\\* \\(process:\\d+\\): WARNING \\*\\*: [\\d:.]+: Cannot load config file: Key file contains line .junk. which is not a key-value pair, group, or comment\\n';
        assert.match(theirs.stderr, new RegExp(`^${glib}$`));
        assert.match(ours.stderr, new RegExp(`^${glib}vmware-toolbox-cmd: warning: /etc/vmware-tools/tools\\.conf: line 3: .*the daemon ignores this file until that is fixed\\n$`));
      },
    },
  },

  // --- script
  { name: 'script without a type', args: ['script'], expect: { status: 64, stderr: `${TOOL}: Missing script type\n${USAGE_HINT('script')}` } },
  { name: 'script with an unknown type', args: ['script', 'bogus'] },
  { name: 'script without a subcommand', args: ['script', 'power'] },
  { name: 'script with an unknown subcommand', args: ['script', 'power', 'bogus'] },
  ...['power', 'resume', 'suspend', 'shutdown'].map((t): Case => ({ name: `script ${t} default`, args: ['script', t, 'default'], expect: { status: 0 } })),
  { name: 'script current, no tools.conf', args: ['script', 'suspend', 'current'] },
  {
    name: 'script current, absolute path',
    args: ['script', 'power', 'current'],
    conf: '[powerops]\npoweron-script=/usr/local/bin/on\n',
  },
  { name: 'script current, relative path', args: ['script', 'resume', 'current'], conf: '[powerops]\nresume-script=my-resume\n' },
  { name: 'script current, quoted path', args: ['script', 'resume', 'current'], conf: '[powerops]\nresume-script="my resume"\n' },
  { name: 'script current, lone quote', args: ['script', 'resume', 'current'], conf: '[powerops]\nresume-script="\n' },
  { name: 'script current, disabled (empty)', args: ['script', 'shutdown', 'current'], conf: '[powerops]\npoweroff-script=\n', expect: { status: 75, stderr: 'No script for operation shutdown.\n' } },
  { name: 'script current -q, disabled', args: ['-q', 'script', 'shutdown', 'current'], conf: '[powerops]\npoweroff-script=\n' },
  {
    name: 'script current, from tools-global.conf',
    args: ['script', 'power', 'current'],
    conf: '[globalconf]\nenabled=true\n',
    files: { 'tools-global.conf': '[powerops]\npoweron-script=/opt/global-on\n' },
  },
  { name: 'script set without a path', args: ['script', 'power', 'set'] },
  { name: 'script set, path does not exist', args: ['script', 'power', 'set', '/nonexistent/script'], expect: { status: 72, stderr: "/nonexistent/script doesn't exist.\n" } },
  { name: 'script set, existing path', args: ['script', 'power', 'set', '/bin/true'], conf: '[powerops]\npoweron-script=\n' },
  { name: 'script enable, no tools.conf', args: ['script', 'suspend', 'enable'] },
  { name: 'script disable', args: ['script', 'resume', 'disable'], conf: '[logging]\nlog=true\n' },
  { name: 'script disable, no /etc/vmware-tools', args: ['script', 'resume', 'disable'], confDir: 'missing' },

  // --- logging
  { name: 'logging without an operation', args: ['logging'] },
  { name: 'logging level without an operation', args: ['logging', 'level'] },
  { name: 'logging level get without a service', args: ['logging', 'level', 'get'] },
  { name: 'logging with an unknown subcommand', args: ['logging', 'bogus', 'get', 'vmsvc'] },
  { name: 'logging level with an unknown operation', args: ['logging', 'level', 'bogus', 'vmsvc'] },
  { name: 'logging level get, default', args: ['logging', 'level', 'get', 'vmsvc'], expect: { status: 0, stdout: 'vmsvc.level = message\n' } },
  { name: 'logging level get, set', args: ['logging', 'level', 'get', 'vmsvc'], conf: '[logging]\nvmsvc.level=debug\n' },
  { name: 'logging level set without a level', args: ['logging', 'level', 'set', 'vmsvc'] },
  { name: 'logging level set, unknown level', args: ['logging', 'level', 'set', 'vmsvc', 'loud'] },
  { name: 'logging level set', args: ['logging', 'level', 'set', 'vmsvc', 'info'], conf: '[logging]\nlog=true\n' },

  // --- stat (backdoor LB calls)
  { name: 'stat without a subcommand', args: ['stat'] },
  { name: 'stat with an unknown subcommand', args: ['stat', 'bogus'] },
  { name: 'stat speed', args: ['stat', 'speed'], expect: { status: 0, stdout: '2400 MHz\n' } },
  { name: 'stat speed -q still prints (g_print)', args: ['stat', 'speed', '-q'] },
  { name: 'stat speed, 3000 MHz', args: ['stat', 'speed'], setup: (sim) => sim.client.setConfig({ mhz: 3000 }) },
  { name: 'stat speed, 0 MHz', args: ['stat', 'speed'], setup: (sim) => sim.client.setConfig({ mhz: 0 }), expect: { status: 75, stderr: 'Unable to get processor speed.\n' } },
  { name: 'stat speed, GETMHZ unavailable', args: ['stat', 'speed'], setup: (sim) => sim.client.disableCommand(1) },
  { name: 'stat hosttime, UTC', args: ['stat', 'hosttime'], env: { TZ: 'UTC' }, clock: true, expect: { status: 0, stdout: /^\d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\n$/ } },
  { name: 'stat hosttime, New York', args: ['stat', 'hosttime'], env: { TZ: 'America/New_York' }, clock: true },
  { name: 'stat hosttime, host clock a year back', args: ['stat', 'hosttime'], env: { TZ: 'UTC' }, clock: true, setup: (sim) => sim.client.setClockOffset({ ms: -365 * 86400 * 1000 }) },
  { name: 'stat hosttime, GETTIME fallback', args: ['stat', 'hosttime'], env: { TZ: 'Europe/Berlin' }, clock: true, setup: (sim) => sim.client.disableCommand(46) },
  {
    name: 'stat hosttime, no host time',
    args: ['stat', 'hosttime'],
    setup: async (sim) => {
      await sim.client.disableCommand(46);
      await sim.client.disableCommand(23);
    },
    expect: { status: 75, stderr: 'Unable to get host time.\n' },
  },
  { name: 'stat hosttime -q, no host time', args: ['-q', 'stat', 'hosttime'], setup: (sim) => sim.client.setConfig({ disabledCommands: [23, 46] }), expect: { status: 75, stderr: '' } },

  // --- stat (guestlib RPCs: sandboxed)
  ...['sessionid', 'balloon', 'swap', 'memlimit', 'memres', 'cpures', 'cpulimit'].map(
    (s): Case => ({ name: `stat ${s}, host without guestlib`, args: ['stat', s], rpc: true, expect: { status: 75, stderr: 'UpdateInfo failed: VMware Guest API is not enabled on the host\n' } }),
  ),
  ...['sessionid', 'balloon', 'swap', 'memlimit', 'memres', 'cpures', 'cpulimit'].map(
    (s): Case => ({ name: `stat ${s}, guestlib v3`, args: ['stat', s], rpc: true, setup: (sim) => sim.client.setCannedReply('guestlib.info.get', GUESTLIB_SAMPLE()), expect: { status: 0 } }),
  ),
  {
    name: 'stat memlimit, statistic marked invalid',
    args: ['stat', 'memlimit'],
    rpc: true,
    setup: (sim) => {
      const stats = sampleV3Stats();
      stats[6] = { valid: false, value: 99 };
      return sim.client.setCannedReply('guestlib.info.get', Buffer.concat([Buffer.from('1 '), guestlibV3(5n, stats)]));
    },
    expect: { status: 75, stderr: 'Failed to get memory limit: This value is not available on this host\n' },
  },
  {
    name: 'stat swap, host sends fewer statistics',
    args: ['stat', 'swap'],
    rpc: true,
    setup: (sim) => sim.client.setCannedReply('guestlib.info.get', Buffer.concat([Buffer.from('1 '), guestlibV3(5n, sampleV3Stats().slice(0, 12))])),
    expect: { status: 75, stderr: 'Failed to get swapped memory: Host does not support this request.\n' },
  },
  {
    name: 'stat sessionid, session id 0',
    args: ['stat', 'sessionid'],
    rpc: true,
    setup: (sim) => sim.client.setCannedReply('guestlib.info.get', Buffer.concat([Buffer.from('1 '), guestlibV3(0n, sampleV3Stats())])),
  },
  {
    name: 'stat balloon, v3 refused otherwise: v2 is tried',
    args: ['stat', 'balloon'],
    rpc: true,
    setup: (sim) => sim.client.setCannedReply('guestlib.info.get', '0 Unsupported version'),
  },
  {
    name: 'stat balloon, wrong version in the reply',
    args: ['stat', 'balloon'],
    rpc: true,
    setup: (sim) => sim.client.setCannedReply('guestlib.info.get', Buffer.concat([Buffer.from('1 '), guestlibV3(5n, sampleV3Stats(), { version: 2 })])),
    expect: { status: 75, stderr: 'UpdateInfo failed: Other error\n' },
  },
  { name: 'stat raw, host without stats', args: ['stat', 'raw'], rpc: true, expect: { status: 75, stderr: 'Failed to get stat: This value is not available on this host\n' } },
  {
    name: 'stat raw json session, reply with a NUL',
    args: ['stat', 'raw', 'json', 'session'],
    rpc: true,
    setup: (sim) => sim.client.setCannedReply('guestlib.stat.get', Buffer.from('1 {"session":1}\0tail')),
  },
  { name: 'stat raw text, plain reply', args: ['stat', 'raw', 'text', 'vscsi', 'scsi0:0'], rpc: true, setup: (sim) => sim.client.setCannedReply('guestlib.stat.get', '1 session\nhost\n') },
  { name: 'stat raw, request over 255 bytes', args: ['stat', 'raw', 'text', 'x'.repeat(250)], rpc: true },

  // --- timesync (GETGUIOPTIONS, vmx.set_option: sandboxed)
  { name: 'timesync without a subcommand', args: ['timesync'] },
  { name: 'timesync with an unknown subcommand', args: ['timesync', 'bogus'] },
  { name: 'timesync status', args: ['timesync', 'status'], expect: { status: 0, stdout: 'Enabled\n' } },
  { name: 'timesync enable, already on: nothing sent', args: ['timesync', 'enable'], rpc: true, expect: { status: 0, stdout: 'Enabled\n' } },
  { name: 'timesync disable, host refuses', args: ['timesync', 'disable'], rpc: true, expect: { status: 1, stdout: '', stderr: 'Error: Unknown command\n' } },
  { name: 'timesync disable', args: ['timesync', 'disable'], rpc: true, setup: (sim) => sim.client.setCannedReply('vmx.set_option', '1 '), expect: { status: 0, stdout: 'Disabled\n' } },
  { name: 'timesync disable -q, host refuses', args: ['-q', 'timesync', 'disable'], rpc: true, expect: { status: 1, stdout: '', stderr: '' } },
  { name: 'timesync disable, no message channel', args: ['timesync', 'disable'], rpc: true, setup: (sim) => sim.client.disableCommand(30) },

  // --- device (LB calls only)
  { name: 'device list', args: ['device', 'list'], expect: { status: 0 } },
  { name: 'device status of an unknown device', args: ['device', 'status', 'ide1:0'], expect: { status: 72 } },
  { name: 'device enable without a name', args: ['device', 'enable'], expect: { status: 64 } },
  { name: 'device with an unknown subcommand', args: ['device', 'bogus'] },

  // --- info
  { name: 'info without an operation', args: ['info'] },
  { name: 'info update without a class', args: ['info', 'update'] },
  { name: 'info with an unknown operation', args: ['info', 'bogus', 'network'] },
  { name: 'info update with an unknown class', args: ['info', 'update', 'disk'] },
  {
    // The sandbox has its own network namespace but the host's /sys: the
    // reference (getifaddrs) sees only lo, ours (/sys/class/net) also the
    // host's links, without addresses. On a guest both see the same NICs;
    // here the rest of the message (header, DNS, routes) must match.
    name: 'info update network (NIC list aside)',
    args: ['info', 'update', 'network'],
    rpc: true,
    setup: (sim) => sim.client.setCannedReply('SetGuestInfo', '1 '),
    wireView: (req) => {
      const head = 'SetGuestInfo  10 ';
      assert.equal(req.subarray(0, head.length).toString('latin1'), head);
      const { nics: _nics, ...rest } = decodeGuestNicProto(req.subarray(head.length));
      return rest;
    },
  },

  // --- commands we do not provide: same argument checks
  { name: 'disk without a subcommand', args: ['disk'] },
  { name: 'gueststore without a subcommand', args: ['gueststore'] },
  { name: 'globalconf without a subcommand', args: ['globalconf'] },
  {
    name: 'disk list',
    args: ['disk', 'list'],
    rpc: true,
    differs: {
      fields: ['status', 'stderr', 'wire', 'calls'],
      why: 'disk shrinking is not provided: ours refuses with EX_UNAVAILABLE and a message',
      check: (ours) => assert.deepEqual([ours.status, ours.stderr, ours.wire], [69, `${TOOL}: disk operations are not supported by vmtoolsd-node\n`, []]),
    },
  },
];

/** What both tools see: the shim, the simulator, the reference's libraries, a fixed locale. */
function toolEnv(sim: SimHandle, which: Which, extra: Record<string, string> = {}): Record<string, string> {
  const base: Record<string, string> = {
    ...sim.env({ preload: true, cpuidPatch: CPUID_PATCH }),
    PATH: `${which === 'ours' ? OURS_DIR : THEIRS_DIR}:${path.dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`,
    LD_LIBRARY_PATH: THEIRS_LIBS,
    LANG: 'C',
    TZ: 'UTC',
    HOME: '/root',
  };
  return { ...base, ...extra };
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function nsInodes(): string {
  return (['mnt', 'net', 'pid'] as const).map((ns) => `${ns}=${fs.statSync(`/proc/self/ns/${ns}`).ino}`).join(',');
}

/**
 * Runs `vmware-toolbox-cmd args` (found on PATH, so argv[0] is the bare name
 * for both tools) in private mount, network and PID namespaces where
 * /etc is an overlay of the real one, /etc/vmware-tools is `confDir` and
 * /var/log is an empty tmpfs.
 * Nothing outside the namespaces changes. The same confinement as the
 * sandbox is applied (capabilities dropped, seccomp against AF_VSOCK, via
 * the sandbox's launcher), though these commands send no RPC.
 */
function runPrivateEtc(
  args: string[],
  env: Record<string, string>,
  confDir: string,
  mode: Case['confDir'],
  uid?: number,
): { status: number | null; stdout: string; stderr: string } {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'toolbox-etc-'));
  try {
    const upper = path.join(work, 'upper');
    const ovl = path.join(work, 'work');
    fs.mkdirSync(upper);
    fs.mkdirSync(ovl);
    const report = path.join(work, 'report');
    const envFile = path.join(work, 'env');
    fs.writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(''));
    const asUser = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
    const setup = [
      'set -eu',
      'mount --make-rprivate /',
      `mount -t overlay overlay -o ${shq(`lowerdir=/etc,upperdir=${upper},workdir=${ovl}`)} /etc`,
      // The reference logs to /var/log/vmware-toolboxcmd-<user>.log: keep it off this machine.
      'mount -t tmpfs -o mode=0755 tmpfs /var/log',
      ...(mode === 'missing' ? [] : ['mkdir /etc/vmware-tools', `mount --bind ${shq(confDir)} /etc/vmware-tools`]),
      ...(mode === 'readonly' ? ['mount -o remount,bind,ro /etc/vmware-tools'] : []),
      'if [ -e /dev/vsock ]; then mount --bind /dev/null /dev/vsock; fi',
      `exec setpriv --bounding-set ${Object.keys(DROPPED_CAPS).map((c) => `-${c}`).join(',')} --inh-caps -all --ambient-caps -all -- \\`,
      `  ${shq(buildLauncher())} --init --report ${shq(report)} --env-file ${shq(envFile)} --outer-ns ${nsInodes()} -- ${[...asUser, TOOL, ...args].map(shq).join(' ')}`,
    ].join('\n');
    const r = spawnSync('unshare', ['--mount', '--net', '--pid', '--fork', '--mount-proc', '--kill-child', '--propagation', 'private', '--', '/bin/sh', '-c', setup], {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
      encoding: 'latin1',
      timeout: 30000,
    });
    const verdict = fs.existsSync(report) ? fs.readFileSync(report, 'utf8') : '';
    assert.match(verdict, /^ok=1$/m, `the launcher did not confirm the confinement: ${verdict}${r.stderr}`);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Runs the tool in test/helpers/sandbox.ts. The sandbox verifies a process
 * that is still running, so a shell waits on a FIFO until the sandbox is
 * confirmed, then execs the tool in place (same process, same confinement).
 */
async function runInSandbox(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'toolbox-sbx-'));
  try {
    const gate = path.join(work, 'gate');
    assert.equal(spawnSync('mkfifo', [gate]).status, 0);
    const child = runSandboxed(['/bin/sh', '-c', 'read _ < "$0"; exec "$@"', gate, TOOL, ...args], { env, stubsLog: path.join(work, 'stubs.log') });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    await child.sandbox.ready; // rejects (and kills it) unless confined
    await fs.promises.writeFile(gate, '\n');
    const { code } = await child.sandbox.exited;
    await closed;
    return { status: code, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('latin1') };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The same reading of two tools.conf texts, as GLib would see them (groups, keys, raw values). */
function keyView(text: string | null): unknown {
  if (text === null) return null;
  const p = parseKeyFile(text, { keepTranslations: true, semicolonComments: false });
  if (!p.ok) return { error: p.error.code };
  return [...p.file.groups].map(([g, keys]) => [g, [...keys]]);
}

describeUnderShim(__filename, '87 vmware-toolbox-cmd differential', function () {
  this.timeout(120000);
  let sim: SimHandle;
  let caseDir: string;

  before(async () => {
    assert.ok(fs.existsSync(path.join(THEIRS_DIR, TOOL)), `Debian's ${TOOL} is not unpacked in ${THEIRS_DIR}: run scripts/setup.sh`);
    sim = await startSim();
  });
  after(async () => sim?.stop());

  async function prepare(c: Case): Promise<void> {
    await sim.client.setConfig({ hb: true, refuseCookieOpen: false, mhz: 2400, clockOffsetUs: 0, disabledCommands: [] });
    for (const name of ['guestlib.info.get', 'guestlib.stat.get', 'vmx.set_option', 'SetGuestInfo']) await sim.client.setCannedReply(name, null);
    await c.setup?.(sim);
    caseDir = fs.mkdtempSync(path.join(os.tmpdir(), 'toolbox-conf-'));
    if (c.conf !== undefined) fs.writeFileSync(path.join(caseDir, 'tools.conf'), c.conf);
    for (const [name, content] of Object.entries(c.files ?? {})) {
      if (content === null) fs.mkdirSync(path.join(caseDir, name));
      else fs.writeFileSync(path.join(caseDir, name), content);
    }
    await sim.client.clearRpcLog();
    await sim.client.resetCounters();
  }

  async function runOnce(which: Which, c: Case): Promise<ToolRun> {
    await prepare(c);
    try {
      const env = toolEnv(sim, which, c.env);
      const r = c.rpc ? await runInSandbox(c.args, env) : runPrivateEtc(c.args, env, caseDir, c.confDir);
      const wire = (await sim.client.getRpcLog()).filter((e) => e.proto === 'RPCI' && e.request !== null).map((e) => e.request!.toString('base64'));
      const k = await sim.client.getCounters();
      const confPath = path.join(caseDir, 'tools.conf');
      const conf = fs.existsSync(confPath) && fs.statSync(confPath).isFile() ? fs.readFileSync(confPath, 'latin1') : null;
      return { ...r, wire, calls: { commands: k.commands, message: k.message, hbOut: k.hbOut, hbIn: k.hbIn }, conf };
    } finally {
      fs.rmSync(caseDir, { recursive: true, force: true });
    }
  }

  function comparable(r: ToolRun, c: Case): Partial<ToolRun> {
    // GLib warnings carry the pid and the time of day.
    const wire = c.wireView ? r.wire.map((w) => c.wireView!(Buffer.from(w, 'base64'))) : r.wire;
    const out: Partial<ToolRun> = { ...r, wire: wire as string[], stderr: r.stderr.replace(/^\*\* \(process:\d+\): WARNING \*\*: \d\d:\d\d:\d\d\.\d{3}: /gm, '** (process:PID): WARNING **: TIME: ') };
    if (c.confCompare === 'none' || c.confCompare === 'keys') delete out.conf;
    for (const f of c.differs?.fields ?? []) delete out[f];
    return out;
  }

  for (const c of CASES) {
    it(`${c.name}: ${c.args.join(' ') || '(no arguments)'}`, async () => {
      let theirs = await runOnce('theirs', c);
      let ours = await runOnce('ours', c);
      // The host clock may tick between the two runs: once more, the other way round.
      if (c.clock && ours.stdout !== theirs.stdout) {
        ours = await runOnce('ours', c);
        theirs = await runOnce('theirs', c);
      }
      assert.deepEqual(comparable(ours, c), comparable(theirs, c));
      c.differs?.check?.(ours, theirs);
      if (c.confCompare === 'keys') assert.deepEqual(keyView(ours.conf), keyView(theirs.conf));
      if (c.expect) {
        assert.equal(theirs.status, c.expect.status);
        for (const f of ['stdout', 'stderr'] as const) {
          const e: string | RegExp | undefined = c.expect[f];
          if (typeof e === 'string') assert.equal(theirs[f], e);
          else if (e) assert.match(theirs[f], e);
        }
      }
    });
  }

  it('-v: the same format; the version is ours (deliberate: we are not open-vm-tools 12.2)', async () => {
    const c: Case = { name: '-v', args: ['-v'] };
    const theirs = await runOnce('theirs', c);
    const ours = await runOnce('ours', c);
    assert.deepEqual({ ...theirs, stdout: '' }, { ...ours, stdout: '' });
    assert.equal(theirs.stdout, '12.2.0.41219 (build-21223074)\n');
    assert.match(ours.stdout, /^\d+\.\d+\.\d+\.\d+ \(build-\d+\)\n$/);
  });

  it('as an ordinary user: root-only commands refuse with EX_NOPERM, the others run', async () => {
    // A simulator whose trap socket the user may connect to.
    const open = fs.mkdtempSync(path.join(os.tmpdir(), 'toolbox-user-'));
    fs.chmodSync(open, 0o755);
    const userSim = await startSim({ trapSocket: path.join(open, 'trap.sock') });
    try {
      fs.chmodSync(userSim.trapSocket, 0o666);
      const conf = fs.mkdtempSync(path.join(os.tmpdir(), 'toolbox-conf-'));
      fs.chmodSync(conf, 0o755);
      try {
        for (const args of [['config', 'get', 'deployPkg', 'enable-custom-scripts'], ['script'], ['logging', 'level', 'get', 'vmsvc'], ['stat', 'speed'], ['timesync', 'status'], ['help', 'config']]) {
          const run = (which: Which) => runPrivateEtc(args, toolEnv(userSim, which), conf, 'dir', 65534);
          const theirs = run('theirs');
          assert.deepEqual(run('ours'), theirs, args.join(' '));
          if (args[0] === 'config' || args[0] === 'script' || args[0] === 'logging') {
            assert.deepEqual(theirs, { status: 77, stdout: '', stderr: `${TOOL}: You must be root to perform ${args[0]} operations.\n` });
          } else {
            assert.equal(theirs.status, 0, args.join(' '));
          }
        }
        // A configuration directory the user cannot enter: GLib's stat warning, then the command.
        fs.chmodSync(conf, 0o700);
        const run = (which: Which) => runPrivateEtc(['stat', 'speed'], toolEnv(userSim, which), conf, 'dir', 65534);
        const theirs = run('theirs');
        const norm = (r: { status: number | null; stdout: string; stderr: string }) => ({ ...r, stderr: r.stderr.replace(/\(process:\d+\): WARNING \*\*: [\d:.]+:/, 'WARNING:') });
        assert.deepEqual(norm(run('ours')), norm(theirs));
        assert.deepEqual(norm(theirs), { status: 0, stdout: '2400 MHz\n', stderr: '\n** WARNING: Failed to stat conf file: Permission denied\n\n' });
      } finally {
        fs.rmSync(conf, { recursive: true, force: true });
      }
    } finally {
      await userSim.stop();
      fs.rmSync(open, { recursive: true, force: true });
    }
  });

  it('not on VMware (nobody answers the backdoor): the same message and exit code', async () => {
    const c: Case = { name: 'not VMware', args: ['config', 'get', 'deployPkg', 'enable-custom-scripts'] };
    const run = async (which: Which) => {
      await prepare(c);
      try {
        const env = { ...toolEnv(sim, which), VMTOOLSD_SIM_SOCKET: path.join(sim.dir, 'nobody-listens.sock') };
        return runPrivateEtc(c.args, env, caseDir, 'dir');
      } finally {
        fs.rmSync(caseDir, { recursive: true, force: true });
      }
    };
    const theirs = await run('theirs');
    assert.deepEqual(await run('ours'), theirs);
    assert.deepEqual(theirs, { status: 1, stdout: '', stderr: `${TOOL} must be run inside a virtual machine.\n` });
  });
});
