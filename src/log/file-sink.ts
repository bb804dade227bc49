/**
 * A log file that never blocks the event loop.
 *
 * Lines go into a bounded in-memory queue (LineQueue) and are drained by
 * one asynchronous write at a time; the event loop only ever appends to the
 * queue. This matters because quiescing freezes file systems: a synchronous
 * write to a frozen file system blocks until thaw, and a blocked event loop
 * cannot process the `snapshotDone` that would thaw it (open-vm-tools#650).
 *
 *  - hold(): no new write is started (the quiesce code calls it before
 *    FIFREEZE); it resolves once the write in flight, if any, has finished.
 *  - release(): writing resumes; lines dropped meanwhile are reported once
 *    through `onDrops` ("N lines dropped").
 *  - open/write failures (unwritable directory, ENOSPC, …): reported once per
 *    episode through `onProblem`; lines stay queued (bounded) and the file is
 *    retried every `retryMs`.
 *  - rotation by size with open-vm-tools' naming and order (fileLogger.c):
 *    `file` mode backs up and truncates at the first open, `file+` appends.
 */
import { promises as fsp, write as fdWrite } from 'node:fs';

import { expandLogFilePath } from './log-file-path';
import { LineQueue } from './line-queue';

export interface FileSinkOptions {
  /** Path template (`${USER}`, `${PID}`, `${IDX}` are expanded). */
  pathTemplate: string;
  /**
   * Write to this already open descriptor instead of opening the path (a
   * stdout redirected to a file): no open, rotation, chmod or close, and the
   * descriptor's shared offset is used so other writers to it stay in order.
   */
  fd?: number;
  /** true = file+ (append), false = file (back up and truncate at first open). */
  append: boolean;
  /** Rotate when the file reaches this size; 0 = never. */
  maxSizeBytes: number;
  /** Rotated files kept. */
  maxOldFiles: number;
  /** Queue bounds (maxCacheEntries, maxCacheBytes). */
  maxLines: number;
  maxBytes: number;
  /** chmod 0600 the file, as open-vm-tools does. Default true. */
  restrictMode?: boolean;
  /** Delay before retrying after a failure. Default 30 s. */
  retryMs?: number;
  onProblem?: (message: string) => void;
  onDrops?: (count: number, reason: string) => void;
}

export interface FileSinkStats {
  path: string;
  held: boolean;
  queuedLines: number;
  queuedBytes: number;
  writtenLines: number;
  /** Lines dropped and not yet reported. */
  pendingDrops: number;
  failing: boolean;
}

/** Largest chunk handed to one write(). */
const BATCH_BYTES = 64 * 1024;
/** Queue bound in lines while not held: a cache of 0 must not stop normal writing. */
const MIN_ACTIVE_LINES = 256;

function errnoCode(err: unknown): string {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : String(err);
}

