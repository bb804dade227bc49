/**
 * Every tools.conf key vmtoolsd-node reads: type, default, valid range,
 * a one-line description, and whether the key is open-vm-tools' (same name,
 * same meaning — from open-vm-tools/tools.conf, lib/include/conf.h and the
 * plugin sources) or an extension of ours.
 *
 * Only keys that matter for a Linux system service we implement are listed;
 * other reference keys ([appinfo], [containerinfo], Windows-only switches, …)
 * are read without complaint and ignored.
 *
 * The `SCHEMA` object is the source of the `ToolsConfigValues` type, so a
 * consumer gets `values.guestinfo['poll-interval']: number` and
 * `values.vmbackup.timeout: number | undefined` (undefined = the key is unset,
 * where "unset" means something different from any value).
 */
import * as path from 'node:path';

import { decodeBoolean, decodeCommaList, decodeInteger, decodeString, chomp, type Decoded } from './keyfile-values';

export type KeyOrigin = 'reference' | 'extension';
export type KeyType = 'bool' | 'int' | 'string' | 'list' | 'choice' | 'path';

export interface KeySpec<T> {
  readonly type: KeyType;
  readonly default: T;
  /** The default as documentation shows it ("30", "unset: 900 s", …). */
  readonly defaultText: string;
  /** Valid values as documentation shows them. */
  readonly rangeText: string;
  readonly description: string;
  readonly origin: KeyOrigin;
  readonly choices?: readonly string[];
  /** Raw (file) value → typed value, with GLib's rules. */
  decode(raw: string): Decoded<T>;
}

/** A family of keys named by a pattern, e.g. `<domain>.level` in [logging]. */
export interface PatternKeySpec<T> extends KeySpec<T> {
  /** How documentation writes the key, e.g. "<domain>.level". */
  readonly display: string;
  /** Matches the key; group 1 is the variable part. */
  readonly pattern: RegExp;
  /** Names the variable part is expected to take (others get a notice). */
  readonly knownNames?: readonly string[];
}

interface Common {
  description: string;
  origin?: KeyOrigin;
}

const INT32_MAX = 2147483647;
/** open-vm-tools' upper bound for second-valued timers (G_MAXINT / 1000). */
const MAX_SECONDS = Math.floor(INT32_MAX / 1000);

function spec<T>(s: Omit<KeySpec<T>, 'origin'> & { origin?: KeyOrigin }): KeySpec<T> {
  return { ...s, origin: s.origin ?? 'reference' };
}

export function boolKey(def: boolean, c: Common): KeySpec<boolean> {
  return spec({ type: 'bool', default: def, defaultText: String(def), rangeText: 'true, false, 1, 0', decode: decodeBoolean, ...c });
}

/** A boolean whose absence means something the reader decides (`unsetText`). */
export function optionalBoolKey(unsetText: string, c: Common): KeySpec<boolean | undefined> {
  return spec({ type: 'bool', default: undefined, defaultText: `unset: ${unsetText}`, rangeText: 'true, false, 1, 0', decode: decodeBoolean, ...c });
}

function intRange(min: number, max: number, unit: string | undefined, decode: (raw: string) => Decoded<number>) {
  return (raw: string): Decoded<number> => {
    const d = decode(raw);
    if (!d.ok) return d;
    if (d.value < min || d.value > max) return { ok: false, reason: `${d.value} is outside ${min}–${max}${unit ? ` ${unit}` : ''}` };
    return d;
  };
}

export function intKey(def: number, min: number, max: number, c: Common & { unit?: string }): KeySpec<number> {
  const unit = c.unit ? ` ${c.unit}` : '';
  return spec({
    type: 'int', default: def, defaultText: `${def}${unit}`, rangeText: `${min}–${max}${unit}`,
    decode: intRange(min, max, c.unit, decodeInteger), description: c.description, origin: c.origin,
  });
}

export function optionalIntKey(min: number, max: number, unsetText: string, c: Common & { unit?: string }): KeySpec<number | undefined> {
  const unit = c.unit ? ` ${c.unit}` : '';
  return spec({
    type: 'int', default: undefined, defaultText: `unset: ${unsetText}`, rangeText: `${min}–${max}${unit}`,
    decode: intRange(min, max, c.unit, decodeInteger), description: c.description, origin: c.origin,
  });
}

