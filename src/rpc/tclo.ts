/**
 * TCLO primitives (channel.md §5.3): parsing a host command, framing the
 * reply, and a dispatcher that keys handlers by command name. Each service
 * module registers its own handlers; the daemon's loop calls dispatch().
 */
import type { TcloHandler, TcloResult } from './types';

/** GUEST_RPC_UNKNOWN_COMMAND: note the capital C, unlike the host's "Unknown command". */
export const TCLO_UNKNOWN_COMMAND = 'Unknown Command';
export const TCLO_BAD_COMMAND = 'Bad command';

export interface TcloCommand {
  /** The first token, up to a space; a trailing NUL is not part of it (the VMX sometimes sends one). */
  name: string;
  /** Everything after the name, starting at the character after it (normally a space). */
  args: Buffer;
}

/**
 * Marks a handler that must see its arguments byte for byte, trailing NULs
 * included (a VIX request ends with its credential's NUL, guest-ops.md §3.1).
 */
export const RAW_TCLO_ARGS: unique symbol = Symbol('rawTcloArgs');
export function rawArgsHandler(h: TcloHandler): TcloHandler {
  return Object.assign(h, { [RAW_TCLO_ARGS]: true });
}

/** Splits a host command as StrUtil_GetNextToken does; null for an empty or blank command. */
export function parseTcloCommand(message: Buffer): TcloCommand | null {
  let end = message.length;
  while (end > 0 && message[end - 1] === 0) end--;
  let start = 0;
  while (start < end && message[start] === 0x20) start++;
  if (start === end) return null;
  let nameEnd = start;
  while (nameEnd < end && message[nameEnd] !== 0x20) nameEnd++;
  return { name: message.toString('latin1', start, nameEnd), args: message.subarray(nameEnd, end) };
}

/** "OK <result>" or "ERROR <result>", no NUL, exact length (§5.3). */
export function frameTcloReply(r: TcloResult): Buffer {
  const body = typeof r.result === 'string' ? Buffer.from(r.result, 'utf8') : r.result;
  return Buffer.concat([Buffer.from(r.ok ? 'OK ' : 'ERROR ', 'latin1'), body]);
}

export class TcloDispatcher {
  private readonly handlers = new Map<string, TcloHandler>();

  /** One handler per command name; registering a name twice is a programming error. */
  register(name: string, handler: TcloHandler): void {
    if (this.handlers.has(name)) throw new Error(`TCLO command ${name} is already registered`);
    this.handlers.set(name, handler);
  }

  registerAll(handlers: Record<string, TcloHandler>): void {
    for (const [name, h] of Object.entries(handlers)) this.register(name, h);
  }

  has(name: string): boolean {
    return this.handlers.has(name);
  }

  /** The framed reply to one host command. A handler that throws answers ERROR with its message. */
  async dispatch(message: Buffer): Promise<Buffer> {
    const cmd = parseTcloCommand(message);
    if (!cmd) return frameTcloReply({ ok: false, result: TCLO_BAD_COMMAND });
    const handler = this.handlers.get(cmd.name);
    if (!handler) return frameTcloReply({ ok: false, result: TCLO_UNKNOWN_COMMAND });
    try {
      const raw = (handler as { [RAW_TCLO_ARGS]?: boolean })[RAW_TCLO_ARGS] === true;
      // args is a view into message: the raw form is the same start, up to the real end.
      const args = raw ? message.subarray(cmd.args.byteOffset - message.byteOffset) : cmd.args;
      return frameTcloReply(await handler(args));
    } catch (e) {
      return frameTcloReply({ ok: false, result: e instanceof Error ? e.message : String(e) });
    }
  }
}
