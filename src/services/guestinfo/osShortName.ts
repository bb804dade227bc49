/**
 * The guest OS id (".vmx guestOS" form, e.g. "debian12", "ubuntu", "rhel9")
 * derived from the distro string, following the table and special cases of
 * open-vm-tools' hostinfoPosix.c (shortNameArray, Hostinfo*SetShortName,
 * HostinfoDefaultLinux) with the names of guest_os.h (core-services.md §8.2
 * type 6). The "-64" suffix is added by the caller.
 */

/** guest_os.h STR_OS_64BIT_SUFFIX. */
export const OS_64BIT_SUFFIX = '-64';

/** HostinfoArchString: x86 has no prefix; Arm guests use "arm-". */
export function archPrefix(machine: string): string {
  if (/^(aarch64|arm)/.test(machine)) return 'arm-';
  if (/^riscv/.test(machine)) return 'riscv-';
  return '';
}

/** Hostinfo_GetSystemBitness on Linux: 64 when uname -m names a 64-bit x86 or Arm machine. */
export function systemBitness(machine: string): 32 | 64 {
  return machine.includes('x86_64') || machine.includes('aarch64') ? 64 : 32;
}

function kernelMajorMinor(release: string): [number, number] {
  const m = /^(\d+)(?:\.(\d+))?/.exec(release);
  return [Number(m?.[1] ?? 0), Number(m?.[2] ?? 0)];
}

/**
 * HostinfoDefaultLinux: generic names by kernel version, used when the
 * distro is unknown or undetectable. Kernels newer than 6.x get the
 * "Other Linux M.m kernel" long name and — as in the reference — the
 * other5xlinux id. No arch prefix here, as in the reference.
 */
export function defaultLinuxNames(release: string): { distro: string; shortName: string } {
  const [major, minor] = kernelMajorMinor(release);
  switch (major) {
    case 1:
      return { distro: 'Other OSes', shortName: 'other' };
    case 2:
      if (minor < 4) return { distro: 'Other OSes', shortName: 'other' };
      if (minor < 6) return { distro: 'Other Linux 2.4.x kernel', shortName: 'other24xlinux' };
      return { distro: 'Other Linux 2.6.x kernel', shortName: 'other26xlinux' };
    case 3:
      return { distro: 'Other Linux 3.x kernel', shortName: 'other3xlinux' };
    case 4:
      return { distro: 'Other Linux 4.x kernel', shortName: 'other4xlinux' };
    case 5:
      return { distro: 'Other Linux 5.x kernel', shortName: 'other5xlinux' };
    case 6:
      return { distro: 'Other Linux 6.x kernel', shortName: 'other6xlinux' };
    default:
      return { distro: `Other Linux ${major}.${minor} kernel`, shortName: 'other5xlinux' };
  }
}

interface ShortNameContext {
  version: number;
  distroLower: string;
  arch: string;
  kernelRelease: string;
}

type ShortNameRule = [pattern: string, make: (c: ShortNameContext) => string];

const generic = (name: string) => (c: ShortNameContext): string => `${c.arch}${name}`;

function searchRules(rules: readonly ShortNameRule[], c: ShortNameContext): string | undefined {
  for (const [pattern, make] of rules) {
    if (c.distroLower.includes(pattern)) return make(c);
  }
  return undefined;
}

const SUSE_ENTERPRISE_RULES: readonly ShortNameRule[] = [
  ['desktop 10', generic('sles10')],
  ['desktop 11', generic('sles11')],
  ['desktop 12', generic('sles12')],
  ['desktop 15', generic('sles15')],
  ['desktop 16', generic('sles16')],
  ['server 10', generic('sles10')],
  ['server 11', generic('sles11')],
  ['server 12', generic('sles12')],
  ['server 15', generic('sles15')],
  ['server 16', generic('sles16')],
  ['server for sap applications 12', generic('sles12')],
];

const SUSE_RULES: readonly ShortNameRule[] = [
  ['sun', generic('sjds')],
  ['novell', generic('nld9')],
];

