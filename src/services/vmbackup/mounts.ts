/**
 * Which mount points a quiesce freezes (quiesce.md §4.1, syncDriverPosix.c
 * and mntinfo.h), with the restrictions that keep the simulator and tests
 * away from this machine's real file systems.
 */
import * as fs from 'node:fs';

export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
}

/** §4.1: remote or otherwise unfreezable sources the reference skips. */
const REMOTE_TYPES = new Set(['autofs', 'cifs', 'nfs', 'nfs4', 'smbfs', 'vmhgfs']);
/**
 * Ours: pseudo, memory and overlay file systems, skipped up front instead of
 * opened and dropped at EOPNOTSUPP (docs/differences.md). overlay: FIFREEZE
 * of an overlay freezes nothing underneath; the upper layer's own FS is in
 * the table and frozen there.
 */
const PSEUDO_TYPES = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'ramfs', 'overlay', 'cgroup', 'cgroup2',
  'securityfs', 'debugfs', 'tracefs', 'pstore', 'bpf', 'mqueue', 'hugetlbfs', 'configfs',
  'fusectl', 'binfmt_misc', 'rpc_pipefs', 'nsfs', 'efivarfs', 'selinuxfs', 'autofs',
  'squashfs', 'iso9660', 'fuse.gvfsd-fuse', 'fuse.lxcfs', 'nfsd', 'ceph', 'glusterfs',
]);

/** /proc/mounts escapes space, tab, newline and backslash as \ooo. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountTable(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || f[0].startsWith('#')) continue;
    out.push({ device: unescapeMount(f[0]), mountPoint: unescapeMount(f[1]), fsType: f[2] });
  }
  return out;
}

/**
 * §4.1 localMounts(): skip remote types and http(s) devices, keep the first
 * mount of each device, and PREPEND (reverse table order: a later mount may
 * live on an earlier one's file system and must be frozen first).
 */
export function localMounts(entries: MountEntry[]): MountEntry[] {
  const seen = new Set<string>();
  const out: MountEntry[] = [];
  for (const e of entries) {
    if (REMOTE_TYPES.has(e.fsType)) continue;
    if (/^https?:\/\//i.test(e.device)) continue;
    if (PSEUDO_TYPES.has(e.fsType) || e.fsType.startsWith('fuse')) continue;
    if (seen.has(e.device)) continue;
    seen.add(e.device);
    out.unshift(e);
  }
  return out;
}

/**
 * GLib GPatternSpec semantics (§4.1): `*` any string, `?` any one character,
 * both also match `/`; comma-separated, empty items skipped, no trimming.
 */
export function compileExclusions(list: readonly string[] | string | undefined): RegExp[] {
  const items = typeof list === 'string' ? list.split(',') : list ?? [];
  return items
    .filter((p) => p !== '')
    .map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's'));
}

export function isExcluded(mountPoint: string, patterns: RegExp[]): boolean {
  return patterns.some((re) => re.test(mountPoint));
}

export interface TargetInfo {
  major: number;
  minor: number;
  isDirectory: boolean;
  isMountRoot: boolean;
  isLoop: boolean;
}

export interface SelectOptions {
  /** The mount table; /proc/self/mounts (what /etc/mtab links to) by default. */
  mountTable?: string;
  /** When set, only these mount points may be frozen (tests). */
  allow?: readonly string[];
  /** Simulator mode: only mount roots on loop devices may be frozen. */
  loopOnly: boolean;
  inspect: (p: string) => TargetInfo;
  excluded: RegExp[];
  /** §1.1/§4.1: the volumes string; explicit paths only when it starts with '/'. */
  volumes?: string;
}

export interface Selection {
  paths: string[];
  skipped: Array<{ path: string; why: string }>;
}

/** The ordered list of mount points to hand to the freeze holder. */
export function selectFreezeTargets(o: SelectOptions): Selection {
  let paths: string[];
  if (o.volumes !== undefined && o.volumes.startsWith('/')) {
    paths = o.volumes.split(' ').filter((p) => p !== '');
  } else {
    const text = fs.readFileSync(o.mountTable ?? '/proc/self/mounts', 'utf8');
    paths = localMounts(parseMountTable(text)).map((m) => m.mountPoint);
  }
  const skipped: Selection['skipped'] = [];
  const kept: string[] = [];
  for (const p of paths) {
    if (isExcluded(p, o.excluded)) {
      skipped.push({ path: p, why: 'excludedFileSystems' });
      continue;
    }
    if (o.allow && !o.allow.includes(p)) {
      skipped.push({ path: p, why: 'not in the allow-list' });
      continue;
    }
    if (o.loopOnly) {
      let info: TargetInfo;
      try {
        info = o.inspect(p);
      } catch (e) {
        skipped.push({ path: p, why: e instanceof Error ? e.message : String(e) });
        continue;
      }
      if (!info.isLoop || !info.isMountRoot) {
        skipped.push({ path: p, why: 'simulator mode: not a mount point on a loop device' });
        continue;
      }
    }
    kept.push(p);
  }
  return { paths: kept, skipped };
}
