/**
 * What the halt/reboot backends need to know about the system: which init
 * runs as PID 1 (as this process sees it), whether we run in a container,
 * and whether our PID namespace is the host's.
 *
 * Everything is read from files under configurable roots (default / and
 * /proc), so tests can describe a fake system without touching this one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type InitKind = 'systemd' | 'busybox' | 'sysvinit' | 'unknown';

export interface InitInfo {
  kind: InitKind;
  /** /proc/1/comm. */
  comm: string;
  /** /proc/1/exe target ('' if unreadable). */
  exe: string;
}

/**
 * PROC_PID_INIT_INO (include/linux/proc_ns.h): the inode of the initial PID
 * namespace, the same on every Linux system.
 */
export const INITIAL_PID_NS_INODE = 0xeffffffc;

function read(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/**
 * systemd names itself "systemd" (comm). busybox init is the busybox binary
 * (/sbin/init is a link to it, so /proc/1/exe ends in "busybox"). Any other
 * PID 1 whose comm is "init" is taken as sysvinit. Anything else (tini,
 * dumb-init, a shell, the agent itself in a container) is unknown.
 */
export function detectInit(procDir = '/proc'): InitInfo {
  const comm = read(path.join(procDir, '1', 'comm')).trim();
  let exe = '';
  try {
    exe = fs.readlinkSync(path.join(procDir, '1', 'exe'));
  } catch {
    /* no permission, or a kernel thread */
  }
  const exeName = path.basename(exe.replace(/ \(deleted\)$/, ''));
  let kind: InitKind = 'unknown';
  if (comm === 'systemd' || exeName === 'systemd') kind = 'systemd';
  else if (exeName === 'busybox') kind = 'busybox';
  else if (comm === 'init' || exeName === 'init') kind = 'sysvinit';
  return { kind, comm, exe };
}

/** The inode of this process's PID namespace, or null. */
export function pidNamespaceInode(procDir = '/proc'): number | null {
  try {
    const m = /\[(\d+)\]/.exec(fs.readlinkSync(path.join(procDir, 'self', 'ns', 'pid')));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export interface ContainerInfo {
  container: boolean;
  /** What gave it away ('' when not in a container). */
  evidence: string;
  /** Our PID namespace is the host's (initial) one: `--pid=host`, or no container. */
  hostPidNamespace: boolean;
}

/**
 * Container markers: /.dockerenv (Docker), /run/.containerenv (podman),
 * $container (systemd-nspawn, podman, LXC), a container cgroup path.
 */
export function detectContainer(root = '/', procDir = '/proc', env: NodeJS.ProcessEnv = process.env): ContainerInfo {
  const ns = pidNamespaceInode(procDir);
  const hostPidNamespace = ns === INITIAL_PID_NS_INODE;
  const at = (p: string): string => path.join(root, p);
  let evidence = '';
  if (fs.existsSync(at('.dockerenv'))) evidence = '/.dockerenv';
  else if (fs.existsSync(at('run/.containerenv'))) evidence = '/run/.containerenv';
  else if (env.container) evidence = `container=${env.container}`;
  else {
    const cg = read(path.join(procDir, 'self', 'cgroup'));
    const m = /(docker|kubepods|libpod|containerd|lxc)/.exec(cg);
    if (m) evidence = `cgroup ${m[1]}`;
  }
  return { container: evidence !== '', evidence, hostPidNamespace };
}