async function isRegularFile(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** What the sink writes through: an opened file, or an inherited descriptor. */
interface Output {
  write(buf: Buffer, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
}

function fileHandleOutput(fh: fsp.FileHandle): Output {
  return {
    write: async (buf, offset, length) => (await fh.write(buf, offset, length)).bytesWritten,
    close: () => fh.close(),
  };
}

function descriptorOutput(fd: number): Output {
  return {
    write: (buf, offset, length) => new Promise((resolve, reject) => {
      fdWrite(fd, buf, offset, length, null, (err, n) => (err ? reject(err) : resolve(n)));
    }),
    close: () => Promise.resolve(),
  };
}

export class FileSink {
  private readonly queue: LineQueue;
  private out: Output | undefined;
  private size = 0;
  private appendNextOpen: boolean;
  private held = false;
  private writing = false;
  private closed = false;
  private failing = false;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private written = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly retryMs: number;

  constructor(private readonly opts: FileSinkOptions) {
    this.queue = new LineQueue(Math.max(opts.maxLines, MIN_ACTIVE_LINES), opts.maxBytes);
    this.appendNextOpen = opts.append;
    this.retryMs = opts.retryMs ?? 30_000;
  }

  /** The active file's path. */
  get path(): string {
    return this.opts.fd !== undefined ? this.opts.pathTemplate : expandLogFilePath(this.opts.pathTemplate, 0);
  }

  /** Queues one formatted line (with its '\n'); never blocks. */
  write(line: string): void {
    if (this.closed) return;
    this.queue.push(line);
    this.pump();
  }

  /** Stops starting writes; resolves when no write is in flight. */
  hold(): Promise<void> {
    if (!this.held) {
      this.held = true;
      this.applyBounds();
    }
    return this.whenIdle();
  }

  /** Resumes writing and reports what was dropped while held. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.applyBounds();
    const dropped = this.queue.takeDropped();
    if (dropped > 0) this.opts.onDrops?.(dropped, 'while log file I/O was held');
    this.pump();
  }

  /** Updates the queue bounds (config reload). */
  setCacheBounds(maxLines: number, maxBytes: number): void {
    this.opts.maxLines = maxLines;
    this.opts.maxBytes = maxBytes;
    this.applyBounds();
  }

  /** Resolves when the queue is empty and nothing is in flight, or after `timeoutMs` (false). */
  async flush(timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 || this.writing) {
      if (this.held || (this.failing && !this.writing)) return false;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.whenIdle(),
        new Promise<void>((r) => {
          timer = setTimeout(r, left);
          timer.unref();
        }),
      ]);
      if (timer) clearTimeout(timer);
      if (!this.writing && this.queue.length > 0) this.pump();
    }
    return true;
  }

  /** Flushes briefly, then closes the file. Never waits on a stuck write beyond `timeoutMs`. */
  async close(timeoutMs = 1000): Promise<void> {
    await this.flush(timeoutMs);
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (!this.writing) await this.closeHandle();
  }

  stats(): FileSinkStats {
    return {
      path: this.path,
      held: this.held,
      queuedLines: this.queue.length,
      queuedBytes: this.queue.byteLength,
      writtenLines: this.written,
      pendingDrops: this.queue.dropped,
      failing: this.failing,
    };
  }

  private applyBounds(): void {
    // While held, maxCacheEntries is the bound (0 = keep nothing); while
    // writing normally a floor keeps the pipeline working.
    const lines = this.held ? this.opts.maxLines : Math.max(this.opts.maxLines, MIN_ACTIVE_LINES);
    this.queue.setBounds(lines, this.opts.maxBytes);
  }

  private whenIdle(): Promise<void> {
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    if (this.writing || this.held || this.closed || this.queue.length === 0) return;
    if (this.failing && Date.now() < this.retryAt) {
      this.scheduleRetry();
      return;
    }
    this.writing = true;
    void this.writeOnce().finally(() => {
      this.writing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      if (this.closed) void this.closeHandle();
      else this.pump();
    });
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, Math.max(0, this.retryAt - Date.now()));
    this.retryTimer.unref();
  }

  private async writeOnce(): Promise<void> {
    let batch: string[] = [];
    let off = 0;
    try {
      if (!this.out) await this.open();
      batch = this.queue.take(BATCH_BYTES);
      const buf = Buffer.from(batch.join(''), 'utf8');
      while (off < buf.length) {
        off += await this.out!.write(buf, off, buf.length - off);
      }
      this.size += buf.length;
      this.written += batch.length;
      batch = [];
      if (this.failing) {
        this.failing = false;
        this.opts.onProblem?.(`log file ${this.path} is writable again`);
      }
      if (this.opts.fd === undefined && this.opts.maxSizeBytes > 0 && this.size >= this.opts.maxSizeBytes) {
        await this.closeHandle();
        this.appendNextOpen = false;
        await this.rotate();
        // Start the next file right away, as the reference does.
        await this.open();
      }
      if (!this.held) {
        const dropped = this.queue.takeDropped();
        if (dropped > 0) this.opts.onDrops?.(dropped, 'the log file could not keep up or was not writable');
      }
    } catch (err) {
      // An unwritten batch goes back to the front; a partly written one
      // cannot be retried without duplicating lines, so it counts as dropped.
      if (off === 0) this.queue.unshift(batch);
      else this.queue.noteDropped(batch.length);
      await this.closeHandle();
      this.retryAt = Date.now() + this.retryMs;
      if (!this.failing) {
        this.failing = true;
        this.opts.onProblem?.(
          `cannot write log file ${this.path} (${errnoCode(err)}); lines are kept in memory ` +
          `(oldest dropped beyond the cache bound) and the file is retried every ${Math.round(this.retryMs / 1000)} s`,
        );
      }
    }
  }

  private async open(): Promise<void> {
    if (this.opts.fd !== undefined) {
      this.out = descriptorOutput(this.opts.fd);
      return;
    }
    const p = this.path;
    let existing: number | undefined;
    try {
      existing = (await fsp.stat(p)).size;
    } catch {
      existing = undefined;
    }
    let append = this.appendNextOpen;
    const limit = this.opts.maxSizeBytes;
    if (existing !== undefined && (!append || (limit > 0 && existing >= limit))) {
      await this.rotate();
      append = false;
      existing = 0;
    }
    const fh = await fsp.open(p, append ? 'a' : 'w', 0o600);
    if (this.opts.restrictMode ?? true) await fh.chmod(0o600).catch(() => undefined);
    this.out = fileHandleOutput(fh);
    this.size = append ? (existing ?? 0) : 0;
    // Reopening after an error or a restart of the sink must not truncate.
    this.appendNextOpen = true;
  }

  /** Shifts name.N.log → name.N+1.log …, name.log → name.1.log (fileLogger.c order). */
  private async rotate(): Promise<void> {
    const names: string[] = [];
    for (let id = 0; id <= this.opts.maxOldFiles; id++) {
      const name = expandLogFilePath(this.opts.pathTemplate, id);
      names.push(name);
      if (!(await isRegularFile(name))) break;
    }
    for (let id = names.length - 1; id > 0; id--) {
      const dest = names[id]!;
      const src = names[id - 1]!;
      try {
        if (await isDirectory(dest)) {
          await fsp.unlink(src);
          continue;
        }
        await fsp.unlink(dest).catch(() => undefined);
        await fsp.rename(src, dest);
      } catch {
        // Rotation is best effort, as in the reference.
      }
    }
  }

  private async closeHandle(): Promise<void> {
    const out = this.out;
    this.out = undefined;
    if (out) await out.close().catch(() => undefined);
  }
}