export function stringKey(def: string, c: Common): KeySpec<string> {
  return spec({ type: 'string', default: def, defaultText: def === '' ? '""' : def, rangeText: 'any string', decode: decodeString, ...c });
}

export function optionalStringKey(unsetText: string, c: Common): KeySpec<string | undefined> {
  return spec({ type: 'string', default: undefined, defaultText: `unset: ${unsetText}`, rangeText: 'any string', decode: decodeString, ...c });
}

export function listKey(def: readonly string[] | undefined, unsetText: string, c: Common): KeySpec<readonly string[] | undefined> {
  return spec({
    type: 'list', default: def, defaultText: def ? def.join(',') : `unset: ${unsetText}`,
    rangeText: 'comma-separated glob patterns (* and ?), not trimmed', decode: decodeCommaList, ...c,
  });
}

/** A word from a fixed set; trailing blanks are ignored (g_strchomp). */
export function choiceKey<C extends string>(choices: readonly C[], def: C, c: Common): KeySpec<C> {
  return spec({
    type: 'choice', default: def, defaultText: def, rangeText: choices.join(' | '), choices, ...c,
    decode: (raw: string): Decoded<C> => {
      const s = decodeString(raw);
      if (!s.ok) return s;
      const v = chomp(s.value);
      const hit = choices.find((x) => x === v);
      return hit !== undefined ? { ok: true, value: hit } : { ok: false, reason: `expected one of ${choices.join(', ')}` };
    },
  });
}

export function optionalPathKey(unsetText: string, c: Common): KeySpec<string | undefined> {
  return spec({
    type: 'path', default: undefined, defaultText: `unset: ${unsetText}`, rangeText: 'absolute path', ...c,
    decode: (raw: string): Decoded<string | undefined> => {
      const s = decodeString(raw);
      if (!s.ok) return s;
      const v = chomp(s.value);
      if (!path.isAbsolute(v)) return { ok: false, reason: 'not an absolute path' };
      return { ok: true, value: path.normalize(v) };
    },
  });
}

function pattern<T>(display: string, re: RegExp, base: KeySpec<T>, knownNames?: readonly string[]): PatternKeySpec<T> {
  return { ...base, display, pattern: re, knownNames };
}

// ---------------------------------------------------------------------------

/** Log levels open-vm-tools accepts in `<domain>.level` (vmtoolsLog.c). */
export const GLIB_LOG_LEVELS = ['error', 'critical', 'warning', 'message', 'info', 'debug', 'none'] as const;
export type GLibLogLevel = (typeof GLIB_LOG_LEVELS)[number];

/** Log handlers of `<domain>.handler` that exist on Linux (vmtoolsLog.c). */
export const LOG_HANDLERS = ['file', 'file+', 'std', 'syslog', 'vmx'] as const;
export type LogHandlerName = (typeof LOG_HANDLERS)[number];

/** [powerops] backend (extension): how halt/reboot are carried out (src/services/powerops/backends.ts). */
export const POWER_BACKENDS = ['auto', 'systemd', 'logind', 'init-signal', 'shutdown', 'record'] as const;
export type PowerBackendChoice = (typeof POWER_BACKENDS)[number];

/** [deployPkg] engine (extension): who applies a customization package when cloud-init does not. */
export const DEPLOYPKG_ENGINES = ['auto', 'command', 'native'] as const;
export type DeployPkgEngine = (typeof DEPLOYPKG_ENGINES)[number];

/** [timeSync] ntp-coexistence (extension). */
export const NTP_COEXISTENCE = ['auto', 'defer', 'ignore'] as const;
export type NtpCoexistence = (typeof NTP_COEXISTENCE)[number];

/** [logging] stdio-format (extension). */
export const STDIO_FORMATS = ['auto', 'journal', 'plain'] as const;
export type StdioFormat = (typeof STDIO_FORMATS)[number];

