/**
 * Memory/performance stats for `SetGuestInfo  8 ` (core-services.md §8.7),
 * following open-vm-tools' perfMonLinux.c: a 112-byte legacy header, then one
 * self-describing record per published stat. Rates need two samples, so the
 * collector keeps the previous one; the first report carries no rate values.
 */
import { GuestInfoSources } from './sources';

// guestStats.h
export const GUESTMEMINFO_V5 = 5;
export const MEMINFO_MEMTOTAL = 1 << 0;
export const MEMINFO_HUGEPAGESTOTAL = 1 << 10;
export const LEGACY_HEADER_SIZE = 112;
export const GUEST_TOOLS_NAMESPACE = '_tools/v1';

export const GuestDatum = {
  NAMESPACE: 0x02,
  ID: 0x04,
  VALUE_TYPE_ENUM: 0x08,
  VALUE_UNIT_ENUM: 0x20,
  VALUE: 0x80,
} as const;

export const GuestValueType = { UINT64: 9, DOUBLE: 11 } as const;

/** GuestValueUnits: base | scale | modifier (guestStats.h). */
export const GuestUnits = {
  NUMBER: 2,
  BYTES: 3,
  KIB: 3 | 0x0800,
  HUGE_PAGES: 3 | 0x8800,
  PAGES: 3 | 0x8000,
  PAGES_PER_SECOND: 3 | 0x8000 | 0x0040,
  NUMBER_PER_SECOND: 2 | 0x0040,
} as const;

/** GUEST_STAT_TOOLS_IDS used on Linux. */
export const StatId = {
  CONTEXT_SWAP_RATE: 2,
  MEM_ACTIVE_FILE_CACHE: 3,
  MEM_FREE: 4,
  MEM_NEEDED: 5,
  MEM_PHYS_USABLE: 6,
  PAGE_IN_RATE: 7,
  PAGE_OUT_RATE: 8,
  SWAP_SPACE_REMAINING: 9,
  PHYSICAL_PAGE_SIZE: 10,
  HUGE_PAGE_SIZE: 11,
  HUGE_PAGES_TOTAL: 12,
  MEM_NEEDED_RESERVATION: 13,
  LOW_WATER_MARK: 22,
  MEM_AVAILABLE: 25,
  MEM_BUFFERS: 26,
  MEM_CACHED: 27,
  MEM_INACTIVE_FILE: 32,
  MEM_SLAB_RECLAIM: 34,
  MEM_TOTAL: 60,
  CPU_RUN_QUEUE: 61,
  DISK_REQUEST_QUEUE: 62,
  DISK_REQUEST_QUEUE_AVG: 63,
} as const;

const MEMINFO = '/proc/meminfo';
const VMSTAT = '/proc/vmstat';
const STAT = '/proc/stat';
const ZONEINFO = '/proc/zoneinfo';
const UPTIME = '/proc/uptime';
const DISKSTATS = '/proc/diskstats';
const SYS_BLOCK = '/sys/block';

interface StatQuery {
  file?: string;
  /** Field name; a prefix when `prefix` is true (the reference's "regexp" stats). */
  field?: string;
  prefix?: boolean;
  id: number;
  units: number;
  type: number;
  /** Sent to the host; unpublished ones only feed derived values. */
  published: boolean;
}

const U64 = GuestValueType.UINT64;
const DBL = GuestValueType.DOUBLE;

