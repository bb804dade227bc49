/**
 * The "primary IP" written to guestinfo.ip on `Set_Option broadcastIP 1`
 * (core-services.md §4, §8.4; nicInfoPosix.c GuestInfoGetPrimaryIP):
 * walk addresses in getifaddrs order, skip down/loopback/excluded
 * interfaces, accept IPv4 other than 127.0.0.1 and 0.0.0.0, accept IPv6
 * other than loopback, link-local, site-local, unique-local and unspecified;
 * the best primary-nics priority wins, the first address within a priority.
 */
import {
  ipv4ToBytes,
  ipv4ToText,
  ipv6ToBytes,
  ipv6ToText,
  isIpv6LinkLocal,
  isIpv6Loopback,
  isIpv6SiteLocal,
  isIpv6UniqueLocal,
  isIpv6Unspecified,
} from './ipAddress';
import { IFF_LOOPBACK, IFF_UP, readNetLink } from './netLinks';
import { NicFilterConfig, NicPriority, isNicExcluded, nicPriority } from './nicFilter';
import { GuestInfoSources, InterfaceAddress } from './sources';

/** Canonical text of an acceptable address, or undefined (ValidateConvertAddress). */
export function acceptablePrimaryAddress(a: InterfaceAddress): string | undefined {
  try {
    if (a.family === 'IPv4') {
      const b = ipv4ToBytes(a.address);
      const text = ipv4ToText(b);
      return text === '127.0.0.1' || text === '0.0.0.0' ? undefined : text;
    }
    const b = ipv6ToBytes(a.address);
    if (isIpv6Loopback(b) || isIpv6LinkLocal(b) || isIpv6SiteLocal(b) || isIpv6UniqueLocal(b) || isIpv6Unspecified(b)) {
      return undefined;
    }
    return ipv6ToText(b);
  } catch {
    return undefined;
  }
}

/**
 * The address label's base device must be UP and not LOOPBACK. Node already
 * drops interfaces that are not UP+RUNNING; /sys is consulted when present
 * so that an alias label ("eth0:1") is judged by its device.
 */
function interfaceUsable(src: GuestInfoSources, label: string, addrs: InterfaceAddress[]): boolean {
  if (addrs.some((a) => a.internal)) return false;
  const device = label.split(':')[0] ?? label;
  const link = readNetLink(src, device);
  if (!link) return true;
  return (link.flags & IFF_UP) !== 0 && (link.flags & IFF_LOOPBACK) === 0;
}

/** The primary IP as text, or "" when none qualifies (the message then carries an empty value). */
export function findPrimaryIp(src: GuestInfoSources, filter: NicFilterConfig): string {
  const all = src.networkInterfaces();
  let best: string | undefined;
  let bestPriority: number = NicPriority.LOW + 1;
  // getifaddrs lists every IPv4 address before any IPv6 one.
  for (const family of ['IPv4', 'IPv6'] as const) {
    for (const [label, addrs] of Object.entries(all)) {
      if (!interfaceUsable(src, label, addrs) || isNicExcluded(filter, label)) continue;
      for (const a of addrs) {
        if (a.family !== family) continue;
        const text = acceptablePrimaryAddress(a);
        if (text === undefined) continue;
        const pri = nicPriority(filter, label);
        if (pri < bestPriority) {
          best = text;
          bestPriority = pri;
          if (pri === NicPriority.PRIMARY) return best; // nothing can beat it
        }
      }
    }
  }
  return best ?? '';
}
