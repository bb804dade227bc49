/**
 * The operations behind `vmware-toolbox-cmd config get|set|remove`
 * (open-vm-tools/toolbox/toolboxcmd-config.c), on top of the line-preserving
 * editor and the atomic writer. They never throw: every failure comes back as
 * `{ ok: false, error }` with a message for the user and the exit code the
 * reference uses (EX_TEMPFAIL = 75 when the file cannot be written).
 *
 * Differences from the reference, on purpose:
 *  - comments, spacing and unrelated lines are preserved (the reference
 *    re-serialises the whole file);
 *  - a file with syntax errors is edited in place instead of being replaced
 *    by a file containing only the new key; a warning says the daemon will
 *    keep ignoring the file until the error is fixed;
 *  - `remove` of an absent key or file changes nothing (the reference writes
 *    an empty file when there was none).
 */
import { promises as fsp } from 'node:fs';

import { FileWriteError, writeFileAtomic } from './atomic-write';
import { parseKeyFile, type KeyFileGroup } from './keyfile';
import { removeKeyInText, setKeyInText, type EditResult } from './keyfile-editor';
import { decodeString } from './keyfile-values';

/** sysexits.h codes the reference returns. */
export const EX_USAGE = 64;
export const EX_UNAVAILABLE = 69;
export const EX_TEMPFAIL = 75;

export interface ConfigEditError {
  /** errno code, or 'EINVAL' for bad names. */
  code: string;
  message: string;
  exitCode: number;
}

export type ConfigEditOutcome =
  | { ok: true; changed: boolean; path: string; warnings: string[] }
  | { ok: false; error: ConfigEditError };

function errnoCode(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'EUNKNOWN';
}

async function readExisting(file: string): Promise<{ data: Buffer; exists: boolean } | ConfigEditError> {
  try {
    return { data: await fsp.readFile(file), exists: true };
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return { data: Buffer.alloc(0), exists: false };
    return { code, message: `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`, exitCode: EX_UNAVAILABLE };
  }
}

function syntaxWarnings(file: string, data: Buffer): string[] {
  const parsed = parseKeyFile(data.toString('utf8'));
  const out = parsed.notices.map((n) => `${file}: ${n.message}`);
  if (!parsed.ok) {
    out.push(`${file}: line ${parsed.error.line}: ${parsed.error.message}; the daemon ignores this file until that is fixed`);
  }
  return out;
}

async function applyEdit(file: string, edit: (data: Buffer) => EditResult, createIfMissing: boolean): Promise<ConfigEditOutcome> {
  try {
    const existing = await readExisting(file);
    if ('code' in existing) return { ok: false, error: existing };
    if (!existing.exists && !createIfMissing) return { ok: true, changed: false, path: file, warnings: [] };
    const result = edit(existing.data);
    if (!result.ok) return { ok: false, error: { code: 'EINVAL', message: result.reason, exitCode: EX_USAGE } };
    const warnings = syntaxWarnings(file, result.data);
    if (!result.changed) return { ok: true, changed: false, path: file, warnings };
    await writeFileAtomic(file, result.data, { mode: 0o644 });
    return { ok: true, changed: true, path: file, warnings };
  } catch (err) {
    if (err instanceof FileWriteError) {
      return { ok: false, error: { code: err.code, message: err.message, exitCode: EX_TEMPFAIL } };
    }
    return { ok: false, error: { code: errnoCode(err), message: `cannot update ${file}: ${String(err)}`, exitCode: EX_TEMPFAIL } };
  }
}

/** `config set SECTION KEY VALUE`. */
export function configSet(file: string, section: string, key: string, value: string): Promise<ConfigEditOutcome> {
  return applyEdit(file, (data) => setKeyInText(data, section, key, value), true);
}

/** `config remove SECTION KEY`. */
export function configRemove(file: string, section: string, key: string): Promise<ConfigEditOutcome> {
  return applyEdit(file, (data) => removeKeyInText(data, section, key), false);
}

export type ConfigGetOutcome =
  | { ok: true; section: string; entries: Array<{ key: string; value: string }>; sectionExists: boolean }
  | { ok: false; error: ConfigEditError };

/**
 * `config get SECTION [KEY]`: the decoded value(s) as the reference prints
 * them (g_key_file_get_string; translations kept, like the tool's flags).
 */
export async function configGet(file: string, section: string, key?: string): Promise<ConfigGetOutcome> {
  const existing = await readExisting(file);
  if ('code' in existing) return { ok: false, error: existing };
  const parsed = parseKeyFile(existing.data.toString('utf8'), { keepTranslations: true });
  // The reference prints nothing useful for an unparsable file either; treat it as empty.
  const group: KeyFileGroup | undefined = parsed.ok ? parsed.file.groups.get(section) : undefined;
  const entries: Array<{ key: string; value: string }> = [];
  for (const [k, raw] of group ?? []) {
    if (key !== undefined && k !== key) continue;
    const d = decodeString(raw);
    if (d.ok) entries.push({ key: k, value: d.value });
  }
  return { ok: true, section, entries, sectionExists: group !== undefined };
}
