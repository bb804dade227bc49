/**
 * A GuestOpsService wired to fakes: PAM that knows one user, a runner that
 * records what it was asked to run (and refuses, counting, anything without
 * a minted AuthenticatedUser — the same check the real runner makes).
 */
import { AuthenticatedUser, Authenticator, isAuthenticated, PamResult, securityCounters, ThrottlePolicy } from '../../src/services/guestops/auth';
import { GuestOpsConfig, GuestOpsService } from '../../src/services/guestops/service';
import type { StartResult, UserRunner, WorkerReply } from '../../src/services/guestops/runner';

export const GOOD = { user: 'alice', password: 'correct horse' };

export const quietLog = { debug() {}, info() {}, warn() {}, error() {} };

export class RecordingRunner implements UserRunner {
  readonly calls: Array<{ user: string; request: unknown }> = [];
  badAuthExecutions = 0;
  async runWorker(user: AuthenticatedUser, request: Record<string, unknown> & { op: string }): Promise<WorkerReply> {
    if (!isAuthenticated(user)) {
      this.badAuthExecutions++;
      securityCounters.unauthenticatedExecutions++;
      throw new Error('unauthenticated');
    }
    this.calls.push({ user: user.user, request });
    return { error: 0, result: `ran ${request.op}` };
  }
  async startProgram(user: AuthenticatedUser, program: { file: string; args: string[] }): Promise<StartResult> {
    if (!isAuthenticated(user)) {
      this.badAuthExecutions++;
      securityCounters.unauthenticatedExecutions++;
      throw new Error('unauthenticated');
    }
    this.calls.push({ user: user.user, request: { op: 'start', ...program } });
    return { ok: true, pid: 4242, exited: new Promise(() => undefined) };
  }
}

export function fakeService(o: { config?: Partial<GuestOpsConfig>; frozen?: boolean; throttle?: Partial<ThrottlePolicy> } = {}) {
  const pamCalls: string[] = [];
  const runner = new RecordingRunner();
  const pam = async (user: string, password: Buffer): Promise<PamResult> => {
    pamCalls.push(user);
    const ok = user === GOOD.user && password.toString('utf8') === GOOD.password;
    return { ok, pamCode: ok ? 0 : 7, stage: 'authenticate', message: ok ? 'Success' : 'Authentication failure' };
  };
  const auth = new Authenticator({
    pam,
    lookup: (u) => (u === GOOD.user ? { uid: 1000, gid: 1000, home: '/home/alice', shell: '/bin/sh' } : undefined),
    log: quietLog,
    pamCodeNames: new Map([[0, 'PAM_SUCCESS'], [7, 'PAM_AUTH_ERR']]),
    throttle: { freeFailures: 1_000_000_000, ...o.throttle },
  });
  const service = new GuestOpsService({
    auth,
    runner,
    config: () => ({ disabled: false, apiDisabled: () => false, ...o.config }),
    log: quietLog,
    frozen: () => o.frozen ?? false,
    daemonPid: 777,
    toolsState: () => ({
      osFullName: 'Linux 6.1 Debian GNU/Linux 12', osShortName: 'debian12-64', productName: 'vmtoolsd-node',
      toolsVersion: '13.1.0 build-1', hostName: 'guest', tempDir: '/tmp', wordSize: 64,
    }),
  });
  return { service, runner, pamCalls, auth };
}
