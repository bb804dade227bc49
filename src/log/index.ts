/** Logging: per-domain levels from tools.conf, journal-aware stdio, non-blocking files. */
export * from './config-binding';
export * from './file-sink';
export * from './journal';
export * from './levels';
export * from './line-format';
export * from './line-queue';
export * from './log-file-path';
export * from './log-settings';
export * from './logger';
export * from './stdio-sink';
