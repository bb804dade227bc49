/**
 * tools.conf as vmware-toolbox-cmd sees it (open-vm-tools
 * libvmtools/vmtoolsConfig.c VMTools_LoadConfig, called once at start-up and
 * once more by the command):
 *
 *  - a missing file reads as "no configuration" (the second load returns
 *    nothing: `config get` then prints UNSET and exits 69, `config remove`
 *    exits 69, the others start from an empty file);
 *  - a file GLib rejects (parse error, bad encoding, unreadable) reads as
 *    "no configuration" too; a key before the first group is tolerated and
 *    gives an empty configuration;
 *  - an empty file is an empty configuration.
 *
 * Reads follow GLib exactly (no ';' comments, translations kept), so that
 * `config get` prints what open-vm-tools would. Writes go through
 * configSet/configRemove (src/config/toolbox-config.ts), which keep the rest
 * of the file as it was.
 *
 * When `[globalconf] enabled` is true, keys missing from tools.conf are taken
 * from tools-global.conf in the same directory (TOOLBOXCMD_LOAD_GLOBALCONFIG,
 * GlobalConfig_LoadConfig), read without translations.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { parseKeyFile, type KeyFile } from '../../config/keyfile';
import { decodeBoolean, decodeStringLenient } from '../../config/keyfile-values';

/** GLOBALCONF_LOCAL_FILENAME */
export const GLOBAL_CONF_NAME = 'tools-global.conf';

export type LoadedConf =
  | { state: 'missing' }
  /** `warning`: what VMTools_LoadConfig logs (g_warning) about it. */
  | { state: 'rejected'; warning: string }
  /** `lossy`: the file has bytes that are not UTF-8 (they read as U+FFFD). */
  | { state: 'ok'; file: KeyFile; lossy: boolean };

const EMPTY: LoadedConf = { state: 'ok', file: { groups: new Map() }, lossy: false };

const errCode = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? 'EIO';

/** A parse failure as GLib words it (keyfile.ts adds a hint about byte-order marks that GLib does not give). */
function glibParseMessage(message: string): string {
  return message.replace(/ \(the file starts with a UTF-8 byte-order mark[^)]*\)$/, '');
}

/**
 * g_key_file_load_from_file: the parsed file, or GLib's error: the strerror
 * text of a failed open/read, "Not a regular file", or the parse error.
 * `groupNotFoundIsEmpty`: VMTools_LoadConfig tolerates a key before the
 * first group (reading it as empty); GlobalConfig's loader does not.
 */
function loadKeyFile(file: string, keepTranslations: boolean, groupNotFoundIsEmpty: boolean): { file: KeyFile; lossy: boolean } | { error: string } {
  let data: Buffer;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return { error: 'Not a regular file' };
    data = fs.readFileSync(file);
  } catch (e) {
    return { error: strerror(errCode(e)) };
  }
  const text = data.toString('utf8');
  const parsed = parseKeyFile(text, { keepTranslations, semicolonComments: false });
  if (parsed.ok) return { file: parsed.file, lossy: !Buffer.from(text, 'utf8').equals(data) };
  if (parsed.error.code === 'group-not-found' && groupNotFoundIsEmpty) return { file: { groups: new Map() }, lossy: false };
  return { error: glibParseMessage(parsed.error.message) };
}

/** VMTools_LoadConfig's outcome for the command's (second) load. */
export function loadToolsConf(file: string, keepTranslations = true): LoadedConf {
  try {
    // An empty file is an empty configuration, whatever kind of file it is.
    if (fs.statSync(file).size === 0) return EMPTY;
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT') return { state: 'missing' };
    return { state: 'rejected', warning: `Failed to stat conf file: ${strerror(code)}\n` };
  }
  const r = loadKeyFile(file, keepTranslations, true);
  if ('error' in r) return { state: 'rejected', warning: `Cannot load config file: ${r.error}` };
  return { state: 'ok', file: r.file, lossy: r.lossy };
}

