/**
 * A bounded FIFO of log lines (a ring in effect): when a bound on lines or
 * bytes would be exceeded, the oldest lines are dropped and counted —
 * open-vm-tools' log cache also "preserves only the most recent messages"
 * (DEFAULT_MAX_CACHE_ENTRIES, vmtoolsLog.c). Memory use is therefore bounded
 * however long the file system stays frozen or unwritable.
 */
export class LineQueue {
  private lines: string[] = [];
  private head = 0;
  private bytes = 0;
  private droppedCount = 0;

  constructor(
    private maxLines: number,
    private maxBytes: number,
  ) {}

  get length(): number {
    return this.lines.length - this.head;
  }

  get byteLength(): number {
    return this.bytes;
  }

  /** Lines dropped since the last takeDropped(). */
  get dropped(): number {
    return this.droppedCount;
  }

  setBounds(maxLines: number, maxBytes: number): void {
    this.maxLines = maxLines;
    this.maxBytes = maxBytes;
    this.trim(0, 0);
  }

  /** Queues a line, dropping the oldest ones (or this one, if it alone is too big). */
  push(line: string): void {
    const size = Buffer.byteLength(line);
    if (this.maxLines <= 0 || size > this.maxBytes) {
      this.droppedCount++;
      return;
    }
    this.trim(1, size);
    this.lines.push(line);
    this.bytes += size;
  }

  /** Removes and returns lines from the front, up to `maxBytes` (at least one line). */
  take(maxBytes: number): string[] {
    const out: string[] = [];
    let total = 0;
    while (this.length > 0) {
      const line = this.lines[this.head]!;
      const size = Buffer.byteLength(line);
      if (out.length > 0 && total + size > maxBytes) break;
      out.push(line);
      total += size;
      this.head++;
      this.bytes -= size;
    }
    this.compact();
    return out;
  }

  /** Puts lines back at the front (a write that failed before writing anything). */
  unshift(lines: readonly string[]): void {
    this.lines.splice(this.head, 0, ...lines);
    for (const l of lines) this.bytes += Buffer.byteLength(l);
    this.trim(0, 0);
  }

  /** Counts lines lost elsewhere (e.g. a partly failed write). */
  noteDropped(n: number): void {
    this.droppedCount += n;
  }

  /** Returns the drop count and resets it. */
  takeDropped(): number {
    const n = this.droppedCount;
    this.droppedCount = 0;
    return n;
  }

  clear(): void {
    this.droppedCount += this.length;
    this.lines = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** Drops oldest lines until `extraLines`/`extraBytes` more would fit. */
  private trim(extraLines: number, extraBytes: number): void {
    while (this.length > 0 && (this.length + extraLines > this.maxLines || this.bytes + extraBytes > this.maxBytes)) {
      this.bytes -= Buffer.byteLength(this.lines[this.head]!);
      this.head++;
      this.droppedCount++;
    }
    this.compact();
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
    if (this.length === 0) {
      this.lines = [];
      this.head = 0;
    }
  }
}
