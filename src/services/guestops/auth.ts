/**
 * Authentication of guest operations (guest-ops.md §4.4, §14 duties 1–3).
 *
 * PAM service `vmtoolsd` through the addon, on a worker thread
 * (native/addon/auth.cc), including pam_acct_mgmt (expired and locked
 * accounts, pam_shells). No VGAuth: `useVGAuth` is read but both of the
 * reference's password paths end in the same PAM calls.
 *
 * A successful check mints an AuthenticatedUser: an object only this module
 * can create (a private WeakSet), which the runner demands before it runs
 * anything as a user. The runner counts every attempt made without one in
 * `securityCounters.unauthenticatedExecutions` — the security goal is that
 * this stays 0 across the whole test suite and the fuzz run.
 *
 * Throttling (docs/design.md "Guest operations"): per user name, the first
 * `freeFailures` consecutive failures cost nothing extra; after that every
 * attempt within `delay` of the last failure is refused without asking PAM
 * (3050), the delay doubling with each further failure up to `maxDelayMs`.
 * A success clears the user's record. Records are forgotten after
 * `forgetAfterMs` without failures, and at most `maxTracked` users are kept
 * (oldest dropped), so unknown names cannot grow memory without bound.
 */
import type { Logger } from '../../daemon/coreSession';
import { VixError } from './constants';
import type { NamePassword } from './credentials';

export interface PamResult {
  ok: boolean;
  pamCode: number;
  stage: string;
  message: string;
}

/** The PAM call (native pamAuthenticate, or a fake in tests). */
export type PamBackend = (user: string, password: Buffer) => Promise<PamResult>;

/** Resolves a user name to its passwd entry (getpwnam must succeed, §4.4). */
export type UserLookup = (user: string) => { uid: number; gid: number; home: string; shell: string } | undefined;

export interface AuthenticatedUser {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export interface ThrottlePolicy {
  freeFailures: number;
  initialDelayMs: number;
  maxDelayMs: number;
  forgetAfterMs: number;
  maxTracked: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = {
  freeFailures: 3,
  initialDelayMs: 2000,
  maxDelayMs: 60_000,
  forgetAfterMs: 15 * 60_000,
  maxTracked: 1024,
};

export const securityCounters = {
  /** Operations the runner was asked to run without a valid AuthenticatedUser (must stay 0). */
  unauthenticatedExecutions: 0,
  /** Operations run as an authenticated user. */
  authenticatedExecutions: 0,
  /** PAM calls made / refused by the throttle. */
  pamCalls: 0,
  throttled: 0,
};

const minted = new WeakSet<AuthenticatedUser>();

/** True only for objects this module minted after a PAM success. */
export function isAuthenticated(u: unknown): u is AuthenticatedUser {
  return typeof u === 'object' && u !== null && minted.has(u as AuthenticatedUser);
}

/** PAM codes that mean "the machinery failed" (§4.4) → 1, not 3050. */
const INFRASTRUCTURE = new Set([
  'PAM_OPEN_ERR', 'PAM_SYMBOL_ERR', 'PAM_SERVICE_ERR', 'PAM_SYSTEM_ERR', 'PAM_BUF_ERR', 'PAM_NO_MODULE_DATA',
  'PAM_CONV_ERR', 'PAM_ABORT', 'PAM_BAD_ITEM', 'PAM_CONV_AGAIN', 'PAM_INCOMPLETE',
]);

export type AuthResult = { ok: true; user: AuthenticatedUser } | { ok: false; error: number; reason: string };

interface FailureRecord {
  failures: number;
  last: number;
}

export class Authenticator {
  private readonly failures = new Map<string, FailureRecord>();
  private readonly throttle: ThrottlePolicy;
  private readonly now: () => number;

  constructor(
    private readonly opts: {
      pam: PamBackend;
      lookup: UserLookup;
      log: Logger;
      /** Names of PAM's infrastructure codes by number (from the addon), for the 1-vs-3050 split. */
      pamCodeNames?: ReadonlyMap<number, string>;
      throttle?: Partial<ThrottlePolicy>;
      now?: () => number;
    },
  ) {
    this.throttle = { ...DEFAULT_THROTTLE, ...opts.throttle };
    this.now = opts.now ?? Date.now;
  }

  /**
   * Checks a decoded name/password. Always wipes `cred.password`. Logs the
   * user name and the PAM outcome, never the password.
   */
  async authenticate(cred: NamePassword): Promise<AuthResult> {
    const { user } = cred;
    try {
      if (cred.password.length === 0) return this.fail(user, 'empty password');
      const wait = this.throttledFor(user);
      if (wait > 0) {
        securityCounters.throttled++;
        this.opts.log.warn(`guest operation login for "${user}" refused: throttled for ${Math.ceil(wait / 1000)} s after repeated failures`);
        return { ok: false, error: VixError.INVALID_LOGIN_CREDENTIALS, reason: 'throttled' };
      }
      securityCounters.pamCalls++;
      let r: PamResult;
      try {
        r = await this.opts.pam(user, cred.password);
      } catch (e) {
        this.opts.log.warn(`PAM failed for "${user}": ${e instanceof Error ? e.message : String(e)}`);
        return { ok: false, error: VixError.FAIL, reason: 'PAM error' };
      }
      if (!r.ok) {
        const name = this.opts.pamCodeNames?.get(r.pamCode);
        const infra = name !== undefined && INFRASTRUCTURE.has(name);
        this.opts.log.info(`guest operation login for "${user}" refused by PAM (${r.stage}: ${r.message})`);
        if (infra) return { ok: false, error: VixError.FAIL, reason: `PAM ${r.stage}: ${r.message}` };
        return this.fail(user, `PAM ${r.stage}: ${r.message}`);
      }
      const pw = this.opts.lookup(user);
      if (pw === undefined) return this.fail(user, 'no passwd entry');
      this.failures.delete(user);
      const u: AuthenticatedUser = Object.freeze({ user, uid: pw.uid, gid: pw.gid, home: pw.home });
      minted.add(u);
      return { ok: true, user: u };
    } finally {
      cred.password.fill(0);
    }
  }

  /** Milliseconds the user must still wait; 0 = may try. */
  throttledFor(user: string): number {
    const rec = this.failures.get(user);
    if (rec === undefined) return 0;
    const now = this.now();
    if (now - rec.last > this.throttle.forgetAfterMs) {
      this.failures.delete(user);
      return 0;
    }
    const over = rec.failures - this.throttle.freeFailures;
    if (over < 0) return 0;
    const delay = Math.min(this.throttle.maxDelayMs, this.throttle.initialDelayMs * 2 ** Math.min(over, 30));
    return Math.max(0, rec.last + delay - now);
  }

  private fail(user: string, reason: string): AuthResult {
    const rec = this.failures.get(user);
    if (rec) {
      rec.failures++;
      rec.last = this.now();
      // Re-insert so the map's order stays "least recently failed first".
      this.failures.delete(user);
      this.failures.set(user, rec);
    } else {
      this.failures.set(user, { failures: 1, last: this.now() });
      if (this.failures.size > this.throttle.maxTracked) {
        const oldest = this.failures.keys().next().value;
        if (oldest !== undefined) this.failures.delete(oldest);
      }
    }
    return { ok: false, error: VixError.INVALID_LOGIN_CREDENTIALS, reason };
  }
}
