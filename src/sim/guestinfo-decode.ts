/**
 * Host-side decoding of the guest information messages (core-services.md §8.2):
 * one raw RPCI request in, a typed JSON-friendly value out, or the reason it
 * cannot be decoded. Pure: no state, no clock. The wire decoders are the
 * guestInfo service's own (parseSetGuestInfo, decodeGuestNicProto,
 * parseDetailedDataBody, decodeStatsBody); only the two disk forms, which the
 * agent never reads back, are parsed here.
 *
 * Must be given the RAW request: binary bodies (types 3, 8, 9, 10, 11) may
 * end in zero bytes, which the RPCI layer's NUL trimming would cut off.
 */
import {
  DISK_INFO_VERSION_1,
  GUEST_DISK_INFO_COMMAND,
  GUEST_INFO_COMMAND,
  InetAddressType,
  InfoType,
  LEGACY_PARTITION_ENTRY_SIZE,
  PARTITION_NAME_SIZE,
} from '../services/guestinfo/constants';
import { typedIpToText } from '../services/guestinfo/ipAddress';
import {
  GuestValueType,
  LEGACY_HEADER_SIZE,
  MEMINFO_HUGEPAGESTOTAL,
  MEMINFO_MEMTOTAL,
  StatId,
  decodeStatsBody,
  decodeUintDatum,
} from '../services/guestinfo/memStats';
import { parseSetGuestInfo } from '../services/guestinfo/messages';
import { DnsConfigInfo, NicInfoV3, TypedIpAddress } from '../services/guestinfo/nicInfoTypes';
import { decodeGuestNicProto } from '../services/guestinfo/nicInfoXdr';
import { parseDetailedDataBody } from '../services/guestinfo/osInfo';

// ---------------------------------------------------------------------------
// Decoded shapes (plain JSON: they travel unchanged over the control socket)

export interface GuestIp {
  /** Canonical text ("192.0.2.2", "fd00::2"). */
  address: string;
  prefixLength: number;
  family: 'IPv4' | 'IPv6' | 'other';
  /** IpAddressOrigin (§8.3); Linux guests leave it absent. */
  origin?: number;
  /** IpAddressStatus (§8.3): 1 preferred, 5 unknown, … */
  status?: number;
}

export interface GuestDns {
  hostName: string | null;
  domainName: string | null;
  servers: string[];
  searchSuffixes: string[];
}

export interface GuestNic {
  /** Position in the guest's report (the order vSphere uses, §8.4). */
  index: number;
  /**
   * The VM's virtual NIC with this MAC (VmxHostOptions.vnics), as vSphere
   * matches guest.net entries to devices; null when none is configured. The
   * guest's interface name is not on the wire (§8.3 GuestNicV3 has none).
   */
  name: string | null;
  /** Lower-case "aa:bb:cc:dd:ee:ff". */
  mac: string;
  ips: GuestIp[];
  dns: GuestDns | null;
}

export interface GuestRoute {
  destination: string;
  prefixLength: number;
  gateway: string | null;
  /** Index into nics[] (§8.3: not a kernel ifindex). */
  nicIndex: number;
  type: number;
  metric: number;
}

export interface GuestNicInfo {
  nics: GuestNic[];
  routes: GuestRoute[];
  /** The resolver configuration (top-level DnsConfigInfo). */
  dns: GuestDns | null;
}

export interface GuestOsDetailed {
  version: number;
  shortName: string;
  fullName: string;
  /** The detailed string as sent: space-separated key='value' pairs (§8.5). */
  detailed: string;
  /** The same, parsed and unescaped. */
  fields: Record<string, string>;
}

export interface GuestDisk {
  mountPoint: string;
  freeBytes: number;
  capacityBytes: number;
  /** JSON form only (the legacy list carries no file system type). */
  fsType: string | null;
  /** "scsi0:0", … (JSON form only). */
  devices: string[];
}

export interface GuestStat {
  id: number;
  /** StatId key of guestStats.h ("MEM_FREE", …) or null for an id we do not know. */
  name: string | null;
  units: number;
  valueType: number;
  /** Null when the guest could not read it (VALUE datum absent, §8.7). */
  value: number | null;
}

