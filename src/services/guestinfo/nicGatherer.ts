/**
 * Builds the NicInfo V3 structure the way open-vm-tools' Linux build does
 * (nicInfoPosix.c, no libdnet; core-services.md §8.3):
 *
 *  - one GuestNicV3 per link that is UP, not LOOPBACK and not excluded,
 *    walked three times — primary-nics, normal, low-priority-nics — each in
 *    kernel index order, stopping at 16 NICs;
 *  - every IPv4/IPv6 address whose label is the device or an alias of it
 *    ("eth0:1"), except 127/8 and ::1; IPv4 status preferred, IPv6 unknown;
 *  - then the top-level resolver info and up to max-ipv4/ipv6-routes routes
 *    (IPv4 first), each pointing at the NIC whose MAC its device has.
 */
import {
  IpAddressStatus,
  InetCidrRouteType,
  NICINFO_MAX_IPS,
  NICINFO_MAX_NICS,
  NICINFO_MAX_ROUTES,
} from './constants';
import { countMaskBits, ipv4ToBytes, ipv6ToBytes, isIpv6Loopback, typedIpv4, typedIpv6 } from './ipAddress';
import { ARPHRD_ETHER, IFF_LOOPBACK, IFF_UP, NetLink, formatMac, readNetLink, readNetLinks } from './netLinks';
import { NicFilterConfig, NicPriority, NicPriorityValue, isNicExcluded, nicPriority } from './nicFilter';
import { GuestNicV3, InetCidrRouteEntry, IpAddressEntry, NicInfoV3 } from './nicInfoTypes';
import { RTF_GATEWAY, parseProcNetIpv6Route, parseProcNetRoute } from './procNetRoute';
import { gatherDnsConfig } from './resolvConf';
import { GuestInfoSources, InterfaceAddress } from './sources';

export const PROC_NET_ROUTE = '/proc/net/route';
export const PROC_NET_IPV6_ROUTE = '/proc/net/ipv6_route';

export interface NicGatherOptions extends NicFilterConfig {
  maxIpv4Routes: number;
  maxIpv6Routes: number;
  /** Byte order of this guest, for /proc/net/route (x86 and arm64 Linux are little-endian). */
  littleEndian?: boolean;
}

export interface NicGatherResult {
  nicInfo: NicInfoV3;
  /** More than 16 NICs qualified; the rest were dropped (nicInfo.c GuestInfoAddNicEntry). */
  maxNicsReached: boolean;
}

/** open-vm-tools IpEntryMatchesDevice: label equals the device, or is "device:alias". */
export function addressLabelMatchesDevice(device: string, label: string): boolean {
  const colon = label.indexOf(':');
  return (colon >= 0 ? label.slice(0, colon) : label) === device;
}

function ipEntry(addr: InterfaceAddress): IpAddressEntry | undefined {
  try {
    if (addr.family === 'IPv4') {
      const bytes = ipv4ToBytes(addr.address);
      if (bytes[0] === 127) return undefined; // loopback net on a non-loopback device: misconfiguration
      return {
        address: typedIpv4(bytes),
        prefixLength: countMaskBits(ipv4ToBytes(addr.netmask)),
        status: IpAddressStatus.PREFERRED,
      };
    }
    const bytes = ipv6ToBytes(addr.address);
    if (isIpv6Loopback(bytes)) return undefined;
    return {
      address: typedIpv6(bytes),
      prefixLength: countMaskBits(ipv6ToBytes(addr.netmask)),
      status: IpAddressStatus.UNKNOWN,
    };
  } catch {
    return undefined; // unparsable address text: skip it rather than fail the gather
  }
}

/**
 * All addresses for `device` in getifaddrs order: glibc dumps every IPv4
 * address before any IPv6 one, and os.networkInterfaces() keeps the per-name
 * order, so IPv4 entries of all matching labels come first.
 */
function addressesFor(device: string, all: Record<string, InterfaceAddress[]>): IpAddressEntry[] {
  const labels = Object.keys(all).filter((label) => addressLabelMatchesDevice(device, label));
  const out: IpAddressEntry[] = [];
  for (const family of ['IPv4', 'IPv6'] as const) {
    for (const label of labels) {
      for (const a of all[label] ?? []) {
        if (a.family !== family) continue;
        const e = ipEntry(a);
        if (e) out.push(e);
      }
    }
  }
  return out.slice(0, NICINFO_MAX_IPS);
}

function isReportable(link: NetLink): boolean {
  return (link.flags & IFF_UP) !== 0 && (link.flags & IFF_LOOPBACK) === 0;
}