/** vSphere guest-operation API names usable as `<name>.disabled` (vixTools.c). */
export const GUEST_OPS_API_NAMES = [
  'StartProgramInGuest', 'ListProcessesInGuest', 'TerminateProcessInGuest',
  'ReadEnvironmentVariableInGuest', 'ValidateCredentialsInGuest', 'AcquireCredentialsInGuest',
  'ReleaseCredentialsInGuest', 'MakeDirectoryInGuest', 'DeleteFileInGuest', 'DeleteDirectoryInGuest',
  'MoveDirectoryInGuest', 'MoveFileInGuest', 'CreateTemporaryFileInGuest',
  'CreateTemporaryDirectoryInGuest', 'ListFilesInGuest', 'ChangeFileAttributesInGuest',
  'InitiateFileTransferFromGuest', 'InitiateFileTransferToGuest', 'AddGuestAlias',
  'RemoveGuestAlias', 'RemoveGuestAliasByCert', 'ListGuestAliases', 'ListGuestMappedAliases',
  // Windows registry APIs: accepted without a notice, meaningless on Linux.
  'CreateRegistryKeyInGuest', 'ListRegistryKeysInGuest', 'DeleteRegistryKeyInGuest',
  'SetRegistryValueInGuest', 'ListRegistryValuesInGuest', 'DeleteRegistryValueInGuest',
] as const;

/** open-vm-tools' default `exclude-nics` on Linux (guestInfoServer.c). */
export const DEFAULT_EXCLUDE_NICS = ['docker*', 'veth*', 'virbr*', 'antrea-*', 'cali*'] as const;

