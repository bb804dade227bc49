/**
 * The package command (customization.md §4.4) and the child-process runner
 * (§7): the reference's tokenizer reproduced exactly, execv without a
 * shell, a SIGKILL to the direct child at the deadline, exit code 127 for
 * a signalled or unstartable child.
 */
import { spawn } from 'node:child_process';

/** §4.4: the placeholder vCenter may put in the command. */
export const IMC_TMP_PATH_VAR = '@@IMC_TMP_PATH_VAR@@';
/** §4.4: the legacy directory replaced when the placeholder is absent. */
export const LEGACY_DEPLOY_DIR = '/tmp/.vmware/linux/deploy';
/** §7: default per-process timeout. */
export const DEFAULT_PROCESS_TIMEOUT_S = 100;
/** §7: the reference reports a signalled child as 127. */
export const EXIT_SIGNALLED = 127;
/** Captured output cap per stream (the reference has none, §7). */
export const OUTPUT_CAP = 1024 * 1024;

/** §4.4: substitute the staging directory into the command. */
export function substituteDir(command: string, imcDir: string): string {
  if (command.includes(IMC_TMP_PATH_VAR)) return command.split(IMC_TMP_PATH_VAR).join(imcDir);
  return command.split(LEGACY_DEPLOY_DIR).join(imcDir);
}

/**
 * §4.4 GetFormattedCommandLine: space/tab end a token (consecutive ones give
 * empty arguments); "…" is appended with its quotes; a backslash and the
 * next character are appended as they are; the last token is always kept.
 */
export function tokenize(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i];
    if (c === ' ' || c === '\t') {
      out.push(cur);
      cur = '';
    } else if (c === '"') {
      const end = cmd.indexOf('"', i + 1);
      const stop = end < 0 ? cmd.length : end + 1;
      cur += cmd.slice(i, stop);
      i = stop - 1;
    } else if (c === '\\') {
      cur += cmd.slice(i, i + 2);
      i++;
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/** §7: the effective timeout: tools.conf process-timeout, else the header's if > 0, else 100 s. */
export function effectiveTimeoutS(configured: number | undefined, header: number): number {
  if (configured !== undefined && configured >= 1 && configured <= 3600) return configured;
  return header > 0 ? header : DEFAULT_PROCESS_TIMEOUT_S;
}

export interface ProcessResult {
  /** Exit status; 127 when killed by a signal (timeout included) or when it could not start. */
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Set when the program could not be started (ENOENT, EACCES, …). */
  spawnError?: string;
}

export type ProcessRunner = (argv: string[], opts: { timeoutMs: number; env?: NodeJS.ProcessEnv }) => Promise<ProcessResult>;

/** Runs argv[0] (absolute) with no shell, capturing capped stdout/stderr. */
export const runProcess: ProcessRunner = (argv, opts) =>
  new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let settled = false;
    const finish = (r: ProcessResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, shell: false });
    } catch (e) {
      resolve({ code: EXIT_SIGNALLED, stdout: '', stderr: '', timedOut: false, spawnError: e instanceof Error ? e.message : String(e) });
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL'); // §7: the direct child only, then keep waiting for it
    }, opts.timeoutMs);
    child.stdout!.on('data', (b: Buffer) => {
      if (outLen < OUTPUT_CAP) out.push(b.subarray(0, OUTPUT_CAP - outLen));
      outLen += b.length;
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (errLen < OUTPUT_CAP) err.push(b.subarray(0, OUTPUT_CAP - errLen));
      errLen += b.length;
    });
    child.on('error', (e) => finish({ code: EXIT_SIGNALLED, stdout: '', stderr: '', timedOut: false, spawnError: e.message }));
    child.on('close', (code, signal) => {
      finish({
        code: signal !== null || code === null ? EXIT_SIGNALLED : code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
  });
