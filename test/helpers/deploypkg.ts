/**
 * Builds deployment packages the way vCenter does (customization.md §4.2):
 * the 512-byte header followed by a cabinet (or zip / tar.gz) holding
 * cust.cfg, nics.txt, scripts/…; plus cust.cfg fixtures and target roots
 * shaped like RHEL-, Debian-, networkd- and NetworkManager-based systems.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { buildHeader, HEADER_SIZE, PayloadType } from '../../src/services/deploypkg/header';

export interface PkgFile {
  name: string;
  data?: Buffer | string;
  /** tar/zip only: hostile entry kinds. */
  kind?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev' | 'fifo';
  linkTarget?: string;
}

const buf = (d: Buffer | string | undefined): Buffer => (typeof d === 'string' ? Buffer.from(d, 'utf8') : d ?? Buffer.alloc(0));

/** A single-folder cabinet, uncompressed or MSZIP (32 KiB blocks, window carried across blocks). */
export function makeCab(files: PkgFile[], compress: 'none' | 'mszip' = 'mszip'): Buffer {
  const contents = Buffer.concat(files.map((f) => buf(f.data)));
  const blocks: Array<{ data: Buffer; ulen: number }> = [];
  let hist = Buffer.alloc(0);
  for (let off = 0; off < contents.length || (off === 0 && blocks.length === 0); off += 32768) {
    const chunk = contents.subarray(off, off + 32768);
    if (compress === 'none') blocks.push({ data: chunk, ulen: chunk.length });
    else {
      const opts: zlib.ZlibOptions = hist.length ? { dictionary: hist } : {};
      blocks.push({ data: Buffer.concat([Buffer.from('CK'), zlib.deflateRawSync(chunk, opts)]), ulen: chunk.length });
      hist = Buffer.concat([hist, chunk]).subarray(-32768);
    }
    if (contents.length === 0) break;
  }
  const names = files.map((f) => Buffer.from(`${f.name.replace(/\//g, '\\')}\0`, 'utf8'));
  const hdrLen = 36;
  const folderLen = 8;
  const filesOff = hdrLen + folderLen;
  const filesLen = names.reduce((a, n) => a + 16 + n.length, 0);
  const dataOff = filesOff + filesLen;
  const dataLen = blocks.reduce((a, b) => a + 8 + b.data.length, 0);
  const out = Buffer.alloc(dataOff + dataLen);
  out.write('MSCF', 0, 'latin1');
  out.writeUInt32LE(out.length, 8);
  out.writeUInt32LE(filesOff, 16);
  out[24] = 3;
  out[25] = 1;
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(files.length, 28);
  out.writeUInt32LE(dataOff, hdrLen);
  out.writeUInt16LE(blocks.length, hdrLen + 4);
  out.writeUInt16LE(compress === 'none' ? 0 : 1, hdrLen + 6);
  let p = filesOff;
  let uoff = 0;
  files.forEach((f, i) => {
    const len = buf(f.data).length;
    out.writeUInt32LE(len, p);
    out.writeUInt32LE(uoff, p + 4);
    out.writeUInt16LE(0, p + 8);
    out.writeUInt16LE(0x5a21, p + 10); // date
    out.writeUInt16LE(0x6000, p + 12); // time
    out.writeUInt16LE(0x80 | 0x20, p + 14); // UTF-8 name, archive bit
    names[i].copy(out, p + 16);
    p += 16 + names[i].length;
    uoff += len;
  });
  for (const b of blocks) {
    out.writeUInt32LE(0, p); // checksum 0 = not computed
    out.writeUInt16LE(b.data.length, p + 4);
    out.writeUInt16LE(b.ulen, p + 6);
    b.data.copy(out, p + 8);
    p += 8 + b.data.length;
  }
  return out;
}

