/**
 * vSphere's `guest.ipAddress` from the guest's NIC report — the value
 * `govc vm.ip` waits for (core-services.md §8.4).
 *
 * §8.4: the host "takes the first suitable address of the first NIC in the
 * reported order"; the exact filter is UNCONFIRMED, and the guest is told to
 * put the primary NIC first and its IPv4 address first. The simulator's
 * reading of that:
 *  - NICs in reported order; the first NIC with a suitable address wins;
 *  - within it, the first suitable IPv4 address, else the first suitable IPv6;
 *  - not suitable: unspecified, loopback and link-local addresses
 *    (0.0.0.0, 127/8, 169.254/16; ::, ::1, fe80::/10) — Linux guests do
 *    report IPv6 link-local addresses in NIC info (§8.3), and a VM whose only
 *    address is fe80::… has no usable IP for govc.
 * This is not GuestInfoGetPrimaryIP (guestinfo.ip, §4), which is the guest's
 * own choice and excludes more.
 */
import { ipv4ToBytes, ipv6ToBytes, isIpv6LinkLocal, isIpv6Loopback, isIpv6Unspecified } from '../services/guestinfo/ipAddress';
import type { GuestIp, GuestNic } from './guestinfo-decode';

export function suitableIp(ip: GuestIp): boolean {
  try {
    if (ip.family === 'IPv4') {
      const b = ipv4ToBytes(ip.address);
      if (b.every((x) => x === 0)) return false;
      if (b[0] === 127) return false;
      return !(b[0] === 169 && b[1] === 254);
    }
    if (ip.family === 'IPv6') {
      const b = ipv6ToBytes(ip.address);
      return !(isIpv6Unspecified(b) || isIpv6Loopback(b) || isIpv6LinkLocal(b));
    }
  } catch {
    // An address the guest's own text form cannot parse is not one vSphere would show.
  }
  return false;
}

/** The address vSphere would publish as guest.ipAddress, or null. */
export function vsphereIpAddress(nics: readonly GuestNic[]): string | null {
  for (const nic of nics) {
    const usable = nic.ips.filter(suitableIp);
    const pick = usable.find((ip) => ip.family === 'IPv4') ?? usable[0];
    if (pick) return pick.address;
  }
  return null;
}
