/**
 * A reader for tools.conf that accepts and rejects exactly what GLib's
 * GKeyFile (`g_key_file_load_from_file`, glib/gkeyfile.c) does, because
 * open-vm-tools reads tools.conf with it and a drop-in replacement must see
 * the same settings in the same file.
 *
 * The rules, all from gkeyfile.c:
 *  - Lines end at '\n'; one '\r' right before it is removed (CRLF files work).
 *    The last line, if not newline-terminated, keeps a trailing '\r'.
 *  - Leading ASCII whitespace is skipped before the line is classified.
 *  - Comment: the line is then empty or starts with '#'. A line starting
 *    with ';' is NOT a comment for GLib (see ParseOptions.semicolonComments).
 *  - Group: '[' name ']' followed only by spaces/tabs. The name is taken
 *    verbatim (`[ a ]` is the group " a "), must be non-empty and contain no
 *    '[', ']' or control character. Names are case-sensitive. A repeated group
 *    is merged into the first one.
 *  - Key/value: the first '=' splits; whitespace before it is chomped from the
 *    key; whitespace after it is skipped; trailing whitespace stays in the
 *    value (tools.conf warns "Lines must not end with trailing white space").
 *    Keys are case-sensitive, may contain inner spaces, not '[' ']' except a
 *    trailing locale suffix `key[de_DE]`. A repeated key: the last one wins.
 *  - `Encoding` in the first group must be UTF-8.
 *  - Anything else is a parse error and the whole file is rejected; a key
 *    before the first group is a "group not found" error (open-vm-tools treats
 *    that one as an empty configuration rather than keeping the old one).
 *
 * GLib has no inline comments: `a = 1 # one` has the value "1 # one".
 */

/** Why a file was rejected, mirroring the GKeyFileError codes that matter. */
export type KeyFileErrorCode = 'parse' | 'group-not-found' | 'unknown-encoding';

export interface KeyFileError {
  code: KeyFileErrorCode;
  /** 1-based line number of the offending line. */
  line: number;
  message: string;
}

/** A line GLib accepts but that a human probably meant differently. */
export interface KeyFileNotice {
  line: number;
  message: string;
}

/** One parsed group: keys in first-seen order, raw values (last one wins). */
export type KeyFileGroup = ReadonlyMap<string, string>;

export interface KeyFile {
  /** Groups in first-seen order. Values are raw (escapes not yet decoded). */
  readonly groups: ReadonlyMap<string, KeyFileGroup>;
}

export type KeyFileParseResult =
  | { ok: true; file: KeyFile; notices: KeyFileNotice[] }
  | { ok: false; error: KeyFileError; notices: KeyFileNotice[] };

export interface ParseOptions {
  /**
   * Locales whose translated keys (`key[locale]`) are kept; GLib keeps only
   * those matching g_get_language_names() unless KEEP_TRANSLATIONS is given.
   * Default: derived from the process environment (`languageNames`).
   */
  languages?: readonly string[];
  /** Keep every translated key (GLib's G_KEY_FILE_KEEP_TRANSLATIONS). */
  keepTranslations?: boolean;
  /**
   * Treat lines whose first non-blank character is ';' as comments. GLib
   * does not (such a line is a parse error, or a key named ";…" if it has an
   * '='); we accept them so a common INI habit does not throw the whole file
   * away, and report a notice. Default true.
   */
  semicolonComments?: boolean;
}

/** g_ascii_isspace: space, \t, \n, \v, \f, \r. */
export function isAsciiSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\v' || ch === '\f' || ch === '\r';
}

function skipLeadingSpace(s: string): string {
  let i = 0;
  while (i < s.length && isAsciiSpace(s[i]!)) i++;
  return s.slice(i);
}

/** g_ascii_iscntrl: 0x00-0x1f and 0x7f. */
function isAsciiControl(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return c < 0x20 || c === 0x7f;
}

/** g_key_file_is_group_name. */
export function isValidGroupName(name: string): boolean {
  if (name.length === 0) return false;
  for (const ch of name) {
    if (ch === '[' || ch === ']' || isAsciiControl(ch)) return false;
  }
  return true;
}

