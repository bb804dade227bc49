/**
 * ToolsConfig: one immutable snapshot of tools.conf — typed values for every
 * key in the schema, raw access to any key, and the warnings produced while
 * reading it. Building one never throws: a bad value is reported (file,
 * section, key, value, the default used) and replaced by its default, like
 * VMTools_ConfigGet{Boolean,Integer,String} do.
 */
import { emptyKeyFile, type KeyFile } from './keyfile';
import { decodeString } from './keyfile-values';
import {
  PATTERN_KEYS,
  SCHEMA,
  fixedKeySpec,
  knownSections,
  patternKeySpec,
  type ConfigValue,
  type KeyName,
  type KeySpec,
  type SectionName,
  type ToolsConfigValues,
} from './schema';
import { DEFAULT_TOOLS_CONF_PATH, quiesceManifestPath } from './paths';

export interface ConfigWarning {
  /** 'warning': a value or the file was rejected; 'notice': probably a mistake, but harmless. */
  severity: 'warning' | 'notice';
  file: string;
  section?: string;
  key?: string;
  /** The offending raw value. */
  value?: string;
  /** What is used instead, as text. */
  fallback?: string;
  line?: number;
  /** A complete sentence naming all of the above. */
  message: string;
}

/** One key of the file with its raw value. */
type RawEntry = { section: string; key: string; value: string };

export class ToolsConfig {
  /** Typed values of every fixed key (defaults where absent or invalid). */
  readonly values: ToolsConfigValues;
  /** Problems found in values (file-level problems are reported by the loader). */
  readonly warnings: readonly ConfigWarning[];
  private readonly patternValues = new Map<string, unknown>();

  private constructor(readonly path: string, private readonly file: KeyFile) {
    const warnings: ConfigWarning[] = [];
    this.values = buildValues(file, path, warnings);
    this.validatePatternKeys(warnings);
    this.noticeNearMisses(warnings);
    this.warnings = warnings;
  }

  /** A configuration built from parsed key-file data. */
  static fromKeyFile(file: KeyFile, path: string = DEFAULT_TOOLS_CONF_PATH): ToolsConfig {
    return new ToolsConfig(path, file);
  }

  /** All defaults (what a missing or empty tools.conf gives). */
  static defaults(path: string = DEFAULT_TOOLS_CONF_PATH): ToolsConfig {
    return new ToolsConfig(path, emptyKeyFile());
  }

  /** The typed value of a schema key. */
  value<S extends SectionName, K extends KeyName<S>>(section: S, key: K): ConfigValue<S, K> {
    return this.values[section][key];
  }

  /** Raw value exactly as in the file (g_key_file_get_value), or undefined. */
  get(section: string, key: string): string | undefined {
    return this.file.groups.get(section)?.get(key);
  }

  /** The value with escapes decoded (g_key_file_get_string); undefined if absent or undecodable. */
  getString(section: string, key: string): string | undefined {
    const raw = this.get(section, key);
    if (raw === undefined) return undefined;
    const d = decodeString(raw);
    return d.ok ? d.value : undefined;
  }

  has(section: string, key: string): boolean {
    return this.get(section, key) !== undefined;
  }

  sections(): string[] {
    return [...this.file.groups.keys()];
  }

  keys(section: string): string[] {
    return [...(this.file.groups.get(section)?.keys() ?? [])];
  }

  /** Every (section, key, raw value), in file order. */
  entries(): RawEntry[] {
    const out: RawEntry[] = [];
    for (const [section, group] of this.file.groups) {
      for (const [key, value] of group) out.push({ section, key, value });
    }
    return out;
  }

  /**
   * The decoded value of a pattern key (`[logging] vmsvc.level`,
   * `[guestoperations] StartProgramInGuest.disabled`, …): undefined if absent
   * or invalid (the invalid case is in `warnings`).
   */
  patternValue<T>(section: string, key: string, check: (v: unknown) => v is T): T | undefined {
    const v = this.patternValues.get(`${section}\0${key}`);
    return check(v) ? v : undefined;
  }

  /** Is a guest-operation API refused ([guestoperations] disabled or `<api>.disabled`)? */
  guestOpDisabled(apiName: string): boolean {
    if (this.values.guestoperations.disabled) return true;
    return this.patternValue('guestoperations', `${apiName}.disabled`, isBoolean) ?? false;
  }

