/**
 * Runs work as an authenticated user through the `vmtoolsd-runas` helper
 * (native/runas/runas.c): initgroups, setresgid, setresuid, a check that
 * root cannot be regained, a clean environment, chdir, exec. The daemon
 * never changes its own credentials (guest-ops.md §4.5 design note).
 *
 * Two kinds of work:
 *  - startProgram: the helper execs the user's program (StartProgram, §7.2);
 *  - runWorker: the helper execs `node -e <userWorker.js>`, which does one
 *    file or process operation and answers in JSON.
 *
 * Both demand an AuthenticatedUser minted by auth.ts; anything else is
 * refused and counted (securityCounters.unauthenticatedExecutions).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AuthenticatedUser, isAuthenticated, securityCounters } from './auth';
import { VixError } from './constants';
import { findBuildArtifact } from '../../native/artifacts';

export interface WorkerReply {
  error: number;
  additionalError?: number;
  result?: string;
}

export interface StartResult {
  ok: boolean;
  pid?: number;
  /** On failure: the helper's stage and errno name (usage, user, groups, gid, uid, regain, cwd, exec). */
  stage?: string;
  errno?: string;
  /** Resolves with the exit code (signal → 128+n) when the program ends. */
  exited?: Promise<number>;
}

export interface UserRunner {
  runWorker(user: AuthenticatedUser, request: Record<string, unknown> & { op: string }): Promise<WorkerReply>;
  startProgram(
    user: AuthenticatedUser,
    program: { file: string; args: string[]; cwd?: string; env?: string[] },
  ): Promise<StartResult>;
}

/** How long one worker operation may take (KillProcess alone may wait 20 s, §7.4). */
const WORKER_TIMEOUT_MS = 60_000;
const WORKER_MAX_OUTPUT = 4 * 1024 * 1024;

/** build/Release/vmtoolsd-runas, or $VMTOOLSD_RUNAS_PATH. */
export function findRunasHelper(): string | undefined {
  return process.env.VMTOOLSD_RUNAS_PATH ?? findBuildArtifact('vmtoolsd-runas');
}

function requireAuthenticated(user: AuthenticatedUser): void {
  if (!isAuthenticated(user)) {
    securityCounters.unauthenticatedExecutions++;
    throw new Error('refusing to run work for an unauthenticated user');
  }
  securityCounters.authenticatedExecutions++;
}

/**
 * userWorker.js, which the helper runs with `node -e`: beside this module,
 * or, when this code runs from the daemon's bundle in dist/src/cli/
 * (scripts/bundle.js), in ../services/guestops/ from there.
 */
export function userWorkerPath(dir = __dirname): string {
  const candidates = [path.join(dir, 'userWorker.js'), path.join(dir, '..', 'services', 'guestops', 'userWorker.js')];
  return candidates.find((p) => fs.existsSync(p)) ?? candidates[0]!;
}

export class HelperRunner implements UserRunner {
  private readonly workerSource: string;

  constructor(
    private readonly helper: string,
    private readonly nodePath = process.execPath,
  ) {
    this.workerSource = fs.readFileSync(userWorkerPath(), 'utf8');
  }

  runWorker(user: AuthenticatedUser, request: Record<string, unknown> & { op: string }): Promise<WorkerReply> {
    requireAuthenticated(user);
    return new Promise((resolve) => {
      // An empty environment for the helper itself (no LD_PRELOAD etc. reaches it).
      const child = spawn(this.helper, ['--user', user.user, '--', this.nodePath, '-e', this.workerSource], {
        env: {},
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      const out: Buffer[] = [];
      let size = 0;
      const timer = setTimeout(() => child.kill('SIGKILL'), WORKER_TIMEOUT_MS);
      child.stdout.on('data', (c: Buffer) => {
        size += c.length;
        if (size > WORKER_MAX_OUTPUT) child.kill('SIGKILL');
        else out.push(c);
      });
      child.stdin.on('error', () => undefined);
      child.on('error', () => {
        clearTimeout(timer);
        resolve({ error: VixError.FAIL });
      });
      child.on('close', () => {
        clearTimeout(timer);
        try {
          const r = JSON.parse(Buffer.concat(out).toString('utf8')) as WorkerReply;
          resolve(typeof r.error === 'number' ? r : { error: VixError.FAIL });
        } catch {
          resolve({ error: VixError.FAIL });
        }
      });
      child.stdin.end(JSON.stringify(request));
    });
  }

  startProgram(
    user: AuthenticatedUser,
    program: { file: string; args: string[]; cwd?: string; env?: string[] },
  ): Promise<StartResult> {
    requireAuthenticated(user);
    const argv = ['--user', user.user, '--status-fd', '3'];
    if (program.cwd !== undefined) argv.push('--cwd', program.cwd);
    if (program.env !== undefined) {
      argv.push('--no-default-env');
      for (const e of program.env) argv.push('--env', e);
    }
    argv.push('--', program.file, ...program.args);
    return new Promise((resolve) => {
      // stdio: /dev/null (the reference inherits the daemon's; ours may be the journal).
      const child = spawn(this.helper, argv, { env: {}, detached: true, stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
      const exited = new Promise<number>((res) => {
        child.on('exit', (code, sig) => res(code ?? 128 + (sig ? os.constants.signals[sig] ?? 0 : 0)));
      });
      child.unref();
      const status = child.stdio[3] as NodeJS.ReadableStream | null;
      let text = '';
      let settled = false;
      const done = (r: StartResult): void => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      child.on('error', (e) => done({ ok: false, stage: 'spawn', errno: (e as NodeJS.ErrnoException).code }));
      if (status === null) {
        done({ ok: false, stage: 'spawn' });
        return;
      }
      status.on('data', (c: Buffer) => (text += c.toString('latin1')));
      status.on('error', () => undefined);
      status.on('end', () => {
        if (text === '') {
          done({ ok: true, pid: child.pid, exited });
          return;
        }
        const [stage, num] = text.trim().split(' ');
        const n = Number(num);
        const name = Object.entries(os.constants.errno).find(([, v]) => v === n)?.[0];
        done({ ok: false, stage, errno: name });
      });
    });
  }
}