/** perfMonLinux.c guestInfoQuerySpecTable (released + internal rows), in wire order. */
export const STAT_QUERIES: readonly StatQuery[] = [
  { file: MEMINFO, field: 'Hugepagesize', id: StatId.HUGE_PAGE_SIZE, units: GuestUnits.KIB, type: U64, published: true },
  { file: ZONEINFO, field: 'present', prefix: true, id: StatId.MEM_PHYS_USABLE, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'MemFree', id: StatId.MEM_FREE, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'Active(file)', id: StatId.MEM_ACTIVE_FILE_CACHE, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'SwapFree', id: StatId.SWAP_SPACE_REMAINING, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'HugePages_Total', id: StatId.HUGE_PAGES_TOTAL, units: GuestUnits.HUGE_PAGES, type: U64, published: true },
  { file: VMSTAT, field: 'pgpgin', id: StatId.PAGE_IN_RATE, units: GuestUnits.PAGES_PER_SECOND, type: DBL, published: true },
  { file: VMSTAT, field: 'pgpgout', id: StatId.PAGE_OUT_RATE, units: GuestUnits.PAGES_PER_SECOND, type: DBL, published: true },
  { file: STAT, field: 'ctxt', id: StatId.CONTEXT_SWAP_RATE, units: GuestUnits.NUMBER_PER_SECOND, type: DBL, published: true },
  { id: StatId.PHYSICAL_PAGE_SIZE, units: GuestUnits.BYTES, type: U64, published: true },
  { id: StatId.MEM_NEEDED, units: GuestUnits.KIB, type: U64, published: true },
  { id: StatId.MEM_NEEDED_RESERVATION, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'MemAvailable', id: StatId.MEM_AVAILABLE, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'SReclaimable', id: StatId.MEM_SLAB_RECLAIM, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'Buffers', id: StatId.MEM_BUFFERS, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'Cached', id: StatId.MEM_CACHED, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'MemTotal', id: StatId.MEM_TOTAL, units: GuestUnits.KIB, type: U64, published: true },
  { file: MEMINFO, field: 'Inactive(file)', id: StatId.MEM_INACTIVE_FILE, units: GuestUnits.KIB, type: U64, published: false },
  { file: ZONEINFO, field: 'low', prefix: true, id: StatId.LOW_WATER_MARK, units: GuestUnits.PAGES, type: U64, published: false },
  { file: STAT, field: 'procs_running', id: StatId.CPU_RUN_QUEUE, units: GuestUnits.NUMBER, type: U64, published: true },
  { id: StatId.DISK_REQUEST_QUEUE, units: GuestUnits.NUMBER, type: U64, published: true },
  { id: StatId.DISK_REQUEST_QUEUE_AVG, units: GuestUnits.NUMBER, type: DBL, published: true },
];

const U64_MASK = (1n << 64n) - 1n;
const U32_MASK = 0xffffffffn;

/** One sample: stat values by id (absent = could not be read) and the /proc/uptime time stamp. */
export interface StatSample {
  values: Map<number, bigint>;
  timeStamp: number | undefined;
}

interface DiskQueueEntry {
  name: string;
  weightedMs: bigint;
}

function parseU64(s: string | undefined): bigint | undefined {
  if (s === undefined || !/^\d+/.test(s)) return undefined;
  return BigInt((/^\d+/.exec(s) ?? ['0'])[0]) & U64_MASK;
}

function addValue(values: Map<number, bigint>, id: number, v: bigint): void {
  const prev = values.get(id);
  values.set(id, prev === undefined ? v : (prev + v) & U64_MASK);
}

/**
 * GuestInfoProcData: "name value" lines split on blanks; with a separator
 * (":" for meminfo) the name must contain it and is cut at its last one.
 */
function collectFile(file: string, text: string, separator: string | undefined, values: Map<number, bigint>): void {
  const exact = new Map<string, StatQuery>();
  const prefixes: StatQuery[] = [];
  for (const q of STAT_QUERIES) {
    if (q.file !== file || q.field === undefined) continue;
    if (q.prefix) prefixes.push(q);
    else exact.set(q.field, q);
  }
  for (const line of text.split('\n')) {
    const tokens = line.split(/[ \t]+/).filter((t) => t !== '');
    let name = tokens[0];
    if (name === undefined) continue;
    if (separator !== undefined) {
      const at = name.lastIndexOf(separator);
      if (at < 0) continue;
      name = name.slice(0, at);
    }
    const value = parseU64(tokens[1]);
    if (value === undefined) continue;
    const fieldName = name;
    const q = exact.get(fieldName) ?? prefixes.find((p) => p.field !== undefined && fieldName.startsWith(p.field));
    if (q) addValue(values, q.id, value);
  }
}