/** GlobalConfig_LoadConfig (LoadConfigFile): tools-global.conf, or null; with its warning. */
function loadGlobalConf(confFile: string): { conf: LoadedConf & { state: 'ok' } | null; warning?: string } {
  const file = path.join(path.dirname(confFile), GLOBAL_CONF_NAME);
  try {
    fs.statSync(file);
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT') return { conf: null };
    return { conf: null, warning: `LoadConfigFile: Failed to stat conf file: ${file}, Error: '${strerror(code)}'\n` };
  }
  const r = loadKeyFile(file, false, false);
  if ('error' in r) return { conf: null, warning: `LoadConfigFile: Failed to load the configuration from '${file}'. Error: '${r.error}'` };
  return { conf: { state: 'ok', file: r.file, lossy: r.lossy } };
}

/**
 * What the reference's start-up logs to stderr through GLib's default
 * handler before its own logging is set up: VMTools_LoadConfig's complaint
 * about tools.conf, then TOOLBOXCMD_LOAD_GLOBALCONFIG's about
 * [globalconf] enabled and tools-global.conf.
 */
export function startupWarnings(confFile: string): string[] {
  const out: string[] = [];
  const conf = loadToolsConf(confFile, false);
  if (conf.state === 'rejected') out.push(conf.warning);
  if (conf.state !== 'ok') return out;
  const raw = rawValue(conf.file, 'globalconf', 'enabled');
  if (raw !== undefined && !decodeBoolean(raw).ok) {
    out.push(
      "VMTools_ConfigGetBoolean: Failed to get value for '[globalconf] enabled': " +
        'Key file contains key \u201cenabled\u201d which has a value that cannot be interpreted. (err=5).\n',
    );
  }
  if (globalConfEnabled(conf.file)) {
    const g = loadGlobalConf(confFile);
    if (g.warning) out.push(g.warning);
  }
  return out;
}

/**
 * g_key_file_get_string's value as the toolbox uses it: GLib reports an
 * error for an unknown escape or a trailing backslash but still returns the
 * string, and the toolbox ignores the error.
 */
export function glibString(raw: string): string {
  return decodeStringLenient(raw).value;
}

/** The raw value of [section] key, if the key is there. */
export function rawValue(file: KeyFile | undefined, section: string, key: string): string | undefined {
  return file?.groups.get(section)?.get(key);
}

/**
 * g_key_file_get_string on tools.conf after the global configuration was
 * merged in: the decoded value, or undefined (absent or undecodable). A
 * missing or rejected tools.conf counts as empty (and then has no
 * [globalconf] enabled either).
 */
export function getString(confFile: string, conf: LoadedConf, section: string, key: string): string | undefined {
  const file = conf.state === 'ok' ? conf.file : undefined;
  let lossy = conf.state === 'ok' && conf.lossy;
  let raw = rawValue(file, section, key);
  if (raw === undefined && globalConfEnabled(file)) {
    const global = loadGlobalConf(confFile).conf;
    if (global) {
      raw = rawValue(global.file, section, key);
      lossy = global.lossy;
    }
  }
  if (raw === undefined) return undefined;
  // g_key_file_get_string refuses a value that is not UTF-8.
  if (lossy && raw.includes('\uFFFD')) return undefined;
  return glibString(raw);
}

/** GlobalConfig_GetEnabled: [globalconf] enabled as a GLib boolean, default false. */
export function globalConfEnabled(file: KeyFile | undefined): boolean {
  const raw = rawValue(file, 'globalconf', 'enabled');
  if (raw === undefined) return false;
  const b = decodeBoolean(raw);
  return b.ok ? b.value : false;
}

/** glibc's strerror() texts for the errors a tools.conf write can meet. */
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
  EDQUOT: 'Disk quota exceeded',
  ESTALE: 'Stale file handle',
  EOVERFLOW: 'Value too large for defined data type',
};

export function strerror(code: string): string {
  return STRERROR[code] ?? `Unknown error ${code}`;
}
