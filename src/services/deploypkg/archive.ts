/**
 * Archive readers for the package payload (customization.md §4.3): CAB
 * (type 0, what vCenter sends to Linux guests), ZIP (type 1) and gzipped tar
 * (type 2). All three are parsed here, in memory, from a bounded buffer; no
 * external tool (libmspack, unzip) sees the bytes. Every reader only
 * *describes* entries; extract.ts decides what may be written.
 *
 * Supported compression: CAB none/MSZIP, ZIP stored/deflate, tar.gz gzip.
 * CAB LZX/Quantum, multi-cabinet sets and encrypted ZIP entries are refused
 * with a clear error (docs/differences.md).
 */
import * as zlib from 'node:zlib';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'device' | 'fifo' | 'other';

export interface ArchiveEntry {
  /** The name as stored (CAB backslashes already turned into '/'). */
  name: string;
  kind: EntryKind;
  /** Contents of a file entry. */
  data?: Buffer;
  /** Target of a link entry. */
  linkTarget?: string;
  /** Unix permission bits when the format has them. */
  mode?: number;
}

export interface ArchiveLimits {
  /** Total uncompressed bytes (size-bomb guard). */
  maxTotalBytes: number;
  /** Number of entries. */
  maxEntries: number;
}

/** vCenter packages are around a megabyte (Perl scripts and cust.cfg); 64 MiB leaves room and bounds memory. */
export const DEFAULT_LIMITS: ArchiveLimits = { maxTotalBytes: 64 * 1024 * 1024, maxEntries: 10000 };

export class ArchiveError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveError';
  }
}

function need(buf: Buffer, off: number, len: number, what: string): void {
  if (off < 0 || len < 0 || off + len > buf.length) throw new ArchiveError(`truncated archive (${what})`);
}

function cstring(buf: Buffer, off: number, max: number, what: string): { s: Buffer; next: number } {
  const end = buf.indexOf(0, off);
  if (end < 0 || end - off > max) throw new ArchiveError(`unterminated or too long ${what}`);
  return { s: buf.subarray(off, end), next: end + 1 };
}