function parseUptimeSeconds(text: string | undefined): number | undefined {
  const m = text === undefined ? null : /^\s*([0-9.]+)\s+([0-9.]+)/.exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

function bytesNeeded(v: bigint): number {
  if (v === 0n) return 0;
  if (v <= 0xffn) return 1;
  if (v <= 0xffffn) return 2;
  if (v <= U32_MASK) return 4;
  return 8;
}

function uintDatum(v: bigint): Buffer {
  const n = bytesNeeded(v);
  const full = Buffer.alloc(8);
  full.writeBigUInt64LE(v, 0);
  return full.subarray(0, n);
}

function datum(data: Buffer): Buffer {
  const size = Buffer.alloc(2);
  size.writeUInt16LE(data.length, 0);
  return Buffer.concat([size, data]);
}

/** One stat record (GuestInfoAppendStat); `value` undefined = could not be read. */
export function encodeStat(
  emitNamespace: boolean,
  id: number,
  units: number,
  valueType: number,
  value: Buffer | undefined,
): Buffer {
  let flags = GuestDatum.ID | GuestDatum.VALUE_TYPE_ENUM | GuestDatum.VALUE_UNIT_ENUM;
  if (emitNamespace) flags |= GuestDatum.NAMESPACE;
  if (value !== undefined) flags |= GuestDatum.VALUE;
  const head = Buffer.alloc(4);
  head.writeUInt32LE(flags, 0);
  const parts: Buffer[] = [head];
  if (emitNamespace) parts.push(datum(Buffer.from(`${GUEST_TOOLS_NAMESPACE}\0`, 'latin1')));
  parts.push(datum(uintDatum(BigInt(id))), datum(uintDatum(BigInt(valueType))), datum(uintDatum(BigInt(units))));
  if (value !== undefined) parts.push(datum(value));
  return Buffer.concat(parts);
}

/** A rate as sent: empty when 0, a float if exactly representable, else a double. */
export function encodeRate(rate: number): Buffer {
  if (rate === 0) return Buffer.alloc(0);
  if (Math.fround(rate) === rate) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(rate, 0);
    return b;
  }
  const b = Buffer.alloc(8);
  b.writeDoubleLE(rate, 0);
  return b;
}

/** The 112-byte GuestMemInfoLegacy header (core-services.md §8.7 table). */
export function legacyHeader(memTotalKiB: bigint | undefined, hugePagesTotal: bigint | undefined): Buffer {
  const b = Buffer.alloc(LEGACY_HEADER_SIZE);
  let flags = 0;
  b.writeUInt32LE(GUESTMEMINFO_V5, 0);
  if (memTotalKiB !== undefined) {
    flags |= MEMINFO_MEMTOTAL;
    b.writeBigUInt64LE(memTotalKiB, 8);
  }
  if (hugePagesTotal !== undefined) {
    flags |= MEMINFO_HUGEPAGESTOTAL;
    b.writeBigUInt64LE(hugePagesTotal, 88);
  }
  b.writeUInt32LE(flags, 4);
  return b;
}

const minU = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** GuestInfoDeriveMemNeeded, in uint64 arithmetic like the reference. */
function deriveMemNeeded(values: Map<number, bigint>, pageSize: number): void {
  let memAvailable = 0n;
  const avail = values.get(StatId.MEM_AVAILABLE);
  if (avail !== undefined) {
    memAvailable = avail;
  } else {
    const free = values.get(StatId.MEM_FREE);
    const cached = values.get(StatId.MEM_CACHED);
    const buffers = values.get(StatId.MEM_BUFFERS);
    const low = values.get(StatId.LOW_WATER_MARK);
    if (free !== undefined && cached !== undefined && buffers !== undefined && low !== undefined) {
      const lowKiB = (low * BigInt(Math.floor(pageSize / 1024))) & U64_MASK;
      memAvailable = (free - lowKiB) & U64_MASK;
      const activeFile = values.get(StatId.MEM_ACTIVE_FILE_CACHE);
      const inactiveFile = values.get(StatId.MEM_INACTIVE_FILE);
      let pageCache =
        activeFile !== undefined && inactiveFile !== undefined ? activeFile + inactiveFile : cached + buffers;
      pageCache -= minU(pageCache / 2n, lowKiB);
      memAvailable = (memAvailable + pageCache) & U64_MASK;
      const slab = values.get(StatId.MEM_SLAB_RECLAIM);
      if (slab !== undefined) memAvailable = (memAvailable + slab - minU(slab / 2n, lowKiB)) & U64_MASK;
      if (memAvailable >= 1n << 63n) memAvailable = 0n; // negative as int64
      values.set(StatId.MEM_AVAILABLE, memAvailable);
    }
  }
  const phys = values.get(StatId.MEM_PHYS_USABLE);
  let needed = 0n;
  let reservation = 0n;
  if (phys !== undefined) {
    reservation = phys / 20n; // keep 5 % of RAM for surges
    memAvailable = memAvailable > reservation ? memAvailable - reservation : 0n;
    needed = phys >= memAvailable ? phys - memAvailable : 0n;
  }
  values.set(StatId.MEM_NEEDED, needed);
  values.set(StatId.MEM_NEEDED_RESERVATION, reservation);
}

