/**
 * createLogger(): the daemon's logger. Per-domain levels and outputs come
 * from tools.conf [logging] (log-settings.ts); records go through winston to
 * the sinks:
 *  - stdout (debug/info) and stderr (warning/error) — open-vm-tools' "std"
 *    handler split — with the `<N>` journal prefix when the descriptor is the
 *    journal, otherwise timestamp and level;
 *  - log files (file / file+ handlers), through bounded asynchronous queues
 *    that hold()/release() can stop while file systems are frozen;
 *  - the host's vmware.log (vmx handler), if the caller provides a sender.
 * Nothing here blocks the event loop on I/O.
 */
import { format as formatMessage } from 'node:util';

import winston from 'winston';

import { FileSink, type FileSinkStats } from './file-sink';
import { isJournalStream } from './journal';
import { LEVEL_RANK, type LogLevel } from './levels';
import { formatHostLine, formatJournalLine, formatPlainLine, type LogRecord } from './line-format';
import { resolveLogSettings, settingsForDomain, type LevelOverride, type LogFileSpec, type LogSettings } from './log-settings';
import { RECORD, RouterTransport } from './router-transport';
import { StdioSink, type LineStream, type StdioSinkStats } from './stdio-sink';
import { ToolsConfig } from '../config/tools-config';

export interface Logger {
  readonly domain: string;
  error(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
  /** Would a message of this level be logged? (Skip building expensive messages.) */
  isEnabled(level: LogLevel): boolean;
  /** A logger for another domain (guestinfo, vmbackup, …), sharing outputs and configuration. */
  child(domain: string): Logger;
}

export interface LoggerStats {
  stdout: StdioSinkStats;
  stderr: StdioSinkStats;
  files: FileSinkStats[];
  held: boolean;
}

export interface RootLogger extends Logger {
  /** Applies a new tools.conf (levels, handlers, files, bounds). */
  reconfigure(config: ToolsConfig): void;
  /** Command-line level override; wins over tools.conf until changed. */
  setLevelOverride(override: LevelOverride | undefined): void;
  /** Stops file writes (quiesce freeze). Resolves when no file write is in flight. */
  hold(): Promise<void>;
  /** Resumes file writes and reports lines dropped while held. */
  release(): void;
  /** Waits (bounded) until queued file lines are written. */
  flush(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
  stats(): LoggerStats;
}

export interface CreateLoggerOptions {
  /** Service name = default log domain. Default "vmsvc" (the system service). */
  service?: string;
  config?: ToolsConfig;
  levelOverride?: LevelOverride;
  /** Environment for JOURNAL_STREAM. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Streams to use instead of process.stdout / process.stderr (tests). */
  stdout?: LineStream;
  stderr?: LineStream;
  /** Sends one line to the host's vmware.log (RPCI `log`); must not block. Without it, vmx falls back to std. */
  hostSink?: (line: string) => void;
  /** Clock (tests). */
  now?: () => Date;
}

interface Route {
  rank: number;
  stdio: boolean;
  host: boolean;
  files: FileSink[];
}

function fileKey(spec: LogFileSpec): string {
  return JSON.stringify(spec);
}

class LogCore {
  readonly service: string;
  private settings: LogSettings;
  private config: ToolsConfig;
  private override: LevelOverride | undefined;
  private readonly routes = new Map<string, Route>();
  private readonly files = new Map<string, FileSink>();
  private readonly stdout: StdioSink;
  private readonly stderr: StdioSink;
  private readonly journal: { out: boolean; err: boolean };
  private readonly winston: winston.Logger;
  private readonly now: () => Date;
  private held = false;
  private closed = false;
  private reporting = false;

