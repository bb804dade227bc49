/**
 * Disk (file system) info: which mounts are reported, their sizes, and the
 * two wire forms (core-services.md §8.6):
 *  - normal: "SetGuestDiskInfo " + JSON text + NUL;
 *  - fallback: "SetGuestInfo  3 " + count byte + packed 116-byte entries + 2 zero bytes.
 *
 * Mounts come from /proc/self/mountinfo in mount order; only the file
 * system types open-vm-tools' wiper library knows as disk-backed are
 * reported (wiperPosix.c gKnownPartitions), and sizes come from statfs.
 */
import {
  DISK_INFO_VERSION_1,
  GUEST_DISK_INFO_COMMAND,
  InfoType,
  LEGACY_PARTITION_ENTRY_SIZE,
  MAX_LEGACY_PARTITIONS,
  PARTITION_NAME_SIZE,
} from './constants';
import { diskDeviceNames } from './diskDevices';
import { setGuestInfoHeader } from './messages';
import { GuestInfoSources } from './sources';

export const PROC_SELF_MOUNTINFO = '/proc/self/mountinfo';

/** File system types reported (wiperPosix.c: the types not marked PARTITION_UNSUPPORTED). */
export const REPORTED_FS_TYPES: ReadonlySet<string> = new Set([
  'ext2',
  'ext3',
  'ext4',
  'hfs',
  'msdos',
  'ntfs',
  'pcfs',
  'reiserfs',
  'ufs',
  'vfat',
  'zfs',
  'xfs',
  'btrfs',
]);

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  /** Mount source, e.g. "/dev/sda1". */
  source: string;
  /** "major:minor" of the device. */
  majorMinor: string;
}

export interface DiskEntry {
  /** Mount point, cut to 99 bytes like the reference's name[100]. */
  name: string;
  freeBytes: bigint;
  totalBytes: bigint;
  fsType: string;
  /** "scsi0:0" … ; empty when unknown or not requested. */
  devices: string[];
}

/** Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/<pid>/mountinfo lines (proc(5)): fields before " - " then fstype and source. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const majorMinor = pre[2];
    const mountPoint = pre[4];
    const fsType = post[0];
    const source = post[1];
    if (majorMinor === undefined || mountPoint === undefined || fsType === undefined || source === undefined) continue;
    out.push({
      mountPoint: unescapeMountField(mountPoint),
      fsType,
      source: unescapeMountField(source),
      majorMinor,
    });
  }
  return out;
}

function cutBytes(s: string, maxBytes: number): string {
  const b = Buffer.from(s, 'utf8');
  return b.length <= maxBytes ? s : b.subarray(0, maxBytes).toString('utf8');
}

export interface DiskGatherOptions {
  includeReserved: boolean;
  reportDevices: boolean;
}

/**
 * Returns undefined when the mount table cannot be read or any reported
 * file system cannot be statfs'ed — the reference then sends nothing.
 */
export function gatherDiskInfo(src: GuestInfoSources, opts: DiskGatherOptions): DiskEntry[] | undefined {
  const mountinfo = src.readFile(PROC_SELF_MOUNTINFO);
  if (mountinfo === undefined) return undefined;
  const disks: DiskEntry[] = [];
  for (const m of parseMountinfo(mountinfo)) {
    if (!REPORTED_FS_TYPES.has(m.fsType)) continue;
    // A file bind-mounted over another file (container images, systemd
    // credentials) is not a disk; open-vm-tools#347 is the same trap in quiesce.
    if (!src.isDirectory(m.mountPoint)) continue;
    const st = src.statfs(m.mountPoint);
    if (!st) return undefined;
    // Root may use reserved blocks; "free" only includes them when asked to (wiperPosix.c).
    const freeBlocks = opts.includeReserved && src.isRoot() ? st.bfree : st.bavail;
    disks.push({
      name: cutBytes(m.mountPoint, PARTITION_NAME_SIZE - 1),
      freeBytes: freeBlocks * st.bsize,
      totalBytes: st.blocks * st.bsize,
      fsType: m.fsType,
      devices: opts.reportDevices ? diskDeviceNames(src, m.source, m.fsType, mountinfo) : [],
    });
  }
  return disks;
}

/** Escapes what would break a JSON string; the reference prints fstype/devices raw. */
function jsonSafe(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/** The JSON message of GuestInfoSendDiskInfoV1, byte for byte (core-services.md §8.6). */
export function diskInfoJsonMessage(disks: readonly DiskEntry[]): Buffer {
  let s = `${GUEST_DISK_INFO_COMMAND} {\n"version":"${DISK_INFO_VERSION_1}",\n"disks":[\n`;
  disks.forEach((d, i) => {
    if (i > 0) s += '},\n';
    const b64 = Buffer.from(d.name, 'utf8').toString('base64');
    s += `{"name":"${b64}","free":"${d.freeBytes}","size":"${d.totalBytes}"`;
    if (d.fsType !== '') s += `,"fstype":"${jsonSafe(d.fsType)}"`;
    if (d.devices.length > 0) s += `,"devices":[${d.devices.map((x) => `"${jsonSafe(x)}"`).join(',')}]`;
  });
  if (disks.length > 0) s += '}\n';
  s += ']}';
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

/** The legacy type 3 message of GuestInfoSendDiskInfoV0 (core-services.md §8.6). */
export function diskInfoLegacyMessage(disks: readonly DiskEntry[]): Buffer {
  const count = Math.min(disks.length, MAX_LEGACY_PARTITIONS);
  // The two trailing zero bytes are an artefact of the reference's size computation.
  const body = Buffer.alloc(1 + count * LEGACY_PARTITION_ENTRY_SIZE + 2);
  body[0] = count;
  for (let i = 0; i < count; i++) {
    const d = disks[i];
    if (!d) break;
    const off = 1 + i * LEGACY_PARTITION_ENTRY_SIZE;
    body.writeBigUInt64LE(d.freeBytes, off);
    body.writeBigUInt64LE(d.totalBytes, off + 8);
    Buffer.from(d.name, 'utf8').copy(body, off + 16, 0, PARTITION_NAME_SIZE - 1);
  }
  return Buffer.concat([setGuestInfoHeader(InfoType.DISK_FREE_SPACE), body]);
}

/** DiskInfoChanged: same entries by name with equal free/total sizes (fstype/devices not compared). */
export function diskInfoEqual(a: readonly DiskEntry[], b: readonly DiskEntry[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x) => {
    const y = b.find((e) => e.name === x.name);
    return y !== undefined && y.freeBytes === x.freeBytes && y.totalBytes === x.totalBytes;
  });
}