/** Letters/digits in the locale suffix, as g_unichar_isalnum approximates. */
const LOCALE_CHAR = /^[\p{L}\p{N}\-_.@]$/u;

/** g_key_file_is_key_name. */
export function isValidKeyName(name: string): boolean {
  const chars = Array.from(name);
  let q = 0;
  while (q < chars.length && chars[q] !== '=' && chars[q] !== '[' && chars[q] !== ']') q++;
  if (q === 0) return false; // no empty keys
  // Inner spaces are tolerated, leading/trailing ones are not (they would be
  // lost when the file is read back).
  if (chars[0] === ' ' || chars[q - 1] === ' ') return false;
  if (q < chars.length && chars[q] === '[') {
    q++;
    while (q < chars.length && LOCALE_CHAR.test(chars[q]!)) q++;
    if (chars[q] !== ']') return false;
    q++;
  }
  return q >= chars.length;
}

/** g_key_file_line_is_group (on a line with leading whitespace removed). */
function lineIsGroup(line: string): boolean {
  if (line[0] !== '[') return false;
  const close = line.indexOf(']', 1);
  if (close < 0) return false;
  // GLib silently accepts spaces and tabs (only) after the ']'.
  for (let i = close + 1; i < line.length; i++) {
    if (line[i] !== ' ' && line[i] !== '\t') return false;
  }
  return true;
}

/** The locale of a translated key `name[locale]`, or undefined. */
function keyLocale(key: string): string | undefined {
  const open = key.lastIndexOf('[');
  if (open < 0) return undefined;
  const suffix = key.slice(open);
  // GLib: a "[]" suffix (length 2) is not a locale; the key is kept as is.
  if (suffix.length <= 2) return undefined;
  return suffix.slice(1, -1);
}

/**
 * g_get_language_names() for the LC_MESSAGES category: LANGUAGE (a
 * colon-separated list), else the first set of LC_ALL, LC_MESSAGES, LANG;
 * each expanded to its variants (ll_CC.codeset@mod, ll_CC@mod, ll@mod, …);
 * always ending with "C". Locale aliases are not resolved.
 */
export function languageNames(env: NodeJS.ProcessEnv = process.env): string[] {
  const pick = (...names: string[]): string | undefined => {
    for (const n of names) {
      const v = env[n];
      if (v !== undefined && v !== '') return v;
    }
    return undefined;
  };
  const value = pick('LANGUAGE', 'LC_ALL', 'LC_MESSAGES', 'LANG') ?? 'C';
  const out: string[] = [];
  for (const locale of value.split(':')) {
    if (locale === '') continue;
    for (const v of localeVariants(locale)) if (!out.includes(v)) out.push(v);
  }
  if (!out.includes('C')) out.push('C');
  return out;
}

function localeVariants(locale: string): string[] {
  const m = /^([^_.@]*)(_[^.@]*)?(\.[^@]*)?(@.*)?$/.exec(locale);
  if (!m) return [locale];
  const [, lang = '', terr = '', code = '', mod = ''] = m;
  // Most specific first, as g_get_locale_variants() orders them; absent
  // components make duplicates, which are dropped.
  const variants = [
    lang + terr + code + mod, lang + terr + mod, lang + code + mod, lang + mod,
    lang + terr + code, lang + terr, lang + code, lang,
  ];
  return variants.filter((v, i) => v !== '' && variants.indexOf(v) === i);
}

/**
 * Splits text into lines the way g_key_file_parse_data does, returning the
 * content of each line (without its terminator).
 */
export function splitKeyFileLines(text: string): string[] {
  const parts = text.split('\n');
  const lines: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    let line = parts[i]!;
    if (last) {
      // After a final '\n' there is nothing; otherwise the tail is flushed
      // as is (GLib does not strip '\r' from an unterminated last line).
      if (line === '') break;
    } else if (line.endsWith('\r')) {
      line = line.slice(0, -1);
    }
    lines.push(line);
  }
  return lines;
}