function tarHeader(name: string, size: number, type: string, mode: number, link = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name.slice(0, 99), 0, 'utf8');
  h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(link.slice(0, 99), 157, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

export function makeTar(files: PkgFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const kind = f.kind ?? 'file';
    const type = { file: '0', dir: '5', symlink: '2', hardlink: '1', chardev: '3', fifo: '6' }[kind];
    const data = kind === 'file' ? buf(f.data) : Buffer.alloc(0);
    parts.push(tarHeader(f.name, data.length, type, kind === 'dir' ? 0o755 : 0o644, f.linkTarget));
    parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const makeTarGz = (files: PkgFile[]): Buffer => zlib.gzipSync(makeTar(files));

/** A zip with deflated members; symlinks carry S_IFLNK in the Unix external attributes. */
export function makeZip(files: PkgFile[]): Buffer {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let off = 0;
  for (const f of files) {
    const kind = f.kind ?? 'file';
    const raw = kind === 'symlink' ? Buffer.from(f.linkTarget ?? '') : buf(f.data);
    const comp = zlib.deflateRawSync(raw);
    const name = Buffer.from(f.name, 'utf8');
    const mode = kind === 'symlink' ? 0o120777 : kind === 'chardev' ? 0o020644 : kind === 'dir' ? 0o040755 : 0o100644;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x800, 6);
    lh.writeUInt16LE(8, 8);
    lh.writeUInt32LE(zlib.crc32 ? zlib.crc32(raw) : 0, 14);
    lh.writeUInt32LE(comp.length, 18);
    lh.writeUInt32LE(raw.length, 22);
    lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE((3 << 8) | 20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x800, 8);
    ch.writeUInt16LE(8, 10);
    ch.writeUInt32LE(lh.readUInt32LE(14), 16);
    ch.writeUInt32LE(comp.length, 20);
    ch.writeUInt32LE(raw.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE((mode << 16) >>> 0, 38);
    ch.writeUInt32LE(off, 42);
    local.push(lh, name, comp);
    central.push(ch, name);
    off += 30 + name.length + comp.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(off, 16);
  return Buffer.concat([...local, cd, end]);
}

/** vCenter's usual Linux command (customization.md §4.4). */
export const PERL_COMMAND = '/usr/bin/perl /tmp/.vmware/linux/deploy/scripts/Customize.pl /tmp/.vmware/linux/deploy/cust.cfg';

export interface PackageOptions {
  type?: PayloadType;
  files?: PkgFile[];
  /** A ready payload (overrides files). */
  payload?: Buffer;
  command?: string;
  flags?: number;
  timeout?: number;
  /** Header field overrides (hostile packages). */
  pkgLength?: number;
  payloadOffset?: number;
  payloadLength?: number;
}

export function makePackage(o: PackageOptions): Buffer {
  const type = o.type ?? 'cab';
  const payload = o.payload ?? (type === 'cab' ? makeCab(o.files ?? []) : type === 'zip' ? makeZip(o.files ?? []) : makeTarGz(o.files ?? []));
  const header = buildHeader({
    payloadType: type, flags: o.flags ?? 0, processTimeout: o.timeout ?? 0,
    pkgLength: o.pkgLength ?? HEADER_SIZE + payload.length, payloadOffset: o.payloadOffset ?? HEADER_SIZE,
    payloadLength: o.payloadLength ?? payload.length, command: o.command ?? PERL_COMMAND,
  });
  return Buffer.concat([header, payload]);
}

// --- cust.cfg fixtures --------------------------------------------------------

export const MAC1 = '00:50:56:aa:bb:01';
export const MAC2 = '00:50:56:aa:bb:02';

/** Static IPv4 + IPv6 on NIC1, DHCP on NIC2, DNS, time zone, root password "VMware1!". */
export const CUST_STATIC = `[NETWORK]
NETWORKING = yes
BOOTPROTO = dhcp
HOSTNAME = web01
DOMAINNAME = example.com

[NIC-CONFIG]
NICS = NIC1,NIC2

[NIC1]
MACADDR = ${MAC1}
ONBOOT = yes
IPv4_MODE = BACKWARDS_COMPATIBLE
BOOTPROTO = static
IPADDR = 10.20.30.40
NETMASK = 255.255.255.0
GATEWAY = 10.20.30.1
PRIMARY = true
IPv6ADDR|1 = fd00::40
IPv6NETMASK|1 = 64
IPv6GATEWAY|1 = fd00::1

[NIC2]
MACADDR = ${MAC2}
ONBOOT = yes
IPv4_MODE = BACKWARDS_COMPATIBLE
BOOTPROTO = dhcp

[DNS]
DNSFROMDHCP=no
SUFFIX|1 = example.com
SUFFIX|2 = corp.example.com
NAMESERVER|1 = 10.20.30.2
NAMESERVER|2 = 10.20.30.3

[DATETIME]
TIMEZONE = Europe/Berlin
UTC = yes

[PASSWORD]
-PASS = ${Buffer.from('VMware1!').toString('base64')}
`;

export const CUST_DHCP = `[NETWORK]
HOSTNAME = db02
DOMAINNAME = example.org

[NIC-CONFIG]
NICS = NIC1

[NIC1]
MACADDR = ${MAC1}
ONBOOT = yes
BOOTPROTO = dhcp

[DATETIME]
TIMEZONE = UTC
`;

// --- target roots --------------------------------------------------------------

export type Distro = 'rhel' | 'debian' | 'networkd' | 'networkmanager';

function put(root: string, rel: string, content: string, mode = 0o644): void {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content, { mode });
}

/** A minimal root file system of the given family, under a fresh temporary directory. */
export function makeTargetRoot(distro: Distro): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `dp-root-${distro}-`));
  put(root, 'etc/hostname', 'localhost\n');
  put(root, 'etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\told-name\n::1\tlocalhost ip6-localhost\n');
  put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0:alt root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  put(root, 'etc/shadow', 'root:*:19000:0:99999:7:::\ntoor:!:19000:0:99999:7:::\nuser:$6$x$y:19000:0:99999:7:::\n', 0o640);
  put(root, 'usr/share/zoneinfo/UTC', 'TZif-UTC');
  put(root, 'usr/share/zoneinfo/Europe/Berlin', 'TZif-Berlin');
  // /etc/localtime as distributions ship it: an absolute symlink (the /host problem).
  fs.symlinkSync('/usr/share/zoneinfo/UTC', path.join(root, 'etc/localtime'));
  fs.mkdirSync(path.join(root, 'run'), { recursive: true });
  fs.mkdirSync(path.join(root, 'var/log'), { recursive: true });
  fs.symlinkSync('/run', path.join(root, 'var/run'));
  fs.mkdirSync(path.join(root, 'tmp'), { recursive: true });
  switch (distro) {
    case 'rhel':
      put(root, 'etc/redhat-release', 'Red Hat Enterprise Linux release 7.9 (Maipo)\n');
      put(root, 'etc/sysconfig/network-scripts/ifcfg-lo', 'DEVICE=lo\n');
      put(root, 'etc/sysconfig/clock', 'ZONE="UTC"\n');
      put(root, 'etc/resolv.conf', 'nameserver 192.0.2.53\n');
      break;
    case 'debian':
      put(root, 'etc/debian_version', '12.2\n');
      put(root, 'etc/network/interfaces', 'source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug ens192\niface ens192 inet dhcp\n');
      put(root, 'etc/timezone', 'Etc/UTC\n');
      put(root, 'etc/resolv.conf', 'nameserver 192.0.2.53\n');
      break;
    case 'networkd':
      fs.mkdirSync(path.join(root, 'etc/systemd/network'), { recursive: true });
      fs.mkdirSync(path.join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true });
      fs.symlinkSync('/usr/lib/systemd/system/systemd-networkd.service', path.join(root, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'));
      fs.mkdirSync(path.join(root, 'run/systemd/resolve'), { recursive: true });
      fs.symlinkSync('../run/systemd/resolve/stub-resolv.conf', path.join(root, 'etc/resolv.conf'));
      break;
    case 'networkmanager':
      put(root, 'usr/sbin/NetworkManager', '#!/bin/sh\n', 0o755);
      fs.mkdirSync(path.join(root, 'etc/NetworkManager/system-connections'), { recursive: true });
      put(root, 'etc/resolv.conf', '# Generated by NetworkManager\nnameserver 192.0.2.53\n');
      break;
  }
  return root;
}

/** Every file under `dir` (relative names), for "nothing written outside staging" checks. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(path.join(d, e.name), r);
    }
  };
  walk(dir, '');
  return out.sort();
}