/**
 * Keeps the previous sample and the per-disk weighted I/O times between
 * calls; `sample()` returns the complete type 8 body.
 */
export class MemStatsCollector {
  private previous: StatSample | undefined;
  private diskQueue: DiskQueueEntry[] = [];

  constructor(private readonly src: GuestInfoSources) {}

  /** Collects the current values (GuestInfoCollect). */
  collect(): StatSample {
    const values = new Map<number, bigint>();
    const read = (p: string): string => this.src.readFile(p) ?? '';
    collectFile(MEMINFO, read(MEMINFO), ':', values);
    collectFile(VMSTAT, read(VMSTAT), undefined, values);
    collectFile(STAT, read(STAT), undefined, values);
    collectFile(ZONEINFO, read(ZONEINFO), undefined, values);
    const timeStamp = parseUptimeSeconds(this.src.readFile(UPTIME));
    const pageSize = this.src.pageSize();
    values.set(StatId.PHYSICAL_PAGE_SIZE, BigInt(pageSize));

    // zoneinfo "present" counts pages; fall back to MemTotal when it is missing.
    const present = values.get(StatId.MEM_PHYS_USABLE);
    if (present !== undefined) {
      values.set(StatId.MEM_PHYS_USABLE, (present * BigInt(Math.floor(pageSize / 1024))) & U64_MASK);
    } else {
      const total = values.get(StatId.MEM_TOTAL);
      if (total !== undefined) values.set(StatId.MEM_PHYS_USABLE, total);
    }

    deriveMemNeeded(values, pageSize);

    // Do not count ourselves in the run queue, matching "sar -q".
    const runQueue = values.get(StatId.CPU_RUN_QUEUE);
    if (runQueue !== undefined && runQueue > 0n) values.set(StatId.CPU_RUN_QUEUE, runQueue - 1n);

    this.collectDiskQueues(values);
    return { values, timeStamp };
  }