export interface GuestStats {
  version: number;
  /** KiB, when header flag bit 0 says it is valid. */
  memTotalKiB: number | null;
  hugePagesTotal: number | null;
  stats: GuestStat[];
}

export type DecodedGuestInfo =
  | { field: 'hostName'; type: 1; value: string }
  | { field: 'toolsBuild'; type: 4; value: string }
  | { field: 'osFullName'; type: 5; value: string }
  | { field: 'osName'; type: 6; value: string }
  | { field: 'uptime'; type: 7; value: { hundredths: number; seconds: number } }
  | { field: 'stats'; type: 8; value: GuestStats }
  | { field: 'nicInfo'; type: 9 | 10; value: GuestNicInfo }
  | { field: 'osDetailed'; type: 11; value: GuestOsDetailed }
  /** type 3 = legacy list, null = SetGuestDiskInfo JSON. */
  | { field: 'disks'; type: 3 | null; value: GuestDisk[] };

export type GuestInfoCommand = typeof GUEST_INFO_COMMAND | typeof GUEST_DISK_INFO_COMMAND;

export interface DecodeFailure {
  command: GuestInfoCommand;
  /** SetGuestInfo type, or null (header unreadable, or SetGuestDiskInfo). */
  type: number | null;
  reason: string;
}

export type DecodeResult = { ok: true; info: DecodedGuestInfo } | { ok: false; error: DecodeFailure };

// ---------------------------------------------------------------------------

const INFO_PREFIX = Buffer.from(`${GUEST_INFO_COMMAND} `, 'latin1');
const DISK_PREFIX = Buffer.from(`${GUEST_DISK_INFO_COMMAND} `, 'latin1');

/** Which guest-info command a raw request is, if any (cheap: called for every RPCI). */
export function guestInfoCommand(raw: Buffer): GuestInfoCommand | null {
  if (raw.length >= DISK_PREFIX.length && raw.subarray(0, DISK_PREFIX.length).equals(DISK_PREFIX)) return GUEST_DISK_INFO_COMMAND;
  if (raw.length >= INFO_PREFIX.length && raw.subarray(0, INFO_PREFIX.length).equals(INFO_PREFIX)) return GUEST_INFO_COMMAND;
  return null;
}

/** Decodes one request; null when it is not SetGuestInfo / SetGuestDiskInfo. */
export function decodeGuestInfoRequest(raw: Buffer): DecodeResult | null {
  const command = guestInfoCommand(raw);
  if (command === null) return null;
  if (command === GUEST_DISK_INFO_COMMAND) {
    return wrap(command, null, () => ({ field: 'disks', type: null, value: decodeDiskJson(raw.subarray(DISK_PREFIX.length)) }));
  }
  const parsed = parseSetGuestInfo(raw);
  if (!parsed) {
    return { ok: false, error: { command, type: null, reason: 'malformed header (want "SetGuestInfo  <type> ", two spaces, §8.2)' } };
  }
  const { type, body } = parsed;
  return wrap(command, type, () => decodeBody(type, body));
}

function wrap(command: GuestInfoCommand, type: number | null, fn: () => DecodedGuestInfo): DecodeResult {
  try {
    return { ok: true, info: fn() };
  } catch (e) {
    return { ok: false, error: { command, type, reason: e instanceof Error ? e.message : String(e) } };
  }
}

function decodeBody(type: number, body: Buffer): DecodedGuestInfo {
  switch (type) {
    case InfoType.DNS_NAME:
      return { field: 'hostName', type, value: cString(body) };
    case InfoType.BUILD_NUMBER:
      return { field: 'toolsBuild', type, value: cString(body) };
    case InfoType.OS_NAME_FULL:
      return { field: 'osFullName', type, value: cString(body) };
    case InfoType.OS_NAME:
      return { field: 'osName', type, value: cString(body) };
    case InfoType.UPTIME:
      return { field: 'uptime', type, value: decodeUptime(body) };
    case InfoType.MEMORY:
      return { field: 'stats', type, value: decodeStats(body) };
    case InfoType.IPADDRESS_V2: // V3 data under type 9 is open-vm-tools' first fallback (§8.3)
    case InfoType.IPADDRESS_V3:
      return { field: 'nicInfo', type, value: nicInfoView(decodeGuestNicProto(body)) };
    case InfoType.OS_DETAILED:
      return { field: 'osDetailed', type, value: decodeDetailed(body) };
    case InfoType.DISK_FREE_SPACE:
      return { field: 'disks', type, value: decodeLegacyDisks(body) };
    case InfoType.IPADDRESS:
      // §8.2: a GuestNicInfoV1 C struct, the last resort for very old hosts; its layout is not in the spec.
      throw new Error('type 2 (legacy GuestNicInfoV1 struct) is not decoded by the simulator');
    default:
      throw new Error(`unknown SetGuestInfo type ${type}`);
  }
}