/** What one line is, as the parser classifies it. */
export type LineKind =
  | { kind: 'comment' }
  | { kind: 'semicolon-comment' }
  | { kind: 'group'; name: string }
  | { kind: 'pair'; key: string; value: string; valueOffset: number }
  | { kind: 'invalid'; message: string };

/**
 * Classifies one line (without terminator). `valueOffset` is the index in
 * the original line where the raw value starts (used by the editor to keep
 * everything before it).
 */
export function classifyLine(line: string, semicolonComments = true): LineKind {
  const start = skipLeadingSpace(line);
  const indent = line.length - start.length;
  if (start === '' || start[0] === '#') return { kind: 'comment' };
  if (lineIsGroup(start)) {
    const close = start.lastIndexOf(']');
    const name = start.slice(1, close);
    if (!isValidGroupName(name)) return { kind: 'invalid', message: `Invalid group name: ${name}` };
    return { kind: 'group', name };
  }
  if (semicolonComments && start[0] === ';') return { kind: 'semicolon-comment' };
  const eq = start.indexOf('=');
  if (eq > 0) {
    let keyEnd = eq;
    while (keyEnd > 0 && isAsciiSpace(start[keyEnd - 1]!)) keyEnd--;
    const key = start.slice(0, keyEnd);
    if (!isValidKeyName(key)) return { kind: 'invalid', message: `Invalid key name: ${key}` };
    let v = eq + 1;
    while (v < start.length && isAsciiSpace(start[v]!)) v++;
    return { kind: 'pair', key, value: start.slice(v), valueOffset: indent + v };
  }
  return {
    kind: 'invalid',
    message: `Key file contains line “${line}” which is not a key-value pair, group, or comment`,
  };
}

/** Parses key-file text. Never throws. */
export function parseKeyFile(text: string, options: ParseOptions = {}): KeyFileParseResult {
  const semicolons = options.semicolonComments ?? true;
  const languages = options.keepTranslations ? undefined : (options.languages ?? languageNames());
  const groups = new Map<string, Map<string, string>>();
  const notices: KeyFileNotice[] = [];
  let current: Map<string, string> | undefined;
  let firstGroup: Map<string, string> | undefined;

  const lines = splitKeyFileLines(text);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!;
    const c = classifyLine(raw, semicolons);
    switch (c.kind) {
      case 'comment':
        break;
      case 'semicolon-comment':
        notices.push({
          line: lineNo,
          message: `line ${lineNo} starts with ';', which GLib/open-vm-tools do not accept as a comment ` +
            `(open-vm-tools would ${raw.includes('=') ? 'read it as a key' : 'reject the whole file'}); treated as a comment`,
        });
        break;
      case 'group': {
        let g = groups.get(c.name);
        if (!g) {
          g = new Map();
          groups.set(c.name, g);
        }
        current = g;
        firstGroup ??= g;
        break;
      }
      case 'pair': {
        if (!current) {
          return {
            ok: false,
            error: { code: 'group-not-found', line: lineNo, message: 'Key file does not start with a group' },
            notices,
          };
        }
        if (current === firstGroup && c.key === 'Encoding' && c.value.toUpperCase() !== 'UTF-8') {
          return {
            ok: false,
            error: {
              code: 'unknown-encoding',
              line: lineNo,
              message: `Key file contains unsupported encoding “${c.value}”`,
            },
            notices,
          };
        }
        const locale = keyLocale(c.key);
        if (locale !== undefined && languages !== undefined && !languages.includes(locale)) break;
        // Map.set keeps the first insertion position: last value wins, order
        // of first appearance is kept, as GLib's lookup map does.
        current.set(c.key, c.value);
        break;
      }
      case 'invalid': {
        const bom = lineNo === 1 && raw.startsWith('\uFEFF') ? ' (the file starts with a UTF-8 byte-order mark, which GLib does not skip)' : '';
        return { ok: false, error: { code: 'parse', line: lineNo, message: c.message + bom }, notices };
      }
    }
  }
  return { ok: true, file: { groups }, notices };
}

/** An empty key file (what a missing or empty tools.conf reads as). */
export function emptyKeyFile(): KeyFile {
  return { groups: new Map() };
}
