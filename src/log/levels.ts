/**
 * Our four log levels, how open-vm-tools' level names in tools.conf map onto
 * them, and their syslog priorities for the journal (sd-daemon(3)).
 */
import type { GLibLogLevel } from '../config/schema';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Lower = more severe; winston's convention. */
export const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

/** `<N>` prefixes understood by journald on stdout/stderr: err, warning, info, debug. */
export const SYSLOG_PRIORITY: Readonly<Record<LogLevel, number>> = { error: 3, warn: 4, info: 6, debug: 7 };

/** The words open-vm-tools prints in its "[ warning]" column. */
export const LEVEL_WORD: Readonly<Record<LogLevel, string>> = { error: 'error', warn: 'warning', info: 'info', debug: 'debug' };

/** No level passes. */
export const RANK_NONE = -1;

/**
 * The most verbose rank a tools.conf level lets through. GLib has six
 * levels and we have four: critical counts as error, and "message" (the
 * reference default) already shows our info lines — our info is what the
 * reference logs with g_message.
 */
export function rankOfGLibLevel(level: GLibLogLevel): number {
  switch (level) {
    case 'none': return RANK_NONE;
    case 'error':
    case 'critical': return LEVEL_RANK.error;
    case 'warning': return LEVEL_RANK.warn;
    case 'message':
    case 'info': return LEVEL_RANK.info;
    case 'debug': return LEVEL_RANK.debug;
  }
}

export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}