/** String values end in one NUL (§8.2); a value must not contain more of them. */
function cString(body: Buffer): string {
  const end = body.length > 0 && body[body.length - 1] === 0 ? body.length - 1 : body.length;
  const text = body.subarray(0, end);
  if (text.includes(0)) throw new Error('string value contains a NUL byte');
  return text.toString('utf8');
}

/** Type 7: decimal hundredths of a second (§8.2). */
function decodeUptime(body: Buffer): { hundredths: number; seconds: number } {
  const s = cString(body);
  if (!/^\d{1,15}$/.test(s)) throw new Error(`uptime is not a decimal number: ${JSON.stringify(s.slice(0, 40))}`);
  const hundredths = Number(s);
  return { hundredths, seconds: hundredths / 100 };
}

// ---- NIC info (types 9, 10; §8.3) -------------------------------------------------

function family(ip: TypedIpAddress): GuestIp['family'] {
  if (ip.type === InetAddressType.IPV4) return 'IPv4';
  if (ip.type === InetAddressType.IPV6) return 'IPv6';
  return 'other';
}

function dnsView(d: DnsConfigInfo | undefined): GuestDns | null {
  if (!d) return null;
  return {
    hostName: d.hostName ?? null,
    domainName: d.domainName ?? null,
    servers: d.servers.map(typedIpToText),
    searchSuffixes: [...d.searchSuffixes],
  };
}

export function nicInfoView(info: NicInfoV3): GuestNicInfo {
  return {
    nics: info.nics.map((n, index) => ({
      index,
      name: null,
      mac: n.macAddress,
      ips: n.ips.map((e) => {
        const ip: GuestIp = { address: typedIpToText(e.address), prefixLength: e.prefixLength, family: family(e.address) };
        if (e.origin !== undefined) ip.origin = e.origin;
        if (e.status !== undefined) ip.status = e.status;
        return ip;
      }),
      dns: dnsView(n.dnsConfigInfo),
    })),
    routes: info.routes.map((r) => ({
      destination: typedIpToText(r.dest),
      prefixLength: r.prefixLength,
      gateway: r.nextHop ? typedIpToText(r.nextHop) : null,
      nicIndex: r.ifIndex,
      type: r.type,
      metric: r.metric,
    })),
    dns: dnsView(info.dnsConfigInfo),
  };
}

// ---- OS identity (type 11; §8.5) ---------------------------------------------------

/** key='value' pairs with \' and \\ escaped (§8.5). */
export function parseDetailedFields(detailed: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z][A-Za-z0-9]*)='((?:[^'\\]|\\.)*)'/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(detailed)) !== null) {
    const [, key, value] = m;
    if (key !== undefined && value !== undefined) out[key] = value.replace(/\\(.)/g, '$1');
  }
  return out;
}

function decodeDetailed(body: Buffer): GuestOsDetailed {
  const d = parseDetailedDataBody(body);
  if (d.version !== 1) throw new Error(`unsupported HostinfoDetailedDataHeader version ${d.version}`);
  return { ...d, fields: parseDetailedFields(d.detailed) };
}

// ---- Disks (§8.6) ---------------------------------------------------------------------

function byteCount(v: unknown, what: string): number {
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new Error(`disk ${what} is not a decimal string`);
  return Number(v);
}

