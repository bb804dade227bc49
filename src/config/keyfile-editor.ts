/**
 * Edits one key of a tools.conf while leaving every other byte alone, for
 * `vmware-toolbox-cmd config set|remove`.
 *
 * open-vm-tools loads the file into a GKeyFile and writes it back with
 * g_key_file_to_data, which rewrites every line as `key=value`, drops
 * indentation and CRLFs, and — if the file does not parse — replaces the
 * whole file with the one key being set. We edit the text instead:
 *  - set: the value of the effective (last) occurrence is replaced in place,
 *    keeping the text before it (`key = ` spacing, indentation) and the line
 *    ending; a new key goes after the last key of the section's last block
 *    (where GLib's g_key_file_add_key puts it); a new section is appended.
 *  - remove: every occurrence in the section is removed. GLib removes only the
 *    last one, so an earlier duplicate would silently come back on the next
 *    read; removing all is what the user asked for.
 *
 * Works on Buffers so that bytes that are not valid UTF-8 survive untouched.
 */
import { classifyLine, isValidGroupName, isValidKeyName } from './keyfile';
import { encodeString } from './keyfile-values';

export type EditResult =
  | { ok: true; data: Buffer; changed: boolean }
  | { ok: false; reason: string };

interface Line {
  /** Content without terminator, one char per byte (latin1). */
  text: string;
  /** '\n', '\r\n' or '' (last line without newline). */
  eol: string;
}

/** Splits bytes into lines, one char per byte, keeping each terminator. */
function splitLines(data: Buffer): Line[] {
  const s = data.toString('latin1');
  const lines: Line[] = [];
  let pos = 0;
  while (pos < s.length) {
    const nl = s.indexOf('\n', pos);
    if (nl < 0) {
      lines.push({ text: s.slice(pos), eol: '' });
      break;
    }
    const crlf = nl > pos && s[nl - 1] === '\r';
    lines.push({ text: s.slice(pos, crlf ? nl - 1 : nl), eol: crlf ? '\r\n' : '\n' });
    pos = nl + 1;
  }
  return lines;
}

function joinLines(lines: readonly Line[]): Buffer {
  return Buffer.from(lines.map((l) => l.text + l.eol).join(''), 'latin1');
}

/** A UTF-8 string as one char per byte, to compare with / insert into Lines. */
function asBytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** Classify a line; key and group names come back in UTF-8 form. */
function classify(line: Line): ReturnType<typeof classifyLine> {
  return classifyLine(Buffer.from(line.text, 'latin1').toString('utf8'));
}

interface SectionScan {
  /** Indices of lines defining the key inside the section (all blocks). */
  keyLines: number[];
  /** Index of the header line of the section's last block, or -1. */
  lastHeader: number;
  /** Index of the last key/value line in the section's last block, or -1. */
  lastPairInLastBlock: number;
}

function scan(lines: readonly Line[], section: string, key: string): SectionScan {
  const result: SectionScan = { keyLines: [], lastHeader: -1, lastPairInLastBlock: -1 };
  let inSection = false;
  lines.forEach((line, i) => {
    const c = classify(line);
    if (c.kind === 'group') {
      inSection = c.name === section;
      if (inSection) {
        result.lastHeader = i;
        result.lastPairInLastBlock = -1;
      }
    } else if (c.kind === 'pair' && inSection) {
      result.lastPairInLastBlock = i;
      if (c.key === key) result.keyLines.push(i);
    }
  });
  return result;
}

/** The line terminator new lines should use: CRLF only if the file uses it. */
function preferredEol(lines: readonly Line[]): string {
  const crlf = lines.filter((l) => l.eol === '\r\n').length;
  const lf = lines.filter((l) => l.eol === '\n').length;
  return crlf > lf ? '\r\n' : '\n';
}

function checkNames(section: string, key: string): string | undefined {
  if (!isValidGroupName(section)) return `invalid section name "${section}" (empty, or contains '[', ']' or a control character)`;
  if (!isValidKeyName(key)) return `invalid key name "${key}" (empty, leading/trailing space, '=', '[' or ']')`;
  return undefined;
}

/** Sets `[section] key` to `value` (stored escaped, as g_key_file_set_string does). */
export function setKeyInText(data: Buffer, section: string, key: string, value: string): EditResult {
  const bad = checkNames(section, key);
  if (bad) return { ok: false, reason: bad };
  const lines = splitLines(data);
  const eol = preferredEol(lines);
  const encoded = asBytes(encodeString(value));
  const found = scan(lines, section, key);

  if (found.keyLines.length > 0) {
    const i = found.keyLines[found.keyLines.length - 1]!;
    const line = lines[i]!;
    const c = classify(line);
    if (c.kind !== 'pair') return { ok: false, reason: 'internal error: key line changed kind' };
    // valueOffset indexes the decoded text; re-encode the prefix to bytes.
    const prefixChars = Buffer.from(line.text, 'latin1').toString('utf8').slice(0, c.valueOffset);
    let prefix = asBytes(prefixChars);
    // `key =` with nothing after it: keep the author's "key = value" style.
    if (/[ \t]=$/.test(prefix)) prefix += ' ';
    const text = prefix + encoded;
    if (text === line.text) return { ok: true, data, changed: false };
    lines[i] = { text, eol: line.eol };
    return { ok: true, data: joinLines(lines), changed: true };
  }

  const newLine: Line = { text: `${asBytes(key)}=${encoded}`, eol };
  if (found.lastHeader >= 0) {
    const at = (found.lastPairInLastBlock >= 0 ? found.lastPairInLastBlock : found.lastHeader) + 1;
    const before = lines[at - 1]!;
    if (before.eol === '') before.eol = eol; // inserting after an unterminated last line
    lines.splice(at, 0, newLine);
    return { ok: true, data: joinLines(lines), changed: true };
  }

  // New section at the end, separated by a blank line like GLib does.
  const last = lines[lines.length - 1];
  if (last && last.eol === '') last.eol = eol;
  if (last && last.text.trim() !== '') lines.push({ text: '', eol });
  lines.push({ text: `[${asBytes(section)}]`, eol }, newLine);
  return { ok: true, data: joinLines(lines), changed: true };
}

/** Removes every definition of `[section] key`. Absent key: unchanged. */
export function removeKeyInText(data: Buffer, section: string, key: string): EditResult {
  const bad = checkNames(section, key);
  if (bad) return { ok: false, reason: bad };
  const lines = splitLines(data);
  const found = scan(lines, section, key);
  if (found.keyLines.length === 0) return { ok: true, data, changed: false };
  const drop = new Set(found.keyLines);
  const kept = lines.filter((_, i) => !drop.has(i));
  return { ok: true, data: joinLines(kept), changed: true };
}
