/**
 * Throw-away Unix accounts for the guest-operation suites: created with a
 * known password (chpasswd), optionally locked (usermod -L) or expired
 * (chage -E 1), and always removed (userdel -r) — call removeAll() in an
 * `after` hook; it is also registered on process exit as a last resort.
 * Names are `vmtgo<pid><tag>` so parallel runs never collide.
 */
import { execFileSync } from 'node:child_process';

export interface TestUser {
  name: string;
  password: string;
  uid: number;
  gid: number;
  home: string;
}

const created = new Set<string>();

/** useradd & co. take /etc/passwd's lock; another process may hold it for a moment. */
function run(cmd: string, args: string[], input?: string): string {
  let last: unknown;
  for (let i = 0; i < 20; i++) {
    try {
      return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      last = e;
      const msg = String((e as { stderr?: string }).stderr ?? '');
      if (!/lock|try again/i.test(msg)) break;
      execFileSync('sleep', ['0.2']);
    }
  }
  throw last;
}

export function usersAvailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    execFileSync('sh', ['-c', 'command -v useradd && command -v chpasswd && command -v userdel'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'useradd/chpasswd/userdel missing';
  }
}

export function createUser(
  tag: string,
  o: { password?: string; locked?: boolean; expired?: boolean; shell?: string; groups?: string[] } = {},
): TestUser {
  const name = `vmtgo${process.pid}${tag}`.slice(0, 31);
  const password = o.password ?? `Pw-${tag}-${process.pid}-ok`;
  run('useradd', ['-m', '-s', o.shell ?? '/bin/sh', ...(o.groups?.length ? ['-G', o.groups.join(',')] : []), name]);
  created.add(name);
  run('chpasswd', [], `${name}:${password}\n`);
  if (o.locked) run('usermod', ['-L', name]);
  if (o.expired) run('chage', ['-E', '1', name]);
  const [, , uid, gid, , home] = run('getent', ['passwd', name]).trim().split(':');
  return { name, password, uid: Number(uid), gid: Number(gid), home };
}

export function createGroup(tag: string): string {
  const name = `vmtgog${process.pid}${tag}`.slice(0, 31);
  run('groupadd', [name]);
  createdGroups.add(name);
  return name;
}
const createdGroups = new Set<string>();

export function removeAll(): void {
  for (const name of created) {
    try {
      run('userdel', ['-r', '-f', name]);
    } catch {
      /* already gone */
    }
    created.delete(name);
  }
  for (const g of createdGroups) {
    try {
      run('groupdel', [g]);
    } catch {
      /* already gone */
    }
    createdGroups.delete(g);
  }
}

process.on('exit', () => removeAll());