/** Inflates with a hard output cap so a deflate bomb fails instead of filling memory. */
function inflate(kind: 'raw' | 'gzip', data: Buffer, cap: number, dictionary?: Buffer): Buffer {
  const opts: zlib.ZlibOptions = { maxOutputLength: Math.max(1, cap) };
  if (dictionary && dictionary.length > 0) opts.dictionary = dictionary;
  try {
    return kind === 'raw' ? zlib.inflateRawSync(data, opts) : zlib.gunzipSync(data, opts);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new ArchiveError('size limit exceeded while decompressing (size bomb?)');
    throw new ArchiveError(`decompression failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

class Budget {
  used = 0;
  entries = 0;
  constructor(private readonly limits: ArchiveLimits) {}
  get left(): number {
    return this.limits.maxTotalBytes - this.used;
  }
  take(bytes: number): void {
    if (bytes > this.left) throw new ArchiveError(`uncompressed size exceeds the limit of ${this.limits.maxTotalBytes} bytes`);
    this.used += bytes;
  }
  entry(): void {
    if (++this.entries > this.limits.maxEntries) throw new ArchiveError(`more than ${this.limits.maxEntries} entries`);
  }
}

// --- CAB (MS-CAB; what libmspack reads for the reference) -------------------

const CAB_FLAG_PREV = 0x1;
const CAB_FLAG_NEXT = 0x2;
const CAB_FLAG_RESERVE = 0x4;
const CAB_ATTR_UTF = 0x80;
const CAB_ATTR_DIR = 0x10;
const CAB_COMP_NONE = 0;
const CAB_COMP_MSZIP = 1;
/** MSZIP blocks hold at most 32 KiB uncompressed, and the deflate window carries over between blocks. */
const MSZIP_BLOCK = 32768;

export function readCab(buf: Buffer, limits: ArchiveLimits = DEFAULT_LIMITS): ArchiveEntry[] {
  need(buf, 0, 36, 'CAB header');
  if (buf.toString('latin1', 0, 4) !== 'MSCF') throw new ArchiveError('not a cabinet (no MSCF signature)');
  const cbCabinet = buf.readUInt32LE(8);
  if (cbCabinet > buf.length) throw new ArchiveError(`cabinet size ${cbCabinet} exceeds the payload (${buf.length})`);
  const coffFiles = buf.readUInt32LE(16);
  const cFolders = buf.readUInt16LE(26);
  const cFiles = buf.readUInt16LE(28);
  const flags = buf.readUInt16LE(30);
  if (flags & (CAB_FLAG_PREV | CAB_FLAG_NEXT)) throw new ArchiveError('multi-cabinet sets are not supported');
  let off = 36;
  let cbCFFolder = 0;
  let cbCFData = 0;
  if (flags & CAB_FLAG_RESERVE) {
    need(buf, off, 4, 'CAB reserve');
    const cbCFHeader = buf.readUInt16LE(off);
    cbCFFolder = buf[off + 2];
    cbCFData = buf[off + 3];
    off += 4 + cbCFHeader;
  }
  const folders: Array<{ data: Buffer[] | undefined; start: number; blocks: number; comp: number }> = [];
  for (let i = 0; i < cFolders; i++) {
    need(buf, off, 8 + cbCFFolder, 'CFFOLDER');
    folders.push({ data: undefined, start: buf.readUInt32LE(off), blocks: buf.readUInt16LE(off + 4), comp: buf.readUInt16LE(off + 6) & 0xf });
    off += 8 + cbCFFolder;
  }
  const budget = new Budget(limits);
  const folderBytes = (i: number): Buffer => {
    const f = folders[i];
    if (f.comp !== CAB_COMP_NONE && f.comp !== CAB_COMP_MSZIP) {
      throw new ArchiveError(`CAB compression type ${f.comp} is not supported (only none and MSZIP)`);
    }
    const out: Buffer[] = [];
    let p = f.start;
    let history = Buffer.alloc(0);
    let total = 0;
    for (let b = 0; b < f.blocks; b++) {
      need(buf, p, 8 + cbCFData, 'CFDATA');
      const cbData = buf.readUInt16LE(p + 4);
      const cbUncomp = buf.readUInt16LE(p + 6);
      p += 8 + cbCFData;
      need(buf, p, cbData, 'CFDATA block');
      const raw = buf.subarray(p, p + cbData);
      p += cbData;
      let block: Buffer;
      if (f.comp === CAB_COMP_NONE) {
        block = raw;
      } else {
        if (raw.length < 2 || raw[0] !== 0x43 || raw[1] !== 0x4b) throw new ArchiveError('MSZIP block without its CK signature');
        if (cbUncomp > MSZIP_BLOCK) throw new ArchiveError('MSZIP block larger than 32 KiB');
        block = inflate('raw', raw.subarray(2), Math.min(MSZIP_BLOCK, budget.left + 1), history);
        history = Buffer.concat([history, block]).subarray(-MSZIP_BLOCK);
      }
      if (block.length !== cbUncomp) throw new ArchiveError(`CFDATA block size mismatch (${block.length} != ${cbUncomp})`);
      total += block.length;
      if (total > budget.left) throw new ArchiveError(`uncompressed size exceeds the limit of ${limits.maxTotalBytes} bytes`);
      out.push(block);
    }
    return Buffer.concat(out);
  };
  const decoded = new Map<number, Buffer>();
  // Decoded folder bytes have their own budget: files may share folder bytes, folders may hold unreferenced data.
  const folderBudget = new Budget(limits);
  const entries: ArchiveEntry[] = [];
  off = coffFiles;
  for (let i = 0; i < cFiles; i++) {
    budget.entry();
    need(buf, off, 16, 'CFFILE');
    const cbFile = buf.readUInt32LE(off);
    const uoffFolderStart = buf.readUInt32LE(off + 4);
    const iFolder = buf.readUInt16LE(off + 8);
    const attribs = buf.readUInt16LE(off + 14);
    const { s, next } = cstring(buf, off + 16, 1024, 'CAB file name');
    off = next;
    if (iFolder >= folders.length) throw new ArchiveError(`file ${i} names folder ${iFolder} (continued or missing folder)`);
    let data = decoded.get(iFolder);
    if (!data) {
      data = folderBytes(iFolder);
      folderBudget.take(data.length);
      decoded.set(iFolder, data);
    }
    if (uoffFolderStart + cbFile > data.length) throw new ArchiveError(`file ${i} lies beyond its folder's data`);
    budget.take(cbFile);
    const name = (attribs & CAB_ATTR_UTF ? s.toString('utf8') : s.toString('latin1')).replace(/\\/g, '/');
    entries.push({ name, kind: attribs & CAB_ATTR_DIR ? 'dir' : 'file', data: Buffer.from(data.subarray(uoffFolderStart, uoffFolderStart + cbFile)) });
  }
  return entries;
}

// --- tar (ustar, GNU long names, pax path/linkpath) inside gzip -------------

function octal(b: Buffer, what: string): number {
  // GNU base-256 sizes (high bit set) are refused: no legitimate package needs > 8 GiB entries.
  if (b[0] & 0x80) throw new ArchiveError(`tar ${what} in base-256 is not supported`);
  const s = b.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new ArchiveError(`bad tar ${what} "${s}"`);
  return parseInt(s, 8);
}

function tarString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

function paxRecords(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let p = 0;
  while (p < data.length) {
    const sp = data.indexOf(0x20, p);
    if (sp < 0) break;
    const len = parseInt(data.toString('latin1', p, sp), 10);
    if (!Number.isFinite(len) || len <= sp - p || p + len > data.length) throw new ArchiveError('bad pax header record');
    const rec = data.toString('utf8', sp + 1, p + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    p += len;
  }
  return out;
}

export function readTar(tar: Buffer, limits: ArchiveLimits = DEFAULT_LIMITS): ArchiveEntry[] {
  const budget = new Budget(limits);
  const entries: ArchiveEntry[] = [];
  let p = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (p + 512 <= tar.length) {
    const h = tar.subarray(p, p + 512);
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    if (octal(h.subarray(148, 156), 'checksum') !== sum) throw new ArchiveError('tar header checksum mismatch');
    const size = octal(h.subarray(124, 136), 'size');
    const type = String.fromCharCode(h[156] || 0x30);
    p += 512;
    need(tar, p, size, 'tar entry data');
    const data = tar.subarray(p, p + size);
    p += Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      if (size > 64 * 1024) throw new ArchiveError('oversized tar extension header');
      if (type === 'L') longName = tarString(data);
      else if (type === 'K') longLink = tarString(data);
      else if (type === 'x') pax = paxRecords(data);
      continue; // 'g' (global pax) is ignored
    }
    budget.entry();
    const prefix = h[345] ? tarString(h.subarray(345, 500)) : '';
    const base = tarString(h.subarray(0, 100));
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${base}` : base);
    const linkTarget = pax.linkpath ?? longLink ?? tarString(h.subarray(157, 257));
    longName = longLink = undefined;
    pax = {};
    const mode = octal(h.subarray(100, 108), 'mode') & 0o7777;
    const kind: EntryKind =
      type === '0' || type === '7' ? 'file' : type === '5' ? 'dir' : type === '2' ? 'symlink' : type === '1' ? 'hardlink'
        : type === '3' || type === '4' ? 'device' : type === '6' ? 'fifo' : 'other';
    if (kind === 'file') budget.take(size);
    entries.push({ name, kind, mode, data: kind === 'file' ? Buffer.from(data) : undefined, linkTarget: kind === 'symlink' || kind === 'hardlink' ? linkTarget : undefined });
  }
  return entries;
}

export function readTarGz(gz: Buffer, limits: ArchiveLimits = DEFAULT_LIMITS): ArchiveEntry[] {
  // The tar framing adds headers and padding: allow for it on top of the content budget.
  const tar = inflate('gzip', gz, limits.maxTotalBytes + 512 * (2 * limits.maxEntries + 2));
  return readTar(tar, limits);
}

// --- ZIP (local headers located through the central directory) -------------

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

export function readZip(buf: Buffer, limits: ArchiveLimits = DEFAULT_LIMITS): ArchiveEntry[] {
  // End of central directory: last 22..22+65535 bytes.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ArchiveError('not a zip archive (no end of central directory)');
  const count = buf.readUInt16LE(eocd + 10);
  const cdOff = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOff === 0xffffffff) throw new ArchiveError('zip64 archives are not supported');
  const budget = new Budget(limits);
  const entries: ArchiveEntry[] = [];
  let p = cdOff;
  for (let i = 0; i < count; i++) {
    budget.entry();
    need(buf, p, 46, 'zip central directory');
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new ArchiveError('bad zip central directory entry');
    const madeBy = buf[p + 5];
    const gpFlags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const usize = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    const ext = buf.readUInt32LE(p + 38);
    const lho = buf.readUInt32LE(p + 42);
    need(buf, p + 46, nlen + xlen + clen, 'zip central directory name');
    const name = buf.toString(gpFlags & 0x800 ? 'utf8' : 'latin1', p + 46, p + 46 + nlen);
    p += 46 + nlen + xlen + clen;
    if (gpFlags & 1) throw new ArchiveError(`zip entry ${name} is encrypted`);
    need(buf, lho, 30, 'zip local header');
    if (buf.readUInt32LE(lho) !== 0x04034b50) throw new ArchiveError('bad zip local header');
    const dataAt = lho + 30 + buf.readUInt16LE(lho + 26) + buf.readUInt16LE(lho + 28);
    need(buf, dataAt, csize, 'zip entry data');
    const unixMode = madeBy === 3 ? (ext >>> 16) & 0xffff : 0;
    const fmt = unixMode & S_IFMT;
    let kind: EntryKind = name.endsWith('/') ? 'dir' : 'file';
    if (fmt === S_IFLNK) kind = 'symlink';
    else if (fmt === S_IFDIR) kind = 'dir';
    else if (fmt !== 0 && fmt !== S_IFREG) kind = 'device';
    let data: Buffer | undefined;
    if (kind === 'file' || kind === 'symlink') {
      budget.take(usize);
      const comp = buf.subarray(dataAt, dataAt + csize);
      if (method === 0) data = Buffer.from(comp);
      else if (method === 8) data = inflate('raw', comp, usize + 1);
      else throw new ArchiveError(`zip compression method ${method} is not supported`);
      if (data.length !== usize) throw new ArchiveError(`zip entry ${name}: size mismatch`);
    }
    entries.push({
      name, kind, mode: unixMode ? unixMode & 0o7777 : undefined,
      data: kind === 'file' ? data : undefined,
      linkTarget: kind === 'symlink' ? data?.toString('utf8') : undefined,
    });
  }
  return entries;
}
