/**
 * Text ⇄ byte conversions for IPv4/IPv6 addresses, and the small address
 * predicates the NIC gatherer and the primary-IP picker need. Pure
 * functions, no dependency on this machine.
 */
import { isIPv4, isIPv6 } from 'node:net';

import { InetAddressType } from './constants';
import { TypedIpAddress } from './nicInfoTypes';

export function ipv4ToBytes(text: string): Buffer {
  if (!isIPv4(text)) throw new Error(`not an IPv4 address: ${text}`);
  return Buffer.from(text.split('.').map((p) => Number(p)));
}

/** Parses any RFC 4291 text form (incl. "::" and embedded IPv4); a "%scope" suffix is ignored. */
export function ipv6ToBytes(text: string): Buffer {
  const addr = text.split('%')[0] ?? '';
  if (!isIPv6(addr)) throw new Error(`not an IPv6 address: ${text}`);
  let head = addr;
  const tailWords: number[] = [];
  // An embedded dotted quad occupies the last two 16-bit groups.
  const lastColon = head.lastIndexOf(':');
  const last = head.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = ipv4ToBytes(last);
    tailWords.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
    head = head.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const parseGroups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let words: number[];
  const dbl = head.indexOf('::');
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    const fill = 8 - left.length - right.length - tailWords.length;
    words = [...left, ...new Array<number>(fill).fill(0), ...right, ...tailWords];
  } else {
    words = [...parseGroups(head), ...tailWords];
  }
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

export function ipv4ToText(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 canonical text (what inet_ntop prints), e.g. "fe80::1", "::ffff:1.2.3.4". */
export function ipv6ToText(b: Buffer): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i));
  // IPv4-mapped addresses keep their dotted tail, as glibc's inet_ntop does.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${ipv4ToText(b.subarray(12, 16))}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Number of set bits in a netmask (open-vm-tools counts bits, it does not check contiguity). */
export function countMaskBits(mask: Buffer): number {
  let n = 0;
  for (const byte of mask) {
    let v = byte;
    while (v) {
      n += v & 1;
      v >>= 1;
    }
  }
  return n;
}

/**
 * TypedIpAddress for raw IPv6 bytes. Some stacks embed a scope id in
 * link-local addresses (fe80:4::1); nicInfo.c clears those bits so the
 * address is valid on the wire, and so do we (a no-op on Linux).
 */
export function typedIpv6(bytes: Buffer): TypedIpAddress {
  const address = Buffer.from(bytes);
  if (address[0] === 0xfe && ((address[1] ?? 0) & 0xc0) === 0x80) {
    address[1] = (address[1] ?? 0) & 0xc0;
    address.fill(0, 2, 8);
  }
  return { type: InetAddressType.IPV6, address };
}

export function typedIpv4(bytes: Buffer): TypedIpAddress {
  return { type: InetAddressType.IPV4, address: Buffer.from(bytes) };
}

export function typedIpFromText(text: string): TypedIpAddress | undefined {
  if (isIPv4(text)) return typedIpv4(ipv4ToBytes(text));
  const addr = text.split('%')[0] ?? '';
  if (isIPv6(addr)) return typedIpv6(ipv6ToBytes(addr));
  return undefined;
}

export function typedIpToText(ip: TypedIpAddress): string {
  if (ip.type === InetAddressType.IPV4 && ip.address.length === 4) return ipv4ToText(ip.address);
  if (ip.type === InetAddressType.IPV6 && ip.address.length === 16) return ipv6ToText(ip.address);
  return `<type ${ip.type}: ${ip.address.toString('hex')}>`;
}

export function isIpv6Loopback(b: Buffer): boolean {
  return b.subarray(0, 15).every((x) => x === 0) && b[15] === 1;
}

export function isIpv6Unspecified(b: Buffer): boolean {
  return b.every((x) => x === 0);
}

/** fe80::/10 */
export function isIpv6LinkLocal(b: Buffer): boolean {
  return b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80;
}

/** fec0::/10 (deprecated site-local) */
export function isIpv6SiteLocal(b: Buffer): boolean {
  return b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0xc0;
}

/** fc00::/7 (unique local, RFC 4193) */
export function isIpv6UniqueLocal(b: Buffer): boolean {
  return ((b[0] ?? 0) & 0xfe) === 0xfc;
}
