/**
 * OS identity for types 5, 6 and 11 (core-services.md §8.2, §8.5):
 *  - short name (type 6): guest-OS id + "-64" on 64-bit, e.g. "debian12-64";
 *  - full name (type 5): "<uname -s> <uname -r> <distro>", where <distro> is
 *    the reference's concatenation of the os-release values it reads (so on
 *    Debian 12 it is "Debian GNU/Linux 12 (bookworm) Debian GNU/Linux 12 12
 *    (bookworm)" — verified against Debian's libvmtools 12.2, see report);
 *  - detailed data (type 11): "key='value'" pairs in a fixed key order,
 *    behind a 648-byte HostinfoDetailedDataHeader.
 */
import {
  DETAILED_HEADER_FULLNAME_OFFSET,
  DETAILED_HEADER_SHORTNAME_OFFSET,
  DETAILED_HEADER_SIZE,
  HOSTINFO_STRUCT_HEADER_VERSION,
  MAX_DETAILED_FIELD_LEN,
  MAX_DETAILED_STRING_LEN,
  MAX_OS_FULLNAME_LEN,
  MAX_OS_NAME_LEN,
} from './constants';
import { readOsRelease } from './osRelease';
import { OS_64BIT_SUFFIX, defaultLinuxNames, distroShortName, systemBitness } from './osShortName';
import { GuestInfoSources } from './sources';

/** detailedDataFields of hostinfoPosix.c, in wire order (core-services.md §8.5). */
export const DETAILED_DATA_KEYS = [
  'architecture',
  'bitness',
  'buildNumber',
  'cpeString',
  'distroAddlVersion',
  'distroName',
  'distroVersion',
  'familyName',
  'kernelVersion',
  'prettyName',
] as const;
export type DetailedDataKey = (typeof DETAILED_DATA_KEYS)[number];

export interface OsIdentity {
  /** Type 6 value. */
  shortName: string;
  /** Type 5 value. */
  fullName: string;
  /** Type 11 string (without the header). */
  detailed: string;
}

/** Escapes ' and \ with a backslash and drops trailing blanks (HostinfoOSDetailedData). */
export function formatDetailedData(fields: Partial<Record<DetailedDataKey, string>>): string {
  const parts: string[] = [];
  for (const key of DETAILED_DATA_KEYS) {
    const value = fields[key];
    if (value === undefined || value === '') continue;
    const escaped = value.replace(/['\\]/g, (c) => `\\${c}`).replace(/\s+$/, '');
    parts.push(`${key}='${escaped}'`);
  }
  const s = parts.join(' ');
  return s.length >= MAX_DETAILED_STRING_LEN ? s.slice(0, MAX_DETAILED_STRING_LEN - 1) : s;
}

function cut(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

/** Gathers the three OS identity values from uname and os-release. */
export function gatherOsIdentity(src: GuestInfoSources): OsIdentity {
  const u = src.uname();
  const bitness = systemBitness(u.machine);
  const isArm = /^(aarch64|arm)/.test(u.machine);
  const fields: Partial<Record<DetailedDataKey, string>> = {
    architecture: isArm ? 'Arm' : 'X86',
    bitness: String(bitness),
    familyName: u.sysname,
    kernelVersion: u.release,
    distroName: u.sysname, // default; os-release NAME replaces it
  };

  let distro: string;
  let shortBase: string;
  const rel = readOsRelease(src);
  if (rel) {
    const v = rel.values;
    if (v.PRETTY_NAME !== undefined) fields.prettyName = v.PRETTY_NAME;
    if (v.NAME !== undefined) fields.distroName = v.NAME;
    if (v.VERSION_ID !== undefined) fields.distroVersion = v.VERSION_ID;
    if (v.BUILD_ID !== undefined) fields.buildNumber = v.BUILD_ID;
    if (v.VERSION !== undefined) fields.distroAddlVersion = v.VERSION;
    if (v.CPE_NAME !== undefined) fields.cpeString = v.CPE_NAME;
    distro = rel.distro;
    shortBase =
      distroShortName(distro, v.VERSION_ID, u.machine, u.release) ?? defaultLinuxNames(u.release).shortName;
  } else {
    const d = defaultLinuxNames(u.release);
    distro = d.distro;
    shortBase = d.shortName;
  }

  const shortName = cut(bitness === 64 ? `${shortBase}${OS_64BIT_SUFFIX}` : shortBase, MAX_OS_NAME_LEN);
  const fullName = cut(`${u.sysname} ${u.release} ${distro}`.replace(/\n$/, ''), MAX_OS_FULLNAME_LEN);
  for (const k of DETAILED_DATA_KEYS) {
    const v = fields[k];
    if (v !== undefined && v.length >= MAX_DETAILED_FIELD_LEN) fields[k] = v.slice(0, MAX_DETAILED_FIELD_LEN - 1);
  }
  return { shortName, fullName, detailed: formatDetailedData(fields) };
}

/**
 * The type 11 body (core-services.md §8.5): u32 LE version 1, shortName[129],
 * fullName[513], 2 padding bytes, then the detailed string and its NUL.
 * The names are NUL-padded and cut to 128 / 512 bytes.
 */
export function detailedDataBody(shortName: string, fullName: string, detailed: string): Buffer {
  const text = Buffer.from(detailed, 'utf8');
  const body = Buffer.alloc(DETAILED_HEADER_SIZE + text.length + 1);
  body.writeUInt32LE(HOSTINFO_STRUCT_HEADER_VERSION, 0);
  Buffer.from(shortName, 'utf8').copy(body, DETAILED_HEADER_SHORTNAME_OFFSET, 0, MAX_OS_NAME_LEN);
  Buffer.from(fullName, 'utf8').copy(body, DETAILED_HEADER_FULLNAME_OFFSET, 0, MAX_OS_FULLNAME_LEN);
  text.copy(body, DETAILED_HEADER_SIZE);
  return body;
}

/** Parses a type 11 body back into its parts (for tests and the simulator). */
export function parseDetailedDataBody(body: Buffer): { version: number; shortName: string; fullName: string; detailed: string } {
  if (body.length < DETAILED_HEADER_SIZE + 1) throw new Error(`detailed data body too short: ${body.length}`);
  const cstr = (b: Buffer): string => {
    const nul = b.indexOf(0);
    return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
  };
  return {
    version: body.readUInt32LE(0),
    shortName: cstr(body.subarray(DETAILED_HEADER_SHORTNAME_OFFSET, DETAILED_HEADER_SHORTNAME_OFFSET + MAX_OS_NAME_LEN + 1)),
    fullName: cstr(body.subarray(DETAILED_HEADER_FULLNAME_OFFSET, DETAILED_HEADER_FULLNAME_OFFSET + MAX_OS_FULLNAME_LEN + 1)),
    detailed: cstr(body.subarray(DETAILED_HEADER_SIZE)),
  };
}