/** `SetGuestDiskInfo {"version":"1","disks":[…]}\0` — names are base64 mount points. */
function decodeDiskJson(body: Buffer): GuestDisk[] {
  let end = body.length;
  while (end > 0 && body[end - 1] === 0) end--;
  let doc: unknown;
  try {
    doc = JSON.parse(body.subarray(0, end).toString('utf8'));
  } catch (e) {
    throw new Error(`disk info is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const o = doc as { version?: unknown; disks?: unknown };
  if (typeof o !== 'object' || o === null) throw new Error('disk info is not a JSON object');
  if (o.version !== String(DISK_INFO_VERSION_1)) throw new Error(`unsupported disk info version ${JSON.stringify(o.version)}`);
  if (!Array.isArray(o.disks)) throw new Error('disk info has no "disks" array');
  return o.disks.map((raw: unknown) => {
    const d = raw as { name?: unknown; free?: unknown; size?: unknown; fstype?: unknown; devices?: unknown };
    if (typeof d !== 'object' || d === null || typeof d.name !== 'string') throw new Error('disk entry without a name');
    const devices = d.devices === undefined ? [] : d.devices;
    if (!Array.isArray(devices) || !devices.every((x) => typeof x === 'string')) throw new Error('disk "devices" is not a list of strings');
    return {
      mountPoint: Buffer.from(d.name, 'base64').toString('utf8'),
      freeBytes: byteCount(d.free, 'free'),
      capacityBytes: byteCount(d.size, 'size'),
      fsType: typeof d.fstype === 'string' ? d.fstype : null,
      devices: devices as string[],
    };
  });
}

/** Type 3: count byte, then {u64 free LE, u64 total LE, char name[100]} × count, then 2 zero bytes. */
function decodeLegacyDisks(body: Buffer): GuestDisk[] {
  if (body.length < 1) throw new Error('empty legacy disk list');
  const count = body[0] ?? 0;
  const need = 1 + count * LEGACY_PARTITION_ENTRY_SIZE;
  if (body.length < need) throw new Error(`legacy disk list of ${count} entries needs ${need} bytes, got ${body.length}`);
  const disks: GuestDisk[] = [];
  for (let i = 0; i < count; i++) {
    const off = 1 + i * LEGACY_PARTITION_ENTRY_SIZE;
    const name = body.subarray(off + 16, off + 16 + PARTITION_NAME_SIZE);
    const nul = name.indexOf(0);
    disks.push({
      mountPoint: name.subarray(0, nul < 0 ? name.length : nul).toString('utf8'),
      freeBytes: Number(body.readBigUInt64LE(off)),
      capacityBytes: Number(body.readBigUInt64LE(off + 8)),
      fsType: null,
      devices: [],
    });
  }
  return disks;
}

// ---- Stats (type 8; §8.7) --------------------------------------------------------------

const STAT_NAMES = new Map<number, string>(Object.entries(StatId).map(([k, v]) => [v, k]));

function statValue(valueType: number, v: Buffer | undefined): number | null {
  if (v === undefined) return null;
  if (valueType === GuestValueType.DOUBLE) {
    // §8.7: a float if exactly representable, else a double; empty for 0.
    if (v.length === 0) return 0;
    if (v.length === 4) return v.readFloatLE(0);
    if (v.length === 8) return v.readDoubleLE(0);
    throw new Error(`floating stat value of ${v.length} bytes`);
  }
  if (v.length > 8) throw new Error(`integer stat value of ${v.length} bytes`);
  return Number(decodeUintDatum(v));
}

function decodeStats(body: Buffer): GuestStats {
  if (body.length < LEGACY_HEADER_SIZE) throw new Error(`stats body of ${body.length} bytes is shorter than the ${LEGACY_HEADER_SIZE}-byte header`);
  let d: ReturnType<typeof decodeStatsBody>;
  try {
    d = decodeStatsBody(body);
  } catch (e) {
    throw new Error(`truncated stat record: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    version: d.version,
    memTotalKiB: d.flags & MEMINFO_MEMTOTAL ? Number(d.memTotal) : null,
    hugePagesTotal: d.flags & MEMINFO_HUGEPAGESTOTAL ? Number(d.hugePagesTotal) : null,
    stats: d.stats.map((s) => ({
      id: s.id,
      name: STAT_NAMES.get(s.id) ?? null,
      units: s.units,
      valueType: s.valueType,
      value: statValue(s.valueType, s.value),
    })),
  };
}
