/**
 * XDR encoder/decoder for `GuestNicProto` carrying `NicInfoV3`
 * (open-vm-tools/lib/guestRpc/nicinfo.x, layout in core-services.md §8.3).
 *
 * The union arm is a pointer, so a V3 message starts `00000003 00000001`.
 * The decoder exists for the tests and for the VMX simulator, which must
 * turn our bytes back into structures.
 */
import {
  DHCP_MAX_CONFIG_SIZE,
  DNSINFO_MAX_ADDRLEN,
  DNSINFO_MAX_SERVERS,
  DNSINFO_MAX_SUFFIXES,
  INET_ADDRESS_MAX_LEN,
  NICINFO_MAC_LEN,
  NICINFO_MAX_IPS,
  NICINFO_MAX_NICS,
  NICINFO_MAX_ROUTES,
  NIC_INFO_V3,
} from './constants';
import {
  DhcpConfigInfo,
  DnsConfigInfo,
  GuestNicV3,
  InetCidrRouteEntry,
  IpAddressEntry,
  NicInfoV3,
  TypedIpAddress,
  WinsConfigInfo,
} from './nicInfoTypes';
import { XdrError, XdrReader, XdrWriter } from './xdr';

/** Bounds that differ between the type 10 and type 9 forms of the same V3 body. */
export interface NicInfoLimits {
  maxIpsPerNic: number;
}

export const NIC_INFO_V3_LIMITS: NicInfoLimits = { maxIpsPerNic: NICINFO_MAX_IPS };

// ---- encoding --------------------------------------------------------------

function writeTypedIp(w: XdrWriter, ip: TypedIpAddress): void {
  w.enumValue(ip.type).opaque(ip.address, INET_ADDRESS_MAX_LEN);
}

function writeIpEntry(w: XdrWriter, e: IpAddressEntry): void {
  writeTypedIp(w, e.address);
  w.uint32(e.prefixLength);
  w.optional(e.origin, (x, v) => x.enumValue(v));
  w.optional(e.status, (x, v) => x.enumValue(v));
}

function writeDns(w: XdrWriter, d: DnsConfigInfo): void {
  w.optional(d.hostName, (x, v) => x.string(v, DNSINFO_MAX_ADDRLEN));
  w.optional(d.domainName, (x, v) => x.string(v, DNSINFO_MAX_ADDRLEN));
  w.array(d.servers, DNSINFO_MAX_SERVERS, writeTypedIp);
  w.array(d.searchSuffixes, DNSINFO_MAX_SUFFIXES, (x, v) => x.string(v, DNSINFO_MAX_ADDRLEN));
}

function writeWins(w: XdrWriter, wins: WinsConfigInfo): void {
  writeTypedIp(w, wins.primary);
  writeTypedIp(w, wins.secondary);
}

function writeDhcp(w: XdrWriter, d: DhcpConfigInfo): void {
  w.bool(d.enabled).string(d.settings, DHCP_MAX_CONFIG_SIZE);
}

/** The four optional trailers shared by GuestNicV3 and NicInfoV3, in nicinfo.x order. */
function writeTrailers(w: XdrWriter, o: Pick<NicInfoV3, 'dnsConfigInfo' | 'winsConfigInfo' | 'dhcpConfigInfov4' | 'dhcpConfigInfov6'>): void {
  w.optional(o.dnsConfigInfo, writeDns);
  w.optional(o.winsConfigInfo, writeWins);
  w.optional(o.dhcpConfigInfov4, writeDhcp);
  w.optional(o.dhcpConfigInfov6, writeDhcp);
}

function writeNic(w: XdrWriter, nic: GuestNicV3, limits: NicInfoLimits): void {
  w.string(nic.macAddress, NICINFO_MAC_LEN);
  w.array(nic.ips, limits.maxIpsPerNic, writeIpEntry);
  writeTrailers(w, nic);
}

function writeRoute(w: XdrWriter, r: InetCidrRouteEntry): void {
  writeTypedIp(w, r.dest);
  w.uint32(r.prefixLength);
  w.optional(r.nextHop, writeTypedIp);
  w.uint32(r.ifIndex);
  w.enumValue(r.type);
  w.uint32(r.metric);
}

/** XDR of a bare `NicInfoV3` (no union header). Throws XdrError if a bound is exceeded. */
export function encodeNicInfoV3(info: NicInfoV3, limits: NicInfoLimits = NIC_INFO_V3_LIMITS): Buffer {
  const w = new XdrWriter();
  w.array(info.nics, NICINFO_MAX_NICS, (x, nic) => writeNic(x, nic, limits));
  w.array(info.routes, NICINFO_MAX_ROUTES, writeRoute);
  writeTrailers(w, info);
  return w.toBuffer();
}

/** XDR of `GuestNicProto` with ver = 3: `ver`, pointer-present word, NicInfoV3. */
export function encodeGuestNicProtoV3(info: NicInfoV3, limits: NicInfoLimits = NIC_INFO_V3_LIMITS): Buffer {
  const header = new XdrWriter().uint32(NIC_INFO_V3).uint32(1).toBuffer();
  return Buffer.concat([header, encodeNicInfoV3(info, limits)]);
}

/**
 * A shallow copy with every NIC's IP list cut to `maxIps`, as open-vm-tools
 * does before re-sending V3 under type 9 (core-services.md §8.3 fallback).
 */
