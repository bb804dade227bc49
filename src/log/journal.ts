/**
 * Is a descriptor connected to the systemd journal? systemd sets
 * JOURNAL_STREAM="<dev>:<ino>" (decimal) for services whose stdout/stderr
 * it connects to journald; the descriptor is the journal only if its fstat
 * identity matches — a child whose output was redirected inherits the
 * variable but not the stream (systemd.exec(5), "$JOURNAL_STREAM").
 */
import { fstatSync } from 'node:fs';

export interface StreamIdentity {
  dev: bigint;
  ino: bigint;
}

export function parseJournalStream(value: string | undefined): StreamIdentity | undefined {
  if (!value) return undefined;
  const m = /^(\d+):(\d+)$/.exec(value.trim());
  if (!m) return undefined;
  return { dev: BigInt(m[1]!), ino: BigInt(m[2]!) };
}

/** fstat identity of a descriptor, or undefined if it is closed/invalid. */
export function identityOfFd(fd: number): StreamIdentity | undefined {
  try {
    const st = fstatSync(fd, { bigint: true });
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const want = parseJournalStream(env.JOURNAL_STREAM);
  if (!want) return false;
  const have = identityOfFd(fd);
  return have !== undefined && have.dev === want.dev && have.ino === want.ino;
}
