/**
 * One log event → one line of text. Newlines inside a message are escaped
 * (a journal entry, a grep, and log rotation all assume one event per line),
 * and a line is capped so one huge message cannot eat the buffers.
 */
import { LEVEL_WORD, SYSLOG_PRIORITY, type LogLevel } from './levels';

export interface LogRecord {
  level: LogLevel;
  /** Log domain (vmsvc, guestinfo, vmbackup, …). */
  domain: string;
  message: string;
  time: Date;
}

/** Upper bound of one formatted message, in UTF-16 units (journald's LineMax is 48K). */
export const MAX_MESSAGE_LENGTH = 16 * 1024;

/** Escapes CR/LF (and other C0 controls except tab) and caps the length. */
export function oneLine(message: string): string {
  let s = message.replace(/\r\n|[\r\n]/g, '\\n').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (s.length > MAX_MESSAGE_LENGTH) {
    const cut = s.length - MAX_MESSAGE_LENGTH;
    s = `${s.slice(0, MAX_MESSAGE_LENGTH)}… [${cut} more characters]`;
  }
  return s;
}

/** sd-daemon(3) style: `<6>[domain] message` — journald adds time and priority. */
export function formatJournalLine(r: LogRecord): string {
  return `<${SYSLOG_PRIORITY[r.level]}>[${r.domain}] ${oneLine(r.message)}\n`;
}

/** open-vm-tools' file layout: `[time] [   level] [domain] message`. */
export function formatPlainLine(r: LogRecord): string {
  return `[${r.time.toISOString()}] [${LEVEL_WORD[r.level].padStart(8)}] [${r.domain}] ${oneLine(r.message)}\n`;
}

/** For the host's vmware.log (it timestamps lines itself). */
export function formatHostLine(r: LogRecord): string {
  return `[${LEVEL_WORD[r.level].padStart(8)}] [${r.domain}] ${oneLine(r.message)}`;
}
