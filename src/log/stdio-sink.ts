/**
 * stdout/stderr output that never blocks the event loop indefinitely.
 *
 * What a write to fd 1/2 can block on depends on what it is:
 *  - pipe or socket (journald, a container runtime, `| tee`): Node's stream
 *    writes asynchronously through libuv (non-blocking descriptor, queued on
 *    EAGAIN). We bound that queue: while more than `maxPendingBytes` are
 *    waiting, new lines are dropped and counted, and the count is reported
 *    once the reader catches up.
 *  - regular file (`vmtoolsd >/var/log/x`): Node would write synchronously,
 *    which blocks on a frozen file system; we write through a FileSink on the
 *    descriptor instead (asynchronous, bounded, hold/release-able).
 *  - terminal or other character device: written directly (Node makes TTY
 *    writes blocking; a terminal is not frozen by quiescing).
 *  - closed: lines are discarded.
 * A stream error (EPIPE: the reader went away) disables the sink rather than
 * crashing the process with an unhandled 'error' event.
 */
import { fstatSync } from 'node:fs';
import type { Writable } from 'node:stream';

import { FileSink } from './file-sink';

export type StdioKind = 'stream' | 'file' | 'closed';

export function stdioKind(fd: number): StdioKind {
  try {
    const st = fstatSync(fd);
    return st.isFile() ? 'file' : 'stream';
  } catch {
    return 'closed';
  }
}

/** The part of a Writable this sink needs. */
export type LineStream = Pick<Writable, 'write' | 'writableLength' | 'on'>;

export interface StdioSinkOptions {
  fd: 1 | 2;
  /** Stream for pipe/socket/tty descriptors; default process.stdout / process.stderr. Given → treated as a stream. */
  stream?: LineStream;
  maxPendingBytes: number;
  /** Queue bounds when the descriptor is a regular file. */
  fileMaxLines?: number;
  fileMaxBytes?: number;
  onDrops?: (count: number, reason: string) => void;
  onProblem?: (message: string) => void;
}

export interface StdioSinkStats {
  kind: StdioKind;
  pendingBytes: number;
  /** Dropped lines not reported yet. */
  pendingDrops: number;
  dead: boolean;
}

/** How often a congested stream is checked for having caught up. */
const RECOVERY_POLL_MS = 250;

export class StdioSink {
  readonly kind: StdioKind;
  private readonly stream: LineStream | undefined;
  private readonly file: FileSink | undefined;
  private maxPending: number;
  private dropped = 0;
  private dead = false;
  private recoveryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: StdioSinkOptions) {
    this.maxPending = opts.maxPendingBytes;
    this.kind = opts.stream ? 'stream' : stdioKind(opts.fd);
    if (this.kind === 'stream') {
      this.stream = opts.stream ?? (opts.fd === 1 ? process.stdout : process.stderr);
      this.stream.on('error', () => {
        // EPIPE and the like: nobody is reading any more.
        this.dead = true;
      });
    } else if (this.kind === 'file') {
      this.file = new FileSink({
        pathTemplate: `fd ${opts.fd}`,
        fd: opts.fd,
        append: true,
        maxSizeBytes: 0,
        maxOldFiles: 0,
        maxLines: opts.fileMaxLines ?? 4096,
        maxBytes: opts.fileMaxBytes ?? 4 * 1024 * 1024,
        restrictMode: false,
        onDrops: opts.onDrops,
        onProblem: opts.onProblem,
      });
    }
  }

  write(line: string): void {
    if (this.file) {
      this.file.write(line);
      return;
    }
    const s = this.stream;
    if (!s || this.dead) return;
    if (s.writableLength + Buffer.byteLength(line) > this.maxPending) {
      this.dropped++;
      this.watchRecovery();
      return;
    }
    s.write(line);
  }

  /** Only a regular-file stdout can be on a frozen file system. */
  hold(): Promise<void> {
    return this.file ? this.file.hold() : Promise.resolve();
  }

  release(): void {
    this.file?.release();
  }

  setLimits(maxPendingBytes: number, fileMaxLines: number, fileMaxBytes: number): void {
    this.maxPending = maxPendingBytes;
    this.file?.setCacheBounds(fileMaxLines, fileMaxBytes);
  }

  flush(timeoutMs?: number): Promise<boolean> {
    return this.file ? this.file.flush(timeoutMs) : Promise.resolve(true);
  }

  async close(): Promise<void> {
    if (this.recoveryTimer) clearInterval(this.recoveryTimer);
    this.recoveryTimer = undefined;
    await this.file?.close();
  }

  stats(): StdioSinkStats {
    return {
      kind: this.kind,
      pendingBytes: this.stream?.writableLength ?? this.file?.stats().queuedBytes ?? 0,
      pendingDrops: this.file ? this.file.stats().pendingDrops : this.dropped,
      dead: this.dead,
    };
  }

  /** Reports the drops once the reader has drained half of the allowance. */
  private watchRecovery(): void {
    if (this.recoveryTimer) return;
    this.recoveryTimer = setInterval(() => {
      const s = this.stream;
      if (!s || this.dead) {
        clearInterval(this.recoveryTimer);
        this.recoveryTimer = undefined;
        return;
      }
      if (s.writableLength > this.maxPending / 2) return;
      clearInterval(this.recoveryTimer);
      this.recoveryTimer = undefined;
      const n = this.dropped;
      this.dropped = 0;
      if (n > 0) this.opts.onDrops?.(n, `fd ${this.opts.fd} was not being read`);
    }, RECOVERY_POLL_MS);
    this.recoveryTimer.unref();
  }
}
