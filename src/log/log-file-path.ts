/**
 * Log file names as open-vm-tools builds them (lib/glibUtils/fileLogger.c,
 * libvmtools/vmtoolsLog.c):
 *  - default `/var/log/vmware-<domain>-<user>.log`;
 *  - `${USER}`, `${PID}` and `${IDX}` are expanded in `<domain>.data`;
 *  - rotated file N (N ≥ 1) is `${IDX}` = N, or, without `${IDX}`, the index
 *    inserted before the last extension: vmsvc.log → vmsvc.1.log.
 */
import * as os from 'node:os';

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? String(process.getuid?.() ?? 'unknown');
  }
}

export function defaultLogFilePath(domain: string): string {
  return `/var/log/vmware-${domain}-${userName()}.log`;
}

/**
 * The reference strips leading and trailing '"' from `<domain>.data`
 * (VMToolsGetLogFilePath); an empty result means "no path".
 */
export function cleanLogFilePath(value: string): string | undefined {
  const s = value.replace(/^"+/, '').replace(/"+$/, '');
  return s === '' ? undefined : s;
}

/** The path of log file `index` (0 = the active one) for a template. */
export function expandLogFilePath(template: string, index: number, pid: number = process.pid): string {
  const hasIndex = template.includes('${IDX}');
  let p = template
    .split('${USER}').join(userName())
    .split('${PID}').join(String(pid))
    .split('${IDX}').join(String(index));
  if (index !== 0 && !hasIndex) {
    const dot = p.lastIndexOf('.');
    const slash = p.lastIndexOf('/');
    p = dot > slash ? `${p.slice(0, dot)}.${index}${p.slice(dot)}` : `${p}.${index}`;
  }
  return p;
}
