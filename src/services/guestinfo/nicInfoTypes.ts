/**
 * The NicInfo V3 data model, one interface per nicinfo.x structure
 * (core-services.md §8.3). Optional XDR members ("T *x") are `undefined`
 * when absent, so "absent" and "present but empty" stay distinct — the wire
 * form differs (0 vs 1 + value).
 */

export interface TypedIpAddress {
  /** InetAddressType (1 = IPv4, 2 = IPv6, …). */
  type: number;
  /** Raw address bytes: 4 for IPv4, 16 for IPv6. */
  address: Buffer;
}

export interface IpAddressEntry {
  address: TypedIpAddress;
  prefixLength: number;
  /** IpAddressOrigin; Linux open-vm-tools leaves it absent. */
  origin?: number;
  /** IpAddressStatus; Linux open-vm-tools sends 1 (IPv4) / 5 (IPv6). */
  status?: number;
}

export interface DnsConfigInfo {
  hostName?: string;
  domainName?: string;
  servers: TypedIpAddress[];
  searchSuffixes: string[];
}

export interface WinsConfigInfo {
  primary: TypedIpAddress;
  secondary: TypedIpAddress;
}

export interface DhcpConfigInfo {
  enabled: boolean;
  settings: string;
}

export interface InetCidrRouteEntry {
  dest: TypedIpAddress;
  prefixLength: number;
  nextHop?: TypedIpAddress;
  /** Index into NicInfoV3.nics (not a kernel ifindex). */
  ifIndex: number;
  /** InetCidrRouteType; 0 as open-vm-tools sends it (see constants.ts). */
  type: number;
  metric: number;
}

export interface GuestNicV3 {
  /** Lower-case "aa:bb:cc:dd:ee:ff". */
  macAddress: string;
  ips: IpAddressEntry[];
  dnsConfigInfo?: DnsConfigInfo;
  winsConfigInfo?: WinsConfigInfo;
  dhcpConfigInfov4?: DhcpConfigInfo;
  dhcpConfigInfov6?: DhcpConfigInfo;
}

export interface NicInfoV3 {
  nics: GuestNicV3[];
  routes: InetCidrRouteEntry[];
  dnsConfigInfo?: DnsConfigInfo;
  winsConfigInfo?: WinsConfigInfo;
  dhcpConfigInfov4?: DhcpConfigInfo;
  dhcpConfigInfov6?: DhcpConfigInfo;
}

/** A NicInfo V3 with no NICs, routes or resolver data (what a failed gather reports). */
export function emptyNicInfo(): NicInfoV3 {
  return { nics: [], routes: [] };
}