export const SCHEMA = {
  vmtools: {
    'disable-tools-version': boolKey(true, {
      description: 'If the host lacks tools.set.versiontype, report version 2147483647 ("unmanaged"); open-vm-tools treats an absent key as true.',
    }),
    'use-legacy-version': boolKey(false, { description: 'Report the version as "X.Y.Z (build-N)" instead of "X.Y.Z.N" in the reset log line.' }),
    'hide-tools-version': boolKey(false, { description: 'Send version 2147483647 ("unmanaged") in tools.set.versiontype.' }),
  },
  vmsvc: {
    toolsHangDetectorDisabled: boolKey(false, { description: 'Turn off the hang detector that reports update.tools.health normal/hung/guest_slow.' }),
  },
  logging: {
    log: boolKey(true, {
      description: 'Master switch; false keeps only error lines. open-vm-tools treats an absent key as false (no guest log at all); we log by default.',
    }),
    maxCacheEntries: intKey(4096, 0, INT32_MAX, {
      unit: 'lines',
      description: 'Lines kept in memory while log file I/O is held (quiesce) or slow; beyond it the oldest are dropped and counted. 0 = drop everything logged while held.',
    }),
    maxCacheBytes: intKey(4 * 1024 * 1024, 0, 256 * 1024 * 1024, {
      unit: 'bytes', origin: 'extension',
      description: 'Byte bound on the same in-memory log file queue (whichever bound is hit first drops the oldest lines).',
    }),
    'stdio-copy': boolKey(true, {
      origin: 'extension',
      description: 'Also write lines of domains whose handler is file/file+/vmx to stdout/stderr (the journal under systemd).',
    }),
    'stdio-format': choiceKey(STDIO_FORMATS, 'auto', {
      origin: 'extension',
      description: 'stdout/stderr line format: journal = "<N>" syslog-priority prefix and no timestamp; plain = timestamp and level; auto = journal when JOURNAL_STREAM matches the descriptor.',
    }),
    'stdio-max-pending-bytes': intKey(1024 * 1024, 4096, 64 * 1024 * 1024, {
      unit: 'bytes', origin: 'extension',
      description: 'Bytes queued for a stdout/stderr pipe that is not draining before new lines are dropped and counted (the event loop never blocks on it).',
    }),
  },
  powerops: {
    'poweron-script': stringKey('poweron-vm-default', { description: 'Script run after power-on (OS_PowerOn), with no arguments; relative names are under script-directory; "" = none. If the default script is not installed, its scripts/*-default.d drop-ins are run directly.' }),
    'poweroff-script': stringKey('poweroff-vm-default', { description: 'Script run before halt or reboot (OS_Halt, OS_Reboot); "" = none.' }),
    'resume-script': stringKey('resume-vm-default', { description: 'Script run after resume (OS_Resume); "" = none.' }),
    'suspend-script': stringKey('suspend-vm-default', { description: 'Script run before suspend (OS_Suspend); "" = none.' }),
    backend: choiceKey(POWER_BACKENDS, 'auto', {
      origin: 'extension',
      description:
        'How halt/reboot are done: systemd = systemctl poweroff|reboot -i (with SYSTEMD_IGNORE_CHROOT=1, so a bind-mounted /run/systemd reaches the host); ' +
        'logind = PowerOff/Reboot to org.freedesktop.login1 over the system bus socket (no binary needed); ' +
        'init-signal = a signal to PID 1 matching its init (systemd SIGRTMIN+4/+5, busybox SIGUSR2/SIGTERM); shutdown = /sbin/shutdown -h|-r now, then systemctl -i (open-vm-tools); ' +
        'record = append a line to record-file (tests, dry runs); auto = systemd if /run/systemd/system and systemctl exist, else logind if /run/systemd/system and the bus socket exist, else init-signal if PID 1 is the host\'s systemd or busybox, else shutdown. Under the simulator auto means record.',
    }),
    'record-file': optionalPathKey('$VMTOOLSD_POWER_RECORD', {
      origin: 'extension',
      description: 'File the record backend appends "<time> halt|reboot" to.',
    }),
    'system-bus': optionalPathKey('/run/dbus/system_bus_socket', {
      origin: 'extension',
      description: 'System bus socket the logind backend connects to (bind-mount the host\'s into a container).',
    }),
    systemctl: optionalPathKey('the first of /usr/bin, /bin, /usr/sbin, /sbin', {
      origin: 'extension',
      description: 'systemctl used by the systemd backend.',
    }),
    'script-timeout': intKey(300, 0, MAX_SECONDS, {
      unit: 's', origin: 'extension',
      description: 'A power-operation script still running after this long is killed (SIGTERM to its process group, SIGKILL 5 s later) and counts as failed; 0 = wait forever, as open-vm-tools does.',
    }),
    'script-directory': optionalPathKey('/etc/vmware-tools', {
      origin: 'extension',
      description: 'Where relative script names and the default scripts (with their scripts/*.d drop-ins) are looked up.',
    }),
  },
  guestinfo: {
    'poll-interval': intKey(30, 0, MAX_SECONDS, { unit: 's', description: 'Interval of the guest-info gather loop (NICs, disks, OS, host name); 0 disables it.' }),
    'stats-interval': intKey(20, 0, MAX_SECONDS, { unit: 's', description: 'Interval of the memory/performance stats loop; 0 disables it.' }),
    'disable-perf-mon': boolKey(false, { description: 'Remove the stats loop entirely.' }),
    'disable-query-diskinfo': boolKey(false, { description: 'Do not report disk (file system) information.' }),
    'enable-stat-logging': boolKey(false, { description: 'Write each stats sample to the log.' }),
    'primary-nics': listKey(undefined, 'none', { description: 'Interfaces sorted first in the NIC report (their address becomes the primary IP).' }),
    'low-priority-nics': listKey(undefined, 'none', { description: 'Interfaces sorted last in the NIC report.' }),
    'exclude-nics': listKey(DEFAULT_EXCLUDE_NICS, '', { description: 'Interfaces left out of the NIC report; an empty value excludes nothing.' }),
    'max-ipv4-routes': intKey(100, 0, 100, { description: 'Maximum IPv4 routes reported.' }),
    'max-ipv6-routes': intKey(100, 0, 100, { description: 'Maximum IPv6 routes reported.' }),
    'diskinfo-include-reserved': boolKey(false, { description: 'Count root-reserved blocks as free space in disk info.' }),
    'diskinfo-report-device': boolKey(true, { description: 'Add the device list (e.g. scsi0:1) to each disk entry.' }),
  },
  guestosinfo: {
    'short-name': optionalStringKey('detected guest OS id', { description: 'Override the short OS name (guest OS id) sent to the host.' }),
    'long-name': optionalStringKey('detected full OS name', { description: 'Override the full OS name sent to the host.' }),
  },
  timeSync: {
    'disable-all': boolKey(false, { description: 'Suppress every time synchronisation (handlers still answer OK).' }),
    'disable-periodic': boolKey(false, { description: 'Suppress only the periodic synchronisation loop.' }),
    'timeInfo.enabled': boolKey(false, { description: 'Subscribe to the host precision clock and handle TimeInfo_Update.' }),
    'ntp-coexistence': choiceKey(NTP_COEXISTENCE, 'auto', {
      origin: 'extension',
      description:
        'With another time daemon (chronyd, ntpd, systemd-timesyncd, ntpd-rs; found in /proc): auto = defer while one runs; defer = always; ignore = behave like open-vm-tools. Deferring leaves the periodic loop (slewing, PLL, the kernel NTP state reset at loop start) and the start-up step to that daemon; a host-requested Time_Synchronize and the step on resume still run.',
    }),
  },
  vmbackup: {
    enableSyncDriver: boolKey(true, { description: 'Allow the FIFREEZE (sync driver) quiescing backend.' }),
    enableNullDriver: optionalBoolKey('true for vmbackup.*, false for the VIX freeze command', { description: 'Allow the sync()-only fallback backend when FIFREEZE cannot be used.' }),
    excludedFileSystems: listKey(undefined, 'none', { description: 'Mount points not to freeze (glob patterns; * and ? also match "/").' }),
    ignoreFrozenFileSystems: boolKey(false, { description: 'Treat EBUSY from an already frozen file system as success.' }),
    execScripts: boolKey(true, { description: 'Run freeze/thaw scripts (vmbackup.start only).' }),
    scriptArg: optionalStringKey('no extra argument', { description: 'Extra argument passed to freeze/thaw scripts (vmbackup.start only).' }),
    timeout: optionalIntKey(0, MAX_SECONDS, '900 s', { unit: 's', description: 'Overall quiesce abort timer; 0 disables it; invalid values fall back to 900 s.' }),
    forceQuiesce: optionalBoolKey('false for vmbackup.start, true for startWithOpts', { description: 'Fail instead of falling back to a non-quiescing backend.' }),
    quiesceApps: boolKey(true, { description: 'Request application quiescing (vmbackup.start; only with forceQuiesce).' }),
    quiesceFS: boolKey(true, { description: 'Request file-system quiescing (vmbackup.start; only with forceQuiesce).' }),
    enableXmlManifest: boolKey(true, { description: 'Write the quiesce manifest after a FIFREEZE snapshot when the host asks for one.' }),
    enableNVMe: boolKey(true, { description: 'Advertise the vmbackup NVMe capability (36) at capability registration.' }),
    manifestPath: optionalPathKey('<directory of tools.conf>/quiesce_manifest.xml', {
      origin: 'extension',
      description: 'Where the quiesce manifest is written (its path is sent to the host); for read-only /etc (Flatcar#1795).',
    }),
    freezeLease: intKey(10, 2, 600, {
      origin: 'extension',
      unit: 's',
      description: 'The freeze holder thaws by itself when the daemon has not renewed its lease (every poll tick, 1 s) for this long: a hung daemon cannot keep file systems frozen.',
    }),
    scriptTimeout: intKey(300, 0, MAX_SECONDS, {
      origin: 'extension',
      unit: 's',
      description: 'A freeze/thaw script still running after this long is killed (SIGTERM, 5 s, SIGKILL) and counts as failed; 0 = only the overall timeout bounds it.',
    }),
  },
  deployPkg: {
    'enable-customization': boolKey(true, { description: 'Accept guest customization packages; false refuses them (CUST_DISABLED).' }),
    'process-timeout': optionalIntKey(1, 3600, 'package header value, else 100 s', { unit: 's', description: 'Timeout of each customization child process; wins over the package header.' }),
    'wait-cloudinit-timeout': intKey(30, 0, 1800, { unit: 's', description: 'How long to wait for cloud-init to finish before the reboot; 0 = do not wait.' }),
    'enable-custom-scripts': optionalBoolKey('false, or true when cust.cfg has MISC DEFAULT-RUN-POST-CUST-SCRIPT=yes', {
      description: 'Allow the user pre/post-customization script of a package. Read by cloud-init and the Perl engine through vmware-toolbox-cmd, and by our native engine.',
    }),
    engine: choiceKey(DEPLOYPKG_ENGINES, 'auto', {
      origin: 'extension',
      description: 'Who applies cust.cfg when cloud-init does not: command = the package\'s own command (VMware\'s Perl engine), as open-vm-tools; native = our built-in engine; auto = the command when its program (e.g. /usr/bin/perl) exists and the target root is /, else native.',
    }),
    'target-root': optionalPathKey('$VMTOOLSD_DEPLOYPKG_TARGET_ROOT (the container image sets /host), else / (under the VMX simulator: a scratch directory, never the real /)', {
      origin: 'extension',
      description: 'Root of the system being customized; /host in the container (the host\'s root bind-mounted; the image\'s environment makes it the default). Files, cloud-init and scripts are looked up and written under it.',
    }),
  },
  guestoperations: {
    disabled: boolKey(false, { description: 'Refuse every guest operation (except GetToolsState) with VIX error 20005.' }),
    useVGAuth: boolKey(true, { description: 'Authenticate guest operations through VGAuth rather than PAM directly.' }),
  },
} as const satisfies Record<string, Record<string, KeySpec<unknown>>>;

