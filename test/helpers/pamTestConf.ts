/**
 * A private PAM configuration directory for the tests (pam_start_confdir,
 * Linux-PAM ≥ 1.4): our shipped pam/vmtoolsd plus copies of the system's
 * common-auth and common-account it includes, so tests never depend on (or
 * modify) /etc/pam.d/vmtoolsd.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './native-env';

export function makePamConfDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmtgo-pam-'));
  fs.copyFileSync(path.join(REPO_ROOT, 'pam', 'vmtoolsd'), path.join(dir, 'vmtoolsd'));
  for (const f of ['common-auth', 'common-account']) fs.copyFileSync(path.join('/etc/pam.d', f), path.join(dir, f));
  return dir;
}
