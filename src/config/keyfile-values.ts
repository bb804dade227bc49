/**
 * Typed reads of raw key-file values with GLib's exact rules
 * (g_key_file_get_string / _get_boolean / _get_integer in glib/gkeyfile.c),
 * plus the escaping g_key_file_set_string applies when writing. open-vm-tools
 * reads every tools.conf key through these, so e.g. "True" is not a boolean
 * and "30 s" is the integer 30.
 */
import { isAsciiSpace } from './keyfile';

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });
const fail = <T>(reason: string): Decoded<T> => ({ ok: false, reason });

/**
 * What g_key_file_parse_value_as_string produces without a list separator:
 * `\s \n \t \r \\` are decoded; an unknown escape is kept as written and a
 * lone trailing backslash dropped, and either is reported as `error` — GLib
 * sets its error but still builds the string, and callers differ in whether
 * they use it (the daemon falls back to the default; the toolbox prints it).
 */
export function decodeStringLenient(raw: string): { value: string; error?: string } {
  let out = '';
  let error: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    i++;
    if (i >= raw.length) {
      error ??= 'Key file contains escape character at end of line';
      break;
    }
    switch (raw[i]) {
      case 's': out += ' '; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      default:
        error ??= `Key file contains invalid escape sequence “\\${raw[i]}”`;
        out += `\\${raw[i]}`;
    }
  }
  return error === undefined ? { value: out } : { value: out, error };
}

/**
 * g_key_file_get_string as the daemon uses it: an invalid escape, or a '\'
 * at the end, makes the value invalid (the caller then uses the default).
 */
export function decodeString(raw: string): Decoded<string> {
  const d = decodeStringLenient(raw);
  return d.error === undefined ? ok(d.value) : fail(d.error);
}

/**
 * g_key_file_parse_value_as_boolean: exactly "true"/"1" or "false"/"0"
 * (case-sensitive), trailing whitespace ignored.
 */
export function decodeBoolean(raw: string): Decoded<boolean> {
  let end = raw.length;
  while (end > 0 && isAsciiSpace(raw[end - 1]!)) end--;
  const v = raw.slice(0, end);
  if (v === 'true' || v === '1') return ok(true);
  if (v === 'false' || v === '0') return ok(false);
  return fail(`Value “${raw}” cannot be interpreted as a boolean.`);
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * g_key_file_parse_value_as_integer: strtol(value, base 10) — optional
 * leading whitespace and sign, digits — then either the end or a whitespace
 * character (whatever follows it is ignored: "30 s" is 30). Must fit a gint.
 */
export function decodeInteger(raw: string): Decoded<number> {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(raw);
  if (raw === '' || !m) return fail(`Value “${raw}” cannot be interpreted as a number.`);
  const rest = raw.slice(m[0].length);
  if (rest !== '' && !isAsciiSpace(rest[0]!)) return fail(`Value “${raw}” cannot be interpreted as a number.`);
  const n = Number((m[1] === '-' ? '-' : '') + m[2]);
  if (!Number.isSafeInteger(n) || n < INT32_MIN || n > INT32_MAX) {
    return fail(`Integer value “${raw}” out of range`);
  }
  return ok(n === 0 ? 0 : n); // no -0
}

/**
 * open-vm-tools' comma lists (exclude-nics, excludedFileSystems, …): read as
 * a string, then g_strsplit(",") with no trimming. Empty items are dropped
 * (they match nothing anyway). An empty value is an empty list, which is not
 * the same as an absent key (absent = the default list).
 */
export function decodeCommaList(raw: string): Decoded<string[]> {
  const s = decodeString(raw);
  if (!s.ok) return s;
  if (s.value === '') return ok([]);
  return ok(s.value.split(',').filter((item) => item !== ''));
}

/**
 * g_key_file_parse_string_as_value (escape_separator = FALSE): what
 * g_key_file_set_string stores, so that decodeString() gives `value` back.
 * Leading blanks become \s / \t, newlines \n, CRs \r, backslashes \\.
 */
export function encodeString(value: string): string {
  let out = '';
  let leading = true;
  for (const ch of value) {
    switch (ch) {
      case ' ': out += leading ? '\\s' : ' '; break;
      case '\t': out += leading ? '\\t' : '\t'; break;
      case '\n': out += '\\n'; break;
      case '\r': out += '\\r'; break;
      case '\\': out += '\\\\'; leading = false; break;
      default: out += ch; leading = false; break;
    }
  }
  return out;
}

/** g_strchomp: removes trailing ASCII whitespace. */
export function chomp(s: string): string {
  let end = s.length;
  while (end > 0 && isAsciiSpace(s[end - 1]!)) end--;
  return s.slice(0, end);
}
