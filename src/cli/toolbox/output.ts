/**
 * Where vmware-toolbox-cmd's text goes, with the reference's rules:
 *
 *  - g_print / g_printerr: always printed. GLib converts the UTF-8 text to
 *    the locale's character set first (setlocale(LC_ALL, "") runs at
 *    start-up): in a UTF-8 locale the bytes pass unchanged; otherwise each
 *    character the charset cannot hold becomes "?" (gmessages.c
 *    strdup_convert, g_convert_with_fallback).
 *  - ToolsCmd_Print / ToolsCmd_PrintErr: the same, but silenced by -q.
 *  - raw: bytes written as they are (glibc's getopt messages use fprintf).
 */
import * as fs from 'node:fs';

export interface OutputSink {
  stdout(data: Buffer): void;
  stderr(data: Buffer): void;
}

export const processSink: OutputSink = {
  stdout: (d) => writeAll(1, d),
  stderr: (d) => writeAll(2, d),
};

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += fs.writeSync(fd, data, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw e;
    }
  }
}

export type Charset = 'utf8' | 'ascii' | 'latin1';

const LOCALE_ARCHIVE = '/usr/lib/locale/locale-archive';
const LOCALE_DIR = '/usr/lib/locale';

/** glibc's normalised codeset name ("UTF-8" → "utf8"). */
function normaliseCodeset(codeset: string): string {
  const alnum = codeset.replace(/[^A-Za-z0-9]/g, '');
  return /^\d+$/.test(alnum) ? `iso${alnum}` : alnum.toLowerCase();
}

/** Whether setlocale() would accept `name` (C/POSIX and C.UTF-8 are built in). */
function localeInstalled(name: string): boolean {
  const m = /^([^.@]*)(?:\.([^@]*))?(@.*)?$/.exec(name);
  if (!m) return false;
  const [, base = '', codeset, mod = ''] = m;
  const normalised = codeset === undefined ? name : `${base}.${normaliseCodeset(codeset)}${mod}`;
  if (base === 'C' && codeset !== undefined && normaliseCodeset(codeset) === 'utf8') return true;
  for (const n of new Set([name, normalised])) {
    if (fs.existsSync(`${LOCALE_DIR}/${n}/LC_CTYPE`)) return true;
  }
  try {
    const archive = fs.readFileSync(LOCALE_ARCHIVE);
    return archive.includes(Buffer.from(`${normalised}\0`)) || archive.includes(Buffer.from(`${name}\0`));
  } catch {
    return false;
  }
}

/**
 * The LC_CTYPE character set after setlocale(LC_ALL, ""): LC_ALL, then
 * LC_CTYPE, then LANG; an unknown locale leaves "C" (ASCII) in place.
 */
export function localeCharset(env: NodeJS.ProcessEnv = process.env): Charset {
  const name = [env.LC_ALL, env.LC_CTYPE, env.LANG].find((v) => v !== undefined && v !== '') ?? 'C';
  if (name === 'C' || name === 'POSIX') return 'ascii';
  if (!localeInstalled(name)) return 'ascii';
  const codeset = /\.([^@]*)/.exec(name)?.[1];
  if (codeset === undefined) return 'latin1'; // ll_CC without a codeset: the legacy 8-bit set
  const n = normaliseCodeset(codeset);
  if (n === 'utf8') return 'utf8';
  if (n === 'iso88591' || n === 'iso885915') return 'latin1';
  return 'ascii';
}

/** gmessages.c CHAR_IS_SAFE */
function charIsSafe(c: number): boolean {
  return !((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f || (c >= 0x80 && c < 0xa0));
}

function isAscii(b: Buffer): boolean {
  for (const c of b) if (c >= 0x80) return false;
  return true;
}

function isUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}

/**
 * GLib's conversion of a message (bytes meant as UTF-8) to the console
 * charset (gmessages.c strdup_convert): unchanged in a UTF-8 locale;
 * otherwise invalid UTF-8 becomes "[Invalid UTF-8] " with \xNN escapes, and
 * each character the charset lacks becomes "?".
 */
