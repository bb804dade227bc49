/**
 * Credential decoding (guest-ops.md §4). Only name/password (types 1 and 4)
 * is supported; everything else gets the reference's answer (§4.4
 * selection). Bounds: the obfuscated string must lie entirely inside the
 * credential region; both NULs of `name\0password\0` must be present; name and
 * password must be UTF-8; the password is never empty (our rule: PAM's
 * `nullok` would otherwise let a password-less account in).
 */
import { VixError, VIX_USER_CREDENTIAL } from './constants';

/** §4.2: nameLength u32, passwordLength u32, then the obfuscated string. */
const NAME_PASSWORD_FIXED = 8;

/** §4.3 escape codes: '\' + digit stands for these characters. */
const UNESCAPE: Readonly<Record<string, string>> = { '1': '\\', '2': "'", '3': '"', '4': ' ', '5': '\r', '6': '\n', '7': '\t' };
const ESCAPE: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(UNESCAPE).map(([k, v]) => [v, `\\${k}`]));

export interface NamePassword {
  user: string;
  /** UTF-8 bytes; the caller wipes it (fill(0)) after use. */
  password: Buffer;
}

export type CredentialResult =
  | { ok: true; credential: NamePassword }
  | { ok: false; error: number; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** §4.3 decode: undo the escapes, strict base64. null on any violation. */
export function deobfuscate(s: string): Buffer | null {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const u = UNESCAPE[s[i + 1] ?? ''];
    if (u === undefined) return null;
    out += u;
    i++;
  }
  if (out.length % 4 !== 0 || !BASE64.test(out)) return null;
  const raw = Buffer.from(out, 'base64');
  // Reject non-canonical encodings (Node ignores unused trailing bits).
  if (raw.toString('base64') !== out) return null;
  return raw;
}

/** §4.3 encode (for the test client and differential checks). */
export function obfuscate(raw: Buffer): string {
  return raw
    .toString('base64')
    .split('')
    .map((c) => ESCAPE[c] ?? c)
    .join('');
}

/** `name\0password\0` obfuscated, as the VMX builds it (VixMsg_ObfuscateNamePassword). */
export function obfuscateNamePassword(user: string, password: string): string {
  return obfuscate(Buffer.concat([Buffer.from(user, 'utf8'), Buffer.from([0]), Buffer.from(password, 'utf8'), Buffer.from([0])]));
}

/**
 * Decodes the credential of a request. Unsupported types: §4.4 (8 in the
 * system daemon → 1 FAIL; SAML 11/12 → 6 since we have no VGAuth, §12.4;
 * everything else → 6). Malformed name/password → 3050, as the reference's
 * lib/auth path answers any failure.
 */
export function decodeCredential(type: number, credential: Buffer): CredentialResult {
  if (type === VIX_USER_CREDENTIAL.NAMED_INTERACTIVE_USER) {
    return { ok: false, error: VixError.FAIL, reason: 'named interactive user needs the per-user daemon' };
  }
  if (type === VIX_USER_CREDENTIAL.TICKETED_SESSION) {
    // §4.3: ticketLength u32 then the ticket, NUL-terminated, strlen == ticketLength. The
    // reference parses it (malformed → 10001) before answering NOT_SUPPORTED on Linux.
    const ok = credential.length >= 5 && credential.indexOf(0, 4) === 4 + credential.readUInt32LE(0);
    return ok
      ? { ok: false, error: VixError.NOT_SUPPORTED, reason: 'ticketed sessions are Windows-only' }
      : { ok: false, error: VixError.INVALID_MESSAGE_BODY, reason: 'malformed ticket credential' };
  }
  if (type !== VIX_USER_CREDENTIAL.NAME_PASSWORD && type !== VIX_USER_CREDENTIAL.NAME_PASSWORD_OBFUSCATED) {
    return { ok: false, error: VixError.NOT_SUPPORTED, reason: `credential type ${type} is not supported` };
  }
  const denied = (reason: string): CredentialResult => ({ ok: false, error: VixError.INVALID_LOGIN_CREDENTIALS, reason });
  if (credential.length < NAME_PASSWORD_FIXED + 1) return denied('credential too short');
  const region = credential.subarray(NAME_PASSWORD_FIXED);
  const nul = region.indexOf(0);
  if (nul < 0) return denied('credential string not NUL-terminated inside credentialLength');
  const raw = deobfuscate(region.toString('latin1', 0, nul));
  if (raw === null) return denied('credential string is not valid obfuscated base64');
  try {
    const n1 = raw.indexOf(0);
    const n2 = n1 < 0 ? -1 : raw.indexOf(0, n1 + 1);
    if (n1 < 0 || n2 < 0) return denied('name/password without both NULs');
    let user: string;
    try {
      user = utf8.decode(raw.subarray(0, n1));
      utf8.decode(raw.subarray(n1 + 1, n2));
    } catch {
      return denied('name or password is not UTF-8');
    }
    if (user.length === 0) return denied('empty user name');
    if (n2 === n1 + 1) return denied('empty password');
    return { ok: true, credential: { user, password: Buffer.from(raw.subarray(n1 + 1, n2)) } };
  } finally {
    raw.fill(0);
  }
}
