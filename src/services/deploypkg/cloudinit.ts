/**
 * The cloud-init side of the engine (customization.md §4.5, §4.7, §4.8):
 * whether to hand the customization to cloud-init, and waiting for it
 * before the reboot.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FLAG_IGNORE_CLOUD_INIT } from './header';

/** §4.5 decision values (numeric as in linuxDeployment.c). */
export enum CloudInitDecision {
  OK = 0,
  INTERNAL_ERROR = 1,
  WRONG_VERSION = 2,
  NOT_INSTALLED = 3,
  DISABLED = 4,
  NO_CUST_CFG = 5,
  IGNORE = 6,
}

/** §4.5.1: `<int>[-.]+<int>` after skipping leading non-digits; unparseable → 0.0. */
export function parseCloudInitVersion(output: string): { major: number; minor: number } {
  const s = output.slice(0, 255);
  const m = /^\D*(\d+)[-.]+(\d+)/.exec(s);
  if (!m) return { major: 0, minor: 0 };
  return { major: Number(m[1]), minor: Number(m[2]) };
}

/** §4.5: raw cloud-init data needs cloud-init 21.1 or later. */
export function rawDataSupported(v: { major: number; minor: number }): boolean {
  return v.major > 21 || (v.major === 21 && v.minor >= 1);
}

/** §4.5.2: the ERE the reference matches each line against. */
const DISABLE_RE = /^\s*disable_vmware_customization\s*:\s*(true|false)\s*(\s+#.*)?$/;

/** The last matching line of one file, or undefined. */
function flagInFile(file: string): boolean | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let value: boolean | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.slice(0, 255); // the reference reads lines of at most 255 chars
    const m = DISABLE_RE.exec(line);
    if (m) value = m[1] === 'true';
  }
  return value;
}

/**
 * §4.5.2: cloud.cfg.d/*.cfg in descending alphasort order, first file that
 * sets the flag wins; else cloud.cfg. `etcCloud` is `<root>/etc/cloud`.
 * Returns true when VMware customization through cloud-init is enabled
 * (an explicit `false`).
 */
export function vmwareCustomizationEnabled(etcCloud: string): boolean {
  const d = path.join(etcCloud, 'cloud.cfg.d');
  let names: string[] = [];
  try {
    names = fs.readdirSync(d).filter((n) => n.endsWith('.cfg'));
  } catch {
    /* no directory */
  }
  // alphasort is strcoll; in the C locale that is a byte order.
  names.sort((a, b) => (Buffer.compare(Buffer.from(b), Buffer.from(a))));
  for (const n of names) {
    const f = path.join(d, n);
    try {
      if (!fs.statSync(f).isFile()) continue;
    } catch {
      continue;
    }
    const v = flagInFile(f);
    if (v !== undefined) return v === false;
  }
  return flagInFile(path.join(etcCloud, 'cloud.cfg')) === false;
}

export interface DecisionInput {
  /** `cloud-init -v` exit code and output, or undefined when it could not run at all. */
  version: { code: number; stdout: string; stderr: string } | undefined;
  flags: number;
  imcDir: string;
  etcCloud: string;
}

/** §4.5 decision(imcDir, flags). */
export function decideCloudInit(i: DecisionInput): CloudInitDecision {
  if (!i.version || i.version.code !== 0) return CloudInitDecision.NOT_INSTALLED;
  if (i.flags & FLAG_IGNORE_CLOUD_INIT) return CloudInitDecision.IGNORE;
  if (!fs.existsSync(path.join(i.imcDir, 'cust.cfg'))) return CloudInitDecision.NO_CUST_CFG;
  if (fs.existsSync(path.join(i.imcDir, 'metadata'))) {
    const v = parseCloudInitVersion(i.version.stdout !== '' ? i.version.stdout : i.version.stderr);
    return rawDataSupported(v) ? CloudInitDecision.OK : CloudInitDecision.WRONG_VERSION;
  }
  return vmwareCustomizationEnabled(i.etcCloud) ? CloudInitDecision.OK : CloudInitDecision.DISABLED;
}

/** §4.8: cloud-init is still busy while `cloud-init status` prints one of these. */
export function cloudInitStillRunning(r: { code: number; stdout: string }): boolean {
  if (r.code === 1) return false;
  return /not run|not started|running/.test(r.stdout);
}

/** §4.7: the user script file of the package (first readdir hit of ^script[A-Za-z0-9]*\.bat). */
export function findUserScript(imcDir: string): string | undefined {
  try {
    return fs.readdirSync(imcDir).find((n) => /^script[A-Za-z0-9]*\.bat/.test(n));
  } catch {
    return undefined;
  }
}
