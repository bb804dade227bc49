/**
 * The dedicated deployment log (customization.md §8): truncated at each
 * deployment, mode 0600, lines `[<timestamp>] [<level in 8 columns>] msg`.
 * Every line is also passed to the daemon's logger. Never given secrets
 * (cust.cfg keys starting with `-`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../daemon/coreSession';

/** §3.3/§8: where the reference logs, and what its status messages name. */
export const DEFAULT_DEPLOY_LOG = '/var/log/vmware-imc/toolsDeployPkg.log';

export class DeployLog implements Logger {
  private fd: number | undefined;
  constructor(private readonly file: string, private readonly daemonLog: Logger) {}

  open(): void {
    try {
      fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o755 });
      this.fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
      fs.fchmodSync(this.fd, 0o600);
    } catch (e) {
      this.daemonLog.warn(`cannot open ${this.file}: ${e instanceof Error ? e.message : String(e)}`);
      this.fd = undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private line(level: string, msg: string): void {
    if (this.fd === undefined) return;
    try {
      fs.writeSync(this.fd, `[${new Date().toISOString()}] [${level.padStart(8)}] ${msg}\n`);
    } catch {
      /* a full disk must not stop the deployment */
    }
  }

  debug(msg: string): void {
    this.line('debug', msg);
    this.daemonLog.debug(msg);
  }
  info(msg: string): void {
    this.line('info', msg);
    this.daemonLog.info(msg);
  }
  warn(msg: string): void {
    this.line('warning', msg);
    this.daemonLog.warn(msg);
  }
  error(msg: string): void {
    this.line('error', msg);
    this.daemonLog.error(msg);
  }
  /** Child output, verbatim in the file only (§8). */
  raw(text: string): void {
    if (this.fd === undefined || text === '') return;
    try {
      fs.writeSync(this.fd, text.endsWith('\n') ? text : `${text}\n`);
    } catch {
      /* ignore */
    }
  }
}
