/**
 * Reads /etc/os-release (or /usr/lib/os-release) the way open-vm-tools'
 * HostinfoReadDistroFile does (hostinfoPosix.c; core-services.md §8.5): only
 * six keys matter, double quotes are stripped, single quotes are not, and
 * the "distro" string is every found value joined by a space in file order.
 */
import { MAX_DETAILED_FIELD_LEN } from './constants';
import { GuestInfoSources } from './sources';

export const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'] as const;

/** In the reference's osReleaseFields order. */
export const OS_RELEASE_KEYS = ['PRETTY_NAME', 'NAME', 'VERSION_ID', 'BUILD_ID', 'VERSION', 'CPE_NAME'] as const;
export type OsReleaseKey = (typeof OS_RELEASE_KEYS)[number];

export interface OsRelease {
  values: Partial<Record<OsReleaseKey, string>>;
  /** All found values joined by " " in file order — the reference's "distro" string. */
  distro: string;
  /** Number of keys found (the reference's score). */
  score: number;
}

/**
 * Parses one os-release text. Returns undefined when no key is found or a
 * quoted value has no closing quote (the reference rejects the file then).
 */
export function parseOsRelease(text: string): OsRelease | undefined {
  const values: Partial<Record<OsReleaseKey, string>> = {};
  const found: string[] = [];
  for (const rawLine of text.split('\n')) {
    for (const key of OS_RELEASE_KEYS) {
      const prefix = `${key}=`;
      if (!rawLine.startsWith(prefix)) continue;
      let data = rawLine.slice(prefix.length);
      if (data.startsWith('"')) {
        const close = data.lastIndexOf('"');
        if (close <= 0) return undefined;
        data = data.slice(1, close);
      }
      // Values are held in MAX_DETAILED_FIELD_LEN-byte buffers.
      if (data.length >= MAX_DETAILED_FIELD_LEN) data = data.slice(0, MAX_DETAILED_FIELD_LEN - 1);
      values[key] = data;
      found.push(data);
    }
  }
  if (found.length === 0) return undefined;
  return { values, distro: found.join(' '), score: Object.keys(values).length };
}

export function readOsRelease(src: GuestInfoSources): OsRelease | undefined {
  for (const p of OS_RELEASE_PATHS) {
    const text = src.readFile(p);
    if (text === undefined || text.length === 0) continue;
    const parsed = parseOsRelease(text);
    if (parsed) return parsed;
  }
  return undefined;
}
