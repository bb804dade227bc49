/**
 * The winston transport that hands each record to our sinks. winston does
 * level bookkeeping and fan-out; routing by domain and the non-blocking
 * output live in the sinks. `log()` calls `next()` synchronously, so winston
 * never buffers (its stream would otherwise queue records in memory).
 */
import Transport from 'winston-transport';

import type { LogRecord } from './line-format';
import { isLogLevel } from './levels';

/** What Logger puts into a winston info object. */
export const RECORD = Symbol('vmtoolsd-node.record');

function recordOf(info: unknown): LogRecord | undefined {
  if (typeof info !== 'object' || info === null || !(RECORD in info)) return undefined;
  const r: unknown = (info as { [RECORD]: unknown })[RECORD];
  if (typeof r !== 'object' || r === null) return undefined;
  const rec = r as Partial<LogRecord>;
  if (!isLogLevel(rec.level) || typeof rec.domain !== 'string' || typeof rec.message !== 'string' || !(rec.time instanceof Date)) {
    return undefined;
  }
  return rec as LogRecord;
}

export class RouterTransport extends Transport {
  constructor(private readonly dispatch: (record: LogRecord) => void) {
    super();
  }

  override log(info: unknown, next: () => void): void {
    const record = recordOf(info);
    if (record) this.dispatch(record);
    next();
  }
}