  constructor(private readonly opts: CreateLoggerOptions) {
    this.service = opts.service ?? 'vmsvc';
    this.config = opts.config ?? ToolsConfig.defaults();
    this.override = opts.levelOverride;
    this.now = opts.now ?? (() => new Date());
    this.settings = resolveLogSettings(this.config, this.service, this.override);
    const env = opts.env ?? process.env;
    this.journal = { out: isJournalStream(1, env), err: isJournalStream(2, env) };
    const s = this.settings;
    const report = (count: number, reason: string): void => this.reportDrops(count, reason);
    const problem = (message: string): void => this.reportProblem(message);
    this.stdout = new StdioSink({
      fd: 1, stream: opts.stdout, maxPendingBytes: s.stdioMaxPendingBytes,
      fileMaxLines: s.maxCacheEntries, fileMaxBytes: s.maxCacheBytes, onDrops: report, onProblem: problem,
    });
    this.stderr = new StdioSink({
      fd: 2, stream: opts.stderr, maxPendingBytes: s.stdioMaxPendingBytes,
      fileMaxLines: s.maxCacheEntries, fileMaxBytes: s.maxCacheBytes, onDrops: report, onProblem: problem,
    });
    this.winston = winston.createLogger({
      levels: { ...LEVEL_RANK },
      level: 'debug',
      exitOnError: false,
      transports: [new RouterTransport((r) => this.dispatch(r))],
    });
    this.applySettings();
  }

  isEnabled(domain: string, level: LogLevel): boolean {
    return LEVEL_RANK[level] <= this.route(domain).rank;
  }

  log(domain: string, level: LogLevel, message: string, args: readonly unknown[]): void {
    if (this.closed || !this.isEnabled(domain, level)) return;
    const text = args.length > 0 ? formatMessage(message, ...args) : message;
    const record: LogRecord = { level, domain, message: text, time: this.now() };
    this.winston.log({ level, message: text, [RECORD]: record });
  }

  reconfigure(config: ToolsConfig): void {
    this.config = config;
    this.settings = resolveLogSettings(config, this.service, this.override);
    this.applySettings();
  }

  setLevelOverride(override: LevelOverride | undefined): void {
    this.override = override;
    this.reconfigure(this.config);
  }

  async hold(): Promise<void> {
    this.held = true;
    await Promise.all([...this.fileSinks().map((f) => f.hold()), this.stdout.hold(), this.stderr.hold()]);
  }

  release(): void {
    this.held = false;
    for (const f of this.fileSinks()) f.release();
    this.stdout.release();
    this.stderr.release();
  }

  async flush(timeoutMs = 2000): Promise<boolean> {
    const results = await Promise.all([
      ...this.fileSinks().map((f) => f.flush(timeoutMs)),
      this.stdout.flush(timeoutMs),
      this.stderr.flush(timeoutMs),
    ]);
    return results.every(Boolean);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.fileSinks().map((f) => f.close()), this.stdout.close(), this.stderr.close()]);
    this.files.clear();
    this.routes.clear();
    this.winston.close();
  }

  stats(): LoggerStats {
    return {
      stdout: this.stdout.stats(),
      stderr: this.stderr.stats(),
      files: this.fileSinks().map((f) => f.stats()),
      held: this.held,
    };
  }

  private fileSinks(): FileSink[] {
    return [...this.files.values()];
  }

  /** Creates/keeps/closes file sinks to match the settings; resets routes. */
  private applySettings(): void {
    const s = this.settings;
    const wanted = new Map<string, LogFileSpec>();
    for (const d of [s.defaults, ...s.domains.values()]) {
      if (d.file) wanted.set(fileKey(d.file), d.file);
    }
    for (const [key, sink] of this.files) {
      if (!wanted.has(key)) {
        this.files.delete(key);
        void sink.close();
      }
    }
    for (const [key, spec] of wanted) {
      const existing = this.files.get(key);
      if (existing) {
        existing.setCacheBounds(s.maxCacheEntries, s.maxCacheBytes);
        continue;
      }
      const sink = new FileSink({
        pathTemplate: spec.template,
        append: spec.append,
        maxSizeBytes: spec.maxSizeBytes,
        maxOldFiles: spec.maxOldFiles,
        maxLines: s.maxCacheEntries,
        maxBytes: s.maxCacheBytes,
        onDrops: (count, reason) => this.reportDrops(count, reason),
        onProblem: (message) => this.reportProblem(message),
      });
      // A file configured while file systems are frozen starts held.
      if (this.held) void sink.hold();
      this.files.set(key, sink);
    }
    this.stdout.setLimits(s.stdioMaxPendingBytes, s.maxCacheEntries, s.maxCacheBytes);
    this.stderr.setLimits(s.stdioMaxPendingBytes, s.maxCacheEntries, s.maxCacheBytes);
    this.routes.clear();
  }

