/**
 * Reads tools.conf into a ToolsConfig with open-vm-tools' file-level rules
 * (VMTools_LoadConfig, libvmtools/vmtoolsConfig.c):
 *  - missing file → all defaults, silently;
 *  - empty file → all defaults;
 *  - unreadable file, or a syntax error → warning, and the previous
 *    configuration stays in force (all defaults if there is none);
 *  - a key before the first [section] → warning, and all defaults (GLib's
 *    GROUP_NOT_FOUND, which open-vm-tools accepts as an empty file).
 * Never throws.
 */
import { promises as fsp, readFileSync, fstatSync, openSync, closeSync, type BigIntStats } from 'node:fs';

import { parseKeyFile, type ParseOptions } from './keyfile';
import { ToolsConfig, type ConfigWarning } from './tools-config';

/** Identity of one version of the file, for cheap change detection. */
export interface FileSignature {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export type LoadState =
  /** Parsed from the file. */
  | 'loaded'
  /** No file: defaults. */
  | 'missing'
  /** Could not be read or parsed: previous configuration kept. */
  | 'kept-previous';

export interface LoadOutcome {
  config: ToolsConfig;
  state: LoadState;
  /** Everything worth reporting about this load: file problems, then the new config's value warnings. */
  warnings: ConfigWarning[];
  /** Signature of the file that was read (undefined if none was). */
  signature?: FileSignature;
}

export function signatureOf(st: BigIntStats): FileSignature {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

export function sameSignature(a: FileSignature | undefined, b: FileSignature | undefined): boolean {
  if (!a || !b) return a === b;
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function fileWarning(file: string, message: string, line?: number): ConfigWarning {
  return { severity: 'warning', file, line, message };
}

/** Turns the bytes of tools.conf into an outcome (the part shared by both loaders). */
export function configFromBytes(
  file: string,
  data: Buffer,
  previous: ToolsConfig | undefined,
  signature: FileSignature | undefined,
  parseOptions: ParseOptions = {},
): LoadOutcome {
  const parsed = parseKeyFile(data.toString('utf8'), parseOptions);
  const notices: ConfigWarning[] = parsed.notices.map((n) => ({
    severity: 'notice', file, line: n.line, message: `${file}: ${n.message}.`,
  }));
  if (parsed.ok) {
    const config = ToolsConfig.fromKeyFile(parsed.file, file);
    return { config, state: 'loaded', warnings: [...notices, ...config.warnings], signature };
  }
  const { error } = parsed;
  if (error.code === 'group-not-found') {
    const config = ToolsConfig.defaults(file);
    return {
      config, state: 'loaded', signature,
      warnings: [...notices, fileWarning(file, `${file}: line ${error.line}: a key comes before the first [section]; ` +
        'the whole file is ignored (as open-vm-tools does) and defaults are used.', error.line)],
    };
  }
  const kept = previous ? 'the previous configuration stays in force' : 'defaults are used';
  return {
    config: previous ?? ToolsConfig.defaults(file),
    state: 'kept-previous',
    signature,
    warnings: [...notices, fileWarning(file, `${file}: line ${error.line}: ${error.message}; the file is ignored and ${kept}.`, error.line)],
  };
}

function unreadable(file: string, err: unknown, previous: ToolsConfig | undefined): LoadOutcome {
  const kept = previous ? 'the previous configuration stays in force' : 'defaults are used';
  const reason = errnoCode(err) === 'EISDIR' ? 'not a regular file' : (err instanceof Error ? err.message : String(err));
  return {
    config: previous ?? ToolsConfig.defaults(file),
    state: 'kept-previous',
    warnings: [fileWarning(file, `${file}: cannot be read (${reason}); ${kept}.`)],
  };
}

function missing(file: string): LoadOutcome {
  return { config: ToolsConfig.defaults(file), state: 'missing', warnings: [] };
}

/** Reads and parses tools.conf without blocking the event loop. */
export async function loadToolsConfig(file: string, previous?: ToolsConfig, parseOptions?: ParseOptions): Promise<LoadOutcome> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (err) {
    return errnoCode(err) === 'ENOENT' ? missing(file) : unreadable(file, err, previous);
  }
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) return unreadable(file, Object.assign(new Error('not a regular file'), { code: 'EISDIR' }), previous);
    const data = await fh.readFile();
    return configFromBytes(file, data, previous, signatureOf(st), parseOptions);
  } catch (err) {
    return unreadable(file, err, previous);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * Synchronous variant, for command-line tools and for start-up before the
 * event loop runs; the daemon's reloads use loadToolsConfig.
 */
export function loadToolsConfigSync(file: string, previous?: ToolsConfig, parseOptions?: ParseOptions): LoadOutcome {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    return errnoCode(err) === 'ENOENT' ? missing(file) : unreadable(file, err, previous);
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) return unreadable(file, Object.assign(new Error('not a regular file'), { code: 'EISDIR' }), previous);
    const data = readFileSync(fd);
    return configFromBytes(file, data, previous, signatureOf(st), parseOptions);
  } catch (err) {
    return unreadable(file, err, previous);
  } finally {
    closeSync(fd);
  }
}