/** First substring match wins; order matters (e.g. "red hat" before "enterprise linux"). */
const SHORT_NAME_RULES: readonly ShortNameRule[] = [
  ['almalinux', generic('almaLinux')],
  ['amazon', (c) => `${c.arch}amazonlinux${Math.max(c.version, 2)}`],
  ['annvix', generic('Annvix')],
  ['arch', generic('Arch')],
  ['arklinux', generic('Arklinux')],
  ['asianux', (c) => (c.version < 3 ? 'asianux' : `${c.arch}asianux${c.version}`)],
  ['aurox', generic('Aurox')],
  ['bigcloud', (c) => defaultLinuxNames(c.kernelRelease).shortName],
  ['black cat', generic('BlackCat')],
  ['centos', (c) => (c.version < 6 ? 'centos' : `${c.arch}centos${c.version}`)],
  ['cobalt', generic('Cobalt')],
  ['conectiva', generic('Conectiva')],
  ['debian', (c) => (c.version <= 4 ? 'debian4' : `${c.arch}debian${c.version}`)],
  [
    'red hat',
    (c) => {
      if (!c.distroLower.includes('enterprise')) return `${c.arch}redhat`;
      return c.version === 0 ? `${c.arch}rhel` : `${c.arch}rhel${c.version}`;
    },
  ],
  ['enterprise linux', (c) => (c.version === 0 ? `${c.arch}oraclelinux` : `${c.arch}oraclelinux${c.version}`)],
  ['fedora', generic('Fedora')],
  ['flatcar', generic('flatcar')],
  ['fusionos', generic('fusionos')],
  ['gentoo', generic('Gentoo')],
  ['immunix', generic('Immunix')],
  ['kylin linux', generic('kylinlinux')],
  ['linux-from-scratch', generic('Linux-From-Scratch')],
  ['linux-ppc', generic('Linux-PPC')],
  ['mandrake', generic('mandrake')],
  ['mandriva', generic('mandriva')],
  ['miracle linux', generic('miraclelinux')],
  ['mklinux', generic('MkLinux')],
  ['opensuse', generic('opensuse')],
  ['oracle', (c) => (c.version === 0 ? `${c.arch}oraclelinux` : `${c.arch}oraclelinux${c.version}`)],
  ['pardus', generic('pardus')],
  ['pld', generic('PLD')],
  ['prolinux', generic('prolinux')],
  ['rocky linux', generic('rockyLinux')],
  ['slackware', generic('Slackware')],
  ['sme server', generic('SMEServer')],
  [
    'suse',
    (c) => {
      if (!c.distroLower.includes('enterprise')) return searchRules(SUSE_RULES, c) ?? `${c.arch}suse`;
      return searchRules(SUSE_ENTERPRISE_RULES, c) ?? `${c.arch}sles`;
    },
  ],
  ['tiny sofa', generic('Tiny Sofa')],
  ['turbolinux', generic('turbolinux')],
  ['ubuntu', generic('ubuntu')],
  ['ultra penguin', generic('UltraPenguin')],
  ['united linux', generic('UnitedLinux')],
  ['va linux', generic('VALinux')],
  ['vmware photon', generic('vmware-photon')],
  ['yellow dog', generic('Yellow Dog')],
];

/**
 * HostinfoGetOSShortName: version = leading integer of VERSION_ID, or of the
 * first digit run in the distro string when there is no VERSION_ID.
 * Returns undefined for an unrecognised distro.
 */
export function distroShortName(
  distro: string,
  versionId: string | undefined,
  machine: string,
  kernelRelease: string,
): string | undefined {
  let versionText = versionId;
  if (versionText === undefined) {
    const firstDigit = distro.search(/\d/);
    if (firstDigit >= 0) versionText = distro.slice(firstDigit);
  }
  const m = versionText !== undefined ? /^\s*\+?(\d+)/.exec(versionText) : null;
  const version = m?.[1] !== undefined ? Number(m[1]) >>> 0 : 0;
  return searchRules(SHORT_NAME_RULES, {
    version,
    distroLower: distro.toLowerCase(),
    arch: archPrefix(machine),
    kernelRelease,
  });
}
