/**
 * The tools version this daemon reports to the host (core-services.md §2.1,
 * §3, §3.1), and why:
 *
 * vmtoolsd-node implements the guest side of open-vm-tools 13.1 as the spec
 * describes it, so it reports that version (13.1.0 → 13344) with install
 * type 4 (open-vm-tools, `TOOLS_TYPE_OVT`). vCenter then treats it as
 * guest-managed open-vm-tools at the current version: features gated on the
 * tools version (guest customization, quiesced snapshots, guest operations)
 * are offered, and the UI does not show "not installed" (govmomi's toolbox
 * comment; open-vm-tools#262, #151). The build number and the description
 * are our own, so vmware.log and `guestinfo.vmtools.description` say which
 * agent is really running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** core-services.md §3.1: (major << 10) + (minor << 5) + base. */
export function encodeToolsVersion(major: number, minor: number, base: number): number {
  return (major << 10) + (minor << 5) + base;
}

export const TOOLS_VERSION_MAJOR = 13;
export const TOOLS_VERSION_MINOR = 1;
export const TOOLS_VERSION_BASE = 0;
/** 13344 */
export const TOOLS_VERSION_CURRENT = encodeToolsVersion(TOOLS_VERSION_MAJOR, TOOLS_VERSION_MINOR, TOOLS_VERSION_BASE);
/** `TOOLS_VERSION_UNMANAGED`: INT32_MAX, for old VMXs that parse with %d (§3.1). */
export const TOOLS_VERSION_UNMANAGED = 0x7fffffff;
/** `TOOLS_TYPE_OVT` (§3.1 table). */
export const TOOLS_TYPE_OVT = 4;

export const TOOLS_VERSION_STRING = `${TOOLS_VERSION_MAJOR}.${TOOLS_VERSION_MINOR}.${TOOLS_VERSION_BASE}`;
/** `TOOLS_VERSION_EXT_CURRENT_STR`, used in the `log toolbox: Version:` line (§2.3). */
export const TOOLS_VERSION_EXT_STRING = `${TOOLS_VERSION_STRING}.0`;

function packageVersion(): string {
  for (const p of [path.join(__dirname, '..', '..', '..', 'package.json'), path.join(__dirname, '..', '..', 'package.json')]) {
    try {
      return (JSON.parse(fs.readFileSync(p, 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (dist/src/daemon or src/daemon)
    }
  }
  return '0.0.0';
}

/** Our own version, e.g. 0.1.0. */
export const AGENT_VERSION = packageVersion();

/** A numeric build number as the host expects one: our version as MMmmpp (0.1.0 → 100). */
export const BUILD_NUMBER = String(
  AGENT_VERSION.split('.')
    .slice(0, 3)
    .reduce((n, part) => n * 100 + (Number.parseInt(part, 10) || 0), 0),
);

/** The product word goes where open-vm-tools says "open-vm-tools" (§2.1 table). */
export const PRODUCT_NAME = 'vmtoolsd-node';
