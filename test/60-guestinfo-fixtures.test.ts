/**
 * Shared fixtures for the guestInfo tests: a fake RpcSender that records
 * every request, and a captured guest (a Debian 12 VM's /sys/class/net,
 * routes, resolv.conf, os-release) together with the NicInfoV3 bytes that
 * Debian's open-vm-tools 12.2 libvmtools produced for exactly that state
 * (GuestInfo_GetNicInfo + xdr_NicInfoV3, run against the same machine).
 * The small test at the bottom checks the fixture itself.
 */
import { strict as assert } from 'node:assert';

import { RpcReply, RpcSender } from '../src/rpc/types';
import { MemoryGuestInfoSources } from '../src/services/guestinfo/memorySources';
import { InterfaceAddress } from '../src/services/guestinfo/sources';

/** Records requests; replies come from `reply` (default "1 " with no text). */
export class FakeRpc implements RpcSender {
  readonly requests: Buffer[] = [];
  reply: (req: Buffer) => RpcReply = () => ({ ok: true, reply: Buffer.alloc(0) });

  send(request: Buffer | string): RpcReply {
    const b = Buffer.isBuffer(request) ? Buffer.from(request) : Buffer.from(request, 'utf8');
    this.requests.push(b);
    return this.reply(b);
  }

  /** Requests as latin1 strings (binary bodies stay inspectable byte by byte). */
  texts(): string[] {
    return this.requests.map((r) => r.toString('latin1'));
  }

  clear(): void {
    this.requests.length = 0;
  }
}

export interface LinkFixture {
  name: string;
  ifindex: number;
  flags: number;
  type?: number;
  mac: string;
}

/** Adds /sys/class/net/<name>/{ifindex,flags,type,address} files. */
export function addLinks(src: MemoryGuestInfoSources, links: readonly LinkFixture[]): void {
  for (const l of links) {
    const d = `/sys/class/net/${l.name}`;
    src.setFile(`${d}/ifindex`, `${l.ifindex}\n`);
    src.setFile(`${d}/flags`, `0x${l.flags.toString(16)}\n`);
    src.setFile(`${d}/type`, `${l.type ?? 1}\n`);
    src.setFile(`${d}/address`, `${l.mac}\n`);
  }
}

export const IFF_UP_BROADCAST_RUNNING_MULTICAST = 0x1003;

export function v4(address: string, netmask: string): InterfaceAddress {
  return { address, netmask, family: 'IPv4', internal: false };
}

export function v6(address: string, prefix: number): InterfaceAddress {
  const mask = Buffer.alloc(16);
  for (let i = 0; i < prefix; i++) mask[i >> 3] = (mask[i >> 3] ?? 0) | (0x80 >> (i & 7));
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(mask.readUInt16BE(i).toString(16));
  return { address, netmask: groups.join(':'), family: 'IPv6', internal: false };
}

const ROUTE_PAD = '                                                       ';

export const CAPTURED_PROC_NET_ROUTE =
  `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT${ROUTE_PAD}\n` +
  `eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0${ROUTE_PAD}\n` +
  `eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0${ROUTE_PAD}\n`;

export const CAPTURED_PROC_NET_IPV6_ROUTE = [
  'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
  'fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0',
  '00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo',
  'fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0',
  'fe8000000000000000fc00fffe000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0',
  'ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0',
  '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
].join('\n') + '\n';

export const DEBIAN12_OS_RELEASE = [
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
  'NAME="Debian GNU/Linux"',
  'VERSION_ID="12"',
  'VERSION="12 (bookworm)"',
  'VERSION_CODENAME=bookworm',
  'ID=debian',
  'HOME_URL="https://www.debian.org/"',
  '',
].join('\n');

/**
 * NicInfoV3 XDR (no union header) from Debian's libvmtools.so.0 (open-vm-tools
 * 12.2.0) for the captured state below, with exclude-nics at its default.
 */
export const REFERENCE_NICINFO_V3_HEX =
  '000000010000001130323a66633a30303a30303a30303a3031000000000000030000000100000004c0000202000000180000000000000001' +
  '000000010000000200000010fd000000000000000000000000000002000000400000000000000001000000050000000200000010fe800000' +
  '0000000000fc00fffe0000010000004000000000000000010000000500000000000000000000000000000000000000080000000100000004' +
  '0000000000000000000000010000000100000004c00002010000000000000000000000000000000100000004c00002000000001800000000' +
  '0000000000000000000000000000000200000010fd0000000000000000000000000000000000004000000000000000000000000000000100' +
  '0000000200000010fe8000000000000000000000000000000000004000000000000000000000000000000100000000020000001000000000' +
  '00000000000000000000000000000000000000010000000200000010fd000000000000000000000000000001000000000000000000000400' +
  '0000000200000010fd00000000000000000000000000000200000080000000000000000000000000000000000000000200000010fe800000' +
  '0000000000fc00fffe00000100000080000000000000000000000000000000000000000200000010ff000000000000000000000000000000' +
  '0000000800000000000000000000000000000100000000010000000100000002766d00000000000100000000000000010000000100000004' +
  '0affff3500000000000000000000000000000000';

/** The captured guest: lo, two down ifb links, eth0 with one IPv4 and two IPv6 addresses. */
export function capturedGuest(): MemoryGuestInfoSources {
  const src = new MemoryGuestInfoSources({
    hostname: 'vm',
    uname: { sysname: 'Linux', release: '6.18.44-fc-v669', machine: 'x86_64' },
    files: {
      '/proc/net/route': CAPTURED_PROC_NET_ROUTE,
      '/proc/net/ipv6_route': CAPTURED_PROC_NET_IPV6_ROUTE,
      '/etc/resolv.conf': 'nameserver 10.255.255.53\n',
      '/etc/os-release': DEBIAN12_OS_RELEASE,
      '/proc/uptime': '1699.41 2784.41\n',
    },
    interfaces: {
      lo: [
        { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', internal: true },
        { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', internal: true },
      ],
      eth0: [v4('192.0.2.2', '255.255.255.0'), v6('fd00::2', 64), v6('fe80::fc:ff:fe00:1', 64)],
    },
  });
  addLinks(src, [
    { name: 'lo', ifindex: 1, flags: 0x9, type: 772, mac: '00:00:00:00:00:00' },
    { name: 'ifb0', ifindex: 2, flags: 0x82, mac: '16:85:36:e3:98:7d' },
    { name: 'ifb1', ifindex: 3, flags: 0x82, mac: '2a:81:35:9a:e0:ed' },
    { name: 'eth0', ifindex: 4, flags: IFF_UP_BROADCAST_RUNNING_MULTICAST, mac: '02:fc:00:00:00:01' },
  ]);
  return src;
}

describe('60 guestinfo fixtures', () => {
  it('FakeRpc records requests byte for byte and replies "1 "', () => {
    const rpc = new FakeRpc();
    const r = rpc.send(Buffer.from([0x41, 0x00]));
    assert.equal(r.ok, true);
    assert.equal(r.reply.length, 0);
    assert.deepEqual(rpc.requests, [Buffer.from([0x41, 0x00])]);
  });

  it('the captured guest exposes its files through the in-memory sources', () => {
    const src = capturedGuest();
    assert.deepEqual(src.listDir('/sys/class/net'), ['eth0', 'ifb0', 'ifb1', 'lo']);
    assert.equal(src.readFile('/sys/class/net/eth0/address'), '02:fc:00:00:00:01\n');
    assert.equal(REFERENCE_NICINFO_V3_HEX.length, 580 * 2);
  });
});