/** Keys named by patterns (their values are read through ToolsConfig methods). */
export const PATTERN_KEYS = {
  logging: [
    pattern('<domain>.level', /^(.+)\.level$/, choiceKey(GLIB_LOG_LEVELS, 'message', {
      description: 'Level of a log domain (vmsvc = the service default that other domains inherit); "message" and "info" both show info lines.',
    })),
    pattern('<domain>.handler', /^(.+)\.handler$/, choiceKey(LOG_HANDLERS, 'std', {
      description: 'Where a domain logs: file (truncate at start), file+ (append), std/syslog (stdout/stderr or the journal), vmx (the host\'s vmware.log). Ours defaults to std; open-vm-tools to file+.',
    })),
    pattern('<domain>.data', /^(.+)\.data$/, stringKey('/var/log/vmware-<domain>-<user>.log', {
      description: 'Log file of a file/file+ handler; ${USER}, ${PID} and ${IDX} are expanded.',
    })),
    pattern('<domain>.maxLogSize', /^(.+)\.maxLogSize$/, intKey(5, 0, 4095, { unit: 'MB', description: 'Rotate the log file when it reaches this size; 0 = no limit.' })),
    pattern('<domain>.maxOldLogFiles', /^(.+)\.maxOldLogFiles$/, intKey(10, 0, 1000, { description: 'Rotated log files kept (name.1.log is the newest).' })),
  ],
  guestoperations: [
    pattern('<ApiName>.disabled', /^(.+)\.disabled$/, boolKey(false, { description: 'Refuse one guest-operation API (vSphere method name) with VIX error 20005.' }), GUEST_OPS_API_NAMES),
  ],
  unsetenvironment: [
    pattern('<VAR> / vmsvc.<VAR>', /^(.+)$/, stringKey('', { description: 'Remove VAR from the daemon\'s environment at start-up (value ignored); "vmsvc." limits it to this service.' })),
  ],
  setenvironment: [
    pattern('<VAR> / vmsvc.<VAR>', /^(.+)$/, stringKey('', { description: 'Set VAR for the daemon and its children at start-up (applied after [unsetenvironment]).' })),
  ],
} as const satisfies Record<string, readonly PatternKeySpec<unknown>[]>;