/** The NIC list alone, with the 16-NIC cap applied. */
export function gatherNics(
  src: GuestInfoSources,
  filter: NicFilterConfig,
): { nics: GuestNicV3[]; maxNicsReached: boolean } {
  const links = readNetLinks(src);
  const addrs = src.networkInterfaces();
  const nics: GuestNicV3[] = [];
  let maxNicsReached = false;
  const passes: NicPriorityValue[] = [NicPriority.PRIMARY, NicPriority.NORMAL, NicPriority.LOW];
  for (const pass of passes) {
    for (const link of links) {
      if (nicPriority(filter, link.name) !== pass || isNicExcluded(filter, link.name)) continue;
      if (!isReportable(link)) continue;
      if (nics.length === NICINFO_MAX_NICS) {
        maxNicsReached = true;
        break;
      }
      nics.push({ macAddress: formatMac(link.hwAddress), ips: addressesFor(link.name, addrs) });
    }
  }
  return { nics, maxNicsReached };
}

/**
 * nicInfo.c GuestInfoGetNicInfoIfIndex: a route's device maps to the first
 * reported NIC with the same MAC, and only Ethernet devices with a 6-byte
 * address qualify. (A VLAN or bridge carrying eth0's MAC therefore maps to eth0.)
 */
function nicIndexForDevice(src: GuestInfoSources, nics: GuestNicV3[], device: string): number | undefined {
  const link = readNetLink(src, device);
  if (!link || link.type !== ARPHRD_ETHER || link.hwAddress.length !== 6) return undefined;
  const mac = formatMac(link.hwAddress);
  const idx = nics.findIndex((n) => n.macAddress.toLowerCase() === mac);
  return idx >= 0 ? idx : undefined;
}

export function gatherRoutes(
  src: GuestInfoSources,
  nics: GuestNicV3[],
  maxIpv4Routes: number,
  maxIpv6Routes: number,
  littleEndian = true,
): InetCidrRouteEntry[] {
  const routes: InetCidrRouteEntry[] = [];
  if (maxIpv4Routes > 0) {
    const text = src.readFile(PROC_NET_ROUTE);
    for (const r of (text !== undefined ? parseProcNetRoute(text, maxIpv4Routes, littleEndian) : undefined) ?? []) {
      if (routes.length >= NICINFO_MAX_ROUTES) break;
      const ifIndex = nicIndexForDevice(src, nics, r.device);
      if (ifIndex === undefined) continue;
      const route: InetCidrRouteEntry = {
        dest: typedIpv4(r.destination),
        prefixLength: countMaskBits(r.mask),
        ifIndex,
        type: InetCidrRouteType.UNSET,
        metric: r.metric,
      };
      if (r.flags & RTF_GATEWAY) route.nextHop = typedIpv4(r.gateway);
      routes.push(route);
    }
  }
  // IPv4 routes have priority: IPv6 ones only fill what is left of the 100 (nicInfoPosix.c).
  if (maxIpv6Routes > 0 && routes.length < NICINFO_MAX_ROUTES) {
    const text = src.readFile(PROC_NET_IPV6_ROUTE);
    for (const r of (text !== undefined ? parseProcNetIpv6Route(text, maxIpv6Routes) : undefined) ?? []) {
      if (routes.length >= NICINFO_MAX_ROUTES) break;
      const ifIndex = nicIndexForDevice(src, nics, r.device);
      if (ifIndex === undefined) continue;
      const route: InetCidrRouteEntry = {
        dest: typedIpv6(r.destination),
        prefixLength: r.prefixLength,
        ifIndex,
        type: InetCidrRouteType.UNSET,
        metric: r.metric,
      };
      if (r.flags & RTF_GATEWAY) route.nextHop = typedIpv6(r.nextHop);
      routes.push(route);
    }
  }
  return routes;
}

/** The whole NicInfo V3 for one gather. */
export function gatherNicInfo(src: GuestInfoSources, opts: NicGatherOptions): NicGatherResult {
  const { nics, maxNicsReached } = gatherNics(src, opts);
  const nicInfo: NicInfoV3 = { nics, routes: [] };
  const dns = gatherDnsConfig(src);
  if (dns) nicInfo.dnsConfigInfo = dns;
  nicInfo.routes = gatherRoutes(src, nics, opts.maxIpv4Routes, opts.maxIpv6Routes, opts.littleEndian ?? true);
  return { nicInfo, maxNicsReached };
}
