/**
 * Writes archive entries into the private staging directory, refusing
 * everything that could land outside it (customization.md §4.3 "Security",
 * §9): absolute names, `..` components, links of any kind (a CAB cannot hold
 * them; tar and zip can, and no customization package needs one), device
 * files and FIFOs, oversized content (the readers' budget).
 *
 * Why this is enough: the staging directory is fresh (mkdtemp), mode 0700
 * and root's, and we never create a symlink in it, so no component of a
 * path we build can be redirected; files are still opened with O_NOFOLLOW
 * and O_EXCL as a second line of defence.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ArchiveEntry } from './archive';

export class UnsafeEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeEntryError';
  }
}

const FILE_MODE = 0o640; // §4.3: the reference extracts under umask 0027
const DIR_MODE = 0o750;

/** The entry name as path components under staging, or throws UnsafeEntryError. */
export function safeComponents(name: string): string[] {
  if (name.includes('\0')) throw new UnsafeEntryError(`entry name with a NUL byte`);
  if (name.startsWith('/')) throw new UnsafeEntryError(`absolute entry name "${name}"`);
  if (/^[A-Za-z]:/.test(name)) throw new UnsafeEntryError(`drive-qualified entry name "${name}"`);
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new UnsafeEntryError(`entry name with "..": "${name}"`);
  if (parts.length === 0) throw new UnsafeEntryError(`empty entry name "${name}"`);
  return parts;
}

/** Refuses the whole archive before writing anything when one entry is unsafe. */
export function checkEntries(entries: ArchiveEntry[]): void {
  for (const e of entries) {
    safeComponents(e.name);
    switch (e.kind) {
      case 'file':
      case 'dir':
        break;
      case 'symlink':
        throw new UnsafeEntryError(`symbolic link "${e.name}" -> "${e.linkTarget ?? ''}" refused`);
      case 'hardlink':
        throw new UnsafeEntryError(`hard link "${e.name}" -> "${e.linkTarget ?? ''}" refused`);
      case 'device':
        throw new UnsafeEntryError(`device file "${e.name}" refused`);
      case 'fifo':
        throw new UnsafeEntryError(`FIFO "${e.name}" refused`);
      default:
        throw new UnsafeEntryError(`entry "${e.name}" of an unsupported type refused`);
    }
  }
}

function ensureDir(p: string): void {
  try {
    fs.mkdirSync(p, { mode: DIR_MODE });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) throw new UnsafeEntryError(`${p} exists and is not a directory`);
}

/** Extracts `entries` under `staging` (which must exist). Returns the relative names written. */
export function extractEntries(staging: string, entries: ArchiveEntry[]): string[] {
  checkEntries(entries);
  const root = path.resolve(staging);
  const written: string[] = [];
  for (const e of entries) {
    const parts = safeComponents(e.name);
    let dir = root;
    const dirs = e.kind === 'dir' ? parts : parts.slice(0, -1);
    for (const c of dirs) {
      dir = path.join(dir, c);
      ensureDir(dir);
    }
    if (e.kind === 'dir') continue;
    const target = path.join(dir, parts[parts.length - 1]);
    if (!target.startsWith(root + path.sep)) throw new UnsafeEntryError(`entry "${e.name}" resolves outside staging`);
    // A later entry of the same name replaces the earlier one, as libmspack's extraction does.
    try {
      const st = fs.lstatSync(target);
      if (!st.isFile()) throw new UnsafeEntryError(`entry "${e.name}" collides with a directory`);
      fs.unlinkSync(target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, FILE_MODE);
    try {
      fs.writeSync(fd, e.data ?? Buffer.alloc(0));
    } finally {
      fs.closeSync(fd);
    }
    written.push(parts.join('/'));
  }
  return written;
}