  private route(domain: string): Route {
    let r = this.routes.get(domain);
    if (r) return r;
    const d = settingsForDomain(this.settings, domain);
    const host = d.handler === 'vmx' && this.opts.hostSink !== undefined;
    const file = d.file ? this.files.get(fileKey(d.file)) : undefined;
    // std and syslog write to stdout/stderr (journald is the syslog here);
    // vmx without a sender falls back to std.
    const primaryIsStdio = d.handler === 'std' || d.handler === 'syslog' || (d.handler === 'vmx' && !host);
    r = {
      rank: d.rank,
      stdio: primaryIsStdio || this.settings.stdioCopy,
      host,
      files: file ? [file] : [],
    };
    this.routes.set(domain, r);
    return r;
  }

  private dispatch(record: LogRecord): void {
    const r = this.route(record.domain);
    if (r.stdio) {
      const toErr = record.level === 'error' || record.level === 'warn';
      const sink = toErr ? this.stderr : this.stdout;
      const journal = this.useJournalFormat(toErr ? this.journal.err : this.journal.out);
      sink.write(journal ? formatJournalLine(record) : formatPlainLine(record));
    }
    if (r.files.length > 0) {
      const line = formatPlainLine(record);
      for (const f of r.files) f.write(line);
    }
    if (r.host) this.opts.hostSink?.(formatHostLine(record));
  }

  private useJournalFormat(detected: boolean): boolean {
    const f = this.settings.stdioFormat;
    return f === 'journal' || (f === 'auto' && detected);
  }

  private reportDrops(count: number, reason: string): void {
    this.reportProblem(`${count} log line${count === 1 ? '' : 's'} dropped (${reason})`);
  }

  /** Internal trouble goes to the service domain and, if that has no stdio route, to stderr too. */
  private reportProblem(message: string): void {
    if (this.reporting) return; // a report about a report: give up rather than loop
    this.reporting = true;
    try {
      this.log(this.service, 'warn', message, []);
      if (!this.route(this.service).stdio) {
        const record: LogRecord = { level: 'warn', domain: this.service, message, time: this.now() };
        this.stderr.write(this.useJournalFormat(this.journal.err) ? formatJournalLine(record) : formatPlainLine(record));
      }
    } finally {
      this.reporting = false;
    }
  }
}

class DomainLogger implements Logger {
  constructor(
    protected readonly core: LogCore,
    readonly domain: string,
  ) {}

  error(message: string, ...args: unknown[]): void {
    this.core.log(this.domain, 'error', message, args);
  }

  warn(message: string, ...args: unknown[]): void {
    this.core.log(this.domain, 'warn', message, args);
  }

  info(message: string, ...args: unknown[]): void {
    this.core.log(this.domain, 'info', message, args);
  }

  debug(message: string, ...args: unknown[]): void {
    this.core.log(this.domain, 'debug', message, args);
  }

  isEnabled(level: LogLevel): boolean {
    return this.core.isEnabled(this.domain, level);
  }

  child(domain: string): Logger {
    return new DomainLogger(this.core, domain);
  }
}

class RootDomainLogger extends DomainLogger implements RootLogger {
  reconfigure(config: ToolsConfig): void {
    this.core.reconfigure(config);
  }

  setLevelOverride(override: LevelOverride | undefined): void {
    this.core.setLevelOverride(override);
  }

  hold(): Promise<void> {
    return this.core.hold();
  }

  release(): void {
    this.core.release();
  }

  flush(timeoutMs?: number): Promise<boolean> {
    return this.core.flush(timeoutMs);
  }

  close(): Promise<void> {
    return this.core.close();
  }

  stats(): LoggerStats {
    return this.core.stats();
  }
}

/** Creates the root logger (domain = the service name). */
export function createLogger(opts: CreateLoggerOptions = {}): RootLogger {
  const core = new LogCore(opts);
  return new RootDomainLogger(core, core.service);
}
