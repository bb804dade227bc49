/**
 * The [guestinfo] (and [guestosinfo]) settings the service honours, with the
 * reference's key names (open-vm-tools/lib/include/conf.h; core-services.md
 * §8.1, §8.3, §8.5, §8.6). The INI reader is someone else's; this module only
 * turns a `(section, key) => string | undefined` getter into a typed object.
 */
import {
  DEFAULT_POLL_INTERVAL_SEC,
  DEFAULT_STATS_INTERVAL_SEC,
  NICINFO_MAX_ROUTES,
} from './constants';
import { Logger } from './logger';
import { parsePatternList } from './nicFilter';

export interface GuestInfoConfig {
  /** `poll-interval` (s): info gather period; 0 disables (core-services.md §8.1). */
  pollIntervalSec: number;
  /** `stats-interval` (s): memory-stats period; 0 disables. */
  statsIntervalSec: number;
  /** `disable-perf-mon`: true removes the stats loop entirely. */
  disablePerfMon: boolean;
  /** `disable-query-diskinfo`: skip disk info in the gather (core-services.md §8.2). */
  disableQueryDiskInfo: boolean;
  /** `exclude-nics`: glob list of interfaces never reported. */
  excludeNics: string[];
  /** `primary-nics`: glob list sorted first (decides the vSphere primary IP, §8.4). */
  primaryNics: string[];
  /** `low-priority-nics`: glob list sorted last. */
  lowPriorityNics: string[];
  /** `max-ipv4-routes` in [0, 100]; 0 disables IPv4 route gathering. */
  maxIpv4Routes: number;
  /** `max-ipv6-routes` in [0, 100]. */
  maxIpv6Routes: number;
  /** `diskinfo-include-reserved`: count root-reserved blocks as free (§8.6). */
  diskInfoIncludeReserved: boolean;
  /** `diskinfo-report-device`: add "devices":["scsi0:0",…] to disk entries (default true). */
  diskInfoReportDevice: boolean;
  /** `[guestosinfo] short-name`: overrides type 6 / the detailed header's short name (§8.5). */
  osShortNameOverride?: string;
  /** `[guestosinfo] long-name`: overrides the full name; ignored unless short-name is set. */
  osLongNameOverride?: string;
}

/**
 * The reference default is `docker*,veth*,virbr*,antrea-*,cali*`
 * (core-services.md §8.3). Container and CNI devices that users keep
 * reporting as "vCenter shows the wrong IP" (users-and-packaging.md §1.2:
 * open-vm-tools#100, #128, #175, #418, #638, kubernetes/cloud-provider-vsphere#338)
 * are added; `antrea*` subsumes the reference's `antrea-*`.
 */
export const DEFAULT_EXCLUDE_NICS: readonly string[] = [
  'docker*',
  'veth*',
  'virbr*',
  'antrea*',
  'cali*',
  'cilium*',
  'flannel*',
  'cni*',
  'kube-ipvs*',
  'ovs*',
  'weave*',
];

export const GUESTINFO_SECTION = 'guestinfo';
export const GUESTOSINFO_SECTION = 'guestosinfo';

export function defaultGuestInfoConfig(): GuestInfoConfig {
  return {
    pollIntervalSec: DEFAULT_POLL_INTERVAL_SEC,
    statsIntervalSec: DEFAULT_STATS_INTERVAL_SEC,
    disablePerfMon: false,
    disableQueryDiskInfo: false,
    excludeNics: [...DEFAULT_EXCLUDE_NICS],
    primaryNics: [],
    lowPriorityNics: [],
    maxIpv4Routes: NICINFO_MAX_ROUTES,
    maxIpv6Routes: NICINFO_MAX_ROUTES,
    diskInfoIncludeReserved: false,
    diskInfoReportDevice: true,
  };
}

export type ConfigGetter = (section: string, key: string) => string | undefined;

/** GKeyFile-style boolean: true/false/1/0 (case-insensitive here); anything else keeps the default. */
function parseBool(raw: string | undefined, def: boolean, key: string, log?: Logger): boolean {
  if (raw === undefined) return def;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  log?.warn(`guestinfo: invalid boolean ${key}=${raw}; using ${def}`);
  return def;
}

/** Integer in [min, max]; out of range or unparsable → default with a warning (guestInfoServer.c). */
function parseInt32(raw: string | undefined, def: number, min: number, max: number, key: string, log?: Logger): number {
  if (raw === undefined) return def;
  const v = raw.trim();
  if (!/^[+-]?\d+$/.test(v)) {
    log?.warn(`guestinfo: invalid integer ${key}=${raw}; using default ${def}`);
    return def;
  }
  const n = Number(v);
  if (n < min || n > max) {
    log?.warn(`guestinfo: ${key}=${raw} out of range [${min}, ${max}]; using default ${def}`);
    return def;
  }
  return n;
}

/** Largest interval accepted before the ×1000 ms conversion overflows a gint (guestInfoServer.c). */
const MAX_INTERVAL_SEC = Math.floor(0x7fffffff / 1000);

/**
 * Builds the config from an INI getter. Absent keys take the defaults; an
 * `exclude-nics` key that is present but empty disables all exclusions
 * (as with the reference, which only applies the default when the key is absent).
 */
export function buildGuestInfoConfig(get: ConfigGetter, log?: Logger): GuestInfoConfig {
  const d = defaultGuestInfoConfig();
  const g = (key: string): string | undefined => get(GUESTINFO_SECTION, key);
  const list = (key: string, def: string[]): string[] => {
    const raw = g(key);
    return raw === undefined ? def : parsePatternList(raw);
  };
  const cfg: GuestInfoConfig = {
    pollIntervalSec: parseInt32(g('poll-interval'), d.pollIntervalSec, 0, MAX_INTERVAL_SEC, 'poll-interval', log),
    statsIntervalSec: parseInt32(g('stats-interval'), d.statsIntervalSec, 0, MAX_INTERVAL_SEC, 'stats-interval', log),
    disablePerfMon: parseBool(g('disable-perf-mon'), d.disablePerfMon, 'disable-perf-mon', log),
    disableQueryDiskInfo: parseBool(g('disable-query-diskinfo'), d.disableQueryDiskInfo, 'disable-query-diskinfo', log),
    excludeNics: list('exclude-nics', d.excludeNics),
    primaryNics: list('primary-nics', d.primaryNics),
    lowPriorityNics: list('low-priority-nics', d.lowPriorityNics),
    maxIpv4Routes: parseInt32(g('max-ipv4-routes'), d.maxIpv4Routes, 0, NICINFO_MAX_ROUTES, 'max-ipv4-routes', log),
    maxIpv6Routes: parseInt32(g('max-ipv6-routes'), d.maxIpv6Routes, 0, NICINFO_MAX_ROUTES, 'max-ipv6-routes', log),
    diskInfoIncludeReserved: parseBool(
      g('diskinfo-include-reserved'), d.diskInfoIncludeReserved, 'diskinfo-include-reserved', log),
    diskInfoReportDevice: parseBool(g('diskinfo-report-device'), d.diskInfoReportDevice, 'diskinfo-report-device', log),
  };
  const shortName = get(GUESTOSINFO_SECTION, 'short-name');
  if (shortName !== undefined) {
    cfg.osShortNameOverride = shortName;
    const longName = get(GUESTOSINFO_SECTION, 'long-name');
    if (longName !== undefined) cfg.osLongNameOverride = longName;
  }
  return cfg;
}