export function truncateIpsPerNic(info: NicInfoV3, maxIps: number): NicInfoV3 {
  return { ...info, nics: info.nics.map((nic) => ({ ...nic, ips: nic.ips.slice(0, maxIps) })) };
}

// ---- decoding --------------------------------------------------------------

function readTypedIp(r: XdrReader): TypedIpAddress {
  const type = r.enumValue();
  return { type, address: r.opaque(INET_ADDRESS_MAX_LEN) };
}

function readIpEntry(r: XdrReader): IpAddressEntry {
  const address = readTypedIp(r);
  const prefixLength = r.uint32();
  const entry: IpAddressEntry = { address, prefixLength };
  const origin = r.optional((x) => x.enumValue());
  const status = r.optional((x) => x.enumValue());
  if (origin !== undefined) entry.origin = origin;
  if (status !== undefined) entry.status = status;
  return entry;
}

function readDns(r: XdrReader): DnsConfigInfo {
  const hostName = r.optional((x) => x.string(DNSINFO_MAX_ADDRLEN));
  const domainName = r.optional((x) => x.string(DNSINFO_MAX_ADDRLEN));
  const servers = r.array(DNSINFO_MAX_SERVERS, readTypedIp);
  const searchSuffixes = r.array(DNSINFO_MAX_SUFFIXES, (x) => x.string(DNSINFO_MAX_ADDRLEN));
  const dns: DnsConfigInfo = { servers, searchSuffixes };
  if (hostName !== undefined) dns.hostName = hostName;
  if (domainName !== undefined) dns.domainName = domainName;
  return dns;
}

function readWins(r: XdrReader): WinsConfigInfo {
  return { primary: readTypedIp(r), secondary: readTypedIp(r) };
}

function readDhcp(r: XdrReader): DhcpConfigInfo {
  const enabled = r.bool();
  return { enabled, settings: r.string(DHCP_MAX_CONFIG_SIZE) };
}

type Trailers = Pick<NicInfoV3, 'dnsConfigInfo' | 'winsConfigInfo' | 'dhcpConfigInfov4' | 'dhcpConfigInfov6'>;

function readTrailers(r: XdrReader): Trailers {
  const out: Trailers = {};
  const dns = r.optional(readDns);
  const wins = r.optional(readWins);
  const dhcp4 = r.optional(readDhcp);
  const dhcp6 = r.optional(readDhcp);
  if (dns !== undefined) out.dnsConfigInfo = dns;
  if (wins !== undefined) out.winsConfigInfo = wins;
  if (dhcp4 !== undefined) out.dhcpConfigInfov4 = dhcp4;
  if (dhcp6 !== undefined) out.dhcpConfigInfov6 = dhcp6;
  return out;
}

function readNic(r: XdrReader, limits: NicInfoLimits): GuestNicV3 {
  const macAddress = r.string(NICINFO_MAC_LEN);
  const ips = r.array(limits.maxIpsPerNic, readIpEntry);
  return { macAddress, ips, ...readTrailers(r) };
}

function readRoute(r: XdrReader): InetCidrRouteEntry {
  const dest = readTypedIp(r);
  const prefixLength = r.uint32();
  const nextHop = r.optional(readTypedIp);
  const ifIndex = r.uint32();
  const type = r.enumValue();
  const metric = r.uint32();
  const route: InetCidrRouteEntry = { dest, prefixLength, ifIndex, type, metric };
  if (nextHop !== undefined) route.nextHop = nextHop;
  return route;
}

export function decodeNicInfoV3From(r: XdrReader, limits: NicInfoLimits = NIC_INFO_V3_LIMITS): NicInfoV3 {
  const nics = r.array(NICINFO_MAX_NICS, (x) => readNic(x, limits));
  const routes = r.array(NICINFO_MAX_ROUTES, readRoute);
  return { nics, routes, ...readTrailers(r) };
}

/** Decodes a bare `NicInfoV3`; the whole buffer must be consumed. */
export function decodeNicInfoV3(buf: Buffer, limits: NicInfoLimits = NIC_INFO_V3_LIMITS): NicInfoV3 {
  const r = new XdrReader(buf);
  const info = decodeNicInfoV3From(r, limits);
  if (r.remaining !== 0) throw new XdrError(`${r.remaining} trailing bytes after NicInfoV3`);
  return info;
}

/**
 * Decodes a `GuestNicProto` body (what follows "SetGuestInfo  10 " or
 * "SetGuestInfo  9 "). Only version 3 is understood; V2 bodies are reported
 * as an error, since this agent never sends them.
 */
export function decodeGuestNicProto(buf: Buffer, limits: NicInfoLimits = NIC_INFO_V3_LIMITS): NicInfoV3 {
  const r = new XdrReader(buf);
  const ver = r.uint32();
  if (ver !== NIC_INFO_V3) throw new XdrError(`unsupported GuestNicProto version ${ver}`);
  const info = r.optional((x) => decodeNicInfoV3From(x, limits));
  if (info === undefined) throw new XdrError('GuestNicProto V3 with a NULL nicInfoV3 pointer');
  if (r.remaining !== 0) throw new XdrError(`${r.remaining} trailing bytes after GuestNicProto`);
  return info;
}
