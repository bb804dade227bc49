/**
 * `Vix_1_Relayed_Command` framing (guest-ops.md §2) and the request header
 * (§3.1, §3.2). Everything here is pure: bytes in, a parsed request or a VIX
 * error out. Every length in the header is checked against the bytes that
 * really arrived, for every opcode (§3.2 last paragraph), so a later stage
 * can slice body and credential without further checks.
 */
import {
  VIX_AUTH_DATA_V1_SIZE,
  VIX_COMMAND_GUEST_RETURNS_BINARY,
  VIX_COMMAND_MAGIC_WORD,
  VIX_COMMAND_MAX_SIZE,
  VIX_COMMAND_MESSAGE_VERSION,
  VIX_COMMON_HEADER_SIZE,
  VIX_REQUEST_HEADER_SIZE,
  VIX_REQUESTMSG_INCLUDES_AUTH_DATA_V1,
  VixError,
} from './constants';

export interface RelayedCommand {
  /** The opaque token the VMX chose (§2.1); only echoed by legacy async completions. */
  requestName: string;
  /** The binary VIX request: everything after the first NUL. */
  message: Buffer;
}

/**
 * Splits the TCLO arguments of `Vix_1_Relayed_Command` (§2.1): a quoted
 * request name (§2.3 rules), then everything up to and including the next
 * NUL is skipped. No NUL → an empty message (the header check then fails).
 */
export function splitRelayedCommand(args: Buffer): RelayedCommand {
  const nul = args.indexOf(0);
  const text = nul < 0 ? args : args.subarray(0, nul);
  return {
    requestName: quotedToken(text.toString('latin1')),
    message: nul < 0 ? Buffer.alloc(0) : args.subarray(nul + 1),
  };
}

/** ToolsDaemonTcloGetQuotedString (§2.3): escapes are kept as both characters. */
export function quotedToken(s: string): string {
  let i = s.indexOf('"');
  if (i < 0) return '';
  i++;
  let out = '';
  while (i < s.length && s[i] !== '"') {
    if (s[i] === '\\' && i + 1 < s.length) {
      out += s[i] + s[i + 1];
      i += 2;
    } else out += s[i++];
  }
  return out;
}

export interface VixRequest {
  opCode: number;
  commonFlags: number;
  requestFlags: number;
  credentialType: number;
  /** Header + body: the opcode's fixed struct is at the start (offsets as in §7 are absolute). */
  headerAndBody: Buffer;
  bodyLength: number;
  credential: Buffer;
  /** Whether the reply uses the binary form (§2.2). */
  binaryReply: boolean;
}

export type ParseResult = { ok: true; request: VixRequest } | { ok: false; error: number; opCode?: number; binaryReply: boolean };

/**
 * §3.2: the reference's generic check (VixMsg_ValidateMessage) and its
 * per-opcode parser's exact-size rules, applied to every opcode, plus "the
 * declared sizes fit in the bytes received". Trailing bytes after
 * totalMessageLength are tolerated only when all are NUL (a transport may
 * pad); anything else is inconsistent.
 */
export function parseVixRequest(msg: Buffer): ParseResult {
  const bad = (opCode?: number, binaryReply = false): ParseResult => ({
    ok: false,
    error: VixError.INVALID_MESSAGE_HEADER,
    opCode,
    binaryReply,
  });
  if (msg.length < VIX_COMMON_HEADER_SIZE) return bad();
  const magic = msg.readUInt32LE(0);
  const version = msg.readUInt16LE(4);
  const total = msg.readUInt32LE(6);
  const headerLength = msg.readUInt32LE(10);
  const bodyLength = msg.readUInt32LE(14);
  const credentialLength = msg.readUInt32LE(18);
  const commonFlags = msg.readUInt8(22);
  const binaryReply = (commonFlags & VIX_COMMAND_GUEST_RETURNS_BINARY) !== 0;
  if (magic !== VIX_COMMAND_MAGIC_WORD || version !== VIX_COMMAND_MESSAGE_VERSION) return bad(undefined, binaryReply);
  if (headerLength !== VIX_REQUEST_HEADER_SIZE || msg.length < VIX_REQUEST_HEADER_SIZE) return bad(undefined, binaryReply);
  const opCode = msg.readUInt32LE(23);
  const requestFlags = msg.readUInt32LE(27);
  const credentialType = msg.readUInt32LE(47);
  // Sums in doubles: three u32 cannot overflow 2^53.
  const authData = requestFlags & VIX_REQUESTMSG_INCLUDES_AUTH_DATA_V1 ? VIX_AUTH_DATA_V1_SIZE : 0;
  const expected = headerLength + bodyLength + credentialLength + authData;
  if (total !== expected || total > VIX_COMMAND_MAX_SIZE) return bad(opCode, binaryReply);
  if (msg.length < total) return bad(opCode, binaryReply);
  for (let i = total; i < msg.length; i++) if (msg[i] !== 0) return bad(opCode, binaryReply);
  const bodyEnd = headerLength + bodyLength;
  return {
    ok: true,
    request: {
      opCode,
      commonFlags,
      requestFlags,
      credentialType,
      headerAndBody: msg.subarray(0, bodyEnd),
      bodyLength,
      credential: msg.subarray(bodyEnd, bodyEnd + credentialLength),
      binaryReply,
    },
  };
}

/**
 * The reply (§2.2): `<vixError> <additionalError> <result>` then a NUL, or,
 * when the request asked for binary, `… #<bytes>` without NUL.
 */
export function formatVixReply(error: number, additionalError: number, result: Buffer | string, binary = false): Buffer {
  const head = Buffer.from(`${error} ${additionalError} ${binary ? '#' : ''}`, 'latin1');
  const body = typeof result === 'string' ? Buffer.from(result, 'utf8') : result;
  return binary ? Buffer.concat([head, body]) : Buffer.concat([head, body, Buffer.from([0])]);
}
