/**
 * Keeps the current ToolsConfig up to date, like vmtoolsd's conf-reload
 * timer (CONF_POLL_TIME = 5 s): every interval the file's identity (device,
 * inode, size, mtime, ctime) is compared with the last one read; only if it
 * differs is the file read and parsed, and 'change' is emitted only if some
 * (section, key) value really differs. `reload()` forces a read (SIGHUP).
 *
 * The timer is unref'd (it never keeps the process alive) and re-armed only
 * after a check has finished, so slow file systems cannot pile checks up.
 * `pause()`/`resume()` stop polling while file systems are frozen by
 * quiescing, as the reference does on its I/O-freeze signal.
 */
import { EventEmitter } from 'node:events';
import { promises as fsp } from 'node:fs';

import { loadToolsConfig, sameSignature, signatureOf, type FileSignature, type LoadState } from './config-loader';
import type { ParseOptions } from './keyfile';
import { CONF_POLL_TIME_MS, DEFAULT_TOOLS_CONF_PATH } from './paths';
import { ToolsConfig, type ConfigWarning } from './tools-config';

export interface ConfigChange {
  section: string;
  key: string;
  /** Raw value before (undefined: the key did not exist). */
  previous?: string;
  /** Raw value now (undefined: the key was removed). */
  current?: string;
}

export interface ConfigChangeEvent {
  changes: readonly ConfigChange[];
  config: ToolsConfig;
  previous: ToolsConfig;
  /** Did anything in `section` (and `key`, if given) change? */
  touches(section: string, key?: string): boolean;
}

export interface ConfigWatcherEvents {
  change: [event: ConfigChangeEvent];
  warning: [warning: ConfigWarning];
}

export interface ConfigWatcherOptions {
  path?: string;
  intervalMs?: number;
  parseOptions?: ParseOptions;
}

/** The (section, key) pairs whose raw values differ between two snapshots. */
export function diffConfigs(before: ToolsConfig, after: ToolsConfig): ConfigChange[] {
  const id = (s: string, k: string) => `${s}\0${k}`;
  const old = new Map(before.entries().map((e) => [id(e.section, e.key), e] as const));
  const changes: ConfigChange[] = [];
  for (const e of after.entries()) {
    const o = old.get(id(e.section, e.key));
    old.delete(id(e.section, e.key));
    if (!o || o.value !== e.value) changes.push({ section: e.section, key: e.key, previous: o?.value, current: e.value });
  }
  for (const o of old.values()) changes.push({ section: o.section, key: o.key, previous: o.value });
  return changes;
}

function changeEvent(changes: ConfigChange[], config: ToolsConfig, previous: ToolsConfig): ConfigChangeEvent {
  return {
    changes, config, previous,
    touches: (section, key) => changes.some((c) => c.section === section && (key === undefined || c.key === key)),
  };
}

function errnoCode(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'EUNKNOWN';
}

export class ConfigWatcher extends EventEmitter<ConfigWatcherEvents> {
  readonly path: string;
  private readonly intervalMs: number;
  private readonly parseOptions: ParseOptions | undefined;
  private config: ToolsConfig;
  private signature: FileSignature | undefined;
  private lastState: LoadState | undefined;
  private lastStatError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private paused = false;
  /** Serialises checks and reloads. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: ConfigWatcherOptions = {}) {
    super();
    this.path = options.path ?? DEFAULT_TOOLS_CONF_PATH;
    this.intervalMs = options.intervalMs ?? CONF_POLL_TIME_MS;
    this.parseOptions = options.parseOptions;
    this.config = ToolsConfig.defaults(this.path);
  }

  /** The configuration in force. */
  get current(): ToolsConfig {
    return this.config;
  }

  /** Reads the file once (emitting its warnings) and starts polling. */
  async start(): Promise<ToolsConfig> {
    await this.reload();
    this.running = true;
    this.arm();
    return this.config;
  }

  stop(): void {
    this.running = false;
    this.disarm();
  }

  /** Stops polling (file systems frozen); reload() still works if called. */
  pause(): void {
    this.paused = true;
    this.disarm();
  }

  resume(): void {
    this.paused = false;
    this.arm();
  }

  /** Re-reads the file now, whatever its signature (SIGHUP). Resolves with the change, if any. */
  reload(): Promise<ConfigChangeEvent | undefined> {
    return this.enqueue(() => this.load());
  }

  /** One poll step: re-reads only if the file's identity changed. */
  check(): Promise<ConfigChangeEvent | undefined> {
    return this.enqueue(async () => {
      let sig: FileSignature | undefined;
      try {
        sig = signatureOf(await fsp.stat(this.path, { bigint: true }));
        this.lastStatError = undefined;
      } catch (err) {
        const code = errnoCode(err);
        if (code !== 'ENOENT') {
          // Report a stat failure once, not every 5 seconds.
          if (this.lastStatError !== code) {
            this.lastStatError = code;
            this.emit('warning', {
              severity: 'warning', file: this.path,
              message: `${this.path}: cannot be checked for changes (${code}); the current configuration stays in force.`,
            });
          }
          return undefined;
        }
        if (this.lastState === 'missing') return undefined;
      }
      if (sig && sameSignature(sig, this.signature)) return undefined;
      return this.load(sig);
    });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** `statSignature`: what check() saw, so an unreadable file is not re-read (and re-reported) every poll. */
  private async load(statSignature?: FileSignature): Promise<ConfigChangeEvent | undefined> {
    const before = this.config;
    const outcome = await loadToolsConfig(this.path, before, this.parseOptions);
    this.signature = outcome.signature ?? statSignature ?? (await this.statQuietly());
    this.lastState = outcome.state;
    for (const w of outcome.warnings) this.emit('warning', w);
    if (outcome.config === before) return undefined;
    this.config = outcome.config;
    const changes = diffConfigs(before, outcome.config);
    if (changes.length === 0) return undefined;
    const event = changeEvent(changes, outcome.config, before);
    this.emit('change', event);
    return event;
  }

  private async statQuietly(): Promise<FileSignature | undefined> {
    try {
      return signatureOf(await fsp.stat(this.path, { bigint: true }));
    } catch {
      return undefined;
    }
  }

  private arm(): void {
    if (!this.running || this.paused || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.check()
        .catch((err: unknown) => this.emit('warning', {
          severity: 'warning', file: this.path, message: `${this.path}: configuration check failed: ${String(err)}`,
        }))
        .finally(() => this.arm());
    }, this.intervalMs);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Makes SIGHUP reload the configuration (the conventional daemon reload
 * signal). Returns a function that removes the handler.
 */
export function reloadOnSighup(watcher: ConfigWatcher): () => void {
  const handler = (): void => {
    void watcher.reload();
  };
  process.on('SIGHUP', handler);
  return () => {
    process.off('SIGHUP', handler);
  };
}
