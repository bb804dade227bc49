/**
 * Turns tools.conf [logging] into per-domain settings, following
 * VMToolsConfigLogging / VMToolsConfigLogDomain (libvmtools/vmtoolsLog.c):
 *  - the service domain ("vmsvc") is always configured: `vmsvc.level`
 *    (default "message"), `vmsvc.handler`, `vmsvc.data`;
 *  - another domain is configured only if it has `<domain>.level`; without
 *    its own `.handler` it inherits the service's output (same file);
 *  - domains not configured log at the service domain's level and output;
 *  - `log = false` keeps only errors (the reference keeps only fatal ones).
 * Ours differs in one default: no handler means `std` (stdout/stderr, i.e.
 * the journal under systemd) rather than `file+` — see docs/configuration.md.
 * A command-line level override wins over the file and survives reloads.
 */
import { cleanLogFilePath, defaultLogFilePath } from './log-file-path';
import { rankOfGLibLevel, LEVEL_RANK } from './levels';
import { chomp } from '../config/keyfile-values';
import { GLIB_LOG_LEVELS, LOG_HANDLERS, type GLibLogLevel, type LogHandlerName, type StdioFormat } from '../config/schema';
import type { ToolsConfig } from '../config/tools-config';

/** `--log-level debug` (every domain) or per domain: `{ guestinfo: 'debug' }`. */
export type LevelOverride = GLibLogLevel | Readonly<Record<string, GLibLogLevel>>;

export interface LogFileSpec {
  template: string;
  append: boolean;
  maxSizeBytes: number;
  maxOldFiles: number;
}

export interface DomainSettings {
  level: GLibLogLevel;
  /** Most verbose LEVEL_RANK that passes (-1: nothing). */
  rank: number;
  handler: LogHandlerName;
  /** For file/file+ handlers. */
  file?: LogFileSpec;
}

export interface LogSettings {
  service: string;
  enabled: boolean;
  /** The service domain; also what unconfigured domains use. */
  defaults: DomainSettings;
  /** Configured domains other than the service. */
  domains: ReadonlyMap<string, DomainSettings>;
  maxCacheEntries: number;
  maxCacheBytes: number;
  stdioCopy: boolean;
  stdioFormat: StdioFormat;
  stdioMaxPendingBytes: number;
}

/** Our default when no handler is configured (the reference's is file+). */
export const DEFAULT_HANDLER: LogHandlerName = 'std';

const isGLibLevel = (v: unknown): v is GLibLogLevel => typeof v === 'string' && (GLIB_LOG_LEVELS as readonly string[]).includes(v);
const isHandler = (v: unknown): v is LogHandlerName => typeof v === 'string' && (LOG_HANDLERS as readonly string[]).includes(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function fileSpec(config: ToolsConfig, domain: string, handler: LogHandlerName): LogFileSpec | undefined {
  if (handler !== 'file' && handler !== 'file+') return undefined;
  const data = config.getString('logging', `${domain}.data`);
  const template = (data !== undefined ? cleanLogFilePath(chomp(data)) : undefined) ?? defaultLogFilePath(domain);
  const maxMB = config.patternValue('logging', `${domain}.maxLogSize`, isInt) ?? 5;
  const maxOld = config.patternValue('logging', `${domain}.maxOldLogFiles`, isInt) ?? 10;
  return { template, append: handler === 'file+', maxSizeBytes: maxMB * 1024 * 1024, maxOldFiles: maxOld };
}

function overrideFor(override: LevelOverride | undefined, domain: string): GLibLogLevel | undefined {
  if (override === undefined) return undefined;
  if (typeof override === 'string') return override;
  return Object.prototype.hasOwnProperty.call(override, domain) ? override[domain] : undefined;
}

function withRank(level: GLibLogLevel, enabled: boolean): number {
  const rank = rankOfGLibLevel(level);
  return enabled ? rank : Math.min(rank, LEVEL_RANK.error);
}

export function resolveLogSettings(config: ToolsConfig, service: string, override?: LevelOverride): LogSettings {
  const v = config.values.logging;
  const enabled = v.log;

  const svcLevel = overrideFor(override, service) ?? config.patternValue('logging', `${service}.level`, isGLibLevel) ?? 'message';
  const svcHandler = config.patternValue('logging', `${service}.handler`, isHandler) ?? DEFAULT_HANDLER;
  const defaults: DomainSettings = {
    level: svcLevel,
    rank: withRank(svcLevel, enabled),
    handler: svcHandler,
    file: fileSpec(config, service, svcHandler),
  };

  const domains = new Map<string, DomainSettings>();
  const declare = (domain: string, level: GLibLogLevel): void => {
    const own = config.patternValue('logging', `${domain}.handler`, isHandler);
    const handler = own ?? defaults.handler;
    domains.set(domain, {
      level,
      rank: withRank(level, enabled),
      handler,
      // Inherited: the service's file, not one of its own.
      file: own ? fileSpec(config, domain, own) : defaults.file,
    });
  };
  for (const key of config.keys('logging')) {
    if (!key.endsWith('.level')) continue;
    const domain = key.slice(0, -'.level'.length);
    if (domain === service || domain === '') continue;
    const level = overrideFor(override, domain) ?? config.patternValue('logging', key, isGLibLevel);
    // An invalid level leaves the domain unconfigured, as in the reference.
    if (level !== undefined) declare(domain, level);
  }
  if (override !== undefined && typeof override !== 'string') {
    for (const [domain, level] of Object.entries(override)) {
      if (domain !== service && !domains.has(domain)) declare(domain, level);
    }
  }
  // A string override applies to unconfigured domains through `defaults`.

  return {
    service,
    enabled,
    defaults,
    domains,
    maxCacheEntries: v.maxCacheEntries,
    maxCacheBytes: v.maxCacheBytes,
    stdioCopy: v['stdio-copy'],
    stdioFormat: v['stdio-format'],
    stdioMaxPendingBytes: v['stdio-max-pending-bytes'],
  };
}

export function settingsForDomain(settings: LogSettings, domain: string): DomainSettings {
  return settings.domains.get(domain) ?? settings.defaults;
}