  /**
   * GuestInfoProcDiskStatsData: in-flight I/Os summed over real disks with
   * traffic, and the weighted-time delta since the previous sample — only
   * when the set of disks has not changed in between.
   */
  private collectDiskQueues(values: Map<number, bigint>): void {
    const current: DiskQueueEntry[] = [];
    let inflight = 0n;
    for (const line of (this.src.readFile(DISKSTATS) ?? '').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 14) continue;
      const name = f[2] ?? '';
      const reads = parseU64(f[3]);
      const writes = parseU64(f[7]);
      const inFlight = parseU64(f[11]);
      const weighted = parseU64(f[13]);
      if (reads === undefined || writes === undefined || inFlight === undefined || weighted === undefined) continue;
      if ((reads === 0n && writes === 0n) || !this.src.exists(`${SYS_BLOCK}/${name}`)) continue;
      inflight += inFlight & U32_MASK;
      current.push({ name, weightedMs: weighted & U32_MASK });
    }
    const prev = this.diskQueue;
    const sameDisks = prev.length > 0 && prev.length === current.length && prev.every((p, i) => p.name === current[i]?.name);
    if (sameDisks) {
      let delta = 0n;
      current.forEach((c, i) => {
        delta += (c.weightedMs - (prev[i]?.weightedMs ?? 0n)) & U32_MASK;
      });
      values.set(StatId.DISK_REQUEST_QUEUE, inflight);
      values.set(StatId.DISK_REQUEST_QUEUE_AVG, delta);
    }
    this.diskQueue = current;
  }

  /** Rate of a counter between two samples (GuestInfoAppendRate); undefined when not computable. */
  private rate(id: number, cur: StatSample, prev: StatSample | undefined): number | undefined {
    const c = cur.values.get(id);
    const p = prev?.values.get(id);
    if (c === undefined || p === undefined || cur.timeStamp === undefined || prev?.timeStamp === undefined) {
      return undefined;
    }
    const dt = cur.timeStamp - prev.timeStamp;
    if (!(dt > 0)) return undefined; // the reference would divide by zero here
    let delta: number;
    if (id === StatId.DISK_REQUEST_QUEUE_AVG) {
      // Already a delta, in ms; ×100 / 1000 keeps two decimals the host would otherwise drop.
      delta = Number(c) / 10;
    } else if (c < p && p <= U32_MASK) {
      delta = Number((c - p) & U32_MASK); // a 32-bit kernel counter wrapped
    } else {
      delta = Number((c - p) & U64_MASK);
    }
    return delta / dt;
  }

  /** Encodes a sample against the previous one (GuestInfoEncodeStats). */
  encode(cur: StatSample, prev: StatSample | undefined): Buffer {
    const parts = [legacyHeader(cur.values.get(StatId.MEM_PHYS_USABLE), cur.values.get(StatId.HUGE_PAGES_TOTAL))];
    let emitNamespace = true;
    for (const q of STAT_QUERIES) {
      if (!q.published) continue;
      let value: Buffer | undefined;
      if (q.type === GuestValueType.DOUBLE) {
        const r = this.rate(q.id, cur, prev);
        value = r === undefined ? undefined : encodeRate(r);
      } else {
        const v = cur.values.get(q.id);
        value = v === undefined ? undefined : uintDatum(v);
      }
      parts.push(encodeStat(emitNamespace, q.id, q.units, q.type, value));
      emitNamespace = false;
    }
    return Buffer.concat(parts);
  }

  /** Collects, encodes against the previous sample, and remembers this one. */
  sample(): Buffer {
    const cur = this.collect();
    const body = this.encode(cur, this.previous);
    this.previous = cur;
    return body;
  }
}

/** A decoded stat record, for tests and the simulator. */
export interface DecodedStat {
  namespace?: string;
  id: number;
  valueType: number;
  units: number;
  /** Raw value bytes; undefined when the VALUE datum is absent. */
  value?: Buffer;
}

/** Value of a little-endian unsigned datum of 0–8 bytes. */
export function decodeUintDatum(b: Buffer): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] ?? 0);
  return v;
}

/** Parses a type 8 body into its legacy header fields and stat records. */
export function decodeStatsBody(body: Buffer): {
  version: number;
  flags: number;
  memTotal: bigint;
  hugePagesTotal: bigint;
  stats: DecodedStat[];
} {
  const version = body.readUInt32LE(0);
  const flags = body.readUInt32LE(4);
  const memTotal = body.readBigUInt64LE(8);
  const hugePagesTotal = body.readBigUInt64LE(88);
  const stats: DecodedStat[] = [];
  let off = LEGACY_HEADER_SIZE;
  while (off < body.length) {
    const datumFlags = body.readUInt32LE(off);
    off += 4;
    const out: Partial<DecodedStat> & { id?: number } = {};
    for (let bit = 0x01; bit <= 0x80; bit <<= 1) {
      if (!(datumFlags & bit)) continue;
      const size = body.readUInt16LE(off);
      const data = body.subarray(off + 2, off + 2 + size);
      off += 2 + size;
      if (bit === GuestDatum.NAMESPACE) out.namespace = data.toString('latin1').replace(/\0$/, '');
      else if (bit === GuestDatum.ID) out.id = Number(decodeUintDatum(data));
      else if (bit === GuestDatum.VALUE_TYPE_ENUM) out.valueType = Number(decodeUintDatum(data));
      else if (bit === GuestDatum.VALUE_UNIT_ENUM) out.units = Number(decodeUintDatum(data));
      else if (bit === GuestDatum.VALUE) out.value = Buffer.from(data);
    }
    const stat: DecodedStat = { id: out.id ?? 0, valueType: out.valueType ?? 0, units: out.units ?? 0 };
    if (out.namespace !== undefined) stat.namespace = out.namespace;
    if (out.value !== undefined) stat.value = out.value;
    stats.push(stat);
  }
  return { version, flags, memTotal, hugePagesTotal, stats };
}

