/**
 * deployPkg building blocks (customization.md): the package header, the
 * command tokenizer, the archive readers (checked against cabextract and
 * gcab when installed), the extraction guard, cust.cfg, the cloud-init
 * decision inputs, SHA-512 crypt, and path resolution inside a target root.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ArchiveError, readCab, readTarGz, readZip } from '../src/services/deploypkg/archive';
import { cloudInitStillRunning, parseCloudInitVersion, rawDataSupported, vmwareCustomizationEnabled } from '../src/services/deploypkg/cloudinit';
import { effectiveTimeoutS, substituteDir, tokenize } from '../src/services/deploypkg/command';
import { CustCfgError, parseCustCfg } from '../src/services/deploypkg/custcfg';
import { checkEntries, extractEntries, UnsafeEntryError } from '../src/services/deploypkg/extract';
import { buildHeader, PackageFormatError, parseHeader } from '../src/services/deploypkg/header';
import * as netconf from '../src/services/deploypkg/netconf';
import { TargetRoot } from '../src/services/deploypkg/rootfs';
import { sha512Crypt, updateShadow } from '../src/services/deploypkg/shadow';
import { CUST_STATIC, makeCab, makePackage, makeTar, makeTarGz, makeZip, MAC1, PERL_COMMAND } from './helpers/deploypkg';

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'dp-unit-'));

describe('deployPkg: package header (§4.2)', () => {
  const pkg = makePackage({ files: [{ name: 'cust.cfg', data: 'x' }], flags: 1, timeout: 250 });
  it('parses every field of a vCenter-style header', () => {
    const h = parseHeader(pkg.subarray(0, 512), pkg.length);
    assert.equal(h.payloadType, 'cab');
    assert.equal(h.flags, 1);
    assert.equal(h.processTimeout, 250);
    assert.equal(h.payloadOffset, 512);
    assert.equal(h.pkgLength, pkg.length);
    assert.equal(h.command, PERL_COMMAND);
  });
  const bad: Array<[string, (b: Buffer) => void, RegExp, number?]> = [
    ['bad magic', (b) => b.write('VMWAREDEPLOYPKG-', 0), /signature/],
    ['version 2', (b) => (b[16] = 2), /version/],
    ['payload type 7', (b) => (b[18] = 7), /payload type/],
    ['unknown flags', (b) => (b[19] = 0x80), /flags/],
    ['huge declared length', (b) => b.writeBigUInt64LE(0xffffffffffffffffn, 24), /out of range/],
    ['package length beyond the file', (b) => b.writeBigUInt64LE(BigInt(pkg.length + 1), 24), /exceeds the file size/],
    ['payload beyond the package', (b) => b.writeBigUInt64LE(BigInt(pkg.length), 40), /exceeds the package length/],
    ['payload inside the header', (b) => b.writeBigUInt64LE(100n, 32), /inside the header/],
    ['command without NUL', (b) => b.fill(0x41, 56, 512), /NUL-terminated/],
    ['empty command', (b) => b.fill(0, 56, 512), /empty command/],
  ];
  for (const [name, mutate, re] of bad) {
    it(`refuses: ${name}`, () => {
      const b = Buffer.from(pkg);
      mutate(b);
      assert.throws(() => parseHeader(b.subarray(0, 512), b.length), (e: unknown) => e instanceof PackageFormatError && re.test(e.message));
    });
  }
  it('refuses a truncated file', () => {
    assert.throws(() => parseHeader(pkg.subarray(0, 300), 300), /truncated/);
    assert.throws(() => parseHeader(pkg.subarray(0, 512), 511), /truncated/);
  });
  it('buildHeader round-trips', () => {
    const b = buildHeader({ payloadType: 'tgz', flags: 6, processTimeout: 9, pkgLength: 600, payloadOffset: 512, payloadLength: 88, command: '/bin/true' });
    assert.deepEqual(parseHeader(b, 600), { majorVersion: 1, minorVersion: 0, payloadType: 'tgz', flags: 6, processTimeout: 9, pkgLength: 600, payloadOffset: 512, payloadLength: 88, command: '/bin/true' });
  });
});

describe('deployPkg: command line (§4.4, §7)', () => {
  it('substitutes the placeholder, else the legacy directory', () => {
    assert.equal(substituteDir('/usr/bin/perl @@IMC_TMP_PATH_VAR@@/a @@IMC_TMP_PATH_VAR@@/b', '/run/x'), '/usr/bin/perl /run/x/a /run/x/b');
    assert.equal(substituteDir(PERL_COMMAND, '/run/x'), '/usr/bin/perl /run/x/scripts/Customize.pl /run/x/cust.cfg');
    assert.equal(substituteDir('/bin/a @@IMC_TMP_PATH_VAR@@ /tmp/.vmware/linux/deploy', '/d'), '/bin/a /d /tmp/.vmware/linux/deploy');
  });
  it('tokenizes exactly as GetFormattedCommandLine', () => {
    assert.deepEqual(tokenize('/bin/a b c'), ['/bin/a', 'b', 'c']);
    assert.deepEqual(tokenize('/bin/a  b'), ['/bin/a', '', 'b']);
    assert.deepEqual(tokenize('/bin/a "x y" z'), ['/bin/a', '"x y"', 'z']);
    assert.deepEqual(tokenize('/bin/a x\\ y'), ['/bin/a', 'x\\ y']);
    assert.deepEqual(tokenize('/bin/a\t'), ['/bin/a', '']);
    assert.deepEqual(tokenize('/bin/a "open'), ['/bin/a', '"open']);
    assert.deepEqual(tokenize('/bin/a \\'), ['/bin/a', '\\']);
  });
  it('timeout: tools.conf wins, else the header, else 100 s', () => {
    assert.equal(effectiveTimeoutS(undefined, 0), 100);
    assert.equal(effectiveTimeoutS(undefined, 30), 30);
    assert.equal(effectiveTimeoutS(600, 30), 600);
  });
});

describe('deployPkg: archives (§4.3)', () => {
  const files = [
    { name: 'cust.cfg', data: CUST_STATIC },
    { name: 'scripts/Customize.pl', data: 'print "x";\n'.repeat(10000) },
    { name: 'nics.txt', data: '1,2\n' },
  ];
  const same = (entries: Array<{ name: string; data?: Buffer }>): void =>
    assert.deepEqual(entries.filter((e) => e.data).map((e) => [e.name, e.data!.toString()]), files.map((f) => [f.name, f.data]));
  it('CAB, uncompressed and MSZIP (multi-block)', () => {
    same(readCab(makeCab(files, 'none')));
    same(readCab(makeCab(files, 'mszip')));
  });
  it('tar.gz and zip', () => {
    same(readTarGz(makeTarGz(files)));
    same(readZip(makeZip(files)));
  });
  it('our cabinets pass cabextract -t, and we read gcab -z cabinets', function () {
    if (!has('cabextract') || !has('gcab')) this.skip();
    const d = tmp();
    fs.writeFileSync(path.join(d, 'a.cab'), makeCab(files));
    const t = spawnSync('cabextract', ['-t', path.join(d, 'a.cab')], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stdout + t.stderr);
    fs.mkdirSync(path.join(d, 'src/scripts'), { recursive: true });
    const big = Buffer.alloc(200000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    fs.writeFileSync(path.join(d, 'src/scripts/big'), big);
    fs.writeFileSync(path.join(d, 'src/cust.cfg'), CUST_STATIC);
    assert.equal(spawnSync('gcab', ['-c', '-z', '../g.cab', 'cust.cfg', 'scripts/big'], { cwd: path.join(d, 'src') }).status, 0);
    const got = readCab(fs.readFileSync(path.join(d, 'g.cab')));
    assert.deepEqual(got.map((e) => e.name), ['cust.cfg', 'scripts/big']);
    assert.ok(got[1].data!.equals(big));
    fs.rmSync(d, { recursive: true, force: true });
  });
  it('size bombs fail before memory fills', () => {
    const zeros = Buffer.alloc(40 * 1024 * 1024);
    const limits = { maxTotalBytes: 1024 * 1024, maxEntries: 100 };
    assert.throws(() => readTarGz(zlib.gzipSync(makeTar([{ name: 'z', data: zeros }])), limits), ArchiveError);
    assert.throws(() => readZip(makeZip([{ name: 'z', data: zeros }]), limits), ArchiveError);
    assert.throws(() => readCab(makeCab([{ name: 'z', data: zeros.subarray(0, 4 * 1024 * 1024) }]), limits), ArchiveError);
    assert.throws(() => readTarGz(makeTarGz(Array.from({ length: 101 }, (_, i) => ({ name: `f${i}`, data: '' }))), limits), /entries/);
  });
  it('refuses truncated and foreign payloads', () => {
    const cab = makeCab(files);
    assert.throws(() => readCab(cab.subarray(0, cab.length - 10)), ArchiveError);
    assert.throws(() => readCab(Buffer.alloc(64, 0x50)), /MSCF/);
    assert.throws(() => readZip(Buffer.from('nothing here at all, really nothing')), /zip/);
    assert.throws(() => readTarGz(Buffer.from('not gzip')), /decompression/);
  });
});

describe('deployPkg: extraction guard (§4.3 Security)', () => {
  const hostile: Array<[string, Parameters<typeof checkEntries>[0]]> = [
    ['absolute name', [{ name: '/etc/passwd', kind: 'file', data: Buffer.from('x') }]],
    ['.. traversal', [{ name: 'scripts/../../etc/x', kind: 'file', data: Buffer.from('x') }]],
    ['bare ..', [{ name: '..', kind: 'dir' }]],
    ['symlink out', [{ name: 'l', kind: 'symlink', linkTarget: '/etc' }]],
    ['symlink in', [{ name: 'l', kind: 'symlink', linkTarget: 'cust.cfg' }]],
    ['hardlink out', [{ name: 'h', kind: 'hardlink', linkTarget: '/etc/shadow' }]],
    ['device', [{ name: 'd', kind: 'device' }]],
    ['fifo', [{ name: 'f', kind: 'fifo' }]],
    ['NUL in name', [{ name: 'a\0b', kind: 'file', data: Buffer.from('') }]],
    ['drive letter', [{ name: 'C:/x', kind: 'file', data: Buffer.from('') }]],
  ];
  for (const [name, entries] of hostile) {
    it(`refuses ${name} and writes nothing`, () => {
      const d = tmp();
      const ok = { name: 'cust.cfg', kind: 'file' as const, data: Buffer.from('x') };
      assert.throws(() => extractEntries(d, [ok, ...entries]), UnsafeEntryError);
      assert.deepEqual(fs.readdirSync(d), []);
      fs.rmSync(d, { recursive: true });
    });
  }
  it('writes files 0640 in directories 0750; a repeated name replaces the earlier one', () => {
    const d = tmp();
    extractEntries(d, [
      { name: './scripts/a.pl', kind: 'file', data: Buffer.from('1') },
      { name: 'scripts/a.pl', kind: 'file', data: Buffer.from('2') },
    ]);
    assert.equal(fs.readFileSync(path.join(d, 'scripts/a.pl'), 'utf8'), '2');
    assert.equal(fs.statSync(path.join(d, 'scripts/a.pl')).mode & 0o777, 0o640);
    assert.equal(fs.statSync(path.join(d, 'scripts')).mode & 0o777, 0o750);
    fs.rmSync(d, { recursive: true });
  });
  it('tar and zip readers report links and devices as such (so the guard sees them)', () => {
    const t = readTarGz(makeTarGz([{ name: 'l', kind: 'symlink', linkTarget: '/etc' }, { name: 'h', kind: 'hardlink', linkTarget: '/etc/shadow' }, { name: 'c', kind: 'chardev' }]));
    assert.deepEqual(t.map((e) => e.kind), ['symlink', 'hardlink', 'device']);
    const z = readZip(makeZip([{ name: 'l', kind: 'symlink', linkTarget: '../../etc' }, { name: 'c', kind: 'chardev' }]));
    assert.deepEqual(z.map((e) => [e.kind, e.linkTarget]), [['symlink', '../../etc'], ['device', undefined]]);
  });
});

describe('deployPkg: cust.cfg (§5)', () => {
  it('parses the static fixture', () => {
    const c = parseCustCfg(CUST_STATIC);
    assert.equal(c.hostname, 'web01');
    assert.equal(c.domain, 'example.com');
    assert.equal(c.nics.length, 2);
    assert.deepEqual(
      { mac: c.nics[0].mac, ipv4: c.nics[0].ipv4, a: c.nics[0].address, gw: c.nics[0].gateways, v6: c.nics[0].ipv6, g6: c.nics[0].ipv6Gateways },
      { mac: MAC1, ipv4: 'static', a: '10.20.30.40', gw: ['10.20.30.1'], v6: [{ address: 'fd00::40', prefix: 64 }], g6: ['fd00::1'] },
    );
    assert.equal(c.nics[1].ipv4, 'dhcp');
    assert.deepEqual(c.nameservers, ['10.20.30.2', '10.20.30.3']);
    assert.deepEqual(c.searchDomains, ['example.com', 'corp.example.com']);
    assert.equal(c.timezone, 'Europe/Berlin');
    assert.equal(c.rootPassword, 'VMware1!');
  });
  const bad: Array<[string, string]> = [
    ['key outside a section', 'A=1\n'],
    ['bad section', '[NETWORK\n'],
    ['host name injection', '[NETWORK]\nHOSTNAME = a\\nb;rm -rf /\n'],
    ['newline-free but hostile hostname', '[NETWORK]\nHOSTNAME = $(reboot)\n'],
    ['time zone traversal', '[DATETIME]\nTIMEZONE = ../../etc/shadow\n'],
    ['NIC without MAC', '[NIC-CONFIG]\nNICS = NIC1\n[NIC1]\nBOOTPROTO = dhcp\n'],
    ['bad netmask', `[NIC-CONFIG]\nNICS = NIC1\n[NIC1]\nMACADDR = ${MAC1}\nBOOTPROTO = static\nIPADDR = 1.2.3.4\nNETMASK = 255.0.255.0\n`],
    ['script path', '[CUSTOM-SCRIPT]\nSCRIPT-NAME = ../x\n'],
  ];
  for (const [name, text] of bad) it(`refuses: ${name}`, () => assert.throws(() => parseCustCfg(text), CustCfgError));
});

describe('deployPkg: cloud-init inputs (§4.5)', () => {
  it('parses versions as the reference does', () => {
    assert.deepEqual(parseCloudInitVersion('/usr/bin/cloud-init 20.3-2-g371b392c-0ubuntu1'), { major: 20, minor: 3 });
    assert.deepEqual(parseCloudInitVersion('cloud-init 0.7.9'), { major: 0, minor: 7 });
    assert.deepEqual(parseCloudInitVersion('23.1.2'), { major: 23, minor: 1 });
    assert.deepEqual(parseCloudInitVersion('garbage'), { major: 0, minor: 0 });
    assert.equal(rawDataSupported({ major: 21, minor: 1 }), true);
    assert.equal(rawDataSupported({ major: 21, minor: 0 }), false);
  });
  it('disable_vmware_customization: descending .cfg order, last matching line, explicit false only', () => {
    const d = tmp();
    fs.mkdirSync(path.join(d, 'cloud.cfg.d'));
    assert.equal(vmwareCustomizationEnabled(d), false);
    fs.writeFileSync(path.join(d, 'cloud.cfg'), 'disable_vmware_customization: false\n');
    assert.equal(vmwareCustomizationEnabled(d), true);
    fs.writeFileSync(path.join(d, 'cloud.cfg.d', '10-a.cfg'), 'disable_vmware_customization: true\n');
    assert.equal(vmwareCustomizationEnabled(d), false);
    fs.writeFileSync(path.join(d, 'cloud.cfg.d', '90-b.cfg'), 'disable_vmware_customization: true\n disable_vmware_customization : false   # ok\n');
    assert.equal(vmwareCustomizationEnabled(d), true);
    fs.writeFileSync(path.join(d, 'cloud.cfg.d', '99-c.txt'), 'disable_vmware_customization: true\n');
    assert.equal(vmwareCustomizationEnabled(d), true);
    fs.writeFileSync(path.join(d, 'cloud.cfg.d', '95-d.cfg'), 'disable_vmware_customization: false # no space rule\n#disable_vmware_customization: true\n');
    assert.equal(vmwareCustomizationEnabled(d), true);
    fs.rmSync(d, { recursive: true });
  });
  it('cloud-init status: running until none of the words, or exit 1', () => {
    assert.equal(cloudInitStillRunning({ code: 0, stdout: 'status: running\n' }), true);
    assert.equal(cloudInitStillRunning({ code: 0, stdout: 'status: not run\n' }), true);
    assert.equal(cloudInitStillRunning({ code: 0, stdout: 'status: done\n' }), false);
    assert.equal(cloudInitStillRunning({ code: 1, stdout: 'status: running\n' }), false);
  });
});

describe('deployPkg: root password and target root', () => {
  it('SHA-512 crypt matches openssl passwd -6', function () {
    if (!has('openssl')) this.skip();
    for (const [pw, salt] of [['hello', 'saltsalt'], ['VMware1!', 'abcdefghijklmnop'], ['x'.repeat(100), 'QW./12']]) {
      const want = spawnSync('openssl', ['passwd', '-6', '-salt', salt, pw], { encoding: 'utf8' }).stdout.trim();
      assert.equal(sha512Crypt(pw, salt), want);
    }
  });
  it('updates root and expires uid-0 accounts', () => {
    const s = updateShadow('root:*:1:0:99999:7:::\ntoor:!:1:0:::::\nuser:x:5:0:::::\n', { hash: '$6$a$b', expire: true, uidZero: new Set(['root', 'toor']) });
    assert.deepEqual(s.split('\n').map((l) => l.split(':').slice(0, 3).join(':')), ['root:$6$a$b:0', 'toor:!:0', 'user:x:5', '']);
  });
  it('resolves absolute symlinks inside the root, never above it', () => {
    const r = tmp();
    fs.mkdirSync(path.join(r, 'run'));
    fs.mkdirSync(path.join(r, 'var'));
    fs.mkdirSync(path.join(r, 'etc'));
    fs.symlinkSync('/run', path.join(r, 'var/run'));
    fs.symlinkSync('../../../../../../etc/passwd', path.join(r, 'etc/evil'));
    fs.symlinkSync('/usr/share/zoneinfo/UTC', path.join(r, 'etc/localtime'));
    const t = new TargetRoot(r);
    assert.equal(t.resolve('/var/run/vmware-imc'), path.join(r, 'run/vmware-imc'));
    assert.equal(t.resolve('/etc/evil'), path.join(r, 'etc/passwd'));
    assert.equal(t.resolve('/etc/localtime'), path.join(r, 'usr/share/zoneinfo/UTC'));
    assert.equal(t.resolve('/etc/localtime', false), path.join(r, 'etc/localtime'));
    t.write('/etc/evil', 'contained\n');
    assert.equal(fs.readFileSync(path.join(r, 'etc/passwd'), 'utf8'), 'contained\n');
    fs.rmSync(r, { recursive: true });
  });
});

describe('deployPkg: several gateways (cust.cfg GATEWAY list)', () => {
  const n = netconf;
  const c = parseCustCfg(`[NIC-CONFIG]\nNICS = NIC1\n[NIC1]\nMACADDR = ${MAC1}\nBOOTPROTO = static\nIPADDR = 10.0.0.5\nNETMASK = 255.255.255.0\nGATEWAY = 10.0.0.1, 10.0.0.2\n`);
  const b = [{ nic: c.nics[0], device: 'ens192' }];
  it('first = default route, the others = default routes with metric 100+', () => {
    assert.match(n.networkdFiles(c, b)[0].content, /Gateway=10\.0\.0\.1\n\n\[Route\]\nGateway=10\.0\.0\.2\nMetric=100\n/);
    assert.match(n.networkManagerFiles(c, b)[0].content, /address1=10\.0\.0\.5\/24,10\.0\.0\.1\nroute1=0\.0\.0\.0\/0,10\.0\.0\.2,100\n/);
    const ifcfg = n.ifcfgFiles(c, b);
    assert.deepEqual(ifcfg.map((f) => f.path), ['/etc/sysconfig/network-scripts/ifcfg-ens192', '/etc/sysconfig/network-scripts/route-ens192']);
    assert.match(ifcfg[1].content, /^default via 10\.0\.0\.2 dev ens192 metric 100$/m);
    assert.match(n.ifupdownFiles(c, b, undefined)[0].content, /gateway 10\.0\.0\.1\n {4}up ip route add default via 10\.0\.0\.2 dev ens192 metric 100\n/);
  });
});
