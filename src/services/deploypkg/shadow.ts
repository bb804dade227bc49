/**
 * Root password for the native engine (cust.cfg PASSWORD|-PASS, §5):
 * SHA-512 crypt ("$6$", glibc's default) written into <root>/etc/shadow,
 * and PASSWORD|RESET = yes expiring every uid-0 account's password.
 */
import * as crypto from 'node:crypto';

const B64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const ROUNDS = 5000;

function sha512(...parts: Buffer[]): Buffer {
  const h = crypto.createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

function repeat(src: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) out[i] = src[i % src.length];
  return out;
}

/** Ulrich Drepper's SHA-crypt, SHA-512 variant, default rounds. */
export function sha512Crypt(password: string, salt: string): string {
  const P = Buffer.from(password, 'utf8');
  const S = Buffer.from(salt.slice(0, 16), 'utf8');
  const B = sha512(P, S, P);
  const a = crypto.createHash('sha512').update(P).update(S);
  let n = P.length;
  for (; n > 64; n -= 64) a.update(B);
  a.update(B.subarray(0, n));
  for (let len = P.length; len > 0; len >>= 1) a.update(len & 1 ? B : P);
  const A = a.digest();
  const dp = crypto.createHash('sha512');
  for (let i = 0; i < P.length; i++) dp.update(P);
  const Pstr = repeat(dp.digest(), P.length);
  const ds = crypto.createHash('sha512');
  for (let i = 0; i < 16 + A[0]; i++) ds.update(S);
  const Sstr = repeat(ds.digest(), S.length);
  let C = A;
  for (let i = 0; i < ROUNDS; i++) {
    const h = crypto.createHash('sha512');
    h.update(i & 1 ? Pstr : C);
    if (i % 3) h.update(Sstr);
    if (i % 7) h.update(Pstr);
    h.update(i & 1 ? C : Pstr);
    C = h.digest();
  }
  const order = [
    [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
    [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
    [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
  ];
  let out = '';
  const enc = (w: number, n: number): void => {
    for (let i = 0; i < n; i++) {
      out += B64[w & 0x3f];
      w >>= 6;
    }
  };
  for (const [b2, b1, b0] of order) enc((C[b2] << 16) | (C[b1] << 8) | C[b0], 4);
  enc(C[63], 2);
  return `$6$${S.toString('utf8')}$${out}`;
}

export function randomSalt(): string {
  const r = crypto.randomBytes(16);
  let s = '';
  for (const b of r) s += B64[b & 0x3f];
  return s;
}

/** Uids of /etc/passwd by user name. */
export function uidZeroUsers(passwd: string): Set<string> {
  const out = new Set<string>();
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[2] === '0') out.add(f[0]);
  }
  return out;
}

/**
 * Returns /etc/shadow with root's hash replaced (when `hash` is given) and,
 * with `expire`, the last-change field of every uid-0 account set to 0
 * (password must be changed at next login).
 */
export function updateShadow(shadow: string, opts: { hash?: string; expire: boolean; uidZero: Set<string> }): string {
  const lines = shadow.split('\n');
  let sawRoot = false;
  const out = lines.map((line) => {
    const f = line.split(':');
    if (f.length < 3) return line;
    if (f[0] === 'root' && opts.hash) {
      f[1] = opts.hash;
      f[2] = String(Math.floor(Date.now() / 86400000));
      sawRoot = true;
    }
    if (opts.expire && opts.uidZero.has(f[0])) f[2] = '0';
    return f.join(':');
  });
  if (opts.hash && !sawRoot) throw new Error('no root entry in /etc/shadow');
  return out.join('\n');
}