export function toConsole(data: Buffer | string, charset: Charset): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  if (charset === 'utf8' || isAscii(b)) return b;
  if (!isUtf8(b)) {
    let out = '[Invalid UTF-8] ';
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (charIsSafe(c) && !(c === 0x0d && b[i + 1] !== 0x0a) && c < 0x80) out += String.fromCharCode(c);
      else out += `\\x${c.toString(16).padStart(2, '0')}`;
    }
    return Buffer.from(out, 'latin1');
  }
  const limit = charset === 'latin1' ? 0xff : 0x7f;
  let out = '';
  for (const ch of b.toString('utf8')) out += ch.codePointAt(0)! <= limit ? ch : '?';
  return Buffer.from(out, 'latin1');
}

/** gmessages.c escape_string: invalid UTF-8 as \\xNN, unsafe control characters as \\uNNNN. */
export function escapeLogMessage(data: Buffer | string): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let out = '';
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    const chunk = len > 0 && i + len <= b.length ? b.subarray(i, i + len) : null;
    const ch = chunk && isUtf8(chunk) ? chunk.toString('utf8') : null;
    if (ch === null) {
      out += `\\x${c.toString(16).padStart(2, '0')}`;
      i++;
      continue;
    }
    const wc = ch.codePointAt(0)!;
    const safe = wc === 0x0d ? b[i + 1] === 0x0a : charIsSafe(wc);
    out += safe ? ch : `\\u${wc.toString(16).padStart(4, '0')}`;
    i += len;
  }
  return Buffer.from(out, 'utf8');
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/**
 * A g_warning() as GLib's default handler writes it to stderr before
 * open-vm-tools has set up its own logging (gmessages.c
 * g_log_writer_format_fields + g_log_writer_standard_streams): a blank line,
 * "** (process:<pid>): WARNING **: <HH:MM:SS.mmm>: <message>", colours on a
 * terminal.
 */
export function glibWarning(message: string, charset: Charset, opts: { pid?: number; now?: Date; color?: boolean } = {}): Buffer {
  const now = opts.now ?? new Date();
  const color = opts.color ?? false;
  const level = color ? '\x1b[1;33mWARNING\x1b[0m **' : 'WARNING **';
  const time = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}.${pad(now.getMilliseconds(), 3)}`;
  const stamp = color ? `\x1b[34m${time}\x1b[0m` : time;
  const head = Buffer.from(`\n** (process:${opts.pid ?? process.pid}): ${level}: ${stamp}: `, 'utf8');
  return Buffer.concat([head, toConsole(escapeLogMessage(message), charset), Buffer.from('\n')]);
}

export class Output {
  private charsetCache: Charset | undefined;

  constructor(
    private readonly sink: OutputSink = processSink,
    readonly quiet = false,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  withQuiet(quiet: boolean): Output {
    const o = new Output(this.sink, quiet, this.env);
    o.charsetCache = this.charsetCache;
    return o;
  }

  private convert(text: string | Buffer): Buffer {
    const b = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    if (isAscii(b)) return b;
    this.charsetCache ??= localeCharset(this.env);
    return toConsole(b, this.charsetCache);
  }

  /** g_print */
  print(text: string | Buffer): void {
    this.sink.stdout(this.convert(text));
  }

  /** g_printerr */
  printErr(text: string | Buffer): void {
    this.sink.stderr(this.convert(text));
  }

  /** ToolsCmd_Print */
  info(text: string | Buffer): void {
    if (!this.quiet) this.print(text);
  }

  /** ToolsCmd_PrintErr */
  error(text: string | Buffer): void {
    if (!this.quiet) this.printErr(text);
  }

  /** A GLib default-handler warning on stderr (not silenced by -q). */
  warning(message: string): void {
    this.charsetCache ??= localeCharset(this.env);
    const color = this.sink === processSink && process.stderr.isTTY === true;
    this.sink.stderr(glibWarning(message, this.charsetCache, { color }));
  }

  /** Bytes as they are, on stdout. */
  rawOut(data: Buffer): void {
    this.sink.stdout(data);
  }

  /** Bytes as they are, on stderr. */
  rawErr(data: Buffer): void {
    this.sink.stderr(data);
  }
}