  /** Where the quiesce manifest is written. */
  quiesceManifestPath(): string {
    return quiesceManifestPath(this.path, this.values.vmbackup.manifestPath);
  }

  /** Keys of known sections that no schema entry or pattern covers (ignored). */
  unknownKeys(): Array<{ section: string; key: string }> {
    const known = new Set(knownSections());
    return this.entries()
      .filter((e) => known.has(e.section) && !fixedKeySpec(e.section, e.key) && !patternKeySpec(e.section, e.key))
      .map(({ section, key }) => ({ section, key }));
  }

  private validatePatternKeys(warnings: ConfigWarning[]): void {
    for (const section of Object.keys(PATTERN_KEYS)) {
      for (const key of this.keys(section)) {
        if (fixedKeySpec(section, key)) continue;
        const hit = patternKeySpec(section, key);
        if (!hit) continue;
        const raw = this.get(section, key)!;
        const d = hit.spec.decode(raw);
        if (d.ok) {
          this.patternValues.set(`${section}\0${key}`, d.value);
        } else {
          warnings.push(invalidValueWarning(this.path, section, key, raw, d.reason, hit.spec));
        }
        if (hit.spec.knownNames && !hit.spec.knownNames.includes(hit.name)) {
          warnings.push({
            severity: 'notice', file: this.path, section, key,
            message: `${this.path}: [${section}] ${key}: "${hit.name}" is not a known name (${hit.spec.display}); the key has no effect.`,
          });
        }
      }
    }
  }

  /** Case mistakes: names are case-sensitive in GLib, so these are ignored. */
  private noticeNearMisses(warnings: ConfigWarning[]): void {
    const sections = knownSections();
    for (const section of this.sections()) {
      if (sections.includes(section)) {
        if (!Object.prototype.hasOwnProperty.call(SCHEMA, section)) continue;
        const schemaKeys = Object.keys(SCHEMA[section as SectionName]);
        for (const key of this.keys(section)) {
          if (schemaKeys.includes(key) || patternKeySpec(section, key)) continue;
          const near = schemaKeys.find((k) => k.toLowerCase() === key.toLowerCase());
          if (near) {
            warnings.push({
              severity: 'notice', file: this.path, section, key,
              message: `${this.path}: [${section}] ${key} is ignored: key names are case-sensitive; did you mean ${near}?`,
            });
          }
        }
        continue;
      }
      const near = sections.find((s) => s.toLowerCase() === section.trim().toLowerCase());
      if (near) {
        warnings.push({
          severity: 'notice', file: this.path, section,
          message: `${this.path}: section [${section}] is ignored: section names are case-sensitive and taken verbatim; did you mean [${near}]?`,
        });
      }
    }
  }
}

function isBoolean(v: unknown): v is boolean {
  return typeof v === 'boolean';
}

function showDefault(spec: KeySpec<unknown>): string {
  return spec.default === undefined ? `the default (${spec.defaultText})` : `the default ${spec.defaultText}`;
}

function invalidValueWarning(file: string, section: string, key: string, raw: string, reason: string, spec: KeySpec<unknown>): ConfigWarning {
  return {
    severity: 'warning', file, section, key, value: raw, fallback: spec.defaultText,
    message: `${file}: [${section}] ${key} = "${raw}" is invalid (${reason}); using ${showDefault(spec)}.`,
  };
}

function buildValues(file: KeyFile, path: string, warnings: ConfigWarning[]): ToolsConfigValues {
  const out: Record<string, Record<string, unknown>> = {};
  for (const section of Object.keys(SCHEMA) as SectionName[]) {
    const specs: Record<string, KeySpec<unknown>> = SCHEMA[section];
    const values: Record<string, unknown> = {};
    for (const [key, spec] of Object.entries(specs)) {
      const raw = file.groups.get(section)?.get(key);
      if (raw === undefined) {
        values[key] = spec.default;
        continue;
      }
      const d = spec.decode(raw);
      if (d.ok) {
        values[key] = d.value;
      } else {
        values[key] = spec.default;
        warnings.push(invalidValueWarning(path, section, key, raw, d.reason, spec));
      }
    }
    out[section] = Object.freeze(values);
  }
  // Every entry was produced from SCHEMA by its own spec's decode/default, so
  // the shape and types are those ToolsConfigValues describes.
  return Object.freeze(out) as unknown as ToolsConfigValues;
}