export type Schema = typeof SCHEMA;
export type SectionName = keyof Schema;
export type KeyName<S extends SectionName> = keyof Schema[S] & string;
type ValueOfSpec<K> = K extends KeySpec<infer T> ? T : never;
export type ConfigValue<S extends SectionName, K extends KeyName<S>> = ValueOfSpec<Schema[S][K]>;

/** The typed view of every fixed key. */
export type ToolsConfigValues = {
  readonly [S in SectionName]: { readonly [K in KeyName<S>]: ConfigValue<S, K> };
};

/** Looks up the spec of a fixed key, or undefined. */
export function fixedKeySpec(section: string, key: string): KeySpec<unknown> | undefined {
  if (!Object.prototype.hasOwnProperty.call(SCHEMA, section)) return undefined;
  const keys: Record<string, KeySpec<unknown>> = SCHEMA[section as SectionName];
  return Object.prototype.hasOwnProperty.call(keys, key) ? keys[key] : undefined;
}

/** Looks up the pattern spec a key of `section` belongs to, or undefined. */
export function patternKeySpec(section: string, key: string): { spec: PatternKeySpec<unknown>; name: string } | undefined {
  if (!Object.prototype.hasOwnProperty.call(PATTERN_KEYS, section)) return undefined;
  const list: readonly PatternKeySpec<unknown>[] = PATTERN_KEYS[section as keyof typeof PATTERN_KEYS];
  for (const p of list) {
    const m = p.pattern.exec(key);
    if (m) return { spec: p, name: m[1] ?? key };
  }
  return undefined;
}

/** Every section name the schema knows (fixed or pattern keys). */
export function knownSections(): string[] {
  return [...new Set([...Object.keys(SCHEMA), ...Object.keys(PATTERN_KEYS)])];
}
