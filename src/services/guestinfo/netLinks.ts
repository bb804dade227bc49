/**
 * Network links as getifaddrs(3) reports their AF_PACKET entries, read from
 * /sys/class/net: name, kernel index, flags, hardware type and address.
 * open-vm-tools walks those entries to build the NIC list
 * (nicInfoPosix.c GuestInfoGetInterface; core-services.md §8.3).
 */
import { GuestInfoSources } from './sources';

export const SYS_CLASS_NET = '/sys/class/net';

// <linux/if.h> and <linux/if_arp.h>
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
export const ARPHRD_ETHER = 1;

export interface NetLink {
  name: string;
  ifindex: number;
  flags: number;
  /** ARPHRD_* hardware type. */
  type: number;
  /** Raw hardware address bytes (empty for e.g. tun/wireguard). */
  hwAddress: Buffer;
}

function parseHwAddress(text: string | undefined): Buffer {
  const t = (text ?? '').trim();
  if (t === '') return Buffer.alloc(0);
  const bytes = t.split(':').map((h) => parseInt(h, 16));
  return bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255) ? Buffer.from(bytes) : Buffer.alloc(0);
}

/**
 * "aa:bb:cc:dd:ee:ff" from the first six bytes, zero-filled when shorter —
 * what open-vm-tools prints from sockaddr_ll.sll_addr (which is zeroed
 * beyond the hardware address length).
 */
export function formatMac(hw: Buffer): string {
  const six = Buffer.alloc(6);
  hw.copy(six, 0, 0, Math.min(6, hw.length));
  return [...six].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** One link; undefined if `name` is not a network device (e.g. bonding_masters). */
export function readNetLink(src: GuestInfoSources, name: string): NetLink | undefined {
  const dir = `${SYS_CLASS_NET}/${name}`;
  const ifindexText = src.readFile(`${dir}/ifindex`);
  if (ifindexText === undefined) return undefined;
  const ifindex = parseInt(ifindexText.trim(), 10);
  if (!Number.isFinite(ifindex)) return undefined;
  const flags = parseInt((src.readFile(`${dir}/flags`) ?? '0').trim(), 16) || 0;
  const type = parseInt((src.readFile(`${dir}/type`) ?? '0').trim(), 10) || 0;
  return { name, ifindex, flags, type, hwAddress: parseHwAddress(src.readFile(`${dir}/address`)) };
}

/** All links, in kernel index order — the order getifaddrs lists them. */
export function readNetLinks(src: GuestInfoSources): NetLink[] {
  const names = src.listDir(SYS_CLASS_NET) ?? [];
  const links: NetLink[] = [];
  for (const name of names) {
    const link = readNetLink(src, name);
    if (link) links.push(link);
  }
  return links.sort((a, b) => a.ifindex - b.ifindex);
}
