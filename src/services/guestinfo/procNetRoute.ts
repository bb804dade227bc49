/**
 * Parsers for /proc/net/route and /proc/net/ipv6_route, reading at most
 * `maxRoutes` lines that have RTF_UP set, as open-vm-tools' slashProc/net.c
 * does (so the max-ipv4-routes / max-ipv6-routes limits count table lines,
 * not reported routes — core-services.md §8.3).
 */

export const RTF_UP = 0x0001;
export const RTF_GATEWAY = 0x0002;

export interface Ipv4RouteLine {
  device: string;
  /** Network-order address bytes. */
  destination: Buffer;
  gateway: Buffer;
  mask: Buffer;
  flags: number;
  metric: number;
}

export interface Ipv6RouteLine {
  device: string;
  destination: Buffer;
  prefixLength: number;
  nextHop: Buffer;
  flags: number;
  metric: number;
}

const IPV4_HEADER = /^Iface\s+Destination\s+Gateway\s+Flags\s+RefCnt\s+Use\s+Metric\s+Mask\s+MTU\s+Window\s+IRTT\s*$/;
const IPV4_LINE =
  /^(\S+)\s+([0-9A-Fa-f]{8})\s+([0-9A-Fa-f]{8})\s+([0-9A-Fa-f]{4})\s+\d+\s+\d+\s+(\d+)\s+([0-9A-Fa-f]{8})\s+(\d+)\s+\d+\s+(\d+)\s*$/;
const IPV6_LINE =
  /^([0-9A-Fa-f]{32}) ([0-9A-Fa-f]{2}) ([0-9A-Fa-f]{32}) ([0-9A-Fa-f]{2}) ([0-9A-Fa-f]{32}) ([0-9A-Fa-f]{8}) [0-9A-Fa-f]{8} [0-9A-Fa-f]{8} ([0-9A-Fa-f]{8})\s+(\S+)\s*$/;

/**
 * /proc/net/route prints each in_addr as a host-order integer in hex, so on a
 * little-endian guest "0101A8C0" is 192.168.1.1.
 */
function hostOrderHexToBytes(hex: string, littleEndian: boolean): Buffer {
  const b = Buffer.alloc(4);
  const v = parseInt(hex, 16) >>> 0;
  if (littleEndian) b.writeUInt32LE(v, 0);
  else b.writeUInt32BE(v, 0);
  return b;
}

function lines(text: string): string[] {
  const all = text.split('\n');
  if (all.length > 0 && all[all.length - 1] === '') all.pop();
  return all;
}

/**
 * Returns undefined when the header or a line does not parse — the reference
 * then gives up on the IPv4 table entirely.
 */
export function parseProcNetRoute(text: string, maxRoutes: number, littleEndian = true): Ipv4RouteLine[] | undefined {
  const ls = lines(text);
  if (ls.length === 0 || !IPV4_HEADER.test(ls[0] ?? '')) return undefined;
  const out: Ipv4RouteLine[] = [];
  for (let i = 1; i < ls.length && out.length < maxRoutes; i++) {
    const m = IPV4_LINE.exec(ls[i] ?? '');
    if (!m) return undefined;
    const flags = parseInt(m[4] ?? '0', 16);
    if ((flags & RTF_UP) === 0) continue;
    out.push({
      device: m[1] ?? '',
      destination: hostOrderHexToBytes(m[2] ?? '0', littleEndian),
      gateway: hostOrderHexToBytes(m[3] ?? '0', littleEndian),
      mask: hostOrderHexToBytes(m[6] ?? '0', littleEndian),
      flags,
      metric: parseInt(m[5] ?? '0', 10) >>> 0,
    });
  }
  return out;
}

export function parseProcNetIpv6Route(text: string, maxRoutes: number): Ipv6RouteLine[] | undefined {
  const out: Ipv6RouteLine[] = [];
  for (const line of lines(text)) {
    if (out.length >= maxRoutes) break;
    const m = IPV6_LINE.exec(line);
    if (!m) return undefined;
    const flags = parseInt(m[7] ?? '0', 16) >>> 0;
    if ((flags & RTF_UP) === 0) continue;
    out.push({
      device: m[8] ?? '',
      destination: Buffer.from(m[1] ?? '', 'hex'),
      prefixLength: parseInt(m[2] ?? '0', 16),
      nextHop: Buffer.from(m[5] ?? '', 'hex'),
      flags,
      metric: parseInt(m[6] ?? '0', 16) >>> 0,
    });
  }
  return out;
}
